/* Shape ops: reshape and flatten (views: the output shares the input's
   data; squeeze, unsqueeze and flatten_range are reshapes too), permute and
   transpose (copies with the axes reordered; movedim and swapaxes are
   permutes and transposes), expand (broadcast to a shape) and its adjoint
   sum_to (sum over the broadcast axes).

   Every tapegrad tensor is contiguous and row-major: an op that reorders
   axes copies, so there is no strided view to make contiguous later. */
#include "ops/ops_internal.h"

typedef struct {
    int ndim;
    int64_t shape[TG_MAX_DIMS];
} shape_attr;

static int reshape_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                         size_t len)
{
    const shape_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    int infer = -1;
    int64_t known = 1;
    if (a->ndim < 0 || a->ndim > TG_MAX_DIMS) {
        snprintf(msg, len, "a shape needs 0..%d dimensions, got %d", TG_MAX_DIMS, a->ndim);
        return TG_ERR_INVALID;
    }
    for (int i = 0; i < a->ndim; i++) {
        shape[i] = a->shape[i] == -1 ? 1 : a->shape[i];
        if (a->shape[i] == -1 && infer < 0) {
            infer = i;
        } else if (a->shape[i] < 0) {
            snprintf(msg, len, "invalid dimension %lld at %d", (long long)a->shape[i], i);
            return TG_ERR_INVALID;
        }
    }
    /* the known dimensions' product, checked for overflow ([2^32, 2^32, -1]) */
    if (!tg_shape_numel(a->ndim, shape, &known)) {
        char bs[160];
        snprintf(msg, len, "the shape %s has more elements than memory can address",
                 tg_dims_str(a->ndim, a->shape, bs, sizeof bs));
        return TG_ERR_SHAPE;
    }
    if (infer >= 0) shape[infer] = known ? x->size / known : 0;
    int64_t n = 0;
    bool fits = tg_shape_numel(a->ndim, shape, &n);
    if (!fits || n != x->size || (infer >= 0 && known == 0)) {
        char bx[128], bs[128];
        snprintf(msg, len, "cannot reshape %s (%lld elements) to %s", tg_shape_str(x, bx, sizeof bx),
                 (long long)x->size, tg_dims_str(a->ndim, a->shape, bs, sizeof bs));
        return TG_ERR_SHAPE;
    }
    *ndim = a->ndim;
    return TG_OK;
}

/* y = x viewed with a new shape (data shared)     dx += g (same order) */
static int reshape_forward(tg_record *r)
{
    (void)r; /* TG_OP_ALIAS: the engine points out->data at in[0]->data */
    return TG_OK;
}

/* dx += g, or dx = 0 + g for a fresh gradient (TG_OP_WRITES_FRESH) */
static void reshape_backward(tg_record *r)
{
    const tg_real *g = r->out->grad;
    tg_real *dx = r->in[0]->grad;
    if (tg_grad_fresh(r->in[0])) /* 0 + g: the bits of zeros then added to */
        for (int64_t i = 0; i < r->out->size; i++) dx[i] = (tg_real)0 + g[i];
    else
        for (int64_t i = 0; i < r->out->size; i++) dx[i] += g[i];
}

static int reshape_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    dx[0] = tg_reshape(t, g, r->in[0]->ndim, r->in[0]->shape);
    return TG_OK;
}

static const tg_op op_reshape = {.name = "reshape",
                                 .n_inputs = 1,
                                 .attr_size = sizeof(shape_attr),
                                 .flags = TG_OP_ALIAS | TG_OP_WRITES_FRESH,
                                 .shape = reshape_shape,
                                 .forward = reshape_forward,
                                 .backward = reshape_backward,
                                 .vjp = reshape_vjp,
                                 .doc = "same data, new shape"};

tg_tensor *tg_reshape(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape)
{
    if (!x) return tg_null_input(t, "reshape");
    if (ndim < 0 || ndim > TG_MAX_DIMS || (ndim > 0 && !shape)) {
        tg_tape_set_error(t, "tg_reshape: a shape needs 0..%d dimensions, got %d", TG_MAX_DIMS,
                          ndim);
        return NULL;
    }
    shape_attr a = {.ndim = ndim};
    for (int i = 0; i < ndim; i++) a.shape[i] = shape[i];
    return tg_apply(t, &op_reshape, &x, 1, &a);
}

tg_tensor *tg_flatten(tg_tape *t, tg_tensor *x)
{
    if (!x) return tg_null_input(t, "flatten");
    if (x->ndim <= 1) return tg_reshape(t, x, x->ndim, x->shape);
    /* the product itself, not -1: [0, 3, 4, 5] is [0, 60] (0 elements would
       leave a -1 undetermined) */
    int64_t rest = 1;
    for (int i = 1; i < x->ndim; i++) rest *= x->shape[i];
    return tg_reshape(t, x, TG_SHAPE(x->shape[0], rest));
}

tg_tensor *tg_flatten_range(tg_tape *t, tg_tensor *x, int start_dim, int end_dim)
{
    if (!x) return tg_null_input(t, "flatten_range");
    int n = x->ndim > 0 ? x->ndim : 1, s = 0, e = 0; /* a 0-d tensor flattens to [1] */
    bool in_range = tg_axis(start_dim, n, &s) && tg_axis(end_dim, n, &e);
    if (!in_range || s > e) {
        char b[128];
        tg_tape_set_error(t, "tg_flatten_range: axes %d..%d are %s for shape %s", start_dim,
                          end_dim, in_range ? "in the wrong order (start after end)" : "out of range",
                          tg_shape_str(x, b, sizeof b));
        return NULL;
    }
    if (x->ndim == 0) return tg_reshape(t, x, TG_SHAPE(1));
    int64_t shape[TG_MAX_DIMS], merged = 1;
    int m = 0;
    for (int i = 0; i < s; i++) shape[m++] = x->shape[i];
    for (int i = s; i <= e; i++) merged *= x->shape[i]; /* ≤ x->size: no overflow */
    shape[m++] = merged;
    for (int i = e + 1; i < x->ndim; i++) shape[m++] = x->shape[i];
    return tg_reshape(t, x, m, shape);
}

/* x reshaped without the axes `drop` marks (a bit per axis). */
static tg_tensor *drop_axes(tg_tape *t, tg_tensor *x, unsigned drop)
{
    int64_t shape[TG_MAX_DIMS];
    int m = 0;
    for (int i = 0; i < x->ndim; i++)
        if (!(drop >> i & 1u)) shape[m++] = x->shape[i];
    return tg_reshape(t, x, m, shape);
}

tg_tensor *tg_squeeze(tg_tape *t, tg_tensor *x)
{
    if (!x) return tg_null_input(t, "squeeze");
    unsigned drop = 0;
    for (int i = 0; i < x->ndim; i++)
        if (x->shape[i] == 1) drop |= 1u << i;
    return drop_axes(t, x, drop);
}

tg_tensor *tg_squeeze_axis(tg_tape *t, tg_tensor *x, int axis)
{
    if (!x) return tg_null_input(t, "squeeze_axis");
    int a;
    if (x->ndim == 0 && (axis == 0 || axis == -1)) return tg_reshape(t, x, 0, NULL);
    if (!tg_axis(axis, x->ndim, &a)) {
        char b[128];
        tg_tape_set_error(t, "tg_squeeze_axis: axis %d is out of range for shape %s", axis,
                          tg_shape_str(x, b, sizeof b));
        return NULL;
    }
    /* an axis whose size is not 1 stays, as in PyTorch */
    return drop_axes(t, x, x->shape[a] == 1 ? 1u << a : 0);
}

tg_tensor *tg_unsqueeze(tg_tape *t, tg_tensor *x, int axis)
{
    if (!x) return tg_null_input(t, "unsqueeze");
    int a; /* the new axis's place among ndim + 1 */
    char b[128];
    if (x->ndim == TG_MAX_DIMS) {
        tg_tape_set_error(t, "tg_unsqueeze: %s has %d axes already, the most a tensor can have",
                          tg_shape_str(x, b, sizeof b), TG_MAX_DIMS);
        return NULL;
    }
    if (!tg_axis(axis, x->ndim + 1, &a)) {
        tg_tape_set_error(t, "tg_unsqueeze: axis %d is out of range for shape %s (-%d..%d)", axis,
                          tg_shape_str(x, b, sizeof b), x->ndim + 1, x->ndim);
        return NULL;
    }
    int64_t shape[TG_MAX_DIMS];
    for (int i = 0, k = 0; i <= x->ndim; i++) shape[i] = i == a ? 1 : x->shape[k++];
    return tg_reshape(t, x, x->ndim + 1, shape);
}

/* ------------------------------------------------------ permute, transpose */

/* What permute_copy does with each value: copies it, adds it, or writes it
   into a fresh gradient (0 + it). */
typedef enum { PERMUTE_COPY, PERMUTE_ADD, PERMUTE_WRITE } permute_mode;

/* permute_copy when dst's last axis reads src with a stride (a transpose of
   the last two axes, for one): dst's axes j and n − 1 are copied in tiles
   of TILE x TILE through a buffer. Each line of src is read whole into the
   buffer (already transposed there), then each row of the tile is written
   to dst from it: reading a tile's column of src straight from memory made
   every line of a power-of-two stride fall into the same cache set (a
   64 MiB transpose took 22.5 times memcpy's time, 8.8 with tiles read in
   place, about 2.7 through the buffer, 2.0-2.3 with the buffer filled by
   8 x 8 shuffles: load_tile_8x8). Each element is written (or added)
   once, so the result is the same, bit for bit, as the plain walk. shape
   and stride are dst's shape and the src stride of each dst axis;
   stride[j] is 1. */
enum { TILE = 64 };
/* A full tile of the float build read into the buffer by 8 x 8 blocks,
   each transposed in registers: eight rows of eight floats loaded as
   vectors, then the three rounds of shuffles of the classic 8 x 8
   transpose (pairs of rows interleaved, then pairs of pairs, then the two
   halves swapped between rows four apart), and stored as eight rows of
   the buffer. One element at a time, the copy into the buffer was the
   transpose's cost. The rows of src read by a block stay in the cache for
   the next block of the same rows. Compilers with __builtin_shufflevector
   (GCC 12, Clang) only; elsewhere, and in the double build, the plain loop. */
#if !defined(TG_DOUBLE) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12))
#define TILE_SHUFFLES 1
typedef float tile_v8 __attribute__((vector_size(32)));

TG_VECTOR_LOOP static void load_tile_8x8(float (*restrict buf)[TILE], const float *restrict x,
                                         int64_t step)
{
    for (int kk = 0; kk < TILE; kk += 8)
        for (int ii = 0; ii < TILE; ii += 8) {
            tile_v8 r[8], t[8], u[8];
            for (int a = 0; a < 8; a++) memcpy(&r[a], x + (kk + a) * step + ii, sizeof r[a]);
            for (int a = 0; a < 8; a += 2) { /* rows a, a + 1 interleaved */
                t[a] = __builtin_shufflevector(r[a], r[a + 1], 0, 8, 1, 9, 4, 12, 5, 13);
                t[a + 1] = __builtin_shufflevector(r[a], r[a + 1], 2, 10, 3, 11, 6, 14, 7, 15);
            }
            for (int a = 0; a < 8; a += 4) { /* pairs of pairs */
                u[a] = __builtin_shufflevector(t[a], t[a + 2], 0, 1, 8, 9, 4, 5, 12, 13);
                u[a + 1] = __builtin_shufflevector(t[a], t[a + 2], 2, 3, 10, 11, 6, 7, 14, 15);
                u[a + 2] = __builtin_shufflevector(t[a + 1], t[a + 3], 0, 1, 8, 9, 4, 5, 12, 13);
                u[a + 3] = __builtin_shufflevector(t[a + 1], t[a + 3], 2, 3, 10, 11, 6, 7, 14, 15);
            }
            for (int b = 0; b < 4; b++) { /* halves: column b and column b + 4 */
                tile_v8 lo = __builtin_shufflevector(u[b], u[b + 4], 0, 1, 2, 3, 8, 9, 10, 11);
                tile_v8 hi = __builtin_shufflevector(u[b], u[b + 4], 4, 5, 6, 7, 12, 13, 14, 15);
                memcpy(&buf[ii + b][kk], &lo, sizeof lo);
                memcpy(&buf[ii + b + 4][kk], &hi, sizeof hi);
            }
        }
}
#else
#define TILE_SHUFFLES 0
static void load_tile_8x8(tg_real (*buf)[TILE], const tg_real *x, int64_t step)
{
    (void)buf, (void)x, (void)step;
}
#endif

static void permute_tiles(tg_real *dst, const tg_real *src, int n, const int64_t *shape,
                          const int64_t *stride, int j, permute_mode mode)
{
    int64_t dstr[TG_MAX_DIMS], s = 1;
    for (int i = n - 1; i >= 0; i--) {
        dstr[i] = s;
        s *= shape[i];
    }
    int64_t A = shape[j], B = shape[n - 1], dj = dstr[j], step = stride[n - 1];
    int64_t idx[TG_MAX_DIMS] = {0}, od = 0, os = 0;
    tg_real buf[TILE][TILE]; /* a tile, already transposed */
    bool stream = mode == PERMUTE_COPY && s >= TG_STREAM_BYTES / (int64_t)sizeof(tg_real);
    for (;;) {
        for (int64_t i0 = 0; i0 < A; i0 += TILE)
            for (int64_t k0 = 0; k0 < B; k0 += TILE) {
                int64_t i1 = i0 + TILE < A ? i0 + TILE : A, k1 = k0 + TILE < B ? k0 + TILE : B;
                int64_t wi = i1 - i0, wk = k1 - k0;
                if (wi == TILE && wk == TILE && TILE_SHUFFLES) {
                    load_tile_8x8(buf, src + os + k0 * step + i0, step);
                } else {
                    for (int64_t k = 0; k < wk; k++) { /* src's lines, each read once */
                        const tg_real *x = src + os + (k0 + k) * step + i0;
                        for (int64_t i = 0; i < wi; i++) buf[i][k] = x[i];
                    }
                }
                for (int64_t i = 0; i < wi; i++) {
                    tg_real *d = dst + od + (i0 + i) * dj + k0;
                    if (mode == PERMUTE_ADD)
                        for (int64_t k = 0; k < wk; k++) d[k] += buf[i][k];
                    else if (mode == PERMUTE_WRITE)
                        for (int64_t k = 0; k < wk; k++) d[k] = (tg_real)0 + buf[i][k];
                    else if (!stream || wk != TILE || !tg_stream_copy(d, buf[i], wk))
                        memcpy(d, buf[i], (size_t)wk * sizeof *d);
                }
            }
        int i = n - 2; /* odometer over the axes other than j and n − 1 */
        for (; i >= 0; i--) {
            if (i == j) continue;
            od += dstr[i], os += stride[i];
            if (++idx[i] < shape[i]) break;
            od -= dstr[i] * shape[i], os -= stride[i] * shape[i];
            idx[i] = 0;
        }
        if (i < 0) {
            if (stream) tg_stream_fence();
            return;
        }
    }
}

/* dst = src with its axes reordered: axis i of dst is axis perm[i] of src
   (src has the shape of `from`); PERMUTE_ADD: dst += instead; PERMUTE_WRITE:
   dst = 0 + src, the bits of zeros then added to (a −0 becomes +0), for a
   fresh gradient. Walks dst in order, reading src with the permuted
   strides. Forward and backward of permute and transpose (the backward
   passes the inverse permutation). */
static void permute_copy(tg_real *dst, const tg_real *src, const tg_tensor *from,
                         const int *perm, permute_mode mode)
{
    int n = from->ndim;
    if (from->size == 0) return;
    if (n == 0) {
        dst[0] = mode == PERMUTE_ADD ? dst[0] + src[0]
                 : mode == PERMUTE_WRITE ? (tg_real)0 + src[0]
                                         : src[0];
        return;
    }
    int64_t src_stride[TG_MAX_DIMS], stride[TG_MAX_DIMS] = {0}, shape[TG_MAX_DIMS] = {0};
    int64_t s = 1;
    for (int i = n - 1; i >= 0; i--) {
        src_stride[i] = s;
        s *= from->shape[i];
    }
    for (int i = 0; i < n; i++) {
        stride[i] = src_stride[perm[i]];
        shape[i] = from->shape[perm[i]];
    }
    int64_t run = shape[n - 1], step = stride[n - 1];
    int j = n - 1; /* the axis of dst that reads src's last, contiguous axis */
    while (j > 0 && stride[j] != 1) j--;
    if (step != 1 && stride[j] == 1 && run >= 8 && shape[j] >= 8) {
        permute_tiles(dst, src, n, shape, stride, j, mode);
        return;
    }
    int64_t idx[TG_MAX_DIMS] = {0}, off = 0;
    for (int64_t o = 0; o < from->size; o += run) {
        tg_real *d = dst + o;
        const tg_real *x = src + off;
        if (mode == PERMUTE_ADD)
            for (int64_t k = 0; k < run; k++) d[k] += x[k * step];
        else if (mode == PERMUTE_WRITE)
            for (int64_t k = 0; k < run; k++) d[k] = (tg_real)0 + x[k * step];
        else
            for (int64_t k = 0; k < run; k++) d[k] = x[k * step];
        for (int i = n - 2; i >= 0; i--) { /* odometer over the outer axes of dst */
            off += stride[i];
            if (++idx[i] < shape[i]) break;
            off -= stride[i] * shape[i];
            idx[i] = 0;
        }
    }
}

/* A rule's mode for x's gradient: written if fresh (TG_OP_WRITES_FRESH) */
static permute_mode grad_mode(const tg_tensor *x)
{
    return tg_grad_fresh(x) ? PERMUTE_WRITE : PERMUTE_ADD;
}

/* The permutation that swaps axes d0 and d1 of n. */
static void swap_perm(int *perm, int n, int d0, int d1)
{
    for (int i = 0; i < n; i++) perm[i] = i;
    perm[d0] = d1;
    perm[d1] = d0;
}

typedef struct {
    int perm[TG_MAX_DIMS]; /* normalised, a permutation of 0..ndim-1 */
} permute_attr;

static int permute_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                         size_t len)
{
    const permute_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    unsigned seen = 0;
    for (int i = 0; i < x->ndim; i++) {
        int p = a->perm[i];
        if (p < 0 || p >= x->ndim || (seen >> p & 1u)) {
            char b[128];
            snprintf(msg, len, "the axes are not a permutation of the %d axes of %s", x->ndim,
                     tg_shape_str(x, b, sizeof b));
            return TG_ERR_INVALID;
        }
        seen |= 1u << p;
        shape[i] = x->shape[p];
    }
    *ndim = x->ndim;
    return TG_OK;
}

/* y[i0, i1, ...] = x at the index whose axis perm[k] is i_k
   dx += g permuted back (by the inverse permutation: axis perm[k] of dx is
   axis k of g; dx = 0 + that for a fresh gradient, grad_mode) */
static int permute_forward(tg_record *r)
{
    const permute_attr *a = r->attr;
    permute_copy(r->out->data, r->in[0]->data, r->in[0], a->perm, PERMUTE_COPY);
    return TG_OK;
}

static void inverse_perm(int *inv, const int *perm, int n)
{
    for (int i = 0; i < n; i++) inv[perm[i]] = i;
}

static void permute_backward(tg_record *r)
{
    const permute_attr *a = r->attr;
    int inv[TG_MAX_DIMS];
    inverse_perm(inv, a->perm, r->out->ndim);
    permute_copy(r->in[0]->grad, r->out->grad, r->out, inv, grad_mode(r->in[0]));
}

static int permute_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const permute_attr *a = r->attr;
    int inv[TG_MAX_DIMS];
    inverse_perm(inv, a->perm, r->out->ndim);
    dx[0] = tg_permute(t, g, r->out->ndim, inv);
    return TG_OK;
}

static const tg_op op_permute = {.name = "permute",
                                 .n_inputs = 1,
                                 .attr_size = sizeof(permute_attr),
                                 .flags = TG_OP_WRITES_FRESH, /* its rule writes a fresh dx */
                                 .shape = permute_shape,
                                 .forward = permute_forward,
                                 .backward = permute_backward,
                                 .vjp = permute_vjp,
                                 .doc = "reorder the axes (a copy)"};

tg_tensor *tg_permute(tg_tape *t, tg_tensor *x, int ndim, const int *dims)
{
    if (!x) return tg_null_input(t, "permute");
    char b[128];
    if (ndim != x->ndim || (ndim > 0 && !dims)) {
        if (dims)
            tg_tape_set_error(t, "tg_permute: %d axes given for the %d axes of %s", ndim, x->ndim,
                              tg_shape_str(x, b, sizeof b));
        else
            tg_tape_set_error(t, "tg_permute: dims is NULL for the %d axes of %s", x->ndim,
                              tg_shape_str(x, b, sizeof b));
        return NULL;
    }
    permute_attr a = {{0}};
    for (int i = 0; i < ndim; i++)
        if (!tg_axis(dims[i], ndim, &a.perm[i])) {
            tg_tape_set_error(t, "tg_permute: axis %d (at position %d) is out of range for %s",
                              dims[i], i, tg_shape_str(x, b, sizeof b));
            return NULL;
        }
    return tg_apply(t, &op_permute, &x, 1, &a);
}

tg_tensor *tg_movedim(tg_tape *t, tg_tensor *x, int source, int destination)
{
    if (!x) return tg_null_input(t, "movedim");
    int n = x->ndim, s, d;
    /* a 0-d tensor takes axes 0 and -1, as in PyTorch: itself */
    if (n == 0 && (source == 0 || source == -1) && (destination == 0 || destination == -1))
        return tg_reshape(t, x, 0, NULL);
    if (!tg_axis(source, n, &s) || !tg_axis(destination, n, &d)) {
        char b[128];
        tg_tape_set_error(t, "tg_movedim: axes (%d, %d) are out of range for shape %s", source,
                          destination, tg_shape_str(x, b, sizeof b));
        return NULL;
    }
    /* the other axes keep their order around the moved one */
    int perm[TG_MAX_DIMS], k = 0;
    for (int i = 0; i < n; i++) {
        if (i == d) continue;
        if (k == s) k++;
        perm[i] = k++;
    }
    perm[d] = s;
    return tg_permute(t, x, n, perm);
}

tg_tensor *tg_contiguous(tg_tape *t, tg_tensor *x)
{
    if (!x) return tg_null_input(t, "contiguous");
    return x;
}

typedef struct {
    int d0, d1; /* normalised axes */
} transpose_attr;

static int transpose_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                           size_t len)
{
    const transpose_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    if (a->d0 < 0 || a->d0 >= x->ndim || a->d1 < 0 || a->d1 >= x->ndim) {
        char b[128];
        snprintf(msg, len, "axes (%d, %d) are out of range for shape %s", a->d0, a->d1,
                 tg_shape_str(x, b, sizeof b));
        return TG_ERR_INVALID;
    }
    *ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[a->d0] = x->shape[a->d1];
    shape[a->d1] = x->shape[a->d0];
    return TG_OK;
}

/* y = x with axes d0, d1 swapped      dx += g with the same axes swapped back
   (dx = 0 + that for a fresh gradient, grad_mode) */
static int transpose_forward(tg_record *r)
{
    const transpose_attr *a = r->attr;
    int perm[TG_MAX_DIMS];
    swap_perm(perm, r->in[0]->ndim, a->d0, a->d1);
    permute_copy(r->out->data, r->in[0]->data, r->in[0], perm, PERMUTE_COPY);
    return TG_OK;
}

static void transpose_backward(tg_record *r)
{
    const transpose_attr *a = r->attr;
    int perm[TG_MAX_DIMS];
    swap_perm(perm, r->out->ndim, a->d0, a->d1); /* a swap is its own inverse */
    permute_copy(r->in[0]->grad, r->out->grad, r->out, perm, grad_mode(r->in[0]));
}

static int transpose_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const transpose_attr *a = r->attr;
    dx[0] = tg_transpose(t, g, a->d0, a->d1);
    return TG_OK;
}

static const tg_op op_transpose = {.name = "transpose",
                                   .n_inputs = 1,
                                   .attr_size = sizeof(transpose_attr),
                                   .flags = TG_OP_WRITES_FRESH, /* its rule writes a fresh dx */
                                   .shape = transpose_shape,
                                   .forward = transpose_forward,
                                   .backward = transpose_backward,
                                   .vjp = transpose_vjp,
                                   .doc = "swap two axes"};

/* transpose under the name fn (tg_transpose, tg_swapaxes, tg_swapdims) */
static tg_tensor *swap(tg_tape *t, const char *fn, tg_tensor *x, int dim0, int dim1)
{
    if (!x) return tg_null_input(t, fn + 3);
    /* a 0-d tensor takes axes 0 and -1, as in PyTorch: itself */
    if (x->ndim == 0 && (dim0 == 0 || dim0 == -1) && (dim1 == 0 || dim1 == -1))
        return tg_reshape(t, x, 0, NULL);
    transpose_attr a;
    if (!tg_axis(dim0, x->ndim, &a.d0) || !tg_axis(dim1, x->ndim, &a.d1)) {
        char b[128];
        tg_tape_set_error(t, "%s: axes (%d, %d) are out of range for shape %s", fn, dim0, dim1,
                          tg_shape_str(x, b, sizeof b));
        return NULL;
    }
    return tg_apply(t, &op_transpose, &x, 1, &a);
}

tg_tensor *tg_transpose(tg_tape *t, tg_tensor *x, int dim0, int dim1)
{
    return swap(t, "tg_transpose", x, dim0, dim1);
}

tg_tensor *tg_swapaxes(tg_tape *t, tg_tensor *x, int axis0, int axis1)
{
    return swap(t, "tg_swapaxes", x, axis0, axis1);
}

tg_tensor *tg_swapdims(tg_tape *t, tg_tensor *x, int dim0, int dim1)
{
    return swap(t, "tg_swapdims", x, dim0, dim1);
}

/* ------------------------------------------------------- expand and sum_to */

/* Whether `from` broadcasts to `to` (NumPy: right-aligned, each dimension
   equal or 1; `to` has at least as many). */
static bool broadcasts_to(int nf, const int64_t *from, int nt, const int64_t *to)
{
    if (nf > nt) return false;
    for (int i = 0; i < nf; i++) {
        int64_t f = from[nf - 1 - i], d = to[nt - 1 - i];
        if (f != d && f != 1) return false;
    }
    return true;
}

/* expand: the output has the attribute's shape, x broadcast to it. */
static int expand_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    const shape_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    if (!broadcasts_to(x->ndim, x->shape, a->ndim, a->shape)) {
        char bx[128], bs[128];
        snprintf(msg, len, "%s does not broadcast to %s", tg_shape_str(x, bx, sizeof bx),
                 tg_dims_str(a->ndim, a->shape, bs, sizeof bs));
        return TG_ERR_SHAPE;
    }
    *ndim = a->ndim;
    for (int i = 0; i < a->ndim; i++) shape[i] = a->shape[i];
    return TG_OK;
}

/* sum_to: the output has the attribute's shape, which broadcasts to x's. */
static int sum_to_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    const shape_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    if (!broadcasts_to(a->ndim, a->shape, x->ndim, x->shape)) {
        char bx[128], bs[128];
        snprintf(msg, len, "%s does not broadcast to %s, so %s cannot be summed to it",
                 tg_dims_str(a->ndim, a->shape, bs, sizeof bs), tg_shape_str(x, bx, sizeof bx),
                 bx);
        return TG_ERR_SHAPE;
    }
    *ndim = a->ndim;
    for (int i = 0; i < a->ndim; i++) shape[i] = a->shape[i];
    return TG_OK;
}

/* y[i] = x[i with broadcast axes at 0] */
static void copy_run(int64_t ia, int64_t ib, int64_t io, int64_t n, int64_t sa, int64_t sb,
                     void *c)
{
    (void)ib, (void)sb;
    tg_real **io_ = c; /* {x, y} */
    for (int64_t i = 0; i < n; i++) io_[1][io + i] = io_[0][ia + i * sa];
}

/* expand:  y = x broadcast to a shape (repeated along axes of size 1)
   dx = Σ of g over the positions each x element was repeated to = sum_to(g) */
static int expand_forward(tg_record *r)
{
    tg_bcast bc;
    tg_bcast_init(&bc, r->in[0], r->in[0], r->out);
    tg_real *k[2] = {r->in[0]->data, r->out->data};
    tg_bcast_each(&bc, copy_run, k);
    return TG_OK;
}

static void expand_backward(tg_record *r)
{
    tg_reduce_broadcast_add(r, r->in[0]->grad, r->in[0], r->out->grad, r->out);
}

static int expand_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    dx[0] = tg_sum_to(t, g, r->in[0]->ndim, r->in[0]->shape);
    return TG_OK;
}

/* sum_to:  y = x summed over the axes that broadcasting would repeat y along
   dx = g broadcast back to x's shape = expand(g) */
static int sum_to_forward(tg_record *r)
{
    memset(r->out->data, 0, (size_t)r->out->size * sizeof(tg_real));
    tg_reduce_broadcast_add(r, r->out->data, r->out, r->in[0]->data, r->in[0]);
    return TG_OK;
}

/* dx[i] += g[i with the summed axes at 0] */
static void add_run(int64_t ia, int64_t ib, int64_t io, int64_t n, int64_t sa, int64_t sb,
                    void *c)
{
    (void)ib, (void)sb;
    tg_real **k = c; /* {g, dx} */
    for (int64_t i = 0; i < n; i++) k[1][io + i] += k[0][ia + i * sa];
}

static void sum_to_backward(tg_record *r)
{
    tg_bcast bc;
    tg_bcast_init(&bc, r->out, r->out, r->in[0]);
    tg_real *k[2] = {r->out->grad, r->in[0]->grad};
    tg_bcast_each(&bc, add_run, k);
}

static int sum_to_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    dx[0] = tg_expand(t, g, r->in[0]->ndim, r->in[0]->shape);
    return TG_OK;
}

static const tg_op op_expand = {.name = "expand", .n_inputs = 1, .attr_size = sizeof(shape_attr),
                                .shape = expand_shape, .forward = expand_forward,
                                .backward = expand_backward, .vjp = expand_vjp,
                                .doc = "x broadcast to a shape"};
static const tg_op op_sum_to = {.name = "sum_to", .n_inputs = 1, .attr_size = sizeof(shape_attr),
                                .shape = sum_to_shape, .forward = sum_to_forward,
                                .backward = sum_to_backward, .vjp = sum_to_vjp,
                                .doc = "x summed over the axes that broadcast a shape to it"};

static tg_tensor *to_shape(tg_tape *t, const tg_op *op, tg_tensor *x, int ndim,
                           const int64_t *shape)
{
    if (!x) return tg_null_input(t, op->name);
    if (ndim < 0 || ndim > TG_MAX_DIMS || (ndim > 0 && !shape)) {
        tg_tape_set_error(t, "tg_%s: a shape needs 0..%d dimensions, got %d", op->name,
                          TG_MAX_DIMS, ndim);
        return NULL;
    }
    shape_attr a = {.ndim = ndim};
    for (int i = 0; i < ndim; i++) a.shape[i] = shape[i];
    /* the same shape: nothing to do, x itself */
    if (ndim == x->ndim && memcmp(a.shape, x->shape, (size_t)ndim * sizeof(int64_t)) == 0)
        return x;
    return tg_apply(t, op, &x, 1, &a);
}

tg_tensor *tg_expand(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape)
{
    if (!x || ndim < 0 || ndim > TG_MAX_DIMS || (ndim > 0 && !shape))
        return to_shape(t, &op_expand, x, ndim, shape); /* its message */
    /* −1 keeps x's size there (Tensor.expand's), on x's own dimensions only */
    int64_t sh[TG_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        int k = i - (ndim - x->ndim); /* x's dimension under i, if any */
        sh[i] = shape[i];
        if (shape[i] != -1) continue;
        if (k < 0) {
            char bx[128], bs[128];
            tg_tape_set_error(t, "tg_expand: -1 at dimension %d of %s, a new dimension that %s "
                                 "does not have: its size must be given",
                              i, tg_dims_str(ndim, shape, bs, sizeof bs),
                              tg_shape_str(x, bx, sizeof bx));
            return NULL;
        }
        sh[i] = x->shape[k];
    }
    return to_shape(t, &op_expand, x, ndim, sh);
}

tg_tensor *tg_sum_to(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape)
{
    return to_shape(t, &op_sum_to, x, ndim, shape);
}

static const tg_op *const shape_ops[] = {&op_reshape, &op_permute, &op_transpose, &op_expand,
                                          &op_sum_to};
const tg_op_table tg_shape_ops = {shape_ops, sizeof shape_ops / sizeof *shape_ops};
