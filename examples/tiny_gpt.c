/* tiny_gpt: a character-level transformer language model (GPT-2's design,
   as nanoGPT and llm.c write it, made small) trained on Jane Austen.

     ./build/examples/tiny_gpt                      Persuasion, 2000 steps, samples as it trains
     ./build/examples/tiny_gpt --layers 6 --embd 192 --heads 6 --block 128
     ./build/examples/tiny_gpt --data my.txt --temperature 0.6

   The model: token and position embeddings (wte, wpe), then blocks of
       x = x + attn(ln_1(x))      causal multi-head self-attention
       x = x + mlp(ln_2(x))       linear 4·C, GELU (tanh form, as GPT-2), linear C
   then a final layer norm and the logits x·wteᵀ (the output layer shares
   the token embedding, as GPT-2). The initialisation is nanoGPT's: every
   weight N(0, 0.02), the projections back into the residual stream
   N(0, 0.02/√(2·layers)), biases 0, layer norms 1 and 0. No dropout.
   Training: windows of --block characters at random places of the first
   90% of the text (drawn from tapegrad's RNG), the mean cross entropy of
   every next character, Adam. Every --sample-every steps it prints the
   loss on held-out windows and a sample drawn with temperature.

   PyTorch gets the same loss curve from the same start (weights and
   batches from tapegrad's seeded RNG, recomputed in Python by
   tests/gen_golden_demos.py with nn.MultiheadAttention and nn.LayerNorm;
   tests/nn/test_demo_parity.c compares step by step). The training loop
   allocates nothing after its first step.

   The layer norms are tapegrad's fused op (tg_layer_norm, nn.LayerNorm's
   formula: (x − mean)/√(biased var + eps)·w + b over the last axis). */
#define _POSIX_C_SOURCE 200809L
#include <tapegrad.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "char_text.h" /* the text, its batches, sampling, the training run */

#define GPT_MAX_LAYERS 32
#define GPT_LN_EPS 1e-5 /* nn.LayerNorm's eps */

/* ----------------------------------------------------------- the model */

typedef struct gpt_block {
    tg_tensor *ln1_w, *ln1_b;     /* "h.<k>.ln_1.weight", ".bias" [C] */
    tg_multihead_attention attn;  /* "h.<k>.attn.in_proj_weight" [3C, C] ... */
    tg_tensor *ln2_w, *ln2_b;     /* "h.<k>.ln_2.weight", ".bias" [C] */
    tg_linear_layer fc, proj;     /* "h.<k>.mlp.fc" C -> 4C, "h.<k>.mlp.proj" 4C -> C */
} gpt_block;

typedef struct gpt {
    tg_embedding_layer wte, wpe; /* [vocab, C], [block, C] */
    gpt_block h[GPT_MAX_LAYERS];
    tg_tensor *lnf_w, *lnf_b;    /* "ln_f.weight", ".bias" [C] */
    int64_t vocab, block, embd, heads;
    int layers;
} gpt;

/* A layer norm's weight (ones) and bias (zeros), "<name>.weight" and
   "<name>.bias" [C]. */
static int gpt_ln_init(tg_params *p, const char *name, int64_t C, tg_tensor **w, tg_tensor **b)
{
    char n[96];
    snprintf(n, sizeof n, "%s.weight", name);
    *w = tg_params_add(p, n, TG_SHAPE(C));
    snprintf(n, sizeof n, "%s.bias", name);
    *b = *w ? tg_params_add(p, n, TG_SHAPE(C)) : NULL;
    return *b && tg_init_constant(*w, 1) == TG_OK ? TG_OK : TG_ERR_NOMEM;
}

/* Registers the model and draws its weights from r, in this order: wte,
   wpe, then for each block in_proj_weight, out_proj.weight, mlp.fc.weight,
   mlp.proj.weight. */
static int gpt_init(gpt *m, tg_params *p, int64_t vocab, int64_t block, int64_t embd,
                    int64_t heads, int layers, tg_rng *r)
{
    *m = (gpt){.vocab = vocab, .block = block, .embd = embd, .heads = heads, .layers = layers};
    if (layers < 1 || layers > GPT_MAX_LAYERS) return TG_ERR_INVALID;
    int64_t C = embd;
    double std = 0.02, proj_std = 0.02 / sqrt(2.0 * layers);
    int st = tg_embedding_layer_init(&m->wte, p, "wte", vocab, C, TG_PADDING_IDX_NONE, NULL);
    if (st == TG_OK) st = tg_embedding_layer_init(&m->wpe, p, "wpe", block, C, TG_PADDING_IDX_NONE,
                                                  NULL);
    if (st == TG_OK) st = tg_init_normal(m->wte.weight, 0, std, r);
    if (st == TG_OK) st = tg_init_normal(m->wpe.weight, 0, std, r);
    for (int k = 0; k < layers && st == TG_OK; k++) {
        gpt_block *b = &m->h[k];
        char n[64];
        snprintf(n, sizeof n, "h.%d.ln_1", k);
        st = gpt_ln_init(p, n, C, &b->ln1_w, &b->ln1_b);
        snprintf(n, sizeof n, "h.%d.attn", k);
        if (st == TG_OK) st = tg_multihead_attention_init(&b->attn, p, n, C, heads, true, true, NULL);
        snprintf(n, sizeof n, "h.%d.ln_2", k);
        if (st == TG_OK) st = gpt_ln_init(p, n, C, &b->ln2_w, &b->ln2_b);
        snprintf(n, sizeof n, "h.%d.mlp.fc", k);
        if (st == TG_OK) st = tg_linear_layer_init(&b->fc, p, n, C, 4 * C, true, NULL);
        snprintf(n, sizeof n, "h.%d.mlp.proj", k);
        if (st == TG_OK) st = tg_linear_layer_init(&b->proj, p, n, 4 * C, C, true, NULL);
        if (st == TG_OK) st = tg_init_normal(b->attn.in_proj_weight, 0, std, r);
        if (st == TG_OK) st = tg_init_normal(b->attn.out_proj.weight, 0, proj_std, r);
        if (st == TG_OK) st = tg_init_normal(b->fc.weight, 0, std, r);
        if (st == TG_OK) st = tg_init_normal(b->proj.weight, 0, proj_std, r);
    }
    return st == TG_OK ? gpt_ln_init(p, "ln_f", C, &m->lnf_w, &m->lnf_b) : st;
}

/* Layer norm over the last axis (nn.LayerNorm(C)): the fused op. */
static tg_tensor *layer_norm(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b)
{
    return tg_layer_norm(t, x, 1, &w->shape[0], w, b, GPT_LN_EPS);
}

/* The logits [B, T, vocab] of the characters after idx [B, T] (T ≤ block). */
static tg_tensor *gpt_logits(tg_tape *t, const gpt *m, const tg_index *idx, const tg_index *pos)
{
    tg_tensor *x = tg_add(t, tg_embedding_layer_forward(t, &m->wte, idx),
                          tg_embedding_layer_forward(t, &m->wpe, pos)); /* [B, T, C] */
    tg_mha_opts causal = {.is_causal = true};
    for (int k = 0; k < m->layers; k++) {
        const gpt_block *b = &m->h[k];
        tg_tensor *a = layer_norm(t, x, b->ln1_w, b->ln1_b);
        x = tg_add(t, x, tg_multihead_attention_forward(t, &b->attn, a, a, a, &causal));
        tg_tensor *f = tg_linear_layer_forward(t, &b->fc, layer_norm(t, x, b->ln2_w, b->ln2_b));
        x = tg_add(t, x, tg_linear_layer_forward(t, &b->proj, tg_gelu(t, f, TG_GELU_TANH)));
    }
    return tg_linear(t, layer_norm(t, x, m->lnf_w, m->lnf_b), m->wte.weight, NULL);
}

/* 0, 1, ..., T − 1 (the positions), into pos. */
static const tg_index *positions(tg_tape *t, int64_t T, int64_t *pos)
{
    for (int64_t i = 0; i < T; i++) pos[i] = i;
    return tg_index_wrap(t, TG_SHAPE(T), pos);
}

/* The mean cross entropy of predicting y from x, both [B, T]; pos holds
   room for T positions. */
static tg_tensor *gpt_loss(tg_tape *t, const gpt *m, int64_t B, int64_t T, const int64_t *x,
                           const int64_t *y, int64_t *pos)
{
    tg_tensor *logits = gpt_logits(t, m, tg_index_wrap(t, TG_SHAPE(B, T), x),
                                   positions(t, T, pos));
    return tg_cross_entropy_idx(t, tg_reshape(t, logits, TG_SHAPE(-1, m->vocab)),
                                tg_index_wrap(t, TG_SHAPE(B * T), y), NULL);
}

/* One training step: forward, backward, Adam, the tape reset. Returns the
   loss, NAN on failure (the message on stderr). */
static double gpt_step(tg_tape *t, const gpt *m, tg_optim *o, int64_t B, int64_t T,
                       const int64_t *x, const int64_t *y, int64_t *pos)
{
    tg_tensor *loss = gpt_loss(t, m, B, T, x, y, pos);
    if (!loss || tg_backward(t, loss) != TG_OK || tg_optim_step_release_grad(o) != TG_OK) {
        fprintf(stderr, "tiny_gpt: %s%s\n", tg_tape_error(t), loss ? tg_last_error() : "");
        tg_tape_reset(t);
        return NAN;
    }
    double l = (double)loss->data[0];
    tg_tape_reset(t);
    return l;
}

/* Writes n characters sampled from the model after `first`: each step
   runs the model on the last ≤ block characters and draws the next from
   the logits of the last position. ctx holds room for block ids, pos for
   block positions. */
static int gpt_sample(tg_tape *t, const gpt *m, const char_text *txt, int first, int64_t n,
                      double temperature, tg_rng *r, int64_t *ctx, int64_t *pos, FILE *f)
{
    bool was = tg_tape_set_recording(t, false);
    int64_t len = 1;
    ctx[0] = first;
    int st = TG_OK;
    for (int64_t i = 0; i < n; i++) {
        tg_tensor *logits = gpt_logits(t, m, tg_index_wrap(t, TG_SHAPE(1, len), ctx),
                                       positions(t, len, pos));
        if (!logits) {
            fprintf(stderr, "tiny_gpt: %s\n", tg_tape_error(t));
            st = TG_ERR_INVALID;
            break;
        }
        int id = sample_id(logits->data + (len - 1) * m->vocab, (int)m->vocab, temperature, r);
        tg_tape_reset(t);
        fputc(txt->chars[id], f);
        if (len == m->block) memmove(ctx, ctx + 1, (size_t)--len * sizeof *ctx);
        ctx[len++] = id;
    }
    tg_tape_reset(t);
    tg_tape_set_recording(t, was);
    return st;
}

/* The mean loss over n batches of held-out windows (the same windows each
   time: their own RNG, seeded alike). */
static double gpt_eval(tg_tape *t, const gpt *m, const char_text *txt, int64_t lo, int64_t B,
                       int64_t T, int n, int64_t *x, int64_t *y, int64_t *pos)
{
    bool was = tg_tape_set_recording(t, false);
    tg_rng r;
    tg_rng_seed(&r, 12345);
    double sum = 0;
    for (int k = 0; k < n; k++) {
        char_batch(txt, &r, lo, txt->n, B, T, x, y);
        tg_tensor *l = gpt_loss(t, m, B, T, x, y, pos);
        sum += l ? (double)l->data[0] : NAN;
        tg_tape_reset(t);
    }
    tg_tape_set_recording(t, was);
    return sum / n;
}

/* The model, its optimizer and room for positions and the sampler's
   context, behind the three calls of char_model (char_text.h's training
   run). */
typedef struct gpt_run {
    tg_tape *t;
    const gpt *m;
    tg_optim *o;
    const char_text *txt;
    int64_t B, T;
    int64_t *pos, *ctx; /* T ids each */
} gpt_run;

static double gpt_run_step(void *ctx, const int64_t *x, const int64_t *y)
{
    const gpt_run *c = ctx;
    return gpt_step(c->t, c->m, c->o, c->B, c->T, x, y, c->pos);
}

static double gpt_run_eval(void *ctx, int64_t *x, int64_t *y)
{
    const gpt_run *c = ctx;
    return gpt_eval(c->t, c->m, c->txt, c->txt->n * 9 / 10, c->B, c->T, 4, x, y, c->pos);
}

static int gpt_run_sample(void *ctx, int64_t n, double temperature, tg_rng *r, FILE *f)
{
    const gpt_run *c = ctx;
    return gpt_sample(c->t, c->m, c->txt, char_id(c->txt, '\n'), n, temperature, r, c->ctx,
                      c->pos, f);
}

/* The model of a gpt_run. */
static char_model gpt_model(gpt_run *c)
{
    return (char_model){c, gpt_run_step, gpt_run_eval, gpt_run_sample};
}

#ifndef TG_EXAMPLE_NO_MAIN /* the parity test and the benchmark include the code above */

typedef struct options {
    const char *data, *save;
    int64_t layers, heads, embd, block, batch, steps, sample_every, sample_len, threads, seed;
    double lr, temperature;
} options;

static const char USAGE[] =
    "usage: tiny_gpt [options]\n"
    "A character-level transformer (GPT-2's design, small) trained on a text, printing samples.\n"
    "  --data FILE          the text (default: " TG_EXAMPLE_DATA_DIR "/text/persuasion.txt)\n"
    "  --layers N           transformer blocks (4)\n"
    "  --heads N            attention heads (4)\n"
    "  --embd N             embedding width C, a multiple of --heads (128)\n"
    "  --block N            context length: characters per training window (64)\n"
    "  --batch N            windows per step (32)\n"
    "  --steps N            training steps (2000)\n"
    "  --lr X               Adam's learning rate (0.001)\n"
    "  --seed N             of the weights, the batches and the samples (1)\n"
    "  --sample-every N     steps between samples and held-out losses (250; 0: never)\n"
    "  --sample-len N       characters per sample (300)\n"
    "  --temperature X      of the samples: lower is more conservative (0.8)\n"
    "  --threads N          threads for matrix products (default: the library's)\n"
    "  --save FILE          write the trained weights as safetensors (F32)\n"
    "  --help               this text\n";

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.data = TG_EXAMPLE_DATA_DIR "/text/persuasion.txt", .layers = 4, .heads = 4,
                   .embd = 128, .block = 64, .batch = 32, .steps = 2000, .sample_every = 250,
                   .sample_len = 300, .lr = 0.001, .temperature = 0.8, .seed = 1};
    const char_opt opts[] = {
        {"--data", 's', &o->data, 0, 0},
        {"--save", 's', &o->save, 0, 0},
        {"--layers", 'i', &o->layers, 1, GPT_MAX_LAYERS},
        {"--heads", 'i', &o->heads, 1, 1 << 10},
        {"--embd", 'i', &o->embd, 1, 1 << 16},
        {"--block", 'i', &o->block, 1, 1 << 16},
        {"--batch", 'i', &o->batch, 1, 1 << 20},
        {"--steps", 'i', &o->steps, 0, INT64_MAX},
        {"--sample-every", 'i', &o->sample_every, 0, INT64_MAX},
        {"--sample-len", 'i', &o->sample_len, 0, 1 << 24},
        {"--threads", 'i', &o->threads, 1, 64},
        {"--seed", 'i', &o->seed, 0, INT64_MAX},
        {"--lr", 'x', &o->lr, 0, 0},
        {"--temperature", 'x', &o->temperature, 0, 0},
    };
    int rc = char_parse_args("tiny_gpt", USAGE, argc, argv, opts, sizeof opts / sizeof *opts);
    if (rc == 0 && o->embd % o->heads) {
        fprintf(stderr, "tiny_gpt: --embd (%lld) must be a multiple of --heads (%lld)\n",
                (long long)o->embd, (long long)o->heads);
        return 2;
    }
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    char_text txt;
    if (!char_text_open("tiny_gpt", &txt, o.data, o.block)) return 1;
    int64_t B = o.batch, T = o.block;
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    int64_t *x = malloc((size_t)(2 * B * T + 2 * T) * sizeof *x), *y = x ? x + B * T : NULL;
    tg_rng init, batches, samples;
    tg_rng_seed(&init, (uint64_t)o.seed);
    tg_rng_seed(&batches, (uint64_t)o.seed + 1);
    tg_rng_seed(&samples, (uint64_t)o.seed + 2);
    gpt *m = malloc(sizeof *m);
    tg_optim *opt = NULL;
    rc = 1;
    if (!p || !t || !x || !m) {
        fprintf(stderr, "tiny_gpt: out of memory\n");
        goto done;
    }
    tg_adam_opts ao = tg_adam_defaults(o.lr);
    if (gpt_init(m, p, txt.vocab, T, o.embd, o.heads, (int)o.layers, &init) != TG_OK ||
        (o.threads && tg_set_num_threads((int)o.threads) != TG_OK) || !(opt = tg_adam_new(p, &ao))) {
        fprintf(stderr, "tiny_gpt: %s\n", tg_last_error());
        goto done;
    }
    printf("tapegrad %s (%s): tiny GPT, vocab %d, %lld blocks of %lld heads, width %lld, "
           "context %lld, %lld parameters; Adam lr %g, batch %lld, %lld steps, seed %llu\n",
           tg_version(), tg_real_name(), txt.vocab, (long long)o.layers, (long long)o.heads,
           (long long)o.embd, (long long)T, (long long)tg_params_numel(p), o.lr, (long long)B,
           (long long)o.steps, (unsigned long long)o.seed);
    printf("text: %s, %lld characters (training on the first %lld, held out: the rest)\n",
           o.data, (long long)txt.n, (long long)(txt.n * 9 / 10));
    gpt_run run = {t, m, opt, &txt, B, T, y + B * T, y + B * T + T};
    char_model model = gpt_model(&run);
    char_schedule sched = {B, T, o.steps, o.sample_every, o.sample_len, o.temperature};
    if (char_train(&model, &txt, &sched, &batches, &samples, x, y)) goto done;
    if (o.save) {
        if (tg_params_save(p, o.save, TG_F32) != TG_OK) {
            fprintf(stderr, "tiny_gpt: %s\n", tg_last_error());
            goto done;
        }
        printf("weights saved to %s (safetensors, F32: wte.weight, wpe.weight, h.0..., ln_f)\n",
               o.save);
    }
    rc = 0;
done:
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_params_free(p);
    free(m);
    free(x);
    char_text_free(&txt);
    return rc;
}

#endif
