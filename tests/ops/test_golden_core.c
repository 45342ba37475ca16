/* The core ops against PyTorch: outputs and input gradients of every case in
   tests/golden/core_*.txt (written by tests/gen_golden_core.py). Tolerances
   are gt_default_tol(): float rtol 1e-5 / atol 1e-6, double rtol 1e-12 /
   atol 1e-14. */
#include <criterion/criterion.h>

#include "core_builders.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("core");
    cr_assert(gold != NULL, "tests/golden/core_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_core, .init = load, .fini = unload);

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
