/* The convolutions against PyTorch, first and second order
   (tests/golden/conv_*.txt, written by tests/gen_golden_conv.py): conv1d,
   conv2d, conv_transpose1d/2d and the weight gradients conv1d_weight and
   conv2d_weight, with every option (stride, padding, padding "same" with odd
   and even kernels, dilation, output_padding, groups and depthwise) and the
   shapes that bite (stride and dilation above 1, padding above half the
   kernel, output_padding at or over the stride, batch of 1, unbatched
   input, an empty batch, a kernel as large as the padded input, 1x1
   kernels, several samples per product); then bad input, each refused with
   a message naming the op and the shapes.

   Tolerances: as matmul's in test_golden_core.c. Each output is a sum of
   K = (C/groups)·kh·kw products, each weight gradient one of N·H_out·W_out;
   in float such a sum's rounding error scales with its terms, not its
   result, so where the terms cancel to a small value 1e-5 relative is
   below what any order of summation can promise (PyTorch's order is not
   tg_gemm's): float gets atol 1e-5, rtol stays 1e-5, double keeps its
   default. The LeNet-sized cases (op conv2d_large) sum up to 1152 products
   of unit normals: a float sum of n such terms, whose partial sums grow
   like √k, errs by about u·n/√2 (u = 2⁻²⁴: 5e-5 for n = 1152) in any order,
   and PyTorch's own float32 values there are off by up to 1.1e-4 from the
   float64 result at the same inputs (tests/gen_golden_conv.py --measure
   prints it; at most 4.2e-6 in the other cases): float gets atol 2.5e-4
   for them, PyTorch's error and tapegrad's of the same order. */
#include <criterion/criterion.h>

#include "builder_table.h"
#include "conv_builders.h"
#include "op_checks.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("conv");
    cr_assert(gold != NULL, "tests/golden/conv_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_conv, .init = load, .fini = unload);

static gt_tol sum_tol(void)
{
    gt_tol tol = gt_default_tol();
#ifndef TG_DOUBLE
    tol.atol = 1e-5;
#endif
    return tol;
}

#define GOLDEN(NAME)                                                                        \
    Test(golden_conv, NAME) { gt_run_op(gold, #NAME, b_##NAME, sum_tol()); }                \
    Test(golden_conv, NAME##_order2) { gt_run_op2(gold, #NAME, b_##NAME, sum_tol()); }

GOLDEN(conv1d)
GOLDEN(conv2d)

static gt_tol large_tol(void)
{
    gt_tol tol = gt_default_tol();
#ifndef TG_DOUBLE
    tol.atol = 2.5e-4;
#endif
    return tol;
}
Test(golden_conv, conv2d_large) { gt_run_op(gold, "conv2d_large", b_conv2d, large_tol()); }
Test(golden_conv, conv2d_large_order2) { gt_run_op2(gold, "conv2d_large", b_conv2d, large_tol()); }
GOLDEN(conv_transpose1d)
GOLDEN(conv_transpose2d)
GOLDEN(conv1d_weight)
GOLDEN(conv2d_weight)

#define B(NAME) {#NAME, b_##NAME}
static const gt_builder builders[] = {
    B(conv1d),        B(conv2d),        {"conv2d_large", b_conv2d}, B(conv_transpose1d),
    B(conv_transpose2d), B(conv1d_weight), B(conv2d_weight),
};
#undef B

Test(golden_conv, every_case_is_run)
{
    gt_expect_builders(gold, builders, sizeof builders / sizeof *builders);
}

/* Replay equals recording again, bit for bit, and tg_gradgradcheck, for
   every op (tests/support/replay_check.h, ggc_check.h). */
GT_BUILDER_FIND(find_builder, builders)
Test(golden_conv, replay_every_op) { gt_run_replay_file(gold, find_builder); }
Test(golden_conv, gradgradcheck_every_op) { gt_run_gradgradcheck_file(gold, find_builder); }

/* ------------------------------------------------------------- bad input */

Test(golden_conv, kernel_larger_than_the_padded_input)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(1, 1, 3, 3)), *w = tg_zeros(t, TG_SHAPE(1, 1, 5, 5));
    expect_error(t, tg_conv2d(t, x, w, NULL, NULL), "tg_conv2d: the padded input (3 x 3)",
                 "kernel (5 x 5 after dilation)");
    /* padding makes room; dilation takes it again */
    tg_tensor *y = tg_conv2d(t, x, w, NULL, &(tg_conv_opts){.padding = {1, 1}});
    cr_expect(y && y->shape[2] == 1 && y->shape[3] == 1, "%s", tg_tape_error(t));
    tg_tensor *w2 = tg_zeros(t, TG_SHAPE(1, 1, 2, 2));
    expect_error(t, tg_conv2d(t, x, w2, NULL, &(tg_conv_opts){.dilation = {3, 3}}),
                 "the padded input (3 x 3)", "kernel (4 x 4 after dilation)");
    tg_tensor *x1 = tg_zeros(t, TG_SHAPE(2, 1, 4)), *w1 = tg_zeros(t, TG_SHAPE(1, 1, 6));
    expect_error(t, tg_conv1d(t, x1, w1, NULL, NULL), "tg_conv1d: the padded input (length 4)",
                 "(6 after dilation)");
    tg_tensor *go = tg_zeros(t, TG_SHAPE(1, 1, 1, 1));
    expect_error(t, tg_conv2d_weight(t, x, (const int64_t[]){1, 1, 5, 5}, go, NULL),
                 "tg_conv2d_weight: the padded input (3 x 3)", NULL);
    tg_tape_free(t);
}

Test(golden_conv, channels_not_divisible_by_groups)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(1, 3, 4, 4));
    tg_tensor *w = tg_zeros(t, TG_SHAPE(2, 3, 1, 1));
    expect_error(t, tg_conv2d(t, x, w, NULL, &(tg_conv_opts){.groups = 2}),
                 "tg_conv2d: weight [2,3,1,1] with groups = 2 expects 6 input channels",
                 "the input has 3");
    tg_tensor *w3 = tg_zeros(t, TG_SHAPE(4, 1, 1, 1));
    expect_error(t, tg_conv2d(t, x, w3, NULL, &(tg_conv_opts){.groups = 3}),
                 "weight [4,1,1,1] has 4 output channels, not divisible by groups = 3", NULL);
    tg_tensor *wt = tg_zeros(t, TG_SHAPE(3, 1, 2, 2));
    expect_error(t, tg_conv_transpose2d(t, x, wt, NULL, &(tg_conv_opts){.groups = 2}),
                 "tg_conv_transpose2d: weight [3,1,2,2] needs 3 input channels, divisible by "
                 "groups = 2",
                 NULL);
    expect_error(t, tg_conv2d(t, x, w, NULL, &(tg_conv_opts){.groups = -1}),
                 "tg_conv2d: groups -1 is invalid", NULL);
    tg_tape_free(t);
}

Test(golden_conv, wrong_ranks_and_shapes)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(2, 3, 4, 4)), *w = tg_zeros(t, TG_SHAPE(2, 3, 3, 3));
    tg_tensor *x5 = tg_zeros(t, TG_SHAPE(1, 2, 3, 4, 4)), *w3 = tg_zeros(t, TG_SHAPE(2, 3, 3));
    expect_error(t, tg_conv2d(t, x5, w, NULL, NULL),
                 "tg_conv2d: needs input [N, C, H, W] (or [C, H, W])", "[1,2,3,4,4]");
    expect_error(t, tg_conv2d(t, x, w3, NULL, NULL), "tg_conv2d: needs input", "[2,3,3]");
    expect_error(t, tg_conv1d(t, x, w3, NULL, NULL), "tg_conv1d: needs input [N, C, L]",
                 "[2,3,4,4]");
    expect_error(t, tg_conv2d(t, x, w, tg_zeros(t, TG_SHAPE(3)), NULL),
                 "tg_conv2d: bias [3] does not match 2 output channels", NULL);
    expect_error(t, tg_conv2d(t, x, NULL, NULL, NULL), "tg_conv2d: the weight is NULL", NULL);
    expect_error(t, tg_conv2d(t, NULL, w, NULL, NULL), "tg_conv2d: input is NULL", NULL);
    /* options */
    expect_error(t, tg_conv2d(t, x, w, NULL, &(tg_conv_opts){.stride = {-1, 1}}),
                 "tg_conv2d: stride -1 is invalid", NULL);
    expect_error(t, tg_conv2d(t, x, w, NULL, &(tg_conv_opts){.padding = {0, -2}}),
                 "tg_conv2d: padding -2 is negative", NULL);
    expect_error(t, tg_conv2d(t, x, w, NULL,
                              &(tg_conv_opts){.padding_same = true, .stride = {2, 2}}),
                 "tg_conv2d: padding \"same\" needs stride 1", NULL);
    expect_error(t, tg_conv2d(t, x, w, NULL, &(tg_conv_opts){.output_padding = {1, 0}}),
                 "tg_conv2d: output_padding is for transposed convolutions", NULL);
    tg_tensor *wt = tg_zeros(t, TG_SHAPE(3, 2, 3, 3));
    expect_error(t, tg_conv_transpose2d(t, x, wt, NULL, &(tg_conv_opts){.padding_same = true}),
                 "tg_conv_transpose2d: padding \"same\" is for convolutions", NULL);
    expect_error(t,
                 tg_conv_transpose2d(t, x, wt, NULL,
                                     &(tg_conv_opts){.stride = {2, 2}, .output_padding = {2, 0}}),
                 "tg_conv_transpose2d: output_padding 2 must be smaller than the stride (2) or "
                 "the dilation (1)",
                 NULL);
    expect_error(t, tg_conv_transpose2d(t, x, wt, NULL, &(tg_conv_opts){.padding = {3, 3}}),
                 "tg_conv_transpose2d: the output size is too small", NULL);
    /* a grad_output that is not the convolution's output */
    tg_tensor *go = tg_zeros(t, TG_SHAPE(2, 2, 3, 3));
    expect_error(t, tg_conv2d_weight(t, x, (const int64_t[]){2, 3, 3, 3}, go, NULL),
                 "tg_conv2d_weight: grad_output [2,2,3,3] is not the output of a convolution "
                 "of [2,3,4,4] by [2,3,3,3]: [2,2,2,2]",
                 NULL);
    expect_error(t, tg_conv2d_weight(t, x, NULL, go, NULL), "weight_shape is NULL", NULL);
    tg_tape_free(t);
}

/* A kernel of size 0 is not a kernel; an empty channel axis is fine. */
Test(golden_conv, empty_kernels_and_channels)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(1, 2, 4, 4));
    expect_error(t, tg_conv2d(t, x, tg_zeros(t, TG_SHAPE(1, 2, 0, 3)), NULL, NULL),
                 "the kernel's size must be at least 1, got 0 x 3", NULL);
    /* no input channel: the output is the bias */
    tg_tensor *x0 = tg_zeros(t, TG_SHAPE(2, 0, 3, 3));
    tg_tensor *b = tg_full(t, TG_SHAPE(2), (tg_real)1.5);
    tg_tensor *y = tg_conv2d(t, x0, tg_zeros(t, TG_SHAPE(2, 0, 2, 2)), b, NULL);
    cr_assert(y, "%s", tg_tape_error(t));
    cr_expect_eq(y->size, 2 * 2 * 2 * 2);
    for (int64_t i = 0; i < y->size; i++) cr_expect_eq(y->data[i], (tg_real)1.5);
    tg_tape_free(t);
}
