/* The exact product for the GEMM tests (test_gemm, test_threads): a plain
   triple loop in long double, and the error bound any summation order must
   stay within. */
#ifndef TG_TEST_GEMM_REF_H
#define TG_TEST_GEMM_REF_H

#include <stdbool.h>

#include <tapegrad.h>

/* R = alpha·op(A)·op(B) + beta·C0 and S = |alpha|·Σ|aₚbₚ| + |beta·c|, each
   [M, N] with row stride N (beta = 0 does not read C0). */
void gr_reference(bool ta, bool tb, int M, int N, int K, double alpha, const tg_real *A, int lda,
                  const tg_real *B, int ldb, double beta, const tg_real *C0, int ldc,
                  long double *R, long double *S);

/* The classic forward error bound of a K-term dot product in any summation
   order: |computed − exact| ≤ (K+2)·u·S, with u the unit roundoff of
   tg_real (the +2 covers the scalings by alpha and beta); never 0, so an
   error can be divided by it. */
double gr_bound(int K, long double S);

#endif
