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

tg_tensor *tg_params_add(tg_params *p, const char *name, int ndim, const int64_t *shape)
{
    int64_t size;
    if (!p) {
        tg_set_error(TG_ERR_INVALID, "tg_params_add: params is NULL");
        return NULL;
    }
    if (tg_params_check("tg_params_add", name, ndim, shape, &size) != TG_OK) return NULL;
    if (tg_params_get(p, name)) {
        tg_set_error(TG_ERR_INVALID, "tg_params_add: a parameter named '%s' exists", name);
        return NULL;
    }
    /* padded <= limit (a multiple of PAD), and the blocks stay within it */
    const size_t limit = max_elements();
    size_t padded = ((size_t)size + PAD - 1) / PAD * PAD;
    if (padded > limit - p->len) {
        char dims[160];
        tg_set_error(TG_ERR_NOMEM,
                     "tg_params_add: out of memory adding '%s' %s: the registry would hold more "
                     "than 64-bit sizes can count",
                     name, tg_dims_str(ndim, shape, dims, sizeof dims));
        return NULL;
    }

    param_entry *e = calloc(1, sizeof *e);
    param_tensor *pt = calloc(1, sizeof *pt);
    tg_tensor *x = pt ? &pt->x : NULL;
    char *nm = malloc(strlen(name) + 1);
    /* the blocks grow by doubling, so n adds copy O(len) values in all,
       not O(n * len) */
    size_t need = p->len + padded;
    bool moves = need > p->block_cap;
    size_t cap = p->block_cap;
    if (moves) cap = p->block_cap > limit / 2 ? limit : (need > 2 * cap ? need : 2 * cap);
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
