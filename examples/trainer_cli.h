/* trainer_cli.h: what the MNIST trainers (mnist_mlp.c, mnist_cnn.c) share
   on the command line: parsing numbers, the clock, and the progress bar.
   Copy it with the program. */
#ifndef TG_EXAMPLE_TRAINER_CLI_H
#define TG_EXAMPLE_TRAINER_CLI_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* An integer in [lo, hi], the whole of s; false otherwise. */
static inline bool parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* Seconds on a monotonic clock. */
static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Redraws the epoch's progress line on a terminal: a bar of the batches
   done, the running loss, samples/s and the time left. */
static inline void progress(int epoch, int epochs, int64_t done, int64_t total, double loss,
                            double rate, double eta)
{
    const int width = 24;
    int fill = total ? (int)(width * done / total) : width;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[width] = 0;
    printf("\repoch %d/%d [%s] %lld/%lld  loss %.4f  %.0f samples/s  ETA %.1fs \033[K", epoch,
           epochs, bar, (long long)done, (long long)total, loss, rate, eta);
    fflush(stdout);
}

#endif
