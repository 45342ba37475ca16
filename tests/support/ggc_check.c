#include "ggc_check.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A golden case as the checker's function: builds the case's op on the
   checker's copies of its inputs, and squares its output if `square`. */
typedef struct {
    gt_build_fn build;
    const gt_case *c;
    bool square;
} case_fn;

static tg_tensor *run_case(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    const case_fn *f = ctx;
    tg_tensor *x[TG_MAX_INPUTS];
    for (int k = 0; k < f->c->n_in; k++) x[k] = in[k];
    tg_tensor *y = f->build(t, x, f->c);
    return f->square ? tg_square(t, y) : y;
}

/* The elements of the inputs with a gradient. */
static int64_t grad_elems(const gt_case *c)
{
    int64_t n = 0;
    for (int k = 0; k < c->n_in; k++)
        if (c->has_grad[k]) n += c->in[k].n;
    return n;
}

static int64_t case_size(const gt_case *c)
{
    int64_t n = 0;
    for (int k = 0; k < c->n_in; k++) n += c->in[k].n;
    return n;
}

/* PyTorch's second derivative along V is not zero somewhere: above
   10⁻⁶·(1 + the largest first derivative), what its rounding leaves where
   the exact value is zero (the norm of a 0-d x, |x|, has gg of 1e-9 in
   float). */
static bool curved(const gt_case *c)
{
    double g = 0;
    for (int k = 0; k < c->n_in; k++)
        for (int64_t i = 0; c->has_grad[k] && i < c->grad[k].n; i++)
            g = fmax(g, fabs(c->grad[k].v[i]));
    for (int k = 0; k < c->n_in; k++)
        for (int64_t i = 0; c->has_gg[k] && i < c->gg[k].n; i++)
            if (fabs(c->gg[k].v[i]) > 1e-6 * (1 + g)) return true;
    return false;
}

static bool listed(const char *name, const char *const *list)
{
    for (int i = 0; list && list[i]; i++)
        if (strcmp(list[i], name) == 0) return true;
    return false;
}

/* The case of op `op` to check, or NULL: among the comparable ones (order
   >= 2, not at a kink, an input with a gradient, an output not empty, not
   in `except`), the smallest whose golden second derivative is not zero;
   if there is none (the op is linear, or piecewise linear, wherever the
   file has it), the smallest with two or more elements to differentiate,
   or else the smallest, to check squared (*square set). */
static const gt_case *pick(const gt_file *f, const char *op, const char *const *except,
                           bool *square)
{
    const gt_case *best[3] = {NULL, NULL, NULL}; /* curved, two elements or more, any */
    for (int i = 0; i < f->n; i++) {
        const gt_case *c = &f->cases[i];
        if (strcmp(c->op, op) != 0 || c->order < 2 || c->kink || grad_elems(c) == 0 ||
            c->out.n == 0 || listed(c->name, except))
            continue;
        bool fits[3] = {curved(c), grad_elems(c) >= 2, true};
        for (int k = 0; k < 3; k++)
            if (fits[k] && (!best[k] || case_size(c) < case_size(best[k]))) best[k] = c;
    }
    *square = !best[0];
    return best[0] ? best[0] : best[1] ? best[1] : best[2];
}

/* tg_gradgradcheck of case c (its output squared if `square`), with the
   defaults. */
static tg_gradcheck_result check_case(const gt_case *c, gt_build_fn build, bool square)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *in[TG_MAX_INPUTS];
    for (int k = 0; k < c->n_in; k++) {
        in[k] = tg_zeros(t, c->in[k].ndim, c->in[k].shape);
        for (int64_t e = 0; e < c->in[k].n; e++) in[k]->data[e] = (tg_real)c->in[k].v[e];
        if (c->has_grad[k]) tg_requires_grad(in[k], true);
    }
    case_fn f = {build, c, square};
    tg_gradcheck_result r = tg_gradgradcheck(run_case, &f, in, c->n_in, NULL);
    tg_tape_free(t);
    return r;
}

int gt_run_gradgradcheck_file_except(const gt_file *f, gt_find_fn find,
                                     const char *const *except)
{
    cr_assert_not_null(f, "no golden file");
    for (int i = 0; except && except[i]; i++) {
        bool found = false;
        for (int j = 0; j < f->n && !found; j++) found = strcmp(f->cases[j].name, except[i]) == 0;
        cr_expect(found, "no case %s to leave out", except[i]);
    }
    int ops = 0;
    for (int i = 0; i < f->n; i++) {
        if (!gt_first_of_op(f, i)) continue;
        const char *op = f->cases[i].op;
        gt_build_fn build = find(op);
        cr_expect_not_null(build, "no builder for op %s", op);
        bool square;
        const gt_case *c = pick(f, op, except, &square);
        if (!build || !c) continue;
        /* A second derivative that is zero wherever the file has the op
           (a linear op, or piecewise linear away from its kinks) is
           compared as zero against zero, or not at all (the checker's
           "does not depend"): a vjp returning a constant would pass.
           Squared, op(x)², the op's vjp gets an upstream gradient 2·y·u
           that depends on x, and its records must carry that dependence. */
        tg_gradcheck_result r = check_case(c, build, square);
        if (!square && r.status != TG_OK && strstr(r.message, "does not depend"))
            r = check_case(c, build, square = true);
        if (getenv("GGC_DEBUG"))
            fprintf(stderr, "GGC %s %s sq=%d checked=%ld: %s\n", op, c->name, square,
                    (long)r.checked, r.message);
        cr_expect(r.status == TG_OK && r.ok, "%s (%s%s): %s", op, c->name,
                  square ? ", squared" : "", r.message);
        ops++;
    }
    cr_expect(ops > 0, "no op was checked");
    return ops;
}

int gt_run_gradgradcheck_file(const gt_file *f, gt_find_fn find)
{
    return gt_run_gradgradcheck_file_except(f, find, NULL);
}
