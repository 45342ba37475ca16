/* Losses: mse, l1, smooth_l1, huber, bce, bce_with_logits, cross_entropy
   (class indices or probabilities, fused with log_softmax), nll.

   Reduction (PyTorch's semantics): NONE keeps one loss per element (per
   sample for the class losses), SUM adds them, MEAN divides the sum by their
   number (for the class-index losses: by the number of targets that are not
   ignore_index, or with class weights by the sum of their targets' weights).
   So in backward each element's gradient weight is
     none: g[i]     sum: g     mean: g / count.
   Sums accumulate in double, so a float mean over many elements keeps its
   precision. */
#include "ops/ops_internal.h"

/* ---------------------------------------------------------- reductions */

static bool reduction_ok(int red)
{
    return red == TG_REDUCE_MEAN || red == TG_REDUCE_SUM || red == TG_REDUCE_NONE;
}

/* Output shape of a loss whose per-element shape is x's shape with `skip`
   (an axis, or -1 for none) removed. */
static int loss_shape(int red, const tg_tensor *x, int skip, int *ndim,
                      int64_t shape[TG_MAX_DIMS], char *msg, size_t len)
{
    if (!reduction_ok(red)) {
        snprintf(msg, len, "unknown reduction %d", red);
        return TG_ERR_INVALID;
    }
    *ndim = 0;
    if (red != TG_REDUCE_NONE) return TG_OK;
    for (int i = 0; i < x->ndim; i++)
        if (i != skip) shape[(*ndim)++] = x->shape[i];
    return TG_OK;
}

/* Writes the reduced value (sum or sum/count) into out[0]. A mean over a
   count of 0 (no element, every target ignored, or targets whose class
   weights sum to 0) is 0/0 = NaN, as in PyTorch, whatever the sum. */
static void finish(tg_tensor *out, int red, double sum, double count)
{
    if (red == TG_REDUCE_SUM) out->data[0] = (tg_real)sum;
    if (red == TG_REDUCE_MEAN) out->data[0] = count == 0 ? (tg_real)NAN : (tg_real)(sum / count);
}

/* The gradient weight of element i: g[i], g, or g/count (NaN over a count
   of 0: the derivative of 0/0, PyTorch's too). */
static tg_real weight_of(const tg_record *r, int red, int64_t i, double count)
{
    const tg_real *g = r->out->grad;
    if (red == TG_REDUCE_NONE) return g[i];
    if (red == TG_REDUCE_SUM) return g[0];
    return count == 0 ? (tg_real)NAN : (tg_real)((double)g[0] / count);
}

/* The gradient weight as a tensor, for the vjps: g (per element for NONE,
   0-d for SUM), g/count for MEAN (NaN when the count is 0). */
static tg_tensor *weight_tensor(tg_tape *t, tg_tensor *g, int red, double count)
{
    if (red != TG_REDUCE_MEAN) return g;
    return count == 0 ? tg_mul(t, g, tg_scalar(t, (tg_real)NAN))
                      : tg_scale(t, g, (tg_real)(1.0 / count));
}

static bool check_same(const tg_tensor *a, const tg_tensor *b, const char *an, const char *bn,
                       char *msg, size_t len)
{
    if (!b) {
        snprintf(msg, len, "the %s is NULL", bn);
        return false;
    }
    if (!tg_same_shape(a, b)) {
        char sa[128], sb[128];
        snprintf(msg, len, "the %s %s and the %s %s must have the same shape", an,
                 tg_shape_str(a, sa, sizeof sa), bn, tg_shape_str(b, sb, sizeof sb));
        return false;
    }
    return true;
}

/* ------------------------------------------------- regression losses */

/* Attributes of the element-wise losses: reduction and beta/delta. */
typedef struct {
    int red;
    tg_real p; /* smooth_l1: beta; huber: delta */
} pair_attr;

static int pair_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                      size_t len)
{
    const pair_attr *a = r->attr;
    if (!check_same(r->in[0], r->in[1], "input", "target", msg, len)) return TG_ERR_SHAPE;
    return loss_shape(a->red, r->in[0], -1, ndim, shape, msg, len);
}

/* PAIR_LOSS(NAME, CHECK): an op from NAME##_l(d, p) (the loss of one
   difference d = input − target) and NAME##_dl(d, p) (its derivative in d),
   with NAME##_dl_of(t, d, p), the same derivative as tg_ ops on a tensor d.
   ∂ℓ/∂input = ℓ'(d), ∂ℓ/∂target = −ℓ'(d). */
#define PAIR_LOSS(NAME, SHAPE, DOC)                                                      \
    static int NAME##_forward(tg_record *r)                                              \
    {                                                                                    \
        const pair_attr *a = r->attr;                                                    \
        const tg_real *x = r->in[0]->data, *y = r->in[1]->data; /* [size] */             \
        double sum = 0;                                                                  \
        for (int64_t i = 0; i < r->in[0]->size; i++) {                                   \
            tg_real l = NAME##_l(x[i] - y[i], a->p);                                     \
            if (a->red == TG_REDUCE_NONE) r->out->data[i] = l;                           \
            else sum += l;                                                               \
        }                                                                                \
        finish(r->out, a->red, sum, (double)r->in[0]->size);                             \
        return TG_OK;                                                                    \
    }                                                                                    \
    static void NAME##_backward(tg_record *r)                                            \
    {                                                                                    \
        const pair_attr *a = r->attr;                                                    \
        const tg_real *x = r->in[0]->data, *y = r->in[1]->data; /* [size] */             \
        tg_real *dx = r->in[0]->grad, *dy = r->in[1]->grad;     /* [size] or NULL */     \
        double n = (double)r->in[0]->size;                                               \
        for (int64_t i = 0; i < r->in[0]->size; i++) {                                   \
            tg_real gd = weight_of(r, a->red, i, n) * NAME##_dl(x[i] - y[i], a->p);      \
            if (dx) dx[i] += gd;                                                         \
            if (dy) dy[i] -= gd;                                                         \
        }                                                                                \
    }                                                                                    \
    static int NAME##_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx) \
    {                                                                                    \
        const pair_attr *a = r->attr;                                                    \
        tg_tensor *x = r->in[0], *y = r->in[1];                                          \
        tg_tensor *w = weight_tensor(t, g, a->red, (double)x->size);                     \
        tg_tensor *gd = tg_mul(t, w, NAME##_dl_of(t, tg_sub(t, x, y), a->p));            \
        if (x->flags & TG_REQUIRES_GRAD) dx[0] = gd;                                     \
        if (y->flags & TG_REQUIRES_GRAD) dx[1] = tg_neg(t, gd);                          \
        return TG_OK;                                                                    \
    }                                                                                    \
    static const tg_op op_##NAME = {.name = #NAME,                                       \
                                    .n_inputs = 2,                                       \
                                    .attr_size = sizeof(pair_attr),                      \
                                    .shape = SHAPE,                                      \
                                    .forward = NAME##_forward,                           \
                                    .backward = NAME##_backward,                         \
                                    .vjp = NAME##_vjp,                                   \
                                    .doc = DOC};

/* mse: ℓ(d) = d²        ℓ'(d) = 2d */
static tg_real mse_loss_l(tg_real d, tg_real p) { (void)p; return d * d; }
static tg_real mse_loss_dl(tg_real d, tg_real p) { (void)p; return 2 * d; }
static tg_tensor *mse_loss_dl_of(tg_tape *t, tg_tensor *d, tg_real p)
{
    (void)p;
    return tg_scale(t, d, 2);
}
PAIR_LOSS(mse_loss, pair_shape, "(input - target)^2")

/* l1: ℓ(d) = |d|        ℓ'(d) = sign(d), 0 at d = 0 (PyTorch's choice) */
static tg_real l1_loss_l(tg_real d, tg_real p) { (void)p; return TG_FABS(d); }
static tg_real l1_loss_dl(tg_real d, tg_real p)
{
    (void)p;
    return (tg_real)((d > 0) - (d < 0));
}
static tg_tensor *l1_loss_dl_of(tg_tape *t, tg_tensor *d, tg_real p)
{
    (void)p;
    return tg_sign(t, d);
}
PAIR_LOSS(l1_loss, pair_shape, "|input - target|")

/* smooth_l1 (β = p): ℓ(d) = d²/(2β) if |d| < β, else |d| − β/2
   ℓ'(d) = d/β if |d| < β, else sign(d)   (both sides give ±1 at |d| = β);
   β = 0 is the l1 loss. */
static tg_real smooth_l1_loss_l(tg_real d, tg_real beta)
{
    tg_real z = TG_FABS(d);
    if (beta == 0) return z;
    return z < beta ? (tg_real)0.5 * z * z / beta : z - (tg_real)0.5 * beta;
}
static tg_real smooth_l1_loss_dl(tg_real d, tg_real beta)
{
    if (d < -beta) return -1;
    if (d > beta) return 1;
    return beta == 0 ? 0 : d / beta;
}
static int smooth_l1_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                           size_t len)
{
    tg_real beta = ((const pair_attr *)r->attr)->p;
    if (!(beta >= 0)) {
        snprintf(msg, len, "beta must not be negative, got %g", (double)beta);
        return TG_ERR_INVALID;
    }
    return pair_shape(r, ndim, shape, msg, len);
}
static tg_tensor *smooth_l1_loss_dl_of(tg_tape *t, tg_tensor *d, tg_real beta)
{
    if (beta == 0) return tg_sign(t, d);
    return tg_where(t, tg_gt(t, tg_abs(t, d), tg_scalar(t, beta)), tg_sign(t, d),
                    tg_scale(t, d, 1 / beta));
}
PAIR_LOSS(smooth_l1_loss, smooth_l1_shape, "0.5 d^2 / beta if |d| < beta else |d| - beta / 2")

/* huber (δ = p): ℓ(d) = d²/2 if |d| < δ, else δ(|d| − δ/2)
   ℓ'(d) = d if |d| ≤ δ, else δ·sign(d) */
static tg_real huber_loss_l(tg_real d, tg_real delta)
{
    tg_real z = TG_FABS(d);
    return z < delta ? (tg_real)0.5 * z * z : delta * (z - (tg_real)0.5 * delta);
}
static tg_real huber_loss_dl(tg_real d, tg_real delta)
{
    return d < -delta ? -delta : d > delta ? delta : d;
}
static int huber_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                       size_t len)
{
    tg_real delta = ((const pair_attr *)r->attr)->p;
    if (!(delta > 0)) {
        snprintf(msg, len, "delta must be positive, got %g", (double)delta);
        return TG_ERR_INVALID;
    }
    return pair_shape(r, ndim, shape, msg, len);
}
static tg_tensor *huber_loss_dl_of(tg_tape *t, tg_tensor *d, tg_real delta)
{
    return tg_where(t, tg_gt(t, tg_abs(t, d), tg_scalar(t, delta)),
                    tg_scale(t, tg_sign(t, d), delta), d);
}
PAIR_LOSS(huber_loss, huber_shape, "0.5 d^2 if |d| < delta else delta (|d| - delta / 2)")

static tg_tensor *pair_loss(tg_tape *t, const tg_op *op, tg_tensor *x, tg_tensor *y, tg_real p,
                            tg_reduction red)
{
    pair_attr a = {(int)red, p};
    tg_tensor *in[2] = {x, y};
    return tg_apply(t, op, in, 2, &a);
}

tg_tensor *tg_mse_loss(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_reduction red)
{
    return pair_loss(t, &op_mse_loss, input, target, 0, red);
}
tg_tensor *tg_l1_loss(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_reduction red)
{
    return pair_loss(t, &op_l1_loss, input, target, 0, red);
}
tg_tensor *tg_smooth_l1_loss(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_real beta,
                             tg_reduction red)
{
    return pair_loss(t, &op_smooth_l1_loss, input, target, beta, red);
}
tg_tensor *tg_huber_loss(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_real delta,
                         tg_reduction red)
{
    return pair_loss(t, &op_huber_loss, input, target, delta, red);
}

/* ------------------------------------------------------------------- bce */

static int bce_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    const pair_attr *a = r->attr;
    if (!check_same(r->in[0], r->in[1], "input", "target", msg, len)) return TG_ERR_SHAPE;
    const tg_real *p = r->in[0]->data;
    for (int64_t i = 0; i < r->in[0]->size; i++)
        if (!(p[i] >= 0 && p[i] <= 1)) {
            snprintf(msg, len, "input[%lld] = %g: every probability must be in [0, 1]",
                     (long long)i, (double)p[i]);
            return TG_ERR_INVALID;
        }
    return loss_shape(a->red, r->in[0], -1, ndim, shape, msg, len);
}

/* bce: ℓ = −(y·max(log p, −100) + (1 − y)·max(log(1 − p), −100))
   ∂ℓ/∂p = −y/p + (1 − y)/(1 − p) = (p − y)/(p(1 − p)), with the denominator
           kept ≥ 1e-12 as PyTorch does, so p = 0 or 1 gives a finite gradient
   ∂ℓ/∂y = log(1 − p) − log p = −logit(p) */
static int bce_forward(tg_record *r)
{
    const pair_attr *a = r->attr;
    const tg_real *p = r->in[0]->data, *y = r->in[1]->data; /* [size] */
    double sum = 0;
    for (int64_t i = 0; i < r->in[0]->size; i++) {
        tg_real lp = TG_FMAX(TG_LOG(p[i]), -100);
        tg_real l1p = TG_FMAX(TG_LOG1P(-p[i]), -100);
        tg_real l = (y[i] - 1) * l1p - y[i] * lp;
        if (a->red == TG_REDUCE_NONE) r->out->data[i] = l;
        else sum += l;
    }
    finish(r->out, a->red, sum, (double)r->in[0]->size);
    return TG_OK;
}

static void bce_backward(tg_record *r)
{
    const pair_attr *a = r->attr;
    const tg_real *p = r->in[0]->data, *y = r->in[1]->data; /* [size] */
    tg_real *dp = r->in[0]->grad, *dy = r->in[1]->grad;     /* [size] or NULL */
    double n = (double)r->in[0]->size;
    for (int64_t i = 0; i < r->in[0]->size; i++) {
        tg_real w = weight_of(r, a->red, i, n);
        /* 1e-12f: PyTorch's EPSILON is a float constant, in double builds too */
        if (dp) dp[i] += w * (p[i] - y[i]) / TG_FMAX((1 - p[i]) * p[i], (tg_real)1e-12f);
        if (dy) dy[i] -= w * TG_LOG(p[i] / (1 - p[i]));
    }
}

static int bce_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const pair_attr *a = r->attr;
    tg_tensor *p = r->in[0], *y = r->in[1];
    tg_tensor *w = weight_tensor(t, g, a->red, (double)p->size);
    tg_tensor *q = tg_add_scalar(t, tg_neg(t, p), 1); /* 1 − p */
    if (p->flags & TG_REQUIRES_GRAD) {
        tg_tensor *den = tg_clamp(t, tg_mul(t, q, p), (tg_real)1e-12f, (tg_real)INFINITY);
        dx[0] = tg_mul(t, w, tg_div(t, tg_sub(t, p, y), den));
    }
    if (y->flags & TG_REQUIRES_GRAD) dx[1] = tg_neg(t, tg_mul(t, w, tg_log(t, tg_div(t, p, q))));
    return TG_OK;
}

static const tg_op op_bce_loss = {.name = "bce_loss", .n_inputs = 2,
                                  .attr_size = sizeof(pair_attr), .shape = bce_shape,
                                  .forward = bce_forward, .backward = bce_backward,
                                  .vjp = bce_vjp,
                                  .doc = "-(y log p + (1 - y) log(1 - p)), logs clamped at -100"};

tg_tensor *tg_bce_loss(tg_tape *t, tg_tensor *prob, tg_tensor *target, tg_reduction red)
{
    return pair_loss(t, &op_bce_loss, prob, target, 0, red);
}

/* ------------------------------------------------------- bce_with_logits */

typedef struct {
    int red;
} red_attr;

static int bcel_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                      size_t len)
{
    const tg_tensor *x = r->in[0], *pw = r->in[2];
    if (!check_same(x, r->in[1], "logits", "target", msg, len)) return TG_ERR_SHAPE;
    if (pw) {
        int nd;
        int64_t s[TG_MAX_DIMS];
        if (tg_broadcast_shape(x, pw, &nd, s) != TG_OK ||
            nd != x->ndim || memcmp(s, x->shape, (size_t)nd * sizeof *s) != 0) {
            char sx[128], sp[128];
            snprintf(msg, len, "pos_weight %s does not broadcast to the logits' shape %s",
                     tg_shape_str(pw, sp, sizeof sp), tg_shape_str(x, sx, sizeof sx));
            return TG_ERR_SHAPE;
        }
    }
    return loss_shape(((const red_attr *)r->attr)->red, x, -1, ndim, shape, msg, len);
}

/* Offset in pos_weight (broadcast to x's shape) of x's flat index i. */
static int64_t bcast_index(const tg_tensor *x, const tg_tensor *pw, int64_t i)
{
    int64_t off = 0, stride = 1;
    for (int d = x->ndim - 1, e = pw->ndim - 1; e >= 0; d--, e--) {
        int64_t k = i % x->shape[d];
        i /= x->shape[d];
        if (pw->shape[e] != 1) off += k * stride;
        stride *= pw->shape[e];
    }
    return off;
}

/* bce_with_logits with w = 1 + (pw − 1)·y (w = 1 without pos_weight):
   ℓ = (1 − y)·x + w·softplus(−x),  softplus(−x) = max(−x, 0) + log1p(e^−|x|)
     = max(x, 0) − x·y + log1p(e^−|x|) when w = 1 (no exponential overflows)
   ∂ℓ/∂x  = (1 − y) − w·σ(−x) = w·σ(x) − pw·y
   ∂ℓ/∂y  = −x + (pw − 1)·softplus(−x) = pw·softplus(−x) − softplus(x)
   ∂ℓ/∂pw = y·softplus(−x) */
static tg_real softplus_neg(tg_real x) /* softplus(−x), stable */
{
    return (x < 0 ? -x : 0) + TG_LOG1P(TG_EXP(-TG_FABS(x)));
}

static tg_real sigmoid_stable(tg_real x)
{
    if (x >= 0) return 1 / (1 + TG_EXP(-x));
    tg_real e = TG_EXP(x);
    return e / (1 + e);
}

static int bcel_forward(tg_record *r)
{
    int red = ((const red_attr *)r->attr)->red;
    const tg_tensor *X = r->in[0], *PW = r->in[2];
    const tg_real *x = X->data, *y = r->in[1]->data; /* [size] */
    double sum = 0;
    for (int64_t i = 0; i < X->size; i++) {
        tg_real pw = PW ? PW->data[bcast_index(X, PW, i)] : 1;
        tg_real w = PW ? 1 + (pw - 1) * y[i] : 1;
        tg_real l = (1 - y[i]) * x[i] + w * softplus_neg(x[i]);
        if (red == TG_REDUCE_NONE) r->out->data[i] = l;
        else sum += l;
    }
    finish(r->out, red, sum, (double)X->size);
    return TG_OK;
}

static void bcel_backward(tg_record *r)
{
    int red = ((const red_attr *)r->attr)->red;
    const tg_tensor *X = r->in[0], *PW = r->in[2];
    const tg_real *x = X->data, *y = r->in[1]->data;  /* [size] */
    tg_real *dx = X->grad, *dy = r->in[1]->grad;      /* [size] or NULL */
    tg_real *dpw = PW ? PW->grad : NULL;              /* pos_weight's shape, or NULL */
    double n = (double)X->size;
    for (int64_t i = 0; i < X->size; i++) {
        int64_t j = PW ? bcast_index(X, PW, i) : 0;
        tg_real pw = PW ? PW->data[j] : 1;
        tg_real w = PW ? 1 + (pw - 1) * y[i] : 1;
        tg_real g = weight_of(r, red, i, n);
        if (dx) dx[i] += g * (PW ? w * sigmoid_stable(x[i]) - pw * y[i] : sigmoid_stable(x[i]) - y[i]);
        if (dy) dy[i] += g * (PW ? pw * softplus_neg(x[i]) - softplus_neg(-x[i]) : -x[i]);
        if (dpw) dpw[j] += g * y[i] * softplus_neg(x[i]);
    }
}

/* The same rules as ops; softplus(z) = −logsigmoid(−z), stable for any z. */
static int bcel_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    int red = ((const red_attr *)r->attr)->red;
    tg_tensor *x = r->in[0], *y = r->in[1], *pw = r->in[2];
    tg_tensor *w = weight_tensor(t, g, red, (double)x->size);
    tg_tensor *sp_neg = tg_neg(t, tg_logsigmoid(t, x)); /* softplus(−x) */
    if (!pw) {
        if (x->flags & TG_REQUIRES_GRAD) dx[0] = tg_mul(t, w, tg_sub(t, tg_sigmoid(t, x), y));
        if (y->flags & TG_REQUIRES_GRAD) dx[1] = tg_neg(t, tg_mul(t, w, x));
        return TG_OK;
    }
    tg_tensor *pwy = tg_mul(t, pw, y);
    if (x->flags & TG_REQUIRES_GRAD) { /* w·σ(x) − pw·y, w = 1 + (pw − 1)·y */
        tg_tensor *wy = tg_add_scalar(t, tg_sub(t, pwy, y), 1);
        dx[0] = tg_mul(t, w, tg_sub(t, tg_mul(t, wy, tg_sigmoid(t, x)), pwy));
    }
    if (y->flags & TG_REQUIRES_GRAD) { /* pw·softplus(−x) − softplus(x) */
        tg_tensor *sp = tg_neg(t, tg_logsigmoid(t, tg_neg(t, x)));
        dx[1] = tg_mul(t, w, tg_sub(t, tg_mul(t, pw, sp_neg), sp));
    }
    if (pw->flags & TG_REQUIRES_GRAD) /* y·softplus(−x), summed to pos_weight's shape */
        dx[2] = tg_sum_to(t, tg_mul(t, w, tg_mul(t, y, sp_neg)), pw->ndim, pw->shape);
    return TG_OK;
}

static const tg_op op_bce_with_logits = {
    .name = "bce_with_logits", .n_inputs = 3, .attr_size = sizeof(red_attr),
    .shape = bcel_shape, .forward = bcel_forward, .backward = bcel_backward, .vjp = bcel_vjp,
    .doc = "max(x, 0) - x y + log(1 + exp(-|x|)) (pos_weight: (1 - y) x + w softplus(-x))"};

tg_tensor *tg_bce_with_logits(tg_tape *t, tg_tensor *logits, tg_tensor *target,
                              tg_tensor *pos_weight, tg_reduction red)
{
    red_attr a = {(int)red};
    tg_tensor *in[3] = {logits, target, pos_weight};
    return tg_apply(t, &op_bce_with_logits, in, 3, &a);
}

/* ------------------------------------------------------------ class losses */

/* Logits (or log-probabilities) [N, C, d1, ...] are viewed as [N, C, inner]
   with inner = Π d; a 1-D [C] is N = 1. Sample (n, i) has its C class values
   at stride `inner` from n·C·inner + i, and its target at n·inner + i. */
typedef struct {
    int red;
    int64_t ignore_index;
    double smoothing;
    const int64_t *target; /* [N·inner], a copy on the tape; NULL for prob targets */
    const tg_index *target_idx; /* or the caller's index array, read when a rule runs */
    bool prob;             /* cross entropy with a probability tensor */
    int weight_input;      /* which input holds the [C] class weights (an input that
                              gets no gradient, read when the op runs: a replay
                              reads their current values) */
    const tg_real *weight; /* set from that input where a rule runs (class_attr_at);
                              NULL: every class 1 */
} class_attr;

/* The record's attributes with the class weights its input holds now. */
static class_attr class_attr_at(const tg_record *r)
{
    class_attr a = *(const class_attr *)r->attr;
    const tg_tensor *w = r->in[a.weight_input];
    a.weight = w ? w->data : NULL;
    if (a.target_idx) a.target = a.target_idx->data;
    return a;
}

/* The weight of class c: w_c, or 1 without class weights. */
static inline tg_real class_w(const class_attr *a, int64_t c)
{
    return a->weight ? a->weight[c] : 1;
}

typedef struct {
    int64_t N, C, inner;
} class_view;

static class_view class_view_of(const tg_tensor *x)
{
    class_view v = {1, x->ndim ? x->shape[x->ndim == 1 ? 0 : 1] : 1, 1};
    if (x->ndim >= 2) {
        v.N = x->shape[0];
        for (int i = 2; i < x->ndim; i++) v.inner *= x->shape[i];
    }
    return v;
}

static int class_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                       size_t len)
{
    class_attr at = class_attr_at(r);
    const class_attr *a = &at;
    const tg_tensor *x = r->in[0];
    if (x->ndim < 1) {
        snprintf(msg, len, "the input must have a class dimension, got a scalar");
        return TG_ERR_SHAPE;
    }
    if (!(a->smoothing >= 0 && a->smoothing <= 1)) {
        snprintf(msg, len, "label_smoothing must be in [0, 1], got %g", a->smoothing);
        return TG_ERR_INVALID;
    }
    class_view v = class_view_of(x);
    const tg_tensor *w = r->in[a->weight_input];
    if (w && (w->ndim != 1 || w->shape[0] != v.C)) {
        char sw[128];
        snprintf(msg, len, "weight %s does not match %lld classes (needs [%lld])",
                 tg_shape_str(w, sw, sizeof sw), (long long)v.C, (long long)v.C);
        return TG_ERR_SHAPE;
    }
    if (a->prob) {
        if (!check_same(x, r->in[1], "logits", "target", msg, len)) return TG_ERR_SHAPE;
    } else {
        if (!a->target) {
            snprintf(msg, len, "the target array is NULL");
            return TG_ERR_INVALID;
        }
        if (a->target_idx && (!tg_index_usable(r->tape, a->target_idx) ||
                              a->target_idx->size != v.N * v.inner)) {
            char sx[128];
            snprintf(msg, len, "the target index array %s (%lld indices for input %s)",
                     !tg_index_usable(r->tape, a->target_idx)
                         ? "belongs to another tape or is from before tg_tape_reset"
                         : "has the wrong number of indices",
                     (long long)a->target_idx->size, tg_shape_str(x, sx, sizeof sx));
            return TG_ERR_SHAPE;
        }
        for (int64_t s = 0; s < v.N * v.inner; s++) {
            int64_t c = a->target[s];
            if (c != a->ignore_index && (c < 0 || c >= v.C)) {
                snprintf(msg, len, "target[%lld] = %lld is out of range for %lld classes",
                         (long long)s, (long long)c, (long long)v.C);
                return TG_ERR_INVALID;
            }
        }
    }
    /* per-sample losses have x's shape without the class axis */
    return loss_shape(a->red, x, x->ndim == 1 ? 0 : 1, ndim, shape, msg, len);
}

/* The count the mean divides by: targets that are not ignored (index
   targets; with class weights, the sum of their weights, as PyTorch), or
   every sample (probability targets, weighted or not). */
static double class_count(const class_attr *a, class_view v)
{
    if (a->prob) return (double)(v.N * v.inner);
    double n = 0;
    for (int64_t s = 0; s < v.N * v.inner; s++)
        if (a->target[s] != a->ignore_index) n += class_w(a, a->target[s]);
    return n;
}

/* Log-sum-exp of one sample's C values at stride `st` as two parts, the max
   m and log Σ e^(x − m): log p_c = (x_c − m) − log Σ is then exact even for
   logits of 1e4, where m + log Σ would round away the small part. */
typedef struct {
    tg_real m, logs;
} lse_parts;

static lse_parts logsumexp(const tg_real *x, int64_t C, int64_t st)
{
    tg_real m = -INFINITY;
    for (int64_t c = 0; c < C; c++) {
        tg_real v = x[c * st];
        if (v > m || isnan(v)) m = v;
        if (isnan(m)) return (lse_parts){m, m};
    }
    /* m = ±inf gives NaN through inf − inf, as PyTorch's log_softmax does */
    double s = 0;
    for (int64_t c = 0; c < C; c++) s += (double)TG_EXP(x[c * st] - m);
    return (lse_parts){m, (tg_real)log(s)};
}

/* q_c of sample s (see below); y is the probability target or NULL. */
static tg_real class_q(const class_attr *a, class_view v, const tg_real *y, int64_t s,
                       int64_t base, int64_t c, tg_real eps)
{
    tg_real C = (tg_real)v.C;
    if (a->prob) return class_w(a, c) * ((1 - eps) * y[base + c * v.inner] + eps / C);
    return (1 - eps) * (c == a->target[s] ? class_w(a, c) : 0) + eps / C * class_w(a, c);
}

/* cross_entropy, fused with log_softmax (ε = label smoothing, t = target,
   w_c the class weights, all 1 without them):
   log p_c = x_c − lse(x),  q_c = (1 − ε)·w_t·[c = t] + ε/C·w_c
                            (or q_c = w_c·((1 − ε)·y_c + ε/C))
   ℓ = −Σ_c q_c·log p_c
   ∂ℓ/∂x_c = p_c·Σ_k q_k − q_c   (= p_c − q_c when q sums to 1)
   ∂ℓ/∂y_c = −(1 − ε)·w_c·log p_c    (probability targets)
   nll (on log-probabilities z, no smoothing): ℓ = −w_t·z_t, ∂ℓ/∂z_t = −w_t.
   The forward saves (m, log Σ) per sample, so backward gets p_c = e^(log p_c). */
/* Index targets read at run time (tg_index) are checked again when a
   replay runs the forward (the recording checked them in class_shape). */
static bool targets_in_range(const class_attr *a, class_view v)
{
    if (a->prob || !a->target_idx) return true;
    for (int64_t s = 0; s < v.N * v.inner; s++) {
        int64_t c = a->target[s];
        if (c != a->ignore_index && (c < 0 || c >= v.C)) return false;
    }
    return true;
}

static int ce_forward(tg_record *r)
{
    class_attr at = class_attr_at(r);
    const class_attr *a = &at;
    const tg_tensor *X = r->in[0];
    class_view v = class_view_of(X);
    const tg_real *x = X->data;                        /* [N, C, inner] */
    const tg_real *y = a->prob ? r->in[1]->data : NULL; /* [N, C, inner] or NULL */
    int64_t S = v.N * v.inner;
    if (!targets_in_range(a, v)) return TG_ERR_INVALID;
    lse_parts *lse = tg_record_save(r, (size_t)(S ? S : 1) * sizeof *lse); /* [N·inner] */
    if (!lse) return TG_ERR_NOMEM;
    tg_real eps = (tg_real)a->smoothing;
    double sum = 0;
    for (int64_t n = 0; n < v.N; n++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t s = n * v.inner + i, base = n * v.C * v.inner + i;
            tg_real l = 0;
            if (!a->prob && a->target[s] == a->ignore_index) {
                lse[s] = (lse_parts){0, 0};
            } else if (a->prob || eps > 0) {
                lse_parts z = lse[s] = logsumexp(x + base, v.C, v.inner);
                for (int64_t c = 0; c < v.C; c++) {
                    int64_t j = base + c * v.inner;
                    l -= class_q(a, v, y, s, base, c, eps) * ((x[j] - z.m) - z.logs);
                }
            } else { /* q is w_t at the target alone */
                lse_parts z = lse[s] = logsumexp(x + base, v.C, v.inner);
                int64_t t = a->target[s];
                l = -class_w(a, t) * ((x[base + t * v.inner] - z.m) - z.logs);
            }
            if (a->red == TG_REDUCE_NONE) r->out->data[s] = l;
            else sum += l;
        }
    finish(r->out, a->red, sum, class_count(a, v));
    return TG_OK;
}

static void ce_backward(tg_record *r)
{
    class_attr at = class_attr_at(r);
    const class_attr *a = &at;
    const tg_tensor *X = r->in[0];
    class_view v = class_view_of(X);
    const tg_real *x = X->data;                         /* [N, C, inner] */
    const tg_real *y = a->prob ? r->in[1]->data : NULL;  /* [N, C, inner] or NULL */
    const lse_parts *lse = r->saved;                     /* [N·inner] */
    tg_real *dx = X->grad;                               /* [N, C, inner] or NULL */
    tg_real *dy = a->prob ? r->in[1]->grad : NULL;       /* [N, C, inner] or NULL */
    tg_real eps = (tg_real)a->smoothing;
    double count = class_count(a, v);
    for (int64_t n = 0; n < v.N; n++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t s = n * v.inner + i, base = n * v.C * v.inner + i;
            if (!a->prob && a->target[s] == a->ignore_index) continue;
            tg_real g = weight_of(r, a->red, s, count);
            tg_real qsum = 1; /* Σ_c q_c: 1 for index targets without class weights */
            if (a->weight || a->prob) {
                double acc = 0;
                for (int64_t c = 0; c < v.C; c++) acc += (double)class_q(a, v, y, s, base, c, eps);
                qsum = (tg_real)acc;
            }
            for (int64_t c = 0; c < v.C; c++) {
                int64_t j = base + c * v.inner;
                tg_real logp = (x[j] - lse[s].m) - lse[s].logs;
                tg_real q = class_q(a, v, y, s, base, c, eps);
                if (dx) dx[j] += g * (TG_EXP(logp) * qsum - q);
                if (dy) dy[j] -= g * (1 - eps) * class_w(a, c) * logp;
            }
        }
}

/* ---- the class losses' vjps: the same rules as ops on [N, C, d...]. The
   targets (and class weights) become constant tensors; a sample's gradient
   weight G broadcasts along the class axis (kept as 1). */

/* The class axis of x and x's shape with it kept as 1 (for G and sums). */
static int class_axis(const tg_tensor *x, int64_t keep[TG_MAX_DIMS])
{
    int axis = x->ndim == 1 ? 0 : 1;
    for (int i = 0; i < x->ndim; i++) keep[i] = i == axis ? 1 : x->shape[i];
    return axis;
}

/* A constant tensor of x's shape (or, with `keep`, the kept shape) whose
   element (s, c) is f(a, v, s, base, c); an empty class slot gives 0. */
typedef tg_real (*class_fill)(const class_attr *a, class_view v, int64_t s, int64_t base,
                              int64_t c);
static tg_tensor *class_constant(tg_tape *t, const tg_tensor *x, const class_attr *a,
                                 class_fill f, const int64_t *keep)
{
    class_view v = class_view_of(x);
    int64_t C = keep ? 1 : v.C;
    tg_tensor *k = keep ? tg_zeros(t, x->ndim, keep) : tg_zeros(t, x->ndim, x->shape);
    if (!k) return NULL;
    for (int64_t n = 0; n < v.N; n++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t s = n * v.inner + i, base = n * C * v.inner + i;
            for (int64_t c = 0; c < C; c++) k->data[base + c * v.inner] = f(a, v, s, base, c);
        }
    return k;
}

static bool sample_active(const class_attr *a, int64_t s)
{
    return a->prob || a->target[s] != a->ignore_index;
}
/* 1 for a sample that counts, 0 for one whose target is ignore_index */
static tg_real fill_active(const class_attr *a, class_view v, int64_t s, int64_t base, int64_t c)
{
    (void)v, (void)base, (void)c;
    return sample_active(a, s);
}
/* (1 − ε)·[c = t] + ε/C of an index target (q_c without its class weight),
   0 for an ignored sample */
static tg_real fill_q0(const class_attr *a, class_view v, int64_t s, int64_t base, int64_t c)
{
    (void)base;
    if (!sample_active(a, s)) return 0;
    tg_real eps = (tg_real)a->smoothing;
    return (1 - eps) * (c == a->target[s]) + eps / (tg_real)v.C;
}
/* 1 at the target of a counted sample, 0 elsewhere */
static tg_real fill_at(const class_attr *a, class_view v, int64_t s, int64_t base, int64_t c)
{
    (void)v, (void)base;
    return sample_active(a, s) && c == a->target[s];
}

/* The class weights as [1, C, 1, ...] (or [C]) from the op's weight input
   (an op on it, so that a replay reads its values then), or NULL. */
static tg_tensor *class_weights_b(tg_tape *t, const tg_record *r)
{
    const class_attr *a = r->attr;
    tg_tensor *w = r->in[a->weight_input], *x = r->in[0];
    if (!w) return NULL;
    int axis = x->ndim == 1 ? 0 : 1;
    int64_t ws[TG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) ws[i] = i == axis ? w->size : 1;
    return tg_reshape(t, w, x->ndim, ws);
}

/* G: the gradient weight of each sample, broadcastable over x (the kept
   shape for NONE, 0-d otherwise). A mean with class weights divides by the
   sum of the targets' weights, computed here with ops on the weights, and
   is NaN over a sum of 0 (0/0, as PyTorch). */
static tg_tensor *class_weight(tg_tape *t, const tg_record *r, tg_tensor *g,
                               const int64_t *keep)
{
    class_attr at = class_attr_at(r);
    const class_attr *a = &at;
    const tg_tensor *x = r->in[0];
    if (a->red == TG_REDUCE_NONE) return tg_reshape(t, g, x->ndim, keep);
    tg_tensor *wb = class_weights_b(t, r);
    if (a->red != TG_REDUCE_MEAN || a->prob || !wb)
        return weight_tensor(t, g, a->red, class_count(a, class_view_of(x)));
    tg_tensor *count = tg_sum(t, tg_mul(t, class_constant(t, x, a, fill_at, NULL), wb), TG_ALL,
                              false);
    tg_tensor *zero = tg_scalar(t, 0);
    return tg_where(t, tg_eq(t, count, zero), tg_scalar(t, (tg_real)NAN), tg_div(t, g, count));
}

/* dx = G·(p·Σq − q) for counted samples (0 for ignored ones, even where G
   is NaN), p = e^(log_softmax x);  dy = −G·(1 − ε)·w_c·log p */
static int ce_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    class_attr at = class_attr_at(r);
    const class_attr *a = &at;
    tg_tensor *x = r->in[0], *y = a->prob ? r->in[1] : NULL;
    int64_t keep[TG_MAX_DIMS];
    int axis = class_axis(x, keep);
    tg_real eps = (tg_real)a->smoothing, C = (tg_real)class_view_of(x).C;
    tg_tensor *G = class_weight(t, r, g, keep);
    tg_tensor *lsm = tg_log_softmax(t, x, axis);
    tg_tensor *wb = class_weights_b(t, r);
    /* q = w_c·((1 − ε)·y + ε/C), or w_c·((1 − ε)·[c = t] + ε/C) */
    tg_tensor *q = a->prob ? tg_add_scalar(t, tg_scale(t, y, 1 - eps), eps / C)
                           : class_constant(t, x, a, fill_q0, NULL);
    if (wb) q = tg_mul(t, q, wb);
    if (x->flags & TG_REQUIRES_GRAD) {
        tg_tensor *qsum = tg_sum(t, q, axis, true);
        tg_tensor *d = tg_mul(t, G, tg_sub(t, tg_mul(t, tg_exp(t, lsm), qsum), q));
        dx[0] = a->prob ? d
                        : tg_where(t, class_constant(t, x, a, fill_active, keep), d,
                                   tg_scalar(t, 0));
    }
    if (y && (y->flags & TG_REQUIRES_GRAD)) {
        tg_tensor *l = tg_scale(t, lsm, 1 - eps);
        if (wb) l = tg_mul(t, l, wb);
        dx[1] = tg_neg(t, tg_mul(t, G, l));
    }
    return TG_OK;
}

static const tg_op op_cross_entropy = {
    .name = "cross_entropy", .n_inputs = 3, .attr_size = sizeof(class_attr),
    .shape = class_shape, .forward = ce_forward, .backward = ce_backward, .vjp = ce_vjp,
    .doc = "-sum_c q_c log softmax(x)_c, q = (1 - eps) onehot(t) or y, + eps / C"};

static int nll_forward(tg_record *r)
{
    class_attr at = class_attr_at(r);
    const class_attr *a = &at;
    class_view v = class_view_of(r->in[0]);
    if (!targets_in_range(a, v)) return TG_ERR_INVALID;
    const tg_real *z = r->in[0]->data; /* [N, C, inner] */
    double sum = 0;
    for (int64_t n = 0; n < v.N; n++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t s = n * v.inner + i, t = a->target[s];
            tg_real l =
                t == a->ignore_index ? 0 : -class_w(a, t) * z[n * v.C * v.inner + t * v.inner + i];
            if (a->red == TG_REDUCE_NONE) r->out->data[s] = l;
            else sum += l;
        }
    finish(r->out, a->red, sum, class_count(a, v));
    return TG_OK;
}

static void nll_backward(tg_record *r)
{
    class_attr at = class_attr_at(r);
    const class_attr *a = &at;
    class_view v = class_view_of(r->in[0]);
    tg_real *dz = r->in[0]->grad; /* [N, C, inner] */
    double count = class_count(a, v);
    for (int64_t n = 0; n < v.N; n++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t s = n * v.inner + i, t = a->target[s];
            if (t == a->ignore_index) continue;
            dz[n * v.C * v.inner + t * v.inner + i] -=
                class_w(a, t) * weight_of(r, a->red, s, count);
        }
}

/* dz = −w_t·G at each counted sample's target, exactly 0 elsewhere */
static int nll_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    class_attr at = class_attr_at(r);
    const class_attr *a = &at;
    tg_tensor *z = r->in[0];
    int64_t keep[TG_MAX_DIMS];
    class_axis(z, keep);
    tg_tensor *G = class_weight(t, r, g, keep);
    tg_tensor *at_target = class_constant(t, z, a, fill_at, NULL), *wb = class_weights_b(t, r);
    tg_tensor *d = tg_neg(t, tg_mul(t, G, wb ? tg_mul(t, at_target, wb) : at_target));
    dx[0] = tg_where(t, at_target, d, tg_scalar(t, 0));
    return TG_OK;
}

static int nll_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    if (((const class_attr *)r->attr)->smoothing != 0) {
        snprintf(msg, len, "label_smoothing must be 0 (it applies to cross_entropy only)");
        return TG_ERR_INVALID;
    }
    return class_shape(r, ndim, shape, msg, len);
}

static const tg_op op_nll_loss = {.name = "nll_loss", .n_inputs = 2,
                                  .attr_size = sizeof(class_attr), .shape = nll_shape,
                                  .forward = nll_forward, .backward = nll_backward,
                                  .vjp = nll_vjp,
                                  .doc = "-logp[target]"};

/* The options as the op's attributes; the class weights, if any, are the
   op's input number `weight_input` (class_shape checks that they are [C]). */
static class_attr class_attr_of(const tg_ce_opts *opts, bool prob, int weight_input)
{
    tg_ce_opts o = opts ? *opts : TG_CE_OPTS_DEFAULT;
    return (class_attr){(int)o.reduction, o.ignore_index, o.label_smoothing, NULL, NULL, prob,
                        weight_input, NULL};
}

/* The class weights of the options as an input (read, never written): the
   tensor itself when it is one of this tape's or a parameter, so that a
   replay reads its values then; a copy made now otherwise. */
static tg_tensor *weight_input(tg_tape *t, const tg_ce_opts *opts)
{
    if (!t || !opts || !opts->weight) return NULL;
    tg_tensor *w = (tg_tensor *)(uintptr_t)opts->weight;
    if (tg_tensor_usable(t, w)) return w;
    return w->data || w->size == 0 ? tg_tensor_new(t, w->ndim, w->shape, w->data) : w;
}

/* Copies the class indices onto the tape (so the caller may reuse its
   buffer) and runs the op: {x, weights} for nll, {x, NULL, weights} for
   cross entropy. */
static tg_tensor *class_loss(tg_tape *t, const tg_op *op, tg_tensor *x, const int64_t *target,
                             const tg_ce_opts *opts)
{
    int wi = op->n_inputs - 1;
    class_attr a = class_attr_of(opts, false, wi);
    if (t && x && target) {
        class_view v = x->ndim ? class_view_of(x) : (class_view){1, 1, 1};
        size_t n = (size_t)(v.N * v.inner);
        int64_t *copy = tg_tape_alloc(t, (n ? n : 1) * sizeof *copy);
        if (!copy) return NULL;
        if (n) memcpy(copy, target, n * sizeof *copy);
        a.target = copy;
    }
    tg_tensor *in[3] = {x, NULL, NULL};
    in[wi] = weight_input(t, opts);
    return tg_apply(t, op, in, op->n_inputs, &a);
}

tg_tensor *tg_cross_entropy_ex(tg_tape *t, tg_tensor *logits, const int64_t *target,
                               const tg_ce_opts *opts)
{
    return class_loss(t, &op_cross_entropy, logits, target, opts);
}

tg_tensor *tg_cross_entropy(tg_tape *t, tg_tensor *logits, const int64_t *target,
                            tg_reduction red)
{
    tg_ce_opts o = TG_CE_OPTS_DEFAULT;
    o.reduction = red;
    return class_loss(t, &op_cross_entropy, logits, target, &o);
}

tg_tensor *tg_cross_entropy_prob(tg_tape *t, tg_tensor *logits, tg_tensor *target,
                                 const tg_ce_opts *opts)
{
    class_attr a = class_attr_of(opts, true, 2);
    tg_tensor *in[3] = {logits, target, weight_input(t, opts)};
    return tg_apply(t, &op_cross_entropy, in, 3, &a);
}

tg_tensor *tg_nll_loss(tg_tape *t, tg_tensor *logp, const int64_t *target,
                       const tg_ce_opts *opts)
{
    return class_loss(t, &op_nll_loss, logp, target, opts);
}

/* The same with the targets as an index array read when the op runs (a
   replay reads their values then). */
static tg_tensor *class_loss_idx(tg_tape *t, const tg_op *op, tg_tensor *x,
                                 const tg_index *target, const tg_ce_opts *opts)
{
    if (!t) return NULL;
    if (!target) {
        if (!tg_tape_failed(t)) tg_tape_set_error(t, "tg_%s: the target is NULL", op->name);
        return NULL;
    }
    int wi = op->n_inputs - 1;
    class_attr a = class_attr_of(opts, false, wi);
    a.target = target->data;
    a.target_idx = target;
    tg_tensor *in[3] = {x, NULL, NULL};
    in[wi] = weight_input(t, opts);
    return tg_apply(t, op, in, op->n_inputs, &a);
}

tg_tensor *tg_cross_entropy_idx(tg_tape *t, tg_tensor *logits, const tg_index *target,
                                const tg_ce_opts *opts)
{
    return class_loss_idx(t, &op_cross_entropy, logits, target, opts);
}

tg_tensor *tg_nll_loss_idx(tg_tape *t, tg_tensor *logp, const tg_index *target,
                           const tg_ce_opts *opts)
{
    return class_loss_idx(t, &op_nll_loss, logp, target, opts);
}

static const tg_op *const loss_ops[] = {&op_mse_loss,   &op_l1_loss,          &op_smooth_l1_loss,
                                        &op_huber_loss, &op_bce_loss,         &op_bce_with_logits,
                                        &op_cross_entropy, &op_nll_loss};
const tg_op_table tg_loss_ops = {loss_ops, sizeof loss_ops / sizeof *loss_ops};
