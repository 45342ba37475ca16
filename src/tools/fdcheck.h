/* The engine behind the gradient checkers (internal).

   tg_fdcheck compares an analytical vector-Jacobian product with central
   finite differences of a function of the inputs, whatever computes them:

     the function  y = f(x₁, …, xₙ), y of any shape (M values), evaluated
                   through `eval` at the point or with one input element moved;
     the analytical side  doutᵀ·J for a given dout, through `vjp`.

   It owns everything else: which elements are checked (the inputs with
   TG_REQUIRES_GRAD), the steps (absolute or relative, with or without
   Richardson extrapolation), the full Jacobian and the random projections,
   the tolerance with the difference's own error bound, the kink test, the
   verdict, the result and the report. tg_gradcheck gives it f = fn and
   vjp = tg_backward_grad; a second-order checker gives it f = the gradient
   (a first backward) and vjp = a backward through that backward.

   Order of calls: prepare once, then vjp and eval in any order and number
   (the engine calls every vjp before the first perturbed eval, but a
   problem must not rely on it). */
#ifndef TG_TOOLS_FDCHECK_H
#define TG_TOOLS_FDCHECK_H

#include "core/internal.h"

typedef struct tg_fdcheck_problem {
    const char *name;          /* the checker, for messages and the report: "tg_gradcheck" */
    tg_tensor *const *inputs;  /* [n_inputs] the point (data, shapes, names); NULL entries
                                  allowed; elements of inputs with TG_REQUIRES_GRAD are checked */
    int n_inputs;
    void *ctx;                 /* passed to the callbacks */
    /* Gets ready at the point (records what vjp needs) and writes the output's
       shape. Returns TG_OK, or a status with the reason in msg. */
    int (*prepare)(void *ctx, int *out_ndim, int64_t out_shape[TG_MAX_DIMS], char *msg,
                   size_t len);
    /* The output at the point (input < 0) or with input `input`'s flat element k
       set to `value`, all else as at the point: writes the M values into out
       [M]. Returns TG_OK, or a status with the reason in msg (a changed
       output shape is a failure). */
    int (*eval)(void *ctx, int input, int64_t k, tg_real value, double *out, char *msg,
                size_t len);
    /* The analytical side at the point: doutᵀ·J for dout [M], one value per
       checked element, the checked inputs in order, each flat, into grad
       [checked elements]. Returns TG_OK, or a status with the reason in msg. */
    int (*vjp)(void *ctx, const tg_real *dout, double *grad, char *msg, size_t len);
} tg_fdcheck_problem;

/* Runs the check with opts (NULL: tg_gradcheck_defaults()). Never aborts;
   everything it allocates is freed before it returns. A problem that
   cannot run gives status ≠ TG_OK, ok false, and message and
   tg_last_error() prefixed with p->name. */
tg_gradcheck_result tg_fdcheck(const tg_fdcheck_problem *p, const tg_gradcheck_opts *opts);

#endif /* TG_TOOLS_FDCHECK_H */
