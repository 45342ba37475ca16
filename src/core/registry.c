/* The op registry: every op by name (uthash), built-in and user-defined
   alike, for tools that list or look up ops and for custom ops.

     first use:  the first call fills it with every built-in op table (if
                 memory runs out, it is emptied again and the call fails:
                 the next one tries again)
     register:   a user's tg_op is copied (with its strings) and added by name
     find/list:  by name, or by position in registration order

   The tape never consults the registry: tg_apply takes the op itself, so a
   registered op runs exactly like a built-in. Lookups and changes hold one
   mutex; the registry lives for the whole process and stays reachable from
   the statics below (LeakSanitizer reports nothing at exit). */
#include "core/internal.h"

#include <pthread.h>
#include <stdlib.h>

/* uthash must not exit on OOM: it sets a flag that we turn into an error. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (reg_oom = 1)
static int reg_oom; /* written and read under reg_lock */
#include <uthash.h>

#define TG_OP_NAME_MAX 63

typedef struct op_entry {
    const tg_op *op;
    bool builtin;
    UT_hash_handle hh;
} op_entry;

/* A user's op, copied with its strings into one block. Never freed while
   the process runs (unregistering only hides it), so a tape that recorded
   it can never hold a dangling pointer. */
typedef struct user_op {
    struct user_op *next; /* every copy ever made, for reachability */
    op_entry entry;
    tg_op op;
    char strings[];       /* name, then doc */
} user_op;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static bool reg_ready;          /* filled with the built-ins */
static op_entry *by_name;       /* uthash head */
static op_entry **order;        /* [count], registration order */
static size_t count, cap;
static op_entry *builtin_entries; /* [n_builtin], one block */
static user_op *user_ops;       /* every copy, newest first */

/* Whether op is one of the library's own: a pointer into the tables above.
   They are constant, so this needs neither the lock nor the registry (tg_apply
   asks it about ops that set reserved flags). */
bool tg_op_is_builtin(const tg_op *op)
{
    /* tg_apply asks for every op that sets reserved flags (linear, relu,
       mul...): the answers are kept per thread in a small table indexed by
       the op's address, so that a program cycling through many such ops
       does not scan the tables on every op (two ops whose addresses share
       a slot take turns in it) */
    enum { SLOTS = 64 };
    static _Thread_local const tg_op *known[SLOTS];
    size_t slot = ((uintptr_t)op / sizeof(void *)) % SLOTS;
    if (op && known[slot] == op) return true;
    for (size_t t = 0; t < tg_builtin_op_table_count; t++)
        for (size_t i = 0; i < tg_builtin_op_tables[t]->n; i++)
            if (tg_builtin_op_tables[t]->ops[i] == op) {
                known[slot] = op;
                return true;
            }
    return false;
}

static bool push_order(op_entry *e)
{
    if (count == cap) {
        size_t n = cap ? cap * 2 : 64;
        op_entry **o = realloc(order, n * sizeof *o);
        if (!o) return false;
        order = o;
        cap = n;
    }
    order[count++] = e;
    return true;
}

/* Adds e under its op's name. Caller holds the lock (or is the init). */
static int add_entry(op_entry *e)
{
    if (!push_order(e)) return TG_ERR_NOMEM;
    reg_oom = 0;
    HASH_ADD_KEYPTR(hh, by_name, e->op->name, strlen(e->op->name), e);
    if (reg_oom) {
        count--;
        return TG_ERR_NOMEM;
    }
    return TG_OK;
}

static op_entry *find_entry(const char *name)
{
    op_entry *e = NULL;
    HASH_FIND_STR(by_name, name, e);
    return e;
}

/* Fills the registry with the built-in ops (the caller holds the lock).
   If memory runs out, it empties it again and returns TG_ERR_NOMEM: the
   registry is then as it was before, and the next call tries again. Two
   built-ins of one name would be a library bug (tests/core/test_registry.c
   counts them): the first is kept. */
static int init_registry(void)
{
    size_t n = 0;
    for (size_t t = 0; t < tg_builtin_op_table_count; t++)
        n += tg_builtin_op_tables[t]->n;
    builtin_entries = calloc(n ? n : 1, sizeof *builtin_entries);
    if (!builtin_entries) return TG_ERR_NOMEM;
    size_t k = 0;
    for (size_t t = 0; t < tg_builtin_op_table_count; t++)
        for (size_t i = 0; i < tg_builtin_op_tables[t]->n; i++) {
            const tg_op *op = tg_builtin_op_tables[t]->ops[i];
            if (find_entry(op->name)) continue;
            op_entry *e = &builtin_entries[k++];
            e->op = op;
            e->builtin = true;
            if (add_entry(e) != TG_OK) {
                HASH_CLEAR(hh, by_name);
                free(order);
                free(builtin_entries);
                order = NULL;
                builtin_entries = NULL;
                count = cap = 0;
                return TG_ERR_NOMEM;
            }
        }
    return TG_OK;
}

/* Takes the lock, filling the registry first if this is its first use.
   TG_OK with the lock held, or TG_ERR_NOMEM (the lock released) with a
   message naming `who`. */
static int lock(const char *who)
{
    pthread_mutex_lock(&reg_lock);
    if (!reg_ready) {
        if (init_registry() != TG_OK) {
            pthread_mutex_unlock(&reg_lock);
            return tg_set_error(TG_ERR_NOMEM,
                                "%s: out of memory filling the op registry with the built-in ops",
                                who);
        }
        reg_ready = true;
    }
    return TG_OK;
}
static void unlock(void) { pthread_mutex_unlock(&reg_lock); }

static int check_op(const tg_op *op)
{
    if (!op) return tg_set_error(TG_ERR_INVALID, "tg_op_register: the op is NULL");
    if (!op->name || !op->name[0])
        return tg_set_error(TG_ERR_INVALID, "tg_op_register: the op has no name");
    size_t len = strlen(op->name);
    if (len > TG_OP_NAME_MAX)
        return tg_set_error(TG_ERR_INVALID,
                            "tg_op_register: the name '%.20s...' is longer than %d characters",
                            op->name, TG_OP_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)op->name[i];
        if (c <= ' ' || c == 127)
            return tg_set_error(TG_ERR_INVALID,
                                "tg_op_register: the name '%s' contains a space or a control "
                                "character",
                                op->name);
    }
    if (op->n_inputs < 1 || op->n_inputs > TG_MAX_INPUTS)
        return tg_set_error(TG_ERR_INVALID, "tg_op_register: '%s' has %d inputs (1..%d allowed)",
                            op->name, op->n_inputs, TG_MAX_INPUTS);
    if (op->flags & ~TG_OP_USER_FLAGS)
        return tg_set_error(TG_ERR_INVALID,
                            "tg_op_register: '%s' sets flag bits 0x%x, which are reserved for the "
                            "library's built-in ops (bits 16 and up)",
                            op->name, op->flags & ~TG_OP_USER_FLAGS);
    if (!op->shape || !op->forward)
        return tg_set_error(TG_ERR_INVALID, "tg_op_register: '%s' needs a shape and a forward "
                                            "function",
                            op->name);
    return TG_OK;
}

int tg_op_register(const tg_op *op)
{
    int st = check_op(op);
    if (st != TG_OK) return st;
    size_t name_len = strlen(op->name) + 1;
    size_t doc_len = op->doc ? strlen(op->doc) + 1 : 0;
    user_op *u = malloc(sizeof *u + name_len + doc_len);
    if (!u) return tg_set_error(TG_ERR_NOMEM, "tg_op_register: out of memory for '%s'", op->name);
    u->op = *op;
    memcpy(u->strings, op->name, name_len);
    u->op.name = u->strings;
    if (op->doc) {
        memcpy(u->strings + name_len, op->doc, doc_len);
        u->op.doc = u->strings + name_len;
    }
    memset(&u->entry, 0, sizeof u->entry);
    u->entry.op = &u->op;
    u->entry.builtin = false;

    st = lock("tg_op_register");
    if (st != TG_OK) {
        free(u);
        return st;
    }
    const op_entry *dup = find_entry(u->op.name);
    if (dup) {
        bool builtin = dup->builtin;
        unlock();
        st = tg_set_error(TG_ERR_INVALID,
                          "tg_op_register: an op named '%s' is already registered%s", op->name,
                          builtin ? " (a built-in op)" : "");
        free(u);
        return st;
    }
    st = add_entry(&u->entry);
    if (st == TG_OK) {
        u->next = user_ops;
        user_ops = u;
    }
    unlock();
    if (st != TG_OK) {
        free(u);
        return tg_set_error(st, "tg_op_register: out of memory for '%s'", op->name);
    }
    return TG_OK;
}

int tg_op_unregister(const char *name)
{
    if (!name) return tg_set_error(TG_ERR_INVALID, "tg_op_unregister: the name is NULL");
    int st = lock("tg_op_unregister");
    if (st != TG_OK) return st;
    op_entry *e = find_entry(name);
    if (!e) {
        st = tg_set_error(TG_ERR_INVALID, "tg_op_unregister: no op named '%s'", name);
    } else if (e->builtin) {
        st = tg_set_error(TG_ERR_INVALID, "tg_op_unregister: '%s' is a built-in op", name);
    } else {
        HASH_DEL(by_name, e);
        for (size_t i = 0; i < count; i++)
            if (order[i] == e) {
                memmove(order + i, order + i + 1, (count - i - 1) * sizeof *order);
                count--;
                break;
            }
    }
    unlock();
    return st;
}

const tg_op *tg_op_find(const char *name)
{
    if (!name || lock("tg_op_find") != TG_OK) return NULL;
    const op_entry *e = find_entry(name);
    const tg_op *op = e ? e->op : NULL;
    unlock();
    return op;
}

size_t tg_op_count(void)
{
    if (lock("tg_op_count") != TG_OK) return 0;
    size_t n = count;
    unlock();
    return n;
}

const tg_op *tg_op_at(size_t i)
{
    if (lock("tg_op_at") != TG_OK) return NULL;
    const tg_op *op = i < count ? order[i]->op : NULL;
    unlock();
    return op;
}

