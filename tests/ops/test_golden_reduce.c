/* The reductions against PyTorch: outputs, input gradients (the fast
   backward) and second derivatives (create_graph) of every case in
   tests/golden/reduce_*.txt, written by tests/gen_golden_shape_reduce.py:
   sums and means over sets of axes, min, max and min with indices, argmax,
   argmin, amax, amin, prod (with zeros), var and std (corrections 0, 1, 2),
   logsumexp, norm (p = 1, 2, ∞, 3, 0.5, 1.5, Frobenius), cumsum and cumprod
   (with zeros); 0-d and empty tensors, ties, ±inf and NaN. Tolerances are
   gt_default_tol(): float rtol 1e-5 / atol 1e-6, double rtol 1e-12 / atol
   1e-14. Then: accuracy of float sums over 2^20 elements, and bad
   arguments refused with a message. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "builder_table.h"
#include "expect_fail.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("reduce");
    cr_assert(gold != NULL, "tests/golden/reduce_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_reduce, .init = load, .fini = unload);

/* The case's axes: the number of a set (n_axes, a0, a1...), or 0 for the
   one-axis form (axis, or all = 1 for TG_ALL). */
static int axes_of(const gt_case *c, int *axes)
{
    int n = (int)gt_attr(c, "n_axes", 0);
    if (n > TG_MAX_DIMS) n = TG_MAX_DIMS;
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "a%d", i);
        axes[i] = (int)gt_attr(c, key, 0);
    }
    return n;
}
static int axis_of(const gt_case *c) { return gt_attr(c, "all", 0) ? TG_ALL : (int)gt_attr(c, "axis", 0); }
static bool keep_of(const gt_case *c) { return gt_attr(c, "keepdim", 0) != 0; }

/* Indices as a tensor of their values (exact below 2^24), for comparing. */
static tg_tensor *of_index(tg_tape *t, const tg_index *idx)
{
    if (!idx) return NULL;
    tg_tensor *y = tg_zeros(t, idx->ndim, idx->shape);
    for (int64_t i = 0; y && i < idx->size; i++) y->data[i] = (tg_real)idx->data[i];
    return y;
}

#define SET_OR_ONE(NAME)                                                                    \
    static tg_tensor *b_##NAME(tg_tape *t, tg_tensor **in, const gt_case *c)                \
    {                                                                                       \
        int axes[TG_MAX_DIMS], n = axes_of(c, axes);                                        \
        return n ? tg_##NAME##_axes(t, in[0], n, axes, keep_of(c))                          \
                 : tg_##NAME(t, in[0], axis_of(c), keep_of(c));                             \
    }
SET_OR_ONE(sum)
SET_OR_ONE(mean)
SET_OR_ONE(amax)
SET_OR_ONE(amin)
SET_OR_ONE(logsumexp)

static tg_tensor *b_min(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_min(t, in[0], axis_of(c), keep_of(c)); }
static tg_tensor *b_prod(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_prod(t, in[0], axis_of(c), keep_of(c)); }
static tg_tensor *b_max_dim(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_index *idx;
    tg_tensor *y = tg_max_dim(t, in[0], axis_of(c), keep_of(c), &idx);
    cr_expect(!y || (idx && idx->size == y->size), "%s: the indices do not match the values", c->name);
    /* recorded with a gradient, the indices are the forward's own: argmax's */
    tg_index *am = y && idx ? tg_argmax(t, in[0], axis_of(c), keep_of(c)) : NULL;
    for (int64_t i = 0; am && i < idx->size; i++)
        cr_expect_eq(idx->data[i], am->data[i], "%s: index %lld is %lld, argmax says %lld", c->name,
                     (long long)i, (long long)idx->data[i], (long long)am->data[i]);
    return y;
}
static tg_tensor *b_min_dim(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_min_dim(t, in[0], axis_of(c), keep_of(c), NULL);
}
static tg_tensor *b_max_dim_indices(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_index *idx = NULL;
    tg_max_dim(t, in[0], axis_of(c), keep_of(c), &idx);
    return of_index(t, idx);
}
static tg_tensor *b_min_dim_indices(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_index *idx = NULL;
    tg_min_dim(t, in[0], axis_of(c), keep_of(c), &idx);
    return of_index(t, idx);
}
static tg_tensor *b_argmax(tg_tape *t, tg_tensor **in, const gt_case *c) { return of_index(t, tg_argmax(t, in[0], axis_of(c), keep_of(c))); }
static tg_tensor *b_argmin(tg_tape *t, tg_tensor **in, const gt_case *c) { return of_index(t, tg_argmin(t, in[0], axis_of(c), keep_of(c))); }

#define WITH_NUMBER(NAME, KEY, DFLT)                                                        \
    static tg_tensor *b_##NAME(tg_tape *t, tg_tensor **in, const gt_case *c)                \
    {                                                                                       \
        int axes[TG_MAX_DIMS], n = axes_of(c, axes);                                        \
        double v = gt_attr(c, KEY, DFLT);                                                   \
        return n ? tg_##NAME##_axes(t, in[0], n, axes, v, keep_of(c))                       \
                 : tg_##NAME(t, in[0], axis_of(c), v, keep_of(c));                          \
    }
WITH_NUMBER(var, "c", TG_VAR_CORRECTION)
WITH_NUMBER(std, "c", TG_VAR_CORRECTION)

static tg_tensor *b_norm(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    int axes[TG_MAX_DIMS], n = axes_of(c, axes);
    double p = gt_attr(c, "p", 2);
    return n ? tg_norm_axes(t, in[0], p, n, axes, keep_of(c))
             : tg_norm(t, in[0], p, axis_of(c), keep_of(c));
}
static tg_tensor *b_cumsum(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_cumsum(t, in[0], (int)gt_attr(c, "axis", 0)); }
static tg_tensor *b_cumprod(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_cumprod(t, in[0], (int)gt_attr(c, "axis", 0)); }

/* every op of the file, with its builder */
#define B(NAME) {#NAME, b_##NAME}
static const gt_builder builders[] = {
    B(sum),  B(mean),  B(min),  B(max_dim), B(min_dim), B(max_dim_indices), B(min_dim_indices),
    B(argmax), B(argmin), B(amax), B(amin), B(prod), B(var), B(std), B(logsumexp), B(norm),
    B(cumsum), B(cumprod),
};
#undef B
/* the ops of indices: no gradient, so a first-order run only; and not ops
   of the tape (tg_argmax, tg_argmin, the indices of tg_max_dim and
   tg_min_dim are computed when called: no record holds them, and a replay
   leaves them as they were), so not replayed (NULL-ended) */
static const char *const index_ops[] = {"max_dim_indices", "min_dim_indices", "argmax", "argmin",
                                        NULL};

/* First order (the fast backward), then second order through create_graph,
   whose first order must agree with the fast one. Indices have no
   gradient: their ops have the first run only. */
#define GOLDEN(NAME)                                                                        \
    Test(golden_reduce, NAME) { gt_run_op(gold, #NAME, b_##NAME, gt_default_tol()); }       \
    Test(golden_reduce, NAME##_order2) { gt_run_op2(gold, #NAME, b_##NAME, gt_default_tol()); }
#define GOLDEN_NO_GRAD(NAME)                                                                \
    Test(golden_reduce, NAME) { gt_run_op(gold, #NAME, b_##NAME, gt_default_tol()); }

GOLDEN(sum)
GOLDEN(mean)
GOLDEN(min)
GOLDEN(max_dim)
GOLDEN(min_dim)
GOLDEN_NO_GRAD(max_dim_indices)
GOLDEN_NO_GRAD(min_dim_indices)
GOLDEN_NO_GRAD(argmax)
GOLDEN_NO_GRAD(argmin)
GOLDEN(amax)
GOLDEN(amin)
GOLDEN(prod)
GOLDEN(var)
GOLDEN(std)
GOLDEN(logsumexp)
GOLDEN(norm)
GOLDEN(cumsum)
GOLDEN(cumprod)

/* No case in the file is skipped for want of a test. */
Test(golden_reduce, every_case_is_run)
{
    gt_expect_builders(gold, builders, sizeof builders / sizeof *builders);
    for (int i = 0; i < gold->n; i++) {
        bool grad = true;
        for (int k = 0; index_ops[k]; k++) grad &= strcmp(index_ops[k], gold->cases[i].op) != 0;
        cr_expect(grad || gold->cases[i].order == 0,
                  "case %s of op %s has gradients that the test skips", gold->cases[i].name,
                  gold->cases[i].op);
    }
}

/* Replay equals recording again, bit for bit, and tg_gradgradcheck, for
   every op (tests/support/replay_check.h, ggc_check.h). */
GT_BUILDER_FIND(find_builder, builders)
Test(golden_reduce, replay_every_op) { gt_run_replay_file_except(gold, find_builder, index_ops); }
Test(golden_reduce, gradgradcheck_every_op) { gt_run_gradgradcheck_file(gold, find_builder); }

/* ------------------------------------------------------------ accuracy */

/* 2^20 float values near 0.1: a sum in float, one after the other, would be
   off by about 0.6%; tapegrad's sums run in double, so each result is the
   exact value (computed here in long double from the same data) to within
   a few float roundings. Double builds: within 1e-12. */
Test(golden_reduce, sums_of_many_elements_are_accurate)
{
    enum { A = 64, B = 128, C = 128 }; /* 2^20 */
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(A, B, C));
    cr_assert(x);
    uint64_t s = 12345;
    for (int64_t i = 0; i < x->size; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x->data[i] = (tg_real)(0.1 + 0.01 * (double)(s >> 11) * 0x1p-53);
    }
    long double total = 0, sq = 0;
    for (int64_t i = 0; i < x->size; i++) total += (long double)x->data[i];
    long double mean = total / (long double)x->size;
    for (int64_t i = 0; i < x->size; i++)
        sq += ((long double)x->data[i] - mean) * ((long double)x->data[i] - mean);
#ifdef TG_DOUBLE
    double rtol = 1e-12;
#else
    double rtol = 3e-7; /* a few float roundings of the result */
#endif
    tg_tensor *y = tg_sum(t, x, TG_ALL, false);
    cr_expect(fabsl((long double)y->data[0] - total) <= rtol * total, "sum: %.9g vs %.9Lg",
              (double)y->data[0], total);
    y = tg_mean(t, x, TG_ALL, false);
    cr_expect(fabsl((long double)y->data[0] - mean) <= rtol * mean, "mean: %.9g vs %.9Lg",
              (double)y->data[0], mean);
    /* axes 0 and 2 (not neighbours): the walk with a double per output */
    y = tg_sum_axes(t, x, TG_AXES(0, 2), false);
    long double col = 0;
    for (int a = 0; a < A; a++)
        for (int c = 0; c < C; c++) col += (long double)x->data[((int64_t)a * B + 7) * C + c];
    cr_expect(fabsl((long double)y->data[7] - col) <= rtol * col, "sum_axes: %.9g vs %.9Lg",
              (double)y->data[7], col);
    long double var = sq / (long double)(x->size - 1);
    y = tg_var(t, x, TG_ALL, TG_VAR_CORRECTION, false);
    cr_expect(fabsl((long double)y->data[0] - var) <= 10 * rtol * var, "var: %.9g vs %.9Lg",
              (double)y->data[0], var);
    /* log Σ e^x = log(n) + log(mean of e^x) */
    long double se = 0;
    for (int64_t i = 0; i < x->size; i++) se += expl((long double)x->data[i]);
    y = tg_logsumexp(t, x, TG_ALL, false);
    cr_expect(fabsl((long double)y->data[0] - logl(se)) <= rtol * logl(se),
              "logsumexp: %.9g vs %.9Lg", (double)y->data[0], logl(se));
    y = tg_cumsum(t, tg_reshape(t, x, TG_SHAPE(x->size)), 0);
    cr_expect(fabsl((long double)y->data[x->size - 1] - total) <= rtol * total,
              "cumsum: %.9g vs %.9Lg", (double)y->data[x->size - 1], total);
    tg_tape_free(t);
}

/* logsumexp's exponentials across their whole range: log(e^0 + e^d) =
   log1p(e^d) for d from -750 (where e^d underflows) to 0, against long
   double. The absolute error allowed, a few roundings of a result below
   log 2, also bounds the error of e^d relative to 1 + e^d. */
Test(golden_reduce, logsumexp_is_exact_across_the_range)
{
#ifdef TG_DOUBLE
    double atol = 4e-16;
#else
    double atol = 1.2e-7;
#endif
    tg_tape *t = tg_tape_new();
    for (int i = 0; i <= 3000; i++) {
        tg_real d = (tg_real)(-750.0 * i / 3000.0 + (i % 7) * 1e-3);
        tg_real xs[2] = {0, d > 0 ? 0 : d};
        tg_tensor *y = tg_logsumexp(t, tg_tensor_new(t, TG_SHAPE(2), xs), 0, false);
        long double want = log1pl(expl((long double)xs[1]));
        cr_expect(fabsl((long double)y->data[0] - want) <= atol, "d = %.9g: %.17g vs %.17Lg",
                  (double)xs[1], (double)y->data[0], want);
        tg_tape_reset(t);
    }
    tg_tape_free(t);
}

/* Values far from 0 with a small spread: x_k = 1000 + δ_k with δ_k
   multiples of 2^-14 (exact in float and double) whose mean is not a
   binary fraction. The variance, the std and the std's gradient (both
   passes: the fast backward and create_graph's) are computed here from the
   δ_k in long double. A mean rounded to tg_real (spacing 6e-5 in float,
   1e-13 in double, against deviations of 3e-4) would cost float every digit
   of the gradient and double four of them; tapegrad keeps them. */
Test(golden_reduce, a_spread_far_from_zero_keeps_its_digits)
{
    enum { N = 6 };
    const int steps[N] = {3, -5, 1, 7, -2, 4};
    tg_real xs[N];
    long double off = 0, dev[N], ss = 0;
    for (int i = 0; i < N; i++) {
        xs[i] = (tg_real)(1000 + steps[i] * 0x1p-14);
        off += steps[i] * 0x1p-14L / N;
    }
    for (int i = 0; i < N; i++) dev[i] = steps[i] * 0x1p-14L - off, ss += dev[i] * dev[i];
    long double var = ss / (N - 1), sd = sqrtl(var);
#ifdef TG_DOUBLE
    double rtol = 1e-12;
#else
    double rtol = 1e-6; /* a few float roundings */
#endif
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(N), xs), true);
    tg_tensor *v = tg_var(t, x, 0, TG_VAR_CORRECTION, false);
    cr_expect(fabsl((long double)v->data[0] - var) <= rtol * var, "var: %.9g vs %.9Lg",
              (double)v->data[0], var);
    tg_tensor *y = tg_std(t, x, 0, TG_VAR_CORRECTION, false);
    cr_expect(fabsl((long double)y->data[0] - sd) <= rtol * sd, "std: %.9g vs %.9Lg",
              (double)y->data[0], sd);
    cr_assert_eq(tg_backward(t, y), TG_OK);
    tg_tensor *g2 = tg_grad1(t, y, x, true);
    cr_assert(g2, "%s", tg_tape_error(t));
    for (int i = 0; i < N; i++) {
        long double want = dev[i] / ((N - 1) * sd);
        cr_expect(fabsl((long double)x->grad[i] - want) <= rtol * fabsl(want),
                  "backward [%d]: %.9g vs %.9Lg", i, (double)x->grad[i], want);
        cr_expect(fabsl((long double)g2->data[i] - want) <= rtol * fabsl(want),
                  "create_graph [%d]: %.9g vs %.9Lg", i, (double)g2->data[i], want);
    }
    tg_tape_free(t);
}

/* At ties, zeros and a zero std the golden second-order runs compare no
   values (PyTorch's side of a kink); the two rules must still agree there:
   the gradient through create_graph (the vjp, built from ops) equals the
   fast backward's, for each op at such a point. */
static tg_tensor *at_kink(tg_tape *t, tg_tensor *x, int which)
{
    switch (which) {
    case 0: return tg_amax(t, x, 1, false);
    case 1: return tg_amin_axes(t, x, TG_AXES(0, 1), true);
    case 2: return tg_max(t, x, TG_ALL, false);
    case 3: return tg_min(t, x, 0, false);
    case 4: return tg_norm(t, x, INFINITY, 1, false);
    case 5: return tg_norm(t, x, 2, 1, false);
    case 6: return tg_norm(t, x, 0.5, 0, false);
    case 7: return tg_std(t, x, 1, 1, false);
    case 8: return tg_prod(t, x, 1, false);
    case 9: return tg_prod(t, x, TG_ALL, false);
    case 10: return tg_cumprod(t, x, 1);
    case 11: return tg_cumprod(t, x, 0);
    default: return NULL;
    }
}

Test(golden_reduce, vjp_agrees_with_backward_at_kinks)
{
    /* ties of the max (3) and of |x| (±3), a zero row (norm, std 0 when
       constant), one and two zeros per row */
    const tg_real xs[3][4] = {{3, -3, 3, 1}, {0, 0, 0, 0}, {2, 0, -1.5, 0}};
    const tg_real rs[12] = {0.5, -1.25, 2, 0.75, 1.5, -0.5, 1, 2, -1, 0.25, 0.5, 1.75};
    for (int which = 0; which <= 11; which++) {
        tg_tape *t = tg_tape_new();
        tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3, 4), &xs[0][0]), true);
        tg_tensor *y = at_kink(t, x, which);
        cr_assert(y, "%d: %s", which, tg_tape_error(t));
        tg_tensor *r = tg_tensor_new(t, y->ndim, y->shape, rs);
        tg_tensor *g = NULL;
        int st = tg_grad(t, 1, &y, &r, 1, &x, &g, &(tg_grad_opts){.create_graph = true});
        cr_assert_eq(st, TG_OK, "%d: %s", which, tg_tape_error(t));
        cr_assert_eq(tg_backward_grad(t, y, rs), TG_OK, "%d: %s", which, tg_tape_error(t));
        gt_tol tol = gt_default_tol();
        for (int i = 0; i < 12; i++)
            cr_expect(fabs((double)(g->data[i] - x->grad[i])) <=
                          tol.atol + tol.rtol * fabs((double)x->grad[i]),
                      "op %d, element %d: create_graph %.9g, backward %.9g", which, i,
                      (double)g->data[i], (double)x->grad[i]);
        tg_tape_free(t);
    }
}

/* ------------------------------------------------------------ indices */

Test(golden_reduce, indices_are_on_the_tape_with_the_values_shape)
{
    tg_tape *t = tg_tape_new();
    const tg_real v[6] = {1, 5, 5, 7, -2, 7}; /* [2, 3] */
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2, 3), v), true);
    tg_index *idx = NULL;
    tg_tensor *y = tg_max_dim(t, x, 1, true, &idx);
    cr_assert(y && idx, "%s", tg_tape_error(t));
    cr_expect(idx->tape == t && idx->ndim == 2 && idx->shape[0] == 2 && idx->shape[1] == 1);
    cr_expect(idx->data[0] == 1 && idx->data[1] == 0, "first maxima: %lld %lld",
              (long long)idx->data[0], (long long)idx->data[1]);
    /* the gradient goes where the indices point */
    cr_assert_eq(tg_backward(t, tg_sum(t, y, TG_ALL, false)), TG_OK);
    const tg_real want[6] = {0, 1, 0, 1, 0, 0};
    for (int i = 0; i < 6; i++) cr_expect_eq(x->grad[i], want[i], "grad[%d]", i);
    tg_index *am = tg_argmin(t, x, TG_ALL, false);
    cr_expect(am && am->ndim == 0 && am->data[0] == 4);
    tg_tape_free(t);
}

Test(golden_reduce, contiguous_is_the_tensor_itself)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(2, 3));
    cr_expect_eq(tg_contiguous(t, x), x);
    cr_expect_null(tg_contiguous(t, NULL));
    tg_tape_free(t);
}

/* ------------------------------------------------------------ bad input */


Test(golden_reduce, bad_arguments_fail_with_a_message)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(2, 3));
    tg_tensor *e = tg_zeros(t, TG_SHAPE(0, 3));
    EXPECT_FAIL(tg_sum(t, x, 2, false), "tg_sum: axis 2 is out of range for shape [2,3]");
    EXPECT_FAIL(tg_prod(t, x, -3, false), "tg_prod: axis -3 is out of range");
    EXPECT_FAIL(tg_sum_axes(t, x, TG_AXES(0, -2), false),
                "tg_sum_axes: axis -2 (at position 1) appears twice for shape [2,3]");
    EXPECT_FAIL(tg_mean_axes(t, x, TG_AXES(0, 5), false),
                "tg_mean_axes: axis 5 (at position 1) is out of range");
    EXPECT_FAIL(tg_amax_axes(t, x, 0, NULL, false), "tg_amax_axes: 0 axes given");
    EXPECT_FAIL(tg_var_axes(t, x, 9, (const int[9]){0}, 1, false), "tg_var_axes: 9 axes given");
    EXPECT_FAIL(tg_norm(t, x, 0, TG_ALL, false), "tg_norm: the order p must be > 0");
    EXPECT_FAIL(tg_norm(t, x, -INFINITY, TG_ALL, false), "tg_norm: the order p must be > 0");
    EXPECT_FAIL(tg_norm_axes(t, x, NAN, TG_AXES(1), false), "tg_norm: the order p must be > 0");
    EXPECT_FAIL(tg_norm(t, e, INFINITY, 0, false), "tg_norm: the inf-norm of an empty axis");
    EXPECT_FAIL(tg_std(t, x, 0, INFINITY, false), "tg_std: the correction must be finite");
    EXPECT_FAIL(tg_amax(t, e, 0, false), "tg_amax: the maximum of an empty axis is undefined");
    EXPECT_FAIL(tg_amin(t, e, TG_ALL, false), "tg_amin: the minimum of an empty axis");
    EXPECT_FAIL(tg_min(t, e, 0, true), "tg_min: the minimum of an empty axis");
    EXPECT_FAIL(tg_argmax(t, e, 0, false), "tg_argmax: the maximum of an empty axis");
    EXPECT_FAIL(tg_argmin(t, x, 2, false), "tg_argmin: axis 2 is out of range");
    EXPECT_FAIL(tg_max_dim(t, x, TG_ALL, false, NULL), "tg_max_dim: takes an axis, not TG_ALL");
    EXPECT_FAIL(tg_min_dim(t, x, -3, false, NULL), "tg_min_dim: axis -3 is out of range");
    EXPECT_FAIL(tg_cumsum(t, x, 2), "tg_cumsum: axis 2 is out of range for shape [2,3]");
    EXPECT_FAIL(tg_cumprod(t, x, -3), "tg_cumprod: axis -3 is out of range");
    EXPECT_FAIL(tg_logsumexp(t, NULL, 0, false), "tg_logsumexp: input is NULL");
    EXPECT_FAIL(tg_std_axes(t, NULL, TG_AXES(0), 1, false), "tg_std_axes: input is NULL");
    EXPECT_FAIL(tg_argmax(t, NULL, 0, false), "tg_argmax: input is NULL");
    /* the indices are NULL too when the values fail */
    tg_index *idx = (tg_index *)1;
    tg_tape_clear_error(t);
    cr_expect_null(tg_min_dim(t, e, 0, false, &idx));
    cr_expect_null(idx);
    tg_tape_free(t);
}
