/* bench_hvp: a gradient against a Hessian-vector product on the demo network.

   784-500-256-10 MLP (ReLU, nn.Linear's initialisation, seed 1), cross
   entropy summed over a batch of 64 seeded random inputs N(0, 1) and labels,
   a direction v ~ N(0, 1) over every parameter. Each repetition records a
   fresh forward pass on a reset tape and times
     forward        the loss alone
     gradient       forward + tg_grad of the 6 parameters (first order)
     create_graph   forward + tg_grad with create_graph (the first half of H·v)
     hvp            forward + tg_hvp (gradient with create_graph, ⟨g, v⟩,
                    and its gradient)
   and prints the median of each and hvp / gradient (theory: 2 to 4; the
   goal: at most 4). bench/torch_hvp.py times the same in PyTorch.

   usage: bench_hvp [--reps R] [--threads T] [--csv] */
#define _POSIX_C_SOURCE 200809L
#include <tapegrad.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_stats.h"

#define BATCH 64
#define N_PARAMS 6
enum { MAX_REPS = 1001, KINDS = 4 };
static const char *const KIND_NAMES[KINDS] = {"forward", "gradient", "create_graph", "hvp"};

/* One timed run of `kind` on a reset tape; returns its seconds, or a
   negative number on failure (the message on t). */
static double run(int kind, tg_tape *t, const tg_mlp *m, tg_tensor *const *theta,
                  const tg_real *xs, const int64_t *ys, const tg_real *vs)
{
    tg_tape_reset(t);
    /* v on the tape, outside the timed part: its values are copied in */
    tg_tensor *v[N_PARAMS], *out[N_PARAMS];
    const tg_real *src = vs;
    for (int i = 0; i < N_PARAMS; i++) {
        v[i] = tg_tensor_new(t, theta[i]->ndim, theta[i]->shape, src);
        if (!v[i]) return -1;
        src += theta[i]->size;
    }
    double t0 = now();
    tg_tensor *x = tg_tensor_wrap(t, TG_SHAPE(BATCH, 784), xs);
    tg_tensor *loss = tg_cross_entropy(t, tg_mlp_forward(t, m, x), ys, TG_REDUCE_SUM);
    int st = loss ? TG_OK : TG_ERR_INVALID;
    tg_grad_opts cg = {.create_graph = true};
    if (st == TG_OK && kind == 1) st = tg_grad(t, 1, &loss, NULL, N_PARAMS, theta, out, NULL);
    if (st == TG_OK && kind == 2) st = tg_grad(t, 1, &loss, NULL, N_PARAMS, theta, out, &cg);
    if (st == TG_OK && kind == 3) st = tg_hvp(t, loss, N_PARAMS, theta, v, out, NULL);
    double el = now() - t0;
    return st == TG_OK ? el : -1;
}

int main(int argc, char **argv)
{
    int reps = 51, threads = 0;
    bool csv = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--csv")) csv = true;
        else {
            fprintf(stderr, "usage: %s [--reps R] [--threads T] [--csv]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    if (reps > MAX_REPS) reps = MAX_REPS;
    if (threads && tg_set_num_threads(threads) != TG_OK) {
        fprintf(stderr, "bench_hvp: %s\n", tg_last_error());
        return 2;
    }
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_mlp m;
    if (!p || !t || tg_mlp_init(&m, p, "fc", TG_SHAPE(784, 500, 256, 10), tg_relu, &rng) != TG_OK) {
        fprintf(stderr, "bench_hvp: %s\n", tg_last_error());
        return 1;
    }
    tg_tensor *theta[N_PARAMS];
    for (int i = 0; i < N_PARAMS; i++) theta[i] = tg_params_at(p, (size_t)i);
    int64_t n = tg_params_numel(p);
    static tg_real xs[BATCH * 784];
    static int64_t ys[BATCH];
    tg_real *vs = malloc((size_t)n * sizeof(tg_real));
    if (!vs) return 1;
    for (int i = 0; i < BATCH * 784; i++) xs[i] = (tg_real)tg_rng_normal(&rng);
    for (int i = 0; i < BATCH; i++) ys[i] = (int64_t)tg_rng_below(&rng, 10);
    for (int64_t i = 0; i < n; i++) vs[i] = (tg_real)tg_rng_normal(&rng);

    static double times[KINDS][MAX_REPS];
    for (int r = -3; r < reps; r++) /* 3 rounds of warm-up size the tape */
        for (int k = 0; k < KINDS; k++) { /* interleaved: each sees the same machine */
            double s = run(k, t, &m, theta, xs, ys, vs);
            if (s < 0) {
                fprintf(stderr, "bench_hvp: %s: %s\n", KIND_NAMES[k], tg_tape_error(t));
                return 1;
            }
            if (r >= 0) times[k][r] = s;
        }
    double med[KINDS];
    for (int k = 0; k < KINDS; k++) {
        qsort(times[k], (size_t)reps, sizeof(double), cmp_double);
        med[k] = times[k][reps / 2] * 1e3;
    }
    if (csv) {
        printf("hvp,tapegrad,%d,%.3f,%.3f,%.3f,%.3f,%.3f\n", tg_get_num_threads(), med[0], med[1],
               med[2], med[3], med[3] / med[1]);
    } else {
        printf("bench_hvp: %s, GEMM %s, %d thread%s; MLP 784-500-256-10 ReLU, batch %d, "
               "%lld parameters; median of %d runs\n",
               tg_real_name(), tg_gemm_backend(), tg_get_num_threads(),
               tg_get_num_threads() == 1 ? "" : "s", BATCH, (long long)n, reps);
        for (int k = 0; k < KINDS; k++)
            printf("  %-13s %8.3f ms%s\n", KIND_NAMES[k], med[k],
                   k == 0 ? "" : k == 1 ? "   (forward + tg_grad)"
                                : k == 2 ? "   (forward + tg_grad, create_graph)"
                                         : "   (forward + tg_hvp)");
        printf("hvp / gradient = %.2f (theory 2-4; goal <= 4)\n", med[3] / med[1]);
    }
    free(vs);
    tg_tape_free(t);
    tg_params_free(p);
    return 0;
}
