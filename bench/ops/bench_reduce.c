/* bench_reduce: the reductions over a large tensor against a plain loop.

   x is [ROWS, COLS] (default 2048 × 2048, 16 MiB of floats). For each of
   sum, mean, amax, logsumexp, var, std, prod, norm (p = 2, 1, 3, 1.5, ∞), max with
   its index (tg_max_dim; tg_max over all), argmax and cumsum (a scan: over
   all, along the flattened x; against the plain scan below, which writes
   each running sum), over every element ("all"), along
   axis 1 (one result per row) and along axis 0 (one per column), it times
   the forward pass (no gradient recorded) and a plain summation loop over
   the same data in the same run:
       all      s += x[i]                           (one float accumulator)
       axis 1   s += x[r, c] per row
       axis 0   y[c] += x[r, c], row after row
   and prints the median times and their ratio op / plain. The goal is a
   ratio within 2: an accurate reduction (sums in double) costing at most
   twice the naive float loop over the same memory.

   usage: bench_reduce [--rows R] [--cols C] [--reps N] [--csv] */
#define _POSIX_C_SOURCE 200809L
#include <tapegrad.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_stats.h"

enum { MAX_REPS = 501 };
enum { AXIS_ALL, AXIS_1, AXIS_0 };
static const char *const axis_name[] = {"all", "axis 1", "axis 0"};

static volatile double sink; /* keeps the plain loops' results alive */

/* The plain loop: the naive float sums of the same shape of reduction. */
static void plain(const tg_real *x, tg_real *y, int64_t rows, int64_t cols, int axis)
{
    if (axis == AXIS_ALL) {
        tg_real s = 0;
        for (int64_t i = 0; i < rows * cols; i++) s += x[i];
        y[0] = s;
    } else if (axis == AXIS_1) {
        for (int64_t r = 0; r < rows; r++) {
            tg_real s = 0;
            for (int64_t c = 0; c < cols; c++) s += x[r * cols + c];
            y[r] = s;
        }
    } else {
        for (int64_t c = 0; c < cols; c++) y[c] = 0;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) y[c] += x[r * cols + c];
    }
    sink = (double)y[0];
}

/* The plain loop of a scan (cumsum): a float running sum, each value
   written out, as a user would write it: along the flattened x for all,
   along each row, or each row added to the previous row's sums. */
static void plain_scan(const tg_real *x, tg_real *out, int64_t rows, int64_t cols, int axis)
{
    if (axis == AXIS_0) {
        for (int64_t c = 0; c < cols; c++) out[c] = x[c];
        for (int64_t r = 1; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) out[r * cols + c] = out[(r - 1) * cols + c] + x[r * cols + c];
    } else {
        int64_t len = axis == AXIS_ALL ? rows * cols : cols;
        for (int64_t r0 = 0; r0 < rows * cols; r0 += len) {
            tg_real s = 0;
            for (int64_t i = r0; i < r0 + len; i++) out[i] = s += x[i];
        }
    }
    sink = (double)out[rows * cols - 1];
}

/* Each op on the tape; false if it failed. It leaves a value of its result
   in sink. axis is TG_ALL, 1 or 0. */
typedef bool (*reduce_fn)(tg_tape *t, tg_tensor *x, int axis);
static bool keep(const tg_tensor *y)
{
    if (y) sink = (double)y->data[0];
    return y != NULL;
}
static bool r_sum(tg_tape *t, tg_tensor *x, int axis) { return keep(tg_sum(t, x, axis, false)); }
static bool r_mean(tg_tape *t, tg_tensor *x, int axis) { return keep(tg_mean(t, x, axis, false)); }
static bool r_amax(tg_tape *t, tg_tensor *x, int axis) { return keep(tg_amax(t, x, axis, false)); }
static bool r_lse(tg_tape *t, tg_tensor *x, int axis) { return keep(tg_logsumexp(t, x, axis, false)); }
static bool r_var(tg_tape *t, tg_tensor *x, int axis)
{
    return keep(tg_var(t, x, axis, TG_VAR_CORRECTION, false));
}
static bool r_std(tg_tape *t, tg_tensor *x, int axis)
{
    return keep(tg_std(t, x, axis, TG_VAR_CORRECTION, false));
}
static bool r_prod(tg_tape *t, tg_tensor *x, int axis) { return keep(tg_prod(t, x, axis, false)); }
static bool r_norm2(tg_tape *t, tg_tensor *x, int axis) { return keep(tg_norm(t, x, 2, axis, false)); }
static bool r_norm1(tg_tape *t, tg_tensor *x, int axis) { return keep(tg_norm(t, x, 1, axis, false)); }
static bool r_norm3(tg_tape *t, tg_tensor *x, int axis) { return keep(tg_norm(t, x, 3, axis, false)); }
static bool r_norm15(tg_tape *t, tg_tensor *x, int axis) { return keep(tg_norm(t, x, 1.5, axis, false)); }
static bool r_norm13(tg_tape *t, tg_tensor *x, int axis)
{
    return keep(tg_norm(t, x, 1.3, axis, false));
}
static bool r_norminf(tg_tape *t, tg_tensor *x, int axis)
{
    return keep(tg_norm(t, x, INFINITY, axis, false));
}
static bool r_min(tg_tape *t, tg_tensor *x, int axis)
{
    tg_index *ix = NULL;
    tg_tensor *y = axis == TG_ALL ? tg_min(t, x, axis, false) : tg_min_dim(t, x, axis, false, &ix);
    return keep(y) && (axis == TG_ALL || ix != NULL);
}
/* the maximum with its index: tg_max_dim along an axis, tg_max over all */
static bool r_max(tg_tape *t, tg_tensor *x, int axis)
{
    tg_index *ix = NULL;
    tg_tensor *y = axis == TG_ALL ? tg_max(t, x, axis, false) : tg_max_dim(t, x, axis, false, &ix);
    return keep(y) && (axis == TG_ALL || ix != NULL);
}
static bool r_argmax(tg_tape *t, tg_tensor *x, int axis)
{
    tg_index *ix = tg_argmax(t, x, axis, false);
    if (ix) sink = (double)ix->data[0];
    return ix != NULL;
}
/* cumsum over all: along axis 1 of the flattened x */
static bool r_cumsum(tg_tape *t, tg_tensor *x, int axis)
{
    if (axis == TG_ALL) x = tg_tensor_wrap(t, TG_SHAPE(x->size), x->data); /* no copy */
    if (!x) return false;
    return keep(tg_cumsum(t, x, axis == TG_ALL ? 0 : axis));
}
static bool r_cumprod(tg_tape *t, tg_tensor *x, int axis)
{
    if (axis == TG_ALL) x = tg_tensor_wrap(t, TG_SHAPE(x->size), x->data);
    if (!x) return false;
    return keep(tg_cumprod(t, x, axis == TG_ALL ? 0 : axis));
}

static const struct {
    const char *name;
    reduce_fn fn;
    bool scan; /* against the plain scan, which writes every running sum */
} ops[] = {{"sum", r_sum, false},           {"mean", r_mean, false},
           {"amax", r_amax, false},         {"logsumexp", r_lse, false},
           {"var", r_var, false},           {"std", r_std, false},
           {"prod", r_prod, false},         {"norm p=2", r_norm2, false},
           {"norm p=1", r_norm1, false},    {"norm p=3", r_norm3, false},
           {"norm p=1.5", r_norm15, false},   {"norm p=1.3", r_norm13, false},
           {"norm p=inf", r_norminf, false}, {"max+index", r_max, false},
           {"min+index", r_min, false},     {"argmax", r_argmax, false},
           {"cumsum", r_cumsum, true},      {"cumprod", r_cumprod, true}};

int main(int argc, char **argv)
{
    int64_t rows = 2048, cols = 2048;
    int reps = 31;
    bool csv = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc) rows = atoll(argv[++i]);
        else if (strcmp(argv[i], "--cols") == 0 && i + 1 < argc) cols = atoll(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--csv") == 0) csv = true;
        else {
            fprintf(stderr, "usage: %s [--rows R] [--cols C] [--reps N] [--csv]\n", argv[0]);
            return 2;
        }
    }
    if (rows < 1) rows = 1;
    if (cols < 1) cols = 1;
    if (reps < 1) reps = 1;
    if (reps > MAX_REPS) reps = MAX_REPS;
    tg_tape *t = tg_tape_new();
    tg_real *y = malloc((size_t)(rows > cols ? rows : cols) * sizeof(tg_real));
    if (!t || !y) return 1;
    /* the data, kept off the tape so that every repetition can reset it */
    tg_real *data = malloc((size_t)(rows * cols) * sizeof(tg_real));
    tg_real *scan_out = malloc((size_t)(rows * cols) * sizeof(tg_real));
    if (!data || !scan_out) return 1;
    uint64_t s = 1;
    for (int64_t i = 0; i < rows * cols; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        data[i] = (tg_real)((double)(s >> 11) * 0x1p-53 * 2 - 1);
    }
    static double op_t[MAX_REPS], plain_t[MAX_REPS];
    if (csv) printf("op,axis,rows,cols,op_ms,plain_ms,ratio\n");
    else
        printf("bench_reduce: [%lld, %lld] %s, median of %d (op = forward, no gradient)\n",
               (long long)rows, (long long)cols, tg_real_name(), reps);
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
        for (int axis = AXIS_ALL; axis <= AXIS_0; axis++) {
            int a = axis == AXIS_ALL ? TG_ALL : axis == AXIS_1 ? 1 : 0;
            for (int r = -2; r < reps; r++) { /* 2 warm-up rounds */
                tg_tape_reset(t);
                tg_tensor *x = tg_tensor_wrap(t, TG_SHAPE(rows, cols), data);
                double t0 = now();
                bool ok = ops[k].fn(t, x, a);
                double t1 = now();
                if (ops[k].scan)
                    plain_scan(data, scan_out, rows, cols, axis);
                else
                    plain(data, y, rows, cols, axis);
                double t2 = now();
                if (!ok) {
                    fprintf(stderr, "bench_reduce: %s: %s\n", ops[k].name, tg_tape_error(t));
                    return 1;
                }
                if (r >= 0) op_t[r] = (t1 - t0) * 1e3, plain_t[r] = (t2 - t1) * 1e3;
            }
            qsort(op_t, (size_t)reps, sizeof(double), cmp_double);
            qsort(plain_t, (size_t)reps, sizeof(double), cmp_double);
            double mo = op_t[reps / 2], mp = plain_t[reps / 2];
            if (csv)
                printf("%s,%s,%lld,%lld,%.4f,%.4f,%.3f\n", ops[k].name, axis_name[axis],
                       (long long)rows, (long long)cols, mo, mp, mo / mp);
            else
                printf("%-10s %-7s %9.3f ms   plain loop %9.3f ms   ratio %5.2f%s\n",
                       ops[k].name, axis_name[axis], mo, mp, mo / mp, mo / mp > 2 ? "  (> 2)" : "");
        }
    free(data);
    free(scan_out);
    free(y);
    tg_tape_free(t);
    return 0;
}
