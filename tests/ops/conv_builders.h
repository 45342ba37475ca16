/* How each convolution and pooling case of the golden files
   (tests/gen_golden_conv.py) is built with tapegrad: the case's attributes
   (s0 s1 stride, p0 p1 padding, d0 d1 dilation, o0 o1 output_padding, g
   groups, same, k0 k1 kernel, ceil, incl, div, oh ow, w0..w3) into options,
   and one builder per op name. Shared by test_golden_conv.c and
   test_golden_pool.c. */
#ifndef TG_TEST_CONV_BUILDERS_H
#define TG_TEST_CONV_BUILDERS_H

#include <string.h>

#include "golden.h"

static inline int64_t attr_i(const gt_case *c, const char *key, double dflt)
{
    return (int64_t)gt_attr(c, key, dflt);
}

static inline tg_conv_opts conv_opts_of(const gt_case *c)
{
    tg_conv_opts o = {.groups = attr_i(c, "g", 0), .padding_same = gt_attr(c, "same", 0) != 0};
    for (int i = 0; i < 2; i++) {
        char k[8];
        snprintf(k, sizeof k, "s%d", i), o.stride[i] = attr_i(c, k, 0);
        snprintf(k, sizeof k, "p%d", i), o.padding[i] = attr_i(c, k, 0);
        snprintf(k, sizeof k, "d%d", i), o.dilation[i] = attr_i(c, k, 0);
        snprintf(k, sizeof k, "o%d", i), o.output_padding[i] = attr_i(c, k, 0);
    }
    return o;
}

static inline tg_pool_opts pool_opts_of(const gt_case *c)
{
    tg_pool_opts o = tg_pool_defaults(attr_i(c, "k0", 1), attr_i(c, "k1", 1));
    for (int i = 0; i < 2; i++) {
        char k[8];
        snprintf(k, sizeof k, "s%d", i), o.stride[i] = attr_i(c, k, 0);
        snprintf(k, sizeof k, "p%d", i), o.padding[i] = attr_i(c, k, 0);
        snprintf(k, sizeof k, "d%d", i), o.dilation[i] = attr_i(c, k, 0);
    }
    o.ceil_mode = gt_attr(c, "ceil", 0) != 0;
    o.count_include_pad = gt_attr(c, "incl", 1) != 0;
    o.divisor_override = attr_i(c, "div", 0);
    return o;
}

static inline tg_tensor *bias_of(tg_tensor **in, const gt_case *c) { return c->n_in > 2 ? in[2] : NULL; }

static inline tg_tensor *b_conv1d(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_conv_opts o = conv_opts_of(c);
    return tg_conv1d(t, in[0], in[1], bias_of(in, c), &o);
}
static inline tg_tensor *b_conv2d(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_conv_opts o = conv_opts_of(c);
    return tg_conv2d(t, in[0], in[1], bias_of(in, c), &o);
}
static inline tg_tensor *b_conv_transpose1d(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_conv_opts o = conv_opts_of(c);
    return tg_conv_transpose1d(t, in[0], in[1], bias_of(in, c), &o);
}
static inline tg_tensor *b_conv_transpose2d(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_conv_opts o = conv_opts_of(c);
    return tg_conv_transpose2d(t, in[0], in[1], bias_of(in, c), &o);
}
static inline void wshape_of(const gt_case *c, int64_t w[4])
{
    for (int i = 0; i < 4; i++) {
        char k[8];
        snprintf(k, sizeof k, "w%d", i);
        w[i] = attr_i(c, k, 0);
    }
}
static inline tg_tensor *b_conv1d_weight(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_conv_opts o = conv_opts_of(c);
    int64_t w[4];
    wshape_of(c, w);
    return tg_conv1d_weight(t, in[0], w, in[1], &o);
}
static inline tg_tensor *b_conv2d_weight(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_conv_opts o = conv_opts_of(c);
    int64_t w[4];
    wshape_of(c, w);
    return tg_conv2d_weight(t, in[0], w, in[1], &o);
}

static inline tg_tensor *b_max_pool1d(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_pool_opts o = pool_opts_of(c);
    return tg_max_pool1d(t, in[0], &o);
}
static inline tg_tensor *b_max_pool2d(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_pool_opts o = pool_opts_of(c);
    return tg_max_pool2d(t, in[0], &o);
}
/* The indices as a tensor (PyTorch's, converted to its dtype). */
static inline tg_tensor *indices_as_tensor(tg_tape *t, tg_tensor *y, const tg_index *idx)
{
    if (!y || !idx) return NULL;
    tg_tensor *v = tg_zeros(t, idx->ndim, idx->shape);
    for (int64_t i = 0; v && i < idx->size; i++) v->data[i] = (tg_real)idx->data[i];
    return v;
}
static inline tg_tensor *b_max_pool1d_indices(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_pool_opts o = pool_opts_of(c);
    tg_index *idx = NULL;
    tg_tensor *y = tg_max_pool1d_with_indices(t, in[0], &o, &idx);
    return indices_as_tensor(t, y, idx);
}
static inline tg_tensor *b_max_pool2d_indices(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_pool_opts o = pool_opts_of(c);
    tg_index *idx = NULL;
    tg_tensor *y = tg_max_pool2d_with_indices(t, in[0], &o, &idx);
    return indices_as_tensor(t, y, idx);
}
static inline tg_tensor *b_avg_pool1d(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_pool_opts o = pool_opts_of(c);
    return tg_avg_pool1d(t, in[0], &o);
}
static inline tg_tensor *b_avg_pool2d(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_pool_opts o = pool_opts_of(c);
    return tg_avg_pool2d(t, in[0], &o);
}
static inline tg_tensor *b_adaptive_avg_pool2d(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_adaptive_avg_pool2d(t, in[0], attr_i(c, "oh", 1), attr_i(c, "ow", 1));
}

#endif
