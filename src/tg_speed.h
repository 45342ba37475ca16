/* Internal hooks of the speed work: the library's worker threads
   (src/threads.c) and the GEMM's own timer (src/gemm.c, for bench/). */
#ifndef TG_SPEED_H
#define TG_SPEED_H

#include <stdbool.h>

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

/* tg_get_num_threads() without the public wrapper's checks. */
int tg_threads_count(void);

/* Time spent inside tg_gemm, for the benchmarks: tg_gemm_profile(true)
   zeroes the counters and starts counting (two clock reads per call);
   false stops. Not thread-safe: call from the thread that trains. */
void tg_gemm_profile(bool on);
double tg_gemm_profile_seconds(void);
long tg_gemm_profile_calls(void);

#endif
