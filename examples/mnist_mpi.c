/* Data-parallel training over MPI: an MLP 784-128-10 on MNIST, each
   process taking a shard of every batch.

     mpirun -np 2 build/examples/mnist_mpi                 one machine
     mpirun -np 4 --host a:2,b:2 build/examples/mnist_mpi  two machines (docs/training.md)

   Every process loads the data and shuffles it with the same seed, so all
   see the same batches; process r takes rows [a, a + n) of each batch
   (tg_dp_shard), back-propagates the mean loss of its rows, and
   tg_dp_allreduce_grad sums the gradient blocks of all processes in one
   MPI_Allreduce, weighted by n / batch: each then holds the gradient of
   the whole batch and takes the same step. Process 0 prints the epoch's
   loss, the test accuracy and the all-reduce's share of a step. */
#include <mpi.h>

#include <tapegrad.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TG_EXAMPLE_DATA_DIR
#define TG_EXAMPLE_DATA_DIR "data"
#endif

static void usage(FILE *f)
{
    fprintf(f, "usage: mnist_mpi [--epochs N] [--steps N] [--batch N] [--lr X] [--data DIR]\n"
               "  run under mpirun: mpirun -np 2 mnist_mpi\n"
               "  --epochs N   epochs (1)\n"
               "  --steps N    at most N steps an epoch (all)\n"
               "  --batch N    the batch of all processes together (64)\n"
               "  --lr X       SGD's learning rate, momentum 0.9 (0.05)\n"
               "  --data DIR   an MNIST directory (%s/mnist)\n",
            TG_EXAMPLE_DATA_DIR);
}

int main(int argc, char **argv)
{
    int epochs = 1;
    long max_steps = -1;
    int64_t batch = 64;
    double lr = 0.05;
    const char *dir = TG_EXAMPLE_DATA_DIR "/mnist";
    for (int i = 1; i < argc; i++) { /* before MPI_Init: --help needs no mpirun */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--epochs") && v) epochs = atoi(argv[++i]);
        else if (!strcmp(a, "--steps") && v) max_steps = atol(argv[++i]);
        else if (!strcmp(a, "--batch") && v) batch = atoll(argv[++i]);
        else if (!strcmp(a, "--lr") && v) lr = atof(argv[++i]);
        else if (!strcmp(a, "--data") && v) dir = argv[++i];
        else {
            fprintf(stderr, "mnist_mpi: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    MPI_Init(&argc, &argv);
    int rank, size, rc = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    tg_dataset *train = tg_mnist_load(dir, true), *test = rank == 0 ? tg_mnist_load(dir, false) : NULL;
    tg_params *p = tg_params_new();
    tg_mlp m;
    tg_rng r;
    tg_rng_seed(&r, 1);
    tg_batch_opts bo = tg_batch_defaults();
    bo.batch_size = batch;
    bo.seed = 42; /* the same on every process: the same batches */
    bo.mean = TG_MNIST_MEAN;
    bo.std = TG_MNIST_STD;
    tg_optim *opt = NULL;
    tg_tape *t = tg_tape_new();
    if (!train || (rank == 0 && !test) || !t ||
        tg_mlp_init(&m, p, "fc", 3, (const int64_t[]){784, 128, 10}, tg_relu, &r) != TG_OK ||
        tg_dataset_batching(train, &bo) != TG_OK ||
        !(opt = tg_sgd_new(p, &(tg_sgd_opts){.lr = lr, .momentum = 0.9})) ||
        tg_dp_broadcast_params(p, MPI_COMM_WORLD, 0) != TG_OK) {
        fprintf(stderr, "mnist_mpi (process %d): %s\n", rank, tg_last_error());
        goto done;
    }
    if (rank == 0)
        printf("tapegrad %s: %d processes, MLP 784-128-10, batch %lld (%lld a process), SGD lr %g\n",
               tg_version(), size, (long long)batch, (long long)(batch / size), lr);
    double t_reduce = 0, t_steps = 0;
    for (int epoch = 1; epoch <= epochs; epoch++) {
        double loss_sum = 0;
        long steps = 0;
        tg_batch b;
        while (tg_dataset_next(train, &b) && (max_steps < 0 || steps < max_steps)) {
            double t0 = MPI_Wtime();
            int64_t a, n;
            tg_dp_shard(b.n, rank, size, &a, &n);
            tg_tensor *x = tg_tensor_wrap(t, TG_SHAPE(n, b.features), b.x + a * b.features);
            tg_tensor *loss = tg_cross_entropy(t, tg_mlp_forward(t, &m, x), b.y + a, TG_REDUCE_MEAN);
            tg_optim_release_grad(opt);
            if (!loss || tg_backward(t, loss) != TG_OK) {
                fprintf(stderr, "mnist_mpi: %s\n", tg_tape_error(t));
                goto done;
            }
            double t1 = MPI_Wtime();
            int st = tg_dp_allreduce_grad(p, MPI_COMM_WORLD, (double)n / (double)b.n);
            double t2 = MPI_Wtime();
            if (st != TG_OK || tg_optim_step(opt) != TG_OK) {
                fprintf(stderr, "mnist_mpi: %s\n", tg_last_error());
                goto done;
            }
            t_reduce += t2 - t1;
            t_steps += MPI_Wtime() - t0;
            loss_sum += (double)loss->data[0] * (double)n / (double)b.n;
            steps++;
            tg_tape_reset(t);
        }
        tg_dataset_rewind(train);
        double total = 0;
        MPI_Reduce(&loss_sum, &total, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
        if (rank == 0) {
            /* accuracy on the test set, process 0 alone */
            tg_tape_set_recording(t, false);
            int64_t right = 0, seen = 0;
            while (tg_dataset_next(test, &b)) {
                tg_tensor *lg = tg_mlp_forward(t, &m, tg_tensor_wrap(t, TG_SHAPE(b.n, b.features), b.x));
                for (int64_t i = 0; lg && i < b.n; i++) {
                    int64_t best = 0;
                    for (int64_t k = 1; k < 10; k++)
                        if (lg->data[i * 10 + k] > lg->data[i * 10 + best]) best = k;
                    right += best == b.y[i];
                }
                seen += b.n;
                tg_tape_reset(t);
            }
            tg_tape_set_recording(t, true);
            printf("epoch %d: %ld steps, train loss %.4f, test accuracy %.2f%%, the all-reduce "
                   "%.1f%% of a step's time\n",
                   epoch, steps, total / (double)(steps ? steps : 1),
                   100.0 * (double)right / (double)(seen ? seen : 1),
                   100.0 * t_reduce / (t_steps > 0 ? t_steps : 1));
        }
    }
    rc = 0;
done:
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_params_free(p);
    tg_dataset_free(train);
    tg_dataset_free(test);
    MPI_Finalize();
    return rc;
}
