/* Every shape op and reduction against central finite differences
   (tg_gradcheck with its defaults: PyTorch's in the double build, the float
   ones documented in the header in the float build; both builds run every
   case), through the whole Jacobian at seeded random points.

   The cases are data: a table of {name, builder, input shape, fill, the
   op's options}, so that a second-order checker can walk the same table.
   Points are kept where each op is differentiable: the extremes (min, max,
   amax, amin, the ∞-norm) on distinct values 0.05 apart (|x| distinct for
   the ∞-norm), the norms with p ≤ 1 and the sign-sensitive ones away from
   0 (|x| ≥ 0.1); prod and cumprod also at points with exact zeros, where
   they are multilinear, so that their zero rules are checked too (a
   central difference is exact along each coordinate of a multilinear
   function). */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>
#include <tapegrad.h>

/* the points: the library's seeded generator, the same on every machine */
static tg_rng rng;
static double next_unit(void) { return tg_rng_uniform(&rng); } /* in [0, 1) */

static tg_tape *tape;
static void setup(void)
{
    tape = tg_tape_new();
    tg_rng_seed(&rng, 20240611);
}
static void teardown(void) { tg_tape_free(tape); }
TestSuite(fd_shape_reduce, .init = setup, .fini = teardown);

enum fill {
    F_SIGNED,       /* [-1, 1) */
    F_AWAY,         /* ±[0.1, 2) */
    F_DISTINCT,     /* distinct values 0.05 apart, shuffled */
    F_DISTINCT_ABS, /* distinct magnitudes 0.05 apart from 0.1, random signs */
    F_ZEROS         /* ±[0.5, 1.5) with every third element exactly 0 */
};

/* A leaf that requires grad, filled as `how` says. */
static tg_tensor *input(enum fill how, int ndim, const int64_t *shape)
{
    tg_tensor *x = tg_zeros(tape, ndim, shape);
    cr_assert(x, "%s", tg_tape_error(tape));
    int64_t *rank = tg_tape_alloc(tape, (size_t)(x->size ? x->size : 1) * sizeof(int64_t));
    cr_assert(rank);
    for (int64_t i = 0; i < x->size; i++) rank[i] = i;
    tg_rng_shuffle(&rng, rank, x->size); /* the distinct values' order */
    for (int64_t i = 0; i < x->size; i++) {
        double u = next_unit(), sign = next_unit() < 0.5 ? -1 : 1, k = (double)rank[i];
        switch (how) {
        case F_SIGNED: x->data[i] = (tg_real)(2 * u - 1); break;
        case F_AWAY: x->data[i] = (tg_real)(sign * (0.1 + 1.9 * u)); break;
        case F_DISTINCT: x->data[i] = (tg_real)(0.05 * k - 1); break;
        case F_DISTINCT_ABS: x->data[i] = (tg_real)(sign * (0.1 + 0.05 * k)); break;
        case F_ZEROS: x->data[i] = i % 3 == 1 ? 0 : (tg_real)(sign * (0.5 + u)); break;
        }
    }
    return tg_requires_grad(x, true);
}

/* One case of the table. */
typedef struct fd_case {
    const char *name;
    tg_gradcheck_fn build; /* reads the case (ctx) for its options */
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    enum fill fill;
    int n_axes;            /* > 0: the tg_X_axes form over axes[0..n) */
    int axes[TG_MAX_DIMS]; /* else axes[0] is the axis (TG_ALL for all); permute's dims */
    bool keepdim;
    double p;              /* var/std: the correction; norm: the order */
} fd_case;

#define ONE_OR_SET(NAME)                                                                    \
    static tg_tensor *f_##NAME(tg_tape *t, tg_tensor *const *in, int n, void *ctx)          \
    {                                                                                       \
        (void)n;                                                                            \
        const fd_case *c = ctx;                                                             \
        return c->n_axes ? tg_##NAME##_axes(t, in[0], c->n_axes, c->axes, c->keepdim)       \
                         : tg_##NAME(t, in[0], c->axes[0], c->keepdim);                     \
    }
ONE_OR_SET(sum)
ONE_OR_SET(mean)
ONE_OR_SET(amax)
ONE_OR_SET(amin)
ONE_OR_SET(logsumexp)

#define ONE_OR_SET_P(NAME, CALL1, CALLN)                                                    \
    static tg_tensor *f_##NAME(tg_tape *t, tg_tensor *const *in, int n, void *ctx)          \
    {                                                                                       \
        (void)n;                                                                            \
        const fd_case *c = ctx;                                                             \
        return c->n_axes ? CALLN : CALL1;                                                   \
    }
ONE_OR_SET_P(var, tg_var(t, in[0], c->axes[0], c->p, c->keepdim),
             tg_var_axes(t, in[0], c->n_axes, c->axes, c->p, c->keepdim))
ONE_OR_SET_P(std, tg_std(t, in[0], c->axes[0], c->p, c->keepdim),
             tg_std_axes(t, in[0], c->n_axes, c->axes, c->p, c->keepdim))
ONE_OR_SET_P(norm, tg_norm(t, in[0], c->p, c->axes[0], c->keepdim),
             tg_norm_axes(t, in[0], c->p, c->n_axes, c->axes, c->keepdim))

#define ONE(NAME, CALL)                                                                     \
    static tg_tensor *f_##NAME(tg_tape *t, tg_tensor *const *in, int n, void *ctx)          \
    {                                                                                       \
        (void)n;                                                                            \
        const fd_case *c = ctx;                                                             \
        (void)c;                                                                            \
        return CALL;                                                                        \
    }
ONE(min, tg_min(t, in[0], c->axes[0], c->keepdim))
ONE(max_dim, tg_max_dim(t, in[0], c->axes[0], c->keepdim, NULL))
ONE(min_dim, tg_min_dim(t, in[0], c->axes[0], c->keepdim, NULL))
ONE(prod, tg_prod(t, in[0], c->axes[0], c->keepdim))
ONE(cumsum, tg_cumsum(t, in[0], c->axes[0]))
ONE(cumprod, tg_cumprod(t, in[0], c->axes[0]))
ONE(permute, tg_permute(t, in[0], c->ndim, c->axes))
ONE(contiguous, tg_contiguous(t, tg_permute(t, in[0], c->ndim, c->axes)))
ONE(movedim, tg_movedim(t, in[0], c->axes[0], c->axes[1]))
ONE(swapaxes, tg_swapaxes(t, in[0], c->axes[0], c->axes[1]))
ONE(swapdims, tg_swapdims(t, in[0], c->axes[0], c->axes[1]))
ONE(flatten_range, tg_flatten_range(t, in[0], c->axes[0], c->axes[1]))
ONE(squeeze, tg_squeeze(t, in[0]))
ONE(squeeze_axis, tg_squeeze_axis(t, in[0], c->axes[0]))
ONE(unsqueeze, tg_unsqueeze(t, in[0], c->axes[0]))
/* a reshaping view read through an op that sees element order: a gradient
   that ignored the order would show */
ONE(unsqueeze_then_mul, tg_mul(t, tg_unsqueeze(t, in[0], c->axes[0]), tg_cumsum(t, tg_unsqueeze(t, in[0], c->axes[0]), -1)))

#define SH(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), {__VA_ARGS__}
#define AX(...) .n_axes = (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), .axes = {__VA_ARGS__}
#define ONE_AX(a) .axes = {a}
#define KEEP .keepdim = true
#define P(v) .p = (v)

static const fd_case cases[] = {
    /* shape ops */
    {"permute 201", f_permute, SH(2, 3, 4), F_SIGNED, .axes = {2, 0, 1}},
    {"permute 4d", f_permute, SH(2, 3, 2, 2), F_SIGNED, .axes = {3, 1, -4, 2}},
    {"contiguous", f_contiguous, SH(3, 4), F_SIGNED, .axes = {1, 0}},
    {"movedim 0->-1", f_movedim, SH(2, 3, 4), F_SIGNED, .axes = {0, -1}},
    {"movedim 2->0", f_movedim, SH(2, 3, 4), F_SIGNED, .axes = {2, 0}},
    {"swapaxes", f_swapaxes, SH(2, 3, 4), F_SIGNED, .axes = {0, 2}},
    {"swapdims", f_swapdims, SH(2, 3, 4), F_SIGNED, .axes = {-1, 1}},
    {"flatten_range", f_flatten_range, SH(2, 3, 4), F_SIGNED, .axes = {1, 2}},
    {"squeeze", f_squeeze, SH(1, 3, 1, 2), .fill = F_SIGNED},
    {"squeeze_axis", f_squeeze_axis, SH(3, 1, 2), F_SIGNED, ONE_AX(1)},
    {"unsqueeze", f_unsqueeze, SH(3, 2), F_SIGNED, ONE_AX(1)},
    {"unsqueeze then mul", f_unsqueeze_then_mul, SH(3, 2), F_SIGNED, ONE_AX(-1)},
    /* sums */
    {"sum axes 0,2", f_sum, SH(2, 3, 4), F_SIGNED, AX(0, 2)},
    {"sum axes 2,0 keep", f_sum, SH(2, 3, 4), F_SIGNED, AX(2, 0), KEEP},
    {"sum axes 1,3", f_sum, SH(2, 3, 2, 2), F_SIGNED, AX(1, 3)},
    {"mean axes 0,2", f_mean, SH(2, 3, 4), F_SIGNED, AX(0, 2)},
    {"mean axes -1,-2 keep", f_mean, SH(2, 3, 4), F_SIGNED, AX(-1, -2), KEEP},
    /* extremes */
    {"min axis 1", f_min, SH(3, 4), F_DISTINCT, ONE_AX(1)},
    {"min all", f_min, SH(2, 3, 2), F_DISTINCT, ONE_AX(TG_ALL)},
    {"max_dim axis 0 keep", f_max_dim, SH(3, 4), F_DISTINCT, ONE_AX(0), KEEP},
    {"min_dim axis -1", f_min_dim, SH(2, 3, 4), F_DISTINCT, ONE_AX(-1)},
    {"amax axes 0,2", f_amax, SH(2, 3, 4), F_DISTINCT, AX(0, 2)},
    {"amax axis 1", f_amax, SH(3, 4), F_DISTINCT, ONE_AX(1), KEEP},
    {"amin axes 1,2", f_amin, SH(2, 3, 4), F_DISTINCT, AX(1, 2)},
    {"amin all", f_amin, SH(3, 4), F_DISTINCT, ONE_AX(TG_ALL)},
    {"amin axis 0", f_amin, SH(3, 4), F_DISTINCT, ONE_AX(0)},
    {"amax axes 0,1 keep", f_amax, SH(2, 3, 4), F_DISTINCT, AX(0, 1), KEEP},
    /* prod */
    {"prod axis 1", f_prod, SH(3, 4), F_AWAY, ONE_AX(1)},
    {"prod axis 0 keep", f_prod, SH(3, 4), F_AWAY, ONE_AX(0), KEEP},
    {"prod all", f_prod, SH(2, 3), F_AWAY, ONE_AX(TG_ALL)},
    {"prod axis 1 zeros", f_prod, SH(3, 4), F_ZEROS, ONE_AX(1)},
    {"prod all zeros", f_prod, SH(2, 3), F_ZEROS, ONE_AX(TG_ALL)},
    /* var, std */
    {"var axis 1", f_var, SH(3, 4), F_SIGNED, ONE_AX(1), P(1)},
    {"var axes 0,2 c0", f_var, SH(2, 3, 4), F_SIGNED, AX(0, 2), P(0)},
    {"var all c2 keep", f_var, SH(3, 4), F_SIGNED, ONE_AX(TG_ALL), KEEP, P(2)},
    {"var axis 0 c0.5", f_var, SH(3, 4), F_SIGNED, ONE_AX(0), P(0.5)},
    {"std axis 1", f_std, SH(3, 4), F_SIGNED, ONE_AX(1), P(1)},
    {"std axes 2,0 keep", f_std, SH(2, 3, 4), F_SIGNED, AX(2, 0), KEEP, P(1)},
    {"std all c0", f_std, SH(3, 4), F_SIGNED, ONE_AX(TG_ALL), P(0)},
    /* logsumexp */
    {"logsumexp axis 1", f_logsumexp, SH(3, 4), F_SIGNED, ONE_AX(1)},
    {"logsumexp axes 0,2", f_logsumexp, SH(2, 3, 4), F_SIGNED, AX(0, 2)},
    {"logsumexp all keep", f_logsumexp, SH(3, 4), F_SIGNED, ONE_AX(TG_ALL), KEEP},
    /* norm */
    {"norm p2 axis 1", f_norm, SH(3, 4), F_SIGNED, ONE_AX(1), P(2)},
    {"norm p2 frobenius", f_norm, SH(2, 3, 4), F_SIGNED, AX(-2, -1), P(2)},
    {"norm p1 axes 0,2", f_norm, SH(2, 3, 4), F_AWAY, AX(0, 2), P(1)},
    {"norm p3 all", f_norm, SH(3, 4), F_SIGNED, ONE_AX(TG_ALL), P(3)},
    {"norm p1.5 axis 0", f_norm, SH(3, 4), F_AWAY, ONE_AX(0), KEEP, P(1.5)},
    {"norm p0.5 axis 1", f_norm, SH(3, 4), F_AWAY, ONE_AX(1), P(0.5)},
    {"norm pinf axes 0,2", f_norm, SH(2, 3, 4), F_DISTINCT_ABS, AX(0, 2), P(INFINITY)},
    /* cumulative */
    {"cumsum axis 0", f_cumsum, SH(3, 4), F_SIGNED, ONE_AX(0)},
    {"cumsum axis -1", f_cumsum, SH(2, 3, 4), F_SIGNED, ONE_AX(-1)},
    {"cumprod axis 1", f_cumprod, SH(3, 4), F_AWAY, ONE_AX(1)},
    {"cumprod axis 0", f_cumprod, SH(2, 3, 4), F_AWAY, ONE_AX(0)},
    {"cumprod axis 1 zeros", f_cumprod, SH(3, 5), F_ZEROS, ONE_AX(1)},
};

/* Checks one case: every input element, the whole Jacobian. */
static void check(const fd_case *c)
{
    tg_tensor *x = input(c->fill, c->ndim, c->shape);
    tg_gradcheck_result r = tg_gradcheck(c->build, (void *)c, &x, 1, NULL);
    cr_assert_eq(r.status, TG_OK, "%s: gradcheck could not run: %s", c->name, r.message);
    cr_expect_eq(r.checked, x->size, "%s: checked %lld of %lld elements", c->name,
                 (long long)r.checked, (long long)x->size);
    cr_expect(r.ok, "%s (%s): %s", c->name, tg_real_name(), r.message);
}

/* Runs every case whose name starts with `prefix`; expects at least one. */
static void run(const char *prefix)
{
    int ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        if (strncmp(cases[i].name, prefix, strlen(prefix)) == 0) {
            check(&cases[i]);
            ran++;
        }
    cr_expect(ran > 0, "no case for %s", prefix);
}

Test(fd_shape_reduce, permute) { run("permute"); }
Test(fd_shape_reduce, contiguous) { run("contiguous"); }
Test(fd_shape_reduce, movedim) { run("movedim"); }
Test(fd_shape_reduce, swapaxes) { run("swapaxes"); }
Test(fd_shape_reduce, swapdims) { run("swapdims"); }
Test(fd_shape_reduce, flatten_range) { run("flatten_range"); }
Test(fd_shape_reduce, squeeze) { run("squeeze"); }
Test(fd_shape_reduce, unsqueeze) { run("unsqueeze"); }
Test(fd_shape_reduce, sum) { run("sum"); }
Test(fd_shape_reduce, mean) { run("mean"); }
Test(fd_shape_reduce, min) { run("min "); }
Test(fd_shape_reduce, max_dim) { run("max_dim"); }
Test(fd_shape_reduce, min_dim) { run("min_dim"); }
Test(fd_shape_reduce, amax) { run("amax"); }
Test(fd_shape_reduce, amin) { run("amin"); }
Test(fd_shape_reduce, prod) { run("prod"); }
Test(fd_shape_reduce, var) { run("var"); }
Test(fd_shape_reduce, std) { run("std"); }
Test(fd_shape_reduce, logsumexp) { run("logsumexp"); }
Test(fd_shape_reduce, norm) { run("norm"); }
Test(fd_shape_reduce, cumsum) { run("cumsum"); }
Test(fd_shape_reduce, cumprod) { run("cumprod"); }

/* Every case of the table belongs to one of the tests above. */
Test(fd_shape_reduce, every_case_is_run)
{
    static const char *const prefixes[] = {
        "permute", "contiguous", "movedim", "swapaxes", "swapdims", "flatten_range", "squeeze",
        "unsqueeze", "sum", "mean", "min ", "max_dim", "min_dim", "amax", "amin", "prod", "var",
        "std", "logsumexp", "norm", "cumsum", "cumprod"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bool found = false;
        for (size_t k = 0; k < sizeof prefixes / sizeof *prefixes && !found; k++)
            found = strncmp(cases[i].name, prefixes[k], strlen(prefixes[k])) == 0;
        cr_expect(found, "case %s is in no test", cases[i].name);
    }
}
