/* Every loss against PyTorch: outputs and gradients (input, and a floating
   target where it requires grad) of every case in tests/golden/loss_*.txt,
   written by tests/gen_golden_act.py: each reduction (mean, sum, none), each
   option (beta, delta, pos_weight, ignore_index, label_smoothing, class
   weights), class indices and probability targets, shapes [27,13], [4,6,2]
   and more. Each case prints tdist of the output and of each gradient.
   Tolerances are gt_default_tol(): float rtol 1e-5 / atol 1e-6, double
   rtol 1e-12 / atol 1e-14. */
#include <criterion/criterion.h>
#include <math.h>

#include "act_builders.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("loss");
    cr_assert(gold != NULL, "tests/golden/loss_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_loss, .init = load, .fini = unload);

/* First order (the fast backward), then second order through create_graph,
   whose first order must agree with the fast one. */
#define GOLDEN(NAME)                                                                        \
    Test(golden_loss, NAME) { gt_run_op(gold, #NAME, b_##NAME, gt_default_tol()); }         \
    Test(golden_loss, NAME##_order2) { gt_run_op2(gold, #NAME, b_##NAME, gt_default_tol()); }

GOLDEN(mse_loss)
GOLDEN(l1_loss)
GOLDEN(smooth_l1_loss)
GOLDEN(huber_loss)
/* (second order: the golden file's is the exact derivative of bce's first,
   not F.binary_cross_entropy's double backward, which adds 1e-12 to p and
   1 − p in a denominator; see tests/gen_golden_act.py) */
GOLDEN(bce_loss)
GOLDEN(bce_with_logits)
GOLDEN(cross_entropy)
GOLDEN(cross_entropy_prob)
GOLDEN(nll_loss)

Test(golden_loss, every_case_is_run)
{
    for (int i = 0; i < gold->n; i++)
        cr_expect(builder_of(gold->cases[i].op) != NULL, "case %s: no builder for op %s",
                  gold->cases[i].name, gold->cases[i].op);
}

/* A class index out of range: NULL, and the message names the op, the
   index and the number of classes. */
Test(golden_loss, class_index_out_of_range)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_zeros(t, TG_SHAPE(3, 10)), true);
    const int64_t bad[3] = {1, 10, 0}, neg[3] = {1, -1, 0};
    cr_expect_null(tg_cross_entropy(t, x, bad, TG_REDUCE_MEAN));
    cr_expect(strstr(tg_tape_error(t), "tg_cross_entropy") && strstr(tg_tape_error(t), "= 10") &&
                  strstr(tg_tape_error(t), "10 classes"),
              "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_nll_loss(t, x, neg, NULL));
    cr_expect(strstr(tg_tape_error(t), "tg_nll_loss") && strstr(tg_tape_error(t), "= -1"), "%s",
              tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_cross_entropy(t, x, NULL, TG_REDUCE_SUM));
    tg_tape_clear_error(t);
    /* the _idx call shares the op: its tg_index is named as such */
    cr_expect_null(tg_cross_entropy_idx(t, x, tg_index_new(t, TG_SHAPE(3), bad), NULL));
    cr_expect(strstr(tg_tape_error(t), "the tg_index target[1] = 10 is out of range for 10 "
                                       "classes"), "%s", tg_tape_error(t));
    tg_tape_free(t);
}

/* The class indices are copied onto the tape: the caller may overwrite its
   buffer before backward. */
Test(golden_loss, target_buffer_may_be_reused)
{
    tg_tape *t = tg_tape_new();
    const tg_real xs[6] = {1, 2, 3, -1, 0, 4};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2, 3), xs), true);
    int64_t target[2] = {2, 0};
    tg_tensor *loss = tg_cross_entropy(t, x, target, TG_REDUCE_SUM);
    cr_assert(loss, "%s", tg_tape_error(t));
    target[0] = 0;
    target[1] = 1;
    cr_assert_eq(tg_backward(t, loss), TG_OK);
    /* d/dx = softmax − onehot(2, 0): row 0 ends in softmax − 1, row 1 starts so */
    double e0 = exp(1.0), e1 = exp(2.0), e2 = exp(3.0);
    cr_expect_float_eq(x->grad[2], e2 / (e0 + e1 + e2) - 1, 1e-6);
    double f0 = exp(-1.0), f1 = exp(0.0), f2 = exp(4.0);
    cr_expect_float_eq(x->grad[3], f0 / (f0 + f1 + f2) - 1, 1e-6);
    tg_tape_free(t);
}

Test(golden_loss, bad_arguments_fail_with_a_message)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *a = tg_zeros(t, TG_SHAPE(4, 5)), *b = tg_zeros(t, TG_SHAPE(5, 4));
    cr_expect_null(tg_mse_loss(t, a, b, TG_REDUCE_MEAN));
    cr_expect(strstr(tg_tape_error(t), "tg_mse_loss") && strstr(tg_tape_error(t), "[5,4]"), "%s",
              tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_mse_loss(t, a, a, (tg_reduction)9));
    tg_tape_clear_error(t);
    cr_expect_null(tg_huber_loss(t, a, a, 0, TG_REDUCE_MEAN));
    tg_tape_clear_error(t);
    cr_expect_null(tg_smooth_l1_loss(t, a, a, -1, TG_REDUCE_MEAN));
    tg_tape_clear_error(t);
    tg_tensor *p = tg_full(t, TG_SHAPE(4, 5), (tg_real)1.5);
    cr_expect_null(tg_bce_loss(t, p, a, TG_REDUCE_MEAN));
    cr_expect(strstr(tg_tape_error(t), "tg_bce_loss") && strstr(tg_tape_error(t), "[0, 1]"), "%s",
              tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_bce_with_logits(t, a, a, tg_zeros(t, TG_SHAPE(4)), TG_REDUCE_MEAN));
    cr_expect(strstr(tg_tape_error(t), "pos_weight"), "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    tg_ce_opts o = TG_CE_OPTS_DEFAULT;
    o.label_smoothing = 1.5;
    const int64_t tgt[4] = {0, 1, 2, 3};
    cr_expect_null(tg_cross_entropy_ex(t, a, tgt, &o));
    tg_tape_clear_error(t);
    o.label_smoothing = 0.1;
    cr_expect_null(tg_nll_loss(t, a, tgt, &o));
    tg_tape_clear_error(t);
    cr_expect_null(tg_cross_entropy_prob(t, a, b, NULL));
    tg_tape_clear_error(t);
    /* class weights must be [C]: here C = 5 */
    o = TG_CE_OPTS_DEFAULT;
    o.weight = tg_ones(t, TG_SHAPE(4));
    cr_expect_null(tg_cross_entropy_ex(t, a, tgt, &o));
    cr_expect(strstr(tg_tape_error(t), "tg_cross_entropy") &&
                  strstr(tg_tape_error(t), "weight [4] does not match 5 classes (needs [5])"),
              "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    o.weight = tg_ones(t, TG_SHAPE(1, 5));
    cr_expect_null(tg_nll_loss(t, a, tgt, &o));
    cr_expect(strstr(tg_tape_error(t), "tg_nll_loss") && strstr(tg_tape_error(t), "[1,5]"), "%s",
              tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_cross_entropy_prob(t, a, a, &o));
    cr_expect(strstr(tg_tape_error(t), "weight"), "%s", tg_tape_error(t));
    tg_tape_free(t);
}
