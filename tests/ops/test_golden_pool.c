/* The pooling ops against PyTorch, first and second order
   (tests/golden/pool_*.txt, written by tests/gen_golden_conv.py):
   max_pool1d/2d and their indices, avg_pool1d/2d and adaptive_avg_pool2d,
   with every option (kernel, stride, padding, dilation, ceil_mode with its
   edge windows, count_include_pad, divisor_override), ties (PyTorch's first
   maximum; kink cases), NaN and −inf, batch of 1 and unbatched input; then
   bad input. Tolerances: gt_default_tol() (a window's sum has at most 9
   terms). */
#include <criterion/criterion.h>
#include <math.h>

#include "builder_table.h"
#include "conv_builders.h"
#include "op_checks.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("pool");
    cr_assert(gold != NULL, "tests/golden/pool_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_pool, .init = load, .fini = unload);

#define GOLDEN(NAME)                                                                        \
    Test(golden_pool, NAME) { gt_run_op(gold, #NAME, b_##NAME, gt_default_tol()); }         \
    Test(golden_pool, NAME##_order2) { gt_run_op2(gold, #NAME, b_##NAME, gt_default_tol()); }

GOLDEN(max_pool1d)
GOLDEN(max_pool2d)
GOLDEN(avg_pool1d)
GOLDEN(avg_pool2d)
GOLDEN(adaptive_avg_pool2d)

/* the indices: integers, compared exactly (no gradient) */
static gt_tol exact(void) { return (gt_tol){0, 0}; }
Test(golden_pool, max_pool1d_indices) { gt_run_op(gold, "max_pool1d_indices", b_max_pool1d_indices, exact()); }
Test(golden_pool, max_pool2d_indices) { gt_run_op(gold, "max_pool2d_indices", b_max_pool2d_indices, exact()); }

#define B(NAME) {#NAME, b_##NAME}
static const gt_builder builders[] = {
    B(max_pool1d), B(max_pool2d), B(max_pool1d_indices), B(max_pool2d_indices),
    B(avg_pool1d), B(avg_pool2d), B(adaptive_avg_pool2d),
};
#undef B

Test(golden_pool, every_case_is_run)
{
    gt_expect_builders(gold, builders, sizeof builders / sizeof *builders);
}

/* Replay equals recording again, bit for bit, and tg_gradgradcheck, for
   every op (tests/support/replay_check.h, ggc_check.h). The indices' cases
   copy the indices into a tensor outside any op, which no replay redoes:
   indices_replay_with_the_values checks them. */
GT_BUILDER_FIND(find_builder, builders)
static const char *const index_ops[] = {"max_pool1d_indices", "max_pool2d_indices", NULL};
Test(golden_pool, replay_every_op) { gt_run_replay_file_except(gold, find_builder, index_ops); }
Test(golden_pool, gradgradcheck_every_op) { gt_run_gradgradcheck_file(gold, find_builder); }

/* The indices of max pooling are written by the op's forward: a replay at
   new values gives the indices a recording at them gives. */
Test(golden_pool, indices_replay_with_the_values)
{
    const tg_real v0[8] = {5, 1, 2, 6, 0, 3, 7, 4}, v1[8] = {1, 5, 6, 2, 3, 0, 4, 7};
    tg_pool_opts o = tg_pool_defaults(2, 0);
    tg_tape *a = tg_tape_new(), *b = tg_tape_new();
    tg_tape_set_replayable(a, true);
    tg_tensor *xa = tg_tensor_new(a, TG_SHAPE(1, 2, 4), v0);
    tg_tensor *xb = tg_tensor_new(b, TG_SHAPE(1, 2, 4), v1);
    tg_index *ia, *ib;
    cr_assert(tg_max_pool1d_with_indices(a, xa, &o, &ia), "%s", tg_tape_error(a));
    cr_assert(tg_max_pool1d_with_indices(b, xb, &o, &ib), "%s", tg_tape_error(b));
    for (int i = 0; i < 8; i++) xa->data[i] = v1[i];
    cr_assert_eq(tg_tape_replay(a), TG_OK, "%s", tg_tape_error(a));
    cr_assert_eq(ia->size, 4);
    for (int64_t i = 0; i < ia->size; i++)
        cr_expect_eq(ia->data[i], ib->data[i], "index %lld: %lld after the replay, %lld recorded",
                     (long long)i, (long long)ia->data[i], (long long)ib->data[i]);
    tg_tape_free(a);
    tg_tape_free(b);
}

/* ------------------------------------------------------------- bad input */

Test(golden_pool, bad_options_and_shapes)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(2, 3, 4, 4));
    tg_pool_opts o = tg_pool_defaults(3, 3);
    o.padding[0] = 2;
    expect_error(t, tg_max_pool2d(t, x, &o), "tg_max_pool2d: padding 2 is more than half the kernel (3)", NULL);
    o = tg_pool_defaults(5, 5);
    expect_error(t, tg_avg_pool2d(t, x, &o), "tg_avg_pool2d: the input [2,3,4,4] is smaller than the kernel (5", NULL);
    o = tg_pool_defaults(0, 2);
    expect_error(t, tg_max_pool2d(t, x, &o), "tg_max_pool2d: kernel 0 is invalid", NULL);
    o = tg_pool_defaults(2, 2);
    o.dilation[1] = 2;
    expect_error(t, tg_avg_pool2d(t, x, &o), "tg_avg_pool2d: dilation is for max pooling", NULL);
    o = tg_pool_defaults(2, 2);
    o.divisor_override = 3;
    expect_error(t, tg_max_pool2d(t, x, &o), "divisor_override 3 is for average pooling", NULL);
    o.stride[0] = -1;
    expect_error(t, tg_avg_pool2d(t, x, &o), "tg_avg_pool2d: stride -1 is negative", NULL);
    expect_error(t, tg_max_pool2d(t, x, NULL), "tg_max_pool2d: the options are NULL", NULL);
    o = tg_pool_defaults(2, 2);
    expect_error(t, tg_max_pool1d(t, x, &o), "tg_max_pool1d: needs input [N, C, L] or [C, L], got [2,3,4,4]", NULL);
    expect_error(t, tg_max_pool2d(t, tg_zeros(t, TG_SHAPE(4, 4)), &o), "needs input [N, C, H, W] or [C, H, W], got [4,4]", NULL);
    expect_error(t, tg_avg_pool2d(t, tg_zeros(t, TG_SHAPE(2, 3, 0, 4)), &o), "has an empty spatial dimension", NULL);
    expect_error(t, tg_adaptive_avg_pool2d(t, x, -1, 2), "tg_adaptive_avg_pool2d: output size -1 x 2 is negative", NULL);
    expect_error(t, tg_max_pool2d(t, NULL, &o), "tg_max_pool2d: input is NULL", NULL);
    tg_tape_free(t);
}

/* An empty batch pools to an empty batch; a window that covers no input
   position (dilation and padding) gives −inf, index −1 and no gradient. */
Test(golden_pool, empty_batch_and_empty_windows)
{
    tg_tape *t = tg_tape_new();
    tg_pool_opts o = tg_pool_defaults(2, 2);
    tg_tensor *y = tg_max_pool2d(t, tg_zeros(t, TG_SHAPE(0, 3, 4, 4)), &o);
    cr_assert(y, "%s", tg_tape_error(t));
    cr_expect(y->shape[0] == 0 && y->shape[2] == 2 && y->shape[3] == 2);
    /* L = 2, kernel 2 with padding 1 and dilation 3: taps at −1 and 2 */
    const tg_real v[2] = {1, 2};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(1, 1, 2), v), true);
    o = tg_pool_defaults(2, 0);
    o.padding[0] = 1;
    o.dilation[0] = 3;
    tg_index *idx;
    y = tg_max_pool1d_with_indices(t, x, &o, &idx);
    cr_assert(y, "%s", tg_tape_error(t));
    cr_assert_eq(y->size, 1);
    cr_expect(isinf(y->data[0]) && y->data[0] < 0, "got %g", (double)y->data[0]);
    cr_expect_eq(idx->data[0], -1);
    cr_assert_eq(tg_backward(t, tg_sum(t, tg_clamp(t, y, -1, 1), TG_ALL, false)), TG_OK);
    cr_expect(x->grad[0] == 0 && x->grad[1] == 0);
    tg_tape_free(t);
}

/* The 2x2 windows of stride 2 (LeNet's pooling, read tap by tap): a tie
   goes to the first tap in row-major order, a NaN wins wherever it is. */
Test(golden_pool, two_by_two_ties_take_the_first_tap)
{
    tg_tape *t = tg_tape_new();
    /* four windows of one 4x4 plane: {0 5; 5 0}, {5 5; 5 5}, {0 0; 5 5}, {1 NaN; 2 3} */
    const tg_real v[16] = {0, 5, 5, 5, /* rows of the plane */
                           5, 0, 5, 5, /**/
                           0, 0, 1, NAN, /**/
                           5, 5, 2, 3};
    tg_pool_opts o = tg_pool_defaults(2, 2);
    tg_index *idx;
    tg_tensor *y = tg_max_pool2d_with_indices(t, tg_tensor_new(t, TG_SHAPE(1, 1, 4, 4), v), &o,
                                              &idx);
    cr_assert(y, "%s", tg_tape_error(t));
    const int64_t want[4] = {1, 2, 12, 11}; /* flat indices in the 4x4 plane */
    for (int i = 0; i < 4; i++)
        cr_expect_eq(idx->data[i], want[i], "window %d: index %lld, expected %lld", i,
                     (long long)idx->data[i], (long long)want[i]);
    cr_expect(y->data[0] == 5 && y->data[1] == 5 && y->data[2] == 5 && isnan(y->data[3]));
    tg_tape_free(t);
}
