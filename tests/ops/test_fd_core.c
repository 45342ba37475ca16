/* Every core op against central finite differences (tg_gradcheck with its
   defaults: PyTorch's in the double build, the float ones documented in the
   header in the float build — both builds run every case).

   The golden tests compare with PyTorch at fixed points; these compare each
   backward rule with its own forward at random points, through the whole
   Jacobian (every output element against every input element), so a rule
   that matches PyTorch only by accident of the test data still fails here.

   Points are drawn from a seeded splitmix64, away from where an op is not
   differentiable or its difference quotient is ill-conditioned: log, sqrt
   and non-integer pow on [0.5, 2]; the divisor of div with |b| in
   [0.5, 2]; abs with |x| ≥ 0.1; max with distinct values at least 0.05
   apart (far wider than the step h = eps·max(1,|x|) in either build). */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>
#include <tapegrad.h>

static uint64_t rng_state;
static double next_unit(void) /* [0, 1) */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

enum fill { F_SIGNED, F_POSITIVE, F_AWAY_FROM_ZERO, F_DISTINCT };

static tg_tape *tape;
static void setup(void)
{
    tape = tg_tape_new();
    rng_state = 20240601;
}
static void teardown(void) { tg_tape_free(tape); }
TestSuite(fd_core, .init = setup, .fini = teardown);

/* A leaf that requires grad, filled as `how` says. */
static tg_tensor *input(enum fill how, int ndim, const int64_t *shape)
{
    tg_tensor *x = tg_zeros(tape, ndim, shape);
    cr_assert(x, "%s", tg_tape_error(tape));
    for (int64_t i = 0; i < x->size; i++) {
        double u = next_unit();
        switch (how) {
        case F_SIGNED: x->data[i] = (tg_real)(2 * u - 1); break;          /* [-1, 1) */
        case F_POSITIVE: x->data[i] = (tg_real)(0.5 + 1.5 * u); break;    /* [0.5, 2) */
        case F_AWAY_FROM_ZERO:                                            /* ±[0.1, 2) */
            x->data[i] = (tg_real)((0.1 + 1.9 * u) * (next_unit() < 0.5 ? -1 : 1));
            break;
        case F_DISTINCT: x->data[i] = (tg_real)(0.05 * (double)i - 1); break;
        }
    }
    if (how == F_DISTINCT) /* shuffle the distinct values (Fisher–Yates) */
        for (int64_t i = x->size - 1; i > 0; i--) {
            int64_t j = (int64_t)(next_unit() * (double)(i + 1));
            tg_real v = x->data[i];
            x->data[i] = x->data[j];
            x->data[j] = v;
        }
    return tg_requires_grad(x, true);
}

/* The case's attributes, passed to the builder as ctx. */
typedef struct {
    const char *op;
    int axis, axis2; /* reductions; transpose swaps axis and axis2 */
    bool keepdim;
    tg_real s;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
} attrs;

static tg_tensor *build(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const attrs *a = ctx;
    const char *op = a->op;
#define IS(name) (strcmp(op, name) == 0)
    if (IS("add")) return tg_add(t, in[0], in[1]);
    if (IS("sub")) return tg_sub(t, in[0], in[1]);
    if (IS("mul")) return tg_mul(t, in[0], in[1]);
    if (IS("div")) return tg_div(t, in[0], in[1]);
    if (IS("neg")) return tg_neg(t, in[0]);
    if (IS("scale")) return tg_scale(t, in[0], a->s);
    if (IS("add_scalar")) return tg_add_scalar(t, in[0], a->s);
    if (IS("pow")) return tg_pow(t, in[0], a->s);
    if (IS("exp")) return tg_exp(t, in[0]);
    if (IS("log")) return tg_log(t, in[0]);
    if (IS("sqrt")) return tg_sqrt(t, in[0]);
    if (IS("abs")) return tg_abs(t, in[0]);
    if (IS("square")) return tg_square(t, in[0]);
    if (IS("matmul")) return tg_matmul(t, in[0], in[1]);
    if (IS("transpose")) return tg_transpose(t, in[0], a->axis, a->axis2);
    if (IS("linear")) return tg_linear(t, in[0], in[1], n > 2 ? in[2] : NULL);
    if (IS("reshape")) return tg_reshape(t, in[0], a->ndim, a->shape);
    if (IS("flatten")) return tg_flatten(t, in[0]);
    if (IS("sum")) return tg_sum(t, in[0], a->axis, a->keepdim);
    if (IS("mean")) return tg_mean(t, in[0], a->axis, a->keepdim);
    if (IS("max")) return tg_max(t, in[0], a->axis, a->keepdim);
    /* a view is checked through an op that reads it, so that a reshape's
       gradient that ignores element order would show */
    if (IS("reshape_then_mul")) {
        tg_tensor *r = tg_reshape(t, in[0], a->ndim, a->shape);
        return tg_mul(t, r, in[1]);
    }
#undef IS
    return NULL;
}

/* Checks op(inputs) and expects every element to pass. */
static void check(const attrs *a, tg_tensor **in, int n)
{
    int64_t want = 0;
    for (int i = 0; i < n; i++)
        if (in[i]) want += in[i]->size;
    tg_gradcheck_result r = tg_gradcheck(build, (void *)a, in, n, NULL);
    cr_assert_eq(r.status, TG_OK, "%s: gradcheck could not run: %s", a->op, r.message);
    cr_expect_eq(r.checked, want, "%s: checked %lld of %lld elements", a->op,
                 (long long)r.checked, (long long)want);
    cr_expect(r.ok, "%s (%s): %s", a->op, tg_real_name(), r.message);
}

#define SH(...) TG_SHAPE(__VA_ARGS__)

/* ------------------------------------------------------------ binary ops */

static void binary_cases(const char *op, enum fill fb)
{
    attrs a = {.op = op};
    /* same shape, [N,M] + [M], [N,1] * [1,M], 3-D against 1-D, scalar */
    tg_tensor *c1[2] = {input(F_SIGNED, SH(3, 4)), input(fb, SH(3, 4))};
    check(&a, c1, 2);
    tg_tensor *c2[2] = {input(F_SIGNED, SH(3, 4)), input(fb, SH(4))};
    check(&a, c2, 2);
    tg_tensor *c3[2] = {input(F_SIGNED, SH(3, 1)), input(fb, SH(1, 4))};
    check(&a, c3, 2);
    tg_tensor *c4[2] = {input(F_SIGNED, SH(2, 3, 4)), input(fb, SH(3, 1))};
    check(&a, c4, 2);
    tg_tensor *c5[2] = {input(F_SIGNED, SH(4)), input(fb, 0, NULL)};
    check(&a, c5, 2);
    /* the broadcast one first */
    tg_tensor *c6[2] = {input(F_SIGNED, SH(1, 4)), input(fb, SH(3, 4))};
    check(&a, c6, 2);
}

Test(fd_core, add) { binary_cases("add", F_SIGNED); }
Test(fd_core, sub) { binary_cases("sub", F_SIGNED); }
Test(fd_core, mul) { binary_cases("mul", F_SIGNED); }
Test(fd_core, div) { binary_cases("div", F_AWAY_FROM_ZERO); }

static tg_tensor *f_square_self(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_div(t, tg_mul(t, in[0], in[0]), tg_add(t, in[0], tg_exp(t, in[0])));
}

Test(fd_core, binary_ops_with_one_tensor_twice)
{
    tg_tensor *x = input(F_SIGNED, SH(2, 3));
    tg_gradcheck_result r = tg_gradcheck(f_square_self, NULL, &x, 1, NULL);
    cr_assert_eq(r.status, TG_OK, "%s", r.message);
    cr_expect(r.ok, "x·x / (x + eˣ): %s", r.message);
}

/* ------------------------------------------------------------- unary ops */

static void unary_case(const char *op, enum fill how, tg_real s)
{
    attrs a = {.op = op, .s = s};
    tg_tensor *x = input(how, SH(2, 3));
    check(&a, &x, 1);
    tg_tensor *y = input(how, 0, NULL); /* a scalar */
    check(&a, &y, 1);
}

Test(fd_core, neg) { unary_case("neg", F_SIGNED, 0); }
Test(fd_core, scale) { unary_case("scale", F_SIGNED, (tg_real)-2.5); }
Test(fd_core, add_scalar) { unary_case("add_scalar", F_SIGNED, (tg_real)0.75); }
Test(fd_core, pow)
{
    unary_case("pow", F_POSITIVE, (tg_real)2.5);
    unary_case("pow", F_POSITIVE, (tg_real)-1.5);
    unary_case("pow", F_SIGNED, 3);  /* integer powers are defined for x < 0 */
    unary_case("pow", F_SIGNED, 0);  /* x⁰ = 1: zero gradient */
}
Test(fd_core, exp) { unary_case("exp", F_SIGNED, 0); }
Test(fd_core, log) { unary_case("log", F_POSITIVE, 0); }
Test(fd_core, sqrt) { unary_case("sqrt", F_POSITIVE, 0); }
Test(fd_core, abs) { unary_case("abs", F_AWAY_FROM_ZERO, 0); }
Test(fd_core, square) { unary_case("square", F_SIGNED, 0); }

/* ---------------------------------------------------------- linear algebra */

Test(fd_core, matmul)
{
    attrs a = {.op = "matmul"};
    tg_tensor *m2[2] = {input(F_SIGNED, SH(3, 4)), input(F_SIGNED, SH(4, 2))};
    check(&a, m2, 2);
    tg_tensor *m3[2] = {input(F_SIGNED, SH(2, 3, 4)), input(F_SIGNED, SH(2, 4, 5))};
    check(&a, m3, 2);
    tg_tensor *m32[2] = {input(F_SIGNED, SH(2, 3, 4)), input(F_SIGNED, SH(4, 2))};
    check(&a, m32, 2);
    tg_tensor *vec[2] = {input(F_SIGNED, SH(1, 5)), input(F_SIGNED, SH(5, 1))};
    check(&a, vec, 2);
}

Test(fd_core, transpose)
{
    attrs a = {.op = "transpose", .axis = 0, .axis2 = 1};
    tg_tensor *x = input(F_SIGNED, SH(3, 4));
    check(&a, &x, 1);
    attrs b = {.op = "transpose", .axis = -1, .axis2 = 0};
    tg_tensor *y = input(F_SIGNED, SH(2, 3, 4));
    check(&b, &y, 1);
}

Test(fd_core, linear)
{
    attrs a = {.op = "linear"};
    tg_tensor *with_bias[3] = {input(F_SIGNED, SH(4, 3)), input(F_SIGNED, SH(2, 3)),
                               input(F_SIGNED, SH(2))};
    check(&a, with_bias, 3);
    tg_tensor *no_bias[3] = {input(F_SIGNED, SH(4, 3)), input(F_SIGNED, SH(2, 3)), NULL};
    check(&a, no_bias, 3);
    tg_tensor *batched[3] = {input(F_SIGNED, SH(2, 3, 3)), input(F_SIGNED, SH(4, 3)),
                             input(F_SIGNED, SH(4))};
    check(&a, batched, 3);
}

/* ------------------------------------------------------------ shape ops */

Test(fd_core, reshape)
{
    attrs a = {.op = "reshape", .ndim = 3, .shape = {2, 1, 6}};
    tg_tensor *x = input(F_SIGNED, SH(3, 4));
    check(&a, &x, 1);
    attrs b = {.op = "reshape_then_mul", .ndim = 2, .shape = {4, -1}};
    tg_tensor *in[2] = {input(F_SIGNED, SH(2, 6)), input(F_SIGNED, SH(4, 3))};
    check(&b, in, 2);
}

Test(fd_core, flatten)
{
    attrs a = {.op = "flatten"};
    tg_tensor *x = input(F_SIGNED, SH(2, 3, 2));
    check(&a, &x, 1);
}

/* ------------------------------------------------------------ reductions */

static void reduction_cases(const char *op, enum fill how)
{
    const int axes[] = {0, 1, -1, TG_ALL};
    for (size_t i = 0; i < sizeof axes / sizeof *axes; i++)
        for (int keep = 0; keep < 2; keep++) {
            attrs a = {.op = op, .axis = axes[i], .keepdim = keep != 0};
            tg_tensor *x = input(how, SH(3, 4));
            check(&a, &x, 1);
            tg_tensor *y = input(how, SH(2, 3, 2));
            check(&a, &y, 1);
        }
}

Test(fd_core, sum) { reduction_cases("sum", F_SIGNED); }
Test(fd_core, mean) { reduction_cases("mean", F_SIGNED); }
Test(fd_core, max) { reduction_cases("max", F_DISTINCT); }
