/* Exercise 5: batch normalisation, over the batch (training mode).
 *
 *     μ[c] = (1/N) Σ_n x[n][c]
 *     v[c] = (1/N) Σ_n (x[n][c] − μ[c])²            (biased, as in training)
 *     x̂[n][c] = (x[n][c] − μ[c]) / √(v[c] + ε)      ε = EX_BN_EPS
 *     y[n][c] = γ[c]·x̂[n][c] + β[c]                 x, y: [N, C], γ, β: [C]
 *
 * The reference builds this from tapegrad's primitive ops (mean, sub,
 * square, add_scalar, pow, mul, add), so tapegrad's answer is the chain
 * rule through each of them. Given g = dL/dy, compute dL/dx, dL/dγ, dL/dβ
 * into grads[0], grads[1], grads[2]. dγ and dβ are one line each; for dx,
 * remember that every x[n][c] reaches every y[m][c] of its column, through
 * μ and v as well as directly: the result fits in one line too. */
#include "exercises.h"

int ex_batchnorm(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *grads,
                 void *ctx)
{
    (void)n, (void)ctx;
    const int64_t N = in[0]->shape[0], C = in[0]->shape[1];
    const tg_real *x = in[0]->data, *gamma = in[1]->data; /* [N, C], [C] */
    const tg_real *g = out->grad;                         /* [N, C] */
    tg_real *dx = grads[0], *dgamma = grads[1], *dbeta = grads[2];
    (void)N, (void)C, (void)x, (void)gamma, (void)g, (void)dx, (void)dgamma, (void)dbeta;
    /* your code here */
    return TG_OK;
}
