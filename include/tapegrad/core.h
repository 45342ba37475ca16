/** @file tapegrad/core.h — the engine: the scalar type, errors, tensors, the tape
 * (recording, backward, memory), parameters, custom ops and the op registry,
 * the random number generator, and the threads and matrix-product settings.
 *
 * Part of <tapegrad.h>; include that. A tensor is a contiguous row-major
 * array owned by a tape (or by a tg_params); every op appends a record to
 * its tape, and tg_backward walks the records in reverse calling each op's
 * gradient rule. Nothing here ends the program: functions return NULL or a
 * tg_status, and say why through the tape's error or tg_last_error().
 */
#ifndef TAPEGRAD_CORE_H
#define TAPEGRAD_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef TG_DOUBLE
#include "tapegrad/f64_names.h" /* the double library's own symbol names */
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** The version of this header (tg_version() gives the linked library's). @{ */
#define TG_VERSION_MAJOR 0
#define TG_VERSION_MINOR 2
#define TG_VERSION_PATCH 0
/** @} */

#if defined(TG_BUILDING)
#define TG_API __attribute__((visibility("default")))
#else
#define TG_API
#endif

/** The scalar type: float, or double when TG_DOUBLE is defined (the
    tapegrad_f64 library, whose CMake target and pkg-config file define it). */
#ifdef TG_DOUBLE
typedef double tg_real;
#else
typedef float tg_real;
#endif

/** The linked library's version, "0.2.0" (its TG_VERSION_*). */
TG_API const char *tg_version(void);
/** "float" or "double": the tg_real of the library actually linked. */
TG_API const char *tg_real_name(void);

/* ------------------------------------------------------------------ errors */

/** What a call that is not an op returns: TG_OK, or a negative error code. */
typedef enum tg_status {
    TG_OK = 0,            /**< success */
    TG_ERR_INVALID = -1,  /**< a bad argument (NULL, bad axis, bad option) */
    TG_ERR_SHAPE = -2,    /**< shapes that do not fit together */
    TG_ERR_NOMEM = -3,    /**< an allocation failed */
    TG_ERR_IO = -4,       /**< a file could not be opened, read or written */
    TG_ERR_FORMAT = -5,   /**< a file is truncated, corrupt or of the wrong kind */
    TG_ERR_STATE = -6,    /**< a call at the wrong time (e.g. backward of a loss from
                             before tg_tape_reset) */
    TG_ERR_NUMERIC = -7   /**< anomaly mode found a NaN or Inf */
} tg_status;

/** A short constant description of a status ("shape mismatch", ...). */
TG_API const char *tg_status_str(int status);
/** The message of the last failing non-op call in this thread ("" if none). */
TG_API const char *tg_last_error(void);

/* ----------------------------------------------------------------- tensors */

/** The most dimensions a tensor can have. */
#define TG_MAX_DIMS 8

/** TG_SHAPE(64, 784) expands to the two arguments `ndim, dims`:
   tg_zeros(t, TG_SHAPE(64, 784)) is tg_zeros(t, 2, (const int64_t[]){64, 784}).
   It is a C99 compound literal (so is TG_CE_OPTS_DEFAULT): from C++ it builds
   only as a GCC/Clang extension; pass ndim and an array there instead. */
#define TG_SHAPE(...)                                                        \
    (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),         \
        (const int64_t[]) { __VA_ARGS__ }

/** Tensor flags. Bits 16 and up are the library's own (set and cleared by
   backward while it runs): leave them alone. */
enum {
    TG_REQUIRES_GRAD = 1u << 0, /**< gradients flow into this tensor */
    TG_PARAM = 1u << 1,         /**< owned by a tg_params */
    TG_CONST = 1u << 2,         /**< made by tg_detach or as a constant */
    TG_BUFFER = 1u << 3,        /**< a buffer of a tg_params (with TG_PARAM): state that
                                   is saved and loaded but not trained, such as batch
                                   norm's running statistics; never requires grad */
    TG_INT64 = 1u << 4          /**< a buffer of whole numbers (num_batches_tracked),
                                   saved as I64 in safetensors */
};

/** A tape (opaque): records the ops of a forward pass for tg_backward and owns
    every tensor made on it. */
typedef struct tg_tape tg_tape;

/** A tensor's metadata is public and may be read freely. Change `data` values
   only on leaves you made (inputs, parameters), never on op results that a
   later backward still needs. */
/* (tensor_alloc in src/core/tape.c sets every field by name, without a
   memset: a field added here needs its line there.) */
typedef struct tg_tensor {
    int ndim;                     /**< 0 for a scalar */
    int64_t shape[TG_MAX_DIMS];   /**< shape[0..ndim-1] */
    int64_t size;                 /**< product of the shape (1 for a scalar) */
    tg_real *data;                /**< [size], row-major. Where the tape allocated it
                                     (not a view's, nor tg_tensor_wrap's): 64 bytes or
                                     more start on a 64-byte line, fewer are aligned to
                                     their size rounded up to a power of two (16 at
                                     least), never straddling two lines */
    tg_real *grad;                /**< [size], or NULL until a gradient exists. Read it
                                     freely; the tape owns it and sets it (an op
                                     result's gradient starts over at each backward).
                                     Do not point it at memory of your own: a
                                     backward adds into whatever it holds */
    unsigned flags;               /**< TG_REQUIRES_GRAD | TG_PARAM | TG_CONST */
    const char *name;             /**< parameter name or a label, may be NULL */
    /* bookkeeping, read-only for users */
    tg_tape *tape;                /**< the tape that owns it, NULL for parameters */
    int32_t id;                   /**< number on its tape (or in its tg_params) */
    int32_t rec;                  /**< index of the record that made it, -1 for a leaf */
    uint32_t gen;                 /**< the tape's generation (its count of resets) when
                                     made: a tensor from before tg_tape_reset is refused
                                     while its memory holds it (see tg_tape_reset) */
} tg_tensor;

/** New tensors on the tape, owned by it. `data` is copied. NULL on failure
   (the message is on the tape). */
TG_API tg_tensor *tg_tensor_new(tg_tape *t, int ndim, const int64_t *shape,
                                const tg_real *data);
/** A leaf over `data` itself, not a copy (like torch.from_numpy): for an
   input the caller already holds, such as a batch of tg_dataset_next, it
   saves tg_tensor_new's copy. No op, backward or gradcheck writes to it
   (only an initialiser you call on it would); keep it unchanged and alive
   until the tape is reset or freed. It can require a gradient like any
   leaf (the gradient lives on the tape). */
TG_API tg_tensor *tg_tensor_wrap(tg_tape *t, int ndim, const int64_t *shape,
                                 const tg_real *data);
/** Tensors of zeros, of ones, of `value`, and a scalar (ndim 0), owned by the
    tape. NULL on failure (the message is on the tape). @{ */
TG_API tg_tensor *tg_zeros(tg_tape *t, int ndim, const int64_t *shape);
TG_API tg_tensor *tg_ones(tg_tape *t, int ndim, const int64_t *shape);
TG_API tg_tensor *tg_full(tg_tape *t, int ndim, const int64_t *shape, tg_real value);
TG_API tg_tensor *tg_scalar(tg_tape *t, tg_real value); /**< ndim 0 */
/** @} */

/** Integer indices for the ops that take them (tg_gather, tg_index_select,
   tg_scatter_add, embeddings...), and what tg_argmax and friends return:
   a read-only int64 array with a shape, owned by its tape like a tensor
   (valid until tg_tape_reset). Indices carry no gradient. An op checks
   every index against the axis it indexes and refuses one out of range
   with a message naming the op, the index, its position and the axis. */
typedef struct tg_index {
    int ndim;                   /**< 0 for a single index */
    int64_t shape[TG_MAX_DIMS]; /**< shape[0..ndim-1] */
    int64_t size;               /**< product of the shape */
    const int64_t *data;        /**< [size], row-major */
    tg_tape *tape;              /**< the tape that owns it */
    uint32_t gen;               /**< the tape's generation when made */
} tg_index;

/** Indices on the tape, `data` copied (the caller may reuse its buffer at
   once). NULL on failure (the message is on the tape). */
TG_API tg_index *tg_index_new(tg_tape *t, int ndim, const int64_t *shape, const int64_t *data);
/** Indices over `data` itself, not a copy (like tg_tensor_wrap): keep it
   alive until the tape is reset. Between the replays of a replayable tape
   its values may change (new labels, new token ids): each replay checks
   them again, before any op reads them, and refuses one out of range with
   the same message as when it was recorded (TG_OP_CHECK_ON_REPLAY). */
TG_API tg_index *tg_index_wrap(tg_tape *t, int ndim, const int64_t *shape, const int64_t *data);

/** Marks a leaf so that backward fills its `grad` (like requires_grad_()).
   Returns x. Its gradient accumulates over backward calls until zeroed.
   A parameter (tg_params) requires grad from its making; `on = false`
   freezes it (requires_grad_(False)): its gradient is released (NULL), no
   backward gives it one, tg_params_zero_grad leaves it NULL, and the
   optimizers skip it (weight decay and momentum included, as PyTorch skips
   a None grad); `on = true` unfreezes it. */
TG_API tg_tensor *tg_requires_grad(tg_tensor *x, bool on);
/** A tensor with x's data and shape that is cut from the graph: no gradient
   flows through it (like torch.Tensor.detach()). The data is shared. */
TG_API tg_tensor *tg_detach(tg_tape *t, tg_tensor *x);
/** Attaches a label (copied onto the tape) shown by the tape printers. */
TG_API tg_tensor *tg_tensor_set_name(tg_tensor *x, const char *name);
/** Sets x->grad to zero (if it has one). */
TG_API void tg_zero_grad(tg_tensor *x);

/** Writes "shape [2,3]\n[[1, 2, 3],\n [4, 5, 6]]\n"; large tensors are
   abbreviated with "..." as PyTorch does. `f` may be stdout. */
TG_API void tg_tensor_print(const tg_tensor *x, FILE *f);
/** Writes the shape as "[64,784]" into buf (always NUL-terminated). Returns buf. */
TG_API char *tg_shape_str(const tg_tensor *x, char *buf, size_t len);
/** True when a and b have the same shape. */
TG_API bool tg_same_shape(const tg_tensor *a, const tg_tensor *b);

/* -------------------------------------------------------------------- tape */

/** An empty tape; NULL if out of memory. */
TG_API tg_tape *tg_tape_new(void);
/** Frees the tape and everything on it. Accepts NULL. */
TG_API void tg_tape_free(tg_tape *t);
/** Forgets every record and tensor in O(1) and clears the error; keeps the
   memory, so a loop of steps of the same shapes allocates nothing after the
   first. Tensors made on the tape are invalid afterwards. A pointer kept to
   one is refused by name until the memory it points to is given to new
   tensors; after that the library cannot tell it from what now lies there
   (a use after free, which no check of the struct can catch): drop such
   pointers at the reset. */
TG_API void tg_tape_reset(tg_tape *t);

/** Turns recording on or off (like torch.no_grad()); returns the previous
   setting. With recording off, ops compute values but record nothing and
   their results need no gradient. */
TG_API bool tg_tape_set_recording(tg_tape *t, bool on);
TG_API bool tg_tape_is_recording(const tg_tape *t); /**< the current setting */

/** Anomaly mode (like torch.autograd.set_detect_anomaly): when on, the first
   record whose forward output or backward gradient holds a NaN or Inf fails
   with a tape error naming the op, the record and the tensor. Returns the
   previous setting. Off by default: it costs a pass over every result. */
TG_API bool tg_tape_set_anomaly(tg_tape *t, bool on);

/** The first error recorded since the last reset or tg_tape_clear_error, ""
    if none: the cause, which the NULLs that ops pass on do not overwrite.
    While it is held, ops still run but no gradient is taken (tg_backward,
    tg_grad and the drivers refuse with TG_ERR_STATE and add why to this
    message): a result recorded after the failure may lack a part, since an
    optional argument whose making failed (a mask, a bias) reads as absent.
    Clear it once handled. */
TG_API const char *tg_tape_error(const tg_tape *t);
/** True once an op on this tape has failed (until reset or clear). */
TG_API bool tg_tape_failed(const tg_tape *t);
TG_API void tg_tape_clear_error(tg_tape *t); /**< forgets the error: "" and not failed */

/** Options of tg_grad and tg_backward_ex (torch.autograd.grad's). Zero
   (or NULL) is the default of each. */
typedef struct tg_grad_opts {
    bool create_graph; /**< record the backward pass on the tape, so that the
                          gradients are tensors with records of their own and
                          can be differentiated again (any order); needs a vjp
                          rule in every op it crosses */
    bool allow_unused; /**< an input the outputs do not reach: false, an error;
                          true, a gradient of zeros (PyTorch returns None) */
} tg_grad_opts;

/** Back-propagates from a scalar (size 1) `loss`: seeds d(loss)=1 and walks
   the records in reverse, visiting only the records `loss` depends on.
   Gradients accumulate (+=) into every leaf that requires grad and every
   parameter it reaches; gradients of intermediate results are recomputed
   from zero on every call. Returns TG_OK or an error status with the
   message on the tape: TG_ERR_STATE for a loss made before the last
   tg_tape_reset (its records are gone) or one that needs no gradient. */
TG_API int tg_backward(tg_tape *t, tg_tensor *loss);
/** The same for any output: `dout` (out->size values) is d(something)/d(out),
   as in torch.autograd.backward(out, dout). */
TG_API int tg_backward_grad(tg_tape *t, tg_tensor *out, const tg_real *dout);

/** The gradients of outputs with respect to inputs, as new tensors on the
   tape (torch.autograd.grad(outputs, inputs, grad_outputs)):
       grads[i] = Σ_j (∂outputs[j]/∂inputs[i])ᵀ · grad_outputs[j]
   grad_outputs may be NULL, and so may any entry, for outputs of one
   element (their gradient is 1). Every input must require grad; it may be a
   leaf, a parameter or any op result on the tape. No .grad is read or
   written. Without create_graph this is as fast as tg_backward; with it the
   results are on the tape and differentiable (opts->create_graph). Returns
   TG_OK or an error status with the message on the tape (grads[i] are then
   NULL or unusable). */
TG_API int tg_grad(tg_tape *t, int n_out, tg_tensor *const *outputs,
                   tg_tensor *const *grad_outputs, int n_in, tg_tensor *const *inputs,
                   tg_tensor **grads, const tg_grad_opts *opts);
/** tg_grad for one output of one element and one input: d(out)/dx as a new
   tensor of x's shape, differentiable when create_graph. NULL on failure
   (the message is on the tape). */
TG_API tg_tensor *tg_grad1(tg_tape *t, tg_tensor *out, tg_tensor *x, bool create_graph);
/** tg_backward with options (torch.Tensor.backward(gradient, create_graph)):
   grad_output is the gradient of out (NULL: out has one element, gradient
   1). Gradients accumulate into .grad as tg_backward does; with
   create_graph the pass is recorded, and tg_tape_grad_tensor gives each
   leaf's gradient as a differentiable tensor. */
TG_API int tg_backward_ex(tg_tape *t, tg_tensor *out, tg_tensor *grad_output,
                          const tg_grad_opts *opts);
/** After tg_backward_ex with create_graph: the gradient of leaf (or
   parameter) x as a tensor on the tape, the sum over every such backward
   since the last reset; NULL if none reached x. */
TG_API tg_tensor *tg_tape_grad_tensor(tg_tape *t, const tg_tensor *x);

/** Record once, replay many (docs/replay.md). With replayable on (before
   recording), every op is recorded, also those whose inputs need no
   gradient (they get records that backward skips), so that the tape is a
   program: tg_tape_replay re-runs every record's forward, in order, with
   the leaves' current values (change a leaf's data in place, a wrapped
   leaf's buffer, or point it elsewhere with tg_tensor_rewrap; parameters
   are read where they are). A backward after a replay works as after
   recording. Returns the previous setting. */
TG_API bool tg_tape_set_replayable(tg_tape *t, bool on);
/** Re-runs the forward of every record (see tg_tape_set_replayable): the
   same results, bit for bit, as recording the same step again. Gradients of
   the tape's tensors start over (parameters' gradients accumulate as
   always), and tensors made after the recording (a tg_grad's results, your
   own scratch) are freed: make them again after each replay. Refused, with
   TG_ERR_STATE and a message, for a tape not recorded replayable, reset
   since, recorded in part with recording off, holding an impure op
   (TG_OP_IMPURE), reading a first-order tg_grad's result (which no record
   recomputes), or whose leaf changed shape. Ops that draw random numbers
   (dropout) draw fresh ones from their generator. The first replay turns
   the records of ops with a compact form (element-wise ops, small softmaxes,
   sums, stacks, selections) into instructions over plain pointers, and the
   first backward after a replay that finds its gradients in place (a
   backward ran before the first replay) into a list of their rules: later
   replays and backward passes run those, with the same results (see
   docs/replay.md). The first replay may move the data (and later the
   gradient) of small outputs into the program's own arrays: read x->data
   after a replay, not a pointer kept from before the first one. */
TG_API int tg_tape_replay(tg_tape *t);
/** Points a leaf at new data of the same shape (for instance the next batch
   of a dataset, which alternates between buffers), for the next replay.
   TG_ERR_INVALID for a NULL argument or a tensor that is not a leaf of a
   tape. */
TG_API int tg_tensor_rewrap(tg_tensor *x, const tg_real *data);

/** Memory of a tape, for checking that a training loop allocates nothing per
   step: heap_allocs counts every malloc/realloc the tape ever made. */
typedef struct tg_tape_stats {
    size_t records;         /**< records since the last reset */
    size_t tensors;         /**< tensors since the last reset */
    size_t arena_used;      /**< bytes in use in the arena */
    size_t arena_reserved;  /**< bytes the arena holds */
    size_t arena_chunks;    /**< chunks the arena holds */
    size_t heap_allocs;     /**< malloc/realloc calls made by the tape so far */
} tg_tape_stats;
/** The tape's figures now (all 0 for a NULL tape). */
TG_API tg_tape_stats tg_tape_get_stats(const tg_tape *t);

/** Scratch memory from the tape's arena, 64-byte aligned, valid until the next
   reset (for custom ops and for users' per-step buffers). NULL if out of
   memory, with a message on the tape that names the op being applied when a
   forward asks ("tg_exp: out of memory allocating N bytes on the tape" for a
   built-in op, the op's own name for a custom one). */
TG_API void *tg_tape_alloc(tg_tape *t, size_t bytes);

/* ------------------------------------------------------------------ params */

/** A set of parameters by name (opaque): values, and gradients, each in one
    block. */
typedef struct tg_params tg_params;

/** A named registry of parameters whose data, and whose gradients, each lie in
   one contiguous block. NULL if out of memory. */
TG_API tg_params *tg_params_new(void);
/** Frees the registry and all its tensors. Accepts NULL. */
TG_API void tg_params_free(tg_params *p);
/** Adds a zero-filled parameter that requires grad; the name is copied.
   The name must be non-empty UTF-8 (RFC 3629: a safetensors file holds
   it), the shape 0..TG_MAX_DIMS dimensions of at least 1 whose size in
   bytes (elements times sizeof(tg_real)) fits in int64_t and size_t.
   NULL (tg_last_error says why, naming the name and the shape) if one of
   those fails, if the name exists or if memory runs out.
   The tensor pointer stays valid for the life of p; its data/grad pointers
   may move while more parameters are added, so read them after adding.
   The blocks grow by doubling (like a std::vector), so adding n parameters
   copies each value O(1) times on average, not n times; the unused tail of
   a block is never written. */
TG_API tg_tensor *tg_params_add(tg_params *p, const char *name, int ndim,
                                const int64_t *shape);
/** The parameter (or buffer) called `name`, or NULL. */
TG_API tg_tensor *tg_params_get(const tg_params *p, const char *name);
/** Parameters in the order they were added: i in [0, tg_params_count);
    tg_params_at returns NULL past the end. @{ */
TG_API size_t tg_params_count(const tg_params *p);
TG_API tg_tensor *tg_params_at(const tg_params *p, size_t i);
/** @} */
/** Total number of scalars, and the contiguous blocks (length numel, but
   parameters are padded to 64-byte boundaries: use tg_params_block_len). @{ */
TG_API int64_t tg_params_numel(const tg_params *p);
TG_API size_t tg_params_block_len(const tg_params *p);
TG_API tg_real *tg_params_data(tg_params *p);
/** @} */
/** The gradient block. A parameter whose gradient is released
   (tg_params_release_grad) and that no backward has reached since reads
   as zeros there: this call zeroes its part, so a norm or an update written
   over the block is right (the gradient stays released, grad NULL). Call it
   after backward, not before: the pointer stays valid, the values are read
   when you read them. */
TG_API tg_real *tg_params_grad(tg_params *p);
/* tg_params_count, tg_params_at, tg_params_numel and the blocks above hold
   the parameters only, never the buffers below: an optimizer (or a loop of
   your own over tg_params_data and tg_params_grad) cannot touch a buffer. */

/** Sets every gradient to zero: one memset (a released gradient comes back,
   as zeros). */
TG_API void tg_params_zero_grad(tg_params *p);
/** Releases every gradient: each parameter's grad becomes NULL, as after
   PyTorch's zero_grad() (set_to_none=True). The next backward writes each
   gradient it reaches instead of adding to zeros, so nothing sweeps the
   memory and the products of linear layers read no old gradient. A
   parameter that backward does not reach keeps grad NULL, and the
   optimizers skip it. The memory stays in the registry (tg_params_grad
   zeroes it for such a parameter when it hands out the block): releasing
   and getting a gradient back allocate nothing. */
TG_API void tg_params_release_grad(tg_params *p);

/** Adds a zero-filled buffer: state of the model that is saved and loaded
   with the parameters (tg_params_save: under its name, as PyTorch's
   state_dict has it) but is not trained: no gradient, not in the
   parameters' block, never updated by an optimizer. Batch norm's
   "running_mean" and "running_var" are buffers. Names are shared with the
   parameters (one namespace); the name and shape rules are
   tg_params_add's, a 0-d shape included. The flags are TG_PARAM |
   TG_BUFFER (TG_PARAM: the registry owns it, so ops accept it from any
   tape). NULL on failure (tg_last_error says why). Data pointers may move
   as more buffers are added, as with parameters. */
TG_API tg_tensor *tg_params_add_buffer(tg_params *p, const char *name, int ndim,
                                       const int64_t *shape);
/** The same for a buffer of whole numbers (PyTorch's int64
   "num_batches_tracked"): held as tg_real (exact up to 2^24 in the float
   build, 2^53 in the double one), flagged TG_INT64, saved as I64, and
   loaded from I64 (or from F32/F64 holding whole numbers). */
TG_API tg_tensor *tg_params_add_int_buffer(tg_params *p, const char *name, int ndim,
                                           const int64_t *shape);
/** Buffers in the order they were added: i in [0, tg_params_buffer_count);
   tg_params_buffer_at returns NULL past the end. @{ */
TG_API size_t tg_params_buffer_count(const tg_params *p);
TG_API tg_tensor *tg_params_buffer_at(const tg_params *p, size_t i);
/** @} */
/** The number of scalars in the buffers (tg_params_numel counts the
   parameters only). */
TG_API int64_t tg_params_buffer_numel(const tg_params *p);
/** Every tensor of the registry, parameters and buffers, in the order they
   were added (PyTorch's state_dict): what tg_params_save writes. i in
   [0, tg_params_state_count); NULL past the end. @{ */
TG_API size_t tg_params_state_count(const tg_params *p);
TG_API tg_tensor *tg_params_state_at(const tg_params *p, size_t i);
/** @} */

/** The training switch of a model (PyTorch's model.train() and
   model.eval()): layers that behave differently in training (dropout, batch
   norm) read it from the tg_params they were registered on. A new registry
   is in training mode. tg_params_set_training returns the previous
   setting; tg_params_training is false for NULL. @{ */
TG_API bool tg_params_set_training(tg_params *p, bool on);
TG_API bool tg_params_training(const tg_params *p);
/** @} */

/** Which matrix-product path the library uses: "builtin" (the cache-blocked
   kernel, the default) or "cblas" (OpenBLAS, when the build found it; on
   the shapes of small networks it is no faster, and slower left to its own
   threads: docs/speed.md). The environment variable TG_GEMM=builtin|cblas
   sets the starting choice.
   tg_gemm_set_backend returns TG_OK, or an error if that path is not built.
   The built-in kernel packs into a 224 KiB buffer per thread, allocated on
   that thread's first product and freed when the thread ends, so that it
   runs on threads with small stacks (it falls back to the stack only if
   that allocation fails). @{ */
TG_API const char *tg_gemm_backend(void);
TG_API int tg_gemm_set_backend(const char *name);
/** @} */

/** Threads used by the library's own kernels: the built-in GEMM splits each
   large product between them (the cblas path keeps OpenBLAS's own setting,
   OPENBLAS_NUM_THREADS). 1 by default, or the environment variable
   TG_NUM_THREADS. n in [1, 64]; returns TG_OK or TG_ERR_INVALID. Worker
   threads start on first use and are kept for the life of the process.
   An environment variable the library cannot follow (TG_GEMM,
   TG_GEMM_KERNEL, TG_NUM_THREADS) is reported once on stderr, with the
   setting used instead.

   Your own threads: each tape belongs to one thread at a time; different
   tapes run on different threads at once, and may read the same tg_params
   (forward passes, tg_grad: neither writes a parameter). Two backward
   passes adding into the same parameters' .grad at once, or an optimizer
   step while another thread reads them, are races: give each thread a
   tg_params, or use tg_grad. So is a forward in training mode through a
   layer that updates buffers of the shared tg_params: batch norm
   (tg_batchnorm_forward, tg_batch_norm with running statistics) writes its
   running statistics and num_batches_tracked. Share a model with batch
   norm between threads in evaluation mode only (tg_params_set_training
   false), or give each thread its own. The library's settings (these functions, the
   GEMM backend and kernel), the op registry and the error messages of
   tg_last_error (kept per thread) are safe from any thread, first use
   included. While one thread runs a split product, another's runs on its
   own thread (examples/two_threads.c). */
TG_API int tg_set_num_threads(int n);
TG_API int tg_get_num_threads(void); /**< the current setting */
/** The built-in GEMM kernel chosen for this CPU at run time: "avx512",
   "avx2" or "portable" (one binary runs on any x86-64). The library's other
   AVX-512 loops (the convolution's col2im, the float logsumexp) run where it
   is "avx512", so TG_GEMM_KERNEL=avx2 or portable turns them off too. */
TG_API const char *tg_gemm_kernel_name(void);

/* ------------------------------------------------------------ custom ops */

typedef struct tg_op tg_op;

/** The most inputs an op can take. */
#define TG_MAX_INPUTS 8

/** One entry of the tape: op(inputs, attributes) -> output. */
/* (tg_apply in src/core/tape.c sets every field by name, without a
   memset: a field added here needs its line there.) */
typedef struct tg_record {
    const tg_op *op;              /**< what ran */
    int n_in;                     /**< how many inputs */
    tg_tensor *in[TG_MAX_INPUTS]; /**< the inputs (an optional one may be NULL) */
    tg_tensor *out;               /**< the output */
    const void *attr;   /**< a copy of the op's attributes (attr_size bytes) */
    void *saved;        /**< whatever the forward saved for backward, or NULL */
    tg_tape *tape;      /**< the tape it is on */
    int32_t index;      /**< position on the tape */
    int32_t backward_of; /**< -1 for a record of the forward pass; k for a record made
                            by record k's gradient rule (vjp) during a backward pass
                            with create_graph */
    size_t saved_bytes; /**< the size of `saved` (a replay reuses it) */
} tg_record;

/** Op flags. Bits 16 and up are reserved for the library's built-in ops: an
   op of yours must leave them 0 (tg_op_register refuses it otherwise, and so
   does tg_apply, naming the bits, for an op passed to it straight). */
enum {
    TG_OP_ALIAS = 1u << 0,  /**< output shares input 0's data (reshape, views): it
                                 may have no more elements than input 0 (refused) */
    TG_OP_IMPURE = 1u << 1, /**< its forward is not a function of its inputs and
                                 attributes alone (it reads a clock, a file...):
                                 a tape that recorded it refuses to replay */
    TG_OP_CHECK_ON_REPLAY = 1u << 2 /**< its shape rule also checks values that a
                                 replay reads anew, such as the indices of a
                                 tg_index_wrap array: tg_tape_replay calls it
                                 again before the forward and refuses, with its
                                 message, what it refuses (the indexing ops,
                                 embedding and the class losses set it) */
};

/** An operation as data. Built-in ops and user-defined ones are the same
   thing and go through tg_apply().
   - shape:    checks the inputs, writes the output's ndim/shape; on a
               mismatch writes a message (without the op name) into msg and
               returns a tg_status.
   - forward:  fills r->out->data from r->in[i]->data; may save buffers for
               backward with tg_record_save(). Returns TG_OK or a status;
               a forward that fails can say why with tg_record_fail().
   - backward: reads r->out->grad and ADDS into r->in[i]->grad for every
               input whose grad is not NULL (NULL: that input needs none).
               A gradient new in this backward (a released parameter's, or
               one made on the tape) holds zeros when the rule runs. It runs
               with recording off (as PyTorch's backward without
               create_graph): ops it applies compute but record nothing, and
               tg_backward / tg_grad on the same tape from inside it are
               refused (TG_ERR_STATE), as from inside a vjp.
   - vjp:      the same rule written with ops, for backward passes with
               create_graph (higher-order gradients): given g, the gradient
               of r->out as a tensor, it sets dx[i] to the gradient of input
               i, built from tg_ ops on tape t (tg_mul(t, g, ...)), for every
               input that requires grad (r->in[i]->flags & TG_REQUIRES_GRAD);
               dx[i] left NULL adds nothing; a dx[i] of another tape is
               refused. Returns TG_OK or a status. May be
               NULL: the op then works with tg_backward, and create_graph
               refuses it with a message naming it. */
struct tg_op {
    const char *name;      /**< 1..63 characters, no spaces; unique in the registry */
    int n_inputs;          /**< 1..TG_MAX_INPUTS; an optional input may be NULL */
    size_t attr_size;      /**< bytes of the attribute struct, 0 for none */
    unsigned flags;        /**< TG_OP_ALIAS */
    int (*shape)(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS],
                 char *msg, size_t msg_len); /**< checks the inputs, gives the shape */
    int (*forward)(tg_record *r);      /**< computes the output */
    void (*backward)(tg_record *r);    /**< adds into the inputs' gradients */
    const char *doc;       /**< one line: the formula, for listings */
    /** the rule written with ops, for create_graph (see above); may be NULL */
    int (*vjp)(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx);
};

/** Runs `op` on the inputs (n of them, some may be NULL when the op allows it)
   with attributes `attr` (op->attr_size bytes, copied; NULL is refused when
   attr_size > 0), records it when recording is on and an input requires
   grad, and returns the output. NULL on failure (the message is on t).
   Built-in ops found with tg_op_find take private attribute structs: call
   them through their tg_<op> functions. */
TG_API tg_tensor *tg_apply(tg_tape *t, const tg_op *op, tg_tensor *const *in, int n,
                           const void *attr);
/** Memory for a forward pass to keep for backward; freed at reset. */
TG_API void *tg_record_save(tg_record *r, size_t bytes);
/** For a forward that finds its inputs wrong only as it runs (a check
   folded into its loop): the reason, printf-style and without the op's
   name, which the tape's message then gives ("<op>: <reason>", or
   "tg_tape_replay: record i (<op>): <reason>") instead of the status's
   name. Returns `status`, so that a forward can end with
   `return tg_record_fail(r, TG_ERR_INVALID, "...", ...);`. */
TG_API int tg_record_fail(tg_record *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The op registry: every op by name, built-in and user-defined alike.
   A custom op is a tg_op filled by the user (name, n_inputs, attr_size,
   shape, forward, backward, doc) and run with tg_apply, exactly as the
   built-ins run; registering it makes it findable by name and listed with
   them. docs/gradcheck.md has a worked example (swish with a learnable β).
   All functions are thread-safe; the built-ins are registered on first use. */

/** Registers a copy of *op (its name and doc strings are copied too). The
   name must be 1..63 characters without spaces and unique: a duplicate
   (including a built-in's name) is refused with TG_ERR_INVALID and a
   message in tg_last_error(). Also refused: n_inputs outside
   1..TG_MAX_INPUTS, no shape or forward function. backward may be NULL
   (the op is then never recorded). Returns TG_OK or an error status. */
TG_API int tg_op_register(const tg_op *op);
/** Removes a user op from the registry (built-ins are refused). Its copy
   stays valid until the process ends, so tapes that recorded it are safe.
   Returns TG_OK, or TG_ERR_INVALID if no user op has that name. */
TG_API int tg_op_unregister(const char *name);
/** The op registered under `name` ("relu", "matmul", your "swish"), or NULL.
   For a user op this is the registry's copy; pass it to tg_apply. */
TG_API const tg_op *tg_op_find(const char *name);
/** All ops in registration order (built-ins first): i in [0, tg_op_count()).
   tg_op_at returns NULL past the end. @{ */
TG_API size_t tg_op_count(void);
TG_API const tg_op *tg_op_at(size_t i);
/** @} */
/** True for the library's own ops, false for registered user ops. */
TG_API bool tg_op_is_builtin(const tg_op *op);

/** A seeded, portable random number generator: xoshiro256** seeded through
   splitmix64. The same seed gives the same numbers on every machine and in
   both builds (everything is computed in integers and double; the normal
   draws use a logarithm carried by tapegrad, not libm's). The struct is
   public so that it can live on the stack; treat its fields as private.
   A zero-filled tg_rng (never seeded) draws as one seeded with 0.
   Not thread-safe: use one tg_rng per thread. */
typedef struct tg_rng {
    uint64_t s[4];  /**< xoshiro256** state */
    double spare;   /**< the second value of the last normal pair */
    int has_spare;  /**< whether `spare` holds that value */
} tg_rng;

/** (Re)starts the stream from `seed` (any value, 0 included). */
TG_API void tg_rng_seed(tg_rng *r, uint64_t seed);
/** The next 64 random bits. */
TG_API uint64_t tg_rng_next_u64(tg_rng *r);
/** A double uniform in [0, 1) with 53 random bits. */
TG_API double tg_rng_uniform(tg_rng *r);
/** An unbiased integer in [0, n) (0 when n is 0). */
TG_API uint64_t tg_rng_below(tg_rng *r, uint64_t n);
/** A standard normal N(0, 1) draw (Marsaglia's polar method; values come in
   pairs, the second is kept in the struct for the next call). */
TG_API double tg_rng_normal(tg_rng *r);
/** Shuffles idx[0..n) in place (Fisher–Yates, every permutation equally
   likely). To get a random permutation, fill idx with 0..n-1 first. */
TG_API void tg_rng_shuffle(tg_rng *r, int64_t *idx, int64_t n);

#ifdef __cplusplus
}
#endif

#endif /* TAPEGRAD_CORE_H */
