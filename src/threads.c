/* A small pool of worker threads for the library's own kernels.

     caller:  publish {fn, ctx, n_tasks}, bump the generation, wake sleepers,
              take tasks itself, spin until every task is done
     worker:  spin a little while on the generation (a training step issues
              GEMMs tens of microseconds apart), then sleep on a condition
              variable; take tasks with an atomic counter

   Workers start on the first parallel job (the only allocation, once) and
   are joined when the library is unloaded. One job at a time: a second
   caller (another user thread, or a task itself) runs its tasks inline. */
#define _POSIX_C_SOURCE 200809L
#include "tg_internal.h"
#include "tg_speed.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

static struct {
    int want;    /* threads asked for, 0 until first read */
    int started; /* workers running (threads - 1 at most) */
    bool failed; /* a worker could not be started: stay serial */
    pthread_t tid[TG_MAX_THREADS];

    atomic_flag busy;          /* a job is running */
    atomic_uint gen;           /* bumped once per job */
    atomic_int sleepers;       /* workers waiting on `wake` */
    atomic_bool quit;
    pthread_mutex_t lock;
    pthread_cond_t wake;

    /* the current job */
    tg_task_fn fn;
    void *ctx;
    int n_tasks;
    int n_workers;             /* workers that take part in this job */
    atomic_int next;           /* next task to take */
    atomic_int done;           /* tasks finished */
    atomic_int joined;         /* workers that saw this job */
    long spin_ns;
    unsigned start_gen;        /* the generation when workers were started */
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

static void take_tasks(void)
{
    int n = pool.n_tasks;
    for (;;) {
        int task = atomic_fetch_add_explicit(&pool.next, 1, memory_order_relaxed);
        if (task >= n) break;
        pool.fn(pool.ctx, task);
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
    }
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg; /* 1..started */
    unsigned seen = pool.start_gen; /* the job about to be posted is new to it */
    for (;;) {
        /* spin for a while, then sleep until the generation moves */
        long t0 = now_ns();
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&pool.quit, memory_order_relaxed)) {
            cpu_relax();
            if (++spins == 256) {
                spins = 0;
                if (now_ns() - t0 > pool.spin_ns) break;
            }
        }
        if (g == seen) {
            pthread_mutex_lock(&pool.lock);
            atomic_fetch_add(&pool.sleepers, 1);
            while ((g = atomic_load(&pool.gen)) == seen && !atomic_load(&pool.quit))
                pthread_cond_wait(&pool.wake, &pool.lock);
            atomic_fetch_sub(&pool.sleepers, 1);
            pthread_mutex_unlock(&pool.lock);
        }
        if (atomic_load(&pool.quit)) return NULL;
        seen = g;
        if (id <= pool.n_workers) take_tasks();
        atomic_fetch_add_explicit(&pool.joined, 1, memory_order_release);
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
    pool.start_gen = atomic_load(&pool.gen);
    while (!pool.failed && pool.started < want - 1) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, (size_t)4 << 20); /* the GEMM keeps its panels on the stack */
        int rc = pthread_create(&pool.tid[pool.started], &attr, worker,
                                (void *)(intptr_t)(pool.started + 1));
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
    if (n_tasks <= 1 || want <= 1 || atomic_flag_test_and_set(&pool.busy)) {
        for (int i = 0; i < n_tasks; i++) fn(ctx, i);
        return;
    }
    if (pool.started < want - 1 && !pool.failed) start_workers(want);
    int workers = pool.started < want - 1 ? pool.started : want - 1;
    if (workers == 0) {
        atomic_flag_clear(&pool.busy);
        for (int i = 0; i < n_tasks; i++) fn(ctx, i);
        return;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n_tasks = n_tasks;
    pool.n_workers = workers;
    atomic_store_explicit(&pool.next, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.joined, 0, memory_order_relaxed);
    atomic_fetch_add(&pool.gen, 1); /* seq_cst: pairs with the sleepers count */
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    take_tasks();
    /* every task done, and every worker past this job (so none reads the
       next job's fields half-written) */
    while (atomic_load_explicit(&pool.done, memory_order_acquire) < n_tasks ||
           atomic_load_explicit(&pool.joined, memory_order_acquire) < pool.started)
        cpu_relax();
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
