/* How each activation and loss case of the golden files (tests/gen_golden_act.py)
   is built with tapegrad: one function per op name, reading the case's
   attributes. Shared by test_golden_activation.c, test_golden_loss.c and
   test_extremes.c. Attribute `red` is the reduction (0 mean, 1 sum, 2 none). */
#ifndef TG_TEST_ACT_BUILDERS_H
#define TG_TEST_ACT_BUILDERS_H

#include <string.h>

#include "builder_table.h"

#define ATTR(k, d) ((tg_real)gt_attr(c, k, d))

static tg_tensor *b_sigmoid(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_sigmoid(t, in[0]); }
static tg_tensor *b_tanh(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_tanh(t, in[0]); }
static tg_tensor *b_relu(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_relu(t, in[0]); }
static tg_tensor *b_relu6(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_relu6(t, in[0]); }
static tg_tensor *b_leaky_relu(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_leaky_relu(t, in[0], ATTR("slope", TG_LEAKY_RELU_SLOPE)); }
static tg_tensor *b_elu(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_elu(t, in[0], ATTR("alpha", TG_ELU_ALPHA)); }
static tg_tensor *b_selu(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_selu(t, in[0]); }
static tg_tensor *b_celu(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_celu(t, in[0], ATTR("alpha", TG_CELU_ALPHA)); }
static tg_tensor *b_softplus(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_softplus(t, in[0], ATTR("beta", TG_SOFTPLUS_BETA), ATTR("threshold", TG_SOFTPLUS_THRESHOLD));
}
static tg_tensor *b_softsign(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_softsign(t, in[0]); }
static tg_tensor *b_gelu(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_gelu(t, in[0], gt_attr(c, "approx", 0) ? TG_GELU_TANH : TG_GELU_NONE);
}
static tg_tensor *b_silu(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_silu(t, in[0]); }
static tg_tensor *b_mish(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_mish(t, in[0]); }
static tg_tensor *b_hardtanh(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_hardtanh(t, in[0], ATTR("min", TG_HARDTANH_MIN), ATTR("max", TG_HARDTANH_MAX));
}
static tg_tensor *b_hardsigmoid(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_hardsigmoid(t, in[0]); }
static tg_tensor *b_hardswish(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_hardswish(t, in[0]); }
static tg_tensor *b_logsigmoid(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_logsigmoid(t, in[0]); }
static tg_tensor *b_prelu(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_prelu(t, in[0], in[1]); }
static tg_tensor *b_softmax(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_softmax(t, in[0], (int)gt_attr(c, "axis", -1)); }
static tg_tensor *b_log_softmax(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_log_softmax(t, in[0], (int)gt_attr(c, "axis", -1)); }

static tg_reduction red_of(const gt_case *c) { return (tg_reduction)(int)gt_attr(c, "red", TG_REDUCE_MEAN); }
static tg_ce_opts opts_of(const gt_case *c)
{
    tg_ce_opts o = TG_CE_OPTS_DEFAULT;
    o.reduction = red_of(c);
    o.ignore_index = (int64_t)gt_attr(c, "ignore_index", TG_IGNORE_INDEX);
    o.label_smoothing = gt_attr(c, "smoothing", 0);
    return o;
}

static tg_tensor *b_mse_loss(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_mse_loss(t, in[0], in[1], red_of(c)); }
static tg_tensor *b_l1_loss(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_l1_loss(t, in[0], in[1], red_of(c)); }
static tg_tensor *b_smooth_l1_loss(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_smooth_l1_loss(t, in[0], in[1], ATTR("beta", TG_SMOOTH_L1_BETA), red_of(c));
}
static tg_tensor *b_huber_loss(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_huber_loss(t, in[0], in[1], ATTR("delta", TG_HUBER_DELTA), red_of(c));
}
static tg_tensor *b_bce_loss(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_bce_loss(t, in[0], in[1], red_of(c)); }
static tg_tensor *b_bce_with_logits(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_bce_with_logits(t, in[0], in[1], c->n_in > 2 ? in[2] : NULL, red_of(c));
}
/* The plain form when the options are the defaults, so both entry points
   run. The class weights, when a case has them, are its last input. */
static tg_tensor *b_cross_entropy(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_ce_opts o = opts_of(c);
    o.weight = c->n_in > 1 ? in[1] : NULL;
    if (o.ignore_index == TG_IGNORE_INDEX && o.label_smoothing == 0 && !o.weight)
        return tg_cross_entropy(t, in[0], c->index, o.reduction);
    return tg_cross_entropy_ex(t, in[0], c->index, &o);
}
static tg_tensor *b_cross_entropy_prob(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_ce_opts o = opts_of(c);
    o.weight = c->n_in > 2 ? in[2] : NULL;
    return tg_cross_entropy_prob(t, in[0], in[1], &o);
}
static tg_tensor *b_nll_loss(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_ce_opts o = opts_of(c);
    o.weight = c->n_in > 1 ? in[1] : NULL;
    return tg_nll_loss(t, in[0], c->index, &o);
}

typedef gt_builder act_builder;

#define B(NAME) {#NAME, b_##NAME}
static const act_builder act_builders[] = {
    B(sigmoid), B(tanh), B(relu), B(relu6), B(leaky_relu), B(elu), B(selu), B(celu),
    B(softplus), B(softsign), B(gelu), B(silu), B(mish), B(hardtanh), B(hardsigmoid),
    B(hardswish), B(logsigmoid), B(prelu), B(softmax), B(log_softmax),
};
static const act_builder loss_builders[] = {
    B(mse_loss), B(l1_loss), B(smooth_l1_loss), B(huber_loss), B(bce_loss),
    B(bce_with_logits), B(cross_entropy), B(cross_entropy_prob), B(nll_loss),
};
#undef B

/* The builder of an op name in either table, or NULL. */
static inline gt_build_fn builder_of(const char *op)
{
    gt_build_fn b = gt_builder_find(act_builders, sizeof act_builders / sizeof *act_builders, op);
    return b ? b : gt_builder_find(loss_builders, sizeof loss_builders / sizeof *loss_builders, op);
}

#endif
