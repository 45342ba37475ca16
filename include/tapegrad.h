/* tapegrad — a tiny reverse-mode automatic differentiation engine in C.
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
 * Conventions
 * - tg_real is float, or double when TG_DOUBLE is defined (target tapegrad_f64).
 * - Tensors are contiguous and row-major. Tensors made on a tape (inputs, op
 *   results) are owned by the tape and live until tg_tape_reset/tg_tape_free.
 *   Parameters are owned by a tg_params and live until tg_params_free.
 * - Every op returns NULL on failure and records a message on the tape that
 *   names the op and the shapes; an op given NULL returns NULL, so checking the
 *   final result is enough. Nothing here calls exit, abort or assert on input.
 * - Functions that are not ops return a tg_status (TG_OK is 0) or NULL, and
 *   explain failures through tg_last_error().
 */
#ifndef TAPEGRAD_H
#define TAPEGRAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TG_VERSION_MAJOR 0
#define TG_VERSION_MINOR 1
#define TG_VERSION_PATCH 0

#if defined(TG_BUILDING)
#define TG_API __attribute__((visibility("default")))
#else
#define TG_API
#endif

#ifdef TG_DOUBLE
typedef double tg_real;
#else
typedef float tg_real;
#endif

/* "0.1.0"; also says which precision this library was built with. */
TG_API const char *tg_version(void);
/* "float" or "double": the tg_real of the library actually linked. */
TG_API const char *tg_real_name(void);

/* ------------------------------------------------------------------ errors */

typedef enum tg_status {
    TG_OK = 0,
    TG_ERR_INVALID = -1,  /* a bad argument (NULL, bad axis, bad option) */
    TG_ERR_SHAPE = -2,    /* shapes that do not fit together */
    TG_ERR_NOMEM = -3,    /* an allocation failed */
    TG_ERR_IO = -4,       /* a file could not be opened, read or written */
    TG_ERR_FORMAT = -5,   /* a file is truncated, corrupt or of the wrong kind */
    TG_ERR_STATE = -6,    /* a call at the wrong time (e.g. backward twice on a reset tape) */
    TG_ERR_NUMERIC = -7   /* anomaly mode found a NaN or Inf */
} tg_status;

/* A short constant description of a status ("shape mismatch", ...). */
TG_API const char *tg_status_str(int status);
/* The message of the last failing non-op call in this thread ("" if none). */
TG_API const char *tg_last_error(void);

/* ----------------------------------------------------------------- tensors */

#define TG_MAX_DIMS 8

/* TG_SHAPE(64, 784) expands to the two arguments `ndim, dims`:
   tg_zeros(t, TG_SHAPE(64, 784)) is tg_zeros(t, 2, (const int64_t[]){64, 784}).
   It is a C99 compound literal (so is TG_CE_OPTS_DEFAULT): from C++ it builds
   only as a GCC/Clang extension; pass ndim and an array there instead. */
#define TG_SHAPE(...)                                                        \
    (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),         \
        (const int64_t[]) { __VA_ARGS__ }

/* Tensor flags. Bits 16 and up are the library's own (set and cleared by
   backward while it runs): leave them alone. */
enum {
    TG_REQUIRES_GRAD = 1u << 0, /* gradients flow into this tensor */
    TG_PARAM = 1u << 1,         /* owned by a tg_params */
    TG_CONST = 1u << 2          /* made by tg_detach or as a constant */
};

typedef struct tg_tape tg_tape;

/* A tensor's metadata is public and may be read freely. Change `data` values
   only on leaves you made (inputs, parameters), never on op results that a
   later backward still needs. */
typedef struct tg_tensor {
    int ndim;                     /* 0 for a scalar */
    int64_t shape[TG_MAX_DIMS];   /* shape[0..ndim-1] */
    int64_t size;                 /* product of the shape (1 for a scalar) */
    tg_real *data;                /* [size], row-major */
    tg_real *grad;                /* [size], or NULL until a gradient exists */
    unsigned flags;               /* TG_REQUIRES_GRAD | TG_PARAM | TG_CONST */
    const char *name;             /* parameter name or a label, may be NULL */
    /* bookkeeping, read-only for users */
    tg_tape *tape;                /* the tape that owns it, NULL for parameters */
    int32_t id;                   /* number on its tape (or in its tg_params) */
    int32_t rec;                  /* index of the record that made it, -1 for a leaf */
} tg_tensor;

/* New tensors on the tape, owned by it. `data` is copied. NULL on failure
   (the message is on the tape). */
TG_API tg_tensor *tg_tensor_new(tg_tape *t, int ndim, const int64_t *shape,
                                const tg_real *data);
/* A leaf over `data` itself, not a copy (like torch.from_numpy): for an
   input the caller already holds, such as a batch of tg_dataset_next, it
   saves tg_tensor_new's copy. No op, backward or gradcheck writes to it
   (only an initialiser you call on it would); keep it unchanged and alive
   until the tape is reset or freed. It can require a gradient like any
   leaf (the gradient lives on the tape). */
TG_API tg_tensor *tg_tensor_wrap(tg_tape *t, int ndim, const int64_t *shape,
                                 const tg_real *data);
TG_API tg_tensor *tg_zeros(tg_tape *t, int ndim, const int64_t *shape);
TG_API tg_tensor *tg_ones(tg_tape *t, int ndim, const int64_t *shape);
TG_API tg_tensor *tg_full(tg_tape *t, int ndim, const int64_t *shape, tg_real value);
TG_API tg_tensor *tg_scalar(tg_tape *t, tg_real value); /* ndim 0 */

/* Marks a leaf so that backward fills its `grad` (like requires_grad_()).
   Returns x. Its gradient accumulates over backward calls until zeroed. */
TG_API tg_tensor *tg_requires_grad(tg_tensor *x, bool on);
/* A tensor with x's data and shape that is cut from the graph: no gradient
   flows through it (like torch.Tensor.detach()). The data is shared. */
TG_API tg_tensor *tg_detach(tg_tape *t, tg_tensor *x);
/* Attaches a label (copied onto the tape) shown by the tape printers. */
TG_API tg_tensor *tg_tensor_set_name(tg_tensor *x, const char *name);
/* Sets x->grad to zero (if it has one). */
TG_API void tg_zero_grad(tg_tensor *x);

/* Writes "shape [2,3]\n[[1, 2, 3],\n [4, 5, 6]]\n"; large tensors are
   abbreviated with "..." as PyTorch does. `f` may be stdout. */
TG_API void tg_tensor_print(const tg_tensor *x, FILE *f);
/* Writes the shape as "[64,784]" into buf (always NUL-terminated). Returns buf. */
TG_API char *tg_shape_str(const tg_tensor *x, char *buf, size_t len);
/* True when a and b have the same shape. */
TG_API bool tg_same_shape(const tg_tensor *a, const tg_tensor *b);

/* -------------------------------------------------------------------- tape */

/* An empty tape; NULL if out of memory. */
TG_API tg_tape *tg_tape_new(void);
/* Frees the tape and everything on it. Accepts NULL. */
TG_API void tg_tape_free(tg_tape *t);
/* Forgets every record and tensor in O(1) and clears the error; keeps the
   memory, so a loop of steps of the same shapes allocates nothing after the
   first. Tensors made on the tape are invalid afterwards. */
TG_API void tg_tape_reset(tg_tape *t);

/* Turns recording on or off (like torch.no_grad()); returns the previous
   setting. With recording off, ops compute values but record nothing and
   their results need no gradient. */
TG_API bool tg_tape_set_recording(tg_tape *t, bool on);
TG_API bool tg_tape_is_recording(const tg_tape *t);

/* Anomaly mode (like torch.autograd.set_detect_anomaly): when on, the first
   record whose forward output or backward gradient holds a NaN or Inf fails
   with a tape error naming the op, the record and the tensor. Returns the
   previous setting. Off by default: it costs a pass over every result. */
TG_API bool tg_tape_set_anomaly(tg_tape *t, bool on);

/* The first error recorded since the last reset, "" if none. */
TG_API const char *tg_tape_error(const tg_tape *t);
/* True once an op on this tape has failed (until reset or clear). */
TG_API bool tg_tape_failed(const tg_tape *t);
TG_API void tg_tape_clear_error(tg_tape *t);

/* Back-propagates from a scalar (size 1) `loss`: seeds d(loss)=1 and walks
   the records in reverse. Gradients accumulate (+=) into every leaf that
   requires grad and every parameter; gradients of intermediate results are
   recomputed from zero on every call. Returns TG_OK or an error status with
   the message on the tape. */
TG_API int tg_backward(tg_tape *t, tg_tensor *loss);
/* The same for any output: `dout` (out->size values) is d(something)/d(out),
   as in torch.autograd.backward(out, dout). */
TG_API int tg_backward_grad(tg_tape *t, tg_tensor *out, const tg_real *dout);

/* Memory of a tape, for checking that a training loop allocates nothing per
   step: heap_allocs counts every malloc/realloc the tape ever made. */
typedef struct tg_tape_stats {
    size_t records;         /* records since the last reset */
    size_t tensors;         /* tensors since the last reset */
    size_t arena_used;      /* bytes in use in the arena */
    size_t arena_reserved;  /* bytes the arena holds */
    size_t arena_chunks;    /* chunks the arena holds */
    size_t heap_allocs;     /* malloc/realloc calls made by the tape so far */
} tg_tape_stats;
TG_API tg_tape_stats tg_tape_get_stats(const tg_tape *t);

/* Scratch memory from the tape's arena, 64-byte aligned, valid until the next
   reset (for custom ops and for users' per-step buffers). NULL if out of memory. */
TG_API void *tg_tape_alloc(tg_tape *t, size_t bytes);

/* ------------------------------------------------------------------ params */

typedef struct tg_params tg_params;

/* A named registry of parameters whose data, and whose gradients, each lie in
   one contiguous block. NULL if out of memory. */
TG_API tg_params *tg_params_new(void);
/* Frees the registry and all its tensors. Accepts NULL. */
TG_API void tg_params_free(tg_params *p);
/* Adds a zero-filled parameter that requires grad; the name is copied.
   NULL (tg_last_error says why) if the name exists or memory runs out.
   The tensor pointer stays valid for the life of p; its data/grad pointers
   may move while more parameters are added, so read them after adding.
   The blocks grow by doubling (like a std::vector), so adding n parameters
   copies each value O(1) times on average, not n times; the unused tail of
   a block is never written. */
TG_API tg_tensor *tg_params_add(tg_params *p, const char *name, int ndim,
                                const int64_t *shape);
/* The parameter called `name`, or NULL. */
TG_API tg_tensor *tg_params_get(const tg_params *p, const char *name);
/* Parameters in the order they were added: i in [0, tg_params_count). */
TG_API size_t tg_params_count(const tg_params *p);
TG_API tg_tensor *tg_params_at(const tg_params *p, size_t i);
/* Total number of scalars, and the contiguous blocks (length numel, but
   parameters are padded to 64-byte boundaries: use tg_params_block_len). */
TG_API int64_t tg_params_numel(const tg_params *p);
TG_API size_t tg_params_block_len(const tg_params *p);
TG_API tg_real *tg_params_data(tg_params *p);
TG_API tg_real *tg_params_grad(tg_params *p);
/* Sets every gradient to zero: one memset (a released gradient comes back,
   as zeros). */
TG_API void tg_params_zero_grad(tg_params *p);
/* Releases every gradient: each parameter's grad becomes NULL, as after
   PyTorch's zero_grad() (set_to_none=True). The next backward writes each
   gradient it reaches instead of adding to zeros, so nothing sweeps the
   memory and the products of linear layers read no old gradient. A
   parameter that backward does not reach keeps grad NULL, and the
   optimizers skip it. The memory stays in the registry (tg_params_grad
   then holds stale values there): releasing and getting a gradient back
   allocate nothing. */
TG_API void tg_params_release_grad(tg_params *p);

/* ------------------------------------------------------------------- ops */

#define TG_ALL 0x7fffffff /* reduce over every axis */

/* Element-wise, with NumPy broadcasting ([N,M] + [M], [N,1] * [1,M], ...). */
TG_API tg_tensor *tg_add(tg_tape *t, tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_sub(tg_tape *t, tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_mul(tg_tape *t, tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_div(tg_tape *t, tg_tensor *a, tg_tensor *b);
/* Element-wise, same shape as x. */
TG_API tg_tensor *tg_neg(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_scale(tg_tape *t, tg_tensor *x, tg_real s);      /* s·x */
TG_API tg_tensor *tg_add_scalar(tg_tape *t, tg_tensor *x, tg_real s); /* x + s */
TG_API tg_tensor *tg_pow(tg_tape *t, tg_tensor *x, tg_real p);        /* xᵖ (torch.pow(x, p)) */
TG_API tg_tensor *tg_exp(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_log(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_sqrt(tg_tape *t, tg_tensor *x);
TG_API tg_tensor *tg_abs(tg_tape *t, tg_tensor *x);    /* d/dx = sign(x), 0 at 0 */
TG_API tg_tensor *tg_square(tg_tape *t, tg_tensor *x);

/* Matrix product: [M,K] @ [K,N] -> [M,N]; batched [B,M,K] @ [B,K,N] -> [B,M,N];
   [B,M,K] @ [K,N] -> [B,M,N] (the matrix is shared by the batch). */
TG_API tg_tensor *tg_matmul(tg_tape *t, tg_tensor *a, tg_tensor *b);
/* Swaps two axes (torch.transpose); negative axes count from the end. */
TG_API tg_tensor *tg_transpose(tg_tape *t, tg_tensor *x, int dim0, int dim1);
/* x @ Wᵀ + b as torch.nn.functional.linear: x [..., in], W [out, in],
   b [out] or NULL -> [..., out]. */
TG_API tg_tensor *tg_linear(tg_tape *t, tg_tensor *x, tg_tensor *W, tg_tensor *b);

/* Same data, new shape; one dimension may be -1 (inferred). */
TG_API tg_tensor *tg_reshape(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape);
/* [N, d1, d2, ...] -> [N, d1·d2·...] (torch.flatten(x, 1)); a 1-D x stays 1-D. */
TG_API tg_tensor *tg_flatten(tg_tape *t, tg_tensor *x);

/* Reductions over one axis (negative counts from the end) or TG_ALL;
   keepdim keeps the reduced axis with size 1. */
TG_API tg_tensor *tg_sum(tg_tape *t, tg_tensor *x, int axis, bool keepdim);
TG_API tg_tensor *tg_mean(tg_tape *t, tg_tensor *x, int axis, bool keepdim);
/* The maximum; its gradient goes to the first position that attains it
   (like torch.max(x, dim)); over TG_ALL ties share the gradient equally
   (like torch.amax / torch.max(x)). */
TG_API tg_tensor *tg_max(tg_tape *t, tg_tensor *x, int axis, bool keepdim);

/* How a loss reduces its per-element values (PyTorch's `reduction`). */
typedef enum tg_reduction {
    TG_REDUCE_MEAN = 0, /* the default in PyTorch */
    TG_REDUCE_SUM = 1,
    TG_REDUCE_NONE = 2
} tg_reduction;

/* Which matrix-product path the library uses: "builtin" (the cache-blocked
   kernel) or "cblas" (OpenBLAS, the default when the build found it). The
   environment variable TG_GEMM=builtin|cblas sets the starting choice.
   tg_gemm_set_backend returns TG_OK, or an error if that path is not built.
   The built-in kernel packs into a 224 KiB buffer per thread, allocated on
   that thread's first product and freed when the thread ends, so that it
   runs on threads with small stacks (it falls back to the stack only if
   that allocation fails). */
TG_API const char *tg_gemm_backend(void);
TG_API int tg_gemm_set_backend(const char *name);

/* SECTION threads (issue 6) */
/* Threads used by the library's own kernels: the built-in GEMM splits each
   large product between them (the cblas path keeps OpenBLAS's own setting,
   OPENBLAS_NUM_THREADS). 1 by default, or the environment variable
   TG_NUM_THREADS. n in [1, 64]; returns TG_OK or TG_ERR_INVALID. Worker
   threads start on first use and are kept for the life of the process. */
TG_API int tg_set_num_threads(int n);
TG_API int tg_get_num_threads(void);
/* The built-in GEMM kernel chosen for this CPU at run time: "avx512",
   "avx2" or "portable" (one binary runs on any x86-64). */
TG_API const char *tg_gemm_kernel_name(void);
/* END SECTION threads */

/* SECTION activations (issue 3) */

/* Activation functions. Each takes x of any shape and returns a new tensor of
   the same shape (owned by the tape), or NULL on failure (the message is on
   the tape). Forward passes are numerically stable for any input; at a kink
   the gradient is PyTorch's choice (docs/ops.md lists every formula, its
   derivative, the kink values and the PyTorch equivalent). Where PyTorch's
   own result is NaN or Inf (e.g. silu(-inf), softsign(±inf)) tapegrad gives
   the same value. The macros below are PyTorch's defaults. */
#define TG_LEAKY_RELU_SLOPE 0.01       /* F.leaky_relu negative_slope */
#define TG_ELU_ALPHA 1.0               /* F.elu alpha */
#define TG_CELU_ALPHA 1.0              /* F.celu alpha */
#define TG_SELU_ALPHA 1.6732632423543772848170429916717   /* fixed by selu */
#define TG_SELU_SCALE 1.0507009873554804934193349852946   /* fixed by selu */
#define TG_SOFTPLUS_BETA 1.0           /* F.softplus beta */
#define TG_SOFTPLUS_THRESHOLD 20.0     /* F.softplus threshold */
#define TG_HARDTANH_MIN (-1.0)         /* F.hardtanh min_val */
#define TG_HARDTANH_MAX 1.0            /* F.hardtanh max_val */
#define TG_PRELU_INIT 0.25             /* nn.PReLU's initial weight */

/* 1/(1+e⁻ˣ), computed on the side of the sign that cannot overflow. */
TG_API tg_tensor *tg_sigmoid(tg_tape *t, tg_tensor *x);
/* tanh(x). */
TG_API tg_tensor *tg_tanh(tg_tape *t, tg_tensor *x);
/* max(x, 0); gradient 0 at x = 0. */
TG_API tg_tensor *tg_relu(tg_tape *t, tg_tensor *x);
/* min(max(x, 0), 6); gradient 0 at x = 0 and x = 6. */
TG_API tg_tensor *tg_relu6(tg_tape *t, tg_tensor *x);
/* x if x > 0 else negative_slope·x (default TG_LEAKY_RELU_SLOPE = 0.01);
   gradient negative_slope at x = 0. */
TG_API tg_tensor *tg_leaky_relu(tg_tape *t, tg_tensor *x, tg_real negative_slope);
/* x if x > 0 else alpha·(eˣ − 1) (default TG_ELU_ALPHA = 1); gradient alpha at 0. */
TG_API tg_tensor *tg_elu(tg_tape *t, tg_tensor *x, tg_real alpha);
/* TG_SELU_SCALE · elu(x, TG_SELU_ALPHA). */
TG_API tg_tensor *tg_selu(tg_tape *t, tg_tensor *x);
/* x if x > 0 else alpha·(e^(x/alpha) − 1) (default TG_CELU_ALPHA = 1);
   alpha 0 is refused. */
TG_API tg_tensor *tg_celu(tg_tape *t, tg_tensor *x, tg_real alpha);
/* log(1 + e^(beta·x))/beta, and x itself where beta·x > threshold (defaults
   TG_SOFTPLUS_BETA = 1, TG_SOFTPLUS_THRESHOLD = 20); beta 0 is refused. */
TG_API tg_tensor *tg_softplus(tg_tape *t, tg_tensor *x, tg_real beta, tg_real threshold);
/* x / (1 + |x|). */
TG_API tg_tensor *tg_softsign(tg_tape *t, tg_tensor *x);

/* Which form of GELU (F.gelu's `approximate`). */
typedef enum tg_gelu_approx {
    TG_GELU_NONE = 0, /* exact: x·Φ(x) = x·(1 + erf(x/√2))/2 (the default) */
    TG_GELU_TANH = 1  /* x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))/2 */
} tg_gelu_approx;
/* GELU in the chosen form (F.gelu(x, approximate=...)); an approx other than
   TG_GELU_NONE / TG_GELU_TANH is refused. */
TG_API tg_tensor *tg_gelu(tg_tape *t, tg_tensor *x, tg_gelu_approx approx);
/* x·sigmoid(x) (also called swish). */
TG_API tg_tensor *tg_silu(tg_tape *t, tg_tensor *x);
/* x·tanh(softplus(x)). */
TG_API tg_tensor *tg_mish(tg_tape *t, tg_tensor *x);
/* min(max(x, min_val), max_val) (defaults TG_HARDTANH_MIN/MAX = -1, 1);
   gradient 0 at both ends; min_val > max_val is refused. */
TG_API tg_tensor *tg_hardtanh(tg_tape *t, tg_tensor *x, tg_real min_val, tg_real max_val);
/* relu6(x + 3)/6; gradient 0 at x = ±3. */
TG_API tg_tensor *tg_hardsigmoid(tg_tape *t, tg_tensor *x);
/* x·relu6(x + 3)/6; gradient −0.5 at x = −3 and 1.5 at x = 3 (PyTorch's). */
TG_API tg_tensor *tg_hardswish(tg_tape *t, tg_tensor *x);
/* log(sigmoid(x)) = −softplus(−x), stable for any x. */
TG_API tg_tensor *tg_logsigmoid(tg_tape *t, tg_tensor *x);
/* x if x > 0 else w·x, with a learnable w (usually a parameter, initialised
   to TG_PRELU_INIT = 0.25 as nn.PReLU does): w has 1 element, or one per
   channel along dimension 1 of x (x [N, C, ...], w [C]). The gradient flows
   to x and to w; at x = 0 the x-gradient is w. NULL if w's size fits neither. */
TG_API tg_tensor *tg_prelu(tg_tape *t, tg_tensor *x, tg_tensor *w);
/* exp(x − max) / Σ exp(x − max) along `axis` (negative counts from the end). */
TG_API tg_tensor *tg_softmax(tg_tape *t, tg_tensor *x, int axis);
/* x − max − log Σ exp(x − max) along `axis`: finite for any finite x. */
TG_API tg_tensor *tg_log_softmax(tg_tape *t, tg_tensor *x, int axis);
/* END SECTION activations */

/* SECTION losses (issue 3) */

/* Losses, as torch.nn.functional's. Each returns a scalar (ndim 0) for
   TG_REDUCE_MEAN (PyTorch's default) and TG_REDUCE_SUM, or the per-element
   losses for TG_REDUCE_NONE. The mean of no elements is NaN, as in PyTorch.
   NULL on failure (shapes that differ, a bad option, a class index out of
   range): the message on the tape names the op. Gradients flow to `input`
   and, where it requires grad, to a floating `target`. */
#define TG_SMOOTH_L1_BETA 1.0  /* F.smooth_l1_loss beta */
#define TG_HUBER_DELTA 1.0     /* F.huber_loss delta */
#define TG_IGNORE_INDEX (-100) /* F.cross_entropy / F.nll_loss ignore_index */

/* (input − target)²; input and target have the same shape. */
TG_API tg_tensor *tg_mse_loss(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_reduction red);
/* |input − target| (mean absolute error); gradient 0 where they are equal. */
TG_API tg_tensor *tg_l1_loss(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_reduction red);
/* With d = input − target: 0.5·d²/beta if |d| < beta, else |d| − 0.5·beta
   (default TG_SMOOTH_L1_BETA = 1; beta 0 is the l1 loss; beta < 0 refused). */
TG_API tg_tensor *tg_smooth_l1_loss(tg_tape *t, tg_tensor *input, tg_tensor *target,
                                    tg_real beta, tg_reduction red);
/* 0.5·d² if |d| < delta, else delta·(|d| − 0.5·delta) (default
   TG_HUBER_DELTA = 1; delta ≤ 0 refused). */
TG_API tg_tensor *tg_huber_loss(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_real delta,
                                tg_reduction red);
/* Binary cross entropy on probabilities p in [0, 1] (anything else, NaN
   included, is refused as PyTorch does): −(y·log p + (1 − y)·log(1 − p)) with
   each log clamped at −100, so p = 0 or 1 gives a finite loss. */
TG_API tg_tensor *tg_bce_loss(tg_tape *t, tg_tensor *prob, tg_tensor *target, tg_reduction red);
/* Binary cross entropy on logits x, stable for any x:
   (1 − y)·x + w·(max(−x, 0) + log(1 + e^−|x|)) with w = 1 + (pos_weight − 1)·y,
   i.e. max(x, 0) − x·y + log(1 + e^−|x|) without pos_weight. pos_weight may be
   NULL, or broadcast to the logits' shape (e.g. [C] for logits [N, C]); if it
   requires grad it receives one too (PyTorch refuses that case). */
TG_API tg_tensor *tg_bce_with_logits(tg_tape *t, tg_tensor *logits, tg_tensor *target,
                                     tg_tensor *pos_weight, tg_reduction red);

/* Options of the class-index losses (F.cross_entropy's keyword arguments).
   TG_CE_OPTS_DEFAULT is PyTorch's default; passing NULL means the same. */
typedef struct tg_ce_opts {
    tg_reduction reduction;  /* TG_REDUCE_MEAN */
    int64_t ignore_index;    /* TG_IGNORE_INDEX (-100): targets equal to it add
                                nothing and are not counted by the mean */
    double label_smoothing;  /* 0; in [0, 1]: the target becomes
                                (1 − ε)·onehot + ε/C. Not for nll (must be 0) */
    const tg_tensor *weight; /* NULL; or [C] class weights (PyTorch's `weight`):
                                class c's terms are multiplied by w_c, and with
                                index targets the mean divides by the sum of the
                                targets' weights instead of their number (with
                                probability targets, by the number of samples).
                                Read when the op runs; it gets no gradient. */
} tg_ce_opts;
#define TG_CE_OPTS_DEFAULT ((tg_ce_opts){TG_REDUCE_MEAN, TG_IGNORE_INDEX, 0.0, NULL})

/* Cross entropy on logits with class indices, fused with log_softmax in one
   stable pass (any logit size): −log softmax(x)[target]. logits [N, C] with
   target[N], or [N, C, d1, ...] with target[N·d1·...] (the classes along
   dimension 1, as PyTorch), or [C] with one target. Every target must be in
   [0, C) or be ignore_index: otherwise NULL, and the message names the index
   and C. `target` is copied onto the tape: the caller may reuse it at once. */
TG_API tg_tensor *tg_cross_entropy(tg_tape *t, tg_tensor *logits, const int64_t *target,
                                   tg_reduction red);
/* The same with every option (opts NULL: TG_CE_OPTS_DEFAULT). */
TG_API tg_tensor *tg_cross_entropy_ex(tg_tape *t, tg_tensor *logits, const int64_t *target,
                                      const tg_ce_opts *opts);
/* Cross entropy with probability targets of the logits' shape (one-hot is a
   special case): −Σ_c y'_c·log softmax(x)_c over dimension 1, with
   y' = (1 − ε)·y + ε/C. The mean divides by the number of samples (N·d1·...).
   ignore_index does not apply. The gradient reaches target if it requires grad. */
TG_API tg_tensor *tg_cross_entropy_prob(tg_tape *t, tg_tensor *logits, tg_tensor *target,
                                        const tg_ce_opts *opts);
/* Negative log-likelihood on log-probabilities (e.g. tg_log_softmax(t, x, 1)):
   −logp[target]; shapes and target rules as tg_cross_entropy; opts may be
   NULL; label_smoothing must be 0. */
TG_API tg_tensor *tg_nll_loss(tg_tape *t, tg_tensor *logp, const int64_t *target,
                              const tg_ce_opts *opts);
/* END SECTION losses */

/* ------------------------------------------------------------ custom ops */

typedef struct tg_op tg_op;

#define TG_MAX_INPUTS 4

/* One entry of the tape: op(inputs, attributes) -> output. */
typedef struct tg_record {
    const tg_op *op;
    int n_in;
    tg_tensor *in[TG_MAX_INPUTS];
    tg_tensor *out;
    const void *attr;   /* a copy of the op's attributes (attr_size bytes) */
    void *saved;        /* whatever the forward saved for backward, or NULL */
    tg_tape *tape;
    int32_t index;      /* position on the tape */
} tg_record;

/* Op flags. Bits 16 and up are reserved for the library's built-in ops: an
   op of yours must leave them 0 (tg_op_register refuses it otherwise, and so
   does tg_apply, naming the bits, for an op passed to it straight). */
enum {
    TG_OP_ALIAS = 1u << 0 /* output shares input 0's data (reshape, views) */
};

/* An operation as data. Built-in ops and user-defined ones are the same
   thing and go through tg_apply().
   - shape:    checks the inputs, writes the output's ndim/shape; on a
               mismatch writes a message (without the op name) into msg and
               returns a tg_status.
   - forward:  fills r->out->data from r->in[i]->data; may save buffers for
               backward with tg_record_save(). Returns TG_OK or a status.
   - backward: reads r->out->grad and ADDS into r->in[i]->grad for every
               input whose grad is not NULL (NULL: that input needs none).
               A gradient new in this backward (a released parameter's, or
               one made on the tape) holds zeros when the rule runs. */
struct tg_op {
    const char *name;
    int n_inputs;          /* 1..TG_MAX_INPUTS; an optional input may be NULL */
    size_t attr_size;      /* bytes of the attribute struct, 0 for none */
    unsigned flags;        /* TG_OP_ALIAS */
    int (*shape)(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS],
                 char *msg, size_t msg_len);
    int (*forward)(tg_record *r);
    void (*backward)(tg_record *r);
    const char *doc;       /* one line: the formula, for listings */
};

/* Runs `op` on the inputs (n of them, some may be NULL when the op allows it)
   with attributes `attr` (op->attr_size bytes, copied; NULL is refused when
   attr_size > 0), records it when recording is on and an input requires
   grad, and returns the output. NULL on failure (the message is on t).
   Built-in ops found with tg_op_find take private attribute structs: call
   them through their tg_<op> functions. */
TG_API tg_tensor *tg_apply(tg_tape *t, const tg_op *op, tg_tensor *const *in, int n,
                           const void *attr);
/* Memory for a forward pass to keep for backward; freed at reset. */
TG_API void *tg_record_save(tg_record *r, size_t bytes);

/* SECTION registry (issue 4) */
/* The op registry: every op by name, built-in and user-defined alike.
   A custom op is a tg_op filled by the user (name, n_inputs, attr_size,
   shape, forward, backward, doc) and run with tg_apply, exactly as the
   built-ins run; registering it makes it findable by name and listed with
   them. docs/gradcheck.md has a worked example (swish with a learnable β).
   All functions are thread-safe; the built-ins are registered on first use. */

/* Registers a copy of *op (its name and doc strings are copied too). The
   name must be 1..63 characters without spaces and unique: a duplicate
   (including a built-in's name) is refused with TG_ERR_INVALID and a
   message in tg_last_error(). Also refused: n_inputs outside
   1..TG_MAX_INPUTS, no shape or forward function. backward may be NULL
   (the op is then never recorded). Returns TG_OK or an error status. */
TG_API int tg_op_register(const tg_op *op);
/* Removes a user op from the registry (built-ins are refused). Its copy
   stays valid until the process ends, so tapes that recorded it are safe.
   Returns TG_OK, or TG_ERR_INVALID if no user op has that name. */
TG_API int tg_op_unregister(const char *name);
/* The op registered under `name` ("relu", "matmul", your "swish"), or NULL.
   For a user op this is the registry's copy; pass it to tg_apply. */
TG_API const tg_op *tg_op_find(const char *name);
/* All ops in registration order (built-ins first): i in [0, tg_op_count()).
   tg_op_at returns NULL past the end. */
TG_API size_t tg_op_count(void);
TG_API const tg_op *tg_op_at(size_t i);
/* True for the library's own ops, false for registered user ops. */
TG_API bool tg_op_is_builtin(const tg_op *op);
/* END SECTION registry */

/* SECTION gradcheck (issue 4) */

/* Builds an output from the inputs on tape t (the inputs are copies that
   tg_gradcheck owns and perturbs: build only from them, not from other
   tensors that need a gradient). Returns NULL on failure. */
typedef tg_tensor *(*tg_gradcheck_fn)(tg_tape *t, tg_tensor *const *inputs, int n_inputs,
                                      void *ctx);

/* How the check works (docs/gradcheck.md says more):
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
    double eps;      /* central-difference step, scaled by max(1, |x|) */
    double atol;     /* |analytical − numerical| ≤ atol + rtol·|numerical| */
    double rtol;
    FILE *report;    /* where to print a report, or NULL for none */
    uint64_t seed;   /* for the random projections */
    int projections; /* 0: full Jacobian (default); k > 0: k random projections */
} tg_gradcheck_opts;

/* The defaults. Double build: PyTorch's gradcheck (eps 1e-6, atol 1e-5,
   rtol 1e-3). Float build: eps 1e-3, atol 1e-2, rtol 1e-2. Why: a central
   difference errs by about h²·|f‴|/6 (truncation) plus u·|f|/h (rounding
   of f, u = 6e-8 in float). With h = 1e-6 the rounding term would be
   ~0.06·|f| in float; with h = 1e-3 it is ~6e-5·|f| (a few 1e-4 when f sums
   many terms) and truncation ~2e-7·|f‴|, so a correct gradient lands well
   inside 1e-2 while a wrong one (a sign, a missing factor, a lost term) is
   off by O(1). */
TG_API tg_gradcheck_opts tg_gradcheck_defaults(void);

typedef struct tg_gradcheck_result {
    int status;           /* TG_OK when the check could be run */
    bool ok;              /* every compared entry within tolerance */
    int64_t checked;      /* number of input elements checked */
    int64_t failed;       /* how many of them had an entry outside tolerance */
    int worst_input;      /* the entry with the largest error/tolerance: which input, */
    int64_t worst_index;  /* its flat index in that input, */
    int64_t worst_output; /* the output element (Jacobian row), or −1−p for projection p, */
    double analytical;    /* tg_backward's value, */
    double numerical;     /* the finite difference, */
    double abs_err, rel_err; /* |a − n| and |a − n|/|n| (inf when n = 0 ≠ a) */
    char message[256];    /* a one-line verdict or the reason it could not run */
} tg_gradcheck_result;

/* Compares every analytical input gradient of fn with central finite
   differences. inputs: tensors whose data are the point of evaluation
   (copied; on any tape or parameters; an entry may be NULL and is passed
   as NULL); only inputs with TG_REQUIRES_GRAD (parameters have it) are
   checked. opts may be NULL for the defaults. Never aborts; allocates only
   temporarily (its own tape and buffers, freed before it returns). If it
   cannot run (NULL fn, fn fails, no input requires grad, out of memory),
   status is an error, ok is false, and message and tg_last_error() say why. */
TG_API tg_gradcheck_result tg_gradcheck(tg_gradcheck_fn fn, void *ctx, tg_tensor *const *inputs,
                                        int n_inputs, const tg_gradcheck_opts *opts);
/* END SECTION gradcheck */

/* SECTION introspection (issue 4) */
/* Seeing the tape (docs/teaching.md). Records are numbered from 0 in the
   order the forward pass ran them; backward walks them in reverse. */

/* The number of records since the last reset, and record i (NULL when i
   is out of range). The record and its tensors are owned by the tape and
   valid until the next reset; read them, do not change them. */
TG_API size_t tg_tape_record_count(const tg_tape *t);
TG_API const tg_record *tg_tape_record(const tg_tape *t, size_t i);

/* Writes the tape as text, one record per block: its index, op, output
   (name or tN, shape, the value when it has one element) and each input
   (name, shape, and param / input / const / "from #k"); after a backward,
   the L2 norm of every gradient present. Returns TG_OK, or TG_ERR_INVALID
   (NULL argument) / TG_ERR_IO with tg_last_error(). */
TG_API int tg_tape_print(const tg_tape *t, FILE *f);

/* Writes the recorded graph in Graphviz DOT: op nodes (ellipses, "#k op")
   and tensor nodes (boxes with name, shape, a value summary and, after
   backward, a gradient summary). Parameters are orange, inputs that require
   grad blue, constants grey and dashed, final outputs double-bordered; a
   legend is included. Render with `dot -Tsvg tape.dot -o tape.svg`.
   Returns TG_OK or an error status (NULL argument, out of memory, write
   error) with tg_last_error(). */
TG_API int tg_tape_dot(const tg_tape *t, FILE *f);
/* END SECTION introspection */

/* SECTION nn (issue 5) */

/* A seeded, portable random number generator: xoshiro256** seeded through
   splitmix64. The same seed gives the same numbers on every machine and in
   both builds (everything is computed in integers and double; the normal
   draws use a logarithm carried by tapegrad, not libm's). The struct is
   public so that it can live on the stack; treat its fields as private.
   Not thread-safe: use one tg_rng per thread. */
typedef struct tg_rng {
    uint64_t s[4];  /* xoshiro256** state */
    double spare;   /* the second value of the last normal pair */
    int has_spare;
} tg_rng;

/* (Re)starts the stream from `seed` (any value, 0 included). */
TG_API void tg_rng_seed(tg_rng *r, uint64_t seed);
/* The next 64 random bits. */
TG_API uint64_t tg_rng_next_u64(tg_rng *r);
/* A double uniform in [0, 1) with 53 random bits. */
TG_API double tg_rng_uniform(tg_rng *r);
/* An unbiased integer in [0, n) (0 when n is 0). */
TG_API uint64_t tg_rng_below(tg_rng *r, uint64_t n);
/* A standard normal N(0, 1) draw (Marsaglia's polar method; values come in
   pairs, the second is kept in the struct for the next call). */
TG_API double tg_rng_normal(tg_rng *r);
/* Shuffles idx[0..n) in place (Fisher–Yates, every permutation equally
   likely). To get a random permutation, fill idx with 0..n-1 first. */
TG_API void tg_rng_shuffle(tg_rng *r, int64_t *idx, int64_t n);

/* Initialisers (torch.nn.init). Each overwrites x->data in place (any tensor
   with data: a parameter, or a leaf on a tape), drawing one value per
   element in row-major order from r, in double, then rounding to tg_real.
   Return TG_OK, or an error status (tg_last_error says why: NULL tensor or
   rng, a bad argument, fewer than 2 dimensions where fans are needed) and
   then leave x unchanged. Fans are computed as torch.nn.init does: for x of
   shape [out, in, k1, k2, ...], fan_in = in·k1·k2·..., fan_out = out·k1·k2·... */
typedef enum tg_fan_mode { TG_FAN_IN = 0, TG_FAN_OUT = 1 } tg_fan_mode;
/* The nonlinearity that follows a layer, for the gain (nn.init.calculate_gain):
   linear/conv/sigmoid 1, tanh 5/3, relu √2, leaky_relu √(2/(1+slope²)), selu 3/4. */
typedef enum tg_nonlinearity {
    TG_NL_LEAKY_RELU = 0, /* the default of kaiming_uniform_/kaiming_normal_ */
    TG_NL_LINEAR,         /* also for the identity and convolutions */
    TG_NL_SIGMOID,
    TG_NL_TANH,
    TG_NL_RELU,
    TG_NL_SELU
} tg_nonlinearity;

/* The recommended gain for nl; `param` is leaky_relu's negative slope
   (nn.init.calculate_gain('leaky_relu') uses 0.01), ignored otherwise. */
TG_API double tg_init_gain(tg_nonlinearity nl, double param);
/* fan_in and fan_out of x (either pointer may be NULL); an error if x has
   fewer than 2 dimensions. */
TG_API int tg_init_fans(const tg_tensor *x, int64_t *fan_in, int64_t *fan_out);
/* U(a, b), a <= b (nn.init.uniform_). */
TG_API int tg_init_uniform(tg_tensor *x, double a, double b, tg_rng *r);
/* N(mean, std²), std >= 0 (nn.init.normal_). */
TG_API int tg_init_normal(tg_tensor *x, double mean, double std, tg_rng *r);
/* Every element = value (nn.init.constant_; zeros_ and ones_ are 0 and 1). */
TG_API int tg_init_constant(tg_tensor *x, double value);
/* Xavier/Glorot (nn.init.xavier_uniform_ / xavier_normal_; PyTorch's gain
   default is 1): std = gain·√(2/(fan_in + fan_out)); the uniform form draws
   from U(−√3·std, √3·std). */
TG_API int tg_init_xavier_uniform(tg_tensor *x, double gain, tg_rng *r);
TG_API int tg_init_xavier_normal(tg_tensor *x, double gain, tg_rng *r);
/* Kaiming/He (nn.init.kaiming_uniform_ / kaiming_normal_; PyTorch's
   defaults are a = 0, TG_FAN_IN, TG_NL_LEAKY_RELU, which give the ReLU gain
   √2): std = gain(nl, a)/√fan; the uniform form draws from U(−√3·std, √3·std). */
TG_API int tg_init_kaiming_uniform(tg_tensor *x, double a, tg_fan_mode mode,
                                   tg_nonlinearity nl, tg_rng *r);
TG_API int tg_init_kaiming_normal(tg_tensor *x, double a, tg_fan_mode mode,
                                  tg_nonlinearity nl, tg_rng *r);
/* nn.Linear's own initialisation (reset_parameters): weight [out, in] by
   kaiming_uniform with a = √5, i.e. U(−1/√in, 1/√in), then bias (may be
   NULL) U(−1/√in, 1/√in). The weight's values are drawn first. */
TG_API int tg_init_linear_default(tg_tensor *weight, tg_tensor *bias, tg_rng *r);

/* A fully connected layer y = x·Wᵀ + b (nn.Linear) whose parameters live in
   a tg_params under PyTorch's state-dict names: "<name>.weight" [out, in]
   and "<name>.bias" [out]. The struct is public; the tensors belong to the
   tg_params and stay valid for its lifetime. */
typedef struct tg_linear_layer {
    tg_tensor *weight; /* [out, in] */
    tg_tensor *bias;   /* [out], or NULL for a layer without bias */
    int64_t in, out;
} tg_linear_layer;

/* Registers "<name>.weight" (and "<name>.bias" if `bias`) on p and, when r
   is not NULL, initialises them as nn.Linear does (tg_init_linear_default);
   with r NULL they stay zero (e.g. to load weights afterwards). TG_OK, or an
   error (a name already taken, in or out <= 0, out of memory). */
TG_API int tg_linear_layer_init(tg_linear_layer *l, tg_params *p, const char *name, int64_t in,
                                int64_t out, bool bias, tg_rng *r);
/* x [..., in] -> [..., out] on the tape (tg_linear). NULL on failure. */
TG_API tg_tensor *tg_linear_layer_forward(tg_tape *t, const tg_linear_layer *l, tg_tensor *x);

/* A multilayer perceptron: linear layers named "<prefix>1", "<prefix>2", ...
   (so prefix "fc" gives fc1.weight, fc1.bias, fc2.weight, ...) with an
   activation between layers and none after the last (the logits). */
#define TG_MLP_MAX_LAYERS 16
typedef tg_tensor *(*tg_mlp_activation)(tg_tape *t, tg_tensor *x); /* e.g. tg_relu */
typedef struct tg_mlp {
    int n_layers;
    tg_linear_layer layers[TG_MLP_MAX_LAYERS];
    tg_mlp_activation act; /* NULL: no activation (a linear model) */
} tg_mlp;

/* sizes[0..n_sizes) are the widths, input first: {784, 500, 256, 10} makes
   three layers. Layers are registered and initialised (r may be NULL, as in
   tg_linear_layer_init) in order. TG_OK or an error status (the layers made
   before the failing one stay registered in p). */
TG_API int tg_mlp_init(tg_mlp *m, tg_params *p, const char *prefix, int n_sizes,
                       const int64_t *sizes, tg_mlp_activation act, tg_rng *r);
/* x [N, sizes[0]] -> logits [N, sizes[n-1]] on the tape. NULL on failure. */
TG_API tg_tensor *tg_mlp_forward(tg_tape *t, const tg_mlp *m, tg_tensor *x);
/* END SECTION nn */

/* SECTION optim (issue 5) */

/* Optimizers over every parameter of a tg_params, with torch.optim's update
   formulas (docs/training.md writes them out). The state (momentum buffer,
   Adam's moments) is allocated once, when the optimizer is made; a step
   allocates nothing. Make the optimizer after adding every parameter:
   tg_optim_step refuses to run (TG_ERR_STATE) if parameters were added
   since. Every parameter is updated on every step, as in PyTorch when the
   gradients are zeroed rather than set to None. */
typedef struct tg_optim tg_optim;

/* torch.optim.SGD. Start from tg_sgd_defaults(lr) and change fields. */
typedef struct tg_sgd_opts {
    double lr;           /* learning rate, >= 0 */
    double momentum;     /* 0: plain SGD */
    double dampening;    /* 0 */
    double weight_decay; /* L2 penalty λ added to the gradient: g + λ·w; 0 */
    bool nesterov;       /* needs momentum > 0 and dampening 0; false */
    bool maximize;       /* ascend instead of descend; false */
} tg_sgd_opts;
/* {lr, momentum 0, dampening 0, weight_decay 0, nesterov false, maximize false}. */
TG_API tg_sgd_opts tg_sgd_defaults(double lr);
/* An SGD optimizer over p (opts NULL: tg_sgd_defaults(1e-3), PyTorch 2's
   default lr). NULL on a bad option, empty p or no memory (tg_last_error). */
TG_API tg_optim *tg_sgd_new(tg_params *p, const tg_sgd_opts *opts);

/* torch.optim.Adam and torch.optim.AdamW. */
typedef struct tg_adam_opts {
    double lr;           /* 1e-3 */
    double beta1, beta2; /* 0.9, 0.999; each in [0, 1) */
    double eps;          /* 1e-8, added to √v̂ */
    double weight_decay; /* Adam: L2 added to the gradient (default 0);
                            AdamW: decoupled, w ← (1 − lr·λ)·w (default 1e-2) */
    bool amsgrad;        /* use the running maximum of v; false */
    bool maximize;       /* false */
} tg_adam_opts;
/* Adam's defaults with this lr (weight_decay 0). */
TG_API tg_adam_opts tg_adam_defaults(double lr);
/* AdamW's defaults with this lr (weight_decay 1e-2). */
TG_API tg_adam_opts tg_adamw_defaults(double lr);
/* Adam / AdamW over p (opts NULL: their defaults with lr 1e-3). NULL on a bad
   option, empty p or no memory (tg_last_error says why). */
TG_API tg_optim *tg_adam_new(tg_params *p, const tg_adam_opts *opts);
TG_API tg_optim *tg_adamw_new(tg_params *p, const tg_adam_opts *opts);

/* One update of every parameter from its gradient (a parameter whose
   gradient is NULL is skipped, as PyTorch skips a None grad). TG_OK, or
   TG_ERR_STATE if the parameters changed since the optimizer was made. */
TG_API int tg_optim_step(tg_optim *o);
/* Sets every gradient of the optimizer's parameters to zero (one memset). */
TG_API void tg_optim_zero_grad(tg_optim *o);
/* Releases them (tg_params_release_grad). */
TG_API void tg_optim_release_grad(tg_optim *o);
/* tg_optim_step, then tg_optim_zero_grad, in one pass over the memory: each
   piece of the gradient is zeroed just after the update has read it, while
   it is still in cache. The loop `forward; backward; step_zero_grad` is the
   loop `zero_grad; forward; backward; step` without a separate sweep over
   every gradient (zero once before the first backward). Same return values
   as tg_optim_step; on an error nothing is updated or zeroed. */
TG_API int tg_optim_step_zero_grad(tg_optim *o);
/* tg_optim_step, then tg_optim_release_grad: PyTorch's `optimizer.step();
   optimizer.zero_grad()`. The fastest training loop is `forward; backward;
   tg_optim_step_release_grad`: the step writes no zeros, and the next
   backward writes the gradients. A parameter with no gradient (released and
   not reached by backward) is skipped, as PyTorch skips a None grad, and
   the step does not count for it (tg_optim_param_steps). Same return values
   as tg_optim_step; on an error nothing is updated or released. */
TG_API int tg_optim_step_release_grad(tg_optim *o);
/* The learning rate used by the next steps (for schedules); lr >= 0. */
TG_API int tg_optim_set_lr(tg_optim *o, double lr);
TG_API double tg_optim_get_lr(const tg_optim *o);
/* Steps taken so far (calls of the tg_optim_step functions that succeeded). */
TG_API int64_t tg_optim_steps(const tg_optim *o);
/* The steps that updated parameter i (tg_params_at order), PyTorch's
   state[p]['step']: a step skips a parameter whose gradient is NULL, and
   then does not count for it. Adam's bias corrections and SGD's first
   momentum step go by this count. 0 for a NULL optimizer or i out of range. */
TG_API int64_t tg_optim_param_steps(const tg_optim *o, size_t i);
/* "sgd", "adam" or "adamw". */
TG_API const char *tg_optim_name(const tg_optim *o);
/* A state block laid out like tg_params_data (block_len values, each
   parameter at the same offset): "momentum_buffer" (SGD with momentum),
   "exp_avg", "exp_avg_sq", "max_exp_avg_sq" (Adam with amsgrad); NULL if
   this optimizer has no such state. Read-only; owned by the optimizer. */
TG_API const tg_real *tg_optim_state(const tg_optim *o, const char *name);
/* Frees the optimizer and its state (not the parameters). Accepts NULL. */
TG_API void tg_optim_free(tg_optim *o);
/* END SECTION optim */

/* SECTION io (issue 5) */

/* ---- IDX files: MNIST's own format (docs/data.md).
   A file is the magic 0x00 0x00 <type> <ndim>, ndim big-endian uint32
   dimensions, then the elements, big-endian, row-major. */

/* IDX element types: the third byte of the magic. */
enum {
    TG_IDX_U8 = 0x08,  /* uint8_t */
    TG_IDX_I8 = 0x09,  /* int8_t */
    TG_IDX_I16 = 0x0B, /* int16_t */
    TG_IDX_I32 = 0x0C, /* int32_t */
    TG_IDX_F32 = 0x0D, /* float */
    TG_IDX_F64 = 0x0E  /* double */
};

/* An IDX array in memory: `size` elements of `type`, converted to the host's
   byte order, in `data` (uint8_t *, int16_t *, float *, ... by type). */
typedef struct tg_idx {
    int type;                   /* TG_IDX_U8, ... */
    int ndim;                   /* 1..TG_MAX_DIMS */
    int64_t shape[TG_MAX_DIMS]; /* shape[0..ndim-1] */
    int64_t size;               /* product of the shape (may be 0) */
    void *data;
} tg_idx;

/* Reads an IDX file, raw or gzip-compressed (told apart by the first two
   bytes, not by the name). Checks the magic, the type, the dimensions (at most
   TG_MAX_DIMS, no overflow) and that the data is exactly as long as they say
   (no missing, no extra bytes; for gzip, a complete stream with a good CRC).
   Returns a new array (free with tg_idx_free), or NULL with tg_last_error()
   naming the file and what is wrong. */
TG_API tg_idx *tg_idx_load(const char *path);
/* The same from `len` bytes in memory (raw or gzip); buf is not kept. */
TG_API tg_idx *tg_idx_load_mem(const void *buf, size_t len);
/* Frees x and its data. Accepts NULL. */
TG_API void tg_idx_free(tg_idx *x);

/* ---- datasets of uint8 images with class labels (MNIST, Fashion-MNIST)

   Images stay uint8 in memory; each mini-batch is converted on the fly into
   buffers the dataset owns (allocated once: no allocation per batch):
       x = (pixel / 255 − mean) / std           as tg_real, [n, features]
       y = label                                as int64_t (for tg_cross_entropy)
   The standard MNIST normalisation: */
#define TG_MNIST_MEAN 0.1307
#define TG_MNIST_STD 0.3081

typedef struct tg_dataset tg_dataset;

/* Loads an image file ([N, rows, cols] or [N, features], type uint8) and a
   label file ([N], uint8) in IDX format, raw or .gz. NULL on failure
   (tg_last_error names the file: a bad file, or counts that differ). */
TG_API tg_dataset *tg_dataset_load_idx(const char *images_path, const char *labels_path);
/* The training (train = true, 60,000 in MNIST) or test set found in `dir`
   under the standard names train-images-idx3-ubyte, train-labels-idx1-ubyte,
   t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or with ".gz"
   (".gz" is tried first). Works for MNIST, Fashion-MNIST and the bundled
   data/mnist. NULL on failure, with tg_last_error naming what is missing. */
TG_API tg_dataset *tg_mnist_load(const char *dir, bool train);
/* The same data left in the file: opens a raw (uncompressed) IDX image file
   and reads each batch's samples from it when tg_dataset_next asks for
   them, instead of loading every image into memory. The labels (1 byte per
   sample, raw or .gz) are loaded. Batches are the same, bit for bit, as
   with tg_dataset_load_idx; the process holds eight batches of pixels
   instead of the whole set (47 MB for Fashion-MNIST). Reading costs one
   pread per run of consecutive samples (64 for a shuffled batch of 64),
   made on one thread by a thread of the dataset up to eight batches ahead
   of the caller, and on more (tg_set_num_threads) by the library's worker
   a batch ahead, with the conversion (see tg_batch); the first batch of an
   epoch is read on the spot (docs/data.md). In a child of fork() the
   dataset goes on without the parent's threads: a batch the parent's
   worker was reading is read again, and the child reads the rest of the
   epoch with workers of its own, or by itself and with a reader thread of
   its own from the next epoch. The file stays open until tg_dataset_free.
   A gzip file is refused with a message saying to gunzip it. */
TG_API tg_dataset *tg_dataset_open_idx(const char *images_path, const char *labels_path);
/* tg_mnist_load's directory lookup for tg_dataset_open_idx: the images
   under their raw names only (a directory with only the .gz is refused,
   saying so), the labels raw or .gz. */
TG_API tg_dataset *tg_mnist_open(const char *dir, bool train);
/* A dataset from memory, copied: images [n, features] and labels [n]. */
TG_API tg_dataset *tg_dataset_new(const uint8_t *images, const uint8_t *labels, int64_t n,
                                  int64_t features);
/* A new dataset of the samples idx[0..n-1] of d, in that order (e.g. only
   the digits 0 and 1). NULL if an index is out of range. Batching options
   are not copied. */
TG_API tg_dataset *tg_dataset_subset(const tg_dataset *d, const int64_t *idx, int64_t n);
/* Frees the dataset and its buffers. Accepts NULL. */
TG_API void tg_dataset_free(tg_dataset *d);

TG_API int64_t tg_dataset_len(const tg_dataset *d);      /* samples N */
TG_API int64_t tg_dataset_features(const tg_dataset *d); /* values per sample (rows·cols) */
/* The shape of one sample ([28, 28] for MNIST) into shape; returns its ndim. */
TG_API int tg_dataset_sample_shape(const tg_dataset *d, int64_t shape[TG_MAX_DIMS]);
TG_API int tg_dataset_classes(const tg_dataset *d);      /* 1 + the largest label */
TG_API const uint8_t *tg_dataset_images(const tg_dataset *d); /* [N, features]; NULL if streamed */
TG_API const uint8_t *tg_dataset_labels(const tg_dataset *d); /* [N] */
/* true if the images are read from their file batch by batch (opened with
   tg_dataset_open_idx or tg_mnist_open); tg_dataset_subset of such a
   dataset reads its samples into memory. */
TG_API bool tg_dataset_streamed(const tg_dataset *d);

/* How tg_dataset_next cuts an epoch into mini-batches (a DataLoader's
   arguments). tg_batch_defaults(): batch 64, shuffle, keep the last partial
   batch (PyTorch's drop_last=False), seed 0, mean 0, std 1 (x in [0, 1]). */
typedef struct tg_batch_opts {
    int64_t batch_size; /* > 0 */
    bool shuffle;       /* a new random order every epoch (tg_rng_shuffle) */
    bool drop_last;     /* drop the last batch if it is smaller than batch_size */
    uint64_t seed;      /* seed of the shuffling */
    double mean, std;   /* x = (pixel/255 − mean) / std; std > 0 */
} tg_batch_opts;
TG_API tg_batch_opts tg_batch_defaults(void);

/* One mini-batch; the pointers are the dataset's buffers, valid until the
   next call to tg_dataset_next (or free). On more than one thread
   (tg_set_num_threads), a worker converts the next batch while the caller
   trains on this one, reading it from the file first if the dataset is
   streamed (for one dataset at a time; another converts its batches on the
   spot, a streamed one with its reader thread), so x may alternate between
   two buffers; the values are the same, bit for bit. */
typedef struct tg_batch {
    int64_t n;             /* samples in this batch (the last may be smaller) */
    int64_t features;
    const tg_real *x;      /* [n, features] scaled and normalised */
    const int64_t *y;      /* [n] class labels, for tg_cross_entropy */
    const tg_real *y_real; /* [n] the same labels as tg_real (tg_bce_with_logits) */
    const int64_t *index;  /* [n] which samples of the dataset these are */
    int64_t number;        /* 0-based number of this batch in its epoch */
    int64_t epoch;         /* 0-based epoch */
} tg_batch;

/* Sets the batching options (NULL: defaults) and allocates the batch
   buffers; rewinds to the start of a new epoch. Returns TG_OK, or
   TG_ERR_INVALID / TG_ERR_NOMEM with tg_last_error. */
TG_API int tg_dataset_batching(tg_dataset *d, const tg_batch_opts *opts);
/* Batches per epoch with the current options. */
TG_API int64_t tg_dataset_num_batches(const tg_dataset *d);
/* Fills *b with the next batch of the epoch and returns true; returns false
   when the epoch is over (b is then untouched), and the call after that
   starts the next epoch (reshuffled). So one epoch is
       while (tg_dataset_next(d, &b)) { ... }
   Uses the default options if tg_dataset_batching was never called.
   A streamed dataset can also fail to read a batch (the file has become
   shorter, an I/O error): the call then returns false, ends the epoch and
   tg_dataset_error(d) gives TG_ERR_IO, with tg_last_error() naming the
   file and the sample. Check it after the loop. */
TG_API bool tg_dataset_next(tg_dataset *d, tg_batch *b);
/* TG_OK, or the error of the last call to tg_dataset_next if it failed. */
TG_API int tg_dataset_error(const tg_dataset *d);
/* Abandons the current epoch: the next call starts a new one. */
TG_API void tg_dataset_rewind(tg_dataset *d);

/* ---- safetensors: weights to and from PyTorch (docs/data.md)
   A file is an 8-byte little-endian header length, a JSON header
   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
    "__metadata__": {...}} and the tensors' bytes, little-endian, row-major. */

typedef enum tg_dtype {
    TG_F32 = 0, /* "F32": float, what torch saves by default */
    TG_F64 = 1  /* "F64": double */
} tg_dtype;

/* Writes every parameter of p, under its name, in the order added, as dtype
   (converted from tg_real), with __metadata__ {"format": "pt"}. The file is
   written under a temporary name and renamed at the end, so a failure never
   leaves a half-written file at `path`. Returns TG_OK or an error status
   with tg_last_error. */
TG_API int tg_params_save(const tg_params *p, const char *path, tg_dtype dtype);
/* Reads a safetensors file into p. The whole file is validated first (header
   size at most 100,000,000 bytes, JSON in UTF-8, dtypes, shapes, data
   offsets in bounds, contiguous, not overlapping and covering the data
   exactly), then:
   - if p already has parameters, the file must hold exactly the same names
     with the same shapes (like load_state_dict(strict=True)): a missing, an
     extra or a mismatched tensor is an error naming it;
   - if p is empty, a parameter is created for every tensor, in the order of
     their data in the file.
   F32 and F64 tensors are accepted (converted to tg_real); other dtypes are
   refused by name. Nothing is changed unless every check passes and every
   allocation succeeds (new parameters are built aside and put in place at
   the end). Returns TG_OK, TG_ERR_IO, TG_ERR_FORMAT, TG_ERR_SHAPE or
   TG_ERR_NOMEM, with tg_last_error. */
TG_API int tg_params_load(tg_params *p, const char *path);
/* The same from `len` bytes in memory (not kept). */
TG_API int tg_params_load_mem(tg_params *p, const void *buf, size_t len);
/* END SECTION io */

#ifdef __cplusplus
}
#endif

#endif /* TAPEGRAD_H */
