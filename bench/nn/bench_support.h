/* What the training benchmarks share (bench/nn/bench_*.c): counting this
   program's heap allocations, the clock, resident memory, and random data
   shaped as (Fashion-)MNIST. Included by one file of each program: it
   defines malloc and friends. */
#ifndef TG_BENCH_SUPPORT_H
#define TG_BENCH_SUPPORT_H

#include <tapegrad.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- counting heap allocations: this program's malloc family wraps glibc's */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_long n_allocs;

void *malloc(size_t n)
{
    atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m)
{
    atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n)
{
    atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
    return __libc_realloc(p, n);
}
void *aligned_alloc(size_t a, size_t n)
{
    atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
    return __libc_memalign(a, n);
}
void *memalign(size_t a, size_t n)
{
    atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
    return __libc_memalign(a, n);
}
int posix_memalign(void **p, size_t a, size_t n)
{
    atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12; /* ENOMEM */
}
void free(void *p) { __libc_free(p); }

/* ---- clock, memory, data */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Resident memory now (not the peak), from /proc/self/statm; 0 if unknown. */
static double rss_now_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/* The peak resident memory of this program: VmHWM from /proc/self/status.
   Not getrusage's ru_maxrss: Linux carries that over from the parent across
   fork and exec, so under bench/run_bench.py it could never read below the
   Python runner's own size (about 13 MB). ru_maxrss only if /proc is absent. */
static double peak_rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    if (kb >= 0) return (double)kb / 1024.0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static tg_dataset *synthetic(int64_t n)
{
    uint8_t *img = __libc_malloc((size_t)n * 784), *lab = __libc_malloc((size_t)n);
    if (!img || !lab) return NULL;
    uint64_t s = 42;
    for (int64_t i = 0; i < n * 784; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        img[i] = (uint8_t)(s >> 56);
    }
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        lab[i] = (uint8_t)((s >> 33) % 10);
    }
    tg_dataset *d = tg_dataset_new(img, lab, n, 784);
    __libc_free(img);
    __libc_free(lab);
    return d;
}

#endif
