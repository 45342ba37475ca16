/** @file tapegrad.h — tapegrad, a tiny reverse-mode automatic differentiation engine in C.
 *
 *   tg_tape   *t = tg_tape_new();
 *   tg_params *p = tg_params_new();
 *   tg_tensor *W = tg_params_add(p, "fc.weight", TG_SHAPE(1, 2));  // [out, in]
 *   tg_tensor *x = tg_tensor_new(t, TG_SHAPE(4, 2), xs);           // copied
 *   tg_tensor *y = tg_tensor_new(t, TG_SHAPE(4, 1), ys);
 *   tg_tensor *loss = tg_mse_loss(t, tg_linear(t, x, W, NULL), y, TG_REDUCE_MEAN);
 *   if (!loss) fprintf(stderr, "%s\n", tg_tape_error(t));
 *   tg_backward(t, loss);        // W->grad now holds d(loss)/dW
 *   tg_tape_reset(t);            // forget the step, keep the memory
 *   tg_params_free(p); tg_tape_free(t);
 *
 * The API is in sections, each with an opening comment of its own:
 *   tapegrad/core.h   tensors, the tape, backward, parameters, custom ops
 *   tapegrad/ops.h    arithmetic, matrix products, shapes, indexing, joins,
 *                     reductions, activations, losses, convolutions and
 *                     pooling, recurrent cells, attention
 *   tapegrad/nn.h     initialisers, layers, optimizers, schedulers, checkpoints
 *   tapegrad/io.h     IDX and CSV files, datasets, safetensors
 *   tapegrad/tools.h  the gradient checkers, higher-order drivers (hvp, jvp,
 *                     jacobian, hessian), the tape's printers and explorer
 *
 * Conventions
 * - tg_real is float, or double when TG_DOUBLE is defined (target tapegrad_f64).
 * - Tensors are contiguous and row-major. Tensors made on a tape (inputs, op
 *   results) are owned by the tape and live until tg_tape_reset/tg_tape_free.
 *   Parameters are owned by a tg_params and live until tg_params_free.
 * - Every op returns NULL on failure and records a message on the tape that
 *   names the op and the shapes; an op given NULL returns NULL, so checking the
 *   final result is enough. Nothing here calls exit, abort or assert on input.
 *   The tape keeps its first error until tg_tape_clear_error or a reset, and
 *   takes no gradient while it holds one.
 * - Functions that are not ops return a tg_status (TG_OK is 0) or NULL, and
 *   explain failures through tg_tape_error(t) when they take a tape
 *   (tg_backward, tg_grad, tg_hvp, ...), else through tg_last_error().
 */
#ifndef TAPEGRAD_H
#define TAPEGRAD_H

#include "tapegrad/core.h"
#include "tapegrad/ops.h"
#include "tapegrad/nn.h"
#include "tapegrad/io.h"
#include "tapegrad/tools.h"

#endif /* TAPEGRAD_H */
