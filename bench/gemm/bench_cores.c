/* bench_cores: what it costs to move data between the machine's first two
   CPUs, the cost that the two-thread training step pays at every layer.

   - line: one cache line bounced between the two CPUs (each waits for the
     other's write, then writes back); nanoseconds one way, median of the
     repetitions of ROUND_TRIPS round trips.
   - layer: ReLU over a [64, 500] float matrix (the demo network's first
     layer, batch 64) of which the other CPU has just written
       the right half (columns 250-499 of every row), as the worker's half
       of a product split along the layer's features leaves it, or
       the bottom half (rows 32-63), as a split along the batch would;
     microseconds, against the same pass when this CPU wrote all of it.

   A virtual machine does not show whether its two CPUs share a cache; these
   figures do. docs/speed.md ("Two threads on this machine") reads them.

   usage: bench_cores [--reps R] [--csv]
   csv:   cores,cpu_a,cpu_b,line_ns,layer_us_cols,layer_us_rows,layer_us_local,cols_ratio */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_stats.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

enum { ROUND_TRIPS = 20000, PASSES = 400, ROWS = 64, COLS = 500, MAX_REPS = 101 };

/* The turn word, on a line of its own: odd = the other CPU's turn. */
static _Alignas(64) atomic_long turn;
static int cpu_b;   /* the other CPU */
static long rounds; /* handed over per repetition */
static float *y;    /* [ROWS, COLS], written partly by CPU a, partly by b */

/* What CPU b writes of y (the rest is CPU a's). */
typedef enum { NOTHING, RIGHT_HALF, BOTTOM_HALF } part;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e9 * (double)ts.tv_sec + (double)ts.tv_nsec;
}

static cpu_set_t only(int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    return s;
}

static void wait_turn(long want)
{
    while (atomic_load_explicit(&turn, memory_order_acquire) != want) cpu_relax();
}

/* Rows [r0, r1) by columns [c0, c1) get values that depend on the pass, so
   that no pass can be skipped. */
static void write_block(int r0, int r1, int c0, int c1, long pass)
{
    for (int i = r0; i < r1; i++)
        for (int j = c0; j < c1; j++) y[i * COLS + j] = (float)((i + j + pass) % 5) - 2;
}

/* Writes CPU a's (mine = true) or CPU b's part of y. */
static void write_part(part p, bool mine, long pass)
{
    if (p == RIGHT_HALF) {
        if (mine) write_block(0, ROWS, 0, COLS / 2, pass);
        else write_block(0, ROWS, COLS / 2, COLS, pass);
    } else if (p == BOTTOM_HALF) {
        if (mine) write_block(0, ROWS / 2, 0, COLS, pass);
        else write_block(ROWS / 2, ROWS, 0, COLS, pass);
    }
}

static void relu(float *restrict h, const float *restrict x)
{
    for (int k = 0; k < ROWS * COLS; k++) h[k] = x[k] > 0 ? x[k] : 0;
}

/* CPU b: on each of its turns, writes its part of y (if any), then hands
   the line back. */
static void *other(void *arg)
{
    part p = *(const part *)arg;
    for (long r = 0; r < rounds; r++) {
        wait_turn(2 * r + 1);
        write_part(p, false, r);
        atomic_store_explicit(&turn, 2 * r + 2, memory_order_release);
    }
    return NULL;
}

/* One repetition with CPU b running alongside: the mean one-way time of a
   line (p = NOTHING), or the mean time of ReLU over y after b has written
   its part p. */
static double with_other(part p, float *h)
{
    bool write = p != NOTHING;
    rounds = write ? PASSES : ROUND_TRIPS;
    atomic_store(&turn, 0);
    /* started on CPU b, or not at all */
    pthread_attr_t attr;
    cpu_set_t b = only(cpu_b);
    pthread_t t;
    if (pthread_attr_init(&attr) != 0) return -1;
    int rc = pthread_attr_setaffinity_np(&attr, sizeof b, &b);
    if (rc == 0) rc = pthread_create(&t, &attr, other, &p);
    pthread_attr_destroy(&attr);
    if (rc != 0) return -1;
    double spent = 0, t0 = now_ns();
    for (long r = 0; r < rounds; r++) {
        write_part(p, true, r);
        atomic_store_explicit(&turn, 2 * r + 1, memory_order_release);
        wait_turn(2 * r + 2);
        if (write) {
            double a = now_ns();
            relu(h, y);
            spent += now_ns() - a;
        }
    }
    double all = now_ns() - t0;
    pthread_join(t, NULL);
    return write ? spent / (double)rounds / 1e3 : all / (double)rounds / 2;
}

/* The same ReLU when this CPU wrote all of y. */
static double local_layer(float *h)
{
    double spent = 0;
    for (long r = 0; r < PASSES; r++) {
        write_block(0, ROWS, 0, COLS, r);
        double a = now_ns();
        relu(h, y);
        spent += now_ns() - a;
    }
    return spent / PASSES / 1e3;
}

int main(int argc, char **argv)
{
    int reps = 9;
    bool csv = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--csv") == 0) csv = true;
        else {
            fprintf(stderr, "usage: %s [--reps R] [--csv]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    if (reps > MAX_REPS) reps = MAX_REPS;

    cpu_set_t allowed;
    int cpus[2], found = 0;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
            if (CPU_ISSET(c, &allowed)) cpus[found++] = c;
    if (found < 2) {
        fprintf(stderr, "bench_cores: needs two CPUs, this process may use %d\n", found);
        return 1;
    }
    cpu_b = cpus[1];
    y = aligned_alloc(64, sizeof(float) * ROWS * COLS);
    float *h = aligned_alloc(64, sizeof(float) * ROWS * COLS);
    cpu_set_t a = only(cpus[0]);
    if (!y || !h || sched_setaffinity(0, sizeof a, &a) != 0) {
        fprintf(stderr, "bench_cores: %s\n", !y || !h ? "out of memory" : "cannot pin to a CPU");
        free(y);
        free(h);
        return 1;
    }
    static double line[MAX_REPS], cols[MAX_REPS], rows[MAX_REPS], local[MAX_REPS];
    int ok = 1;
    for (int r = 0; r < reps && ok; r++) { /* interleaved, so all see the same machine */
        line[r] = with_other(NOTHING, h);
        cols[r] = with_other(RIGHT_HALF, h);
        rows[r] = with_other(BOTTOM_HALF, h);
        local[r] = local_layer(h);
        ok = line[r] > 0 && cols[r] > 0 && rows[r] > 0;
    }
    free(y);
    free(h);
    if (!ok) {
        fprintf(stderr, "bench_cores: cannot start a thread on CPU %d\n", cpu_b);
        return 1;
    }
    double ln = median(line, reps), co = median(cols, reps), ro = median(rows, reps),
           lo = median(local, reps);
    if (csv) {
        printf("cores,%d,%d,%.1f,%.3f,%.3f,%.3f,%.3f\n", cpus[0], cpus[1], ln, co, ro, lo, co / lo);
    } else {
        printf("CPUs %d and %d, median of %d\n", cpus[0], cpus[1], reps);
        printf("  a cache line from one to the other: %.0f ns one way\n", ln);
        printf("  ReLU over [%d, %d] written by this CPU: %.2f us\n", ROWS, COLS, lo);
        printf("    its right half by the other CPU:  %.2f us (%.2fx)\n", co, co / lo);
        printf("    its bottom half by the other CPU: %.2f us (%.2fx)\n", ro, ro / lo);
    }
    return 0;
}
