/* Two threads, one network: each thread has its own tape and computes the
   gradient of its own batch with tg_grad, reading the same parameters; the
   library's settings (GEMM backend, kernel, worker threads) are set up by
   whichever thread gets there first. The results must equal the same work
   done on one thread, bit for bit.

     ./two_threads [--threads N] [--steps S]

   Without --threads, the library's worker threads come from TG_NUM_THREADS
   on first use, in whichever of the two threads multiplies first.

   What may run at once (include/tapegrad/core.h, "Threads"): different
   tapes on different threads; reading one tg_params from many threads.
   Not at once: two threads on one tape, or two backward passes adding into
   the same parameters' .grad (use tg_grad, as here, or a tg_params each). */
#define _POSIX_C_SOURCE 200809L /* pthread barriers */
#include <tapegrad.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN 16
#define HID 64
#define OUT 4
#define BATCH 32

typedef struct {
    const tg_mlp *net;
    tg_params *p;
    int steps;
    uint64_t seed;
    double checksum; /* Σ of every gradient value, in order */
    int failed;
    pthread_barrier_t *start;
} job;

/* Gradients of the cross entropy of `steps` random batches; returns the sum
   of every gradient value (a fingerprint of all of them). */
static void *run(void *arg)
{
    job *j = arg;
    if (j->start) pthread_barrier_wait(j->start);
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, j->seed);
    size_t n = tg_params_count(j->p);
    tg_tensor *params[2 * 16];
    for (size_t i = 0; i < n; i++) params[i] = tg_params_at(j->p, i);
    tg_real xs[BATCH * IN];
    int64_t ys[BATCH];
    for (int s = 0; s < j->steps && !j->failed; s++) {
        for (int i = 0; i < BATCH * IN; i++) xs[i] = (tg_real)tg_rng_normal(&rng);
        for (int i = 0; i < BATCH; i++) ys[i] = (int64_t)tg_rng_below(&rng, OUT);
        tg_tensor *x = tg_tensor_wrap(t, TG_SHAPE(BATCH, IN), xs);
        tg_tensor *loss = tg_cross_entropy(t, tg_mlp_forward(t, j->net, x), ys, TG_REDUCE_MEAN);
        tg_tensor *g[2 * 16];
        if (!loss || tg_grad(t, 1, &loss, NULL, (int)n, params, g, NULL) != TG_OK) {
            fprintf(stderr, "two_threads: %s\n", tg_tape_error(t));
            j->failed = 1;
            break;
        }
        for (size_t i = 0; i < n; i++)
            for (int64_t k = 0; k < g[i]->size; k++) j->checksum += (double)g[i]->data[k];
        tg_tape_reset(t);
    }
    tg_tape_free(t);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = 0, steps = 50;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: two_threads [--threads N] [--steps S]\n"
                   "Two user threads compute gradients of one network on their own tapes\n"
                   "and must agree with the same work on one thread.\n");
            return 0;
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
            steps = atoi(argv[++i]);
        } else {
            fprintf(stderr, "two_threads: unknown option %s (try --help)\n", argv[i]);
            return 2;
        }
    }
    if (threads && tg_set_num_threads(threads) != TG_OK) {
        fprintf(stderr, "two_threads: %s\n", tg_last_error());
        return 2;
    }
    tg_params *p = tg_params_new();
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_mlp net;
    if (!p || tg_mlp_init(&net, p, "fc", TG_SHAPE(IN, HID, HID, OUT), tg_tanh, &rng) != TG_OK) {
        fprintf(stderr, "two_threads: %s\n", tg_last_error());
        return 1;
    }
    /* both at once, started together */
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    job a = {&net, p, steps, 10, 0, 0, &start}, b = {&net, p, steps, 20, 0, 0, &start};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, run, &a);
    pthread_create(&tb, NULL, run, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&start);
    /* the same work, one after the other */
    job a1 = {&net, p, steps, 10, 0, 0, NULL}, b1 = {&net, p, steps, 20, 0, 0, NULL};
    run(&a1);
    run(&b1);
    int ok = !a.failed && !b.failed && a.checksum == a1.checksum && b.checksum == b1.checksum;
    printf("two threads: %s (gradient sums %.9g and %.9g, alone %.9g and %.9g)\n",
           ok ? "same results as one" : "DIFFERENT", a.checksum, b.checksum, a1.checksum,
           b1.checksum);
    tg_params_free(p);
    return ok ? 0 : 1;
}
