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

/* Time spent inside tg_gemm, for the benchmarks: tg_gemm_profile(true)
   zeroes the counters and starts counting (two clock reads per call);
   false stops. Not thread-safe: call from the thread that trains. */
void tg_gemm_profile(bool on);
double tg_gemm_profile_seconds(void);
long tg_gemm_profile_calls(void);

#endif
