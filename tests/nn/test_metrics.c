#define _POSIX_C_SOURCE 200809L /* open_memstream */
/* Metrics (sklearn.metrics' definitions) on small cases worked out by hand
   below, and the SVG plot of training curves: well-formed XML (xmllint,
   from libxml2-utils), text escaped, a polyline per curve with its
   non-finite points left out. */
#include <criterion/criterion.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tapegrad.h>

/* 9 samples of 4 classes:
     i       0 1 2 3 4 5 6 7 8
     target  0 1 1 2 1 2 0 2 3
     pred    0 1 2 2 1 0 1 2 0
   confusion (rows true): [1 1 0 0; 0 2 1 0; 1 0 2 0; 1 0 0 0]; the
   columns sum to 3 3 3 0, the rows to 2 3 3 1.
   per class: precision 1/3 2/3 2/3 0 (class 3 never predicted: 0),
              recall    1/2 2/3 2/3 0,  F1 2/5 2/3 2/3 0;
   macro: precision 5/12, recall 11/24, F1 13/30; micro: all 5/9, the
   accuracy. */
static const int64_t target[9] = {0, 1, 1, 2, 1, 2, 0, 2, 3};
static const int64_t pred[9] = {0, 1, 2, 2, 1, 0, 1, 2, 0};

Test(metrics, classification)
{
    cr_expect(fabs(tg_accuracy(pred, target, 9) - 5.0 / 9) < 1e-15);
    int64_t cm[16];
    cr_assert_eq(tg_confusion_matrix(pred, target, 9, 4, cm), TG_OK);
    const int64_t want[16] = {1, 1, 0, 0, 0, 2, 1, 0, 1, 0, 2, 0, 1, 0, 0, 0};
    for (int i = 0; i < 16; i++) cr_expect_eq(cm[i], want[i], "cm[%d]", i);
    tg_prf m, u;
    cr_assert_eq(tg_precision_recall_f1(cm, 4, false, &m), TG_OK);
    cr_assert_eq(tg_precision_recall_f1(cm, 4, true, &u), TG_OK);
    cr_expect(fabs(m.precision - 5.0 / 12) < 1e-15, "macro precision %.17g", m.precision);
    cr_expect(fabs(m.recall - 11.0 / 24) < 1e-15, "macro recall %.17g", m.recall);
    cr_expect(fabs(m.f1 - 13.0 / 30) < 1e-15, "macro F1 %.17g", m.f1);
    cr_expect(fabs(u.precision - 5.0 / 9) < 1e-15 && fabs(u.recall - 5.0 / 9) < 1e-15 &&
              fabs(u.f1 - 5.0 / 9) < 1e-15);
    /* Classes that no sample has as target or prediction are left out of the
       macro average, as sklearn's default labels (those of y_true and
       y_pred): with 6 classes the same 5/12, 11/24, 13/30. sklearn 1.2.1:
       precision_recall_fscore_support(target, pred, average='macro',
       zero_division=0) gives (0.41666666666666663, 0.45833333333333326,
       0.43333333333333335); with labels=range(6) 5/18, 11/36, 13/45, what
       counting the absent classes as 0 gave before. A matrix without
       samples is NaN. */
    int64_t cm6[36];
    cr_assert_eq(tg_confusion_matrix(pred, target, 9, 6, cm6), TG_OK);
    cr_assert_eq(tg_precision_recall_f1(cm6, 6, false, &m), TG_OK);
    cr_assert_eq(tg_precision_recall_f1(cm6, 6, true, &u), TG_OK);
    cr_expect(fabs(m.precision - 5.0 / 12) < 1e-15 && fabs(m.recall - 11.0 / 24) < 1e-15 &&
                  fabs(m.f1 - 13.0 / 30) < 1e-15,
              "6 classes, macro: %.17g %.17g %.17g", m.precision, m.recall, m.f1);
    cr_expect(fabs(u.f1 - 5.0 / 9) < 1e-15, "6 classes, micro F1 %.17g", u.f1);
    cr_assert_eq(tg_confusion_matrix(pred, target, 0, 6, cm6), TG_OK);
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(tg_precision_recall_f1(cm6, 6, k, &m), TG_OK);
        cr_expect(isnan(m.precision) && isnan(m.recall) && isnan(m.f1), "no samples, micro %d", k);
    }
    /* a label out of range is refused, cm unchanged */
    const int64_t bad[9] = {0, 1, 2, 2, 1, 0, 1, 4, 0};
    cr_expect_eq(tg_confusion_matrix(bad, target, 9, 4, cm), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "sample 7 has prediction 4") != NULL, "%s", tg_last_error());
    cr_expect_eq(cm[0], 1);
    /* argmax: first of a tie, NaN never the largest */
    const tg_real logits[9] = {1, 3, 3, NAN, -1, -2, 0, 0, 0};
    int64_t am[3];
    cr_assert_eq(tg_argmax_rows(logits, 3, 3, am), TG_OK);
    cr_expect(am[0] == 1 && am[1] == 1 && am[2] == 0);
    cr_expect(isnan(tg_accuracy(pred, target, 0)));
    /* the printed table */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    tg_confusion_print(cm, 4, f);
    fclose(f);
    cr_expect(strstr(buf, "50.0%") != NULL && strstr(buf, "66.7%") != NULL, "%s", buf);
    free(buf);
}

/* MSE and R²: pred 1 2 3 4, target 1.5 2 2.5 5: residuals −0.5 0 0.5 −1,
   Σ² = 1.5, MSE 0.375; the targets' mean 2.75, Σ(y − ȳ)² = 7.25,
   R² = 1 − 1.5/7.25 = 23/29. */
Test(metrics, regression)
{
    const tg_real p[4] = {1, 2, 3, 4}, y[4] = {1.5, 2, 2.5, 5};
    cr_expect(tg_mse(p, y, 4) == 0.375);
    cr_expect(fabs(tg_r2_score(p, y, 4) - 23.0 / 29) < 1e-15, "%.17g", tg_r2_score(p, y, 4));
    const tg_real c[3] = {2, 2, 2}, d[3] = {2, 2, 3};
    cr_expect(tg_r2_score(c, c, 3) == 1, "constant targets, perfect fit");
    cr_expect(tg_r2_score(d, c, 3) == 0, "constant targets, imperfect fit");
    cr_expect(isnan(tg_mse(p, y, 0)) && isnan(tg_r2_score(p, y, 0)));
}

Test(metrics, svg_curves_are_well_formed)
{
    double loss[20], val[20], acc[20];
    for (int i = 0; i < 20; i++) {
        loss[i] = 2.3 * exp(-0.2 * i) + 0.05;
        val[i] = 2.4 * exp(-0.18 * i) + 0.1;
        acc[i] = 100 - 90 * exp(-0.25 * i);
    }
    val[7] = NAN;
    tg_curve cs[3] = {{.name = "train loss", .y = loss, .n = 20, .panel = 0},
                      {.name = "test loss <&> \"x\"", .y = val, .n = 20, .panel = 0},
                      {.name = "test accuracy (%)", .y = acc, .n = 20, .panel = 1}};
    char path[512];
    snprintf(path, sizeof path, "%s/tg_curves_%d.svg", TG_BINARY_DIR, (int)getpid());
    cr_assert_eq(tg_plot_curves(path, "MLP on MNIST", "epoch", 3, cs), TG_OK, "%s",
                 tg_last_error());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "xmllint --noout '%s'", path);
    int rc = system(cmd);
    cr_expect_eq(rc, 0, "xmllint (libxml2-utils) refused %s, or is not installed", path);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    cr_expect(strstr(text, "test loss &lt;&amp;&gt; &quot;x&quot;") != NULL);
    int polylines = 0, points = 0;
    for (const char *s = text; (s = strstr(s, "<polyline")); s++) {
        polylines++;
        const char *e = strstr(s, "\"/>");
        for (const char *q = strstr(s, "points=\""); q && q < e; q++) points += *q == ',';
    }
    cr_expect_eq(polylines, 3);
    cr_expect_eq(points, 59, "20 + 19 (the NaN left out) + 20 points");
    remove(path);
    cr_expect_eq(tg_plot_curves(path, NULL, NULL, 0, cs), TG_ERR_INVALID);
    cs[0].panel = 9;
    cr_expect_eq(tg_plot_curves(path, NULL, NULL, 3, cs), TG_ERR_INVALID);
}

/* Writes one curve (x NULL: 0, 1, ...) and checks that every coordinate of
   the picture is a number inside it: the attributes x, y, x1, x2, y1, y2 and
   each polyline's points. */
static void expect_drawn_inside(const char *tag, const double *x, const double *y, int64_t n)
{
    tg_curve c = {.name = "c", .x = x, .y = y, .n = n};
    char path[512];
    snprintf(path, sizeof path, "%s/tg_curves_extreme_%d.svg", TG_BINARY_DIR, (int)getpid());
    cr_assert_eq(tg_plot_curves(path, "t", "step", 1, &c), TG_OK, "%s: %s", tag,
                 tg_last_error());
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    remove(path);
    cr_assert_lt(len, sizeof text - 1, "%s: the picture is small", tag);
    int coords = 0;
    for (const char *s = text; *s; s++) {
        static const char *const keys[] = {" x=\"", " y=\"", "x1=\"", "x2=\"", "y1=\"", "y2=\"",
                                           "points=\""};
        for (int k = 0; k < 7; k++) {
            size_t kl = strlen(keys[k]);
            if (strncmp(s, keys[k], kl) != 0) continue;
            const char *q = s + kl;
            while (*q && *q != '"') {
                char *end;
                double v = strtod(q, &end);
                cr_assert(end != q && (*end == '"' || *end == ',' || *end == ' '),
                          "%s: not a number at %.30s", tag, q);
                cr_expect(v >= 0 && v <= 1000, "%s: coordinate %.30s outside the picture", tag,
                          q);
                coords++;
                q = *end == '"' ? end : end + 1;
            }
        }
    }
    cr_expect_gt(coords, 20, "%s", tag);
}

/* Finite values of any size: the range of ±1e308 overflowed to inf and the
   coordinates were NaN, converted to long long (undefined) */
Test(metrics, svg_curves_of_extreme_values_stay_inside)
{
    expect_drawn_inside("±1e308", NULL, (double[]){1e308, -1e308}, 2);
    expect_drawn_inside("DBL_MAX twice", NULL, (double[]){DBL_MAX, DBL_MAX}, 2);
    expect_drawn_inside("-DBL_MAX", NULL, (double[]){-DBL_MAX, 0, DBL_MAX}, 3);
    expect_drawn_inside("x ±DBL_MAX", (double[]){-DBL_MAX, DBL_MAX}, (double[]){1, 2}, 2);
    expect_drawn_inside("x 1e300 alone", (double[]){1e300}, (double[]){1}, 1);
    expect_drawn_inside("subnormal", NULL, (double[]){5e-324, 5e-324}, 2);
    expect_drawn_inside("subnormals", NULL, (double[]){5e-324, 1e-323}, 2);
}

/* A range narrower than the values' spacing allows: adding the tick step
   (0.5) to 1e16 left it unchanged, and the tick loop never ended */
Test(metrics, svg_curves_of_a_narrow_range_end, .timeout = 20)
{
    expect_drawn_inside("1e16 + 2", NULL, (double[]){1e16, 1e16 + 2}, 2);
    expect_drawn_inside("x 1e16 + 2", (double[]){1e16, 1e16 + 2}, (double[]){1, 2}, 2);
}
