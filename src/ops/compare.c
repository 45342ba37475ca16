/* Comparing and selecting: eq ne lt le gt ge (0/1 results), sign, where,
   clamp, and clamp with tensor bounds.

   Comparisons and sign are piecewise constant: their gradient is zero
   wherever it exists, so they have no gradient rule and are never recorded
   (their results are constants, like PyTorch's bool tensors). where and
   clamp pass the gradient through to the values they select; their vjps
   select again (with where, which picks a value rather than multiplying by
   a 0/1 mask, so that an inf in the branch not taken cannot become NaN). */
#include "ops/walk.h"

/* ------------------------------------------------------------ comparisons */

/* y = 1 if a OP b else 0 (NaN compares false, but ne gives 1) */
BIN_FORWARD(eq, (tg_real)(a == b))
BIN_FORWARD(ne, (tg_real)(a != b))
BIN_FORWARD(lt, (tg_real)(a < b))
BIN_FORWARD(le, (tg_real)(a <= b))
BIN_FORWARD(gt, (tg_real)(a > b))
BIN_FORWARD(ge, (tg_real)(a >= b))

#define COMPARE_OP(NAME, DOC)                                                            \
    static const tg_op op_##NAME = {.name = #NAME, .n_inputs = 2,                        \
                                    .shape = tg_shape_bcast, .forward = NAME##_forward,  \
                                    .doc = DOC};                                         \
    tg_tensor *tg_##NAME(tg_tape *t, tg_tensor *a, tg_tensor *b)                         \
    {                                                                                    \
        tg_tensor *in[2] = {a, b};                                                       \
        return tg_apply(t, &op_##NAME, in, 2, NULL);                                     \
    }

COMPARE_OP(eq, "1 where a == b, else 0 (broadcasting; no gradient)")
COMPARE_OP(ne, "1 where a != b, else 0 (broadcasting; no gradient)")
COMPARE_OP(lt, "1 where a < b, else 0 (broadcasting; no gradient)")
COMPARE_OP(le, "1 where a <= b, else 0 (broadcasting; no gradient)")
COMPARE_OP(gt, "1 where a > b, else 0 (broadcasting; no gradient)")
COMPARE_OP(ge, "1 where a >= b, else 0 (broadcasting; no gradient)")

/* ------------------------------------------------------------------- sign */

/* sign(x) = −1, 0 or 1 (0 for NaN, as PyTorch's); no gradient */
static int sign_forward(tg_record *r)
{
    const tg_real *x = r->in[0]->data;
    tg_real *y = r->out->data;
    for (int64_t i = 0; i < r->out->size; i++) y[i] = (tg_real)((x[i] > 0) - (x[i] < 0));
    return TG_OK;
}

static const tg_op op_sign = {.name = "sign", .n_inputs = 1, .shape = tg_shape_same,
                              .forward = sign_forward, .doc = "-1, 0 or 1 (no gradient)"};

tg_tensor *tg_sign(tg_tape *t, tg_tensor *x) { return tg_apply(t, &op_sign, &x, 1, NULL); }

/* ------------------------------------------------------------------ where */

/* where(c, a, b) = a where c ≠ 0, else b, all three broadcast together. */
static int where_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                       size_t len)
{
    const tg_tensor *c = r->in[0], *a = r->in[1], *b = r->in[2];
    if (!a || !b) {
        snprintf(msg, len, "input %d is NULL", !a ? 1 : 2);
        return TG_ERR_INVALID;
    }
    int n1;
    int64_t s1[TG_MAX_DIMS];
    tg_tensor tmp = {0};
    if (tg_broadcast_shape(a, b, &n1, s1) == TG_OK) {
        tmp.ndim = n1;
        memcpy(tmp.shape, s1, sizeof s1);
        if (tg_broadcast_shape(c, &tmp, ndim, shape) == TG_OK) return TG_OK;
    }
    char sc[96], sa[96], sb[96];
    snprintf(msg, len, "shapes cannot be broadcast together: condition %s, a %s, b %s",
             tg_shape_str(c, sc, sizeof sc), tg_shape_str(a, sa, sizeof sa),
             tg_shape_str(b, sb, sizeof sb));
    return TG_ERR_SHAPE;
}

/* Element strides of x broadcast to out's shape (0 along repeated axes). */
static void bstrides(const tg_tensor *x, const tg_tensor *out, int64_t *s)
{
    int64_t stride = 1;
    for (int i = out->ndim - 1; i >= 0; i--) {
        int ix = x->ndim - out->ndim + i;
        int64_t d = ix >= 0 ? x->shape[ix] : 1;
        s[i] = d == 1 ? 0 : stride;
        stride *= d;
    }
}

/* Calls visit(k, ic, ia, ib) for every output element k with the offsets of
   the condition, a and b. */
#define WHERE_EACH(r, BODY)                                                              \
    do {                                                                                 \
        const tg_tensor *out_ = (r)->out;                                                \
        int64_t sc_[TG_MAX_DIMS], sa_[TG_MAX_DIMS], sb_[TG_MAX_DIMS], idx_[TG_MAX_DIMS] = {0}; \
        bstrides((r)->in[0], out_, sc_);                                                 \
        bstrides((r)->in[1], out_, sa_);                                                 \
        bstrides((r)->in[2], out_, sb_);                                                 \
        int64_t ic = 0, ia = 0, ib = 0;                                                  \
        for (int64_t k = 0; k < out_->size; k++) {                                       \
            BODY;                                                                        \
            for (int d_ = out_->ndim - 1; d_ >= 0; d_--) {                               \
                ic += sc_[d_], ia += sa_[d_], ib += sb_[d_];                             \
                if (++idx_[d_] < out_->shape[d_]) break;                                 \
                ic -= sc_[d_] * out_->shape[d_], ia -= sa_[d_] * out_->shape[d_];        \
                ib -= sb_[d_] * out_->shape[d_];                                         \
                idx_[d_] = 0;                                                            \
            }                                                                            \
        }                                                                                \
    } while (0)

/* An input that is the output's size, or a single value, is read at k or
   at 0: no walk over the axes (relu's and clamp's vjps, most masks). */
static bool plain(const tg_tensor *x, const tg_tensor *out)
{
    return x->size == out->size || x->size == 1;
}

static int where_forward(tg_record *r)
{
    const tg_real *c = r->in[0]->data, *a = r->in[1]->data, *b = r->in[2]->data;
    tg_real *y = r->out->data;
    const tg_tensor *o = r->out;
    if (plain(r->in[0], o) && plain(r->in[1], o) && plain(r->in[2], o)) {
        int64_t sc = r->in[0]->size > 1, sa = r->in[1]->size > 1, sb = r->in[2]->size > 1;
        for (int64_t k = 0; k < o->size; k++) y[k] = c[k * sc] != 0 ? a[k * sa] : b[k * sb];
        return TG_OK;
    }
    WHERE_EACH(r, y[k] = c[ic] != 0 ? a[ia] : b[ib]);
    return TG_OK;
}

/* y = c ? a : b      da += g where c (summed over a's broadcast positions),
                      db += g where not c */
static void where_backward(tg_record *r)
{
    const tg_real *c = r->in[0]->data, *g = r->out->grad;
    for (int side = 1; side <= 2; side++) {
        tg_tensor *x = r->in[side];
        if (!x->grad) continue;
        bool pick = side == 1;
        if (x->size == r->out->size) {
            tg_real *dx = x->grad;
            if (plain(r->in[0], r->out)) {
                int64_t sc = r->in[0]->size > 1;
                for (int64_t k = 0; k < r->out->size; k++)
                    if ((c[k * sc] != 0) == pick) dx[k] += g[k];
            } else {
                WHERE_EACH(r, if ((c[ic] != 0) == pick) dx[pick ? ia : ib] += g[k]);
            }
            continue;
        }
        /* broadcast: the selected gradient in full, then summed down (in
           double); without room for it, the rule fails (tg_record_scratch) */
        tg_real *sel = tg_record_scratch(r, (size_t)r->out->size * sizeof(tg_real));
        if (!sel) return;
        WHERE_EACH(r, sel[k] = (c[ic] != 0) == pick ? g[k] : 0);
        tg_reduce_broadcast_add(r, x->grad, x, sel, r->out);
    }
}

static int where_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *zero = tg_scalar(t, 0);
    for (int side = 1; side <= 2; side++) {
        tg_tensor *x = r->in[side];
        if (!(x->flags & TG_REQUIRES_GRAD)) continue;
        tg_tensor *sel = side == 1 ? tg_where(t, r->in[0], g, zero) : tg_where(t, r->in[0], zero, g);
        dx[side] = tg_sum_to(t, sel, x->ndim, x->shape);
    }
    return TG_OK;
}

static const tg_op op_where = {.name = "where", .n_inputs = 3, .shape = where_shape,
                               .forward = where_forward, .backward = where_backward,
                               .vjp = where_vjp, .doc = "a where cond != 0, else b (broadcasting)"};

tg_tensor *tg_where(tg_tape *t, tg_tensor *cond, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[3] = {cond, a, b};
    return tg_apply(t, &op_where, in, 3, NULL);
}

/* ------------------------------------------------------------------ clamp */

typedef struct {
    tg_real lo, hi;
} clamp_attr;

static int clamp_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                       size_t len)
{
    const clamp_attr *a = r->attr;
    if (isnan(a->lo) || isnan(a->hi)) {
        snprintf(msg, len, "a bound is NaN");
        return TG_ERR_INVALID;
    }
    return tg_shape_same(r, ndim, shape, msg, len);
}

/* clamp(x) = min(max(x, lo), hi) (NaN stays NaN; lo > hi gives hi, as PyTorch)
   d/dx     = 1 where lo ≤ x ≤ hi, else 0 (the bounds pass the gradient, as
              PyTorch's clamp does; NaN gets 0) */
static int clamp_forward(tg_record *r)
{
    const clamp_attr *a = r->attr;
    const tg_real *x = r->in[0]->data;
    tg_real *y = r->out->data;
    for (int64_t i = 0; i < r->out->size; i++) {
        tg_real v = x[i] < a->lo ? a->lo : x[i];
        y[i] = v > a->hi ? a->hi : v;
    }
    return TG_OK;
}

static void clamp_backward(tg_record *r)
{
    const clamp_attr *a = r->attr;
    const tg_real *x = r->in[0]->data, *g = r->out->grad;
    tg_real *dx = r->in[0]->grad;
    for (int64_t i = 0; i < r->out->size; i++)
        if (x[i] >= a->lo && x[i] <= a->hi) dx[i] += g[i];
}

static int clamp_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const clamp_attr *a = r->attr;
    tg_tensor *x = r->in[0];
    tg_tensor *inside = tg_mul(t, tg_ge(t, x, tg_scalar(t, a->lo)), tg_le(t, x, tg_scalar(t, a->hi)));
    dx[0] = tg_where(t, inside, g, tg_scalar(t, 0));
    return TG_OK;
}

static const tg_op op_clamp = {.name = "clamp", .n_inputs = 1, .attr_size = sizeof(clamp_attr),
                               .shape = clamp_shape, .forward = clamp_forward,
                               .backward = clamp_backward, .vjp = clamp_vjp,
                               .doc = "min(max(x, lo), hi)"};

tg_tensor *tg_clamp(tg_tape *t, tg_tensor *x, tg_real lo, tg_real hi)
{
    clamp_attr a = {lo, hi};
    return tg_apply(t, &op_clamp, &x, 1, &a);
}

/* ------------------------------------------------- clamp with tensor bounds */

/* clamp_tensor(x, lo, hi) = min(max(x, lo), hi) with lo and hi tensors (either
   may be absent, not both), the three broadcast together. NaN in any of them
   gives NaN. Where lo > hi the result is hi, as PyTorch.
   The gradients are PyTorch's (they add up to g wherever the result is not
   NaN, and a bound hit exactly passes it to x):
     ∂/∂x  = 1 where lo ≤ x ≤ hi
     ∂/∂lo = 1 where x < lo and lo < hi       (x < lo without hi)
     ∂/∂hi = 1 where x > hi or hi < lo        (x > hi without lo) */
static int clamp_tensor_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS],
                              char *msg, size_t len)
{
    if (!r->in[1] && !r->in[2]) {
        snprintf(msg, len, "at least one of the bounds lo and hi must be given");
        return TG_ERR_INVALID;
    }
    if (tg_broadcast_n(3, (const tg_tensor *const *)r->in, ndim, shape) != TG_OK) {
        char sx[96], sl[96] = "none", sh[96] = "none";
        tg_shape_str(r->in[0], sx, sizeof sx);
        if (r->in[1]) tg_shape_str(r->in[1], sl, sizeof sl);
        if (r->in[2]) tg_shape_str(r->in[2], sh, sizeof sh);
        snprintf(msg, len, "shapes cannot be broadcast together: x %s, lo %s, hi %s", sx, sl, sh);
        return TG_ERR_SHAPE;
    }
    return TG_OK;
}

/* One element: the value, and which of x, lo, hi the gradient reaches
   (bits 1, 2, 4). An absent bound is -inf or inf. */
static tg_real clamp3(tg_real x, tg_real lo, tg_real hi, bool has_lo, bool has_hi, int *to)
{
    bool in_lo = !has_lo || x >= lo, in_hi = !has_hi || x <= hi;
    *to = (in_lo && in_hi) | (has_lo && x < lo && (!has_hi || lo < hi)) << 1 |
          (has_hi && (x > hi || (has_lo && hi < lo))) << 2;
    if (isnan(x) || isnan(lo) || isnan(hi)) return x + lo + hi;
    tg_real v = x < lo ? lo : x;
    return v > hi ? hi : v;
}

static tg_walk clamp_walk(const tg_record *r)
{
    tg_walk w;
    tg_walk_init(&w, r->out->ndim, r->out->shape);
    for (int k = 0; k < 3; k++) tg_walk_tensor(&w, r->in[k]);
    return w;
}

/* the bounds at the walk's position (an absent one is infinite) */
#define CLAMP3_AT(r, w, to)                                                              \
    clamp3((r)->in[0]->data[(w).off[0]],                                                 \
           (r)->in[1] ? (r)->in[1]->data[(w).off[1]] : -(tg_real)INFINITY,               \
           (r)->in[2] ? (r)->in[2]->data[(w).off[2]] : (tg_real)INFINITY,                \
           (r)->in[1] != NULL, (r)->in[2] != NULL, to)

static int clamp_tensor_forward(tg_record *r)
{
    tg_walk w = clamp_walk(r);
    int to;
    for (int64_t k = 0; k < r->out->size; k++, tg_walk_next(&w))
        r->out->data[k] = CLAMP3_AT(r, w, &to);
    return TG_OK;
}

static void clamp_tensor_backward(tg_record *r)
{
    tg_walk w = clamp_walk(r);
    tg_sink s[3];
    for (int i = 0; i < 3; i++) s[i] = tg_sink_begin(r->tape, r->in[i], r->out->size);
    const tg_real *g = r->out->grad;
    for (int64_t k = 0; k < r->out->size; k++, tg_walk_next(&w)) {
        int to;
        CLAMP3_AT(r, w, &to);
        for (int i = 0; i < 3; i++)
            if (s[i].grad && (to >> i & 1)) tg_sink_add(&s[i], w.off[i], g[k]);
    }
    for (int i = 0; i < 3; i++) tg_sink_end(&s[i]);
}

static int clamp_tensor_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *x = r->in[0], *lo = r->in[1], *hi = r->in[2], *zero = tg_scalar(t, 0);
    tg_tensor *one = tg_scalar(t, 1), *mask[3];
    tg_tensor *in_lo = lo ? tg_ge(t, x, lo) : one, *in_hi = hi ? tg_le(t, x, hi) : one;
    mask[0] = tg_mul(t, in_lo, in_hi);
    mask[1] = lo ? tg_mul(t, tg_lt(t, x, lo), hi ? tg_lt(t, lo, hi) : one) : NULL;
    mask[2] = hi ? tg_gt(t, x, hi) : NULL;
    if (hi && lo) mask[2] = tg_gt(t, tg_add(t, mask[2], tg_lt(t, hi, lo)), zero); /* or */
    for (int i = 0; i < 3; i++) {
        tg_tensor *in = r->in[i];
        if (in && (in->flags & TG_REQUIRES_GRAD))
            dx[i] = tg_sum_to(t, tg_where(t, mask[i], g, zero), in->ndim, in->shape);
    }
    return TG_OK;
}

static const tg_op op_clamp_tensor = {
    .name = "clamp_tensor", .n_inputs = 3, .shape = clamp_tensor_shape,
    .forward = clamp_tensor_forward, .backward = clamp_tensor_backward,
    .vjp = clamp_tensor_vjp, .doc = "min(max(x, lo), hi) with tensor bounds (broadcasting)"};

tg_tensor *tg_clamp_tensor(tg_tape *t, tg_tensor *x, tg_tensor *lo, tg_tensor *hi)
{
    tg_tensor *in[3] = {x, lo, hi};
    return tg_apply(t, &op_clamp_tensor, in, 3, NULL);
}

static const tg_op *const compare_ops[] = {&op_eq,    &op_ne,   &op_lt,    &op_le,
                                           &op_gt,    &op_ge,   &op_sign,  &op_where,
                                           &op_clamp, &op_clamp_tensor};
const tg_op_table tg_compare_ops = {compare_ops, sizeof compare_ops / sizeof *compare_ops};
