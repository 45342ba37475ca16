/** @file tapegrad/nn.h — training networks: initialisers (torch.nn.init), layers
 * whose parameters carry PyTorch's state-dict names, a small MLP, and the
 * optimizers (torch.optim's SGD, Adam, AdamW).
 *
 * Part of <tapegrad.h>; include that. docs/training.md shows a training loop.
 */
#ifndef TAPEGRAD_NN_H
#define TAPEGRAD_NN_H

#include "tapegrad/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Initialisers (torch.nn.init). Each overwrites x->data in place (any tensor
   with data: a parameter, or a leaf on a tape), drawing one value per
   element in row-major order from r, in double, then rounding to tg_real.
   Return TG_OK, or an error status (tg_last_error says why: NULL tensor or
   rng, a bad argument, fewer than 2 dimensions where fans are needed) and
   then leave x unchanged. Fans are computed as torch.nn.init does: for x of
   shape [out, in, k1, k2, ...], fan_in = in·k1·k2·..., fan_out = out·k1·k2·... */
/** Which fan the Kaiming initialisers divide by (PyTorch's `mode`). */
typedef enum tg_fan_mode { TG_FAN_IN = 0, TG_FAN_OUT = 1 } tg_fan_mode;
/** The nonlinearity that follows a layer, for the gain (nn.init.calculate_gain):
   linear/conv/sigmoid 1, tanh 5/3, relu √2, leaky_relu √(2/(1+slope²)), selu 3/4. */
typedef enum tg_nonlinearity {
    TG_NL_LEAKY_RELU = 0, /**< the default of kaiming_uniform_/kaiming_normal_ */
    TG_NL_LINEAR,         /**< also for the identity and convolutions */
    TG_NL_SIGMOID,
    TG_NL_TANH,
    TG_NL_RELU,
    TG_NL_SELU
} tg_nonlinearity;

/** The recommended gain for nl; `param` is leaky_relu's negative slope
   (nn.init.calculate_gain('leaky_relu') uses 0.01), ignored otherwise. */
TG_API double tg_init_gain(tg_nonlinearity nl, double param);
/** fan_in and fan_out of x (either pointer may be NULL); an error if x has
   fewer than 2 dimensions. */
TG_API int tg_init_fans(const tg_tensor *x, int64_t *fan_in, int64_t *fan_out);
/** U(a, b), a <= b (nn.init.uniform_). */
TG_API int tg_init_uniform(tg_tensor *x, double a, double b, tg_rng *r);
/** N(mean, std²), std >= 0 (nn.init.normal_). */
TG_API int tg_init_normal(tg_tensor *x, double mean, double std, tg_rng *r);
/** Every element = value (nn.init.constant_; zeros_ and ones_ are 0 and 1). */
TG_API int tg_init_constant(tg_tensor *x, double value);
/** Xavier/Glorot (nn.init.xavier_uniform_ / xavier_normal_; PyTorch's gain
   default is 1): std = gain·√(2/(fan_in + fan_out)); the uniform form draws
   from U(−√3·std, √3·std). @{ */
TG_API int tg_init_xavier_uniform(tg_tensor *x, double gain, tg_rng *r);
TG_API int tg_init_xavier_normal(tg_tensor *x, double gain, tg_rng *r);
/** @} */
/** Kaiming/He (nn.init.kaiming_uniform_ / kaiming_normal_; PyTorch's
   defaults are a = 0, TG_FAN_IN, TG_NL_LEAKY_RELU, which give the ReLU gain
   √2): std = gain(nl, a)/√fan; the uniform form draws from U(−√3·std, √3·std). @{ */
TG_API int tg_init_kaiming_uniform(tg_tensor *x, double a, tg_fan_mode mode,
                                   tg_nonlinearity nl, tg_rng *r);
TG_API int tg_init_kaiming_normal(tg_tensor *x, double a, tg_fan_mode mode,
                                  tg_nonlinearity nl, tg_rng *r);
/** @} */
/** nn.Linear's own initialisation (reset_parameters): weight [out, in] by
   kaiming_uniform with a = √5, i.e. U(−1/√in, 1/√in), then bias (may be
   NULL) U(−1/√in, 1/√in). The weight's values are drawn first. */
TG_API int tg_init_linear_default(tg_tensor *weight, tg_tensor *bias, tg_rng *r);

/** A fully connected layer y = x·Wᵀ + b (nn.Linear) whose parameters live in
   a tg_params under PyTorch's state-dict names: "<name>.weight" [out, in]
   and "<name>.bias" [out]. The struct is public; the tensors belong to the
   tg_params and stay valid for its lifetime. */
typedef struct tg_linear_layer {
    tg_tensor *weight; /**< [out, in] */
    tg_tensor *bias;   /**< [out], or NULL for a layer without bias */
    /** @{ */
    int64_t in, out; /**< the widths: in features, out features */
    /** @} */
} tg_linear_layer;

/** Registers "<name>.weight" (and "<name>.bias" if `bias`) on p and, when r
   is not NULL, initialises them as nn.Linear does (tg_init_linear_default);
   with r NULL they stay zero (e.g. to load weights afterwards). TG_OK, or an
   error (a name already taken, in or out <= 0, out of memory). */
TG_API int tg_linear_layer_init(tg_linear_layer *l, tg_params *p, const char *name, int64_t in,
                                int64_t out, bool bias, tg_rng *r);
/** x [..., in] -> [..., out] on the tape (tg_linear). NULL on failure. */
TG_API tg_tensor *tg_linear_layer_forward(tg_tape *t, const tg_linear_layer *l, tg_tensor *x);

/** A multilayer perceptron: linear layers named "<prefix>1", "<prefix>2", ...
   (so prefix "fc" gives fc1.weight, fc1.bias, fc2.weight, ...) with an
   activation between layers and none after the last (the logits). @{ */
#define TG_MLP_MAX_LAYERS 16
typedef tg_tensor *(*tg_mlp_activation)(tg_tape *t, tg_tensor *x); /**< e.g. tg_relu */
/** @} */
/** The layers and the activation of a multilayer perceptron (tg_mlp_init fills it). */
typedef struct tg_mlp {
    int n_layers;                              /**< how many of `layers` are used */
    tg_linear_layer layers[TG_MLP_MAX_LAYERS]; /**< fc1, fc2, ... */
    tg_mlp_activation act; /**< NULL: no activation (a linear model) */
} tg_mlp;

/** sizes[0..n_sizes) are the widths, input first: {784, 500, 256, 10} makes
   three layers. Layers are registered and initialised (r may be NULL, as in
   tg_linear_layer_init) in order. TG_OK or an error status (the layers made
   before the failing one stay registered in p). */
TG_API int tg_mlp_init(tg_mlp *m, tg_params *p, const char *prefix, int n_sizes,
                       const int64_t *sizes, tg_mlp_activation act, tg_rng *r);
/** x [N, sizes[0]] -> logits [N, sizes[n-1]] on the tape. NULL on failure. */
TG_API tg_tensor *tg_mlp_forward(tg_tape *t, const tg_mlp *m, tg_tensor *x);

/* ====================================== layers of convolutional networks
   (src/nn/layers.c)

   Each layer is a public struct with an init that registers its
   parameters and buffers on a tg_params under PyTorch's state-dict names
   ("conv1.weight", "conv1.bias", "bn1.running_mean", ...), so that
   tg_params_save and tg_params_load exchange them with PyTorch's
   state_dict, and initialises them as the PyTorch module does by default
   (from r where it draws; r NULL leaves zeros, e.g. to load weights). An
   init registers all of the layer's tensors or none, except when memory
   runs out midway (those added then stay); it returns TG_OK or an error
   (tg_last_error: a name taken, bad sizes or options). The tensors belong
   to the tg_params. The forward functions run the functional ops (ops.h)
   and return NULL on failure with the message on the tape. Pooling needs
   no layer: call tg_max_pool2d and the like. */

/** A convolution layer: nn.Conv1d, nn.Conv2d or nn.ConvTranspose2d. */
typedef struct tg_conv_layer {
    tg_tensor *weight;    /**< [out, in/groups, kH, kW], or [in, out/groups, kH, kW]
                             transposed ([..., k] in 1-D), "<name>.weight" */
    tg_tensor *bias;      /**< [out], "<name>.bias", or NULL */
    /** @{ */
    int64_t in_channels, out_channels; /**< the channels in and out */
    /** @} */
    int64_t kernel[2];    /**< {kH, kW}; {k, 1} in 1-D */
    tg_conv_opts opts;    /**< stride, padding, dilation, groups... */
    int dims;             /**< 1 or 2 */
    bool transposed;      /**< nn.ConvTranspose2d */
} tg_conv_layer;

/** nn.Conv1d(in_channels, out_channels, kernel, ...) and nn.Conv2d(...,
   (kernel_h, kernel_w), ...): opts as tg_conv1d / tg_conv2d's (NULL: the
   defaults); in and out channels divisible by groups. Initialised as
   PyTorch's _ConvNd.reset_parameters: weight by kaiming_uniform with
   a = √5, i.e. U(−1/√fan_in, 1/√fan_in) with fan_in = (in/groups)·kH·kW,
   then the bias U(−1/√fan_in, 1/√fan_in) (tg_init_linear_default). @{ */
TG_API int tg_conv1d_layer_init(tg_conv_layer *l, tg_params *p, const char *name,
                                int64_t in_channels, int64_t out_channels, int64_t kernel,
                                const tg_conv_opts *opts, bool bias, tg_rng *r);
TG_API int tg_conv2d_layer_init(tg_conv_layer *l, tg_params *p, const char *name,
                                int64_t in_channels, int64_t out_channels, int64_t kernel_h,
                                int64_t kernel_w, const tg_conv_opts *opts, bool bias, tg_rng *r);
/** @} */
/** nn.ConvTranspose2d: weight [in, out/groups, kH, kW], initialised the
   same way (fan_in = (out/groups)·kH·kW, from the weight's shape as
   PyTorch computes it). */
TG_API int tg_conv_transpose2d_layer_init(tg_conv_layer *l, tg_params *p, const char *name,
                                          int64_t in_channels, int64_t out_channels,
                                          int64_t kernel_h, int64_t kernel_w,
                                          const tg_conv_opts *opts, bool bias, tg_rng *r);
/** x [N, in, ...] (or one sample without N) -> [N, out, ...]. */
TG_API tg_tensor *tg_conv_layer_forward(tg_tape *t, const tg_conv_layer *l, tg_tensor *x);

/** Options of the batch norm layers (nn.BatchNorm1d/2d's arguments).
   TG_BATCHNORM_OPTS_DEFAULT holds PyTorch's defaults; NULL means them. */
typedef struct tg_batchnorm_opts {
    double eps;               /**< TG_NORM_EPS (1e-5) */
    double momentum;          /**< TG_BATCH_NORM_MOMENTUM (0.1) */
    bool affine;              /**< a learnable weight and bias; true */
    bool track_running_stats; /**< running statistics as buffers, used in evaluation;
                                 true (false: the batch's statistics always) */
    bool cumulative_average;  /**< PyTorch's momentum=None: the running statistics
                                 are the plain average over the batches so far
                                 (momentum 1/num_batches_tracked); false */
} tg_batchnorm_opts;
/** PyTorch's defaults: eps 1e-5, momentum 0.1, affine, running statistics. */
#define TG_BATCHNORM_OPTS_DEFAULT                                                        \
    ((tg_batchnorm_opts){TG_NORM_EPS, TG_BATCH_NORM_MOMENTUM, true, true, false})

/** A batch norm layer (nn.BatchNorm1d, nn.BatchNorm2d). */
typedef struct tg_batchnorm {
    tg_tensor *weight;              /**< [C] parameter "<name>.weight" (ones), or NULL */
    tg_tensor *bias;                /**< [C] parameter "<name>.bias" (zeros), or NULL */
    tg_tensor *running_mean;        /**< [C] buffer "<name>.running_mean" (zeros), or NULL */
    tg_tensor *running_var;         /**< [C] buffer "<name>.running_var" (ones), or NULL */
    tg_tensor *num_batches_tracked; /**< 0-d integer buffer (0), or NULL */
    int64_t num_features;           /**< C */
    int dims;                       /**< 1 (BatchNorm1d) or 2 (BatchNorm2d) */
    tg_batchnorm_opts opts;         /**< its options */
    tg_params *params;              /**< the registry whose training switch it reads */
} tg_batchnorm;

/** Registers a batch norm over num_features channels: "<name>.weight" and
   "<name>.bias" (affine), then the buffers "<name>.running_mean",
   "<name>.running_var" and "<name>.num_batches_tracked" (an integer buffer,
   saved as I64: PyTorch's load_state_dict wants it so) with
   track_running_stats; opts NULL for PyTorch's defaults. BatchNorm1d takes
   [N, C] or [N, C, L], BatchNorm2d [N, C, H, W]. @{ */
TG_API int tg_batchnorm1d_init(tg_batchnorm *l, tg_params *p, const char *name,
                               int64_t num_features, const tg_batchnorm_opts *opts);
TG_API int tg_batchnorm2d_init(tg_batchnorm *l, tg_params *p, const char *name,
                               int64_t num_features, const tg_batchnorm_opts *opts);
/** @} */
/** nn.BatchNorm's forward. With p in training mode (tg_params_set_training)
   it normalises with the batch's statistics and, with running statistics,
   adds one to num_batches_tracked and updates them (tg_batch_norm); in
   evaluation mode it uses the running statistics (the batch's without
   them). */
TG_API tg_tensor *tg_batchnorm_forward(tg_tape *t, const tg_batchnorm *l, tg_tensor *x);

/** A layer norm layer (nn.LayerNorm). */
typedef struct tg_layernorm {
    tg_tensor *weight;          /**< normalized_shape, "<name>.weight" (ones), or NULL */
    tg_tensor *bias;            /**< normalized_shape, "<name>.bias" (zeros), or NULL */
    int ndim;                   /**< dimensions of normalized_shape */
    int64_t shape[TG_MAX_DIMS]; /**< normalized_shape */
    double eps;                 /**< TG_NORM_EPS by default */
} tg_layernorm;
/** nn.LayerNorm(normalized_shape, eps, elementwise_affine): the weight and
   bias only with elementwise_affine (PyTorch's default true). */
TG_API int tg_layernorm_init(tg_layernorm *l, tg_params *p, const char *name, int ndim,
                             const int64_t *normalized_shape, bool elementwise_affine,
                             double eps);
/** x [..., *normalized_shape] -> the same shape (tg_layer_norm). */
TG_API tg_tensor *tg_layernorm_forward(tg_tape *t, const tg_layernorm *l, tg_tensor *x);

/** A group norm layer (nn.GroupNorm). */
typedef struct tg_groupnorm {
    tg_tensor *weight;    /**< [C], "<name>.weight" (ones), or NULL */
    tg_tensor *bias;      /**< [C], "<name>.bias" (zeros), or NULL */
    int64_t num_groups;   /**< groups of channels */
    int64_t num_channels; /**< C, divisible by num_groups */
    double eps;           /**< TG_NORM_EPS by default */
} tg_groupnorm;
/** nn.GroupNorm(num_groups, num_channels, eps, affine). */
TG_API int tg_groupnorm_init(tg_groupnorm *l, tg_params *p, const char *name, int64_t num_groups,
                             int64_t num_channels, bool affine, double eps);
/** x [N, C, ...] -> the same shape (tg_group_norm). */
TG_API tg_tensor *tg_groupnorm_forward(tg_tape *t, const tg_groupnorm *l, tg_tensor *x);

/** An RMS norm layer (nn.RMSNorm of recent PyTorch). */
typedef struct tg_rmsnorm {
    tg_tensor *weight;          /**< normalized_shape, "<name>.weight" (ones), or NULL */
    int ndim;                   /**< dimensions of normalized_shape */
    int64_t shape[TG_MAX_DIMS]; /**< normalized_shape */
    double eps;                 /**< TG_RMS_NORM_EPS_AUTO by default (PyTorch's None) */
} tg_rmsnorm;
/** nn.RMSNorm(normalized_shape, eps, elementwise_affine). */
TG_API int tg_rmsnorm_init(tg_rmsnorm *l, tg_params *p, const char *name, int ndim,
                           const int64_t *normalized_shape, bool elementwise_affine, double eps);
/** x [..., *normalized_shape] -> the same shape (tg_rms_norm). */
TG_API tg_tensor *tg_rmsnorm_forward(tg_tape *t, const tg_rmsnorm *l, tg_tensor *x);

/** A dropout layer (nn.Dropout, nn.Dropout2d): no tensors; it reads the
   training switch of `params` and draws its masks from `rng`. */
typedef struct tg_dropout_layer {
    double p;                /**< the probability of zeroing */
    bool channels;           /**< nn.Dropout2d: whole channels */
    tg_rng *rng;             /**< where the masks come from (kept by the caller) */
    const tg_params *params; /**< the registry whose training switch it reads */
} tg_dropout_layer;
/** nn.Dropout(p) / nn.Dropout2d(p) in the model whose registry is params: p in [0, 1]; rng
   may be NULL only for p 0 or 1. @{ */
TG_API int tg_dropout_layer_init(tg_dropout_layer *l, const tg_params *params, double p,
                                 tg_rng *rng);
TG_API int tg_dropout2d_layer_init(tg_dropout_layer *l, const tg_params *params, double p,
                                   tg_rng *rng);
/** @} */
/** In training mode tg_dropout (or tg_dropout2d); in evaluation x itself. */
TG_API tg_tensor *tg_dropout_layer_forward(tg_tape *t, const tg_dropout_layer *l, tg_tensor *x);

/** Prints a model's summary: every parameter and buffer in the order they
   were added (name, kind, shape, number of values), then the totals of
   each and the mode (training or evaluation). TG_OK or an error (NULL
   argument, a failed write) with tg_last_error. */
TG_API int tg_params_summary(const tg_params *p, FILE *f);

/** Optimizers over every parameter of a tg_params, with torch.optim's update
   formulas (docs/training.md writes them out). The state (momentum buffer,
   Adam's moments) is allocated once, when the optimizer is made; a step
   allocates nothing. Make the optimizer after adding every parameter:
   tg_optim_step refuses to run (TG_ERR_STATE) if parameters were added
   since. Every parameter is updated on every step, as in PyTorch when the
   gradients are zeroed rather than set to None. */
typedef struct tg_optim tg_optim;

/** torch.optim.SGD. Start from tg_sgd_defaults(lr) and change fields. */
typedef struct tg_sgd_opts {
    double lr;           /**< learning rate, >= 0 */
    double momentum;     /**< 0: plain SGD */
    double dampening;    /**< 0 */
    double weight_decay; /**< L2 penalty λ added to the gradient: g + λ·w; 0 */
    bool nesterov;       /**< needs momentum > 0 and dampening 0; false */
    bool maximize;       /**< ascend instead of descend; false */
} tg_sgd_opts;
/** {lr, momentum 0, dampening 0, weight_decay 0, nesterov false, maximize false}. */
TG_API tg_sgd_opts tg_sgd_defaults(double lr);
/** An SGD optimizer over p (opts NULL: tg_sgd_defaults(1e-3), PyTorch 2's
   default lr). NULL on a bad option, empty p or no memory (tg_last_error). */
TG_API tg_optim *tg_sgd_new(tg_params *p, const tg_sgd_opts *opts);

/** torch.optim.Adam and torch.optim.AdamW. */
typedef struct tg_adam_opts {
    double lr;           /**< 1e-3 */
    /** @{ */
    double beta1, beta2; /**< 0.9, 0.999; each in [0, 1) */
    /** @} */
    double eps;          /**< 1e-8, added to √v̂ */
    double weight_decay; /**< Adam: L2 added to the gradient (default 0);
                            AdamW: decoupled, w ← (1 − lr·λ)·w (default 1e-2) */
    bool amsgrad;        /**< use the running maximum of v; false */
    bool maximize;       /**< false */
} tg_adam_opts;
/** Adam's defaults with this lr (weight_decay 0). */
TG_API tg_adam_opts tg_adam_defaults(double lr);
/** AdamW's defaults with this lr (weight_decay 1e-2). */
TG_API tg_adam_opts tg_adamw_defaults(double lr);
/** Adam / AdamW over p (opts NULL: their defaults with lr 1e-3). NULL on a bad
   option, empty p or no memory (tg_last_error says why). @{ */
TG_API tg_optim *tg_adam_new(tg_params *p, const tg_adam_opts *opts);
TG_API tg_optim *tg_adamw_new(tg_params *p, const tg_adam_opts *opts);
/** @} */

/** One update of every parameter from its gradient (a parameter whose
   gradient is NULL is skipped, as PyTorch skips a None grad). TG_OK, or
   TG_ERR_STATE if the parameters changed since the optimizer was made. */
TG_API int tg_optim_step(tg_optim *o);
/** Sets every gradient of the optimizer's parameters to zero (one memset). */
TG_API void tg_optim_zero_grad(tg_optim *o);
/** Releases them (tg_params_release_grad). */
TG_API void tg_optim_release_grad(tg_optim *o);
/** tg_optim_step, then tg_optim_zero_grad, in one pass over the memory: each
   piece of the gradient is zeroed just after the update has read it, while
   it is still in cache. The loop `forward; backward; step_zero_grad` is the
   loop `zero_grad; forward; backward; step` without a separate sweep over
   every gradient (zero once before the first backward). Same return values
   as tg_optim_step; on an error nothing is updated or zeroed. */
TG_API int tg_optim_step_zero_grad(tg_optim *o);
/** tg_optim_step, then tg_optim_release_grad: PyTorch's `optimizer.step();
   optimizer.zero_grad()`. The fastest training loop is `forward; backward;
   tg_optim_step_release_grad`: the step writes no zeros, and the next
   backward writes the gradients. A parameter with no gradient (released and
   not reached by backward) is skipped, as PyTorch skips a None grad, and
   the step does not count for it (tg_optim_param_steps). Same return values
   as tg_optim_step; on an error nothing is updated or released. */
TG_API int tg_optim_step_release_grad(tg_optim *o);
/** The learning rate used by the next steps (for schedules); lr >= 0. */
TG_API int tg_optim_set_lr(tg_optim *o, double lr);
TG_API double tg_optim_get_lr(const tg_optim *o); /**< the current rate (0 for NULL) */
/** Steps taken so far (calls of the tg_optim_step functions that succeeded). */
TG_API int64_t tg_optim_steps(const tg_optim *o);
/** The steps that updated parameter i (tg_params_at order), PyTorch's
   state[p]['step']: a step skips a parameter whose gradient is NULL, and
   then does not count for it. Adam's bias corrections and SGD's first
   momentum step go by this count. 0 for a NULL optimizer or i out of range. */
TG_API int64_t tg_optim_param_steps(const tg_optim *o, size_t i);
/** "sgd", "adam" or "adamw". */
TG_API const char *tg_optim_name(const tg_optim *o);
/** A state block laid out like tg_params_data (block_len values, each
   parameter at the same offset): "momentum_buffer" (SGD with momentum),
   "exp_avg", "exp_avg_sq", "max_exp_avg_sq" (Adam with amsgrad); NULL if
   this optimizer has no such state. Read-only; owned by the optimizer. */
TG_API const tg_real *tg_optim_state(const tg_optim *o, const char *name);
/** Frees the optimizer and its state (not the parameters). Accepts NULL. */
TG_API void tg_optim_free(tg_optim *o);

#ifdef __cplusplus
}
#endif

#endif /* TAPEGRAD_NN_H */
