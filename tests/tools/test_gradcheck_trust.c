/* How far tg_gradcheck can be trusted: false alarms and catch rate, counted.

   1. Every built-in op (the test fails if the registry holds one it does not
      exercise), at many seeded random points kept more than a step away from
      every kink: no check may fail and none may report a kink. Among them the
      cases that defeated an absolute float tolerance: a summed mse over
      [8, 16], a summed exp over [10, 20], a whole small network.
   2. Planted bugs, custom ops written the way a user writes them, each at
      gradient scales 1e-6 … 1e6 and input scales 1e-3 … 1e3, with a vector
      output and with a scalar one: every check of a bug must fail, and every
      check of the same op with its correct rule must pass.
        an elementwise op y = x + ½·sin x:  the gradient ×1.01, ×0.99, a term
          dropped (1 for 1 + ½·cos x), |g| for g, g² for g, `=` for `+=`
        a mean over [10, 20]: no backward at all; the gradient 5% off
        leaky relu with the slope 0.02 in the backward and 0.01 in the forward
   3. Points within a step of a kink are reported as such, not failed.

   The float build runs all of it with tg_gradcheck_defaults(). The double
   build's defaults are PyTorch's (an absolute atol of 1e-5 cannot see a 1%
   error in a gradient of 1e-4): part 1 runs with them, part 2 with the same
   defaults plus error_bound (atol 0, scale_tol 1e-5), and part 3 with them.

   TG_TRUST_VERBOSE=1 prints every case's figures (the closest call, the
   resolution, the weakest catch); TG_TRUST_STRESS=10 checks ten times as
   many points (docs/gradcheck.md quotes both runs). */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>

static tg_tape *tape;
static tg_rng rng;
static bool verbose;
static int stress = 1; /* TG_TRUST_STRESS=n: n times the points (the counts follow) */
static void setup(void)
{
    tape = tg_tape_new();
    tg_rng_seed(&rng, 20250611);
    verbose = getenv("TG_TRUST_VERBOSE") != NULL;
    const char *s = getenv("TG_TRUST_STRESS");
    stress = s && atoi(s) > 0 ? atoi(s) : 1;
}
static void teardown(void) { tg_tape_free(tape); }
TestSuite(trust, .init = setup, .fini = teardown);

static double unif(double lo, double hi) { return lo + (hi - lo) * tg_rng_uniform(&rng); }

/* ============================================== 1. built-in ops, no false alarm */

/* How an input is filled. */
typedef enum { U_PLAIN, U_DISTINCT, U_NEAR_TARGET, U_BITS } fill_kind;
typedef struct {
    fill_kind kind;
    double lo, hi;     /* uniform on [lo, hi) (U_NEAR_TARGET: the offset from input 1) */
    int n_kinks;
    double kink[3];    /* values kept at least 0.1 away */
} fill;

#define MAX_IN 3
typedef struct {
    int ndim;
    int64_t shape[4];
    fill f;
    bool grad;
} in_spec;

/* One case: an op and its arguments. */
typedef struct tcase {
    const char *op;    /* the registry name it covers */
    const char *label;
    int n_in;
    in_spec in[MAX_IN];
    int axis, axis2;
    bool keepdim;
    tg_real a, b;
    int mode;
    tg_reduction red;
    int points;        /* random points checked */
    bool coarse;       /* f is rounded in stairs as wide as the step at some points: those
                          elements may be reported as not judged (near_kink), never failed */
} tcase;

/* fills: U(lo, hi) with up to three kinks kept 0.1 away; input 1 plus U(lo, hi) */
#define U(lo, hi) {U_PLAIN, lo, hi, 0, {0}}
#define UK(lo, hi, n, ...) {U_PLAIN, lo, hi, n, {__VA_ARGS__}}
#define NEAR(lo, hi, n, ...) {U_NEAR_TARGET, lo, hi, n, {__VA_ARGS__}}
#define WIDE U(-4, 4)
#define K0 UK(-4, 4, 1, 0)
#define POS U(0.2, 4)
#define PROB U(0.05, 0.95)
#define UNIT U(0, 1)
#define DIST {U_DISTINCT, 0, 0, 0, {0}}
#define BITS {U_BITS, 0, 0, 0, {0}}

/* the class targets of the index losses: a fixed pattern with ignored entries */
static int64_t targets[64];
static tg_tensor *class_w;

static tg_tensor *build(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const tcase *c = ctx;
    tg_tensor *x = in[0];
    tg_ce_opts ce = {c->red, TG_IGNORE_INDEX, c->b, c->mode ? class_w : NULL};
    const char *op = c->op;
#define IS(name) (strcmp(op, name) == 0)
    if (IS("add")) return tg_add(t, x, in[1]);
    if (IS("sub")) return tg_sub(t, x, in[1]);
    if (IS("mul")) return tg_mul(t, x, in[1]);
    if (IS("div")) return tg_div(t, x, in[1]);
    if (IS("neg")) return tg_neg(t, x);
    if (IS("scale")) return tg_scale(t, x, c->a);
    if (IS("add_scalar")) return tg_add_scalar(t, x, c->a);
    if (IS("pow")) return tg_pow(t, x, c->a);
    if (IS("exp")) return c->mode ? tg_sum(t, tg_exp(t, x), TG_ALL, false) : tg_exp(t, x);
    if (IS("log")) return tg_log(t, x);
    if (IS("sqrt")) return tg_sqrt(t, x);
    if (IS("abs")) return tg_abs(t, x);
    if (IS("square")) return tg_square(t, x);
    if (IS("erf")) return tg_erf(t, x);
    if (IS("sign")) return tg_mul(t, x, tg_sign(t, x)); /* |x| through its sign */
    if (IS("clamp")) return tg_clamp(t, x, c->a, c->b);
    if (IS("where")) return tg_where(t, in[2], x, in[1]); /* in[2]: the condition, a constant */
    if (IS("expand")) return tg_expand(t, x, TG_SHAPE(4, 5));
    if (IS("sum_to"))
        return c->mode ? tg_sum_to(t, x, TG_SHAPE(4, 1)) : tg_sum_to(t, x, TG_SHAPE(5));
    if (IS("max_mask")) { /* Σ w ⊙ ∇ₓ Σ max(x, 1)²: the gradient of max, differentiated */
        tg_tensor *s = tg_sum(t, tg_square(t, tg_max(t, x, 1, false)), TG_ALL, false);
        return tg_sum(t, tg_mul(t, tg_grad1(t, s, x, true), in[1]), TG_ALL, false);
    }
    /* a comparison's mask, with no gradient of its own: a·(a op b) + b */
    tg_tensor *(*cmp)(tg_tape *, tg_tensor *, tg_tensor *) =
        IS("eq") ? tg_eq : IS("ne") ? tg_ne : IS("lt") ? tg_lt : IS("le") ? tg_le
        : IS("gt") ? tg_gt : IS("ge") ? tg_ge : NULL;
    if (cmp) return tg_add(t, tg_mul(t, x, cmp(t, x, in[1])), in[1]);
    if (IS("sum")) return tg_sum(t, x, c->axis, c->keepdim);
    if (IS("mean")) return tg_mean(t, x, c->axis, c->keepdim);
    if (IS("max")) return tg_max(t, x, c->axis, c->keepdim);
    if (IS("reshape")) return c->mode ? tg_flatten(t, x) : tg_reshape(t, x, TG_SHAPE(5, 4));
    if (IS("transpose")) return tg_transpose(t, x, c->axis, c->axis2);
    if (IS("matmul")) return c->mode ? tg_dot(t, x, in[1]) : tg_matmul(t, x, in[1]);
    if (IS("linear")) {
        if (!c->mode) return tg_linear(t, x, in[1], n > 2 ? in[2] : NULL);
        /* a small autoencoder with tied weights: y = tanh(x Wᵀ + b) W, Σ (y − x)² */
        tg_tensor *h = tg_tanh(t, tg_linear(t, x, in[1], in[2]));
        return tg_sum(t, tg_square(t, tg_sub(t, tg_matmul(t, h, in[1]), x)), TG_ALL, false);
    }
    if (IS("sigmoid")) return tg_sigmoid(t, x);
    if (IS("tanh")) return tg_tanh(t, x);
    if (IS("relu")) return tg_relu(t, x);
    if (IS("relu6")) return tg_relu6(t, x);
    if (IS("leaky_relu")) return tg_leaky_relu(t, x, c->a);
    if (IS("elu")) return tg_elu(t, x, c->a);
    if (IS("selu")) return tg_selu(t, x);
    if (IS("celu")) return tg_celu(t, x, c->a);
    if (IS("softplus")) return tg_softplus(t, x, c->a, c->b);
    if (IS("softsign")) return tg_softsign(t, x);
    if (IS("gelu")) return tg_gelu(t, x, (tg_gelu_approx)c->mode);
    if (IS("silu")) return tg_silu(t, x);
    if (IS("mish")) return tg_mish(t, x);
    if (IS("hardtanh")) return tg_hardtanh(t, x, c->a, c->b);
    if (IS("hardsigmoid")) return tg_hardsigmoid(t, x);
    if (IS("hardswish")) return tg_hardswish(t, x);
    if (IS("logsigmoid")) return tg_logsigmoid(t, x);
    if (IS("prelu")) return tg_prelu(t, x, in[1]);
    if (IS("softmax")) return tg_softmax(t, x, c->axis);
    if (IS("log_softmax")) return tg_log_softmax(t, x, c->axis);
    if (IS("mse_loss")) return tg_mse_loss(t, x, in[1], c->red);
    if (IS("l1_loss")) return tg_l1_loss(t, x, in[1], c->red);
    if (IS("smooth_l1_loss")) return tg_smooth_l1_loss(t, x, in[1], c->a, c->red);
    if (IS("huber_loss")) return tg_huber_loss(t, x, in[1], c->a, c->red);
    if (IS("bce_loss")) return tg_bce_loss(t, x, in[1], c->red);
    if (IS("bce_with_logits")) return tg_bce_with_logits(t, x, in[1], n > 2 ? in[2] : NULL, c->red);
    if (IS("cross_entropy"))
        return c->axis ? tg_cross_entropy_prob(t, x, in[1], &ce)
                       : tg_cross_entropy_ex(t, x, targets, &ce);
    if (IS("nll_loss")) return tg_nll_loss(t, tg_log_softmax(t, x, 1), targets, &ce);
#undef IS
    return NULL;
}

static double draw(const fill *f)
{
    for (;;) {
        double v = unif(f->lo, f->hi);
        bool ok = true;
        for (int k = 0; k < f->n_kinks; k++) ok &= fabs(v - f->kink[k]) >= 0.1;
        if (ok) return v;
    }
}

/* Fills the inputs of a case at a new random point. */
static void fill_point(const tcase *c, tg_tensor **in)
{
    for (int i = c->n_in - 1; i >= 0; i--) { /* input 1 before input 0: U_NEAR_TARGET */
        tg_tensor *x = in[i];
        if (!x) continue;
        const fill *f = &c->in[i].f;
        if (f->kind == U_DISTINCT) { /* values 0.2 apart, shuffled: no tie within a step */
            int64_t *perm = malloc((size_t)x->size * sizeof *perm);
            cr_assert(perm);
            for (int64_t k = 0; k < x->size; k++) perm[k] = k;
            tg_rng_shuffle(&rng, perm, x->size);
            for (int64_t k = 0; k < x->size; k++)
                x->data[k] =
                    (tg_real)(0.2 * (double)perm[k] - 0.1 * (double)x->size + unif(0, 0.05));
            free(perm);
        } else if (f->kind == U_BITS) { /* 0 or 1: a condition */
            for (int64_t k = 0; k < x->size; k++) x->data[k] = tg_rng_uniform(&rng) < 0.5 ? 0 : 1;
        } else {
            for (int64_t k = 0; k < x->size; k++)
                x->data[k] = (tg_real)(draw(f) + (f->kind == U_NEAR_TARGET
                                                      ? (double)in[1]->data[k] : 0));
        }
    }
}

#define SH1(a) 1, {a}
#define SH2(a, b) 2, {a, b}
#define SH3(a, b, c) 3, {a, b, c}
#define G(shape, f) {shape, f, true}
#define C(shape, f) {shape, f, false}

static const tcase CASES[] = {
    /* arith */
    {"add", "[4,5] + [5]", 2, {G(SH2(4, 5), WIDE), G(SH1(5), WIDE)}, .points = 20},
    {"sub", "[4,5] - [4,1]", 2, {G(SH2(4, 5), WIDE), G(SH2(4, 1), WIDE)}, .points = 20},
    {"mul", "[4,5] * [5]", 2, {G(SH2(4, 5), WIDE), G(SH1(5), WIDE)}, .points = 20},
    {"div", "[4,5] / [5], |b| >= 0.5", 2,
     {G(SH2(4, 5), WIDE), G(SH1(5), U(0.5, 3))}, .points = 20},
    {"div", "[4,5] / [4,5], b < 0", 2,
     {G(SH2(4, 5), WIDE), G(SH2(4, 5), U(-3, -0.5))}, .points = 10},
    {"neg", "[4,5]", 1, {G(SH2(4, 5), WIDE)}, .points = 10},
    {"scale", "-2.5·[4,5]", 1, {G(SH2(4, 5), WIDE)}, .a = -2.5, .points = 10},
    {"add_scalar", "[4,5] + 3", 1, {G(SH2(4, 5), WIDE)}, .a = 3, .points = 10},
    {"pow", "[4,5]^2.5", 1, {G(SH2(4, 5), POS)}, .a = 2.5, .points = 10},
    {"pow", "[4,5]^-1.5", 1, {G(SH2(4, 5), POS)}, .a = -1.5, .points = 10},
    {"pow", "[4,5]^3, signed", 1, {G(SH2(4, 5), WIDE)}, .a = 3, .points = 10},
    {"exp", "[4,5]", 1, {G(SH2(4, 5), WIDE)}, .points = 10},
    {"exp", "sum of exp over [10,20]", 1, {G(SH2(10, 20), WIDE)}, .mode = 1, .points = 10},
    {"log", "[4,5]", 1, {G(SH2(4, 5), POS)}, .points = 20},
    {"sqrt", "[4,5]", 1, {G(SH2(4, 5), POS)}, .points = 20},
    {"abs", "[4,5]", 1, {G(SH2(4, 5), K0)}, .points = 10},
    {"square", "[4,5]", 1, {G(SH2(4, 5), WIDE)}, .points = 10},
    {"erf", "[4,5]", 1, {G(SH2(4, 5), U(-3, 3))}, .points = 10},
    {"sign", "x·sign(x)", 1, {G(SH2(4, 5), K0)}, .points = 10},
    {"clamp", "[-1, 2]", 1, {G(SH2(4, 5), UK(-3, 4, 2, -1, 2))}, .a = -1, .b = 2, .points = 10},
    /* comparisons: a·(a op b) + b, a and b at least 0.1 apart (U_NEAR_TARGET) */
    {"eq", "a·(a == b) + b", 2, {G(SH2(4, 5), NEAR(-2, 2, 1, 0)), G(SH2(4, 5), WIDE)}, .points = 5},
    {"ne", "a·(a != b) + b", 2, {G(SH2(4, 5), NEAR(-2, 2, 1, 0)), G(SH2(4, 5), WIDE)}, .points = 5},
    {"lt", "a·(a < b) + b", 2, {G(SH2(4, 5), NEAR(-2, 2, 1, 0)), G(SH2(4, 5), WIDE)}, .points = 5},
    {"le", "a·(a <= b) + b", 2, {G(SH2(4, 5), NEAR(-2, 2, 1, 0)), G(SH2(4, 5), WIDE)}, .points = 5},
    {"gt", "a·(a > b) + b", 2, {G(SH2(4, 5), NEAR(-2, 2, 1, 0)), G(SH2(4, 5), WIDE)}, .points = 5},
    {"ge", "a·(a >= b) + b", 2, {G(SH2(4, 5), NEAR(-2, 2, 1, 0)), G(SH2(4, 5), WIDE)}, .points = 5},
    {"where", "where(c, a[4,5], b[5])", 3,
     {G(SH2(4, 5), WIDE), G(SH1(5), WIDE), C(SH2(4, 5), BITS)}, .points = 10},
    /* reduce */
    {"sum", "[4,5] all", 1, {G(SH2(4, 5), WIDE)}, .axis = TG_ALL, .points = 10},
    {"sum", "[3,4,5] axis 1, keepdim", 1, {G(SH3(3, 4, 5), WIDE)}, .axis = 1, .keepdim = true,
     .points = 10},
    {"mean", "[10,20] all", 1, {G(SH2(10, 20), WIDE)}, .axis = TG_ALL, .points = 10},
    {"mean", "[3,4,5] axis -1", 1, {G(SH3(3, 4, 5), WIDE)}, .axis = -1, .points = 10},
    {"max", "[4,5] axis 1", 1, {G(SH2(4, 5), DIST)}, .axis = 1, .points = 10},
    {"max", "[4,5] all", 1, {G(SH2(4, 5), DIST)}, .axis = TG_ALL, .points = 10},
    {"max_mask", "Σ w·∇ Σ max(x, 1)² (second order)", 2, {G(SH2(4, 5), DIST), C(SH2(4, 5), WIDE)},
     .points = 10},
    /* shape */
    {"reshape", "[4,5] -> [5,4]", 1, {G(SH2(4, 5), WIDE)}, .points = 5},
    {"reshape", "flatten [2,2,5]", 1, {G(SH3(2, 2, 5), WIDE)}, .mode = 1, .points = 5},
    {"transpose", "[3,4,5] 0<->2", 1, {G(SH3(3, 4, 5), WIDE)}, .axis = 0, .axis2 = 2, .points = 5},
    {"expand", "[1,5] -> [4,5]", 1, {G(SH2(1, 5), WIDE)}, .points = 5},
    {"sum_to", "[4,5] -> [5]", 1, {G(SH2(4, 5), WIDE)}, .points = 5},
    {"sum_to", "[3,4,5] -> [4,1]", 1, {G(SH3(3, 4, 5), WIDE)}, .mode = 1, .points = 5},
    /* linalg */
    {"matmul", "[4,6] @ [6,3]", 2, {G(SH2(4, 6), WIDE), G(SH2(6, 3), WIDE)}, .points = 10},
    {"matmul", "[2,3,4] @ [2,4,3]", 2, {G(SH3(2, 3, 4), WIDE), G(SH3(2, 4, 3), WIDE)}, .points = 5},
    {"matmul", "dot [7]·[7]", 2, {G(SH1(7), WIDE), G(SH1(7), WIDE)}, .mode = 1, .points = 10},
    {"linear", "[5,4] W[3,4] b[3]", 3,
     {G(SH2(5, 4), WIDE), G(SH2(3, 4), WIDE), G(SH1(3), WIDE)}, .points = 10},
    {"linear", "a network's summed loss", 3,
     {C(SH2(16, 4), WIDE), G(SH2(8, 4), U(-0.7, 0.7)), G(SH1(8), WIDE)},
     .mode = 1, .points = 10},
    /* activations */
    {"sigmoid", "[4,5]", 1, {G(SH2(4, 5), WIDE)}, .points = 10},
    {"tanh", "[4,5]", 1, {G(SH2(4, 5), WIDE)}, .points = 10},
    {"relu", "[4,5]", 1, {G(SH2(4, 5), K0)}, .points = 10},
    {"relu6", "[4,5]", 1, {G(SH2(4, 5), UK(-3, 9, 2, 0, 6))}, .points = 10},
    {"leaky_relu", "slope 0.01", 1, {G(SH2(4, 5), K0)}, .a = 0.01f, .points = 10},
    {"leaky_relu", "slope -0.7", 1, {G(SH2(4, 5), K0)}, .a = -0.7f, .points = 10},
    {"elu", "alpha 1", 1, {G(SH2(4, 5), K0)}, .a = 1, .points = 10},
    {"selu", "[4,5]", 1, {G(SH2(4, 5), K0)}, .points = 10},
    {"celu", "alpha 2", 1, {G(SH2(4, 5), K0)}, .a = 2, .points = 10},
    {"softplus", "beta 1 threshold 20", 1, {G(SH2(4, 5), WIDE)}, .a = 1, .b = 20, .points = 10},
    {"softplus", "beta 2 threshold 3", 1, {G(SH2(4, 5), UK(-4, 4, 1, 1.5))},
     .a = 2, .b = 3, .points = 10},
    {"softsign", "[4,5]", 1, {G(SH2(4, 5), K0)}, .points = 10},
    {"gelu", "erf", 1, {G(SH2(4, 5), WIDE)}, .mode = TG_GELU_NONE, .points = 10},
    {"gelu", "tanh", 1, {G(SH2(4, 5), WIDE)}, .mode = TG_GELU_TANH, .points = 10},
    {"silu", "[4,5]", 1, {G(SH2(4, 5), WIDE)}, .points = 10},
    {"mish", "[4,5]", 1, {G(SH2(4, 5), WIDE)}, .points = 10},
    {"hardtanh", "[-2, 0.5]", 1, {G(SH2(4, 5), UK(-3, 3, 2, -2, 0.5))}, .a = -2,
     .b = 0.5f, .points = 10},
    {"hardsigmoid", "[4,5]", 1, {G(SH2(4, 5), UK(-5, 5, 2, -3, 3))}, .points = 10},
    {"hardswish", "[4,5]", 1, {G(SH2(4, 5), UK(-5, 5, 2, -3, 3))}, .points = 10},
    {"logsigmoid", "[4,5]", 1, {G(SH2(4, 5), WIDE)}, .points = 10},
    {"prelu", "[4,5] w[5]", 2, {G(SH2(4, 5), K0), G(SH1(5), U(-0.5, 0.5))},
     .points = 10},
    {"softmax", "[4,5] axis 1", 1, {G(SH2(4, 5), WIDE)}, .axis = 1, .points = 10},
    {"log_softmax", "[4,5] axis 0", 1, {G(SH2(4, 5), WIDE)}, .axis = 0, .points = 10},
    /* activations in their tails, where outputs and gradients are tiny */
    /* 1 + erf (or 1 + tanh) cancels: below x ≈ −4, f moves in float stairs a step wide */
    {"gelu", "erf, tail [-5,-3]", 1, {G(SH2(4, 5), U(-5, -3))}, .mode = TG_GELU_NONE, .points = 10,
     .coarse = true},
    {"gelu", "tanh, tail [-5,-3]", 1, {G(SH2(4, 5), U(-5, -3))}, .mode = TG_GELU_TANH, .points = 10,
     .coarse = true},
    {"sigmoid", "tail [-9,-5]", 1, {G(SH2(4, 5), U(-9, -5))}, .points = 10},
    {"tanh", "tail [3,6]", 1, {G(SH2(4, 5), U(3, 6))}, .points = 10},
    {"logsigmoid", "tail [4,9]", 1, {G(SH2(4, 5), U(4, 9))}, .points = 10},
    {"softplus", "tail [-9,-4]", 1, {G(SH2(4, 5), U(-9, -4))}, .a = 1, .b = 20, .points = 10},
    {"silu", "tail [-9,-4]", 1, {G(SH2(4, 5), U(-9, -4))}, .points = 10},
    {"mish", "tail [-9,-4]", 1, {G(SH2(4, 5), U(-9, -4))}, .points = 10},
    {"elu", "tail [-9,-4]", 1, {G(SH2(4, 5), U(-9, -4))}, .a = 1, .points = 10},
    {"softmax", "saturated [-8,8]", 1, {G(SH2(4, 5), U(-8, 8))}, .axis = 1, .points = 10},
    {"log_softmax", "saturated [-8,8]", 1, {G(SH2(4, 5), U(-8, 8))}, .axis = 1, .points = 10},
    {"bce_with_logits", "large logits [6,15], sum", 3, {G(SH2(4, 5), U(6, 15)), G(SH2(4, 5), UNIT)},
     .red = TG_REDUCE_SUM, .points = 10},
    /* losses */
    {"mse_loss", "sum over [8,16]", 2, {G(SH2(8, 16), NEAR(-4, 4, 0, 0)),
     G(SH2(8, 16), WIDE)}, .red = TG_REDUCE_SUM, .points = 50},
    {"mse_loss", "mean [4,5]", 2, {G(SH2(4, 5), WIDE), G(SH2(4, 5), WIDE)}, .red = TG_REDUCE_MEAN,
     .points = 10},
    {"mse_loss", "none [4,5]", 2, {G(SH2(4, 5), WIDE), G(SH2(4, 5), WIDE)}, .red = TG_REDUCE_NONE,
     .points = 10},
    {"l1_loss", "sum [4,5]", 2, {G(SH2(4, 5), NEAR(-3, 3, 1, 0)),
     G(SH2(4, 5), WIDE)}, .red = TG_REDUCE_SUM, .points = 10},
    {"smooth_l1_loss", "beta 1, mean", 2,
     {G(SH2(4, 5), NEAR(-3, 3, 3, 0, -1, 1)), G(SH2(4, 5), WIDE)}, .a = 1,
     .red = TG_REDUCE_MEAN, .points = 10},
    {"huber_loss", "delta 2.5, sum", 2,
     {G(SH2(4, 5), NEAR(-4, 4, 2, -2.5, 2.5)), G(SH2(4, 5), WIDE)}, .a = 2.5,
     .red = TG_REDUCE_SUM, .points = 10},
    {"bce_loss", "sum [6,8]", 2, {G(SH2(6, 8), PROB), G(SH2(6, 8), UNIT)}, .red = TG_REDUCE_SUM,
     .points = 10},
    {"bce_with_logits", "mean [6,8]", 3, {G(SH2(6, 8), WIDE), G(SH2(6, 8), UNIT)},
     .red = TG_REDUCE_MEAN, .points = 10},
    {"bce_with_logits", "sum, pos_weight [8]", 3,
     {G(SH2(6, 8), WIDE), G(SH2(6, 8), UNIT), G(SH1(8), U(0.3, 3))},
     .red = TG_REDUCE_SUM, .points = 10},
    {"cross_entropy", "index targets, sum over [16,10]", 1, {G(SH2(16, 10), WIDE)},
     .red = TG_REDUCE_SUM, .points = 10},
    {"cross_entropy", "weights, smoothing 0.2, mean", 1, {G(SH2(16, 10), WIDE)},
     .red = TG_REDUCE_MEAN, .b = 0.2f, .mode = 1, .points = 10},
    {"cross_entropy", "probability targets, sum", 2, {G(SH2(6, 10), WIDE), G(SH2(6, 10), UNIT)},
     .red = TG_REDUCE_SUM, .axis = 1, .points = 10},
    {"nll_loss", "of log_softmax, sum [16,10]", 1, {G(SH2(16, 10), WIDE)}, .red = TG_REDUCE_SUM,
     .points = 10},
};
#define N_CASES (sizeof CASES / sizeof *CASES)

/* The options each part runs with (see the file's comment). */
static tg_gradcheck_opts opts_for_bugs(void)
{
    tg_gradcheck_opts o = tg_gradcheck_defaults();
#ifdef TG_DOUBLE
    o.error_bound = true;
    o.atol = 0;
    o.scale_tol = 1e-5;
#endif
    return o;
}

/* The ops of the core families (arithmetic, reductions and shapes of the
   first release, matrix products, activations, losses, comparing and
   selecting) each have a case here. The families added since (indexing,
   joining, element-wise math, the new shapes and reductions, convolution,
   pooling, normalisation, recurrent, attention) are checked with the same
   defaults at generic points by their own suites (tests/ops/test_fd_*.c);
   docs/gradcheck.md gives the figures of both. */
Test(trust, every_case_is_a_builtin_op)
{
    size_t distinct = 0;
    for (size_t c = 0; c < N_CASES; c++) {
        const tg_op *op = tg_op_find(CASES[c].op);
        cr_expect(op && tg_op_is_builtin(op), "case %zu: '%s' is not a built-in op", c, CASES[c].op);
        bool first = true;
        for (size_t d = 0; d < c && first; d++) first = strcmp(CASES[d].op, CASES[c].op) != 0;
        distinct += first;
    }
    cr_expect_eq(distinct, 61, "%zu ops with cases (update the figures in docs/gradcheck.md)",
                 distinct);
}

Test(trust, no_false_alarm_on_any_builtin_op)
{
    for (int k = 0; k < 64; k++) targets[k] = (k * 7) % 10;
    targets[3] = targets[11] = TG_IGNORE_INDEX;
    class_w = tg_zeros(tape, TG_SHAPE(10));
    for (int k = 0; k < 10; k++) class_w->data[k] = (tg_real)(0.2 + 0.15 * k);

    tg_gradcheck_opts o = tg_gradcheck_defaults();
    int64_t checks = 0, alarms = 0, flagged = 0, elements = 0, points = 0;
    for (size_t ci = 0; ci < N_CASES; ci++) {
        const tcase *c = &CASES[ci];
        tg_tensor *in[MAX_IN] = {NULL};
        for (int i = 0; i < c->n_in; i++) {
            if (!c->in[i].ndim) continue;
            in[i] = tg_requires_grad(tg_zeros(tape, c->in[i].ndim, c->in[i].shape), c->in[i].grad);
        }
        double closest = 0, coarsest = 0;
        int64_t case_alarms = 0, case_flagged = 0;
        points += c->points;
        for (int pt = 0; pt < c->points * stress; pt++) {
            fill_point(c, in);
            tg_gradcheck_result r = tg_gradcheck(build, (void *)c, in, c->n_in, &o);
            cr_assert_eq(r.status, TG_OK, "%s (%s): %s", c->op, c->label, r.message);
            checks++;
            elements += r.checked;
            case_alarms += !r.ok;
            case_flagged += r.near_kink;
            cr_expect(r.ok, "%s (%s), point %d: %s", c->op, c->label, pt, r.message);
            if (!c->coarse)
                cr_expect_eq(r.near_kink, 0, "%s (%s), point %d: %s", c->op, c->label, pt,
                             r.message);
            double s = r.tolerance > 0 ? r.abs_err / r.tolerance : 0;
            if (s > closest) closest = s;
            if (r.resolution > coarsest) coarsest = r.resolution;
        }
        alarms += case_alarms;
        flagged += case_flagged;
        if (verbose)
            fprintf(stderr, "%-16s %-34s %4d points: %lld alarms, %lld not judged, closest call "
                            "%5.1f%%, resolution %.2g%%\n",
                    c->op, c->label, c->points * stress, (long long)case_alarms,
                    (long long)case_flagged, 100 * closest, 100 * coarsest);
    }
    if (verbose)
        fprintf(stderr, "built-in ops: %lld checks (%lld elements), %lld false alarms, %lld "
                        "elements not judged (a jump within the step)\n",
                (long long)checks, (long long)elements, (long long)alarms, (long long)flagged);
    cr_expect_eq(points, 965, "the number of points changed: update docs/gradcheck.md");
    cr_expect_eq(checks, points * stress);
    cr_expect_eq(alarms, 0);
}

/* ================================================= 2. planted bugs, all caught */

/* y = x + ½·sin x, element-wise; dy/dx = 1 + ½·cos x */
static int plant_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                       size_t len)
{
    (void)msg, (void)len;
    *ndim = r->in[0]->ndim;
    for (int d = 0; d < *ndim; d++) shape[d] = r->in[0]->shape[d];
    return TG_OK;
}
static int plant_forward(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++) {
        double x = (double)r->in[0]->data[i];
        r->out->data[i] = (tg_real)(x + 0.5 * sin(x));
    }
    return TG_OK;
}
static double plant_slope(const tg_record *r, int64_t i)
{
    return 1 + 0.5 * cos((double)r->in[0]->data[i]);
}

/* The rules: right, and wrong in each of the ways under test. */
#define PLANT_RULE(NAME, STMT)                                                                 \
    static void plant_bw_##NAME(tg_record *r)                                                   \
    {                                                                                           \
        tg_real *dx = r->in[0]->grad;                                                           \
        for (int64_t i = 0; i < r->out->size; i++) {                                            \
            double g = (double)r->out->grad[i], d = plant_slope(r, i);                          \
            (void)d;                                                                            \
            STMT;                                                                               \
        }                                                                                       \
    }
PLANT_RULE(ok, dx[i] += (tg_real)(g * d))
PLANT_RULE(up1, dx[i] += (tg_real)(1.01 * g * d))   /* 1% too large */
PLANT_RULE(down1, dx[i] += (tg_real)(0.99 * g * d)) /* 1% too small */
PLANT_RULE(drop, dx[i] += (tg_real)g)               /* the ½·cos x term dropped */
PLANT_RULE(absg, dx[i] += (tg_real)(fabs(g) * d))   /* |g| for g */
PLANT_RULE(sqg, dx[i] += (tg_real)(g * g * d))      /* g² for g */
PLANT_RULE(assign, dx[i] = (tg_real)(g * d))        /* = for += */

#define PLANT_OP(NAME) {.name = "plant_" #NAME, .n_inputs = 1, .shape = plant_shape, \
                        .forward = plant_forward, .backward = plant_bw_##NAME}
static const tg_op plant_ops[] = {PLANT_OP(ok),  PLANT_OP(up1), PLANT_OP(down1), PLANT_OP(drop),
                                  PLANT_OP(absg), PLANT_OP(sqg), PLANT_OP(assign)};

/* mean over all elements: y = Σx/n, dx += g/n */
static int mean_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                      size_t len)
{
    (void)r, (void)shape, (void)msg, (void)len;
    *ndim = 0;
    return TG_OK;
}
static int mean_forward(tg_record *r)
{
    double s = 0;
    for (int64_t i = 0; i < r->in[0]->size; i++) s += (double)r->in[0]->data[i];
    r->out->data[0] = (tg_real)(s / (double)r->in[0]->size);
    return TG_OK;
}
static void mean_bw_ok(tg_record *r)
{
    double g = (double)r->out->grad[0] / (double)r->in[0]->size;
    for (int64_t i = 0; i < r->in[0]->size; i++) r->in[0]->grad[i] += (tg_real)g;
}
static void mean_bw_5pc(tg_record *r) /* 5% off */
{
    double g = 1.05 * (double)r->out->grad[0] / (double)r->in[0]->size;
    for (int64_t i = 0; i < r->in[0]->size; i++) r->in[0]->grad[i] += (tg_real)g;
}
static const tg_op mean_ops[] = {
    {.name = "mean_ok", .n_inputs = 1, .shape = mean_shape, .forward = mean_forward,
     .backward = mean_bw_ok},
    {.name = "mean_no_backward", .n_inputs = 1, .shape = mean_shape, .forward = mean_forward},
    {.name = "mean_5pc", .n_inputs = 1, .shape = mean_shape, .forward = mean_forward,
     .backward = mean_bw_5pc},
};

/* leaky relu, slope 0.01; the wrong rule's slope is 0.02 */
static int leaky_forward(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++) {
        tg_real x = r->in[0]->data[i];
        r->out->data[i] = x > 0 ? x : (tg_real)0.01 * x;
    }
    return TG_OK;
}
static void leaky_bw_ok(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++)
        r->in[0]->grad[i] += r->out->grad[i] * (r->in[0]->data[i] > 0 ? 1 : (tg_real)0.01);
}
static void leaky_bw_02(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++)
        r->in[0]->grad[i] += r->out->grad[i] * (r->in[0]->data[i] > 0 ? 1 : (tg_real)0.02);
}
static const tg_op leaky_ops[] = {
    {.name = "leaky_ok", .n_inputs = 1, .shape = plant_shape, .forward = leaky_forward,
     .backward = leaky_bw_ok},
    {.name = "leaky_slope_0.02", .n_inputs = 1, .shape = plant_shape, .forward = leaky_forward,
     .backward = leaky_bw_02},
};

/* f(x) = c·op(x/s): vector output, or c·Σ w ⊙ op(x/s) (w = in[1], mixed signs); with
   `twice`, op(x/s) + ½·x/s, so that x/s is used twice. */
typedef struct {
    const tg_op *op;
    tg_real c, inv_s;
    bool scalar, twice;
} plant_ctx;

static tg_tensor *plant_f(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    const plant_ctx *p = ctx;
    tg_tensor *u = tg_scale(t, in[0], p->inv_s);
    tg_tensor *y = tg_apply(t, p->op, &u, 1, NULL);
    if (p->twice) y = tg_add(t, y, tg_scale(t, u, (tg_real)0.5));
    if (p->scalar) y = tg_sum(t, tg_mul(t, y, in[1]), TG_ALL, false);
    return tg_scale(t, y, p->c);
}

static const double GRAD_SCALES[] = {1e-6, 1e-4, 1e-2, 1, 1e2, 1e4, 1e6};
static const double INPUT_SCALES[] = {1e-3, 1, 1e3};
#define N_GS (sizeof GRAD_SCALES / sizeof *GRAD_SCALES)
#define N_IS (sizeof INPUT_SCALES / sizeof *INPUT_SCALES)
#define PLANT_POINTS (3 * stress)

typedef struct {
    int64_t checks, flagged; /* flagged: failed (bugs) or not ok (correct rules) */
    double weakest;          /* bugs: the smallest worst error/tolerance; rules: the largest */
} tally_t;

/* Every gradient and input scale, both forms (or only c·op(x/s), for an op whose output is
   a scalar already), PLANT_POINTS points: x/s uniform on ±[lo, hi], the first element
   negative. */
static tally_t plant_grid(const tg_op *op, bool twice, int64_t size, bool both_forms,
                          double lo, double hi, const tg_gradcheck_opts *o)
{
    tally_t t = {0, 0, -1};
    tg_tensor *x = tg_requires_grad(tg_zeros(tape, TG_SHAPE(size)), true);
    tg_tensor *w = tg_zeros(tape, TG_SHAPE(size));
    for (size_t gs = 0; gs < N_GS; gs++)
        for (size_t is = 0; is < N_IS; is++)
            for (int form = 0; form < (both_forms ? 2 : 1); form++)
                for (int pt = 0; pt < PLANT_POINTS; pt++) {
                    double s = INPUT_SCALES[is];
                    for (int64_t k = 0; k < size; k++) {
                        double m = unif(lo, hi) * (k == 0 || tg_rng_uniform(&rng) < 0.5 ? -1 : 1);
                        x->data[k] = (tg_real)(s * m);
                        double sign = tg_rng_uniform(&rng) < 0.5 ? -1 : 1;
                        w->data[k] = (tg_real)(unif(0.5, 1.5) * sign);
                    }
                    plant_ctx p = {op, (tg_real)(GRAD_SCALES[gs] * s), (tg_real)(1 / s), form == 1,
                                   twice};
                    tg_tensor *in[2] = {x, w};
                    tg_gradcheck_result r = tg_gradcheck(plant_f, &p, in, 2, o);
                    cr_assert_eq(r.status, TG_OK, "%s: %s", op->name, r.message);
                    cr_expect_eq(r.near_kink, 0, "%s: %s", op->name, r.message);
                    t.checks++;
                    t.flagged += !r.ok;
                    double sc = r.tolerance > 0 ? r.abs_err / r.tolerance : INFINITY;
                    if (t.weakest < 0 || (!r.ok ? sc < t.weakest : sc > t.weakest)) t.weakest = sc;
                }
    return t;
}

Test(trust, every_planted_bug_is_caught_at_every_scale)
{
    tg_gradcheck_opts o = opts_for_bugs();
    int64_t bug_checks = 0, caught = 0, rule_checks = 0, alarms = 0;
    struct {
        const tg_op *op;
        bool bug, twice, both_forms;
        int64_t size;
        double lo, hi;
    } grid[] = {
        {&plant_ops[0], false, false, true, 6, 0.1, 3},
        {&plant_ops[0], false, true, true, 6, 0.1, 3},
        {&plant_ops[1], true, false, true, 6, 0.1, 3},
        {&plant_ops[2], true, false, true, 6, 0.1, 3},
        {&plant_ops[3], true, false, true, 6, 0.1, 3},
        {&plant_ops[4], true, false, true, 6, 0.1, 3},
        {&plant_ops[5], true, false, true, 6, 0.1, 3},
        {&plant_ops[6], true, true, true, 6, 0.1, 3},
        {&mean_ops[0], false, false, false, 200, 0, 3},
        {&mean_ops[1], true, false, false, 200, 0, 3},
        {&mean_ops[2], true, false, false, 200, 0, 3},
        {&leaky_ops[0], false, false, true, 8, 0.1, 3},
        {&leaky_ops[1], true, false, true, 8, 0.1, 3},
    };
    for (size_t b = 0; b < sizeof grid / sizeof *grid; b++) {
        tally_t t = plant_grid(grid[b].op, grid[b].twice, grid[b].size, grid[b].both_forms,
                               grid[b].lo, grid[b].hi, &o);
        if (grid[b].bug) {
            bug_checks += t.checks;
            caught += t.flagged;
            cr_expect_eq(t.flagged, t.checks, "%s: %lld of %lld checks caught it", grid[b].op->name,
                         (long long)t.flagged, (long long)t.checks);
        } else {
            rule_checks += t.checks;
            alarms += t.flagged;
            cr_expect_eq(t.flagged, 0, "%s%s: %lld false alarms in %lld checks", grid[b].op->name,
                         grid[b].twice ? " (used twice)" : "", (long long)t.flagged,
                         (long long)t.checks);
        }
        if (verbose)
            fprintf(stderr, "%-18s%s %4lld checks: %4lld %s, %s %.3g of the tolerance\n",
                    grid[b].op->name, grid[b].twice ? " twice" : "      ", (long long)t.checks,
                    (long long)t.flagged, grid[b].bug ? "caught" : "false alarms",
                    grid[b].bug ? "the weakest catch at" : "the closest call at", t.weakest);
    }
    if (verbose)
        fprintf(stderr,
                "planted bugs: %lld of %lld checks caught; correct rules: %lld false alarms in "
                "%lld checks\n",
                (long long)caught, (long long)bug_checks, (long long)alarms,
                (long long)rule_checks);
    /* 7 gradient scales x 3 input scales x 3 points, x 2 forms for the element-wise ops */
    cr_expect_eq(bug_checks, (6 * 126 + 2 * 63 + 126) * stress);
    cr_expect_eq(caught, bug_checks);
    cr_expect_eq(rule_checks, (2 * 126 + 63 + 126) * stress);
    cr_expect_eq(alarms, 0);
}

/* An offset near 0 (a bias of 0.003 in a loss of size ~60) has no scale of
   its own: its step must come from the rounding of f, not from |b|, or its
   gradient cannot be resolved to 1%. f = Σ (x + b − t)² over 64 points;
   the rule under test is the bias's, right or 1% too large. */
static int offset_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    return plant_shape(r, ndim, shape, msg, len);
}
static int offset_forward(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++)
        r->out->data[i] = r->in[0]->data[i] + r->in[1]->data[0];
    return TG_OK;
}
static void offset_bw(tg_record *r, double factor)
{
    double db = 0;
    for (int64_t i = 0; i < r->out->size; i++) {
        if (r->in[0]->grad) r->in[0]->grad[i] += r->out->grad[i];
        db += (double)r->out->grad[i];
    }
    if (r->in[1]->grad) r->in[1]->grad[0] += (tg_real)(factor * db);
}
static void offset_bw_ok(tg_record *r) { offset_bw(r, 1); }
static void offset_bw_up1(tg_record *r) { offset_bw(r, 1.01); }
static const tg_op offset_ops[2] = {
    {.name = "offset", .n_inputs = 2, .shape = offset_shape, .forward = offset_forward,
     .backward = offset_bw_ok},
    {.name = "offset_1pc", .n_inputs = 2, .shape = offset_shape, .forward = offset_forward,
     .backward = offset_bw_up1},
};
static tg_tensor *offset_loss(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    tg_tensor *xb[2] = {in[0], in[1]};
    tg_tensor *y = tg_apply(t, (const tg_op *)ctx, xb, 2, NULL);
    return tg_sum(t, tg_square(t, tg_sub(t, y, in[2])), TG_ALL, false);
}

Test(trust, a_bias_near_zero_is_resolved)
{
    tg_tensor *x = tg_zeros(tape, TG_SHAPE(64)), *tgt = tg_zeros(tape, TG_SHAPE(64));
    for (int k = 0; k < 64; k++) {
        x->data[k] = (tg_real)unif(-1, 1);
        tgt->data[k] = (tg_real)(x->data[k] + unif(-1, 1));
    }
    tg_tensor *b = tg_requires_grad(tg_zeros(tape, TG_SHAPE(1)), true);
    b->data[0] = (tg_real)0.003;
    tg_tensor *in[3] = {x, b, tgt};
    tg_gradcheck_opts o = opts_for_bugs();
    tg_gradcheck_result r = tg_gradcheck(offset_loss, (void *)&offset_ops[0], in, 3, &o);
    cr_assert_eq(r.status, TG_OK, "%s", r.message);
    cr_expect(r.ok, "%s", r.message);
    cr_expect(r.resolution < 0.005, "the bias's gradient resolved to %g only", r.resolution);
    r = tg_gradcheck(offset_loss, (void *)&offset_ops[1], in, 3, &o);
    cr_assert_eq(r.status, TG_OK, "%s", r.message);
    cr_expect(!r.ok, "a 1%% error in the bias's gradient passed: %s", r.message);
}

/* ============================================ 3. a kink within a step is named */

/* The step the defaults take at x in an input whose mean |x| is typ (the rule
   of tg_gradcheck_opts: eps·max(|x|, typ) with relative_step, else eps). */
static double step_at(double x, double typ)
{
    tg_gradcheck_opts o = tg_gradcheck_defaults();
    return o.relative_step ? o.eps * fmax(fabs(x), typ) : o.eps;
}

static double mean_abs(const tg_tensor *x)
{
    double s = 0;
    for (int64_t k = 0; k < x->size; k++) s += fabs((double)x->data[k]);
    return s / (double)x->size;
}

typedef struct {
    const char *op;
    tg_real a, b;
    int n_kinks;
    double kink[2];   /* each placed next to one element */
    bool pair;        /* max: the kink is a tie with the next element */
} kink_case;

static tg_tensor *kink_f(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    const kink_case *c = ctx;
    tg_tensor *x = in[0];
    if (!strcmp(c->op, "relu")) return tg_relu(t, x);
    if (!strcmp(c->op, "relu6")) return tg_relu6(t, x);
    if (!strcmp(c->op, "leaky_relu")) return tg_leaky_relu(t, x, c->a);
    if (!strcmp(c->op, "hardtanh")) return tg_hardtanh(t, x, c->a, c->b);
    if (!strcmp(c->op, "hardsigmoid")) return tg_hardsigmoid(t, x);
    if (!strcmp(c->op, "abs")) return tg_abs(t, x);
    if (!strcmp(c->op, "elu")) return tg_elu(t, x, c->a);
    if (!strcmp(c->op, "max")) return tg_max(t, x, TG_ALL, false);
    if (!strcmp(c->op, "l1_loss")) return tg_l1_loss(t, x, in[1], TG_REDUCE_SUM);
    return NULL;
}

Test(trust, a_point_within_a_step_of_a_kink_is_named_not_failed)
{
    static const kink_case cases[] = {
        {"relu", 0, 0, 1, {0, 0}, false},         {"relu6", 0, 0, 2, {0, 6}, false},
        {"leaky_relu", 0.01f, 0, 1, {0, 0}, false}, {"hardtanh", -1, 1, 2, {-1, 1}, false},
        {"hardsigmoid", 0, 0, 2, {-3, 3}, false},  {"abs", 0, 0, 1, {0, 0}, false},
        {"elu", 0.5f, 0, 1, {0, 0}, false},        {"max", 0, 0, 1, {2, 0}, true},
        {"l1_loss", 0, 0, 1, {0, 0}, false},
    };
    const double fracs[] = {0.25, -0.25, 0.6, -0.6}; /* where x sits, in steps from the kink */
    tg_gradcheck_opts o = tg_gradcheck_defaults();
    int64_t placed = 0, named = 0, checks = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const kink_case *c = &cases[ci];
        for (size_t fi = 0; fi < sizeof fracs / sizeof *fracs; fi++) {
            /* 8 elements far from every kink (|x − kink| ≥ 0.5; max: distinct, below 1) */
            tg_tensor *x = tg_requires_grad(tg_zeros(tape, TG_SHAPE(8)), true);
            tg_tensor *target = tg_zeros(tape, TG_SHAPE(8));
            for (int64_t k = 0; k < 8; k++) {
                x->data[k] = c->pair ? (tg_real)(-2 + 0.35 * (double)k)
                                     : (tg_real)((k % 2 ? 1 : -1) * (4.5 + 0.3 * (double)k));
                target->data[k] = (tg_real)(x->data[k] + (k % 2 ? 0.7 : -0.9));
            }
            /* then elements 1 (and 5) within a step of a kink */
            int n_near = c->pair ? 2 : c->n_kinks;
            for (int kk = 0; kk < c->n_kinks; kk++) {
                int64_t e = kk ? 5 : 1;
                double base = c->pair ? (double)x->data[7] : c->kink[kk];
                if (!strcmp(c->op, "l1_loss")) base = (double)target->data[e];
                x->data[e] = (tg_real)base;
                double h = step_at(base, mean_abs(x));
                x->data[e] = (tg_real)(base + fracs[fi] * h);
            }
            tg_tensor *in[2] = {x, target};
            tg_gradcheck_result r = tg_gradcheck(kink_f, (void *)c, in, 2, &o);
            cr_assert_eq(r.status, TG_OK, "%s: %s", c->op, r.message);
            checks++;
            placed += n_near;
            named += r.near_kink;
            cr_expect(r.ok, "%s, x at %+g steps from the kink: %s", c->op, fracs[fi], r.message);
            cr_expect_eq(r.near_kink, n_near, "%s, x at %+g steps from the kink: %s", c->op,
                         fracs[fi], r.message);
            cr_expect(r.kink_input == 0 && (r.kink_index == 1 || (c->pair && r.kink_index == 7)),
                      "%s: the kink named at input %d element %lld", c->op, r.kink_input,
                      (long long)r.kink_index);
        }
    }
    if (verbose)
        fprintf(stderr, "kinks: %lld checks, %lld elements placed within a step, %lld named\n",
                (long long)checks, (long long)placed, (long long)named);
    cr_expect_eq(placed, 4 * (1 + 2 + 1 + 2 + 2 + 1 + 1 + 2 + 1));
    cr_expect_eq(named, placed);
}

/* relu6 at 5.999998: the float step (6·eps) crosses 6, the double one (1e-6) does not */
static tg_tensor *f_relu6(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_relu6(t, in[0]);
}

Test(trust, relu6_just_below_6)
{
    tg_real v[] = {(tg_real)5.999998, (tg_real)-1.5, (tg_real)2.5};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(tape, TG_SHAPE(3), v), true);
    tg_gradcheck_opts o = tg_gradcheck_defaults();
    char *buf = NULL;
    size_t len = 0;
    o.report = open_memstream(&buf, &len);
    cr_assert(o.report);
    tg_gradcheck_result r = tg_gradcheck(f_relu6, NULL, &x, 1, &o);
    fclose(o.report);
    cr_assert_eq(r.status, TG_OK, "%s", r.message);
    cr_expect(r.ok, "%s", r.message);
    cr_expect_eq(r.failed, 0);
    bool crosses = step_at(5.999998, mean_abs(x)) > 6 - (double)v[0];
    cr_expect_eq(r.near_kink, crosses ? 1 : 0, "%s", r.message);
    if (crosses) {
        cr_expect_eq(r.kink_index, 0);
        cr_expect(strstr(r.message, "1 near a kink or a jump (the first: input 0 element [0]"),
                  "%s", r.message);
        cr_expect(strstr(buf, "near a kink: input 0 element [0], output [0], x = 5.999998"),
                  "%s", buf);
    }
    free(buf);
}

/* A wrong rule next to a kink still fails: relu whose backward passes the
   gradient for x > −0.3·h, so on the wrong side of the kink at x = −h/10. */
static void relu_bw_wrong_side(tg_record *r)
{
    tg_real lim = r->in[0]->data[r->out->size - 1]; /* the last element carries −0.3·h */
    for (int64_t i = 0; i < r->out->size; i++)
        r->in[0]->grad[i] += r->in[0]->data[i] > lim ? r->out->grad[i] : 0;
}
static int relu_forward(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++)
        r->out->data[i] = r->in[0]->data[i] > 0 ? r->in[0]->data[i] : 0;
    return TG_OK;
}

Test(trust, a_wrong_rule_next_to_a_kink_still_fails)
{
    tg_real v[] = {(tg_real)-2.5, 0, (tg_real)1.5, (tg_real)-3, (tg_real)2, 0};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(tape, TG_SHAPE(6), v), true);
    double h = step_at(0, mean_abs(x));
    x->data[1] = (tg_real)(-0.1 * h);
    x->data[5] = (tg_real)(-0.3 * h); /* far enough from the kink to pass, the test's own limit */
    const tg_op op = {.name = "relu_wrong_side", .n_inputs = 1, .shape = plant_shape,
                      .forward = relu_forward, .backward = relu_bw_wrong_side};
    plant_ctx p = {&op, 1, 1, false, false};
    tg_tensor *w = tg_zeros(tape, TG_SHAPE(6));
    tg_tensor *in[2] = {x, w};
    tg_gradcheck_result r = tg_gradcheck(plant_f, &p, in, 2, NULL);
    cr_assert_eq(r.status, TG_OK, "%s", r.message);
    cr_expect(!r.ok, "%s", r.message);
    cr_expect_eq(r.failed, 1, "%s", r.message);
    cr_expect_eq(r.worst_index, 1, "%s", r.message);
    cr_expect_eq(r.analytical, 1.0);
    cr_expect(fabs(r.numerical) < 1e-3, "the slope on x's side is 0: %s", r.message);
}
