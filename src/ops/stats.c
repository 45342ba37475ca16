/* Statistics over axes: var and std (with a correction), logsumexp, and
   the p-norms. Each is written with the run functions of
   src/ops/reduce_internal.h, its sums in double. */
#include "ops/reduce_internal.h"
#include "ops/fast_act.h" /* exp_nonpos, the float build's exponential */
#include "gemm/gemm.h"     /* tg_gemm_kernel_avx512 */

SUM_RUN(sum_run, (double)xv)

/* sum_run, its runs into many outputs (a reduction over a leading axis)
   added by the vectorised row sum */
static void colsum_run(RUN_ARGS)
{
    const red_ctx *k = c;
    if (sy == 0) sum_run(iy, ib_, ix, n, sy, sb_, c);
    else tg_sum_add_rows(k->acc + iy, k->x + ix, 1, 0, n);
}

/* ------------------------------------------------------------ var, std */

/* var: m = (1/n) Σ x, y = Σ (x − m)² / max(0, n − c), c the correction
   (1 by default: Bessel's); std: y = √var. Two passes in double, the
   second correcting the mean's rounding (Chan, Golub and LeVeque's
   corrected two-pass algorithm: with d = x − m̃ for the computed m̃,
   m = m̃ + Σd/n and Σ(x − m)² = Σd² − (Σd)²/n), so that values far from 0
   with a small spread keep their digits.
   var:  dx_k += g·2(x_k − m)/(n − c) (PyTorch's, unclamped: n < c gives an
         infinite variance but a finite gradient, as there)
   std:  dx_k += g/(2y)·2(x_k − m)/(n − c), 0 where y = 0 (PyTorch's choice
         where √ has no derivative)
   The forward keeps m as m̃ and Σd/n apart (s and s[m + o]): x_k − m is then
   (x_k − m̃) − Σd/n, to the last digit even where m's own rounding is
   larger than the spread of x. */
GRAD_RUN(var_grad_run, gv * k->p * (((double)xv - sv) - k->s[k->p2 + o]))
GRAD_RUN(std_grad_run, (yv == 0 ? 0 : gv / (2.0 * yv)) * k->p * (((double)xv - sv) - k->s[k->p2 + o]))

/* acc[o] += Σ d², acc2[o] += Σ d over the run, d = x − s[o] (four partial
   sums of each, in blocks, as SUM_RUN) */
/* acc[i] += d², acc2[i] += d, d = x[i] − s[i]: a run into as many outputs */
TG_VECTOR_LOOP static void dev_cols(double *restrict acc, double *restrict acc2,
                                    const tg_real *restrict x, const double *restrict s,
                                    int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - s[i];
        acc[i] += d * d, acc2[i] += d;
    }
}

static void dev_run(RUN_ARGS)
{
    RUN_UNUSED;
    const red_ctx *k = c;
    const tg_real *xs = k->x + ix;
    if (sy == 0) {
        double m = k->s[iy], sq = 0, sd = 0;
        for (int64_t b = 0; b < n; b += RUN_BLOCK) {
            int64_t e = b + RUN_BLOCK < n ? b + RUN_BLOCK : n, i = b;
            double q[4] = {0, 0, 0, 0}, l[4] = {0, 0, 0, 0};
            for (; i + 4 <= e; i += 4)
                for (int j = 0; j < 4; j++) {
                    double d = (double)xs[i + j] - m;
                    q[j] += d * d, l[j] += d;
                }
            for (; i < e; i++) {
                double d = (double)xs[i] - m;
                q[0] += d * d, l[0] += d;
            }
            sq += (q[0] + q[1]) + (q[2] + q[3]), sd += (l[0] + l[1]) + (l[2] + l[3]);
        }
        k->acc[iy] += sq, k->acc2[iy] += sd;
        return;
    }
    dev_cols(k->acc + iy, k->acc2 + iy, xs, k->s + iy, n);
}

/* dev_run over x as [outer, n, inner] reduced along n (a leading axis),
   four rows at a time: their terms are added together before they reach
   the accumulators, which are then read and written a quarter as often
   (one row at a time, var along axis 0 of a 2048 × 2048 float tensor took
   3.1 times a plain loop's time) */
TG_VECTOR_LOOP static void dev_cols4(double *restrict acc, double *restrict acc2,
                                     const tg_real *restrict x, int64_t stride,
                                     const double *restrict s, int64_t n)
{
    const tg_real *x1 = x + stride, *x2 = x1 + stride, *x3 = x2 + stride;
    for (int64_t i = 0; i < n; i++) {
        double d0 = (double)x[i] - s[i], d1 = (double)x1[i] - s[i];
        double d2 = (double)x2[i] - s[i], d3 = (double)x3[i] - s[i];
        acc[i] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
        acc2[i] += (d0 + d1) + (d2 + d3);
    }
}

static void dev_leading(const red_ctx *k, reduce_view v)
{
    for (int64_t o = 0; o < v.outer; o++) {
        int64_t i = o * v.inner, kk = 0;
        const tg_real *x = k->x + o * v.n * v.inner;
        for (; kk + 4 <= v.n; kk += 4)
            dev_cols4(k->acc + i, k->acc2 + i, x + kk * v.inner, v.inner, k->s + i, v.inner);
        for (; kk < v.n; kk++)
            dev_cols(k->acc + i, k->acc2 + i, x + kk * v.inner, k->s + i, v.inner);
    }
}

#ifndef TG_DOUBLE
/* The one-pass columns (the float build's shift by the first row) whose
   sums' rounding, at most about 3n·2⁻⁵³·Σd², could exceed 2⁻³⁰ of their
   corrected sum (or are NaN): summed again in two passes about their own
   mean, which keeps the error to a few n·2⁻⁵³ of the result. x is
   [outer, n, inner] (v); mean, acc, acc2 per column. */
static void recheck_columns(const tg_real *x, reduce_view v, int64_t n, double *mean,
                            double *acc, double *acc2)
{
    for (int64_t o = 0; o < v.outer * v.inner; o++) {
        double ss = acc[o] - acc2[o] * acc2[o] / (double)n;
        if (3.0 * (double)n * 0x1p-53 * acc[o] <= 0x1p-30 * ss) continue;
        const tg_real *c = x + (o / v.inner) * v.n * v.inner + o % v.inner; /* stride inner */
        double s = 0, q = 0, l = 0;
        for (int64_t k = 0; k < v.n; k++) s += (double)c[k * v.inner];
        double mu = s / (double)n;
        for (int64_t k = 0; k < v.n; k++) {
            double d = (double)c[k * v.inner] - mu;
            q += d * d, l += d;
        }
        mean[o] = mu, acc[o] = q, acc2[o] = l;
    }
}
#endif

static int moments_forward(tg_record *r, bool sd)
{
    const reduce_attr *a = r->attr;
    int64_t n = tg_reduced_count(r->in[0], a->mask), m = r->out->size;
    double *mean = tg_reduce_save(r, 2); /* m̃ and Σd/n, kept for the backward */
    double *acc = tg_tape_alloc(r->tape, 2 * (size_t)(m ? m : 1) * sizeof(double));
    if (!mean || !acc) return TG_ERR_NOMEM;
    double *acc2 = acc + m;
    memset(acc, 0, 2 * (size_t)m * sizeof(double));
    red_ctx k = {.x = r->in[0]->data, .acc = acc};
    reduce_view v;
    bool leading = tg_reduce_view(r->in[0], a->mask, &v) && v.inner > 1, shifted = false;
#ifndef TG_DOUBLE
    /* The float build along a leading axis: one pass, m̃ the first row (the
       pass of the column means cost as much as a plain loop: var along
       axis 0 of 2048 × 2048 took 2.3-2.6 times a plain loop's time). The
       corrected sum Σd² − (Σd)²/n of d = x − m̃ in double is within about
       3n·2⁻⁵³·Σd² (recheck_columns): a few n·2⁻⁵³ of the result while the
       first row is a typical value, but an outlier there makes Σd² much
       larger than the result; such a column is summed again about its
       mean. */
    if (leading && v.n > 0) {
        shifted = true;
        for (int64_t o = 0; o < v.outer; o++)
            for (int64_t i = 0; i < v.inner; i++)
                mean[o * v.inner + i] = (double)k.x[o * v.n * v.inner + i],
                acc[o * v.inner + i] = 0;
    } else
#endif
    {
        if (leading) /* along a leading axis: by rows, four at a time */
            for (int64_t o = 0; o < v.outer; o++)
                tg_sum_add_rows(acc + o * v.inner, k.x + o * v.n * v.inner, v.n, v.inner,
                                v.inner);
        else
            tg_reduce_walk(r->in[0], a->mask, colsum_run, &k);
        for (int64_t o = 0; o < m; o++) mean[o] = acc[o] / (double)n, acc[o] = 0;
    }
    k.s = mean, k.acc2 = acc2;
    if (leading)
        dev_leading(&k, v); /* a leading axis: by columns that stay in cache */
    else
        tg_reduce_walk(r->in[0], a->mask, dev_run, &k);
#ifndef TG_DOUBLE
    if (shifted) recheck_columns(k.x, v, n, mean, acc, acc2);
#endif
    (void)shifted;
    double dof = fmax(0.0, (double)n - a->p);
    for (int64_t o = 0; o < m; o++) {
        double ss = acc[o] - acc2[o] * acc2[o] / (double)n;
        double var = (ss < 0 ? 0 : ss) / dof; /* ≥ 0 in exact arithmetic; NaN stays */
        mean[m + o] = acc2[o] / (double)n;
        r->out->data[o] = (tg_real)(sd ? sqrt(var) : var);
    }
    return TG_OK;
}

static void moments_backward(tg_record *r, tg_bcast_fn run)
{
    const reduce_attr *a = r->attr;
    int64_t n = tg_reduced_count(r->in[0], a->mask);
    red_ctx k = {.x = r->in[0]->data, .y = r->out->data, .g = r->out->grad, .s = r->saved,
                 .dx = r->in[0]->grad, .p = 2.0 / ((double)n - a->p), .p2 = r->out->size};
    tg_reduce_walk(r->in[0], a->mask, run, &k);
}

static int moments_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx, bool sd)
{
    const reduce_attr *a = r->attr;
    tg_tensor *x = r->in[0];
    /* x − m as (x − m̃) − mean(x − m̃), as the forward (the derivative of
       the correction is 0, its value the digits m̃ lost) */
    tg_tensor *d = tg_sub(t, x, tg_reduce_over(t, &tg_mean_op, x, a->mask, true, 0));
    tg_tensor *dev = tg_sub(t, d, tg_reduce_over(t, &tg_mean_op, d, a->mask, true, 0));
    tg_tensor *gk = tg_reduce_keep(t, r, g);
    if (sd) { /* g/(2y), 0 where y = 0 (y kept away from 0 in the branch not taken) */
        tg_tensor *y = tg_reduce_keep(t, r, r->out), *zero = tg_scalar(t, 0);
        tg_tensor *y0 = tg_eq(t, y, zero);
        tg_tensor *safe = tg_where(t, y0, tg_scalar(t, 1), y);
        gk = tg_where(t, y0, zero, tg_div(t, gk, tg_scale(t, safe, 2)));
    }
    int64_t n = tg_reduced_count(x, a->mask);
    dx[0] = tg_mul(t, tg_scale(t, gk, (tg_real)(2.0 / ((double)n - a->p))), dev);
    return TG_OK;
}

static int var_forward(tg_record *r) { return moments_forward(r, false); }
static void var_backward(tg_record *r) { moments_backward(r, var_grad_run); }
static int var_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    return moments_vjp(t, r, g, dx, false);
}

static int std_forward(tg_record *r) { return moments_forward(r, true); }
static void std_backward(tg_record *r) { moments_backward(r, std_grad_run); }
static int std_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    return moments_vjp(t, r, g, dx, true);
}

static int moments_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                         size_t len)
{
    const reduce_attr *a = r->attr;
    if (!isfinite(a->p)) {
        snprintf(msg, len, "the correction must be finite, got %g", a->p);
        return TG_ERR_INVALID;
    }
    return tg_reduce_shape(r, ndim, shape, msg, len);
}

/* ------------------------------------------------------------ logsumexp */

/* y = m + log Σ_k exp(x_k − m), m = max_k x_k, taken as 0 where it is ±inf
   (as PyTorch: an all −inf slice gives −inf and an inf gives inf, never
   inf − inf); no elements give −inf
   dx_k += g·exp(x_k − y)   (softmax: g·softmax(x)_k) */
/* e^x in double without a call or a branch, so that a loop of them
   vectorises: x = k·ln2 + r with |r| ≤ ln2/2 (ln2 in two parts, the first
   exact times any k here), e^r by its Taylor polynomial to r^13 (the next
   term is below 2^-57 of it), and 2^k written into the exponent bits.
   Below e^-708 (where 2^k would be subnormal) the result is 0, above e^709
   inf; NaN stays NaN. Relative error a few 2^-53. (The double build's: the
   float build takes exp_nonpos.) */
#ifdef TG_DOUBLE
static inline double exp_poly(double x)
{
    const double shifter = 0x1.8p52; /* adding it rounds to an integer in the low bits */
    double xc = x < -708.0 ? -708.0 : x > 709.0 ? 709.0 : x;
    double kd = xc * 0x1.71547652b82fep0 + shifter; /* log2(e) */
    uint64_t kb;
    memcpy(&kb, &kd, sizeof kb);
    kd -= shifter;
    double r = (xc - kd * 0x1.62e42feep-1) - kd * 0x1.a39ef35793c76p-33;
    double p = 0x1.6124613a86d09p-33; /* 1/13! ... 1/2!, 1, 1 */
    p = p * r + 0x1.1eed8eff8d898p-29;
    p = p * r + 0x1.ae64567f544e4p-26;
    p = p * r + 0x1.27e4fb7789f5cp-22;
    p = p * r + 0x1.71de3a556c734p-19;
    p = p * r + 0x1.a01a01a01a01ap-16;
    p = p * r + 0x1.a01a01a01a01ap-13;
    p = p * r + 0x1.6c16c16c16c17p-10;
    p = p * r + 0x1.1111111111111p-7;
    p = p * r + 0x1.5555555555555p-5;
    p = p * r + 0x1.5555555555555p-3;
    p = p * r + 0.5;
    p = p * r + 1;
    p = p * r + 1;
    uint64_t eb = (kb - 0x4338000000000000ULL + 1023) << 52; /* 2^k; kb's low bits hold k */
    double scale;
    memcpy(&scale, &eb, sizeof scale);
    double v = p * scale;
    return x >= -708.0 ? (x <= 709.0 ? v : INFINITY) : x < -708.0 ? 0.0 : x;
}

/* out[i] = e^(x[i] − s[i·ss]), ss 0 (one shift) or 1 (one per element) */
TG_VECTOR_LOOP static void exp_shifted(double *restrict out, const tg_real *restrict x,
                                       const double *restrict s, int64_t ss, int64_t n)
{
    if (ss == 0) {
        double s0 = s[0];
        for (int64_t i = 0; i < n; i++) out[i] = exp_poly((double)x[i] - s0);
    } else {
        for (int64_t i = 0; i < n; i++) out[i] = exp_poly((double)x[i] - s[i]);
    }
}
#else
/* The float build: out[i] = e^(x[i] − s[i·ss]) by the float exponential of
   the fused activations (within 2 ulp, eight or sixteen to a vector where
   the double polynomial above takes four or eight: logsumexp over a large
   tensor ran at 2.7 to 11 times a plain loop's time with it). x − s ≤ 0
   here: the shift is the maximum (the caller handles a maximum of +inf).
   The terms are then summed in double, so that the sum keeps float's
   precision whatever the count; PyTorch's float logsumexp takes float
   exponentials too. */
TG_VECTOR_LOOP static void exp_shifted(float *restrict out, const float *restrict x,
                                       const double *restrict s, int64_t ss, int64_t n)
{
    if (ss == 0) {
        float s0 = (float)s[0];
        for (int64_t i = 0; i < n; i++) out[i] = exp_nonpos(x[i] - s0);
    } else {
        for (int64_t i = 0; i < n; i++) out[i] = exp_nonpos(x[i] - (float)s[i]);
    }
}
#endif

/* Σ e[i] in double, four partial sums */
static double sum4_terms(const tg_real *e, int64_t n)
{
    double p[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) p[j] += (double)e[i + j];
    for (; i < n; i++) p[0] += (double)e[i];
    return (p[0] + p[1]) + (p[2] + p[3]);
}

/* Σ e^(x[i] − shift) over n contiguous values, in double, a block of
   exponentials at a time (x − shift ≤ 0 in the float build: the shift is
   the maximum). logsumexp's runs and cross entropy's rows. */
double tg_exp_sum(const tg_real *x, int64_t n, double shift)
{
    tg_real e[RUN_BLOCK];
    double total = 0;
    for (int64_t b = 0; b < n; b += RUN_BLOCK) {
        int64_t w = b + RUN_BLOCK < n ? RUN_BLOCK : n - b;
        exp_shifted(e, x + b, &shift, 0, w);
        total += sum4_terms(e, w);
    }
    return total;
}

/* The float logsumexp (forward and backward) and the norm's powers on
   AVX-512: eˣ sixteen at a time with fused multiply-adds and the exponent
   put in by vscalefps (exp16, below), in the place of the portable loops
   above, whose exponential without FMAs cost about three cycles a value,
   twice the rest of the op; the terms summed in double as above. (The
   results are not the portable loops' bits; on a given machine an op
   always takes the one path.) Taken where the GEMM's kernel is "avx512",
   so that TG_GEMM_KERNEL=avx2 or portable runs the portable loops on such
   a machine too, as col2im's vector rows. */
#if !defined(TG_DOUBLE) && defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LSE_X86 1

/* 2^(j/16) for j = 0..15, rounded to float: the table of exp16 and
   pow16_abs (vpermps picks an entry by the low four bits of a lane) */
__attribute__((target("avx512f"))) static inline __m512 sixteenths(void)
{
    return _mm512_setr_ps(
        1.000000000e+00f, 1.044273734e+00f, 1.090507746e+00f, 1.138788581e+00f,
        1.189207077e+00f, 1.241857767e+00f, 1.296839595e+00f, 1.354255557e+00f,
        1.414213538e+00f, 1.476826191e+00f, 1.542210817e+00f, 1.610490322e+00f,
        1.681792855e+00f, 1.756252170e+00f, 1.834008098e+00f, 1.915206552e+00f);
}

/* e^v (NaN stays NaN): v = (n/16)·ln 2 + r with n = round(16·v/ln 2) and
   |r| ≤ ln 2/32 (ln 2 in two parts, the first of 12 bits so that (n/16)·hi
   is exact; n/16 from the rounding sum t in one multiply-add),
   eʳ = 1 + r·(1 + r/2 + r²/6) (the next term below 1e-8),
   times 2^(j/16) for j = n mod 16 from a table in one register (vpermps
   takes the low four bits of each lane: those of n in the rounding sum),
   times 2^⌊n/16⌋ by vscalefps, rounded once, denormals too. Within 1.07 ulp
   of the exact value over every float in [−104, 88.7] (checked against
   double exp: 2.2e9 values); 0 below (v is clamped there), inf above. Eight
   multiply-adds a vector where the Taylor polynomial to r⁷ took eleven. */
__attribute__((target("avx512f"))) static inline __m512 exp16(__m512 v)
{
    const __m512 table = sixteenths();
    const __m512 shifter = _mm512_set1_ps(12582912.0f); /* 1.5·2²³: adding it rounds */
    v = _mm512_max_ps(_mm512_set1_ps(-104.0f), v);      /* v when v is NaN */
    __m512 t = _mm512_fmadd_ps(v, _mm512_set1_ps(23.083120346069336f), shifter); /* 16/ln 2 */
    __m512 n16 = _mm512_fmadd_ps(t, _mm512_set1_ps(0.0625f), _mm512_set1_ps(-786432.0f)); /* n/16 */
    __m512 r = _mm512_fnmadd_ps(n16, _mm512_set1_ps(0.693115234375f), v);
    r = _mm512_fnmadd_ps(n16, _mm512_set1_ps(3.19461832987e-05f), r);
    __m512 T = _mm512_permutexvar_ps(_mm512_castps_si512(t), table);
    __m512 q = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(1.0f / 6), r, _mm512_set1_ps(0.5f)),
                               r, _mm512_set1_ps(1.0f));
    __m512 y = _mm512_fmadd_ps(_mm512_mul_ps(T, r), q, T);
    return _mm512_scalef_ps(y, n16);
}

/* lo, hi += the sixteen terms in double */
__attribute__((target("avx512f"))) static inline void add16_pd(__m512d *lo, __m512d *hi, __m512 e)
{
    *lo = _mm512_add_pd(*lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    *hi = _mm512_add_pd(
        *hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
}

/* Σ e^(x[i] − shift), i < n: a run into one output */
__attribute__((target("avx512f"))) static double exp_sum_avx512(const float *x, int64_t n,
                                                                float shift)
{
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    __m512 s = _mm512_set1_ps(shift);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) add16_pd(&lo, &hi, exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), s)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), s);
        add16_pd(&lo, &hi, _mm512_maskz_mov_ps(m, exp16(v)));
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}

/* acc[c] += Σ_r e^(x[r·C + c] − s[c]) over r < R, for each c < C: eight
   rows at a time down sixteen columns, each column's eight terms summed in
   float pairwise (within 3 float roundings of their sum, whatever R: the
   double conversions were half the loop's time) and then into acc in
   double. */
__attribute__((target("avx512f"))) static void exp_sum_cols_avx512(double *acc, const float *x,
                                                                  const float *s, int64_t R,
                                                                  int64_t C)
{
    for (int64_t r0 = 0; r0 < R; r0 += 8) {
        int64_t rows = R - r0 < 8 ? R - r0 : 8;
        for (int64_t c = 0; c < C; c += 16) {
            __mmask16 m = C - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (C - c)) - 1);
            __mmask8 mlo = (__mmask8)m, mhi = (__mmask8)(m >> 8);
            __m512d lo = _mm512_maskz_loadu_pd(mlo, acc + c), hi = _mm512_maskz_loadu_pd(mhi, acc + c + 8);
            __m512 sv = _mm512_maskz_loadu_ps(m, s + c);
            __m512 e[8];
            if (rows == 8 && m == 0xffff) { /* the common case, without masks */
                for (int64_t j = 0; j < 8; j++) {
                    e[j] = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + (r0 + j) * C + c), sv));
                }
            } else { /* the last rows or columns: the lanes and rows past them add 0 */
                for (int64_t j = 0; j < 8; j++) {
                    __mmask16 mj = j < rows ? m : 0;
                    __m512 v = _mm512_sub_ps(_mm512_maskz_loadu_ps(mj, x + (r0 + j) * C + c), sv);
                    e[j] = _mm512_maskz_mov_ps(mj, exp16(v));
                }
            }
            add16_pd(&lo, &hi, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(e[0], e[1]), _mm512_add_ps(e[2], e[3])),
                                             _mm512_add_ps(_mm512_add_ps(e[4], e[5]), _mm512_add_ps(e[6], e[7]))));
            _mm512_mask_storeu_pd(acc + c, mlo, lo);
            _mm512_mask_storeu_pd(acc + c + 8, mhi, hi);
        }
    }
}

/* logsumexp over x viewed as [outer, n, inner], inner > 1, in one pass
   (no pass for the maximum): each column's shift is its first value rather
   than its maximum. Any shift gives the same y = s + log Σ e^(x − s) as
   long as the terms and their sums are finite (x − s below about 88.7: the
   sums are then at most 8·R·e^88.7 in double); a term that underflows is
   below e⁻¹⁰⁴ of the first value's own term, 1, so the sum keeps float's
   precision. But each x − s is rounded to float, an error of up to half an
   ulp of |x − s| on y: small against y only when the shift is near y. A
   column of (−80, −0.001, −12) has y = −0.000994 from −80 + 79.999, whose
   79.999 carries an error of 4e-6 (0.4% of y; PyTorch, shifting by the
   maximum, errs by 5e-8). So the result is kept only where |y − s| is at
   most 2·max(|y|, 1), an error of at most an ulp of max(|y|, 1) or so (as
   the maximum's shift gives); data of one scale, the common case, keep it.
   False (y written in part or not at all) where that does not hold, or
   where a first value is not finite or a sum not finite (an x − s too
   large, an inf or a NaN); the caller then takes the two passes. */
static bool logsumexp_leading(tg_record *r, float *sf, double *acc)
{
    const reduce_attr *a = r->attr;
    reduce_view v;
    if (!tg_gemm_kernel_avx512() || !tg_reduce_view(r->in[0], a->mask, &v) ||
        v.inner < 2 || v.n < 1)
        return false;
    const float *x = r->in[0]->data;
    int64_t m = v.outer * v.inner;
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            float s0 = x[o * v.n * v.inner + i];
            if (!isfinite(s0)) return false;
            sf[o * v.inner + i] = s0;
        }
    memset(acc, 0, (size_t)m * sizeof(double));
    for (int64_t o = 0; o < v.outer; o++)
        exp_sum_cols_avx512(acc + o * v.inner, x + o * v.n * v.inner, sf + o * v.inner, v.n, v.inner);
    for (int64_t o = 0; o < m; o++)
        if (!isfinite(acc[o])) return false;
    for (int64_t o = 0; o < m; o++) {
        double s = sf[o], y = s + log(acc[o]);
        if (fabs(y - s) > 2 * fmax(fabs(y), 1)) return false;
        r->out->data[o] = (float)y;
    }
    return true;
}

/* a^p for sixteen floats a ≥ 0, as two halves in double (*lo: lanes 0-7),
   for the norm of an order p in (0, 1024) that is not a whole number
   (libm's pow took 13 times a plain sum's time over [2048, 2048]; the
   routine before this one, in double, eight at a time with a division,
   9.5 times along axis 0 on an Intel Xeon, twice this one's time there).
   p = ph + pl, two floats.
   a = m·2^e with m in [1, 2) (vgetexp, vgetmant); log2 m = log2 c_j +
   log2(1 + r), c_j the middle of m's sixteenth j (its top four bits, which
   vpermps takes from m's bits shifted), r = m/c_j − 1 in one multiply-add
   by 1/c_j from a table (|r| ≤ 1/31), log2(1 + r) = (r − r²/2 + r³/3 −
   r⁴/4)/ln 2 (the next term below 1.1e-8). t = p·(e + log2 m) with p·e kept
   as hi + lo (hi = ph·e rounded, lo its error and pl's share), rounded to
   n/16 (the rounding sum's low four bits j' index 2^(j'/16) as in exp16),
   f = t − n/16 (|f| ≤ 1/32) formed small: (hi − n/16) is exact there;
   2^f = 1 + f·(ln 2 + f·(ln 2²/2 + f·ln 2³/6)); times 2^⌊n/16⌋ by vscalefpd
   in double, so that no power of a float overflows or underflows short of
   double's range. Against pow in double over every seventh float: within
   2.0 float ulp for p ≤ 0.5, 2.8 for p = 1.3 and 1.5, 3.6 for 2.5, 4.4 for
   3.7, 7.0 for 7.3, 52 for 70.5 (log2 m's error is multiplied by p; the
   norm's root divides it by p again); 0 gives 0, inf inf, NaN NaN. */
__attribute__((target("avx512f"))) static inline void pow16_abs(__m512 a, __m512 ph, __m512 pl,
                                                                __m512d *lo_out, __m512d *hi_out)
{
    const __m512 inv = _mm512_setr_ps( /* 1/c_j = 32/(33 + 2j), rounded to float */
        9.696969986e-01f, 9.142857194e-01f, 8.648648858e-01f, 8.205128312e-01f,
        7.804877758e-01f, 7.441860437e-01f, 7.111111283e-01f, 6.808510423e-01f,
        6.530612111e-01f, 6.274510026e-01f, 6.037735939e-01f, 5.818181634e-01f,
        5.614035130e-01f, 5.423728824e-01f, 5.245901346e-01f, 5.079365373e-01f);
    const __m512 lgc = _mm512_setr_ps( /* −log2 of the floats above, rounded to float */
        4.439407587e-02f, 1.292830110e-01f, 2.094533294e-01f, 2.854022086e-01f,
        3.575520515e-01f, 4.262647629e-01f, 4.918530583e-01f, 5.545889139e-01f,
        6.147098541e-01f, 6.724252701e-01f, 7.279204130e-01f, 7.813597322e-01f,
        8.328899741e-01f, 8.826430440e-01f, 9.307374358e-01f, 9.772798419e-01f);
    const __m512 table = sixteenths();
    const float il = 1.4426950408889634f, l = 0.6931471805599453f; /* 1/ln 2, ln 2 */
    const __m512 shifter = _mm512_set1_ps(786432.0f); /* 1.5·2¹⁹: adding it rounds to 1/16 */
    __m512 e = _mm512_getexp_ps(a);
    __m512 m = _mm512_getmant_ps(a, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
    __m512i j = _mm512_srli_epi32(_mm512_castps_si512(m), 19);
    __m512 r = _mm512_fmadd_ps(m, _mm512_permutexvar_ps(j, inv), _mm512_set1_ps(-1.0f));
    __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(-il / 4), r, _mm512_set1_ps(il / 3));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(-il / 2));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(il));
    __m512 u = _mm512_fmadd_ps(q, r, _mm512_permutexvar_ps(j, lgc)); /* log2 m */
    __m512 hi = _mm512_mul_ps(ph, e);
    __m512 lo = _mm512_fmadd_ps(pl, _mm512_add_ps(e, u), _mm512_fmsub_ps(ph, e, hi));
    __m512 z = _mm512_add_ps(_mm512_fmadd_ps(ph, u, hi), shifter);
    __m512 n16 = _mm512_sub_ps(z, shifter);
    __m512 f = _mm512_add_ps(_mm512_fmadd_ps(ph, u, _mm512_sub_ps(hi, n16)), lo);
    __m512 T = _mm512_permutexvar_ps(_mm512_castps_si512(z), table);
    __m512 c = _mm512_fmadd_ps(_mm512_set1_ps(l * l * l / 6), f, _mm512_set1_ps(l * l / 2));
    __m512 y = _mm512_fmadd_ps(_mm512_mul_ps(T, f), _mm512_fmadd_ps(c, f, _mm512_set1_ps(l)), T);
    /* 0 and inf: y = a, and 2^±inf puts in the rest (NaN stays NaN) */
    __mmask16 edge = _mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_EQ_OQ) |
                     _mm512_cmp_ps_mask(a, _mm512_set1_ps(INFINITY), _CMP_EQ_OQ);
    y = _mm512_mask_mov_ps(y, edge, a);
    __m256 yh = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(y), 1));
    __m256 nh = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(n16), 1));
    *lo_out = _mm512_scalef_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(y)),
                               _mm512_cvtps_pd(_mm512_castps512_ps256(n16)));
    *hi_out = _mm512_scalef_pd(_mm512_cvtps_pd(yh), _mm512_cvtps_pd(nh));
}

/* a^(n + 1/2) for sixteen floats a ≥ 0 as two halves in double, for the
   orders p = n + 1/2 (0.5, 1.5, 2.5, ...): √a in float (vsqrtps, correctly
   rounded), times aⁿ in double by binary powers (abs_pow's). Within 2⁻²⁴
   and (n + 1)·2⁻⁵³ of the exact power (checked against pow in double over
   every float for n = 0, 1, 2), where pow16_abs was within 2.8 ulp; along
   axis 0 of [2048, 2048] 2.2 times a plain sum's time on an Intel Xeon
   (bound by vsqrtps; pow16_abs 4.6 times; √a by vrsqrt14ps and a Newton
   step was slower still there). 0, inf and NaN as pow. */
__attribute__((target("avx512f"))) static inline void half16_abs(__m512 a, int n, __m512d *lo_out,
                                                                 __m512d *hi_out)
{
    __m512 s = _mm512_sqrt_ps(a);
    __m256 ah = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
    __m256 sh = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1));
    __m512d b[2] = {_mm512_cvtps_pd(_mm512_castps512_ps256(a)), _mm512_cvtps_pd(ah)};
    __m512d y[2] = {_mm512_cvtps_pd(_mm512_castps512_ps256(s)), _mm512_cvtps_pd(sh)};
    if (n == 1) { /* the common order 1.5 */
        *lo_out = _mm512_mul_pd(y[0], b[0]), *hi_out = _mm512_mul_pd(y[1], b[1]);
        return;
    }
    for (int j = 0; j < 2; j++)
        for (int m = n; m; m >>= 1) { /* y·bⁿ: abs_pow's steps, √a in the place of 1 */
            if (m & 1) y[j] = _mm512_mul_pd(y[j], b[j]);
            if (m > 1) b[j] = _mm512_mul_pd(b[j], b[j]);
        }
    *lo_out = y[0], *hi_out = y[1];
}

/* acc[i] += the sixteen sums lo (0..7) and hi (8..15), where mk has i */
__attribute__((target("avx512f"))) static inline void acc_add16(double *acc, __mmask16 mk,
                                                                __m512d lo, __m512d hi)
{
    __mmask8 ml = (__mmask8)mk, mh = (__mmask8)(mk >> 8);
    _mm512_mask_storeu_pd(acc, ml, _mm512_add_pd(_mm512_maskz_loadu_pd(ml, acc), lo));
    _mm512_mask_storeu_pd(acc + 8, mh, _mm512_add_pd(_mm512_maskz_loadu_pd(mh, acc + 8), hi));
}

/* Σ |x[i]|^p over a run into one output (acc NULL: returned), or
   acc[i] += Σ_k |x[k·stride + i]|^p over k < rows (one output each, four
   rows at a time: the sums read and written a quarter as often); p = n + 1/2
   by half16_abs (half = n + 1), others by pow16_abs (half = 0) */
__attribute__((target("avx512f"))) static double pow_sum_avx512(const float *x, int64_t n, double p,
                                                               int half, double *acc,
                                                               int64_t rows, int64_t stride)
{
    const __m512 ph = _mm512_set1_ps((float)p), pl = _mm512_set1_ps((float)(p - (float)p));
    __m512d slo = _mm512_setzero_pd(), shi = _mm512_setzero_pd();
    for (int64_t k = 0; k < rows; k += 4) {
        int nr = rows - k < 4 ? (int)(rows - k) : 4;
        for (int64_t i = 0; i < n; i += 16) {
            __mmask16 mk = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
            __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd(), a, b; /* 0^p = 0 past n */
            for (int j = 0; j < nr; j++) {
                __m512 v = _mm512_abs_ps(_mm512_maskz_loadu_ps(mk, x + (k + j) * stride + i));
                if (half)
                    half16_abs(v, half - 1, &a, &b);
                else
                    pow16_abs(v, ph, pl, &a, &b);
                lo = _mm512_add_pd(lo, a), hi = _mm512_add_pd(hi, b);
            }
            if (acc) {
                acc_add16(acc + i, mk, lo, hi);
            } else {
                slo = _mm512_add_pd(slo, lo), shi = _mm512_add_pd(shi, hi);
            }
        }
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(slo, shi));
}

/* a^(n + 1/2) in float for sixteen floats a ≥ 0 (or NaN), n ≤ 2, with √a by
   vsqrtps (by_sqrt) or by vrsqrt14ps and a Newton step (t = a·y with
   y ≈ 1/√a: √a ≈ t + t(1/2 − t·y/2)), times aⁿ in float. Within 1.00,
   1.97 and 2.91 times 2⁻²⁴ relative by vsqrtps, 1.54, 2.47 and 3.32 by the
   Newton step (n = 0, 1, 2: below (n + 1.6)·2⁻²⁴; over every float whose
   power is a normal float). 0 gives 0 and NaN NaN; inf gives NaN by the
   Newton step, and powers beyond float's range inf or subnormals:
   half_sum_avx512 checks its sums for those. */
__attribute__((target("avx512f"))) static inline __m512 half16_float(__m512 a, int n, bool by_sqrt)
{
    __m512 s;
    if (by_sqrt) {
        s = _mm512_sqrt_ps(a);
    } else {
        __mmask16 nz = _mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_NEQ_UQ); /* NaN too */
        __m512 y = _mm512_rsqrt14_ps(a), t = _mm512_mul_ps(a, y);
        const __m512 half = _mm512_set1_ps(0.5f);
        __m512 e = _mm512_fnmadd_ps(t, _mm512_mul_ps(y, half), half);
        s = _mm512_maskz_fmadd_ps(nz, t, e, t); /* 0 at 0, where t·e is 0·inf */
    }
    if (n >= 1) s = _mm512_mul_ps(s, a);
    if (n == 2) s = _mm512_mul_ps(s, a);
    return s;
}

/* Σ|x|^p for p = n + 1/2, n ≤ 2 (half = n + 1), as pow_sum_avx512 takes it
   with half16_abs (a run into one output, returned, when acc is NULL; else
   acc[i] = Σ_k |x[k·stride + i]|^p over k < rows, written, not added to), by
   half16_float: of each four vectors (four rows down, or four along the
   run), two by vsqrtps and two by the Newton step, each power summed in
   double. vsqrtps takes twelve cycles a vector on an Intel Xeon, and the
   Newton step's six instructions share the two vector ports with the
   conversions to double: along axis 0 of [2048, 2048], in a loop of its
   own, 1.4 times a plain sum's time where half16_abs took 2.0 (by the
   Newton step alone 1.6; one by vsqrtps and three by the step, their
   powers summed in float first, 1.1, with three more roundings a term).
   A sum that is not finite (an inf, a NaN, a power beyond float's range)
   or below 2⁻¹⁰⁰ (powers among float's subnormals, or 0) is taken again by
   half16_abs, so that it is as accurate as half16_abs's wherever it can
   be. */
__attribute__((target("avx512f"))) static double half_sum_avx512(const float *x, int64_t n,
                                                                int half, double *acc,
                                                                int64_t rows, int64_t stride)
{
    const int pn = half - 1;
    __m512d slo = _mm512_setzero_pd(), shi = _mm512_setzero_pd();
    if (acc) memset(acc, 0, (size_t)n * sizeof(double));
    int64_t groups = acc ? rows : (n + 15) / 16; /* rows, or vectors along the run */
    for (int64_t k = 0; k < groups; k += 4) {
        for (int64_t i = 0; i < (acc ? n : 1); i += 16) {
            __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
            for (int j = 0; j < 4 && k + j < groups; j++) {
                const float *p = acc ? x + (k + j) * stride + i : x + (k + j) * 16;
                int64_t left = acc ? n - i : n - (k + j) * 16; /* values from p on */
                __mmask16 mk = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
                __m512 v = _mm512_abs_ps(_mm512_maskz_loadu_ps(mk, p));
                __m512 g = half16_float(v, pn, j < 2);
                __m256 gh = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(g), 1));
                lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(g)));
                hi = _mm512_add_pd(hi, _mm512_cvtps_pd(gh));
            }
            if (acc) {
                acc_add16(acc + i, n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1), lo, hi);
            } else {
                slo = _mm512_add_pd(slo, lo), shi = _mm512_add_pd(shi, hi);
            }
        }
    }
    const double tiny = 0x1p-100;
    if (!acc) {
        double total = _mm512_reduce_add_pd(_mm512_add_pd(slo, shi));
        if (total >= tiny && total < INFINITY) return total;
        return pow_sum_avx512(x, n, pn + 0.5, half, NULL, 1, 0);
    }
    for (int64_t i = 0; i < n; i++)
        if (!(acc[i] >= tiny && acc[i] < INFINITY)) {
            acc[i] = 0;
            pow_sum_avx512(x + i, 1, pn + 0.5, half, acc + i, rows, stride);
        }
    return 0;
}
#endif

/* acc[o] += Σ e^(x − s[o]) over the run, a block of exponentials at a time */
static void expsum_run(RUN_ARGS)
{
    RUN_UNUSED;
    const red_ctx *k = c;
#ifdef LSE_X86
    if (k->avx512) {
        if (sy == 0) {
            k->acc[iy] += exp_sum_avx512(k->x + ix, n, (float)k->s[iy]);
        } else {
            float sf[RUN_BLOCK];
            for (int64_t b = 0; b < n; b += RUN_BLOCK) {
                int64_t w = b + RUN_BLOCK < n ? RUN_BLOCK : n - b;
                for (int64_t i = 0; i < w; i++) sf[i] = (float)k->s[iy + b + i];
                exp_sum_cols_avx512(k->acc + iy + b, k->x + ix + b, sf, 1, w);
            }
        }
        return;
    }
#endif
    if (sy == 0) {
        k->acc[iy] += tg_exp_sum(k->x + ix, n, k->s[iy]);
        return;
    }
    tg_real e[RUN_BLOCK];
    for (int64_t b = 0; b < n; b += RUN_BLOCK) {
        int64_t w = b + RUN_BLOCK < n ? RUN_BLOCK : n - b;
        exp_shifted(e, k->x + ix + b, k->s + iy + b, 1, w);
        tg_sum_add_rows(k->acc + iy + b, e, 1, 0, w);
    }
}
GRAD_RUN(lse_grad_any_run, gv * TG_EXP(xv - yv))

#ifdef LSE_X86
/* dx[i] += g[0]·e^(x[i] − y[0]) for a run into one output (sy 0), or
   dx[i] += g[i]·e^(x[i] − y[i]) (sy 1): exp16, sixteen at a time (libm's
   expf per element took twelve times the forward's time) */
__attribute__((target("avx512f"))) static void lse_grad_avx512(float *dx, const float *x,
                                                              const float *g, const float *y,
                                                              int64_t n, int64_t sy)
{
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 mk = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 gv = sy ? _mm512_maskz_loadu_ps(mk, g + i) : _mm512_set1_ps(g[0]);
        __m512 yv = sy ? _mm512_maskz_loadu_ps(mk, y + i) : _mm512_set1_ps(y[0]);
        __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + i), yv));
        _mm512_mask_storeu_ps(dx + i, mk,
                              _mm512_add_ps(_mm512_maskz_loadu_ps(mk, dx + i), _mm512_mul_ps(gv, e)));
    }
}
#endif

static void lse_grad_run(RUN_ARGS)
{
#ifdef LSE_X86
    const red_ctx *k = c;
    if (k->avx512) {
        lse_grad_avx512(k->dx + ix, k->x + ix, k->g + iy, k->y + iy, n, sy);
        return;
    }
#endif
    lse_grad_any_run(iy, ib_, ix, n, sy, sb_, c);
}

static int logsumexp_forward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    int64_t m = r->out->size;
    double *shift = tg_tape_alloc(r->tape, 2 * (size_t)(m ? m : 1) * sizeof(double));
    if (!shift) return TG_ERR_NOMEM;
    double *acc = shift + m;
    tg_real *y = r->out->data;
    red_ctx k = {.x = r->in[0]->data, .s = shift, .acc = acc};
#ifdef LSE_X86
    /* the float shifts of logsumexp_leading in shift's room (m floats) */
    if (logsumexp_leading(r, (float *)shift, acc)) return TG_OK;
    k.avx512 = tg_gemm_kernel_avx512();
#endif
    tg_reduce_extreme_over(r, y, false, false);
    for (int64_t o = 0; o < m; o++) shift[o] = isinf(y[o]) ? 0 : (double)y[o], acc[o] = 0;
    tg_reduce_walk(r->in[0], a->mask, expsum_run, &k);
    for (int64_t o = 0; o < m; o++) /* a maximum of +inf (and no NaN) gives +inf */
        y[o] = y[o] == INFINITY ? INFINITY : (tg_real)(shift[o] + log(acc[o]));
    return TG_OK;
}

static void logsumexp_backward(tg_record *r)
{
    red_ctx k = {.x = r->in[0]->data, .y = r->out->data, .g = r->out->grad,
                 .dx = r->in[0]->grad};
#ifdef LSE_X86
    k.avx512 = tg_gemm_kernel_avx512(); /* exp16 rather than expf */
#endif
    tg_reduce_walk(r->in[0], ((const reduce_attr *)r->attr)->mask, lse_grad_run, &k);
}

static int logsumexp_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    dx[0] = tg_mul(t, tg_reduce_keep(t, r, g), tg_exp(t, tg_sub(t, r->in[0], tg_reduce_keep(t, r, r->out))));
    return TG_OK;
}

/* ------------------------------------------------------------ norm */

/* y = ‖x‖_p = (Σ_k |x_k|^p)^(1/p) over the axes (torch.linalg.vector_norm):
   Σ|x| for p = 1, √Σx² for p = 2 (the Frobenius norm over two axes),
   max |x| for p = ∞; sums in double.
   d/dx_k, PyTorch's rules (sgn: −1, 0 or 1, and 0 for NaN):
     p = 1       sgn(x_k)
     p = 2       x_k/y, 0 where y = 0
     p = ∞       sgn(x_k)/c where |x_k| = y or x_k is NaN (c such k), else 0
     p < 1       sgn(x_k)·|x_k|^(p−1)·y^(1−p), 0 where x_k = 0
     other p     sgn(x_k)·|x_k|^(p−1) / y^(p−1), 0 where y = 0 */
SUM_RUN(abssum_run, (double)TG_FABS(xv))
SUM_RUN(sqsum_run, (double)xv * (double)xv)
/* The power n when p is a whole number from 2 to 64, else 0. */
static int whole_power(double p) { return p >= 2 && p <= 64 && p == floor(p) ? (int)p : 0; }

/* a^p, a ≥ 0 (or NaN): for a whole power n (whole_power) by binary powers,
   at most eleven roundings in double, far inside float's precision and
   close to libm's pow in double; the norm over [2048, 2048] with p = 3
   took 13 times a plain sum's time through pow. pow for other p. */
static inline double abs_pow(double a, double p, int n)
{
    if (!n) return pow(a, p);
    double r = 1;
    for (;;) { /* a overflowing on its last squaring is not used */
        if (n & 1) r *= a;
        n >>= 1;
        if (!n) return r;
        a *= a;
    }
}
SUM_RUN(powsum_any_run, pow(fabs((double)xv), k->p))

/* |v|^1 to |v|^4 in double, as abs_pow takes them (the same bits on every
   path that forms them) */
static inline double pw1(tg_real v) { return fabs((double)v); }
static inline double pw2(tg_real v) { return (double)v * (double)v; }
static inline double pw3(tg_real v) { double a = fabs((double)v); return a * (a * a); }
static inline double pw4(tg_real v) { double a2 = (double)v * (double)v; return a2 * a2; }

/* r[i] = |x[i]| to the whole power n, for i < w ≤ RUN_BLOCK (acc[i] += it
   instead, when acc is not NULL): abs_pow's binary powers over a block, each
   step a vector loop (the same operations as abs_pow's, element by element:
   the same bits); n = 3 and 4, the common ones, in one pass */
TG_VECTOR_LOOP static void whole_powers(double *restrict r, double *restrict acc,
                                        const tg_real *restrict x, int64_t w, int n)
{
    if (n == 3 || n == 4) { /* the common powers in one pass */
        for (int64_t i = 0; i < w; i++) {
            double v = n == 3 ? pw3(x[i]) : pw4(x[i]);
            if (acc)
                acc[i] += v;
            else
                r[i] = v;
        }
        return;
    }
    double a[RUN_BLOCK];
    for (int64_t i = 0; i < w; i++) a[i] = fabs((double)x[i]), r[i] = 1;
    for (;;) {
        if (n & 1)
            for (int64_t i = 0; i < w; i++) r[i] *= a[i];
        n >>= 1;
        if (!n) break;
        for (int64_t i = 0; i < w; i++) a[i] *= a[i];
    }
    if (acc)
        for (int64_t i = 0; i < w; i++) acc[i] += r[i];
}

/* acc[o] += Σ |x|^p over the run: SUM_RUN's sums, the powers a block at a
   time (whole_powers) when p is a whole number, pow_sum_avx512 or pow
   otherwise */
static void powsum_run(RUN_ARGS)
{
    const red_ctx *k = c;
    int np = (int)k->p2;
#ifdef LSE_X86
    if (!np && k->avx512) {
        double total = !sy && k->half && k->half <= 3
                           ? half_sum_avx512(k->x + ix, n, k->half, NULL, 1, 0)
                           : pow_sum_avx512(k->x + ix, n, k->p, k->half, sy ? k->acc + iy : NULL,
                                            1, 0);
        if (!sy) k->acc[iy] += total;
        return;
    }
#endif
    if (!np) {
        powsum_any_run(iy, ib_, ix, n, sy, sb_, c);
        return;
    }
    const tg_real *xs = k->x + ix;
    double r[RUN_BLOCK], total = 0;
    for (int64_t b = 0; b < n; b += RUN_BLOCK) {
        int64_t w = b + RUN_BLOCK < n ? RUN_BLOCK : n - b, i = 0;
        whole_powers(r, sy ? k->acc + iy + b : NULL, xs + b, w, np);
        if (sy) continue;
        double p[4] = {0, 0, 0, 0};
        for (; i + 4 <= w; i += 4)
            for (int j = 0; j < 4; j++) p[j] += r[i + j];
        for (; i < w; i++) p[0] += r[i];
        total += (p[0] + p[1]) + (p[2] + p[3]);
    }
    if (!sy) k->acc[iy] += total;
}

enum { RED_COLS = 2048 }; /* columns taken down the rows at once (their sums: 16 KiB) */

/* acc[i] += Σ_k |x[k·stride + i]|^P over k < rows, for P = 1, 2, 3, 4
   (pw1 to pw4), four rows at a time */
#define POW_ROWS(NAME, F)                                                                   \
    TG_VECTOR_LOOP static void NAME(double *restrict acc, const tg_real *restrict x,         \
                                    int64_t rows, int64_t stride, int64_t w)                 \
    {                                                                                        \
        int64_t k = 0;                                                                       \
        for (; k + 4 <= rows; k += 4) {                                                      \
            const tg_real *x0 = x + k * stride, *x1 = x0 + stride, *x2 = x1 + stride,        \
                          *x3 = x2 + stride;                                                 \
            for (int64_t i = 0; i < w; i++)                                                  \
                acc[i] += (F(x0[i]) + F(x1[i])) + (F(x2[i]) + F(x3[i]));                     \
        }                                                                                    \
        for (; k < rows; k++)                                                                \
            for (int64_t i = 0; i < w; i++) acc[i] += F(x[k * stride + i]);                  \
    }
POW_ROWS(pow1_rows, pw1)
POW_ROWS(pow2_rows, pw2)
POW_ROWS(pow3_rows, pw3)
POW_ROWS(pow4_rows, pw4)

/* Σ |x|^p over leading axes (x viewed as [outer, n, inner], inner > 1) into
   acc, a block of columns down four rows at a time, for p = 1 to 4 and, on
   AVX-512, the orders that are not whole numbers; false (acc untouched) for
   the others, which take the walk. The walk's run of a row at a time read
   and wrote every sum once a row: twice a plain sum's time along axis 0. */
static bool norm_leading(const tg_record *r, double *acc, const red_ctx *k)
{
    const reduce_attr *a = r->attr;
    static void (*const rows_fn[5])(double *restrict, const tg_real *restrict, int64_t, int64_t,
                                    int64_t) = {NULL, pow1_rows, pow2_rows, pow3_rows, pow4_rows};
    int np = a->p == 1 ? 1 : (int)k->p2;
    reduce_view v;
    if (np > 4 || (!np && !k->avx512) || !tg_reduce_view(r->in[0], a->mask, &v) || v.inner < 2)
        return false;
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t c0 = 0; c0 < v.inner; c0 += RED_COLS) {
            int64_t w = c0 + RED_COLS < v.inner ? RED_COLS : v.inner - c0;
            const tg_real *xo = k->x + o * v.n * v.inner + c0;
            double *ao = acc + o * v.inner + c0;
#ifdef LSE_X86
            if (!np) {
                if (k->half && k->half <= 3)
                    half_sum_avx512(xo, w, k->half, ao, v.n, v.inner);
                else
                    pow_sum_avx512(xo, w, a->p, k->half, ao, v.n, v.inner);
                continue;
            }
#endif
            rows_fn[np](ao, xo, v.n, v.inner, w);
        }
    return true;
}

static inline double sgn(double v) { return (double)((v > 0) - (v < 0)); }

static void norm_grad_run(RUN_ARGS)
{
    RUN_UNUSED;
    const red_ctx *k = c;
    double p = k->p;
    int n1 = whole_power(p - 1);
    for (int64_t i = 0; i < n; i++) {
        int64_t o = iy + i * sy;
        double x = (double)k->x[ix + i], y = (double)k->y[o], g = (double)k->g[o], d;
        if (p == 1)
            d = sgn(x) * g;
        else if (p == 2)
            d = y == 0 ? 0 : g * x / y;
        else if (isinf(p))
            d = fabs(x) == y || isnan(x) ? sgn(x) * (g / k->s[o]) : 0;
        else if (p < 1)
            d = (x == 0 ? 0 : sgn(x) * pow(fabs(x), p - 1)) * g * k->s[o]; /* y^(1−p) */
        else
            d = sgn(x) * abs_pow(fabs(x), p - 1, n1) * k->s[o]; /* g/y^(p−1), 0 at y = 0 */
        k->dx[ix + i] += (tg_real)d;
    }
}

static int norm_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                      size_t len)
{
    const reduce_attr *a = r->attr;
    if (!(a->p > 0)) { /* NaN too */
        snprintf(msg, len, "the order p must be > 0 or INFINITY, got %g", a->p);
        return TG_ERR_INVALID;
    }
    if (isinf(a->p)) return tg_reduce_extreme_shape(r, ndim, shape, msg, len, "inf-norm");
    return tg_reduce_shape(r, ndim, shape, msg, len);
}

static int norm_forward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    int64_t m = r->out->size;
    double *acc = tg_reduce_save(r, 2); /* the sums; for p = ∞, the backward's counts */
    if (!acc) return TG_ERR_NOMEM;
    if (isinf(a->p)) {
        tg_reduce_extreme_over(r, r->out->data, false, true);
        return TG_OK;
    }
    memset(acc, 0, (size_t)m * sizeof(double));
    red_ctx k = {.x = r->in[0]->data, .acc = acc, .p = a->p, .p2 = whole_power(a->p)};
#ifdef LSE_X86
    k.avx512 = tg_gemm_kernel_avx512() && a->p < 1024; /* pow16_abs for the other orders */
    if (a->p < 64 && a->p != floor(a->p) && 2 * a->p == floor(2 * a->p))
        k.half = (int)a->p + 1; /* p = n + 1/2 */
#endif
    if (!norm_leading(r, acc, &k))
        tg_reduce_walk(r->in[0], a->mask,
                       a->p == 1 ? abssum_run : a->p == 2 ? sqsum_run : powsum_run, &k);
    for (int64_t o = 0; o < m; o++)
        r->out->data[o] = (tg_real)(a->p == 1   ? acc[o]
                                    : a->p == 2 ? sqrt(acc[o])
                                                : pow(acc[o], 1 / a->p));
    return TG_OK;
}

static void norm_backward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    /* per output, in the room of the forward's sums: the count of ties for
       p = ∞; for other p (not 1, 2) the factor of the rule that depends on
       the output only, computed once rather than once per element */
    double *s = r->saved;
    if (isinf(a->p)) {
        tg_reduce_count_ties(r, s, true);
    } else if (a->p != 1 && a->p != 2) {
        for (int64_t o = 0; o < r->out->size; o++) {
            double y = (double)r->out->data[o], g = (double)r->out->grad[o];
            s[o] = a->p < 1 ? pow(y, 1 - a->p) : y == 0 ? 0 : g / pow(y, a->p - 1);
        }
    }
    red_ctx k = {.x = r->in[0]->data, .y = r->out->data, .g = r->out->grad, .s = s,
                 .dx = r->in[0]->grad, .p = a->p};
    tg_reduce_walk(r->in[0], a->mask, norm_grad_run, &k);
}

static int norm_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const reduce_attr *a = r->attr;
    double p = a->p;
    tg_tensor *x = r->in[0], *zero = tg_scalar(t, 0), *one = tg_scalar(t, 1);
    tg_tensor *gk = tg_reduce_keep(t, r, g), *y = tg_reduce_keep(t, r, r->out);
    /* sgn(x), 0 at NaN: a constant */
    tg_tensor *sg = tg_where(t, tg_eq(t, x, x), tg_sign(t, x), zero);
    tg_tensor *y0 = tg_eq(t, y, zero), *ysafe = tg_where(t, y0, one, y);
    if (p == 1) {
        dx[0] = tg_mul(t, gk, sg);
    } else if (p == 2) {
        dx[0] = tg_where(t, y0, zero, tg_div(t, tg_mul(t, gk, x), ysafe));
    } else if (isinf(p)) {
        tg_tensor *mask = tg_add(t, tg_eq(t, tg_abs(t, x), y), tg_ne(t, x, x));
        tg_tensor *count = tg_reduce_over(t, &tg_sum_op, mask, a->mask, true, 0);
        dx[0] = tg_where(t, mask, tg_mul(t, sg, tg_div(t, gk, count)), zero);
    } else if (p < 1) { /* |x|^(p−1) is inf at 0: taken at 1 there, in the branch not taken */
        tg_tensor *x0 = tg_eq(t, x, zero);
        tg_tensor *ax = tg_where(t, x0, one, tg_abs(t, x));
        tg_tensor *scaled = tg_where(t, x0, zero, tg_mul(t, sg, tg_pow(t, ax, (tg_real)(p - 1))));
        dx[0] = tg_mul(t, scaled, tg_mul(t, gk, tg_pow(t, y, (tg_real)(1 - p))));
    } else {
        tg_tensor *scaled = tg_mul(t, sg, tg_pow(t, tg_abs(t, x), (tg_real)(p - 1)));
        tg_tensor *scale = tg_where(t, y0, zero, tg_div(t, gk, tg_pow(t, ysafe, (tg_real)(p - 1))));
        dx[0] = tg_mul(t, scaled, scale);
    }
    return TG_OK;
}

/* ------------------------------------------------------------ the ops */

REDUCE_OP(var, moments_shape, "variance over axes, with a correction")
REDUCE_OP(std, moments_shape, "standard deviation over axes, with a correction")
REDUCE_OP(logsumexp, tg_reduce_shape, "log of the sum of exponentials over axes (stable)")
REDUCE_OP(norm, norm_shape, "p-norm over axes")

REDUCE_BOTH(logsumexp)

tg_tensor *tg_var(tg_tape *t, tg_tensor *x, int axis, double correction, bool keepdim)
{
    return tg_reduce_one(t, &tg_var_op, x, axis, keepdim, correction);
}
tg_tensor *tg_var_axes(tg_tape *t, tg_tensor *x, int n, const int *axes, double correction,
                       bool keepdim)
{
    return tg_reduce_set(t, &tg_var_op, x, n, axes, keepdim, correction);
}
tg_tensor *tg_std(tg_tape *t, tg_tensor *x, int axis, double correction, bool keepdim)
{
    return tg_reduce_one(t, &tg_std_op, x, axis, keepdim, correction);
}
tg_tensor *tg_std_axes(tg_tape *t, tg_tensor *x, int n, const int *axes, double correction,
                       bool keepdim)
{
    return tg_reduce_set(t, &tg_std_op, x, n, axes, keepdim, correction);
}
tg_tensor *tg_norm(tg_tape *t, tg_tensor *x, double p, int axis, bool keepdim)
{
    return tg_reduce_one(t, &tg_norm_op, x, axis, keepdim, p);
}
tg_tensor *tg_norm_axes(tg_tape *t, tg_tensor *x, double p, int n, const int *axes, bool keepdim)
{
    return tg_reduce_set(t, &tg_norm_op, x, n, axes, keepdim, p);
}

