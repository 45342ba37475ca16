/* The normalisation ops against PyTorch, first and second order
   (tests/golden/norm_*.txt, written by tests/gen_golden_norm.py):
   batch_norm in training and evaluation ([N, C], [N, C, L], [N, C, H, W];
   with and without weight, bias and running statistics; a batch of 1 with
   positions; two values per channel), the running statistics after a
   training step (batch_norm_stats), layer_norm over one, two and all
   dimensions, group_norm (one group, instance norm, [N, C]) and rms_norm
   (recent PyTorch's formula; eps given and eps=None); then bad input.
   Tolerances: gt_default_tol() (statistics in double). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "builder_table.h"
#include "op_checks.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("norm");
    cr_assert(gold != NULL, "tests/golden/norm_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_norm, .init = load, .fini = unload);

/* The optional inputs after x, in the order the case lists them: running
   statistics (rs: two), weight (w), bias (b). */
typedef struct {
    tg_tensor *rm, *rv, *w, *b;
} optional_in;

static optional_in optional_of(tg_tensor **in, const gt_case *c)
{
    optional_in o = {0};
    int k = 1;
    if (gt_attr(c, "rs", 0)) o.rm = in[k++], o.rv = in[k++];
    if (gt_attr(c, "w", 0)) o.w = in[k++];
    if (gt_attr(c, "b", 0)) o.b = in[k++];
    return o;
}

static int normalized_shape(const gt_case *c, int64_t shape[TG_MAX_DIMS])
{
    int nd = (int)gt_attr(c, "nd", 0);
    for (int i = 0; i < nd && i < TG_MAX_DIMS; i++) {
        char k[8];
        snprintf(k, sizeof k, "n%d", i);
        shape[i] = (int64_t)gt_attr(c, k, 0);
    }
    return nd;
}

static tg_tensor *b_batch_norm(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    optional_in o = optional_of(in, c);
    return tg_batch_norm(t, in[0], o.rm, o.rv, o.w, o.b, gt_attr(c, "train", 0) != 0,
                         gt_attr(c, "momentum", TG_BATCH_NORM_MOMENTUM),
                         gt_attr(c, "eps", TG_NORM_EPS));
}

/* one training step on copies of the running statistics, then both */
static tg_tensor *b_batch_norm_stats(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_tensor *rm = tg_tensor_new(t, in[1]->ndim, in[1]->shape, in[1]->data);
    tg_tensor *rv = tg_tensor_new(t, in[2]->ndim, in[2]->shape, in[2]->data);
    if (!tg_batch_norm(t, in[0], rm, rv, NULL, NULL, true, gt_attr(c, "momentum", 0), 1e-5))
        return NULL;
    int64_t C = rm->size;
    tg_tensor *out = tg_zeros(t, TG_SHAPE(2 * C));
    for (int64_t i = 0; out && i < C; i++) out->data[i] = rm->data[i], out->data[C + i] = rv->data[i];
    return out;
}

static tg_tensor *b_layer_norm(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    optional_in o = optional_of(in, c);
    int64_t ns[TG_MAX_DIMS];
    int nd = normalized_shape(c, ns);
    return tg_layer_norm(t, in[0], nd, ns, o.w, o.b, gt_attr(c, "eps", TG_NORM_EPS));
}

static tg_tensor *b_group_norm(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    optional_in o = optional_of(in, c);
    return tg_group_norm(t, in[0], (int64_t)gt_attr(c, "groups", 1), o.w, o.b,
                         gt_attr(c, "eps", TG_NORM_EPS));
}

static tg_tensor *b_rms_norm(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    optional_in o = optional_of(in, c);
    int64_t ns[TG_MAX_DIMS];
    int nd = normalized_shape(c, ns);
    double eps = gt_attr(c, "auto", 0) ? TG_RMS_NORM_EPS_AUTO : gt_attr(c, "eps", 0);
    return tg_rms_norm(t, in[0], nd, ns, o.w, eps);
}

#define GOLDEN(NAME)                                                                        \
    Test(golden_norm, NAME) { gt_run_op(gold, #NAME, b_##NAME, gt_default_tol()); }         \
    Test(golden_norm, NAME##_order2) { gt_run_op2(gold, #NAME, b_##NAME, gt_default_tol()); }

GOLDEN(batch_norm)
GOLDEN(layer_norm)
GOLDEN(group_norm)
GOLDEN(rms_norm)
Test(golden_norm, batch_norm_stats)
{
    gt_run_op(gold, "batch_norm_stats", b_batch_norm_stats, gt_default_tol());
}

#define B(NAME) {#NAME, b_##NAME}
static const gt_builder builders[] = {
    B(batch_norm), B(batch_norm_stats), B(layer_norm), B(group_norm), B(rms_norm),
};
#undef B

Test(golden_norm, every_case_is_run)
{
    gt_expect_builders(gold, builders, sizeof builders / sizeof *builders);
}

/* Replay equals recording again, bit for bit, and tg_gradgradcheck, for
   every op (tests/support/replay_check.h, ggc_check.h). batch_norm_stats
   copies the running statistics into its result outside any op, which no
   replay redoes; the statistics themselves, updated in place by each
   replay of a training step, are compared in batch_norm's cases with rs. */
GT_BUILDER_FIND(find_builder, builders)
static const char *const replay_except[] = {"batch_norm_stats", NULL};
Test(golden_norm, replay_every_op) { gt_run_replay_file_except(gold, find_builder, replay_except); }
/* bn_train_two_values normalises two values per channel to exactly ±1:
   its second derivatives are differences of nearly equal terms (−1.8e−5
   against first derivatives near 1), which float finite differences of the
   first gradient cannot resolve; double checks it, float the next case.
   bn_train_eps0_const_channel sits where batch norm with eps = 0 is not
   continuous (a constant channel gives b, PyTorch's convention; any change
   of the channel gives ±1's): no finite difference applies. */
static const char *const ggc_except[] = {
#ifndef TG_DOUBLE
    "bn_train_two_values",
#endif
    "bn_train_eps0_const_channel", NULL};
Test(golden_norm, gradgradcheck_every_op)
{
    gt_run_gradgradcheck_file_except(gold, find_builder, ggc_except);
}

/* ------------------------------------------------------------- bad input */

Test(golden_norm, bad_input)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(4, 3, 5)), *c3 = tg_ones(t, TG_SHAPE(3));
    tg_tensor *c4 = tg_ones(t, TG_SHAPE(4));
    /* batch norm */
    expect_error(t, tg_batch_norm(t, tg_zeros(t, TG_SHAPE(1, 3)), NULL, NULL, NULL, NULL, true, 0.1, 1e-5),
                 "tg_batch_norm: training needs more than one value per channel, got input [1,3]", NULL);
    expect_error(t, tg_batch_norm(t, x, NULL, NULL, NULL, NULL, false, 0.1, 1e-5),
                 "tg_batch_norm: running_mean and running_var are needed in evaluation mode", NULL);
    expect_error(t, tg_batch_norm(t, x, c3, NULL, NULL, NULL, true, 0.1, 1e-5),
                 "running_mean and running_var go together", NULL);
    expect_error(t, tg_batch_norm(t, x, c3, c4, NULL, NULL, true, 0.1, 1e-5),
                 "tg_batch_norm: running_var [4] does not match the input [4,3,5]'s 3 channels", NULL);
    expect_error(t, tg_batch_norm(t, x, NULL, NULL, c3, c4, true, 0.1, 1e-5),
                 "bias [4] does not match", NULL);
    expect_error(t, tg_batch_norm(t, tg_zeros(t, TG_SHAPE(5)), NULL, NULL, NULL, NULL, true, 0.1, 1e-5),
                 "tg_batch_norm: needs input [N, C] or [N, C, ...], got [5]", NULL);
    tg_tensor *rg = tg_requires_grad(tg_zeros(t, TG_SHAPE(3)), true);
    expect_error(t, tg_batch_norm(t, x, rg, c3, NULL, NULL, true, 0.1, 1e-5),
                 "running_mean requires grad", NULL);
    expect_error(t, tg_batch_norm(t, x, NULL, NULL, NULL, NULL, true, 0.1, -1),
                 "tg_batch_norm: eps must be finite and >= 0", NULL);
    /* layer norm, rms norm */
    expect_error(t, tg_layer_norm(t, x, 1, (const int64_t[]){3}, NULL, NULL, 1e-5),
                 "tg_layer_norm: normalized_shape [3] is not the end of the input's shape [4,3,5]", NULL);
    expect_error(t, tg_layer_norm(t, x, 2, (const int64_t[]){3, 5}, c3, NULL, 1e-5),
                 "tg_layer_norm: weight [3] does not have the normalized shape [3,5]", NULL);
    expect_error(t, tg_layer_norm(t, x, 0, NULL, NULL, NULL, 1e-5),
                 "tg_layer_norm: normalized_shape needs 1..8 dimensions, got 0", NULL);
    expect_error(t, tg_rms_norm(t, x, 4, (const int64_t[]){1, 4, 3, 5}, NULL, 1e-5),
                 "tg_rms_norm: normalized_shape [1,4,3,5] is not the end", NULL);
    expect_error(t, tg_rms_norm(t, x, 1, (const int64_t[]){5}, c4, 1e-5),
                 "tg_rms_norm: weight [4] does not have the normalized shape [5]", NULL);
    /* group norm */
    expect_error(t, tg_group_norm(t, tg_zeros(t, TG_SHAPE(2, 6, 3)), 4, NULL, NULL, 1e-5),
                 "tg_group_norm: the input [2,6,3] has 6 channels, not divisible by num_groups = 4", NULL);
    expect_error(t, tg_group_norm(t, x, 0, NULL, NULL, 1e-5),
                 "tg_group_norm: num_groups must be at least 1", NULL);
    expect_error(t, tg_group_norm(t, x, 3, c4, NULL, 1e-5), "weight [4] does not match 3 channels", NULL);
    expect_error(t, tg_group_norm(t, NULL, 3, NULL, NULL, 1e-5), "tg_group_norm: input is NULL", NULL);
    tg_tape_free(t);
}

/* Evaluation reads the running statistics and leaves them; training
   updates them in place even with recording off (torch.no_grad()). */
Test(golden_norm, running_statistics_in_training_and_evaluation)
{
    tg_tape *t = tg_tape_new();
    const tg_real xs[6] = {1, 2, 3, 5, 7, 9}; /* [3, 2]: channel 0 {1, 3, 7}, 1 {2, 5, 9} */
    tg_tensor *x = tg_tensor_new(t, TG_SHAPE(3, 2), xs);
    tg_tensor *rm = tg_zeros(t, TG_SHAPE(2)), *rv = tg_ones(t, TG_SHAPE(2));
    tg_tensor *y = tg_batch_norm(t, x, rm, rv, NULL, NULL, false, 0.1, 0);
    cr_assert(y, "%s", tg_tape_error(t));
    cr_expect(rm->data[0] == 0 && rv->data[0] == 1, "evaluation changed the statistics");
    cr_expect_eq(y->data[2], 3); /* (3 − 0)/√1 */
    tg_tape_set_recording(t, false);
    cr_assert(tg_batch_norm(t, x, rm, rv, NULL, NULL, true, 0.5, 1e-5), "%s", tg_tape_error(t));
    /* channel 0: μ = 11/3, unbiased σ² = Σ(x − μ)²/2 = (68/9 + 4/9 + 100/9)/2 = 28/3 */
    cr_expect(fabs(rm->data[0] - 0.5 * 11.0 / 3) < 1e-6, "%g", (double)rm->data[0]);
    cr_expect(fabs(rv->data[0] - (0.5 + 0.5 * 28.0 / 3)) < 1e-5, "%g", (double)rv->data[0]);
    tg_tape_free(t);
}
