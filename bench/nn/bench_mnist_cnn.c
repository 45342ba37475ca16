/* bench_mnist_cnn: training epochs of the mnist_cnn demo's network, timed.

   examples/lenet.h (conv 1→6 5x5 pad 2, ReLU, max pool 2, conv 6→16 5x5,
   ReLU, max pool 2, 400-120-84-10; --bn: batch norm after each
   convolution), the demo's recipe: cross entropy averaged over the batch,
   SGD lr 0.01 momentum 0.9, batches of 64 shuffled, x = (pixel/255 −
   0.1307)/0.3081. On Fashion-MNIST's 60,000 training images (Debian's
   dataset-fashion-mnist, in /usr/share/datasets/fashion-mnist: an epoch is
   938 steps), or on random data of the same shape when it is absent.
   bench/torch_mnist_cnn.py does the same in PyTorch.

   Prints seconds per epoch (or for --steps N steps), samples/s, the time
   inside tg_gemm (the convolutions' im2col products and the linear layers)
   and its share, peak RSS (VmHWM) and the resident size at the end, and the
   heap allocations made during the timed steps (malloc and friends are
   counted by this program; after the warm-up a step must make none).

   usage: bench_mnist_cnn [--data DIR] [--synthetic] [--bn] [--gemm builtin|cblas]
                          [--threads T] [--epochs E] [--steps N] [--warmup STEPS] [--csv] */
#define _GNU_SOURCE
#include "core/internal.h"
#include "gemm/gemm.h"
#include "bench_support.h"

#include "../../examples/lenet.h"

#include <math.h>
#include <string.h>

/* One step of the demo's loop; the loss, or NAN on failure. The gradients
   are released with the step (PyTorch's zero_grad(set_to_none=True), as
   bench/torch_mnist_cnn.py does). */
static double step(tg_tape *t, const lenet *m, tg_optim *o, const tg_batch *b)
{
    tg_tensor *x = tg_tensor_wrap(t, TG_SHAPE(b->n, 784), b->x); /* the batch, not copied */
    tg_tensor *loss = tg_cross_entropy(t, lenet_forward(t, m, x), b->y, TG_REDUCE_MEAN);
    if (!loss) {
        fprintf(stderr, "bench_mnist_cnn: %s\n", tg_tape_error(t));
        return NAN;
    }
    double l = (double)loss->data[0];
    if (tg_backward(t, loss) != TG_OK || tg_optim_step_release_grad(o) != TG_OK) {
        fprintf(stderr, "bench_mnist_cnn: %s%s\n", tg_tape_error(t), tg_last_error());
        return NAN;
    }
    tg_tape_reset(t);
    return l;
}

int main(int argc, char **argv)
{
    const char *dir = "/usr/share/datasets/fashion-mnist", *gemm = NULL;
    bool force_synthetic = false, csv = false, bn = false;
    int threads = 1, epochs = 1, warmup = 20;
    long max_steps = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) dir = argv[++i];
        else if (strcmp(argv[i], "--synthetic") == 0) force_synthetic = true;
        else if (strcmp(argv[i], "--bn") == 0) bn = true;
        else if (strcmp(argv[i], "--gemm") == 0 && i + 1 < argc) gemm = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc) epochs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) max_steps = atol(argv[++i]);
        else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (strcmp(argv[i], "--csv") == 0) csv = true;
        else {
            fprintf(stderr, "usage: %s [--data DIR] [--synthetic] [--bn] [--gemm builtin|cblas] "
                            "[--threads T] [--epochs E] [--steps N] [--warmup STEPS] [--csv]\n",
                    argv[0]);
            return 2;
        }
    }
    if ((gemm && tg_gemm_set_backend(gemm) != TG_OK) || tg_set_num_threads(threads) != TG_OK) {
        fprintf(stderr, "bench_mnist_cnn: %s\n", tg_last_error());
        return 2;
    }
    tg_dataset *d = force_synthetic ? NULL : tg_mnist_load(dir, true);
    const char *data_name = "fashion-mnist";
    if (!d) {
        if (!force_synthetic)
            fprintf(stderr, "bench_mnist_cnn: %s; using random data of the same shape\n",
                    tg_last_error());
        d = synthetic(60000);
        data_name = "synthetic";
    }
    tg_batch_opts bo = tg_batch_defaults(); /* batch 64, shuffled */
    bo.seed = 1;
    bo.mean = TG_MNIST_MEAN;
    bo.std = TG_MNIST_STD;
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    lenet m;
    tg_sgd_opts so = tg_sgd_defaults(0.01);
    so.momentum = 0.9;
    tg_optim *o = NULL;
    if (!d || !p || !t || tg_dataset_batching(d, &bo) != TG_OK ||
        lenet_init(&m, p, bn, 0, &rng, NULL) != TG_OK || !(o = tg_sgd_new(p, &so))) {
        fprintf(stderr, "bench_mnist_cnn: setup failed: %s\n", tg_last_error());
        return 1;
    }

    /* warm-up: size the arena, start the workers, fault the pages in */
    tg_batch b;
    for (int i = 0; i < warmup && tg_dataset_next(d, &b); i++)
        if (isnan(step(t, &m, o, &b))) return 1;
    tg_dataset_rewind(d);

    if (!csv)
        printf("bench_mnist_cnn: %s, %s, LeNet%s, GEMM %s (kernel %s), %d thread(s), batch 64, "
               "SGD lr 0.01 momentum 0.9\n",
               tg_real_name(), data_name, bn ? " + batch norm" : "", tg_gemm_backend(),
               tg_gemm_kernel_name(), tg_get_num_threads());
    for (int e = 0; e < epochs; e++) {
        int64_t samples = 0, steps = 0;
        double loss_sum = 0;
        tg_gemm_profile(true);
        long allocs0 = atomic_load(&n_allocs);
        double t0 = now();
        while ((max_steps < 0 || steps < max_steps) && tg_dataset_next(d, &b)) {
            double l = step(t, &m, o, &b);
            if (isnan(l)) return 1;
            loss_sum += l * (double)b.n;
            samples += b.n;
            steps++;
        }
        double secs = now() - t0;
        long allocs = atomic_load(&n_allocs) - allocs0;
        tg_gemm_profile(false);
        double gemm_s = tg_gemm_profile_seconds();
        double rss_mb = peak_rss_mb(), rss_end = rss_now_mb();
        if (max_steps >= 0) tg_dataset_rewind(d);
        if (csv)
            printf("mnist_cnn%s,tapegrad,%s,%s,%d,%.4f,%.1f,%.4f,%.1f,%ld,%.5f,%.1f,%lld\n",
                   bn ? "_bn" : "", tg_gemm_backend(), tg_gemm_kernel_name(),
                   tg_get_num_threads(), secs, (double)samples / secs, gemm_s, rss_mb, allocs,
                   loss_sum / (double)samples, rss_end, (long long)steps);
        else
            printf("epoch %d: %.3f s for %lld steps, %.0f samples/s; GEMM %.3f s (%ld calls, "
                   "%.0f%% of the time); peak RSS %.1f MB (%.1f MB at the end); heap "
                   "allocations in the timed steps: %ld; mean loss %.4f\n",
                   e, secs, (long long)steps, (double)samples / secs, gemm_s,
                   tg_gemm_profile_calls(), 100 * gemm_s / secs, rss_mb, rss_end, allocs,
                   loss_sum / (double)samples);
    }
    tg_optim_free(o);
    tg_tape_free(t);
    tg_params_free(p);
    tg_dataset_free(d);
    return 0;
}
