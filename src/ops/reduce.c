/* Reductions over one axis or all: sum, mean, max.

   Reducing axis `a` of x views x as [outer, n, inner] (n = shape[a]); the
   output is [outer, inner] (with a size-1 axis when keepdim). TG_ALL is the
   case outer = inner = 1, n = size. */
#include "ops/ops_internal.h"

typedef struct {
    int axis; /* TG_ALL or an axis, already normalised */
    bool keepdim;
} reduce_attr;

typedef struct {
    int64_t outer, n, inner;
} reduce_view;

static reduce_view view_of(const tg_tensor *x, int axis)
{
    reduce_view v = {1, x->size, 1};
    if (axis == TG_ALL) return v;
    v.n = x->shape[axis];
    v.outer = 1;
    for (int i = 0; i < axis; i++) v.outer *= x->shape[i];
    v.inner = 1;
    for (int i = axis + 1; i < x->ndim; i++) v.inner *= x->shape[i];
    return v;
}

static int reduce_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    const reduce_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    if (a->axis == TG_ALL) {
        *ndim = a->keepdim ? x->ndim : 0;
        for (int i = 0; i < *ndim; i++) shape[i] = 1;
        return TG_OK;
    }
    if (a->axis < 0 || a->axis >= x->ndim) {
        char b[128];
        snprintf(msg, len, "axis out of range for shape %s", tg_shape_str(x, b, sizeof b));
        return TG_ERR_INVALID;
    }
    *ndim = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i == a->axis && !a->keepdim) continue;
        shape[(*ndim)++] = i == a->axis ? 1 : x->shape[i];
    }
    return TG_OK;
}

/* max has no value over no elements (PyTorch refuses it too) */
static int max_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    const reduce_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    bool empty = a->axis == TG_ALL ? x->size == 0 : (a->axis < x->ndim && x->shape[a->axis] == 0);
    if (empty) {
        char b[128];
        snprintf(msg, len, "the maximum of an empty axis is undefined (shape %s)",
                 tg_shape_str(x, b, sizeof b));
        return TG_ERR_SHAPE;
    }
    return reduce_shape(r, ndim, shape, msg, len);
}

/* y[o,i] = scale·Σ_k x[o,k,i]  (scale 1 for sum, 1/n for mean; the sums are
   accurate: src/ops/sum.c) */
static void sum_scaled(tg_record *r, double scale)
{
    const reduce_attr *a = r->attr;
    reduce_view v = view_of(r->in[0], a->axis);
    const tg_real *x = r->in[0]->data; /* [outer, n, inner] */
    tg_real *y = r->out->data;         /* [outer, inner] */
    for (int64_t o = 0; o < v.outer; o++) {
        if (v.inner == 1)
            y[o] = (tg_real)(scale * tg_sum_strided(x + o * v.n, v.n, 1));
        else
            tg_sum_rows(y + o * v.inner, x + o * v.n * v.inner, v.n, v.inner, v.inner, scale,
                        false);
    }
}

/* y[o,i] = Σ_k x[o,k,i]      dx[o,k,i] += g[o,i] */
static int sum_forward(tg_record *r)
{
    sum_scaled(r, 1);
    return TG_OK;
}

static void spread_backward(tg_record *r, tg_real scale)
{
    const reduce_attr *a = r->attr;
    reduce_view v = view_of(r->in[0], a->axis);
    const tg_real *g = r->out->grad; /* [outer, inner] */
    tg_real *dx = r->in[0]->grad;    /* [outer, n, inner] */
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t k = 0; k < v.n; k++) {
            tg_real *dk = dx + (o * v.n + k) * v.inner;
            const tg_real *go = g + o * v.inner;
            for (int64_t i = 0; i < v.inner; i++) dk[i] += scale * go[i];
        }
}

static void sum_backward(tg_record *r) { spread_backward(r, 1); }

/* y = (1/n) Σ_k x[k]      dx[k] += g / n */
static int mean_forward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    reduce_view v = view_of(r->in[0], a->axis);
    sum_scaled(r, v.n ? 1.0 / (double)v.n : NAN); /* the mean of nothing: NaN */
    return TG_OK;
}

static void mean_backward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    reduce_view v = view_of(r->in[0], a->axis);
    if (v.n) spread_backward(r, (tg_real)1 / (tg_real)v.n);
}

/* y = max_k x[k]; over an axis the gradient goes to the first maximum (its
   index is saved); over all elements ties share it equally (torch.max(x)).
   NaN counts as the maximum, as in PyTorch. */
static int max_forward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    const tg_tensor *in = r->in[0];
    reduce_view v = view_of(in, a->axis);
    const tg_real *x = in->data;
    tg_real *y = r->out->data;
    int64_t *arg = tg_record_save(r, (size_t)(v.outer * v.inner) * sizeof(int64_t));
    if (!arg) return TG_ERR_NOMEM;
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t best = 0;
            tg_real m = x[o * v.n * v.inner + i];
            for (int64_t k = 1; k < v.n && !isnan(m); k++) {
                tg_real xv = x[(o * v.n + k) * v.inner + i];
                if (xv > m || isnan(xv)) m = xv, best = k;
            }
            y[o * v.inner + i] = m;
            arg[o * v.inner + i] = best;
        }
    return TG_OK;
}

static void max_backward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    const tg_tensor *in = r->in[0];
    const int64_t *arg = r->saved;
    tg_real *dx = in->grad;
    const tg_real *g = r->out->grad;
    if (a->axis == TG_ALL) {
        /* ties share the gradient equally */
        tg_real m = r->out->data[0];
        int64_t ties = 0;
        for (int64_t k = 0; k < in->size; k++) ties += in->data[k] == m || (isnan(m) && isnan(in->data[k]));
        for (int64_t k = 0; k < in->size; k++)
            if (in->data[k] == m || (isnan(m) && isnan(in->data[k]))) dx[k] += g[0] / (tg_real)ties;
        return;
    }
    reduce_view v = view_of(in, a->axis);
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t k = arg[o * v.inner + i];
            dx[(o * v.n + k) * v.inner + i] += g[o * v.inner + i];
        }
}

/* g (the output's shape) back over x's shape: reshaped with the reduced
   axes kept as 1, then broadcast. */
static tg_tensor *spread(tg_tape *t, const tg_record *r, tg_tensor *g)
{
    const reduce_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    int64_t keep[TG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) keep[i] = a->axis == TG_ALL || i == a->axis ? 1 : x->shape[i];
    return tg_expand(t, tg_reshape(t, g, x->ndim, keep), x->ndim, x->shape);
}

static int sum_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    dx[0] = spread(t, r, g);
    return TG_OK;
}

static int mean_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    reduce_view v = view_of(r->in[0], ((const reduce_attr *)r->attr)->axis);
    dx[0] = v.n ? tg_scale(t, spread(t, r, g), (tg_real)(1.0 / (double)v.n))
                : tg_zeros(t, r->in[0]->ndim, r->in[0]->shape);
    return TG_OK;
}

/* max_mask(x): where each element's share of the max's gradient goes: 1 at
   the first maximum along the axis, or 1/ties at every maximum over TG_ALL
   (the rule of max_backward); 0 elsewhere. Piecewise constant: no gradient. */
static int max_mask_forward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    const tg_tensor *in = r->in[0];
    tg_real *m = r->out->data;
    memset(m, 0, (size_t)in->size * sizeof(tg_real));
    if (a->axis == TG_ALL) {
        tg_real top = in->data[0];
        for (int64_t k = 1; k < in->size && !isnan(top); k++)
            if (in->data[k] > top || isnan(in->data[k])) top = in->data[k];
        int64_t ties = 0;
        for (int64_t k = 0; k < in->size; k++)
            ties += in->data[k] == top || (isnan(top) && isnan(in->data[k]));
        for (int64_t k = 0; k < in->size; k++)
            if (in->data[k] == top || (isnan(top) && isnan(in->data[k])))
                m[k] = (tg_real)1 / (tg_real)ties;
        return TG_OK;
    }
    reduce_view v = view_of(in, a->axis);
    const tg_real *x = in->data;
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t best = 0;
            tg_real top = x[o * v.n * v.inner + i];
            for (int64_t k = 1; k < v.n && !isnan(top); k++) {
                tg_real xv = x[(o * v.n + k) * v.inner + i];
                if (xv > top || isnan(xv)) top = xv, best = k;
            }
            m[(o * v.n + best) * v.inner + i] = 1;
        }
    return TG_OK;
}

static const tg_op op_max_mask = {.name = "max_mask", .n_inputs = 1,
                                  .attr_size = sizeof(reduce_attr), .shape = tg_shape_same,
                                  .forward = max_mask_forward,
                                  .doc = "where max's gradient goes (no gradient)"};

/* dx = g at the maximum (its share of ties), exactly 0 elsewhere even
   where g is inf (a select, not a product with the mask) */
static int max_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *x = r->in[0];
    tg_tensor *mask = tg_apply(t, &op_max_mask, &x, 1, r->attr);
    tg_tensor *zero = tg_scalar(t, 0);
    dx[0] = tg_where(t, tg_ne(t, mask, zero), tg_mul(t, spread(t, r, g), mask), zero);
    return TG_OK;
}

#define REDUCE_OP(NAME, SHAPE, DOC)                                                      \
    static const tg_op op_##NAME = {.name = #NAME,                                       \
                                    .n_inputs = 1,                                       \
                                    .attr_size = sizeof(reduce_attr),                    \
                                    .shape = SHAPE,                                      \
                                    .forward = NAME##_forward,                           \
                                    .backward = NAME##_backward,                         \
                                    .vjp = NAME##_vjp,                                   \
                                    .doc = DOC};                                         \
    tg_tensor *tg_##NAME(tg_tape *t, tg_tensor *x, int axis, bool keepdim)               \
    {                                                                                    \
        if (!x) return tg_null_input(t, #NAME);                                          \
        reduce_attr a = {TG_ALL, keepdim};                                               \
        /* a 0-d tensor takes axis 0 and -1, as in PyTorch: its one element */           \
        if (x->ndim == 0 && (axis == 0 || axis == -1)) axis = TG_ALL;                    \
        if (axis != TG_ALL && !tg_axis(axis, x->ndim, &a.axis)) {                        \
            char b[128];                                                                 \
            tg_tape_set_error(t, "tg_" #NAME ": axis %d is out of range for shape %s",   \
                              axis, tg_shape_str(x, b, sizeof b));                       \
            return NULL;                                                                 \
        }                                                                                \
        return tg_apply(t, &op_##NAME, &x, 1, &a);                                       \
    }

REDUCE_OP(sum, reduce_shape, "sum over an axis or all")
REDUCE_OP(mean, reduce_shape, "mean over an axis or all")
REDUCE_OP(max, max_shape, "max over an axis or all")

static const tg_op *const reduce_ops[] = {&op_sum, &op_mean, &op_max, &op_max_mask};
const tg_op_table tg_reduce_ops = {reduce_ops, sizeof reduce_ops / sizeof *reduce_ops};
