/* The embedding, recurrent and attention ops against central finite
   differences: tg_gradcheck (first order, the fast backward) and
   tg_gradgradcheck (second order, through the vjps) with their defaults,
   at seeded random points, in both builds.

   The golden tests compare with PyTorch at fixed points; these compare
   each rule with its own forward through the whole Jacobian. The cases
   are a table (name, builder, inputs with their shapes and fills, the
   op's options), one Criterion test each, first order and second. A relu
   recurrence is piecewise
   linear: at a random point no pre-activation sits within a step of 0
   (gradcheck would say near_kink, not fail). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <string.h>
#include <tapegrad.h>

#define FD_MAX_IN 5

enum fill { F_SIGNED, F_MASK };

typedef struct fd_case {
    const char *name;
    tg_gradcheck_fn build;
    int n_in;
    int ndim[FD_MAX_IN];
    int64_t shape[FD_MAX_IN][TG_MAX_DIMS];
    enum fill fill[FD_MAX_IN]; /* a 0/1 mask gets no gradient */
    int mode;                  /* tg_rnn_mode, or the mask kind for attention */
    bool bf, causal, with_x;   /* batch_first; is_causal; the output joined with input 0 */
    int64_t padding, num_weights;
    int index_ndim;
    int64_t index_shape[TG_MAX_DIMS];
    int64_t index[12];
} fd_case;

/* op(...) and, with with_x, input 0 itself joined to it (flattened): input
   0's gradient then comes from two records, so a rule that writes its
   input's gradient instead of adding to it shows. */
static tg_tensor *joined(tg_tape *t, const fd_case *c, tg_tensor *y, tg_tensor *x)
{
    if (!y || !c->with_x) return y;
    tg_tensor *parts[2] = {tg_reshape(t, y, 1, &y->size), tg_reshape(t, x, 1, &x->size)};
    return tg_cat(t, parts, 2, 0);
}

static tg_tensor *f_embedding(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    (void)n;
    const tg_index *i = tg_index_new(t, c->index_ndim, c->index_shape, c->index);
    return tg_square(t, tg_embedding(t, in[0], i, c->padding));
}
static tg_tensor *f_embedding_backward(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    (void)n;
    const tg_index *i = tg_index_new(t, c->index_ndim, c->index_shape, c->index);
    return tg_square(t, tg_embedding_backward(t, in[0], i, c->num_weights, c->padding));
}

/* inputs: xg, w_hh, b_hh, h0 (and c0): all of them */
static tg_tensor *f_recurrence(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    (void)n;
    tg_tensor *y;
    if (c->mode == TG_RNN_LSTM) {
        tg_tensor *cn = NULL;
        tg_tensor *hs = tg_lstm_recurrence(t, in[0], in[1], in[2], in[3], in[4], c->bf, &cn);
        tg_tensor *parts[2] = {hs, cn ? tg_unsqueeze(t, cn, c->bf ? 1 : 0) : NULL};
        y = hs ? tg_cat(t, parts, 2, c->bf ? 1 : 0) : NULL;
    } else if (c->mode == TG_RNN_GRU) {
        y = tg_gru_recurrence(t, in[0], in[1], in[2], in[3], c->bf);
    } else {
        y = tg_rnn_recurrence(t, in[0], in[1], in[2], in[3], (tg_rnn_mode)c->mode, c->bf);
    }
    return joined(t, c, y, in[0]);
}

/* inputs: q, k, v, and the mask if the case has one */
static tg_tensor *f_sdpa(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    tg_tensor *y = tg_scaled_dot_product_attention(t, in[0], in[1], in[2], n > 3 ? in[3] : NULL,
                                                   (tg_mask_kind)c->mode, c->causal, 0);
    return joined(t, c, y, in[0]);
}

#define SH(...) {__VA_ARGS__}

static const fd_case cases[] = {
    /* the padding row's gradient is 0 by definition (PyTorch's), not the
       derivative: here it is not read, and the others must be right
       (tests/ops/test_golden_embedding.c checks the padding row) */
    {.name = "embedding_padding", .build = f_embedding, .n_in = 1, .ndim = {2},
     .shape = {SH(5, 3)}, .padding = 1, .index_ndim = 2, .index_shape = {2, 3},
     .index = {2, 4, 2, 0, 4, 4}},
    {.name = "embedding", .build = f_embedding, .n_in = 1, .ndim = {2}, .shape = {SH(4, 2)},
     .padding = TG_PADDING_IDX_NONE, .index_ndim = 1, .index_shape = {5},
     .index = {3, 3, 0, 1, 3}},
    {.name = "embedding_backward_padding", .build = f_embedding_backward, .n_in = 1,
     .ndim = {2}, .shape = {SH(4, 2)}, .padding = 0, .num_weights = 3, .index_ndim = 1,
     .index_shape = {4}, .index = {0, 2, 2, 1}},
    {.name = "rnn_tanh", .build = f_recurrence, .n_in = 4, .ndim = {3, 2, 1, 2},
     .shape = {SH(3, 2, 3), SH(3, 3), SH(3), SH(2, 3)}, .mode = TG_RNN_TANH},
    {.name = "rnn_relu_bf", .build = f_recurrence, .n_in = 4, .ndim = {3, 2, 1, 2},
     .shape = {SH(2, 3, 3), SH(3, 3), SH(3), SH(2, 3)}, .mode = TG_RNN_RELU, .bf = true},
    {.name = "lstm", .build = f_recurrence, .n_in = 5, .ndim = {3, 2, 1, 2, 2},
     .shape = {SH(3, 2, 12), SH(12, 3), SH(12), SH(2, 3), SH(2, 3)}, .mode = TG_RNN_LSTM},
    {.name = "lstm_bf_with_x", .build = f_recurrence, .n_in = 5, .ndim = {3, 2, 1, 2, 2},
     .shape = {SH(2, 3, 8), SH(8, 2), SH(8), SH(2, 2), SH(2, 2)}, .mode = TG_RNN_LSTM,
     .bf = true, .with_x = true},
    {.name = "gru", .build = f_recurrence, .n_in = 4, .ndim = {3, 2, 1, 2},
     .shape = {SH(3, 2, 9), SH(9, 3), SH(9), SH(2, 3)}, .mode = TG_RNN_GRU},
    {.name = "gru_bf_with_x", .build = f_recurrence, .n_in = 4, .ndim = {3, 2, 1, 2},
     .shape = {SH(2, 3, 6), SH(6, 2), SH(6), SH(2, 2)}, .mode = TG_RNN_GRU, .bf = true,
     .with_x = true},
    {.name = "sdpa", .build = f_sdpa, .n_in = 3, .ndim = {3, 3, 3},
     .shape = {SH(2, 3, 4), SH(2, 4, 4), SH(2, 4, 2)}},
    {.name = "sdpa_additive_mask", .build = f_sdpa, .n_in = 4, .ndim = {3, 3, 3, 2},
     .shape = {SH(2, 3, 2), SH(2, 4, 2), SH(2, 4, 3), SH(3, 4)}, .mode = TG_MASK_ADDITIVE},
    {.name = "sdpa_keep_mask", .build = f_sdpa, .n_in = 4, .ndim = {3, 3, 3, 2},
     .shape = {SH(2, 3, 2), SH(2, 4, 2), SH(2, 4, 3), SH(3, 4)}, .fill = {0, 0, 0, F_MASK},
     .mode = TG_MASK_KEEP},
    {.name = "sdpa_causal_with_x", .build = f_sdpa, .n_in = 3, .ndim = {4, 4, 4},
     .shape = {SH(1, 2, 3, 2), SH(1, 2, 3, 2), SH(1, 2, 3, 2)}, .causal = true,
     .with_x = true},
};

static uint64_t rng_state;
static double next_unit(void) /* [0, 1), splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

/* Signed values in [-1, 1) that require grad; masks of 0/1 (each row
   keeps its first key) that do not. */
static void make_inputs(tg_tape *t, const fd_case *c, tg_tensor **in)
{
    for (int k = 0; k < c->n_in; k++) {
        in[k] = tg_zeros(t, c->ndim[k], c->shape[k]);
        cr_assert(in[k], "%s", tg_tape_error(t));
        int64_t row = c->shape[k][c->ndim[k] - 1];
        for (int64_t i = 0; i < in[k]->size; i++) {
            double u = next_unit();
            in[k]->data[i] = (tg_real)(c->fill[k] == F_MASK ? (i % row == 0 || u < 0.6) : 2 * u - 1);
        }
        tg_requires_grad(in[k], c->fill[k] != F_MASK);
    }
}

ParameterizedTestParameters(fd_sequence, first)
{
    size_t n = sizeof cases / sizeof *cases;
    int *ids = cr_malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = (int)i;
    return cr_make_param_array(int, ids, n);
}

static void run(int id, bool second)
{
    const fd_case *c = &cases[id];
    rng_state = 20240801 + (uint64_t)id;
    tg_tape *t = tg_tape_new();
    tg_tensor *in[FD_MAX_IN];
    make_inputs(t, c, in);
    tg_gradcheck_result r = second ? tg_gradgradcheck(c->build, (void *)c, in, c->n_in, NULL)
                                   : tg_gradcheck(c->build, (void *)c, in, c->n_in, NULL);
    cr_expect_eq(r.status, TG_OK, "%s: the check could not run: %s", c->name, r.message);
    cr_expect(r.checked > 0, "%s: nothing checked", c->name);
    cr_expect(r.ok, "%s (%s, order %d): %s", c->name, tg_real_name(), second ? 2 : 1, r.message);
    tg_tape_free(t);
}

ParameterizedTest(int *id, fd_sequence, first) { run(*id, false); }

ParameterizedTestParameters(fd_sequence, second)
{
    size_t n = sizeof cases / sizeof *cases;
    int *ids = cr_malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = (int)i;
    return cr_make_param_array(int, ids, n);
}

ParameterizedTest(int *id, fd_sequence, second) { run(*id, true); }
