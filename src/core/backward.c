/* The tape, backward half: the reverse walk over the records.

     first order:   walk the records the output depends on, last to first;
                    each op->backward adds into its inputs' .grad (fast kernels)
     create_graph:  the same walk calling each op->vjp, which builds its
                    inputs' gradients out of taped ops: the gradients are
                    tensors with records of their own, so they can be
                    differentiated again, to any order
     tg_grad:       either walk, with the gradients returned as tensors and
                    every .grad left as it was

   Only the records the output depends on are visited (mark_reached): a
   second backward on the same tape from another output must not run the
   rules of records it does not reach, which would add 0·inf = NaN into
   leaves (the gradient of sqrt at 0 is inf). */
#include "core/tape_internal.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

static bool needs_grad(const tg_tensor *x) { return x && (x->flags & TG_REQUIRES_GRAD); }

/* ------------------------------------------------------------ reachability */

/* The walks over the records read each record's tensors, which lie in the
   arena apart from the records: on a tape larger than the cache each was a
   miss in turn. The tensors of the record AHEAD places on are asked for
   first (mark_reached: its inputs; the fresh sweep and the rule walk: its
   output). */
enum { AHEAD = 8 };
/* The lines of x's struct that the walks read: size, data, grad, flags and
   rec, bytes 72 to 127 (one line or two: structs are 16-byte aligned), not
   the struct's first line, which holds its shape. Asking for the first
   line left the read of the flags a miss (walk_marking's hottest
   instruction). Integer arithmetic: x may be NULL (an optional input). */
static inline void prefetch_tensor(const tg_tensor *x)
{
    uintptr_t p = (uintptr_t)x;
    __builtin_prefetch((const void *)(p + offsetof(tg_tensor, size)));
    __builtin_prefetch((const void *)(p + offsetof(tg_tensor, rec)));
}
static inline void prefetch_inputs(const tg_record *r)
{
    for (int k = 0; k < r->n_in; k++) prefetch_tensor(r->in[k]);
}

/* Marks every record whose output the outputs depend on (t->mark[i] = 1)
   and returns the last such record, or -1. One backward sweep: a record is
   reached when its output is an output, or an input of a reached record. */
static int32_t mark_reached(tg_tape *t, tg_tensor *const *outs, int n_out)
{
    if (n_out == 1 && t->marked_out == outs[0] && t->marked_recs == t->n_recs &&
        t->marked_gen == tg_tape_generation(t))
        return t->marked_last; /* the same records as last time */
    t->marked_out = NULL;
    int32_t last = -1;
    for (int j = 0; j < n_out; j++)
        if (outs[j]->rec > last) last = outs[j]->rec;
    if (last < 0) return -1;
    memset(t->mark, 0, (size_t)(last + 1));
    for (int j = 0; j < n_out; j++)
        if (outs[j]->rec >= 0) t->mark[outs[j]->rec] = 1;
    for (int32_t i = last; i >= 0; i--) {
        if (i >= AHEAD) prefetch_inputs(&t->recs[i - AHEAD]);
        if (!t->mark[i]) continue;
        const tg_record *r = &t->recs[i];
        for (int k = 0; k < r->n_in; k++) /* records that need no gradient: skipped */
            if (needs_grad(r->in[k]) && r->in[k]->rec >= 0) t->mark[r->in[k]->rec] = 1;
    }
    if (n_out == 1) {
        t->marked_out = outs[0];
        t->marked_recs = t->n_recs;
        t->marked_gen = tg_tape_generation(t);
        t->marked_last = last;
    }
    return last;
}

int32_t tg_mark_reached(tg_tape *t, tg_tensor *const *outs, int n_out)
{
    return mark_reached(t, outs, n_out);
}

/* ------------------------------------------------------- checking outputs */

/* Checks an output given to a backward pass; its name in messages is `fn`. */
static int check_output(tg_tape *t, const char *fn, const tg_tensor *out)
{
    if (!out) {
        if (!t->failed) tg_tape_set_error(t, "%s: the output is NULL", fn);
        return TG_ERR_INVALID;
    }
    /* A tape that holds an error gives no gradient until it is cleared: a
       result recorded after the failure may lack a part (an optional
       argument whose making failed, a mask or a bias, reads as absent) and
       differ from what the program meant. The error's message (the first,
       the cause) gets a word on why nothing ran. */
    if (t->failed) {
        static const char why[] = " (%s: not run while the tape holds this error: a result "
                                  "recorded after it may lack a part; handle it, then call "
                                  "tg_tape_clear_error)";
        size_t n = strlen(t->error);
        if (!strstr(t->error, "tg_tape_clear_error)"))
            snprintf(t->error + n, sizeof t->error - n, why, fn);
        return TG_ERR_STATE;
    }
    if (t->walking) {
        tg_tape_set_error(t, "%s: called while a backward walk on this tape runs its gradient "
                             "rules (from a custom op's backward or vjp): a rule computes its "
                             "own gradients; differentiate after the walk returns", fn);
        return TG_ERR_STATE;
    }
    if (t->replay_partial) { /* its error handled and cleared */
        tg_tape_set_error(t, "%s: the last tg_tape_replay stopped part-way, so the tape's "
                             "values mix two steps: replay again (or record anew) first", fn);
        return TG_ERR_STATE;
    }
    if (!tg_tensor_usable(t, out)) {
        tg_tape_set_error(t, "%s: the output %s", fn, tg_unusable_why(t, out));
        return TG_ERR_STATE;
    }
    if (!(out->flags & TG_REQUIRES_GRAD)) {
        tg_tape_set_error(t, "%s: the output does not require grad: it depends on no tensor "
                             "that requires grad (its derivative is zero: a constant, or a "
                             "gradient that does not depend on the inputs), or recording was "
                             "off", fn);
        return TG_ERR_STATE;
    }
    if (t->backward_of >= 0) {
        tg_tape_set_error(t, "%s: called from inside a gradient rule", fn);
        return TG_ERR_STATE;
    }
    return TG_OK;
}

/* ------------------------------------------------------- first order */

/* A gradient of a leaf during a walk: in a create_graph walk the tensor
   being built; in a private first-order walk the leaf's shadow (below). A
   record's output keeps its own in t->grad_of[rec]. */
typedef struct {
    tg_leaf_grad *v;
    size_t n, cap;
} leaf_slots;

/* Where the gradients of one first-order walk go. Normally into each
   tensor's .grad (a released parameter's comes back from its registry).
   For tg_grad (`shadows`), every record runs on a copy whose tensors are
   shadows: copies of the tensor structs whose .grad is fresh memory of the
   tape. No tensor the user holds is written, not even for a moment, so
   threads may share parameters while each takes gradients on its own tape. */
typedef struct {
    leaf_slots *shadows; /* NULL: the tensors themselves */
} walk_opts;

/* The shadow of x in a private walk: one per tensor (identity is kept: a
   tensor that is two inputs of a record has one shadow), made on first
   use with no gradient. */
static tg_tensor *shadow_of(tg_tape *t, leaf_slots *ls, tg_tensor *x)
{
    if (!x) return NULL;
    tg_tensor **slot = NULL;
    if (x->rec >= 0 && t->mark[x->rec]) {
        slot = &t->grad_of[x->rec];
    } else {
        for (size_t i = 0; i < ls->n && !slot; i++)
            if (ls->v[i].leaf == x) slot = &ls->v[i].grad;
        if (!slot) {
            if (ls->n == ls->cap) return NULL; /* sized by the caller: not reached */
            ls->v[ls->n] = (tg_leaf_grad){x, NULL};
            slot = &ls->v[ls->n++].grad;
        }
    }
    if (!*slot) {
        tg_tensor *s = tg_tape_try_alloc_struct(t, sizeof *s);
        if (!s) return NULL;
        *s = *x;
        s->grad = NULL;
        s->flags &= ~TG_GRAD_FRESH;
        *slot = s;
    }
    return *slot;
}

/* Gives x a gradient to receive into, if it has none. Its memory holds stale
   bytes, so it is marked fresh: the first rule writes it, or the engine
   zeroes it before a rule that only adds (settle_grad). */
static bool ensure_grad(tg_tape *t, tg_tensor *x, const walk_opts *o)
{
    if (x->grad) return true;
    if ((x->flags & TG_PARAM) && !x->tape && !o->shadows) x->grad = tg_param_grad_home(x);
    else x->grad = tg_tape_try_alloc_values(t, (size_t)x->size * sizeof(tg_real));
    if (!x->grad) {
        tg_tape_set_error(t, "tg_backward: out of memory for a gradient of %lld values",
                          (long long)x->size);
        return false;
    }
    x->flags |= TG_GRAD_FRESH;
    if (x->rec >= 0) t->record_grads = true;
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
   the gradients that reached leaves and parameters carry in from earlier
   calls (a NaN left there by a step that was not zeroed is named as such,
   not blamed on the first record that touches it). */
static int check_before_backward(tg_tape *t, const tg_tensor *out, const tg_real *dout,
                                 int32_t last)
{
    char what[256];
    int64_t at = tg_first_nonfinite(dout, out->size);
    if (at >= 0) {
        tg_describe_bad(what, sizeof what, out, dout, at);
        tg_tape_set_error(t, "anomaly: the output gradient given to tg_backward has NaN or Inf: "
                             "for %s", what);
        return TG_ERR_NUMERIC;
    }
    for (int32_t i = 0; i <= last; i++) {
        if (!t->mark[i]) continue;
        for (int k = 0; k < t->recs[i].n_in; k++) {
            const tg_tensor *x = t->recs[i].in[k];
            if (!needs_grad(x) || x->rec >= 0 || !x->grad || tg_grad_fresh(x)) continue;
            at = tg_first_nonfinite(x->grad, x->size);
            if (at >= 0) {
                tg_describe_bad(what, sizeof what, x, x->grad, at);
                tg_tape_set_error(t, "anomaly: before backward, the accumulated gradient of %s "
                                     "(left from an earlier backward: zero it first)", what);
                return TG_ERR_NUMERIC;
            }
        }
    }
    return TG_OK;
}

/* A walk whose rule could not have its scratch (tg_record_scratch) fails:
   TG_ERR_NOMEM and a message naming the op, else st. Checked once at the
   end of a walk (the rules after the failed one ran on, their results
   are not used), not after each rule: that check in the walk cost its
   loop 3% (bench_scalar_graph). */
static int walk_end(tg_tape *t, int st)
{
    if (__builtin_expect(!t->scratch_failed, 1)) return st;
    t->scratch_failed = false;
    if (st != TG_OK) return st; /* an error after it: its message stands */
    const tg_op *op = t->scratch_op;
    tg_tape_set_error(t, "tg_backward: the gradient rule of %s%s: %s", tg_op_prefix(op),
                      op->name, t->fail_msg);
    t->fail_msg[0] = '\0';
    return TG_ERR_NOMEM;
}

/* One marked record's rule in a first-order walk. Inlined into the walk
   (and into tg_run_rule): as a call, with ensure_grad out of line, the
   walk took 7% more instructions a record (callgrind, bench_overhead). */
__attribute__((always_inline)) static inline int rule_step(tg_tape *t, int32_t i,
                                                           const walk_opts *o)
{
    tg_record *r = &t->recs[i], copy;
    if (o->shadows) { /* the record on shadows */
        copy = *r;
        r = &copy;
        bool ok = (r->out = shadow_of(t, o->shadows, r->out)) != NULL;
        for (int k = 0; k < r->n_in && ok; k++)
            ok = !r->in[k] || (r->in[k] = shadow_of(t, o->shadows, r->in[k])) != NULL;
        if (!ok) {
            tg_tape_set_error(t, "tg_grad: out of memory");
            return TG_ERR_NOMEM;
        }
    }
    if (!r->out->grad) return TG_OK; /* reached, but no rule gave it a gradient */
    settle_grad(r->out);         /* a gradient no rule wrote holds zeros */
    /* one pass over the inputs: gradients for those that need one, and
       the others made to look gradient-free to the rule */
    unsigned needing = 0, fresh = 0;
    bool oom = false;
    tg_real *hidden[TG_MAX_INPUTS];
    int n_in = r->n_in;
    for (int k = 0; k < n_in; k++) {
        tg_tensor *x = r->in[k];
        hidden[k] = NULL;
        if (!x) continue;
        if (needs_grad(x)) {
            needing |= 1u << k;
            if (!x->grad && !ensure_grad(t, x, o)) oom = true;
            if (x->flags & TG_GRAD_FRESH) fresh |= 1u << k;
        } else if (x->grad) {
            hidden[k] = x->grad;
            x->grad = NULL;
        }
    }
    /* zeros for a rule that adds (and on failure, so that no gradient
       is left holding stale bytes) */
    if (fresh && (oom || !may_write_fresh(r)))
        for (int k = 0; k < n_in; k++)
            if (fresh & (1u << k)) settle_grad(r->in[k]);
    if (oom || !needing) {
        for (int k = 0; k < n_in; k++)
            if (hidden[k]) r->in[k]->grad = hidden[k];
        return oom ? TG_ERR_NOMEM : TG_OK;
    }
    r->op->backward(r);
    for (int k = 0; k < n_in; k++) {
        if (hidden[k]) r->in[k]->grad = hidden[k];
        else if (fresh & (1u << k)) r->in[k]->flags &= ~TG_GRAD_FRESH;
    }
    /* Every gradient was finite before this rule ran (the seed and the
       leaves' accumulated gradients were checked first), so the first
       non-finite one is this record's doing. */
    if (t->anomaly) {
        /* before its gradients are read: a failed rule leaves them unwritten */
        if (t->scratch_failed) return walk_end(t, TG_OK);
        for (int k = 0; k < r->n_in; k++) {
            tg_tensor *x = r->in[k];
            int64_t at = needs_grad(x) ? tg_first_nonfinite(x->grad, x->size) : -1;
            if (at >= 0) {
                char what[256];
                tg_describe_bad(what, sizeof what, x, x->grad, at);
                tg_tape_set_error(t,
                                  "anomaly: record %d (%s%s) produced NaN or Inf in the "
                                  "gradient of input %d: the gradient of %s",
                                  (int)i, tg_op_prefix(r->op), r->op->name, k, what);
                return TG_ERR_NUMERIC;
            }
        }
    }
    return TG_OK;
}

/* Runs the rules of the marked records last..0. The outputs' gradients are
   seeded; intermediate gradients were made fresh. */
static int walk_first_order(tg_tape *t, int32_t last, const walk_opts *o)
{
    for (int32_t i = last; i >= 0; i--) {
        if (i >= AHEAD) prefetch_tensor(t->recs[i - AHEAD].out);
        if (!t->mark[i]) continue;
        int st = rule_step(t, i, o);
        if (st != TG_OK) return walk_end(t, st);
    }
    return walk_end(t, TG_OK);
}

/* The first backward since the reset (no record's output has a gradient,
   so none is made fresh): mark_reached's sweep and the rules' walk in one
   pass, last to first. A record is reached when it made the output or an
   input of a reached record, and every reached record lies after those it
   reaches, so its mark is final when the walk comes to it: the same marks
   as mark_reached's (kept for the next call as it keeps them), the same
   rules in the same order. One sweep over the records' tensors less. */
static int walk_marking(tg_tape *t, tg_tensor *out, const walk_opts *o)
{
    int32_t last = out->rec;
    size_t recs = t->n_recs; /* before any rule runs, as mark_reached */
    t->marked_out = NULL;
    if (last < 0) return TG_OK;
    memset(t->mark, 0, (size_t)(last + 1));
    t->mark[last] = 1;
    for (int32_t i = last; i >= 0; i--) {
        if (i >= AHEAD) {
            prefetch_inputs(&t->recs[i - AHEAD]);
            prefetch_tensor(t->recs[i - AHEAD].out);
        }
        if (!t->mark[i]) continue;
        const tg_record *r = &t->recs[i];
        for (int k = 0; k < r->n_in; k++)
            if (needs_grad(r->in[k]) && r->in[k]->rec >= 0) t->mark[r->in[k]->rec] = 1;
        int st = rule_step(t, i, o);
        if (st != TG_OK) return walk_end(t, st);
    }
    int st = walk_end(t, TG_OK);
    if (st != TG_OK) return st;
    t->marked_out = out;
    t->marked_recs = recs;
    t->marked_gen = tg_tape_generation(t);
    t->marked_last = last;
    return TG_OK;
}

/* The rules of a first-order walk run with recording off, as PyTorch runs
   a backward without create_graph: an op that a custom rule applies computes
   without a record (records appended while the walk holds a pointer into
   them moved them: a use after free), and a backward from inside a rule is
   refused (check_output). Returns what recording was, for walk_done. */
static bool walk_begin(tg_tape *t)
{
    bool was = t->recording;
    t->recording = false;
    t->walking = true;
    return was;
}

static int walk_done(tg_tape *t, bool recording, int st)
{
    t->recording = recording;
    t->walking = false;
    return st;
}

int tg_run_rule(tg_tape *t, int32_t i)
{
    walk_opts o = {NULL};
    bool rec = walk_begin(t);
    return walk_done(t, rec, walk_end(t, rule_step(t, i, &o)));
}

/* The intermediate gradients of the marked records start over: each is made
   fresh (written or zeroed when first reached) instead of swept to zero. */
static void refresh_intermediates(tg_tape *t, int32_t last)
{
    t->fresh_sweeps++;
    if (!t->record_grads) return; /* the first backward since the reset: none has one */
    for (int32_t i = 0; i <= last; i++) {
        if (i + AHEAD <= last) prefetch_tensor(t->recs[i + AHEAD].out);
        if (t->mark[i] && t->recs[i].out->grad) t->recs[i].out->flags |= TG_GRAD_FRESH;
    }
}

/* g += d (n values), or += 1 without d; a fresh g (stale bytes) is
   written 0 + d, the bits that zeros and one addition give: loops that
   vectorise (the choice inside one loop kept it scalar: a seed of 221,184
   values, LeNet's first layer in bench_conv, took 4% of its step; written
   fresh rather than zeroed first, the step 1% faster again) */
TG_VECTOR_LOOP static void add_seed(tg_real *g, const tg_real *d, int64_t n, bool fresh)
{
    const tg_real zero = 0;
    if (fresh && d)
        for (int64_t i = 0; i < n; i++) g[i] = zero + d[i];
    else if (fresh)
        for (int64_t i = 0; i < n; i++) g[i] = 1;
    else if (d)
        for (int64_t i = 0; i < n; i++) g[i] += d[i];
    else
        for (int64_t i = 0; i < n; i++) g[i] += 1;
}

/* Adds dout (out->size values) into out's gradient. */
static bool seed(tg_tape *t, tg_tensor *out, const tg_real *dout, const walk_opts *o)
{
    if (!ensure_grad(t, out, o)) return false;
    bool fresh = tg_grad_fresh(out);
    out->flags &= ~TG_GRAD_FRESH;
    add_seed(out->grad, dout, out->size, fresh);
    return true;
}

int tg_backward_grad(tg_tape *t, tg_tensor *out, const tg_real *dout)
{
    if (!t) return tg_set_error(TG_ERR_INVALID, "tg_backward: the tape is NULL");
    int st = check_output(t, "tg_backward", out);
    if (st != TG_OK) return st;
    if (!dout) {
        tg_tape_set_error(t, "tg_backward: the output gradient is NULL");
        return TG_ERR_INVALID;
    }
    if (!t->anomaly) { /* after a replay: the replay program's backward, if it can */
        int pst;
        bool rec = walk_begin(t);
        bool ran = tg_program_backward(t, out, dout, &pst);
        walk_done(t, rec, TG_OK);
        if (ran) return pst;
    }
    walk_opts o = {NULL};
    if (!t->anomaly && !t->record_grads) { /* the first backward since the reset */
        t->fresh_sweeps++;                 /* as refresh_intermediates */
        if (t->replay_ready) t->grads_above_mark = true;
        if (!seed(t, out, dout, &o)) return TG_ERR_NOMEM;
        bool rec = walk_begin(t);
        return walk_done(t, rec, walk_marking(t, out, &o));
    }
    int32_t last = mark_reached(t, &out, 1);
    if (t->anomaly) {
        st = check_before_backward(t, out, dout, last);
        if (st != TG_OK) return st;
    }
    /* Intermediate gradients start from zero on every call; leaves and
       parameters keep accumulating (PyTorch with retain_graph=True). */
    refresh_intermediates(t, last);
    /* gradients made now, after a replay, lie above its mark: the next
       replay drops them (tg_tape_replay) */
    if (t->replay_ready) t->grads_above_mark = true;
    if (!seed(t, out, dout, &o)) return TG_ERR_NOMEM;
    bool rec = walk_begin(t);
    return walk_done(t, rec, walk_first_order(t, last, &o));
}

int tg_backward(tg_tape *t, tg_tensor *loss)
{
    if (!t) return tg_set_error(TG_ERR_INVALID, "tg_backward: the tape is NULL");
    int st = check_output(t, "tg_backward", loss);
    if (st != TG_OK) return st;
    if (loss->size != 1) {
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

/* ------------------------------------------------------------- tg_grad */

static tg_tensor **slot_of(tg_tape *t, leaf_slots *ls, const tg_tensor *x)
{
    if (x->rec >= 0) return &t->grad_of[x->rec];
    for (size_t i = 0; i < ls->n; i++)
        if (ls->v[i].leaf == x) return &ls->v[i].grad;
    if (ls->n == ls->cap) return NULL; /* sized by the caller: not reached */
    ls->v[ls->n] = (tg_leaf_grad){x, NULL};
    return &ls->v[ls->n++].grad;
}

/* x's gradient += g, on the tape (a first contribution is g itself). The
   slot is found again after the add: tg_add appends a record, and a tape
   that grows its arrays for it moves grad_of, so an address taken before
   would be stale (the sum was stored into freed memory and lost: a wrong
   gradient, silently, when the add was the tape's 256th record, or 512th). */
static bool accumulate(tg_tape *t, leaf_slots *ls, const tg_tensor *x, tg_tensor *g)
{
    tg_tensor **slot = slot_of(t, ls, x);
    if (!slot) return false;
    if (!*slot) {
        *slot = g;
        return true;
    }
    tg_tensor *sum = tg_add(t, *slot, g);
    if (!sum) return false;
    *slot_of(t, ls, x) = sum;
    return true;
}

/* Inputs needing a gradient among the marked records: an upper bound on
   the leaves a walk can reach (with the outputs themselves). */
static size_t count_leaf_bound(const tg_tape *t, int32_t last, int n_out)
{
    size_t n = (size_t)n_out;
    for (int32_t i = 0; i <= last; i++)
        if (t->mark[i]) n += (size_t)t->recs[i].n_in;
    return n;
}

/* The create_graph walk: each marked record's vjp builds its inputs'
   gradients from its output's, as taped ops. The seeds are in the slots. */
static int walk_create_graph_rules(tg_tape *t, int32_t last, leaf_slots *ls, const char *fn);

/* The vjps record (recording stays as it is); a backward from inside one is
   refused, as in a first-order walk. */
static int walk_create_graph(tg_tape *t, int32_t last, leaf_slots *ls, const char *fn)
{
    t->walking = true;
    int st = walk_create_graph_rules(t, last, ls, fn);
    t->walking = false;
    return st;
}

static int walk_create_graph_rules(tg_tape *t, int32_t last, leaf_slots *ls, const char *fn)
{
    /* the tape held no error when the walk began (check_output refuses
       one): an error now is a rule's */
    for (int32_t i = last; i >= 0; i--) {
        if (!t->mark[i] || !t->grad_of[i]) continue;
        tg_record r = t->recs[i]; /* a copy: the rule appends records, which may move them */
        bool any = false;
        for (int k = 0; k < r.n_in; k++) any |= needs_grad(r.in[k]);
        if (!any) continue;
        if (!r.op->vjp) {
            tg_tape_set_error(t, "%s: create_graph reaches record %d (%s%s), whose op has no "
                                 "vjp rule: it can be differentiated once (tg_backward), not "
                                 "twice; a custom op must supply op->vjp",
                              fn, (int)i, tg_op_prefix(r.op), r.op->name);
            return TG_ERR_STATE;
        }
        tg_tensor *dx[TG_MAX_INPUTS] = {0};
        t->backward_of = i;
        int st = r.op->vjp(t, &r, t->grad_of[i], dx);
        for (int k = 0; k < r.n_in && st == TG_OK && !t->failed; k++) {
            tg_tensor *x = r.in[k];
            if (!needs_grad(x) || !dx[k]) continue;
            if (!tg_tensor_usable(t, dx[k])) {
                tg_tape_set_error(t, "%s: the vjp rule of %s%s gave input %d a gradient that "
                                     "is not a tensor of this tape (made on another tape, or "
                                     "before its last reset): make it with ops on the tape "
                                     "the rule is given",
                                  fn, tg_op_prefix(r.op), r.op->name, k);
                st = TG_ERR_STATE;
                break;
            }
            if (!tg_same_shape(x, dx[k])) {
                char sx[96], sg[96];
                tg_tape_set_error(t, "%s: the vjp rule of %s%s gave input %d a gradient of "
                                     "shape %s, but the input is %s",
                                  fn, tg_op_prefix(r.op), r.op->name, k,
                                  tg_shape_str(dx[k], sg, sizeof sg),
                                  tg_shape_str(x, sx, sizeof sx));
                st = TG_ERR_SHAPE;
                break;
            }
            if (!accumulate(t, ls, x, dx[k])) st = TG_ERR_NOMEM;
        }
        t->backward_of = -1;
        if (st != TG_OK || t->failed) {
            if (!t->failed)
                tg_tape_set_error(t, "%s: the vjp rule of record %d (%s%s) failed: %s", fn,
                                  (int)i, tg_op_prefix(r.op), r.op->name, tg_status_str(st));
            return st != TG_OK ? st : TG_ERR_STATE;
        }
    }
    return TG_OK;
}

/* Checks the outputs and their gradients; returns the last marked record
   through *last. */
static int check_outputs(tg_tape *t, const char *fn, int n_out, tg_tensor *const *outs,
                         tg_tensor *const *gouts)
{
    if (n_out < 1 || !outs) {
        tg_tape_set_error(t, "%s: no outputs given", fn);
        return TG_ERR_INVALID;
    }
    for (int j = 0; j < n_out; j++) {
        int st = check_output(t, fn, outs[j]);
        if (st != TG_OK) return st;
        const tg_tensor *g = gouts ? gouts[j] : NULL;
        char so[96], sg[96];
        if (!g && outs[j]->size != 1) {
            tg_tape_set_error(t, "%s: output %d has shape %s: give its gradient (grad_outputs) "
                                 "unless it has one element",
                              fn, j, tg_shape_str(outs[j], so, sizeof so));
            return TG_ERR_SHAPE;
        }
        if (g && !tg_tensor_usable(t, g)) {
            tg_tape_set_error(t, "%s: the gradient of output %d %s", fn, j,
                              tg_unusable_why(t, g));
            return TG_ERR_STATE;
        }
        if (g && !tg_same_shape(g, outs[j])) {
            tg_tape_set_error(t, "%s: the gradient of output %d has shape %s, the output %s", fn,
                              j, tg_shape_str(g, sg, sizeof sg),
                              tg_shape_str(outs[j], so, sizeof so));
            return TG_ERR_SHAPE;
        }
    }
    return TG_OK;
}

/* The seed of output j as a tensor: its given gradient, or ones. */
static tg_tensor *seed_tensor(tg_tape *t, tg_tensor *out, tg_tensor *const *gouts, int j)
{
    if (gouts && gouts[j]) return gouts[j];
    return tg_full(t, out->ndim, out->shape, 1);
}

/* First-order tg_grad: the ordinary walk on shadows (walk_opts), whose
   gradients are the results. */
/* An input no output reaches: refused, with the two ways it happens (as
   PyTorch's "appears to not have been used in the graph"). */
static void not_reached(tg_tape *t, int i)
{
    tg_tape_set_error(t, "tg_grad: input %d is not reached by the outputs: they do not depend "
                         "on it, or it was marked with tg_requires_grad only after the ops "
                         "that read it were recorded (mark it first); pass allow_unused for "
                         "a gradient of zeros where an output truly does not depend on it", i);
}

static int grad_first_order(tg_tape *t, int n_out, tg_tensor *const *outs,
                            tg_tensor *const *gouts, int32_t last, int n_in,
                            tg_tensor *const *ins, tg_tensor **grads, const tg_grad_opts *o)
{
    leaf_slots ls = {NULL, 0, count_leaf_bound(t, last, n_out) + (size_t)n_in};
    ls.v = tg_tape_try_alloc(t, ls.cap * sizeof *ls.v);
    if (!ls.v) {
        tg_tape_set_error(t, "tg_grad: out of memory");
        return TG_ERR_NOMEM;
    }
    for (int32_t i = 0; i <= last; i++) t->grad_of[i] = NULL;
    walk_opts wo = {&ls};
    for (int j = 0; j < n_out; j++) {
        tg_tensor *s = shadow_of(t, &ls, outs[j]);
        if (!s || !seed(t, s, gouts && gouts[j] ? gouts[j]->data : NULL, &wo)) {
            tg_tape_set_error(t, "tg_grad: out of memory");
            return TG_ERR_NOMEM;
        }
    }
    bool rec = walk_begin(t);
    int st = walk_done(t, rec, walk_first_order(t, last, &wo));
    if (st != TG_OK) return st;
    for (int i = 0; i < n_in; i++) {
        const tg_tensor *x = ins[i];
        tg_tensor *s = NULL;
        if (x->rec >= 0 && x->rec <= last && t->mark[x->rec]) s = t->grad_of[x->rec];
        for (size_t k = 0; k < ls.n && !s; k++)
            if (ls.v[k].leaf == x) s = ls.v[k].grad;
        if (s && s->grad) {
            settle_grad(s); /* reached only by rules that added nothing */
            grads[i] = tg_tensor_alloc(t, "tg_grad", x->ndim, x->shape, false);
            if (!grads[i]) return TG_ERR_NOMEM;
            grads[i]->data = s->grad;
            grads[i]->flags |= TG_GRAD_RESULT; /* no record recomputes it */
        } else if (o->allow_unused) {
            grads[i] = tg_zeros(t, x->ndim, x->shape);
            if (!grads[i]) return TG_ERR_NOMEM;
        } else {
            not_reached(t, i);
            return TG_ERR_INVALID;
        }
    }
    return TG_OK;
}

int tg_grad(tg_tape *t, int n_out, tg_tensor *const *outputs, tg_tensor *const *grad_outputs,
            int n_in, tg_tensor *const *inputs, tg_tensor **grads, const tg_grad_opts *opts)
{
    if (!t) return tg_set_error(TG_ERR_INVALID, "tg_grad: the tape is NULL");
    tg_grad_opts o = opts ? *opts : (tg_grad_opts){0};
    int st = check_outputs(t, "tg_grad", n_out, outputs, grad_outputs);
    if (st != TG_OK) return st;
    if (n_in < 1 || !inputs || !grads) {
        tg_tape_set_error(t, "tg_grad: %s", n_in < 1 || !inputs ? "no inputs given"
                                                                 : "grads (the results) is NULL");
        return TG_ERR_INVALID;
    }
    for (int i = 0; i < n_in; i++) {
        grads[i] = NULL;
        if (!inputs[i]) {
            tg_tape_set_error(t, "tg_grad: input %d is NULL", i);
            return TG_ERR_INVALID;
        }
        if (!tg_tensor_usable(t, inputs[i])) {
            tg_tape_set_error(t, "tg_grad: input %d %s", i, tg_unusable_why(t, inputs[i]));
            return TG_ERR_STATE;
        }
        if (!needs_grad(inputs[i])) {
            tg_tape_set_error(t, "tg_grad: input %d does not require grad", i);
            return TG_ERR_INVALID;
        }
    }
    int32_t last = mark_reached(t, outputs, n_out);
    if (!o.create_graph)
        return grad_first_order(t, n_out, outputs, grad_outputs, last, n_in, inputs, grads, &o);

    leaf_slots ls = {NULL, 0, count_leaf_bound(t, last, n_out) + (size_t)n_in};
    ls.v = tg_tape_try_alloc(t, ls.cap * sizeof *ls.v);
    if (!ls.v) {
        tg_tape_set_error(t, "tg_grad: out of memory");
        return TG_ERR_NOMEM;
    }
    for (int32_t i = 0; i <= last; i++) t->grad_of[i] = NULL;
    for (int j = 0; j < n_out; j++) {
        tg_tensor *g = seed_tensor(t, outputs[j], grad_outputs, j);
        if (!g || !accumulate(t, &ls, outputs[j], g)) return TG_ERR_NOMEM;
    }
    st = walk_create_graph(t, last, &ls, "tg_grad");
    if (st != TG_OK) return st;
    for (int i = 0; i < n_in; i++) {
        const tg_tensor *x = inputs[i];
        tg_tensor *g = NULL;
        if (x->rec >= 0) {
            if (x->rec <= last && t->mark[x->rec]) g = t->grad_of[x->rec];
        } else {
            for (size_t k = 0; k < ls.n && !g; k++)
                if (ls.v[k].leaf == x) g = ls.v[k].grad;
        }
        if (!g && !o.allow_unused) {
            not_reached(t, i);
            return TG_ERR_INVALID;
        }
        grads[i] = g ? g : tg_zeros(t, x->ndim, x->shape);
        if (!grads[i]) return TG_ERR_NOMEM;
    }
    return TG_OK;
}

tg_tensor *tg_grad1(tg_tape *t, tg_tensor *out, tg_tensor *x, bool create_graph)
{
    if (!t) return tg_no_tape(__func__);
    if (!out || !x) {
        if (!t->failed) tg_tape_set_error(t, "tg_grad1: %s is NULL", !out ? "the output" : "x");
        return NULL;
    }
    tg_grad_opts o = {.create_graph = create_graph};
    tg_tensor *g = NULL;
    return tg_grad(t, 1, &out, NULL, 1, &x, &g, &o) == TG_OK ? g : NULL;
}

/* ------------------------------------------------ backward with create_graph */

/* Records leaf's gradient tensor for tg_tape_grad_tensor: the sum over
   every create_graph backward of this generation. */
static bool register_leaf_grad(tg_tape *t, const tg_tensor *leaf, tg_tensor *g)
{
    for (size_t i = 0; i < t->n_leaf_grads; i++)
        if (t->leaf_grads[i].leaf == leaf) { /* the add moves no leaf_grads */
            tg_tensor *sum = tg_add(t, t->leaf_grads[i].grad, g);
            if (sum) t->leaf_grads[i].grad = sum;
            return sum != NULL;
        }
    if (t->n_leaf_grads == t->cap_leaf_grads) {
        size_t cap = t->cap_leaf_grads ? 2 * t->cap_leaf_grads : 16;
        tg_leaf_grad *v = realloc(t->leaf_grads, cap * sizeof *v);
        if (!v) return false;
        t->heap_allocs++;
        t->leaf_grads = v;
        t->cap_leaf_grads = cap;
    }
    t->leaf_grads[t->n_leaf_grads++] = (tg_leaf_grad){leaf, g};
    return true;
}

int tg_backward_ex(tg_tape *t, tg_tensor *out, tg_tensor *grad_output, const tg_grad_opts *opts)
{
    if (!t) return tg_set_error(TG_ERR_INVALID, "tg_backward_ex: the tape is NULL");
    tg_grad_opts o = opts ? *opts : (tg_grad_opts){0};
    tg_tensor *gouts[1] = {grad_output};
    int st = check_outputs(t, "tg_backward_ex", 1, &out, gouts);
    if (st != TG_OK) return st;
    if (!o.create_graph) {
        if (grad_output) return tg_backward_grad(t, out, grad_output->data);
        return tg_backward(t, out);
    }
    int32_t last = mark_reached(t, &out, 1);
    leaf_slots ls = {NULL, 0, count_leaf_bound(t, last, 1)};
    ls.v = tg_tape_try_alloc(t, ls.cap * sizeof *ls.v);
    if (!ls.v) {
        tg_tape_set_error(t, "tg_backward_ex: out of memory");
        return TG_ERR_NOMEM;
    }
    for (int32_t i = 0; i <= last; i++) t->grad_of[i] = NULL;
    if (t->replay_ready) t->grads_above_mark = true; /* as in tg_backward_grad */
    tg_tensor *g = seed_tensor(t, out, gouts, 0);
    if (!g || !accumulate(t, &ls, out, g)) return TG_ERR_NOMEM;
    st = walk_create_graph(t, last, &ls, "tg_backward_ex");
    if (st != TG_OK) return st;
    /* every reached leaf: its values into .grad (accumulating, as
       tg_backward does), its tensor kept for tg_tape_grad_tensor */
    walk_opts wo = {NULL};
    for (size_t i = 0; i < ls.n; i++) {
        tg_tensor *x = (tg_tensor *)ls.v[i].leaf;
        if (!ensure_grad(t, x, &wo)) return TG_ERR_NOMEM;
        settle_grad(x);
        for (int64_t k = 0; k < x->size; k++) x->grad[k] += ls.v[i].grad->data[k];
        if (!register_leaf_grad(t, x, ls.v[i].grad)) {
            tg_tape_set_error(t, "tg_backward_ex: out of memory");
            return TG_ERR_NOMEM;
        }
    }
    return TG_OK;
}

tg_tensor *tg_tape_grad_tensor(tg_tape *t, const tg_tensor *x)
{
    if (!t) return tg_no_tape(__func__);
    if (!x) return NULL;
    for (size_t i = 0; i < t->n_leaf_grads; i++)
        if (t->leaf_grads[i].leaf == x) return t->leaf_grads[i].grad;
    return NULL;
}
