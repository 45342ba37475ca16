/* docs/data.md's ```c blocks, each with the context it takes for granted
   (tests/docs/snippet.h says how this file is used). They run in a scratch
   directory where data/ is the repository's. */
#include "snippet.h"

/* IDX files: the bundled test labels. */
SNIPPET(idx, "tg_idx *x =")
static int idx(void)
{
#include "data/idx.c"
    return 0;
}

/* How much a loader reads */
SNIPPET(limit, "tg_io_set_max_bytes(")
static int limit(void)
{
#include "data/limit.c"
    EXPECT(now == TG_IO_DEFAULT_MAX_BYTES);
    EXPECT(tg_io_set_max_bytes((uint64_t)4 << 30) == TG_IO_DEFAULT_MAX_BYTES);
    EXPECT(tg_io_set_max_bytes(0) == (uint64_t)4 << 30);
    return 0;
}

/* Datasets and mini-batches: five epochs of the bundled digits through a
   784-10 model (the block's loop has no step). */
SNIPPET(batches, "tg_dataset *train =")
static int batches(void)
{
    tg_params *p = tg_params_new();
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_mlp m;
    EXPECT(tg_mlp_init(&m, p, "fc", TG_SHAPE(784, 10), NULL, &rng) == TG_OK);
    tg_optim *opt = tg_sgd_new(p, &(tg_sgd_opts){.lr = 0.001});
    tg_tape *t = tg_tape_new();
#include "data/batches.c"
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_params_free(p);
    return 0;
}

/* tg_dataset_subset: the digits 0 and 1 */
SNIPPET(subset, "int64_t *idx =")
static int subset(void)
{
    const uint8_t images[5] = {10, 20, 30, 40, 50}, labels[5] = {0, 3, 1, 1, 7};
    tg_dataset *d = tg_dataset_new(images, labels, 5, 1);
#include "data/subset.c"
    EXPECT(zeros_ones && tg_dataset_len(zeros_ones) == 3);
    EXPECT(tg_dataset_images(zeros_ones)[2] == 40);
    tg_dataset_free(zeros_ones);
    tg_dataset_free(d);
    return 0;
}

/* Images left in the file: compiled only (it wants an unpacked copy). */
SNIPPET(open_idx, "/* the images must be uncompressed")
static int open_idx(void)
{
    tg_batch_opts o = tg_batch_defaults();
#include "data/open_idx.c"
    tg_dataset_free(train);
    return 0;
}

/* Weights: safetensors, a round trip */
SNIPPET(safetensors, "tg_params_save(")
static int safetensors(void)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "fc1.weight", TG_SHAPE(2, 3));
    for (int i = 0; i < 6; i++) w->data[i] = (tg_real)i;
#include "data/safetensors.c"
    EXPECT(w->data[5] == 5);
    w->data[5] = 0;
    EXPECT(tg_params_load(p, "mlp.safetensors") == TG_OK && w->data[5] == 5);
    tg_params_free(p);
    return 0;
}

/* Tensor datasets: 10 samples of 13 features, a regression target each,
   and a linear model [n, 13] -> [n]. */
static tg_tensor *model_w;
static tg_tensor *model(tg_tape *t, tg_tensor *x)
{
    return tg_sum(t, tg_mul(t, x, model_w), 1, false);
}
SNIPPET(tensor_dataset, "tg_tensor_dataset *d =")
static int tensor_dataset(void)
{
    enum { n = 10 };
    tg_real x[n * 13], y[n];
    for (int i = 0; i < n * 13; i++) x[i] = (tg_real)i;
    for (int i = 0; i < n; i++) y[i] = (tg_real)i;
    tg_params *p = tg_params_new();
    model_w = tg_params_add(p, "w", TG_SHAPE(13));
    tg_optim *opt = tg_sgd_new(p, &(tg_sgd_opts){.lr = 1e-4});
    tg_tape *t = tg_tape_new();
#include "data/tensor_dataset.c"
    EXPECT(tg_tensor_dataset_len(train) == 8 && tg_tensor_dataset_len(val) == 2);
    EXPECT(tg_optim_steps(opt) == 1 && model_w->data[0] != 0); /* one batch of 8 */
    tg_optim_free(opt);
    tg_params_free(p);
    tg_tensor_dataset_free(train);
    tg_tensor_dataset_free(val);
    tg_tensor_dataset_free(d);
    tg_tape_free(t);
    return 0;
}

/* CSV files: two small files written here. */
SNIPPET(csv, "tg_csv_opts o =")
static int csv(void)
{
    FILE *f = fopen("iris.csv", "w");
    EXPECT(f);
    fputs("sepal,petal,width,length,species\n5.1,1.4,3.5,0.2,0\n7.0,4.7,3.2,1.4,1\n", f);
    fclose(f);
    f = fopen("data.csv", "w");
    EXPECT(f);
    fputs("a,b\n1,2\n3,4\n5,6\n", f);
    fclose(f);
#include "data/csv.c"
    EXPECT(d && tg_tensor_dataset_len(d) == 2 && tg_tensor_dataset_features(d) == 4);
    EXPECT(tg_tensor_dataset_classes(d) == 2);
    EXPECT(tab && tab->rows == 3 && tab->cols == 2 && tab->values[5] == 6);
    tg_tensor_dataset_free(d);
    tg_csv_free(tab);
    return 0;
}

int main(void)
{
    const doc_block blocks[] = {
        {"idx", idx, true},
        {"limit", limit, true},
        {"batches", batches, true},
        {"subset", subset, true},
        {"open_idx", open_idx, false},
        {"safetensors", safetensors, true},
        {"tensor_dataset", tensor_dataset, true},
        {"csv", csv, true},
    };
    return doc_run("docs/data.md", blocks, sizeof blocks / sizeof *blocks);
}
