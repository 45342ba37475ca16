/* Internal declarations shared by the library's sources. Not installed. */
#ifndef TG_INTERNAL_H
#define TG_INTERNAL_H

#include "tapegrad.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#define TG_ALIGN 64
#define TG_MSG_LEN 512

/* TG_VECTOR_LOOP before a function compiles it three times, for AVX-512,
   AVX2 and plain x86-64, and the loader picks the best the CPU has (GCC and
   Clang function multi-versioning, an ifunc), so a library built for any
   x86-64 still runs its hot element-wise loops on the widest vectors. Only
   for loops whose every element is computed on its own: each result is then
   the same whatever the vector width (-std=c11 keeps a*b+c from being fused
   into one FMA). Elsewhere it is empty and the loops are compiled once.
   Under ThreadSanitizer too: the loader runs an ifunc's resolver while it
   relocates the program, before the sanitizer's runtime has started, and
   the instrumented resolver crashes there. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TG_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define TG_TSAN 1
#endif
#if defined(__x86_64__) && defined(__GLIBC__) && !defined(TG_TSAN) &&                         \
    (defined(__clang__) ? __clang_major__ >= 14 : __GNUC__ >= 6)
#define TG_VECTOR_LOOP __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TG_VECTOR_LOOP
#endif

#ifdef TG_DOUBLE
#define TG_EXP exp
#define TG_LOG log
#define TG_SQRT sqrt
#define TG_POW pow
#define TG_FABS fabs
#define TG_TANH tanh
#define TG_ERF erf
#define TG_EXPM1 expm1
#define TG_LOG1P log1p
#define TG_FMAX fmax
#define TG_FMIN fmin
#else
#define TG_EXP expf
#define TG_LOG logf
#define TG_SQRT sqrtf
#define TG_POW powf
#define TG_FABS fabsf
#define TG_TANH tanhf
#define TG_ERF erff
#define TG_EXPM1 expm1f
#define TG_LOG1P log1pf
#define TG_FMAX fmaxf
#define TG_FMIN fminf
#endif

/* ---- errors */

/* Sets the thread's last error (printf-style) and returns `status`. */
int tg_set_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records the tape's error if it has none yet (the first error wins). */
void tg_tape_set_error(tg_tape *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* For an op given a NULL input: keeps an earlier failure's message, or says
   "tg_<op>: input is NULL". Returns NULL. */
tg_tensor *tg_null_input(tg_tape *t, const char *op);

/* ---- the arena: a chunked bump allocator, 64-byte aligned */

typedef struct tg_chunk {
    struct tg_chunk *next;
    size_t cap;   /* bytes of mem */
    size_t used;
    unsigned char *mem;
} tg_chunk;

typedef struct tg_arena {
    tg_chunk *first, *cur;
    size_t n_chunks, reserved;
    size_t *heap_allocs; /* counter owned by the tape */
} tg_arena;

void *tg_arena_alloc(tg_arena *a, size_t bytes);
void tg_arena_rewind(tg_arena *a);
void tg_arena_release(tg_arena *a);
size_t tg_arena_used(const tg_arena *a);

/* tg_tape_alloc without the tape error: for scratch that has a fallback. */
void *tg_tape_try_alloc(tg_tape *t, size_t bytes);

/* ---- shapes */

/* Normalises a possibly negative axis; false if it is out of range. */
bool tg_axis(int axis, int ndim, int *out);
/* "[2,3]" into buf for messages. */
char *tg_dims_str(int ndim, const int64_t *shape, char *buf, size_t len);
int64_t tg_numel(int ndim, const int64_t *shape);

/* ---- broadcasting: for an output shape, each input's element strides
   (0 along broadcast axes), all right-aligned to the output's ndim. */

typedef struct tg_bcast {
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    int64_t sa[TG_MAX_DIMS], sb[TG_MAX_DIMS]; /* strides of a and b in elements */
} tg_bcast;

/* NumPy's rule: dims are right-aligned and must be equal or 1. Writes the
   output shape. Returns TG_OK or TG_ERR_SHAPE. */
int tg_broadcast_shape(const tg_tensor *a, const tg_tensor *b, int *ndim, int64_t *shape);
/* Fills the strides of a and b for the output shape `out`. */
void tg_bcast_init(tg_bcast *bc, const tg_tensor *a, const tg_tensor *b, const tg_tensor *out);

/* Calls fn(ia, ib, io, n, inner_sa, inner_sb, ctx) for each run of the last
   axis: io walks the output contiguously, ia/ib are the first offsets of a
   and b with the strides given along the run. */
typedef void (*tg_bcast_fn)(int64_t ia, int64_t ib, int64_t io, int64_t n, int64_t sa,
                            int64_t sb, void *ctx);
void tg_bcast_each(const tg_bcast *bc, tg_bcast_fn fn, void *ctx);

/* ---- GEMM: C = alpha·op(A)·op(B) + beta·C, row-major, op(X) = X or Xᵀ.
   op(A) is [M,K], op(B) is [K,N], C is [M,N]. With beta = 0, C need not be
   initialised. One entry point for every matrix product in the library. */
void tg_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, tg_real alpha,
             const tg_real *A, int64_t lda, const tg_real *B, int64_t ldb, tg_real beta,
             tg_real *C, int64_t ldc);

/* C = alpha·op(A)·op(B) + beta·C summed as two halves of K, in that order:
   the product over k < K/2 is added to C, then the product over the rest.
   With two or more threads (built-in backend, a large enough product) the
   halves run at the same time, the caller's into C and the other into
   `scratch` ([M, N] with ldc, uninitialised), which is then added to C;
   without scratch, or on one thread, they run one after the other. The
   same bits either way, but not the bits of tg_gemm (its sums do not stop
   halfway). For dx = dy·W: each thread reads only the half of W's rows
   that the optimizer's split gives it, so no row of W is read by both. */
void tg_gemm_ksplit(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, tg_real alpha,
                    const tg_real *A, int64_t lda, const tg_real *B, int64_t ldb, tg_real beta,
                    tg_real *C, int64_t ldc, tg_real *scratch);

/* ---- params */

/* Exchanges the whole contents of two registries (their tensors keep their
   addresses). Lets a loader build into a fresh registry and publish it only
   when everything succeeded. */
void tg_params_swap(tg_params *a, tg_params *b);

/* ---- fresh gradients (tg_params_release_grad)

   A released parameter gradient is NULL until backward reaches it; backward
   then points it at its memory in the registry, whose contents are stale,
   and marks it TG_GRAD_FRESH. So is a new gradient on the tape. The first
   rule that reaches a fresh gradient must write it, not add to it: a rule of
   an op flagged TG_OP_WRITES_FRESH (linear, relu) checks tg_grad_fresh and
   writes; for any other op (user-defined ones among them) the engine zeroes
   the gradient first, so every rule may add, as the public contract says.
   The flag is cleared once that rule has run. Both bits are in the range
   (16 and up) that the public header reserves for the library. */
#define TG_GRAD_FRESH (1u << 30)     /* tg_tensor.flags */
#define TG_OP_WRITES_FRESH (1u << 30) /* tg_op.flags */
#define TG_OP_USER_FLAGS 0xFFFFu     /* the tg_op.flags a user op may set */

static inline bool tg_grad_fresh(const tg_tensor *x)
{
    return x && x->grad && (x->flags & TG_GRAD_FRESH);
}

/* The gradient memory of a parameter in its registry (where grad points
   when it is not released). x must be a tensor of a tg_params. */
tg_real *tg_param_grad_home(const tg_tensor *x);

/* ---- tensors */

/* A fresh tensor struct on the tape with uninitialised data (NULL if out of
   memory: the tape error says so). */
tg_tensor *tg_tensor_alloc(tg_tape *t, int ndim, const int64_t *shape, bool with_data);

/* ---- op helpers shared by the op families */

/* Shape function of an element-wise op with one input: out = shape of in[0]. */
int tg_shape_same(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                  size_t len);
/* Shape function of a broadcasting binary op. */
int tg_shape_bcast(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                   size_t len);

/* Accumulates g (shape of out) into dx (shape of x) summing over the axes
   that broadcasting expanded. */
void tg_reduce_broadcast_add(tg_real *dx, const tg_tensor *x, const tg_real *g,
                             const tg_tensor *out);

/* The built-in op tables, for the registry: each family exposes its entries. */
typedef struct tg_op_table {
    const tg_op *const *ops;
    size_t n;
} tg_op_table;

/* The tables the op registry (src/registry.c) starts with. */
extern const tg_op_table tg_arith_ops;      /* src/ops_arith.c */
extern const tg_op_table tg_reduce_ops;     /* src/ops_reduce.c */
extern const tg_op_table tg_shape_ops;      /* src/ops_shape.c */
extern const tg_op_table tg_linalg_ops;     /* src/ops_linalg.c */
extern const tg_op_table tg_activation_ops; /* src/ops_activation.c */
extern const tg_op_table tg_loss_ops;       /* src/ops_loss.c */
/* Only ops in those tables (tg_op_is_builtin) may set the tg_op.flags bits
   outside TG_OP_USER_FLAGS; tg_apply refuses any other that does. */

#endif
