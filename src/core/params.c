/* tg_params: parameters by name (uthash), their values in one contiguous
   block and their gradients in another, so zero-grad is one memset and an
   optimizer is one loop. Each parameter starts on a 64-byte boundary. */
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
    size_t offset; /* in elements, into data and grad */
    UT_hash_handle hh;
} param_entry;

struct tg_params {
    param_entry *by_name;  /* uthash head */
    param_entry **order;   /* [count], insertion order */
    size_t count, cap;
    tg_real *data, *grad;  /* [cap] each, of which [len] in use */
    size_t len;            /* padded length of the parameters in the blocks */
    size_t block_cap;      /* elements the blocks hold: doubles as they fill */
    int64_t numel;
};

#define PAD (TG_ALIGN / sizeof(tg_real))

tg_params *tg_params_new(void)
{
    tg_params *p = calloc(1, sizeof *p);
    if (!p) tg_set_error(TG_ERR_NOMEM, "tg_params_new: out of memory");
    return p;
}

void tg_params_free(tg_params *p)
{
    if (!p) return;
    HASH_CLEAR(hh, p->by_name);
    for (size_t i = 0; i < p->count; i++) {
        free(p->order[i]->name);
        free(p->order[i]->x);
        free(p->order[i]);
    }
    free(p->order);
    free(p->data);
    free(p->grad);
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

tg_tensor *tg_params_add(tg_params *p, const char *name, int ndim, const int64_t *shape)
{
    if (!p || !name || !*name) {
        tg_set_error(TG_ERR_INVALID, "tg_params_add: %s", !p ? "params is NULL" : "empty name");
        return NULL;
    }
    if (ndim < 0 || ndim > TG_MAX_DIMS || (ndim > 0 && !shape)) {
        tg_set_error(TG_ERR_INVALID, "tg_params_add: '%s' needs 0..%d dimensions, got %d", name,
                     TG_MAX_DIMS, ndim);
        return NULL;
    }
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0 || shape[i] > ((int64_t)1 << 40)) {
            char buf[128];
            tg_set_error(TG_ERR_INVALID, "tg_params_add: '%s' has invalid shape %s", name,
                         tg_dims_str(ndim, shape, buf, sizeof buf));
            return NULL;
        }
    if (tg_params_get(p, name)) {
        tg_set_error(TG_ERR_INVALID, "tg_params_add: a parameter named '%s' exists", name);
        return NULL;
    }
    int64_t size = tg_numel(ndim, shape);
    size_t padded = ((size_t)size + PAD - 1) / PAD * PAD;

    param_entry *e = calloc(1, sizeof *e);
    param_tensor *pt = calloc(1, sizeof *pt);
    tg_tensor *x = pt ? &pt->x : NULL;
    char *nm = malloc(strlen(name) + 1);
    /* the blocks grow by doubling, so n adds copy O(len) values in all,
       not O(n * len) */
    bool moves = p->len + padded > p->block_cap;
    size_t cap = moves ? (p->len + padded > 2 * p->block_cap ? p->len + padded : 2 * p->block_cap)
                       : p->block_cap;
    tg_real *data = moves ? grow_block(p->data, p->len, cap) : p->data;
    tg_real *grad = moves ? grow_block(p->grad, p->len, cap) : p->grad;
    param_entry **order = p->order;
    if (e && x && nm && data && grad && p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        order = realloc(p->order, cap * sizeof *order);
        if (order) {
            p->order = order;
            p->cap = cap;
        }
    }
    if (!e || !x || !nm || !data || !grad || !order) {
        free(e), free(x), free(nm);
        if (moves) free(data), free(grad);
        tg_set_error(TG_ERR_NOMEM, "tg_params_add: out of memory adding '%s'", name);
        return NULL;
    }
    strcpy(nm, name);
    e->name = nm;
    e->x = x;
    e->offset = p->len;
    oom_hit = 0;
    HASH_ADD_KEYPTR(hh, p->by_name, e->name, strlen(e->name), e);
    if (oom_hit) {
        free(e), free(x), free(nm);
        if (moves) free(data), free(grad);
        tg_set_error(TG_ERR_NOMEM, "tg_params_add: out of memory adding '%s'", name);
        return NULL;
    }
    if (moves) {
        free(p->data);
        free(p->grad);
        p->data = data;
        p->grad = grad;
        p->block_cap = cap;
    }
    /* the new parameter and its padding start at zero */
    memset(p->data + p->len, 0, padded * sizeof(tg_real));
    memset(p->grad + p->len, 0, padded * sizeof(tg_real));
    p->len += padded;
    p->numel += size;
    p->order[p->count++] = e;

    x->ndim = ndim;
    for (int i = 0; i < ndim; i++) x->shape[i] = shape[i];
    x->size = size;
    x->flags = TG_PARAM | TG_REQUIRES_GRAD;
    x->name = e->name;
    x->rec = -1;
    x->id = (int32_t)(p->count - 1);
    /* the new parameter's places; if the blocks moved, every parameter's
       (a released gradient stays released; the new one starts at zero) */
    x->grad = p->grad + e->offset;
    for (size_t i = moves ? 0 : p->count - 1; i < p->count; i++) {
        param_tensor *q = (param_tensor *)p->order[i]->x;
        q->x.data = p->data + p->order[i]->offset;
        q->grad_home = p->grad + p->order[i]->offset;
        if (q->x.grad) q->x.grad = q->grad_home;
    }
    return x;
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

size_t tg_params_count(const tg_params *p) { return p ? p->count : 0; }

tg_tensor *tg_params_at(const tg_params *p, size_t i)
{
    return (p && i < p->count) ? p->order[i]->x : NULL;
}

int64_t tg_params_numel(const tg_params *p) { return p ? p->numel : 0; }
size_t tg_params_block_len(const tg_params *p) { return p ? p->len : 0; }
tg_real *tg_params_data(tg_params *p) { return p ? p->data : NULL; }
/* A released gradient that no backward has reached since has no values: its
   part of the block still holds the last step's. The block is made to tell
   the truth (zeros, as PyTorch counts a None grad in a norm) before it is
   handed out; the gradient stays released. */
tg_real *tg_params_grad(tg_params *p)
{
    if (!p) return NULL;
    for (size_t i = 0; i < p->count; i++) {
        tg_tensor *x = p->order[i]->x;
        if (!x->grad) memset(tg_param_grad_home(x), 0, (size_t)x->size * sizeof(tg_real));
    }
    return p->grad;
}

void tg_params_zero_grad(tg_params *p)
{
    if (!p || !p->grad) return;
    memset(p->grad, 0, p->len * sizeof(tg_real));
    for (size_t i = 0; i < p->count; i++) {
        tg_tensor *x = p->order[i]->x;
        x->grad = tg_param_grad_home(x);
    }
}

void tg_params_release_grad(tg_params *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->count; i++) p->order[i]->x->grad = NULL;
}
