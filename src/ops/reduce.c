/* Reductions: sum, mean, max and min (with their indices), amax, amin,
   argmax, argmin, prod, var, std, logsumexp, norm; and the cumulative
   cumsum and cumprod.

   The axes. Each reduction takes one axis (negative counts from the end) or
   TG_ALL; those PyTorch lets reduce several axes at once have a twin
   tg_X_axes(t, x, n, axes, keepdim) taking an array of n distinct axes
   (TG_AXES(0, 2) writes the pair n, axes). Inside, the reduced axes are a
   mask (bit i for axis i) in the op's attributes.

   Two ways through the data. When the reduced axes lie next to each other in
   memory (one axis, all of them, or neighbours; axes of size 1 do not
   count), x is viewed as [outer, n, inner] and output (o, i) reduces
   x[o, 0..n, i]: sum, mean, max, min and prod use this view, and the
   cumulative ops along their axis. Otherwise, and for the other reductions
   always, x is walked run by run along its last axis, each run paired with
   its output element (a broadcast of the output, its reduced axes kept as
   1, against x: tg_bcast_each), and every sum goes into a double per output.

   Accuracy: every sum runs in double (src/ops/sum.c's, or the accumulators
   here), so a float result is the correctly rounded value of its formula
   but for the rarest cases. */
#include "ops/ops_internal.h"

typedef struct {
    unsigned mask; /* the reduced axes: bit i for axis i (all of them for TG_ALL) */
    bool keepdim;  /* keep the reduced axes, with size 1 */
    bool all;      /* TG_ALL was asked for: tg_max and tg_min share ties then */
    bool min;      /* max_mask: where min's gradient goes, not max's */
    double p;      /* var and std: the correction; norm: its order */
} reduce_attr;

/* the ops, defined below, for the rules that use one another */
static const tg_op op_sum, op_mean, op_cumsum;

/* op on x over the axes in mask (the attributes the public functions make) */
static tg_tensor *reduce_over(tg_tape *t, const tg_op *op, tg_tensor *x, unsigned mask,
                              bool keepdim, double p)
{
    reduce_attr a = {.mask = mask, .keepdim = keepdim, .p = p};
    return tg_apply(t, op, &x, 1, &a);
}

/* ------------------------------------------------------------ the axes */

static unsigned all_axes(int ndim) { return (1u << ndim) - 1u; }

/* The attributes for one axis or TG_ALL; a 0-d tensor takes axis 0 and -1,
   as in PyTorch (its one element). false, and the tape error naming fn,
   when the axis is out of range. */
static bool one_axis(tg_tape *t, const char *fn, const tg_tensor *x, int axis, reduce_attr *a)
{
    if (axis == TG_ALL || (x->ndim == 0 && (axis == 0 || axis == -1))) {
        a->mask = all_axes(x->ndim);
        a->all = true;
        return true;
    }
    int k;
    if (!tg_axis(axis, x->ndim, &k)) {
        char b[128];
        tg_tape_set_error(t, "%s: axis %d is out of range for shape %s", fn, axis,
                          tg_shape_str(x, b, sizeof b));
        return false;
    }
    a->mask = 1u << k;
    return true;
}

/* The attributes for n distinct axes (1..TG_MAX_DIMS of them). n = 0 is
   refused: PyTorch reads an empty list as every axis and NumPy as none, so
   it would surprise one of them; TG_ALL says "every axis" plainly. */
static bool axis_set(tg_tape *t, const char *fn, const tg_tensor *x, int n, const int *axes,
                     reduce_attr *a)
{
    char b[128];
    if (n < 1 || n > TG_MAX_DIMS || !axes) {
        tg_tape_set_error(t, "%s: %d axes given (axes %s): give 1..%d axes, or TG_ALL to the "
                             "one-axis form to reduce every axis",
                          fn, n, axes ? "given" : "NULL", TG_MAX_DIMS);
        return false;
    }
    int nd = x->ndim > 0 ? x->ndim : 1; /* a 0-d tensor takes 0 and -1 */
    a->mask = 0;
    for (int i = 0; i < n; i++) {
        int k;
        if (!tg_axis(axes[i], nd, &k)) {
            tg_tape_set_error(t, "%s: axis %d (at position %d) is out of range for shape %s",
                              fn, axes[i], i, tg_shape_str(x, b, sizeof b));
            return false;
        }
        if (a->mask >> k & 1u) {
            tg_tape_set_error(t, "%s: axis %d (at position %d) appears twice for shape %s", fn,
                              axes[i], i, tg_shape_str(x, b, sizeof b));
            return false;
        }
        a->mask |= 1u << k;
    }
    a->mask &= all_axes(x->ndim);
    return true;
}

/* x's shape with the reduced axes set to 1 (the output's with keepdim). */
static void keep_shape(const tg_tensor *x, unsigned mask, int64_t *shape)
{
    for (int i = 0; i < x->ndim; i++) shape[i] = mask >> i & 1u ? 1 : x->shape[i];
}

/* How many elements each output reduces. */
static int64_t reduced_count(const tg_tensor *x, unsigned mask)
{
    int64_t n = 1;
    for (int i = 0; i < x->ndim; i++)
        if (mask >> i & 1u) n *= x->shape[i];
    return n;
}

static int reduce_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    const reduce_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    if (a->mask >> x->ndim) { /* a mask not made by the functions below */
        char b[128];
        snprintf(msg, len, "axes (mask 0x%x) out of range for shape %s", a->mask,
                 tg_shape_str(x, b, sizeof b));
        return TG_ERR_INVALID;
    }
    *ndim = 0;
    for (int i = 0; i < x->ndim; i++) {
        bool reduced = a->mask >> i & 1u;
        if (reduced && !a->keepdim) continue;
        shape[(*ndim)++] = reduced ? 1 : x->shape[i];
    }
    return TG_OK;
}

/* The extremes have no value over no elements (PyTorch refuses them too). */
static int extreme_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                         size_t len, const char *what)
{
    const reduce_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    if (reduced_count(x, a->mask & all_axes(x->ndim)) == 0) {
        char b[128];
        snprintf(msg, len, "the %s of an empty axis is undefined (shape %s)", what,
                 tg_shape_str(x, b, sizeof b));
        return TG_ERR_SHAPE;
    }
    return reduce_shape(r, ndim, shape, msg, len);
}

static int max_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    return extreme_shape(r, ndim, shape, msg, len, "maximum");
}

static int min_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    return extreme_shape(r, ndim, shape, msg, len, "minimum");
}

/* ------------------------------------------------------------ geometry */

typedef struct {
    int64_t outer, n, inner;
} reduce_view;

/* x as [outer, n, inner], output (o, i) reducing x[o, 0..n, i]: possible
   when the reduced axes of size other than 1 are neighbours. false if not. */
static bool view_of(const tg_tensor *x, unsigned mask, reduce_view *v)
{
    int first = -1, last = -1;
    bool gap = false;
    for (int i = 0; i < x->ndim; i++) {
        if (x->shape[i] == 1) continue; /* a size-1 axis fits anywhere */
        if (mask >> i & 1u) {
            if (gap) return false;
            if (first < 0) first = i;
            last = i;
        } else if (first >= 0) {
            gap = true;
        }
    }
    if (first < 0) { /* nothing to reduce: each output is one element */
        *v = (reduce_view){x->size, 1, 1};
        return true;
    }
    *v = (reduce_view){1, 1, 1};
    for (int i = 0; i < x->ndim; i++) {
        int64_t *d = i < first ? &v->outer : i <= last ? &v->n : &v->inner;
        *d *= x->shape[i];
    }
    return true;
}

/* The walk over x run by run (its last axis), each run with its output:
   tg_bcast_each(&bc, fn, ctx) calls fn(iy, _, ix, n, sy, _, ctx) where ix is
   the run's offset in x, iy its output's, and sy is 0 when the last axis is
   reduced (the whole run goes to output iy) or 1 when it is kept (element k
   to output iy + k). */
static void walk_init(tg_bcast *bc, const tg_tensor *x, unsigned mask)
{
    tg_tensor y = {.ndim = x->ndim};
    keep_shape(x, mask, y.shape);
    tg_bcast_init(bc, &y, &y, x);
}

static void walk(const tg_tensor *x, unsigned mask, tg_bcast_fn fn, void *ctx)
{
    tg_bcast bc;
    walk_init(&bc, x, mask);
    tg_bcast_each(&bc, fn, ctx);
}

/* What the run functions read and write. */
typedef struct {
    const tg_real *x;  /* [x's size] */
    const tg_real *y;  /* [outputs]: the result */
    const tg_real *g;  /* [outputs]: its gradient */
    const double *s;   /* [outputs]: a statistic of each output (mean, count...) */
    double *acc;       /* [outputs]: sums being gathered */
    double *acc2;      /* [outputs]: a second one */
    tg_real *out;      /* [outputs]: a result being written */
    tg_real *dx;       /* [x's size]: x's gradient */
    double p;          /* the op's number (a scale, the norm's order) */
    int64_t p2;        /* var, std: where the second statistic starts in s */
    bool min, abs;     /* the extreme's direction; on |x| */
} red_ctx;

#define RUN_ARGS int64_t iy, int64_t ib_, int64_t ix, int64_t n, int64_t sy, int64_t sb_, void *c
#define RUN_UNUSED (void)ib_, (void)sb_

/* Σ v[i] for i < n with four partial sums (independent chains, so the
   loop runs at the adder's throughput rather than its latency). */
static double sum4(const double *v, int64_t n)
{
    double p[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) p[j] += v[i + j];
    for (; i < n; i++) p[0] += v[i];
    return (p[0] + p[1]) + (p[2] + p[3]);
}

/* A run function adding Σ TERM over the run into acc[output], in double.
   TERM reads xv (the element, tg_real) and sv (the output's statistic s[o],
   or 0 when there is none). A run into one output is summed in blocks of
   four partial sums each, as src/ops/sum.c sums in blocks. */
#define RUN_BLOCK 128
#define SUM_RUN(NAME, TERM)                                                              \
    static inline double NAME##_term(const red_ctx *k, tg_real xv, double sv)            \
    {                                                                                    \
        (void)k, (void)sv;                                                               \
        return (TERM);                                                                   \
    }                                                                                    \
    static void NAME(RUN_ARGS)                                                           \
    {                                                                                    \
        RUN_UNUSED;                                                                      \
        const red_ctx *k = c;                                                            \
        const tg_real *xs = k->x + ix;                                                   \
        if (sy == 0) {                                                                   \
            double sv = k->s ? k->s[iy] : 0, total = 0;                                  \
            for (int64_t b = 0; b < n; b += RUN_BLOCK) {                                 \
                int64_t e = b + RUN_BLOCK < n ? b + RUN_BLOCK : n, i = b;                \
                double p[4] = {0, 0, 0, 0};                                              \
                for (; i + 4 <= e; i += 4)                                               \
                    for (int j = 0; j < 4; j++) p[j] += NAME##_term(k, xs[i + j], sv);   \
                for (; i < e; i++) p[0] += NAME##_term(k, xs[i], sv);                    \
                total += (p[0] + p[1]) + (p[2] + p[3]);                                  \
            }                                                                            \
            k->acc[iy] += total;                                                         \
        } else {                                                                         \
            for (int64_t i = 0; i < n; i++)                                              \
                k->acc[iy + i] += NAME##_term(k, xs[i], k->s ? k->s[iy + i] : 0);        \
        }                                                                                \
    }

/* A run function adding EXPR into each element's gradient dx. EXPR reads xv
   (the element), yv (its output), gv (the output's gradient) and sv (the
   output's statistic, or 0). */
#define GRAD_RUN(NAME, EXPR)                                                             \
    static void NAME(RUN_ARGS)                                                           \
    {                                                                                    \
        RUN_UNUSED;                                                                      \
        const red_ctx *k = c;                                                            \
        for (int64_t i = 0; i < n; i++) {                                                \
            int64_t o = iy + i * sy;                                                     \
            tg_real xv = k->x[ix + i], yv = k->y[o], gv = k->g[o];                       \
            double sv = k->s ? k->s[o] : 0;                                              \
            (void)xv, (void)yv, (void)gv, (void)sv;                                      \
            k->dx[ix + i] += (tg_real)(EXPR);                                            \
        }                                                                                \
    }

/* Doubles for one value per output, from the tape (the forward saves what
   its backward needs: the backward cannot fail). */
static double *per_output(tg_record *r, int k)
{
    size_t n = (size_t)(r->out->size ? r->out->size : 1);
    return tg_record_save(r, (size_t)k * n * sizeof(double));
}

/* g (the output's shape) reshaped with the reduced axes kept as 1, so that
   it broadcasts against x; and broadcast to x's shape. */
static tg_tensor *keep(tg_tape *t, const tg_record *r, tg_tensor *g)
{
    const reduce_attr *a = r->attr;
    int64_t shape[TG_MAX_DIMS];
    keep_shape(r->in[0], a->mask, shape);
    return tg_reshape(t, g, r->in[0]->ndim, shape);
}

static tg_tensor *spread(tg_tape *t, const tg_record *r, tg_tensor *g)
{
    return tg_expand(t, keep(t, r, g), r->in[0]->ndim, r->in[0]->shape);
}

/* ------------------------------------------------------------ sum, mean */

SUM_RUN(sum_run, (double)xv)
GRAD_RUN(spread_run, gv * k->p)

/* y = scale·Σ x over the reduced axes (scale 1 for sum, 1/n for mean; the
   sums are accurate: src/ops/sum.c, or a double per output) */
static int sum_scaled(tg_record *r, double scale)
{
    const reduce_attr *a = r->attr;
    const tg_tensor *in = r->in[0];
    const tg_real *x = in->data; /* [outer, n, inner] */
    tg_real *y = r->out->data;   /* [outer, inner] */
    reduce_view v;
    if (view_of(in, a->mask, &v)) {
        for (int64_t o = 0; o < v.outer; o++) {
            if (v.inner == 1)
                y[o] = (tg_real)(scale * tg_sum_strided(x + o * v.n, v.n, 1));
            else
                tg_sum_rows(y + o * v.inner, x + o * v.n * v.inner, v.n, v.inner, v.inner,
                            scale, false);
        }
        return TG_OK;
    }
    double *acc = tg_tape_alloc(r->tape, (size_t)r->out->size * sizeof(double));
    if (!acc) return TG_ERR_NOMEM;
    memset(acc, 0, (size_t)r->out->size * sizeof(double));
    red_ctx k = {.x = x, .acc = acc};
    walk(in, a->mask, sum_run, &k);
    for (int64_t o = 0; o < r->out->size; o++) y[o] = (tg_real)(scale * acc[o]);
    return TG_OK;
}

/* dx[o,k,i] += scale·g[o,i] */
static void spread_backward(tg_record *r, tg_real scale)
{
    const reduce_attr *a = r->attr;
    const tg_real *g = r->out->grad; /* [outer, inner] */
    tg_real *dx = r->in[0]->grad;    /* [outer, n, inner] */
    reduce_view v;
    if (!view_of(r->in[0], a->mask, &v)) {
        red_ctx k = {.x = r->in[0]->data, .y = r->out->data, .g = g, .dx = dx, .p = scale};
        walk(r->in[0], a->mask, spread_run, &k);
        return;
    }
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t kk = 0; kk < v.n; kk++) {
            tg_real *dk = dx + (o * v.n + kk) * v.inner;
            const tg_real *go = g + o * v.inner;
            for (int64_t i = 0; i < v.inner; i++) dk[i] += scale * go[i];
        }
}

/* y = Σ_k x_k      dx_k += g */
static int sum_forward(tg_record *r) { return sum_scaled(r, 1); }

static void sum_backward(tg_record *r) { spread_backward(r, 1); }

static int sum_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    dx[0] = spread(t, r, g);
    return TG_OK;
}

/* y = (1/n) Σ_k x_k      dx_k += g / n   (the mean of nothing is NaN) */
static int mean_forward(tg_record *r)
{
    int64_t n = reduced_count(r->in[0], ((const reduce_attr *)r->attr)->mask);
    return sum_scaled(r, n ? 1.0 / (double)n : NAN);
}

static void mean_backward(tg_record *r)
{
    int64_t n = reduced_count(r->in[0], ((const reduce_attr *)r->attr)->mask);
    if (n) spread_backward(r, (tg_real)(1.0 / (double)n));
}

static int mean_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    int64_t n = reduced_count(r->in[0], ((const reduce_attr *)r->attr)->mask);
    dx[0] = n ? tg_scale(t, spread(t, r, g), (tg_real)(1.0 / (double)n))
              : tg_zeros(t, r->in[0]->ndim, r->in[0]->shape);
    return TG_OK;
}

/* ------------------------------------------------------------ max, min */

/* Whether v beats the best so far m: larger (smaller for min), or NaN,
   which PyTorch's max and min propagate: the first NaN wins. */
static inline bool beats(tg_real v, tg_real m, bool min)
{
    return !isnan(m) && (isnan(v) || (min ? v < m : v > m));
}

/* For every output (o, i) of the view, the extreme of x[o, 0..n, i] and the
   index k of its first occurrence (vals or arg may be NULL). */
static void extreme_index(const tg_real *x, reduce_view v, bool min, tg_real *vals, int64_t *arg)
{
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t best = 0;
            tg_real m = x[o * v.n * v.inner + i];
            for (int64_t kk = 1; kk < v.n; kk++) {
                tg_real xv = x[(o * v.n + kk) * v.inner + i];
                if (beats(xv, m, min)) m = xv, best = kk;
            }
            if (vals) vals[o * v.inner + i] = m;
            if (arg) arg[o * v.inner + i] = best;
        }
}

/* y = max_k x_k (min_k for min); over an axis the gradient goes to the
   first extreme (its index is saved), over every element ties share it
   equally (torch.max(x)). NaN counts as the extreme, as in PyTorch. */
static int extreme_forward(tg_record *r, bool min)
{
    const reduce_attr *a = r->attr;
    reduce_view v;
    view_of(r->in[0], a->mask, &v); /* one axis or all: always a view */
    int64_t *arg = tg_record_save(r, (size_t)(v.outer * v.inner) * sizeof(int64_t));
    if (!arg) return TG_ERR_NOMEM;
    extreme_index(r->in[0]->data, v, min, r->out->data, arg);
    return TG_OK;
}

/* Whether x_k ties with the extreme m over all elements (NaN ties with NaN). */
static inline bool ties(tg_real xv, tg_real m) { return xv == m || (isnan(m) && isnan(xv)); }

static void extreme_backward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    const tg_tensor *in = r->in[0];
    const int64_t *arg = r->saved;
    tg_real *dx = in->grad;
    const tg_real *g = r->out->grad;
    if (a->all) { /* ties share the gradient equally */
        tg_real m = r->out->data[0];
        int64_t n = 0;
        for (int64_t kk = 0; kk < in->size; kk++) n += ties(in->data[kk], m);
        for (int64_t kk = 0; kk < in->size; kk++)
            if (ties(in->data[kk], m)) dx[kk] += g[0] / (tg_real)n;
        return;
    }
    reduce_view v;
    view_of(in, a->mask, &v);
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t kk = arg[o * v.inner + i];
            dx[(o * v.n + kk) * v.inner + i] += g[o * v.inner + i];
        }
}

/* max_mask(x): where each element's share of max's (or min's) gradient
   goes: 1 at the first extreme along the axis, or 1/ties at every extreme
   over TG_ALL (the rule of extreme_backward); 0 elsewhere. Piecewise
   constant: no gradient. */
static int max_mask_forward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    const tg_tensor *in = r->in[0];
    tg_real *m = r->out->data;
    memset(m, 0, (size_t)in->size * sizeof(tg_real));
    reduce_view v;
    view_of(in, a->mask, &v);
    if (a->all) {
        tg_real top;
        extreme_index(in->data, v, a->min, &top, NULL);
        int64_t n = 0;
        for (int64_t kk = 0; kk < in->size; kk++) n += ties(in->data[kk], top);
        for (int64_t kk = 0; kk < in->size; kk++)
            if (ties(in->data[kk], top)) m[kk] = (tg_real)1 / (tg_real)n;
        return TG_OK;
    }
    int64_t *arg = tg_tape_alloc(r->tape, (size_t)(v.outer * v.inner) * sizeof(int64_t));
    if (!arg) return TG_ERR_NOMEM;
    extreme_index(in->data, v, a->min, NULL, arg);
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) m[(o * v.n + arg[o * v.inner + i]) * v.inner + i] = 1;
    return TG_OK;
}

static const tg_op op_max_mask = {.name = "max_mask", .n_inputs = 1,
                                  .attr_size = sizeof(reduce_attr), .shape = tg_shape_same,
                                  .forward = max_mask_forward,
                                  .doc = "where max's or min's gradient goes (no gradient)"};

/* dx = g at the extreme (its share of ties), exactly 0 elsewhere even
   where g is inf (a select, not a product with the mask) */
static int extreme_vjp(tg_tape *t, const tg_record *r, tg_tensor **dx, tg_tensor *g, bool min)
{
    tg_tensor *x = r->in[0];
    reduce_attr a = *(const reduce_attr *)r->attr;
    a.min = min;
    tg_tensor *mask = tg_apply(t, &op_max_mask, &x, 1, &a);
    tg_tensor *zero = tg_scalar(t, 0);
    dx[0] = tg_where(t, tg_ne(t, mask, zero), tg_mul(t, spread(t, r, g), mask), zero);
    return TG_OK;
}

static int max_forward(tg_record *r) { return extreme_forward(r, false); }
static void max_backward(tg_record *r) { extreme_backward(r); }
static int max_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    return extreme_vjp(t, r, dx, g, false);
}

static int min_forward(tg_record *r) { return extreme_forward(r, true); }
static void min_backward(tg_record *r) { extreme_backward(r); }
static int min_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    return extreme_vjp(t, r, dx, g, true);
}

/* ------------------------------------------------------------ amax, amin */

/* out[o] = the extreme of the run's elements (of |x| with k->abs). A run
   into one output keeps four running extremes (independent chains) and
   notes NaN apart, which wins at the end (PyTorch's amax and amin
   propagate it). */
static void extreme_run(RUN_ARGS)
{
    RUN_UNUSED;
    const red_ctx *k = c;
    const tg_real *xs = k->x + ix;
    bool min = k->min, abs = k->abs;
    if (sy == 0) {
        tg_real m0 = k->out[iy], m[4] = {m0, m0, m0, m0};
        int nan[4] = {isnan(m0), 0, 0, 0};
        int64_t i = 0;
        for (; i + 4 <= n; i += 4)
            for (int j = 0; j < 4; j++) {
                tg_real v = abs ? TG_FABS(xs[i + j]) : xs[i + j];
                m[j] = (min ? v < m[j] : v > m[j]) ? v : m[j];
                nan[j] |= v != v;
            }
        for (; i < n; i++) {
            tg_real v = abs ? TG_FABS(xs[i]) : xs[i];
            m[0] = (min ? v < m[0] : v > m[0]) ? v : m[0];
            nan[0] |= v != v;
        }
        for (int j = 1; j < 4; j++) m[0] = (min ? m[j] < m[0] : m[j] > m[0]) ? m[j] : m[0];
        k->out[iy] = nan[0] | nan[1] | nan[2] | nan[3] ? (tg_real)NAN : m[0];
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        tg_real v = abs ? TG_FABS(xs[i]) : xs[i];
        if (beats(v, k->out[iy + i], min)) k->out[iy + i] = v;
    }
}

/* out = the extreme of x (of |x| with abs) over the reduced axes */
static void extreme_over(const tg_record *r, tg_real *out, bool min, bool abs)
{
    const reduce_attr *a = r->attr;
    for (int64_t o = 0; o < r->out->size; o++) out[o] = min ? (tg_real)INFINITY : (tg_real)-INFINITY;
    red_ctx k = {.x = r->in[0]->data, .out = out, .min = min, .abs = abs};
    walk(r->in[0], a->mask, extreme_run, &k);
}

/* acc[o] += the number of the output's elements equal to it (of |x| with
   abs, and NaN counting there: the inf-norm's rule) */
SUM_RUN(tie_run, (double)((k->abs ? TG_FABS(xv) : xv) == (tg_real)sv ||
                          (k->abs && isnan(xv))))

/* the number of ties of each output with it, into acc (zeroed here) */
static void count_ties(const tg_record *r, double *acc, bool abs)
{
    const reduce_attr *a = r->attr;
    double *s = acc + r->out->size; /* the outputs, as doubles */
    for (int64_t o = 0; o < r->out->size; o++) acc[o] = 0, s[o] = (double)r->out->data[o];
    red_ctx k = {.x = r->in[0]->data, .s = s, .acc = acc, .abs = abs};
    walk(r->in[0], a->mask, tie_run, &k);
}

/* amax(x) = max over the axes, ties sharing the gradient equally, as
   torch.amax: with c the number of elements equal to y,
   dx_k += g/c where x_k = y, else 0 (NaN where y is NaN: c = 0, as PyTorch's
   (g/c)·mask gives) */
GRAD_RUN(share_run, xv == yv ? gv / sv : sv == 0 ? NAN : 0)

static int amax_forward(tg_record *r)
{
    if (!per_output(r, 2)) return TG_ERR_NOMEM; /* the tie counts, for backward */
    extreme_over(r, r->out->data, false, false);
    return TG_OK;
}

static void amax_backward(tg_record *r)
{
    double *count = r->saved;
    count_ties(r, count, false);
    red_ctx k = {.x = r->in[0]->data, .y = r->out->data, .g = r->out->grad, .s = count,
                 .dx = r->in[0]->grad};
    walk(r->in[0], ((const reduce_attr *)r->attr)->mask, share_run, &k);
}

/* mask and count are constants: dx = where(x = y, g/c, 0/c), the 0/c being
   NaN where c = 0 as in the backward */
static int amax_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const reduce_attr *a = r->attr;
    tg_tensor *x = r->in[0], *zero = tg_scalar(t, 0);
    tg_tensor *mask = tg_eq(t, x, keep(t, r, r->out));
    tg_tensor *count = reduce_over(t, &op_sum, mask, a->mask, true, 0);
    dx[0] = tg_where(t, mask, tg_div(t, keep(t, r, g), count), tg_div(t, zero, count));
    return TG_OK;
}

static int amin_forward(tg_record *r)
{
    if (!per_output(r, 2)) return TG_ERR_NOMEM;
    extreme_over(r, r->out->data, true, false);
    return TG_OK;
}

static void amin_backward(tg_record *r) { amax_backward(r); }
static int amin_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    return amax_vjp(t, r, g, dx);
}

/* ------------------------------------------------------------ prod */

/* Whether any element of x is 0: PyTorch's prod and cumprod pick their
   gradient formula by it, over the whole tensor. */
static bool has_zero(const tg_tensor *x)
{
    for (int64_t i = 0; i < x->size; i++)
        if (x->data[i] == 0) return true;
    return false;
}

/* y = Π_k x_k (in double)
   dx_k += g·Π_{i≠k} x_i: g·y/x_k when x has no zero anywhere (PyTorch's
   formula, whose inf/inf at an infinite x_k is NaN as there); otherwise
   the product of the others as prefix·suffix, exact with zeros: a slice with
   one zero sends g·(product of the rest) to it and 0 elsewhere, a slice
   with two zeros gives 0 everywhere */
static int prod_forward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    reduce_view v;
    view_of(r->in[0], a->mask, &v); /* one axis or all: always a view */
    /* the backward's suffix products of a slice */
    if (!tg_record_save(r, (size_t)(v.n ? v.n : 1) * sizeof(double))) return TG_ERR_NOMEM;
    const tg_real *x = r->in[0]->data;
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            double p = 1;
            for (int64_t kk = 0; kk < v.n; kk++) p *= (double)x[(o * v.n + kk) * v.inner + i];
            r->out->data[o * v.inner + i] = (tg_real)p;
        }
    return TG_OK;
}

static void prod_backward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    const tg_tensor *in = r->in[0];
    reduce_view v;
    view_of(in, a->mask, &v);
    bool zero = has_zero(in);
    double *suffix = r->saved; /* [n] */
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            const tg_real *x = in->data + o * v.n * v.inner + i; /* stride inner */
            tg_real *dx = in->grad + o * v.n * v.inner + i;
            double g = (double)r->out->grad[o * v.inner + i];
            double y = (double)r->out->data[o * v.inner + i];
            if (!zero) {
                for (int64_t kk = 0; kk < v.n; kk++)
                    dx[kk * v.inner] += (tg_real)(g * (y / (double)x[kk * v.inner]));
                continue;
            }
            double p = 1;
            for (int64_t kk = v.n - 1; kk >= 0; kk--) {
                suffix[kk] = p;
                p *= (double)x[kk * v.inner];
            }
            p = 1; /* the prefix */
            for (int64_t kk = 0; kk < v.n; kk++) {
                dx[kk * v.inner] += (tg_real)(g * (p * suffix[kk]));
                p *= (double)x[kk * v.inner];
            }
        }
}

/* x's slices along the reduced axis as the rows of a [B, n] matrix (the
   axis moved last); every element as one row for TG_ALL. */
static tg_tensor *to_rows(tg_tape *t, tg_tensor *x, unsigned mask, int *axis)
{
    *axis = -1;
    for (int i = 0; i < x->ndim && mask != all_axes(x->ndim); i++)
        if (mask >> i & 1u) *axis = i;
    int64_t n = *axis < 0 ? x->size : x->shape[*axis];
    tg_tensor *m = *axis < 0 ? x : tg_movedim(t, x, *axis, -1);
    return tg_reshape(t, m, TG_SHAPE(n ? x->size / n : 0, n));
}

/* The inverse of to_rows: [B, n] back to x's shape. */
static tg_tensor *from_rows(tg_tape *t, tg_tensor *rows, const tg_tensor *x, int axis)
{
    if (axis < 0) return tg_reshape(t, rows, x->ndim, x->shape);
    int64_t moved[TG_MAX_DIMS];
    for (int i = 0, k = 0; i < x->ndim; i++)
        if (i != axis) moved[k++] = x->shape[i];
    moved[x->ndim - 1] = x->shape[axis];
    return tg_movedim(t, tg_reshape(t, rows, x->ndim, moved), -1, axis);
}

/* A constant [n, n] of 0/1: 1 on the diagonal (upper = false) or where
   column ≥ row (upper = true). */
static tg_tensor *square_mask(tg_tape *t, int64_t n, bool upper)
{
    tg_tensor *m = tg_zeros(t, TG_SHAPE(n, n));
    if (!m) return NULL;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i; j < (upper ? n : i + 1); j++) m->data[i * n + j] = 1;
    return m;
}

/* rows [B, n] -> [B, n, n] whose [b, k, :] is row b with its element k
   replaced by 1: the products that leave x_k out, as ops (for the vjps of
   prod and cumprod with zeros, as PyTorch's own double backward does;
   n² values per row). */
static tg_tensor *leave_one_out(tg_tape *t, tg_tensor *rows)
{
    if (!rows) return NULL;
    int64_t B = rows->shape[0], n = rows->shape[1];
    tg_tensor *spread_rows = tg_expand(t, tg_reshape(t, rows, TG_SHAPE(B, 1, n)), TG_SHAPE(B, n, n));
    return tg_where(t, square_mask(t, n, false), tg_scalar(t, 1), spread_rows);
}

static int prod_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const reduce_attr *a = r->attr;
    tg_tensor *x = r->in[0];
    if (!has_zero(x)) { /* g·y/x */
        dx[0] = tg_div(t, tg_mul(t, keep(t, r, g), keep(t, r, r->out)), x);
        return TG_OK;
    }
    int axis;
    tg_tensor *rows = to_rows(t, x, a->mask, &axis);
    if (!rows) return TG_ERR_INVALID;
    tg_tensor *others = reduce_over(t, r->op, leave_one_out(t, rows), 1u << 2, false, 0);
    tg_tensor *grows = tg_mul(t, others, tg_reshape(t, g, TG_SHAPE(rows->shape[0], 1)));
    dx[0] = from_rows(t, grows, x, axis);
    return TG_OK;
}

/* ------------------------------------------------------------ var, std */

/* var: m = (1/n) Σ x, y = Σ (x − m)² / max(0, n − c), c the correction
   (1 by default: Bessel's); std: y = √var. Two passes in double, the
   second correcting the mean's rounding (Chan, Golub and LeVeque's
   corrected two-pass algorithm: with d = x − m̃ for the computed m̃,
   m = m̃ + Σd/n and Σ(x − m)² = Σd² − (Σd)²/n), so that values far from 0
   with a small spread keep their digits.
   var:  dx_k += g·2(x_k − m)/(n − c) (PyTorch's, unclamped: n < c gives an
         infinite variance but a finite gradient, as there)
   std:  dx_k += g/(2y)·2(x_k − m)/(n − c), 0 where y = 0 (PyTorch's choice
         where √ has no derivative)
   The forward keeps m as m̃ and Σd/n apart (s and s[m + o]): x_k − m is then
   (x_k − m̃) − Σd/n, to the last digit even where m's own rounding is
   larger than the spread of x. */
GRAD_RUN(var_grad_run, gv * k->p * (((double)xv - sv) - k->s[k->p2 + o]))
GRAD_RUN(std_grad_run, (yv == 0 ? 0 : gv / (2.0 * yv)) * k->p * (((double)xv - sv) - k->s[k->p2 + o]))

/* acc[o] += Σ d², acc2[o] += Σ d over the run, d = x − s[o] (four partial
   sums of each, in blocks, as SUM_RUN) */
static void dev_run(RUN_ARGS)
{
    RUN_UNUSED;
    const red_ctx *k = c;
    const tg_real *xs = k->x + ix;
    if (sy == 0) {
        double m = k->s[iy], sq = 0, sd = 0;
        for (int64_t b = 0; b < n; b += RUN_BLOCK) {
            int64_t e = b + RUN_BLOCK < n ? b + RUN_BLOCK : n, i = b;
            double q[4] = {0, 0, 0, 0}, l[4] = {0, 0, 0, 0};
            for (; i + 4 <= e; i += 4)
                for (int j = 0; j < 4; j++) {
                    double d = (double)xs[i + j] - m;
                    q[j] += d * d, l[j] += d;
                }
            for (; i < e; i++) {
                double d = (double)xs[i] - m;
                q[0] += d * d, l[0] += d;
            }
            sq += (q[0] + q[1]) + (q[2] + q[3]), sd += (l[0] + l[1]) + (l[2] + l[3]);
        }
        k->acc[iy] += sq, k->acc2[iy] += sd;
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        double d = (double)xs[i] - k->s[iy + i];
        k->acc[iy + i] += d * d, k->acc2[iy + i] += d;
    }
}

static int moments_forward(tg_record *r, bool sd)
{
    const reduce_attr *a = r->attr;
    int64_t n = reduced_count(r->in[0], a->mask), m = r->out->size;
    double *mean = per_output(r, 2); /* m̃ and Σd/n, kept for the backward */
    double *acc = tg_tape_alloc(r->tape, 2 * (size_t)(m ? m : 1) * sizeof(double));
    if (!mean || !acc) return TG_ERR_NOMEM;
    double *acc2 = acc + m;
    memset(acc, 0, 2 * (size_t)m * sizeof(double));
    red_ctx k = {.x = r->in[0]->data, .acc = acc};
    walk(r->in[0], a->mask, sum_run, &k);
    for (int64_t o = 0; o < m; o++) mean[o] = acc[o] / (double)n, acc[o] = 0;
    k.s = mean, k.acc2 = acc2;
    walk(r->in[0], a->mask, dev_run, &k);
    double dof = fmax(0.0, (double)n - a->p);
    for (int64_t o = 0; o < m; o++) {
        double ss = acc[o] - acc2[o] * acc2[o] / (double)n;
        double var = (ss < 0 ? 0 : ss) / dof; /* ≥ 0 in exact arithmetic; NaN stays */
        mean[m + o] = acc2[o] / (double)n;
        r->out->data[o] = (tg_real)(sd ? sqrt(var) : var);
    }
    return TG_OK;
}

static void moments_backward(tg_record *r, tg_bcast_fn run)
{
    const reduce_attr *a = r->attr;
    int64_t n = reduced_count(r->in[0], a->mask);
    red_ctx k = {.x = r->in[0]->data, .y = r->out->data, .g = r->out->grad, .s = r->saved,
                 .dx = r->in[0]->grad, .p = 2.0 / ((double)n - a->p), .p2 = r->out->size};
    walk(r->in[0], a->mask, run, &k);
}

static int moments_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx, bool sd)
{
    const reduce_attr *a = r->attr;
    tg_tensor *x = r->in[0];
    /* x − m as (x − m̃) − mean(x − m̃), as the forward (the derivative of
       the correction is 0, its value the digits m̃ lost) */
    tg_tensor *d = tg_sub(t, x, reduce_over(t, &op_mean, x, a->mask, true, 0));
    tg_tensor *dev = tg_sub(t, d, reduce_over(t, &op_mean, d, a->mask, true, 0));
    tg_tensor *gk = keep(t, r, g);
    if (sd) { /* g/(2y), 0 where y = 0 (y kept away from 0 in the branch not taken) */
        tg_tensor *y = keep(t, r, r->out), *zero = tg_scalar(t, 0);
        tg_tensor *y0 = tg_eq(t, y, zero);
        tg_tensor *safe = tg_where(t, y0, tg_scalar(t, 1), y);
        gk = tg_where(t, y0, zero, tg_div(t, gk, tg_scale(t, safe, 2)));
    }
    int64_t n = reduced_count(x, a->mask);
    dx[0] = tg_mul(t, tg_scale(t, gk, (tg_real)(2.0 / ((double)n - a->p))), dev);
    return TG_OK;
}

static int var_forward(tg_record *r) { return moments_forward(r, false); }
static void var_backward(tg_record *r) { moments_backward(r, var_grad_run); }
static int var_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    return moments_vjp(t, r, g, dx, false);
}

static int std_forward(tg_record *r) { return moments_forward(r, true); }
static void std_backward(tg_record *r) { moments_backward(r, std_grad_run); }
static int std_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    return moments_vjp(t, r, g, dx, true);
}

static int moments_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                         size_t len)
{
    const reduce_attr *a = r->attr;
    if (!isfinite(a->p)) {
        snprintf(msg, len, "the correction must be finite, got %g", a->p);
        return TG_ERR_INVALID;
    }
    return reduce_shape(r, ndim, shape, msg, len);
}

/* ------------------------------------------------------------ logsumexp */

/* y = m + log Σ_k exp(x_k − m), m = max_k x_k, taken as 0 where it is ±inf
   (as PyTorch: an all −inf slice gives −inf and an inf gives inf, never
   inf − inf); no elements give −inf
   dx_k += g·exp(x_k − y)   (softmax: g·softmax(x)_k) */
/* e^x in double without a call or a branch, so that a loop of them
   vectorises: x = k·ln2 + r with |r| ≤ ln2/2 (ln2 in two parts, the first
   exact times any k here), e^r by its Taylor polynomial to r^13 (the next
   term is below 2^-57 of it), and 2^k written into the exponent bits.
   Below e^-708 (where 2^k would be subnormal) the result is 0, above e^709
   inf; NaN stays NaN. Relative error a few 2^-53. */
static inline double exp_poly(double x)
{
    const double shifter = 0x1.8p52; /* adding it rounds to an integer in the low bits */
    double xc = x < -708.0 ? -708.0 : x > 709.0 ? 709.0 : x;
    double kd = xc * 0x1.71547652b82fep0 + shifter; /* log2(e) */
    uint64_t kb;
    memcpy(&kb, &kd, sizeof kb);
    kd -= shifter;
    double r = (xc - kd * 0x1.62e42feep-1) - kd * 0x1.a39ef35793c76p-33;
    double p = 0x1.6124613a86d09p-33; /* 1/13! ... 1/2!, 1, 1 */
    p = p * r + 0x1.1eed8eff8d898p-29;
    p = p * r + 0x1.ae64567f544e4p-26;
    p = p * r + 0x1.27e4fb7789f5cp-22;
    p = p * r + 0x1.71de3a556c734p-19;
    p = p * r + 0x1.a01a01a01a01ap-16;
    p = p * r + 0x1.a01a01a01a01ap-13;
    p = p * r + 0x1.6c16c16c16c17p-10;
    p = p * r + 0x1.1111111111111p-7;
    p = p * r + 0x1.5555555555555p-5;
    p = p * r + 0x1.5555555555555p-3;
    p = p * r + 0.5;
    p = p * r + 1;
    p = p * r + 1;
    uint64_t eb = (kb - 0x4338000000000000ULL + 1023) << 52; /* 2^k; kb's low bits hold k */
    double scale;
    memcpy(&scale, &eb, sizeof scale);
    double v = p * scale;
    return x >= -708.0 ? (x <= 709.0 ? v : INFINITY) : x < -708.0 ? 0.0 : x;
}

/* out[i] = e^(x[i] − s[i·ss]), ss 0 (one shift) or 1 (one per element) */
TG_VECTOR_LOOP static void exp_shifted(double *restrict out, const tg_real *restrict x,
                                       const double *restrict s, int64_t ss, int64_t n)
{
    if (ss == 0) {
        double s0 = s[0];
        for (int64_t i = 0; i < n; i++) out[i] = exp_poly((double)x[i] - s0);
    } else {
        for (int64_t i = 0; i < n; i++) out[i] = exp_poly((double)x[i] - s[i]);
    }
}

/* acc[o] += Σ e^(x − s[o]) over the run, a block of exponentials at a time */
static void expsum_run(RUN_ARGS)
{
    RUN_UNUSED;
    const red_ctx *k = c;
    double e[RUN_BLOCK], total = 0;
    for (int64_t b = 0; b < n; b += RUN_BLOCK) {
        int64_t w = b + RUN_BLOCK < n ? RUN_BLOCK : n - b;
        exp_shifted(e, k->x + ix + b, k->s + iy + b * sy, sy, w);
        if (sy == 0)
            total += sum4(e, w);
        else
            for (int64_t i = 0; i < w; i++) k->acc[iy + b + i] += e[i];
    }
    if (sy == 0) k->acc[iy] += total;
}
GRAD_RUN(lse_grad_run, gv * TG_EXP(xv - yv))

static int logsumexp_forward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    int64_t m = r->out->size;
    double *shift = tg_tape_alloc(r->tape, 2 * (size_t)(m ? m : 1) * sizeof(double));
    if (!shift) return TG_ERR_NOMEM;
    double *acc = shift + m;
    tg_real *y = r->out->data;
    extreme_over(r, y, false, false);
    for (int64_t o = 0; o < m; o++) shift[o] = isinf(y[o]) ? 0 : (double)y[o], acc[o] = 0;
    red_ctx k = {.x = r->in[0]->data, .s = shift, .acc = acc};
    walk(r->in[0], a->mask, expsum_run, &k);
    for (int64_t o = 0; o < m; o++) y[o] = (tg_real)(shift[o] + log(acc[o]));
    return TG_OK;
}

static void logsumexp_backward(tg_record *r)
{
    red_ctx k = {.x = r->in[0]->data, .y = r->out->data, .g = r->out->grad,
                 .dx = r->in[0]->grad};
    walk(r->in[0], ((const reduce_attr *)r->attr)->mask, lse_grad_run, &k);
}

static int logsumexp_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    dx[0] = tg_mul(t, keep(t, r, g), tg_exp(t, tg_sub(t, r->in[0], keep(t, r, r->out))));
    return TG_OK;
}

/* ------------------------------------------------------------ norm */

/* y = ‖x‖_p = (Σ_k |x_k|^p)^(1/p) over the axes (torch.linalg.vector_norm):
   Σ|x| for p = 1, √Σx² for p = 2 (the Frobenius norm over two axes),
   max |x| for p = ∞; sums in double.
   d/dx_k, PyTorch's rules (sgn: −1, 0 or 1, and 0 for NaN):
     p = 1       sgn(x_k)
     p = 2       x_k/y, 0 where y = 0
     p = ∞       sgn(x_k)/c where |x_k| = y or x_k is NaN (c such k), else 0
     p < 1       sgn(x_k)·|x_k|^(p−1)·y^(1−p), 0 where x_k = 0
     other p     sgn(x_k)·|x_k|^(p−1) / y^(p−1), 0 where y = 0 */
SUM_RUN(abssum_run, (double)TG_FABS(xv))
SUM_RUN(sqsum_run, (double)xv * (double)xv)
SUM_RUN(powsum_run, pow(fabs((double)xv), k->p))

static inline double sgn(double v) { return (double)((v > 0) - (v < 0)); }

static void norm_grad_run(RUN_ARGS)
{
    RUN_UNUSED;
    const red_ctx *k = c;
    double p = k->p;
    for (int64_t i = 0; i < n; i++) {
        int64_t o = iy + i * sy;
        double x = (double)k->x[ix + i], y = (double)k->y[o], g = (double)k->g[o], d;
        if (p == 1)
            d = sgn(x) * g;
        else if (p == 2)
            d = y == 0 ? 0 : g * x / y;
        else if (isinf(p))
            d = fabs(x) == y || isnan(x) ? sgn(x) * (g / k->s[o]) : 0;
        else if (p < 1)
            d = (x == 0 ? 0 : sgn(x) * pow(fabs(x), p - 1)) * g * pow(y, 1 - p);
        else
            d = sgn(x) * pow(fabs(x), p - 1) * (y == 0 ? 0 : g / pow(y, p - 1));
        k->dx[ix + i] += (tg_real)d;
    }
}

static int norm_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                      size_t len)
{
    const reduce_attr *a = r->attr;
    if (!(a->p > 0)) { /* NaN too */
        snprintf(msg, len, "the order p must be > 0 or INFINITY, got %g", a->p);
        return TG_ERR_INVALID;
    }
    if (isinf(a->p)) return extreme_shape(r, ndim, shape, msg, len, "inf-norm");
    return reduce_shape(r, ndim, shape, msg, len);
}

static int norm_forward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    int64_t m = r->out->size;
    double *acc = per_output(r, 2); /* the sums; for p = ∞, the backward's counts */
    if (!acc) return TG_ERR_NOMEM;
    if (isinf(a->p)) {
        extreme_over(r, r->out->data, false, true);
        return TG_OK;
    }
    memset(acc, 0, (size_t)m * sizeof(double));
    red_ctx k = {.x = r->in[0]->data, .acc = acc, .p = a->p};
    walk(r->in[0], a->mask, a->p == 1 ? abssum_run : a->p == 2 ? sqsum_run : powsum_run, &k);
    for (int64_t o = 0; o < m; o++)
        r->out->data[o] = (tg_real)(a->p == 1   ? acc[o]
                                    : a->p == 2 ? sqrt(acc[o])
                                                : pow(acc[o], 1 / a->p));
    return TG_OK;
}

static void norm_backward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    double *count = r->saved;
    if (isinf(a->p)) count_ties(r, count, true);
    red_ctx k = {.x = r->in[0]->data, .y = r->out->data, .g = r->out->grad, .s = count,
                 .dx = r->in[0]->grad, .p = a->p};
    walk(r->in[0], a->mask, norm_grad_run, &k);
}

static int norm_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const reduce_attr *a = r->attr;
    double p = a->p;
    tg_tensor *x = r->in[0], *zero = tg_scalar(t, 0), *one = tg_scalar(t, 1);
    tg_tensor *gk = keep(t, r, g), *y = keep(t, r, r->out);
    /* sgn(x), 0 at NaN: a constant */
    tg_tensor *sg = tg_where(t, tg_eq(t, x, x), tg_sign(t, x), zero);
    tg_tensor *y0 = tg_eq(t, y, zero), *ysafe = tg_where(t, y0, one, y);
    if (p == 1) {
        dx[0] = tg_mul(t, gk, sg);
    } else if (p == 2) {
        dx[0] = tg_where(t, y0, zero, tg_div(t, tg_mul(t, gk, x), ysafe));
    } else if (isinf(p)) {
        tg_tensor *mask = tg_add(t, tg_eq(t, tg_abs(t, x), y), tg_ne(t, x, x));
        tg_tensor *count = reduce_over(t, &op_sum, mask, a->mask, true, 0);
        dx[0] = tg_where(t, mask, tg_mul(t, sg, tg_div(t, gk, count)), zero);
    } else if (p < 1) { /* |x|^(p−1) is inf at 0: taken at 1 there, in the branch not taken */
        tg_tensor *x0 = tg_eq(t, x, zero);
        tg_tensor *ax = tg_where(t, x0, one, tg_abs(t, x));
        tg_tensor *scaled = tg_where(t, x0, zero, tg_mul(t, sg, tg_pow(t, ax, (tg_real)(p - 1))));
        dx[0] = tg_mul(t, scaled, tg_mul(t, gk, tg_pow(t, y, (tg_real)(1 - p))));
    } else {
        tg_tensor *scaled = tg_mul(t, sg, tg_pow(t, tg_abs(t, x), (tg_real)(p - 1)));
        tg_tensor *scale = tg_where(t, y0, zero, tg_div(t, gk, tg_pow(t, ysafe, (tg_real)(p - 1))));
        dx[0] = tg_mul(t, scaled, scale);
    }
    return TG_OK;
}

/* ------------------------------------------------------------ cumsum, cumprod */

typedef struct {
    int axis;     /* normalised; 0 for a 0-d tensor */
    bool reverse; /* cumsum: from the end (Σ_{j ≥ k}): its own adjoint's direction */
} cum_attr;

static reduce_view cum_view(const tg_tensor *x, int axis)
{
    reduce_view v = {1, 1, 1};
    for (int i = 0; i < x->ndim; i++) {
        int64_t *d = i < axis ? &v.outer : i == axis ? &v.n : &v.inner;
        *d *= x->shape[i];
    }
    return v;
}

static int cum_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    const cum_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    if (a->axis < 0 || a->axis >= (x->ndim ? x->ndim : 1)) {
        char b[128];
        snprintf(msg, len, "axis %d is out of range for shape %s", a->axis,
                 tg_shape_str(x, b, sizeof b));
        return TG_ERR_INVALID;
    }
    return tg_shape_same(r, ndim, shape, msg, len);
}

#define CUM_COLS 256 /* columns of a [n, inner] slice walked at once */

/* dst[o,k,i] = Σ_{j ≤ k} src[o,j,i] (Σ_{j ≥ k} with reverse), in double,
   row after row over blocks of columns; with `add`, dst += instead */
static void cum_sum(tg_real *dst, const tg_real *src, reduce_view v, bool reverse, bool add)
{
    double acc[CUM_COLS];
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t c0 = 0; c0 < v.inner; c0 += CUM_COLS) {
            int64_t w = c0 + CUM_COLS < v.inner ? CUM_COLS : v.inner - c0;
            for (int64_t i = 0; i < w; i++) acc[i] = 0;
            for (int64_t step = 0; step < v.n; step++) {
                int64_t kk = reverse ? v.n - 1 - step : step;
                int64_t at = (o * v.n + kk) * v.inner + c0;
                for (int64_t i = 0; i < w; i++) {
                    acc[i] += (double)src[at + i];
                    dst[at + i] = add ? dst[at + i] + (tg_real)acc[i] : (tg_real)acc[i];
                }
            }
        }
}

/* y_k = Σ_{j ≤ k} x_j      dx_k += Σ_{j ≥ k} g_j: the cumulative sum from the
   other end (and the reverse one's adjoint is the forward one) */
static int cumsum_forward(tg_record *r)
{
    const cum_attr *a = r->attr;
    cum_sum(r->out->data, r->in[0]->data, cum_view(r->in[0], a->axis), a->reverse, false);
    return TG_OK;
}

static void cumsum_backward(tg_record *r)
{
    const cum_attr *a = r->attr;
    cum_sum(r->in[0]->grad, r->out->grad, cum_view(r->in[0], a->axis), !a->reverse, true);
}

static tg_tensor *cumsum_dir(tg_tape *t, tg_tensor *x, int axis, bool reverse)
{
    cum_attr a = {axis, reverse};
    return tg_apply(t, &op_cumsum, &x, 1, &a);
}

static int cumsum_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const cum_attr *a = r->attr;
    dx[0] = cumsum_dir(t, g, a->axis, !a->reverse);
    return TG_OK;
}

/* y_k = Π_{j ≤ k} x_j (in double)
   dx_k += Σ_{j ≥ k} g_j·Π_{i ≤ j, i ≠ k} x_i, which with z the first zero of
   the slice (PyTorch's O(n) rule) is
     k < z:  (Σ_{k ≤ j < z} g_j·y_j) / x_k
     k = z:  Σ_{z ≤ j < z'} g_j·y_{z−1}·Π_{z < i ≤ j} x_i   (z' the second zero)
     k > z:  0 */
static int cumprod_forward(tg_record *r)
{
    const cum_attr *a = r->attr;
    reduce_view v = cum_view(r->in[0], a->axis);
    double acc[CUM_COLS];
    const tg_real *x = r->in[0]->data;
    tg_real *y = r->out->data;
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t c0 = 0; c0 < v.inner; c0 += CUM_COLS) {
            int64_t w = c0 + CUM_COLS < v.inner ? CUM_COLS : v.inner - c0;
            for (int64_t i = 0; i < w; i++) acc[i] = 1;
            for (int64_t kk = 0; kk < v.n; kk++) {
                int64_t at = (o * v.n + kk) * v.inner + c0;
                for (int64_t i = 0; i < w; i++) y[at + i] = (tg_real)(acc[i] *= (double)x[at + i]);
            }
        }
    return TG_OK;
}

static void cumprod_backward(tg_record *r)
{
    const cum_attr *a = r->attr;
    reduce_view v = cum_view(r->in[0], a->axis);
    int64_t s = v.inner, n = v.n;
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t at = o * n * s + i; /* the slice, stride s */
            const tg_real *x = r->in[0]->data + at, *y = r->out->data + at, *g = r->out->grad + at;
            tg_real *dx = r->in[0]->grad + at;
            int64_t z = 0;
            while (z < n && x[z * s] != 0) z++;
            double acc = 0;
            for (int64_t kk = z - 1; kk >= 0; kk--) {
                acc += (double)g[kk * s] * (double)y[kk * s];
                dx[kk * s] += (tg_real)(acc / (double)x[kk * s]);
            }
            if (z == n) continue;
            double p = z > 0 ? (double)y[(z - 1) * s] : 1;
            acc = (double)g[z * s] * p;
            for (int64_t j = z + 1; j < n && x[j * s] != 0; j++) {
                p *= (double)x[j * s];
                acc += (double)g[j * s] * p;
            }
            dx[z * s] += (tg_real)acc;
        }
}

/* Without a zero in x: dx = reverse-cumsum(g·y)/x (PyTorch's rule then).
   With zeros: dx_k = Σ_j [j ≥ k]·g_j·C[k, j] with C = cumprod of the rows
   that leave x_k out (leave_one_out), as PyTorch's double backward does. */
static int cumprod_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const cum_attr *a = r->attr;
    tg_tensor *x = r->in[0];
    if (!has_zero(x)) {
        dx[0] = tg_div(t, cumsum_dir(t, tg_mul(t, g, r->out), a->axis, true), x);
        return TG_OK;
    }
    int axis;
    unsigned mask = x->ndim ? 1u << a->axis : 0;
    tg_tensor *rows = to_rows(t, x, mask, &axis), *grows = to_rows(t, g, mask, &axis);
    if (!rows || !grows) return TG_ERR_INVALID;
    int64_t B = rows->shape[0], n = rows->shape[1];
    cum_attr last = {2, false};
    tg_tensor *lo = leave_one_out(t, rows);
    tg_tensor *C = tg_apply(t, r->op, &lo, 1, &last); /* [B, k, j] */
    tg_tensor *terms = tg_mul(t, C, tg_reshape(t, grows, TG_SHAPE(B, 1, n)));
    tg_tensor *upper = tg_where(t, square_mask(t, n, true), terms, tg_scalar(t, 0));
    dx[0] = from_rows(t, reduce_over(t, &op_sum, upper, 1u << 2, false, 0), x, axis);
    return TG_OK;
}

static const tg_op op_cumsum = {.name = "cumsum", .n_inputs = 1, .attr_size = sizeof(cum_attr),
                                .shape = cum_shape, .forward = cumsum_forward,
                                .backward = cumsum_backward, .vjp = cumsum_vjp,
                                .doc = "cumulative sum along an axis"};
static const tg_op op_cumprod = {.name = "cumprod", .n_inputs = 1,
                                 .attr_size = sizeof(cum_attr), .shape = cum_shape,
                                 .forward = cumprod_forward, .backward = cumprod_backward,
                                 .vjp = cumprod_vjp, .doc = "cumulative product along an axis"};

static tg_tensor *cum_apply(tg_tape *t, const tg_op *op, tg_tensor *x, int axis)
{
    if (!x) return tg_null_input(t, op->name);
    cum_attr a = {0, false};
    if (!(x->ndim == 0 && (axis == 0 || axis == -1)) && !tg_axis(axis, x->ndim, &a.axis)) {
        char b[128];
        tg_tape_set_error(t, "tg_%s: axis %d is out of range for shape %s", op->name, axis,
                          tg_shape_str(x, b, sizeof b));
        return NULL;
    }
    return tg_apply(t, op, &x, 1, &a);
}

tg_tensor *tg_cumsum(tg_tape *t, tg_tensor *x, int axis) { return cum_apply(t, &op_cumsum, x, axis); }
tg_tensor *tg_cumprod(tg_tape *t, tg_tensor *x, int axis) { return cum_apply(t, &op_cumprod, x, axis); }

/* ------------------------------------------------------------ the ops */

#define REDUCE_OP(NAME, SHAPE, DOC)                                                      \
    static const tg_op op_##NAME = {.name = #NAME,                                       \
                                    .n_inputs = 1,                                       \
                                    .attr_size = sizeof(reduce_attr),                    \
                                    .shape = SHAPE,                                      \
                                    .forward = NAME##_forward,                           \
                                    .backward = NAME##_backward,                         \
                                    .vjp = NAME##_vjp,                                   \
                                    .doc = DOC};

REDUCE_OP(sum, reduce_shape, "sum over axes")
REDUCE_OP(mean, reduce_shape, "mean over axes")
REDUCE_OP(max, max_shape, "max over an axis or all")
REDUCE_OP(min, min_shape, "min over an axis or all")
REDUCE_OP(amax, max_shape, "max over axes, ties sharing the gradient")
REDUCE_OP(amin, min_shape, "min over axes, ties sharing the gradient")
REDUCE_OP(prod, reduce_shape, "product over an axis or all")
REDUCE_OP(var, moments_shape, "variance over axes, with a correction")
REDUCE_OP(std, moments_shape, "standard deviation over axes, with a correction")
REDUCE_OP(logsumexp, reduce_shape, "log of the sum of exponentials over axes (stable)")
REDUCE_OP(norm, norm_shape, "p-norm over axes")

/* The public reductions over one axis (or TG_ALL) and over a set of axes;
   p is the op's number (var and std: the correction, norm: the order). */
static tg_tensor *reduce_one(tg_tape *t, const tg_op *op, tg_tensor *x, int axis, bool keepdim,
                             double p)
{
    if (!x) return tg_null_input(t, op->name);
    char fn[64];
    snprintf(fn, sizeof fn, "tg_%s", op->name);
    reduce_attr a = {.keepdim = keepdim, .p = p};
    if (!one_axis(t, fn, x, axis, &a)) return NULL;
    return tg_apply(t, op, &x, 1, &a);
}

static tg_tensor *reduce_set(tg_tape *t, const tg_op *op, tg_tensor *x, int n, const int *axes,
                             bool keepdim, double p)
{
    char fn[64];
    snprintf(fn, sizeof fn, "tg_%s_axes", op->name);
    if (!x) return tg_null_input(t, fn + 3);
    reduce_attr a = {.keepdim = keepdim, .p = p};
    if (!axis_set(t, fn, x, n, axes, &a)) return NULL;
    return tg_apply(t, op, &x, 1, &a);
}

#define REDUCE_ONE(NAME)                                                                 \
    tg_tensor *tg_##NAME(tg_tape *t, tg_tensor *x, int axis, bool keepdim)               \
    {                                                                                    \
        return reduce_one(t, &op_##NAME, x, axis, keepdim, 0);                           \
    }
#define REDUCE_BOTH(NAME)                                                                \
    REDUCE_ONE(NAME)                                                                     \
    tg_tensor *tg_##NAME##_axes(tg_tape *t, tg_tensor *x, int n, const int *axes,        \
                                bool keepdim)                                            \
    {                                                                                    \
        return reduce_set(t, &op_##NAME, x, n, axes, keepdim, 0);                        \
    }

REDUCE_BOTH(sum)
REDUCE_BOTH(mean)
REDUCE_ONE(max)
REDUCE_ONE(min)
REDUCE_BOTH(amax)
REDUCE_BOTH(amin)
REDUCE_ONE(prod)
REDUCE_BOTH(logsumexp)

tg_tensor *tg_var(tg_tape *t, tg_tensor *x, int axis, double correction, bool keepdim)
{
    return reduce_one(t, &op_var, x, axis, keepdim, correction);
}
tg_tensor *tg_var_axes(tg_tape *t, tg_tensor *x, int n, const int *axes, double correction,
                       bool keepdim)
{
    return reduce_set(t, &op_var, x, n, axes, keepdim, correction);
}
tg_tensor *tg_std(tg_tape *t, tg_tensor *x, int axis, double correction, bool keepdim)
{
    return reduce_one(t, &op_std, x, axis, keepdim, correction);
}
tg_tensor *tg_std_axes(tg_tape *t, tg_tensor *x, int n, const int *axes, double correction,
                       bool keepdim)
{
    return reduce_set(t, &op_std, x, n, axes, keepdim, correction);
}
tg_tensor *tg_norm(tg_tape *t, tg_tensor *x, double p, int axis, bool keepdim)
{
    return reduce_one(t, &op_norm, x, axis, keepdim, p);
}
tg_tensor *tg_norm_axes(tg_tape *t, tg_tensor *x, double p, int n, const int *axes, bool keepdim)
{
    return reduce_set(t, &op_norm, x, n, axes, keepdim, p);
}

/* ------------------------------------------------------------ indices */

/* The index of the first extreme along an axis, or in the flattened x for
   TG_ALL (the rule of max and min: NaN first). Not an op: indices carry no
   gradient, and nothing is recorded. */
static tg_index *arg_extreme(tg_tape *t, const char *fn, tg_tensor *x, int axis, bool keepdim,
                             bool min)
{
    if (!t) return NULL;
    if (!x) {
        tg_null_input(t, fn + 3);
        return NULL;
    }
    if (!tg_tensor_usable(t, x)) {
        tg_tape_set_error(t, "%s: input 0 %s", fn, tg_unusable_why(t, x));
        return NULL;
    }
    reduce_attr a = {.keepdim = keepdim};
    if (!one_axis(t, fn, x, axis, &a)) return NULL;
    tg_record r = {.in = {x}, .attr = &a};
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    char msg[256];
    if (extreme_shape(&r, &ndim, shape, msg, sizeof msg, min ? "minimum" : "maximum") != TG_OK) {
        tg_tape_set_error(t, "%s: %s", fn, msg);
        return NULL;
    }
    reduce_view v;
    view_of(x, a.mask, &v);
    int64_t m = v.outer * v.inner;
    int64_t *arg = tg_tape_alloc(t, (size_t)(m ? m : 1) * sizeof(int64_t));
    if (!arg) return NULL;
    extreme_index(x->data, v, min, NULL, arg);
    return tg_index_wrap(t, ndim, shape, arg);
}

tg_index *tg_argmax(tg_tape *t, tg_tensor *x, int axis, bool keepdim)
{
    return arg_extreme(t, "tg_argmax", x, axis, keepdim, false);
}

tg_index *tg_argmin(tg_tape *t, tg_tensor *x, int axis, bool keepdim)
{
    return arg_extreme(t, "tg_argmin", x, axis, keepdim, true);
}

/* The values (an op, with the gradient to the first extreme) and their
   indices (arg_extreme: the same rule). */
static tg_tensor *extreme_dim(tg_tape *t, const char *fn, const tg_op *op, tg_tensor *x,
                              int axis, bool keepdim, tg_index **indices, bool min)
{
    if (indices) *indices = NULL;
    if (!x) return tg_null_input(t, fn + 3);
    if (axis == TG_ALL) {
        tg_tape_set_error(t, "%s: takes an axis, not TG_ALL (for every element: tg_%s and "
                             "tg_arg%s)", fn, op->name, op->name);
        return NULL;
    }
    reduce_attr a = {.keepdim = keepdim};
    if (!one_axis(t, fn, x, axis, &a)) return NULL;
    tg_tensor *y = tg_apply(t, op, &x, 1, &a);
    tg_index *idx = y && indices ? arg_extreme(t, fn, x, axis, keepdim, min) : NULL;
    if (y && indices && !idx) return NULL;
    if (indices) *indices = idx;
    return y;
}

tg_tensor *tg_max_dim(tg_tape *t, tg_tensor *x, int axis, bool keepdim, tg_index **indices)
{
    return extreme_dim(t, "tg_max_dim", &op_max, x, axis, keepdim, indices, false);
}

tg_tensor *tg_min_dim(tg_tape *t, tg_tensor *x, int axis, bool keepdim, tg_index **indices)
{
    return extreme_dim(t, "tg_min_dim", &op_min, x, axis, keepdim, indices, true);
}

static const tg_op *const reduce_ops[] = {
    &op_sum,  &op_mean, &op_max,       &op_min,       &op_max_mask, &op_amax,
    &op_amin, &op_prod, &op_var,       &op_std,       &op_logsumexp, &op_norm,
    &op_cumsum, &op_cumprod};
const tg_op_table tg_reduce_ops = {reduce_ops, sizeof reduce_ops / sizeof *reduce_ops};
