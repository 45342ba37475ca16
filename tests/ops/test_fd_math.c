/* The element-wise math ops, and the activations and losses added with them,
   against central finite differences (tg_gradcheck with its defaults:
   PyTorch's in the double build, the float ones documented in the header in
   the float build).

   The golden tests compare with PyTorch at fixed points; these compare each
   backward rule with its own forward through the whole Jacobian at seeded
   random points, every input that takes a gradient included (the bounds of
   clamp_tensor, lerp's weight, bce's and bce_with_logits' weight and
   pos_weight, which PyTorch cannot differentiate, kl_div's and
   poisson_nll_loss's target, gaussian_nll_loss's var).

   The cases are a table: each names its builder, its inputs (shape and
   where their values are drawn) and its options, so that a second-order
   checker can run the same table. Points are drawn from a seeded
   splitmix64 inside each function's domain and at least `gap` away from
   every kink (relu-like corners, ties of minimum/maximum, clamp bounds,
   Stirling's switch at y = 1, ...), far wider than the step
   h = eps·max(1, |x|) of either build. Where a rule's kinks depend on
   another input (l1's d = 0, min's a = b), that input is drawn from a small
   set and the first avoids it. */
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
    rng_state = 20240611;
}
static void teardown(void) { tg_tape_free(tape); }
TestSuite(fd_math, .init = setup, .fini = teardown);

/* Where an input's values come from: uniform on [lo, hi) at least `gap`
   from each kink, with a random sign when `sign`; or one of set[] when
   n_set > 0. `grad`: whether the input requires grad. */
#define MAX_KINKS 8
typedef struct {
    double lo, hi;
    int n_kinks;
    double kink[MAX_KINKS];
    int n_set;
    double set[4];
    bool sign, grad;
} fill;

static double draw(const fill *f)
{
    if (f->n_set) return f->set[(int)(next_unit() * f->n_set)];
    for (;;) {
        double v = f->lo + (f->hi - f->lo) * next_unit();
        bool ok = true;
        for (int k = 0; k < f->n_kinks; k++) ok &= fabs(v - f->kink[k]) >= 0.1;
        if (!ok) continue;
        return f->sign && next_unit() < 0.5 ? -v : v;
    }
}

typedef struct {
    int ndim;
    int64_t d[TG_MAX_DIMS];
} shape;

/* One case: `build` makes the output from the inputs (their shapes and
   fills below) with the options a, b, i, f1, f2 and the reduction. */
typedef struct fd_case {
    const char *name;
    tg_gradcheck_fn build;
    int n;
    shape sh[4];
    fill fl[4];
    double a, b;
    int i;
    bool f1, f2;
    tg_reduction red;
    /* NULL, or false for a draw whose kinks depend on several inputs at
       once and lie too close (it is drawn again) */
    bool (*accept)(tg_tensor *const *in, const struct fd_case *c);
} fd_case;

#define CTX const fd_case *c = ctx; (void)n, (void)c
#define R(v) ((tg_real)(v))

/* -------------------------------------------------------------- builders */

#define UNARY_FD(NAME)                                                                   \
    static tg_tensor *f_##NAME(tg_tape *t, tg_tensor *const *in, int n, void *ctx)       \
    {                                                                                    \
        CTX;                                                                             \
        return tg_##NAME(t, in[0]);                                                      \
    }
#define BINARY_FD(NAME)                                                                  \
    static tg_tensor *f_##NAME(tg_tape *t, tg_tensor *const *in, int n, void *ctx)       \
    {                                                                                    \
        CTX;                                                                             \
        return tg_##NAME(t, in[0], in[1]);                                               \
    }
UNARY_FD(sin) UNARY_FD(cos) UNARY_FD(tan) UNARY_FD(asin) UNARY_FD(acos) UNARY_FD(atan)
UNARY_FD(sinh) UNARY_FD(cosh) UNARY_FD(asinh) UNARY_FD(acosh) UNARY_FD(atanh)
UNARY_FD(log1p) UNARY_FD(expm1) UNARY_FD(log2) UNARY_FD(log10) UNARY_FD(exp2)
UNARY_FD(rsqrt) UNARY_FD(reciprocal) UNARY_FD(erfc) UNARY_FD(erfinv) UNARY_FD(tanhshrink)
BINARY_FD(atan2) BINARY_FD(minimum) BINARY_FD(maximum) BINARY_FD(pow_tensor)

static tg_tensor *f_pow_scalar_base(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_pow_scalar_base(t, R(c->a), in[0]);
}
/* f1, f2: whether lo and hi are given (the inputs are x, then those) */
static tg_tensor *f_clamp_tensor(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_clamp_tensor(t, in[0], c->f1 ? in[1] : NULL, c->f2 ? in[c->f1 ? 2 : 1] : NULL);
}
static tg_tensor *f_lerp(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_lerp(t, in[0], in[1], R(c->a));
}
static tg_tensor *f_lerp_tensor(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_lerp_tensor(t, in[0], in[1], in[2]);
}
static tg_tensor *f_add_alpha(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return c->f1 ? tg_sub_alpha(t, in[0], in[1], R(c->a)) : tg_add_alpha(t, in[0], in[1], R(c->a));
}
static tg_tensor *f_softmin(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_softmin(t, in[0], c->i);
}
static tg_tensor *f_glu(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_glu(t, in[0], c->i);
}
static tg_tensor *f_hardshrink(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_hardshrink(t, in[0], R(c->a));
}
static tg_tensor *f_softshrink(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_softshrink(t, in[0], R(c->a));
}
static tg_tensor *f_threshold(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_threshold(t, in[0], R(c->a), R(c->b));
}
static tg_tensor *f_logit(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_logit(t, in[0], R(c->a));
}
/* i: 0 mse, 1 l1, 2 smooth_l1 (beta a), 3 huber (delta a) */
static tg_tensor *f_regression(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    switch (c->i) {
    case 0: return tg_mse_loss(t, in[0], in[1], c->red);
    case 1: return tg_l1_loss(t, in[0], in[1], c->red);
    case 2: return tg_smooth_l1_loss(t, in[0], in[1], R(c->a), c->red);
    default: return tg_huber_loss(t, in[0], in[1], R(c->a), c->red);
    }
}
static tg_tensor *f_bce_loss(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_bce_loss_ex(t, in[0], in[1], in[2], c->red);
}
/* inputs: logits, target, pos_weight, weight */
static tg_tensor *f_bce_with_logits(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_bce_with_logits_ex(t, in[0], in[1], in[3], in[2], c->red);
}
static tg_tensor *f_kl_div(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_kl_div(t, in[0], in[1], c->red, c->f1);
}
static tg_tensor *f_cosine_similarity(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_cosine_similarity(t, in[0], in[1], c->i, R(c->a));
}
static tg_tensor *f_cosine_embedding_loss(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_cosine_embedding_loss(t, in[0], in[1], in[2], R(c->a), c->red);
}
static tg_tensor *f_margin_ranking_loss(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_margin_ranking_loss(t, in[0], in[1], in[2], R(c->a), c->red);
}
static tg_tensor *f_hinge_embedding_loss(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_hinge_embedding_loss(t, in[0], in[1], R(c->a), c->red);
}
/* targets (n·7) % C for sample n; i = p; f1: class weights (input 1) */
static tg_tensor *f_multi_margin_loss(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    const tg_tensor *x = in[0];
    int64_t N = x->ndim == 2 ? x->shape[0] : 1, C = x->shape[x->ndim - 1], y[16];
    for (int64_t k = 0; k < N; k++) y[k] = (k * 7 + 1) % C;
    tg_index *target = tg_index_new(t, 1, &N, y);
    return tg_multi_margin_loss(t, in[0], target, c->i, R(c->a), c->f1 ? in[1] : NULL, c->red);
}
/* a margin, b p; f1 swap */
static tg_tensor *f_triplet_margin_loss(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_triplet_margin_loss(t, in[0], in[1], in[2], R(c->a), R(c->b), R(1e-6), c->f1,
                                  c->red);
}
/* f1 log_input, f2 full, a eps */
static tg_tensor *f_poisson_nll_loss(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_poisson_nll_loss(t, in[0], in[1], c->f1, c->f2, R(c->a), c->red);
}
/* f1 full, a eps */
static tg_tensor *f_gaussian_nll_loss(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    CTX;
    return tg_gaussian_nll_loss(t, in[0], in[1], in[2], c->f1, R(c->a), c->red);
}

/* triplet_margin_loss's kinks: every row's d_an and d_pn (the min's tie,
   with swap) and margin + d_ap − d_n (the clamp) at least 0.1 from 0 */
static double pdist(const tg_tensor *x, const tg_tensor *y, int64_t row, int64_t D, double p)
{
    double s = 0;
    for (int64_t j = 0; j < D; j++) {
        int64_t ix = x->shape[0] == 1 ? j : row * D + j, iy = y->shape[0] == 1 ? j : row * D + j;
        s += pow(fabs((double)x->data[ix] - (double)y->data[iy] + 1e-6), p);
    }
    return pow(s, 1 / p);
}
static bool triplet_accept(tg_tensor *const *in, const fd_case *c)
{
    int64_t rows = in[0]->shape[0], D = in[0]->shape[1];
    for (int64_t q = 0; q < rows; q++) {
        double dap = pdist(in[0], in[1], q, D, c->b), dan = pdist(in[0], in[2], q, D, c->b);
        double dpn = pdist(in[1], in[2], q, D, c->b), dn = c->f1 ? fmin(dan, dpn) : dan;
        if ((c->f1 && fabs(dan - dpn) < 0.1) || fabs(c->a + dap - dn) < 0.1) return false;
    }
    return true;
}

/* ----------------------------------------------------------------- table */

#define OP(NAME, FN, N) .name = NAME, .build = f_##FN, .n = N
#define SH0 {0, {0}}
#define SH1(a) {1, {a}}
#define SH2(a, b) {2, {a, b}}
#define SH3(a, b, c) {3, {a, b, c}}
#define U(lo, hi) {lo, hi, 0, {0}, 0, {0}, false, true}                /* uniform */
#define SG(lo, hi) {lo, hi, 0, {0}, 0, {0}, true, true}               /* ±uniform */
#define K1(lo, hi, k) {lo, hi, 1, {k}, 0, {0}, false, true}           /* one kink */
#define KS(lo, hi, nk, ...) {lo, hi, nk, {__VA_ARGS__}, 0, {0}, false, true}
#define SET(ns, ...) {0, 0, 0, {0}, ns, {__VA_ARGS__}, false, true}   /* one of a set */
#define UC(lo, hi) {lo, hi, 0, {0}, 0, {0}, false, false}          /* uniform, no gradient */
#define PM1 {0, 0, 0, {0}, 2, {-1, 1}, false, false}                  /* ±1, no gradient */
#define MID {0, 0, 0, {0}, 4, {-1.5, -0.5, 0.5, 1.5}, false, true}
#define AVOID_MID KS(-2, 2, 4, -1.5, -0.5, 0.5, 1.5)

/* element-wise math: each unary on [4,6,2] and a 0-d, the binaries broadcast */
#define UN(NAME, F)                                                                     \
    {OP(#NAME, NAME, 1), .sh = {SH3(4, 6, 2)}, .fl = {F}},                                  \
        {OP(#NAME "_0d", NAME, 1), .sh = {SH0}, .fl = {F}}
static const fd_case math_cases[] = {
    UN(sin, U(-4, 4)), UN(cos, U(-4, 4)), UN(tan, U(-1.2, 1.2)), UN(asin, U(-0.9, 0.9)),
    UN(acos, U(-0.9, 0.9)), UN(atan, U(-4, 4)), UN(sinh, U(-2, 2)), UN(cosh, U(-2, 2)),
    UN(asinh, U(-4, 4)), UN(acosh, U(1.2, 4)), UN(atanh, U(-0.9, 0.9)), UN(log1p, U(-0.7, 3)),
    UN(expm1, U(-2, 2)), UN(log2, U(0.3, 4)), UN(log10, U(0.3, 4)), UN(exp2, U(-2, 2)),
    UN(rsqrt, U(0.3, 4)), UN(reciprocal, SG(0.3, 2)), UN(erfc, U(-2, 2)), UN(erfinv, U(-0.9, 0.9)),
    {OP("atan2", atan2, 2), .sh = {SH2(3, 4), SH1(4)},
     .fl = {U(-2, 2), SG(0.3, 2)}},
    {OP("atan2_bcast", atan2, 2), .sh = {SH2(3, 1), SH2(1, 4)},
     .fl = {SG(0.3, 2), U(-2, 2)}},
    {OP("minimum", minimum, 2), .sh = {SH2(3, 4), SH2(3, 4)},
     .fl = {AVOID_MID, MID}},
    {OP("minimum_bcast", minimum, 2), .sh = {SH2(3, 4), SH1(4)},
     .fl = {AVOID_MID, MID}},
    {OP("maximum", maximum, 2), .sh = {SH2(3, 4), SH2(3, 4)},
     .fl = {AVOID_MID, MID}},
    {OP("maximum_bcast", maximum, 2), .sh = {SH1(4), SH2(3, 4)},
     .fl = {MID, AVOID_MID}},
    {OP("pow_tensor", pow_tensor, 2), .sh = {SH2(3, 4), SH2(3, 4)},
     .fl = {U(0.5, 2), U(-2, 2)}},
    {OP("pow_tensor_bcast", pow_tensor, 2), .sh = {SH2(3, 1), SH1(4)},
     .fl = {U(0.5, 2), U(-2, 2)}},
    {OP("pow_scalar_base", pow_scalar_base, 1), .sh = {SH2(3, 4)},
     .fl = {U(-2, 2)}, .a = 2.5},
    {OP("pow_scalar_base_half", pow_scalar_base, 1), .sh = {SH2(3, 4)},
     .fl = {U(-2, 2)}, .a = 0.5},
    {OP("clamp_tensor", clamp_tensor, 3), .sh = {SH2(3, 4), SH2(3, 4), SH1(4)},
     .fl = {KS(-3, 3, 4, -1, -0.5, 0.5, 1), SET(2, -1, -0.5), SET(2, 0.5, 1)},
     .f1 = true, .f2 = true},
    {OP("clamp_tensor_lo", clamp_tensor, 2), .sh = {SH2(3, 4), SH1(4)},
     .fl = {KS(-3, 3, 2, -1, -0.5), SET(2, -1, -0.5)}, .f1 = true},
    {OP("clamp_tensor_hi", clamp_tensor, 2), .sh = {SH1(4), SH2(3, 4)},
     .fl = {KS(-3, 3, 2, 0.5, 1), SET(2, 0.5, 1)}, .f2 = true},
    {OP("lerp", lerp, 2), .sh = {SH2(3, 4), SH1(4)},
     .fl = {U(-2, 2), U(-2, 2)}, .a = 0.3},
    {OP("lerp_far", lerp, 2), .sh = {SH2(3, 1), SH2(1, 4)},
     .fl = {U(-2, 2), U(-2, 2)}, .a = 1.7},
    {OP("lerp_tensor", lerp_tensor, 3), .sh = {SH2(3, 4), SH2(3, 4), SH2(3, 4)},
     .fl = {U(-2, 2), U(-2, 2), U(-0.5, 1.5)}},
    {OP("lerp_tensor_bcast", lerp_tensor, 3), .sh = {SH2(3, 1), SH1(4), SH3(2, 3, 4)},
     .fl = {U(-2, 2), U(-2, 2), U(-0.5, 1.5)}},
    {OP("add_alpha", add_alpha, 2), .sh = {SH2(3, 4), SH1(4)},
     .fl = {U(-2, 2), U(-2, 2)}, .a = -1.5},
    {OP("sub_alpha", add_alpha, 2), .sh = {SH2(3, 1), SH2(3, 4)},
     .fl = {U(-2, 2), U(-2, 2)}, .a = 0.7, .f1 = true},
};
#undef UN

/* activations */
static const fd_case act_cases[] = {
    {OP("softmin", softmin, 1), .sh = {SH3(4, 6, 2)}, .fl = {U(-4, 4)}, .i = 1},
    {OP("softmin_last", softmin, 1), .sh = {SH2(5, 7)},
     .fl = {U(-4, 4)}, .i = -1},
    {OP("glu_last", glu, 1), .sh = {SH2(3, 6)}, .fl = {U(-3, 3)}, .i = -1},
    {OP("glu_mid", glu, 1), .sh = {SH3(2, 4, 3)}, .fl = {U(-3, 3)}, .i = 1},
    {OP("glu_first", glu, 1), .sh = {SH2(4, 3)}, .fl = {U(-3, 3)}, .i = 0},
    {OP("hardshrink", hardshrink, 1), .sh = {SH3(4, 6, 2)},
     .fl = {KS(-3, 3, 2, -0.5, 0.5)}, .a = 0.5},
    {OP("softshrink", softshrink, 1), .sh = {SH3(4, 6, 2)},
     .fl = {KS(-3, 3, 2, -1.5, 1.5)}, .a = 1.5},
    {OP("tanhshrink", tanhshrink, 1), .sh = {SH3(4, 6, 2)}, .fl = {U(-3, 3)}},
    {OP("threshold", threshold, 1), .sh = {SH3(4, 6, 2)},
     .fl = {K1(-3, 3, 0.1)}, .a = 0.1, .b = 20},
    {OP("logit", logit, 1), .sh = {SH3(4, 6, 2)}, .fl = {U(0.1, 0.9)}, .a = -1},
    {OP("logit_eps", logit, 1), .sh = {SH3(4, 6, 2)},
     .fl = {KS(-0.3, 1.3, 2, 0.2, 0.8)}, .a = 0.2},
};

/* losses (each run with every reduction) */
#define W_POS U(0.2, 2)
static const fd_case loss_cases[] = {
    {OP("mse_bcast", regression, 2), .sh = {SH2(4, 3), SH1(3)},
     .fl = {U(-2, 2), U(-2, 2)}, .i = 0},
    {OP("mse_input_bcast", regression, 2), .sh = {SH1(3), SH2(4, 3)},
     .fl = {U(-2, 2), U(-2, 2)}, .i = 0},
    {OP("l1_bcast", regression, 2), .sh = {SH2(4, 3), SH1(3)},
     .fl = {KS(-3, 3, 3, -1, 0, 1), SET(3, -1, 0, 1)}, .i = 1},
    {OP("smooth_l1_bcast", regression, 2), .sh = {SH2(4, 3), SH2(4, 1)},
     .fl = {KS(-3, 3, 6, -1.5, -1, -0.5, 0.5, 1, 1.5), SET(2, -1, 1)}, .i = 2, .a = 0.5},
    {OP("huber_bcast", regression, 2), .sh = {SH2(4, 1), SH2(1, 3)},
     .fl = {KS(-3, 3, 6, -1.7, -1, -0.3, 0.3, 1, 1.7), SET(2, -1, 1)}, .i = 3, .a = 0.7},
    {OP("bce_weight", bce_loss, 3), .sh = {SH2(4, 3), SH2(4, 3), SH1(3)},
     .fl = {U(0.05, 0.95), U(0, 1), W_POS}},
    {OP("bce_weight_rows", bce_loss, 3), .sh = {SH2(4, 3), SH2(4, 3), SH2(4, 1)},
     .fl = {U(0.05, 0.95), U(0, 1), W_POS}},
    {OP("bce_with_logits_weight", bce_with_logits, 4),
     .sh = {SH2(4, 3), SH2(4, 3), SH1(3), SH2(4, 1)},
     .fl = {U(-4, 4), U(0, 1), U(0.3, 3), W_POS}},
    {OP("kl_div", kl_div, 2), .sh = {SH2(4, 5), SH2(4, 5)},
     .fl = {U(-3, -0.1), U(0.1, 1)}},
    {OP("kl_div_bcast", kl_div, 2), .sh = {SH2(4, 5), SH1(5)},
     .fl = {U(-3, -0.1), U(0.1, 1)}},
    {OP("kl_div_log_target", kl_div, 2), .sh = {SH2(4, 5), SH2(1, 5)},
     .fl = {U(-3, -0.1), U(-3, 0)}, .f1 = true},
    {OP("cosine_embedding_loss", cosine_embedding_loss, 3), .sh = {SH2(5, 4), SH2(5, 4), SH1(5)},
     .fl = {U(-2, 2), U(-2, 2), PM1}, .a = 0.2},
    {OP("cosine_embedding_loss_bcast", cosine_embedding_loss, 3),
     .sh = {SH2(1, 4), SH2(5, 4), SH1(5)},
     .fl = {U(-2, 2), U(-2, 2), PM1}, .a = -0.3},
    {OP("margin_ranking_loss", margin_ranking_loss, 3), .sh = {SH2(3, 4), SH2(1, 4), SH2(3, 1)},
     .fl = {U(-2, 2), U(-2, 2), SET(2, -1, 1)}, .a = 0.5},
    {OP("hinge_embedding_loss", hinge_embedding_loss, 2), .sh = {SH2(3, 4), SH1(4)},
     .fl = {K1(-3, 3, 1), PM1}, .a = 1},
    {OP("multi_margin_loss_p1", multi_margin_loss, 1), .sh = {SH2(6, 4)},
     .fl = {U(-2, 2)}, .i = 1, .a = 1},
    {OP("multi_margin_loss_p2_w", multi_margin_loss, 2), .sh = {SH2(6, 4), SH1(4)},
     .fl = {U(-2, 2), UC(0.2, 2)}, .i = 2, .a = 0.5, .f1 = true},
    {OP("multi_margin_loss_1d", multi_margin_loss, 1), .sh = {SH1(5)},
     .fl = {U(-2, 2)}, .i = 2, .a = 1},
    {OP("triplet_p2", triplet_margin_loss, 3), .sh = {SH2(5, 4), SH2(5, 4), SH2(5, 4)},
     .fl = {U(-2, 2), U(-2, 2), U(-2, 2)}, .a = 1, .b = 2, .accept = triplet_accept},
    {OP("triplet_p1_swap", triplet_margin_loss, 3), .sh = {SH2(5, 4), SH2(1, 4), SH2(5, 4)},
     .fl = {U(-2, 2), U(-2, 2), U(-2, 2)}, .a = 2, .b = 1, .f1 = true, .accept = triplet_accept},
    {OP("triplet_p3_swap", triplet_margin_loss, 3), .sh = {SH2(5, 4), SH2(5, 4), SH2(5, 4)},
     .fl = {U(-2, 2), U(-2, 2), U(-2, 2)}, .a = 2, .b = 3, .f1 = true, .accept = triplet_accept},
    {OP("poisson_log", poisson_nll_loss, 2), .sh = {SH2(4, 3), SH2(4, 3)},
     .fl = {U(-2, 2), K1(0.3, 4, 1)},
     .f1 = true, .a = 1e-8},
    {OP("poisson_log_full", poisson_nll_loss, 2), .sh = {SH2(4, 3), SH1(3)},
     .fl = {U(-2, 2), K1(0.3, 4, 1)},
     .f1 = true, .f2 = true, .a = 1e-8},
    {OP("poisson_linear_full", poisson_nll_loss, 2), .sh = {SH2(4, 3), SH2(4, 3)},
     .fl = {U(0.3, 3), K1(0.3, 4, 1)},
     .f2 = true, .a = 0.1},
    {OP("gaussian", gaussian_nll_loss, 3), .sh = {SH2(4, 3), SH2(4, 3), SH2(4, 3)},
     .fl = {U(-2, 2), U(-2, 2), U(0.3, 2)}, .a = 1e-6},
    {OP("gaussian_row_var_full", gaussian_nll_loss, 3), .sh = {SH2(4, 3), SH1(3), SH1(4)},
     .fl = {U(-2, 2), U(-2, 2), U(0.3, 2)}, .a = 1e-6, .f1 = true},
    {OP("gaussian_row1_var", gaussian_nll_loss, 3), .sh = {SH2(4, 3), SH2(4, 3), SH2(4, 1)},
     .fl = {U(-2, 2), U(-2, 2), U(0.3, 2)}, .a = 1e-6},
};

/* cosine_similarity: not a loss (no reduction); norms well above eps */
static const fd_case cos_cases[] = {
    {OP("cosine_similarity", cosine_similarity, 2), .sh = {SH2(4, 5), SH2(4, 5)},
     .fl = {U(-2, 2), U(-2, 2)},
     .i = 1, .a = 1e-8},
    {OP("cosine_similarity_dim0_bcast", cosine_similarity, 2), .sh = {SH2(4, 5), SH2(4, 1)},
     .fl = {U(-2, 2), U(-2, 2)}, .i = 0, .a = 1e-8},
    {OP("cosine_similarity_3d", cosine_similarity, 2), .sh = {SH3(3, 1, 5), SH3(1, 4, 5)},
     .fl = {U(-2, 2), U(-2, 2)}, .i = -1, .a = 1e-8},
};

/* ----------------------------------------------------------------- runner */

/* Draws the case's inputs and checks every element of those that require grad. */
static void run(const fd_case *c)
{
    tg_tensor *in[4] = {0};
    int64_t want = 0;
    for (int k = 0; k < c->n; k++) {
        in[k] = tg_zeros(tape, c->sh[k].ndim, c->sh[k].d);
        cr_assert(in[k], "%s: %s", c->name, tg_tape_error(tape));
        tg_requires_grad(in[k], c->fl[k].grad);
        if (c->fl[k].grad) want += in[k]->size;
    }
    for (int tries = 0;; tries++) {
        cr_assert(tries < 100, "%s: no acceptable point in 100 draws", c->name);
        for (int k = 0; k < c->n; k++)
            for (int64_t i = 0; i < in[k]->size; i++) in[k]->data[i] = (tg_real)draw(&c->fl[k]);
        if (!c->accept || c->accept(in, c)) break;
    }
    tg_gradcheck_result r = tg_gradcheck(c->build, (void *)c, in, c->n, NULL);
    cr_assert_eq(r.status, TG_OK, "%s: gradcheck could not run: %s", c->name, r.message);
    cr_expect_eq(r.checked, want, "%s: checked %lld of %lld elements", c->name,
                 (long long)r.checked, (long long)want);
    cr_expect(r.ok, "%s (reduction %d, %s): %s", c->name, (int)c->red, tg_real_name(), r.message);
}

static void run_table(const fd_case *cases, size_t n, bool reductions)
{
    static const tg_reduction REDS[3] = {TG_REDUCE_MEAN, TG_REDUCE_SUM, TG_REDUCE_NONE};
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < (reductions ? 3 : 1); k++) {
            fd_case c = cases[i];
            c.red = REDS[k];
            run(&c);
            tg_tape_reset(tape);
        }
}

#define COUNT(a) (sizeof a / sizeof *a)
Test(fd_math, math_ops) { run_table(math_cases, COUNT(math_cases), false); }
Test(fd_math, activations) { run_table(act_cases, COUNT(act_cases), false); }
Test(fd_math, losses) { run_table(loss_cases, COUNT(loss_cases), true); }
Test(fd_math, cosine_similarity) { run_table(cos_cases, COUNT(cos_cases), false); }

/* kl_div's batchmean divides by the input's first dimension */
Test(fd_math, kl_div_batchmean)
{
    fd_case c = {OP("kl_div_batchmean", kl_div, 2), .sh = {SH2(4, 5), SH2(4, 5)},
                 .fl = {U(-3, -0.1), U(0.1, 1)},
                 .red = TG_REDUCE_BATCHMEAN};
    run(&c);
}
