/* Extreme inputs against PyTorch (tests/golden/extreme_*.txt, written by
   tests/gen_golden_act.py): |x| up to 1e4, ±inf, NaN, probabilities exactly
   0 and 1, logits of ±1e4. Every value and gradient must match PyTorch's:
   finite where PyTorch's is finite (within gt_default_tol), and the same
   NaN or ±inf where PyTorch gives one (gt_expect_close compares those
   exactly). */
#include <criterion/criterion.h>
#include <math.h>

#include "act_builders.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("extreme");
    cr_assert(gold != NULL, "tests/golden/extreme_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(extremes, .init = load, .fini = unload);

#define EXTREME(NAME) \
    Test(extremes, NAME) { gt_run_op(gold, #NAME, b_##NAME, gt_default_tol()); }

EXTREME(sigmoid)
EXTREME(tanh)
EXTREME(relu)
EXTREME(relu6)
EXTREME(leaky_relu)
EXTREME(elu)
EXTREME(selu)
EXTREME(celu)
EXTREME(softplus)
EXTREME(softsign)
EXTREME(gelu)
EXTREME(silu)
EXTREME(mish)
EXTREME(hardtanh)
/* PyTorch's double hardsigmoid gradient uses 1/6 rounded to float (see
   test_golden_activation.c): rtol 1e-7 in double for that op only. */
Test(extremes, hardsigmoid)
{
    gt_tol tol = gt_default_tol();
#ifdef TG_DOUBLE
    tol.rtol = 1e-7;
#endif
    gt_run_op(gold, "hardsigmoid", b_hardsigmoid, tol);
}
EXTREME(hardswish)
EXTREME(logsigmoid)
EXTREME(prelu)
EXTREME(softmax)
EXTREME(log_softmax)
EXTREME(mse_loss)
EXTREME(l1_loss)
EXTREME(smooth_l1_loss)
EXTREME(huber_loss)
EXTREME(bce_loss)
EXTREME(bce_with_logits)
EXTREME(cross_entropy)
EXTREME(cross_entropy_prob)

Test(extremes, every_case_is_run)
{
    for (int i = 0; i < gold->n; i++)
        cr_expect(builder_of(gold->cases[i].op) != NULL, "case %s: no builder for op %s",
                  gold->cases[i].name, gold->cases[i].op);
}

/* Where the notebooks' naive formulas overflow, tapegrad does not: for
   finite x of any size the stable ops are finite (not only equal to
   PyTorch's on the cases above but on a dense sweep of magnitudes). */
Test(extremes, stable_ops_stay_finite_for_finite_inputs)
{
    enum { N = 2 * 41 };
    tg_real xs[N];
    for (int i = 0; i < 41; i++) {
        tg_real m = (tg_real)pow(10.0, -10.0 + 0.5 * i); /* 1e-10 .. 1e10 */
        xs[2 * i] = m;
        xs[2 * i + 1] = -m;
    }
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(N), xs), true);
    tg_tensor *outs[] = {tg_sigmoid(t, x),
                         tg_logsigmoid(t, x),
                         tg_softplus(t, x, 1, 20),
                         tg_elu(t, x, 1),
                         tg_selu(t, x),
                         tg_celu(t, x, 1),
                         tg_tanh(t, x),
                         tg_softmax(t, x, 0),
                         tg_log_softmax(t, tg_scale(t, x, (tg_real)1e-6), 0)};
    for (size_t k = 0; k < sizeof outs / sizeof *outs; k++) {
        cr_assert(outs[k], "%s", tg_tape_error(t));
        for (int i = 0; i < N; i++)
            cr_expect(isfinite(outs[k]->data[i]), "op %zu at x = %g gives %g", k, (double)xs[i],
                      (double)outs[k]->data[i]);
        tg_real *dout = tg_tape_alloc(t, N * sizeof(tg_real));
        for (int i = 0; i < N; i++) dout[i] = 1;
        tg_zero_grad(x);
        cr_assert_eq(tg_backward_grad(t, outs[k], dout), TG_OK, "%s", tg_tape_error(t));
        for (int i = 0; i < N; i++)
            cr_expect(isfinite(x->grad[i]), "op %zu: gradient at x = %g is %g", k, (double)xs[i],
                      (double)x->grad[i]);
    }
    /* losses on logits of any finite size */
    const int64_t target[N] = {0};
    tg_tensor *row = tg_reshape(t, x, TG_SHAPE(1, N));
    tg_tensor *ce = tg_cross_entropy(t, row, target, TG_REDUCE_MEAN);
    cr_assert(ce && isfinite(ce->data[0]), "cross entropy: %s", tg_tape_error(t));
    tg_tensor *y = tg_zeros(t, TG_SHAPE(N));
    tg_tensor *bl = tg_bce_with_logits(t, x, y, NULL, TG_REDUCE_SUM);
    cr_assert(bl && isfinite(bl->data[0]), "bce_with_logits: %s", tg_tape_error(t));
    tg_tape_free(t);
}

/* tapegrad's rule at a NaN input (PyTorch's own answer there depends on
   which of its kernels ran): the output and the gradient are NaN; the
   neighbours are untouched. */
Test(extremes, nan_input_gives_nan_gradient)
{
    for (size_t k = 0; k < sizeof act_builders / sizeof *act_builders; k++) {
        const char *op = act_builders[k].op;
        bool axis_op = strcmp(op, "softmax") == 0 || strcmp(op, "log_softmax") == 0;
        tg_tape *t = tg_tape_new();
        const tg_real xs[4] = {(tg_real)0.5, (tg_real)NAN, (tg_real)-0.5, 2};
        tg_tensor *in[2] = {tg_requires_grad(tg_tensor_new(t, TG_SHAPE(1, 4), xs), true),
                            tg_full(t, TG_SHAPE(1), (tg_real)0.25)};
        gt_case c = {0}; /* no attributes: every option at its default */
        tg_tensor *y = act_builders[k].build(t, in, &c);
        cr_assert(y, "%s: %s", op, tg_tape_error(t));
        const tg_real dout[4] = {1, 1, 1, 1};
        cr_assert_eq(tg_backward_grad(t, y, dout), TG_OK, "%s", tg_tape_error(t));
        cr_expect(isnan(y->data[1]) && isnan(in[0]->grad[1]), "%s: y %g, grad %g at NaN", op,
                  (double)y->data[1], (double)in[0]->grad[1]);
        if (!axis_op) /* softmax rows mix: a NaN spoils the whole row, as PyTorch */
            for (int i = 0; i < 4; i += 2)
                cr_expect(isfinite(y->data[i]) && isfinite(in[0]->grad[i]),
                          "%s: element %d is spoiled", op, i);
        tg_tape_free(t);
    }
}

/* Every element-wise activation, with the options that change its rule at
   ±inf or NaN (logit with and without ε), for the test below. */
static tg_tensor *e_prelu(tg_tape *t, tg_tensor *x)
{
    return tg_prelu(t, x, tg_full(t, TG_SHAPE(1), (tg_real)0.25));
}
#define E(NAME, CALL) \
    static tg_tensor *e_##NAME(tg_tape *t, tg_tensor *x) { return CALL; }
E(sigmoid, tg_sigmoid(t, x))
E(tanh, tg_tanh(t, x))
E(relu, tg_relu(t, x))
E(relu6, tg_relu6(t, x))
E(leaky_relu, tg_leaky_relu(t, x, (tg_real)0.01))
E(elu, tg_elu(t, x, 1))
E(selu, tg_selu(t, x))
E(celu, tg_celu(t, x, 1))
E(softplus, tg_softplus(t, x, 1, 20))
E(softsign, tg_softsign(t, x))
E(gelu, tg_gelu(t, x, TG_GELU_NONE))
E(gelu_tanh, tg_gelu(t, x, TG_GELU_TANH))
E(silu, tg_silu(t, x))
E(mish, tg_mish(t, x))
E(hardtanh, tg_hardtanh(t, x, -1, 1))
E(hardsigmoid, tg_hardsigmoid(t, x))
E(hardswish, tg_hardswish(t, x))
E(logsigmoid, tg_logsigmoid(t, x))
E(hardshrink, tg_hardshrink(t, x, (tg_real)0.5))
E(softshrink, tg_softshrink(t, x, (tg_real)0.5))
E(tanhshrink, tg_tanhshrink(t, x))
E(threshold, tg_threshold(t, x, (tg_real)0.5, -2))
E(logit, tg_logit(t, x, TG_LOGIT_NO_EPS))
E(logit_eps, tg_logit(t, x, (tg_real)0.1))
#undef E

/* The create_graph gradient (the vjps, written with tg_ ops) gives what the
   fast rules give at ±inf and NaN: NaN at a NaN input, always (the vjps
   that pick a branch by comparing x took g, s·g or 0 there), and NaN for
   softsign at ±inf, as PyTorch's
     x = torch.tensor([inf, -inf], dtype=torch.float64, requires_grad=True)
     g, = torch.autograd.grad(F.softsign(x).sum(), x, create_graph=True)
   gives g = [nan, nan] and torch.autograd.grad(g.sum(), x) [nan, nan] (the
   vjp's g/(1 + |x|)² was 0 at both orders). The finite inputs beside them
   agree too (within the golden tolerance: the vjps round differently). */
Test(extremes, create_graph_gradient_agrees_at_inf_and_nan)
{
    static const struct {
        const char *name;
        tg_tensor *(*f)(tg_tape *, tg_tensor *);
    } ops[] = {
#define E(NAME) {#NAME, e_##NAME}
        E(sigmoid),    E(tanh),       E(relu),       E(relu6),       E(leaky_relu),
        E(elu),        E(selu),       E(celu),       E(softplus),    E(softsign),
        E(gelu),       E(gelu_tanh),  E(silu),       E(mish),        E(hardtanh),
        E(hardsigmoid), E(hardswish), E(logsigmoid), E(hardshrink),  E(softshrink),
        E(tanhshrink), E(threshold),  E(logit),      E(logit_eps),   E(prelu),
#undef E
    };
    enum { N = 6 };
    const tg_real xs[N] = {(tg_real)NAN, (tg_real)INFINITY, -(tg_real)INFINITY, (tg_real)0.25,
                           -4, 4};
    const gt_tol tol = gt_default_tol();
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
        tg_tape *t = tg_tape_new();
        tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(N), xs), true);
        tg_tensor *y = ops[k].f(t, x);
        cr_assert(y, "%s: %s", ops[k].name, tg_tape_error(t));
        tg_tensor *l = tg_sum(t, y, TG_ALL, false), *fast = NULL, *vjp = NULL;
        tg_grad_opts of = {.create_graph = false}, oc = {.create_graph = true};
        cr_assert_eq(tg_grad(t, 1, &l, NULL, 1, &x, &fast, &of), TG_OK, "%s: %s", ops[k].name,
                     tg_tape_error(t));
        cr_assert_eq(tg_grad(t, 1, &l, NULL, 1, &x, &vjp, &oc), TG_OK, "%s: %s", ops[k].name,
                     tg_tape_error(t));
        cr_expect(isnan(fast->data[0]) && isnan(vjp->data[0]),
                  "%s at NaN: fast %g, create_graph %g", ops[k].name, (double)fast->data[0],
                  (double)vjp->data[0]);
        for (int i = 1; i < N; i++) {
            double a = (double)fast->data[i], b = (double)vjp->data[i];
            cr_expect((isnan(a) && isnan(b)) || a == b ||
                          fabs(a - b) <= tol.atol + tol.rtol * fabs(a),
                      "%s at x = %g: fast %g, create_graph %g", ops[k].name, (double)xs[i], a,
                      b);
        }
        if (ops[k].f == e_softsign) {
            tg_tensor *s = tg_sum(t, vjp, TG_ALL, false), *g2 = NULL;
            cr_assert_eq(tg_grad(t, 1, &s, NULL, 1, &x, &g2, &of), TG_OK, "%s",
                         tg_tape_error(t));
            cr_expect(isnan(vjp->data[1]) && isnan(vjp->data[2]) && isnan(g2->data[1]) &&
                          isnan(g2->data[2]),
                      "softsign at ±inf: %g %g, second order %g %g (PyTorch: NaN)",
                      (double)vjp->data[1], (double)vjp->data[2], (double)g2->data[1],
                      (double)g2->data[2]);
        }
        tg_tape_free(t);
    }
}

/* An infinite upstream gradient where relu is flat gives 0, not inf·0 = NaN:
   PyTorch's relu backward is a select (threshold_backward), and
     x = torch.tensor([-1., 0., 2.], requires_grad=True)
     torch.relu(x).backward(torch.full((3,), float('inf')))
   leaves x.grad = [0, 0, inf]. */
Test(extremes, relu_gradient_selects_rather_than_multiplies)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3), (const tg_real[]){-1, 0, 2}), true);
    tg_tensor *y = tg_relu(t, x);
    cr_assert(y, "%s", tg_tape_error(t));
    const tg_real inf = (tg_real)INFINITY, dout[3] = {inf, inf, inf};
    cr_assert_eq(tg_backward_grad(t, y, dout), TG_OK, "%s", tg_tape_error(t));
    cr_expect(x->grad[0] == 0 && x->grad[1] == 0 && x->grad[2] == inf, "relu grad: %g %g %g",
              (double)x->grad[0], (double)x->grad[1], (double)x->grad[2]);
    tg_tape_free(t);
}

/* The second order of the extreme cases whose inputs, outputs and first
   gradients are all finite (large |x|, probabilities near 0 and 1): through
   create_graph, against PyTorch's. */
Test(extremes, finite_cases_to_the_second_order)
{
    int ran = 0, want = 0;
    for (int i = 0; i < gold->n; i++) want += gold->cases[i].order >= 2;
    for (int i = 0; i < gold->n; i++) {
        const gt_case *c = &gold->cases[i];
        bool first = c->order >= 2;
        for (int j = 0; j < i && first; j++)
            first = !(gold->cases[j].order >= 2 && strcmp(gold->cases[j].op, c->op) == 0);
        if (!first) continue;
        gt_tol tol = gt_default_tol();
#ifdef TG_DOUBLE
        if (strcmp(c->op, "hardsigmoid") == 0) tol.rtol = 1e-7; /* as above */
#endif
        ran += gt_run_op2(gold, c->op, builder_of(c->op), tol);
    }
    cr_expect(want > 0 && ran == want, "%d of %d finite extreme cases run", ran, want);
}
