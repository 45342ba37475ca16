/* The one GEMM: C = alpha·op(A)·op(B) + beta·C, row-major.

   Built-in path: the Goto/BLIS loop order. op(B) is packed a [KC, NC] panel
   at a time into a contiguous buffer (which also turns a transposed B into
   rows), op(A) a [MC, KC] block at a time; the inner kernel then walks
   contiguous memory only. The buffers live on the stack: kernels never
   allocate. When the build found OpenBLAS, cblas_sgemm/dgemm is the default
   path; tg_gemm_set_backend() or the environment variable TG_GEMM
   (builtin|cblas) choose at run time, so one build tests and times both. */
#include "tg_internal.h"

#include <stdlib.h>

#ifdef TG_HAVE_CBLAS
#include <cblas.h>
#endif

static void gemm_builtin(bool ta, bool tb, int64_t M, int64_t N, int64_t K, tg_real alpha,
                         const tg_real *A, int64_t lda, const tg_real *B, int64_t ldb,
                         tg_real beta, tg_real *C, int64_t ldc);

enum { BACKEND_UNSET, BACKEND_BUILTIN, BACKEND_CBLAS };
static int backend = BACKEND_UNSET;

static int default_backend(void)
{
    const char *env = getenv("TG_GEMM");
    if (env && strcmp(env, "builtin") == 0) return BACKEND_BUILTIN;
#ifdef TG_HAVE_CBLAS
    return BACKEND_CBLAS;
#else
    return BACKEND_BUILTIN;
#endif
}

const char *tg_gemm_backend(void)
{
    if (backend == BACKEND_UNSET) backend = default_backend();
    return backend == BACKEND_CBLAS ? "cblas" : "builtin";
}

int tg_gemm_set_backend(const char *name)
{
    if (name && strcmp(name, "builtin") == 0) {
        backend = BACKEND_BUILTIN;
        return TG_OK;
    }
#ifdef TG_HAVE_CBLAS
    if (name && strcmp(name, "cblas") == 0) {
        backend = BACKEND_CBLAS;
        return TG_OK;
    }
    return tg_set_error(TG_ERR_INVALID, "tg_gemm_set_backend: unknown backend '%s' "
                        "(builtin or cblas)", name ? name : "(null)");
#else
    return tg_set_error(TG_ERR_INVALID, "tg_gemm_set_backend: backend '%s' is not available "
                        "(this build has only 'builtin')", name ? name : "(null)");
#endif
}

void tg_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, tg_real alpha, const tg_real *A,
             int64_t lda, const tg_real *B, int64_t ldb, tg_real beta, tg_real *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (backend == BACKEND_UNSET) backend = default_backend();
#ifdef TG_HAVE_CBLAS
    if (backend == BACKEND_CBLAS && K > 0) {
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
    gemm_builtin(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

enum { MC = 64, KC = 128, NC = 256 };

/* Bp[p][j] = op(B)[p0+p][j0+j] for p < kc, j < nc */
static void pack_b(tg_real *Bp, bool tb, const tg_real *B, int64_t ldb, int64_t p0, int64_t j0,
                   int64_t kc, int64_t nc)
{
    for (int64_t p = 0; p < kc; p++)
        for (int64_t j = 0; j < nc; j++)
            Bp[p * NC + j] = tb ? B[(j0 + j) * ldb + p0 + p] : B[(p0 + p) * ldb + j0 + j];
}

/* Ap[i][p] = alpha·op(A)[i0+i][p0+p] */
static void pack_a(tg_real *Ap, bool ta, const tg_real *A, int64_t lda, int64_t i0, int64_t p0,
                   int64_t mc, int64_t kc, tg_real alpha)
{
    for (int64_t i = 0; i < mc; i++)
        for (int64_t p = 0; p < kc; p++)
            Ap[i * KC + p] = alpha * (ta ? A[(p0 + p) * lda + i0 + i] : A[(i0 + i) * lda + p0 + p]);
}

/* C[i][0..nc) += Σ_p Ap[i][p]·Bp[p][0..nc), four rows at a time so each
   loaded row of Bp serves four rows of C. */
static void kernel(tg_real *C, int64_t ldc, const tg_real *Ap, const tg_real *Bp, int64_t mc,
                   int64_t kc, int64_t nc)
{
    int64_t i = 0;
    for (; i + 4 <= mc; i += 4) {
        tg_real *c0 = C + i * ldc, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;
        const tg_real *a0 = Ap + i * KC, *a1 = a0 + KC, *a2 = a1 + KC, *a3 = a2 + KC;
        for (int64_t p = 0; p < kc; p++) {
            const tg_real *b = Bp + p * NC;
            tg_real x0 = a0[p], x1 = a1[p], x2 = a2[p], x3 = a3[p];
            for (int64_t j = 0; j < nc; j++) {
                c0[j] += x0 * b[j];
                c1[j] += x1 * b[j];
                c2[j] += x2 * b[j];
                c3[j] += x3 * b[j];
            }
        }
    }
    for (; i < mc; i++) {
        tg_real *c = C + i * ldc;
        const tg_real *a = Ap + i * KC;
        for (int64_t p = 0; p < kc; p++) {
            const tg_real *b = Bp + p * NC;
            tg_real x = a[p];
            for (int64_t j = 0; j < nc; j++) c[j] += x * b[j];
        }
    }
}

static void gemm_builtin(bool ta, bool tb, int64_t M, int64_t N, int64_t K, tg_real alpha,
                         const tg_real *A, int64_t lda, const tg_real *B, int64_t ldb,
                         tg_real beta, tg_real *C, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++) {
        tg_real *c = C + i * ldc;
        if (beta == 0)
            for (int64_t j = 0; j < N; j++) c[j] = 0;
        else if (beta != 1)
            for (int64_t j = 0; j < N; j++) c[j] *= beta;
    }
    if (K <= 0 || alpha == 0) return;
    _Alignas(TG_ALIGN) tg_real Bp[KC * NC];
    _Alignas(TG_ALIGN) tg_real Ap[MC * KC];
    for (int64_t j0 = 0; j0 < N; j0 += NC) {
        int64_t nc = N - j0 < NC ? N - j0 : NC;
        for (int64_t p0 = 0; p0 < K; p0 += KC) {
            int64_t kc = K - p0 < KC ? K - p0 : KC;
            pack_b(Bp, tb, B, ldb, p0, j0, kc, nc);
            for (int64_t i0 = 0; i0 < M; i0 += MC) {
                int64_t mc = M - i0 < MC ? M - i0 : MC;
                pack_a(Ap, ta, A, lda, i0, p0, mc, kc, alpha);
                kernel(C + i0 * ldc + j0, ldc, Ap, Bp, mc, kc, nc);
            }
        }
    }
}
