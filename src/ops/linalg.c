/* Linear algebra: matmul (2-D, batched 3-D) and linear (x @ Wᵀ + b).
   Every product goes through tg_gemm, which reads transposed operands in
   place: no transpose is ever materialised. */
#include "ops/ops_internal.h"
#include "gemm/gemm.h" /* tg_gemm, tg_threads_count */

/* ------------------------------------------------------------------ matmul */

typedef struct {
    int64_t batch, M, K, N;
    bool shared_b; /* [B,M,K] @ [K,N] */
} mm_dims;

static bool mm_dims_of(const tg_tensor *a, const tg_tensor *b, mm_dims *d)
{
    if (a->ndim == 2 && b->ndim == 2) {
        *d = (mm_dims){1, a->shape[0], a->shape[1], b->shape[1], false};
        return a->shape[1] == b->shape[0];
    }
    if (a->ndim == 3 && b->ndim == 3) {
        *d = (mm_dims){a->shape[0], a->shape[1], a->shape[2], b->shape[2], false};
        return a->shape[2] == b->shape[1] && a->shape[0] == b->shape[0];
    }
    if (a->ndim == 3 && b->ndim == 2) {
        *d = (mm_dims){a->shape[0], a->shape[1], a->shape[2], b->shape[1], true};
        return a->shape[2] == b->shape[0];
    }
    return false;
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
    bool ranks = (a->ndim == 2 && b->ndim == 2) || (a->ndim == 3 && (b->ndim == 3 || b->ndim == 2));
    if (!ranks) {
        snprintf(msg, len, "needs [M,K] @ [K,N], [B,M,K] @ [B,K,N] or [B,M,K] @ [K,N], got %s @ %s",
                 sa, sb);
        return TG_ERR_SHAPE;
    }
    mm_dims d;
    if (!mm_dims_of(a, b, &d)) {
        if (a->ndim == 3 && b->ndim == 3 && a->shape[0] != b->shape[0])
            snprintf(msg, len, "batch sizes differ: %s @ %s", sa, sb);
        else
            snprintf(msg, len, "inner dimensions differ: %s @ %s", sa, sb);
        return TG_ERR_SHAPE;
    }
    if (a->ndim == 2) {
        *ndim = 2;
        shape[0] = d.M, shape[1] = d.N;
    } else {
        *ndim = 3;
        shape[0] = d.batch, shape[1] = d.M, shape[2] = d.N;
    }
    return TG_OK;
}

/* C = A·B.  With a shared B, [B,M,K] is one [B·M, K] matrix. */
static int matmul_forward(tg_record *r)
{
    mm_dims d;
    mm_dims_of(r->in[0], r->in[1], &d);
    const tg_real *A = r->in[0]->data, *B = r->in[1]->data; /* [b,M,K], [b,K,N] */
    tg_real *C = r->out->data;                              /* [b,M,N] */
    if (d.shared_b) {
        tg_gemm(false, false, d.batch * d.M, d.N, d.K, 1, A, d.K, B, d.N, 0, C, d.N);
        return TG_OK;
    }
    for (int64_t i = 0; i < d.batch; i++)
        tg_gemm(false, false, d.M, d.N, d.K, 1, A + i * d.M * d.K, d.K, B + i * d.K * d.N, d.N, 0,
                C + i * d.M * d.N, d.N);
    return TG_OK;
}

/* C = A·B      dA += dC·Bᵀ      dB += Aᵀ·dC */
static void matmul_backward(tg_record *r)
{
    mm_dims d;
    mm_dims_of(r->in[0], r->in[1], &d);
    const tg_real *A = r->in[0]->data, *B = r->in[1]->data, *dC = r->out->grad;
    tg_real *dA = r->in[0]->grad, *dB = r->in[1]->grad;
    if (d.shared_b) {
        int64_t rows = d.batch * d.M;
        if (dA) tg_gemm(false, true, rows, d.K, d.N, 1, dC, d.N, B, d.N, 1, dA, d.K);
        if (dB) tg_gemm(true, false, d.K, d.N, rows, 1, A, d.K, dC, d.N, 1, dB, d.N);
        return;
    }
    for (int64_t i = 0; i < d.batch; i++) {
        const tg_real *Ai = A + i * d.M * d.K, *Bi = B + i * d.K * d.N, *dCi = dC + i * d.M * d.N;
        if (dA) tg_gemm(false, true, d.M, d.K, d.N, 1, dCi, d.N, Bi, d.N, 1, dA + i * d.M * d.K, d.K);
        if (dB) tg_gemm(true, false, d.K, d.N, d.M, 1, Ai, d.K, dCi, d.N, 1, dB + i * d.K * d.N, d.N);
    }
}

static int matmul_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *A = r->in[0], *B = r->in[1];
    mm_dims d = {0};
    mm_dims_of(A, B, &d);
    if (A->flags & TG_REQUIRES_GRAD) dx[0] = tg_matmul(t, g, tg_transpose(t, B, -1, -2));
    if (!(B->flags & TG_REQUIRES_GRAD)) return TG_OK;
    if (d.shared_b) { /* [b·M, K]ᵀ @ [b·M, N] */
        tg_tensor *A2 = tg_reshape(t, A, TG_SHAPE(d.batch * d.M, d.K));
        tg_tensor *g2 = tg_reshape(t, g, TG_SHAPE(d.batch * d.M, d.N));
        dx[1] = tg_matmul(t, tg_transpose(t, A2, 0, 1), g2);
    } else {
        dx[1] = tg_matmul(t, tg_transpose(t, A, -1, -2), g);
    }
    return TG_OK;
}

static const tg_op op_matmul = {.name = "matmul",
                                .n_inputs = 2,
                                .shape = matmul_shape,
                                .forward = matmul_forward,
                                .backward = matmul_backward,
                                .vjp = matmul_vjp,
                                .doc = "a @ b (2-D or batched 3-D)"};

tg_tensor *tg_matmul(tg_tape *t, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[2] = {a, b};
    return tg_apply(t, &op_matmul, in, 2, NULL);
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
        dx[1] = tg_matmul(t, tg_transpose(t, g2, 0, 1), tg_reshape(t, x, TG_SHAPE(rows, in)));
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
