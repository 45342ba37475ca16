/* The GEMM micro-kernel, written once and compiled once per instruction set:
   src/gemm.c includes this file once per instruction set with the macros
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

   The tile: C[0..mr)[0..nr) = alpha·Σ_k a(i,k)·bp[k][j] + beta·C, where
     a(i,k) = a[i·a_rs + k·a_cs]          read in place, one scalar broadcast
                                          per row and k (no packing needed)
     bp[k][j] = bp[k·ldbp + j]            the panel, NV·VL wide: packed, or op(B)
                                          itself when its rows are contiguous
     C(i,j)   = c[i·c_rs + j·c_cs]        rows are vectors when c_cs = 1;
                                          otherwise the tile is stored transposed
   beta = 0 never reads C (it may hold NaN), as in BLAS. Rows past mr read
   row 0 again (always valid memory) and are never stored. */

static inline __attribute__((always_inline)) KTARGET void
KN(tile)(const int NV, int64_t kc, const tg_real *a, int64_t a_rs, int64_t a_cs, int mr,
         const tg_real *bp, int64_t ldbp, int nr, tg_real *c, int64_t c_rs, int64_t c_cs, tg_real alpha,
         tg_real beta)
{
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
            VEC b0 = V_LOAD(bp), b1 = V_LOAD(bp + ldbp);
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
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) b[v] = V_LOAD(bp + v * VL);
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
}

/* The kernel entry: nv vectors per row (1..NVMAX) picked from nr. */
static KTARGET void KN(ukernel)(int64_t kc, const tg_real *a, int64_t a_rs, int64_t a_cs, int mr,
                        const tg_real *bp, int64_t ldbp, int nr, tg_real *c, int64_t c_rs,
                        int64_t c_cs, tg_real alpha, tg_real beta)
{
    int nv = (nr + VL - 1) / VL;
    switch (nv) {
    case 1:
        KN(tile)(1, kc, a, a_rs, a_cs, mr, bp, ldbp, nr, c, c_rs, c_cs, alpha, beta);
        break;
#if NVMAX >= 2
    case 2:
        KN(tile)(2, kc, a, a_rs, a_cs, mr, bp, ldbp, nr, c, c_rs, c_cs, alpha, beta);
        break;
#endif
#if NVMAX >= 3
    case 3:
        KN(tile)(3, kc, a, a_rs, a_cs, mr, bp, ldbp, nr, c, c_rs, c_cs, alpha, beta);
        break;
#endif
#if NVMAX >= 4
    case 4:
        KN(tile)(4, kc, a, a_rs, a_cs, mr, bp, ldbp, nr, c, c_rs, c_cs, alpha, beta);
        break;
#endif
    default:
        break;
    }
}
