/* mnist_mlp: the main demo. Trains a small MLP on MNIST digits.

     ./build/examples/mnist_mlp                      bundled 8,000 / 2,000 digits, 5 epochs
     ./build/examples/mnist_mlp --data /usr/share/datasets/fashion-mnist
     ./build/examples/mnist_mlp --binary             digits 0 vs 1, one output, BCE
     ./build/examples/mnist_mlp --save w.safetensors (loads in PyTorch, docs/data.md)
     ./build/examples/mnist_mlp --explore mnist.html (one batch through a small network, as a page
                                                     that steps through backprop; then exits)
     ./build/examples/mnist_mlp --health health.svg  (activations, gradients and update / data
                                                     ratios per layer over training)

   The network and the training loop are those of the MLP notebook of the
   revdiff notebooks (courses/deep_learning/mlp.ipynb in
   https://github.com/obs145628/ml-notebooks): 784-500-256-10, ReLU,
   nn.Linear's initialisation, cross entropy summed over the batch, plain
   SGD with lr 0.001, batches of 64 reshuffled every epoch (the last one
   kept, even if smaller), 5 epochs. The pixels are scaled to [0, 1] and
   normalised with the usual MNIST mean 0.1307 and std 0.3081. PyTorch with the same recipe
   (tools/torch_mnist_reference.py) reaches 93.70% median test accuracy
   over 21 seeds on the bundled split and about 87.8% on Fashion-MNIST.

   Memory: the parameters, the optimizer's state and the dataset's batch
   buffers are allocated once; each step records on the tape and resets it,
   so after the first step training allocates nothing. */
#define _POSIX_C_SOURCE 200809L
#include <tapegrad.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trainer_cli.h"

#ifndef TG_EXAMPLE_DATA_DIR
#define TG_EXAMPLE_DATA_DIR "data"
#endif

typedef struct options {
    const char *data, *save, *load, *optim, *explore, *health;
    int epochs, threads;
    int64_t batch;
    double lr;
    uint64_t seed;
    bool binary, stream;
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mnist_mlp [options]\n"
            "  --data DIR       MNIST-format files (train-images-idx3-ubyte[.gz], ...);\n"
            "                   default: the bundled digits in %s/mnist\n"
            "  --epochs N       passes over the training set (5); 0 only evaluates\n"
            "  --lr X           learning rate (0.001)\n"
            "  --batch N        mini-batch size (64)\n"
            "  --optim NAME     sgd or adam (sgd)\n"
            "  --seed N         seed of the initial weights and the shuffling (0)\n"
            "  --threads N      threads for matrix products (default: the library's)\n"
            "  --load FILE      start from weights in a safetensors file\n"
            "  --save FILE      write the trained weights as safetensors (F32)\n"
            "  --binary         digits 0 vs 1 only: one output, BCE with logits\n"
            "  --stream         read the training images from their file batch by batch\n"
            "                   (uncompressed IDX only) instead of loading them\n"
            "  --explore FILE   write the explorer page (tg_tape_html) of one batch of 4 test\n"
            "                   images through a small %lld-16-10 network, and exit\n"
            "  --health FILE    write the training health (tg_health_svg) of the run as SVG:\n"
            "                   per layer, activations and their gradients, dead units, and\n"
            "                   each weight's update / data ratio over the steps\n"
            "  --help           this text\n",
            TG_EXAMPLE_DATA_DIR, (long long)784);
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.data = NULL, .optim = "sgd", .epochs = 5, .threads = 0, .batch = 64,
                   .lr = 0.001, .seed = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--binary")) {
            o->binary = true;
            continue;
        } else if (!strcmp(a, "--stream")) {
            o->stream = true;
            continue;
        }
        static const char *const with_value[] = {"--data",  "--save",    "--load",
                                                 "--optim", "--epochs",  "--batch",
                                                 "--seed",  "--threads", "--lr",
                                                 "--explore", "--health"};
        bool known = false;
        for (size_t k = 0; k < sizeof with_value / sizeof *with_value; k++)
            known |= !strcmp(a, with_value[k]);
        if (!known) {
            fprintf(stderr, "mnist_mlp: unknown option or argument '%s' (see --help)\n", a);
            return 2;
        }
        if (!v) {
            fprintf(stderr, "mnist_mlp: %s needs a value (see --help)\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--save")) o->save = v;
        else if (!strcmp(a, "--load")) o->load = v;
        else if (!strcmp(a, "--explore")) o->explore = v;
        else if (!strcmp(a, "--health")) o->health = v;
        else if (!strcmp(a, "--optim")) {
            if (strcmp(v, "sgd") && strcmp(v, "adam")) {
                fprintf(stderr, "mnist_mlp: --optim takes sgd or adam, not '%s'\n", v);
                return 2;
            }
            o->optim = v;
        } else if (!strcmp(a, "--epochs") && parse_int(v, 0, 100000, &n)) o->epochs = (int)n;
        else if (!strcmp(a, "--batch") && parse_int(v, 1, 1 << 20, &n)) o->batch = n;
        else if (!strcmp(a, "--seed") && parse_int(v, 0, INT64_MAX, &n)) o->seed = (uint64_t)n;
        else if (!strcmp(a, "--threads") && parse_int(v, 1, 1024, &n)) o->threads = (int)n;
        else if (!strcmp(a, "--lr")) {
            char *end;
            o->lr = strtod(v, &end);
            if (end == v || *end || !(o->lr >= 0) || !isfinite(o->lr)) {
                fprintf(stderr, "mnist_mlp: --lr needs a number >= 0, not '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "mnist_mlp: bad value for %s: '%s' (see --help)\n", a, v);
            return 2;
        }
    }
    return 0;
}

/* The loss of one batch: summed over it, as the MLP notebook does. */
static tg_tensor *batch_loss(tg_tape *t, tg_tensor *logits, const tg_batch *b, bool binary)
{
    if (!binary) return tg_cross_entropy(t, logits, b->y, TG_REDUCE_SUM);
    tg_tensor *y = tg_tensor_new(t, TG_SHAPE(b->n, 1), b->y_real); /* [n, 1] of 0/1 */
    return tg_bce_with_logits(t, logits, y, NULL, TG_REDUCE_SUM);
}

/* Test loss (mean per sample) and accuracy, with recording off. */
static int evaluate(tg_tape *t, const tg_mlp *m, tg_dataset *d, bool binary, double *loss,
                    double *acc)
{
    bool was = tg_tape_set_recording(t, false);
    tg_dataset_rewind(d);
    double sum = 0;
    int64_t right = 0, seen = 0;
    tg_batch b;
    while (tg_dataset_next(d, &b)) {
        tg_tensor *logits = tg_mlp_forward(t, m, tg_tensor_wrap(t, TG_SHAPE(b.n, b.features), b.x));
        tg_tensor *l = batch_loss(t, logits, &b, binary);
        if (!l) {
            fprintf(stderr, "mnist_mlp: %s\n", tg_tape_error(t));
            tg_tape_set_recording(t, was);
            return 1;
        }
        sum += (double)l->data[0];
        const int64_t c = logits->shape[1];
        for (int64_t i = 0; i < b.n; i++) {
            const tg_real *row = logits->data + i * c; /* [c] */
            int64_t best = 0;
            if (binary) best = row[0] > 0;
            else
                for (int64_t k = 1; k < c; k++)
                    if (row[k] > row[best]) best = k;
            right += best == b.y[i];
        }
        seen += b.n;
        tg_tape_reset(t);
    }
    tg_tape_set_recording(t, was);
    *loss = seen ? sum / (double)seen : NAN;
    *acc = seen ? 100.0 * (double)right / (double)seen : NAN;
    return 0;
}

/* --explore: one batch of 4 test images through a small network (784-16-10,
   ReLU, cross entropy), as the explorer page: small enough to read every
   step, and the same ops as the demo's network. */
static int explore(const char *path, tg_dataset *test, int classes, uint64_t seed, bool binary)
{
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    tg_mlp m;
    tg_batch b;
    int rc = 1;
    const int64_t sizes[] = {tg_dataset_features(test), 16, classes};
    tg_dataset_rewind(test);
    if (!p || !t || tg_mlp_init(&m, p, "fc", 3, sizes, tg_relu, &rng) != TG_OK ||
        !tg_dataset_next(test, &b)) {
        fprintf(stderr, "mnist_mlp: %s\n", tg_last_error());
        goto done;
    }
    const int64_t n = b.n < 4 ? b.n : 4;
    tg_tensor *x = tg_tensor_set_name(tg_tensor_new(t, TG_SHAPE(n, b.features), b.x), "images");
    tg_tensor *z1 = tg_tensor_set_name(tg_linear_layer_forward(t, &m.layers[0], x), "z1");
    tg_tensor *h1 = tg_tensor_set_name(tg_relu(t, z1), "h1");
    tg_tensor *logits = tg_tensor_set_name(tg_linear_layer_forward(t, &m.layers[1], h1), "logits");
    tg_tensor *loss = NULL;
    if (binary) {
        tg_tensor *y = tg_tensor_set_name(tg_tensor_new(t, TG_SHAPE(n, 1), b.y_real), "labels");
        loss = tg_bce_with_logits(t, logits, y, NULL, TG_REDUCE_MEAN);
    } else {
        loss = tg_cross_entropy(t, logits, b.y, TG_REDUCE_MEAN); /* the first n labels */
    }
    if (!tg_tensor_set_name(loss, "loss")) {
        fprintf(stderr, "mnist_mlp: %s\n", tg_tape_error(t));
        goto done;
    }
    char title[160];
    snprintf(title, sizeof title, "mnist_mlp: %lld test images through %lld-16-%d, ReLU, %s",
             (long long)n, (long long)b.features, classes,
             binary ? "BCE with logits" : "cross entropy");
    tg_html_opts ho = {.title = title};
    FILE *f = fopen(path, "w");
    if (!f || tg_tape_html(t, loss, f, &ho) != TG_OK || fclose(f) != 0) {
        fprintf(stderr, "mnist_mlp: cannot write %s: %s\n", path, f ? tg_last_error() : "");
        goto done;
    }
    printf("explorer page of one batch (%lld images, labels", (long long)n);
    for (int64_t i = 0; i < n; i++) printf(" %lld", (long long)b.y[i]);
    printf(") through %lld-16-%d: %s (open it in a browser)\n", (long long)b.features, classes,
           path);
    rc = 0;
done:
    tg_tape_free(t);
    tg_params_free(p);
    return rc;
}

/* The MLP's forward pass as tg_mlp_forward computes it, keeping each hidden
   layer's activation for --health (observed after the backward, when their
   gradients are there). */
static tg_tensor *forward_kept(tg_tape *t, const tg_mlp *m, tg_tensor *x, tg_tensor **hidden)
{
    for (int i = 0; i < m->n_layers && x; i++) {
        x = tg_linear_layer_forward(t, &m->layers[i], x);
        if (x && m->act && i + 1 < m->n_layers) x = hidden[i] = m->act(t, x);
    }
    return x;
}

/* The digits 0 and 1 only, for --binary. */
static tg_dataset *zeros_and_ones(tg_dataset *d)
{
    int64_t n = tg_dataset_len(d), k = 0;
    int64_t *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    if (!idx) return NULL;
    for (int64_t i = 0; i < n; i++)
        if (tg_dataset_labels(d)[i] < 2) idx[k++] = i;
    tg_dataset *s = tg_dataset_subset(d, idx, k);
    free(idx);
    return s;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    const char *dir = o.data ? o.data : TG_EXAMPLE_DATA_DIR "/mnist";
    bool tty = isatty(fileno(stdout));

    tg_dataset *train = o.stream ? tg_mnist_open(dir, true) : tg_mnist_load(dir, true);
    tg_dataset *test = train ? tg_mnist_load(dir, false) : NULL;
    if (!train || !test) {
        fprintf(stderr, "mnist_mlp: %s\n", tg_last_error());
        tg_dataset_free(train);
        return 1;
    }
    if (o.binary) {
        tg_dataset *a = zeros_and_ones(train), *b = zeros_and_ones(test);
        tg_dataset_free(train);
        tg_dataset_free(test);
        train = a, test = b;
        if (!train || !test) {
            fprintf(stderr, "mnist_mlp: %s\n", tg_last_error());
            tg_dataset_free(train);
            tg_dataset_free(test);
            return 1;
        }
    }
    int64_t features = tg_dataset_features(train);
    int classes = o.binary ? 1 : (tg_dataset_classes(train) > 10 ? tg_dataset_classes(train) : 10);

    tg_batch_opts bo = tg_batch_defaults();
    bo.batch_size = o.batch;
    bo.seed = o.seed;
    bo.mean = TG_MNIST_MEAN;
    bo.std = TG_MNIST_STD;
    tg_batch_opts to = bo;
    to.shuffle = false;
    if (tg_dataset_batching(train, &bo) != TG_OK || tg_dataset_batching(test, &to) != TG_OK) {
        fprintf(stderr, "mnist_mlp: %s\n", tg_last_error());
        tg_dataset_free(train);
        tg_dataset_free(test);
        return 1;
    }

    /* the network: fc1 784→500, fc2 500→256, fc3 256→10 (or 1) */
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, o.seed);
    tg_mlp m;
    const int64_t sizes[] = {features, 500, 256, classes};
    tg_optim *opt = NULL;
    tg_health *health = NULL;
    rc = 1;
    if (!p || !t || tg_mlp_init(&m, p, "fc", 4, sizes, tg_relu, &rng) != TG_OK) goto fail;
    if (o.load && tg_params_load(p, o.load) != TG_OK) goto fail;
    if (o.threads && tg_set_num_threads(o.threads) != TG_OK) goto fail;
    if (o.explore) {
        rc = explore(o.explore, test, classes, o.seed, o.binary);
        goto done;
    }
    if (o.health && !(health = tg_health_new())) goto fail;
    int64_t step = 0;
    if (!strcmp(o.optim, "sgd")) {
        tg_sgd_opts so = tg_sgd_defaults(o.lr);
        opt = tg_sgd_new(p, &so);
    } else {
        tg_adam_opts ao = tg_adam_defaults(o.lr);
        opt = tg_adam_new(p, &ao);
    }
    if (!opt) goto fail;

    printf("tapegrad %s (%s): MLP %lld-500-256-%d, ReLU, %s, %s lr %g, batch %lld, %d epoch%s, "
           "seed %llu\n",
           tg_version(), tg_real_name(), (long long)features, classes,
           o.binary ? "BCE with logits (sum)" : "cross entropy (sum)", o.optim, o.lr,
           (long long)o.batch, o.epochs, o.epochs == 1 ? "" : "s", (unsigned long long)o.seed);
    printf("data: %s%s: %lld train%s, %lld test%s\n", dir, o.data ? "" : " (bundled)",
           (long long)tg_dataset_len(train),
           tg_dataset_streamed(train) ? " (read from the file)" : "",
           (long long)tg_dataset_len(test), o.binary ? " (digits 0 and 1)" : "");
    if (o.load) printf("weights: %s\n", o.load);

    double test_loss, test_acc;
    if (o.epochs == 0) {
        if (evaluate(t, &m, test, o.binary, &test_loss, &test_acc)) goto fail_quiet;
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
            tg_tensor *hidden[TG_MLP_MAX_LAYERS] = {0};
            tg_tensor *loss = batch_loss(t, health ? forward_kept(t, &m, x, hidden)
                                                   : tg_mlp_forward(t, &m, x), &b, o.binary);
            if (!loss) {
                fprintf(stderr, "\nmnist_mlp: %s\n", tg_tape_error(t));
                goto fail_quiet;
            }
            tg_optim_release_grad(opt); /* optimizer.zero_grad(): grads become NULL */
            bool ok = tg_backward(t, loss) == TG_OK;
            if (ok && health) { /* each hidden layer, and the step's update of each weight */
                char name[32];
                for (int i = 0; i + 1 < m.n_layers && ok; i++) {
                    snprintf(name, sizeof name, "fc%d", i + 1);
                    ok = tg_health_observe(health, (int)step, name, hidden[i]) == TG_OK;
                }
                ok = ok && tg_health_before_update(health, p) == TG_OK;
            }
            ok = ok && tg_optim_step(opt) == TG_OK;
            if (ok && health) ok = tg_health_after_update(health, p, (int)step) == TG_OK;
            step++;
            if (!ok) {
                fprintf(stderr, "\nmnist_mlp: %s%s\n", tg_tape_error(t), tg_last_error());
                goto fail_quiet;
            }
            loss_sum += (double)loss->data[0];
            samples += b.n;
            tg_tape_reset(t); /* forget the step, keep the memory */
            double el = now() - t0;
            if (tty && (el - last_draw > 0.05 || b.number + 1 == nb)) {
                last_draw = el;
                double rate = (double)samples / (el > 0 ? el : 1e-9);
                int64_t left = tg_dataset_len(train) - samples;
                progress(epoch, o.epochs, b.number + 1, nb, loss_sum / (double)samples, rate,
                         (double)left / rate);
            }
        }
        double el = now() - t0;
        if (evaluate(t, &m, test, o.binary, &test_loss, &test_acc)) goto fail_quiet;
        if (tty) printf("\r\033[K");
        printf("epoch %d/%d  train loss %.4f  test loss %.4f  test accuracy %.2f%%  %.2fs  "
               "%.0f samples/s\n",
               epoch, o.epochs, loss_sum / (double)(samples ? samples : 1), test_loss, test_acc, el,
               (double)samples / (el > 0 ? el : 1e-9));
        fflush(stdout);
    }
    if (o.epochs) printf("final test accuracy %.2f%% after %d epoch%s (%.1fs)\n", test_acc, o.epochs, o.epochs == 1 ? "" : "s",
                         now() - t_all);
    if (health) {
        FILE *f = fopen(o.health, "w");
        if (!f || tg_health_svg(health, f) != TG_OK || fclose(f) != 0) {
            fprintf(stderr, "mnist_mlp: cannot write %s: %s\n", o.health, f ? tg_last_error() : "");
            goto fail_quiet;
        }
        printf("training health (activations, gradients, update / data per layer): %s\n",
               o.health);
    }
    if (o.epochs && !o.binary) { /* the test set's confusion matrix */
        int64_t n = tg_dataset_len(test), k = 0, cm[10 * 10];
        int64_t *pred = malloc((size_t)(n ? n : 1) * sizeof *pred);
        int64_t *truth = malloc((size_t)(n ? n : 1) * sizeof *truth);
        bool was = tg_tape_set_recording(t, false);
        tg_batch cb;
        tg_dataset_rewind(test);
        while (pred && truth && tg_dataset_next(test, &cb)) {
            tg_tensor *lg = tg_mlp_forward(t, &m, tg_tensor_wrap(t, TG_SHAPE(cb.n, cb.features), cb.x));
            if (lg && tg_argmax_rows(lg->data, cb.n, lg->shape[1], pred + k) == TG_OK) {
                memcpy(truth + k, cb.y, (size_t)cb.n * sizeof *truth);
                k += cb.n;
            }
            tg_tape_reset(t);
        }
        tg_tape_set_recording(t, was);
        if (classes <= 10 && k == n && tg_confusion_matrix(pred, truth, k, classes, cm) == TG_OK)
            tg_confusion_print(cm, classes, stdout);
        free(pred);
        free(truth);
    }
    if (o.save) {
        if (tg_params_save(p, o.save, TG_F32) != TG_OK) goto fail;
        printf("weights saved to %s (safetensors, F32: fc1.weight [500,%lld], ..., fc3.bias [%d])\n",
               o.save, (long long)features, classes);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "mnist_mlp: %s\n", tg_last_error());
fail_quiet:
    rc = 1;
done:
    tg_health_free(health);
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_params_free(p);
    tg_dataset_free(train);
    tg_dataset_free(test);
    return rc;
}
