/* README.md's ```c blocks, each with the context it takes for granted
   (tests/docs/snippet.h says how this file is used). */
#include "snippet.h"

/* A first network: a whole program, built and run as it stands. */
SNIPPET_PROGRAM(first_network, "#include <tapegrad.h>")

/* Training on MNIST: compiled only (it reads data/mnist and trains an epoch). */
SNIPPET(mnist, "tg_dataset *train =")
static int mnist(void)
{
#include "readme/mnist.c"
    return 0;
}

/* The demo's loop with clipping, a schedule and a checkpoint: compiled only
   (its loss comes from a forward pass the block leaves out). */
SNIPPET(schedule, "tg_sched *s[2] =")
static int schedule(void)
{
    tg_params *p = tg_params_new();
    tg_optim *opt = tg_sgd_new(p, NULL);
    tg_tape *t = tg_tape_new();
    tg_tensor *loss = NULL;
    int64_t steps = 10, warmup = 2;
    bool resume = false;
#include "readme/schedule.c"
    return 0;
}

/* A LeNet-style CNN, on two made-up images. */
SNIPPET(lenet, "tg_conv_layer c1")
static int lenet(void)
{
    tg_params *p = tg_params_new();
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(2, 1, 28, 28));
    tg_init_normal(x, 0, 1, &rng);
#include "readme/lenet.c"
    EXPECT(logits && logits->ndim == 2 && logits->shape[0] == 2 && logits->shape[1] == 10);
    tg_tape_free(t);
    tg_params_free(p);
    return 0;
}

/* nn.Conv2d(6, 16, 3, stride=2, padding=1) */
SNIPPET(conv_opts, "tg_conv2d_layer_init(&c,")
static int conv_opts(void)
{
    tg_params *p = tg_params_new();
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_conv_layer c;
#include "readme/conv_opts.c"
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_conv_layer_forward(t, &c, tg_zeros(t, TG_SHAPE(1, 6, 9, 9)));
    EXPECT(y && y->ndim == 4 && y->shape[1] == 16 && y->shape[2] == 5 && y->shape[3] == 5);
    tg_tape_free(t);
    tg_params_free(p);
    return 0;
}

/* An LSTM language model, on made-up tokens. */
SNIPPET(lstm, "/* vocab:")
static int lstm(void)
{
    enum { N = 2, T = 3 };
    const int64_t vocab = 5;
    const int64_t ids[N * T] = {0, 1, 2, 3, 4, 0}, next[N * T] = {1, 2, 3, 4, 0, 1};
    tg_params *p = tg_params_new();
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_tape *t = tg_tape_new();
    tg_index *tokens = tg_index_new(t, TG_SHAPE(N, T), ids);
    tg_index *targets = tg_index_new(t, TG_SHAPE(N * T), next);
#include "readme/lstm.c"
    EXPECT(y && y->ndim == 3 && y->shape[0] == N && y->shape[1] == T && y->shape[2] == 256);
    EXPECT(loss && hn && cn && hn->ndim == 3 && hn->shape[2] == 256);
    tg_rnn_opts defaults = tg_rnn_defaults(); /* as the block's comment says */
    EXPECT(defaults.num_layers == 1 && defaults.bias && !defaults.batch_first);
    tg_tape_free(t);
    tg_params_free(p);
    return 0;
}

/* Derivatives of any order: d2 = −2 tanh(x) (1 − tanh²(x)) */
SNIPPET(grad_tanh, "tg_tensor *x =")
static int grad_tanh(void)
{
    tg_tape *t = tg_tape_new();
#include "readme/grad_tanh.c"
    EXPECT(dy && d2);
    for (int i = 0; i < 2; i++) {
        double th = tanh(x->data[i]);
        EXPECT_NEAR(dy->data[i], 1 - th * th, 1e-6);
        EXPECT_NEAR(d2->data[i], -2 * th * (1 - th * th), 1e-6);
    }
    tg_tape_free(t);
    return 0;
}

/* Checking gradients: my_loss at file scope, the check in a function. */
SNIPPET(gradcheck, "static tg_tensor *my_loss(", "tg_tensor *x =")
#include "readme/gradcheck.defs.c"
static int gradcheck(void)
{
    const tg_real xs[3] = {0.5f, -1, 2};
    tg_tape *t = tg_tape_new();
#include "readme/gradcheck.c"
    EXPECT(r.status == TG_OK && r.ok);
    tg_tape_free(t);
    return 0;
}

/* Record once, replay many: Σ (w·x)² over a buffer of new values each time */
static tg_tensor *w_param;
static tg_tensor *model(tg_tape *t, tg_tensor *x)
{
    return tg_sum(t, tg_square(t, tg_mul(t, w_param, x)), TG_ALL, false);
}
static void update(tg_real *xs, tg_params *p)
{
    for (int i = 0; i < 4; i++) xs[i] += 1;
    tg_params_data(p)[0] -= (tg_real)0.001 * tg_params_grad(p)[0];
}
SNIPPET(replay, "tg_tape_set_replayable(")
static int replay(void)
{
    enum { n = 4 };
    tg_real xs[n] = {1, 2, 3, 4};
    int iters = 3;
    tg_params *p = tg_params_new();
    w_param = tg_params_add(p, "w", TG_SHAPE(1));
    w_param->data[0] = 1;
    tg_tape *t = tg_tape_new();
#include "readme/replay.c"
    /* one more replay reads the new xs, {4, 5, 6, 7}, and w as updated */
    EXPECT(tg_tape_replay(t) == TG_OK);
    EXPECT_NEAR(loss->data[0], w_param->data[0] * w_param->data[0] * (16 + 25 + 36 + 49), 1e-6);
    tg_tape_free(t);
    tg_params_free(p);
    return 0;
}

/* Writing your own op: the op at file scope, its use in a function. */
SNIPPET(cube, "/* y = x³", "tg_tensor *y =")
#include "readme/cube.defs.c"
static int cube_op(void)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2), (tg_real[]){2, -1}), true);
#include "readme/cube.c"
    EXPECT(y && y->data[0] == 8 && y->data[1] == -1);
    EXPECT(tg_backward(t, tg_sum(t, y, TG_ALL, false)) == TG_OK);
    EXPECT(x->grad[0] == 12 && x->grad[1] == 3);
    /* tg_op_register(&cube) adds it to the registry by name, tg_op_find finds it */
    EXPECT(tg_op_register(&cube) == TG_OK && tg_op_find("cube"));
    EXPECT(tg_op_unregister("cube") == TG_OK);
    tg_tape_free(t);
    return 0;
}

int main(void)
{
    const doc_block blocks[] = {
        {"mnist", mnist, false},       {"schedule", schedule, false},
        {"lenet", lenet, true},        {"conv_opts", conv_opts, true},
        {"lstm", lstm, true},          {"grad_tanh", grad_tanh, true},
        {"gradcheck", gradcheck, true}, {"replay", replay, true},
        {"cube", cube_op, true},
    };
    return doc_run("README.md", blocks, sizeof blocks / sizeof *blocks);
}
