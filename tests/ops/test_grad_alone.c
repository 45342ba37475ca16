/* Each input alone: for every op of several tensor inputs, each input is
   made the only one that requires a gradient, and the backward (tg_backward)
   and the gradient built with create_graph (tg_grad) must run and give that
   input the gradient it gets when every input requires one. An op's rule
   runs whenever one of its inputs needs a gradient, with the others' grad
   pointers NULL: a rule that wrote to an input's gradient without asking
   whether it has one crashed there (masked_fill, found by fuzz/fuzz_ops.c,
   when its mask was the only input needing a gradient; and nll_loss, when
   its class weights were). Inputs that get no gradient by design (a mask,
   a condition, a target of ±1, class weights) get zeros both ways. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <tapegrad.h>

enum fill {
    NONE = 0, /* a NULL input */
    SIGNED,   /* uniform in [-1, 1) */
    POS,      /* uniform in [0.5, 2) */
    UNIT,     /* uniform in [0.05, 0.95): probabilities */
    PM1,      /* ±1: the targets of the embedding and ranking losses */
    MASK      /* 0 or 1 */
};

typedef struct {
    enum fill fill;
    int ndim;
    int64_t shape[4];
} input;

typedef tg_tensor *(*builder)(tg_tape *t, tg_tensor **in);

typedef struct {
    const char *name;
    builder build;
    int n_in;
    input in[7];
} alone_case;

#define SH(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), {__VA_ARGS__}

static tg_tensor *b_where(tg_tape *t, tg_tensor **in) { return tg_where(t, in[0], in[1], in[2]); }
static tg_tensor *b_masked_fill(tg_tape *t, tg_tensor **in)
{
    return tg_masked_fill(t, in[0], in[1], 3);
}
static tg_tensor *b_clamp(tg_tape *t, tg_tensor **in)
{
    return tg_clamp_tensor(t, in[0], in[1], in[2]);
}
static tg_tensor *b_pow(tg_tape *t, tg_tensor **in) { return tg_pow_tensor(t, in[0], in[1]); }
static tg_tensor *b_lerp(tg_tape *t, tg_tensor **in)
{
    return tg_lerp_tensor(t, in[0], in[1], in[2]);
}
static tg_tensor *b_prelu(tg_tape *t, tg_tensor **in) { return tg_prelu(t, in[0], in[1]); }
static tg_tensor *b_atan2(tg_tape *t, tg_tensor **in) { return tg_atan2(t, in[0], in[1]); }
static tg_tensor *b_minimum(tg_tape *t, tg_tensor **in) { return tg_minimum(t, in[0], in[1]); }
static tg_tensor *b_div(tg_tape *t, tg_tensor **in) { return tg_div(t, in[0], in[1]); }
static tg_tensor *b_mse(tg_tape *t, tg_tensor **in)
{
    return tg_mse_loss(t, in[0], in[1], TG_REDUCE_MEAN);
}
static tg_tensor *b_huber(tg_tape *t, tg_tensor **in)
{
    return tg_huber_loss(t, in[0], in[1], (tg_real)0.5, TG_REDUCE_SUM);
}
static tg_tensor *b_bce(tg_tape *t, tg_tensor **in)
{
    return tg_bce_loss_ex(t, in[0], in[1], in[2], TG_REDUCE_MEAN);
}
static tg_tensor *b_bce_logits(tg_tape *t, tg_tensor **in)
{
    return tg_bce_with_logits_ex(t, in[0], in[1], in[2], in[3], TG_REDUCE_MEAN);
}
static tg_tensor *b_ce_prob(tg_tape *t, tg_tensor **in)
{
    tg_ce_opts o = {.reduction = TG_REDUCE_MEAN, .ignore_index = TG_IGNORE_INDEX};
    return tg_cross_entropy_prob(t, in[0], in[1], &o);
}
/* class weights [5] as the op's second input: they get no gradient */
static const int64_t class_targets[3] = {4, 0, 2};
static tg_tensor *b_nll_weight(tg_tape *t, tg_tensor **in)
{
    tg_ce_opts o = {.reduction = TG_REDUCE_MEAN, .ignore_index = TG_IGNORE_INDEX,
                    .weight = in[1]};
    return tg_nll_loss(t, in[0], class_targets, &o);
}
static tg_tensor *b_ce_weight(tg_tape *t, tg_tensor **in)
{
    tg_ce_opts o = {.reduction = TG_REDUCE_SUM, .ignore_index = TG_IGNORE_INDEX,
                    .label_smoothing = 0.1, .weight = in[1]};
    return tg_cross_entropy_ex(t, in[0], class_targets, &o);
}
static tg_tensor *b_kl(tg_tape *t, tg_tensor **in)
{
    return tg_kl_div(t, in[0], in[1], TG_REDUCE_BATCHMEAN, false);
}
static tg_tensor *b_cosine(tg_tape *t, tg_tensor **in)
{
    return tg_cosine_similarity(t, in[0], in[1], 1, (tg_real)1e-8);
}
static tg_tensor *b_cos_emb(tg_tape *t, tg_tensor **in)
{
    return tg_cosine_embedding_loss(t, in[0], in[1], in[2], (tg_real)0.1, TG_REDUCE_MEAN);
}
static tg_tensor *b_ranking(tg_tape *t, tg_tensor **in)
{
    return tg_margin_ranking_loss(t, in[0], in[1], in[2], (tg_real)0.3, TG_REDUCE_MEAN);
}
static tg_tensor *b_hinge(tg_tape *t, tg_tensor **in)
{
    return tg_hinge_embedding_loss(t, in[0], in[1], (tg_real)1.5, TG_REDUCE_MEAN);
}
static tg_tensor *b_triplet(tg_tape *t, tg_tensor **in)
{
    return tg_triplet_margin_loss(t, in[0], in[1], in[2], 1, 2, (tg_real)1e-6, false,
                                  TG_REDUCE_MEAN);
}
static tg_tensor *b_poisson(tg_tape *t, tg_tensor **in)
{
    return tg_poisson_nll_loss(t, in[0], in[1], true, true, (tg_real)1e-8, TG_REDUCE_MEAN);
}
static tg_tensor *b_gaussian(tg_tape *t, tg_tensor **in)
{
    return tg_gaussian_nll_loss(t, in[0], in[1], in[2], true, (tg_real)1e-6, TG_REDUCE_MEAN);
}
static tg_tensor *b_matmul(tg_tape *t, tg_tensor **in) { return tg_matmul(t, in[0], in[1]); }
static tg_tensor *b_linear(tg_tape *t, tg_tensor **in) { return tg_linear(t, in[0], in[1], in[2]); }
static tg_tensor *b_conv2d(tg_tape *t, tg_tensor **in)
{
    tg_conv_opts o = {.padding = {1, 0}};
    return tg_conv2d(t, in[0], in[1], in[2], &o);
}
static tg_tensor *b_conv_t2d(tg_tape *t, tg_tensor **in)
{
    tg_conv_opts o = {.stride = {2, 1}};
    return tg_conv_transpose2d(t, in[0], in[1], in[2], &o);
}
static tg_tensor *b_layer_norm(tg_tape *t, tg_tensor **in)
{
    return tg_layer_norm(t, in[0], 1, (int64_t[]){5}, in[1], in[2], 1e-5);
}
static tg_tensor *b_group_norm(tg_tape *t, tg_tensor **in)
{
    return tg_group_norm(t, in[0], 2, in[1], in[2], 1e-5);
}
static tg_tensor *b_rms_norm(tg_tape *t, tg_tensor **in)
{
    return tg_rms_norm(t, in[0], 1, (int64_t[]){5}, in[1], 1e-6);
}
static tg_tensor *b_batch_norm(tg_tape *t, tg_tensor **in)
{
    return tg_batch_norm(t, in[0], NULL, NULL, in[1], in[2], true, 0.1, 1e-5);
}
static tg_tensor *b_sdpa(tg_tape *t, tg_tensor **in)
{
    return tg_scaled_dot_product_attention(t, in[0], in[1], in[2], in[3], TG_MASK_ADDITIVE, false,
                                           0);
}
static tg_tensor *b_index_add(tg_tape *t, tg_tensor **in)
{
    tg_index *idx = tg_index_new(t, 1, (int64_t[]){3}, (int64_t[]){2, 0, 2});
    return tg_index_add(t, in[0], 0, idx, in[1]);
}
static tg_tensor *b_scatter_add(tg_tape *t, tg_tensor **in)
{
    tg_index *idx = tg_index_new(t, 2, (int64_t[]){2, 3}, (int64_t[]){0, 2, 1, 2, 2, 0});
    return tg_scatter_add(t, in[0], 0, idx, in[1]);
}
static tg_tensor *b_lstm_cell(tg_tape *t, tg_tensor **in)
{
    return tg_lstm_cell(t, in[0], in[1], in[2], in[3], in[4], in[5], in[6], NULL);
}
static tg_tensor *b_gru_cell(tg_tape *t, tg_tensor **in)
{
    return tg_gru_cell(t, in[0], in[1], in[2], in[3], in[4], in[5]);
}
static tg_tensor *b_lstm_rec(tg_tape *t, tg_tensor **in)
{
    return tg_lstm_recurrence(t, in[0], in[1], in[2], in[3], in[4], true, NULL);
}

static const alone_case cases[] = {
    {"where", b_where, 3, {{MASK, SH(3, 4)}, {SIGNED, SH(3, 4)}, {SIGNED, SH(4)}}},
    {"masked_fill", b_masked_fill, 2, {{SIGNED, SH(4)}, {MASK, SH(3, 4)}}},
    {"masked_fill_same_shape", b_masked_fill, 2, {{SIGNED, SH(3, 4)}, {MASK, SH(3, 4)}}},
    {"clamp_tensor", b_clamp, 3, {{SIGNED, SH(3, 4)}, {SIGNED, SH(4)}, {POS, SH(3, 1)}}},
    {"pow_tensor", b_pow, 2, {{POS, SH(3, 4)}, {SIGNED, SH(4)}}},
    {"lerp_tensor", b_lerp, 3, {{SIGNED, SH(3, 4)}, {SIGNED, SH(4)}, {UNIT, SH(3, 1)}}},
    {"prelu", b_prelu, 2, {{SIGNED, SH(2, 3, 4)}, {UNIT, SH(3)}}},
    {"atan2", b_atan2, 2, {{SIGNED, SH(3, 4)}, {POS, SH(4)}}},
    {"minimum", b_minimum, 2, {{SIGNED, SH(3, 4)}, {SIGNED, SH(3, 1)}}},
    {"div", b_div, 2, {{SIGNED, SH(3, 4)}, {POS, SH(4)}}},
    {"mse_loss", b_mse, 2, {{SIGNED, SH(3, 4)}, {SIGNED, SH(4)}}},
    {"huber_loss", b_huber, 2, {{SIGNED, SH(3, 4)}, {SIGNED, SH(3, 4)}}},
    {"bce_loss_weight", b_bce, 3, {{UNIT, SH(3, 4)}, {UNIT, SH(3, 4)}, {POS, SH(4)}}},
    {"bce_with_logits", b_bce_logits, 4,
     {{SIGNED, SH(3, 4)}, {UNIT, SH(3, 4)}, {POS, SH(4)}, {POS, SH(4)}}},
    {"cross_entropy_prob", b_ce_prob, 2, {{SIGNED, SH(3, 5)}, {UNIT, SH(3, 5)}}},
    {"nll_loss_weight", b_nll_weight, 2, {{SIGNED, SH(3, 5)}, {POS, SH(5)}}},
    {"cross_entropy_weight", b_ce_weight, 2, {{SIGNED, SH(3, 5)}, {POS, SH(5)}}},
    {"kl_div", b_kl, 2, {{SIGNED, SH(3, 4)}, {UNIT, SH(3, 4)}}},
    {"cosine_similarity", b_cosine, 2, {{SIGNED, SH(3, 4)}, {SIGNED, SH(3, 4)}}},
    {"cosine_embedding_loss", b_cos_emb, 3, {{SIGNED, SH(3, 4)}, {SIGNED, SH(3, 4)}, {PM1, SH(3)}}},
    {"margin_ranking_loss", b_ranking, 3, {{SIGNED, SH(5)}, {SIGNED, SH(5)}, {PM1, SH(5)}}},
    {"hinge_embedding_loss", b_hinge, 2, {{SIGNED, SH(3, 4)}, {PM1, SH(3, 4)}}},
    {"triplet_margin_loss", b_triplet, 3,
     {{SIGNED, SH(3, 4)}, {SIGNED, SH(3, 4)}, {SIGNED, SH(3, 4)}}},
    {"poisson_nll_loss", b_poisson, 2, {{SIGNED, SH(3, 4)}, {POS, SH(3, 4)}}},
    {"gaussian_nll_loss", b_gaussian, 3, {{SIGNED, SH(3, 4)}, {SIGNED, SH(3, 4)}, {POS, SH(3, 4)}}},
    {"matmul", b_matmul, 2, {{SIGNED, SH(2, 3, 4)}, {SIGNED, SH(4, 5)}}},
    {"linear", b_linear, 3, {{SIGNED, SH(3, 4)}, {SIGNED, SH(5, 4)}, {SIGNED, SH(5)}}},
    {"conv2d", b_conv2d, 3, {{SIGNED, SH(2, 3, 5, 5)}, {SIGNED, SH(4, 3, 3, 3)}, {SIGNED, SH(4)}}},
    {"conv_transpose2d", b_conv_t2d, 3,
     {{SIGNED, SH(2, 3, 4, 4)}, {SIGNED, SH(3, 2, 3, 3)}, {SIGNED, SH(2)}}},
    {"layer_norm", b_layer_norm, 3, {{SIGNED, SH(3, 5)}, {SIGNED, SH(5)}, {SIGNED, SH(5)}}},
    {"group_norm", b_group_norm, 3, {{SIGNED, SH(2, 4, 3)}, {SIGNED, SH(4)}, {SIGNED, SH(4)}}},
    {"rms_norm", b_rms_norm, 2, {{SIGNED, SH(3, 5)}, {SIGNED, SH(5)}}},
    {"batch_norm", b_batch_norm, 3, {{SIGNED, SH(4, 3, 2)}, {SIGNED, SH(3)}, {SIGNED, SH(3)}}},
    {"scaled_dot_product_attention", b_sdpa, 4,
     {{SIGNED, SH(2, 3, 4)}, {SIGNED, SH(2, 5, 4)}, {SIGNED, SH(2, 5, 3)}, {SIGNED, SH(3, 5)}}},
    {"index_add", b_index_add, 2, {{SIGNED, SH(3, 4)}, {SIGNED, SH(3, 4)}}},
    {"scatter_add", b_scatter_add, 2, {{SIGNED, SH(3, 3)}, {SIGNED, SH(2, 3)}}},
    {"lstm_cell", b_lstm_cell, 7,
     {{SIGNED, SH(2, 3)}, {SIGNED, SH(2, 4)}, {SIGNED, SH(2, 4)}, {SIGNED, SH(16, 3)},
      {SIGNED, SH(16, 4)}, {SIGNED, SH(16)}, {SIGNED, SH(16)}}},
    {"gru_cell", b_gru_cell, 6,
     {{SIGNED, SH(2, 3)}, {SIGNED, SH(2, 4)}, {SIGNED, SH(12, 3)}, {SIGNED, SH(12, 4)},
      {SIGNED, SH(12)}, {SIGNED, SH(12)}}},
    {"lstm_recurrence", b_lstm_rec, 5,
     {{SIGNED, SH(2, 3, 16)}, {SIGNED, SH(16, 4)}, {SIGNED, SH(16)}, {SIGNED, SH(2, 4)},
      {SIGNED, SH(2, 4)}}},
};

/* the inputs' values: the same for every run of a case (a fixed LCG) */
static tg_tensor *make(tg_tape *t, const input *f, uint64_t seed, bool grad)
{
    if (f->fill == NONE) return NULL;
    tg_tensor *x = tg_zeros(t, f->ndim, f->shape);
    cr_assert(x, "%s", tg_tape_error(t));
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 7;
    for (int64_t i = 0; i < x->size; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(s >> 11) * 0x1p-53;
        double v = f->fill == SIGNED ? 2 * u - 1
                 : f->fill == POS    ? 0.5 + 1.5 * u
                 : f->fill == UNIT   ? 0.05 + 0.9 * u
                 : f->fill == PM1    ? (u < 0.5 ? -1 : 1)
                                     : (u < 0.5 ? 0 : 1);
        x->data[i] = (tg_real)v;
    }
    return grad ? tg_requires_grad(x, true) : x;
}

/* the gradient of Σ y·w for input k: through tg_backward (create_graph
   false) or tg_grad with create_graph; wanted[i] says which inputs require
   one. Returns a copy on the heap (NULL: the output needs no gradient). */
static tg_real *grad_of(tg_tape *t, const alone_case *c, const bool *wanted, int k, bool cg)
{
    tg_tape_reset(t);
    tg_tensor *in[7] = {0};
    for (int i = 0; i < c->n_in; i++) in[i] = make(t, &c->in[i], (uint64_t)i + 1, wanted[i]);
    tg_tensor *y = c->build(t, in);
    cr_assert(y, "%s: %s", c->name, tg_tape_error(t));
    if (!(y->flags & TG_REQUIRES_GRAD)) return NULL;
    tg_tensor *w = tg_zeros(t, y->ndim, y->shape); /* fixed weights: Σ y·w */
    for (int64_t i = 0; i < w->size; i++) w->data[i] = (tg_real)(0.25 + 0.5 * (double)(i % 5) / 5);
    tg_tensor *loss = tg_sum(t, tg_mul(t, y, w), TG_ALL, false);
    cr_assert(loss, "%s: %s", c->name, tg_tape_error(t));
    tg_real *out = malloc((size_t)in[k]->size * sizeof *out);
    cr_assert(out);
    if (!cg) {
        cr_assert_eq(tg_backward(t, loss), TG_OK, "%s, input %d: %s", c->name, k, tg_tape_error(t));
        for (int64_t i = 0; i < in[k]->size; i++) out[i] = in[k]->grad ? in[k]->grad[i] : 0;
    } else {
        tg_tensor *g = NULL;
        tg_grad_opts o = {.create_graph = true, .allow_unused = true};
        cr_assert_eq(tg_grad(t, 1, &loss, NULL, 1, &in[k], &g, &o), TG_OK, "%s, input %d: %s",
                     c->name, k, tg_tape_error(t));
        for (int64_t i = 0; i < in[k]->size; i++) out[i] = g ? g->data[i] : 0;
    }
    return out;
}

static void check_case(tg_tape *t, const alone_case *c)
{
    for (int k = 0; k < c->n_in; k++) {
        if (c->in[k].fill == NONE) continue;
        bool all[7], one[7];
        for (int i = 0; i < c->n_in; i++) all[i] = c->in[i].fill != NONE, one[i] = i == k;
        int64_t n = 1;
        for (int d = 0; d < c->in[k].ndim; d++) n *= c->in[k].shape[d];
        for (int cg = 0; cg < 2; cg++) {
            tg_real *want = grad_of(t, c, all, k, cg);
            tg_real *got = grad_of(t, c, one, k, cg);
            cr_assert(want && got, "%s: the output needs no gradient", c->name);
            double top = 0;
            for (int64_t i = 0; i < n; i++) top = fmax(top, fabs((double)want[i]));
            for (int64_t i = 0; i < n; i++)
                cr_expect(fabs((double)got[i] - (double)want[i]) <= 1e-6 * (1 + top),
                          "%s, input %d alone%s: element %lld is %.9g, with every input %.9g",
                          c->name, k, cg ? " (create_graph)" : "", (long long)i, (double)got[i],
                          (double)want[i]);
            free(want), free(got);
        }
    }
}

/* one test a case, each in its own process: a crash names its case (the
   parameter is the case's index: the test's process need not share the
   table's addresses) */
#define N_CASES (sizeof cases / sizeof *cases)
static size_t case_index[N_CASES];

ParameterizedTestParameters(grad_alone, every_input_alone_gets_its_gradient)
{
    for (size_t i = 0; i < N_CASES; i++) case_index[i] = i;
    return cr_make_param_array(size_t, case_index, N_CASES);
}

ParameterizedTest(size_t *i, grad_alone, every_input_alone_gets_its_gradient)
{
    tg_tape *t = tg_tape_new();
    fprintf(stderr, "grad_alone: %s\n", cases[*i].name); /* a crash names its case */
    check_case(t, &cases[*i]);
    tg_tape_free(t);
}
