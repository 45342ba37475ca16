/* Every activation and loss against central finite differences (tg_gradcheck
   with its defaults: PyTorch's in the double build; the float build runs the
   same cases with the float defaults documented in the header).

   The golden tests compare with PyTorch at fixed points; these compare each
   backward rule with its own forward through the whole Jacobian at seeded
   random points, so every input that receives a gradient is covered: prelu's
   weight, a floating target, bce_with_logits' pos_weight (which PyTorch
   cannot differentiate, so only this test checks it).

   Points stay at least 0.1 away from every kink (x = 0 for relu and kin,
   0 and 6 for relu6, the ends of hardtanh, ±3 for hardsigmoid/hardswish,
   softplus's threshold, d = 0 / ±beta / ±delta for the regression losses),
   far wider than the step h = eps·max(1, |x|) of either build. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>
#include <tapegrad.h>

static uint64_t rng_state;
static double next_unit(void) /* [0, 1), splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

static tg_tape *tape;
static void setup(void)
{
    tape = tg_tape_new();
    rng_state = 20240603;
}
static void teardown(void) { tg_tape_free(tape); }
TestSuite(fd_act, .init = setup, .fini = teardown);

#define MAX_KINKS 4
typedef struct {
    double lo, hi;           /* uniform on [lo, hi) */
    int n_kinks;
    double kink[MAX_KINKS];  /* values kept at least 0.1 away */
} fill;

static const fill WIDE = {-4, 4, 0, {0}};
static const fill PROB = {0.05, 0.95, 0, {0}};
static const fill UNIT = {0, 1, 0, {0}};

static double draw(const fill *f)
{
    for (;;) {
        double v = f->lo + (f->hi - f->lo) * next_unit();
        bool ok = true;
        for (int k = 0; k < f->n_kinks; k++) ok &= fabs(v - f->kink[k]) >= 0.1;
        if (ok) return v;
    }
}

/* A leaf that requires grad (or not), drawn from f. */
static tg_tensor *input(const fill *f, bool grad, int ndim, const int64_t *shape)
{
    tg_tensor *x = tg_zeros(tape, ndim, shape);
    cr_assert(x, "%s", tg_tape_error(tape));
    for (int64_t i = 0; i < x->size; i++) x->data[i] = (tg_real)draw(f);
    return tg_requires_grad(x, grad);
}

/* The case: which op and its options, passed to the builder as ctx. */
typedef struct {
    const char *op;
    tg_real a, b;
    int mode, axis;
    tg_ce_opts ce;
    const int64_t *target;
} attrs;

static tg_tensor *build(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const attrs *c = ctx;
    const char *op = c->op;
    tg_tensor *x = in[0];
#define IS(name) (strcmp(op, name) == 0)
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
    if (IS("mse_loss")) return tg_mse_loss(t, x, in[1], c->ce.reduction);
    if (IS("l1_loss")) return tg_l1_loss(t, x, in[1], c->ce.reduction);
    if (IS("smooth_l1_loss")) return tg_smooth_l1_loss(t, x, in[1], c->a, c->ce.reduction);
    if (IS("huber_loss")) return tg_huber_loss(t, x, in[1], c->a, c->ce.reduction);
    if (IS("bce_loss")) return tg_bce_loss(t, x, in[1], c->ce.reduction);
    if (IS("bce_with_logits"))
        return tg_bce_with_logits(t, x, in[1], n > 2 ? in[2] : NULL, c->ce.reduction);
    if (IS("cross_entropy")) return tg_cross_entropy_ex(t, x, c->target, &c->ce);
    if (IS("cross_entropy_prob")) return tg_cross_entropy_prob(t, x, in[1], &c->ce);
    if (IS("nll_loss")) return tg_nll_loss(t, x, c->target, &c->ce);
#undef IS
    return NULL;
}

/* Checks op(inputs): every element of every input that requires grad. */
static void check(const attrs *a, tg_tensor **in, int n)
{
    int64_t want = 0;
    for (int i = 0; i < n; i++)
        if (in[i] && (in[i]->flags & TG_REQUIRES_GRAD)) want += in[i]->size;
    tg_gradcheck_result r = tg_gradcheck(build, (void *)a, in, n, NULL);
    cr_assert_eq(r.status, TG_OK, "%s: gradcheck could not run: %s", a->op, r.message);
    cr_expect_eq(r.checked, want, "%s: checked %lld of %lld elements", a->op,
                 (long long)r.checked, (long long)want);
    cr_expect(r.ok, "%s (a %g, b %g, mode %d, %s): %s", a->op, (double)a->a, (double)a->b,
              a->mode, tg_real_name(), r.message);
}

#define SH(...) TG_SHAPE(__VA_ARGS__)

/* ------------------------------------------------------------ activations */

/* An element-wise activation on [4,6,2], [27,13] and a scalar. */
static void act_case(attrs a, fill f)
{
    tg_tensor *x1 = input(&f, true, SH(4, 6, 2));
    check(&a, &x1, 1);
    tg_tensor *x2 = input(&f, true, SH(27, 13));
    check(&a, &x2, 1);
    tg_tensor *x3 = input(&f, true, 0, NULL);
    check(&a, &x3, 1);
}

static const fill KINK0 = {-4, 4, 1, {0}};

Test(fd_act, sigmoid) { act_case((attrs){.op = "sigmoid"}, WIDE); }
Test(fd_act, tanh) { act_case((attrs){.op = "tanh"}, WIDE); }
Test(fd_act, relu) { act_case((attrs){.op = "relu"}, KINK0); }
Test(fd_act, relu6) { act_case((attrs){.op = "relu6"}, (fill){-3, 9, 2, {0, 6}}); }
Test(fd_act, leaky_relu)
{
    act_case((attrs){.op = "leaky_relu", .a = (tg_real)TG_LEAKY_RELU_SLOPE}, KINK0);
    act_case((attrs){.op = "leaky_relu", .a = (tg_real)-0.7}, KINK0);
}
Test(fd_act, elu)
{
    act_case((attrs){.op = "elu", .a = 1}, KINK0);
    act_case((attrs){.op = "elu", .a = (tg_real)0.5}, KINK0);
}
Test(fd_act, selu) { act_case((attrs){.op = "selu"}, KINK0); }
Test(fd_act, celu)
{
    act_case((attrs){.op = "celu", .a = 1}, KINK0);
    act_case((attrs){.op = "celu", .a = 2}, KINK0);
}
Test(fd_act, softplus)
{
    act_case((attrs){.op = "softplus", .a = 1, .b = 20}, WIDE);
    /* beta 2, threshold 3: the switch to x is at x = 1.5 */
    act_case((attrs){.op = "softplus", .a = 2, .b = 3}, (fill){-4, 4, 1, {1.5}});
}
Test(fd_act, softsign) { act_case((attrs){.op = "softsign"}, KINK0); }
Test(fd_act, gelu)
{
    act_case((attrs){.op = "gelu", .mode = TG_GELU_NONE}, WIDE);
    act_case((attrs){.op = "gelu", .mode = TG_GELU_TANH}, WIDE);
}
Test(fd_act, silu) { act_case((attrs){.op = "silu"}, WIDE); }
Test(fd_act, mish) { act_case((attrs){.op = "mish"}, WIDE); }
Test(fd_act, hardtanh)
{
    act_case((attrs){.op = "hardtanh", .a = -1, .b = 1}, (fill){-3, 3, 2, {-1, 1}});
    act_case((attrs){.op = "hardtanh", .a = -2, .b = (tg_real)0.5}, (fill){-3, 3, 2, {-2, 0.5}});
}
Test(fd_act, hardsigmoid) { act_case((attrs){.op = "hardsigmoid"}, (fill){-5, 5, 2, {-3, 3}}); }
Test(fd_act, hardswish) { act_case((attrs){.op = "hardswish"}, (fill){-5, 5, 2, {-3, 3}}); }
Test(fd_act, logsigmoid) { act_case((attrs){.op = "logsigmoid"}, WIDE); }

Test(fd_act, prelu)
{
    attrs a = {.op = "prelu"};
    const fill w = {-0.5, 0.5, 0, {0}};
    tg_tensor *per_channel[2] = {input(&KINK0, true, SH(4, 6, 2)), input(&w, true, SH(6))};
    check(&a, per_channel, 2);
    tg_tensor *shared[2] = {input(&KINK0, true, SH(27, 13)), input(&w, true, SH(1))};
    check(&a, shared, 2);
    tg_tensor *cols[2] = {input(&KINK0, true, SH(27, 13)), input(&w, true, SH(13))};
    check(&a, cols, 2);
    tg_tensor *x_only[2] = {input(&KINK0, true, SH(5, 3)), input(&w, false, SH(3))};
    check(&a, x_only, 2);
}

Test(fd_act, softmax_and_log_softmax)
{
    const char *ops[2] = {"softmax", "log_softmax"};
    for (int k = 0; k < 2; k++) {
        for (int axis = -1; axis < 3; axis++) {
            attrs a = {.op = ops[k], .axis = axis};
            tg_tensor *x = input(&WIDE, true, SH(4, 6, 2));
            check(&a, &x, 1);
        }
        attrs a = {.op = ops[k], .axis = 1};
        tg_tensor *x = input(&WIDE, true, SH(27, 13));
        check(&a, &x, 1);
    }
}

/* ----------------------------------------------------------------- losses */

static const tg_reduction REDS[3] = {TG_REDUCE_MEAN, TG_REDUCE_SUM, TG_REDUCE_NONE};

/* Rows of the [ROWS, 13] loss cases: 27 (the notebooks' [27,13]) in double.
   In float a summed loss of 351 terms of size ~2 is ~700, and rounding it to
   float (u = 6e-8) moves each central difference by u·700/(2h) ≈ 5e-3 for
   h = 4e-3, half the float tolerance: a correct rule can fail by chance. The
   float build checks the same rules on [6, 13] (78 terms), where that error
   is five times smaller; the double build checks [27, 13]. */
#ifdef TG_DOUBLE
#define ROWS 27
#else
#define ROWS 6
#endif

/* input = target + d with d drawn away from the loss's kinks; both get a gradient. */
static void pair_case(const char *op, tg_real p, fill d)
{
    for (int r = 0; r < 3; r++) {
        attrs a = {.op = op, .a = p, .ce = {.reduction = REDS[r]}};
        tg_tensor *in[2] = {input(&WIDE, true, SH(4, 6, 2)), input(&WIDE, true, SH(4, 6, 2))};
        for (int64_t i = 0; i < in[0]->size; i++) in[0]->data[i] = in[1]->data[i] + (tg_real)draw(&d);
        check(&a, in, 2);
    }
}

Test(fd_act, mse_loss) { pair_case("mse_loss", 0, WIDE); }
Test(fd_act, l1_loss) { pair_case("l1_loss", 0, KINK0); }
Test(fd_act, smooth_l1_loss)
{
    pair_case("smooth_l1_loss", 1, (fill){-3, 3, 3, {0, -1, 1}});
    pair_case("smooth_l1_loss", (tg_real)0.5, (fill){-3, 3, 3, {0, -0.5, 0.5}});
}
Test(fd_act, huber_loss)
{
    pair_case("huber_loss", 1, (fill){-3, 3, 2, {-1, 1}});
    pair_case("huber_loss", (tg_real)2.5, (fill){-4, 4, 2, {-2.5, 2.5}});
}

Test(fd_act, bce_loss)
{
    for (int r = 0; r < 3; r++) {
        attrs a = {.op = "bce_loss", .ce = {.reduction = REDS[r]}};
        tg_tensor *in[2] = {input(&PROB, true, SH(ROWS, 13)), input(&UNIT, true, SH(ROWS, 13))};
        check(&a, in, 2);
    }
}

Test(fd_act, bce_with_logits)
{
    const fill pw = {0.3, 3, 0, {0}};
    for (int r = 0; r < 3; r++) {
        attrs a = {.op = "bce_with_logits", .ce = {.reduction = REDS[r]}};
        tg_tensor *plain[3] = {input(&WIDE, true, SH(ROWS, 13)), input(&UNIT, true, SH(ROWS, 13)),
                               NULL};
        check(&a, plain, 3);
        /* pos_weight per class ([C] against [N, C]), its gradient too */
        tg_tensor *weighted[3] = {input(&WIDE, true, SH(4, 6, 2)), input(&UNIT, true, SH(4, 6, 2)),
                                  input(&pw, true, SH(2))};
        check(&a, weighted, 3);
        tg_tensor *full[3] = {input(&WIDE, true, SH(5, 3)), input(&UNIT, true, SH(5, 3)),
                              input(&pw, true, SH(5, 3))};
        check(&a, full, 3);
    }
}

Test(fd_act, cross_entropy)
{
    /* [27,13] with targets; [4,6,2] (classes along dim 1) with targets [4,2]; ignore_index;
       smoothing; with and without class weights */
    int64_t t27[27], t8[8]; /* t27: the first ROWS are used */
    for (int i = 0; i < 27; i++) t27[i] = (i * 7) % 13;
    for (int i = 0; i < 8; i++) t8[i] = (i * 5) % 6;
    t27[3] = t27[10] = TG_IGNORE_INDEX;
    const fill W = {0.2, 2, 0, {0}};
    tg_tensor *w13 = input(&W, false, SH(13)), *w6 = input(&W, false, SH(6));
    const double smooth[2] = {0, 0.2};
    for (int r = 0; r < 3; r++)
        for (int s = 0; s < 2; s++)
            for (int wt = 0; wt < 2; wt++) {
                tg_ce_opts o = {REDS[r], TG_IGNORE_INDEX, smooth[s], wt ? w13 : NULL};
                attrs a = {.op = "cross_entropy", .ce = o, .target = t27};
                tg_tensor *x = input(&WIDE, true, SH(ROWS, 13));
                check(&a, &x, 1);
                o.weight = wt ? w6 : NULL;
                attrs b = {.op = "cross_entropy", .ce = o, .target = t8};
                tg_tensor *y = input(&WIDE, true, SH(4, 6, 2));
                check(&b, &y, 1);
                attrs c = {.op = "cross_entropy_prob", .ce = o};
                tg_tensor *in[2] = {input(&WIDE, true, SH(4, 6, 2)),
                                    input(&UNIT, true, SH(4, 6, 2))};
                check(&c, in, 2);
            }
}

Test(fd_act, nll_loss)
{
    int64_t t27[27];
    for (int i = 0; i < 27; i++) t27[i] = (i * 4) % 13;
    t27[0] = 5; /* ignore_index 5 below */
    const fill W = {0.2, 2, 0, {0}};
    tg_tensor *w13 = input(&W, false, SH(13));
    for (int r = 0; r < 3; r++)
        for (int wt = 0; wt < 2; wt++) {
            tg_tensor *w = wt ? w13 : NULL;
            attrs a = {.op = "nll_loss", .ce = {REDS[r], TG_IGNORE_INDEX, 0, w}, .target = t27};
            tg_tensor *x = input(&WIDE, true, SH(ROWS, 13));
            check(&a, &x, 1);
            attrs b = {.op = "nll_loss", .ce = {REDS[r], 5, 0, w}, .target = t27};
            tg_tensor *y = input(&WIDE, true, SH(ROWS, 13));
            check(&b, &y, 1);
        }
}
