/* tg_gradgradcheck: every op's second derivatives against finite
   differences of its first (at the golden files' generic points, in both
   precisions), and the planted second-order bugs it must catch: a vjp that
   forgets a term (whose first order disagrees with the backward rule's,
   which is named as the cause), and a vjp right to the first order but not
   differentiable (its result a constant). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "../ops/act_builders.h"
#include "../ops/core_builders.h"
#include "../ops/select_builders.h"
#include "ggc_check.h"

/* Every op of golden file `name` (tests/support/ggc_check.h); the newer
   families are checked by their own golden tests (tests/ops/test_golden_*.c). */
static void check_file(const char *name, gt_find_fn find)
{
    gt_file *gold = gt_load(name);
    cr_assert_not_null(gold, "tests/golden/%s_*.txt could not be read", name);
    gt_run_gradgradcheck_file(gold, find);
    gt_free(gold);
}

Test(gradgradcheck, every_core_op) { check_file("core", core_builder_of); }
Test(gradgradcheck, every_select_op) { check_file("select", select_builder_of); }
Test(gradgradcheck, every_activation) { check_file("act", builder_of); }
Test(gradgradcheck, every_loss) { check_file("loss", builder_of); }

/* ------------------------------------------------------------ planted bugs */

/* y = x·eˣ      dy/dx = (1 + x)·eˣ */
static int xexp_fwd(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++) {
        tg_real v = r->in[0]->data[i];
        r->out->data[i] = v * (tg_real)exp((double)v);
    }
    return TG_OK;
}
static void xexp_bwd(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++) {
        tg_real v = r->in[0]->data[i];
        r->in[0]->grad[i] += r->out->grad[i] * (1 + v) * (tg_real)exp((double)v);
    }
}
static int same_shape(const tg_record *r, int *nd, int64_t s[TG_MAX_DIMS], char *m, size_t l)
{
    (void)m, (void)l;
    *nd = r->in[0]->ndim;
    memcpy(s, r->in[0]->shape, (size_t)*nd * sizeof(int64_t));
    return TG_OK;
}
/* right: g·(1 + x)·eˣ with ops */
static int xexp_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *x = r->in[0];
    dx[0] = tg_mul(t, g, tg_mul(t, tg_add_scalar(t, x, 1), tg_exp(t, x)));
    return TG_OK;
}
/* forgets the x·eˣ term: g·eˣ */
static int xexp_vjp_forgets(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    dx[0] = tg_mul(t, g, tg_exp(t, r->in[0]));
    return TG_OK;
}
/* the right values, as a constant: right to the first order, and its
   second derivative is zero */
static int xexp_vjp_constant(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *v = tg_zeros(t, r->in[0]->ndim, r->in[0]->shape);
    for (int64_t i = 0; i < v->size; i++) {
        tg_real x = r->in[0]->data[i];
        v->data[i] = g->data[i] * (1 + x) * (tg_real)exp((double)x);
    }
    dx[0] = v;
    return TG_OK;
}

/* the right values, built on g detached (and on a copy of g's values):
   right to the first order and in x, but not differentiable in g, so a
   second backward through the op (an HVP of a network around it) loses
   the part that flows through g. PyTorch's gradgradcheck catches it by
   differentiating in grad_outputs too; so does tg_gradgradcheck now,
   even on the op alone (before, checked alone, it passed; found by a
   newcomer's Hessian-vector products, 295% off through a network). */
static int xexp_vjp_detached(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *x = r->in[0];
    dx[0] = tg_mul(t, tg_detach(t, g), tg_mul(t, tg_add_scalar(t, x, 1), tg_exp(t, x)));
    return TG_OK;
}
static int xexp_vjp_copied(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *x = r->in[0], *gc = tg_tensor_new(t, g->ndim, g->shape, g->data);
    dx[0] = tg_mul(t, gc, tg_mul(t, tg_add_scalar(t, x, 1), tg_exp(t, x)));
    return TG_OK;
}

static tg_op xexp = {.name = "xexp", .n_inputs = 1, .shape = same_shape, .forward = xexp_fwd,
                     .backward = xexp_bwd};

static tg_tensor *xexp_fn(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    tg_tensor *x = in[0];
    /* the op under a nonlinearity, so that its second derivative matters */
    return tg_tanh(t, tg_apply(t, &xexp, &x, 1, NULL));
}

/* the op alone, as docs/higher-order.md checks a vjp */
static tg_tensor *xexp_alone_fn(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    tg_tensor *x = in[0];
    return tg_apply(t, &xexp, &x, 1, NULL);
}

static tg_gradcheck_result check_fn(int (*vjp)(tg_tape *, const tg_record *, tg_tensor *,
                                               tg_tensor **),
                                    tg_gradcheck_fn fn)
{
    xexp.vjp = vjp;
    tg_tape *t = tg_tape_new();
    tg_real v[] = {-0.7f, 0.2f, 0.5f, -1.3f};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(4), v), true);
    tg_gradcheck_result r = tg_gradgradcheck(fn, NULL, &x, 1, NULL);
    tg_tape_free(t);
    return r;
}
static tg_gradcheck_result check_xexp(int (*vjp)(tg_tape *, const tg_record *, tg_tensor *,
                                                 tg_tensor **))
{
    return check_fn(vjp, xexp_fn);
}

Test(gradgradcheck, passes_a_right_vjp)
{
    tg_gradcheck_result r = check_xexp(xexp_vjp);
    cr_expect(r.status == TG_OK && r.ok, "%s", r.message);
    cr_expect(!strstr(r.message, "disagrees"), "%s", r.message);
}

Test(gradgradcheck, catches_a_vjp_that_forgets_a_term)
{
    tg_gradcheck_result r = check_xexp(xexp_vjp_forgets);
    cr_expect(r.status == TG_OK && !r.ok, "%s", r.message);
    /* its first order is wrong too: said as the cause */
    cr_expect(strstr(r.message, "a vjp disagrees with its backward") &&
                  strstr(r.message, "input 0 element ["),
              "%s", r.message);
}

Test(gradgradcheck, catches_a_vjp_that_is_not_differentiable)
{
    tg_gradcheck_result r = check_xexp(xexp_vjp_constant);
    cr_expect(r.status == TG_OK && !r.ok, "%s", r.message);
    cr_expect(r.failed > 0);
}

Test(gradgradcheck, catches_a_vjp_not_differentiable_in_its_output_gradient)
{
    tg_gradcheck_result r = check_fn(xexp_vjp, xexp_alone_fn);
    cr_expect(r.status == TG_OK && r.ok, "the right vjp alone: %s", r.message);
    cr_expect_eq(r.checked, 8, "4 elements of x and 4 of u, %lld", (long long)r.checked);
    int (*const bad[2])(tg_tape *, const tg_record *, tg_tensor *, tg_tensor **) = {
        xexp_vjp_detached, xexp_vjp_copied};
    for (int k = 0; k < 2; k++) {
        r = check_fn(bad[k], xexp_alone_fn);
        cr_expect(r.status == TG_OK && !r.ok, "variant %d: %s", k, r.message);
        cr_expect(r.worst_input == 1 && strstr(r.message, "input 1 'grad_output'") &&
                      strstr(r.message, "FAILED: a vjp is not differentiable in its output gradient g"),
                  "variant %d: %s", k, r.message);
        r = check_fn(bad[k], xexp_fn); /* under tanh too */
        cr_expect(r.status == TG_OK && !r.ok, "variant %d under tanh: %s", k, r.message);
    }
}

Test(gradgradcheck, names_an_op_without_vjp)
{
    tg_gradcheck_result r = check_xexp(NULL);
    cr_expect(r.status != TG_OK && !r.ok);
    cr_expect(strstr(r.message, "(xexp), whose op has no vjp rule") != NULL, "%s", r.message);
}
