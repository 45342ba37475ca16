/* How each case of tests/golden/select_*.txt is built with tapegrad. Shared
   by test_golden_select.c and the replay tests (tests/core/test_replay.c). */
#ifndef TG_TEST_SELECT_BUILDERS_H
#define TG_TEST_SELECT_BUILDERS_H

#include <math.h>
#include <string.h>

#include "golden.h"

#define B2(NAME, CALL)                                                                   \
    static tg_tensor *sel_##NAME(tg_tape *t, tg_tensor **in, const gt_case *c)           \
    {                                                                                    \
        (void)c;                                                                         \
        return CALL;                                                                     \
    }
B2(eq, tg_eq(t, in[0], in[1]))
B2(ne, tg_ne(t, in[0], in[1]))
B2(lt, tg_lt(t, in[0], in[1]))
B2(le, tg_le(t, in[0], in[1]))
B2(gt, tg_gt(t, in[0], in[1]))
B2(ge, tg_ge(t, in[0], in[1]))
B2(sign, tg_sign(t, in[0]))
B2(where, tg_where(t, in[0], in[1], in[2]))
B2(erf, tg_erf(t, in[0]))
B2(matmul, tg_matmul(t, in[0], in[1]))
B2(dot, tg_dot(t, in[0], in[1]))
B2(outer, tg_outer(t, in[0], in[1]))

static tg_tensor *sel_clamp(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_clamp(t, in[0], (tg_real)gt_attr(c, "lo", 0), (tg_real)gt_attr(c, "hi", 0));
}

static int shape_attr(const gt_case *c, int64_t *shape)
{
    int n = (int)gt_attr(c, "ndim", 0);
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "d%d", i);
        shape[i] = (int64_t)gt_attr(c, key, 0);
    }
    return n;
}
static tg_tensor *sel_expand(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    int64_t s[TG_MAX_DIMS];
    int n = shape_attr(c, s);
    return tg_expand(t, in[0], n, s);
}
static tg_tensor *sel_sum_to(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    int64_t s[TG_MAX_DIMS];
    int n = shape_attr(c, s);
    return tg_sum_to(t, in[0], n, s);
}

/* The builder of a select op, or NULL. */
static inline gt_build_fn select_builder_of(const char *op)
{
    static const struct {
        const char *name;
        gt_build_fn fn;
    } table[] = {
        {"eq", sel_eq},
        {"ne", sel_ne},
        {"lt", sel_lt},
        {"le", sel_le},
        {"gt", sel_gt},
        {"ge", sel_ge},
        {"sign", sel_sign},
        {"where", sel_where},
        {"erf", sel_erf},
        {"matmul", sel_matmul},
        {"dot", sel_dot},
        {"outer", sel_outer},
        {"clamp", sel_clamp},
        {"expand", sel_expand},
        {"sum_to", sel_sum_to},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (strcmp(table[i].name, op) == 0) return table[i].fn;
    return NULL;
}

#endif
