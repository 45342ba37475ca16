/* The tape: an arena for every tensor and saved buffer of a step, and an
   append-only array of records in the order the forward pass ran them, which
   is a topological order, so backward is one reverse walk.

     forward:  tg_apply -> shape check -> output in the arena -> op->forward
               -> append {op, inputs, output, attr, saved}
     backward: seed d(out), walk records N..0, op->backward adds into inputs
     reset:    rewind the arena and the record count; keep the memory */
#include "core/internal.h"

#include <stdlib.h>

struct tg_tape {
    tg_arena arena;
    tg_record *recs;  /* [cap] */
    size_t n_recs, cap_recs;
    size_t n_tensors;
    size_t heap_allocs;
    bool recording;
    bool anomaly;
    bool failed;
    char error[TG_MSG_LEN];
};

/* ------------------------------------------------------------------ arena */

#define TG_CHUNK_MIN ((size_t)1 << 20) /* 1 MiB */

static size_t round_up(size_t n) { return (n + TG_ALIGN - 1) & ~(size_t)(TG_ALIGN - 1); }

static tg_chunk *chunk_new(tg_arena *a, size_t cap)
{
    tg_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->mem = aligned_alloc(TG_ALIGN, cap);
    if (!c->mem) {
        free(c);
        return NULL;
    }
    if (a->heap_allocs) *a->heap_allocs += 2;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    a->n_chunks++;
    a->reserved += cap;
    return c;
}

/* Bump within the current chunk; move to the next kept chunk that fits, or
   append a new one at least twice the previous size. */
void *tg_arena_alloc(tg_arena *a, size_t bytes)
{
    size_t need = round_up(bytes ? bytes : 1);
    if (need < bytes) return NULL; /* overflow */
    tg_chunk *c = a->cur;
    while (c && c->used + need > c->cap) {
        if (!c->next) break;
        c = c->next;
        c->used = 0;
        a->cur = c;
    }
    if (!c || c->used + need > c->cap) {
        size_t cap = a->cur ? a->cur->cap * 2 : TG_CHUNK_MIN;
        if (cap < need) cap = round_up(need);
        tg_chunk *n = chunk_new(a, cap);
        if (!n) return NULL;
        if (a->cur) {
            /* keep any later chunks (too small for this request) after it */
            n->next = a->cur->next;
            a->cur->next = n;
        } else {
            a->first = n;
        }
        a->cur = c = n;
    }
    void *p = c->mem + c->used;
    c->used += need;
    return p;
}

void tg_arena_rewind(tg_arena *a)
{
    for (tg_chunk *c = a->first; c; c = c->next) c->used = 0;
    a->cur = a->first;
}

void tg_arena_release(tg_arena *a)
{
    tg_chunk *c = a->first;
    while (c) {
        tg_chunk *next = c->next;
        free(c->mem);
        free(c);
        c = next;
    }
    a->first = a->cur = NULL;
    a->n_chunks = a->reserved = 0;
}

size_t tg_arena_used(const tg_arena *a)
{
    size_t used = 0;
    for (tg_chunk *c = a->first; c; c = c->next) {
        used += c->used;
        if (c == a->cur) break;
    }
    return used;
}

/* ------------------------------------------------------------------- tape */

tg_tape *tg_tape_new(void)
{
    tg_tape *t = calloc(1, sizeof *t);
    if (!t) {
        tg_set_error(TG_ERR_NOMEM, "tg_tape_new: out of memory");
        return NULL;
    }
    t->heap_allocs = 1;
    t->arena.heap_allocs = &t->heap_allocs;
    t->recording = true;
    return t;
}

void tg_tape_free(tg_tape *t)
{
    if (!t) return;
    tg_arena_release(&t->arena);
    free(t->recs);
    free(t);
}

void tg_tape_reset(tg_tape *t)
{
    if (!t) return;
    tg_arena_rewind(&t->arena);
    t->n_recs = 0;
    t->n_tensors = 0;
    t->failed = false;
    t->error[0] = '\0';
}

bool tg_tape_set_recording(tg_tape *t, bool on)
{
    if (!t) return false;
    bool was = t->recording;
    t->recording = on;
    return was;
}

bool tg_tape_is_recording(const tg_tape *t) { return t && t->recording; }

bool tg_tape_set_anomaly(tg_tape *t, bool on)
{
    if (!t) return false;
    bool was = t->anomaly;
    t->anomaly = on;
    return was;
}

const char *tg_tape_error(const tg_tape *t)
{
    if (!t) return "tg_tape_error: the tape is NULL";
    return t->error;
}

bool tg_tape_failed(const tg_tape *t) { return !t || t->failed; }

void tg_tape_clear_error(tg_tape *t)
{
    if (!t) return;
    t->failed = false;
    t->error[0] = '\0';
}

void tg_tape_set_error(tg_tape *t, const char *fmt, ...)
{
    if (!t || t->failed) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->error, sizeof t->error, fmt, ap);
    va_end(ap);
    t->failed = true;
}

tg_tensor *tg_null_input(tg_tape *t, const char *op)
{
    if (t && !t->failed) tg_tape_set_error(t, "tg_%s: input is NULL", op);
    return NULL;
}

tg_tape_stats tg_tape_get_stats(const tg_tape *t)
{
    tg_tape_stats s = {0};
    if (!t) return s;
    s.records = t->n_recs;
    s.tensors = t->n_tensors;
    s.arena_used = tg_arena_used(&t->arena);
    s.arena_reserved = t->arena.reserved;
    s.arena_chunks = t->arena.n_chunks;
    s.heap_allocs = t->heap_allocs;
    return s;
}

void *tg_tape_try_alloc(tg_tape *t, size_t bytes)
{
    return t ? tg_arena_alloc(&t->arena, bytes) : NULL;
}

void *tg_tape_alloc(tg_tape *t, size_t bytes)
{
    void *p = tg_tape_try_alloc(t, bytes);
    if (!p && t)
        tg_tape_set_error(t, "tapegrad: out of memory allocating %zu bytes on the tape", bytes);
    return p;
}

/* Exposed for the introspection tools. */
size_t tg_tape_record_count(const tg_tape *t) { return t ? t->n_recs : 0; }
const tg_record *tg_tape_record(const tg_tape *t, size_t i)
{
    return (t && i < t->n_recs) ? &t->recs[i] : NULL;
}

/* ---------------------------------------------------------------- tensors */

tg_tensor *tg_tensor_alloc(tg_tape *t, int ndim, const int64_t *shape, bool with_data)
{
    if (ndim < 0 || ndim > TG_MAX_DIMS || (ndim > 0 && !shape)) {
        tg_tape_set_error(t, "tapegrad: a tensor needs 0..%d dimensions, got %d", TG_MAX_DIMS,
                          ndim);
        return NULL;
    }
    int64_t size = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && size > INT64_MAX / 16 / shape[i])) {
            char buf[128];
            tg_tape_set_error(t, "tapegrad: invalid shape %s",
                              tg_dims_str(ndim, shape, buf, sizeof buf));
            return NULL;
        }
        size *= shape[i];
    }
    tg_tensor *x = tg_tape_alloc(t, sizeof *x);
    if (!x) return NULL;
    memset(x, 0, sizeof *x);
    x->ndim = ndim;
    for (int i = 0; i < ndim; i++) x->shape[i] = shape[i];
    x->size = size;
    x->tape = t;
    x->id = (int32_t)t->n_tensors++;
    x->rec = -1;
    if (with_data) {
        x->data = tg_tape_alloc(t, (size_t)size * sizeof(tg_real));
        if (!x->data) return NULL;
    }
    return x;
}

/* ------------------------------------------------------------------ apply */

static bool needs_grad(const tg_tensor *x) { return x && (x->flags & TG_REQUIRES_GRAD); }

/* The index of the first NaN or Inf in v[0..n), or -1. */
static int64_t first_nonfinite(const tg_real *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return i;
    return -1;
}

/* "'fc1.weight' [500,784] is nan at element 17" for anomaly messages */
static void describe_bad(char *buf, size_t len, const tg_tensor *x, const tg_real *v, int64_t at)
{
    char shape[96], name[64];
    if (x->name)
        snprintf(name, sizeof name, "'%s'", x->name);
    else
        snprintf(name, sizeof name, "t%d", (int)x->id);
    snprintf(buf, len, "%s %s is %s at element %lld", name, tg_shape_str(x, shape, sizeof shape),
             isnan(v[at]) ? "nan" : v[at] > 0 ? "inf" : "-inf", (long long)at);
}

static tg_record *push_record(tg_tape *t)
{
    if (t->n_recs == t->cap_recs) {
        size_t cap = t->cap_recs ? t->cap_recs * 2 : 256;
        tg_record *r = realloc(t->recs, cap * sizeof *r);
        if (!r) return NULL;
        t->heap_allocs++;
        t->recs = r;
        t->cap_recs = cap;
    }
    return &t->recs[t->n_recs++];
}

tg_tensor *tg_apply(tg_tape *t, const tg_op *op, tg_tensor *const *in, int n, const void *attr)
{
    if (!t) return NULL;
    if (!op || !op->name || !op->shape || !op->forward) {
        tg_tape_set_error(t, "tg_apply: the op is NULL or incomplete");
        return NULL;
    }
    if (n < 0 || n > TG_MAX_INPUTS || n != op->n_inputs) {
        tg_tape_set_error(t, "tg_%s: expected %d inputs, got %d", op->name, op->n_inputs, n);
        return NULL;
    }
    /* the reserved bits change what backward does (TG_OP_WRITES_FRESH):
       only the library's own ops may set them (the check costs nothing for
       an op without them) */
    if ((op->flags & ~TG_OP_USER_FLAGS) && !tg_op_is_builtin(op)) {
        tg_tape_set_error(t,
                          "tg_%s: the op sets flag bits 0x%x, which are reserved for the "
                          "library's built-in ops (bits 16 and up)",
                          op->name, op->flags & ~TG_OP_USER_FLAGS);
        return NULL;
    }
    if (n > 0 && !in) {
        tg_tape_set_error(t, "tg_%s: the input array is NULL", op->name);
        return NULL;
    }
    /* An op with attributes reads them in its shape check, forward and
       backward: a built-in found through the registry, run with NULL, must
       not dereference NULL. */
    if (op->attr_size && !attr) {
        tg_tape_set_error(t, "tg_%s: this op takes attributes (%zu bytes) and attr is NULL",
                          op->name, op->attr_size);
        return NULL;
    }
    /* A NULL first input means an earlier op failed: pass the failure on.
       (Later inputs may be optional; each op's shape check decides.) */
    if (n > 0 && !in[0]) {
        if (!t->failed) tg_tape_set_error(t, "tg_%s: input 0 is NULL", op->name);
        return NULL;
    }
    tg_record rec = {.op = op, .n_in = n, .tape = t, .index = -1};
    bool grad = false;
    for (int i = 0; i < n; i++) {
        rec.in[i] = in[i];
        if (in[i] && in[i]->tape && in[i]->tape != t) {
            tg_tape_set_error(t, "tg_%s: input %d belongs to another tape", op->name, i);
            return NULL;
        }
        grad |= needs_grad(in[i]);
    }
    bool record = grad && t->recording && op->backward;
    if (attr && op->attr_size) {
        void *a = tg_tape_alloc(t, op->attr_size);
        if (!a) return NULL;
        memcpy(a, attr, op->attr_size);
        rec.attr = a;
    }

    int ndim = 0;
    int64_t shape[TG_MAX_DIMS] = {0};
    char msg[TG_MSG_LEN] = "";
    int st = op->shape(&rec, &ndim, shape, msg, sizeof msg);
    if (st != TG_OK) {
        tg_tape_set_error(t, "tg_%s: %s", op->name, msg[0] ? msg : tg_status_str(st));
        return NULL;
    }
    bool alias = (op->flags & TG_OP_ALIAS) != 0;
    tg_tensor *out = tg_tensor_alloc(t, ndim, shape, !alias);
    if (!out) return NULL;
    if (alias) out->data = in[0]->data;
    rec.out = out;

    st = op->forward(&rec);
    if (st != TG_OK) {
        tg_tape_set_error(t, "tg_%s: forward failed: %s", op->name, tg_status_str(st));
        return NULL;
    }
    int64_t bad = t->anomaly ? first_nonfinite(out->data, out->size) : -1;
    if (bad >= 0) {
        char what[256];
        describe_bad(what, sizeof what, out, out->data, bad);
        if (record)
            tg_tape_set_error(t, "anomaly: record %zu (tg_%s) produced NaN or Inf in its output: %s",
                              t->n_recs, op->name, what);
        else
            tg_tape_set_error(t, "anomaly: tg_%s (not recorded: no input needs a gradient) "
                                 "produced NaN or Inf in its output: %s", op->name, what);
        return NULL;
    }
    if (record) {
        tg_record *r = push_record(t);
        if (!r) {
            tg_tape_set_error(t, "tg_%s: out of memory growing the tape", op->name);
            return NULL;
        }
        rec.index = (int32_t)(t->n_recs - 1);
        *r = rec;
        out->rec = rec.index;
        out->flags |= TG_REQUIRES_GRAD;
    }
    return out;
}

void *tg_record_save(tg_record *r, size_t bytes)
{
    if (!r || !r->tape) return NULL;
    r->saved = tg_tape_alloc(r->tape, bytes);
    return r->saved;
}

/* --------------------------------------------------------------- backward */

/* Gives x a gradient to receive into, if it has none: a released
   parameter's comes back from its registry, a tensor of the tape gets new
   memory. Either holds stale bytes, so it is marked fresh: the first rule
   writes it, or the engine zeroes it before a rule that only adds
   (settle_grad). */
static bool ensure_grad(tg_tape *t, tg_tensor *x)
{
    if (x->grad) return true;
    if ((x->flags & TG_PARAM) && !x->tape) x->grad = tg_param_grad_home(x);
    else x->grad = tg_tape_alloc(t, (size_t)x->size * sizeof(tg_real));
    if (!x->grad) return false;
    x->flags |= TG_GRAD_FRESH;
    return true;
}

/* A fresh gradient becomes zeros, ready to be added to. */
static void settle_grad(tg_tensor *x)
{
    if (!tg_grad_fresh(x)) return;
    memset(x->grad, 0, (size_t)x->size * sizeof(tg_real));
    x->flags &= ~TG_GRAD_FRESH;
}

/* A rule may write a fresh gradient only if it is flagged so, and only if
   no tensor is two of its inputs (two writes would keep only the last). */
static bool may_write_fresh(const tg_record *r)
{
    if (!(r->op->flags & TG_OP_WRITES_FRESH)) return false;
    for (int a = 0; a < r->n_in; a++)
        for (int b = a + 1; b < r->n_in; b++)
            if (r->in[a] && r->in[a] == r->in[b]) return false;
    return true;
}

/* Anomaly mode, before a backward pass: the seed must be finite, and so must
   the gradients that leaves and parameters carry in from earlier calls (a
   NaN left there by a step that was not zeroed is named as such, not blamed
   on the first record that touches it). */
static int check_before_backward(tg_tape *t, const tg_tensor *out, const tg_real *dout)
{
    char what[256];
    int64_t at = first_nonfinite(dout, out->size);
    if (at >= 0) {
        describe_bad(what, sizeof what, out, dout, at);
        tg_tape_set_error(t, "anomaly: the output gradient given to tg_backward has NaN or Inf: "
                             "for %s", what);
        return TG_ERR_NUMERIC;
    }
    for (size_t i = 0; i < t->n_recs; i++)
        for (int k = 0; k < t->recs[i].n_in; k++) {
            const tg_tensor *x = t->recs[i].in[k];
            if (!needs_grad(x) || x->rec >= 0 || !x->grad) continue;
            at = first_nonfinite(x->grad, x->size);
            if (at >= 0) {
                describe_bad(what, sizeof what, x, x->grad, at);
                tg_tape_set_error(t, "anomaly: before backward, the accumulated gradient of %s "
                                     "(left from an earlier backward: zero it first)", what);
                return TG_ERR_NUMERIC;
            }
        }
    return TG_OK;
}

int tg_backward_grad(tg_tape *t, tg_tensor *out, const tg_real *dout)
{
    if (!t) return tg_set_error(TG_ERR_INVALID, "tg_backward: the tape is NULL");
    if (!out) {
        if (!t->failed) tg_tape_set_error(t, "tg_backward: the output is NULL");
        return TG_ERR_INVALID;
    }
    if (!dout) {
        tg_tape_set_error(t, "tg_backward: the output gradient is NULL");
        return TG_ERR_INVALID;
    }
    if (out->tape && out->tape != t) {
        tg_tape_set_error(t, "tg_backward: the output belongs to another tape");
        return TG_ERR_INVALID;
    }
    if (!(out->flags & TG_REQUIRES_GRAD)) {
        tg_tape_set_error(t, "tg_backward: the output does not require grad "
                             "(no input required grad, or recording was off)");
        return TG_ERR_STATE;
    }
    /* Intermediate gradients start from zero on every call; leaves and
       parameters keep accumulating (PyTorch with retain_graph=True). */
    for (size_t i = 0; i < t->n_recs; i++) {
        tg_tensor *o = t->recs[i].out;
        if (o->grad) memset(o->grad, 0, (size_t)o->size * sizeof(tg_real));
    }
    if (t->anomaly) {
        int st = check_before_backward(t, out, dout);
        if (st != TG_OK) return st;
    }
    if (!ensure_grad(t, out)) return TG_ERR_NOMEM;
    settle_grad(out);
    for (int64_t i = 0; i < out->size; i++) out->grad[i] += dout[i];

    int32_t last = out->rec >= 0 ? out->rec : -1;
    for (int32_t i = last; i >= 0; i--) {
        tg_record *r = &t->recs[i];
        if (!r->out->grad) continue; /* not reached from `out` */
        bool any = false, oom = false;
        for (int k = 0; k < r->n_in; k++) {
            tg_tensor *x = r->in[k];
            if (!needs_grad(x)) continue;
            if (!ensure_grad(t, x)) oom = true;
            any = true;
        }
        /* zeros for a rule that adds (and on failure, so that no gradient
           is left holding stale bytes) */
        bool write = !oom && may_write_fresh(r);
        for (int k = 0; k < r->n_in && !write; k++)
            if (needs_grad(r->in[k])) settle_grad(r->in[k]);
        if (oom) return TG_ERR_NOMEM;
        if (!any) continue;
        /* Inputs that need no gradient must look gradient-free to the rule. */
        tg_real *hidden[TG_MAX_INPUTS] = {0};
        for (int k = 0; k < r->n_in; k++) {
            tg_tensor *x = r->in[k];
            if (x && !needs_grad(x) && x->grad) {
                hidden[k] = x->grad;
                x->grad = NULL;
            }
        }
        r->op->backward(r);
        for (int k = 0; k < r->n_in; k++) {
            if (hidden[k]) r->in[k]->grad = hidden[k];
            if (r->in[k]) r->in[k]->flags &= ~TG_GRAD_FRESH;
        }
        /* Every gradient was finite before this rule ran (the seed and the
           leaves' accumulated gradients were checked first), so the first
           non-finite one is this record's doing. */
        if (t->anomaly) {
            for (int k = 0; k < r->n_in; k++) {
                tg_tensor *x = r->in[k];
                int64_t at = needs_grad(x) ? first_nonfinite(x->grad, x->size) : -1;
                if (at >= 0) {
                    char what[256];
                    describe_bad(what, sizeof what, x, x->grad, at);
                    tg_tape_set_error(t,
                                      "anomaly: record %d (tg_%s) produced NaN or Inf in the "
                                      "gradient of input %d: the gradient of %s",
                                      (int)i, r->op->name, k, what);
                    return TG_ERR_NUMERIC;
                }
            }
        }
    }
    return TG_OK;
}

int tg_backward(tg_tape *t, tg_tensor *loss)
{
    if (t && loss && loss->size != 1) {
        char buf[128];
        tg_tape_set_error(t,
                          "tg_backward: the loss must have one element, got shape %s "
                          "(use tg_backward_grad for a non-scalar output)",
                          tg_shape_str(loss, buf, sizeof buf));
        return TG_ERR_SHAPE;
    }
    const tg_real one = 1;
    return tg_backward_grad(t, loss, &one);
}
