/* Losses: the element-wise ones (mse, l1, smooth_l1, huber, bce,
   bce_with_logits, kl_div, poisson_nll, gaussian_nll, hinge_embedding,
   margin_ranking), the ones over rows (cosine_similarity,
   cosine_embedding, triplet_margin) and the class losses (cross_entropy
   with class indices or probabilities, fused with log_softmax; nll;
   multi_margin).

   Reduction (PyTorch's semantics): NONE keeps one loss per element (per
   sample for the class losses), SUM adds them, MEAN divides the sum by their
   number (for the class-index losses: by the number of targets that are not
   ignore_index, or with class weights by the sum of their targets' weights;
   kl_div's BATCHMEAN by the input's first dimension).
   So in backward each element's gradient weight is
     none: g[i]     sum: g     mean: g / count.
   Sums accumulate in double, so a float mean over many elements keeps its
   precision. */
#include "ops/fast_act.h" /* exp_nonpos, the float build's exponential */
#include "ops/walk.h"

/* ---------------------------------------------------------- reductions */

static bool reduction_ok(int red)
{
    return red == TG_REDUCE_MEAN || red == TG_REDUCE_SUM || red == TG_REDUCE_NONE;
}

/* Output shape of a loss whose per-element shape is (nd, dims) with `skip`
   (an axis, or -1 for none) removed. */
static int loss_shape_of(int red, int nd, const int64_t *dims, int skip, int *ndim,
                         int64_t shape[TG_MAX_DIMS], char *msg, size_t len)
{
    if (!reduction_ok(red)) {
        snprintf(msg, len, "unknown reduction %d", red);
        return TG_ERR_INVALID;
    }
    *ndim = 0;
    if (red != TG_REDUCE_NONE) return TG_OK;
    for (int i = 0; i < nd; i++)
        if (i != skip) shape[(*ndim)++] = dims[i];
    return TG_OK;
}

/* The same for per-element losses of x's shape. */
static int loss_shape(int red, const tg_tensor *x, int skip, int *ndim,
                      int64_t shape[TG_MAX_DIMS], char *msg, size_t len)
{
    return loss_shape_of(red, x->ndim, x->shape, skip, ndim, shape, msg, len);
}

/* BATCHMEAN (kl_div's) is a mean with its own count from here on. */
static bool is_mean(int red) { return red == TG_REDUCE_MEAN || red == TG_REDUCE_BATCHMEAN; }

/* Writes the reduced value (sum or sum/count) into out[0]. A mean over a
   count of 0 (no element, every target ignored, or targets whose class
   weights sum to 0) is 0/0 = NaN, as in PyTorch, whatever the sum. */
static void finish(tg_tensor *out, int red, double sum, double count)
{
    if (red == TG_REDUCE_SUM) out->data[0] = (tg_real)sum;
    if (is_mean(red)) out->data[0] = count == 0 ? (tg_real)NAN : (tg_real)(sum / count);
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
    if (!is_mean(red)) return g;
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

#define K(v) tg_scalar(t, (tg_real)(v))
#define TWO_PI 6.28318530717958647693

/* x's gradient from `full`, a tensor that broadcasts to the loss's shape
   (the rule's factors need not span it: −w·y has y's shape): spread over
   the shape it and x broadcast to, then summed down to x's shape. */
static tg_tensor *summed_to(tg_tape *t, const tg_tensor *x, tg_tensor *full)
{
    if (!full) return NULL;
    tg_tensor both = {0};
    if (tg_broadcast_shape(full, x, &both.ndim, both.shape) == TG_OK)
        full = tg_expand(t, full, both.ndim, both.shape);
    return tg_sum_to(t, full, x->ndim, x->shape);
}
/* Input k's gradient, summed_to from `full`, into dx[k] when it needs one */
static void set_dx(tg_tape *t, const tg_record *r, tg_tensor **dx, int k, tg_tensor *full)
{
    const tg_tensor *x = r->in[k];
    if (!x || !(x->flags & TG_REQUIRES_GRAD) || !full) return;
    dx[k] = summed_to(t, x, full);
}

/* ------------------------------------------- a clamp outside the gradient */

/* y = max(x, lo), NaN kept        dy/dx = 1 everywhere
   The value clamped, the gradient passed as if it were not: PyTorch's
   losses clamp this way outside the graph (gaussian_nll_loss's var,
   cosine_similarity's norms), and their vjps need it as an op of their own
   so that a replay computes it again from the input. */
typedef struct {
    tg_real lo;
} through_attr;

static int clamp_min_through_forward(tg_record *r)
{
    tg_real lo = ((const through_attr *)r->attr)->lo;
    const tg_real *x = r->in[0]->data; /* [size] */
    tg_real *y = r->out->data;         /* [size] */
    for (int64_t i = 0; i < r->out->size; i++) y[i] = x[i] < lo ? lo : x[i];
    return TG_OK;
}

static void clamp_min_through_backward(tg_record *r)
{
    const tg_real *g = r->out->grad;
    tg_real *dx = r->in[0]->grad;
    for (int64_t i = 0; i < r->out->size; i++) dx[i] += g[i];
}

static int clamp_min_through_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    (void)t, (void)r;
    dx[0] = g;
    return TG_OK;
}

static const tg_op op_clamp_min_through = {
    .name = "clamp_min_through", .n_inputs = 1, .attr_size = sizeof(through_attr),
    .shape = tg_shape_same, .forward = clamp_min_through_forward,
    .backward = clamp_min_through_backward, .vjp = clamp_min_through_vjp,
    .doc = "max(x, lo), its gradient passed as if unclamped (internal)"};

static tg_tensor *clamp_min_through(tg_tape *t, tg_tensor *x, tg_real lo)
{
    through_attr a = {lo};
    return tg_apply(t, &op_clamp_min_through, &x, 1, &a);
}

/* ---------------------------------------------------- element-wise losses

   ℓ_k = f(v_0[k], v_1[k], ...) over the shape the inputs broadcast to, then
   reduced. Each loss gives NAME##_l (the loss of one element from its input
   values v, an absent optional input reading 1) and NAME##_dl (the partials
   ∂ℓ/∂v_i), and its vjp; EW_LOSS makes the op, whose forward and backward
   walk the inputs (src/ops/walk.h) and sum a broadcast input's gradient in
   double. */

typedef struct {
    int red;
    tg_real p, q;   /* beta, delta, margin, eps */
    unsigned flags; /* EW_* */
} ew_attr;

enum {
    EW_LOG_TARGET = 1u << 0, /* kl_div: the target is log-probabilities */
    EW_LOG_INPUT = 1u << 1,  /* poisson_nll: the input is log λ */
    EW_FULL = 1u << 2,       /* poisson_nll, gaussian_nll: the constant terms too */
    EW_VAR = 1u << 3,        /* gaussian_nll: input 2 is var, seen through var_view */
    EW_POS_WEIGHT = 1u << 4  /* bce_with_logits: pos_weight given */
};

typedef tg_real (*ew_loss_fn)(const tg_real *v, const ew_attr *a);
typedef void (*ew_grad_fn)(const tg_real *v, const ew_attr *a, tg_real *d);

/* The inputs as a loss sees them (each one's view: its own shape, but
   gaussian_nll_loss's var with a trailing 1 where PyTorch adds it) and the
   shape they broadcast to. */
typedef struct {
    int n;
    int nd[TG_WALK_MAX];
    int64_t sh[TG_WALK_MAX][TG_MAX_DIMS];
    int ndim;
    int64_t shape[TG_MAX_DIMS], size;
} ew_geom;

/* gaussian_nll_loss's var as F.gaussian_nll_loss reads it: var of input's
   shape; or input's shape without its last dimension (a var per row: seen
   with a trailing 1); or that with a trailing 1. Anything else: false. */
static bool var_view(const tg_tensor *x, const tg_tensor *v, int *nd, int64_t *sh)
{
    *nd = v->ndim;
    memcpy(sh, v->shape, (size_t)v->ndim * sizeof *sh);
    if (tg_same_shape(x, v)) return true;
    if (x->ndim == 0) return false;
    bool head = x->ndim - 1 == v->ndim || (x->ndim == v->ndim && v->shape[v->ndim - 1] == 1);
    for (int i = 0; head && i < x->ndim - 1; i++) head = x->shape[i] == v->shape[i];
    if (!head) return false;
    if (v->ndim < x->ndim) sh[(*nd)++] = 1;
    return true;
}

/* TG_ERR_SHAPE when the inputs do not broadcast (or var fits no rule). */
static int ew_geom_of(const tg_record *r, ew_geom *gm)
{
    const ew_attr *a = r->attr;
    tg_tensor views[TG_WALK_MAX];
    const tg_tensor *vp[TG_WALK_MAX];
    gm->n = r->op->n_inputs;
    for (int i = 0; i < gm->n; i++) {
        const tg_tensor *x = r->in[i];
        vp[i] = NULL;
        gm->nd[i] = -1;
        if (!x) continue;
        tg_tensor *v = &views[i];
        if (i == 2 && (a->flags & EW_VAR)) {
            if (!var_view(r->in[0], x, &v->ndim, v->shape)) return TG_ERR_SHAPE;
        } else {
            v->ndim = x->ndim;
            memcpy(v->shape, x->shape, sizeof v->shape);
        }
        gm->nd[i] = v->ndim;
        memcpy(gm->sh[i], v->shape, sizeof v->shape);
        vp[i] = v;
    }
    if (tg_broadcast_n(gm->n, vp, &gm->ndim, gm->shape) != TG_OK) return TG_ERR_SHAPE;
    if (!tg_shape_numel(gm->ndim, gm->shape, &gm->size)) return TG_ERR_SHAPE;
    return TG_OK;
}

/* (an absent input, nd −1, takes a place in the walk that is never read) */
static tg_walk ew_walk(const ew_geom *gm)
{
    tg_walk w;
    tg_walk_init(&w, gm->ndim, gm->shape);
    for (int i = 0; i < gm->n; i++)
        if (gm->nd[i] < 0) tg_walk_add(&w, gm->ndim, gm->shape);
        else tg_walk_add(&w, gm->nd[i], gm->sh[i]);
    return w;
}

/* The count a mean divides by: the elements, or for BATCHMEAN the input's
   first dimension (1 for a 0-d input, where it is the sum, as F.kl_div). */
static double ew_count(const tg_record *r, const ew_geom *gm)
{
    const ew_attr *a = r->attr;
    if (a->red == TG_REDUCE_BATCHMEAN) return r->in[0]->ndim ? (double)r->in[0]->shape[0] : 1;
    return (double)gm->size;
}

/* The gradient weight of an element-wise loss's vjp (weight_tensor with
   the loss's count). A mean over an empty broadcast (input [0] against
   target [1]) has no element and the weight NaN (0/0): it is spread over
   that empty shape, so that every product with it is empty as well. A
   factor of one input's own shape times the NaN (−w·y, y [1]) would be
   NaN, and the second backward through that product NaN·0 = NaN, where
   PyTorch's chain holds only empty tensors and gives 0. */
static tg_tensor *ew_weight(tg_tape *t, const tg_record *r, tg_tensor *g)
{
    const ew_attr *a = r->attr;
    ew_geom gm;
    ew_geom_of(r, &gm);
    double count = ew_count(r, &gm);
    tg_tensor *w = weight_tensor(t, g, a->red, count);
    return is_mean(a->red) && count == 0 ? tg_expand(t, w, gm.ndim, gm.shape) : w;
}

/* The input values at the walk's position, 1 for an absent input. */
static void ew_values(const tg_record *r, const tg_walk *w, int n, tg_real *v)
{
    for (int i = 0; i < n; i++) v[i] = r->in[i] ? r->in[i]->data[w->off[i]] : 1;
}

static int ew_run(tg_record *r, ew_loss_fn f)
{
    const ew_attr *a = r->attr;
    ew_geom gm;
    ew_geom_of(r, &gm);
    tg_walk w = ew_walk(&gm);
    tg_real v[TG_WALK_MAX];
    double sum = 0;
    for (int64_t k = 0; k < gm.size; k++, tg_walk_next(&w)) {
        ew_values(r, &w, gm.n, v);
        tg_real l = f(v, a);
        if (a->red == TG_REDUCE_NONE) r->out->data[k] = l;
        else sum += l;
    }
    finish(r->out, a->red, sum, ew_count(r, &gm));
    return TG_OK;
}

static void ew_grad(tg_record *r, ew_grad_fn df)
{
    const ew_attr *a = r->attr;
    ew_geom gm;
    ew_geom_of(r, &gm);
    double count = ew_count(r, &gm);
    tg_walk w = ew_walk(&gm);
    tg_sink s[TG_WALK_MAX];
    for (int i = 0; i < gm.n; i++) s[i] = tg_sink_begin(r->tape, r->in[i], gm.size);
    tg_real v[TG_WALK_MAX], d[TG_WALK_MAX];
    for (int64_t k = 0; k < gm.size; k++, tg_walk_next(&w)) {
        ew_values(r, &w, gm.n, v);
        df(v, a, d);
        tg_real gk = weight_of(r, a->red, k, count);
        for (int i = 0; i < gm.n; i++)
            if (s[i].grad) tg_sink_add(&s[i], w.off[i], gk * d[i]);
    }
    for (int i = 0; i < gm.n; i++) tg_sink_end(&s[i]);
}

/* The shape check shared by the element-wise losses: the first n_req
   inputs present (names[i] for the messages), all broadcast together, a
   known reduction (BATCHMEAN only with `batchmean`); the output has the
   broadcast shape for NONE. */
static int ew_shape(const tg_record *r, int n_req, const char *const *names, bool batchmean,
                    int *ndim, int64_t shape[TG_MAX_DIMS], char *msg, size_t len)
{
    const ew_attr *a = r->attr;
    for (int i = 1; i < n_req; i++)
        if (!r->in[i]) {
            snprintf(msg, len, "the %s is NULL", names[i]);
            return TG_ERR_INVALID;
        }
    ew_geom gm;
    if (ew_geom_of(r, &gm) != TG_OK) {
        int o = snprintf(msg, len, "shapes cannot be broadcast together (or to a size memory "
                                   "can hold):");
        for (int i = 0; i < r->op->n_inputs && o > 0 && (size_t)o < len; i++) {
            char b[96];
            if (r->in[i])
                o += snprintf(msg + o, len - (size_t)o, "%s %s %s", i ? "," : "", names[i],
                              tg_shape_str(r->in[i], b, sizeof b));
        }
        return TG_ERR_SHAPE;
    }
    int red = batchmean && a->red == TG_REDUCE_BATCHMEAN ? TG_REDUCE_SUM : a->red;
    return loss_shape_of(red, gm.ndim, gm.shape, -1, ndim, shape, msg, len);
}

#define EW_LOSS(NAME, N, SHAPE, DOC) EW_LOSS_F(NAME, N, SHAPE, DOC, 0)
/* FLAGS: TG_OP_CHECK_ON_REPLAY for a SHAPE that checks the values (bce's
   probabilities, gaussian_nll's variances): a replay runs it again */
#define EW_LOSS_F(NAME, N, SHAPE, DOC, FLAGS)                                            \
    static int NAME##_forward(tg_record *r) { return ew_run(r, NAME##_l); }              \
    static void NAME##_backward(tg_record *r) { ew_grad(r, NAME##_dl); }                 \
    static const tg_op op_##NAME = {.name = #NAME, .n_inputs = N, .flags = FLAGS,        \
                                    .attr_size = sizeof(ew_attr), .shape = SHAPE,        \
                                    .forward = NAME##_forward,                           \
                                    .backward = NAME##_backward, .vjp = NAME##_vjp,      \
                                    .doc = DOC};

static tg_tensor *ew_loss(tg_tape *t, const tg_op *op, tg_tensor *const *in, ew_attr a)
{
    tg_tensor *x[TG_WALK_MAX];
    for (int i = 0; i < op->n_inputs; i++) x[i] = in[i];
    return tg_apply(t, op, x, op->n_inputs, &a);
}

/* ------------------------------------------------- regression losses */

static const char *const PAIR_NAMES[2] = {"input", "target"};

/* input and target broadcast together (F.mse_loss and friends broadcast
   them, with a warning; tapegrad broadcasts without one, and a broadcast
   input's gradient is the sum over the positions it was repeated to) */
static int pair_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                      size_t len)
{
    return ew_shape(r, 2, PAIR_NAMES, false, ndim, shape, msg, len);
}

/* PAIR_LOSS(NAME, SHAPE, DOC): an op from NAME##_of(d, p) (the loss of one
   difference d = input − target) and NAME##_d(d, p) (its derivative in d),
   with NAME##_d_of(t, d, p), the same derivative as tg_ ops on a tensor d.
   ∂ℓ/∂input = ℓ'(d), ∂ℓ/∂target = −ℓ'(d). */
#define PAIR_LOSS(NAME, SHAPE, DOC)                                                      \
    static tg_real NAME##_l(const tg_real *v, const ew_attr *a)                          \
    {                                                                                    \
        return NAME##_of(v[0] - v[1], a->p);                                             \
    }                                                                                    \
    static void NAME##_dl(const tg_real *v, const ew_attr *a, tg_real *d)                \
    {                                                                                    \
        d[0] = NAME##_d(v[0] - v[1], a->p);                                              \
        d[1] = -d[0];                                                                    \
    }                                                                                    \
    static int NAME##_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx) \
    {                                                                                    \
        const ew_attr *a = r->attr;                                                      \
        tg_tensor *w = ew_weight(t, r, g);                                               \
        tg_tensor *gd = tg_mul(t, w, NAME##_d_of(t, tg_sub(t, r->in[0], r->in[1]), a->p)); \
        set_dx(t, r, dx, 0, gd);                                                         \
        set_dx(t, r, dx, 1, tg_neg(t, gd));                                              \
        return TG_OK;                                                                    \
    }                                                                                    \
    EW_LOSS(NAME, 2, SHAPE, DOC)

/* mse: ℓ(d) = d²        ℓ'(d) = 2d */
static tg_real mse_loss_of(tg_real d, tg_real p) { (void)p; return d * d; }
static tg_real mse_loss_d(tg_real d, tg_real p) { (void)p; return 2 * d; }
static tg_tensor *mse_loss_d_of(tg_tape *t, tg_tensor *d, tg_real p)
{
    (void)p;
    return tg_scale(t, d, 2);
}
PAIR_LOSS(mse_loss, pair_shape, "(input - target)^2")

/* l1: ℓ(d) = |d|        ℓ'(d) = sign(d), 0 at d = 0 (PyTorch's choice) */
static tg_real l1_loss_of(tg_real d, tg_real p) { (void)p; return TG_FABS(d); }
static tg_real l1_loss_d(tg_real d, tg_real p)
{
    (void)p;
    return (tg_real)((d > 0) - (d < 0));
}
static tg_tensor *l1_loss_d_of(tg_tape *t, tg_tensor *d, tg_real p)
{
    (void)p;
    return tg_sign(t, d);
}
PAIR_LOSS(l1_loss, pair_shape, "|input - target|")

/* smooth_l1 (β = p): ℓ(d) = d²/(2β) if |d| < β, else |d| − β/2
   ℓ'(d) = d/β if |d| < β, else sign(d)   (both sides give ±1 at |d| = β);
   β = 0 is the l1 loss. */
static tg_real smooth_l1_loss_of(tg_real d, tg_real beta)
{
    tg_real z = TG_FABS(d);
    if (beta == 0) return z;
    return z < beta ? (tg_real)0.5 * z * z / beta : z - (tg_real)0.5 * beta;
}
static tg_real smooth_l1_loss_d(tg_real d, tg_real beta)
{
    if (d < -beta) return -1;
    if (d > beta) return 1;
    return beta == 0 ? 0 : d / beta;
}
static int smooth_l1_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                           size_t len)
{
    tg_real beta = ((const ew_attr *)r->attr)->p;
    if (!(beta >= 0)) {
        snprintf(msg, len, "beta must not be negative, got %g", (double)beta);
        return TG_ERR_INVALID;
    }
    return pair_shape(r, ndim, shape, msg, len);
}
static tg_tensor *smooth_l1_loss_d_of(tg_tape *t, tg_tensor *d, tg_real beta)
{
    if (beta == 0) return tg_sign(t, d);
    /* |d| = β takes sign(d) (= d/β there), whose derivative is PyTorch's 0 */
    return tg_where(t, tg_lt(t, tg_abs(t, d), tg_scalar(t, beta)), tg_scale(t, d, 1 / beta),
                    tg_sign(t, d));
}
PAIR_LOSS(smooth_l1_loss, smooth_l1_shape, "0.5 d^2 / beta if |d| < beta else |d| - beta / 2")

/* huber (δ = p): ℓ(d) = d²/2 if |d| < δ, else δ(|d| − δ/2)
   ℓ'(d) = d if |d| ≤ δ, else δ·sign(d) */
static tg_real huber_loss_of(tg_real d, tg_real delta)
{
    tg_real z = TG_FABS(d);
    return z < delta ? (tg_real)0.5 * z * z : delta * (z - (tg_real)0.5 * delta);
}
static tg_real huber_loss_d(tg_real d, tg_real delta)
{
    return d < -delta ? -delta : d > delta ? delta : d;
}
static int huber_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                       size_t len)
{
    tg_real delta = ((const ew_attr *)r->attr)->p;
    if (!(delta > 0)) {
        snprintf(msg, len, "delta must be positive, got %g", (double)delta);
        return TG_ERR_INVALID;
    }
    return pair_shape(r, ndim, shape, msg, len);
}
static tg_tensor *huber_loss_d_of(tg_tape *t, tg_tensor *d, tg_real delta)
{
    /* |d| = δ takes δ·sign(d) (= d there), whose derivative is PyTorch's 0 */
    return tg_where(t, tg_lt(t, tg_abs(t, d), tg_scalar(t, delta)), d,
                    tg_scale(t, tg_sign(t, d), delta));
}
PAIR_LOSS(huber_loss, huber_shape, "0.5 d^2 if |d| < delta else delta (|d| - delta / 2)")

static tg_tensor *pair_loss(tg_tape *t, const tg_op *op, tg_tensor *x, tg_tensor *y, tg_real p,
                            tg_reduction red)
{
    tg_tensor *in[2] = {x, y};
    return ew_loss(t, op, in, (ew_attr){(int)red, p, 0, 0});
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

/* The optional inputs (weight; pos_weight) must broadcast to the input's
   shape: the output is never larger than it, as in PyTorch. */
static int fits_input(const tg_tensor *x, const tg_tensor *w, const char *name, char *msg,
                      size_t len)
{
    if (!w) return TG_OK;
    int nd;
    int64_t s[TG_MAX_DIMS];
    if (tg_broadcast_shape(x, w, &nd, s) != TG_OK || nd != x->ndim ||
        memcmp(s, x->shape, (size_t)nd * sizeof *s) != 0) {
        char sx[128], sw[128];
        snprintf(msg, len, "%s %s does not broadcast to the input's shape %s", name,
                 tg_shape_str(w, sw, sizeof sw), tg_shape_str(x, sx, sizeof sx));
        return TG_ERR_SHAPE;
    }
    return TG_OK;
}

static int bce_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    const ew_attr *a = r->attr;
    if (!check_same(r->in[0], r->in[1], "input", "target", msg, len)) return TG_ERR_SHAPE;
    int st = fits_input(r->in[0], r->in[2], "weight", msg, len);
    if (st != TG_OK) return st;
    const tg_real *p = r->in[0]->data;
    for (int64_t i = 0; i < r->in[0]->size; i++)
        if (!(p[i] >= 0 && p[i] <= 1)) {
            snprintf(msg, len, "input[%lld] = %g: every probability must be in [0, 1]",
                     (long long)i, (double)p[i]);
            return TG_ERR_INVALID;
        }
    return loss_shape(a->red, r->in[0], -1, ndim, shape, msg, len);
}

/* bce (w: the weight, 1 without one):
   ℓ = −w·(y·max(log p, −100) + (1 − y)·max(log(1 − p), −100))
   ∂ℓ/∂p = w·(p − y)/(p(1 − p)), with the denominator kept ≥ 1e-12 as
           PyTorch does, so p = 0 or 1 gives a finite gradient
   ∂ℓ/∂y = w·(log(1 − p) − log p) = −w·logit(p)
   ∂ℓ/∂w = ℓ/w, the loss without the weight */
static tg_real bce_unweighted(tg_real p, tg_real y)
{
    tg_real lp = TG_FMAX(TG_LOG(p), -100);
    tg_real l1p = TG_FMAX(TG_LOG1P(-p), -100);
    return (y - 1) * l1p - y * lp;
}
static tg_real bce_loss_l(const tg_real *v, const ew_attr *a)
{
    (void)a;
    return bce_unweighted(v[0], v[1]) * v[2];
}
static void bce_loss_dl(const tg_real *v, const ew_attr *a, tg_real *d)
{
    (void)a;
    tg_real p = v[0], y = v[1], w = v[2];
    /* 1e-12f: PyTorch's EPSILON is a float constant, in double builds too */
    d[0] = (p - y) / TG_FMAX((1 - p) * p, (tg_real)1e-12f) * w;
    d[1] = -TG_LOG(p / (1 - p)) * w;
    d[2] = bce_unweighted(p, y);
}
static int bce_loss_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *p = r->in[0], *y = r->in[1], *wt = r->in[2];
    tg_tensor *w = ew_weight(t, r, g);
    tg_tensor *ww = wt ? tg_mul(t, w, wt) : w;
    tg_tensor *q = tg_add_scalar(t, tg_neg(t, p), 1); /* 1 − p */
    if (p->flags & TG_REQUIRES_GRAD) {
        tg_tensor *den = tg_clamp(t, tg_mul(t, q, p), (tg_real)1e-12f, (tg_real)INFINITY);
        dx[0] = tg_mul(t, ww, tg_div(t, tg_sub(t, p, y), den));
    }
    if (y->flags & TG_REQUIRES_GRAD) dx[1] = tg_neg(t, tg_mul(t, ww, tg_log(t, tg_div(t, p, q))));
    if (wt && (wt->flags & TG_REQUIRES_GRAD)) {
        tg_real inf = (tg_real)INFINITY;
        tg_tensor *lp = tg_clamp(t, tg_log(t, p), -100, inf);
        tg_tensor *l1p = tg_clamp(t, tg_log1p(t, tg_neg(t, p)), -100, inf);
        tg_tensor *l = tg_sub(t, tg_mul(t, tg_add_scalar(t, y, -1), l1p), tg_mul(t, y, lp));
        set_dx(t, r, dx, 2, tg_mul(t, w, l));
    }
    return TG_OK;
}
EW_LOSS_F(bce_loss, 3, bce_shape, "-w (y log p + (1 - y) log(1 - p)), logs clamped at -100",
          TG_OP_CHECK_ON_REPLAY)

tg_tensor *tg_bce_loss_ex(tg_tape *t, tg_tensor *prob, tg_tensor *target, tg_tensor *weight,
                          tg_reduction red)
{
    tg_tensor *in[3] = {prob, target, weight};
    return ew_loss(t, &op_bce_loss, in, (ew_attr){(int)red, 0, 0, 0});
}

tg_tensor *tg_bce_loss(tg_tape *t, tg_tensor *prob, tg_tensor *target, tg_reduction red)
{
    return tg_bce_loss_ex(t, prob, target, NULL, red);
}

/* ------------------------------------------------------- bce_with_logits */

static int bcel_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                      size_t len)
{
    const tg_tensor *x = r->in[0];
    if (!check_same(x, r->in[1], "logits", "target", msg, len)) return TG_ERR_SHAPE;
    int st = fits_input(x, r->in[2], "pos_weight", msg, len);
    if (st == TG_OK) st = fits_input(x, r->in[3], "weight", msg, len);
    if (st != TG_OK) return st;
    return loss_shape(((const ew_attr *)r->attr)->red, x, -1, ndim, shape, msg, len);
}

static tg_real softplus_neg(tg_real x) /* softplus(−x), stable */
{
    return (x < 0 ? -x : 0) + tg_log1p_exp(-TG_FABS(x));
}

static tg_real sigmoid_stable(tg_real x)
{
    if (x >= 0) return 1 / (1 + TG_EXP(-x));
    tg_real e = TG_EXP(x);
    return e / (1 + e);
}

/* bce_with_logits with u = 1 + (pw − 1)·y (u = 1 without pos_weight) and
   the weight w (1 without one):
   ℓ = w·((1 − y)·x + u·softplus(−x)),  softplus(−x) = max(−x, 0) + log1p(e^−|x|)
     = w·(max(x, 0) − x·y + log1p(e^−|x|)) when u = 1 (no exponential overflows)
   ∂ℓ/∂x  = w·((1 − y) − u·σ(−x)) = w·(u·σ(x) − pw·y)
   ∂ℓ/∂y  = w·(−x + (pw − 1)·softplus(−x)) = w·(pw·softplus(−x) − softplus(x))
   ∂ℓ/∂pw = w·y·softplus(−x)
   ∂ℓ/∂w  = ℓ/w */
static tg_real bcel_unweighted(const tg_real *v)
{
    tg_real x = v[0], y = v[1], pw = v[2];
    tg_real u = 1 + (pw - 1) * y;
    return (1 - y) * x + u * softplus_neg(x);
}
static tg_real bce_with_logits_l(const tg_real *v, const ew_attr *a)
{
    (void)a;
    return bcel_unweighted(v) * v[3];
}
static void bce_with_logits_dl(const tg_real *v, const ew_attr *a, tg_real *d)
{
    tg_real x = v[0], y = v[1], pw = v[2], w = v[3];
    if (a->flags & EW_POS_WEIGHT) {
        tg_real u = 1 + (pw - 1) * y;
        d[0] = (u * sigmoid_stable(x) - pw * y) * w;
        d[1] = (pw * softplus_neg(x) - softplus_neg(-x)) * w;
    } else {
        d[0] = (sigmoid_stable(x) - y) * w;
        d[1] = -x * w;
    }
    d[2] = y * softplus_neg(x) * w;
    d[3] = bcel_unweighted(v);
}

/* The same rules as ops; softplus(z) = −logsigmoid(−z), stable for any z. */
static int bce_with_logits_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *x = r->in[0], *y = r->in[1], *pw = r->in[2], *wt = r->in[3];
    tg_tensor *w = ew_weight(t, r, g);
    tg_tensor *ww = wt ? tg_mul(t, w, wt) : w;
    tg_tensor *sp_neg = tg_neg(t, tg_logsigmoid(t, x)); /* softplus(−x) */
    if (!pw) {
        if (x->flags & TG_REQUIRES_GRAD) dx[0] = tg_mul(t, ww, tg_sub(t, tg_sigmoid(t, x), y));
        if (y->flags & TG_REQUIRES_GRAD) dx[1] = tg_neg(t, tg_mul(t, ww, x));
    } else {
        tg_tensor *pwy = tg_mul(t, pw, y);
        if (x->flags & TG_REQUIRES_GRAD) { /* u·σ(x) − pw·y, u = 1 + (pw − 1)·y */
            tg_tensor *u = tg_add_scalar(t, tg_sub(t, pwy, y), 1);
            dx[0] = tg_mul(t, ww, tg_sub(t, tg_mul(t, u, tg_sigmoid(t, x)), pwy));
        }
        if (y->flags & TG_REQUIRES_GRAD) { /* pw·softplus(−x) − softplus(x) */
            tg_tensor *sp = tg_neg(t, tg_logsigmoid(t, tg_neg(t, x)));
            dx[1] = tg_mul(t, ww, tg_sub(t, tg_mul(t, pw, sp_neg), sp));
        }
        /* y·softplus(−x), summed to pos_weight's shape */
        set_dx(t, r, dx, 2, tg_mul(t, ww, tg_mul(t, y, sp_neg)));
    }
    if (wt && (wt->flags & TG_REQUIRES_GRAD)) { /* (1 − y)·x + u·softplus(−x) */
        tg_tensor *u = pw ? tg_add_scalar(t, tg_sub(t, tg_mul(t, pw, y), y), 1) : NULL;
        tg_tensor *l = tg_mul(t, tg_add_scalar(t, tg_neg(t, y), 1), x);
        l = tg_add(t, l, u ? tg_mul(t, u, sp_neg) : sp_neg);
        set_dx(t, r, dx, 3, tg_mul(t, w, l));
    }
    return TG_OK;
}
EW_LOSS(bce_with_logits, 4, bcel_shape,
        "w (max(x, 0) - x y + log(1 + exp(-|x|))) (pos_weight: w ((1 - y) x + u softplus(-x)))")

tg_tensor *tg_bce_with_logits_ex(tg_tape *t, tg_tensor *logits, tg_tensor *target,
                                 tg_tensor *weight, tg_tensor *pos_weight, tg_reduction red)
{
    tg_tensor *in[4] = {logits, target, pos_weight, weight};
    return ew_loss(t, &op_bce_with_logits, in,
                   (ew_attr){(int)red, 0, 0, pos_weight ? EW_POS_WEIGHT : 0u});
}

tg_tensor *tg_bce_with_logits(tg_tape *t, tg_tensor *logits, tg_tensor *target,
                              tg_tensor *pos_weight, tg_reduction red)
{
    return tg_bce_with_logits_ex(t, logits, target, NULL, pos_weight, red);
}

/* ---------------------------------------------------------------- kl_div */

static const char *const KL_NAMES[2] = {"input", "target"};

static int kl_div_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    return ew_shape(r, 2, KL_NAMES, true, ndim, shape, msg, len);
}

/* kl_div on log-probabilities x (F.kl_div(x, y)), y the target:
   ℓ = y·log y − y·x  (0·log 0 = 0: xlogy, as PyTorch)
   ∂ℓ/∂x = −y,  ∂ℓ/∂y = log y + y/y − x  (PyTorch's rule for xlogy(y, y):
                         NaN at y = 0, where the log term is 0 and y/y is not)
   log_target, y = log of the target:
   ℓ = eʸ·(y − x),  ∂ℓ/∂x = −eʸ,  ∂ℓ/∂y = eʸ·(y − x) + eʸ */
static tg_real xlogy_self(tg_real y) { return isnan(y) ? y : y == 0 ? 0 : y * TG_LOG(y); }
static tg_real kl_div_l(const tg_real *v, const ew_attr *a)
{
    tg_real x = v[0], y = v[1];
    if (a->flags & EW_LOG_TARGET) return TG_EXP(y) * (y - x);
    return xlogy_self(y) - y * x;
}
static void kl_div_dl(const tg_real *v, const ew_attr *a, tg_real *d)
{
    tg_real x = v[0], y = v[1];
    if (a->flags & EW_LOG_TARGET) {
        tg_real e = TG_EXP(y);
        d[0] = -e;
        d[1] = e * (y - x) + e;
        return;
    }
    d[0] = -y;
    d[1] = ((y != 0 ? TG_LOG(y) : 0) + y / y) - x;
}
static int kl_div_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const ew_attr *a = r->attr;
    tg_tensor *x = r->in[0], *y = r->in[1];
    tg_tensor *w = ew_weight(t, r, g);
    if (a->flags & EW_LOG_TARGET) {
        tg_tensor *e = tg_exp(t, y);
        set_dx(t, r, dx, 0, tg_neg(t, tg_mul(t, w, e)));
        set_dx(t, r, dx, 1, tg_mul(t, w, tg_add(t, tg_mul(t, e, tg_sub(t, y, x)), e)));
        return TG_OK;
    }
    set_dx(t, r, dx, 0, tg_neg(t, tg_mul(t, w, y)));
    if (y->flags & TG_REQUIRES_GRAD) {
        tg_tensor *logy = tg_where(t, tg_ne(t, y, K(0)), tg_log(t, y), K(0));
        set_dx(t, r, dx, 1, tg_mul(t, w, tg_sub(t, tg_add(t, logy, tg_div(t, y, y)), x)));
    }
    return TG_OK;
}
EW_LOSS(kl_div, 2, kl_div_shape, "y (log y - x), or e^y (y - x) with log_target")

tg_tensor *tg_kl_div(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_reduction red,
                     bool log_target)
{
    tg_tensor *in[2] = {input, target};
    return ew_loss(t, &op_kl_div, in, (ew_attr){(int)red, 0, 0, log_target ? EW_LOG_TARGET : 0u});
}

/* ----------------------------------------------------------- poisson_nll */

static const char *const POISSON_NAMES[2] = {"input", "target"};

static int poisson_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                         size_t len)
{
    return ew_shape(r, 2, POISSON_NAMES, false, ndim, shape, msg, len);
}

/* poisson_nll with x the input and y the target (ε = p):
   log_input:  ℓ = eˣ − y·x            ∂ℓ/∂x = eˣ − y,          ∂ℓ/∂y = −x
   otherwise:  ℓ = x − y·log(x + ε)    ∂ℓ/∂x = 1 − y/(x + ε),   ∂ℓ/∂y = −log(x + ε)
   full adds Stirling's term where y > 1:
               s = y·log y − y + log(2πy)/2,  s' = log y + y/y − 1 + 1/(2y)
   PyTorch masks s where y ≤ 1 and multiplies s' by 0 there, so s' = NaN at
   y = 0 (0·log 0) makes the target's gradient NaN: kept. */
static tg_real poisson_nll_loss_l(const tg_real *v, const ew_attr *a)
{
    tg_real x = v[0], y = v[1];
    tg_real l = a->flags & EW_LOG_INPUT ? TG_EXP(x) - y * x : x - y * TG_LOG(x + a->p);
    if ((a->flags & EW_FULL) && !(y <= 1))
        l += y * TG_LOG(y) - y + (tg_real)0.5 * TG_LOG((tg_real)TWO_PI * y);
    return l;
}
static void poisson_nll_loss_dl(const tg_real *v, const ew_attr *a, tg_real *d)
{
    tg_real x = v[0], y = v[1];
    if (a->flags & EW_LOG_INPUT) {
        d[0] = TG_EXP(x) - y;
        d[1] = -x;
    } else {
        d[0] = 1 - y / (x + a->p);
        d[1] = -TG_LOG(x + a->p);
    }
    if (a->flags & EW_FULL) {
        tg_real s = TG_LOG(y) + y / y - 1 + (tg_real)0.5 / y;
        d[1] += y <= 1 ? 0 * s : s;
    }
}
static int poisson_nll_loss_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const ew_attr *a = r->attr;
    tg_tensor *x = r->in[0], *y = r->in[1];
    tg_tensor *w = ew_weight(t, r, g), *dy;
    if (a->flags & EW_LOG_INPUT) {
        set_dx(t, r, dx, 0, tg_mul(t, w, tg_sub(t, tg_exp(t, x), y)));
        dy = tg_neg(t, x);
    } else {
        tg_tensor *xe = tg_add_scalar(t, x, a->p);
        set_dx(t, r, dx, 0, tg_mul(t, w, tg_sub(t, K(1), tg_div(t, y, xe))));
        dy = tg_neg(t, tg_log(t, xe));
    }
    if (!(y->flags & TG_REQUIRES_GRAD)) return TG_OK;
    if (a->flags & EW_FULL) {
        tg_tensor *s = tg_add(t, tg_log(t, y), tg_div(t, y, y));
        s = tg_add(t, tg_add_scalar(t, s, -1), tg_scale(t, tg_reciprocal(t, y), (tg_real)0.5));
        dy = tg_add(t, dy, tg_where(t, tg_le(t, y, K(1)), tg_scale(t, s, 0), s));
    }
    set_dx(t, r, dx, 1, tg_mul(t, w, dy));
    return TG_OK;
}
EW_LOSS(poisson_nll_loss, 2, poisson_shape,
        "exp(x) - y x (log_input), or x - y log(x + eps); full: + Stirling's term")

tg_tensor *tg_poisson_nll_loss(tg_tape *t, tg_tensor *input, tg_tensor *target, bool log_input,
                               bool full, tg_real eps, tg_reduction red)
{
    tg_tensor *in[2] = {input, target};
    unsigned f = (log_input ? EW_LOG_INPUT : 0u) | (full ? EW_FULL : 0u);
    return ew_loss(t, &op_poisson_nll_loss, in, (ew_attr){(int)red, eps, 0, f});
}

/* ---------------------------------------------------------- gaussian_nll */

static const char *const GAUSS_NAMES[3] = {"input", "target", "var"};

static int gaussian_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                          size_t len)
{
    const tg_tensor *x = r->in[0], *v = r->in[2];
    int nd;
    int64_t sh[TG_MAX_DIMS];
    char sx[128], sv[128];
    if (v && !var_view(x, v, &nd, sh)) {
        snprintf(msg, len,
                 "var %s must have the input's shape %s, or that shape without its last "
                 "dimension, or with 1 there",
                 tg_shape_str(v, sv, sizeof sv), tg_shape_str(x, sx, sizeof sx));
        return TG_ERR_SHAPE;
    }
    if (!(((const ew_attr *)r->attr)->p >= 0)) {
        snprintf(msg, len, "eps must not be negative, got %g",
                 (double)((const ew_attr *)r->attr)->p);
        return TG_ERR_INVALID;
    }
    int st = ew_shape(r, 3, GAUSS_NAMES, false, ndim, shape, msg, len);
    if (st != TG_OK) return st;
    for (int64_t i = 0; i < v->size; i++)
        if (v->data[i] < 0) {
            snprintf(msg, len, "var[%lld] = %g: var must not be negative", (long long)i,
                     (double)v->data[i]);
            return TG_ERR_INVALID;
        }
    return TG_OK;
}

/* gaussian_nll with x the input, y the target, v the variance, c = max(v, ε)
   (ε = p; F.gaussian_nll_loss clamps var without recording the clamp, so
   the gradient reaches var as if at c, clamped or not):
   ℓ = (log c + (x − y)²/c)/2  (+ log(2π)/2 with full)
   ∂ℓ/∂x = (x − y)/c,  ∂ℓ/∂y = −(x − y)/c,
   ∂ℓ/∂v = (1/c − (x − y)²/c²)/2 */
static tg_real gaussian_nll_loss_l(const tg_real *v, const ew_attr *a)
{
    tg_real c = v[2] < a->p ? a->p : v[2], d = v[0] - v[1];
    tg_real l = (tg_real)0.5 * (TG_LOG(c) + d * d / c);
    return a->flags & EW_FULL ? l + (tg_real)(0.5 * log(TWO_PI)) : l;
}
static void gaussian_nll_loss_dl(const tg_real *v, const ew_attr *a, tg_real *d)
{
    tg_real c = v[2] < a->p ? a->p : v[2], e = v[0] - v[1];
    d[0] = e / c;
    d[1] = -d[0];
    d[2] = (tg_real)0.5 * (1 / c - e * e / c / c);
}
/* c as v clamped, with the derivative 1 everywhere (clamp_min_through) */
static int gaussian_nll_loss_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const ew_attr *a = r->attr;
    tg_tensor *x = r->in[0], *y = r->in[1], *v = r->in[2];
    int nd;
    int64_t sh[TG_MAX_DIMS];
    var_view(x, v, &nd, sh);
    tg_tensor *c = clamp_min_through(t, tg_reshape(t, v, nd, sh), a->p);
    tg_tensor *w = ew_weight(t, r, g);
    tg_tensor *e = tg_sub(t, x, y), *ec = tg_div(t, e, c);
    set_dx(t, r, dx, 0, tg_mul(t, w, ec));
    set_dx(t, r, dx, 1, tg_neg(t, tg_mul(t, w, ec)));
    if (v->flags & TG_REQUIRES_GRAD) {
        tg_tensor *dv = tg_sub(t, tg_reciprocal(t, c), tg_div(t, tg_mul(t, e, ec), c));
        dv = tg_sum_to(t, tg_mul(t, w, tg_scale(t, dv, (tg_real)0.5)), nd, sh);
        dx[2] = tg_reshape(t, dv, v->ndim, v->shape);
    }
    return TG_OK;
}
EW_LOSS_F(gaussian_nll_loss, 3, gaussian_shape,
          "(log c + (x - y)^2 / c) / 2, c = max(var, eps)", TG_OP_CHECK_ON_REPLAY)

tg_tensor *tg_gaussian_nll_loss(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_tensor *var,
                                bool full, tg_real eps, tg_reduction red)
{
    tg_tensor *in[3] = {input, target, var};
    return ew_loss(t, &op_gaussian_nll_loss, in,
                   (ew_attr){(int)red, eps, 0, EW_VAR | (full ? EW_FULL : 0u)});
}

/* ------------------------------------------------ hinge_embedding_loss */

static const char *const HINGE_NAMES[2] = {"input", "target"};

static int hinge_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                       size_t len)
{
    return ew_shape(r, 2, HINGE_NAMES, false, ndim, shape, msg, len);
}

/* hinge_embedding with x the input, y the target (±1), m the margin (p):
   ℓ = x where y = 1, max(0, m − x) where y = −1 (PyTorch adds both terms
       for any other y: [y ≠ −1]·x + [y ≠ 1]·max(0, m − x))
   ∂ℓ/∂x = [y ≠ −1] − [y ≠ 1 and m − x ≥ 0]  (the clamp passes at m − x = 0);
   the target gets no gradient (it only selects) */
static tg_real hinge_embedding_loss_l(const tg_real *v, const ew_attr *a)
{
    tg_real x = v[0], y = v[1], h = a->p - x;
    return (y != 1 ? (h < 0 ? 0 : h) : 0) + (y != -1 ? x : 0);
}
static void hinge_embedding_loss_dl(const tg_real *v, const ew_attr *a, tg_real *d)
{
    tg_real x = v[0], y = v[1];
    d[0] = (tg_real)(y != -1) - (tg_real)(y != 1 && a->p - x >= 0);
    d[1] = 0;
}
static int hinge_embedding_loss_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const ew_attr *a = r->attr;
    tg_tensor *x = r->in[0], *y = r->in[1];
    tg_tensor *w = ew_weight(t, r, g);
    tg_tensor *self = tg_where(t, tg_ne(t, y, K(-1)), w, K(0));
    tg_tensor *hinge = tg_mul(t, tg_ne(t, y, K(1)), tg_le(t, x, K(a->p)));
    set_dx(t, r, dx, 0, tg_sub(t, self, tg_where(t, hinge, w, K(0))));
    return TG_OK;
}
EW_LOSS(hinge_embedding_loss, 2, hinge_shape, "x if y = 1, max(0, margin - x) if y = -1")

tg_tensor *tg_hinge_embedding_loss(tg_tape *t, tg_tensor *input, tg_tensor *target,
                                   tg_real margin, tg_reduction red)
{
    tg_tensor *in[2] = {input, target};
    return ew_loss(t, &op_hinge_embedding_loss, in, (ew_attr){(int)red, margin, 0, 0});
}

/* ------------------------------------------------- margin_ranking_loss */

static const char *const RANK_NAMES[3] = {"input1", "input2", "target"};

/* The three must have the same number of dimensions (F.margin_ranking_loss
   checks it) and broadcast together. */
static int ranking_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                         size_t len)
{
    const tg_tensor *const *in = (const tg_tensor *const *)r->in;
    if (in[1] && in[2] && (in[0]->ndim != in[1]->ndim || in[0]->ndim != in[2]->ndim)) {
        char s0[96], s1[96], s2[96];
        snprintf(msg, len, "input1 %s, input2 %s and target %s must have the same number of "
                 "dimensions", tg_shape_str(in[0], s0, sizeof s0),
                 tg_shape_str(in[1], s1, sizeof s1), tg_shape_str(in[2], s2, sizeof s2));
        return TG_ERR_SHAPE;
    }
    return ew_shape(r, 3, RANK_NAMES, false, ndim, shape, msg, len);
}

/* margin_ranking with inputs a, b, the target y (±1) and the margin m (p):
   ℓ = max(0, −y·(a − b) + m)
   where z = −y·(a − b) + m ≥ 0 (the clamp passes at 0, as PyTorch's):
   ∂ℓ/∂a = −y,  ∂ℓ/∂b = y,  ∂ℓ/∂y = −(a − b); else 0 times those.
   With x2 = 0 and m = 1 this is micrograd's SVM loss max(0, 1 − y·x1). */
static tg_real margin_ranking_loss_l(const tg_real *v, const ew_attr *a)
{
    tg_real z = -v[2] * (v[0] - v[1]) + a->p;
    return z < 0 ? 0 : z;
}
/* (the partials times 1 or 0, as PyTorch's chain: 0·inf is NaN there) */
static void margin_ranking_loss_dl(const tg_real *v, const ew_attr *a, tg_real *d)
{
    tg_real on = -v[2] * (v[0] - v[1]) + a->p >= 0;
    d[0] = on * -v[2];
    d[1] = on * v[2];
    d[2] = on * -(v[0] - v[1]);
}
static int margin_ranking_loss_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const ew_attr *a = r->attr;
    tg_tensor *x1 = r->in[0], *x2 = r->in[1], *y = r->in[2];
    tg_tensor *w = ew_weight(t, r, g);
    tg_tensor *diff = tg_sub(t, x1, x2);
    tg_tensor *z = tg_add_scalar(t, tg_neg(t, tg_mul(t, y, diff)), a->p);
    tg_tensor *on = tg_where(t, tg_ge(t, z, K(0)), w, K(0));
    set_dx(t, r, dx, 0, tg_neg(t, tg_mul(t, on, y)));
    set_dx(t, r, dx, 1, tg_mul(t, on, y));
    set_dx(t, r, dx, 2, tg_neg(t, tg_mul(t, on, diff)));
    return TG_OK;
}
EW_LOSS(margin_ranking_loss, 3, ranking_shape, "max(0, -y (x1 - x2) + margin)")

tg_tensor *tg_margin_ranking_loss(tg_tape *t, tg_tensor *input1, tg_tensor *input2,
                                  tg_tensor *target, tg_real margin, tg_reduction red)
{
    tg_tensor *in[3] = {input1, input2, target};
    return ew_loss(t, &op_margin_ranking_loss, in, (ew_attr){(int)red, margin, 0, 0});
}

/* ------------------------------------------------------ losses over rows

   cosine_similarity, cosine_embedding_loss and triplet_margin_loss reduce
   their (broadcast) inputs along one axis: S, the broadcast shape, is
   viewed as [outer, n, inner] with n the axis, and row (o, i) is the n
   elements (o, ·, i). A walk over S in order meets element k in row
   (k / (n·inner))·inner + k % inner. */

typedef struct {
    int64_t outer, n, inner;
} row_view;

static row_view row_view_of(int ndim, const int64_t *shape, int axis)
{
    row_view v = {1, 1, 1};
    if (ndim == 0) return v;
    v.n = shape[axis];
    for (int i = 0; i < axis; i++) v.outer *= shape[i];
    for (int i = axis + 1; i < ndim; i++) v.inner *= shape[i];
    return v;
}

static int64_t row_of(row_view v, int64_t k) { return k / (v.n * v.inner) * v.inner + k % v.inner; }

/* The walk of S with x1, x2 (and x3) */
static tg_walk rows_walk(int ndim, const int64_t *shape, const tg_record *r, int n)
{
    tg_walk w;
    tg_walk_init(&w, ndim, shape);
    for (int i = 0; i < n; i++) tg_walk_tensor(&w, r->in[i]);
    return w;
}

/* ---------------------------------------------------- cosine_similarity */

typedef struct {
    int dim;
    tg_real eps;
} cos_attr;

/* S, the shape x1 and x2 broadcast to, the axis normalised on it (a 0-d S
   takes 0 or −1, as PyTorch), and S's rows along it. */
typedef struct {
    int nd, axis;
    int64_t sh[TG_MAX_DIMS];
    row_view v;
    int64_t rows, size;
} cos_geom;

static int cos_geom_of(const tg_record *r, cos_geom *gm)
{
    if (tg_broadcast_n(2, (const tg_tensor *const *)r->in, &gm->nd, gm->sh) != TG_OK ||
        !tg_shape_numel(gm->nd, gm->sh, &gm->size))
        return TG_ERR_SHAPE;
    int a = ((const cos_attr *)r->attr)->dim;
    if (!tg_axis(a, gm->nd ? gm->nd : 1, &gm->axis)) return TG_ERR_INVALID;
    gm->v = row_view_of(gm->nd, gm->sh, gm->axis);
    gm->rows = gm->v.outer * gm->v.inner, gm->size = gm->rows * gm->v.n;
    return TG_OK;
}

static int cos_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    const tg_tensor *x1 = r->in[0], *x2 = r->in[1];
    char s1[96], s2[96];
    if (!x2) {
        snprintf(msg, len, "x2 is NULL");
        return TG_ERR_INVALID;
    }
    cos_geom gm;
    int st = cos_geom_of(r, &gm);
    if (st == TG_ERR_SHAPE)
        snprintf(msg, len, "shapes cannot be broadcast together (or to a size memory can hold): "
                 "x1 %s, x2 %s",
                 tg_shape_str(x1, s1, sizeof s1), tg_shape_str(x2, s2, sizeof s2));
    if (st == TG_ERR_INVALID)
        snprintf(msg, len, "dim %d is out of range for the broadcast shape %s",
                 ((const cos_attr *)r->attr)->dim, tg_dims_str(gm.nd, gm.sh, s1, sizeof s1));
    if (st != TG_OK) return st;
    if (!(((const cos_attr *)r->attr)->eps >= 0)) {
        snprintf(msg, len, "eps must not be negative");
        return TG_ERR_INVALID;
    }
    /* the output: S without the axis */
    *ndim = 0;
    for (int i = 0; i < gm.nd; i++)
        if (i != gm.axis) shape[(*ndim)++] = gm.sh[i];
    return TG_OK;
}

/* cos(x1, x2) = Σ_k (x1_k/N1)(x2_k/N2) along the axis, N = max(‖x‖, ε)
   (PyTorch's form, with the clamp outside the graph: the gradient goes
   through N as if it were ‖x‖, whose derivative x/N is taken at the
   clamped value)
   ∂y/∂x1 = x2/(N1·N2) − y·x1/N1²,  ∂y/∂x2 = x1/(N1·N2) − y·x2/N2²
   The forward saves N1 and N2 per row. */
static int cos_forward(tg_record *r)
{
    cos_geom gm;
    cos_geom_of(r, &gm);
    int64_t rows = gm.rows;
    double *acc = tg_record_save(r, (size_t)(3 * rows + 1) * sizeof(double)); /* s1, s2, p */
    if (!acc) return TG_ERR_NOMEM;
    memset(acc, 0, (size_t)(3 * rows) * sizeof(double));
    tg_walk w = rows_walk(gm.nd, gm.sh, r, 2);
    const tg_real *x1 = r->in[0]->data, *x2 = r->in[1]->data;
    for (int64_t k = 0; k < gm.size; k++, tg_walk_next(&w)) {
        double a = x1[w.off[0]], b = x2[w.off[1]];
        int64_t q = row_of(gm.v, k);
        acc[q] += a * a, acc[rows + q] += b * b, acc[2 * rows + q] += a * b;
    }
    double eps = ((const cos_attr *)r->attr)->eps;
    for (int64_t q = 0; q < rows; q++) {
        acc[q] = fmax(sqrt(acc[q]), eps);
        acc[rows + q] = fmax(sqrt(acc[rows + q]), eps);
        r->out->data[q] = (tg_real)(acc[2 * rows + q] / (acc[q] * acc[rows + q]));
    }
    return TG_OK;
}

static void cos_backward(tg_record *r)
{
    cos_geom gm;
    cos_geom_of(r, &gm);
    const double *n1 = r->saved, *n2 = n1 + gm.rows; /* [rows] each */
    const tg_real *x1 = r->in[0]->data, *x2 = r->in[1]->data, *y = r->out->data, *g = r->out->grad;
    tg_sink d1 = tg_sink_begin(r->tape, r->in[0], gm.size);
    tg_sink d2 = tg_sink_begin(r->tape, r->in[1], gm.size);
    tg_walk w = rows_walk(gm.nd, gm.sh, r, 2);
    for (int64_t k = 0; k < gm.size; k++, tg_walk_next(&w)) {
        int64_t q = row_of(gm.v, k);
        double a = x1[w.off[0]], b = x2[w.off[1]], G = g[q], inv = 1 / (n1[q] * n2[q]);
        if (d1.grad) tg_sink_add(&d1, w.off[0], G * (b * inv - y[q] * a / (n1[q] * n1[q])));
        if (d2.grad) tg_sink_add(&d2, w.off[1], G * (a * inv - y[q] * b / (n2[q] * n2[q])));
    }
    tg_sink_end(&d1);
    tg_sink_end(&d2);
}

/* N as ops with the derivative x/N at the clamped value: √(max(Σx², ε²))
   with the clamp outside the gradient, √'s derivative then 1/(2N). */
static tg_tensor *norm_eps_of(tg_tape *t, tg_tensor *x, int axis, tg_real eps)
{
    tg_tensor *s = tg_sum(t, tg_square(t, x), axis, true);
    return tg_sqrt(t, clamp_min_through(t, s, eps * eps));
}

static int cos_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const cos_attr *a = r->attr;
    cos_geom gm;
    cos_geom_of(r, &gm);
    int nd = gm.nd, ax = gm.axis;
    int64_t *sh = gm.sh, keep[TG_MAX_DIMS];
    memcpy(keep, sh, sizeof keep);
    if (nd) keep[ax] = 1;
    tg_tensor *x1 = tg_expand(t, r->in[0], nd, sh), *x2 = tg_expand(t, r->in[1], nd, sh);
    tg_tensor *n1 = norm_eps_of(t, x1, nd ? ax : TG_ALL, a->eps);
    tg_tensor *n2 = norm_eps_of(t, x2, nd ? ax : TG_ALL, a->eps);
    tg_tensor *G = tg_reshape(t, g, nd, keep), *y = tg_reshape(t, r->out, nd, keep);
    tg_tensor *Gn = tg_div(t, G, tg_mul(t, n1, n2)), *Gy = tg_mul(t, G, y);
    tg_tensor *d1 = tg_sub(t, tg_mul(t, Gn, x2), tg_div(t, tg_mul(t, Gy, x1), tg_square(t, n1)));
    tg_tensor *d2 = tg_sub(t, tg_mul(t, Gn, x1), tg_div(t, tg_mul(t, Gy, x2), tg_square(t, n2)));
    set_dx(t, r, dx, 0, d1);
    set_dx(t, r, dx, 1, d2);
    return TG_OK;
}

static const tg_op op_cosine_similarity = {
    .name = "cosine_similarity", .n_inputs = 2, .attr_size = sizeof(cos_attr),
    .shape = cos_shape, .forward = cos_forward, .backward = cos_backward, .vjp = cos_vjp,
    .doc = "sum(x1 x2) / (max(|x1|, eps) max(|x2|, eps)) along an axis"};

tg_tensor *tg_cosine_similarity(tg_tape *t, tg_tensor *x1, tg_tensor *x2, int dim, tg_real eps)
{
    cos_attr a = {dim, eps};
    tg_tensor *in[2] = {x1, x2};
    return tg_apply(t, &op_cosine_similarity, in, 2, &a);
}

/* ------------------------------------------------ cosine_embedding_loss */

typedef struct {
    int red;
    tg_real margin;
} cel_attr;

#define CEL_EPS 1e-12 /* ATen's EPSILON, added to each squared norm */

/* S (x1 and x2 broadcast), C = S without its last axis (the cosines), and
   the output shape (C and the target broadcast). */
typedef struct {
    int nd, cnd, ond;
    int64_t sh[TG_MAX_DIMS], csh[TG_MAX_DIMS], osh[TG_MAX_DIMS];
    int64_t rows, D, size, osize; /* S is [rows, D]; size and osize: S's and the output's */
} cel_geom;

static int cel_geom_of(const tg_record *r, cel_geom *gm)
{
    if (tg_broadcast_n(2, (const tg_tensor *const *)r->in, &gm->nd, gm->sh) != TG_OK ||
        gm->nd < 1 || !tg_shape_numel(gm->nd, gm->sh, &gm->size))
        return TG_ERR_SHAPE;
    gm->cnd = gm->nd - 1;
    memcpy(gm->csh, gm->sh, sizeof gm->sh);
    tg_tensor c = {.ndim = gm->cnd};
    memcpy(c.shape, gm->csh, sizeof c.shape);
    if (tg_broadcast_shape(&c, r->in[2], &gm->ond, gm->osh) != TG_OK ||
        !tg_shape_numel(gm->ond, gm->osh, &gm->osize))
        return TG_ERR_SHAPE;
    row_view v = row_view_of(gm->nd, gm->sh, gm->nd - 1);
    gm->rows = v.outer, gm->D = v.n;
    return TG_OK;
}

/* F.cosine_embedding_loss's rules: a 1-D target [N] with 2-D inputs [N, D],
   or a 0-d target with 1-D inputs [D]; the inputs may broadcast. */
static int cel_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    const tg_tensor *x1 = r->in[0], *x2 = r->in[1], *y = r->in[2];
    if (!x2 || !y) {
        snprintf(msg, len, "the %s is NULL", !x2 ? "input2" : "target");
        return TG_ERR_INVALID;
    }
    char s1[96], s2[96], sy[96];
    tg_shape_str(x1, s1, sizeof s1), tg_shape_str(x2, s2, sizeof s2);
    tg_shape_str(y, sy, sizeof sy);
    if (y->ndim > 1 || x1->ndim != y->ndim + 1 || x2->ndim != y->ndim + 1) {
        snprintf(msg, len, "needs a target [N] with inputs [N, D], or a 0-d target with inputs "
                 "[D]: got input1 %s, input2 %s, target %s", s1, s2, sy);
        return TG_ERR_SHAPE;
    }
    cel_geom gm;
    if (cel_geom_of(r, &gm) != TG_OK) {
        snprintf(msg, len, "shapes cannot be broadcast together (or to a size memory can hold): "
                 "input1 %s, input2 %s, target %s", s1, s2, sy);
        return TG_ERR_SHAPE;
    }
    return loss_shape_of(((const cel_attr *)r->attr)->red, gm.ond, gm.osh, -1, ndim, shape, msg,
                         len);
}

/* Per row: p = Σ x1·x2, m1 = Σ x1² + ε, m2 = Σ x2² + ε, cos = p/√(m1·m2);
   per element of the output (a row's cos against the target y, m the margin):
   ℓ = 1 − cos where y = 1, max(0, cos − m) where y = −1, 0 otherwise
   ∂ℓ/∂cos = −1 where y = 1, 1 where y = −1 and cos − m ≥ 0, else 0
   ∂cos/∂x1 = x2/√(m1·m2) − cos·x1/m1,  ∂cos/∂x2 = x1/√(m1·m2) − cos·x2/m2
   (the target only selects: no gradient). The forward saves, per row, cos,
   m1, m2 and √(m1·m2), and room for the backward's ∂L/∂cos. */
enum { CEL_COS, CEL_M1, CEL_M2, CEL_DEN, CEL_DCOS, CEL_N };

static tg_real cel_of(tg_real cos, tg_real y, tg_real margin)
{
    tg_real neg = cos - margin;
    return (y == 1 ? 1 - cos : 0) + (y == -1 ? (neg < 0 ? 0 : neg) : 0);
}

static tg_walk cel_out_walk(const cel_geom *gm, const tg_tensor *y)
{
    tg_walk w;
    tg_walk_init(&w, gm->ond, gm->osh);
    tg_walk_add(&w, gm->cnd, gm->csh);
    tg_walk_tensor(&w, y);
    return w;
}

static int cel_forward(tg_record *r)
{
    const cel_attr *a = r->attr;
    cel_geom gm;
    cel_geom_of(r, &gm);
    int64_t rows = gm.rows;
    double *s = tg_record_save(r, (size_t)(CEL_N * rows + 1) * sizeof(double)); /* [CEL_N][rows] */
    if (!s) return TG_ERR_NOMEM;
    memset(s, 0, (size_t)(CEL_N * rows) * sizeof(double));
    tg_walk w = rows_walk(gm.nd, gm.sh, r, 2);
    const tg_real *x1 = r->in[0]->data, *x2 = r->in[1]->data;
    for (int64_t k = 0; k < gm.size; k++, tg_walk_next(&w)) {
        double u = x1[w.off[0]], v = x2[w.off[1]];
        int64_t q = k / gm.D;
        s[CEL_COS * rows + q] += u * v;
        s[CEL_M1 * rows + q] += u * u;
        s[CEL_M2 * rows + q] += v * v;
    }
    for (int64_t q = 0; q < rows; q++) {
        double m1 = s[CEL_M1 * rows + q] += CEL_EPS, m2 = s[CEL_M2 * rows + q] += CEL_EPS;
        s[CEL_DEN * rows + q] = sqrt(m1 * m2);
        s[CEL_COS * rows + q] /= s[CEL_DEN * rows + q];
    }
    tg_walk o = cel_out_walk(&gm, r->in[2]);
    double sum = 0;
    for (int64_t k = 0; k < gm.osize; k++, tg_walk_next(&o)) {
        tg_real cos = (tg_real)s[CEL_COS * rows + o.off[0]];
        tg_real l = cel_of(cos, r->in[2]->data[o.off[1]], a->margin);
        if (a->red == TG_REDUCE_NONE) r->out->data[k] = l;
        else sum += l;
    }
    finish(r->out, a->red, sum, (double)gm.osize);
    return TG_OK;
}

static void cel_backward(tg_record *r)
{
    const cel_attr *a = r->attr;
    cel_geom gm;
    cel_geom_of(r, &gm);
    int64_t rows = gm.rows;
    double *s = r->saved, *dcos = s + CEL_DCOS * rows;
    memset(dcos, 0, (size_t)rows * sizeof(double));
    tg_walk o = cel_out_walk(&gm, r->in[2]);
    for (int64_t k = 0; k < gm.osize; k++, tg_walk_next(&o)) {
        double cos = (tg_real)s[CEL_COS * rows + o.off[0]];
        tg_real y = r->in[2]->data[o.off[1]];
        double c = y == 1 ? -1 : y == -1 && cos - a->margin >= 0 ? 1 : 0;
        dcos[o.off[0]] += weight_of(r, a->red, k, (double)gm.osize) * c;
    }
    tg_sink d1 = tg_sink_begin(r->tape, r->in[0], gm.size);
    tg_sink d2 = tg_sink_begin(r->tape, r->in[1], gm.size);
    tg_walk w = rows_walk(gm.nd, gm.sh, r, 2);
    const tg_real *x1 = r->in[0]->data, *x2 = r->in[1]->data;
    for (int64_t k = 0; k < gm.size; k++, tg_walk_next(&w)) {
        int64_t q = k / gm.D;
        double u = x1[w.off[0]], v = x2[w.off[1]], G = dcos[q], cos = s[CEL_COS * rows + q];
        double den = s[CEL_DEN * rows + q];
        if (d1.grad) tg_sink_add(&d1, w.off[0], G * (v / den - cos * u / s[CEL_M1 * rows + q]));
        if (d2.grad) tg_sink_add(&d2, w.off[1], G * (u / den - cos * v / s[CEL_M2 * rows + q]));
    }
    tg_sink_end(&d1);
    tg_sink_end(&d2);
}

static int cel_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const cel_attr *a = r->attr;
    tg_tensor *x1 = r->in[0], *x2 = r->in[1], *y = r->in[2];
    cel_geom gm;
    cel_geom_of(r, &gm);
    int last = gm.nd - 1;
    tg_tensor *p = tg_sum(t, tg_mul(t, x1, x2), last, true);
    tg_tensor *m1 = tg_add_scalar(t, tg_sum(t, tg_square(t, x1), last, true), (tg_real)CEL_EPS);
    tg_tensor *m2 = tg_add_scalar(t, tg_sum(t, tg_square(t, x2), last, true), (tg_real)CEL_EPS);
    tg_tensor *den = tg_sqrt(t, tg_mul(t, m1, m2));
    tg_tensor *cos = tg_div(t, p, den); /* [C..., 1]: p has the whole shape S */
    int64_t ck[TG_MAX_DIMS];
    memcpy(ck, gm.csh, sizeof ck);
    ck[gm.cnd] = 1;
    tg_tensor *cosc = tg_reshape(t, cos, gm.cnd, gm.csh);
    tg_tensor *w = weight_tensor(t, g, a->red, (double)gm.osize);
    tg_tensor *neg = tg_mul(t, tg_eq(t, y, K(-1)), tg_ge(t, cosc, K(a->margin)));
    tg_tensor *dc = tg_where(t, tg_eq(t, y, K(1)), tg_neg(t, w), tg_where(t, neg, w, K(0)));
    tg_tensor *G = tg_reshape(t, tg_sum_to(t, dc, gm.cnd, gm.csh), gm.nd, ck);
    tg_tensor *Gd = tg_div(t, G, den), *Gc = tg_mul(t, G, cos);
    set_dx(t, r, dx, 0, tg_sub(t, tg_mul(t, Gd, x2), tg_div(t, tg_mul(t, Gc, x1), m1)));
    set_dx(t, r, dx, 1, tg_sub(t, tg_mul(t, Gd, x1), tg_div(t, tg_mul(t, Gc, x2), m2)));
    return TG_OK;
}

static const tg_op op_cosine_embedding_loss = {
    .name = "cosine_embedding_loss", .n_inputs = 3, .attr_size = sizeof(cel_attr),
    .shape = cel_shape, .forward = cel_forward, .backward = cel_backward, .vjp = cel_vjp,
    .doc = "1 - cos(x1, x2) if y = 1, max(0, cos(x1, x2) - margin) if y = -1"};

tg_tensor *tg_cosine_embedding_loss(tg_tape *t, tg_tensor *input1, tg_tensor *input2,
                                    tg_tensor *target, tg_real margin, tg_reduction red)
{
    cel_attr a = {(int)red, margin};
    tg_tensor *in[3] = {input1, input2, target};
    return tg_apply(t, &op_cosine_embedding_loss, in, 3, &a);
}

/* -------------------------------------------------- triplet_margin_loss */

typedef struct {
    int red;
    tg_real margin, p, eps;
    bool swap;
} triplet_attr;

static const char *const TRIPLET_NAMES[3] = {"anchor", "positive", "negative"};

/* The three have one number of dimensions (at least 1; F.triplet_margin_loss
   checks it) and broadcast together; the distances run along the last axis. */
static int triplet_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                         size_t len)
{
    const triplet_attr *a = r->attr;
    const tg_tensor *const *in = (const tg_tensor *const *)r->in;
    char s[3][96];
    for (int i = 1; i < 3; i++)
        if (!in[i]) {
            snprintf(msg, len, "the %s is NULL", TRIPLET_NAMES[i]);
            return TG_ERR_INVALID;
        }
    for (int i = 0; i < 3; i++) tg_shape_str(in[i], s[i], sizeof s[i]);
    if (in[0]->ndim < 1 || in[0]->ndim != in[1]->ndim || in[0]->ndim != in[2]->ndim) {
        snprintf(msg, len, "anchor %s, positive %s and negative %s must have one number of "
                 "dimensions, at least 1", s[0], s[1], s[2]);
        return TG_ERR_SHAPE;
    }
    int nd;
    int64_t sh[TG_MAX_DIMS], size;
    if (tg_broadcast_n(3, in, &nd, sh) != TG_OK || !tg_shape_numel(nd, sh, &size)) {
        snprintf(msg, len, "shapes cannot be broadcast together (or to a size memory can hold): "
                 "anchor %s, positive %s, negative %s", s[0], s[1], s[2]);
        return TG_ERR_SHAPE;
    }
    if (!(a->p >= 1) || isinf(a->p)) {
        snprintf(msg, len, "p must be a finite number of at least 1 (a norm), got %g",
                 (double)a->p);
        return TG_ERR_INVALID;
    }
    return loss_shape_of(a->red, nd - 1, sh, -1, ndim, shape, msg, len);
}

/* ‖v‖_p from Σ|v_k|^p, and one term of that sum */
static tg_real pterm(tg_real v, tg_real p)
{
    return p == 2 ? v * v : p == 1 ? TG_FABS(v) : TG_POW(TG_FABS(v), p);
}
static double pnorm(double s, double p) { return p == 2 ? sqrt(s) : p == 1 ? s : pow(s, 1 / p); }

/* ∂‖v‖_p/∂v_k = sign(v_k)·|v_k|^(p−1)/‖v‖^(p−1): sign(v_k) for p = 1,
   v_k/‖v‖ for p = 2; 0 where ‖v‖ = 0 (PyTorch's norm backward) */
static tg_real pnorm_d(tg_real v, tg_real n, tg_real p)
{
    if (p == 1) return (tg_real)((v > 0) - (v < 0));
    if (n == 0) return 0;
    if (p == 2) return v / n;
    return (tg_real)((v > 0) - (v < 0)) * TG_POW(TG_FABS(v), p - 1) / TG_POW(n, p - 1);
}

/* min(d_an, d_pn)'s share of its gradient for d_an (PyTorch's minimum: 1/2
   each at a tie, both 1 at a NaN) */
static tg_real min_share(tg_real x, tg_real other)
{
    return x == other ? (tg_real)0.5 : x > other ? 0 : 1;
}

/* triplet_margin with the anchor a, the positive p and the negative n, each
   distance taken on the difference plus ε (pairwise_distance's eps):
   d_ap = ‖a − p + ε‖, d_an = ‖a − n + ε‖, with swap d_n = min(d_an, d_pn),
   d_pn = ‖p − n + ε‖ (else d_n = d_an);
   ℓ = max(0, margin + d_ap − d_n)
   where ℓ's clamp passes (margin + d_ap − d_n ≥ 0), with u_xy = ∂d_xy/∂v_xy
   and c_an, c_pn the min's shares:
   ∂ℓ/∂a = u_ap − c_an·u_an,  ∂ℓ/∂p = −u_ap − c_pn·u_pn,
   ∂ℓ/∂n = c_an·u_an + c_pn·u_pn
   The forward saves d_ap, d_an, d_pn per row. */
enum { TR_AP, TR_AN, TR_PN, TR_N };

/* d_n: d_an, or with swap min(d_an, d_pn) (NaN if either is) */
static tg_real triplet_dneg(const triplet_attr *at, tg_real dan, tg_real dpn)
{
    if (!at->swap) return dan;
    return isnan(dan) || isnan(dpn) ? dan + dpn : dan < dpn ? dan : dpn;
}

/* S (the inputs broadcast), its rows along the last axis, and the walk of
   S with a, p and n. Each distance runs along its own pair's broadcast, as
   F.pairwise_distance takes it: a pair whose two last axes are both 1
   (anchor [N, D], positive and negative [N, 1]) has a distance of one
   term, not D copies of it, so its terms come from the first column of S
   only (full[pair] false). */
typedef struct {
    int nd;
    int64_t sh[TG_MAX_DIMS], rows, size, D;
    bool full[TR_N];
    tg_walk w;
} triplet_geom;

static triplet_geom triplet_geom_of(const tg_record *r)
{
    triplet_geom gm;
    tg_broadcast_n(3, (const tg_tensor *const *)r->in, &gm.nd, gm.sh);
    row_view v = row_view_of(gm.nd, gm.sh, gm.nd - 1);
    gm.rows = v.outer, gm.D = v.n, gm.size = v.outer * v.n;
    static const int pair[TR_N][2] = {[TR_AP] = {0, 1}, [TR_AN] = {0, 2}, [TR_PN] = {1, 2}};
    for (int j = 0; j < TR_N; j++)
        gm.full[j] = r->in[pair[j][0]]->shape[gm.nd - 1] != 1 ||
                     r->in[pair[j][1]]->shape[gm.nd - 1] != 1;
    gm.w = rows_walk(gm.nd, gm.sh, r, 3);
    return gm;
}

static int triplet_forward(tg_record *r)
{
    const triplet_attr *at = r->attr;
    triplet_geom gm = triplet_geom_of(r);
    int64_t rows = gm.rows;
    double *s = tg_record_save(r, (size_t)(TR_N * rows + 1) * sizeof(double)); /* [TR_N][rows] */
    if (!s) return TG_ERR_NOMEM;
    memset(s, 0, (size_t)(TR_N * rows) * sizeof(double));
    const tg_real *a = r->in[0]->data, *p = r->in[1]->data, *n = r->in[2]->data;
    for (int64_t k = 0; k < gm.size; k++, tg_walk_next(&gm.w)) {
        const int64_t *o = gm.w.off;
        tg_real xa = a[o[0]], xp = p[o[1]], xn = n[o[2]];
        int64_t q = k / gm.D;
        bool first = k == q * gm.D; /* the row's first column: every pair counts it */
        if (first || gm.full[TR_AP]) s[TR_AP * rows + q] += pterm(xa - xp + at->eps, at->p);
        if (first || gm.full[TR_AN]) s[TR_AN * rows + q] += pterm(xa - xn + at->eps, at->p);
        if (at->swap && (first || gm.full[TR_PN]))
            s[TR_PN * rows + q] += pterm(xp - xn + at->eps, at->p);
    }
    double sum = 0;
    for (int64_t q = 0; q < rows; q++) {
        for (int j = 0; j < TR_N; j++) s[j * rows + q] = (tg_real)pnorm(s[j * rows + q], at->p);
        tg_real dap = (tg_real)s[TR_AP * rows + q], dan = (tg_real)s[TR_AN * rows + q];
        tg_real dpn = (tg_real)s[TR_PN * rows + q];
        tg_real dn = triplet_dneg(at, dan, dpn);
        tg_real z = at->margin + dap - dn, l = z < 0 ? 0 : z;
        if (at->red == TG_REDUCE_NONE) r->out->data[q] = l;
        else sum += l;
    }
    finish(r->out, at->red, sum, (double)rows);
    return TG_OK;
}

static void triplet_backward(tg_record *r)
{
    const triplet_attr *at = r->attr;
    triplet_geom gm = triplet_geom_of(r);
    int64_t rows = gm.rows;
    const double *s = r->saved;
    const tg_real *a = r->in[0]->data, *p = r->in[1]->data, *n = r->in[2]->data;
    tg_sink da = tg_sink_begin(r->tape, r->in[0], gm.size);
    tg_sink dp = tg_sink_begin(r->tape, r->in[1], gm.size);
    tg_sink dn = tg_sink_begin(r->tape, r->in[2], gm.size);
    for (int64_t k = 0; k < gm.size; k++, tg_walk_next(&gm.w)) {
        const int64_t *o = gm.w.off;
        int64_t q = k / gm.D;
        tg_real dap = (tg_real)s[TR_AP * rows + q], dan = (tg_real)s[TR_AN * rows + q];
        tg_real dpn = (tg_real)s[TR_PN * rows + q];
        tg_real c_an = at->swap ? min_share(dan, dpn) : 1;
        tg_real c_pn = at->swap ? min_share(dpn, dan) : 0;
        tg_real dneg = triplet_dneg(at, dan, dpn);
        if (!(at->margin + dap - dneg >= 0)) continue;
        tg_real G = weight_of(r, at->red, q, (double)rows);
        tg_real xa = a[o[0]], xp = p[o[1]], xn = n[o[2]];
        bool first = k == q * gm.D; /* as the forward counts the terms */
        tg_real u_ap = first || gm.full[TR_AP] ? pnorm_d(xa - xp + at->eps, dap, at->p) : 0;
        tg_real u_an = first || gm.full[TR_AN] ? pnorm_d(xa - xn + at->eps, dan, at->p) : 0;
        tg_real u_pn = at->swap && (first || gm.full[TR_PN])
                           ? pnorm_d(xp - xn + at->eps, dpn, at->p)
                           : 0;
        if (da.grad) tg_sink_add(&da, o[0], G * (u_ap - c_an * u_an));
        if (dp.grad) tg_sink_add(&dp, o[1], G * (-u_ap - c_pn * u_pn));
        if (dn.grad) tg_sink_add(&dn, o[2], G * (c_an * u_an + c_pn * u_pn));
    }
    tg_sink_end(&da);
    tg_sink_end(&dp);
    tg_sink_end(&dn);
}

/* ‖v‖_p along the last axis (kept), and its derivative u, as ops. The norm
   is tg_norm, whose gradient is 0 at a zero vector (PyTorch's norm backward
   masks it there): a gradient reaching a zero distance through u, whose
   branch there is not taken, stays 0 instead of 0·∞ */
static tg_tensor *pnorm_of(tg_tape *t, tg_tensor *v, tg_real p)
{
    if (!v) return NULL; /* an op before failed (out of memory): its message stands */
    return tg_norm(t, v, p, v->ndim - 1, true);
}
static tg_tensor *pnorm_d_of(tg_tape *t, tg_tensor *v, tg_tensor *n, tg_real p)
{
    if (p == 1) return tg_sign(t, v);
    /* u where n = 0 is 0; n is taken at 1 there so that the branch not taken
       (and its derivatives) stays finite */
    tg_tensor *n0 = tg_eq(t, n, K(0)), *nsafe = tg_where(t, n0, K(1), n);
    tg_tensor *u = p == 2 ? tg_div(t, v, nsafe)
                          : tg_div(t, tg_mul(t, tg_sign(t, v), tg_pow(t, tg_abs(t, v), p - 1)),
                                   tg_pow(t, nsafe, p - 1));
    return tg_where(t, n0, K(0), u);
}

static int triplet_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const triplet_attr *at = r->attr;
    tg_tensor *a = r->in[0], *p = r->in[1], *n = r->in[2];
    triplet_geom gm = triplet_geom_of(r);
    int64_t rk[TG_MAX_DIMS];
    memcpy(rk, gm.sh, sizeof rk);
    rk[gm.nd - 1] = 1;
    tg_tensor *vap = tg_add_scalar(t, tg_sub(t, a, p), at->eps);
    tg_tensor *van = tg_add_scalar(t, tg_sub(t, a, n), at->eps);
    tg_tensor *dap = pnorm_of(t, vap, at->p), *dan = pnorm_of(t, van, at->p);
    tg_tensor *u_ap = pnorm_d_of(t, vap, dap, at->p), *u_an = pnorm_d_of(t, van, dan, at->p);
    tg_tensor *c_an = K(1), *dneg = dan, *pn = NULL;
    if (at->swap) {
        tg_tensor *vpn = tg_add_scalar(t, tg_sub(t, p, n), at->eps);
        tg_tensor *dpn = pnorm_of(t, vpn, at->p);
        dneg = tg_minimum(t, dan, dpn);
        tg_tensor *tie = tg_eq(t, dan, dpn);
        c_an = tg_where(t, tie, K(0.5), tg_where(t, tg_gt(t, dan, dpn), K(0), K(1)));
        tg_tensor *c_pn = tg_where(t, tie, K(0.5), tg_where(t, tg_lt(t, dan, dpn), K(0), K(1)));
        pn = tg_mul(t, c_pn, pnorm_d_of(t, vpn, dpn, at->p));
    }
    tg_tensor *w = weight_tensor(t, g, at->red, (double)gm.rows);
    if (at->red == TG_REDUCE_NONE) w = tg_reshape(t, w, gm.nd, rk);
    tg_tensor *on = tg_ge(t, tg_add_scalar(t, tg_sub(t, dap, dneg), at->margin), K(0));
    tg_tensor *A = tg_where(t, on, w, K(0));
    /* each pair's terms summed to an input's shape apart: u_ap, u_an and
       u_pn each have their own pair's shape (a pair's last axis may be 1
       where the other's is D), so that a sum of two before the reduction
       would count the narrower one D times */
    tg_tensor *g_ap = tg_mul(t, A, u_ap), *g_an = tg_mul(t, A, tg_mul(t, c_an, u_an));
    tg_tensor *g_pn = pn ? tg_mul(t, A, pn) : NULL;
    if (a->flags & TG_REQUIRES_GRAD)
        dx[0] = tg_sub(t, summed_to(t, a, g_ap), summed_to(t, a, g_an));
    if (p->flags & TG_REQUIRES_GRAD) {
        tg_tensor *d = summed_to(t, p, g_ap);
        dx[1] = tg_neg(t, g_pn ? tg_add(t, d, summed_to(t, p, g_pn)) : d);
    }
    if (n->flags & TG_REQUIRES_GRAD) {
        tg_tensor *d = summed_to(t, n, g_an);
        dx[2] = g_pn ? tg_add(t, d, summed_to(t, n, g_pn)) : d;
    }
    return TG_OK;
}

static const tg_op op_triplet_margin_loss = {
    .name = "triplet_margin_loss", .n_inputs = 3, .attr_size = sizeof(triplet_attr),
    .shape = triplet_shape, .forward = triplet_forward, .backward = triplet_backward,
    .vjp = triplet_vjp, .doc = "max(0, margin + |a - p + eps| - |a - n + eps|), p-norms"};

/* The loss as ops, each distance on its own pair's broadcast: for inputs
   whose broadcast last axis is 0 while a pair's two last axes are 1 (the
   op's walk over the broadcast of the three has no element then, and would
   give that pair's one-term distance 0) */
static tg_tensor *triplet_as_ops(tg_tape *t, tg_tensor *const in[3], const triplet_attr *at)
{
    tg_tensor *dap = pnorm_of(t, tg_add_scalar(t, tg_sub(t, in[0], in[1]), at->eps), at->p);
    tg_tensor *dn = pnorm_of(t, tg_add_scalar(t, tg_sub(t, in[0], in[2]), at->eps), at->p);
    if (at->swap)
        dn = tg_minimum(t, dn, pnorm_of(t, tg_add_scalar(t, tg_sub(t, in[1], in[2]), at->eps),
                                        at->p));
    tg_tensor *l = tg_clamp(t, tg_add_scalar(t, tg_sub(t, dap, dn), at->margin), 0, INFINITY);
    if (!l) return NULL;
    l = tg_reshape(t, l, l->ndim - 1, l->shape); /* the kept distance axis dropped */
    if (at->red == TG_REDUCE_NONE) return l;
    return at->red == TG_REDUCE_SUM ? tg_sum(t, l, TG_ALL, false) : tg_mean(t, l, TG_ALL, false);
}

tg_tensor *tg_triplet_margin_loss(tg_tape *t, tg_tensor *anchor, tg_tensor *positive,
                                  tg_tensor *negative, tg_real margin, tg_real p, tg_real eps,
                                  bool swap, tg_reduction red)
{
    triplet_attr a = {(int)red, margin, p, eps, swap};
    tg_tensor *in[3] = {anchor, positive, negative};
    if (anchor && positive && negative && anchor->ndim >= 1 && anchor->ndim == positive->ndim &&
        anchor->ndim == negative->ndim && p >= 1 && !isinf(p) && reduction_ok((int)red)) {
        int nd = anchor->ndim, ones = 0, bn;
        int64_t bs[TG_MAX_DIMS];
        bool empty = false;
        for (int k = 0; k < 3; k++) {
            ones += in[k]->shape[nd - 1] == 1;
            empty |= in[k]->shape[nd - 1] == 0;
        }
        if (empty && ones >= 2 &&
            tg_broadcast_n(3, (const tg_tensor *const *)in, &bn, bs) == TG_OK)
            return triplet_as_ops(t, in, &a);
    }
    return tg_apply(t, &op_triplet_margin_loss, in, 3, &a);
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
    /* [2^40, C, 0] holds no position: no sample to visit (N·inner stays 0) */
    if (v.inner == 0) v.N = 0;
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
                /* the _idx calls share the op: their tg_index named as such */
                snprintf(msg, len, "%starget[%lld] = %lld is out of range for %lld classes",
                         a->target_idx ? "the tg_index " : "", (long long)s, (long long)c,
                         (long long)v.C);
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

#ifndef TG_DOUBLE
/* The float build's backward over a contiguous row of classes, with eˣ
   by exp_nonpos (its argument is ≤ 0 here; within 2 ulp of libm's expf)
   so that it vectorises: libm's scalar expf, once in the forward (now
   tg_exp_sum's) and once in the backward for every logit, was a twentieth
   of char_lstm's step:
   dx_c += g·(e^(log p_c)·qsum − q_c), q_c = qt at the target t alone */
TG_VECTOR_LOOP static void ce_grad_row(float *restrict dx, const float *restrict x, int64_t C,
                                       float m, float logs, float g, float qsum, int64_t t,
                                       float qt)
{
    for (int64_t c = 0; c < C; c++) {
        float logp = (x[c] - m) - logs;
        dx[c] += g * (exp_nonpos(logp) * qsum - (c == t ? qt : 0.0f));
    }
}
#endif

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
#ifndef TG_DOUBLE
    if (st == 1 && m != INFINITY) /* the vectorised sum (m is the maximum) */
        return (lse_parts){m, (tg_real)log(tg_exp_sum(x, C, m))};
#endif
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
            double l = 0; /* in double: a sum over C classes (10⁶ in float lost 2e-4) */
            if (!a->prob && a->target[s] == a->ignore_index) {
                lse[s] = (lse_parts){0, 0};
            } else if (a->prob || eps > 0) {
                lse_parts z = lse[s] = logsumexp(x + base, v.C, v.inner);
                for (int64_t c = 0; c < v.C; c++) {
                    int64_t j = base + c * v.inner;
                    l -= (double)class_q(a, v, y, s, base, c, eps) *
                         (((double)x[j] - (double)z.m) - (double)z.logs);
                }
            } else { /* q is w_t at the target alone */
                lse_parts z = lse[s] = logsumexp(x + base, v.C, v.inner);
                int64_t t = a->target[s];
                l = -class_w(a, t) * ((x[base + t * v.inner] - z.m) - z.logs);
            }
            if (a->red == TG_REDUCE_NONE) r->out->data[s] = (tg_real)l;
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
#ifndef TG_DOUBLE
            /* an index target: q at the target alone */
            if (dx && !dy && !a->prob && eps == 0 && v.inner == 1 && isfinite(lse[s].m)) {
                int64_t t = a->target[s];
                ce_grad_row(dx + base, x + base, v.C, lse[s].m, lse[s].logs, g, qsum, t,
                            class_q(a, v, y, s, base, t, eps));
                continue;
            }
#endif
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

typedef tg_real (*class_fill)(const class_attr *a, class_view v, int64_t s, int64_t base,
                              int64_t c);

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

/* class_fill(x): a tensor of x's shape (or, with `keep`, x's shape with the
   class axis kept as 1) whose element (s, c) is one of the fills above, from
   the targets the op reads when it runs: the one-hot q, the mask of counted
   samples, the targets' positions. An op rather than a constant made when
   the vjp runs, so that a replay of a gradient graph reads the targets a
   wrapped index array holds then (a constant kept the recorded ones).
   Piecewise constant in x: no gradient. */
enum { FILL_ACTIVE, FILL_Q0, FILL_AT };
typedef struct {
    class_attr a; /* the loss's, its target pointers as recorded */
    int fill;     /* FILL_... */
    bool keep;
} class_fill_attr;

static const class_fill fills[] = {[FILL_ACTIVE] = fill_active, [FILL_Q0] = fill_q0,
                                   [FILL_AT] = fill_at};

static int class_fill_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS],
                            char *msg, size_t len)
{
    const class_fill_attr *f = r->attr;
    (void)msg, (void)len;
    int64_t keep[TG_MAX_DIMS];
    int axis = class_axis(r->in[0], keep);
    *ndim = r->in[0]->ndim;
    for (int i = 0; i < *ndim; i++) shape[i] = f->keep && i == axis ? 1 : r->in[0]->shape[i];
    return TG_OK;
}

static int class_fill_forward(tg_record *r)
{
    const class_fill_attr *f = r->attr;
    class_attr a = f->a;
    if (a.target_idx) a.target = a.target_idx->data;
    a.weight = NULL; /* no fill reads the class weights */
    class_view v = class_view_of(r->in[0]);
    int64_t C = f->keep ? 1 : v.C;
    tg_real *k = r->out->data;
    for (int64_t n = 0; n < v.N; n++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t s = n * v.inner + i, base = n * C * v.inner + i;
            for (int64_t c = 0; c < C; c++)
                k[base + c * v.inner] = fills[f->fill](&a, v, s, base, c);
        }
    return TG_OK;
}

static const tg_op op_class_fill = {.name = "class_fill", .n_inputs = 1,
                                    .attr_size = sizeof(class_fill_attr),
                                    .shape = class_fill_shape, .forward = class_fill_forward,
                                    .doc = "the one-hot targets, counted samples or target "
                                           "positions of a class loss (no gradient)"};

/* class_fill(x) for the loss's attributes a: the fill FILL_... */
static tg_tensor *class_fill_of(tg_tape *t, tg_tensor *x, const class_attr *a, int fill,
                                bool keep)
{
    class_fill_attr f = {*a, fill, keep};
    return tg_apply(t, &op_class_fill, &x, 1, &f);
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

/* m·w_c with exactly 0 where m is 0: the class weights wb at what the
   fill m marks (targets, or the smoothed targets q). A product m·w_c alone
   is 0·inf = NaN on a class with a non-finite weight that no sample
   targets, a weight PyTorch never reads. */
static tg_tensor *weights_at(tg_tape *t, tg_tensor *m, tg_tensor *wb)
{
    return tg_mul(t, m, tg_where(t, m, wb, tg_scalar(t, 0)));
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
    tg_tensor *x = r->in[0];
    if (a->red == TG_REDUCE_NONE) return tg_reshape(t, g, x->ndim, keep);
    if (a->red != TG_REDUCE_MEAN || a->prob) /* no count of targets */
        return weight_tensor(t, g, a->red, class_count(a, class_view_of(x)));
    /* the mean over the counted samples (weighted by their targets' class
       weights): a count made of ops on the targets, which a replay reads
       again (a constant kept the recorded count of ignored samples) */
    tg_tensor *wb = class_weights_b(t, r);
    tg_tensor *counted = wb ? weights_at(t, class_fill_of(t, x, a, FILL_AT, false), wb)
                            : class_fill_of(t, x, a, FILL_ACTIVE, true);
    tg_tensor *count = tg_sum(t, counted, TG_ALL, false);
    tg_tensor *zero = tg_scalar(t, 0);
    return tg_where(t, tg_eq(t, count, zero), tg_scalar(t, (tg_real)NAN), tg_div(t, g, count));
}

/* dx = G·(p·Σq − q) for counted samples (0 for ignored ones, even where G
   is NaN), p = e^(log_softmax x);  dy = −G·(1 − ε)·w_c·log p
   An ignored sample's G is made 0 before the product, as well as the
   product masked after it (which keeps out a NaN logit of that sample): a
   mean over none but ignored samples has G = NaN, and the second backward,
   through the product to p, would take NaN·0 = NaN where PyTorch's gives 0
   (nll_loss's backward writes exact zeros). */
static int ce_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    class_attr at = class_attr_at(r);
    const class_attr *a = &at;
    tg_tensor *x = r->in[0], *y = a->prob ? r->in[1] : NULL;
    int64_t keep[TG_MAX_DIMS];
    int axis = class_axis(x, keep);
    tg_real eps = (tg_real)a->smoothing, C = (tg_real)class_view_of(x).C;
    tg_tensor *G = class_weight(t, r, g, keep);
    tg_tensor *active = a->prob ? NULL : class_fill_of(t, x, a, FILL_ACTIVE, true);
    if (active) G = tg_where(t, active, G, tg_scalar(t, 0));
    tg_tensor *lsm = tg_log_softmax(t, x, axis);
    tg_tensor *wb = class_weights_b(t, r);
    /* q = w_c·((1 − ε)·y + ε/C), or w_c·((1 − ε)·[c = t] + ε/C) */
    tg_tensor *q = a->prob ? tg_add_scalar(t, tg_scale(t, y, 1 - eps), eps / C)
                           : class_fill_of(t, x, a, FILL_Q0, false);
    if (wb) q = a->prob ? tg_mul(t, q, wb) : weights_at(t, q, wb);
    if (x->flags & TG_REQUIRES_GRAD) {
        tg_tensor *qsum = tg_sum(t, q, axis, true);
        tg_tensor *d = tg_mul(t, G, tg_sub(t, tg_mul(t, tg_exp(t, lsm), qsum), q));
        dx[0] = active ? tg_where(t, active, d, tg_scalar(t, 0)) : d;
    }
    if (y && (y->flags & TG_REQUIRES_GRAD)) {
        tg_tensor *l = tg_scale(t, lsm, 1 - eps);
        if (wb) l = tg_mul(t, l, wb);
        dx[1] = tg_neg(t, tg_mul(t, G, l));
    }
    return TG_OK;
}

static const tg_op op_cross_entropy = {
    .name = "cross_entropy", .n_inputs = 3,
    .flags = TG_OP_CHECK_ON_REPLAY, .attr_size = sizeof(class_attr),
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
    if (!dz) return; /* the class weights alone need a gradient: they get none */
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
    tg_tensor *at_target = class_fill_of(t, z, a, FILL_AT, false), *wb = class_weights_b(t, r);
    tg_tensor *d = tg_neg(t, tg_mul(t, G, wb ? weights_at(t, at_target, wb) : at_target));
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
                                  .flags = TG_OP_CHECK_ON_REPLAY,
                                  .attr_size = sizeof(class_attr), .shape = nll_shape,
                                  .forward = nll_forward, .backward = nll_backward,
                                  .vjp = nll_vjp,
                                  .doc = "-logp[target]"};

/* ------------------------------------------------------- multi_margin_loss */

typedef struct {
    int red, p;
    tg_real margin;
    const tg_index *target; /* [N] (or one index for a 1-D input), read when a rule runs */
} mm_attr;

/* Every target in [0, C): false (and *bad the first that is not) otherwise.
   Checked when the op runs, since the index array is read then. */
static bool mm_targets_ok(const tg_index *y, int64_t C, int64_t *bad)
{
    for (int64_t s = 0; s < y->size; s++)
        if (y->data[s] < 0 || y->data[s] >= C) {
            *bad = s;
            return false;
        }
    return true;
}

/* x [N, C] with N targets, or [C] with one (0-d or [1]); p 1 or 2; the class
   weights (input 1) NULL or [C]; every target in [0, C). The output for
   NONE is [N] (for a 1-D x, the target's shape). */
static int mm_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                    size_t len)
{
    const mm_attr *a = r->attr;
    const tg_tensor *x = r->in[0], *w = r->in[1];
    const tg_index *y = a->target;
    char sx[96], sy[96];
    if (x->ndim < 1 || x->ndim > 2) {
        snprintf(msg, len, "the input must be [C] or [N, C], got %s",
                 tg_shape_str(x, sx, sizeof sx));
        return TG_ERR_SHAPE;
    }
    if (a->p != 1 && a->p != 2) {
        snprintf(msg, len, "p must be 1 or 2, got %d", a->p);
        return TG_ERR_INVALID;
    }
    if (!y) {
        snprintf(msg, len, "the target is NULL");
        return TG_ERR_INVALID;
    }
    if (!tg_index_usable(r->tape, y)) {
        snprintf(msg, len, "the target is an index of another tape, or from before tg_tape_reset");
        return TG_ERR_STATE;
    }
    class_view v = class_view_of(x);
    tg_tensor ys = {.ndim = y->ndim};
    memcpy(ys.shape, y->shape, sizeof ys.shape);
    tg_shape_str(&ys, sy, sizeof sy);
    if (x->ndim == 2 ? (y->ndim != 1 || y->shape[0] != v.N) : (y->ndim > 1 || y->size != 1)) {
        snprintf(msg, len, "the target %s must have one index per sample of the input %s", sy,
                 tg_shape_str(x, sx, sizeof sx));
        return TG_ERR_SHAPE;
    }
    if (w && (w->ndim != 1 || w->shape[0] != v.C)) {
        snprintf(msg, len, "weight %s does not match %lld classes (needs [%lld])",
                 tg_shape_str(w, sx, sizeof sx), (long long)v.C, (long long)v.C);
        return TG_ERR_SHAPE;
    }
    int64_t bad;
    if (!mm_targets_ok(y, v.C, &bad)) {
        snprintf(msg, len, "target[%lld] = %lld is out of range for %lld classes",
                 (long long)bad, (long long)y->data[bad], (long long)v.C);
        return TG_ERR_INVALID;
    }
    if (x->ndim == 1) return loss_shape_of(a->red, y->ndim, y->shape, -1, ndim, shape, msg, len);
    return loss_shape(a->red, x, 1, ndim, shape, msg, len);
}

/* multi_margin (the multi-class SVM loss) of sample n with target y, z_c =
   margin − x_y + x_c and w_y the target's class weight (1 without weights):
   ℓ = Σ_{c ≠ y, z_c > 0} w_y·z_c^p / C      (the weight outside the power, as
                                            ATen computes it)
   ∂ℓ/∂x_c = w_y·p·z_c^(p−1)/C where c ≠ y and z_c > 0 (0 at z_c = 0),
   ∂ℓ/∂x_y = −Σ_c ∂ℓ/∂x_c */
static tg_real mm_w(const tg_record *r, int64_t c) { return r->in[1] ? r->in[1]->data[c] : 1; }

static int mm_forward(tg_record *r)
{
    const mm_attr *a = r->attr;
    class_view v = class_view_of(r->in[0]);
    int64_t bad;
    if (!mm_targets_ok(a->target, v.C, &bad)) return TG_ERR_INVALID; /* a replay's new labels */
    const tg_real *x = r->in[0]->data; /* [N, C] */
    double sum = 0;
    for (int64_t n = 0; n < v.N; n++) {
        const tg_real *xn = x + n * v.C;
        int64_t y = a->target->data[n];
        double l = 0;
        for (int64_t c = 0; c < v.C; c++) {
            tg_real z = a->margin - xn[y] + xn[c];
            if (c != y && z > 0) l += (a->p == 1 ? z : z * z) * mm_w(r, y);
        }
        l /= (double)v.C;
        if (a->red == TG_REDUCE_NONE) r->out->data[n] = (tg_real)l;
        else sum += (tg_real)l;
    }
    finish(r->out, a->red, sum, (double)v.N);
    return TG_OK;
}

static void mm_backward(tg_record *r)
{
    const mm_attr *a = r->attr;
    class_view v = class_view_of(r->in[0]);
    const tg_real *x = r->in[0]->data; /* [N, C] */
    tg_real *dx = r->in[0]->grad;      /* [N, C] */
    if (!dx) return;
    for (int64_t n = 0; n < v.N; n++) {
        const tg_real *xn = x + n * v.C;
        int64_t y = a->target->data[n];
        tg_real G = weight_of(r, a->red, n, (double)v.N) / (tg_real)v.C * mm_w(r, y);
        double dy = 0;
        for (int64_t c = 0; c < v.C; c++) {
            tg_real z = a->margin - xn[y] + xn[c];
            if (c == y || !(z > 0)) continue;
            tg_real h = G * (a->p == 1 ? 1 : 2 * z);
            dx[n * v.C + c] += h;
            dy += h;
        }
        dx[n * v.C + y] -= (tg_real)dy;
    }
}

/* The rule as ops on x seen as [N, C]: with the one-hot targets m,
   x_y = Σ_c of x where m (else 0), w_y likewise from the weights,
   z = margin − x_y + x, h = G·w_y/C·(1 or 2z) where c ≠ y and z > 0
   (else 0), dx = h, and −Σ_c h at the target. */
static int mm_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const mm_attr *a = r->attr;
    tg_tensor *x0 = r->in[0], *w = r->in[1];
    class_view v = class_view_of(x0);
    tg_tensor *x = tg_reshape(t, x0, TG_SHAPE(v.N, v.C));
    /* 1 at each sample's target: an op, read from the targets at each replay */
    class_attr ca = {.ignore_index = INT64_MIN, .target_idx = a->target};
    tg_tensor *onehot = class_fill_of(t, x, &ca, FILL_AT, false);
    if (!onehot) return TG_ERR_NOMEM;
    tg_tensor *xy = tg_sum(t, tg_where(t, onehot, x, K(0)), 1, true);
    tg_tensor *z = tg_add_scalar(t, tg_sub(t, x, xy), a->margin);
    tg_tensor *on = tg_mul(t, tg_gt(t, z, K(0)), tg_eq(t, onehot, K(0)));
    tg_tensor *G = a->red == TG_REDUCE_NONE ? tg_reshape(t, g, TG_SHAPE(v.N, 1))
                                           : weight_tensor(t, g, a->red, (double)v.N);
    tg_tensor *Gw = tg_scale(t, G, 1 / (tg_real)v.C);
    if (w) Gw = tg_mul(t, Gw, tg_sum(t, tg_where(t, onehot, tg_reshape(t, w, TG_SHAPE(1, v.C)),
                                                  K(0)), 1, true));
    tg_tensor *h = tg_where(t, on, a->p == 1 ? Gw : tg_mul(t, Gw, tg_scale(t, z, 2)), K(0));
    tg_tensor *d = tg_where(t, onehot, tg_neg(t, tg_sum(t, h, 1, true)), h);
    dx[0] = tg_reshape(t, d, x0->ndim, x0->shape);
    return TG_OK;
}

static const tg_op op_multi_margin_loss = {
    .name = "multi_margin_loss", .n_inputs = 2,
    .flags = TG_OP_CHECK_ON_REPLAY, .attr_size = sizeof(mm_attr),
    .shape = mm_shape, .forward = mm_forward, .backward = mm_backward, .vjp = mm_vjp,
    .doc = "sum over c != y of w_y max(0, margin - x_y + x_c)^p / C"};

/* The class weights are the op's second input, read when it runs (never
   written, no gradient): the tensor itself when it is one of the tape's or
   a parameter, a copy made now otherwise. */
tg_tensor *tg_multi_margin_loss(tg_tape *t, tg_tensor *input, const tg_index *target, int p,
                                tg_real margin, const tg_tensor *weight, tg_reduction red)
{
    mm_attr a = {(int)red, p, margin, target};
    tg_tensor *w = (tg_tensor *)(uintptr_t)weight;
    if (t && w && !tg_tensor_usable(t, w)) w = tg_tensor_new(t, w->ndim, w->shape, w->data);
    tg_tensor *in[2] = {input, w};
    if (weight && !w) return NULL;
    return tg_apply(t, &op_multi_margin_loss, in, 2, &a);
}

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
        int64_t *copy = tg_tape_alloc_for_op(t, op, (n ? n : 1) * sizeof *copy);
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
    if (!t) return tg_no_tape(op->name);
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

static const tg_op *const loss_ops[] = {
    &op_mse_loss,          &op_l1_loss,           &op_smooth_l1_loss,
    &op_huber_loss,        &op_bce_loss,          &op_bce_with_logits,
    &op_cross_entropy,     &op_nll_loss,          &op_kl_div,
    &op_poisson_nll_loss,  &op_gaussian_nll_loss, &op_hinge_embedding_loss,
    &op_margin_ranking_loss, &op_cosine_similarity, &op_cosine_embedding_loss,
    &op_triplet_margin_loss, &op_multi_margin_loss, &op_clamp_min_through,
    &op_class_fill};
const tg_op_table tg_loss_ops = {loss_ops, sizeof loss_ops / sizeof *loss_ops};
