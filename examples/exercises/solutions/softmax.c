/* Solution 2: softmax.
 * ∂y_k/∂x_j = y_k·(δ_kj − y_j), so dx_j = Σ_k g_k·y_k·(δ_kj − y_j)
 *                                       = y_j·(g_j − Σ_k g_k·y_k): one dot product per row. */
#include "../exercises.h"

int ex_softmax(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *grads,
               void *ctx)
{
    (void)n, (void)ctx;
    const int64_t N = in[0]->shape[0], C = in[0]->shape[1];
    const tg_real *y = out->data, *g = out->grad; /* [N, C] */
    tg_real *dx = grads[0];
    for (int64_t i = 0; i < N; i++) {
        double dot = 0;
        for (int64_t k = 0; k < C; k++) dot += (double)g[i * C + k] * y[i * C + k];
        for (int64_t j = 0; j < C; j++)
            dx[i * C + j] += y[i * C + j] * (tg_real)((double)g[i * C + j] - dot);
    }
    return TG_OK;
}
