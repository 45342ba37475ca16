/* Every allocation on the tape fails in turn. Composed code (the layers,
   the recurrent and attention stacks, the composed losses, the Hessian-
   vector product and its kin) calls ops one after the other; when one of
   them runs out of memory, the code must stop with NULL or an error status,
   the tape's message saying what ran out, and not read the failed op's
   NULL or go on without the part that failed. test_failalloc fails the
   process's allocations (malloc), and reaches the tape only when its arena
   grows; here tg_tape_fail_alloc (src/core/internal.h) makes the n-th
   allocation on the tape fail whatever its size, for n = 1, 2, ... until a
   run makes fewer allocations than n.

   Each case computes a loss, its gradient with create_graph and a backward
   from the sum of that gradient's squares (a second derivative through
   every op), or calls the function under test. A run with a failure
   either fails (NULL or a status, the tape failed with "out of memory" in
   its message), or comes out with the values of the run without failure,
   bit for bit, and the tape not failed: a failure that an op made up for
   (scratch with a fallback) must leave no message behind. And no call
   under test (CALL) may return a result if the tape failed during it.

   It found the recurrent layers returning their output without the final
   states that failed, or going on from a zero state; the LSTM cell without
   its c'; slice leaving a message after doing without; and sums in double
   that fell back to float when their scratch failed (other bits). With
   their fixes undone it also catches the reads and skips fixed by reading
   before it existed (the recurrent states, multi-head attention's
   projections and bias, tg_hvp's and tg_gradgradcheck's sums). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad.h>

#include "core/internal.h" /* tg_tape_fail_alloc */

enum { MAXV = 1 << 14, MAX_RUNS = 200000 };

/* the values a run produced, in order */
typedef struct {
    tg_real v[MAXV];
    int n;
} vals;

static bool put(vals *o, const tg_real *v, int64_t n)
{
    if (!v) return false;
    cr_assert_leq(o->n + n, MAXV, "the test's buffer is too small");
    memcpy(o->v + o->n, v, (size_t)n * sizeof *v);
    o->n += (int)n;
    return true;
}
static bool put_tensor(vals *o, const tg_tensor *x) { return x && put(o, x->data, x->size); }
static bool put_index(vals *o, const tg_index *x)
{
    if (!x) return false;
    cr_assert_leq(o->n + x->size, MAXV, "the test's buffer is too small");
    for (int64_t i = 0; i < x->size; i++) o->v[o->n++] = (tg_real)x->data[i];
    return true;
}

/* a leaf of shape (ndim, shape), values from a fixed sequence */
static tg_tensor *leaf(tg_tape *t, int ndim, const int64_t *shape, int seed, bool grad)
{
    int64_t n = tg_numel(ndim, shape);
    tg_real buf[4096];
    cr_assert_leq(n, 4096);
    for (int64_t i = 0; i < n; i++)
        buf[i] = (tg_real)(((i * 37 + seed * 11) % 23) - 11) / 8;
    tg_tensor *x = tg_tensor_new(t, ndim, shape, buf);
    return grad ? tg_requires_grad(x, true) : x;
}
#define LEAF(t, seed, grad, ...)                                                                  \
    leaf(t, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}, \
         seed, grad)

/* The first call of a run that gave a result (a tensor, TG_OK) although
   the tape failed during it: it went on without the part that failed. A
   NULL read would crash instead. The calls under test go through CALL. */
static char violation[256];

static void check_call(bool before, bool after, bool result, const char *what, int line)
{
    if (!before && after && result && !violation[0])
        snprintf(violation, sizeof violation, "line %d: %s", line, what);
}
#define CALL_AS(type, ok, t, expr)                                                 \
    __extension__({                                                                \
        bool before_ = tg_tape_failed(t);                                          \
        type r_ = (expr);                                                          \
        check_call(before_, tg_tape_failed(t), (ok), #expr, __LINE__);             \
        r_;                                                                        \
    })
#define CALL(t, expr) CALL_AS(tg_tensor *, r_ != NULL, t, expr)  /* a tensor or NULL */
#define CALL_ST(t, expr) CALL_AS(int, r_ == TG_OK, t, expr)     /* a status */

/* loss, its gradient g with respect to x (create_graph), then a backward
   from Σ g²: the loss, g, x's gradient and every parameter's gradient */
static bool second_order(tg_tape *t, tg_params *p, tg_tensor *loss, tg_tensor *x, vals *o)
{
    if (!loss || !x) return false;
    tg_tensor *g = CALL(t, tg_grad1(t, loss, x, true));
    if (!g) return false;
    tg_tensor *s = tg_sum(t, tg_square(t, g), TG_ALL, false);
    if (!s || CALL_ST(t, tg_backward(t, s)) != TG_OK) return false;
    put_tensor(o, loss);
    put_tensor(o, g);
    if (!put(o, x->grad, x->size)) return false;
    return !p || put(o, tg_params_grad(p), tg_params_numel(p));
}

/* ------------------------------------------------------------- the cases */

typedef struct {
    tg_params *p;
    tg_recurrent lstm, gru;
    tg_recurrent_cell cell;
    tg_multihead_attention mha, mha2;
    tg_conv_layer conv;
    tg_batchnorm bn;
    tg_linear_layer fc;
    tg_layernorm ln;
    tg_groupnorm gn;
    tg_rmsnorm rms;
    tg_embedding_layer emb;
    tg_mlp mlp;
} model;

typedef bool (*case_fn)(tg_tape *t, model *m, vals *o);

static tg_tensor *sum_of(tg_tape *t, tg_tensor *x) { return tg_sum(t, x, TG_ALL, false); }

/* an LSTM on a batch (batch_first) with h0 and c0, a GRU on one unbatched
   sequence with h0: two layers each */
static bool recurrent_case(tg_tape *t, model *m, vals *o, const tg_recurrent *rec, bool with_c)
{
    tg_tensor *x, *h0, *c0 = NULL;
    if (with_c) { /* x [N 3, T 2, 3], the states [2, N, 4] */
        x = LEAF(t, 1, true, 3, 2, 3);
        h0 = LEAF(t, 2, true, 2, 3, 4), c0 = LEAF(t, 3, true, 2, 3, 4);
    } else { /* x [T 2, 3], h0 [2, 4] */
        x = LEAF(t, 1, true, 2, 3);
        h0 = LEAF(t, 2, true, 2, 4);
    }
    tg_tensor *hn = NULL, *cn = NULL;
    tg_tensor *y = CALL(t, tg_recurrent_forward(t, rec, x, h0, c0, &hn, with_c ? &cn : NULL));
    if (!y) return false;
    tg_tensor *l = tg_add(t, sum_of(t, tg_mul(t, y, y)), sum_of(t, tg_tanh(t, hn)));
    if (with_c) l = tg_add(t, l, sum_of(t, tg_square(t, cn)));
    return second_order(t, m->p, l, h0, o) && put(o, x->grad, x->size);
}
static bool lstm_case(tg_tape *t, model *m, vals *o)
{
    return recurrent_case(t, m, o, &m->lstm, true);
}
static bool gru_case(tg_tape *t, model *m, vals *o)
{
    return recurrent_case(t, m, o, &m->gru, false);
}

/* unbatched: x [3], h and c [4] */
static bool lstm_cell_case(tg_tape *t, model *m, vals *o)
{
    tg_tensor *x = LEAF(t, 1, true, 3), *h = LEAF(t, 2, true, 4), *c = LEAF(t, 3, true, 4);
    tg_tensor *c1 = NULL;
    tg_tensor *h1 = CALL(t, tg_recurrent_cell_forward(t, &m->cell, x, h, c, &c1));
    if (!h1) return false;
    tg_tensor *l = tg_add(t, sum_of(t, tg_square(t, h1)), sum_of(t, tg_square(t, c1)));
    return second_order(t, m->p, l, x, o);
}

/* self-attention with a padding mask and causality, batch_first */
static bool mha_self_case(tg_tape *t, model *m, vals *o)
{
    tg_tensor *x = LEAF(t, 1, true, 2, 3, 8);
    tg_real hide[6] = {0, 0, 1, 0, 0, 0};
    tg_tensor *mask = tg_tensor_new(t, 2, (int64_t[]){2, 3}, hide);
    tg_mha_opts opts = {.key_padding_mask = mask, .key_padding_kind = TG_MASK_HIDE,
                        .is_causal = true};
    tg_tensor *y = CALL(t, tg_multihead_attention_forward(t, &m->mha, x, x, x, &opts));
    return second_order(t, m->p, sum_of(t, tg_square(t, y)), x, o);
}

/* unbatched cross-attention with an additive mask: q, k and v projected apart */
static bool mha_cross_case(tg_tape *t, model *m, vals *o)
{
    tg_tensor *q = LEAF(t, 1, true, 3, 8), *kv = LEAF(t, 2, true, 4, 8);
    tg_tensor *v = LEAF(t, 3, false, 4, 8);
    tg_tensor *am = LEAF(t, 4, false, 3, 4);
    tg_mha_opts opts = {.attn_mask = am, .attn_mask_kind = TG_MASK_ADDITIVE};
    tg_tensor *y = CALL(t, tg_multihead_attention_forward(t, &m->mha2, q, kv, v, &opts));
    return second_order(t, m->p, sum_of(t, tg_square(t, y)), kv, o) && put(o, q->grad, q->size);
}

/* conv (stride, padding) -> batch norm (training) -> relu -> max pool ->
   linear -> cross entropy */
static bool cnn_case(tg_tape *t, model *m, vals *o)
{
    tg_tensor *x = LEAF(t, 1, true, 2, 2, 6, 6);
    tg_tensor *y = CALL(t, tg_conv_layer_forward(t, &m->conv, x));
    y = tg_relu(t, CALL(t, tg_batchnorm_forward(t, &m->bn, y)));
    tg_pool_opts po = tg_pool_defaults(2, 2);
    y = tg_flatten(t, CALL(t, tg_max_pool2d(t, y, &po)));
    y = CALL(t, tg_linear_layer_forward(t, &m->fc, y));
    static const int64_t target[2] = {1, 2};
    tg_tensor *l = CALL(t, tg_cross_entropy(t, y, target, TG_REDUCE_MEAN));
    return second_order(t, m->p, l, x, o);
}

static bool norms_case(tg_tape *t, model *m, vals *o)
{
    tg_tensor *x = LEAF(t, 1, true, 2, 4, 3);
    tg_tensor *y = CALL(t, tg_layernorm_forward(t, &m->ln, x));
    y = CALL(t, tg_groupnorm_forward(t, &m->gn, y));
    y = CALL(t, tg_rmsnorm_forward(t, &m->rms, tg_mul(t, y, x)));
    return second_order(t, m->p, sum_of(t, tg_mul(t, tg_tanh(t, y), x)), x, o);
}

/* embedding -> causal attention -> MLP */
static bool embed_attention_case(tg_tape *t, model *m, vals *o)
{
    static const int64_t ids[6] = {0, 3, 1, 1, 4, 2};
    tg_index *ix = tg_index_new(t, 2, (int64_t[]){2, 3}, ids);
    tg_tensor *e = CALL(t, tg_embedding_layer_forward(t, &m->emb, ix));
    tg_tensor *s = LEAF(t, 1, true, 2, 3, 4);
    tg_tensor *q = tg_add(t, e, s);
    tg_tensor *a =
        CALL(t, tg_scaled_dot_product_attention(t, q, q, e, NULL, TG_MASK_ADDITIVE, true, 0));
    tg_tensor *y = CALL(t, tg_mlp_forward(t, &m->mlp, tg_reshape(t, a, TG_SHAPE(6, 4))));
    return second_order(t, m->p, sum_of(t, tg_square(t, y)), s, o);
}

/* the losses composed of several ops */
static bool losses_case(tg_tape *t, model *m, vals *o)
{
    (void)m;
    tg_tensor *a = LEAF(t, 1, true, 3, 4), *b = LEAF(t, 2, true, 3, 4), *c = LEAF(t, 3, true, 3, 4);
    tg_real sg[3] = {1, -1, 1};
    tg_tensor *y = tg_tensor_new(t, 1, (int64_t[]){3}, sg);
    tg_tensor *pos = tg_exp(t, c);
    static const int64_t cls[3] = {0, 3, 2};
    tg_index *k = tg_index_new(t, 1, (int64_t[]){3}, cls);
    tg_tensor *sign = tg_sign(t, LEAF(t, 4, false, 3, 4));
    tg_tensor *la = tg_log_softmax(t, a, 1), *pb = tg_softmax(t, b, 1);
    tg_tensor *parts[] = {
        CALL(t, tg_triplet_margin_loss(t, a, b, c, 1, 2, 1e-6f, true, TG_REDUCE_MEAN)),
        CALL(t, tg_cosine_embedding_loss(t, a, b, y, 0.1f, TG_REDUCE_SUM)),
        CALL(t, tg_margin_ranking_loss(t, a, b, sign, 0.2f, TG_REDUCE_MEAN)),
        CALL(t, tg_kl_div(t, la, pb, TG_REDUCE_BATCHMEAN, false)),
        CALL(t, tg_gaussian_nll_loss(t, a, b, pos, true, 1e-6f, TG_REDUCE_MEAN)),
        CALL(t, tg_poisson_nll_loss(t, a, pos, true, true, 1e-8f, TG_REDUCE_MEAN)),
        CALL(t, tg_multi_margin_loss(t, a, k, 2, 1, NULL, TG_REDUCE_MEAN)),
        CALL(t, tg_huber_loss(t, a, b, 0.5f, TG_REDUCE_MEAN)),
    };
    tg_tensor *l = NULL;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        l = i ? tg_add(t, l, parts[i]) : parts[i];
    return second_order(t, NULL, l, a, o) && put(o, b->grad, b->size) &&
           put(o, c->grad, c->size);
}

/* ops that return more than one result, or build their result from
   several: split, max with its indices, take_along_dim, einsum, pad,
   cat and stack, the index sums, where, the transposed convolution and
   the pools */
static bool language_case(tg_tape *t, model *m, vals *o)
{
    (void)m;
    tg_tensor *x = LEAF(t, 1, true, 2, 3, 4, 5), *w = LEAF(t, 2, true, 3, 2, 2, 2);
    tg_tensor *pc[4] = {NULL};
    if (CALL_AS(int, r_ >= 0, t, tg_split_chunks(t, x, 2, 3, pc, 4)) != 2) return false;
    tg_index *ix = NULL;
    tg_tensor *mx = CALL(t, tg_max_dim(t, x, 2, true, &ix));
    tg_tensor *tk = CALL(t, tg_take_along_dim(t, x, ix, 2));
    tg_tensor *e = CALL(t, tg_einsum(t, "bcij,bckj->bik", 2, (tg_tensor *[]){pc[0], pc[0]}));
    static const int64_t pads[4] = {1, 2, 2, 1};
    tg_tensor *pd = CALL(t, tg_pad(t, pc[0], 4, pads, TG_PAD_REFLECT, 0));
    tg_tensor *ct = CALL(t, tg_cat(t, (tg_tensor *[]){mx, tk}, 2, 2));
    tg_tensor *st = CALL(t, tg_stack(t, (tg_tensor *[]){e, e}, 2, 1));
    static const int64_t rows[5] = {2, 0, 2, 1, 2};
    tg_index *ri = tg_index_new(t, 1, (int64_t[]){5}, rows);
    tg_tensor *ia = CALL(t, tg_index_add(t, pc[0], 3, ri, tg_scale(t, x, 0.5f)));
    tg_tensor *wh = CALL(t, tg_where(t, tg_gt(t, x, tg_scalar(t, 0)), x, tg_square(t, x)));
    tg_conv_opts co = {.stride = {2, 2}, .padding = {1, 0}, .output_padding = {1, 0}};
    tg_tensor *tc = CALL(t, tg_conv_transpose2d(t, pd, w, NULL, &co));
    tg_index *pi = NULL;
    tg_pool_opts po = tg_pool_defaults(2, 2);
    po.ceil_mode = true;
    tg_tensor *mp = CALL(t, tg_max_pool2d_with_indices(t, tc, &po, &pi));
    tg_tensor *ap = CALL(t, tg_adaptive_avg_pool2d(t, wh, 3, 2));
    tg_tensor *terms[] = {ct, st, ia, mp, ap, tg_logsumexp(t, x, 3, false),
                          tg_cumsum(t, tg_norm(t, x, 1.5, 1, false), 1)};
    tg_tensor *l = NULL;
    for (size_t i = 0; i < sizeof terms / sizeof *terms; i++)
        l = i ? tg_add(t, l, sum_of(t, tg_square(t, terms[i]))) : sum_of(t, terms[i]);
    return second_order(t, NULL, l, x, o) && put(o, w->grad, w->size) && put_index(o, ix) &&
           put_index(o, pi);
}

/* tg_hvp, tg_jvp, tg_jacobian and tg_hessian of a small network */
static tg_tensor *network(tg_tape *t, tg_tensor *x, tg_tensor *w)
{
    return sum_of(t, tg_tanh(t, tg_matmul(t, tg_sigmoid(t, tg_matmul(t, x, w)), w)));
}
static bool higher_case(tg_tape *t, model *m, vals *o)
{
    (void)m;
    tg_tensor *x = LEAF(t, 1, true, 2, 3), *w = LEAF(t, 2, true, 3, 3);
    tg_tensor *vx = LEAF(t, 3, false, 2, 3), *vw = LEAF(t, 4, false, 3, 3);
    tg_tensor *y = network(t, x, w);
    tg_tensor *hv[2] = {NULL, NULL}, *jv[1] = {NULL}, *J[2] = {NULL, NULL}, *H[4] = {NULL};
    tg_tensor *in[2] = {x, w}, *v[2] = {vx, vw};
    if (!y || CALL_ST(t, tg_hvp(t, y, 2, in, v, hv, NULL)) != TG_OK) return false;
    tg_tensor *z = tg_sigmoid(t, tg_matmul(t, x, w));
    if (CALL_ST(t, tg_jvp(t, z, 2, in, v, jv, NULL)) != TG_OK) return false;
    if (CALL_ST(t, tg_jacobian(t, z, 2, in, J, NULL)) != TG_OK) return false;
    if (CALL_ST(t, tg_hessian(t, y, 2, in, H, NULL)) != TG_OK) return false;
    bool ok = put_tensor(o, y) && put_tensor(o, hv[0]) && put_tensor(o, hv[1]) &&
              put_tensor(o, jv[0]) && put_tensor(o, J[0]) && put_tensor(o, J[1]);
    for (int i = 0; i < 4 && ok; i++) ok = put_tensor(o, H[i]);
    return ok;
}

/* ------------------------------------------------------------ the driver */

static void model_init(model *m)
{
    memset(m, 0, sizeof *m);
    m->p = tg_params_new();
    cr_assert_not_null(m->p);
    tg_rng r;
    tg_rng_seed(&r, 7);
    tg_rnn_opts ro = tg_rnn_defaults();
    ro.num_layers = 2;
    ro.batch_first = true; /* for the GRU's unbatched sequence, no matter */
    tg_conv_opts co = {.padding = {1, 1}};
    static const int64_t ln_shape[2] = {4, 3}, rms_shape[1] = {3}, sizes[3] = {4, 5, 3};
    int st[] = {
        tg_recurrent_init(&m->lstm, m->p, "lstm", TG_RNN_LSTM, 3, 4, &ro, &r),
        tg_recurrent_init(&m->gru, m->p, "gru", TG_RNN_GRU, 3, 4, &ro, &r),
        tg_recurrent_cell_init(&m->cell, m->p, "cell", TG_RNN_LSTM, 3, 4, true, &r),
        tg_multihead_attention_init(&m->mha, m->p, "mha", 8, 2, true, true, &r),
        tg_multihead_attention_init(&m->mha2, m->p, "mha2", 8, 2, true, false, &r),
        tg_conv2d_layer_init(&m->conv, m->p, "conv", 2, 3, 3, 3, &co, true, &r),
        tg_batchnorm2d_init(&m->bn, m->p, "bn", 3, NULL),
        tg_linear_layer_init(&m->fc, m->p, "fc", 27, 4, true, &r),
        tg_layernorm_init(&m->ln, m->p, "ln", 2, ln_shape, true, 1e-5),
        tg_groupnorm_init(&m->gn, m->p, "gn", 2, 4, true, 1e-5),
        tg_rmsnorm_init(&m->rms, m->p, "rms", 1, rms_shape, true, 1e-6),
        tg_embedding_layer_init(&m->emb, m->p, "emb", 5, 4, -1, &r),
        tg_mlp_init(&m->mlp, m->p, "mlp", 3, sizes, tg_tanh, &r),
    };
    for (size_t i = 0; i < sizeof st / sizeof *st; i++)
        cr_assert_eq(st[i], TG_OK, "layer %zu: %s", i, tg_last_error());
    /* weights not all alike: the layers' biases and norms' scales start
       at 0 and 1 */
    tg_real *w = tg_params_data(m->p);
    for (int64_t i = 0; i < tg_params_numel(m->p); i++) w[i] += (tg_real)((i * 7 % 13) - 6) / 64;
}

/* One run of case f on a new tape, its n-th allocation on the tape failing
   (n = 0: none). Returns whether it succeeded; *hit whether the failure
   happened; *failed and msg the tape's state. */
static bool run(case_fn f, model *m, int64_t n, vals *o, bool *hit, bool *failed, char *msg,
                size_t len)
{
    tg_tape *t = tg_tape_new();
    cr_assert_not_null(t);
    tg_params_zero_grad(m->p);
    o->n = 0;
    violation[0] = '\0';
    tg_tape_fail_alloc(t, n, hit);
    bool ok = f(t, m, o);
    cr_expect(!violation[0], "allocation %lld failed, and a call gave a result: %s",
              (long long)n, violation);
    *failed = tg_tape_failed(t);
    snprintf(msg, len, "%s", tg_tape_error(t));
    tg_tape_free(t);
    return ok;
}

static void fail_each_allocation(const char *name, case_fn f)
{
    model m;
    model_init(&m);
    vals *want = malloc(sizeof *want), *got = malloc(sizeof *got);
    cr_assert(want && got);
    char msg[512];
    bool hit, failed;
    cr_assert(run(f, &m, 0, want, &hit, &failed, msg, sizeof msg), "%s: %s", name, msg);
    cr_assert(!failed && want->n > 0, "%s", name);
    int64_t n = 1;
    for (;; n++) {
        cr_assert_lt(n, MAX_RUNS, "%s", name);
        bool ok = run(f, &m, n, got, &hit, &failed, msg, sizeof msg);
        if (!hit) {
            cr_assert(ok, "%s, without a failure: %s", name, msg);
            break;
        }
        if (!ok) { /* stopped, and said why */
            cr_expect(failed && strstr(msg, "out of memory"),
                      "%s, allocation %lld failed: the run stopped with \"%s\"", name,
                      (long long)n, msg);
            continue;
        }
        /* or made up for it: the same values, and no failure left behind */
        cr_expect(!failed, "%s, allocation %lld failed: a result, and the message \"%s\"",
                  name, (long long)n, msg);
        int bad = got->n == want->n ? -1 : 0;
        for (int i = 0; i < want->n && bad < 0; i++)
            if (memcmp(&got->v[i], &want->v[i], sizeof got->v[i]))
                bad = i;
        cr_expect(bad < 0, "%s, allocation %lld failed: %d values, value %d is %g, not %g",
                  name, (long long)n, got->n, bad, bad < 0 ? 0.0 : (double)got->v[bad],
                  bad < 0 ? 0.0 : (double)want->v[bad]);
    }
    cr_expect_gt(n, 10, "%s made only %lld allocations on the tape", name, (long long)n - 1);
    free(want), free(got);
    tg_params_free(m.p);
}

/* ------------------------------------------------------------- replay */

/* A small network on a replayable tape: a CNN's layers, broadcast ops
   (their gradients gathered in double scratch), a scatter and a loss. */
static tg_tensor *replay_net(tg_tape *t, model *m, tg_tensor *x, tg_tensor *v)
{
    tg_tensor *y = tg_conv_layer_forward(t, &m->conv, x);
    y = tg_relu(t, tg_batchnorm_forward(t, &m->bn, y)); /* [2, 3, 6, 6] */
    y = tg_mul(t, y, tg_sigmoid(t, v));                 /* v [3, 1, 6] broadcast */
    tg_pool_opts po = tg_pool_defaults(2, 2);
    y = tg_linear_layer_forward(t, &m->fc, tg_flatten(t, tg_max_pool2d(t, y, &po)));
    static const int64_t target[2] = {3, 0}, rows[4] = {1, 0, 1, 1};
    tg_index *ix = tg_index_new(t, 1, (int64_t[]){4}, rows);
    tg_tensor *s = tg_index_add(t, tg_zeros(t, TG_SHAPE(2, 4)), 0, ix, tg_tanh(t, tg_cat(t,
                                (tg_tensor *[]){y, y}, 2, 0)));
    return tg_add(t, tg_cross_entropy(t, y, target, TG_REDUCE_MEAN),
                  tg_sum(t, tg_square(t, s), TG_ALL, false));
}

/* replay + backward: its loss, x's, v's and the parameters' gradients */
static int replay_step(tg_tape *t, model *m, tg_tensor *loss, tg_tensor *x, tg_tensor *v,
                       vals *o)
{
    tg_params_zero_grad(m->p);
    o->n = 0;
    int st = tg_tape_replay(t);
    if (st == TG_OK) st = tg_backward(t, loss);
    if (st == TG_OK) {
        put_tensor(o, loss);
        put(o, x->grad, x->size);
        put(o, v->grad, v->size);
        put(o, tg_params_grad(m->p), tg_params_numel(m->p));
    }
    return st;
}

static bool same_vals(const vals *a, const vals *b)
{
    return a->n == b->n && !memcmp(a->v, b->v, (size_t)a->n * sizeof *a->v);
}

/* The n-th allocation on the tape from replay `which` (0: the first, which
   also builds the replay program; 1: a later one) fails: the replay and
   backward give TG_OK and the values of a run without failure, or an error
   with "out of memory" in the message; and the replay after it, without a
   failure, gives those values again (a failed replay leaves nothing
   half-done). */
Test(tape_oom, a_replay_that_runs_out_of_memory_can_be_replayed_again)
{
    model m;
    model_init(&m);
    vals *want = malloc(sizeof *want), *got = malloc(sizeof *got);
    cr_assert(want && got);
    for (int which = 0; which < 2; which++) {
        int64_t n = 0;
        for (;; n++) {
            cr_assert_lt(n, MAX_RUNS);
            tg_tape *t = tg_tape_new();
            tg_tape_set_replayable(t, true);
            tg_tensor *x = LEAF(t, 1, true, 2, 2, 6, 6), *v = LEAF(t, 2, true, 3, 1, 6);
            tg_tensor *loss = replay_net(t, &m, x, v);
            cr_assert_not_null(loss, "%s", tg_tape_error(t));
            cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
            if (which) cr_assert_eq(replay_step(t, &m, loss, x, v, got), TG_OK);
            bool hit = false;
            tg_tape_fail_alloc(t, n, &hit);
            int st = replay_step(t, &m, loss, x, v, got);
            tg_tape_fail_alloc(t, 0, NULL);
            if (n == 0) {
                cr_assert_eq(st, TG_OK, "%s", tg_tape_error(t));
                *want = *got;
            } else if (st == TG_OK) {
                cr_expect(same_vals(got, want), "replay %d, allocation %lld failed: other values",
                          which, (long long)n);
            } else {
                cr_expect(hit && strstr(tg_tape_error(t), "out of memory"),
                          "replay %d, allocation %lld: status %d, \"%s\"", which, (long long)n,
                          st, tg_tape_error(t));
                tg_tape_clear_error(t);
            }
            int again = replay_step(t, &m, loss, x, v, got);
            cr_expect(again == TG_OK && same_vals(got, want),
                      "replay %d, after allocation %lld failed: the next replay gives %s", which,
                      (long long)n, again == TG_OK ? "other values" : tg_tape_error(t));
            tg_tape_free(t);
            if (n > 0 && !hit) break;
        }
        /* the double scratch of the broadcast gradients (and, in float, of
           index_add's repeated rows): replay reuses the rest */
        cr_expect_gt(n, 1, "replay %d made no allocation", which);
    }
    free(want), free(got);
    tg_params_free(m.p);
}

/* tg_gradgradcheck records fn and its gradient on a tape of its own and
   sums its vjp's terms there: fn arms that tape the first time it runs. A
   failure must make the check refuse (a status, "out of memory" in the
   message), never give a verdict from a sum without a term. */
typedef struct {
    int64_t n;
    bool armed, hit;
} ggc_arm;

static tg_tensor *ggc_fn(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    ggc_arm *a = ctx;
    if (!a->armed) {
        a->armed = true;
        tg_tape_fail_alloc(t, a->n, &a->hit);
    }
    tg_tensor *y = tg_mul(t, tg_tanh(t, in[0]), tg_sigmoid(t, tg_matmul(t, in[0], in[1])));
    return tg_sum(t, tg_square(t, y), TG_ALL, false);
}

Test(tape_oom, gradgradcheck_refuses)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *in[2] = {LEAF(t, 1, true, 3, 3), LEAF(t, 2, true, 3, 3)};
    tg_gradcheck_opts opts = tg_gradcheck_defaults();
    ggc_arm a = {.n = 0};
    tg_gradcheck_result r0 = tg_gradgradcheck(ggc_fn, &a, in, 2, &opts);
    cr_assert_eq(r0.status, TG_OK, "%s", r0.message);
    int64_t n = 1;
    for (;; n++) {
        cr_assert_lt(n, MAX_RUNS);
        a = (ggc_arm){.n = n};
        tg_gradcheck_result r = tg_gradgradcheck(ggc_fn, &a, in, 2, &opts);
        if (!a.hit) {
            cr_expect(r.status == r0.status && r.ok == r0.ok && r.failed == r0.failed,
                      "without a failure: %s", r.message);
            break;
        }
        /* refused, or (a failure made up for) the verdict without failure */
        bool refused = r.status != TG_OK && strstr(r.message, "out of memory");
        bool same = r.status == TG_OK && r.ok == r0.ok && r.failed == r0.failed &&
                    r.abs_err == r0.abs_err && r.worst_index == r0.worst_index;
        cr_expect(refused || same, "allocation %lld failed: status %d, \"%s\"", (long long)n,
                  r.status, r.message);
    }
    cr_expect_gt(n, 10, "only %lld allocations", (long long)n - 1);
    tg_tape_free(t);
}

Test(tape_oom, lstm_with_initial_states) { fail_each_allocation("lstm", lstm_case); }
Test(tape_oom, unbatched_gru_with_an_initial_state) { fail_each_allocation("gru", gru_case); }
Test(tape_oom, unbatched_lstm_cell) { fail_each_allocation("lstm cell", lstm_cell_case); }
Test(tape_oom, self_attention_masked) { fail_each_allocation("mha self", mha_self_case); }
Test(tape_oom, cross_attention_unbatched) { fail_each_allocation("mha cross", mha_cross_case); }
Test(tape_oom, cnn) { fail_each_allocation("cnn", cnn_case); }
Test(tape_oom, norms) { fail_each_allocation("norms", norms_case); }
Test(tape_oom, embedding_and_attention) { fail_each_allocation("embedding", embed_attention_case); }
Test(tape_oom, ops_of_several_results) { fail_each_allocation("language", language_case); }
Test(tape_oom, composed_losses) { fail_each_allocation("losses", losses_case); }
Test(tape_oom, hvp_jvp_jacobian_hessian) { fail_each_allocation("higher", higher_case); }
