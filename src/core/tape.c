/* The tape, recording half: the append-only array of records in the order
   the forward pass ran them (a topological order, so backward is one
   reverse walk: src/core/backward.c), the tensors made on it, and tg_apply,
   through which every op runs.

     tg_apply: check inputs -> shape -> output in the arena -> op->forward
               -> append {op, inputs, output, attr, saved}
     reset:    rewind the arena and the records, next generation; keep memory */
#include "core/tape_internal.h"

#include <stdlib.h>

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
    t->backward_of = -1;
    return t;
}

void tg_tape_free(tg_tape *t)
{
    if (!t) return;
    tg_arena_release(&t->arena);
    free(t->recs);
    free(t->mark);
    free(t->grad_of);
    free(t->leaf_grads);
    free(t->leaves);
    free(t->leaf_shapes);
    free(t->detached);
    tg_program_free(t);
    free(t);
}

void tg_tape_reset(tg_tape *t)
{
    if (!t) return;
    tg_arena_rewind(&t->arena);
    t->n_recs = 0;
    t->n_tensors = 0;
    t->n_leaf_grads = 0;
    t->replay_ready = false;
    t->replay_partial = false;
    t->not_replayable[0] = '\0';
    t->n_leaves = 0;
    t->n_detached = 0;
    t->grads_above_mark = false;
    t->record_grads = false;
    tg_program_forget(t);
    t->gen++;
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

bool tg_tape_anomaly(const tg_tape *t) { return t && t->anomaly; }

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
    if (!t) return tg_no_tape(op);
    if (!t->failed) tg_tape_set_error(t, "tg_%s: input is NULL", op);
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

void tg_tape_fail_alloc(tg_tape *t, int64_t n, bool *hit)
{
    if (!t) return;
    t->fail_in = n > 0 ? n : 0;
    t->fail_hit = hit;
    if (hit) *hit = false;
}

/* Whether this allocation is the one tg_tape_fail_alloc asked to fail. */
static inline bool fail_now(tg_tape *t)
{
    if (__builtin_expect(!t->fail_in, 1) || --t->fail_in) return false;
    if (t->fail_hit) *t->fail_hit = true;
    return true;
}

void *tg_tape_try_alloc(tg_tape *t, size_t bytes)
{
    return t && !fail_now(t) ? tg_arena_alloc(&t->arena, bytes) : NULL;
}

void *tg_record_scratch(tg_record *r, size_t bytes)
{
    tg_tape *t = r->tape;
    void *p = tg_tape_try_alloc(t, bytes);
    if (!p && t && !t->scratch_failed) {
        t->scratch_failed = true;
        t->scratch_op = r->op;
        snprintf(t->fail_msg, sizeof t->fail_msg,
                 "out of memory allocating %zu bytes of scratch on the tape", bytes);
    }
    return p;
}

/* An allocation that failed, named by its caller: `who`, else `op`, else
   the op being applied (its output, its attributes, a forward's scratch),
   else the library. */
static void out_of_memory(tg_tape *t, const char *who, const tg_op *op, size_t bytes)
{
    if (!op) op = t->applying;
    if (who)
        tg_tape_set_error(t, "%s: out of memory allocating %zu bytes on the tape", who, bytes);
    else if (op && op->name)
        tg_tape_set_error(t, "%s%s: out of memory allocating %zu bytes on the tape",
                          tg_op_prefix(op), op->name, bytes);
    else
        tg_tape_set_error(t, "tapegrad: out of memory allocating %zu bytes on the tape", bytes);
}

static void *no_memory(tg_tape *t, void *p, size_t bytes)
{
    if (!p && t) out_of_memory(t, NULL, NULL, bytes);
    return p;
}

void *tg_tape_alloc(tg_tape *t, size_t bytes)
{
    return no_memory(t, tg_tape_try_alloc(t, bytes), bytes);
}
void *tg_tape_alloc_named(tg_tape *t, const char *who, size_t bytes)
{
    void *p = tg_tape_try_alloc(t, bytes);
    if (!p && t) out_of_memory(t, who, NULL, bytes);
    return p;
}
void *tg_tape_alloc_for_op(tg_tape *t, const tg_op *op, size_t bytes)
{
    void *p = tg_tape_try_alloc(t, bytes);
    if (!p && t) out_of_memory(t, NULL, op, bytes);
    return p;
}

void *tg_tape_try_alloc_values(tg_tape *t, size_t bytes)
{
    if (!t || fail_now(t)) return NULL;
    /* 1..16 bytes: aligned to 16, as tg_arena_alloc_values aligns them */
    return bytes - 1 < 16 ? tg_arena_alloc16(&t->arena, bytes)
                          : tg_arena_alloc_values(&t->arena, bytes);
}
void *tg_tape_alloc_values(tg_tape *t, size_t bytes)
{
    return no_memory(t, tg_tape_try_alloc_values(t, bytes), bytes);
}
void *tg_tape_try_alloc_struct(tg_tape *t, size_t bytes)
{
    return t && !fail_now(t) ? tg_arena_alloc16(&t->arena, bytes) : NULL;
}
void *tg_tape_alloc_struct(tg_tape *t, size_t bytes)
{
    return no_memory(t, tg_tape_try_alloc_struct(t, bytes), bytes);
}

/* Exposed for the introspection tools. */
size_t tg_tape_record_count(const tg_tape *t) { return t ? t->n_recs : 0; }
const tg_record *tg_tape_record(const tg_tape *t, size_t i)
{
    return (t && i < t->n_recs) ? &t->recs[i] : NULL;
}

bool tg_tensor_usable(const tg_tape *t, const tg_tensor *x)
{
    if (!x->tape) return (x->flags & TG_PARAM) != 0;
    if (x->tape != t || x->gen != t->gen || x->id < 0 || (size_t)x->id >= t->n_tensors)
        return false;
    return x->rec < 0 || ((size_t)x->rec < t->n_recs && t->recs[x->rec].out == x);
}

uint32_t tg_tape_generation(const tg_tape *t) { return t->gen; }

const char *tg_unusable_why(const tg_tape *t, const tg_tensor *x)
{
    if (x->tape == t) return "is from before tg_tape_reset (its records are gone)";
    return "belongs to another tape, or is from before tg_tape_reset";
}

/* ---------------------------------------------------------------- tensors */

/* The element count of a shape, refused (false) when a dimension is
   negative or when the product of the nonzero dimensions, in bytes, does not
   fit in int64_t and size_t: [0, 2^62, 2^62] is refused even though it holds
   no element, as PyTorch refuses it, since its strides overflow. */
bool tg_shape_numel(int ndim, const int64_t *shape, int64_t *numel)
{
    const int64_t limit = (int64_t)((SIZE_MAX < (uint64_t)INT64_MAX ? SIZE_MAX : INT64_MAX) /
                                    sizeof(tg_real));
    int64_t nonzero = 1;
    bool empty = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return false;
        if (shape[i] == 0) {
            empty = true;
            continue;
        }
        /* a product checked for overflow without a division (tens of cycles
           for each tensor made) */
        if (__builtin_mul_overflow(nonzero, shape[i], &nonzero) || nonzero > limit) return false;
    }
    *numel = empty ? 0 : nonzero;
    return true;
}

/* A new tensor on t; `who` (or, for an op's output, "tg_<op>") names the
   caller in messages, formatted only when there is one to write. */
static tg_tensor *tensor_alloc(tg_tape *t, const char *who, const tg_op *op, int ndim,
                               const int64_t *shape, bool with_data)
{
    char name[80];
    int64_t size;
    bool bad_rank = ndim < 0 || ndim > TG_MAX_DIMS, no_shape = ndim > 0 && !shape;
    bool bad = bad_rank || no_shape || !tg_shape_numel(ndim, shape, &size);
    if (bad && op) {
        snprintf(name, sizeof name, "%s%s", tg_op_prefix(op), op->name);
        who = name;
    }
    if (bad_rank) {
        tg_tape_set_error(t, "%s: a tensor has 0..%d dimensions, got %d", who, TG_MAX_DIMS, ndim);
        return NULL;
    }
    if (no_shape) {
        tg_tape_set_error(t, "%s: the shape is NULL (with %d dimensions)", who, ndim);
        return NULL;
    }
    if (bad) {
        char buf[160];
        tg_tape_set_error(t, "%s: invalid shape %s (a negative dimension, or more elements "
                             "than memory can address)",
                          who, tg_dims_str(ndim, shape, buf, sizeof buf));
        return NULL;
    }
    /* values of 16 bytes or fewer (a scalar, a pair) go right after the
       struct, in the same block: one allocation instead of two, and the
       values on the struct's last line (16-byte aligned, as
       tg_arena_alloc_values would align them; they cannot straddle two
       lines) */
    enum { HEAD = (sizeof(tg_tensor) + 15) & ~(size_t)15 };
    bool tail = with_data && size <= (int64_t)(16 / sizeof(tg_real));
    size_t bytes = tail ? HEAD + 16 : sizeof(tg_tensor);
    tg_tensor *x = tg_tape_try_alloc_struct(t, bytes);
    if (!x) {
        out_of_memory(t, who, NULL, bytes);
        return NULL;
    }
    /* every field written, not a memset: for a struct of this size that
       compiles to `rep stos`, whose start-up was half of this function's
       time when recording a graph of scalars */
    x->ndim = ndim;
    for (int i = 0; i < TG_MAX_DIMS; i++) x->shape[i] = i < ndim ? shape[i] : 0;
    x->size = size;
    x->data = NULL;
    x->grad = NULL;
    x->flags = 0;
    x->name = NULL;
    x->tape = t;
    x->id = (int32_t)t->n_tensors++;
    x->rec = -1;
    x->gen = t->gen;
    if (tail) {
        x->data = (tg_real *)((char *)x + HEAD);
    } else if (with_data) {
        x->data = tg_tape_try_alloc_values(t, (size_t)size * sizeof(tg_real));
        if (!x->data) {
            out_of_memory(t, who, NULL, (size_t)size * sizeof(tg_real));
            return NULL;
        }
    }
    return x;
}

tg_tensor *tg_tensor_alloc(tg_tape *t, const char *who, int ndim, const int64_t *shape,
                           bool with_data)
{
    return tensor_alloc(t, who, NULL, ndim, shape, with_data);
}

/* ------------------------------------------------------------------ apply */

static void note_replay_hazards(tg_tape *t, const tg_op *op, tg_tensor *const *in, int n);
static bool note_leaves(tg_tape *t, const tg_record *r);

static bool needs_grad(const tg_tensor *x) { return x && (x->flags & TG_REQUIRES_GRAD); }

const char *tg_op_prefix(const tg_op *op) { return tg_op_is_builtin(op) ? "tg_" : ""; }

int64_t tg_first_nonfinite(const tg_real *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return i;
    return -1;
}

void tg_describe_bad(char *buf, size_t len, const tg_tensor *x, const tg_real *v, int64_t at)
{
    char shape[96], name[64];
    if (x->name)
        snprintf(name, sizeof name, "'%s'", x->name);
    else
        snprintf(name, sizeof name, "t%d", (int)x->id);
    snprintf(buf, len, "%s %s is %s at element %lld", name, tg_shape_str(x, shape, sizeof shape),
             isnan(v[at]) ? "nan" : v[at] > 0 ? "inf" : "-inf", (long long)at);
}

bool tg_tape_reserve_record(tg_tape *t)
{
    if (t->n_recs < t->cap_recs) return true;
    size_t cap = t->cap_recs ? t->cap_recs * 2 : 256;
    tg_record *r = realloc(t->recs, cap * sizeof *r);
    if (!r) return false;
    t->recs = r;
    uint8_t *m = realloc(t->mark, cap * sizeof *m);
    if (!m) return false;
    t->mark = m;
    tg_tensor **g = realloc(t->grad_of, cap * sizeof *g);
    if (!g) return false;
    t->grad_of = g;
    t->heap_allocs += 3;
    t->cap_recs = cap;
    return true;
}

/* Anomaly mode: a NaN or Inf that comes in with an input made by no
   recorded op (a leaf, a parameter, a constant) is named as such, before
   the op that reads it can be blamed for it. Outputs of records were
   checked when they were made. */
static bool check_inputs_finite(tg_tape *t, const tg_op *op, tg_tensor *const *in, int n)
{
    for (int i = 0; i < n; i++) {
        const tg_tensor *x = in[i];
        if (!x || x->rec >= 0 || !x->data) continue;
        int64_t at = tg_first_nonfinite(x->data, x->size);
        if (at < 0) continue;
        char what[256];
        tg_describe_bad(what, sizeof what, x, x->data, at);
        tg_tape_set_error(t, "anomaly: input %d of %s%s holds NaN or Inf and was made by no "
                             "recorded op (%s): %s",
                          i, tg_op_prefix(op), op->name,
                          (x->flags & TG_PARAM) ? "a parameter" : "an input or a constant", what);
        return false;
    }
    return true;
}

/* The context of an anomaly inside a gradient rule, for messages. */
static void backward_context(const tg_tape *t, char *buf, size_t len)
{
    buf[0] = '\0';
    if (t->backward_of >= 0 && (size_t)t->backward_of < t->n_recs) {
        const tg_op *op = t->recs[t->backward_of].op;
        snprintf(buf, len, " (in the gradient rule of record %d, %s%s)", (int)t->backward_of,
                 tg_op_prefix(op), op->name);
    }
}

static tg_tensor *apply(tg_tape *t, const tg_op *op, tg_tensor *const *in, int n,
                        const void *attr)
{
    if (!op || !op->name || !op->shape || !op->forward) {
        tg_tape_set_error(t, "tg_apply: the op is NULL or incomplete");
        return NULL;
    }
#define pre tg_op_prefix(op) /* only in messages: it scans the built-in tables */
    if (op->n_inputs < 1 || op->n_inputs > TG_MAX_INPUTS) {
        tg_tape_set_error(t, "%s%s: an op takes 1..%d inputs, this one declares %d", pre,
                          op->name, TG_MAX_INPUTS, op->n_inputs);
        return NULL;
    }
    if (n != op->n_inputs) {
        tg_tape_set_error(t, "%s%s: expected %d input%s, got %d", pre, op->name, op->n_inputs,
                          op->n_inputs == 1 ? "" : "s", n);
        return NULL;
    }
    /* the reserved bits change what backward does (TG_OP_WRITES_FRESH):
       only the library's own ops may set them */
    if ((op->flags & ~TG_OP_USER_FLAGS) && !tg_op_is_builtin(op)) {
        tg_tape_set_error(t,
                          "%s: the op sets flag bits 0x%x, which are reserved for the "
                          "library's built-in ops (bits 16 and up)",
                          op->name, op->flags & ~TG_OP_USER_FLAGS);
        return NULL;
    }
    if (!in) {
        tg_tape_set_error(t, "%s%s: the input array is NULL", pre, op->name);
        return NULL;
    }
    /* An op with attributes reads them in its shape check, forward and
       backward: a built-in found through the registry, run with NULL, must
       not dereference NULL. */
    if (op->attr_size && !attr) {
        tg_tape_set_error(t, "%s%s: this op takes attributes (%zu bytes) and attr is NULL", pre,
                          op->name, op->attr_size);
        return NULL;
    }
    /* A NULL first input means an earlier op failed: pass the failure on.
       (Later inputs may be optional; each op's shape check decides.) */
    if (!in[0]) {
        if (!t->failed) tg_tape_set_error(t, "%s%s: input 0 is NULL", pre, op->name);
        return NULL;
    }
    /* every field written, not an initialiser that zeroes the rest: for a
       struct of this size that compiles to `rep stos`, whose start-up was a
       seventh of tg_apply's time when recording a graph of scalars */
    tg_record rec;
    rec.op = op;
    rec.n_in = n;
    for (int i = 0; i < TG_MAX_INPUTS; i++) rec.in[i] = NULL;
    rec.out = NULL;
    rec.attr = NULL;
    rec.saved = NULL;
    rec.tape = t;
    rec.index = -1;
    rec.backward_of = t->backward_of;
    rec.saved_bytes = 0;
    bool grad = false;
    for (int i = 0; i < n; i++) {
        rec.in[i] = in[i];
        if (in[i] && !tg_tensor_usable(t, in[i])) {
            tg_tape_set_error(t, "%s%s: input %d %s", pre, op->name, i,
                              tg_unusable_why(t, in[i]));
            return NULL;
        }
        grad |= needs_grad(in[i]);
    }
    /* A replayable tape records every op (those that need no gradient get a
       record that backward skips): replay re-runs them all. */
    bool record = t->recording && ((grad && op->backward) || t->replayable);
    if (t->replayable) note_replay_hazards(t, op, in, n);
    if (t->anomaly && !check_inputs_finite(t, op, in, n)) return NULL;
    if (attr && op->attr_size) {
        void *a = tg_tape_alloc_struct(t, op->attr_size);
        if (!a) return NULL;
        memcpy(a, attr, op->attr_size);
        rec.attr = a;
    }

    int ndim = 0;
    int64_t shape[TG_MAX_DIMS] = {0};
    char msg[TG_MSG_LEN];
    msg[0] = '\0'; /* not the whole buffer: this runs for every op */
    int st = op->shape(&rec, &ndim, shape, msg, sizeof msg);
    if (st != TG_OK) {
        tg_tape_set_error(t, "%s%s: %s", pre, op->name, msg[0] ? msg : tg_status_str(st));
        return NULL;
    }
    bool alias = (op->flags & TG_OP_ALIAS) != 0;
    tg_tensor *out = tensor_alloc(t, NULL, op, ndim, shape, !alias);
    if (!out) return NULL;
    char who[80];
#define WHO (snprintf(who, sizeof who, "%s%s", pre, op->name), who)
    if (alias && (n < 1 || !in[0] || out->size > in[0]->size)) { /* a view reads no further */
        tg_tape_set_error(t, "%s: a view (TG_OP_ALIAS) of %lld elements needs an input 0 of at "
                             "least as many; it has %lld", WHO, (long long)out->size,
                          n < 1 || !in[0] ? 0LL : (long long)in[0]->size);
        return NULL;
    }
    if (alias) out->data = in[0]->data;
    rec.out = out;

    st = op->forward(&rec);
    if (tg_tape_scratch_failed(t) && st == TG_OK) st = TG_ERR_NOMEM;
    if (st != TG_OK) {
        if (t->fail_msg[0])
            tg_tape_set_error(t, "%s: %s", WHO, t->fail_msg);
        else
            tg_tape_set_error(t, "%s: forward failed: %s", WHO, tg_status_str(st));
        t->fail_msg[0] = '\0';
        return NULL;
    }
    int64_t bad = t->anomaly ? tg_first_nonfinite(out->data, out->size) : -1;
    if (bad >= 0) {
        char what[256], ctx[128];
        tg_describe_bad(what, sizeof what, out, out->data, bad);
        backward_context(t, ctx, sizeof ctx);
        if (record)
            tg_tape_set_error(t, "anomaly: record %zu (%s)%s produced NaN or Inf in its output: %s",
                              t->n_recs, WHO, ctx, what);
        else
            tg_tape_set_error(t, "anomaly: %s (not recorded: no input needs a gradient)%s "
                                 "produced NaN or Inf in its output: %s", WHO, ctx, what);
        return NULL;
    }
    if (record) {
        if (!tg_tape_reserve_record(t)) {
            tg_tape_set_error(t, "%s: out of memory growing the tape", WHO);
            return NULL;
        }
        /* the index set in place after the copy: set before it, in rec, the
           copy's 16-byte load of it waited for the 4-byte store to retire */
        t->recs[t->n_recs] = rec;
        t->recs[t->n_recs].index = (int32_t)t->n_recs;
        out->rec = (int32_t)t->n_recs++;
        if (grad && op->backward) out->flags |= TG_REQUIRES_GRAD;
        if (t->replayable && !t->replay_ready && !note_leaves(t, &t->recs[t->n_recs - 1]))
            tg_tape_not_replayable(t, "out of memory keeping the leaves' shapes");
    }
    return out;
}
#undef WHO
#undef pre

tg_tensor *tg_apply(tg_tape *t, const tg_op *op, tg_tensor *const *in, int n, const void *attr)
{
    if (!t) { /* a custom op's name as it is; a built-in one's as its function's */
        if (op && !tg_op_is_builtin(op))
            tg_set_error(TG_ERR_INVALID, "%s: the tape is NULL", op->name);
        else
            tg_no_tape(op ? op->name : "apply");
        return NULL;
    }
    /* the op named by any allocation that fails while it is applied (saved
       and put back: a custom op's forward may apply others) */
    const tg_op *outer = t->applying;
    t->applying = op;
    tg_tensor *out = apply(t, op, in, n, attr);
    t->applying = outer;
    return out;
}

int tg_record_fail(tg_record *r, int status, const char *fmt, ...)
{
    if (!r || !r->tape || !fmt) return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->tape->fail_msg, sizeof r->tape->fail_msg, fmt, ap);
    va_end(ap);
    return status;
}

void *tg_record_save(tg_record *r, size_t bytes)
{
    if (!r || !r->tape) return NULL;
    /* a replay runs the forward on the record itself: its buffer again */
    if (r->tape->replaying && r->saved && r->saved_bytes >= bytes) return r->saved;
    r->saved = tg_tape_alloc(r->tape, bytes);
    r->saved_bytes = r->saved ? bytes : 0;
    return r->saved;
}

/* ------------------------------------------------------------------ replay */

void tg_tape_not_replayable(tg_tape *t, const char *fmt, ...)
{
    if (t->not_replayable[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->not_replayable, sizeof t->not_replayable, fmt, ap);
    va_end(ap);
}

/* What a replay could not redo, noted as it is recorded. */
static void note_replay_hazards(tg_tape *t, const tg_op *op, tg_tensor *const *in, int n)
{
    if (!t->recording && t->walking) return; /* a rule's op in a first-order backward */
    if (!t->recording) {
        tg_tape_not_replayable(t, "%s%s ran with recording off, so no record redoes it",
                               tg_op_prefix(op), op->name);
        return;
    }
    if (op->flags & TG_OP_IMPURE)
        tg_tape_not_replayable(t, "record %zu (%s%s) is impure (TG_OP_IMPURE)", t->n_recs,
                               tg_op_prefix(op), op->name);
    for (int i = 0; i < n; i++)
        if (in[i] && (in[i]->flags & TG_GRAD_RESULT))
            tg_tape_not_replayable(t, "record %zu (%s%s) reads the result of a first-order "
                                      "tg_grad, which no record recomputes (use create_graph)",
                                   t->n_recs, tg_op_prefix(op), op->name);
}

bool tg_tape_replayable(const tg_tape *t) { return t && t->replayable; }

bool tg_tape_set_replayable(tg_tape *t, bool on)
{
    if (!t) return false;
    bool was = t->replayable;
    if (on && !was && t->n_recs > 0)
        tg_tape_not_replayable(t, "replayable was turned on after %zu records", t->n_recs);
    t->replayable = on;
    return was;
}

int tg_tensor_rewrap(tg_tensor *x, const tg_real *data)
{
    if (!x || !data)
        return tg_set_error(TG_ERR_INVALID, "tg_tensor_rewrap: %s is NULL", !x ? "x" : "data");
    if (!x->tape || x->rec >= 0)
        return tg_set_error(TG_ERR_INVALID, "tg_tensor_rewrap: %s",
                            !x->tape ? "a parameter keeps its data in its registry"
                                     : "only a leaf can be pointed at new data");
    x->data = (tg_real *)(uintptr_t)data; /* no op writes to a leaf's data */
    return TG_OK;
}

/* The leaves record r reads, with their shapes, kept for the replays' check
   (a replayable tape's records, as they are recorded: a leaf whose shape
   changed before the first replay is refused as one changed after it).
   False if out of memory. */
enum { LEAF_GRAD = 1 << 8 }; /* in leaf_shapes[j][0], above ndim */

static bool note_leaves(tg_tape *t, const tg_record *r)
{
    for (int k = 0; k < r->n_in; k++) {
        tg_tensor *x = r->in[k];
        if (!x || x->rec >= 0) continue;
        bool seen = false; /* the latest first: a leaf is mostly read again soon */
        for (size_t j = t->n_leaves; j-- > 0 && !seen;) seen = t->leaves[j] == x;
        if (seen) continue;
        if (t->n_leaves == t->cap_leaves) {
            size_t cap = t->cap_leaves ? 2 * t->cap_leaves : 64;
            tg_tensor **l = realloc(t->leaves, cap * sizeof *l);
            if (!l) return false;
            t->leaves = l;
            int64_t(*sh)[TG_MAX_DIMS + 1] = realloc(t->leaf_shapes, cap * sizeof *sh);
            if (!sh) return false;
            t->leaf_shapes = sh;
            t->cap_leaves = cap;
            t->heap_allocs += 2;
        }
        t->leaves[t->n_leaves] = x;
        /* ndim, and whether it required grad (LEAF_GRAD) then */
        t->leaf_shapes[t->n_leaves][0] = x->ndim | (needs_grad(x) ? LEAF_GRAD : 0);
        for (int d = 0; d < x->ndim; d++) t->leaf_shapes[t->n_leaves][d + 1] = x->shape[d];
        t->n_leaves++;
    }
    return true;
}

bool tg_tape_note_detached(tg_tape *t, tg_tensor *leaf, tg_tensor *source)
{
    /* (one made after the first replay is gone at the next, with its record) */
    if (!t->replayable || !t->recording || t->replay_ready) return true;
    if (t->n_detached == t->cap_detached) {
        size_t cap = t->cap_detached ? 2 * t->cap_detached : 16;
        tg_tensor **d = realloc(t->detached, 2 * cap * sizeof *d);
        if (!d) return false;
        t->detached = d;
        t->cap_detached = cap;
        t->heap_allocs++;
    }
    t->detached[2 * t->n_detached] = leaf;
    t->detached[2 * t->n_detached + 1] = source;
    t->n_detached++;
    return true;
}

void tg_tape_repoint_detached(tg_tape *t)
{
    for (size_t j = 0; j < t->n_detached; j++) {
        const tg_tensor *s = t->detached[2 * j + 1];
        /* a view's data is its input's, set when its record replays: the
           data of the chain's first tensor that is not a view */
        while (s->rec >= 0 && (t->recs[s->rec].op->flags & TG_OP_ALIAS)) s = t->recs[s->rec].in[0];
        t->detached[2 * j]->data = s->data;
    }
}

/* A tape tensor's gradient at a replay (see tg_tape_replay). */
static void start_over(tg_tensor *x)
{
    if (x->grad && (x->flags & TG_GRAD_KEPT)) {
        x->flags |= TG_GRAD_FRESH;
        return;
    }
    x->grad = NULL;
    x->flags &= ~TG_GRAD_FRESH;
}

int tg_tape_replay(tg_tape *t)
{
    if (!t) return tg_set_error(TG_ERR_INVALID, "tg_tape_replay: the tape is NULL");
    const char *why = !t->replayable ? "the tape was not recorded replayable "
                                        "(tg_tape_set_replayable before recording)"
                      : t->n_recs == 0 ? "nothing is recorded (a reset tape holds no records)"
                      : t->backward_of >= 0 || t->walking ? "called from inside a gradient rule"
                      : t->replaying ? "called from inside a replay (a replayed op's forward)"
                                     : NULL;
    if (why || t->not_replayable[0]) {
        tg_tape_set_error(t, "tg_tape_replay: %s", why ? why : t->not_replayable);
        return TG_ERR_STATE;
    }
    if (!t->replay_ready) {
        t->replay_mark = tg_arena_get_mark(&t->arena);
        t->replay_recs = t->n_recs;
        t->replay_ready = true;
        /* gradients made so far lie below the mark: replays keep them */
        for (size_t i = 0; i < t->n_recs; i++)
            if (t->recs[i].out->grad) t->recs[i].out->flags |= TG_GRAD_KEPT;
        for (size_t j = 0; j < t->n_leaves; j++)
            if (t->leaves[j]->tape && t->leaves[j]->grad) t->leaves[j]->flags |= TG_GRAD_KEPT;
    }
    /* records made since the first replay (a gradient taken after a replay)
       are not the recording's: their tensors lie above the mark and go with
       the arena's memory below, so they go too (they were kept and run
       again, on tensors the arena had given to others) */
    if (t->n_recs > t->replay_recs) {
        t->n_recs = t->replay_recs;
        t->grads_above_mark = true; /* the records' gradients: looked at again */
    }
    for (size_t j = 0; j < t->n_leaves; j++) {
        const tg_tensor *x = t->leaves[j];
        int nd = (int)(t->leaf_shapes[j][0] & (LEAF_GRAD - 1));
        bool grad = (t->leaf_shapes[j][0] & LEAF_GRAD) != 0, same = x->ndim == nd;
        for (int d = 0; d < x->ndim && same; d++) same = x->shape[d] == t->leaf_shapes[j][d + 1];
        /* switched off, a leaf gets no gradient (backward skips it); switched
           on, it could not get one: the records that read it were made
           without (their outputs may need none) */
        if (!same || (!grad && needs_grad(x))) {
            char now[96], then[96], name[64];
            tg_dims_str(nd, t->leaf_shapes[j] + 1, then, sizeof then);
            if (x->name) snprintf(name, sizeof name, "'%s'", x->name);
            else snprintf(name, sizeof name, "t%d", (int)x->id);
            if (!same)
                tg_tape_set_error(t, "tg_tape_replay: leaf %s is %s, recorded as %s: record "
                                     "the step again for a new shape",
                                  name, tg_shape_str(x, now, sizeof now), then);
            else
                tg_tape_set_error(t, "tg_tape_replay: leaf %s requires grad now and did not "
                                     "when recorded: record the step again",
                                  name);
            return TG_ERR_STATE;
        }
    }
    /* gradients of the tape's tensors, and whatever came after the
       recording, start over: a gradient below the mark is kept, to be
       written (or zeroed) when backward first reaches it; one above is
       dropped with the arena's memory (the records' gradients are looked at
       only when some were made above it: a kept one is made fresh by the
       backward that reaches it) */
    if (t->grads_above_mark) {
        for (size_t i = 0; i < t->n_recs; i++) start_over(t->recs[i].out);
        t->fresh_sweeps++;
    }
    t->grads_above_mark = false;
    for (size_t j = 0; j < t->n_leaves; j++)
        if (t->leaves[j]->tape) start_over(t->leaves[j]);
    t->n_leaf_grads = 0;
    tg_arena_rewind_to(&t->arena, t->replay_mark);
    t->replaying = true;
    int st = tg_program_replay(t);
    t->replaying = false;
    t->replay_partial = st != TG_OK; /* until a replay runs through */
    return st;
}

int tg_replay_record(tg_tape *t, size_t i)
{
    tg_record *r = &t->recs[i];
    if (r->op->flags & TG_OP_CHECK_ON_REPLAY) { /* indices the caller may have changed */
        char msg[384];
        int ndim;
        int64_t shape[TG_MAX_DIMS];
        msg[0] = '\0';
        int st = r->op->shape(r, &ndim, shape, msg, sizeof msg);
        if (st != TG_OK) {
            tg_tape_set_error(t, "tg_tape_replay: record %zu (%s%s): %s", i, tg_op_prefix(r->op),
                              r->op->name, msg[0] ? msg : tg_status_str(st));
            return st;
        }
    }
    if (r->op->flags & TG_OP_ALIAS) r->out->data = r->in[0]->data;
    int st = r->op->forward(r);
    if (tg_tape_scratch_failed(t) && st == TG_OK) st = TG_ERR_NOMEM;
    if (st != TG_OK) {
        if (t->fail_msg[0])
            tg_tape_set_error(t, "tg_tape_replay: record %zu (%s%s): %s", i, tg_op_prefix(r->op),
                              r->op->name, t->fail_msg);
        else
            tg_tape_set_error(t, "tg_tape_replay: record %zu (%s%s) failed: %s", i,
                              tg_op_prefix(r->op), r->op->name, tg_status_str(st));
        t->fail_msg[0] = '\0';
        return st;
    }
    int64_t bad = t->anomaly ? tg_first_nonfinite(r->out->data, r->out->size) : -1;
    if (bad >= 0) {
        char what[256];
        tg_describe_bad(what, sizeof what, r->out, r->out->data, bad);
        tg_tape_set_error(t, "anomaly: replaying record %zu (%s%s) gave NaN or Inf: %s", i,
                          tg_op_prefix(r->op), r->op->name, what);
        return TG_ERR_NUMERIC;
    }
    return TG_OK;
}
