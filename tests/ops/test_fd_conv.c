/* The convolutions and pooling ops against central finite differences
   (tg_gradcheck, its defaults in each build: the whole Jacobian), at random
   points, then their second order the same way (the gradient built by the
   vjps, differentiated: fd_table.h). The cases are a table (fd_case), for
   a later second-order checker too. Max pooling's points have distinct
   values 0.05 apart, far wider than the step, so no tie is crossed. */
#include "fd_table.h"

static tg_tape *tape;
static void setup(void)
{
    tape = tg_tape_new();
    fd_state = 20240607;
}
static void teardown(void) { tg_tape_free(tape); }
TestSuite(fd_conv, .init = setup, .fini = teardown);

#define CONV_BUILDER(NAME)                                                                 \
    static tg_tensor *f_##NAME(tg_tape *t, tg_tensor *const *in, int n, void *ctx)         \
    {                                                                                      \
        (void)n;                                                                           \
        return tg_##NAME(t, in[0], in[1], in[2], ctx);                                     \
    }
CONV_BUILDER(conv1d)
CONV_BUILDER(conv2d)
CONV_BUILDER(conv_transpose1d)
CONV_BUILDER(conv_transpose2d)

/* conv*_weight: the weight's shape and the options */
typedef struct {
    int64_t wshape[4];
    tg_conv_opts o;
} weight_ctx;
static tg_tensor *f_conv1d_weight(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    const weight_ctx *w = ctx;
    return tg_conv1d_weight(t, in[0], w->wshape, in[1], &w->o);
}
static tg_tensor *f_conv2d_weight(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    const weight_ctx *w = ctx;
    return tg_conv2d_weight(t, in[0], w->wshape, in[1], &w->o);
}

#define POOL_BUILDER(NAME)                                                                 \
    static tg_tensor *f_##NAME(tg_tape *t, tg_tensor *const *in, int n, void *ctx)         \
    {                                                                                      \
        (void)n;                                                                           \
        return tg_##NAME(t, in[0], ctx);                                                   \
    }
POOL_BUILDER(max_pool1d)
POOL_BUILDER(max_pool2d)
POOL_BUILDER(avg_pool1d)
POOL_BUILDER(avg_pool2d)
static tg_tensor *f_adaptive_avg_pool2d(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    const int64_t *out = ctx;
    return tg_adaptive_avg_pool2d(t, in[0], out[0], out[1]);
}

/* The ops of pooling's gradients, as functions of their tensor input:
   level 1, the gradient of the pooling (max_pool_scatter, avg_pool_backward)
   as a function of the output's gradient g; level 2, the gradient of that
   in g (max_pool_gather; the pooling again) as a function of G. x (in[0])
   is the constant point; its copy requires grad to carry the graph. */
typedef struct {
    int kind; /* 0 max_pool2d, 1 avg_pool2d, 2 adaptive_avg_pool2d */
    int level;
    const tg_pool_opts *o;
} pool_grad_ctx;
static tg_tensor *pool_of(tg_tape *t, const pool_grad_ctx *c, tg_tensor *x)
{
    return c->kind == 0 ? tg_max_pool2d(t, x, c->o)
           : c->kind == 1 ? tg_avg_pool2d(t, x, c->o)
                          : tg_adaptive_avg_pool2d(t, x, 3, 2);
}
static tg_tensor *pool_grad(tg_tape *t, tg_tensor *const *in, const pool_grad_ctx *c)
{
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, in[0]->ndim, in[0]->shape, in[0]->data), true);
    tg_tensor *y = pool_of(t, c, x), *dx = NULL, *h = NULL;
    if (!y) return NULL;
    tg_grad_opts cg = {.create_graph = true};
    if (c->level == 1) return tg_grad(t, 1, &y, &in[1], 1, &x, &dx, &cg) == TG_OK ? dx : NULL;
    tg_tensor *g0 = tg_requires_grad(tg_zeros(t, y->ndim, y->shape), true);
    if (tg_grad(t, 1, &y, &g0, 1, &x, &dx, &cg) != TG_OK) return NULL;
    return tg_grad(t, 1, &dx, &in[1], 1, &g0, &h, &cg) == TG_OK ? h : NULL;
}
/* (recording on: tg_gradcheck turns it off for its difference quotients) */
static tg_tensor *f_pool_grad(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    bool was = tg_tape_set_recording(t, true);
    tg_tensor *y = pool_grad(t, in, ctx);
    tg_tape_set_recording(t, was);
    return y;
}

static const tg_conv_opts o_plain = {0};
static const tg_conv_opts o_strided = {.stride = {2, 2}, .padding = {2, 1}, .dilation = {2, 1}};
static const tg_conv_opts o_depthwise = {.groups = 3, .padding = {1, 1}};
static const tg_conv_opts o_same = {.padding_same = true};
static const tg_conv_opts o_1d = {.stride = {2}, .padding = {1}};
/* a kernel wider than col2im's table of taps (32), over rows of several vectors */
static const tg_conv_opts o_wide = {.padding = {2}};
/* output rows of a vector or more (16 floats), with padding and a stride
   across rows only, or groups and dilation */
static const tg_conv_opts o_rows16 = {.stride = {2, 1}, .padding = {1, 0}};
static const tg_conv_opts o_rows16_groups = {.groups = 2, .dilation = {2, 2}};
/* more input rows than the vector col2im sums at a time (32), a stride,
   dilation and padding across them */
static const tg_conv_opts o_tall = {.stride = {2, 1}, .padding = {3, 0}, .dilation = {3, 1}};
static const tg_conv_opts o_up = {.stride = {2, 2}, .padding = {1, 1}, .output_padding = {1, 1}};
static const tg_conv_opts o_up_dil = {.dilation = {3, 3}, .output_padding = {2, 2}};
static const tg_conv_opts o_up_groups = {.groups = 2};
static const weight_ctx w2 = {.wshape = {3, 2, 3, 3}};
static const weight_ctx w2_strided = {{2, 2, 2, 3}, {.stride = {2, 1}, .padding = {1, 1}}};
static const weight_ctx w1 = {{2, 2, 3, 0}, {.stride = {2}, .groups = 2, .padding = {1}}};

static tg_pool_opts pool(int64_t kh, int64_t kw, int64_t s, int64_t p, int64_t d, bool ceil,
                         bool incl, int64_t div)
{
    tg_pool_opts o = tg_pool_defaults(kh, kw);
    o.stride[0] = o.stride[1] = s;
    o.padding[0] = o.padding[1] = p;
    o.dilation[0] = o.dilation[1] = d;
    o.ceil_mode = ceil;
    o.count_include_pad = incl;
    o.divisor_override = div;
    return o;
}
static tg_pool_opts p_max2, p_max1, p_avg_incl, p_avg_excl, p_avg_div, p_avg1;
static const int64_t adaptive_out[2] = {3, 4};
static const pool_grad_ctx scatter = {0, 1, &p_max2}, gather = {0, 2, &p_max2};
static const pool_grad_ctx avg_back = {1, 1, &p_avg_excl}, avg_back2 = {1, 2, &p_avg_excl};
static const pool_grad_ctx adaptive_back = {2, 1, NULL};

static fd_case cases[] = {
    {"conv2d", f_conv2d, &o_plain, 3,
     {{FD_SIGNED, FD_SH(2, 2, 5, 4)}, {FD_SIGNED, FD_SH(3, 2, 3, 2)}, {FD_SIGNED, FD_SH(3)}}},
    {"conv2d_strided", f_conv2d, &o_strided, 3,
     {{FD_SIGNED, FD_SH(1, 2, 6, 6)}, {FD_SIGNED, FD_SH(2, 2, 3, 3)}, {FD_NONE}}},
    {"conv2d_depthwise", f_conv2d, &o_depthwise, 3,
     {{FD_SIGNED, FD_SH(2, 3, 4, 4)}, {FD_SIGNED, FD_SH(3, 1, 3, 3)}, {FD_SIGNED, FD_SH(3)}}},
    {"conv2d_same_even", f_conv2d, &o_same, 3,
     {{FD_SIGNED, FD_SH(1, 2, 5, 4)}, {FD_SIGNED, FD_SH(2, 2, 2, 3)}, {FD_SIGNED, FD_SH(2)}}},
    {"conv2d_1x1", f_conv2d, &o_plain, 3,
     {{FD_SIGNED, FD_SH(2, 3, 3, 3)}, {FD_SIGNED, FD_SH(2, 3, 1, 1)}, {FD_NONE}}},
    {"conv2d_unbatched", f_conv2d, &o_plain, 3,
     {{FD_SIGNED, FD_SH(2, 4, 4)}, {FD_SIGNED, FD_SH(2, 2, 2, 2)}, {FD_SIGNED, FD_SH(2)}}},
    {"conv1d", f_conv1d, &o_1d, 3,
     {{FD_SIGNED, FD_SH(2, 2, 7)}, {FD_SIGNED, FD_SH(3, 2, 3)}, {FD_SIGNED, FD_SH(3)}}},
    {"conv2d_rows16", f_conv2d, &o_rows16, 3,
     {{FD_SIGNED, FD_SH(2, 2, 5, 20)}, {FD_SIGNED, FD_SH(4, 2, 3, 3)}, {FD_SIGNED, FD_SH(4)}}},
    {"conv2d_rows16_groups", f_conv2d, &o_rows16_groups, 3,
     {{FD_SIGNED, FD_SH(1, 4, 6, 21)}, {FD_SIGNED, FD_SH(4, 2, 2, 3)}, {FD_NONE}}},
    {"conv1d_rows16_kernel7", f_conv1d, &o_plain, 3,
     {{FD_SIGNED, FD_SH(2, 1, 24)}, {FD_SIGNED, FD_SH(2, 1, 7)}, {FD_SIGNED, FD_SH(2)}}},
    {"conv2d_tall", f_conv2d, &o_tall, 3,
     {{FD_SIGNED, FD_SH(1, 1, 70, 3)}, {FD_SIGNED, FD_SH(2, 1, 4, 2)}, {FD_SIGNED, FD_SH(2)}}},
    {"conv1d_wide_kernel", f_conv1d, &o_wide, 3,
     {{FD_SIGNED, FD_SH(1, 1, 40)}, {FD_SIGNED, FD_SH(2, 1, 34)}, {FD_NONE}}},
    {"conv_transpose2d", f_conv_transpose2d, &o_up, 3,
     {{FD_SIGNED, FD_SH(2, 2, 3, 3)}, {FD_SIGNED, FD_SH(2, 3, 3, 3)}, {FD_SIGNED, FD_SH(3)}}},
    {"conv_transpose2d_op_over_stride", f_conv_transpose2d, &o_up_dil, 3,
     {{FD_SIGNED, FD_SH(1, 2, 3, 3)}, {FD_SIGNED, FD_SH(2, 2, 2, 2)}, {FD_NONE}}},
    {"conv_transpose1d_groups", f_conv_transpose1d, &o_up_groups, 3,
     {{FD_SIGNED, FD_SH(2, 4, 4)}, {FD_SIGNED, FD_SH(4, 1, 3)}, {FD_SIGNED, FD_SH(2)}}},
    {"conv2d_weight", f_conv2d_weight, &w2, 2,
     {{FD_SIGNED, FD_SH(2, 2, 5, 5)}, {FD_SIGNED, FD_SH(2, 3, 3, 3)}}},
    {"conv2d_weight_strided", f_conv2d_weight, &w2_strided, 2,
     {{FD_SIGNED, FD_SH(2, 2, 5, 4)}, {FD_SIGNED, FD_SH(2, 2, 3, 4)}}},
    {"conv1d_weight_groups", f_conv1d_weight, &w1, 2,
     {{FD_SIGNED, FD_SH(2, 4, 7)}, {FD_SIGNED, FD_SH(2, 2, 4)}}},
    {"max_pool2d", f_max_pool2d, &p_max2, 1, {{FD_DISTINCT, FD_SH(2, 2, 5, 5)}}},
    {"max_pool1d", f_max_pool1d, &p_max1, 1, {{FD_DISTINCT, FD_SH(2, 2, 9)}}},
    {"avg_pool2d_incl", f_avg_pool2d, &p_avg_incl, 1, {{FD_SIGNED, FD_SH(2, 2, 5, 5)}}},
    {"avg_pool2d_excl", f_avg_pool2d, &p_avg_excl, 1, {{FD_SIGNED, FD_SH(2, 2, 5, 5)}}},
    {"avg_pool2d_divisor", f_avg_pool2d, &p_avg_div, 1, {{FD_SIGNED, FD_SH(1, 2, 4, 5)}}},
    {"avg_pool1d", f_avg_pool1d, &p_avg1, 1, {{FD_SIGNED, FD_SH(2, 2, 8)}}},
    {"adaptive_avg_pool2d", f_adaptive_avg_pool2d, adaptive_out, 1, {{FD_SIGNED, FD_SH(2, 2, 5, 7)}}},
    /* p_max2 and p_avg_excl pool [2, 2, 5, 5] to [2, 2, 3, 3] (ceil mode) */
    {"max_pool_scatter", f_pool_grad, &scatter, 2,
     {{FD_CONST, FD_SH(2, 2, 5, 5)}, {FD_SIGNED, FD_SH(2, 2, 3, 3)}}},
    {"max_pool_gather", f_pool_grad, &gather, 2,
     {{FD_CONST, FD_SH(2, 2, 5, 5)}, {FD_SIGNED, FD_SH(2, 2, 5, 5)}}},
    {"avg_pool_backward", f_pool_grad, &avg_back, 2,
     {{FD_CONST, FD_SH(2, 2, 5, 5)}, {FD_SIGNED, FD_SH(2, 2, 3, 3)}}},
    {"avg_pool_backward_backward", f_pool_grad, &avg_back2, 2,
     {{FD_CONST, FD_SH(2, 2, 5, 5)}, {FD_SIGNED, FD_SH(2, 2, 5, 5)}}},
    {"adaptive_avg_pool_backward", f_pool_grad, &adaptive_back, 2,
     {{FD_CONST, FD_SH(2, 1, 5, 4)}, {FD_SIGNED, FD_SH(2, 1, 3, 2)}}},
};
#define N_CASES (sizeof cases / sizeof *cases)

static void pools(void)
{
    p_max2 = pool(3, 3, 2, 1, 1, true, true, 0);
    p_max1 = pool(3, 0, 2, 0, 2, false, true, 0);
    p_avg_incl = pool(3, 3, 2, 1, 1, true, true, 0);
    p_avg_excl = pool(3, 3, 2, 1, 1, true, false, 0);
    p_avg_div = pool(2, 3, 1, 1, 1, false, true, 5);
    p_avg1 = pool(3, 0, 2, 1, 1, true, false, 0);
}

Test(fd_conv, first_order)
{
    pools();
    for (size_t i = 0; i < N_CASES; i++) fd_check(tape, &cases[i]);
}

Test(fd_conv, second_order)
{
    pools();
    for (size_t i = 0; i < N_CASES; i++) fd_check2(tape, &cases[i]);
}
