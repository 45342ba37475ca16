/* The op registry: every op by name (uthash), built-in and user-defined
   alike, for tools that list or look up ops and for custom ops.

     first use:  pthread_once fills it with every built-in op table
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

static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static op_entry *by_name;       /* uthash head */
static op_entry **order;        /* [count], registration order */
static size_t count, cap;
static op_entry *builtin_entries; /* [n_builtin], one block */
static user_op *user_ops;       /* every copy, newest first */
static int init_status = TG_OK;
static char init_msg[TG_MSG_LEN];


/* Whether op is one of the library's own: a pointer into the tables above.
   They are constant, so this needs neither the lock nor the registry (tg_apply
   asks it about ops that set reserved flags). */
bool tg_op_is_builtin(const tg_op *op)
{
    for (size_t t = 0; t < tg_builtin_op_table_count; t++)
        for (size_t i = 0; i < tg_builtin_op_tables[t]->n; i++)
            if (tg_builtin_op_tables[t]->ops[i] == op) return true;
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

static void init_registry(void)
{
    size_t n = 0;
    for (size_t t = 0; t < tg_builtin_op_table_count; t++)
        n += tg_builtin_op_tables[t]->n;
    builtin_entries = calloc(n ? n : 1, sizeof *builtin_entries);
    if (!builtin_entries) {
        init_status = TG_ERR_NOMEM;
        snprintf(init_msg, sizeof init_msg, "the op registry: out of memory");
        return;
    }
    size_t k = 0;
    for (size_t t = 0; t < tg_builtin_op_table_count; t++)
        for (size_t i = 0; i < tg_builtin_op_tables[t]->n; i++) {
            const tg_op *op = tg_builtin_op_tables[t]->ops[i];
            if (find_entry(op->name)) {
                /* a library bug, not the user's: keep the first, say so */
                init_status = TG_ERR_STATE;
                snprintf(init_msg, sizeof init_msg,
                         "the op registry: two built-in ops are named '%s'", op->name);
                continue;
            }
            op_entry *e = &builtin_entries[k++];
            e->op = op;
            e->builtin = true;
            int st = add_entry(e);
            if (st != TG_OK) {
                init_status = st;
                snprintf(init_msg, sizeof init_msg, "the op registry: out of memory");
                return;
            }
        }
}

/* Runs the one-time initialisation and takes the lock. */
static void lock(void)
{
    pthread_once(&reg_once, init_registry);
    pthread_mutex_lock(&reg_lock);
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

    lock();
    if (init_status == TG_ERR_NOMEM) {
        unlock();
        free(u);
        return tg_set_error(TG_ERR_NOMEM, "tg_op_register: %s", init_msg);
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
    lock();
    op_entry *e = find_entry(name);
    int st = TG_OK;
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
    if (!name) return NULL;
    lock();
    const op_entry *e = find_entry(name);
    const tg_op *op = e ? e->op : NULL;
    unlock();
    return op;
}

size_t tg_op_count(void)
{
    lock();
    size_t n = count;
    unlock();
    return n;
}

const tg_op *tg_op_at(size_t i)
{
    lock();
    const tg_op *op = i < count ? order[i]->op : NULL;
    unlock();
    return op;
}

