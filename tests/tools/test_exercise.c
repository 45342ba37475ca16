/* The exercise checker (tg_exercise_check) grades a right rule "exact", a
   rule off by less than the finite differences can tell "approximate", and
   planted mistakes "wrong", naming the element most off; it refuses what it
   cannot run. */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad.h>

/* ------------------------------------------------ forwards */

static tg_tensor *square_by_mul(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_mul(t, in[0], in[0]); /* x used twice */
}

static tg_tensor *tanh_fwd(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_tanh(t, in[0]);
}

static tg_tensor *linear_fwd(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_linear(t, in[0], in[1], in[2]);
}

static tg_tensor *sum_fwd(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_sum(t, tg_mul(t, in[0], in[1]), TG_ALL, false);
}

static tg_tensor *failing_fwd(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_matmul(t, in[0], in[0]); /* [2,3] @ [2,3]: refused */
}

/* ------------------------------------------------ learners */

/* y = x·x: dx = 2·g·x (each use of x sends g·x) */
static int square_right(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *dx,
                        void *ctx)
{
    (void)n, (void)ctx;
    for (int64_t i = 0; i < in[0]->size; i++) dx[0][i] += 2 * out->grad[i] * in[0]->data[i];
    return TG_OK;
}

/* micrograd's classic bug: only one use of x counted */
static int square_one_use(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *dx,
                          void *ctx)
{
    (void)n, (void)ctx;
    for (int64_t i = 0; i < in[0]->size; i++) dx[0][i] += out->grad[i] * in[0]->data[i];
    return TG_OK;
}

/* a right rule nudged by a relative `*(double *)ctx`: below what finite
   differences resolve, above rounding */
static int square_nudged(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *dx,
                         void *ctx)
{
    (void)n;
    double r = *(const double *)ctx; /* the right gradient, nudged, added */
    for (int64_t i = 0; i < in[0]->size; i++)
        dx[0][i] += 2 * out->grad[i] * in[0]->data[i] * (tg_real)(1 + r * (i % 2 ? 1 : -1));
    return TG_OK;
}

static int tanh_sign_error(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *dx,
                           void *ctx)
{
    (void)n, (void)ctx;
    const tg_real *y = out->data, *g = out->grad;
    for (int64_t i = 0; i < in[0]->size; i++) dx[0][i] += g[i] * (1 + y[i] * y[i]);
    return TG_OK;
}

static int tanh_nan(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *dx,
                    void *ctx)
{
    (void)n, (void)ctx;
    for (int64_t i = 0; i < in[0]->size; i++)
        dx[0][i] += out->grad[i] * (1 - out->data[i] * out->data[i]);
    dx[0][2] = NAN;
    return TG_OK;
}

/* linear, with the bias's gradient taken from the first row only (the
   broadcast sum forgotten); x needs no gradient here */
static int linear_first_row_bias(tg_tensor *const *in, int n, const tg_tensor *out,
                                 tg_real *const *d, void *ctx)
{
    (void)n, (void)ctx;
    cr_expect_null(d[0], "x needs no gradient: no buffer for it");
    const int64_t N = in[0]->shape[0], IN = in[0]->shape[1], OUT = in[1]->shape[0];
    const tg_real *x = in[0]->data, *g = out->grad;
    for (int64_t j = 0; j < OUT; j++) {
        for (int64_t i = 0; i < IN; i++)
            for (int64_t a = 0; a < N; a++) d[1][j * IN + i] += g[a * OUT + j] * x[a * IN + i];
        d[2][j] += g[j]; /* should be Σ_a g[a][j] */
    }
    return TG_OK;
}

static int refuses(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *dx, void *ctx)
{
    (void)in, (void)n, (void)out, (void)dx, (void)ctx;
    return TG_ERR_STATE;
}

/* Records the arriving gradient it was given. */
static tg_real seen_g[16];
static int64_t seen_n;
static int records_g(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *dx,
                     void *ctx)
{
    (void)in, (void)n, (void)dx, (void)ctx;
    seen_n = out->size;
    memcpy(seen_g, out->grad, (size_t)out->size * sizeof(tg_real));
    return TG_OK;
}

/* ------------------------------------------------ helpers */

typedef struct {
    tg_tape *t;
    tg_tensor *in[3];
} inputs;

static tg_tensor *leaf(tg_tape *t, const char *name, int ndim, const int64_t *shape,
                       const tg_real *v, bool grad)
{
    tg_tensor *x = tg_tensor_new(t, ndim, shape, v);
    cr_assert_not_null(x);
    return tg_tensor_set_name(tg_requires_grad(x, grad), name);
}

static const tg_real XS[] = {0.5, -1.25, 2, 0.75, -0.3, 1.1};

static tg_exercise_result check(const char *name, tg_exercise_forward f, tg_exercise_backward l,
                                void *ctx, tg_tensor *const *in, int n, char **report)
{
    size_t len = 0;
    FILE *mem = report ? open_memstream(report, &len) : NULL;
    tg_exercise_opts o = {.report = mem, .seed = 5};
    tg_exercise_result r = tg_exercise_check(name, f, l, ctx, in, n, &o);
    if (mem) fclose(mem);
    return r;
}

/* ------------------------------------------------ tests */

Test(exercise, a_right_rule_is_exact)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = leaf(t, "x", TG_SHAPE(2, 3), XS, true);
    char *rep = NULL;
    tg_exercise_result r = check("square", square_by_mul, square_right, NULL, &x, 1, &rep);
    cr_expect_eq(r.status, TG_OK, "%s", r.message);
    cr_expect(r.passed);
    cr_expect_eq(r.verdict[0], TG_VERDICT_EXACT);
    cr_expect_leq(r.diff_ref[0], 4 * (sizeof(tg_real) == 4 ? 1.2e-7 : 2.3e-16) * 4);
    cr_expect(strstr(rep, "exercise 'square':"), "%s", rep);
    cr_expect(strstr(rep, "x          [2,3]    exact: largest |yours - tapegrad's|"), "%s", rep);
    cr_expect(strstr(rep, "passed ('square'): 1 exact, 0 approximate, 0 wrong"), "%s", rep);
    free(rep);
    tg_tape_free(t);
}

Test(exercise, a_tensor_used_twice_counted_once_is_wrong)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = leaf(t, "x", TG_SHAPE(2, 3), XS, true);
    char *rep = NULL;
    tg_exercise_result r = check("square", square_by_mul, square_one_use, NULL, &x, 1, &rep);
    cr_expect_eq(r.status, TG_OK);
    cr_expect_not(r.passed);
    cr_expect_eq(r.verdict[0], TG_VERDICT_WRONG);
    /* off by g·x, largest where |g·x| is: find it from the g the rule saw */
    check("g", square_by_mul, records_g, NULL, &x, 1, NULL);
    int64_t worst = 0;
    for (int64_t i = 1; i < 6; i++)
        if (fabs((double)(seen_g[i] * XS[i])) > fabs((double)(seen_g[worst] * XS[worst])))
            worst = i;
    cr_expect_eq(r.where_ref[0], worst);
    cr_expect_float_eq(r.diff_ref[0], fabs((double)seen_g[worst] * XS[worst]), 1e-5);
    char want[64];
    snprintf(want, sizeof want, "wrong: largest |yours - tapegrad's| %.3g at [%d,%d]",
             r.diff_ref[0], (int)(worst / 3), (int)(worst % 3));
    cr_expect(strstr(rep, want), "'%s' missing:\n%s", want, rep);
    cr_expect(strstr(rep, "not yet ('square'): 0 exact, 0 approximate, 1 wrong"), "%s", rep);
    free(rep);
    tg_tape_free(t);
}

/* micrograd's other classic bug: the gradient set (=), not added (+=).
   Into zeroed buffers it gave the right numbers and was graded exact
   (found by a learner's review); the check now runs the rule twice. */
static int square_assigns(tg_tensor *const *in, int n, const tg_tensor *out, tg_real *const *dx,
                          void *ctx)
{
    (void)n, (void)ctx;
    for (int64_t i = 0; i < in[0]->size; i++) dx[0][i] = 2 * out->grad[i] * in[0]->data[i];
    return TG_OK;
}

Test(exercise, a_rule_that_sets_instead_of_adding_is_wrong)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = leaf(t, "x", TG_SHAPE(2, 3), XS, true);
    char *rep = NULL;
    tg_exercise_result r = check("square", square_by_mul, square_assigns, NULL, &x, 1, &rep);
    cr_expect_eq(r.status, TG_OK, "%s", r.message);
    cr_expect_eq(r.verdict[0], TG_VERDICT_WRONG, "%s", r.message);
    cr_expect(strstr(rep, "it sets the gradient (=) where a rule must add to it (+=)"), "%s", rep);
    free(rep);
    r = check("square", square_by_mul, square_right, NULL, &x, 1, NULL);
    cr_expect_eq(r.verdict[0], TG_VERDICT_EXACT, "the rule that adds: %s", r.message);
    tg_tape_free(t);
}

Test(exercise, off_by_less_than_finite_differences_see_is_approximate)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = leaf(t, "x", TG_SHAPE(2, 3), XS, true);
    /* float: exact within 1e-5, finite differences within 1e-2; double: 1e-12, 1e-3 */
    double nudge = sizeof(tg_real) == 4 ? 1e-3 : 1e-7;
    tg_exercise_result r = check("square", square_by_mul, square_nudged, &nudge, &x, 1, NULL);
    cr_expect_eq(r.verdict[0], TG_VERDICT_APPROXIMATE, "%s", r.message);
    cr_expect(r.passed, "approximate passes");
    /* 10% (float) or 1% (double) is beyond what finite differences allow */
    nudge *= sizeof(tg_real) == 4 ? 100 : 1e5;
    r = check("square", square_by_mul, square_nudged, &nudge, &x, 1, NULL);
    cr_expect_eq(r.verdict[0], TG_VERDICT_WRONG, "%s", r.message);
    tg_tape_free(t);
}

Test(exercise, sign_errors_nans_and_forgotten_sums_are_wrong)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = leaf(t, "x", TG_SHAPE(6), XS, true);
    tg_exercise_result r = check("tanh", tanh_fwd, tanh_sign_error, NULL, &x, 1, NULL);
    cr_expect_eq(r.verdict[0], TG_VERDICT_WRONG);
    r = check("tanh", tanh_fwd, tanh_nan, NULL, &x, 1, NULL);
    cr_expect_eq(r.verdict[0], TG_VERDICT_WRONG);
    cr_expect_eq(r.where_ref[0], 2, "the NaN is the element most off");
    cr_expect(isinf(r.diff_ref[0]));
    /* linear: W right, b from the first row only; x needs no gradient */
    tg_tensor *in[3] = {leaf(t, "x", TG_SHAPE(3, 2), XS, false), leaf(t, "W", TG_SHAPE(2, 2), XS, true),
                        leaf(t, "b", TG_SHAPE(2), XS + 4, true)};
    char *rep = NULL;
    r = check("linear", linear_fwd, linear_first_row_bias, NULL, in, 3, &rep);
    cr_expect_eq(r.status, TG_OK, "%s", r.message);
    cr_expect_eq(r.verdict[0], TG_VERDICT_NONE);
    cr_expect_eq(r.verdict[1], TG_VERDICT_EXACT);
    cr_expect_eq(r.verdict[2], TG_VERDICT_WRONG);
    cr_expect_not(r.passed);
    cr_expect(strstr(rep, "x          [3,2]    not checked (needs no gradient)"), "%s", rep);
    cr_expect(strstr(rep, "1 exact, 0 approximate, 1 wrong"), "%s", rep);
    free(rep);
    tg_tape_free(t);
}

Test(exercise, the_arriving_gradient)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = leaf(t, "x", TG_SHAPE(6), XS, true);
    check("g", tanh_fwd, records_g, NULL, &x, 1, NULL);
    cr_expect_eq(seen_n, 6);
    bool all_same = true;
    for (int i = 0; i < 6; i++) {
        cr_expect(seen_g[i] >= -1 && seen_g[i] < 1);
        all_same &= seen_g[i] == seen_g[0];
    }
    cr_expect_not(all_same, "a random gradient, not ones");
    tg_tensor *in[2] = {x, leaf(t, "w", TG_SHAPE(6), XS, false)};
    check("g", sum_fwd, records_g, NULL, in, 2, NULL);
    cr_expect_eq(seen_n, 1);
    cr_expect_eq(seen_g[0], 1, "a scalar output gets 1");
    tg_tape_free(t);
}

Test(exercise, refuses_what_it_cannot_run)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = leaf(t, "x", TG_SHAPE(2, 3), XS, true);
    tg_exercise_result r = check("e", NULL, square_right, NULL, &x, 1, NULL);
    cr_expect_eq(r.status, TG_ERR_INVALID);
    cr_expect(strstr(r.message, "forward function is NULL"), "%s", r.message);
    cr_expect_str_eq(tg_last_error(), r.message);
    r = check("e", square_by_mul, NULL, NULL, &x, 1, NULL);
    cr_expect_eq(r.status, TG_ERR_INVALID);
    r = check("e", square_by_mul, square_right, NULL, &x, 0, NULL);
    cr_expect_eq(r.status, TG_ERR_INVALID);
    tg_tensor *many[17] = {0};
    for (int i = 0; i < 17; i++) many[i] = x;
    r = check("e", square_by_mul, square_right, NULL, many, 17, NULL);
    cr_expect_eq(r.status, TG_ERR_INVALID);
    tg_tensor *c = leaf(t, "c", TG_SHAPE(2, 3), XS, false);
    r = check("e", square_by_mul, square_right, NULL, &c, 1, NULL);
    cr_expect_eq(r.status, TG_ERR_INVALID);
    cr_expect(strstr(r.message, "no input requires grad"), "%s", r.message);
    r = check("e", failing_fwd, square_right, NULL, &x, 1, NULL);
    cr_expect_eq(r.status, TG_ERR_INVALID);
    cr_expect(strstr(r.message, "tg_matmul"), "the forward's own message: %s", r.message);
    r = check("e", square_by_mul, refuses, NULL, &x, 1, NULL);
    cr_expect_eq(r.status, TG_ERR_STATE);
    cr_expect(strstr(r.message, "learner's backward returned an error"), "%s", r.message);
    cr_expect_not(r.passed);
    tg_tape_free(t);
}

/* An input of 0 elements has nothing to compare: exact, differences 0, and
   the report reads no element (it printed "-1 at [0,0]" and values read
   from element 0 of 0-element arrays) */
Test(exercise, an_input_of_no_elements_is_reported_cleanly)
{
    tg_tape *t = tg_tape_new();
    static const tg_real none[1] = {0};
    tg_tensor *x = leaf(t, "x", TG_SHAPE(0, 3), none, true);
    char *rep = NULL;
    tg_exercise_result r = check("empty", square_by_mul, square_right, NULL, &x, 1, &rep);
    cr_expect_eq(r.status, TG_OK, "%s", r.message);
    cr_expect(r.passed);
    cr_expect_eq(r.verdict[0], TG_VERDICT_EXACT);
    cr_expect(r.diff_ref[0] == 0 && r.diff_fd[0] == 0, "%g %g", r.diff_ref[0], r.diff_fd[0]);
    cr_expect_eq(r.where_ref[0], 0);
    cr_expect(strstr(rep, "x          [0,3]    exact (no elements: nothing to compare)\n"), "%s",
              rep);
    cr_expect(strstr(rep, "largest") == NULL, "%s", rep);
    free(rep);
    tg_tape_free(t);
}
