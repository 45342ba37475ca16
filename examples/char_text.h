/* The text and the helpers of the two character-level demos,
   examples/char_lstm.c and examples/tiny_gpt.c: a text as character ids,
   batches of random windows drawn from tapegrad's RNG, temperature
   sampling, the option parsers, and the training run with its progress
   bar, held-out losses and samples. Header-only (static inline), included
   by both. */
#ifndef TG_EXAMPLE_CHAR_TEXT_H
#define TG_EXAMPLE_CHAR_TEXT_H

#include <tapegrad.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef TG_EXAMPLE_DATA_DIR
#define TG_EXAMPLE_DATA_DIR "data"
#endif

/* A text as a sequence of character ids: the distinct bytes, sorted, are
   the vocabulary. */
typedef struct char_text {
    int64_t n;             /* characters */
    int64_t *ids;          /* [n], each in [0, vocab) */
    int vocab;             /* distinct bytes */
    unsigned char chars[256]; /* id -> byte */
} char_text;

/* Reads a whole file into t: TG_OK, TG_ERR_IO (it cannot be read),
   TG_ERR_FORMAT (fewer than 2 characters) or TG_ERR_NOMEM. */
static inline int char_text_load(char_text *t, const char *path)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "rb");
    if (!f) return TG_ERR_IO;
    unsigned char buf[1 << 16], *bytes = NULL;
    int64_t cap = 0;
    size_t got;
    int st = TG_OK;
    while (st == TG_OK && (got = fread(buf, 1, sizeof buf, f)) > 0) {
        if (t->n + (int64_t)got > cap) {
            cap = 2 * (t->n + (int64_t)got);
            unsigned char *nb = realloc(bytes, (size_t)cap);
            if (!nb) st = TG_ERR_NOMEM;
            else bytes = nb;
        }
        if (st == TG_OK) memcpy(bytes + t->n, buf, got), t->n += (int64_t)got;
    }
    if (st == TG_OK && ferror(f)) st = TG_ERR_IO;
    fclose(f);
    if (st == TG_OK && t->n < 2) st = TG_ERR_FORMAT;
    int id_of[256];
    bool seen[256] = {false};
    for (int64_t i = 0; st == TG_OK && i < t->n; i++) seen[bytes[i]] = true;
    for (int c = 0; c < 256; c++)
        if (seen[c]) {
            id_of[c] = t->vocab;
            t->chars[t->vocab++] = (unsigned char)c;
        }
    if (st == TG_OK && !(t->ids = malloc((size_t)t->n * sizeof *t->ids))) st = TG_ERR_NOMEM;
    for (int64_t i = 0; st == TG_OK && i < t->n; i++) t->ids[i] = id_of[bytes[i]];
    free(bytes);
    return st;
}

/* The id of byte c, or 0 if the text has none. */
static inline int char_id(const char_text *t, unsigned char c)
{
    for (int k = 0; k < t->vocab; k++)
        if (t->chars[k] == c) return k;
    return 0;
}

static inline void char_text_free(char_text *t)
{
    free(t->ids);
    memset(t, 0, sizeof *t);
}

/* A batch of B windows of T + 1 characters starting at random places in
   [lo, hi − T − 1] (one tg_rng_below each, in order): x the first T of
   each, y the T after, both [B, T] row-major. */
static inline void char_batch(const char_text *t, tg_rng *r, int64_t lo, int64_t hi, int64_t B,
                       int64_t T, int64_t *x, int64_t *y)
{
    for (int64_t b = 0; b < B; b++) {
        int64_t s = lo + (int64_t)tg_rng_below(r, (uint64_t)(hi - lo - T - 1));
        memcpy(x + b * T, t->ids + s, (size_t)T * sizeof *x);
        memcpy(y + b * T, t->ids + s + 1, (size_t)T * sizeof *y);
    }
}

/* One of the vocabulary drawn from softmax(logits / temperature) with a
   uniform draw of r (the inverse of the cumulative distribution). */
static inline int sample_id(const tg_real *logits, int vocab, double temperature, tg_rng *r)
{
    double p[256], mx = -INFINITY, total = 0;
    for (int k = 0; k < vocab; k++) mx = fmax(mx, (double)logits[k] / temperature);
    for (int k = 0; k < vocab; k++) total += p[k] = exp((double)logits[k] / temperature - mx);
    double u = tg_rng_uniform(r) * total, c = 0;
    for (int k = 0; k < vocab; k++)
        if ((c += p[k]) > u) return k;
    return vocab - 1;
}

/* ------------------------------------------------ options and progress */

static inline bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static inline bool parse_pos(const char *s, double *out)
{
    char *end;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || *end || !(v > 0) || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* An option of a demo: "--name" and where its value goes, read as a
   string ('s'), an integer in [lo, hi] ('i') or a positive number ('x'). */
typedef struct char_opt {
    const char *name;
    char kind;
    void *to; /* const char **, int64_t * or double * */
    int64_t lo, hi;
} char_opt;

/* Reads argv's options by the table: --help (or -h) prints usage and
   exits with status 0; an unknown option or a bad or missing value gets a
   message starting with prog and returns 2; otherwise 0. */
static inline int char_parse_args(const char *prog, const char *usage, int argc, char **argv,
                                  const char_opt *opts, int n)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            exit(0);
        }
        const char_opt *o = NULL;
        for (int k = 0; k < n && !o; k++)
            if (!strcmp(a, opts[k].name)) o = &opts[k];
        if (!o) {
            fprintf(stderr, "%s: unknown option or argument '%s' (see --help)\n", prog, a);
            return 2;
        }
        bool ok = o->kind == 's'   ? (*(const char **)o->to = v) != NULL
                  : o->kind == 'i' ? parse_i64(v, o->lo, o->hi, o->to)
                                   : parse_pos(v, o->to);
        if (!ok) {
            fprintf(stderr, "%s: bad or missing value for %s (see --help)\n", prog, a);
            return 2;
        }
        i++;
    }
    return 0;
}

static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline void progress(bool tty, int64_t step, int64_t steps, double loss, double rate,
                            double eta)
{
    if (!tty) return;
    const int width = 24;
    int fill = steps ? (int)(width * step / steps) : width;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[width] = 0;
    printf("\rstep %lld/%lld [%s] loss %.4f  %.0f chars/s  ETA %.0fs \033[K", (long long)step,
           (long long)steps, bar, loss, rate, eta);
    fflush(stdout);
}

/* ------------------------------------------------------ the training run */

/* One training step on x, y ([B, T] ids each): the loss, NAN on failure
   (the message on stderr). */
typedef double (*char_step_fn)(void *ctx, const int64_t *x, const int64_t *y);

/* A demo's model behind three calls on its context. */
typedef struct char_model {
    void *ctx;
    char_step_fn step;
    /* the mean loss on held-out windows; x and y ([B, T] each) as room */
    double (*eval)(void *ctx, int64_t *x, int64_t *y);
    /* n characters drawn with temperature from r, written to f: TG_OK or not */
    int (*sample)(void *ctx, int64_t n, double temperature, tg_rng *r, FILE *f);
} char_model;

/* Loads path into txt and checks that it has room for windows of T + 1
   characters in its first 90% and in the rest. Otherwise a message on
   stderr that starts with prog, and false (txt freed). */
static inline bool char_text_open(const char *prog, char_text *txt, const char *path, int64_t T)
{
    int st = char_text_load(txt, path);
    if (st != TG_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, path,
                st == TG_ERR_NOMEM    ? "out of memory"
                : st == TG_ERR_FORMAT ? "fewer than 2 characters"
                                      : "cannot be read");
        char_text_free(txt);
        return false;
    }
    int64_t split = txt->n * 9 / 10;
    if (split - T - 1 < 1 || txt->n - split - T - 1 < 1) {
        fprintf(stderr, "%s: %s has %lld characters: too few for windows of %lld\n", prog, path,
                (long long)txt->n, (long long)T);
        char_text_free(txt);
        return false;
    }
    return true;
}

/* How long to train and what to print. */
typedef struct char_schedule {
    int64_t B, T;              /* windows per step, characters per window */
    int64_t steps;             /* training steps */
    int64_t sample_every;      /* steps between held-out losses and samples; 0: at the end */
    int64_t sample_len;        /* characters per sample; 0: none */
    double temperature;        /* of the samples */
} char_schedule;

/* Trains m for o->steps steps on batches of the first 90% of txt drawn
   from `batches` (x and y: room for B·T ids each), with a progress bar on
   a terminal; every o->sample_every steps and at the end, the mean
   training loss since the last report, the held-out loss and a sample
   (after a newline, drawn from `samples`). 0, or 1 if a step or a sample
   failed. */
static inline int char_train(const char_model *m, const char_text *txt, const char_schedule *o,
                             tg_rng *batches, tg_rng *samples, int64_t *x, int64_t *y)
{
    bool tty = isatty(fileno(stdout));
    int64_t split = txt->n * 9 / 10, chars = o->B * o->T;
    double t0 = now(), last_draw = 0, window = 0;
    int64_t in_window = 0;
    for (int64_t s = 1; s <= o->steps; s++) {
        char_batch(txt, batches, 0, split, o->B, o->T, x, y);
        double l = m->step(m->ctx, x, y);
        if (isnan(l)) return 1;
        window += l, in_window++;
        double el = now() - t0;
        if (tty && (el - last_draw > 0.1 || s == o->steps)) {
            last_draw = el;
            double rate = (double)(s * chars) / (el > 0 ? el : 1e-9);
            progress(tty, s, o->steps, window / (double)in_window, rate,
                     (double)((o->steps - s) * chars) / rate);
        }
        if ((o->sample_every && s % o->sample_every == 0) || s == o->steps) {
            double val = m->eval(m->ctx, x, y);
            if (tty) printf("\r\033[K");
            printf("step %lld/%lld  train loss %.4f  held-out loss %.4f  %.1fs\n", (long long)s,
                   (long long)o->steps, window / (double)in_window, val, now() - t0);
            window = 0, in_window = 0;
            if (o->sample_len > 0) {
                printf("--- sample (temperature %g) ---\n", o->temperature);
                if (m->sample(m->ctx, o->sample_len, o->temperature, samples, stdout) != TG_OK)
                    return 1;
                printf("\n---\n");
            }
            fflush(stdout);
        }
    }
    return 0;
}

#endif
