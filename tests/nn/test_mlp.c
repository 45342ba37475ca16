#define _POSIX_C_SOURCE 200809L /* open_memstream */
/* tg_mlp_init_ex: an activation (with its parameter) per layer, and
   nn.Sequential's state-dict names, so that a Sequential's safetensors
   file loads and computes what PyTorch computes
   (tests/golden/toolkit_sequential_*, written by
   tests/gen_golden_toolkit.py; tolerance gt_default_tol()); and the model
   summary. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "golden_train.h"

Test(mlp, a_sequential_state_dict_loads_and_computes_as_pytorch)
{
    tg_params *p = tg_params_new();
    tg_mlp m;
    tg_mlp_opts o = {.sequential = true,
                     .acts = (const tg_act[]){{TG_ACT_LEAKY_RELU, 0.2}, {TG_ACT_GELU_TANH, 0}},
                     .output = {TG_ACT_SIGMOID, 0}};
    cr_assert_eq(tg_mlp_init_ex(&m, p, 4, (const int64_t[]){4, 5, 3, 2}, &o, NULL), TG_OK, "%s",
                 tg_last_error());
    const char *names[] = {"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"};
    for (int i = 0; i < 6; i++)
        cr_expect_str_eq(tg_params_at(p, (size_t)i)->name, names[i]);
#ifdef TG_DOUBLE
    const char *tag = "f64";
#else
    const char *tag = "f32";
#endif
    char path[512], txt[64];
    snprintf(path, sizeof path, "%s/toolkit_sequential_%s.safetensors", TG_TEST_DATA_DIR, tag);
    cr_assert_eq(tg_params_load(p, path), TG_OK, "%s", tg_last_error());
    snprintf(txt, sizeof txt, "toolkit_sequential_%s.txt", tag);
    gtr_file *f = gtr_load(txt);
    const gtr_group *g = gtr_find_group(f, "sequential");
    const gtr_item *x = gtr_item_of(g, "x"), *y = gtr_item_of(g, "y");
    tg_tape *t = tg_tape_new();
    tg_real xs[24];
    for (int i = 0; i < 24; i++) xs[i] = (tg_real)x->v[i];
    tg_tensor *out = tg_mlp_forward(t, &m, tg_tensor_new(t, TG_SHAPE(6, 4), xs));
    cr_assert_not_null(out, "%s", tg_tape_error(t));
    cr_expect(out->shape[0] == 6 && out->shape[1] == 2);
    gt_expect_close(out->data, y->v, 12, gt_default_tol(), "Sequential's output");
    gtr_free(f);
    tg_tape_free(t);
    tg_params_free(p);
}

Test(mlp, names_activations_and_refusals)
{
    tg_params *p = tg_params_new();
    tg_mlp m;
    /* no activation between layers: no module, the next Linear is the next index */
    tg_mlp_opts o = {.prefix = "net.", .sequential = true, .no_bias = true};
    cr_assert_eq(tg_mlp_init_ex(&m, p, 3, (const int64_t[]){3, 4, 2}, &o, NULL), TG_OK);
    cr_expect_eq(tg_params_count(p), 2);
    cr_expect_str_eq(tg_params_at(p, 0)->name, "net.0.weight");
    cr_expect_str_eq(tg_params_at(p, 1)->name, "net.1.weight");
    tg_params_free(p);

    p = tg_params_new();
    o = (tg_mlp_opts){.act = {TG_ACT_RELU, 0}};
    cr_assert_eq(tg_mlp_init_ex(&m, p, 3, (const int64_t[]){3, 4, 2}, &o, NULL), TG_OK);
    cr_expect_str_eq(tg_params_at(p, 0)->name, "fc1.weight", "tg_mlp_init's names by default");
    /* relu between the layers, nothing after the last */
    tg_tape *t = tg_tape_new();
    for (int i = 0; i < 12; i++) m.layers[0].weight->data[i] = (tg_real)(i % 3 == 0 ? -1 : 1);
    for (int i = 0; i < 8; i++) m.layers[1].weight->data[i] = -1;
    tg_tensor *y = tg_mlp_forward(t, &m, tg_ones(t, TG_SHAPE(1, 3)));
    cr_assert_not_null(y);
    /* hidden: rows (−1,1,1), (1,1,−1), (1,−1,1), (−1,1,1) · 1 = 1 each (relu keeps
       them); output: −(1+1+1+1) = −4, not clamped by a relu */
    cr_expect(y->data[0] == -4 && y->data[1] == -4, "%g %g", (double)y->data[0],
              (double)y->data[1]);
    tg_tape_free(t);
    tg_params_free(p);

    char buf[64];
    cr_expect_str_eq(tg_act_str((tg_act){TG_ACT_LEAKY_RELU, 0.2}, buf, sizeof buf),
                     "LeakyReLU(0.2)");
    cr_expect_str_eq(tg_act_str((tg_act){TG_ACT_GELU_TANH, 0}, buf, sizeof buf),
                     "GELU(approximate='tanh')");
    p = tg_params_new();
    o = (tg_mlp_opts){.act = {(tg_act_kind)99, 0}};
    cr_expect_eq(tg_mlp_init_ex(&m, p, 3, (const int64_t[]){3, 4, 2}, &o, NULL), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "after layer 1") != NULL, "%s", tg_last_error());
    cr_expect_eq(tg_mlp_init_ex(&m, p, 1, (const int64_t[]){3}, NULL, NULL), TG_ERR_INVALID);
    tg_params_free(p);
}

Test(mlp, summary_lists_every_parameter_and_the_totals)
{
    tg_params *p = tg_params_new();
    tg_mlp m;
    cr_assert_eq(tg_mlp_init(&m, p, "fc", 3, (const int64_t[]){784, 500, 10}, tg_relu, NULL),
                 TG_OK);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    tg_params_summary(p, f);
    fclose(f);
    cr_expect(strstr(buf, "fc1.weight") && strstr(buf, "[500,784]") && strstr(buf, "392000"),
              "%s", buf);
    /* 784·500 + 500 + 500·10 + 10 = 397510 */
    cr_expect(strstr(buf, "4 parameters, 397510 values") != NULL, "%s", buf);
    free(buf);
    tg_params_free(p);
}
