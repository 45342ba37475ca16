/* The layers for sequences against torch.nn: nn.LSTM, nn.GRU and nn.RNN
   (several layers, batch_first, without bias, unbatched, with and without
   initial states), their cells, nn.Embedding (padding_idx) and
   nn.MultiheadAttention (self- and cross-attention, time-major and
   batch_first, unbatched, key_padding_mask as 0/1 and as a float mask,
   3-D attention masks, a float attn_mask with key padding, is_causal
   against PyTorch's explicit causal mask, a sample whose every key is
   hidden). tests/gen_golden_seq_layers.py wrote each module's parameters
   (PyTorch's own initialisation, by state-dict name), inputs, outputs, and
   the gradients of loss = Σ out·R + Σ h_n·R_h + Σ c_n·R_c. Here each layer
   is made by its tapegrad init under the same names, loaded with them, and
   run forward and backward. Tolerances: gt_default_tol() (float rtol 1e-5
   / atol 1e-6, double rtol 1e-12 / atol 1e-14).

   And the initialisers: from a seed, every value equal to tapegrad's RNG
   recomputed in Python (U(−1/√H, 1/√H) in PyTorch's order of parameters,
   N(0, 1) with the padding row zeroed, Xavier then nn.Linear's default). */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "golden.h"
#include "golden_train.h"

#ifdef TG_DOUBLE
#define TAG "f64"
#else
#define TAG "f32"
#endif

static gtr_file *gold, *init;
static void load(void)
{
    gold = gtr_load("seq_layers_" TAG ".txt");
    init = gtr_load("seq_init.txt");
}
static void unload(void)
{
    gtr_free(gold);
    gtr_free(init);
}
TestSuite(seq_layers, .init = load, .fini = unload);

/* A tensor of the group on the tape (NULL if the group has none). */
static tg_tensor *item(tg_tape *t, const gtr_group *g, const char *name, bool grad)
{
    const gtr_item *it = gtr_find_item(g, name);
    if (!it) return NULL;
    tg_tensor *x = tg_zeros(t, it->ndim, it->shape);
    cr_assert(x, "%s", tg_tape_error(t));
    for (int64_t i = 0; i < it->n; i++) x->data[i] = (tg_real)it->v[i];
    return tg_requires_grad(x, grad);
}

/* Every parameter of p takes the group's values; p has exactly the
   group's parameters (prefix "<module>."), by name and shape. */
static void load_params(tg_params *p, const gtr_group *g, const char *prefix)
{
    size_t want = 0;
    for (int i = 0; i < g->n_items; i++) {
        const gtr_item *it = &g->items[i];
        if (strncmp(it->name, prefix, strlen(prefix)) != 0) continue;
        want++;
        tg_tensor *x = tg_params_get(p, it->name);
        cr_assert(x, "%s: tapegrad's layer has no parameter %s", g->name, it->name);
        cr_assert_eq(x->size, it->n, "%s: %s has %lld values, PyTorch's %lld", g->name, it->name,
                     (long long)x->size, (long long)it->n);
        for (int d = 0; d < it->ndim; d++) cr_assert_eq(x->shape[d], it->shape[d]);
        for (int64_t k = 0; k < it->n; k++) x->data[k] = (tg_real)it->v[k];
    }
    cr_assert_eq(tg_params_count(p), want, "%s: %zu parameters, PyTorch has %zu", g->name,
                 tg_params_count(p), want);
}

static void expect_tensor(const gtr_group *g, const char *name, const tg_tensor *x,
                          const tg_real *values)
{
    const gtr_item *it = gtr_item_of(g, name);
    cr_assert(x, "%s: no %s", g->name, name);
    cr_assert_eq(x->size, it->n, "%s: %s has %lld values, PyTorch's %lld", g->name, name,
                 (long long)x->size, (long long)it->n);
    cr_assert_eq(x->ndim, it->ndim, "%s: %s has %d dimensions, PyTorch's %d", g->name, name,
                 x->ndim, it->ndim);
    for (int d = 0; d < it->ndim; d++)
        cr_assert_eq(x->shape[d], it->shape[d], "%s: %s's shape", g->name, name);
    char what[160];
    snprintf(what, sizeof what, "%s: %s", g->name, name);
    gt_expect_close(values, it->v, it->n, gt_default_tol(), what);
}

/* Σ out·R_out over the outputs the group has; then backward, and every
   output and gradient compared. inputs: the tensors whose gradients the
   group holds as grad.<name>. */
static void check(tg_tape *t, tg_params *p, const gtr_group *g, tg_tensor *const outs[3],
                  tg_tensor *const *inputs, const char *const *input_names, int n_inputs)
{
    static const char *const onames[3] = {"out", "h_n", "c_n"};
    tg_tensor *loss = NULL;
    for (int i = 0; i < 3; i++) {
        if (!gtr_find_item(g, onames[i])) continue;
        expect_tensor(g, onames[i], outs[i], outs[i]->data);
        char rn[16];
        snprintf(rn, sizeof rn, "R_%s", onames[i]);
        tg_tensor *term = tg_sum(t, tg_mul(t, outs[i], item(t, g, rn, false)), TG_ALL, false);
        loss = loss ? tg_add(t, loss, term) : term;
    }
    cr_assert(loss, "%s: %s", g->name, tg_tape_error(t));
    cr_assert_eq(tg_backward(t, loss), TG_OK, "%s: %s", g->name, tg_tape_error(t));
    for (int i = 0; i < n_inputs; i++) {
        if (!inputs[i]) continue;
        char gn[64];
        snprintf(gn, sizeof gn, "grad.%s", input_names[i]);
        expect_tensor(g, gn, inputs[i], inputs[i]->grad);
    }
    for (size_t i = 0; i < tg_params_count(p); i++) {
        tg_tensor *x = tg_params_at(p, i);
        char gn[80];
        snprintf(gn, sizeof gn, "grad.%s", x->name);
        expect_tensor(g, gn, x, x->grad);
    }
}

static tg_rnn_mode mode_of(const char *kind)
{
    return !strcmp(kind, "lstm") ? TG_RNN_LSTM : !strcmp(kind, "gru") ? TG_RNN_GRU
           : !strcmp(kind, "rnn_relu") ? TG_RNN_RELU : TG_RNN_TANH;
}

static void run_recurrent(const char *name)
{
    char gname[96];
    snprintf(gname, sizeof gname, "layer_%s", name);
    const gtr_group *g = gtr_find_group(gold, gname);
    tg_params *p = tg_params_new();
    tg_recurrent l;
    tg_rnn_opts o = {(int)gtr_attr(g, "num_layers"), gtr_attr(g, "bias") != 0,
                     gtr_attr(g, "batch_first") != 0};
    cr_assert_eq(tg_recurrent_init(&l, p, "rnn", mode_of(gtr_attr_str(g, "kind")),
                                   (int64_t)gtr_attr(g, "input_size"),
                                   (int64_t)gtr_attr(g, "hidden_size"), &o, NULL),
                 TG_OK, "%s", tg_last_error());
    load_params(p, g, "rnn.");
    tg_tape *t = tg_tape_new();
    tg_tensor *in[3] = {item(t, g, "x", true), item(t, g, "h0", true), item(t, g, "c0", true)};
    tg_tensor *outs[3] = {NULL, NULL, NULL};
    outs[0] = tg_recurrent_forward(t, &l, in[0], in[1], in[2], &outs[1], &outs[2]);
    cr_assert(outs[0], "%s: %s", gname, tg_tape_error(t));
    check(t, p, g, outs, in, (const char *const[]){"x", "h0", "c0"}, 3);
    tg_tape_free(t);
    tg_params_free(p);
}

static void run_cell(const char *name)
{
    char gname[96];
    snprintf(gname, sizeof gname, "layer_%s", name);
    const gtr_group *g = gtr_find_group(gold, gname);
    tg_params *p = tg_params_new();
    tg_recurrent_cell l;
    cr_assert_eq(tg_recurrent_cell_init(&l, p, "cell", mode_of(gtr_attr_str(g, "kind")),
                                        (int64_t)gtr_attr(g, "input_size"),
                                        (int64_t)gtr_attr(g, "hidden_size"),
                                        gtr_attr(g, "bias") != 0, NULL),
                 TG_OK, "%s", tg_last_error());
    load_params(p, g, "cell.");
    tg_tape *t = tg_tape_new();
    tg_tensor *in[3] = {item(t, g, "x", true), item(t, g, "h0", true), item(t, g, "c0", true)};
    tg_tensor *outs[3] = {NULL, NULL, NULL};
    outs[0] = tg_recurrent_cell_forward(t, &l, in[0], in[1], in[2], &outs[2]);
    cr_assert(outs[0], "%s: %s", gname, tg_tape_error(t));
    check(t, p, g, outs, in, (const char *const[]){"x", "h0", "c0"}, 3);
    tg_tape_free(t);
    tg_params_free(p);
}

#define RECURRENT(NAME) \
    Test(seq_layers, NAME) { run_recurrent(#NAME); }
#define CELL(NAME) \
    Test(seq_layers, NAME) { run_cell(#NAME); }

RECURRENT(lstm_2layers)
RECURRENT(lstm_batch_first_no_bias)
RECURRENT(lstm_unbatched)
RECURRENT(lstm_batch_first_states)
RECURRENT(gru_2layers_batch_first)
RECURRENT(gru_no_state)
RECURRENT(rnn_tanh)
RECURRENT(rnn_relu_batch_first)
CELL(lstm_cell)
CELL(lstm_cell_unbatched)
CELL(gru_cell)
CELL(gru_cell_no_state)
CELL(rnn_cell_relu)
CELL(rnn_cell_tanh_unbatched)

static void run_embedding(const char *name)
{
    char gname[96];
    snprintf(gname, sizeof gname, "layer_%s", name);
    const gtr_group *g = gtr_find_group(gold, gname);
    const char *pad = gtr_attr_str(g, "padding");
    tg_params *p = tg_params_new();
    tg_embedding_layer l;
    cr_assert_eq(tg_embedding_layer_init(&l, p, "emb", (int64_t)gtr_attr(g, "num_embeddings"),
                                         (int64_t)gtr_attr(g, "embedding_dim"),
                                         strcmp(pad, "none") ? atoll(pad) : TG_PADDING_IDX_NONE,
                                         NULL),
                 TG_OK, "%s", tg_last_error());
    load_params(p, g, "emb.");
    tg_tape *t = tg_tape_new();
    const gtr_item *ix = gtr_item_of(g, "index");
    int64_t idx[64];
    cr_assert(ix->n <= 64);
    for (int64_t i = 0; i < ix->n; i++) idx[i] = (int64_t)ix->v[i];
    tg_tensor *outs[3] = {
        tg_embedding_layer_forward(t, &l, tg_index_new(t, ix->ndim, ix->shape, idx)), NULL, NULL};
    cr_assert(outs[0], "%s: %s", gname, tg_tape_error(t));
    check(t, p, g, outs, NULL, NULL, 0);
    tg_tape_free(t);
    tg_params_free(p);
}

Test(seq_layers, embedding) { run_embedding("embedding"); }
Test(seq_layers, embedding_padding) { run_embedding("embedding_padding"); }
Test(seq_layers, embedding_padding_negative) { run_embedding("embedding_padding_negative"); }

static void run_mha(const char *name)
{
    char gname[96];
    snprintf(gname, sizeof gname, "layer_%s", name);
    const gtr_group *g = gtr_find_group(gold, gname);
    const char *masks = gtr_attr_str(g, "masks");
    tg_params *p = tg_params_new();
    tg_multihead_attention m;
    cr_assert_eq(tg_multihead_attention_init(&m, p, "attn", (int64_t)gtr_attr(g, "embed_dim"),
                                             (int64_t)gtr_attr(g, "num_heads"),
                                             gtr_attr(g, "bias") != 0,
                                             gtr_attr(g, "batch_first") != 0, NULL),
                 TG_OK, "%s", tg_last_error());
    load_params(p, g, "attn.");
    tg_tape *t = tg_tape_new();
    tg_tensor *q = item(t, g, "query", true);
    tg_tensor *k = gtr_attr(g, "self_attn") ? q : item(t, g, "key", true);
    tg_tensor *v = gtr_attr(g, "self_attn") ? q : item(t, g, "value", true);
    tg_mha_opts o = {0};
    o.key_padding_mask = item(t, g, "key_padding_mask", false);
    o.key_padding_kind = strstr(masks, "kpm_float") ? TG_MASK_ADDITIVE : TG_MASK_HIDE;
    if (!strcmp(masks, "causal")) { /* PyTorch's explicit causal mask, here is_causal */
        o.is_causal = true;
    } else {
        o.attn_mask = item(t, g, "attn_mask", false);
        o.attn_mask_kind = strstr(masks, "amf") ? TG_MASK_ADDITIVE : TG_MASK_HIDE;
    }
    tg_tensor *outs[3] = {tg_multihead_attention_forward(t, &m, q, k, v, &o), NULL, NULL};
    cr_assert(outs[0], "%s: %s", gname, tg_tape_error(t));
    bool self = gtr_attr(g, "self_attn") != 0;
    tg_tensor *in[3] = {q, self ? NULL : k, self ? NULL : v};
    check(t, p, g, outs, in, (const char *const[]){"query", "key", "value"}, 3);
    tg_tape_free(t);
    tg_params_free(p);
}

#define MHA(NAME) \
    Test(seq_layers, NAME) { run_mha(#NAME); }
MHA(mha_self_batch_first)
MHA(mha_self_causal)
MHA(mha_cross_time_major)
MHA(mha_key_padding)
MHA(mha_key_padding_float)
MHA(mha_attn_mask_bool_3d)
MHA(mha_attn_mask_float_and_kpm)
MHA(mha_unbatched)
MHA(mha_fully_masked)

/* Every group of the file has its test above. */
Test(seq_layers, every_group_is_run)
{
    static const char *const names[] = {
        "lstm_2layers", "lstm_batch_first_no_bias", "lstm_unbatched", "lstm_batch_first_states",
        "gru_2layers_batch_first", "gru_no_state", "rnn_tanh", "rnn_relu_batch_first",
        "lstm_cell", "lstm_cell_unbatched", "gru_cell", "gru_cell_no_state", "rnn_cell_relu",
        "rnn_cell_tanh_unbatched", "embedding", "embedding_padding",
        "embedding_padding_negative", "mha_self_batch_first", "mha_self_causal",
        "mha_cross_time_major", "mha_key_padding", "mha_key_padding_float",
        "mha_attn_mask_bool_3d", "mha_attn_mask_float_and_kpm", "mha_unbatched",
        "mha_fully_masked"};
    size_t n = sizeof names / sizeof *names;
    cr_expect_eq((size_t)gold->n, n, "the file has %d groups, the tests %zu", gold->n, n);
    for (int i = 0; i < gold->n; i++) {
        bool found = false;
        for (size_t j = 0; j < n; j++) {
            char gname[96];
            snprintf(gname, sizeof gname, "layer_%s", names[j]);
            found |= !strcmp(gname, gold->groups[i].name);
        }
        cr_expect(found, "group %s has no test", gold->groups[i].name);
    }
}

/* ------------------------------------------------------------ initialisers */

static void expect_exact(const gtr_group *g, tg_params *p)
{
    for (int i = 0; i < g->n_items; i++) {
        const gtr_item *it = &g->items[i];
        tg_tensor *x = tg_params_get(p, it->name);
        cr_assert(x, "%s: no %s", g->name, it->name);
        cr_assert_eq(x->size, it->n);
        for (int64_t k = 0; k < it->n; k++)
            cr_assert(x->data[k] == (tg_real)it->v[k], "%s: %s[%lld] = %.9g, Python says %.9g",
                      g->name, it->name, (long long)k, (double)x->data[k], it->v[k]);
    }
}

Test(seq_layers, init_lstm)
{
    const gtr_group *g = gtr_find_group(init, "init_lstm");
    tg_params *p = tg_params_new();
    tg_rng r;
    tg_rng_seed(&r, (uint64_t)gtr_attr(g, "seed"));
    tg_recurrent l;
    tg_rnn_opts o = tg_rnn_defaults();
    o.num_layers = 2;
    cr_assert_eq(tg_recurrent_init(&l, p, "rnn", TG_RNN_LSTM, 3, 4, &o, &r), TG_OK);
    cr_expect_eq(tg_params_count(p), 8);
    expect_exact(g, p);
    for (int64_t k = 0; k < l.weight_hh[1]->size; k++)
        cr_expect(fabs(l.weight_hh[1]->data[k]) <= 0.5, "U(-1/sqrt(H), 1/sqrt(H)), H = 4");
    tg_params_free(p);
}

Test(seq_layers, init_embedding)
{
    const gtr_group *g = gtr_find_group(init, "init_embedding");
    tg_params *p = tg_params_new();
    tg_rng r;
    tg_rng_seed(&r, (uint64_t)gtr_attr(g, "seed"));
    tg_embedding_layer l;
    cr_assert_eq(tg_embedding_layer_init(&l, p, "emb", 6, 3, -4, &r), TG_OK); /* row 2 */
    cr_expect_eq(l.padding_idx, 2);
    expect_exact(g, p);
    tg_params_free(p);
}

Test(seq_layers, init_mha)
{
    const gtr_group *g = gtr_find_group(init, "init_mha");
    tg_params *p = tg_params_new();
    tg_rng r;
    tg_rng_seed(&r, (uint64_t)gtr_attr(g, "seed"));
    tg_multihead_attention m;
    cr_assert_eq(tg_multihead_attention_init(&m, p, "attn", 8, 2, true, true, &r), TG_OK);
    expect_exact(g, p);
    for (int64_t k = 0; k < 8; k++) cr_expect(m.out_proj.bias->data[k] == 0);
    for (int64_t k = 0; k < 24; k++) cr_expect(m.in_proj_bias->data[k] == 0);
    static const char *const order[4] = {"attn.in_proj_weight", "attn.in_proj_bias",
                                         "attn.out_proj.weight", "attn.out_proj.bias"};
    for (size_t i = 0; i < 4; i++) cr_expect_str_eq(tg_params_at(p, i)->name, order[i]);
    tg_params_free(p);
}

/* A refused layer registers nothing. */
Test(seq_layers, refusals_register_nothing)
{
    tg_params *p = tg_params_new();
    tg_recurrent l;
    tg_rnn_opts o = tg_rnn_defaults();
    o.num_layers = 0;
    cr_expect_neq(tg_recurrent_init(&l, p, "rnn", TG_RNN_GRU, 3, 4, &o, NULL), TG_OK);
    cr_expect(strstr(tg_last_error(), "num_layers") != NULL, "%s", tg_last_error());
    cr_expect_neq(tg_recurrent_init(&l, p, "rnn", TG_RNN_GRU, 0, 4, NULL, NULL), TG_OK);
    tg_multihead_attention m;
    cr_expect_neq(tg_multihead_attention_init(&m, p, "attn", 6, 4, true, true, NULL), TG_OK);
    cr_expect(strstr(tg_last_error(), "divisible") != NULL, "%s", tg_last_error());
    tg_embedding_layer e;
    cr_expect_neq(tg_embedding_layer_init(&e, p, "emb", 5, 3, 5, NULL), TG_OK);
    cr_expect(strstr(tg_last_error(), "padding_idx 5") != NULL, "%s", tg_last_error());
    cr_expect_eq(tg_params_count(p), 0);
    /* a name taken part-way: nothing of the second layer is added */
    cr_assert_eq(tg_params_add(p, "rnn.bias_hh_l1", TG_SHAPE(16)) != NULL, true);
    o.num_layers = 2;
    cr_expect_neq(tg_recurrent_init(&l, p, "rnn", TG_RNN_LSTM, 3, 4, &o, NULL), TG_OK);
    cr_expect(strstr(tg_last_error(), "rnn.bias_hh_l1") != NULL, "%s", tg_last_error());
    cr_expect_eq(tg_params_count(p), 1);
    tg_params_free(p);
}

/* The forward's refusals: masks of the wrong shape, states of the wrong
   shape, each naming the function and the shapes. */
Test(seq_layers, forward_refusals)
{
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_multihead_attention m;
    cr_assert_eq(tg_multihead_attention_init(&m, p, "attn", 4, 2, true, true, NULL), TG_OK);
    tg_tensor *x = tg_zeros(t, TG_SHAPE(2, 3, 4));
    tg_mha_opts o = {.key_padding_mask = tg_zeros(t, TG_SHAPE(3, 3))};
    cr_expect_null(tg_multihead_attention_forward(t, &m, x, x, x, &o));
    cr_expect(strstr(tg_tape_error(t), "key_padding_mask must be [N, S] = [2, 3], got [3,3]"),
              "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    o = (tg_mha_opts){.attn_mask = tg_zeros(t, TG_SHAPE(3, 4))};
    cr_expect_null(tg_multihead_attention_forward(t, &m, x, x, x, &o));
    cr_expect(strstr(tg_tape_error(t), "attn_mask must be [L, S] = [3, 3]"), "%s",
              tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_multihead_attention_forward(t, &m, x, tg_zeros(t, TG_SHAPE(2, 3, 5)), x,
                                                  NULL));
    cr_expect(strstr(tg_tape_error(t), "tg_multihead_attention_forward"), "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_multihead_attention_forward(t, &m, tg_zeros(t, TG_SHAPE(2, 0, 4)),
                                                  tg_zeros(t, TG_SHAPE(2, 0, 4)),
                                                  tg_zeros(t, TG_SHAPE(2, 0, 4)), NULL));
    cr_expect(strstr(tg_tape_error(t), "length 0"), "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    tg_recurrent l;
    cr_assert_eq(tg_recurrent_init(&l, p, "rnn", TG_RNN_LSTM, 4, 5, NULL, NULL), TG_OK);
    cr_expect_null(tg_recurrent_forward(t, &l, tg_zeros(t, TG_SHAPE(3, 2, 4)),
                                        tg_zeros(t, TG_SHAPE(2, 5)), NULL, NULL, NULL));
    cr_expect(strstr(tg_tape_error(t), "h0 must be [num_layers, N, H] = [1, 2, 5], got [2,5]"),
              "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_recurrent_forward(t, &l, tg_zeros(t, TG_SHAPE(0, 2, 4)), NULL, NULL, NULL,
                                        NULL));
    cr_expect(strstr(tg_tape_error(t), "length 0"), "%s", tg_tape_error(t));
    tg_tape_free(t);
    tg_params_free(p);
}

/* A tape that holds an earlier error (not cleared) still runs attention
   with masks: the output's bits are those of a clean tape. The masks were
   checked by asking whether the tape had failed, so such a tape made every
   masked attention refuse with the old message. */
Test(seq_layers, masked_attention_on_a_tape_with_an_old_error)
{
    tg_params *p = tg_params_new();
    tg_rng r;
    tg_rng_seed(&r, 3);
    tg_multihead_attention m;
    cr_assert_eq(tg_multihead_attention_init(&m, p, "attn", 4, 2, true, true, &r), TG_OK);
    tg_real xs[24], ks[6] = {0, 0, 1, 0, 0, 0}, as[9];
    for (int i = 0; i < 24; i++) xs[i] = (tg_real)((i * 7 % 11) - 5) / 4;
    for (int i = 0; i < 9; i++) as[i] = (tg_real)(i % 4) / 2;
    tg_real out[2][24];
    for (int dirty = 0; dirty < 2; dirty++) {
        tg_tape *t = tg_tape_new();
        if (dirty) cr_assert_null(tg_exp(t, NULL)); /* "tg_exp: input is NULL", left there */
        tg_tensor *x = tg_tensor_new(t, TG_SHAPE(2, 3, 4), xs);
        tg_mha_opts o = {.key_padding_mask = tg_tensor_new(t, TG_SHAPE(2, 3), ks),
                         .key_padding_kind = TG_MASK_HIDE,
                         .attn_mask = tg_tensor_new(t, TG_SHAPE(3, 3), as),
                         .attn_mask_kind = TG_MASK_ADDITIVE,
                         .is_causal = true};
        tg_tensor *y = tg_multihead_attention_forward(t, &m, x, x, x, &o);
        cr_assert_not_null(y, "dirty %d: %s", dirty, tg_tape_error(t));
        cr_assert_eq(y->size, 24);
        memcpy(out[dirty], y->data, sizeof out[dirty]);
        tg_tape_free(t);
    }
    cr_expect(!memcmp(out[0], out[1], sizeof out[0]), "other values on the tape with an error");
    tg_params_free(p);
}
