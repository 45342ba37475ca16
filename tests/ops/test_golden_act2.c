/* The activations and losses added after tests/ops/test_golden_activation.c
   and test_golden_loss.c, against PyTorch: outputs, first and second order
   of every case in tests/golden/act2_*.txt (written by
   tests/gen_golden_act2.py): softmin, glu, the shrinks, threshold, logit;
   the regression losses with a broadcast target; bce and bce_with_logits
   with `weight`; kl_div, cosine_similarity, cosine_embedding_loss,
   margin_ranking_loss, hinge_embedding_loss, multi_margin_loss,
   triplet_margin_loss, poisson_nll_loss and gaussian_nll_loss, each
   reduction and option. Tolerances are gt_default_tol(): float rtol 1e-5 /
   atol 1e-6, double rtol 1e-12 / atol 1e-14. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "builder_table.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("act2");
    cr_assert(gold != NULL, "tests/golden/act2_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_act2, .init = load, .fini = unload);

#define A(k, d) ((tg_real)gt_attr(c, k, d))
#define FLAG(k) (gt_attr(c, k, 0) != 0)
static tg_reduction red_of(const gt_case *c) { return (tg_reduction)(int)gt_attr(c, "red", 0); }

static tg_tensor *b_softmin(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_softmin(t, in[0], (int)gt_attr(c, "axis", -1)); }
static tg_tensor *b_glu(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_glu(t, in[0], (int)gt_attr(c, "axis", -1)); }
static tg_tensor *b_hardshrink(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_hardshrink(t, in[0], A("lambd", TG_HARDSHRINK_LAMBDA)); }
static tg_tensor *b_softshrink(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_softshrink(t, in[0], A("lambd", TG_SOFTSHRINK_LAMBDA)); }
static tg_tensor *b_tanhshrink(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_tanhshrink(t, in[0]); }
static tg_tensor *b_threshold(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_threshold(t, in[0], A("threshold", 0), A("value", 0)); }
static tg_tensor *b_logit(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_logit(t, in[0], A("eps", TG_LOGIT_NO_EPS)); }

static tg_tensor *b_mse_loss(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_mse_loss(t, in[0], in[1], red_of(c)); }
static tg_tensor *b_l1_loss(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_l1_loss(t, in[0], in[1], red_of(c)); }
static tg_tensor *b_smooth_l1_loss(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_smooth_l1_loss(t, in[0], in[1], A("beta", 1), red_of(c)); }
static tg_tensor *b_huber_loss(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_huber_loss(t, in[0], in[1], A("delta", 1), red_of(c)); }
/* the weight (a constant) is the third input */
static tg_tensor *b_bce_loss(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_bce_loss_ex(t, in[0], in[1], in[2], red_of(c)); }
/* the inputs are the logits, the target, then pos_weight and weight where the case has them */
static tg_tensor *b_bce_with_logits(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    bool pw = FLAG("has_pw"), w = FLAG("has_w");
    return tg_bce_with_logits_ex(t, in[0], in[1], w ? in[pw ? 3 : 2] : NULL, pw ? in[2] : NULL,
                                 red_of(c));
}
static tg_tensor *b_kl_div(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_kl_div(t, in[0], in[1], red_of(c), FLAG("log_target")); }
static tg_tensor *b_cosine_similarity(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_cosine_similarity(t, in[0], in[1], (int)gt_attr(c, "dim", 1), A("eps", TG_COSINE_EPS));
}
static tg_tensor *b_cosine_embedding_loss(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_cosine_embedding_loss(t, in[0], in[1], in[2], A("margin", 0), red_of(c));
}
static tg_tensor *b_margin_ranking_loss(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_margin_ranking_loss(t, in[0], in[1], in[2], A("margin", 0), red_of(c));
}
static tg_tensor *b_hinge_embedding_loss(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_hinge_embedding_loss(t, in[0], in[1], A("margin", TG_HINGE_MARGIN), red_of(c));
}
/* the targets: [N] for a 2-D input; for a 1-D one, 0-d (t0d) or [1]; the
   class weights, when the case has them, are its second input */
static tg_tensor *b_multi_margin_loss(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    int64_t n = c->n_index;
    tg_index *y = FLAG("t0d") ? tg_index_new(t, 0, NULL, c->index)
                              : tg_index_new(t, 1, &n, c->index);
    return tg_multi_margin_loss(t, in[0], y, (int)gt_attr(c, "p", 1), A("margin", 1),
                                c->n_in > 1 ? in[1] : NULL, red_of(c));
}
static tg_tensor *b_triplet_margin_loss(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_triplet_margin_loss(t, in[0], in[1], in[2], A("margin", TG_TRIPLET_MARGIN),
                                  A("p", TG_TRIPLET_P), A("eps", TG_TRIPLET_EPS), FLAG("swap"),
                                  red_of(c));
}
static tg_tensor *b_poisson_nll_loss(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_poisson_nll_loss(t, in[0], in[1], FLAG("log_input"), FLAG("full"),
                               A("eps", TG_POISSON_EPS), red_of(c));
}
static tg_tensor *b_gaussian_nll_loss(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_gaussian_nll_loss(t, in[0], in[1], in[2], FLAG("full"), A("eps", TG_GAUSSIAN_EPS),
                                red_of(c));
}

#define B(NAME) {#NAME, b_##NAME}
static const gt_builder builders[] = {
    B(softmin), B(glu), B(hardshrink), B(softshrink), B(tanhshrink), B(threshold), B(logit),
    B(mse_loss), B(l1_loss), B(smooth_l1_loss), B(huber_loss), B(bce_loss), B(bce_with_logits),
    B(kl_div), B(cosine_similarity), B(cosine_embedding_loss), B(margin_ranking_loss),
    B(hinge_embedding_loss), B(multi_margin_loss), B(triplet_margin_loss), B(poisson_nll_loss),
    B(gaussian_nll_loss),
};
#undef B

/* First order (the fast backward), then second order through create_graph,
   whose first order must agree with the fast one. */
#define GOLDEN(NAME)                                                                        \
    Test(golden_act2, NAME) { gt_run_op(gold, #NAME, b_##NAME, gt_default_tol()); }         \
    Test(golden_act2, NAME##_order2) { gt_run_op2(gold, #NAME, b_##NAME, gt_default_tol()); }

GOLDEN(softmin)
GOLDEN(glu)
GOLDEN(hardshrink)
GOLDEN(softshrink)
GOLDEN(tanhshrink)
GOLDEN(threshold)
GOLDEN(logit)
GOLDEN(mse_loss)
GOLDEN(l1_loss)
GOLDEN(smooth_l1_loss)
GOLDEN(huber_loss)
GOLDEN(bce_loss)
GOLDEN(bce_with_logits)
GOLDEN(kl_div)
GOLDEN(cosine_similarity)
GOLDEN(cosine_embedding_loss)
GOLDEN(margin_ranking_loss)
GOLDEN(hinge_embedding_loss)
GOLDEN(multi_margin_loss)
GOLDEN(triplet_margin_loss)
GOLDEN(poisson_nll_loss)
GOLDEN(gaussian_nll_loss)

Test(golden_act2, every_case_is_run)
{
    gt_expect_builders(gold, builders, sizeof builders / sizeof *builders);
}

/* Replay equals recording again, bit for bit, and tg_gradgradcheck, for
   every op (tests/support/replay_check.h, ggc_check.h). */
GT_BUILDER_FIND(find_builder, builders)
Test(golden_act2, replay_every_op) { gt_run_replay_file(gold, find_builder); }
Test(golden_act2, gradgradcheck_every_op) { gt_run_gradgradcheck_file(gold, find_builder); }

/* softshrink(NaN) is NaN here, by the rule of every activation (PyTorch 1.13
   returns 0 there, so the golden files hold no NaN case for it). */
Test(golden_act2, softshrink_keeps_nan)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_softshrink(t, tg_full(t, TG_SHAPE(2), (tg_real)NAN), (tg_real)0.5);
    cr_assert(y);
    cr_expect(isnan(y->data[0]) && isnan(y->data[1]));
    tg_tape_free(t);
}

/* The error of op `op` contains every string of `want` (NULL-ended). */
static void expect_error(tg_tape *t, tg_tensor *y, const char *op, const char *const *want)
{
    cr_expect_null(y, "%s accepted bad arguments", op);
    cr_expect(strstr(tg_tape_error(t), op), "%s: %s", op, tg_tape_error(t));
    for (int i = 0; want[i]; i++)
        cr_expect(strstr(tg_tape_error(t), want[i]), "%s: '%s' not in: %s", op, want[i],
                  tg_tape_error(t));
    tg_tape_clear_error(t);
}
#define EXPECT_ERROR(Y, OP, ...) expect_error(t, (Y), OP, (const char *const[]){__VA_ARGS__, NULL})

Test(golden_act2, bad_activation_arguments)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(4, 3));
    EXPECT_ERROR(tg_glu(t, x, 1), "tg_glu", "even", "[4,3]");
    EXPECT_ERROR(tg_glu(t, x, 2), "tg_glu", "axis 2", "out of range");
    EXPECT_ERROR(tg_glu(t, x, -3), "tg_glu", "axis -3");
    EXPECT_ERROR(tg_glu(t, tg_scalar(t, 1), 0), "tg_glu", "scalar");
    EXPECT_ERROR(tg_softmin(t, x, 2), "tg_softmin", "axis 2");
    EXPECT_ERROR(tg_softshrink(t, x, -1), "tg_softshrink", "lambda");
    EXPECT_ERROR(tg_tanhshrink(t, NULL), "tg_tanhshrink", "NULL");
    tg_tape_free(t);
}

Test(golden_act2, bad_loss_arguments)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *a = tg_zeros(t, TG_SHAPE(4, 5)), *b = tg_zeros(t, TG_SHAPE(5, 4));
    tg_tensor *p = tg_full(t, TG_SHAPE(4, 5), (tg_real)0.5), *v5 = tg_ones(t, TG_SHAPE(5));
    EXPECT_ERROR(tg_kl_div(t, a, b, TG_REDUCE_SUM, false), "tg_kl_div", "[5,4]");
    EXPECT_ERROR(tg_mse_loss(t, a, a, TG_REDUCE_BATCHMEAN), "tg_mse_loss", "reduction 3");
    EXPECT_ERROR(tg_kl_div(t, a, NULL, TG_REDUCE_SUM, false), "tg_kl_div", "target", "NULL");
    EXPECT_ERROR(tg_bce_loss_ex(t, p, p, b, TG_REDUCE_MEAN), "tg_bce_loss", "weight [5,4]");
    EXPECT_ERROR(tg_bce_loss_ex(t, p, p, tg_ones(t, TG_SHAPE(2, 4, 5)), TG_REDUCE_MEAN),
                 "tg_bce_loss", "does not broadcast to the input's shape");
    EXPECT_ERROR(tg_bce_with_logits_ex(t, a, a, b, NULL, TG_REDUCE_MEAN), "tg_bce_with_logits",
                 "weight [5,4]");
    EXPECT_ERROR(tg_cosine_similarity(t, a, b, 1, (tg_real)1e-8), "tg_cosine_similarity",
                 "[4,5]", "[5,4]");
    EXPECT_ERROR(tg_cosine_similarity(t, a, a, 2, (tg_real)1e-8), "tg_cosine_similarity", "dim 2");
    EXPECT_ERROR(tg_cosine_embedding_loss(t, a, a, tg_ones(t, TG_SHAPE(4, 1)), 0, TG_REDUCE_MEAN),
                 "tg_cosine_embedding_loss", "target [4,1]");
    EXPECT_ERROR(tg_cosine_embedding_loss(t, a, a, v5, 0, TG_REDUCE_MEAN),
                 "tg_cosine_embedding_loss", "[5]");
    EXPECT_ERROR(tg_margin_ranking_loss(t, a, v5, a, 0, TG_REDUCE_MEAN), "tg_margin_ranking_loss",
                 "number of dimensions");
    EXPECT_ERROR(tg_hinge_embedding_loss(t, a, b, 1, TG_REDUCE_MEAN), "tg_hinge_embedding_loss",
                 "[5,4]");
    EXPECT_ERROR(tg_triplet_margin_loss(t, a, v5, a, 1, 2, (tg_real)1e-6, false, TG_REDUCE_MEAN),
                 "tg_triplet_margin_loss", "number of dimensions");
    EXPECT_ERROR(tg_triplet_margin_loss(t, a, a, a, 1, (tg_real)0.5, (tg_real)1e-6, false,
                                        TG_REDUCE_MEAN), "tg_triplet_margin_loss", "p must");
    EXPECT_ERROR(tg_poisson_nll_loss(t, a, b, true, false, (tg_real)1e-8, TG_REDUCE_MEAN),
                 "tg_poisson_nll_loss", "[5,4]");
    /* gaussian: var of no accepted shape, a negative var */
    EXPECT_ERROR(tg_gaussian_nll_loss(t, a, a, v5, false, (tg_real)1e-6, TG_REDUCE_MEAN),
                 "tg_gaussian_nll_loss", "var [5]");
    tg_tensor *neg = tg_ones(t, TG_SHAPE(4, 5));
    neg->data[7] = -1;
    EXPECT_ERROR(tg_gaussian_nll_loss(t, a, a, neg, false, (tg_real)1e-6, TG_REDUCE_MEAN),
                 "tg_gaussian_nll_loss", "var[7]", "negative");
    /* multi_margin: an index out of range, a negative one, p, the weight, the target's shape */
    const int64_t bad[4] = {0, 5, 1, 2}, minus[4] = {0, 1, -1, 2};
    int64_t four = 4, three = 3;
    EXPECT_ERROR(tg_multi_margin_loss(t, a, tg_index_new(t, 1, &four, bad), 1, 1, NULL,
                                      TG_REDUCE_MEAN), "tg_multi_margin_loss", "target[1] = 5",
                 "5 classes");
    EXPECT_ERROR(tg_multi_margin_loss(t, a, tg_index_new(t, 1, &four, minus), 1, 1, NULL,
                                      TG_REDUCE_MEAN), "tg_multi_margin_loss", "target[2] = -1");
    EXPECT_ERROR(tg_multi_margin_loss(t, a, tg_index_new(t, 1, &four, bad), 3, 1, NULL,
                                      TG_REDUCE_MEAN), "tg_multi_margin_loss", "p must be 1 or 2");
    EXPECT_ERROR(tg_multi_margin_loss(t, a, tg_index_new(t, 1, &four, minus), 1, 1, b,
                                      TG_REDUCE_MEAN), "tg_multi_margin_loss", "weight [5,4]");
    EXPECT_ERROR(tg_multi_margin_loss(t, a, tg_index_new(t, 1, &three, bad), 1, 1, NULL,
                                      TG_REDUCE_MEAN), "tg_multi_margin_loss", "target [3]");
    EXPECT_ERROR(tg_multi_margin_loss(t, a, NULL, 1, 1, NULL, TG_REDUCE_MEAN),
                 "tg_multi_margin_loss", "target is NULL");
    /* an index from another tape */
    tg_tape *other = tg_tape_new();
    const int64_t ok[4] = {0, 1, 2, 3};
    EXPECT_ERROR(tg_multi_margin_loss(t, a, tg_index_new(other, 1, &four, ok), 1, 1, NULL,
                                      TG_REDUCE_MEAN), "tg_multi_margin_loss", "another tape");
    tg_tape_free(other);
    tg_tape_free(t);
}

/* The mean of no sample is NaN, not PyTorch 1.13's uninitialised value. */
Test(golden_act2, multi_margin_mean_of_nothing_is_nan)
{
    tg_tape *t = tg_tape_new();
    int64_t zero = 0;
    tg_tensor *x = tg_zeros(t, TG_SHAPE(0, 3));
    tg_tensor *l = tg_multi_margin_loss(t, x, tg_index_new(t, 1, &zero, &zero), 1, 1, NULL,
                                        TG_REDUCE_MEAN);
    cr_assert(l, "%s", tg_tape_error(t));
    cr_expect(isnan(l->data[0]));
    tg_tape_free(t);
}

/* Empty inputs: the mean of nothing is NaN, the sum 0, NONE an empty
   tensor, and backward runs (PyTorch's results). */
Test(golden_act2, empty_inputs)
{
    tg_tape *t = tg_tape_new();
    for (int red = 0; red < 3; red++) {
        tg_tensor *x = tg_requires_grad(tg_zeros(t, TG_SHAPE(0, 4)), true);
        tg_tensor *y = tg_ones(t, TG_SHAPE(0, 4)), *row = tg_ones(t, TG_SHAPE(0));
        tg_tensor *l[6] = {
            tg_kl_div(t, x, y, (tg_reduction)red, false),
            tg_poisson_nll_loss(t, x, y, true, true, (tg_real)1e-8, (tg_reduction)red),
            tg_gaussian_nll_loss(t, x, y, y, false, (tg_real)1e-6, (tg_reduction)red),
            tg_margin_ranking_loss(t, x, y, y, 1, (tg_reduction)red),
            tg_triplet_margin_loss(t, x, y, y, 1, 2, (tg_real)1e-6, true, (tg_reduction)red),
            tg_cosine_embedding_loss(t, x, y, row, 0, (tg_reduction)red),
        };
        for (int i = 0; i < 6; i++) {
            cr_assert(l[i], "loss %d, reduction %d: %s", i, red, tg_tape_error(t));
            if (red == TG_REDUCE_NONE) {
                cr_expect_eq(l[i]->size, 0, "loss %d", i);
                continue;
            }
            cr_expect(red == TG_REDUCE_MEAN ? isnan(l[i]->data[0]) : l[i]->data[0] == 0,
                      "loss %d, reduction %d: %g", i, red, (double)l[i]->data[0]);
            cr_expect_eq(tg_backward(t, l[i]), TG_OK, "%s", tg_tape_error(t));
        }
        tg_tape_reset(t);
    }
    tg_tape_free(t);
}

/* Shapes whose broadcast would not fit in memory are refused, not wrapped
   around: [2^40, 1, 0] and [1, 2^40, 0] hold nothing each, but their
   broadcast's dimensions multiply past int64 (tg_shape_numel's rule, which
   tg_zeros follows too). */
Test(golden_act2, huge_broadcast_is_refused)
{
    tg_tape *t = tg_tape_new();
    int64_t n = (int64_t)1 << 40;
    tg_tensor *a = tg_zeros(t, 3, (const int64_t[]){n, 1, 0});
    tg_tensor *b = tg_zeros(t, 3, (const int64_t[]){1, n, 0});
    cr_assert(a && b, "%s", tg_tape_error(t));
    EXPECT_ERROR(tg_mse_loss(t, a, b, TG_REDUCE_SUM), "tg_mse_loss", "memory");
    EXPECT_ERROR(tg_cosine_similarity(t, a, b, 1, (tg_real)1e-8), "tg_cosine_similarity", "memory");
    EXPECT_ERROR(tg_triplet_margin_loss(t, a, b, a, 1, 2, (tg_real)1e-6, false, TG_REDUCE_SUM),
                 "tg_triplet_margin_loss", "memory");
    tg_tape_free(t);
}

/* The second pass both ways: the gradient of ⟨∇L, V⟩ through the fast
   kernels (create_graph off) and through the vjps (create_graph on) must
   agree. The golden second order takes the first way only, so this is
   where the vjps of the ops that the first vjps record are checked (the
   clamp outside the gradient of gaussian_nll_loss's var and
   cosine_similarity's norms among them: values clamped here). */
static tg_tensor *second_pass_loss(tg_tape *t, tg_tensor **in, int which)
{
    if (which == 0)
        return tg_gaussian_nll_loss(t, in[0], in[1], in[2], false, (tg_real)0.05, TG_REDUCE_SUM);
    return tg_sum(t, tg_cosine_similarity(t, in[0], in[1], 1, (tg_real)0.5), TG_ALL, false);
}

Test(golden_act2, second_pass_through_vjps_agrees)
{
    const tg_real x[6] = {0.3, -1.2, 0.8, 0.1, 0.05, -0.2}, y[6] = {0.5, 0.4, -0.3, 1.1, -0.1, 0.2};
    const tg_real v[6] = {0.01, 0.7, 0.02, 1.5, 0.3, 0.001}; /* some under eps = 0.05 */
    const tg_real V[3][6] = {{0.3, -0.2, 0.5, 0.1, -0.4, 0.2},
                             {-0.1, 0.6, 0.2, -0.3, 0.25, 0.4},
                             {0.2, 0.1, -0.5, 0.3, 0.1, -0.2}};
    for (int which = 0; which < 2; which++) {
        tg_real got[2][3][6];
        int n = which == 0 ? 3 : 2;
        for (int cg = 0; cg < 2; cg++) {
            tg_tape *t = tg_tape_new();
            tg_tensor *in[3], *g[3], *gg[3] = {0};
            const tg_real *vals[3] = {x, y, v};
            for (int k = 0; k < n; k++)
                in[k] = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2, 3), vals[k]), true);
            tg_tensor *L = second_pass_loss(t, in, which);
            tg_grad_opts on = {.create_graph = true, .allow_unused = true};
            cr_assert_eq(tg_grad(t, 1, &L, NULL, n, in, g, &on), TG_OK, "%s", tg_tape_error(t));
            tg_tensor *s = NULL;
            for (int k = 0; k < n; k++) {
                tg_tensor *d = tg_sum(t, tg_mul(t, g[k], tg_tensor_new(t, TG_SHAPE(2, 3), V[k])),
                                      TG_ALL, false);
                s = s ? tg_add(t, s, d) : d;
            }
            tg_grad_opts second = {.create_graph = cg != 0, .allow_unused = true};
            cr_assert_eq(tg_grad(t, 1, &s, NULL, n, in, gg, &second), TG_OK, "%s",
                         tg_tape_error(t));
            for (int k = 0; k < n; k++) memcpy(got[cg][k], gg[k]->data, sizeof got[cg][k]);
            tg_tape_free(t);
        }
        for (int k = 0; k < n; k++) {
            double want[6];
            char what[64];
            for (int i = 0; i < 6; i++) want[i] = got[0][k][i];
            snprintf(what, sizeof what, "loss %d, input %d: the vjps' against the kernels'",
                     which, k);
            gt_expect_close(got[1][k], want, 6, gt_default_tol(), what);
        }
    }
}
