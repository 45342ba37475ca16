/* Accurate sums, for every reduction of the library, forward and backward.

   Adding n floats one after the other in float loses about n·2⁻²⁴ of the
   sum in the worst case (2^20 values near 0.1: 0.6%). Here every sum runs
   in double and in two levels: blocks of TG_SUM_BLOCK terms are added in
   order, then the blocks' sums are added. In a float build the result is
   then the correctly rounded sum but for the rarest cases (double carries
   29 more bits than the result needs); in a double build the error grows
   with √(n/B)+B rather than n (PyTorch's float32 and float64 sums are
   cascaded the same way). The cost is a conversion per element: the loops
   still vectorise, and the reductions stay bound by memory. */
#include "ops/ops_internal.h"

#define TG_SUM_BLOCK 128 /* terms per first-level block */
#define TG_SUM_COLS 256  /* columns summed at once by tg_sum_rows */

double tg_sum_strided(const tg_real *x, int64_t n, int64_t stride)
{
    double total = 0;
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

void tg_sum_rows(tg_real *y, const tg_real *x, int64_t rows, int64_t m, int64_t stride,
                 double scale, bool add)
{
    double total[TG_SUM_COLS], block[TG_SUM_COLS];
    for (int64_t c0 = 0; c0 < m; c0 += TG_SUM_COLS) {
        int64_t w = c0 + TG_SUM_COLS < m ? TG_SUM_COLS : m - c0;
        for (int64_t i = 0; i < w; i++) total[i] = 0;
        for (int64_t b = 0; b < rows; b += TG_SUM_BLOCK) {
            int64_t e = b + TG_SUM_BLOCK < rows ? b + TG_SUM_BLOCK : rows;
            for (int64_t i = 0; i < w; i++) block[i] = 0;
            for (int64_t k = b; k < e; k++) add_row(block, x + k * stride + c0, w);
            for (int64_t i = 0; i < w; i++) total[i] += block[i];
        }
        for (int64_t i = 0; i < w; i++) {
            tg_real v = (tg_real)(scale * total[i]);
            y[c0 + i] = add ? y[c0 + i] + v : v;
        }
    }
}
