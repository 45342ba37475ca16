/* The built-in op tables, one per family, in the order the registry lists
   them (src/core/registry.c starts with these). Adding a family adds its
   table here; adding an op touches its family's file and table only. */
#include "ops/ops_internal.h"

const tg_op_table *const tg_builtin_op_tables[] = {
    &tg_arith_ops,  &tg_reduce_ops,      &tg_shape_ops,
    &tg_linalg_ops, &tg_activation_ops, &tg_loss_ops,  &tg_compare_ops,
    &tg_index_ops,  &tg_join_ops,       &tg_math_ops,
    &tg_embedding_ops, &tg_recurrent_ops,
    &tg_conv_ops,   &tg_pool_ops,       &tg_norm_ops,  &tg_dropout_ops,
};
const size_t tg_builtin_op_table_count =
    sizeof tg_builtin_op_tables / sizeof *tg_builtin_op_tables;

/* The compact forms of the replay program: the families that have some, each
   answering for its own ops. */
const tg_small_entry *tg_small_find(const tg_record *r, const tg_small_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (e[i].op == r->op) return &e[i];
    return NULL;
}

bool tg_small_compile(const tg_record *r, tg_small *s)
{
    return tg_arith_small(r, s) || tg_activation_small(r, s) || tg_reduce_small(r, s) ||
           tg_join_small(r, s) || tg_index_small(r, s);
}
