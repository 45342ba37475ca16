#include "ops/ops_internal.h"
const tg_op_table tg_norm_ops = {NULL, 0};
