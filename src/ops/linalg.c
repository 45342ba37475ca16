/* Linear algebra: matmul (any batch dimensions, broadcasting; 1-D operands),
   dot, outer and linear (x @ Wᵀ + b).
   Every product goes through tg_gemm, which reads transposed operands in
   place: no transpose is ever materialised. */
#include "ops/ops_internal.h"
#include "gemm/gemm.h" /* tg_gemm, tg_threads_count */

/* ------------------------------------------------------------------ matmul */

/* The matmul op proper takes operands of at least 2 dimensions and two
   flags, C = op_a(A)·op_b(B) with op(X) = X or Xᵀ (of the last two
   dimensions, read in place by the GEMM: no transpose is ever copied):
   [..., M, K] @ [..., K, N] -> [..., M, N], whose batch dimensions (all
   but the last two) broadcast as NumPy's. tg_matmul has both flags off and
   views a 1-D operand as a row [1, K] or a column [K, 1], dropping that
   dimension from the result (torch.matmul); the gradient rules use the
   flags. The batch is walked with each operand's offset; a matrix B shared
   by the whole batch (and A not transposed) makes it one product
   [batch·M, K] @ [K, N]. */
typedef struct {
    bool ta, tb;
} mm_attr;

typedef struct {
    int nb;                       /* batch dimensions of the output */
    int64_t bshape[TG_MAX_DIMS];  /* their sizes */
    int64_t sa[TG_MAX_DIMS], sb[TG_MAX_DIMS]; /* each operand's matrix stride per batch dim (0: repeated) */
    int64_t batch, M, K, N;
    int64_t lda, ldb;             /* the operands' row lengths as stored */
    bool ta, tb;
    bool shared_b; /* B has no batch (or all of size 1) and A is not transposed: one product */
} mm_dims;

/* false when the shapes do not fit (rank < 2, inner sizes, batch dims) */
static bool mm_dims_of(const tg_tensor *a, const tg_tensor *b, mm_attr f, mm_dims *d)
{
    if (a->ndim < 2 || b->ndim < 2) return false;
    int64_t a0 = a->shape[a->ndim - 2], a1 = a->shape[a->ndim - 1];
    int64_t b0 = b->shape[b->ndim - 2], b1 = b->shape[b->ndim - 1];
    d->ta = f.ta, d->tb = f.tb;
    d->M = f.ta ? a1 : a0, d->K = f.ta ? a0 : a1;
    d->N = f.tb ? b0 : b1;
    d->lda = a1, d->ldb = b1;
    if ((f.tb ? b1 : b0) != d->K) return false;
    int na = a->ndim - 2, nbb = b->ndim - 2;
    d->nb = na > nbb ? na : nbb;
    d->batch = 1;
    int64_t stra = a0 * a1, strb = b0 * b1;
    d->shared_b = !f.ta;
    for (int i = d->nb - 1; i >= 0; i--) {
        int ia = na - d->nb + i, ib = nbb - d->nb + i;
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) return false;
        d->bshape[i] = da == 1 ? db : da;
        d->sa[i] = da == 1 ? 0 : stra;
        d->sb[i] = db == 1 ? 0 : strb;
        if (db != 1) d->shared_b = false;
        stra *= da, strb *= db; /* within a's and b's own sizes */
        /* [2^40, 1, ..] and [1, 2^40, ..] broadcast past int64: saturated
           here, the output's shape is then refused as too large */
        if (__builtin_mul_overflow(d->batch, d->bshape[i], &d->batch)) d->batch = INT64_MAX;
    }
    /* one product [batch·M, K] @ op(B) also needs A laid out over the whole batch */
    if (d->shared_b)
        for (int i = 0; i < d->nb; i++)
            if (d->bshape[i] != 1 && d->sa[i] == 0) d->shared_b = false;
    return true;
}

static mm_attr mm_flags(const tg_record *r)
{
    return r->attr ? *(const mm_attr *)r->attr : (mm_attr){false, false};
}

static int matmul_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    const tg_tensor *a = r->in[0], *b = r->in[1];
    if (!b) {
        snprintf(msg, len, "input 1 is NULL");
        return TG_ERR_INVALID;
    }
    char sa[128], sb[128];
    tg_shape_str(a, sa, sizeof sa);
    tg_shape_str(b, sb, sizeof sb);
    mm_dims d;
    mm_attr f = mm_flags(r);
    if (!mm_dims_of(a, b, f, &d)) {
        if (a->ndim < 2 || b->ndim < 2)
            snprintf(msg, len, "needs [..., M, K] @ [..., K, N], got %s @ %s", sa, sb);
        else if ((f.tb ? b->shape[b->ndim - 1] : b->shape[b->ndim - 2]) !=
                 (f.ta ? a->shape[a->ndim - 2] : a->shape[a->ndim - 1]))
            snprintf(msg, len, "inner dimensions differ: %s%s @ %s%s", sa, f.ta ? "ᵀ" : "", sb,
                     f.tb ? "ᵀ" : "");
        else
            snprintf(msg, len, "batch dimensions cannot be broadcast together: %s @ %s", sa, sb);
        return TG_ERR_SHAPE;
    }
    *ndim = d.nb + 2;
    for (int i = 0; i < d.nb; i++) shape[i] = d.bshape[i];
    shape[d.nb] = d.M, shape[d.nb + 1] = d.N;
    return TG_OK;
}

/* Runs BODY for each matrix i of the batch with the offsets oa and ob of
   its operands. */
#define MM_EACH(d, BODY)                                                                 \
    do {                                                                                 \
        int64_t idx_[TG_MAX_DIMS] = {0}, oa = 0, ob = 0;                                 \
        for (int64_t i = 0; i < (d).batch; i++) {                                        \
            BODY;                                                                        \
            for (int k_ = (d).nb - 1; k_ >= 0; k_--) {                                   \
                oa += (d).sa[k_], ob += (d).sb[k_];                                      \
                if (++idx_[k_] < (d).bshape[k_]) break;                                  \
                oa -= (d).sa[k_] * (d).bshape[k_], ob -= (d).sb[k_] * (d).bshape[k_];    \
                idx_[k_] = 0;                                                            \
            }                                                                            \
        }                                                                                \
    } while (0)

/* C = op_a(A)·op_b(B).  With a shared B, [..., M, K] is one [batch·M, K] matrix. */
static int matmul_forward(tg_record *r)
{
    mm_dims d;
    mm_dims_of(r->in[0], r->in[1], mm_flags(r), &d);
    const tg_real *A = r->in[0]->data, *B = r->in[1]->data; /* as stored */
    tg_real *C = r->out->data;                              /* [batch, M, N] */
    if (r->out->size == 0) return TG_OK; /* not 2^40 products of [0, K] (a stride of 0) */
    if (d.K == 0) {
        memset(C, 0, (size_t)r->out->size * sizeof(tg_real));
        return TG_OK;
    }
    if (d.shared_b) {
        tg_gemm(false, d.tb, d.batch * d.M, d.N, d.K, 1, A, d.lda, B, d.ldb, 0, C, d.N);
        return TG_OK;
    }
    MM_EACH(d, tg_gemm(d.ta, d.tb, d.M, d.N, d.K, 1, A + oa, d.lda, B + ob, d.ldb, 0,
                       C + i * d.M * d.N, d.N));
    return TG_OK;
}

/* C = A·B      dA += dC·Bᵀ      dB += Aᵀ·dC
   (why: C_ij = Σ_k A_ik B_kj, so ∂L/∂A_ik = Σ_j dC_ij B_kj = (dC·Bᵀ)_ik, and
   ∂L/∂B_kj = Σ_i A_ik dC_ij = (Aᵀ·dC)_kj). With the flags, C = op_a(A)·op_b(B):
   d op_a(A) = dC·op_b(B)ᵀ, stored transposed when ta (dA = op_b(B)·dCᵀ), and
   d op_b(B) = op_a(A)ᵀ·dC, stored transposed when tb (dB = dCᵀ·op_a(A)). An
   operand repeated over a batch dimension gets the sum over it, which the
   products add up with beta = 1. */
static void mm_grads(const mm_dims *d, const tg_real *A, const tg_real *B, const tg_real *dC,
                     tg_real *dA, tg_real *dB, int64_t M, tg_real beta_a, tg_real beta_b)
{
    int64_t N = d->N, K = d->K;
    if (dA) {
        if (!d->ta) tg_gemm(false, !d->tb, M, K, N, 1, dC, N, B, d->ldb, beta_a, dA, d->lda);
        else tg_gemm(d->tb, true, K, M, N, 1, B, d->ldb, dC, N, beta_a, dA, d->lda);
    }
    if (dB) {
        if (!d->tb) tg_gemm(!d->ta, false, K, N, M, 1, A, d->lda, dC, N, beta_b, dB, d->ldb);
        else tg_gemm(true, d->ta, N, K, M, 1, dC, N, A, d->lda, beta_b, dB, d->ldb);
    }
}

/* Whether each matrix of x's gradient is reached by one product only: x is
   not repeated over a batch dimension (stride 0 there, s the strides). */
static bool mm_once(const mm_dims *d, const int64_t *s)
{
    for (int i = 0; i < d->nb; i++)
        if (d->bshape[i] > 1 && s[i] == 0) return false;
    return true;
}

/* A fresh gradient (TG_OP_WRITES_FRESH) is written, not added to: the
   products run with beta = 0 where each of its matrices is reached once
   (with a shared B, B's by one product and A's rows by it too); an operand
   repeated over the batch gets zeros first, then the sum as before. */
static tg_real mm_beta(tg_tensor *x, bool once)
{
    if (!tg_grad_fresh(x)) return 1;
    if (once) return 0;
    memset(x->grad, 0, (size_t)x->size * sizeof(tg_real));
    return 1;
}

static void matmul_backward(tg_record *r)
{
    mm_dims d;
    mm_dims_of(r->in[0], r->in[1], mm_flags(r), &d);
    const tg_real *A = r->in[0]->data, *B = r->in[1]->data, *dC = r->out->grad;
    tg_real *dA = r->in[0]->grad, *dB = r->in[1]->grad;
    tg_real ba = dA ? mm_beta(r->in[0], d.shared_b || mm_once(&d, d.sa)) : 1;
    tg_real bb = dB ? mm_beta(r->in[1], d.shared_b || mm_once(&d, d.sb)) : 1;
    /* K = 0: op(A)·op(B) is zeros, and dA, dB have no elements */
    if (d.K == 0) return;
    /* an empty C: each gradient is a sum of nothing, zeros where written
       fresh (not 2^40 products of [0, K]) */
    if (r->out->size == 0) {
        if (dA && ba == 0) memset(dA, 0, (size_t)r->in[0]->size * sizeof(tg_real));
        if (dB && bb == 0) memset(dB, 0, (size_t)r->in[1]->size * sizeof(tg_real));
        return;
    }
    if (d.shared_b) {
        mm_grads(&d, A, B, dC, dA, dB, d.batch * d.M, ba, bb);
        return;
    }
    MM_EACH(d, mm_grads(&d, A + oa, B + ob, dC + i * d.M * d.N, dA ? dA + oa : NULL,
                        dB ? dB + ob : NULL, d.M, ba, bb));
}

static tg_tensor *mm_t(tg_tape *t, tg_tensor *a, tg_tensor *b, bool ta, bool tb);

/* The same rules with ops and flags (no transpose copied); an operand
   repeated over the batch gets its gradient summed down to its shape. */
static int matmul_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *A = r->in[0], *B = r->in[1];
    mm_attr f = mm_flags(r);
    mm_dims d = {0};
    mm_dims_of(A, B, f, &d);
    if (A->flags & TG_REQUIRES_GRAD) {
        tg_tensor *ga = f.ta ? mm_t(t, B, g, f.tb, true) : mm_t(t, g, B, false, !f.tb);
        dx[0] = tg_sum_to(t, ga, A->ndim, A->shape);
    }
    if (!(B->flags & TG_REQUIRES_GRAD)) return TG_OK;
    if (d.shared_b) { /* [batch·M, K] and [batch·M, N]: one product */
        tg_tensor *A2 = tg_reshape(t, A, TG_SHAPE(d.batch * d.M, d.K));
        tg_tensor *g2 = tg_reshape(t, g, TG_SHAPE(d.batch * d.M, d.N));
        tg_tensor *gb = f.tb ? mm_t(t, g2, A2, true, false) : mm_t(t, A2, g2, true, false);
        dx[1] = tg_reshape(t, gb, B->ndim, B->shape);
    } else {
        tg_tensor *gb = f.tb ? mm_t(t, g, A, true, f.ta) : mm_t(t, A, g, !f.ta, false);
        dx[1] = tg_sum_to(t, gb, B->ndim, B->shape);
    }
    return TG_OK;
}

static const tg_op op_matmul = {.name = "matmul",
                                .n_inputs = 2,
                                .attr_size = sizeof(mm_attr),
                                .flags = TG_OP_WRITES_FRESH,
                                .shape = matmul_shape,
                                .forward = matmul_forward,
                                .backward = matmul_backward,
                                .vjp = matmul_vjp,
                                .doc = "op(a) @ op(b), op = transpose or not (batch dims broadcast)"};

/* op_a(a)·op_b(b) of operands of at least 2 dimensions. */
static tg_tensor *mm_t(tg_tape *t, tg_tensor *a, tg_tensor *b, bool ta, bool tb)
{
    tg_tensor *in[2] = {a, b};
    mm_attr f = {ta, tb};
    return tg_apply(t, &op_matmul, in, 2, &f);
}

/* torch.matmul: a 1-D operand is a row (on the left) or a column (on the
   right) for the product, and its dimension is dropped from the result. */
tg_tensor *tg_matmul(tg_tape *t, tg_tensor *a, tg_tensor *b)
{
    if (!a || !b || (a->ndim >= 2 && b->ndim >= 2)) /* (NULL: the usual message) */
        return mm_t(t, a, b, false, false);
    if (a->ndim == 0 || b->ndim == 0) {
        char sa[96], sb[96];
        tg_tape_set_error(t, "tg_matmul: both operands need at least 1 dimension, got %s @ %s",
                          tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    tg_tensor *a2 = a->ndim == 1 ? tg_reshape(t, a, TG_SHAPE(1, a->shape[0])) : a;
    tg_tensor *b2 = b->ndim == 1 ? tg_reshape(t, b, TG_SHAPE(b->shape[0], 1)) : b;
    tg_tensor *c = mm_t(t, a2, b2, false, false);
    if (!c) return NULL;
    /* drop the added dimensions: the row's M = 1 and the column's N = 1 */
    int64_t shape[TG_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < c->ndim; i++) {
        if (a->ndim == 1 && i == c->ndim - 2) continue;
        if (b->ndim == 1 && i == c->ndim - 1) continue;
        shape[nd++] = c->shape[i];
    }
    return tg_reshape(t, c, nd, shape);
}

/* op_a(a)·op_b(b) for attention's q·kᵀ and the recurrences' gradients:
   the transposes are read in place by the GEMM, never copied. */
tg_tensor *tg_matmul_t(tg_tape *t, tg_tensor *a, tg_tensor *b, bool transpose_a,
                       bool transpose_b)
{
    return mm_t(t, a, b, transpose_a, transpose_b);
}

/* dot: Σ_i a_i·b_i of two vectors (torch.dot) */
tg_tensor *tg_dot(tg_tape *t, tg_tensor *a, tg_tensor *b)
{
    if (a && b && (a->ndim != 1 || b->ndim != 1 || a->shape[0] != b->shape[0])) {
        char sa[96], sb[96];
        tg_tape_set_error(t, "tg_dot: needs two vectors of one length, got %s and %s",
                          tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    return tg_matmul(t, a, b);
}

/* outer: y_ij = a_i·b_j (torch.outer): a column times a row, broadcast */
tg_tensor *tg_outer(tg_tape *t, tg_tensor *a, tg_tensor *b)
{
    if (a && b && (a->ndim != 1 || b->ndim != 1)) {
        char sa[96], sb[96];
        tg_tape_set_error(t, "tg_outer: needs two vectors, got %s and %s",
                          tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    if (!a || !b) return tg_mul(t, a, b);
    return tg_mul(t, tg_reshape(t, a, TG_SHAPE(a->shape[0], 1)),
                  tg_reshape(t, b, TG_SHAPE(1, b->shape[0])));
}

/* ------------------------------------------------------------------ linear */

static int linear_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    const tg_tensor *x = r->in[0], *W = r->in[1], *b = r->in[2];
    char sx[128], sw[128], sbias[128];
    if (!W) {
        snprintf(msg, len, "the weight is NULL");
        return TG_ERR_INVALID;
    }
    tg_shape_str(x, sx, sizeof sx);
    tg_shape_str(W, sw, sizeof sw);
    if (W->ndim != 2 || x->ndim < 1) {
        snprintf(msg, len, "needs x [..., in] and W [out, in], got %s and %s", sx, sw);
        return TG_ERR_SHAPE;
    }
    if (x->shape[x->ndim - 1] != W->shape[1]) {
        snprintf(msg, len, "input features differ: x %s, W %s (W is [out, in])", sx, sw);
        return TG_ERR_SHAPE;
    }
    if (b && (b->ndim != 1 || b->shape[0] != W->shape[0])) {
        snprintf(msg, len, "bias %s does not match W %s (needs [%lld])",
                 tg_shape_str(b, sbias, sizeof sbias), sw, (long long)W->shape[0]);
        return TG_ERR_SHAPE;
    }
    *ndim = x->ndim;
    for (int i = 0; i < x->ndim - 1; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = W->shape[0];
    return TG_OK;
}

/* The rows of x [..., in] seen as one matrix [rows, in]: the product of the
   leading dims (not size / in, which is 0 for in = 0 however many rows). */
static int64_t linear_rows(const tg_tensor *x)
{
    int64_t rows = 1;
    for (int i = 0; i < x->ndim - 1; i++) rows *= x->shape[i];
    return rows;
}

/* y = x·Wᵀ + b */
static int linear_forward(tg_record *r)
{
    const tg_tensor *x = r->in[0], *W = r->in[1], *b = r->in[2];
    int64_t in = W->shape[1], out = W->shape[0], rows = linear_rows(x);
    tg_real *y = r->out->data; /* [rows, out] */
    if (b) {
        for (int64_t i = 0; i < rows; i++) memcpy(y + i * out, b->data, (size_t)out * sizeof(tg_real));
    }
    if (in == 0) {
        if (!b) memset(y, 0, (size_t)r->out->size * sizeof(tg_real));
        return TG_OK;
    }
    tg_gemm(false, true, rows, out, in, 1, x->data, in, W->data, in, b ? 1 : 0, y, out);
    return TG_OK;
}

/* y = x·Wᵀ + b      dx += dy·W      dW += dyᵀ·x      db += Σ_rows dy (accurate sums)
   A fresh gradient (released, or new on the tape) is written instead of
   added to: the products then run with beta = 0 and read no old values. */
static void linear_backward(tg_record *r)
{
    const tg_tensor *x = r->in[0], *W = r->in[1], *b = r->in[2];
    int64_t in = W->shape[1], out = W->shape[0], rows = linear_rows(x);
    const tg_real *dy = r->out->grad; /* [rows, out] */
    /* dx in two halves of out (W's rows), the second half's product made
       by another thread when there is one: each thread reads only the rows
       of W that the optimizer's split gives it (src/nn/optim.c), instead of
       both reading all of W, which made the other thread's update of those
       rows slow. The same bits on any number of threads (and without the
       scratch, if the arena has no room: the halves then run in turn). */
    if (in > 0 && x->grad) {
        size_t bytes = (size_t)(rows * in) * sizeof(tg_real);
        tg_real *scratch = tg_threads_count() > 1 ? tg_tape_try_alloc(r->tape, bytes) : NULL;
        tg_gemm_ksplit(false, false, rows, in, out, 1, dy, out, W->data, in,
                       tg_grad_fresh(x) ? 0 : 1, x->grad, in, scratch);
    }
    if (in > 0 && W->grad)
        tg_gemm(true, false, out, in, rows, 1, dy, out, x->data, in, tg_grad_fresh(W) ? 0 : 1,
                W->grad, in);
    if (b && b->grad) tg_sum_rows(b->grad, dy, rows, out, out, 1, !tg_grad_fresh(b));
}

/* The same rules as ops: x and g seen as [rows, in] and [rows, out]. */
static int linear_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *x = r->in[0], *W = r->in[1], *b = r->in[2];
    int64_t in = W->shape[1], out = W->shape[0], rows = linear_rows(x);
    tg_tensor *g2 = tg_reshape(t, g, TG_SHAPE(rows, out));
    if (x->flags & TG_REQUIRES_GRAD)
        dx[0] = tg_reshape(t, tg_matmul(t, g2, W), x->ndim, x->shape);
    if (W->flags & TG_REQUIRES_GRAD)
        dx[1] = mm_t(t, g2, tg_reshape(t, x, TG_SHAPE(rows, in)), true, false);
    if (b && (b->flags & TG_REQUIRES_GRAD)) dx[2] = tg_sum(t, g2, 0, false);
    return TG_OK;
}

static const tg_op op_linear = {.name = "linear",
                                .n_inputs = 3,
                                .flags = TG_OP_WRITES_FRESH,
                                .shape = linear_shape,
                                .forward = linear_forward,
                                .backward = linear_backward,
                                .vjp = linear_vjp,
                                .doc = "x @ W^T + b, W [out, in]"};

tg_tensor *tg_linear(tg_tape *t, tg_tensor *x, tg_tensor *W, tg_tensor *b)
{
    tg_tensor *in[3] = {x, W, b};
    return tg_apply(t, &op_linear, in, 3, NULL);
}

static const tg_op *const linalg_ops[] = {&op_matmul, &op_linear};
const tg_op_table tg_linalg_ops = {linalg_ops, sizeof linalg_ops / sizeof *linalg_ops};
