/* The higher-order examples against PyTorch: the code of
   examples/hessian_tiny.c, newton_logistic.c, gradient_penalty.c and
   hvp_mlp.c (included here without their main) run with each example's
   default settings, compared with tests/golden/higher_{f32,f64}.txt, in
   which PyTorch recomputes the same thing from the same starting point
   (tests/gen_golden_higher.py says how).

   Tolerances. For each compared tensor the golden file holds the values
   PyTorch computes in float64 from the build's starting point (weights and
   data rounded to tg_real), and err32: the largest difference between
   PyTorch in float32 and in float64 from the float32 starting point, that
   is, how much rounding to float32 moves this very computation (along a
   trajectory, the largest so far). Each group also gives n, the most terms
   any sum inside the computation adds (longest_sum). An element passes when

       |got − want| ≤ 8·err32·(u/u32) + 2·u·|want| + n·2⁻⁵³·max|want|

   with u the build's unit roundoff (2⁻²⁴ in float, 2⁻⁵³ in double),
   u32 = 2⁻²⁴, and max|want| the largest value of the tensor:
     - rounding in the working precision. In float, eight times PyTorch's
       own float32 error (tapegrad's float sums accumulate in double, so its
       errors are at most of that size; the factor leaves room for the worst
       of many elements, each off by a random amount of that size). In
       double the same scaled by 2⁻²⁹, the ratio of the precisions (rounding
       errors scale with u; the factors that amplify them are the same);
     - the rounding of the result to tg_real, where PyTorch's float32 was
       exact by chance;
     - tapegrad's sums: they accumulate in double in both builds, adding in
       sequence, so a sum of n terms may be off by n·2⁻⁵³ of its terms' size
       (Higham's γₙ), while PyTorch sums pairwise: err32 does not show it.
       Negligible in float; in double, where err32 is small, the main term.
   Sums over whole tensors are compensated here (Neumaier) and correctly
   rounded in the golden file, so they add no rounding to the comparison.
   Unless TG_TEST_QUIET is set, each comparison prints its largest
   |got − want| / tolerance. */
#define _POSIX_C_SOURCE 200809L
#define TG_EXAMPLE_NO_MAIN /* the examples' functions, without their main() */
#include "../../examples/gradient_penalty.c"
#include "../../examples/hessian_tiny.c"
#include "../../examples/hvp_mlp.c"
#include "../../examples/newton_logistic.c"

#include <criterion/criterion.h>

#include "../nn/golden_train.h"

#define U32 0x1p-24
#define U (sizeof(tg_real) == 4 ? 0x1p-24 : 0x1p-53)

/* A compensated sum (Neumaier's variant of Kahan's): the rounding error of
   each addition is kept in c and added at the end, so a sum of n terms is
   off by about 2⁻⁵³ of the result instead of n·2⁻⁵³ of the terms. */
typedef struct csum {
    double s, c;
} csum;
static void csum_add(csum *a, double x)
{
    double t = a->s + x;
    a->c += fabs(a->s) >= fabs(x) ? (a->s - t) + x : (x - t) + a->s;
    a->s = t;
}
static double csum_value(const csum *a) { return a->s + a->c; }

/* Σ of x's elements, and of their products with y's (y NULL: with x's). */
static void sums(const tg_tensor *x, const tg_tensor *y, double *s, double *dot)
{
    csum a = {0, 0}, b = {0, 0};
    for (int64_t k = 0; k < x->size; k++) {
        csum_add(&a, (double)x->data[k]);
        csum_add(&b, (double)x->data[k] * (double)(y ? y : x)->data[k]);
    }
    *s = csum_value(&a), *dot = csum_value(&b);
}

static const char *golden_name(void)
{
    return sizeof(tg_real) == 4 ? "higher_f32.txt" : "higher_f64.txt";
}

/* got[0..n) against the golden tensor `name` of g, with the tolerance above. */
static void expect_golden(const gtr_group *g, const char *name, const double *got, int64_t n)
{
    char err_name[128];
    snprintf(err_name, sizeof err_name, "%s.err32", name);
    const gtr_item *want = gtr_item_of(g, name), *err = gtr_item_of(g, err_name);
    cr_assert_eq(want->n, n, "%s/%s: %lld values in the golden file, %lld computed", g->name,
                 name, (long long)want->n, (long long)n);
    cr_assert_eq(err->n, n);
    double largest = 0, sums = gtr_attr(g, "longest_sum") * 0x1p-53;
    for (int64_t i = 0; i < n; i++) largest = fmax(largest, fabs(want->v[i]));
    int64_t bad = 0, worst = 0;
    double worst_ratio = 0, worst_tol = 0;
    for (int64_t i = 0; i < n; i++) {
        double tol = 8 * err->v[i] * (U / U32) + 2 * U * fabs(want->v[i]) + sums * largest;
        double d = fabs(got[i] - want->v[i]), ratio = d / tol;
        if (!(d <= tol)) bad++;
        if (!(ratio <= worst_ratio)) worst_ratio = ratio, worst = i, worst_tol = tol;
    }
    cr_expect(bad == 0,
              "%s/%s: %lld of %lld values outside tolerance; the worst, [%lld]: got %.17g, "
              "PyTorch %.17g, tolerance %.3g",
              g->name, name, (long long)bad, (long long)n, (long long)worst, got[worst],
              want->v[worst], worst_tol);
    if (!getenv("TG_TEST_QUIET"))
        printf("%s/%s: max |got - want| / tolerance = %.3g\n", g->name, name, worst_ratio);
}

/* An attribute of the golden group that must equal the example's default. */
static void expect_default(const gtr_group *g, const char *key, double value)
{
    cr_assert_eq(gtr_attr(g, key), value, "%s: the golden file has %s = %g, the example %g",
                 g->name, key, gtr_attr(g, key), value);
}

static gtr_file *golden;
static tg_tape *t;
static void setup(void)
{
    golden = gtr_load(golden_name());
    t = tg_tape_new();
}
static void teardown(void)
{
    tg_tape_free(t);
    gtr_free(golden);
}
TestSuite(higher_examples, .init = setup, .fini = teardown, .timeout = 120);

/* examples/hessian_tiny.c: the 13 × 13 Hessian, its eigenvalues, the loss. */
Test(higher_examples, hessian_tiny)
{
    const gtr_group *g = gtr_find_group(golden, "hessian_tiny");
    expect_default(g, "seed", TINY_SEED);
    tg_params *p = tg_params_new();
    tg_mlp m;
    cr_assert_eq(tiny_init(&m, p, TINY_SEED), TG_OK, "%s", tg_last_error());
    double H[TINY_N_PARAMS * TINY_N_PARAMS], A[TINY_N_PARAMS * TINY_N_PARAMS],
        eig[TINY_N_PARAMS], loss;
    cr_assert_eq(tiny_hessian(t, &m, p, H, &loss), TG_OK, "%s", tg_tape_error(t));
    memcpy(A, H, sizeof A);
    tiny_eigenvalues(A, TINY_N_PARAMS, eig);
    expect_golden(g, "loss", &loss, 1);
    expect_golden(g, "H", H, TINY_N_PARAMS * TINY_N_PARAMS);
    expect_golden(g, "eig", eig, TINY_N_PARAMS);
    tg_params_free(p);
}

/* examples/newton_logistic.c: every iterate w_k, f(w_k) and ‖∇f(w_k)‖. */
Test(higher_examples, newton_logistic)
{
    const gtr_group *g = gtr_find_group(golden, "newton_logistic");
    expect_default(g, "seed", NEWTON_SEED);
    expect_default(g, "steps", NEWTON_STEPS);
    static tg_real X[NEWTON_N * NEWTON_D], y[NEWTON_N];
    newton_data(NEWTON_SEED, X, y);
    tg_real w[NEWTON_D] = {0};
    double W[(NEWTON_STEPS + 1) * NEWTON_D], f[NEWTON_STEPS + 1], gnorm[NEWTON_STEPS + 1];
    for (int k = 0; k <= NEWTON_STEPS; k++) {
        for (int j = 0; j < NEWTON_D; j++) W[k * NEWTON_D + j] = (double)w[j];
        cr_assert_eq(newton_step(t, X, y, w, &f[k], &gnorm[k]), TG_OK, "step %d: %s", k,
                     tg_tape_error(t));
        tg_tape_reset(t);
    }
    expect_golden(g, "w", W, (NEWTON_STEPS + 1) * NEWTON_D);
    expect_golden(g, "f", f, NEWTON_STEPS + 1);
    expect_golden(g, "gnorm", gnorm, NEWTON_STEPS + 1);
}

/* examples/gradient_penalty.c: each step's loss and its parts, then the
   critic's weights after the last step (each tensor's sum and sum of
   squares). */
Test(higher_examples, gradient_penalty)
{
    const gtr_group *g = gtr_find_group(golden, "gradient_penalty");
    const gp_opts o = gp_defaults();
    expect_default(g, "seed", (double)o.seed);
    expect_default(g, "steps", o.steps);
    expect_default(g, "batch", (double)o.batch);
    expect_default(g, "lr", o.lr);
    expect_default(g, "lam", o.lambda);
    gp_critic c;
    cr_assert_eq(gp_critic_init(&c, &o), TG_OK, "%s", tg_last_error());
    enum { MAX_STEPS = 64 };
    cr_assert(o.steps <= MAX_STEPS);
    double loss[MAX_STEPS], wdist[MAX_STEPS], penalty[MAX_STEPS], norm[MAX_STEPS];
    for (int s = 0; s < o.steps; s++) {
        gp_step_info info;
        cr_assert_eq(gp_step(t, &c, &info), TG_OK, "step %d: %s%s", s, tg_tape_error(t),
                     tg_last_error());
        loss[s] = info.loss, wdist[s] = info.wdist, penalty[s] = info.penalty;
        norm[s] = info.mean_norm;
    }
    expect_golden(g, "loss", loss, o.steps);
    expect_golden(g, "wdist", wdist, o.steps);
    expect_golden(g, "penalty", penalty, o.steps);
    expect_golden(g, "mean_norm", norm, o.steps);
    size_t n = tg_params_count(c.p);
    cr_assert_eq(n, 6);
    double sum[6], sumsq[6];
    for (size_t i = 0; i < n; i++) sums(tg_params_at(c.p, i), NULL, &sum[i], &sumsq[i]);
    expect_golden(g, "param_sum", sum, 6);
    expect_golden(g, "param_sumsq", sumsq, 6);
    gp_critic_free(&c);
}


/* examples/hvp_mlp.c: the loss, the gradient's and Hv's sums per parameter,
   v'Hv, ‖Hv‖ and Hv at the positions the golden file lists. */
Test(higher_examples, hvp_mlp)
{
    const gtr_group *g = gtr_find_group(golden, "hvp_mlp");
    expect_default(g, "seed", HVP_SEED);
    expect_default(g, "v_seed", HVP_V_SEED);
    expect_default(g, "batch", HVP_BATCH);
    hvp_setup s;
    cr_assert_eq(hvp_setup_init(&s, TG_SOURCE_DIR "/data/mnist", HVP_BATCH, HVP_SEED), TG_OK,
                 "%s", tg_last_error());
    tg_tensor *v[HVP_PARAMS], *hv[HVP_PARAMS], *grad[HVP_PARAMS];
    double loss;
    cr_assert_eq(hvp_direction(t, &s, HVP_V_SEED, v), TG_OK);
    cr_assert_eq(hvp_product(t, &s, v, hv, &loss), TG_OK, "%s", tg_tape_error(t));
    tg_tensor *L = hvp_loss(t, &s);
    cr_assert_eq(tg_grad(t, 1, &L, NULL, HVP_PARAMS, s.theta, grad, NULL), TG_OK, "%s",
                 tg_tape_error(t));
    double gs[HVP_PARAMS], gsq[HVP_PARAMS], hs[HVP_PARAMS], hsq[HVP_PARAMS], vh[HVP_PARAMS];
    csum vhv_sum = {0, 0}, hh = {0, 0};
    for (int i = 0; i < HVP_PARAMS; i++) {
        sums(grad[i], NULL, &gs[i], &gsq[i]);
        sums(hv[i], NULL, &hs[i], &hsq[i]);
        sums(hv[i], v[i], &hs[i], &vh[i]);
        csum_add(&vhv_sum, vh[i]);
        csum_add(&hh, hsq[i]);
    }
    double vhv = csum_value(&vhv_sum), norm = sqrt(csum_value(&hh));
    expect_golden(g, "loss", &loss, 1);
    expect_golden(g, "grad_sum", gs, HVP_PARAMS);
    expect_golden(g, "grad_sumsq", gsq, HVP_PARAMS);
    expect_golden(g, "hv_sum", hs, HVP_PARAMS);
    expect_golden(g, "hv_sumsq", hsq, HVP_PARAMS);
    expect_golden(g, "vhv", &vhv, 1);
    expect_golden(g, "hv_norm", &norm, 1);
    for (int i = 0; i < HVP_PARAMS; i++) {
        char name[96];
        snprintf(name, sizeof name, "idx.%s", s.theta[i]->name);
        const gtr_item *idx = gtr_item_of(g, name);
        double at[1024];
        cr_assert(idx->n <= 1024);
        for (int64_t k = 0; k < idx->n; k++) {
            cr_assert(idx->u[k] < (uint64_t)hv[i]->size);
            at[k] = (double)hv[i]->data[idx->u[k]];
        }
        snprintf(name, sizeof name, "hv_at.%s", s.theta[i]->name);
        expect_golden(g, name, at, idx->n);
    }
    hvp_setup_free(&s);
}
