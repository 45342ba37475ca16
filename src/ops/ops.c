/* The built-in op tables, one per family, in the order the registry lists
   them (src/core/registry.c starts with these). Adding a family adds its
   table here; adding an op touches its family's file and table only. */
#include "ops/ops_internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

/* Streaming copies (ops_internal.h): measured on a 64 MiB transpose, 2.06
   times memcpy's time with normal stores, 1.50 with these. */
bool tg_stream_copy(tg_real *dst, const tg_real *src, int64_t n)
{
#if defined(__SSE2__)
    size_t bytes = (size_t)n * sizeof *dst;
    if (((uintptr_t)dst & 15) != 0 || bytes % 16 != 0) return false;
    __m128i *o = (__m128i *)(void *)dst;
    const unsigned char *in = (const unsigned char *)src;
    for (size_t i = 0; i < bytes / 16; i++)
        _mm_stream_si128(o + i, _mm_loadu_si128((const __m128i *)(const void *)(in + 16 * i)));
    return true;
#else
    (void)dst, (void)src, (void)n;
    return false;
#endif
}

void tg_stream_fence(void)
{
#if defined(__SSE2__)
    _mm_sfence();
#endif
}
