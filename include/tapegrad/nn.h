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
   failure, the message on the tape (T = 0 is refused, as in PyTorch). */
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
   Zero-initialised: no mask. A 0/1 mask from PyTorch's bool one is
   TG_MASK_HIDE there (True hides); a float one TG_MASK_ADDITIVE. */
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

#ifdef __cplusplus
}
#endif

#endif /* TAPEGRAD_NN_H */
