/* Corners found by outside testing: wrong results, crashes and traps of the
   core and the ops (each test failed on the code before its fix). */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad.h>

static tg_tape *t;
static void setup(void) { t = tg_tape_new(); }
static void teardown(void) { tg_tape_free(t); }
TestSuite(corners, .init = setup, .fini = teardown);

/* ------------------------------------------------------------ wrong results */

/* ∂(a/b)/∂b = −a/b², computed as −(a/b)/b: b² must not overflow or flush.
   With a = b the exact gradient is −1/b. */
static void check_div_grad(tg_real v)
{
    tg_tensor *a = tg_requires_grad(tg_full(t, TG_SHAPE(1), v), true);
    tg_tensor *b = tg_requires_grad(tg_full(t, TG_SHAPE(1), v), true);
    cr_assert_eq(tg_backward(t, tg_sum(t, tg_div(t, a, b), TG_ALL, false)), TG_OK, "%s",
                 tg_tape_error(t));
    double want = -1.0 / (double)v;
    cr_expect(fabs((double)b->grad[0] - want) <= 1e-6 * fabs(want),
              "d(a/b)/db at a = b = %g: got %g, want %g", (double)v, (double)b->grad[0], want);
    cr_expect(fabs((double)a->grad[0] - 1 / (double)v) <= 1e-6 / (double)v);
    tg_tape_reset(t);
}

Test(corners, div_divisor_gradient_neither_overflows_nor_flushes)
{
    if (sizeof(tg_real) == 4) {
        check_div_grad((tg_real)1e-23); /* b² = 1e-46: below float's range */
        check_div_grad((tg_real)3e-20); /* b² subnormal */
    } else {
        check_div_grad(1e-162);
        check_div_grad(3e-160); /* b² subnormal */
    }
}

/* sum over 2^20 values near 0.1: PyTorch's float32 sum is off by 2e-8
   relative; a sequential float sum by 0.6%. The reference is the double sum
   of the same (float) values. */
Test(corners, float_sums_are_accurate)
{
    const int64_t n = (int64_t)1 << 20;
    tg_tensor *x = tg_zeros(t, TG_SHAPE(n));
    double exact = 0;
    for (int64_t i = 0; i < n; i++) {
        x->data[i] = (tg_real)(0.1 + 1e-3 * (double)(i % 97) / 97);
        exact += (double)x->data[i];
    }
    tg_tensor *s = tg_sum(t, x, TG_ALL, false), *m = tg_mean(t, x, TG_ALL, false);
    cr_expect(fabs((double)s->data[0] - exact) <= 1e-7 * exact, "sum %.9g, exact %.9g",
              (double)s->data[0], exact);
    cr_expect(fabs((double)m->data[0] - exact / (double)n) <= 1e-7 * exact / (double)n,
              "mean %.9g, exact %.9g", (double)m->data[0], exact / (double)n);
    /* over an axis, the long axis first: [n/4, 4] summed over axis 0 */
    tg_tensor *x2 = tg_reshape(t, x, TG_SHAPE(n / 4, 4));
    tg_tensor *s0 = tg_sum(t, x2, 0, false);
    double col[4] = {0};
    for (int64_t i = 0; i < n; i++) col[i % 4] += (double)x->data[i];
    for (int j = 0; j < 4; j++)
        cr_expect(fabs((double)s0->data[j] - col[j]) <= 1e-7 * col[j], "column %d: %.9g vs %.9g",
                  j, (double)s0->data[j], col[j]);
}

/* Reductions along a leading axis take their own paths (rows added four at
   a time, columns in chunks, float exponentials in logsumexp): checked on a
   [2, 7, 2100] tensor along axis 1 (an outer axis, a row count not a
   multiple of four, more columns than one chunk) against the definitions
   computed here in double, with 7 and 19 rows (the float build's AVX-512
   logsumexp takes eight rows at a time, the last ones masked). Each result is off by its final rounding to
   tg_real (U relative: 2⁻²⁴ in float, 2⁻⁵³ in double) and by the rounding
   of the double sums on both sides, at most γ_N = N·D (D = 2⁻⁵³) of the sum
   of the terms' magnitudes each (only the double build sees it); var's
   terms are the squares, at most Σx²; the float build's var takes the
   column's first value x₀ as its shift (one pass), so its terms are
   d = x − x₀: Σd² and (Σd)²/N (at most Σd², by Cauchy–Schwarz) are each
   within γ_N·Σd² and their difference within 3N·D·Σd². logsumexp's exponentials are within
   2 ulp each (exp_nonpos in float, exp_poly in double), so their sum is
   within 4U relative and its log within 4U absolutely, besides the
   roundings of big + log Σ on both sides ((U + D)·|lse|). On AVX-512 the
   float build's exponentials are within 1.07 ulp (2.14U) and each eight are
   summed in float pairwise before the double sum (three roundings, 3U): 5.2U
   in all, which the bound below takes for both. prod multiplies in double
   in the same order as here (U and γ_N relative), cumsum's running sums are
   within U of each and γ_N of their terms' magnitudes, and argmax and
   max_dim's indices are the first maximum's. */
static void check_leading(int64_t N)
{
    enum { O = 2, I = 2100 };
    const double U = sizeof(tg_real) == 4 ? 0x1p-24 : 0x1p-53, D = 0x1p-53;
    tg_tensor *x = tg_zeros(t, TG_SHAPE(O, N, I));
    for (int64_t i = 0; i < O * N * I; i++)
        x->data[i] = (tg_real)(3.0 + 2.0 * sin(0.37 * (double)i) + (i % 5 == 0 ? 40.0 : 0.0));
    tg_tensor *s = tg_sum(t, x, 1, false), *m = tg_mean(t, x, 1, false);
    tg_tensor *v = tg_var(t, x, 1, TG_VAR_CORRECTION, false), *mx = tg_amax(t, x, 1, false);
    tg_tensor *l = tg_logsumexp(t, x, 1, false);
    tg_tensor *pr = tg_prod(t, x, 1, false), *cs = tg_cumsum(t, x, 1);
    tg_index *am = tg_argmax(t, x, 1, false), *mi = NULL;
    tg_tensor *md = tg_max_dim(t, x, 1, false, &mi);
    cr_assert(s && m && v && mx && l && pr && cs && am && md && mi, "%s", tg_tape_error(t));
    for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++) {
            double sum = 0, big = -INFINITY, sq = 0, es = 0, mag = 0, sq2 = 0, sd = 0;
            const double x0 = (double)x->data[o * N * I + i];
            for (int64_t k = 0; k < N; k++) {
                double xv = (double)x->data[(o * N + k) * I + i];
                sum += xv, big = fmax(big, xv), mag += fabs(xv), sq2 += xv * xv;
                sd += (xv - x0) * (xv - x0);
            }
            const double gam = 2 * N * D; /* both sides' double sums */
            double mean = sum / N;
            for (int64_t k = 0; k < N; k++) {
                double xv = (double)x->data[(o * N + k) * I + i];
                sq += (xv - mean) * (xv - mean), es += exp(xv - big);
            }
            int64_t j = o * I + i;
            cr_expect(fabs((double)s->data[j] - sum) <= U * fabs(sum) + gam * mag,
                      "sum [%lld]: %.9g vs %.9g",
                      (long long)j, (double)s->data[j], sum);
            cr_expect(fabs((double)m->data[j] - mean) <= U * fabs(mean) + gam * mag / N,
                      "mean [%lld]",
                      (long long)j);
            double var = sq / (N - 1);
            cr_expect(fabs((double)v->data[j] - var) <=
                          U * var + (gam * sq2 + 3 * N * D * sd) / (N - 1),
                      "var [%lld]: %.9g vs %.9g", (long long)j, (double)v->data[j], var);
            cr_expect_eq((double)mx->data[j], (double)(tg_real)big, "amax [%lld]", (long long)j);
            double lse = big + log(es);
            cr_expect(fabs((double)l->data[j] - lse) <= (U + D) * fabs(lse) + 5.2 * U + gam,
                      "logsumexp [%lld] (%lld rows): %.9g vs %.9g", (long long)j, (long long)N,
                      (double)l->data[j], lse);
            double prod = 1, run = 0, runmag = 0;
            int64_t first = -1;
            for (int64_t k = 0; k < N; k++) {
                int64_t at = (o * N + k) * I + i;
                double xv = (double)x->data[at];
                prod *= xv, run += xv, runmag += fabs(xv);
                if (first < 0 && xv == big) first = k;
                cr_expect(fabs((double)cs->data[at] - run) <= U * fabs(run) + gam * runmag,
                          "cumsum [%lld] (%lld rows): %.9g vs %.9g", (long long)at, (long long)N,
                          (double)cs->data[at], run);
            }
            cr_expect(fabs((double)pr->data[j] - prod) <= (U + gam) * fabs(prod),
                      "prod [%lld] (%lld rows): %.9g vs %.9g", (long long)j, (long long)N,
                      (double)pr->data[j], prod);
            cr_expect_eq(am->data[j], first, "argmax [%lld] (%lld rows)", (long long)j, (long long)N);
            cr_expect_eq(mi->data[j], first, "max_dim's index [%lld]", (long long)j);
            cr_expect_eq((double)md->data[j], (double)(tg_real)big, "max_dim [%lld]", (long long)j);
        }
}

/* The logarithms' gradient at a subnormal x: 1/x overflows, g/x need not.
   The fast rules formed 1/x (or 1/(x·ln b)) and then multiplied by g: inf
   where PyTorch (grad / self, grad / (self·ln b)) is finite. Found by a
   numerical stress test. PyTorch 1.13, both walks:
       x = torch.tensor([x0], requires_grad=True)   # float32 1e-40, float64 1e-310
       torch.autograd.grad(f(x), x, torch.tensor([g0]))   # g0 0.01, 1e-10
   for f log, log2, log10. x·ln b is itself subnormal, rounded to a
   subnormal's few bits (its half ulp: 1e-5 relative in float, 1e-14 in
   double), so the two walks may differ from PyTorch by that much. */
Test(corners, logarithms_of_a_subnormal_have_a_finite_gradient)
{
    const bool dbl = sizeof(tg_real) == sizeof(double);
    const tg_real x0 = dbl ? (tg_real)1e-310 : (tg_real)1e-40f;
    const tg_real g0 = dbl ? (tg_real)1e-10 : (tg_real)0.01f;
    const double want_f[] = {1.0000053e+38, 1.4427136e+38, 4.3429699e+37};
    const double want_d[] = {1e+300, 1.44269504089e+300, 4.34294481903e+299};
    const double tol = dbl ? 2e-12 : 1.5e-5;
    for (int k = 0; k < 6; k++) {
        int b = k % 3;
        bool create = k >= 3;
        tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(1), &x0), true);
        tg_tensor *y = b == 0 ? tg_log(t, x) : b == 1 ? tg_log2(t, x) : tg_log10(t, x);
        tg_tensor *g = tg_tensor_new(t, TG_SHAPE(1), &g0);
        tg_tensor *dx = NULL;
        cr_assert_eq(tg_grad(t, 1, &y, &g, 1, &x, &dx, &(tg_grad_opts){.create_graph = create}),
                     TG_OK, "%s", tg_tape_error(t));
        double want = dbl ? want_d[b] : want_f[b];
        double e = fabs(((double)dx->data[0] - want) / want);
        cr_expect(e <= tol, "base %d, create_graph %d: %.9g, PyTorch %.9g (relative %.2g)", b,
                  create, (double)dx->data[0], want, e);
        tg_tape_reset(t);
    }
}

/* Long dot products through the built-in GEMM's narrow-output kernel (the
   dot kernel: fewer than 16 columns, both operands along K) summed each
   lane over all of K in float: K = 10⁶ values near 10⁴ gave 2.6e-4
   relative error (OpenBLAS 9e-6). Found by a numerical stress test. Runs
   of 2048 now go into a double: the worst case of a run's 128 float terms
   a lane is about 128·2⁻²⁴ = 7.6e-6 of Σ|a·b|; the reference is the double
   sum of the same float products. (OpenBLAS's sgemm gives 1.1e-5 here.) */
Test(corners, long_dot_products_are_accurate)
{
    enum { K = 1 << 20 };
    tg_real *a = malloc(K * sizeof *a), *b = malloc(4 * (size_t)K * sizeof *b);
    cr_assert(a && b);
    uint32_t st = 777;
    for (int64_t k = 0; k < 5 * (int64_t)K; k++) {
        st = st * 1664525u + 1013904223u;
        tg_real v = (tg_real)(10000 + ((double)(st >> 8) / 8388608.0 - 1));
        if (k < K) a[k] = v;
        else b[k - K] = v;
    }
    long double want[4] = {0};
    for (int j = 0; j < 4; j++)
        for (int64_t k = 0; k < K; k++) want[j] += (long double)a[k] * b[j * (int64_t)K + k];
    const char *was = tg_gemm_backend(); /* this is the built-in kernel's test */
    cr_assert_eq(tg_gemm_set_backend("builtin"), TG_OK);
    tg_tensor *A = tg_tensor_new(t, TG_SHAPE(1, K), a);
    tg_tensor *W = tg_tensor_new(t, TG_SHAPE(4, K), b);
    tg_tensor *w0 = tg_narrow(t, W, 0, 0, 1);
    tg_tensor *d = tg_dot(t, tg_reshape(t, A, TG_SHAPE(K)), tg_reshape(t, w0, TG_SHAPE(K)));
    tg_tensor *m = tg_matmul(t, A, tg_reshape(t, w0, TG_SHAPE(K, 1)));
    tg_tensor *l = tg_linear(t, A, W, NULL);
    cr_assert(d && m && l, "%s", tg_tape_error(t));
    tg_gemm_set_backend(was);
    double tol = sizeof(tg_real) == sizeof(float) ? 1e-5 : 1e-12;
    const tg_tensor *one[] = {d, m};
    for (int k = 0; k < 2; k++) {
        double e = (double)fabsl((one[k]->data[0] - want[0]) / want[0]);
        cr_expect(e <= tol, "%s: %.10g, want %.10Lg (relative %.2g)", k ? "[1,K]@[K,1]" : "dot",
                  (double)one[k]->data[0], want[0], e);
    }
    for (int j = 0; j < 4; j++) {
        double e = (double)fabsl((l->data[j] - want[j]) / want[j]);
        cr_expect(e <= tol, "linear output %d: %.10g, want %.10Lg (relative %.2g)", j,
                  (double)l->data[j], want[j], e);
    }
    free(a), free(b);
}

/* tanhshrink near 0: x − tanh x in float cancelled every digit
   (tanhshrink(3e-8) was −3.6e-15, the wrong sign, against 9e-24; PyTorch's
   float result is 0 there, its error above 1e-4 up to 100%). Found by a
   numerical stress test. The reference, for x rounded to tg_real:
       mpmath.mp.dps = 50; mpmath.mpf(x) - mpmath.tanh(mpmath.mpf(x))
   Float: the value in double rounded, within an ulp; double: within 134
   ulp of double above |x| = 0.15 (3/x² lost to cancellation), the series
   below. */
Test(corners, tanhshrink_near_zero_keeps_its_digits)
{
    static const double xs[] = {3e-8, 1e-4, -1e-3, 1e-2, 0.1, 0.149, 0.151, 0.5, 2.0, -7.0};
    static const double want_f[] = {
        8.9999990365477372e-24, 3.3333330673787598e-13, -3.3333324749747586e-10,
        3.3331997818940941e-7,  0.00033200538984656323, 0.001092944989878181,
        0.001137278863546457,   0.037882842739990241,   1.0359724199241831,
        -6.0000016630560553};
    static const double want_d[] = {
        8.9999999999999943e-24, 3.3333333200000005e-13, -3.3333320000005399e-10,
        3.3332000053966069e-7,  0.00033200537504418294, 0.0010929449038180839,
        0.0011372790188299532,  0.037882842739990241,   1.0359724199241831,
        -6.0000016630560553};
    const bool dbl = sizeof(tg_real) == sizeof(double);
    enum { N = sizeof xs / sizeof *xs };
    tg_real x[N];
    for (int i = 0; i < N; i++) x[i] = (tg_real)xs[i];
    tg_tensor *y = tg_tanhshrink(t, tg_tensor_new(t, TG_SHAPE(N), x));
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    for (int i = 0; i < N; i++) {
        double want = dbl ? want_d[i] : want_f[i], e = fabs(((double)y->data[i] - want) / want);
        cr_expect(e <= (dbl ? 3e-14 : 1.2e-7), "tanhshrink(%g) = %.9g, want %.9g (relative %.2g)",
                  xs[i], (double)y->data[i], want, e);
    }
}

/* logit's gradient at a subnormal x, likewise: the fast rule formed
   1/(x(1 − x)) and multiplied by g, inf where PyTorch's grad/(x(1 − x)) is
   finite. PyTorch 1.13, both walks, with and without ε = 0:
       x = torch.tensor([x0, -0.0], requires_grad=True)  # x0 float32 1e-40, float64 1e-310
       torch.autograd.grad(torch.logit(x, eps), x, torch.tensor([1e-10, 1.0]))
   gives 1.0000053796557908e+30 (float), 1.000000000000003e+300 (double) at
   x0; at −0 +inf without create_graph (its kernel: g·inf at x = 0) and −inf
   with it (grad/(x(1 − x)), −0 in the quotient). */
Test(corners, logit_of_a_subnormal_has_a_finite_gradient)
{
    const bool dbl = sizeof(tg_real) == sizeof(double);
    const tg_real xs[2] = {dbl ? (tg_real)1e-310 : (tg_real)1e-40f, (tg_real)-0.0};
    const tg_real gs[2] = {(tg_real)1e-10, 1};
    const double want = dbl ? 1.000000000000003e+300 : 1.0000053796557908e+30;
    const double tol = dbl ? 1e-14 : 1e-6;
    for (int k = 0; k < 4; k++) {
        bool create = k & 1;
        tg_real eps = k & 2 ? 0 : TG_LOGIT_NO_EPS;
        tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2), xs), true);
        tg_tensor *y = tg_logit(t, x, eps);
        tg_tensor *g = tg_tensor_new(t, TG_SHAPE(2), gs);
        tg_tensor *dx = NULL;
        cr_assert_eq(tg_grad(t, 1, &y, &g, 1, &x, &dx, &(tg_grad_opts){.create_graph = create}),
                     TG_OK, "%s", tg_tape_error(t));
        double e = fabs(((double)dx->data[0] - want) / want);
        cr_expect(e <= tol, "eps %g, create_graph %d: %.17g, PyTorch %.17g", (double)eps, create,
                  (double)dx->data[0], want);
        cr_expect(isinf(dx->data[1]) && (dx->data[1] > 0) == !create,
                  "eps %g, create_graph %d: at -0 %g, PyTorch %s", (double)eps, create,
                  (double)dx->data[1], create ? "-inf" : "+inf");
        tg_tape_reset(t);
    }
}

/* cross_entropy with label smoothing, and with probability targets, summed
   a sample's terms over its C classes in float: over 10⁶ classes the loss
   was 1.9e-4 off (PyTorch 5e-8). Found by a numerical stress test. Here
   C = 2¹⁸ logits in [−2, 2); the reference is the definition in long
   double, over the same float logits. */
Test(corners, cross_entropy_over_many_classes_sums_accurately)
{
    enum { C = 1 << 18 };
    tg_real *x = malloc(C * sizeof *x), *q = malloc(C * sizeof *q);
    cr_assert(x && q);
    uint32_t st = 12345;
    for (int c = 0; c < C; c++) {
        st = st * 1664525u + 1013904223u;
        x[c] = (tg_real)((float)(st >> 8) / 16777216.0f * 4 - 2);
        q[c] = (tg_real)(1.0 / C);
    }
    long double m = x[0], se = 0, slp = 0, sq = 0;
    for (int c = 1; c < C; c++) m = fmaxl(m, x[c]);
    for (int c = 0; c < C; c++) se += expl((long double)x[c] - m);
    long double lse = m + logl(se);
    for (int c = 0; c < C; c++) slp += x[c] - lse, sq -= (long double)q[c] * (x[c] - lse);
    long double eps = (long double)(tg_real)0.1;
    long double want_ls = -(1 - eps) * (x[0] - lse) - eps / C * slp;
    tg_tensor *X = tg_tensor_new(t, TG_SHAPE(1, C), x);
    int64_t target = 0;
    tg_ce_opts o = TG_CE_OPTS_DEFAULT;
    o.label_smoothing = 0.1;
    tg_tensor *ls = tg_cross_entropy_ex(t, X, &target, &o);
    tg_tensor *pr = tg_cross_entropy_prob(t, X, tg_tensor_new(t, TG_SHAPE(1, C), q), NULL);
    cr_assert(ls && pr, "%s", tg_tape_error(t));
    double e1 = (double)fabsl((ls->data[0] - want_ls) / want_ls);
    double e2 = (double)fabsl((pr->data[0] - sq) / sq);
    cr_expect(e1 <= 2e-7, "label smoothing: %.9g, want %.9Lg (relative error %.2g)",
              (double)ls->data[0], want_ls, e1);
    cr_expect(e2 <= 2e-7, "probability targets: %.9g, want %.9Lg (relative error %.2g)",
              (double)pr->data[0], sq, e2);
    free(x), free(q);
}

/* logsumexp along a leading axis took, on AVX-512, each column's first value
   as its shift: x − s is rounded to float, an error of half an ulp of
   |x − s| on y. Columns of (−80, −0.001, −12) have y = −0.000993849707
   (long double), which came out as −80 + 79.999: −0.00099330768, 5.5e-4
   off (PyTorch's float result, shifted by the maximum, 4.9e-5). Found by a
   numerical stress test against float64. The two-pass result in double,
   rounded to float, is within an ulp; the gradient at the maximum
   e^(x − y) within a few. */
Test(corners, logsumexp_along_a_leading_axis_keeps_a_result_near_zero)
{
    float xs[3][8];
    for (int j = 0; j < 8; j++) xs[0][j] = -80.0f, xs[1][j] = -0.001f, xs[2][j] = -12.0f;
    tg_real xr[24];
    for (int i = 0; i < 24; i++) xr[i] = (tg_real)xs[i / 8][i % 8];
    long double want = logl(expl(-80.0L) + expl((long double)-0.001f) + expl(-12.0L));
    long double gwant = expl((long double)-0.001f - want);
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3, 8), xr), true);
    tg_tensor *y = tg_logsumexp(t, x, 0, false);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    cr_assert_eq(tg_backward(t, tg_sum(t, y, TG_ALL, false)), TG_OK, "%s", tg_tape_error(t));
    for (int j = 0; j < 8; j++) {
        double e = (double)fabsl(((long double)y->data[j] - want) / want);
        double eg = (double)fabsl(((long double)x->grad[8 + j] - gwant) / gwant);
        cr_expect(e <= 1.2e-7, "column %d: %.9g, want %.9Lg (relative error %.2g)", j,
                  (double)y->data[j], want, e);
        cr_expect(eg <= 3e-7, "column %d: gradient %.9g, want %.9Lg (relative error %.2g)", j,
                  (double)x->grad[8 + j], gwant, eg);
    }
}

/* Along a leading axis the extremes and their indices go two rows at a time
   (the pair's winner first, then the running one: extreme_rows2 in
   src/ops/reduce.c): every pair of rows of [6, 45] holds a tie of the
   maximum, of the minimum, or two NaNs in a column of its own, and the
   index is the first of them (PyTorch's), as a scan here finds it. */
Test(corners, leading_axis_extremes_take_the_first_of_a_tie)
{
    enum { R = 6, C = 45 };
    tg_tensor *x = tg_zeros(t, TG_SHAPE(R, C));
    int c = 0;
    for (int a = 0; a < R; a++)
        for (int b = a + 1; b < R; b++, c += 3) {
            for (int k = 0; k < R; k++)
                for (int j = 0; j < 3; j++) x->data[k * C + c + j] = (tg_real)(0.1 * (k + j));
            x->data[a * C + c] = x->data[b * C + c] = 5;                   /* the maximum */
            x->data[a * C + c + 1] = x->data[b * C + c + 1] = -5;          /* the minimum */
            x->data[a * C + c + 2] = x->data[b * C + c + 2] = (tg_real)NAN; /* NaN wins both */
        }
    tg_index *imax = NULL, *imin = NULL;
    tg_tensor *mx = tg_max_dim(t, x, 0, false, &imax), *mn = tg_min_dim(t, x, 0, false, &imin);
    tg_index *amax = tg_argmax(t, x, 0, false), *amin = tg_argmin(t, x, 0, false);
    cr_assert(mx && mn && imax && imin && amax && amin, "%s", tg_tape_error(t));
    for (int64_t j = 0; j < C; j++) {
        int64_t first_max = 0, first_min = 0;
        for (int64_t k = 1; k < R; k++) {
            tg_real v = x->data[k * C + j], bmax = x->data[first_max * C + j],
                    bmin = x->data[first_min * C + j];
            if (!isnan(bmax) && (isnan(v) || v > bmax)) first_max = k;
            if (!isnan(bmin) && (isnan(v) || v < bmin)) first_min = k;
        }
        cr_expect_eq(imax->data[j], first_max, "max_dim's index, column %lld", (long long)j);
        cr_expect_eq(amax->data[j], first_max, "argmax, column %lld", (long long)j);
        cr_expect_eq(imin->data[j], first_min, "min_dim's index, column %lld", (long long)j);
        cr_expect_eq(amin->data[j], first_min, "argmin, column %lld", (long long)j);
        tg_real wmax = x->data[first_max * C + j], wmin = x->data[first_min * C + j];
        cr_expect(isnan(wmax) ? isnan(mx->data[j]) : mx->data[j] == wmax, "max, column %lld",
                  (long long)j);
        cr_expect(isnan(wmin) ? isnan(mn->data[j]) : mn->data[j] == wmin, "min, column %lld",
                  (long long)j);
    }
}

/* Along a contiguous slice the index is found after the extreme, by a count
   of hits in blocks of 64 (first_of in src/ops/reduce.c): in row r of
   [200, 200] the extreme (a maximum of 1, a minimum of −1, or a NaN) sits at
   column r and again at (r + 70) mod 200, so that every position of a block
   is the first one once; the index is the first (PyTorch's). */
Test(corners, row_extremes_find_the_first_at_every_position)
{
    enum { N = 200 };
    for (int kind = 0; kind < 3; kind++) {
        tg_tensor *x = tg_zeros(t, TG_SHAPE(N, N));
        tg_real v = kind == 0 ? 1 : kind == 1 ? -1 : (tg_real)NAN;
        for (int r = 0; r < N; r++) x->data[r * N + r] = x->data[r * N + (r + 70) % N] = v;
        tg_index *ix = NULL;
        tg_index *am = kind == 1 ? tg_argmin(t, x, 1, false) : tg_argmax(t, x, 1, false);
        tg_tensor *y =
            kind == 1 ? tg_min_dim(t, x, 1, false, &ix) : tg_max_dim(t, x, 1, false, &ix);
        cr_assert(am && y && ix, "%s", tg_tape_error(t));
        for (int r = 0; r < N; r++) {
            int64_t want = r < (r + 70) % N ? r : (r + 70) % N;
            cr_expect_eq(am->data[r], want, "kind %d, row %d: arg %lld", kind, r,
                         (long long)am->data[r]);
            cr_expect_eq(ix->data[r], want, "kind %d, row %d: index %lld", kind, r,
                         (long long)ix->data[r]);
            cr_expect(kind == 2 ? isnan(y->data[r]) : y->data[r] == v, "kind %d, row %d", kind, r);
        }
        tg_tape_reset(t);
    }
}

Test(corners, leading_axis_reductions_match_the_definitions)
{
    check_leading(7);
    check_leading(19);
}

/* The p-norm of an order that is not a whole number takes its own powers in
   the float build on AVX-512 (pow16_abs in src/ops/stats.c: within 2.8 ulp
   of the exact power for p ≤ 1.5, measured over every seventh float, from
   tables over sixteen ranges of the mantissa; for p = n + 1/2, n ≤ 2,
   half_sum_avx512's √a·aⁿ in float, within (n + 1.6)·U, and for larger n
   half16_abs's, √a in float times aⁿ in double, within U + (n + 1)·D), and
   orders 1 to 4 take their own loops along leading axes
   (norm_leading). Checked along axis 0 (those loops), axis 1 (the walk's
   runs) and over all values of a [7, 512] tensor whose column c has its
   mantissas in the sixteenth c mod 16 of [1, 2) and exponents from −60 to
   60 (so that every table entry decides whole columns, and p·e is not a
   whole number), with zeros, against Σ|x|^p and its root in long double.
   Each term is within T relative (3U in float, the orders here being at
   most 1.5; (n + 1.6)·U for n + 1/2; pow's 2D in double), its
   sum within T + γ_n (terms of one sign), the root divides that by p and
   adds its own D and that of 1/p rounded to double (D/p relative in the
   exponent: D·|ln S|/p in the result), and the result's rounding U. */
static void check_norm(double p)
{
    enum { R = 7, C = 512 };
    const double U = sizeof(tg_real) == 4 ? 0x1p-24 : 0x1p-53, D = 0x1p-53;
    const bool half = 2 * p == floor(2 * p); /* √a·aⁿ in the float build */
    const double T = p == floor(p)              ? 12 * D
                     : sizeof(tg_real) == 8     ? 2 * D
                     : half                     ? (p + 1.1) * U /* (n + 1.6)·U */
                                                : 3 * U;
    tg_tensor *x = tg_zeros(t, TG_SHAPE(R, C));
    for (int64_t k = 0; k < R; k++)
        for (int64_t c = 0; c < C; c++) {
            double frac = fmod(0.13 * (double)k + 0.071 * (double)c, 1.0);
            int e = (int)((k * 37 + c * 11) % 121) - 60;
            double v = ldexp(1 + ((double)(c % 16) + frac) / 16, e) * (c % 3 ? 1 : -1);
            x->data[k * C + c] = (k == 0 && c % 32 == 5) ? 0 : (tg_real)v;
        }
    tg_tensor *n0 = tg_norm(t, x, p, 0, false), *n1 = tg_norm(t, x, p, 1, false);
    tg_tensor *na = tg_norm(t, x, p, TG_ALL, false);
    cr_assert(n0 && n1 && na, "%s", tg_tape_error(t));
    long double all = 0;
    for (int axis = 0; axis < 2; axis++)
        for (int64_t o = 0; o < (axis ? R : C); o++) {
            long double s = 0;
            int64_t n = axis ? C : R;
            for (int64_t k = 0; k < n; k++)
                s += powl(fabsl((long double)x->data[axis ? o * C + k : k * C + o]), p);
            if (axis == 0) all += s;
            double want = (double)powl(s, 1 / (long double)p);
            double got = (double)(axis ? n1 : n0)->data[o];
            double lns = fabs((double)logl(s));
            cr_expect(fabs(got - want) <= (U + (T + 2 * n * D + D * lns) / p + D) * want,
                      "norm p = %g along axis %d [%lld]: %.9g vs %.9g (%.2g relative)", p, axis,
                      (long long)o, got, want, fabs(got - want) / want);
        }
    double want = (double)powl(all, 1 / (long double)p);
    double lns = fabs((double)logl(all));
    cr_expect(fabs((double)na->data[0] - want) <=
                  (U + (T + 2 * R * C * D + D * lns) / p + D) * want,
              "norm p = %g over all: %.9g vs %.9g", p, (double)na->data[0], want);
    tg_tape_reset(t);
}

Test(corners, norms_of_every_order_match_the_definition)
{
    const double orders[] = {1, 2, 3, 4, 0.5, 1.5, 2.5, 1.3, 0.25};
    for (size_t i = 0; i < sizeof orders / sizeof *orders; i++) check_norm(orders[i]);
}

/* The orders n + 1/2 take their powers in float (half_sum_avx512) and take
   again, in double, the sums that left float's range or became NaN on the
   way. Each kind of column (along axis 0) and row (along axis 1, and over
   all of a tensor of one kind): ordinary values, zeros, an inf, a NaN,
   values near 2¹⁰⁰ (whose powers overflow float), near 2⁻¹²⁰ (whose powers
   fall below its normals), subnormals, near 2⁻⁶⁰ (p = 2.5: below them) with
   one ordinary value. 9 rows and 40 columns: groups of four rows and
   vectors of sixteen that are not whole. Within the bound of the test
   above (each term within T: (n + 1.6)·U in float, half16_abs's U + (n +
   1)·D for n = 3; pow's 2D in double) of Σ|x|^p's root in long double, and
   the rounding of a subnormal result; inf and NaN as the definition gives
   them. */
static long double kind_value(int kind, int k, int c)
{
    long double m = 1 + 0.37L * (long double)((k * 7 + c * 3) % 11) / 11;
    switch (kind) {
    case 1: return 0;
    case 2: return k == 4 ? INFINITY : m;
    case 3: return k == 6 ? NAN : m;
    case 4: return ldexpl(m, 100);
    case 5: return ldexpl(m, -120);
    case 6: return ldexpl(m, -140);
    case 7: return k == 2 ? m : ldexpl(m, -60);
    default: return (k % 2 ? -m : m) * (long double)(1 + k);
    }
}

static void check_half_norm_kinds(double p)
{
    enum { R = 9, C = 40, KINDS = 8 };
    const double U = sizeof(tg_real) == 4 ? 0x1p-24 : 0x1p-53;
    const double tiny = sizeof(tg_real) == 4 ? 0x1p-149 : 0x1p-1074, D = 0x1p-53;
    const double T = sizeof(tg_real) == 8 ? 2 * D : p < 3 ? (p + 1.1) * U : U + (p + 1) * D;
#define HALF_NORM_OK(got, want, s)                                                           \
    (isnan(want) ? isnan(got)                                                                \
                 : (got) == (want) ||                                                        \
                       fabs((got) - (want)) <=                                               \
                           (U + (T + 2 * R * C * D + D * fabs((double)logl(s))) / p + D) *   \
                                   (want) +                                                  \
                               tiny)
    tg_tensor *x = tg_zeros(t, TG_SHAPE(R, C)), *xt = tg_zeros(t, TG_SHAPE(C, R));
    tg_tensor *xk[KINDS];
    for (int64_t k = 0; k < R; k++)
        for (int64_t c = 0; c < C; c++) {
            tg_real v = (tg_real)kind_value((int)(c % KINDS), (int)k, (int)c);
            x->data[k * C + c] = xt->data[c * R + k] = v;
        }
    for (int kind = 0; kind < KINDS; kind++) {
        xk[kind] = tg_zeros(t, TG_SHAPE(R, C));
        for (int64_t i = 0; i < R * C; i++)
            xk[kind]->data[i] = (tg_real)kind_value(kind, (int)(i % R), (int)(i / R));
    }
    tg_tensor *n0 = tg_norm(t, x, p, 0, false), *n1 = tg_norm(t, xt, p, 1, false);
    cr_assert(n0 && n1, "%s", tg_tape_error(t));
    for (int64_t c = 0; c < C; c++) {
        long double s = 0;
        for (int64_t k = 0; k < R; k++) s += powl(fabsl((long double)x->data[k * C + c]), p);
        double want = (double)powl(s, 1 / (long double)p);
        for (int axis = 0; axis < 2; axis++) {
            double got = (double)(axis ? n1 : n0)->data[c];
            cr_expect(HALF_NORM_OK(got, want, s),
                      "norm p = %g along axis %d, kind %d [%lld]: %.9g vs %.9g", p, axis,
                      (int)(c % KINDS), (long long)c, got, want);
        }
    }
    for (int kind = 0; kind < KINDS; kind++) {
        tg_tensor *na = tg_norm(t, xk[kind], p, TG_ALL, false);
        cr_assert(na, "%s", tg_tape_error(t));
        long double s = 0;
        for (int64_t i = 0; i < R * C; i++) s += powl(fabsl((long double)xk[kind]->data[i]), p);
        double want = (double)powl(s, 1 / (long double)p), got = (double)na->data[0];
        cr_expect(HALF_NORM_OK(got, want, s),
                  "norm p = %g over all of kind %d: %.9g vs %.9g", p, kind, got, want);
    }
    tg_tape_reset(t);
#undef HALF_NORM_OK
}

Test(corners, half_orders_past_float_range_match_the_definition)
{
    const double orders[] = {0.5, 1.5, 2.5, 3.5};
    for (size_t i = 0; i < sizeof orders / sizeof *orders; i++) check_half_norm_kinds(orders[i]);
}

/* softplus, logsigmoid (and the BCE with logits) take log(1 + eˣ) from
   tg_log1p_exp (the float build: the logarithm in double, and e itself
   below 2⁻²⁴), and softmax over a short row (n ≤ 8) takes its exponentials
   in Estrin's order (exp_nonpos_short): checked against long double. log(1
   + eˣ): exp and log each within 1 ulp (2U relative), the sensitivity of
   log(1 + e) to e at most 1, the rounding U: within 5U (logsigmoid's
   min(x, 0) − log1p(e^−|x|) one U more). softmax: each e^(x − m), with
   x − m as the code forms it, within 1.3 ulp (2.6U), their sum too, its
   rounding and the division U each: within 7.2U. */
Test(corners, softplus_and_short_softmax_rows_match_the_definition)
{
    enum { N = 20001 };
    const double U = sizeof(tg_real) == 4 ? 0x1p-24 : 0x1p-53;
    const double tiny = sizeof(tg_real) == 4 ? 0x1p-149 : 0x1p-1074;
    tg_tensor *x = tg_zeros(t, TG_SHAPE(N));
    for (int i = 0; i < N; i++) x->data[i] = (tg_real)(-104 + 124.0 * i / (N - 1));
    tg_tensor *sp = tg_softplus(t, x, 1, 30), *ls = tg_logsigmoid(t, x);
    cr_assert(sp && ls, "%s", tg_tape_error(t));
    for (int i = 0; i < N; i++) {
        long double v = (long double)x->data[i];
        double want = (double)log1pl(expl(v)), got = (double)sp->data[i];
        cr_expect(fabs(got - want) <= 5 * U * want + tiny, "softplus(%.9g): %.9g vs %.9g",
                  (double)v, got, want);
        want = (double)-log1pl(expl(-v)), got = (double)ls->data[i];
        cr_expect(fabs(got - want) <= 6 * U * fabs(want) + tiny,
                  "logsigmoid(%.9g): %.9g vs %.9g", (double)v, got, want);
    }
    for (int n = 1; n <= 8; n++) {
        tg_tensor *r = tg_zeros(t, TG_SHAPE(5, n));
        for (int k = 0; k < 5 * n; k++) r->data[k] = (tg_real)(2 * sin(1.7 * k + 0.3 * n));
        tg_tensor *y = tg_softmax(t, r, 1);
        cr_assert(y, "%s", tg_tape_error(t));
        for (int o = 0; o < 5; o++) {
            const tg_real *row = r->data + o * n;
            tg_real m = row[0];
            for (int k = 1; k < n; k++) m = row[k] > m ? row[k] : m;
            long double e[8], s = 0;
            for (int k = 0; k < n; k++) s += e[k] = expl((long double)(tg_real)(row[k] - m));
            for (int k = 0; k < n; k++) {
                double want = (double)(e[k] / s), got = (double)y->data[o * n + k];
                cr_expect(fabs(got - want) <= 7.2 * U * want,
                          "softmax row %d of %d, [%d]: %.9g vs %.9g", o, n, k, got, want);
            }
        }
    }
}

/* prod over a contiguous slice takes eight partial products, and cumprod
   along one of 64 or more values runs four quarters at once, each started
   from the product of those before (src/ops/cumulative.c): checked on
   [3, 203] (203 neither a multiple of 8 nor of 4) against the running
   product in double here. Both sides multiply in double, each product
   within D relative, in different orders: within U (the result's rounding)
   and 2n·D. The float build flushes the products' subnormal results to zero
   (tg_ftz_begin: MXCSR's FTZ on x86): a float subnormal factor still counts,
   a float subnormal result still comes out, a product of −1 and 21 factors
   1e-30 is −0, and the caller's rounding and flush settings are as they
   were. */
Test(corners, products_of_long_slices_match_the_definition)
{
    enum { R = 3, N = 203 };
    const double U = sizeof(tg_real) == 4 ? 0x1p-24 : 0x1p-53, D = 0x1p-53;
#if defined(__x86_64__)
    unsigned csr = __builtin_ia32_stmxcsr();
#endif
    tg_tensor *x = tg_zeros(t, TG_SHAPE(R, N));
    for (int64_t i = 0; i < R * N; i++) x->data[i] = (tg_real)(1 + 0.3 * sin(0.91 * (double)i));
    tg_tensor *p = tg_prod(t, x, 1, false), *c = tg_cumprod(t, x, 1);
    cr_assert(p && c, "%s", tg_tape_error(t));
    for (int64_t r = 0; r < R; r++) {
        double run = 1;
        for (int64_t k = 0; k < N; k++) {
            run *= (double)x->data[r * N + k];
            double got = (double)c->data[r * N + k];
            cr_expect(fabs(got - run) <= (U + 2 * N * D) * run,
                      "cumprod [%lld, %lld]: %.9g vs %.9g", (long long)r, (long long)k, got, run);
        }
        cr_expect(fabs((double)p->data[r] - run) <= (U + 2 * N * D) * run,
                  "prod [%lld]: %.9g vs %.9g", (long long)r, (double)p->data[r], run);
    }
    if (sizeof(tg_real) == 4) { /* a float subnormal times 1e30, with enough factors to flush */
        enum { L = 2048 };
        tg_tensor *s = tg_zeros(t, TG_SHAPE(L)), *s2 = tg_zeros(t, TG_SHAPE(L / 2, 2));
        for (int i = 0; i < L; i++) s->data[i] = s2->data[i] = 1;
        s->data[7] = s2->data[10] = (tg_real)1e-40, s->data[1500] = s2->data[1800] = (tg_real)1e30;
        tg_tensor *ps = tg_prod(t, s, 0, false), *cs = tg_cumprod(t, s, 0);
        tg_tensor *p2 = tg_prod(t, s2, 0, false); /* down the rows: column 0 */
        cr_assert(ps && cs && p2, "%s", tg_tape_error(t));
        double want = (double)(tg_real)1e-40 * (double)(tg_real)1e30;
        cr_expect(fabs((double)ps->data[0] - want) <= U * want, "prod %g, want %g",
                  (double)ps->data[0], want);
        cr_expect(fabs((double)p2->data[0] - want) <= U * want, "prod along axis 0 %g, want %g",
                  (double)p2->data[0], want);
        cr_expect(fabs((double)cs->data[L - 1] - want) <= U * want, "cumprod %g, want %g",
                  (double)cs->data[L - 1], want);
        cr_expect_eq((double)cs->data[7], (double)(tg_real)1e-40, "cumprod at the subnormal");
        tg_tensor *z = tg_zeros(t, TG_SHAPE(L));
        z->data[0] = -1;
        for (int i = 1; i < L; i++) z->data[i] = i < 22 ? (tg_real)1e-30 : 1;
        tg_tensor *pz = tg_prod(t, z, 0, false), *cz = tg_cumprod(t, z, 0);
        cr_assert(pz && cz, "%s", tg_tape_error(t));
        cr_expect(pz->data[0] == 0 && signbit(pz->data[0]), "prod %g", (double)pz->data[0]);
        cr_expect(cz->data[L - 1] == 0 && signbit(cz->data[L - 1]), "cumprod %g",
                  (double)cz->data[L - 1]);
    }
#if defined(__x86_64__)
    cr_expect_eq(__builtin_ia32_stmxcsr() & 0xffc0u, csr & 0xffc0u, /* all but the flags */
                 "MXCSR's settings changed by prod or cumprod");
#endif
}

/* cumprod over a long slice starts each of its four parts from the product
   of the parts before it, which prod_of formed as eight partial products:
   with factors 1e30 and 1e-30 in turn, every eighth one is 1e30 and the
   partials overflowed (inf·0 = NaN), where every prefix is 1 or 1e30. 750
   of 1000 values and every gradient were NaN (PyTorch: all finite). Found
   by a numerical stress test. prod over the slice (1.0000091) too. The
   reference is the sequential product in long double of the same values;
   the gradient Σ_{j≥k} y_j / x_k is checked where it is within range. */
Test(corners, cumprod_of_factors_far_from_one_in_turn)
{
    enum { N = 1000 };
    tg_real xs[N];
    for (int k = 0; k < N; k++) /* nearly 1e30 and 1e-30, so that the product drifts */
        xs[k] = k % 2 ? (tg_real)1.0000001e-30 : (tg_real)1e30;
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(N), xs), true);
    tg_tensor *y = tg_cumprod(t, x, 0), *p = tg_prod(t, x, TG_ALL, false);
    cr_assert(y && p, "%s", tg_tape_error(t));
    cr_assert_eq(tg_backward(t, tg_sum(t, y, TG_ALL, false)), TG_OK, "%s", tg_tape_error(t));
    long double q = 1, yl[N], tail = 0;
    for (int k = 0; k < N; k++) yl[k] = q *= xs[k];
    double tol = sizeof(tg_real) == sizeof(float) ? 1.2e-7 : 1e-13;
    int bad = 0, bad_g = 0;
    for (int k = N - 1; k >= 0; k--) {
        bad += !(fabsl((y->data[k] - yl[k]) / yl[k]) <= tol);
        tail += yl[k];
        long double g = tail / xs[k];
        if (g < 1e36L) bad_g += !(fabsl((x->grad[k] - g) / g) <= 1e-5);
    }
    cr_expect_eq(bad, 0, "%d of %d values off (y[999] %g, want %Lg)", bad, N,
                 (double)y->data[N - 1], yl[N - 1]);
    cr_expect_eq(bad_g, 0, "%d gradients off", bad_g);
    cr_expect(fabsl((p->data[0] - q) / q) <= tol, "prod %.9g, want %.9Lg", (double)p->data[0],
              q);
    /* a product that underflows to 0 before an inf is NaN (0·inf), as
       PyTorch's torch.prod (float32 and float64) of 2000 halves, inf and
       five halves; without the inf it is 0 */
    tg_real h[2006];
    for (int k = 0; k < 2006; k++) h[k] = k == 2000 ? (tg_real)INFINITY : (tg_real)0.5;
    tg_tensor *ph = tg_prod(t, tg_tensor_new(t, TG_SHAPE(2006), h), TG_ALL, false);
    tg_tensor *p0 = tg_prod(t, tg_tensor_new(t, TG_SHAPE(2000), h), TG_ALL, false);
    cr_assert(ph && p0, "%s", tg_tape_error(t));
    cr_expect(isnan(ph->data[0]), "prod of halves, inf: %g, PyTorch nan", (double)ph->data[0]);
    cr_expect_eq(p0->data[0], 0, "prod of 2000 halves: %g, PyTorch 0", (double)p0->data[0]);
}

/* cumprod's gradient where a slice holds an inf or NaN (beside a zero or not):
   dx_k = Σ_{j ≥ k} g_j·Π_{i ≤ j, i ≠ k} x_i, whose terms with a zero among
   their factors are 0 only when the others are finite. The fast rule
   divided y by an infinite x_k (inf/inf) and took every term through a
   zero for 0: [inf, 0, 3] gave [nan, inf, 0]. The short slices' values are
   PyTorch's (its O(n²) rule, taken with create_graph), for the first
     x = torch.tensor([inf, 0., 3.], dtype=torch.float64, requires_grad=True)
     torch.autograd.grad(torch.cumprod(x, 0).sum(), x, create_graph=True)
   and so for the others (those without a zero taken as a row of a tensor
   whose other row holds one, where PyTorch uses that rule; on a tensor
   without a zero it divides, inf/inf = NaN); three columns of 100 (the
   forward in four parts,
   a stride of 3) against the definition, summed here term by term: one
   with an inf then a zero, one with a zero then a NaN, one with only a
   zero. Both walks must give them (NaN and ±inf exactly). */
static bool same_or_close(double got, double want, double rel)
{
    return (isnan(got) && isnan(want)) || got == want || fabs(got - want) <= rel * fabs(want);
}

static void check_cumprod_grad(tg_tensor *x, int axis, const double *want, double rel)
{
    for (int cg = 0; cg < 2; cg++) {
        tg_tensor *l = tg_sum(t, tg_cumprod(t, x, axis), TG_ALL, false), *dx = NULL;
        tg_grad_opts o = {.create_graph = cg};
        cr_assert_eq(tg_grad(t, 1, &l, NULL, 1, &x, &dx, &o), TG_OK, "%s", tg_tape_error(t));
        for (int64_t i = 0; i < x->size; i++)
            cr_expect(same_or_close((double)dx->data[i], want[i], rel),
                      "x[%lld] = %g (create_graph %d): dx %.9g, want %.9g", (long long)i,
                      (double)x->data[i], cg, (double)dx->data[i], want[i]);
    }
}

Test(corners, cumprod_gradient_with_a_zero_beside_inf_or_nan)
{
    const double inf = INFINITY, nan = NAN;
    static const struct {
        int n;
        double x[4], dx[4];
    } rows[] = {
        {3, {inf, 0, 3}, {1, inf, nan}},
        {4, {0.5, nan, 0, -3}, {nan, 0.5, nan, nan}},
        {3, {2, 0, inf}, {nan, inf, 0}},
        {3, {inf, 2, 0}, {3, nan, inf}},
        {3, {0, -inf, 0}, {nan, 0, nan}},
        {2, {nan, 0}, {1, nan}},
        /* no zero, one inf or NaN: its own dx is the sum without it, not
           inf/inf (PyTorch's create_graph rule on a tensor with a zero) */
        {3, {inf, 2, -0.5}, {2, nan, inf}},
        {3, {1.5, nan, 2}, {nan, 4.5, nan}},
        {4, {2, 3, -inf, 0.5}, {-inf, -inf, 9, -inf}},
        {4, {2, inf, 3, -inf}, {nan, -inf, nan, inf}}, /* two: each summed without it */
        {4, {nan, 2, inf, 0.5}, {inf, nan, nan, nan}},
    };
    for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
        tg_real xs[4];
        for (int i = 0; i < rows[r].n; i++) xs[i] = (tg_real)rows[r].x[i];
        tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(rows[r].n), xs), true);
        check_cumprod_grad(x, 0, rows[r].dx, 1e-15);
        tg_tape_reset(t);
    }
    enum { N = 100, C = 3 };
    tg_tensor *x = tg_requires_grad(tg_zeros(t, TG_SHAPE(N, C)), true);
    for (int i = 0; i < N * C; i++) x->data[i] = (tg_real)(1 + 0.05 * sin(0.7 * i));
    x->data[30 * C] = (tg_real)INFINITY, x->data[60 * C] = 0;
    x->data[50 * C + 1] = 0, x->data[80 * C + 1] = (tg_real)NAN;
    x->data[40 * C + 2] = 0;
    double want[N * C];
    for (int c = 0; c < C; c++)
        for (int k = 0; k < N; k++) {
            double sum = 0;
            for (int j = k; j < N; j++) {
                double p = 1;
                for (int i = 0; i <= j; i++)
                    if (i != k) p *= (double)x->data[i * C + c];
                sum += p;
            }
            want[k * C + c] = sum;
        }
    check_cumprod_grad(x, 0, want, 4 * N * (sizeof(tg_real) == 4 ? 0x1p-24 : 0x1p-53));
}

/* A slice without a zero sums each inf's own dx without it, up to 16 of
   them (16·n steps); past that the fast rule gives NaN at each (ops.md):
   16 infs in 40 values, then 17. The values between are divided either
   way, and the first is the sum of g_j times the products after it. */
Test(corners, cumprod_gradient_with_many_infs)
{
    enum { N = 40 };
    for (int bad = 16; bad <= 17; bad++) {
        tg_tensor *x = tg_requires_grad(tg_full(t, TG_SHAPE(N), (tg_real)1.25), true);
        for (int k = 0; k < bad; k++) x->data[2 + 2 * k] = (tg_real)INFINITY;
        tg_tensor *l = tg_sum(t, tg_cumprod(t, x, 0), TG_ALL, false);
        cr_assert_eq(tg_backward(t, l), TG_OK, "%s", tg_tape_error(t));
        /* x_2 = inf: its dx holds 1.25² (j = 2) + 1.25³ (j = 3), then terms
           through the next inf, +inf */
        cr_expect(bad == 16 ? x->grad[2] == INFINITY : isnan(x->grad[2]), "%d infs: dx_2 = %g",
                  bad, (double)x->grad[2]);
        cr_expect(x->grad[N - 1] == INFINITY, "%d infs: dx_%d = %g", bad, N - 1,
                  (double)x->grad[N - 1]);
        tg_tape_reset(t);
    }
}

/* The float build's one-pass var along a leading axis (shifted by each
   column's first value) sums a column again about its mean when that first
   value is an outlier, whose deviations would make the shifted sums large
   against the result (src/ops/stats.c, recheck_columns): a [4096, 2] tensor
   whose first column starts at 1000 and then stays near 1, against the
   two-pass definition in long double; the second column is typical. Each
   within its final rounding U and the corrected sum's 3N·2⁻⁵³ of Σ(x − s)²
   (stats.c), s the shift it was summed about: the first column about its
   mean (the second summation; two passes in the double build), Σ(x − μ)²;
   the second about its first value x₀ in the float build, Σ(x − x₀)², which
   is at least Σ(x − μ)² and so covers the double build's passes too. */
Test(corners, var_along_a_leading_axis_with_an_outlier_first)
{
    enum { N = 4096 };
    const double U = sizeof(tg_real) == 4 ? 0x1p-24 : 0x1p-53;
    tg_tensor *x = tg_zeros(t, TG_SHAPE(N, 2));
    for (int64_t k = 0; k < N; k++) {
        x->data[2 * k] = (tg_real)(k == 0 ? 1000.0 : 1 + 0.001 * sin(0.7 * (double)k));
        x->data[2 * k + 1] = (tg_real)(3 + sin(1.3 * (double)k));
    }
    tg_tensor *v = tg_var(t, x, 0, TG_VAR_CORRECTION, false);
    cr_assert_not_null(v, "%s", tg_tape_error(t));
    for (int c = 0; c < 2; c++) {
        long double s = 0, q = 0, q0 = 0, x0 = (long double)x->data[c];
        for (int64_t k = 0; k < N; k++) s += (long double)x->data[2 * k + c];
        long double m = s / N;
        for (int64_t k = 0; k < N; k++) {
            long double d = (long double)x->data[2 * k + c] - m, d0 = x->data[2 * k + c] - x0;
            q += d * d, q0 += d0 * d0;
        }
        double ref = (double)(q / (N - 1)), shifted = (double)(c == 0 ? q : q0);
        double tol = U * ref + 3.0 * N * 0x1p-53 * shifted / (N - 1);
        cr_expect(fabs((double)v->data[c] - ref) <= tol,
                  "column %d: %.9g vs %.9g", c, (double)v->data[c], ref);
    }
}

/* The sums in backward rules too: a bias gradient over many rows (linear,
   broadcasting add) and prelu's weight gradient. */
Test(corners, float_sums_in_backward_are_accurate)
{
    const int64_t rows = 1 << 15;
    tg_tensor *x = tg_requires_grad(tg_zeros(t, TG_SHAPE(rows, 2)), true);
    tg_tensor *W = tg_requires_grad(tg_zeros(t, TG_SHAPE(2, 2)), true);
    tg_tensor *b = tg_requires_grad(tg_zeros(t, TG_SHAPE(2)), true);
    tg_tensor *c = tg_requires_grad(tg_zeros(t, TG_SHAPE(2)), true);
    tg_tensor *g = tg_zeros(t, TG_SHAPE(rows, 2));
    double want[2] = {0};
    for (int64_t i = 0; i < rows * 2; i++) {
        g->data[i] = (tg_real)(0.1 + 1e-3 * (double)(i % 89) / 89);
        want[i % 2] += (double)g->data[i];
    }
    tg_tensor *y = tg_add(t, tg_linear(t, x, W, b), c); /* b through linear, c broadcast */
    cr_assert_eq(tg_backward_grad(t, y, g->data), TG_OK, "%s", tg_tape_error(t));
    for (int j = 0; j < 2; j++) {
        cr_expect(fabs((double)b->grad[j] - want[j]) <= 1e-7 * want[j], "linear bias %d: %.9g vs %.9g",
                  j, (double)b->grad[j], want[j]);
        cr_expect(fabs((double)c->grad[j] - want[j]) <= 1e-7 * want[j], "add bias %d: %.9g vs %.9g",
                  j, (double)c->grad[j], want[j]);
    }
    /* prelu: dw = Σ x·g over x ≤ 0 */
    tg_tensor *xn = tg_full(t, TG_SHAPE(rows), -1);
    tg_tensor *w = tg_requires_grad(tg_full(t, TG_SHAPE(1), 0.25), true);
    tg_tensor *gp = tg_reshape(t, g, TG_SHAPE(rows * 2));
    tg_tensor *yp = tg_prelu(t, xn, w);
    cr_assert_eq(tg_backward_grad(t, yp, gp->data), TG_OK, "%s", tg_tape_error(t));
    double wp = 0;
    for (int64_t i = 0; i < rows; i++) wp -= (double)gp->data[i];
    cr_expect(fabs((double)w->grad[0] - wp) <= 1e-7 * fabs(wp), "prelu dw %.9g vs %.9g",
              (double)w->grad[0], wp);
}

/* backward(sum(sqrt(x))) then, from another output, backward(sum(square(x))):
   the second must not run sqrt's rule (0·inf = NaN at x = 0). */
Test(corners, second_backward_visits_only_what_it_reaches)
{
    tg_real v[] = {0, 1};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2), v), true);
    tg_tensor *a = tg_sum(t, tg_sqrt(t, x), TG_ALL, false);
    tg_tensor *b = tg_sum(t, tg_square(t, x), TG_ALL, false);
    cr_assert_eq(tg_backward(t, a), TG_OK);
    tg_zero_grad(x);
    cr_assert_eq(tg_backward(t, b), TG_OK);
    cr_expect(x->grad[0] == 0 && x->grad[1] == 2, "x.grad = [%g, %g], PyTorch [0, 2]",
              (double)x->grad[0], (double)x->grad[1]);
}

Test(corners, backward_of_a_loss_from_before_reset_is_refused)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(1));
    w->data[0] = 3;
    tg_tensor *loss = tg_sum(t, tg_square(t, w), TG_ALL, false);
    tg_params_zero_grad(p);
    cr_assert_eq(tg_backward(t, loss), TG_OK);
    cr_expect_eq(w->grad[0], 6);
    tg_tape_reset(t);
    cr_expect_eq(tg_backward(t, loss), TG_ERR_STATE);
    cr_expect(strstr(tg_tape_error(t), "before tg_tape_reset") != NULL, "%s", tg_tape_error(t));
    cr_expect_eq(w->grad[0], 6, "nothing added: %g", (double)w->grad[0]);
    /* the arena reused by a new step: still refused, no stale walk */
    tg_tape_clear_error(t);
    for (int i = 0; i < 8; i++) tg_square(t, tg_full(t, TG_SHAPE(64), 1));
    cr_expect_eq(tg_backward(t, loss), TG_ERR_STATE);
    /* and as an op's input */
    tg_tape_clear_error(t);
    cr_expect_null(tg_exp(t, loss));
    cr_expect(strstr(tg_tape_error(t), "tg_exp: input 0 ") &&
                  strstr(tg_tape_error(t), "from before tg_tape_reset"),
              "%s", tg_tape_error(t));
    tg_params_free(p);
}

/* PyTorch: a mean over targets whose weights sum to 0 is NaN, and so is
   its gradient (0/0), with or without label smoothing; ignored samples get
   no gradient. */
Test(corners, cross_entropy_mean_over_zero_weight_is_nan)
{
    tg_real xs[] = {-0.027f, -0.381f, -0.321f}, ws[] = {0.70f, 1.38f, 0};
    int64_t target[] = {2};
    for (int smooth = 0; smooth < 2; smooth++) {
        tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(1, 3), xs), true);
        tg_tensor *w = tg_tensor_new(t, TG_SHAPE(3), ws);
        tg_ce_opts o = TG_CE_OPTS_DEFAULT;
        o.weight = w;
        o.label_smoothing = smooth ? 0.4676 : 0;
        tg_tensor *l = tg_cross_entropy_ex(t, x, target, &o);
        cr_assert_not_null(l, "%s", tg_tape_error(t));
        cr_expect(isnan(l->data[0]), "loss %g, PyTorch nan (smoothing %d)", (double)l->data[0],
                  smooth);
        cr_assert_eq(tg_backward(t, l), TG_OK);
        for (int c = 0; c < 3; c++)
            cr_expect(isnan(x->grad[c]), "grad[%d] %g, PyTorch nan (smoothing %d)", c,
                      (double)x->grad[c], smooth);
    }
    int64_t ignored[] = {TG_IGNORE_INDEX};
    tg_ce_opts o = TG_CE_OPTS_DEFAULT;
    o.label_smoothing = 0.3;
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(1, 3), xs), true);
    tg_tensor *l = tg_cross_entropy_ex(t, x, ignored, &o);
    cr_expect(isnan(l->data[0]));
    cr_assert_eq(tg_backward(t, l), TG_OK);
    for (int c = 0; c < 3; c++) cr_expect_eq(x->grad[c], 0, "an ignored sample has no gradient");
}

/* A mean over targets that are all ignored is NaN (0/0) and its gradient
   0; so is the second order, the gradient of Σ grad·v: PyTorch's
   nll_loss backward writes exact zeros, whose log_softmax backward is 0.
   tapegrad's vjp multiplied the NaN weight by the logits' softmax and
   masked the product afterwards, so the second backward met NaN·0. Each
   case is (PyTorch 1.13, float64)
       l = F.cross_entropy(x, torch.tensor([t]), weight=w, ignore_index=i,
                           label_smoothing=e)
       g, = torch.autograd.grad(l, x, create_graph=True)
       h, = torch.autograd.grad((g * v).sum(), x)
   with x [[0.3, -0.2, 0.5]], v [[1, 2, 3]]: l nan, g and h [[0, 0, 0]],
   by the pointer and by the index array. */
Test(corners, cross_entropy_over_ignored_targets_has_a_zero_second_order)
{
    const tg_real xs[] = {(tg_real)0.3, (tg_real)-0.2, (tg_real)0.5}, vs[] = {1, 2, 3};
    const tg_real ws[] = {(tg_real)0.5, 2, (tg_real)1.5};
    for (int k = 0; k < 16; k++) {
        int64_t target[1] = {k & 1 ? 1 : TG_IGNORE_INDEX};
        tg_ce_opts o = TG_CE_OPTS_DEFAULT;
        o.ignore_index = target[0];
        o.label_smoothing = k & 2 ? 0.3 : 0;
        o.weight = k & 4 ? tg_tensor_new(t, TG_SHAPE(3), ws) : NULL;
        bool idx = k & 8;
        tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(1, 3), xs), true);
        tg_tensor *l = idx ? tg_cross_entropy_idx(t, x, tg_index_new(t, TG_SHAPE(1), target), &o)
                           : tg_cross_entropy_ex(t, x, target, &o);
        cr_assert_not_null(l, "%s", tg_tape_error(t));
        tg_tensor *g = tg_grad1(t, l, x, true);
        cr_assert_not_null(g, "%s", tg_tape_error(t));
        tg_tensor *v = tg_tensor_new(t, TG_SHAPE(1, 3), vs);
        tg_tensor *h = tg_grad1(t, tg_sum(t, tg_mul(t, g, v), TG_ALL, false), x, false);
        cr_assert_not_null(h, "%s", tg_tape_error(t));
        cr_expect(isnan(l->data[0]), "case %d: loss %g, PyTorch nan", k, (double)l->data[0]);
        for (int c = 0; c < 3; c++) {
            cr_expect_eq(g->data[c], 0, "case %d: grad[%d] %g, PyTorch 0", k, c,
                         (double)g->data[c]);
            cr_expect_eq(h->data[c], 0, "case %d: second order [%d] %g, PyTorch 0", k, c,
                         (double)h->data[c]);
        }
        tg_tape_reset(t);
    }
}

/* A class weight that is inf or NaN on a class no sample targets is never
   read by PyTorch: loss, gradient and second order are finite. The vjps
   multiplied the one-hot targets by the weights (0·inf = NaN) to count a
   mean's weights and to form the targets' weights: the create_graph
   gradient was NaN where backward's was right (found by difftest). PyTorch
   1.13, float64, t = [0, 2], w = [0.5, w1, 1.5] with w1 inf or NaN:
       g, = torch.autograd.grad(L(x), x, create_graph=True)
       h, = torch.autograd.grad((g * v).sum(), x)
   for x [[0.3, -0.2, 0.5], [1, 0.25, -0.5]], v [[1, 2, 3], [-1, 0.5, 2]],
   L F.cross_entropy(x, t, weight=w) (mean and sum) and F.nll_loss(x, t,
   weight=w) (mean), by the pointer and by the index array. */
Test(corners, a_non_finite_weight_of_an_untargeted_class_is_not_read)
{
    const tg_real xs[] = {(tg_real)0.3, (tg_real)-0.2, (tg_real)0.5, 1, (tg_real)0.25,
                          (tg_real)-0.5};
    const tg_real vs[] = {1, 2, 3, -1, (tg_real)0.5, 2};
    static const double ce_l = 1.7808683588577188,
                        ce_g[] = {-0.16159622131837453, 0.05361960220485594, 0.1079766191135186,
                                  0.4423482477426095,  0.20895051689720476, -0.6512987646398143},
                        ce_h[] = {-0.09532503089647287, -0.0041979516719089175,
                                  0.09952298256838181,  -0.3594990640752183,
                                  0.14361044173497514,  0.21588862234024314},
                        nll_g[] = {-0.25, 0, 0, 0, 0, -0.75};
    int64_t target[] = {0, 2};
    for (int k = 0; k < 12; k++) {
        int loss = k % 3; /* cross_entropy mean, cross_entropy sum, nll_loss mean */
        bool idx = (k / 3) & 1;
        tg_real w1 = k / 6 ? (tg_real)NAN : (tg_real)INFINITY;
        tg_ce_opts o = TG_CE_OPTS_DEFAULT;
        o.weight = tg_tensor_new(t, TG_SHAPE(3), ((tg_real[]){(tg_real)0.5, w1, (tg_real)1.5}));
        if (loss == 1) o.reduction = TG_REDUCE_SUM;
        tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2, 3), xs), true);
        tg_index *ti = idx ? tg_index_new(t, TG_SHAPE(2), target) : NULL;
        tg_tensor *l = loss == 2 ? (idx ? tg_nll_loss_idx(t, x, ti, &o)
                                        : tg_nll_loss(t, x, target, &o))
                                 : (idx ? tg_cross_entropy_idx(t, x, ti, &o)
                                        : tg_cross_entropy_ex(t, x, target, &o));
        cr_assert_not_null(l, "%s", tg_tape_error(t));
        tg_tensor *g = tg_grad1(t, l, x, true);
        cr_assert_not_null(g, "%s", tg_tape_error(t));
        tg_tensor *v = tg_tensor_new(t, TG_SHAPE(2, 3), vs);
        /* nll_loss's gradient does not depend on x: no second order */
        tg_tensor *h = loss == 2 ? tg_zeros(t, TG_SHAPE(2, 3))
                                 : tg_grad1(t, tg_sum(t, tg_mul(t, g, v), TG_ALL, false), x, false);
        cr_assert_not_null(h, "%s", tg_tape_error(t));
        double f = loss == 1 ? 2 : 1, want_l = loss == 2 ? 0.3 : ce_l * f;
        cr_expect(fabs((double)l->data[0] - want_l) <= 1e-5 * want_l, "case %d: loss %g, want %g",
                  k, (double)l->data[0], want_l);
        for (int i = 0; i < 6; i++) {
            double wg = loss == 2 ? nll_g[i] : ce_g[i] * f, wh = loss == 2 ? 0 : ce_h[i] * f;
            cr_expect(fabs((double)g->data[i] - wg) <= 1e-5, "case %d: grad[%d] %g, PyTorch %g",
                      k, i, (double)g->data[i], wg);
            cr_expect(fabs((double)h->data[i] - wh) <= 1e-5,
                      "case %d: second order [%d] %g, PyTorch %g", k, i, (double)h->data[i], wh);
        }
        tg_tape_reset(t);
    }
}

/* kl_div and poisson_nll_loss with a mean over an empty broadcast (input
   [0] against target [1], or the other way) are NaN (0/0); the gradient of
   the input of length 1 is 0 (a sum over no element), and so is its second
   order in PyTorch, whose chain holds only empty tensors. tapegrad's vjp
   multiplied the NaN weight by a factor of that input's own shape (−w·y)
   before spreading it over the empty shape: the second order was NaN·0.
   PyTorch 1.13, float64, a = [0.7] (the input of length 1), e = [] both
   requiring grad, L the loss with reduction "mean":
       g = torch.autograd.grad(L, (x, y), create_graph=True)
       h = torch.autograd.grad(g[0].sum() + g[1].sum(), (x, y))
   F.kl_div(e, a), F.kl_div(e, a, log_target=True),
   F.poisson_nll_loss(e, a, full=True), F.poisson_nll_loss(a, e),
   F.poisson_nll_loss(a, e, log_input=False): L nan, g and h of a [0]. */
Test(corners, losses_over_an_empty_broadcast_have_a_zero_second_order)
{
    for (int k = 0; k < 5; k++) {
        tg_tensor *a = tg_requires_grad(tg_full(t, TG_SHAPE(1), (tg_real)0.7), true);
        tg_tensor *e = tg_requires_grad(tg_zeros(t, TG_SHAPE(0)), true);
        tg_tensor *L = k == 0   ? tg_kl_div(t, e, a, TG_REDUCE_MEAN, false)
                       : k == 1 ? tg_kl_div(t, e, a, TG_REDUCE_MEAN, true)
                       : k == 2 ? tg_poisson_nll_loss(t, e, a, true, true, TG_POISSON_EPS,
                                                      TG_REDUCE_MEAN)
                                : tg_poisson_nll_loss(t, a, e, k == 3, false, TG_POISSON_EPS,
                                                      TG_REDUCE_MEAN);
        cr_assert_not_null(L, "%s", tg_tape_error(t));
        cr_expect(isnan(L->data[0]), "case %d: loss %g, PyTorch nan", k, (double)L->data[0]);
        tg_tensor *in[2] = {k < 3 ? e : a, k < 3 ? a : e}, *g[2] = {0}, *h[2] = {0};
        tg_grad_opts o = {.create_graph = true};
        cr_assert_eq(tg_grad(t, 1, &L, NULL, 2, in, g, &o), TG_OK, "%s", tg_tape_error(t));
        tg_tensor *s = tg_add(t, tg_sum(t, g[0], TG_ALL, false), tg_sum(t, g[1], TG_ALL, false));
        cr_assert_eq(tg_grad(t, 1, &s, NULL, 2, in, h, NULL), TG_OK, "%s", tg_tape_error(t));
        cr_expect_eq(g[0]->size + g[1]->size, 1);
        for (int i = 0; i < 2; i++)
            for (int64_t j = 0; j < g[i]->size; j++) {
                cr_expect_eq(g[i]->data[j], 0, "case %d: grad %g, PyTorch 0", k,
                             (double)g[i]->data[j]);
                cr_expect_eq(h[i]->data[j], 0, "case %d: second order %g, PyTorch 0", k,
                             (double)h[i]->data[j]);
            }
        tg_tape_reset(t);
    }
}

Test(corners, flatten_of_an_empty_batch)
{
    tg_tensor *x = tg_zeros(t, TG_SHAPE(0, 3, 4, 5));
    tg_tensor *y = tg_flatten(t, x);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    cr_expect(y->ndim == 2 && y->shape[0] == 0 && y->shape[1] == 60);
}

/* PyTorch accepts axis 0 and -1 on a 0-d tensor (softmax already did). */
Test(corners, zero_dim_tensors_take_axis_0_and_minus_1)
{
    tg_tensor *x = tg_requires_grad(tg_scalar(t, 2.5), true);
    for (int axis = -1; axis <= 0; axis++) {
        tg_tensor *r[4] = {tg_sum(t, x, axis, false), tg_mean(t, x, axis, true),
                           tg_max(t, x, axis, false), tg_transpose(t, x, axis, 0)};
        for (int k = 0; k < 4; k++) {
            cr_assert_not_null(r[k], "%d: %s", k, tg_tape_error(t));
            cr_expect(r[k]->ndim == 0 && r[k]->data[0] == (tg_real)2.5);
        }
        tg_tensor *s = tg_add(t, tg_add(t, r[0], r[1]), tg_add(t, r[2], r[3]));
        tg_zero_grad(x);
        cr_assert_eq(tg_backward(t, s), TG_OK);
        cr_expect_eq(x->grad[0], 4);
    }
    cr_expect_null(tg_sum(t, x, 1, false), "axis 1 is still out of range");
}

Test(corners, anomaly_names_the_input_that_brings_a_nan)
{
    tg_tape_set_anomaly(t, true);
    tg_real xs[] = {1, NAN};
    tg_tensor *x = tg_tensor_set_name(tg_tensor_new(t, TG_SHAPE(1, 2), xs), "batch");
    tg_tensor *W = tg_requires_grad(tg_ones(t, TG_SHAPE(3, 2)), true);
    cr_expect_null(tg_linear(t, x, W, NULL));
    const char *e = tg_tape_error(t);
    cr_expect(strstr(e, "input 0 of tg_linear") && strstr(e, "'batch'") &&
                  strstr(e, "nan at element 1") && !strstr(e, "record 0"),
              "%s", e);
}

/* A create_graph walk adds a tensor's gradient contributions with tg_add,
   which appends a record; when that record made the tape grow its arrays,
   the sum was stored into the old array of gradients, freed: a
   contribution lost, silently (and the heap written after free). y =
   tanh(x) feeds sin and exp, after K records of filler for every K up to
   600, so that the walk's add falls on the 256th and 512th record: dL/dx =
   (cos y + e^y)(1 − y²), by tg_grad and by tg_backward_ex, each on a new
   tape (a reset one keeps its arrays). Within 8U: tanh, cos and exp each
   within an ulp (2U relative), y's error moving cos y + e^y by at most
   |y|·2U, 1 − y² amplifying y²'s 5U by y²/(1 − y²) < 0.8 (|x| ≤ 0.8), and
   three roundings (measured: 2.6U in float, 4.5U in double; the lost
   contribution was 58%). */
Test(corners, create_graph_sums_survive_the_tape_growing)
{
    const tg_real xs[2] = {(tg_real)0.3, (tg_real)-0.8};
    const double U = sizeof(tg_real) == 4 ? 0x1p-24 : 0x1p-53;
    for (int k = 0; k < 600; k++)
        for (int way = 0; way < 2; way++) {
            tg_tape *u = tg_tape_new();
            cr_assert(u);
            tg_tensor *x = tg_requires_grad(tg_tensor_new(u, TG_SHAPE(2), xs), true);
            tg_tensor *f = tg_requires_grad(tg_scalar(u, 1), true);
            for (int j = 0; j < k; j++) f = tg_add_scalar(u, f, 1);
            tg_tensor *y = tg_tanh(u, x);
            tg_tensor *L = tg_sum(u, tg_add(u, tg_sin(u, y), tg_exp(u, y)), TG_ALL, false);
            tg_grad_opts o = {.create_graph = true};
            tg_tensor *g = NULL;
            int st = way ? tg_backward_ex(u, L, NULL, &o) : tg_grad(u, 1, &L, NULL, 1, &x, &g, &o);
            cr_assert_eq(st, TG_OK, "%s", tg_tape_error(u));
            const tg_real *got = way ? x->grad : g->data;
            for (int i = 0; i < 2; i++) {
                long double yv = tanhl((long double)xs[i]);
                double want = (double)((cosl(yv) + expl(yv)) * (1 - yv * yv));
                cr_expect(fabs((double)got[i] - want) <= 8 * U * want,
                          "%s after %d records: dL/dx[%d] = %.9g, want %.9g",
                          way ? "tg_backward_ex" : "tg_grad", k, i, (double)got[i], want);
            }
            tg_tape_free(u);
        }
}

/* prelu with no channels: x [N, 0, ...] and w [0]. Its vjp took a weight
   that is not one per channel of at least two for a shared scalar, and
   create_graph failed reshaping [0] to []. PyTorch gives empty gradients:
     x = torch.zeros(1, 0, requires_grad=True); w = torch.zeros(0, requires_grad=True)
     torch.autograd.grad(F.prelu(x, w).sum(), (x, w), create_graph=True)
   is (tensor of shape [1, 0], tensor of shape [0]), by either walk. */
Test(corners, prelu_without_channels_has_empty_gradients)
{
    const int64_t shapes[2][3] = {{1, 0}, {2, 0, 3}};
    for (int s = 0; s < 2; s++)
        for (int cg = 0; cg < 2; cg++) {
            tg_tensor *in[2] = {tg_requires_grad(tg_zeros(t, s + 2, shapes[s]), true),
                                tg_requires_grad(tg_zeros(t, TG_SHAPE(0)), true)};
            tg_tensor *y = tg_prelu(t, in[0], in[1]);
            cr_assert_not_null(y, "%s", tg_tape_error(t));
            tg_tensor *l = tg_sum(t, y, TG_ALL, false), *g[2] = {NULL, NULL};
            tg_grad_opts o = {.create_graph = cg};
            cr_assert_eq(tg_grad(t, 1, &l, NULL, 2, in, g, &o), TG_OK,
                         "x of %d dimensions, create_graph %d: %s", s + 2, cg, tg_tape_error(t));
            for (int k = 0; k < 2; k++) {
                cr_assert_not_null(g[k]);
                cr_expect(g[k]->size == 0 && g[k]->ndim == in[k]->ndim &&
                              g[k]->shape[0] == in[k]->shape[0],
                          "gradient %d of %d dimensions, %lld values", k, g[k]->ndim,
                          (long long)g[k]->size);
            }
            tg_tape_reset(t);
        }
}

/* ------------------------------------------------------------ crashes */

Test(corners, element_counts_cannot_overflow)
{
    const int64_t big = (int64_t)1 << 62;
    cr_expect_null(tg_zeros(t, TG_SHAPE(0, big, big)));
    cr_expect(strstr(tg_tape_error(t), "tg_zeros: invalid shape [0,4611686018427387904,"),
              "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_zeros(t, TG_SHAPE((int64_t)1 << 40, (int64_t)1 << 24)));
    tg_tape_clear_error(t);
    tg_tensor *x = tg_zeros(t, TG_SHAPE(4));
    const int64_t g32 = (int64_t)1 << 32;
    cr_expect_null(tg_reshape(t, x, TG_SHAPE(g32, g32, -1)));
    cr_expect(strstr(tg_tape_error(t), "tg_reshape") != NULL, "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_reshape(t, x, TG_SHAPE(0, big, big, -1)));
}

/* tg_causal_mask(2^40, 0) is an empty mask: its loop over the queries ran
   2^40 times over no keys (found by fuzzing: a hang) */
Test(corners, a_causal_mask_without_keys_is_empty_at_once, .timeout = 10)
{
    tg_tensor *m = tg_causal_mask(t, (int64_t)1 << 40, 0, TG_MASK_ADDITIVE);
    cr_assert(m, "%s", tg_tape_error(t));
    cr_expect(m->ndim == 2 && m->shape[0] == (int64_t)1 << 40 && m->shape[1] == 0 && m->size == 0);
}

/* the same with an adaptive pool to [2^31 - 1, 0]: the kernels looped over
   the output rows of no columns (forward and backward) */
Test(corners, a_pool_to_no_positions_is_empty_at_once, .timeout = 10)
{
    tg_tensor *x = tg_requires_grad(tg_full(t, TG_SHAPE(2, 3, 1), 1), true);
    tg_tensor *y = tg_adaptive_avg_pool2d(t, x, INT32_MAX, 0);
    cr_assert(y, "%s", tg_tape_error(t));
    cr_expect(y->size == 0 && y->shape[1] == INT32_MAX && y->shape[2] == 0);
    cr_assert_eq(tg_backward(t, tg_sum(t, y, TG_ALL, false)), TG_OK, "%s", tg_tape_error(t));
    for (int64_t i = 0; i < x->size; i++) cr_expect(x->grad[i] == 0);
}

/* and a reduction whose output is empty: sum over axis 1 of [2^42, 4, 0]
   looped over 2^42 outer rows of no columns, forward and backward */
Test(corners, a_reduction_to_an_empty_output_is_empty_at_once, .timeout = 10)
{
    tg_tensor *x = tg_requires_grad(tg_zeros(t, TG_SHAPE((int64_t)1 << 42, 4, 0)), true);
    tg_tensor *y = tg_sum(t, x, 1, false), *m = tg_mean(t, x, 1, true);
    cr_assert(y && m, "%s", tg_tape_error(t));
    cr_expect(y->size == 0 && y->ndim == 2 && y->shape[0] == (int64_t)1 << 42);
    tg_tensor *l = tg_add(t, tg_sum(t, y, TG_ALL, false), tg_sum(t, m, TG_ALL, false));
    cr_assert_eq(tg_backward(t, l), TG_OK, "%s", tg_tape_error(t));
}

static int copy_forward(tg_record *r)
{
    (void)r;
    return TG_OK;
}
static int same(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg, size_t len)
{
    (void)msg, (void)len;
    *ndim = 0;
    (void)shape;
    return r->n_in >= 0 ? TG_OK : TG_ERR_INVALID;
}

Test(corners, apply_refuses_an_op_without_inputs)
{
    tg_op none = {.name = "noinputs", .n_inputs = 0, .flags = TG_OP_ALIAS, .shape = same,
                  .forward = copy_forward};
    cr_expect_null(tg_apply(t, &none, NULL, 0, NULL));
    cr_expect(strstr(tg_tape_error(t), "noinputs: an op takes 1..") != NULL, "%s",
              tg_tape_error(t));
}

Test(corners, detach_refuses_a_tensor_of_another_tape)
{
    tg_tape *t2 = tg_tape_new();
    tg_tensor *x = tg_ones(t2, TG_SHAPE(2));
    cr_expect_null(tg_detach(t, x));
    cr_expect(strstr(tg_tape_error(t), "tg_detach: the tensor belongs to another tape") != NULL,
              "%s", tg_tape_error(t));
    tg_tape_free(t2);
}

Test(corners, a_zero_filled_rng_still_draws, .timeout = 10)
{
    tg_rng r;
    memset(&r, 0, sizeof r);
    double s = 0;
    for (int i = 0; i < 100; i++) s += fabs(tg_rng_normal(&r));
    cr_expect(s > 0, "normal draws from a zero-filled rng");
    memset(&r, 0, sizeof r);
    cr_expect(tg_rng_below(&r, 10) < 10);
    memset(&r, 0, sizeof r);
    int64_t idx[5] = {0, 1, 2, 3, 4};
    tg_rng_shuffle(&r, idx, 5);
    /* and it acts as seed 0 */
    tg_rng a, b;
    memset(&a, 0, sizeof a);
    tg_rng_seed(&b, 0);
    cr_expect_eq(tg_rng_next_u64(&a), tg_rng_next_u64(&b));
}

/* ------------------------------------------------------------ messages */

static int refuse_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    (void)r, (void)ndim, (void)shape;
    snprintf(msg, len, "needs a positive input");
    return TG_ERR_INVALID;
}

Test(corners, a_custom_op_is_named_as_its_user_calls_it)
{
    tg_op sq = {.name = "squareplus", .n_inputs = 1, .shape = refuse_shape,
                .forward = copy_forward};
    tg_tensor *x = tg_ones(t, TG_SHAPE(2));
    cr_expect_null(tg_apply(t, &sq, &x, 1, NULL));
    cr_expect_str_eq(tg_tape_error(t), "squareplus: needs a positive input");
}

/* ------------------------------------------------------------ traps */

/* A norm written over tg_params_grad's block must not read the last step's
   values of a released gradient that backward did not reach (141.4 instead
   of 1.41 before the fix). */
Test(corners, the_gradient_block_tells_the_truth_after_release)
{
    tg_params *p = tg_params_new();
    tg_tensor *a = tg_params_add(p, "a", TG_SHAPE(2));
    tg_tensor *b = tg_params_add(p, "b", TG_SHAPE(2));
    tg_tensor *la = tg_sum(t, tg_mul(t, a, tg_full(t, TG_SHAPE(2), 100)), TG_ALL, false);
    tg_tensor *lb = tg_sum(t, b, TG_ALL, false);
    tg_params_zero_grad(p);
    cr_assert_eq(tg_backward(t, la), TG_OK); /* a's gradient: 100, 100 */
    tg_params_release_grad(p);
    cr_assert_eq(tg_backward(t, lb), TG_OK); /* reaches b only */
    cr_expect_null(a->grad, "a stays released");
    const tg_real *g = tg_params_grad(p);
    double sq = 0;
    for (size_t i = 0; i < tg_params_block_len(p); i++) sq += (double)g[i] * (double)g[i];
    cr_expect(fabs(sqrt(sq) - sqrt(2.0)) < 1e-6, "norm over the block %g, true norm %g", sqrt(sq),
              sqrt(2.0));
    cr_expect_null(a->grad, "still released after reading the block");
    tg_params_free(p);
}

Test(corners, an_unknown_gemm_setting_is_not_ignored)
{
    cr_redirect_stderr();
    setenv("TG_GEMM", "blas", 1); /* read once, on first use in this process */
    const char *b = tg_gemm_backend();
    cr_expect(b != NULL);
    fflush(stderr);
    cr_expect_stderr_neq_str("");
}
