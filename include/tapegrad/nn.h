/** @file tapegrad/nn.h — training networks: initialisers (torch.nn.init), layers
 * whose parameters carry PyTorch's state-dict names, a small MLP, the
 * optimizers (torch.optim's SGD, Adam, AdamW, RMSprop, Adagrad) over
 * parameter groups, gradient clipping, learning-rate schedules, metrics and
 * resumable checkpoints.
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
/** An activation as data, for tg_mlp_init_ex: which one, and its
   parameter where it has one. */
typedef enum tg_act_kind {
    TG_ACT_NONE = 0,   /**< identity: no module (nn.Identity) */
    TG_ACT_RELU,       /**< nn.ReLU */
    TG_ACT_LEAKY_RELU, /**< nn.LeakyReLU(param), the negative slope (PyTorch's 0.01) */
    TG_ACT_TANH,       /**< nn.Tanh */
    TG_ACT_SIGMOID,    /**< nn.Sigmoid */
    TG_ACT_GELU,       /**< nn.GELU(): the erf form */
    TG_ACT_GELU_TANH,  /**< nn.GELU(approximate='tanh') */
    TG_ACT_SILU,       /**< nn.SiLU */
    TG_ACT_ELU,        /**< nn.ELU(param), alpha (PyTorch's 1.0) */
    TG_ACT_SELU,       /**< nn.SELU */
    TG_ACT_SOFTPLUS,   /**< nn.Softplus(param), beta (PyTorch's 1.0; threshold 20) */
    TG_ACT_MISH        /**< nn.Mish */
} tg_act_kind;
/** An activation and its parameter. */
typedef struct tg_act {
    tg_act_kind kind; /**< which */
    double param;     /**< leaky_relu's slope, elu's alpha, softplus's beta; else unused */
} tg_act;
/** y = act(x) on the tape (x for TG_ACT_NONE). NULL on failure. */
TG_API tg_tensor *tg_act_apply(tg_tape *t, tg_act act, tg_tensor *x);
/** "ReLU", "LeakyReLU(0.2)", "GELU(approximate='tanh')"... into buf; returns buf. */
TG_API const char *tg_act_str(tg_act act, char *buf, size_t len);

/** The layers and the activations of a multilayer perceptron (tg_mlp_init
   and tg_mlp_init_ex fill it). */
typedef struct tg_mlp {
    int n_layers;                              /**< how many of `layers` are used */
    tg_linear_layer layers[TG_MLP_MAX_LAYERS]; /**< fc1, fc2, ... */
    tg_mlp_activation act; /**< tg_mlp_init's function after each hidden layer, or NULL */
    /** tg_mlp_init_ex's activation after each layer (acts[i] follows layers[i];
       the last is the output's, TG_ACT_NONE for logits); used when act is NULL */
    tg_act acts[TG_MLP_MAX_LAYERS];
} tg_mlp;

/** tg_mlp_init_ex's options. Zero-filled: layers named "<prefix>1", ..., no
   activation. */
typedef struct tg_mlp_opts {
    const char *prefix;       /**< names: "fc" gives fc1.weight...; with sequential,
                                 "net." gives net.0.weight; NULL: "fc" or "" */
    tg_act act;               /**< the activation after every hidden layer */
    const tg_act *acts;       /**< or one per hidden layer ([n_sizes − 2]); NULL: act */
    tg_act output;            /**< after the last layer: TG_ACT_NONE for logits */
    bool sequential;          /**< nn.Sequential's state-dict names: each module numbered
                                 in order, activations too, so Sequential(Linear, ReLU,
                                 Linear) is "0.weight", "0.bias", "2.weight", "2.bias" */
    bool no_bias;             /**< layers without bias (bias=False) */
} tg_mlp_opts;
/** A multilayer perceptron of widths sizes[0..n_sizes) with an activation
   (and its parameter) after each hidden layer, named as tg_mlp_init names
   them or as nn.Sequential does, so that a Sequential's safetensors file
   loads into it with tg_params_load. Initialised as nn.Linear (r NULL:
   zeros, to load weights). TG_OK or an error status (layers made before
   a failing one stay registered). */
TG_API int tg_mlp_init_ex(tg_mlp *m, tg_params *p, int n_sizes, const int64_t *sizes,
                          const tg_mlp_opts *opts, tg_rng *r);

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
   them). The count and the update are the op's: a replay of the tape
   (tg_tape_replay) counts its batch too. The mode is read when the layer
   is recorded: a replay runs the recorded mode (record again after
   tg_params_set_training). Because training mode writes the buffers of p,
   threads that share p must not run it in training mode at once (a data
   race); evaluation mode only reads them (tg_set_num_threads). */
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

/** Writes a model summary, as torchinfo's table: every parameter and buffer
   in the order they were added (name, kind, shape, number of values), then
   the totals of each (the parameters' also in MB of tg_real) and the mode
   (training or evaluation). TG_OK or an error (NULL argument, a failed
   write: f is flushed, so TG_ERR_IO reports it even for a short table)
   with tg_last_error. */
TG_API int tg_params_summary(const tg_params *p, FILE *f);

/** Optimizers over every parameter of a tg_params, with torch.optim's update
   formulas (docs/training.md writes them out). The state (momentum buffer,
   Adam's moments) is allocated once, when the optimizer is made; a step
   allocates nothing. Make the optimizer after adding every parameter:
   tg_optim_step refuses to run (TG_ERR_STATE) if parameters were added
   since. A parameter whose gradient is NULL (released, and not reached by
   the last backward) is skipped, as PyTorch skips a None grad; after
   tg_optim_zero_grad every gradient exists and every parameter is updated,
   as in PyTorch with zero_grad(set_to_none=False) (docs/training.md), but
   a frozen one (tg_requires_grad(w, false)), which is always skipped. A new
   parameter's gradient is zeros where PyTorch's is None: for PyTorch's
   numbers in a model whose first steps do not reach every parameter,
   release the gradients before the first step (docs/training.md). */
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

/** torch.optim.Adam and torch.optim.AdamW. Start from tg_adam_defaults(lr)
   (or tg_adamw_defaults) and change fields: the values below are those
   defaults, and a compound literal that leaves a field out sets it to 0,
   not to its default (betas and eps of 0 are valid options, PyTorch's too:
   with eps 0 a parameter whose gradient is 0 becomes NaN, 0/0). */
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

/** torch.optim.RMSprop: v = α·v + (1 − α)·g², w −= lr·g/(√v + ε) (centered:
   √(v − ḡ²) with ḡ the running mean of g; momentum: a buffer b = μ·b +
   g/(√v + ε), w −= lr·b). Start from tg_rmsprop_defaults(lr): the values
   below are its, and a field a compound literal leaves out is 0. */
typedef struct tg_rmsprop_opts {
    double lr;           /**< 1e-2 */
    double alpha;        /**< smoothing constant, 0.99; in [0, 1] */
    double eps;          /**< 1e-8, added to the root */
    double weight_decay; /**< L2 added to the gradient, 0 */
    double momentum;     /**< 0 */
    bool centered;       /**< normalise by the estimated variance; false */
    bool maximize;       /**< false */
} tg_rmsprop_opts;
/** RMSprop's defaults with this lr. */
TG_API tg_rmsprop_opts tg_rmsprop_defaults(double lr);
/** RMSprop over p (opts NULL: its defaults, lr 1e-2). NULL on a bad option,
   empty p or no memory (tg_last_error says why). */
TG_API tg_optim *tg_rmsprop_new(tg_params *p, const tg_rmsprop_opts *opts);

/** torch.optim.Adagrad: s += g², w −= lr_t·g/(√s + ε) with
   lr_t = lr / (1 + (t − 1)·lr_decay) at the parameter's step t. Start from
   tg_adagrad_defaults(lr): the values below are its, and a field a
   compound literal leaves out is 0. */
typedef struct tg_adagrad_opts {
    double lr;                        /**< 1e-2 */
    double lr_decay;                  /**< 0 */
    double weight_decay;              /**< L2 added to the gradient, 0 */
    double initial_accumulator_value; /**< where s starts, 0 */
    double eps;                       /**< 1e-10 */
    bool maximize;                    /**< false */
} tg_adagrad_opts;
/** Adagrad's defaults with this lr. */
TG_API tg_adagrad_opts tg_adagrad_defaults(double lr);
/** Adagrad over p (opts NULL: its defaults, lr 1e-2). NULL on a bad option,
   empty p or no memory (tg_last_error says why). */
TG_API tg_optim *tg_adagrad_new(tg_params *p, const tg_adagrad_opts *opts);

/* ---- parameter groups (torch.optim's param_groups) */

/** Chooses parameters for a group: true to take x (named `name`). */
typedef bool (*tg_param_filter)(const char *name, const tg_tensor *x, void *ctx);
/** Parameters with fewer than 2 dimensions: biases and the scales of norm
   layers, the ones usually trained without weight decay (as nanoGPT's
   `p.dim() < 2`). A tg_param_filter; ctx is unused. */
TG_API bool tg_param_is_1d(const char *name, const tg_tensor *x, void *ctx);

/** A group of parameters and the options it overrides. Its parameters are
   those named in names[0..n_names) (each must exist), or, if names is
   NULL, those for which filter(name, x, ctx) is true. lr and weight_decay
   replace the optimizer's for the group; NAN keeps the optimizer's.
   tg_param_group_new() gives one with nothing chosen and both NAN. */
typedef struct tg_param_group {
    const char *const *names; /**< the parameters by name, or NULL */
    int n_names;              /**< how many names */
    tg_param_filter filter;   /**< used when names is NULL */
    void *ctx;                /**< passed to filter */
    double lr;                /**< the group's learning rate; NAN: the optimizer's */
    double weight_decay;      /**< the group's weight decay; NAN: the optimizer's */
} tg_param_group;
/** {names NULL, 0, filter NULL, ctx NULL, lr NAN, weight_decay NAN}. */
TG_API tg_param_group tg_param_group_new(void);

/** Splits the optimizer's parameters into groups, each with its own
   learning rate and weight decay (PyTorch: the list of dicts given to the
   optimizer). groups[0..n) are matched in order: a parameter goes to the
   first group that takes it; a name listed in two groups is an error.
   Parameters that no group takes form one more group, last, with the
   optimizer's own options. Call it before the first step and before
   making a scheduler; a call replaces the groups of the one before.
   TG_OK, or TG_ERR_INVALID (an unknown name, a name twice, a bad lr or
   weight decay), TG_ERR_STATE (after a step), TG_ERR_NOMEM; the groups
   are unchanged on failure. Example, no decay on biases and norms:
       tg_param_group g = tg_param_group_new();
       g.filter = tg_param_is_1d;
       g.weight_decay = 0;
       tg_optim_set_groups(opt, 1, &g);  // group 0: 1-D, group 1: the rest */
TG_API int tg_optim_set_groups(tg_optim *o, int n, const tg_param_group *groups);
/** How many groups (1 until tg_optim_set_groups; 0 for NULL). */
TG_API int tg_optim_num_groups(const tg_optim *o);
/** The group of parameter i (tg_params_at order), or -1. */
TG_API int tg_optim_param_group(const tg_optim *o, size_t i);
/** How many parameters group g holds (0 if g is out of range). */
TG_API size_t tg_optim_group_size(const tg_optim *o, int g);
/** Group g's learning rate: param_groups[g]['lr']. TG_OK or TG_ERR_INVALID. */
TG_API int tg_optim_set_group_lr(tg_optim *o, int g, double lr);
/** Group g's current learning rate (0 if out of range). */
TG_API double tg_optim_get_group_lr(const tg_optim *o, int g);
/** Group g's weight decay (0 if out of range). */
TG_API double tg_optim_get_group_weight_decay(const tg_optim *o, int g);
/** Group g's momentum: SGD's and RMSprop's momentum, Adam's β₁ (OneCycleLR
   cycles it); 0 for Adagrad or g out of range. */
TG_API double tg_optim_get_group_momentum(const tg_optim *o, int g);

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
/** The learning rate used by the next steps, for every group; lr >= 0. */
TG_API int tg_optim_set_lr(tg_optim *o, double lr);
TG_API double tg_optim_get_lr(const tg_optim *o); /**< group 0's current rate (0 for NULL) */
/** Steps taken so far (calls of the tg_optim_step functions that succeeded). */
TG_API int64_t tg_optim_steps(const tg_optim *o);
/** The steps that updated parameter i (tg_params_at order), PyTorch's
   state[p]['step']: a step skips a parameter whose gradient is NULL, and
   then does not count for it. Adam's bias corrections and SGD's first
   momentum step go by this count. 0 for a NULL optimizer or i out of range. */
TG_API int64_t tg_optim_param_steps(const tg_optim *o, size_t i);
/** "sgd", "adam", "adamw", "rmsprop" or "adagrad". */
TG_API const char *tg_optim_name(const tg_optim *o);
/** A state block laid out like tg_params_data (block_len values, each
   parameter at the same offset): "momentum_buffer" (SGD with momentum),
   "exp_avg", "exp_avg_sq", "max_exp_avg_sq" (Adam with amsgrad),
   "square_avg", "grad_avg" (centered) and "momentum_buffer" (RMSprop with
   momentum), "sum" (Adagrad); NULL if this optimizer has no such state. Read-only; owned by the optimizer. */
TG_API const tg_real *tg_optim_state(const tg_optim *o, const char *name);
/** Frees the optimizer and its state (not the parameters). Accepts NULL. */
TG_API void tg_optim_free(tg_optim *o);

/* ---- gradient clipping (torch.nn.utils) */

/** torch.nn.utils.clip_grad_norm_: scales every gradient of p by
   min(1, max_norm / (total + 1e-6)), where total is the norm of order
   norm_type (> 0, or INFINITY for the largest |g|) of all gradients taken
   together, as if concatenated. Returns total (before clipping), or −1 on
   an error (tg_last_error says why: NULL p, norm_type <= 0, max_norm < 0
   or not finite; or, with error_if_nonfinite, a total that is NaN or
   infinite: TG_ERR_NUMERIC, and then no gradient is changed). A parameter
   whose gradient is NULL (released) is skipped, as PyTorch skips a None
   grad. The norm is summed in double in both builds: exact to double
   precision, it does not overflow where float's squares would. Without
   error_if_nonfinite a NaN or infinite total scales the gradients by NaN
   or 0, as PyTorch does. */
TG_API double tg_clip_grad_norm(tg_params *p, double max_norm, double norm_type,
                                bool error_if_nonfinite);
/** torch.nn.utils.clip_grad_value_: clamps every gradient element into
   [−clip_value, clip_value] (NaN stays NaN); NULL gradients are skipped.
   TG_OK, or TG_ERR_INVALID for NULL p or clip_value < 0 or NaN. */
TG_API int tg_clip_grad_value(tg_params *p, double clip_value);

/* ---- learning-rate schedules (torch.optim.lr_scheduler)

   A scheduler sets the learning rate of every group of an optimizer, step
   for step as PyTorch 1.13's does: each is made after the optimizer (and
   its groups), does its initial step at once (so LinearLR's first rate is
   in force before the first tg_optim_step), and is stepped after each
   optimizer step (or each epoch), as scheduler.step() is. The first
   scheduler made over an optimizer records each group's rate as its
   initial_lr; the rates are the recursive formulas of get_lr(), so they
   compose with other changes to the rate as PyTorch's do. Each
   constructor returns NULL with tg_last_error on a bad argument. */

/** A learning-rate scheduler over a tg_optim (opaque). */
typedef struct tg_sched tg_sched;

/** StepLR: the rate times gamma every step_size steps. */
TG_API tg_sched *tg_sched_step_lr(tg_optim *o, int64_t step_size, double gamma);
/** MultiStepLR: the rate times gamma at each of milestones[0..n) (a
   milestone listed k times: gamma^k). */
TG_API tg_sched *tg_sched_multistep_lr(tg_optim *o, int n, const int64_t *milestones,
                                       double gamma);
/** ExponentialLR: the rate times gamma every step. */
TG_API tg_sched *tg_sched_exponential_lr(tg_optim *o, double gamma);
/** CosineAnnealingLR: from the initial rate down to eta_min over T_max
   steps along half a cosine, then back up (period 2·T_max), by PyTorch's
   recursive formula, which agrees with the closed form
   η_min + (η₀ − η_min)(1 + cos(π·t/T_max))/2 only approximately. */
TG_API tg_sched *tg_sched_cosine_lr(tg_optim *o, int64_t T_max, double eta_min);
/** CosineAnnealingWarmRestarts: cosine annealing over T_0 steps, then a
   restart, each period T_mult (>= 1) times longer than the one before. */
TG_API tg_sched *tg_sched_cosine_warm_restarts(tg_optim *o, int64_t T_0, int64_t T_mult,
                                               double eta_min);
/** LinearLR: the rate times a factor going linearly from start_factor
   (in (0, 1]) to end_factor (in [0, 1]) over total_iters steps: a linear
   warm-up with start_factor < 1, end_factor 1. */
TG_API tg_sched *tg_sched_linear_lr(tg_optim *o, double start_factor, double end_factor,
                                    int64_t total_iters);

/** OneCycleLR's options (tg_one_cycle_defaults gives PyTorch's). */
typedef struct tg_one_cycle_opts {
    double max_lr;          /**< the peak rate of every group */
    const double *max_lrs;  /**< or one per group (NULL: max_lr for all) */
    int64_t total_steps;    /**< steps in the cycle; stepping past it is an error */
    double pct_start;       /**< the share of the cycle spent rising, 0.3 */
    bool anneal_linear;     /**< linear annealing; false: cosine (PyTorch's 'cos') */
    bool cycle_momentum;    /**< momentum (Adam: β₁) cycled inversely, true */
    double base_momentum;   /**< 0.85 */
    double max_momentum;    /**< 0.95 */
    double div_factor;      /**< initial rate = max_lr / div_factor, 25 */
    double final_div_factor; /**< final rate = initial rate / final_div_factor, 1e4 */
    bool three_phase;       /**< rise, fall back to the initial rate, then anneal; false */
} tg_one_cycle_opts;
/** PyTorch's defaults with this max_lr and total_steps. */
TG_API tg_one_cycle_opts tg_one_cycle_defaults(double max_lr, int64_t total_steps);
/** OneCycleLR: each group's rate from max_lr/div_factor up to max_lr and
   down to its final rate, over total_steps (each group's initial_lr set to
   max_lr/div_factor). With cycle_momentum the group's momentum (SGD,
   RMSprop) or β₁ (Adam, AdamW) goes the other way, between max_momentum
   and base_momentum; an SGD or RMSprop optimizer made without momentum
   then gets its momentum buffer, as in PyTorch; Adagrad, which has no
   momentum, is refused unless cycle_momentum is false. */
TG_API tg_sched *tg_sched_one_cycle(tg_optim *o, const tg_one_cycle_opts *opts);

/** ReduceLROnPlateau's options (tg_plateau_defaults gives PyTorch's). */
typedef struct tg_plateau_opts {
    bool mode_max;        /**< a metric to maximise (PyTorch's mode='max'); false: 'min' */
    double factor;        /**< new rate = rate·factor, in [0, 1); 0.1 */
    int64_t patience;     /**< steps without improvement before a cut, 10 */
    double threshold;     /**< what counts as an improvement, 1e-4 */
    bool threshold_abs;   /**< threshold_mode 'abs'; false: 'rel' */
    int64_t cooldown;     /**< steps to wait after a cut, 0 */
    double min_lr;        /**< no group's rate goes below it, 0 */
    const double *min_lrs; /**< or one per group (NULL: min_lr for all) */
    double eps;           /**< a cut smaller than eps is not made, 1e-8 */
} tg_plateau_opts;
/** PyTorch's defaults: mode min, factor 0.1, patience 10, threshold 1e-4
   relative, cooldown 0, min_lr 0, eps 1e-8. */
TG_API tg_plateau_opts tg_plateau_defaults(void);
/** ReduceLROnPlateau: the rates are cut by `factor` once a metric (given to
   tg_sched_step_metric) has not improved for more than `patience` steps.
   Making it changes no rate. */
TG_API tg_sched *tg_sched_plateau(tg_optim *o, const tg_plateau_opts *opts);

/** SequentialLR: scheds[0] until milestones[0], then scheds[1] (restarted
   at its step 0) until milestones[1], ... (n schedulers, n − 1
   milestones). Each was made over o, in order, as in PyTorch (each made
   its initial step; this one undoes them, resets the rates to their
   initial values and redoes the first's). Takes ownership of scheds on
   success (tg_sched_free frees them); on failure the caller keeps them. A
   scheduler that already belongs to a SequentialLR or ChainedScheduler is
   refused (TG_ERR_INVALID): it has one owner. A
   warm-up then a cosine, as llm.c trains:
       tg_sched *s[2] = {tg_sched_linear_lr(o, 0.1, 1.0, warmup),
                         tg_sched_cosine_lr(o, total - warmup, 0)};
       tg_sched *sched = tg_sched_sequential(o, 2, s, (int64_t[]){warmup}); */
TG_API tg_sched *tg_sched_sequential(tg_optim *o, int n, tg_sched *const *scheds,
                                     const int64_t *milestones);
/** ChainedScheduler: every step steps each of scheds[0..n) in turn (all
   over one optimizer), so their factors multiply. Takes ownership of
   scheds on success; one that already belongs to a SequentialLR or
   ChainedScheduler is refused (TG_ERR_INVALID), as in tg_sched_sequential. */
TG_API tg_sched *tg_sched_chained(int n, tg_sched *const *scheds);

/** scheduler.step(): the next step's rates, set on every group of the
   optimizer. TG_OK; TG_ERR_STATE (with a message) for OneCycleLR past
   total_steps, for ReduceLROnPlateau (use tg_sched_step_metric) or if the
   optimizer's groups changed since the scheduler was made; TG_ERR_INVALID
   for NULL. On an error no rate changes. */
TG_API int tg_sched_step(tg_sched *s);
/** ReduceLROnPlateau's step(metrics): the metric of this step (a NaN is
   never an improvement). Other schedulers refuse it. */
TG_API int tg_sched_step_metric(tg_sched *s, double metric);
/** get_last_lr()[g]: the rate the scheduler last set on group g (0 if g is
   out of range). */
TG_API double tg_sched_get_last_lr(const tg_sched *s, int g);
/** last_epoch: the steps taken (0 after construction). */
TG_API int64_t tg_sched_last_epoch(const tg_sched *s);
/** "StepLR", "MultiStepLR", ... (PyTorch's class names). */
TG_API const char *tg_sched_name(const tg_sched *s);
/** Frees the scheduler (and those it took over). Accepts NULL. */
TG_API void tg_sched_free(tg_sched *s);

/* ---- metrics over predictions (sklearn.metrics' definitions)

   Each takes arrays the caller owns and allocates nothing. Class labels
   are int64 in [0, classes); predictions of a classifier come from its
   logits by tg_argmax_rows. */

/** pred[i] = the index of the largest of row i of logits [n, classes] (the
   first on a tie; NaN is never the largest unless the row is all NaN).
   TG_OK, or TG_ERR_INVALID for NULL arrays or classes < 1. */
TG_API int tg_argmax_rows(const tg_real *logits, int64_t n, int64_t classes, int64_t *pred);
/** The share of i with pred[i] == target[i] (accuracy_score); NAN for n = 0,
    and NAN with tg_last_error for a NULL array or n < 0 (as tg_mse and
    tg_r2_score). */
TG_API double tg_accuracy(const int64_t *pred, const int64_t *target, int64_t n);
/** cm[t·classes + p] = how many i have target[i] = t and pred[i] = p
   (confusion_matrix: rows are the true classes). cm [classes, classes] is
   overwritten. TG_OK, or TG_ERR_INVALID (a label outside [0, classes),
   naming it) with cm unchanged. */
TG_API int tg_confusion_matrix(const int64_t *pred, const int64_t *target, int64_t n,
                               int classes, int64_t *cm);
/** Writes the matrix as a table: a header of predicted classes, one row per
   true class, and each class's recall at the end of its row. */
TG_API void tg_confusion_print(const int64_t *cm, int classes, FILE *f);
/** Precision, recall and F1 of a confusion matrix. */
typedef struct tg_prf {
    double precision; /**< tp / (tp + fp) */
    double recall;    /**< tp / (tp + fn) */
    double f1;        /**< 2·p·r / (p + r) */
} tg_prf;
/** Averaged over the classes (macro: the mean of each class's values over
   the classes that are a target or a prediction of some sample, as
   sklearn's default labels; a class with no prediction (or no sample)
   counting 0 there, as sklearn's zero_division=0) or over the samples
   (micro: from the summed counts; for one label per sample all three equal
   the accuracy). NAN in all three for a matrix without samples. TG_OK or
   TG_ERR_INVALID. */
TG_API int tg_precision_recall_f1(const int64_t *cm, int classes, bool micro, tg_prf *out);
/** The mean squared error of n values (mean_squared_error), summed in
   double; NAN for n = 0. */
TG_API double tg_mse(const tg_real *pred, const tg_real *target, int64_t n);
/** The coefficient of determination R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)²
   (r2_score), in double: 1 for a perfect fit; for constant targets 1 if
   the fit is perfect, else 0 (sklearn's force_finite); NAN for n = 0. */
TG_API double tg_r2_score(const tg_real *pred, const tg_real *target, int64_t n);

/** A series of a plot: n points (x[i], y[i]), or (i, y[i]) if x is NULL. */
typedef struct tg_curve {
    const char *name;  /**< its label, e.g. "train loss" */
    const double *x;   /**< [n] or NULL: 0, 1, 2, ... */
    const double *y;   /**< [n]; NaN or infinite points are left out */
    int64_t n;         /**< points */
    int panel;         /**< the chart it is drawn in, from 0: one panel per quantity
                          (loss in 0, accuracy in 1) */
} tg_curve;
/** Writes an SVG picture of the curves (the loss and accuracy of a run):
   one chart per panel, stacked, each with its own axes, ticks and legend,
   x_label under the last (e.g. "epoch"). Text is escaped for XML. Finite
   values of any size are drawn (±1e308, 1e16 + 2, subnormals: the axes and
   coordinates stay finite). TG_OK, or TG_ERR_INVALID (no curve, a NULL
   array, panels outside [0, 8)) / TG_ERR_IO with tg_last_error. */
TG_API int tg_plot_curves(const char *path, const char *title, const char *x_label, int n,
                          const tg_curve *curves);

/* ---- checkpoints: resume training bit for bit */

/** A dataset of float arrays (declared again, with its functions, in tapegrad/io.h). */
typedef struct tg_tensor_dataset tg_tensor_dataset;

/** What a checkpoint holds: the parameters, and each other part that is
   not NULL. */
typedef struct tg_checkpoint {
    tg_params *params;        /**< required: every parameter and buffer, by name */
    tg_optim *optim;          /**< over params: its state (moments, per-parameter step
                                 counts), its step count, each group's options and rate */
    tg_sched *sched;          /**< over optim: its counters and rates (and those it holds) */
    tg_rng *rng;              /**< a generator of the training loop (dropout, your own
                                 shuffling) */
    tg_tensor_dataset *data;  /**< a dataset's batching position: the batch that comes
                                 after loading is the one that would have come */
} tg_checkpoint;

/** Saves every part of c in one safetensors file at path (the weights
   under their own names, the optimizer's state beside them and the rest
   in its metadata: docs/training.md has the layout), under a temporary
   name beside it renamed at the end (as tg_params_save: `path`.tmp, or
   .tmp1 ... if that exists; no other file is touched): a failure leaves no
   half-written file. An empty path is refused. TG_OK, or TG_ERR_INVALID (a NULL or inconsistent
   part: an optimizer over other parameters, a scheduler over another
   optimizer), TG_ERR_STATE, TG_ERR_NOMEM, TG_ERR_IO with tg_last_error. */
TG_API int tg_checkpoint_save(const tg_checkpoint *c, const char *path);
/** Loads a checkpoint into the parts of c, which must be made as they were
   when it was saved (the same model, optimizer, groups, scheduler;
   the dataset batched with the same options). Training then goes on as
   if it had never stopped, bit for bit. The file is checked as
   tg_params_load checks it, and then against each part: other parameter
   names or shapes, another kind of optimizer, other groups or other
   options fixed at construction (Adam's beta2, eps, amsgrad...), another
   scheduler, a dataset of another size or batching are refused with a
   message naming what differs, as is a file without a part that c asks
   for (a part of the file that c does not ask for is ignored). Each
   group's lr, weight decay and momentum (Adam's beta1) are the file's
   after loading, as torch's load_state_dict takes its param_groups.
   Nothing is changed unless everything is read. TG_OK, or TG_ERR_IO, TG_ERR_FORMAT, TG_ERR_SHAPE,
   TG_ERR_NOMEM, TG_ERR_INVALID with tg_last_error. */
TG_API int tg_checkpoint_load(const tg_checkpoint *c, const char *path);

/* ============================================= layers for sequences
   (src/nn/sequence.c): nn.Embedding, nn.RNN / nn.LSTM / nn.GRU and their
   cells, nn.MultiheadAttention, under PyTorch's state-dict names */

/** An embedding table (nn.Embedding): "<name>.weight" [num_embeddings,
   embedding_dim]. */
typedef struct tg_embedding_layer {
    tg_tensor *weight;      /**< [num_embeddings, embedding_dim] */
    int64_t num_embeddings; /**< rows of the table */
    int64_t embedding_dim;  /**< the width of each row */
    int64_t padding_idx;    /**< in [0, num_embeddings), or TG_PADDING_IDX_NONE */
} tg_embedding_layer;
/** Registers "<name>.weight" and, when r is not NULL, draws it as
   nn.Embedding does: N(0, 1), then the padding row set to zero.
   padding_idx is TG_PADDING_IDX_NONE or a row in [−num_embeddings,
   num_embeddings) (negative counting from the end); that row gets no
   gradient (tg_embedding). TG_OK or an error (a name taken, a size ≤ 0,
   padding_idx out of range), nothing registered then. */
TG_API int tg_embedding_layer_init(tg_embedding_layer *l, tg_params *p, const char *name,
                                   int64_t num_embeddings, int64_t embedding_dim,
                                   int64_t padding_idx, tg_rng *r);
/** indices of any shape S -> [*S, embedding_dim] (tg_embedding). */
TG_API tg_tensor *tg_embedding_layer_forward(tg_tape *t, const tg_embedding_layer *l,
                                             const tg_index *indices);

/** The most layers of a tg_recurrent. */
#define TG_RNN_MAX_LAYERS 16

/** Options of the recurrent layers (nn.RNN's keyword arguments);
   tg_rnn_defaults() gives PyTorch's. Not offered: dropout between layers,
   bidirectional, proj_size. */
typedef struct tg_rnn_opts {
    int num_layers;   /**< 1 */
    bool bias;        /**< true: bias_ih and bias_hh in every layer */
    bool batch_first; /**< false: inputs and outputs [T, N, ...]; true: [N, T, ...] */
} tg_rnn_opts;
/** {num_layers 1, bias true, batch_first false}. */
TG_API tg_rnn_opts tg_rnn_defaults(void);

/** A stack of recurrent layers (nn.RNN, nn.LSTM, nn.GRU): layer k has
   "<name>.weight_ih_l<k>" [G·H, in_k], "<name>.weight_hh_l<k>" [G·H, H]
   and, with bias, "<name>.bias_ih_l<k>" and "<name>.bias_hh_l<k>" [G·H]
   (G = 1, 4 or 3; in_0 = input_size, in_k = H after), in that order. */
typedef struct tg_recurrent {
    tg_rnn_mode mode;    /**< TG_RNN_TANH, TG_RNN_RELU, TG_RNN_LSTM or TG_RNN_GRU */
    int64_t input_size;  /**< features of the input */
    int64_t hidden_size; /**< H */
    int num_layers;      /**< layers used in the arrays below */
    bool bias;           /**< whether the layers have biases */
    bool batch_first;    /**< [N, T, ...] instead of [T, N, ...] */
    tg_tensor *weight_ih[TG_RNN_MAX_LAYERS]; /**< [G·H, in_k] */
    tg_tensor *weight_hh[TG_RNN_MAX_LAYERS]; /**< [G·H, H] */
    tg_tensor *bias_ih[TG_RNN_MAX_LAYERS];   /**< [G·H], or NULL without bias */
    tg_tensor *bias_hh[TG_RNN_MAX_LAYERS];   /**< [G·H], or NULL without bias */
} tg_recurrent;
/** Registers the layers' parameters (opts NULL: tg_rnn_defaults()) and,
   when r is not NULL, draws every one from U(−1/√H, 1/√H) in the order
   above, as PyTorch does. TG_OK or an error (a name taken, a size ≤ 0,
   num_layers outside 1..TG_RNN_MAX_LAYERS, an unknown mode), nothing
   registered then. */
TG_API int tg_recurrent_init(tg_recurrent *l, tg_params *p, const char *name, tg_rnn_mode mode,
                             int64_t input_size, int64_t hidden_size, const tg_rnn_opts *opts,
                             tg_rng *r);
/** The forward of nn.RNN / nn.LSTM / nn.GRU: x [T, N, input_size] ([N, T,
   input_size] with batch_first, or [T, input_size] unbatched) -> the last
   layer's h_1..h_T, [T, N, H] ([N, T, H]; [T, H]). h0 (and the LSTM's c0)
   are [num_layers, N, H] ([num_layers, H] unbatched) or NULL for zeros;
   *h_n (and *c_n, LSTM only) get the final states of every layer, of that
   shape (either pointer may be NULL). Each layer is a tg_linear over the
   whole sequence and a recurrence op (tg_lstm_recurrence...). NULL on
   failure of any part, *h_n and *c_n NULL too, the message on the tape
   (T = 0 is refused, as in PyTorch). */
TG_API tg_tensor *tg_recurrent_forward(tg_tape *t, const tg_recurrent *l, tg_tensor *x,
                                       tg_tensor *h0, tg_tensor *c0, tg_tensor **h_n,
                                       tg_tensor **c_n);

/** A recurrent cell (nn.RNNCell, nn.LSTMCell, nn.GRUCell): "<name>.weight_ih"
   [G·H, input_size], "<name>.weight_hh" [G·H, H] and, with bias,
   "<name>.bias_ih", "<name>.bias_hh" [G·H]. */
typedef struct tg_recurrent_cell {
    tg_rnn_mode mode;    /**< TG_RNN_TANH, TG_RNN_RELU, TG_RNN_LSTM or TG_RNN_GRU */
    int64_t input_size;  /**< features of the input */
    int64_t hidden_size; /**< H */
    tg_tensor *weight_ih; /**< [G·H, input_size] */
    tg_tensor *weight_hh; /**< [G·H, H] */
    tg_tensor *bias_ih;   /**< [G·H], or NULL without bias */
    tg_tensor *bias_hh;   /**< [G·H], or NULL without bias */
} tg_recurrent_cell;
/** Registers the cell's parameters and, when r is not NULL, draws them
   from U(−1/√H, 1/√H) in that order (PyTorch's). TG_OK or an error,
   nothing registered then. */
TG_API int tg_recurrent_cell_init(tg_recurrent_cell *l, tg_params *p, const char *name,
                                  tg_rnn_mode mode, int64_t input_size, int64_t hidden_size,
                                  bool bias, tg_rng *r);
/** One step: x [N, input_size] (or [input_size]), h and c (the LSTM's;
   NULL otherwise) [N, H] or NULL for zeros -> h'; *c_out (may be NULL) gets
   the LSTM's c'. tg_rnn_cell, tg_lstm_cell or tg_gru_cell. */
TG_API tg_tensor *tg_recurrent_cell_forward(tg_tape *t, const tg_recurrent_cell *l, tg_tensor *x,
                                            tg_tensor *h, tg_tensor *c, tg_tensor **c_out);

/** Multi-head attention (nn.MultiheadAttention with kdim = vdim =
   embed_dim, no dropout, no bias_kv or zero_attn): "<name>.in_proj_weight"
   [3E, E], "<name>.in_proj_bias" [3E], "<name>.out_proj.weight" [E, E],
   "<name>.out_proj.bias" [E] (the biases with bias). */
typedef struct tg_multihead_attention {
    tg_tensor *in_proj_weight; /**< [3E, E]: the q, k and v projections stacked */
    tg_tensor *in_proj_bias;   /**< [3E], or NULL without bias */
    tg_linear_layer out_proj;  /**< E -> E */
    int64_t embed_dim;         /**< E */
    int64_t num_heads;         /**< h, dividing E; each head has E/h features */
    bool batch_first;          /**< [N, L, E] instead of [L, N, E] */
} tg_multihead_attention;
/** Registers the parameters in PyTorch's order and, when r is not NULL,
   initialises them as nn.MultiheadAttention does: in_proj_weight Xavier
   uniform (drawn first), out_proj.weight nn.Linear's default, the biases
   0. TG_OK or an error (embed_dim not divisible by num_heads, a name
   taken...), nothing registered then. */
TG_API int tg_multihead_attention_init(tg_multihead_attention *m, tg_params *p,
                                       const char *name, int64_t embed_dim, int64_t num_heads,
                                       bool bias, bool batch_first, tg_rng *r);
/** The masks of tg_multihead_attention_forward (its keyword arguments).
   Zero-initialised: no mask, and a mask given is read as additive. A 0/1
   mask from PyTorch's bool one needs its kind set to TG_MASK_HIDE (True
   hides), or its 1s are added to the scores, with no error; a float one is
   TG_MASK_ADDITIVE, the default. */
typedef struct tg_mha_opts {
    tg_tensor *key_padding_mask;    /**< [N, S] ([S] unbatched), or NULL */
    tg_mask_kind key_padding_kind;  /**< how key_padding_mask is read */
    tg_tensor *attn_mask;           /**< [L, S] or [N·num_heads, L, S], or NULL */
    tg_mask_kind attn_mask_kind;    /**< how attn_mask is read */
    bool is_causal;                 /**< also hide the keys after each query
                                       (tg_causal_mask; PyTorch 2's is_causal) */
} tg_mha_opts;
/** The forward with need_weights=False: query [N, L, E] (batch_first) or
   [L, N, E] (or [L, E] unbatched), key and value [N, S, E] ([S, N, E];
   [S, E]) -> [N, L, E] ([L, N, E]; [L, E]). The three are projected by
   in_proj (one product when query, key and value are the same tensor, as
   in self-attention), split into heads, passed through
   tg_scaled_dot_product_attention with the masks merged into one additive
   mask, joined and projected by out_proj. opts may be NULL. A query whose
   every key is masked gives NaN, as PyTorch. NULL on failure, the message
   on the tape (shapes that do not fit, a mask of the wrong shape, a length
   of 0). */
TG_API tg_tensor *tg_multihead_attention_forward(tg_tape *t, const tg_multihead_attention *m,
                                                 tg_tensor *query, tg_tensor *key,
                                                 tg_tensor *value, const tg_mha_opts *opts);

/* ---- data-parallel training over MPI (docs/training.md)

   Each process takes a shard of every batch, computes its gradients, and
   tg_dp_allreduce_grad sums the gradient block of every process in one
   MPI_Allreduce (in place), each shard's gradient weighted by its share of
   the batch: every process then holds the gradient of the whole batch and
   steps the same way, so the weights stay equal on every process. The MPI
   functions are in the libtapegrad_mpi library (built when CMake finds
   MPI: the target tapegrad::tapegrad_mpi) and declared when <mpi.h> is
   included before <tapegrad.h>. */

/** The shard of n samples that process `rank` of `size` takes: samples
   [*begin, *begin + *count), the shards of every rank tiling [0, n) in
   order, their sizes differing by at most one (from n·rank/size to
   n·(rank+1)/size). TG_OK, or TG_ERR_INVALID for size < 1, rank outside
   [0, size) or n < 0. */
TG_API int tg_dp_shard(int64_t n, int rank, int size, int64_t *begin, int64_t *count);

#if defined(MPI_VERSION) && !defined(TG_NO_MPI_DECLS)
#ifdef TG_DOUBLE
#define tg_dp_allreduce_grad tg_f64_dp_allreduce_grad
#define tg_dp_broadcast_params tg_f64_dp_broadcast_params
#define tg_dp_broadcast_buffers tg_f64_dp_broadcast_buffers
#endif
/** Scales every gradient of p by `scale` (a shard's share of the batch:
   its samples over the batch's, when its loss is a mean over its samples),
   then sums the whole gradient block over comm with one MPI_Allreduce in
   place. A parameter whose gradient was released and not reached by
   backward takes part with zeros, and afterwards has its gradient (the
   sum) on every process, so every process steps every parameter alike.
   TG_OK, or TG_ERR_INVALID / TG_ERR_IO (MPI failed) with tg_last_error. */
TG_API int tg_dp_allreduce_grad(tg_params *p, MPI_Comm comm, double scale);
/** Makes every process's parameters root's (MPI_Bcast of the data block):
   call it once before training. TG_OK or an error as above. */
TG_API int tg_dp_broadcast_params(tg_params *p, MPI_Comm comm, int root);
/** Makes every process's buffers (batch norm's running statistics and
   num_batches_tracked) root's, one MPI_Bcast a buffer: each process's
   running statistics follow its own shard, so without it the processes'
   models drift apart in evaluation mode. Call it after each step, as
   PyTorch's DistributedDataParallel broadcasts rank 0's buffers
   (broadcast_buffers=True); a model without buffers makes no call. TG_OK
   or an error as above. */
TG_API int tg_dp_broadcast_buffers(tg_params *p, MPI_Comm comm, int root);
#endif

#ifdef __cplusplus
}
#endif

#endif /* TAPEGRAD_NN_H */
