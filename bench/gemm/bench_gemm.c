/* bench_gemm: GFLOP/s of tg_gemm on the demo network's matrix products
   (784-500-256-10, batch 64), built-in kernel and OpenBLAS side by side.

   The shapes are the ones tg_linear issues (src/ops/linalg.c):
     forward  y  = x·Wᵀ     tg_gemm(N, T)  M = batch, N = out, K = in
     backward dx = dy·W     tg_gemm(N, N)  M = batch, N = in,  K = out
              dW = dyᵀ·x    tg_gemm(T, N)  M = out,   N = in,  K = batch
   Every measurement alternates the two backends, so both see the same machine
   load; each figure is the median over the repetitions. Built as bench_gemm
   (float) and bench_gemm_f64 (double).

   Time is this thread's CPU time when the built-in kernel runs on one thread
   (so that time slices lost to other processes on a shared machine do not
   count; OpenBLAS must then run on one thread too: OPENBLAS_NUM_THREADS=1),
   and wall time with --threads above 1 or --wall.

   With --vs-threads T the second column is not OpenBLAS but the built-in
   kernel on T threads (tg_set_num_threads), the first on one, both in wall
   time, alternated the same way.

   usage: bench_gemm [--reps R] [--ms MS] [--threads T] [--wall] [--vs-threads T] [--csv]
     --reps R     repetitions per shape and backend (default 15)
     --ms MS      target milliseconds per repetition (default 20)
     --threads T  tg_set_num_threads(T) for the built-in kernel (default 1)
     --csv        one machine-readable line per shape */
#define _POSIX_C_SOURCE 200809L
#include "gemm/gemm.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BENCH_OWN_CLOCK /* now(), below: the thread's CPU time by default */
#include "../bench_stats.h"

#ifdef TG_HAVE_CBLAS
#include <cblas.h>
#endif

typedef struct {
    const char *name;
    bool ta, tb;
    int64_t M, N, K;
} shape;

static const shape shapes[] = {
    {"fc1 fwd  x·Wᵀ ", false, true, 64, 500, 784},
    {"fc1 dx   dy·W ", false, false, 64, 784, 500},
    {"fc1 dW   dyᵀ·x", true, false, 500, 784, 64},
    {"fc2 fwd  x·Wᵀ ", false, true, 64, 256, 500},
    {"fc2 dx   dy·W ", false, false, 64, 500, 256},
    {"fc2 dW   dyᵀ·x", true, false, 256, 500, 64},
    {"fc3 fwd  x·Wᵀ ", false, true, 64, 10, 256},
    {"fc3 dx   dy·W ", false, false, 64, 256, 10},
    {"fc3 dW   dyᵀ·x", true, false, 10, 256, 64},
};
enum { N_SHAPES = sizeof shapes / sizeof *shapes, MAX_REPS = 101 };

static clockid_t clock_id = CLOCK_THREAD_CPUTIME_ID;

static double now(void)
{
    struct timespec ts;
    clock_gettime(clock_id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fill(tg_real *x, int64_t n, unsigned *seed)
{
    for (int64_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        x[i] = (tg_real)((double)(*seed >> 8) / (double)(1u << 24) - 0.5);
    }
}

typedef struct {
    const shape *s;
    const tg_real *A, *B;
    tg_real *C;
} problem;

static void run(const problem *p, int iters)
{
    const shape *s = p->s;
    int64_t lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    for (int i = 0; i < iters; i++)
        tg_gemm(s->ta, s->tb, s->M, s->N, s->K, 1, p->A, lda, p->B, ldb, 1, p->C, s->N);
}

/* Seconds per call: `iters` calls timed once. */
static double time_calls(const problem *p, int iters)
{
    double t0 = now();
    run(p, iters);
    return (now() - t0) / iters;
}

/* Largest |builtin − cblas| relative to the largest |C| for one call. */
static double check(const problem *p, tg_real *C2)
{
    const shape *s = p->s;
    int64_t lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    tg_gemm_set_backend("builtin");
    tg_gemm(s->ta, s->tb, s->M, s->N, s->K, 1, p->A, lda, p->B, ldb, 0, p->C, s->N);
    if (tg_gemm_set_backend("cblas") != TG_OK) return 0;
    tg_gemm(s->ta, s->tb, s->M, s->N, s->K, 1, p->A, lda, p->B, ldb, 0, C2, s->N);
    double err = 0, big = 0;
    for (int64_t i = 0; i < s->M * s->N; i++) {
        double d = fabs((double)p->C[i] - (double)C2[i]);
        if (d > err) err = d;
        if (fabs((double)C2[i]) > big) big = fabs((double)C2[i]);
    }
    return big > 0 ? err / big : err;
}

int main(int argc, char **argv)
{
    int reps = 15, threads = 1, vs_threads = 0;
    double ms = 20;
    bool csv = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc) ms = atof(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--csv") == 0) csv = true;
        else if (strcmp(argv[i], "--wall") == 0) clock_id = CLOCK_MONOTONIC;
        else if (strcmp(argv[i], "--vs-threads") == 0 && i + 1 < argc) vs_threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--reps R] [--ms MS] [--threads T] [--wall] "
                            "[--vs-threads T] [--csv]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    if (reps > MAX_REPS) reps = MAX_REPS;
    if (threads > 1 || vs_threads > 0) clock_id = CLOCK_MONOTONIC;
    if (vs_threads > 0 && (threads = 1, tg_set_num_threads(vs_threads) != TG_OK)) {
        fprintf(stderr, "%s\n", tg_last_error());
        return 2;
    }
    if (tg_set_num_threads(threads) != TG_OK) {
        fprintf(stderr, "%s\n", tg_last_error());
        return 2;
    }
    bool have_cblas = vs_threads > 0 || tg_gemm_set_backend("cblas") == TG_OK;
    const char *core = "none";
    int blas_threads = 0;
#ifdef TG_HAVE_CBLAS
    core = openblas_get_corename();
    blas_threads = openblas_get_num_threads();
#endif
    const char *env_core = getenv("OPENBLAS_CORETYPE");
    if (!csv) {
        printf("bench_gemm: %s, built-in kernel '%s', %d thread(s); OpenBLAS core %s "
               "(OPENBLAS_CORETYPE=%s), %d thread(s)\n",
               tg_real_name(), tg_gemm_kernel_name(), tg_get_num_threads(), core,
               env_core ? env_core : "(unset)", blas_threads);
        printf("median of %d repetitions of ~%.0f ms each (%s time), backends alternated\n\n",
               reps, ms, clock_id == CLOCK_MONOTONIC ? "wall" : "thread CPU");
        if (vs_threads > 0)
            printf("%-15s %2s %5s %5s %5s  %9s %9s  %6s\n", "shape", "op", "M", "N", "K",
                   "1 thread", "threads", "ratio");
        else
            printf("%-15s %2s %5s %5s %5s  %9s %9s  %6s  %8s\n", "shape", "op", "M", "N", "K",
                   "builtin", "openblas", "ratio", "max err");
        printf("%-15s %2s %5s %5s %5s  %9s %9s  %6s  %8s\n", "", "", "", "", "", "GFLOP/s",
               "GFLOP/s", "b/o", "(rel)");
    }

    double tot_flops = 0, tot_tb = 0, tot_to = 0;
    unsigned seed = 12345;
    for (int si = 0; si < N_SHAPES; si++) {
        const shape *s = &shapes[si];
        tg_real *A = aligned_alloc(64, (size_t)((s->M * s->K + 16) * (int64_t)sizeof(tg_real)));
        tg_real *B = aligned_alloc(64, (size_t)((s->K * s->N + 16) * (int64_t)sizeof(tg_real)));
        tg_real *C = aligned_alloc(64, (size_t)((s->M * s->N + 16) * (int64_t)sizeof(tg_real)));
        tg_real *C2 = aligned_alloc(64, (size_t)((s->M * s->N + 16) * (int64_t)sizeof(tg_real)));
        if (!A || !B || !C || !C2) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        fill(A, s->M * s->K, &seed);
        fill(B, s->K * s->N, &seed);
        fill(C, s->M * s->N, &seed);
        problem p = {s, A, B, C};
        double err = have_cblas && vs_threads == 0 ? check(&p, C2) : 0;
        double flops = 2.0 * (double)s->M * (double)s->N * (double)s->K;

        /* calibrate iterations so one repetition takes about `ms` */
        tg_gemm_set_backend("builtin");
        int iters = 1;
        for (;;) {
            double t = time_calls(&p, iters) * iters;
            if (t > ms * 1e-3 / 4 || iters > (1 << 24)) {
                iters = (int)(iters * (ms * 1e-3) / (t > 0 ? t : 1e-9)) + 1;
                break;
            }
            iters *= 4;
        }
        double tb[MAX_REPS], to[MAX_REPS];
        for (int r = 0; r < reps; r++) {
            tg_gemm_set_backend("builtin");
            if (vs_threads > 0) {
                tg_set_num_threads(1);
                tb[r] = time_calls(&p, iters);
                tg_set_num_threads(vs_threads);
                to[r] = time_calls(&p, iters);
                continue;
            }
            tb[r] = time_calls(&p, iters);
            if (have_cblas) {
                tg_gemm_set_backend("cblas");
                to[r] = time_calls(&p, iters);
            } else {
                to[r] = 0;
            }
        }
        double mb = median(tb, reps), mo = have_cblas ? median(to, reps) : 0;
        double gb = flops / mb * 1e-9, go = mo > 0 ? flops / mo * 1e-9 : 0;
        tot_flops += flops;
        tot_tb += mb;
        tot_to += mo;
        const char *op = s->ta ? "TN" : s->tb ? "NT" : "NN";
        if (csv)
            printf("gemm,%s,%s,%s,%lld,%lld,%lld,%.3f,%.3f,%s,%s\n", tg_real_name(), s->name, op,
                   (long long)s->M, (long long)s->N, (long long)s->K, gb, go, core,
                   env_core ? env_core : "unset");
        else
            printf("%-15s %2s %5lld %5lld %5lld  %9.2f %9.2f  %6.2f  %8.1e\n", s->name, op,
                   (long long)s->M, (long long)s->N, (long long)s->K, gb, go,
                   go > 0 ? gb / go : 0, err);
        free(A);
        free(B);
        free(C);
        free(C2);
    }
    double gb = tot_flops / tot_tb * 1e-9, go = tot_to > 0 ? tot_flops / tot_to * 1e-9 : 0;
    if (csv)
        printf("gemm,%s,all,all,0,0,0,%.3f,%.3f,%s,%s\n", tg_real_name(), gb, go, core,
               env_core ? env_core : "unset");
    else
        printf("\n%-15s %2s %5s %5s %5s  %9.2f %9.2f  %6.2f\n", "all (one step)", "", "", "", "",
               gb, go, go > 0 ? gb / go : 0);
    return 0;
}
