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

/* Tensor.expand's -1: x's own size kept there; on a new leading dimension
   refused, as PyTorch ("the expanded size of the tensor (-1) isn't allowed
   in a leading, non-existing dimension"). x [2, 1] to (3, -1, 4): x's rows
   repeated, as the explicit (3, 2, 4) gives, and the gradient the same. */
Test(golden_select, expand_keeps_a_size_given_as_minus_one)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2, 1), (tg_real[]){5, -7}), true);
    tg_tensor *y = tg_expand(t, x, TG_SHAPE(3, -1, 4)), *z = tg_expand(t, x, TG_SHAPE(3, 2, 4));
    cr_assert(y && z, "%s", tg_tape_error(t));
    cr_assert(y->ndim == 3 && y->shape[0] == 3 && y->shape[1] == 2 && y->shape[2] == 4);
    for (int i = 0; i < 24; i++) cr_expect_eq(y->data[i], z->data[i]);
    cr_assert_eq(tg_backward(t, tg_sum(t, y, TG_ALL, false)), TG_OK, "%s", tg_tape_error(t));
    cr_expect(x->grad[0] == 12 && x->grad[1] == 12);
    cr_expect_null(tg_expand(t, x, TG_SHAPE(-1, 2, 4)));
    cr_expect(strstr(tg_tape_error(t), "tg_expand: -1 at dimension 0 of [-1,2,4], a new "
                                       "dimension that [2,1] does not have") != NULL,
              "%s", tg_tape_error(t));
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
