/* Dropout (F.dropout) and channel dropout (F.dropout2d), with forward,
   backward and vjp.

   In training each element (or, for dropout2d, each channel of each
   sample: all its positions together) is kept with probability 1 − p and
   scaled by 1/(1 − p), so that the expectation is x; p = 1 gives zeros
   (x·0, as PyTorch). The mask is drawn by the forward from the caller's
   tg_rng (one uniform draw per element or channel, row-major: kept when
   the draw is at least p) and kept on the tape, scaled:
       y = x·m,  m ∈ {0, 1/(1 − p)}      dx = g·m
   The vjp multiplies by the same mask, as a constant tensor. In
   evaluation, with p = 0, or for an empty x, the op returns x itself (no
   record), as PyTorch returns its input. */
#include "ops/ops_internal.h"

typedef struct {
    double p;
    tg_rng *rng;   /* drawn from by the forward (and by a replay of it) */
    bool channels; /* dropout2d: one draw per (sample, channel) */
} dropout_attr;

/* elements of x that share one draw (1, or the positions of a channel) */
static int64_t run_of(const dropout_attr *a, const tg_tensor *x)
{
    int64_t s = 1;
    for (int i = 2; a->channels && i < x->ndim; i++) s *= x->shape[i];
    return s;
}

/* y = x·m, with m drawn: 0 (probability p) or 1/(1 − p) */
static int dropout_forward(tg_record *r)
{
    const dropout_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    const int64_t run = run_of(a, x), n = run ? x->size / run : 0;
    tg_real *m = tg_record_save(r, (size_t)(n ? n : 1) * sizeof(tg_real));
    if (!m) return TG_ERR_NOMEM;
    const tg_real keep = a->p < 1 ? (tg_real)(1 / (1 - a->p)) : 0;
    for (int64_t k = 0; k < n; k++) m[k] = a->p < 1 && tg_rng_uniform(a->rng) >= a->p ? keep : 0;
    for (int64_t k = 0; k < n; k++)
        for (int64_t i = 0; i < run; i++) r->out->data[k * run + i] = x->data[k * run + i] * m[k];
    return TG_OK;
}

static void dropout_backward(tg_record *r)
{
    const dropout_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    const tg_real *m = r->saved, *g = r->out->grad;
    const int64_t run = run_of(a, x), n = run ? x->size / run : 0;
    for (int64_t k = 0; k < n; k++)
        for (int64_t i = 0; i < run; i++) x->grad[k * run + i] += g[k * run + i] * m[k];
}

/* the mask as a constant: x's shape, or [N, C, 1, ...] for channels */
static int dropout_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const dropout_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    int64_t shape[TG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = a->channels && i >= 2 ? 1 : x->shape[i];
    dx[0] = tg_mul(t, g, tg_tensor_wrap(t, x->ndim, shape, r->saved));
    return TG_OK;
}

#define DROPOUT_OP(VAR, NAME, DOC)                                                       \
    static const tg_op VAR = {.name = NAME,                                              \
                              .n_inputs = 1,                                             \
                              .attr_size = sizeof(dropout_attr),                         \
                              .shape = tg_shape_same,                                    \
                              .forward = dropout_forward,                                \
                              .backward = dropout_backward,                              \
                              .vjp = dropout_vjp,                                        \
                              .doc = DOC};
DROPOUT_OP(op_dropout, "dropout", "x * mask/(1 - p), the mask drawn from a tg_rng")
DROPOUT_OP(op_dropout2d, "dropout2d", "x * mask/(1 - p), one draw per channel of a sample")

static tg_tensor *dropout(tg_tape *t, const char *fn, tg_tensor *x, double p, bool training,
                          tg_rng *rng, bool channels)
{
    if (!t) return tg_no_tape(fn);
    if (!x) return tg_null_input(t, fn);
    if (!(p >= 0 && p <= 1)) {
        tg_tape_set_error(t, "tg_%s: the probability p must be between 0 and 1, got %g", fn, p);
        return NULL;
    }
    if (channels && x->ndim != 3 && x->ndim != 4) {
        char sx[96];
        tg_tape_set_error(t, "tg_%s: needs input [N, C, L] or [N, C, H, W], got %s", fn,
                          tg_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    if (!training || p == 0 || x->size == 0) return x;
    if (!rng && p < 1) {
        tg_tape_set_error(t, "tg_%s: the rng is NULL (training draws the mask from it)", fn);
        return NULL;
    }
    dropout_attr a = {p, rng, channels};
    return tg_apply(t, channels ? &op_dropout2d : &op_dropout, &x, 1, &a);
}

tg_tensor *tg_dropout(tg_tape *t, tg_tensor *x, double p, bool training, tg_rng *rng)
{
    return dropout(t, "dropout", x, p, training, rng, false);
}

tg_tensor *tg_dropout2d(tg_tape *t, tg_tensor *x, double p, bool training, tg_rng *rng)
{
    return dropout(t, "dropout2d", x, p, training, rng, true);
}

static const tg_op *const dropout_ops[] = {&op_dropout, &op_dropout2d};
const tg_op_table tg_dropout_ops = {dropout_ops, sizeof dropout_ops / sizeof *dropout_ops};
