/* bench_overhead: the cost of one recorded op when the tensors are tiny.

   A chain of UNITS units of four ops on [4]-element tensors,
       y = tanh(y·a + b) − c          (mul, add, tanh, sub)
   from a leaf x that requires grad, then sum and backward. Reports forward,
   backward and total nanoseconds per op (the sum counts as one op), median of
   the repetitions. bench/torch_overhead.py runs the same chain in PyTorch.

   usage: bench_overhead [--units U] [--reps R] [--csv] */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../bench_stats.h"

enum { MAX_REPS = 1001 };

int main(int argc, char **argv)
{
    int units = 250, reps = 201;
    bool csv = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--units") == 0 && i + 1 < argc) units = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--csv") == 0) csv = true;
        else {
            fprintf(stderr, "usage: %s [--units U] [--reps R] [--csv]\n", argv[0]);
            return 2;
        }
    }
    if (units < 1) units = 1;
    if (reps < 1) reps = 1;
    if (reps > MAX_REPS) reps = MAX_REPS;
    const tg_real xs[4] = {0.1f, -0.2f, 0.3f, 0.4f}, as[4] = {0.9f, 1.1f, 0.8f, 1.2f},
                  bs[4] = {0.01f, 0.02f, -0.03f, 0.04f}, cs[4] = {0.001f, 0, -0.002f, 0.003f};
    tg_tape *t = tg_tape_new();
    if (!t) return 1;
    int64_t n_ops = 4 * (int64_t)units + 1;
    static double fwd[MAX_REPS], bwd[MAX_REPS], tot[MAX_REPS];
    double check = 0;
    for (int r = -5; r < reps; r++) { /* 5 warm-up rounds size the arena */
        double t0 = now();
        tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(4), xs), true);
        tg_tensor *a = tg_tensor_new(t, TG_SHAPE(4), as);
        tg_tensor *b = tg_tensor_new(t, TG_SHAPE(4), bs);
        tg_tensor *c = tg_tensor_new(t, TG_SHAPE(4), cs);
        tg_tensor *y = x;
        for (int u = 0; u < units; u++) y = tg_sub(t, tg_tanh(t, tg_add(t, tg_mul(t, y, a), b)), c);
        tg_tensor *loss = tg_sum(t, y, TG_ALL, false);
        double t1 = now();
        if (!loss || tg_backward(t, loss) != TG_OK) {
            fprintf(stderr, "bench_overhead: %s\n", tg_tape_error(t));
            return 1;
        }
        double t2 = now();
        check = (double)x->grad[0];
        tg_tape_reset(t);
        if (r >= 0) {
            fwd[r] = (t1 - t0) / (double)n_ops * 1e9;
            bwd[r] = (t2 - t1) / (double)n_ops * 1e9;
            tot[r] = (t2 - t0) / (double)n_ops * 1e9;
        }
    }
    qsort(fwd, (size_t)reps, sizeof(double), cmp_double);
    qsort(bwd, (size_t)reps, sizeof(double), cmp_double);
    qsort(tot, (size_t)reps, sizeof(double), cmp_double);
    double f = fwd[reps / 2], b = bwd[reps / 2], s = tot[reps / 2];
    if (csv)
        printf("overhead,tapegrad,%lld,%.1f,%.1f,%.1f\n", (long long)n_ops, f, b, s);
    else
        printf("bench_overhead: %s, chain of %lld ops on [4] tensors, median of %d runs\n"
               "forward %.1f ns/op, backward %.1f ns/op, total %.1f ns/op (dx[0] = %.6g)\n",
               tg_real_name(), (long long)n_ops, reps, f, b, s, check);
    tg_tape_free(t);
    return 0;
}
