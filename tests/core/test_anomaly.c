/* Anomaly mode (tg_tape_set_anomaly, like torch.autograd.set_detect_anomaly):
   when on, the first record whose forward output or backward gradient holds
   a NaN or Inf fails and the tape's error names the op, the record index
   and which input's gradient; when off (the default) nothing is checked. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>
#include <tapegrad.h>

static tg_tape *t;
static void setup(void) { t = tg_tape_new(); }
static void teardown(void) { tg_tape_free(t); }
TestSuite(anomaly, .init = setup, .fini = teardown);

static tg_tensor *leaf(int n, const tg_real *v)
{
    return tg_requires_grad(tg_tensor_new(t, TG_SHAPE(n), v), true);
}

#define EXPECT_IN_ERROR(s)                                                                     \
    cr_expect(strstr(tg_tape_error(t), (s)) != NULL, "'%s' is not in the error: %s", (s),      \
              tg_tape_error(t))

Test(anomaly, is_off_by_default_and_toggles)
{
    cr_expect_eq(tg_tape_set_anomaly(t, true), false, "off by default");
    cr_expect_eq(tg_tape_set_anomaly(t, false), true, "returns the previous setting");
    cr_expect_eq(tg_tape_set_anomaly(NULL, true), false);
}

Test(anomaly, off_lets_nan_and_inf_through)
{
    tg_real v[] = {1, -1};
    tg_tensor *x = leaf(2, v);
    tg_tensor *y = tg_log(t, tg_scale(t, x, 1)); /* log(-1) = NaN */
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    cr_expect(isnan(y->data[1]));
    cr_expect(!tg_tape_failed(t), "%s", tg_tape_error(t));

    tg_real z[] = {0, 4};
    tg_tensor *w = leaf(2, z);
    tg_tensor *loss = tg_sum(t, tg_sqrt(t, tg_add_scalar(t, w, 0)), TG_ALL, false);
    cr_assert_not_null(loss);
    cr_expect_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
    cr_expect(isinf(w->grad[0]), "d sqrt(x)/dx at 0 is inf, got %g", (double)w->grad[0]);
    cr_expect_str_eq(tg_tape_error(t), "");
}

Test(anomaly, names_the_first_record_with_nan_in_its_output)
{
    tg_tape_set_anomaly(t, true);
    tg_real v[] = {1, -1};
    tg_tensor *x = leaf(2, v);
    tg_tensor *a = tg_scale(t, x, 1);   /* record 0: finite */
    cr_assert_not_null(a, "%s", tg_tape_error(t));
    tg_tensor *b = tg_exp(t, a);        /* record 1: finite */
    cr_assert_not_null(b, "%s", tg_tape_error(t));
    tg_tensor *c = tg_log(t, tg_neg(t, b)); /* record 2: neg, finite; record 3: log(−e) = NaN */
    cr_expect_null(c, "the op that made a NaN fails");
    cr_expect(tg_tape_failed(t));
    EXPECT_IN_ERROR("anomaly");
    EXPECT_IN_ERROR("record 3");
    EXPECT_IN_ERROR("tg_log");
    EXPECT_IN_ERROR("output");
    /* the first error wins: later ops pass the failure on */
    tg_tensor *d = tg_exp(t, x);
    cr_expect_not_null(d, "later ops with good inputs still run");
    tg_tensor *loss = tg_sum(t, c, TG_ALL, false);
    cr_expect_null(loss);
    cr_expect_neq(tg_backward(t, loss), TG_OK);
    EXPECT_IN_ERROR("record 3 (tg_log)");
}

Test(anomaly, names_the_record_whose_backward_made_inf)
{
    tg_tape_set_anomaly(t, true);
    tg_real v[] = {0, 4}; /* sqrt(0) = 0 is fine forward; its gradient 1/(2·0) is inf */
    tg_tensor *x = leaf(2, v);
    tg_tensor *a = tg_add_scalar(t, x, 0);           /* record 0 */
    tg_tensor *s = tg_sqrt(t, a);                    /* record 1 */
    tg_tensor *loss = tg_sum(t, s, TG_ALL, false);   /* record 2 */
    cr_assert_not_null(loss, "%s", tg_tape_error(t));
    cr_expect(!tg_tape_failed(t), "the forward pass is finite: %s", tg_tape_error(t));
    cr_expect_eq(tg_backward(t, loss), TG_ERR_NUMERIC);
    EXPECT_IN_ERROR("anomaly");
    EXPECT_IN_ERROR("record 1 (tg_sqrt)");
    EXPECT_IN_ERROR("gradient of input 0");
    cr_expect_null(strstr(tg_tape_error(t), "record 0"), "record 0 is never reached: %s",
                   tg_tape_error(t));
}

Test(anomaly, names_which_input_of_a_binary_op)
{
    tg_tape_set_anomaly(t, true);
    /* a/b with a tiny b: a/b is finite, but ∂(a/b)/∂b = −a/b² overflows */
#ifdef TG_DOUBLE
    const tg_real tiny = 1e-200;
#else
    const tg_real tiny = 1e-30f;
#endif
    tg_real va[] = {1, 2}, vb[] = {1, tiny};
    tg_tensor *a = leaf(2, va), *b = leaf(2, vb);
    tg_tensor *q = tg_div(t, tg_scale(t, a, 1), tg_scale(t, b, 1)); /* records 0, 1, 2 */
    tg_tensor *loss = tg_sum(t, q, TG_ALL, false);                   /* record 3 */
    cr_assert_not_null(loss, "%s", tg_tape_error(t));
    cr_expect(isfinite(q->data[1]), "the forward value %g is finite", (double)q->data[1]);
    cr_expect_eq(tg_backward(t, loss), TG_ERR_NUMERIC);
    EXPECT_IN_ERROR("record 2 (tg_div)");
    EXPECT_IN_ERROR("gradient of input 1");
}

Test(anomaly, finite_graphs_pass_untouched)
{
    tg_tape_set_anomaly(t, true);
    tg_real v[] = {0.5, 2};
    tg_tensor *x = leaf(2, v);
    tg_tensor *loss = tg_sum(t, tg_log(t, tg_sqrt(t, x)), TG_ALL, false);
    cr_assert_not_null(loss, "%s", tg_tape_error(t));
    cr_expect_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
    /* d/dx log √x = 1/(2x) */
    cr_expect(fabs((double)x->grad[0] - 1.0) < 1e-6 && fabs((double)x->grad[1] - 0.25) < 1e-6);
}

/* The messages say which tensor, its shape, the first bad element and
   whether it is NaN or Inf. */
Test(anomaly, names_the_tensor_element_and_kind)
{
    tg_tape_set_anomaly(t, true);
    tg_real v[] = {0, 4};
    tg_tensor *x = tg_tensor_set_name(leaf(2, v), "x");
    tg_tensor *s = tg_sqrt(t, x); /* record 0: d/dx at 0 is +inf */
    tg_tensor *loss = tg_sum(t, s, TG_ALL, false);
    cr_assert_not_null(loss, "%s", tg_tape_error(t));
    cr_expect_eq(tg_backward(t, loss), TG_ERR_NUMERIC);
    cr_expect_str_eq(tg_tape_error(t), "anomaly: record 0 (tg_sqrt) produced NaN or Inf in the "
                                       "gradient of input 0: the gradient of 'x' [2] is inf at "
                                       "element 0");
}

/* An op that records nothing (no input needs a gradient) has no record
   number to give: the message says so instead of naming the next record. */
Test(anomaly, unrecorded_ops_are_named_without_a_record)
{
    tg_tape_set_anomaly(t, true);
    tg_real v[] = {2, -1, 3};
    tg_tensor *c = tg_tensor_new(t, TG_SHAPE(3), v); /* t0, needs no gradient; log(c) is t1 */
    cr_expect_null(tg_log(t, c));
    cr_expect(strstr(tg_tape_error(t), "anomaly: tg_log (not recorded: no input needs a gradient) "
                                       "produced NaN or Inf in its output: t1 [3] is nan at "
                                       "element 1") != NULL,
              "%s", tg_tape_error(t));
}

/* A non-finite seed is the caller's, not the last record's. */
Test(anomaly, a_nonfinite_seed_is_named_as_such)
{
    tg_tape_set_anomaly(t, true);
    tg_real v[] = {1, 2};
    tg_tensor *x = leaf(2, v);
    tg_tensor *y = tg_square(t, x);
    const tg_real dy[] = {1, NAN};
    cr_expect_eq(tg_backward_grad(t, y, dy), TG_ERR_NUMERIC);
    EXPECT_IN_ERROR("the output gradient given to tg_backward has NaN or Inf");
    EXPECT_IN_ERROR("is nan at element 1");
    cr_expect_null(strstr(tg_tape_error(t), "record"), "%s", tg_tape_error(t));
}

/* A parameter whose gradient is already NaN from an earlier, un-zeroed
   backward is named as such, not blamed on the first record touching it. */
Test(anomaly, stale_gradients_are_named_not_blamed)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "fc.weight", TG_SHAPE(2));
    w->grad[1] = INFINITY; /* left over from an earlier step */
    tg_tape_set_anomaly(t, true);
    tg_real v[] = {1, 2};
    tg_tensor *x = tg_tensor_new(t, TG_SHAPE(2), v);
    tg_tensor *loss = tg_sum(t, tg_mul(t, w, x), TG_ALL, false);
    cr_assert_not_null(loss, "%s", tg_tape_error(t));
    cr_expect_eq(tg_backward(t, loss), TG_ERR_NUMERIC);
    cr_expect_str_eq(tg_tape_error(t), "anomaly: before backward, the accumulated gradient of "
                                       "'fc.weight' [2] is inf at element 1 (left from an earlier "
                                       "backward: zero it first)");
    tg_tape_reset(t);
    tg_params_zero_grad(p);
    x = tg_tensor_new(t, TG_SHAPE(2), v);
    loss = tg_sum(t, tg_mul(t, w, x), TG_ALL, false);
    cr_expect_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
    tg_params_free(p);
}
