/* Normalisation: batch_norm, layer_norm, group_norm and rms_norm, each
   with forward, backward (one fused kernel) and vjp (composed from ops:
   mean, sub, mul, pow, sum_to..., so that any order works).

   Each normalises groups of values: a channel over the batch and the
   positions (batch norm), the last dimensions of each sample (layer norm),
   a group of channels of each sample (group norm). Over a group of M values,
       μ = Σx/M,  σ² = Σ(x − μ)²/M (biased),  r = 1/√(σ² + ε),  x̂ = (x − μ)·r,
       y = x̂·w + b   (w, b per channel or per element; optional)
   and with gw = g·w the gradient is
       dx = r·(gw − mean(gw) − x̂·mean(gw·x̂))      (the means over the group)
       dw = Σ g·x̂,   db = Σ g                    (over everything w is shared by)
   (from ∂x̂_i/∂x_j = r·(δ_ij − 1/M − x̂_i·x̂_j/M)). rms_norm has no mean:
       r = 1/√(Σx²/M + ε),  y = x·r·w,   dx = r·gw − x·r³·mean(gw·x),  dw = Σ g·x·r.
   Batch norm in evaluation uses the running statistics instead of μ and σ²
   (constants: y is then affine in x). In training it updates them, as
   PyTorch does: running_mean ← (1 − m)·running_mean + m·μ, running_var ←
   (1 − m)·running_var + m·σ²·M/(M − 1) (the unbiased variance).
   Sums and the statistics are in double. */
#include "ops/ops_internal.h"

#include <float.h>

/* What a forward keeps for its backward: per group μ and r, and per
   channel (or element) the accumulators of dw and db. */
typedef struct {
    double *mean, *rstd; /* [groups] */
    double *dw, *db;     /* [width of w] */
} norm_saved;

static norm_saved *save_stats(tg_record *r, int64_t groups, int64_t width)
{
    size_t head = (sizeof(norm_saved) + 15) / 16 * 16;
    size_t n = (size_t)(2 * groups + 2 * width);
    char *m = tg_record_save(r, head + (n ? n : 1) * sizeof(double));
    if (!m) return NULL;
    norm_saved *s = (norm_saved *)m;
    s->mean = (double *)(m + head);
    s->rstd = s->mean + groups;
    s->dw = s->rstd + groups;
    s->db = s->dw + width;
    return s;
}

/* μ and σ² (biased) of n values x[k·stride], in double, two passes */
static void stats(const tg_real *x, int64_t n, int64_t stride, double *mean, double *var)
{
    double s = 0, q = 0;
    for (int64_t k = 0; k < n; k++) s += x[k * stride];
    *mean = n ? s / (double)n : NAN;
    for (int64_t k = 0; k < n; k++) {
        double d = x[k * stride] - *mean;
        q += d * d;
    }
    *var = n ? q / (double)n : NAN;
}

/* ----------------------------------------------------- composed gradients */

/* How a vjp reduces over a group: the rows of a [rows, D] view (layer and
   group norm), or the channels of x [N, C, ...] (batch norm): sum_to to
   [C, 1, ..., 1] and a scale. Either keeps a shape that broadcasts to the
   values'. */
typedef struct {
    bool channels;
    int nd;                      /* channels: the dims of [C, 1, ..., 1] */
    int64_t cs[TG_MAX_DIMS];
    double inv;                  /* 1/M */
} reducer;

static tg_tensor *group_mean(tg_tape *t, const reducer *R, tg_tensor *z)
{
    if (!R->channels) return tg_mean(t, z, 1, true);
    return tg_scale(t, tg_sum_to(t, z, R->nd, R->cs), (tg_real)R->inv);
}

/* x̂ = (x − μ)·r with ops; *rstd gets r (group-shaped) */
static tg_tensor *normalized(tg_tape *t, const reducer *R, tg_tensor *x, double eps,
                             tg_tensor **rstd)
{
    tg_tensor *xc = tg_sub(t, x, group_mean(t, R, x));
    tg_tensor *var = group_mean(t, R, tg_square(t, xc));
    *rstd = tg_pow(t, tg_add_scalar(t, var, (tg_real)eps), (tg_real)-0.5);
    return tg_mul(t, xc, *rstd);
}

/* batch norm's r in training: 1/√(σ² + ε), and 0 where σ² = ε = 0, as
   PyTorch's CPU kernel (its InvStd): a constant channel then gives b, and
   its gradients x̂ = 0 and r = 0 (PyTorch's second order there is 0 too).
   With ε = 0 the root is taken of σ² made 1 where it is 0, so that no
   gradient meets the pole. */
static tg_tensor *bn_normalized(tg_tape *t, const reducer *R, tg_tensor *x, double eps,
                                tg_tensor **rstd)
{
    if (eps != 0) return normalized(t, R, x, eps, rstd);
    tg_tensor *xc = tg_sub(t, x, group_mean(t, R, x));
    tg_tensor *var = group_mean(t, R, tg_square(t, xc));
    tg_tensor *zero = tg_eq(t, var, tg_scalar(t, 0));
    tg_tensor *safe = tg_where(t, zero, tg_scalar(t, 1), var);
    *rstd = tg_where(t, zero, tg_scalar(t, 0), tg_pow(t, safe, (tg_real)-0.5));
    return tg_mul(t, xc, *rstd);
}

/* 1/√(σ² + ε) of a batch in training, 0 where σ² = ε = 0 (bn_normalized) */
static double bn_rstd(double var, double eps)
{
    return var == 0 && eps == 0 ? 0 : 1 / sqrt(var + eps);
}

/* dx = r·(gw − mean(gw) − x̂·mean(gw·x̂)) with ops */
static tg_tensor *normalized_vjp(tg_tape *t, const reducer *R, tg_tensor *xhat, tg_tensor *rstd,
                                 tg_tensor *gw)
{
    tg_tensor *c = tg_sub(t, gw, group_mean(t, R, gw));
    c = tg_sub(t, c, tg_mul(t, xhat, group_mean(t, R, tg_mul(t, gw, xhat))));
    return tg_mul(t, rstd, c);
}

/* A view [rows, D] of x for the row reducers */
static tg_tensor *rows_of(tg_tape *t, tg_tensor *x, int64_t rows, int64_t D)
{
    return tg_reshape(t, x, TG_SHAPE(rows, D));
}

/* [C, 1, ..., 1], broadcastable to x [N, C, ...] (ndim − 1 dims) */
static int channel_shape(const tg_tensor *x, int64_t cs[TG_MAX_DIMS])
{
    for (int i = 1; i < x->ndim; i++) cs[i - 1] = i == 1 ? x->shape[1] : 1;
    return x->ndim - 1;
}

/* Σ of z over everything but the channels, as [C] */
static tg_tensor *channel_sum(tg_tape *t, tg_tensor *z)
{
    if (!z) return NULL; /* an op before failed: its message stands */
    int64_t cs[TG_MAX_DIMS];
    int nd = channel_shape(z, cs);
    return tg_reshape(t, tg_sum_to(t, z, nd, cs), 1, &z->shape[1]);
}

/* dw = Σ g·x̂ and db = Σ g of a per-channel affine (batch and group norm),
   into dw and db for the ones that require grad */
static void channel_affine_vjp(tg_tape *t, tg_tensor *g, tg_tensor *xhat, const tg_tensor *w,
                               const tg_tensor *b, tg_tensor **dw, tg_tensor **db)
{
    if (w && (w->flags & TG_REQUIRES_GRAD)) *dw = channel_sum(t, tg_mul(t, g, xhat));
    if (b && (b->flags & TG_REQUIRES_GRAD)) *db = channel_sum(t, g);
}

/* -------------------------------------------------------------- batch norm */

typedef struct {
    bool training;
    bool cumulative; /* with a counter: momentum 1/(count + 1), the cumulative average */
    double momentum, eps;
} bn_attr;

/* x [N, C, ...]: C = shape[1], S = the positions per sample */
static int64_t positions(const tg_tensor *x)
{
    int64_t s = 1;
    for (int i = 2; i < x->ndim; i++) s *= x->shape[i];
    return s;
}

static int bn_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                    size_t len)
{
    const bn_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    char sx[96], so[96];
    if (x->ndim < 2) {
        snprintf(msg, len, "needs input [N, C] or [N, C, ...], got %s",
                 tg_shape_str(x, sx, sizeof sx));
        return TG_ERR_SHAPE;
    }
    int64_t C = x->shape[1];
    const char *names[5] = {"", "running_mean", "running_var", "weight", "bias"};
    const tg_tensor *count = r->in[5]; /* the layer's num_batches_tracked, or NULL */
    if (count && (count->size != 1 || (count->flags & TG_REQUIRES_GRAD) || !r->in[1])) {
        snprintf(msg, len, "the batch counter must be one value that requires no grad, "
                           "with running statistics");
        return TG_ERR_INVALID;
    }
    for (int k = 1; k < 5; k++) {
        const tg_tensor *v = r->in[k];
        if (v && (v->ndim != 1 || v->shape[0] != C)) {
            snprintf(msg, len, "%s %s does not match the input %s's %lld channels (needs [%lld])",
                     names[k], tg_shape_str(v, so, sizeof so), tg_shape_str(x, sx, sizeof sx),
                     (long long)C, (long long)C);
            return TG_ERR_SHAPE;
        }
        if (v && k <= 2 && (v->flags & TG_REQUIRES_GRAD)) {
            snprintf(msg, len, "%s requires grad: running statistics get no gradient", names[k]);
            return TG_ERR_INVALID;
        }
    }
    if (!r->in[1] != !r->in[2]) {
        snprintf(msg, len, "running_mean and running_var go together (one is NULL)");
        return TG_ERR_INVALID;
    }
    if (!a->training && !r->in[1]) {
        snprintf(msg, len, "running_mean and running_var are needed in evaluation mode");
        return TG_ERR_INVALID;
    }
    if (a->training && x->shape[0] * positions(x) <= 1 && C > 0) {
        snprintf(msg, len, "training needs more than one value per channel, got input %s",
                 tg_shape_str(x, sx, sizeof sx));
        return TG_ERR_SHAPE;
    }
    return tg_shape_same(r, ndim, shape, msg, len);
}

/* training: y = (x − μ_c)·r_c·w_c + b_c with the batch's statistics (and
   the running ones updated); evaluation: with the running statistics */
static int bn_forward(tg_record *r)
{
    const bn_attr *a = r->attr;
    const tg_tensor *x = r->in[0], *rm = r->in[1], *rv = r->in[2], *w = r->in[3], *b = r->in[4];
    const int64_t N = x->shape[0], C = x->shape[1], S = positions(x), M = N * S;
    norm_saved *s = save_stats(r, C, 0);
    if (!s) return TG_ERR_NOMEM;
    tg_real *y = r->out->data;
    /* the layer's count of batches, counted here so that a replay counts
       too: the momentum of the cumulative average from it */
    tg_tensor *count = a->training && rm ? r->in[5] : NULL;
    double m = count && a->cumulative ? 1 / ((double)count->data[0] + 1) : a->momentum;
    if (count) count->data[0] += 1;
    for (int64_t c = 0; c < C; c++) {
        double mean, var;
        if (a->training) {
            /* the channel's values: N runs of S, stride C·S between them */
            double sum = 0, q = 0;
            for (int64_t n = 0; n < N; n++) sum += tg_sum_strided(x->data + (n * C + c) * S, S, 1);
            mean = sum / (double)M;
            for (int64_t n = 0; n < N; n++)
                for (int64_t p = 0; p < S; p++) {
                    double d = x->data[(n * C + c) * S + p] - mean;
                    q += d * d;
                }
            var = q / (double)M;
            if (rm) {
                rm->data[c] = (tg_real)((1 - m) * rm->data[c] + m * mean);
                rv->data[c] = (tg_real)((1 - m) * rv->data[c] + m * var * (double)M / (double)(M - 1));
            }
        } else {
            mean = rm->data[c];
            var = rv->data[c];
        }
        double rstd = a->training ? bn_rstd(var, a->eps) : 1 / sqrt(var + a->eps);
        double wc = w ? w->data[c] : 1, bc = b ? b->data[c] : 0;
        s->mean[c] = mean, s->rstd[c] = rstd;
        for (int64_t n = 0; n < N; n++)
            for (int64_t p = 0; p < S; p++) {
                int64_t i = (n * C + c) * S + p;
                y[i] = (tg_real)((x->data[i] - mean) * rstd * wc + bc);
            }
    }
    return TG_OK;
}

/* training: dx = w·r·(g − mean(g) − x̂·mean(g·x̂))   evaluation: dx = g·w·r
   dw = Σ g·x̂,  db = Σ g  (over the batch and the positions) */
static void bn_backward(tg_record *r)
{
    const bn_attr *a = r->attr;
    const tg_tensor *x = r->in[0], *w = r->in[3], *b = r->in[4];
    const norm_saved *s = r->saved;
    const int64_t N = x->shape[0], C = x->shape[1], S = positions(x), M = N * S;
    const tg_real *g = r->out->grad;
    for (int64_t c = 0; c < C; c++) {
        double sg = 0, sgx = 0, mean = s->mean[c], rstd = s->rstd[c];
        for (int64_t n = 0; n < N; n++)
            for (int64_t p = 0; p < S; p++) {
                int64_t i = (n * C + c) * S + p;
                sg += g[i];
                sgx += g[i] * (x->data[i] - mean) * rstd;
            }
        double wc = w ? w->data[c] : 1;
        if (x->grad) {
            double mg = a->training ? sg / (double)M : 0, mgx = a->training ? sgx / (double)M : 0;
            for (int64_t n = 0; n < N; n++)
                for (int64_t p = 0; p < S; p++) {
                    int64_t i = (n * C + c) * S + p;
                    double xhat = (x->data[i] - mean) * rstd;
                    x->grad[i] += (tg_real)(wc * rstd * (g[i] - mg - xhat * mgx));
                }
        }
        if (w && w->grad) w->grad[c] += (tg_real)sgx;
        if (b && b->grad) b->grad[c] += (tg_real)sg;
    }
}

static int bn_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const bn_attr *a = r->attr;
    tg_tensor *x = r->in[0], *w = r->in[3], *b = r->in[4];
    const int64_t M = x->shape[0] * positions(x);
    reducer R = {.channels = true, .inv = M ? 1.0 / (double)M : 0};
    R.nd = channel_shape(x, R.cs);
    tg_tensor *wc = w ? tg_reshape(t, w, R.nd, R.cs) : NULL;
    tg_tensor *xhat, *rstd;
    if (a->training) {
        xhat = bn_normalized(t, &R, x, a->eps, &rstd);
    } else { /* the running statistics through ops (they get no gradient): a
                replay reads them again, as the forward does */
        tg_tensor *mean = tg_reshape(t, r->in[1], R.nd, R.cs);
        tg_tensor *var = tg_reshape(t, r->in[2], R.nd, R.cs);
        rstd = tg_pow(t, tg_add_scalar(t, var, (tg_real)a->eps), (tg_real)-0.5);
        xhat = tg_mul(t, tg_sub(t, x, mean), rstd);
    }
    if (x->flags & TG_REQUIRES_GRAD) {
        tg_tensor *gw = wc ? tg_mul(t, g, wc) : g;
        dx[0] = a->training ? normalized_vjp(t, &R, xhat, rstd, gw) : tg_mul(t, gw, rstd);
    }
    channel_affine_vjp(t, g, xhat, w, b, &dx[3], &dx[4]);
    return TG_OK;
}

static const tg_op op_batch_norm = {.name = "batch_norm",
                                    .n_inputs = 6, /* the last: tg_batchnorm's counter */
                                    .attr_size = sizeof(bn_attr),
                                    .shape = bn_shape,
                                    .forward = bn_forward,
                                    .backward = bn_backward,
                                    .vjp = bn_vjp,
                                    .doc = "(x - mean)/sqrt(var + eps)*w + b per channel"};

tg_tensor *tg_batch_norm(tg_tape *t, tg_tensor *x, tg_tensor *running_mean,
                         tg_tensor *running_var, tg_tensor *weight, tg_tensor *bias,
                         bool training, double momentum, double eps)
{
    if (!t) return tg_no_tape(__func__);
    if (!x) return tg_null_input(t, "batch_norm");
    if (!(eps >= 0) || !isfinite(eps) || !isfinite(momentum)) {
        tg_tape_set_error(t, "tg_batch_norm: eps must be finite and >= 0 and momentum finite, "
                             "got eps=%g momentum=%g", eps, momentum);
        return NULL;
    }
    return tg_batch_norm_counted(t, x, running_mean, running_var, weight, bias, training,
                                 momentum, eps, NULL, false);
}

tg_tensor *tg_batch_norm_counted(tg_tape *t, tg_tensor *x, tg_tensor *running_mean,
                                 tg_tensor *running_var, tg_tensor *weight, tg_tensor *bias,
                                 bool training, double momentum, double eps, tg_tensor *count,
                                 bool cumulative)
{
    bn_attr a = {training, cumulative, momentum, eps};
    tg_tensor *in[6] = {x, running_mean, running_var, weight, bias, count};
    return tg_apply(t, &op_batch_norm, in, 6, &a);
}

/* ------------------------------------------- layer norm and rms norm rows */

/* layer_norm and rms_norm normalise the last `nd` dimensions (shape
   `shape`); group_norm groups of channels. */
typedef struct {
    int nd;
    int64_t shape[TG_MAX_DIMS];
    int64_t groups;
    double eps;
} ln_attr;

/* rows and D of x for a normalized shape of nd dims */
static void rows_d(const tg_tensor *x, int nd, int64_t *rows, int64_t *D)
{
    *rows = 1, *D = 1;
    for (int i = 0; i < x->ndim; i++) *(i < x->ndim - nd ? rows : D) *= x->shape[i];
}

/* layer_norm, rms_norm: x [..., *normalized], w and b the normalized shape */
static int ln_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                    size_t len)
{
    const ln_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    tg_tensor ns = {.ndim = a->nd};
    for (int i = 0; i < a->nd; i++) ns.shape[i] = a->shape[i];
    char sx[96], sn[96], sw[96];
    bool ok = a->nd >= 1 && a->nd <= x->ndim;
    for (int i = 0; ok && i < a->nd; i++) ok = x->shape[x->ndim - a->nd + i] == a->shape[i];
    if (!ok) {
        snprintf(msg, len, "normalized_shape %s is not the end of the input's shape %s",
                 tg_shape_str(&ns, sn, sizeof sn), tg_shape_str(x, sx, sizeof sx));
        return TG_ERR_SHAPE;
    }
    for (int k = 1; k < r->n_in; k++)
        if (r->in[k] && !tg_same_shape(r->in[k], &ns)) {
            snprintf(msg, len, "%s %s does not have the normalized shape %s",
                     k == 1 ? "weight" : "bias", tg_shape_str(r->in[k], sw, sizeof sw),
                     tg_shape_str(&ns, sn, sizeof sn));
            return TG_ERR_SHAPE;
        }
    return tg_shape_same(r, ndim, shape, msg, len);
}

/* y = (x − μ)·r·w + b over each row of D */
/* The rows of layer norm, compiled for the vector units (TG_VECTOR_LOOP):
   each element by the same expression in double, the sums of a row in
   eight running sums added pairwise at the end, so that the numbers do not
   depend on the vector width. Without them (plain loops, one running sum,
   a branch on w per element) layer norm was a sixth of tiny_gpt's step
   outside the products. */

/* σ² (biased) of a row about its mean m: Σ (x − m)² / n in eight sums */
TG_VECTOR_LOOP static double ln_row_var(const tg_real *restrict x, int64_t n, double m)
{
    double q[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int l = 0; l < 8; l++) {
            double d = x[k + l] - m;
            q[l] += d * d;
        }
    for (; k < n; k++) {
        double d = x[k] - m;
        q[k & 7] += d * d;
    }
    return (((q[0] + q[1]) + (q[2] + q[3])) + ((q[4] + q[5]) + (q[6] + q[7]))) / (double)n;
}

/* y = (x − mean)·rstd·w + b (w, b may be NULL: 1 and 0; the affine case,
   every network's, in a loop without the choice) */
TG_VECTOR_LOOP static void ln_row(tg_real *restrict y, const tg_real *restrict x,
                                  const tg_real *restrict w, const tg_real *restrict b,
                                  double mean, double rstd, int64_t D)
{
    if (w && b)
        for (int64_t j = 0; j < D; j++) y[j] = (tg_real)((x[j] - mean) * rstd * w[j] + b[j]);
    else
        for (int64_t j = 0; j < D; j++)
            y[j] = (tg_real)((x[j] - mean) * rstd * (w ? w[j] : 1) + (b ? b[j] : 0));
}

/* One row of the backward: dw_j += g·x̂, db_j += g, and s[0] = Σ g·w,
   s[1] = Σ g·w·x̂ (eight sums each) for the row's dx */
TG_VECTOR_LOOP static void ln_back_row(const tg_real *restrict g, const tg_real *restrict x,
                                       const tg_real *restrict w, double mean, double rstd,
                                       int64_t D, double *restrict dw, double *restrict db,
                                       double s[2])
{
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, c[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= D; j += 8)
        for (int l = 0; l < 8; l++) {
            double gw = g[j + l] * (w ? w[j + l] : 1), xhat = (x[j + l] - mean) * rstd;
            a[l] += gw, c[l] += gw * xhat;
            dw[j + l] += g[j + l] * xhat;
            db[j + l] += g[j + l];
        }
    for (; j < D; j++) {
        double gw = g[j] * (w ? w[j] : 1), xhat = (x[j] - mean) * rstd;
        a[j & 7] += gw, c[j & 7] += gw * xhat;
        dw[j] += g[j] * xhat;
        db[j] += g[j];
    }
    s[0] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    s[1] = ((c[0] + c[1]) + (c[2] + c[3])) + ((c[4] + c[5]) + (c[6] + c[7]));
}

/* dx += r·(gw − Σgw/D − x̂·Σgw·x̂/D) for one row (dx = with `write`) */
TG_VECTOR_LOOP static void ln_dx_row(tg_real *restrict dx, const tg_real *restrict g,
                                     const tg_real *restrict x, const tg_real *restrict w,
                                     double mean, double rstd, int64_t D, double sg, double sgx,
                                     bool write)
{
    for (int64_t j = 0; j < D; j++) { /* not a select: a fresh dx holds stale bytes */
        double gw = g[j] * (w ? w[j] : 1), xhat = (x[j] - mean) * rstd;
        tg_real d = (tg_real)(rstd * (gw - sg / (double)D - xhat * sgx / (double)D));
        if (write) dx[j] = (tg_real)0 + d;
        else dx[j] += d;
    }
}

static int ln_forward(tg_record *r)
{
    const ln_attr *a = r->attr;
    const tg_tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
    int64_t rows, D;
    rows_d(x, a->nd, &rows, &D);
    /* no rows: no sums for dw and db (D may be 2^40 then) */
    norm_saved *s = save_stats(r, rows, rows ? D : 0);
    if (!s) return TG_ERR_NOMEM;
    for (int64_t i = 0; i < rows; i++) {
        const tg_real *xr = x->data + i * D;
        double mean = D ? tg_sum_strided(xr, D, 1) / (double)D : NAN;
        double var = D ? ln_row_var(xr, D, mean) : NAN;
        double rstd = 1 / sqrt(var + a->eps);
        s->mean[i] = mean, s->rstd[i] = rstd;
        ln_row(r->out->data + i * D, xr, w ? w->data : NULL, b ? b->data : NULL, mean, rstd, D);
    }
    return TG_OK;
}

/* dx = r·(gw − mean(gw) − x̂·mean(gw·x̂)) per row, dw_j = Σ_rows g·x̂, db_j = Σ_rows g.
   A fresh gradient (new on the tape, or a released parameter's) is
   written, not added to (TG_OP_WRITES_FRESH): the engine need not zero it. */
static void ln_backward(tg_record *r)
{
    const ln_attr *a = r->attr;
    const tg_tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
    const norm_saved *s = r->saved;
    const tg_real *g = r->out->grad, *wd = w ? w->data : NULL;
    int64_t rows, D;
    rows_d(x, a->nd, &rows, &D);
    if (!rows) { /* dw and db are sums of nothing (the forward kept no room for them) */
        for (int64_t j = 0; w && w->grad && tg_grad_fresh(w) && j < D; j++) w->grad[j] = 0;
        for (int64_t j = 0; b && b->grad && tg_grad_fresh(b) && j < D; j++) b->grad[j] = 0;
        return;
    }
    for (int64_t j = 0; j < D; j++) s->dw[j] = s->db[j] = 0;
    for (int64_t i = 0; i < rows; i++) {
        const tg_real *xr = x->data + i * D, *gr = g + i * D;
        double sums[2];
        ln_back_row(gr, xr, wd, s->mean[i], s->rstd[i], D, s->dw, s->db, sums);
        if (x->grad)
            ln_dx_row(x->grad + i * D, gr, xr, wd, s->mean[i], s->rstd[i], D, sums[0], sums[1],
                      tg_grad_fresh(x));
    }
    bool ww = tg_grad_fresh(w), wb = tg_grad_fresh(b);
    for (int64_t j = 0; w && w->grad && j < D; j++)
        if (ww) w->grad[j] = (tg_real)0 + (tg_real)s->dw[j];
        else w->grad[j] += (tg_real)s->dw[j];
    for (int64_t j = 0; b && b->grad && j < D; j++)
        if (wb) b->grad[j] = (tg_real)0 + (tg_real)s->db[j];
        else b->grad[j] += (tg_real)s->db[j];
}

static int ln_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const ln_attr *a = r->attr;
    tg_tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
    int64_t rows, D;
    rows_d(x, a->nd, &rows, &D);
    reducer R = {.channels = false};
    tg_tensor *rstd, *xhat = normalized(t, &R, rows_of(t, x, rows, D), a->eps, &rstd);
    tg_tensor *gr = rows_of(t, g, rows, D);
    if (x->flags & TG_REQUIRES_GRAD) {
        tg_tensor *gw = w ? tg_mul(t, gr, tg_reshape(t, w, 1, &D)) : gr;
        dx[0] = tg_reshape(t, normalized_vjp(t, &R, xhat, rstd, gw), x->ndim, x->shape);
    }
    if (w && (w->flags & TG_REQUIRES_GRAD))
        dx[1] = tg_reshape(t, tg_sum(t, tg_mul(t, gr, xhat), 0, false), w->ndim, w->shape);
    if (b && (b->flags & TG_REQUIRES_GRAD))
        dx[2] = tg_reshape(t, tg_sum(t, gr, 0, false), b->ndim, b->shape);
    return TG_OK;
}

static const tg_op op_layer_norm = {.name = "layer_norm",
                                    .n_inputs = 3,
                                    .flags = TG_OP_WRITES_FRESH,
                                    .attr_size = sizeof(ln_attr),
                                    .shape = ln_shape,
                                    .forward = ln_forward,
                                    .backward = ln_backward,
                                    .vjp = ln_vjp,
                                    .doc = "(x - mean)/sqrt(var + eps)*w + b over the last dims"};

/* The attribute of layer_norm and rms_norm, or an error on the tape. */
static bool shape_attr_of(tg_tape *t, const char *fn, int nd, const int64_t *shape, double eps,
                          ln_attr *a)
{
    memset(a, 0, sizeof *a);
    if (nd < 1 || nd > TG_MAX_DIMS || !shape) {
        tg_tape_set_error(t, "tg_%s: normalized_shape needs 1..%d dimensions, got %d%s", fn,
                          TG_MAX_DIMS, nd, nd >= 1 && !shape ? " and a NULL shape" : "");
        return false;
    }
    if (!(eps >= 0) || !isfinite(eps)) {
        tg_tape_set_error(t, "tg_%s: eps must be finite and >= 0, got %g", fn, eps);
        return false;
    }
    a->nd = nd;
    for (int i = 0; i < nd; i++) a->shape[i] = shape[i];
    a->eps = eps;
    return true;
}

tg_tensor *tg_layer_norm(tg_tape *t, tg_tensor *x, int ndim, const int64_t *normalized_shape,
                         tg_tensor *weight, tg_tensor *bias, double eps)
{
    if (!t) return tg_no_tape(__func__);
    if (!x) return tg_null_input(t, "layer_norm");
    ln_attr a;
    if (!shape_attr_of(t, "layer_norm", ndim, normalized_shape, eps, &a)) return NULL;
    tg_tensor *in[3] = {x, weight, bias};
    return tg_apply(t, &op_layer_norm, in, 3, &a);
}

/* rms_norm: y = x·r·w, r = 1/√(Σx²/D + ε) per row */
static int rms_forward(tg_record *r)
{
    const ln_attr *a = r->attr;
    const tg_tensor *x = r->in[0], *w = r->in[1];
    int64_t rows, D;
    rows_d(x, a->nd, &rows, &D);
    norm_saved *s = save_stats(r, rows, rows ? D : 0); /* as layer_norm's */
    if (!s) return TG_ERR_NOMEM;
    for (int64_t i = 0; i < rows; i++) {
        const tg_real *xr = x->data + i * D;
        double q = 0;
        for (int64_t j = 0; j < D; j++) q += (double)xr[j] * xr[j];
        double rs = 1 / sqrt((D ? q / (double)D : NAN) + a->eps);
        s->rstd[i] = rs;
        for (int64_t j = 0; j < D; j++)
            r->out->data[i * D + j] = (tg_real)(xr[j] * rs * (w ? w->data[j] : 1));
    }
    return TG_OK;
}

/* dx = r·gw − x·r³·mean(gw·x) per row (gw = g·w),  dw_j = Σ_rows g·x·r */
static void rms_backward(tg_record *r)
{
    const ln_attr *a = r->attr;
    const tg_tensor *x = r->in[0], *w = r->in[1];
    const norm_saved *s = r->saved;
    const tg_real *g = r->out->grad;
    int64_t rows, D;
    rows_d(x, a->nd, &rows, &D);
    if (!rows) return; /* dw: a sum of nothing, added (the engine zeroed a fresh one) */
    for (int64_t j = 0; j < D; j++) s->dw[j] = 0;
    for (int64_t i = 0; i < rows; i++) {
        const tg_real *xr = x->data + i * D, *gr = g + i * D;
        double rs = s->rstd[i], sgx = 0;
        for (int64_t j = 0; j < D; j++) {
            sgx += gr[j] * (w ? w->data[j] : 1) * (double)xr[j];
            s->dw[j] += gr[j] * (double)xr[j] * rs;
        }
        double k = rs * rs * rs * sgx / (double)D;
        for (int64_t j = 0; x->grad && j < D; j++)
            x->grad[i * D + j] += (tg_real)(rs * gr[j] * (w ? w->data[j] : 1) - xr[j] * k);
    }
    for (int64_t j = 0; w && w->grad && j < D; j++) w->grad[j] += (tg_real)s->dw[j];
}

static int rms_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const ln_attr *a = r->attr;
    tg_tensor *x = r->in[0], *w = r->in[1];
    int64_t rows, D;
    rows_d(x, a->nd, &rows, &D);
    tg_tensor *xr = rows_of(t, x, rows, D), *gr = rows_of(t, g, rows, D);
    tg_tensor *ms = tg_add_scalar(t, tg_mean(t, tg_square(t, xr), 1, true), (tg_real)a->eps);
    tg_tensor *rs = tg_pow(t, ms, (tg_real)-0.5);
    if (x->flags & TG_REQUIRES_GRAD) {
        tg_tensor *gw = w ? tg_mul(t, gr, tg_reshape(t, w, 1, &D)) : gr;
        tg_tensor *k = tg_mul(t, tg_pow(t, ms, (tg_real)-1.5), tg_mean(t, tg_mul(t, gw, xr), 1, true));
        dx[0] = tg_reshape(t, tg_sub(t, tg_mul(t, rs, gw), tg_mul(t, xr, k)), x->ndim, x->shape);
    }
    if (w && (w->flags & TG_REQUIRES_GRAD))
        dx[1] = tg_reshape(t, tg_sum(t, tg_mul(t, gr, tg_mul(t, xr, rs)), 0, false), w->ndim,
                           w->shape);
    return TG_OK;
}

static const tg_op op_rms_norm = {.name = "rms_norm",
                                  .n_inputs = 2,
                                  .attr_size = sizeof(ln_attr),
                                  .shape = ln_shape,
                                  .forward = rms_forward,
                                  .backward = rms_backward,
                                  .vjp = rms_vjp,
                                  .doc = "x/sqrt(mean(x^2) + eps)*w over the last dims"};

tg_tensor *tg_rms_norm(tg_tape *t, tg_tensor *x, int ndim, const int64_t *normalized_shape,
                       tg_tensor *weight, double eps)
{
    if (!t) return tg_no_tape(__func__);
    if (!x) return tg_null_input(t, "rms_norm");
    /* PyTorch's eps=None: the machine epsilon of the input's dtype */
    if (eps == TG_RMS_NORM_EPS_AUTO) eps = sizeof(tg_real) == sizeof(float) ? FLT_EPSILON : DBL_EPSILON;
    ln_attr a;
    if (!shape_attr_of(t, "rms_norm", ndim, normalized_shape, eps, &a)) return NULL;
    tg_tensor *in[2] = {x, weight};
    return tg_apply(t, &op_rms_norm, in, 2, &a);
}

/* -------------------------------------------------------------- group norm */

static int gn_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                    size_t len)
{
    const ln_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    char sx[96], sw[96];
    if (x->ndim < 2) {
        snprintf(msg, len, "needs input [N, C, ...], got %s", tg_shape_str(x, sx, sizeof sx));
        return TG_ERR_SHAPE;
    }
    int64_t C = x->shape[1];
    if (C % a->groups != 0) {
        snprintf(msg, len, "the input %s has %lld channels, not divisible by num_groups = %lld",
                 tg_shape_str(x, sx, sizeof sx), (long long)C, (long long)a->groups);
        return TG_ERR_SHAPE;
    }
    for (int k = 1; k < 3; k++) {
        const tg_tensor *v = r->in[k];
        if (v && (v->ndim != 1 || v->shape[0] != C)) {
            snprintf(msg, len, "%s %s does not match %lld channels (needs [%lld])",
                     k == 1 ? "weight" : "bias", tg_shape_str(v, sw, sizeof sw), (long long)C,
                     (long long)C);
            return TG_ERR_SHAPE;
        }
    }
    return tg_shape_same(r, ndim, shape, msg, len);
}

/* x [N, C, ...] as N·G rows of D = (C/G)·S values: row (n, g) holds the
   channels g·C/G .. (g + 1)·C/G − 1 of sample n, contiguous */
typedef struct {
    int64_t N, C, G, S, D;
} gn_dims;

static gn_dims gn_dims_of(const tg_record *r)
{
    const ln_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    gn_dims d = {x->shape[0], x->shape[1], a->groups, positions(x), 0};
    d.D = d.C / d.G * d.S;
    return d;
}

/* y = (x − μ)·r·w_c + b_c per row of a group */
static int gn_forward(tg_record *r)
{
    const ln_attr *a = r->attr;
    const tg_tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
    gn_dims d = gn_dims_of(r);
    norm_saved *s = save_stats(r, d.N * d.G, d.C);
    if (!s) return TG_ERR_NOMEM;
    for (int64_t i = 0; i < d.N * d.G; i++) {
        const tg_real *xr = x->data + i * d.D;
        double mean, var;
        stats(xr, d.D, 1, &mean, &var);
        double rstd = 1 / sqrt(var + a->eps);
        s->mean[i] = mean, s->rstd[i] = rstd;
        for (int64_t j = 0; j < d.D; j++) {
            int64_t c = (i % d.G) * (d.C / d.G) + j / d.S;
            r->out->data[i * d.D + j] =
                (tg_real)((xr[j] - mean) * rstd * (w ? w->data[c] : 1) + (b ? b->data[c] : 0));
        }
    }
    return TG_OK;
}

/* dx = r·(gw − mean(gw) − x̂·mean(gw·x̂)) per row,  dw_c = Σ g·x̂,  db_c = Σ g */
static void gn_backward(tg_record *r)
{
    const tg_tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
    const norm_saved *s = r->saved;
    const tg_real *g = r->out->grad;
    gn_dims d = gn_dims_of(r);
    for (int64_t c = 0; c < d.C; c++) s->dw[c] = s->db[c] = 0;
    for (int64_t i = 0; i < d.N * d.G; i++) {
        const tg_real *xr = x->data + i * d.D, *gr = g + i * d.D;
        const int64_t c0 = (i % d.G) * (d.C / d.G);
        double mean = s->mean[i], rstd = s->rstd[i], sg = 0, sgx = 0;
        for (int64_t j = 0; j < d.D; j++) {
            int64_t c = c0 + j / d.S;
            double gw = gr[j] * (w ? w->data[c] : 1), xhat = (xr[j] - mean) * rstd;
            sg += gw, sgx += gw * xhat;
            s->dw[c] += gr[j] * xhat;
            s->db[c] += gr[j];
        }
        for (int64_t j = 0; x->grad && j < d.D; j++) {
            int64_t c = c0 + j / d.S;
            double gw = gr[j] * (w ? w->data[c] : 1), xhat = (xr[j] - mean) * rstd;
            x->grad[i * d.D + j] +=
                (tg_real)(rstd * (gw - sg / (double)d.D - xhat * sgx / (double)d.D));
        }
    }
    for (int64_t c = 0; w && w->grad && c < d.C; c++) w->grad[c] += (tg_real)s->dw[c];
    for (int64_t c = 0; b && b->grad && c < d.C; c++) b->grad[c] += (tg_real)s->db[c];
}

static int gn_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const ln_attr *a = r->attr;
    tg_tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
    gn_dims d = gn_dims_of(r);
    reducer R = {.channels = false};
    tg_tensor *rstd, *xhat_r = normalized(t, &R, rows_of(t, x, d.N * d.G, d.D), a->eps, &rstd);
    tg_tensor *xhat = tg_reshape(t, xhat_r, x->ndim, x->shape);
    int64_t cs[TG_MAX_DIMS];
    int nd = channel_shape(x, cs);
    if (x->flags & TG_REQUIRES_GRAD) {
        tg_tensor *gw = w ? tg_mul(t, g, tg_reshape(t, w, nd, cs)) : g;
        tg_tensor *dr = normalized_vjp(t, &R, xhat_r, rstd, rows_of(t, gw, d.N * d.G, d.D));
        dx[0] = tg_reshape(t, dr, x->ndim, x->shape);
    }
    channel_affine_vjp(t, g, xhat, w, b, &dx[1], &dx[2]);
    return TG_OK;
}

static const tg_op op_group_norm = {.name = "group_norm",
                                    .n_inputs = 3,
                                    .attr_size = sizeof(ln_attr),
                                    .shape = gn_shape,
                                    .forward = gn_forward,
                                    .backward = gn_backward,
                                    .vjp = gn_vjp,
                                    .doc = "(x - mean)/sqrt(var + eps)*w + b per group of channels"};

tg_tensor *tg_group_norm(tg_tape *t, tg_tensor *x, int64_t num_groups, tg_tensor *weight,
                         tg_tensor *bias, double eps)
{
    if (!t) return tg_no_tape(__func__);
    if (!x) return tg_null_input(t, "group_norm");
    if (num_groups < 1) {
        tg_tape_set_error(t, "tg_group_norm: num_groups must be at least 1, got %lld",
                          (long long)num_groups);
        return NULL;
    }
    if (!(eps >= 0) || !isfinite(eps)) {
        tg_tape_set_error(t, "tg_group_norm: eps must be finite and >= 0, got %g", eps);
        return NULL;
    }
    ln_attr a = {.groups = num_groups, .eps = eps};
    tg_tensor *in[3] = {x, weight, bias};
    return tg_apply(t, &op_group_norm, in, 3, &a);
}

static const tg_op *const norm_ops[] = {&op_batch_norm, &op_layer_norm, &op_group_norm,
                                        &op_rms_norm};
const tg_op_table tg_norm_ops = {norm_ops, sizeof norm_ops / sizeof *norm_ops};
