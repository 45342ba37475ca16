/* The core's internal declarations (src/core): errors, the arena, shapes,
   tensors, parameters' gradients, the op tables the registry starts with.
   Every layer above includes it; it includes nothing of theirs. Not installed. */
#ifndef TG_CORE_INTERNAL_H
#define TG_CORE_INTERNAL_H

#include "tapegrad.h"

#ifdef TG_DOUBLE
#include "core/f64_names.h" /* the double build's internal names */
#endif

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
   the instrumented resolver crashes there. A function so marked needs a
   name of its own in the whole library, static or not: Clang gives each
   resolver a global symbol named after the function, so two static
   functions of the same name in two files collide at link time. */
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

/* log(1 + eˣ), softplus's core (softplus, logsigmoid, mish, the BCE with
   logits). The double build: log1p(exp(x)). The float build: e = expf(x),
   then log(1 + e) in double, where 1 + e is exact for e ≥ 2⁻²⁹; below 2⁻²⁴
   the result rounds to e itself, which is returned. 1.47 ulp at most over
   every third float in [−104, 20] against long double (log1pf(expf(x)):
   1.51), in three quarters of its time (glibc's log1pf is the slow part). */
#ifdef TG_DOUBLE
static inline double tg_log1p_exp(double x) { return log1p(exp(x)); }
#else
static inline float tg_log1p_exp(float x)
{
    float e = expf(x);
    return e < 0x1p-24f ? e : (float)log(1.0 + (double)e);
}
#endif

/* ---- errors */

/* Sets the thread's last error (printf-style) and returns `status`. */
int tg_set_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The end of a writer to f: TG_OK, or TG_ERR_IO with "<fn>: write error"
   when a write failed. f is flushed first: a short output still sits in
   stdio's buffer, and its failure would not be seen yet. */
int tg_write_status(FILE *f, const char *fn);
/* For a call given a NULL tape, which has nowhere else to say it: the
   thread's last error "tg_<fn>: the tape is NULL" (fn with or without its
   tg_). Returns NULL. */
void *tg_no_tape(const char *fn);
/* Says on stderr that the environment variable var=value is not understood
   and which setting is used instead (read once, on first use). */
void tg_warn_env(const char *var, const char *value, const char *using, const char *choices);
/* Records the tape's error if it has none yet (the first error wins). */
void tg_tape_set_error(tg_tape *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* For an op given a NULL input: keeps an earlier failure's message, or says
   "tg_<op>: input is NULL". Returns NULL. */
tg_tensor *tg_null_input(tg_tape *t, const char *op);

/* ---- the arena: a chunked bump allocator (chunks 64-byte aligned; each
   block aligned as its allocator below says) */

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

/* A place in the arena to come back to (tg_tape_replay). */
typedef struct tg_arena_mark {
    tg_chunk *chunk;
    size_t used;
} tg_arena_mark;
tg_arena_mark tg_arena_get_mark(const tg_arena *a);
void tg_arena_rewind_to(tg_arena *a, tg_arena_mark m);

void *tg_arena_alloc(tg_arena *a, size_t bytes); /* 64-byte aligned */
/* Tensor values: 64-byte aligned from 64 bytes up, smaller ones to their
   size's power of two (16 at least); align: a power of two up to 64. */
void *tg_arena_alloc_values(tg_arena *a, size_t bytes);
void *tg_arena_alloc_aligned(tg_arena *a, size_t bytes, size_t align);
/* tg_arena_alloc_aligned(a, bytes, 16) for 1..256 bytes, its bump inline
   when the current chunk has room (the same block it would give): the
   tape makes three or four such blocks a record (a tensor struct, its
   op's attributes, a small gradient), and the calls into arena.c were a
   twentieth of recording a graph of scalars. */
static inline void *tg_arena_alloc16(tg_arena *a, size_t bytes)
{
    tg_chunk *c = a->cur;
    if (c && bytes - 1 < 256) {
        size_t at = (c->used + 15) & ~(size_t)15, need = (bytes + 15) & ~(size_t)15;
        if (need <= c->cap - at) { /* at <= cap: cap % 64 == 0 */
            c->used = at + need;
            return c->mem + at;
        }
    }
    return tg_arena_alloc_aligned(a, bytes, 16);
}
void tg_arena_rewind(tg_arena *a);
void tg_arena_release(tg_arena *a);
size_t tg_arena_used(const tg_arena *a);

/* For tests of what the library does when the tape runs out of memory
   (tests/core/test_tape_oom.c): the n-th allocation on t from now fails
   (n = 1: the next), as if the arena could not grow, whatever its size;
   every allocation on the tape (tensors, values, gradients, scratch)
   counts. n = 0 disarms. *hit (hit may be NULL) is set false, and true
   when that failure happens: the caller's, so that it can be read after
   the tape is gone (a tape that tg_gradgradcheck made). */
void tg_tape_fail_alloc(tg_tape *t, int64_t n, bool *hit);
/* Scratch for a forward or a gradient rule whose result depends on having
   it (sums gathered in double, a selected gradient summed down): NULL when
   the tape has no room, and then the op fails with TG_ERR_NOMEM and a
   message naming it (tg_apply and the replay check after each forward, a
   walk of rules at its end), rather than giving other bits by another
   way. The caller returns early on NULL. Scratch whose absence changes no
   result (a second thread's buffer) takes tg_tape_try_alloc instead. */
void *tg_record_scratch(tg_record *r, size_t bytes);
/* tg_tape_alloc without the tape error: for scratch that has a fallback. */
void *tg_tape_try_alloc(tg_tape *t, size_t bytes);
/* tg_tape_alloc whose out-of-memory message names `who` ("tg_cat"), or
   `op`: for a public function's scratch before or after tg_apply (inside
   it, plain tg_tape_alloc names the op being applied). */
void *tg_tape_alloc_named(tg_tape *t, const char *who, size_t bytes);
void *tg_tape_alloc_for_op(tg_tape *t, const tg_op *op, size_t bytes);
/* The tape's own small blocks (arena.c): tensor values and gradients
   (tg_arena_alloc_values), and structs and attributes (16-byte aligned).
   The _try forms set no tape error. */
void *tg_tape_alloc_values(tg_tape *t, size_t bytes);
void *tg_tape_try_alloc_values(tg_tape *t, size_t bytes);
void *tg_tape_alloc_struct(tg_tape *t, size_t bytes);
void *tg_tape_try_alloc_struct(tg_tape *t, size_t bytes);

/* ---- shapes */

/* Normalises a possibly negative axis; false if it is out of range. */
bool tg_axis(int axis, int ndim, int *out);
/* "[2,3]" into buf for messages. */
char *tg_dims_str(int ndim, const int64_t *shape, char *buf, size_t len);
int64_t tg_numel(int ndim, const int64_t *shape);

/* ---- params */

/* Exchanges the whole contents of two registries (their tensors keep their
   addresses). Lets a loader build into a fresh registry and publish it only
   when everything succeeded. */
void tg_params_swap(tg_params *a, tg_params *b);

/* What tg_params_add accepts, for callers that must know before adding
   (tg_linear_layer_init, which adds two): a non-empty UTF-8 name and a
   shape of 0..TG_MAX_DIMS dimensions, each at least 1, whose size in bytes
   fits in int64_t and size_t. TG_OK with *size the element count, or
   TG_ERR_INVALID with a message that starts with `who`. */
int tg_params_check(const char *who, const char *name, int ndim, const int64_t *shape,
                    int64_t *size);

/* The offset of the first byte of s[0..n) that does not start a
   well-formed UTF-8 sequence (RFC 3629), or -1 if there is none. Parameter
   names, and safetensors headers, must be UTF-8. */
long tg_utf8_invalid_at(const unsigned char *s, size_t n);

/* ---- fresh gradients (tg_params_release_grad)

   A released parameter gradient is NULL until backward reaches it; backward
   then points it at its memory in the registry, whose contents are stale,
   and marks it TG_GRAD_FRESH. So is a new gradient on the tape. The first
   rule that reaches a fresh gradient must write it, not add to it: a rule of
   an op flagged TG_OP_WRITES_FRESH (linear, relu, matmul, conv, the arithmetic...)
   checks tg_grad_fresh and writes 0 + value, the bits that zeros and one
   addition give (a −0 becomes +0; products and sums that start from +0 are
   never −0), so that a gradient is the same whoever zeroed it (the replay
   program zeroes and adds); for any other op (user-defined ones among
   them) the engine zeroes the gradient first, so every rule may add, as
   the public contract says.
   The flag is cleared once that rule has run. Both bits are in the range
   (16 and up) that the public header reserves for the library. */
#define TG_GRAD_FRESH (1u << 30)     /* tg_tensor.flags */
#define TG_OP_WRITES_FRESH (1u << 30) /* tg_op.flags */
#define TG_OP_USER_FLAGS 0xFFFFu     /* the tg_op.flags a user op may set */
/* A first-order tg_grad result: a leaf that no record recomputes, so a
   replayable tape that reads it cannot be replayed. */
#define TG_GRAD_RESULT (1u << 29)    /* tg_tensor.flags */
/* A tape tensor whose gradient memory lies below the replay mark (it was
   made before the first replay): replays keep it, marked fresh, instead of
   making a new one after each replay. */
#define TG_GRAD_KEPT (1u << 28)      /* tg_tensor.flags */

static inline bool tg_grad_fresh(const tg_tensor *x)
{
    return x && x->grad && (x->flags & TG_GRAD_FRESH);
}

/* The gradient memory of a parameter in its registry (where grad points
   when it is not released). x must be a tensor of a tg_params. */
tg_real *tg_param_grad_home(const tg_tensor *x);

/* ---- tensors */

/* A fresh tensor struct on the tape with uninitialised data (or none when
   !with_data). NULL on a bad or too large shape or out of memory: the tape
   error names `who` ("tg_zeros", "tg_relu") and the shape. */
tg_tensor *tg_tensor_alloc(tg_tape *t, const char *who, int ndim, const int64_t *shape,
                           bool with_data);
/* The element count of a shape into *numel; false when a dimension is
   negative or the nonzero dimensions' product, in bytes, overflows. */
bool tg_shape_numel(int ndim, const int64_t *shape, int64_t *numel);
/* True when x may be used on t: a parameter, or a tensor of t made since
   its last reset (an op's output must still be its record's). */
bool tg_tensor_usable(const tg_tape *t, const tg_tensor *x);
/* The tape's generation: its count of resets. */
uint32_t tg_tape_generation(const tg_tape *t);
/* Whether t records replayable (tg_tape_set_replayable): a vjp that would
   choose its graph by the values it sees (prod's, with or without zeros)
   takes the form that holds for every value, since a replay brings new
   ones. */
bool tg_tape_replayable(const tg_tape *t);
/* Whether t checks every op's output for NaN and Inf (tg_tape_set_anomaly). */
bool tg_tape_anomaly(const tg_tape *t);
/* True when an index array belongs to t and was made since its last reset
   (an op checks it before reading the indices). */
bool tg_index_usable(const tg_tape *t, const tg_index *x);
/* Why x is not usable on t, for messages ("is from before tg_tape_reset ..."). */
const char *tg_unusable_why(const tg_tape *t, const tg_tensor *x);

/* ---- compact replay (src/core/program.c)

   A replay runs each record through its op's forward, which reads the
   record and its tensors' structs; on small tensors that bookkeeping, not
   the arithmetic, is the time (the scalar graph replayed through the
   records: 45 ns a record; a hand-written loop over the same ops: 6). A
   built-in op may therefore give its records, when their shapes allow, a
   compact form: two functions over plain pointers that compute exactly
   what its forward and backward compute (the same expressions, or the same
   helper called), which the replay program calls instead. */
typedef struct tg_small tg_small;
typedef void (*tg_small_fn)(const tg_small *s);
struct tg_small {
    tg_small_fn fwd;        /* y from x; NULL: the record runs its op's forward */
    tg_small_fn bwd;        /* gx[k] += ∂y/∂x_k·gy where gx[k]; NULL: the op's backward */
    union {
        const void *attr;   /* the record's attributes (or what the op kept) */
        double scale;       /* or a constant the op chose at compile time */
    };
    tg_real *y, *gy;        /* the output's values and gradient */
    tg_real **x;            /* [n_in] the inputs' values, then [n_in] their
                               gradients or NULL (tg_small_gx) */
    int32_t n;              /* the output's element count */
    int32_t m;              /* a length or offset the op chose (a row, a position) */
    int32_t n_in;
};
/* The inputs' gradients of an instruction, NULL where none is needed. */
static inline tg_real **tg_small_gx(const tg_small *s) { return s->x + s->n_in; }
/* Fills fwd, bwd, attr or scale, and m of s for record r when r's op has a
   compact form for r's shapes (n, at most INT32_MAX, and n_in are already
   set; an op may lower n_in to the inputs it reads); false otherwise.
   Each op family answers for its own ops (src/ops/ops.c). */
bool tg_small_compile(const tg_record *r, tg_small *s);

/* ---- the built-in ops, for the registry

   The op families (src/ops) each expose a table of their ops; src/ops/ops.c
   lists the tables. The registry starts with them: it knows them as data,
   never an op by name. */
typedef struct tg_op_table {
    const tg_op *const *ops;
    size_t n;
} tg_op_table;

extern const tg_op_table *const tg_builtin_op_tables[]; /* src/ops/ops.c */
extern const size_t tg_builtin_op_table_count;
/* Only ops in those tables (tg_op_is_builtin) may set the tg_op.flags bits
   outside TG_OP_USER_FLAGS; tg_apply refuses any other that does. */

#endif
