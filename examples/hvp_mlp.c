/* hvp_mlp: a Hessian-vector product through the demo network.

   The loss L(θ) of examples/mnist_mlp.c (784-500-256-10, ReLU, cross entropy
   summed over a batch of 64) has 523,326 parameters θ: its Hessian would
   have 2.7·10¹¹ entries, more than a terabyte. Its product with one vector v
   costs a few gradients instead (Pearlmutter's trick): H·v is the gradient
   of the scalar ⟨∇L(θ), v⟩,

       H·v = ∇θ ⟨∇θ L(θ), v⟩

   so one backward pass with create_graph (∇L as taped ops), a dot product
   with v, and one more backward pass. tg_hvp does exactly that. The program
   prints ‖Hv‖ and vᵀHv, the curvature of L along v,

       L(θ + εv) = L(θ) + ε·∇L·v + ½ε²·vᵀHv + O(ε³)   (on a smooth piece of L),

   and times a gradient against a Hessian-vector product (theory: 2 to 4
   times).

   A finite difference of two gradients, vᵀ(∇L(θ + εv) − ∇L(θ − εv))/2ε,
   does not reproduce vᵀHv here, at any ε: ReLU″ is 0 except at 0, where it
   is a Dirac delta that automatic differentiation (PyTorch's as well)
   leaves out, while the difference of two gradients picks up every unit
   whose input crosses 0 between θ − εv and θ + εv (about as many as ε is
   large, each with a jump of order 1/ε). H here is the Hessian of the
   smooth piece of L that θ is on.
   Hessian-vector products are what second-order optimisers (Newton-CG,
   K-FAC's relatives), curvature probes (the top eigenvalue of H by power
   iteration, sharpness) and influence functions are built on.

     ./hvp_mlp [--data DIR | --random] [--batch N] [--seed N] [--v-seed N] [--reps R]

   The weights are nn.Linear's initialisation from --seed (tg_mlp_init, as
   mnist_mlp), the batch the first N training digits of the bundled MNIST
   (in file order, normalised as mnist_mlp does) or, with --random, inputs
   N(0, 1) and random labels drawn after the weights from the same stream;
   v ~ N(0, 1) over every parameter in order, from --v-seed.
   tests/tools/test_higher_examples.c compares Hv with PyTorch's double
   backward. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <tapegrad.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef TG_EXAMPLE_DATA_DIR
#define TG_EXAMPLE_DATA_DIR "data"
#endif

#define HVP_PARAMS 6 /* fc1..fc3, weight and bias each */
#define HVP_BATCH 64 /* the defaults: samples, */
#define HVP_SEED 1   /* the weights' seed, */
#define HVP_V_SEED 2 /* v's seed */

/* The network, its parameters and one batch. */
typedef struct hvp_setup {
    tg_params *p;
    tg_mlp net;
    tg_tensor *theta[HVP_PARAMS]; /* the parameters, in order */
    int64_t n;                    /* samples in the batch */
    tg_real *x;                   /* [n, 784] */
    int64_t *y;                   /* [n] class labels */
} hvp_setup;

static void hvp_setup_free(hvp_setup *s)
{
    tg_params_free(s->p);
    free(s->x);
    free(s->y);
    *s = (hvp_setup){0};
}

/* The first n training samples of the MNIST files in dir, in file order,
   x = (pixel/255 − 0.1307)/0.3081, into s->x and s->y. */
static int hvp_load_batch(hvp_setup *s, const char *dir)
{
    tg_dataset *d = tg_mnist_load(dir, true);
    if (!d) return TG_ERR_IO;
    tg_batch_opts bo = tg_batch_defaults();
    bo.batch_size = s->n;
    bo.shuffle = false;
    bo.mean = TG_MNIST_MEAN;
    bo.std = TG_MNIST_STD;
    tg_batch b;
    int st = tg_dataset_batching(d, &bo);
    if (st == TG_OK && (!tg_dataset_next(d, &b) || b.n != s->n || b.features != 784))
        st = TG_ERR_FORMAT; /* fewer than n samples, or not 28 × 28 */
    if (st == TG_OK) {
        memcpy(s->x, b.x, (size_t)(s->n * 784) * sizeof(tg_real));
        memcpy(s->y, b.y, (size_t)s->n * sizeof(int64_t));
    }
    tg_dataset_free(d);
    return st;
}

/* The network from `seed` and a batch of n: from dir, or (dir NULL) random
   inputs N(0, 1) and labels below 10 drawn after the weights. TG_OK or an
   error (tg_last_error says why, except TG_ERR_FORMAT: too few samples). */
static int hvp_setup_init(hvp_setup *s, const char *dir, int64_t n, uint64_t seed)
{
    *s = (hvp_setup){.n = n};
    s->p = tg_params_new();
    s->x = malloc((size_t)(n * 784) * sizeof(tg_real));
    s->y = malloc((size_t)n * sizeof(int64_t));
    if (!s->p || !s->x || !s->y) {
        hvp_setup_free(s);
        return TG_ERR_NOMEM;
    }
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    int st = tg_mlp_init(&s->net, s->p, "fc", TG_SHAPE(784, 500, 256, 10), tg_relu, &rng);
    for (int i = 0; i < HVP_PARAMS && st == TG_OK; i++) s->theta[i] = tg_params_at(s->p, (size_t)i);
    if (st == TG_OK && dir) st = hvp_load_batch(s, dir);
    else if (st == TG_OK) {
        for (int64_t i = 0; i < n * 784; i++) s->x[i] = (tg_real)tg_rng_normal(&rng);
        for (int64_t i = 0; i < n; i++) s->y[i] = (int64_t)tg_rng_below(&rng, 10);
    }
    if (st != TG_OK) {
        hvp_setup_free(s);
        return st;
    }
    return TG_OK;
}

/* L(θ) = Σ over the batch of cross_entropy(net(x), y), on tape t. */
static tg_tensor *hvp_loss(tg_tape *t, const hvp_setup *s)
{
    tg_tensor *x = tg_tensor_wrap(t, TG_SHAPE(s->n, 784), s->x);
    return tg_cross_entropy(t, tg_mlp_forward(t, &s->net, x), s->y, TG_REDUCE_SUM);
}

/* v ~ N(0, 1): one tensor per parameter (its shape) on tape t, drawn in the
   parameters' order, row-major, from `seed`. TG_OK or TG_ERR_NOMEM. */
static int hvp_direction(tg_tape *t, const hvp_setup *s, uint64_t seed, tg_tensor **v)
{
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    for (int i = 0; i < HVP_PARAMS; i++) {
        v[i] = tg_zeros(t, s->theta[i]->ndim, s->theta[i]->shape);
        if (!v[i]) return TG_ERR_NOMEM;
        for (int64_t k = 0; k < v[i]->size; k++) v[i]->data[k] = (tg_real)tg_rng_normal(&rng);
    }
    return TG_OK;
}

/* H·v at the current parameters: hv[i] of parameter i's shape, on tape t;
   *loss gets L. TG_OK or an error (the message on t). */
static int hvp_product(tg_tape *t, const hvp_setup *s, tg_tensor *const *v, tg_tensor **hv,
                       double *loss)
{
    tg_tensor *L = hvp_loss(t, s);
    if (!L) return TG_ERR_INVALID;
    *loss = (double)L->data[0];
    return tg_hvp(t, L, HVP_PARAMS, s->theta, v, hv, NULL);
}

#ifndef TG_EXAMPLE_NO_MAIN /* tests/tools/test_higher_examples.c includes the code above */

static const char USAGE[] =
    "usage: hvp_mlp [--data DIR | --random] [--batch N] [--seed N] [--v-seed N] [--reps R]\n"
    "A Hessian-vector product of the demo network's loss (784-500-256-10, ReLU,\n"
    "cross entropy summed) by tg_hvp: prints |Hv| and v'Hv, and times a gradient\n"
    "against the product.\n"
    "  --data DIR   MNIST-format files (default: the bundled digits in " TG_EXAMPLE_DATA_DIR
    "/mnist)\n"
    "  --random     random inputs N(0, 1) and labels instead of digits\n"
    "  --batch N    samples (64)\n"
    "  --seed N     of the weights, nn.Linear's initialisation (1)\n"
    "  --v-seed N   of the direction v ~ N(0, 1) (2)\n"
    "  --reps R     timed repetitions, the median is printed (5)\n";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Σ a·b over every parameter's tensors, in double. */
static double hvp_dot(tg_tensor *const *a, tg_tensor *const *b)
{
    double s = 0;
    for (int i = 0; i < HVP_PARAMS; i++)
        for (int64_t k = 0; k < a[i]->size; k++) s += (double)a[i]->data[k] * (double)b[i]->data[k];
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || s[0] == '-' || v < lo || v > hi) return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    const char *dir = TG_EXAMPLE_DATA_DIR "/mnist";
    uint64_t batch = HVP_BATCH, seed = HVP_SEED, v_seed = HVP_V_SEED, reps = 5;
    bool random = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--random")) {
            random = true;
            continue;
        } else if (!strcmp(a, "--data")) {
            ok = (dir = val) != NULL;
        } else if (!strcmp(a, "--batch")) {
            ok = parse_u64(val, 1, 1 << 16, &batch);
        } else if (!strcmp(a, "--seed")) {
            ok = parse_u64(val, 0, UINT64_MAX, &seed);
        } else if (!strcmp(a, "--v-seed")) {
            ok = parse_u64(val, 0, UINT64_MAX, &v_seed);
        } else if (!strcmp(a, "--reps")) {
            ok = parse_u64(val, 1, 1001, &reps);
        } else {
            fprintf(stderr, "hvp_mlp: unknown option or argument '%s'\n", a);
            fputs(USAGE, stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "hvp_mlp: bad or missing value for %s (see --help)\n", a);
            return 2;
        }
        i++;
    }
    hvp_setup s;
    int st = hvp_setup_init(&s, random ? NULL : dir, (int64_t)batch, seed);
    if (st != TG_OK) {
        fprintf(stderr, "hvp_mlp: %s\n",
                st == TG_ERR_FORMAT ? "the data has too few samples or is not 28 x 28"
                                    : tg_last_error());
        return 1;
    }
    tg_tape *t = tg_tape_new();
    double *times = malloc(2 * reps * sizeof(double));
    if (!t || !times) {
        fprintf(stderr, "hvp_mlp: out of memory\n");
        free(times);
        tg_tape_free(t);
        hvp_setup_free(&s);
        return 1;
    }
    printf("tapegrad %s (%s): MLP 784-500-256-10, ReLU, cross entropy summed, %lld parameters\n",
           tg_version(), tg_real_name(), (long long)tg_params_numel(s.p));
    printf("batch: %llu %s; weights: seed %llu; v ~ N(0, 1): seed %llu\n\n",
           (unsigned long long)batch, random ? "random inputs" : "digits", (unsigned long long)seed,
           (unsigned long long)v_seed);

    /* 1. H·v, and what it says */
    tg_tensor *v[HVP_PARAMS], *hv[HVP_PARAMS], *g[HVP_PARAMS];
    double loss = 0;
    st = hvp_direction(t, &s, v_seed, v);
    if (st == TG_OK) st = hvp_product(t, &s, v, hv, &loss);
    if (st != TG_OK) goto fail;
    double vhv = hvp_dot(v, hv), vv = hvp_dot(v, v), hh = hvp_dot(hv, hv);
    printf("L = %.6f\n|v| = %.4f, |Hv| = %.6g\n"
           "v'Hv = %.6g   (the curvature along v; v'Hv/|v|^2 = %.4g)\n",
           loss, sqrt(vv), sqrt(hh), vhv, vhv / vv);
    printf("\n%-11s %-10s %12s %12s\n", "parameter", "shape", "|v_i|", "|(Hv)_i|");
    for (int i = 0; i < HVP_PARAMS; i++) {
        char shape[32];
        double a = 0, b = 0;
        for (int64_t k = 0; k < v[i]->size; k++) {
            a += (double)v[i]->data[k] * v[i]->data[k];
            b += (double)hv[i]->data[k] * hv[i]->data[k];
        }
        printf("%-11s %-10s %12.4f %12.6g\n", s.theta[i]->name,
               tg_shape_str(s.theta[i], shape, sizeof shape), sqrt(a), sqrt(b));
    }

    /* 2. time: forward + gradient, against forward + Hessian-vector product */
    for (uint64_t r = 0; r < 2 * reps + 2; r++) { /* one of each first, not timed */
        bool is_hvp = r % 2;
        tg_tape_reset(t);
        if (hvp_direction(t, &s, v_seed, v) != TG_OK) goto fail;
        double t0 = now();
        if (is_hvp) st = hvp_product(t, &s, v, hv, &loss);
        else {
            tg_tensor *L = hvp_loss(t, &s);
            st = L ? tg_grad(t, 1, &L, NULL, HVP_PARAMS, s.theta, g, NULL) : TG_ERR_INVALID;
        }
        double el = now() - t0;
        if (st != TG_OK) goto fail;
        if (r >= 2) times[(r - 2) / 2 + (is_hvp ? reps : 0)] = el;
    }
    qsort(times, reps, sizeof(double), cmp_double);
    qsort(times + reps, reps, sizeof(double), cmp_double);
    double tg_ = times[reps / 2], th = times[reps + reps / 2];
    printf("\ntime, median of %llu: forward + gradient %.1f ms, forward + Hv %.1f ms: %.2fx\n"
           "(theory: 2 to 4 times a gradient; bench/core/bench_hvp.c measures it carefully)\n",
           (unsigned long long)reps, 1e3 * tg_, 1e3 * th, th / tg_);
    st = TG_OK;
    goto done;
fail:
    fprintf(stderr, "hvp_mlp: %s\n", tg_tape_error(t));
    st = 1;
done:
    free(times);
    tg_tape_free(t);
    hvp_setup_free(&s);
    return st == TG_OK ? 0 : 1;
}
#endif
