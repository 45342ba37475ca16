/* The graded exercises: write the backward pass by hand, then run
 *
 *     ./build/examples/exercises             (every exercise)
 *     ./build/examples/exercises sigmoid     (one)
 *
 * Each exercise is one file here with one function to fill in: it is given
 * the inputs' values (in[i]->data), the output's values (out->data) and the
 * gradient arriving at the output (out->grad, of the output's shape), and
 * ADDS the gradient of each input into grads[i] (zero on entry; NULL for an
 * input that needs no gradient). tg_exercise_check grades each gradient:
 * "exact" (equal to tapegrad's rule up to rounding), "approximate" (only
 * near the finite differences) or "wrong", with the element that is most
 * off. Work through them in order; the solutions are in solutions/, built
 * as exercises_solutions: look only when you are stuck.
 *
 * Every tensor is row-major: element [i][j] of a [N, C] tensor is at
 * i·C + j. */
#ifndef TG_EXERCISES_H
#define TG_EXERCISES_H

#include <tapegrad.h>

/* The learner's backward of each exercise (tg_exercise_backward). */
int ex_sigmoid(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *grads,
               void *ctx);
int ex_softmax(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *grads,
               void *ctx);
int ex_cross_entropy(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *grads,
                     void *ctx);
int ex_linear(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *grads,
              void *ctx);
int ex_batchnorm(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *grads,
                 void *ctx);
int ex_two_layer(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *grads,
                 void *ctx);

/* The class labels of the exercises with a cross-entropy loss (ctx). */
typedef struct {
    const int64_t *target; /* [N] */
} ex_labels;

/* Batch norm's ε: var + ε under the square root. */
#define EX_BN_EPS 1e-5

#endif
