/* bench_char_lstm: training steps of examples/char_lstm.c, timed.

   The demo's own model and step (embedding 64, a 1-layer LSTM of --hidden
   units, a linear head; mean cross entropy; Adam lr 0.002) on batches of
   32 windows of 64 characters of data/text/persuasion.txt. bench/torch_lm.py
   --model char_lstm does the same in PyTorch. Prints ms per step and
   characters per second, and the tape's heap allocations while timed
   (none expected).

   usage: bench_char_lstm [--hidden N] [--embed N] [--seq N] [--layers N] [--batch N]
                          [--steps N] [--warmup N] [--threads T] [--gemm builtin|cblas]
                          [--data FILE] [--csv] */
#define _POSIX_C_SOURCE 200809L
#define TG_EXAMPLE_NO_MAIN
#include "../../examples/char_lstm.c"

#include "lm_bench.h"

int main(int argc, char **argv)
{
    lm_bench_opts o = {.data = TG_EXAMPLE_DATA_DIR "/text/persuasion.txt", .steps = 20,
                       .warmup = 3, .batch = 32, .seq = 64, .threads = 1};
    int64_t hidden = 256, embed = 64, layers = 1;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = lm_bench_option(argc, argv, &i, &o);
        if (!ok && !strcmp(argv[i], "--hidden")) ok = parse_i64(v, 1, 1 << 16, &hidden) && ++i;
        else if (!ok && !strcmp(argv[i], "--embed")) ok = parse_i64(v, 1, 1 << 16, &embed) && ++i;
        else if (!ok && !strcmp(argv[i], "--seq")) ok = parse_i64(v, 1, 1 << 20, &o.seq) && ++i;
        else if (!ok && !strcmp(argv[i], "--layers"))
            ok = parse_i64(v, 1, TG_RNN_MAX_LAYERS, &layers) && ++i;
        if (!ok) {
            fprintf(stderr, "usage: bench_char_lstm [--hidden N] [--embed N] [--seq N] "
                            "[--layers N] [--batch N] [--steps N] [--warmup N] [--threads T] "
                            "[--gemm builtin|cblas] [--data FILE] [--csv]\n");
            return 2;
        }
    }
    char_text txt;
    if (char_text_load(&txt, o.data) != TG_OK || txt.n * 9 / 10 < o.seq + 2) {
        fprintf(stderr, "bench_char_lstm: cannot read %s, or too short\n", o.data);
        return 1;
    }
    if ((o.gemm && tg_gemm_set_backend(o.gemm) != TG_OK) || tg_set_num_threads(o.threads)) {
        fprintf(stderr, "bench_char_lstm: %s\n", tg_last_error());
        return 2;
    }
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_rng init;
    tg_rng_seed(&init, 1);
    char_lstm m;
    tg_adam_opts ao = tg_adam_defaults(0.002);
    tg_optim *opt = NULL;
    int64_t *x = malloc((size_t)(2 * o.batch * o.seq) * sizeof *x);
    int rc = 1;
    if (!p || !t || !x || char_lstm_init(&m, p, txt.vocab, embed, hidden, (int)layers, &init) ||
        !(opt = tg_adam_new(p, &ao))) {
        fprintf(stderr, "bench_char_lstm: %s\n", tg_last_error());
    } else {
        char shape[128];
        snprintf(shape, sizeof shape, "hidden %lld embed %lld layers %lld batch %lld seq %lld",
                 (long long)hidden, (long long)embed, (long long)layers, (long long)o.batch,
                 (long long)o.seq);
        char_lstm_run run = {t, &m, opt, &txt, o.batch, o.seq, NULL};
        char_model model = char_lstm_model(&run);
        rc = lm_bench_run("char_lstm", shape, &o, &txt, t, &model, x, x + o.batch * o.seq);
    }
    free(x);
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_params_free(p);
    char_text_free(&txt);
    return rc;
}
