/* The replay program: a recorded tape run again as a list of compact
   instructions.

     forward:   the first replay turns each record whose op has a compact form
                (tg_small_compile) into an instruction over plain pointers:
                its inputs' and output's data. A replay then calls the
                instruction instead of the op's forward, without reading the
                record or its tensors' structs; a record without one runs its
                op's forward as before (tg_replay_record). Leaves' data is read
                again at each replay (tg_tensor_rewrap, a parameter block that
                moved): their operands are patched first.
     backward:  the first backward after a replay that finds every gradient
                it needs already in place (made before the first replay, so
                that replays keep them) lists the records it reaches. Later
                backward passes from the same output zero those gradients,
                seed the output's, and call each instruction's gradient rule
                (or the record's own, for a record without a compact form);
                every rule adds. The values are those of the walk, bit for
                bit: the same rules in the same order on the same numbers
                (a gradient the walk would write on its first visit is here
                0 + g, which is what the writing rules write too).

   Anything the program cannot show to be unchanged (a leaf's gradient
   released or moved, a leaf's requires_grad switched, anomaly mode, another
   recording) sends the pass back to the ordinary replay or walk. */
#include "core/tape_internal.h"

#include <stdlib.h>

static bool needs_grad(const tg_tensor *x) { return x && (x->flags & TG_REQUIRES_GRAD); }

/* Grows *v (elem bytes each) to hold need, counting the tape's allocations. */
static bool reserve(tg_tape *t, void **v, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *p = realloc(*v, c * elem);
    if (!p) return false;
    *v = p;
    *cap = c;
    t->heap_allocs++;
    return true;
}

void tg_program_forget(tg_tape *t)
{
    t->prog.built = false;
    t->prog.bwd_out = NULL;
}

void tg_program_free(tg_tape *t)
{
    tg_program *p = &t->prog;
    free(p->ins);
    free(p->pool);
    free(p->patch);
    free(p->attrs);
    free(p->zeros);
    free(p->rules);
    free(p->leaves);
    free(p->place);
    free(p->vals);
    free(p->grads);
    memset(p, 0, sizeof *p);
}

/* Whether x's data stays where the recording left it: a leaf's is patched
   at each replay, a record's output's is fixed, but a view's (TG_OP_ALIAS)
   is set again by its record's replay. */
static bool fixed_data(const tg_tape *t, const tg_tensor *x)
{
    return !x || x->rec < 0 || !(t->recs[x->rec].op->flags & TG_OP_ALIAS);
}

enum { SMALL_OUT = 64 }; /* outputs of at most this many values are moved together */

/* Moves the data of the small outputs of compact records that only compact
   records read (whose pointers the program holds; another op's record could
   have kept the old address) into p->vals, one after the other. Done once a
   generation: the tensors then point there until the tape is reset. */
static bool pack_values(tg_tape *t)
{
    tg_program *p = &t->prog;
    uint32_t gen = tg_tape_generation(t);
    if (p->vals_used && p->vals_gen == gen) return true; /* moved already */
    if (!reserve(t, (void **)&p->place, &p->cap_place, t->n_recs, sizeof *p->place))
        return false;
    for (size_t i = 0; i < t->n_recs; i++) /* -1: stays; -2: read by an op's own forward */
        p->place[i] = p->ins[i].fwd && t->recs[i].out->size <= SMALL_OUT ? -1 : -2;
    for (size_t i = 0; i < t->n_recs; i++) {
        const tg_record *r = &t->recs[i];
        if (p->ins[i].fwd) continue;
        for (int k = 0; k < r->n_in; k++)
            if (r->in[k] && r->in[k]->rec >= 0) p->place[r->in[k]->rec] = -2;
    }
    size_t n = 0;
    for (size_t i = 0; i < t->n_recs; i++)
        if (p->place[i] == -1) p->place[i] = (int64_t)n, n += (size_t)t->recs[i].out->size;
        else p->place[i] = -1;
    /* the tensors of an earlier generation that pointed there are gone: the
       arrays are reused (a loop that records and replays anew after each
       reset allocates nothing once they are large enough) */
    p->vals_used = false;
    if (!reserve(t, (void **)&p->vals, &p->cap_vals, n ? n : 1, sizeof *p->vals) ||
        !reserve(t, (void **)&p->grads, &p->cap_grads, n ? n : 1, sizeof *p->grads))
        return false;
    tg_real *v = p->vals;
    p->n_vals = n, p->n_place = t->n_recs;
    p->vals_gen = gen, p->vals_used = true;
    for (size_t i = 0; i < t->n_recs; i++) {
        if (p->place[i] < 0) continue;
        tg_tensor *out = t->recs[i].out;
        memcpy(v + p->place[i], out->data, (size_t)out->size * sizeof *v);
        out->data = v + p->place[i];
    }
    return true;
}

/* The record attributes the instructions read, in a block of their own
   (p->attrs), in record order: an instruction's attributes then come in
   the same stream as the instructions, where the records' own are spread
   over the arena (half of softplus's gradient rule in the scalar graph was
   the miss on its threshold). An instruction reads its record's attributes
   when its attr is r->attr (a scale in the same union is a double of 1 or
   1/n, never a user-space address); they never change after tg_apply. */
static size_t attr_units(const tg_record *r)
{
    return (r->op->attr_size + sizeof(max_align_t) - 1) / sizeof(max_align_t);
}

static bool pack_attrs(tg_tape *t)
{
    tg_program *p = &t->prog;
    size_t units = 0;
    for (size_t i = 0; i < t->n_recs; i++)
        if (p->ins[i].fwd && t->recs[i].attr && p->ins[i].attr == t->recs[i].attr)
            units += attr_units(&t->recs[i]);
    if (!reserve(t, (void **)&p->attrs, &p->cap_attrs, units ? units : 1, sizeof *p->attrs))
        return false;
    size_t at = 0;
    for (size_t i = 0; i < t->n_recs; i++) {
        const tg_record *r = &t->recs[i];
        tg_small *s = &p->ins[i];
        if (!s->fwd || !r->attr || s->attr != r->attr) continue;
        memcpy(p->attrs + at, r->attr, r->op->attr_size);
        s->attr = p->attrs + at;
        at += attr_units(r);
    }
    return true;
}

/* The instructions of the recording (false if out of memory). */
static bool build_forward(tg_tape *t)
{
    tg_program *p = &t->prog;
    tg_program_forget(t);
    if (!reserve(t, (void **)&p->ins, &p->cap_ins, t->n_recs, sizeof *p->ins)) return false;
    size_t slots = 0;
    for (size_t i = 0; i < t->n_recs; i++) { /* which records have a compact form */
        const tg_record *r = &t->recs[i];
        tg_small *s = &p->ins[i];
        *s = (tg_small){.n = (int32_t)(r->out->size > INT32_MAX ? 0 : r->out->size),
                        .n_in = r->n_in};
        bool ok = r->out->size <= INT32_MAX &&
                  !(r->op->flags & (TG_OP_ALIAS | TG_OP_CHECK_ON_REPLAY | TG_OP_IMPURE));
        for (int k = 0; k < r->n_in && ok; k++) ok = fixed_data(t, r->in[k]);
        if (!ok || !tg_small_compile(r, s)) s->fwd = s->bwd = NULL; /* the record runs its op */
        else slots += 2 * (size_t)s->n_in;
    }
    if (!reserve(t, (void **)&p->pool, &p->cap_pool, slots, sizeof *p->pool) ||
        !reserve(t, (void **)&p->patch, &p->cap_patch, slots / 2, sizeof *p->patch) ||
        !pack_values(t) || !pack_attrs(t))
        return false;
    p->n_pool = p->n_patch = 0;
    for (size_t i = 0; i < t->n_recs; i++) { /* their operands, where the data now is */
        const tg_record *r = &t->recs[i];
        tg_small *s = &p->ins[i];
        s->y = r->out->data;
        if (!s->fwd) continue;
        s->x = p->pool + p->n_pool;
        for (int k = 0; k < s->n_in; k++) { /* an op reads its first n_in inputs */
            const tg_tensor *x = r->in[k];
            s->x[k] = x ? x->data : NULL;
            s->x[s->n_in + k] = NULL; /* gradients: the backward program's */
            if (x && x->rec < 0) p->patch[p->n_patch++] = (tg_patch){p->n_pool + (size_t)k, x};
        }
        p->n_pool += 2 * (size_t)s->n_in;
    }
    p->built = true;
    p->gen = tg_tape_generation(t);
    p->n_recs = t->n_recs;
    return true;
}

int tg_program_replay(tg_tape *t)
{
    tg_program *p = &t->prog;
    if (!t->anomaly && !(p->built && p->gen == tg_tape_generation(t) && p->n_recs == t->n_recs) &&
        !build_forward(t))
        tg_program_forget(t); /* out of memory: the records run as they are */
    bool compact = p->built && !t->anomaly; /* anomaly mode checks every record's output */
    tg_tape_repoint_detached(t); /* after build_forward, which may move their sources */
    if (compact)
        for (size_t j = 0; j < p->n_patch; j++) p->pool[p->patch[j].slot] = p->patch[j].leaf->data;
    for (size_t i = 0; i < t->n_recs; i++) {
        if (compact && p->ins[i].fwd) {
            p->ins[i].fwd(&p->ins[i]);
            continue;
        }
        int st = tg_replay_record(t, i);
        if (st != TG_OK) return st;
    }
    return TG_OK;
}

/* The gradient memory a leaf that needs one will have: its own, or a
   released parameter's in its registry. NULL if it has none yet (a tape
   leaf whose gradient would be made now, above the replay mark). */
static tg_real *leaf_grad(const tg_tensor *x)
{
    if (x->grad) return (x->tape && !(x->flags & TG_GRAD_KEPT)) ? NULL : x->grad;
    return (x->flags & TG_PARAM) && !x->tape ? tg_param_grad_home(x) : NULL;
}

/* Adds leaf x to the backward program's checks once (false if out of memory). */
static bool add_leaf(tg_tape *t, tg_tensor *x, tg_real *grad)
{
    tg_program *p = &t->prog;
    for (size_t j = 0; j < p->n_leaves; j++)
        if (p->leaves[j].leaf == x) return true;
    if (!reserve(t, (void **)&p->leaves, &p->cap_leaves, p->n_leaves + 1, sizeof *p->leaves))
        return false;
    p->leaves[p->n_leaves++] = (tg_leaf_check){x, grad};
    return true;
}

/* The backward program from out: false when some gradient it needs is not
   in place (or out of memory). */
static bool build_backward(tg_tape *t, tg_tensor *out)
{
    tg_program *p = &t->prog;
    p->bwd_out = NULL;
    int32_t last = tg_mark_reached(t, &out, 1);
    if (last < 0 ||
        !reserve(t, (void **)&p->zeros, &p->cap_zeros, (size_t)last + 1, sizeof *p->zeros) ||
        !reserve(t, (void **)&p->rules, &p->cap_rules, (size_t)last + 1, sizeof *p->rules))
        return false;
    p->n_zeros = p->n_rules = p->n_leaves = 0;
    for (int32_t i = last; i >= 0; i--) { /* packed values get packed gradients */
        tg_tensor *o = t->recs[i].out;
        if (!t->mark[i] || !p->vals_used || (size_t)i >= p->n_place || p->place[i] < 0 ||
            !o->grad || !(o->flags & TG_GRAD_KEPT) || o->grad == p->grads + p->place[i])
            continue;
        memcpy(p->grads + p->place[i], o->grad, (size_t)o->size * sizeof(tg_real));
        o->grad = p->grads + p->place[i]; /* still kept by the replays */
    }
    for (int32_t i = last; i >= 0; i--) {
        if (!t->mark[i]) continue;
        const tg_record *r = &t->recs[i];
        tg_small *s = &p->ins[i];
        if (!r->out->grad || !(r->out->flags & TG_GRAD_KEPT)) return false;
        s->gy = r->out->grad;
        bool compact = s->fwd && s->bwd, any = false;
        for (int k = 0; k < r->n_in; k++) {
            tg_tensor *x = r->in[k];
            tg_real *g = NULL;
            if (needs_grad(x)) {
                g = x->rec >= 0 ? ((x->flags & TG_GRAD_KEPT) ? x->grad : NULL) : leaf_grad(x);
                if (!g || (x->rec < 0 && !add_leaf(t, x, g))) return false;
                any = true;
            } else if (x && x->rec < 0 && !add_leaf(t, x, NULL)) {
                return false;
            }
            if (compact && k < s->n_in) tg_small_gx(s)[k] = g;
        }
        if (!p->vals_used || (size_t)i >= p->n_place || p->place[i] < 0 ||
            s->gy != p->grads + p->place[i])
            p->zeros[p->n_zeros++] = i; /* not among the packed gradients */
        if (!compact || any) p->rules[p->n_rules++] = i;
    }
    p->bwd_out = out;
    p->sweeps_seen = t->fresh_sweeps - 1; /* clear the flags on the first run */
    return true;
}

bool tg_program_backward(tg_tape *t, tg_tensor *out, const tg_real *dout, int *status)
{
    tg_program *p = &t->prog;
    if (!p->built || p->gen != tg_tape_generation(t) || p->n_recs != t->n_recs ||
        !t->replay_ready || out->rec < 0)
        return false;
    if (p->bwd_out != out && !build_backward(t, out)) return false;
    /* the leaves as the program found them: the same need of a gradient,
       in the same memory */
    for (size_t j = 0; j < p->n_leaves; j++) {
        const tg_leaf_check *c = &p->leaves[j];
        if (needs_grad(c->leaf) != (c->grad != NULL) ||
            (c->grad && leaf_grad(c->leaf) != c->grad)) {
            p->bwd_out = NULL; /* rebuilt by the next backward, if it can be */
            return false;
        }
    }
    for (size_t j = 0; j < p->n_leaves; j++) {
        tg_tensor *x = p->leaves[j].leaf;
        if (!p->leaves[j].grad) continue;
        if (!x->grad) x->grad = p->leaves[j].grad; /* a released parameter's, as backward does */
        else if (!(x->flags & TG_GRAD_FRESH)) continue;
        memset(x->grad, 0, (size_t)x->size * sizeof(tg_real));
        x->flags &= ~TG_GRAD_FRESH;
    }
    bool sweep = p->sweeps_seen != t->fresh_sweeps; /* flags set by others since */
    if (p->vals_used) /* the packed gradients (those of records it does not reach too) */
        memset(p->grads, 0, p->n_vals * sizeof(tg_real));
    if (sweep)
        for (int32_t i = 0; i < (int32_t)p->n_place; i++)
            if (p->place[i] >= 0 && t->recs[i].out->grad == p->grads + p->place[i])
                t->recs[i].out->flags &= ~TG_GRAD_FRESH;
    for (size_t k = 0; k < p->n_zeros; k++) {
        const tg_small *s = &p->ins[p->zeros[k]];
        int64_t n = s->fwd ? s->n : t->recs[p->zeros[k]].out->size;
        if (n <= 8) /* most of a scalar program's: no call */
            for (int64_t j = 0; j < n; j++) s->gy[j] = 0;
        else
            memset(s->gy, 0, (size_t)n * sizeof(tg_real));
        if (sweep) t->recs[p->zeros[k]].out->flags &= ~TG_GRAD_FRESH;
    }
    p->sweeps_seen = t->fresh_sweeps;
    for (int64_t i = 0; i < out->size; i++) out->grad[i] += dout[i];
    for (size_t k = 0; k < p->n_rules; k++) {
        int32_t i = p->rules[k];
        const tg_small *s = &p->ins[i];
        if (s->fwd && s->bwd) {
            s->bwd(s);
            continue;
        }
        int st = tg_run_rule(t, i);
        if (st != TG_OK) {
            *status = st;
            return true;
        }
    }
    *status = TG_OK;
    return true;
}
