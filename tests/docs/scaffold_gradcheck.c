/* docs/gradcheck.md's ```c blocks, each with the context it takes for granted
   (tests/docs/snippet.h says how this file is used). */
#include "snippet.h"
#include "swish.h"

/* A first check: f at file scope, the check of x [2, 3] and W [3, 2]. */
SNIPPET(first_check, "/* f(x, W) =", "tg_tensor *in[2] =")
#include "gradcheck/first_check.defs.c"
static int first_check(void)
{
    const tg_real xs[6] = {0.5f, -1, 2, 0.25f, 1.5f, -0.75f};
    const tg_real ws[6] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f};
    tg_tape *t = tg_tape_new();
#include "gradcheck/first_check.c"
    EXPECT(r.status == TG_OK && r.ok && r.checked == 12);
    tg_tape_free(t);
    return 0;
}

/* Checking a whole network: 2 -> 3 (tanh) -> 1 on four samples. */
SNIPPET(network, "/* inputs:", "tg_tensor *in[6] =")
#include "gradcheck/network.defs.c"
static int network(void)
{
    tg_params *p = tg_params_new();
    tg_tensor *W1 = tg_params_add(p, "fc1.weight", TG_SHAPE(3, 2));
    tg_tensor *b1 = tg_params_add(p, "fc1.bias", TG_SHAPE(3));
    tg_tensor *W2 = tg_params_add(p, "fc2.weight", TG_SHAPE(1, 3));
    tg_tensor *b2 = tg_params_add(p, "fc2.bias", TG_SHAPE(1));
    tg_real *w = tg_params_data(p);
    for (size_t i = 0; i < tg_params_block_len(p); i++) w[i] = (tg_real)(0.1 * (i % 7) - 0.3);
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_new(t, TG_SHAPE(4, 2), (tg_real[]){0, 0, 0, 1, 1, 0, 1, 1});
    tg_tensor *y = tg_tensor_new(t, TG_SHAPE(4, 1), (tg_real[]){0, 1, 1, 0});
#include "gradcheck/network.c"
    EXPECT(r.status == TG_OK && r.ok && r.checked == 13); /* x and y are not checked */
    tg_tape_free(t);
    tg_params_free(p);
    return 0;
}

/* A custom op, registered by name: the op's shape and forward are in swish.h. */
SNIPPET(swish, "/* With s = σ(βx)", "tg_op_register(")
#include "gradcheck/swish.defs.c"
static tg_tensor *swish_loss(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    return tg_sum(t, tg_apply(t, tg_op_find("swish"), in, 2, NULL), TG_ALL, false);
}
static int swish(void)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *h = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3), (tg_real[]){-1, 0.5f, 2}), true);
    tg_tensor *beta = tg_requires_grad(tg_full(t, TG_SHAPE(1), 0.8f), true);
#include "gradcheck/swish.c"
    EXPECT(a && fabs(a->data[2] - 2 / (1 + exp(-1.6))) < 1e-6);
    tg_gradcheck_result r = tg_gradcheck(swish_loss, NULL, in, 2, NULL);
    EXPECT(r.status == TG_OK && r.ok);
    /* a shape refused: the tape's error names the op as registered */
    tg_tensor *two[2] = {h, tg_zeros(t, TG_SHAPE(2))};
    EXPECT(!tg_apply(t, swish, two, 2, NULL));
    EXPECT(!strcmp(tg_tape_error(t), "swish: beta must have one element"));
    EXPECT(tg_op_unregister("swish") == TG_OK);
    tg_tape_free(t);
    return 0;
}

/* Listing every op with its formula */
SNIPPET(list_ops, "for (")
static int list_ops(void)
{
#include "gradcheck/list_ops.c"
    return 0;
}

int main(void)
{
    const doc_block blocks[] = {
        {"first_check", first_check, true},
        {"network", network, true},
        {"swish", swish, true},
        {"list_ops", list_ops, true},
    };
    return doc_run("docs/gradcheck.md", blocks, sizeof blocks / sizeof *blocks);
}
