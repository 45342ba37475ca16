/* Data-parallel training over MPI against one process on the whole batch.

   Run by ctest as `mpirun -np 2 dp_allreduce` (any number of processes
   works). Every process builds the same MLP 5-7-3 (tanh, MSE), takes its
   shard of every batch of B = 16 (tg_dp_shard), computes the gradient of
   its shard's mean loss, and tg_dp_allreduce_grad sums the gradient
   blocks, each weighted by its shard's share; then every process takes
   the same plain SGD step. Checked at each of K steps:
   - the weights are equal, to the bit, on every process (MPI_MAX and
     MPI_MIN of each weight over the processes agree);
   - they are within a derived tolerance of one process's step on the
     whole batch from the same weights (rank 0 computes it);
   and, at the end, that tg_dp_broadcast_buffers gives every process rank
   0's buffers.
   The tolerance, per weight: both gradients approximate the exact
   G = (1/B)·Σᵢ gᵢ (gᵢ the exact gradient of sample i's loss); each is
   that sum computed in another order (and through products of another
   shape), each rounding error bounded as for any sum of the same terms:
   |ĝ − G| ≤ γ_m·S/B, S = Σᵢ|gᵢ| (measured: rank 0 back-propagates each
   sample alone and sums |gᵢ| in double), γ_m = m·u/(1 − m·u) with u the
   unit roundoff of tg_real and m the longest chain of roundings behind a
   gradient: the B terms of the batch sum, the 5 + 7 + 3 of the products
   of the forward and backward passes, and 16 for the element-wise ops.
   So |g_dp − g_ref| ≤ 2γ_m·S/B, and the updates w − lr·g, each rounded
   once, differ by at most lr·2γ_m·S/B + 2u·(|w| + lr·|g|) (one half-ulp
   per rounding, twice to be safe for the product lr·g). Exits 0 if every
   check passes. */
#include <mpi.h>

#include <tapegrad.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 16, IN = 5, HID = 7, OUT = 3, K = 6 };
static const double LR = 0.1;

static tg_real X[B * IN], Y[B * OUT];

static void make_data(void)
{
    for (int i = 0; i < B; i++) {
        for (int k = 0; k < IN; k++) X[i * IN + k] = (tg_real)sin(1.3 * i + 0.7 * k);
        for (int k = 0; k < OUT; k++) Y[i * OUT + k] = (tg_real)cos(0.9 * i - 0.4 * k);
    }
}

/* Adds the gradient of the mean MSE over samples [a, a + n) to p's. */
static int backward_rows(tg_tape *t, const tg_mlp *net, int a, int n)
{
    tg_tensor *x = tg_tensor_wrap(t, 2, (const int64_t[]){n, IN}, X + a * IN);
    tg_tensor *y = tg_tensor_wrap(t, 2, (const int64_t[]){n, OUT}, Y + a * OUT);
    tg_tensor *loss = tg_mse_loss(t, tg_mlp_forward(t, net, x), y, TG_REDUCE_MEAN);
    int st = loss ? tg_backward(t, loss) : TG_ERR_INVALID;
    if (st != TG_OK) fprintf(stderr, "dp_allreduce: %s\n", tg_tape_error(t));
    tg_tape_reset(t);
    return st;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    make_data();
    const MPI_Datatype real = sizeof(tg_real) == 4 ? MPI_FLOAT : MPI_DOUBLE;
    const double u = sizeof(tg_real) == 4 ? ldexp(1, -24) : ldexp(1, -53);
    const int m = B + IN + HID + OUT + 16;
    const double gamma = m * u / (1 - m * u);

    tg_params *p = tg_params_new(), *ref = tg_params_new();
    tg_mlp net, rnet;
    tg_rng r;
    tg_rng_seed(&r, 7 + (uint64_t)rank); /* different: the broadcast must make them equal */
    const int64_t sizes[3] = {IN, HID, OUT};
    int ok = tg_mlp_init(&net, p, "fc", 3, sizes, tg_tanh, &r) == TG_OK &&
             tg_mlp_init(&rnet, ref, "fc", 3, sizes, tg_tanh, NULL) == TG_OK;
    tg_optim *o = tg_sgd_new(p, &(tg_sgd_opts){.lr = LR});
    tg_optim *ro = tg_sgd_new(ref, &(tg_sgd_opts){.lr = LR});
    tg_tape *t = tg_tape_new();
    ok = ok && o && ro && t && tg_dp_broadcast_params(p, MPI_COMM_WORLD, 0) == TG_OK;
    size_t len = tg_params_block_len(p);
    tg_real *lo = malloc(len * sizeof *lo), *hi = malloc(len * sizeof *hi);
    double *S = malloc(len * sizeof *S), worst = 0;
    int checks = 0, failures = 0;
    int64_t a, n;
    ok = ok && lo && hi && S && tg_dp_shard(B, rank, size, &a, &n) == TG_OK;

    for (int step = 0; ok && step < K; step++) {
        if (rank == 0) {
            /* the reference: the whole batch from the same weights; and S */
            memcpy(tg_params_data(ref), tg_params_data(p), len * sizeof(tg_real));
            for (size_t i = 0; i < len; i++) S[i] = 0;
            for (int i = 0; i < B; i++) {
                tg_optim_zero_grad(ro);
                ok = ok && backward_rows(t, &rnet, i, 1) == TG_OK;
                const tg_real *g = tg_params_grad(ref);
                for (size_t k = 0; k < len; k++) S[k] += fabs((double)g[k]);
            }
            tg_optim_zero_grad(ro);
            ok = ok && backward_rows(t, &rnet, 0, B) == TG_OK;
        }
        tg_optim_release_grad(o);
        ok = ok && backward_rows(t, &net, (int)a, (int)n) == TG_OK &&
             tg_dp_allreduce_grad(p, MPI_COMM_WORLD, (double)n / B) == TG_OK &&
             tg_optim_step(o) == TG_OK;
        const tg_real *w = tg_params_data(p);
        MPI_Allreduce(w, lo, (int)len, real, MPI_MIN, MPI_COMM_WORLD);
        MPI_Allreduce(w, hi, (int)len, real, MPI_MAX, MPI_COMM_WORLD);
        if (memcmp(lo, hi, len * sizeof *lo) != 0) {
            failures++;
            if (rank == 0) fprintf(stderr, "step %d: the processes' weights differ\n", step);
        }
        if (rank == 0) {
            const tg_real *g = tg_params_grad(ref);
            const tg_real *w0 = tg_params_data(ref); /* W_t, before its step */
            tg_real *wt = malloc(len * sizeof *wt);
            memcpy(wt, w0, len * sizeof *wt);
            ok = ok && wt && tg_optim_step(ro) == TG_OK;
            const tg_real *wref = tg_params_data(ref);
            for (size_t k = 0; ok && k < len; k++) {
                double tol = LR * 2 * gamma * S[k] / B +
                             2 * u * (fabs((double)wt[k]) + LR * fabs((double)g[k]));
                double d = fabs((double)w[k] - (double)wref[k]);
                checks++;
                if (tol > 0 && d / tol > worst) worst = d / tol;
                if (d > tol) {
                    failures++;
                    if (failures < 10)
                        fprintf(stderr, "step %d, weight %zu: %.9g, one process %.9g, |diff| %.3g "
                                "> tolerance %.3g\n", step, k, (double)w[k], (double)wref[k], d,
                                tol);
                }
            }
            free(wt);
        }
    }
    /* buffers (a batch norm's running statistics) made different on each
       process, then rank 0's everywhere after tg_dp_broadcast_buffers */
    tg_tensor *rm = tg_params_add_buffer(p, "bn.running_mean", 1, (const int64_t[]){4});
    tg_tensor *nb = tg_params_add_int_buffer(p, "bn.num_batches_tracked", 0, NULL);
    ok = ok && rm && nb;
    for (int i = 0; ok && i < 4; i++) rm->data[i] = (tg_real)(rank * 10 + i);
    if (ok) nb->data[0] = (tg_real)(rank + 3);
    ok = ok && tg_dp_broadcast_buffers(p, MPI_COMM_WORLD, 0) == TG_OK;
    for (int i = 0; ok && i < 4; i++)
        if (rm->data[i] != (tg_real)i) {
            failures++;
            fprintf(stderr, "rank %d: running_mean[%d] = %g after the broadcast, rank 0 has %d\n",
                    rank, i, (double)rm->data[i], i);
        }
    if (ok && nb->data[0] != 3) {
        failures++;
        fprintf(stderr, "rank %d: num_batches_tracked %g after the broadcast, rank 0 has 3\n",
                rank, (double)nb->data[0]);
    }
    int result[2] = {ok ? 0 : 1, failures}, all[2];
    MPI_Allreduce(result, all, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0) {
        if (all[0]) fprintf(stderr, "dp_allreduce: a call failed: %s\n", tg_last_error());
        printf("dp_allreduce (%s, %d processes): %d weight checks against one process, worst "
               "|diff|/tolerance %.3g; %d failed\n", tg_real_name(), size, checks, worst,
               all[1]);
    }
    free(lo);
    free(hi);
    free(S);
    tg_tape_free(t);
    tg_optim_free(o);
    tg_optim_free(ro);
    tg_params_free(p);
    tg_params_free(ref);
    MPI_Finalize();
    return all[0] || all[1] ? 1 : 0;
}
