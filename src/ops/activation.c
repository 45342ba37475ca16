/* Activation functions: element-wise ones (sigmoid ... logsigmoid, the
   shrinks, threshold, logit), prelu (with a learnable weight), glu (gates
   one half of an axis with the other) and the axis ops softmax, softmin and
   log_softmax.

   Each element-wise activation is a pair of scalar functions, the value f(x)
   and the derivative d(x, y) (y = f(x), which many rules reuse), written next
   to each other with the derivation above them. ACT_OP turns a pair into an
   op: the forward loop y = f(x) and the backward loop dx += g·d(x, y).
   A NaN input gives a NaN output and a NaN gradient (PyTorch's gradient at
   NaN depends on whether its vectorised or its scalar kernel ran: 0, 1 or
   NaN; tapegrad always says NaN).

   Stability: sigmoid and logsigmoid branch on the sign so that e^(−|x|) is the
   only exponential; softplus returns x past its threshold; elu/selu/celu use
   expm1; softmax and log_softmax subtract the maximum. NaN inputs give NaN
   outputs, and ±inf give what PyTorch gives (tests/ops/test_extremes.c). At a
   kink the derivative is PyTorch's choice, noted at each rule. */
#include "ops/ops_internal.h"
#include "ops/reduce_internal.h" /* tg_axis_view */
#include "ops/fast_act.h" /* exp_nonpos, for the tanh-form GELU */
#include "gemm/gemm.h"     /* tg_run_halves */

/* The scalars of an activation: slope, alpha, beta/threshold, min/max, and
   the GELU form. Unused fields are 0. */
typedef struct {
    tg_real a, b;
    int mode;
} act_attr;

/* sigmoid(x) = 1/(1 + e⁻ˣ), evaluated as eˣ/(1 + eˣ) for x < 0 so that the
   exponential never overflows. */
static tg_real sigmoid_of(tg_real x)
{
    if (x >= 0) return 1 / (1 + TG_EXP(-x));
    tg_real e = TG_EXP(x);
    return e / (1 + e);
}

/* softplus(x) = log(1 + eˣ) = max(x, 0) + log1p(e^−|x|), finite for finite x. */
static tg_real softplus_of(tg_real x)
{
    return (x > 0 ? x : 0) + tg_log1p_exp(-TG_FABS(x));
}

/* ------------------------------------------------------------- the op maker */

/* ACT_OP(NAME, SHAPE, DOC): the op `NAME` from NAME##_f(x, p) and
   NAME##_d(x, y, p), with NAME##_vjp, the same derivative written with tg_
   ops for create_graph; SHAPE checks the attributes (tg_shape_same if none).
   The vjps build d(x, y) from x and y = r->out (a record of the forward, so
   differentiating them again goes through this op once more: any order),
   and select with tg_where where a rule has branches, so that the branch
   not taken (an exp that overflows there) cannot turn into NaN.
   ACT_OP_GD is the same with NAME##_gd(g, x, y, p), the gradient g·d taken
   whole, for a rule whose d overflows where g·d does not (logit's 1/x at a
   subnormal x); ACT_OP's g·d is its plain case. */
#define ACT_OP(NAME, SHAPE, DOC)                                                         \
    static tg_real NAME##_gd(tg_real g, tg_real x, tg_real y, const act_attr *p)        \
    {                                                                                    \
        return g * NAME##_d(x, y, p);                                                    \
    }                                                                                    \
    ACT_OP_GD(NAME, SHAPE, DOC)
#define ACT_OP_GD(NAME, SHAPE, DOC)                                                      \
    static int NAME##_forward(tg_record *r)                                              \
    {                                                                                    \
        const act_attr *p = r->attr;                                                     \
        const tg_real *x = r->in[0]->data; /* [size] */                                  \
        tg_real *y = r->out->data;         /* [size] */                                  \
        for (int64_t i = 0; i < r->out->size; i++) y[i] = NAME##_f(x[i], p);             \
        return TG_OK;                                                                    \
    }                                                                                    \
    static void NAME##_backward(tg_record *r)                                            \
    {                                                                                    \
        const act_attr *p = r->attr;                                                     \
        const tg_real *x = r->in[0]->data, *y = r->out->data, *g = r->out->grad;         \
        tg_real *dx = r->in[0]->grad;                                                    \
        for (int64_t i = 0; i < r->out->size; i++)                                       \
            dx[i] += isnan(x[i]) ? g[i] * x[i] : NAME##_gd(g[i], x[i], y[i], p);          \
    }                                                                                    \
    static void NAME##_sfwd(const tg_small *s) /* the compact form */                  \
    {                                                                                    \
        for (int64_t i = 0; i < s->n; i++) s->y[i] = NAME##_f(s->x[0][i], s->attr);      \
    }                                                                                    \
    static void NAME##_sbwd(const tg_small *s)                                           \
    {                                                                                    \
        const tg_real *x = s->x[0];                                                      \
        tg_real *dx = tg_small_gx(s)[0];                                                 \
        for (int64_t i = 0; i < s->n; i++)                                               \
            dx[i] += isnan(x[i]) ? s->gy[i] * x[i]                                      \
                                 : NAME##_gd(s->gy[i], x[i], s->y[i], s->attr);         \
    }                                                                                    \
    static const tg_op op_##NAME = {.name = #NAME,                                       \
                                    .n_inputs = 1,                                       \
                                    .attr_size = sizeof(act_attr),                       \
                                    .shape = SHAPE,                                      \
                                    .forward = NAME##_forward,                           \
                                    .backward = NAME##_backward,                         \
                                    .vjp = NAME##_vjp,                                   \
                                    .doc = DOC};

static tg_tensor *act(tg_tape *t, const tg_op *op, tg_tensor *x, tg_real a, tg_real b, int mode)
{
    act_attr p = {a, b, mode};
    return tg_apply(t, op, &x, 1, &p);
}

/* Shorthands for the vjps: their arguments, the record's input x, output y
   and attributes p, and constants. */
#define VJP_ARGS tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx
#define VJP_LOCALS                                                                       \
    tg_tensor *x = r->in[0], *y = r->out;                                                \
    const act_attr *p = r->attr;                                                         \
    (void)x, (void)y, (void)p
#define K(v) tg_scalar(t, (tg_real)(v))

/* where(cond, g·d, g·e): each branch's derivative times g */
static tg_tensor *pick(tg_tape *t, tg_tensor *cond, tg_tensor *a, tg_tensor *b)
{
    return tg_where(t, cond, a, b);
}

/* Whether v may hold a NaN when its graph runs: it holds one now, or the tape
   is replayable, whose replays may bring one (as prod_vjp's zeros) */
static bool may_hold_nan(const tg_tape *t, const tg_tensor *v)
{
    if (tg_tape_replayable(t)) return true;
    for (int64_t i = 0; i < v->size; i++)
        if (isnan(v->data[i])) return true;
    return false;
}

/* d, but NaN where x is NaN, as the fast rules give: a vjp that picks its
   branch by comparing x would not (NaN compares false, so it took g, s·g or
   0 there). The select is built only when x may hold a NaN. */
static tg_tensor *nan_at_nan(tg_tape *t, tg_tensor *x, tg_tensor *d)
{
    return may_hold_nan(t, x) ? tg_where(t, tg_eq(t, x, x), d, K(NAN)) : d;
}

/* Whether s·x may equal a or b somewhere when its graph runs: it does now
   (s·x rounded as tg_scale rounds it), or the tape is replayable. The
   vjps below ask it for their kinks: there PyTorch's second derivative is
   that of the constant side (its double-backward formulas test strict
   inequalities), and the vjp, whose first-order value is the other side's,
   replaces x by a copy whose derivative is 0 at those points (the same
   values, so the same first-order bits); it is built only when needed. */
static bool may_hit(const tg_tape *t, const tg_tensor *x, tg_real s, tg_real a, tg_real b)
{
    if (tg_tape_replayable(t)) return true;
    for (int64_t i = 0; i < x->size; i++) {
        tg_real v = s * x->data[i];
        if (v == a || v == b) return true;
    }
    return false;
}

/* v (y of an elu-like op, 0 at x = 0) with a derivative of 0 where x = 0:
   v·[x < 0] (the same values for x ≤ 0, the only ones the vjps read) */
static tg_tensor *cut_at_zero(tg_tape *t, tg_tensor *x, tg_tensor *v)
{
    return may_hit(t, x, 1, 0, 0) ? tg_mul(t, v, tg_lt(t, x, tg_scalar(t, 0))) : v;
}

#define UNUSED2(u, v) ((void)(u), (void)(v))

/* --------------------------------------------------------------- sigmoid */

/* σ(x) = 1/(1 + e⁻ˣ)
   d/dx = e⁻ˣ/(1 + e⁻ˣ)² = σ(x)·(1 − σ(x)) = y(1 − y) */
static tg_real sigmoid_f(tg_real x, const act_attr *p) { (void)p; return sigmoid_of(x); }
static tg_real sigmoid_d(tg_real x, tg_real y, const act_attr *p)
{
    UNUSED2(x, p);
    return y * (1 - y);
}
static int sigmoid_vjp(VJP_ARGS) /* g·y·(1 − y) */
{
    VJP_LOCALS;
    dx[0] = tg_mul(t, g, tg_mul(t, y, tg_add_scalar(t, tg_neg(t, y), 1)));
    return TG_OK;
}
ACT_OP(sigmoid, tg_shape_same, "1 / (1 + exp(-x))")

/* ------------------------------------------------------------------ tanh */

/* tanh(x)
   d/dx = 1 − tanh²(x) = 1 − y² */
static tg_real tanh_f(tg_real x, const act_attr *p) { (void)p; return TG_TANH(x); }
static tg_real tanh_d(tg_real x, tg_real y, const act_attr *p)
{
    UNUSED2(x, p);
    return 1 - y * y;
}
static int tanh_vjp(VJP_ARGS) /* g·(1 − y²) */
{
    VJP_LOCALS;
    dx[0] = tg_mul(t, g, tg_add_scalar(t, tg_neg(t, tg_square(t, y)), 1));
    return TG_OK;
}
ACT_OP(tanh, tg_shape_same, "tanh(x)")

/* ------------------------------------------------------------------ relu */

/* relu(x) = max(x, 0)          (written so that NaN passes through)
   d/dx    = 1 if y > 0, else 0  (0 at the kink x = 0: PyTorch tests y ≤ 0)

   The hidden layers' activation, so its loops are written out rather than
   made by ACT_OP: branch-free selects that vectorise. The backward selects
   g or 0 (as PyTorch's threshold_backward does: an infinite g times 0 would
   be NaN), and a NaN input passes its NaN on, the rule of every activation
   here. */
TG_VECTOR_LOOP static void relu_forward_loop(const tg_real *restrict x, tg_real *restrict y,
                                             int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = x[i] <= 0 ? 0 : x[i];
}

TG_VECTOR_LOOP static void relu_backward_loop(const tg_real *restrict y, const tg_real *restrict g,
                                              tg_real *restrict dx, int64_t n, bool write)
{
    if (write) {
        for (int64_t i = 0; i < n; i++) {
            tg_real d = y[i] > 0 ? g[i] : 0;
            dx[i] = (tg_real)0 + (y[i] != y[i] ? y[i] : d); /* 0 +: as zeros then added to */
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        tg_real d = y[i] > 0 ? g[i] : 0;
        dx[i] += y[i] != y[i] ? y[i] : d; /* y is NaN exactly when x is */
    }
}

/* Large tensors (RELU_SPLIT values and more) go in two halves, one a
   thread, when the library has two (tg_run_halves): a convolutional
   network's feature maps (LeNet's first: 301,056 values a batch), where the
   rest of the step is already split. The halves meet at a multiple of 16
   values (a cache line of floats), and each value is computed on its own:
   the same numbers on one thread or two. */
enum { RELU_SPLIT = 1 << 16 };
typedef struct {
    const tg_real *x, *g; /* forward: x; backward: y and g */
    tg_real *out;
    bool backward, write;
} relu_job;

static void relu_range(void *ctx, int64_t lo, int64_t hi)
{
    const relu_job *j = ctx;
    if (j->backward)
        relu_backward_loop(j->x + lo, j->g + lo, j->out + lo, hi - lo, j->write);
    else
        relu_forward_loop(j->x + lo, j->out + lo, hi - lo);
}

static void relu_run(relu_job *j, int64_t n)
{
    tg_run_halves(n, 16, n >= RELU_SPLIT, relu_range, j);
}

static int relu_forward(tg_record *r)
{
    relu_job j = {r->in[0]->data, NULL, r->out->data, false, false};
    relu_run(&j, r->out->size);
    return TG_OK;
}

/* A fresh input gradient (new on the tape) is written, not added to. */
static void relu_backward(tg_record *r)
{
    relu_job j = {r->out->data, r->out->grad, r->in[0]->grad, true, tg_grad_fresh(r->in[0])};
    relu_run(&j, r->out->size);
}

/* relu_backward(g, y): relu's gradient as an op of its own, for relu's vjp
   (create_graph): g where y > 0, else 0, and with `nan`, NaN where y is
   NaN (the fast rule's value, relu_backward_loop's). It is linear in g:
   its own gradient is relu_backward(g', y) without the NaN (a NaN y
   selects the NaN, not g, so g's derivative there is 0, as the selects
   that stood here gave), and y gets none (the value is constant in y
   between the kink and NaN). One op where relu's vjp was a comparison, a
   select, the NaN's select when x might hold one, and the selects'
   backward: PyTorch's threshold_backward. */
typedef struct {
    int nan; /* NaN where y is NaN (nonzero); an int, so that any bytes are a value */
} relu_bw_attr;

TG_VECTOR_LOOP static void relu_select_loop(const tg_real *restrict y, const tg_real *restrict g,
                                            tg_real *restrict out, int64_t n, bool nan, bool add)
{
    if (add) { /* out += the selection without the NaN (relu_bw_backward) */
        for (int64_t i = 0; i < n; i++) out[i] += y[i] > 0 ? g[i] : 0;
    } else if (nan) {
        for (int64_t i = 0; i < n; i++) out[i] = y[i] != y[i] ? y[i] : y[i] > 0 ? g[i] : 0;
    } else {
        for (int64_t i = 0; i < n; i++) out[i] = y[i] > 0 ? g[i] : 0;
    }
}

static int relu_bw_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                         size_t len)
{
    const tg_tensor *g = r->in[0], *y = r->in[1];
    if (!y || !tg_same_shape(g, y)) {
        char sg[96], sy[96];
        snprintf(msg, len, "the gradient %s and relu's output %s must have one shape",
                 tg_shape_str(g, sg, sizeof sg), tg_shape_str(y, sy, sizeof sy));
        return TG_ERR_SHAPE;
    }
    return tg_shape_same(r, ndim, shape, msg, len);
}

static int relu_bw_forward(tg_record *r)
{
    const relu_bw_attr *a = r->attr;
    relu_select_loop(r->in[1]->data, r->in[0]->data, r->out->data, r->out->size, a->nan != 0,
                     false);
    return TG_OK;
}

static void relu_bw_backward(tg_record *r)
{
    if (r->in[0]->grad)
        relu_select_loop(r->in[1]->data, r->out->grad, r->in[0]->grad, r->out->size, false, true);
}

static const tg_op op_relu_backward;

/* The output needs a gradient exactly when g does (y gets none): with a
   constant g, relu's gradient is a constant, as the selects gave, and
   differentiating it again is refused as for any constant (the record is
   kept where the tape records every op, for its replays). */
static tg_tensor *relu_bw(tg_tape *t, tg_tensor *g, tg_tensor *y, bool nan)
{
    relu_bw_attr a = {nan};
    tg_tensor *d = tg_apply(t, &op_relu_backward, (tg_tensor *[]){g, y}, 2, &a);
    if (d && !(g->flags & TG_REQUIRES_GRAD)) d->flags &= ~TG_REQUIRES_GRAD;
    return d;
}

static int relu_bw_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    dx[0] = relu_bw(t, g, r->in[1], false);
    return TG_OK;
}

static const tg_op op_relu_backward = {
    .name = "relu_backward", .n_inputs = 2, .attr_size = sizeof(relu_bw_attr),
    .shape = relu_bw_shape, .forward = relu_bw_forward, .backward = relu_bw_backward,
    .vjp = relu_bw_vjp, .doc = "g where y > 0, else 0 (NaN where y is NaN): relu's gradient"};

static int relu_vjp(VJP_ARGS) /* g where y > 0, else 0; NaN at NaN */
{
    VJP_LOCALS;
    dx[0] = relu_bw(t, g, y, true);
    return TG_OK;
}

static const tg_op op_relu = {.name = "relu", .n_inputs = 1, .attr_size = sizeof(act_attr),
                              .flags = TG_OP_WRITES_FRESH,
                              .shape = tg_shape_same, .forward = relu_forward,
                              .backward = relu_backward, .vjp = relu_vjp, .doc = "max(x, 0)"};

/* hardtanh(x) = min(max(x, lo), hi) with lo = p->a, hi = p->b
   d/dx        = 1 if lo < x < hi, else 0 (0 at both kinks, as PyTorch) */
static tg_real clamp_nan(tg_real x, tg_real lo, tg_real hi)
{
    return x <= lo ? lo : x >= hi ? hi : x; /* NaN falls through */
}
static tg_real hardtanh_f(tg_real x, const act_attr *p) { return clamp_nan(x, p->a, p->b); }
static tg_real hardtanh_d(tg_real x, tg_real y, const act_attr *p)
{
    (void)y;
    return (x <= p->a || x >= p->b) ? 0 : 1;
}

static int hardtanh_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                          size_t len)
{
    const act_attr *p = r->attr;
    if (!(p->a <= p->b)) {
        snprintf(msg, len, "min_val (%g) must not be greater than max_val (%g)", (double)p->a,
                 (double)p->b);
        return TG_ERR_INVALID;
    }
    return tg_shape_same(r, ndim, shape, msg, len);
}
static int hardtanh_vjp(VJP_ARGS) /* g where lo < x < hi, else 0; NaN at NaN */
{
    VJP_LOCALS;
    tg_tensor *inside = tg_mul(t, tg_gt(t, x, K(p->a)), tg_lt(t, x, K(p->b)));
    dx[0] = nan_at_nan(t, x, pick(t, inside, g, K(0)));
    return TG_OK;
}
ACT_OP(hardtanh, hardtanh_shape, "min(max(x, min_val), max_val)")

/* relu6(x) = hardtanh(x, 0, 6) = min(max(x, 0), 6)
   d/dx     = 1 if 0 < x < 6, else 0 (0 at x = 0 and x = 6, as PyTorch) */
static tg_real relu6_f(tg_real x, const act_attr *p) { (void)p; return clamp_nan(x, 0, 6); }
static tg_real relu6_d(tg_real x, tg_real y, const act_attr *p)
{
    UNUSED2(y, p);
    return (x <= 0 || x >= 6) ? 0 : 1;
}
static int relu6_vjp(VJP_ARGS) /* g where 0 < x < 6, else 0; NaN at NaN */
{
    VJP_LOCALS;
    tg_tensor *inside = tg_mul(t, tg_gt(t, x, K(0)), tg_lt(t, x, K(6)));
    dx[0] = nan_at_nan(t, x, pick(t, inside, g, K(0)));
    return TG_OK;
}
ACT_OP(relu6, tg_shape_same, "min(max(x, 0), 6)")

/* leaky_relu(x) = x if x > 0, else s·x          (s = p->a)
   d/dx          = 1 if x > 0, else s            (s at the kink x = 0, as PyTorch) */
static tg_real leaky_relu_f(tg_real x, const act_attr *p) { return x > 0 ? x : p->a * x; }
static tg_real leaky_relu_d(tg_real x, tg_real y, const act_attr *p)
{
    (void)y;
    return x > 0 ? 1 : p->a;
}
static int leaky_relu_vjp(VJP_ARGS) /* g if x > 0, else s·g; NaN at NaN */
{
    VJP_LOCALS;
    dx[0] = nan_at_nan(t, x, pick(t, tg_gt(t, x, K(0)), g, tg_scale(t, g, p->a)));
    return TG_OK;
}
ACT_OP(leaky_relu, tg_shape_same, "x if x > 0 else negative_slope * x")

/* ------------------------------------------------------- the elu family */

/* elu(x) = x if x > 0, else α(eˣ − 1)      (α = p->a; expm1 keeps small x exact)
   d/dx   = 1 if x > 0, else α·eˣ           (α at the kink x = 0, as PyTorch) */
static tg_real elu_f(tg_real x, const act_attr *p) { return x <= 0 ? p->a * TG_EXPM1(x) : x; }
static tg_real elu_d(tg_real x, tg_real y, const act_attr *p)
{
    (void)y;
    return x <= 0 ? p->a * TG_EXP(x) : 1;
}
static int elu_vjp(VJP_ARGS) /* g if x > 0, else g·α·eˣ = g·(y + α) */
{
    VJP_LOCALS;
    dx[0] = pick(t, tg_gt(t, x, K(0)), g,
                 tg_mul(t, g, tg_add_scalar(t, cut_at_zero(t, x, y), p->a)));
    return TG_OK;
}
ACT_OP(elu, tg_shape_same, "x if x > 0 else alpha * (exp(x) - 1)")

/* selu(x) = λ·x if x > 0, else λα(eˣ − 1)  (λ = TG_SELU_SCALE, α = TG_SELU_ALPHA)
   d/dx    = λ if x > 0, else λα·eˣ         (λα at the kink x = 0, as PyTorch) */
static tg_real selu_f(tg_real x, const act_attr *p)
{
    (void)p;
    return x <= 0 ? (tg_real)(TG_SELU_SCALE * TG_SELU_ALPHA) * TG_EXPM1(x)
                  : (tg_real)TG_SELU_SCALE * x;
}
static tg_real selu_d(tg_real x, tg_real y, const act_attr *p)
{
    UNUSED2(y, p);
    return x <= 0 ? (tg_real)(TG_SELU_SCALE * TG_SELU_ALPHA) * TG_EXP(x) : (tg_real)TG_SELU_SCALE;
}
static int selu_vjp(VJP_ARGS) /* λ·g if x > 0, else g·λα·eˣ = g·(y + λα) */
{
    VJP_LOCALS;
    dx[0] = pick(t, tg_gt(t, x, K(0)), tg_scale(t, g, (tg_real)TG_SELU_SCALE),
                 tg_mul(t, g, tg_add_scalar(t, cut_at_zero(t, x, y),
                                            (tg_real)(TG_SELU_SCALE * TG_SELU_ALPHA))));
    return TG_OK;
}
ACT_OP(selu, tg_shape_same, "scale * (x if x > 0 else alpha * (exp(x) - 1))")

/* celu(x) = x if x > 0, else α(e^(x/α) − 1)   (α = p->a)
   d/dx    = 1 if x > 0, else e^(x/α)          (1 at the kink x = 0) */
static tg_real celu_f(tg_real x, const act_attr *p)
{
    return x <= 0 ? p->a * TG_EXPM1(x / p->a) : x;
}
static tg_real celu_d(tg_real x, tg_real y, const act_attr *p)
{
    (void)y;
    return x <= 0 ? TG_EXP(x / p->a) : 1;
}
static int celu_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                      size_t len)
{
    if (((const act_attr *)r->attr)->a == 0) {
        snprintf(msg, len, "alpha must not be 0");
        return TG_ERR_INVALID;
    }
    return tg_shape_same(r, ndim, shape, msg, len);
}
static int celu_vjp(VJP_ARGS) /* g if x > 0, else g·e^(x/α) = g·(y/α + 1) */
{
    VJP_LOCALS;
    tg_tensor *e = tg_add_scalar(t, tg_scale(t, cut_at_zero(t, x, y), 1 / p->a), 1);
    dx[0] = pick(t, tg_gt(t, x, K(0)), g, tg_mul(t, g, e));
    return TG_OK;
}
ACT_OP(celu, celu_shape, "x if x > 0 else alpha * (exp(x / alpha) - 1)")

/* ------------------------------------------------------ smooth functions */

/* softplus(x) = log(1 + e^(βx))/β, or x where βx > threshold  (β = p->a, threshold = p->b)
   d/dx        = e^(βx)/(1 + e^(βx)) = σ(βx), or 1 past the threshold */
static tg_real softplus_f(tg_real x, const act_attr *p)
{
    tg_real bx = p->a * x;
    return bx > p->b ? x : tg_log1p_exp(bx) / p->a;
}
static tg_real softplus_d(tg_real x, tg_real y, const act_attr *p)
{
    (void)y;
    tg_real bx = p->a * x;
    return bx > p->b ? 1 : sigmoid_of(bx);
}
static int softplus_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                          size_t len)
{
    if (((const act_attr *)r->attr)->a == 0) {
        snprintf(msg, len, "beta must not be 0");
        return TG_ERR_INVALID;
    }
    return tg_shape_same(r, ndim, shape, msg, len);
}
static int softplus_vjp(VJP_ARGS) /* g·σ(βx), or g past the threshold */
{
    VJP_LOCALS;
    tg_tensor *bx = tg_scale(t, x, p->a), *s = bx;
    if (may_hit(t, x, p->a, p->b, p->b)) /* βx = threshold: σ′ cut there (PyTorch's 0) */
        s = tg_hardtanh(t, bx, -INFINITY, p->b);
    dx[0] = pick(t, tg_gt(t, bx, K(p->b)), g, tg_mul(t, g, tg_sigmoid(t, s)));
    return TG_OK;
}
ACT_OP(softplus, softplus_shape, "log(1 + exp(beta * x)) / beta, x past the threshold")

/* softsign(x) = x/(1 + |x|)
   d/dx        = ((1 + |x|) − x·sign(x))/(1 + |x|)² = 1/(1 + |x|)²
   At x = ±inf PyTorch's x/(1 + |x|) is inf/inf = NaN, and so is its
   gradient; the forward here is the same expression, and the derivative
   follows it to NaN there. */
static tg_real softsign_f(tg_real x, const act_attr *p) { (void)p; return x / (1 + TG_FABS(x)); }
static tg_real softsign_d(tg_real x, tg_real y, const act_attr *p)
{
    (void)p;
    if (isnan(y)) return y;
    tg_real s = 1 / (1 + TG_FABS(x));
    return s * s;
}
/* g/(1 + |x|)², and g·y where y is NaN (x = ±inf or NaN), as the fast rule:
   the derivative of g·y there is NaN too, as PyTorch's second order */
static int softsign_vjp(VJP_ARGS)
{
    VJP_LOCALS;
    tg_tensor *d = tg_mul(t, g, tg_pow(t, tg_add_scalar(t, tg_abs(t, x), 1), -2));
    dx[0] = may_hold_nan(t, y) ? pick(t, tg_eq(t, y, y), d, tg_mul(t, g, y)) : d;
    return TG_OK;
}
ACT_OP(softsign, tg_shape_same, "x / (1 + |x|)")

/* logsigmoid(x) = log σ(x) = −softplus(−x) = min(x, 0) − log1p(e^−|x|)
   d/dx          = 1 − σ(x) = σ(−x) */
static tg_real logsigmoid_f(tg_real x, const act_attr *p)
{
    (void)p;
    return (x < 0 ? x : 0) - tg_log1p_exp(-TG_FABS(x));
}
static tg_real logsigmoid_d(tg_real x, tg_real y, const act_attr *p)
{
    UNUSED2(y, p);
    return sigmoid_of(-x);
}
static int logsigmoid_vjp(VJP_ARGS) /* g·σ(−x) */
{
    VJP_LOCALS;
    dx[0] = tg_mul(t, g, tg_sigmoid(t, tg_neg(t, x)));
    return TG_OK;
}
ACT_OP(logsigmoid, tg_shape_same, "log(sigmoid(x)) = -softplus(-x)")

/* silu(x) = x·σ(x)
   d/dx    = σ + x·σ(1 − σ) = σ·(1 + x(1 − σ)) */
static tg_real silu_f(tg_real x, const act_attr *p) { (void)p; return x * sigmoid_of(x); }
static tg_real silu_d(tg_real x, tg_real y, const act_attr *p)
{
    UNUSED2(y, p);
    tg_real s = sigmoid_of(x);
    return s * (1 + x * (1 - s));
}
static int silu_vjp(VJP_ARGS) /* g·σ·(1 + x(1 − σ)) */
{
    VJP_LOCALS;
    tg_tensor *sg = tg_sigmoid(t, x);
    tg_tensor *d = tg_mul(t, sg, tg_add_scalar(t, tg_mul(t, x, tg_add_scalar(t, tg_neg(t, sg), 1)), 1));
    dx[0] = tg_mul(t, g, d);
    return TG_OK;
}
ACT_OP(silu, tg_shape_same, "x * sigmoid(x)")

/* mish(x) = x·tanh(softplus(x))
   d/dx    = tanh(sp) + x·(1 − tanh²(sp))·sp'(x),   sp'(x) = σ(x) */
static tg_real mish_f(tg_real x, const act_attr *p)
{
    (void)p;
    return x * TG_TANH(softplus_of(x));
}
static tg_real mish_d(tg_real x, tg_real y, const act_attr *p)
{
    UNUSED2(y, p);
    tg_real th = TG_TANH(softplus_of(x));
    return th + x * sigmoid_of(x) * (1 - th * th);
}
static int mish_vjp(VJP_ARGS) /* g·(tanh(sp) + x·σ(x)·(1 − tanh²(sp))) */
{
    VJP_LOCALS;
    tg_tensor *th = tg_tanh(t, tg_softplus(t, x, 1, (tg_real)TG_SOFTPLUS_THRESHOLD));
    tg_tensor *d = tg_add(t, th, tg_mul(t, tg_mul(t, x, tg_sigmoid(t, x)),
                                        tg_add_scalar(t, tg_neg(t, tg_square(t, th)), 1)));
    dx[0] = tg_mul(t, g, d);
    return TG_OK;
}
ACT_OP(mish, tg_shape_same, "x * tanh(softplus(x))")

/* gelu, exact form:  y = x·Φ(x),  Φ(x) = (1 + erf(x/√2))/2
   d/dx = Φ(x) + x·φ(x),  φ(x) = e^(−x²/2)/√(2π)
   gelu, tanh form:   y = x·(1 + tanh u)/2,  u = √(2/π)·(x + 0.044715·x³)
   d/dx = (1 + tanh u)/2 + x/2·(1 − tanh² u)·√(2/π)·(1 + 3·0.044715·x²) */
#define GELU_K 0.7978845608028654 /* √(2/π) */
#define GELU_C 0.044715
static tg_real gelu_f(tg_real x, const act_attr *p)
{
    if (p->mode == TG_GELU_TANH) {
        tg_real u = (tg_real)GELU_K * (x + (tg_real)GELU_C * x * x * x);
        return (tg_real)0.5 * x * (1 + TG_TANH(u));
    }
    return (tg_real)0.5 * x * (1 + TG_ERF(x * (tg_real)0.70710678118654752440));
}
static tg_real gelu_d(tg_real x, tg_real y, const act_attr *p)
{
    (void)y;
    if (p->mode == TG_GELU_TANH) {
        tg_real u = (tg_real)GELU_K * (x + (tg_real)GELU_C * x * x * x);
        tg_real th = TG_TANH(u);
        tg_real du = (tg_real)GELU_K * (1 + (tg_real)(3 * GELU_C) * x * x);
        return (tg_real)0.5 * (1 + th) + (tg_real)0.5 * x * (1 - th * th) * du;
    }
    tg_real cdf = (tg_real)0.5 * (1 + TG_ERF(x * (tg_real)0.70710678118654752440));
    tg_real pdf = TG_EXP((tg_real)-0.5 * x * x) * (tg_real)0.39894228040143267794; /* 1/√(2π) */
    return cdf + x * pdf;
}
static int gelu_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                      size_t len)
{
    int m = ((const act_attr *)r->attr)->mode;
    if (m != TG_GELU_NONE && m != TG_GELU_TANH) {
        snprintf(msg, len, "approx must be TG_GELU_NONE or TG_GELU_TANH, got %d", m);
        return TG_ERR_INVALID;
    }
    return tg_shape_same(r, ndim, shape, msg, len);
}
static int gelu_vjp(VJP_ARGS)
{
    VJP_LOCALS;
    tg_tensor *d;
    if (p->mode == TG_GELU_TANH) { /* (1 + th)/2 + x/2·sech²(u)·K(1 + 3C·x²) */
        tg_tensor *x3 = tg_mul(t, tg_square(t, x), x);
        tg_tensor *u = tg_scale(t, tg_add(t, x, tg_scale(t, x3, (tg_real)GELU_C)), (tg_real)GELU_K);
        tg_tensor *th = tg_tanh(t, u);
        tg_tensor *du = tg_scale(t, tg_add_scalar(t, tg_scale(t, tg_square(t, x), (tg_real)(3 * GELU_C)), 1),
                                 (tg_real)GELU_K);
        /* sech²(u) = 1 − tanh²(u), which cancels to 0 once tanh(u) rounds to
           ±1; 4z/(1 + z)² with z = e^(−2|u|) keeps it (and its derivatives)
           in the tails */
        tg_tensor *z = tg_exp(t, tg_scale(t, tg_abs(t, u), -2));
        tg_tensor *sech2 = tg_div(t, tg_scale(t, z, 4), tg_square(t, tg_add_scalar(t, z, 1)));
        tg_tensor *a = tg_scale(t, tg_add_scalar(t, th, 1), (tg_real)0.5);
        tg_tensor *b = tg_mul(t, tg_mul(t, tg_scale(t, x, (tg_real)0.5), sech2), du);
        d = tg_add(t, a, b);
    } else { /* Φ(x) + x·φ(x) */
        tg_tensor *cdf = tg_scale(t, tg_add_scalar(t, tg_erf(t, tg_scale(t, x, (tg_real)0.70710678118654752440)), 1),
                                  (tg_real)0.5);
        tg_tensor *pdf = tg_scale(t, tg_exp(t, tg_scale(t, tg_square(t, x), (tg_real)-0.5)),
                                  (tg_real)0.39894228040143267794);
        d = tg_add(t, cdf, tg_mul(t, x, pdf));
    }
    dx[0] = tg_mul(t, g, d);
    return TG_OK;
}

/* The tanh form in float, in loops that vectorise (libm's tanhf, a scalar
   call, took a third of a small transformer's training step), and without
   the cancellation of 1 ± tanh u in the tails: with e = e^(−2|u|) ≤ 1,
       (1 + tanh u)/2 = σ(2u) = s:  1/(1 + e) for u ≥ 0, e/(1 + e) below
       1 − tanh² u = 4·s·(1 − s) = 4e/(1 + e)²
   so y = x·s and dy/dx = s + 2x·e/(1 + e)²·K(1 + 3C·x²), each term to a
   few ulp wherever it is (e from exp_nonpos). A NaN x gives NaN. */
#ifndef TG_DOUBLE
TG_VECTOR_LOOP static void gelu_tanh_forward_loop(const float *restrict x, float *restrict y,
                                                  int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float u = (float)GELU_K * (x[i] + (float)GELU_C * x[i] * x[i] * x[i]);
        float e = exp_nonpos(-2 * fabsf(u)), r = 1 / (1 + e);
        y[i] = x[i] * select_f(u >= 0, r, e * r);
    }
}

static inline float gelu_tanh_grad(float x, float g)
{
    float u = (float)GELU_K * (x + (float)GELU_C * x * x * x);
    float e = exp_nonpos(-2 * fabsf(u)), r = 1 / (1 + e), s = select_f(u >= 0, r, e * r);
    float du = (float)GELU_K * (1 + (float)(3 * GELU_C) * x * x);
    return g * (s + 2 * x * (e * r * r) * du);
}

/* Two loops, not a select per element: a fresh gradient holds stale bytes,
   and adding them (denormals among them) only to throw the sum away cost
   as much as the rest of the backward. */
TG_VECTOR_LOOP static void gelu_tanh_backward_loop(const float *restrict x, const float *restrict g,
                                                   float *restrict dx, int64_t n, bool write)
{
    if (write)
        for (int64_t i = 0; i < n; i++) dx[i] = 0.0f + gelu_tanh_grad(x[i], g[i]);
    else
        for (int64_t i = 0; i < n; i++) dx[i] += gelu_tanh_grad(x[i], g[i]);
}
#endif

static int gelu_forward(tg_record *r)
{
    const act_attr *p = r->attr;
    const tg_real *x = r->in[0]->data;
    tg_real *y = r->out->data;
#ifndef TG_DOUBLE
    if (p->mode == TG_GELU_TANH) {
        gelu_tanh_forward_loop(x, y, r->out->size);
        return TG_OK;
    }
#endif
    for (int64_t i = 0; i < r->out->size; i++) y[i] = gelu_f(x[i], p);
    return TG_OK;
}

/* A fresh input gradient (new on the tape) is written, not added to: the
   engine need not zero it first (the MLP's [tokens, 4C] in a transformer). */
static void gelu_backward(tg_record *r)
{
    const act_attr *p = r->attr;
    const tg_real *x = r->in[0]->data, *y = r->out->data, *g = r->out->grad;
    tg_real *dx = r->in[0]->grad;
    bool write = tg_grad_fresh(r->in[0]);
#ifndef TG_DOUBLE
    if (p->mode == TG_GELU_TANH) {
        gelu_tanh_backward_loop(x, g, dx, r->out->size, write);
        return;
    }
#endif
    for (int64_t i = 0; i < r->out->size; i++) {
        tg_real d = g[i] * (isnan(x[i]) ? x[i] : gelu_d(x[i], y[i], p));
        if (write) dx[i] = (tg_real)0 + d;
        else dx[i] += d;
    }
}

static const tg_op op_gelu = {.name = "gelu", .n_inputs = 1, .attr_size = sizeof(act_attr),
                              .flags = TG_OP_WRITES_FRESH,
                              .shape = gelu_shape, .forward = gelu_forward,
                              .backward = gelu_backward, .vjp = gelu_vjp,
                              .doc = "x * Phi(x) (erf form) or its tanh approximation"};

/* ------------------------------------------------------ the hard family */

/* hardsigmoid(x) = relu6(x + 3)/6 = 0 if x ≤ −3, 1 if x ≥ 3, else x/6 + 1/2
   d/dx           = 1/6 if −3 < x < 3, else 0 (0 at both kinks, as PyTorch) */
static tg_real hardsigmoid_f(tg_real x, const act_attr *p)
{
    (void)p;
    return x <= -3 ? 0 : x >= 3 ? 1 : x / 6 + (tg_real)0.5;
}
static tg_real hardsigmoid_d(tg_real x, tg_real y, const act_attr *p)
{
    UNUSED2(y, p);
    return (x > -3 && x < 3) ? (tg_real)1 / 6 : 0;
}
static int hardsigmoid_vjp(VJP_ARGS) /* g/6 where −3 < x < 3, else 0; NaN at NaN */
{
    VJP_LOCALS;
    tg_tensor *inside = tg_mul(t, tg_gt(t, x, K(-3)), tg_lt(t, x, K(3)));
    dx[0] = nan_at_nan(t, x, pick(t, inside, tg_scale(t, g, (tg_real)1 / 6), K(0)));
    return TG_OK;
}
ACT_OP(hardsigmoid, tg_shape_same, "relu6(x + 3) / 6")

/* hardswish(x) = x·relu6(x + 3)/6   (so −inf·0 = NaN at x = −inf, as PyTorch)
   d/dx         = 0 if x < −3, 1 if x > 3, else (2x + 3)/6 = x/3 + 1/2
                  (PyTorch's choice at the kinks: −1/2 at x = −3, 3/2 at x = 3) */
static tg_real hardswish_f(tg_real x, const act_attr *p)
{
    (void)p;
    return x * clamp_nan(x + 3, 0, 6) / 6;
}
static tg_real hardswish_d(tg_real x, tg_real y, const act_attr *p)
{
    UNUSED2(y, p);
    return x < -3 ? 0 : x <= 3 ? x / 3 + (tg_real)0.5 : 1;
}
/* 0 below −3, g·(x/3 + 1/2) up to 3, g above; NaN at NaN */
static int hardswish_vjp(VJP_ARGS)
{
    VJP_LOCALS;
    /* at x = ±3, x/3 + 1/2 with a derivative of 0 (PyTorch's second derivative) */
    tg_tensor *xs = may_hit(t, x, 1, -3, 3) ? tg_hardtanh(t, x, -3, 3) : x;
    tg_tensor *mid = tg_mul(t, g, tg_add_scalar(t, tg_scale(t, xs, (tg_real)1 / 3), (tg_real)0.5));
    tg_tensor *d = pick(t, tg_lt(t, x, K(-3)), K(0), pick(t, tg_le(t, x, K(3)), mid, g));
    dx[0] = nan_at_nan(t, x, d);
    return TG_OK;
}
ACT_OP(hardswish, tg_shape_same, "x * relu6(x + 3) / 6")

/* ---------------------------------------------- shrinks, threshold, logit */

/* hardshrink(x) = x if |x| > λ, else 0           (λ = p->a)
   d/dx          = 1 if |x| > λ, else 0           (0 at x = ±λ, as PyTorch) */
static bool inside(tg_real x, tg_real lam) { return x >= -lam && x <= lam; }
static tg_real hardshrink_f(tg_real x, const act_attr *p) { return inside(x, p->a) ? 0 : x; }
static tg_real hardshrink_d(tg_real x, tg_real y, const act_attr *p)
{
    (void)y;
    return inside(x, p->a) ? 0 : 1;
}
/* 1 where −λ ≤ x ≤ λ, as a constant tensor */
static tg_tensor *inside_of(tg_tape *t, tg_tensor *x, tg_real lam)
{
    return tg_mul(t, tg_ge(t, x, K(-lam)), tg_le(t, x, K(lam)));
}
static int hardshrink_vjp(VJP_ARGS) /* 0 where |x| ≤ λ, else g; NaN at NaN */
{
    VJP_LOCALS;
    dx[0] = nan_at_nan(t, x, pick(t, inside_of(t, x, p->a), K(0), g));
    return TG_OK;
}
ACT_OP(hardshrink, tg_shape_same, "x if |x| > lambda else 0")

/* softshrink(x) = x − λ if x > λ, x + λ if x < −λ, else 0
   d/dx          = 1 if |x| > λ, else 0           (0 at x = ±λ; λ < 0 refused, as PyTorch) */
static tg_real softshrink_f(tg_real x, const act_attr *p)
{
    return x > p->a ? x - p->a : x < -p->a ? x + p->a : inside(x, p->a) ? 0 : x;
}
static int softshrink_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                            size_t len)
{
    tg_real lam = ((const act_attr *)r->attr)->a;
    if (!(lam >= 0)) {
        snprintf(msg, len, "lambda must be at least 0, got %g", (double)lam);
        return TG_ERR_INVALID;
    }
    return tg_shape_same(r, ndim, shape, msg, len);
}
static tg_real softshrink_d(tg_real x, tg_real y, const act_attr *p)
{
    return hardshrink_d(x, y, p);
}
static int softshrink_vjp(VJP_ARGS) { return hardshrink_vjp(t, r, g, dx); } /* as hardshrink's */
ACT_OP(softshrink, softshrink_shape, "x - lambda if x > lambda, x + lambda if x < -lambda, else 0")

/* tanhshrink(x) = x − tanh x
   d/dx          = 1 − (1 − tanh²x) = tanh²x (written so: no cancellation near 0)
   The value in double, and near 0 by its series x³/3 − 2x⁵/15 + ...
   (tanh's, from the Bernoulli numbers): x − tanh x in float cancelled all
   its digits there (tanhshrink(3e-8) was −3.6e-15 against 9e-24), and
   loses at most 3/x² < 134 ulp of double above |x| = 0.15, where eight
   terms of the series are within 5e-17 (each ~0.009 of the one before). */
static tg_real tanhshrink_f(tg_real x, const act_attr *p)
{
    static const double c[] = {1.0 / 3,          -2.0 / 15,          17.0 / 315,
                               -62.0 / 2835,     1382.0 / 155925,    -21844.0 / 6081075,
                               929569.0 / 638512875, -6404582.0 / 10854718875};
    (void)p;
    double d = (double)x, z = d * d, s = c[7];
    if (!(fabs(d) < 0.15)) return (tg_real)(d - tanh(d));
    for (int k = 6; k >= 0; k--) s = s * z + c[k];
    return (tg_real)(d * z * s);
}
static tg_real tanhshrink_d(tg_real x, tg_real y, const act_attr *p)
{
    UNUSED2(y, p);
    tg_real th = TG_TANH(x);
    return th * th;
}
static int tanhshrink_vjp(VJP_ARGS) /* g·tanh²x */
{
    VJP_LOCALS;
    dx[0] = tg_mul(t, g, tg_square(t, tg_tanh(t, x)));
    return TG_OK;
}
ACT_OP(tanhshrink, tg_shape_same, "x - tanh(x)")

/* threshold(x) = x if x > θ, else v              (θ = p->a, v = p->b)
   d/dx         = 1 if x > θ, else 0              (0 at x = θ, as PyTorch) */
static tg_real threshold_f(tg_real x, const act_attr *p) { return x <= p->a ? p->b : x; }
static tg_real threshold_d(tg_real x, tg_real y, const act_attr *p)
{
    (void)y;
    return x <= p->a ? 0 : 1;
}
static int threshold_vjp(VJP_ARGS) /* 0 where x ≤ θ, else g; NaN at NaN */
{
    VJP_LOCALS;
    dx[0] = nan_at_nan(t, x, pick(t, tg_le(t, x, K(p->a)), K(0), g));
    return TG_OK;
}
ACT_OP(threshold, tg_shape_same, "x if x > threshold else value")

/* logit(x) = log(z/(1 − z)), z = x clamped to [ε, 1 − ε] when ε ≥ 0
              (ε = p->a; ε < 0 is PyTorch's eps=None: no clamp)
   d/dx     = 1/(x(1 − x)) where ε ≤ x ≤ 1 − ε, 0 outside (the clamp);
              without ε, NaN outside [0, 1]; inf at x = 0 and 1 either way,
              as PyTorch */
static tg_real logit_f(tg_real x, const act_attr *p)
{
    if (p->a >= 0) x = x < p->a ? p->a : x > 1 - p->a ? 1 - p->a : x;
    return x == 1 ? (tg_real)INFINITY : TG_LOG(x / (1 - x));
}
/* g/(x(1 − x)) taken whole, as PyTorch: 1/x first overflows at a
   subnormal x where the quotient is finite. At x = 0 or 1 the quotient
   is g·inf, as PyTorch (+inf for g > 0 at x = −0 too). */
static tg_real logit_gd(tg_real g, tg_real x, tg_real y, const act_attr *p)
{
    (void)y;
    bool eps = p->a >= 0;
    tg_real lo = eps ? p->a : 0, hi = eps ? 1 - p->a : 1;
    if (x < lo || x > hi) return eps ? 0 : (tg_real)NAN;
    return x == 0 || x == 1 ? g * (tg_real)INFINITY : g / (x * (1 - x));
}
/* g/(x(1 − x)) inside, 0 (ε) or NaN (no ε) outside; NaN at NaN */
static int logit_vjp(VJP_ARGS)
{
    VJP_LOCALS;
    bool eps = p->a >= 0;
    tg_real lo = eps ? p->a : 0, hi = eps ? 1 - p->a : 1;
    tg_tensor *in = tg_mul(t, tg_ge(t, x, K(lo)), tg_le(t, x, K(hi)));
    /* −inf at x = −0 for g > 0, where the kernel gives +inf: PyTorch's two
       walks differ so too (create_graph takes grad/(x(1 − x)) as here) */
    tg_tensor *d = tg_div(t, g, tg_mul(t, x, tg_add_scalar(t, tg_neg(t, x), 1)));
    dx[0] = nan_at_nan(t, x, pick(t, in, d, K(eps ? 0 : NAN)));
    return TG_OK;
}
ACT_OP_GD(logit, tg_shape_same, "log(z / (1 - z)), z = x clamped to [eps, 1 - eps]")

/* ------------------------------------------------------------ public API */

tg_tensor *tg_sigmoid(tg_tape *t, tg_tensor *x) { return act(t, &op_sigmoid, x, 0, 0, 0); }
tg_tensor *tg_tanh(tg_tape *t, tg_tensor *x) { return act(t, &op_tanh, x, 0, 0, 0); }
tg_tensor *tg_relu(tg_tape *t, tg_tensor *x) { return act(t, &op_relu, x, 0, 0, 0); }
tg_tensor *tg_relu6(tg_tape *t, tg_tensor *x) { return act(t, &op_relu6, x, 0, 0, 0); }
tg_tensor *tg_leaky_relu(tg_tape *t, tg_tensor *x, tg_real negative_slope)
{
    return act(t, &op_leaky_relu, x, negative_slope, 0, 0);
}
tg_tensor *tg_elu(tg_tape *t, tg_tensor *x, tg_real alpha) { return act(t, &op_elu, x, alpha, 0, 0); }
tg_tensor *tg_selu(tg_tape *t, tg_tensor *x) { return act(t, &op_selu, x, 0, 0, 0); }
tg_tensor *tg_celu(tg_tape *t, tg_tensor *x, tg_real alpha)
{
    return act(t, &op_celu, x, alpha, 0, 0);
}
tg_tensor *tg_softplus(tg_tape *t, tg_tensor *x, tg_real beta, tg_real threshold)
{
    return act(t, &op_softplus, x, beta, threshold, 0);
}
tg_tensor *tg_softsign(tg_tape *t, tg_tensor *x) { return act(t, &op_softsign, x, 0, 0, 0); }
tg_tensor *tg_gelu(tg_tape *t, tg_tensor *x, tg_gelu_approx approx)
{
    return act(t, &op_gelu, x, 0, 0, (int)approx);
}
tg_tensor *tg_silu(tg_tape *t, tg_tensor *x) { return act(t, &op_silu, x, 0, 0, 0); }
tg_tensor *tg_mish(tg_tape *t, tg_tensor *x) { return act(t, &op_mish, x, 0, 0, 0); }
tg_tensor *tg_hardtanh(tg_tape *t, tg_tensor *x, tg_real min_val, tg_real max_val)
{
    return act(t, &op_hardtanh, x, min_val, max_val, 0);
}
tg_tensor *tg_hardsigmoid(tg_tape *t, tg_tensor *x) { return act(t, &op_hardsigmoid, x, 0, 0, 0); }
tg_tensor *tg_hardswish(tg_tape *t, tg_tensor *x) { return act(t, &op_hardswish, x, 0, 0, 0); }
tg_tensor *tg_logsigmoid(tg_tape *t, tg_tensor *x) { return act(t, &op_logsigmoid, x, 0, 0, 0); }

tg_tensor *tg_hardshrink(tg_tape *t, tg_tensor *x, tg_real lambd)
{
    return act(t, &op_hardshrink, x, lambd, 0, 0);
}
tg_tensor *tg_softshrink(tg_tape *t, tg_tensor *x, tg_real lambd)
{
    return act(t, &op_softshrink, x, lambd, 0, 0);
}
tg_tensor *tg_tanhshrink(tg_tape *t, tg_tensor *x) { return act(t, &op_tanhshrink, x, 0, 0, 0); }
tg_tensor *tg_threshold(tg_tape *t, tg_tensor *x, tg_real threshold, tg_real value)
{
    return act(t, &op_threshold, x, threshold, value, 0);
}
tg_tensor *tg_logit(tg_tape *t, tg_tensor *x, tg_real eps)
{
    return act(t, &op_logit, x, eps, 0, 0);
}

/* ----------------------------------------------------------------- prelu */

/* x [N, C, ...] is viewed as [outer = N, C, inner = Π rest]; w has C
   elements (one per channel) or 1 (shared). Channel of x[i]: (i / inner) % C. */
typedef struct {
    int64_t channels, inner; /* channels = 1 when w has one element */
} prelu_view;

static prelu_view prelu_view_of(const tg_tensor *x, const tg_tensor *w)
{
    prelu_view v = {1, 1};
    if (w->size == 1 || x->ndim < 2) return v;
    v.channels = x->shape[1];
    for (int i = 2; i < x->ndim; i++) v.inner *= x->shape[i];
    return v;
}

static int prelu_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                       size_t len)
{
    const tg_tensor *x = r->in[0], *w = r->in[1];
    if (!w) {
        snprintf(msg, len, "the weight is NULL");
        return TG_ERR_INVALID;
    }
    if (w->size != 1 && (x->ndim < 2 || w->size != x->shape[1])) {
        char sx[128], sw[128];
        snprintf(msg, len,
                 "the weight %s must have 1 element or one per channel (dimension 1) of "
                 "the input %s",
                 tg_shape_str(w, sw, sizeof sw), tg_shape_str(x, sx, sizeof sx));
        return TG_ERR_SHAPE;
    }
    return tg_shape_same(r, ndim, shape, msg, len);
}

/* prelu(x) = x if x > 0, else w_c·x            (c the channel of x)
   ∂y/∂x    = 1 if x > 0, else w_c              (w_c at the kink x = 0, as PyTorch)
   ∂y/∂w_c  = 0 if x > 0, else x                (summed over the channel's elements) */
static int prelu_forward(tg_record *r)
{
    const tg_tensor *X = r->in[0];
    prelu_view v = prelu_view_of(X, r->in[1]);
    const tg_real *x = X->data;        /* [size] */
    const tg_real *w = r->in[1]->data; /* [channels] */
    tg_real *y = r->out->data;         /* [size] */
    for (int64_t i = 0; i < X->size; i++) {
        tg_real wc = w[(i / v.inner) % v.channels];
        y[i] = x[i] > 0 ? x[i] : wc * x[i];
    }
    return TG_OK;
}

static void prelu_backward(tg_record *r)
{
    const tg_tensor *X = r->in[0];
    prelu_view v = prelu_view_of(X, r->in[1]);
    const tg_real *x = X->data, *g = r->out->grad; /* [size] */
    const tg_real *w = r->in[1]->data;             /* [channels] */
    tg_real *dx = X->grad, *dw = r->in[1]->grad;   /* [size], [channels] */
    /* dw's sums over each channel's elements run in double */
    double one, *acc = !dw ? NULL
                     : v.channels > 1 ? tg_record_scratch(r, (size_t)v.channels * sizeof(double))
                                      : &one;
    if (dw && !acc) return; /* no room: the rule fails (tg_record_scratch) */
    if (acc)
        for (int64_t c = 0; c < v.channels; c++) acc[c] = 0;
    for (int64_t i = 0; i < X->size; i++) {
        int64_t c = (i / v.inner) % v.channels;
        if (dx) dx[i] += isnan(x[i]) ? x[i] : x[i] > 0 ? g[i] : w[c] * g[i];
        if (dw && !(x[i] > 0)) { /* NaN x: NaN, as PyTorch */
            if (acc) acc[c] += (double)x[i] * (double)g[i];
            else dw[c] += x[i] * g[i];
        }
    }
    if (dw && acc)
        for (int64_t c = 0; c < v.channels; c++) dw[c] += (tg_real)acc[c];
}

/* dx = g if x > 0, else w_c·g;  dw_c = Σ over the channel of x·g where x ≤ 0.
   w is seen as [1, C, 1, ...] to broadcast against x, or as a scalar when it
   has one element (C = 0 is a shape of its own: [0] cannot become a scalar) */
static int prelu_vjp(VJP_ARGS)
{
    VJP_LOCALS;
    tg_tensor *w = r->in[1];
    int64_t ws[TG_MAX_DIMS];
    int nd = w->size == 1 ? 0 : x->ndim;
    for (int i = 0; i < nd; i++) ws[i] = i == 1 ? x->shape[1] : 1;
    tg_tensor *wb = tg_reshape(t, w, nd, ws);
    tg_tensor *pos = tg_gt(t, x, K(0));
    if (x->flags & TG_REQUIRES_GRAD) dx[0] = nan_at_nan(t, x, pick(t, pos, g, tg_mul(t, g, wb)));
    if (w->flags & TG_REQUIRES_GRAD) {
        tg_tensor *dwb = tg_sum_to(t, pick(t, pos, K(0), tg_mul(t, g, x)), nd, ws);
        dx[1] = tg_reshape(t, dwb, w->ndim, w->shape);
    }
    return TG_OK;
}

static const tg_op op_prelu = {.name = "prelu", .n_inputs = 2, .shape = prelu_shape,
                               .forward = prelu_forward, .backward = prelu_backward,
                               .vjp = prelu_vjp,
                               .doc = "x if x > 0 else w[channel] * x"};

tg_tensor *tg_prelu(tg_tape *t, tg_tensor *x, tg_tensor *w)
{
    tg_tensor *in[2] = {x, w};
    return tg_apply(t, &op_prelu, in, 2, NULL);
}

/* ------------------------------------------------------ softmax family */

/* Axis ops view x as [outer, n, inner] with n = shape[axis]; each (o, i) is
   one row of n values at stride `inner`. */
typedef struct {
    int axis; /* as given; normalised by the shape check */
} axis_attr;

typedef reduce_view axis_view;

/* around the axis as given (normalised here): src/ops/reduce_internal.h */
static axis_view axis_view_of(const tg_tensor *x, int axis)
{
    int a = 0;
    if (x->ndim) tg_axis(axis, x->ndim, &a);
    return tg_axis_view(x, a);
}

static int axis_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                      size_t len)
{
    const tg_tensor *x = r->in[0];
    int a = ((const axis_attr *)r->attr)->axis, out;
    /* like PyTorch, a 0-d tensor accepts axis 0 or -1 */
    if (!tg_axis(a, x->ndim ? x->ndim : 1, &out)) {
        char b[128];
        snprintf(msg, len, "axis %d is out of range for shape %s", a,
                 tg_shape_str(x, b, sizeof b));
        return TG_ERR_INVALID;
    }
    return tg_shape_same(r, ndim, shape, msg, len);
}

/* Over one row (n values at `stride`) of v = σ·x, σ = ±1: m = max v,
   s = Σ e^(v − m). */
static void row_max_sum(const tg_real *x, int64_t n, int64_t stride, tg_real sign,
                        tg_real *m_out, tg_real *s_out)
{
    tg_real m = -INFINITY;
    for (int64_t k = 0; k < n; k++) {
        tg_real v = sign * x[k * stride];
        if (v > m || isnan(v)) m = v;
        if (isnan(m)) break;
    }
    double s = 0;
    for (int64_t k = 0; k < n; k++) s += (double)TG_EXP(sign * x[k * stride] - m);
    *m_out = m;
    *s_out = (tg_real)s;
}

#ifndef TG_DOUBLE
/* One contiguous row of softmax in the float build: the same formula as
   row_max_sum and the loop below (m the maximum, NaN if any; the sum of the
   exponentials in double; each e^(v − m) divided by it), with the maximum
   and the sum from the reductions' vector loops and eˣ by exp_nonpos
   (v − m ≤ 0; within 2 ulp of libm's), so that it vectorises: libm's
   scalar expf, called twice per element, was a tenth of tiny_gpt's
   training step. softmin's maximum of −x is −(the minimum of x). */
/* A short row (n ≤ 8): softmax_row's formula without its vector loops'
   set-up, which cost more than the row (the block sum's lanes hold one term
   each), and eˣ by exp_nonpos_short: the same series in fewer dependent
   steps (a scalar program waits on each softmax), within 1.3 ulp where
   exp_nonpos is within 1.2, so a short row may differ from softmax_row's
   result in the last bit. Compiled once, in plain code (a clone for the
   vector units, called through its resolver, measured slower). */
static void softmax_short_row(float *restrict y, const float *restrict x, int64_t n, float sign)
{
    float m = -INFINITY;
    for (int64_t k = 0; k < n; k++) { /* the largest of sign·x, NaN winning */
        float v = sign * x[k];
        m = (v > m || v != v) && m == m ? v : m;
    }
    double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t k = 0; k < n; k++) p[k] = y[k] = exp_nonpos_short(sign * x[k] - m);
    float s = (float)(((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7])));
    for (int64_t k = 0; k < n; k++) y[k] = y[k] / s;
}

TG_VECTOR_LOOP static void softmax_row(float *restrict y, const float *restrict x, int64_t n,
                                       float sign)
{
    float m = sign > 0 ? tg_extreme_of(x, n, false) : -tg_extreme_of(x, n, true);
    for (int64_t k = 0; k < n; k++) y[k] = exp_nonpos(sign * x[k] - m);
    float s = (float)tg_sum_strided(y, n, 1);
    for (int64_t k = 0; k < n; k++) y[k] = y[k] / s;
}
#endif

/* softmax(x)_k = e^(x_k − m)/Σ_j e^(x_j − m), m = max_j x_j
   ∂y_k/∂x_j = y_k(δ_kj − y_j)  ⇒  dx_j += y_j·(g_j − Σ_k g_k y_k)
   softmin(x) = softmax(−x)      ⇒  dx_j += −y_j·(g_j − Σ_k g_k y_k)
   (σ = 1 for softmax, −1 for softmin) */
static void softmax_rows_of(tg_real *y, const tg_real *x, axis_view v, tg_real sign)
{ /* x, y: [outer, n, inner] */
#ifndef TG_DOUBLE
    if (v.inner == 1) { /* rows along the last axis: the float build's vector loop */
        for (int64_t o = 0; o < v.outer; o++) {
            if (v.n <= 8) softmax_short_row(y + o * v.n, x + o * v.n, v.n, sign);
            else softmax_row(y + o * v.n, x + o * v.n, v.n, sign);
        }
        return;
    }
#endif
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t base = o * v.n * v.inner + i;
            tg_real m, s;
            row_max_sum(x + base, v.n, v.inner, sign, &m, &s);
            for (int64_t k = 0; k < v.n; k++)
                y[base + k * v.inner] = TG_EXP(sign * x[base + k * v.inner] - m) / s;
        }
}

/* One contiguous row of softmax's gradient: Σ g·y in double in eight
   running sums (the same order whatever the vector width), then each dx
   (written, not added to, with `write`: a fresh gradient) */
static inline void softmax_grad_row_of(tg_real *restrict dx, const tg_real *restrict y,
                                       const tg_real *restrict g, int64_t n, tg_real sign,
                                       bool write)
{
    double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int l = 0; l < 8; l++) p[l] += (double)g[k + l] * (double)y[k + l];
    for (; k < n; k++) p[k & 7] += (double)g[k] * (double)y[k];
    tg_real dot = (tg_real)(((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7])));
    if (write) /* 0 + v: the bits of zeros then added to */
        for (k = 0; k < n; k++) dx[k] = (tg_real)0 + sign * (y[k] * (g[k] - dot));
    else
        for (k = 0; k < n; k++) dx[k] += sign * (y[k] * (g[k] - dot));
}
/* for long rows, compiled for each vector unit; a short row (n ≤ 8) calls
   the plain one, as softmax_short_row */
TG_VECTOR_LOOP static void softmax_grad_row(tg_real *restrict dx, const tg_real *restrict y,
                                            const tg_real *restrict g, int64_t n, tg_real sign,
                                            bool write)
{
    softmax_grad_row_of(dx, y, g, n, sign, write);
}

static void softmax_grad_of(tg_real *dx, const tg_real *y, const tg_real *g, axis_view v,
                            tg_real sign, bool write)
{ /* dx, y, g: [outer, n, inner] */
    if (v.inner == 1) { /* rows along the last axis */
        for (int64_t o = 0; o < v.outer; o++) {
            if (v.n <= 8)
                softmax_grad_row_of(dx + o * v.n, y + o * v.n, g + o * v.n, v.n, sign, write);
            else softmax_grad_row(dx + o * v.n, y + o * v.n, g + o * v.n, v.n, sign, write);
        }
        return;
    }
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t base = o * v.n * v.inner + i;
            double acc = 0;
            for (int64_t k = 0; k < v.n; k++)
                acc += (double)g[base + k * v.inner] * (double)y[base + k * v.inner];
            tg_real dot = (tg_real)acc;
            for (int64_t k = 0; k < v.n; k++) {
                int64_t j = base + k * v.inner;
                dx[j] = (write ? 0 : dx[j]) + sign * (y[j] * (g[j] - dot));
            }
        }
}

static void softmax_rows(tg_record *r, tg_real sign)
{
    axis_view v = axis_view_of(r->in[0], ((const axis_attr *)r->attr)->axis);
    softmax_rows_of(r->out->data, r->in[0]->data, v, sign);
}

static void softmax_grad(tg_record *r, tg_real sign)
{
    axis_view v = axis_view_of(r->in[0], ((const axis_attr *)r->attr)->axis);
    softmax_grad_of(r->in[0]->grad, r->out->data, r->out->grad, v, sign,
                    tg_grad_fresh(r->in[0]));
}

/* The compact forms of softmax and softmin along the last axis (m values a
   row), the same loops as the op's */
static axis_view small_rows(const tg_small *s) { return (axis_view){s->n / s->m, s->m, 1}; }
static void softmax_sfwd(const tg_small *s) { softmax_rows_of(s->y, s->x[0], small_rows(s), 1); }
static void softmax_sbwd(const tg_small *s)
{
    softmax_grad_of(tg_small_gx(s)[0], s->y, s->gy, small_rows(s), 1, false);
}
static void softmin_sfwd(const tg_small *s) { softmax_rows_of(s->y, s->x[0], small_rows(s), -1); }
static void softmin_sbwd(const tg_small *s)
{
    softmax_grad_of(tg_small_gx(s)[0], s->y, s->gy, small_rows(s), -1, false);
}

static int softmax_forward(tg_record *r)
{
    softmax_rows(r, 1);
    return TG_OK;
}
static void softmax_backward(tg_record *r) { softmax_grad(r, 1); }
static int softmin_forward(tg_record *r)
{
    softmax_rows(r, -1);
    return TG_OK;
}
static void softmin_backward(tg_record *r) { softmax_grad(r, -1); }

/* log_softmax(x)_k = x_k − m − log Σ_j e^(x_j − m)
   ∂y_k/∂x_j = δ_kj − softmax_j  ⇒  dx_j += g_j − e^(y_j)·Σ_k g_k */
static int log_softmax_forward(tg_record *r)
{
    axis_view v = axis_view_of(r->in[0], ((const axis_attr *)r->attr)->axis);
    const tg_real *x = r->in[0]->data; /* [outer, n, inner] */
    tg_real *y = r->out->data;         /* [outer, n, inner] */
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t base = o * v.n * v.inner + i;
            tg_real m, s;
            row_max_sum(x + base, v.n, v.inner, 1, &m, &s);
            tg_real logs = TG_LOG(s); /* (x − m) − log s: exact for logits of any size */
            for (int64_t k = 0; k < v.n; k++)
                y[base + k * v.inner] = (x[base + k * v.inner] - m) - logs;
        }
    return TG_OK;
}

static void log_softmax_backward(tg_record *r)
{
    axis_view v = axis_view_of(r->in[0], ((const axis_attr *)r->attr)->axis);
    const tg_real *y = r->out->data, *g = r->out->grad; /* [outer, n, inner] */
    tg_real *dx = r->in[0]->grad;                        /* [outer, n, inner] */
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t base = o * v.n * v.inner + i;
            tg_real gs = (tg_real)tg_sum_strided(g + base, v.n, v.inner);
            for (int64_t k = 0; k < v.n; k++) {
                int64_t j = base + k * v.inner;
                dx[j] += g[j] - TG_EXP(y[j]) * gs;
            }
        }
}

static int softmax_vjp(VJP_ARGS) /* y ⊙ (g − Σ_k g_k·y_k) */
{
    VJP_LOCALS;
    int axis = ((const axis_attr *)r->attr)->axis;
    dx[0] = tg_mul(t, y, tg_sub(t, g, tg_sum(t, tg_mul(t, g, y), axis, true)));
    return TG_OK;
}

static int softmin_vjp(VJP_ARGS) /* −y ⊙ (g − Σ_k g_k·y_k) */
{
    VJP_LOCALS;
    int axis = ((const axis_attr *)r->attr)->axis;
    dx[0] = tg_neg(t, tg_mul(t, y, tg_sub(t, g, tg_sum(t, tg_mul(t, g, y), axis, true))));
    return TG_OK;
}

static int log_softmax_vjp(VJP_ARGS) /* g − e^y ⊙ Σ_k g_k */
{
    VJP_LOCALS;
    int axis = ((const axis_attr *)r->attr)->axis;
    dx[0] = tg_sub(t, g, tg_mul(t, tg_exp(t, y), tg_sum(t, g, axis, true)));
    return TG_OK;
}

static const tg_op op_softmax = {.name = "softmax", .n_inputs = 1,
                                 .flags = TG_OP_WRITES_FRESH,
                                 .attr_size = sizeof(axis_attr), .shape = axis_shape,
                                 .forward = softmax_forward, .backward = softmax_backward,
                                 .vjp = softmax_vjp,
                                 .doc = "exp(x - max) / sum(exp(x - max)) along an axis"};
static const tg_op op_softmin = {.name = "softmin", .n_inputs = 1,
                                 .flags = TG_OP_WRITES_FRESH,
                                 .attr_size = sizeof(axis_attr), .shape = axis_shape,
                                 .forward = softmin_forward, .backward = softmin_backward,
                                 .vjp = softmin_vjp,
                                 .doc = "softmax(-x) along an axis"};
static const tg_op op_log_softmax = {.name = "log_softmax", .n_inputs = 1,
                                     .attr_size = sizeof(axis_attr), .shape = axis_shape,
                                     .forward = log_softmax_forward,
                                     .backward = log_softmax_backward,
                                     .vjp = log_softmax_vjp,
                                     .doc = "x - max - log(sum(exp(x - max))) along an axis"};

tg_tensor *tg_softmax(tg_tape *t, tg_tensor *x, int axis)
{
    axis_attr a = {axis};
    return tg_apply(t, &op_softmax, &x, 1, &a);
}

tg_tensor *tg_softmin(tg_tape *t, tg_tensor *x, int axis)
{
    axis_attr a = {axis};
    return tg_apply(t, &op_softmin, &x, 1, &a);
}

tg_tensor *tg_log_softmax(tg_tape *t, tg_tensor *x, int axis)
{
    axis_attr a = {axis};
    return tg_apply(t, &op_log_softmax, &x, 1, &a);
}

/* -------------------------------------------------------------------- glu */

/* glu halves x along `axis`: x viewed as [outer, 2h, inner], a = the first h
   rows of each outer block, b = the last h. */
static int glu_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    const tg_tensor *x = r->in[0];
    int a = ((const axis_attr *)r->attr)->axis, ax;
    char b[128];
    if (x->ndim == 0) {
        snprintf(msg, len, "a scalar cannot be halved (glu needs an axis of even size)");
        return TG_ERR_SHAPE;
    }
    if (!tg_axis(a, x->ndim, &ax)) {
        snprintf(msg, len, "axis %d is out of range for shape %s", a, tg_shape_str(x, b, sizeof b));
        return TG_ERR_INVALID;
    }
    if (x->shape[ax] % 2) {
        snprintf(msg, len, "the halved axis %d of %s must have an even size", a,
                 tg_shape_str(x, b, sizeof b));
        return TG_ERR_SHAPE;
    }
    tg_shape_same(r, ndim, shape, msg, len);
    shape[ax] /= 2;
    return TG_OK;
}

/* glu(x) = a ⊙ σ(b)
   ∂y/∂a = σ(b),  ∂y/∂b = a·σ(b)·(1 − σ(b)) */
static int glu_forward(tg_record *r)
{
    axis_view v = axis_view_of(r->in[0], ((const axis_attr *)r->attr)->axis);
    int64_t h = v.n / 2 * v.inner; /* a half block */
    const tg_real *x = r->in[0]->data; /* [outer, 2h, inner] */
    tg_real *y = r->out->data;         /* [outer, h, inner] */
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < h; i++)
            y[o * h + i] = x[2 * o * h + i] * sigmoid_of(x[(2 * o + 1) * h + i]);
    return TG_OK;
}

static void glu_backward(tg_record *r)
{
    axis_view v = axis_view_of(r->in[0], ((const axis_attr *)r->attr)->axis);
    int64_t h = v.n / 2 * v.inner;
    const tg_real *x = r->in[0]->data; /* [outer, 2h, inner] */
    const tg_real *g = r->out->grad;   /* [outer, h, inner] */
    tg_real *dx = r->in[0]->grad;                          /* [outer, 2h, inner] */
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < h; i++) {
            int64_t ia = 2 * o * h + i, ib = ia + h;
            tg_real sb = sigmoid_of(x[ib]), go = g[o * h + i];
            dx[ia] += go * sb;
            dx[ib] += go * x[ia] * sb * (1 - sb);
        }
}

/* The halves through reshape and where: x as [outer, 2, h·inner], a the
   sum over the middle axis of x where m = [1, 0] (else 0), b where it is
   not; dx the two halves put back by the same selection. */
static int glu_vjp(VJP_ARGS)
{
    VJP_LOCALS;
    axis_view v = axis_view_of(x, ((const axis_attr *)r->attr)->axis);
    int64_t hi = v.n / 2 * v.inner;
    tg_tensor *m = tg_tensor_new(t, TG_SHAPE(1, 2, 1), (const tg_real[]){1, 0});
    tg_tensor *xr = tg_reshape(t, x, TG_SHAPE(v.outer, 2, hi));
    tg_tensor *a = tg_sum(t, pick(t, m, xr, K(0)), 1, true); /* [outer, 1, h·inner] */
    tg_tensor *b = tg_sum(t, pick(t, m, K(0), xr), 1, true);
    tg_tensor *gr = tg_reshape(t, g, TG_SHAPE(v.outer, 1, hi));
    tg_tensor *sb = tg_sigmoid(t, b);
    tg_tensor *da = tg_mul(t, gr, sb);
    tg_tensor *db = tg_mul(t, tg_mul(t, gr, a), tg_mul(t, sb, tg_add_scalar(t, tg_neg(t, sb), 1)));
    dx[0] = tg_reshape(t, pick(t, m, da, db), x->ndim, x->shape);
    return TG_OK;
}

static const tg_op op_glu = {.name = "glu", .n_inputs = 1, .attr_size = sizeof(axis_attr),
                             .shape = glu_shape, .forward = glu_forward,
                             .backward = glu_backward, .vjp = glu_vjp,
                             .doc = "a * sigmoid(b), a and b the halves of an axis"};

tg_tensor *tg_glu(tg_tape *t, tg_tensor *x, int axis)
{
    axis_attr a = {axis};
    return tg_apply(t, &op_glu, &x, 1, &a);
}

static const tg_op *const activation_ops[] = {
    &op_sigmoid,    &op_tanh,       &op_relu,       &op_relu6,      &op_leaky_relu,
    &op_elu,        &op_selu,       &op_celu,       &op_softplus,   &op_softsign,
    &op_gelu,       &op_silu,       &op_mish,       &op_hardtanh,   &op_hardsigmoid,
    &op_hardswish,  &op_logsigmoid, &op_prelu,      &op_softmax,    &op_log_softmax,
    &op_softmin,    &op_glu,        &op_hardshrink, &op_softshrink, &op_tanhshrink,
    &op_threshold,  &op_logit,      &op_relu_backward};
const tg_op_table tg_activation_ops = {activation_ops,
                                       sizeof activation_ops / sizeof *activation_ops};

/* The compact forms (tg_small_compile): the element-wise activations, and
   softmax and softmin along a last axis. */
#define SMALL(NAME) {&op_##NAME, NAME##_sfwd, NAME##_sbwd}
static const tg_small_entry activation_small[] = {
    SMALL(sigmoid),     SMALL(tanh),       SMALL(hardtanh),   SMALL(relu6),
    SMALL(leaky_relu),  SMALL(elu),        SMALL(selu),       SMALL(celu),
    SMALL(softplus),    SMALL(softsign),   SMALL(logsigmoid), SMALL(silu),
    SMALL(mish),        SMALL(hardsigmoid), SMALL(hardswish), SMALL(hardshrink),
    SMALL(softshrink),  SMALL(tanhshrink), SMALL(threshold),  SMALL(logit),
    SMALL(softmax),     SMALL(softmin)};

bool tg_activation_small(const tg_record *r, tg_small *s)
{
    const tg_small_entry *e =
        tg_small_find(r, activation_small, sizeof activation_small / sizeof *activation_small);
    if (!e) return false;
    if (r->op == &op_softmax || r->op == &op_softmin) {
        axis_view v = axis_view_of(r->in[0], ((const axis_attr *)r->attr)->axis);
        if (v.inner != 1 || v.n < 1 || v.n > INT32_MAX) return false; /* [0, 2^40] */
        s->m = (int32_t)v.n; /* at most n */
    }
    s->fwd = e->fwd, s->bwd = e->bwd, s->attr = r->attr;
    return true;
}
