/* Shape ops: reshape and flatten (views: the output shares the input's
   data), transpose (a copy with two axes swapped), expand (broadcast to a
   shape) and its adjoint sum_to (sum over the broadcast axes). */
#include "ops/ops_internal.h"

typedef struct {
    int ndim;
    int64_t shape[TG_MAX_DIMS];
} shape_attr;

static int reshape_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                         size_t len)
{
    const shape_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    int infer = -1;
    int64_t known = 1;
    if (a->ndim < 0 || a->ndim > TG_MAX_DIMS) {
        snprintf(msg, len, "a shape needs 0..%d dimensions, got %d", TG_MAX_DIMS, a->ndim);
        return TG_ERR_INVALID;
    }
    for (int i = 0; i < a->ndim; i++) {
        shape[i] = a->shape[i] == -1 ? 1 : a->shape[i];
        if (a->shape[i] == -1 && infer < 0) {
            infer = i;
        } else if (a->shape[i] < 0) {
            snprintf(msg, len, "invalid dimension %lld at %d", (long long)a->shape[i], i);
            return TG_ERR_INVALID;
        }
    }
    /* the known dimensions' product, checked for overflow ([2^32, 2^32, -1]) */
    if (!tg_shape_numel(a->ndim, shape, &known)) {
        char bs[160];
        snprintf(msg, len, "the shape %s has more elements than memory can address",
                 tg_dims_str(a->ndim, a->shape, bs, sizeof bs));
        return TG_ERR_SHAPE;
    }
    if (infer >= 0) shape[infer] = known ? x->size / known : 0;
    int64_t n = 0;
    bool fits = tg_shape_numel(a->ndim, shape, &n);
    if (!fits || n != x->size || (infer >= 0 && known == 0)) {
        char bx[128], bs[128];
        snprintf(msg, len, "cannot reshape %s (%lld elements) to %s", tg_shape_str(x, bx, sizeof bx),
                 (long long)x->size, tg_dims_str(a->ndim, a->shape, bs, sizeof bs));
        return TG_ERR_SHAPE;
    }
    *ndim = a->ndim;
    return TG_OK;
}

/* y = x viewed with a new shape (data shared)     dx += g (same order) */
static int reshape_forward(tg_record *r)
{
    (void)r; /* TG_OP_ALIAS: the engine points out->data at in[0]->data */
    return TG_OK;
}

static void reshape_backward(tg_record *r)
{
    const tg_real *g = r->out->grad;
    tg_real *dx = r->in[0]->grad;
    for (int64_t i = 0; i < r->out->size; i++) dx[i] += g[i];
}

static int reshape_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    dx[0] = tg_reshape(t, g, r->in[0]->ndim, r->in[0]->shape);
    return TG_OK;
}

static const tg_op op_reshape = {.name = "reshape",
                                 .n_inputs = 1,
                                 .attr_size = sizeof(shape_attr),
                                 .flags = TG_OP_ALIAS,
                                 .shape = reshape_shape,
                                 .forward = reshape_forward,
                                 .backward = reshape_backward,
                                 .vjp = reshape_vjp,
                                 .doc = "same data, new shape"};

tg_tensor *tg_reshape(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape)
{
    if (!x) return tg_null_input(t, "reshape");
    if (ndim < 0 || ndim > TG_MAX_DIMS || (ndim > 0 && !shape)) {
        tg_tape_set_error(t, "tg_reshape: a shape needs 0..%d dimensions, got %d", TG_MAX_DIMS,
                          ndim);
        return NULL;
    }
    shape_attr a = {.ndim = ndim};
    for (int i = 0; i < ndim; i++) a.shape[i] = shape[i];
    return tg_apply(t, &op_reshape, &x, 1, &a);
}

tg_tensor *tg_flatten(tg_tape *t, tg_tensor *x)
{
    if (!x) return tg_null_input(t, "flatten");
    if (x->ndim <= 1) return tg_reshape(t, x, x->ndim, x->shape);
    /* the product itself, not -1: [0, 3, 4, 5] is [0, 60] (0 elements would
       leave a -1 undetermined) */
    int64_t rest = 1;
    for (int i = 1; i < x->ndim; i++) rest *= x->shape[i];
    return tg_reshape(t, x, TG_SHAPE(x->shape[0], rest));
}

/* ---------------------------------------------------------------- transpose */

typedef struct {
    int d0, d1; /* normalised axes */
} transpose_attr;

static int transpose_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                           size_t len)
{
    const transpose_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    if (a->d0 < 0 || a->d0 >= x->ndim || a->d1 < 0 || a->d1 >= x->ndim) {
        char b[128];
        snprintf(msg, len, "axes (%d, %d) are out of range for shape %s", a->d0, a->d1,
                 tg_shape_str(x, b, sizeof b));
        return TG_ERR_INVALID;
    }
    *ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[a->d0] = x->shape[a->d1];
    shape[a->d1] = x->shape[a->d0];
    return TG_OK;
}

/* Copies src (shape of `from`) to dst with axes d0 and d1 swapped. With
   `add`, accumulates instead. Used by forward (x -> y) and backward
   (g -> dx: swapping the same two axes is its own inverse). */
static void swap_axes(tg_real *dst, const tg_real *src, const tg_tensor *from, int d0, int d1,
                      bool add)
{
    int n = from->ndim;
    int64_t stride_dst[TG_MAX_DIMS], shape_dst[TG_MAX_DIMS];
    for (int i = 0; i < n; i++) shape_dst[i] = from->shape[i];
    shape_dst[d0] = from->shape[d1];
    shape_dst[d1] = from->shape[d0];
    int64_t sd = 1;
    for (int i = n - 1; i >= 0; i--) {
        stride_dst[i] = sd;
        sd *= shape_dst[i];
    }
    /* walk the source in order; each element's destination index has the
       d0 and d1 coordinates exchanged */
    int64_t idx[TG_MAX_DIMS] = {0};
    for (int64_t k = 0; k < from->size; k++) {
        int64_t off = 0;
        for (int i = 0; i < n; i++) {
            int j = i == d0 ? d1 : i == d1 ? d0 : i;
            off += idx[i] * stride_dst[j];
        }
        if (add)
            dst[off] += src[k];
        else
            dst[off] = src[k];
        for (int i = n - 1; i >= 0; i--) {
            if (++idx[i] < from->shape[i]) break;
            idx[i] = 0;
        }
    }
}

/* y = x with axes d0, d1 swapped      dx += g with the same axes swapped back */
static int transpose_forward(tg_record *r)
{
    const transpose_attr *a = r->attr;
    swap_axes(r->out->data, r->in[0]->data, r->in[0], a->d0, a->d1, false);
    return TG_OK;
}

static void transpose_backward(tg_record *r)
{
    const transpose_attr *a = r->attr;
    swap_axes(r->in[0]->grad, r->out->grad, r->out, a->d0, a->d1, true);
}

static int transpose_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const transpose_attr *a = r->attr;
    dx[0] = tg_transpose(t, g, a->d0, a->d1);
    return TG_OK;
}

static const tg_op op_transpose = {.name = "transpose",
                                   .n_inputs = 1,
                                   .attr_size = sizeof(transpose_attr),
                                   .shape = transpose_shape,
                                   .forward = transpose_forward,
                                   .backward = transpose_backward,
                                   .vjp = transpose_vjp,
                                   .doc = "swap two axes"};

tg_tensor *tg_transpose(tg_tape *t, tg_tensor *x, int dim0, int dim1)
{
    if (!x) return tg_null_input(t, "transpose");
    /* a 0-d tensor takes axes 0 and -1, as in PyTorch: itself */
    if (x->ndim == 0 && (dim0 == 0 || dim0 == -1) && (dim1 == 0 || dim1 == -1))
        return tg_reshape(t, x, 0, NULL);
    transpose_attr a;
    if (!tg_axis(dim0, x->ndim, &a.d0) || !tg_axis(dim1, x->ndim, &a.d1)) {
        char b[128];
        tg_tape_set_error(t, "tg_transpose: axes (%d, %d) are out of range for shape %s", dim0,
                          dim1, tg_shape_str(x, b, sizeof b));
        return NULL;
    }
    return tg_apply(t, &op_transpose, &x, 1, &a);
}

/* ------------------------------------------------------- expand and sum_to */

/* Whether `from` broadcasts to `to` (NumPy: right-aligned, each dimension
   equal or 1; `to` has at least as many). */
static bool broadcasts_to(int nf, const int64_t *from, int nt, const int64_t *to)
{
    if (nf > nt) return false;
    for (int i = 0; i < nf; i++) {
        int64_t f = from[nf - 1 - i], d = to[nt - 1 - i];
        if (f != d && f != 1) return false;
    }
    return true;
}

/* expand: the output has the attribute's shape, x broadcast to it. */
static int expand_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    const shape_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    if (!broadcasts_to(x->ndim, x->shape, a->ndim, a->shape)) {
        char bx[128], bs[128];
        snprintf(msg, len, "%s does not broadcast to %s", tg_shape_str(x, bx, sizeof bx),
                 tg_dims_str(a->ndim, a->shape, bs, sizeof bs));
        return TG_ERR_SHAPE;
    }
    *ndim = a->ndim;
    for (int i = 0; i < a->ndim; i++) shape[i] = a->shape[i];
    return TG_OK;
}

/* sum_to: the output has the attribute's shape, which broadcasts to x's. */
static int sum_to_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    const shape_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    if (!broadcasts_to(a->ndim, a->shape, x->ndim, x->shape)) {
        char bx[128], bs[128];
        snprintf(msg, len, "%s does not broadcast to %s, so %s cannot be summed to it",
                 tg_dims_str(a->ndim, a->shape, bs, sizeof bs), tg_shape_str(x, bx, sizeof bx),
                 bx);
        return TG_ERR_SHAPE;
    }
    *ndim = a->ndim;
    for (int i = 0; i < a->ndim; i++) shape[i] = a->shape[i];
    return TG_OK;
}

/* y[i] = x[i with broadcast axes at 0] */
static void copy_run(int64_t ia, int64_t ib, int64_t io, int64_t n, int64_t sa, int64_t sb,
                     void *c)
{
    (void)ib, (void)sb;
    tg_real **io_ = c; /* {x, y} */
    for (int64_t i = 0; i < n; i++) io_[1][io + i] = io_[0][ia + i * sa];
}

/* expand:  y = x broadcast to a shape (repeated along axes of size 1)
   dx = Σ of g over the positions each x element was repeated to = sum_to(g) */
static int expand_forward(tg_record *r)
{
    tg_bcast bc;
    tg_bcast_init(&bc, r->in[0], r->in[0], r->out);
    tg_real *k[2] = {r->in[0]->data, r->out->data};
    tg_bcast_each(&bc, copy_run, k);
    return TG_OK;
}

static void expand_backward(tg_record *r)
{
    tg_reduce_broadcast_add(r->tape, r->in[0]->grad, r->in[0], r->out->grad, r->out);
}

static int expand_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    dx[0] = tg_sum_to(t, g, r->in[0]->ndim, r->in[0]->shape);
    return TG_OK;
}

/* sum_to:  y = x summed over the axes that broadcasting would repeat y along
   dx = g broadcast back to x's shape = expand(g) */
static int sum_to_forward(tg_record *r)
{
    memset(r->out->data, 0, (size_t)r->out->size * sizeof(tg_real));
    tg_reduce_broadcast_add(r->tape, r->out->data, r->out, r->in[0]->data, r->in[0]);
    return TG_OK;
}

/* dx[i] += g[i with the summed axes at 0] */
static void add_run(int64_t ia, int64_t ib, int64_t io, int64_t n, int64_t sa, int64_t sb,
                    void *c)
{
    (void)ib, (void)sb;
    tg_real **k = c; /* {g, dx} */
    for (int64_t i = 0; i < n; i++) k[1][io + i] += k[0][ia + i * sa];
}

static void sum_to_backward(tg_record *r)
{
    tg_bcast bc;
    tg_bcast_init(&bc, r->out, r->out, r->in[0]);
    tg_real *k[2] = {r->out->grad, r->in[0]->grad};
    tg_bcast_each(&bc, add_run, k);
}

static int sum_to_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    dx[0] = tg_expand(t, g, r->in[0]->ndim, r->in[0]->shape);
    return TG_OK;
}

static const tg_op op_expand = {.name = "expand", .n_inputs = 1, .attr_size = sizeof(shape_attr),
                                .shape = expand_shape, .forward = expand_forward,
                                .backward = expand_backward, .vjp = expand_vjp,
                                .doc = "x broadcast to a shape"};
static const tg_op op_sum_to = {.name = "sum_to", .n_inputs = 1, .attr_size = sizeof(shape_attr),
                                .shape = sum_to_shape, .forward = sum_to_forward,
                                .backward = sum_to_backward, .vjp = sum_to_vjp,
                                .doc = "x summed over the axes that broadcast a shape to it"};

static tg_tensor *to_shape(tg_tape *t, const tg_op *op, tg_tensor *x, int ndim,
                           const int64_t *shape)
{
    if (!x) return tg_null_input(t, op->name);
    if (ndim < 0 || ndim > TG_MAX_DIMS || (ndim > 0 && !shape)) {
        tg_tape_set_error(t, "tg_%s: a shape needs 0..%d dimensions, got %d", op->name,
                          TG_MAX_DIMS, ndim);
        return NULL;
    }
    shape_attr a = {.ndim = ndim};
    for (int i = 0; i < ndim; i++) a.shape[i] = shape[i];
    /* the same shape: nothing to do, x itself */
    if (ndim == x->ndim && memcmp(a.shape, x->shape, (size_t)ndim * sizeof(int64_t)) == 0)
        return x;
    return tg_apply(t, op, &x, 1, &a);
}

tg_tensor *tg_expand(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape)
{
    return to_shape(t, &op_expand, x, ndim, shape);
}

tg_tensor *tg_sum_to(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape)
{
    return to_shape(t, &op_sum_to, x, ndim, shape);
}

static const tg_op *const shape_ops[] = {&op_reshape, &op_transpose, &op_expand, &op_sum_to};
const tg_op_table tg_shape_ops = {shape_ops, sizeof shape_ops / sizeof *shape_ops};
