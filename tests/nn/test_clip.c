/* Gradient clipping against torch.nn.utils.clip_grad_norm_ and
   clip_grad_value_ (tests/golden/toolkit_clip_*.txt, written by
   tests/gen_golden_toolkit.py): p0 [3,4] and p1 [5] with given gradients
   and p2 [2] whose gradient is NULL (None in PyTorch), for norms of order
   2, ∞, 1, 3 and 0.5, clipping and not, gradients of 1e-20 and 1e30, an
   infinite gradient. Tolerance gt_default_tol() (float rtol 1e-5, double
   rtol 1e-12): the norm is summed in a different order (and in double for
   float), the scaling is PyTorch's.

   Float gradients of 1e30: PyTorch's float32 norm overflows to inf (its
   squares pass 3.4e38) and scales every gradient by 0; tapegrad sums in
   double and gets the norm that PyTorch computes in float64 on the same
   values (the golden file's total_exact), which the test requires. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "golden.h"
#include "golden_train.h"

static void run_clip(const gtr_group *g, int *overflows)
{
    tg_params *p = tg_params_new();
    tg_tensor *x[3] = {tg_params_add(p, "p0", TG_SHAPE(3, 4)), tg_params_add(p, "p1", TG_SHAPE(5)),
                       tg_params_add(p, "p2", TG_SHAPE(2))};
    for (int k = 0; k < 2; k++) {
        char name[8];
        snprintf(name, sizeof name, "g%d", k);
        const gtr_item *it = gtr_item_of(g, name);
        for (int64_t i = 0; i < it->n; i++) x[k]->grad[i] = (tg_real)it->v[i];
    }
    x[2]->grad[0] = 1e30f; /* must stay out of the norm: released below */
    tg_real *home = x[2]->grad;
    x[2]->grad = NULL;
    bool exact = gtr_has_attr(g, "torch_overflows");
    if (exact) ++*overflows;
    char what[160];
    if (strcmp(gtr_attr_str(g, "norm_type"), "value") == 0) {
        cr_assert_eq(tg_clip_grad_value(p, gtr_attr(g, "max")), TG_OK);
    } else {
        double norm = gtr_attr(g, "norm_type");
        double total = tg_clip_grad_norm(p, gtr_attr(g, "max"), norm, false);
        tg_real t = (tg_real)total;
        snprintf(what, sizeof what, "%s: the total norm", g->name);
        gt_expect_close(&t, gtr_item_of(g, exact ? "total_exact" : "total")->v, 1,
                        gt_default_tol(), what);
    }
    for (int k = 0; k < 2; k++) {
        char name[16];
        snprintf(name, sizeof name, exact ? "out_exact%d" : "out%d", k);
        snprintf(what, sizeof what, "%s: gradient %d", g->name, k);
        gt_expect_close(x[k]->grad, gtr_item_of(g, name)->v, x[k]->size, gt_default_tol(), what);
    }
    cr_expect_null(x[2]->grad, "%s: a released gradient stays released", g->name);
    cr_expect(home[0] == 1e30f, "%s: a released gradient is not scaled", g->name);
    tg_params_free(p);
}

Test(clip, norms_and_values_match_torch)
{
    gtr_file *f = gtr_load(
#ifdef TG_DOUBLE
        "toolkit_clip_f64.txt"
#else
        "toolkit_clip_f32.txt"
#endif
    );
    int n = 0, overflows = 0;
    for (int i = 0; i < f->n; i++) {
        run_clip(&f->groups[i], &overflows);
        n++;
    }
    cr_expect_geq(n, 10, "only %d cases", n);
#ifndef TG_DOUBLE
    cr_expect_eq(overflows, 1, "the float file has one case where PyTorch's float norm overflows");
#endif
    gtr_free(f);
}

/* error_if_nonfinite: the norm is NaN or infinite, the call fails and no
   gradient changes; without it a NaN spreads, as in PyTorch. Bad
   arguments are refused. */
Test(clip, nonfinite_norms_and_bad_arguments)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(3));
    w->grad[0] = 3, w->grad[1] = NAN, w->grad[2] = 4;
    cr_expect(tg_clip_grad_norm(p, 1, 2, true) == -1);
    cr_expect(strstr(tg_last_error(), "left unchanged") != NULL, "%s", tg_last_error());
    cr_expect(w->grad[0] == 3 && isnan(w->grad[1]) && w->grad[2] == 4);
    cr_expect(isnan(tg_clip_grad_norm(p, 1, INFINITY, false)), "max(|NaN|, ...) is NaN");
    cr_expect(isnan(w->grad[0]) && isnan(w->grad[2]));

    w->grad[0] = 3, w->grad[1] = 0, w->grad[2] = 4;
    cr_expect(tg_clip_grad_norm(p, 1, 0, false) == -1);
    cr_expect(strstr(tg_last_error(), "norm_type") != NULL, "%s", tg_last_error());
    cr_expect(tg_clip_grad_norm(p, -1, 2, false) == -1);
    cr_expect(tg_clip_grad_norm(p, INFINITY, 2, false) == -1);
    cr_expect(tg_clip_grad_norm(NULL, 1, 2, false) == -1);
    cr_expect(tg_clip_grad_value(p, -1) == TG_ERR_INVALID);
    cr_expect(tg_clip_grad_value(p, NAN) == TG_ERR_INVALID);
    cr_expect(tg_clip_grad_value(NULL, 1) == TG_ERR_INVALID);
    cr_expect(w->grad[0] == 3 && w->grad[2] == 4, "refused calls change nothing");

    /* 3-4-5: norm 5, clipped to 1 (coef 1/(5 + 1e-6)) */
    double total = tg_clip_grad_norm(p, 1, 2, true);
    cr_expect(total == 5, "got %g", total);
    tg_real coef = (tg_real)1 / ((tg_real)5 + (tg_real)1e-6);
    cr_expect(w->grad[0] == 3 * coef && w->grad[2] == 4 * coef);
    tg_params_free(p);
}

/* In float, 10⁶ gradients of 1e-4 plus one of 1: float's running sum of
   squares loses the small ones' 1e-2 once it holds 1 (each square is 1e-8,
   under half an ulp of 1, 6e-8); the double sum keeps them: the norm is
   √(1 + 10⁶·1e-8) = √1.01. */
Test(clip, the_norm_is_summed_in_double)
{
    tg_params *p = tg_params_new();
    tg_tensor *big = tg_params_add(p, "big", TG_SHAPE(1));
    tg_tensor *small = tg_params_add(p, "small", TG_SHAPE(1000000));
    big->grad[0] = 1;
    for (int64_t i = 0; i < small->size; i++) small->grad[i] = (tg_real)1e-4;
    double want = 0;
    for (int64_t i = 0; i < small->size; i++) want += (double)small->grad[i] * small->grad[i];
    want = sqrt(want + 1);
    double total = tg_clip_grad_norm(p, 1e9, 2, true);
    cr_expect(fabs(total - want) <= 1e-6 * want, "norm %.9g, want %.9g", total, want);
    tg_params_free(p);
}
