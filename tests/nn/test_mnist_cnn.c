/* The mnist_cnn demo's network (examples/lenet.h) against PyTorch, over a
   training run, and its training step's memory.

   Parity: tests/gen_golden_cnn_demo.py trains the same network in PyTorch
   from initial weights it wrote (tests/golden/cnn_demo_init_*.safetensors,
   loaded here with tg_params_load), 20 steps of the demo's recipe (cross
   entropy averaged over the batch, SGD lr 0.01 momentum 0.9) on the first
   20 batches of 32 bundled MNIST training images in file order, without
   and with batch norm. Here the same run goes through tapegrad's dataset
   batching (no shuffle), the layers and SGD; every step's loss and three
   checksums of every final parameter and buffer (Σ w, Σ w·cos(i), and
   Σ |w| for scale) are compared.

   The tolerance comes from float rounding, measured by the script: its
   float32 run drifts from its float64 run by loss_drift (relative, the
   largest over the steps) and drift.<tensor> (each checksum). tapegrad's
   float run is another rounding of the same computation (other summation
   orders in the convolutions' and matrix products' sums: about one
   rounding per operation, carried through the steps), so it differs from
   PyTorch's float run by about as much: at most twice the drift if each is
   about the drift from the exact run, and a factor of 4 more because one
   measured pair is one draw of a random quantity. So
       |Δ| ≤ 8·drift + 16·ε·scale
   with ε float's epsilon, scale |L| for a loss and Σ |w| for a checksum
   (16 roundings per value: the floor where PyTorch's own drift is 0, as
   for conv2's bias under batch norm, whose gradient is pure rounding). In
   double the drift is scaled by double's epsilon over float's (rounding
   drift is proportional to the unit roundoff over 20 steps) and ε is
   double's.

   Memory: from the second step on, the demo's training step (batches
   from tg_dataset_next, the forward pass with batch norm and dropout,
   release of the gradients, backward, SGD step, tape reset) makes no heap
   allocation at all: the program is linked with the failalloc wrappers
   (tests/support/failalloc.h), which count every malloc, calloc, realloc
   and aligned_alloc of the test and the static library, threads included. */
#include <criterion/criterion.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../examples/lenet.h"
#include "failalloc.h"
#include "golden.h"
#include "golden_train.h"

#ifdef TG_DOUBLE
#define TAG "f64"
#define EPS DBL_EPSILON
#define DRIFT_SCALE (DBL_EPSILON / FLT_EPSILON)
#else
#define TAG "f32"
#define EPS FLT_EPSILON
#define DRIFT_SCALE 1.0
#endif

#define MNIST_DIR TG_SOURCE_DIR "/data/mnist"

static gtr_file *gold;
static void load(void) { gold = gtr_load("cnn_demo_" TAG ".txt"); }
static void unload(void) { gtr_free(gold); }

TestSuite(mnist_cnn, .init = load, .fini = unload);

/* The allowed difference for a value whose measured float32 drift is
   `drift` and whose scale is `scale` (see the top of the file). */
static double tolerance(double drift, double scale)
{
    return 8 * drift * DRIFT_SCALE + 16 * EPS * scale;
}

/* The bundled training set in file order, batches of `batch`, normalised
   as the demo does. */
static tg_dataset *ordered_mnist(int64_t batch)
{
    tg_dataset *d = tg_mnist_load(MNIST_DIR, true);
    cr_assert_not_null(d, "%s", tg_last_error());
    tg_batch_opts bo = tg_batch_defaults();
    bo.batch_size = batch;
    bo.shuffle = false;
    bo.mean = TG_MNIST_MEAN;
    bo.std = TG_MNIST_STD;
    cr_assert_eq(tg_dataset_batching(d, &bo), TG_OK, "%s", tg_last_error());
    return d;
}

/* One step of the demo's loop; the loss. */
static double step(tg_tape *t, const lenet *m, tg_optim *o, const tg_batch *b)
{
    tg_tensor *x = tg_tensor_wrap(t, TG_SHAPE(b->n, b->features), b->x);
    tg_tensor *loss = tg_cross_entropy(t, lenet_forward(t, m, x), b->y, TG_REDUCE_MEAN);
    cr_assert_not_null(loss, "%s", tg_tape_error(t));
    tg_optim_release_grad(o);
    cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
    cr_assert_eq(tg_optim_step(o), TG_OK, "%s", tg_last_error());
    double l = (double)loss->data[0];
    tg_tape_reset(t);
    return l;
}

static void parity(const char *variant)
{
    const gtr_group *g = gtr_find_group(gold, variant);
    const int steps = (int)gtr_attr(g, "steps");
    const bool bn = gtr_attr(g, "batch_norm") != 0;
    tg_params *p = tg_params_new();
    lenet m;
    cr_assert_eq(lenet_init(&m, p, bn, 0, NULL, NULL), TG_OK, "%s", tg_last_error());
    char path[512];
    snprintf(path, sizeof path, "%s/cnn_demo_init_%s.safetensors", TG_TEST_DATA_DIR, variant);
    cr_assert_eq(tg_params_load(p, path), TG_OK, "%s", tg_last_error());
    tg_sgd_opts so = tg_sgd_defaults(gtr_attr(g, "lr"));
    so.momentum = gtr_attr(g, "momentum");
    tg_optim *o = tg_sgd_new(p, &so);
    cr_assert_not_null(o, "%s", tg_last_error());
    tg_tape *t = tg_tape_new();
    tg_dataset *d = ordered_mnist((int64_t)gtr_attr(g, "batch"));

    const gtr_item *want = gtr_item_of(g, "losses");
    cr_assert_eq(want->n, steps);
    const double drift = gtr_attr(g, "loss_drift");
    double worst = 0;
    for (int k = 0; k < steps; k++) {
        tg_batch b;
        cr_assert(tg_dataset_next(d, &b));
        double l = step(t, &m, o, &b), w = want->v[k], diff = fabs(l - w);
        double tol = tolerance(drift * fabs(w), fabs(w));
        cr_expect(diff <= tol, "%s step %d: loss %.10g, PyTorch %.10g (|Δ| %.3g > %.3g)", variant,
                  k, l, w, diff, tol);
        if (diff / fabs(w) > worst) worst = diff / fabs(w);
    }
    /* every final parameter and buffer */
    size_t n = tg_params_state_count(p);
    cr_expect_eq(n, bn ? 20u : 10u); /* 10 parameters; 2 more and 3 buffers per batch norm */
    double worst_cs = 0;
    for (size_t i = 0; i < n; i++) {
        const tg_tensor *x = tg_params_state_at(p, i);
        char dn[64];
        snprintf(dn, sizeof dn, "drift.%s", x->name);
        const gtr_item *cs = gtr_item_of(g, x->name), *dr = gtr_item_of(g, dn);
        double s = 0, sc = 0;
        for (int64_t k = 0; k < x->size; k++) {
            s += (double)x->data[k];
            sc += (double)x->data[k] * cos((double)k);
        }
        const double got[2] = {s, sc};
        for (int c = 0; c < 2; c++) {
            double diff = fabs(got[c] - cs->v[c]), tol = tolerance(dr->v[c], cs->v[2]);
            cr_expect(diff <= tol, "%s: %s checksum %d: %.12g, PyTorch %.12g (|Δ| %.3g > %.3g)",
                      variant, x->name, c, got[c], cs->v[c], diff, tol);
            if (diff / tol > worst_cs) worst_cs = diff / tol;
        }
    }
    cr_log_info("%s %s: %d steps, worst loss difference %.2e relative (float32 drift %.2e); "
                "worst checksum difference %.2f of its tolerance",
                TAG, variant, steps, worst, drift, worst_cs);
    tg_dataset_free(d);
    tg_tape_free(t);
    tg_optim_free(o);
    tg_params_free(p);
}

Test(mnist_cnn, training_run_matches_pytorch) { parity("plain"); }
Test(mnist_cnn, training_run_with_batch_norm_matches_pytorch) { parity("bn"); }

/* The demo's step with batch norm and dropout, from shuffled batches, and
   an evaluation pass in the middle: no allocation after the first step. */
Test(mnist_cnn, a_training_step_allocates_nothing_after_the_first)
{
    tg_params *p = tg_params_new();
    tg_rng init, drop;
    tg_rng_seed(&init, 1);
    tg_rng_seed(&drop, 2);
    lenet m;
    cr_assert_eq(lenet_init(&m, p, true, 0.2, &init, &drop), TG_OK, "%s", tg_last_error());
    tg_sgd_opts so = tg_sgd_defaults(0.01);
    so.momentum = 0.9;
    tg_optim *o = tg_sgd_new(p, &so);
    tg_tape *t = tg_tape_new();
    tg_dataset *d = tg_mnist_load(MNIST_DIR, true);
    cr_assert(o && t && d, "%s", tg_last_error());
    tg_batch_opts bo = tg_batch_defaults();
    bo.mean = TG_MNIST_MEAN;
    bo.std = TG_MNIST_STD;
    cr_assert_eq(tg_dataset_batching(d, &bo), TG_OK);
    tg_batch b;
    cr_assert(tg_dataset_next(d, &b));
    double first = step(t, &m, o, &b), last = first;
    /* the first evaluation pass, outside the count: it may size the tape
       for the evaluation's records */
    tg_params_set_training(p, false);
    cr_assert(tg_dataset_next(d, &b));
    cr_assert_not_null(lenet_forward(t, &m, tg_tensor_wrap(t, TG_SHAPE(b.n, b.features), b.x)));
    tg_tape_reset(t);
    tg_params_set_training(p, true);

    fa_arm(-1);
    for (int k = 0; k < 10; k++) {
        cr_assert(tg_dataset_next(d, &b));
        last = step(t, &m, o, &b);
        if (k == 5) { /* evaluation in the middle, as the demo's epochs end */
            tg_params_set_training(p, false);
            tg_tensor *y = lenet_forward(t, &m, tg_tensor_wrap(t, TG_SHAPE(b.n, b.features), b.x));
            tg_tape_reset(t);
            tg_params_set_training(p, true);
            cr_assert_not_null(y);
        }
    }
    long allocs = fa_disarm();
    cr_expect_eq(allocs, 0, "10 training steps allocated %ld times", allocs);
    cr_expect(isfinite(last) && last < first, "loss %g after 11 steps, %g at the first", last,
              first);
    cr_expect_eq(m.bn1.num_batches_tracked->data[0], 11);
    tg_dataset_free(d);
    tg_tape_free(t);
    tg_optim_free(o);
    tg_params_free(p);
}
