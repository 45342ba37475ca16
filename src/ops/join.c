/* Joining and splitting: cat, stack, split (by size, sizes or chunks), pad
   (with pad_backward, its adjoint), repeat and tile.

   cat and pad are ops, each with its forward, its backward (the fast
   kernel) and its vjp (the same rule written with tg_ ops, for
   create_graph), side by side. The others are built from ops: stack is cat
   of reshaped inputs, the splits are narrows (each piece an op of its
   own, since an op has one output), repeat and tile are an expand between
   two reshapes, whose gradient is the sum over the tiles. */
#include "ops/ops_internal.h"

#include <limits.h>

/* --------------------------------------------------------------------- cat */

/* An op takes at most TG_MAX_INPUTS inputs: cat takes that many slots, the
   first n used (NULL after them). tg_cat joins more in a tree of cats. */
typedef struct {
    int axis, n;
} cat_attr;

/* PyTorch skips 1-d tensors of no element in cat, whatever the others'
   shapes (legacy behaviour kept for torch.cat([x, torch.empty(0)])). */
static bool legacy_empty(const tg_tensor *x) { return x->ndim == 1 && x->shape[0] == 0; }

/* Checks n tensors to join along `axis` (negative counts from the end of
   the first that is not skipped), writes the normalised axis and the
   output's shape. */
static int cat_check(tg_tensor *const *xs, int n, int axis, int *ax, int *ndim, int64_t *shape,
                     char *msg, size_t len)
{
    int ref = -1;
    for (int k = 0; k < n; k++) {
        if (!xs[k]) {
            snprintf(msg, len, "input %d is NULL", k);
            return TG_ERR_INVALID;
        }
        if (xs[k]->ndim == 0) {
            snprintf(msg, len, "input %d is 0-d: a 0-d tensor cannot be concatenated (stack "
                               "them, or reshape each to [1])",
                     k);
            return TG_ERR_SHAPE;
        }
        if (ref < 0 && !legacy_empty(xs[k])) ref = k;
    }
    if (ref < 0) { /* all of them empty and 1-d: [0] along any axis, as PyTorch */
        *ax = 0, *ndim = 1, shape[0] = 0;
        return TG_OK;
    }
    const tg_tensor *r = xs[ref];
    char br[128], bk[128];
    tg_shape_str(r, br, sizeof br);
    if (!tg_axis(axis, r->ndim, ax)) {
        snprintf(msg, len, "axis %d is out of range for shape %s", axis, br);
        return TG_ERR_INVALID;
    }
    int64_t total = 0;
    for (int k = 0; k < n; k++) {
        const tg_tensor *x = xs[k];
        if (k != ref && legacy_empty(x)) continue;
        tg_shape_str(x, bk, sizeof bk);
        if (x->ndim != r->ndim) {
            snprintf(msg, len, "input %d has shape %s and input %d %s: the number of "
                               "dimensions differs",
                     ref, br, k, bk);
            return TG_ERR_SHAPE;
        }
        for (int d = 0; d < r->ndim; d++)
            if (d != *ax && x->shape[d] != r->shape[d]) {
                snprintf(msg, len, "input %d has shape %s and input %d %s: they may differ "
                                   "only along axis %d",
                         ref, br, k, bk, *ax);
                return TG_ERR_SHAPE;
            }
        if (x->shape[*ax] > INT64_MAX / 2 - total) {
            snprintf(msg, len, "the joined axis would be too long");
            return TG_ERR_SHAPE;
        }
        total += x->shape[*ax];
    }
    *ndim = r->ndim;
    for (int d = 0; d < r->ndim; d++) shape[d] = d == *ax ? total : r->shape[d];
    return TG_OK;
}

static int cat_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    const cat_attr *a = r->attr;
    if (a->n < 1 || a->n > TG_MAX_INPUTS) {
        snprintf(msg, len, "joins 1..%d tensors, got %d", TG_MAX_INPUTS, a->n);
        return TG_ERR_INVALID;
    }
    int ax;
    int st = cat_check(r->in, a->n, a->axis, &ax, ndim, shape, msg, len);
    if (st == TG_OK && ax != a->axis) {
        snprintf(msg, len, "the axis %d is not normalised", a->axis);
        return TG_ERR_INVALID;
    }
    return st;
}

/* y viewed as [outer, total, inner] around the axis: input k fills the
   columns [off_k, off_k + len_k) of every outer row, len_k = its length
   along the axis times inner. */
static void cat_view(const tg_record *r, int64_t *outer, int64_t *inner)
{
    const cat_attr *a = r->attr;
    const tg_tensor *y = r->out;
    *outer = *inner = 1;
    for (int d = 0; d < a->axis; d++) *outer *= y->shape[d];
    for (int d = a->axis + 1; d < y->ndim; d++) *inner *= y->shape[d];
}

/* cat:  y = [x_0, x_1, ...] along the axis
   dx_k += g's block of x_k  = narrow(g, axis, off_k, len_k)   (a split) */
static int cat_forward(tg_record *r)
{
    const cat_attr *a = r->attr;
    tg_tensor *y = r->out;
    if (y->size == 0) return TG_OK;
    int64_t outer, inner, row = 0;
    cat_view(r, &outer, &inner);
    row = y->shape[a->axis] * inner;
    for (int64_t o = 0; o < outer; o++) {
        tg_real *yo = y->data + o * row;
        for (int k = 0; k < a->n; k++) {
            const tg_tensor *x = r->in[k];
            if (x->size == 0) continue; /* a skipped or empty input adds no column */
            int64_t len = x->shape[a->axis] * inner;
            memcpy(yo, x->data + o * len, (size_t)len * sizeof(tg_real));
            yo += len;
        }
    }
    return TG_OK;
}

static void cat_backward(tg_record *r)
{
    const cat_attr *a = r->attr;
    const tg_tensor *y = r->out;
    if (y->size == 0) return;
    int64_t outer, inner;
    cat_view(r, &outer, &inner);
    int64_t row = y->shape[a->axis] * inner, off = 0;
    for (int k = 0; k < a->n; k++) {
        tg_tensor *x = r->in[k];
        if (x->size == 0) continue;
        int64_t len = x->shape[a->axis] * inner;
        if (x->grad)
            for (int64_t o = 0; o < outer; o++) {
                const tg_real *g = y->grad + o * row + off;
                tg_real *dx = x->grad + o * len;
                for (int64_t i = 0; i < len; i++) dx[i] += g[i];
            }
        off += len;
    }
}

static int cat_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const cat_attr *a = r->attr;
    int64_t off = 0;
    for (int k = 0; k < a->n; k++) {
        tg_tensor *x = r->in[k];
        bool skipped = x->ndim != g->ndim; /* a legacy empty input */
        int64_t len = skipped ? 0 : x->shape[a->axis];
        if (x->flags & TG_REQUIRES_GRAD)
            dx[k] = skipped ? tg_zeros(t, x->ndim, x->shape) : tg_narrow(t, g, a->axis, off, len);
        off += len;
    }
    return TG_OK;
}

static const tg_op op_cat = {.name = "cat", .n_inputs = TG_MAX_INPUTS,
                             .attr_size = sizeof(cat_attr), .shape = cat_shape,
                             .forward = cat_forward, .backward = cat_backward, .vjp = cat_vjp,
                             .doc = "x_0, x_1, ... joined along an axis (up to 8 per record)"};

/* Joins n checked tensors: one record for up to TG_MAX_INPUTS, else a
   tree: groups of TG_MAX_INPUTS joined first, then the groups (each level
   copies the data once more; 64 tensors take two levels). */
static tg_tensor *cat_tree(tg_tape *t, tg_tensor *const *xs, int n, int axis)
{
    if (n <= TG_MAX_INPUTS) {
        tg_tensor *in[TG_MAX_INPUTS] = {0};
        bool all_skipped = true;
        for (int k = 0; k < n; k++) {
            in[k] = xs[k];
            all_skipped &= legacy_empty(xs[k]);
        }
        cat_attr a = {all_skipped ? 0 : axis, n}; /* a group of skipped ones gives [0] */
        return tg_apply(t, &op_cat, in, TG_MAX_INPUTS, &a);
    }
    int groups = (n + TG_MAX_INPUTS - 1) / TG_MAX_INPUTS;
    tg_tensor **part = tg_tape_alloc_named(t, "tg_cat", (size_t)groups * sizeof *part);
    if (!part) return NULL;
    for (int g = 0; g < groups; g++) {
        int m = n - g * TG_MAX_INPUTS;
        part[g] = cat_tree(t, xs + g * TG_MAX_INPUTS, m < TG_MAX_INPUTS ? m : TG_MAX_INPUTS,
                           axis);
        if (!part[g]) return NULL;
    }
    return cat_tree(t, part, groups, axis);
}

tg_tensor *tg_cat(tg_tape *t, tg_tensor *const *xs, int n, int axis)
{
    if (!t) return tg_no_tape(__func__);
    if (!xs || n < 1) {
        tg_tape_set_error(t, "tg_cat: needs at least one tensor (n = %d%s)", n,
                          xs ? "" : ", no array");
        return NULL;
    }
    for (int k = 0; k < n; k++)
        if (!xs[k]) return tg_null_input(t, "cat");
    int ax, ndim;
    int64_t shape[TG_MAX_DIMS];
    char msg[TG_MSG_LEN];
    if (cat_check(xs, n, axis, &ax, &ndim, shape, msg, sizeof msg) != TG_OK) {
        tg_tape_set_error(t, "tg_cat: %s", msg);
        return NULL;
    }
    return cat_tree(t, xs, n, ax);
}

/* ------------------------------------------------------------------- stack */

/* stack(xs, axis) = cat of each x reshaped with a new axis of length 1 at
   `axis` (reshape is a view: only the cat copies). */
/* stack of up to TG_MAX_INPUTS tensors of one shape, as one op: y viewed as
   [outer, n, inner] around the new axis, x_k filling y[:, k, :].
   y[o, k, i] = x_k[o, i]        dx_k[o, i] += g[o, k, i]   (dx_k = select(g, axis, k)) */
static int stack_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                       size_t len)
{
    (void)msg, (void)len;
    const cat_attr *a = r->attr;
    const tg_tensor *x0 = r->in[0];
    *ndim = x0->ndim + 1;
    for (int d = 0, j = 0; d < *ndim; d++) shape[d] = d == a->axis ? a->n : x0->shape[j++];
    return TG_OK; /* tg_stack checked the inputs */
}

static void stack_view(const tg_record *r, int64_t *outer, int64_t *inner)
{
    const cat_attr *a = r->attr;
    *outer = *inner = 1;
    for (int d = 0; d < a->axis; d++) *outer *= r->out->shape[d];
    for (int d = a->axis + 1; d < r->out->ndim; d++) *inner *= r->out->shape[d];
    if (*inner == 0) *outer = 0; /* [2^40, n, 0]: no outer row to visit */
}

/* y [outer, n, inner] from the n inputs' [outer, inner] values x[k] */
static void stack_copy(tg_real *y, tg_real *const *x, int n, int64_t outer, int64_t inner)
{
    if (outer == 1 && inner == 1) { /* scalars */
        for (int k = 0; k < n; k++) y[k] = x[k][0];
        return;
    }
    for (int64_t o = 0; o < outer; o++)
        for (int k = 0; k < n; k++)
            memcpy(y + (o * n + k) * inner, x[k] + o * inner, (size_t)inner * sizeof(tg_real));
}

/* dx[k] += input k's part of g, where dx[k] is not NULL */
static void stack_grads(tg_real *const *dx, const tg_real *g, int n, int64_t outer,
                        int64_t inner)
{
    if (outer == 1 && inner == 1) { /* scalars */
        for (int k = 0; k < n; k++)
            if (dx[k]) dx[k][0] += g[k];
        return;
    }
    for (int k = 0; k < n; k++) {
        if (!dx[k]) continue;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) dx[k][o * inner + i] += g[(o * n + k) * inner + i];
    }
}

static int stack_forward(tg_record *r)
{
    const cat_attr *a = r->attr;
    int64_t outer, inner;
    stack_view(r, &outer, &inner);
    tg_real *x[TG_MAX_INPUTS];
    for (int k = 0; k < a->n; k++) x[k] = r->in[k]->data;
    stack_copy(r->out->data, x, a->n, outer, inner);
    return TG_OK;
}

static void stack_backward(tg_record *r)
{
    const cat_attr *a = r->attr;
    int64_t outer, inner;
    stack_view(r, &outer, &inner);
    tg_real *dx[TG_MAX_INPUTS];
    for (int k = 0; k < a->n; k++) dx[k] = r->in[k]->grad;
    stack_grads(dx, r->out->grad, a->n, outer, inner);
}

static int stack_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const cat_attr *a = r->attr;
    for (int k = 0; k < a->n; k++)
        if (r->in[k]->flags & TG_REQUIRES_GRAD) dx[k] = tg_select(t, g, a->axis, k);
    return TG_OK;
}

static const tg_op op_stack = {.name = "stack", .n_inputs = TG_MAX_INPUTS,
                               .attr_size = sizeof(cat_attr), .shape = stack_shape,
                               .forward = stack_forward, .backward = stack_backward,
                               .vjp = stack_vjp, .doc = "tensors of one shape along a new axis"};

tg_tensor *tg_stack(tg_tape *t, tg_tensor *const *xs, int n, int axis)
{
    if (!t) return tg_no_tape(__func__);
    if (!xs || n < 1) {
        tg_tape_set_error(t, "tg_stack: needs at least one tensor (n = %d%s)", n,
                          xs ? "" : ", no array");
        return NULL;
    }
    for (int k = 0; k < n; k++)
        if (!xs[k]) return tg_null_input(t, "stack");
    const tg_tensor *x0 = xs[0];
    char b0[128], bk[128];
    for (int k = 1; k < n; k++)
        if (!tg_same_shape(xs[k], x0)) {
            tg_tape_set_error(t, "tg_stack: input 0 has shape %s and input %d %s: stack needs "
                                 "equal shapes",
                              tg_shape_str(x0, b0, sizeof b0), k,
                              tg_shape_str(xs[k], bk, sizeof bk));
            return NULL;
        }
    int nd = x0->ndim + 1, ax;
    if (nd > TG_MAX_DIMS) {
        tg_tape_set_error(t, "tg_stack: stacking %d-d tensors would make %d dimensions (at most "
                             "%d)",
                          x0->ndim, nd, TG_MAX_DIMS);
        return NULL;
    }
    if (!tg_axis(axis, nd, &ax)) {
        tg_tape_set_error(t, "tg_stack: axis %d is out of range for %d-d results (shape %s)",
                          axis, nd, tg_shape_str(x0, b0, sizeof b0));
        return NULL;
    }
    if (n <= TG_MAX_INPUTS) { /* one op: no reshapes */
        cat_attr a = {ax, n};
        tg_tensor *in[TG_MAX_INPUTS] = {NULL};
        for (int k = 0; k < n; k++) in[k] = xs[k];
        return tg_apply(t, &op_stack, in, TG_MAX_INPUTS, &a);
    }
    int64_t shape[TG_MAX_DIMS];
    for (int d = 0, j = 0; d < nd; d++) shape[d] = d == ax ? 1 : x0->shape[j++];
    tg_tensor **parts = tg_tape_alloc_named(t, "tg_stack", (size_t)n * sizeof *parts);
    if (!parts) return NULL;
    for (int k = 0; k < n; k++)
        if (!(parts[k] = tg_reshape(t, xs[k], nd, shape))) return NULL;
    return tg_cat(t, parts, n, ax);
}

/* ---------------------------------------------------------- split, chunk */

/* The axis of a split (x non-NULL); false with the message on the tape. */
static bool split_axis(tg_tape *t, const char *fn, const tg_tensor *x, int axis, int *ax)
{
    char b[128];
    if (x->ndim == 0) {
        tg_tape_set_error(t, "%s: a 0-d tensor cannot be split", fn);
        return false;
    }
    if (!tg_axis(axis, x->ndim, ax)) {
        tg_tape_set_error(t, "%s: axis %d is out of range for shape %s", fn, axis,
                          tg_shape_str(x, b, sizeof b));
        return false;
    }
    return true;
}

/* Pieces of equal length `size` (the last shorter), or `count` pieces of
   length 0 from an empty axis: each a narrow of x. */
static int split_pieces(tg_tape *t, const char *fn, tg_tensor *x, int ax, int64_t size, int count,
                        tg_tensor **out, int max_out)
{
    if (!out) return count;
    if (max_out < count) {
        tg_tape_set_error(t, "%s: the split makes %d pieces and out has room for %d", fn, count,
                          max_out);
        return TG_ERR_INVALID;
    }
    int64_t n = x->shape[ax];
    for (int i = 0; i < count; i++) {
        int64_t start = n ? (int64_t)i * size : 0, len = n - start < size ? n - start : size;
        if (!(out[i] = tg_narrow(t, x, ax, start, n ? len : 0))) return TG_ERR_NOMEM;
    }
    return count;
}

int tg_split(tg_tape *t, tg_tensor *x, int64_t split_size, int axis, tg_tensor **out, int max_out)
{
    if (!x) {
        tg_null_input(t, "split");
        return TG_ERR_INVALID;
    }
    int ax;
    if (!t || !split_axis(t, "tg_split", x, axis, &ax)) return TG_ERR_INVALID;
    int64_t n = x->shape[ax];
    if (split_size < 0 || (split_size == 0 && n > 0)) {
        tg_tape_set_error(t, "tg_split: split_size %lld must be positive (0 only for an empty "
                             "axis)",
                          (long long)split_size);
        return TG_ERR_INVALID;
    }
    int64_t count = n ? (n - 1) / split_size + 1 : 1;
    if (count > INT_MAX) {
        tg_tape_set_error(t, "tg_split: %lld pieces are too many", (long long)count);
        return TG_ERR_INVALID;
    }
    return split_pieces(t, "tg_split", x, ax, split_size, (int)count, out, max_out);
}

int tg_split_sizes(tg_tape *t, tg_tensor *x, int n_sizes, const int64_t *sizes, int axis,
                   tg_tensor **out)
{
    if (!x) {
        tg_null_input(t, "split_sizes");
        return TG_ERR_INVALID;
    }
    int ax;
    if (!t || !split_axis(t, "tg_split_sizes", x, axis, &ax)) return TG_ERR_INVALID;
    if (n_sizes < 1 || !sizes) {
        tg_tape_set_error(t, "tg_split_sizes: needs at least one size (n_sizes = %d%s)", n_sizes,
                          sizes ? "" : ", no array");
        return TG_ERR_INVALID;
    }
    int64_t sum = 0, n = x->shape[ax];
    for (int i = 0; i < n_sizes; i++) {
        if (sizes[i] < 0 || sizes[i] > n - sum) {
            tg_tape_set_error(t, "tg_split_sizes: the sizes must be ≥ 0 and add up to %lld, the "
                                 "length of axis %d (size %d is %lld after %lld)",
                              (long long)n, axis, i, (long long)sizes[i], (long long)sum);
            return TG_ERR_INVALID;
        }
        sum += sizes[i];
    }
    if (sum != n) {
        tg_tape_set_error(t, "tg_split_sizes: the sizes add up to %lld, but axis %d has length "
                             "%lld",
                          (long long)sum, axis, (long long)n);
        return TG_ERR_INVALID;
    }
    if (!out) return n_sizes;
    int64_t from = 0;
    for (int i = 0; i < n_sizes; from += sizes[i++])
        if (!(out[i] = tg_narrow(t, x, ax, from, sizes[i]))) return TG_ERR_NOMEM;
    return n_sizes;
}

int tg_split_chunks(tg_tape *t, tg_tensor *x, int chunks, int axis, tg_tensor **out,
                    int max_out)
{
    if (!x) {
        tg_null_input(t, "split_chunks");
        return TG_ERR_INVALID;
    }
    int ax;
    if (!t || !split_axis(t, "tg_split_chunks", x, axis, &ax)) return TG_ERR_INVALID;
    if (chunks < 1) {
        tg_tape_set_error(t, "tg_split_chunks: chunks must be at least 1, got %d", chunks);
        return TG_ERR_INVALID;
    }
    /* PyTorch: pieces of ceil(n / chunks), so there may be fewer than
       `chunks`; an empty axis gives `chunks` empty pieces */
    int64_t n = x->shape[ax], size = n ? (n - 1) / chunks + 1 : 0;
    int count = n ? (int)((n - 1) / size + 1) : chunks;
    return split_pieces(t, "tg_split_chunks", x, ax, size, count, out, max_out);
}

/* --------------------------------------------------------------------- pad */

typedef struct {
    int ndim, mode;
    tg_real value;              /* for TG_PAD_CONSTANT */
    int64_t shape[TG_MAX_DIMS]; /* the input's */
    int64_t lo[TG_MAX_DIMS], hi[TG_MAX_DIMS]; /* added before and after (negative: cropped) */
} pad_attr;

/* The largest pad accepted: far beyond any tensor, and small enough that
   n + lo + hi cannot overflow. */
#define PAD_LIMIT ((int64_t)1 << 60)

static const char *const pad_mode_names[] = {"constant", "reflect", "replicate", "circular"};

/* Checks the attributes against their shape and writes the output's shape. */
static int pad_out_shape(const pad_attr *a, int64_t *out, char *msg, size_t len)
{
    if (a->mode < TG_PAD_CONSTANT || a->mode > TG_PAD_CIRCULAR) {
        snprintf(msg, len, "unknown padding mode %d", a->mode);
        return TG_ERR_INVALID;
    }
    if (a->ndim < 0 || a->ndim > TG_MAX_DIMS) {
        snprintf(msg, len, "%d dimensions", a->ndim);
        return TG_ERR_INVALID;
    }
    const char *mode = pad_mode_names[a->mode];
    for (int d = 0; d < a->ndim; d++) {
        int64_t n = a->shape[d], lo = a->lo[d], hi = a->hi[d];
        if (lo < -PAD_LIMIT || lo > PAD_LIMIT || hi < -PAD_LIMIT || hi > PAD_LIMIT) {
            snprintf(msg, len, "the pad (%lld, %lld) of axis %d is too large", (long long)lo,
                     (long long)hi, d);
            return TG_ERR_INVALID;
        }
        out[d] = n + lo + hi;
        if (out[d] < 0) {
            snprintf(msg, len, "the pad (%lld, %lld) of axis %d, of size %lld, leaves %lld "
                               "elements",
                     (long long)lo, (long long)hi, d, (long long)n, (long long)out[d]);
            return TG_ERR_SHAPE;
        }
        if (lo <= 0 && hi <= 0) continue;
        /* the input that is left after cropping, which the modes other than
           constant copy from */
        int64_t kept = n + (lo < 0 ? lo : 0) + (hi < 0 ? hi : 0);
        bool bad = false;
        if (a->mode == TG_PAD_REFLECT) bad = lo >= n || hi >= n;
        if (a->mode == TG_PAD_REPLICATE) bad = n < 1;
        if (a->mode == TG_PAD_CIRCULAR) bad = kept < 1 || lo > kept || hi > kept;
        if (bad) {
            snprintf(msg, len, "%s padding of (%lld, %lld) does not fit axis %d of size %lld "
                               "(reflect: each pad below the size; circular: at most the size "
                               "left after cropping; both need elements to copy)",
                     mode, (long long)lo, (long long)hi, d, (long long)n);
            return TG_ERR_SHAPE;
        }
    }
    return TG_OK;
}

static int pad_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    const pad_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    char b[128];
    if (x->ndim != a->ndim || memcmp(x->shape, a->shape, (size_t)x->ndim * sizeof(int64_t))) {
        snprintf(msg, len, "the pads do not fit the input's shape %s",
                 tg_shape_str(x, b, sizeof b));
        return TG_ERR_INVALID;
    }
    *ndim = a->ndim;
    return pad_out_shape(a, shape, msg, len);
}

/* pad_backward takes the padded shape and gives the input's. */
static int pad_bw_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    const pad_attr *a = r->attr;
    const tg_tensor *g = r->in[0];
    int64_t out[TG_MAX_DIMS];
    int st = pad_out_shape(a, out, msg, len);
    if (st != TG_OK) return st;
    char b[128];
    if (g->ndim != a->ndim || memcmp(g->shape, out, (size_t)g->ndim * sizeof(int64_t))) {
        snprintf(msg, len, "the gradient's shape %s is not the padded shape",
                 tg_shape_str(g, b, sizeof b));
        return TG_ERR_SHAPE;
    }
    *ndim = a->ndim;
    for (int d = 0; d < a->ndim; d++) shape[d] = a->shape[d];
    return TG_OK;
}

/* One axis of a pad: output position o reads input position src(o), or
   none (-1: the constant). With i = o − lo:
     core (0 ≤ i < n)  i, in every mode
     constant          none
     reflect           −i before, 2(n − 1) − i after (about the end elements)
     replicate         0 before, n − 1 after
     circular          c + ((o − pl) mod kept): the input left after cropping,
                       [c, c + kept), wrapped (PyTorch crops before it wraps) */
typedef struct {
    int64_t n, out, lo;
    int64_t c, kept, pl;
} pad_axis;

/* The axes of a pad, with the runs of axes it leaves alone merged into one
   (their positions map to themselves), and the row-major strides of the
   input (xs) and output (ys) over the merged axes. */
typedef struct {
    int m, mode;
    pad_axis ax[TG_MAX_DIMS];
    int64_t xs[TG_MAX_DIMS], ys[TG_MAX_DIMS];
} pad_geom;

static pad_geom pad_geom_of(const pad_attr *a)
{
    pad_geom G = {.mode = a->mode};
    bool plain_last = false;
    for (int d = 0; d < a->ndim; d++) {
        int64_t n = a->shape[d], lo = a->lo[d], hi = a->hi[d];
        bool plain = lo == 0 && hi == 0;
        if (plain && plain_last) {
            G.ax[G.m - 1].n *= n;
            G.ax[G.m - 1].out *= n;
            G.ax[G.m - 1].kept *= n;
            continue;
        }
        pad_axis *p = &G.ax[G.m++];
        p->n = n;
        p->out = n + lo + hi;
        p->lo = lo;
        p->c = lo < 0 ? -lo : 0;
        p->kept = n - p->c - (hi < 0 ? -hi : 0);
        p->pl = lo > 0 ? lo : 0;
        plain_last = plain;
    }
    if (G.m == 0) { /* a 0-d tensor: one element */
        G.ax[0] = (pad_axis){.n = 1, .out = 1, .kept = 1};
        G.m = 1;
    }
    int64_t sx = 1, sy = 1;
    for (int d = G.m - 1; d >= 0; d--) {
        G.xs[d] = sx, G.ys[d] = sy;
        sx *= G.ax[d].n, sy *= G.ax[d].out;
    }
    return G;
}

static int64_t pad_src(const pad_axis *p, int mode, int64_t o)
{
    int64_t i = o - p->lo;
    if (i >= 0 && i < p->n) return i;
    switch (mode) {
    case TG_PAD_REFLECT: return i < 0 ? -i : 2 * (p->n - 1) - i;
    case TG_PAD_REPLICATE: return i < 0 ? 0 : p->n - 1;
    case TG_PAD_CIRCULAR: {
        int64_t j = (o - p->pl) % p->kept;
        return p->c + (j < 0 ? j + p->kept : j);
    }
    default: return -1;
    }
}

/* The output positions that read input position i, as up to three ranges
   [lo[k], hi[k]) (the inverse of pad_src): the core position, and for
   reflect and circular its images before and after; for replicate the end
   elements' runs. */
static int pad_preimage(const pad_axis *p, int mode, int64_t i, int64_t *lo, int64_t *hi)
{
    int k = 0;
    int64_t from[3], to[3];
    switch (mode) {
    case TG_PAD_REPLICATE:
        from[k] = i == 0 ? 0 : i + p->lo;
        to[k++] = i == p->n - 1 ? p->out : i + p->lo + 1;
        break;
    case TG_PAD_REFLECT:
        from[k] = i + p->lo, to[k] = from[k] + 1, k++;
        if (i > 0) from[k] = p->lo - i, to[k] = from[k] + 1, k++;
        if (i < p->n - 1) from[k] = p->lo + 2 * (p->n - 1) - i, to[k] = from[k] + 1, k++;
        break;
    case TG_PAD_CIRCULAR:
        if (i < p->c || i >= p->c + p->kept) break;
        for (int s = -1; s <= 1; s++)
            from[k] = i - p->c + p->pl + s * p->kept, to[k] = from[k] + 1, k++;
        break;
    default: from[k] = i + p->lo, to[k] = from[k] + 1, k++;
    }
    int m = 0;
    for (int r = 0; r < k; r++) {
        int64_t a = from[r] < 0 ? 0 : from[r], b = to[r] > p->out ? p->out : to[r];
        if (a < b) lo[m] = a, hi[m++] = b;
    }
    return m;
}

/* y[o] = x[src(o)], or `value` where some axis reads nothing; with `add`,
   y[o] += x[src(o)] and nothing where it reads nothing (pad_backward's
   backward). Row by row along the last axis: its core is a memcpy. */
static void pad_copy(const pad_geom *G, tg_real *y, const tg_real *x, tg_real value, bool add)
{
    int m = G->m;
    const pad_axis *L = &G->ax[m - 1];
    int64_t rows = 1;
    for (int d = 0; d < m - 1; d++) rows *= G->ax[d].out;
    if (L->out == 0 || rows == 0) return;
    /* the core of the last axis: outputs [cb, ce) read cb − lo, ... */
    int64_t cb = L->lo > 0 ? L->lo : 0, ce = L->lo + L->n < L->out ? L->lo + L->n : L->out;
    if (ce < cb) ce = cb;
    int64_t c[TG_MAX_DIMS] = {0};
    for (int64_t r = 0; r < rows; r++) {
        tg_real *yr = y + r * L->out;
        int64_t off = 0;
        bool reads = true;
        for (int d = 0; d < m - 1 && reads; d++) {
            int64_t s = pad_src(&G->ax[d], G->mode, c[d]);
            reads = s >= 0;
            off += s * G->xs[d];
        }
        if (!reads) {
            if (!add)
                for (int64_t o = 0; o < L->out; o++) yr[o] = value;
        } else {
            const tg_real *xr = x + off;
            for (int64_t o = 0; o < L->out; o++) {
                if (o == cb && ce > cb) { /* the core */
                    if (add)
                        for (int64_t i = 0; i < ce - cb; i++) yr[cb + i] += xr[cb - L->lo + i];
                    else
                        memcpy(yr + cb, xr + cb - L->lo, (size_t)(ce - cb) * sizeof(tg_real));
                    o = ce - 1;
                    continue;
                }
                int64_t s = pad_src(L, G->mode, o);
                if (add)
                    yr[o] += s >= 0 ? xr[s] : 0;
                else
                    yr[o] = s >= 0 ? xr[s] : value;
            }
        }
        for (int d = m - 2; d >= 0; d--) {
            if (++c[d] < G->ax[d].out) break;
            c[d] = 0;
        }
    }
}

/* Σ g[o] over the output positions o (from axis d on, at offset goff) that
   read input position ci: the product of each axis's preimage, in double. */
static double pad_sum_at(const pad_geom *G, const tg_real *g, const int64_t *ci, int d,
                         int64_t goff)
{
    int64_t lo[3], hi[3];
    int nr = pad_preimage(&G->ax[d], G->mode, ci[d], lo, hi);
    double s = 0;
    for (int k = 0; k < nr; k++)
        for (int64_t o = lo[k]; o < hi[k]; o++)
            s += d == G->m - 1 ? (double)g[goff + o]
                               : pad_sum_at(G, g, ci, d + 1, goff + o * G->ys[d]);
    return s;
}

/* The constant mode's fold, a crop: dx[i] (+)= g[i + lo] where that lies
   in the output, row by row. */
static void pad_crop(const pad_geom *G, tg_real *dx, const tg_real *g, int64_t n, bool add)
{
    int m = G->m;
    const pad_axis *L = &G->ax[m - 1];
    if (n == 0) return;
    /* the inputs [ib, ie) of a row that are in the output */
    int64_t ib = L->lo < 0 ? -L->lo : 0, ie = L->out - L->lo < L->n ? L->out - L->lo : L->n;
    if (ie < ib) ie = ib;
    int64_t c[TG_MAX_DIMS] = {0};
    for (int64_t r = 0; r < n / L->n; r++) {
        tg_real *dr = dx + r * L->n;
        int64_t off = 0;
        bool in = true;
        for (int d = 0; d < m - 1 && in; d++) {
            int64_t o = c[d] + G->ax[d].lo;
            in = o >= 0 && o < G->ax[d].out;
            off += o * G->ys[d];
        }
        off += L->lo; /* g[off + i] is the output of input i */
        for (int64_t i = 0; i < L->n; i++) {
            tg_real v = in && i >= ib && i < ie ? g[off + i] : 0;
            dr[i] = add ? dr[i] + v : v;
        }
        for (int d = m - 2; d >= 0; d--) {
            if (++c[d] < G->ax[d].n) break;
            c[d] = 0;
        }
    }
}

/* dx[i] (+)= Σ g[o] over the o with src(o) = i: the adjoint of pad_copy.
   Each dx element is one sum (in double), so reflected and replicated
   positions add up without losing precision and without scratch; the
   constant mode, where each is one g or none, is a crop. */
static void pad_fold(const pad_geom *G, tg_real *dx, const tg_real *g, int64_t n, bool add)
{
    if (G->mode == TG_PAD_CONSTANT) {
        pad_crop(G, dx, g, n, add);
        return;
    }
    /* an empty output reads nothing: each sum is 0 (not a walk over the
       2^31 positions that an axis padded by 2^31 would give each input) */
    for (int d = 0; d < G->m; d++)
        if (G->ax[d].out == 0) {
            if (!add) memset(dx, 0, (size_t)n * sizeof(tg_real));
            return;
        }
    int64_t ci[TG_MAX_DIMS] = {0};
    for (int64_t k = 0; k < n; k++) {
        tg_real s = (tg_real)pad_sum_at(G, g, ci, 0, 0);
        dx[k] = add ? dx[k] + s : s;
        for (int d = G->m - 1; d >= 0; d--) {
            if (++ci[d] < G->ax[d].n) break;
            ci[d] = 0;
        }
    }
}

static const tg_op op_pad_backward;

/* pad:  y[o] = x[src(o)] (per axis, as pad_axis says), value where an axis
         reads nothing
   dx[i] += Σ_{o: src(o) = i} g[o]   (a crop; reflected, replicated and
   wrapped positions add up) = pad_backward(g), whose adjoint is pad with
   value 0 */
static int pad_forward(tg_record *r)
{
    const pad_attr *a = r->attr;
    pad_geom G = pad_geom_of(a);
    pad_copy(&G, r->out->data, r->in[0]->data, a->value, false);
    return TG_OK;
}

static void pad_backward(tg_record *r)
{
    pad_geom G = pad_geom_of(r->attr);
    pad_fold(&G, r->in[0]->grad, r->out->grad, r->in[0]->size, true);
}

static int pad_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    dx[0] = tg_apply(t, &op_pad_backward, &g, 1, r->attr);
    return TG_OK;
}

/* pad_backward:  y[i] = Σ_{o: src(o) = i} g[o]
   dg[o] += dy[src(o)] (0 where o reads nothing) = pad(dy) with value 0 */
static int pad_bw_forward(tg_record *r)
{
    pad_geom G = pad_geom_of(r->attr);
    pad_fold(&G, r->out->data, r->in[0]->data, r->out->size, false);
    return TG_OK;
}

static void pad_bw_backward(tg_record *r)
{
    pad_geom G = pad_geom_of(r->attr);
    pad_copy(&G, r->in[0]->grad, r->out->grad, 0, true);
}

static const tg_op op_pad;

static int pad_bw_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    pad_attr a = *(const pad_attr *)r->attr;
    a.value = 0;
    dx[0] = tg_apply(t, &op_pad, &g, 1, &a);
    return TG_OK;
}

static const tg_op op_pad = {.name = "pad", .n_inputs = 1, .attr_size = sizeof(pad_attr),
                             .shape = pad_shape, .forward = pad_forward,
                             .backward = pad_backward, .vjp = pad_vjp,
                             .doc = "x padded (constant, reflect, replicate, circular) or "
                                    "cropped along its axes"};
static const tg_op op_pad_backward = {.name = "pad_backward", .n_inputs = 1,
                                      .attr_size = sizeof(pad_attr), .shape = pad_bw_shape,
                                      .forward = pad_bw_forward, .backward = pad_bw_backward,
                                      .vjp = pad_bw_vjp,
                                      .doc = "the sum of a pad's gradient over the positions "
                                             "that copied each input element (pad's adjoint)"};

tg_tensor *tg_pad(tg_tape *t, tg_tensor *x, int n_pad, const int64_t *pad, tg_pad_mode mode,
                  tg_real value)
{
    if (!x) return tg_null_input(t, "pad");
    if (!t) return tg_no_tape(__func__);
    if (n_pad < 0 || n_pad % 2 || n_pad / 2 > x->ndim || (n_pad > 0 && !pad)) {
        char b[128];
        tg_tape_set_error(t, "tg_pad: %d pads%s for shape %s: give a (before, after) pair per "
                             "axis, the last axis first, for at most every axis",
                          n_pad, n_pad > 0 && !pad ? " and no array" : "",
                          tg_shape_str(x, b, sizeof b));
        return NULL;
    }
    pad_attr a = {.ndim = x->ndim, .mode = (int)mode, .value = value};
    for (int d = 0; d < x->ndim; d++) a.shape[d] = x->shape[d];
    for (int k = 0; k < n_pad / 2; k++) {
        a.lo[x->ndim - 1 - k] = pad[2 * k];
        a.hi[x->ndim - 1 - k] = pad[2 * k + 1];
    }
    return tg_apply(t, &op_pad, &x, 1, &a);
}

/* ---------------------------------------------------------- repeat, tile */

/* x tiled by reps is x reshaped with a 1 before each tiled axis,
   [.., 1, s, ..], expanded to [.., r, s, ..] and reshaped to [.., r·s, ..]:
   the records are a reshape, an expand and a reshape, and the gradient is
   expand's, the sum over the tiles (in double). A tiled axis takes two
   dimensions there (one when its size is 1) and axes left alone merge, so
   that most calls fit TG_MAX_DIMS at once; otherwise the axes are tiled in
   rounds, each as many as fit. */
typedef struct {
    int n;
    int64_t from[2 * TG_MAX_DIMS + 2], to[2 * TG_MAX_DIMS + 2]; /* x's view, expanded */
    bool plain_last;
} tiling;

static void tile_plain(tiling *T, int64_t s)
{
    if (T->n > 0 && T->plain_last) {
        T->from[T->n - 1] *= s;
        T->to[T->n - 1] *= s;
        return;
    }
    T->from[T->n] = T->to[T->n] = s;
    T->n++;
    T->plain_last = true;
}

static void tile_axis(tiling *T, int64_t r, int64_t s)
{
    if (r == 1) {
        tile_plain(T, s);
        return;
    }
    T->from[T->n] = 1;
    T->to[T->n++] = r;
    T->plain_last = false;
    if (s != 1) tile_plain(T, s);
}

/* Tiles axes [first, ...) of x (already of n dims) by reps, as many as fit
   one expand; returns the result and the first axis not done in *next. */
static tg_tensor *tile_round(tg_tape *t, tg_tensor *x, const int64_t *reps, int first, int *next)
{
    int n = x->ndim;
    tiling T = {0};
    int64_t before = 1, shape[TG_MAX_DIMS];
    for (int d = 0; d < first; d++) before *= x->shape[d];
    if (first > 0) tile_plain(&T, before);
    int d = first;
    for (; d < n; d++) {
        tiling U = T;
        tile_axis(&U, reps[d], x->shape[d]);
        if (U.n + (d + 1 < n) > TG_MAX_DIMS) break; /* one more for the axes after */
        T = U;
    }
    int64_t after = 1;
    for (int e = d; e < n; e++) after *= x->shape[e];
    if (d < n) tile_plain(&T, after);
    for (int e = 0; e < n; e++) /* the axes tiled in this round grow */
        shape[e] = e >= first && e < d ? reps[e] * x->shape[e] : x->shape[e];
    *next = d;
    tg_tensor *v = tg_reshape(t, x, T.n, T.from);
    return tg_reshape(t, tg_expand(t, v, T.n, T.to), n, shape);
}

/* tg_repeat, its messages naming `fn` (tg_repeat or tg_tile). */
static tg_tensor *repeat_as(tg_tape *t, const char *fn, tg_tensor *x, int n, const int64_t *reps)
{
    char b[128];
    if (n < x->ndim || n > TG_MAX_DIMS || (n > 0 && !reps)) {
        tg_tape_set_error(t, "%s: %d repeat counts%s for shape %s: give one per axis (more add "
                             "leading axes, up to %d)",
                          fn, n, n > 0 && !reps ? " and no array" : "",
                          tg_shape_str(x, b, sizeof b), TG_MAX_DIMS);
        return NULL;
    }
    /* x with leading axes of 1 up to n, and the result's shape */
    int64_t xs[TG_MAX_DIMS] = {0}, ys[TG_MAX_DIMS] = {0};
    for (int d = 0; d < n; d++) {
        xs[d] = d < n - x->ndim ? 1 : x->shape[d - (n - x->ndim)];
        if (reps[d] < 0) {
            tg_tape_set_error(t, "%s: repeat count %lld of axis %d is negative", fn,
                              (long long)reps[d], d);
            return NULL;
        }
        ys[d] = xs[d] && reps[d] > INT64_MAX / xs[d] ? -1 : xs[d] * reps[d];
    }
    int64_t size;
    if (!tg_shape_numel(n, ys, &size)) {
        tg_tape_set_error(t, "%s: the result %s is too large", fn,
                          tg_dims_str(n, ys, b, sizeof b));
        return NULL;
    }
    tg_tensor *y = tg_reshape(t, x, n, xs);
    for (int d = 0; d < n && y;) y = tile_round(t, y, reps, d, &d);
    return y;
}

tg_tensor *tg_repeat(tg_tape *t, tg_tensor *x, int n, const int64_t *reps)
{
    if (!x) return tg_null_input(t, "repeat");
    return t ? repeat_as(t, "tg_repeat", x, n, reps) : NULL;
}

tg_tensor *tg_tile(tg_tape *t, tg_tensor *x, int n, const int64_t *reps)
{
    if (!x) return tg_null_input(t, "tile");
    if (!t) return tg_no_tape(__func__);
    if (n < 0 || n > TG_MAX_DIMS || (n > 0 && !reps)) {
        tg_tape_set_error(t, "tg_tile: %d repeat counts%s (0..%d)", n,
                          n > 0 && !reps ? " and no array" : "", TG_MAX_DIMS);
        return NULL;
    }
    /* fewer counts than axes: ones before them (torch.tile) */
    int64_t full[TG_MAX_DIMS];
    int m = n < x->ndim ? x->ndim : n;
    for (int d = 0; d < m; d++) full[d] = d < m - n ? 1 : reps[d - (m - n)];
    return repeat_as(t, "tg_tile", x, m, full);
}

static const tg_op *const join_ops[] = {&op_cat, &op_stack, &op_pad, &op_pad_backward};
const tg_op_table tg_join_ops = {join_ops, sizeof join_ops / sizeof *join_ops};

/* The compact form of stack (tg_small_compile): stack_copy and stack_grads
   over the instruction's pointers (m = inner, n_in inputs) */
static void stack_sfwd(const tg_small *s)
{
    stack_copy(s->y, s->x, s->n_in, s->n / ((int64_t)s->n_in * s->m), s->m);
}
static void stack_sbwd(const tg_small *s)
{
    stack_grads(tg_small_gx(s), s->gy, s->n_in, s->n / ((int64_t)s->n_in * s->m), s->m);
}

/* A stack of scalars, the scalar graphs' own (stack_copy's and
   stack_grads's first case, written out: through them, with the view's
   division, a scalar graph's replay took up to 15% longer) */
static void stack1_sfwd(const tg_small *s)
{
    for (int k = 0; k < s->n_in; k++) s->y[k] = s->x[k][0];
}
static void stack1_sbwd(const tg_small *s)
{
    tg_real *const *dx = tg_small_gx(s);
    for (int k = 0; k < s->n_in; k++)
        if (dx[k]) dx[k][0] += s->gy[k];
}

bool tg_join_small(const tg_record *r, tg_small *s)
{
    if (r->op != &op_stack || r->out->size == 0) return false;
    int64_t outer, inner;
    stack_view(r, &outer, &inner);
    bool scalars = outer == 1 && inner == 1;
    s->fwd = scalars ? stack1_sfwd : stack_sfwd, s->bwd = scalars ? stack1_sbwd : stack_sbwd;
    s->m = (int32_t)inner; /* at most n */
    s->n_in = ((const cat_attr *)r->attr)->n; /* the first n inputs, NULL after them */
    return true;
}
