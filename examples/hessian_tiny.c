/* hessian_tiny: the whole Hessian of a tiny network's loss, printed.

   The network is 2 → 3 (tanh) → 1 on the four XOR points, loss the mean
   squared error: 13 parameters θ (fc1.weight [3,2], fc1.bias [3],
   fc2.weight [1,3], fc2.bias [1]), so the Hessian ∂²L/∂θᵢ∂θⱼ is 13 × 13.
   tg_hessian gives it in blocks, one per pair of parameter tensors
   (H[i·n + j] has shape θᵢ.shape ++ θⱼ.shape); this program lays the blocks
   out as one matrix, checks that it is symmetric (the two mixed derivatives
   come from different backward passes), and finds its eigenvalues: a
   network's loss is not convex, and the negative ones say in which
   directions the loss curves down.

     ./hessian_tiny [--seed N]

   tests/tools/test_higher_examples.c compares the matrix and its
   eigenvalues with PyTorch's torch.autograd.functional.hessian. */
#include <tapegrad.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TINY_N_PARAMS 13 /* 3·2 + 3 + 1·3 + 1 */
#define TINY_SEED 3      /* of the weights, by default */

/* XOR: four points and their targets */
static const tg_real TINY_X[4 * 2] = {0, 0, 0, 1, 1, 0, 1, 1}; /* [4, 2] */
static const tg_real TINY_Y[4] = {0, 1, 1, 0};                 /* [4, 1] */

/* The network (nn.Linear's initialisation drawn from `seed`) in p. */
static int tiny_init(tg_mlp *m, tg_params *p, uint64_t seed)
{
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    return tg_mlp_init(m, p, "fc", TG_SHAPE(2, 3, 1), tg_tanh, &rng);
}

/* L(θ) = mean((net(x) − y)²) on the tape. */
static tg_tensor *tiny_loss(tg_tape *t, const tg_mlp *m)
{
    tg_tensor *x = tg_tensor_new(t, TG_SHAPE(4, 2), TINY_X);
    tg_tensor *y = tg_tensor_new(t, TG_SHAPE(4, 1), TINY_Y);
    return tg_mse_loss(t, tg_mlp_forward(t, m, x), y, TG_REDUCE_MEAN);
}

/* The Hessian of L at the parameters of p as one row-major matrix
   H[TINY_N_PARAMS][TINY_N_PARAMS], in the order of the parameters and of
   their elements; *loss gets L. Returns TG_OK or an error (message on t). */
static int tiny_hessian(tg_tape *t, const tg_mlp *m, const tg_params *p, double *H, double *loss)
{
    enum { NP = 4 }; /* parameter tensors */
    tg_tensor *theta[NP], *blocks[NP * NP];
    int64_t offset[NP + 1] = {0};
    if (tg_params_count(p) != NP) return TG_ERR_INVALID;
    for (int i = 0; i < NP; i++) {
        theta[i] = tg_params_at(p, (size_t)i);
        offset[i + 1] = offset[i] + theta[i]->size;
    }
    if (offset[NP] != TINY_N_PARAMS) return TG_ERR_INVALID;
    tg_tensor *L = tiny_loss(t, m);
    if (!L) return TG_ERR_INVALID;
    int st = tg_hessian(t, L, NP, theta, blocks, NULL);
    if (st != TG_OK) return st;
    *loss = (double)L->data[0];
    /* block (i, j) is [size_i, size_j] read row-major: its element (a, b) is
       ∂²L / ∂θᵢ[a] ∂θⱼ[b], which goes to row offset[i] + a, column offset[j] + b */
    for (int i = 0; i < NP; i++)
        for (int j = 0; j < NP; j++)
            for (int64_t a = 0; a < theta[i]->size; a++)
                for (int64_t b = 0; b < theta[j]->size; b++)
                    H[(offset[i] + a) * TINY_N_PARAMS + offset[j] + b] =
                        (double)blocks[i * NP + j]->data[a * theta[j]->size + b];
    return TG_OK;
}

/* The eigenvalues of the symmetric n × n matrix A (row-major, destroyed), in
   ascending order, by the cyclic Jacobi method: each rotation zeroes one
   off-diagonal pair; sweeps repeat until what is left off the diagonal is
   negligible (quadratic convergence: a handful of sweeps). */
static void tiny_eigenvalues(double *A, int n, double *eig)
{
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                if (i == j) diag += A[i * n + i] * A[i * n + i];
                else off += A[i * n + j] * A[i * n + j];
            }
        if (off <= 1e-30 * diag) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = A[p * n + q];
                if (apq == 0) continue;
                /* the rotation by θ with cot 2θ = (a_qq − a_pp) / 2a_pq, tan θ = t */
                double tau = (A[q * n + q] - A[p * n + p]) / (2 * apq);
                double t = (tau >= 0 ? 1 : -1) / (fabs(tau) + sqrt(1 + tau * tau));
                double c = 1 / sqrt(1 + t * t), s = t * c;
                for (int k = 0; k < n; k++) { /* columns p and q */
                    double akp = A[k * n + p], akq = A[k * n + q];
                    A[k * n + p] = c * akp - s * akq;
                    A[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) { /* rows p and q */
                    double apk = A[p * n + k], aqk = A[q * n + k];
                    A[p * n + k] = c * apk - s * aqk;
                    A[q * n + k] = s * apk + c * aqk;
                }
            }
    }
    for (int i = 0; i < n; i++) eig[i] = A[i * n + i];
    for (int i = 1; i < n; i++) /* insertion sort */
        for (int j = i; j > 0 && eig[j] < eig[j - 1]; j--) {
            double tmp = eig[j];
            eig[j] = eig[j - 1];
            eig[j - 1] = tmp;
        }
}

#ifndef TG_EXAMPLE_NO_MAIN /* tests/tools/test_higher_examples.c includes the code above */

static const char USAGE[] = "usage: hessian_tiny [--seed N]\n"
                            "Prints the 13 x 13 Hessian of the loss of a 2-3-1 tanh network on\n"
                            "XOR (tg_hessian), its symmetry and its eigenvalues. --seed: of the\n"
                            "initial weights (default 3).\n";

int main(int argc, char **argv)
{
    uint64_t seed = TINY_SEED;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            errno = 0;
            seed = strtoull(argv[++i], &end, 10);
            if (errno || *end || argv[i][0] == '-') {
                fprintf(stderr, "hessian_tiny: --seed needs a number >= 0, not '%s'\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "hessian_tiny: unknown option or argument '%s'\n", argv[i]);
            fputs(USAGE, stderr);
            return 2;
        }
    }
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_mlp m;
    if (!p || !t || tiny_init(&m, p, seed) != TG_OK) {
        fprintf(stderr, "hessian_tiny: %s\n", tg_last_error());
        return 1;
    }
    static double H[TINY_N_PARAMS * TINY_N_PARAMS], A[TINY_N_PARAMS * TINY_N_PARAMS];
    double loss = 0, eig[TINY_N_PARAMS];
    if (tiny_hessian(t, &m, p, H, &loss) != TG_OK) {
        fprintf(stderr, "hessian_tiny: %s\n", tg_tape_error(t));
        return 1;
    }
    printf("2 -> 3 (tanh) -> 1 on XOR, mean squared error, weights from seed %llu (%s)\n",
           (unsigned long long)seed, tg_real_name());
    printf("L = %.6f; the Hessian d2L/dtheta_i dtheta_j by tg_hessian, 13 x 13:\n\n", loss);
    static const char *const names[TINY_N_PARAMS] = {
        "W1[0,0]", "W1[0,1]", "W1[1,0]", "W1[1,1]", "W1[2,0]", "W1[2,1]", "b1[0]",
        "b1[1]",   "b1[2]",   "W2[0,0]", "W2[0,1]", "W2[0,2]", "b2[0]"};
    printf("%8s", "");
    for (int j = 0; j < TINY_N_PARAMS; j++) printf("%8.7s", names[j]);
    printf("\n");
    double asym = 0, scale = 0;
    for (int i = 0; i < TINY_N_PARAMS; i++) {
        printf("%-8s", names[i]);
        for (int j = 0; j < TINY_N_PARAMS; j++) {
            double h = H[i * TINY_N_PARAMS + j];
            printf("%8.4f", h);
            asym = fmax(asym, fabs(h - H[j * TINY_N_PARAMS + i]));
            scale = fmax(scale, fabs(h));
        }
        printf("\n");
    }
    printf("\nsymmetric: max |H_ij - H_ji| = %.3g (largest |H_ij| = %.3g)\n", asym, scale);
    memcpy(A, H, sizeof A);
    tiny_eigenvalues(A, TINY_N_PARAMS, eig);
    int negative = 0;
    printf("eigenvalues:");
    for (int i = 0; i < TINY_N_PARAMS; i++) {
        printf(" %.4g", eig[i]);
        negative += eig[i] < -1e-6 * scale;
    }
    printf("\n%d negative: %s\n", negative,
           negative ? "the loss curves down along some directions (it is not convex)"
                    : "the loss is locally convex here");
    tg_tape_free(t);
    tg_params_free(p);
    return 0;
}
#endif
