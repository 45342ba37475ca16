/* The two language-model demos against PyTorch, step by step.

   tests/gen_golden_demos.py trains the same models in PyTorch from the same
   start (the initial weights and the batches drawn from tapegrad's RNG,
   re-implemented in Python) and writes every step's loss. Here the demos'
   own code (examples/char_lstm.c and examples/tiny_gpt.c, included without
   their main) trains from its seed, and each step's loss must agree:
   float within 1e-4 relative, double within 1e-9 (the figures of the MLP's
   parity test, tests/nn/test_parity_train.c). And the training loop
   allocates nothing after its first step. */
#define _POSIX_C_SOURCE 200809L
#define TG_EXAMPLE_NO_MAIN /* the examples' functions, without their main() */
#include "../../examples/char_lstm.c"
#include "../../examples/tiny_gpt.c"

#include <criterion/criterion.h>

#include "golden_train.h"

#ifdef TG_DOUBLE
#define TAG "f64"
#define LOSS_RTOL 1e-9
#else
#define TAG "f32"
#define LOSS_RTOL 1e-4
#endif

#define TEXT TG_SOURCE_DIR "/data/text/persuasion.txt"

/* Compares one step's loss and keeps the worst relative difference. */
static void expect_loss(const char *demo, int s, double got, double want, double *worst)
{
    double rel = fabs(got - want) / fabs(want);
    if (rel > *worst) *worst = rel;
    cr_expect(rel <= LOSS_RTOL, "%s step %d: loss %.17g, PyTorch %.17g (rel %.3g > %g)", demo, s,
              got, want, rel, LOSS_RTOL);
}

/* One training step of a demo on the batch x, y; its loss. */
typedef double (*demo_step)(void *ctx, const int64_t *x, const int64_t *y);

/* Trains a demo for the golden file's steps, each on the next batch of
   the text (the batches RNG, windows of the first 90%), comparing each
   loss with PyTorch's; and the tape t allocates nothing after the first
   step. x and y hold B·T ids each. */
static void expect_steps(const char *demo, const gtr_item *want, tg_tape *t, const char_text *txt,
                         tg_rng *batches, int64_t B, int64_t T, int64_t *x, int64_t *y,
                         demo_step step, void *ctx)
{
    size_t allocs = 0;
    double worst = 0;
    for (int s = 0; s < (int)want->n; s++) {
        if (s == 1) allocs = tg_tape_get_stats(t).heap_allocs;
        char_batch(txt, batches, 0, txt->n * 9 / 10, B, T, x, y);
        expect_loss(demo, s, step(ctx, x, y), want->v[s], &worst);
    }
    cr_expect_eq(tg_tape_get_stats(t).heap_allocs, allocs,
                 "%s: the tape allocated after the first step", demo);
    if (!getenv("TG_TEST_QUIET"))
        printf("%s %lld steps: worst loss rel diff %.2e\n", demo, (long long)want->n, worst);
}

/* Two samples from the same seed are the same text of n characters, each
   one of the text's. sample writes n characters to f from a seeded RNG. */
static void expect_samples(const char *demo, const char_text *txt, int n,
                           int (*sample)(void *ctx, tg_rng *r, int n, FILE *f), void *ctx)
{
    char text[2][64];
    cr_assert(n < 64);
    for (int k = 0; k < 2; k++) {
        tg_rng r;
        tg_rng_seed(&r, 7);
        FILE *mem = fmemopen(text[k], sizeof text[k], "w");
        cr_assert_eq(sample(ctx, &r, n, mem), TG_OK, "%s: the sampler failed", demo);
        fclose(mem);
        cr_expect_eq(strlen(text[k]), (size_t)n);
        for (int i = 0; i < n; i++)
            cr_expect(memchr(txt->chars, text[k][i], (size_t)txt->vocab) != NULL);
    }
    cr_expect_str_eq(text[0], text[1], "%s: the same seed gave two samples", demo);
}

typedef struct {
    tg_tape *t;
    const char_lstm *m;
    tg_optim *o;
    const char_text *txt;
    int64_t B, T;
    tg_real *state;
} lstm_ctx;

static double lstm_step(void *ctx, const int64_t *x, const int64_t *y)
{
    lstm_ctx *c = ctx;
    return char_lstm_step(c->t, c->m, c->o, c->B, c->T, x, y);
}

static int lstm_sample(void *ctx, tg_rng *r, int n, FILE *f)
{
    lstm_ctx *c = ctx;
    return char_lstm_sample(c->t, c->m, c->txt, char_id(c->txt, '\n'), n, 0.8, r, c->state, f);
}

Test(demo_parity, char_lstm)
{
    gtr_file *f = gtr_load("demo_char_lstm_" TAG ".txt");
    const gtr_group *g = gtr_find_group(f, "char_lstm");
    char_text txt;
    cr_assert_eq(char_text_load(&txt, TEXT), TG_OK, "cannot read %s", TEXT);
    cr_assert_eq(txt.vocab, (int)gtr_attr(g, "vocab"));
    int64_t B = (int64_t)gtr_attr(g, "batch"), T = (int64_t)gtr_attr(g, "seq");
    uint64_t seed = (uint64_t)gtr_attr(g, "seed");
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_rng init, batches;
    tg_rng_seed(&init, seed);
    tg_rng_seed(&batches, seed + 1);
    char_lstm m;
    cr_assert_eq(char_lstm_init(&m, p, txt.vocab, (int64_t)gtr_attr(g, "embed"),
                                (int64_t)gtr_attr(g, "hidden"), (int)gtr_attr(g, "layers"), &init),
                 TG_OK, "%s", tg_last_error());
    tg_adam_opts ao = tg_adam_defaults(gtr_attr(g, "lr"));
    tg_optim *o = tg_adam_new(p, &ao);
    cr_assert(o, "%s", tg_last_error());
    int64_t *x = malloc((size_t)(2 * B * T) * sizeof *x), *y = x + B * T;
    const gtr_item *want = gtr_item_of(g, "loss");
    tg_real *state = malloc((size_t)(2 * m.layers * m.hidden) * sizeof *state);
    lstm_ctx c = {t, &m, o, &txt, B, T, state};
    expect_steps("char_lstm", want, t, &txt, &batches, B, T, x, y, lstm_step, &c);

    /* the held-out loss is finite and near the training loss; a sample
       from the same seed is the same text, made of the text's characters */
    double val = char_lstm_eval(t, &m, &txt, txt.n * 9 / 10, B, T, 2, x, y);
    cr_expect(isfinite(val) && fabs(val - want->v[want->n - 1]) < 1, "held-out loss %g", val);
    expect_samples("char_lstm", &txt, 40, lstm_sample, &c);
    free(state);
    free(x);
    tg_optim_free(o);
    tg_tape_free(t);
    tg_params_free(p);
    char_text_free(&txt);
    gtr_free(f);
}

typedef struct {
    tg_tape *t;
    const gpt *m;
    tg_optim *o;
    const char_text *txt;
    int64_t B, T;
    int64_t *pos, *ctx;
} gpt_ctx;

static double gpt_train_step(void *ctx, const int64_t *x, const int64_t *y)
{
    gpt_ctx *c = ctx;
    return gpt_step(c->t, c->m, c->o, c->B, c->T, x, y, c->pos);
}

static int gpt_sample_n(void *ctx, tg_rng *r, int n, FILE *f)
{
    gpt_ctx *c = ctx;
    return gpt_sample(c->t, c->m, c->txt, char_id(c->txt, '\n'), n, 0.8, r, c->ctx, c->pos, f);
}

Test(demo_parity, tiny_gpt)
{
    gtr_file *f = gtr_load("demo_tiny_gpt_" TAG ".txt");
    const gtr_group *g = gtr_find_group(f, "tiny_gpt");
    char_text txt;
    cr_assert_eq(char_text_load(&txt, TEXT), TG_OK, "cannot read %s", TEXT);
    cr_assert_eq(txt.vocab, (int)gtr_attr(g, "vocab"));
    int64_t B = (int64_t)gtr_attr(g, "batch"), T = (int64_t)gtr_attr(g, "block");
    uint64_t seed = (uint64_t)gtr_attr(g, "seed");
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_rng init, batches;
    tg_rng_seed(&init, seed);
    tg_rng_seed(&batches, seed + 1);
    gpt *m = malloc(sizeof *m);
    cr_assert_eq(gpt_init(m, p, txt.vocab, T, (int64_t)gtr_attr(g, "embd"),
                          (int64_t)gtr_attr(g, "heads"), (int)gtr_attr(g, "layers"), &init),
                 TG_OK, "%s", tg_last_error());
    tg_adam_opts ao = tg_adam_defaults(gtr_attr(g, "lr"));
    tg_optim *o = tg_adam_new(p, &ao);
    cr_assert(o, "%s", tg_last_error());
    int64_t *x = malloc((size_t)(2 * B * T + 2 * T) * sizeof *x), *y = x + B * T;
    gpt_ctx c = {t, m, o, &txt, B, T, y + B * T, y + B * T + T};
    const gtr_item *want = gtr_item_of(g, "loss");
    expect_steps("tiny_gpt", want, t, &txt, &batches, B, T, x, y, gpt_train_step, &c);

    double val = gpt_eval(t, m, &txt, txt.n * 9 / 10, B, T, 2, x, y, c.pos);
    cr_expect(isfinite(val) && fabs(val - want->v[want->n - 1]) < 1, "held-out loss %g", val);
    /* longer than the context: the sampler slides its window */
    cr_assert_lt(T, 40);
    expect_samples("tiny_gpt", &txt, 40, gpt_sample_n, &c);
    free(x);
    free(m);
    tg_optim_free(o);
    tg_tape_free(t);
    tg_params_free(p);
    char_text_free(&txt);
    gtr_free(f);
}
