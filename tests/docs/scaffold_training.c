/* docs/training.md's ```c blocks, each with the context it takes for granted
   (tests/docs/snippet.h says how this file is used). */
#ifdef TG_DOCS_HAVE_MPI
#include <mpi.h> /* before tapegrad.h, as the block says */
#endif
#include "snippet.h"

/* A complete training loop: two steps on one made-up batch. */
SNIPPET(loop, "#include <tapegrad.h>")
static int loop(void)
{
    static tg_real batch_x[64 * 784];
    int64_t batch_y[64];
    for (int i = 0; i < 64 * 784; i++) batch_x[i] = (tg_real)((i % 17) / 17.0);
    for (int i = 0; i < 64; i++) batch_y[i] = i % 10;
    const int steps = 2;
#include "training/loop.c"
    return 0;
}

/* Layers */
SNIPPET(linear_layer, "tg_linear_layer fc1")
static int linear_layer(void)
{
    tg_params *p = tg_params_new();
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(3, 784));
#include "training/linear_layer.c"
    EXPECT(h && h->shape[0] == 3 && h->shape[1] == 500);
    EXPECT(fc1.weight->shape[0] == 500 && fc1.weight->shape[1] == 784 && fc1.bias->size == 500);
    EXPECT(!strcmp(fc1.weight->name, "fc1.weight"));
    tg_tape_free(t);
    tg_params_free(p);
    return 0;
}

/* The random number generator */
SNIPPET(rng, "tg_rng r;")
static int rng(void)
{
#include "training/rng.c"
    EXPECT(bits != 0 && u >= 0 && u < 1 && isfinite(z) && k < 10);
    int64_t sum = 0;
    for (int i = 0; i < 100; i++) sum += idx[i];
    EXPECT(sum == 4950);
    return 0;
}

/* Optimizers */
SNIPPET(optimizers, "tg_optim *sgd")
static int optimizers(void)
{
    tg_params *p = tg_params_new();
    tg_params_add(p, "w", TG_SHAPE(3));
#include "training/optimizers.c"
    EXPECT(sgd && adam && adamw);
    EXPECT(tg_optim_get_lr(adamw) == 1e-3 && tg_optim_get_group_weight_decay(adamw, 0) == 1e-2);
    tg_optim_free(sgd);
    tg_optim_free(adam);
    tg_optim_free(adamw);
    tg_params_free(p);
    return 0;
}

/* A loop with clipping, a schedule and checkpoints: a 4-3 classifier on
   ten samples, five steps. */
SNIPPET(schedule, "tg_optim *opt =")
static int schedule(void)
{
    tg_real xs[10 * 4];
    int64_t ys[10];
    for (int i = 0; i < 40; i++) xs[i] = (tg_real)((i * 37 % 11) / 11.0);
    for (int i = 0; i < 10; i++) ys[i] = i % 3;
    tg_tensor_dataset *train = tg_tensor_dataset_new(
        &(tg_tensor_data){.n = 10, .x = xs, .x_ndim = 1, .x_shape = {4}, .labels = ys});
    EXPECT(tg_tensor_dataset_batching(train, &(tg_batch_opts){.batch_size = 4, .std = 1}) == TG_OK);
    tg_params *p = tg_params_new();
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_mlp net;
    EXPECT(tg_mlp_init(&net, p, "fc", TG_SHAPE(4, 3), NULL, &rng) == TG_OK);
    tg_tape *t = tg_tape_new();
    const int64_t steps = 5, warmup = 2;
    const bool resume = false;
#include "training/schedule.c"
    EXPECT(tg_optim_steps(opt) == steps && tg_optim_num_groups(opt) == 2);
    tg_sched_free(sched);
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_params_free(p);
    tg_tensor_dataset_free(train);
    return 0;
}

/* Parameter groups: the bias alone in group 0 */
SNIPPET(groups, "tg_param_group g =")
static int groups(void)
{
    tg_params *p = tg_params_new();
    tg_linear_layer fc;
    EXPECT(tg_linear_layer_init(&fc, p, "fc", 3, 2, true, NULL) == TG_OK);
    tg_optim *opt = tg_adamw_new(p, NULL);
#include "training/groups.c"
    EXPECT(tg_optim_num_groups(opt) == 2 && tg_optim_param_group(opt, 1) == 0);
    EXPECT(tg_optim_get_group_weight_decay(opt, 0) == 0);
    EXPECT(tg_optim_get_group_weight_decay(opt, 1) == 1e-2);
    tg_optim_free(opt);
    tg_params_free(p);
    return 0;
}

/* Checkpoints: saved and loaded back, every part */
SNIPPET(checkpoint, "tg_checkpoint ck =")
static int checkpoint(void)
{
    tg_real xs[6] = {1, 2, 3, 4, 5, 6};
    tg_tensor_dataset *train = tg_tensor_dataset_new(
        &(tg_tensor_data){.n = 6, .x = xs, .x_ndim = 1, .x_shape = {1}});
    EXPECT(tg_tensor_dataset_batching(train, NULL) == TG_OK);
    tg_params *p = tg_params_new();
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_linear_layer fc;
    EXPECT(tg_linear_layer_init(&fc, p, "fc", 1, 1, true, &rng) == TG_OK);
    tg_optim *opt = tg_adam_new(p, NULL);
    tg_sched *sched = tg_sched_step_lr(opt, 10, 0.5);
    int status = TG_OK;
#include "training/checkpoint.c"
    EXPECT(status == TG_OK);
    EXPECT(tg_checkpoint_load(&ck, "run.ckpt") == TG_OK);
    tg_sched_free(sched);
    tg_optim_free(opt);
    tg_params_free(p);
    tg_tensor_dataset_free(train);
    return 0;
}

/* Small networks in fewer lines: a Sequential's state dict, written here */
SNIPPET(sequential, "tg_mlp net;")
static int sequential(void)
{
    tg_params *saved = tg_params_new();
    tg_params_add(saved, "0.weight", TG_SHAPE(64, 4));
    tg_params_add(saved, "0.bias", TG_SHAPE(64));
    tg_params_add(saved, "2.weight", TG_SHAPE(64, 64));
    tg_params_add(saved, "2.bias", TG_SHAPE(64));
    tg_params_add(saved, "4.weight", TG_SHAPE(3, 64));
    tg_params_add(saved, "4.bias", TG_SHAPE(3));
    tg_params_data(saved)[0] = 0.5f;
    EXPECT(tg_params_save(saved, "sequential.safetensors", TG_F32) == TG_OK);
    tg_params_free(saved);
    tg_params *p = tg_params_new();
    tg_rng rng;
    tg_rng_seed(&rng, 0);
#include "training/sequential.c"
    EXPECT(net.n_layers == 3 && net.layers[0].weight->data[0] == 0.5f);
    EXPECT(net.acts[0].kind == TG_ACT_LEAKY_RELU && net.acts[1].kind == TG_ACT_GELU_TANH);
    tg_params_free(p);
    return 0;
}

/* Training across processes: compiled where MPI is, never run here (it
   wants mpirun). */
SNIPPET(mpi, "#include <mpi.h>")
#ifdef TG_DOCS_HAVE_MPI
static int mpi(void)
{
    int argc = 0;
    char **argv = NULL;
    tg_params *p = tg_params_new();
    tg_dataset *train = tg_mnist_load("data/mnist", true);
    tg_batch b;
    int rank = 0, size = 1;
    tg_mlp m;
    tg_mlp_init(&m, p, "fc", TG_SHAPE(784, 10), NULL, NULL);
    tg_optim *opt = tg_sgd_new(p, NULL);
    tg_tape *t = tg_tape_new();
#include "training/mpi.c"
    return 0;
}
#endif

int main(void)
{
    const doc_block blocks[] = {
        {"loop", loop, true},
        {"linear_layer", linear_layer, true},
        {"rng", rng, true},
        {"optimizers", optimizers, true},
        {"schedule", schedule, true},
        {"groups", groups, true},
        {"checkpoint", checkpoint, true},
        {"sequential", sequential, true},
#ifdef TG_DOCS_HAVE_MPI
        {"mpi", mpi, false},
#endif
    };
    return doc_run("docs/training.md", blocks, sizeof blocks / sizeof *blocks);
}
