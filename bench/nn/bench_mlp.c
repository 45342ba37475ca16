/* bench_mlp: one training epoch of the demo network, timed.

   784-500-256-10 MLP with ReLU, cross entropy summed over the batch, batch
   64, SGD lr 0.001, on Fashion-MNIST (Debian's dataset-fashion-mnist, in
   /usr/share/datasets/fashion-mnist), or on random data of the same shape
   when it is absent. x = pixel / 255. bench/torch_mlp.py does the same in
   PyTorch; bench/run_bench.py runs both and prints the ratios.

   Prints seconds per epoch, samples/s, effective GFLOP/s (a 60,000-sample
   epoch is 141.1 GFLOP), the time spent inside tg_gemm and its share of the
   epoch, peak RSS (and the resident size at the end), and the heap allocations made during the timed epoch
   (malloc and friends are counted by this program; after a short warm-up a
   training step must make none).

   With --stream the images stay in their file (tg_mnist_open: DIR must
   hold the uncompressed train-images-idx3-ubyte) and each batch is read
   from it; without, they are loaded into memory (tg_mnist_load).

   With --replay the step is recorded once (tg_tape_set_replayable) and
   replayed for every full batch: the batch's images are read in place
   (tg_tensor_rewrap) and its labels copied into the buffer the recorded
   loss reads (tg_index_wrap, tg_cross_entropy_idx); the last, smaller
   batch is recorded as usual (on a tape of its own, whose few allocations
   fall in the first timed epoch). The same losses as recording each step.

   usage: bench_mlp [--data DIR] [--stream] [--synthetic] [--gemm builtin|cblas]
                    [--threads T] [--epochs E] [--warmup STEPS] [--replay] [--csv] */
#define _GNU_SOURCE
#include "core/internal.h"
#include "gemm/gemm.h"
#include "bench_support.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- the benchmark */

#define EPOCH_GFLOP 141.1 /* per 60,000 samples: 2 × the products' multiply-adds */

/* One SGD step on a batch; returns the summed loss, or NAN on failure. The
   gradients are released on entry and on return (tg_optim_step_release_grad:
   PyTorch's zero_grad(set_to_none=True), as bench/torch_mlp.py does), so
   backward writes them and nothing zeroes them. */
static double step(tg_tape *t, const tg_mlp *m, tg_optim *o, const tg_batch *b)
{
    tg_tensor *x = tg_tensor_wrap(t, TG_SHAPE(b->n, 784), b->x); /* the batch, not copied */
    tg_tensor *loss = tg_cross_entropy(t, tg_mlp_forward(t, m, x), b->y, TG_REDUCE_SUM);
    if (!loss) {
        fprintf(stderr, "bench_mlp: %s\n", tg_tape_error(t));
        return NAN;
    }
    double l = (double)loss->data[0];
    if (tg_backward(t, loss) != TG_OK || tg_optim_step_release_grad(o) != TG_OK) {
        fprintf(stderr, "bench_mlp: %s%s\n", tg_tape_error(t), tg_last_error());
        return NAN;
    }
    tg_tape_reset(t);
    return l;
}

/* The replayed step (--replay): the first full batch records the tape,
   the next ones replay it at their own images and labels. */
typedef struct {
    tg_tape *t;
    tg_tensor *x, *loss;
    int64_t labels[64];
} replayer;

static double replay_step(replayer *r, const tg_mlp *m, tg_optim *o, const tg_batch *b)
{
    memcpy(r->labels, b->y, sizeof r->labels);
    if (!r->loss) {
        tg_tape_set_replayable(r->t, true);
        r->x = tg_tensor_wrap(r->t, TG_SHAPE(64, 784), b->x);
        tg_index *y = tg_index_wrap(r->t, 1, (const int64_t[]){64}, r->labels);
        tg_ce_opts co = TG_CE_OPTS_DEFAULT;
        co.reduction = TG_REDUCE_SUM;
        r->loss = tg_cross_entropy_idx(r->t, tg_mlp_forward(r->t, m, r->x), y, &co);
    } else if (tg_tensor_rewrap(r->x, b->x) != TG_OK || tg_tape_replay(r->t) != TG_OK) {
        fprintf(stderr, "bench_mlp: %s\n", tg_last_error());
        return NAN;
    }
    if (!r->loss) {
        fprintf(stderr, "bench_mlp: %s\n", tg_tape_error(r->t));
        return NAN;
    }
    double l = (double)r->loss->data[0];
    if (tg_backward(r->t, r->loss) != TG_OK || tg_optim_step_release_grad(o) != TG_OK) {
        fprintf(stderr, "bench_mlp: %s%s\n", tg_tape_error(r->t), tg_last_error());
        return NAN;
    }
    return l;
}

int main(int argc, char **argv)
{
    const char *dir = "/usr/share/datasets/fashion-mnist", *gemm = NULL;
    bool force_synthetic = false, csv = false, stream = false, replay = false;
    int threads = 1, epochs = 1, warmup = 50;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) dir = argv[++i];
        else if (strcmp(argv[i], "--synthetic") == 0) force_synthetic = true;
        else if (strcmp(argv[i], "--stream") == 0) stream = true;
        else if (strcmp(argv[i], "--gemm") == 0 && i + 1 < argc) gemm = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc) epochs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (strcmp(argv[i], "--csv") == 0) csv = true;
        else if (strcmp(argv[i], "--replay") == 0) replay = true;
        else {
            fprintf(stderr, "usage: %s [--data DIR] [--stream] [--synthetic] [--gemm builtin|cblas] "
                            "[--threads T] [--epochs E] [--warmup STEPS] [--replay] [--csv]\n",
                    argv[0]);
            return 2;
        }
    }
    if ((gemm && tg_gemm_set_backend(gemm) != TG_OK) || tg_set_num_threads(threads) != TG_OK) {
        fprintf(stderr, "bench_mlp: %s\n", tg_last_error());
        return 2;
    }

    tg_dataset *d = force_synthetic ? NULL : stream ? tg_mnist_open(dir, true) : tg_mnist_load(dir, true);
    const char *data_name = stream ? "fashion-mnist (streamed from the file)" : "fashion-mnist";
    if (!d && stream) {
        fprintf(stderr, "bench_mlp: %s\n", tg_last_error());
        return 1;
    }
    if (!d) {
        if (!force_synthetic)
            fprintf(stderr, "bench_mlp: %s; using random data of the same shape\n", tg_last_error());
        d = synthetic(60000);
        data_name = "synthetic";
    }
    tg_batch_opts bo = tg_batch_defaults(); /* batch 64, shuffled, x = pixel/255 */
    bo.seed = 1;
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_mlp m;
    tg_sgd_opts so = tg_sgd_defaults(0.001);
    if (!d || !p || !t || tg_dataset_batching(d, &bo) != TG_OK ||
        tg_mlp_init(&m, p, "fc", 4, (const int64_t[]){784, 500, 256, 10}, tg_relu, &rng) != TG_OK) {
        fprintf(stderr, "bench_mlp: setup failed: %s\n", tg_last_error());
        return 1;
    }
    tg_optim *o = tg_sgd_new(p, &so);
    if (!o) {
        fprintf(stderr, "bench_mlp: %s\n", tg_last_error());
        return 1;
    }

    replayer rp = {.t = replay ? tg_tape_new() : NULL};
    if (replay && !rp.t) return 1;
#define STEP(b) (replay && (b)->n == 64 ? replay_step(&rp, &m, o, (b)) : step(t, &m, o, (b)))

    /* warm-up: size the arena, start the workers, fault the pages in */
    tg_batch b;
    for (int i = 0; i < warmup && tg_dataset_next(d, &b); i++)
        if (isnan(STEP(&b))) return 1;
    tg_dataset_rewind(d);

    if (!csv)
        printf("bench_mlp: %s, %s, GEMM %s (kernel %s), %d thread(s), batch 64, SGD lr 0.001%s\n",
               tg_real_name(), data_name, tg_gemm_backend(), tg_gemm_kernel_name(),
               tg_get_num_threads(), replay ? ", replayed tape" : "");
    for (int e = 0; e < epochs; e++) {
        size_t tape_allocs0 = tg_tape_get_stats(t).heap_allocs;
        int64_t samples = 0, steps = 0;
        double loss_sum = 0;
        tg_gemm_profile(true);
        long allocs0 = atomic_load(&n_allocs);
        double t0 = now();
        while (tg_dataset_next(d, &b)) {
            double l = STEP(&b);
            if (isnan(l)) return 1;
            loss_sum += l;
            samples += b.n;
            steps++;
        }
        if (tg_dataset_error(d) != TG_OK) {
            fprintf(stderr, "bench_mlp: %s\n", tg_last_error());
            return 1;
        }
        double secs = now() - t0;
        long allocs = atomic_load(&n_allocs) - allocs0;
        tg_gemm_profile(false);
        double gemm_s = tg_gemm_profile_seconds();
        size_t tape_allocs = tg_tape_get_stats(t).heap_allocs - tape_allocs0;
        double rss_mb = peak_rss_mb(), rss_end = rss_now_mb();
        double gflops = EPOCH_GFLOP * (double)samples / 60000.0 / secs;
        if (csv)
            printf("mlp,%s,%s,%s,%d,%.4f,%.1f,%.2f,%.4f,%.4f,%.1f,%ld,%.5f,%.1f\n",
                   replay ? "tapegrad-replay" : "tapegrad", tg_gemm_backend(), tg_gemm_kernel_name(), tg_get_num_threads(), secs,
                   (double)samples / secs, gflops, gemm_s, secs / gemm_s, rss_mb, allocs,
                   loss_sum / (double)samples, rss_end);
        else
            printf("epoch %d: %.3f s, %.0f samples/s, %.1f GFLOP/s effective; GEMM %.3f s "
                   "(%ld calls), epoch/GEMM = %.3f; peak RSS %.1f MB (%.1f MB at the end); heap "
                   "allocations in the epoch: %ld (tape: %zu) over %lld steps; mean loss %.4f\n",
                   e, secs, (double)samples / secs, gflops, gemm_s, tg_gemm_profile_calls(),
                   secs / gemm_s, rss_mb, rss_end, allocs, tape_allocs, (long long)steps,
                   loss_sum / (double)samples);
    }
    tg_optim_free(o);
    tg_tape_free(rp.t);
    tg_tape_free(t);
    tg_params_free(p);
    tg_dataset_free(d);
    return 0;
}
