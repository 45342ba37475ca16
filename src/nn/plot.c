/* tg_plot_curves: an SVG picture of training curves (loss and accuracy of
   a run), one chart per panel, stacked, written by hand: axes with ticks
   at 1, 2 or 5 times a power of ten, a light grid, a polyline per curve
   and a legend beside each chart. Coordinates are written in tenths of a
   pixel by integer arithmetic (never through printf's %f, whose decimal
   point follows the locale); text is escaped for XML. */
#include "nn/nn_internal.h"

#include <errno.h>
#include <float.h>
#include <stdio.h>

enum { W = 760, PANEL_H = 250, TOP = 44, LEFT = 72, RIGHT = 170, GAP = 36, MAX_PANELS = 8 };

static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                     "#9467bd", "#8c564b", "#e377c2", "#17becf"};

/* v in tenths of a pixel: "123.4". NaN is written as 0 and v is clamped to
   ±10⁹ first, so the conversion to long long is always defined. */
static void put_coord(FILE *f, double v)
{
    if (!(fabs(v) <= 1e9)) v = v > 0 ? 1e9 : v < 0 ? -1e9 : 0;
    long long t = (long long)(v * 10 + (v >= 0 ? 0.5 : -0.5));
    if (t < 0) fprintf(f, "-%lld.%lld", -t / 10, -t % 10);
    else fprintf(f, "%lld.%lld", t / 10, t % 10);
}

static void put_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            /* XML 1.0 allows no control characters but tab, CR and LF */
            if ((unsigned char)*s >= 0x20 || *s == '\t' || *s == '\n') fputc(*s, f);
        }
    }
}

/* Where v lies in [lo, hi], from 0 to 1; halved first when hi − lo
   overflows (1e308 − (−1e308)), so finite ends give a finite answer. */
static double frac(double v, double lo, double hi)
{
    double d = hi - lo;
    return isfinite(d) ? (v - lo) / d : (v / 2 - lo / 2) / (hi / 2 - lo / 2);
}

/* The step between ticks of [lo, hi] (lo < hi, both finite): 1, 2 or 5 ×
   10^k, about a fifth of the span; the span itself where that fifth is
   below the smallest double. Finite for every finite lo < hi. */
static double tick_step(double lo, double hi)
{
    double d = hi - lo, raw = isfinite(d) ? d / 5 : hi / 5 - lo / 5;
    double p = raw > 0 ? pow(10, floor(log10(raw))) : 0;
    if (!(p > 0) || !isfinite(p)) return d;
    double m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/* Widens [*lo, *hi] by d on each side, within the finite doubles. */
static void widen(double *lo, double *hi, double d)
{
    *lo = fmax(*lo - d, -DBL_MAX);
    *hi = fmin(*hi + d, DBL_MAX);
}

/* The ticks first, first + step, ... up to hi, through an index (adding
   step to a large value can leave it unchanged), each value once. */
enum { MAX_TICKS = 24 };
static int ticks(double first, double hi, double step, double *v)
{
    int n = 0;
    for (int i = 0; n < MAX_TICKS && i < 4 * MAX_TICKS; i++) {
        double t = first + i * step;
        if (!isfinite(t) || !(t <= hi + step * 1e-6)) break;
        if (n == 0 || t != v[n - 1]) v[n++] = t;
    }
    return n;
}

/* A tick label: as short as %g makes it, -0 as 0. */
static void put_tick(FILE *f, double v, double step)
{
    if (fabs(v) < step * 1e-9) v = 0;
    char buf[32];
    snprintf(buf, sizeof buf, "%.4g", v);
    put_text(f, buf);
}

static bool point(const tg_curve *c, int64_t i, double *x, double *y)
{
    *x = c->x ? c->x[i] : (double)i;
    *y = c->y[i];
    return isfinite(*x) && isfinite(*y);
}

static void panel(FILE *f, int k, int n, const tg_curve *cs, const char *x_label, bool last)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int c = 0; c < n; c++)
        for (int64_t i = 0; cs[c].panel == k && i < cs[c].n; i++) {
            double x, y;
            if (!point(&cs[c], i, &x, &y)) continue;
            x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
        }
    if (!(x0 <= x1)) x0 = 0, x1 = 1, y0 = 0, y1 = 1; /* nothing finite to draw */
    /* a single value gets a range around it: ±1 in x, ±10% in y; ±1 and
       ±10% again where that vanished in rounding (1e300 ± 1, 1e-320 · 0.1) */
    if (x0 == x1) widen(&x0, &x1, 1);
    if (x0 == x1) widen(&x0, &x1, fabs(x0) * 0.1);
    if (y0 == y1) widen(&y0, &y1, fabs(y0) > 0 ? fabs(y0) * 0.1 : 1);
    if (y0 == y1) widen(&y0, &y1, 1);
    double ys = tick_step(y0, y1), xs = tick_step(x0, x1);
    /* y's ends on ticks, unless that passes the largest double */
    double r0 = floor(y0 / ys) * ys, r1 = ceil(y1 / ys) * ys;
    double y_first = isfinite(r0) ? r0 : ceil(y0 / ys) * ys;
    if (isfinite(r0)) y0 = r0;
    if (isfinite(r1)) y1 = r1;
    const double top = TOP + k * (PANEL_H + GAP), h = PANEL_H, w = W - LEFT - RIGHT;
#define PX(v) (LEFT + frac(v, x0, x1) * w)
#define PY(v) (top + h - frac(v, y0, y1) * h)
    double tv[MAX_TICKS];
    fprintf(f, "<g font-family=\"sans-serif\" font-size=\"11\" fill=\"#333\">\n");
    for (int i = 0, nt = ticks(y_first, y1, ys, tv); i < nt; i++) {
        double v = tv[i];
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"", LEFT, LEFT + (int)w);
        put_coord(f, PY(v));
        fprintf(f, "\" y2=\"");
        put_coord(f, PY(v));
        fprintf(f, "\" stroke=\"#e5e5e5\"/>\n<text x=\"%d\" y=\"", LEFT - 6);
        put_coord(f, PY(v) + 4);
        fprintf(f, "\" text-anchor=\"end\">");
        put_tick(f, v, ys);
        fprintf(f, "</text>\n");
    }
    for (int i = 0, nt = ticks(ceil(x0 / xs) * xs, x1, xs, tv); i < nt; i++) {
        double v = tv[i];
        fprintf(f, "<line y1=\"");
        put_coord(f, top);
        fprintf(f, "\" y2=\"");
        put_coord(f, top + h + 4);
        fprintf(f, "\" x1=\"");
        put_coord(f, PX(v));
        fprintf(f, "\" x2=\"");
        put_coord(f, PX(v));
        fprintf(f, "\" stroke=\"#e5e5e5\"/>\n<text y=\"");
        put_coord(f, top + h + 16);
        fprintf(f, "\" x=\"");
        put_coord(f, PX(v));
        fprintf(f, "\" text-anchor=\"middle\">");
        put_tick(f, v, xs);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "<rect x=\"%d\" y=\"", LEFT);
    put_coord(f, top);
    fprintf(f, "\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", (int)w, (int)h);
    int shown = 0;
    for (int c = 0; c < n; c++) {
        if (cs[c].panel != k) continue;
        const char *col = colors[c % 8];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", col);
        bool first = true;
        for (int64_t i = 0; i < cs[c].n; i++) {
            double x, y;
            if (!point(&cs[c], i, &x, &y)) continue;
            if (!first) fputc(' ', f);
            first = false;
            put_coord(f, PX(x));
            fputc(',', f);
            put_coord(f, PY(y));
        }
        fprintf(f, "\"/>\n");
        double ly = top + 14 + 18 * shown++;
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"", W - RIGHT + 14, W - RIGHT + 34);
        put_coord(f, ly - 4);
        fprintf(f, "\" y2=\"");
        put_coord(f, ly - 4);
        fprintf(f, "\" stroke=\"%s\" stroke-width=\"2.5\"/>\n<text x=\"%d\" y=\"", col,
                W - RIGHT + 40);
        put_coord(f, ly);
        fprintf(f, "\">");
        put_text(f, cs[c].name ? cs[c].name : "");
        fprintf(f, "</text>\n");
    }
    if (last && x_label) {
        fprintf(f, "<text x=\"%d\" y=\"", LEFT + (int)w / 2);
        put_coord(f, top + h + 32);
        fprintf(f, "\" text-anchor=\"middle\">");
        put_text(f, x_label);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</g>\n");
#undef PX
#undef PY
}

int tg_plot_curves(const char *path, const char *title, const char *x_label, int n,
                   const tg_curve *curves)
{
    const char *fn = "tg_plot_curves";
    if (!path || n < 1 || !curves)
        return tg_set_error(TG_ERR_INVALID, "%s: needs a path and 1 or more curves", fn);
    int panels = 0;
    for (int c = 0; c < n; c++) {
        if (curves[c].n < 0 || (curves[c].n > 0 && !curves[c].y))
            return tg_set_error(TG_ERR_INVALID, "%s: curve %d has no values", fn, c);
        if (curves[c].panel < 0 || curves[c].panel >= MAX_PANELS)
            return tg_set_error(TG_ERR_INVALID, "%s: curve %d's panel %d is not in [0, %d)", fn,
                                c, curves[c].panel, MAX_PANELS);
        if (curves[c].panel + 1 > panels) panels = curves[c].panel + 1;
    }
    FILE *f = fopen(path, "w");
    if (!f) return tg_set_error(TG_ERR_IO, "%s: cannot create %s: %s", fn, path, strerror(errno));
    int h = TOP + panels * (PANEL_H + GAP) + 10;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\">\n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
            W, h, W, h, W, h);
    if (title) {
        fprintf(f, "<text x=\"%d\" y=\"26\" font-family=\"sans-serif\" font-size=\"15\" "
                   "text-anchor=\"middle\" fill=\"#222\">", W / 2);
        put_text(f, title);
        fprintf(f, "</text>\n");
    }
    for (int k = 0; k < panels; k++) panel(f, k, n, curves, x_label, k == panels - 1);
    fprintf(f, "</svg>\n");
    bool ok = !ferror(f);
    if (fclose(f) != 0) ok = false;
    if (!ok) return tg_set_error(TG_ERR_IO, "%s: cannot write %s", fn, path);
    return TG_OK;
}
