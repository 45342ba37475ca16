/* Attention (src/ops/attention.c): written next. */
#include "ops/ops_internal.h"

const tg_op_table tg_attention_ops = {NULL, 0};
