/* The GEMM micro-kernel, written once and compiled once per instruction set:
   src/gemm/gemm.c includes this file once per instruction set with the macros
   below defined. Internal; not a public header.

   Required macros:
     KN(name)        name mangling for this instance (gemm_avx512_name, ...)
     KTARGET         the function attribute that enables the instruction set
                     (__attribute__((target("avx512f,fma"))), or nothing)
     VEC, VL         the vector type and its lanes of tg_real
     MR, NVMAX       rows of the register tile, most vectors per tile row
     V_ZERO()  V_LOAD(p)  V_BCAST(x)  V_FMA(a, b, c) = a·b + c  V_MUL  V_ADD
     V_STORE(p, v)   unaligned load/store of VL values
     V_LOADN(p, n)   V_STOREN(p, v, n)   the first n < VL lanes only
     V_HSUM(v)       the sum of v's lanes, in a fixed order
     DR, DC          the dot kernel's block: rows of A by rows of B

   The tile: C[0..mr)[0..nr) = alpha·Σ_k a(i,k)·bp[k][j] + beta·C, where
     a(i,k) = a[i·a_rs + k·a_cs]          read in place, one scalar broadcast
                                          per row and k (no packing needed)
     bp[k][j] = bp[k·ldbp + j]            the panel, NV·VL wide: packed, or op(B)
                                          itself when its rows are contiguous
     C(i,j)   = c[i·c_rs + j·c_cs]        rows are vectors when c_cs = 1;
                                          otherwise the tile is stored transposed
   beta = 0 never reads C (it may hold NaN), as in BLAS. Rows past mr read
   row 0 again (always valid memory) and are never stored.

   With ROWS (a constant at each call), row k of the panel is at
   bp + boff[k] instead: B given by where each of its rows starts, as a
   convolution reads its patches from an image (tg_gemm_rows). */

static inline __attribute__((always_inline)) KTARGET void
KN(tile)(const int NV, const bool ROWS, int64_t kc, const tg_real *a, int64_t a_rs, int64_t a_cs,
         int mr, const tg_real *bp, int64_t ldbp, const int64_t *boff, int nr, tg_real *c,
         int64_t c_rs, int64_t c_cs, tg_real alpha, tg_real beta)
{
    /* row k of the panel; bp moves on by ldbp a row when !ROWS */
#define TILE_ROW(k) (ROWS ? bp + boff[k] : bp)
    VEC acc[MR][NVMAX];
    const tg_real *ap[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        ap[i] = a + (i < mr ? i : 0) * a_rs;
#pragma GCC unroll 8
        for (int v = 0; v < NVMAX; v++) acc[i][v] = V_ZERO();
    }

    int64_t ka = 0, k = 0; /* ka = k·a_cs */
    if (NV == 1) {
        /* one vector per row leaves too few independent accumulators to
           hide the FMA latency: even and odd k go to two sets */
        VEC acc2[MR];
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) acc2[i] = V_ZERO();
        for (; k + 2 <= kc; k += 2, ka += 2 * a_cs, bp += 2 * ldbp) {
            VEC b0 = V_LOAD(TILE_ROW(k)), b1 = V_LOAD(ROWS ? bp + boff[k + 1] : bp + ldbp);
#pragma GCC unroll 16
            for (int i = 0; i < MR; i++) {
                acc[i][0] = V_FMA(V_BCAST(ap[i][ka]), b0, acc[i][0]);
                acc2[i] = V_FMA(V_BCAST(ap[i][ka + a_cs]), b1, acc2[i]);
            }
        }
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) acc[i][0] = V_ADD(acc[i][0], acc2[i]);
    }
#pragma GCC unroll 2
    for (; k < kc; k++, ka += a_cs, bp += ldbp) {
        VEC b[NVMAX];
        const tg_real *bk = TILE_ROW(k);
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) b[v] = V_LOAD(bk + v * VL);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            VEC x = V_BCAST(ap[i][ka]);
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) acc[i][v] = V_FMA(x, b[v], acc[i][v]);
        }
    }

    if (alpha != 1) {
        VEC al = V_BCAST(alpha);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) acc[i][v] = V_MUL(acc[i][v], al);
    }

    if (c_cs == 1) {
        VEC be = V_BCAST(beta);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            if (i >= mr) break;
            tg_real *ci = c + i * c_rs;
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) {
                int n = nr - v * VL;
                tg_real *p = ci + v * VL;
                if (n >= VL) {
                    VEC r = beta == 0 ? acc[i][v] : V_FMA(be, V_LOAD(p), acc[i][v]);
                    V_STORE(p, r);
                } else if (n > 0) {
                    VEC r = beta == 0 ? acc[i][v] : V_FMA(be, V_LOADN(p, n), acc[i][v]);
                    V_STOREN(p, r, n);
                }
            }
        }
        return;
    }

    /* transposed store: through a small buffer, walking C's contiguous axis */
    _Alignas(64) tg_real buf[MR][NVMAX * VL];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) V_STORE(&buf[i][v * VL], acc[i][v]);
    for (int j = 0; j < nr; j++) {
        tg_real *cj = c + j * c_cs;
        if (beta == 0)
            for (int i = 0; i < mr; i++) cj[i * c_rs] = buf[i][j];
        else
            for (int i = 0; i < mr; i++) cj[i * c_rs] = buf[i][j] + beta * cj[i * c_rs];
    }
#undef TILE_ROW
}

/* nv vectors per row (1..NVMAX) picked from nr */
static inline __attribute__((always_inline)) KTARGET void
KN(tiles)(const bool ROWS, int64_t kc, const tg_real *a, int64_t a_rs, int64_t a_cs, int mr,
          const tg_real *bp, int64_t ldbp, const int64_t *boff, int nr, tg_real *c, int64_t c_rs,
          int64_t c_cs, tg_real alpha, tg_real beta)
{
    switch ((nr + VL - 1) / VL) {
    case 1:
        KN(tile)(1, ROWS, kc, a, a_rs, a_cs, mr, bp, ldbp, boff, nr, c, c_rs, c_cs, alpha, beta);
        break;
#if NVMAX >= 2
    case 2:
        KN(tile)(2, ROWS, kc, a, a_rs, a_cs, mr, bp, ldbp, boff, nr, c, c_rs, c_cs, alpha, beta);
        break;
#endif
#if NVMAX >= 3
    case 3:
        KN(tile)(3, ROWS, kc, a, a_rs, a_cs, mr, bp, ldbp, boff, nr, c, c_rs, c_cs, alpha, beta);
        break;
#endif
#if NVMAX >= 4
    case 4:
        KN(tile)(4, ROWS, kc, a, a_rs, a_cs, mr, bp, ldbp, boff, nr, c, c_rs, c_cs, alpha, beta);
        break;
#endif
    default:
        break;
    }
}

/* The kernel entry */
static KTARGET void KN(ukernel)(int64_t kc, const tg_real *a, int64_t a_rs, int64_t a_cs, int mr,
                                const tg_real *bp, int64_t ldbp, int nr, tg_real *c, int64_t c_rs,
                                int64_t c_cs, tg_real alpha, tg_real beta)
{
    KN(tiles)(false, kc, a, a_rs, a_cs, mr, bp, ldbp, NULL, nr, c, c_rs, c_cs, alpha, beta);
}

/* The entry with row k of the panel at bp + boff[k] (tg_gemm_rows) */
static KTARGET void KN(ukernel_rows)(int64_t kc, const tg_real *a, int64_t a_rs, int64_t a_cs,
                                     int mr, const tg_real *bp, const int64_t *boff, int nr,
                                     tg_real *c, int64_t c_rs, int64_t c_cs, tg_real alpha,
                                     tg_real beta)
{
    KN(tiles)(true, kc, a, a_rs, a_cs, mr, bp, 0, boff, nr, c, c_rs, c_cs, alpha, beta);
}

/* The dot kernel, for a narrow C = alpha·A·Bᵀ + beta·C whose A and B both
   run along k (a layer with few outputs, such as the demo's last one, y =
   x·Wᵀ with 10 columns). The tile above broadcasts one element of A per
   FMA, and with a panel narrower than a vector most of its lanes are
   padding; here each C(i,j) is a dot product of two contiguous rows, VL
   lanes of partial sums along k, reduced at the end.

   A block: C[0..mr)[0..NC), rows of A a[i·lda + k], rows of B b[j·ldb + k].
   Rows past mr read row 0 again and are never stored. The tail of k is
   read with masked loads (zeros past K).

   k is taken in runs of DOT_KB: each run's lanes are summed and added to
   the product in double. A lane that ran over all of K summed K/VL terms
   in float: over K = 10⁶ values near 10⁴ the product was 2.6e-4 off
   (OpenBLAS 9e-6), now within a run's 128 or 256 terms. For K ≤ DOT_KB
   (the networks' layers) the bits are those of one run. */
#ifndef DOT_KB
#define DOT_KB 2048 /* a multiple of every VL */
#endif
static inline __attribute__((always_inline)) KTARGET void
KN(dot_block)(const int NC, int64_t K, const tg_real *a, int64_t lda, int mr, const tg_real *b,
              int64_t ldb, tg_real *c, int64_t c_rs, int64_t c_cs, tg_real alpha, tg_real beta)
{
    VEC acc[DR][DC];
    const tg_real *ap[DR];
    double tot[DR][DC];
#pragma GCC unroll 8
    for (int i = 0; i < DR; i++) {
        ap[i] = a + (i < mr ? i : 0) * lda;
#pragma GCC unroll 8
        for (int j = 0; j < DC; j++) tot[i][j] = 0;
    }
    int64_t k = 0;
    do { /* a run of k: [k, kend) */
        const int64_t kend = K - k > DOT_KB ? k + DOT_KB : K;
#pragma GCC unroll 8
        for (int i = 0; i < DR; i++)
#pragma GCC unroll 8
            for (int j = 0; j < DC; j++) acc[i][j] = V_ZERO();
        for (; k + VL <= kend; k += VL) {
            VEC bv[DC];
#pragma GCC unroll 8
            for (int j = 0; j < NC; j++) bv[j] = V_LOAD(b + j * ldb + k);
#pragma GCC unroll 8
            for (int i = 0; i < DR; i++) {
                VEC av = V_LOAD(ap[i] + k);
#pragma GCC unroll 8
                for (int j = 0; j < NC; j++) acc[i][j] = V_FMA(av, bv[j], acc[i][j]);
            }
        }
        if (k < kend) {
            int n = (int)(kend - k);
            VEC bv[DC];
#pragma GCC unroll 8
            for (int j = 0; j < NC; j++) bv[j] = V_LOADN(b + j * ldb + k, n);
#pragma GCC unroll 8
            for (int i = 0; i < DR; i++) {
                VEC av = V_LOADN(ap[i] + k, n);
#pragma GCC unroll 8
                for (int j = 0; j < NC; j++) acc[i][j] = V_FMA(av, bv[j], acc[i][j]);
            }
            k = kend;
        }
#pragma GCC unroll 8
        for (int i = 0; i < DR; i++)
#pragma GCC unroll 8
            for (int j = 0; j < NC; j++) tot[i][j] += (double)V_HSUM(acc[i][j]);
    } while (k < K);
#pragma GCC unroll 8
    for (int i = 0; i < DR; i++) {
        if (i >= mr) break;
#pragma GCC unroll 8
        for (int j = 0; j < NC; j++) {
            tg_real s = alpha * (tg_real)tot[i][j];
            tg_real *cij = c + i * c_rs + j * c_cs;
            *cij = beta == 0 ? s : s + beta * *cij;
        }
    }
}

/* The dot kernel's entry: all of C [M, N], in blocks of DR rows by DC
   columns (the last ones narrower). */
static KTARGET void KN(dot)(int64_t M, int64_t N, int64_t K, const tg_real *a, int64_t lda,
                            const tg_real *b, int64_t ldb, tg_real *c, int64_t c_rs, int64_t c_cs,
                            tg_real alpha, tg_real beta)
{
    for (int64_t i = 0; i < M; i += DR) {
        int mr = M - i < DR ? (int)(M - i) : DR;
        const tg_real *ai = a + i * lda;
        tg_real *ci = c + i * c_rs;
        int64_t j = 0;
        for (; j + DC <= N; j += DC)
            KN(dot_block)(DC, K, ai, lda, mr, b + j * ldb, ldb, ci + j * c_cs, c_rs, c_cs, alpha,
                          beta);
        switch (N - j) {
#define TG_DOT_CASE(n)                                                                        \
    case n:                                                                                   \
        KN(dot_block)(n, K, ai, lda, mr, b + j * ldb, ldb, ci + j * c_cs, c_rs, c_cs, alpha,  \
                      beta);                                                                  \
        break;
#if DC >= 2
            TG_DOT_CASE(1)
#endif
#if DC >= 3
            TG_DOT_CASE(2)
#endif
#if DC >= 4
            TG_DOT_CASE(3)
#endif
#if DC >= 5
            TG_DOT_CASE(4)
#endif
#undef TG_DOT_CASE
        default:
            break;
        }
    }
}
