/* Learning-rate schedules against torch.optim.lr_scheduler (PyTorch 1.13),
   step for step (tests/golden/toolkit_sched.txt, written by
   tests/gen_golden_toolkit.py): an optimizer over two groups (lr 0.1 and
   0.02), each scheduler made as the script makes it, the rates of both
   groups (and their momenta: OneCycleLR cycles them) after construction
   and after each of 30 steps (the momentum is SGD's, or Adam's β₁). The rates are doubles computed by the same
   formulas in the same order with the same libm, so they are compared
   exactly (==); a difference in the last bit is a formula written
   differently. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "golden_train.h"

/* An optimizer as make_opt() in the script: two parameters, two groups. */
static tg_optim *make_opt(tg_params *p, const char *kind)
{
    tg_params_add(p, "a", TG_SHAPE(2));
    tg_params_add(p, "b", TG_SHAPE(2));
    tg_optim *o;
    if (strcmp(kind, "sgd") == 0) o = tg_sgd_new(p, &(tg_sgd_opts){.lr = 0.1, .momentum = 0.9});
    else if (strcmp(kind, "sgd_plain") == 0) o = tg_sgd_new(p, &(tg_sgd_opts){.lr = 0.1});
    else {
        tg_adam_opts ao = tg_adam_defaults(0.1);
        ao.beta2 = 0.99;
        o = tg_adam_new(p, &ao);
    }
    cr_assert_not_null(o);
    tg_param_group g[2] = {tg_param_group_new(), tg_param_group_new()};
    g[0].names = (const char *const[]){"a"};
    g[1].names = (const char *const[]){"b"};
    g[0].n_names = g[1].n_names = 1;
    g[0].lr = 0.1;
    g[1].lr = 0.02;
    cr_assert_eq(tg_optim_set_groups(o, 2, g), TG_OK);
    return o;
}

/* The scheduler of golden case `name`, made over o as the script makes it. */
static tg_sched *make_sched(const char *name, tg_optim *o)
{
    const int64_t T = 30;
    if (!strcmp(name, "step")) return tg_sched_step_lr(o, 3, 0.5);
    if (!strcmp(name, "multistep")) return tg_sched_multistep_lr(o, 4, (int64_t[]){2, 5, 5, 9}, 0.3);
    if (!strcmp(name, "exponential")) return tg_sched_exponential_lr(o, 0.9);
    if (!strcmp(name, "cosine")) return tg_sched_cosine_lr(o, 10, 0.001);
    if (!strcmp(name, "cosine_zero_min")) return tg_sched_cosine_lr(o, 7, 0);
    if (!strcmp(name, "warm_restarts")) return tg_sched_cosine_warm_restarts(o, 3, 2, 0.01);
    if (!strcmp(name, "warm_restarts_mult1")) return tg_sched_cosine_warm_restarts(o, 4, 1, 0);
    if (!strcmp(name, "linear_warmup")) return tg_sched_linear_lr(o, 0.25, 1.0, 4);
    if (!strcmp(name, "linear_decay")) return tg_sched_linear_lr(o, 1.0, 0.1, 20);
    if (!strcmp(name, "onecycle_cos")) {
        tg_one_cycle_opts c = tg_one_cycle_defaults(0, T);
        c.max_lrs = (const double[]){0.5, 0.1};
        return tg_sched_one_cycle(o, &c);
    }
    if (!strcmp(name, "onecycle_linear_3phase")) {
        tg_one_cycle_opts c = tg_one_cycle_defaults(0.4, T);
        c.pct_start = 0.25;
        c.anneal_linear = true;
        c.three_phase = true;
        c.div_factor = 10;
        c.final_div_factor = 100;
        c.base_momentum = 0.8;
        c.max_momentum = 0.9;
        return tg_sched_one_cycle(o, &c);
    }
    if (!strcmp(name, "onecycle_adam")) {
        tg_one_cycle_opts c = tg_one_cycle_defaults(0.01, T);
        c.pct_start = 0.4;
        return tg_sched_one_cycle(o, &c);
    }
    if (!strcmp(name, "onecycle_no_momentum")) {
        tg_one_cycle_opts c = tg_one_cycle_defaults(0.3, T);
        c.cycle_momentum = false;
        return tg_sched_one_cycle(o, &c);
    }
    if (!strcmp(name, "onecycle_sgd_plain")) {
        tg_one_cycle_opts c = tg_one_cycle_defaults(0.3, T);
        return tg_sched_one_cycle(o, &c);
    }
    if (!strcmp(name, "plateau_min_rel")) {
        tg_plateau_opts q = tg_plateau_defaults();
        q.factor = 0.5, q.patience = 2, q.threshold = 0.01, q.cooldown = 1;
        q.min_lrs = (const double[]){0.01, 0.001};
        return tg_sched_plateau(o, &q);
    }
    if (!strcmp(name, "plateau_max_abs")) {
        tg_plateau_opts q = tg_plateau_defaults();
        q.mode_max = true, q.factor = 0.3, q.patience = 1, q.threshold = 0.05;
        q.threshold_abs = true, q.eps = 1e-3;
        return tg_sched_plateau(o, &q);
    }
    if (!strcmp(name, "plateau_min_abs")) {
        tg_plateau_opts q = tg_plateau_defaults();
        q.factor = 0.1, q.patience = 0, q.threshold = 0, q.threshold_abs = true, q.min_lr = 0.0005;
        return tg_sched_plateau(o, &q);
    }
    if (!strcmp(name, "sequential_warmup_cosine")) {
        tg_sched *s[2];
        s[0] = tg_sched_linear_lr(o, 0.1, 1.0, 5);
        s[1] = tg_sched_cosine_lr(o, 25, 0.001);
        return tg_sched_sequential(o, 2, s, (const int64_t[]){5});
    }
    if (!strcmp(name, "sequential_three")) {
        tg_sched *s[3];
        s[0] = tg_sched_exponential_lr(o, 0.8);
        s[1] = tg_sched_step_lr(o, 2, 0.5);
        s[2] = tg_sched_linear_lr(o, 0.5, 1.0, 6);
        return tg_sched_sequential(o, 3, s, (const int64_t[]){4, 12});
    }
    if (!strcmp(name, "chained")) {
        tg_sched *s[2];
        s[0] = tg_sched_exponential_lr(o, 0.95);
        s[1] = tg_sched_multistep_lr(o, 2, (int64_t[]){3, 8}, 0.5);
        return tg_sched_chained(2, s);
    }
    cr_assert(false, "no scheduler for golden case %s", name);
    return NULL;
}

Test(sched, rates_match_torch_step_for_step)
{
    gtr_file *f = gtr_load("toolkit_sched.txt");
    int cases = 0;
    for (int i = 0; i < f->n; i++) {
        const gtr_group *g = &f->groups[i];
        const char *name = g->name + strlen("sched_");
        tg_params *p = tg_params_new();
        tg_optim *o = make_opt(p, gtr_attr_str(g, "optim"));
        tg_sched *s = make_sched(name, o);
        cr_assert_not_null(s, "%s: %s", name, tg_last_error());
        const gtr_item *lr = gtr_item_of(g, "lr");
        const gtr_item *mom = gtr_item_of(g, "momentum");
        const gtr_item *metrics = gtr_find_item(g, "metrics");
        int steps = (int)gtr_attr(g, "steps");
        cr_assert_eq(lr->n, 2 * (steps + 1));
        for (int t = 0; t <= steps; t++) {
            if (t > 0) {
                cr_assert_eq(tg_optim_step(o), TG_OK);
                int st = metrics ? tg_sched_step_metric(s, metrics->v[t - 1]) : tg_sched_step(s);
                cr_assert_eq(st, TG_OK, "%s step %d: %s", name, t, tg_last_error());
            }
            for (int k = 0; k < 2; k++) {
                double want = lr->v[2 * t + k], got = tg_optim_get_group_lr(o, k);
                cr_expect(got == want, "%s: after %d steps group %d's lr is %.17g, PyTorch %.17g",
                          name, t, k, got, want);
                cr_expect(tg_sched_get_last_lr(s, k) == got, "%s: get_last_lr", name);
                want = mom->v[2 * t + k], got = tg_optim_get_group_momentum(o, k);
                cr_expect(got == want, "%s: after %d steps group %d's momentum is %.17g, "
                          "PyTorch %.17g", name, t, k, got, want);
            }
        }
        cr_expect_eq(tg_sched_last_epoch(s), steps, "%s: last_epoch %lld", name,
                     (long long)tg_sched_last_epoch(s));
        tg_sched_free(s);
        tg_optim_free(o);
        tg_params_free(p);
        cases++;
    }
    cr_expect_geq(cases, 19, "only %d cases", cases);
    gtr_free(f);
}

/* Refusals: bad arguments, a step past OneCycleLR's total, a metric to a
   scheduler that takes none (and none to one that needs it), schedulers
   of another optimizer, groups changed after the scheduler was made. A
   refused step changes no rate. */
Test(sched, refusals_change_nothing)
{
    tg_params *p = tg_params_new(), *q = tg_params_new();
    tg_optim *o = make_opt(p, "sgd"), *o2 = make_opt(q, "sgd");
    cr_expect_null(tg_sched_step_lr(o, 0, 0.5));
    cr_expect(strstr(tg_last_error(), "step_size") != NULL, "%s", tg_last_error());
    cr_expect_null(tg_sched_step_lr(NULL, 1, 0.5));
    cr_expect_null(tg_sched_cosine_lr(o, 0, 0));
    cr_expect_null(tg_sched_cosine_warm_restarts(o, 3, 0, 0));
    cr_expect_null(tg_sched_linear_lr(o, 0, 1, 5), "start_factor 0 divides by zero in PyTorch");
    cr_expect_null(tg_sched_linear_lr(o, 0.5, 1.5, 5));
    cr_expect_null(tg_sched_multistep_lr(o, 2, NULL, 0.1));
    cr_expect_null(tg_sched_exponential_lr(o, NAN));
    tg_plateau_opts pl = tg_plateau_defaults();
    pl.factor = 1;
    cr_expect_null(tg_sched_plateau(o, &pl));
    cr_expect(tg_optim_get_group_lr(o, 0) == 0.1 && tg_optim_get_group_lr(o, 1) == 0.02,
              "failed constructors change no rate");

    tg_adagrad_opts ao = tg_adagrad_defaults(0.1);
    tg_optim *ada = tg_adagrad_new(p, &ao);
    tg_one_cycle_opts c = tg_one_cycle_defaults(0.5, 3);
    cr_expect_null(tg_sched_one_cycle(ada, &c));
    cr_expect(strstr(tg_last_error(), "cycle_momentum") != NULL, "%s", tg_last_error());
    c.cycle_momentum = false;
    tg_sched *oc = tg_sched_one_cycle(ada, &c);
    cr_assert_not_null(oc, "%s", tg_last_error());
    for (int i = 0; i < 3; i++) cr_expect_eq(tg_sched_step(oc), TG_OK);
    double lr = tg_optim_get_lr(ada);
    cr_expect_eq(tg_sched_step(oc), TG_ERR_STATE);
    cr_expect(strstr(tg_last_error(), "total_steps") != NULL, "%s", tg_last_error());
    cr_expect(tg_optim_get_lr(ada) == lr && tg_sched_last_epoch(oc) == 3);
    cr_expect_eq(tg_sched_step_metric(oc, 1.0), TG_ERR_INVALID);
    tg_sched_free(oc);
    tg_optim_free(ada);

    tg_sched *plat = tg_sched_plateau(o, NULL);
    cr_expect_eq(tg_sched_step(plat), TG_ERR_STATE);
    cr_expect(strstr(tg_last_error(), "tg_sched_step_metric") != NULL, "%s", tg_last_error());
    tg_sched *a = tg_sched_exponential_lr(o, 0.5), *b = tg_sched_exponential_lr(o2, 0.5);
    cr_expect_null(tg_sched_sequential(o, 2, (tg_sched *[]){a, b}, (int64_t[]){3}));
    cr_expect(strstr(tg_last_error(), "another optimizer") != NULL, "%s", tg_last_error());
    cr_expect_null(tg_sched_sequential(o, 2, (tg_sched *[]){a, plat}, (int64_t[]){3}));
    cr_expect_null(tg_sched_chained(2, (tg_sched *[]){a, a}));
    cr_expect_null(tg_sched_sequential(o, 2, (tg_sched *[]){a, a}, NULL));
    tg_sched_free(plat);
    tg_sched_free(a);
    tg_sched_free(b);
    tg_optim_free(o2);
    tg_params_free(q);

    /* groups changed after the scheduler: refused */
    tg_sched *e = tg_sched_exponential_lr(o, 0.5);
    tg_param_group all = tg_param_group_new();
    all.filter = tg_param_is_1d;
    cr_assert_eq(tg_optim_set_groups(o, 1, &all), TG_OK);
    cr_expect_eq(tg_sched_step(e), TG_ERR_STATE);
    cr_expect(strstr(tg_last_error(), "groups") != NULL, "%s", tg_last_error());
    cr_expect_eq(tg_sched_step(NULL), TG_ERR_INVALID);
    cr_expect_str_eq(tg_sched_name(e), "ExponentialLR");
    tg_sched_free(e);
    tg_sched_free(NULL);
    tg_optim_free(o);
    tg_params_free(p);
}

/* A scheduler has one owner: one that a ChainedScheduler or SequentialLR took
   is refused by another (both would step it and free it). */
Test(sched, a_scheduler_taken_over_is_refused_again)
{
    tg_params *p = tg_params_new();
    tg_optim *o = make_opt(p, "sgd");
    tg_sched *e = tg_sched_exponential_lr(o, 0.9);
    tg_sched *c1 = tg_sched_chained(1, &e);
    cr_assert_not_null(c1, "%s", tg_last_error());
    cr_expect_null(tg_sched_chained(2, (tg_sched *[]){c1, e}));
    cr_expect(strstr(tg_last_error(), "tg_sched_chained: scheduler 1 (ExponentialLR) already "
                     "belongs to a ChainedScheduler") != NULL, "%s", tg_last_error());
    cr_expect_null(tg_sched_sequential(o, 1, &e, NULL));
    cr_expect(strstr(tg_last_error(), "tg_sched_sequential: scheduler 0") != NULL, "%s",
              tg_last_error());
    tg_sched *s1 = tg_sched_sequential(o, 1, &c1, NULL);
    cr_expect_null(s1, "a ChainedScheduler inside a SequentialLR is refused anyway");
    tg_sched *c2 = tg_sched_chained(1, &c1); /* c1 itself has no owner yet */
    cr_assert_not_null(c2, "%s", tg_last_error());
    cr_expect_null(tg_sched_chained(1, &c1));
    cr_expect_eq(tg_sched_step(c2), TG_OK);
    cr_expect(fabs(tg_optim_get_group_lr(o, 0) - 0.09) < 1e-15, "e stepped once: %.17g",
              tg_optim_get_group_lr(o, 0));
    tg_sched_free(c2); /* frees c1 and e, once each */
    tg_optim_free(o);
    tg_params_free(p);
}
