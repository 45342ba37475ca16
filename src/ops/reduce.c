/* Reductions: sum and mean (over sets of axes), max and min (with their
   indices), argmax, argmin, amax and amin; and what every reduction shares:
   the axes, the view and the walk through the data, the run functions'
   helpers, and the table of the reductions' ops. The others are in
   src/ops/stats.c (var, std, logsumexp, norm) and src/ops/cumulative.c
   (prod, cumsum, cumprod); src/ops/reduce_internal.h says how the data is
   walked.

   Accuracy: every sum runs in double (src/ops/sum.c's, or the accumulators
   of the walk), so a float result is the correctly rounded value of its
   formula but for the rarest cases. */
#include "ops/reduce_internal.h"

/* op on x over the axes in mask (the attributes the public functions make) */
tg_tensor *tg_reduce_over(tg_tape *t, const tg_op *op, tg_tensor *x, unsigned mask, bool keepdim,
                          double p)
{
    reduce_attr a = {.mask = mask, .keepdim = keepdim, .p = p};
    return tg_apply(t, op, &x, 1, &a);
}

/* ------------------------------------------------------------ the axes */

/* The attributes for one axis or TG_ALL; a 0-d tensor takes axis 0 and -1,
   as in PyTorch (its one element). false, and the tape error naming pre fn
   (the name put together only then: this runs for every reduction),
   when the axis is out of range. */
static bool one_axis(tg_tape *t, const char *pre, const char *fn, const tg_tensor *x, int axis,
                     reduce_attr *a)
{
    if (axis == TG_ALL || (x->ndim == 0 && (axis == 0 || axis == -1))) {
        a->mask = tg_all_axes(x->ndim);
        a->all = true;
        return true;
    }
    int k;
    if (!tg_axis(axis, x->ndim, &k)) {
        char b[128];
        tg_tape_set_error(t, "%s%s: axis %d is out of range for shape %s", pre, fn, axis,
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
    a->mask &= tg_all_axes(x->ndim);
    return true;
}

int tg_reduce_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
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
int tg_reduce_extreme_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                            size_t len, const char *what)
{
    const reduce_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    if (tg_reduced_count(x, a->mask & tg_all_axes(x->ndim)) == 0) {
        char b[128];
        snprintf(msg, len, "the %s of an empty axis is undefined (shape %s)", what,
                 tg_shape_str(x, b, sizeof b));
        return TG_ERR_SHAPE;
    }
    return tg_reduce_shape(r, ndim, shape, msg, len);
}

static int max_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    return tg_reduce_extreme_shape(r, ndim, shape, msg, len, "maximum");
}

static int min_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    return tg_reduce_extreme_shape(r, ndim, shape, msg, len, "minimum");
}

/* ------------------------------------------------------------ geometry */

/* x as [outer, n, inner], output (o, i) reducing x[o, 0..n, i]: possible
   when the reduced axes of size other than 1 are neighbours. false if not. */
bool tg_reduce_view(const tg_tensor *x, unsigned mask, reduce_view *v)
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
    /* no output (inner = 0): no outer row either, so that the loops over
       them stop at once (2^42 rows of nothing took hours: found by
       fuzzing) */
    if (v->inner == 0) v->outer = 0;
    return true;
}

/* The walk over x run by run (its last axis), each run with its output: a
   broadcast of the output (its reduced axes kept as 1) against x. */
void tg_reduce_walk(const tg_tensor *x, unsigned mask, tg_bcast_fn fn, void *ctx)
{
    tg_tensor y = {.ndim = x->ndim};
    tg_keep_shape(x, mask, y.shape);
    tg_bcast bc;
    tg_bcast_init(&bc, &y, &y, x);
    tg_bcast_each(&bc, fn, ctx);
}

/* Doubles for k values per output, from the tape (the forward saves what
   its backward needs: the backward cannot fail). */
double *tg_reduce_save(tg_record *r, int k)
{
    size_t n = (size_t)(r->out->size ? r->out->size : 1);
    return tg_record_save(r, (size_t)k * n * sizeof(double));
}

/* g (the output's shape) reshaped with the reduced axes kept as 1, so that
   it broadcasts against x; and broadcast to x's shape. */
tg_tensor *tg_reduce_keep(tg_tape *t, const tg_record *r, tg_tensor *g)
{
    const reduce_attr *a = r->attr;
    int64_t shape[TG_MAX_DIMS];
    tg_keep_shape(r->in[0], a->mask, shape);
    return tg_reshape(t, g, r->in[0]->ndim, shape);
}

static tg_tensor *spread(tg_tape *t, const tg_record *r, tg_tensor *g)
{
    return tg_expand(t, tg_reduce_keep(t, r, g), r->in[0]->ndim, r->in[0]->shape);
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
    if (tg_reduce_view(in, a->mask, &v)) {
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
    tg_reduce_walk(in, a->mask, sum_run, &k);
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
    if (!tg_reduce_view(r->in[0], a->mask, &v)) {
        red_ctx k = {.x = r->in[0]->data, .y = r->out->data, .g = g, .dx = dx, .p = scale};
        tg_reduce_walk(r->in[0], a->mask, spread_run, &k);
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
    int64_t n = tg_reduced_count(r->in[0], ((const reduce_attr *)r->attr)->mask);
    return sum_scaled(r, n ? 1.0 / (double)n : NAN);
}

static void mean_backward(tg_record *r)
{
    int64_t n = tg_reduced_count(r->in[0], ((const reduce_attr *)r->attr)->mask);
    if (n) spread_backward(r, (tg_real)(1.0 / (double)n));
}

static int mean_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    int64_t n = tg_reduced_count(r->in[0], ((const reduce_attr *)r->attr)->mask);
    dx[0] = n ? tg_scale(t, spread(t, r, g), (tg_real)(1.0 / (double)n))
              : tg_zeros(t, r->in[0]->ndim, r->in[0]->shape);
    return TG_OK;
}

/* ------------------------------------------------------------ max, min */

/* The extremes along an axis and their indices (defined below, after the
   vector loops it uses). The rule of max and min: v beats the best so far m
   when it is larger (smaller for min) or NaN, which PyTorch's max and min
   propagate: the first NaN wins, and of equal values the first. */
static void extreme_index(const tg_real *x, reduce_view v, bool min, tg_real *vals, int64_t *arg);

/* y = max_k x_k (min_k for min); over an axis the gradient goes to the
   first extreme (its index is saved), over every element ties share it
   equally (torch.max(x)). NaN counts as the extreme, as in PyTorch. */
static int extreme_forward(tg_record *r, bool min)
{
    const reduce_attr *a = r->attr;
    reduce_view v;
    tg_reduce_view(r->in[0], a->mask, &v); /* one axis or all: always a view */
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
    tg_reduce_view(in, a->mask, &v);
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
    tg_reduce_view(in, a->mask, &v);
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

/* The extreme of m0 and xs[0..n) (of |x| with abs), NaN if there is one
   (PyTorch's amax and amin propagate it): sixteen running extremes
   (independent chains, a vector's worth) with NaN noted apart, which wins
   at the end. min and abs are constants where it is inlined, so that each
   case is a loop of its own that vectorises. */
enum { EXTREME_LANES = 16 };
static inline tg_real extreme_lanes(const tg_real *xs, int64_t n, tg_real m0, bool min, bool abs)
{
    tg_real m[EXTREME_LANES];
    int nan[EXTREME_LANES];
    for (int j = 0; j < EXTREME_LANES; j++) m[j] = m0, nan[j] = 0;
    nan[0] = isnan(m0);
    int64_t i = 0;
    for (; i + EXTREME_LANES <= n; i += EXTREME_LANES)
        for (int j = 0; j < EXTREME_LANES; j++) {
            tg_real v = abs ? TG_FABS(xs[i + j]) : xs[i + j];
            m[j] = (min ? v < m[j] : v > m[j]) ? v : m[j];
            nan[j] |= v != v;
        }
    for (; i < n; i++) {
        tg_real v = abs ? TG_FABS(xs[i]) : xs[i];
        m[0] = (min ? v < m[0] : v > m[0]) ? v : m[0];
        nan[0] |= v != v;
    }
    int any = 0;
    for (int j = 0; j < EXTREME_LANES; j++) {
        m[0] = (min ? m[j] < m[0] : m[j] > m[0]) ? m[j] : m[0];
        any |= nan[j];
    }
    return any ? (tg_real)NAN : m[0];
}

TG_VECTOR_LOOP static tg_real extreme_of(const tg_real *xs, int64_t n, tg_real m0, bool min,
                                         bool abs)
{
    if (min)
        return abs ? extreme_lanes(xs, n, m0, true, true) : extreme_lanes(xs, n, m0, true, false);
    return abs ? extreme_lanes(xs, n, m0, false, true) : extreme_lanes(xs, n, m0, false, false);
}

tg_real tg_extreme_of(const tg_real *x, int64_t n, bool min)
{
    return extreme_of(x, n, min ? (tg_real)INFINITY : (tg_real)-INFINITY, min, false);
}

/* The index of the first element of xs[0..n) that is m (that is NaN, if m
   is NaN), m one of them: a count of the hits in each block of 64, a loop
   that vectorises (an "or" over blocks of 16 did not: the minimum over
   [2048, 2048], found near the end, took 1.7 times a plain sum's time),
   then the one block that holds it element by element. */
TG_VECTOR_LOOP static int64_t first_of(const tg_real *xs, int64_t n, tg_real m)
{
    bool nan = m != m;
    int64_t b = 0;
    for (; b + 64 <= n; b += 64) {
        int hits = 0;
        if (nan)
            for (int j = 0; j < 64; j++) hits += xs[b + j] != xs[b + j];
        else
            for (int j = 0; j < 64; j++) hits += xs[b + j] == m;
        if (hits) break;
    }
    for (; b < n; b++)
        if (nan ? xs[b] != xs[b] : xs[b] == m) return b;
    return 0;
}

/* Row kk of a block of columns into the running extremes m and their
   indices a: the rule above, without a branch, so that the loop vectorises. */
TG_VECTOR_LOOP static void extreme_row(tg_real *restrict m, int32_t *restrict a,
                                       const tg_real *restrict xs, int64_t w, int32_t kk, bool min)
{
    for (int64_t i = 0; i < w; i++) {
        tg_real v = xs[i];
        bool take = (m[i] == m[i]) & ((v != v) | (min ? v < m[i] : v > m[i]));
        int32_t mk = -(int32_t)take; /* a blend, not a masked store (slow on AMD's cores) */
        m[i] = take ? v : m[i];
        a[i] = (a[i] & ~mk) | (kk & mk);
    }
}

/* Rows kk and kk + 1 (xs and xs + stride) as two calls of extreme_row
   would take them, with the running extremes and indices read and written
   once for both (a row at a time took 2.6 times a plain sum's time along
   axis 0 on an Intel Xeon): the pair's own winner first (row kk + 1 only
   if it is NaN or strictly beyond row kk's value, which is not NaN), then
   the rule against the running one; the same winner, as "the first of the
   extremes, NaN first" does not depend on the grouping. */
TG_VECTOR_LOOP static void extreme_rows2(tg_real *restrict m, int32_t *restrict a,
                                         const tg_real *restrict xs, int64_t stride, int64_t w,
                                         int32_t kk, bool min)
{
    const tg_real *x1 = xs + stride;
    for (int64_t i = 0; i < w; i++) {
        tg_real mv = m[i], v0 = xs[i], v1 = x1[i];
        bool second = (v0 == v0) & ((v1 != v1) | (min ? v1 < v0 : v1 > v0));
        tg_real pv = second ? v1 : v0;
        int32_t pk = kk + (int32_t)second;
        bool take = (mv == mv) & ((pv != pv) | (min ? pv < mv : pv > mv));
        int32_t mk = -(int32_t)take;
        m[i] = take ? pv : mv;
        a[i] = (a[i] & ~mk) | (pk & mk);
    }
}

/* For every output (o, i) of the view, the extreme of x[o, 0..n, i] and the
   index k of its first occurrence (vals or arg may be NULL): the rule above,
   NaN first. A contiguous run (inner 1) takes the vector extreme and then
   looks for its first occurrence, whose value is returned (of −0 and +0,
   the first); columns go a block at a time down the rows, each row's block
   read in order (a walk down each column in turn took 20 times a plain
   sum's time over [2048, 2048]). */
enum { EXTREME_COLS = 2048 };
static void extreme_index(const tg_real *x, reduce_view v, bool min, tg_real *vals, int64_t *arg)
{
    for (int64_t o = 0; o < v.outer; o++) {
        const tg_real *xo = x + o * v.n * v.inner;
        if (v.inner == 1) {
            tg_real m = extreme_of(xo, v.n, xo[0], min, false);
            int64_t k = first_of(xo, v.n, m);
            if (vals) vals[o] = xo[k];
            if (arg) arg[o] = k;
            continue;
        }
        for (int64_t c = 0; c < v.inner; c += EXTREME_COLS) {
            int64_t w = v.inner - c < EXTREME_COLS ? v.inner - c : EXTREME_COLS;
            tg_real m[EXTREME_COLS];
            int32_t a[EXTREME_COLS]; /* the row within a stretch of at most 2³¹ − 1 rows */
            int64_t *ao = arg ? arg + o * v.inner + c : NULL;
            for (int64_t i = 0; i < w; i++) m[i] = xo[c + i], a[i] = 0;
            if (ao)
                for (int64_t i = 0; i < w; i++) ao[i] = 0;
            for (int64_t k0 = 0; k0 < v.n; k0 += INT32_MAX) {
                int64_t rows = v.n - k0 < INT32_MAX ? v.n - k0 : INT32_MAX;
                int32_t kk = k0 == 0;
                for (; (int64_t)kk + 1 < rows; kk += 2) /* kk may reach INT32_MAX */
                    extreme_rows2(m, a, xo + (k0 + kk) * v.inner + c, v.inner, w, kk, min);
                if (kk < rows) extreme_row(m, a, xo + (k0 + kk) * v.inner + c, w, kk, min);
                if (ao) /* the stretch's winners, where it found one */
                    for (int64_t i = 0; i < w; i++)
                        if (k0 == 0 || a[i] >= 0) ao[i] = k0 + a[i];
                for (int64_t i = 0; i < w; i++) a[i] = -1;
            }
            if (vals) memcpy(vals + o * v.inner + c, m, (size_t)w * sizeof(tg_real));
        }
    }
}

/* o[i] = the extreme of o[i] and x[i] (of |x[i]| with abs), NaN winning:
   the rule of max and min, without a branch, so that the loop vectorises */
TG_VECTOR_LOOP static void extreme_into(tg_real *restrict o, const tg_real *restrict xs, int64_t n,
                                        bool min, bool abs)
{
    for (int64_t i = 0; i < n; i++) {
        tg_real v = abs ? TG_FABS(xs[i]) : xs[i];
        bool take = (min ? v < o[i] : v > o[i]) || v != v;
        o[i] = take && o[i] == o[i] ? v : o[i];
    }
}

/* out[o] = the extreme of the run's elements and out[o] (of |x| with
   k->abs), NaN winning */
static void extreme_run(RUN_ARGS)
{
    RUN_UNUSED;
    const red_ctx *k = c;
    const tg_real *xs = k->x + ix;
    bool min = k->min, abs = k->abs;
    if (sy == 0) {
        k->out[iy] = extreme_of(xs, n, k->out[iy], min, abs);
        return;
    }
    extreme_into(k->out + iy, xs, n, min, abs);
}

/* out = the extreme of x (of |x| with abs) over the reduced axes */
void tg_reduce_extreme_over(const tg_record *r, tg_real *out, bool min, bool abs)
{
    const reduce_attr *a = r->attr;
    for (int64_t o = 0; o < r->out->size; o++) out[o] = min ? (tg_real)INFINITY : (tg_real)-INFINITY;
    red_ctx k = {.x = r->in[0]->data, .out = out, .min = min, .abs = abs};
    tg_reduce_walk(r->in[0], a->mask, extreme_run, &k);
}

/* acc[o] += the number of the output's elements equal to it (of |x| with
   abs, and NaN counting there: the inf-norm's rule) */
SUM_RUN(tie_run, (double)((k->abs ? TG_FABS(xv) : xv) == (tg_real)sv ||
                          (k->abs && isnan(xv))))

/* the number of ties of each output with it, into acc (zeroed here) */
void tg_reduce_count_ties(const tg_record *r, double *acc, bool abs)
{
    const reduce_attr *a = r->attr;
    double *s = acc + r->out->size; /* the outputs, as doubles */
    for (int64_t o = 0; o < r->out->size; o++) acc[o] = 0, s[o] = (double)r->out->data[o];
    red_ctx k = {.x = r->in[0]->data, .s = s, .acc = acc, .abs = abs};
    tg_reduce_walk(r->in[0], a->mask, tie_run, &k);
}

/* amax(x) = max over the axes, ties sharing the gradient equally, as
   torch.amax: with c the number of elements equal to y,
   dx_k += g/c where x_k = y, else 0 (NaN where y is NaN: c = 0, as PyTorch's
   (g/c)·mask gives) */
GRAD_RUN(share_run, xv == yv ? gv / sv : sv == 0 ? NAN : 0)

static int amax_forward(tg_record *r)
{
    if (!tg_reduce_save(r, 2)) return TG_ERR_NOMEM; /* the tie counts, for backward */
    tg_reduce_extreme_over(r, r->out->data, false, false);
    return TG_OK;
}

static void amax_backward(tg_record *r)
{
    double *count = r->saved;
    tg_reduce_count_ties(r, count, false);
    red_ctx k = {.x = r->in[0]->data, .y = r->out->data, .g = r->out->grad, .s = count,
                 .dx = r->in[0]->grad};
    tg_reduce_walk(r->in[0], ((const reduce_attr *)r->attr)->mask, share_run, &k);
}

/* mask and count are constants: dx = where(x = y, g/c, 0/c), the 0/c being
   NaN where c = 0 as in the backward */
static int amax_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const reduce_attr *a = r->attr;
    tg_tensor *x = r->in[0], *zero = tg_scalar(t, 0);
    tg_tensor *mask = tg_eq(t, x, tg_reduce_keep(t, r, r->out));
    tg_tensor *count = tg_reduce_over(t, &tg_sum_op, mask, a->mask, true, 0);
    dx[0] = tg_where(t, mask, tg_div(t, tg_reduce_keep(t, r, g), count), tg_div(t, zero, count));
    return TG_OK;
}

static int amin_forward(tg_record *r)
{
    if (!tg_reduce_save(r, 2)) return TG_ERR_NOMEM;
    tg_reduce_extreme_over(r, r->out->data, true, false);
    return TG_OK;
}

static void amin_backward(tg_record *r) { amax_backward(r); }
static int amin_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    return amax_vjp(t, r, g, dx);
}

/* ------------------------------------------------------------ the ops */

REDUCE_OP(sum, tg_reduce_shape, "sum over axes")
REDUCE_OP(mean, tg_reduce_shape, "mean over axes")
REDUCE_OP(max, max_shape, "max over an axis or all")
REDUCE_OP(min, min_shape, "min over an axis or all")
REDUCE_OP(amax, max_shape, "max over axes, ties sharing the gradient")
REDUCE_OP(amin, min_shape, "min over axes, ties sharing the gradient")

/* The public reductions over one axis (or TG_ALL) and over a set of axes;
   p is the op's number (var and std: the correction, norm: the order). */
tg_tensor *tg_reduce_one(tg_tape *t, const tg_op *op, tg_tensor *x, int axis, bool keepdim,
                         double p)
{
    if (!x) return tg_null_input(t, op->name);
    reduce_attr a = {.keepdim = keepdim, .p = p};
    if (!one_axis(t, "tg_", op->name, x, axis, &a)) return NULL;
    return tg_apply(t, op, &x, 1, &a);
}

tg_tensor *tg_reduce_set(tg_tape *t, const tg_op *op, tg_tensor *x, int n, const int *axes,
                         bool keepdim, double p)
{
    char fn[64];
    snprintf(fn, sizeof fn, "tg_%s_axes", op->name);
    if (!x) return tg_null_input(t, fn + 3);
    reduce_attr a = {.keepdim = keepdim, .p = p};
    if (!axis_set(t, fn, x, n, axes, &a)) return NULL;
    return tg_apply(t, op, &x, 1, &a);
}

REDUCE_BOTH(sum)
REDUCE_BOTH(mean)
REDUCE_ONE(max)
REDUCE_ONE(min)
REDUCE_BOTH(amax)
REDUCE_BOTH(amin)

/* ------------------------------------------------------------ indices */

/* The index of the first extreme along an axis, or in the flattened x for
   TG_ALL (the rule of max and min: NaN first). Not an op: indices carry no
   gradient, and nothing is recorded. */
static tg_index *arg_extreme(tg_tape *t, const char *fn, tg_tensor *x, int axis, bool keepdim,
                             bool min)
{
    if (!t) return tg_no_tape(fn);
    if (!x) {
        tg_null_input(t, fn + 3);
        return NULL;
    }
    if (!tg_tensor_usable(t, x)) {
        tg_tape_set_error(t, "%s: input 0 %s", fn, tg_unusable_why(t, x));
        return NULL;
    }
    reduce_attr a = {.keepdim = keepdim};
    if (!one_axis(t, "", fn, x, axis, &a)) return NULL;
    tg_record r = {.in = {x}, .attr = &a};
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    char msg[256];
    if (tg_reduce_extreme_shape(&r, &ndim, shape, msg, sizeof msg, min ? "minimum" : "maximum") != TG_OK) {
        tg_tape_set_error(t, "%s: %s", fn, msg);
        return NULL;
    }
    reduce_view v;
    tg_reduce_view(x, a.mask, &v);
    int64_t m = v.outer * v.inner;
    int64_t *arg = tg_tape_alloc_named(t, fn, (size_t)(m ? m : 1) * sizeof(int64_t));
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
    if (!one_axis(t, "", fn, x, axis, &a)) return NULL;
    if (indices && tg_tensor_usable(t, x) && !tg_tape_anomaly(t) &&
        !(tg_tape_is_recording(t) && ((x->flags & TG_REQUIRES_GRAD) || tg_tape_replayable(t)))) {
        /* Not to be recorded: the indices in one pass, and the values read at
           them (the forward's own values, bit for bit), rather than two. */
        tg_index *idx = arg_extreme(t, fn, x, axis, keepdim, min);
        tg_tensor *y = idx ? tg_zeros(t, idx->ndim, idx->shape) : NULL;
        if (!y) return NULL;
        reduce_view v;
        tg_reduce_view(x, a.mask, &v);
        for (int64_t o = 0; o < v.outer; o++)
            for (int64_t i = 0; i < v.inner; i++)
                y->data[o * v.inner + i] = x->data[(o * v.n + idx->data[o * v.inner + i]) * v.inner + i];
        *indices = idx;
        return y;
    }
    tg_tensor *y = tg_apply(t, op, &x, 1, &a);
    tg_index *idx = NULL;
    const tg_record *rec = y && indices && y->rec >= 0 ? tg_tape_record(t, (size_t)y->rec) : NULL;
    if (rec && rec->out == y && rec->op == op && rec->saved) { /* the forward's own indices */
        int64_t *arg =
            tg_tape_alloc_named(t, fn, (size_t)(y->size ? y->size : 1) * sizeof(int64_t));
        if (!arg) return NULL;
        memcpy(arg, rec->saved, (size_t)y->size * sizeof(int64_t));
        idx = tg_index_wrap(t, y->ndim, y->shape, arg);
    } else if (y && indices) { /* not recorded: found again */
        idx = arg_extreme(t, fn, x, axis, keepdim, min);
    }
    if (y && indices && !idx) return NULL;
    if (indices) *indices = idx;
    return y;
}

tg_tensor *tg_max_dim(tg_tape *t, tg_tensor *x, int axis, bool keepdim, tg_index **indices)
{
    return extreme_dim(t, "tg_max_dim", &tg_max_op, x, axis, keepdim, indices, false);
}

tg_tensor *tg_min_dim(tg_tape *t, tg_tensor *x, int axis, bool keepdim, tg_index **indices)
{
    return extreme_dim(t, "tg_min_dim", &tg_min_op, x, axis, keepdim, indices, true);
}

/* Every reduction's op, this file's and those of stats.c and cumulative.c. */
static const tg_op *const reduce_ops[] = {
    &tg_sum_op,  &tg_mean_op, &tg_max_op,       &tg_min_op, &op_max_mask,
    &tg_amax_op, &tg_amin_op, &tg_prod_op,      &tg_var_op, &tg_std_op,
    &tg_logsumexp_op, &tg_norm_op, &tg_cumsum_op, &tg_cumprod_op};
const tg_op_table tg_reduce_ops = {reduce_ops, sizeof reduce_ops / sizeof *reduce_ops};

/* The compact forms (tg_small_compile): sum and mean over every element, the
   same sum and spread as sum_scaled and spread_backward take for them. */
static void sum_all_sfwd(const tg_small *s)
{
    s->y[0] = (tg_real)(s->scale * tg_sum_strided(s->x[0], s->m, 1));
}
static void sum_all_sbwd(const tg_small *s)
{
    tg_real scale = (tg_real)s->scale, *dx = tg_small_gx(s)[0];
    for (int64_t k = 0; k < s->m; k++) dx[k] += scale * s->gy[0];
}

bool tg_reduce_small(const tg_record *r, tg_small *s)
{
    if (r->op != &tg_sum_op && r->op != &tg_mean_op) return false;
    int64_t n = r->in[0]->size;
    if (r->out->size != 1 || n < 1 || n > INT32_MAX) return false;
    s->fwd = sum_all_sfwd, s->bwd = sum_all_sbwd;
    s->m = (int32_t)n;
    s->scale = r->op == &tg_sum_op ? 1.0 : 1.0 / (double)n;
    return true;
}
