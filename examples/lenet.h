/* lenet.h: the LeNet-style network of examples/mnist_cnn.c, in one header
   that the demo, its tests and its benchmark share (copy it with the demo).

     conv1  1→6, 5x5, padding 2   [N,1,28,28] → [N,6,28,28]
     (bn1   BatchNorm2d(6))       with --bn
     ReLU, max pool 2x2           → [N,6,14,14]
     conv2  6→16, 5x5             → [N,16,10,10]
     (bn2   BatchNorm2d(16))      with --bn
     ReLU, max pool 2x2           → [N,16,5,5], flattened to [N,400]
     fc1    400→120, ReLU, (dropout p)
     fc2    120→84,  ReLU, (dropout p)
     fc3    84→10                  logits

   The parameters carry the names of PyTorch's state dict for a module with
   the attributes conv1, bn1, conv2, bn2, fc1, fc2, fc3 in that order
   (tools/torch_mnist_cnn_reference.py defines it), and are initialised as
   PyTorch initialises nn.Conv2d and nn.Linear, so a saved file loads into
   PyTorch with load_state_dict(strict=True) and the other way round. */
#ifndef TG_EXAMPLE_LENET_H
#define TG_EXAMPLE_LENET_H

#include <tapegrad.h>

typedef struct lenet {
    tg_conv_layer conv1, conv2;
    tg_batchnorm bn1, bn2; /* with batch_norm only */
    tg_linear_layer fc1, fc2, fc3;
    tg_dropout_layer drop; /* p = 0: none */
    bool batch_norm;
} lenet;

/* Registers the layers in p, initialised from r (NULL: left at zero, to
   load weights), with batch norm after each convolution if asked and
   dropout of probability `dropout` after fc1 and fc2, its masks drawn
   from drop_rng (kept by the caller; NULL allowed when dropout is 0).
   TG_OK or an error status with tg_last_error. */
static inline int lenet_init(lenet *m, tg_params *p, bool batch_norm, double dropout, tg_rng *r,
                             tg_rng *drop_rng)
{
    const tg_conv_opts pad2 = {.padding = {2, 2}};
    int st;
    m->batch_norm = batch_norm;
    if ((st = tg_conv2d_layer_init(&m->conv1, p, "conv1", 1, 6, 5, 5, &pad2, true, r)) != TG_OK)
        return st;
    if (batch_norm && (st = tg_batchnorm2d_init(&m->bn1, p, "bn1", 6, NULL)) != TG_OK) return st;
    if ((st = tg_conv2d_layer_init(&m->conv2, p, "conv2", 6, 16, 5, 5, NULL, true, r)) != TG_OK)
        return st;
    if (batch_norm && (st = tg_batchnorm2d_init(&m->bn2, p, "bn2", 16, NULL)) != TG_OK) return st;
    if ((st = tg_linear_layer_init(&m->fc1, p, "fc1", 400, 120, true, r)) != TG_OK ||
        (st = tg_linear_layer_init(&m->fc2, p, "fc2", 120, 84, true, r)) != TG_OK ||
        (st = tg_linear_layer_init(&m->fc3, p, "fc3", 84, 10, true, r)) != TG_OK)
        return st;
    return tg_dropout_layer_init(&m->drop, p, dropout, drop_rng);
}

/* conv (→ batch norm) → ReLU → 2x2 max pool */
static inline tg_tensor *lenet_block(tg_tape *t, const tg_conv_layer *conv, const tg_batchnorm *bn,
                                     tg_tensor *x)
{
    const tg_pool_opts pool = tg_pool_defaults(2, 2);
    x = tg_conv_layer_forward(t, conv, x);
    if (bn) x = tg_batchnorm_forward(t, bn, x);
    return tg_max_pool2d(t, tg_relu(t, x), &pool);
}

/* Logits [N, 10] of images x [N, 784] (rows of 28x28 pixels) on tape t;
   batch norm and dropout follow the registry's training switch
   (tg_params_set_training). NULL on failure, with the tape's message. */
static inline tg_tensor *lenet_forward(tg_tape *t, const lenet *m, tg_tensor *x)
{
    if (!x) return NULL;
    const int64_t n = x->shape[0];
    x = tg_reshape(t, x, 4, (const int64_t[]){n, 1, 28, 28});
    x = lenet_block(t, &m->conv1, m->batch_norm ? &m->bn1 : NULL, x);
    x = lenet_block(t, &m->conv2, m->batch_norm ? &m->bn2 : NULL, x);
    x = tg_reshape(t, x, 2, (const int64_t[]){n, 400});
    x = tg_dropout_layer_forward(t, &m->drop, tg_relu(t, tg_linear_layer_forward(t, &m->fc1, x)));
    x = tg_dropout_layer_forward(t, &m->drop, tg_relu(t, tg_linear_layer_forward(t, &m->fc2, x)));
    return tg_linear_layer_forward(t, &m->fc3, x);
}

#endif
