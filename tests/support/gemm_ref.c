#include "gemm_ref.h"

#include <math.h>

void gr_reference(bool ta, bool tb, int M, int N, int K, double alpha, const tg_real *A, int lda,
                  const tg_real *B, int ldb, double beta, const tg_real *C0, int ldc,
                  long double *R, long double *S)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            long double s = 0, sabs = 0;
            for (int p = 0; p < K; p++) {
                long double a = ta ? A[p * lda + i] : A[i * lda + p];
                long double b = tb ? B[j * ldb + p] : B[p * ldb + j];
                s += a * b;
                sabs += fabsl(a * b);
            }
            long double c = beta == 0 ? 0 : beta * (long double)C0[i * ldc + j];
            R[i * N + j] = alpha * s + c;
            S[i * N + j] = fabsl(alpha) * sabs + fabsl(c);
        }
}

double gr_bound(int K, long double S)
{
#ifdef TG_DOUBLE
    const double u = 0x1p-53;
#else
    const double u = 0x1p-24;
#endif
    return (K + 2) * u * (double)S + 1e-300;
}
