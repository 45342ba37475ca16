/* Indexing: slice, select and narrow (with slice_backward, their adjoint),
   index_select and index_add, gather, scatter_add and scatter, masked_fill,
   take_along_dim.

   Every op here has its forward, its backward (the fast kernel) and its
   vjp (the same rule written with tg_ ops, for create_graph), side by side.
   The adjoint pairs, each one's vjp being the other (PyTorch's
   derivatives.yaml): slice ↔ slice_backward, index_select ↔ index_add,
   gather ↔ scatter_add.

   Indices are tg_index arrays (tapegrad/core.h). An op keeps the pointer in
   its attributes, and its shape function checks that the array belongs to
   the tape and that every index lies in [0, n) of the axis it indexes:
   these ops refuse negative indices, as PyTorch's do. select, narrow and
   slice take plain integers, which count from the end when negative. */
#include "ops/ops_internal.h"
#include "ops/reduce_internal.h" /* tg_axis_view */
#include "core/tape_internal.h" /* tg_tape_not_replayable */

/* ------------------------------------------------------------------ helpers */

/* Row-major strides (in elements) of a shape. */
static void strides_of(int ndim, const int64_t *shape, int64_t *s)
{
    int64_t k = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        s[i] = k;
        k *= shape[i];
    }
}

/* x as [outer, n, inner] around `axis` (src/ops/reduce_internal.h) */
typedef reduce_view axis_view;

/* An axis of x: in [0, ndim), or 0 for a 0-d x (PyTorch takes 0 and -1 there;
   the public functions normalise -1). */
static bool axis_ok(const tg_tensor *x, int axis)
{
    return x->ndim == 0 ? axis == 0 : axis >= 0 && axis < x->ndim;
}

/* Where element k of an index array sits, for messages: "3" in a 0-d or
   1-d array, "[1,2]" in a larger one. */
static const char *index_pos(const tg_index *idx, int64_t k, char *buf, size_t len)
{
    if (idx->ndim <= 1) {
        snprintf(buf, len, "%lld", (long long)k);
        return buf;
    }
    int64_t c[TG_MAX_DIMS];
    for (int d = idx->ndim - 1; d >= 0; d--) {
        c[d] = k % idx->shape[d];
        k /= idx->shape[d];
    }
    return tg_dims_str(idx->ndim, c, buf, len);
}

/* Whether an index lies outside [0, n): one pass without a branch, which
   vectorises (a negative index is a large unsigned one); the loop below
   then only looks for the first one, for the message. */
TG_VECTOR_LOOP static bool any_out_of_range(const int64_t *restrict data, int64_t size, int64_t n)
{
    uint64_t bad = 0;
    for (int64_t k = 0; k < size; k++) bad |= (uint64_t)((uint64_t)data[k] >= (uint64_t)n);
    return bad != 0;
}

/* The index array of an op on tape t is usable there. */
static int usable_index(const tg_tape *t, const tg_index *idx, char *msg, size_t len)
{
    if (tg_index_usable(t, idx)) return TG_OK;
    snprintf(msg, len, "the index array is NULL, from another tape or from before tg_tape_reset");
    return TG_ERR_INVALID;
}

/* The index array of an op on tape t: usable there, every index in
   [0, n) of `axis`. The message names the index, its position and the axis. */
static int check_index(const tg_tape *t, const tg_index *idx, int axis, int64_t n, char *msg,
                       size_t len)
{
    int st = usable_index(t, idx, msg, len);
    if (st != TG_OK) return st;
    if (!any_out_of_range(idx->data, idx->size, n)) return TG_OK;
    for (int64_t k = 0; k < idx->size; k++) { /* the first one, for the message */
        int64_t v = idx->data[k];
        if (v >= 0 && v < n) continue;
        char b[96];
        snprintf(msg, len, "index %lld at position %s is out of range for axis %d of size %lld%s",
                 (long long)v, index_pos(idx, k, b, sizeof b), axis, (long long)n,
                 v < 0 ? " (this op takes no negative index, as in PyTorch)" : "");
        return TG_ERR_INVALID;
    }
    return TG_OK;
}

/* The message for a NULL index array: an earlier failure's (tg_index_new
   failed and returned NULL), or one naming the op. */
static tg_tensor *null_index(tg_tape *t, const char *op)
{
    if (t && !tg_tape_failed(t)) tg_tape_set_error(t, "tg_%s: the index array is NULL", op);
    return NULL;
}

/* The sums of an accumulating rule (indices that repeat) run in double: in
   a float build into n doubles of scratch from the tape, zeroed, added to
   the destination by acc_end; in a double build the rule adds straight into
   the destination (*acc NULL). false when the tape has no room: the op or
   rule then fails (tg_record_scratch). */
static bool acc_begin(tg_record *r, int64_t n, double **acc)
{
    *acc = NULL;
#ifdef TG_DOUBLE
    (void)r, (void)n;
    return true;
#else
    if (n <= 0) return true;
    *acc = tg_record_scratch(r, (size_t)n * sizeof(double));
    if (*acc) memset(*acc, 0, (size_t)n * sizeof(double));
    return *acc != NULL;
#endif
}

static void acc_end(tg_real *dst, const double *acc, int64_t n)
{
    if (acc)
        for (int64_t i = 0; i < n; i++) dst[i] += (tg_real)acc[i];
}

/* g padded with zeros at the end of each axis up to `shape` (the gradient
   of a src larger than its index array, whose extra elements are unused). */
static tg_tensor *pad_to(tg_tape *t, tg_tensor *g, const tg_tensor *like)
{
    if (!g || tg_same_shape(g, like)) return g;
    int64_t pad[2 * TG_MAX_DIMS];
    for (int d = 0; d < like->ndim; d++) {
        pad[2 * (like->ndim - 1 - d)] = 0;
        pad[2 * (like->ndim - 1 - d) + 1] = like->shape[d] - g->shape[d];
    }
    return tg_pad(t, g, 2 * like->ndim, pad, TG_PAD_CONSTANT, 0);
}

/* ------------------------------------------------- slice, select, narrow */

/* A slice of the input: along axis a, len[a] elements from start[a] every
   step[a]; axes in `drop` (select) have one element and leave the output. */
typedef struct {
    int ndim;                   /* the input's */
    unsigned drop;              /* bit a: axis a is dropped */
    int64_t shape[TG_MAX_DIMS]; /* the input's shape */
    int64_t start[TG_MAX_DIMS], step[TG_MAX_DIMS], len[TG_MAX_DIMS];
} slice_attr;

/* The whole of x: every axis from 0, step 1. */
static void slice_all(slice_attr *a, const tg_tensor *x)
{
    memset(a, 0, sizeof *a);
    a->ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) {
        a->shape[i] = a->len[i] = x->shape[i];
        a->step[i] = 1;
    }
}

/* The slice's output shape (the kept axes' lengths); returns its ndim. */
static int slice_out_shape(const slice_attr *a, int64_t *shape)
{
    int m = 0;
    for (int i = 0; i < a->ndim; i++)
        if (!(a->drop & (1u << i))) shape[m++] = a->len[i];
    return m;
}

/* Whether the attributes describe a slice of their shape (checked again in
   the shape functions, since an attribute struct can come from anywhere). */
static bool slice_valid(const slice_attr *a)
{
    if (a->ndim < 0 || a->ndim > TG_MAX_DIMS || (a->drop >> a->ndim) != 0) return false;
    for (int i = 0; i < a->ndim; i++) {
        int64_t n = a->shape[i], s = a->start[i], len = a->len[i];
        if (n < 0 || a->step[i] < 1 || len < 0 || s < 0 || s > n) return false;
        if ((a->drop & (1u << i)) && len != 1) return false;
        if (len > 0 && (s >= n || len - 1 > (n - 1 - s) / a->step[i])) return false;
    }
    return true;
}

static bool dims_equal(int na, const int64_t *a, int nb, const int64_t *b)
{
    if (na != nb) return false;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return false;
    return true;
}

static int slice_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                       size_t len)
{
    const slice_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    if (!slice_valid(a) || !dims_equal(x->ndim, x->shape, a->ndim, a->shape)) {
        char b[128];
        snprintf(msg, len, "the slice does not fit the input's shape %s",
                 tg_shape_str(x, b, sizeof b));
        return TG_ERR_INVALID;
    }
    *ndim = slice_out_shape(a, shape);
    return TG_OK;
}

/* slice_backward takes the slice's gradient (its output's shape) and gives
   the input's shape. */
static int slice_bw_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                          size_t len)
{
    const slice_attr *a = r->attr;
    const tg_tensor *g = r->in[0];
    int64_t want[TG_MAX_DIMS];
    int m = slice_valid(a) ? slice_out_shape(a, want) : -1;
    if (m < 0 || !dims_equal(g->ndim, g->shape, m, want)) {
        char b[128];
        snprintf(msg, len, "the gradient's shape %s is not the slice's output shape",
                 tg_shape_str(g, b, sizeof b));
        return TG_ERR_INVALID;
    }
    *ndim = a->ndim;
    for (int i = 0; i < a->ndim; i++) shape[i] = a->shape[i];
    return TG_OK;
}

/* Where a slice reads its input: output element k (row-major) lies at
   base + Σ_j c_j·stride_j, c its coordinates over `size`. Axes of length 1
   are left out and axes that continue each other merge, so that a
   contiguous slice is a single run. n: the number of elements. */
typedef struct {
    int m;
    int64_t base, n;
    int64_t size[TG_MAX_DIMS], stride[TG_MAX_DIMS];
} strided;

/* Fills *v in place, field by field: this runs for every slice (returned
   by value, the struct's copy waited on its small fields' stores: a tenth
   of recording a graph of scalars, which selects one value in three). */
static void slice_view(const slice_attr *a, strided *v)
{
    int64_t xs[TG_MAX_DIMS];
    strides_of(a->ndim, a->shape, xs);
    int64_t base = 0, n = 1;
    int m = 0;
    for (int i = 0; i < a->ndim; i++) {
        base += a->start[i] * xs[i];
        if (a->drop & (1u << i)) continue;
        n *= a->len[i];
        if (a->len[i] <= 1) continue;
        int64_t s = a->step[i] * xs[i];
        if (m > 0 && v->stride[m - 1] == s * a->len[i]) {
            v->size[m - 1] *= a->len[i];
            v->stride[m - 1] = s;
        } else {
            v->size[m] = a->len[i];
            v->stride[m++] = s;
        }
    }
    if (m == 0) { /* one element */
        v->size[0] = v->stride[0] = 1;
        m = 1;
    }
    v->base = base, v->n = n, v->m = m;
}

enum { GET, GET_ADD, PUT, PUT_ADD };

/* dense[k] (contiguous) against data at the view's positions: GET copies
   them into dense, GET_ADD adds them to it, PUT writes dense into them,
   PUT_ADD adds dense into them. Runs along the last axis; a run of stride 1
   is a memcpy. */
static void strided_walk(const strided *v, tg_real *data, tg_real *dense, int mode)
{
    if (v->n == 0) return;
    if (v->n == 1) { /* one element (select of a vector): no walk */
        tg_real *p = data + v->base;
        if (mode == GET) dense[0] = *p;
        else if (mode == GET_ADD) dense[0] += *p;
        else if (mode == PUT) *p = dense[0];
        else *p += dense[0];
        return;
    }
    int m = v->m;
    int64_t run = v->size[m - 1], s = v->stride[m - 1], rows = v->n / run;
    int64_t c[TG_MAX_DIMS] = {0}, off = v->base;
    for (int64_t r = 0; r < rows; r++) {
        tg_real *p = data + off, *d = dense + r * run;
        if (s == 1 && mode == GET)
            memcpy(d, p, (size_t)run * sizeof(tg_real));
        else if (s == 1 && mode == PUT)
            memcpy(p, d, (size_t)run * sizeof(tg_real));
        else if (mode == GET)
            for (int64_t i = 0; i < run; i++) d[i] = p[i * s];
        else if (mode == GET_ADD)
            for (int64_t i = 0; i < run; i++) d[i] += p[i * s];
        else if (mode == PUT)
            for (int64_t i = 0; i < run; i++) p[i * s] = d[i];
        else
            for (int64_t i = 0; i < run; i++) p[i * s] += d[i];
        for (int j = m - 2; j >= 0; j--) {
            off += v->stride[j];
            if (++c[j] < v->size[j]) break;
            off -= v->stride[j] * v->size[j];
            c[j] = 0;
        }
    }
}

static const tg_op op_slice_backward;

/* slice:  y = x at start + k·step along each axis (select: one position,
           the axis dropped)
   dx += g at those positions (each read once: no sums), 0 elsewhere:
   dx = slice_backward(g), the adjoint, whose own adjoint is slice again */
/* The record's view: computed by its first forward and kept with it (a
   replay and the backward reuse it: the shapes cannot change). */
static const strided *record_view(tg_record *r, strided *local)
{
    if (r->saved) return r->saved;
    /* kept for the backward where there is room (it works the view out
       again otherwise): no error on the tape when there is none */
    strided *v = tg_tape_try_alloc(r->tape, sizeof *v);
    if (v) r->saved = v, r->saved_bytes = sizeof *v;
    else v = local;
    slice_view(r->attr, v);
    return v;
}

static int slice_forward(tg_record *r)
{
    strided local;
    strided_walk(record_view(r, &local), r->in[0]->data, r->out->data, GET);
    return TG_OK;
}

static void slice_backward(tg_record *r)
{
    strided local;
    const strided *v = r->saved;
    if (!v) slice_view(r->attr, &local), v = &local;
    strided_walk(v, r->in[0]->grad, r->out->grad, PUT_ADD);
}

static int slice_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    dx[0] = tg_apply(t, &op_slice_backward, &g, 1, r->attr);
    return TG_OK;
}

/* slice_backward:  y = zeros of the input's shape with g at the slice's
   positions      dg += dy at those positions = slice(dy) */
static int slice_bw_forward(tg_record *r)
{
    strided v;
    slice_view(r->attr, &v);
    memset(r->out->data, 0, (size_t)r->out->size * sizeof(tg_real));
    strided_walk(&v, r->out->data, r->in[0]->data, PUT);
    return TG_OK;
}

static void slice_bw_backward(tg_record *r)
{
    strided v;
    slice_view(r->attr, &v);
    strided_walk(&v, r->out->grad, r->in[0]->grad, GET_ADD);
}

static const tg_op op_slice;

static int slice_bw_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    dx[0] = tg_apply(t, &op_slice, &g, 1, r->attr);
    return TG_OK;
}

#define SLICE_OP(NAME, DOC)                                                              \
    static const tg_op op_##NAME = {.name = #NAME, .n_inputs = 1,                        \
                                    .attr_size = sizeof(slice_attr),                     \
                                    .shape = slice_shape, .forward = slice_forward,      \
                                    .backward = slice_backward, .vjp = slice_vjp,        \
                                    .doc = DOC};
SLICE_OP(slice, "x[start:stop:step] along one or more axes")
SLICE_OP(narrow, "x[..., start:start+length, ...]")

static const tg_op op_slice_backward = {.name = "slice_backward", .n_inputs = 1,
                                        .attr_size = sizeof(slice_attr),
                                        .shape = slice_bw_shape, .forward = slice_bw_forward,
                                        .backward = slice_bw_backward, .vjp = slice_bw_vjp,
                                        .doc = "zeros with g at a slice's positions "
                                               "(slice's adjoint)"};

/* select:  y = x[..., index, ...] along one axis, the axis dropped: x as
            [outer, n, inner], y[o, i] = x[o, index, i]
   dx[o, index, i] += g[o, i], 0 elsewhere: dx = slice_backward(g) over the
   slice that select is (whose adjoint is that slice again).
   Its own op rather than a slice with a dropped axis: its attributes are
   16 bytes where a slice's are 264, and a select keeps nothing (a slice
   keeps its view, 152 bytes) unless it takes more than one value. As a
   slice, a select took 672 bytes of the arena; graphs of scalars, which
   pick their values out of vectors with it, are bound by the memory their
   records touch. */
typedef struct {
    int32_t axis;  /* in [0, ndim) of the input */
    int64_t index; /* in [0, n) */
} select_attr;

/* what a select of more than one value keeps: its input as [outer, n, inner] */
typedef struct {
    axis_view v;
    int64_t index;
} select_view;

static int select_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    const select_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    if (x->ndim < 1 || a->axis < 0 || a->axis >= x->ndim || a->index < 0 ||
        a->index >= x->shape[a->axis]) {
        char b[128];
        snprintf(msg, len, "index %lld of axis %d does not fit the input's shape %s",
                 (long long)a->index, (int)a->axis, tg_shape_str(x, b, sizeof b));
        return TG_ERR_INVALID;
    }
    int m = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != a->axis) shape[m++] = x->shape[i];
    *ndim = m;
    return TG_OK;
}

/* dense (y's layout) against x's values at the select's positions: GET
   copies them into dense, PUT_ADD adds dense into them */
static void select_walk(axis_view v, int64_t index, tg_real *x, tg_real *dense, int mode)
{
    for (int64_t o = 0; o < v.outer; o++) {
        tg_real *p = x + (o * v.n + index) * v.inner, *d = dense + o * v.inner;
        if (mode == GET)
            memcpy(d, p, (size_t)v.inner * sizeof(tg_real));
        else
            for (int64_t i = 0; i < v.inner; i++) p[i] += d[i];
    }
}

static int select_forward(tg_record *r)
{
    const select_attr *a = r->attr;
    tg_real *x = r->in[0]->data, *y = r->out->data;
    if (r->out->size == 1) { /* a value of a vector: no view to keep */
        axis_view v = tg_axis_view(r->in[0], a->axis);
        y[0] = x[a->index * v.inner];
        return TG_OK;
    }
    select_view *sv = tg_record_save(r, sizeof *sv); /* for the compact form */
    if (!sv) return TG_ERR_NOMEM;
    sv->v = tg_axis_view(r->in[0], a->axis), sv->index = a->index;
    select_walk(sv->v, sv->index, x, y, GET);
    return TG_OK;
}

static void select_backward(tg_record *r)
{
    const select_attr *a = r->attr;
    select_walk(tg_axis_view(r->in[0], a->axis), a->index, r->in[0]->grad, r->out->grad, PUT_ADD);
}

/* the slice that a select is, for slice_backward */
static void select_as_slice(const tg_record *r, slice_attr *s)
{
    const select_attr *a = r->attr;
    slice_all(s, r->in[0]);
    s->start[a->axis] = a->index;
    s->len[a->axis] = 1;
    s->drop = 1u << a->axis;
}

static int select_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    slice_attr s;
    select_as_slice(r, &s);
    dx[0] = tg_apply(t, &op_slice_backward, &g, 1, &s);
    return TG_OK;
}

static const tg_op op_select = {.name = "select", .n_inputs = 1, .attr_size = sizeof(select_attr),
                                .shape = select_shape, .forward = select_forward,
                                .backward = select_backward, .vjp = select_vjp,
                                .doc = "x[..., i, ...]: one position of an axis, the axis dropped"};

/* An index into an axis of length n as PyTorch clamps a slice's start and
   stop: negative counts from the end, then held to [0, n]. */
static int64_t clamp_bound(int64_t v, int64_t n)
{
    if (v < 0) v = v + n < 0 ? 0 : v + n;
    return v > n ? n : v;
}

tg_tensor *tg_slices(tg_tape *t, tg_tensor *x, int n, const tg_slice_spec *specs)
{
    if (!x) return tg_null_input(t, "slice");
    if (!t) return tg_no_tape(__func__);
    char b[128];
    if (n < 0 || n > TG_MAX_DIMS || (n > 0 && !specs)) {
        tg_tape_set_error(t, "tg_slice: %d slice specs%s (0..%d, one per axis)", n,
                          n > 0 && !specs ? " and no array" : "", TG_MAX_DIMS);
        return NULL;
    }
    slice_attr a;
    slice_all(&a, x);
    unsigned seen = 0;
    for (int k = 0; k < n; k++) {
        const tg_slice_spec *s = &specs[k];
        int ax;
        if (!tg_axis(s->axis, x->ndim, &ax)) {
            tg_tape_set_error(t, "tg_slice: axis %d is out of range for shape %s", s->axis,
                              tg_shape_str(x, b, sizeof b));
            return NULL;
        }
        if (seen & (1u << ax)) {
            tg_tape_set_error(t, "tg_slice: axis %d is sliced twice", s->axis);
            return NULL;
        }
        seen |= 1u << ax;
        if (s->step < 1) {
            tg_tape_set_error(t, "tg_slice: the step along axis %d is %lld; it must be at "
                                 "least 1 (PyTorch refuses other steps too)",
                              s->axis, (long long)s->step);
            return NULL;
        }
        int64_t len = x->shape[ax];
        int64_t start = clamp_bound(s->start, len), stop = clamp_bound(s->stop, len);
        a.start[ax] = start;
        a.step[ax] = s->step;
        a.len[ax] = stop > start ? (stop - start - 1) / s->step + 1 : 0;
    }
    return tg_apply(t, &op_slice, &x, 1, &a);
}

tg_tensor *tg_slice(tg_tape *t, tg_tensor *x, int axis, int64_t start, int64_t stop,
                    int64_t step)
{
    tg_slice_spec s = {axis, start, stop, step};
    return tg_slices(t, x, 1, &s);
}

/* The axis of select and narrow, which have none on a 0-d tensor. */
static bool pick_axis(tg_tape *t, const char *op, const tg_tensor *x, int axis, int *ax)
{
    char b[128];
    if (x->ndim == 0) {
        tg_tape_set_error(t, "tg_%s: a 0-d tensor has no axis to take from", op);
        return false;
    }
    if (!tg_axis(axis, x->ndim, ax)) {
        tg_tape_set_error(t, "tg_%s: axis %d is out of range for shape %s", op, axis,
                          tg_shape_str(x, b, sizeof b));
        return false;
    }
    return true;
}

tg_tensor *tg_select(tg_tape *t, tg_tensor *x, int axis, int64_t index)
{
    if (!x) return tg_null_input(t, "select");
    if (!t) return tg_no_tape(__func__);
    int ax;
    if (!pick_axis(t, "select", x, axis, &ax)) return NULL;
    int64_t n = x->shape[ax];
    if (index < -n || index >= n) {
        tg_tape_set_error(t, "tg_select: index %lld is out of range for axis %d of size %lld "
                             "(valid: %lld..%lld)",
                          (long long)index, axis, (long long)n, (long long)-n, (long long)n - 1);
        return NULL;
    }
    select_attr a = {ax, index < 0 ? index + n : index};
    return tg_apply(t, &op_select, &x, 1, &a);
}

tg_tensor *tg_narrow(tg_tape *t, tg_tensor *x, int axis, int64_t start, int64_t length)
{
    if (!x) return tg_null_input(t, "narrow");
    if (!t) return tg_no_tape(__func__);
    int ax;
    if (!pick_axis(t, "narrow", x, axis, &ax)) return NULL;
    int64_t n = x->shape[ax];
    if (start < -n || start > n) {
        tg_tape_set_error(t, "tg_narrow: start %lld is out of range for axis %d of size %lld "
                             "(valid: %lld..%lld)",
                          (long long)start, axis, (long long)n, (long long)-n, (long long)n);
        return NULL;
    }
    if (start < 0) start += n;
    if (length < 0 || length > n - start) {
        tg_tape_set_error(t, "tg_narrow: start %lld + length %lld does not fit axis %d of size "
                             "%lld",
                          (long long)start, (long long)length, axis, (long long)n);
        return NULL;
    }
    slice_attr a;
    slice_all(&a, x);
    a.start[ax] = start;
    a.len[ax] = length;
    return tg_apply(t, &op_narrow, &x, 1, &a);
}

/* --------------------------------------------- index_select and index_add */

typedef struct {
    int axis;              /* normalised (0 for a 0-d tensor) */
    const tg_index *index; /* owned by the tape */
} index_attr;

/* The checks index_select and index_add share: the axis, a 0-d or 1-d
   index array of x's tape, every index in the axis. */
static int rows_check(const tg_record *r, const tg_tensor *x, char *msg, size_t len)
{
    const index_attr *a = r->attr;
    char b[128];
    if (!axis_ok(x, a->axis)) {
        snprintf(msg, len, "axis %d is out of range for shape %s", a->axis,
                 tg_shape_str(x, b, sizeof b));
        return TG_ERR_INVALID;
    }
    if (tg_index_usable(r->tape, a->index) && a->index->ndim > 1) {
        snprintf(msg, len, "the index array must be 0-d or 1-d (a list of positions), got "
                           "shape %s",
                 tg_dims_str(a->index->ndim, a->index->shape, b, sizeof b));
        return TG_ERR_SHAPE;
    }
    int st = check_index(r->tape, a->index, a->axis, tg_axis_view(x, a->axis).n, msg, len);
    if (st != TG_OK) return st;
    if (x->ndim == 0 && a->index->size != 1) {
        snprintf(msg, len, "a 0-d tensor takes exactly one index, got %lld",
                 (long long)a->index->size);
        return TG_ERR_SHAPE;
    }
    return TG_OK;
}

static int index_select_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS],
                              char *msg, size_t len)
{
    const index_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    int st = rows_check(r, x, msg, len);
    if (st != TG_OK) return st;
    *ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) shape[i] = i == a->axis ? a->index->size : x->shape[i];
    return TG_OK;
}

/* index_add takes x and src, src of x's shape but along the axis, where it
   has one row per index. */
static int index_add_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                           size_t len)
{
    const index_attr *a = r->attr;
    const tg_tensor *x = r->in[0], *src = r->in[1];
    if (!src) {
        snprintf(msg, len, "src is NULL");
        return TG_ERR_INVALID;
    }
    int st = rows_check(r, x, msg, len);
    if (st != TG_OK) return st;
    bool fits = src->ndim == x->ndim;
    for (int i = 0; fits && i < x->ndim; i++)
        fits = src->shape[i] == (i == a->axis ? a->index->size : x->shape[i]);
    if (!fits) {
        char bx[128], bs[128];
        snprintf(msg, len, "src has shape %s; for x %s and %lld indices along axis %d it must "
                           "be x's shape with %lld along that axis",
                 tg_shape_str(src, bs, sizeof bs), tg_shape_str(x, bx, sizeof bx),
                 (long long)a->index->size, a->axis, (long long)a->index->size);
        return TG_ERR_SHAPE;
    }
    return tg_shape_same(r, ndim, shape, msg, len);
}

/* dst [outer, n, inner] row index[j] += src [outer, k, inner] row j, for
   every j and every outer o. In a float build the rows that several j add
   to are summed in double first (the j grouped by row with a counting
   sort, in scratch: without it nothing is added, and the op or rule fails,
   tg_record_scratch); a row that one j adds to takes it in one rounding. */
static void add_rows(tg_record *r, tg_real *dst, const tg_real *src, axis_view v,
                     const int64_t *index, int64_t k)
{
    int64_t n = v.n, inner = v.inner;
    if (k == 0 || inner == 0 || v.outer == 0) return;
#ifndef TG_DOUBLE
    int64_t *first = tg_record_scratch(r, (size_t)(n + 1 + k) * sizeof(int64_t));
    double *row = first ? tg_record_scratch(r, (size_t)inner * sizeof(double)) : NULL;
    if (!row) return;
    int64_t *order = first + n + 1; /* the j, by row */
    memset(first, 0, (size_t)(n + 1) * sizeof(int64_t));
    for (int64_t j = 0; j < k; j++) first[index[j] + 1]++;
    for (int64_t p = 0; p < n; p++) first[p + 1] += first[p];
    for (int64_t j = 0; j < k; j++) order[first[index[j]]++] = j;
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t q = 0; q < k;) {
            int64_t p = index[order[q]], e = q + 1;
            while (e < k && index[order[e]] == p) e++;
            tg_real *d = dst + (o * n + p) * inner;
            if (e == q + 1) {
                const tg_real *s = src + (o * k + order[q]) * inner;
                for (int64_t i = 0; i < inner; i++) d[i] += s[i];
            } else {
                memset(row, 0, (size_t)inner * sizeof(double));
                for (; q < e; q++) {
                    const tg_real *s = src + (o * k + order[q]) * inner;
                    for (int64_t i = 0; i < inner; i++) row[i] += (double)s[i];
                }
                for (int64_t i = 0; i < inner; i++) d[i] += (tg_real)row[i];
            }
            q = e;
        }
#else
    (void)r;
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t j = 0; j < k; j++) {
            tg_real *d = dst + (o * n + index[j]) * inner;
            const tg_real *s = src + (o * k + j) * inner;
            for (int64_t i = 0; i < inner; i++) d[i] += s[i];
        }
#endif
}

/* Rows taken in an order the hardware cannot guess are asked for this many
   rows ahead, a line at a time, when they are at least PREFETCH_ROW_MIN
   values long (and only their first PREFETCH_ROW_MAX: the hardware follows
   a long row by itself): without it each row's first lines wait for
   memory. An output of TG_STREAM_BYTES or more is then written with
   streaming stores, as memcpy writes a copy that large: rows of 256 from
   a 64 MiB table, 9.9-11.3 -> 8.4-9.0 ms (without the prefetch, streaming
   stores had made it slower). */
enum { PREFETCH_AHEAD = 8, PREFETCH_ROW_MIN = 64, PREFETCH_ROW_MAX = 512 };

static inline void prefetch_row(const tg_real *s, int64_t n)
{
    if (n > PREFETCH_ROW_MAX) n = PREFETCH_ROW_MAX;
    for (int64_t i = 0; i < n; i += 64 / (int64_t)sizeof(tg_real)) __builtin_prefetch(s + i, 0, 0);
}

/* dst [outer, k, inner] row j (+)= src [outer, n, inner] row index[j]. */
static void take_rows(tg_real *dst, const tg_real *src, axis_view v, const int64_t *index,
                      int64_t k, bool add)
{
    bool ahead = v.inner >= PREFETCH_ROW_MIN;
    bool stream = !add && v.inner >= PREFETCH_ROW_MIN &&
                  v.outer * k * v.inner >= TG_STREAM_BYTES / (int64_t)sizeof(tg_real);
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t j = 0; j < k; j++) {
            tg_real *d = dst + (o * k + j) * v.inner;
            const tg_real *s = src + (o * v.n + index[j]) * v.inner;
            if (ahead && j + PREFETCH_AHEAD < k)
                prefetch_row(src + (o * v.n + index[j + PREFETCH_AHEAD]) * v.inner, v.inner);
            if (add)
                for (int64_t i = 0; i < v.inner; i++) d[i] += s[i];
            else if (v.inner == 1)
                d[0] = s[0];
            else if (!stream || !tg_stream_copy(d, s, v.inner))
                memcpy(d, s, (size_t)v.inner * sizeof(tg_real));
        }
    if (stream) tg_stream_fence();
}

/* index_select:  y[.., j, ..] = x[.., index[j], ..]
   dx[.., p, ..] += Σ_{j: index[j] = p} g[.., j, ..]  = index_add(0, index, g) */
static int index_select_forward(tg_record *r)
{
    const index_attr *a = r->attr;
    take_rows(r->out->data, r->in[0]->data, tg_axis_view(r->in[0], a->axis), a->index->data,
              a->index->size, false);
    return TG_OK;
}

static void index_select_backward(tg_record *r)
{
    const index_attr *a = r->attr;
    add_rows(r, r->in[0]->grad, r->out->grad, tg_axis_view(r->in[0], a->axis),
             a->index->data, a->index->size);
}

static int index_select_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const index_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    dx[0] = tg_index_add(t, tg_zeros(t, x->ndim, x->shape), a->axis, a->index, g);
    return TG_OK;
}

/* index_add:  y = x, then y[.., index[j], ..] += src[.., j, ..]
   dx += g      dsrc[.., j, ..] += g[.., index[j], ..]  = index_select(g) */
static int index_add_forward(tg_record *r)
{
    const index_attr *a = r->attr;
    tg_tensor *x = r->in[0];
    memcpy(r->out->data, x->data, (size_t)x->size * sizeof(tg_real));
    add_rows(r, r->out->data, r->in[1]->data, tg_axis_view(x, a->axis), a->index->data,
             a->index->size);
    return TG_OK;
}

static void index_add_backward(tg_record *r)
{
    const index_attr *a = r->attr;
    tg_tensor *x = r->in[0], *src = r->in[1];
    const tg_real *g = r->out->grad;
    if (x->grad)
        for (int64_t i = 0; i < x->size; i++) x->grad[i] += g[i];
    if (src->grad)
        take_rows(src->grad, g, tg_axis_view(x, a->axis), a->index->data, a->index->size, true);
}

static int index_add_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const index_attr *a = r->attr;
    if (r->in[0]->flags & TG_REQUIRES_GRAD) dx[0] = g;
    if (r->in[1]->flags & TG_REQUIRES_GRAD) dx[1] = tg_index_select(t, g, a->axis, a->index);
    return TG_OK;
}

static const tg_op op_index_select = {.name = "index_select", .n_inputs = 1,
                                      .flags = TG_OP_CHECK_ON_REPLAY,
                                      .attr_size = sizeof(index_attr),
                                      .shape = index_select_shape,
                                      .forward = index_select_forward,
                                      .backward = index_select_backward,
                                      .vjp = index_select_vjp,
                                      .doc = "y[.., j, ..] = x[.., index[j], ..]"};
static const tg_op op_index_add = {.name = "index_add", .n_inputs = 2,
                                   .flags = TG_OP_CHECK_ON_REPLAY,
                                   .attr_size = sizeof(index_attr), .shape = index_add_shape,
                                   .forward = index_add_forward,
                                   .backward = index_add_backward, .vjp = index_add_vjp,
                                   .doc = "x, then y[.., index[j], ..] += src[.., j, ..]"};

/* The normalised axis of an op taking indices (0 for a 0-d x, which takes
   0 and -1 as PyTorch does); false with the message on the tape. */
static bool index_axis(tg_tape *t, const char *op, const tg_tensor *x, int axis, int *ax)
{
    if (x->ndim == 0 && (axis == 0 || axis == -1)) {
        *ax = 0;
        return true;
    }
    if (tg_axis(axis, x->ndim, ax)) return true;
    char b[128];
    tg_tape_set_error(t, "tg_%s: axis %d is out of range for shape %s", op, axis,
                      tg_shape_str(x, b, sizeof b));
    return false;
}

tg_tensor *tg_index_select(tg_tape *t, tg_tensor *x, int axis, const tg_index *index)
{
    if (!x) return tg_null_input(t, "index_select");
    if (!index) return null_index(t, "index_select");
    index_attr a = {0, index};
    if (!index_axis(t, "index_select", x, axis, &a.axis)) return NULL;
    return tg_apply(t, &op_index_select, &x, 1, &a);
}

tg_tensor *tg_index_add(tg_tape *t, tg_tensor *x, int axis, const tg_index *index, tg_tensor *src)
{
    if (!x || !src) return tg_null_input(t, "index_add");
    if (!index) return null_index(t, "index_add");
    index_attr a = {0, index};
    if (!index_axis(t, "index_add", x, axis, &a.axis)) return NULL;
    tg_tensor *in[2] = {x, src};
    return tg_apply(t, &op_index_add, in, 2, &a);
}

/* ------------------------------------------ gather, scatter_add, scatter */

/* The shape checks of gather (src NULL) and scatter_add/scatter: x, the
   index array and src have the same number of dimensions (a 0-d x takes a
   0-d or 1-d index array, and src of the index's ndim); the index is no
   larger than src along every axis and than x along every other axis than
   `axis`; every index lies in x's axis (scan; gather's forward checks its
   indices as it reads them instead, the array then read once, not twice). */
static int elements_check(const tg_record *r, const tg_tensor *src, bool scan, char *msg,
                          size_t len)
{
    const index_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    const tg_index *idx = a->index;
    char bx[128], bi[128], bs[128];
    if (!axis_ok(x, a->axis)) {
        snprintf(msg, len, "axis %d is out of range for shape %s", a->axis,
                 tg_shape_str(x, bx, sizeof bx));
        return TG_ERR_INVALID;
    }
    int st = scan ? check_index(r->tape, idx, a->axis, tg_axis_view(x, a->axis).n, msg, len)
                  : usable_index(r->tape, idx, msg, len);
    if (st != TG_OK) return st;
    tg_shape_str(x, bx, sizeof bx);
    tg_dims_str(idx->ndim, idx->shape, bi, sizeof bi);
    if (x->ndim == 0 ? idx->ndim > 1 : idx->ndim != x->ndim) {
        snprintf(msg, len, "the index array %s must have as many dimensions as x %s", bi, bx);
        return TG_ERR_SHAPE;
    }
    if (src && src->ndim != idx->ndim) {
        snprintf(msg, len, "src %s must have as many dimensions as the index array %s",
                 tg_shape_str(src, bs, sizeof bs), bi);
        return TG_ERR_SHAPE;
    }
    for (int d = 0; d < x->ndim; d++)
        if (d != a->axis && idx->shape[d] > x->shape[d]) {
            snprintf(msg, len, "the index array %s is larger than x %s along axis %d (only "
                               "axis %d may be larger)",
                     bi, bx, d, a->axis);
            return TG_ERR_SHAPE;
        }
    for (int d = 0; src && d < idx->ndim; d++)
        if (idx->shape[d] > src->shape[d]) {
            snprintf(msg, len, "the index array %s is larger than src %s along axis %d", bi,
                     tg_shape_str(src, bs, sizeof bs), d);
            return TG_ERR_SHAPE;
        }
    return TG_OK;
}

static int gather_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    const tg_index *idx = ((const index_attr *)r->attr)->index;
    int st = elements_check(r, NULL, false, msg, len);
    if (st != TG_OK) return st;
    *ndim = idx->ndim;
    for (int i = 0; i < idx->ndim; i++) shape[i] = idx->shape[i];
    return TG_OK;
}

static int scatter_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                         size_t len)
{
    if (!r->in[1]) {
        snprintf(msg, len, "src is NULL");
        return TG_ERR_INVALID;
    }
    int st = elements_check(r, r->in[1], true, msg, len);
    return st != TG_OK ? st : tg_shape_same(r, ndim, shape, msg, len);
}

/* Walks an index array row by row (rows of its last axis): for the row
   starting at flat position j0, xb is the offset in x of the row's
   coordinates without the indexed axis, sb the offset in src of the same
   coordinates. Element i of the row names x[xb + i·xl + index[j0 + i]·xa]
   and src[sb + i·sl]. */
typedef struct {
    int ndim, axis;
    int64_t shape[TG_MAX_DIMS]; /* the index array's (one axis of 1 for a 0-d one) */
    int64_t xs[TG_MAX_DIMS];    /* x's strides, 0 along the indexed axis */
    int64_t ss[TG_MAX_DIMS];    /* src's strides */
    int64_t xa, xl, sl, run, rows;
    int64_t xn; /* x's size along the axis */
    const int64_t *index;
} index_walk;

static index_walk index_walk_of(const tg_record *r, const tg_tensor *src)
{
    const index_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    const tg_index *idx = a->index;
    index_walk w = {.ndim = idx->ndim, .axis = a->axis, .index = idx->data};
    int64_t xs[TG_MAX_DIMS] = {0};
    strides_of(x->ndim, x->shape, xs);
    if (src) strides_of(src->ndim, src->shape, w.ss);
    for (int d = 0; d < idx->ndim; d++) {
        w.shape[d] = idx->shape[d];
        w.xs[d] = x->ndim == 0 || d == a->axis ? 0 : xs[d];
    }
    w.xa = x->ndim == 0 ? 0 : xs[a->axis];
    w.xn = x->ndim == 0 ? 1 : x->shape[a->axis];
    if (w.ndim == 0) { /* one row of one element */
        w.ndim = 1;
        w.shape[0] = 1;
        w.ss[0] = 1;
    }
    w.run = w.shape[w.ndim - 1];
    w.xl = w.xs[w.ndim - 1];
    w.sl = w.ss[w.ndim - 1];
    w.rows = w.run ? idx->size / w.run : 0;
    return w;
}

/* Runs the statements given for every row of the walk, with j0, xb and sb set. */
#define INDEX_ROWS(W, ...)                                                              \
    do {                                                                                 \
        int64_t c_[TG_MAX_DIMS] = {0}, j0 = 0, xb = 0, sb = 0;                           \
        for (int64_t r_ = 0; r_ < (W)->rows; r_++, j0 += (W)->run) {                     \
            __VA_ARGS__;                                                                 \
            for (int d_ = (W)->ndim - 2; d_ >= 0; d_--) {                                \
                xb += (W)->xs[d_], sb += (W)->ss[d_];                                    \
                if (++c_[d_] < (W)->shape[d_]) break;                                    \
                xb -= (W)->xs[d_] * (W)->shape[d_], sb -= (W)->ss[d_] * (W)->shape[d_];  \
                c_[d_] = 0;                                                              \
            }                                                                            \
        }                                                                                \
    } while (0)

/* dst (x's shape) += Σ over the index of src at the positions it names:
   dst[xb + i·xl + index·xa] += src[sb + i·sl], in double (acc_begin). The
   adjoint of gather, and scatter_add's update. */
static void scatter_sum(tg_record *r, tg_real *dst, int64_t n, const tg_real *src,
                        const index_walk *w)
{
    double *acc;
    if (!acc_begin(r, n, &acc)) return;
    const int64_t *idx = w->index;
    INDEX_ROWS(w, {
        for (int64_t i = 0; i < w->run; i++) {
            int64_t p = xb + i * w->xl + idx[j0 + i] * w->xa;
            tg_real v = src[sb + i * w->sl];
            if (acc)
                acc[p] += (double)v;
            else
                dst[p] += v;
        }
    });
    acc_end(dst, acc, n);
}

/* d[i] = x[ix[i]] for i < n, each index checked against xn, the row's
   length, before it is read: false (the row part-written) if one is not in
   [0, xn). A random gather along a contiguous row, gather's common case.
   Where the CPU has AVX-512 (asked at run time, as the GEMM asks), the
   row's whole vectors go eight indices at a time to its gather
   instruction, whose loads overlap where a loop of scalar loads was bound
   by their issue (only the lanes in range are read), and the loop below
   takes the rest. Values are copied as they are either way: the two paths
   give the same bits. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define GATHER_X86 1
/* the first *done of the n values, *done a multiple of the vector's width */
__attribute__((target("avx512f"))) static bool gather_vectors_avx512(tg_real *restrict d,
                                                                     const tg_real *restrict x,
                                                                     const int64_t *restrict ix,
                                                                     int64_t n, int64_t xn,
                                                                     int64_t *done)
{
    const __m512i lim = _mm512_set1_epi64(xn);
    __mmask8 ok = 0xff; /* a negative index is a large unsigned one */
    int64_t i = 0;
#ifdef TG_DOUBLE
    for (; i + 8 <= n; i += 8) {
        __m512i v = _mm512_loadu_si512(ix + i);
        __mmask8 in = _mm512_cmplt_epu64_mask(v, lim);
        ok &= in;
        _mm512_storeu_pd(d + i, _mm512_mask_i64gather_pd(_mm512_setzero_pd(), in, v, x, 8));
    }
#else
    for (; i + 16 <= n; i += 16) {
        __m512i lo = _mm512_loadu_si512(ix + i), hi = _mm512_loadu_si512(ix + i + 8);
        __mmask8 in_lo = _mm512_cmplt_epu64_mask(lo, lim), in_hi = _mm512_cmplt_epu64_mask(hi, lim);
        ok &= in_lo & in_hi;
        _mm256_storeu_ps(d + i, _mm512_mask_i64gather_ps(_mm256_setzero_ps(), in_lo, lo, x, 4));
        _mm256_storeu_ps(d + i + 8, _mm512_mask_i64gather_ps(_mm256_setzero_ps(), in_hi, hi, x, 4));
    }
#endif
    *done = i;
    return ok == 0xff;
}
#endif

static bool gather_row(tg_real *restrict d, const tg_real *restrict x,
                       const int64_t *restrict ix, int64_t n, int64_t xn)
{
    bool good = true;
    int64_t i = 0;
#ifdef GATHER_X86
    if (__builtin_cpu_supports("avx512f")) good = gather_vectors_avx512(d, x, ix, n, xn, &i);
#endif
    for (; i < n; i++) {
        uint64_t k = (uint64_t)ix[i];
        good &= k < (uint64_t)xn;
        d[i] = x[k < (uint64_t)xn ? k : 0];
    }
    return good;
}

/* gather_row into an output of `total` values: one larger than the cache
   (TG_STREAM_BYTES) goes a block at a time through a buffer in the cache
   and on with streaming stores, as memcpy writes (a stand-alone loop of
   the AVX-512 gather over 64 MiB: 21 -> 15 ms). */
enum { GATHER_BLOCK = 256 };
static bool gather_row_out(tg_real *d, const tg_real *x, const int64_t *ix, int64_t n,
                           int64_t xn, int64_t total)
{
    if (total < TG_STREAM_BYTES / (int64_t)sizeof(tg_real)) return gather_row(d, x, ix, n, xn);
    _Alignas(64) tg_real buf[GATHER_BLOCK];
    bool good = true;
    for (int64_t b = 0; b < n; b += GATHER_BLOCK) {
        int64_t w = b + GATHER_BLOCK < n ? GATHER_BLOCK : n - b;
        good &= gather_row(buf, x, ix + b, w, xn);
        if (!tg_stream_copy(d + b, buf, w)) memcpy(d + b, buf, (size_t)w * sizeof *buf);
    }
    return good;
}

/* gather along a contiguous last axis, its indices checked as they are
   read (gather_row): false if one is out of range. */
static bool gather_last_axis(tg_real *dst, const tg_real *x, const index_walk *w)
{
    const int64_t *idx = w->index;
    bool good = true;
    INDEX_ROWS(w, {
        const tg_real *xr = x + xb;
        /* the row of x is read in a random order: the next row's lines are
           asked for while this one is gathered, rather than missed one at a
           time (a random gather over 64 MiB: 30 -> 27 ms). A later index
           row names a later row of x, which then exists. */
        for (int64_t i = 0; r_ + 1 < w->rows && i < w->xn; i += 64 / (int64_t)sizeof *xr)
            __builtin_prefetch(xr + w->xn + i);
        good &= gather_row_out(dst + sb, xr, idx + j0, w->run, w->xn, w->rows * w->run);
    });
    tg_stream_fence(); /* after gather_row_out's streaming stores, if any */
    return good;
}

/* dst[sb + i·sl] (+)= x[xb + i·xl + index·xa]: gather into an array of src's
   strides (the index's own for gather). */
static void gather_into(tg_real *dst, const tg_real *x, const index_walk *w, bool add)
{
    const int64_t *idx = w->index;
    INDEX_ROWS(w, {
        tg_real *d = dst + sb;
        const tg_real *xr = x + xb;
        const int64_t *ir = idx + j0;
        if (add)
            for (int64_t i = 0; i < w->run; i++) d[i * w->sl] += xr[i * w->xl + ir[i] * w->xa];
        else if (w->xl == 0 && w->sl == 1)
            for (int64_t i = 0; i < w->run; i++) d[i] = xr[ir[i] * w->xa];
        else
            for (int64_t i = 0; i < w->run; i++) d[i * w->sl] = xr[i * w->xl + ir[i] * w->xa];
    });
}

/* gather:  y[j] = x[j with the axis coordinate replaced by index[j]]
   dx[p] += Σ_{j naming p} g[j]  = scatter_add(0, index, g)   (summed in double) */
static int gather_forward(tg_record *r)
{
    const index_attr *a = r->attr;
    index_walk w = index_walk_of(r, r->out); /* the output has the index's shape */
    if (w.xl == 0 && w.sl == 1 && w.xa == 1) { /* along x's last axis, checked as read */
        if (gather_last_axis(r->out->data, r->in[0]->data, &w)) return TG_OK;
    } else if (!any_out_of_range(a->index->data, a->index->size, w.xn)) {
        gather_into(r->out->data, r->in[0]->data, &w, false);
        return TG_OK;
    }
    char msg[TG_MSG_LEN]; /* the first index out of range, named */
    int st = check_index(r->tape, a->index, a->axis, w.xn, msg, sizeof msg);
    return tg_record_fail(r, st != TG_OK ? st : TG_ERR_INVALID, "%s", msg);
}

static void gather_backward(tg_record *r)
{
    index_walk w = index_walk_of(r, r->out);
    scatter_sum(r, r->in[0]->grad, r->in[0]->size, r->out->grad, &w);
}

static int gather_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const index_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    dx[0] = tg_scatter_add(t, tg_zeros(t, x->ndim, x->shape), a->axis, a->index, g);
    return TG_OK;
}

/* scatter_add:  y = x, then y[p] += Σ_{j naming p} src[j]   (in double)
   dx += g      dsrc[j] += g[p named by j] = gather(g, index) (0 where src is
   larger than the index array) */
static int scatter_add_forward(tg_record *r)
{
    tg_tensor *x = r->in[0];
    index_walk w = index_walk_of(r, r->in[1]);
    memcpy(r->out->data, x->data, (size_t)x->size * sizeof(tg_real));
    scatter_sum(r, r->out->data, x->size, r->in[1]->data, &w);
    return TG_OK;
}

static void scatter_add_backward(tg_record *r)
{
    tg_tensor *x = r->in[0], *src = r->in[1];
    const tg_real *g = r->out->grad;
    if (x->grad)
        for (int64_t i = 0; i < x->size; i++) x->grad[i] += g[i];
    if (src->grad) {
        index_walk w = index_walk_of(r, src);
        gather_into(src->grad, g, &w, true);
    }
}

static int scatter_add_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const index_attr *a = r->attr;
    if (r->in[0]->flags & TG_REQUIRES_GRAD) dx[0] = g;
    if (r->in[1]->flags & TG_REQUIRES_GRAD)
        dx[1] = pad_to(t, tg_gather(t, g, a->axis, a->index), r->in[1]);
    return TG_OK;
}

/* scatter:  y = x, then y[p] = src[j] for the j naming p; where several j
   name the same p the last in row-major order of the index wins (PyTorch
   leaves that case undefined; its CPU kernel keeps the last too).
   dx = g where no j wrote, 0 where one did; dsrc[j] = g[p] for the j that
   won p, 0 for the others (the exact derivative of the rule above).
   The forward keeps which positions were written and which j won:
   saved = {written [x's size], won [the index's size]} as bytes. */
static int scatter_forward(tg_record *r)
{
    tg_tensor *x = r->in[0], *src = r->in[1];
    const tg_index *idx = ((const index_attr *)r->attr)->index;
    index_walk w = index_walk_of(r, src);
    tg_real *y = r->out->data;
    unsigned char *written = tg_record_save(r, (size_t)(x->size + idx->size) + 1);
    int64_t *pos = tg_tape_alloc(r->tape, (size_t)(idx->size ? idx->size : 1) * sizeof(int64_t));
    if (!written || !pos) return TG_ERR_NOMEM;
    unsigned char *won = written + x->size;
    memcpy(y, x->data, (size_t)x->size * sizeof(tg_real));
    memset(written, 0, (size_t)x->size);
    INDEX_ROWS(&w, {
        for (int64_t i = 0; i < w.run; i++) {
            pos[j0 + i] = xb + i * w.xl + w.index[j0 + i] * w.xa;
            y[pos[j0 + i]] = src->data[sb + i * w.sl];
        }
    });
    for (int64_t j = idx->size - 1; j >= 0; j--) {
        won[j] = !written[pos[j]];
        written[pos[j]] = 1;
    }
    return TG_OK;
}

static void scatter_backward(tg_record *r)
{
    tg_tensor *x = r->in[0], *src = r->in[1];
    const unsigned char *written = r->saved, *won = written + x->size;
    const tg_real *g = r->out->grad;
    if (x->grad)
        for (int64_t i = 0; i < x->size; i++)
            if (!written[i]) x->grad[i] += g[i];
    if (src->grad) {
        index_walk w = index_walk_of(r, src);
        INDEX_ROWS(&w, {
            for (int64_t i = 0; i < w.run; i++)
                if (won[j0 + i])
                    src->grad[sb + i * w.sl] += g[xb + i * w.xl + w.index[j0 + i] * w.xa];
        });
    }
}

/* A constant 0/1 tensor of the given shape from n bytes. */
static tg_tensor *mask_tensor(tg_tape *t, int ndim, const int64_t *shape,
                              const unsigned char *m)
{
    tg_tensor *c = tg_zeros(t, ndim, shape);
    if (c)
        for (int64_t i = 0; i < c->size; i++) c->data[i] = m[i];
    return c;
}

/* The masks of scatter's rule, made by ops from the index: the ids 1..n
   scattered (the last write wins, as in the forward) give `written`, the
   positions some j wrote, and `won`, 1 where j's id is the one kept. Ops
   of the index, so a replay with new positions makes them again (constants
   made from r->saved kept the recording's positions: found by a replay
   fuzzer). The ids are exact up to 2²⁴ in float: past that, the saved
   masks, and the tape cannot replay them. */
static void scatter_masks(tg_tape *t, const tg_record *r, tg_tensor **written, tg_tensor **won)
{
    const index_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    const tg_index *idx = a->index;
    if (idx->size >= ((int64_t)1 << (sizeof(tg_real) == sizeof(float) ? 24 : 53))) {
        const unsigned char *saved = r->saved;
        *written = mask_tensor(t, x->ndim, x->shape, saved);
        *won = mask_tensor(t, idx->ndim, idx->shape, saved + x->size);
        tg_tape_not_replayable(t, "scatter's gradient graph over %lld indices (more than "
                                  "tg_real's whole numbers count exactly)", (long long)idx->size);
        return;
    }
    tg_tensor *ids = tg_zeros(t, idx->ndim, idx->shape);
    if (ids)
        for (int64_t j = 0; j < ids->size; j++) ids->data[j] = (tg_real)(j + 1);
    tg_tensor *at = ids ? tg_scatter(t, tg_zeros(t, x->ndim, x->shape), a->axis, idx, ids) : NULL;
    *written = tg_ne(t, at, tg_scalar(t, 0));
    *won = tg_eq(t, tg_gather(t, at, a->axis, idx), ids);
}

static int scatter_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const index_attr *a = r->attr;
    const tg_tensor *x = r->in[0];
    tg_tensor *zero = tg_scalar(t, 0), *written, *won;
    scatter_masks(t, r, &written, &won);
    if (x->flags & TG_REQUIRES_GRAD) dx[0] = tg_where(t, written, zero, g);
    if (r->in[1]->flags & TG_REQUIRES_GRAD)
        dx[1] = pad_to(t, tg_where(t, won, tg_gather(t, g, a->axis, a->index), zero), r->in[1]);
    return TG_OK;
}

static const tg_op op_gather = {.name = "gather", .n_inputs = 1,
                                .flags = TG_OP_CHECK_ON_REPLAY,
                                .attr_size = sizeof(index_attr), .shape = gather_shape,
                                .forward = gather_forward, .backward = gather_backward,
                                .vjp = gather_vjp,
                                .doc = "y[j] = x[j with index[j] along the axis]"};
static const tg_op op_scatter_add = {.name = "scatter_add", .n_inputs = 2,
                                     .flags = TG_OP_CHECK_ON_REPLAY,
                                     .attr_size = sizeof(index_attr), .shape = scatter_shape,
                                     .forward = scatter_add_forward,
                                     .backward = scatter_add_backward, .vjp = scatter_add_vjp,
                                     .doc = "x, then y[j with index[j] along the axis] += src[j]"};
static const tg_op op_scatter = {.name = "scatter", .n_inputs = 2,
                                 .flags = TG_OP_CHECK_ON_REPLAY,
                                 .attr_size = sizeof(index_attr), .shape = scatter_shape,
                                 .forward = scatter_forward, .backward = scatter_backward,
                                 .vjp = scatter_vjp,
                                 .doc = "x, then y[j with index[j] along the axis] = src[j] "
                                        "(the last write wins)"};

tg_tensor *tg_gather(tg_tape *t, tg_tensor *x, int axis, const tg_index *index)
{
    if (!x) return tg_null_input(t, "gather");
    if (!index) return null_index(t, "gather");
    index_attr a = {0, index};
    if (!index_axis(t, "gather", x, axis, &a.axis)) return NULL;
    return tg_apply(t, &op_gather, &x, 1, &a);
}

static tg_tensor *scatter_op(tg_tape *t, const tg_op *op, tg_tensor *x, int axis,
                             const tg_index *index, tg_tensor *src)
{
    if (!x || !src) return tg_null_input(t, op->name);
    if (!index) return null_index(t, op->name);
    index_attr a = {0, index};
    if (!index_axis(t, op->name, x, axis, &a.axis)) return NULL;
    tg_tensor *in[2] = {x, src};
    return tg_apply(t, op, in, 2, &a);
}

tg_tensor *tg_scatter_add(tg_tape *t, tg_tensor *x, int axis, const tg_index *index,
                          tg_tensor *src)
{
    return scatter_op(t, &op_scatter_add, x, axis, index, src);
}

tg_tensor *tg_scatter(tg_tape *t, tg_tensor *x, int axis, const tg_index *index, tg_tensor *src)
{
    return scatter_op(t, &op_scatter, x, axis, index, src);
}

/* ------------------------------------------------------------- masked_fill */

typedef struct {
    tg_real value;
} fill_attr;

typedef struct {
    const tg_real *x, *mask, *g;
    tg_real *y, *dx;
    tg_real value;
} fill_ctx;

/* y = value where mask ≠ 0, else x (a = x, b = mask, broadcast together) */
static void fill_run(int64_t ia, int64_t ib, int64_t io, int64_t n, int64_t sa, int64_t sb,
                     void *c)
{
    fill_ctx *k = c;
    for (int64_t i = 0; i < n; i++)
        k->y[io + i] = k->mask[ib + i * sb] != 0 ? k->value : k->x[ia + i * sa];
}

/* dx[ia] += g where mask = 0 (x's own elements, or a fallback for a
   broadcast x when the tape has no room for the sums in double) */
static void unfill_run(int64_t ia, int64_t ib, int64_t io, int64_t n, int64_t sa, int64_t sb,
                       void *c)
{
    fill_ctx *k = c;
    for (int64_t i = 0; i < n; i++)
        if (k->mask[ib + i * sb] == 0) k->dx[ia + i * sa] += k->g[io + i];
}

/* masked_fill:  y = value where mask ≠ 0, else x (x and mask broadcast
   together, as torch.Tensor.masked_fill)
   dx += g where mask = 0, summed over x's broadcast positions; the mask
   gets no gradient */
static int masked_fill_forward(tg_record *r)
{
    tg_bcast bc;
    tg_bcast_init(&bc, r->in[0], r->in[1], r->out);
    fill_ctx k = {.x = r->in[0]->data, .mask = r->in[1]->data, .y = r->out->data,
                  .value = ((const fill_attr *)r->attr)->value};
    tg_bcast_each(&bc, fill_run, &k);
    return TG_OK;
}

static void masked_fill_backward(tg_record *r)
{
    tg_tensor *x = r->in[0], *out = r->out;
    if (!x->grad) return; /* the rule runs for a mask that requires a gradient too */
    tg_bcast bc;
    tg_bcast_init(&bc, x, r->in[1], out);
    fill_ctx k = {.mask = r->in[1]->data, .g = out->grad, .dx = x->grad};
    if (x->size == out->size) {
        tg_bcast_each(&bc, unfill_run, &k);
        return;
    }
    /* broadcast x: the selected gradient in full, then summed down (in
       double); without room for it, the rule fails (tg_record_scratch) */
    tg_real *sel = tg_record_scratch(r, (size_t)out->size * sizeof(tg_real));
    if (!sel) return;
    k.x = out->grad;
    k.y = sel;
    k.value = 0;
    tg_bcast_init(&bc, out, r->in[1], out);
    tg_bcast_each(&bc, fill_run, &k);
    tg_reduce_broadcast_add(r, x->grad, x, sel, out);
}

static int masked_fill_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    const tg_tensor *x = r->in[0];
    dx[0] = tg_sum_to(t, tg_where(t, r->in[1], tg_scalar(t, 0), g), x->ndim, x->shape);
    return TG_OK;
}

static const tg_op op_masked_fill = {.name = "masked_fill", .n_inputs = 2,
                                     .attr_size = sizeof(fill_attr), .shape = tg_shape_bcast,
                                     .forward = masked_fill_forward,
                                     .backward = masked_fill_backward, .vjp = masked_fill_vjp,
                                     .doc = "value where mask != 0, else x (broadcasting)"};

tg_tensor *tg_masked_fill(tg_tape *t, tg_tensor *x, tg_tensor *mask, tg_real value)
{
    if (!x || !mask) return tg_null_input(t, "masked_fill");
    fill_attr a = {value};
    tg_tensor *in[2] = {x, mask};
    return tg_apply(t, &op_masked_fill, in, 2, &a);
}

/* ---------------------------------------------------------- take_along_dim */

/* torch.take_along_dim: gather after broadcasting x and the index array
   against each other on every axis but `axis` (x keeps its length there,
   the index its own). It records an expand of x where x is broadcast, and
   a gather; the index array is copied when it is broadcast. */
tg_tensor *tg_take_along_dim(tg_tape *t, tg_tensor *x, const tg_index *index, int axis)
{
    if (!x) return tg_null_input(t, "take_along_dim");
    if (!index) return null_index(t, "take_along_dim");
    if (!t) return tg_no_tape(__func__);
    char msg[TG_MSG_LEN], bx[128], bi[128];
    if (!tg_index_usable(t, index)) {
        check_index(t, index, 0, 0, msg, sizeof msg);
        tg_tape_set_error(t, "tg_take_along_dim: %s", msg);
        return NULL;
    }
    if (axis == TG_ALL) { /* over the flattened x and index */
        int64_t nx = x->size, ni = index->size;
        tg_index *flat = tg_index_wrap(t, 1, &ni, index->data);
        tg_tensor *fx = tg_reshape(t, x, 1, &nx);
        if (!flat || !fx) return NULL;
        if (check_index(t, flat, 0, nx, msg, sizeof msg) != TG_OK) {
            tg_tape_set_error(t, "tg_take_along_dim: %s", msg);
            return NULL;
        }
        return tg_gather(t, fx, 0, flat);
    }
    tg_shape_str(x, bx, sizeof bx);
    tg_dims_str(index->ndim, index->shape, bi, sizeof bi);
    int ax;
    if (!index_axis(t, "take_along_dim", x, axis, &ax)) return NULL;
    if (index->ndim != x->ndim) {
        tg_tape_set_error(t, "tg_take_along_dim: x %s and the index array %s must have as many "
                             "dimensions",
                          bx, bi);
        return NULL;
    }
    /* the shapes each is broadcast to */
    int64_t xshape[TG_MAX_DIMS], ishape[TG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        int64_t a = x->shape[d], b = index->shape[d];
        if (d == ax) {
            xshape[d] = a, ishape[d] = b;
            continue;
        }
        if (a != b && a != 1 && b != 1) {
            tg_tape_set_error(t, "tg_take_along_dim: x %s and the index array %s do not "
                                 "broadcast along axis %d",
                              bx, bi, d);
            return NULL;
        }
        xshape[d] = ishape[d] = a == 1 ? b : a;
    }
    if (check_index(t, index, ax, x->ndim ? x->shape[ax] : 1, msg, sizeof msg) != TG_OK) {
        tg_tape_set_error(t, "tg_take_along_dim: %s", msg);
        return NULL;
    }
    const tg_index *idx = index;
    if (!dims_equal(x->ndim, ishape, index->ndim, index->shape)) {
        int64_t n;
        if (!tg_shape_numel(x->ndim, ishape, &n)) {
            tg_tape_set_error(t, "tg_take_along_dim: the broadcast index array is too large");
            return NULL;
        }
        int64_t *data =
            tg_tape_alloc_named(t, "tg_take_along_dim", (size_t)(n ? n : 1) * sizeof(int64_t));
        if (!data) return NULL;
        /* element k of the broadcast array reads the index at k's coordinates,
           0 along the index's axes of length 1 */
        int64_t is[TG_MAX_DIMS], c[TG_MAX_DIMS] = {0}, off = 0;
        strides_of(index->ndim, index->shape, is);
        for (int d = 0; d < x->ndim; d++)
            if (index->shape[d] == 1) is[d] = 0;
        for (int64_t k = 0; k < n; k++) {
            data[k] = index->data[off];
            for (int d = x->ndim - 1; d >= 0; d--) {
                off += is[d];
                if (++c[d] < ishape[d]) break;
                off -= is[d] * ishape[d];
                c[d] = 0;
            }
        }
        idx = tg_index_wrap(t, x->ndim, ishape, data);
        if (!idx) return NULL;
    }
    return tg_gather(t, tg_expand(t, x, x->ndim, xshape), ax, idx);
}

static const tg_op *const index_ops[] = {
    &op_slice,     &op_select,      &op_narrow,      &op_slice_backward, &op_index_select,
    &op_index_add, &op_gather,      &op_scatter_add, &op_scatter,        &op_masked_fill,
};
const tg_op_table tg_index_ops = {index_ops, sizeof index_ops / sizeof *index_ops};

/* ------------------------------------------------ shared with embedding.c */

/* The index check and the accurate row sums of index_select's gradient,
   for the embedding ops (src/ops/embedding.c), which index the rows of a
   weight table [n, inner]. */
int tg_index_check(const tg_tape *t, const tg_index *idx, int axis, int64_t n, char *msg,
                   size_t len)
{
    return check_index(t, idx, axis, n, msg, len);
}

void tg_index_add_rows(tg_record *r, tg_real *dst, const tg_real *src, int64_t n, int64_t inner,
                       const int64_t *index, int64_t k)
{
    add_rows(r, dst, src, (axis_view){1, n, inner}, index, k);
}

/* The compact form of a slice (narrow, slice: tg_small_compile): the
   walks of slice_forward and slice_backward over the view the record kept */
static void slice_sfwd(const tg_small *s) { strided_walk(s->attr, s->x[0], s->y, GET); }
static void slice_sbwd(const tg_small *s)
{
    strided_walk(s->attr, tg_small_gx(s)[0], s->gy, PUT_ADD);
}

/* one element (select of a vector), at m: strided_walk's first case */
static void slice1_sfwd(const tg_small *s) { s->y[0] = s->x[0][s->m]; }
static void slice1_sbwd(const tg_small *s) { tg_small_gx(s)[0][s->m] += s->gy[0]; }

/* a select of more than one value: select_walk over the view it kept */
static void select_sfwd(const tg_small *s)
{
    const select_view *v = s->attr;
    select_walk(v->v, v->index, s->x[0], s->y, GET);
}
static void select_sbwd(const tg_small *s)
{
    const select_view *v = s->attr;
    select_walk(v->v, v->index, tg_small_gx(s)[0], s->gy, PUT_ADD);
}

bool tg_index_small(const tg_record *r, tg_small *s)
{
    if (r->op == &op_select) {
        const select_attr *a = r->attr;
        if (r->out->size == 1) { /* x[index·inner], inner = 1 here (outer·inner = 1) */
            if (a->index > INT32_MAX) return false;
            s->fwd = slice1_sfwd, s->bwd = slice1_sbwd, s->m = (int32_t)a->index;
            return true;
        }
        if (!r->saved) return false;
        s->fwd = select_sfwd, s->bwd = select_sbwd, s->attr = r->saved;
        return true;
    }
    if ((r->op != &op_slice && r->op != &op_narrow) || !r->saved) return false;
    const strided *v = r->saved;
    if (v->n == 1 && v->base <= INT32_MAX) {
        s->fwd = slice1_sfwd, s->bwd = slice1_sbwd, s->m = (int32_t)v->base;
        return true;
    }
    s->fwd = slice_sfwd, s->bwd = slice_sbwd, s->attr = v;
    return true;
}
