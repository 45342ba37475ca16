/* xor: the smallest network that needs a hidden layer, trained with the tape.
   2 -> 8 (tanh) -> 1, mean squared error, plain gradient descent. */
#include <tapegrad.h>

#include <stdio.h>
#include <string.h>

static const char USAGE[] = "usage: xor\n"
                            "Trains 2 -> 8 (tanh) -> 1 on XOR and prints its four outputs.\n";

int main(int argc, char **argv)
{
    if (argc > 1) { /* no arguments but --help */
        bool help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");
        if (!help) fprintf(stderr, "xor: unknown option or argument '%s'\n", argv[1]);
        fputs(USAGE, help ? stdout : stderr);
        return help ? 0 : 2;
    }
    const tg_real xs[] = {0, 0, 0, 1, 1, 0, 1, 1}; /* [4, 2] */
    const tg_real ys[] = {0, 1, 1, 0};             /* [4, 1] */

    tg_params *p = tg_params_new();
    tg_tensor *W1 = tg_params_add(p, "fc1.weight", TG_SHAPE(8, 2));
    tg_tensor *b1 = tg_params_add(p, "fc1.bias", TG_SHAPE(8));
    tg_tensor *W2 = tg_params_add(p, "fc2.weight", TG_SHAPE(1, 8));
    tg_tensor *b2 = tg_params_add(p, "fc2.bias", TG_SHAPE(1));
    tg_tape *t = tg_tape_new();
    if (!p || !W1 || !b1 || !W2 || !b2 || !t) {
        fprintf(stderr, "xor: %s\n", tg_last_error());
        return 1;
    }
    /* small fixed starting weights: a deterministic pseudo-random sequence */
    unsigned s = 12345;
    tg_real *w = tg_params_data(p);
    for (size_t i = 0; i < tg_params_block_len(p); i++) {
        s = s * 1103515245u + 12345u;
        w[i] = (tg_real)((s >> 16) % 2001) / 1000 - 1; /* in [-1, 1] */
    }

    const tg_real lr = 0.2f;
    tg_real loss_value = 0;
    for (int step = 0; step <= 2000; step++) {
        tg_tensor *x = tg_tensor_new(t, TG_SHAPE(4, 2), xs);
        tg_tensor *y = tg_tensor_new(t, TG_SHAPE(4, 1), ys);
        tg_tensor *h = tg_tanh(t, tg_linear(t, x, W1, b1));
        tg_tensor *out = tg_linear(t, h, W2, b2);
        tg_tensor *loss = tg_mse_loss(t, out, y, TG_REDUCE_MEAN);
        if (!loss) {
            fprintf(stderr, "xor: %s\n", tg_tape_error(t));
            return 1;
        }
        tg_params_zero_grad(p);
        tg_backward(t, loss);
        /* gradient descent over the one contiguous block of parameters */
        tg_real *g = tg_params_grad(p);
        for (size_t i = 0; i < tg_params_block_len(p); i++) w[i] -= lr * g[i];
        loss_value = loss->data[0];
        if (step % 400 == 0) printf("step %4d  loss %.6f\n", step, (double)loss_value);
        if (step == 2000) {
            printf("\n x1 x2 | target | output\n");
            for (int i = 0; i < 4; i++)
                printf("  %g  %g |   %g    | %.4f\n", (double)xs[2 * i], (double)xs[2 * i + 1],
                       (double)ys[i], (double)out->data[i]);
        }
        tg_tape_reset(t);
    }
    tg_tape_free(t);
    tg_params_free(p);
    return loss_value < 0.01 ? 0 : 1;
}
