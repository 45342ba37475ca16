/* The timing loop shared by bench_char_lstm.c and bench_tiny_gpt.c: the
   demos' own training step (examples/, included without their main) on
   windows of Persuasion, a few warm-up steps, then --steps timed steps.
   bench/torch_lm.py does the same in PyTorch, same shapes. */
#ifndef TG_BENCH_LM_H
#define TG_BENCH_LM_H

#include "../../examples/char_text.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct lm_bench_opts {
    const char *data;       /* the text */
    const char *gemm;       /* "builtin", "cblas" or NULL (the library's choice) */
    int64_t steps, warmup;  /* timed steps and untimed ones before them */
    int64_t batch, seq;     /* B windows of T characters */
    int threads;
    bool csv;
} lm_bench_opts;

/* Times o->steps steps of m after o->warmup, on batches of the first 90% of
   txt from tapegrad's RNG (seed 2), and prints milliseconds per step,
   characters per second, the tape's heap allocations during the timed
   steps (none expected) and the mean loss; as one CSV line
   `name,tapegrad,threads,ms_per_step,chars_per_s,allocs,mean_loss,shape`
   with o->csv. Returns 0, or 1 if a step failed. */
static inline int lm_bench_run(const char *name, const char *shape, const lm_bench_opts *o,
                               const char_text *txt, tg_tape *t, const char_model *m,
                               int64_t *x, int64_t *y)
{
    tg_rng r;
    tg_rng_seed(&r, 2);
    int64_t split = txt->n * 9 / 10, B = o->batch, T = o->seq;
    for (int64_t s = 0; s < o->warmup; s++) {
        char_batch(txt, &r, 0, split, B, T, x, y);
        if (isnan(m->step(m->ctx, x, y))) return 1;
    }
    size_t allocs0 = tg_tape_get_stats(t).heap_allocs;
    double loss = 0, t0 = now();
    for (int64_t s = 0; s < o->steps; s++) {
        char_batch(txt, &r, 0, split, B, T, x, y);
        double l = m->step(m->ctx, x, y);
        if (isnan(l)) return 1;
        loss += l;
    }
    double secs = now() - t0, ms = 1e3 * secs / (double)o->steps;
    double chars = (double)(o->steps * B * T) / secs;
    size_t allocs = tg_tape_get_stats(t).heap_allocs - allocs0;
    if (o->csv)
        printf("%s,tapegrad,%d,%.3f,%.0f,%zu,%.4f,%s\n", name, tg_get_num_threads(), ms, chars,
               allocs, loss / (double)o->steps, shape);
    else
        printf("%s (%s): %s, GEMM %s, %d thread(s): %.2f ms/step, %.0f chars/s over %lld steps "
               "(after %lld warm-up); tape heap allocations while timed: %zu; mean loss %.4f\n",
               name, shape, tg_real_name(), tg_gemm_backend(), tg_get_num_threads(), ms, chars,
               (long long)o->steps, (long long)o->warmup, allocs, loss / (double)o->steps);
    return 0;
}

/* Parses the options both benchmarks share (one at argv[*i], its value
   after it); false if argv[*i] is not one of them or its value is bad. */
static inline bool lm_bench_option(int argc, char **argv, int *i, lm_bench_opts *o)
{
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    int64_t n = 0;
    bool ok;
    if (!strcmp(a, "--csv")) return o->csv = true;
    if (!strcmp(a, "--data")) ok = (o->data = v) != NULL;
    else if (!strcmp(a, "--gemm")) ok = (o->gemm = v) != NULL;
    else if (!strcmp(a, "--steps")) ok = parse_i64(v, 1, 1 << 30, &o->steps);
    else if (!strcmp(a, "--warmup")) ok = parse_i64(v, 0, 1 << 30, &o->warmup);
    else if (!strcmp(a, "--batch")) ok = parse_i64(v, 1, 1 << 20, &o->batch);
    else if (!strcmp(a, "--threads")) ok = parse_i64(v, 1, 64, &n) && (o->threads = (int)n);
    else return false;
    if (ok) (*i)++;
    return ok;
}

#endif
