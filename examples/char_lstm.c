/* char_lstm: a character-level language model, an LSTM that learns to
   write like Jane Austen one character at a time.

     ./build/examples/char_lstm                     Persuasion, 2000 steps, samples as it trains
     ./build/examples/char_lstm --hidden 512 --layers 2 --steps 5000
     ./build/examples/char_lstm --data my.txt --temperature 0.6

   The model of Karpathy's min-char-rnn and KANN's text generator, with an
   LSTM: each character (a byte of the text) is looked up in an embedding
   table, the LSTM reads the sequence, and a linear layer gives the logits
   of the next character. Training: windows of --seq characters at random
   places of the first 90% of the text (--batch of them per step, drawn
   from tapegrad's RNG), the cross entropy of every next character (mean),
   Adam. Every --sample-every steps it prints the loss on windows of the
   last 10% (held out) and a sample of text drawn with temperature.

   PyTorch gets the same loss curve from the same start: the weights come
   from tapegrad's seeded RNG (nn.Embedding's, nn.LSTM's and nn.Linear's
   initialisations) and so do the batches, and tests/gen_golden_demos.py
   does both again in Python, step for step (tests/nn/test_demo_parity.c
   compares). The training loop allocates nothing after its first step.

   The text by default: data/text/persuasion.txt (public domain, see
   data/text/README.md). */
#define _POSIX_C_SOURCE 200809L
#include <tapegrad.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "char_text.h" /* the text, its batches, sampling, the training run */

/* ----------------------------------------------------------- the model */

typedef struct char_lstm {
    tg_embedding_layer emb; /* "emb.weight" [vocab, embed] */
    tg_recurrent lstm;      /* "lstm.weight_ih_l0" ... batch_first */
    tg_linear_layer head;   /* "head.weight" [vocab, hidden], "head.bias" */
    int64_t vocab, embed, hidden;
    int layers;
} char_lstm;

/* Registers and initialises the model as PyTorch would (nn.Embedding
   N(0, 1), nn.LSTM U(−1/√H, 1/√H), nn.Linear's default), drawing from r
   in that order. */
static int char_lstm_init(char_lstm *m, tg_params *p, int64_t vocab, int64_t embed,
                          int64_t hidden, int layers, tg_rng *r)
{
    *m = (char_lstm){.vocab = vocab, .embed = embed, .hidden = hidden, .layers = layers};
    tg_rnn_opts o = tg_rnn_defaults();
    o.num_layers = layers;
    o.batch_first = true;
    int st = tg_embedding_layer_init(&m->emb, p, "emb", vocab, embed, TG_PADDING_IDX_NONE, r);
    if (st == TG_OK) st = tg_recurrent_init(&m->lstm, p, "lstm", TG_RNN_LSTM, embed, hidden, &o, r);
    if (st == TG_OK) st = tg_linear_layer_init(&m->head, p, "head", hidden, vocab, true, r);
    return st;
}

/* The logits [B, T, vocab] of the characters after x [B, T]; h0 and c0
   ([layers, B, hidden]) may be NULL (zeros), h_n and c_n receive the
   final states (may be NULL). */
static tg_tensor *char_lstm_logits(tg_tape *t, const char_lstm *m, const tg_index *x,
                                   tg_tensor *h0, tg_tensor *c0, tg_tensor **h_n,
                                   tg_tensor **c_n)
{
    tg_tensor *e = tg_embedding_layer_forward(t, &m->emb, x); /* [B, T, embed] */
    tg_tensor *h = tg_recurrent_forward(t, &m->lstm, e, h0, c0, h_n, c_n);
    return tg_linear_layer_forward(t, &m->head, h);
}

/* The mean cross entropy of predicting y [B, T] from x [B, T]. */
static tg_tensor *char_lstm_loss(tg_tape *t, const char_lstm *m, const tg_index *x,
                                 const tg_index *y)
{
    tg_tensor *logits = char_lstm_logits(t, m, x, NULL, NULL, NULL, NULL);
    if (!logits) return NULL;
    tg_tensor *flat = tg_reshape(t, logits, TG_SHAPE(-1, m->vocab)); /* [B·T, vocab] */
    return tg_cross_entropy_idx(t, flat, y, NULL);
}

/* One training step on x, y ([B, T] each, read in place): forward,
   backward, Adam, the tape reset. Returns the loss, NAN on failure (the
   message on stderr). */
static double char_lstm_step(tg_tape *t, const char_lstm *m, tg_optim *o, int64_t B, int64_t T,
                             const int64_t *x, const int64_t *y)
{
    tg_tensor *loss = char_lstm_loss(t, m, tg_index_wrap(t, TG_SHAPE(B, T), x),
                                     tg_index_wrap(t, TG_SHAPE(B * T), y));
    if (!loss || tg_backward(t, loss) != TG_OK || tg_optim_step_release_grad(o) != TG_OK) {
        fprintf(stderr, "char_lstm: %s%s\n", tg_tape_error(t), loss ? tg_last_error() : "");
        tg_tape_reset(t);
        return NAN;
    }
    double l = (double)loss->data[0];
    tg_tape_reset(t);
    return l;
}

/* Writes n characters sampled from the model, one step of the LSTM at a
   time with its states carried over, starting after `first`. Recording
   is off; the tape is reset after each step. state: 2·layers·hidden
   reals of scratch. */
static int char_lstm_sample(tg_tape *t, const char_lstm *m, const char_text *txt, int first,
                            int64_t n, double temperature, tg_rng *r, tg_real *state, FILE *f)
{
    bool was = tg_tape_set_recording(t, false);
    int64_t LH = m->layers * m->hidden, id = first;
    memset(state, 0, 2 * (size_t)LH * sizeof *state);
    int st = TG_OK;
    for (int64_t i = 0; i < n && st == TG_OK; i++) {
        tg_tensor *hn, *cn;
        tg_tensor *h0 = tg_tensor_wrap(t, TG_SHAPE(m->layers, 1, m->hidden), state);
        tg_tensor *c0 = tg_tensor_wrap(t, TG_SHAPE(m->layers, 1, m->hidden), state + LH);
        tg_tensor *logits = char_lstm_logits(t, m, tg_index_wrap(t, TG_SHAPE(1, 1), &id), h0, c0,
                                             &hn, &cn);
        if (!logits || !hn || !cn) {
            st = TG_ERR_INVALID;
            fprintf(stderr, "char_lstm: %s\n", tg_tape_error(t));
            break;
        }
        memcpy(state, hn->data, (size_t)LH * sizeof *state);
        memcpy(state + LH, cn->data, (size_t)LH * sizeof *state);
        id = sample_id(logits->data, (int)m->vocab, temperature, r);
        fputc(txt->chars[id], f);
        tg_tape_reset(t);
    }
    tg_tape_set_recording(t, was);
    return st;
}

/* The mean loss over `n` batches of held-out windows (their own RNG,
   seeded the same each time, so every evaluation sees the same windows). */
static double char_lstm_eval(tg_tape *t, const char_lstm *m, const char_text *txt, int64_t lo,
                             int64_t B, int64_t T, int n, int64_t *x, int64_t *y)
{
    bool was = tg_tape_set_recording(t, false);
    tg_rng r;
    tg_rng_seed(&r, 12345);
    double sum = 0;
    for (int k = 0; k < n; k++) {
        char_batch(txt, &r, lo, txt->n, B, T, x, y);
        tg_tensor *l = char_lstm_loss(t, m, tg_index_wrap(t, TG_SHAPE(B, T), x),
                                      tg_index_wrap(t, TG_SHAPE(B * T), y));
        sum += l ? (double)l->data[0] : NAN;
        tg_tape_reset(t);
    }
    tg_tape_set_recording(t, was);
    return sum / n;
}

/* The model, its optimizer and room for the sampler, behind the three
   calls of char_model (char_text.h's training run). */
typedef struct char_lstm_run {
    tg_tape *t;
    const char_lstm *m;
    tg_optim *o;
    const char_text *txt;
    int64_t B, T;
    tg_real *state; /* 2·layers·hidden reals */
} char_lstm_run;

static double char_lstm_run_step(void *ctx, const int64_t *x, const int64_t *y)
{
    const char_lstm_run *c = ctx;
    return char_lstm_step(c->t, c->m, c->o, c->B, c->T, x, y);
}

static double char_lstm_run_eval(void *ctx, int64_t *x, int64_t *y)
{
    const char_lstm_run *c = ctx;
    return char_lstm_eval(c->t, c->m, c->txt, c->txt->n * 9 / 10, c->B, c->T, 4, x, y);
}

static int char_lstm_run_sample(void *ctx, int64_t n, double temperature, tg_rng *r, FILE *f)
{
    const char_lstm_run *c = ctx;
    return char_lstm_sample(c->t, c->m, c->txt, char_id(c->txt, '\n'), n, temperature, r,
                            c->state, f);
}

/* The model of a char_lstm_run. */
static char_model char_lstm_model(char_lstm_run *c)
{
    return (char_model){c, char_lstm_run_step, char_lstm_run_eval, char_lstm_run_sample};
}

#ifndef TG_EXAMPLE_NO_MAIN /* the parity test and the benchmark include the code above */

typedef struct options {
    const char *data, *save;
    int64_t hidden, embed, seq, batch, steps, sample_every, sample_len, layers, threads, seed;
    double lr, temperature;
} options;

static const char USAGE[] =
    "usage: char_lstm [options]\n"
    "A character-level LSTM language model trained on a text, printing samples as it learns.\n"
    "  --data FILE          the text (default: " TG_EXAMPLE_DATA_DIR "/text/persuasion.txt)\n"
    "  --hidden N           LSTM hidden size (256)\n"
    "  --layers N           LSTM layers (1)\n"
    "  --embed N            embedding size (64)\n"
    "  --seq N              characters per training window (64)\n"
    "  --batch N            windows per step (32)\n"
    "  --steps N            training steps (2000)\n"
    "  --lr X               Adam's learning rate (0.002)\n"
    "  --seed N             of the weights, the batches and the samples (1)\n"
    "  --sample-every N     steps between samples and held-out losses (250; 0: never)\n"
    "  --sample-len N       characters per sample (300)\n"
    "  --temperature X      of the samples: lower is more conservative (0.8)\n"
    "  --threads N          threads for matrix products (default: the library's)\n"
    "  --save FILE          write the trained weights as safetensors (F32)\n"
    "  --help               this text\n";

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.data = TG_EXAMPLE_DATA_DIR "/text/persuasion.txt", .hidden = 256,
                   .embed = 64, .seq = 64, .batch = 32, .steps = 2000, .sample_every = 250,
                   .sample_len = 300, .layers = 1, .lr = 0.002, .temperature = 0.8, .seed = 1};
    const char_opt opts[] = {
        {"--data", 's', &o->data, 0, 0},
        {"--save", 's', &o->save, 0, 0},
        {"--hidden", 'i', &o->hidden, 1, 1 << 16},
        {"--embed", 'i', &o->embed, 1, 1 << 16},
        {"--seq", 'i', &o->seq, 1, 1 << 20},
        {"--batch", 'i', &o->batch, 1, 1 << 20},
        {"--steps", 'i', &o->steps, 0, INT64_MAX},
        {"--sample-every", 'i', &o->sample_every, 0, INT64_MAX},
        {"--sample-len", 'i', &o->sample_len, 0, 1 << 24},
        {"--layers", 'i', &o->layers, 1, TG_RNN_MAX_LAYERS},
        {"--threads", 'i', &o->threads, 1, 64},
        {"--seed", 'i', &o->seed, 0, INT64_MAX},
        {"--lr", 'x', &o->lr, 0, 0},
        {"--temperature", 'x', &o->temperature, 0, 0},
    };
    return char_parse_args("char_lstm", USAGE, argc, argv, opts, sizeof opts / sizeof *opts);
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    char_text txt;
    if (!char_text_open("char_lstm", &txt, o.data, o.seq)) return 1;
    int64_t B = o.batch, T = o.seq;
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    int64_t *x = malloc((size_t)(2 * B * T) * sizeof *x), *y = x ? x + B * T : NULL;
    tg_real *state = malloc((size_t)(2 * o.layers * o.hidden) * sizeof *state);
    tg_rng init, batches, samples;
    tg_rng_seed(&init, (uint64_t)o.seed);
    tg_rng_seed(&batches, (uint64_t)o.seed + 1);
    tg_rng_seed(&samples, (uint64_t)o.seed + 2);
    char_lstm m;
    tg_optim *opt = NULL;
    rc = 1;
    if (!p || !t || !x || !state) {
        fprintf(stderr, "char_lstm: out of memory\n");
        goto done;
    }
    tg_adam_opts ao = tg_adam_defaults(o.lr);
    if (char_lstm_init(&m, p, txt.vocab, o.embed, o.hidden, (int)o.layers, &init) != TG_OK ||
        (o.threads && tg_set_num_threads((int)o.threads) != TG_OK) || !(opt = tg_adam_new(p, &ao))) {
        fprintf(stderr, "char_lstm: %s\n", tg_last_error());
        goto done;
    }
    printf("tapegrad %s (%s): char-level LSTM, vocab %d, embed %lld, hidden %lld x %d layer%s, "
           "%lld parameters; Adam lr %g, batch %lld x %lld chars, %lld steps, seed %llu\n",
           tg_version(), tg_real_name(), txt.vocab, (long long)o.embed, (long long)o.hidden,
           (int)o.layers, o.layers == 1 ? "" : "s", (long long)tg_params_numel(p), o.lr, (long long)B,
           (long long)T, (long long)o.steps, (unsigned long long)o.seed);
    printf("text: %s, %lld characters (training on the first %lld, held out: the rest)\n",
           o.data, (long long)txt.n, (long long)(txt.n * 9 / 10));
    char_lstm_run run = {t, &m, opt, &txt, B, T, state};
    char_model model = char_lstm_model(&run);
    char_schedule sched = {B, T, o.steps, o.sample_every, o.sample_len, o.temperature};
    if (char_train(&model, &txt, &sched, &batches, &samples, x, y)) goto done;
    if (o.save) {
        if (tg_params_save(p, o.save, TG_F32) != TG_OK) {
            fprintf(stderr, "char_lstm: %s\n", tg_last_error());
            goto done;
        }
        printf("weights saved to %s (safetensors, F32: emb.weight, lstm.weight_ih_l0, ..., "
               "head.bias)\n",
               o.save);
    }
    rc = 0;
done:
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_params_free(p);
    free(x);
    free(state);
    char_text_free(&txt);
    return rc;
}

#endif
