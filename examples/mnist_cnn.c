/* mnist_cnn: a LeNet-style convolutional network on MNIST digits.

     ./build/examples/mnist_cnn                      bundled 8,000 / 2,000 digits, 5 epochs
     ./build/examples/mnist_cnn --bn --dropout 0.2   batch norm after each convolution,
                                                     dropout after fc1 and fc2
     ./build/examples/mnist_cnn --data /usr/share/datasets/fashion-mnist
                                                     Fashion-MNIST (Debian's
                                                     dataset-fashion-mnist), or any
                                                     directory of MNIST-format IDX files
     ./build/examples/mnist_cnn --save w.safetensors (PyTorch's state-dict names)

   The network is examples/lenet.h: conv 1→6 5x5 (padding 2), ReLU, max
   pool 2, conv 6→16 5x5, ReLU, max pool 2, then 400-120-84-10 with ReLU.
   The recipe: PyTorch's default initialisation, cross entropy averaged
   over the batch, SGD lr 0.01 with momentum 0.9, batches of 64 reshuffled
   every epoch (the last one kept, even if smaller), 5 epochs, pixels
   scaled to [0, 1] and normalised with mean 0.1307 and std 0.3081; the
   test set is evaluated in evaluation mode (running statistics, no
   dropout). tools/torch_mnist_cnn_reference.py runs the same recipe in
   PyTorch over many seeds (docs/data.md has the figures).

   Memory: the parameters, the optimizer's state and the dataset's batch
   buffers are allocated once; each step records on the tape and resets it
   (the convolutions keep their scratch in the tape's arena), so after the
   first step training allocates nothing (tests/nn/test_mnist_cnn.c checks
   it). */
#define _POSIX_C_SOURCE 200809L
#include <tapegrad.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lenet.h"
#include "trainer_cli.h"

#ifndef TG_EXAMPLE_DATA_DIR
#define TG_EXAMPLE_DATA_DIR "data"
#endif

typedef struct options {
    const char *data, *save, *load;
    int epochs, threads;
    int64_t batch;
    double lr, momentum, dropout;
    uint64_t seed;
    bool bn;
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mnist_cnn [options]\n"
            "  --data DIR       a directory of MNIST-format IDX files (train-images-idx3-ubyte,\n"
            "                   train-labels-idx1-ubyte, t10k-..., each optionally .gz);\n"
            "                   default: the bundled digits in %s/mnist.\n"
            "                   Fashion-MNIST: --data /usr/share/datasets/fashion-mnist\n"
            "                   (Debian's package dataset-fashion-mnist); nothing is downloaded\n"
            "  --epochs N       passes over the training set (5); 0 only evaluates\n"
            "  --lr X           learning rate (0.01)\n"
            "  --momentum X     SGD momentum (0.9)\n"
            "  --batch N        mini-batch size (64)\n"
            "  --bn             batch norm after each convolution (BatchNorm2d)\n"
            "  --dropout P      dropout of probability P after fc1 and fc2 (0: none)\n"
            "  --seed N         seed of the initial weights, the shuffling and dropout (0)\n"
            "  --threads N      threads for matrix products (default: the library's)\n"
            "  --load FILE      start from weights in a safetensors file\n"
            "  --save FILE      write the trained weights (and batch norm's statistics)\n"
            "                   as safetensors (F32), under PyTorch's state-dict names\n"
            "  --help           this text\n",
            TG_EXAMPLE_DATA_DIR);
}

static bool parse_real(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.epochs = 5, .batch = 64, .lr = 0.01, .momentum = 0.9};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--bn")) {
            o->bn = true;
            continue;
        }
        static const char *const with_value[] = {"--data",    "--save",  "--load", "--epochs",
                                                 "--batch",   "--seed",  "--lr",   "--momentum",
                                                 "--dropout", "--threads"};
        bool known = false;
        for (size_t k = 0; k < sizeof with_value / sizeof *with_value; k++)
            known |= !strcmp(a, with_value[k]);
        if (!known) {
            fprintf(stderr, "mnist_cnn: unknown option or argument '%s' (see --help)\n", a);
            return 2;
        }
        if (!v) {
            fprintf(stderr, "mnist_cnn: %s needs a value (see --help)\n", a);
            return 2;
        }
        i++;
        bool ok = true;
        if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--save")) o->save = v;
        else if (!strcmp(a, "--load")) o->load = v;
        else if (!strcmp(a, "--epochs") && (ok = parse_int(v, 0, 100000, &n))) o->epochs = (int)n;
        else if (!strcmp(a, "--batch") && (ok = parse_int(v, 1, 1 << 20, &n))) o->batch = n;
        else if (!strcmp(a, "--seed") && (ok = parse_int(v, 0, INT64_MAX, &n)))
            o->seed = (uint64_t)n;
        else if (!strcmp(a, "--threads") && (ok = parse_int(v, 1, 1024, &n))) o->threads = (int)n;
        else if (!strcmp(a, "--lr")) ok = parse_real(v, 0, INFINITY, &o->lr) && isfinite(o->lr);
        else if (!strcmp(a, "--momentum")) ok = parse_real(v, 0, 1, &o->momentum);
        else if (!strcmp(a, "--dropout")) ok = parse_real(v, 0, 1, &o->dropout) && o->dropout < 1;
        if (!ok) {
            fprintf(stderr, "mnist_cnn: bad value for %s: '%s' (see --help)\n", a, v);
            return 2;
        }
    }
    return 0;
}

/* Test loss (mean per sample) and accuracy in evaluation mode, recording
   off; the training switch and recording are put back. */
static int evaluate(tg_tape *t, tg_params *p, const lenet *m, tg_dataset *d, double *loss,
                    double *acc)
{
    bool was = tg_tape_set_recording(t, false), training = tg_params_training(p);
    tg_params_set_training(p, false);
    tg_dataset_rewind(d);
    double sum = 0;
    int64_t right = 0, seen = 0;
    int rc = 0;
    tg_batch b;
    while (tg_dataset_next(d, &b)) {
        tg_tensor *logits = lenet_forward(t, m, tg_tensor_wrap(t, TG_SHAPE(b.n, b.features), b.x));
        tg_tensor *l = tg_cross_entropy(t, logits, b.y, TG_REDUCE_SUM);
        if (!l) {
            fprintf(stderr, "mnist_cnn: %s\n", tg_tape_error(t));
            rc = 1;
            break;
        }
        sum += (double)l->data[0];
        for (int64_t i = 0; i < b.n; i++) {
            const tg_real *row = logits->data + i * 10; /* [10] */
            int64_t best = 0;
            for (int64_t k = 1; k < 10; k++)
                if (row[k] > row[best]) best = k;
            right += best == b.y[i];
        }
        seen += b.n;
        tg_tape_reset(t);
    }
    tg_tape_reset(t);
    tg_params_set_training(p, training);
    tg_tape_set_recording(t, was);
    *loss = seen ? sum / (double)seen : NAN;
    *acc = seen ? 100.0 * (double)right / (double)seen : NAN;
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    const char *dir = o.data ? o.data : TG_EXAMPLE_DATA_DIR "/mnist";
    bool tty = isatty(fileno(stdout));

    tg_dataset *train = tg_mnist_load(dir, true);
    tg_dataset *test = train ? tg_mnist_load(dir, false) : NULL;
    if (!train || !test) {
        fprintf(stderr, "mnist_cnn: %s\n", tg_last_error());
        tg_dataset_free(train);
        return 1;
    }
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_optim *opt = NULL;
    rc = 1;
    if (tg_dataset_features(train) != 784 || tg_dataset_classes(train) > 10) {
        fprintf(stderr, "mnist_cnn: %s holds images of %lld pixels in %d classes: the network "
                "takes 28x28 images in at most 10 classes\n", dir,
                (long long)tg_dataset_features(train), tg_dataset_classes(train));
        goto fail_quiet;
    }
    tg_batch_opts bo = tg_batch_defaults();
    bo.batch_size = o.batch;
    bo.seed = o.seed;
    bo.mean = TG_MNIST_MEAN;
    bo.std = TG_MNIST_STD;
    tg_batch_opts to = bo;
    to.shuffle = false;
    to.batch_size = 1000;
    if (tg_dataset_batching(train, &bo) != TG_OK || tg_dataset_batching(test, &to) != TG_OK)
        goto fail;

    tg_rng init, drop;
    tg_rng_seed(&init, o.seed);
    tg_rng_seed(&drop, o.seed + 1);
    lenet m;
    if (!p || !t || lenet_init(&m, p, o.bn, o.dropout, &init, &drop) != TG_OK) goto fail;
    if (o.load && tg_params_load(p, o.load) != TG_OK) goto fail;
    if (o.threads && tg_set_num_threads(o.threads) != TG_OK) goto fail;
    tg_sgd_opts so = tg_sgd_defaults(o.lr);
    so.momentum = o.momentum;
    if (!(opt = tg_sgd_new(p, &so))) goto fail;

    printf("tapegrad %s (%s): LeNet conv(6,5x5)-pool-conv(16,5x5)-pool-120-84-10%s%s, "
           "%lld parameters; cross entropy (mean), SGD lr %g momentum %g, batch %lld, "
           "%d epoch%s, seed %llu\n",
           tg_version(), tg_real_name(), o.bn ? ", batch norm" : "",
           o.dropout > 0 ? ", dropout" : "", (long long)tg_params_numel(p), o.lr, o.momentum,
           (long long)o.batch, o.epochs, o.epochs == 1 ? "" : "s", (unsigned long long)o.seed);
    if (o.dropout > 0) printf("dropout p = %g after fc1 and fc2\n", o.dropout);
    printf("data: %s%s: %lld train, %lld test\n", dir, o.data ? "" : " (bundled)",
           (long long)tg_dataset_len(train), (long long)tg_dataset_len(test));
    if (o.load) printf("weights: %s\n", o.load);

    double test_loss = NAN, test_acc = NAN;
    if (o.epochs == 0) {
        if (evaluate(t, p, &m, test, &test_loss, &test_acc)) goto fail_quiet;
        printf("test loss %.4f  test accuracy %.2f%%\n", test_loss, test_acc);
    }
    const int64_t nb = tg_dataset_num_batches(train);
    double t_all = now();
    for (int epoch = 1; epoch <= o.epochs; epoch++) {
        double t0 = now(), last_draw = 0, loss_sum = 0;
        int64_t samples = 0;
        tg_batch b;
        while (tg_dataset_next(train, &b)) {
            tg_tensor *x = tg_tensor_wrap(t, TG_SHAPE(b.n, b.features), b.x); /* not copied */
            tg_tensor *loss = tg_cross_entropy(t, lenet_forward(t, &m, x), b.y, TG_REDUCE_MEAN);
            if (!loss) {
                fprintf(stderr, "\nmnist_cnn: %s\n", tg_tape_error(t));
                goto fail_quiet;
            }
            tg_optim_release_grad(opt); /* optimizer.zero_grad() */
            if (tg_backward(t, loss) != TG_OK || tg_optim_step(opt) != TG_OK) {
                fprintf(stderr, "\nmnist_cnn: %s%s\n", tg_tape_error(t), tg_last_error());
                goto fail_quiet;
            }
            loss_sum += (double)loss->data[0] * (double)b.n;
            samples += b.n;
            tg_tape_reset(t); /* forget the step, keep the memory */
            double el = now() - t0;
            if (tty && (el - last_draw > 0.05 || b.number + 1 == nb)) {
                last_draw = el;
                double rate = (double)samples / (el > 0 ? el : 1e-9);
                progress(epoch, o.epochs, b.number + 1, nb, loss_sum / (double)samples, rate,
                         (double)(tg_dataset_len(train) - samples) / rate);
            }
        }
        double el = now() - t0;
        if (evaluate(t, p, &m, test, &test_loss, &test_acc)) goto fail_quiet;
        if (tty) printf("\r\033[K");
        printf("epoch %d/%d  train loss %.4f  test loss %.4f  test accuracy %.2f%%  %.2fs  "
               "%.0f samples/s\n",
               epoch, o.epochs, loss_sum / (double)(samples ? samples : 1), test_loss, test_acc,
               el, (double)samples / (el > 0 ? el : 1e-9));
        fflush(stdout);
    }
    if (o.epochs)
        printf("final test accuracy %.2f%% after %d epoch%s (%.1fs)\n", test_acc, o.epochs,
               o.epochs == 1 ? "" : "s", now() - t_all);
    if (o.save) {
        if (tg_params_save(p, o.save, TG_F32) != TG_OK) goto fail;
        printf("weights saved to %s (safetensors, F32, PyTorch's state-dict names)\n", o.save);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "mnist_cnn: %s\n", tg_last_error());
fail_quiet:
    rc = 1;
done:
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_params_free(p);
    tg_dataset_free(train);
    tg_dataset_free(test);
    return rc;
}
