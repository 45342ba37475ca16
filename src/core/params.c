/* tg_params: parameters by name (uthash), their values in one contiguous
   block and their gradients in another, so zero-grad is one memset and an
   optimizer is one loop. Each parameter starts on a 64-byte boundary.

   Buffers (running statistics and the like: state that is saved and loaded
   but not trained) share the names but live in a block of their own,
   without gradients: the parameters' block, which optimizers walk, holds
   parameters only. The registry also holds the training switch that
   dropout and batch norm layers read (model.train() / model.eval()). */
#include "core/internal.h"

#include <stdlib.h>

/* uthash must not exit on OOM: it sets a flag that we turn into an error. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (oom_hit = 1)
static _Thread_local int oom_hit;
#include <uthash.h>

/* A parameter's tensor, with the place of its gradient in the block, which
   it keeps while its grad is released (NULL). */
typedef struct {
    tg_tensor x; /* first: the tensor's address is the struct's */
    tg_real *grad_home;
} param_tensor;

tg_real *tg_param_grad_home(const tg_tensor *x) { return ((const param_tensor *)x)->grad_home; }

typedef struct param_entry {
    char *name;
    tg_tensor *x;
    size_t offset; /* in elements, into its store's data (and grad) */
    UT_hash_handle hh;
} param_entry;

/* The tensors of one kind, parameters or buffers: their values in one
   block (and, for parameters, their gradients in another), each starting
   on a 64-byte boundary, and their entries in the order they were added. */
typedef struct {
    tg_real *data, *grad; /* [cap] each, of which [len] in use; grad NULL for buffers */
    size_t len;           /* padded length of the tensors in the blocks */
    size_t cap;           /* elements the blocks hold: doubles as they fill */
    int64_t numel;
    param_entry **order;  /* [count], insertion order */
    size_t count, order_cap;
} store;

struct tg_params {
    param_entry *by_name; /* uthash head: parameters and buffers, one namespace */
    store params;         /* trained: they have gradients, optimizers update them */
    store buffers;        /* not trained (running statistics): no gradient */
    param_entry **all;    /* [n_all]: both kinds, in the order they were added */
    size_t n_all, all_cap;
    bool eval;            /* evaluation mode (tg_params_set_training(p, false)) */
};

#define PAD (TG_ALIGN / sizeof(tg_real))

tg_params *tg_params_new(void)
{
    tg_params *p = calloc(1, sizeof *p);
    if (!p) tg_set_error(TG_ERR_NOMEM, "tg_params_new: out of memory");
    return p;
}

static void store_free(store *s)
{
    for (size_t i = 0; i < s->count; i++) {
        free(s->order[i]->name);
        free(s->order[i]->x);
        free(s->order[i]);
    }
    free(s->order);
    free(s->data);
    free(s->grad);
}

void tg_params_free(tg_params *p)
{
    if (!p) return;
    HASH_CLEAR(hh, p->by_name);
    store_free(&p->params);
    store_free(&p->buffers);
    free(p->all);
    free(p);
}

/* A block of new_cap elements holding old's first len. The tail past len is
   left untouched (a block from mmap stays out of the resident set until a
   parameter is added there). */
static tg_real *grow_block(const tg_real *old, size_t len, size_t new_cap)
{
    tg_real *b = aligned_alloc(TG_ALIGN, new_cap * sizeof(tg_real));
    if (b && len) memcpy(b, old, len * sizeof(tg_real));
    return b;
}

/* The offset of the first byte that does not start a well-formed UTF-8
   sequence (RFC 3629: no overlong forms, no surrogates, nothing above
   U+10FFFF, nothing cut short), or -1 if all n bytes are well formed. */
long tg_utf8_invalid_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len = 1;
        unsigned lo = 0x80, hi = 0xBF; /* the range of the second byte */
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0; /* overlong below U+0800 */
            if (c == 0xED) hi = 0x9F; /* the surrogates U+D800..DFFF */
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90; /* overlong below U+10000 */
            if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
        } else {
            return (long)i; /* a continuation byte, C0/C1, or F5..FF */
        }
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) return (long)i;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return (long)i;
        i += len;
    }
    return -1;
}

/* The most elements a parameter, or a block, may hold: their size in bytes
   fits in int64_t and in size_t, and it is a multiple of PAD, so a padded
   length below it never rounds past it. */
static size_t max_elements(void)
{
    uint64_t bytes = (uint64_t)INT64_MAX < (uint64_t)SIZE_MAX ? (uint64_t)INT64_MAX : SIZE_MAX;
    return (size_t)(bytes / sizeof(tg_real) / PAD * PAD);
}

int tg_params_check(const char *who, const char *name, int ndim, const int64_t *shape,
                    int64_t *size)
{
    if (!name || !*name)
        return tg_set_error(TG_ERR_INVALID, "%s: the name is %s", who, !name ? "NULL" : "empty");
    long bad = tg_utf8_invalid_at((const unsigned char *)name, strlen(name));
    if (bad >= 0)
        return tg_set_error(TG_ERR_INVALID,
                            "%s: the name is not valid UTF-8 (byte %ld of it is 0x%02x): a "
                            "safetensors file could not hold it",
                            who, bad, (unsigned)(unsigned char)name[bad]);
    if (ndim < 0 || ndim > TG_MAX_DIMS || (ndim > 0 && !shape))
        return tg_set_error(TG_ERR_INVALID, "%s: '%s' needs 0..%d dimensions, got %d", who, name,
                            TG_MAX_DIMS, ndim);
    char dims[160];
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0)
            return tg_set_error(TG_ERR_INVALID,
                                "%s: '%s' has invalid shape %s: every dimension must be at "
                                "least 1",
                                who, name, tg_dims_str(ndim, shape, dims, sizeof dims));
    /* the element count, checked against the limit before each step (every
       factor is positive, so the product only grows) */
    uint64_t n = 1, limit = max_elements();
    for (int i = 0; i < ndim; i++) {
        if ((uint64_t)shape[i] > limit / n)
            return tg_set_error(TG_ERR_INVALID,
                                "%s: '%s' has shape %s: %zu-byte elements of that many do not "
                                "fit in 64-bit sizes",
                                who, name, tg_dims_str(ndim, shape, dims, sizeof dims),
                                sizeof(tg_real));
        n *= (uint64_t)shape[i];
    }
    *size = (int64_t)n;
    return TG_OK;
}

/* Grows an array of entries to hold one more; false if out of memory (the
   array is then as it was). */
static bool reserve_entries(param_entry ***v, size_t n, size_t *cap)
{
    if (n < *cap) return true;
    size_t ncap = *cap ? *cap * 2 : 16;
    param_entry **nv = realloc(*v, ncap * sizeof *nv);
    if (!nv) return false;
    *v = nv;
    *cap = ncap;
    return true;
}

/* Adds a zero-filled tensor to store s (the parameters or the buffers):
   everything is allocated first, and nothing changes unless all of it
   succeeded. `flags` are the new tensor's. */
static tg_tensor *add_to(tg_params *p, store *s, const char *who, const char *name, int ndim,
                         const int64_t *shape, unsigned flags)
{
    int64_t size;
    if (!p) {
        tg_set_error(TG_ERR_INVALID, "%s: params is NULL", who);
        return NULL;
    }
    if (tg_params_check(who, name, ndim, shape, &size) != TG_OK) return NULL;
    if (tg_params_get(p, name)) {
        tg_set_error(TG_ERR_INVALID, "%s: %s named '%s' exists", who,
                     (tg_params_get(p, name)->flags & TG_BUFFER) ? "a buffer" : "a parameter",
                     name);
        return NULL;
    }
    const bool with_grad = s == &p->params;
    /* padded <= limit (a multiple of PAD), and the blocks stay within it */
    const size_t limit = max_elements();
    size_t padded = ((size_t)size + PAD - 1) / PAD * PAD;
    if (padded > limit - s->len) {
        char dims[160];
        tg_set_error(TG_ERR_NOMEM,
                     "%s: out of memory adding '%s' %s: the registry would hold more "
                     "than 64-bit sizes can count",
                     who, name, tg_dims_str(ndim, shape, dims, sizeof dims));
        return NULL;
    }

    param_entry *e = calloc(1, sizeof *e);
    param_tensor *pt = calloc(1, sizeof *pt);
    tg_tensor *x = pt ? &pt->x : NULL;
    char *nm = malloc(strlen(name) + 1);
    /* the blocks grow by doubling, so n adds copy O(len) values in all,
       not O(n * len) */
    size_t need = s->len + padded;
    bool moves = need > s->cap;
    size_t cap = s->cap;
    if (moves) cap = s->cap > limit / 2 ? limit : (need > 2 * cap ? need : 2 * cap);
    tg_real *data = moves ? grow_block(s->data, s->len, cap) : s->data;
    tg_real *grad = moves && with_grad ? grow_block(s->grad, s->len, cap) : s->grad;
    bool ok = e && x && nm && data && (grad || !with_grad);
    /* the arrays of entries grow in place: a grown array that goes unused
       is harmless */
    ok = ok && reserve_entries(&s->order, s->count, &s->order_cap) &&
         reserve_entries(&p->all, p->n_all, &p->all_cap);
    if (ok) {
        strcpy(nm, name);
        e->name = nm;
        e->x = x;
        e->offset = s->len;
        oom_hit = 0;
        HASH_ADD_KEYPTR(hh, p->by_name, e->name, strlen(e->name), e);
        ok = !oom_hit;
    }
    if (!ok) {
        free(e), free(x), free(nm);
        if (moves) free(data), free(with_grad ? grad : NULL);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory adding '%s'", who, name);
        return NULL;
    }
    if (moves) {
        free(s->data);
        s->data = data;
        if (with_grad) {
            free(s->grad);
            s->grad = grad;
        }
        s->cap = cap;
    }
    /* the new tensor and its padding start at zero */
    memset(s->data + s->len, 0, padded * sizeof(tg_real));
    if (with_grad) memset(s->grad + s->len, 0, padded * sizeof(tg_real));
    s->len += padded;
    s->numel += size;
    s->order[s->count++] = e;
    p->all[p->n_all++] = e;

    x->ndim = ndim;
    for (int i = 0; i < ndim; i++) x->shape[i] = shape[i];
    x->size = size;
    x->flags = flags;
    x->name = e->name;
    x->rec = -1;
    x->id = (int32_t)(s->count - 1);
    /* the new tensor's places; if the blocks moved, every tensor's of the
       store (a released gradient stays released; the new one starts at
       zero) */
    x->grad = with_grad ? s->grad + e->offset : NULL;
    for (size_t i = moves ? 0 : s->count - 1; i < s->count; i++) {
        param_tensor *q = (param_tensor *)s->order[i]->x;
        q->x.data = s->data + s->order[i]->offset;
        q->grad_home = with_grad ? s->grad + s->order[i]->offset : NULL;
        if (q->x.grad) q->x.grad = q->grad_home;
    }
    return x;
}

tg_tensor *tg_params_add(tg_params *p, const char *name, int ndim, const int64_t *shape)
{
    return add_to(p, p ? &p->params : NULL, "tg_params_add", name, ndim, shape,
                  TG_PARAM | TG_REQUIRES_GRAD);
}

tg_tensor *tg_params_add_buffer(tg_params *p, const char *name, int ndim, const int64_t *shape)
{
    return add_to(p, p ? &p->buffers : NULL, "tg_params_add_buffer", name, ndim, shape,
                  TG_PARAM | TG_BUFFER);
}

tg_tensor *tg_params_add_int_buffer(tg_params *p, const char *name, int ndim,
                                    const int64_t *shape)
{
    return add_to(p, p ? &p->buffers : NULL, "tg_params_add_int_buffer", name, ndim, shape,
                  TG_PARAM | TG_BUFFER | TG_INT64);
}

void tg_params_swap(tg_params *a, tg_params *b)
{
    tg_params tmp = *a;
    *a = *b;
    *b = tmp;
}

tg_tensor *tg_params_get(const tg_params *p, const char *name)
{
    if (!p || !name) return NULL;
    param_entry *e = NULL;
    HASH_FIND_STR(p->by_name, name, e);
    return e ? e->x : NULL;
}

size_t tg_params_count(const tg_params *p) { return p ? p->params.count : 0; }

tg_tensor *tg_params_at(const tg_params *p, size_t i)
{
    return (p && i < p->params.count) ? p->params.order[i]->x : NULL;
}

int64_t tg_params_numel(const tg_params *p) { return p ? p->params.numel : 0; }
size_t tg_params_block_len(const tg_params *p) { return p ? p->params.len : 0; }
tg_real *tg_params_data(tg_params *p) { return p ? p->params.data : NULL; }
/* A released gradient that no backward has reached since has no values: its
   part of the block still holds the last step's. The block is made to tell
   the truth (zeros, as PyTorch counts a None grad in a norm) before it is
   handed out; the gradient stays released. */
tg_real *tg_params_grad(tg_params *p)
{
    if (!p) return NULL;
    for (size_t i = 0; i < p->params.count; i++) {
        tg_tensor *x = p->params.order[i]->x;
        if (!x->grad) memset(tg_param_grad_home(x), 0, (size_t)x->size * sizeof(tg_real));
    }
    return p->params.grad;
}

void tg_params_zero_grad(tg_params *p)
{
    if (!p || !p->params.grad) return;
    memset(p->params.grad, 0, p->params.len * sizeof(tg_real));
    for (size_t i = 0; i < p->params.count; i++) { /* a frozen one's stays released */
        tg_tensor *x = p->params.order[i]->x;
        x->grad = x->flags & TG_REQUIRES_GRAD ? tg_param_grad_home(x) : NULL;
    }
}

void tg_params_release_grad(tg_params *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->params.count; i++) p->params.order[i]->x->grad = NULL;
}

/* ------------------------------------------------------------- buffers */

size_t tg_params_buffer_count(const tg_params *p) { return p ? p->buffers.count : 0; }

tg_tensor *tg_params_buffer_at(const tg_params *p, size_t i)
{
    return (p && i < p->buffers.count) ? p->buffers.order[i]->x : NULL;
}

int64_t tg_params_buffer_numel(const tg_params *p) { return p ? p->buffers.numel : 0; }

size_t tg_params_state_count(const tg_params *p) { return p ? p->n_all : 0; }

tg_tensor *tg_params_state_at(const tg_params *p, size_t i)
{
    return (p && i < p->n_all) ? p->all[i]->x : NULL;
}

/* ------------------------------------------------ training and evaluation */

bool tg_params_set_training(tg_params *p, bool on)
{
    if (!p) return false;
    bool was = !p->eval;
    p->eval = !on;
    return was;
}

bool tg_params_training(const tg_params *p) { return p && !p->eval; }
