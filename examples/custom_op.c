/* A custom op, end to end: swish with a learnable β,
 *
 *     swish(x; β) = x·σ(βx)          σ(z) = 1 / (1 + e⁻ᶻ)
 *
 * defined as a tg_op (shape, forward, backward, and vjp: the backward
 * written with ops, so that it can be differentiated again), registered by
 * name, found again with tg_op_find, checked with tg_gradcheck, its second
 * derivative taken by differentiating twice (tg_grad1 with create_graph)
 * and compared with the formula, and used to train a small network
 * 1 → 16 → 1 that fits sin(x) on [-3, 3] — β is learned with the weights.
 * Exits non-zero if a gradient check fails, the second derivative is wrong
 * or training does not converge.
 *
 *     ./custom_op
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <tapegrad.h>

/* ------------------------------------------------------------------ the op */

/* Inputs: x (any shape) and β (one element, shared by every x). */
static int swish_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                       size_t len)
{
    const tg_tensor *x = r->in[0], *beta = r->in[1];
    if (!beta || beta->size != 1) {
        snprintf(msg, len, "beta must have one element");
        return TG_ERR_SHAPE;
    }
    *ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    return TG_OK;
}

/* σ(z), without overflow for large |z|: branch on the sign. */
static tg_real sigmoid(tg_real z)
{
    if (z >= 0) return (tg_real)(1 / (1 + exp(-(double)z)));
    double e = exp((double)z);
    return (tg_real)(e / (1 + e));
}

/* y = x·σ(βx). The forward saves s = σ(βx) for the backward. */
static int swish_forward(tg_record *r)
{
    const tg_real *x = r->in[0]->data; /* [n] */
    tg_real beta = r->in[1]->data[0];
    tg_real *y = r->out->data;         /* [n] */
    int64_t n = r->out->size;
    tg_real *s = tg_record_save(r, (size_t)n * sizeof(tg_real)); /* [n] */
    if (!s) return TG_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        s[i] = sigmoid(beta * x[i]);
        y[i] = x[i] * s[i];
    }
    return TG_OK;
}

/* With s = σ(βx) and σ' = s(1 − s):
     ∂y/∂x = s + x·s(1 − s)·β
     ∂y/∂β = x·s(1 − s)·x = x²·s(1 − s)     (summed over all x: β is shared)
   Both ACCUMULATE (+=): x or β may be used elsewhere too. */
static void swish_backward(tg_record *r)
{
    const tg_real *x = r->in[0]->data, *g = r->out->grad, *s = r->saved;
    tg_real beta = r->in[1]->data[0];
    tg_real *dx = r->in[0]->grad, *dbeta = r->in[1]->grad; /* NULL: not needed */
    double db = 0;
    for (int64_t i = 0; i < r->out->size; i++) {
        tg_real ds = s[i] * (1 - s[i]);
        if (dx) dx[i] += g[i] * (s[i] + x[i] * ds * beta);
        db += (double)g[i] * x[i] * x[i] * ds;
    }
    if (dbeta) dbeta[0] += (tg_real)db;
}

/* The same two rules written with tg_ ops on tape t, for backward passes
   with create_graph: the gradients it returns are tensors with records of
   their own, so they can be differentiated again (a second derivative, a
   Hessian-vector product, a gradient penalty). It only builds the gradients
   of inputs that require one; β's is summed to β's shape. */
static int swish_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *x = r->in[0], *beta = r->in[1];
    tg_tensor *s = tg_sigmoid(t, tg_mul(t, beta, x));            /* σ(βx) */
    tg_tensor *ds = tg_mul(t, s, tg_add_scalar(t, tg_neg(t, s), 1)); /* s(1 − s) */
    if (x->flags & TG_REQUIRES_GRAD) /* g·(s + β·x·s(1 − s)) */
        dx[0] = tg_mul(t, g, tg_add(t, s, tg_mul(t, beta, tg_mul(t, x, ds))));
    if (beta->flags & TG_REQUIRES_GRAD) /* Σ g·x²·s(1 − s) */
        dx[1] = tg_sum_to(t, tg_mul(t, g, tg_mul(t, tg_square(t, x), ds)), beta->ndim,
                          beta->shape);
    return TG_OK;
}

static const tg_op swish_op = {
    .name = "swish",
    .n_inputs = 2,
    .shape = swish_shape,
    .forward = swish_forward,
    .backward = swish_backward,
    .doc = "x * sigmoid(beta * x), beta learnable",
    .vjp = swish_vjp, /* without it, create_graph would refuse the op, naming it */
};

/* ------------------------------------------------ the second derivative */

/* d²y/dx² by differentiating twice: the first tg_grad1 records its
   gradient (create_graph), the second differentiates it. Each y_i depends
   on x_i alone, so the gradient of Σ y holds y'(x_i), and that of Σ y'
   holds y''(x_i). Compared with the formula, from y' = s + βx·s(1 − s) and
   s' = β·s(1 − s):
       y'' = β·s(1 − s)·(2 + βx·(1 − 2s))
   Returns the number of points that disagree. */
static int second_derivative(const tg_op *swish, tg_tape *t)
{
    const tg_real xs[] = {-4, -1.5, -0.3, 0, 0.2, 1, 3.5}, b = 0.8f;
    enum { N2 = sizeof xs / sizeof *xs };
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(N2), xs), true);
    tg_tensor *in[2] = {x, tg_full(t, TG_SHAPE(1), b)};
    tg_tensor *y = tg_apply(t, swish, in, 2, NULL);
    tg_tensor *d1 = tg_grad1(t, tg_sum(t, y, TG_ALL, false), x, true);   /* y'(x), on the tape */
    tg_tensor *d2 = tg_grad1(t, tg_sum(t, d1, TG_ALL, false), x, false); /* y''(x) */
    if (!d2) {
        fprintf(stderr, "%s\n", tg_tape_error(t));
        return N2;
    }
    int bad = 0;
    printf("\nthe second derivative of swish(x; beta = %g), differentiating twice:\n"
           "     x     d2y/dx2 (tg_grad1 twice)   formula\n", (double)b);
    for (int i = 0; i < N2; i++) {
        double s = 1 / (1 + exp(-(double)b * xs[i]));
        double want = b * s * (1 - s) * (2 + b * xs[i] * (1 - 2 * s));
        /* about ten roundings of values below 1: ~1e-6 in float, ~1e-15 in
           double; a wrong rule is off by far more */
        double tol = sizeof(tg_real) == 4 ? 1e-5 : 1e-12;
        bool ok = fabs((double)d2->data[i] - want) <= tol;
        bad += !ok;
        printf("  %5.2f   % .9f             % .9f%s\n", (double)xs[i], (double)d2->data[i], want,
               ok ? "" : "   WRONG");
    }
    return bad;
}

/* ------------------------------------------------------ gradient checks */

/* The op alone: inputs {x, β}. */
static tg_tensor *swish_fn(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    return tg_apply(t, (const tg_op *)ctx, in, 2, NULL);
}

/* The network's loss: inputs {x, y, W1, b1, β, W2, b2}. */
static tg_tensor *net_loss(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    const tg_op *swish = ctx;
    tg_tensor *h = tg_linear(t, in[0], in[2], in[3]);   /* [N, 16] */
    tg_tensor *sb[2] = {h, in[4]};
    tg_tensor *a = tg_apply(t, swish, sb, 2, NULL);      /* [N, 16] */
    tg_tensor *out = tg_linear(t, a, in[5], in[6]);      /* [N, 1] */
    return tg_mean(t, tg_square(t, tg_sub(t, out, in[1])), TG_ALL, false);
}

/* --------------------------------------------------------------- training */

/* A portable uniform generator for the initial weights. */
static uint64_t seed = 42;
static double uniform(double lo, double hi)
{
    uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return lo + (hi - lo) * (double)(z >> 11) * 0x1p-53;
}

#define N 64
#define H 16

static const char USAGE[] =
    "usage: custom_op\n"
    "Defines swish with a learnable beta as a tg_op (with a vjp rule), registers\n"
    "and gradchecks it, takes its second derivative by differentiating twice,\n"
    "and trains 1 -> 16 -> 1 on sin(x) with it.\n";

int main(int argc, char **argv)
{
    if (argc > 1) { /* no arguments but --help */
        bool help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");
        if (!help) fprintf(stderr, "custom_op: unknown option or argument '%s'\n", argv[1]);
        fputs(USAGE, help ? stdout : stderr);
        return help ? 0 : 2;
    }
    /* 1. register by name, find it again (the registry's copy) */
    if (tg_op_register(&swish_op) != TG_OK) {
        fprintf(stderr, "%s\n", tg_last_error());
        return 1;
    }
    const tg_op *swish = tg_op_find("swish");
    if (!swish) return 1;
    size_t n_builtin = 0;
    for (size_t i = 0; i < tg_op_count(); i++) n_builtin += tg_op_is_builtin(tg_op_at(i));
    printf("registered '%s' (%s): %zu ops now, %zu of them built-in\n", swish->name, swish->doc,
           tg_op_count(), n_builtin);

    int failures = 0;
    tg_tape *t = tg_tape_new();
    tg_params *p = tg_params_new();
    if (!t || !p) return 1;

    /* 2. gradcheck the op at a few points, both inputs checked */
    tg_real xs[] = {-4, -1.5, -0.3, 0.2, 1, 3.5}, b0[] = {0.8f};
    tg_tensor *op_in[2] = {tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2, 3), xs), true),
                           tg_requires_grad(tg_tensor_new(t, TG_SHAPE(1), b0), true)};
    tg_gradcheck_opts o = tg_gradcheck_defaults();
    o.report = stdout;
    printf("\ngradcheck of swish(x; beta):\n");
    tg_gradcheck_result r = tg_gradcheck(swish_fn, (void *)swish, op_in, 2, &o);
    failures += !(r.status == TG_OK && r.ok);

    /* 3. its second derivative: the vjp at work */
    failures += second_derivative(swish, t) > 0;

    /* 4. the network: 1 -> 16 -> swish -> 1, PyTorch's Linear initialisation */
    tg_tensor *W1 = tg_params_add(p, "fc1.weight", TG_SHAPE(H, 1));
    tg_tensor *b1 = tg_params_add(p, "fc1.bias", TG_SHAPE(H));
    tg_tensor *beta = tg_params_add(p, "swish.beta", TG_SHAPE(1));
    tg_tensor *W2 = tg_params_add(p, "fc2.weight", TG_SHAPE(1, H));
    tg_tensor *b2 = tg_params_add(p, "fc2.bias", TG_SHAPE(1));
    if (!W1 || !b1 || !beta || !W2 || !b2) {
        fprintf(stderr, "%s\n", tg_last_error());
        return 1;
    }
    for (int i = 0; i < H; i++) {
        W1->data[i] = (tg_real)uniform(-1, 1); /* bound 1/sqrt(fan_in), fan_in 1 */
        b1->data[i] = (tg_real)uniform(-1, 1);
        W2->data[i] = (tg_real)uniform(-0.25, 0.25); /* fan_in 16 */
    }
    b2->data[0] = (tg_real)uniform(-0.25, 0.25);
    beta->data[0] = 1; /* swish(x; 1) = silu(x) */

    tg_real xd[N], yd[N];
    for (int i = 0; i < N; i++) {
        xd[i] = (tg_real)(-3 + 6.0 * i / (N - 1));
        yd[i] = (tg_real)sin(xd[i]);
    }

    /* 5. the whole network's gradient, once, before training */
    tg_tensor *x = tg_tensor_new(t, TG_SHAPE(N, 1), xd), *y = tg_tensor_new(t, TG_SHAPE(N, 1), yd);
    tg_tensor *net_in[7] = {x, y, W1, b1, beta, W2, b2};
    printf("\ngradcheck of the network's loss w.r.t. every parameter:\n");
    r = tg_gradcheck(net_loss, (void *)swish, net_in, 7, &o);
    failures += !(r.status == TG_OK && r.ok);

    /* 6. train: full batch, SGD with momentum over the contiguous blocks */
    const float lr = 0.05f, momentum = 0.9f;
    size_t len = tg_params_block_len(p);
    static tg_real velocity[4096];
    if (len > sizeof velocity / sizeof *velocity) return 1;
    double first = 0, last = 0;
    for (int step = 0; step <= 3000; step++) {
        tg_tape_reset(t);
        x = tg_tensor_new(t, TG_SHAPE(N, 1), xd);
        y = tg_tensor_new(t, TG_SHAPE(N, 1), yd);
        tg_tensor *in[7] = {x, y, W1, b1, beta, W2, b2};
        tg_tensor *loss = net_loss(t, in, 7, (void *)swish);
        tg_params_zero_grad(p);
        if (!loss || tg_backward(t, loss) != TG_OK) {
            fprintf(stderr, "step %d: %s\n", step, tg_tape_error(t));
            return 1;
        }
        tg_real *w = tg_params_data(p), *gw = tg_params_grad(p);
        for (size_t i = 0; i < len; i++) {
            velocity[i] = momentum * velocity[i] + gw[i];
            w[i] -= lr * velocity[i];
        }
        if (step == 0) first = loss->data[0];
        last = loss->data[0];
        if (step % 500 == 0)
            printf("%s step %4d  loss %.5f  beta %.3f\n", step ? "" : "\ntraining:\n", step,
                   (double)loss->data[0], (double)beta->data[0]);
    }
    bool converged = last < 0.1 * first && last < 0.01;
    printf("loss %.4f -> %.5f, learned beta = %.3f: %s\n", first, last, (double)beta->data[0],
           converged ? "fits sin(x)" : "DID NOT CONVERGE");

    tg_params_free(p);
    tg_tape_free(t);
    if (failures) printf("%d check(s) FAILED\n", failures);
    return failures || !converged ? 1 : 0;
}
