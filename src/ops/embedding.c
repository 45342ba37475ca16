/* Embedding: the rows of a weight table picked by indices (F.embedding),
   with padding_idx, and its adjoint embedding_backward, which adds each
   position's gradient into the row it was read from
   (PyTorch's embedding_dense_backward).

   The two are each other's vjp, as in derivatives.yaml. The padding row
   gets no gradient: embedding_backward skips the positions that read it.
   That makes its own adjoint an embedding whose padding positions give 0
   (the zero_pad attribute, internal), and that one's adjoint is
   embedding_backward again: the pair closes, to any order. */
#include "ops/ops_internal.h"

typedef struct {
    const tg_index *index; /* the positions, any shape; owned by the tape */
    int64_t padding_idx;   /* normalised to [0, V), or -1 for none */
    int64_t num_weights;   /* V: the rows of embedding_backward's output */
    bool zero_pad;         /* embedding: padding positions give rows of 0 */
} emb_attr;

/* The table's rows: V of width D (D from the weight, or from g's last axis). */
static int64_t row_width(const tg_tensor *x) { return x->ndim ? x->shape[x->ndim - 1] : 1; }

/* The index array's checks, shared by both ops: on the tape, every index
   in [0, V), and room for the output's extra axis. */
static int check_positions(const tg_record *r, int64_t V, char *msg, size_t len)
{
    const emb_attr *a = r->attr;
    int st = tg_index_check(r->tape, a->index, 0, V, msg, len);
    if (st != TG_OK) return st;
    if (a->index->ndim >= TG_MAX_DIMS) {
        snprintf(msg, len, "the index array has %d dimensions; the output would have one "
                           "more than the %d a tensor can have", a->index->ndim, TG_MAX_DIMS);
        return TG_ERR_SHAPE;
    }
    if (a->padding_idx < -1 || a->padding_idx >= V) {
        snprintf(msg, len, "padding_idx %lld is out of range for %lld rows",
                 (long long)a->padding_idx, (long long)V);
        return TG_ERR_INVALID;
    }
    return TG_OK;
}

/* embedding: weight [V, D] -> [*index.shape, D] */
static int embedding_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                           size_t len)
{
    const emb_attr *a = r->attr;
    const tg_tensor *w = r->in[0];
    if (w->ndim != 2) {
        char b[128];
        snprintf(msg, len, "the weight must be 2-D [num_embeddings, embedding_dim], got %s",
                 tg_shape_str(w, b, sizeof b));
        return TG_ERR_SHAPE;
    }
    int st = check_positions(r, w->shape[0], msg, len);
    if (st != TG_OK) return st;
    *ndim = a->index->ndim + 1;
    for (int i = 0; i < a->index->ndim; i++) shape[i] = a->index->shape[i];
    shape[a->index->ndim] = w->shape[1];
    return TG_OK;
}

/* embedding_backward: g [*index.shape, D] -> [V, D] */
static int embedding_bw_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS],
                              char *msg, size_t len)
{
    const emb_attr *a = r->attr;
    const tg_tensor *g = r->in[0];
    int st = check_positions(r, a->num_weights, msg, len);
    if (st != TG_OK) return st;
    bool fits = g->ndim == a->index->ndim + 1;
    for (int i = 0; fits && i < a->index->ndim; i++) fits = g->shape[i] == a->index->shape[i];
    if (!fits) {
        char bg[128], bi[128];
        snprintf(msg, len, "the gradient %s must be the index array's shape %s with one more "
                           "axis (the embedding's width)",
                 tg_shape_str(g, bg, sizeof bg),
                 tg_dims_str(a->index->ndim, a->index->shape, bi, sizeof bi));
        return TG_ERR_SHAPE;
    }
    *ndim = 2;
    shape[0] = a->num_weights;
    shape[1] = row_width(g);
    return TG_OK;
}

/* out [k, D] row j = w [V, D] row index[j] (0 at padding positions with
   zero_pad), for the k positions. */
static void take(tg_real *out, const tg_real *w, const emb_attr *a, int64_t D)
{
    const int64_t *idx = a->index->data;
    for (int64_t j = 0; j < a->index->size; j++) {
        if (a->zero_pad && idx[j] == a->padding_idx)
            memset(out + j * D, 0, (size_t)D * sizeof(tg_real));
        else
            memcpy(out + j * D, w + idx[j] * D, (size_t)D * sizeof(tg_real));
    }
}

/* dw [V, D] row index[j] += g [k, D] row j for every position j that is
   not padding; repeated rows summed in double (tg_index_add_rows). The
   padding row is put back as it was afterwards: `keep` holds it (D values
   saved by the forward: the backward's only allocation is the scratch of
   tg_index_add_rows' sums). */
static void scatter(tg_record *r, tg_real *dw, const tg_real *g, const emb_attr *a, int64_t V,
                    int64_t D, tg_real *keep)
{
    tg_real *pad = a->padding_idx >= 0 ? dw + a->padding_idx * D : NULL;
    if (pad) memcpy(keep, pad, (size_t)D * sizeof(tg_real));
    tg_index_add_rows(r, dw, g, V, D, a->index->data, a->index->size);
    if (pad) memcpy(pad, keep, (size_t)D * sizeof(tg_real));
}

static const tg_op op_embedding_backward;

/* embedding:           y[j] = w[index[j]]        (0 at padding positions with zero_pad)
   dw[p] += Σ_{j: index[j] = p} g[j] for every p but padding_idx = embedding_backward(g) */
static int embedding_forward(tg_record *r)
{
    const emb_attr *a = r->attr;
    int64_t D = r->in[0]->shape[1];
    if (a->padding_idx >= 0 && !tg_record_save(r, (size_t)(D ? D : 1) * sizeof(tg_real)))
        return TG_ERR_NOMEM;
    take(r->out->data, r->in[0]->data, a, D);
    return TG_OK;
}

static void embedding_backward(tg_record *r)
{
    const tg_tensor *w = r->in[0];
    scatter(r, w->grad, r->out->grad, r->attr, w->shape[0], w->shape[1], r->saved);
}

static int embedding_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    emb_attr a = *(const emb_attr *)r->attr;
    a.num_weights = r->in[0]->shape[0];
    a.zero_pad = false;
    dx[0] = tg_apply(t, &op_embedding_backward, &g, 1, &a);
    return TG_OK;
}

static const tg_op op_embedding = {.name = "embedding", .n_inputs = 1,
                                   .flags = TG_OP_CHECK_ON_REPLAY,
                                   .attr_size = sizeof(emb_attr), .shape = embedding_shape,
                                   .forward = embedding_forward,
                                   .backward = embedding_backward, .vjp = embedding_vjp,
                                   .doc = "y[j] = weight[index[j]]; no gradient to padding_idx"};

/* embedding_backward:  y = zeros [V, D], then y[index[j]] += g[j] for every j not at padding
   dg[j] += dy[index[j]], 0 at padding positions = embedding(dy) with zero_pad */
static int embedding_bw_forward(tg_record *r)
{
    const emb_attr *a = r->attr;
    int64_t D = r->out->shape[1];
    tg_real *keep = a->padding_idx >= 0
                        ? tg_record_save(r, (size_t)(D ? D : 1) * sizeof(tg_real))
                        : NULL;
    if (a->padding_idx >= 0 && !keep) return TG_ERR_NOMEM;
    memset(r->out->data, 0, (size_t)r->out->size * sizeof(tg_real));
    scatter(r, r->out->data, r->in[0]->data, a, a->num_weights, D, keep);
    return TG_OK;
}

static void embedding_bw_backward(tg_record *r)
{
    const emb_attr *a = r->attr;
    const tg_real *dy = r->out->grad; /* [V, D] */
    tg_real *dg = r->in[0]->grad;     /* [k, D] */
    int64_t D = r->out->shape[1];
    const int64_t *idx = a->index->data;
    for (int64_t j = 0; j < a->index->size; j++) {
        if (idx[j] == a->padding_idx) continue;
        const tg_real *s = dy + idx[j] * D;
        for (int64_t i = 0; i < D; i++) dg[j * D + i] += s[i];
    }
}

static int embedding_bw_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    emb_attr a = *(const emb_attr *)r->attr;
    a.zero_pad = true;
    dx[0] = tg_apply(t, &op_embedding, &g, 1, &a); /* [*index.shape, D], g's shape */
    return TG_OK;
}

static const tg_op op_embedding_backward = {
    .name = "embedding_backward", .n_inputs = 1,
    .flags = TG_OP_CHECK_ON_REPLAY, .attr_size = sizeof(emb_attr),
    .shape = embedding_bw_shape, .forward = embedding_bw_forward,
    .backward = embedding_bw_backward, .vjp = embedding_bw_vjp,
    .doc = "zeros [V, D], g[j] added at row index[j] but padding_idx (embedding's adjoint)"};

/* padding_idx as PyTorch takes it: TG_PADDING_IDX_NONE, or in [-V, V)
   with negative counting from the end; -1 (none) or [0, V) after. */
static bool normalise_padding(tg_tape *t, const char *fn, int64_t padding_idx, int64_t V,
                              int64_t *out)
{
    if (padding_idx == TG_PADDING_IDX_NONE) {
        *out = -1;
        return true;
    }
    if (padding_idx < -V || padding_idx >= V) {
        tg_tape_set_error(t, "%s: padding_idx %lld is out of range for %lld rows (it must lie "
                             "in [-%lld, %lld))",
                          fn, (long long)padding_idx, (long long)V, (long long)V, (long long)V);
        return false;
    }
    *out = padding_idx < 0 ? padding_idx + V : padding_idx;
    return true;
}

tg_tensor *tg_embedding(tg_tape *t, tg_tensor *weight, const tg_index *indices,
                        int64_t padding_idx)
{
    if (!weight) return tg_null_input(t, "embedding");
    if (!t) return tg_no_tape(__func__);
    if (!indices) {
        if (!tg_tape_failed(t)) tg_tape_set_error(t, "tg_embedding: the index array is NULL");
        return NULL;
    }
    emb_attr a = {.index = indices, .padding_idx = -1};
    if (weight->ndim == 2 &&
        !normalise_padding(t, "tg_embedding", padding_idx, weight->shape[0], &a.padding_idx))
        return NULL;
    return tg_apply(t, &op_embedding, &weight, 1, &a);
}

tg_tensor *tg_embedding_backward(tg_tape *t, tg_tensor *grad, const tg_index *indices,
                                 int64_t num_weights, int64_t padding_idx)
{
    if (!grad) return tg_null_input(t, "embedding_backward");
    if (!t) return tg_no_tape(__func__);
    if (!indices) {
        if (!tg_tape_failed(t))
            tg_tape_set_error(t, "tg_embedding_backward: the index array is NULL");
        return NULL;
    }
    if (num_weights < 0) {
        tg_tape_set_error(t, "tg_embedding_backward: num_weights is %lld; it must be at least 0",
                          (long long)num_weights);
        return NULL;
    }
    emb_attr a = {.index = indices, .padding_idx = -1, .num_weights = num_weights};
    if (!normalise_padding(t, "tg_embedding_backward", padding_idx, num_weights, &a.padding_idx))
        return NULL;
    return tg_apply(t, &op_embedding_backward, &grad, 1, &a);
}

static const tg_op *const embedding_ops[] = {&op_embedding, &op_embedding_backward};
const tg_op_table tg_embedding_ops = {embedding_ops, sizeof embedding_ops / sizeof *embedding_ops};
