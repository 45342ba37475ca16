/* Products and running sums: prod over an axis or all, cumsum and cumprod
   along an axis. prod's and cumprod's gradients are exact with zeros, as
   PyTorch's; with create_graph and a zero in x, their vjps build the
   products that leave one element out (leave_one_out). */
#include <float.h>

#include "ops/reduce_internal.h"

/* ------------------------------------------------------------ prod */

/* Whether any element of x is 0: PyTorch's prod and cumprod pick their
   gradient formula by it, over the whole tensor. */
static bool has_zero(const tg_tensor *x)
{
    for (int64_t i = 0; i < x->size; i++)
        if (x->data[i] == 0) return true;
    return false;
}

static bool all_finite(const tg_tensor *x)
{
    for (int64_t i = 0; i < x->size; i++)
        if (!isfinite(x->data[i])) return false;
    return true;
}

enum { CUM_BAD = 16 }; /* infs and NaNs of a slice without a zero summed one by one, at most */
enum { CUM_COLS = 2048 }; /* columns of a [n, inner] slice walked at once, row by row */

/* p[i] *= x[i] */
TG_VECTOR_LOOP static void prod_row(double *restrict p, const tg_real *restrict x, int64_t w)
{
    for (int64_t i = 0; i < w; i++) p[i] *= (double)x[i];
}

/* Whether x[0..n) holds an inf or a NaN (a reduction without an early exit,
   so that it vectorises: a loop that stopped at the first took 1.6 ms over
   4M values) */
TG_VECTOR_LOOP static bool any_not_finite(const tg_real *x, int64_t n)
{
    const tg_real big = sizeof(tg_real) == sizeof(float) ? (tg_real)FLT_MAX : (tg_real)DBL_MAX;
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad |= !(TG_FABS(x[i]) <= big);
    return bad;
}

/* Π x[k] over k < n in double: eight partial products (k mod 8), multiplied
   together at the end, so that the loop runs at the multiplier's
   throughput (one chain waited four cycles a factor on Intel's cores: twice
   a plain float sum's time); subnormal products flushed (tg_ftz_begin).
   A partial product can leave double's range where the product does not
   (factors 1e30 and 1e-30 in turn: every eighth one is 1e30), giving inf,
   0 or inf·0 = NaN; a result that is 0 or not finite is therefore formed
   again in one chain, in order, whose running products are the slice's
   own prefixes (0, inf or NaN again when the slice holds such a factor or
   its product leaves the range). A chain at 0 stays 0 but for a later inf
   or NaN factor (NaN then), which a scan finds: a product that underflows
   (of many factors below 1, the common 0) costs a few thousand steps of
   the chain at most. (Partials kept in range by taking their exponents
   apart every few factors, vectorised by bit operations, took twice as long
   as this over [2048, 2048] of U(−1, 1).) */
static double prod_of(const tg_real *x, int64_t n)
{
    double p[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    int64_t k = 0;
    unsigned csr = tg_ftz_begin(n);
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) p[j] *= (double)x[k + j];
    for (; k < n; k++) p[0] *= (double)x[k];
    double r = ((p[0] * p[1]) * (p[2] * p[3])) * ((p[4] * p[5]) * (p[6] * p[7]));
    if (r == 0 || !isfinite(r)) {
        for (r = 1, k = 0; k < n && r != 0; k++) r *= (double)x[k];
        if (r == 0 && any_not_finite(x + k, n - k)) r = NAN;
    }
    tg_ftz_end(csr);
    return r;
}

/* y = Π_k x_k (in double)
   dx_k += g·Π_{i≠k} x_i: g·y/x_k when x has no zero anywhere (PyTorch's
   formula, whose inf/inf at an infinite x_k is NaN as there); otherwise
   the product of the others as prefix·suffix, exact with zeros: a slice with
   one zero sends g·(product of the rest) to it and 0 elsewhere, a slice
   with two zeros gives 0 everywhere */
static int prod_forward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    reduce_view v;
    tg_reduce_view(r->in[0], a->mask, &v); /* one axis or all: always a view */
    /* the backward's suffix products of a slice */
    if (!tg_record_save(r, (size_t)(v.n ? v.n : 1) * sizeof(double))) return TG_ERR_NOMEM;
    const tg_real *x = r->in[0]->data;
    tg_real *y = r->out->data;
    for (int64_t o = 0; o < v.outer; o++) {
        const tg_real *xo = x + o * v.n * v.inner;
        if (v.inner == 1) {
            y[o] = (tg_real)prod_of(xo, v.n);
            continue;
        }
        /* each column's factors in the same order, a block of columns down the
           rows (a walk down each column in turn took 23 times a plain sum's
           time over [2048, 2048]) */
        for (int64_t c0 = 0; c0 < v.inner; c0 += CUM_COLS) {
            int64_t w = c0 + CUM_COLS < v.inner ? CUM_COLS : v.inner - c0;
            double p[CUM_COLS];
            for (int64_t i = 0; i < w; i++) p[i] = 1;
            unsigned csr = tg_ftz_begin(v.n * w);
            for (int64_t kk = 0; kk < v.n; kk++) prod_row(p, xo + kk * v.inner + c0, w);
            tg_ftz_end(csr);
            for (int64_t i = 0; i < w; i++) y[o * v.inner + c0 + i] = (tg_real)p[i];
        }
    }
    return TG_OK;
}

/* dx[i] += g[i]·(y[i]/x[i]): a row of a slice without zeros */
TG_VECTOR_LOOP static void prod_grad_row(tg_real *restrict dx, const tg_real *restrict x,
                                         const tg_real *restrict g, const tg_real *restrict y,
                                         int64_t w)
{
    for (int64_t i = 0; i < w; i++) dx[i] += (tg_real)((double)g[i] * ((double)y[i] / (double)x[i]));
}

static void prod_backward(tg_record *r)
{
    const reduce_attr *a = r->attr;
    const tg_tensor *in = r->in[0];
    reduce_view v;
    tg_reduce_view(in, a->mask, &v);
    bool zero = has_zero(in);
    if (!zero && v.inner > 1) { /* row by row, as the forward (a column at a time: 63 ms) */
        for (int64_t o = 0; o < v.outer; o++)
            for (int64_t kk = 0; kk < v.n; kk++) {
                int64_t at = (o * v.n + kk) * v.inner;
                prod_grad_row(in->grad + at, in->data + at, r->out->grad + o * v.inner,
                              r->out->data + o * v.inner, v.inner);
            }
        return;
    }
    double *suffix = r->saved; /* [n] */
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            const tg_real *x = in->data + o * v.n * v.inner + i; /* stride inner */
            tg_real *dx = in->grad + o * v.n * v.inner + i;
            double g = (double)r->out->grad[o * v.inner + i];
            double y = (double)r->out->data[o * v.inner + i];
            if (!zero) {
                for (int64_t kk = 0; kk < v.n; kk++)
                    dx[kk * v.inner] += (tg_real)(g * (y / (double)x[kk * v.inner]));
                continue;
            }
            double p = 1;
            for (int64_t kk = v.n - 1; kk >= 0; kk--) {
                suffix[kk] = p;
                p *= (double)x[kk * v.inner];
            }
            p = 1; /* the prefix */
            for (int64_t kk = 0; kk < v.n; kk++) {
                dx[kk * v.inner] += (tg_real)(g * (p * suffix[kk]));
                p *= (double)x[kk * v.inner];
            }
        }
}

/* x's slices along the reduced axis as the rows of a [B, n] matrix (the
   axis moved last); every element as one row for TG_ALL. */
static tg_tensor *to_rows(tg_tape *t, tg_tensor *x, unsigned mask, int *axis)
{
    *axis = -1;
    for (int i = 0; i < x->ndim && mask != tg_all_axes(x->ndim); i++)
        if (mask >> i & 1u) *axis = i;
    int64_t n = *axis < 0 ? x->size : x->shape[*axis];
    tg_tensor *m = *axis < 0 ? x : tg_movedim(t, x, *axis, -1);
    return tg_reshape(t, m, TG_SHAPE(n ? x->size / n : 0, n));
}

/* The inverse of to_rows: [B, n] back to x's shape. */
static tg_tensor *from_rows(tg_tape *t, tg_tensor *rows, const tg_tensor *x, int axis)
{
    if (axis < 0) return tg_reshape(t, rows, x->ndim, x->shape);
    int64_t moved[TG_MAX_DIMS];
    for (int i = 0, k = 0; i < x->ndim; i++)
        if (i != axis) moved[k++] = x->shape[i];
    moved[x->ndim - 1] = x->shape[axis];
    return tg_movedim(t, tg_reshape(t, rows, x->ndim, moved), -1, axis);
}

/* A constant [n, n] of 0/1: 1 on the diagonal (upper = false) or where
   column ≥ row (upper = true). */
static tg_tensor *square_mask(tg_tape *t, int64_t n, bool upper)
{
    tg_tensor *m = tg_zeros(t, TG_SHAPE(n, n));
    if (!m) return NULL;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i; j < (upper ? n : i + 1); j++) m->data[i * n + j] = 1;
    return m;
}

/* rows [B, n] -> [B, n, n] whose [b, k, :] is row b with its element k
   replaced by 1: the products that leave x_k out, as ops (for the vjps of
   prod and cumprod with zeros, as PyTorch's own double backward does;
   n² values per row). */
static tg_tensor *leave_one_out(tg_tape *t, tg_tensor *rows)
{
    if (!rows) return NULL;
    int64_t B = rows->shape[0], n = rows->shape[1];
    tg_tensor *spread_rows = tg_expand(t, tg_reshape(t, rows, TG_SHAPE(B, 1, n)), TG_SHAPE(B, n, n));
    return tg_where(t, square_mask(t, n, false), tg_scalar(t, 1), spread_rows);
}

static int prod_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const reduce_attr *a = r->attr;
    tg_tensor *x = r->in[0];
    if (x->size == 0) { /* nothing to differentiate (its rows would lose their count) */
        dx[0] = tg_zeros(t, x->ndim, x->shape);
        return TG_OK;
    }
    /* g·y/x without a zero; on a replayable tape always the leave-one-out
       form, since a replay may bring zeros the recording did not see */
    if (!has_zero(x) && !tg_tape_replayable(t)) {
        dx[0] = tg_div(t, tg_mul(t, tg_reduce_keep(t, r, g), tg_reduce_keep(t, r, r->out)), x);
        return TG_OK;
    }
    int axis;
    tg_tensor *rows = to_rows(t, x, a->mask, &axis);
    if (!rows) return TG_ERR_INVALID;
    tg_tensor *others = tg_reduce_over(t, r->op, leave_one_out(t, rows), 1u << 2, false, 0);
    tg_tensor *grows = tg_mul(t, others, tg_reshape(t, g, TG_SHAPE(rows->shape[0], 1)));
    dx[0] = from_rows(t, grows, x, axis);
    return TG_OK;
}

/* ------------------------------------------------------------ cumsum, cumprod */

typedef struct {
    int axis;     /* normalised; 0 for a 0-d tensor */
    bool reverse; /* cumsum: from the end (Σ_{j ≥ k}): its own adjoint's direction */
} cum_attr;

static int cum_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    const cum_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    if (a->axis < 0 || a->axis >= (x->ndim ? x->ndim : 1)) {
        char b[128];
        snprintf(msg, len, "axis %d is out of range for shape %s", a->axis,
                 tg_shape_str(x, b, sizeof b));
        return TG_ERR_INVALID;
    }
    return tg_shape_same(r, ndim, shape, msg, len);
}

/* acc[i] += src[i], then dst[i] = acc[i] (dst[i] += acc[i] with add) */
TG_VECTOR_LOOP static void cum_row(double *restrict acc, tg_real *restrict dst,
                                   const tg_real *restrict src, int64_t w, bool add)
{
    if (add)
        for (int64_t i = 0; i < w; i++) {
            acc[i] += (double)src[i];
            dst[i] += (tg_real)acc[i];
        }
    else
        for (int64_t i = 0; i < w; i++) {
            acc[i] += (double)src[i];
            dst[i] = (tg_real)acc[i];
        }
}

/* cum_row for two rows in turn (src0 then src1), the sums read and written
   once for both (a row at a time: 1.5 to 1.9 times a plain running sum's
   time along axis 0 on an Intel Xeon) */
TG_VECTOR_LOOP static void cum_rows2(double *restrict acc, tg_real *restrict dst0,
                                     const tg_real *restrict src0, tg_real *restrict dst1,
                                     const tg_real *restrict src1, int64_t w, bool add)
{
    if (add)
        for (int64_t i = 0; i < w; i++) {
            double a0 = acc[i] + (double)src0[i], a1 = a0 + (double)src1[i];
            dst0[i] += (tg_real)a0, dst1[i] += (tg_real)a1, acc[i] = a1;
        }
    else
        for (int64_t i = 0; i < w; i++) {
            double a0 = acc[i] + (double)src0[i], a1 = a0 + (double)src1[i];
            dst0[i] = (tg_real)a0, dst1[i] = (tg_real)a1, acc[i] = a1;
        }
}

/* dst[o,k,i] = Σ_{j ≤ k} src[o,j,i] (Σ_{j ≥ k} with reverse), in double,
   row after row over blocks of columns; with `add`, dst += instead. A
   contiguous slice (inner 1) keeps its sum in a register: through memory,
   each add waited on the store of the one before (13.8 ms over 2048 × 2048,
   four times a plain running sum). */
static void cum_sum(tg_real *dst, const tg_real *src, reduce_view v, bool reverse, bool add)
{
    double acc[CUM_COLS];
    for (int64_t o = 0; o < v.outer; o++) {
        if (v.inner == 1) {
            const tg_real *s = src + o * v.n;
            tg_real *d = dst + o * v.n;
            double sum = 0;
            for (int64_t step = 0; step < v.n; step++) {
                int64_t kk = reverse ? v.n - 1 - step : step;
                sum += (double)s[kk];
                d[kk] = add ? d[kk] + (tg_real)sum : (tg_real)sum;
            }
            continue;
        }
        for (int64_t c0 = 0; c0 < v.inner; c0 += CUM_COLS) {
            int64_t w = c0 + CUM_COLS < v.inner ? CUM_COLS : v.inner - c0;
            for (int64_t i = 0; i < w; i++) acc[i] = 0;
            int64_t step = 0, dir = reverse ? -v.inner : v.inner;
            for (; step + 1 < v.n; step += 2) {
                int64_t kk = reverse ? v.n - 1 - step : step;
                int64_t at = (o * v.n + kk) * v.inner + c0;
                cum_rows2(acc, dst + at, src + at, dst + at + dir, src + at + dir, w, add);
            }
            if (step < v.n) {
                int64_t kk = reverse ? v.n - 1 - step : step;
                int64_t at = (o * v.n + kk) * v.inner + c0;
                cum_row(acc, dst + at, src + at, w, add);
            }
        }
    }
}

/* y_k = Σ_{j ≤ k} x_j      dx_k += Σ_{j ≥ k} g_j: the cumulative sum from the
   other end (and the reverse one's adjoint is the forward one) */
static int cumsum_forward(tg_record *r)
{
    const cum_attr *a = r->attr;
    cum_sum(r->out->data, r->in[0]->data, tg_axis_view(r->in[0], a->axis), a->reverse, false);
    return TG_OK;
}

static void cumsum_backward(tg_record *r)
{
    const cum_attr *a = r->attr;
    cum_sum(r->in[0]->grad, r->out->grad, tg_axis_view(r->in[0], a->axis), !a->reverse, true);
}

static tg_tensor *cumsum_dir(tg_tape *t, tg_tensor *x, int axis, bool reverse)
{
    cum_attr a = {axis, reverse};
    return tg_apply(t, &tg_cumsum_op, &x, 1, &a);
}

static int cumsum_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const cum_attr *a = r->attr;
    dx[0] = cumsum_dir(t, g, a->axis, !a->reverse);
    return TG_OK;
}

/* y[k] = Π_{j ≤ k} x[j] over a contiguous slice, in double, as S running
   products at once (S = 4; 1 for short slices): the slice in S parts, each
   started from the product of the parts before it (prod_of's), so that the
   products run at the multiplier's throughput (one running product waited
   four cycles a factor on Intel's cores). The products are formed with
   subnormals flushed (tg_ftz_begin), a block at a time, and rounded to
   tg_real outside. */
static void cumprod_row(tg_real *y, const tg_real *x, int64_t n)
{
    enum { B = 256 };
    int S = n < 64 ? 1 : 4;
    int64_t len = (n + S - 1) / S;
    double p[4] = {1, 1, 1, 1}, buf[4][B];
    for (int s = 1; s < S; s++) p[s] = p[s - 1] * prod_of(x + (s - 1) * len, len);
    int64_t last = n - (S - 1) * len; /* the last part's length, at most len */
    for (int64_t k0 = 0; k0 < len; k0 += B) {
        int64_t e = k0 + B < len ? k0 + B : len;
        unsigned csr = tg_ftz_begin(S * (e - k0));
        for (int64_t k = k0; k < e; k++)
            for (int s = 0; s < (k < last ? S : S - 1); s++)
                buf[s][k - k0] = p[s] *= (double)x[s * len + k];
        tg_ftz_end(csr);
        for (int s = 0; s < S; s++)
            for (int64_t k = k0; k < (s == S - 1 && last < e ? last : e); k++)
                y[s * len + k] = (tg_real)buf[s][k - k0];
    }
}

/* y_k = Π_{j ≤ k} x_j (in double)
   dx_k += Σ_{j ≥ k} g_j·Π_{i ≤ j, i ≠ k} x_i, which with z the first zero of
   the slice (PyTorch's O(n) rule) is
     k < z:  (Σ_{k ≤ j < z} g_j·y_j) / x_k
     k = z:  Σ_{z ≤ j < z'} g_j·y_{z−1}·Π_{z < i ≤ j} x_i   (z' the second zero)
     k > z:  0
   The terms left out hold a zero among their factors: they are 0 when the
   other x_i (i ≠ k) are finite, and NaN (0·inf, 0·NaN) when one is an inf
   or NaN, as the definition (and the create_graph gradient) has it;
   cumprod_spoiled_slice takes those slices. (An inf or NaN g_j in such a
   term is not looked for, as in PyTorch's O(n) rule: that would take a pass
   over all of g.) A slice without a zero is divided, but for an inf or NaN
   x_k, whose dx_k is the sum without it (dividing gives inf/inf = NaN):
   the definition, and PyTorch's create_graph rule on a tensor holding a
   zero (its first order and its rule on a tensor without a zero divide).
   A slice with more than CUM_BAD of them gives NaN at each instead, so
   that no slice takes more than CUM_BAD·n steps. Along an axis of length
   1, y = x and dx = g (PyTorch's rule too, which does not divide there). */
static int cumprod_forward(tg_record *r)
{
    const cum_attr *a = r->attr;
    reduce_view v = tg_axis_view(r->in[0], a->axis);
    double acc[CUM_COLS];
    const tg_real *x = r->in[0]->data;
    tg_real *y = r->out->data;
    for (int64_t o = 0; o < v.outer; o++) {
        if (v.inner == 1) {
            cumprod_row(y + o * v.n, x + o * v.n, v.n);
            continue;
        }
        for (int64_t c0 = 0; c0 < v.inner; c0 += CUM_COLS) {
            int64_t w = c0 + CUM_COLS < v.inner ? CUM_COLS : v.inner - c0;
            for (int64_t i = 0; i < w; i++) acc[i] = 1;
            for (int64_t kk = 0; kk < v.n; kk++) {
                int64_t at = (o * v.n + kk) * v.inner + c0;
                unsigned csr = tg_ftz_begin(w);
                prod_row(acc, x + at, w);
                tg_ftz_end(csr);
                for (int64_t i = 0; i < w; i++) y[at + i] = (tg_real)acc[i];
            }
        }
    }
    return TG_OK;
}

/* Σ_{k ≤ j < e} g_j·Π_{i ≤ j, i ≠ k} x_i, the products formed without x_k */
static double sum_without(const tg_real *x, const tg_real *y, const tg_real *g, int64_t s,
                          int64_t k, int64_t e)
{
    double p = k > 0 ? (double)y[(k - 1) * s] : 1, acc = (double)g[k * s] * p;
    for (int64_t j = k + 1; j < e; j++) {
        p *= (double)x[j * s];
        acc += (double)g[j * s] * p;
    }
    return acc;
}

/* A slice (n values at stride s, the first zero at z) whose x holds an inf
   or NaN. dx_k's last term holds every x_i but x_k, so it is NaN (0·inf,
   0·NaN) unless x_k is the only zero or the only inf or NaN:
     x_k the only zero:        every term is free of zeros, summed as is
     x_k the only inf or NaN:  the terms before z, summed without x_k
                               (dividing it out of y would give inf/inf);
                               from z on they are 0
   Returns false, and does nothing, when x holds no inf or NaN (y was NaN
   because a product overflowed before the zero: the rule above holds). */
static bool cumprod_spoiled_slice(tg_real *dx, const tg_real *x, const tg_real *y,
                                  const tg_real *g, int64_t n, int64_t s, int64_t z)
{
    int64_t bad = 0, last = -1, zeros = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i * s])) bad++, last = i;
        zeros += x[i * s] == 0;
    }
    if (bad == 0) return false;
    for (int64_t k = 0; k < n; k++) {
        if (k == z && zeros == 1) dx[k * s] += (tg_real)sum_without(x, y, g, s, k, n);
        else if (k == last && bad == 1) {
            if (k < z) dx[k * s] += (tg_real)sum_without(x, y, g, s, k, z);
        } else dx[k * s] += (tg_real)NAN;
    }
    return true;
}

static void cumprod_backward(tg_record *r)
{
    const cum_attr *a = r->attr;
    reduce_view v = tg_axis_view(r->in[0], a->axis);
    int64_t s = v.inner, n = v.n;
    if (n == 1) { /* y = x: dx = g, an inf or NaN x included (PyTorch's too) */
        const tg_real *g = r->out->grad;
        tg_real *dx = r->in[0]->grad;
        for (int64_t i = 0; i < r->in[0]->size; i++) dx[i] += g[i];
        return;
    }
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t at = o * n * s + i; /* the slice, stride s */
            const tg_real *x = r->in[0]->data + at, *y = r->out->data + at, *g = r->out->grad + at;
            tg_real *dx = r->in[0]->grad + at;
            int64_t z = 0;
            while (z < n && x[z * s] != 0) z++;
            /* past a zero y is 0, or NaN when x holds an inf or NaN (0·inf) */
            if (z < n && isnan(y[(n - 1) * s]) && cumprod_spoiled_slice(dx, x, y, g, n, s, z))
                continue;
            double acc = 0;
            int64_t bad = 0, b = -1; /* a slice without a zero: its infs and NaNs */
            for (int64_t kk = z - 1; kk >= 0; kk--) {
                acc += (double)g[kk * s] * (double)y[kk * s];
                if (z == n && !isfinite(x[kk * s])) bad++, b = kk;
                else dx[kk * s] += (tg_real)(acc / (double)x[kk * s]);
            }
            if (bad == 1) /* the definition, not inf/inf */
                dx[b * s] += (tg_real)sum_without(x, y, g, s, b, n);
            else if (bad > 1) /* each the same way (n steps each), or NaN past 16 */
                for (int64_t kk = b; kk < n; kk++)
                    if (!isfinite(x[kk * s]))
                        dx[kk * s] += bad <= CUM_BAD ? (tg_real)sum_without(x, y, g, s, kk, n)
                                                     : (tg_real)NAN;
            if (z == n) continue;
            double p = z > 0 ? (double)y[(z - 1) * s] : 1;
            acc = (double)g[z * s] * p;
            for (int64_t j = z + 1; j < n && x[j * s] != 0; j++) {
                p *= (double)x[j * s];
                acc += (double)g[j * s] * p;
            }
            dx[z * s] += (tg_real)acc;
        }
}

/* Without a zero, inf or NaN in x: dx = reverse-cumsum(g·y)/x (PyTorch's
   rule then). Otherwise: dx_k = Σ_j [j ≥ k]·g_j·C[k, j] with C = cumprod of
   the rows that leave x_k out (leave_one_out), as PyTorch's double backward
   does with a zero: the definition, as the fast rule (which gives NaN
   instead at a slice's infs and NaNs when it has more than CUM_BAD of them
   and no zero). */
static int cumprod_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const cum_attr *a = r->attr;
    tg_tensor *x = r->in[0];
    if (x->size == 0) { /* nothing to differentiate */
        dx[0] = tg_zeros(t, x->ndim, x->shape);
        return TG_OK;
    }
    if (x->ndim == 0 || x->shape[a->axis] == 1) { /* y = x, as the fast rule */
        dx[0] = g;
        return TG_OK;
    }
    if (!has_zero(x) && all_finite(x) && !tg_tape_replayable(t)) { /* as prod_vjp */
        dx[0] = tg_div(t, cumsum_dir(t, tg_mul(t, g, r->out), a->axis, true), x);
        return TG_OK;
    }
    int axis;
    unsigned mask = x->ndim ? 1u << a->axis : 0;
    tg_tensor *rows = to_rows(t, x, mask, &axis), *grows = to_rows(t, g, mask, &axis);
    if (!rows || !grows) return TG_ERR_INVALID;
    int64_t B = rows->shape[0], n = rows->shape[1];
    cum_attr last = {2, false};
    tg_tensor *lo = leave_one_out(t, rows);
    tg_tensor *C = tg_apply(t, r->op, &lo, 1, &last); /* [B, k, j] */
    tg_tensor *terms = tg_mul(t, C, tg_reshape(t, grows, TG_SHAPE(B, 1, n)));
    tg_tensor *upper = tg_where(t, square_mask(t, n, true), terms, tg_scalar(t, 0));
    dx[0] = from_rows(t, tg_reduce_over(t, &tg_sum_op, upper, 1u << 2, false, 0), x, axis);
    return TG_OK;
}

const tg_op tg_cumsum_op = {.name = "cumsum", .n_inputs = 1, .attr_size = sizeof(cum_attr),
                            .shape = cum_shape, .forward = cumsum_forward,
                            .backward = cumsum_backward, .vjp = cumsum_vjp,
                            .doc = "cumulative sum along an axis"};
const tg_op tg_cumprod_op = {.name = "cumprod", .n_inputs = 1, .attr_size = sizeof(cum_attr),
                             .shape = cum_shape, .forward = cumprod_forward,
                             .backward = cumprod_backward, .vjp = cumprod_vjp,
                             .doc = "cumulative product along an axis"};

static tg_tensor *cum_apply(tg_tape *t, const tg_op *op, tg_tensor *x, int axis)
{
    if (!x) return tg_null_input(t, op->name);
    cum_attr a = {0, false};
    if (!(x->ndim == 0 && (axis == 0 || axis == -1)) && !tg_axis(axis, x->ndim, &a.axis)) {
        char b[128];
        tg_tape_set_error(t, "tg_%s: axis %d is out of range for shape %s", op->name, axis,
                          tg_shape_str(x, b, sizeof b));
        return NULL;
    }
    return tg_apply(t, op, &x, 1, &a);
}

tg_tensor *tg_cumsum(tg_tape *t, tg_tensor *x, int axis) { return cum_apply(t, &tg_cumsum_op, x, axis); }
tg_tensor *tg_cumprod(tg_tape *t, tg_tensor *x, int axis) { return cum_apply(t, &tg_cumprod_op, x, axis); }

/* ------------------------------------------------------------ prod's op */

REDUCE_OP(prod, tg_reduce_shape, "product over an axis or all")
REDUCE_ONE(prod)
