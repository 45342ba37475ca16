/* The one GEMM (src/gemm/gemm.c), the library's worker threads
   (src/gemm/threads.c) and the GEMM's own timer (for bench/). Not installed. */
#ifndef TG_GEMM_H
#define TG_GEMM_H

#include "core/internal.h"

/* ---- GEMM: C = alpha·op(A)·op(B) + beta·C, row-major, op(X) = X or Xᵀ.
   op(A) is [M,K], op(B) is [K,N], C is [M,N]. With beta = 0, C need not be
   initialised. One entry point for every matrix product in the library
   (tg_gemm_rows below is the same kernel for a B whose rows are given by
   where they start: a convolution's patches read in place). */
void tg_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, tg_real alpha,
             const tg_real *A, int64_t lda, const tg_real *B, int64_t ldb, tg_real beta,
             tg_real *C, int64_t ldc);

/* C = alpha·op(A)·op(B) + beta·C summed as two halves of K, in that order:
   the product over k < K/2 is added to C, then the product over the rest.
   With two or more threads (built-in backend, a large enough product) the
   halves run at the same time, the caller's into C and the other into
   `scratch` ([M, N] with ldc, uninitialised), which is then added to C;
   without scratch, or on one thread, they run one after the other. The
   same bits either way, but not the bits of tg_gemm (its sums do not stop
   halfway). For dx = dy·W: each thread reads only the half of W's rows
   that the optimizer's split gives it, so no row of W is read by both. */
void tg_gemm_ksplit(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, tg_real alpha,
                    const tg_real *A, int64_t lda, const tg_real *B, int64_t ldb, tg_real beta,
                    tg_real *C, int64_t ldc, tg_real *scratch);

/* C = A·B̃ + beta·C with B̃(k, j) = B[boff[k] + j]: op(B) given by where each
   of its K rows starts (rows of one image at the offsets of a
   convolution's taps, so that its patches need not be copied out: see
   src/ops/conv.c). A [M, K] row-major, C [M, N]. The built-in kernel on
   the calling thread, whatever the backend. Each row is read in whole
   vectors: up to TG_GEMM_ROWS_SLACK values past B[boff[k] + N − 1] are
   read (and not used), so they must be readable. */
#define TG_GEMM_ROWS_SLACK ((int64_t)(64 / sizeof(tg_real)))
void tg_gemm_rows(int64_t M, int64_t N, int64_t K, const tg_real *A, int64_t lda,
                  const tg_real *B, const int64_t *boff, tg_real beta, tg_real *C, int64_t ldc);

/* Whether the built-in GEMM's kernel is "avx512" (tg_gemm_kernel_name): the
   vector loops outside the GEMM (col2im's rows, max pooling's 2x2 rows, the
   float logsumexp and norms) take AVX-512 exactly then, so that
   TG_GEMM_KERNEL=avx2 or portable runs their portable loops on such a
   machine too (and the tests can reach both). */
bool tg_gemm_kernel_avx512(void);

/* Whether tg_gemm runs the built-in kernel (not a BLAS library) */
bool tg_gemm_is_builtin(void);

#define TG_MAX_THREADS 64

/* One task of a parallel job: task is in [0, n_tasks). */
typedef void (*tg_task_fn)(void *ctx, int task);

/* Runs fn(ctx, 0..n_tasks-1), spread over the calling thread and the
   workers, and returns when all are done. Task 0 always runs on the calling
   thread, so a job repeated step after step gives its first part to the
   same core (tg_gemm and the optimizer step rely on that for cache
   affinity; with 2 threads the worker gets the other part whenever it is
   on time). Never allocates after the first
   call that starts the workers; if the workers cannot start, or another job
   is running (a call from a second user thread or from inside a task), the
   tasks run one after the other in the calling thread. */
void tg_parallel_run(int n_tasks, tg_task_fn fn, void *ctx);

/* fn(ctx, lo, hi) over [0, n): with `split` and two or more threads, in two
   halves [0, h) and [h, n), h = ⌈n/2⌉ rounded up to a multiple of `align`
   (at most n), one a task of tg_parallel_run; else fn(ctx, 0, n) here. For
   an op whose values (or planes) are each computed on their own: the same
   numbers on one thread or two. */
typedef void (*tg_range_fn)(void *ctx, int64_t lo, int64_t hi);
void tg_run_halves(int64_t n, int64_t align, bool split, tg_range_fn fn, void *ctx);

/* The background job: tasks for the workers to run when they have no
   parallel task, for a result wanted later (the next batch of a dataset).
   tg_background_post posts fn(ctx, 0..n_tasks-1) and returns true, or
   false, having run nothing, if there is one thread or no worker, or the
   background job is taken (one at a time, in the whole process). The
   thread that posted must call tg_background_wait before it reads the
   result or frees ctx: it runs the tasks that no worker has taken and
   waits for those that run. It returns false if the job was lost (posted
   before a fork(), in the child): then which tasks ran is unknown. */
bool tg_background_post(int n_tasks, tg_task_fn fn, void *ctx);
bool tg_background_wait(void);

/* tg_get_num_threads() without the public wrapper's checks. */
int tg_threads_count(void);

/* How many products have been split between threads since the process
   started (any thread). The optimizer splits its step only when the
   products of the step before were split: a thread then updates the rows
   of the weights it has just multiplied, in its own cache; when they were
   not (a batch of 1), splitting the step would make the next forward read
   half the weights from the other core's cache. */
unsigned tg_gemm_split_count(void);

/* Time spent inside tg_gemm and tg_gemm_rows, for the benchmarks: tg_gemm_profile(true)
   zeroes the counters and starts counting (two clock reads per call);
   false stops. Not thread-safe: call from the thread that trains. */
void tg_gemm_profile(bool on);
double tg_gemm_profile_seconds(void);
long tg_gemm_profile_calls(void);

#endif
