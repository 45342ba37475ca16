/* Exercise 6: the whole backward pass of a two-layer network, by hand
 * (Karpathy's "becoming a backprop ninja").
 *
 *     z = x·W1ᵀ + b1       x: [N, D] (data, no gradient), W1: [H, D], b1: [H]
 *     h = tanh(z)          [N, H]
 *     s = h·W2ᵀ + b2       W2: [C, H], b2: [C], s: [N, C] (logits)
 *     L = (1/N) Σ_n −log softmax(s[n])[t_n]
 *
 * out is the scalar L; g = out->grad[0]. Compute dL/dW1, dL/db1, dL/dW2,
 * dL/db2 into grads[1..4] (grads[0] is NULL: x needs no gradient). Run the
 * forward pass again yourself (you need h and the softmax), then go back
 * layer by layer, reusing exercises 3, 4 and 1's rules (tanh' = 1 − h²).
 * The labels are ((const ex_labels *)ctx)->target. */
#include "exercises.h"

int ex_two_layer(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *grads,
                 void *ctx)
{
    (void)n;
    const int64_t N = in[0]->shape[0], D = in[0]->shape[1], H = in[1]->shape[0],
                  C = in[3]->shape[0];
    const tg_real *x = in[0]->data, *W1 = in[1]->data, *b1 = in[2]->data, *W2 = in[3]->data,
                  *b2 = in[4]->data;
    const int64_t *t = ((const ex_labels *)ctx)->target;
    const tg_real g = out->grad[0];
    tg_real *dW1 = grads[1], *db1 = grads[2], *dW2 = grads[3], *db2 = grads[4];
    (void)N, (void)D, (void)H, (void)C, (void)x, (void)W1, (void)b1, (void)W2, (void)b2, (void)t;
    (void)g, (void)dW1, (void)db1, (void)dW2, (void)db2;
    /* your code here */
    return TG_OK;
}
