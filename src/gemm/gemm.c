/* The one GEMM: C = alpha·op(A)·op(B) + beta·C, row-major.

   Built-in path, in the spirit of BLIS/Goto:

     for each [KC, NC] block of op(B):     pack it into panels NR wide (a per-thread buffer)
       for each MR rows of op(A):          read op(A) in place (broadcasts)
         for each NR panel:                the register tile MR x NR, C += A·Bpanel

   The register tile is a micro-kernel written once (src/gemm/gemm_kernel.h) and
   compiled for AVX-512, AVX2+FMA and portable C; the CPU picks one at run
   time (__builtin_cpu_supports), so one binary runs on any x86-64.

   Only the "vector side" op(B) is packed; the "broadcast side" op(A) is read
   where it lies, one scalar per row and k, which costs the same whatever its
   layout. When op(B) would need a transposing pack and op(A) would not (or
   is smaller), the product is computed as Cᵀ = op(B)ᵀ·op(A)ᵀ: for
   y = x·Wᵀ that packs the small x [64, 784] instead of W [500, 784].

   A narrow C = A·Bᵀ (under 16 columns, such as the demo's last layer) goes
   to a second kernel instead, in the same file: each element a dot product
   of two rows that both run along k, VL partial sums reduced at the end,
   nothing packed (see use_dots).

   Large products are split between the library's threads (tg_set_num_threads),
   one part per thread, along whichever of M (row blocks) and N (panels) has
   more units; tg_gemm_ksplit splits a product into two halves of K instead.

   The built-in path is the default; when the build found OpenBLAS,
   tg_gemm_set_backend() or the environment variable TG_GEMM (builtin|cblas)
   choose cblas_sgemm/dgemm at run time, so one build tests and times both. TG_GEMM_KERNEL
   (avx512|avx2|portable) forces a built-in kernel, for tests. */
#define _POSIX_C_SOURCE 200809L
#include "gemm/gemm.h"


#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#ifdef TG_HAVE_CBLAS
#include <cblas.h>
#endif

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define TG_X86 1
#include <immintrin.h>
#endif

static void gemm_builtin(int threads, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                         tg_real alpha, const tg_real *A, int64_t lda, const tg_real *B,
                         int64_t ldb, tg_real beta, tg_real *C, int64_t ldc);

/* ------------------------------------------------------------ backends */

enum { BACKEND_UNSET, BACKEND_BUILTIN, BACKEND_CBLAS };
/* Read and set from any thread (atomics, relaxed: the value is all that
   matters); chosen from TG_GEMM on first use. */
static atomic_int backend = BACKEND_UNSET;

/* The built-in kernel is the default, cblas a choice: on the shapes of
   small networks the built-in one is as fast as OpenBLAS on one thread and
   faster than OpenBLAS left to its own threads, which makes the demo's
   epoch 2-7 times slower on this machine's two cores (docs/speed.md). */
static int default_backend(void)
{
    int dflt = BACKEND_BUILTIN;
    const char *env = getenv("TG_GEMM");
    if (!env || !*env) return dflt;
    if (strcmp(env, "builtin") == 0) return BACKEND_BUILTIN;
#ifdef TG_HAVE_CBLAS
    if (strcmp(env, "cblas") == 0) return BACKEND_CBLAS;
#endif
    tg_warn_env("TG_GEMM", env, "builtin",
#ifdef TG_HAVE_CBLAS
                "builtin or cblas"
#else
                "builtin (this build has no cblas)"
#endif
    );
    return dflt;
}

/* The backend in use, chosen on first use. */
static int current_backend(void)
{
    int b = atomic_load_explicit(&backend, memory_order_relaxed);
    if (b != BACKEND_UNSET) return b;
    int want = default_backend();
    int unset = BACKEND_UNSET;
    /* a tg_gemm_set_backend that came first wins */
    if (!atomic_compare_exchange_strong(&backend, &unset, want)) return unset;
    return want;
}

const char *tg_gemm_backend(void)
{
    return current_backend() == BACKEND_CBLAS ? "cblas" : "builtin";
}

bool tg_gemm_is_builtin(void) { return current_backend() != BACKEND_CBLAS; }

int tg_gemm_set_backend(const char *name)
{
    if (name && strcmp(name, "builtin") == 0) {
        atomic_store_explicit(&backend, BACKEND_BUILTIN, memory_order_relaxed);
        return TG_OK;
    }
#ifdef TG_HAVE_CBLAS
    if (name && strcmp(name, "cblas") == 0) {
        atomic_store_explicit(&backend, BACKEND_CBLAS, memory_order_relaxed);
        return TG_OK;
    }
    return tg_set_error(TG_ERR_INVALID, "tg_gemm_set_backend: unknown backend '%s' "
                        "(builtin or cblas)", name ? name : "(null)");
#else
    return tg_set_error(TG_ERR_INVALID, "tg_gemm_set_backend: backend '%s' is not available "
                        "(this build has only 'builtin')", name ? name : "(null)");
#endif
}

static struct {
    bool on;
    long calls;
    double seconds;
} profile;

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void tg_gemm_profile(bool on)
{
    if (on) profile.calls = 0, profile.seconds = 0;
    profile.on = on;
}

double tg_gemm_profile_seconds(void) { return profile.seconds; }
long tg_gemm_profile_calls(void) { return profile.calls; }

static void gemm_dispatch(int threads, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                          tg_real alpha, const tg_real *A, int64_t lda, const tg_real *B,
                          int64_t ldb, tg_real beta, tg_real *C, int64_t ldc);

void tg_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, tg_real alpha, const tg_real *A,
             int64_t lda, const tg_real *B, int64_t ldb, tg_real beta, tg_real *C, int64_t ldc)
{
    if (!profile.on) {
        gemm_dispatch(tg_threads_count(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    double t0 = seconds_now();
    gemm_dispatch(tg_threads_count(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    profile.seconds += seconds_now() - t0;
    profile.calls++;
}

static void gemm_dispatch(int threads, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                          tg_real alpha, const tg_real *A, int64_t lda, const tg_real *B,
                          int64_t ldb, tg_real beta, tg_real *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
#ifdef TG_HAVE_CBLAS
    if (current_backend() == BACKEND_CBLAS && K > 0) {
#ifdef TG_DOUBLE
        cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
#else
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
#endif
        return;
    }
#endif
    gemm_builtin(threads, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* ------------------------------------------------------------ micro-kernels */

typedef void (*ukernel_fn)(int64_t kc, const tg_real *a, int64_t a_rs, int64_t a_cs, int mr,
                           const tg_real *bp, int64_t ldbp, int nr, tg_real *c, int64_t c_rs,
                           int64_t c_cs, tg_real alpha, tg_real beta);

/* The tile with row k of the panel at bp + boff[k] */
typedef void (*ukernel_rows_fn)(int64_t kc, const tg_real *a, int64_t a_rs, int64_t a_cs, int mr,
                                const tg_real *bp, const int64_t *boff, int nr, tg_real *c,
                                int64_t c_rs, int64_t c_cs, tg_real alpha, tg_real beta);

/* C(i,j) = alpha·Σ_k a[i·lda + k]·b[j·ldb + k] + beta·C(i,j) for i < M, j < N,
   C(i,j) = c[i·c_rs + j·c_cs]: the dot kernel (src/gemm/gemm_kernel.h). */
typedef void (*dot_fn)(int64_t M, int64_t N, int64_t K, const tg_real *a, int64_t lda,
                       const tg_real *b, int64_t ldb, tg_real *c, int64_t c_rs, int64_t c_cs,
                       tg_real alpha, tg_real beta);
/* dst[k·ldd + j] = src[j·lds + k] for j < nj, k < nk: a block transpose. */
typedef void (*transpose_fn)(tg_real *dst, int64_t ldd, const tg_real *src, int64_t lds,
                             int64_t nj, int64_t nk);

/* The portable one: slices of 16 k, so the writes stay in a few cache lines. */
static void transpose_portable(tg_real *dst, int64_t ldd, const tg_real *src, int64_t lds,
                               int64_t nj, int64_t nk)
{
    for (int64_t k0 = 0; k0 < nk; k0 += 16) {
        int64_t kn = nk - k0 < 16 ? nk - k0 : 16;
        for (int64_t j = 0; j < nj; j++) {
            const tg_real *s = src + j * lds + k0;
            tg_real *d = dst + k0 * ldd + j;
            for (int64_t k = 0; k < kn; k++) d[k * ldd] = s[k];
        }
    }
}

typedef struct {
    const char *name;
    int mr, nr, vl; /* register tile MR x NR, NR = vectors x vl */
    ukernel_fn run;
    transpose_fn transpose; /* the transposing pack */
    dot_fn dot;             /* narrow C = A·Bᵀ */
    ukernel_rows_fn run_rows; /* the tile over B given by its rows (tg_gemm_rows) */
} gemm_kernel;

/* Portable: GCC's generic vectors (SSE2 on any x86-64, NEON on arm64, plain
   scalars elsewhere), a·b + c written out. */
typedef tg_real pvec __attribute__((vector_size(16)));
#define KN(x) gemm_portable_##x
#define KTARGET
#define VEC pvec
#define VL ((int)(16 / sizeof(tg_real)))
#define MR 4
#define NVMAX 4
#define V_ZERO() ((pvec){0})
#define V_LOAD(p) pv_load(p)
#define V_BCAST(x) (((pvec){0}) + (x))
#define V_FMA(a, b, c) ((a) * (b) + (c))
#define V_MUL(a, b) ((a) * (b))
#define V_ADD(a, b) ((a) + (b))
#define V_STORE(p, v) memcpy((p), &(v), sizeof(pvec))
#define V_LOADN(p, n) pv_loadn(p, n)
#define V_STOREN(p, v, n) pv_storen(p, v, n)
static inline pvec pv_load(const tg_real *p)
{
    pvec v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline pvec pv_loadn(const tg_real *p, int n)
{
    pvec v = {0};
    for (int l = 0; l < (int)(16 / sizeof(tg_real)); l++)
        if (l < n) v[l] = p[l];
    return v;
}
static inline void pv_storen(tg_real *p, pvec v, int n)
{
    for (int l = 0; l < (int)(16 / sizeof(tg_real)); l++)
        if (l < n) p[l] = v[l];
}
static inline tg_real pv_hsum(pvec v)
{
    tg_real s = v[0];
    for (int l = 1; l < (int)(16 / sizeof(tg_real)); l++) s += v[l];
    return s;
}
#define V_HSUM(v) pv_hsum(v)
#define DR 3
#define DC 3
#include "gemm/gemm_kernel.h"
static const gemm_kernel kernel_portable = {"portable", MR, NVMAX * VL, VL, gemm_portable_ukernel,
                                            transpose_portable, gemm_portable_dot,
                                            gemm_portable_ukernel_rows};
#undef KN
#undef KTARGET
#undef VEC
#undef VL
#undef MR
#undef NVMAX
#undef V_ZERO
#undef V_LOAD
#undef V_BCAST
#undef V_FMA
#undef V_MUL
#undef V_ADD
#undef V_STORE
#undef V_LOADN
#undef V_STOREN
#undef V_HSUM
#undef DR
#undef DC

#ifdef TG_X86
/* AVX2 + FMA: 16 ymm registers, a 6 x 2-vector tile (12 accumulators). */
#define KN(x) gemm_avx2_##x
#define KTARGET __attribute__((target("avx2,fma")))
#define MR 6
#define NVMAX 2
#ifdef TG_DOUBLE
#define VEC __m256d
#define VL 4
#define V_ZERO() _mm256_setzero_pd()
#define V_LOAD(p) _mm256_loadu_pd(p)
#define V_BCAST(x) _mm256_set1_pd(x)
#define V_FMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define V_MUL(a, b) _mm256_mul_pd(a, b)
#define V_ADD(a, b) _mm256_add_pd(a, b)
#define V_STORE(p, v) _mm256_storeu_pd(p, v)
#define AVX2_MASK(n) _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3))
#define V_LOADN(p, n) _mm256_maskload_pd(p, AVX2_MASK(n))
#define V_STOREN(p, v, n) _mm256_maskstore_pd(p, AVX2_MASK(n), v)
static inline KTARGET double avx2_hsum(__m256d v)
{
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}
#else
#define VEC __m256
#define VL 8
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_BCAST(x) _mm256_set1_ps(x)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_MUL(a, b) _mm256_mul_ps(a, b)
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define V_STORE(p, v) _mm256_storeu_ps(p, v)
#define AVX2_MASK(n) _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define V_LOADN(p, n) _mm256_maskload_ps(p, AVX2_MASK(n))
#define V_STOREN(p, v, n) _mm256_maskstore_ps(p, AVX2_MASK(n), v)
static inline KTARGET float avx2_hsum(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}
#endif
#define V_HSUM(v) avx2_hsum(v)
#define DR 3
#define DC 3
#include "gemm/gemm_kernel.h"

/* Blocks of 8 x 8 floats or 4 x 4 doubles transposed in registers; the
   ragged edges element by element. */
static KTARGET void transpose_avx2(tg_real *dst, int64_t ldd, const tg_real *src, int64_t lds,
                                   int64_t nj, int64_t nk)
{
    int64_t j = 0;
    for (; j + VL <= nj; j += VL) {
        int64_t k = 0;
        for (; k + VL <= nk; k += VL) {
            const tg_real *s = src + j * lds + k;
            tg_real *d = dst + k * ldd + j;
#ifdef TG_DOUBLE
            __m256d r0 = _mm256_loadu_pd(s), r1 = _mm256_loadu_pd(s + lds);
            __m256d r2 = _mm256_loadu_pd(s + 2 * lds), r3 = _mm256_loadu_pd(s + 3 * lds);
            __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
            __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
            _mm256_storeu_pd(d, _mm256_permute2f128_pd(t0, t2, 0x20));
            _mm256_storeu_pd(d + ldd, _mm256_permute2f128_pd(t1, t3, 0x20));
            _mm256_storeu_pd(d + 2 * ldd, _mm256_permute2f128_pd(t0, t2, 0x31));
            _mm256_storeu_pd(d + 3 * ldd, _mm256_permute2f128_pd(t1, t3, 0x31));
#else
            __m256 r[8], t[8], u[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(s + i * lds);
            for (int i = 0; i < 8; i += 2) {
                t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
                t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
            }
            for (int i = 0; i < 8; i += 4) {
                u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
                u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
                u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
                u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
            }
            for (int i = 0; i < 4; i++) {
                _mm256_storeu_ps(d + i * ldd, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
                _mm256_storeu_ps(d + (i + 4) * ldd, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
            }
#endif
        }
        for (; k < nk; k++)
            for (int64_t jj = j; jj < j + VL; jj++) dst[k * ldd + jj] = src[jj * lds + k];
    }
    if (j < nj) transpose_portable(dst + j, ldd, src + j * lds, lds, nj - j, nk);
}
static const gemm_kernel kernel_avx2 = {"avx2", MR, NVMAX * VL, VL, gemm_avx2_ukernel,
                                        transpose_avx2, gemm_avx2_dot, gemm_avx2_ukernel_rows};
#undef KN
#undef KTARGET
#undef VEC
#undef VL
#undef MR
#undef NVMAX
#undef V_ZERO
#undef V_LOAD
#undef V_BCAST
#undef V_FMA
#undef V_MUL
#undef V_ADD
#undef V_STORE
#undef V_LOADN
#undef V_STOREN
#undef V_HSUM
#undef DR
#undef DC

/* AVX-512F: 32 zmm registers, a 6 x 4-vector tile (24 accumulators). */
#define KN(x) gemm_avx512_##x
#define KTARGET __attribute__((target("avx512f,avx2,fma")))
#define MR 6
#define NVMAX 4
#ifdef TG_DOUBLE
#define VEC __m512d
#define VL 8
#define V_ZERO() _mm512_setzero_pd()
#define V_LOAD(p) _mm512_loadu_pd(p)
#define V_BCAST(x) _mm512_set1_pd(x)
#define V_FMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define V_MUL(a, b) _mm512_mul_pd(a, b)
#define V_ADD(a, b) _mm512_add_pd(a, b)
#define V_STORE(p, v) _mm512_storeu_pd(p, v)
#define V_LOADN(p, n) _mm512_maskz_loadu_pd((__mmask8)((1u << (n)) - 1), p)
#define V_STOREN(p, v, n) _mm512_mask_storeu_pd(p, (__mmask8)((1u << (n)) - 1), v)
#else
#define VEC __m512
#define VL 16
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_BCAST(x) _mm512_set1_ps(x)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_MUL(a, b) _mm512_mul_ps(a, b)
#define V_ADD(a, b) _mm512_add_ps(a, b)
#define V_STORE(p, v) _mm512_storeu_ps(p, v)
#define V_LOADN(p, n) _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), p)
#define V_STOREN(p, v, n) _mm512_mask_storeu_ps(p, (__mmask16)((1u << (n)) - 1), v)
#endif
#ifdef TG_DOUBLE
#define V_HSUM(v) _mm512_reduce_add_pd(v)
#else
#define V_HSUM(v) _mm512_reduce_add_ps(v)
#endif
#define DR 4
#define DC 5
#include "gemm/gemm_kernel.h"
static const gemm_kernel kernel_avx512 = {"avx512", MR, NVMAX * VL, VL, gemm_avx512_ukernel,
                                          transpose_avx2, gemm_avx512_dot,
                                          gemm_avx512_ukernel_rows};
#undef KN
#undef KTARGET
#undef VEC
#undef VL
#undef MR
#undef NVMAX
#undef V_ZERO
#undef V_LOAD
#undef V_BCAST
#undef V_FMA
#undef V_MUL
#undef V_ADD
#undef V_STORE
#undef V_LOADN
#undef V_STOREN
#undef V_HSUM
#undef DR
#undef DC
#endif /* TG_X86 */

/* Chosen on first use (from the CPU, or TG_GEMM_KERNEL); any thread may
   ask first, and every one computes the same answer. */
static _Atomic(const gemm_kernel *) chosen_kernel;

static const gemm_kernel *pick_kernel(void)
{
    const char *env = getenv("TG_GEMM_KERNEL");
    bool want_portable = env && strcmp(env, "portable") == 0;
    bool want_avx2 = env && strcmp(env, "avx2") == 0;
    if (env && *env && !want_portable && !want_avx2 && strcmp(env, "avx512") != 0)
        tg_warn_env("TG_GEMM_KERNEL", env, "the best this CPU has", "avx512, avx2 or portable");
#ifdef TG_X86
    __builtin_cpu_init();
    bool has_fma = __builtin_cpu_supports("fma");
    if (!want_portable && !want_avx2 && has_fma && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("avx512f"))
        return &kernel_avx512;
    if (!want_portable && has_fma && __builtin_cpu_supports("avx2")) return &kernel_avx2;
#else
    (void)want_portable, (void)want_avx2;
#endif
    return &kernel_portable;
}

static const gemm_kernel *kernel(void)
{
    const gemm_kernel *k = atomic_load_explicit(&chosen_kernel, memory_order_acquire);
    if (k) return k;
    k = pick_kernel();
    const gemm_kernel *none = NULL;
    if (!atomic_compare_exchange_strong(&chosen_kernel, &none, k)) return none;
    return k;
}

const char *tg_gemm_kernel_name(void) { return kernel()->name; }

bool tg_gemm_kernel_avx512(void) { return strcmp(kernel()->name, "avx512") == 0; }

/* ------------------------------------------------------------ the blocked loops */

/* C(i,j) = alpha·Σ_k A(i,k)·B(k,j) + beta·C(i,j), every operand addressed by
   (row stride, column stride): X(r,c) = X[r·rs + c·cs]. */
typedef struct {
    int64_t M, N, K;
    const tg_real *A;
    int64_t a_rs, a_cs;
    const tg_real *B;
    int64_t b_rs, b_cs;
    tg_real *C;
    int64_t c_rs, c_cs;
    tg_real alpha, beta;
} gemm_prob;

/* The packing buffer: 224 KiB holds a whole [784, 64] panel (x of the
   forward product, packed once) and fits in L2 beside the C tiles. */
enum { BP_BYTES = 224 * 1024, BP_ELEMS = BP_BYTES / sizeof(tg_real), KC_TARGET = 256 };

/* Each thread that runs a product packs into its own buffer from the heap,
   made at its first product and freed when it ends (the key's destructor
   is libc's free, so a thread may outlive the library). The buffer used to
   be on the stack, and 224 KiB is more than some threads have (musl's
   default is 128 KiB; a user's pthread may be given less): a product there
   overflowed the stack. If the buffer cannot be had, the product packs on
   the stack as before, with the same blocking and so the same bits. */
static pthread_key_t bp_key;
static pthread_once_t bp_once = PTHREAD_ONCE_INIT;
static bool bp_key_ok;

static void bp_make_key(void) { bp_key_ok = pthread_key_create(&bp_key, free) == 0; }

static tg_real *thread_pack_buffer(void)
{
    pthread_once(&bp_once, bp_make_key);
    if (!bp_key_ok) return NULL;
    tg_real *bp = pthread_getspecific(bp_key);
    if (!bp && (bp = aligned_alloc(TG_ALIGN, BP_BYTES)) && pthread_setspecific(bp_key, bp) != 0) {
        free(bp);
        bp = NULL;
    }
    return bp;
}

/* The thread that unloads the library (or ends the program) gives its
   buffer back; the workers' go when they are joined. */
__attribute__((destructor)) static void free_pack_buffer(void)
{
    if (!bp_key_ok) return;
    free(pthread_getspecific(bp_key));
    pthread_setspecific(bp_key, NULL);
}

static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* A panel of op(B) is read in place when its rows are contiguous and it is
   a whole number of vectors wide; otherwise it is packed. */
static bool panel_direct(const gemm_prob *p, int64_t w, int vl)
{
    return p->b_cs == 1 && w % vl == 0;
}

/* Packs the panels of op(B)[pc..pc+kc, jc..jc+nc] (nr wide) that are not
   read in place: panel p holds bp[k·wp + j] = B(pc+k, jc+p·nr+j), wp = its
   width rounded up to vl, zeros in the padding. */
static void pack_b(tg_real *bp, const gemm_kernel *kd, const gemm_prob *p, int64_t pc,
                   int64_t kc, int64_t jc, int64_t nc)
{
    const int nr = kd->nr, vl = kd->vl;
    for (int64_t j0 = 0; j0 < nc; j0 += nr) {
        int64_t w = min64(nr, nc - j0), wp = round_up(w, vl);
        if (panel_direct(p, w, vl)) continue;
        const tg_real *src = p->B + pc * p->b_rs + (jc + j0) * p->b_cs;
        if (p->b_cs == 1) {
            for (int64_t k = 0; k < kc; k++) {
                memcpy(bp + k * wp, src + k * p->b_rs, (size_t)w * sizeof(tg_real));
                for (int64_t j = w; j < wp; j++) bp[k * wp + j] = 0;
            }
        } else if (p->b_rs == 1) {
            kd->transpose(bp, wp, src, p->b_cs, w, kc);
            for (int64_t k = 0; k < kc; k++)
                for (int64_t j = w; j < wp; j++) bp[k * wp + j] = 0;
        } else {
            for (int64_t k = 0; k < kc; k++)
                for (int64_t j = 0; j < wp; j++)
                    bp[k * wp + j] = j < w ? src[k * p->b_rs + j * p->b_cs] : 0;
        }
        bp += kc * wp;
    }
}

/* One thread's share: the whole loop nest over a sub-problem, packing into
   bp [BP_ELEMS]. */
static void gemm_blocked_in(const gemm_kernel *kd, const gemm_prob *p, tg_real *bp)
{
    const int mr = kd->mr, nr = kd->nr, vl = kd->vl;
    int64_t nc_max = (int64_t)BP_ELEMS / KC_TARGET / nr * nr;
    if (nc_max < nr) nc_max = nr;
    int64_t nc = p->N < nc_max ? p->N : nc_max;
    int64_t kc_max = (int64_t)BP_ELEMS / round_up(nc, vl);
    int64_t nkb = (p->K + kc_max - 1) / kc_max;
    int64_t kc = (p->K + nkb - 1) / nkb;

    for (int64_t jc = 0; jc < p->N; jc += nc) {
        int64_t ncj = min64(nc, p->N - jc);
        for (int64_t pc = 0; pc < p->K; pc += kc) {
            int64_t kcp = min64(kc, p->K - pc);
            pack_b(bp, kd, p, pc, kcp, jc, ncj);
            tg_real beta = pc == 0 ? p->beta : 1;
            for (int64_t ic = 0; ic < p->M; ic += mr) {
                int mri = (int)min64(mr, p->M - ic);
                const tg_real *a = p->A + ic * p->a_rs + pc * p->a_cs;
                const tg_real *panel = bp;
                for (int64_t j0 = 0; j0 < ncj; j0 += nr) {
                    int w = (int)min64(nr, ncj - j0);
                    tg_real *c = p->C + ic * p->c_rs + (jc + j0) * p->c_cs;
                    if (panel_direct(p, w, vl)) {
                        kd->run(kcp, a, p->a_rs, p->a_cs, mri, p->B + pc * p->b_rs + jc + j0,
                                p->b_rs, w, c, p->c_rs, p->c_cs, p->alpha, beta);
                        continue;
                    }
                    int64_t wp = round_up(w, vl);
                    kd->run(kcp, a, p->a_rs, p->a_cs, mri, panel, wp, w, c, p->c_rs, p->c_cs,
                            p->alpha, beta);
                    panel += kcp * wp;
                }
            }
        }
    }
}

/* Only when the thread's buffer could not be allocated: its own frame, so
   that the usual path does not reserve 224 KiB of stack. */
__attribute__((noinline)) static void gemm_blocked_on_stack(const gemm_kernel *kd,
                                                            const gemm_prob *p)
{
    _Alignas(TG_ALIGN) tg_real bp[BP_ELEMS];
    gemm_blocked_in(kd, p, bp);
}

static void gemm_blocked(const gemm_kernel *kd, const gemm_prob *p)
{
    tg_real *bp = thread_pack_buffer();
    if (bp) gemm_blocked_in(kd, p, bp);
    else gemm_blocked_on_stack(kd, p);
}

/* A narrow C = A·Bᵀ (both read along k) by the dot kernel, no packing:
   the rows of B are read where they lie. */
static void gemm_dots(const gemm_kernel *kd, const gemm_prob *p)
{
    kd->dot(p->M, p->N, p->K, p->A, p->a_rs, p->B, p->b_cs, p->C, p->c_rs, p->c_cs, p->alpha,
            p->beta);
}

/* The dot kernel takes C = A·Bᵀ when C is narrow (after the swap below, its
   smaller side): under 16 columns that are not a whole number of vectors,
   where the tile's one- or two-vector panel would be partly padding. Measured
   on the demo's last layer (64 x 10 x 256, AVX-512, float): 134 GFLOP/s
   against 66 with the tile (OpenBLAS: 145). At a whole number of vectors
   (16 floats, or 8 under AVX2) the tile is faster. The choice depends only
   on N, never on M, so a product split along M gives the same bits. */
enum { DOT_MAX_N = 15 };

static bool use_dots(const gemm_kernel *kd, const gemm_prob *p)
{
    return p->a_cs == 1 && p->b_rs == 1 && p->N <= DOT_MAX_N && p->N % kd->vl != 0;
}

enum { MAX_PARTS = 64 };

typedef struct {
    const gemm_kernel *kd;
    bool dots;
    gemm_prob part[MAX_PARTS];
} gemm_split;

static void gemm_task(void *ctx, int t)
{
    const gemm_split *s = ctx;
    if (s->part[t].M <= 0 || s->part[t].N <= 0) return;
    if (s->dots) gemm_dots(s->kd, &s->part[t]);
    else gemm_blocked(s->kd, &s->part[t]);
}

/* Below this many multiply-adds a product stays on one thread. */
enum { PARALLEL_MIN_MACS = 1 << 19 };

/* Products split between threads so far (tg_gemm_split_count). */
static atomic_uint split_products;

unsigned tg_gemm_split_count(void)
{
    return atomic_load_explicit(&split_products, memory_order_relaxed);
}

static void gemm_builtin(int threads, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                         tg_real alpha, const tg_real *A, int64_t lda, const tg_real *B,
                         int64_t ldb, tg_real beta, tg_real *C, int64_t ldc)
{
    if (K <= 0 || alpha == 0) {
        for (int64_t i = 0; i < M; i++) {
            tg_real *c = C + i * ldc;
            if (beta == 0)
                for (int64_t j = 0; j < N; j++) c[j] = 0;
            else if (beta != 1)
                for (int64_t j = 0; j < N; j++) c[j] *= beta;
        }
        return;
    }
    gemm_prob p = {M, N, K, A, ta ? 1 : lda, ta ? lda : 1, B, tb ? 1 : ldb, tb ? ldb : 1,
                   C, ldc, 1, alpha, beta};
    /* Pack the side that is cheap to pack: op(B) when its rows run along
       memory; else, if op(A)'s do, or both need a transpose and M < N,
       compute Cᵀ = op(B)ᵀ·op(A)ᵀ instead. */
    bool swap = p.b_cs != 1 && (p.a_rs == 1 || M < N);
    if (swap)
        p = (gemm_prob){N, M, K, B, p.b_cs, p.b_rs, A, p.a_cs, p.a_rs,
                        C, 1, ldc, alpha, beta};

    const gemm_kernel *kd = kernel();
    double macs = (double)M * (double)N * (double)K;
    int64_t n_panels = (p.N + kd->nr - 1) / kd->nr, m_blocks = (p.M + kd->mr - 1) / kd->mr;
    bool dots = use_dots(kd, &p);
    if (threads <= 1 || macs < PARALLEL_MIN_MACS || (n_panels < 2 && m_blocks < 2)) {
        if (dots) gemm_dots(kd, &p);
        else gemm_blocked(kd, &p);
        return;
    }
    /* Split along the longer of M (row blocks) and N (panels), one part per
       thread. The caller always runs part 0 (tg_parallel_run), so with two
       threads each core gets the same part of the same product step after
       step, and the same slice of the weights stays in its cache:
       reading what another core has just written costs about 3 times more
       here. Finer parts (4 per thread, claimed by whoever is free) balanced
       better on a busy machine but moved that data from core to core; on
       the demo network one part per thread ran the products at 354 GFLOP/s
       on 2 threads against 319, and the epoch in 0.71 s against 0.77.
       Along N each part packs only its own columns; along M every part
       reads the same op(B). */
    gemm_split s;
    s.kd = kd;
    s.dots = dots;
    bool along_n = n_panels >= m_blocks;
    int64_t units = along_n ? n_panels : m_blocks;
    int64_t parts = threads;
    if (parts > units) parts = units;
    if (parts > MAX_PARTS) parts = MAX_PARTS;
    for (int t = 0; t < parts; t++) {
        int64_t u0 = units * t / parts, u1 = units * (t + 1) / parts;
        gemm_prob q = p;
        if (along_n) {
            int64_t j0 = u0 * kd->nr, j1 = min64(u1 * kd->nr, p.N);
            q.N = j1 - j0;
            q.B = p.B + j0 * p.b_cs;
            q.C = p.C + j0 * p.c_cs;
        } else {
            int64_t i0 = u0 * kd->mr, i1 = min64(u1 * kd->mr, p.M);
            q.M = i1 - i0;
            q.A = p.A + i0 * p.a_rs;
            q.C = p.C + i0 * p.c_rs;
        }
        s.part[t] = q;
    }
    atomic_fetch_add_explicit(&split_products, 1, memory_order_relaxed);
    tg_parallel_run((int)parts, gemm_task, &s);
}

/* ------------------------------------------------------- B given by its rows */

static void gemm_rows(int64_t M, int64_t N, int64_t K, const tg_real *A, int64_t lda,
                      const tg_real *B, const int64_t *boff, tg_real beta, tg_real *C,
                      int64_t ldc);

void tg_gemm_rows(int64_t M, int64_t N, int64_t K, const tg_real *A, int64_t lda,
                  const tg_real *B, const int64_t *boff, tg_real beta, tg_real *C, int64_t ldc)
{
    if (!profile.on) {
        gemm_rows(M, N, K, A, lda, B, boff, beta, C, ldc);
        return;
    }
    double t0 = seconds_now();
    gemm_rows(M, N, K, A, lda, B, boff, beta, C, ldc);
    profile.seconds += seconds_now() - t0;
    profile.calls++;
}

static void gemm_rows(int64_t M, int64_t N, int64_t K, const tg_real *A, int64_t lda,
                      const tg_real *B, const int64_t *boff, tg_real beta, tg_real *C,
                      int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        gemm_builtin(1, false, false, M, N, 0, 1, A, lda, B, 0, beta, C, ldc);
        return;
    }
    const gemm_kernel *kd = kernel();
    for (int64_t j0 = 0; j0 < N; j0 += kd->nr) {
        int w = (int)min64(kd->nr, N - j0);
        for (int64_t ic = 0; ic < M; ic += kd->mr)
            kd->run_rows(K, A + ic * lda, lda, 1, (int)min64(kd->mr, M - ic), B + j0, boff, w,
                         C + ic * ldc + j0, ldc, 1, 1, beta);
    }
}

/* ------------------------------------------------------------ split along K */

typedef struct {
    bool ta, tb;
    int64_t M, N, K, k1;
    tg_real alpha, beta;
    const tg_real *A, *B;
    int64_t lda, ldb, ldc;
    tg_real *C, *scratch;
} ksplit_job;

/* dst = alpha·op(A)[:, half]·op(B)[half, :] + beta·dst; half 0 is k < k1. */
static void ksplit_half(const ksplit_job *j, int half, tg_real *dst, tg_real beta, int threads)
{
    int64_t k0 = half ? j->k1 : 0, kn = half ? j->K - j->k1 : j->k1;
    const tg_real *a = j->A + (j->ta ? k0 * j->lda : k0);
    const tg_real *b = j->B + (j->tb ? k0 : k0 * j->ldb);
    gemm_dispatch(threads, j->ta, j->tb, j->M, j->N, kn, j->alpha, a, j->lda, b, j->ldb, beta, dst,
                  j->ldc);
}

static void ksplit_task(void *ctx, int t)
{
    const ksplit_job *j = ctx;
    if (t == 0) ksplit_half(j, 0, j->C, j->beta, 1);
    else ksplit_half(j, 1, j->scratch, 0, 1);
}

/* c += s, each element on its own (the second half's product added) */
TG_VECTOR_LOOP static void add_into(tg_real *restrict c, const tg_real *restrict s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) c[i] = c[i] + s[i];
}

/* The two halves one after the other give C = fl(h1 + fl(h0 + beta·C))
   (h the halves' sums times alpha; the kernel adds the old C with one
   rounding, and beta = 1 for the second half). In parallel the second
   half goes to the scratch with beta = 0, which stores h1 itself, and
   add_into makes the same sum: the same bits on any number of threads. */
void tg_gemm_ksplit(bool ta, bool tb, int64_t M, int64_t N, int64_t K, tg_real alpha,
                    const tg_real *A, int64_t lda, const tg_real *B, int64_t ldb, tg_real beta,
                    tg_real *C, int64_t ldc, tg_real *scratch)
{
    if (M <= 0 || N <= 0) return;
    ksplit_job j = {ta, tb, M, N, K, K / 2, alpha, beta, A, B, lda, ldb, ldc, C, scratch};
    int threads = tg_threads_count();
    bool parallel = scratch && threads >= 2 && K >= 2 && current_backend() == BACKEND_BUILTIN &&
                    (double)M * (double)N * (double)K >= PARALLEL_MIN_MACS;
    double t0 = profile.on ? seconds_now() : 0;
    if (parallel) {
        atomic_fetch_add_explicit(&split_products, 1, memory_order_relaxed);
        tg_parallel_run(2, ksplit_task, &j);
    } else {
        ksplit_half(&j, 0, C, beta, threads);
        ksplit_half(&j, 1, C, 1, threads);
    }
    if (profile.on) { /* the products; the sum below is element-wise work */
        profile.seconds += seconds_now() - t0;
        profile.calls++;
    }
    if (parallel)
        for (int64_t i = 0; i < M; i++) add_into(C + i * ldc, scratch + i * ldc, N);
}
