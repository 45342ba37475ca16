/* Higher-order gradients: tg_grad, the create_graph walk and how it works
   with the rest of the engine (no_grad, custom ops, anomaly mode, released
   gradients, the arena). The ops' rules themselves are checked against
   PyTorch to the second and third order in tests/ops. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include <tapegrad.h>

static tg_tape *t;
static void setup(void) { t = tg_tape_new(); }
static void teardown(void) { tg_tape_free(t); }
TestSuite(higher, .init = setup, .fini = teardown);

#define TOL (sizeof(tg_real) == 4 ? 1e-5 : 1e-12)

static void expect_near(double got, double want, const char *what, int i)
{
    cr_expect(fabs(got - want) <= TOL * (1 + fabs(want)), "%s[%d] = %.17g, want %.17g", what, i,
              got, want);
}

/* tg_grad gives what tg_backward gives, and leaves every .grad alone. */
Test(higher, grad_equals_backward_and_leaves_dot_grad_alone)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(3));
    tg_real wv[] = {0.5f, -1, 2}, xv[] = {1, 2, 3};
    memcpy(w->data, wv, sizeof wv);
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3), xv), true);
    tg_tensor *y = tg_sum(t, tg_tanh(t, tg_mul(t, w, x)), TG_ALL, false);
    tg_params_zero_grad(p);
    w->grad[0] = 7; /* an accumulated value that must stay */
    tg_tensor *in[2] = {w, x}, *g[2];
    cr_assert_eq(tg_grad(t, 1, &y, NULL, 2, in, g, NULL), TG_OK, "%s", tg_tape_error(t));
    cr_expect_eq(w->grad[0], 7);
    cr_expect_null(x->grad, "x->grad untouched");
    cr_assert_eq(tg_backward(t, y), TG_OK);
    for (int i = 0; i < 3; i++) {
        expect_near(g[0]->data[i], w->grad[i] - (i == 0 ? 7 : 0), "dw", i);
        expect_near(g[1]->data[i], x->grad[i], "dx", i);
    }
    tg_params_free(p);
}

/* A tape that holds an error gives no gradient until it is cleared: a
   result recorded after the failure may lack a part (a mask whose making
   failed reads as no mask). Each refusal says so after the error's own
   message, the cause, and once cleared every call runs. (The create_graph
   walk had taken such an error for its own rules' failure: tg_grad1 gave
   NULL and tg_hvp TG_ERR_STATE with the old message and no word why, while
   tg_backward ran.) */
Test(higher, a_held_error_stops_gradients_until_cleared)
{
    cr_assert_null(tg_tensor_new(t, TG_SHAPE(2), NULL));
    char before[512];
    snprintf(before, sizeof before, "%s", tg_tape_error(t));
    cr_assert(before[0] != '\0');
    tg_real xv[] = {1, 2};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2), xv), true);
    tg_tensor *y = tg_sum(t, tg_mul(t, tg_square(t, x), x), TG_ALL, false); /* Σ x³ */
    tg_tensor *v = tg_ones(t, TG_SHAPE(2)), *hv = NULL;
    cr_expect_eq(tg_backward(t, y), TG_ERR_STATE);
    cr_expect_null(tg_grad1(t, y, x, true));
    cr_expect_eq(tg_hvp(t, y, 1, &x, &v, &hv, NULL), TG_ERR_STATE);
    const char *e = tg_tape_error(t);
    cr_expect(strncmp(e, before, strlen(before)) == 0, "the cause first: %s", e);
    cr_expect(strstr(e, "not run while the tape holds this error") &&
                  strstr(e, "tg_tape_clear_error"), "and why nothing ran: %s", e);
    const char *said = strstr(e, "not run while");
    cr_expect(said && !strstr(said + 1, "not run while"), "said once: %s", e);
    tg_tape_clear_error(t);
    tg_tensor *g = tg_grad1(t, y, x, true);
    cr_assert_not_null(g, "tg_grad1 with create_graph: %s", tg_tape_error(t));
    cr_assert_eq(tg_hvp(t, y, 1, &x, &v, &hv, NULL), TG_OK, "%s", tg_tape_error(t));
    for (int i = 0; i < 2; i++) {
        expect_near(g->data[i], 3 * xv[i] * xv[i], "dy/dx", i);
        expect_near(hv->data[i], 6 * xv[i], "H·1", i);
    }
}

/* The drivers name themselves and what is wrong, not the tg_grad they call
   (which would ask a scalar function for grad_outputs, or say the output
   needs no gradient when x was not marked). */
static void expect_driver_error(int st, const char *want)
{
    cr_expect_neq(st, TG_OK, "refused: %s", want);
    cr_expect(strstr(tg_tape_error(t), want) != NULL, "'%s' in '%s'", want, tg_tape_error(t));
    tg_tape_clear_error(t);
}

Test(higher, drivers_name_their_own_errors)
{
    tg_real xv[] = {1, 2, 3};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3), xv), true);
    tg_tensor *c = tg_tensor_new(t, TG_SHAPE(3), xv); /* not marked */
    tg_tensor *v = tg_ones(t, TG_SHAPE(3)), *v2 = tg_ones(t, TG_SHAPE(2)), *r = NULL;
    tg_tensor *sq = tg_square(t, x), *y = tg_sum(t, sq, TG_ALL, false);
    tg_tensor *yc = tg_sum(t, tg_square(t, c), TG_ALL, false);
    expect_driver_error(tg_hvp(t, sq, 1, &x, &v, &r, NULL),
                        "tg_hvp: the output must have one element");
    expect_driver_error(tg_hvp(t, yc, 1, &c, &v, &r, NULL),
                        "tg_hvp: input 0 does not require grad");
    expect_driver_error(tg_jvp(t, sq, 1, &c, &v, &r, NULL),
                        "tg_jvp: input 0 does not require grad");
    expect_driver_error(tg_hvp(t, y, 1, &x, &v2, &r, NULL), "tg_hvp: v[0] [2] must have the shape");
    cr_expect_eq(tg_hvp(t, y, 1, &x, &v, &r, NULL), TG_OK, "%s", tg_tape_error(t));
    /* a v of another tape: named, TG_ERR_STATE (it was "out of memory",
       naming tg_reshape; found by a newcomer) */
    tg_tape *other = tg_tape_new();
    tg_tensor *vo = tg_ones(other, TG_SHAPE(3));
    cr_expect_eq(tg_hvp(t, y, 1, &x, &vo, &r, NULL), TG_ERR_STATE);
    cr_expect(strstr(tg_tape_error(t), "tg_hvp: v[0] ") && !strstr(tg_tape_error(t), "memory"),
              "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_eq(tg_jvp(t, y, 1, &x, &vo, &r, NULL), TG_ERR_STATE);
    cr_expect(strstr(tg_tape_error(t), "tg_jvp: v[0] "), "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    tg_tape_free(other);
    /* NULL where a tensor is due: refused by name (they were dereferenced;
       found by a misuse fuzzer) */
    tg_tensor *none = NULL;
    expect_driver_error(tg_hvp(t, y, 1, &x, NULL, &r, NULL), "tg_hvp: v (the direction) is NULL");
    expect_driver_error(tg_hvp(t, y, 1, &x, &none, &r, NULL), "tg_hvp: v[0] is NULL");
    expect_driver_error(tg_jvp(t, sq, 1, &x, &none, &r, NULL), "tg_jvp: v[0] is NULL");
    expect_driver_error(tg_jacobian(t, sq, 1, &none, &r, NULL), "tg_jacobian: x[0] is NULL");
    expect_driver_error(tg_hessian(t, y, 1, &none, &r, NULL), "tg_hessian: x[0] is NULL");
}

/* tanh to the fourth order, against its closed forms in y = tanh x:
   y' = 1 − y², y'' = −2y(1 − y²), y''' = −2(1 − y²)(1 − 3y²),
   y'''' = 8y(1 − y²)(2 − 3y²). */
Test(higher, any_order)
{
    tg_real xv[] = {-1.5f, -0.2f, 0.3f, 1.1f};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(4), xv), true);
    tg_tensor *d = tg_tanh(t, x);
    for (int order = 1; order <= 4; order++) {
        d = tg_grad1(t, tg_sum(t, d, TG_ALL, false), x, order < 4);
        cr_assert_not_null(d, "order %d: %s", order, tg_tape_error(t));
        for (int i = 0; i < 4; i++) {
            double y = tanh((double)xv[i]), s = 1 - y * y, want;
            if (order == 1) want = s;
            else if (order == 2) want = -2 * y * s;
            else if (order == 3) want = -2 * s * (1 - 3 * y * y);
            else want = 8 * y * s * (2 - 3 * y * y);
            char what[32];
            snprintf(what, sizeof what, "order %d", order);
            expect_near(d->data[i], want, what, i);
        }
    }
}

Test(higher, unused_inputs_are_an_error_or_zeros)
{
    tg_tensor *a = tg_requires_grad(tg_ones(t, TG_SHAPE(2)), true);
    tg_tensor *b = tg_requires_grad(tg_ones(t, TG_SHAPE(3)), true);
    tg_tensor *y = tg_sum(t, tg_square(t, a), TG_ALL, false);
    tg_tensor *in[2] = {a, b}, *g[2];
    for (int cg = 0; cg < 2; cg++) {
        tg_grad_opts o = {.create_graph = cg};
        cr_expect_eq(tg_grad(t, 1, &y, NULL, 2, in, g, &o), TG_ERR_INVALID);
        cr_expect(strstr(tg_tape_error(t), "input 1 is not reached") != NULL &&
                      strstr(tg_tape_error(t), "marked with tg_requires_grad only after"),
                  "%s", tg_tape_error(t));
        tg_tape_clear_error(t);
        o.allow_unused = true;
        cr_assert_eq(tg_grad(t, 1, &y, NULL, 2, in, g, &o), TG_OK, "%s", tg_tape_error(t));
        cr_expect(g[1]->size == 3 && g[1]->data[0] == 0 && g[1]->data[2] == 0);
        cr_expect(g[0]->data[0] == 2);
    }
}

/* ----------------------------------------------------------- custom ops */

/* cube(x) = x³ with a backward but, in the first op, no vjp */
static int cube_fwd(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++) {
        tg_real v = r->in[0]->data[i];
        r->out->data[i] = v * v * v;
    }
    return TG_OK;
}
static void cube_bwd(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++) {
        tg_real v = r->in[0]->data[i];
        r->in[0]->grad[i] += r->out->grad[i] * 3 * v * v;
    }
}
static int same(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *m, size_t l)
{
    (void)m, (void)l;
    *ndim = r->in[0]->ndim;
    memcpy(shape, r->in[0]->shape, (size_t)*ndim * sizeof(int64_t));
    return TG_OK;
}
static int cube_vjp(tg_tape *tp, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    dx[0] = tg_mul(tp, g, tg_scale(tp, tg_square(tp, r->in[0]), 3));
    return TG_OK;
}
static int cube_vjp_bad_shape(tg_tape *tp, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    (void)r;
    dx[0] = tg_sum(tp, g, TG_ALL, false);
    return TG_OK;
}

Test(higher, a_custom_op_without_vjp_is_named)
{
    tg_op cube = {.name = "cube", .n_inputs = 1, .shape = same, .forward = cube_fwd,
                  .backward = cube_bwd};
    tg_tensor *x = tg_requires_grad(tg_full(t, TG_SHAPE(2), 2), true);
    tg_tensor *y = tg_sum(t, tg_apply(t, &cube, &x, 1, NULL), TG_ALL, false);
    tg_tensor *g = tg_grad1(t, y, x, false); /* first order: fine */
    cr_assert_not_null(g, "%s", tg_tape_error(t));
    cr_expect_eq(g->data[0], 12);
    cr_expect_null(tg_grad1(t, y, x, true));
    cr_expect(strstr(tg_tape_error(t), "(cube), whose op has no vjp rule") != NULL, "%s",
              tg_tape_error(t));
    tg_tape_clear_error(t);
    cube.vjp = cube_vjp; /* with one: d²/dx² Σx³ = 6x */
    y = tg_sum(t, tg_apply(t, &cube, &x, 1, NULL), TG_ALL, false);
    tg_tensor *h = tg_grad1(t, tg_sum(t, tg_grad1(t, y, x, true), TG_ALL, false), x, false);
    cr_assert_not_null(h, "%s", tg_tape_error(t));
    cr_expect_eq(h->data[1], 12);
    cube.vjp = cube_vjp_bad_shape;
    y = tg_sum(t, tg_apply(t, &cube, &x, 1, NULL), TG_ALL, false);
    cr_expect_null(tg_grad1(t, y, x, true));
    cr_expect(strstr(tg_tape_error(t), "the vjp rule of cube gave input 0 a gradient of shape []")
                  != NULL,
              "%s", tg_tape_error(t));
}

/* ------------------------------------------------------ with the rest */

/* backward with create_graph: .grad gets the values, tg_tape_grad_tensor
   the differentiable tensor; a second such backward adds to both. */
Test(higher, backward_with_create_graph)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(2));
    w->data[0] = 1, w->data[1] = -2;
    tg_params_release_grad(p); /* a released gradient comes back written */
    tg_grad_opts o = {.create_graph = true};
    tg_tensor *y = tg_sum(t, tg_pow(t, w, 3), TG_ALL, false);
    cr_assert_eq(tg_backward_ex(t, y, NULL, &o), TG_OK, "%s", tg_tape_error(t));
    cr_expect(w->grad && w->grad[0] == 3 && w->grad[1] == 12);
    cr_assert_eq(tg_backward_ex(t, y, NULL, &o), TG_OK);
    cr_expect(w->grad[0] == 6 && w->grad[1] == 24, "accumulates as tg_backward does");
    tg_tensor *gw = tg_tape_grad_tensor(t, w); /* 2·3w², differentiable */
    cr_assert_not_null(gw);
    cr_expect(gw->data[1] == 24);
    tg_tensor *h = tg_grad1(t, tg_sum(t, gw, TG_ALL, false), w, false); /* 12w */
    cr_assert_not_null(h, "%s", tg_tape_error(t));
    cr_expect(h->data[0] == 12 && h->data[1] == -24);
    tg_tape_reset(t);
    cr_expect_null(tg_tape_grad_tensor(t, w), "forgotten at reset");
    tg_params_free(p);
}

/* With recording off (no_grad), a create_graph pass records nothing: its
   gradients are constants, as the first-order ones. */
Test(higher, create_graph_under_no_grad_gives_constants)
{
    tg_tensor *x = tg_requires_grad(tg_full(t, TG_SHAPE(2), 3), true);
    tg_tensor *y = tg_sum(t, tg_square(t, x), TG_ALL, false);
    bool was = tg_tape_set_recording(t, false);
    tg_tensor *g = tg_grad1(t, y, x, true);
    tg_tape_set_recording(t, was);
    cr_assert_not_null(g, "%s", tg_tape_error(t));
    cr_expect_eq(g->data[0], 6);
    cr_expect(!(g->flags & TG_REQUIRES_GRAD), "no record, no further gradient");
    /* detach cuts the gradient too */
    tg_tensor *d = tg_detach(t, tg_grad1(t, y, x, true));
    cr_expect(!(d->flags & TG_REQUIRES_GRAD));
}

/* relu's gradient is a 0/1 mask times the incoming gradient: with a
   constant incoming gradient it is a constant (docs/higher-order.md), and
   a second tg_grad is refused as for any constant; with a differentiable
   one (x·relu(x)), the second derivative goes through the mask, 2 where
   x > 0 and 0 elsewhere. */
Test(higher, relu_gradient_is_a_constant_mask)
{
    tg_tensor *x = tg_tensor_new(t, TG_SHAPE(3), (tg_real[]){-1, 0.5, 2});
    tg_requires_grad(x, true);
    tg_tensor *g = tg_grad1(t, tg_sum(t, tg_relu(t, x), TG_ALL, false), x, true);
    cr_assert_not_null(g, "%s", tg_tape_error(t));
    cr_expect(g->data[0] == 0 && g->data[1] == 1 && g->data[2] == 1);
    cr_expect(!(g->flags & TG_REQUIRES_GRAD), "a constant mask needs no gradient");
    cr_expect_null(tg_grad1(t, tg_sum(t, g, TG_ALL, false), x, false));
    cr_expect(strstr(tg_tape_error(t), "does not require grad"), "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    tg_tensor *y = tg_sum(t, tg_mul(t, x, tg_relu(t, x)), TG_ALL, false);
    tg_tensor *d = tg_grad1(t, y, x, true);
    cr_assert_not_null(d, "%s", tg_tape_error(t));
    cr_expect(d->flags & TG_REQUIRES_GRAD);
    tg_tensor *h = tg_grad1(t, tg_sum(t, d, TG_ALL, false), x, false);
    cr_assert_not_null(h, "%s", tg_tape_error(t));
    cr_expect(h->data[0] == 0 && h->data[1] == 2 && h->data[2] == 2, "%g %g %g",
              (double)h->data[0], (double)h->data[1], (double)h->data[2]);
}

/* x²·relu(x) + relu(x)·sin(x): relu's gradient (relu_backward) carries
   an incoming gradient that depends on x, so the second derivative runs
   through its own gradient; against finite differences at points away from
   the kink (tg_gradgradcheck, which names any element near it) */
static tg_tensor *relu_mix(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    tg_tensor *x = in[0], *r = tg_relu(t, x);
    return tg_sum(t, tg_add(t, tg_mul(t, tg_square(t, x), r), tg_mul(t, r, tg_sin(t, x))),
                  TG_ALL, false);
}
Test(higher, relu_gradient_through_a_varying_gradient_matches_finite_differences)
{
    tg_tensor *x = tg_tensor_new(t, TG_SHAPE(2, 3), (tg_real[]){-1.3, 0.4, 2.1, -0.2, 0.9, -2.5});
    tg_requires_grad(x, true);
    tg_gradcheck_result r = tg_gradgradcheck(relu_mix, NULL, &x, 1, NULL);
    cr_expect(r.status == TG_OK && r.ok, "%s", r.message);
}

/* A NaN born in the backward of the backward names the record that made it
   and the rule it ran in. */
Test(higher, anomaly_in_a_gradient_rule_is_named)
{
    tg_tape_set_anomaly(t, true);
    tg_tensor *x = tg_requires_grad(tg_zeros(t, TG_SHAPE(2)), true);
    tg_tensor *y = tg_sum(t, tg_sqrt(t, x), TG_ALL, false); /* d/dx √x = 1/(2√x): inf at 0 */
    cr_expect_null(tg_grad1(t, y, x, true));
    const char *e = tg_tape_error(t);
    cr_expect(strstr(e, "anomaly: record") && strstr(e, "(tg_div)") &&
                  strstr(e, "in the gradient rule of record 0, tg_sqrt"),
              "%s", e);
}

/* A training loop with a gradient penalty allocates nothing after its
   first step: the create_graph walk's scratch lives in the tape. */
Test(higher, a_gradient_penalty_loop_allocates_nothing_per_step)
{
    tg_params *p = tg_params_new();
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    tg_mlp net;
    cr_assert_eq(tg_mlp_init(&net, p, "fc", TG_SHAPE(4, 16, 1), tg_tanh, &rng), TG_OK);
    tg_real xs[8 * 4];
    for (int i = 0; i < 32; i++) xs[i] = (tg_real)tg_rng_normal(&rng);
    size_t allocs = 0;
    for (int step = 0; step < 5; step++) {
        tg_tensor *x = tg_requires_grad(tg_tensor_wrap(t, TG_SHAPE(8, 4), xs), true);
        tg_tensor *d = tg_sum(t, tg_mlp_forward(t, &net, x), TG_ALL, false);
        tg_tensor *gx = tg_grad1(t, d, x, true);
        tg_tensor *norm = tg_sqrt(t, tg_sum(t, tg_square(t, gx), 1, false));
        tg_tensor *pen = tg_mean(t, tg_square(t, tg_add_scalar(t, norm, -1)), TG_ALL, false);
        tg_tensor *loss = tg_add(t, d, tg_scale(t, pen, 10));
        tg_params_zero_grad(p);
        cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
        if (step == 1) allocs = tg_tape_get_stats(t).heap_allocs;
        if (step > 1) cr_expect_eq(tg_tape_get_stats(t).heap_allocs, allocs, "step %d", step);
        tg_tape_reset(t);
    }
    tg_params_free(p);
}
