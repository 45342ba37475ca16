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

   Beside the parallel job there is one background job, for work whose
   result is wanted later (a dataset converts its next batch in it while the
   caller trains on this one): a worker that has no parallel task takes one
   background task at a time, and looks at the job word again between them,
   so a parallel job waits at most one background task for it. The thread
   that posted the background job takes whatever tasks are left when it
   wants the result, and waits only for tasks already running.

   Workers start on the first parallel job (the only allocation, once) and
   are joined when the library is unloaded; a fork()ed child starts afresh.
   One job at a time: a second caller (another user thread, or a task
   itself) runs its tasks inline. */
#define _POSIX_C_SOURCE 200809L
#include "gemm/gemm.h"


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

/* A job: its word, the tasks finished, and what to run (valid for a task
   that was claimed). */
struct job {
    _Atomic uint64_t word;
    atomic_int done;
    tg_task_fn fn;
    void *ctx;
};

static struct {
    atomic_int want;     /* threads asked for, 0 until first read */
    atomic_int started;  /* workers running (written under start_lock) */
    atomic_bool failed;  /* no worker could be started: stay serial */
    pthread_t tid[TG_MAX_THREADS];
    long spin_ns;

    atomic_flag busy;    /* a parallel job is being posted or run */
    struct job job;      /* the parallel job */
    atomic_flag bg_busy; /* the background job is posted and not yet waited for */
    struct job bg;       /* the background job */
    bool bg_lost;        /* in a child of fork(): the posted background job is gone */
    atomic_int sleepers; /* workers waiting on `wake` */
    atomic_bool quit;
    pthread_mutex_t lock;
    pthread_cond_t wake;
} pool = {.busy = ATOMIC_FLAG_INIT,
          .bg_busy = ATOMIC_FLAG_INIT,
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
    if (!s || !*s) return 1;
    char *end;
    long n = strtol(s, &end, 10);
    if (*end || n < 1 || n > TG_MAX_THREADS) {
        char range[32];
        snprintf(range, sizeof range, "1 to %d", TG_MAX_THREADS);
        tg_warn_env("TG_NUM_THREADS", s, "1", range);
        return 1;
    }
    return (int)n;
}

int tg_threads_count(void)
{
    int n = atomic_load_explicit(&pool.want, memory_order_relaxed);
    if (n) return n;
    int want = env_threads(), unset = 0;
    /* a tg_set_num_threads that came first wins */
    if (!atomic_compare_exchange_strong(&pool.want, &unset, want)) return unset;
    return want;
}

int tg_set_num_threads(int n)
{
    if (n < 1 || n > TG_MAX_THREADS)
        return tg_set_error(TG_ERR_INVALID, "tg_set_num_threads: %d is out of range [1, %d]", n,
                            TG_MAX_THREADS);
    atomic_store_explicit(&pool.want, n, memory_order_relaxed);
    return TG_OK;
}

int tg_get_num_threads(void) { return tg_threads_count(); }

/* Claims and runs tasks of generation `gen` of job j until none is left or
   `max` have run; returns how many ran. */
static int take_tasks(struct job *j, uint32_t gen, int max)
{
    int ran = 0;
    uint64_t w = atomic_load_explicit(&j->word, memory_order_acquire);
    while (ran < max) {
        if (JOB_GEN(w) != gen || JOB_NEXT(w) >= JOB_N(w)) break;
        if (!atomic_compare_exchange_weak_explicit(&j->word, &w, w + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* w now holds the current word */
        j->fn(j->ctx, JOB_NEXT(w));
        atomic_fetch_add_explicit(&j->done, 1, memory_order_release);
        ran++;
        w = atomic_load_explicit(&j->word, memory_order_acquire);
    }
    return ran;
}

static bool background_left(void)
{
    uint64_t w = atomic_load_explicit(&pool.bg.word, memory_order_acquire);
    return JOB_NEXT(w) < JOB_N(w);
}

/* Runs one task of the background job, if one is left. */
static bool take_background(void)
{
    uint64_t w = atomic_load_explicit(&pool.bg.word, memory_order_acquire);
    return JOB_NEXT(w) < JOB_N(w) && take_tasks(&pool.bg, JOB_GEN(w), 1) > 0;
}

static uint32_t job_gen(void)
{
    return JOB_GEN(atomic_load_explicit(&pool.job.word, memory_order_acquire));
}

static void *worker(void *arg)
{
    (void)arg;
    uint32_t seen = job_gen();
    for (;;) {
        /* spin for a while (taking background tasks), then sleep until the
           generation moves or a background job comes */
        long t0 = now_ns();
        uint32_t g;
        int spins = 0;
        while ((g = job_gen()) == seen && !atomic_load_explicit(&pool.quit, memory_order_relaxed)) {
            if (take_background()) {
                t0 = now_ns();
                spins = 0;
                continue;
            }
            cpu_relax();
            if (++spins == 256) {
                /* give the core away if something else (maybe the caller,
                   on a busy machine) is waiting for it */
                spins = 0;
                sched_yield();
                if (now_ns() - t0 > pool.spin_ns) break;
            }
        }
        if (g == seen && !atomic_load(&pool.quit)) {
            pthread_mutex_lock(&pool.lock);
            atomic_fetch_add(&pool.sleepers, 1); /* seq_cst: pairs with the posts */
            while ((g = JOB_GEN(atomic_load(&pool.job.word))) == seen && !background_left() &&
                   !atomic_load(&pool.quit))
                pthread_cond_wait(&pool.wake, &pool.lock);
            atomic_fetch_sub(&pool.sleepers, 1);
            pthread_mutex_unlock(&pool.lock);
        }
        if (atomic_load(&pool.quit)) return NULL;
        if (g == seen) continue; /* woken for the background job */
        seen = g;
        take_tasks(&pool.job, g, MAX_TASKS);
    }
}

/* In a child of fork() the workers are gone: start afresh on the next job. */
static void after_fork_child(void)
{
    pool.started = 0;
    pool.failed = false;
    atomic_flag_clear(&pool.busy);
    /* a background job posted before the fork may have had a task running
       in a worker, which the child does not have */
    uint64_t w = atomic_load(&pool.bg.word);
    if (JOB_NEXT(w) < JOB_N(w) || atomic_load(&pool.bg.done) < JOB_N(w)) {
        pool.bg_lost = true;
        atomic_store(&pool.bg.word, JOB(JOB_GEN(w) + 1, 0, 0)); /* nothing left to take */
    }
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

/* Whether workers run (starting them if need be), for `want` threads. */
static bool have_workers(int want)
{
    if (pool.started < want - 1 && !pool.failed) start_workers(want);
    return pool.started > 0;
}

/* Posts job j with n_tasks, the first `claimed` of them already taken by
   the poster, and wakes sleeping workers. seq_cst: pairs with the sleepers
   count. */
static void post(struct job *j, int n_tasks, int claimed, tg_task_fn fn, void *ctx)
{
    j->fn = fn;
    j->ctx = ctx;
    atomic_store_explicit(&j->done, 0, memory_order_relaxed);
    uint32_t gen = (JOB_GEN(atomic_load(&j->word)) + 1) & 0xFFFFFF;
    atomic_store(&j->word, JOB(gen, n_tasks, claimed));
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
}

/* Takes the tasks of job j that are left, then waits for those that
   workers still run; yields after a while, so that on a busy machine a
   worker waiting for a core can have this one. */
static void finish(struct job *j)
{
    uint64_t w = atomic_load(&j->word);
    take_tasks(j, JOB_GEN(w), MAX_TASKS);
    for (int spins = 0; atomic_load_explicit(&j->done, memory_order_acquire) < JOB_N(w);) {
        if (++spins < 4096) cpu_relax();
        else sched_yield();
    }
}

void tg_parallel_run(int n_tasks, tg_task_fn fn, void *ctx)
{
    int want = tg_threads_count();
    if (n_tasks <= 1 || n_tasks > MAX_TASKS || want <= 1 || atomic_flag_test_and_set(&pool.busy)) {
        for (int i = 0; i < n_tasks; i++) fn(ctx, i);
        return;
    }
    if (!have_workers(want)) {
        atomic_flag_clear(&pool.busy);
        for (int i = 0; i < n_tasks; i++) fn(ctx, i);
        return;
    }
    /* Workers beyond want-1 (after tg_set_num_threads lowered it) still
       help; that only changes who runs a task, never the result. The
       caller claims task 0 in the word it posts and runs it first: the same
       thread gets the same task of a repeated job (see tg_gemm), and the
       workers take the others. */
    post(&pool.job, n_tasks, 1, fn, ctx);
    fn(ctx, 0);
    atomic_fetch_add_explicit(&pool.job.done, 1, memory_order_release);
    finish(&pool.job);
    atomic_flag_clear(&pool.busy);
}

typedef struct {
    tg_range_fn fn;
    void *ctx;
    int64_t n, h;
} halves_job;

static void halves_task(void *ctx, int t)
{
    const halves_job *j = ctx;
    j->fn(j->ctx, t ? j->h : 0, t ? j->n : j->h);
}

void tg_run_halves(int64_t n, int64_t align, bool split, tg_range_fn fn, void *ctx)
{
    if (!split || n < 2 || tg_threads_count() < 2) {
        fn(ctx, 0, n);
        return;
    }
    int64_t h = (n + 1) / 2;
    if (align > 1) h = (h + align - 1) / align * align;
    halves_job j = {fn, ctx, n, h < n ? h : n};
    tg_parallel_run(2, halves_task, &j);
}

bool tg_background_post(int n_tasks, tg_task_fn fn, void *ctx)
{
    int want = tg_threads_count();
    if (n_tasks < 1 || n_tasks > MAX_TASKS || want <= 1 || atomic_flag_test_and_set(&pool.bg_busy))
        return false;
    if (!have_workers(want)) {
        atomic_flag_clear(&pool.bg_busy);
        return false;
    }
    post(&pool.bg, n_tasks, 0, fn, ctx);
    return true;
}

bool tg_background_wait(void)
{
    bool whole = !pool.bg_lost;
    if (whole) finish(&pool.bg);
    pool.bg_lost = false;
    atomic_flag_clear(&pool.bg_busy);
    return whole;
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
