/* docs/higher-order.md's ```c blocks, each with the context it takes for
   granted (tests/docs/snippet.h says how this file is used). */
#include "snippet.h"
#include "swish.h"

/* What create_graph does to the tape: d2 = [-0.726862, 0.6397], 7 records */
SNIPPET(tanh_tape, "tg_tensor *x =")
static int tanh_tape(void)
{
    tg_tape *t = tg_tape_new();
#include "higher_order/tanh_tape.c"
    EXPECT(d2 && tg_tape_record_count(t) == 7);
    EXPECT_NEAR(d2->data[0], -0.726862, 1e-5);
    EXPECT_NEAR(d2->data[1], 0.6397, 1e-5);
    EXPECT_NEAR(y->data[0], -0.299477, 1e-5);
    tg_tape_free(t);
    return 0;
}

/* The records' backward_of, on the tape of the block above */
SNIPPET(backward_of, "for (")
static int backward_of(void)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2), (tg_real[]){0.5f, -1}), true);
    tg_tensor *y = tg_sum(t, tg_tanh(t, x), TG_ALL, false);
    tg_tensor *dy = tg_grad1(t, y, x, true);
    EXPECT(tg_grad1(t, tg_sum(t, dy, TG_ALL, false), x, false));
#include "higher_order/backward_of.c"
    const int want[7] = {-1, -1, 0, 0, 0, 0, -1};
    for (size_t i = 0; i < 7; i++) EXPECT(tg_tape_record(t, i)->backward_of == want[i]);
    tg_tape_free(t);
    return 0;
}

/* A small linear model's loss, for the blocks that take W, b and loss */
typedef struct {
    tg_params *p;
    tg_tensor *W, *b, *loss;
} linear_model;
static tg_tensor *linear_loss(tg_tape *t, linear_model *m)
{
    m->p = tg_params_new();
    m->W = tg_params_add(m->p, "fc.weight", TG_SHAPE(1, 3));
    m->b = tg_params_add(m->p, "fc.bias", TG_SHAPE(1));
    for (int i = 0; i < 3; i++) m->W->data[i] = (tg_real)(0.5 * i - 0.25);
    tg_tensor *x = tg_tensor_new(t, TG_SHAPE(2, 3), (tg_real[]){1, 2, 3, -1, 0, 2});
    tg_tensor *target = tg_tensor_new(t, TG_SHAPE(2, 1), (tg_real[]){1, -1});
    m->loss = tg_mse_loss(t, tg_tanh(t, tg_linear(t, x, m->W, m->b)), target, TG_REDUCE_MEAN);
    return m->loss;
}

/* tg_grad: the gradients as tensors, differentiable */
SNIPPET(tg_grad, "tg_tensor *in[2] =")
static int grad(void)
{
    tg_tape *t = tg_tape_new();
    linear_model m;
    tg_tensor *loss = linear_loss(t, &m), *W = m.W, *b = m.b;
#include "higher_order/tg_grad.c"
    EXPECT(g[0] && g[1] && (g[0]->flags & TG_REQUIRES_GRAD));
    for (int i = 0; i < 3; i++) EXPECT(!W->grad || W->grad[i] == 0); /* .grad untouched */
    tg_tape_free(t);
    tg_params_free(m.p);
    return 0;
}

/* tg_backward_ex: W->grad filled, and its gradient as a tensor */
SNIPPET(backward_ex, "tg_grad_opts o =")
static int backward_ex(void)
{
    tg_tape *t = tg_tape_new();
    linear_model m;
    tg_tensor *loss = linear_loss(t, &m), *W = m.W;
#include "higher_order/backward_ex.c"
    EXPECT(gW && r && W->grad && r->flags & TG_REQUIRES_GRAD);
    for (int i = 0; i < 3; i++) EXPECT(gW->data[i] == W->grad[i]);
    tg_tape_free(t);
    tg_params_free(m.p);
    return 0;
}

/* A vjp's type: tg_op's own */
SNIPPET(vjp_type, "int (*vjp)(")
#include "higher_order/vjp_type.c"
static int vjp_type(void)
{
    tg_op op = {.name = "mine", .vjp = vjp};
    EXPECT(op.vjp == NULL);
    return 0;
}

/* swish's vjp, in an op with swish.h's shape and forward, and the backward
   of gradcheck.md */
static void swish_backward(tg_record *r)
{
    const tg_real *x = r->in[0]->data, *g = r->out->grad, *s = r->saved;
    tg_real beta = r->in[1]->data[0];
    tg_real *dx = r->in[0]->grad, *dbeta = r->in[1]->grad;
    double db = 0;
    for (int64_t i = 0; i < r->out->size; i++) {
        tg_real ds = s[i] * (1 - s[i]);
        if (dx) dx[i] += g[i] * (s[i] + x[i] * ds * beta);
        db += (double)g[i] * x[i] * x[i] * ds;
    }
    if (dbeta) dbeta[0] += (tg_real)db;
}
SNIPPET(swish_vjp, "/* ∂y/∂x")
#include "higher_order/swish_vjp.c"
static const tg_op swish_op = {.name = "swish", .n_inputs = 2, .shape = swish_shape,
                               .forward = swish_forward, .backward = swish_backward,
                               .vjp = swish_vjp};
/* its second derivative, taken by tg_grad1 twice, against the formula
   y'' = β·s(1 − s)·(2 + βx(1 − 2s)) */
static int swish_second(void)
{
    const tg_real xs[4] = {-1.5f, 0, 0.3f, 2}, b = 0.8f;
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(4), xs), true);
    tg_tensor *in[2] = {x, tg_full(t, TG_SHAPE(1), b)};
    tg_tensor *y = tg_sum(t, tg_apply(t, &swish_op, in, 2, NULL), TG_ALL, false);
    tg_tensor *d2 = tg_grad1(t, tg_sum(t, tg_grad1(t, y, x, true), TG_ALL, false), x, false);
    EXPECT(d2);
    for (int i = 0; i < 4; i++) {
        double s = 1 / (1 + exp(-(double)b * xs[i]));
        EXPECT_NEAR(d2->data[i], b * s * (1 - s) * (2 + b * xs[i] * (1 - 2 * s)), 1e-5);
    }
    tg_tape_free(t);
    return 0;
}

/* tg_gradgradcheck of the registered swish */
SNIPPET(gradgradcheck, "/* the function checked", "tg_tensor *in[2] =")
#include "higher_order/gradgradcheck.defs.c"
static int gradgradcheck(void)
{
    EXPECT(tg_op_register(&swish_op) == TG_OK);
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3), (tg_real[]){-1, 0.5f, 2}), true);
    tg_tensor *beta = tg_requires_grad(tg_full(t, TG_SHAPE(1), 0.8f), true);
#include "higher_order/gradgradcheck.c"
    EXPECT(r.status == TG_OK && r.ok);
    EXPECT(tg_op_unregister("swish") == TG_OK);
    tg_tape_free(t);
    return 0;
}

/* The drivers, on small made-up functions. Six parameters of a 2-2-1 tanh
   network, and v = ones: */
static tg_tensor *net_loss(tg_tape *t, tg_params *p, tg_tensor **params)
{
    const char *names[6] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "s", "c"};
    const int64_t shapes[6][2] = {{2, 2}, {2, 0}, {1, 2}, {1, 0}, {1, 0}, {1, 0}};
    for (int i = 0; i < 6; i++) {
        params[i] = tg_params_add(p, names[i], shapes[i][1] ? 2 : 1, shapes[i]);
        for (int64_t k = 0; k < params[i]->size; k++)
            params[i]->data[k] = (tg_real)(0.3 * (i + 1) - 0.2 * (double)k);
    }
    tg_tensor *x = tg_tensor_new(t, TG_SHAPE(3, 2), (tg_real[]){1, 2, -1, 0.5f, 0, 1});
    tg_tensor *h = tg_tanh(t, tg_linear(t, x, params[0], params[1]));
    tg_tensor *out = tg_mul(t, tg_linear(t, h, params[2], params[3]), params[4]);
    return tg_sum(t, tg_square(t, tg_add(t, out, params[5])), TG_ALL, false);
}

SNIPPET(hvp, "tg_tensor *hv[")
static int hvp(void)
{
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *params[6], *v[6];
    tg_tensor *loss = net_loss(t, p, params);
    for (int i = 0; i < 6; i++) v[i] = tg_ones(t, params[i]->ndim, params[i]->shape);
#include "higher_order/hvp.c"
    for (int i = 0; i < 6; i++)
        EXPECT(hv[i] && hv[i]->ndim == params[i]->ndim && hv[i]->size == params[i]->size);
    tg_tape_free(t);
    tg_params_free(p);
    return 0;
}

/* y = x² elementwise: J·v = 2x·v */
SNIPPET(jvp, "tg_tensor *jv;")
static int jvp(void)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3), (tg_real[]){1, -2, 3}), true);
    tg_tensor *v = tg_tensor_new(t, TG_SHAPE(3), (tg_real[]){1, 1, 0.5f});
    tg_tensor *y = tg_square(t, x);
#include "higher_order/jvp.c"
    EXPECT(jv && jv->size == 3 && jv->data[0] == 2 && jv->data[1] == -4 && jv->data[2] == 3);
    tg_tape_free(t);
    return 0;
}

/* y [2] of x [3]: J [2, 3] */
SNIPPET(jacobian, "tg_tensor *J;")
static int jacobian(void)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3), (tg_real[]){1, -2, 3}), true);
    tg_tensor *A = tg_tensor_new(t, TG_SHAPE(2, 3), (tg_real[]){1, 2, 3, 4, 5, 6});
    tg_tensor *y = tg_matmul(t, A, tg_reshape(t, x, TG_SHAPE(3, 1)));
    y = tg_reshape(t, y, TG_SHAPE(2));
#include "higher_order/jacobian.c"
    EXPECT(J && J->ndim == 2 && J->shape[0] == 2 && J->shape[1] == 3);
    for (int i = 0; i < 6; i++) EXPECT(J->data[i] == A->data[i]);
    tg_tape_free(t);
    return 0;
}

/* the Hessian of the first four parameters of the network above */
SNIPPET(hessian, "tg_tensor *H[")
static int hessian(void)
{
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *params[6];
    tg_tensor *loss = net_loss(t, p, params);
#include "higher_order/hessian.c"
    EXPECT(H[0] && H[0]->ndim == 4 && H[1 * 4 + 0]->ndim == 3 && H[15]->ndim == 2);
    tg_tape_free(t);
    tg_params_free(p);
    return 0;
}

int main(void)
{
    const doc_block blocks[] = {
        {"tanh_tape", tanh_tape, true},
        {"backward_of", backward_of, true},
        {"tg_grad", grad, true},
        {"backward_ex", backward_ex, true},
        {"vjp_type", vjp_type, true},
        {"swish_vjp", swish_second, true},
        {"gradgradcheck", gradgradcheck, true},
        {"hvp", hvp, true},
        {"jvp", jvp, true},
        {"jacobian", jacobian, true},
        {"hessian", hessian, true},
    };
    return doc_run("docs/higher-order.md", blocks, sizeof blocks / sizeof *blocks);
}
