/** @file tapegrad/ops.h — the ops: arithmetic with broadcasting, matrix products,
 * shapes and reductions, activations and losses.
 *
 * Part of <tapegrad.h>; include that. Every op has the form
 *     tg_tensor *tg_op(tg_tape *t, tg_tensor *x, ...)
 * and returns a new tensor owned by the tape, or NULL with a message on the
 * tape naming the op and the shapes; an op given NULL returns NULL, so one
 * check at the end of a forward pass is enough. Semantics and defaults are
 * PyTorch's; docs/ops.md lists every op with its formula and derivative.
 */
#ifndef TAPEGRAD_OPS_H
#define TAPEGRAD_OPS_H

#include "tapegrad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------- ops */

#define TG_ALL 0x7fffffff /**< reduce over every axis */

/** Element-wise, with NumPy broadcasting ([N,M] + [M], [N,1] * [1,M], ...). @{ */
TG_API tg_tensor *tg_add(tg_tape *t, tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_sub(tg_tape *t, tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_mul(tg_tape *t, tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_div(tg_tape *t, tg_tensor *a, tg_tensor *b);
/** @} */
/** Element-wise, same shape as x. @{ */
TG_API tg_tensor *tg_neg(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_scale(tg_tape *t, tg_tensor *x, tg_real s);      /**< s·x */
TG_API tg_tensor *tg_add_scalar(tg_tape *t, tg_tensor *x, tg_real s); /**< x + s */
TG_API tg_tensor *tg_pow(tg_tape *t, tg_tensor *x, tg_real p);        /**< xᵖ (torch.pow(x, p)) */
TG_API tg_tensor *tg_exp(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_log(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_sqrt(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_abs(tg_tape *t, tg_tensor *x);    /**< d/dx = sign(x), 0 at 0 */
TG_API tg_tensor *tg_square(tg_tape *t, tg_tensor *x);
/** @} */

/** erf(x) = 2/√π ∫₀ˣ e^(−t²) dt (torch.erf); d/dx = 2/√π · e^(−x²). */
TG_API tg_tensor *tg_erf(tg_tape *t, tg_tensor *x);

/** Comparisons with broadcasting: 1 where the relation holds, else 0 (as
   tg_real; PyTorch gives bool). They have no gradient and are never
   recorded: their results are constants, for masks and tg_where. NaN
   compares false, except in tg_ne. @{ */
TG_API tg_tensor *tg_eq(tg_tape *t, tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_ne(tg_tape *t, tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_lt(tg_tape *t, tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_le(tg_tape *t, tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_gt(tg_tape *t, tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_ge(tg_tape *t, tg_tensor *a, tg_tensor *b);
/** @} */
/** −1, 0 or 1 by the sign of x (NaN for NaN); no gradient (torch.sign). */
TG_API tg_tensor *tg_sign(tg_tape *t, tg_tensor *x);
/** a where cond ≠ 0, else b, the three broadcast together (torch.where). The
   gradient reaches a where cond holds and b where it does not; cond gets
   none. */
TG_API tg_tensor *tg_where(tg_tape *t, tg_tensor *cond, tg_tensor *a, tg_tensor *b);
/** min(max(x, lo), hi) (torch.clamp); pass -INFINITY or INFINITY for no
   bound. The gradient passes where lo ≤ x ≤ hi, bounds included, as
   PyTorch's; lo > hi gives hi everywhere, as PyTorch. */
TG_API tg_tensor *tg_clamp(tg_tape *t, tg_tensor *x, tg_real lo, tg_real hi);

/** Matrix product: [M,K] @ [K,N] -> [M,N]; batched [B,M,K] @ [B,K,N] -> [B,M,N];
   [B,M,K] @ [K,N] -> [B,M,N] (the matrix is shared by the batch). */
TG_API tg_tensor *tg_matmul(tg_tape *t, tg_tensor *a, tg_tensor *b);
/** Swaps two axes (torch.transpose); negative axes count from the end. */
TG_API tg_tensor *tg_transpose(tg_tape *t, tg_tensor *x, int dim0, int dim1);
/** x @ Wᵀ + b as torch.nn.functional.linear: x [..., in], W [out, in],
   b [out] or NULL -> [..., out]. */
TG_API tg_tensor *tg_linear(tg_tape *t, tg_tensor *x, tg_tensor *W, tg_tensor *b);

/** Same data, new shape; one dimension may be -1 (inferred). */
TG_API tg_tensor *tg_reshape(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape);
/** [N, d1, d2, ...] -> [N, d1·d2·...] (torch.flatten(x, 1)); a 1-D x stays 1-D. */
TG_API tg_tensor *tg_flatten(tg_tape *t, tg_tensor *x);
/** x broadcast to `shape` (torch.Tensor.expand / torch.broadcast_to): x's
   dimensions, right-aligned, must each equal the shape's or be 1; the
   result is a copy. Its gradient sums over the repeated positions. */
TG_API tg_tensor *tg_expand(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape);
/** x summed down to `shape`, a shape that broadcasts to x's
   (torch.Tensor.sum_to_size): the adjoint of tg_expand, and the gradient of
   a broadcast input. */
TG_API tg_tensor *tg_sum_to(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape);

/** Reductions over one axis (negative counts from the end) or TG_ALL;
   keepdim keeps the reduced axis with size 1. @{ */
TG_API tg_tensor *tg_sum(tg_tape *t, tg_tensor *x, int axis, bool keepdim);
TG_API tg_tensor *tg_mean(tg_tape *t, tg_tensor *x, int axis, bool keepdim);
/** @} */
/** The maximum; its gradient goes to the first position that attains it
   (like torch.max(x, dim)); over TG_ALL ties share the gradient equally
   (like torch.amax / torch.max(x)). */
TG_API tg_tensor *tg_max(tg_tape *t, tg_tensor *x, int axis, bool keepdim);

/** How a loss reduces its per-element values (PyTorch's `reduction`). */
typedef enum tg_reduction {
    TG_REDUCE_MEAN = 0,     /**< the default in PyTorch */
    TG_REDUCE_SUM = 1,      /**< the sum of the per-element losses */
    TG_REDUCE_NONE = 2,     /**< one loss per element (per sample) */
    TG_REDUCE_BATCHMEAN = 3 /**< the sum over the input's first dimension (tg_kl_div only) */
} tg_reduction;

/* Activation functions. Each takes x of any shape and returns a new tensor of
   the same shape (owned by the tape), or NULL on failure (the message is on
   the tape). Forward passes are numerically stable for any input; at a kink
   the gradient is PyTorch's choice (docs/ops.md lists every formula, its
   derivative, the kink values and the PyTorch equivalent). Where PyTorch's
   own result is NaN or Inf (e.g. silu(-inf), softsign(±inf)) tapegrad gives
   the same value. The macros below are PyTorch's defaults. */
#define TG_LEAKY_RELU_SLOPE 0.01       /**< F.leaky_relu negative_slope */
#define TG_ELU_ALPHA 1.0               /**< F.elu alpha */
#define TG_CELU_ALPHA 1.0              /**< F.celu alpha */
#define TG_SELU_ALPHA 1.6732632423543772848170429916717   /**< fixed by selu */
#define TG_SELU_SCALE 1.0507009873554804934193349852946   /**< fixed by selu */
#define TG_SOFTPLUS_BETA 1.0           /**< F.softplus beta */
#define TG_SOFTPLUS_THRESHOLD 20.0     /**< F.softplus threshold */
#define TG_HARDTANH_MIN (-1.0)         /**< F.hardtanh min_val */
#define TG_HARDTANH_MAX 1.0            /**< F.hardtanh max_val */
#define TG_PRELU_INIT 0.25             /**< nn.PReLU's initial weight */

/** 1/(1+e⁻ˣ), computed on the side of the sign that cannot overflow. */
TG_API tg_tensor *tg_sigmoid(tg_tape *t, tg_tensor *x);
/** tanh(x). */
TG_API tg_tensor *tg_tanh(tg_tape *t, tg_tensor *x);
/** max(x, 0); gradient 0 at x = 0. */
TG_API tg_tensor *tg_relu(tg_tape *t, tg_tensor *x);
/** min(max(x, 0), 6); gradient 0 at x = 0 and x = 6. */
TG_API tg_tensor *tg_relu6(tg_tape *t, tg_tensor *x);
/** x if x > 0 else negative_slope·x (default TG_LEAKY_RELU_SLOPE = 0.01);
   gradient negative_slope at x = 0. */
TG_API tg_tensor *tg_leaky_relu(tg_tape *t, tg_tensor *x, tg_real negative_slope);
/** x if x > 0 else alpha·(eˣ − 1) (default TG_ELU_ALPHA = 1); gradient alpha at 0. */
TG_API tg_tensor *tg_elu(tg_tape *t, tg_tensor *x, tg_real alpha);
/** TG_SELU_SCALE · elu(x, TG_SELU_ALPHA). */
TG_API tg_tensor *tg_selu(tg_tape *t, tg_tensor *x);
/** x if x > 0 else alpha·(e^(x/alpha) − 1) (default TG_CELU_ALPHA = 1);
   alpha 0 is refused. */
TG_API tg_tensor *tg_celu(tg_tape *t, tg_tensor *x, tg_real alpha);
/** log(1 + e^(beta·x))/beta, and x itself where beta·x > threshold (defaults
   TG_SOFTPLUS_BETA = 1, TG_SOFTPLUS_THRESHOLD = 20); beta 0 is refused. */
TG_API tg_tensor *tg_softplus(tg_tape *t, tg_tensor *x, tg_real beta, tg_real threshold);
/** x / (1 + |x|). */
TG_API tg_tensor *tg_softsign(tg_tape *t, tg_tensor *x);

/** Which form of GELU (F.gelu's `approximate`). */
typedef enum tg_gelu_approx {
    TG_GELU_NONE = 0, /**< exact: x·Φ(x) = x·(1 + erf(x/√2))/2 (the default) */
    TG_GELU_TANH = 1  /**< x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))/2 */
} tg_gelu_approx;
/** GELU in the chosen form (F.gelu(x, approximate=...)); an approx other than
   TG_GELU_NONE / TG_GELU_TANH is refused. */
TG_API tg_tensor *tg_gelu(tg_tape *t, tg_tensor *x, tg_gelu_approx approx);
/** x·sigmoid(x) (also called swish). */
TG_API tg_tensor *tg_silu(tg_tape *t, tg_tensor *x);
/** x·tanh(softplus(x)). */
TG_API tg_tensor *tg_mish(tg_tape *t, tg_tensor *x);
/** min(max(x, min_val), max_val) (defaults TG_HARDTANH_MIN/MAX = -1, 1);
   gradient 0 at both ends; min_val > max_val is refused. */
TG_API tg_tensor *tg_hardtanh(tg_tape *t, tg_tensor *x, tg_real min_val, tg_real max_val);
/** relu6(x + 3)/6; gradient 0 at x = ±3. */
TG_API tg_tensor *tg_hardsigmoid(tg_tape *t, tg_tensor *x);
/** x·relu6(x + 3)/6; gradient −0.5 at x = −3 and 1.5 at x = 3 (PyTorch's). */
TG_API tg_tensor *tg_hardswish(tg_tape *t, tg_tensor *x);
/** log(sigmoid(x)) = −softplus(−x), stable for any x. */
TG_API tg_tensor *tg_logsigmoid(tg_tape *t, tg_tensor *x);
/** x if x > 0 else w·x, with a learnable w (usually a parameter, initialised
   to TG_PRELU_INIT = 0.25 as nn.PReLU does): w has 1 element, or one per
   channel along dimension 1 of x (x [N, C, ...], w [C]). The gradient flows
   to x and to w; at x = 0 the x-gradient is w. NULL if w's size fits neither. */
TG_API tg_tensor *tg_prelu(tg_tape *t, tg_tensor *x, tg_tensor *w);
/** exp(x − max) / Σ exp(x − max) along `axis` (negative counts from the end). */
TG_API tg_tensor *tg_softmax(tg_tape *t, tg_tensor *x, int axis);
/** x − max − log Σ exp(x − max) along `axis`: finite for any finite x. */
TG_API tg_tensor *tg_log_softmax(tg_tape *t, tg_tensor *x, int axis);
/** softmax(−x) along `axis` (F.softmin(x, dim)): exp(−x − max(−x)) / Σ. */
TG_API tg_tensor *tg_softmin(tg_tape *t, tg_tensor *x, int axis);
/** a ⊙ σ(b), a and b the first and second halves of x along `axis` (F.glu(x,
   dim); PyTorch's default dim is -1): the output has that axis halved. An
   odd size there, a 0-d x or an axis out of range is refused. */
TG_API tg_tensor *tg_glu(tg_tape *t, tg_tensor *x, int axis);

#define TG_HARDSHRINK_LAMBDA 0.5 /**< F.hardshrink lambd */
#define TG_SOFTSHRINK_LAMBDA 0.5 /**< F.softshrink lambd */
#define TG_LOGIT_NO_EPS (-1.0)   /**< tg_logit's eps for torch.logit's eps=None */

/** x where |x| > lambd, else 0 (F.hardshrink; default TG_HARDSHRINK_LAMBDA);
   gradient 0 at x = ±lambd. */
TG_API tg_tensor *tg_hardshrink(tg_tape *t, tg_tensor *x, tg_real lambd);
/** x − lambd where x > lambd, x + lambd where x < −lambd, else 0 (F.softshrink;
   default TG_SOFTSHRINK_LAMBDA); gradient 0 at x = ±lambd; lambd < 0 is
   refused, as PyTorch. */
TG_API tg_tensor *tg_softshrink(tg_tape *t, tg_tensor *x, tg_real lambd);
/** x − tanh x (F.tanhshrink); d/dx = tanh² x. */
TG_API tg_tensor *tg_tanhshrink(tg_tape *t, tg_tensor *x);
/** x where x > threshold, else value (F.threshold(x, threshold, value));
   gradient 0 at x = threshold. */
TG_API tg_tensor *tg_threshold(tg_tape *t, tg_tensor *x, tg_real threshold, tg_real value);
/** log(z / (1 − z)) with z = x clamped to [eps, 1 − eps] (torch.logit(x,
   eps)); a negative eps (TG_LOGIT_NO_EPS) is eps=None: no clamp, so x = 0
   and 1 give ∓inf and x outside [0, 1] NaN. The gradient 1/(x(1 − x)) is 0
   where the clamp holds x (x < eps or x > 1 − eps) and NaN outside [0, 1]
   without eps, as PyTorch's. */
TG_API tg_tensor *tg_logit(tg_tape *t, tg_tensor *x, tg_real eps);

/* Losses, as torch.nn.functional's. Each returns a scalar (ndim 0) for
   TG_REDUCE_MEAN (PyTorch's default) and TG_REDUCE_SUM, or the per-element
   losses for TG_REDUCE_NONE. The mean of no elements is NaN, as in PyTorch.
   NULL on failure (shapes that differ, a bad option, a class index out of
   range): the message on the tape names the op. Gradients flow to `input`
   and, where it requires grad, to a floating `target`. */
#define TG_SMOOTH_L1_BETA 1.0  /**< F.smooth_l1_loss beta */
#define TG_HUBER_DELTA 1.0     /**< F.huber_loss delta */
#define TG_IGNORE_INDEX (-100) /**< F.cross_entropy / F.nll_loss ignore_index */

/** (input − target)². input and target broadcast together, as PyTorch
   broadcasts them (with a warning there, none here); the mean divides by
   the broadcast count, and a broadcast input's gradient is summed over the
   positions it was repeated to. The same holds for tg_l1_loss,
   tg_smooth_l1_loss and tg_huber_loss. */
TG_API tg_tensor *tg_mse_loss(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_reduction red);
/** |input − target| (mean absolute error); gradient 0 where they are equal. */
TG_API tg_tensor *tg_l1_loss(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_reduction red);
/** With d = input − target: 0.5·d²/beta if |d| < beta, else |d| − 0.5·beta
   (default TG_SMOOTH_L1_BETA = 1; beta 0 is the l1 loss; beta < 0 refused). */
TG_API tg_tensor *tg_smooth_l1_loss(tg_tape *t, tg_tensor *input, tg_tensor *target,
                                    tg_real beta, tg_reduction red);
/** 0.5·d² if |d| < delta, else delta·(|d| − 0.5·delta) (default
   TG_HUBER_DELTA = 1; delta ≤ 0 refused). */
TG_API tg_tensor *tg_huber_loss(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_real delta,
                                tg_reduction red);
/** Binary cross entropy on probabilities p in [0, 1] (anything else, NaN
   included, is refused as PyTorch does): −(y·log p + (1 − y)·log(1 − p)) with
   each log clamped at −100, so p = 0 or 1 gives a finite loss. */
TG_API tg_tensor *tg_bce_loss(tg_tape *t, tg_tensor *prob, tg_tensor *target, tg_reduction red);
/** tg_bce_loss with F.binary_cross_entropy's `weight`: each element's loss
   times weight, which broadcasts to prob's shape (NULL: none); the mean
   still divides by the number of elements. weight gets a gradient (the
   unweighted loss) if it requires one (PyTorch refuses that case). */
TG_API tg_tensor *tg_bce_loss_ex(tg_tape *t, tg_tensor *prob, tg_tensor *target,
                                 tg_tensor *weight, tg_reduction red);
/** Binary cross entropy on logits x, stable for any x:
   (1 − y)·x + w·(max(−x, 0) + log(1 + e^−|x|)) with w = 1 + (pos_weight − 1)·y,
   i.e. max(x, 0) − x·y + log(1 + e^−|x|) without pos_weight. pos_weight may be
   NULL, or broadcast to the logits' shape (e.g. [C] for logits [N, C]); if it
   requires grad it receives one too (PyTorch refuses that case). */
TG_API tg_tensor *tg_bce_with_logits(tg_tape *t, tg_tensor *logits, tg_tensor *target,
                                     tg_tensor *pos_weight, tg_reduction red);
/** tg_bce_with_logits with F.binary_cross_entropy_with_logits' `weight` too:
   each element's loss times weight (NULL: none), which broadcasts to the
   logits' shape; the mean still divides by the number of elements. weight
   gets a gradient (the unweighted loss) if it requires one. */
TG_API tg_tensor *tg_bce_with_logits_ex(tg_tape *t, tg_tensor *logits, tg_tensor *target,
                                        tg_tensor *weight, tg_tensor *pos_weight,
                                        tg_reduction red);

/** Options of the class-index losses (F.cross_entropy's keyword arguments).
   TG_CE_OPTS_DEFAULT is PyTorch's default; passing NULL means the same. */
typedef struct tg_ce_opts {
    tg_reduction reduction;  /**< TG_REDUCE_MEAN */
    int64_t ignore_index;    /**< TG_IGNORE_INDEX (-100): targets equal to it add
                                nothing and are not counted by the mean */
    double label_smoothing;  /**< 0; in [0, 1]: the target becomes
                                (1 − ε)·onehot + ε/C. Not for nll (must be 0) */
    const tg_tensor *weight; /**< NULL; or [C] class weights (PyTorch's `weight`):
                                class c's terms are multiplied by w_c, and with
                                index targets the mean divides by the sum of the
                                targets' weights instead of their number (with
                                probability targets, by the number of samples).
                                Read when the op runs; it gets no gradient. */
} tg_ce_opts;
/** PyTorch's defaults: mean, ignore_index −100, no smoothing, no weights. */
#define TG_CE_OPTS_DEFAULT ((tg_ce_opts){TG_REDUCE_MEAN, TG_IGNORE_INDEX, 0.0, NULL})

/** Cross entropy on logits with class indices, fused with log_softmax in one
   stable pass (any logit size): −log softmax(x)[target]. logits [N, C] with
   target[N], or [N, C, d1, ...] with target[N·d1·...] (the classes along
   dimension 1, as PyTorch), or [C] with one target. Every target must be in
   [0, C) or be ignore_index: otherwise NULL, and the message names the index
   and C. `target` is copied onto the tape: the caller may reuse it at once. */
TG_API tg_tensor *tg_cross_entropy(tg_tape *t, tg_tensor *logits, const int64_t *target,
                                   tg_reduction red);
/** The same with every option (opts NULL: TG_CE_OPTS_DEFAULT). */
TG_API tg_tensor *tg_cross_entropy_ex(tg_tape *t, tg_tensor *logits, const int64_t *target,
                                      const tg_ce_opts *opts);
/** Cross entropy with probability targets of the logits' shape (one-hot is a
   special case): −Σ_c y'_c·log softmax(x)_c over dimension 1, with
   y' = (1 − ε)·y + ε/C. The mean divides by the number of samples (N·d1·...).
   ignore_index does not apply. The gradient reaches target if it requires grad. */
TG_API tg_tensor *tg_cross_entropy_prob(tg_tape *t, tg_tensor *logits, tg_tensor *target,
                                        const tg_ce_opts *opts);
/** Negative log-likelihood on log-probabilities (e.g. tg_log_softmax(t, x, 1)):
   −logp[target]; shapes and target rules as tg_cross_entropy; opts may be
   NULL; label_smoothing must be 0. */
TG_API tg_tensor *tg_nll_loss(tg_tape *t, tg_tensor *logp, const int64_t *target,
                              const tg_ce_opts *opts);

#define TG_COSINE_EPS 1e-8     /**< F.cosine_similarity eps */
#define TG_HINGE_MARGIN 1.0    /**< F.hinge_embedding_loss margin */
#define TG_TRIPLET_MARGIN 1.0  /**< F.triplet_margin_loss margin */
#define TG_TRIPLET_P 2.0       /**< F.triplet_margin_loss p */
#define TG_TRIPLET_EPS 1e-6    /**< F.triplet_margin_loss eps */
#define TG_POISSON_EPS 1e-8    /**< F.poisson_nll_loss eps */
#define TG_GAUSSIAN_EPS 1e-6   /**< F.gaussian_nll_loss eps */

/** KL divergence on log-probabilities (F.kl_div(input, target, reduction,
   log_target)): target·(log target − input) with 0·log 0 = 0, or with
   log_target e^target·(target − input). input and target broadcast
   together. TG_REDUCE_BATCHMEAN (the mathematically right one) divides the
   sum by input's first dimension; TG_REDUCE_MEAN by every element, as
   PyTorch. The target gets a gradient too; at a target of exactly 0 it is
   NaN (not log_target), as PyTorch's. */
TG_API tg_tensor *tg_kl_div(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_reduction red,
                            bool log_target);
/** Cosine similarity along `dim` (F.cosine_similarity(x1, x2, dim, eps),
   defaults dim 1, eps TG_COSINE_EPS): Σ x1·x2 / (max(‖x1‖, eps)·max(‖x2‖,
   eps)). x1 and x2 broadcast together; the result has their broadcast shape
   without `dim` (negative counts from the end; a 0-d shape takes 0 or -1).
   Where a norm is below eps the gradient is PyTorch's: taken through the
   norm as if unclamped, at the clamped value. */
TG_API tg_tensor *tg_cosine_similarity(tg_tape *t, tg_tensor *x1, tg_tensor *x2, int dim,
                                       tg_real eps);
/** F.cosine_embedding_loss(x1, x2, y, margin): with cos computed as
   Σ x1·x2 / √((Σ x1² + 1e-12)(Σ x2² + 1e-12)) along the last axis, the loss
   is 1 − cos where y = 1, max(0, cos − margin) where y = −1 and 0 for any
   other y. x1, x2 [N, D] with y [N], or [D] with a 0-d y; x1 and x2 may
   broadcast. y gets no gradient. */
TG_API tg_tensor *tg_cosine_embedding_loss(tg_tape *t, tg_tensor *input1, tg_tensor *input2,
                                           tg_tensor *target, tg_real margin, tg_reduction red);
/** max(0, −y·(x1 − x2) + margin) (F.margin_ranking_loss): the three have one
   number of dimensions and broadcast together; every input gets a gradient
   (the clamp passes it at 0, as PyTorch's). micrograd's SVM loss
   max(0, 1 − y·score) is this with x2 = 0 and margin 1. */
TG_API tg_tensor *tg_margin_ranking_loss(tg_tape *t, tg_tensor *input1, tg_tensor *input2,
                                         tg_tensor *target, tg_real margin, tg_reduction red);
/** F.hinge_embedding_loss(x, y, margin) (default TG_HINGE_MARGIN): x where y
   = 1, max(0, margin − x) where y = −1 (both terms added for any other y, as
   PyTorch); x and y broadcast; y gets no gradient. */
TG_API tg_tensor *tg_hinge_embedding_loss(tg_tape *t, tg_tensor *input, tg_tensor *target,
                                          tg_real margin, tg_reduction red);
/** The multi-class SVM loss (F.multi_margin_loss(x, y, p, margin, weight)):
   per sample Σ_{c ≠ y} w_y·max(0, margin − x_y + x_c)^p / C. x [N, C] with
   target [N], or [C] with one index (0-d or [1]); p 1 or 2 (PyTorch's
   defaults 1 and margin 1); weight NULL or [C], no gradient, read when the
   op runs (a tensor of another tape is copied). The indices are read when
   the op runs too: one outside [0, C) is refused with a message naming it.
   The mean of no sample is NaN (PyTorch 1.13 returns garbage there). */
TG_API tg_tensor *tg_multi_margin_loss(tg_tape *t, tg_tensor *input, const tg_index *target,
                                       int p, tg_real margin, const tg_tensor *weight,
                                       tg_reduction red);
/** F.triplet_margin_loss(a, pos, neg, margin, p, eps, swap) (defaults
   TG_TRIPLET_MARGIN, TG_TRIPLET_P, TG_TRIPLET_EPS, no swap):
   max(0, margin + d(a, pos) − d(a, neg)) with d(x, y) = ‖x − y + eps‖_p
   along the last axis; with swap, d(a, neg) becomes min(d(a, neg),
   d(pos, neg)). The three have one number of dimensions (at least 1) and
   broadcast together. p must be at least 1 (below 1 it is not a norm;
   PyTorch accepts it). */
TG_API tg_tensor *tg_triplet_margin_loss(tg_tape *t, tg_tensor *anchor, tg_tensor *positive,
                                         tg_tensor *negative, tg_real margin, tg_real p,
                                         tg_real eps, bool swap, tg_reduction red);
/** Poisson negative log-likelihood (F.poisson_nll_loss(x, y, log_input,
   full, eps), defaults true, false, TG_POISSON_EPS): e^x − y·x with
   log_input, else x − y·log(x + eps); full adds Stirling's term
   y·log y − y + log(2πy)/2 where y > 1. x and y broadcast; y gets a
   gradient too (NaN at y = 0 with full, as PyTorch's). */
TG_API tg_tensor *tg_poisson_nll_loss(tg_tape *t, tg_tensor *input, tg_tensor *target,
                                      bool log_input, bool full, tg_real eps, tg_reduction red);
/** Gaussian negative log-likelihood (F.gaussian_nll_loss(x, y, var, full,
   eps), defaults false, TG_GAUSSIAN_EPS): (log c + (x − y)²/c)/2 with
   c = max(var, eps) (+ log(2π)/2 with full). var has x's shape, or x's
   shape without its last dimension (one variance per row), or that with a
   trailing 1, as PyTorch 1.13; x and y broadcast. A negative var is
   refused. The clamp is outside the gradient, as PyTorch's: var's gradient
   is taken at c. */
TG_API tg_tensor *tg_gaussian_nll_loss(tg_tape *t, tg_tensor *input, tg_tensor *target,
                                       tg_tensor *var, bool full, tg_real eps, tg_reduction red);

/* ================================================ element-wise math
   (src/ops/math.c) */

/** Trigonometric and hyperbolic functions and their inverses, element-wise
   (torch.sin ... torch.atanh). The derivatives are PyTorch's formulas, so
   they agree at the edges: tan's is 1 + tan², asin's 1/√(1 − x²) (inf at
   ±1, NaN outside), acosh's 1/√(x² − 1), atanh's 1/(1 − x²). @{ */
TG_API tg_tensor *tg_sin(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_cos(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_tan(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_asin(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_acos(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_atan(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_sinh(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_cosh(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_asinh(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_acosh(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_atanh(tg_tape *t, tg_tensor *x);
/** @} */
/** atan2(a, b): the angle of the point (b, a), in (−π, π] (torch.atan2(a,
   b)); a and b broadcast. ∂/∂a = b/(a² + b²), ∂/∂b = −a/(a² + b²). */
TG_API tg_tensor *tg_atan2(tg_tape *t, tg_tensor *a, tg_tensor *b);
/** Logarithms and exponentials (torch.log1p, expm1, log2, log10, exp2):
   log(1 + x) and eˣ − 1 exact for small x, log₂ x, log₁₀ x, 2ˣ. @{ */
TG_API tg_tensor *tg_log1p(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_expm1(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_log2(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_log10(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_exp2(tg_tape *t, tg_tensor *x);
/** @} */
/** 1/√x (torch.rsqrt); d/dx = −y³/2. */
TG_API tg_tensor *tg_rsqrt(tg_tape *t, tg_tensor *x);
/** 1/x (torch.reciprocal); d/dx = −y². */
TG_API tg_tensor *tg_reciprocal(tg_tape *t, tg_tensor *x);
/** 1 − erf x, exact in the right tail (torch.erfc); d/dx = −2/√π·e^(−x²). */
TG_API tg_tensor *tg_erfc(tg_tape *t, tg_tensor *x);
/** The inverse of erf (torch.erfinv): ±inf at ±1, NaN outside [−1, 1];
   d/dx = √π/2·e^(y²). */
TG_API tg_tensor *tg_erfinv(tg_tape *t, tg_tensor *x);

/** Rounding (torch.floor, ceil, round, trunc); round takes ties to even, as
   torch.round. No gradient (PyTorch's is 0 everywhere): like the
   comparisons, they are never recorded and their results are constants.
   @{ */
TG_API tg_tensor *tg_floor(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_ceil(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_round(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_trunc(tg_tape *t, tg_tensor *x);
/** @} */

/** The element-wise minimum and maximum (torch.minimum, torch.maximum), a and
   b broadcast. NaN in either gives NaN. The gradient goes to the input
   taken; at a tie each gets half, as PyTorch (at a NaN, each the whole). @{ */
TG_API tg_tensor *tg_minimum(tg_tape *t, tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_maximum(tg_tape *t, tg_tensor *a, tg_tensor *b);
/** @} */
/** min(max(x, lo), hi) with tensor bounds (torch.clamp(x, lo, hi)); lo or hi
   may be NULL (no bound), not both; the three broadcast. NaN in any gives
   NaN; where lo > hi the result is hi. Gradients as PyTorch's: to x where
   lo ≤ x ≤ hi (a bound hit exactly passes it to x), to lo where x < lo < hi,
   to hi where x > hi or hi < lo. tg_clamp takes scalar bounds. */
TG_API tg_tensor *tg_clamp_tensor(tg_tape *t, tg_tensor *x, tg_tensor *lo, tg_tensor *hi);

/** xᵉ with a tensor exponent (torch.pow(x, e)), broadcasting. Gradients as
   PyTorch's: ∂/∂x = e·x^(e−1), 0 where e = 0; ∂/∂e = xᵉ·ln x, 0 where x = 0
   and e ≥ 0 (NaN for x < 0, as ln x). tg_pow takes a scalar exponent. */
TG_API tg_tensor *tg_pow_tensor(tg_tape *t, tg_tensor *x, tg_tensor *exponent);
/** baseᵉ with a scalar base (torch.pow(base, e)); ∂/∂e = baseᵉ·ln base, and 0
   where base = 0 and e ≥ 0. */
TG_API tg_tensor *tg_pow_scalar_base(tg_tape *t, tg_real base, tg_tensor *exponent);

/** start + weight·(end − start) (torch.lerp), start and end broadcast; computed
   as PyTorch does, exact at both ends. ∂/∂start = 1 − weight, ∂/∂end =
   weight. */
TG_API tg_tensor *tg_lerp(tg_tape *t, tg_tensor *start, tg_tensor *end, tg_real weight);
/** lerp with a tensor weight, the three broadcast; ∂/∂weight = end − start. */
TG_API tg_tensor *tg_lerp_tensor(tg_tape *t, tg_tensor *start, tg_tensor *end,
                                 tg_tensor *weight);
/** a + alpha·b and a − alpha·b (torch.add(a, b, alpha=), torch.sub), with one
   rounding (a fused multiply-add, as PyTorch's kernel); a and b broadcast.
   Both record the op "add_alpha" (sub with −alpha). @{ */
TG_API tg_tensor *tg_add_alpha(tg_tape *t, tg_tensor *a, tg_tensor *b, tg_real alpha);
TG_API tg_tensor *tg_sub_alpha(tg_tape *t, tg_tensor *a, tg_tensor *b, tg_real alpha);
/** @} */


/* ========================================================== indexing
   (src/ops/index.c): indices are tg_index arrays (tapegrad/core.h) */


/* ================================================ joining and splitting
   (src/ops/join.c) */


#ifdef __cplusplus
}
#endif

#endif /* TAPEGRAD_OPS_H */
