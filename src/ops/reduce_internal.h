/* What the reductions share (src/ops/reduce.c, stats.c, cumulative.c): the
   attributes, the two ways through the data, the run functions' context
   and macros, and the ops they call one another through. Not installed.

   The axes. A reduction takes one axis or TG_ALL (tg_X), or a set of axes
   (tg_X_axes); inside, the reduced axes are a mask, bit i for axis i.

   Two ways through the data. When the reduced axes lie next to each other
   in memory (one axis, all of them, or neighbours; axes of size 1 do not
   count), x is viewed as [outer, n, inner] and output (o, i) reduces
   x[o, 0..n, i] (tg_reduce_view). Otherwise, and for the reductions written
   as run functions always, x is walked run by run along its last axis, each
   run paired with its output element (tg_reduce_walk: a broadcast of the
   output, its reduced axes kept as 1, against x), and every sum goes into a
   double per output. */
#ifndef TG_REDUCE_INTERNAL_H
#define TG_REDUCE_INTERNAL_H

#include "ops/ops_internal.h"

typedef struct {
    unsigned mask; /* the reduced axes: bit i for axis i (all of them for TG_ALL) */
    bool keepdim;  /* keep the reduced axes, with size 1 */
    bool all;      /* TG_ALL was asked for: tg_max and tg_min share ties then */
    bool min;      /* max_mask: where min's gradient goes, not max's */
    double p;      /* var and std: the correction; norm: its order */
} reduce_attr;

static inline unsigned tg_all_axes(int ndim) { return (1u << ndim) - 1u; }

/* x's shape with the reduced axes set to 1 (the output's with keepdim). */
static inline void tg_keep_shape(const tg_tensor *x, unsigned mask, int64_t *shape)
{
    for (int i = 0; i < x->ndim; i++) shape[i] = mask >> i & 1u ? 1 : x->shape[i];
}

/* How many elements each output reduces. */
static inline int64_t tg_reduced_count(const tg_tensor *x, unsigned mask)
{
    int64_t n = 1;
    for (int i = 0; i < x->ndim; i++)
        if (mask >> i & 1u) n *= x->shape[i];
    return n;
}

/* Shape functions: the output's shape; and the same refusing an empty
   reduction, whose extreme (`what`: "maximum", ...) is undefined. */
int tg_reduce_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                    size_t len);
int tg_reduce_extreme_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                            size_t len, const char *what);

typedef struct {
    int64_t outer, n, inner;
} reduce_view;

/* x as [outer, n, inner] for the reduced axes in mask; false when they are
   not neighbours. */
bool tg_reduce_view(const tg_tensor *x, unsigned mask, reduce_view *v);

/* x as [outer, n, inner] around one axis (normalised; a 0-d x is
   [1, 1, 1]), for the ops that walk rows along an axis: softmax and its
   family, the scans, select and the index ops. No outer row when each
   holds nothing: [2^40, 4, 0] and [2^40, 0, 4] have none to visit, so the
   loops over them stop at once (n stays the axis's length, which indices
   are checked against). */
static inline reduce_view tg_axis_view(const tg_tensor *x, int axis)
{
    reduce_view v = {1, 1, 1};
    for (int i = 0; i < x->ndim; i++) {
        int64_t *d = i < axis ? &v.outer : i == axis ? &v.n : &v.inner;
        *d *= x->shape[i];
    }
    if (v.n == 0 || v.inner == 0) v.outer = 0;
    return v;
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
    int64_t p2;        /* var, std: where the second statistic starts in s; norm: p as a
                          whole power from 2 to 64, else 0 (whole_power) */
    bool min, abs;     /* the extreme's direction; on |x| */
    bool avx512;       /* stats.c: take its AVX-512 loops (asked once per op) */
    int half;          /* stats.c, the norm: n + 1 for an order p = n + 1/2, else 0 */
} red_ctx;

/* Calls fn(iy, _, ix, n, sy, _, ctx) for each run of x along its last axis:
   ix is the run's offset in x, iy its output's, and sy is 0 when the last
   axis is reduced (the whole run goes to output iy) or 1 when it is kept
   (element k to output iy + k). */
void tg_reduce_walk(const tg_tensor *x, unsigned mask, tg_bcast_fn fn, void *ctx);

#define RUN_ARGS int64_t iy, int64_t ib_, int64_t ix, int64_t n, int64_t sy, int64_t sb_, void *c
#define RUN_UNUSED (void)ib_, (void)sb_

/* A run function adding Σ TERM over the run into acc[output], in double.
   TERM reads xv (the element, tg_real) and sv (the output's statistic s[o],
   or 0 when there is none). A run into one output is summed in blocks of
   four partial sums each (independent chains, so that the loop runs at the
   adder's throughput rather than its latency), as src/ops/sum.c sums in
   blocks. */
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

/* k doubles per output, saved with the record (the forward saves what its
   backward needs: the backward cannot fail). NULL if out of memory. */
double *tg_reduce_save(tg_record *r, int k);

/* out = the extreme (the maximum, or the minimum with min) of x, or of |x|
   with abs, over the record's axes; NaN wins. */
void tg_reduce_extreme_over(const tg_record *r, tg_real *out, bool min, bool abs);
/* acc[o] = how many elements of output o equal it (of |x| with abs, NaN
   counting there); acc holds 2 doubles per output (the second half is
   scratch). */
void tg_reduce_count_ties(const tg_record *r, double *acc, bool abs);

/* g (the output's shape) reshaped with the record's reduced axes kept as
   1, so that it broadcasts against x. */
tg_tensor *tg_reduce_keep(tg_tape *t, const tg_record *r, tg_tensor *g);
/* op on x over the axes in mask: for the vjps. */
tg_tensor *tg_reduce_over(tg_tape *t, const tg_op *op, tg_tensor *x, unsigned mask,
                          bool keepdim, double p);

/* The public functions: op over one axis (or TG_ALL), or over n axes; p is
   the op's number (var and std: the correction, norm: the order). Errors
   name tg_<op> and tg_<op>_axes. */
tg_tensor *tg_reduce_one(tg_tape *t, const tg_op *op, tg_tensor *x, int axis, bool keepdim,
                         double p);
tg_tensor *tg_reduce_set(tg_tape *t, const tg_op *op, tg_tensor *x, int n, const int *axes,
                         bool keepdim, double p);

/* Defines the op tg_NAME_op from NAME_forward, NAME_backward, NAME_vjp. */
#define REDUCE_OP(NAME, SHAPE, DOC)                                                      \
    const tg_op tg_##NAME##_op = {.name = #NAME,                                         \
                                  .n_inputs = 1,                                         \
                                  .attr_size = sizeof(reduce_attr),                      \
                                  .shape = SHAPE,                                        \
                                  .forward = NAME##_forward,                             \
                                  .backward = NAME##_backward,                           \
                                  .vjp = NAME##_vjp,                                     \
                                  .doc = DOC};

/* tg_NAME(t, x, axis, keepdim), and tg_NAME_axes(t, x, n, axes, keepdim). */
#define REDUCE_ONE(NAME)                                                                 \
    tg_tensor *tg_##NAME(tg_tape *t, tg_tensor *x, int axis, bool keepdim)               \
    {                                                                                    \
        return tg_reduce_one(t, &tg_##NAME##_op, x, axis, keepdim, 0);                   \
    }
#define REDUCE_BOTH(NAME)                                                                \
    REDUCE_ONE(NAME)                                                                     \
    tg_tensor *tg_##NAME##_axes(tg_tape *t, tg_tensor *x, int n, const int *axes,        \
                                bool keepdim)                                            \
    {                                                                                    \
        return tg_reduce_set(t, &tg_##NAME##_op, x, n, axes, keepdim, 0);                \
    }

/* The reductions' ops, by file; src/ops/reduce.c lists them all in its
   table. */
extern const tg_op tg_sum_op, tg_mean_op, tg_max_op, tg_min_op, tg_amax_op, tg_amin_op; /* reduce.c */
extern const tg_op tg_var_op, tg_std_op, tg_logsumexp_op, tg_norm_op; /* stats.c */
extern const tg_op tg_prod_op, tg_cumsum_op, tg_cumprod_op;           /* cumulative.c */

#endif
