/* Every activation against PyTorch: outputs and input gradients (prelu's
   weight included) of every case in tests/golden/act_*.txt, written by
   tests/gen_golden_act.py: random inputs of several shapes ([4,6,2] and
   [27,13] among them), every option, inputs exactly at the kinks. Each case
   prints tdist (the Euclidean norm of the difference) of the output and of
   each gradient. Tolerances are gt_default_tol(): float rtol 1e-5 / atol 1e-6,
   double rtol 1e-12 / atol 1e-14. */
#include <criterion/criterion.h>

#include "act_builders.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("act");
    cr_assert(gold != NULL, "tests/golden/act_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_act, .init = load, .fini = unload);

/* First order (the fast backward), then second (and third) order through
   create_graph, whose first order must agree with the fast one. */
#define GOLDEN(NAME)                                                                        \
    Test(golden_act, NAME) { gt_run_op(gold, #NAME, b_##NAME, gt_default_tol()); }          \
    Test(golden_act, NAME##_order2) { gt_run_op2(gold, #NAME, b_##NAME, gt_default_tol()); }

GOLDEN(sigmoid)
GOLDEN(tanh)
GOLDEN(relu)
GOLDEN(relu6)
GOLDEN(leaky_relu)
GOLDEN(elu)
GOLDEN(selu)
GOLDEN(celu)
GOLDEN(softplus)
GOLDEN(softsign)
GOLDEN(gelu)
GOLDEN(silu)
GOLDEN(mish)
GOLDEN(hardtanh)
/* PyTorch's hardsigmoid_backward multiplies by the constant 1/6 rounded to
   float even in double (1.0f / 6.0f), so its double gradients carry a
   relative error of 3e-8; tapegrad uses the exact 1/6. The double tolerance
   is widened to rtol 1e-7 for that op only (the float one is unchanged). */
Test(golden_act, hardsigmoid)
{
    gt_tol tol = gt_default_tol();
#ifdef TG_DOUBLE
    tol.rtol = 1e-7;
#endif
    gt_run_op(gold, "hardsigmoid", b_hardsigmoid, tol);
}
Test(golden_act, hardsigmoid_order2)
{
    gt_tol tol = gt_default_tol();
#ifdef TG_DOUBLE
    tol.rtol = 1e-7; /* its first order, compared again, as above */
#endif
    gt_run_op2(gold, "hardsigmoid", b_hardsigmoid, tol);
}
GOLDEN(hardswish)
GOLDEN(logsigmoid)
GOLDEN(prelu)
GOLDEN(softmax)
GOLDEN(log_softmax)

/* No case in the file is skipped for want of a test. */
Test(golden_act, every_case_is_run)
{
    for (int i = 0; i < gold->n; i++)
        cr_expect(builder_of(gold->cases[i].op) != NULL, "case %s: no builder for op %s",
                  gold->cases[i].name, gold->cases[i].op);
}

/* prelu's weight as a parameter (off the tape): its gradient accumulates
   in the tg_params block across two backward calls, as PyTorch's does. */
Test(golden_act, prelu_weight_is_a_parameter)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "prelu.weight", TG_SHAPE(3));
    for (int i = 0; i < 3; i++) w->data[i] = (tg_real)TG_PRELU_INIT;
    tg_tape *t = tg_tape_new();
    const tg_real xs[6] = {-1, 2, -3, 4, -5, -6}; /* [2, 3]: channel c = column */
    tg_tensor *x = tg_tensor_new(t, TG_SHAPE(2, 3), xs);
    tg_tensor *loss = tg_sum(t, tg_prelu(t, x, w), TG_ALL, false);
    cr_assert(loss, "%s", tg_tape_error(t));
    cr_expect_float_eq(loss->data[0], 0.25 * (-1 - 3 - 5 - 6) + 4 + 2, 1e-6);
    cr_assert_eq(tg_backward(t, loss), TG_OK);
    cr_assert_eq(tg_backward(t, loss), TG_OK);
    /* dℓ/dw_c = Σ of the channel's non-positive x, twice: 2·(−1), 2·(−5), 2·(−3 − 6) */
    cr_expect_float_eq(w->grad[0], -2, 1e-6);
    cr_expect_float_eq(w->grad[1], -10, 1e-6);
    cr_expect_float_eq(w->grad[2], -18, 1e-6);
    tg_tape_free(t);
    tg_params_free(p);
}

Test(golden_act, bad_arguments_fail_with_a_message)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(4, 5));
    tg_tensor *w = tg_zeros(t, TG_SHAPE(3));
    cr_expect_null(tg_prelu(t, x, w));
    cr_expect(strstr(tg_tape_error(t), "tg_prelu") && strstr(tg_tape_error(t), "[4,5]"), "%s",
              tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_softmax(t, x, 2));
    cr_expect(strstr(tg_tape_error(t), "tg_softmax: axis 2"), "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_hardtanh(t, x, 1, -1));
    cr_expect(strstr(tg_tape_error(t), "tg_hardtanh"), "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_celu(t, x, 0));
    cr_expect_null(tg_softplus(t, x, 0, 20));
    cr_expect_null(tg_gelu(t, x, (tg_gelu_approx)7));
    cr_expect_null(tg_relu(t, NULL)); /* an earlier failure passes through */
    tg_tape_free(t);
}
