/* docs/ops.md's ```c blocks, each with the context it takes for granted
   (tests/docs/snippet.h says how this file is used). */
#include "snippet.h"

/* Reductions over several axes: x [2, 3, 4], w [5, 3, 4] */
SNIPPET(axes, "tg_tensor *s =")
static int axes(void)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_SHAPE(2, 3, 4));
    tg_tensor *w = tg_full(t, TG_SHAPE(5, 3, 4), 2);
#include "ops/axes.c"
    EXPECT(s && s->ndim == 1 && s->shape[0] == 3 && s->data[0] == 8);
    EXPECT(f && f->ndim == 1 && f->shape[0] == 5);
    EXPECT_NEAR(f->data[0], 2 * sqrt(12), 1e-6);
    EXPECT(v && v->ndim == 3 && v->shape[1] == 1 && v->data[0] == 0);
    tg_tape_free(t);
    return 0;
}

/* A classifier's step: 64 samples of 8 features, a hidden layer of 64,
   10 classes. */
SNIPPET(losses, "/* A classifier's step")
static int losses(void)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_params *p = tg_params_new();
    tg_tensor *W1 = tg_params_add(p, "fc1.weight", TG_SHAPE(64, 8));
    tg_tensor *b1 = tg_params_add(p, "fc1.bias", TG_SHAPE(64));
    tg_tensor *W2 = tg_params_add(p, "fc2.weight", TG_SHAPE(10, 64));
    tg_tensor *b2 = tg_params_add(p, "fc2.bias", TG_SHAPE(10));
    tg_init_linear_default(W1, b1, &rng);
    tg_init_linear_default(W2, b2, &rng);
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(64, 8));
    tg_init_normal(x, 0, 1, &rng);
    int64_t labels[64];
    tg_real t01[64 * 10];
    for (int i = 0; i < 64; i++) labels[i] = i % 10;
    for (int i = 0; i < 64 * 10; i++) t01[i] = (tg_real)(i % 3 == 0);
    tg_tensor *targets01 = tg_tensor_new(t, TG_SHAPE(64, 10), t01);
#include "ops/losses.c"
    EXPECT(loss && h && h->shape[1] == 64);
    EXPECT(tg_backward(t, tg_add(t, loss, tg_sum(t, h, TG_ALL, false))) == TG_OK);
    EXPECT(a->grad && a->grad[0] != 0);
    tg_tape_free(t);
    tg_params_free(p);
    return 0;
}

int main(void)
{
    const doc_block blocks[] = {
        {"axes", axes, true},
        {"losses", losses, true},
    };
    return doc_run("docs/ops.md", blocks, sizeof blocks / sizeof *blocks);
}
