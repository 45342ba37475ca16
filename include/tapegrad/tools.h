/** @file tapegrad/tools.h — checking and seeing gradients: the gradient checker
 * (finite differences against tg_backward), the tape's printers (text,
 * Graphviz DOT and an interactive HTML explorer), graded backprop exercises
 * and training-health pictures.
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
     the central difference D(h) = (f(x + h) − f(x − h)) / 2h of the WHOLE
     output, each f evaluated on a fresh tape; the divisor is the step
     actually taken after rounding x ± h to tg_real. With richardson, also
     D(h/2), and the estimate is R = D(h/2) + (D(h/2) − D(h))/3 (its error
     falls as h⁴ instead of h²). With relative_step, h = eps·max(|x_k|,
     mean |x| of its input), grown by tens up to eps·max(1, |x_k|) where
     the rounding of f would hide the gradient at that step (an offset near
     0, such as a bias, has no scale of its own) and f stays smooth across
     it.
   - analytical: the same Jacobian from tg_backward_grad, one backward per
     output element (dout = a unit vector), so that every entry ∂out_j/∂x_k
     is compared (the full Jacobian, PyTorch's default), and besides, for
     extra_projections random vectors v, vᵀJ from one backward with dout = v
     against vᵀ(numerical J): a rule that is not linear in its upstream
     gradient (one that uses |g| or g²) agrees on unit vectors and fails
     there. When projections > 0, or when the Jacobian would exceed 2²⁰
     entries, only projections are compared (PyTorch's fast mode). The
     vectors come from `seed` through a portable splitmix64: entries of
     size ¼..1 with random signs, the first entry of the first one negative.
   - an entry passes when |analytical − numerical| ≤ tolerance:
       atol + rtol·|numerical|                          (torch.allclose), and
       with error_bound, + the difference's own error bound: its truncation
       (|D(h/2) − D(h)|, at most rtol·|numerical|), the rounding of f
       (u·(|f_j| + Σ_k |J_jk|·|x_k|) over the step, u the unit roundoff),
       and scale_tol·(the largest |entry| of that input's part of the
       Jacobian).
     NaN or Inf never passes.
   - an element with an entry outside that tolerance is looked at again
     before it fails: f on 17 points across [x − h, x + h], its rounding
     noise measured from them, a least-squares slope with its standard error
     (with error_bound the tolerance is then atol + rtol·|slope| + 6 standard
     errors + the floor), and a test for a kink (a jump in slope) within the
     step. At a kink the analytical value is judged against the slope on x's
     side; the element counts as near_kink, not as failed, if it agrees. If
     f jumps within the step (a discontinuity, or f rounded in stairs as wide
     as the step) the element is not judged and counts as near_kink too. */
typedef struct tg_gradcheck_opts {
    double eps;            /**< the step h: eps, or eps·max(|x_k|, mean |x| of its input)
                              (grown where needed, above) with relative_step */
    double atol;           /**< the tolerance's absolute term */
    double rtol;           /**< the tolerance's term relative to |numerical| */
    FILE *report;          /**< where to print a report, or NULL for none */
    uint64_t seed;         /**< for the random projections */
    int projections;       /**< 0: the full Jacobian (default); k > 0: k random
                              projections instead */
    /* Fields that a zero-initialised struct sets to PyTorch's plain rule
       (absolute step, one central difference, allclose, no projections);
       tg_gradcheck_defaults() sets them for the build's precision. */
    int extra_projections; /**< random projections compared alongside the full Jacobian */
    bool relative_step;    /**< the step relative to x and its input, instead of eps */
    bool richardson;       /**< extrapolate from the steps h and h/2 */
    bool error_bound;      /**< add the difference's error bound and the floor to the
                              tolerance (and standard errors, in the second look) */
    double scale_tol;      /**< with error_bound: the floor, relative to the largest
                              |numerical| entry of the same input (and projection) */
} tg_gradcheck_opts;

/** The defaults. Both builds: the full Jacobian and 2 extra projections.
   Double build: PyTorch's gradcheck (eps 1e-6 absolute, atol 1e-5, rtol
   1e-3, one central difference). Float build: eps 1e-2 relative, Richardson
   extrapolation, atol 0, rtol 1e-3, the error bound, scale_tol 1e-5. Why:
   in float, a difference of f is quantised by the rounding of f itself (an
   ulp of f over 2h), and an absolute tolerance is both too wide for small
   gradients and too narrow for large ones; the error-bound tolerance scales
   with the function and the step, and Richardson extrapolation lets the
   step be large. docs/gradcheck.md has the measured figures. */
TG_API tg_gradcheck_opts tg_gradcheck_defaults(void);

/** What tg_gradcheck found; `message` says it in one line. */
typedef struct tg_gradcheck_result {
    int status;           /**< TG_OK when the check could be run */
    bool ok;              /**< no element failed (elements near a kink do not count) */
    int64_t checked;      /**< input elements checked: passed, failed or near a kink */
    int64_t failed;       /**< how many of them had an entry outside tolerance */
    int worst_input;      /**< the entry with the largest error/tolerance (a failing one
                             first, a Jacobian entry before a projection): which input, */
    int64_t worst_index;  /**< its flat index in that input, */
    int64_t worst_output; /**< the output element (Jacobian row), or −1−p for projection p, */
    double analytical;    /**< tg_backward's value, */
    double numerical;     /**< the finite difference (refined, if it was looked at again), */
    /** @{ */
    double abs_err, rel_err; /**< |a − n| and |a − n|/|n| (inf when n = 0 ≠ a) */
    /** @} */
    char message[256];    /**< a one-line verdict or the reason it could not run */
    double tolerance;     /**< the tolerance the worst entry was held to */
    int64_t near_kink;    /**< elements with a kink (judged on x's side) or a jump (not
                             judged) within a step of x; not counted in failed */
    int kink_input;       /**< the first of them: its input (−1 if none), */
    int64_t kink_index;   /**< its flat index, */
    int64_t kink_output;  /**< its output element (or −1−p for projection p) */
    double resolution;    /**< the smallest relative error in a whole input's gradient
                             that this check catches, for the least sensitive input:
                             the smallest tolerance/|numerical| over the input's
                             entries (0 if nothing was compared) */
} tg_gradcheck_result;

/** Compares every analytical input gradient of fn with central finite
   differences. inputs: tensors whose data are the point of evaluation
   (copied; on any tape or parameters; an entry may be NULL and is passed
   as NULL); only inputs with TG_REQUIRES_GRAD (parameters have it) are
   checked. opts may be NULL for the defaults. Never aborts; allocates only
   temporarily (its own tapes and buffers, freed before it returns). If it
   cannot run (NULL fn, fn fails, no input requires grad, out of memory),
   status is an error, ok is false, and message and tg_last_error() say why. */
TG_API tg_gradcheck_result tg_gradcheck(tg_gradcheck_fn fn, void *ctx, tg_tensor *const *inputs,
                                        int n_inputs, const tg_gradcheck_opts *opts);
/** The second-order check (torch.autograd.gradgradcheck): the same
   verdict, report and options as tg_gradcheck, for the second derivatives
   of fn. Its function is the first gradient G(x, u) = (∂fn/∂x)ᵀ·u for a
   random output gradient u (seeded by opts->seed), the gradients of every
   input that requires grad one after the other; its analytical side is a
   backward through G recorded with create_graph, so it checks the ops'
   vjp rules (and a custom op's) against finite differences of their first
   derivatives. As PyTorch's (grad_outputs), G is differentiated in u too:
   u is the check's last input, named "grad_output" (worst_input is then
   n_inputs, and checked counts u's elements), and a vjp not
   differentiable in its g (detached, or a copy of g's values) fails with
   that cause first. The result's output index is an element of that
   concatenated gradient. G at the point, from the vjp rules, is also
   compared with the backward rules' first gradient: a vjp whose first
   order disagrees with its backward fails the check, said first in the
   message. Every op fn uses needs a vjp (an op without one is named in
   the message). */
TG_API tg_gradcheck_result tg_gradgradcheck(tg_gradcheck_fn fn, void *ctx,
                                            tg_tensor *const *inputs, int n_inputs,
                                            const tg_gradcheck_opts *opts);

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
   (NULL argument) / TG_ERR_IO with tg_last_error(). Flushes f, so a failed
   write is reported even for an output that fits stdio's buffer. */
TG_API int tg_tape_print(const tg_tape *t, FILE *f);

/** Writes the recorded graph in Graphviz DOT: op nodes (ellipses, "#k op")
   and tensor nodes (boxes with name, shape, a value summary and, after
   backward, a gradient summary). Parameters are orange, inputs that require
   grad blue, constants grey and dashed, final outputs double-bordered; a
   legend is included. Render with `dot -Tsvg tape.dot -o tape.svg`.
   Returns TG_OK or an error status (NULL argument, out of memory, write
   error: f is flushed, so a failed write is seen) with tg_last_error(). */
TG_API int tg_tape_dot(const tg_tape *t, FILE *f);

/* ------------------------------------------------- higher derivatives */

/** The most inputs tg_hvp, tg_jvp, tg_jacobian and tg_hessian take. Each
    x[i] must require grad when y is recorded (tg_requires_grad first: unlike
    torch.autograd.functional, which calls the function itself, these take a
    y already on the tape). One that does not require grad is refused by
    the driver, by name; one marked only after y was recorded is refused as
    not reached by y (tg_grad's message says both causes), and allow_unused
    then gives zeros for it, as for an input y does not use. */
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

/* ------------------------------------------------ seeing backprop move */

/** The one-line gradient rule of a built-in op, by name ("tanh" gives
   "y = tanh(x);  dx += g·(1 − y²)"), as the explorer shows it; NULL for an
   op the table does not know (a user's op: the explorer then shows its
   doc). The strings are constant. */
TG_API const char *tg_op_rule(const char *op_name);
/** The local derivative of a built-in op's output element with respect to
   the corresponding element of input `input` (for tanh "1 − {y}²"), or
   NULL when there is none in one line (matmul, softmax...). Braces mark
   the numbers the explorer fills in for one element: {x} or {a} is input
   0, {b} input 1, {y} the output, all at that element (as broadcast); a
   template without braces is a formula in words ("1 if x > 0, else s"). */
TG_API const char *tg_op_local_derivative(const char *op_name, int input);

/** Options of tg_tape_html (zero fields, or a NULL pointer, give the
   defaults). */
typedef struct tg_html_opts {
    const char *title; /**< the page's title; default "tapegrad: the tape, step by step" */
    int max_records;   /**< the most records drawn in the graph (default 150): of a
                          longer tape, those nearest the loss (the ones backward
                          visits first; without a loss, the first); all of them are
                          still stepped through, and the page says what was left out */
    int max_full;      /**< tensors of up to this many elements are shown in full
                          (default 64); larger ones as shape, norm, range and a heat map */
    int max_terms;     /**< a worked element lists the chain rule's terms when the
                          output has at most this many elements (default 64) */
} tg_html_opts;

/** Writes the tape as one self-contained HTML page (no network: inline SVG,
   CSS and a small script) that steps through backprop. The graph is laid out
   here (layers by depth, records left to right; an edge that spans layers
   is routed around the nodes between, and each input of a record is a line
   of its own), so no Graphviz is needed.
   A learner steps the forward pass record by record (each tensor's value
   appears: small tensors in full, large ones as shape, norm and a heat map),
   then the backward pass from the seed d(loss)/d(loss) = 1: each step
   highlights one record and shows the gradient arriving at its output, its
   rule (tg_op_rule), one element worked out with numbers, and what it adds
   into each input, with the sum so far when a tensor is read twice. Play,
   pause, step back and clicking a tensor (its value and gradient) are in
   the page. Records that a gradient rule made (create_graph,
   tg_record.backward_of ≥ 0) are part of the graph, drawn apart.
   How the numbers are made: the page's backward is a walk of its own over
   the records `loss` depends on, last to first, calling each op's backward
   rule on a copy of the record whose tensors are copies with fresh
   gradient buffers, once with the arriving gradient (what the rule adds)
   and once per output element with a one-hot gradient (the terms of the
   worked element). It is tg_backward's walk with every step kept; the tape,
   its tensors and every .grad are left as they were (the gradients shown
   are those of this one backward, from zero, as tg_grad gives them).
   loss: a one-element result on t, or NULL for the forward pass only.
   Returns TG_OK or an error status with tg_last_error() (NULL tape or file,
   a loss not on t or not of one element, out of memory, write error). */
TG_API int tg_tape_html(const tg_tape *t, const tg_tensor *loss, FILE *f,
                        const tg_html_opts *opts);

/* ------------------------------------------------ exercises that grade */

/** The reference computation of an exercise: builds the output from the
   inputs on tape t with tapegrad's ops (only from them). NULL on failure. */
typedef tg_tensor *(*tg_exercise_forward)(tg_tape *t, tg_tensor *const *inputs, int n_inputs,
                                          void *ctx);
/** The learner's backward, written by hand: given the inputs' values, the
   output's values (out->data) and the gradient arriving at the output
   (out->grad), it ADDS each input's gradient into grads[i] (in[i]->size
   values, zero on entry), or leaves it when grads[i] is NULL (an input
   that needs no gradient). Returns TG_OK, or an error status to say it
   could not. The check runs it twice, the second time into the first
   run's results: a rule that sets (=) instead of adding (+=) gives the
   same values again and is graded wrong, as micrograd's classic bug. */
typedef int (*tg_exercise_backward)(tg_tensor *const *inputs, int n_inputs,
                                    const tg_tensor *out, tg_real *const *grads, void *ctx);

/** The most inputs an exercise takes. */
#define TG_EXERCISE_MAX_INPUTS 16

/** A verdict on one gradient. */
typedef enum tg_verdict {
    TG_VERDICT_EXACT = 0,       /**< equal to tapegrad's rule up to rounding */
    TG_VERDICT_APPROXIMATE = 1, /**< not equal to tapegrad's, but within the finite
                                   differences' tolerance (see tg_exercise_check) */
    TG_VERDICT_WRONG = 2,       /**< neither (or NaN) */
    TG_VERDICT_NONE = 3         /**< the input needs no gradient: not checked */
} tg_verdict;

/** Options of tg_exercise_check (NULL: the defaults, as zero fields). */
typedef struct tg_exercise_opts {
    FILE *report;      /**< where to print the grading, or NULL for none */
    uint64_t seed;     /**< for the arriving gradient when the output has more than one
                          element: uniform in [−1, 1) from a tg_rng seeded with
                          seed ^ 0x9e3779b97f4a7c15, so that inputs drawn from `seed`
                          itself differ from it (an output of one element gets 1) */
    double exact_rtol; /**< "exact": |learner − tapegrad| ≤ exact_rtol·max|tapegrad|
                          over the tensor; default 1e-5 (float), 1e-12 (double) */
} tg_exercise_opts;

/** The grading of one exercise. */
typedef struct tg_exercise_result {
    int status;    /**< TG_OK when the check could be run */
    bool passed;   /**< every checked gradient exact or approximate */
    int n_inputs;  /**< entries used below */
    tg_verdict verdict[TG_EXERCISE_MAX_INPUTS];  /**< per input */
    double diff_ref[TG_EXERCISE_MAX_INPUTS];     /**< largest |learner − tapegrad| */
    int64_t where_ref[TG_EXERCISE_MAX_INPUTS];   /**< its flat element */
    double diff_fd[TG_EXERCISE_MAX_INPUTS];      /**< largest |learner − finite differences| */
    int64_t where_fd[TG_EXERCISE_MAX_INPUTS];    /**< its flat element */
    char message[256]; /**< a one-line summary, or why the check could not run */
} tg_exercise_result;

/** Grades a learner's backward: runs `forward` on copies of the inputs,
   draws the arriving gradient g, and compares the learner's gradients for
   every input with TG_REQUIRES_GRAD with tapegrad's (tg_grad of ⟨g, out⟩)
   and with central finite differences of ⟨g, out⟩ (step h = 10⁻²·max(1, |x|)
   in float, 10⁻⁶·max(1, |x|) in double; "approximate" within
   10⁻³ + 10⁻²·|fd| in float, 10⁻⁵ + 10⁻³·|fd| in double: the plain
   difference's own accuracy, looser than tg_gradcheck's extrapolated one).
   Prints, per input (by its name, else "input i"), "exact",
   "approximate" or "wrong" with the largest difference and its element
   (an input of 0 elements is "exact", with differences 0: nothing to
   compare). `name` titles the report (may be NULL). Never aborts; allocates only
   temporarily. status is an error (message and tg_last_error() say why)
   when it cannot run: NULL functions, more than TG_EXERCISE_MAX_INPUTS
   inputs, a failing forward or learner, no input requiring grad. */
TG_API tg_exercise_result tg_exercise_check(const char *name, tg_exercise_forward forward,
                                            tg_exercise_backward learner, void *ctx,
                                            tg_tensor *const *inputs, int n_inputs,
                                            const tg_exercise_opts *opts);

/* ------------------------------------------------ training health */

/** Per-layer statistics over training (opaque): the distribution of each
   layer's activations and of their gradients, dead ReLU units and saturated
   tanh/sigmoid units, and the update-to-data ratio of each parameter: the
   diagnostics of Karpathy's "makemore" lecture 4, as one SVG picture. */
typedef struct tg_health tg_health;

/** A new, empty record of training health; NULL if out of memory. */
TG_API tg_health *tg_health_new(void);
/** Frees it. Accepts NULL. */
TG_API void tg_health_free(tg_health *h);
/** Observes one layer's activation y at training step `step`, after the
   backward (so that y->grad holds the gradient that reached it; without one
   only the values are taken). The layer is named `layer` (copied; the
   layers are drawn in the order first seen). The kind of unit is read from
   the record that made y: relu-like ops count dead units (columns of a
   [N, units] batch that are 0 for every sample), tanh and sigmoid count
   saturated values (|tanh| > 0.97, sigmoid within 0.03 of 0 or 1). Keeps
   the histograms of the latest step and the fractions of every step.
   Returns TG_OK or an error status with tg_last_error(). */
TG_API int tg_health_observe(tg_health *h, int step, const char *layer, const tg_tensor *y);
/** Before an optimizer step: copies the values of the parameters of p that
   are matrices (weights), to measure the update. TG_OK or an error status. */
TG_API int tg_health_before_update(tg_health *h, const tg_params *p);
/** After the optimizer step: for each weight copied by
   tg_health_before_update, the update-to-data ratio
   log10(std(new − old) / std(new)) at step `step` (about −3 is healthy;
   far above, the learning rate is too large). TG_OK or an error status. */
TG_API int tg_health_after_update(tg_health *h, const tg_params *p, int step);
/** Writes the picture as SVG: the histograms of activations and of their
   gradients, one series per layer (with mean, std and the dead or saturated
   fraction), the update-to-data ratio of each weight over the steps with a
   guide at −3, and the dead / saturated fraction over the steps. TG_OK or an
   error status (NULL argument, nothing observed, write error: f is flushed
   first, so the error is seen). */
TG_API int tg_health_svg(const tg_health *h, FILE *f);

#ifdef __cplusplus
}
#endif

#endif /* TAPEGRAD_TOOLS_H */
