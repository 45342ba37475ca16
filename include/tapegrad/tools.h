/** @file tapegrad/tools.h — checking and seeing gradients: the gradient checker
 * (finite differences against tg_backward) and the tape's printers (text
 * and Graphviz DOT).
 *
 * Part of <tapegrad.h>; include that. docs/gradcheck.md and docs/teaching.md
 * show them at work.
 */
#ifndef TAPEGRAD_TOOLS_H
#define TAPEGRAD_TOOLS_H

#include "tapegrad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Builds an output from the inputs on tape t (the inputs are copies that
   tg_gradcheck owns and perturbs: build only from them, not from other
   tensors that need a gradient). Returns NULL on failure. */
typedef tg_tensor *(*tg_gradcheck_fn)(tg_tape *t, tg_tensor *const *inputs, int n_inputs,
                                      void *ctx);

/** How the check works (docs/gradcheck.md says more):
   - numerical: for every element x_k of every input with TG_REQUIRES_GRAD,
     the central difference (f(x + h) − f(x − h)) / (2h) of the WHOLE output,
     each f evaluated on a fresh tape (tg_tape_reset in between), with
     h = eps·max(1, |x_k|) (PyTorch's absolute eps for |x| ≤ 1; relative
     beyond, so that the step stays many ulps wide). The divisor is the step
     actually taken after rounding x ± h to tg_real.
   - analytical: the same Jacobian from tg_backward_grad, one backward per
     output element (dout = a unit vector), so that every entry ∂out_j/∂x_k
     is compared: the full Jacobian, like PyTorch's default gradcheck.
   - when projections > 0, or when the Jacobian would exceed 2²² entries,
     it compares vᵀJ with vᵀ(numerical J) instead, for `projections`
     (default 4) random unit vectors v drawn from `seed` with a portable
     splitmix64 (the same v on every machine): PyTorch's fast mode.
   - an entry passes when |analytical − numerical| ≤ atol + rtol·|numerical|
     (torch.allclose(analytical, numerical)); NaN or Inf never passes. */
typedef struct tg_gradcheck_opts {
    double eps;      /**< central-difference step, scaled by max(1, |x|) */
    double atol;     /**< |analytical − numerical| ≤ atol + rtol·|numerical| */
    double rtol;     /**< (see atol) */
    FILE *report;    /**< where to print a report, or NULL for none */
    uint64_t seed;   /**< for the random projections */
    int projections; /**< 0: full Jacobian (default); k > 0: k random projections */
} tg_gradcheck_opts;

/** The defaults. Double build: PyTorch's gradcheck (eps 1e-6, atol 1e-5,
   rtol 1e-3). Float build: eps 1e-3, atol 1e-2, rtol 1e-2. Why: a central
   difference errs by about h²·|f‴|/6 (truncation) plus u·|f|/h (rounding
   of f, u = 6e-8 in float). With h = 1e-6 the rounding term would be
   ~0.06·|f| in float; with h = 1e-3 it is ~6e-5·|f| (a few 1e-4 when f sums
   many terms) and truncation ~2e-7·|f‴|, so a correct gradient lands well
   inside 1e-2 while a wrong one (a sign, a missing factor, a lost term) is
   off by O(1). */
TG_API tg_gradcheck_opts tg_gradcheck_defaults(void);

/** What tg_gradcheck found; `message` says it in one line. */
typedef struct tg_gradcheck_result {
    int status;           /**< TG_OK when the check could be run */
    bool ok;              /**< every compared entry within tolerance */
    int64_t checked;      /**< number of input elements checked */
    int64_t failed;       /**< how many of them had an entry outside tolerance */
    int worst_input;      /**< the entry with the largest error/tolerance: which input, */
    int64_t worst_index;  /**< its flat index in that input, */
    int64_t worst_output; /**< the output element (Jacobian row), or −1−p for projection p, */
    double analytical;    /**< tg_backward's value, */
    double numerical;     /**< the finite difference, */
    /** @{ */
    double abs_err, rel_err; /**< |a − n| and |a − n|/|n| (inf when n = 0 ≠ a) */
    /** @} */
    char message[256];    /**< a one-line verdict or the reason it could not run */
} tg_gradcheck_result;

/** Compares every analytical input gradient of fn with central finite
   differences. inputs: tensors whose data are the point of evaluation
   (copied; on any tape or parameters; an entry may be NULL and is passed
   as NULL); only inputs with TG_REQUIRES_GRAD (parameters have it) are
   checked. opts may be NULL for the defaults. Never aborts; allocates only
   temporarily (its own tape and buffers, freed before it returns). If it
   cannot run (NULL fn, fn fails, no input requires grad, out of memory),
   status is an error, ok is false, and message and tg_last_error() say why. */
TG_API tg_gradcheck_result tg_gradcheck(tg_gradcheck_fn fn, void *ctx, tg_tensor *const *inputs,
                                        int n_inputs, const tg_gradcheck_opts *opts);

/* Seeing the tape (docs/teaching.md). Records are numbered from 0 in the
   order the forward pass ran them; backward walks them in reverse. */

/** The number of records since the last reset, and record i (NULL when i
   is out of range). The record and its tensors are owned by the tape and
   valid until the next reset; read them, do not change them. @{ */
TG_API size_t tg_tape_record_count(const tg_tape *t);
TG_API const tg_record *tg_tape_record(const tg_tape *t, size_t i);
/** @} */

/** Writes the tape as text, one record per block: its index, op, output
   (name or tN, shape, the value when it has one element) and each input
   (name, shape, and param / input / const / "from #k"); after a backward,
   the L2 norm of every gradient present. Returns TG_OK, or TG_ERR_INVALID
   (NULL argument) / TG_ERR_IO with tg_last_error(). */
TG_API int tg_tape_print(const tg_tape *t, FILE *f);

/** Writes the recorded graph in Graphviz DOT: op nodes (ellipses, "#k op")
   and tensor nodes (boxes with name, shape, a value summary and, after
   backward, a gradient summary). Parameters are orange, inputs that require
   grad blue, constants grey and dashed, final outputs double-bordered; a
   legend is included. Render with `dot -Tsvg tape.dot -o tape.svg`.
   Returns TG_OK or an error status (NULL argument, out of memory, write
   error) with tg_last_error(). */
TG_API int tg_tape_dot(const tg_tape *t, FILE *f);

/* ------------------------------------------------- higher derivatives */

/** The most inputs tg_hvp, tg_jvp, tg_jacobian and tg_hessian take. */
#define TG_HVP_MAX_INPUTS 64

/** Hessian-vector product of a scalar y (torch.autograd.functional.hvp):
   hv[i] = Σ_j ∂²y/∂x_i∂x_j · v[j], each of x[i]'s shape, new tensors on the
   tape. Two backward passes (the gradient with create_graph, then the
   gradient of ⟨∇y, v⟩), so every op that y depends on needs a vjp rule.
   opts: create_graph makes hv differentiable too; allow_unused gives zeros
   for an input y does not reach (else it is an error). Returns TG_OK or an
   error status with the message on the tape. */
TG_API int tg_hvp(tg_tape *t, tg_tensor *y, int n, tg_tensor *const *x, tg_tensor *const *v,
                  tg_tensor **hv, const tg_grad_opts *opts);
/** Jacobian-vector product (forward-mode derivative) of any y
   (torch.autograd.functional.jvp): jv[0] = Σ_i ∂y/∂x_i · v[i], of y's
   shape, by two backward passes (the double-vjp trick). opts as tg_hvp. */
TG_API int tg_jvp(tg_tape *t, tg_tensor *y, int n, tg_tensor *const *x, tg_tensor *const *v,
                  tg_tensor **jv, const tg_grad_opts *opts);
/** The full Jacobian of y with respect to each input
   (torch.autograd.functional.jacobian): J[i] has shape y.shape ++
   x[i].shape (at most TG_MAX_DIMS dimensions) and J[i][k, :] = ∂y_k/∂x_i,
   one backward pass per element of y: for small functions. opts as
   tg_hvp (an input y does not reach gives zeros when allow_unused). */
TG_API int tg_jacobian(tg_tape *t, tg_tensor *y, int n, tg_tensor *const *x, tg_tensor **J,
                       const tg_grad_opts *opts);
/** The full Hessian of a scalar y (torch.autograd.functional.hessian):
   H[i·n + j] has shape x[i].shape ++ x[j].shape and holds ∂²y/∂x_i∂x_j;
   one backward pass per element of the gradient. opts as tg_hvp. */
TG_API int tg_hessian(tg_tape *t, tg_tensor *y, int n, tg_tensor *const *x, tg_tensor **H,
                      const tg_grad_opts *opts);

#ifdef __cplusplus
}
#endif

#endif /* TAPEGRAD_TOOLS_H */
