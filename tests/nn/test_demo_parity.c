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
    int64_t split = txt.n * 9 / 10;
    size_t allocs = 0;
    double worst = 0;
    for (int s = 0; s < (int)want->n; s++) {
        if (s == 1) allocs = tg_tape_get_stats(t).heap_allocs;
        char_batch(&txt, &batches, 0, split, B, T, x, y);
        double l = char_lstm_step(t, &m, o, B, T, x, y);
        expect_loss("char_lstm", s, l, want->v[s], &worst);
    }
    cr_expect_eq(tg_tape_get_stats(t).heap_allocs, allocs,
                 "char_lstm: the tape allocated after the first step");
    if (!getenv("TG_TEST_QUIET"))
        printf("char_lstm %lld steps: worst loss rel diff %.2e\n", (long long)want->n, worst);

    /* the held-out loss is finite and near the training loss; a sample
       from the same seed is the same text, made of the text's characters */
    double val = char_lstm_eval(t, &m, &txt, split, B, T, 2, x, y);
    cr_expect(isfinite(val) && fabs(val - want->v[want->n - 1]) < 1, "held-out loss %g", val);
    char text[2][64];
    tg_real *state = malloc((size_t)(2 * m.layers * m.hidden) * sizeof *state);
    for (int k = 0; k < 2; k++) {
        tg_rng r;
        tg_rng_seed(&r, 7);
        FILE *mem = fmemopen(text[k], sizeof text[k], "w");
        cr_assert_eq(char_lstm_sample(t, &m, &txt, char_id(&txt, '\n'), 40, 0.8, &r, state, mem),
                     TG_OK);
        fclose(mem);
        cr_expect_eq(strlen(text[k]), 40);
        for (int i = 0; i < 40; i++)
            cr_expect(memchr(txt.chars, text[k][i], (size_t)txt.vocab) != NULL);
    }
    cr_expect_str_eq(text[0], text[1], "the same seed gave two samples");
    free(state);
    free(x);
    tg_optim_free(o);
    tg_tape_free(t);
    tg_params_free(p);
    char_text_free(&txt);
    gtr_free(f);
}
