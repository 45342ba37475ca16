/* Convolutions: conv1d and conv2d, their transposes conv_transpose1d and
   conv_transpose2d, and the weight gradient conv1d_weight and conv2d_weight
   (torch.nn.grad's), each with forward, backward and vjp.

   One geometry serves all six. A convolution maps an input x [N, C, H, W]
   to an output y [N, O, OH, OW] with a weight w [O, C/G, kh, kw] (G groups:
   output channel o sees the C/G input channels of its group):
     y[n,o,p,q] = b[o] + Σ_{c,i,j} w[o,c,i,j] · x[n, c', p·sh + i·dh − ph, q·sw + j·dw − pw]
   with c' = c + (C/G)·(group of o), x = 0 outside (the padding). A 1-D op is
   the same with H = OH = kh = 1. The convolution is bilinear, and
     ⟨g, conv(x, w)⟩ = ⟨convᵀ(g, w), x⟩ = ⟨conv_weight(x, g), w⟩,
   which defines the other two ops (conv_transpose maps the output's side
   to the input's side; conv_weight gives a weight) and makes each op's
   gradients the other ops (PyTorch's derivatives.yaml):
     conv            y = conv(x, w) + b     dx = convᵀ(g, w)    dw = conv_weight(x, g)   db = Σ g
     conv_transpose  y = convᵀ(x, w) + b    dx = conv(g, w)     dw = conv_weight(g, x)   db = Σ g
     conv_weight     W = conv_weight(x, go) dx = convᵀ(go, G)   dgo = conv(x, G)
   so every order of derivative is these three ops again.

   The kernels (forward and backward of the three ops): im2col, then
   tg_gemm. The patches of one sample and one group are a matrix col [K,
   OH·OW], K = (C/G)·kh·kw, with
     col[(c·kh + i)·kw + j][p·OW + q] = x[c][p·sh + i·dh − ph][q·sw + j·dw − pw]
   (0 in the padding), so that the group's output is W_g [O/G, K] · col, the
   input gradient is col2im(W_gᵀ · g) (col2im adds each column back where
   im2col took it from), and the weight gradient is g · colᵀ. Several
   samples sit side by side in col (column s·OH·OW + p), so that a product
   has about CONV_COLS columns even for small outputs. A 1x1 kernel with
   stride 1 and no padding needs no im2col: the input is its own col, and
   the forward of any other convolution of stride 1 reads its patches in
   place, from a padded image of each sample ("rows", below).
   The scratch (col, a staging matrix for several samples, and for rows a
   padded image and a wide output) is taken from the tape by the forward, which keeps it for the backward: a backward
   allocates nothing. */
#include "ops/ops_internal.h"
#include "gemm/gemm.h" /* tg_gemm */

#include <limits.h>

/* ------------------------------------------------------------- attributes */

/* Entries [0] are the height, [1] the width; a 1-D op has the height's at
   stride 1, dilation 1, no padding. */
typedef struct {
    int nsp;                       /* spatial dimensions: 1 or 2 */
    int64_t stride[2], dilation[2];
    int64_t pad_lo[2], pad_hi[2];  /* zeros before and after (pad_hi < 0 inside a vjp:
                                      an output cut short, see conv_transpose_vjp) */
    int64_t out_pad[2];            /* conv_transpose: extra output at the end */
    int64_t groups;
    int64_t wshape[4];             /* conv_weight: the weight's shape [O, C/G, kh, kw] */
} conv_attr;

#define CONV_MAX_ATTR ((int64_t)INT32_MAX) /* stride, dilation, padding, groups */
#define CONV_COLS 512                      /* columns a product aims for */
#define CONV_CHUNK_MAX ((int64_t)1 << 24)  /* scratch elements for a chunk of samples */

/* [N, C, H, W] of a tensor of 1 or 2 spatial dimensions (H = 1 for 1-D);
   the same for a weight [O, C/G, kh, kw]. */
static void dims4(const tg_tensor *x, int nsp, int64_t d[4])
{
    d[0] = x->shape[0], d[1] = x->shape[1];
    d[2] = nsp == 2 ? x->shape[2] : 1;
    d[3] = x->shape[nsp + 1];
}

/* The dilated kernel d·(k − 1) + 1 into *out; false if it overflows. */
static bool dilated(int64_t k, int64_t d, int64_t *out)
{
    int64_t span;
    if (__builtin_mul_overflow(d, k - 1, &span) || span > INT64_MAX - 1) return false;
    *out = span + 1;
    return true;
}

/* The output length of a convolution along one dimension, or -1 when the
   padded input is shorter than the dilated kernel (or a size overflows). */
static int64_t conv_len(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pl, int64_t ph)
{
    int64_t dk, padded;
    if (!dilated(k, d, &dk) || __builtin_add_overflow(in, pl, &padded) ||
        __builtin_add_overflow(padded, ph, &padded) || padded < dk)
        return -1;
    return (padded - dk) / s + 1;
}

/* The output length of a transposed convolution: (in − 1)·s − pl − ph +
   d·(k − 1) + out_pad + 1, or -1 if it overflows. */
static int64_t conv_transpose_len(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pl,
                                  int64_t ph, int64_t op)
{
    int64_t v, dk;
    if (__builtin_mul_overflow(in - 1, s, &v) || !dilated(k, d, &dk) ||
        __builtin_sub_overflow(v, pl, &v) || __builtin_sub_overflow(v, ph, &v) ||
        __builtin_add_overflow(v, dk, &v) || __builtin_add_overflow(v, op, &v))
        return -1;
    return v;
}

/* "[N, C, L]" or "[N, C, H, W]" in messages */
static const char *x_form(int nsp) { return nsp == 1 ? "[N, C, L]" : "[N, C, H, W]"; }
static const char *x_forms(int nsp)
{
    return nsp == 1 ? "[N, C, L] (or [C, L])" : "[N, C, H, W] (or [C, H, W])";
}
static const char *w_form(int nsp) { return nsp == 1 ? "[O, C/groups, k]" : "[O, C/groups, kH, kW]"; }

/* The kernel's spatial sizes are at least 1 (0 would be no kernel at all). */
static bool kernel_ok(const int64_t w4[4], char *msg, size_t len)
{
    if (w4[2] >= 1 && w4[3] >= 1) return true;
    snprintf(msg, len, "the kernel's size must be at least 1, got %lld x %lld", (long long)w4[2],
             (long long)w4[3]);
    return false;
}

/* Checks the channels of a convolution with input channels C, weight
   [O, Cg, ...] and the attribute's groups. */
static bool channels_ok(const conv_attr *a, int64_t C, const tg_tensor *w, char *msg, size_t len)
{
    char sw[96];
    int64_t O = w->shape[0], Cg = w->shape[1];
    if (O % a->groups != 0) {
        snprintf(msg, len, "weight %s has %lld output channels, not divisible by groups = %lld",
                 tg_shape_str(w, sw, sizeof sw), (long long)O, (long long)a->groups);
        return false;
    }
    if (Cg * a->groups != C) {
        snprintf(msg, len,
                 "weight %s with groups = %lld expects %lld input channels, the input has %lld",
                 tg_shape_str(w, sw, sizeof sw), (long long)a->groups,
                 (long long)(Cg * a->groups), (long long)C);
        return false;
    }
    return true;
}

static bool bias_ok(const tg_tensor *b, int64_t n, char *msg, size_t len)
{
    if (!b || (b->ndim == 1 && b->shape[0] == n)) return true;
    char sb[96];
    snprintf(msg, len, "bias %s does not match %lld output channels (needs [%lld])",
             tg_shape_str(b, sb, sizeof sb), (long long)n, (long long)n);
    return false;
}

/* The output sizes of a convolution of x4 by w4 into out[2], with the
   message for a kernel larger than the padded input. */
static bool conv_sizes(const conv_attr *a, const int64_t x4[4], const int64_t w4[4],
                       int64_t out[2], char *msg, size_t len)
{
    for (int d = 0; d < 2; d++) {
        out[d] = conv_len(x4[2 + d], w4[2 + d], a->stride[d], a->dilation[d], a->pad_lo[d],
                          a->pad_hi[d]);
        if (out[d] < 0) {
            int64_t pad[2], dk[2];
            for (int e = 0; e < 2; e++) {
                pad[e] = x4[2 + e] + a->pad_lo[e] + a->pad_hi[e];
                dk[e] = dilated(w4[2 + e], a->dilation[e], &dk[e]) ? dk[e] : -1;
            }
            if (a->nsp == 1)
                snprintf(msg, len,
                         "the padded input (length %lld) is shorter than the kernel (%lld after "
                         "dilation)",
                         (long long)pad[1], (long long)dk[1]);
            else
                snprintf(msg, len,
                         "the padded input (%lld x %lld) is smaller than the kernel (%lld x %lld "
                         "after dilation)",
                         (long long)pad[0], (long long)pad[1], (long long)dk[0],
                         (long long)dk[1]);
            return false;
        }
    }
    return true;
}

/* Writes [N, ch, h, w] (or [N, ch, w] for 1-D) as a shape. */
static void put_shape(int nsp, int64_t N, int64_t ch, const int64_t hw[2], int *ndim,
                      int64_t shape[TG_MAX_DIMS])
{
    *ndim = nsp + 2;
    shape[0] = N, shape[1] = ch;
    if (nsp == 2) shape[2] = hw[0];
    shape[nsp + 1] = hw[1];
}

/* Ranks of the input and the weight. */
static bool ranks_ok(const conv_attr *a, const tg_tensor *x, const tg_tensor *w, const char *xn,
                     char *msg, size_t len)
{
    if (x->ndim == a->nsp + 2 && w->ndim == a->nsp + 2) return true;
    char sx[96], sw[96];
    snprintf(msg, len, "needs %s %s and weight %s, got %s and %s", xn, x_forms(a->nsp),
             w_form(a->nsp), tg_shape_str(x, sx, sizeof sx), tg_shape_str(w, sw, sizeof sw));
    return false;
}

/* conv: x [N, C, H, W], w [O, C/G, kh, kw], b [O] or NULL -> [N, O, OH, OW] */
static int conv_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                      size_t len)
{
    const conv_attr *a = r->attr;
    const tg_tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
    if (!w) {
        snprintf(msg, len, "the weight is NULL");
        return TG_ERR_INVALID;
    }
    if (!ranks_ok(a, x, w, "input", msg, len)) return TG_ERR_SHAPE;
    int64_t x4[4], w4[4], out[2];
    dims4(x, a->nsp, x4);
    dims4(w, a->nsp, w4);
    if (!kernel_ok(w4, msg, len) || !channels_ok(a, x4[1], w, msg, len) ||
        !conv_sizes(a, x4, w4, out, msg, len) || !bias_ok(b, w4[0], msg, len))
        return TG_ERR_SHAPE;
    put_shape(a->nsp, x4[0], w4[0], out, ndim, shape);
    return TG_OK;
}

/* conv_transpose: x [N, O, OH, OW], w [O, C/G, kh, kw], b [C] or NULL -> [N, C, H, W] */
static int conv_transpose_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS],
                                char *msg, size_t len)
{
    const conv_attr *a = r->attr;
    const tg_tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
    if (!w) {
        snprintf(msg, len, "the weight is NULL");
        return TG_ERR_INVALID;
    }
    char sx[96], sw[96];
    if (x->ndim != a->nsp + 2 || w->ndim != a->nsp + 2) {
        snprintf(msg, len, "needs input %s and weight %s, got %s and %s",
                 a->nsp == 1 ? "[N, C_in, L] (or [C_in, L])" : "[N, C_in, H, W] (or [C_in, H, W])",
                 a->nsp == 1 ? "[C_in, C_out/groups, k]" : "[C_in, C_out/groups, kH, kW]",
                 tg_shape_str(x, sx, sizeof sx), tg_shape_str(w, sw, sizeof sw));
        return TG_ERR_SHAPE;
    }
    int64_t x4[4], w4[4], out[2];
    dims4(x, a->nsp, x4);
    dims4(w, a->nsp, w4);
    if (!kernel_ok(w4, msg, len)) return TG_ERR_SHAPE;
    if (w4[0] != x4[1] || w4[0] % a->groups != 0) {
        snprintf(msg, len,
                 "weight %s needs %lld input channels, divisible by groups = %lld; the input %s "
                 "has %lld",
                 tg_shape_str(w, sw, sizeof sw), (long long)w4[0], (long long)a->groups,
                 tg_shape_str(x, sx, sizeof sx), (long long)x4[1]);
        return TG_ERR_SHAPE;
    }
    for (int d = 0; d < 2; d++) {
        int64_t op = a->out_pad[d];
        if (op >= a->stride[d] && op >= a->dilation[d]) {
            snprintf(msg, len, "output_padding %lld must be smaller than the stride (%lld) or "
                               "the dilation (%lld)",
                     (long long)op, (long long)a->stride[d], (long long)a->dilation[d]);
            return TG_ERR_INVALID;
        }
        out[d] = x4[2 + d] < 1 ? -1
                               : conv_transpose_len(x4[2 + d], w4[2 + d], a->stride[d],
                                                    a->dilation[d], a->pad_lo[d], a->pad_hi[d], op);
        if (out[d] < 1) {
            snprintf(msg, len, "the output size is too small: input %s with kernel %s gives %s",
                     tg_shape_str(x, sx, sizeof sx), tg_shape_str(w, sw, sizeof sw),
                     out[d] < 0 ? "a size out of range" : "a size below 1");
            return TG_ERR_SHAPE;
        }
    }
    if (!bias_ok(b, w4[1] * a->groups, msg, len)) return TG_ERR_SHAPE;
    put_shape(a->nsp, x4[0], w4[1] * a->groups, out, ndim, shape);
    return TG_OK;
}

/* conv_weight: x [N, C, H, W], go [N, O, OH, OW] -> the weight's shape */
static int conv_weight_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS],
                             char *msg, size_t len)
{
    const conv_attr *a = r->attr;
    const tg_tensor *x = r->in[0], *go = r->in[1];
    if (!go) {
        snprintf(msg, len, "grad_output is NULL");
        return TG_ERR_INVALID;
    }
    tg_tensor w = {.ndim = a->nsp + 2}; /* the weight's shape, as a tensor for messages */
    for (int i = 0; i < w.ndim; i++) w.shape[i] = a->wshape[i];
    char sx[96], sg[96], sw[96];
    if (x->ndim != a->nsp + 2 || go->ndim != a->nsp + 2) {
        snprintf(msg, len, "needs input %s and grad_output %s, got %s and %s", x_form(a->nsp),
                 a->nsp == 1 ? "[N, O, L_out]" : "[N, O, H_out, W_out]",
                 tg_shape_str(x, sx, sizeof sx), tg_shape_str(go, sg, sizeof sg));
        return TG_ERR_SHAPE;
    }
    int64_t x4[4], g4[4], w4[4], out[2];
    dims4(x, a->nsp, x4);
    dims4(go, a->nsp, g4);
    dims4(&w, a->nsp, w4);
    for (int i = 0; i < w.ndim; i++)
        if (w.shape[i] < 0) {
            snprintf(msg, len, "invalid weight shape %s", tg_shape_str(&w, sw, sizeof sw));
            return TG_ERR_INVALID;
        }
    if (!kernel_ok(w4, msg, len) || !channels_ok(a, x4[1], &w, msg, len) ||
        !conv_sizes(a, x4, w4, out, msg, len))
        return TG_ERR_SHAPE;
    if (g4[0] != x4[0] || g4[1] != w4[0] || g4[2] != out[0] || g4[3] != out[1]) {
        tg_tensor o = {.ndim = a->nsp + 2};
        put_shape(a->nsp, x4[0], w4[0], out, &o.ndim, o.shape);
        char so[96];
        snprintf(msg, len, "grad_output %s is not the output of a convolution of %s by %s: %s",
                 tg_shape_str(go, sg, sizeof sg), tg_shape_str(x, sx, sizeof sx),
                 tg_shape_str(&w, sw, sizeof sw), tg_shape_str(&o, so, sizeof so));
        return TG_ERR_SHAPE;
    }
    *ndim = w.ndim;
    for (int i = 0; i < w.ndim; i++) shape[i] = w.shape[i];
    return TG_OK;
}

/* --------------------------------------------------------------- geometry */

typedef struct {
    int64_t N, C, H, W;           /* the convolution's input (the transpose's output) */
    int64_t O, OH, OW;            /* its output (the transpose's input) */
    int64_t kh, kw, G, Cg, Og, K; /* K = Cg·kh·kw: a patch */
    int64_t sh, sw, dh, dw, ph, pw;
    int64_t OHW, HW;
    int64_t nb;                   /* samples per chunk */
    bool direct;                  /* 1x1, stride 1, no padding: the input is its own col */
    bool rows;                    /* stride 1: the forward can read its patches in place */
    bool use_rows;                /* ... and does: rows, on the built-in GEMM */
    int64_t PH, PW, Mw;           /* rows: the padded image [Cg, PH, PW], the wide output */
} conv_geom;

/* The forward's patches read in place ("rows"; stride 1, on the built-in
   GEMM). With unit strides, tap k = (c, i, j) of output position (p, q)
   reads the padded image img [Cg, PH, PW] (PH = OH + (kh − 1)·dh rows from
   row −ph, PW likewise) at c·PH·PW + (p + i·dh)·PW + q + j·dw. Number the
   outputs m = p·PW + q over the image's row length instead of OW (the
   "wide" output: positions q in [OW, PW) are computed too, then dropped):
   tap k of output m is img[koff[k] + m], koff[k] = c·PH·PW + i·dh·PW +
   j·dw, so row k of the patch matrix is the image itself from koff[k] on,
   and W_g·patches reads those rows where they lie (tg_gemm_rows). im2col's
   copy of each value kh·kw times is gone; the price is the wide output's
   extra columns, (PW − OW)/OW more multiply-adds. The sums are the same
   terms (an output column reads only its own taps), so infinities and
   NaNs land where im2col's would. Measured on LeNet's layers (bench_conv,
   one thread, batch 64, interleaved with the build before): the forward +
   backward step of 1→6 5x5 7% faster, 6→16 5x5 3%, 16→32 3x3 3%;
   mnist_cnn's step 5%. The backward keeps im2col and col2im: the same idea
   there measured slower or no faster (the weight gradient as dot products
   over the wide rows: no faster; the data gradient as a convolution of g's
   padded image by the turned weights: 70% slower with one input channel,
   where the product has one row, 7% slower with six, 4% faster with
   sixteen). */
#define CONV_IMAGE_MAX ((int64_t)1 << 22) /* elements of a padded image, at most */

/* The rows (or columns) a kernel of k taps at dilation d reads for out ≥ 1
   outputs of stride 1: out + (k − 1)·d; false if that overflows. */
static bool reach(int64_t out, int64_t k, int64_t d, int64_t *len)
{
    int64_t b;
    if (out < 1 || k < 1 || __builtin_mul_overflow(k - 1, d, &b) || out > INT64_MAX - b)
        return false;
    *len = out + b;
    return true;
}

/* Whether the forward reads its patches in place, and from what image */
static void rows_of(conv_geom *g)
{
    int64_t n;
    g->rows = g->use_rows = false;
    if (g->direct || g->sh != 1 || g->sw != 1 || g->ph < 0 || g->pw < 0 || g->K == 0 ||
        !reach(g->OH, g->kh, g->dh, &g->PH) || !reach(g->OW, g->kw, g->dw, &g->PW) ||
        __builtin_mul_overflow(g->PH, g->PW, &n) || __builtin_mul_overflow(n, g->Cg, &n) ||
        n > CONV_IMAGE_MAX)
        return;
    g->Mw = (g->OH - 1) * g->PW + g->OW; /* < PH·PW */
    g->rows = true;
    g->use_rows = tg_gemm_is_builtin();
}

/* The geometry of a convolution of x4 into y4 by a weight w4. */
static conv_geom geom_of(const conv_attr *a, const int64_t x4[4], const int64_t y4[4],
                         const int64_t w4[4])
{
    conv_geom g = {.N = x4[0], .C = x4[1], .H = x4[2], .W = x4[3], .O = y4[1], .OH = y4[2],
                   .OW = y4[3], .kh = w4[2], .kw = w4[3], .G = a->groups, .Cg = w4[1],
                   .sh = a->stride[0], .sw = a->stride[1], .dh = a->dilation[0],
                   .dw = a->dilation[1], .ph = a->pad_lo[0], .pw = a->pad_lo[1]};
    g.Og = g.O / g.G;
    g.K = g.Cg * g.kh * g.kw;
    g.OHW = g.OH * g.OW;
    g.HW = g.H * g.W;
    g.direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 &&
               g.OH == g.H && g.OW == g.W;
    rows_of(&g);
    /* samples side by side up to CONV_COLS columns, within CONV_CHUNK_MAX
       elements of scratch (OHW > 0 here whenever there is work) */
    g.nb = 1;
    if (!g.direct && g.OHW > 0 && g.OHW < CONV_COLS) {
        g.nb = (CONV_COLS + g.OHW - 1) / g.OHW;
        if (g.nb > g.N) g.nb = g.N < 1 ? 1 : g.N;
        while (g.nb > 1 && (g.K + g.Og) * g.OHW > CONV_CHUNK_MAX / g.nb) g.nb /= 2;
    }
    return g;
}

/* Whether there is anything to compute: samples, output channels and
   output positions (products of K = 0 are handled by their callers). */
static bool has_work(const conv_geom *g) { return g->N > 0 && g->Og > 0 && g->OHW > 0; }

/* The longest padded row im2col_rows takes (OW + kw − 1 values) */
enum { CONV_PAD_ROW = 1024 };

/* The length of im2col's padded row (im2col_rows), 0 where it goes by
   runs: a stride or dilation along rows, or a row longer than
   CONV_PAD_ROW. */
static int64_t pad_row_len(const conv_geom *g)
{
    bool rows = !g->direct && g->sw == 1 && g->dw == 1 && g->OW <= CONV_PAD_ROW - g->kw + 1;
    return rows ? g->OW + g->kw - 1 : 0;
}

/* rows: a chunk's padded image (whole vectors of the GEMM's kernel longer
   than it: read and not used, TG_GEMM_ROWS_SLACK) and its wide output
   [Og, Mw]; -1 if that does not fit in memory's sizes. Taken whether or
   not the built-in GEMM is the one chosen, so that a scratch taken under
   one backend serves the other. */
static int64_t rows_image(const conv_geom *g)
{
    return g->Cg * g->PH * g->PW + TG_GEMM_ROWS_SLACK; /* ≤ CONV_IMAGE_MAX + slack */
}
static int64_t rows_chunk(const conv_geom *g)
{
    int64_t ow;
    if (!g->rows) return 0;
    if (__builtin_mul_overflow(g->Og, g->Mw, &ow) || ow > INT64_MAX - rows_image(g)) return -1;
    return rows_image(g) + ow;
}

/* The scratch one chunk of samples needs, in elements (col, then the
   staging matrix, then im2col's padded row, then rows' image and wide
   output), or -1 if that does not fit in memory's sizes. */
static int64_t chunk_scratch(const conv_geom *g)
{
    if (!has_work(g)) return 0;
    int64_t cols, a = 0, b = 0, r = rows_chunk(g);
    if (r < 0 || __builtin_mul_overflow(g->nb, g->OHW, &cols)) return -1;
    if (!g->direct && __builtin_mul_overflow(g->K, cols, &a)) return -1;
    if (g->nb > 1 && __builtin_mul_overflow(g->Og, cols, &b)) return -1;
    if (a > INT64_MAX - b - CONV_PAD_ROW - r) return -1;
    return a + b + pad_row_len(g) + r;
}

/* Where a chunk's rows image starts in its scratch (its wide output after
   it) */
static tg_real *rows_region(const conv_geom *g, tg_real *scr)
{
    return scr + chunk_scratch(g) - rows_chunk(g);
}

/* Where a chunk's padded row starts in its scratch */
static tg_real *pad_row_of(const conv_geom *g, tg_real *scr)
{
    return scr + g->K * g->nb * g->OHW + (g->nb > 1 ? g->Og * g->nb * g->OHW : 0);
}

/* rows: the taps' offsets koff [K] (int64_t, in tg_real-sized units, one
   more for the alignment), after the chunks and the weight gradient's
   second half, read by both halves. */
enum { I64_UNITS = sizeof(int64_t) / sizeof(tg_real) };
static int64_t rows_shared(const conv_geom *g) { return g->rows ? (g->K + 1) * I64_UNITS : 0; }
static int64_t *rows_koff(const conv_geom *g, tg_real *scr)
{
    /* the scratch's start is aligned to at least 16 bytes */
    int64_t at = 2 * chunk_scratch(g) + g->O * g->K;
    return (int64_t *)(void *)(scr + (at + I64_UNITS - 1) / I64_UNITS * I64_UNITS);
}

/* The scratch of an op: one chunk's for each of the two halves of the
   chunks (run_chunks), the weight gradient's second half [O, K], and
   rows' offsets; -1 if that does not fit in memory's sizes. */
static int64_t scratch_len(const conv_geom *g)
{
    int64_t c = chunk_scratch(g), ok, sh = rows_shared(g);
    if (!has_work(g)) return 0;
    if (c < 0 || c > INT64_MAX / 4 || __builtin_mul_overflow(g->O, g->K, &ok) ||
        ok > INT64_MAX / 4 || sh > INT64_MAX / 4 ||
        (uint64_t)(2 * c + ok + sh) > SIZE_MAX / sizeof(tg_real))
        return -1;
    return 2 * c + ok + sh;
}

/* The scratch, taken from the tape by the forward and kept for the
   backward (r->saved). NULL on failure, with the message on the tape. */
static tg_real *take_scratch(tg_record *r, const conv_geom *g)
{
    int64_t n = scratch_len(g);
    if (n < 0) {
        tg_tape_set_error(r->tape, "tg_%s: the patches of one sample (%lld x %lld values) are "
                                   "more than memory can hold",
                          r->op->name, (long long)g->K, (long long)g->OHW);
        return NULL;
    }
    return tg_record_save(r, (size_t)(n ? n : 1) * sizeof(tg_real));
}

/* The output positions q in [*lo, *hi) whose input column q·sw + off lies
   inside [0, W). */
static inline void q_range(const conv_geom *g, int64_t off, int64_t *lo, int64_t *hi)
{
    int64_t l, h;
    if (g->sw == 1) { /* no division (two of them per kernel tap showed in LeNet's step) */
        l = off >= 0 ? 0 : -off;
        h = off >= g->W ? 0 : g->W - off;
    } else {
        l = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
        h = off >= g->W ? 0 : (g->W - off + g->sw - 1) / g->sw;
    }
    if (h > g->OW) h = g->OW;
    if (l > h) l = h;
    *lo = l, *hi = h;
}

/* The short runs of im2col (a row of the output, 28 values for LeNet's
   first layer, 10 for its second) copied and zeroed in blocks of eight
   inline: as calls to memcpy and memset, the calls cost more than the
   copies (a fifth of mnist_cnn's step). A run's last values are one more
   block that overlaps the one before (the same values again), not a
   scalar tail: 28 values were three blocks and four single moves, now four
   blocks (mnist_cnn's step on one thread 14% faster). Runs of
   CONV_RUN_CALL or more go to the library calls. im2col and col2im are
   compiled for the vector units too (TG_VECTOR_LOOP): a block of eight is
   then one move. */
enum { RUN_BLOCK = 8, CONV_RUN_CALL = 256 };
static inline void copy_run(tg_real *restrict d, const tg_real *restrict s, int64_t n)
{
    if (n >= CONV_RUN_CALL) {
        memcpy(d, s, (size_t)n * sizeof *d);
        return;
    }
    if (n >= RUN_BLOCK) { /* whole blocks, then the last block again, overlapping */
        int64_t k = 0;
        for (; k + RUN_BLOCK <= n; k += RUN_BLOCK) memcpy(d + k, s + k, RUN_BLOCK * sizeof *d);
        if (k < n) memcpy(d + n - RUN_BLOCK, s + n - RUN_BLOCK, RUN_BLOCK * sizeof *d);
        return;
    }
    for (int64_t k = 0; k < n; k++) d[k] = s[k];
}
static inline void zero_run(tg_real *d, int64_t n)
{
    static const tg_real zeros[RUN_BLOCK];
    if (n >= CONV_RUN_CALL) {
        memset(d, 0, (size_t)n * sizeof *d);
        return;
    }
    if (n >= RUN_BLOCK) { /* as copy_run */
        int64_t k = 0;
        for (; k + RUN_BLOCK <= n; k += RUN_BLOCK) memcpy(d + k, zeros, RUN_BLOCK * sizeof *d);
        if (k < n) memcpy(d + n - RUN_BLOCK, zeros, RUN_BLOCK * sizeof *d);
        return;
    }
    for (int64_t k = 0; k < n; k++) d[k] = 0;
}

/* im2col along rows of unit stride and dilation: each input row the
   kernel reads is put once into a row with its padding (zeros around it),
   then each of the kw taps is one copy of OW values from it (tap j at
   offset j); a row that needs no padding is read in place (copied first,
   each tap's loads waited on the copy's stores, which they straddle:
   LeNet's first layer's step 0.96-0.98 -> 0.92 ms on an Intel Xeon, five
   runs interleaved with the previous build, 3 to 5% in all). Before, each
   (tap, output row) was three runs (zeros, values, zeros) with their
   ranges worked out: LeNet's im2col took 1.3 to 1.9 times as long. The
   same values in the same places. The row (pad, pad_row_len values) is in
   the chunk's scratch, not on the stack: there the compiler saw that it
   overlaps nothing and turned the short copies into string moves (rep
   movs), slower than the runs they replaced. The geometry is read into
   locals once (the stores through col may alias g as far as the compiler
   knows, so it read OW from g at every run), and rows of RUN_BLOCK
   values (8: LeNet's second layer, an 8x8 output) take a copy of constant
   length, one load and one store a run without the run's branches: the
   6->16 step 0.867-0.869 -> 0.812-0.828 ms (one thread, pairs at the same
   speed). */
__attribute__((always_inline)) static inline void im2col_rows_n(const conv_geom *g,
                                                                const tg_real *x, tg_real *col,
                                                                int64_t ld, tg_real *pad,
                                                                const int64_t OW)
{
    const int64_t Cg = g->Cg, H = g->H, W = g->W, kh = g->kh, kw = g->kw, OH = g->OH;
    const int64_t sh = g->sh, dh = g->dh, ph = g->ph, pw = g->pw;
    const int64_t L = OW + kw - 1;
    /* pad[k] = x_row[k − pw] for k in [lo, hi), 0 elsewhere (for good) */
    const int64_t lo = pw < L ? pw : L, hi = pw + W < L ? pw + W : L;
    zero_run(pad, L);
    for (int64_t c = 0; c < Cg; c++)
        for (int64_t i = 0; i < kh; i++) {
            tg_real *row = col + (c * kh + i) * kw * ld; /* tap (c, i, 0) */
            for (int64_t p = 0; p < OH; p++) {
                int64_t ih = p * sh + i * dh - ph;
                tg_real *dst = row + p * OW;
                if (ih < 0 || ih >= H) {
                    for (int64_t j = 0; j < kw; j++) zero_run(dst + j * ld, OW);
                    continue;
                }
                const tg_real *xr = x + (c * H + ih) * W, *src = pad;
                if (lo == 0 && hi == L) /* no padding in this row: the taps read x itself */
                    src = xr;
                else if (hi > lo)
                    copy_run(pad + lo, xr + (lo - pw), hi - lo);
                for (int64_t j = 0; j < kw; j++) copy_run(dst + j * ld, src + j, OW);
            }
        }
}
__attribute__((always_inline)) static inline void im2col_rows(const conv_geom *g,
                                                              const tg_real *x, tg_real *col,
                                                              int64_t ld, tg_real *pad)
{
    if (g->OW == RUN_BLOCK)
        im2col_rows_n(g, x, col, ld, pad, RUN_BLOCK);
    else
        im2col_rows_n(g, x, col, ld, pad, g->OW);
}

/* im2col: the patches of one sample's group, x [Cg, H, W], into the OH·OW
   columns of col [K, ld] that start at col (0 in the padding); pad: the
   chunk's padded row (pad_row_len values), NULL where it has none. */
TG_VECTOR_LOOP static void conv_im2col(const conv_geom *g, const tg_real *x, tg_real *col,
                                       int64_t ld, tg_real *pad)
{
    if (pad) {
        im2col_rows(g, x, col, ld, pad);
        return;
    }
    for (int64_t c = 0; c < g->Cg; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                tg_real *row = col + ((c * g->kh + i) * g->kw + j) * ld;
                int64_t off = j * g->dw - g->pw, lo, hi;
                q_range(g, off, &lo, &hi);
                for (int64_t p = 0; p < g->OH; p++) {
                    tg_real *dst = row + p * g->OW;
                    int64_t ih = p * g->sh + i * g->dh - g->ph;
                    if (ih < 0 || ih >= g->H || lo == hi) {
                        zero_run(dst, g->OW);
                        continue;
                    }
                    const int64_t base = (c * g->H + ih) * g->W + off; /* + q·sw */
                    zero_run(dst, lo);
                    if (g->sw == 1)
                        copy_run(dst + lo, x + base + lo, hi - lo);
                    else
                        for (int64_t q = lo; q < hi; q++) dst[q] = x[base + q * g->sw];
                    zero_run(dst + hi, g->OW - hi);
                }
            }
}

/* col2im, im2col's adjoint: adds each of the OH·OW columns of col [K, ld]
   back where im2col took it from, into dx [Cg, H, W] (the padding's share
   is dropped). */
TG_VECTOR_LOOP static void conv_col2im(const conv_geom *g, const tg_real *col, int64_t ld,
                                       tg_real *dx)
{
    for (int64_t c = 0; c < g->Cg; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const tg_real *row = col + ((c * g->kh + i) * g->kw + j) * ld;
                int64_t off = j * g->dw - g->pw, lo, hi;
                q_range(g, off, &lo, &hi);
                for (int64_t p = 0; p < g->OH; p++) {
                    int64_t ih = p * g->sh + i * g->dh - g->ph;
                    if (ih < 0 || ih >= g->H) continue;
                    const tg_real *src = row + p * g->OW;
                    tg_real *d = dx + (c * g->H + ih) * g->W + off; /* d[q·sw], q in [lo, hi) */
                    if (g->sw == 1)
                        for (int64_t q = lo; q < hi; q++) d[q] += src[q];
                    else
                        for (int64_t q = lo; q < hi; q++) d[q * g->sw] += src[q];
                }
            }
}

/* col2im with unit stride along rows, where the GEMM runs its AVX-512
   kernel (the CPU has AVX-512 and TG_GEMM_KERNEL does not name another:
   the tests run the loop above too, on the other kernels): each row of
   dx, a vector (16 floats, 8 doubles) at a time, gathers its taps' values from col with masked loads
   (lanes outside a tap's run read nothing) and is added to once. The loop
   above adds each (tap, output row) run into dx where it lands, and the
   runs of neighbouring taps overlap at an offset of one value: a load of
   dx then waits for the store just before it, which the CPU cannot
   forward (half of that loop's time sat on that load; masked vector adds
   in its order were slower still, 1.20 -> 1.47 ms for LeNet's 6->16
   layer). The sums are the same terms, added into a register first and
   then to dx (stored, where dx is fresh): not the same bits as the loop
   above, the same on any number of threads. Each tap's mask and offset
   depend only on the tap and the block of columns, so they are worked out
   once a block (col2im_taps, a table of up to COL2IM_TAPS taps) rather
   than at each load: the loop spent more on that arithmetic than on its
   loads and adds (bench_conv, one thread, interleaved with the build
   before, five pairs: LeNet's 6->16 layer's step 1.48-1.64 -> 1.30-1.38
   ms, its rest 53% -> 46%; 1->6 63% -> 57%, 16->32 45% -> 43%). A row's
   sum was one chain of kh·kw dependent adds (LeNet's 25, four cycles each:
   the add waiting on the one before it held most of the loop's samples);
   now the sums of up to COL2IM_ROWS rows wait on the stack while each
   (tap row, output row) adds its kw taps into its own dx row's sum, and
   neighbouring output rows' chains run side by side. Each row's sum takes
   its terms in the same order (i, then j), so the bits are the same. The
   6->16 step 0.854-0.862 -> 0.839-0.842 ms (one thread, three pairs at the
   same speed; col2im 7.7% -> 5.4% of bench_conv's samples). */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CONV_X86 1
#ifdef TG_DOUBLE
#define CV_VEC __m512d
#define CV_MASK __mmask8
#define CV_ZERO() _mm512_setzero_pd()
#define CV_MLOAD(m, p) _mm512_maskz_loadu_pd(m, p)
#define CV_ADD(a, b) _mm512_add_pd(a, b)
#define CV_MSTORE(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#else
#define CV_VEC __m512
#define CV_MASK __mmask16
#define CV_ZERO() _mm512_setzero_ps()
#define CV_MLOAD(m, p) _mm512_maskz_loadu_ps(m, p)
#define CV_ADD(a, b) _mm512_add_ps(a, b)
#define CV_MSTORE(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#endif
/* lanes [a, b) of a vector, 0 ≤ a < b ≤ its width */
#define CV_LANES(a, b) ((CV_MASK)(((1u << ((b) - (a))) - 1) << (a)))
/* Tap j in the block of nw values of a dx row from w0: lane l takes col[q]
   of the tap's row, q = w0 + l − off in [0, OW). *m: those lanes (0: none);
   *src: where lane 0 would read, w0 − off from the row's start. */
enum { COL2IM_TAPS = 32 }; /* taps a row kept in a table, at most */
static void col2im_taps(const conv_geom *g, int64_t w0, int64_t nw, int64_t j, CV_MASK *m,
                        int64_t *src)
{
    int64_t off = j * g->dw - g->pw, a = off - w0, b = a + g->OW;
    if (a < 0) a = 0;
    if (b > nw) b = nw;
    *m = a < b ? CV_LANES(a, b) : 0;
    *src = w0 - off;
}

enum { COL2IM_ROWS = 32 }; /* dx rows summed at a time (their sums on the stack) */
__attribute__((target("avx512f"))) static void col2im_rows_avx512(const conv_geom *g,
                                                                  const tg_real *col, int64_t ld,
                                                                  tg_real *dx, bool fresh)
{
    enum { V = 64 / sizeof(tg_real) };
    const int64_t H = g->H, W = g->W, kh = g->kh, kw = g->kw, OH = g->OH, OW = g->OW;
    const int64_t sh = g->sh, dh = g->dh, ph = g->ph;
    CV_MASK tm[COL2IM_TAPS];
    int64_t ts[COL2IM_TAPS];
    CV_VEC acc[COL2IM_ROWS];
    for (int64_t w0 = 0; w0 < W; w0 += V) {
        const int64_t nw = W - w0 < V ? W - w0 : V;
        const bool table = kw <= COL2IM_TAPS;
        for (int64_t j = 0; table && j < kw; j++) col2im_taps(g, w0, nw, j, &tm[j], &ts[j]);
        const CV_MASK m = CV_LANES(0, nw);
        for (int64_t c = 0; c < g->Cg; c++)
            for (int64_t h0 = 0; h0 < H; h0 += COL2IM_ROWS) {
                const int64_t nh = H - h0 < COL2IM_ROWS ? H - h0 : COL2IM_ROWS;
                for (int64_t r = 0; r < nh; r++) acc[r] = CV_ZERO();
                for (int64_t i = 0; i < kh; i++) {
                    /* the output rows p whose row ih = p·sh + i·dh − ph is in [h0, h0 + nh) */
                    int64_t t0 = h0 + ph - i * dh, t1 = t0 + nh;
                    if (t1 <= 0) break; /* and for every later i */
                    int64_t p = t0 <= 0 ? 0 : (t0 + sh - 1) / sh, pe = (t1 + sh - 1) / sh;
                    if (pe > OH) pe = OH;
                    const tg_real *tap = col + (c * kh + i) * kw * ld;
                    for (; p < pe; p++) {
                        const tg_real *src = tap + p * OW;
                        CV_VEC *a = &acc[p * sh - t0], s = *a;
                        for (int64_t j = 0; j < kw; j++) {
                            CV_MASK mj;
                            int64_t sj;
                            if (table)
                                mj = tm[j], sj = ts[j];
                            else
                                col2im_taps(g, w0, nw, j, &mj, &sj);
                            if (mj) s = CV_ADD(s, CV_MLOAD(mj, src + j * ld + sj));
                        }
                        *a = s;
                    }
                }
                for (int64_t r = 0; r < nh; r++) {
                    /* fresh: 0 + acc is acc itself (a sum begun at +0 is never −0) */
                    tg_real *d = dx + (c * H + h0 + r) * W + w0;
                    CV_MSTORE(d, m, fresh ? acc[r] : CV_ADD(CV_MLOAD(m, d), acc[r]));
                }
            }
    }
}
#endif

/* ------------------------------------------------ rows: patches in place */

/* img [Cg, PH, PW] = one sample's group x [Cg, H, W] with its padding:
   img[c][r][t] = x[c][r − ph][t − pw], 0 outside x. */
static void pad_image(const conv_geom *g, const tg_real *x, tg_real *img)
{
    const int64_t t0 = g->pw < g->PW ? g->pw : g->PW;
    const int64_t t1 = g->W < g->PW - t0 ? t0 + g->W : g->PW;
    for (int64_t c = 0; c < g->Cg; c++)
        for (int64_t r = 0; r < g->PH; r++) {
            int64_t ih = r - g->ph;
            tg_real *d = img + (c * g->PH + r) * g->PW;
            if (ih < 0 || ih >= g->H) {
                zero_run(d, g->PW);
                continue;
            }
            zero_run(d, t0);
            copy_run(d + t0, x + (c * g->H + ih) * g->W, t1 - t0);
            zero_run(d + t1, g->PW - t1);
        }
}

/* koff[k] for each tap k = (c, i, j): c·PH·PW + i·dh·PW + j·dw */
static void tap_offsets(const conv_geom *g, int64_t *koff)
{
    for (int64_t c = 0; c < g->Cg; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++)
                koff[(c * g->kh + i) * g->kw + j] = (c * g->PH + i * g->dh) * g->PW + j * g->dw;
}

/* Y [OH, OW] = the columns q < OW of the wide output rows yw [OH, PW], plus
   bo (Y += them with add): a function of its own so that it is compiled for
   the vector units too (inside forward_rows its short rows ran four floats
   at a time) */
TG_VECTOR_LOOP static void wide_rows_out(tg_real *restrict Y, const tg_real *restrict yw,
                                         int64_t OH, int64_t OW, int64_t PW, tg_real bo, bool add)
{
    for (int64_t p = 0; p < OH; p++) {
        const tg_real *src = yw + p * PW;
        tg_real *dst = Y + p * OW;
        if (add)
            for (int64_t q = 0; q < OW; q++) dst[q] += src[q];
        else
            for (int64_t q = 0; q < OW; q++) dst[q] = src[q] + bo;
    }
}

/* y = conv(x, w) + b, or y += conv(x, w) with `add`, for samples
   [n_lo, n_hi), the patches read in place: each sample's padded image,
   the wide output W_g·patches, and its columns q < OW into y. */
static void forward_rows(const conv_geom *g, tg_real *scr, const int64_t *koff, const tg_real *x,
                         const tg_real *w, const tg_real *b, tg_real *y, bool add, int64_t n_lo,
                         int64_t n_hi)
{
    tg_real *img = rows_region(g, scr), *yw = img + rows_image(g);
    zero_run(img + g->Cg * g->PH * g->PW, TG_GEMM_ROWS_SLACK); /* read, never used */
    for (int64_t n = n_lo; n < n_hi; n++)
        for (int64_t gi = 0; gi < g->G; gi++) {
            pad_image(g, x + (n * g->C + gi * g->Cg) * g->HW, img);
            tg_gemm_rows(g->Og, g->Mw, g->K, w + gi * g->Og * g->K, g->K, img, koff, 0, yw,
                         g->Mw);
            for (int64_t o = 0; o < g->Og; o++)
                wide_rows_out(y + (n * g->O + gi * g->Og + o) * g->OHW, yw + o * g->Mw, g->OH,
                              g->OW, g->PW, b ? b[gi * g->Og + o] : 0, add);
        }
}

/* The patches of samples n0 .. n0 + nbc − 1, group gi, side by side: a
   [K, nbc·OH·OW] matrix (the input itself for a direct 1x1 kernel). */
static const tg_real *patches(const conv_geom *g, const tg_real *x, int64_t n0, int64_t nbc,
                              int64_t gi, tg_real *col)
{
    if (g->direct) return x + (n0 * g->C + gi * g->Cg) * g->HW;
    tg_real *pad = pad_row_len(g) ? pad_row_of(g, col) : NULL; /* col: the chunk's scratch */
    for (int64_t s = 0; s < nbc; s++)
        conv_im2col(g, x + ((n0 + s) * g->C + gi * g->Cg) * g->HW, col + s * g->OHW,
                    nbc * g->OHW, pad);
    return col;
}

/* The output-side values (y or its gradient) of samples n0 .. n0 + nbc − 1,
   group gi, as one [Og, nbc·OH·OW] matrix: in place for one sample, else
   staged into st. */
static const tg_real *outputs(const conv_geom *g, const tg_real *y, int64_t n0, int64_t nbc,
                              int64_t gi, tg_real *st)
{
    const tg_real *first = y + (n0 * g->O + gi * g->Og) * g->OHW;
    if (nbc == 1) return first;
    int64_t cols = nbc * g->OHW;
    for (int64_t s = 0; s < nbc; s++)
        for (int64_t o = 0; o < g->Og; o++)
            copy_run(st + o * cols + s * g->OHW, first + (s * g->O + o) * g->OHW, g->OHW);
    return st;
}

/* --------------------------------------------------------------- kernels */

/* The kernels below take a range of samples [n_lo, n_hi) in chunks of nb
   from n_lo (the last one shorter): the same chunks, so the same products,
   whether one thread runs both halves of the batch in turn or two threads
   one half each. */
static int64_t chunk_count(const conv_geom *g) { return (g->N + g->nb - 1) / g->nb; }
static int64_t chunk_samples(const conv_geom *g, int64_t n0, int64_t n_hi)
{
    return n_hi - n0 < g->nb ? n_hi - n0 : g->nb;
}

/* y = conv(x, w) + b, or y += conv(x, w) with `add` (no bias then), for
   samples [n_lo, n_hi). x [N, C, H, W], w [O, Cg, kh, kw], b [O]
   or NULL, y [N, O, OH, OW]. */
static void forward_chunks(const conv_geom *g, tg_real *scr, const tg_real *x, const tg_real *w,
                           const tg_real *b, tg_real *y, bool add, int64_t n_lo, int64_t n_hi)
{
    tg_real *col = scr, *st = scr + (g->direct ? 0 : g->K * g->nb * g->OHW);
    for (int64_t n0 = n_lo; n0 < n_hi; n0 += g->nb) {
        int64_t nbc = chunk_samples(g, n0, n_hi), cols = nbc * g->OHW;
        for (int64_t gi = 0; gi < g->G; gi++) {
            const tg_real *B = patches(g, x, n0, nbc, gi, col); /* [K, cols] */
            const tg_real *Wg = w + gi * g->Og * g->K;         /* [Og, K] */
            const tg_real *bg = b ? b + gi * g->Og : NULL;
            if (nbc == 1) {
                tg_real *Y = y + (n0 * g->O + gi * g->Og) * g->OHW; /* [Og, OHW] */
                for (int64_t o = 0; bg && !add && o < g->Og; o++)
                    for (int64_t p = 0; p < g->OHW; p++) Y[o * g->OHW + p] = bg[o];
                tg_gemm(false, false, g->Og, g->OHW, g->K, 1, Wg, g->K, B, cols,
                        (add || bg) ? 1 : 0, Y, g->OHW);
                continue;
            }
            tg_gemm(false, false, g->Og, cols, g->K, 1, Wg, g->K, B, cols, 0, st, cols);
            for (int64_t s = 0; s < nbc; s++)
                for (int64_t o = 0; o < g->Og; o++) {
                    tg_real *Y = y + ((n0 + s) * g->O + gi * g->Og + o) * g->OHW;
                    const tg_real *src = st + o * cols + s * g->OHW;
                    tg_real bo = bg ? bg[o] : 0;
                    if (add)
                        for (int64_t p = 0; p < g->OHW; p++) Y[p] += src[p];
                    else
                        for (int64_t p = 0; p < g->OHW; p++) Y[p] = src[p] + bo;
                }
        }
    }
}

/* dx += convᵀ(gy, w) for one chunk of nbc samples from n0, group gi, its
   output-side values Gm [Og, cols] (staged by outputs): col = W_gᵀ · Gm,
   then col2im, the input-side result; dx [N, C, H, W]. With `fresh`, dx
   holds stale bytes and is written (the chunk's samples and group whole). */
static void data_chunk(const conv_geom *g, tg_real *col, const tg_real *Gm, const tg_real *w,
                       tg_real *dx, bool fresh, int64_t n0, int64_t nbc, int64_t gi)
{
    const int64_t cols = nbc * g->OHW;
    const tg_real *Wg = w + gi * g->Og * g->K; /* [Og, K] */
    if (g->direct) {
        tg_real *D = dx + (n0 * g->C + gi * g->Cg) * g->HW; /* [Cg, HW] */
        tg_gemm(true, false, g->K, cols, g->Og, 1, Wg, g->K, Gm, cols, fresh ? 0 : 1, D, cols);
        return;
    }
    tg_gemm(true, false, g->K, cols, g->Og, 1, Wg, g->K, Gm, cols, 0, col, cols);
#ifdef CONV_X86
    const bool avx512 = tg_gemm_kernel_avx512();
#endif
    for (int64_t s = 0; s < nbc; s++) {
        tg_real *d = dx + ((n0 + s) * g->C + gi * g->Cg) * g->HW;
#ifdef CONV_X86
        if (g->sw == 1 && avx512) {
            col2im_rows_avx512(g, col + s * g->OHW, cols, d, fresh);
            continue;
        }
#endif
        if (fresh) memset(d, 0, (size_t)(g->Cg * g->HW) * sizeof *d);
        conv_col2im(g, col + s * g->OHW, cols, d);
    }
}

/* The backward of samples [n_lo, n_hi), chunk by chunk, from the
   output-side values gy [N, O, OH, OW]: with dx, dx += convᵀ(gy, w)
   (data_chunk; written where fx); with dw, dw (beta = 0: dw =, 1: dw +=) Σ gy ·
   patches(x)ᵀ, x [N, C, H, W], dw [O, Cg, kh, kw]. A chunk's gy is
   staged once for both products (when the two gradients were two passes,
   each staged it: LeNet's 6->16 layer's step 1.5-2% faster, 0.862-0.871 ->
   0.850 and 1.309-1.314 -> 1.290-1.295 ms, pairs in the same speed). */
static void backward_chunks(const conv_geom *g, tg_real *scr, const tg_real *x, const tg_real *gy,
                            const tg_real *w, tg_real *dx, bool fx, tg_real *dw,
                            tg_real beta, int64_t n_lo, int64_t n_hi)
{
    tg_real *col = scr, *st = scr + (g->direct ? 0 : g->K * g->nb * g->OHW);
    for (int64_t n0 = n_lo; n0 < n_hi; n0 += g->nb) {
        int64_t nbc = chunk_samples(g, n0, n_hi), cols = nbc * g->OHW;
        for (int64_t gi = 0; gi < g->G; gi++) {
            const tg_real *Gm = outputs(g, gy, n0, nbc, gi, st); /* [Og, cols] */
            if (dx) data_chunk(g, col, Gm, w, dx, fx, n0, nbc, gi);
            if (!dw) continue;
            const tg_real *B = patches(g, x, n0, nbc, gi, col); /* [K, cols] */
            tg_gemm(false, true, g->Og, g->K, cols, 1, Gm, cols, B, cols,
                    n0 == n_lo ? beta : 1, dw + gi * g->Og * g->K, g->K);
        }
    }
}

/* The samples of a kernel in two halves, one a task: [0, h) and [h, N)
   with h = ⌈N/2⌉, each half in chunks of its own (equal halves: with
   halves of whole chunks, LeNet's second convolution, 11 chunks of 6
   samples, split 36 to 28) and with its own scratch (scr and scr + len,
   one chunk's scratch).
   Two threads run one half each when the library has them (the halves
   write different samples, or, for the weight gradient, dw and a scratch
   added afterwards: the same numbers on one thread or two). */
typedef struct {
    const conv_geom *g;
    int kind; /* 0 forward (a = x, b = w, bias, out = y), 1 backward (below) */
    tg_real *scr;
    int64_t len, half; /* the scratch of a half; h */
    const tg_real *a, *b, *bias;
    tg_real *out, *wscr;
    const tg_real *x, *gy, *w; /* the backward's: dx and dw may be NULL */
    tg_real *dx, *dw;
    bool fx, fw; /* the backward's: dx, dw hold stale bytes, to be written */
    bool add;
    bool one_thread;     /* both halves in turn on this thread: one scratch for both */
    const int64_t *koff; /* the forward by rows (use_rows), else NULL */
} conv_job;

static void conv_task(void *ctx, int t)
{
    const conv_job *j = ctx;
    int64_t lo = t ? j->half : 0, hi = t ? j->g->N : j->half;
    tg_real *scr = j->scr + (j->one_thread ? 0 : t * j->len);
    if (j->kind == 0 && j->koff)
        forward_rows(j->g, scr, j->koff, j->a, j->b, j->bias, j->out, j->add, lo, hi);
    else if (j->kind == 0) forward_chunks(j->g, scr, j->a, j->b, j->bias, j->out, j->add, lo, hi);
    else
        backward_chunks(j->g, scr, j->x, j->gy, j->w, j->dx, j->fx,
                        j->dw && t ? j->wscr : j->dw, t || j->fw ? 0 : 1, lo, hi);
}

/* Two halves (on two threads when the library has them) when the batch is
   more than one chunk, else the one chunk on this thread. */
static void run_chunks(conv_job *j)
{
    const conv_geom *g = j->g;
    j->len = chunk_scratch(g);
    if (chunk_count(g) < 2) {
        j->half = g->N;
        conv_task(j, 0);
        return;
    }
    j->half = (g->N + 1) / 2;
    j->one_thread = tg_threads_count() < 2;
    if (j->one_thread) { /* in turn, the second in the first's scratch (still in cache) */
        conv_task(j, 0);
        conv_task(j, 1);
    } else {
        tg_parallel_run(2, conv_task, j);
    }
    if (j->dw) /* dw += the second half's sum, each element on its own */
        for (int64_t i = 0; i < g->O * g->K; i++) j->dw[i] = j->dw[i] + j->wscr[i];
}

static void conv_forward_kernel(const conv_geom *g, tg_real *scr, const tg_real *x,
                                const tg_real *w, const tg_real *b, tg_real *y, bool add)
{
    if (!has_work(g)) return;
    if (g->K == 0) { /* no input channel: the bias alone */
        for (int64_t n = 0; !add && n < g->N; n++)
            for (int64_t o = 0; o < g->O; o++)
                for (int64_t p = 0; p < g->OHW; p++) y[(n * g->O + o) * g->OHW + p] = b ? b[o] : 0;
        return;
    }
    conv_job j = {.g = g, .kind = 0, .scr = scr, .a = x, .b = w, .bias = b, .out = y, .add = add};
    if (g->use_rows) {
        int64_t *koff = rows_koff(g, scr);
        tap_offsets(g, koff);
        j.koff = koff;
    }
    run_chunks(&j);
}

/* dx += convᵀ(gy, w) and dw += Σ gy·patches(x)ᵀ, either one NULL to skip
   it; written instead where fx, fw (their memory holds stale bytes) */
static void conv_backward_kernel(const conv_geom *g, tg_real *scr, const tg_real *x,
                                 const tg_real *gy, const tg_real *w, tg_real *dx, tg_real *dw,
                                 bool fx, bool fw)
{
    if (!has_work(g) || g->K == 0) { /* nothing reaches them: zeros */
        if (dx && fx) memset(dx, 0, (size_t)(g->N * g->C * g->HW) * sizeof *dx);
        if (dw && fw) memset(dw, 0, (size_t)(g->O * g->K) * sizeof *dw);
        return;
    }
    if (!dx && !dw) return;
    conv_job j = {.g = g, .kind = 1, .scr = scr, .x = x, .gy = gy, .w = w, .dx = dx, .dw = dw,
                  .fx = fx, .fw = fw, .wscr = scr + 2 * chunk_scratch(g)};
    run_chunks(&j);
}

static void conv_data_kernel(const conv_geom *g, tg_real *scr, const tg_real *gy,
                             const tg_real *w, tg_real *dx)
{
    conv_backward_kernel(g, scr, NULL, gy, w, dx, NULL, false, false);
}

static void conv_weight_kernel(const conv_geom *g, tg_real *scr, const tg_real *x,
                               const tg_real *gy, tg_real *dw)
{
    conv_backward_kernel(g, scr, x, gy, NULL, NULL, dw, false, false);
}

/* db[c] += Σ_{n,p} g[n, c, p] for g [N, ch, len] (accurate sums); with
   `fresh`, db holds stale bytes and is written 0 + Σ */
static void bias_grad(tg_real *db, const tg_real *g, int64_t N, int64_t ch, int64_t len,
                      bool fresh)
{
    for (int64_t c = 0; c < ch; c++) {
        double s = 0;
        for (int64_t n = 0; n < N; n++) s += tg_sum_strided(g + (n * ch + c) * len, len, 1);
        db[c] = (fresh ? (tg_real)0 : db[c]) + (tg_real)s;
    }
}

/* The geometry of each op from its record: the convolution's input, output
   and weight. */
static conv_geom conv_geom_of(const tg_record *r)
{
    const conv_attr *a = r->attr;
    int64_t x4[4], y4[4], w4[4];
    dims4(r->in[0], a->nsp, x4);
    dims4(r->out, a->nsp, y4);
    dims4(r->in[1], a->nsp, w4);
    return geom_of(a, x4, y4, w4);
}

static conv_geom conv_transpose_geom_of(const tg_record *r)
{
    const conv_attr *a = r->attr;
    int64_t x4[4], y4[4], w4[4];
    dims4(r->out, a->nsp, x4); /* the transpose's output is the convolution's input */
    dims4(r->in[0], a->nsp, y4);
    dims4(r->in[1], a->nsp, w4);
    return geom_of(a, x4, y4, w4);
}

static conv_geom conv_weight_geom_of(const tg_record *r)
{
    const conv_attr *a = r->attr;
    int64_t x4[4], y4[4], w4[4];
    dims4(r->in[0], a->nsp, x4);
    dims4(r->in[1], a->nsp, y4);
    dims4(r->out, a->nsp, w4);
    return geom_of(a, x4, y4, w4);
}

/* ---------------------------------------------------------------- the ops */

static const tg_op op_conv1d, op_conv2d, op_conv_transpose1d, op_conv_transpose2d,
    op_conv1d_weight, op_conv2d_weight;
static const tg_op *const conv_op[2] = {&op_conv1d, &op_conv2d};
static const tg_op *const conv_transpose_op[2] = {&op_conv_transpose1d, &op_conv_transpose2d};
static const tg_op *const conv_weight_op[2] = {&op_conv1d_weight, &op_conv2d_weight};

static tg_tensor *apply(tg_tape *t, const tg_op *op, tg_tensor *a, tg_tensor *b, tg_tensor *c,
                        const conv_attr *at)
{
    tg_tensor *in[3] = {a, b, c};
    return tg_apply(t, op, in, op->n_inputs, at);
}

/* The output padding that makes the transposed convolution of an output of
   length out come back to length in (the remainder the forward's floor
   division dropped: in [0, stride)). */
static void out_pad_for(conv_attr *a, const int64_t in4[4], const int64_t w4[4],
                        const int64_t out4[4])
{
    for (int d = 0; d < 2; d++) {
        int64_t dk = a->dilation[d] * (w4[2 + d] - 1) + 1;
        a->out_pad[d] = in4[2 + d] + a->pad_lo[d] + a->pad_hi[d] - dk -
                        (out4[2 + d] - 1) * a->stride[d];
    }
}

/* Σ g over every axis but the channels (1): the bias's gradient, [ch]. */
static tg_tensor *bias_vjp(tg_tape *t, tg_tensor *g)
{
    int64_t shape[TG_MAX_DIMS];
    for (int i = 1; i < g->ndim; i++) shape[i - 1] = i == 1 ? g->shape[1] : 1;
    return tg_reshape(t, tg_sum_to(t, g, g->ndim - 1, shape), 1, &g->shape[1]);
}

/* conv: y = conv(x, w) + b
   dx = convᵀ(g, w)        (the output padding brings it back to x's size)
   dw = conv_weight(x, g)  db = Σ_{n,p} g */
static int conv_forward(tg_record *r)
{
    conv_geom g = conv_geom_of(r);
    tg_real *scr = take_scratch(r, &g);
    if (!scr) return TG_ERR_NOMEM;
    const tg_tensor *b = r->in[2];
    conv_forward_kernel(&g, scr, r->in[0]->data, r->in[1]->data, b ? b->data : NULL,
                        r->out->data, false);
    return TG_OK;
}

static void conv_backward(tg_record *r)
{
    conv_geom g = conv_geom_of(r);
    tg_tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
    const tg_real *gy = r->out->grad;
    conv_backward_kernel(&g, r->saved, x->data, gy, w->data, x->grad, w->grad, tg_grad_fresh(x),
                         tg_grad_fresh(w));
    if (b && b->grad) bias_grad(b->grad, gy, g.N, g.O, g.OHW, tg_grad_fresh(b));
}

static int conv_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const conv_attr *a = r->attr;
    tg_tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
    if (x->flags & TG_REQUIRES_GRAD) {
        conv_attr ta = *a;
        int64_t x4[4], w4[4], y4[4];
        dims4(x, a->nsp, x4), dims4(w, a->nsp, w4), dims4(r->out, a->nsp, y4);
        out_pad_for(&ta, x4, w4, y4);
        dx[0] = apply(t, conv_transpose_op[a->nsp - 1], g, w, NULL, &ta);
    }
    if (w->flags & TG_REQUIRES_GRAD) {
        conv_attr wa = *a;
        for (int i = 0; i < w->ndim; i++) wa.wshape[i] = w->shape[i];
        dx[1] = apply(t, conv_weight_op[a->nsp - 1], x, g, NULL, &wa);
    }
    if (b && (b->flags & TG_REQUIRES_GRAD)) dx[2] = bias_vjp(t, g);
    return TG_OK;
}

/* conv_transpose: y = convᵀ(x, w) + b, the adjoint of conv in its input
   (x is on the output's side, y on the input's)
   dx = conv(g, w)          (its output cut at x's size: pad_hi − out_pad)
   dw = conv_weight(g, x)   db = Σ_{n,p} g */
static int conv_transpose_forward(tg_record *r)
{
    conv_geom g = conv_transpose_geom_of(r);
    tg_real *scr = take_scratch(r, &g);
    if (!scr) return TG_ERR_NOMEM;
    const tg_tensor *b = r->in[2];
    tg_real *y = r->out->data; /* [N, C, H, W] */
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t c = 0; c < g.C; c++)
            for (int64_t p = 0; p < g.HW; p++) y[(n * g.C + c) * g.HW + p] = b ? b->data[c] : 0;
    conv_data_kernel(&g, scr, r->in[0]->data, r->in[1]->data, y);
    return TG_OK;
}

static void conv_transpose_backward(tg_record *r)
{
    conv_geom g = conv_transpose_geom_of(r);
    tg_tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
    const tg_real *gy = r->out->grad; /* [N, C, H, W] */
    if (w->grad) conv_weight_kernel(&g, r->saved, gy, x->data, w->grad);
    if (x->grad) conv_forward_kernel(&g, r->saved, gy, w->data, NULL, x->grad, true);
    if (b && b->grad) bias_grad(b->grad, gy, g.N, g.C, g.HW, false);
}

/* the convolution whose adjoint the transpose is, with its output cut (or
   extended) to the transpose's input size */
static conv_attr forward_attr(const conv_attr *a)
{
    conv_attr c = *a;
    for (int d = 0; d < 2; d++) {
        c.pad_hi[d] -= c.out_pad[d];
        c.out_pad[d] = 0;
    }
    return c;
}

static int conv_transpose_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const conv_attr *a = r->attr;
    tg_tensor *x = r->in[0], *w = r->in[1], *b = r->in[2];
    conv_attr c = forward_attr(a);
    if (x->flags & TG_REQUIRES_GRAD) dx[0] = apply(t, conv_op[a->nsp - 1], g, w, NULL, &c);
    if (w->flags & TG_REQUIRES_GRAD) {
        for (int i = 0; i < w->ndim; i++) c.wshape[i] = w->shape[i];
        dx[1] = apply(t, conv_weight_op[a->nsp - 1], g, x, NULL, &c);
    }
    if (b && (b->flags & TG_REQUIRES_GRAD)) dx[2] = bias_vjp(t, g);
    return TG_OK;
}

/* conv_weight: W = Σ_n go · patches(x)ᵀ (torch.nn.grad.conv2d_weight), the
   gradient of conv in its weight; with G the gradient of W:
   dx = convᵀ(go, G)   dgo = conv(x, G) */
static int conv_weight_forward(tg_record *r)
{
    conv_geom g = conv_weight_geom_of(r);
    tg_real *scr = take_scratch(r, &g);
    if (!scr) return TG_ERR_NOMEM;
    memset(r->out->data, 0, (size_t)r->out->size * sizeof(tg_real));
    conv_weight_kernel(&g, scr, r->in[0]->data, r->in[1]->data, r->out->data);
    return TG_OK;
}

static void conv_weight_backward(tg_record *r)
{
    conv_geom g = conv_weight_geom_of(r);
    tg_tensor *x = r->in[0], *go = r->in[1];
    const tg_real *G = r->out->grad; /* the weight's shape */
    if (x->grad) conv_data_kernel(&g, r->saved, go->data, G, x->grad);
    if (go->grad) conv_forward_kernel(&g, r->saved, x->data, G, NULL, go->grad, true);
}

static int conv_weight_vjp(tg_tape *t, const tg_record *r, tg_tensor *G, tg_tensor **dx)
{
    const conv_attr *a = r->attr;
    tg_tensor *x = r->in[0], *go = r->in[1];
    if (x->flags & TG_REQUIRES_GRAD) {
        conv_attr ta = *a;
        int64_t x4[4], w4[4], y4[4];
        dims4(x, a->nsp, x4), dims4(r->out, a->nsp, w4), dims4(go, a->nsp, y4);
        out_pad_for(&ta, x4, w4, y4);
        dx[0] = apply(t, conv_transpose_op[a->nsp - 1], go, G, NULL, &ta);
    }
    if (go->flags & TG_REQUIRES_GRAD) dx[1] = apply(t, conv_op[a->nsp - 1], x, G, NULL, a);
    return TG_OK;
}

#define CONV_OP(VAR, NAME, KIND, N_IN, FLAGS, DOC)                                       \
    static const tg_op VAR = {.name = NAME,                                              \
                              .n_inputs = N_IN,                                          \
                              .attr_size = sizeof(conv_attr),                            \
                              .shape = KIND##_shape,                                     \
                              .forward = KIND##_forward,                                 \
                              .backward = KIND##_backward,                               \
                              .vjp = KIND##_vjp,                                         \
                              .flags = FLAGS,                                            \
                              .doc = DOC};

/* conv's rule writes fresh gradients (TG_OP_WRITES_FRESH): the input's
   gradient by col2im's stores, the weight's by its first product, the
   bias's sums; the engine's zeroing of the input's gradient first, and
   col2im's reads of it, cost LeNet's 6->16 and 16->32 steps 1.5-2% (bench_conv,
   pairs against the build before at the same speed). */
CONV_OP(op_conv1d, "conv1d", conv, 3, TG_OP_WRITES_FRESH,
        "1-D convolution: [N,C,L] * [O,C/g,k] + b")
CONV_OP(op_conv2d, "conv2d", conv, 3, TG_OP_WRITES_FRESH,
        "2-D convolution: [N,C,H,W] * [O,C/g,kH,kW] + b")
CONV_OP(op_conv_transpose1d, "conv_transpose1d", conv_transpose, 3, 0,
        "1-D transposed convolution (conv1d's adjoint in its input) + b")
CONV_OP(op_conv_transpose2d, "conv_transpose2d", conv_transpose, 3, 0,
        "2-D transposed convolution (conv2d's adjoint in its input) + b")
CONV_OP(op_conv1d_weight, "conv1d_weight", conv_weight, 2, 0,
        "conv1d's weight gradient from its input and output gradient")
CONV_OP(op_conv2d_weight, "conv2d_weight", conv_weight, 2, 0,
        "conv2d's weight gradient from its input and output gradient")

/* ------------------------------------------------------------ public calls */

/* The attributes of a call from its options (NULL: PyTorch's defaults), or
   an error on the tape naming fn. For 1-D only entry 0 of each pair is
   read. `w` gives the kernel for padding "same" (when its rank is right;
   otherwise the shape check reports it). */
static bool attr_of(tg_tape *t, const char *fn, int nsp, bool transposed, const tg_conv_opts *o,
                    const tg_tensor *w, conv_attr *a)
{
    static const tg_conv_opts dflt;
    if (!o) o = &dflt;
    memset(a, 0, sizeof *a);
    a->nsp = nsp;
    a->groups = o->groups == 0 ? 1 : o->groups;
    if (o->groups < 0 || o->groups > CONV_MAX_ATTR) {
        tg_tape_set_error(t, "tg_%s: groups %lld is %s", fn, (long long)o->groups,
                          o->groups < 0 ? "invalid (at least 1; 0 means the default 1)"
                                        : "too large");
        return false;
    }
    for (int d = 0; d < 2; d++) {
        a->stride[d] = a->dilation[d] = 1;
        if (nsp == 1 && d == 0) continue; /* the height of a 1-D op */
        int k = nsp == 1 ? 0 : d;          /* the entry of opts read */
        const char *what[4] = {"stride", "dilation", "padding", "output_padding"};
        const int64_t v[4] = {o->stride[k], o->dilation[k], o->padding[k], o->output_padding[k]};
        for (int i = 0; i < 4; i++)
            if (v[i] < 0 || v[i] > CONV_MAX_ATTR) {
                tg_tape_set_error(t, "tg_%s: %s %lld is %s", fn, what[i], (long long)v[i],
                                  v[i] < 0 ? (i < 2 ? "invalid (at least 1; 0 means the default 1)"
                                                    : "negative")
                                           : "too large");
                return false;
            }
        a->stride[d] = o->stride[k] ? o->stride[k] : 1;
        a->dilation[d] = o->dilation[k] ? o->dilation[k] : 1;
        a->pad_lo[d] = a->pad_hi[d] = o->padding[k];
        a->out_pad[d] = o->output_padding[k];
        if (!transposed && o->output_padding[k] != 0) {
            tg_tape_set_error(t, "tg_%s: output_padding is for transposed convolutions; got %lld",
                              fn, (long long)o->output_padding[k]);
            return false;
        }
        if (!o->padding_same) continue;
        if (transposed || a->stride[d] != 1 || o->padding[k] != 0) {
            tg_tape_set_error(t, "tg_%s: padding \"same\" %s", fn,
                              transposed ? "is for convolutions, not transposed ones"
                              : a->stride[d] != 1
                                  ? "needs stride 1 (as PyTorch: not for strided convolutions)"
                                  : "replaces padding, which must be 0");
            return false;
        }
        /* total d·(k − 1), the odd one at the end (PyTorch's split) */
        if (w && w->ndim == nsp + 2) {
            int64_t k = w->shape[nsp == 1 ? 2 : 2 + d], dk;
            if (k >= 1 && dilated(k, a->dilation[d], &dk)) {
                a->pad_lo[d] = (dk - 1) / 2;
                a->pad_hi[d] = dk - 1 - a->pad_lo[d];
            }
        }
    }
    return true;
}

/* Runs op on x (batched, or unbatched: one sample without the N axis, as
   PyTorch accepts) and the weight and bias. */
static tg_tensor *run(tg_tape *t, const tg_op *op, int nsp, bool transposed, tg_tensor *x,
                      tg_tensor *w, tg_tensor *b, const tg_conv_opts *opts)
{
    if (!t) return tg_no_tape(op->name);
    if (!x) return tg_null_input(t, op->name);
    conv_attr a;
    if (!attr_of(t, op->name, nsp, transposed, opts, w, &a)) return NULL;
    if (x->ndim != nsp + 1) return apply(t, op, x, w, b, &a);
    int64_t shape[TG_MAX_DIMS];
    shape[0] = 1;
    for (int i = 0; i < x->ndim; i++) shape[i + 1] = x->shape[i];
    tg_tensor *y = apply(t, op, tg_reshape(t, x, x->ndim + 1, shape), w, b, &a);
    return y ? tg_reshape(t, y, y->ndim - 1, y->shape + 1) : NULL;
}

tg_tensor *tg_conv1d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_opts *o)
{
    return run(t, &op_conv1d, 1, false, x, w, b, o);
}

tg_tensor *tg_conv2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_opts *o)
{
    return run(t, &op_conv2d, 2, false, x, w, b, o);
}

tg_tensor *tg_conv_transpose1d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b,
                               const tg_conv_opts *o)
{
    return run(t, &op_conv_transpose1d, 1, true, x, w, b, o);
}

tg_tensor *tg_conv_transpose2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b,
                               const tg_conv_opts *o)
{
    return run(t, &op_conv_transpose2d, 2, true, x, w, b, o);
}

static tg_tensor *weight_grad(tg_tape *t, const tg_op *op, int nsp, tg_tensor *x,
                              const int64_t *wshape, tg_tensor *go, const tg_conv_opts *opts)
{
    if (!t) return tg_no_tape(op->name);
    if (!x) return tg_null_input(t, op->name);
    if (!wshape) {
        tg_tape_set_error(t, "tg_%s: weight_shape is NULL", op->name);
        return NULL;
    }
    /* the kernel of padding "same" is the weight shape's */
    tg_tensor w = {.ndim = nsp + 2};
    for (int i = 0; i < w.ndim; i++) w.shape[i] = wshape[i];
    conv_attr a;
    if (!attr_of(t, op->name, nsp, false, opts, &w, &a)) return NULL;
    for (int i = 0; i < w.ndim; i++) a.wshape[i] = wshape[i];
    return apply(t, op, x, go, NULL, &a);
}

tg_tensor *tg_conv1d_weight(tg_tape *t, tg_tensor *x, const int64_t *weight_shape,
                            tg_tensor *grad_output, const tg_conv_opts *opts)
{
    return weight_grad(t, &op_conv1d_weight, 1, x, weight_shape, grad_output, opts);
}

tg_tensor *tg_conv2d_weight(tg_tape *t, tg_tensor *x, const int64_t *weight_shape,
                            tg_tensor *grad_output, const tg_conv_opts *opts)
{
    return weight_grad(t, &op_conv2d_weight, 2, x, weight_shape, grad_output, opts);
}

static const tg_op *const conv_ops[] = {&op_conv1d,           &op_conv2d,
                                        &op_conv_transpose1d, &op_conv_transpose2d,
                                        &op_conv1d_weight,    &op_conv2d_weight};
const tg_op_table tg_conv_ops = {conv_ops, sizeof conv_ops / sizeof *conv_ops};
