/* tg_gemm, the one matrix product of the library, on every backend this
   build has: all four transpose combinations, odd sizes around the kernel's
   block edges, alpha/beta, K = 0, and leading dimensions larger than the
   matrix. The reference is a plain triple loop in long double. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_ref.h"
#include "gemm/gemm.h"

static double rnd(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (double)(*s >> 8) / (double)(1u << 24) * 2 - 1;
}

static void check(const char *backend, bool ta, bool tb, int M, int N, int K, double alpha,
                  double beta, int pad)
{
    cr_assert(tg_gemm_set_backend(backend) == TG_OK);
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    int rows_a = ta ? K : M, rows_b = tb ? N : K;
    tg_real *A = malloc(sizeof(tg_real) * (size_t)(rows_a * lda + 1));
    tg_real *B = malloc(sizeof(tg_real) * (size_t)(rows_b * ldb + 1));
    tg_real *C = malloc(sizeof(tg_real) * (size_t)(M * ldc + 1));
    tg_real *C0 = malloc(sizeof(tg_real) * (size_t)(M * ldc + 1));
    long double *R = malloc(sizeof(long double) * (size_t)(M * N + 1));
    long double *S = malloc(sizeof(long double) * (size_t)(M * N + 1));
    unsigned s = (unsigned)(M * 7919 + N * 31 + K);
    for (int i = 0; i < rows_a * lda; i++) A[i] = (tg_real)rnd(&s);
    for (int i = 0; i < rows_b * ldb; i++) B[i] = (tg_real)rnd(&s);
    for (int i = 0; i < M * ldc; i++) C0[i] = C[i] = (tg_real)rnd(&s);
    gr_reference(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc, R, S);
    tg_gemm(ta, tb, M, N, K, (tg_real)alpha, A, lda, B, ldb, (tg_real)beta, C, ldc);
    double worst = 0, worst_ratio = 0; /* error, and error / its bound */
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double e = fabs((double)C[i * ldc + j] - (double)R[i * N + j]);
            double r = e / gr_bound(K, S[i * N + j]);
            if (r > worst_ratio) worst_ratio = r, worst = e;
        }
    /* the padding columns of C are never written */
    bool pad_ok = true;
    for (int i = 0; i < M; i++)
        for (int j = N; j < ldc; j++) pad_ok &= C[i * ldc + j] == C0[i * ldc + j];
    cr_expect(worst_ratio <= 1,
              "%s gemm %c%c M=%d N=%d K=%d alpha=%g beta=%g: error %g is %.2f x its bound",
              backend, ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, beta, worst, worst_ratio);
    cr_expect(pad_ok, "%s gemm wrote outside C's columns", backend);
    free(A), free(B), free(C), free(C0), free(R), free(S);
}

static const int sizes[][3] = {
    {1, 1, 1},    {2, 3, 4},     {7, 5, 3},     {17, 33, 9},   {64, 500, 784 / 8},
    {65, 129, 257}, {64, 10, 256}, {3, 300, 1},  {100, 1, 70},  {1, 64, 200},
    /* narrow C = A·Bᵀ, the dot kernel's (N under 16, not a whole number of
       vectors; K with and without a tail, or shorter than a vector) */
    {13, 7, 37},  {9, 11, 300},  {5, 15, 1},   {4, 3, 17},   {7, 200, 33},
    {64, 12, 64},
};

static void all_shapes(const char *backend)
{
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        for (int t = 0; t < 4; t++) {
            const int *d = sizes[k];
            check(backend, t & 1, t & 2, d[0], d[1], d[2], 1, 0, 0);
            check(backend, t & 1, t & 2, d[0], d[1], d[2], 0.5, 1, 3);
            check(backend, t & 1, t & 2, d[0], d[1], d[2], -2, 0.25, 1);
        }
    /* K = 0: C = beta·C */
    check(backend, false, false, 5, 6, 0, 1, 0.5, 0);
    check(backend, true, true, 5, 6, 0, 1, 0, 2);
    /* the network's shapes */
    check(backend, false, true, 64, 500, 784, 1, 0, 0);
    check(backend, false, false, 64, 784, 500, 1, 1, 0);
    check(backend, true, false, 500, 784, 64, 1, 1, 0);
}

Test(gemm, builtin) { all_shapes("builtin"); }

/* tg_gemm_rows: B given by where each row starts in one buffer (rows
   overlapping, out of order, repeated), against the same product with B
   written out. The buffer ends TG_GEMM_ROWS_SLACK values after the last
   row's N-th value, as the header allows (under AddressSanitizer a read
   further fails). */
static void check_rows(int M, int N, int K, double beta)
{
    cr_assert(tg_gemm_set_backend("builtin") == TG_OK);
    unsigned s = (unsigned)(M * 131 + N * 17 + K);
    int64_t *off = malloc(sizeof(int64_t) * (size_t)K), top = 0;
    for (int k = 0; k < K; k++) {
        off[k] = (int64_t)((k * 37 + (int)(rnd(&s) * 10 + 10)) % (2 * K + 5));
        if (off[k] > top) top = off[k];
    }
    int64_t len = top + N + TG_GEMM_ROWS_SLACK;
    int ldc = N + 2;
    tg_real *img = malloc(sizeof(tg_real) * (size_t)len);
    tg_real *A = malloc(sizeof(tg_real) * (size_t)(M * K + 1));
    tg_real *B = malloc(sizeof(tg_real) * (size_t)(K * N + 1));
    tg_real *C = malloc(sizeof(tg_real) * (size_t)(M * ldc));
    tg_real *C0 = malloc(sizeof(tg_real) * (size_t)(M * ldc));
    long double *R = malloc(sizeof(long double) * (size_t)(M * N));
    long double *S = malloc(sizeof(long double) * (size_t)(M * N));
    for (int64_t i = 0; i < len; i++) img[i] = (tg_real)rnd(&s);
    for (int i = 0; i < M * K; i++) A[i] = (tg_real)rnd(&s);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++) B[k * N + j] = img[off[k] + j];
    for (int i = 0; i < M * ldc; i++) C0[i] = C[i] = (tg_real)rnd(&s);
    gr_reference(false, false, M, N, K, 1, A, K, B, N, beta, C0, ldc, R, S);
    tg_gemm_rows(M, N, K, A, K, img, off, (tg_real)beta, C, ldc);
    double worst = 0;
    bool pad_ok = true;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double r = fabs((double)C[i * ldc + j] - (double)R[i * N + j]) /
                       gr_bound(K, S[i * N + j]);
            if (r > worst) worst = r;
        }
        for (int j = N; j < ldc; j++) pad_ok &= C[i * ldc + j] == C0[i * ldc + j];
    }
    cr_expect(worst <= 1, "gemm_rows M=%d N=%d K=%d beta=%g (%s kernel): error %.2f x its bound",
              M, N, K, beta, tg_gemm_kernel_name(), worst);
    cr_expect(pad_ok, "gemm_rows M=%d N=%d K=%d wrote outside C's columns", M, N, K);
    free(off), free(img), free(A), free(B), free(C), free(C0), free(R), free(S);
}

Test(gemm, rows_reads_b_where_its_rows_start)
{
    static const int Ms[] = {1, 5, 6, 7, 16}, Ns[] = {1, 15, 16, 17, 64, 65, 136, 200},
                     Ks[] = {1, 2, 3, 25, 150};
    for (size_t a = 0; a < sizeof Ms / sizeof *Ms; a++)
        for (size_t b = 0; b < sizeof Ns / sizeof *Ns; b++)
            for (size_t c = 0; c < sizeof Ks / sizeof *Ks; c++) {
                check_rows(Ms[a], Ns[b], Ks[c], 0);
                check_rows(Ms[a], Ns[b], Ks[c], 0.5);
            }
}

/* The forward product of the demo's first layer, y = x·Wᵀ, run on a thread
   whose stack is 128 KiB (musl's default; glibc also carves the threads'
   static TLS from it, 60 KiB of it OpenBLAS's): the built-in GEMM must fit
   (its packing buffer, 224 KiB, once lived on the stack and overflowed such
   a thread). */
typedef struct {
    const tg_real *x, *W;
    tg_real *y;
} small_stack_job;

static void *product_on_this_thread(void *arg)
{
    small_stack_job *j = arg;
    tg_gemm(false, true, 64, 500, 784, 1, j->x, 784, j->W, 784, 0, j->y, 500);
    return NULL;
}

Test(gemm, runs_on_a_thread_with_a_small_stack)
{
    cr_assert(tg_gemm_set_backend("builtin") == TG_OK);
    tg_real *x = malloc(sizeof(tg_real) * 64 * 784), *W = malloc(sizeof(tg_real) * 500 * 784);
    tg_real *y = malloc(sizeof(tg_real) * 64 * 500), *want = malloc(sizeof(tg_real) * 64 * 500);
    cr_assert(x && W && y && want);
    unsigned s = 5;
    for (int i = 0; i < 64 * 784; i++) x[i] = (tg_real)rnd(&s);
    for (int i = 0; i < 500 * 784; i++) W[i] = (tg_real)rnd(&s);
    small_stack_job j = {x, W, want};
    product_on_this_thread(&j); /* on the test's own (large) stack */

    j.y = y;
    pthread_attr_t attr;
    pthread_t tid;
    cr_assert(pthread_attr_init(&attr) == 0);
    cr_assert(pthread_attr_setstacksize(&attr, 128 * 1024) == 0);
    int rc = pthread_create(&tid, &attr, product_on_this_thread, &j);
    cr_assert(rc == 0, "pthread_create: %s", strerror(rc));
    cr_assert(pthread_join(tid, NULL) == 0);
    pthread_attr_destroy(&attr);
    cr_expect(memcmp(y, want, sizeof(tg_real) * 64 * 500) == 0,
              "the product on a 128 KiB stack differs from the same product on the main stack");
    free(x), free(W), free(y), free(want);
}

Test(gemm, cblas)
{
    if (tg_gemm_set_backend("cblas") != TG_OK) {
        cr_log_info("this build has no CBLAS: %s", tg_last_error());
        cr_skip_test("no CBLAS in this build");
    }
    all_shapes("cblas");
}

Test(gemm, unknown_backend_is_refused)
{
    const char *before = tg_gemm_backend();
    cr_expect(tg_gemm_set_backend("fast") != TG_OK);
    cr_expect(strstr(tg_last_error(), "fast") != NULL, "message: %s", tg_last_error());
    cr_expect_str_eq(tg_gemm_backend(), before);
    cr_expect(tg_gemm_set_backend(NULL) != TG_OK);
}
