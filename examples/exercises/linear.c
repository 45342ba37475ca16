/* Exercise 4: a linear layer, as PyTorch stores it.
 *
 *     y[n][j] = Σ_i x[n][i]·W[j][i] + b[j]        x: [N, IN], W: [OUT, IN], b: [OUT], y: [N, OUT]
 *
 * Given g = dL/dy, compute dL/dx, dL/dW and dL/db into grads[0], grads[1],
 * grads[2]. Fix one element (x[n][i], W[j][i], b[j]) and ask which y it
 * appears in; check each result's shape. */
#include "exercises.h"

int ex_linear(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *grads,
              void *ctx)
{
    (void)n, (void)ctx;
    const int64_t N = in[0]->shape[0], IN = in[0]->shape[1], OUT = in[1]->shape[0];
    const tg_real *x = in[0]->data, *W = in[1]->data; /* [N, IN], [OUT, IN] */
    const tg_real *g = out->grad;                     /* [N, OUT] */
    tg_real *dx = grads[0], *dW = grads[1], *db = grads[2];
    (void)N, (void)IN, (void)OUT, (void)x, (void)W, (void)g, (void)dx, (void)dW, (void)db;
    /* your code here */
    return TG_OK;
}
