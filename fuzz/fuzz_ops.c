/* libFuzzer target: the ops on arbitrary arguments. The input is a small
   program: a few leaves (0 to 4 dimensions of 0 to 4, or of 2^40 beside
   a 0; values from the bytes, NaN, ±inf and ±0 among them), then ops
   drawn from the bytes, each on tensors of the pool and with arguments
   from the bytes: mostly small (axes, indices and sizes from −2 to 5),
   sometimes hostile (±2⁶³, ±2³¹, ±2⁴⁰, ±1000). Then a backward from the
   sum of the last result that needs a gradient, a second-order gradient,
   and a replay of the tape when it was recorded replayable.

   Whatever the input, each op returns a tensor whose size is the product
   of its shape, every value of which is read (ASan checks the memory), or
   NULL with a message on the tape that names the op (it starts with "tg_",
   an allocation that fails too), never a result with the tape failed; the
   tape then goes on after tg_tape_clear_error. In one input in four, one
   allocation on the tape fails (tg_tape_fail_alloc: the n-th after the
   leaves, n from the first byte), so that every op's and rule's answer to
   running out of memory at any point is fuzzed, not only large ones. A
   backward or replay returns TG_OK or a status with a message. No crash,
   leak or undefined behaviour (ASan + UBSan). */
#include <tapegrad.h>

#include "core/internal.h" /* tg_tape_fail_alloc */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);

/* Hostile sizes ask for tensors of gigabytes: ASan refuses any allocation
   over 32 MiB with NULL (rather than ending the run), so that the
   library's answer to running out of memory, a message and NULL, is
   fuzzed too. (At 256 MiB an input of two dozen ops on tensors of 24
   million values took 11 s under ASan, past the runs' 10-second limit.) */
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1:max_allocation_size_mb=32";
}

typedef struct {
    const uint8_t *p;
    size_t n;
} reader;

static unsigned u8(reader *r)
{
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}

/* an integer argument: mostly −2..5, one in eight hostile */
static int64_t arg(reader *r)
{
    static const int64_t hostile[8] = {INT64_MIN, INT64_MAX, INT32_MIN, INT32_MAX,
                                       (int64_t)1 << 40, -((int64_t)1 << 40), 1000, -1000};
    unsigned b = u8(r);
    return (b >> 5) == 7 ? hostile[b & 7] : (int64_t)(b & 7) - 2;
}

static int iarg(reader *r) { return (int)arg(r); } /* a hostile one wraps: still hostile */

/* a value: mostly small, sometimes a special one */
static tg_real value(reader *r)
{
    static const double special[8] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1e30, -1e-30, 1e-40};
    unsigned b = u8(r);
    return (b >> 4) == 15 ? (tg_real)special[b & 7] : (tg_real)((int)b - 120) / 16;
}

enum { POOL = 16 };

typedef struct {
    tg_tape *t;
    tg_tensor *x[POOL];
    int n;    /* in use, at most POOL */
    int next; /* once full, the slot a new result takes (the first leaf stays) */
    bool replayable;
    tg_rng rng; /* dropout's */
} machine;

static void keep(machine *m, tg_tensor *y)
{
    if (m->n < POOL) {
        m->x[m->n++] = y;
        return;
    }
    m->x[1 + m->next] = y;
    m->next = (m->next + 1) % (POOL - 1);
}

static tg_tensor *pick(machine *m, reader *r) { return m->x[u8(r) % (unsigned)m->n]; }

/* A result's invariants: NULL with a message that names an op, or a tensor
   whose size is its shape's product, every value readable. */
static void check(machine *m, tg_tensor *y)
{
    if (!y) {
        const char *e = tg_tape_error(m->t);
        /* a failure without a message, or one that names no op */
        if (!tg_tape_failed(m->t) || !e || strncmp(e, "tg_", 3) != 0) abort();
        tg_tape_clear_error(m->t);
        return;
    }
    if (tg_tape_failed(m->t)) abort(); /* a result from a call that failed */
    if (y->ndim < 0 || y->ndim > TG_MAX_DIMS) abort();
    int64_t n = 1;
    for (int i = 0; i < y->ndim; i++) {
        if (y->shape[i] < 0) abort();
        n *= y->shape[i];
    }
    if (n != y->size || (n > 0 && !y->data)) abort();
    volatile tg_real s = 0;
    for (int64_t i = 0; i < n; i++) s += y->data[i];
    (void)s;
    keep(m, y);
}

/* a leaf of 0 to 4 dimensions of 0 to 4; one of 2^40 now and then when
   another is 0 (it holds nothing: ops must not loop over its rows) */
static tg_tensor *leaf(machine *m, reader *r)
{
    int64_t shape[4];
    int nd = (int)(u8(r) % 5);
    bool huge = false, empty = false;
    for (int i = 0; i < nd; i++) {
        unsigned b = u8(r);
        bool h = b >= 0xF0 && !huge; /* one at most: [2^40, 2^40, 0] is refused */
        shape[i] = h ? (int64_t)1 << 40 : b % 5;
        huge |= h;
        empty |= shape[i] == 0;
    }
    int64_t n = 1;
    for (int i = 0; i < nd; i++) {
        if (huge && !empty && shape[i] > 4) shape[i] = 4;
        n *= shape[i];
    }
    tg_real v[256];
    for (int64_t i = 0; i < n; i++) v[i] = value(r);
    tg_tensor *x = tg_tensor_new(m->t, nd, shape, v);
    return x && (u8(r) & 1) ? tg_requires_grad(x, true) : x;
}

/* an index tensor of 0 to 4 entries on the tape (hostile ones included) */
static tg_index *index_of(machine *m, reader *r)
{
    int64_t k = u8(r) % 5, v[4];
    for (int64_t i = 0; i < k; i++) v[i] = arg(r);
    return tg_index_new(m->t, 1, &k, v);
}

/* the same shape as x's, with some entries changed, for expand, reshape
   and the like */
static int shape_arg(reader *r, const tg_tensor *x, int64_t *shape)
{
    int nd = (int)(u8(r) % 6);
    for (int i = 0; i < nd; i++) shape[i] = i < x->ndim && (u8(r) & 3) ? x->shape[i] : arg(r);
    return nd;
}

static tg_tensor *unary(machine *m, reader *r, unsigned op)
{
    tg_tape *t = m->t;
    tg_tensor *x = pick(m, r);
    switch (op % 40) {
    case 0: return tg_exp(t, x);
    case 1: return tg_log(t, x);
    case 2: return tg_sqrt(t, x);
    case 3: return tg_pow(t, x, value(r));
    case 4: return tg_sigmoid(t, x);
    case 5: return tg_tanh(t, x);
    case 6: return tg_softplus(t, x, value(r), value(r));
    case 7: return tg_gelu(t, x, (tg_gelu_approx)(u8(r) % 3));
    case 8: return tg_softmax(t, x, iarg(r));
    case 9: return tg_log_softmax(t, x, iarg(r));
    case 10: return tg_glu(t, x, iarg(r));
    case 11: return tg_logit(t, x, value(r));
    case 12: return tg_erfinv(t, x);
    case 13: return tg_clamp(t, x, value(r), value(r));
    case 14: return tg_sum(t, x, iarg(r), u8(r) & 1);
    case 15: return tg_mean(t, x, iarg(r), u8(r) & 1);
    case 16: return tg_max(t, x, iarg(r), u8(r) & 1);
    case 17: return tg_amin(t, x, iarg(r), u8(r) & 1);
    case 18: return tg_prod(t, x, iarg(r), u8(r) & 1);
    case 19: return tg_var(t, x, iarg(r), (double)arg(r), u8(r) & 1);
    case 20: return tg_logsumexp(t, x, iarg(r), u8(r) & 1);
    case 21: return tg_norm(t, x, value(r), iarg(r), u8(r) & 1);
    case 22: return tg_cumsum(t, x, iarg(r));
    case 23: return tg_cumprod(t, x, iarg(r));
    case 24: {
        int axes[3] = {iarg(r), iarg(r), iarg(r)};
        return tg_sum_axes(t, x, (int)(u8(r) % 4), axes, u8(r) & 1);
    }
    case 25: return tg_select(t, x, iarg(r), arg(r));
    case 26: return tg_narrow(t, x, iarg(r), arg(r), arg(r));
    case 27: {
        tg_slice_spec s[2] = {{iarg(r), arg(r), arg(r), arg(r)}, {iarg(r), arg(r), arg(r), arg(r)}};
        return tg_slices(t, x, (int)(u8(r) % 3), s);
    }
    case 28: return tg_transpose(t, x, iarg(r), iarg(r));
    case 29: {
        int dims[5] = {iarg(r), iarg(r), iarg(r), iarg(r), iarg(r)};
        return tg_permute(t, x, (int)(u8(r) % 6), dims);
    }
    case 30: return tg_unsqueeze(t, x, iarg(r));
    case 31: return tg_squeeze_axis(t, x, iarg(r));
    case 32: return tg_flatten_range(t, x, iarg(r), iarg(r));
    case 33: {
        int64_t shape[5];
        int nd = shape_arg(r, x, shape);
        return tg_reshape(t, x, nd, shape);
    }
    case 34: {
        int64_t shape[5];
        int nd = shape_arg(r, x, shape);
        return tg_expand(t, x, nd, shape);
    }
    case 35: {
        int64_t reps[5] = {arg(r), arg(r), arg(r), arg(r), arg(r)};
        return (u8(r) & 1) ? tg_repeat(t, x, (int)(u8(r) % 6), reps)
                           : tg_tile(t, x, (int)(u8(r) % 6), reps);
    }
    case 36: return tg_index_select(t, x, iarg(r), index_of(m, r));
    case 37: return tg_movedim(t, x, iarg(r), iarg(r));
    case 38: {
        tg_pool_opts o = {.kernel = {arg(r), arg(r)}, .stride = {arg(r), arg(r)},
                          .padding = {arg(r), arg(r)}, .dilation = {arg(r), arg(r)},
                          .ceil_mode = u8(r) & 1, .count_include_pad = u8(r) & 1,
                          .divisor_override = arg(r)};
        switch (u8(r) % 4) {
        case 0: return tg_max_pool1d(t, x, &o);
        case 1: return tg_max_pool2d(t, x, &o);
        case 2: return tg_avg_pool1d(t, x, &o);
        default: return tg_avg_pool2d(t, x, &o);
        }
    }
    default: return tg_adaptive_avg_pool2d(t, x, arg(r), arg(r));
    }
}

static tg_tensor *binary(machine *m, reader *r, unsigned op)
{
    tg_tape *t = m->t;
    tg_tensor *a = pick(m, r), *b = pick(m, r);
    switch (op % 16) {
    case 0: return tg_add(t, a, b);
    case 1: return tg_mul(t, a, b);
    case 2: return tg_div(t, a, b);
    case 3: return tg_atan2(t, a, b);
    case 4: return tg_maximum(t, a, b);
    case 5: return tg_pow_tensor(t, a, b);
    case 6: return tg_where(t, tg_gt(t, a, b), a, b);
    case 7: return tg_masked_fill(t, a, b, value(r));
    case 8: return tg_clamp_tensor(t, a, b, pick(m, r));
    case 9: return tg_lerp(t, a, b, value(r));
    case 10: return tg_mse_loss(t, a, b, (tg_reduction)(u8(r) % 3));
    case 11: return tg_bce_loss(t, a, b, (tg_reduction)(u8(r) % 3));
    case 12: {
        tg_tensor *xs[3] = {a, b, pick(m, r)};
        return tg_cat(t, xs, 1 + (int)(u8(r) % 3), iarg(r));
    }
    case 13: {
        tg_tensor *xs[3] = {a, b, pick(m, r)};
        return tg_stack(t, xs, 1 + (int)(u8(r) % 3), iarg(r));
    }
    case 14: return tg_prelu(t, a, b);
    default: {
        int64_t shape[5];
        int nd = shape_arg(r, b, shape);
        return tg_sum_to(t, a, nd, shape);
    }
    }
}

/* the ops with index arguments, normalisation, dropout, and (where this
   CPU runs the GEMM as compiled here) the matrix products */
static tg_tensor *more(machine *m, reader *r, unsigned op)
{
    tg_tape *t = m->t;
    tg_tensor *x = pick(m, r);
    /* the class losses read one target for each position of the logits
       outside their class axis (1): N·d2·... of them (at most 2^16 here;
       more is another op) */
    int64_t *v = NULL, n = 1;
    for (int i = 0; i < x->ndim && n > 0; i++)
        if (i != 1 && (n *= x->shape[i] ? x->shape[i] : 1) > 65536) n = -1;
    if ((op % 24 == 7 || op % 24 == 8) && n > 0) {
        v = malloc((size_t)n * sizeof *v);
        if (!v) abort();
        for (int64_t i = 0; i < n; i++) v[i] = (i < 8 && (u8(r) & 1)) ? arg(r) : i % 3;
    }
    switch (op % 24) {
    case 0: return tg_gather(t, x, iarg(r), index_of(m, r));
    case 1: return tg_scatter_add(t, x, iarg(r), index_of(m, r), pick(m, r));
    case 2: return tg_scatter(t, x, iarg(r), index_of(m, r), pick(m, r));
    case 3: return tg_take_along_dim(t, x, tg_argmax(t, pick(m, r), iarg(r), true), iarg(r));
    case 4: return tg_index_add(t, x, iarg(r), index_of(m, r), pick(m, r));
    case 5: {
        int64_t pad[6] = {arg(r), arg(r), arg(r), arg(r), arg(r), arg(r)};
        return tg_pad(t, x, (int)(u8(r) % 8), pad, (tg_pad_mode)(u8(r) % 5), value(r));
    }
    case 6: {
        tg_tensor *out[8] = {NULL};
        int k = (u8(r) & 1) ? tg_split(t, x, arg(r), iarg(r), out, (int)(u8(r) % 9))
                            : tg_split_chunks(t, x, iarg(r), iarg(r), out, (int)(u8(r) % 9));
        if (k < 0) return NULL;
        return k > 0 ? out[u8(r) % (unsigned)(k < 8 ? k : 8)] : tg_scalar(t, 0);
    }
    case 7: {
        tg_tensor *y = v ? tg_cross_entropy(t, x, v, (tg_reduction)(u8(r) % 4)) : tg_neg(t, x);
        free(v);
        return y;
    }
    case 8: {
        tg_ce_opts o = {.reduction = (tg_reduction)(u8(r) % 3), .ignore_index = arg(r),
                        .label_smoothing = (double)value(r),
                        .weight = (u8(r) & 1) ? pick(m, r) : NULL};
        tg_tensor *y = v ? tg_nll_loss(t, x, v, &o) : tg_neg(t, x);
        free(v);
        return y;
    }
    case 9: return tg_embedding(t, x, index_of(m, r), arg(r));
    case 10: {
        tg_index *at = NULL;
        return tg_max_dim(t, x, iarg(r), u8(r) & 1, (u8(r) & 1) ? &at : NULL);
    }
    case 11: /* the generator lives as long as the tape: a replay draws again */
        tg_rng_seed(&m->rng, u8(r));
        return tg_dropout(t, x, (double)value(r), u8(r) & 1, &m->rng);
    case 12: {
        int64_t shape[5];
        int nd = shape_arg(r, x, shape);
        return tg_layer_norm(t, x, nd, shape, pick(m, r), (u8(r) & 1) ? pick(m, r) : NULL,
                             (double)value(r));
    }
    case 13: return tg_group_norm(t, x, arg(r), pick(m, r), pick(m, r), (double)value(r));
    case 14: {
        int64_t shape[5];
        int nd = shape_arg(r, x, shape);
        return tg_rms_norm(t, x, nd, shape, (u8(r) & 1) ? pick(m, r) : NULL, (double)value(r));
    }
    case 15: {
        tg_tensor *rm = (u8(r) & 1) ? pick(m, r) : NULL, *rv = (u8(r) & 1) ? pick(m, r) : NULL;
        return tg_batch_norm(t, x, rm, rv, (u8(r) & 1) ? pick(m, r) : NULL,
                             (u8(r) & 1) ? pick(m, r) : NULL, u8(r) & 1, (double)value(r),
                             (double)value(r));
    }
    case 16:
        return tg_multi_margin_loss(t, x, index_of(m, r), iarg(r), value(r),
                                    (u8(r) & 1) ? pick(m, r) : NULL, (tg_reduction)(u8(r) % 3));
    case 17: return tg_causal_mask(t, arg(r), arg(r), (tg_mask_kind)(u8(r) % 4));
    }
    switch (op % 24) {
    case 18: return tg_matmul(t, x, pick(m, r));
    case 19: return tg_linear(t, x, pick(m, r), (u8(r) & 1) ? pick(m, r) : NULL);
    case 20: {
        static const char *const eq[] = {"ij,jk->ik", "bij,bjk->bik", "ii->i", "i,i->",
                                         "ij->ji",    "ab,cd->abcd",  "a...,b->...", "ij,jk"};
        tg_tensor *ops[2] = {x, pick(m, r)};
        return tg_einsum(t, eq[u8(r) % 8], 1 + (int)(u8(r) & 1), ops);
    }
    case 21:
    case 22: {
        tg_conv_opts o = {.stride = {arg(r), arg(r)}, .padding = {arg(r), arg(r)},
                          .dilation = {arg(r), arg(r)}, .output_padding = {arg(r), arg(r)},
                          .groups = arg(r), .padding_same = u8(r) & 1};
        tg_tensor *w = pick(m, r), *b = (u8(r) & 1) ? pick(m, r) : NULL;
        unsigned k = u8(r) % 3;
        return k == 0 ? tg_conv1d(t, x, w, b, &o)
             : k == 1 ? tg_conv2d(t, x, w, b, &o)
                      : tg_conv_transpose2d(t, x, w, b, &o);
    }
    default:
        return tg_scaled_dot_product_attention(t, x, pick(m, r), pick(m, r),
                                               (u8(r) & 1) ? pick(m, r) : NULL,
                                               (tg_mask_kind)(u8(r) % 3), u8(r) & 1,
                                               (double)value(r));
    }
}

/* the other losses, the recurrent cells and sequences, the products' other
   forms, the reductions over several axes, and parameterised activations */
static tg_tensor *extra(machine *m, reader *r, unsigned op)
{
    tg_tape *t = m->t;
    tg_tensor *x = pick(m, r), *y = pick(m, r);
    tg_reduction red = (tg_reduction)(u8(r) % 3);
    int axes[3] = {iarg(r), iarg(r), iarg(r)}, na = (int)(u8(r) % 4);
    switch (op % 40) {
    case 0: {
        tg_ce_opts o = {.reduction = red, .ignore_index = arg(r),
                        .label_smoothing = (double)value(r),
                        .weight = (u8(r) & 1) ? pick(m, r) : NULL};
        return tg_cross_entropy_prob(t, x, y, &o);
    }
    case 1: {
        tg_ce_opts o = {.reduction = red, .ignore_index = arg(r),
                        .label_smoothing = (double)value(r)};
        return (u8(r) & 1) ? tg_cross_entropy_idx(t, x, index_of(m, r), &o)
                           : tg_nll_loss_idx(t, x, index_of(m, r), &o);
    }
    case 2: return tg_kl_div(t, x, y, red, u8(r) & 1);
    case 3: return tg_cosine_similarity(t, x, y, iarg(r), value(r));
    case 4: return tg_cosine_embedding_loss(t, x, y, pick(m, r), value(r), red);
    case 5:
        return tg_triplet_margin_loss(t, x, y, pick(m, r), value(r), value(r), value(r),
                                      u8(r) & 1, red);
    case 6: return tg_gaussian_nll_loss(t, x, y, pick(m, r), u8(r) & 1, value(r), red);
    case 7: return tg_poisson_nll_loss(t, x, y, u8(r) & 1, u8(r) & 1, value(r), red);
    case 8: return tg_huber_loss(t, x, y, value(r), red);
    case 9: return tg_smooth_l1_loss(t, x, y, value(r), red);
    case 10: return tg_margin_ranking_loss(t, x, y, pick(m, r), value(r), red);
    case 11: return tg_hinge_embedding_loss(t, x, y, value(r), red);
    case 12: return tg_l1_loss(t, x, y, red);
    case 13:
        return tg_bce_with_logits_ex(t, x, y, (u8(r) & 1) ? pick(m, r) : NULL,
                                     (u8(r) & 1) ? pick(m, r) : NULL, red);
    case 14:
        return tg_rnn_cell(t, x, y, pick(m, r), pick(m, r), (u8(r) & 1) ? pick(m, r) : NULL,
                           (u8(r) & 1) ? pick(m, r) : NULL, (tg_rnn_mode)(u8(r) % 2));
    case 15: {
        tg_tensor *c = NULL;
        return tg_lstm_cell(t, x, y, pick(m, r), pick(m, r), pick(m, r),
                            (u8(r) & 1) ? pick(m, r) : NULL, (u8(r) & 1) ? pick(m, r) : NULL,
                            (u8(r) & 1) ? &c : NULL);
    }
    case 16:
        return tg_gru_cell(t, x, y, pick(m, r), pick(m, r), (u8(r) & 1) ? pick(m, r) : NULL,
                           (u8(r) & 1) ? pick(m, r) : NULL);
    case 17: {
        tg_tensor *c = NULL;
        return tg_lstm_recurrence(t, x, y, (u8(r) & 1) ? pick(m, r) : NULL,
                                  (u8(r) & 1) ? pick(m, r) : NULL,
                                  (u8(r) & 1) ? pick(m, r) : NULL, u8(r) & 1,
                                  (u8(r) & 1) ? &c : NULL);
    }
    case 18:
        return tg_gru_recurrence(t, x, y, (u8(r) & 1) ? pick(m, r) : NULL,
                                 (u8(r) & 1) ? pick(m, r) : NULL, u8(r) & 1);
    case 19:
        return tg_rnn_recurrence(t, x, y, (u8(r) & 1) ? pick(m, r) : NULL,
                                 (u8(r) & 1) ? pick(m, r) : NULL, (tg_rnn_mode)(u8(r) % 2),
                                 u8(r) & 1);
    case 20:
        tg_rng_seed(&m->rng, u8(r));
        return tg_dropout2d(t, x, (double)value(r), u8(r) & 1, &m->rng);
    case 21: {
        tg_pool_opts o = {.kernel = {arg(r), arg(r)}, .stride = {arg(r), arg(r)},
                          .padding = {arg(r), arg(r)}, .dilation = {arg(r), arg(r)},
                          .ceil_mode = u8(r) & 1};
        tg_index *at = NULL;
        return (u8(r) & 1) ? tg_max_pool2d_with_indices(t, x, &o, &at)
                           : tg_max_pool1d_with_indices(t, x, &o, &at);
    }
    case 22: return tg_embedding_backward(t, x, index_of(m, r), arg(r), arg(r));
    case 23: return tg_amax_axes(t, x, na, axes, u8(r) & 1);
    case 24: return tg_var_axes(t, x, na, axes, (double)arg(r), u8(r) & 1);
    case 25: return tg_std_axes(t, x, na, axes, (double)value(r), u8(r) & 1);
    case 26: return tg_logsumexp_axes(t, x, na, axes, u8(r) & 1);
    case 27: return tg_norm_axes(t, x, value(r), na, axes, u8(r) & 1);
    case 28: {
        tg_index *at = NULL;
        if (u8(r) & 1) return tg_argmin(t, x, iarg(r), u8(r) & 1) ? x : NULL;
        return tg_min_dim(t, x, iarg(r), u8(r) & 1, (u8(r) & 1) ? &at : NULL);
    }
    case 29: return tg_lerp_tensor(t, x, y, pick(m, r));
    case 30: return tg_pow_scalar_base(t, value(r), x);
    case 31: {
        tg_real a = value(r), b = value(r);
        switch (u8(r) % 8) {
        case 0: return tg_threshold(t, x, a, b);
        case 1: return tg_hardtanh(t, x, a, b);
        case 2: return tg_leaky_relu(t, x, a);
        case 3: return tg_elu(t, x, a);
        case 4: return tg_celu(t, x, a);
        case 5: return tg_hardshrink(t, x, a);
        case 6: return tg_softshrink(t, x, a);
        default: return tg_softmin(t, x, iarg(r));
        }
    }
    case 32: return tg_mask_additive(t, x, (tg_mask_kind)(u8(r) % 4));
    case 33: return tg_add_alpha(t, x, y, value(r));
    case 34: return tg_dot(t, x, y);
    case 35: return tg_outer(t, x, y);
    case 36: return tg_matmul_t(t, x, y, u8(r) & 1, u8(r) & 1);
    case 37: {
        tg_conv_opts o = {.stride = {arg(r), arg(r)}, .padding = {arg(r), arg(r)},
                          .dilation = {arg(r), arg(r)}, .output_padding = {arg(r), arg(r)},
                          .groups = arg(r)};
        return tg_conv_transpose1d(t, x, y, (u8(r) & 1) ? pick(m, r) : NULL, &o);
    }
    case 38: {
        tg_conv_opts o = {.stride = {arg(r), arg(r)}, .padding = {arg(r), arg(r)},
                          .dilation = {arg(r), arg(r)}, .groups = arg(r),
                          .padding_same = u8(r) & 1};
        int64_t shape[5];
        int nd = shape_arg(r, x, shape);
        if (nd < 3) return tg_mask_additive(t, x, TG_MASK_ADDITIVE);
        return nd == 3 ? tg_conv1d_weight(t, x, shape, y, &o)
                       : tg_conv2d_weight(t, x, shape, y, &o);
    }
    default: return tg_scale(t, x, value(r));
    }
}

/* backward from the sum of the last result that needs a gradient, a
   gradient of a gradient, a replay: each TG_OK or a status with a message */
static void differentiate(machine *m, reader *r)
{
    tg_tape *t = m->t;
    tg_tensor *y = NULL;
    for (int i = m->n - 1; i >= 0 && !y; i--)
        if (m->x[i]->flags & TG_REQUIRES_GRAD) y = m->x[i];
    if (!y) return;
    tg_tensor *loss = tg_sum(t, y, TG_ALL, false);
    check(m, loss);
    if (!loss) return;
    int st = tg_backward(t, loss);
    if (st != TG_OK && !tg_tape_error(t)[0]) abort();
    tg_tape_clear_error(t);
    if (m->x[0]->flags & TG_REQUIRES_GRAD) {
        tg_tensor *g = tg_grad1(t, loss, m->x[0], true);
        check(m, g);
        if (g && (u8(r) & 1)) {
            tg_tensor *gg = tg_grad1(t, tg_sum(t, tg_square(t, g), TG_ALL, false), m->x[0], false);
            check(m, gg);
        }
    }
    if (m->replayable) {
        st = tg_tape_replay(t);
        if (st != TG_OK && !tg_tape_error(t)[0]) abort();
        tg_tape_clear_error(t);
        if (st == TG_OK && tg_backward(t, loss) != TG_OK && !tg_tape_error(t)[0]) abort();
        tg_tape_clear_error(t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool once;
    if (!once) {
        tg_set_num_threads(1);
        once = true;
    }
    reader r = {data, size};
    machine m = {.t = tg_tape_new()};
    if (!m.t) return 0;
    unsigned b0 = u8(&r);
    m.replayable = b0 & 1;
    tg_tape_set_replayable(m.t, m.replayable);
    for (int i = 0; i < 3; i++) {
        tg_tensor *x = leaf(&m, &r);
        if (!x) abort(); /* a valid shape of at most 256 values */
        keep(&m, x);
    }
    /* one input in four: the n-th allocation on the tape from here on
       fails, whatever its size (1 <= n <= 497) */
    if (((b0 >> 1) & 3) == 3) tg_tape_fail_alloc(m.t, 1 + (int64_t)(b0 >> 3) * 16, NULL);
    for (int k = 0; k < 24 && r.n; k++) {
        unsigned op = u8(&r);
        check(&m, op % 4 == 0   ? unary(&m, &r, op / 4)
                  : op % 4 == 1 ? binary(&m, &r, op / 4)
                  : op % 4 == 2 ? more(&m, &r, op / 4)
                                : extra(&m, &r, op / 4));
    }
    differentiate(&m, &r);
    tg_tape_free(m.t);
    return 0;
}
