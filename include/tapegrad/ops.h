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
/** tg_matmul with either operand transposed in its last two axes, read in
   place (no transpose is copied): op(a) @ op(b) with op(x) = xᵀ when its
   flag is set, e.g. tg_matmul_t(t, q, k, false, true) is q @ kᵀ for q
   [..., L, E] and k [..., S, E]. Both operands need at least 2 dimensions;
   the batch dimensions broadcast as tg_matmul's. The gradient of each
   operand is again a product with transposed operands, no copy. */
TG_API tg_tensor *tg_matmul_t(tg_tape *t, tg_tensor *a, tg_tensor *b, bool transpose_a,
                              bool transpose_b);
/** Σ_i a_i·b_i of two vectors of one length, a 0-d tensor (torch.dot). */
TG_API tg_tensor *tg_dot(tg_tape *t, tg_tensor *a, tg_tensor *b);
/** The outer product y_ij = a_i·b_j of two vectors, [M] ⊗ [N] -> [M, N]
   (torch.outer). */
TG_API tg_tensor *tg_outer(tg_tape *t, tg_tensor *a, tg_tensor *b);
/** Einstein summation (torch.einsum): the n operands multiplied along the
   equation's letters, summed over the letters not in the output, e.g.
   tg_einsum(t, "bij,bjk->bik", 2, (tg_tensor *[]){a, b}) is a batched
   matrix product and "ii->" a trace. The equation gives each operand one
   letter (a-z, A-Z) per axis, separated by commas, then "->" and the
   output's letters; without "->" the output is PyTorch's: the letters used
   once, in ASCII order (uppercase first). "..." stands for the axes not
   named (broadcast between operands as NumPy's, right-aligned; placed where
   the output has "...", first in an implicit output, summed if the
   explicit output has none). Spaces are ignored. A letter repeated in one
   operand takes the diagonal; a letter's size may be 1 in some operands
   and n in others (broadcast, as PyTorch). Two operands at a time are
   contracted, left to right (PyTorch's order without opt_einsum), through
   the batched matrix product. Not an op of its own: the ops it is made of
   (permute, reshape, slice, sum, mul, matmul) are recorded, and give the
   gradient of every order. Up to 32 operands; every intermediate product
   has at most TG_MAX_DIMS axes. NULL, with a message naming tg_einsum and
   the fault, for a character that is not a subscript, a count of operands
   other than the equation's, a letter whose sizes disagree (the letter and
   both sizes named), an operand whose number of axes differs from its
   subscripts, an output letter in no operand or given twice. */
TG_API tg_tensor *tg_einsum(tg_tape *t, const char *equation, int n, tg_tensor *const *operands);
/** Swaps two axes (torch.transpose); negative axes count from the end. */
TG_API tg_tensor *tg_transpose(tg_tape *t, tg_tensor *x, int dim0, int dim1);
/** x @ Wᵀ + b as torch.nn.functional.linear: x [..., in], W [out, in],
   b [out] or NULL -> [..., out]. */
TG_API tg_tensor *tg_linear(tg_tape *t, tg_tensor *x, tg_tensor *W, tg_tensor *b);

/** Same data, new shape; one dimension may be -1 (inferred). */
TG_API tg_tensor *tg_reshape(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape);
/** [N, d1, d2, ...] -> [N, d1·d2·...] (torch.flatten(x, 1)); a 1-D x stays 1-D. */
TG_API tg_tensor *tg_flatten(tg_tape *t, tg_tensor *x);
/** Axes start_dim..end_dim (inclusive, negative from the end) merged into
   one (torch.flatten(x, start_dim, end_dim)): tg_flatten_range(t, x, 0, -1)
   is 1-D, a 0-d x becomes [1]. A view, as tg_reshape. NULL if an axis is
   out of range or start_dim comes after end_dim. */
TG_API tg_tensor *tg_flatten_range(tg_tape *t, tg_tensor *x, int start_dim, int end_dim);
/** x without its axes of size 1 (torch.squeeze(x)); a view, as tg_reshape. */
TG_API tg_tensor *tg_squeeze(tg_tape *t, tg_tensor *x);
/** x without `axis` if its size is 1, else x's shape unchanged (torch.squeeze(x,
   dim)); a view. NULL if the axis is out of range. */
TG_API tg_tensor *tg_squeeze_axis(tg_tape *t, tg_tensor *x, int axis);
/** x with a new axis of size 1 at `axis` of the result, in -ndim-1..ndim
   (torch.unsqueeze); a view. NULL if out of range or x has TG_MAX_DIMS axes. */
TG_API tg_tensor *tg_unsqueeze(tg_tape *t, tg_tensor *x, int axis);
/** x with its axes reordered (torch.permute): axis i of the result is axis
   dims[i] of x; ndim must equal x->ndim and dims be a permutation
   (negative axes count from the end). A copy: every tapegrad tensor is
   contiguous. The gradient is permuted back. */
TG_API tg_tensor *tg_permute(tg_tape *t, tg_tensor *x, int ndim, const int *dims);
/** Axis `source` moved to position `destination`, the others keeping their
   order (torch.movedim with one axis each; several: tg_permute). A copy. */
TG_API tg_tensor *tg_movedim(tg_tape *t, tg_tensor *x, int source, int destination);
/** torch.swapaxes and torch.swapdims: tg_transpose under PyTorch's other
   names. @{ */
TG_API tg_tensor *tg_swapaxes(tg_tape *t, tg_tensor *x, int axis0, int axis1);
TG_API tg_tensor *tg_swapdims(tg_tape *t, tg_tensor *x, int dim0, int dim1);
/** @} */
/** x itself (Tensor.contiguous() of a contiguous tensor): every tapegrad
   tensor is contiguous and row-major, since the ops that reorder axes
   (tg_permute, tg_transpose, tg_movedim) copy. For code written against
   PyTorch's idiom; NULL only for a NULL x. */
TG_API tg_tensor *tg_contiguous(tg_tape *t, tg_tensor *x);
/** x broadcast to `shape` (torch.Tensor.expand / torch.broadcast_to): x's
   dimensions, right-aligned, must each equal the shape's or be 1; -1 keeps
   x's size there (not on a new leading dimension, as PyTorch); the result
   is a copy. Its gradient sums over the repeated positions. */
TG_API tg_tensor *tg_expand(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape);
/** x summed down to `shape`, a shape that broadcasts to x's
   (torch.Tensor.sum_to_size): the adjoint of tg_expand, and the gradient of
   a broadcast input. */
TG_API tg_tensor *tg_sum_to(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape);

/* Reductions. Each takes one axis (negative counts from the end; a 0-d x
   takes 0 and -1) or TG_ALL for every element, and keepdim, which keeps the
   reduced axes with size 1 (PyTorch's dim and keepdim). Those that PyTorch
   lets reduce several axes at once also have a tg_X_axes form taking
   `n, axes`: n distinct axes (1..TG_MAX_DIMS; an axis given twice, or n = 0,
   is refused: TG_ALL says "every axis"), written TG_AXES(0, 2). Results are
   new tensors on the tape, NULL on failure with a message naming the
   function and the axis. Sums run in double: a float result is accurate
   however many elements it sums. */

/** TG_AXES(0, -1) expands to the two arguments `n, axes` of the tg_X_axes
   reductions: tg_sum_axes(t, x, TG_AXES(0, 2), false) sums axes 0 and 2.
   A C99 compound literal, as TG_SHAPE. */
#define TG_AXES(...)                                                         \
    (int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int)), (const int[]) { __VA_ARGS__ }

/** Σ x (x.sum(dim, keepdim)); d/dx = 1. The sum of no elements is 0. @{ */
TG_API tg_tensor *tg_sum(tg_tape *t, tg_tensor *x, int axis, bool keepdim);
TG_API tg_tensor *tg_sum_axes(tg_tape *t, tg_tensor *x, int n, const int *axes, bool keepdim);
/** @} */
/** (1/n) Σ x (x.mean(dim, keepdim)); d/dx = 1/n. The mean of no elements is
   NaN, as in PyTorch. @{ */
TG_API tg_tensor *tg_mean(tg_tape *t, tg_tensor *x, int axis, bool keepdim);
TG_API tg_tensor *tg_mean_axes(tg_tape *t, tg_tensor *x, int n, const int *axes, bool keepdim);
/** @} */
/** The maximum; its gradient goes to the first position that attains it
   (like torch.max(x, dim)); over TG_ALL ties share the gradient equally
   (like torch.amax / torch.max(x)). NaN is the maximum (the first NaN),
   as in PyTorch. An empty axis is refused. */
TG_API tg_tensor *tg_max(tg_tape *t, tg_tensor *x, int axis, bool keepdim);
/** The minimum, by tg_max's rules (first minimum; ties share over TG_ALL;
   NaN is the minimum). */
TG_API tg_tensor *tg_min(tg_tape *t, tg_tensor *x, int axis, bool keepdim);
/** The maximum along `axis` and where it is (torch.max(x, dim, keepdim) →
   values, indices): returns the values (tg_max's, gradient to the first
   maximum) and sets *indices to their positions along the axis, the same
   first maximum (an int64 tg_index of the values' shape, owned by the tape;
   indices may be NULL). TG_ALL is refused (tg_max and tg_argmax do that).
   On failure NULL, and *indices NULL. */
TG_API tg_tensor *tg_max_dim(tg_tape *t, tg_tensor *x, int axis, bool keepdim,
                             tg_index **indices);
/** The minimum along `axis` and where it is (torch.min(x, dim, keepdim)), as
   tg_max_dim. */
TG_API tg_tensor *tg_min_dim(tg_tape *t, tg_tensor *x, int axis, bool keepdim,
                             tg_index **indices);
/** The position of the first maximum (torch.argmax) or minimum
   (torch.argmin) along `axis`, or in the flattened x for TG_ALL (a 0-d
   index, or all ones with keepdim). NaN counts as the extreme. Indices have
   no gradient: nothing is recorded. An int64 tg_index owned by the tape;
   NULL for an empty axis or a bad axis. @{ */
TG_API tg_index *tg_argmax(tg_tape *t, tg_tensor *x, int axis, bool keepdim);
TG_API tg_index *tg_argmin(tg_tape *t, tg_tensor *x, int axis, bool keepdim);
/** @} */
/** The maximum over the axes, ties sharing the gradient equally
   (torch.amax): d/dx_k = 1/c where x_k equals the maximum (c such k), else
   0; NaN if the maximum is NaN, as PyTorch. An empty axis is refused. @{ */
TG_API tg_tensor *tg_amax(tg_tape *t, tg_tensor *x, int axis, bool keepdim);
TG_API tg_tensor *tg_amax_axes(tg_tape *t, tg_tensor *x, int n, const int *axes, bool keepdim);
/** @} */
/** The minimum over the axes, ties sharing the gradient (torch.amin). @{ */
TG_API tg_tensor *tg_amin(tg_tape *t, tg_tensor *x, int axis, bool keepdim);
TG_API tg_tensor *tg_amin_axes(tg_tape *t, tg_tensor *x, int n, const int *axes, bool keepdim);
/** @} */
/** Π x over one axis or TG_ALL (torch.prod; 1 for no elements).
   d/dx_k = Π_{i≠k} x_i, exact with zeros as PyTorch: a slice with one zero
   gives the zero the product of the others and the rest 0, two zeros give
   0. With create_graph and a zero in x, the gradient is built from an
   n×n tensor per slice of n elements (PyTorch's double backward does the
   same); without zeros it is g·y/x. The product runs in double; in the
   float build on x86 its subnormal doubles (below 2⁻¹⁰²², 0 as a float)
   are flushed to 0 (docs/ops.md). */
TG_API tg_tensor *tg_prod(tg_tape *t, tg_tensor *x, int axis, bool keepdim);

/** The correction of tg_var and tg_std by default: 1, Bessel's (PyTorch's
   correction=1, unbiased=True). */
#define TG_VAR_CORRECTION 1.0
/** The variance Σ(x − mean)²/max(0, n − correction) over the axes
   (torch.var(x, dim, correction=..., keepdim)); correction TG_VAR_CORRECTION
   (1) by default, 0 for the population variance; any finite value.
   d/dx_k = 2(x_k − mean)/(n − correction). n ≤ correction gives inf or
   NaN, as PyTorch. @{ */
TG_API tg_tensor *tg_var(tg_tape *t, tg_tensor *x, int axis, double correction, bool keepdim);
TG_API tg_tensor *tg_var_axes(tg_tape *t, tg_tensor *x, int n, const int *axes,
                              double correction, bool keepdim);
/** @} */
/** The standard deviation √var (torch.std), var as tg_var;
   d/dx_k = (x_k − mean)/((n − correction)·std), and 0 where std = 0
   (PyTorch's choice there). @{ */
TG_API tg_tensor *tg_std(tg_tape *t, tg_tensor *x, int axis, double correction, bool keepdim);
TG_API tg_tensor *tg_std_axes(tg_tape *t, tg_tensor *x, int n, const int *axes,
                              double correction, bool keepdim);
/** @} */
/** log Σ exp(x) over the axes, computed as m + log Σ exp(x − m) with m the
   maximum, so finite for any finite x (torch.logsumexp); d/dx = softmax(x).
   No elements give −inf. @{ */
TG_API tg_tensor *tg_logsumexp(tg_tape *t, tg_tensor *x, int axis, bool keepdim);
TG_API tg_tensor *tg_logsumexp_axes(tg_tape *t, tg_tensor *x, int n, const int *axes,
                                    bool keepdim);
/** @} */
/** The p-norm (Σ|x|^p)^(1/p) over the axes (torch.linalg.vector_norm(x, p,
   dim, keepdim)): p > 0, or INFINITY for max |x|; p = 2 over two axes is
   the Frobenius norm of matrices. The sums run in double (p = 2 does not
   overflow in float where Σx² would). Gradient as PyTorch's:
   sgn(x)·|x|^(p−1)/‖x‖^(p−1), 0 where ‖x‖ = 0 (p = 2: x/‖x‖; p = 1: sgn(x);
   p = ∞: sgn(x)/c at the c elements where |x| is the maximum; p < 1: 0
   where x = 0). p ≤ 0 or NaN is refused, and p = ∞ over an empty axis.
   Powers: whole orders by multiplication; in the float build on AVX-512,
   orders n + 1/2 as √a·aⁿ and others by a vector log and exp within a few
   float ulp (docs/ops.md). @{ */
TG_API tg_tensor *tg_norm(tg_tape *t, tg_tensor *x, double p, int axis, bool keepdim);
TG_API tg_tensor *tg_norm_axes(tg_tape *t, tg_tensor *x, double p, int n, const int *axes,
                               bool keepdim);
/** @} */
/** Cumulative sum along `axis`, y_k = Σ_{j≤k} x_j (torch.cumsum), summed in
   double; d/dx_k = Σ_{j≥k} g_j, the cumulative sum from the other end. */
TG_API tg_tensor *tg_cumsum(tg_tape *t, tg_tensor *x, int axis);
/** Cumulative product along `axis`, y_k = Π_{j≤k} x_j (torch.cumprod);
   d/dx_k = Σ_{j≥k} g_j·Π_{i≤j, i≠k} x_i, exact with zeros (PyTorch's
   rule). With create_graph and a zero in x the gradient is built from an
   n×n tensor per slice, as PyTorch's double backward. In double, subnormal
   products flushed as tg_prod's. */
TG_API tg_tensor *tg_cumprod(tg_tape *t, tg_tensor *x, int axis);

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
   TG_SOFTPLUS_BETA = 1, TG_SOFTPLUS_THRESHOLD = 20); beta 0 is refused. In
   float, log(1 + e) is taken in double (within 1.5 ulp; docs/ops.md). */
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
                                Read when the op runs (a replay reads it again when it is a
                                tensor of the tape or a parameter); it gets no
                                gradient. */
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
/** tg_cross_entropy_ex and tg_nll_loss with the targets as an index array
   (tg_index_new or tg_index_wrap; its size N·d1·... as above), read when the
   op runs: on a replayable tape (tg_tape_replay) a wrapped array gives each
   replay the targets it then holds. @{ */
TG_API tg_tensor *tg_cross_entropy_idx(tg_tape *t, tg_tensor *logits, const tg_index *target,
                                       const tg_ce_opts *opts);
TG_API tg_tensor *tg_nll_loss_idx(tg_tape *t, tg_tensor *logp, const tg_index *target,
                                  const tg_ce_opts *opts);
/** @} */

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
   broadcast together; each distance runs along its own pair's last axis
   (F.pairwise_distance's): with anchor [N, D] and positive and negative
   [N, 1], d(pos, neg) has one term, not D. p must be at least 1 (below 1
   it is not a norm; PyTorch accepts it). */
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

/* Every result is a new tensor (a copy, not a view sharing x's data: where
   PyTorch returns a view, tapegrad copies, and the gradient is the same).
   The ops that take a tg_index check it when they run: it must belong to
   the tape (tg_index_new or tg_index_wrap on t, since the last reset) and
   every index must lie in [0, n) of the axis it indexes, n the axis's
   length; a negative index is refused, as these ops of PyTorch refuse it.
   A refused index makes the op return NULL with a message naming the op,
   the index, its position in the array and the axis. The op keeps the
   pointer: a wrapped array must stay unchanged until the tape is reset. */

/** As a slice's stop: to the end of the axis (x[start:] in Python). */
#define TG_END INT64_MAX

/** One axis of a slice, x[start:stop:step] along `axis` (see tg_slices). */
typedef struct tg_slice_spec {
    int axis;      /**< negative counts from the end */
    int64_t start; /**< first position; negative counts from the end; clamped to [0, n] */
    int64_t stop;  /**< one past the last; negative counts from the end; TG_END for the end;
                      clamped to [0, n] (start ≥ stop gives an empty axis) */
    int64_t step;  /**< 1 or more (PyTorch refuses other steps too) */
} tg_slice_spec;

/** x[..., start:stop:step, ...] along one axis, as Python slices it: start
   and stop count from the end when negative and are clamped to the axis,
   so tg_slice(t, x, 1, 2, 10, 2) is x[:, 2:10:2] for any length of axis 1,
   tg_slice(t, x, 0, -3, TG_END, 1) is x[-3:], and a step beyond the axis
   takes its first element. The gradient goes back to the positions taken,
   0 elsewhere. NULL for an axis out of range or a step below 1. */
TG_API tg_tensor *tg_slice(tg_tape *t, tg_tensor *x, int axis, int64_t start, int64_t stop,
                           int64_t step);
/** Slices along several axes at once, in one op: specs[0..n) (an axis at
   most once; n = 0 copies x). tg_slices(t, x, 2, (tg_slice_spec[]){{0, 1,
   3, 1}, {1, 0, TG_END, 2}}) is x[1:3, ::2]. */
TG_API tg_tensor *tg_slices(tg_tape *t, tg_tensor *x, int n, const tg_slice_spec *specs);
/** x[..., index, ...]: one position of `axis`, the axis removed (torch.select);
   index in [-n, n), negative counting from the end. NULL for a 0-d x or an
   index out of range. */
TG_API tg_tensor *tg_select(tg_tape *t, tg_tensor *x, int axis, int64_t index);
/** x[..., start:start+length, ...] (torch.narrow): start in [-n, n],
   negative counting from the end, and start + length ≤ n. */
TG_API tg_tensor *tg_narrow(tg_tape *t, tg_tensor *x, int axis, int64_t start, int64_t length);

/** The positions `index` (0-d or 1-d, k indices, repeats allowed) of `axis`:
   x [.., n, ..] -> [.., k, ..] (torch.index_select; a 0-d index keeps the
   axis with length 1). Its gradient adds the rows of g into dx at their
   indices, repeated ones summed (in double): an embedding's gradient. */
TG_API tg_tensor *tg_index_select(tg_tape *t, tg_tensor *x, int axis, const tg_index *index);
/** x, then row j of src added at row index[j] of `axis` (torch.index_add
   with alpha 1; repeated indices add up): src has x's shape but k =
   index->size along `axis`. Gradients: g to x, index_select(g) to src. */
TG_API tg_tensor *tg_index_add(tg_tape *t, tg_tensor *x, int axis, const tg_index *index,
                               tg_tensor *src);
/** y[i][j][k] = x[index[i][j][k]][j][k] for axis 0 (the index replaces the
   coordinate of `axis`; torch.gather). The index has x's number of
   dimensions and is no longer than x along the other axes; y has the
   index's shape. Its gradient is scatter_add's: repeated positions add up
   (in double). */
TG_API tg_tensor *tg_gather(tg_tape *t, tg_tensor *x, int axis, const tg_index *index);
/** x, then src[i][j][k] added at [index[i][j][k]][j][k] for axis 0
   (torch.scatter_add; repeated positions add up, in double). index and src
   have x's number of dimensions, the index no longer than src along any
   axis nor than x along the others; src's elements beyond the index's
   shape are unused. Gradients: g to x, gather(g) to src (0 for the unused
   elements, where PyTorch refuses to differentiate). */
TG_API tg_tensor *tg_scatter_add(tg_tape *t, tg_tensor *x, int axis, const tg_index *index,
                                 tg_tensor *src);
/** x, then src[i][j][k] written at [index[i][j][k]][j][k] for axis 0
   (torch.scatter, shapes as tg_scatter_add). Where several elements are
   written to one position, the last in the index's row-major order wins
   (PyTorch leaves that undefined; its CPU kernel does the same). The
   gradient is that rule's: g to x where nothing was written, and to each
   src element that won its position, 0 to the overwritten ones (PyTorch's
   formula gives every writer the gradient). */
TG_API tg_tensor *tg_scatter(tg_tape *t, tg_tensor *x, int axis, const tg_index *index,
                             tg_tensor *src);
/** value where mask ≠ 0, else x (torch.Tensor.masked_fill; a mask of 0/1
   such as tg_gt gives). x and mask broadcast together, and the result has
   the broadcast shape, as PyTorch's. The gradient reaches x where the mask
   is 0; the mask gets none. */
TG_API tg_tensor *tg_masked_fill(tg_tape *t, tg_tensor *x, tg_tensor *mask, tg_real value);
/** torch.take_along_dim: tg_gather after x and the index broadcast against
   each other along every axis but `axis` (both have the same number of
   dimensions), e.g. x [N, C] with the index [N, 1] of an argmax along 1
   gives [N, 1]. axis TG_ALL takes from the flattened x with the flattened
   index. It records an expand where x is broadcast, then a gather. Where
   the index itself is broadcast (or flattened), the gather reads a copy
   made when it is called: a replay then reads that copy, not the values
   the caller's array holds later. */
TG_API tg_tensor *tg_take_along_dim(tg_tape *t, tg_tensor *x, const tg_index *index, int axis);


/* ================================================ joining and splitting
   (src/ops/join.c) */

/** The n tensors xs[0..n) joined along `axis` (torch.cat): equal shapes but
   along that axis; the result is a copy. n may exceed TG_MAX_INPUTS: the
   tensors are then joined in groups of TG_MAX_INPUTS (an op takes at most
   that many inputs) and the groups joined in turn, a tree of cat records
   that copies the data once per level. As in PyTorch, a 1-d tensor of no
   element is skipped whatever the others' shapes, and a 0-d tensor is
   refused. The gradient of each input is its block of g (a split). */
TG_API tg_tensor *tg_cat(tg_tape *t, tg_tensor *const *xs, int n, int axis);
/** The n tensors, of equal shapes, joined along a new axis (torch.stack):
   n of shape S give [.., n, ..] with n at `axis` (in [-(d+1), d] for d-d
   tensors). Recorded as a reshape of each (free) and tg_cat. */
TG_API tg_tensor *tg_stack(tg_tape *t, tg_tensor *const *xs, int n, int axis);

/** Splits x along `axis` into pieces of split_size (the last shorter)
   (torch.split with an int): each piece is a tg_narrow of x, its own
   record, written to out[0..count). Returns count, or with out NULL only
   counts them; an axis of length 0 gives one empty piece. Returns a
   negative tg_status (message on the tape) for a bad axis, a split_size
   below 1 (0 is allowed for an empty axis), or max_out below the count. */
TG_API int tg_split(tg_tape *t, tg_tensor *x, int64_t split_size, int axis, tg_tensor **out,
                    int max_out);
/** Splits x along `axis` into n_sizes pieces of the given lengths, which
   must add up to the axis's length (torch.split with a list); out has room
   for n_sizes (or is NULL to check only). Returns n_sizes or a negative
   tg_status. */
TG_API int tg_split_sizes(tg_tape *t, tg_tensor *x, int n_sizes, const int64_t *sizes, int axis,
                          tg_tensor **out);
/** Splits x along `axis` into pieces of ceil(n / chunks) (torch.chunk; the
   name tg_chunk is taken inside the library): so
   there may be fewer than `chunks` pieces (6 in 4 chunks gives 3 of 2); an
   axis of length 0 gives `chunks` empty ones. Returns the count (out NULL:
   only counts) or a negative tg_status, as tg_split. */
TG_API int tg_split_chunks(tg_tape *t, tg_tensor *x, int chunks, int axis, tg_tensor **out,
                           int max_out);

/** How tg_pad fills the new positions (F.pad's `mode`). */
typedef enum tg_pad_mode {
    TG_PAD_CONSTANT = 0,  /**< the value given (F.pad's default, 0 there) */
    TG_PAD_REFLECT = 1,   /**< mirrored about the end elements, which are not repeated:
                             [a b c] padded by 2 is [c b a b c b a]; each pad below the size */
    TG_PAD_REPLICATE = 2, /**< the end element repeated */
    TG_PAD_CIRCULAR = 3   /**< wrapped around from the other end; each pad at most the size
                             (after any cropping, as PyTorch) */
} tg_pad_mode;

/** Pads x as F.pad(x, pad, mode, value): pad holds n_pad values, a
   (before, after) pair per axis starting from the LAST axis (pad[0],
   pad[1] for the last, pad[2], pad[3] for the one before...). A negative
   pad crops that many elements instead. value is used by TG_PAD_CONSTANT
   only. Every mode pads any of x's axes (PyTorch limits reflect, replicate
   and circular to the last one to three axes of a batched input).
   Gradient: the crop of g, where reflected, replicated and wrapped
   positions add up (in double); value gets none. NULL for an odd n_pad,
   more pairs than axes, a pad that leaves an axis a negative length or
   does not fit its mode. */
TG_API tg_tensor *tg_pad(tg_tape *t, tg_tensor *x, int n_pad, const int64_t *pad,
                         tg_pad_mode mode, tg_real value);

/** x tiled reps[d] times along each axis d (torch.Tensor.repeat): n ≥
   x->ndim counts, the extra ones adding leading axes ([2, 3] by {2, 1, 2}
   gives [2, 2, 6]); a count may be 0. Recorded as an expand between two
   reshapes (more than four tiled axes of size above 1 take several
   rounds); the gradient is the sum over the tiles (in double). */
TG_API tg_tensor *tg_repeat(tg_tape *t, tg_tensor *x, int n, const int64_t *reps);
/** torch.tile: tg_repeat, but fewer counts than axes are allowed, with
   ones put before them (tile(x [2, 3], {2}) tiles the last axis). */
TG_API tg_tensor *tg_tile(tg_tape *t, tg_tensor *x, int n, const int64_t *reps);


/* ========================================================== embedding
   (src/ops/embedding.c) */

/** padding_idx of tg_embedding when no row is padding (PyTorch's None). */
#define TG_PADDING_IDX_NONE INT64_MIN

/** The rows of a weight table picked by indices (F.embedding): weight
   [V, D] (num_embeddings, embedding_dim) and indices of any shape S (up to
   TG_MAX_DIMS − 1 axes, every index in [0, V); a negative one is refused,
   as PyTorch refuses it) give [*S, D]. padding_idx is TG_PADDING_IDX_NONE
   or a row in [−V, V) (negative counting from the end): that row is read
   like the others but gets no gradient, as PyTorch's padding_idx (the
   layer tg_embedding_layer also starts it at zero). The gradient adds each
   position's gradient row into the row it read, rows read several times
   summed in double. The op keeps the index pointer (tg_index_new or
   tg_index_wrap on t): a wrapped array must stay unchanged until the tape
   is reset. max_norm, scale_grad_by_freq and sparse are not offered. */
TG_API tg_tensor *tg_embedding(tg_tape *t, tg_tensor *weight, const tg_index *indices,
                               int64_t padding_idx);
/** embedding's adjoint (PyTorch's embedding_dense_backward): zeros
   [num_weights, D], then row j of grad [*S, D] added into row indices[j]
   for every position not at padding_idx. It is the gradient of
   tg_embedding, for create_graph; its own gradient picks grad's rows back
   (0 at the padding positions). */
TG_API tg_tensor *tg_embedding_backward(tg_tape *t, tg_tensor *grad, const tg_index *indices,
                                        int64_t num_weights, int64_t padding_idx);

/* ========================================================== recurrent
   (src/ops/recurrent.c) */

/** The recurrent cells: PyTorch's nn.RNN nonlinearities, LSTM and GRU. */
typedef enum tg_rnn_mode {
    TG_RNN_TANH = 0, /**< h' = tanh(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh) (nn.RNN's default) */
    TG_RNN_RELU = 1, /**< the same with relu (nonlinearity='relu') */
    TG_RNN_LSTM = 2, /**< four gates i, f, g, o (nn.LSTM) */
    TG_RNN_GRU = 3   /**< three gates r, z, n (nn.GRU) */
} tg_rnn_mode;

/* The recurrences: one layer's loop over time, from its input projection
   xg = x·W_ihᵀ + b_ih already made for every step (one tg_linear over the
   whole sequence). xg is [T, N, G·H], or [N, T, G·H] with batch_first
   (G = 1 for the RNN, 4 for the LSTM, 3 for the GRU; H the hidden size,
   read from w_hh [G·H, H]); b_hh [G·H] or NULL; the initial states h0 (and
   the LSTM's c0) [N, H], or NULL for zeros. The result holds h_1..h_T,
   [T, N, H] ([N, T, H] with batch_first). Gates and formulas are PyTorch's
   (docs/ops.md writes them out). T = 0 is refused, as PyTorch refuses it;
   N = 0 gives empty results. Each is one op, whose backward is
   backpropagation through time (one product per step, and W_hh's gradient
   in one product over the whole sequence); gradients of every order. */

/** nn.RNN's loop: h_t = act(xg_t + h_{t−1}·W_hhᵀ + b_hh), act tanh or relu
   (nonlinearity TG_RNN_TANH or TG_RNN_RELU). */
TG_API tg_tensor *tg_rnn_recurrence(tg_tape *t, tg_tensor *xg, tg_tensor *w_hh, tg_tensor *b_hh,
                                    tg_tensor *h0, tg_rnn_mode nonlinearity, bool batch_first);
/** nn.LSTM's loop: with pre = xg_t + h_{t−1}·W_hhᵀ + b_hh split in four,
   i, f, g, o = σ(pre_i), σ(pre_f), tanh(pre_g), σ(pre_o);
   c_t = f·c_{t−1} + i·g; h_t = o·tanh(c_t). Returns h_1..h_T and sets
   *c_n (may be NULL) to c_T [N, H]; h_n is the last step of the result. */
TG_API tg_tensor *tg_lstm_recurrence(tg_tape *t, tg_tensor *xg, tg_tensor *w_hh,
                                     tg_tensor *b_hh, tg_tensor *h0, tg_tensor *c0,
                                     bool batch_first, tg_tensor **c_n);
/** nn.GRU's loop: with hh = h_{t−1}·W_hhᵀ + b_hh and xg_t each split in
   three, r = σ(xg_r + hh_r), z = σ(xg_z + hh_z),
   n = tanh(xg_n + r·hh_n) (b_hn inside the reset gate, as PyTorch),
   h_t = (1 − z)·n + z·h_{t−1}. */
TG_API tg_tensor *tg_gru_recurrence(tg_tape *t, tg_tensor *xg, tg_tensor *w_hh, tg_tensor *b_hh,
                                    tg_tensor *h0, bool batch_first);

/** One step of a cell (torch.nn.RNNCell, LSTMCell, GRUCell's forward; also
   torch.rnn_tanh_cell, lstm_cell, gru_cell): x [N, input_size] (or
   [input_size], unbatched), w_ih [G·H, input_size], w_hh [G·H, H], b_ih
   and b_hh [G·H] or NULL, the states h (and c) [N, H] (or [H]) or NULL for
   zeros. Returns h' of h's shape; tg_lstm_cell sets *c_out (may be NULL)
   to c'. A linear for the input projection, then the recurrence of one
   step. @{ */
TG_API tg_tensor *tg_rnn_cell(tg_tape *t, tg_tensor *x, tg_tensor *h, tg_tensor *w_ih,
                              tg_tensor *w_hh, tg_tensor *b_ih, tg_tensor *b_hh,
                              tg_rnn_mode nonlinearity);
TG_API tg_tensor *tg_lstm_cell(tg_tape *t, tg_tensor *x, tg_tensor *h, tg_tensor *c,
                               tg_tensor *w_ih, tg_tensor *w_hh, tg_tensor *b_ih,
                               tg_tensor *b_hh, tg_tensor **c_out);
TG_API tg_tensor *tg_gru_cell(tg_tape *t, tg_tensor *x, tg_tensor *h, tg_tensor *w_ih,
                              tg_tensor *w_hh, tg_tensor *b_ih, tg_tensor *b_hh);
/** @} */

/* ========================================================== attention
   (src/ops/attention.c) */

/** How an attention mask is read. PyTorch reads a float mask as
   TG_MASK_ADDITIVE, and a bool one as TG_MASK_KEEP in
   F.scaled_dot_product_attention but as TG_MASK_HIDE in
   nn.MultiheadAttention (attn_mask and key_padding_mask): tapegrad has no
   bool tensors, so a 0/1 mask says which it is. */
typedef enum tg_mask_kind {
    TG_MASK_ADDITIVE = 0, /**< added to the scores: 0 to keep, −inf to hide (a float mask) */
    TG_MASK_KEEP = 1,     /**< 0/1: 1 where a query may attend (SDPA's bool mask) */
    TG_MASK_HIDE = 2      /**< 0/1: 1 where it may not (MultiheadAttention's bool masks) */
} tg_mask_kind;

/** The causal mask [L, S] of the given kind: query i may attend to keys
   j ≤ i (torch.ones(L, S).tril(), aligned at the top left as PyTorch's
   is_causal), a constant on the tape. NULL for L or S < 0 or a bad kind. */
TG_API tg_tensor *tg_causal_mask(tg_tape *t, int64_t L, int64_t S, tg_mask_kind kind);

/** A mask as the additive mask PyTorch makes of a bool one: 0 where a
   query may attend, −inf where it may not (mask itself for
   TG_MASK_ADDITIVE), broadcast as it is. NULL for a NULL mask or a bad
   kind. */
TG_API tg_tensor *tg_mask_additive(tg_tape *t, tg_tensor *mask, tg_mask_kind kind);

/** Scaled dot-product attention (F.scaled_dot_product_attention of
   PyTorch 2, F._scaled_dot_product_attention in 1.13):
       softmax((q·scale) @ kᵀ + mask) @ v
   q [..., L, E], k [..., S, E], v [..., S, Ev] -> [..., L, Ev]. The batch
   dimensions broadcast as torch.matmul's do in the two products: q's and
   k's into the scores' [..., L, S], those and v's into the output's (so v
   may have more of them than q and k); each input's gradient is summed
   back to its shape. attn_mask (NULL for none) broadcasts to the scores
   [..., L, S] (not to v's extra batch dimensions: PyTorch adds it to the
   scores in place) and is read as mask_kind says: added (TG_MASK_ADDITIVE;
   it gets a gradient if it requires one), or 0/1 turned into 0 and −inf
   where it hides, then added, as PyTorch does with a bool mask
   (TG_MASK_KEEP, TG_MASK_HIDE: tg_mask_additive). is_causal hides the
   keys after each query (tg_causal_mask); it and attn_mask are not taken
   together, as in PyTorch. scale 0 is the default 1/√E; any other finite
   scale multiplies q, negative ones too, as PyTorch 2.1+ takes any float
   (its scale=0.0, scores of 0, has no equivalent here). A query whose
   every key is hidden gets NaN, as in PyTorch (the softmax of a row of
   −inf), and so do the gradients that read it. Composed of ops (tg_scale,
   tg_matmul_t, tg_add, tg_softmax, tg_matmul), so gradients of every
   order follow. No dropout (dropout_p 0). NULL, and a message naming the
   shapes, for a length of 0 (L, S or E), shapes that do not fit or batch
   dimensions that do not broadcast, a mask that does not broadcast to
   [..., L, S], or a scale that is not finite. */
TG_API tg_tensor *tg_scaled_dot_product_attention(tg_tape *t, tg_tensor *q, tg_tensor *k,
                                                  tg_tensor *v, tg_tensor *attn_mask,
                                                  tg_mask_kind mask_kind, bool is_causal,
                                                  double scale);


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
