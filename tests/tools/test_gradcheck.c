/* tg_gradcheck must pass correct gradients and fail wrong ones.

   The wrong ones are the classic backward bugs, written as custom ops the
   way a user would write them: a sign error, a missing factor, a gradient
   assigned with `=` instead of accumulated with `+=` (visible only when a
   tensor is used twice), and a broadcast gradient that is not summed over
   the broadcast axis. Each one must FAIL, and the worst element must point
   at the input that is wrong. The correct ops must PASS, also near (not at)
   a kink. Everything runs in both builds with tg_gradcheck_defaults(). */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>

/* ------------------------------------------------------------ custom ops */

static int same_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                      size_t len)
{
    (void)msg, (void)len;
    *ndim = r->in[0]->ndim;
    for (int i = 0; i < *ndim; i++) shape[i] = r->in[0]->shape[i];
    return TG_OK;
}

/* y = x² */
static int square_forward(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++)
        r->out->data[i] = r->in[0]->data[i] * r->in[0]->data[i];
    return TG_OK;
}
/* correct: dx += 2x·g */
static void square_backward(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++)
        r->in[0]->grad[i] += 2 * r->in[0]->data[i] * r->out->grad[i];
}
/* BUG, a sign error: dx += −2x·g */
static void square_backward_sign(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++)
        r->in[0]->grad[i] += -2 * r->in[0]->data[i] * r->out->grad[i];
}
/* BUG, a missing factor: dx += x·g */
static void square_backward_factor(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++)
        r->in[0]->grad[i] += r->in[0]->data[i] * r->out->grad[i];
}
/* BUG, assignment: dx = 2x·g (right when x is used once, wrong otherwise) */
static void square_backward_assign(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++)
        r->in[0]->grad[i] = 2 * r->in[0]->data[i] * r->out->grad[i];
}

static const tg_op op_square_ok = {.name = "test_square", .n_inputs = 1, .shape = same_shape,
                                   .forward = square_forward, .backward = square_backward};
static const tg_op op_square_sign = {.name = "test_square_sign", .n_inputs = 1,
                                     .shape = same_shape, .forward = square_forward,
                                     .backward = square_backward_sign};
static const tg_op op_square_factor = {.name = "test_square_factor", .n_inputs = 1,
                                       .shape = same_shape, .forward = square_forward,
                                       .backward = square_backward_factor};
static const tg_op op_square_assign = {.name = "test_square_assign", .n_inputs = 1,
                                       .shape = same_shape, .forward = square_forward,
                                       .backward = square_backward_assign};

/* y = a·b, both [n]; the backward of a product of x with itself writes the
   same gradient buffer twice. */
static int mul_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                     size_t len)
{
    if (!r->in[1] || r->in[1]->size != r->in[0]->size) {
        snprintf(msg, len, "needs two tensors of the same size");
        return TG_ERR_SHAPE;
    }
    return same_shape(r, ndim, shape, msg, len);
}
static int mul_forward(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++)
        r->out->data[i] = r->in[0]->data[i] * r->in[1]->data[i];
    return TG_OK;
}
/* BUG: da = b·g, db = a·g (assigned). For mul(x, x) the second overwrites
   the first: x gets x·g instead of 2x·g. */
static void mul_backward_assign(tg_record *r)
{
    tg_real *da = r->in[0]->grad, *db = r->in[1]->grad;
    for (int64_t i = 0; i < r->out->size; i++) {
        tg_real g = r->out->grad[i];
        if (da) da[i] = r->in[1]->data[i] * g;
        if (db) db[i] = r->in[0]->data[i] * g;
    }
}
static const tg_op op_mul_assign = {.name = "test_mul_assign", .n_inputs = 2, .shape = mul_shape,
                                    .forward = mul_forward, .backward = mul_backward_assign};

/* y[i,j] = a[i,j] + b[j]: a [N,M], b [M] broadcast over the rows. */
static int rowadd_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    const tg_tensor *a = r->in[0], *b = r->in[1];
    if (!b || a->ndim != 2 || b->ndim != 1 || b->shape[0] != a->shape[1]) {
        snprintf(msg, len, "needs a [N,M] and b [M]");
        return TG_ERR_SHAPE;
    }
    return same_shape(r, ndim, shape, msg, len);
}
static int rowadd_forward(tg_record *r)
{
    int64_t N = r->in[0]->shape[0], M = r->in[0]->shape[1];
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < M; j++)
            r->out->data[i * M + j] = r->in[0]->data[i * M + j] + r->in[1]->data[j];
    return TG_OK;
}
/* correct: da += g, db[j] += Σ_i g[i,j] */
static void rowadd_backward(tg_record *r)
{
    int64_t N = r->in[0]->shape[0], M = r->in[0]->shape[1];
    const tg_real *g = r->out->grad;
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < M; j++) {
            if (r->in[0]->grad) r->in[0]->grad[i * M + j] += g[i * M + j];
            if (r->in[1]->grad) r->in[1]->grad[j] += g[i * M + j];
        }
}
/* BUG, a wrong broadcast reduction: db[j] += g[0,j] (the first row only,
   not the sum over the rows that b was repeated into) */
static void rowadd_backward_noreduce(tg_record *r)
{
    int64_t N = r->in[0]->shape[0], M = r->in[0]->shape[1];
    const tg_real *g = r->out->grad;
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < M; j++)
            if (r->in[0]->grad) r->in[0]->grad[i * M + j] += g[i * M + j];
    for (int64_t j = 0; j < M; j++)
        if (r->in[1]->grad) r->in[1]->grad[j] += g[j];
}
static const tg_op op_rowadd_ok = {.name = "test_rowadd", .n_inputs = 2, .shape = rowadd_shape,
                                   .forward = rowadd_forward, .backward = rowadd_backward};
static const tg_op op_rowadd_bad = {.name = "test_rowadd_bad", .n_inputs = 2,
                                    .shape = rowadd_shape, .forward = rowadd_forward,
                                    .backward = rowadd_backward_noreduce};

/* --------------------------------------------------------- the functions */

/* f(x) = op(x), a non-scalar output: the full Jacobian is compared. */
static tg_tensor *f_unary(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    return tg_apply(t, (const tg_op *)ctx, in, 1, NULL);
}
/* f(x) = Σ op(x)·w: a scalar output with different weights per element. */
static tg_tensor *f_unary_sum(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    tg_tensor *y = tg_apply(t, (const tg_op *)ctx, in, 1, NULL);
    return tg_sum(t, tg_mul(t, y, in[1]), TG_ALL, false);
}
/* f(x) = op(x) + x: x is used twice (by the op and by the add). */
static tg_tensor *f_twice(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    return tg_add(t, tg_apply(t, (const tg_op *)ctx, in, 1, NULL), in[0]);
}
/* f(x) = op(x, x) */
static tg_tensor *f_self(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    tg_tensor *xx[2] = {in[0], in[0]};
    return tg_apply(t, (const tg_op *)ctx, xx, 2, NULL);
}
/* f(a, b) = tanh(op(a, b)) */
static tg_tensor *f_binary(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    return tg_tanh(t, tg_apply(t, (const tg_op *)ctx, in, 2, NULL));
}

static tg_tape *tape;
static void setup(void) { tape = tg_tape_new(); }
static void teardown(void) { tg_tape_free(tape); }
TestSuite(gradcheck, .init = setup, .fini = teardown);

static tg_tensor *leaf(int n, const tg_real *v)
{
    tg_tensor *x = tg_tensor_new(tape, TG_SHAPE(n), v);
    return tg_requires_grad(x, true);
}

/* A run must have happened: status OK, every requiring element checked. */
static void expect_ran(const tg_gradcheck_result *r, int64_t checked)
{
    cr_assert_eq(r->status, TG_OK, "gradcheck could not run: %s", r->message);
    cr_expect_eq(r->checked, checked, "checked %lld elements, expected %lld",
                 (long long)r->checked, (long long)checked);
}

/* ------------------------------------------------------------ must pass */

Test(gradcheck, correct_custom_op_passes_full_jacobian)
{
    tg_real v[] = {0.5, -3, 1.25, 2};
    tg_tensor *x = leaf(4, v);
    tg_gradcheck_result r = tg_gradcheck(f_unary, (void *)&op_square_ok, &x, 1, NULL);
    expect_ran(&r, 4);
    cr_expect(r.ok, "%s", r.message);
    cr_expect_eq(r.failed, 0);
    cr_expect(r.worst_output >= 0, "the full Jacobian names an output row");
}

Test(gradcheck, correct_custom_op_passes_scalar_and_projections)
{
    tg_real v[] = {0.5, -3, 1.25, 2}, w[] = {1, -2, 0.5, 3};
    tg_tensor *in[2] = {leaf(4, v), leaf(4, w)};
    tg_gradcheck_result r = tg_gradcheck(f_unary_sum, (void *)&op_square_ok, in, 2, NULL);
    expect_ran(&r, 8);
    cr_expect(r.ok, "%s", r.message);

    tg_gradcheck_opts o = tg_gradcheck_defaults();
    o.projections = 3;
    r = tg_gradcheck(f_unary, (void *)&op_square_ok, in, 1, &o);
    expect_ran(&r, 4);
    cr_expect(r.ok, "%s", r.message);
    cr_expect(r.worst_output < 0, "a projection is reported as -1-p, got %lld",
              (long long)r.worst_output);
}

Test(gradcheck, correct_broadcast_and_twice_used_input_pass)
{
    tg_real a[] = {0.1, -0.4, 0.7, 0.2, -0.9, 0.3}, b[] = {0.5, -0.25, 0.125};
    tg_tensor *A = tg_requires_grad(tg_tensor_new(tape, TG_SHAPE(2, 3), a), true);
    tg_tensor *in[2] = {A, leaf(3, b)};
    tg_gradcheck_result r = tg_gradcheck(f_binary, (void *)&op_rowadd_ok, in, 2, NULL);
    expect_ran(&r, 9);
    cr_expect(r.ok, "%s", r.message);

    tg_real v[] = {0.5, -1.5, 2};
    tg_tensor *x = leaf(3, v);
    r = tg_gradcheck(f_twice, (void *)&op_square_ok, &x, 1, NULL);
    expect_ran(&r, 3);
    cr_expect(r.ok, "%s", r.message);
}

/* |x| and max have kinks. 20·eps away from one, the central difference
   does not cross it and must agree exactly enough to pass. */
static tg_tensor *f_kinks(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    tg_tensor *y = tg_abs(t, in[0]);                        /* kink at 0 */
    tg_tensor *m = tg_max(t, tg_reshape(t, in[0], TG_SHAPE(2, 2)), 1, false); /* kink at ties */
    return tg_add(t, tg_sum(t, tg_mul(t, y, y), TG_ALL, false),
                  tg_sum(t, tg_scale(t, m, 3), TG_ALL, false));
}
static tg_tensor *f_abs(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_abs(t, in[0]);
}

Test(gradcheck, passes_near_but_not_at_a_kink)
{
    double d = 20 * tg_gradcheck_defaults().eps;
    /* abs: ±d from 0; max: rows (d, 0) and (−2d, −d) are d apart */
    tg_real v[] = {(tg_real)d, (tg_real)-d, (tg_real)(-2 * d), (tg_real)-d};
    tg_real w[] = {(tg_real)d, (tg_real)(2 * d), (tg_real)-d, (tg_real)(-3 * d)};
    tg_tensor *x = leaf(4, v);
    tg_gradcheck_result r = tg_gradcheck(f_abs, NULL, &x, 1, NULL);
    expect_ran(&r, 4);
    cr_expect(r.ok, "abs near 0: %s", r.message);
    cr_expect(fabs(r.numerical) == 0 || fabs(fabs(r.numerical) - 1) < 1e-2);

    tg_tensor *y = leaf(4, w);
    r = tg_gradcheck(f_kinks, NULL, &y, 1, NULL);
    expect_ran(&r, 4);
    cr_expect(r.ok, "abs and max near their kinks: %s", r.message);
}

Test(gradcheck, at_the_kink_of_abs_the_central_difference_is_zero)
{
    /* Not a requirement of the API, a check that the difference really is
       central: at x = 0, (|h| − |−h|)/2h = 0 equals PyTorch's abs'(0) = 0. */
    tg_real v[] = {0};
    tg_tensor *x = leaf(1, v);
    tg_gradcheck_result r = tg_gradcheck(f_abs, NULL, &x, 1, NULL);
    expect_ran(&r, 1);
    cr_expect(r.ok, "%s", r.message);
    cr_expect_float_eq(r.numerical, 0.0, 1e-12);
}

/* ------------------------------------------------------------ must fail */

Test(gradcheck, sign_error_fails_and_points_at_it)
{
    tg_real v[] = {0.5, -3, 1};
    tg_tensor *x = leaf(3, v);
    tg_gradcheck_result r = tg_gradcheck(f_unary, (void *)&op_square_sign, &x, 1, NULL);
    expect_ran(&r, 3);
    cr_expect(!r.ok, "a sign error passed: %s", r.message);
    cr_expect_eq(r.failed, 3);
    /* the largest error is at x = −3: analytical +6, numerical −6 */
    cr_expect_eq(r.worst_input, 0);
    cr_expect_eq(r.worst_index, 1);
    cr_expect_eq(r.worst_output, 1);
    cr_expect(fabs(r.analytical - 6) < 1e-4, "analytical %g", r.analytical);
    cr_expect(fabs(r.numerical + 6) < 1e-2, "numerical %g", r.numerical);
    cr_expect(fabs(r.abs_err - 12) < 1e-2 && fabs(r.rel_err - 2) < 1e-2, "errors %g %g",
              r.abs_err, r.rel_err);
    cr_expect(strstr(r.message, "FAILED") != NULL, "%s", r.message);

    /* the projections catch it too */
    tg_gradcheck_opts o = tg_gradcheck_defaults();
    o.projections = 2;
    r = tg_gradcheck(f_unary, (void *)&op_square_sign, &x, 1, &o);
    expect_ran(&r, 3);
    cr_expect(!r.ok, "a sign error passed the projections: %s", r.message);
}

Test(gradcheck, missing_factor_fails)
{
    tg_real v[] = {0.5, -3, 1.25, 2}, w[] = {1, -2, 0.5, 3};
    tg_tensor *in[2] = {leaf(4, v), tg_tensor_new(tape, TG_SHAPE(4), w)};
    tg_gradcheck_result r = tg_gradcheck(f_unary_sum, (void *)&op_square_factor, in, 2, NULL);
    expect_ran(&r, 4); /* w needs no grad: not checked */
    cr_expect(!r.ok, "a missing factor of 2 passed: %s", r.message);
    cr_expect_eq(r.failed, 4);
    cr_expect_eq(r.worst_input, 0);
    /* d/dx Σ x²·w = 2x·w; the bug gives x·w: the analytical is half */
    int64_t k = r.worst_index;
    cr_expect(fabs(r.analytical - (double)(v[k] * w[k])) < 1e-4, "analytical %g", r.analytical);
    cr_expect(fabs(r.numerical - (double)(2 * v[k] * w[k])) < 2e-2, "numerical %g", r.numerical);
}

Test(gradcheck, assignment_instead_of_accumulation_fails_when_used_twice)
{
    tg_real v[] = {0.5, -1.5, 2};
    tg_tensor *x = leaf(3, v);
    /* used once, `=` happens to be right: it must pass */
    tg_gradcheck_result r = tg_gradcheck(f_unary, (void *)&op_square_assign, &x, 1, NULL);
    expect_ran(&r, 3);
    cr_expect(r.ok, "used once, assignment is harmless: %s", r.message);
    /* op(x) + x: the add's contribution is overwritten */
    r = tg_gradcheck(f_twice, (void *)&op_square_assign, &x, 1, NULL);
    expect_ran(&r, 3);
    cr_expect(!r.ok, "`=` instead of `+=` passed: %s", r.message);
    cr_expect_eq(r.failed, 3);
    cr_expect(fabs((r.numerical - r.analytical) - 1) < 1e-2,
              "the lost term is exactly the add's 1: analytical %g numerical %g", r.analytical,
              r.numerical);
    /* x·x through one op: its second input's gradient overwrites the first */
    r = tg_gradcheck(f_self, (void *)&op_mul_assign, &x, 1, NULL);
    expect_ran(&r, 3);
    cr_expect(!r.ok, "mul(x, x) with `=` passed: %s", r.message);
    cr_expect(fabs(r.numerical - 2 * r.analytical) < 2e-2, "analytical %g numerical %g",
              r.analytical, r.numerical);
}

Test(gradcheck, wrong_broadcast_reduction_fails_on_the_broadcast_input)
{
    tg_real a[] = {0.1, -0.4, 0.7, 0.2, -0.9, 0.3}, b[] = {0.5, -0.25, 0.125};
    tg_tensor *A = tg_requires_grad(tg_tensor_new(tape, TG_SHAPE(2, 3), a), true);
    tg_tensor *in[2] = {A, leaf(3, b)};
    tg_gradcheck_opts o = tg_gradcheck_defaults();
    char *buf = NULL;
    size_t len = 0;
    o.report = open_memstream(&buf, &len);
    cr_assert(o.report);
    tg_gradcheck_result r = tg_gradcheck(f_binary, (void *)&op_rowadd_bad, in, 2, &o);
    fclose(o.report);
    expect_ran(&r, 9);
    cr_expect(!r.ok, "a missing broadcast sum passed: %s", r.message);
    cr_expect_eq(r.worst_input, 1, "the wrong gradient is b's, got input %d", r.worst_input);
    cr_expect_eq(r.failed, 3, "all of b fails, none of A: %lld", (long long)r.failed);
    /* the row that b's gradient forgot: output [1, j] */
    cr_expect_eq(r.worst_output, 3 + r.worst_index);
    cr_expect(fabs(r.analytical) < 1e-6, "analytical %g", r.analytical);
    /* the report says what failed, per input, and where */
    cr_expect(buf && strstr(buf, "FAIL"), "%s", buf);
    cr_expect(strstr(buf, "input 0 [2,3]: 6 elements, 0 outside tolerance"), "%s", buf);
    cr_expect(strstr(buf, "input 1 [3]: 3 elements, 3 outside tolerance"), "%s", buf);
    cr_expect(strstr(buf, "tolerance): input 1 element"), "%s", buf);
    free(buf);
}

/* A gradient lost entirely (detach on the way) fails: the analytical
   Jacobian is zero while the function clearly depends on x. */
static tg_tensor *f_detached(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_add(t, tg_square(t, tg_detach(t, in[0])), in[1]);
}

Test(gradcheck, lost_gradient_fails)
{
    tg_real v[] = {1, 2}, w[] = {0, 0};
    tg_tensor *in[2] = {leaf(2, v), leaf(2, w)};
    tg_gradcheck_result r = tg_gradcheck(f_detached, NULL, in, 2, NULL);
    expect_ran(&r, 4);
    cr_expect(!r.ok, "%s", r.message);
    cr_expect_eq(r.worst_input, 0);
    cr_expect_eq(r.analytical, 0.0);
}

/* log(x − h) at x = 5e-4 with an absolute step of 1e-3 is NaN: the
   element fails (NaN never passes, the refinement included), the others do
   not. */
static tg_tensor *f_log(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_log(t, in[0]);
}

Test(gradcheck, nan_in_a_difference_fails_that_element)
{
    tg_real v[] = {(tg_real)5e-4, 1, 2};
    tg_tensor *x = leaf(3, v);
    tg_gradcheck_opts o = tg_gradcheck_defaults();
    o.relative_step = false;
    o.eps = 1e-3;
    tg_gradcheck_result r = tg_gradcheck(f_log, NULL, &x, 1, &o);
    expect_ran(&r, 3);
    cr_expect(!r.ok, "%s", r.message);
    cr_expect_eq(r.failed, 1, "%s", r.message);
    cr_expect_eq(r.worst_index, 0);
    cr_expect(isnan(r.numerical), "numerical %g", r.numerical);
}

/* A rule that writes NaN into one element's gradient fails that element. */
static void square_backward_nan(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++)
        r->in[0]->grad[i] += i == 0 ? (tg_real)NAN : 2 * r->in[0]->data[i] * r->out->grad[i];
}
static const tg_op op_square_nan = {.name = "test_square_nan", .n_inputs = 1, .shape = same_shape,
                                    .forward = square_forward, .backward = square_backward_nan};

Test(gradcheck, nan_in_the_analytical_fails_that_element)
{
    tg_real v[] = {0.5, -3, 1.25};
    tg_tensor *x = leaf(3, v);
    tg_gradcheck_result r = tg_gradcheck(f_unary, (void *)&op_square_nan, &x, 1, NULL);
    expect_ran(&r, 3);
    cr_expect(!r.ok, "%s", r.message);
    cr_expect_eq(r.failed, 1, "%s", r.message);
    cr_expect_eq(r.worst_index, 0);
    cr_expect(isnan(r.analytical), "analytical %g", r.analytical);
}

/* --------------------------------------------------- cannot run: no abort */

static tg_tensor *f_null(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_matmul(t, in[0], tg_reshape(t, in[0], TG_SHAPE(1, 3))); /* [3] @ [1,3]: a shape error */
}
static int calls;
static tg_tensor *f_shape_changes(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return calls++ == 0 ? tg_square(t, in[0]) : tg_sum(t, in[0], TG_ALL, false);
}

Test(gradcheck, refuses_what_it_cannot_run)
{
    tg_real v[] = {1, 2, 3};
    tg_tensor *x = leaf(3, v);
    tg_gradcheck_result r = tg_gradcheck(NULL, NULL, &x, 1, NULL);
    cr_expect_eq(r.status, TG_ERR_INVALID);
    cr_expect(!r.ok);
    cr_expect(strstr(tg_last_error(), "fn is NULL"), "%s", tg_last_error());

    tg_tensor *c = tg_tensor_new(tape, TG_SHAPE(3), v);
    r = tg_gradcheck(f_abs, NULL, &c, 1, NULL);
    cr_expect_eq(r.status, TG_ERR_INVALID);
    cr_expect(strstr(r.message, "no input requires grad"), "%s", r.message);

    r = tg_gradcheck(f_null, NULL, &x, 1, NULL);
    cr_expect_eq(r.status, TG_ERR_STATE);
    cr_expect(!r.ok);
    cr_expect(strstr(r.message, "tg_matmul"), "the op's own message is passed on: %s",
              r.message);

    calls = 0;
    r = tg_gradcheck(f_shape_changes, NULL, &x, 1, NULL);
    cr_expect_eq(r.status, TG_ERR_STATE);
    cr_expect(strstr(r.message, "changed the output's shape"), "%s", r.message);

    tg_gradcheck_opts o = tg_gradcheck_defaults();
    o.eps = 0;
    r = tg_gradcheck(f_abs, NULL, &x, 1, &o);
    cr_expect_eq(r.status, TG_ERR_INVALID);
    tg_real bad[] = {1, NAN, 3};
    tg_tensor *xn = leaf(3, bad);
    r = tg_gradcheck(f_abs, NULL, &xn, 1, NULL);
    cr_expect_eq(r.status, TG_ERR_INVALID);
    cr_expect(strstr(r.message, "input 0 element [1] is nan: the point must be finite"), "%s",
              r.message);

    o = tg_gradcheck_defaults();
    o.eps = 1e-30; /* x ± h rounds back to x */
    r = tg_gradcheck(f_abs, NULL, &x, 1, &o);
    cr_expect_eq(r.status, TG_ERR_INVALID);
    cr_expect(strstr(r.message, "too small"), "%s", r.message);
}

Test(gradcheck, defaults_match_pytorch_in_double)
{
    tg_gradcheck_opts o = tg_gradcheck_defaults();
    if (strcmp(tg_real_name(), "double") == 0) {
        cr_expect_eq(o.eps, 1e-6);
        cr_expect_eq(o.atol, 1e-5);
        cr_expect_eq(o.rtol, 1e-3);
        cr_expect(!o.relative_step && !o.richardson && !o.error_bound);
    } else {
        cr_expect_eq(o.eps, 1e-2);
        cr_expect_eq(o.atol, 0);
        cr_expect_eq(o.rtol, 1e-3);
        cr_expect(o.relative_step && o.richardson && o.error_bound);
        cr_expect_eq(o.scale_tol, 1e-5);
    }
    cr_expect_eq(o.projections, 0);
    cr_expect_eq(o.extra_projections, 2);
    cr_expect_null(o.report);
}

/* A rule that uses |g| for g is right for every unit upstream gradient, so
   the full Jacobian alone (PyTorch's default) passes it; the projections
   alongside, with negative entries, fail it. */
static void square_backward_absg(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++)
        r->in[0]->grad[i] += 2 * r->in[0]->data[i] * fabsf((float)r->out->grad[i]);
}
static const tg_op op_square_absg = {.name = "test_square_absg", .n_inputs = 1,
                                     .shape = same_shape, .forward = square_forward,
                                     .backward = square_backward_absg};

Test(gradcheck, a_rule_not_linear_in_g_fails_only_with_projections)
{
    tg_real v[] = {0.5, -3, 1.25, 2};
    tg_tensor *x = leaf(4, v);
    tg_gradcheck_opts o = tg_gradcheck_defaults();
    o.extra_projections = 0; /* the full Jacobian only: unit vectors, g = 1 = |g| */
    tg_gradcheck_result r = tg_gradcheck(f_unary, (void *)&op_square_absg, &x, 1, &o);
    expect_ran(&r, 4);
    cr_expect(r.ok, "the full Jacobian cannot see |g|: %s", r.message);
    r = tg_gradcheck(f_unary, (void *)&op_square_absg, &x, 1, NULL); /* the defaults */
    expect_ran(&r, 4);
    cr_expect(!r.ok, "the projections see |g|: %s", r.message);
    cr_expect(r.worst_output < 0, "a projection failed, not an entry: %lld",
              (long long)r.worst_output);
    r = tg_gradcheck(f_unary, (void *)&op_square_ok, &x, 1, NULL);
    expect_ran(&r, 4);
    cr_expect(r.ok, "%s", r.message);
}

/* The same for an op whose output is one number, y = Σx²: the full
   Jacobian's single dout is 1, and only a negative projection sees |g|. */
static int scalar_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    (void)r, (void)shape, (void)msg, (void)len;
    *ndim = 0;
    return TG_OK;
}
static int sumsq_forward(tg_record *r)
{
    double s = 0;
    for (int64_t i = 0; i < r->in[0]->size; i++) s += (double)r->in[0]->data[i] * r->in[0]->data[i];
    r->out->data[0] = (tg_real)s;
    return TG_OK;
}
static void sumsq_backward_absg(tg_record *r)
{
    for (int64_t i = 0; i < r->in[0]->size; i++)
        r->in[0]->grad[i] += 2 * r->in[0]->data[i] * fabsf((float)r->out->grad[0]);
}
static const tg_op op_sumsq_absg = {.name = "test_sumsq_absg", .n_inputs = 1, .shape = scalar_shape,
                                    .forward = sumsq_forward, .backward = sumsq_backward_absg};

Test(gradcheck, a_scalar_op_not_linear_in_g_fails)
{
    tg_real v[] = {0.5, -3, 1.25, 2};
    tg_tensor *x = leaf(4, v);
    for (uint64_t seed = 1; seed <= 8; seed++) { /* whatever the seed */
        tg_gradcheck_opts o = tg_gradcheck_defaults();
        o.seed = seed;
        tg_gradcheck_result r = tg_gradcheck(f_unary, (void *)&op_sumsq_absg, &x, 1, &o);
        expect_ran(&r, 4);
        cr_expect(!r.ok, "seed %llu: %s", (unsigned long long)seed, r.message);
    }
}

/* Options set to zero but for eps, atol and rtol are PyTorch's plain rule. */
Test(gradcheck, zeroed_new_options_are_the_plain_rule)
{
    tg_real v[] = {0.5, -3, 1.25};
    tg_tensor *x = leaf(3, v);
    tg_gradcheck_opts o = {.eps = 1e-3, .atol = 1e-2, .rtol = 1e-2};
    tg_gradcheck_result r = tg_gradcheck(f_unary, (void *)&op_square_ok, &x, 1, &o);
    expect_ran(&r, 3);
    cr_expect(r.ok, "%s", r.message);
    cr_expect(r.worst_output >= 0, "no projections: %lld", (long long)r.worst_output);
    r = tg_gradcheck(f_unary, (void *)&op_square_factor, &x, 1, &o);
    expect_ran(&r, 3);
    cr_expect(!r.ok, "%s", r.message);
    /* the tolerance it reports is allclose's: atol + rtol·|numerical| */
    cr_expect(fabs(r.tolerance - (1e-2 + 1e-2 * fabs(r.numerical))) < 1e-9, "tolerance %g",
              r.tolerance);

    tg_gradcheck_opts bad = tg_gradcheck_defaults();
    bad.scale_tol = -1;
    r = tg_gradcheck(f_unary, (void *)&op_square_ok, &x, 1, &bad);
    cr_expect_eq(r.status, TG_ERR_INVALID);
    cr_expect(strstr(r.message, "scale_tol -1"), "%s", r.message);
    bad = tg_gradcheck_defaults();
    bad.extra_projections = -2;
    r = tg_gradcheck(f_unary, (void *)&op_square_ok, &x, 1, &bad);
    cr_expect_eq(r.status, TG_ERR_INVALID);
    cr_expect(strstr(r.message, "extra_projections -2"), "%s", r.message);
}

/* The inputs are copies: the caller's data is never touched. */
Test(gradcheck, leaves_the_callers_tensors_alone)
{
    tg_real v[] = {0.5, -3, 1};
    tg_tensor *x = leaf(3, v);
    tg_gradcheck_result r = tg_gradcheck(f_unary, (void *)&op_square_ok, &x, 1, NULL);
    expect_ran(&r, 3);
    for (int i = 0; i < 3; i++) cr_expect_eq(x->data[i], v[i]);
    cr_expect_null(x->grad);
}

/* Σ x² of an input of no elements (or, for the second order, an output of
   none): nothing to check, which is a pass. The count of elements was a
   divisor: SIGFPE, ending the host program (found by a misuse fuzzer). */
static tg_tensor *f_sumsq(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_sum(t, tg_mul(t, in[0], in[0]), TG_ALL, false);
}
static tg_tensor *f_square(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_mul(t, in[0], in[0]);
}

Test(gradcheck, an_input_of_no_elements_checks_nothing_and_passes)
{
    tg_tensor *x = tg_requires_grad(tg_zeros(tape, TG_SHAPE(0, 3)), true);
    tg_gradcheck_result r = tg_gradcheck(f_sumsq, NULL, &x, 1, NULL);
    expect_ran(&r, 0);
    cr_expect(r.ok, "%s", r.message);
    r = tg_gradgradcheck(f_square, NULL, &x, 1, NULL);
    cr_expect_eq(r.status, TG_OK, "%s", r.message);
    cr_expect(r.ok, "%s", r.message);
    r = tg_gradgradcheck(f_sumsq, NULL, &x, 1, NULL);
    cr_expect_eq(r.status, TG_OK, "%s", r.message);
    cr_expect(r.ok, "%s", r.message);
}
