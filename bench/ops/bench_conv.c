/* bench_conv: conv2d forward + backward, per layer of a LeNet-style CNN,
   against the GEMM's own speed on the same FLOPs.

   Layers (batch N, default 64):
     conv1  [N, 1, 28, 28] * [6, 1, 5, 5]               -> [N, 6, 24, 24]   (then pool 2)
     conv2  [N, 6, 12, 12] * [16, 6, 5, 5]              -> [N, 16, 8, 8]    (then pool 2)
     conv3  [N, 16, 12, 12] * [32, 16, 3, 3], padding 1 -> [N, 32, 12, 12]
   A step is tg_conv2d (with a bias) and the backward of sum(y·R) into the
   input, the weight and the bias: 3 products of 2·N·O·OH·OW·K FLOPs each
   (K = C·kh·kw), the forward, the input gradient and the weight gradient.

   For each layer it prints the step's time and GFLOP/s, the time spent
   inside tg_gemm during the step (tg_gemm_profile), and the rest: im2col,
   col2im, staging, the bias, the tape (target: under 30% of the step). Then
   the GEMM alone on the same FLOPs: the three products of the step, as
   tg_gemm calls of the shapes the convolution makes ([O, K]·[K, N·OH·OW],
   its transpose products), timed on their own, and the step's time beyond
   theirs, 1 − alone/step: the rest measured against the GEMM's own speed
   (the products inside the step run on chunks of samples that stay in
   cache, faster than the whole-batch products, so the two shares differ).
   The rounds alternate a step and the GEMM alone; the times printed are
   the best of the rounds, the two shares the medians of each round's own
   (a ratio of two times taken at the same speed of the host).

   usage: bench_conv [--batch N] [--reps R] [--threads T] [--gemm builtin|cblas] [--layer L]
                     [--csv]
   --layer L: only layer L (1, 2 or 3), for a profile of one shape.
   With the built-in GEMM, run it as OPENBLAS_NUM_THREADS=1 bench_conv: the
   library links OpenBLAS, whose own threads otherwise start and spin on
   the second core (sched_yield) through this benchmark's short run, and a
   2-thread step then runs at the speed of one (run_nets.py and the
   figures in docs/speed.md set it; a training run of many steps does not
   feel it). */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "gemm/gemm.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../bench_stats.h"

typedef struct {
    const char *name;
    int64_t C, H, W, O, k, pad;
} layer;

static void fill(tg_real *v, int64_t n, uint64_t seed)
{
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        v[i] = (tg_real)((double)(seed >> 11) * 0x1p-53 - 0.5);
    }
}

/* One layer's step: its tape, input, weight, bias and output gradient. */
typedef struct {
    const layer *L;
    int64_t N;
    tg_tape *t;
    tg_real *xv, *wv, *bv, *R;
} conv_case;

static void conv_setup(conv_case *c, const layer *L, int64_t N)
{
    int64_t xn = N * L->C * L->H * L->W, wn = L->O * L->C * L->k * L->k;
    c->L = L, c->N = N, c->t = tg_tape_new(), c->R = NULL;
    c->xv = malloc((size_t)xn * sizeof *c->xv), c->wv = malloc((size_t)wn * sizeof *c->wv);
    c->bv = malloc((size_t)L->O * sizeof *c->bv);
    if (!c->t || !c->xv || !c->wv || !c->bv) {
        fprintf(stderr, "bench_conv: out of memory\n");
        exit(1);
    }
    fill(c->xv, xn, 1), fill(c->wv, wn, 2), fill(c->bv, L->O, 3);
}

static void conv_free(conv_case *c)
{
    free(c->xv), free(c->wv), free(c->bv), free(c->R);
    tg_tape_free(c->t);
}

/* one step: its seconds, and the seconds inside tg_gemm in *gemm */
static double conv_step(conv_case *c, double *gemm)
{
    const layer *L = c->L;
    int64_t N = c->N;
    tg_tape *t = c->t;
    tg_conv_opts o = {.padding = {L->pad, L->pad}};
    tg_tape_reset(t);
    tg_tensor *x = tg_requires_grad(tg_tensor_wrap(t, TG_SHAPE(N, L->C, L->H, L->W), c->xv), true);
    tg_tensor *w =
        tg_requires_grad(tg_tensor_wrap(t, TG_SHAPE(L->O, L->C, L->k, L->k), c->wv), true);
    tg_tensor *b = tg_requires_grad(tg_tensor_wrap(t, TG_SHAPE(L->O), c->bv), true);
    tg_gemm_profile(true);
    double t0 = now();
    tg_tensor *y = tg_conv2d(t, x, w, b, &o);
    if (!y) {
        fprintf(stderr, "bench_conv: %s\n", tg_tape_error(t));
        exit(1);
    }
    if (!c->R) {
        c->R = malloc((size_t)y->size * sizeof *c->R);
        if (!c->R) {
            fprintf(stderr, "bench_conv: out of memory\n");
            exit(1);
        }
        fill(c->R, y->size, 4);
    }
    if (tg_backward_grad(t, y, c->R) != TG_OK) {
        fprintf(stderr, "bench_conv: %s\n", tg_tape_error(t));
        exit(1);
    }
    double dt = now() - t0;
    tg_gemm_profile(false);
    *gemm = tg_gemm_profile_seconds();
    return dt;
}

/* The GEMM alone: the step's three products as whole-batch matrices. */
typedef struct {
    int64_t M, K, P;
    tg_real *A, *B, *C, *D, *G;
} gemm_case;

static void gemm_setup(gemm_case *g, const layer *L, int64_t N)
{
    int64_t OH = L->H + 2 * L->pad - L->k + 1, OW = L->W + 2 * L->pad - L->k + 1;
    g->M = L->O, g->K = L->C * L->k * L->k, g->P = N * OH * OW;
    g->A = malloc((size_t)(g->M * g->K) * sizeof *g->A);
    g->B = malloc((size_t)(g->K * g->P) * sizeof *g->B);
    g->C = malloc((size_t)(g->M * g->P) * sizeof *g->C);
    g->D = malloc((size_t)(g->K * g->P) * sizeof *g->D);
    g->G = malloc((size_t)(g->M * g->K) * sizeof *g->G);
    if (!g->A || !g->B || !g->C || !g->D || !g->G) {
        fprintf(stderr, "bench_conv: out of memory\n");
        exit(1);
    }
    fill(g->A, g->M * g->K, 5), fill(g->B, g->K * g->P, 6), fill(g->C, g->M * g->P, 7);
}

static void gemm_free(gemm_case *g) { free(g->A), free(g->B), free(g->C), free(g->D), free(g->G); }

static double gemm_products(gemm_case *g)
{
    int64_t M = g->M, K = g->K, P = g->P;
    double t0 = now();
    tg_gemm(false, false, M, P, K, 1, g->A, K, g->B, P, 0, g->C, P); /* y = W·col */
    tg_gemm(true, false, K, P, M, 1, g->A, K, g->C, P, 0, g->D, P);  /* dcol = Wᵀ·g */
    tg_gemm(false, true, M, K, P, 1, g->C, P, g->B, P, 0, g->G, K);  /* dW = g·colᵀ */
    return now() - t0;
}

/* The layer's figures over `reps` rounds, each a step and then the GEMM
   alone, after one round that is not counted (a warm-up): the best step
   and its time in tg_gemm, the best GEMM alone, and the two shares as
   medians of the rounds' own ratios. A round's two halves run within a
   few milliseconds of each other, at the same speed of the host (whose
   speed changes from one run to the next, and sometimes within one): the
   best of each alone could come from different speeds. */
typedef struct {
    double step, gemm, alone, rest, beyond;
} figures;

static figures time_layer(const layer *L, int64_t N, int reps)
{
    conv_case c;
    gemm_case g;
    conv_setup(&c, L, N);
    gemm_setup(&g, L, N);
    double *rest = malloc((size_t)reps * sizeof *rest);
    double *beyond = malloc((size_t)reps * sizeof *beyond);
    if (!rest || !beyond) {
        fprintf(stderr, "bench_conv: out of memory\n");
        exit(1);
    }
    figures f = {1e30, 0, 1e30, 0, 0};
    for (int r = 0; r < reps + 1; r++) {
        double in_gemm, step = conv_step(&c, &in_gemm), alone = gemm_products(&g);
        if (r == 0) continue;
        if (step < f.step) f.step = step, f.gemm = in_gemm;
        if (alone < f.alone) f.alone = alone;
        rest[r - 1] = (step - in_gemm) / step;
        beyond[r - 1] = 1 - alone / step;
    }
    f.rest = median(rest, reps), f.beyond = median(beyond, reps);
    free(rest), free(beyond);
    conv_free(&c);
    gemm_free(&g);
    return f;
}

int main(int argc, char **argv)
{
    int64_t N = 64;
    int reps = 10;
    bool csv = false;
    int only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) N = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) tg_set_num_threads(atoi(argv[++i]));
        else if (!strcmp(argv[i], "--gemm") && i + 1 < argc) {
            if (tg_gemm_set_backend(argv[++i]) != TG_OK) {
                fprintf(stderr, "%s\n", tg_last_error());
                return 2;
            }
        } else if (!strcmp(argv[i], "--layer") && i + 1 < argc) only = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--csv")) csv = true;
        else {
            fprintf(stderr, "usage: bench_conv [--batch N] [--reps R] [--threads T] "
                            "[--gemm builtin|cblas] [--layer 1|2|3] [--csv]\n");
            return 2;
        }
    }
    if (N < 1 || reps < 1 || only < 0 || only > 3) {
        fprintf(stderr, "bench_conv: --batch and --reps must be at least 1, --layer 1, 2 or 3\n");
        return 2;
    }
    const layer layers[] = {{"conv1 1->6 5x5 28x28", 1, 28, 28, 6, 5, 0},
                            {"conv2 6->16 5x5 12x12", 6, 12, 12, 16, 5, 0},
                            {"conv3 16->32 3x3 pad1 12x12", 16, 12, 12, 32, 3, 1}};
    if (csv)
        printf("layer,batch,step_ms,step_gflops,gemm_in_step_ms,rest_share,gemm_alone_ms,"
               "gemm_alone_gflops,beyond_alone_share\n");
    else
        printf("conv2d forward + backward, batch %lld, %s GEMM (%s kernel), %d thread(s), best of "
               "%d rounds (shares: medians of the rounds' own)\n",
               (long long)N, tg_gemm_backend(), tg_gemm_kernel_name(), tg_get_num_threads(), reps);
    for (size_t i = 0; i < sizeof layers / sizeof *layers; i++) {
        const layer *L = &layers[i];
        if (only && (size_t)only != i + 1) continue;
        int64_t OH = L->H + 2 * L->pad - L->k + 1, OW = L->W + 2 * L->pad - L->k + 1;
        double flops = 3.0 * 2 * (double)N * (double)L->O * (double)(OH * OW) *
                       (double)(L->C * L->k * L->k);
        figures f = time_layer(L, N, reps);
        double step = f.step, gemm = f.gemm, alone = f.alone, rest = f.rest, beyond = f.beyond;
        if (csv)
            printf("%s,%lld,%.4f,%.3f,%.4f,%.3f,%.4f,%.3f,%.3f\n", L->name, (long long)N,
                   1e3 * step, flops / step * 1e-9, 1e3 * gemm, rest, 1e3 * alone,
                   flops / alone * 1e-9, beyond);
        else
            printf("%-28s step %8.3f ms %7.2f GFLOP/s | in tg_gemm %8.3f ms, rest %5.1f%% %s | "
                   "GEMM alone %8.3f ms %7.2f GFLOP/s, the step beyond it %5.1f%% %s\n",
                   L->name, 1e3 * step, flops / step * 1e-9, 1e3 * gemm, 100 * rest,
                   rest < 0.30 ? "(< 30%)" : "(over 30%)", 1e3 * alone, flops / alone * 1e-9,
                   100 * beyond, beyond < 0.30 ? "(< 30%)" : "(over 30%)");
    }
    return 0;
}
