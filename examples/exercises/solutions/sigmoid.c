/* Solution 1: sigmoid.
 * dσ/dx = e^(−x)/(1 + e^(−x))² = σ(x)·(1 − σ(x)) = y(1 − y), so dx += g·y·(1 − y). */
#include "../exercises.h"

int ex_sigmoid(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *grads,
               void *ctx)
{
    (void)n, (void)ctx;
    const tg_real *y = out->data, *g = out->grad; /* [N, C] */
    tg_real *dx = grads[0];
    for (int64_t i = 0; i < in[0]->size; i++) dx[i] += g[i] * y[i] * (1 - y[i]);
    return TG_OK;
}
