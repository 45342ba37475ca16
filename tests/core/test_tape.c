#define _POSIX_C_SOURCE 200809L
/* The tape's behaviour that users rely on: error messages, NULL passing,
   gradient accumulation, recording off, detach, reset, no allocation in a
   steady training loop, and the parameter registry. Expected values here are
   derived by hand from the calculus in each comment. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad.h>

#ifdef TG_DOUBLE
#define EPS 1e-12
#else
#define EPS 1e-5
#endif

static tg_tape *t;
static void setup(void) { t = tg_tape_new(); cr_assert(t); }
static void teardown(void) { tg_tape_free(t); }
TestSuite(tape, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------ errors */

Test(tape, matmul_message_names_op_and_shapes)
{
    tg_tensor *a = tg_zeros(t, TG_SHAPE(64, 784));
    tg_tensor *b = tg_zeros(t, TG_SHAPE(500, 784));
    cr_expect_null(tg_matmul(t, a, b));
    cr_expect(tg_tape_failed(t));
    cr_expect_str_eq(tg_tape_error(t), "tg_matmul: inner dimensions differ: [64,784] @ [500,784]");
}

Test(tape, broadcast_message)
{
    tg_tensor *a = tg_zeros(t, TG_SHAPE(2, 3));
    tg_tensor *b = tg_zeros(t, TG_SHAPE(4));
    cr_expect_null(tg_add(t, a, b));
    cr_expect_str_eq(tg_tape_error(t), "tg_add: shapes cannot be broadcast together: [2,3] and [4]");
}

Test(tape, linear_messages)
{
    tg_tensor *x = tg_zeros(t, TG_SHAPE(8, 5));
    tg_tensor *W = tg_zeros(t, TG_SHAPE(3, 4));
    cr_expect_null(tg_linear(t, x, W, NULL));
    cr_expect_str_eq(tg_tape_error(t), "tg_linear: input features differ: x [8,5], W [3,4] (W is [out, in])");
    tg_tape_clear_error(t);
    tg_tensor *W2 = tg_zeros(t, TG_SHAPE(3, 5));
    tg_tensor *b = tg_zeros(t, TG_SHAPE(4));
    cr_expect_null(tg_linear(t, x, W2, b));
    cr_expect(strstr(tg_tape_error(t), "tg_linear: bias [4] does not match W [3,5]") != NULL, "%s",
              tg_tape_error(t));
}

Test(tape, other_messages)
{
    tg_tensor *x = tg_zeros(t, TG_SHAPE(2, 3));
    cr_expect_null(tg_reshape(t, x, TG_SHAPE(4, 2)));
    cr_expect_str_eq(tg_tape_error(t), "tg_reshape: cannot reshape [2,3] (6 elements) to [4,2]");
    tg_tape_clear_error(t);
    cr_expect_null(tg_sum(t, x, 2, false));
    cr_expect_str_eq(tg_tape_error(t), "tg_sum: axis 2 is out of range for shape [2,3]");
    tg_tape_clear_error(t);
    cr_expect_null(tg_transpose(t, x, 0, -3));
    cr_expect(strstr(tg_tape_error(t), "tg_transpose: axes (0, -3) are out of range") != NULL);
    tg_tape_clear_error(t);
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    cr_expect_null(tg_zeros(t, 9, nine));
    cr_expect(strstr(tg_tape_error(t), "0..8 dimensions, got 9") != NULL, "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_zeros(t, TG_SHAPE(2, -1)));
    cr_expect(strstr(tg_tape_error(t), "tg_zeros: invalid shape [2,-1]") != NULL, "%s",
              tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_zeros(t, 2, NULL));
    cr_expect_str_eq(tg_tape_error(t), "tg_zeros: the shape is NULL (with 2 dimensions)");
    tg_tape_clear_error(t);
    cr_expect_null(tg_tensor_new(t, TG_SHAPE(2), NULL));
    cr_expect(strstr(tg_tape_error(t), "tg_tensor_new: data is NULL") != NULL);
    tg_tape_clear_error(t);
    /* a bad shape is said before the missing data */
    cr_expect_null(tg_tensor_new(t, TG_SHAPE(-1, 3), NULL));
    cr_expect(strstr(tg_tape_error(t), "tg_tensor_new: invalid shape [-1,3]") != NULL, "%s",
              tg_tape_error(t));
}

Test(tape, max_of_nothing_is_refused_with_its_shape)
{
    tg_tensor *e = tg_zeros(t, TG_SHAPE(0, 3));
    cr_expect_null(tg_max(t, e, TG_ALL, false));
    cr_expect_str_eq(tg_tape_error(t), "tg_max: the maximum of an empty axis is undefined (shape [0,3])");
    tg_tape_clear_error(t);
    cr_expect_null(tg_max(t, e, 0, false));
    cr_expect(tg_tape_failed(t));
    tg_tape_clear_error(t);
    tg_tensor *m = tg_max(t, e, 1, false); /* 0 rows of 3: an empty result, like PyTorch */
    cr_assert_not_null(m, "%s", tg_tape_error(t));
    cr_expect_eq(m->ndim, 1);
    cr_expect_eq(m->shape[0], 0);
}

Test(tape, matmul_rank_and_batch_messages)
{
    tg_tensor *a = tg_zeros(t, TG_SHAPE(2, 3, 4));
    tg_tensor *b = tg_zeros(t, TG_SHAPE(3, 4, 5));
    cr_expect_null(tg_matmul(t, a, b));
    cr_expect_str_eq(tg_tape_error(t),
                     "tg_matmul: batch dimensions cannot be broadcast together: [2,3,4] @ [3,4,5]");
    tg_tape_clear_error(t);
    tg_tensor *v = tg_zeros(t, TG_SHAPE(4)), *w = tg_zeros(t, TG_SHAPE(3));
    cr_expect_not_null(tg_matmul(t, v, v), "[4] @ [4] is a dot product");
    cr_expect_null(tg_matmul(t, v, w));
    cr_expect(strstr(tg_tape_error(t), "inner dimensions differ: [1,4] @ [3,1]") != NULL, "%s",
              tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_matmul(t, tg_scalar(t, 1), v));
    cr_expect(strstr(tg_tape_error(t), "at least 1 dimension") != NULL, "%s", tg_tape_error(t));
}

Test(tape, null_passes_through_and_first_error_wins)
{
    tg_tensor *a = tg_zeros(t, TG_SHAPE(2, 3));
    tg_tensor *bad = tg_matmul(t, a, a); /* [2,3] @ [2,3] fails */
    cr_expect_null(bad);
    const char *first = "tg_matmul: inner dimensions differ: [2,3] @ [2,3]";
    /* every later op given the NULL returns NULL; the message stays the first */
    tg_tensor *y = tg_sum(t, tg_exp(t, tg_add(t, bad, a)), TG_ALL, false);
    cr_expect_null(y);
    cr_expect_null(tg_linear(t, a, bad, NULL));
    cr_expect_null(tg_mul(t, a, bad));
    cr_expect_str_eq(tg_tape_error(t), first);
    cr_expect(tg_backward(t, y) != TG_OK);
    cr_expect_str_eq(tg_tape_error(t), first);
    /* reset clears it */
    tg_tape_reset(t);
    cr_expect(!tg_tape_failed(t));
    cr_expect_str_eq(tg_tape_error(t), "");
    a = tg_zeros(t, TG_SHAPE(2, 3)); /* the old one went with the reset */
    /* a NULL given directly is named */
    cr_expect_null(tg_sum(t, NULL, 0, false));
    cr_expect_str_eq(tg_tape_error(t), "tg_sum: input is NULL");
    tg_tape_clear_error(t);
    cr_expect_null(tg_add(t, NULL, a));
    cr_expect_str_eq(tg_tape_error(t), "tg_add: input 0 is NULL");
    tg_tape_clear_error(t);
    cr_expect_null(tg_add(t, a, NULL));
    cr_expect_str_eq(tg_tape_error(t), "tg_add: input 1 is NULL");
    tg_tape_clear_error(t);
    cr_expect_null(tg_reshape(t, NULL, TG_SHAPE(2)));
    cr_expect_str_eq(tg_tape_error(t), "tg_reshape: input is NULL");
    /* NULL tapes are tolerated everywhere, and said through tg_last_error,
       the only place left to say it */
    cr_expect_null(tg_add(NULL, a, a));
    cr_expect_str_eq(tg_last_error(), "tg_add: the tape is NULL");
    cr_expect_null(tg_zeros(NULL, TG_SHAPE(2)));
    cr_expect_str_eq(tg_last_error(), "tg_zeros: the tape is NULL");
    cr_expect_null(tg_tensor_new(NULL, TG_SHAPE(2), NULL));
    cr_expect_str_eq(tg_last_error(), "tg_tensor_new: the tape is NULL");
    cr_expect_null(tg_cat(NULL, &a, 1, 0));
    cr_expect_str_eq(tg_last_error(), "tg_cat: the tape is NULL");
    cr_expect_null(tg_max_pool2d(NULL, a, NULL));
    cr_expect_str_eq(tg_last_error(), "tg_max_pool2d: the tape is NULL");
    cr_expect_null(tg_argmax(NULL, a, 0, false));
    cr_expect_str_eq(tg_last_error(), "tg_argmax: the tape is NULL");
    cr_expect(tg_backward(NULL, a) != TG_OK);
    cr_expect_str_eq(tg_last_error(), "tg_backward: the tape is NULL");
    tg_tape_free(NULL);
    tg_tape_reset(NULL);
}

Test(tape, backward_needs_scalar_and_grad)
{
    tg_tensor *x = tg_requires_grad(tg_ones(t, TG_SHAPE(2, 2)), true);
    tg_tensor *y = tg_scale(t, x, 3);
    cr_expect_eq(tg_backward(t, y), TG_ERR_SHAPE);
    cr_expect_str_eq(tg_tape_error(t), "tg_backward: the loss must have one element, got shape [2,2] "
                                       "(use tg_backward_grad for a non-scalar output)");
    tg_tape_clear_error(t);
    tg_tensor *c = tg_ones(t, TG_SHAPE(1)); /* no gradient anywhere */
    cr_expect_eq(tg_backward(t, tg_scale(t, c, 2)), TG_ERR_STATE);
    cr_expect(strstr(tg_tape_error(t), "does not require grad") != NULL);
}

Test(tape, op_result_cannot_be_marked)
{
    tg_tensor *x = tg_requires_grad(tg_ones(t, TG_SHAPE(2)), true);
    tg_tensor *y = tg_neg(t, x);
    tg_requires_grad(y, false);
    cr_expect(strstr(tg_tape_error(t), "only leaves can be marked") != NULL);
}

Test(tape, tensors_from_another_tape_are_refused)
{
    tg_tape *u = tg_tape_new();
    tg_tensor *a = tg_ones(t, TG_SHAPE(2));
    tg_tensor *b = tg_ones(u, TG_SHAPE(2));
    cr_expect_null(tg_add(t, a, b));
    cr_expect_str_eq(tg_tape_error(t), "tg_add: input 1 belongs to another tape, or is from before tg_tape_reset");
    tg_tape_free(u);
}

/* ---------------------------------------------------------------- gradients */

/* y = x·x uses x twice: dy/dx = 2x, one contribution from each use */
Test(tape, tensor_used_twice_gets_both_contributions)
{
    const tg_real xs[] = {1.5f, -2, 3};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3), xs), true);
    tg_tensor *loss = tg_sum(t, tg_mul(t, x, x), TG_ALL, false);
    cr_assert_eq(tg_backward(t, loss), TG_OK);
    for (int i = 0; i < 3; i++) cr_expect_float_eq(x->grad[i], 2 * xs[i], EPS);
    /* a + a: d/da = 2; and through two branches: sum(exp(a) + a) -> exp(a) + 1 */
    tg_tensor *a = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3), xs), true);
    tg_tensor *l2 = tg_sum(t, tg_add(t, tg_exp(t, a), a), TG_ALL, false);
    cr_assert_eq(tg_backward(t, l2), TG_OK);
    for (int i = 0; i < 3; i++) cr_expect_float_eq(a->grad[i], expf((float)xs[i]) + 1, 1e-5 * expf(3));
}

/* Leaves and parameters accumulate across backward calls (PyTorch); the
   intermediate results start from zero every time. */
Test(tape, gradients_accumulate_across_backward_calls)
{
    const tg_real xs[] = {1, 2};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2), xs), true);
    tg_tensor *h = tg_scale(t, x, 3);                          /* h = 3x */
    tg_tensor *loss = tg_sum(t, tg_square(t, h), TG_ALL, false); /* Σ 9x² -> d/dx = 18x */
    cr_assert_eq(tg_backward(t, loss), TG_OK);
    cr_expect_float_eq(x->grad[1], 36, EPS);
    cr_expect_float_eq(h->grad[1], 12, EPS); /* d/dh = 2h */
    cr_assert_eq(tg_backward(t, loss), TG_OK);
    cr_expect_float_eq(x->grad[0], 36, EPS); /* 18 + 18 */
    cr_expect_float_eq(x->grad[1], 72, EPS);
    cr_expect_float_eq(h->grad[1], 12, EPS); /* intermediate: not doubled */
    tg_zero_grad(x);
    cr_expect_float_eq(x->grad[1], 0, EPS);

    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(2));
    w->data[0] = 2, w->data[1] = -1;
    for (int k = 0; k < 3; k++) {
        tg_tensor *l = tg_sum(t, tg_mul(t, w, x), TG_ALL, false); /* d/dw = x */
        cr_assert_eq(tg_backward(t, l), TG_OK);
    }
    cr_expect_float_eq(w->grad[0], 3, EPS);
    cr_expect_float_eq(w->grad[1], 6, EPS);
    tg_params_zero_grad(p);
    cr_expect_float_eq(w->grad[1], 0, EPS);
    tg_params_free(p);
}

/* out = a + b with a [2,3], b [3]: db sums the gradient over the rows */
Test(tape, broadcast_gradient_reduces_over_repeats)
{
    const tg_real as[] = {1, 2, 3, 4, 5, 6}, bs[] = {10, 20, 30};
    const tg_real g[] = {1, 2, 3, 4, 5, 6};
    tg_tensor *a = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2, 3), as), true);
    tg_tensor *b = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3), bs), true);
    tg_tensor *y = tg_add(t, a, b);
    cr_expect_float_eq(y->data[4], 25, EPS);
    cr_assert_eq(tg_backward_grad(t, y, g), TG_OK);
    cr_expect_float_eq(b->grad[0], 5, EPS);
    cr_expect_float_eq(b->grad[2], 9, EPS);
    cr_expect_float_eq(a->grad[5], 6, EPS);
    /* a scalar times a matrix: d/ds = Σ g·a */
    tg_tensor *s = tg_requires_grad(tg_scalar(t, 2), true);
    tg_tensor *z = tg_mul(t, s, a);
    cr_expect_eq(z->ndim, 2);
    cr_assert_eq(tg_backward_grad(t, z, g), TG_OK);
    cr_expect_float_eq(s->grad[0], 1 + 4 + 9 + 16 + 25 + 36, EPS);
    /* [2,1] * [1,3] -> [2,3]; ranks differ: [2,1,3] + [3] */
    tg_tensor *c = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2, 1), bs), true);
    tg_tensor *d = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(1, 3), bs), true);
    tg_tensor *cd = tg_mul(t, c, d);
    cr_expect_eq(cd->shape[0], 2);
    cr_expect_eq(cd->shape[1], 3);
    cr_assert_eq(tg_backward_grad(t, cd, g), TG_OK);
    cr_expect_float_eq(c->grad[1], 4 * 10 + 5 * 20 + 6 * 30, EPS);  /* Σ_j g[1,j]·d[j] */
    cr_expect_float_eq(d->grad[2], 3 * 10 + 6 * 20, EPS);           /* Σ_i g[i,2]·c[i] */
}

Test(tape, backward_grad_for_a_non_scalar_output)
{
    const tg_real xs[] = {1, 2, 3}, dy[] = {1, 0, -1};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3), xs), true);
    tg_tensor *y = tg_square(t, x); /* dy/dx = 2x */
    cr_assert_eq(tg_backward_grad(t, y, dy), TG_OK);
    cr_expect_float_eq(x->grad[0], 2, EPS);
    cr_expect_float_eq(x->grad[1], 0, EPS);
    cr_expect_float_eq(x->grad[2], -6, EPS);
}

/* ---------------------------------------------------- recording and detach */

Test(tape, inputs_without_grad_record_nothing)
{
    tg_tensor *a = tg_ones(t, TG_SHAPE(4, 4));
    tg_tensor *b = tg_exp(t, tg_matmul(t, a, a));
    cr_expect_float_eq(b->data[0], expf(4), 1e-3);
    cr_expect_eq(tg_tape_get_stats(t).records, 0);
    cr_expect(!(b->flags & TG_REQUIRES_GRAD));
}

Test(tape, recording_off_is_no_grad)
{
    tg_tensor *x = tg_requires_grad(tg_ones(t, TG_SHAPE(3)), true);
    cr_expect(tg_tape_is_recording(t));
    cr_expect(tg_tape_set_recording(t, false) == true);
    tg_tensor *y = tg_sum(t, tg_scale(t, x, 2), TG_ALL, false);
    cr_expect_float_eq(y->data[0], 6, EPS);
    cr_expect_eq(tg_tape_get_stats(t).records, 0);
    cr_expect(!(y->flags & TG_REQUIRES_GRAD));
    cr_expect_neq(tg_backward(t, y), TG_OK);
    tg_tape_clear_error(t);
    tg_tape_set_recording(t, true);
    tg_tensor *z = tg_sum(t, tg_scale(t, x, 2), TG_ALL, false);
    cr_expect_eq(tg_tape_get_stats(t).records, 2);
    cr_expect_eq(tg_backward(t, z), TG_OK);
    cr_expect_float_eq(x->grad[0], 2, EPS);
}

/* loss = Σ detach(2x)·x: the detached factor is a constant, so dloss/dx = 2x
   (not 4x as without the detach) */
Test(tape, detach_cuts_the_graph)
{
    const tg_real xs[] = {1, -3};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2), xs), true);
    tg_tensor *c = tg_detach(t, tg_scale(t, x, 2));
    cr_expect(!(c->flags & TG_REQUIRES_GRAD));
    cr_expect(c->flags & TG_CONST);
    cr_expect_float_eq(c->data[1], -6, EPS);
    tg_tensor *loss = tg_sum(t, tg_mul(t, c, x), TG_ALL, false);
    cr_assert_eq(tg_backward(t, loss), TG_OK);
    cr_expect_float_eq(x->grad[0], 2, EPS);
    cr_expect_float_eq(x->grad[1], -6, EPS);
}

/* tg_tensor_wrap: the tensor is the caller's array, not a copy; a forward
   and backward through the ops a training step uses leave it unchanged and
   give what the copied tensor gives, bit for bit, gradient included. */
Test(tape, wrap_uses_the_callers_data_and_never_writes_it)
{
    tg_real xs[6], keep[6];
    for (int i = 0; i < 6; i++) keep[i] = xs[i] = (tg_real)(i - 2) / 3;
    const tg_real ws[12] = {0.5, -1, 0.25, 2, -0.75, 1.5, 1, -0.5, 0.75, -0.25, 1.25, 0.5};
    const tg_real bs[4] = {0.1, -0.2, 0.3, 0};
    const int64_t labels[2] = {3, 1};
    tg_tensor *out[2], *in[2];
    for (int k = 0; k < 2; k++) {
        in[k] = k ? tg_tensor_wrap(t, TG_SHAPE(2, 3), xs) : tg_tensor_new(t, TG_SHAPE(2, 3), xs);
        tg_requires_grad(in[k], true);
        tg_tensor *W = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(4, 3), ws), true);
        tg_tensor *b = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(4), bs), true);
        tg_tensor *h = tg_relu(t, tg_linear(t, tg_square(t, in[k]), W, b));
        out[k] = tg_cross_entropy(t, h, labels, TG_REDUCE_SUM);
        cr_assert(out[k], "%s", tg_tape_error(t));
        cr_assert_eq(tg_backward(t, out[k]), TG_OK, "%s", tg_tape_error(t));
    }
    cr_expect_eq(in[1]->data, xs, "wrap copied the data");
    cr_expect_neq(in[0]->data, xs);
    cr_expect(memcmp(xs, keep, sizeof xs) == 0, "the wrapped data changed");
    cr_expect_eq(out[1]->data[0], out[0]->data[0]);
    cr_assert(in[1]->grad && in[0]->grad);
    cr_expect(memcmp(in[1]->grad, in[0]->grad, sizeof xs) == 0);
    cr_expect(in[1]->grad[0] != 0, "a zero gradient proves nothing");
    cr_expect_null(tg_tensor_wrap(t, TG_SHAPE(2), NULL));
    cr_expect(strstr(tg_tape_error(t), "tg_tensor_wrap: data is NULL"), "%s", tg_tape_error(t));
    cr_expect_null(tg_tensor_wrap(NULL, TG_SHAPE(2), xs));
}

Test(tape, reshape_shares_data_and_routes_gradient)
{
    const tg_real xs[] = {1, 2, 3, 4, 5, 6};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2, 3), xs), true);
    tg_tensor *r = tg_reshape(t, x, TG_SHAPE(3, -1));
    cr_expect_eq(r->shape[1], 2);
    cr_expect_eq(r->data, x->data);
    tg_tensor *loss = tg_sum(t, tg_mul(t, r, r), TG_ALL, false);
    cr_assert_eq(tg_backward(t, loss), TG_OK);
    cr_expect_float_eq(x->grad[5], 12, EPS);
}

/* linear with zero input features (F.linear(x [3,0], W [2,0], b)): the
   product is empty, so y is b on every row, and dL/db sums dL/dy over the 3
   rows. The arena is dirtied first so that an unwritten output would show. */
Test(tape, linear_with_zero_input_features_is_the_bias)
{
    tg_full(t, TG_SHAPE(256), 7);
    tg_tape_reset(t);
    tg_tensor *x = tg_requires_grad(tg_zeros(t, TG_SHAPE(3, 0)), true);
    tg_tensor *W = tg_requires_grad(tg_zeros(t, TG_SHAPE(2, 0)), true);
    const tg_real bs[] = {1.5, -2};
    tg_tensor *b = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2), bs), true);
    tg_tensor *y = tg_linear(t, x, W, b);
    cr_assert(y, "%s", tg_tape_error(t));
    cr_assert_eq(y->size, 6);
    for (int i = 0; i < 6; i++) cr_expect_float_eq(y->data[i], bs[i % 2], EPS, "y[%d]", i);
    cr_assert_eq(tg_backward(t, tg_sum(t, y, TG_ALL, false)), TG_OK);
    cr_expect_float_eq(b->grad[0], 3, EPS);
    cr_expect_float_eq(b->grad[1], 3, EPS);
}

/* --------------------------------------------------------- memory and reset */

static tg_tensor *mlp_step(tg_tape *tp, tg_params *p, const tg_real *xs)
{
    tg_tensor *x = tg_tensor_new(tp, TG_SHAPE(16, 20), xs);
    tg_tensor *h = tg_tanh(tp, tg_linear(tp, x, tg_params_get(p, "fc1.weight"), tg_params_get(p, "fc1.bias")));
    tg_tensor *y = tg_linear(tp, h, tg_params_get(p, "fc2.weight"), tg_params_get(p, "fc2.bias"));
    return tg_mean(tp, tg_square(tp, y), TG_ALL, false);
}

Test(tape, steady_state_training_loop_allocates_nothing)
{
    tg_params *p = tg_params_new();
    tg_params_add(p, "fc1.weight", TG_SHAPE(32, 20));
    tg_params_add(p, "fc1.bias", TG_SHAPE(32));
    tg_params_add(p, "fc2.weight", TG_SHAPE(4, 32));
    tg_params_add(p, "fc2.bias", TG_SHAPE(4));
    tg_real *w = tg_params_data(p);
    for (size_t i = 0; i < tg_params_block_len(p); i++) w[i] = (tg_real)((int)(i % 7) - 3) / 20;
    tg_real xs[16 * 20];
    for (int i = 0; i < 16 * 20; i++) xs[i] = (tg_real)((i * 37) % 11) / 11;

    tg_tape_stats first = {0};
    tg_real prev = 1e30f;
    for (int step = 0; step < 20; step++) {
        tg_tensor *loss = mlp_step(t, p, xs);
        cr_assert(loss, "%s", tg_tape_error(t));
        tg_params_zero_grad(p);
        cr_assert_eq(tg_backward(t, loss), TG_OK);
        tg_real *g = tg_params_grad(p);
        for (size_t i = 0; i < tg_params_block_len(p); i++) w[i] -= (tg_real)0.1 * g[i];
        if (step == 0) first = tg_tape_get_stats(t);
        tg_tape_stats now = tg_tape_get_stats(t);
        cr_expect_eq(now.heap_allocs, first.heap_allocs, "step %d allocated", step);
        cr_expect_eq(now.arena_reserved, first.arena_reserved);
        cr_expect_eq(now.records, first.records);
        cr_expect(loss->data[0] <= prev, "plain gradient descent should not increase this loss");
        prev = loss->data[0];
        tg_tape_reset(t);
        cr_expect_eq(tg_tape_get_stats(t).records, 0);
        cr_expect_eq(tg_tape_get_stats(t).arena_used, 0);
    }
    cr_expect(first.records == 5, "records per step (linear, tanh, linear, square, mean): %zu",
              first.records);
    tg_params_free(p);
}

Test(tape, arena_grows_for_large_tensors_and_keeps_memory)
{
    tg_tensor *big = tg_zeros(t, TG_SHAPE(1024, 1024)); /* 4 or 8 MiB: larger than a chunk */
    cr_assert(big);
    for (int64_t i = 0; i < big->size; i += 4096) big->data[i] = 1;
    tg_tape_stats s = tg_tape_get_stats(t);
    cr_expect(s.arena_reserved >= (size_t)big->size * sizeof(tg_real));
    cr_expect_eq((uintptr_t)big->data % 64, 0, "64-byte aligned");
    tg_tape_reset(t);
    tg_tensor *again = tg_zeros(t, TG_SHAPE(1024, 1024));
    cr_assert(again);
    cr_expect_eq(tg_tape_get_stats(t).heap_allocs, s.heap_allocs);
    void *scratch = tg_tape_alloc(t, 100);
    cr_expect_eq((uintptr_t)scratch % 64, 0);
}

/* The arena's alignment (src/core/arena.c): tensor values of 64 bytes or
   more start on a 64-byte line; smaller ones are aligned to their size
   rounded up to a power of two (16 at least), so that none straddles two
   lines; tg_tape_alloc stays 64-byte aligned whatever the size; and small
   blocks are packed: a hundred scalars take far less than a line each. */
Test(tape, arena_aligns_values_by_size_and_packs_small_ones)
{
    static const int64_t lens[] = {1, 2, 3, 4, 5, 8, 9, 15, 16, 17, 33, 100};
    for (int rep = 0; rep < 3; rep++)
        for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
            tg_tensor *x = tg_zeros(t, TG_SHAPE(lens[k]));
            cr_assert(x, "%s", tg_tape_error(t));
            size_t bytes = (size_t)lens[k] * sizeof(tg_real), want = 16;
            while (want < 64 && want < bytes) want *= 2;
            uintptr_t a = (uintptr_t)x->data;
            cr_expect_eq(a % want, 0, "%zu bytes at %p: not %zu-byte aligned", bytes, x->data,
                         want);
            if (bytes <= 64)
                cr_expect_eq(a / 64, (a + bytes - 1) / 64, "%zu bytes at %p straddle two lines",
                             bytes, x->data);
            cr_expect_eq((uintptr_t)tg_tape_alloc(t, 1 + k) % 64, 0, "tg_tape_alloc: 64-byte aligned");
        }
    tg_tape_reset(t);
    size_t before = tg_tape_get_stats(t).arena_used;
    for (int i = 0; i < 100; i++) cr_assert(tg_scalar(t, (tg_real)i));
    size_t per = (tg_tape_get_stats(t).arena_used - before) / 100;
    cr_expect(per <= sizeof(tg_tensor) + 16 + 16, "a scalar takes %zu bytes of the arena", per);
}

/* ------------------------------------------------------------------ params */

Test(tape, params_registry)
{
    tg_params *p = tg_params_new();
    tg_tensor *a = tg_params_add(p, "fc1.weight", TG_SHAPE(3, 5));
    tg_tensor *b = tg_params_add(p, "fc1.bias", TG_SHAPE(3));
    cr_assert(a && b);
    for (int i = 0; i < 15; i++) a->data[i] = (tg_real)i;
    tg_tensor *c = tg_params_add(p, "fc2.weight", TG_SHAPE(100, 3)); /* blocks grow and move */
    cr_assert(c);
    cr_expect_float_eq(a->data[14], 14, EPS, "values survive the block moving");
    cr_expect_eq(tg_params_get(p, "fc1.bias"), b);
    cr_expect_null(tg_params_get(p, "nope"));
    cr_expect_eq(tg_params_count(p), 3);
    cr_expect_eq(tg_params_at(p, 2), c);
    cr_expect_null(tg_params_at(p, 3));
    cr_expect_eq(tg_params_numel(p), 15 + 3 + 300);
    cr_expect_str_eq(c->name, "fc2.weight");
    cr_expect(c->flags & TG_PARAM);
    cr_expect(c->flags & TG_REQUIRES_GRAD);
    /* one contiguous block each, every parameter 64-byte aligned inside it */
    tg_real *data = tg_params_data(p), *grad = tg_params_grad(p);
    size_t len = tg_params_block_len(p);
    for (size_t i = 0; i < tg_params_count(p); i++) {
        tg_tensor *x = tg_params_at(p, i);
        cr_expect(x->data >= data && x->data + x->size <= data + len);
        cr_expect(x->grad >= grad && x->grad + x->size <= grad + len);
        cr_expect_eq((uintptr_t)x->data % 64, 0);
        cr_expect_eq(x->grad - grad, x->data - data);
    }
    for (size_t i = 0; i < len; i++) grad[i] = 1;
    tg_params_zero_grad(p);
    for (size_t i = 0; i < len; i++) cr_expect_float_eq(grad[i], 0, 0);
    /* refusals */
    cr_expect_null(tg_params_add(p, "fc1.bias", TG_SHAPE(3)));
    cr_expect_str_eq(tg_last_error(), "tg_params_add: a parameter named 'fc1.bias' exists");
    cr_expect_null(tg_params_add(p, "z", TG_SHAPE(0, 3)));
    cr_expect(strstr(tg_last_error(), "invalid shape [0,3]") != NULL);
    cr_expect_null(tg_params_add(p, "", TG_SHAPE(1)));
    cr_expect_null(tg_params_add(NULL, "x", TG_SHAPE(1)));
    cr_expect_eq(tg_params_count(p), 3, "nothing half-added");
    tg_params_free(p);
    tg_params_free(NULL);
}

/* The blocks grow by doubling: many small adds move them a logarithmic
   number of times, and every value, gradient and zero padding survives. */
Test(tape, params_blocks_grow_geometrically)
{
    enum { N = 3000 };
    const int64_t PAD_ELEMS = 64 / sizeof(tg_real); /* parameters start on 64 bytes */
    tg_params *p = tg_params_new();
    int moves = 0;
    tg_real *last = NULL;
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d", i);
        tg_tensor *x = tg_params_add(p, name, TG_SHAPE(1 + i % 7));
        cr_assert(x, "add %d: %s", i, tg_last_error());
        for (int64_t j = 0; j < x->size; j++) x->data[j] = (tg_real)(i + j), x->grad[j] = (tg_real)-i;
        if (tg_params_data(p) != last) moves++, last = tg_params_data(p);
    }
    /* each parameter takes one padded unit; the first block holds one, and
       doubling reaches 3000 in 12 more (2^12 = 4096): 13 allocations */
    cr_expect_leq(moves, 13, "the blocks moved %d times for %d adds", moves, N);
    cr_expect_eq(tg_params_block_len(p), (size_t)N * PAD_ELEMS);
    tg_real *d = tg_params_data(p), *g = tg_params_grad(p);
    for (int i = 0; i < N; i++) {
        tg_tensor *x = tg_params_at(p, (size_t)i);
        cr_assert_eq(x->data, d + (size_t)i * PAD_ELEMS, "parameter %d points into the block", i);
        cr_assert_eq(x->grad, g + (size_t)i * PAD_ELEMS);
        for (int64_t j = 0; j < PAD_ELEMS; j++) {
            tg_real want = j < x->size ? (tg_real)(i + j) : 0, want_g = j < x->size ? (tg_real)-i : 0;
            cr_assert(x->data[j] == want && x->grad[j] == want_g, "parameter %d element %ld", i,
                      (long)j);
        }
    }
    tg_params_free(p);
}

/* -------------------------------------------------------------- tensors */

Test(tape, creation_and_metadata)
{
    tg_tensor *s = tg_scalar(t, 2.5f);
    cr_expect_eq(s->ndim, 0);
    cr_expect_eq(s->size, 1);
    cr_expect_float_eq(s->data[0], 2.5, EPS);
    tg_tensor *f = tg_full(t, TG_SHAPE(2, 3, 4), -1);
    cr_expect_eq(f->size, 24);
    cr_expect_float_eq(f->data[23], -1, EPS);
    cr_expect_null(f->grad);
    cr_expect_eq(f->rec, -1);
    tg_tensor *o = tg_ones(t, TG_SHAPE(5));
    cr_expect_float_eq(o->data[4], 1, EPS);
    char buf[64];
    cr_expect_str_eq(tg_shape_str(f, buf, sizeof buf), "[2,3,4]");
    cr_expect(tg_same_shape(f, tg_zeros(t, TG_SHAPE(2, 3, 4))));
    cr_expect(!tg_same_shape(f, o));
    tg_tensor_set_name(o, "ones");
    cr_expect_str_eq(o->name, "ones");
    cr_expect_str_eq(tg_real_name(), sizeof(tg_real) == 8 ? "double" : "float");
    cr_expect_str_eq(tg_version(), "0.2.0");
}

Test(tape, print_is_readable)
{
    const tg_real xs[] = {1, 2, 3, 4, 5, 6};
    tg_tensor *x = tg_tensor_new(t, TG_SHAPE(2, 3), xs);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    tg_tensor_print(x, f);
    fclose(f);
    cr_expect_str_eq(out, "shape [2,3]\n[[1, 2, 3],\n [4, 5, 6]]\n");
    free(out);
    tg_tensor *big = tg_zeros(t, TG_SHAPE(2000));
    f = open_memstream(&out, &len);
    tg_tensor_print(big, f);
    fclose(f);
    cr_expect_str_eq(out, "shape [2000]\n[0, 0, 0, ..., 0, 0, 0]\n");
    free(out);
}
