/* nn: the portable RNG, the initialisers, linear layers and the MLP helper.

   - The RNG and every initialiser are checked against
     tests/golden/train_rng.txt, written by an independent Python
     re-implementation (tests/gen_golden_train.py) of the published
     algorithms: the 64-bit stream, the uniform and normal doubles and the
     integers must be bit-identical; initialised tensors must equal the
     golden doubles rounded to tg_real, exactly, in both builds (that is the
     "same seed, same weights on every machine and in both precisions").
   - Distributions are checked on large tensors with 5-sigma statistical
     tolerances (the formula is beside each check), so that a wrong bound,
     a wrong std or a biased generator fails while a correct one passes. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "golden_train.h"

static gtr_file *gold;
static void load(void) { gold = gtr_load("train_rng.txt"); }
static void unload(void) { gtr_free(gold); }

TestSuite(nn, .init = load, .fini = unload);

/* ------------------------------------------------------------------ RNG */

Test(nn, rng_matches_reference_bit_for_bit)
{
    const char *seeds[] = {"0", "1", "42", "18446744073709551615"};
    for (int s = 0; s < 4; s++) {
        char name[64];
        snprintf(name, sizeof name, "seed_%s", seeds[s]);
        const gtr_group *g = gtr_find_group(gold, name);
        tg_rng r;
        tg_rng_seed(&r, strtoull(seeds[s], NULL, 10));
        const gtr_item *u64 = gtr_item_of(g, "u64");
        for (int64_t i = 0; i < u64->n; i++) {
            uint64_t got = tg_rng_next_u64(&r);
            cr_expect_eq(got, u64->u[i], "seed %s: u64 #%lld is %" PRIu64 ", expected %" PRIu64,
                         seeds[s], (long long)i, got, u64->u[i]);
        }
        const gtr_item *uni = gtr_item_of(g, "uniform");
        for (int64_t i = 0; i < uni->n; i++) {
            double got = tg_rng_uniform(&r);
            cr_expect(got == uni->v[i], "seed %s: uniform #%lld is %.17g, expected %.17g",
                      seeds[s], (long long)i, got, uni->v[i]);
            cr_expect(got >= 0 && got < 1);
        }
        const gtr_item *nor = gtr_item_of(g, "normal");
        for (int64_t i = 0; i < nor->n; i++) {
            double got = tg_rng_normal(&r);
            cr_expect(got == nor->v[i], "seed %s: normal #%lld is %.17g, expected %.17g",
                      seeds[s], (long long)i, got, nor->v[i]);
        }
        const gtr_item *b10 = gtr_item_of(g, "below_10");
        for (int64_t i = 0; i < b10->n; i++) cr_expect_eq(tg_rng_below(&r, 10), b10->u[i]);
        const gtr_item *big = gtr_item_of(g, "below_3e18");
        for (int64_t i = 0; i < big->n; i++)
            cr_expect_eq(tg_rng_below(&r, 3000000000000000000u), big->u[i]);
        const gtr_item *sh = gtr_item_of(g, "shuffle_20");
        int64_t idx[20];
        for (int i = 0; i < 20; i++) idx[i] = i;
        tg_rng_shuffle(&r, idx, 20);
        for (int i = 0; i < 20; i++)
            cr_expect_eq((uint64_t)idx[i], sh->u[i], "seed %s: shuffle position %d", seeds[s], i);
    }
}

Test(nn, rng_same_seed_same_stream_and_reseeding_restarts)
{
    tg_rng a, b;
    tg_rng_seed(&a, 99);
    tg_rng_seed(&b, 99);
    for (int i = 0; i < 1000; i++) cr_assert_eq(tg_rng_next_u64(&a), tg_rng_next_u64(&b));
    /* a pending normal spare must not leak across a reseed */
    tg_rng_seed(&a, 5);
    double first = tg_rng_normal(&a);
    tg_rng_seed(&a, 5);
    cr_expect(tg_rng_normal(&a) == first);
    tg_rng_seed(&b, 100);
    tg_rng_seed(&a, 99);
    int same = 0;
    for (int i = 0; i < 100; i++) same += tg_rng_next_u64(&a) == tg_rng_next_u64(&b);
    cr_expect_eq(same, 0, "seeds 99 and 100 gave %d equal draws out of 100", same);
}

Test(nn, rng_null_and_degenerate_arguments)
{
    tg_rng_seed(NULL, 1);
    cr_expect_eq(tg_rng_next_u64(NULL), 0);
    cr_expect_eq(tg_rng_normal(NULL), 0);
    tg_rng r;
    tg_rng_seed(&r, 1);
    cr_expect_eq(tg_rng_below(&r, 0), 0);
    cr_expect_eq(tg_rng_below(&r, 1), 0);
    tg_rng_shuffle(&r, NULL, 10);
    int64_t one = 7;
    tg_rng_shuffle(&r, &one, 1);
    cr_expect_eq(one, 7);
}

/* Counts of below(10) over n draws: each count is Binomial(n, 1/10), std
   √(n·0.1·0.9); 5 sigma. Then the position of element 0 after shuffling 6
   items: each of the 6 positions with probability 1/6. */
Test(nn, rng_below_and_shuffle_are_uniform)
{
    tg_rng r;
    tg_rng_seed(&r, 2024);
    const int n = 200000;
    int count[10] = {0};
    for (int i = 0; i < n; i++) {
        uint64_t k = tg_rng_below(&r, 10);
        cr_assert(k < 10);
        count[k]++;
    }
    double sd = sqrt(n * 0.1 * 0.9);
    for (int k = 0; k < 10; k++)
        cr_expect(fabs(count[k] - n * 0.1) < 5 * sd, "below(10): %d drawn %d times of %d", k,
                  count[k], n);

    int pos[6] = {0};
    const int m = 60000;
    for (int i = 0; i < m; i++) {
        int64_t idx[6] = {0, 1, 2, 3, 4, 5};
        tg_rng_shuffle(&r, idx, 6);
        int seen = 0;
        for (int j = 0; j < 6; j++) {
            seen |= 1 << idx[j];
            if (idx[j] == 0) pos[j]++;
        }
        cr_assert_eq(seen, 63, "the shuffle is not a permutation");
    }
    sd = sqrt(m * (1.0 / 6) * (5.0 / 6));
    for (int j = 0; j < 6; j++)
        cr_expect(fabs(pos[j] - m / 6.0) < 5 * sd, "item 0 landed at %d %d times of %d", j,
                  pos[j], m);
}

/* --------------------------------------------------------- initialisers */

/* got == (tg_real)want for every element: exact, in both builds. */
static void expect_exact(const tg_tensor *x, const gtr_item *want, const char *what)
{
    cr_assert_eq(x->size, want->n, "%s: size %lld, golden %lld", what, (long long)x->size,
                 (long long)want->n);
    for (int64_t i = 0; i < x->size; i++)
        cr_expect(x->data[i] == (tg_real)want->v[i], "%s: element %lld is %.9g, expected %.9g",
                  what, (long long)i, (double)x->data[i], (double)(tg_real)want->v[i]);
}

typedef int (*init_fn)(tg_tensor *x, tg_rng *r);
static int i_uniform(tg_tensor *x, tg_rng *r) { return tg_init_uniform(x, -0.5, 2.0, r); }
static int i_normal(tg_tensor *x, tg_rng *r) { return tg_init_normal(x, 1.5, 0.25, r); }
static int i_xu(tg_tensor *x, tg_rng *r) { return tg_init_xavier_uniform(x, 1.0, r); }
static int i_xn(tg_tensor *x, tg_rng *r) { return tg_init_xavier_normal(x, 2.0, r); }
static int i_ku(tg_tensor *x, tg_rng *r)
{
    return tg_init_kaiming_uniform(x, 0, TG_FAN_IN, TG_NL_LEAKY_RELU, r);
}
static int i_kn(tg_tensor *x, tg_rng *r)
{
    return tg_init_kaiming_normal(x, 0, TG_FAN_IN, TG_NL_LEAKY_RELU, r);
}
static int i_ku_out(tg_tensor *x, tg_rng *r)
{
    return tg_init_kaiming_uniform(x, 0, TG_FAN_OUT, TG_NL_RELU, r);
}
static int i_kn_out(tg_tensor *x, tg_rng *r)
{
    return tg_init_kaiming_normal(x, 0, TG_FAN_OUT, TG_NL_TANH, r);
}

Test(nn, initialisers_match_reference_in_both_precisions)
{
    struct {
        const char *name;
        init_fn fn;
    } cases[] = {
        {"uniform", i_uniform},
        {"normal", i_normal},
        {"xavier_uniform", i_xu},
        {"xavier_normal", i_xn},
        {"kaiming_uniform", i_ku},
        {"kaiming_normal", i_kn},
        {"kaiming_uniform_fan_out_relu", i_ku_out},
        {"kaiming_normal_fan_out_tanh", i_kn_out},
    };
    tg_params *p = tg_params_new();
    tg_tensor *x = tg_params_add(p, "w", TG_SHAPE(6, 5));
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char name[96];
        snprintf(name, sizeof name, "init_%s", cases[c].name);
        tg_rng r;
        tg_rng_seed(&r, 7);
        cr_assert_eq(cases[c].fn(x, &r), TG_OK, "%s: %s", name, tg_last_error());
        expect_exact(x, gtr_item_of(gtr_find_group(gold, name), "x"), name);
    }
    tg_params_free(p);
}

Test(nn, linear_default_and_layer_match_reference)
{
    const gtr_group *g = gtr_find_group(gold, "init_linear_default");
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(6, 5));
    tg_tensor *b = tg_params_add(p, "b", TG_SHAPE(6));
    tg_rng r;
    tg_rng_seed(&r, 7);
    cr_assert_eq(tg_init_linear_default(w, b, &r), TG_OK);
    expect_exact(w, gtr_item_of(g, "weight"), "linear default weight");
    expect_exact(b, gtr_item_of(g, "bias"), "linear default bias");
    /* the layer does the same through tg_params, under state-dict names */
    tg_linear_layer l;
    tg_rng_seed(&r, 7);
    cr_assert_eq(tg_linear_layer_init(&l, p, "fc", 5, 6, true, &r), TG_OK, "%s",
                 tg_last_error());
    cr_expect_eq(l.weight, tg_params_get(p, "fc.weight"));
    cr_expect_eq(l.bias, tg_params_get(p, "fc.bias"));
    cr_expect(l.weight->ndim == 2 && l.weight->shape[0] == 6 && l.weight->shape[1] == 5);
    cr_expect(l.bias->ndim == 1 && l.bias->shape[0] == 6);
    cr_expect(l.in == 5 && l.out == 6);
    expect_exact(l.weight, gtr_item_of(g, "weight"), "fc.weight");
    expect_exact(l.bias, gtr_item_of(g, "bias"), "fc.bias");
    tg_params_free(p);
}

Test(nn, mlp_init_matches_reference)
{
    const gtr_group *g = gtr_find_group(gold, "mlp_4_3_2");
    tg_params *p = tg_params_new();
    tg_mlp m;
    tg_rng r;
    tg_rng_seed(&r, 11);
    cr_assert_eq(tg_mlp_init(&m, p, "fc", TG_SHAPE(4, 3, 2), NULL, &r), TG_OK, "%s",
                 tg_last_error());
    cr_expect_eq(m.n_layers, 2);
    cr_expect_eq(tg_params_count(p), 4);
    const char *names[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(tg_params_at(p, (size_t)i)->name, names[i]);
        expect_exact(tg_params_get(p, names[i]), gtr_item_of(g, names[i]), names[i]);
    }
    tg_params_free(p);
}

/* Sample moments of n values: mean and (population) standard deviation. */
static void moments(const tg_real *v, int64_t n, double *mean, double *sd)
{
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    *mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) s2 += ((double)v[i] - *mean) * ((double)v[i] - *mean);
    *sd = sqrt(s2 / (double)n);
}

/* U(a, b): every value in [a, b]; the extremes come within 20/n·(b − a)
   of the ends (missing that has probability 2·(1 − 20/n)ⁿ ≈ 2·e⁻²⁰); the mean is (a+b)/2 within 5·σ/√n and the std σ = (b−a)/√12
   within 5 standard errors of a sample std of a uniform (≈ σ·√(0.8/(4n))
   from its kurtosis 1.8). */
static void check_uniform(const tg_tensor *x, double a, double b, const char *what)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < x->size; i++) {
        lo = fmin(lo, x->data[i]);
        hi = fmax(hi, x->data[i]);
    }
    /* rounding to float may land exactly on an end */
    cr_expect(lo >= (double)(tg_real)a && hi <= (double)(tg_real)b,
              "%s: values in [%g, %g], expected within [%g, %g]", what, lo, hi, a, b);
    double edge = 20 / (double)x->size * (b - a);
    cr_expect(lo < a + edge && hi > b - edge,
              "%s: values in [%g, %g] do not fill [%g, %g]", what, lo, hi, a, b);
    double n = (double)x->size, mean, sd;
    moments(x->data, x->size, &mean, &sd);
    double sigma = (b - a) / sqrt(12.0);
    cr_expect(fabs(mean - (a + b) / 2) < 5 * sigma / sqrt(n), "%s: mean %g, expected %g", what,
              mean, (a + b) / 2);
    cr_expect(fabs(sd - sigma) < 5 * sigma * sqrt(0.8 / (4 * n)), "%s: std %g, expected %g", what,
              sd, sigma);
}

/* N(mean, std²): the mean within 5·std/√n, the sample std within 5·std/√(2n),
   and the fractions within 1 and 2 std of the mean equal to Φ's 0.682689 and
   0.954500 within 5 binomial standard errors (a uniform or a wrong shape
   fails these even with the right mean and std). */
static void check_normal(const tg_tensor *x, double mu, double sigma, const char *what)
{
    double n = (double)x->size, mean, sd;
    moments(x->data, x->size, &mean, &sd);
    cr_expect(fabs(mean - mu) < 5 * sigma / sqrt(n), "%s: mean %g, expected %g", what, mean, mu);
    cr_expect(fabs(sd - sigma) < 5 * sigma / sqrt(2 * n), "%s: std %g, expected %g", what, sd,
              sigma);
    int64_t in1 = 0, in2 = 0;
    for (int64_t i = 0; i < x->size; i++) {
        double z = fabs(((double)x->data[i] - mu) / sigma);
        in1 += z < 1;
        in2 += z < 2;
    }
    double p1 = 0.682689492137086, p2 = 0.954499736103642;
    cr_expect(fabs(in1 / n - p1) < 5 * sqrt(p1 * (1 - p1) / n), "%s: %.5f within 1 std", what,
              in1 / n);
    cr_expect(fabs(in2 / n - p2) < 5 * sqrt(p2 * (1 - p2) / n), "%s: %.5f within 2 std", what,
              in2 / n);
}

Test(nn, initialiser_distributions)
{
    tg_params *p = tg_params_new();
    tg_tensor *x = tg_params_add(p, "w", TG_SHAPE(500, 784)); /* 392,000 values */
    tg_tensor *c = tg_params_add(p, "c", TG_SHAPE(64, 32, 3, 3)); /* a conv weight */
    tg_rng r;
    tg_rng_seed(&r, 31337);
    const double fi = 784, fo = 500;

    cr_assert_eq(tg_init_uniform(x, -2, 3, &r), TG_OK);
    check_uniform(x, -2, 3, "uniform(-2, 3)");
    cr_assert_eq(tg_init_normal(x, 0.5, 2, &r), TG_OK);
    check_normal(x, 0.5, 2, "normal(0.5, 2)");

    double xs = 1.5 * sqrt(2 / (fi + fo));
    cr_assert_eq(tg_init_xavier_uniform(x, 1.5, &r), TG_OK);
    check_uniform(x, -sqrt(3.0) * xs, sqrt(3.0) * xs, "xavier_uniform(gain 1.5)");
    cr_assert_eq(tg_init_xavier_normal(x, 1.5, &r), TG_OK);
    check_normal(x, 0, xs, "xavier_normal(gain 1.5)");

    /* PyTorch's defaults: a = 0, fan_in, leaky_relu -> gain √2 */
    double ks = sqrt(2.0) / sqrt(fi);
    cr_assert_eq(tg_init_kaiming_uniform(x, 0, TG_FAN_IN, TG_NL_LEAKY_RELU, &r), TG_OK);
    check_uniform(x, -sqrt(3.0) * ks, sqrt(3.0) * ks, "kaiming_uniform");
    cr_assert_eq(tg_init_kaiming_normal(x, 0, TG_FAN_IN, TG_NL_LEAKY_RELU, &r), TG_OK);
    check_normal(x, 0, ks, "kaiming_normal");
    double ko = (5.0 / 3) / sqrt(fo);
    cr_assert_eq(tg_init_kaiming_normal(x, 0, TG_FAN_OUT, TG_NL_TANH, &r), TG_OK);
    check_normal(x, 0, ko, "kaiming_normal(fan_out, tanh)");

    /* nn.Linear's default: U(-1/√in, 1/√in) */
    cr_assert_eq(tg_init_linear_default(x, NULL, &r), TG_OK);
    check_uniform(x, -1 / sqrt(fi), 1 / sqrt(fi), "linear default");

    /* a 4-D weight: fan_in = 32·9 = 288, fan_out = 64·9 = 576 (18,432 values) */
    cr_assert_eq(tg_init_kaiming_uniform(c, 0, TG_FAN_OUT, TG_NL_RELU, &r), TG_OK);
    check_uniform(c, -sqrt(3.0) * sqrt(2.0 / 576), sqrt(3.0) * sqrt(2.0 / 576),
                  "kaiming_uniform conv fan_out");
    tg_params_free(p);
}

Test(nn, fans_and_gains)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(10, 7));
    tg_tensor *c = tg_params_add(p, "c", TG_SHAPE(8, 3, 5, 5));
    tg_tensor *b = tg_params_add(p, "b", TG_SHAPE(7));
    int64_t fi = 0, fo = 0;
    cr_expect_eq(tg_init_fans(w, &fi, &fo), TG_OK);
    cr_expect(fi == 7 && fo == 10);
    cr_expect_eq(tg_init_fans(c, &fi, &fo), TG_OK);
    cr_expect(fi == 75 && fo == 200, "conv fans %lld %lld", (long long)fi, (long long)fo);
    cr_expect_eq(tg_init_fans(c, NULL, &fo), TG_OK);
    cr_expect_eq(tg_init_fans(b, &fi, &fo), TG_ERR_SHAPE);
    cr_expect(strstr(tg_last_error(), "at least 2 dimensions") != NULL, "%s", tg_last_error());

    /* nn.init.calculate_gain */
    cr_expect(tg_init_gain(TG_NL_LINEAR, 0) == 1.0);
    cr_expect(tg_init_gain(TG_NL_SIGMOID, 0) == 1.0);
    cr_expect(fabs(tg_init_gain(TG_NL_TANH, 0) - 5.0 / 3) < 1e-15);
    cr_expect(fabs(tg_init_gain(TG_NL_RELU, 0) - 1.4142135623730951) < 1e-15);
    cr_expect(fabs(tg_init_gain(TG_NL_LEAKY_RELU, 0.01) - 1.4141428569978354) < 1e-15);
    cr_expect(fabs(tg_init_gain(TG_NL_LEAKY_RELU, sqrt(5.0)) - sqrt(1.0 / 3)) < 1e-15);
    cr_expect(tg_init_gain(TG_NL_SELU, 0) == 0.75);
    tg_params_free(p);
}

Test(nn, initialiser_errors_leave_the_tensor_unchanged)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(3, 4));
    tg_tensor *b = tg_params_add(p, "b", TG_SHAPE(4));
    tg_rng r;
    tg_rng_seed(&r, 1);
    cr_assert_eq(tg_init_constant(w, 0.25), TG_OK);
    cr_assert_eq(tg_init_constant(b, -1), TG_OK);

    cr_expect_eq(tg_init_uniform(w, 0, 1, NULL), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "rng is NULL") != NULL, "%s", tg_last_error());
    cr_expect_eq(tg_init_uniform(NULL, 0, 1, &r), TG_ERR_INVALID);
    cr_expect_eq(tg_init_uniform(w, 1, 0, &r), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "a <= b") != NULL, "%s", tg_last_error());
    cr_expect_eq(tg_init_uniform(w, 0, INFINITY, &r), TG_ERR_INVALID);
    cr_expect_eq(tg_init_normal(w, 0, -1, &r), TG_ERR_INVALID);
    cr_expect_eq(tg_init_normal(w, NAN, 1, &r), TG_ERR_INVALID);
    cr_expect_eq(tg_init_xavier_uniform(b, 1, &r), TG_ERR_SHAPE);
    cr_expect_eq(tg_init_kaiming_normal(b, 0, TG_FAN_IN, TG_NL_RELU, &r), TG_ERR_SHAPE);
    cr_expect_eq(tg_init_kaiming_uniform(w, 0, (tg_fan_mode)7, TG_NL_RELU, &r), TG_ERR_INVALID);
    cr_expect_eq(tg_init_kaiming_uniform(w, 0, TG_FAN_IN, (tg_nonlinearity)99, &r),
                 TG_ERR_INVALID);
    cr_expect_eq(tg_init_linear_default(b, NULL, &r), TG_ERR_SHAPE);
    cr_expect_eq(tg_init_linear_default(w, b, NULL), TG_ERR_INVALID);
    cr_expect_eq(tg_init_constant(NULL, 1), TG_ERR_INVALID);
    for (int i = 0; i < 12; i++) cr_expect(w->data[i] == (tg_real)0.25);
    for (int i = 0; i < 4; i++) cr_expect(b->data[i] == -1);

    /* initialisers work on tape tensors too */
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(4, 4));
    cr_expect_eq(tg_init_uniform(x, 1, 2, &r), TG_OK);
    for (int i = 0; i < 16; i++) cr_expect(x->data[i] >= 1 && x->data[i] <= 2);
    tg_tape_free(t);
    tg_params_free(p);
}

/* ---------------------------------------------------------------- layers */

Test(nn, linear_layer_forward_and_backward)
{
    tg_params *p = tg_params_new();
    tg_rng r;
    tg_rng_seed(&r, 3);
    tg_linear_layer l;
    cr_assert_eq(tg_linear_layer_init(&l, p, "fc1", 3, 2, true, &r), TG_OK);
    /* adding after initialising moves the block but keeps the values */
    tg_real w0[6], b0[2];
    memcpy(w0, l.weight->data, sizeof w0);
    memcpy(b0, l.bias->data, sizeof b0);
    tg_linear_layer l2;
    cr_assert_eq(tg_linear_layer_init(&l2, p, "fc2", 2, 1, false, NULL), TG_OK);
    cr_expect_null(l2.bias);
    cr_expect_null(tg_params_get(p, "fc2.bias"));
    cr_expect_eq(memcmp(w0, l.weight->data, sizeof w0), 0);
    cr_expect_eq(memcmp(b0, l.bias->data, sizeof b0), 0);
    for (int i = 0; i < 2; i++) cr_expect(l2.weight->data[i] == 0, "rng NULL leaves zeros");

    tg_tape *t = tg_tape_new();
    const tg_real xs[] = {1, -2, 0.5, 3, 0, -1};
    tg_tensor *x = tg_tensor_new(t, TG_SHAPE(2, 3), xs);
    tg_tensor *y = tg_linear_layer_forward(t, &l, x);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    cr_expect(y->ndim == 2 && y->shape[0] == 2 && y->shape[1] == 2);
    for (int n = 0; n < 2; n++)
        for (int o = 0; o < 2; o++) {
            double want = b0[o];
            for (int i = 0; i < 3; i++) want += (double)xs[n * 3 + i] * w0[o * 3 + i];
            cr_expect(fabs(y->data[n * 2 + o] - want) < 1e-5 * (1 + fabs(want)));
        }
    /* d(sum y)/d bias = N for every output; d/dW[o][i] = Σ_n x[n][i] */
    tg_params_zero_grad(p);
    cr_assert_eq(tg_backward(t, tg_sum(t, y, TG_ALL, false)), TG_OK, "%s", tg_tape_error(t));
    for (int o = 0; o < 2; o++) {
        cr_expect(l.bias->grad[o] == 2);
        for (int i = 0; i < 3; i++) cr_expect(l.weight->grad[o * 3 + i] == xs[i] + xs[3 + i]);
    }
    /* errors */
    tg_tape_reset(t);
    tg_tensor *bad = tg_zeros(t, TG_SHAPE(2, 4));
    cr_expect_null(tg_linear_layer_forward(t, &l, bad));
    cr_expect(strstr(tg_tape_error(t), "tg_linear") != NULL, "%s", tg_tape_error(t));
    tg_tape_reset(t);
    cr_expect_null(tg_linear_layer_forward(t, NULL, bad));
    cr_expect(tg_tape_failed(t));
    cr_expect_null(tg_linear_layer_forward(NULL, &l, bad));

    tg_linear_layer l3;
    cr_expect_eq(tg_linear_layer_init(&l3, p, "fc1", 3, 2, true, &r), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "fc1.weight") != NULL, "%s", tg_last_error());
    cr_expect_eq(tg_linear_layer_init(&l3, p, "fc3", 0, 2, true, &r), TG_ERR_INVALID);
    cr_expect_eq(tg_linear_layer_init(&l3, NULL, "fc3", 1, 2, true, &r), TG_ERR_INVALID);
    cr_expect_eq(tg_linear_layer_init(NULL, p, "fc3", 1, 2, true, &r), TG_ERR_INVALID);
    cr_expect_eq(tg_linear_layer_init(&l3, p, "", 1, 2, true, &r), TG_ERR_INVALID);
    cr_expect_eq(tg_params_count(p), 3, "failed inits added nothing");
    tg_tape_free(t);
    tg_params_free(p);
}

static int act_calls;
static tg_tensor *double_it(tg_tape *t, tg_tensor *x)
{
    act_calls++;
    return tg_scale(t, x, 2);
}

Test(nn, mlp_forward_is_layers_with_activation_between)
{
    tg_params *p = tg_params_new();
    tg_rng r;
    tg_rng_seed(&r, 8);
    tg_mlp m;
    cr_assert_eq(tg_mlp_init(&m, p, "net.", TG_SHAPE(5, 4, 3, 2), double_it, &r), TG_OK);
    cr_expect_eq(m.n_layers, 3);
    cr_expect_not_null(tg_params_get(p, "net.1.weight"));
    cr_expect_not_null(tg_params_get(p, "net.3.bias"));

    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(3, 5));
    tg_init_normal(x, 0, 1, &r);
    act_calls = 0;
    tg_tensor *y = tg_mlp_forward(t, &m, x);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    cr_expect_eq(act_calls, 2, "activation between layers only");
    tg_tensor *h = x;
    for (int i = 0; i < 3; i++) {
        h = tg_linear(t, h, m.layers[i].weight, m.layers[i].bias);
        if (i < 2) h = tg_scale(t, h, 2);
    }
    cr_expect(y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 2);
    for (int i = 0; i < 6; i++) cr_expect(y->data[i] == h->data[i]);

    /* a failing layer returns NULL without calling the activation on NULL */
    tg_tape_reset(t);
    act_calls = 0;
    cr_expect_null(tg_mlp_forward(t, &m, tg_zeros(t, TG_SHAPE(3, 6))));
    cr_expect_eq(act_calls, 0);
    cr_expect(tg_tape_failed(t));

    tg_mlp bad;
    cr_expect_eq(tg_mlp_init(&bad, p, "x", 1, (const int64_t[]){3}, NULL, &r), TG_ERR_INVALID);
    cr_expect_eq(tg_mlp_init(&bad, p, "net.", TG_SHAPE(5, 4), NULL, &r), TG_ERR_INVALID,
                 "net.1 exists");
    tg_tape_free(t);
    tg_params_free(p);
}
