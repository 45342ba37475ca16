/* Arithmetic: add, sub, mul, div with NumPy broadcasting; neg, scale,
   add_scalar, pow, exp, log, sqrt, abs, square.

   Broadcasting: shapes are right-aligned, and each pair of dims must be equal
   or one of them 1; a size-1 (or missing) dim is repeated. Backward sums the
   gradient over the repeated positions, which falls out of accumulating
   (+=) into the one element every repeat reads. */
#include "ops/ops_internal.h"

/* ------------------------------------------------------------ broadcasting */

int tg_broadcast_dims(int na, const int64_t *a, int nb, const int64_t *b, int *ndim,
                      int64_t *shape)
{
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int ia = na - n + i, ib = nb - n + i;
        int64_t da = ia >= 0 ? a[ia] : 1;
        int64_t db = ib >= 0 ? b[ib] : 1;
        if (da != db && da != 1 && db != 1) return TG_ERR_SHAPE;
        shape[i] = da == 1 ? db : da;
    }
    *ndim = n;
    return TG_OK;
}

int tg_broadcast_shape(const tg_tensor *a, const tg_tensor *b, int *ndim, int64_t *shape)
{
    return tg_broadcast_dims(a->ndim, a->shape, b->ndim, b->shape, ndim, shape);
}

static void strides_for(const tg_tensor *x, int n, int64_t *s)
{
    int64_t stride = 1;
    for (int i = n - 1; i >= 0; i--) {
        int ix = x->ndim - n + i;
        int64_t d = ix >= 0 ? x->shape[ix] : 1;
        s[i] = d == 1 ? 0 : stride; /* a size-1 dim repeats: stride 0 */
        stride *= d;
    }
}

void tg_bcast_init(tg_bcast *bc, const tg_tensor *a, const tg_tensor *b, const tg_tensor *out)
{
    bc->ndim = out->ndim;
    for (int i = 0; i < out->ndim; i++) bc->shape[i] = out->shape[i];
    strides_for(a, out->ndim, bc->sa);
    strides_for(b, out->ndim, bc->sb);
}

void tg_bcast_each(const tg_bcast *bc, tg_bcast_fn fn, void *ctx)
{
    int n = bc->ndim;
    int64_t total = 1;
    for (int i = 0; i < n; i++) total *= bc->shape[i];
    if (total == 0) return;
    if (n == 0) {
        fn(0, 0, 0, 1, 0, 0, ctx);
        return;
    }
    /* same-shape inputs: one contiguous run */
    bool flat = true;
    for (int i = 0; i < n && flat; i++)
        flat = bc->shape[i] == 1 || (bc->sa[i] != 0 && bc->sb[i] != 0);
    if (flat) {
        fn(0, 0, 0, total, 1, 1, ctx);
        return;
    }
    int64_t run = bc->shape[n - 1];
    int64_t idx[TG_MAX_DIMS] = {0};
    int64_t ia = 0, ib = 0;
    for (int64_t io = 0; io < total; io += run) {
        fn(ia, ib, io, run, bc->sa[n - 1], bc->sb[n - 1], ctx);
        /* odometer over the outer axes */
        for (int d = n - 2; d >= 0; d--) {
            idx[d]++;
            ia += bc->sa[d];
            ib += bc->sb[d];
            if (idx[d] < bc->shape[d]) break;
            ia -= bc->sa[d] * bc->shape[d];
            ib -= bc->sb[d] * bc->shape[d];
            idx[d] = 0;
        }
    }
}

int tg_shape_bcast(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                   size_t len)
{
    const tg_tensor *a = r->in[0], *b = r->in[1];
    if (!b) {
        snprintf(msg, len, "input 1 is NULL");
        return TG_ERR_INVALID;
    }
    if (tg_broadcast_shape(a, b, ndim, shape) != TG_OK) {
        char sa[128], sb[128];
        snprintf(msg, len, "shapes cannot be broadcast together: %s and %s",
                 tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb));
        return TG_ERR_SHAPE;
    }
    return TG_OK;
}

int tg_shape_same(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                  size_t len)
{
    (void)msg, (void)len;
    *ndim = r->in[0]->ndim;
    for (int i = 0; i < r->in[0]->ndim; i++) shape[i] = r->in[0]->shape[i];
    return TG_OK;
}

/* dx (shape of x) += g (shape of out), summed over broadcast axes, in
   double (acc, x->size values, zeroed) where there is a sum. */
typedef struct {
    tg_real *dx;
    double *acc;
    const tg_real *g;
} reduce_ctx;

static void reduce_run(int64_t ia, int64_t ib, int64_t io, int64_t n, int64_t sa, int64_t sb,
                       void *c)
{
    (void)ib, (void)sb;
    reduce_ctx *k = c;
    if (k->acc)
        for (int64_t i = 0; i < n; i++) k->acc[ia + i * sa] += (double)k->g[io + i];
    else
        for (int64_t i = 0; i < n; i++) k->dx[ia + i * sa] += k->g[io + i];
}

void tg_reduce_broadcast_add(tg_record *r, tg_real *dx, const tg_tensor *x, const tg_real *g,
                             const tg_tensor *out)
{
    tg_bcast bc;
    tg_bcast_init(&bc, x, x, out);
    reduce_ctx k = {dx, NULL, g};
    if (x->size != out->size) { /* the sums in double, or the op fails */
        k.acc = tg_record_scratch(r, (size_t)x->size * sizeof(double));
        if (!k.acc) return;
        memset(k.acc, 0, (size_t)x->size * sizeof(double));
    }
    tg_bcast_each(&bc, reduce_run, &k);
    if (k.acc)
        for (int64_t i = 0; i < x->size; i++) dx[i] += (tg_real)k.acc[i];
}

/* --------------------------------------------------------- binary ops */

/* A broadcast input's gradient is a sum over the positions it was repeated
   to: it is gathered in double (acc_a, acc_b on the tape), then added once.
   false if there is no room: the rule then fails (tg_record_scratch). */
static bool bin_acc_begin(tg_record *r, bin_ctx *k, bool ra, bool rb)
{
    const tg_tensor *A = r->in[0], *B = r->in[1];
    double *aa = ra ? tg_record_scratch(r, (size_t)A->size * sizeof(double)) : NULL;
    double *ab = rb ? tg_record_scratch(r, (size_t)B->size * sizeof(double)) : NULL;
    if ((ra && !aa) || (rb && !ab)) return false;
    if (aa) memset(aa, 0, (size_t)A->size * sizeof(double));
    if (ab) memset(ab, 0, (size_t)B->size * sizeof(double));
    k->acc_a = aa, k->acc_b = ab;
    return true;
}

static void bin_acc_end(tg_record *r, const bin_ctx *k)
{
    if (k->acc_a)
        for (int64_t i = 0; i < r->in[0]->size; i++) k->da[i] += (tg_real)k->acc_a[i];
    if (k->acc_b)
        for (int64_t i = 0; i < r->in[1]->size; i++) k->db[i] += (tg_real)k->acc_b[i];
}

/* One input's gradient without broadcasting: d[i] += D over n elements, or
   d[i] = 0 + D for a fresh gradient (`write`: the bits of zeros then added
   to, a −0 made +0, as the replay program gives), a loop each (as, bs, gs,
   ys, n in scope). The same expressions as the broadcast runs. */
#define BIN_SAME(d, write, D)                                                            \
    do {                                                                                 \
        if (!(d)) break;                                                                 \
        if (write)                                                                       \
            for (int64_t i = 0; i < n; i++) {                                            \
                tg_real a = as[i], b = bs[i], g = gs[i], y = ys[i];                      \
                (void)a, (void)b, (void)y;                                               \
                (d)[i] = (tg_real)0 + (D);                                               \
            }                                                                            \
        else                                                                             \
            for (int64_t i = 0; i < n; i++) {                                            \
                tg_real a = as[i], b = bs[i], g = gs[i], y = ys[i];                      \
                (void)a, (void)b, (void)y;                                               \
                (d)[i] += (D);                                                           \
            }                                                                            \
    } while (0)

/* Backward of a binary op: da += g·∂y/∂a, db += g·∂y/∂b, each at the element
   its input contributed (so broadcast positions sum up). A fresh gradient
   (TG_OP_WRITES_FRESH) is written where nothing is broadcast; a broadcast
   input's, and the other's beside it, get zeros first. */
#define BIN_BACKWARD(NAME, DA, DB)                                                       \
    static void NAME##_brun(int64_t ia, int64_t ib, int64_t io, int64_t n, int64_t sa,  \
                            int64_t sb, void *c)                                         \
    {                                                                                    \
        bin_ctx *k = c;                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                \
            tg_real a = k->a[ia + i * sa], b = k->b[ib + i * sb];                        \
            tg_real g = k->g[io + i], y = k->y[io + i];                                  \
            (void)a, (void)b, (void)y;                                                   \
            if (k->da) k->da[ia + i * sa] += (DA);                                       \
            if (k->db) k->db[ib + i * sb] += (DB);                                       \
        }                                                                                \
    }                                                                                    \
    static void NAME##_brun_acc(int64_t ia, int64_t ib, int64_t io, int64_t n,           \
                                int64_t sa, int64_t sb, void *c)                         \
    {                                                                                    \
        bin_ctx *k = c;                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                \
            tg_real a = k->a[ia + i * sa], b = k->b[ib + i * sb];                        \
            tg_real g = k->g[io + i], y = k->y[io + i];                                  \
            (void)a, (void)b, (void)y;                                                   \
            if (k->acc_a) k->acc_a[ia + i * sa] += (double)(DA);                         \
            else if (k->da) k->da[ia + i * sa] += (DA);                                  \
            if (k->acc_b) k->acc_b[ib + i * sb] += (double)(DB);                         \
            else if (k->db) k->db[ib + i * sb] += (DB);                                  \
        }                                                                                \
    }                                                                                    \
    static void NAME##_backward(tg_record *r)                                            \
    {                                                                                    \
        tg_bcast bc;                                                                     \
        bin_ctx k = {.a = r->in[0]->data, .b = r->in[1]->data, .g = r->out->grad,        \
                     .y = r->out->data, .da = r->in[0]->grad, .db = r->in[1]->grad};     \
        int64_t n = r->out->size;                                                        \
        bool fa = tg_grad_fresh(r->in[0]), fb = tg_grad_fresh(r->in[1]);                 \
        if (r->in[0]->size == n && r->in[1]->size == n) { /* no broadcast */            \
            const tg_real *as = k.a, *bs = k.b, *gs = k.g, *ys = k.y;                    \
            BIN_SAME(k.da, fa, DA);                                                      \
            BIN_SAME(k.db, fb, DB);                                                      \
            return;                                                                      \
        }                                                                                \
        /* a broadcast: a fresh gradient holds zeros first, as the engine's */          \
        if (fa) memset(k.da, 0, (size_t)r->in[0]->size * sizeof(tg_real));              \
        if (fb) memset(k.db, 0, (size_t)r->in[1]->size * sizeof(tg_real));              \
        tg_bcast_init(&bc, r->in[0], r->in[1], r->out);                                  \
        bool ra = k.da && r->in[0]->size != r->out->size;                                \
        bool rb = k.db && r->in[1]->size != r->out->size;                                \
        if (!(ra || rb)) {                                                               \
            tg_bcast_each(&bc, NAME##_brun, &k);                                         \
        } else if (bin_acc_begin(r, &k, ra, rb)) {                                       \
            tg_bcast_each(&bc, NAME##_brun_acc, &k);                                     \
            bin_acc_end(r, &k);                                                          \
        }                                                                                \
    }

/* The vjp of a binary op: dx = DA (resp. DB) built from tg_ ops on t with g,
   a, b and y = r->out, summed down to the input's shape (a broadcast input
   gets the sum over its repeated positions), for the inputs that need it. */
#define BIN_VJP(NAME, DA, DB)                                                            \
    static int NAME##_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx) \
    {                                                                                    \
        tg_tensor *a = r->in[0], *b = r->in[1], *y = r->out;                             \
        (void)y;                                                                         \
        if (a->flags & TG_REQUIRES_GRAD) dx[0] = tg_sum_to(t, (DA), a->ndim, a->shape);  \
        if (b->flags & TG_REQUIRES_GRAD) dx[1] = tg_sum_to(t, (DB), b->ndim, b->shape);  \
        return TG_OK;                                                                    \
    }

/* The compact form of a binary op on inputs of the output's size (no
   broadcast): the same expressions as BIN_FORWARD and BIN_BACKWARD's
   same-shape run, in the same order, over plain pointers. */
#define BIN_SMALL(NAME, EXPR, DA, DB)                                                    \
    static void NAME##_sfwd(const tg_small *sm)                                          \
    {                                                                                    \
        const tg_real *as = sm->x[0], *bs = sm->x[1];                                    \
        for (int64_t i = 0; i < sm->n; i++) {                                            \
            tg_real a = as[i], b = bs[i];                                                \
            sm->y[i] = (EXPR);                                                           \
        }                                                                                \
    }                                                                                    \
    static void NAME##_sbwd(const tg_small *sm)                                          \
    {                                                                                    \
        const tg_real *as = sm->x[0], *bs = sm->x[1];                                    \
        tg_real *da = tg_small_gx(sm)[0], *db = tg_small_gx(sm)[1];                      \
        for (int64_t i = 0; i < sm->n; i++) {                                            \
            tg_real a = as[i], b = bs[i], g = sm->gy[i], y = sm->y[i];                   \
            (void)a, (void)b, (void)y;                                                   \
            if (da) da[i] += (DA);                                                       \
            if (db) db[i] += (DB);                                                       \
        }                                                                                \
    }

/* BIN_RULES(NAME, EXPR, DA, DB): a binary op's forward, backward and
   compact form from one statement of its value and derivatives. */
#define BIN_RULES(NAME, EXPR, DA, DB)                                                    \
    BIN_FORWARD(NAME, EXPR)                                                              \
    BIN_BACKWARD(NAME, DA, DB)                                                           \
    BIN_SMALL(NAME, EXPR, DA, DB)

/* y = a + b      dy/da = 1, dy/db = 1 */
BIN_RULES(add, a + b, g, g)
BIN_VJP(add, g, g)
/* y = a − b      dy/da = 1, dy/db = −1 */
BIN_RULES(sub, a - b, g, -g)
BIN_VJP(sub, g, tg_neg(t, g))
/* y = a · b      dy/da = b, dy/db = a */
BIN_RULES(mul, a *b, g *b, g *a)
BIN_VJP(mul, tg_mul(t, g, b), tg_mul(t, g, a))
/* y = a / b      dy/da = 1/b, dy/db = −a/b² = −(a/b)/b = −y/b
   (never through b², which overflows or flushes where a/b² is representable:
   a = b = 1e-23 in float) */
BIN_RULES(div, a / b, g / b, -g * ((a / b) / b))
BIN_VJP(div, tg_div(t, g, b), tg_neg(t, tg_mul(t, g, tg_div(t, y, b))))

#define BIN_OP(NAME, DOC)                                                                \
    static const tg_op op_##NAME = {.name = #NAME,                                       \
                                    .n_inputs = 2,                                       \
                                    .flags = TG_OP_WRITES_FRESH,                         \
                                    .shape = tg_shape_bcast,                             \
                                    .forward = NAME##_forward,                           \
                                    .backward = NAME##_backward,                         \
                                    .vjp = NAME##_vjp,                                   \
                                    .doc = DOC};                                         \
    tg_tensor *tg_##NAME(tg_tape *t, tg_tensor *a, tg_tensor *b)                         \
    {                                                                                    \
        tg_tensor *in[2] = {a, b};                                                       \
        return tg_apply(t, &op_##NAME, in, 2, NULL);                                     \
    }

BIN_OP(add, "a + b (broadcasting)")
BIN_OP(sub, "a - b (broadcasting)")
BIN_OP(mul, "a * b (broadcasting)")
BIN_OP(div, "a / b (broadcasting)")

/* ---------------------------------------------------------- unary ops */

typedef struct {
    tg_real s; /* the scalar of scale, add_scalar, pow */
} scalar_attr;

/* UNARY(NAME, ATTR, FWD, BWD, VJP): y = FWD(x, s); dx += BWD(g, x, y, s),
   g times the derivative (dx = 0 + that for a fresh gradient,
   TG_OP_WRITES_FRESH);
   and for create_graph dx = VJP, built from tg_ ops on t with g, x, y, s.
   ATTR is the attribute size: sizeof(scalar_attr) for the ops that take the
   scalar s, 0 for the others (which then need no attribute in tg_apply). */
#define UNARY(NAME, ATTR, FWD, BWD, VJP, DOC)                                            \
    static int NAME##_forward(tg_record *r)                                              \
    {                                                                                    \
        const tg_real *xs = r->in[0]->data;                                              \
        tg_real *ys = r->out->data;                                                      \
        tg_real s = r->attr ? ((const scalar_attr *)r->attr)->s : 0;                     \
        (void)s;                                                                         \
        for (int64_t i = 0; i < r->out->size; i++) {                                     \
            tg_real x = xs[i];                                                           \
            ys[i] = (FWD);                                                               \
        }                                                                                \
        return TG_OK;                                                                    \
    }                                                                                    \
    static void NAME##_backward(tg_record *r)                                            \
    {                                                                                    \
        const tg_real *xs = r->in[0]->data, *ys = r->out->data, *gs = r->out->grad;      \
        tg_real *dx = r->in[0]->grad;                                                    \
        tg_real s = r->attr ? ((const scalar_attr *)r->attr)->s : 0;                     \
        (void)s;                                                                         \
        if (tg_grad_fresh(r->in[0])) /* written (0 + v), not added to */               \
            for (int64_t i = 0; i < r->out->size; i++) {                                 \
                tg_real x = xs[i], y = ys[i], g = gs[i];                                 \
                (void)x, (void)y;                                                        \
                dx[i] = (tg_real)0 + (BWD);                                              \
            }                                                                            \
        else                                                                             \
            for (int64_t i = 0; i < r->out->size; i++) {                                 \
                tg_real x = xs[i], y = ys[i], g = gs[i];                                 \
                (void)x, (void)y;                                                        \
                dx[i] += (BWD);                                                          \
            }                                                                            \
    }                                                                                    \
    static void NAME##_sfwd(const tg_small *sm) /* the compact form */                 \
    {                                                                                    \
        tg_real s = sm->attr ? ((const scalar_attr *)sm->attr)->s : 0;                   \
        (void)s;                                                                         \
        for (int64_t i = 0; i < sm->n; i++) {                                            \
            tg_real x = sm->x[0][i];                                                     \
            sm->y[i] = (FWD);                                                            \
        }                                                                                \
    }                                                                                    \
    static void NAME##_sbwd(const tg_small *sm)                                          \
    {                                                                                    \
        tg_real s = sm->attr ? ((const scalar_attr *)sm->attr)->s : 0;                   \
        (void)s;                                                                         \
        for (int64_t i = 0; i < sm->n; i++) {                                            \
            tg_real x = sm->x[0][i], y = sm->y[i], g = sm->gy[i];                        \
            (void)x, (void)y;                                                            \
            tg_small_gx(sm)[0][i] += (BWD);                                              \
        }                                                                                \
    }                                                                                    \
    static int NAME##_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx) \
    {                                                                                    \
        tg_tensor *x = r->in[0], *y = r->out;                                            \
        tg_real s = r->attr ? ((const scalar_attr *)r->attr)->s : 0;                     \
        (void)t, (void)x, (void)y, (void)s;                                              \
        dx[0] = (VJP);                                                                   \
        return TG_OK;                                                                    \
    }                                                                                    \
    static const tg_op op_##NAME = {.name = #NAME,                                       \
                                    .n_inputs = 1,                                       \
                                    .attr_size = ATTR,                                   \
                                    .flags = TG_OP_WRITES_FRESH,                         \
                                    .shape = tg_shape_same,                              \
                                    .forward = NAME##_forward,                           \
                                    .backward = NAME##_backward,                         \
                                    .vjp = NAME##_vjp,                                   \
                                    .doc = DOC};

/* sign(x): −1, 0 or 1, and 0 for NaN (PyTorch's sign, and abs's gradient) */
static tg_real sign_of(tg_real x) { return (tg_real)((x > 0) - (x < 0)); }

/* xᵖ with PyTorch's rule that the gradient of x⁰ is 0 everywhere. */
static tg_real pow_grad(tg_real x, tg_real p) { return p == 0 ? 0 : p * TG_POW(x, p - 1); }

/* xᵖ's vjp: p·xᵖ⁻¹·g, and zeros for p = 0 (not 0·x⁻¹, NaN at x = 0) */
static tg_tensor *pow_vjp_of(tg_tape *t, tg_tensor *g, tg_tensor *x, tg_real p)
{
    if (p == 0) return tg_zeros(t, x->ndim, x->shape);
    return tg_mul(t, g, tg_scale(t, tg_pow(t, x, p - 1), p));
}

#define TWO_OVER_SQRT_PI 1.12837916709551257390 /* 2/√π */

/* y = −x         dy/dx = −1 */
UNARY(neg, 0, -x, -g, tg_neg(t, g), "-x")
/* y = s·x        dy/dx = s */
UNARY(scale, sizeof(scalar_attr), s *x, g * (s), tg_scale(t, g, s), "s * x")
/* y = x + s      dy/dx = 1 */
UNARY(add_scalar, sizeof(scalar_attr), x + s, g, g, "x + s")
/* y = xᵖ         dy/dx = p·xᵖ⁻¹ */
UNARY(pow, sizeof(scalar_attr), TG_POW(x, s), g * (pow_grad(x, s)), pow_vjp_of(t, g, x, s),
      "x^p")
/* y = eˣ         dy/dx = eˣ = y */
UNARY(exp, 0, TG_EXP(x), g * (y), tg_mul(t, g, y), "exp(x)")
/* y = ln x       dy/dx = 1/x, applied as g/x (PyTorch's grad / self): 1/x
   overflows at a subnormal x where g/x may not */
UNARY(log, 0, TG_LOG(x), g / x, tg_div(t, g, x), "log(x)")
/* y = √x         dy/dx = 1/(2√x) = 1/(2y) */
UNARY(sqrt, 0, TG_SQRT(x), g * (1 / (2 * y)), tg_div(t, g, tg_scale(t, y, 2)), "sqrt(x)")
/* y = |x|        dy/dx = sign(x), 0 at 0 (PyTorch's choice) */
UNARY(abs, 0, TG_FABS(x), g * (sign_of(x)), tg_mul(t, g, tg_sign(t, x)), "|x|")
/* y = x²         dy/dx = 2x */
UNARY(square, 0, x *x, g * (2 * x), tg_mul(t, g, tg_scale(t, x, 2)), "x^2")
/* y = erf x      dy/dx = 2/√π · e^(−x²) */
UNARY(erf, 0, TG_ERF(x), g * ((tg_real)TWO_OVER_SQRT_PI * TG_EXP(-x * x)),
      tg_mul(t, g, tg_scale(t, tg_exp(t, tg_neg(t, tg_square(t, x))), (tg_real)TWO_OVER_SQRT_PI)),
      "erf(x)")

static tg_tensor *unary(tg_tape *t, const tg_op *op, tg_tensor *x, tg_real s)
{
    scalar_attr a = {s};
    return tg_apply(t, op, &x, 1, &a);
}

tg_tensor *tg_neg(tg_tape *t, tg_tensor *x) { return unary(t, &op_neg, x, 0); }
tg_tensor *tg_scale(tg_tape *t, tg_tensor *x, tg_real s) { return unary(t, &op_scale, x, s); }
tg_tensor *tg_add_scalar(tg_tape *t, tg_tensor *x, tg_real s)
{
    return unary(t, &op_add_scalar, x, s);
}
tg_tensor *tg_pow(tg_tape *t, tg_tensor *x, tg_real p) { return unary(t, &op_pow, x, p); }
tg_tensor *tg_exp(tg_tape *t, tg_tensor *x) { return unary(t, &op_exp, x, 0); }
tg_tensor *tg_log(tg_tape *t, tg_tensor *x) { return unary(t, &op_log, x, 0); }
tg_tensor *tg_sqrt(tg_tape *t, tg_tensor *x) { return unary(t, &op_sqrt, x, 0); }
tg_tensor *tg_abs(tg_tape *t, tg_tensor *x) { return unary(t, &op_abs, x, 0); }
tg_tensor *tg_square(tg_tape *t, tg_tensor *x) { return unary(t, &op_square, x, 0); }
tg_tensor *tg_erf(tg_tape *t, tg_tensor *x) { return unary(t, &op_erf, x, 0); }

static const tg_op *const arith_ops[] = {&op_add, &op_sub,  &op_mul, &op_div,  &op_neg,
                                         &op_scale, &op_add_scalar, &op_pow, &op_exp,
                                         &op_log, &op_sqrt, &op_abs, &op_square, &op_erf};
const tg_op_table tg_arith_ops = {arith_ops, sizeof arith_ops / sizeof *arith_ops};

/* The compact forms (tg_small_compile): the element-wise ops, the binary
   ones where neither input is broadcast. */
#define SMALL(NAME) {&op_##NAME, NAME##_sfwd, NAME##_sbwd}
static const tg_small_entry arith_small[] = {
    SMALL(add),   SMALL(sub),        SMALL(mul), SMALL(div),  SMALL(neg),
    SMALL(scale), SMALL(add_scalar), SMALL(pow), SMALL(exp),  SMALL(log),
    SMALL(sqrt),  SMALL(abs),        SMALL(square),           SMALL(erf)};

bool tg_arith_small(const tg_record *r, tg_small *s)
{
    const tg_small_entry *e =
        tg_small_find(r, arith_small, sizeof arith_small / sizeof *arith_small);
    if (!e) return false;
    if (r->n_in == 2 && (r->in[0]->size != s->n || r->in[1]->size != s->n)) return false;
    s->fwd = e->fwd, s->bwd = e->bwd, s->attr = r->attr;
    return true;
}
