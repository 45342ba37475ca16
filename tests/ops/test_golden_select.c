/* Against PyTorch, first and second order (tests/golden/select_*.txt,
   written by tests/gen_golden_select.py): comparisons, sign, where, clamp,
   erf, expand, sum_to, matmul with broadcast batch dimensions and 1-D
   operands, dot and outer. Tolerances: gt_default_tol(); matmul, dot and
   outer as matmul in test_golden_core.c (float: atol 1e-5 for sums of
   products whose terms cancel). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "select_builders.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("select");
    cr_assert(gold != NULL, "tests/golden/select_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_select, .init = load, .fini = unload);

static gt_tol dot_tol(void)
{
    gt_tol tol = gt_default_tol();
#ifndef TG_DOUBLE
    tol.atol = 1e-5;
#endif
    return tol;
}

/* forward only: no gradient anywhere */
#define FORWARD(NAME) \
    Test(golden_select, NAME) { gt_run_op(gold, #NAME, sel_##NAME, gt_default_tol()); }
FORWARD(eq)
FORWARD(ne)
FORWARD(lt)
FORWARD(le)
FORWARD(gt)
FORWARD(ge)
FORWARD(sign)

#define BOTH(NAME, TOL)                                                                     \
    Test(golden_select, NAME) { gt_run_op(gold, #NAME, sel_##NAME, TOL); }                    \
    Test(golden_select, NAME##_order2) { gt_run_op2(gold, #NAME, sel_##NAME, TOL); }
BOTH(where, gt_default_tol())
BOTH(clamp, gt_default_tol())
BOTH(erf, gt_default_tol())
BOTH(expand, gt_default_tol())
BOTH(sum_to, gt_default_tol())
BOTH(matmul, dot_tol())
BOTH(dot, dot_tol())
BOTH(outer, dot_tol())

/* Comparisons and sign are never recorded: their results need no grad. */
Test(golden_select, comparisons_are_constants)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_ones(t, TG_SHAPE(3)), true);
    tg_tensor *r[3] = {tg_gt(t, x, tg_scalar(t, 0)), tg_sign(t, x), tg_eq(t, x, x)};
    for (int i = 0; i < 3; i++) {
        cr_assert_not_null(r[i]);
        cr_expect(!(r[i]->flags & TG_REQUIRES_GRAD), "result %d", i);
    }
    cr_expect_eq(tg_tape_record_count(t), 0);
    tg_tape_free(t);
}

Test(golden_select, bad_shapes_are_named)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *a = tg_zeros(t, TG_SHAPE(2, 3)), *b = tg_zeros(t, TG_SHAPE(4));
    cr_expect_null(tg_where(t, a, a, b));
    cr_expect(strstr(tg_tape_error(t), "tg_where: shapes cannot be broadcast together") != NULL,
              "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_expand(t, a, TG_SHAPE(4, 3)));
    cr_expect(strstr(tg_tape_error(t), "tg_expand: [2,3] does not broadcast to [4,3]") != NULL,
              "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_sum_to(t, a, TG_SHAPE(2)));
    cr_expect(strstr(tg_tape_error(t), "tg_sum_to: [2] does not broadcast to [2,3]") != NULL,
              "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_dot(t, a, a));
    cr_expect(strstr(tg_tape_error(t), "tg_dot: needs two vectors") != NULL, "%s",
              tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_clamp(t, a, (tg_real)NAN, 1));
    cr_expect(strstr(tg_tape_error(t), "tg_clamp: a bound is NaN") != NULL, "%s",
              tg_tape_error(t));
    tg_tape_free(t);
}

Test(golden_select, every_case_is_run)
{
    const char *ops[] = {"eq", "ne", "lt", "le", "gt", "ge", "sign", "where", "clamp", "erf",
                         "expand", "sum_to", "matmul", "dot", "outer"};
    for (int i = 0; i < gold->n; i++) {
        bool known = false;
        for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) known |= !strcmp(ops[k], gold->cases[i].op);
        cr_expect(known, "case %s: op %s has no test", gold->cases[i].name, gold->cases[i].op);
    }
}
