#include "replay_check.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* The case's inputs (scaled by `scale`) as leaves of t. */
static void make_inputs(tg_tape *t, const gt_case *c, double scale, tg_tensor **in)
{
    for (int k = 0; k < c->n_in; k++) {
        const gt_array *a = &c->in[k];
        in[k] = tg_zeros(t, a->ndim, a->shape);
        for (int64_t i = 0; i < a->n; i++) in[k]->data[i] = (tg_real)(scale * a->v[i]);
        if (c->has_grad[k]) tg_requires_grad(in[k], true);
    }
}

static tg_tensor *constant(tg_tape *t, const gt_array *a)
{
    tg_tensor *x = tg_zeros(t, a->ndim, a->shape);
    for (int64_t i = 0; i < a->n; i++) x->data[i] = (tg_real)a->v[i];
    return x;
}

static bool same_bits(const tg_tensor *a, const tg_tensor *b)
{
    return a && b && a->size == b->size &&
           memcmp(a->data, b->data, (size_t)a->size * sizeof(tg_real)) == 0;
}

static bool same_grad(const tg_tensor *a, const tg_tensor *b)
{
    if (!a->grad || !b->grad) return !a->grad && !b->grad;
    return memcmp(a->grad, b->grad, (size_t)a->size * sizeof(tg_real)) == 0;
}

/* The first derivatives on t after its forward: backward with dout = R into
   the inputs' .grad (zeroed first). */
static void derivatives(tg_tape *t, const gt_case *c, tg_tensor **in, tg_tensor *out)
{
    bool any = false;
    for (int k = 0; k < c->n_in; k++) any |= c->has_grad[k];
    if (!any || !(out->flags & TG_REQUIRES_GRAD)) return;
    tg_tensor *R = constant(t, &c->R);
    for (int k = 0; k < c->n_in; k++) tg_zero_grad(in[k]);
    cr_expect_eq(tg_backward_grad(t, out, R->data), TG_OK, "%s: %s", c->name, tg_tape_error(t));
}

int gt_run_replay(const gt_file *f, const char *op, gt_build_fn build)
{
    int ran = 0;
    for (int ci = 0; f && ci < f->n; ci++) {
        const gt_case *c = &f->cases[ci];
        if (strcmp(c->op, op) != 0) continue;
        ran++;
        tg_tape *a = tg_tape_new(), *b = tg_tape_new();
        /* b records the same step again, also replayable: a vjp may choose
           the form that holds for every value there (prod's) */
        tg_tape_set_replayable(a, true);
        tg_tape_set_replayable(b, true);
        tg_tensor *ia[TG_MAX_INPUTS] = {0}, *ib[TG_MAX_INPUTS] = {0};
        make_inputs(a, c, 0.999, ia);
        make_inputs(b, c, 1.0, ib);
        tg_tensor *oa = build(a, ia, c), *ob = build(b, ib, c);
        cr_expect(oa && ob, "%s: %s %s", c->name, tg_tape_error(a), tg_tape_error(b));
        if (!oa || !ob) goto next;
        /* the create_graph part of the recording: the first gradients as
           records (they replay with the forward) */
        int m = 0;
        tg_tensor *xg[TG_MAX_INPUTS], *ga[TG_MAX_INPUTS], *gb[TG_MAX_INPUTS];
        for (int k = 0; k < c->n_in; k++)
            if (c->has_grad[k] && c->order >= 2) xg[m++] = ia[k];
        bool second = m > 0 && (oa->flags & TG_REQUIRES_GRAD) && c->order >= 2 && !c->kink;
        tg_grad_opts cg = {.create_graph = true, .allow_unused = true};
        if (second) {
            tg_tensor *Ra = constant(a, &c->R);
            int st = tg_grad(a, 1, &oa, &Ra, m, xg, ga, &cg);
            cr_expect_eq(st, TG_OK, "%s: the create_graph gradient on a replayable tape: %s",
                         c->name, tg_tape_error(a));
            second = st == TG_OK;
        }
        derivatives(a, c, ia, oa); /* the recording's own backward, as a loop's step */
        /* the case's values, then the replay */
        for (int k = 0; k < c->n_in; k++)
            for (int64_t i = 0; i < c->in[k].n; i++) ia[k]->data[i] = (tg_real)c->in[k].v[i];
        cr_expect_eq(tg_tape_replay(a), TG_OK, "%s: %s", c->name, tg_tape_error(a));
        derivatives(a, c, ia, oa);
        derivatives(b, c, ib, ob);
        cr_expect(same_bits(oa, ob), "%s: the replayed output differs from a recording", c->name);
        for (int k = 0; k < c->n_in; k++) {
            cr_expect(same_grad(ia[k], ib[k]), "%s: the gradient of input %d differs", c->name, k);
            /* what an op writes into its inputs (batch norm's running
               statistics in training) */
            cr_expect(same_bits(ia[k], ib[k]), "%s: input %d differs after the replay", c->name, k);
        }
        if (second) {
            /* the replayed first gradients, against a recording's */
            int mb = 0;
            tg_tensor *xb[TG_MAX_INPUTS];
            for (int k = 0; k < c->n_in; k++)
                if (c->has_grad[k] && c->order >= 2) xb[mb++] = ib[k];
            tg_tensor *Rb = constant(b, &c->R);
            cr_assert_eq(tg_grad(b, 1, &ob, &Rb, mb, xb, gb, &cg), TG_OK, "%s", tg_tape_error(b));
            for (int j = 0; j < m; j++)
                cr_expect(same_bits(ga[j], gb[j]),
                          "%s: the replayed create_graph gradient %d differs", c->name, j);
        }
    next:
        tg_tape_free(a);
        tg_tape_free(b);
    }
    cr_expect(ran > 0, "no case of op '%s'", op);
    return ran;
}

int gt_run_replay_file_except(const gt_file *f, gt_find_fn find, const char *const *except)
{
    cr_assert_not_null(f, "no golden file");
    int cases = 0, left_out = 0;
    for (int i = 0; i < f->n; i++) {
        bool out = false;
        for (int k = 0; except && except[k] && !out; k++)
            out = strcmp(except[k], f->cases[i].op) == 0;
        left_out += out;
        if (out || !gt_first_of_op(f, i)) continue;
        gt_build_fn b = find(f->cases[i].op);
        cr_expect_not_null(b, "no builder for op %s", f->cases[i].op);
        if (b) cases += gt_run_replay(f, f->cases[i].op, b);
    }
    for (int k = 0; except && except[k]; k++) {
        bool found = false;
        for (int i = 0; i < f->n && !found; i++) found = strcmp(f->cases[i].op, except[k]) == 0;
        cr_expect(found, "no op %s to leave out", except[k]);
    }
    cr_expect_eq(cases, f->n - left_out, "%d of %d cases replayed", cases, f->n - left_out);
    return cases;
}

int gt_run_replay_file(const gt_file *f, gt_find_fn find)
{
    return gt_run_replay_file_except(f, find, NULL);
}
