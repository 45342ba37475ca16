/* σ(x) and tanh(x) for the loops of the fused ops (recurrent.c's cells,
   activation.c's tanh-form GELU): in the double build libm's; in the float
   build eˣ by a polynomial that vectorises (within 2 ulp; sigmoid within 4
   and tanh within 3 ulp of the exact values), since libm's expf and tanhf
   are scalar calls that would cost more than the matrix products around
   them. Static inline: each loop that calls them is compiled for the
   vector units it targets (TG_VECTOR_LOOP). */
#ifndef TG_OPS_FAST_ACT_H
#define TG_OPS_FAST_ACT_H

#include "core/internal.h"

#ifdef TG_DOUBLE
static inline double act_sigmoid(double x)
{
    double e = exp(-fabs(x)); /* e^−|x| ≤ 1: no overflow */
    return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}
static inline double act_tanh(double x) { return tanh(x); }
#else
/* a if c, else b, by bits: a select that vectorises where a ?: would not
   (the compiler will not evaluate both sides of a conditional that may
   raise a floating-point exception) */
static inline float select_f(int c, float a, float b)
{
    union {
        float f;
        uint32_t u;
    } A = {a}, B = {b}, R;
    uint32_t m = 0u - (uint32_t)c;
    R.u = (A.u & m) | (B.u & ~m);
    return R.f;
}

/* eˣ for x ≤ 0 (NaN gives NaN):  x = n·ln 2 + r with n = round(x/ln 2) and
   |r| ≤ ln 2/2 (ln 2 split in two so that n·ln2_hi is exact), eʳ by its
   Taylor series to r⁷ (remainder below 5e-9), then times 2ⁿ built from the
   exponent bits in two halves so that results down to float's smallest
   denormal come out right. Below −104 the result is 0 in float anyway.
   exp_reduce gives r and n, exp_scale p·2ⁿ (x itself for a NaN). */
static inline float exp_reduce(float x, float *n_out)
{
    float v = select_f(x > -104.0f, x, -104.0f); /* NaN: −104, restored at the end */
    float n = (v * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* 1.5·2²³: rounds */
    *n_out = n;
    return (v - n * 0.693145751953125f) - n * 1.428606820309417232e-6f;
}
static inline float exp_scale(float x, float n, float p)
{
    int32_t k = (int32_t)n; /* in [−150, 0] */
    int32_t k1 = k >> 1, k2 = k - k1;
    union {
        uint32_t u;
        float f;
    } s1 = {.u = (uint32_t)(k1 + 127) << 23}, s2 = {.u = (uint32_t)(k2 + 127) << 23};
    return select_f(x == x, p * s1.f * s2.f, x);
}
static inline float exp_nonpos(float x)
{
    float n, r = exp_reduce(x, &n);
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    return exp_scale(x, n, p);
}

/* exp_nonpos with the same series summed in Estrin's order:
   1 + ((r + r²(½ + r/6)) + r⁴((1/24 + r/120) + r²(1/720 + r/5040))), four
   levels of operations after r instead of Horner's seven multiply-adds, at
   the cost of three more operations. For short rows, where the next op
   waits for the result (softmax over a few values); the vector loops keep
   Horner's fewer operations. 1.3 ulp at most over every seventh float in
   [−104, 0] (exp_nonpos: 1.2), against exp in double. */
static inline float exp_nonpos_short(float x)
{
    float n, r = exp_reduce(x, &n);
    float r2 = r * r, r4 = r2 * r2;
    float b = 0.5f + r * (1.0f / 6), c = 1.0f / 24 + r * (1.0f / 120),
          d = 1.0f / 720 + r * (1.0f / 5040);
    return exp_scale(x, n, 1.0f + ((r + r2 * b) + r4 * (c + r2 * d)));
}

/* σ(x) = 1/(1 + e^−|x|) for x ≥ 0, e^−|x|/(1 + e^−|x|) below: no overflow */
static inline float act_sigmoid(float x)
{
    float e = exp_nonpos(-fabsf(x)), s = 1 / (1 + e);
    return select_f(x >= 0, s, e * s);
}

/* tanh |x| = (1 − e^−2|x|)/(1 + e^−2|x|), and below |x| = 0.4, where that
   difference cancels, its odd Taylor series to x¹⁵ (the next term is under
   3e-10 of x there); the sign put back. */
static inline float act_tanh(float x)
{
    float a = fabsf(x), a2 = a * a;
    float p = (float)(-929569.0 / 638512875.0);
    p = p * a2 + 21844.0f / 6081075;
    p = p * a2 + -1382.0f / 155925;
    p = p * a2 + 62.0f / 2835;
    p = p * a2 + -17.0f / 315;
    p = p * a2 + 2.0f / 15;
    p = p * a2 + -1.0f / 3;
    float e = exp_nonpos(-2 * a);
    return copysignf(select_f(a < 0.4f, a + a * (a2 * p), (1 - e) / (1 + e)), x);
}
#endif

#endif
