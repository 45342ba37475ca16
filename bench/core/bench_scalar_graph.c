/* The scalar graph of "Fastest Autograd in the West" (A. Rogozhnikov, 2023):
   100 scalar inputs, then op k for k = 0..n-1 by k mod 4:
     0: softplus(node[-10])
     1: node[-30] + node[-25] + node[-20] + node[-15]   (sum of nodes[-30:-10:5])
     2: node[-20] · node[-10]
     3: softmax over the last 4 nodes, appending its 4 outputs
   and backward from the last node. Timed per forward + backward:
     record   tapegrad recording the graph every iteration (a reset tape)
     replay   tapegrad recording once, then tg_tape_replay + tg_backward
     loop     a hand-written C value/gradient loop over the same op list
              (the article's own design: a switch over op codes and indices)
   PyTorch's time comes from bench/torch_scalar_graph.py, which reads the
   inputs and every node's value and gradient that --dump writes, and checks
   its own against them.

     ./bench_scalar_graph [--ops N] [--runs R] [--dump FILE] [--csv]

   Every node's value and gradient agree between the three (checked here;
   record and replay bit for bit). Medians of R rounds (each times every
   variant over 5 iterations in a row after one that warms the caches);
   ratios within one run. */
#define _POSIX_C_SOURCE 200809L
#include <tapegrad.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_stats.h"

#define N_INPUTS 100

static int64_t node_count(int ops) { return N_INPUTS + ops + 3 * (int64_t)(ops / 4); }

/* ------------------------------------------------------------ tapegrad */

/* Records the graph on t; nodes[] receives every node (0-d tensors). */
static tg_tensor *record(tg_tape *t, int ops, const tg_real *in, tg_tensor **nodes)
{
    int64_t n = 0;
    for (int i = 0; i < N_INPUTS; i++)
        nodes[n++] = tg_requires_grad(tg_tensor_wrap(t, 0, NULL, in + i), true);
    for (int k = 0; k < ops; k++) {
        switch (k % 4) {
        case 0: nodes[n] = tg_softplus(t, nodes[n - 10], 1, TG_SOFTPLUS_THRESHOLD); n++; break;
        case 1: {
            tg_tensor *four[4] = {nodes[n - 30], nodes[n - 25], nodes[n - 20], nodes[n - 15]};
            nodes[n] = tg_sum(t, tg_stack(t, four, 4, 0), TG_ALL, false);
            n++;
            break;
        }
        case 2: nodes[n] = tg_mul(t, nodes[n - 20], nodes[n - 10]); n++; break;
        case 3: {
            tg_tensor *s = tg_softmax(t, tg_stack(t, nodes + n - 4, 4, 0), 0);
            for (int j = 0; j < 4; j++) nodes[n + j] = tg_select(t, s, 0, j);
            n += 4;
            break;
        }
        }
    }
    return nodes[n - 1];
}

/* ------------------------------------------------------------ the loop */

enum { OP_SOFTPLUS, OP_SUM4, OP_MUL, OP_SOFTMAX };

typedef struct {
    int64_t n;
    tg_real *v, *g; /* [n] every node's value and gradient, in tapegrad's precision */
} loop_state;

static tg_real softplus_r(tg_real x)
{
    return x > (tg_real)TG_SOFTPLUS_THRESHOLD ? x : (tg_real)log1p(exp((double)x));
}

/* value and gradient of every node, in tg_real, as the article's loop */
static void loop_run(loop_state *s, int ops, const tg_real *in)
{
    tg_real *v = s->v, *g = s->g;
    int64_t n = 0;
    for (int i = 0; i < N_INPUTS; i++) v[n++] = in[i];
    for (int k = 0; k < ops; k++) {
        switch (k % 4) {
        case OP_SOFTPLUS: v[n] = softplus_r(v[n - 10]); n++; break;
        case OP_SUM4: v[n] = (v[n - 30] + v[n - 25]) + (v[n - 20] + v[n - 15]); n++; break;
        case OP_MUL: v[n] = v[n - 20] * v[n - 10]; n++; break;
        case OP_SOFTMAX: {
            tg_real m = v[n - 4];
            for (int j = 1; j < 4; j++) m = v[n - 4 + j] > m ? v[n - 4 + j] : m;
            tg_real e[4], z = 0;
            for (int j = 0; j < 4; j++) z += e[j] = (tg_real)exp((double)(v[n - 4 + j] - m));
            for (int j = 0; j < 4; j++) v[n + j] = e[j] / z;
            n += 4;
            break;
        }
        }
    }
    memset(g, 0, (size_t)n * sizeof *g);
    g[n - 1] = 1;
    for (int k = ops - 1; k >= 0; k--) {
        switch (k % 4) {
        case OP_SOFTPLUS: n--; {
            tg_real x = v[n - 10];
            g[n - 10] += g[n] * (x > (tg_real)TG_SOFTPLUS_THRESHOLD ? 1 : 1 / (1 + (tg_real)exp(-(double)x)));
        } break;
        case OP_SUM4: n--;
            g[n - 30] += g[n], g[n - 25] += g[n], g[n - 20] += g[n], g[n - 15] += g[n];
            break;
        case OP_MUL: n--;
            g[n - 20] += g[n] * v[n - 10], g[n - 10] += g[n] * v[n - 20];
            break;
        case OP_SOFTMAX: {
            n -= 4;
            tg_real dot = 0;
            for (int j = 0; j < 4; j++) dot += g[n + j] * v[n + j];
            for (int j = 0; j < 4; j++) g[n - 4 + j] += v[n + j] * (g[n + j] - dot);
            break;
        }
        }
    }
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    int ops = 10000, runs = 7;
    const char *dump = NULL;
    bool csv = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: bench_scalar_graph [--ops N] [--runs R] [--dump FILE] [--csv]\n");
            return 0;
        } else if (!strcmp(argv[i], "--ops") && i + 1 < argc) {
            ops = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--dump") && i + 1 < argc) {
            dump = argv[++i];
        } else if (!strcmp(argv[i], "--csv")) {
            csv = true;
        } else {
            fprintf(stderr, "bench_scalar_graph: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (ops < 40 || runs < 1 || runs > 1000) {
        fprintf(stderr, "bench_scalar_graph: --ops >= 40, --runs in 1..1000\n");
        return 2;
    }
    int64_t nn = node_count(ops);
    tg_real in[N_INPUTS];
    tg_rng rng;
    tg_rng_seed(&rng, 2023);
    for (int i = 0; i < N_INPUTS; i++) in[i] = (tg_real)tg_rng_normal(&rng);
    tg_tensor **nodes = malloc((size_t)nn * sizeof *nodes);   /* the recording's, each run */
    tg_tensor **nodes_p = malloc((size_t)nn * sizeof *nodes); /* the replayed tape's */
    loop_state ls = {nn, malloc((size_t)nn * sizeof(tg_real)), malloc((size_t)nn * sizeof(tg_real))};
    double *t_rec = malloc((size_t)runs * sizeof(double)), *t_rep = malloc((size_t)runs * sizeof(double)),
           *t_loop = malloc((size_t)runs * sizeof(double));
    tg_real *rec_v = malloc((size_t)nn * sizeof(tg_real)), *rec_g = malloc((size_t)nn * sizeof(tg_real));
    if (!nodes || !nodes_p || !ls.v || !ls.g || !t_rec || !t_rep || !t_loop || !rec_v || !rec_g) {
        fprintf(stderr, "bench_scalar_graph: out of memory\n");
        return 1;
    }
    tg_tape *tr = tg_tape_new(), *tp = tg_tape_new();
    tg_tape_set_replayable(tp, true);
    tg_tensor *out_p = record(tp, ops, in, nodes_p);
    if (!out_p || tg_backward(tp, out_p) != TG_OK) {
        fprintf(stderr, "bench_scalar_graph: %s\n", tg_tape_error(tp));
        return 1;
    }
    /* Rounds interleave the three, so that the host's changes of speed fall
       on all of them; within a round each runs INNER iterations in a row,
       as a program that loops on one of them would (one replay between two
       recordings would find its memory evicted by the recording's), after
       one more that is not timed (it brings that memory back into the
       caches), and the round's time is their mean. */
    enum { INNER = 5 };
    int bad = 0;
    tg_tensor *out = NULL;
    for (int r = 0; r < runs; r++) {
        double t[3];
        for (int v = 0; v < 3; v++) {
            double t0 = 0;
            for (int k = 0; k <= INNER; k++) {
                if (k == 1) t0 = now(); /* iteration 0 warms the caches */
                if (v == 0) {
                    tg_tape_reset(tr);
                    out = record(tr, ops, in, nodes);
                    if (!out || tg_backward(tr, out) != TG_OK) bad = 1;
                } else if (v == 1) {
                    if (tg_tape_replay(tp) != TG_OK || tg_backward(tp, out_p) != TG_OK) bad = 1;
                } else {
                    loop_run(&ls, ops, in);
                }
            }
            t[v] = (now() - t0) / INNER;
        }
        t_rec[r] = t[0], t_rep[r] = t[1], t_loop[r] = t[2];
    }
    if (bad) {
        fprintf(stderr, "bench_scalar_graph: %s %s\n", tg_tape_error(tr), tg_tape_error(tp));
        return 1;
    }
    /* every node of the recording (the last run) against the replay's (the
       last one, bit for bit) and the loop's */
    int64_t rep_diff = 0;
    double loop_err = 0;
    for (int64_t i = 0; i < nn; i++) {
        rec_v[i] = nodes[i]->data[0];
        rec_g[i] = nodes[i]->grad ? nodes[i]->grad[0] : 0;
        tg_real gp = nodes_p[i]->grad ? nodes_p[i]->grad[0] : 0;
        if (nodes_p[i]->data[0] != rec_v[i] || gp != rec_g[i]) rep_diff++;
        double ev = fabs((double)ls.v[i] - (double)rec_v[i]) / (1e-30 + fabs((double)rec_v[i]));
        double eg = fabs((double)ls.g[i] - (double)rec_g[i]) / (1e-30 + fabs((double)rec_g[i]));
        if (ev > loop_err) loop_err = ev;
        if (fabs((double)rec_g[i]) > 1e-30 && eg > loop_err) loop_err = eg;
    }
    double mr = median(t_rec, runs), mp = median(t_rep, runs), ml = median(t_loop, runs);
    size_t recs = tg_tape_record_count(tp);
    if (csv) {
        printf("scalar_graph,%d,%lld,%zu,%.6f,%.6f,%.6f\n", ops, (long long)nn, recs, mr, mp, ml);
    } else {
        printf("scalar graph: %d ops, %lld nodes, %zu records; medians of %d runs\n", ops,
               (long long)nn, recs, runs);
        printf("  record each iteration  %8.3f ms  (%.1f ns a record)  %5.2fx the loop\n",
               1e3 * mr, 1e9 * mr / (double)recs, mr / ml);
        printf("  replay                 %8.3f ms  (%.1f ns a record)  %5.2fx the loop\n",
               1e3 * mp, 1e9 * mp / (double)recs, mp / ml);
        printf("  hand-written loop      %8.3f ms\n", 1e3 * ml);
        printf("  replay vs recording: %lld nodes differ (value or gradient); the loop's largest "
               "relative difference %.2g\n", (long long)rep_diff, loop_err);
    }
    if (dump) {
        FILE *f = fopen(dump, "w");
        if (!f) {
            fprintf(stderr, "bench_scalar_graph: cannot write %s\n", dump);
            return 1;
        }
        fprintf(f, "ops %d\nrecord %.9g\nreplay %.9g\nloop %.9g\n", ops, mr, mp, ml);
        for (int i = 0; i < N_INPUTS; i++) fprintf(f, "in %.17g\n", (double)in[i]);
        for (int64_t i = 0; i < nn; i++)
            fprintf(f, "node %.17g %.17g\n", (double)rec_v[i], (double)rec_g[i]);
        fclose(f);
    }
    tg_tape_free(tr);
    tg_tape_free(tp);
    free(nodes), free(nodes_p), free(ls.v), free(ls.g), free(t_rec), free(t_rep), free(t_loop);
    free(rec_v), free(rec_g);
    return rep_diff ? 1 : 0;
}
