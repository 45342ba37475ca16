/* Solution 4: linear.
 * x[n][i] reaches y[n][j] for every j with weight W[j][i]:  dx[n][i] = Σ_j g[n][j]·W[j][i]  (g·W)
 * W[j][i] reaches y[n][j] for every n with weight x[n][i]:  dW[j][i] = Σ_n g[n][j]·x[n][i]  (gᵀ·x)
 * b[j] reaches y[n][j] for every n with weight 1:          db[j]    = Σ_n g[n][j] */
#include "../exercises.h"

int ex_linear(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *grads,
              void *ctx)
{
    (void)n, (void)ctx;
    const int64_t N = in[0]->shape[0], IN = in[0]->shape[1], OUT = in[1]->shape[0];
    const tg_real *x = in[0]->data, *W = in[1]->data, *g = out->grad;
    tg_real *dx = grads[0], *dW = grads[1], *db = grads[2];
    for (int64_t a = 0; a < N; a++)
        for (int64_t i = 0; i < IN; i++) {
            double s = 0;
            for (int64_t j = 0; j < OUT; j++) s += (double)g[a * OUT + j] * W[j * IN + i];
            dx[a * IN + i] += (tg_real)s;
        }
    for (int64_t j = 0; j < OUT; j++) {
        for (int64_t i = 0; i < IN; i++) {
            double s = 0;
            for (int64_t a = 0; a < N; a++) s += (double)g[a * OUT + j] * x[a * IN + i];
            dW[j * IN + i] += (tg_real)s;
        }
        double s = 0;
        for (int64_t a = 0; a < N; a++) s += g[a * OUT + j];
        db[j] += (tg_real)s;
    }
    return TG_OK;
}
