/* The exercises' harness: for each exercise, its inputs and its reference
 * forward pass (tapegrad's ops), graded with tg_exercise_check against the
 * learner's backward in the exercise's own file (exercises.h says how).
 *
 *     ./build/examples/exercises [NAME...] [--seed N] [--expect exact|wrong]
 *
 * --expect is for the tests: the exit status is 0 only if every gradient
 * got that verdict (the solutions must be exact, the stubs wrong). */
#include "exercises.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------ the reference forwards */

static tg_tensor *fwd_sigmoid(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_sigmoid(t, in[0]);
}

static tg_tensor *fwd_softmax(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_softmax(t, in[0], 1);
}

static tg_tensor *fwd_cross_entropy(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    return tg_cross_entropy(t, in[0], ((const ex_labels *)ctx)->target, TG_REDUCE_MEAN);
}

static tg_tensor *fwd_linear(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_linear(t, in[0], in[1], in[2]);
}

/* batch norm from primitive ops: (x − μ)·(v + ε)^(−1/2)·γ + β */
static tg_tensor *fwd_batchnorm(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    tg_tensor *x = in[0];
    tg_tensor *xc = tg_sub(t, x, tg_mean(t, x, 0, true));
    tg_tensor *var = tg_mean(t, tg_square(t, xc), 0, true);
    tg_tensor *xhat = tg_mul(t, xc, tg_pow(t, tg_add_scalar(t, var, (tg_real)EX_BN_EPS), -0.5));
    return tg_add(t, tg_mul(t, xhat, in[1]), in[2]);
}

static tg_tensor *fwd_two_layer(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    tg_tensor *h = tg_tanh(t, tg_linear(t, in[0], in[1], in[2]));
    return tg_cross_entropy(t, tg_linear(t, h, in[3], in[4]), ((const ex_labels *)ctx)->target,
                            TG_REDUCE_MEAN);
}

/* ------------------------------------------------ the exercises */

typedef struct {
    const char *name, *what;
    tg_exercise_forward forward;
    tg_exercise_backward learner;
    int n;                      /* inputs */
    const char *names[5];
    int64_t shapes[5][2];       /* 0: absent dimension */
    bool grad[5];
    double scale[5];            /* uniform in [−scale, scale) */
} exercise;

static const exercise EXERCISES[] = {
    {"sigmoid", "y = sigmoid(x)", fwd_sigmoid, ex_sigmoid, 1, {"x"}, {{2, 5}}, {true}, {3}},
    {"softmax", "y = softmax(x) along each row", fwd_softmax, ex_softmax, 1, {"x"}, {{3, 4}},
     {true}, {2}},
    {"cross_entropy", "L = mean cross entropy of logits x", fwd_cross_entropy, ex_cross_entropy, 1,
     {"x"}, {{4, 5}}, {true}, {2}},
    {"linear", "y = x W^T + b", fwd_linear, ex_linear, 3, {"x", "W", "b"},
     {{3, 4}, {2, 4}, {2, 0}}, {true, true, true}, {1, 1, 1}},
    {"batchnorm", "y = gamma (x - mean) / sqrt(var + eps) + beta, from primitive ops",
     fwd_batchnorm, ex_batchnorm, 3, {"x", "gamma", "beta"}, {{6, 3}, {3, 0}, {3, 0}},
     {true, true, true}, {2, 1, 1}},
    {"two_layer", "L = cross entropy of tanh(x W1^T + b1) W2^T + b2", fwd_two_layer, ex_two_layer,
     5, {"x", "W1", "b1", "W2", "b2"}, {{5, 4}, {6, 4}, {6, 0}, {3, 6}, {3, 0}},
     {false, true, true, true, true}, {1, 0.8, 0.5, 0.8, 0.5}},
};
enum { N_EXERCISES = sizeof EXERCISES / sizeof *EXERCISES };

/* The labels: cross_entropy's 4 samples of 5 classes, two_layer's 5 of 3. */
static const int64_t LABELS_CE[] = {1, 0, 4, 2};
static const int64_t LABELS_NET[] = {1, 0, 2, 2, 1};

/* Runs one exercise; its verdicts are counted into counts[TG_VERDICT_*]. */
static int run(const exercise *e, uint64_t seed, int counts[4])
{
    tg_tape *t = tg_tape_new();
    if (!t) return 1;
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    tg_tensor *in[5] = {0};
    for (int i = 0; i < e->n; i++) {
        int nd = e->shapes[i][1] ? 2 : 1;
        in[i] = tg_zeros(t, nd, e->shapes[i]);
        if (!in[i]) break;
        for (int64_t k = 0; k < in[i]->size; k++)
            in[i]->data[k] = (tg_real)(e->scale[i] * (2 * tg_rng_uniform(&rng) - 1));
        tg_tensor_set_name(tg_requires_grad(in[i], e->grad[i]), e->names[i]);
    }
    ex_labels labels = {!strcmp(e->name, "cross_entropy") ? LABELS_CE : LABELS_NET};
    printf("%s: %s\n", e->name, e->what);
    tg_exercise_opts o = {.report = stdout, .seed = seed};
    tg_exercise_result r = tg_exercise_check(e->name, e->forward, e->learner, &labels, in, e->n, &o);
    printf("\n");
    for (int i = 0; i < e->n; i++)
        if (r.status == TG_OK && r.verdict[i] != TG_VERDICT_NONE) counts[r.verdict[i]]++;
    tg_tape_free(t);
    return r.status == TG_OK ? 0 : 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: exercises [NAME...] [--seed N] [--expect exact|wrong]\n"
               "Grades your backward passes (examples/exercises/*.c) against tapegrad's rules\n"
               "and finite differences. The exercises, in order:\n");
    for (int i = 0; i < N_EXERCISES; i++)
        fprintf(f, "  %-14s %s\n", EXERCISES[i].name, EXERCISES[i].what);
}

int main(int argc, char **argv)
{
    bool chosen[N_EXERCISES] = {0}, any = false;
    const char *expect = NULL;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--expect") && i + 1 < argc &&
                   (!strcmp(argv[i + 1], "exact") || !strcmp(argv[i + 1], "wrong"))) {
            expect = argv[++i];
        } else {
            int k = 0;
            while (k < N_EXERCISES && strcmp(argv[i], EXERCISES[k].name)) k++;
            if (k == N_EXERCISES) {
                fprintf(stderr, "exercises: unknown option or exercise '%s'\n", argv[i]);
                usage(stderr);
                return 2;
            }
            chosen[k] = any = true;
        }
    }
    int counts[4] = {0}, failed = 0;
    for (int i = 0; i < N_EXERCISES; i++)
        if (!any || chosen[i]) failed += run(&EXERCISES[i], seed, counts);
    printf("%d gradients exact, %d approximate, %d wrong (%s)", counts[0], counts[1], counts[2],
           tg_real_name());
    if (failed) printf("; %d exercise%s could not be checked (above: why)", failed,
                       failed == 1 ? "" : "s");
    printf("\n");
    if (failed) return 1;
    if (expect) {
        int want = !strcmp(expect, "exact") ? TG_VERDICT_EXACT : TG_VERDICT_WRONG;
        int total = counts[0] + counts[1] + counts[2];
        printf("expected every one %s: %s\n", expect, counts[want] == total ? "yes" : "no");
        return counts[want] == total && total > 0 ? 0 : 1;
    }
    return counts[2] ? 1 : 0;
}
