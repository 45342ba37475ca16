/* The element-wise math ops against PyTorch: outputs, first and second
   order of every case in tests/golden/math_*.txt (written by
   tests/gen_golden_math.py): each function on its domain and at its edges,
   broadcasting both ways, ties, clamp with tensor bounds, lerp, add/sub
   with alpha. Tolerances are gt_default_tol(): float rtol 1e-5 / atol
   1e-6, double rtol 1e-12 / atol 1e-14. floor, ceil, round and trunc have
   no gradient: their outputs are compared, and that they are never
   recorded. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "builder_table.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("math");
    cr_assert(gold != NULL, "tests/golden/math_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_math, .init = load, .fini = unload);

#define S(c) ((tg_real)gt_attr(c, "s", 0))
#define UNARY_B(NAME)                                                                    \
    static tg_tensor *b_##NAME(tg_tape *t, tg_tensor **in, const gt_case *c)             \
    {                                                                                    \
        (void)c;                                                                         \
        return tg_##NAME(t, in[0]);                                                      \
    }
#define BINARY_B(NAME)                                                                   \
    static tg_tensor *b_##NAME(tg_tape *t, tg_tensor **in, const gt_case *c)             \
    {                                                                                    \
        (void)c;                                                                         \
        return tg_##NAME(t, in[0], in[1]);                                               \
    }

UNARY_B(sin) UNARY_B(cos) UNARY_B(tan) UNARY_B(asin) UNARY_B(acos) UNARY_B(atan)
UNARY_B(sinh) UNARY_B(cosh) UNARY_B(asinh) UNARY_B(acosh) UNARY_B(atanh)
UNARY_B(log1p) UNARY_B(expm1) UNARY_B(log2) UNARY_B(log10) UNARY_B(exp2)
UNARY_B(rsqrt) UNARY_B(reciprocal) UNARY_B(erfc) UNARY_B(erfinv)
UNARY_B(floor) UNARY_B(ceil) UNARY_B(round) UNARY_B(trunc)
BINARY_B(atan2) BINARY_B(minimum) BINARY_B(maximum) BINARY_B(pow_tensor)

static tg_tensor *b_pow_scalar_base(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_pow_scalar_base(t, S(c), in[0]);
}
/* the inputs are x, then lo and hi where the case has them */
static tg_tensor *b_clamp_tensor(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    bool lo = gt_attr(c, "lo", 0) != 0, hi = gt_attr(c, "hi", 0) != 0;
    return tg_clamp_tensor(t, in[0], lo ? in[1] : NULL, hi ? in[lo ? 2 : 1] : NULL);
}
static tg_tensor *b_lerp(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_lerp(t, in[0], in[1], S(c)); }
static tg_tensor *b_lerp_tensor(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    (void)c;
    return tg_lerp_tensor(t, in[0], in[1], in[2]);
}
static tg_tensor *b_add_alpha(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_add_alpha(t, in[0], in[1], S(c)); }
static tg_tensor *b_sub_alpha(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_sub_alpha(t, in[0], in[1], S(c)); }

#define B(NAME) {#NAME, b_##NAME}
static const gt_builder builders[] = {
    B(sin), B(cos), B(tan), B(asin), B(acos), B(atan), B(sinh), B(cosh), B(asinh), B(acosh),
    B(atanh), B(log1p), B(expm1), B(log2), B(log10), B(exp2), B(rsqrt), B(reciprocal), B(erfc),
    B(erfinv), B(floor), B(ceil), B(round), B(trunc), B(atan2), B(minimum), B(maximum),
    B(pow_tensor), B(pow_scalar_base), B(clamp_tensor), B(lerp), B(lerp_tensor), B(add_alpha),
    B(sub_alpha),
};
#undef B

/* First order (the fast backward), then second order through create_graph,
   whose first order must agree with the fast one. */
#define GOLDEN(NAME)                                                                        \
    Test(golden_math, NAME) { gt_run_op(gold, #NAME, b_##NAME, gt_default_tol()); }         \
    Test(golden_math, NAME##_order2) { gt_run_op2(gold, #NAME, b_##NAME, gt_default_tol()); }

GOLDEN(sin)
GOLDEN(cos)
GOLDEN(tan)
GOLDEN(asin)
GOLDEN(acos)
GOLDEN(atan)
GOLDEN(sinh)
GOLDEN(cosh)
GOLDEN(asinh)
GOLDEN(acosh)
GOLDEN(atanh)
GOLDEN(log1p)
GOLDEN(expm1)
GOLDEN(log2)
GOLDEN(log10)
GOLDEN(exp2)
GOLDEN(rsqrt)
GOLDEN(reciprocal)
GOLDEN(erfc)
GOLDEN(erfinv)
GOLDEN(atan2)
GOLDEN(minimum)
GOLDEN(maximum)
GOLDEN(pow_tensor)
GOLDEN(pow_scalar_base)
GOLDEN(clamp_tensor)
GOLDEN(lerp)
GOLDEN(lerp_tensor)
GOLDEN(add_alpha)
GOLDEN(sub_alpha)

/* No gradient: the outputs only (the cases have no gradient to compare). */
Test(golden_math, floor) { gt_run_op(gold, "floor", b_floor, gt_default_tol()); }
Test(golden_math, ceil) { gt_run_op(gold, "ceil", b_ceil, gt_default_tol()); }
Test(golden_math, round) { gt_run_op(gold, "round", b_round, gt_default_tol()); }
Test(golden_math, trunc) { gt_run_op(gold, "trunc", b_trunc, gt_default_tol()); }

Test(golden_math, every_case_is_run)
{
    gt_expect_builders(gold, builders, sizeof builders / sizeof *builders);
}

/* Replay equals recording again, bit for bit, and tg_gradgradcheck, for
   every op (tests/support/replay_check.h, ggc_check.h). */
GT_BUILDER_FIND(find_builder, builders)
Test(golden_math, replay_every_op) { gt_run_replay_file(gold, find_builder); }
/* lerp_tensor_ends holds 1e8 beside 1: the first gradient has the term
   u·(end − start) ≈ −1e8·u, which the double build's checker (PyTorch's
   absolute step 1e-6) differentiates through a rounding of 1.5e-8 per
   evaluation, 0.7% of the difference, past its rtol of 1e-3. The case
   is for the forward's exact ends; the next smallest is checked. */
static const char *const ggc_except[] = {"lerp_tensor_ends", NULL};
Test(golden_math, gradgradcheck_every_op)
{
    gt_run_gradgradcheck_file_except(gold, find_builder, ggc_except);
}

/* floor, ceil, round and trunc of a tensor that requires grad: constants,
   not on the tape, as the comparisons. */
Test(golden_math, rounding_is_never_recorded)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_full(t, TG_SHAPE(3), (tg_real)1.5), true);
    tg_tensor *(*fns[4])(tg_tape *, tg_tensor *) = {tg_floor, tg_ceil, tg_round, tg_trunc};
    const tg_real want[4] = {1, 2, 2, 1};
    for (int k = 0; k < 4; k++) {
        size_t before = tg_tape_get_stats(t).records;
        tg_tensor *y = fns[k](t, x);
        cr_assert(y, "%s", tg_tape_error(t));
        cr_expect_eq(y->data[0], want[k]);
        cr_expect(!(y->flags & TG_REQUIRES_GRAD), "op %d: the result requires grad", k);
        cr_expect_eq(tg_tape_get_stats(t).records, before, "op %d was recorded", k);
    }
    tg_tape_free(t);
}

/* Op i of the bad-argument test on a and b (b's shape does not broadcast). */
static const char *const BAD_OPS[8] = {"tg_atan2",     "tg_minimum", "tg_maximum",
                                       "tg_pow_tensor", "tg_add_alpha", "tg_lerp",
                                       "tg_lerp_tensor", "tg_clamp_tensor"};
static tg_tensor *bad_op(int i, tg_tape *t, tg_tensor *a, tg_tensor *b)
{
    switch (i) {
    case 0: return tg_atan2(t, a, b);
    case 1: return tg_minimum(t, a, b);
    case 2: return tg_maximum(t, a, b);
    case 3: return tg_pow_tensor(t, a, b);
    case 4: return tg_add_alpha(t, a, b, 2);
    case 5: return tg_lerp(t, a, b, (tg_real)0.5);
    case 6: return tg_lerp_tensor(t, a, a, b);
    default: return tg_clamp_tensor(t, a, b, NULL);
    }
}

/* Shapes that do not broadcast, a missing input, clamp without any bound:
   NULL, with a message naming the op and the shapes. */
Test(golden_math, bad_arguments_fail_with_a_message)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *a = tg_zeros(t, TG_SHAPE(4, 5)), *b = tg_zeros(t, TG_SHAPE(5, 4));
    for (int i = 0; i < 8; i++) {
        cr_expect_null(bad_op(i, t, a, b), "%s accepted [4,5] with [5,4]", BAD_OPS[i]);
        cr_expect(strstr(tg_tape_error(t), BAD_OPS[i]) && strstr(tg_tape_error(t), "[5,4]"),
                  "%s: %s", BAD_OPS[i], tg_tape_error(t));
        tg_tape_clear_error(t);
    }
    cr_expect_null(tg_clamp_tensor(t, a, NULL, NULL));
    cr_expect(strstr(tg_tape_error(t), "tg_clamp_tensor") && strstr(tg_tape_error(t), "bound"),
              "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_lerp_tensor(t, a, a, NULL));
    cr_expect(strstr(tg_tape_error(t), "tg_lerp_tensor") && strstr(tg_tape_error(t), "weight"),
              "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_atan2(t, a, NULL));
    tg_tape_clear_error(t);
    cr_expect_null(tg_sin(t, NULL));
    cr_expect(strstr(tg_tape_error(t), "tg_sin"), "%s", tg_tape_error(t));
    tg_tape_free(t);
}

/* round takes ties to even (torch.round), not away from zero (C's round). */
Test(golden_math, round_ties_to_even)
{
    tg_tape *t = tg_tape_new();
    const tg_real xs[6] = {0.5, 1.5, 2.5, -0.5, -1.5, -2.5};
    const tg_real want[6] = {0, 2, 2, -0.0, -2, -2};
    tg_tensor *y = tg_round(t, tg_tensor_new(t, TG_SHAPE(6), xs));
    cr_assert(y);
    for (int i = 0; i < 6; i++) cr_expect_eq(y->data[i], want[i], "round(%g)", (double)xs[i]);
    tg_tape_free(t);
}

/* erfinv's far tail, x = 1 − 2⁻ᵏ, where PyTorch's own float64 erfinv errs
   (2e-12 relative at 1 − 1e-6, 5e-5 at 1 − 2⁻⁵⁰) and so is not the golden
   reference: the values and derivatives below are mpmath's (erfinv and
   √π/2·e^(erfinv²) at 40 digits). Double build only (1 − 2⁻³⁰ is 1 in float). */
Test(golden_math, erfinv_far_tail)
{
#ifdef TG_DOUBLE
    const int k[5] = {20, 30, 40, 50, 52};
    const double y[5] = {3.465505025803330717256204, 4.328028275800946455371663,
                         5.051254085249389967072263, 5.686128441310390980051604,
                         5.805018683193453300181258};
    const double d[5] = {145647.2448881287124620832, 120969199.1281739338460726,
                         106817285124.6591414501257, 97539097489305.25205277567,
                         382389054906526.0943887393};
    tg_tape *t = tg_tape_new();
    for (int i = 0; i < 5; i++) {
        tg_real v[2] = {1 - ldexp(1, -k[i]), -(1 - ldexp(1, -k[i]))};
        tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2), v), true);
        tg_tensor *out = tg_erfinv(t, x);
        cr_assert(out && tg_backward(t, tg_sum(t, out, TG_ALL, false)) == TG_OK, "%s",
                  tg_tape_error(t));
        /* the value to 4 ulp; the derivative e^(y²) multiplies y's last-bit
           rounding by 2y² (67 at k = 52): 1e-13 */
        cr_expect(fabs(out->data[0] - y[i]) <= 4 * DBL_EPSILON * y[i], "erfinv(1 - 2^-%d) = %.17g, "
                  "mpmath %.17g", k[i], out->data[0], y[i]);
        cr_expect_eq(out->data[1], -out->data[0]);
        cr_expect(fabs(x->grad[0] - d[i]) <= 1e-13 * d[i], "erfinv'(1 - 2^-%d) = %.17g, mpmath "
                  "%.17g", k[i], x->grad[0], d[i]);
        tg_tape_reset(t);
    }
    tg_tape_free(t);
#endif
}
