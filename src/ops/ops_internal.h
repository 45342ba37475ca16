/* Internal declarations shared by the op families (src/ops): broadcasting,
   shape functions and the tables of built-in ops. Not installed. */
#ifndef TG_OPS_INTERNAL_H
#define TG_OPS_INTERNAL_H

#include "core/internal.h"

/* tg_batch_norm with nn.BatchNorm's batch counter (count: [1] or [], its
   num_batches_tracked, or NULL): in training with running statistics the
   op adds 1 to it, and with cumulative the momentum is 1/(count + 1), the
   cumulative average; counted by the op's forward, so a replay counts too
   (nn/layers.c). */
tg_tensor *tg_batch_norm_counted(tg_tape *t, tg_tensor *x, tg_tensor *running_mean,
                                 tg_tensor *running_var, tg_tensor *weight, tg_tensor *bias,
                                 bool training, double momentum, double eps, tg_tensor *count,
                                 bool cumulative);

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
/* the same for two shapes given as dimensions (na of a, nb of b) */
int tg_broadcast_dims(int na, const int64_t *a, int nb, const int64_t *b, int *ndim,
                      int64_t *shape);
/* Fills the strides of a and b for the output shape `out`. */
void tg_bcast_init(tg_bcast *bc, const tg_tensor *a, const tg_tensor *b, const tg_tensor *out);

/* Calls fn(ia, ib, io, n, inner_sa, inner_sb, ctx) for each run of the last
   axis: io walks the output contiguously, ia/ib are the first offsets of a
   and b with the strides given along the run. */
typedef void (*tg_bcast_fn)(int64_t ia, int64_t ib, int64_t io, int64_t n, int64_t sa,
                            int64_t sb, void *ctx);
void tg_bcast_each(const tg_bcast *bc, tg_bcast_fn fn, void *ctx);

/* ---- op helpers shared by the op families */

/* Products in double of many floats (prod, cumprod) run into double's
   subnormal range long before their float results are lost (2048 factors
   near 0.5), and on Intel's cores every product with a subnormal operand or
   result takes a microcode assist (prod along the rows of [2048, 2048]:
   8.7 ms against 5.7 over all its values, where the products reach 0 and
   stay there; a test of each product against 2⁻⁶⁰⁰ cost more than the
   assists). Between tg_ftz_begin and tg_ftz_end the float build flushes
   subnormal results to zero (MXCSR's FTZ bit on x86; inputs are untouched,
   and the exception flags are kept): a double below 2⁻¹⁰²² is 0 as a
   float anyway, short of eight factors of 2¹²⁸ bringing it back. No float
   result may be formed in between (a float subnormal would be flushed
   too), and nothing else runs there. n is the number of products to come:
   under 1024 the state is left alone (two writes of MXCSR cost more than
   a few assists). The double build, whose results can be that small, and
   other machines leave the state as it is. */
#define TG_FTZ_NONE 0xffffffffu /* MXCSR's reserved high bits are 0: never a state */
#if !defined(TG_DOUBLE) && (defined(__x86_64__) || defined(__i386__))
#include <xmmintrin.h>
static inline unsigned tg_ftz_begin(int64_t n)
{
    if (n < 1024) return TG_FTZ_NONE;
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8000u);
    return csr;
}
static inline void tg_ftz_end(unsigned csr)
{
    if (csr != TG_FTZ_NONE) _mm_setcsr((_mm_getcsr() & ~0x8000u) | (csr & 0x8000u));
}
#else
static inline unsigned tg_ftz_begin(int64_t n) { (void)n; return TG_FTZ_NONE; }
static inline void tg_ftz_end(unsigned csr) { (void)csr; }
#endif

/* Shape function of an element-wise op with one input: out = shape of in[0]. */
int tg_shape_same(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                  size_t len);
/* Shape function of a broadcasting binary op. */
int tg_shape_bcast(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                   size_t len);

/* Accumulates g (shape of out) into dx (shape of x) summing over the axes
   that broadcasting expanded (in double, with scratch from r's tape:
   without it, nothing, and r's op or rule fails, tg_record_scratch). */
void tg_reduce_broadcast_add(tg_record *r, tg_real *dx, const tg_tensor *x, const tg_real *g,
                             const tg_tensor *out);

/* ---- binary element-wise ops with broadcasting: BIN_FORWARD(NAME, EXPR)
   defines NAME##_forward computing y = EXPR from tg_real a and b. */
typedef struct {
    const tg_real *a, *b, *g, *y; /* inputs, output gradient, output */
    tg_real *o, *da, *db;         /* output or input gradients */
    double *acc_a, *acc_b;        /* a broadcast input's gradient, summed in double */
} bin_ctx;

#define BIN_FORWARD(NAME, EXPR)                                                          \
    static void NAME##_run(int64_t ia, int64_t ib, int64_t io, int64_t n, int64_t sa,   \
                           int64_t sb, void *c)                                          \
    {                                                                                    \
        bin_ctx *k = c;                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                \
            tg_real a = k->a[ia + i * sa], b = k->b[ib + i * sb];                        \
            k->o[io + i] = (EXPR);                                                       \
        }                                                                                \
    }                                                                                    \
    static int NAME##_forward(tg_record *r)                                              \
    {                                                                                    \
        tg_bcast bc;                                                                     \
        tg_bcast_init(&bc, r->in[0], r->in[1], r->out);                                  \
        bin_ctx k = {.a = r->in[0]->data, .b = r->in[1]->data, .o = r->out->data};       \
        tg_bcast_each(&bc, NAME##_run, &k);                                              \
        return TG_OK;                                                                    \
    }

/* ---- accurate sums (src/ops/sum.c): in double, in blocks, for every
   reduction of the library in either precision. */

/* Σ_k x[k·stride] for k < n. */
double tg_sum_strided(const tg_real *x, int64_t n, int64_t stride);
/* The largest (min: smallest) of x[0..n), NaN if any is NaN, −inf (+inf)
   for none: amax's vectorised loop (src/ops/reduce.c). */
tg_real tg_extreme_of(const tg_real *x, int64_t n, bool min);
/* Σ e^(x[i] − shift) for i < n in double, vectorised (src/ops/stats.c);
   in the float build x − shift must be ≤ 0 (the shift a maximum). */
double tg_exp_sum(const tg_real *x, int64_t n, double shift);
/* acc[i] += Σ_k x[k·stride + i] for i < m and k < rows, in double (vectorised) */
void tg_sum_add_rows(double *acc, const tg_real *x, int64_t rows, int64_t stride, int64_t m);
/* y[i] = scale·Σ_k x[k·stride + i] for i < m and k < rows (the sum over the
   rows of a matrix with row stride `stride`), or y[i] += that with `add`. */
void tg_sum_rows(tg_real *y, const tg_real *x, int64_t rows, int64_t m, int64_t stride,
                 double scale, bool add);

/* ---- indices (src/ops/index.c), for the ops that index rows of a table */

/* Checks an index array of an op on tape t: usable there (NULL, another
   tape's or one from before a reset is refused) and every index in [0, n)
   of `axis`; the message names the index, its position and the axis.
   TG_OK or an error status with the message in msg. */
int tg_index_check(const tg_tape *t, const tg_index *idx, int axis, int64_t n, char *msg,
                   size_t len);
/* dst [n, inner] row index[j] += src [k, inner] row j for every j < k;
   rows that several j add to are summed in double (scratch from r's tape:
   without it, nothing, and r's op or rule fails, tg_record_scratch). */
void tg_index_add_rows(tg_record *r, tg_real *dst, const tg_real *src, int64_t n, int64_t inner,
                       const int64_t *index, int64_t k);

/* ---- copies larger than the cache (src/ops/ops.c)

   Outputs of at least TG_STREAM_BYTES are written around the caches, as
   memcpy writes a copy larger than the cache: a normal store first reads
   each destination line in, a third stream of memory traffic beside the
   source and the destination, and on an output larger than the last-level
   cache the lines are gone before anyone reads them. tg_stream_copy copies
   n values so, when dst is 16-byte aligned and the bytes a multiple of 16
   (SSE2's streaming stores), and returns false, having copied nothing,
   otherwise; tg_stream_fence, after the last, orders them before what
   follows. Bytes are copied as they are. */
#define TG_STREAM_BYTES ((int64_t)32 << 20)
bool tg_stream_copy(tg_real *dst, const tg_real *src, int64_t n);
void tg_stream_fence(void);

/* ---- compact forms for the replay program (tg_small_compile, core/internal.h):
   a family lists its ops' pairs of functions and answers for its records. */
typedef struct tg_small_entry {
    const tg_op *op;
    tg_small_fn fwd, bwd;
} tg_small_entry;
/* The entry of r's op among e[0..n), or NULL. */
const tg_small_entry *tg_small_find(const tg_record *r, const tg_small_entry *e, size_t n);
bool tg_arith_small(const tg_record *r, tg_small *s);      /* src/ops/arith.c */
bool tg_activation_small(const tg_record *r, tg_small *s); /* src/ops/activation.c */
bool tg_reduce_small(const tg_record *r, tg_small *s);     /* src/ops/reduce.c */
bool tg_join_small(const tg_record *r, tg_small *s);       /* src/ops/join.c */
bool tg_index_small(const tg_record *r, tg_small *s);      /* src/ops/index.c */

/* The table of each family (src/ops/ops.c lists them for the registry). */
extern const tg_op_table tg_arith_ops;      /* src/ops/arith.c */
extern const tg_op_table tg_reduce_ops;     /* src/ops/reduce.c */
extern const tg_op_table tg_shape_ops;      /* src/ops/shape.c */
extern const tg_op_table tg_linalg_ops;     /* src/ops/linalg.c */
extern const tg_op_table tg_activation_ops; /* src/ops/activation.c */
extern const tg_op_table tg_loss_ops;       /* src/ops/loss.c */
extern const tg_op_table tg_compare_ops;    /* src/ops/compare.c */
extern const tg_op_table tg_index_ops;      /* src/ops/index.c */
extern const tg_op_table tg_join_ops;       /* src/ops/join.c */
extern const tg_op_table tg_math_ops;       /* src/ops/math.c */
extern const tg_op_table tg_embedding_ops;  /* src/ops/embedding.c */
extern const tg_op_table tg_recurrent_ops;  /* src/ops/recurrent.c */
extern const tg_op_table tg_conv_ops;       /* src/ops/conv.c */
extern const tg_op_table tg_pool_ops;       /* src/ops/pool.c */
extern const tg_op_table tg_norm_ops;       /* src/ops/norm.c */
extern const tg_op_table tg_dropout_ops;    /* src/ops/dropout.c */

#endif
