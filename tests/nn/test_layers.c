/* The layers of convolutional networks and what they rest on: buffers in a
   tg_params (kept out of the parameters' block, never touched by an
   optimizer, saved and loaded with the parameters, integers as I64), the
   training switch, each layer's state-dict names and default
   initialisation (PyTorch's RNG cannot be reproduced, so the test is the
   distributions' bounds and that they are used: values spread over them),
   batch norm's running statistics, dropout layers and the summary. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tapegrad.h>

/* ---------------------------------------------------------------- buffers */

Test(buffers, are_kept_apart_from_the_parameters)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(3));
    tg_tensor *m = tg_params_add_buffer(p, "m", TG_SHAPE(2, 2));
    tg_tensor *n = tg_params_add_int_buffer(p, "n", 0, NULL);
    tg_tensor *b = tg_params_add(p, "b", TG_SHAPE(1));
    cr_assert(w && m && n && b, "%s", tg_last_error());
    cr_expect_eq(tg_params_count(p), 2);
    cr_expect_eq(tg_params_numel(p), 4);
    cr_expect_eq(tg_params_buffer_count(p), 2);
    cr_expect_eq(tg_params_buffer_numel(p), 5);
    cr_expect(tg_params_at(p, 0) == w && tg_params_at(p, 1) == b && !tg_params_at(p, 2));
    cr_expect(tg_params_buffer_at(p, 0) == m && tg_params_buffer_at(p, 1) == n);
    /* the registry's state in the order added */
    cr_assert_eq(tg_params_state_count(p), 4);
    tg_tensor *order[4] = {w, m, n, b};
    for (size_t i = 0; i < 4; i++) cr_expect(tg_params_state_at(p, i) == order[i], "%zu", i);
    cr_expect_null(tg_params_state_at(p, 4));
    /* one namespace; found by name */
    cr_expect(tg_params_get(p, "m") == m && tg_params_get(p, "n") == n);
    cr_expect_null(tg_params_add(p, "m", TG_SHAPE(1)));
    cr_expect(strstr(tg_last_error(), "a buffer named 'm' exists"), "%s", tg_last_error());
    cr_expect_null(tg_params_add_buffer(p, "w", TG_SHAPE(1)));
    cr_expect(strstr(tg_last_error(), "tg_params_add_buffer: a parameter named 'w' exists"), "%s",
              tg_last_error());
    cr_expect_null(tg_params_add_buffer(p, "z", TG_SHAPE(0)));
    /* no gradient, ever */
    cr_expect(m->flags & TG_BUFFER && m->flags & TG_PARAM && !(m->flags & TG_REQUIRES_GRAD));
    cr_expect((n->flags & TG_INT64) && !(m->flags & TG_INT64) && !(w->flags & TG_BUFFER));
    tg_requires_grad(m, true);
    cr_expect(!(m->flags & TG_REQUIRES_GRAD));
    tg_params_zero_grad(p);
    cr_expect_null(m->grad);
    /* the parameters' block holds the parameters only: w (3, padded), b */
    cr_expect_eq(tg_params_block_len(p), 2 * 64 / sizeof(tg_real));
    tg_params_free(p);
}

/* Many buffers: their block grows and moves, and their values move along. */
Test(buffers, grow_without_losing_values)
{
    tg_params *p = tg_params_new();
    tg_tensor *first = tg_params_add_buffer(p, "b0", TG_SHAPE(5));
    first->data[4] = 7;
    for (int i = 1; i < 200; i++) {
        char name[16];
        snprintf(name, sizeof name, "b%d", i);
        tg_tensor *b = tg_params_add_buffer(p, name, TG_SHAPE(i));
        cr_assert(b, "%s", tg_last_error());
        b->data[i - 1] = (tg_real)i;
    }
    cr_expect_eq(first->data[4], 7);
    for (int i = 1; i < 200; i++) cr_expect_eq(tg_params_buffer_at(p, (size_t)i)->data[i - 1], i);
    tg_params_free(p);
}

/* An optimizer's step with weight decay would move anything it touched:
   buffers stay as they are. */
Test(buffers, optimizers_never_touch_them)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(4));
    tg_tensor *m = tg_params_add_buffer(p, "m", TG_SHAPE(4));
    tg_tensor *n = tg_params_add_int_buffer(p, "n", 0, NULL);
    for (int i = 0; i < 4; i++) w->data[i] = m->data[i] = (tg_real)(i + 1), w->grad[i] = 1;
    n->data[0] = 5;
    tg_adam_opts ao = tg_adamw_defaults(0.1);
    ao.weight_decay = 0.5;
    tg_sgd_opts so = tg_sgd_defaults(0.1);
    so.weight_decay = 0.5;
    so.momentum = 0.9;
    tg_optim *o[2] = {tg_adamw_new(p, &ao), tg_sgd_new(p, &so)};
    for (int k = 0; k < 2; k++) {
        cr_assert(o[k], "%s", tg_last_error());
        for (int s = 0; s < 3; s++) cr_assert_eq(tg_optim_step(o[k]), TG_OK);
        tg_optim_free(o[k]);
    }
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(m->data[i], i + 1);
        cr_expect_neq(w->data[i], i + 1, "the parameter moved");
    }
    cr_expect_eq(n->data[0], 5);
    tg_params_free(p);
}

static char *tmp_path(const char *what)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/layers_%s_%d.safetensors", TG_BINARY_DIR, what, (int)getpid());
    return path;
}

/* The file's header: the first n bytes after the length, as text. */
static void header_of(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    unsigned char len[8];
    cr_assert_eq(fread(len, 1, 8, f), 8);
    size_t k = fread(out, 1, n - 1, f);
    out[k] = 0;
    fclose(f);
}

Test(buffers, are_saved_and_loaded_integers_as_I64)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(2));
    tg_tensor *m = tg_params_add_buffer(p, "m", TG_SHAPE(2));
    tg_tensor *n = tg_params_add_int_buffer(p, "n", 0, NULL);
    w->data[0] = 1.5, w->data[1] = -2, m->data[0] = 0.25, m->data[1] = 4, n->data[0] = 12345;
    const char *path = tmp_path("i64");
    cr_assert_eq(tg_params_save(p, path, TG_F32), TG_OK, "%s", tg_last_error());
    char head[512];
    header_of(path, head, sizeof head);
    cr_expect(strstr(head, "\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[16,24]}"), "%s",
              head);
    cr_expect(strstr(head, "\"m\":{\"dtype\":\"F32\""), "%s", head);
    /* into the same model */
    tg_params *q = tg_params_new();
    tg_params_add(q, "w", TG_SHAPE(2));
    tg_params_add_buffer(q, "m", TG_SHAPE(2));
    tg_tensor *qn = tg_params_add_int_buffer(q, "n", 0, NULL);
    cr_assert_eq(tg_params_load(q, path), TG_OK, "%s", tg_last_error());
    cr_expect_eq(qn->data[0], 12345);
    cr_expect_eq(tg_params_get(q, "m")->data[1], 4);
    cr_expect_eq(tg_params_get(q, "w")->data[0], (tg_real)1.5);
    /* into an empty registry: I64 becomes an integer buffer, the rest parameters */
    tg_params *e = tg_params_new();
    cr_assert_eq(tg_params_load(e, path), TG_OK, "%s", tg_last_error());
    cr_expect_eq(tg_params_count(e), 2);
    cr_expect_eq(tg_params_buffer_count(e), 1);
    cr_expect(tg_params_get(e, "n")->flags & TG_INT64);
    /* a model missing the buffer: refused, nothing loaded */
    tg_params *r = tg_params_new();
    tg_tensor *rw = tg_params_add(r, "w", TG_SHAPE(2));
    tg_params_add_buffer(r, "m", TG_SHAPE(2));
    cr_expect_neq(tg_params_load(r, path), TG_OK);
    cr_expect(strstr(tg_last_error(), "unexpected tensor 'n'"), "%s", tg_last_error());
    cr_expect_eq(rw->data[0], 0);
    /* I64 into a float tensor: refused */
    tg_params_add(r, "n", 0, NULL);
    cr_expect_eq(tg_params_load(r, path), TG_ERR_FORMAT);
    cr_expect(strstr(tg_last_error(), "tensor 'n' has dtype I64: tapegrad loads I64 into integer "
                                      "buffers only"),
              "%s", tg_last_error());
    /* an integer buffer holding a fraction cannot be saved as I64 */
    n->data[0] = (tg_real)0.5;
    cr_expect_eq(tg_params_save(p, path, TG_F64), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "buffer 'n' holds 0.5"), "%s", tg_last_error());
    remove(path);
    tg_params_free(p), tg_params_free(q), tg_params_free(e), tg_params_free(r);
}

/* F32 data into an integer buffer: whole numbers load, fractions do not. */
Test(buffers, float_data_into_integer_buffers)
{
    tg_params *src = tg_params_new();
    tg_tensor *n = tg_params_add(src, "n", TG_SHAPE(2));
    n->data[0] = 3, n->data[1] = 4;
    const char *path = tmp_path("float_int");
    cr_assert_eq(tg_params_save(src, path, TG_F32), TG_OK);
    tg_params *dst = tg_params_new();
    tg_tensor *d = tg_params_add_int_buffer(dst, "n", TG_SHAPE(2));
    cr_expect_eq(tg_params_load(dst, path), TG_OK, "%s", tg_last_error());
    cr_expect(d->data[0] == 3 && d->data[1] == 4);
    n->data[1] = (tg_real)4.5;
    cr_assert_eq(tg_params_save(src, path, TG_F32), TG_OK);
    cr_expect_eq(tg_params_load(dst, path), TG_ERR_FORMAT);
    cr_expect(strstr(tg_last_error(), "tensor 'n' holds 4.5 at element 1, but 'n' is an integer "
                                      "buffer"),
              "%s", tg_last_error());
    cr_expect(d->data[0] == 3 && d->data[1] == 4, "a failed load changed the buffer");
    remove(path);
    tg_params_free(src), tg_params_free(dst);
}

/* ------------------------------------------------------- training switch */

Test(training, switch_is_on_by_default_and_returns_the_previous_setting)
{
    tg_params *p = tg_params_new();
    cr_expect(tg_params_training(p));
    cr_expect(tg_params_set_training(p, false));
    cr_expect(!tg_params_training(p));
    cr_expect(!tg_params_set_training(p, true));
    cr_expect(tg_params_training(p));
    cr_expect(!tg_params_training(NULL));
    tg_params_free(p);
}

/* ------------------------------------------------ names and initialisers */

static void expect_names(const tg_params *p, const char *const *names, size_t n)
{
    cr_expect_eq(tg_params_state_count(p), n);
    for (size_t i = 0; i < n && i < tg_params_state_count(p); i++)
        cr_expect_str_eq(tg_params_state_at(p, i)->name, names[i]);
}

/* Every value within ±bound, and for a tensor of 200 values or more spread
   over it: the largest beyond 90% of the bound and both signs present (n
   uniform draws miss that with probability 0.9ⁿ + 2·0.5ⁿ, below 1e-9). */
static void expect_uniform(const tg_tensor *x, double bound)
{
    double top = 0;
    bool neg = false, pos = false;
    for (int64_t i = 0; i < x->size; i++) {
        double v = x->data[i];
        cr_expect(fabs(v) <= bound * (1 + 1e-6), "%s[%lld] = %g is outside ±%g", x->name,
                  (long long)i, v, bound);
        top = fmax(top, fabs(v));
        neg |= v < 0, pos |= v > 0;
    }
    if (x->size >= 200)
        cr_expect(top > 0.9 * bound && neg && pos, "%s: largest |value| %g of bound %g", x->name,
                  top, bound);
}

Test(layers, conv_names_shapes_and_pytorch_default_init)
{
    tg_params *p = tg_params_new();
    tg_rng r;
    tg_rng_seed(&r, 42);
    tg_conv_layer c1, c2, ct, cd;
    cr_assert_eq(tg_conv1d_layer_init(&c1, p, "conv0", 3, 16, 5, NULL, true, &r), TG_OK, "%s", tg_last_error());
    cr_assert_eq(tg_conv2d_layer_init(&c2, p, "conv1", 4, 16, 5, 3, &(tg_conv_opts){.groups = 2}, true, &r), TG_OK,
                 "%s", tg_last_error());
    cr_assert_eq(tg_conv_transpose2d_layer_init(&ct, p, "up", 24, 4, 3, 3, &(tg_conv_opts){.groups = 2}, true, &r),
                 TG_OK, "%s", tg_last_error());
    cr_assert_eq(tg_conv2d_layer_init(&cd, p, "dw", 32, 32, 3, 3, &(tg_conv_opts){.groups = 32}, false, &r), TG_OK,
                 "%s", tg_last_error());
    const char *names[] = {"conv0.weight", "conv0.bias", "conv1.weight", "conv1.bias",
                           "up.weight",    "up.bias",    "dw.weight"};
    expect_names(p, names, 7);
    cr_expect(c1.weight->ndim == 3 && c1.weight->shape[0] == 16 && c1.weight->shape[1] == 3 && c1.weight->shape[2] == 5);
    cr_expect(c2.weight->shape[0] == 16 && c2.weight->shape[1] == 2 && c2.weight->shape[2] == 5 &&
              c2.weight->shape[3] == 3);
    /* transposed: [in, out/groups, kH, kW], bias [out] */
    cr_expect(ct.weight->shape[0] == 24 && ct.weight->shape[1] == 2 && ct.bias->shape[0] == 4);
    cr_expect(cd.weight->shape[1] == 1 && !cd.bias);
    /* kaiming_uniform(a = √5) = U(±1/√fan_in), the bias U(±1/√fan_in) */
    expect_uniform(c1.weight, 1 / sqrt(3.0 * 5));
    expect_uniform(c1.bias, 1 / sqrt(3.0 * 5));
    expect_uniform(c2.weight, 1 / sqrt(2.0 * 5 * 3));
    expect_uniform(c2.bias, 1 / sqrt(2.0 * 5 * 3));
    expect_uniform(ct.weight, 1 / sqrt(2.0 * 3 * 3));
    expect_uniform(cd.weight, 1 / sqrt(9.0));
    /* no rng: zeros, to load weights into */
    tg_conv_layer cz;
    cr_assert_eq(tg_conv2d_layer_init(&cz, p, "zero", 1, 2, 3, 3, NULL, true, NULL), TG_OK);
    for (int64_t i = 0; i < cz.weight->size; i++) cr_expect_eq(cz.weight->data[i], 0);
    tg_params_free(p);
}

Test(layers, conv_init_refuses_bad_options_and_registers_nothing)
{
    tg_params *p = tg_params_new();
    tg_conv_layer c;
    cr_expect_eq(tg_conv2d_layer_init(&c, p, "c", 3, 4, 3, 3, &(tg_conv_opts){.groups = 2}, true, NULL),
                 TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "tg_conv2d_layer_init: in_channels 3 and out_channels 4 must both "
                                      "be divisible by groups = 2"),
              "%s", tg_last_error());
    cr_expect_eq(tg_conv_transpose2d_layer_init(&c, p, "c", 3, 4, 3, 3,
                                                &(tg_conv_opts){.padding_same = true}, true, NULL),
                 TG_ERR_INVALID);
    cr_expect_eq(tg_conv1d_layer_init(&c, p, "c", 3, 4, 0, NULL, true, NULL), TG_ERR_INVALID);
    cr_expect_eq(tg_conv2d_layer_init(&c, p, "c", 3, 4, 3, 3, &(tg_conv_opts){.stride = {-1, 1}}, true, NULL),
                 TG_ERR_INVALID);
    cr_expect_eq(tg_params_state_count(p), 0, "a failed init registered something");
    /* a taken name (the bias): nothing of the layer is added */
    tg_params_add(p, "c.bias", TG_SHAPE(4));
    cr_expect_eq(tg_conv2d_layer_init(&c, p, "c", 3, 4, 3, 3, NULL, true, NULL), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "'c.bias' exists"), "%s", tg_last_error());
    cr_expect_eq(tg_params_state_count(p), 1);
    cr_expect_eq(tg_conv2d_layer_init(NULL, p, "c", 3, 4, 3, 3, NULL, true, NULL), TG_ERR_INVALID);
    tg_tape *t = tg_tape_new();
    cr_expect_null(tg_conv_layer_forward(t, NULL, tg_zeros(t, TG_SHAPE(1, 3, 4, 4))));
    cr_expect(strstr(tg_tape_error(t), "tg_conv_layer_forward: the layer is NULL"), "%s", tg_tape_error(t));
    tg_tape_free(t);
    tg_params_free(p);
}

Test(layers, norm_names_kinds_and_init)
{
    tg_params *p = tg_params_new();
    tg_batchnorm bn, bn_plain;
    tg_layernorm ln, ln_plain;
    tg_groupnorm gn;
    tg_rmsnorm rn;
    cr_assert_eq(tg_batchnorm2d_init(&bn, p, "bn1", 3, NULL), TG_OK, "%s", tg_last_error());
    tg_batchnorm_opts o = TG_BATCHNORM_OPTS_DEFAULT;
    o.affine = false;
    cr_assert_eq(tg_batchnorm1d_init(&bn_plain, p, "bn2", 2, &o), TG_OK);
    cr_assert_eq(tg_layernorm_init(&ln, p, "ln", 2, (const int64_t[]){2, 3}, true, TG_NORM_EPS), TG_OK);
    cr_assert_eq(tg_layernorm_init(&ln_plain, p, "ln2", 1, (const int64_t[]){3}, false, TG_NORM_EPS), TG_OK);
    cr_assert_eq(tg_groupnorm_init(&gn, p, "gn", 2, 4, true, TG_NORM_EPS), TG_OK);
    cr_assert_eq(tg_rmsnorm_init(&rn, p, "rms", 1, (const int64_t[]){5}, true, TG_RMS_NORM_EPS_AUTO), TG_OK);
    const char *names[] = {"bn1.weight",       "bn1.bias",          "bn1.running_mean",
                           "bn1.running_var",  "bn1.num_batches_tracked",
                           "bn2.running_mean", "bn2.running_var",   "bn2.num_batches_tracked",
                           "ln.weight",        "ln.bias",           "gn.weight",
                           "gn.bias",          "rms.weight"};
    expect_names(p, names, 13);
    cr_expect(!ln_plain.weight && !ln_plain.bias && !bn_plain.weight);
    cr_expect(bn.running_mean->flags & TG_BUFFER && !(bn.running_mean->flags & TG_INT64));
    cr_expect(bn.num_batches_tracked->flags & TG_INT64 && bn.num_batches_tracked->ndim == 0);
    cr_expect(!(bn.weight->flags & TG_BUFFER));
    /* ones and zeros */
    for (int i = 0; i < 3; i++) {
        cr_expect(bn.weight->data[i] == 1 && bn.bias->data[i] == 0);
        cr_expect(bn.running_mean->data[i] == 0 && bn.running_var->data[i] == 1);
    }
    for (int i = 0; i < 6; i++) cr_expect(ln.weight->data[i] == 1 && ln.bias->data[i] == 0);
    for (int i = 0; i < 4; i++) cr_expect(gn.weight->data[i] == 1 && gn.bias->data[i] == 0);
    for (int i = 0; i < 5; i++) cr_expect(rn.weight->data[i] == 1);
    cr_expect_eq(bn.num_batches_tracked->data[0], 0);
    /* bad sizes */
    cr_expect_eq(tg_groupnorm_init(&gn, p, "gn3", 3, 4, true, TG_NORM_EPS), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "num_channels 4 must be divisible by num_groups 3"), "%s",
              tg_last_error());
    cr_expect_eq(tg_batchnorm2d_init(&bn, p, "bn3", 0, NULL), TG_ERR_INVALID);
    cr_expect_eq(tg_layernorm_init(&ln, p, "ln3", 1, (const int64_t[]){0}, true, TG_NORM_EPS), TG_ERR_INVALID);
    cr_expect_eq(tg_batchnorm2d_init(&bn, p, "bn1", 3, NULL), TG_ERR_INVALID, "a taken name");
    cr_expect_eq(tg_params_state_count(p), 13);
    tg_params_free(p);
}

/* nn.BatchNorm's training step: the count, then the running statistics
   with momentum; evaluation reads them; momentum None (the cumulative
   average) averages the batches' statistics. */
Test(layers, batchnorm_running_statistics_follow_the_switch)
{
    tg_params *p = tg_params_new();
    tg_batchnorm bn, cum;
    cr_assert_eq(tg_batchnorm1d_init(&bn, p, "bn", 1, NULL), TG_OK);
    tg_batchnorm_opts o = TG_BATCHNORM_OPTS_DEFAULT;
    o.cumulative_average = true;
    cr_assert_eq(tg_batchnorm1d_init(&cum, p, "cum", 1, &o), TG_OK);
    tg_tape *t = tg_tape_new();
    const tg_real a[4] = {1, 2, 3, 6}, b[4] = {-1, 0, 1, 0}; /* means 3 and 0 */
    tg_tensor *xa = tg_tensor_new(t, TG_SHAPE(4, 1), a), *xb = tg_tensor_new(t, TG_SHAPE(4, 1), b);
    cr_assert(tg_batchnorm_forward(t, &bn, xa) && tg_batchnorm_forward(t, &cum, xa), "%s", tg_tape_error(t));
    cr_expect_eq(bn.num_batches_tracked->data[0], 1);
    cr_expect(fabs(bn.running_mean->data[0] - 0.3) < 1e-6, "%g", (double)bn.running_mean->data[0]);
    /* unbiased variance of {1, 2, 3, 6}: 14/3 */
    cr_expect(fabs(bn.running_var->data[0] - (0.9 + 0.1 * 14.0 / 3)) < 1e-6);
    cr_expect(fabs(cum.running_mean->data[0] - 3) < 1e-6, "the first batch's mean");
    cr_assert(tg_batchnorm_forward(t, &cum, xb));
    cr_expect(fabs(cum.running_mean->data[0] - 1.5) < 1e-6, "the average of 3 and 0: %g",
              (double)cum.running_mean->data[0]);
    cr_expect_eq(cum.num_batches_tracked->data[0], 2);
    /* evaluation: the running statistics, no update */
    cr_expect(tg_params_set_training(p, false));
    tg_tensor *y = tg_batchnorm_forward(t, &bn, xb);
    cr_assert(y, "%s", tg_tape_error(t));
    double rstd = 1 / sqrt(bn.running_var->data[0] + 1e-5);
    cr_expect(fabs(y->data[0] - (-1 - 0.3) * rstd) < 1e-5, "%g", (double)y->data[0]);
    cr_expect_eq(bn.num_batches_tracked->data[0], 1);
    cr_expect(fabs(bn.running_mean->data[0] - 0.3) < 1e-6);
    /* input ranks: BatchNorm1d takes [N, C] and [N, C, L]; BatchNorm2d [N, C, H, W] */
    cr_expect_null(tg_batchnorm_forward(t, &bn, tg_zeros(t, TG_SHAPE(2, 1, 2, 2))));
    cr_expect(strstr(tg_tape_error(t), "BatchNorm1d needs input [N, C] or [N, C, L], got [2,1,2,2]"),
              "%s", tg_tape_error(t));
    tg_tape_free(t);
    tg_params_free(p);
}

/* Without running statistics, batch norm uses the batch's in both modes. */
Test(layers, batchnorm_without_running_statistics)
{
    tg_params *p = tg_params_new();
    tg_batchnorm bn;
    tg_batchnorm_opts o = TG_BATCHNORM_OPTS_DEFAULT;
    o.track_running_stats = false;
    cr_assert_eq(tg_batchnorm2d_init(&bn, p, "bn", 2, &o), TG_OK);
    cr_expect(!bn.running_mean && !bn.num_batches_tracked && tg_params_buffer_count(p) == 0);
    tg_tape *t = tg_tape_new();
    const tg_real v[8] = {1, 3, 5, 7, 2, 2, 4, 4};
    tg_params_set_training(p, false);
    tg_tensor *y = tg_batchnorm_forward(t, &bn, tg_tensor_new(t, TG_SHAPE(1, 2, 2, 2), v));
    cr_assert(y, "%s", tg_tape_error(t));
    /* channel 0 {1, 3, 5, 7}: mean 4, variance 5 */
    cr_expect(fabs(y->data[0] - (1 - 4) / sqrt(5 + 1e-5)) < 1e-5, "%g", (double)y->data[0]);
    tg_tape_free(t);
    tg_params_free(p);
}

Test(layers, dropout_layers_read_the_switch)
{
    tg_params *p = tg_params_new();
    tg_rng r;
    tg_rng_seed(&r, 1);
    tg_dropout_layer d, d2;
    cr_assert_eq(tg_dropout_layer_init(&d, p, 0.5, &r), TG_OK);
    cr_assert_eq(tg_dropout2d_layer_init(&d2, p, 0.5, &r), TG_OK);
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_SHAPE(4, 8, 2, 2));
    tg_tensor *y = tg_dropout_layer_forward(t, &d, x), *y2 = tg_dropout_layer_forward(t, &d2, x);
    cr_assert(y && y2 && y != x && y2 != x, "%s", tg_tape_error(t));
    int zeros = 0;
    for (int64_t i = 0; i < y->size; i++) zeros += y->data[i] == 0;
    cr_expect(zeros > 0 && zeros < y->size);
    tg_params_set_training(p, false);
    cr_expect(tg_dropout_layer_forward(t, &d, x) == x && tg_dropout_layer_forward(t, &d2, x) == x,
              "evaluation: the input itself");
    cr_expect_eq(tg_dropout_layer_init(&d, p, 1.5, &r), TG_ERR_INVALID);
    cr_expect_eq(tg_dropout_layer_init(&d, p, 0.5, NULL), TG_ERR_INVALID);
    cr_expect_eq(tg_dropout_layer_init(&d, p, 1, NULL), TG_OK, "p = 1 draws nothing");
    tg_tape_free(t);
    tg_params_free(p);
}

/* Layer norm, group norm and rms norm layers run their ops. */
Test(layers, norm_layers_forward)
{
    tg_params *p = tg_params_new();
    tg_layernorm ln;
    tg_groupnorm gn;
    tg_rmsnorm rn;
    cr_assert_eq(tg_layernorm_init(&ln, p, "ln", 1, (const int64_t[]){4}, true, TG_NORM_EPS), TG_OK);
    cr_assert_eq(tg_groupnorm_init(&gn, p, "gn", 2, 4, true, TG_NORM_EPS), TG_OK);
    cr_assert_eq(tg_rmsnorm_init(&rn, p, "rms", 1, (const int64_t[]){4}, true, 0), TG_OK);
    tg_tape *t = tg_tape_new();
    const tg_real v[8] = {1, 2, 3, 4, -1, 0, 1, 2};
    tg_tensor *x = tg_tensor_new(t, TG_SHAPE(2, 4), v);
    tg_tensor *a = tg_layernorm_forward(t, &ln, x), *b = tg_groupnorm_forward(t, &gn, x);
    tg_tensor *c = tg_rmsnorm_forward(t, &rn, x);
    cr_assert(a && b && c, "%s", tg_tape_error(t));
    /* row {1, 2, 3, 4}: mean 2.5, variance 1.25 */
    cr_expect(fabs(a->data[0] - (1 - 2.5) / sqrt(1.25 + 1e-5)) < 1e-5);
    /* groups {1, 2} and {3, 4}: ±1 (variance 0.25) */
    cr_expect(fabs(b->data[0] + 0.5 / sqrt(0.25 + 1e-5)) < 1e-5, "%g", (double)b->data[0]);
    /* rms of {1, 2, 3, 4}: √7.5 */
    cr_expect(fabs(c->data[3] - 4 / sqrt(7.5)) < 1e-5);
    cr_expect_null(tg_groupnorm_forward(t, &gn, tg_zeros(t, TG_SHAPE(2, 6))));
    cr_expect(strstr(tg_tape_error(t), "tg_groupnorm_forward: the layer has 4 channels, the input [2,6]"),
              "%s", tg_tape_error(t));
    tg_tape_free(t);
    tg_params_free(p);
}

/* ------------------------------------------------------------------ summary */

Test(layers, summary_lists_every_tensor_and_the_totals)
{
    tg_params *p = tg_params_new();
    tg_conv_layer c;
    tg_batchnorm bn;
    cr_assert_eq(tg_conv2d_layer_init(&c, p, "conv1", 1, 6, 5, 5, NULL, true, NULL), TG_OK);
    cr_assert_eq(tg_batchnorm2d_init(&bn, p, "bn1", 6, NULL), TG_OK);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert(f);
    cr_assert_eq(tg_params_summary(p, f), TG_OK);
    fclose(f);
    const char *want[] = {"conv1.weight             param           [6,1,5,5]             150\n",
                          "conv1.bias               param           [6]                     6\n",
                          "bn1.running_var          buffer          [6]                     6\n",
                          "bn1.num_batches_tracked  buffer (int64)  []                      1\n",
                          "4 parameters, 168 values, ",
                          "3 buffers, 13 values (not trained)",
                          "mode: training"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_expect(strstr(buf, want[i]), "the summary lacks '%s':\n%s", want[i], buf);
    free(buf);
    cr_expect_eq(tg_params_summary(NULL, stdout), TG_ERR_INVALID);
    tg_params_free(p);
}
