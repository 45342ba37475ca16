/* The library's threads (tg_set_num_threads) and the built-in GEMM split
   between them: the network's shapes, which are large enough to be split
   along N and, for y = x·Wᵀ (computed as yᵀ = W·xᵀ), along M, checked
   against a long-double reference within the dot-product error bound and
   bit for bit against the same product on one thread; tg_gemm_ksplit (two
   halves of K, in parallel with a scratch buffer) the same way; a fork after
   the workers started; the background job (tg_background_post). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gemm_ref.h"
#include "core/internal.h"
#include "gemm/gemm.h"
#include "workers.h"

static double rnd(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (double)(*s >> 8) / (double)(1u << 24) * 2 - 1;
}

/* The elements of C = alpha·op(A)·op(B) + beta·C0 (row-major, ldc = N)
   outside the error bound of the exact product (tests/support/gemm_ref.h). */
static int64_t out_of_bound(bool ta, bool tb, int M, int N, int K, double alpha, double beta,
                            const tg_real *A, const tg_real *B, const tg_real *C0,
                            const tg_real *C)
{
    long double *R = malloc(sizeof(long double) * (size_t)M * (size_t)N);
    long double *S = malloc(sizeof(long double) * (size_t)M * (size_t)N);
    cr_assert(R && S);
    gr_reference(ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C0, N, R, S);
    int64_t bad = 0;
    for (int64_t k = 0; k < (int64_t)M * N; k++)
        if (fabs((double)(C[k] - R[k])) > gr_bound(K, S[k])) bad++;
    free(R);
    free(S);
    return bad;
}

/* Runs one product on the built-in path with `threads` threads and returns
   the number of elements outside the error bound. */
static int64_t check_product(bool ta, bool tb, int M, int N, int K, double alpha, double beta,
                             int threads)
{
    cr_assert(tg_gemm_set_backend("builtin") == TG_OK);
    cr_assert(tg_set_num_threads(threads) == TG_OK);
    int lda = ta ? M : K, ldb = tb ? K : N, ldc = N;
    tg_real *A = malloc(sizeof(tg_real) * (size_t)M * (size_t)K);
    tg_real *B = malloc(sizeof(tg_real) * (size_t)K * (size_t)N);
    tg_real *C = malloc(sizeof(tg_real) * (size_t)M * (size_t)N);
    tg_real *C0 = malloc(sizeof(tg_real) * (size_t)M * (size_t)N);
    cr_assert(A && B && C && C0);
    unsigned s = 7u + (unsigned)(M * 31 + N * 17 + K);
    for (int i = 0; i < M * K; i++) A[i] = (tg_real)rnd(&s);
    for (int i = 0; i < K * N; i++) B[i] = (tg_real)rnd(&s);
    for (int i = 0; i < M * N; i++) C0[i] = C[i] = (tg_real)rnd(&s);
    tg_gemm(ta, tb, M, N, K, (tg_real)alpha, A, lda, B, ldb, (tg_real)beta, C, ldc);
    int64_t bad = out_of_bound(ta, tb, M, N, K, alpha, beta, A, B, C0, C);
    free(A);
    free(B);
    free(C);
    free(C0);
    cr_assert(tg_set_num_threads(1) == TG_OK);
    return bad;
}

/* The products of tg_linear on the 784-500-256-10 network, batch 64. */
static const struct {
    bool ta, tb;
    int M, N, K;
} shapes[] = {
    {false, true, 64, 500, 784},  /* y = x·Wᵀ: split along W's rows */
    {false, false, 64, 784, 500}, /* dx = dy·W: split along N */
    {true, false, 500, 784, 64},  /* dW = dyᵀ·x */
    {false, true, 64, 256, 500},  {false, false, 67, 253, 129}, {true, true, 131, 97, 61},
    {false, true, 4099, 10, 131}, /* narrow y = x·Wᵀ, in the dot kernel: split along M */
    {false, true, 10, 3001, 67},  /* the same, swapped to Cᵀ */
};

static void all_shapes(void)
{
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        for (int threads = 2; threads <= 3; threads++) {
            int64_t bad = check_product(shapes[i].ta, shapes[i].tb, shapes[i].M, shapes[i].N,
                                        shapes[i].K, 1.0, 1.0, threads);
            cr_expect(bad == 0, "%s%s %dx%dx%d on %d threads (%s kernel): %lld elements out of bound",
                      shapes[i].ta ? "T" : "N", shapes[i].tb ? "T" : "N", shapes[i].M,
                      shapes[i].N, shapes[i].K, threads, tg_gemm_kernel_name(), (long long)bad);
        }
    /* alpha and beta = 0 go through the split too */
    cr_expect(check_product(false, true, 64, 500, 784, -0.5, 0.0, 2) == 0);
}

Test(threads, count_is_validated)
{
    cr_expect(tg_set_num_threads(0) == TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "tg_set_num_threads") != NULL);
    cr_expect(tg_set_num_threads(65) == TG_ERR_INVALID);
    cr_expect(tg_set_num_threads(2) == TG_OK);
    cr_expect(tg_get_num_threads() == 2);
    cr_expect(tg_set_num_threads(1) == TG_OK);
    cr_expect(tg_get_num_threads() == 1);
}

Test(threads, kernel_is_named)
{
    const char *k = tg_gemm_kernel_name();
    cr_expect(strcmp(k, "avx512") == 0 || strcmp(k, "avx2") == 0 || strcmp(k, "portable") == 0,
              "kernel '%s'", k);
}

/* On this CPU's kernel (TG_GEMM_KERNEL=avx2|portable forces another). */
Test(threads, split_products_match_reference) { all_shapes(); }

/* Every element of C is computed by one thread, in the order one thread
   would use, so a split product is bit-identical to the product on one
   thread (docs/speed.md says so; training runs repeat exactly). */
static void product(const tg_real *A, const tg_real *B, tg_real *C, const tg_real *C0, int i,
                    int threads)
{
    int M = shapes[i].M, N = shapes[i].N, K = shapes[i].K;
    cr_assert(tg_set_num_threads(threads) == TG_OK);
    memcpy(C, C0, sizeof(tg_real) * (size_t)M * (size_t)N);
    tg_gemm(shapes[i].ta, shapes[i].tb, M, N, K, 1, A, shapes[i].ta ? M : K, B,
            shapes[i].tb ? K : N, 1, C, N);
}

Test(threads, split_products_are_bit_identical_to_one_thread)
{
    cr_assert(tg_gemm_set_backend("builtin") == TG_OK);
    for (int i = 0; i < (int)(sizeof shapes / sizeof *shapes); i++) {
        size_t nm = (size_t)shapes[i].M * (size_t)shapes[i].N;
        tg_real *A = malloc(sizeof(tg_real) * (size_t)shapes[i].M * (size_t)shapes[i].K);
        tg_real *B = malloc(sizeof(tg_real) * (size_t)shapes[i].K * (size_t)shapes[i].N);
        tg_real *C0 = malloc(sizeof(tg_real) * nm), *C1 = malloc(sizeof(tg_real) * nm);
        tg_real *Ct = malloc(sizeof(tg_real) * nm);
        cr_assert(A && B && C0 && C1 && Ct);
        unsigned s = 11u + (unsigned)i;
        for (int k = 0; k < shapes[i].M * shapes[i].K; k++) A[k] = (tg_real)rnd(&s);
        for (int k = 0; k < shapes[i].K * shapes[i].N; k++) B[k] = (tg_real)rnd(&s);
        for (size_t k = 0; k < nm; k++) C0[k] = (tg_real)rnd(&s);
        product(A, B, C1, C0, i, 1);
        for (int threads = 2; threads <= 3; threads++) {
            product(A, B, Ct, C0, i, threads);
            cr_expect(memcmp(C1, Ct, sizeof(tg_real) * nm) == 0,
                      "%dx%dx%d: %d threads differ from one (%s kernel)", shapes[i].M, shapes[i].N,
                      shapes[i].K, threads, tg_gemm_kernel_name());
        }
        free(A);
        free(B);
        free(C0);
        free(C1);
        free(Ct);
    }
    cr_assert(tg_set_num_threads(1) == TG_OK);
}

/* tg_gemm_ksplit: C = alpha·op(A)·op(B) + beta·C as two halves of K. With
   `threads` threads, with or without scratch; returns C (malloc'ed). */
static tg_real *ksplit(bool ta, bool tb, int M, int N, int K, double alpha, double beta,
                       int threads, bool scratch, tg_real **C0_out)
{
    cr_assert(tg_gemm_set_backend("builtin") == TG_OK);
    cr_assert(tg_set_num_threads(threads) == TG_OK);
    int lda = ta ? M : K, ldb = tb ? K : N;
    size_t nm = (size_t)M * (size_t)N;
    tg_real *A = malloc(sizeof(tg_real) * (size_t)M * (size_t)K);
    tg_real *B = malloc(sizeof(tg_real) * (size_t)K * (size_t)N);
    tg_real *C = malloc(sizeof(tg_real) * nm), *S = malloc(sizeof(tg_real) * nm);
    cr_assert(A && B && C && S);
    unsigned s = 5u + (unsigned)(M * 13 + N * 7 + K);
    for (int i = 0; i < M * K; i++) A[i] = (tg_real)rnd(&s);
    for (int i = 0; i < K * N; i++) B[i] = (tg_real)rnd(&s);
    for (size_t i = 0; i < nm; i++) C[i] = (tg_real)rnd(&s);
    for (size_t i = 0; i < nm; i++) S[i] = NAN; /* the scratch is not read */
    if (C0_out) {
        *C0_out = malloc(sizeof(tg_real) * nm);
        cr_assert(*C0_out);
        memcpy(*C0_out, C, sizeof(tg_real) * nm);
    }
    tg_gemm_ksplit(ta, tb, M, N, K, (tg_real)alpha, A, lda, B, ldb, (tg_real)beta, C, N,
                   scratch ? S : NULL);
    /* against the exact product, within the bound of any summation order */
    if (C0_out) {
        int64_t bad = out_of_bound(ta, tb, M, N, K, alpha, beta, A, B, *C0_out, C);
        cr_assert(bad == 0, "ksplit %dx%dx%d: %lld elements out of bound", M, N, K, (long long)bad);
        free(*C0_out);
    }
    free(A);
    free(B);
    free(S);
    cr_assert(tg_set_num_threads(1) == TG_OK);
    return C;
}

Test(threads, ksplit_is_the_same_on_any_number_of_threads)
{
    static const struct {
        bool ta, tb;
        int M, N, K;
        double alpha, beta;
    } ks[] = {
        {false, false, 64, 500, 256, 1, 1},   /* dx = dy·W of the second layer */
        {false, false, 64, 784, 500, 1, 1},   /* of the first */
        {false, false, 67, 253, 129, 1, 1},   /* odd K: halves of 64 and 65 */
        {true, true, 131, 97, 61, -0.5, 0.25},
        {false, true, 64, 500, 784, 2, 0},    /* beta = 0: C is not read */
        {false, false, 64, 256, 10, 1, 1},    /* too small to split: in turn */
    };
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++) {
        tg_real *C0 = NULL;
        tg_real *one = ksplit(ks[i].ta, ks[i].tb, ks[i].M, ks[i].N, ks[i].K, ks[i].alpha,
                              ks[i].beta, 1, false, &C0);
        size_t bytes = sizeof(tg_real) * (size_t)ks[i].M * (size_t)ks[i].N;
        for (int threads = 1; threads <= 3; threads++)
            for (int scratch = 0; scratch <= 1; scratch++) {
                tg_real *C = ksplit(ks[i].ta, ks[i].tb, ks[i].M, ks[i].N, ks[i].K, ks[i].alpha,
                                    ks[i].beta, threads, scratch, NULL);
                cr_expect(memcmp(C, one, bytes) == 0,
                          "ksplit %dx%dx%d on %d threads %s scratch differs from one thread",
                          ks[i].M, ks[i].N, ks[i].K, threads, scratch ? "with" : "without");
                free(C);
            }
        free(one);
    }
}

/* A child of fork() has no workers: the pool must start afresh there. */
Test(threads, fork_after_workers_started)
{
    cr_assert(check_product(false, false, 64, 784, 500, 1.0, 1.0, 2) == 0);
    cr_assert_eq(tg_set_num_threads(2), TG_OK);
    cr_assert(tw_worker_running());
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int64_t bad = check_product(false, false, 64, 784, 500, 1.0, 1.0, 2);
        _exit(bad == 0 ? 0 : 1);
    }
    int status = 0;
    cr_assert(waitpid(pid, &status, 0) == pid);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's threaded product failed");
}

/* ---- the background job */

enum { BG_TASKS = 64 };
static struct {
    atomic_int runs[BG_TASKS];
    atomic_int by_worker; /* tasks run by another thread than the poster */
    pthread_t poster;
    long task_ns;         /* each task busy-waits this long */
} bg;

static long clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void bg_task(void *ctx, int task)
{
    cr_assert_eq(ctx, (void *)&bg);
    for (long t0 = clock_ns(); clock_ns() - t0 < bg.task_ns;) {
    }
    atomic_fetch_add(&bg.runs[task], 1);
    if (!pthread_equal(pthread_self(), bg.poster)) atomic_fetch_add(&bg.by_worker, 1);
}

static void bg_reset(long task_ns)
{
    for (int i = 0; i < BG_TASKS; i++) atomic_store(&bg.runs[i], 0);
    atomic_store(&bg.by_worker, 0);
    bg.poster = pthread_self();
    bg.task_ns = task_ns;
}

/* tasks of the last job that did not run exactly once */
static int bg_wrong(void)
{
    int wrong = 0;
    for (int i = 0; i < BG_TASKS; i++) wrong += atomic_load(&bg.runs[i]) != 1;
    return wrong;
}

/* Every task runs exactly once, by a worker or by the poster in
   tg_background_wait; one job at a time; nothing on one thread; parallel
   jobs posted meanwhile still give the right products. */
Test(threads, background_job)
{
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
    bg_reset(0);
    cr_expect(!tg_background_post(BG_TASKS, bg_task, &bg), "posted on one thread");
    cr_expect_eq(atomic_load(&bg.runs[0]), 0);

    int by_worker = 0;
    for (int rep = 0; rep < 40; rep++) {
        cr_assert_eq(tg_set_num_threads(2), TG_OK);
        bg_reset(rep % 2 ? 2000 : 0);
        cr_assert(tg_background_post(BG_TASKS, bg_task, &bg), "rep %d: not posted", rep);
        cr_expect(!tg_background_post(BG_TASKS, bg_task, &bg), "rep %d: two at once", rep);
        if (rep % 4 == 1) /* a parallel job meanwhile; it leaves one thread set */
            cr_expect_eq(check_product(false, false, 64, 784, 500, 1.0, 0.5, 2), 0);
        else if (rep % 4 == 3)
            nanosleep(&(struct timespec){.tv_nsec = 300000}, NULL);
        cr_assert(tg_background_wait(), "rep %d: lost", rep);
        cr_expect_eq(bg_wrong(), 0, "rep %d: a task did not run exactly once", rep);
        by_worker += atomic_load(&bg.by_worker);
    }
    cr_expect_gt(by_worker, 0, "no task ran on the worker");
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
}

/* Posted before a fork(): the child has no worker and cannot know which
   tasks ran, so tg_background_wait says the job was lost; its next job runs
   whole. The parent's job finishes as usual. */
Test(threads, background_job_across_fork)
{
    cr_assert_eq(tg_set_num_threads(2), TG_OK);
    cr_assert(tw_worker_running());
    bg_reset(1000000); /* 1 ms a task: most are left at the fork */
    cr_assert(tg_background_post(BG_TASKS, bg_task, &bg));
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        alarm(30);
        bool lost = !tg_background_wait();
        bg_reset(0);
        bool posted = tg_background_post(BG_TASKS, bg_task, &bg);
        bool whole = posted && tg_background_wait();
        _exit(lost && posted && whole && bg_wrong() == 0 ? 0 : 1);
    }
    cr_expect(tg_background_wait());
    cr_expect_eq(bg_wrong(), 0);
    int status = 0;
    cr_assert(waitpid(pid, &status, 0) == pid);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the child's background jobs (status %d)", status);
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
}

/* A convolution's chunks of samples run in two halves, one a thread when
   the library has two (src/ops/conv.c): the output, and the input's,
   weight's and bias's gradients, are the same bits on one, two and three
   threads, for LeNet's two layers, a strided grouped one and a 1x1. */
static void conv_step(int threads, const int64_t xs[4], const int64_t ws[4],
                      const tg_conv_opts *o, tg_real **out)
{
    cr_assert(tg_set_num_threads(threads) == TG_OK);
    tg_tape *t = tg_tape_new();
    unsigned s = 11u;
    tg_tensor *x = tg_requires_grad(tg_zeros(t, 4, xs), true);
    tg_tensor *w = tg_requires_grad(tg_zeros(t, 4, ws), true);
    tg_tensor *b = tg_requires_grad(tg_zeros(t, 1, ws), true);
    for (int64_t i = 0; i < x->size; i++) x->data[i] = (tg_real)rnd(&s);
    for (int64_t i = 0; i < w->size; i++) w->data[i] = (tg_real)rnd(&s);
    for (int64_t i = 0; i < b->size; i++) b->data[i] = (tg_real)rnd(&s);
    tg_tensor *y = tg_conv2d(t, x, w, b, o);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    tg_tensor *loss = tg_sum(t, tg_mul(t, y, y), TG_ALL, false);
    cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
    int64_t n = y->size + x->size + w->size + b->size, k = 0;
    *out = malloc((size_t)n * sizeof **out);
    cr_assert_not_null(*out);
    for (int64_t i = 0; i < y->size; i++) (*out)[k++] = y->data[i];
    for (int64_t i = 0; i < x->size; i++) (*out)[k++] = x->grad[i];
    for (int64_t i = 0; i < w->size; i++) (*out)[k++] = w->grad[i];
    for (int64_t i = 0; i < b->size; i++) (*out)[k++] = b->grad[i];
    tg_tape_free(t);
    cr_assert(tg_set_num_threads(1) == TG_OK);
}

Test(threads, convolutions_are_the_same_on_any_number_of_threads)
{
    static const struct {
        int64_t x[4], w[4];
        tg_conv_opts o;
    } cs[] = {
        {{64, 1, 28, 28}, {6, 1, 5, 5}, {.groups = 1}},  /* LeNet's first layer */
        {{64, 6, 12, 12}, {16, 6, 5, 5}, {.groups = 1}}, /* its second */
        {{9, 4, 11, 13}, {6, 2, 3, 3}, {.stride = {2, 1}, .padding = {1, 2}, .groups = 2}},
        {{5, 8, 7, 7}, {4, 8, 1, 1}, {.groups = 1}},     /* 1x1: no im2col */
    };
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        tg_real *one = NULL;
        conv_step(1, cs[i].x, cs[i].w, &cs[i].o, &one);
        int64_t n = 0;
        { /* the element count, from the one-thread run's shapes */
            tg_tape *t = tg_tape_new();
            tg_tensor *y = tg_conv2d(t, tg_zeros(t, 4, cs[i].x), tg_zeros(t, 4, cs[i].w), NULL,
                                     &cs[i].o);
            cr_assert_not_null(y, "%s", tg_tape_error(t));
            n = y->size + tg_numel(4, cs[i].x) + tg_numel(4, cs[i].w) + cs[i].w[0];
            tg_tape_free(t);
        }
        for (int threads = 2; threads <= 3; threads++) {
            tg_real *other = NULL;
            conv_step(threads, cs[i].x, cs[i].w, &cs[i].o, &other);
            cr_expect(memcmp(one, other, (size_t)n * sizeof *one) == 0,
                      "convolution %zu on %d threads differs from one thread", i, threads);
            free(other);
        }
        free(one);
    }
}

/* Pooling's planes, and ReLU's values, run in two halves, one a thread
   when the library has two and the tensor is large enough (src/ops/pool.c,
   activation.c): the output of pool(relu(x)), x's gradient, and the
   gradient of a gradient (the ops max_pool_scatter, max_pool_gather and
   avg_pool_backward) are the same bits on one, two and three threads;
   LeNet's first pooling (with ties: inputs rounded to a quarter, and the
   zeros of the ReLU), a padded max pool with an odd plane count, and an
   average. */
static tg_real *pool_step(int threads, int kind, const int64_t xs[4], int64_t *n)
{
    cr_assert(tg_set_num_threads(threads) == TG_OK);
    tg_tape *t = tg_tape_new();
    unsigned s = 5u;
    tg_tensor *x = tg_requires_grad(tg_zeros(t, 4, xs), true);
    for (int64_t i = 0; i < x->size; i++) x->data[i] = (tg_real)(floor(8 * rnd(&s)) / 4);
    tg_pool_opts o = tg_pool_defaults(2, 2);
    if (kind == 1) o = (tg_pool_opts){.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
    if (kind == 2)
        o = (tg_pool_opts){.kernel = {3, 2}, .stride = {2, 2}, .padding = {1, 1},
                           .count_include_pad = false};
    tg_tensor *r = tg_relu(t, x);
    tg_tensor *y = kind == 2 ? tg_avg_pool2d(t, r, &o) : tg_max_pool2d(t, r, &o);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    tg_tensor *loss = tg_sum(t, tg_mul(t, y, y), TG_ALL, false);
    tg_tensor *g = tg_grad1(t, loss, x, true); /* 2·scatter(y), differentiable */
    cr_assert_not_null(g, "%s", tg_tape_error(t));
    tg_tensor *gg = tg_sum(t, tg_mul(t, g, tg_sin(t, x)), TG_ALL, false);
    cr_assert_eq(tg_backward(t, gg), TG_OK, "%s", tg_tape_error(t));
    *n = y->size + 2 * x->size;
    tg_real *out = malloc((size_t)*n * sizeof *out);
    cr_assert_not_null(out);
    int64_t k = 0;
    for (int64_t i = 0; i < y->size; i++) out[k++] = y->data[i];
    for (int64_t i = 0; i < x->size; i++) out[k++] = g->data[i];
    for (int64_t i = 0; i < x->size; i++) out[k++] = x->grad[i];
    tg_tape_free(t);
    cr_assert(tg_set_num_threads(1) == TG_OK);
    return out;
}

Test(threads, pooling_is_the_same_on_any_number_of_threads)
{
    static const int64_t xs[][4] = {{64, 6, 28, 28}, {3, 27, 33, 31}, {8, 16, 20, 18}};
    for (int kind = 0; kind < 3; kind++) {
        int64_t n = 0, m = 0;
        tg_real *one = pool_step(1, kind, xs[kind], &n);
        for (int threads = 2; threads <= 3; threads++) {
            tg_real *other = pool_step(threads, kind, xs[kind], &m);
            cr_assert_eq(m, n);
            cr_expect(memcmp(one, other, (size_t)n * sizeof *one) == 0,
                      "pooling %d on %d threads differs from one thread", kind, threads);
            free(other);
        }
        free(one);
    }
}
