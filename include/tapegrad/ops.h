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
/** −1, 0 or 1 by the sign of x (0 for NaN, as torch.sign); no gradient. */
TG_API tg_tensor *tg_sign(tg_tape *t, tg_tensor *x);
/** a where cond ≠ 0, else b, the three broadcast together (torch.where). The
   gradient reaches a where cond holds and b where it does not; cond gets
   none. */
TG_API tg_tensor *tg_where(tg_tape *t, tg_tensor *cond, tg_tensor *a, tg_tensor *b);
/** min(max(x, lo), hi) (torch.clamp); pass -INFINITY or INFINITY for no
   bound. The gradient passes where lo ≤ x ≤ hi, bounds included, as
   PyTorch's; lo > hi gives hi everywhere, as PyTorch. */
TG_API tg_tensor *tg_clamp(tg_tape *t, tg_tensor *x, tg_real lo, tg_real hi);

/** Matrix product as torch.matmul: [..., M, K] @ [..., K, N] -> [..., M, N],
   the batch dimensions (all but the last two) broadcast as NumPy's
   ([B,1,M,K] @ [H,K,N] -> [B,H,M,N]); a 1-D operand is a row on the left or
   a column on the right, and its dimension is dropped ([K] @ [K] is the
   dot product, [M,K] @ [K] a matrix-vector product). A repeated operand's
   gradient is summed over the batch it was repeated to. */
TG_API tg_tensor *tg_matmul(tg_tape *t, tg_tensor *a, tg_tensor *b);
/** Σ_i a_i·b_i of two vectors of one length, a 0-d tensor (torch.dot). */
TG_API tg_tensor *tg_dot(tg_tape *t, tg_tensor *a, tg_tensor *b);
/** The outer product y_ij = a_i·b_j of two vectors, [M] ⊗ [N] -> [M, N]
   (torch.outer). */
TG_API tg_tensor *tg_outer(tg_tape *t, tg_tensor *a, tg_tensor *b);
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
    TG_REDUCE_MEAN = 0, /**< the default in PyTorch */
    TG_REDUCE_SUM = 1,
    TG_REDUCE_NONE = 2
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

/* Losses, as torch.nn.functional's. Each returns a scalar (ndim 0) for
   TG_REDUCE_MEAN (PyTorch's default) and TG_REDUCE_SUM, or the per-element
   losses for TG_REDUCE_NONE. The mean of no elements is NaN, as in PyTorch.
   NULL on failure (shapes that differ, a bad option, a class index out of
   range): the message on the tape names the op. Gradients flow to `input`
   and, where it requires grad, to a floating `target`. */
#define TG_SMOOTH_L1_BETA 1.0  /**< F.smooth_l1_loss beta */
#define TG_HUBER_DELTA 1.0     /**< F.huber_loss delta */
#define TG_IGNORE_INDEX (-100) /**< F.cross_entropy / F.nll_loss ignore_index */

/** (input − target)²; input and target have the same shape. */
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
/** Binary cross entropy on logits x, stable for any x:
   (1 − y)·x + w·(max(−x, 0) + log(1 + e^−|x|)) with w = 1 + (pos_weight − 1)·y,
   i.e. max(x, 0) − x·y + log(1 + e^−|x|) without pos_weight. pos_weight may be
   NULL, or broadcast to the logits' shape (e.g. [C] for logits [N, C]); if it
   requires grad it receives one too (PyTorch refuses that case). */
TG_API tg_tensor *tg_bce_with_logits(tg_tape *t, tg_tensor *logits, tg_tensor *target,
                                     tg_tensor *pos_weight, tg_reduction red);

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

/* ================================================ element-wise math
   (src/ops/math.c) */


/* ========================================================== indexing
   (src/ops/index.c): indices are tg_index arrays (tapegrad/core.h) */


/* ================================================ joining and splitting
   (src/ops/join.c) */


/* ================================= convolution, pooling, normalisation,
   dropout (src/ops/conv.c, pool.c, norm.c, dropout.c)

   Layouts as PyTorch's: channels first, [N, C, L] for 1-D and [N, C, H, W]
   for 2-D; each op also takes one sample without its N axis ([C, L],
   [C, H, W]) as PyTorch does, and gives its result without N. Pairs of
   sizes are {height, width}; a 1-D op reads entry 0 of each pair only (its
   length) and ignores entry 1. */

/** Options of the convolutions (F.conv2d's and F.conv_transpose2d's keyword
   arguments). Zero in every field is PyTorch's default, so
   `&(tg_conv_opts){.stride = {2, 2}, .padding = {1, 1}}` says what
   differs; NULL means all defaults. Pairs are {height, width}: set both
   (`.stride = {2}` is stride (2, 1) in 2-D). */
typedef struct tg_conv_opts {
    int64_t stride[2];         /**< 0 means 1 */
    int64_t padding[2];        /**< zeros added before and after each side; 0 */
    int64_t dilation[2];       /**< spacing of the kernel's taps; 0 means 1 */
    int64_t output_padding[2]; /**< transposed only: extra size at the end of the
                                  output, less than the stride or the dilation; 0 */
    int64_t groups;            /**< 0 means 1; channels in and out divisible by it
                                  (groups = channels: depthwise) */
    bool padding_same;         /**< padding="same" (not for transposed ones): the
                                  output has the input's size; needs stride 1 and
                                  padding 0; an odd total pads one more at the end,
                                  as PyTorch */
} tg_conv_opts;

/** Convolution (cross-correlation, as PyTorch's F.conv1d / F.conv2d):
   x [N, C, L] by w [O, C/groups, k], or x [N, C, H, W] by w [O, C/groups,
   kH, kW], plus b [O] (or NULL), to [N, O, L_out] / [N, O, H_out, W_out]
   with H_out = ⌊(H + 2·padding − dilation·(kH − 1) − 1)/stride⌋ + 1.
   Gradients: x's is a transposed convolution of the output's gradient, w's
   is tg_conv2d_weight of x and it, b's its sum (any order: each of those is
   an op with gradients of its own). NULL with a message naming the shapes
   for a kernel larger than the padded input, channels that do not divide
   by groups, or wrong ranks. @{ */
TG_API tg_tensor *tg_conv1d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b,
                            const tg_conv_opts *opts);
TG_API tg_tensor *tg_conv2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b,
                            const tg_conv_opts *opts);
/** @} */
/** Transposed convolution (F.conv_transpose1d / F.conv_transpose2d): the
   adjoint of the convolution in its input, x [N, C_in, H, W] by w [C_in,
   C_out/groups, kH, kW] plus b [C_out] to [N, C_out, H_out, W_out] with
   H_out = (H − 1)·stride − 2·padding + dilation·(kH − 1) + output_padding + 1.
   padding_same is refused (as PyTorch). @{ */
TG_API tg_tensor *tg_conv_transpose1d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b,
                                      const tg_conv_opts *opts);
TG_API tg_tensor *tg_conv_transpose2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b,
                                      const tg_conv_opts *opts);
/** @} */
/** The gradient of a convolution's weight from its input x and the
   gradient of its output (torch.nn.grad.conv1d_weight / conv2d_weight):
   a tensor of weight_shape ({O, C/groups, k} or {O, C/groups, kH, kW}),
   Σ over samples and positions of grad_output times the input's patches.
   grad_output must have the convolution's output shape. What the
   convolutions' gradients are made of; differentiable again. @{ */
TG_API tg_tensor *tg_conv1d_weight(tg_tape *t, tg_tensor *x, const int64_t *weight_shape,
                                   tg_tensor *grad_output, const tg_conv_opts *opts);
TG_API tg_tensor *tg_conv2d_weight(tg_tape *t, tg_tensor *x, const int64_t *weight_shape,
                                   tg_tensor *grad_output, const tg_conv_opts *opts);
/** @} */

/** Options of the pooling ops (F.max_pool2d's and F.avg_pool2d's keyword
   arguments). Start from tg_pool_defaults(kernel_h, kernel_w), which holds
   PyTorch's defaults, and change fields. Pairs are {height, width}; a 1-D
   op reads entry 0 (so pass its kernel as kernel_h). */
typedef struct tg_pool_opts {
    int64_t kernel[2];        /**< the window, at least 1 */
    int64_t stride[2];        /**< 0: the kernel (PyTorch's stride=None) */
    int64_t padding[2];       /**< implicit padding on both sides, at most half the
                                 kernel (as PyTorch): −inf for max, 0 for avg; 0 */
    int64_t dilation[2];      /**< max pooling only: spacing of the taps; 0 means 1 */
    bool ceil_mode;           /**< round the output size up: a last window may hang
                                 over the end (never starting past the input or its
                                 left padding); false */
    bool count_include_pad;   /**< avg only: the divisor counts the padded positions;
                                 true */
    int64_t divisor_override; /**< avg only: divide by this instead; 0: none */
} tg_pool_opts;
/** PyTorch's defaults with this kernel: stride = kernel, no padding, no
   dilation, floor mode, count_include_pad true, no divisor_override. */
TG_API tg_pool_opts tg_pool_defaults(int64_t kernel_h, int64_t kernel_w);

/** Max pooling (F.max_pool1d / F.max_pool2d): the largest value of each
   window, x [N, C, L] or [N, C, H, W] (or one sample without N) to the
   same with the pooled sizes L_out = ⌊(L + 2·padding − dilation·(k − 1) − 1
   + (ceil_mode ? stride − 1 : 0))/stride⌋ + 1 (one less if ceil_mode would
   start a window past the input). NaN is the largest; of equal values the
   first (in row-major order) wins and gets the gradient; a window that
   holds no input position (padding and dilation) gives −inf and no
   gradient. opts is needed (the kernel). @{ */
TG_API tg_tensor *tg_max_pool1d(tg_tape *t, tg_tensor *x, const tg_pool_opts *opts);
TG_API tg_tensor *tg_max_pool2d(tg_tape *t, tg_tensor *x, const tg_pool_opts *opts);
/** @} */
/** The same, and the position of each maximum (return_indices=True):
   *indices, of the output's shape, holds for each output value the flat
   index (ih·W + iw, or il) of its winner in its own plane of x, as PyTorch
   gives them (−1 for a window without an input position). The indices are
   on the tape, valid until it is reset. @{ */
TG_API tg_tensor *tg_max_pool1d_with_indices(tg_tape *t, tg_tensor *x, const tg_pool_opts *opts,
                                             tg_index **indices);
TG_API tg_tensor *tg_max_pool2d_with_indices(tg_tape *t, tg_tensor *x, const tg_pool_opts *opts,
                                             tg_index **indices);
/** @} */
/** Average pooling (F.avg_pool1d / F.avg_pool2d): the sum of each window
   over its divisor: divisor_override if set, else the window's size
   counting the padding (count_include_pad, the default) or the input
   positions only; the window is cut at the end of the padded input.
   Sizes as max pooling (no dilation). divisor_override also works in 1-D
   (as F.avg_pool2d over a height of 1; F.avg_pool1d has none). @{ */
TG_API tg_tensor *tg_avg_pool1d(tg_tape *t, tg_tensor *x, const tg_pool_opts *opts);
TG_API tg_tensor *tg_avg_pool2d(tg_tape *t, tg_tensor *x, const tg_pool_opts *opts);
/** @} */
/** Adaptive average pooling (F.adaptive_avg_pool2d): [N, C, H, W] (or
   [C, H, W]) to [N, C, out_h, out_w], output (i, j) the mean of rows
   ⌊i·H/out_h⌋ .. ⌈(i + 1)·H/out_h⌉ − 1 and the same for columns (windows
   may overlap; out_h > H repeats rows). (1, 1) is global average pooling. */
TG_API tg_tensor *tg_adaptive_avg_pool2d(tg_tape *t, tg_tensor *x, int64_t out_h, int64_t out_w);

/* Normalisation. Each normalises groups of values by their mean μ and
   biased variance σ², x̂ = (x − μ)/√(σ² + eps), then applies an optional
   affine y = x̂·w + b; the statistics are computed in double. Gradients of
   every order. */
#define TG_NORM_EPS 1e-5             /**< eps of batch_norm, layer_norm, group_norm */
#define TG_BATCH_NORM_MOMENTUM 0.1   /**< F.batch_norm's momentum */
/** rms_norm's eps=None (PyTorch's default): the machine epsilon of tg_real. */
#define TG_RMS_NORM_EPS_AUTO (-1.0)

/** Batch normalisation (F.batch_norm): x [N, C] or [N, C, ...], each channel
   c normalised over the batch and the positions. In training (`training`
   true) with the batch's statistics, and when running_mean and running_var
   ([C], not requiring grad; both or neither) are given they are updated in
   place, as PyTorch does: running_mean ← (1 − momentum)·running_mean +
   momentum·μ, running_var likewise with the unbiased variance σ²·M/(M − 1)
   (M values per channel; training needs M > 1). In evaluation with
   running_mean and running_var (required then). weight and bias [C] may
   be NULL (defaults TG_BATCH_NORM_MOMENTUM, TG_NORM_EPS). The update is a
   side effect of the forward: running the op again (a replay, a gradient
   check) updates again. */
TG_API tg_tensor *tg_batch_norm(tg_tape *t, tg_tensor *x, tg_tensor *running_mean,
                                tg_tensor *running_var, tg_tensor *weight, tg_tensor *bias,
                                bool training, double momentum, double eps);
/** Layer normalisation (F.layer_norm): over the last ndim dimensions of x,
   which must be normalized_shape; weight and bias (NULL for none) have
   that shape. Default eps TG_NORM_EPS. */
TG_API tg_tensor *tg_layer_norm(tg_tape *t, tg_tensor *x, int ndim, const int64_t *normalized_shape,
                                tg_tensor *weight, tg_tensor *bias, double eps);
/** Group normalisation (F.group_norm): x [N, C, ...], the C channels in
   num_groups groups (C divisible by it), each group of each sample
   normalised over its channels and positions; weight and bias [C] or NULL.
   Default eps TG_NORM_EPS. num_groups = 1 is layer norm over [C, ...];
   num_groups = C is instance norm. */
TG_API tg_tensor *tg_group_norm(tg_tape *t, tg_tensor *x, int64_t num_groups, tg_tensor *weight,
                                tg_tensor *bias, double eps);
/** RMS normalisation (F.rms_norm of recent PyTorch, not in 1.13):
   y = x/√(mean(x²) + eps)·weight over the last ndim dimensions
   (normalized_shape); no mean is subtracted; weight has normalized_shape
   or is NULL. eps TG_RMS_NORM_EPS_AUTO is PyTorch's None: the machine
   epsilon of tg_real (FLT_EPSILON or DBL_EPSILON). */
TG_API tg_tensor *tg_rms_norm(tg_tape *t, tg_tensor *x, int ndim, const int64_t *normalized_shape,
                              tg_tensor *weight, double eps);

/** Dropout (F.dropout): in training, each element is zeroed with
   probability p, else scaled by 1/(1 − p); p = 1 gives zeros (x·0). The
   mask is drawn by the op from rng (one uniform draw per element, in
   row-major order), so the same seed gives the same mask; the gradient
   is the mask times the output's. Not training, p = 0 or an empty x:
   returns x itself (nothing recorded). p outside [0, 1] is refused; rng
   may be NULL only where nothing is drawn. The rng must stay alive as
   long as the tape may replay the op. */
TG_API tg_tensor *tg_dropout(tg_tape *t, tg_tensor *x, double p, bool training, tg_rng *rng);
/** Channel dropout (F.dropout2d): as tg_dropout, but one draw per channel
   of each sample of x [N, C, H, W] or [N, C, L] (as PyTorch 1.13 reads a
   3-D input), zeroing or scaling all its positions together. */
TG_API tg_tensor *tg_dropout2d(tg_tape *t, tg_tensor *x, double p, bool training, tg_rng *rng);

#ifdef __cplusplus
}
#endif

#endif /* TAPEGRAD_OPS_H */
