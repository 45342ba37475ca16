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

/* Trains a demo's model for the golden file's steps, each on the next
   batch of the text (the batches RNG, windows of the first 90%), comparing
   each loss with PyTorch's; and the tape t allocates nothing after the
   first step. x and y hold B·T ids each. */
static void expect_steps(const char *demo, const gtr_item *want, tg_tape *t, const char_text *txt,
                         tg_rng *batches, int64_t B, int64_t T, int64_t *x, int64_t *y,
                         const char_model *m)
{
    size_t allocs = 0;
    double worst = 0;
    for (int s = 0; s < (int)want->n; s++) {
        if (s == 1) allocs = tg_tape_get_stats(t).heap_allocs;
        char_batch(txt, batches, 0, txt->n * 9 / 10, B, T, x, y);
        expect_loss(demo, s, m->step(m->ctx, x, y), want->v[s], &worst);
    }
    cr_expect_eq(tg_tape_get_stats(t).heap_allocs, allocs,
                 "%s: the tape allocated after the first step", demo);
    if (!getenv("TG_TEST_QUIET"))
        printf("%s %lld steps: worst loss rel diff %.2e\n", demo, (long long)want->n, worst);
}

/* After training: the held-out loss is finite and within 1 of the last
   training loss; two samples of n characters from the same seed are the
   same text, each character one of the text's. */
static void expect_eval_and_samples(const char *demo, const char_text *txt, const char_model *m,
                                    double last_loss, int64_t *x, int64_t *y, int n)
{
    double val = m->eval(m->ctx, x, y);
    cr_expect(isfinite(val) && fabs(val - last_loss) < 1, "%s: held-out loss %g", demo, val);
    char text[2][64];
    cr_assert(n < 64);
    for (int k = 0; k < 2; k++) {
        tg_rng r;
        tg_rng_seed(&r, 7);
        FILE *mem = fmemopen(text[k], sizeof text[k], "w");
        cr_assert_eq(m->sample(m->ctx, n, 0.8, &r, mem), TG_OK, "%s: the sampler failed", demo);
        fclose(mem);
        cr_expect_eq(strlen(text[k]), (size_t)n);
        for (int i = 0; i < n; i++)
            cr_expect(memchr(txt->chars, text[k][i], (size_t)txt->vocab) != NULL);
    }
    cr_expect_str_eq(text[0], text[1], "%s: the same seed gave two samples", demo);
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
    char_lstm_run run = {t, &m, o, &txt, B, T, state};
    char_model model = char_lstm_model(&run);
    expect_steps("char_lstm", want, t, &txt, &batches, B, T, x, y, &model);
    expect_eval_and_samples("char_lstm", &txt, &model, want->v[want->n - 1], x, y, 40);
    free(state);
    free(x);
    tg_optim_free(o);
    tg_tape_free(t);
    tg_params_free(p);
    char_text_free(&txt);
    gtr_free(f);
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
    gpt_run run = {t, m, o, &txt, B, T, y + B * T, y + B * T + T};
    char_model model = gpt_model(&run);
    const gtr_item *want = gtr_item_of(g, "loss");
    expect_steps("tiny_gpt", want, t, &txt, &batches, B, T, x, y, &model);
    /* 40 characters: longer than the context, so the sampler slides it */
    cr_assert_lt(T, 40);
    expect_eval_and_samples("tiny_gpt", &txt, &model, want->v[want->n - 1], x, y, 40);
    free(x);
    free(m);
    tg_optim_free(o);
    tg_tape_free(t);
    tg_params_free(p);
    char_text_free(&txt);
    gtr_free(f);
}
