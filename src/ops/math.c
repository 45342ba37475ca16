/* Element-wise math: rounding, trigonometric and hyperbolic functions, logarithms and exponentials, minimum and maximum, lerp, pow with tensors.

   Every op here has its forward, its backward (the fast kernel) and its
   vjp (the same rule written with tg_ ops, for create_graph), side by side. */
#include "ops/ops_internal.h"

const tg_op_table tg_math_ops = {NULL, 0};
