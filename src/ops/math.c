/* Element-wise math: rounding (floor, ceil, round, trunc: no gradient),
   trigonometric and hyperbolic functions and their inverses, atan2,
   logarithms and exponentials in other bases, rsqrt, reciprocal, erfc,
   erfinv, minimum and maximum, pow with a tensor exponent or a scalar base,
   lerp, and add/sub with alpha.

   Every op here has its forward, its backward (the fast kernel) and its
   vjp (the same rule written with tg_ ops, for create_graph), side by side
   under one derivation. The derivatives are PyTorch's formulas
   (derivatives.yaml), so that the values at the edges agree: tan's is
   1 + y², asin's rsqrt(1 − x²), and so on. Binary ops broadcast as tg_add
   does; a broadcast input's gradient is summed in double (src/ops/walk.h). */
#include "ops/walk.h"

/* libm in tg_real's precision, for the functions core/internal.h does not map */
#ifdef TG_DOUBLE
#define M_(fn) fn
#else
#define M_(fn) fn##f
#endif

#define SQRT_PI 1.77245385090551602730 /* √π */
#define LN2 0.69314718055994530942
#define LN10 2.30258509299404568402

/* The scalar attribute of lerp (the weight), add_alpha (alpha) and
   pow_scalar_base (the base). */
typedef struct {
    tg_real s;
} math_attr;

static tg_real attr_s(const tg_record *r) { return ((const math_attr *)r->attr)->s; }

/* ------------------------------------------------------------- unary ops */

/* y[i] = f(x[i]) */
static int unary_run(tg_record *r, tg_real (*f)(tg_real))
{
    const tg_real *x = r->in[0]->data; /* [size] */
    tg_real *y = r->out->data;         /* [size] */
    for (int64_t i = 0; i < r->out->size; i++) y[i] = f(x[i]);
    return TG_OK;
}

/* dx[i] += g[i]·d(x[i], y[i]) */
static void unary_grad(tg_record *r, tg_real (*d)(tg_real, tg_real))
{
    const tg_real *x = r->in[0]->data, *y = r->out->data, *g = r->out->grad; /* [size] */
    tg_real *dx = r->in[0]->grad;                                            /* [size] */
    for (int64_t i = 0; i < r->out->size; i++) dx[i] += g[i] * d(x[i], y[i]);
}

/* dx[i] += g[i]/d(x[i], y[i]), for a derivative 1/d whose reciprocal may
   overflow where g/d does not (the logarithms at a subnormal x, as
   PyTorch's grad / (self · ln b)) */
static void unary_grad_div(tg_record *r, tg_real (*d)(tg_real, tg_real))
{
    const tg_real *x = r->in[0]->data, *y = r->out->data, *g = r->out->grad; /* [size] */
    tg_real *dx = r->in[0]->grad;                                            /* [size] */
    for (int64_t i = 0; i < r->out->size; i++) dx[i] += g[i] / d(x[i], y[i]);
}

/* MATH_UNARY(NAME, DOC): the op tg_NAME(t, x) from NAME##_f (the value),
   NAME##_d (the derivative, from x and y) and NAME##_vjp (the derivative
   times g as tg_ ops), written above it; MATH_UNARY_DIV the same with
   NAME##_d the derivative's reciprocal (unary_grad_div). */
#define MATH_UNARY(NAME, DOC) MATH_UNARY_WITH(NAME, unary_grad, DOC)
#define MATH_UNARY_DIV(NAME, DOC) MATH_UNARY_WITH(NAME, unary_grad_div, DOC)
#define MATH_UNARY_WITH(NAME, GRAD, DOC)                                                 \
    static int NAME##_forward(tg_record *r) { return unary_run(r, NAME##_f); }           \
    static void NAME##_backward(tg_record *r) { GRAD(r, NAME##_d); }                     \
    static int NAME##_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx) \
    {                                                                                    \
        dx[0] = NAME##_dx(t, g, r->in[0], r->out);                                       \
        return TG_OK;                                                                    \
    }                                                                                    \
    static const tg_op op_##NAME = {.name = #NAME, .n_inputs = 1,                        \
                                    .shape = tg_shape_same, .forward = NAME##_forward,   \
                                    .backward = NAME##_backward, .vjp = NAME##_vjp,      \
                                    .doc = DOC};                                         \
    tg_tensor *tg_##NAME(tg_tape *t, tg_tensor *x) { return tg_apply(t, &op_##NAME, &x, 1, NULL); }

/* The arguments of the NAME##_dx builders: tape, g, the input x and the
   output y (a record of the forward, so differentiating again goes through
   the op once more). */
#define DX_ARGS tg_tape *t, tg_tensor *g, tg_tensor *x, tg_tensor *y
#define UNUSED_XY ((void)x, (void)y)
#define K(v) tg_scalar(t, (tg_real)(v))

/* 1 − x² as ops (asin, acos, atanh) */
static tg_tensor *one_minus_sq(tg_tape *t, tg_tensor *x)
{
    return tg_add_scalar(t, tg_neg(t, tg_square(t, x)), 1);
}

/* y = sin x        dy/dx = cos x */
static tg_real sin_f(tg_real x) { return M_(sin)(x); }
static tg_real sin_d(tg_real x, tg_real y) { (void)y; return M_(cos)(x); }
static tg_tensor *sin_dx(DX_ARGS) { UNUSED_XY; return tg_mul(t, g, tg_cos(t, x)); }
MATH_UNARY(sin, "sin(x)")

/* y = cos x        dy/dx = −sin x */
static tg_real cos_f(tg_real x) { return M_(cos)(x); }
static tg_real cos_d(tg_real x, tg_real y) { (void)y; return -M_(sin)(x); }
static tg_tensor *cos_dx(DX_ARGS) { UNUSED_XY; return tg_mul(t, g, tg_neg(t, tg_sin(t, x))); }
MATH_UNARY(cos, "cos(x)")

/* y = tan x        dy/dx = 1/cos²x = 1 + tan²x = 1 + y² */
static tg_real tan_f(tg_real x) { return M_(tan)(x); }
static tg_real tan_d(tg_real x, tg_real y) { (void)x; return 1 + y * y; }
static tg_tensor *tan_dx(DX_ARGS)
{
    UNUSED_XY;
    return tg_mul(t, g, tg_add_scalar(t, tg_square(t, y), 1));
}
MATH_UNARY(tan, "tan(x)")

/* y = asin x       dy/dx = 1/√(1 − x²) (NaN outside [−1, 1], inf at ±1) */
static tg_real asin_f(tg_real x) { return M_(asin)(x); }
static tg_real asin_d(tg_real x, tg_real y) { (void)y; return 1 / TG_SQRT(1 - x * x); }
static tg_tensor *asin_dx(DX_ARGS)
{
    UNUSED_XY;
    return tg_mul(t, g, tg_rsqrt(t, one_minus_sq(t, x)));
}
MATH_UNARY(asin, "asin(x)")

/* y = acos x       dy/dx = −1/√(1 − x²) */
static tg_real acos_f(tg_real x) { return M_(acos)(x); }
static tg_real acos_d(tg_real x, tg_real y) { (void)y; return -1 / TG_SQRT(1 - x * x); }
static tg_tensor *acos_dx(DX_ARGS)
{
    UNUSED_XY;
    return tg_mul(t, g, tg_neg(t, tg_rsqrt(t, one_minus_sq(t, x))));
}
MATH_UNARY(acos, "acos(x)")

/* y = atan x       dy/dx = 1/(1 + x²) */
static tg_real atan_f(tg_real x) { return M_(atan)(x); }
static tg_real atan_d(tg_real x, tg_real y) { (void)y; return 1 / (x * x + 1); }
static tg_tensor *atan_dx(DX_ARGS)
{
    UNUSED_XY;
    return tg_div(t, g, tg_add_scalar(t, tg_square(t, x), 1));
}
MATH_UNARY(atan, "atan(x)")

/* y = sinh x       dy/dx = cosh x */
static tg_real sinh_f(tg_real x) { return M_(sinh)(x); }
static tg_real sinh_d(tg_real x, tg_real y) { (void)y; return M_(cosh)(x); }
static tg_tensor *sinh_dx(DX_ARGS) { UNUSED_XY; return tg_mul(t, g, tg_cosh(t, x)); }
MATH_UNARY(sinh, "sinh(x)")

/* y = cosh x       dy/dx = sinh x */
static tg_real cosh_f(tg_real x) { return M_(cosh)(x); }
static tg_real cosh_d(tg_real x, tg_real y) { (void)y; return M_(sinh)(x); }
static tg_tensor *cosh_dx(DX_ARGS) { UNUSED_XY; return tg_mul(t, g, tg_sinh(t, x)); }
MATH_UNARY(cosh, "cosh(x)")

/* y = asinh x      dy/dx = 1/√(x² + 1) */
static tg_real asinh_f(tg_real x) { return M_(asinh)(x); }
static tg_real asinh_d(tg_real x, tg_real y) { (void)y; return 1 / TG_SQRT(x * x + 1); }
static tg_tensor *asinh_dx(DX_ARGS)
{
    UNUSED_XY;
    return tg_mul(t, g, tg_rsqrt(t, tg_add_scalar(t, tg_square(t, x), 1)));
}
MATH_UNARY(asinh, "asinh(x)")

/* y = acosh x      dy/dx = 1/√(x² − 1) (NaN below 1, inf at 1) */
static tg_real acosh_f(tg_real x) { return M_(acosh)(x); }
static tg_real acosh_d(tg_real x, tg_real y) { (void)y; return 1 / TG_SQRT(x * x - 1); }
static tg_tensor *acosh_dx(DX_ARGS)
{
    UNUSED_XY;
    return tg_mul(t, g, tg_rsqrt(t, tg_add_scalar(t, tg_square(t, x), -1)));
}
MATH_UNARY(acosh, "acosh(x)")

/* y = atanh x      dy/dx = 1/(1 − x²) */
static tg_real atanh_f(tg_real x) { return M_(atanh)(x); }
static tg_real atanh_d(tg_real x, tg_real y) { (void)y; return 1 / (1 - x * x); }
static tg_tensor *atanh_dx(DX_ARGS) { UNUSED_XY; return tg_div(t, g, one_minus_sq(t, x)); }
MATH_UNARY(atanh, "atanh(x)")

/* y = log(1 + x), exact for small x        dy/dx = 1/(1 + x) */
static tg_real log1p_f(tg_real x) { return TG_LOG1P(x); }
static tg_real log1p_d(tg_real x, tg_real y) { (void)y; return 1 / (x + 1); }
static tg_tensor *log1p_dx(DX_ARGS) { UNUSED_XY; return tg_div(t, g, tg_add_scalar(t, x, 1)); }
MATH_UNARY(log1p, "log(1 + x)")

/* y = eˣ − 1, exact for small x            dy/dx = eˣ = y + 1 */
static tg_real expm1_f(tg_real x) { return TG_EXPM1(x); }
static tg_real expm1_d(tg_real x, tg_real y) { (void)x; return y + 1; }
static tg_tensor *expm1_dx(DX_ARGS) { UNUSED_XY; return tg_mul(t, g, tg_add_scalar(t, y, 1)); }
MATH_UNARY(expm1, "exp(x) - 1")

/* y = log₂ x       dy/dx = 1/(x·ln 2), applied as g/(x·ln 2) (the _d is
   its reciprocal: MATH_UNARY_DIV) */
static tg_real log2_f(tg_real x) { return M_(log2)(x); }
static tg_real log2_d(tg_real x, tg_real y) { (void)y; return x * (tg_real)LN2; }
static tg_tensor *log2_dx(DX_ARGS) { UNUSED_XY; return tg_div(t, g, tg_scale(t, x, (tg_real)LN2)); }
MATH_UNARY_DIV(log2, "log2(x)")

/* y = log₁₀ x      dy/dx = 1/(x·ln 10), applied as g/(x·ln 10) */
static tg_real log10_f(tg_real x) { return M_(log10)(x); }
static tg_real log10_d(tg_real x, tg_real y) { (void)y; return x * (tg_real)LN10; }
static tg_tensor *log10_dx(DX_ARGS)
{
    UNUSED_XY;
    return tg_div(t, g, tg_scale(t, x, (tg_real)LN10));
}
MATH_UNARY_DIV(log10, "log10(x)")

/* y = 2ˣ           dy/dx = 2ˣ·ln 2 = y·ln 2 */
static tg_real exp2_f(tg_real x) { return M_(exp2)(x); }
static tg_real exp2_d(tg_real x, tg_real y) { (void)x; return y * (tg_real)LN2; }
static tg_tensor *exp2_dx(DX_ARGS) { UNUSED_XY; return tg_mul(t, g, tg_scale(t, y, (tg_real)LN2)); }
MATH_UNARY(exp2, "2^x")

/* y = 1/√x         dy/dx = −x^(−3/2)/2 = −y³/2 */
static tg_real rsqrt_f(tg_real x) { return 1 / TG_SQRT(x); }
static tg_real rsqrt_d(tg_real x, tg_real y) { (void)x; return (tg_real)-0.5 * y * y * y; }
static tg_tensor *rsqrt_dx(DX_ARGS)
{
    UNUSED_XY;
    return tg_mul(t, g, tg_scale(t, tg_pow(t, y, 3), (tg_real)-0.5));
}
MATH_UNARY(rsqrt, "1 / sqrt(x)")

/* y = 1/x          dy/dx = −1/x² = −y² */
static tg_real reciprocal_f(tg_real x) { return 1 / x; }
static tg_real reciprocal_d(tg_real x, tg_real y) { (void)x; return -(y * y); }
static tg_tensor *reciprocal_dx(DX_ARGS)
{
    UNUSED_XY;
    return tg_mul(t, g, tg_neg(t, tg_square(t, y)));
}
MATH_UNARY(reciprocal, "1 / x")

/* y = erfc x = 1 − erf x, exact in the right tail      dy/dx = −2/√π·e^(−x²) */
static tg_real erfc_f(tg_real x) { return M_(erfc)(x); }
static tg_real erfc_d(tg_real x, tg_real y)
{
    (void)y;
    return (tg_real)(-2 / SQRT_PI) * TG_EXP(-(x * x));
}
static tg_tensor *erfc_dx(DX_ARGS)
{
    UNUSED_XY;
    tg_tensor *e = tg_exp(t, tg_neg(t, tg_square(t, x)));
    return tg_mul(t, g, tg_scale(t, e, (tg_real)(-2 / SQRT_PI)));
}
MATH_UNARY(erfc, "1 - erf(x)")

/* erfinv, the inverse of erf on (−1, 1), in double for both builds: a
   starting point from M. Giles' single-precision approximation
   ("Approximating the erfinv function", GPU Computing Gems, 2010), then
   Halley steps on erf(y) = |x|. Past |x| = 1/2 the equation is written
   erfc(y) = 1 − |x|, whose right side is exact there, so that x near ±1
   keeps every digit. erfinv(±1) = ±inf; NaN outside [−1, 1]. */
static double erfinv_of(double x)
{
    if (x == 0 || isnan(x)) return x;
    double ax = fabs(x);
    if (ax >= 1) return ax == 1 ? copysign(INFINITY, x) : NAN;
    double w = -log((1 - ax) * (1 + ax)), p;
    if (w < 5) {
        w -= 2.5;
        p = 2.81022636e-08;
        p = 3.43273939e-07 + p * w;
        p = -3.5233877e-06 + p * w;
        p = -4.39150654e-06 + p * w;
        p = 0.00021858087 + p * w;
        p = -0.00125372503 + p * w;
        p = -0.00417768164 + p * w;
        p = 0.246640727 + p * w;
        p = 1.50140941 + p * w;
    } else {
        w = sqrt(w) - 3;
        p = -0.000200214257;
        p = 0.000100950558 + p * w;
        p = 0.00134934322 + p * w;
        p = -0.00367342844 + p * w;
        p = 0.00573950773 + p * w;
        p = -0.0076224613 + p * w;
        p = 0.00943887047 + p * w;
        p = 1.00167406 + p * w;
        p = 2.83297682 + p * w;
    }
    double y = p * ax;
    /* f(y) = erf(y) − |x|, f' = 2/√π·e^(−y²), f'' = −2y·f': Halley's step
       y − 2ff'/(2f'² − ff'') is y − u/(1 + y·u) with u = f/f'. One or two
       steps from the start in (−1 + 2⁻²⁴, 1 − 2⁻²⁴), where the start is
       good to 1e-7; beyond (double only) the start is rougher and a few
       more steps are taken, converging in all to < 1 ulp. */
    for (int i = 0; i < 40; i++) {
        double f = ax < 0.5 ? erf(y) - ax : (1 - ax) - erfc(y);
        double u = f / (2 / SQRT_PI * exp(-y * y));
        double step = u / (1 + y * u);
        y -= step;
        if (!(fabs(step) > 1e-17 * y)) break;
    }
    return copysign(y, x);
}

/* y = erfinv x     dy/dx = 1/erf'(y) = √π/2·e^(y²) */
static tg_real erfinv_f(tg_real x) { return (tg_real)erfinv_of((double)x); }
static tg_real erfinv_d(tg_real x, tg_real y)
{
    (void)x;
    return (tg_real)(SQRT_PI / 2) * TG_EXP(y * y);
}
static tg_tensor *erfinv_dx(DX_ARGS)
{
    UNUSED_XY;
    return tg_mul(t, g, tg_scale(t, tg_exp(t, tg_square(t, y)), (tg_real)(SQRT_PI / 2)));
}
MATH_UNARY(erfinv, "the inverse of erf")

/* ---------------------------------------------------------------- rounding */

/* floor, ceil, round (half to even, as torch.round) and trunc are piecewise
   constant: their derivative is 0 wherever it exists (PyTorch's gradient is
   0 everywhere), so, like the comparisons, they are never recorded and their
   results are constants. */
#define MATH_NOGRAD(NAME, FN, DOC)                                                       \
    static tg_real NAME##_f(tg_real x) { return FN(x); }                                 \
    static int NAME##_forward(tg_record *r) { return unary_run(r, NAME##_f); }           \
    static const tg_op op_##NAME = {.name = #NAME, .n_inputs = 1,                        \
                                    .shape = tg_shape_same, .forward = NAME##_forward,   \
                                    .doc = DOC};                                         \
    tg_tensor *tg_##NAME(tg_tape *t, tg_tensor *x) { return tg_apply(t, &op_##NAME, &x, 1, NULL); }

MATH_NOGRAD(floor, M_(floor), "the largest integer <= x (no gradient)")
MATH_NOGRAD(ceil, M_(ceil), "the smallest integer >= x (no gradient)")
/* rint rounds in the current rounding mode, to nearest with ties to even
   unless the program changed it */
MATH_NOGRAD(round, M_(rint), "x rounded to the nearest integer, ties to even (no gradient)")
MATH_NOGRAD(trunc, M_(trunc), "x rounded toward zero (no gradient)")

/* ------------------------------------------------------------ binary ops */

/* The backward of a broadcasting binary op y = f(a, b): da += g·∂y/∂a and
   db += g·∂y/∂b at the element each input contributed; da_of / db_of take
   (a, b, y). */
typedef tg_real (*partial_fn)(tg_real a, tg_real b, tg_real y);

static void binary_grad(tg_record *r, partial_fn da_of, partial_fn db_of)
{
    const tg_tensor *A = r->in[0], *B = r->in[1], *Y = r->out;
    tg_walk w;
    tg_walk_init(&w, Y->ndim, Y->shape);
    tg_walk_tensor(&w, A);
    tg_walk_tensor(&w, B);
    tg_sink da = tg_sink_begin(r->tape, A, Y->size), db = tg_sink_begin(r->tape, B, Y->size);
    for (int64_t k = 0; k < Y->size; k++, tg_walk_next(&w)) {
        tg_real a = A->data[w.off[0]], b = B->data[w.off[1]], y = Y->data[k], g = Y->grad[k];
        if (da.grad) tg_sink_add(&da, w.off[0], g * da_of(a, b, y));
        if (db.grad) tg_sink_add(&db, w.off[1], g * db_of(a, b, y));
    }
    tg_sink_end(&da);
    tg_sink_end(&db);
}

/* A binary op's vjp: dx[k] = the gradient of input k (a tensor of the
   output's shape) summed down to that input's shape, for the inputs that
   need one. */
static void set_dx(tg_tape *t, const tg_record *r, tg_tensor **dx, int k, tg_tensor *full)
{
    const tg_tensor *x = r->in[k];
    if (x && (x->flags & TG_REQUIRES_GRAD)) dx[k] = tg_sum_to(t, full, x->ndim, x->shape);
}

#define MATH_BINARY(NAME, DOC)                                                           \
    static void NAME##_backward(tg_record *r) { binary_grad(r, NAME##_da, NAME##_db); }  \
    static const tg_op op_##NAME = {.name = #NAME, .n_inputs = 2,                        \
                                    .shape = tg_shape_bcast, .forward = NAME##_forward,  \
                                    .backward = NAME##_backward, .vjp = NAME##_vjp,      \
                                    .doc = DOC};                                         \
    tg_tensor *tg_##NAME(tg_tape *t, tg_tensor *a, tg_tensor *b)                         \
    {                                                                                    \
        tg_tensor *in[2] = {a, b};                                                       \
        return tg_apply(t, &op_##NAME, in, 2, NULL);                                     \
    }

/* y = atan2(a, b), the angle of the point (b, a) in (−π, π]
   ∂y/∂a = b/(a² + b²),  ∂y/∂b = −a/(a² + b²) */
BIN_FORWARD(atan2, M_(atan2)(a, b))
static tg_real atan2_da(tg_real a, tg_real b, tg_real y)
{
    (void)y;
    return b * (1 / (a * a + b * b));
}
static tg_real atan2_db(tg_real a, tg_real b, tg_real y)
{
    (void)y;
    return -a * (1 / (a * a + b * b));
}
static int atan2_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *a = r->in[0], *b = r->in[1];
    tg_tensor *inv = tg_reciprocal(t, tg_add(t, tg_square(t, a), tg_square(t, b)));
    tg_tensor *gi = tg_mul(t, g, inv);
    set_dx(t, r, dx, 0, tg_mul(t, gi, b));
    set_dx(t, r, dx, 1, tg_neg(t, tg_mul(t, gi, a)));
    return TG_OK;
}
MATH_BINARY(atan2, "atan2(a, b) (broadcasting)")

/* y = min(a, b)    ∂y/∂a = 1 where a < b, 1/2 where a = b, 0 where a > b
                    (PyTorch's: a tie gives each half; a NaN, the NaN
                    passed on, gives each the whole gradient) */
BIN_FORWARD(minimum, isnan(a) || isnan(b) ? a + b : a < b ? a : b)
static tg_real minimum_da(tg_real a, tg_real b, tg_real y)
{
    (void)y;
    return a == b ? (tg_real)0.5 : a > b ? 0 : 1;
}
static tg_real minimum_db(tg_real a, tg_real b, tg_real y) { return minimum_da(b, a, y); }

/* y = max(a, b)    ∂y/∂a = 1 where a > b, 1/2 where a = b, 0 where a < b */
BIN_FORWARD(maximum, isnan(a) || isnan(b) ? a + b : a > b ? a : b)
static tg_real maximum_da(tg_real a, tg_real b, tg_real y) { return minimum_da(b, a, y); }
static tg_real maximum_db(tg_real a, tg_real b, tg_real y) { return minimum_da(a, b, y); }

/* The vjp of minimum (sign 1) and maximum (sign −1): g/2 at a tie, g where
   the input is the one taken, 0 where the other is (selected, so that an
   infinite g never meets a 0). */
static void minmax_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx, bool min)
{
    tg_tensor *a = r->in[0], *b = r->in[1];
    tg_tensor *half = tg_where(t, tg_eq(t, a, b), tg_scale(t, g, (tg_real)0.5), g);
    tg_tensor *a_loses = min ? tg_gt(t, a, b) : tg_lt(t, a, b);
    tg_tensor *b_loses = min ? tg_lt(t, a, b) : tg_gt(t, a, b);
    set_dx(t, r, dx, 0, tg_where(t, a_loses, K(0), half));
    set_dx(t, r, dx, 1, tg_where(t, b_loses, K(0), half));
}
static int minimum_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    minmax_vjp(t, r, g, dx, true);
    return TG_OK;
}
static int maximum_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    minmax_vjp(t, r, g, dx, false);
    return TG_OK;
}
MATH_BINARY(minimum, "min(a, b) element-wise (broadcasting)")
MATH_BINARY(maximum, "max(a, b) element-wise (broadcasting)")

/* y = xᵉ (torch.pow(x, e), both tensors)
   ∂y/∂x = e·x^(e−1), and 0 where e = 0 (x⁰ = 1 for every x)
   ∂y/∂e = xᵉ·ln x = y·ln x, and 0 where x = 0 and e ≥ 0 (PyTorch's rules:
           0ᵉ is 0 or 1 there, flat in e from the right; a negative x gives
           NaN, as ln x does) */
BIN_FORWARD(pow_tensor, TG_POW(a, b))
static tg_real pow_tensor_da(tg_real x, tg_real e, tg_real y)
{
    (void)y;
    return e == 0 ? 0 : e * TG_POW(x, e - 1);
}
static tg_real pow_tensor_db(tg_real x, tg_real e, tg_real y)
{
    return x == 0 && e >= 0 ? 0 : y * TG_LOG(x);
}
static int pow_tensor_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *x = r->in[0], *e = r->in[1], *y = r->out;
    if (x->flags & TG_REQUIRES_GRAD) {
        tg_tensor *d = tg_mul(t, g, tg_mul(t, e, tg_pow_tensor(t, x, tg_add_scalar(t, e, -1))));
        set_dx(t, r, dx, 0, tg_where(t, tg_eq(t, e, K(0)), K(0), d));
    }
    if (e->flags & TG_REQUIRES_GRAD) {
        tg_tensor *flat = tg_mul(t, tg_eq(t, x, K(0)), tg_ge(t, e, K(0)));
        set_dx(t, r, dx, 1, tg_mul(t, g, tg_where(t, flat, K(0), tg_mul(t, y, tg_log(t, x)))));
    }
    return TG_OK;
}
MATH_BINARY(pow_tensor, "x^e with a tensor exponent (broadcasting)")

/* ----------------------------------------------- pow with a scalar base */

/* y = sᵉ (torch.pow(s, e))
   dy/de = sᵉ·ln s = y·ln s, and 0 where s = 0 and e ≥ 0 (as pow_tensor) */
static int pow_scalar_base_forward(tg_record *r)
{
    tg_real s = attr_s(r);
    const tg_real *e = r->in[0]->data; /* [size] */
    tg_real *y = r->out->data;         /* [size] */
    for (int64_t i = 0; i < r->out->size; i++) y[i] = TG_POW(s, e[i]);
    return TG_OK;
}

static void pow_scalar_base_backward(tg_record *r)
{
    tg_real s = attr_s(r), ln_s = TG_LOG(s);
    const tg_real *e = r->in[0]->data, *y = r->out->data, *g = r->out->grad; /* [size] */
    tg_real *de = r->in[0]->grad;                                            /* [size] */
    for (int64_t i = 0; i < r->out->size; i++)
        de[i] += g[i] * (s == 0 && e[i] >= 0 ? 0 : y[i] * ln_s);
}

static int pow_scalar_base_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    tg_real s = attr_s(r);
    tg_tensor *e = r->in[0], *d = tg_scale(t, r->out, TG_LOG(s));
    if (s == 0) d = tg_where(t, tg_ge(t, e, K(0)), K(0), d);
    dx[0] = tg_mul(t, g, d);
    return TG_OK;
}

static const tg_op op_pow_scalar_base = {
    .name = "pow_scalar_base", .n_inputs = 1, .attr_size = sizeof(math_attr),
    .shape = tg_shape_same, .forward = pow_scalar_base_forward,
    .backward = pow_scalar_base_backward, .vjp = pow_scalar_base_vjp,
    .doc = "s^e with a scalar base s"};

tg_tensor *tg_pow_scalar_base(tg_tape *t, tg_real base, tg_tensor *exponent)
{
    math_attr a = {base};
    return tg_apply(t, &op_pow_scalar_base, &exponent, 1, &a);
}

/* ---------------------------------------------------------------- lerp */

/* lerp(a, b, w) = a + w·(b − a), computed as PyTorch does so that the ends
   are exact: fma(w, b − a, a) where |w| < 1/2, else fma(−(b − a), 1 − w, b)
   (b itself at w = 1).
   ∂/∂a = 1 − w,  ∂/∂b = w,  ∂/∂w = b − a */
static tg_real lerp_of(tg_real a, tg_real b, tg_real w)
{
    tg_real d = b - a;
    return TG_FABS(w) < (tg_real)0.5 ? M_(fma)(w, d, a) : M_(fma)(-d, 1 - w, b);
}

/* lerp with a scalar weight (inputs a, b; the weight in the attribute) or
   a tensor weight (inputs a, b, w), all broadcast together */
static int lerp_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                      size_t len)
{
    int n = r->op->n_inputs;
    for (int k = 1; k < n; k++)
        if (!r->in[k]) {
            snprintf(msg, len, "input %d (%s) is NULL", k, k == 1 ? "end" : "weight");
            return TG_ERR_INVALID;
        }
    if (tg_broadcast_n(n, (const tg_tensor *const *)r->in, ndim, shape) != TG_OK) {
        char sa[96], sb[96], sw[96] = "";
        tg_shape_str(r->in[0], sa, sizeof sa);
        tg_shape_str(r->in[1], sb, sizeof sb);
        if (n == 3) tg_shape_str(r->in[2], sw, sizeof sw);
        snprintf(msg, len, "shapes cannot be broadcast together: start %s, end %s%s%s", sa, sb,
                 n == 3 ? ", weight " : "", sw);
        return TG_ERR_SHAPE;
    }
    return TG_OK;
}

/* the walk over the output with a, b and (for lerp_tensor) w */
static tg_walk lerp_walk(const tg_record *r)
{
    tg_walk w;
    tg_walk_init(&w, r->out->ndim, r->out->shape);
    for (int k = 0; k < r->op->n_inputs; k++) tg_walk_tensor(&w, r->in[k]);
    return w;
}

static int lerp_forward(tg_record *r)
{
    tg_walk w = lerp_walk(r);
    const tg_real *a = r->in[0]->data, *b = r->in[1]->data;
    const tg_real *wt = r->op->n_inputs == 3 ? r->in[2]->data : NULL;
    tg_real s = r->attr ? attr_s(r) : 0;
    for (int64_t k = 0; k < r->out->size; k++, tg_walk_next(&w))
        r->out->data[k] = lerp_of(a[w.off[0]], b[w.off[1]], wt ? wt[w.off[2]] : s);
    return TG_OK;
}

static void lerp_backward(tg_record *r)
{
    tg_walk w = lerp_walk(r);
    int n = r->op->n_inputs;
    const tg_real *a = r->in[0]->data, *b = r->in[1]->data, *g = r->out->grad;
    const tg_real *wt = n == 3 ? r->in[2]->data : NULL;
    tg_real s = r->attr ? attr_s(r) : 0;
    tg_sink da = tg_sink_begin(r->tape, r->in[0], r->out->size);
    tg_sink db = tg_sink_begin(r->tape, r->in[1], r->out->size);
    tg_sink dw = tg_sink_begin(r->tape, n == 3 ? r->in[2] : NULL, r->out->size);
    for (int64_t k = 0; k < r->out->size; k++, tg_walk_next(&w)) {
        tg_real wk = wt ? wt[w.off[2]] : s;
        if (da.grad) tg_sink_add(&da, w.off[0], g[k] * (1 - wk));
        if (db.grad) tg_sink_add(&db, w.off[1], g[k] * wk);
        if (dw.grad) tg_sink_add(&dw, w.off[2], g[k] * (b[w.off[1]] - a[w.off[0]]));
    }
    tg_sink_end(&da);
    tg_sink_end(&db);
    tg_sink_end(&dw);
}

static int lerp_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    if (r->op->n_inputs == 2) {
        tg_real s = attr_s(r);
        set_dx(t, r, dx, 0, tg_scale(t, g, 1 - s));
        set_dx(t, r, dx, 1, tg_scale(t, g, s));
        return TG_OK;
    }
    tg_tensor *a = r->in[0], *b = r->in[1], *wt = r->in[2];
    set_dx(t, r, dx, 0, tg_mul(t, g, tg_add_scalar(t, tg_neg(t, wt), 1)));
    set_dx(t, r, dx, 1, tg_mul(t, g, wt));
    set_dx(t, r, dx, 2, tg_mul(t, g, tg_sub(t, b, a)));
    return TG_OK;
}

static const tg_op op_lerp = {.name = "lerp", .n_inputs = 2, .attr_size = sizeof(math_attr),
                              .shape = lerp_shape, .forward = lerp_forward,
                              .backward = lerp_backward, .vjp = lerp_vjp,
                              .doc = "a + w (b - a), scalar w (broadcasting)"};
static const tg_op op_lerp_tensor = {.name = "lerp_tensor", .n_inputs = 3, .shape = lerp_shape,
                                     .forward = lerp_forward, .backward = lerp_backward,
                                     .vjp = lerp_vjp,
                                     .doc = "a + w (b - a), tensor w (broadcasting)"};

tg_tensor *tg_lerp(tg_tape *t, tg_tensor *start, tg_tensor *end, tg_real weight)
{
    math_attr a = {weight};
    tg_tensor *in[2] = {start, end};
    return tg_apply(t, &op_lerp, in, 2, &a);
}

tg_tensor *tg_lerp_tensor(tg_tape *t, tg_tensor *start, tg_tensor *end, tg_tensor *weight)
{
    tg_tensor *in[3] = {start, end, weight};
    return tg_apply(t, &op_lerp_tensor, in, 3, NULL);
}

/* ---------------------------------------------------------- add with alpha */

/* y = a + α·b, as fma(α, b, a) (PyTorch's kernel: one rounding); sub with
   alpha is a + (−α)·b, which is the same number
   ∂y/∂a = 1,  ∂y/∂b = α */
static int add_alpha_forward(tg_record *r)
{
    tg_walk w;
    tg_walk_init(&w, r->out->ndim, r->out->shape);
    tg_walk_tensor(&w, r->in[0]);
    tg_walk_tensor(&w, r->in[1]);
    tg_real s = attr_s(r);
    const tg_real *a = r->in[0]->data, *b = r->in[1]->data;
    for (int64_t k = 0; k < r->out->size; k++, tg_walk_next(&w))
        r->out->data[k] = M_(fma)(s, b[w.off[1]], a[w.off[0]]);
    return TG_OK;
}

static void add_alpha_backward(tg_record *r)
{
    tg_real s = attr_s(r);
    const tg_tensor *A = r->in[0], *B = r->in[1], *Y = r->out;
    if (A->grad) tg_reduce_broadcast_add(r, A->grad, A, Y->grad, Y);
    if (!B->grad) return;
    tg_walk w;
    tg_walk_init(&w, Y->ndim, Y->shape);
    tg_walk_tensor(&w, B);
    tg_sink db = tg_sink_begin(r->tape, B, Y->size);
    for (int64_t k = 0; k < Y->size; k++, tg_walk_next(&w))
        tg_sink_add(&db, w.off[0], s * Y->grad[k]);
    tg_sink_end(&db);
}

static int add_alpha_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    set_dx(t, r, dx, 0, g);
    set_dx(t, r, dx, 1, tg_scale(t, g, attr_s(r)));
    return TG_OK;
}

static const tg_op op_add_alpha = {.name = "add_alpha", .n_inputs = 2,
                                   .attr_size = sizeof(math_attr), .shape = tg_shape_bcast,
                                   .forward = add_alpha_forward, .backward = add_alpha_backward,
                                   .vjp = add_alpha_vjp, .doc = "a + alpha b (broadcasting)"};

tg_tensor *tg_add_alpha(tg_tape *t, tg_tensor *a, tg_tensor *b, tg_real alpha)
{
    math_attr at = {alpha};
    tg_tensor *in[2] = {a, b};
    return tg_apply(t, &op_add_alpha, in, 2, &at);
}

tg_tensor *tg_sub_alpha(tg_tape *t, tg_tensor *a, tg_tensor *b, tg_real alpha)
{
    return tg_add_alpha(t, a, b, -alpha);
}

static const tg_op *const math_ops[] = {
    &op_sin,   &op_cos,    &op_tan,    &op_asin,    &op_acos,        &op_atan,
    &op_sinh,  &op_cosh,   &op_asinh,  &op_acosh,   &op_atanh,       &op_log1p,
    &op_expm1, &op_log2,   &op_log10,  &op_exp2,    &op_rsqrt,       &op_reciprocal,
    &op_erfc,  &op_erfinv, &op_floor,  &op_ceil,    &op_round,       &op_trunc,
    &op_atan2, &op_minimum, &op_maximum, &op_pow_tensor, &op_pow_scalar_base,
    &op_lerp,  &op_lerp_tensor, &op_add_alpha};
const tg_op_table tg_math_ops = {math_ops, sizeof math_ops / sizeof *math_ops};
