/* What the benchmarks of bench/core, bench/gemm and bench/ops share: the
   monotonic clock (a program with a clock of its own defines
   BENCH_OWN_CLOCK first) and the median of a set of times (sorted in
   place). */
#ifndef TG_BENCH_STATS_H
#define TG_BENCH_STATS_H

#include <stdlib.h>
#include <time.h>

#ifndef BENCH_OWN_CLOCK /* bench_gemm reads the thread's CPU time by default */
static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#endif
