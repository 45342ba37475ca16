/* Solution 5: batch norm, per column c over the N rows.
 *   dβ = Σ_n g          dγ = Σ_n g·x̂
 *   dx̂ = g·γ, and through x̂ = (x − μ)·s with s = (v + ε)^(−1/2), μ and v also depending on x:
 *   dx = (s/N)·(N·dx̂ − Σ_n dx̂ − x̂·Σ_n dx̂·x̂)
 *      = (γ·s/N)·(N·g − Σ_n g − x̂·Σ_n g·x̂) */
#include "../exercises.h"

#include <math.h>
#include <stdlib.h>

int ex_batchnorm(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *grads,
                 void *ctx)
{
    (void)n, (void)ctx;
    const int64_t N = in[0]->shape[0], C = in[0]->shape[1];
    const tg_real *x = in[0]->data, *gamma = in[1]->data, *g = out->grad;
    tg_real *dx = grads[0], *dgamma = grads[1], *dbeta = grads[2];
    for (int64_t c = 0; c < C; c++) {
        double mu = 0, v = 0, sg = 0, sgx = 0;
        for (int64_t i = 0; i < N; i++) mu += x[i * C + c];
        mu /= (double)N;
        for (int64_t i = 0; i < N; i++) v += (x[i * C + c] - mu) * (x[i * C + c] - mu);
        v /= (double)N;
        const double s = 1 / sqrt(v + EX_BN_EPS);
        for (int64_t i = 0; i < N; i++) {
            sg += g[i * C + c];
            sgx += g[i * C + c] * (x[i * C + c] - mu) * s;
        }
        dbeta[c] += (tg_real)sg;
        dgamma[c] += (tg_real)sgx;
        for (int64_t i = 0; i < N; i++) {
            double xhat = (x[i * C + c] - mu) * s;
            dx[i * C + c] +=
                (tg_real)(gamma[c] * s / (double)N * ((double)N * g[i * C + c] - sg - xhat * sgx));
        }
    }
    return TG_OK;
}
