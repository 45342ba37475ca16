/* How each case of tests/golden/core_*.txt is built with tapegrad: one
   function per op name, reading the case's attributes. Shared by
   test_golden_core.c and the replay tests (tests/core/test_replay.c). */
#ifndef TG_TEST_CORE_BUILDERS_H
#define TG_TEST_CORE_BUILDERS_H

#include <string.h>

#include "golden.h"

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

/* The builder of a core op, or NULL. */
static inline gt_build_fn core_builder_of(const char *op)
{
    static const struct {
        const char *name;
        gt_build_fn fn;
    } table[] = {
        {"add", b_add},
        {"sub", b_sub},
        {"mul", b_mul},
        {"div", b_div},
        {"neg", b_neg},
        {"scale", b_scale},
        {"add_scalar", b_add_scalar},
        {"pow", b_pow},
        {"exp", b_exp},
        {"log", b_log},
        {"sqrt", b_sqrt},
        {"abs", b_abs},
        {"square", b_square},
        {"matmul", b_matmul},
        {"transpose", b_transpose},
        {"linear", b_linear},
        {"reshape", b_reshape},
        {"flatten", b_flatten},
        {"sum", b_sum},
        {"mean", b_mean},
        {"max", b_max},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (strcmp(table[i].name, op) == 0) return table[i].fn;
    return NULL;
}

#endif
