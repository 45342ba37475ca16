/* Making tensors on a tape, their metadata, and printing them. */
#include "core/tape_internal.h"

#include <inttypes.h>

int64_t tg_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

char *tg_dims_str(int ndim, const int64_t *shape, char *buf, size_t len)
{
    if (!buf || len == 0) return buf;
    size_t k = 0;
    buf[0] = '\0';
    k += (size_t)snprintf(buf + k, len - k, "[");
    for (int i = 0; i < ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, i ? ",%" PRId64 : "%" PRId64, shape[i]);
    if (k < len) snprintf(buf + k, len - k, "]");
    return buf;
}

char *tg_shape_str(const tg_tensor *x, char *buf, size_t len)
{
    if (!x) {
        if (buf && len) snprintf(buf, len, "(null)");
        return buf;
    }
    return tg_dims_str(x->ndim, x->shape, buf, len);
}

bool tg_same_shape(const tg_tensor *a, const tg_tensor *b)
{
    if (!a || !b || a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

bool tg_axis(int axis, int ndim, int *out)
{
    if (axis < 0) axis += ndim;
    if (axis < 0 || axis >= ndim) return false;
    *out = axis;
    return true;
}

tg_tensor *tg_tensor_new(tg_tape *t, int ndim, const int64_t *shape, const tg_real *data)
{
    if (!t) return tg_no_tape(__func__);
    if (!data) { /* the shape's own fault first, if it has one */
        if (tg_tensor_alloc(t, "tg_tensor_new", ndim, shape, false))
            tg_tape_set_error(t, "tg_tensor_new: data is NULL (use tg_zeros for an empty "
                                 "tensor)");
        return NULL;
    }
    tg_tensor *x = tg_tensor_alloc(t, "tg_tensor_new", ndim, shape, true);
    if (x) memcpy(x->data, data, (size_t)x->size * sizeof(tg_real));
    return x;
}

tg_tensor *tg_tensor_wrap(tg_tape *t, int ndim, const int64_t *shape, const tg_real *data)
{
    if (!t) return tg_no_tape(__func__);
    if (!data) { /* the shape's own fault first, if it has one */
        if (tg_tensor_alloc(t, "tg_tensor_wrap", ndim, shape, false))
            tg_tape_set_error(t, "tg_tensor_wrap: data is NULL");
        return NULL;
    }
    tg_tensor *x = tg_tensor_alloc(t, "tg_tensor_wrap", ndim, shape, false);
    /* no op writes to a leaf's data (tg_tensor::data), so the const is kept */
    if (x) x->data = (tg_real *)(uintptr_t)data;
    return x;
}

/* A new tensor of `value`s; `who` names the caller in messages. */
static tg_tensor *filled(tg_tape *t, const char *who, int ndim, const int64_t *shape,
                         tg_real value)
{
    if (!t) return tg_no_tape(who);
    tg_tensor *x = tg_tensor_alloc(t, who, ndim, shape, true);
    if (x)
        for (int64_t i = 0; i < x->size; i++) x->data[i] = value;
    return x;
}

tg_tensor *tg_full(tg_tape *t, int ndim, const int64_t *shape, tg_real value)
{
    return filled(t, "tg_full", ndim, shape, value);
}
tg_tensor *tg_zeros(tg_tape *t, int ndim, const int64_t *shape)
{
    return filled(t, "tg_zeros", ndim, shape, 0);
}
tg_tensor *tg_ones(tg_tape *t, int ndim, const int64_t *shape)
{
    return filled(t, "tg_ones", ndim, shape, 1);
}
tg_tensor *tg_scalar(tg_tape *t, tg_real value) { return filled(t, "tg_scalar", 0, NULL, value); }

tg_tensor *tg_requires_grad(tg_tensor *x, bool on)
{
    if (!x) return NULL;
    if (x->flags & TG_BUFFER) return x; /* a buffer never requires grad */
    if (x->flags & TG_PARAM) { /* frozen (off) or not: a frozen one's gradient is released */
        if (on) x->flags |= TG_REQUIRES_GRAD;
        else x->flags &= ~(unsigned)TG_REQUIRES_GRAD, x->grad = NULL;
        return x;
    }
    if (x->rec >= 0) {
        /* an op result already carries its requirement from its inputs */
        if (x->tape)
            tg_tape_set_error(x->tape, "tg_requires_grad: only leaves can be marked, "
                                       "this tensor is the result of an op");
        return x;
    }
    if (on)
        x->flags |= TG_REQUIRES_GRAD;
    else
        x->flags &= ~(unsigned)TG_REQUIRES_GRAD;
    return x;
}

tg_tensor *tg_detach(tg_tape *t, tg_tensor *x)
{
    if (!x) return tg_null_input(t, "detach");
    if (!t) return tg_no_tape(__func__);
    if (!tg_tensor_usable(t, x)) {
        tg_tape_set_error(t, "tg_detach: the tensor %s", tg_unusable_why(t, x));
        return NULL;
    }
    tg_tensor *y = tg_tensor_alloc(t, "tg_detach", x->ndim, x->shape, false);
    if (!y) return NULL;
    y->data = x->data;
    y->flags = TG_CONST;
    if (!tg_tape_note_detached(t, y, x)) { /* a replay must find x's data again */
        tg_tape_set_error(t, "tg_detach: out of memory");
        return NULL;
    }
    return y;
}

tg_tensor *tg_tensor_set_name(tg_tensor *x, const char *name)
{
    if (!x || !name) return x;
    if (x->flags & TG_PARAM) return x; /* the registry owns parameter names */
    size_t n = strlen(name) + 1;
    char *s = x->tape ? tg_tape_alloc_named(x->tape, "tg_tensor_set_name", n) : NULL;
    if (s) {
        memcpy(s, name, n);
        x->name = s;
    }
    return x;
}

void tg_zero_grad(tg_tensor *x)
{
    if (x && x->grad) memset(x->grad, 0, (size_t)x->size * sizeof(tg_real));
}

/* ---------------------------------------------------------------- printing */

#define TG_PRINT_EDGE 3    /* elements shown at each end of a long axis */
#define TG_PRINT_LIMIT 1000 /* tensors up to this size are printed whole */

static void print_axis(const tg_tensor *x, FILE *f, int axis, int64_t off, bool abbrev)
{
    int64_t n = x->shape[axis];
    int64_t stride = 1;
    for (int i = axis + 1; i < x->ndim; i++) stride *= x->shape[i];
    fputc('[', f);
    for (int64_t i = 0; i < n; i++) {
        if (abbrev && n > 2 * TG_PRINT_EDGE && i == TG_PRINT_EDGE) {
            fputs(axis == x->ndim - 1 ? "..., " : "...,\n", f);
            if (axis < x->ndim - 1)
                for (int k = 0; k <= axis; k++) fputc(' ', f);
            i = n - TG_PRINT_EDGE;
        }
        if (axis == x->ndim - 1)
            fprintf(f, "%.6g", (double)x->data[off + i]);
        else
            print_axis(x, f, axis + 1, off + i * stride, abbrev);
        if (i < n - 1) {
            if (axis == x->ndim - 1) {
                fputs(", ", f);
            } else {
                fputs(",\n", f);
                for (int k = 0; k <= axis; k++) fputc(' ', f);
            }
        }
    }
    fputc(']', f);
}

void tg_tensor_print(const tg_tensor *x, FILE *f)
{
    if (!f) return;
    if (!x) {
        fputs("(null tensor)\n", f);
        return;
    }
    char buf[128];
    fprintf(f, "%s%sshape %s%s\n", x->name ? x->name : "", x->name ? ": " : "",
            tg_shape_str(x, buf, sizeof buf),
            (x->flags & TG_REQUIRES_GRAD) ? ", requires grad" : "");
    if (x->ndim == 0)
        fprintf(f, "%.6g", (double)x->data[0]);
    else if (x->size == 0)
        fputs("[]", f);
    else
        print_axis(x, f, 0, 0, x->size > TG_PRINT_LIMIT);
    fputc('\n', f);
}

/* ----------------------------------------------------------------- indices */

static tg_index *index_alloc(tg_tape *t, const char *who, int ndim, const int64_t *shape,
                             const int64_t *data)
{
    if (!t) return tg_no_tape(who);
    if (!data) {
        tg_tape_set_error(t, "%s: data is NULL", who);
        return NULL;
    }
    /* the shape is checked as a tensor's would be */
    if (ndim < 0 || ndim > TG_MAX_DIMS || (ndim > 0 && !shape)) {
        tg_tape_set_error(t, "%s: an index array has 0..%d dimensions and a shape, got %d%s", who,
                          TG_MAX_DIMS, ndim, ndim > 0 && !shape ? " and no shape" : "");
        return NULL;
    }
    int64_t size;
    if (!tg_shape_numel(ndim, shape, &size)) {
        char buf[160];
        tg_tape_set_error(t, "%s: invalid shape %s", who, tg_dims_str(ndim, shape, buf, sizeof buf));
        return NULL;
    }
    tg_index *x = tg_tape_alloc_named(t, who, sizeof *x);
    if (!x) return NULL;
    memset(x, 0, sizeof *x);
    x->ndim = ndim;
    for (int i = 0; i < ndim; i++) x->shape[i] = shape[i];
    x->size = size;
    x->tape = t;
    x->gen = tg_tape_generation(t);
    x->data = data;
    return x;
}

tg_index *tg_index_new(tg_tape *t, int ndim, const int64_t *shape, const int64_t *data)
{
    tg_index *x = index_alloc(t, "tg_index_new", ndim, shape, data);
    if (!x) return NULL;
    int64_t *copy = tg_tape_alloc_named(t, "tg_index_new",
                                        (size_t)(x->size ? x->size : 1) * sizeof *copy);
    if (!copy) return NULL;
    if (x->size) memcpy(copy, data, (size_t)x->size * sizeof *copy);
    x->data = copy;
    return x;
}

tg_index *tg_index_wrap(tg_tape *t, int ndim, const int64_t *shape, const int64_t *data)
{
    return index_alloc(t, "tg_index_wrap", ndim, shape, data);
}

bool tg_index_usable(const tg_tape *t, const tg_index *x)
{
    return x && x->tape == t && x->gen == tg_tape_generation(t);
}
