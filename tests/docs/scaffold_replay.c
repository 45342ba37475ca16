/* docs/replay.md's ```c block, with the context it takes for granted
   (tests/docs/snippet.h says how this file is used). */
#include "snippet.h"

/* A new batch in the same buffers: each step shifts the pixels and labels. */
static void next_batch(tg_real *batch, int64_t *labels)
{
    for (int i = 0; i < 64 * 784; i++) batch[i] = (tg_real)(0.001 * ((i * 7 + 3) % 1000));
    for (int i = 0; i < 64; i++) labels[i] = (labels[i] + 1) % 10;
}

/* Three SGD steps of a 784-10 model, each step replayed, checked against
   the same steps recorded anew on another tape. */
SNIPPET(replay, "tg_tape *t =")
static int replay(void)
{
    static tg_real batch[64 * 784];
    int64_t labels[64];
    for (int i = 0; i < 64; i++) labels[i] = i % 10;
    for (int i = 0; i < 64 * 784; i++) batch[i] = (tg_real)(0.001 * (i % 1000));
    const int steps = 3;
    tg_params *p = tg_params_new();
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_mlp net;
    EXPECT(tg_mlp_init(&net, p, "fc", TG_SHAPE(784, 10), NULL, &rng) == TG_OK);
    tg_optim *opt = tg_sgd_new(p, &(tg_sgd_opts){.lr = 0.1});
#include "replay/replay.c"
    /* the same three steps, each recorded: the same weights, bit for bit */
    tg_params *q = tg_params_new();
    tg_rng_seed(&rng, 0);
    tg_mlp net2;
    EXPECT(tg_mlp_init(&net2, q, "fc", TG_SHAPE(784, 10), NULL, &rng) == TG_OK);
    tg_optim *opt2 = tg_sgd_new(q, &(tg_sgd_opts){.lr = 0.1});
    tg_tape *t2 = tg_tape_new();
    for (int i = 0; i < 64; i++) labels[i] = i % 10;
    for (int i = 0; i < 64 * 784; i++) batch[i] = (tg_real)(0.001 * (i % 1000));
    for (int step = 0; step < steps; step++) {
        if (step > 0) next_batch(batch, labels);
        tg_tensor *x2 = tg_tensor_wrap(t2, TG_SHAPE(64, 784), batch);
        tg_optim_zero_grad(opt2);
        tg_tensor *logits = tg_mlp_forward(t2, &net2, x2);
        tg_backward(t2, tg_cross_entropy(t2, logits, labels, TG_REDUCE_MEAN));
        tg_optim_step(opt2);
        tg_tape_reset(t2);
    }
    EXPECT(tg_params_block_len(p) == tg_params_block_len(q));
    EXPECT(!memcmp(tg_params_data(p), tg_params_data(q), tg_params_block_len(p) * sizeof(tg_real)));
    tg_optim_free(opt2);
    tg_optim_free(opt);
    tg_tape_free(t2);
    tg_tape_free(t);
    tg_params_free(q);
    tg_params_free(p);
    return 0;
}

int main(void)
{
    const doc_block blocks[] = {{"replay", replay, true}};
    return doc_run("docs/replay.md", blocks, sizeof blocks / sizeof *blocks);
}
