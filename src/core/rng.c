/* tg_rng: a seeded, portable random number generator.

   - xoshiro256** (Blackman & Vigna, 2018) for the 64-bit stream, seeded by
     splitmix64 (Steele, Lea & Flood) from one 64-bit seed, as the authors
     recommend. Integer arithmetic only: the same stream on every machine.
   - uniform: the top 53 bits of a draw times 2⁻⁵³, exact in [0, 1).
   - normal: Marsaglia's polar method. It needs a logarithm, and libm's log
     may differ in the last bit between systems; so this file carries its
     own (portable_log below) built from +, −, ×, ÷ and frexp only, which
     IEEE-754 makes identical everywhere (the build uses ISO C, so no FMA
     contraction). sqrt is correctly rounded by IEEE-754 too. Result: the
     same doubles on every machine, and tests/gen_golden_train.py repeats
     them bit for bit in Python.
   Everything is computed in double and integers; the float build rounds the
   same values at the end, so both precisions agree to float precision. */
#include "core/internal.h"

/* ------------------------------------------------------------- the stream */

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* splitmix64: each call adds the golden-ratio constant and mixes. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void tg_rng_seed(tg_rng *r, uint64_t seed)
{
    if (!r) return;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    /* splitmix64 is a bijection of its counter, so the four words are never
       all zero (the one state xoshiro must avoid). */
    r->spare = 0;
    r->has_spare = 0;
}

/* xoshiro256**: result = rotl(s1·5, 7)·9, then the xor-shift state update. */
uint64_t tg_rng_next_u64(tg_rng *r)
{
    if (!r) return 0;
    uint64_t *s = r->s;
    /* all zero is xoshiro's one fixed point (it would give zeros forever):
       a never-seeded, zero-filled generator starts as if seeded with 0 */
    if ((s[0] | s[1] | s[2] | s[3]) == 0) tg_rng_seed(r, 0);
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double tg_rng_uniform(tg_rng *r)
{
    return (double)(tg_rng_next_u64(r) >> 11) * 0x1.0p-53;
}

/* Unbiased integer in [0, n): reject the first (2⁶⁴ mod n) values, which
   would otherwise make small results more likely. */
uint64_t tg_rng_below(tg_rng *r, uint64_t n)
{
    if (!r || n == 0) return 0;
    uint64_t threshold = (0 - n) % n; /* = 2⁶⁴ mod n */
    for (;;) {
        uint64_t x = tg_rng_next_u64(r);
        if (x >= threshold) return x % n;
    }
}

/* ------------------------------------------------------------- normal */

/* log(x) for finite x > 0, the same on every IEEE-754 machine.
   x = m·2ᵉ with m in [√½, √2); log m = 2·atanh(s) with s = (m−1)/(m+1),
   |s| ≤ 0.1716, and atanh(s) = s + s³/3 + s⁵/5 + ... ; the terms after
   s²⁵/25 are below 2⁻⁵⁶ of s, so 13 terms give a result within a few ulp. */
static double portable_log(double x)
{
    int e;
    double m = frexp(x, &e); /* exact: x = m·2ᵉ, m in [0.5, 1) */
    if (m < 0.70710678118654752440) {
        m *= 2; /* exact */
        e -= 1;
    }
    double s = (m - 1) / (m + 1);
    double s2 = s * s;
    double poly = 1.0 / 25;
    for (int k = 11; k >= 0; k--) poly = 1.0 / (2 * k + 1) + s2 * poly;
    return (double)e * 0.69314718055994530942 + 2 * s * poly;
}

/* Marsaglia's polar method: (u, v) uniform in the unit disc, s = u² + v²;
   then u·√(−2 ln s / s) and v·√(−2 ln s / s) are two independent N(0, 1)
   draws. The second is kept for the next call. */
double tg_rng_normal(tg_rng *r)
{
    if (!r) return 0;
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2 * tg_rng_uniform(r) - 1;
        v = 2 * tg_rng_uniform(r) - 1;
        s = u * u + v * v;
    } while (s >= 1 || s == 0);
    double f = sqrt(-2 * portable_log(s) / s);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

/* Fisher–Yates: for i = n−1 down to 1, swap idx[i] with idx[j], j uniform
   in [0, i]. Every permutation equally likely. */
void tg_rng_shuffle(tg_rng *r, int64_t *idx, int64_t n)
{
    if (!r || !idx) return;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)tg_rng_below(r, (uint64_t)i + 1);
        int64_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
}
