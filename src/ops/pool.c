/* Pooling: max_pool1d/2d (with their indices), avg_pool1d/2d and
   adaptive_avg_pool2d, each with forward, backward and vjp, and the ops
   their gradients are made of.

   Every pooling op sees its input as planes: [N, C, H, W] (or [C, H, W])
   is N·C planes of H·W values (a 1-D op: H = 1), and each output value
   y[plane, o] comes from a window of its plane.
     max:  y = max over the window's taps (o·s − p + i·d, i < k, inside the
           input); its gradient goes to the tap that won (the first maximum,
           or the NaN), whose flat index in the plane is kept: the indices
           PyTorch's return_indices gives.
             dx = max_pool_scatter(g)   (g added at the winning taps)
           max_pool_scatter and max_pool_gather (G read at the winning taps)
           are adjoint linear maps, each the other's gradient (PyTorch's
           max_pool_double_backward is the gather).
     avg:  y = Σ window / divisor, the window [o·s − p, o·s − p + k) cut at
           the padded input's end (the divisor counts the padding, or not:
           count_include_pad; or divisor_override);
     adaptive: the window [⌊o·in/out⌋, ⌈(o + 1)·in/out⌉) and its length as
           the divisor.
             dx = avg_pool_backward(g)  (g/divisor spread over the window)
           whose gradient is the pooling op itself.
   Output sizes, padding and ceil_mode are PyTorch's (pooling_output_shape):
     out = ⌊(in + 2p − d·(k − 1) − 1 + (ceil_mode ? s − 1 : 0))/s⌋ + 1,
   less one when ceil_mode would start the last window past the input. */
#include "gemm/gemm.h" /* tg_run_halves */
#include "ops/ops_internal.h"

#include <limits.h>

enum { POOL_MAX, POOL_AVG, POOL_ADAPTIVE };

/* Entries [0] are the height, [1] the width (a 1-D op has a height of 1 and
   a 1-tap kernel there). */
typedef struct {
    int nsp;             /* spatial dimensions: 1 or 2 */
    int kind;            /* POOL_MAX, POOL_AVG, POOL_ADAPTIVE */
    int64_t k[2], s[2], p[2], d[2];
    bool include_pad;    /* avg: the divisor counts the padding */
    int64_t divisor;     /* avg: divisor_override, 0 for none */
    int64_t in[2], out[2]; /* spatial sizes of the input and the output */
    int64_t *argmax;     /* max: the winning tap of each output value (flat in its
                            plane, -1 for a window without one); on the tape,
                            written by the forward */
} pool_attr;

#define POOL_MAX_ATTR ((int64_t)INT32_MAX)

/* planes (the product of the leading dimensions) of a pooling input or output */
static int64_t planes(const tg_tensor *x, int nsp)
{
    int64_t n = 1;
    for (int i = 0; i < x->ndim - nsp; i++) n *= x->shape[i];
    return n;
}

/* ------------------------------------------------------------------ windows */

typedef struct {
    int64_t lo, hi; /* the input positions [lo, hi) of the window */
    int64_t plen;   /* avg: its length counting the padding */
} pool_win;

/* The window of output position o along dimension e (avg and adaptive). */
static pool_win window(const pool_attr *a, int e, int64_t o)
{
    pool_win w;
    int64_t in = a->in[e];
    if (a->kind == POOL_ADAPTIVE) {
        int64_t out = a->out[e];
        w.lo = o * in / out;
        w.hi = ((o + 1) * in + out - 1) / out;
        w.plen = w.hi - w.lo;
        return w;
    }
    int64_t start = o * a->s[e] - a->p[e], end = start + a->k[e];
    if (end > in + a->p[e]) end = in + a->p[e];
    w.plen = end - start;
    w.lo = start < 0 ? 0 : start;
    w.hi = end > in ? in : end;
    return w;
}

/* What a window's sum is divided by. */
static double divisor_of(const pool_attr *a, const pool_win *h, const pool_win *w)
{
    if (a->divisor) return (double)a->divisor;
    if (a->kind == POOL_AVG && a->include_pad) return (double)(h->plen * w->plen);
    return (double)((h->hi - h->lo) * (w->hi - w->lo));
}

/* ------------------------------------------------------------------ kernels */

/* Takes tap v at flat index k if it beats the best so far: larger, or NaN
   (NaN wins, as PyTorch's kernel); ties keep the first. */
#define MAX_TAKE(v, k)                                                                   \
    do {                                                                                 \
        tg_real v_ = (v);                                                                \
        if (best < 0 || v_ > m || isnan(v_)) m = v_, best = (k);                         \
    } while (0)

/* One output row of the 2x2 window of stride 2: the same taps in the same
   order as MAX_TAKE (larger or NaN takes; the first tap always), written
   with selects instead of branches so that the loop vectorises: the
   branches mispredicted on every other tap of real data (a tenth of
   mnist_cnn's step). r0 and r1 hold the row pair's taps (2n each), W is
   the input's row length and k0 the pair's flat offset, for the indices. */
__attribute__((always_inline)) static inline void max_2x2_run(const tg_real *restrict r0,
                                                              const tg_real *restrict r1,
                                                              int64_t W, int64_t k0,
                                                              tg_real *restrict y,
                                                              int64_t *restrict arg, int64_t n)
{
    for (int64_t ow = 0; ow < n; ow++) {
        tg_real a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
        tg_real m = a;
        int64_t best = 0;
        bool t = b > m || b != b;
        m = t ? b : m, best = t ? 1 : best;
        t = c > m || c != c;
        m = t ? c : m, best = t ? W : best;
        t = d > m || d != d;
        m = t ? d : m, best = t ? W + 1 : best;
        y[ow] = m;
        arg[ow] = k0 + 2 * ow + best;
    }
}

enum { SHORT_ROW = 16 }; /* outputs of a row that max_row_2x2 takes through a buffer */

/* A row of outputs from the row pair that starts at x. A short row (LeNet's
   are 14 and 4 outputs long) goes through buffers of a fixed SHORT_ROW
   outputs, vectors only: as a loop of OW, most of it was the loop's scalar
   tail, where the selects became branches that mispredicted. The buffers'
   extra taps are zeros, their outputs dropped. */
TG_VECTOR_LOOP static void max_row_2x2(const tg_real *restrict x, int64_t W, int64_t k0,
                                       tg_real *restrict y, int64_t *restrict arg, int64_t OW)
{
    if (OW > SHORT_ROW) {
        max_2x2_run(x, x + W, W, k0, y, arg, OW);
        return;
    }
    tg_real in[4 * SHORT_ROW] = {0}, ybuf[SHORT_ROW];
    int64_t abuf[SHORT_ROW];
    memcpy(in, x, (size_t)(2 * OW) * sizeof *in);
    memcpy(in + 2 * SHORT_ROW, x + W, (size_t)(2 * OW) * sizeof *in);
    max_2x2_run(in, in + 2 * SHORT_ROW, W, k0, ybuf, abuf, SHORT_ROW);
    memcpy(y, ybuf, (size_t)OW * sizeof *y);
    memcpy(arg, abuf, (size_t)OW * sizeof *arg);
}

/* The rows of the 2x2 window with AVX-512, where the GEMM runs its AVX-512
   kernel (as col2im's vector rows: TG_GEMM_KERNEL=avx2 or portable takes
   max_row_2x2 on such a machine too, and the tests run both): a vector of
   outputs at a time, the row pair's taps read by masked loads and split
   into even and odd taps by vpermt2ps, the same selects in the same order
   (so the same winner, NaN and ties alike). max_row_2x2's short rows went
   through buffers filled by memcpy and read as vectors: the reads waited
   on the copies' stores, which the CPU could not forward (a third of its
   samples on one load; 7% of mnist_cnn's step on one thread, 3.5% with
   this kernel; the step 1.019 -> 0.921 and 0.980 -> 0.953 s on one
   thread, 0.770 -> 0.626 s on two: medians of two and one sets of five
   pairs, interleaved with the build before). */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define POOL_X86 1
#ifdef TG_DOUBLE
#define PV __m512d
#define PM __mmask8
#define P_MLOAD(m, p) _mm512_maskz_loadu_pd(m, p)
#define P_PERM2(a, i, b) _mm512_permutex2var_pd(a, i, b)
#define P_TAKES(v, m) \
    (_mm512_cmp_pd_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q))
#define P_SEL(m, k, v) _mm512_mask_mov_pd(m, k, v)
#define P_MSTORE(p, k, v) _mm512_mask_storeu_pd(p, k, v)
#else
#define PV __m512
#define PM __mmask16
#define P_MLOAD(m, p) _mm512_maskz_loadu_ps(m, p)
#define P_PERM2(a, i, b) _mm512_permutex2var_ps(a, i, b)
#define P_TAKES(v, m) \
    (_mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q))
#define P_SEL(m, k, v) _mm512_mask_mov_ps(m, k, v)
#define P_MSTORE(p, k, v) _mm512_mask_storeu_ps(p, k, v)
#endif
/* the first n lanes */
#define P_LANES(n) ((PM)((1u << (n)) - 1))
__attribute__((target("avx512f"))) static void max_row_2x2_avx512(const tg_real *x, int64_t W,
                                                                  int64_t k0, tg_real *y,
                                                                  int64_t *arg, int64_t OW)
{
    enum { V = 64 / sizeof(tg_real) }; /* outputs a vector */
#ifdef TG_DOUBLE
    const __m512i ev = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    const __m512i od = _mm512_add_epi64(ev, _mm512_set1_epi64(1));
    const __m512i lane2 = ev; /* 2·ow for the lanes ow */
#else
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                         28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    const __m512i lane2 = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14); /* of lanes 0-7 */
#endif
    for (int64_t o0 = 0; o0 < OW; o0 += V) {
        const int n = OW - o0 < V ? (int)(OW - o0) : V;
        const PM m0 = P_LANES(n < V / 2 ? 2 * n : V), m1 = P_LANES(n > V / 2 ? 2 * n - V : 0);
        const tg_real *r0 = x + 2 * o0, *r1 = r0 + W;
        PV lo0 = P_MLOAD(m0, r0), hi0 = P_MLOAD(m1, r0 + V);
        PV lo1 = P_MLOAD(m0, r1), hi1 = P_MLOAD(m1, r1 + V);
        PV a = P_PERM2(lo0, ev, hi0), b = P_PERM2(lo0, od, hi0);
        PV c = P_PERM2(lo1, ev, hi1), d = P_PERM2(lo1, od, hi1);
        PV mx = a;
        PM tb = P_TAKES(b, mx);
        mx = P_SEL(mx, tb, b);
        PM tc = P_TAKES(c, mx);
        mx = P_SEL(mx, tc, c);
        PM td = P_TAKES(d, mx);
        mx = P_SEL(mx, td, d);
        P_MSTORE(y + o0, P_LANES(n), mx);
        /* arg = k0 + 2·ow + the winner's offset: 0, 1, W or W + 1 */
        const __m512i base = _mm512_add_epi64(_mm512_set1_epi64(k0 + 2 * o0), lane2);
#ifdef TG_DOUBLE
        __m512i best = _mm512_maskz_mov_epi64(tb, _mm512_set1_epi64(1));
        best = _mm512_mask_mov_epi64(best, tc, _mm512_set1_epi64(W));
        best = _mm512_mask_mov_epi64(best, td, _mm512_set1_epi64(W + 1));
        _mm512_mask_storeu_epi64(arg + o0, P_LANES(n), _mm512_add_epi64(base, best));
#else
        for (int h = 0; h < 2 && 8 * h < n; h++) {
            __mmask8 b8 = (__mmask8)(tb >> 8 * h), c8 = (__mmask8)(tc >> 8 * h);
            __mmask8 d8 = (__mmask8)(td >> 8 * h);
            __m512i best = _mm512_maskz_mov_epi64(b8, _mm512_set1_epi64(1));
            best = _mm512_mask_mov_epi64(best, c8, _mm512_set1_epi64(W));
            best = _mm512_mask_mov_epi64(best, d8, _mm512_set1_epi64(W + 1));
            __m512i at = _mm512_add_epi64(_mm512_add_epi64(base, _mm512_set1_epi64(16 * h)), best);
            int left = n - 8 * h < 8 ? n - 8 * h : 8;
            _mm512_mask_storeu_epi64(arg + o0 + 8 * h, (__mmask8)((1u << left) - 1), at);
        }
#endif
    }
}
#endif

/* max: y[pl, o] = the largest tap (NaN wins; ties: the first), its flat
   index into arg; −inf and −1 for a window without a tap. The common 2x2
   window of stride 2 without padding or dilation goes by rows of
   max_row_2x2, or max_row_2x2_avx512 (the same taps in the same order, so
   the same winner). */
static void max_kernel(const pool_attr *a, int64_t P, const tg_real *x, tg_real *y, int64_t *arg,
                       bool add)
{
    (void)add;
    const int64_t H = a->in[0], W = a->in[1], OH = a->out[0], OW = a->out[1];
    const int64_t k0 = a->k[0], k1 = a->k[1], s0 = a->s[0], s1 = a->s[1];
    const int64_t p0 = a->p[0], p1 = a->p[1], d0 = a->d[0], d1 = a->d[1];
    const bool two_by_two = k0 == 2 && k1 == 2 && s0 == 2 && s1 == 2 && p0 == 0 && p1 == 0 &&
                            d0 == 1 && d1 == 1 && 2 * OH <= H && 2 * OW <= W;
#ifdef POOL_X86
    const bool avx512 = two_by_two && tg_gemm_kernel_avx512();
#endif
    for (int64_t pl = 0; pl < P; pl++) {
        const tg_real *xp = x + pl * H * W;
        tg_real *yp = y + pl * OH * OW;
        int64_t *ap = arg + pl * OH * OW;
#ifdef POOL_X86
        if (avx512) {
            for (int64_t oh = 0; oh < OH; oh++)
                max_row_2x2_avx512(xp + 2 * oh * W, W, 2 * oh * W, yp + oh * OW, ap + oh * OW,
                                   OW);
            continue;
        }
#endif
        if (two_by_two) {
            for (int64_t oh = 0; oh < OH; oh++)
                max_row_2x2(xp + 2 * oh * W, W, 2 * oh * W, yp + oh * OW, ap + oh * OW, OW);
            continue;
        }
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t best = -1;
                tg_real m = -INFINITY;
                for (int64_t i = 0; i < k0; i++) {
                    int64_t ih = oh * s0 - p0 + i * d0;
                    if (ih < 0 || ih >= H) continue;
                    for (int64_t j = 0; j < k1; j++) {
                        int64_t iw = ow * s1 - p1 + j * d1;
                        if (iw >= 0 && iw < W) MAX_TAKE(xp[ih * W + iw], ih * W + iw);
                    }
                }
                yp[oh * OW + ow] = m;
                ap[oh * OW + ow] = best;
            }
    }
}
#undef MAX_TAKE

/* dx[pl, arg[pl, o]] += g[pl, o]: x-shaped dx, out-shaped g */
static void scatter_kernel(const pool_attr *a, int64_t P, const tg_real *g, tg_real *dx,
                           int64_t *arg, bool add)
{
    (void)add;
    const int64_t HW = a->in[0] * a->in[1], OHW = a->out[0] * a->out[1];
    for (int64_t pl = 0; pl < P; pl++)
        for (int64_t o = 0; o < OHW; o++) {
            int64_t k = arg[pl * OHW + o];
            if (k >= 0) dx[pl * HW + k] += g[pl * OHW + o];
        }
}

/* y[pl, o] (+)= G[pl, arg[pl, o]] (0 for a window without a tap) */
static void gather_kernel(const pool_attr *a, int64_t P, const tg_real *G, tg_real *y,
                          int64_t *arg, bool add)
{
    const int64_t HW = a->in[0] * a->in[1], OHW = a->out[0] * a->out[1];
    for (int64_t pl = 0; pl < P; pl++)
        for (int64_t o = 0; o < OHW; o++) {
            int64_t k = arg[pl * OHW + o];
            tg_real v = k >= 0 ? G[pl * HW + k] : 0;
            if (add)
                y[pl * OHW + o] += v;
            else
                y[pl * OHW + o] = v;
        }
}

/* avg and adaptive: y[pl, o] (+)= Σ window / divisor (sums in double) */
static void avg_kernel(const pool_attr *a, int64_t P, const tg_real *x, tg_real *y, int64_t *arg,
                       bool add)
{
    (void)arg;
    const int64_t W = a->in[1], HW = a->in[0] * a->in[1], OH = a->out[0], OW = a->out[1];
    for (int64_t pl = 0; pl < P; pl++)
        for (int64_t oh = 0; oh < OH; oh++) {
            pool_win wh = window(a, 0, oh);
            for (int64_t ow = 0; ow < OW; ow++) {
                pool_win ww = window(a, 1, ow);
                double s = 0;
                for (int64_t ih = wh.lo; ih < wh.hi; ih++)
                    for (int64_t iw = ww.lo; iw < ww.hi; iw++) s += x[pl * HW + ih * W + iw];
                tg_real v = (tg_real)(s / divisor_of(a, &wh, &ww));
                tg_real *yo = y + (pl * OH + oh) * OW + ow;
                *yo = add ? *yo + v : v;
            }
        }
}

/* avg's adjoint: dx[window of o] += g[pl, o] / divisor */
static void avg_spread_kernel(const pool_attr *a, int64_t P, const tg_real *g, tg_real *dx,
                              int64_t *arg, bool add)
{
    (void)arg, (void)add;
    const int64_t W = a->in[1], HW = a->in[0] * a->in[1], OH = a->out[0], OW = a->out[1];
    for (int64_t pl = 0; pl < P; pl++)
        for (int64_t oh = 0; oh < OH; oh++) {
            pool_win wh = window(a, 0, oh);
            for (int64_t ow = 0; ow < OW; ow++) {
                pool_win ww = window(a, 1, ow);
                tg_real v = (tg_real)((double)g[(pl * OH + oh) * OW + ow] /
                                      divisor_of(a, &wh, &ww));
                for (int64_t ih = wh.lo; ih < wh.hi; ih++)
                    for (int64_t iw = ww.lo; iw < ww.hi; iw++) dx[pl * HW + ih * W + iw] += v;
            }
        }
}

/* ------------------------------------------------------------ two threads */

/* A kernel over P planes of `in` into `out` (arg: max pooling's winners,
   one per output position of a plane, or NULL). */
typedef void (*plane_fn)(const pool_attr *a, int64_t P, const tg_real *in, tg_real *out,
                         int64_t *arg, bool add);

typedef struct {
    plane_fn fn;
    const pool_attr *a;
    int64_t in_len, out_len, arg_len; /* each plane's values */
    const tg_real *in;
    tg_real *out;
    int64_t *arg;
    bool add;
} plane_job;

static void plane_range(void *ctx, int64_t p0, int64_t p1)
{
    const plane_job *j = ctx;
    j->fn(j->a, p1 - p0, j->in + p0 * j->in_len, j->out + p0 * j->out_len,
          j->arg ? j->arg + p0 * j->arg_len : NULL, j->add);
}

/* Planes of this many values and more (in and out together) go in two
   halves, one a thread, when the library has two (tg_run_halves): each
   plane is computed on its own, so the numbers are the same on one thread
   or two. */
enum { POOL_SPLIT = 1 << 15 };

/* fn over the P planes; `spread`: in is output-shaped and out input-shaped
   (the gradients), else the other way round */
static void run_planes(plane_fn fn, const pool_attr *a, int64_t P, const tg_real *in,
                       tg_real *out, bool add, bool spread)
{
    const int64_t HW = a->in[0] * a->in[1], OHW = a->out[0] * a->out[1];
    /* no output position: nothing to compute or add (the kernels' loops over
       the output rows would still run: 2^31 of them for an adaptive pool
       to [2^31 - 1, 0], a hang found by fuzzing) */
    if (OHW == 0) return;
    plane_job j = {fn, a, spread ? OHW : HW, spread ? HW : OHW, OHW, in, out, a->argmax, add};
    tg_run_halves(P, 1, P * (HW + OHW) >= POOL_SPLIT, plane_range, &j);
}

/* ------------------------------------------------------------------ shapes */

/* x [lead..., sp...] whose spatial sizes are sp (a->in or a->out); the
   output has the same leading dimensions and the spatial sizes `to`. */
static int planes_shape(const tg_record *r, const int64_t sp[2], const int64_t to[2], int *ndim,
                        int64_t shape[TG_MAX_DIMS], char *msg, size_t len)
{
    const pool_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    int nsp = a->nsp;
    bool ok = x->ndim == nsp + 1 || x->ndim == nsp + 2;
    if (ok && nsp == 2) ok = x->shape[x->ndim - 2] == sp[0];
    if (ok) ok = x->shape[x->ndim - 1] == sp[1];
    if (!ok) {
        char sx[96];
        snprintf(msg, len, "input %s does not have the %s the op was made for (%lld x %lld)",
                 tg_shape_str(x, sx, sizeof sx), "spatial size", (long long)sp[0],
                 (long long)sp[1]);
        return TG_ERR_SHAPE;
    }
    *ndim = x->ndim;
    for (int i = 0; i < x->ndim - nsp; i++) shape[i] = x->shape[i];
    if (nsp == 2) shape[x->ndim - 2] = to[0];
    shape[x->ndim - 1] = to[1];
    return TG_OK;
}

/* the pooling ops and the gather: input sized `in`, output `out` */
static int pool_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                      size_t len)
{
    const pool_attr *a = r->attr;
    return planes_shape(r, a->in, a->out, ndim, shape, msg, len);
}

/* the scatters (max_pool_scatter, avg_pool_backward): output-sized input */
static int unpool_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    const pool_attr *a = r->attr;
    return planes_shape(r, a->out, a->in, ndim, shape, msg, len);
}

/* ---------------------------------------------------------------- the ops */

static const tg_op op_max_pool1d, op_max_pool2d, op_max_pool_scatter, op_max_pool_gather,
    op_avg_pool1d, op_avg_pool2d, op_adaptive_avg_pool2d, op_avg_pool_backward;

static tg_tensor *apply(tg_tape *t, const tg_op *op, tg_tensor *x, const pool_attr *a)
{
    return tg_apply(t, op, &x, 1, a);
}

/* POOL_RULES(KIND, FORWARD, BACKWARD, VJP_OP): an op's three rules. In
   FORWARD x is the input and y the output, in BACKWARD g is the output's
   gradient and dx the input's; both see the attribute a and the number of
   planes P. The vjp applies one op to g. */
#define POOL_RULES(KIND, FORWARD, BACKWARD, VJP_OP)                                      \
    static int KIND##_forward(tg_record *r)                                              \
    {                                                                                    \
        const pool_attr *a = r->attr;                                                    \
        const int64_t P = planes(r->in[0], a->nsp);                                      \
        const tg_real *x = r->in[0]->data;                                               \
        tg_real *y = r->out->data;                                                       \
        FORWARD;                                                                         \
        return TG_OK;                                                                    \
    }                                                                                    \
    static void KIND##_backward(tg_record *r)                                            \
    {                                                                                    \
        const pool_attr *a = r->attr;                                                    \
        const int64_t P = planes(r->in[0], a->nsp);                                      \
        const tg_real *g = r->out->grad;                                                 \
        tg_real *dx = r->in[0]->grad;                                                    \
        BACKWARD;                                                                        \
    }                                                                                    \
    static int KIND##_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx) \
    {                                                                                    \
        const pool_attr *a = r->attr;                                                    \
        (void)a;                                                                         \
        dx[0] = apply(t, VJP_OP, g, r->attr);                                            \
        return TG_OK;                                                                    \
    }

/* avg_pool_backward's adjoint: the pooling op of its kind */
static const tg_op *avg_op_of(const pool_attr *a)
{
    return a->kind == POOL_ADAPTIVE ? &op_adaptive_avg_pool2d
           : a->nsp == 1            ? &op_avg_pool1d
                                    : &op_avg_pool2d;
}

/* the output (x-shaped) of the scatters starts at zero */
static void zero(tg_record *r) { memset(r->out->data, 0, (size_t)r->out->size * sizeof(tg_real)); }

/* max: y = max over the window's taps       dx = g added at the winners
   (max_pool_scatter) */
POOL_RULES(max_pool, run_planes(max_kernel, a, P, x, y, false, false),
           run_planes(scatter_kernel, a, P, g, dx, false, true), &op_max_pool_scatter)
/* max_pool_scatter: y = its input added at the winning taps (x-shaped);
   linear, its gradient is the gather: dx = g read at the winning taps */
POOL_RULES(max_pool_scatter, (zero(r), run_planes(scatter_kernel, a, P, x, y, false, true)),
           run_planes(gather_kernel, a, P, g, dx, true, false), &op_max_pool_gather)
/* max_pool_gather: y = its input read at the winning taps (out-shaped);
   linear, its gradient is the scatter */
POOL_RULES(max_pool_gather, run_planes(gather_kernel, a, P, x, y, false, false),
           run_planes(scatter_kernel, a, P, g, dx, false, true), &op_max_pool_scatter)
/* avg, adaptive: y = Σ window / divisor     dx = g/divisor spread over the
   window (avg_pool_backward) */
POOL_RULES(avg_pool, run_planes(avg_kernel, a, P, x, y, false, false),
           run_planes(avg_spread_kernel, a, P, g, dx, false, true), &op_avg_pool_backward)
/* avg_pool_backward: y = its input/divisor spread over each window
   (x-shaped); linear, its gradient is the pooling: dx = Σ window of g / divisor */
POOL_RULES(avg_pool_backward, (zero(r), run_planes(avg_spread_kernel, a, P, x, y, false, true)),
           run_planes(avg_kernel, a, P, g, dx, true, false), avg_op_of(a))

#define POOL_OP(VAR, NAME, KIND, SHAPE, DOC)                                             \
    static const tg_op VAR = {.name = NAME,                                              \
                              .n_inputs = 1,                                             \
                              .attr_size = sizeof(pool_attr),                            \
                              .shape = SHAPE,                                            \
                              .forward = KIND##_forward,                                 \
                              .backward = KIND##_backward,                               \
                              .vjp = KIND##_vjp,                                         \
                              .doc = DOC};

POOL_OP(op_max_pool1d, "max_pool1d", max_pool, pool_shape, "max over windows of [N,C,L]")
POOL_OP(op_max_pool2d, "max_pool2d", max_pool, pool_shape, "max over windows of [N,C,H,W]")
POOL_OP(op_max_pool_scatter, "max_pool_scatter", max_pool_scatter, unpool_shape,
        "g added at max pooling's winning positions (its gradient)")
POOL_OP(op_max_pool_gather, "max_pool_gather", max_pool_gather, pool_shape,
        "values read at max pooling's winning positions (the scatter's adjoint)")
POOL_OP(op_avg_pool1d, "avg_pool1d", avg_pool, pool_shape, "mean over windows of [N,C,L]")
POOL_OP(op_avg_pool2d, "avg_pool2d", avg_pool, pool_shape, "mean over windows of [N,C,H,W]")
POOL_OP(op_adaptive_avg_pool2d, "adaptive_avg_pool2d", avg_pool, pool_shape,
        "mean over the windows that split [H,W] into [out_h,out_w]")
POOL_OP(op_avg_pool_backward, "avg_pool_backward", avg_pool_backward, unpool_shape,
        "g/divisor spread over average pooling's windows (its gradient)")

/* ------------------------------------------------------------ public calls */

tg_pool_opts tg_pool_defaults(int64_t kernel_h, int64_t kernel_w)
{
    return (tg_pool_opts){.kernel = {kernel_h, kernel_w}, .count_include_pad = true};
}

/* PyTorch's pooling_output_shape; -1 when the window does not fit. */
static int64_t pool_len(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode)
{
    int64_t span, v;
    if (__builtin_mul_overflow(d, k - 1, &span) || __builtin_add_overflow(in, 2 * p, &v) ||
        __builtin_sub_overflow(v, span + 1, &v))
        return -1;
    if (v < 0) return -1;
    int64_t out = (v + (ceil_mode ? s - 1 : 0)) / s + 1;
    /* the last window must start inside the input or its left padding */
    if (ceil_mode && (out - 1) * s >= in + p) out--;
    return out;
}

/* The attribute of a pooling call: checks the input's rank and the
   options, computes the output size. fn names the op in messages. */
static bool pool_attr_of(tg_tape *t, const char *fn, int nsp, int kind, const tg_pool_opts *o,
                         const tg_tensor *x, pool_attr *a)
{
    char sx[96];
    memset(a, 0, sizeof *a);
    a->nsp = nsp;
    a->kind = kind;
    if (x->ndim != nsp + 1 && x->ndim != nsp + 2) {
        tg_tape_set_error(t, "tg_%s: needs input %s, got %s", fn,
                          nsp == 1 ? "[N, C, L] or [C, L]" : "[N, C, H, W] or [C, H, W]",
                          tg_shape_str(x, sx, sizeof sx));
        return false;
    }
    for (int e = 0; e < 2; e++) {
        a->in[e] = e == 0 && nsp == 1 ? 1 : x->shape[x->ndim - 2 + e];
        a->k[e] = a->s[e] = a->d[e] = a->out[e] = 1;
    }
    if (a->in[0] < 1 || a->in[1] < 1) {
        tg_tape_set_error(t, "tg_%s: the input %s has an empty spatial dimension", fn,
                          tg_shape_str(x, sx, sizeof sx));
        return false;
    }
    if (kind == POOL_ADAPTIVE) return true; /* the caller sets the output size */
    if (!o) {
        tg_tape_set_error(t, "tg_%s: the options are NULL (the kernel size is needed: "
                             "tg_pool_defaults)", fn);
        return false;
    }
    for (int e = nsp == 1 ? 1 : 0; e < 2; e++) {
        int i = nsp == 1 ? 0 : e; /* the entry of opts read */
        const char *what[4] = {"kernel", "stride", "padding", "dilation"};
        const int64_t v[4] = {o->kernel[i], o->stride[i], o->padding[i], o->dilation[i]};
        for (int f = 0; f < 4; f++)
            if (v[f] < (f == 0 ? 1 : 0) || v[f] > POOL_MAX_ATTR) {
                tg_tape_set_error(t, "tg_%s: %s %lld is %s", fn, what[f], (long long)v[f],
                                  v[f] > POOL_MAX_ATTR ? "too large"
                                  : f == 0             ? "invalid (at least 1)"
                                                       : "negative");
                return false;
            }
        a->k[e] = o->kernel[i];
        a->s[e] = o->stride[i] ? o->stride[i] : o->kernel[i];
        a->p[e] = o->padding[i];
        a->d[e] = o->dilation[i] ? o->dilation[i] : 1;
        if (kind == POOL_AVG && a->d[e] != 1) {
            tg_tape_set_error(t, "tg_%s: dilation is for max pooling (got %lld)", fn,
                              (long long)a->d[e]);
            return false;
        }
        if (a->p[e] > a->k[e] / 2) {
            tg_tape_set_error(t, "tg_%s: padding %lld is more than half the kernel (%lld), "
                                 "as PyTorch refuses",
                              fn, (long long)a->p[e], (long long)a->k[e]);
            return false;
        }
        a->out[e] = pool_len(a->in[e], a->k[e], a->s[e], a->p[e], a->d[e], o->ceil_mode);
        if (a->out[e] < 1) {
            tg_tape_set_error(t, "tg_%s: the input %s is smaller than the kernel (%lld, dilation "
                                 "%lld, padding %lld): no output",
                              fn, tg_shape_str(x, sx, sizeof sx), (long long)a->k[e],
                              (long long)a->d[e], (long long)a->p[e]);
            return false;
        }
    }
    if (o->divisor_override < 0 || (kind == POOL_MAX && o->divisor_override != 0)) {
        tg_tape_set_error(t, "tg_%s: divisor_override %lld is %s", fn,
                          (long long)o->divisor_override,
                          kind == POOL_MAX ? "for average pooling" : "negative");
        return false;
    }
    a->include_pad = o->count_include_pad;
    a->divisor = o->divisor_override;
    return true;
}

/* x's shape with its spatial sizes replaced by out: the output's. */
static bool out_shape(tg_tape *t, const char *fn, const tg_tensor *x, const pool_attr *a,
                      int64_t shape[TG_MAX_DIMS], int64_t *numel)
{
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    if (a->nsp == 2) shape[x->ndim - 2] = a->out[0];
    shape[x->ndim - 1] = a->out[1];
    if (tg_shape_numel(x->ndim, shape, numel)) return true;
    tg_tape_set_error(t, "tg_%s: the output would hold more elements than memory can address",
                      fn);
    return false;
}

static tg_tensor *max_pool(tg_tape *t, const tg_op *op, int nsp, tg_tensor *x,
                           const tg_pool_opts *o, tg_index **indices)
{
    if (indices) *indices = NULL;
    if (!t) return tg_no_tape(op->name);
    if (!x) return tg_null_input(t, op->name);
    pool_attr a;
    int64_t shape[TG_MAX_DIMS], n;
    if (!pool_attr_of(t, op->name, nsp, POOL_MAX, o, x, &a) ||
        !out_shape(t, op->name, x, &a, shape, &n))
        return NULL;
    a.argmax = tg_tape_alloc_for_op(t, op, (size_t)(n ? n : 1) * sizeof(int64_t));
    if (!a.argmax) return NULL;
    tg_tensor *y = apply(t, op, x, &a);
    if (y && indices) {
        *indices = tg_index_wrap(t, y->ndim, y->shape, a.argmax);
        if (!*indices) return NULL;
    }
    return y;
}

tg_tensor *tg_max_pool1d(tg_tape *t, tg_tensor *x, const tg_pool_opts *opts)
{
    return max_pool(t, &op_max_pool1d, 1, x, opts, NULL);
}

tg_tensor *tg_max_pool2d(tg_tape *t, tg_tensor *x, const tg_pool_opts *opts)
{
    return max_pool(t, &op_max_pool2d, 2, x, opts, NULL);
}

tg_tensor *tg_max_pool1d_with_indices(tg_tape *t, tg_tensor *x, const tg_pool_opts *opts,
                                      tg_index **indices)
{
    return max_pool(t, &op_max_pool1d, 1, x, opts, indices);
}

tg_tensor *tg_max_pool2d_with_indices(tg_tape *t, tg_tensor *x, const tg_pool_opts *opts,
                                      tg_index **indices)
{
    return max_pool(t, &op_max_pool2d, 2, x, opts, indices);
}

static tg_tensor *avg_pool(tg_tape *t, const tg_op *op, int nsp, tg_tensor *x,
                           const tg_pool_opts *o)
{
    if (!t) return tg_no_tape(op->name);
    if (!x) return tg_null_input(t, op->name);
    pool_attr a;
    if (!pool_attr_of(t, op->name, nsp, POOL_AVG, o, x, &a)) return NULL;
    return apply(t, op, x, &a);
}

tg_tensor *tg_avg_pool1d(tg_tape *t, tg_tensor *x, const tg_pool_opts *opts)
{
    return avg_pool(t, &op_avg_pool1d, 1, x, opts);
}

tg_tensor *tg_avg_pool2d(tg_tape *t, tg_tensor *x, const tg_pool_opts *opts)
{
    return avg_pool(t, &op_avg_pool2d, 2, x, opts);
}

tg_tensor *tg_adaptive_avg_pool2d(tg_tape *t, tg_tensor *x, int64_t out_h, int64_t out_w)
{
    if (!t) return tg_no_tape(__func__);
    if (!x) return tg_null_input(t, "adaptive_avg_pool2d");
    pool_attr a;
    if (!pool_attr_of(t, "adaptive_avg_pool2d", 2, POOL_ADAPTIVE, NULL, x, &a)) return NULL;
    const int64_t out[2] = {out_h, out_w};
    for (int e = 0; e < 2; e++) {
        /* o·in in the windows must not overflow */
        if (out[e] < 0 || out[e] > POOL_MAX_ATTR || (out[e] && a.in[e] > INT64_MAX / out[e] - 1)) {
            tg_tape_set_error(t, "tg_adaptive_avg_pool2d: output size %lld x %lld is %s",
                              (long long)out_h, (long long)out_w,
                              out[e] < 0 ? "negative" : "too large");
            return NULL;
        }
        a.out[e] = out[e];
    }
    return apply(t, &op_adaptive_avg_pool2d, x, &a);
}

static const tg_op *const pool_ops[] = {&op_max_pool1d,       &op_max_pool2d,
                                        &op_max_pool_scatter, &op_max_pool_gather,
                                        &op_avg_pool1d,       &op_avg_pool2d,
                                        &op_adaptive_avg_pool2d, &op_avg_pool_backward};
const tg_op_table tg_pool_ops = {pool_ops, sizeof pool_ops / sizeof *pool_ops};
