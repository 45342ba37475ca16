/* bench_tiny_gpt: training steps of examples/tiny_gpt.c, timed.

   The demo's own model and step (4 blocks of 4 heads, width 128, context
   64 by default; mean cross entropy; Adam lr 0.001) on batches of 32
   windows of data/text/persuasion.txt. bench/torch_lm.py --model tiny_gpt
   does the same in PyTorch. Prints ms per step and characters per second,
   and the tape's heap allocations while timed (none expected).

   usage: bench_tiny_gpt [--layers N] [--heads N] [--embd N] [--block N] [--batch N]
                         [--steps N] [--warmup N] [--threads T] [--gemm builtin|cblas]
                         [--data FILE] [--csv] */
#define _POSIX_C_SOURCE 200809L
#define TG_EXAMPLE_NO_MAIN
#include "../../examples/tiny_gpt.c"

#include "lm_bench.h"

int main(int argc, char **argv)
{
    lm_bench_opts o = {.data = TG_EXAMPLE_DATA_DIR "/text/persuasion.txt", .steps = 10,
                       .warmup = 2, .batch = 32, .seq = 64, .threads = 1};
    int64_t layers = 4, heads = 4, embd = 128;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = lm_bench_option(argc, argv, &i, &o);
        if (!ok && !strcmp(argv[i], "--layers"))
            ok = parse_i64(v, 1, GPT_MAX_LAYERS, &layers) && ++i;
        else if (!ok && !strcmp(argv[i], "--heads")) ok = parse_i64(v, 1, 1 << 10, &heads) && ++i;
        else if (!ok && !strcmp(argv[i], "--embd")) ok = parse_i64(v, 1, 1 << 16, &embd) && ++i;
        else if (!ok && !strcmp(argv[i], "--block")) ok = parse_i64(v, 1, 1 << 16, &o.seq) && ++i;
        if (!ok || embd % heads) {
            fprintf(stderr, "usage: bench_tiny_gpt [--layers N] [--heads N] [--embd N (a multiple "
                            "of heads)] [--block N] [--batch N] [--steps N] [--warmup N] "
                            "[--threads T] [--gemm builtin|cblas] [--data FILE] [--csv]\n");
            return 2;
        }
    }
    char_text txt;
    if (char_text_load(&txt, o.data) != TG_OK || txt.n * 9 / 10 < o.seq + 2) {
        fprintf(stderr, "bench_tiny_gpt: cannot read %s, or too short\n", o.data);
        return 1;
    }
    if ((o.gemm && tg_gemm_set_backend(o.gemm) != TG_OK) || tg_set_num_threads(o.threads)) {
        fprintf(stderr, "bench_tiny_gpt: %s\n", tg_last_error());
        return 2;
    }
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_rng init;
    tg_rng_seed(&init, 1);
    gpt *m = malloc(sizeof *m);
    tg_adam_opts ao = tg_adam_defaults(0.001);
    tg_optim *opt = NULL;
    int64_t B = o.batch, T = o.seq, *x = malloc((size_t)(2 * B * T + T) * sizeof *x);
    int rc = 1;
    if (!p || !t || !x || !m || gpt_init(m, p, txt.vocab, T, embd, heads, (int)layers, &init) ||
        !(opt = tg_adam_new(p, &ao))) {
        fprintf(stderr, "bench_tiny_gpt: %s\n", tg_last_error());
    } else {
        char shape[128];
        snprintf(shape, sizeof shape, "layers %lld heads %lld embd %lld block %lld batch %lld",
                 (long long)layers, (long long)heads, (long long)embd, (long long)T, (long long)B);
        gpt_run run = {t, m, opt, &txt, B, T, x + 2 * B * T, NULL};
        char_model model = gpt_model(&run);
        rc = lm_bench_run("tiny_gpt", shape, &o, &txt, t, &model, x, x + B * T);
    }
    free(x);
    free(m);
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_params_free(p);
    char_text_free(&txt);
    return rc;
}
