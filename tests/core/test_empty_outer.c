/* Ops on tensors that hold nothing but have 2^40 rows before the axis they
   work along: [2^40, 4, 0], [2^40, 0, 4] and [2^40, 0] along axis 1. Ops
   that see a tensor as [outer, n, inner] around an axis must not loop over
   the 2^40 outer rows of nothing, forward or backward (the fuzzer found
   three such hangs: the causal mask, pooling, the reductions' view; this
   test found six more: cumsum, cumprod, softmax, log_softmax, softmin and
   select, fixed where each views its input as [outer, n, inner]; and the
   fuzzer, given such leaves, stack and the class losses). Each
   op is a test of its own with a timeout: a hang fails it. Outputs must be
   empty too, of the shape PyTorch gives, and the backward from their sum
   must leave x's (empty) gradient. The second table does the same for
   products, layers and losses on a batch of 2^40 samples of nothing
   (matmul ran 2^40 products of [0, K] matrices). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <string.h>

#include <tapegrad.h>

#include "golden.h" /* gt_case_numbers */

#define G40 ((int64_t)1 << 40)

/* the shapes, each along axis 1 */
enum { S_INNER0 = 1, S_N0 = 2, S_2D = 4, S_ALL = 7 };
static const int64_t shapes[3][3] = {{G40, 4, 0}, {G40, 0, 4}, {G40, 0, 0}};
static const int ndims[3] = {3, 3, 2};

typedef tg_tensor *(*op_fn)(tg_tape *t, tg_tensor *x);

typedef struct {
    const char *name;
    op_fn f;
    int shapes; /* S_ flags: the shapes whose output is empty */
} empty_case;

static tg_index *empty_index_like(tg_tape *t, const tg_tensor *x)
{
    static const int64_t none[1] = {0};
    return tg_index_new(t, x->ndim, x->shape, none);
}

static tg_tensor *f_cumsum(tg_tape *t, tg_tensor *x) { return tg_cumsum(t, x, 1); }
static tg_tensor *f_cumprod(tg_tape *t, tg_tensor *x) { return tg_cumprod(t, x, 1); }
static tg_tensor *f_softmax(tg_tape *t, tg_tensor *x) { return tg_softmax(t, x, 1); }
static tg_tensor *f_log_softmax(tg_tape *t, tg_tensor *x) { return tg_log_softmax(t, x, 1); }
static tg_tensor *f_softmin(tg_tape *t, tg_tensor *x) { return tg_softmin(t, x, 1); }
static tg_tensor *f_glu(tg_tape *t, tg_tensor *x) { return tg_glu(t, x, 1); }
static tg_tensor *f_var(tg_tape *t, tg_tensor *x) { return tg_var(t, x, 1, 1, false); }
static tg_tensor *f_std(tg_tape *t, tg_tensor *x) { return tg_std(t, x, 1, 0, true); }
static tg_tensor *f_logsumexp(tg_tape *t, tg_tensor *x) { return tg_logsumexp(t, x, 1, false); }
static tg_tensor *f_norm2(tg_tape *t, tg_tensor *x) { return tg_norm(t, x, 2, 1, false); }
static tg_tensor *f_norm15(tg_tape *t, tg_tensor *x) { return tg_norm(t, x, 1.5, 1, false); }
static tg_tensor *f_norm_inf(tg_tape *t, tg_tensor *x) { return tg_norm(t, x, INFINITY, 1, false); }
static tg_tensor *f_amax(tg_tape *t, tg_tensor *x) { return tg_amax(t, x, 1, false); }
static tg_tensor *f_prod(tg_tape *t, tg_tensor *x) { return tg_prod(t, x, 1, false); }
static tg_tensor *f_mean(tg_tape *t, tg_tensor *x) { return tg_mean(t, x, 1, false); }
static tg_tensor *f_min(tg_tape *t, tg_tensor *x) { return tg_min(t, x, 1, false); }
static tg_tensor *f_max_dim(tg_tape *t, tg_tensor *x)
{
    tg_index *at;
    return tg_max_dim(t, x, 1, false, &at);
}
static tg_tensor *f_narrow(tg_tape *t, tg_tensor *x) { return tg_narrow(t, x, 1, 0, 0); }
static tg_tensor *f_select(tg_tape *t, tg_tensor *x) { return tg_select(t, x, 1, 3); }
static tg_tensor *f_index_select(tg_tape *t, tg_tensor *x)
{
    static const int64_t none[1] = {0};
    return tg_index_select(t, x, 1, tg_index_new(t, TG_SHAPE(0), none));
}
static tg_tensor *f_index_add(tg_tape *t, tg_tensor *x)
{
    /* no rows added: src of x's shape with 0 along the axis */
    int64_t s[3];
    memcpy(s, x->shape, sizeof s);
    s[1] = 0;
    tg_tensor *src = tg_requires_grad(tg_zeros(t, x->ndim, s), true);
    static const int64_t none[1] = {0};
    return tg_index_add(t, x, 1, tg_index_new(t, TG_SHAPE(0), none), src);
}
static tg_tensor *f_gather(tg_tape *t, tg_tensor *x)
{
    return tg_gather(t, x, 1, empty_index_like(t, x));
}
static tg_tensor *f_take_along(tg_tape *t, tg_tensor *x)
{
    return tg_take_along_dim(t, x, empty_index_like(t, x), 1);
}
static tg_tensor *f_scatter_add(tg_tape *t, tg_tensor *x)
{
    tg_tensor *src = tg_requires_grad(tg_zeros(t, x->ndim, x->shape), true);
    return tg_scatter_add(t, x, 1, empty_index_like(t, x), src);
}
static tg_tensor *f_cat(tg_tape *t, tg_tensor *x) { return tg_cat(t, (tg_tensor *[]){x, x}, 2, 1); }
static tg_tensor *f_stack(tg_tape *t, tg_tensor *x)
{
    return tg_stack(t, (tg_tensor *[]){x, x}, 2, 1);
}
static tg_tensor *f_tile(tg_tape *t, tg_tensor *x)
{
    return tg_tile(t, x, 2, (const int64_t[]){1, 2});
}
static tg_tensor *f_split(tg_tape *t, tg_tensor *x)
{
    tg_tensor *out[4];
    int n = tg_split(t, x, 1, 1, out, 4);
    return n == 4 ? tg_cat(t, out, 4, 1) : NULL;
}
static tg_tensor *f_pad(tg_tape *t, tg_tensor *x)
{
    return tg_pad(t, x, 4, (const int64_t[]){0, 0, 1, 2}, TG_PAD_CONSTANT, 0);
}
static tg_tensor *f_repeat(tg_tape *t, tg_tensor *x)
{
    return tg_repeat(t, x, x->ndim, (const int64_t[]){1, 2, 1});
}
static tg_tensor *f_movedim(tg_tape *t, tg_tensor *x) { return tg_movedim(t, x, 0, x->ndim - 1); }
static tg_tensor *f_transpose(tg_tape *t, tg_tensor *x) { return tg_transpose(t, x, 0, 1); }
static tg_tensor *f_layer_norm(tg_tape *t, tg_tensor *x)
{
    return tg_layer_norm(t, x, TG_SHAPE(4), NULL, NULL, 1e-5);
}
static tg_tensor *f_rms_norm(tg_tape *t, tg_tensor *x)
{
    return tg_rms_norm(t, x, TG_SHAPE(4), NULL, 1e-5);
}
static tg_tensor *f_cosine(tg_tape *t, tg_tensor *x)
{
    return tg_cosine_similarity(t, x, x, 1, (tg_real)1e-8);
}

static const empty_case cases[] = {
    {"cumsum", f_cumsum, S_ALL},
    {"cumprod", f_cumprod, S_ALL},
    {"softmax", f_softmax, S_ALL},
    {"log_softmax", f_log_softmax, S_ALL},
    {"softmin", f_softmin, S_ALL},
    {"glu", f_glu, S_INNER0},
    {"var", f_var, S_INNER0},
    {"std", f_std, S_INNER0},
    {"logsumexp", f_logsumexp, S_INNER0},
    {"norm p=2", f_norm2, S_INNER0},
    {"norm p=1.5", f_norm15, S_INNER0},
    {"norm p=inf", f_norm_inf, S_INNER0},
    {"amax", f_amax, S_INNER0},
    {"prod", f_prod, S_INNER0},
    {"mean", f_mean, S_INNER0},
    {"min", f_min, S_INNER0},
    {"max_dim", f_max_dim, S_INNER0},
    {"narrow", f_narrow, S_ALL},
    {"select", f_select, S_INNER0},
    {"index_select", f_index_select, S_ALL},
    {"index_add", f_index_add, S_ALL},
    {"gather", f_gather, S_ALL},
    {"take_along_dim", f_take_along, S_ALL},
    {"scatter_add", f_scatter_add, S_ALL},
    {"cat", f_cat, S_ALL},
    {"stack", f_stack, S_ALL},
    {"tile", f_tile, S_ALL},
    {"split", f_split, S_INNER0},
    {"pad", f_pad, S_INNER0},
    {"repeat", f_repeat, S_ALL},
    {"movedim", f_movedim, S_ALL},
    {"transpose", f_transpose, S_ALL},
    {"layer_norm", f_layer_norm, S_N0},
    {"rms_norm", f_rms_norm, S_N0},
    {"cosine_similarity", f_cosine, S_INNER0},
};

ParameterizedTestParameters(empty_outer, op)
{
    return gt_case_numbers(sizeof cases / sizeof *cases);
}

ParameterizedTest(int *id, empty_outer, op, .timeout = 10)
{
    const empty_case *c = &cases[*id];
    for (int s = 0; s < 3; s++) {
        if (!(c->shapes & (1 << s))) continue;
        tg_tape *t = tg_tape_new();
        cr_assert_not_null(t);
        tg_tensor *x = tg_requires_grad(tg_zeros(t, ndims[s], shapes[s]), true);
        cr_assert_not_null(x, "%s", tg_tape_error(t));
        tg_tensor *y = c->f(t, x);
        cr_assert_not_null(y, "%s on shape %d: %s", c->name, s, tg_tape_error(t));
        cr_expect_eq(y->size, 0, "%s on shape %d: %lld values", c->name, s, (long long)y->size);
        /* the leading extent stays 2^40, but where the op moves axis 0 */
        bool moves = c->f == f_movedim || c->f == f_transpose;
        cr_expect(y->ndim > 0 && (moves || y->shape[0] == G40),
                  "%s on shape %d: leading extent %lld", c->name, s,
                  (long long)(y->ndim ? y->shape[0] : -1));
        tg_tensor *l = tg_sum(t, y, TG_ALL, false);
        cr_assert_eq(tg_backward(t, l), TG_OK, "%s on shape %d: %s", c->name, s,
                     tg_tape_error(t));
        cr_expect_eq(l->data[0], 0);
        tg_tape_free(t);
    }
}

/* Layers, products and losses whose batch has 2^40 samples of nothing (or an
   embedding table of 2^40 empty rows): each builds its own inputs, returns
   its output (empty) and a leaf whose gradient the backward must reach
   (zeros, where it has elements). */
typedef tg_tensor *(*batch_fn)(tg_tape *t, tg_tensor **leaf);

static tg_tensor *leaf_of(tg_tape *t, int ndim, const int64_t *shape)
{
    return tg_requires_grad(tg_zeros(t, ndim, shape), true);
}

static tg_tensor *b_matmul(tg_tape *t, tg_tensor **x)
{
    *x = leaf_of(t, TG_SHAPE(G40, 0, 4));
    return tg_matmul(t, *x, leaf_of(t, TG_SHAPE(4, 3)));
}
static tg_tensor *b_matmul_k0(tg_tape *t, tg_tensor **x)
{
    *x = leaf_of(t, TG_SHAPE(G40, 4, 0));
    return tg_matmul(t, *x, leaf_of(t, TG_SHAPE(0, 0)));
}
static tg_tensor *b_einsum(tg_tape *t, tg_tensor **x)
{
    *x = leaf_of(t, TG_SHAPE(G40, 0, 4));
    return tg_einsum(t, "bij,jk->bik", 2, (tg_tensor *[]){*x, leaf_of(t, TG_SHAPE(4, 3))});
}
static tg_tensor *b_bmm(tg_tape *t, tg_tensor **x)
{
    *x = leaf_of(t, TG_SHAPE(G40, 0, 4));
    return tg_matmul(t, *x, leaf_of(t, TG_SHAPE(G40, 4, 0)));
}
static tg_tensor *b_matmul_n0(tg_tape *t, tg_tensor **x)
{
    /* C [2^40, 4, 0], empty only through N: A broadcast over the batch,
       its gradient a sum of nothing (zeros) */
    *x = leaf_of(t, TG_SHAPE(1, 4, 2));
    return tg_matmul(t, *x, leaf_of(t, TG_SHAPE(G40, 2, 0)));
}
static tg_tensor *b_matmul_small_batch(tg_tape *t, tg_tensor **w)
{
    /* C [3, 0, 2]: w's gradient, reached once per matrix, written fresh */
    *w = leaf_of(t, TG_SHAPE(3, 4, 2));
    return tg_matmul(t, leaf_of(t, TG_SHAPE(3, 0, 4)), *w);
}
static tg_tensor *b_einsum_batch(tg_tape *t, tg_tensor **x)
{
    *x = leaf_of(t, TG_SHAPE(G40, 0, 4));
    return tg_einsum(t, "bij,bjk->bik", 2, (tg_tensor *[]){*x, leaf_of(t, TG_SHAPE(G40, 4, 0))});
}
static tg_tensor *b_conv2d(tg_tape *t, tg_tensor **x)
{
    *x = leaf_of(t, TG_SHAPE(G40, 0, 4, 4));
    return tg_conv2d(t, *x, leaf_of(t, TG_SHAPE(0, 0, 3, 3)), NULL, NULL);
}
static tg_tensor *b_conv1d(tg_tape *t, tg_tensor **x)
{
    *x = leaf_of(t, TG_SHAPE(G40, 0, 4));
    return tg_conv1d(t, *x, leaf_of(t, TG_SHAPE(0, 0, 3)), NULL, NULL);
}
static tg_tensor *b_max_pool2d(tg_tape *t, tg_tensor **x)
{
    *x = leaf_of(t, TG_SHAPE(G40, 0, 4, 4));
    tg_pool_opts o = tg_pool_defaults(2, 2);
    return tg_max_pool2d(t, *x, &o);
}
static tg_tensor *b_max_pool1d(tg_tape *t, tg_tensor **x)
{
    *x = leaf_of(t, TG_SHAPE(G40, 0, 4));
    tg_pool_opts o = tg_pool_defaults(2, 1);
    return tg_max_pool1d(t, *x, &o);
}
static tg_tensor *b_avg_pool2d(tg_tape *t, tg_tensor **x)
{
    *x = leaf_of(t, TG_SHAPE(G40, 0, 4, 4));
    tg_pool_opts o = tg_pool_defaults(2, 2);
    return tg_avg_pool2d(t, *x, &o);
}
static tg_tensor *b_adaptive_pool(tg_tape *t, tg_tensor **x)
{
    *x = leaf_of(t, TG_SHAPE(G40, 0, 4, 4));
    return tg_adaptive_avg_pool2d(t, *x, 3, 2);
}
static tg_tensor *b_batch_norm(tg_tape *t, tg_tensor **x)
{
    *x = leaf_of(t, TG_SHAPE(G40, 0));
    return tg_batch_norm(t, *x, NULL, NULL, NULL, NULL, true, 0.1, 1e-5);
}
static tg_tensor *b_cross_entropy_prob(tg_tape *t, tg_tensor **x)
{
    /* no position: [2^40, 3, 0] gives [2^40, 0] */
    *x = leaf_of(t, TG_SHAPE(G40, 3, 0));
    tg_ce_opts o = TG_CE_OPTS_DEFAULT;
    o.reduction = TG_REDUCE_NONE;
    return tg_cross_entropy_prob(t, *x, tg_zeros(t, TG_SHAPE(G40, 3, 0)), &o);
}
static tg_tensor *b_cross_entropy_idx(tg_tape *t, tg_tensor **x)
{
    *x = leaf_of(t, TG_SHAPE(G40, 3, 0));
    static const int64_t none[1] = {0};
    tg_ce_opts o = TG_CE_OPTS_DEFAULT;
    o.label_smoothing = 0.1;
    o.reduction = TG_REDUCE_NONE;
    return tg_cross_entropy_idx(t, *x, tg_index_new(t, TG_SHAPE(G40, 0), none), &o);
}
static tg_tensor *b_kl_div(tg_tape *t, tg_tensor **x)
{
    *x = leaf_of(t, TG_SHAPE(G40, 0));
    return tg_kl_div(t, *x, tg_zeros(t, TG_SHAPE(G40, 0)), TG_REDUCE_NONE, false);
}
static tg_tensor *b_mse(tg_tape *t, tg_tensor **x)
{
    *x = leaf_of(t, TG_SHAPE(G40, 0));
    return tg_mse_loss(t, *x, tg_zeros(t, TG_SHAPE(G40, 0)), TG_REDUCE_NONE);
}
static tg_tensor *b_dropout(tg_tape *t, tg_tensor **x)
{
    *x = leaf_of(t, TG_SHAPE(G40, 0));
    static tg_rng rng;
    tg_rng_seed(&rng, 1);
    return tg_dropout(t, *x, 0.5, true, &rng);
}
static tg_tensor *b_embedding(tg_tape *t, tg_tensor **w)
{
    /* a table of 2^40 empty rows: its gradient is empty, not 2^40 rows to clear */
    *w = leaf_of(t, TG_SHAPE(G40, 0));
    return tg_embedding(t, *w, tg_index_new(t, TG_SHAPE(3), (const int64_t[]){0, 5, 0}),
                        TG_PADDING_IDX_NONE);
}

static const struct {
    const char *name;
    batch_fn f;
} batch_cases[] = {
    {"matmul [2^40,0,4]@[4,3]", b_matmul},
    {"matmul [2^40,4,0]@[0,0]", b_matmul_k0},
    {"einsum", b_einsum},
    {"matmul [2^40,0,4]@[2^40,4,0]", b_bmm},
    {"matmul [1,4,2]@[2^40,2,0]", b_matmul_n0},
    {"einsum with a batch", b_einsum_batch},
    {"matmul [3,0,4]@[3,4,2]", b_matmul_small_batch},
    {"conv2d", b_conv2d},
    {"conv1d", b_conv1d},
    {"max_pool2d", b_max_pool2d},
    {"max_pool1d", b_max_pool1d},
    {"avg_pool2d", b_avg_pool2d},
    {"adaptive_avg_pool2d", b_adaptive_pool},
    {"batch_norm", b_batch_norm},
    {"cross_entropy_prob", b_cross_entropy_prob},
    {"cross_entropy_idx", b_cross_entropy_idx},
    {"kl_div", b_kl_div},
    {"mse_loss", b_mse},
    {"dropout", b_dropout},
    {"embedding", b_embedding},
};

ParameterizedTestParameters(empty_outer, batch)
{
    return gt_case_numbers(sizeof batch_cases / sizeof *batch_cases);
}

ParameterizedTest(int *id, empty_outer, batch, .timeout = 10)
{
    const char *name = batch_cases[*id].name;
    tg_tape *t = tg_tape_new();
    cr_assert_not_null(t);
    /* the arena's memory holds NaN: a gradient not written stays NaN */
    cr_assert_not_null(tg_full(t, TG_SHAPE(1 << 16), NAN));
    tg_tape_reset(t);
    tg_tensor *x = NULL;
    tg_tensor *y = batch_cases[*id].f(t, &x);
    cr_assert(x && y, "%s: %s", name, tg_tape_error(t));
    cr_expect_eq(y->size, 0, "%s: %lld values", name, (long long)y->size);
    tg_tensor *l = tg_sum(t, y, TG_ALL, false);
    cr_assert_eq(tg_backward(t, l), TG_OK, "%s: %s", name, tg_tape_error(t));
    for (int64_t i = 0; i < x->size; i++)
        cr_expect(x->grad && x->grad[i] == 0, "%s: gradient %lld", name, (long long)i);
    tg_tape_free(t);
}

/* The replay's compact forms on empty tensors of long rows: softmax over
   the last axis of [0, 2^40] took the row's length, 2^40, as a 32-bit int
   (0) and divided by it (found by fuzz_ops: SIGFPE, and UBSan's report). */
Test(empty_outer, a_replay_of_rows_of_2_to_the_40_runs, .timeout = 10)
{
    tg_tape *t = tg_tape_new();
    cr_assert_not_null(t);
    tg_tape_set_replayable(t, true);
    tg_tensor *x = tg_requires_grad(tg_zeros(t, TG_SHAPE(0, G40)), true);
    tg_tensor *y = tg_softmin(t, tg_softmax(t, x, 1), -1);
    tg_tensor *l = tg_sum(t, y, TG_ALL, false);
    cr_assert(l, "%s", tg_tape_error(t));
    cr_assert_eq(tg_backward(t, l), TG_OK, "%s", tg_tape_error(t));
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(tg_tape_replay(t), TG_OK, "%s", tg_tape_error(t));
        cr_assert_eq(tg_backward(t, l), TG_OK, "%s", tg_tape_error(t));
        cr_expect_eq(l->data[0], 0);
    }
    tg_tape_free(t);
}

/* Padding to an empty output by 2^31 − 1 along another axis: the backward
   summed, for each input value, the 2^31 output positions of its preimage
   along that axis before finding the empty one (found by fuzz_ops: a
   hang). Replicated padding, the one mode that may pad by more than the
   axis; reflected and circular (pads of 2) take the same early return. */
Test(empty_outer, a_pad_to_nothing_by_2_to_the_31_is_undone_at_once, .timeout = 10)
{
    static const tg_pad_mode modes[] = {TG_PAD_REPLICATE, TG_PAD_REFLECT, TG_PAD_CIRCULAR};
    for (int k = 0; k < 3; k++) {
        tg_tape *t = tg_tape_new();
        cr_assert_not_null(t);
        tg_tensor *x = tg_requires_grad(tg_full(t, TG_SHAPE(3, 3, 3), 1), true);
        /* last axis cropped to 0, axis 0 padded by 2^31 − 1 (or 2) */
        int64_t big = modes[k] == TG_PAD_REPLICATE ? INT32_MAX : 2;
        tg_tensor *y = tg_pad(t, x, 6, (const int64_t[]){-1, -2, 1, 2, big, 2}, modes[k], 0);
        cr_assert(y, "mode %d: %s", (int)modes[k], tg_tape_error(t));
        cr_expect(y->size == 0 && y->shape[0] == 3 + big + 2 && y->shape[2] == 0);
        tg_tensor *l = tg_sum(t, y, TG_ALL, false);
        cr_assert_eq(tg_backward(t, l), TG_OK, "%s", tg_tape_error(t));
        for (int i = 0; i < 27; i++) cr_expect_eq(x->grad[i], 0);
        /* and its second order: pad_backward's own forward */
        tg_tensor *g = tg_grad1(t, tg_sum(t, tg_square(t, y), TG_ALL, false), x, true);
        cr_assert(g, "%s", tg_tape_error(t));
        for (int i = 0; i < 27; i++) cr_expect_eq(g->data[i], 0);
        tg_tape_free(t);
    }
}

/* Batch dimensions of 2^40 in each operand at different places broadcast
   to 2^80 matrices: the product's count overflowed int64 (UBSan; found by
   fuzz_ops); now the output's shape is refused as too large. */
Test(empty_outer, batches_that_broadcast_past_int64_are_refused)
{
    tg_tape *t = tg_tape_new();
    cr_assert_not_null(t);
    tg_tensor *a = tg_zeros(t, TG_SHAPE(G40, 1, 0, 2)), *b = tg_zeros(t, TG_SHAPE(G40, 2, 0));
    cr_assert(a && b, "%s", tg_tape_error(t));
    cr_expect_null(tg_matmul(t, a, b));
    cr_expect(strstr(tg_tape_error(t), "tg_matmul: invalid shape [1099511627776,1099511627776,0"),
              "%s", tg_tape_error(t));
    tg_tape_free(t);
}

/* layer_norm and rms_norm over a normalized shape of 2^40 with no rows
   ([0, 2^40]): an empty output, as PyTorch gives, and an empty gradient.
   The forward kept room for the weight's and bias's sums, 2^40 doubles
   each, and refused with "out of memory" before; with weights of a
   normalized shape that exists ([0, 3]), their gradients are zeros. */
Test(empty_outer, norms_over_2_to_the_40_with_no_rows, .timeout = 10)
{
    tg_tape *t = tg_tape_new();
    cr_assert_not_null(t);
    tg_tensor *x = tg_requires_grad(tg_zeros(t, TG_SHAPE(0, G40)), true);
    tg_tensor *y[2] = {tg_layer_norm(t, x, TG_SHAPE(G40), NULL, NULL, 1e-5),
                       tg_rms_norm(t, x, TG_SHAPE(G40), NULL, 1e-5)};
    for (int k = 0; k < 2; k++) {
        cr_assert_not_null(y[k], "%s: %s", k ? "rms_norm" : "layer_norm", tg_tape_error(t));
        cr_expect(y[k]->ndim == 2 && y[k]->shape[0] == 0 && y[k]->shape[1] == G40);
        cr_expect_eq(tg_backward(t, tg_sum(t, y[k], TG_ALL, false)), TG_OK, "%s",
                     tg_tape_error(t));
    }
    tg_tensor *x3 = tg_requires_grad(tg_zeros(t, TG_SHAPE(0, 3)), true);
    tg_tensor *w = tg_requires_grad(tg_full(t, TG_SHAPE(3), 2), true);
    tg_tensor *b = tg_requires_grad(tg_full(t, TG_SHAPE(3), 1), true);
    tg_tensor *ln = tg_layer_norm(t, x3, TG_SHAPE(3), w, b, 1e-5);
    tg_tensor *rms = tg_rms_norm(t, x3, TG_SHAPE(3), w, 1e-5);
    tg_tensor *l = tg_add(t, tg_sum(t, ln, TG_ALL, false), tg_sum(t, rms, TG_ALL, false));
    cr_assert_eq(tg_backward(t, l), TG_OK, "%s", tg_tape_error(t));
    for (int j = 0; j < 3; j++)
        cr_expect(w->grad[j] == 0 && b->grad[j] == 0, "dw %g db %g", (double)w->grad[j],
                  (double)b->grad[j]);
    tg_tape_free(t);
}
