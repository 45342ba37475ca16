/* Solution 6: the two-layer network, backward by hand.
 *   forward again: z = x·W1ᵀ + b1, h = tanh z, s = h·W2ᵀ + b2, p = softmax(s)
 *   ds  = g·(p − onehot(t))/N          (exercise 3)
 *   dW2 = dsᵀ·h,  db2 = Σ_n ds,  dh = ds·W2      (exercise 4)
 *   dz  = dh·(1 − h²)                  (tanh' = 1 − tanh²)
 *   dW1 = dzᵀ·x,  db1 = Σ_n dz          (exercise 4 again; x needs no gradient) */
#include "../exercises.h"

#include <math.h>
#include <stdlib.h>

int ex_two_layer(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *grads,
                 void *ctx)
{
    (void)n;
    const int64_t N = in[0]->shape[0], D = in[0]->shape[1], H = in[1]->shape[0],
                  C = in[3]->shape[0];
    const tg_real *x = in[0]->data, *W1 = in[1]->data, *b1 = in[2]->data, *W2 = in[3]->data,
                  *b2 = in[4]->data;
    const int64_t *t = ((const ex_labels *)ctx)->target;
    const double g = out->grad[0];
    tg_real *dW1 = grads[1], *db1 = grads[2], *dW2 = grads[3], *db2 = grads[4];
    double *h = malloc((size_t)(N * H) * sizeof *h), *ds = malloc((size_t)(N * C) * sizeof *ds);
    double *dz = malloc((size_t)(N * H) * sizeof *dz);
    if (!h || !ds || !dz) {
        free(h), free(ds), free(dz);
        return TG_ERR_NOMEM;
    }
    for (int64_t a = 0; a < N; a++) {
        for (int64_t j = 0; j < H; j++) {
            double z = b1[j];
            for (int64_t i = 0; i < D; i++) z += (double)x[a * D + i] * W1[j * D + i];
            h[a * H + j] = tanh(z);
        }
        double s[64], m = -INFINITY, sum = 0; /* C ≤ 64 here */
        for (int64_t c = 0; c < C; c++) {
            s[c] = b2[c];
            for (int64_t j = 0; j < H; j++) s[c] += h[a * H + j] * W2[c * H + j];
            m = s[c] > m ? s[c] : m;
        }
        for (int64_t c = 0; c < C; c++) sum += exp(s[c] - m);
        for (int64_t c = 0; c < C; c++)
            ds[a * C + c] = g * (exp(s[c] - m) / sum - (c == t[a])) / (double)N;
    }
    for (int64_t c = 0; c < C; c++) {
        double sb = 0;
        for (int64_t a = 0; a < N; a++) sb += ds[a * C + c];
        db2[c] += (tg_real)sb;
        for (int64_t j = 0; j < H; j++) {
            double sw = 0;
            for (int64_t a = 0; a < N; a++) sw += ds[a * C + c] * h[a * H + j];
            dW2[c * H + j] += (tg_real)sw;
        }
    }
    for (int64_t a = 0; a < N; a++)
        for (int64_t j = 0; j < H; j++) {
            double dh = 0;
            for (int64_t c = 0; c < C; c++) dh += ds[a * C + c] * W2[c * H + j];
            dz[a * H + j] = dh * (1 - h[a * H + j] * h[a * H + j]);
        }
    for (int64_t j = 0; j < H; j++) {
        double sb = 0;
        for (int64_t a = 0; a < N; a++) sb += dz[a * H + j];
        db1[j] += (tg_real)sb;
        for (int64_t i = 0; i < D; i++) {
            double sw = 0;
            for (int64_t a = 0; a < N; a++) sw += dz[a * H + j] * x[a * D + i];
            dW1[j * D + i] += (tg_real)sw;
        }
    }
    free(h), free(ds), free(dz);
    return TG_OK;
}
