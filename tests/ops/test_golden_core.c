/* The core ops against PyTorch: outputs and input gradients of every case in
   tests/golden/core_*.txt (written by tests/gen_golden_core.py). Tolerances
   are gt_default_tol(): float rtol 1e-5 / atol 1e-6, double rtol 1e-12 /
   atol 1e-14. */
#include <criterion/criterion.h>

#include "golden.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("core");
    cr_assert(gold != NULL, "tests/golden/core_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_core, .init = load, .fini = unload);

static tg_tensor *b_add(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_add(t, in[0], in[1]); }
static tg_tensor *b_sub(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_sub(t, in[0], in[1]); }
static tg_tensor *b_mul(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_mul(t, in[0], in[1]); }
static tg_tensor *b_div(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_div(t, in[0], in[1]); }
static tg_tensor *b_neg(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_neg(t, in[0]); }
static tg_tensor *b_scale(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_scale(t, in[0], (tg_real)gt_attr(c, "s", 0)); }
static tg_tensor *b_add_scalar(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_add_scalar(t, in[0], (tg_real)gt_attr(c, "s", 0)); }
static tg_tensor *b_pow(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_pow(t, in[0], (tg_real)gt_attr(c, "p", 1)); }
static tg_tensor *b_exp(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_exp(t, in[0]); }
static tg_tensor *b_log(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_log(t, in[0]); }
static tg_tensor *b_sqrt(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_sqrt(t, in[0]); }
static tg_tensor *b_abs(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_abs(t, in[0]); }
static tg_tensor *b_square(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_square(t, in[0]); }
static tg_tensor *b_matmul(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_matmul(t, in[0], in[1]); }
static tg_tensor *b_transpose(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_transpose(t, in[0], (int)gt_attr(c, "d0", 0), (int)gt_attr(c, "d1", 1));
}
static tg_tensor *b_linear(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_linear(t, in[0], in[1], c->n_in > 2 ? in[2] : NULL); }
static tg_tensor *b_reshape(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    int64_t shape[TG_MAX_DIMS];
    int n = (int)gt_attr(c, "ndim", 0);
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "d%d", i);
        shape[i] = (int64_t)gt_attr(c, key, 0);
    }
    return tg_reshape(t, in[0], n, shape);
}
static tg_tensor *b_flatten(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_flatten(t, in[0]); }
static int axis_of(const gt_case *c) { return gt_attr(c, "all", 0) ? TG_ALL : (int)gt_attr(c, "axis", 0); }
static tg_tensor *b_sum(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_sum(t, in[0], axis_of(c), gt_attr(c, "keepdim", 0) != 0); }
static tg_tensor *b_mean(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_mean(t, in[0], axis_of(c), gt_attr(c, "keepdim", 0) != 0); }
static tg_tensor *b_max(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_max(t, in[0], axis_of(c), gt_attr(c, "keepdim", 0) != 0); }

/* First order (the fast backward), then second (and third) order through
   create_graph, whose first order must agree with the fast one. */
#define GOLDEN(NAME)                                                                        \
    Test(golden_core, NAME) { gt_run_op(gold, #NAME, b_##NAME, gt_default_tol()); }         \
    Test(golden_core, NAME##_order2) { gt_run_op2(gold, #NAME, b_##NAME, gt_default_tol()); }

GOLDEN(add)
GOLDEN(sub)
GOLDEN(mul)
GOLDEN(div)
GOLDEN(neg)
GOLDEN(scale)
GOLDEN(add_scalar)
GOLDEN(pow)
GOLDEN(exp)
GOLDEN(log)
GOLDEN(sqrt)
GOLDEN(abs)
GOLDEN(square)
GOLDEN(transpose)
GOLDEN(reshape)
GOLDEN(flatten)
GOLDEN(sum)
GOLDEN(mean)
GOLDEN(max)

/* matmul and linear sum K products per output (K up to 100 here). In float
   the rounding error of such a sum is about sqrt(K)·eps·max|partial sum|,
   which depends on the terms, not on the result: where the terms cancel to
   a small result (0.05 from unit-normal terms), 1e-5 *relative* is below
   what any summation order can promise, and the GEMM's order (blocked, or
   OpenBLAS's) is not PyTorch's. So float gets atol 1e-5 here; rtol stays
   1e-5, and double keeps its default. */
static gt_tol dot_tol(void)
{
    gt_tol tol = gt_default_tol();
#ifndef TG_DOUBLE
    tol.atol = 1e-5;
#endif
    return tol;
}
Test(golden_core, matmul) { gt_run_op(gold, "matmul", b_matmul, dot_tol()); }
Test(golden_core, linear) { gt_run_op(gold, "linear", b_linear, dot_tol()); }
Test(golden_core, matmul_order2) { gt_run_op2(gold, "matmul", b_matmul, dot_tol()); }
Test(golden_core, linear_order2) { gt_run_op2(gold, "linear", b_linear, dot_tol()); }
