/* Accurate sums, for every reduction of the library, forward and backward.

   Adding n floats one after the other in float loses about n·2⁻²⁴ of the
   sum in the worst case (2^20 values near 0.1: 0.6%). Here every sum runs
   in double and in two levels: blocks of TG_SUM_BLOCK terms are added (a
   contiguous block in eight interleaved running sums), then the blocks'
   sums are added; the float build's column sums (tg_sum_rows) keep one
   double per column, which is already far more than the result needs. In
   a float build the result is then the correctly rounded sum but for the
   rarest cases (double carries 29 more bits than the result needs); in a
   double build the error grows with √(n/B)+B rather than n (PyTorch's
   float32 and float64 sums are cascaded the same way). The cost is a
   conversion per element: the loops still vectorise, and the reductions
   stay bound by memory. */
#include "ops/ops_internal.h"

#define TG_SUM_BLOCK 128 /* terms per first-level block */

/* Columns summed at once by tg_sum_rows: wide enough that each row's piece
   is a page or more of contiguous memory (the prefetcher restarts at every
   jump to the next row; 256 columns ran the axis-0 sum of a 2048 × 2048
   float tensor at 2.3 times a plain loop's time, 2048 at 1.6), while the
   accumulators stay 16 KiB on the stack. A float build adds each column in
   one double (exact to 2⁻⁵³ per term, far below the result's rounding, so
   blocks would change nothing); a double build adds in blocks. */
#ifdef TG_DOUBLE
#define TG_SUM_COLS 1024
#else
#define TG_SUM_COLS 2048
#endif

/* Σ x[k] for k < n (n ≤ TG_SUM_BLOCK) in eight running sums of every
   eighth term, added pairwise at the end: independent chains, so that the
   loop vectorises and runs at the adder's throughput rather than its
   latency (one chain took four cycles a term) */
TG_VECTOR_LOOP static double block_sum(const tg_real *restrict x, int64_t n)
{
    double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) p[j] += (double)x[k + j];
    for (; k < n; k++) p[k & 7] += (double)x[k];
    return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

double tg_sum_strided(const tg_real *x, int64_t n, int64_t stride)
{
    double total = 0;
    if (stride == 1) {
        for (int64_t b = 0; b < n; b += TG_SUM_BLOCK)
            total += block_sum(x + b, b + TG_SUM_BLOCK < n ? TG_SUM_BLOCK : n - b);
        return total;
    }
    for (int64_t b = 0; b < n; b += TG_SUM_BLOCK) {
        int64_t e = b + TG_SUM_BLOCK < n ? b + TG_SUM_BLOCK : n;
        double s = 0;
        for (int64_t k = b; k < e; k++) s += (double)x[k * stride];
        total += s;
    }
    return total;
}

TG_VECTOR_LOOP static void add_row(double *restrict acc, const tg_real *restrict x, int64_t m)
{
    for (int64_t i = 0; i < m; i++) acc[i] += (double)x[i];
}

/* acc[i] += Σ_k x[k·stride + i] for k < 4: four rows at a time, so that
   the accumulators are read and written a quarter as often */
TG_VECTOR_LOOP static void add_rows4(double *restrict acc, const tg_real *restrict x,
                                     int64_t stride, int64_t m)
{
    const tg_real *x1 = x + stride, *x2 = x1 + stride, *x3 = x2 + stride;
    for (int64_t i = 0; i < m; i++)
        acc[i] += ((double)x[i] + (double)x1[i]) + ((double)x2[i] + (double)x3[i]);
}

void tg_sum_add_rows(double *acc, const tg_real *x, int64_t rows, int64_t stride, int64_t m)
{
    int64_t k = 0;
    for (; k + 4 <= rows; k += 4) add_rows4(acc, x + k * stride, stride, m);
    for (; k < rows; k++) add_row(acc, x + k * stride, m);
}

void tg_sum_rows(tg_real *y, const tg_real *x, int64_t rows, int64_t m, int64_t stride,
                 double scale, bool add)
{
    double total[TG_SUM_COLS];
#ifdef TG_DOUBLE
    double block[TG_SUM_COLS];
#endif
    for (int64_t c0 = 0; c0 < m; c0 += TG_SUM_COLS) {
        int64_t w = c0 + TG_SUM_COLS < m ? TG_SUM_COLS : m - c0;
        for (int64_t i = 0; i < w; i++) total[i] = 0;
#ifdef TG_DOUBLE
        for (int64_t b = 0; b < rows; b += TG_SUM_BLOCK) {
            int64_t e = b + TG_SUM_BLOCK < rows ? b + TG_SUM_BLOCK : rows;
            for (int64_t i = 0; i < w; i++) block[i] = 0;
            tg_sum_add_rows(block, x + b * stride + c0, e - b, stride, w);
            for (int64_t i = 0; i < w; i++) total[i] += block[i];
        }
#else
        tg_sum_add_rows(total, x + c0, rows, stride, w);
#endif
        for (int64_t i = 0; i < w; i++) {
            tg_real v = (tg_real)(scale * total[i]);
            y[c0 + i] = add ? y[c0 + i] + v : v;
        }
    }
}
