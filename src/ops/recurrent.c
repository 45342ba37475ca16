/* Recurrent layers over a sequence: the recurrences of nn.RNN (tanh or
   relu), nn.LSTM and nn.GRU, each a fused op for one layer and direction.

   Each op takes the input projection already made for every step at once,
   xg = x·W_ihᵀ + b_ih (one product, tg_linear), and runs the loop over time

       hh_t = h_{t−1}·W_hhᵀ + b_hh      then the cell's pointwise rule on xg_t and hh_t

   Inputs: xg [T, N, G·H] ([N, T, G·H] with batch_first), W_hh [G·H, H],
   b_hh [G·H] or NULL, h0 [N, H] or NULL (zeros), c0 [N, H] or NULL (the
   LSTM's; the others take NULL). G is the number of gates: 1, 4 (LSTM: i,
   f, g, o, PyTorch's order) or 3 (GRU: r, z, n). Output: h_1..h_T as
   [T, N, H] ([N, T, H]); the LSTM's output has one more step, c_T, at time
   T ([T + 1, N, H]), which tg_lstm_recurrence splits off as c_n.

   Backward (the fast kernel) is backpropagation through time over the
   activations the forward saved: per step one product dh_{t−1} = dhh_t·W_hh,
   and after the loop one product dW_hh = Σ_t dhh_tᵀ·h_{t−1} over all T·N
   rows at once, and an accurate column sum for db_hh. The vjp recomputes
   the forward with ops and writes the same recursion with ops (selects,
   linear, sigmoid, tanh, mul, cat), so that create_graph can differentiate
   it again, to any order.

   The float build evaluates eˣ by a polynomial that vectorises (within 2
   ulp; sigmoid within 4 and tanh within 3 ulp of the exact values): libm's
   expf and tanhf are scalar calls, and at small hidden sizes they would
   cost more than the products. The double build calls libm. */
#include "ops/ops_internal.h"
#include "gemm/gemm.h"
#include "ops/fast_act.h" /* act_sigmoid, act_tanh */

/* ------------------------------------------------------- dimensions */

typedef struct {
    int mode;         /* TG_RNN_TANH, TG_RNN_RELU, TG_RNN_LSTM or TG_RNN_GRU */
    bool batch_first; /* xg and the output are [N, T, ...] */
} rnn_attr;

static int gates_of(int mode) { return mode == TG_RNN_LSTM ? 4 : mode == TG_RNN_GRU ? 3 : 1; }

typedef struct {
    int mode, G;
    bool bf;
    int64_t T, N, H, GH; /* steps, batch, hidden size, G·H */
    int64_t To;          /* the output's steps: T, or T + 1 for the LSTM (c_T) */
} rdims;

static rdims dims_of(const tg_record *r)
{
    const rnn_attr *a = r->attr;
    const tg_tensor *xg = r->in[0];
    rdims d = {.mode = a->mode, .G = gates_of(a->mode), .bf = a->batch_first};
    d.T = xg->shape[d.bf ? 1 : 0];
    d.N = xg->shape[d.bf ? 0 : 1];
    d.H = r->in[1]->shape[1];
    d.GH = d.G * d.H;
    d.To = d.T + (d.mode == TG_RNN_LSTM);
    return d;
}

/* Row (t, n) of xg and of the output, counted in rows of their width. */
static inline int64_t xrow(const rdims *d, int64_t t, int64_t n)
{
    return d->bf ? n * d->T + t : t * d->N + n;
}
static inline int64_t orow(const rdims *d, int64_t t, int64_t n)
{
    return d->bf ? n * d->To + t : t * d->N + n;
}

static const char *const rnn_names[] = {"rnn_tanh", "rnn_relu", "lstm", "gru"};

static int rnn_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    const rnn_attr *a = r->attr;
    const tg_tensor *xg = r->in[0], *w = r->in[1], *b = r->in[2], *h0 = r->in[3], *c0 = r->in[4];
    char sx[128], sw[128], s[128];
    if (a->mode < TG_RNN_TANH || a->mode > TG_RNN_GRU) {
        snprintf(msg, len, "unknown mode %d", a->mode);
        return TG_ERR_INVALID;
    }
    int G = gates_of(a->mode);
    if (!w) {
        snprintf(msg, len, "weight_hh is NULL");
        return TG_ERR_INVALID;
    }
    tg_shape_str(xg, sx, sizeof sx);
    tg_shape_str(w, sw, sizeof sw);
    if (w->ndim != 2 || w->shape[1] < 1 || w->shape[0] != G * w->shape[1]) {
        snprintf(msg, len, "weight_hh must be [%s, H] with H ≥ 1 (%s), got %s",
                 G == 1 ? "H" : G == 3 ? "3·H" : "4·H", rnn_names[a->mode], sw);
        return TG_ERR_SHAPE;
    }
    int64_t H = w->shape[1];
    const char *layout = a->batch_first ? "[N, T, G·H] (batch_first)" : "[T, N, G·H]";
    if (xg->ndim != 3 || xg->shape[2] != G * H) {
        snprintf(msg, len, "the input projection must be %s with G·H = %lld for weight_hh %s, "
                           "got %s",
                 layout, (long long)(G * H), sw, sx);
        return TG_ERR_SHAPE;
    }
    int64_t T = xg->shape[a->batch_first ? 1 : 0], N = xg->shape[a->batch_first ? 0 : 1];
    if (T == 0) {
        snprintf(msg, len, "the sequence has length 0 (input projection %s, %s); a recurrence "
                           "needs at least one step, as in PyTorch",
                 sx, layout);
        return TG_ERR_SHAPE;
    }
    if (b && (b->ndim != 1 || b->shape[0] != G * H)) {
        snprintf(msg, len, "bias_hh must be [%lld] for weight_hh %s, got %s", (long long)(G * H),
                 sw, tg_shape_str(b, s, sizeof s));
        return TG_ERR_SHAPE;
    }
    const tg_tensor *st[2] = {h0, c0};
    for (int k = 0; k < 2; k++) {
        if (!st[k]) continue;
        if (k == 1 && a->mode != TG_RNN_LSTM) {
            snprintf(msg, len, "c0 is given, but only an LSTM has a cell state");
            return TG_ERR_INVALID;
        }
        if (st[k]->ndim != 2 || st[k]->shape[0] != N || st[k]->shape[1] != H) {
            snprintf(msg, len, "%s must be [N, H] = [%lld, %lld] for the input projection %s, got %s",
                     k ? "c0" : "h0", (long long)N, (long long)H, sx,
                     tg_shape_str(st[k], s, sizeof s));
            return TG_ERR_SHAPE;
        }
    }
    int64_t To = T + (a->mode == TG_RNN_LSTM);
    *ndim = 3;
    shape[0] = a->batch_first ? N : To;
    shape[1] = a->batch_first ? To : N;
    shape[2] = H;
    return TG_OK;
}

/* ------------------------------------------------- the saved activations

   One block from the record (tg_record_save), in tg_real elements:
     hh     [N, G·H]       the step's h_{t−1}·W_hhᵀ + b_hh
     act    [S, N, A]      LSTM: i, f, g, o (A = 4H); GRU: r, z, n and hh_n (4H); none for RNN
     c, tc  [S, N, H]      LSTM: c_t and tanh(c_t)
     hs     [S, N, H]      h_t, time-major
     zero   [N, H]         the zero state, when h0 or c0 is NULL
   and, when a backward can follow (keep):
     dhh    [T, N, G·H]    d hh_t for every step (for dW_hh and db_hh)
     dh, carry, dc [N, H]  the step's dh_t, the dh carried to t − 1, the dc carried
     dx     [N, G·H]       the GRU's d xg_t (it differs from d hh_t in the n gate)
   S is T when keeping (every step for backward), else 2 (this step and the
   one before, alternately). */
typedef struct {
    tg_real *hh, *act, *c, *tc, *hs, *zero;
    tg_real *dhh, *dh, *carry, *dc, *dx;
    int64_t slots, A;
} rnn_buf;

static inline int64_t slot(const rnn_buf *b, int64_t t) { return b->slots == 2 ? t & 1 : t; }

/* Lays the block out; with `base` NULL only counts. false if the count
   overflows. */
static bool rnn_layout(const rdims *d, bool keep, tg_real *base, rnn_buf *b, size_t *bytes)
{
    int64_t NH = d->N * d->H, NG = d->N * d->GH;
    b->slots = keep ? d->T : 2;
    b->A = d->mode == TG_RNN_LSTM || d->mode == TG_RNN_GRU ? 4 * d->H : 0;
    bool lstm = d->mode == TG_RNN_LSTM;
    int64_t sizes[11] = {NG,
                         0,
                         lstm ? NH : 0,
                         lstm ? NH : 0,
                         NH,
                         NH,
                         keep ? d->T : 0,
                         keep ? NH : 0,
                         keep ? NH : 0,
                         keep ? NH : 0,
                         keep && d->mode == TG_RNN_GRU ? NG : 0};
    int64_t act = 0;
    if (__builtin_mul_overflow(d->N * b->A, b->slots, &act)) return false;
    sizes[1] = act;
    for (int k = 2; k < 5; k++)
        if (__builtin_mul_overflow(sizes[k], b->slots, &sizes[k])) return false;
    if (__builtin_mul_overflow(sizes[6], NG, &sizes[6])) return false;
    tg_real **ptr[11] = {&b->hh, &b->act, &b->c, &b->tc, &b->hs, &b->zero,
                         &b->dhh, &b->dh, &b->carry, &b->dc, &b->dx};
    int64_t total = 0;
    for (int k = 0; k < 11; k++) {
        *ptr[k] = base ? base + total : NULL;
        /* each piece starts a multiple of 16 elements in: 64-byte aligned */
        int64_t padded = (sizes[k] + 15) / 16 * 16;
        if (sizes[k] > INT64_MAX - 15 || __builtin_add_overflow(total, padded, &total))
            return false;
    }
    if (total > (int64_t)(SIZE_MAX / sizeof(tg_real)) - 1) return false;
    *bytes = (size_t)(total ? total : 1) * sizeof(tg_real);
    return true;
}

/* ------------------------------------------------ the cells, row by row */

/* LSTM:  i, f, g, o = σ(xg_i + hh_i), σ(xg_f + hh_f), tanh(xg_g + hh_g), σ(xg_o + hh_o)
          c_t = f·c_{t−1} + i·g        h_t = o·tanh(c_t)
   backward, with dh = ∂L/∂h_t and dc the cell gradient carried from t + 1:
          dc  += dh·o·(1 − tanh² c_t)
          d pre_i = dc·g·i(1 − i)     d pre_f = dc·c_{t−1}·f(1 − f)
          d pre_g = dc·i·(1 − g²)     d pre_o = dh·tanh c_t·o(1 − o)
          dc_{t−1} = dc·f              (d xg_t = d hh_t = d pre) */
TG_VECTOR_LOOP static void lstm_row(tg_real *restrict act, tg_real *restrict c,
                                    tg_real *restrict tc, tg_real *restrict h,
                                    const tg_real *restrict x, const tg_real *restrict hh,
                                    const tg_real *restrict cp, int64_t H)
{
    for (int64_t k = 0; k < H; k++) {
        tg_real i = act_sigmoid(x[k] + hh[k]), f = act_sigmoid(x[H + k] + hh[H + k]);
        tg_real g = act_tanh(x[2 * H + k] + hh[2 * H + k]);
        tg_real o = act_sigmoid(x[3 * H + k] + hh[3 * H + k]);
        tg_real cn = f * cp[k] + i * g, t = act_tanh(cn);
        act[k] = i, act[H + k] = f, act[2 * H + k] = g, act[3 * H + k] = o;
        c[k] = cn, tc[k] = t, h[k] = o * t;
    }
}

TG_VECTOR_LOOP static void lstm_back_row(tg_real *restrict dpre, tg_real *restrict dc,
                                         const tg_real *restrict dh, const tg_real *restrict act,
                                         const tg_real *restrict cp, const tg_real *restrict tc,
                                         int64_t H)
{
    for (int64_t k = 0; k < H; k++) {
        tg_real i = act[k], f = act[H + k], g = act[2 * H + k], o = act[3 * H + k], t = tc[k];
        tg_real d = dc[k] + dh[k] * o * (1 - t * t);
        dpre[k] = d * g * (i * (1 - i));
        dpre[H + k] = d * cp[k] * (f * (1 - f));
        dpre[2 * H + k] = d * i * (1 - g * g);
        dpre[3 * H + k] = dh[k] * t * (o * (1 - o));
        dc[k] = d * f;
    }
}

/* GRU (PyTorch's form, b_hn inside the reset gate):
          r = σ(xg_r + hh_r)    z = σ(xg_z + hh_z)    n = tanh(xg_n + r·hh_n)
          h_t = (h_{t−1} − n)·z + n
   backward, with dh = ∂L/∂h_t:
          d pre_n = dh·(1 − z)·(1 − n²)     d pre_z = dh·(h_{t−1} − n)·z(1 − z)
          d pre_r = d pre_n·hh_n·r(1 − r)
          d xg_t = (d pre_r, d pre_z, d pre_n)    d hh_t = (d pre_r, d pre_z, d pre_n·r)
          dh_{t−1} = dh·z + d hh_t·W_hh */
TG_VECTOR_LOOP static void gru_row(tg_real *restrict act, tg_real *restrict h,
                                   const tg_real *restrict x, const tg_real *restrict hh,
                                   const tg_real *restrict hp, int64_t H)
{
    for (int64_t k = 0; k < H; k++) {
        tg_real r = act_sigmoid(x[k] + hh[k]), z = act_sigmoid(x[H + k] + hh[H + k]);
        tg_real n = act_tanh(x[2 * H + k] + r * hh[2 * H + k]);
        act[k] = r, act[H + k] = z, act[2 * H + k] = n, act[3 * H + k] = hh[2 * H + k];
        h[k] = (hp[k] - n) * z + n;
    }
}

TG_VECTOR_LOOP static void gru_back_row(tg_real *restrict dx, tg_real *restrict dhh,
                                        tg_real *restrict carry, const tg_real *restrict dh,
                                        const tg_real *restrict act, const tg_real *restrict hp,
                                        int64_t H)
{
    for (int64_t k = 0; k < H; k++) {
        tg_real r = act[k], z = act[H + k], n = act[2 * H + k], hn = act[3 * H + k];
        tg_real dn = dh[k] * (1 - z) * (1 - n * n);
        tg_real dz = dh[k] * (hp[k] - n) * (z * (1 - z));
        tg_real dr = dn * hn * (r * (1 - r));
        dx[k] = dhh[k] = dr;
        dx[H + k] = dhh[H + k] = dz;
        dx[2 * H + k] = dn;
        dhh[2 * H + k] = dn * r;
        carry[k] = dh[k] * z;
    }
}

/* RNN:   h_t = tanh(xg_t + hh_t)  or relu(xg_t + hh_t)
   backward: d pre = dh·(1 − h_t²), or dh where h_t > 0 else 0 (0 at the kink,
   as PyTorch);  d xg_t = d hh_t = d pre */
TG_VECTOR_LOOP static void rnn_row(tg_real *restrict h, const tg_real *restrict x,
                                   const tg_real *restrict hh, int64_t H, bool relu)
{
    if (relu)
        for (int64_t k = 0; k < H; k++) {
            tg_real v = x[k] + hh[k];
            h[k] = v <= 0 ? 0 : v; /* NaN passes */
        }
    else
        for (int64_t k = 0; k < H; k++) h[k] = act_tanh(x[k] + hh[k]);
}

TG_VECTOR_LOOP static void rnn_back_row(tg_real *restrict dpre, const tg_real *restrict dh,
                                        const tg_real *restrict h, int64_t H, bool relu)
{
    if (relu)
        for (int64_t k = 0; k < H; k++) dpre[k] = h[k] > 0 ? dh[k] : 0;
    else
        for (int64_t k = 0; k < H; k++) dpre[k] = dh[k] * (1 - h[k] * h[k]);
}

TG_VECTOR_LOOP static void rec_add_into(tg_real *restrict y, const tg_real *restrict x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

/* --------------------------------------------------------- forward */

static bool needs_grad_in(const tg_record *r)
{
    for (int k = 0; k < 5; k++)
        if (r->in[k] && (r->in[k]->flags & TG_REQUIRES_GRAD)) return true;
    return false;
}

static int rnn_forward(tg_record *r)
{
    rdims d = dims_of(r);
    /* a backward can follow: the op is (or is being re-run as) a record */
    bool keep = needs_grad_in(r) && (tg_tape_is_recording(r->tape) || r->index >= 0);
    rnn_buf b;
    size_t bytes;
    if (!rnn_layout(&d, keep, NULL, &b, &bytes)) return TG_ERR_NOMEM;
    tg_real *base = tg_record_save(r, bytes);
    if (!base) return TG_ERR_NOMEM;
    rnn_layout(&d, keep, base, &b, &bytes);

    const tg_tensor *xg = r->in[0], *W = r->in[1], *bias = r->in[2], *h0 = r->in[3], *c0 = r->in[4];
    int64_t N = d.N, H = d.H, GH = d.GH, NH = N * H;
    memset(b.zero, 0, (size_t)NH * sizeof(tg_real));
    tg_real *out = r->out->data;
    for (int64_t t = 0; t < d.T; t++) {
        int64_t s = slot(&b, t), sp = slot(&b, t - 1);
        const tg_real *hp = t ? b.hs + sp * NH : h0 ? h0->data : b.zero; /* [N, H] */
        /* hh = h_{t−1}·W_hhᵀ + b_hh */
        if (N > 0) tg_gemm(false, true, N, GH, H, 1, hp, H, W->data, H, 0, b.hh, GH);
        if (bias)
            for (int64_t n = 0; n < N; n++) rec_add_into(b.hh + n * GH, bias->data, GH);
        tg_real *hs = b.hs + s * NH;
        for (int64_t n = 0; n < N; n++) {
            const tg_real *x = xg->data + xrow(&d, t, n) * GH, *hh = b.hh + n * GH;
            tg_real *h = hs + n * H;
            if (d.mode == TG_RNN_LSTM) {
                const tg_real *cp = t ? b.c + sp * NH : c0 ? c0->data : b.zero;
                lstm_row(b.act + (s * N + n) * b.A, b.c + s * NH + n * H, b.tc + s * NH + n * H,
                         h, x, hh, cp + n * H, H);
            } else if (d.mode == TG_RNN_GRU) {
                gru_row(b.act + (s * N + n) * b.A, h, x, hh, hp + n * H, H);
            } else {
                rnn_row(h, x, hh, H, d.mode == TG_RNN_RELU);
            }
            memcpy(out + orow(&d, t, n) * H, h, (size_t)H * sizeof(tg_real));
        }
    }
    if (d.mode == TG_RNN_LSTM) /* c_T as the output's last step */
        for (int64_t n = 0; n < N; n++)
            memcpy(out + orow(&d, d.T, n) * H, b.c + slot(&b, d.T - 1) * NH + n * H,
                   (size_t)H * sizeof(tg_real));
    return TG_OK;
}

/* --------------------------------------------------------- backward */

static void rnn_backward(tg_record *r)
{
    rdims d = dims_of(r);
    rnn_buf b;
    size_t bytes;
    rnn_layout(&d, true, r->saved, &b, &bytes);
    tg_tensor *xg = r->in[0], *W = r->in[1], *bias = r->in[2], *h0 = r->in[3], *c0 = r->in[4];
    int64_t N = d.N, H = d.H, GH = d.GH, NH = N * H, T = d.T;
    const tg_real *g = r->out->grad;
    if (N == 0) return;
    memset(b.carry, 0, (size_t)NH * sizeof(tg_real));
    if (d.mode == TG_RNN_LSTM) /* the gradient of c_T, the output's last step */
        for (int64_t n = 0; n < N; n++)
            memcpy(b.dc + n * H, g + orow(&d, T, n) * H, (size_t)H * sizeof(tg_real));
    for (int64_t t = T - 1; t >= 0; t--) {
        const tg_real *hp = t ? b.hs + (t - 1) * NH : h0 ? h0->data : b.zero;
        tg_real *dhh = b.dhh + t * N * GH; /* [N, G·H] */
        for (int64_t n = 0; n < N; n++) { /* dh_t = ∂L/∂out_t + what step t + 1 sends */
            const tg_real *go = g + orow(&d, t, n) * H;
            for (int64_t k = 0; k < H; k++) b.dh[n * H + k] = go[k] + b.carry[n * H + k];
        }
        for (int64_t n = 0; n < N; n++) {
            const tg_real *dh = b.dh + n * H;
            tg_real *dhh_n = dhh + n * GH;
            const tg_real *dx = dhh_n;
            if (d.mode == TG_RNN_LSTM) {
                const tg_real *cp = t ? b.c + (t - 1) * NH : c0 ? c0->data : b.zero;
                lstm_back_row(dhh_n, b.dc + n * H, dh, b.act + (t * N + n) * b.A, cp + n * H,
                              b.tc + t * NH + n * H, H);
            } else if (d.mode == TG_RNN_GRU) {
                gru_back_row(b.dx + n * GH, dhh_n, b.carry + n * H, dh,
                             b.act + (t * N + n) * b.A, hp + n * H, H);
                dx = b.dx + n * GH;
            } else {
                rnn_back_row(dhh_n, dh, b.hs + t * NH + n * H, H, d.mode == TG_RNN_RELU);
            }
            if (xg->grad) rec_add_into(xg->grad + xrow(&d, t, n) * GH, dx, GH);
        }
        /* dh_{t−1} = d hh_t·W_hh (+ dh·z, already in carry, for the GRU) */
        if (t > 0 || (h0 && h0->grad))
            tg_gemm(false, false, N, H, GH, 1, dhh, GH, W->data, H,
                    d.mode == TG_RNN_GRU ? 1 : 0, b.carry, H);
    }
    if (h0 && h0->grad) rec_add_into(h0->grad, b.carry, NH);
    if (c0 && c0->grad) rec_add_into(c0->grad, b.dc, NH);
    /* dW_hh = Σ_t d hh_tᵀ·h_{t−1}: step 0 against h0, the rest in one product */
    if (W->grad) {
        if (h0) tg_gemm(true, false, GH, H, N, 1, b.dhh, GH, h0->data, H, 1, W->grad, H);
        if (T > 1)
            tg_gemm(true, false, GH, H, (T - 1) * N, 1, b.dhh + N * GH, GH, b.hs, H, 1, W->grad, H);
    }
    if (bias && bias->grad) tg_sum_rows(bias->grad, b.dhh, T * N, GH, GH, 1, true);
}

/* ------------------------------------------------------------- vjp */

static tg_tensor *one_minus(tg_tape *t, tg_tensor *x) { return tg_add_scalar(t, tg_neg(t, x), 1); }

/* σ'(pre) written with σ's output s: s·(1 − s) */
static tg_tensor *dsig(tg_tape *t, tg_tensor *s) { return tg_mul(t, s, one_minus(t, s)); }

/* The forward again with ops (each step's values kept in `k`), then the
   backward recursion above with ops, from g = ∂L/∂out. */
static int rnn_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    rdims d = dims_of(r);
    tg_tensor *xg = r->in[0], *W = r->in[1], *bias = r->in[2], *h0 = r->in[3], *c0 = r->in[4];
    int ax = d.bf ? 1 : 0; /* the time axis of xg and of the output */
    int64_t T = d.T, H = d.H;
    /* per step: hp = h_{t−1}, and a..e the cell's values (LSTM: i, f, g, o,
       c_{t−1}, tanh c_t; GRU: r, z, n, hh_n; RNN: h_t) */
    enum { HP, A, B, C, D, E, F, NK };
    tg_tensor **k = tg_tape_alloc_for_op(t, r->op, (size_t)(NK + 2) * (size_t)T * sizeof *k);
    if (!k) return TG_ERR_NOMEM;
    tg_tensor **dX = k + NK * T, **dHH = dX + T;
#define K(j, s) k[(j) * T + (s)]
    tg_tensor *h = h0 ? h0 : tg_zeros(t, TG_SHAPE(d.N, H));
    tg_tensor *c = d.mode != TG_RNN_LSTM ? NULL : c0 ? c0 : tg_zeros(t, TG_SHAPE(d.N, H));
    for (int64_t s = 0; s < T; s++) {
        tg_tensor *x = tg_select(t, xg, ax, s), *hh = tg_linear(t, h, W, bias); /* [N, G·H] */
        K(HP, s) = h;
        if (d.mode == TG_RNN_LSTM) {
            tg_tensor *pre = tg_add(t, x, hh);
            K(A, s) = tg_sigmoid(t, tg_narrow(t, pre, 1, 0, H));
            K(B, s) = tg_sigmoid(t, tg_narrow(t, pre, 1, H, H));
            K(C, s) = tg_tanh(t, tg_narrow(t, pre, 1, 2 * H, H));
            K(D, s) = tg_sigmoid(t, tg_narrow(t, pre, 1, 3 * H, H));
            K(E, s) = c;
            c = tg_add(t, tg_mul(t, K(B, s), c), tg_mul(t, K(A, s), K(C, s)));
            K(F, s) = tg_tanh(t, c);
            h = tg_mul(t, K(D, s), K(F, s));
        } else if (d.mode == TG_RNN_GRU) {
            K(A, s) = tg_sigmoid(t, tg_add(t, tg_narrow(t, x, 1, 0, H), tg_narrow(t, hh, 1, 0, H)));
            K(B, s) = tg_sigmoid(t, tg_add(t, tg_narrow(t, x, 1, H, H), tg_narrow(t, hh, 1, H, H)));
            K(D, s) = tg_narrow(t, hh, 1, 2 * H, H);
            K(C, s) = tg_tanh(t, tg_add(t, tg_narrow(t, x, 1, 2 * H, H), tg_mul(t, K(A, s), K(D, s))));
            h = tg_add(t, tg_mul(t, tg_sub(t, h, K(C, s)), K(B, s)), K(C, s));
        } else {
            tg_tensor *pre = tg_add(t, x, hh);
            h = d.mode == TG_RNN_RELU ? tg_relu(t, pre) : tg_tanh(t, pre);
            K(A, s) = h;
        }
    }
    tg_tensor *dh = NULL, *dc = d.mode == TG_RNN_LSTM ? tg_select(t, g, ax, T) : NULL;
    for (int64_t s = T - 1; s >= 0; s--) {
        tg_tensor *gs = tg_select(t, g, ax, s);
        tg_tensor *dht = dh ? tg_add(t, gs, dh) : gs;
        if (d.mode == TG_RNN_LSTM) {
            tg_tensor *i = K(A, s), *f = K(B, s), *gg = K(C, s), *o = K(D, s), *tc = K(F, s);
            dc = tg_add(t, dc, tg_mul(t, tg_mul(t, dht, o), one_minus(t, tg_square(t, tc))));
            tg_tensor *parts[4] = {tg_mul(t, tg_mul(t, dc, gg), dsig(t, i)),
                                   tg_mul(t, tg_mul(t, dc, K(E, s)), dsig(t, f)),
                                   tg_mul(t, tg_mul(t, dc, i), one_minus(t, tg_square(t, gg))),
                                   tg_mul(t, tg_mul(t, dht, tc), dsig(t, o))};
            dX[s] = dHH[s] = tg_cat(t, parts, 4, 1);
            dc = tg_mul(t, dc, f);
            dh = tg_matmul(t, dHH[s], W);
        } else if (d.mode == TG_RNN_GRU) {
            tg_tensor *rr = K(A, s), *z = K(B, s), *n = K(C, s), *hn = K(D, s);
            tg_tensor *dn = tg_mul(t, tg_mul(t, dht, one_minus(t, z)),
                                   one_minus(t, tg_square(t, n)));
            tg_tensor *dz = tg_mul(t, tg_mul(t, dht, tg_sub(t, K(HP, s), n)), dsig(t, z));
            tg_tensor *dr = tg_mul(t, tg_mul(t, dn, hn), dsig(t, rr));
            tg_tensor *px[3] = {dr, dz, dn}, *ph[3] = {dr, dz, tg_mul(t, dn, rr)};
            dX[s] = tg_cat(t, px, 3, 1);
            dHH[s] = tg_cat(t, ph, 3, 1);
            dh = tg_add(t, tg_mul(t, dht, z), tg_matmul(t, dHH[s], W));
        } else {
            tg_tensor *hs = K(A, s);
            dX[s] = dHH[s] = d.mode == TG_RNN_RELU
                                 ? tg_where(t, tg_gt(t, hs, tg_scalar(t, 0)), dht, tg_scalar(t, 0))
                                 : tg_mul(t, dht, one_minus(t, tg_square(t, hs)));
            dh = tg_matmul(t, dHH[s], W);
        }
    }
    if (xg->flags & TG_REQUIRES_GRAD) dx[0] = tg_stack(t, dX, (int)T, ax);
    bool dw = W->flags & TG_REQUIRES_GRAD, db = bias && (bias->flags & TG_REQUIRES_GRAD);
    if (dw || db) {
        tg_tensor *all = tg_cat(t, dHH, (int)T, 0); /* [T·N, G·H] */
        if (dw) dx[1] = tg_matmul_t(t, all, tg_cat(t, &K(HP, 0), (int)T, 0), true, false);
        if (db) dx[2] = tg_sum(t, all, 0, false);
    }
    if (h0 && (h0->flags & TG_REQUIRES_GRAD)) dx[3] = dh;
    if (c0 && (c0->flags & TG_REQUIRES_GRAD)) dx[4] = dc;
#undef K
    return TG_OK;
}

#define RNN_OP(NAME, DOC)                                                                \
    static const tg_op op_##NAME = {.name = #NAME, .n_inputs = 5,                        \
                                    .attr_size = sizeof(rnn_attr), .shape = rnn_shape,   \
                                    .forward = rnn_forward, .backward = rnn_backward,    \
                                    .vjp = rnn_vjp, .doc = DOC};
RNN_OP(rnn_recurrence, "h_t = act(xg_t + h_{t-1} W_hh^T + b_hh), act tanh or relu")
RNN_OP(lstm_recurrence, "an LSTM layer's loop over time (gates i, f, g, o); output h_1..h_T, c_T")
RNN_OP(gru_recurrence, "a GRU layer's loop over time (gates r, z, n; b_hn inside r)")

/* ------------------------------------------------------------ public */

static tg_tensor *recur(tg_tape *t, const tg_op *op, int mode, tg_tensor *xg, tg_tensor *w_hh,
                        tg_tensor *b_hh, tg_tensor *h0, tg_tensor *c0, bool batch_first)
{
    tg_tensor *in[5] = {xg, w_hh, b_hh, h0, c0};
    rnn_attr a = {mode, batch_first};
    return tg_apply(t, op, in, 5, &a);
}

tg_tensor *tg_rnn_recurrence(tg_tape *t, tg_tensor *xg, tg_tensor *w_hh, tg_tensor *b_hh,
                             tg_tensor *h0, tg_rnn_mode nonlinearity, bool batch_first)
{
    if (t && nonlinearity != TG_RNN_TANH && nonlinearity != TG_RNN_RELU) {
        tg_tape_set_error(t, "tg_rnn_recurrence: the nonlinearity must be TG_RNN_TANH or "
                             "TG_RNN_RELU, got %d",
                          (int)nonlinearity);
        return NULL;
    }
    return recur(t, &op_rnn_recurrence, nonlinearity, xg, w_hh, b_hh, h0, NULL, batch_first);
}

tg_tensor *tg_gru_recurrence(tg_tape *t, tg_tensor *xg, tg_tensor *w_hh, tg_tensor *b_hh,
                             tg_tensor *h0, bool batch_first)
{
    return recur(t, &op_gru_recurrence, TG_RNN_GRU, xg, w_hh, b_hh, h0, NULL, batch_first);
}

tg_tensor *tg_lstm_recurrence(tg_tape *t, tg_tensor *xg, tg_tensor *w_hh, tg_tensor *b_hh,
                              tg_tensor *h0, tg_tensor *c0, bool batch_first, tg_tensor **c_n)
{
    if (c_n) *c_n = NULL;
    tg_tensor *y = recur(t, &op_lstm_recurrence, TG_RNN_LSTM, xg, w_hh, b_hh, h0, c0, batch_first);
    if (!y) return NULL;
    int ax = batch_first ? 1 : 0;
    int64_t T = y->shape[ax] - 1;
    tg_tensor *c = c_n ? tg_select(t, y, ax, T) : NULL, *h = tg_narrow(t, y, ax, 0, T);
    if (!h || (c_n && !c)) return NULL; /* not h without c, nor c without h */
    if (c_n) *c_n = c;
    return h;
}

/* ------------------------------------------------------------- cells */

/* A cell: x [N, in] (or [in], unbatched) through one step of the
   recurrence, as a sequence of length 1. */
static tg_tensor *cell(tg_tape *t, const char *fn, int mode, tg_tensor *x, tg_tensor *h,
                       tg_tensor *c, tg_tensor *w_ih, tg_tensor *w_hh, tg_tensor *b_ih,
                       tg_tensor *b_hh, tg_tensor **c_out)
{
    if (c_out) *c_out = NULL;
    if (!x || !w_ih || !w_hh) return tg_null_input(t, fn + 3);
    if (!t) return tg_no_tape(fn);
    char sx[96], sh[96];
    bool one = x->ndim == 1;
    if (x->ndim != 1 && x->ndim != 2) {
        tg_tape_set_error(t, "%s: the input must be [N, input_size] or [input_size], got %s", fn,
                          tg_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    tg_tensor *st[2] = {h, c};
    for (int k = 0; k < 2; k++)
        if (st[k] && st[k]->ndim != x->ndim) {
            tg_tape_set_error(t, "%s: %s %s must have the input's %d dimension%s (input %s)", fn,
                              k ? "c" : "h", tg_shape_str(st[k], sh, sizeof sh), x->ndim,
                              x->ndim == 1 ? "" : "s", tg_shape_str(x, sx, sizeof sx));
            return NULL;
        }
    int64_t N = one ? 1 : x->shape[0], H = w_hh->ndim == 2 ? w_hh->shape[1] : -1;
    for (int k = 0; k < 2; k++)
        if (st[k] && st[k]->shape[st[k]->ndim - 1] != H) {
            tg_tape_set_error(t, "%s: %s %s does not fit weight_hh %s ([G·H, H]: H = %lld)", fn,
                              k ? "c" : "h", tg_shape_str(st[k], sh, sizeof sh),
                              tg_shape_str(w_hh, sx, sizeof sx), (long long)H);
            return NULL;
        }
    tg_tensor *xg = tg_linear(t, x, w_ih, b_ih); /* [N, G·H] or [G·H] */
    if (!xg) return NULL;
    xg = tg_reshape(t, xg, TG_SHAPE(1, N, xg->shape[xg->ndim - 1]));
    for (int k = 0; k < 2; k++) /* a state that failed is not a zero state: stop */
        if (st[k] && one && !(st[k] = tg_reshape(t, st[k], TG_SHAPE(1, st[k]->shape[0]))))
            return NULL;
    tg_tensor *y = NULL, *cn = NULL;
    if (mode == TG_RNN_LSTM) y = tg_lstm_recurrence(t, xg, w_hh, b_hh, st[0], st[1], false, &cn);
    else if (mode == TG_RNN_GRU) y = tg_gru_recurrence(t, xg, w_hh, b_hh, st[0], false);
    else y = tg_rnn_recurrence(t, xg, w_hh, b_hh, st[0], (tg_rnn_mode)mode, false);
    if (!y) return NULL;
    H = y->shape[2];
    y = one ? tg_reshape(t, y, TG_SHAPE(H)) : tg_reshape(t, y, TG_SHAPE(N, H));
    tg_tensor *c1 = c_out && cn && one ? tg_reshape(t, cn, TG_SHAPE(H)) : cn;
    if (!y || (c_out && cn && !c1)) return NULL; /* not h' without the c' asked for */
    if (c_out) *c_out = c1;
    return y;
}

tg_tensor *tg_rnn_cell(tg_tape *t, tg_tensor *x, tg_tensor *h, tg_tensor *w_ih, tg_tensor *w_hh,
                       tg_tensor *b_ih, tg_tensor *b_hh, tg_rnn_mode nonlinearity)
{
    if (t && nonlinearity != TG_RNN_TANH && nonlinearity != TG_RNN_RELU) {
        tg_tape_set_error(t, "tg_rnn_cell: the nonlinearity must be TG_RNN_TANH or "
                             "TG_RNN_RELU, got %d",
                          (int)nonlinearity);
        return NULL;
    }
    return cell(t, "tg_rnn_cell", nonlinearity, x, h, NULL, w_ih, w_hh, b_ih, b_hh, NULL);
}

tg_tensor *tg_lstm_cell(tg_tape *t, tg_tensor *x, tg_tensor *h, tg_tensor *c, tg_tensor *w_ih,
                        tg_tensor *w_hh, tg_tensor *b_ih, tg_tensor *b_hh, tg_tensor **c_out)
{
    return cell(t, "tg_lstm_cell", TG_RNN_LSTM, x, h, c, w_ih, w_hh, b_ih, b_hh, c_out);
}

tg_tensor *tg_gru_cell(tg_tape *t, tg_tensor *x, tg_tensor *h, tg_tensor *w_ih, tg_tensor *w_hh,
                       tg_tensor *b_ih, tg_tensor *b_hh)
{
    return cell(t, "tg_gru_cell", TG_RNN_GRU, x, h, NULL, w_ih, w_hh, b_ih, b_hh, NULL);
}

static const tg_op *const recurrent_ops[] = {&op_rnn_recurrence, &op_lstm_recurrence,
                                             &op_gru_recurrence};
const tg_op_table tg_recurrent_ops = {recurrent_ops, sizeof recurrent_ops / sizeof *recurrent_ops};
