/* A small pool of worker threads for the library's own kernels.

     caller:  publish {fn, ctx}, then the job word {generation, n_tasks, next},
              with task 0 already claimed; wake sleepers; run task 0, take
              more tasks itself; spin until every task taken is done
     worker:  spin a little while on the job word (a training step issues
              GEMMs tens of microseconds apart), then sleep on a condition
              variable; take tasks while the word's generation is the one it
              saw

   A task is claimed by a compare-and-swap on the job word, which checks the
   generation in the same step: a worker that wakes late (the machine is
   shared, it may have lost its time slice) finds the job gone or finished
   and takes nothing, so the caller never waits for a worker that has not
   started; at worst it runs every task itself. The job's fields are read
   only after a successful claim, and the caller cannot post the next job
   before that claimed task is done, so they cannot change under a worker.

   Workers start on the first parallel job (the only allocation, once) and
   are joined when the library is unloaded; a fork()ed child starts afresh.
   One job at a time: a second caller (another user thread, or a task
   itself) runs its tasks inline. */
#define _POSIX_C_SOURCE 200809L
#include "tg_internal.h"
#include "tg_speed.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* The job word: generation (24 bits) | number of tasks (20) | next task (20). */
#define JOB(gen, n, next) (((uint64_t)(gen) << 40) | ((uint64_t)(n) << 20) | (uint64_t)(next))
#define JOB_GEN(w) ((uint32_t)((w) >> 40))
#define JOB_N(w) ((int)(((w) >> 20) & 0xFFFFF))
#define JOB_NEXT(w) ((int)((w)&0xFFFFF))
#define MAX_TASKS 0xFFFFF

static struct {
    int want;    /* threads asked for, 0 until first read */
    int started; /* workers running */
    bool failed; /* no worker could be started: stay serial */
    pthread_t tid[TG_MAX_THREADS];
    long spin_ns;

    atomic_flag busy;     /* a job is being posted or run */
    _Atomic uint64_t job; /* the job word */
    atomic_int done;      /* tasks of the current job finished */
    atomic_int sleepers;  /* workers waiting on `wake` */
    atomic_bool quit;
    pthread_mutex_t lock;
    pthread_cond_t wake;

    /* the current job, valid for a task that was claimed */
    tg_task_fn fn;
    void *ctx;
} pool = {.busy = ATOMIC_FLAG_INIT,
          .lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER};

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static int env_threads(void)
{
    const char *s = getenv("TG_NUM_THREADS");
    int n = s ? atoi(s) : 1;
    return n < 1 ? 1 : n > TG_MAX_THREADS ? TG_MAX_THREADS : n;
}

int tg_threads_count(void)
{
    if (pool.want == 0) pool.want = env_threads();
    return pool.want;
}

int tg_set_num_threads(int n)
{
    if (n < 1 || n > TG_MAX_THREADS)
        return tg_set_error(TG_ERR_INVALID, "tg_set_num_threads: %d is out of range [1, %d]", n,
                            TG_MAX_THREADS);
    pool.want = n;
    return TG_OK;
}

int tg_get_num_threads(void) { return tg_threads_count(); }

/* Claims and runs tasks of generation `gen` until none is left. */
static void take_tasks(uint32_t gen)
{
    uint64_t w = atomic_load_explicit(&pool.job, memory_order_acquire);
    for (;;) {
        if (JOB_GEN(w) != gen || JOB_NEXT(w) >= JOB_N(w)) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.job, &w, w + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* w now holds the current word */
        pool.fn(pool.ctx, JOB_NEXT(w));
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
        w = atomic_load_explicit(&pool.job, memory_order_acquire);
    }
}

static void *worker(void *arg)
{
    (void)arg;
    uint32_t seen = JOB_GEN(atomic_load(&pool.job));
    for (;;) {
        /* spin for a while, then sleep until the generation moves */
        long t0 = now_ns();
        uint32_t g;
        int spins = 0;
        while ((g = JOB_GEN(atomic_load_explicit(&pool.job, memory_order_acquire))) == seen &&
               !atomic_load_explicit(&pool.quit, memory_order_relaxed)) {
            cpu_relax();
            if (++spins == 256) {
                /* give the core away if something else (maybe the caller,
                   on a busy machine) is waiting for it */
                spins = 0;
                sched_yield();
                if (now_ns() - t0 > pool.spin_ns) break;
            }
        }
        if (g == seen) {
            pthread_mutex_lock(&pool.lock);
            atomic_fetch_add(&pool.sleepers, 1);
            while ((g = JOB_GEN(atomic_load(&pool.job))) == seen && !atomic_load(&pool.quit))
                pthread_cond_wait(&pool.wake, &pool.lock);
            atomic_fetch_sub(&pool.sleepers, 1);
            pthread_mutex_unlock(&pool.lock);
        }
        if (atomic_load(&pool.quit)) return NULL;
        seen = g;
        take_tasks(g);
    }
}

/* In a child of fork() the workers are gone: start afresh on the next job. */
static void after_fork_child(void)
{
    pool.started = 0;
    pool.failed = false;
    atomic_flag_clear(&pool.busy);
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_mutex_init(&start_lock, NULL);
    atomic_store(&pool.sleepers, 0);
}

/* Starts workers up to want-1; false if none can run. */
static bool start_workers(int want)
{
    pthread_mutex_lock(&start_lock);
    if (pool.spin_ns == 0) {
        pthread_atfork(NULL, NULL, after_fork_child);
        const char *s = getenv("TG_SPIN_US");
        long us = s ? atol(s) : 200;
        pool.spin_ns = (us < 0 ? 0 : us) * 1000L + 1;
    }
    while (!pool.failed && pool.started < want - 1) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, (size_t)4 << 20); /* room for the GEMM's fallback */
        int rc = pthread_create(&pool.tid[pool.started], &attr, worker, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            pool.failed = pool.started == 0;
            break;
        }
        pool.started++;
    }
    bool ok = pool.started > 0;
    pthread_mutex_unlock(&start_lock);
    return ok;
}

void tg_parallel_run(int n_tasks, tg_task_fn fn, void *ctx)
{
    int want = tg_threads_count();
    if (n_tasks <= 1 || n_tasks > MAX_TASKS || want <= 1 || atomic_flag_test_and_set(&pool.busy)) {
        for (int i = 0; i < n_tasks; i++) fn(ctx, i);
        return;
    }
    if (pool.started < want - 1 && !pool.failed) start_workers(want);
    if (pool.started == 0) {
        atomic_flag_clear(&pool.busy);
        for (int i = 0; i < n_tasks; i++) fn(ctx, i);
        return;
    }
    /* Workers beyond want-1 (after tg_set_num_threads lowered it) still
       help; that only changes who runs a task, never the result. */
    pool.fn = fn;
    pool.ctx = ctx;
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    uint32_t gen = (JOB_GEN(atomic_load(&pool.job)) + 1) & 0xFFFFFF;
    /* The caller claims task 0 in the word it posts and runs it first: the
       same thread gets the same task of a repeated job (see tg_gemm), and
       the workers take the others. seq_cst: pairs with the sleepers count. */
    atomic_store(&pool.job, JOB(gen, n_tasks, 1));
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    fn(ctx, 0);
    atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
    take_tasks(gen);
    /* wait for tasks that workers still run; yield after a while, so that
       on a busy machine a worker waiting for a core can have this one */
    for (int spins = 0; atomic_load_explicit(&pool.done, memory_order_acquire) < n_tasks;) {
        if (++spins < 4096) cpu_relax();
        else sched_yield();
    }
    atomic_flag_clear(&pool.busy);
}

__attribute__((destructor)) static void stop_workers(void)
{
    if (pool.started == 0) return;
    pthread_mutex_lock(&pool.lock);
    atomic_store(&pool.quit, true);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < pool.started; i++) pthread_join(pool.tid[i], NULL);
    pool.started = 0;
}
