/* Metrics over predictions, with sklearn.metrics' definitions: accuracy,
   the confusion matrix, precision, recall and F1 (macro and micro), mean
   squared error and R². Sums are taken in double. */
#include "nn/nn_internal.h"

#include <stdio.h>

int tg_argmax_rows(const tg_real *logits, int64_t n, int64_t classes, int64_t *pred)
{
    if ((!logits || !pred) && n > 0)
        return tg_set_error(TG_ERR_INVALID, "tg_argmax_rows: an array is NULL");
    if (classes < 1 || n < 0)
        return tg_set_error(TG_ERR_INVALID, "tg_argmax_rows: %lld rows of %lld classes",
                            (long long)n, (long long)classes);
    for (int64_t i = 0; i < n; i++) {
        const tg_real *row = logits + i * classes; /* [classes] */
        int64_t best = 0;
        for (int64_t k = 1; k < classes; k++)
            if (row[k] > row[best] || row[best] != row[best]) best = k;
        pred[i] = best;
    }
    return TG_OK;
}

/* NAN for the share of nothing (n = 0), and NAN with the thread's last
   error for arrays that are not there */
static bool metric_args(const char *fn, const void *pred, const void *target, int64_t n)
{
    if (n == 0) return false;
    if (!pred || !target || n < 0) {
        tg_set_error(TG_ERR_INVALID, "%s: %s", fn,
                     n < 0 ? "n is negative" : "pred or target is NULL");
        return false;
    }
    return true;
}

double tg_accuracy(const int64_t *pred, const int64_t *target, int64_t n)
{
    if (!metric_args("tg_accuracy", pred, target, n)) return NAN;
    int64_t right = 0;
    for (int64_t i = 0; i < n; i++) right += pred[i] == target[i];
    return (double)right / (double)n;
}

int tg_confusion_matrix(const int64_t *pred, const int64_t *target, int64_t n, int classes,
                        int64_t *cm)
{
    const char *fn = "tg_confusion_matrix";
    if (!cm || classes < 1 || n < 0 || (n > 0 && (!pred || !target)))
        return tg_set_error(TG_ERR_INVALID, "%s: NULL arrays or %d classes", fn, classes);
    for (int64_t i = 0; i < n; i++)
        if (pred[i] < 0 || pred[i] >= classes || target[i] < 0 || target[i] >= classes)
            return tg_set_error(TG_ERR_INVALID, "%s: sample %lld has %s %lld, outside [0, %d)",
                                fn, (long long)i, target[i] < 0 || target[i] >= classes
                                                      ? "target" : "prediction",
                                (long long)(target[i] < 0 || target[i] >= classes ? target[i]
                                                                                  : pred[i]),
                                classes);
    memset(cm, 0, (size_t)classes * (size_t)classes * sizeof *cm);
    for (int64_t i = 0; i < n; i++) cm[target[i] * classes + pred[i]]++;
    return TG_OK;
}

void tg_confusion_print(const int64_t *cm, int classes, FILE *f)
{
    if (!cm || !f || classes < 1) return;
    const int64_t n = classes; /* t * n + p in int64_t: t * classes overflows int past 46340 */
    fprintf(f, "confusion matrix (rows: true class, columns: predicted)\n%6s", "");
    for (int p = 0; p < classes; p++) fprintf(f, " %6d", p);
    fprintf(f, "  recall\n");
    for (int64_t t = 0; t < n; t++) {
        const int64_t *r = cm + t * n; /* [classes] row t */
        int64_t row = 0;
        fprintf(f, "%6lld", (long long)t);
        for (int64_t p = 0; p < n; p++) {
            fprintf(f, " %6lld", (long long)r[p]);
            row += r[p];
        }
        if (row) fprintf(f, "  %5.1f%%\n", 100.0 * (double)r[t] / (double)row);
        else fprintf(f, "       -\n");
    }
}

/* a / b, or 0 when b is 0 (sklearn's zero_division=0). */
static double ratio(double a, double b) { return b > 0 ? a / b : 0; }

int tg_precision_recall_f1(const int64_t *cm, int classes, bool micro, tg_prf *out)
{
    if (!cm || !out || classes < 1)
        return tg_set_error(TG_ERR_INVALID, "tg_precision_recall_f1: NULL arrays or %d classes",
                            classes);
    double tp_all = 0, fp_all = 0, fn_all = 0, p_sum = 0, r_sum = 0, f_sum = 0;
    int present = 0; /* classes that are a target or a prediction (sklearn's labels) */
    const int64_t n = classes; /* indices in int64_t: c * classes overflows int past 46340 */
    for (int64_t c = 0; c < n; c++) {
        double tp = (double)cm[c * n + c], pred = 0, actual = 0;
        for (int64_t k = 0; k < n; k++) {
            pred += (double)cm[k * n + c];   /* column c: predicted c */
            actual += (double)cm[c * n + k]; /* row c: truly c */
        }
        if (pred == 0 && actual == 0) continue; /* absent: not in the average */
        present++;
        double p = ratio(tp, pred), r = ratio(tp, actual);
        p_sum += p;
        r_sum += r;
        f_sum += ratio(2 * p * r, p + r);
        tp_all += tp;
        fp_all += pred - tp;
        fn_all += actual - tp;
    }
    if (!present) { /* no sample: the share of nothing, as tg_accuracy */
        *out = (tg_prf){NAN, NAN, NAN};
    } else if (micro) {
        double p = ratio(tp_all, tp_all + fp_all), r = ratio(tp_all, tp_all + fn_all);
        *out = (tg_prf){p, r, ratio(2 * p * r, p + r)};
    } else {
        *out = (tg_prf){p_sum / present, r_sum / present, f_sum / present};
    }
    return TG_OK;
}

double tg_mse(const tg_real *pred, const tg_real *target, int64_t n)
{
    if (!metric_args("tg_mse", pred, target, n)) return NAN;
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)pred[i] - (double)target[i];
        s += d * d;
    }
    return s / (double)n;
}

double tg_r2_score(const tg_real *pred, const tg_real *target, int64_t n)
{
    if (!metric_args("tg_r2_score", pred, target, n)) return NAN;
    double mean = 0, res = 0, tot = 0;
    for (int64_t i = 0; i < n; i++) mean += (double)target[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)target[i] - (double)pred[i], e = (double)target[i] - mean;
        res += d * d;
        tot += e * e;
    }
    if (tot == 0) return res == 0 ? 1.0 : 0.0;
    return 1 - res / tot;
}
