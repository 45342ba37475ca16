/* Solution 3: cross entropy, mean over N.
 * ℓ_i = −x[i][t_i] + log Σ_c e^(x[i][c]), so ∂ℓ_i/∂x[i][c] = p[i][c] − [c = t_i]
 * (p the softmax), and the mean divides by N: dx += g·(p − onehot)/N. */
#include "../exercises.h"

#include <math.h>

int ex_cross_entropy(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *grads,
                     void *ctx)
{
    (void)n;
    const int64_t N = in[0]->shape[0], C = in[0]->shape[1];
    const tg_real *x = in[0]->data;
    const int64_t *t = ((const ex_labels *)ctx)->target;
    const double g = out->grad[0];
    tg_real *dx = grads[0];
    for (int64_t i = 0; i < N; i++) {
        const tg_real *row = x + i * C;
        double m = row[0], s = 0;
        for (int64_t c = 1; c < C; c++) m = row[c] > m ? row[c] : m;
        for (int64_t c = 0; c < C; c++) s += exp((double)row[c] - m);
        for (int64_t c = 0; c < C; c++) {
            double p = exp((double)row[c] - m) / s;
            dx[i * C + c] += (tg_real)(g * (p - (c == t[i])) / (double)N);
        }
    }
    return TG_OK;
}
