/* A small CNN between PyTorch and tapegrad's layers (tests/gen_golden_cnn.py
   writes the PyTorch side): conv1 = Conv2d(2, 4, 3, padding=1), bn1 =
   BatchNorm2d(4), relu, max_pool2d(2), fc = Linear(36, 5).

   PyTorch -> tapegrad: the state_dict PyTorch saved (parameters, bn1's
   running statistics and its int64 num_batches_tracked) loads into the
   layers by name, and the network gives PyTorch's output and input
   gradients, first and second order, in evaluation and in training mode;
   one training pass updates the running statistics and the count as
   PyTorch's does. tapegrad -> PyTorch: tg_params_save writes the committed
   tests/golden/cnn_tapegrad_model_*.safetensors byte for byte (with
   TG_CNN_WRITE_GOLDEN=1 it writes them); gen_golden_cnn.py --check loads
   them into PyTorch's CNN with load_state_dict(strict=True).
   Tolerances: gt_default_tol() (the sums have at most 36 terms). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../ops/op_checks.h"
#include "golden.h"

#ifdef TG_DOUBLE
#define TAG "f64"
#else
#define TAG "f32"
#endif

typedef struct {
    tg_params *p;
    tg_conv_layer conv1;
    tg_batchnorm bn1;
    tg_linear_layer fc;
} cnn;

/* The layers with PyTorch's state-dict names, zeros until loaded. */
static void cnn_init(cnn *m)
{
    m->p = tg_params_new();
    cr_assert(m->p);
    tg_conv_opts pad1 = {.padding = {1, 1}};
    cr_assert_eq(tg_conv2d_layer_init(&m->conv1, m->p, "conv1", 2, 4, 3, 3, &pad1, true, NULL), TG_OK,
                 "%s", tg_last_error());
    cr_assert_eq(tg_batchnorm2d_init(&m->bn1, m->p, "bn1", 4, NULL), TG_OK, "%s", tg_last_error());
    cr_assert_eq(tg_linear_layer_init(&m->fc, m->p, "fc", 36, 5, true, NULL), TG_OK, "%s",
                 tg_last_error());
}

static void cnn_load(cnn *m)
{
    cnn_init(m);
    char path[1024];
    snprintf(path, sizeof path, "%s/cnn_torch_model_%s.safetensors", TG_TEST_DATA_DIR, TAG);
    cr_assert_eq(tg_params_load(m->p, path), TG_OK, "%s", tg_last_error());
}

static tg_tensor *cnn_forward(tg_tape *t, const cnn *m, tg_tensor *x)
{
    tg_pool_opts two = tg_pool_defaults(2, 2);
    tg_tensor *h = tg_batchnorm_forward(t, &m->bn1, tg_conv_layer_forward(t, &m->conv1, x));
    h = tg_max_pool2d(t, tg_relu(t, h), &two);
    return tg_linear_layer_forward(t, &m->fc, tg_flatten(t, h));
}

/* Each build loads the model afresh: a training pass changes its buffers. */
static cnn model; /* freed by the next build or at the suite's end */
static void model_free(void)
{
    tg_params_free(model.p);
    model.p = NULL;
}

static tg_tensor *b_cnn(tg_tape *t, tg_tensor *x, bool training)
{
    model_free();
    cnn_load(&model);
    tg_params_set_training(model.p, training);
    return cnn_forward(t, &model, x);
}
static tg_tensor *b_cnn_eval(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    (void)c;
    return b_cnn(t, in[0], false);
}
static tg_tensor *b_cnn_train(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    (void)c;
    return b_cnn(t, in[0], true);
}
/* bn1's running_mean, running_var and num_batches_tracked after one pass */
static tg_tensor *b_cnn_train_stats(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    (void)c;
    if (!b_cnn(t, in[0], true)) return NULL;
    const tg_batchnorm *b = &model.bn1;
    tg_tensor *o = tg_zeros(t, TG_SHAPE(9));
    for (int i = 0; o && i < 4; i++) o->data[i] = b->running_mean->data[i], o->data[4 + i] = b->running_var->data[i];
    if (o) o->data[8] = b->num_batches_tracked->data[0];
    return o;
}

static gt_file *gold;
static void load(void)
{
    gold = gt_load("cnn");
    cr_assert(gold != NULL, "tests/golden/cnn_*.txt could not be read");
}
static void unload(void)
{
    gt_free(gold);
    model_free();
}

TestSuite(cnn_layers, .init = load, .fini = unload);

Test(cnn_layers, evaluation) { gt_run_op(gold, "cnn_eval", b_cnn_eval, gt_default_tol()); }
Test(cnn_layers, evaluation_order2) { gt_run_op2(gold, "cnn_eval", b_cnn_eval, gt_default_tol()); }
Test(cnn_layers, training) { gt_run_op(gold, "cnn_train", b_cnn_train, gt_default_tol()); }
Test(cnn_layers, training_order2) { gt_run_op2(gold, "cnn_train", b_cnn_train, gt_default_tol()); }
Test(cnn_layers, training_updates_the_buffers)
{
    gt_run_op(gold, "cnn_train_stats", b_cnn_train_stats, gt_default_tol());
}

Test(cnn_layers, every_case_is_run)
{
    const char *ops[] = {"cnn_eval", "cnn_train", "cnn_train_stats"};
    expect_every_op_known(gold, ops, sizeof ops / sizeof *ops);
}

/* The loaded state: num_batches_tracked (I64 in the file) and the order
   and kinds of the registry. */
Test(cnn_layers, the_state_dict_loads_by_name)
{
    cnn m;
    cnn_load(&m);
    cr_expect_eq(m.bn1.num_batches_tracked->data[0], 3);
    cr_expect(m.bn1.num_batches_tracked->flags & TG_INT64);
    cr_expect_eq(tg_params_count(m.p), 6, "conv1, bn1 and fc's weights and biases");
    cr_expect_eq(tg_params_buffer_count(m.p), 3);
    cr_expect_eq(tg_params_numel(m.p), 4 * 2 * 9 + 4 + 4 + 4 + 5 * 36 + 5);
    cr_expect_eq(tg_params_buffer_numel(m.p), 4 + 4 + 1);
    tg_params_free(m.p);
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *b = NULL;
    size_t cap = 0;
    *n = 0;
    for (;;) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 4096;
            unsigned char *nb = realloc(b, cap);
            if (!nb) break;
            b = nb;
        }
        size_t k = fread(b + *n, 1, cap - *n, f);
        *n += k;
        if (k == 0) break;
    }
    fclose(f);
    return b;
}

/* tapegrad -> PyTorch: what tg_params_save writes is the committed file */
Test(cnn_layers, saved_state_is_the_committed_file)
{
    cnn m;
    cnn_load(&m);
    char golden[1024], tmp[1024];
    snprintf(golden, sizeof golden, "%s/cnn_tapegrad_model_%s.safetensors", TG_TEST_DATA_DIR, TAG);
    snprintf(tmp, sizeof tmp, "%s/cnn_saved_%s_%d.safetensors", TG_BINARY_DIR, TAG, (int)getpid());
    bool write = getenv("TG_CNN_WRITE_GOLDEN") != NULL;
    cr_assert_eq(tg_params_save(m.p, write ? golden : tmp, sizeof(tg_real) == 8 ? TG_F64 : TG_F32),
                 TG_OK, "%s", tg_last_error());
    if (!write) {
        size_t na = 0, nb = 0;
        unsigned char *a = read_all(tmp, &na), *b = read_all(golden, &nb);
        cr_expect(a && b && na == nb && memcmp(a, b, na) == 0,
                  "tg_params_save wrote other bytes than %s (regenerate with "
                  "TG_CNN_WRITE_GOLDEN=1 and check with gen_golden_cnn.py --check)",
                  golden);
        free(a);
        free(b);
        remove(tmp);
    }
    /* and it loads back into fresh layers, buffers and all */
    cnn back;
    cnn_init(&back);
    cr_assert_eq(tg_params_load(back.p, golden), TG_OK, "%s", tg_last_error());
    for (size_t i = 0; i < tg_params_state_count(m.p); i++) {
        const tg_tensor *x = tg_params_state_at(m.p, i), *y = tg_params_state_at(back.p, i);
        cr_expect_str_eq(x->name, y->name);
        cr_expect_eq(memcmp(x->data, y->data, (size_t)x->size * sizeof(tg_real)), 0, "%s", x->name);
    }
    tg_params_free(back.p);
    tg_params_free(m.p);
}
