/* Activation functions. */
#include "tg_internal.h"

/* tanh(x)      d/dx = 1 − tanh² = 1 − y² */
static int tanh_forward(tg_record *r)
{
    const tg_real *x = r->in[0]->data;
    tg_real *y = r->out->data;
    for (int64_t i = 0; i < r->out->size; i++) y[i] = TG_TANH(x[i]);
    return TG_OK;
}

static void tanh_backward(tg_record *r)
{
    const tg_real *y = r->out->data, *g = r->out->grad;
    tg_real *dx = r->in[0]->grad;
    for (int64_t i = 0; i < r->out->size; i++) dx[i] += g[i] * (1 - y[i] * y[i]);
}

static const tg_op op_tanh = {.name = "tanh", .n_inputs = 1, .shape = tg_shape_same,
                              .forward = tanh_forward, .backward = tanh_backward,
                              .doc = "tanh(x)"};

tg_tensor *tg_tanh(tg_tape *t, tg_tensor *x) { return tg_apply(t, &op_tanh, &x, 1, NULL); }

static const tg_op *const activation_ops[] = {&op_tanh};
const tg_op_table tg_activation_ops = {activation_ops, sizeof activation_ops / sizeof *activation_ops};
