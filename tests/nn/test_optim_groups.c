/* RMSprop, Adagrad and parameter groups against torch.optim, and their
   contracts.

   Golden steps (tests/golden/toolkit_optim_*.txt, written by
   tests/gen_golden_toolkit.py): two parameters p0 [3,4] and p1 [5] with
   given gradients, 3 steps of RMSprop and Adagrad with every option; 4
   steps in which some gradients are None; and 4 steps of each optimizer
   over two groups, p0's with its own lr and weight decay. Tolerance: the
   golden harness's gt_default_tol() (float rtol 1e-5 / atol 1e-6, double
   rtol 1e-12 / atol 1e-14), as for SGD and Adam (tests/nn/test_optim.c):
   the same roundings as PyTorch's kernels but for fused multiply-adds. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "golden.h"
#include "golden_train.h"

Test(optim_groups, rmsprop_and_adagrad_match_torch_optim)
{
    int skips = 0, n = gtr_run_optim_cases("toolkit_optim", "optim_", &skips);
    cr_expect_geq(n, 12, "only %d cases", n);
    cr_expect_eq(skips, 0);
}

Test(optim_groups, skipped_parameters_match_torch_optim)
{
    int skips = 0, n = gtr_run_optim_cases("toolkit_optim", "skipped_", &skips);
    cr_expect_geq(n, 2, "only %d cases", n);
    cr_expect_geq(skips, 3 * n);
}

Test(optim_groups, two_groups_match_torch_optim)
{
    int skips = 0, n = gtr_run_optim_cases("toolkit_optim", "groups_", &skips);
    cr_expect_geq(n, 5, "only %d cases", n);
}

/* ---------------------------------------------------------------- contract */

Test(optim_groups, defaults_are_pytorchs)
{
    tg_rmsprop_opts r = tg_rmsprop_defaults(1e-2);
    cr_expect(r.lr == 1e-2 && r.alpha == 0.99 && r.eps == 1e-8 && r.weight_decay == 0 &&
              r.momentum == 0 && !r.centered && !r.maximize);
    tg_adagrad_opts a = tg_adagrad_defaults(1e-2);
    cr_expect(a.lr == 1e-2 && a.lr_decay == 0 && a.weight_decay == 0 &&
              a.initial_accumulator_value == 0 && a.eps == 1e-10 && !a.maximize);
    tg_params *p = tg_params_new();
    tg_params_add(p, "w", TG_SHAPE(2));
    tg_optim *o1 = tg_rmsprop_new(p, NULL), *o2 = tg_adagrad_new(p, NULL);
    cr_assert(o1 && o2);
    cr_expect_str_eq(tg_optim_name(o1), "rmsprop");
    cr_expect_str_eq(tg_optim_name(o2), "adagrad");
    cr_expect(tg_optim_get_lr(o1) == 1e-2 && tg_optim_get_lr(o2) == 1e-2);
    cr_expect_not_null(tg_optim_state(o1, "square_avg"));
    cr_expect_null(tg_optim_state(o1, "grad_avg"), "not centered: no grad_avg");
    cr_expect_null(tg_optim_state(o1, "momentum_buffer"), "no momentum: no buffer");
    cr_expect_not_null(tg_optim_state(o2, "sum"));
    tg_optim_free(o1);
    tg_optim_free(o2);
    tg_params_free(p);
}

Test(optim_groups, bad_options_are_refused_with_a_message)
{
    tg_params *p = tg_params_new();
    tg_params_add(p, "w", TG_SHAPE(2));
    tg_rmsprop_opts r = tg_rmsprop_defaults(1e-2);
    r.alpha = 1.5;
    cr_expect_null(tg_rmsprop_new(p, &r));
    cr_expect(strstr(tg_last_error(), "alpha") != NULL, "%s", tg_last_error());
    r = tg_rmsprop_defaults(-1);
    cr_expect_null(tg_rmsprop_new(p, &r));
    cr_expect(strstr(tg_last_error(), "learning rate") != NULL, "%s", tg_last_error());
    r = tg_rmsprop_defaults(1e-2);
    r.momentum = -0.1;
    cr_expect_null(tg_rmsprop_new(p, &r));
    tg_adagrad_opts a = tg_adagrad_defaults(1e-2);
    a.lr_decay = -1;
    cr_expect_null(tg_adagrad_new(p, &a));
    cr_expect(strstr(tg_last_error(), "lr_decay") != NULL, "%s", tg_last_error());
    a = tg_adagrad_defaults(1e-2);
    a.initial_accumulator_value = -1;
    cr_expect_null(tg_adagrad_new(p, &a));
    cr_expect(strstr(tg_last_error(), "initial_accumulator_value") != NULL, "%s",
              tg_last_error());
    tg_params_free(p);
}

/* Adagrad's accumulator starts at initial_accumulator_value in every
   element of a parameter, and nowhere else: the padding stays zero. */
Test(optim_groups, adagrad_accumulator_starts_at_its_value)
{
    tg_params *p = tg_params_new();
    tg_tensor *a = tg_params_add(p, "a", TG_SHAPE(3));
    tg_tensor *b = tg_params_add(p, "b", TG_SHAPE(2, 2));
    tg_adagrad_opts ao = tg_adagrad_defaults(0.1);
    ao.initial_accumulator_value = 0.25;
    tg_optim *o = tg_adagrad_new(p, &ao);
    const tg_real *s = tg_optim_state(o, "sum");
    const tg_real *d = tg_params_data(p);
    for (size_t i = 0; i < tg_params_block_len(p); i++) {
        bool in = (d + i >= a->data && d + i < a->data + 3) || (d + i >= b->data && d + i < b->data + 4);
        cr_expect(s[i] == (in ? (tg_real)0.25 : 0), "sum[%zu] = %g", i, (double)s[i]);
    }
    tg_optim_free(o);
    tg_params_free(p);
}

static bool is_bias(const char *name, const tg_tensor *x, void *ctx)
{
    (void)x;
    return strstr(name, ctx) != NULL;
}

/* Groups: by name and by filter, first match wins, the rest last; a name
   that is not a parameter, or one in two groups, is refused and leaves the
   groups as they were; after a step they cannot change. */
Test(optim_groups, groups_by_name_and_filter)
{
    tg_params *p = tg_params_new();
    tg_params_add(p, "fc1.weight", TG_SHAPE(4, 3));
    tg_params_add(p, "fc1.bias", TG_SHAPE(4));
    tg_params_add(p, "fc2.weight", TG_SHAPE(2, 4));
    tg_params_add(p, "fc2.bias", TG_SHAPE(2));
    tg_optim *o = tg_adamw_new(p, NULL);
    cr_assert_eq(tg_optim_num_groups(o), 1);
    cr_expect_eq(tg_optim_group_size(o, 0), 4);

    tg_param_group g[2] = {tg_param_group_new(), tg_param_group_new()};
    g[0].names = (const char *const[]){"fc2.weight"};
    g[0].n_names = 1;
    g[0].lr = 0.5;
    g[1].filter = tg_param_is_1d;
    g[1].weight_decay = 0;
    cr_assert_eq(tg_optim_set_groups(o, 2, g), TG_OK, "%s", tg_last_error());
    cr_expect_eq(tg_optim_num_groups(o), 3);
    int want[4] = {2, 1, 0, 1};
    for (size_t i = 0; i < 4; i++) cr_expect_eq(tg_optim_param_group(o, i), want[i]);
    cr_expect(tg_optim_get_group_lr(o, 0) == 0.5);
    cr_expect(tg_optim_get_group_lr(o, 1) == 1e-3);
    cr_expect(tg_optim_get_group_weight_decay(o, 1) == 0);
    cr_expect(tg_optim_get_group_weight_decay(o, 2) == 1e-2, "the rest: the optimizer's");
    cr_expect_eq(tg_optim_group_size(o, 1), 2);

    /* a filter with a context; everything taken: no group for the rest */
    tg_param_group h[2] = {tg_param_group_new(), tg_param_group_new()};
    h[0].filter = is_bias;
    h[0].ctx = "bias";
    h[1].filter = tg_param_is_1d;
    h[1].lr = 0.1;
    cr_assert_eq(tg_optim_set_groups(o, 1, h), TG_OK);
    cr_expect_eq(tg_optim_num_groups(o), 2);
    cr_expect_eq(tg_optim_param_group(o, 1), 0);
    cr_expect_eq(tg_optim_param_group(o, 0), 1);

    /* refusals leave the groups alone */
    g[1].names = (const char *const[]){"fc2.weight"};
    g[1].n_names = 1;
    cr_expect_eq(tg_optim_set_groups(o, 2, g), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "'fc2.weight' is in group 0 and in group 1") != NULL, "%s",
              tg_last_error());
    g[1].names = (const char *const[]){"fc3.weight"};
    cr_expect_eq(tg_optim_set_groups(o, 2, g), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "'fc3.weight', which is not a parameter") != NULL, "%s",
              tg_last_error());
    g[1] = tg_param_group_new();
    cr_expect_eq(tg_optim_set_groups(o, 2, g), TG_ERR_INVALID, "neither names nor a filter");
    h[0].lr = -1;
    cr_expect_eq(tg_optim_set_groups(o, 1, h), TG_ERR_INVALID);
    cr_expect_eq(tg_optim_num_groups(o), 2);
    cr_expect_eq(tg_optim_param_group(o, 1), 0);

    /* group learning rates; set_lr sets them all */
    cr_expect_eq(tg_optim_set_group_lr(o, 1, 0.25), TG_OK);
    cr_expect(tg_optim_get_group_lr(o, 1) == 0.25);
    cr_expect_eq(tg_optim_set_group_lr(o, 2, 0.25), TG_ERR_INVALID);
    cr_expect_eq(tg_optim_set_group_lr(o, 0, NAN), TG_ERR_INVALID);
    cr_expect_eq(tg_optim_set_lr(o, 0.125), TG_OK);
    cr_expect(tg_optim_get_group_lr(o, 0) == 0.125 && tg_optim_get_group_lr(o, 1) == 0.125);

    cr_assert_eq(tg_optim_step(o), TG_OK);
    cr_expect_eq(tg_optim_set_groups(o, 1, h), TG_ERR_STATE);
    cr_expect(tg_optim_num_groups(NULL) == 0 && tg_optim_param_group(NULL, 0) == -1);
    tg_optim_free(o);
    tg_params_free(p);
}

/* A group's options reach its parameters only: with lr 0 in one group its
   parameters stay where they are, the others move. */
Test(optim_groups, a_groups_options_reach_only_its_parameters)
{
    const char *kinds[] = {"sgd", "adam", "rmsprop", "adagrad"};
    for (int k = 0; k < 4; k++) {
        tg_params *p = tg_params_new();
        tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(3, 2));
        tg_tensor *b = tg_params_add(p, "b", TG_SHAPE(3));
        tg_optim *o = k == 0 ? tg_sgd_new(p, &(tg_sgd_opts){.lr = 0.1, .momentum = 0.9})
                      : k == 1 ? tg_adam_new(p, NULL)
                      : k == 2 ? tg_rmsprop_new(p, NULL)
                               : tg_adagrad_new(p, NULL);
        tg_param_group g = tg_param_group_new();
        g.filter = tg_param_is_1d;
        g.lr = 0;
        cr_assert_eq(tg_optim_set_groups(o, 1, &g), TG_OK);
        for (int i = 0; i < 6; i++) w->data[i] = 1, w->grad[i] = 0.5f;
        for (int i = 0; i < 3; i++) b->data[i] = 1, b->grad[i] = 0.5f;
        cr_assert_eq(tg_optim_step(o), TG_OK);
        for (int i = 0; i < 3; i++) cr_expect(b->data[i] == 1, "%s: bias moved", kinds[k]);
        for (int i = 0; i < 6; i++) cr_expect(w->data[i] < 1, "%s: weight did not move", kinds[k]);
        tg_optim_free(o);
        tg_params_free(p);
    }
}
