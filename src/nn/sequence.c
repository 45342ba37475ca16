/* Layers for sequences, under PyTorch's state-dict names and with its
   default initialisations: nn.Embedding, nn.RNN / nn.LSTM / nn.GRU (and
   their cells), nn.MultiheadAttention. Each registers its parameters on a
   tg_params and runs on the ops (src/ops/embedding.c, recurrent.c,
   attention.c). */
#include "core/internal.h"

#include <stdio.h>

/* ------------------------------------------------------------- helpers */

#define NAME_LEN 256

/* The parameters a layer is about to add: names free and shapes valid, all
   checked before the first is added, so that a refused layer adds
   nothing. */
typedef struct {
    char name[NAME_LEN];
    int ndim;
    int64_t shape[2];
    tg_tensor **out;
} param_spec;

static int add_params(const char *who, tg_params *p, param_spec *s, int n)
{
    for (int i = 0; i < n; i++) {
        int64_t size;
        int st = tg_params_check(who, s[i].name, s[i].ndim, s[i].shape, &size);
        if (st != TG_OK) return st;
        if (tg_params_get(p, s[i].name))
            return tg_set_error(TG_ERR_INVALID, "%s: a parameter '%s' exists", who, s[i].name);
    }
    for (int i = 0; i < n; i++) {
        *s[i].out = tg_params_add(p, s[i].name, s[i].ndim, s[i].shape);
        if (!*s[i].out) return TG_ERR_NOMEM; /* only memory can fail here */
    }
    return TG_OK;
}

/* Writes "<name><suffix>" into spec's name; false if it does not fit. */
static bool spec_name(param_spec *s, const char *name, const char *suffix)
{
    int n = snprintf(s->name, sizeof s->name, "%s%s", name, suffix);
    return n >= 0 && (size_t)n < sizeof s->name;
}

static int check_args(const char *who, const void *l, const tg_params *p, const char *name)
{
    if (!l || !p || !name || !*name)
        return tg_set_error(TG_ERR_INVALID, "%s: %s is NULL or empty", who,
                            !l ? "the layer" : !p ? "params" : "name");
    return TG_OK;
}

/* --------------------------------------------------------- nn.Embedding */

int tg_embedding_layer_init(tg_embedding_layer *l, tg_params *p, const char *name,
                            int64_t num_embeddings, int64_t embedding_dim, int64_t padding_idx,
                            tg_rng *r)
{
    const char *who = "tg_embedding_layer_init";
    int st = check_args(who, l, p, name);
    if (st != TG_OK) return st;
    memset(l, 0, sizeof *l);
    if (num_embeddings <= 0 || embedding_dim <= 0)
        return tg_set_error(TG_ERR_INVALID, "%s: '%s' needs num_embeddings and embedding_dim "
                                            "> 0, got %lld and %lld",
                            who, name, (long long)num_embeddings, (long long)embedding_dim);
    int64_t pad = padding_idx;
    if (pad != TG_PADDING_IDX_NONE) {
        if (pad < -num_embeddings || pad >= num_embeddings)
            return tg_set_error(TG_ERR_INVALID, "%s: '%s': padding_idx %lld is out of range for "
                                                "%lld embeddings",
                                who, name, (long long)pad, (long long)num_embeddings);
        if (pad < 0) pad += num_embeddings;
    }
    param_spec s = {.ndim = 2, .shape = {num_embeddings, embedding_dim}, .out = &l->weight};
    if (!spec_name(&s, name, ".weight"))
        return tg_set_error(TG_ERR_INVALID, "%s: the name '%.40s...' is too long", who, name);
    if ((st = add_params(who, p, &s, 1)) != TG_OK) return st;
    l->num_embeddings = num_embeddings;
    l->embedding_dim = embedding_dim;
    l->padding_idx = pad;
    if (!r) return TG_OK;
    /* nn.Embedding.reset_parameters: N(0, 1), then the padding row zeroed */
    st = tg_init_normal(l->weight, 0, 1, r);
    if (st == TG_OK && pad != TG_PADDING_IDX_NONE)
        memset(l->weight->data + pad * embedding_dim, 0, (size_t)embedding_dim * sizeof(tg_real));
    return st;
}

tg_tensor *tg_embedding_layer_forward(tg_tape *t, const tg_embedding_layer *l,
                                      const tg_index *indices)
{
    if (!t) return tg_no_tape(__func__);
    if (!l || !l->weight) {
        tg_tape_set_error(t, "tg_embedding_layer_forward: the layer is NULL or not initialised");
        return NULL;
    }
    return tg_embedding(t, l->weight, indices, l->padding_idx);
}

/* ---------------------------------------------- nn.RNN, nn.LSTM, nn.GRU */

static int gates(tg_rnn_mode m) { return m == TG_RNN_LSTM ? 4 : m == TG_RNN_GRU ? 3 : 1; }

static bool valid_mode(tg_rnn_mode m) { return m >= TG_RNN_TANH && m <= TG_RNN_GRU; }

tg_rnn_opts tg_rnn_defaults(void) { return (tg_rnn_opts){.num_layers = 1, .bias = true}; }

/* RNNBase.reset_parameters: every weight and bias U(−1/√H, 1/√H), drawn in
   the order of the parameters. */
static int init_uniform_all(tg_tensor *const *x, int n, int64_t H, tg_rng *r)
{
    double k = 1 / sqrt((double)H);
    for (int i = 0; i < n; i++) {
        if (!x[i]) continue;
        int st = tg_init_uniform(x[i], -k, k, r);
        if (st != TG_OK) return st;
    }
    return TG_OK;
}

int tg_recurrent_init(tg_recurrent *l, tg_params *p, const char *name, tg_rnn_mode mode,
                      int64_t input_size, int64_t hidden_size, const tg_rnn_opts *opts,
                      tg_rng *r)
{
    const char *who = "tg_recurrent_init";
    int st = check_args(who, l, p, name);
    if (st != TG_OK) return st;
    memset(l, 0, sizeof *l);
    tg_rnn_opts o = opts ? *opts : tg_rnn_defaults();
    if (!valid_mode(mode))
        return tg_set_error(TG_ERR_INVALID, "%s: '%s': unknown mode %d", who, name, (int)mode);
    if (input_size <= 0 || hidden_size <= 0)
        return tg_set_error(TG_ERR_INVALID, "%s: '%s' needs input_size and hidden_size > 0, "
                                            "got %lld and %lld",
                            who, name, (long long)input_size, (long long)hidden_size);
    if (o.num_layers < 1 || o.num_layers > TG_RNN_MAX_LAYERS)
        return tg_set_error(TG_ERR_INVALID, "%s: '%s': num_layers must be 1..%d, got %d", who,
                            name, TG_RNN_MAX_LAYERS, o.num_layers);
    int64_t GH;
    if (__builtin_mul_overflow((int64_t)gates(mode), hidden_size, &GH))
        return tg_set_error(TG_ERR_INVALID, "%s: '%s': hidden_size %lld is too large", who, name,
                            (long long)hidden_size);
    param_spec s[4 * TG_RNN_MAX_LAYERS];
    int n = 0;
    for (int k = 0; k < o.num_layers; k++) {
        static const char *const what[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
        tg_tensor **where[4] = {&l->weight_ih[k], &l->weight_hh[k], &l->bias_ih[k],
                                &l->bias_hh[k]};
        for (int j = 0; j < (o.bias ? 4 : 2); j++) {
            char suffix[32];
            snprintf(suffix, sizeof suffix, ".%s_l%d", what[j], k);
            param_spec *e = &s[n++];
            *e = (param_spec){.ndim = j < 2 ? 2 : 1,
                              .shape = {GH, j == 0 ? (k ? hidden_size : input_size) : hidden_size},
                              .out = where[j]};
            if (!spec_name(e, name, suffix))
                return tg_set_error(TG_ERR_INVALID, "%s: the name '%.40s...' is too long", who,
                                    name);
        }
    }
    if ((st = add_params(who, p, s, n)) != TG_OK) return st;
    l->mode = mode;
    l->input_size = input_size;
    l->hidden_size = hidden_size;
    l->num_layers = o.num_layers;
    l->bias = o.bias;
    l->batch_first = o.batch_first;
    if (!r) return TG_OK;
    tg_tensor *all[4 * TG_RNN_MAX_LAYERS];
    for (int i = 0; i < n; i++) all[i] = *s[i].out;
    return init_uniform_all(all, n, hidden_size, r);
}

/* One state of every layer, [L, N, H], or NULL: its layer k, [N, H]. */
static tg_tensor *layer_state(tg_tape *t, tg_tensor *s, int k)
{
    return s ? tg_select(t, s, 0, k) : NULL;
}

static bool check_state(tg_tape *t, const tg_recurrent *l, const char *what, const tg_tensor *s,
                        int64_t N, bool batched)
{
    if (!s) return true;
    bool ok = s->ndim == (batched ? 3 : 2) && s->shape[0] == l->num_layers &&
              s->shape[s->ndim - 1] == l->hidden_size && (!batched || s->shape[1] == N);
    if (ok) return true;
    char b[96];
    if (batched)
        tg_tape_set_error(t, "tg_recurrent_forward: %s must be [num_layers, N, H] = [%d, %lld, "
                             "%lld], got %s",
                          what, l->num_layers, (long long)N, (long long)l->hidden_size,
                          tg_shape_str(s, b, sizeof b));
    else
        tg_tape_set_error(t, "tg_recurrent_forward: %s must be [num_layers, H] = [%d, %lld] for "
                             "an unbatched input, got %s",
                          what, l->num_layers, (long long)l->hidden_size,
                          tg_shape_str(s, b, sizeof b));
    return false;
}

tg_tensor *tg_recurrent_forward(tg_tape *t, const tg_recurrent *l, tg_tensor *x, tg_tensor *h0,
                                tg_tensor *c0, tg_tensor **h_n, tg_tensor **c_n)
{
    if (h_n) *h_n = NULL;
    if (c_n) *c_n = NULL;
    if (!t) return tg_no_tape(__func__);
    const char *who = "tg_recurrent_forward";
    if (!l || !l->weight_ih[0]) {
        tg_tape_set_error(t, "%s: the layer is NULL or not initialised", who);
        return NULL;
    }
    if (!x) return tg_null_input(t, "recurrent_forward");
    char b[96];
    if (x->ndim != 2 && x->ndim != 3) {
        tg_tape_set_error(t, "%s: the input must be [T, N, input_size] ([N, T, input_size] with "
                             "batch_first) or [T, input_size] unbatched, got %s",
                          who, tg_shape_str(x, b, sizeof b));
        return NULL;
    }
    if (c0 && l->mode != TG_RNN_LSTM) {
        tg_tape_set_error(t, "%s: c0 is given, but only an LSTM has a cell state", who);
        return NULL;
    }
    bool batched = x->ndim == 3, bf = l->batch_first && batched;
    int ax = bf ? 1 : 0; /* the time axis */
    int64_t N = batched ? x->shape[bf ? 0 : 1] : 1;
    if (!check_state(t, l, "h0", h0, N, batched) || !check_state(t, l, "c0", c0, N, batched))
        return NULL;
    if (!batched) { /* [T, in] as [T, 1, in]; the states [L, H] as [L, 1, H] */
        x = tg_unsqueeze(t, x, 1);
        /* a state that failed is not a zero state: stop */
        if ((h0 && !(h0 = tg_unsqueeze(t, h0, 1))) || (c0 && !(c0 = tg_unsqueeze(t, c0, 1))))
            return NULL;
    }
    /* Any part that fails fails the call: a layer's state that failed is
       not a zero state, and no output comes without the final states
       asked for (each stays NULL then). */
    bool want_c = c_n && l->mode == TG_RNN_LSTM;
    tg_tensor *hn[TG_RNN_MAX_LAYERS], *cn[TG_RNN_MAX_LAYERS];
    for (int k = 0; k < l->num_layers && x; k++) {
        tg_tensor *xg = tg_linear(t, x, l->weight_ih[k], l->bias_ih[k]); /* [T, N, G·H] */
        tg_tensor *h0k = layer_state(t, h0, k), *c0k = layer_state(t, c0, k);
        if ((h0 && !h0k) || (c0 && !c0k)) return NULL;
        if (l->mode == TG_RNN_LSTM)
            x = tg_lstm_recurrence(t, xg, l->weight_hh[k], l->bias_hh[k], h0k, c0k, bf,
                                   want_c ? &cn[k] : NULL);
        else if (l->mode == TG_RNN_GRU)
            x = tg_gru_recurrence(t, xg, l->weight_hh[k], l->bias_hh[k], h0k, bf);
        else
            x = tg_rnn_recurrence(t, xg, l->weight_hh[k], l->bias_hh[k], h0k, l->mode, bf);
        if (x && h_n && !(hn[k] = tg_select(t, x, ax, x->shape[ax] - 1))) return NULL;
    }
    if (!x) return NULL;
    tg_tensor *h = h_n ? tg_stack(t, hn, l->num_layers, batched ? 0 : 1) : NULL;
    tg_tensor *c = want_c ? tg_stack(t, cn, l->num_layers, batched ? 0 : 1) : NULL;
    if (!batched) { /* back to [T, H] and [L, H] */
        x = tg_squeeze_axis(t, x, 1);
        if (h) h = tg_squeeze_axis(t, h, 0);
        if (c) c = tg_squeeze_axis(t, c, 0);
    }
    if (!x || (h_n && !h) || (want_c && !c)) return NULL;
    if (h_n) *h_n = h;
    if (want_c) *c_n = c;
    return x;
}

/* ----------------------------------- nn.RNNCell, nn.LSTMCell, nn.GRUCell */

int tg_recurrent_cell_init(tg_recurrent_cell *l, tg_params *p, const char *name,
                           tg_rnn_mode mode, int64_t input_size, int64_t hidden_size, bool bias,
                           tg_rng *r)
{
    const char *who = "tg_recurrent_cell_init";
    int st = check_args(who, l, p, name);
    if (st != TG_OK) return st;
    memset(l, 0, sizeof *l);
    if (!valid_mode(mode))
        return tg_set_error(TG_ERR_INVALID, "%s: '%s': unknown mode %d", who, name, (int)mode);
    int64_t GH;
    if (input_size <= 0 || hidden_size <= 0 ||
        __builtin_mul_overflow((int64_t)gates(mode), hidden_size, &GH))
        return tg_set_error(TG_ERR_INVALID, "%s: '%s' needs input_size and hidden_size > 0, "
                                            "got %lld and %lld",
                            who, name, (long long)input_size, (long long)hidden_size);
    param_spec s[4] = {{.ndim = 2, .shape = {GH, input_size}, .out = &l->weight_ih},
                       {.ndim = 2, .shape = {GH, hidden_size}, .out = &l->weight_hh},
                       {.ndim = 1, .shape = {GH}, .out = &l->bias_ih},
                       {.ndim = 1, .shape = {GH}, .out = &l->bias_hh}};
    static const char *const suffix[4] = {".weight_ih", ".weight_hh", ".bias_ih", ".bias_hh"};
    int n = bias ? 4 : 2;
    for (int i = 0; i < n; i++)
        if (!spec_name(&s[i], name, suffix[i]))
            return tg_set_error(TG_ERR_INVALID, "%s: the name '%.40s...' is too long", who, name);
    if ((st = add_params(who, p, s, n)) != TG_OK) return st;
    l->mode = mode;
    l->input_size = input_size;
    l->hidden_size = hidden_size;
    if (!r) return TG_OK;
    tg_tensor *all[4] = {l->weight_ih, l->weight_hh, l->bias_ih, l->bias_hh};
    return init_uniform_all(all, n, hidden_size, r);
}

tg_tensor *tg_recurrent_cell_forward(tg_tape *t, const tg_recurrent_cell *l, tg_tensor *x,
                                     tg_tensor *h, tg_tensor *c, tg_tensor **c_out)
{
    if (c_out) *c_out = NULL;
    if (!t) return tg_no_tape(__func__);
    if (!l || !l->weight_ih) {
        tg_tape_set_error(t, "tg_recurrent_cell_forward: the cell is NULL or not initialised");
        return NULL;
    }
    if (l->mode == TG_RNN_LSTM)
        return tg_lstm_cell(t, x, h, c, l->weight_ih, l->weight_hh, l->bias_ih, l->bias_hh, c_out);
    if (c) {
        tg_tape_set_error(t, "tg_recurrent_cell_forward: c is given, but only an LSTM cell has "
                             "a cell state");
        return NULL;
    }
    if (l->mode == TG_RNN_GRU)
        return tg_gru_cell(t, x, h, l->weight_ih, l->weight_hh, l->bias_ih, l->bias_hh);
    return tg_rnn_cell(t, x, h, l->weight_ih, l->weight_hh, l->bias_ih, l->bias_hh, l->mode);
}

/* ------------------------------------------------- nn.MultiheadAttention */

int tg_multihead_attention_init(tg_multihead_attention *m, tg_params *p, const char *name,
                                int64_t embed_dim, int64_t num_heads, bool bias,
                                bool batch_first, tg_rng *r)
{
    const char *who = "tg_multihead_attention_init";
    int st = check_args(who, m, p, name);
    if (st != TG_OK) return st;
    memset(m, 0, sizeof *m);
    if (embed_dim <= 0 || num_heads <= 0 || embed_dim % num_heads != 0)
        return tg_set_error(TG_ERR_INVALID, "%s: '%s': embed_dim (%lld) must be divisible by "
                                            "num_heads (%lld), both > 0",
                            who, name, (long long)embed_dim, (long long)num_heads);
    int64_t E3;
    if (__builtin_mul_overflow(embed_dim, (int64_t)3, &E3))
        return tg_set_error(TG_ERR_INVALID, "%s: '%s': embed_dim %lld is too large", who, name,
                            (long long)embed_dim);
    param_spec s[4] = {{.ndim = 2, .shape = {E3, embed_dim}, .out = &m->in_proj_weight},
                       {.ndim = 1, .shape = {E3}, .out = &m->in_proj_bias},
                       {.ndim = 2, .shape = {embed_dim, embed_dim}, .out = &m->out_proj.weight},
                       {.ndim = 1, .shape = {embed_dim}, .out = &m->out_proj.bias}};
    static const char *const suffix[4] = {".in_proj_weight", ".in_proj_bias",
                                          ".out_proj.weight", ".out_proj.bias"};
    for (int i = 0; i < 4; i++)
        if (!spec_name(&s[i], name, suffix[i]))
            return tg_set_error(TG_ERR_INVALID, "%s: the name '%.40s...' is too long", who, name);
    /* in PyTorch's order: in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias */
    param_spec order[4] = {s[0], s[1], s[2], s[3]};
    int n = 0;
    for (int i = 0; i < 4; i++)
        if (bias || i % 2 == 0) order[n++] = s[i];
    if ((st = add_params(who, p, order, n)) != TG_OK) return st;
    m->out_proj.in = m->out_proj.out = embed_dim;
    m->embed_dim = embed_dim;
    m->num_heads = num_heads;
    m->batch_first = batch_first;
    if (!r) return TG_OK;
    /* _reset_parameters: in_proj_weight Xavier uniform; out_proj.weight
       nn.Linear's default; the biases 0 (zero already) */
    st = tg_init_xavier_uniform(m->in_proj_weight, 1.0, r);
    return st == TG_OK ? tg_init_linear_default(m->out_proj.weight, NULL, r) : st;
}

/* An input [N, L, E] (batch_first) or [L, N, E] as heads [N, h, L, d]. */
static tg_tensor *heads(tg_tape *t, tg_tensor *x, int64_t h, bool bf)
{
    if (!x) return NULL; /* the projection failed: its message stands */
    int64_t L = x->shape[bf ? 1 : 0], N = x->shape[bf ? 0 : 1], d = x->shape[2] / h;
    tg_tensor *y = tg_reshape(t, x, 4, bf ? (const int64_t[]){N, L, h, d}
                                          : (const int64_t[]){L, N, h, d});
    return tg_permute(t, y, 4, bf ? (const int[]){0, 2, 1, 3} : (const int[]){1, 2, 0, 3});
}

/* a + b, either of which may be none (NULL) */
static tg_tensor *add_mask(tg_tape *t, tg_tensor *a, tg_tensor *b)
{
    return !a ? b : !b ? a : tg_add(t, a, b);
}

static bool valid_kind(tg_mask_kind k)
{
    return k == TG_MASK_ADDITIVE || k == TG_MASK_KEEP || k == TG_MASK_HIDE;
}

/* Checks the masks and merges them (key padding, attention mask, causal)
   into one additive mask that broadcasts to the scores [N, h, L, S] (NULL
   for none); false with the message on the tape. */
static bool merged_mask(tg_tape *t, const tg_mha_opts *o, int64_t N, int64_t h, int64_t L,
                        int64_t S, bool batched, tg_tensor **out)
{
    const char *who = "tg_multihead_attention_forward";
    char b[96];
    *out = NULL;
    if (!o) return true;
    if (!valid_kind(o->key_padding_kind) || !valid_kind(o->attn_mask_kind)) {
        tg_tape_set_error(t, "%s: unknown mask kind", who);
        return false;
    }
    tg_tensor *kpm = o->key_padding_mask, *am = o->attn_mask, *m = NULL;
    if (kpm) {
        bool ok = batched ? kpm->ndim == 2 && kpm->shape[0] == N && kpm->shape[1] == S
                          : kpm->ndim == 1 && kpm->shape[0] == S;
        if (!ok && batched)
            tg_tape_set_error(t, "%s: key_padding_mask must be [N, S] = [%lld, %lld], got %s", who,
                              (long long)N, (long long)S, tg_shape_str(kpm, b, sizeof b));
        else if (!ok)
            tg_tape_set_error(t, "%s: key_padding_mask must be [S] = [%lld] for an unbatched "
                                 "input, got %s",
                              who, (long long)S, tg_shape_str(kpm, b, sizeof b));
        if (!ok) return false;
        m = tg_reshape(t, tg_mask_additive(t, kpm, o->key_padding_kind), TG_SHAPE(N, 1, 1, S));
        if (!m) return false; /* each part that fails fails the call: not a mask without it */
    }
    if (am) {
        bool two = am->ndim == 2 && am->shape[0] == L && am->shape[1] == S;
        bool three = am->ndim == 3 && am->shape[0] == N * h && am->shape[1] == L &&
                     am->shape[2] == S;
        if (!two && !three) {
            tg_tape_set_error(t, "%s: attn_mask must be [L, S] = [%lld, %lld] or [N·num_heads, L, "
                                 "S] = [%lld, %lld, %lld], got %s",
                              who, (long long)L, (long long)S, (long long)(N * h), (long long)L,
                              (long long)S, tg_shape_str(am, b, sizeof b));
            return false;
        }
        tg_tensor *a = tg_mask_additive(t, am, o->attn_mask_kind);
        if (a && three) a = tg_reshape(t, a, TG_SHAPE(N, h, L, S));
        if (!a || !(m = add_mask(t, m, a))) return false;
    }
    if (o->is_causal) {
        tg_tensor *c = tg_causal_mask(t, L, S, TG_MASK_ADDITIVE);
        if (!c || !(m = add_mask(t, m, c))) return false;
    }
    *out = m;
    return true;
}

tg_tensor *tg_multihead_attention_forward(tg_tape *t, const tg_multihead_attention *m,
                                          tg_tensor *query, tg_tensor *key, tg_tensor *value,
                                          const tg_mha_opts *opts)
{
    if (!t) return tg_no_tape(__func__);
    const char *who = "tg_multihead_attention_forward";
    if (!m || !m->in_proj_weight) {
        tg_tape_set_error(t, "%s: the layer is NULL or not initialised", who);
        return NULL;
    }
    if (!query || !key || !value) return tg_null_input(t, "multihead_attention_forward");
    int64_t E = m->embed_dim, h = m->num_heads;
    char sq[96], sk[96], sv[96];
    tg_shape_str(query, sq, sizeof sq);
    tg_shape_str(key, sk, sizeof sk);
    tg_shape_str(value, sv, sizeof sv);
    bool batched = query->ndim == 3;
    bool fits = (query->ndim == 2 || query->ndim == 3) && key->ndim == query->ndim &&
                value->ndim == query->ndim && query->shape[query->ndim - 1] == E &&
                key->shape[key->ndim - 1] == E && value->shape[value->ndim - 1] == E;
    int bax = m->batch_first ? 0 : 1, sax = batched ? 1 - bax : 0; /* batch, sequence axes */
    if (fits) /* key and value: one length S; all three: one batch */
        fits = key->shape[sax] == value->shape[sax] &&
               (!batched || (key->shape[bax] == query->shape[bax] &&
                             value->shape[bax] == query->shape[bax]));
    if (!fits) {
        tg_tape_set_error(t, "%s: query %s, key %s and value %s must be %s with E = %lld, key "
                             "and value of one length",
                          who, sq, sk, sv,
                          m->batch_first ? "[N, L, E] (batch_first)" : "[L, N, E]", (long long)E);
        return NULL;
    }
    bool bf = m->batch_first || !batched; /* an unbatched input is given a batch axis 0 */
    bool self = query == key && key == value;
    if (!batched) {
        query = tg_unsqueeze(t, query, 0);
        key = self ? query : tg_unsqueeze(t, key, 0);
        value = self ? query : tg_unsqueeze(t, value, 0);
        if (!query || !key || !value) return NULL;
    }
    int64_t N = query->shape[bf ? 0 : 1], L = query->shape[bf ? 1 : 0];
    int64_t S = key->shape[bf ? 1 : 0];
    tg_tensor *mask;
    if (!merged_mask(t, opts, N, h, L, S, batched, &mask)) return NULL;
    tg_tensor *q, *k, *v;
    if (self) { /* self-attention: one product [.., 3E] */
        tg_tensor *qkv = tg_linear(t, query, m->in_proj_weight, m->in_proj_bias);
        /* [.., 3E] as [N, L, 3, h, d] or [L, N, 3, h, d], to [3, N, h, L, d] */
        int64_t d = E / h;
        tg_tensor *y = tg_reshape(t, qkv, 5, bf ? (const int64_t[]){N, L, 3, h, d}
                                                : (const int64_t[]){L, N, 3, h, d});
        y = tg_permute(t, y, 5, bf ? (const int[]){2, 0, 3, 1, 4} : (const int[]){2, 1, 3, 0, 4});
        q = tg_select(t, y, 0, 0), k = tg_select(t, y, 0, 1), v = tg_select(t, y, 0, 2);
    } else {
        tg_tensor *w = m->in_proj_weight, *b = m->in_proj_bias, *x[3] = {query, key, value};
        tg_tensor *o[3];
        for (int i = 0; i < 3; i++) {
            tg_tensor *wi = tg_narrow(t, w, 0, i * E, E);
            tg_tensor *bi = b ? tg_narrow(t, b, 0, i * E, E) : NULL;
            if (b && !bi) return NULL; /* not a projection without its bias */
            o[i] = heads(t, tg_linear(t, x[i], wi, bi), h, bf);
        }
        q = o[0], k = o[1], v = o[2];
    }
    tg_tensor *y = tg_scaled_dot_product_attention(t, q, k, v, mask, TG_MASK_ADDITIVE, false, 0);
    if (!y) return NULL; /* [N, h, L, d] */
    y = tg_permute(t, y, 4, bf ? (const int[]){0, 2, 1, 3} : (const int[]){2, 0, 1, 3});
    y = tg_reshape(t, y, 3, bf ? (const int64_t[]){N, L, E} : (const int64_t[]){L, N, E});
    y = tg_linear(t, y, m->out_proj.weight, m->out_proj.bias);
    return batched || !y ? y : tg_squeeze_axis(t, y, 0);
}
