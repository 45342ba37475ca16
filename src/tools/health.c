/* Training health at a glance (tg_health): the diagnostics of Karpathy's
   makemore lecture 4 ("Activations & Gradients, BatchNorm").

     per layer:  histograms of the activations and of their gradients at the
                 latest observed step; the share of dead ReLU units (0 for
                 every sample of the batch) or of saturated tanh / sigmoid
                 values, at every observed step
     per weight: the update-to-data ratio log10(std(Δw)/std(w)) at every
                 step (about −3 is healthy: each step moves a weight by a
                 thousandth of its spread)

   and one SVG with the four plots. The kind of unit is read from the op
   that made the activation (its record on the tape), so nothing needs to
   be declared. */
#include "core/internal.h"

#include <stdlib.h>

enum { NBINS = 40 };

typedef struct {
    int *step;
    double *v;
    size_t n, cap;
} series;

static int series_add(series *s, int step, double v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        int *a = realloc(s->step, cap * sizeof *a);
        if (!a) return TG_ERR_NOMEM;
        s->step = a;
        double *b = realloc(s->v, cap * sizeof *b);
        if (!b) return TG_ERR_NOMEM;
        s->v = b;
        s->cap = cap;
    }
    s->step[s->n] = step;
    s->v[s->n++] = v;
    return TG_OK;
}

static void series_free(series *s)
{
    free(s->step);
    free(s->v);
}

/* A histogram of n values over their own range, with their mean and std. */
typedef struct {
    bool set;        /* values were observed (finite or not) */
    double lo, hi, mean, std;
    int64_t n;       /* the finite ones, binned */
    int64_t bad;     /* NaN or Inf */
    uint32_t count[NBINS];
} histogram;

static void histogram_of(histogram *h, const tg_real *v, int64_t n)
{
    memset(h, 0, sizeof *h);
    double lo = INFINITY, hi = -INFINITY, s = 0, ss = 0;
    int64_t good = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = (double)v[i];
        if (!isfinite(x)) continue;
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        s += x;
        good++;
    }
    h->set = n > 0;
    h->bad = n - good;
    if (!good) return;
    double mean = s / (double)good;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) ss += ((double)v[i] - mean) * ((double)v[i] - mean);
    if (hi == lo) { /* one value: a bin around it */
        double d = fmax(1e-12, 1e-6 * fabs(lo));
        lo -= d, hi += d;
    }
    *h = (histogram){.set = true, .lo = lo, .hi = hi, .mean = mean, .n = good, .bad = n - good,
                     .std = good > 1 ? sqrt(ss / (double)(good - 1)) : 0};
    for (int64_t i = 0; i < n; i++) {
        double x = (double)v[i];
        if (!isfinite(x)) continue;
        int b = (int)((x - lo) / (hi - lo) * NBINS);
        h->count[b < 0 ? 0 : b >= NBINS ? NBINS - 1 : b]++;
    }
}

typedef enum { UNIT_OTHER, UNIT_RELU, UNIT_TANH, UNIT_SIGMOID } unit_kind;

typedef struct {
    char *name;
    unit_kind kind;
    const char *op; /* the op's name, for the legend (a static string of the op) */
    int step;       /* of the histograms */
    histogram act, grad;
    double frac;    /* latest dead or saturated share */
    series fracs;   /* over the steps */
} layer;

typedef struct {
    /* the parameter measured: only compared with the live parameters given
       to tg_health_before/after_update, never read later (the model may be
       freed before the picture is written) */
    const tg_tensor *param;
    char *name; /* a copy of its name, for the picture */
    tg_real *before;
    int64_t n;
    bool have_before;
    series ratio;
} weight;

struct tg_health {
    layer *layers;
    size_t nl, capl;
    weight *weights;
    size_t nw, capw;
};

tg_health *tg_health_new(void)
{
    tg_health *h = calloc(1, sizeof *h);
    if (!h) tg_set_error(TG_ERR_NOMEM, "tg_health_new: out of memory");
    return h;
}

void tg_health_free(tg_health *h)
{
    if (!h) return;
    for (size_t i = 0; i < h->nl; i++) {
        free(h->layers[i].name);
        series_free(&h->layers[i].fracs);
    }
    for (size_t i = 0; i < h->nw; i++) {
        free(h->weights[i].name);
        free(h->weights[i].before);
        series_free(&h->weights[i].ratio);
    }
    free(h->layers);
    free(h->weights);
    free(h);
}

static unit_kind kind_of(const tg_tensor *y, const char **op)
{
    *op = NULL;
    if (y->rec < 0 || !y->tape) return UNIT_OTHER;
    const tg_record *r = tg_tape_record(y->tape, (size_t)y->rec);
    if (!r || r->out != y) return UNIT_OTHER;
    *op = r->op->name;
    if (!strcmp(*op, "relu") || !strcmp(*op, "relu6")) return UNIT_RELU;
    if (!strcmp(*op, "tanh")) return UNIT_TANH;
    if (!strcmp(*op, "sigmoid")) return UNIT_SIGMOID;
    return UNIT_OTHER;
}

/* The dead share of a relu layer: units (everything but the first axis)
   that are 0 for every sample; the saturated share of a tanh or sigmoid. */
static double dead_or_saturated(const tg_tensor *y, unit_kind k)
{
    if (k == UNIT_TANH || k == UNIT_SIGMOID) {
        int64_t sat = 0;
        for (int64_t i = 0; i < y->size; i++) {
            double v = (double)y->data[i];
            sat += k == UNIT_TANH ? fabs(v) > 0.97 : (v < 0.03 || v > 0.97);
        }
        return y->size ? (double)sat / (double)y->size : NAN;
    }
    if (k != UNIT_RELU) return NAN;
    int64_t rows = y->ndim >= 2 ? y->shape[0] : 1, units = rows ? y->size / rows : 0;
    int64_t dead = 0;
    for (int64_t u = 0; u < units; u++) {
        bool alive = false;
        for (int64_t r = 0; r < rows && !alive; r++) alive = y->data[r * units + u] > 0;
        dead += !alive;
    }
    return units ? (double)dead / (double)units : NAN;
}

int tg_health_observe(tg_health *h, int step, const char *name, const tg_tensor *y)
{
    if (!h || !name || !y || !y->data)
        return tg_set_error(TG_ERR_INVALID, "tg_health_observe: %s is NULL",
                            !h ? "the record" : !name ? "the layer's name" : "the activation");
    layer *l = NULL;
    for (size_t i = 0; i < h->nl && !l; i++)
        if (!strcmp(h->layers[i].name, name)) l = &h->layers[i];
    if (!l) {
        if (h->nl == h->capl) {
            size_t cap = h->capl ? 2 * h->capl : 8;
            layer *v = realloc(h->layers, cap * sizeof *v);
            if (!v) return tg_set_error(TG_ERR_NOMEM, "tg_health_observe: out of memory");
            h->layers = v;
            h->capl = cap;
        }
        l = &h->layers[h->nl];
        memset(l, 0, sizeof *l);
        size_t len = strlen(name);
        l->name = malloc(len + 1);
        if (!l->name) return tg_set_error(TG_ERR_NOMEM, "tg_health_observe: out of memory");
        memcpy(l->name, name, len + 1);
        h->nl++;
    }
    l->kind = kind_of(y, &l->op);
    l->step = step;
    histogram_of(&l->act, y->data, y->size);
    if (y->grad) histogram_of(&l->grad, y->grad, y->size);
    else l->grad.set = false;
    l->frac = dead_or_saturated(y, l->kind);
    if (!isnan(l->frac) && series_add(&l->fracs, step, l->frac) != TG_OK)
        return tg_set_error(TG_ERR_NOMEM, "tg_health_observe: out of memory");
    return TG_OK;
}

/* The weight entry of parameter x (the same tensor under the same name: a
   freed model's address may come back for another), made on first sight
   with a copy of its name. NULL if out of memory. */
static weight *weight_of(tg_health *h, const tg_tensor *x)
{
    const char *nm = x->name ? x->name : "?";
    for (size_t i = 0; i < h->nw; i++)
        if (h->weights[i].param == x && !strcmp(h->weights[i].name, nm)) return &h->weights[i];
    if (h->nw == h->capw) {
        size_t cap = h->capw ? 2 * h->capw : 8;
        weight *v = realloc(h->weights, cap * sizeof *v);
        if (!v) return NULL;
        h->weights = v;
        h->capw = cap;
    }
    size_t len = strlen(nm);
    char *name = malloc(len + 1);
    if (!name) return NULL;
    memcpy(name, nm, len + 1);
    weight *w = &h->weights[h->nw++];
    memset(w, 0, sizeof *w);
    w->param = x;
    w->name = name;
    return w;
}

int tg_health_before_update(tg_health *h, const tg_params *p)
{
    if (!h || !p)
        return tg_set_error(TG_ERR_INVALID, "tg_health_before_update: %s is NULL",
                            !h ? "the record" : "the parameters");
    for (size_t i = 0; i < tg_params_count(p); i++) {
        const tg_tensor *x = tg_params_at(p, i);
        if (x->ndim < 2) continue; /* weights, not biases */
        weight *w = weight_of(h, x);
        if (w && w->n != x->size) {
            free(w->before);
            w->before = malloc((size_t)x->size * sizeof(tg_real));
            w->n = w->before ? x->size : 0;
        }
        if (!w || !w->before) return tg_set_error(TG_ERR_NOMEM, "tg_health_before_update: out of memory");
        memcpy(w->before, x->data, (size_t)x->size * sizeof(tg_real));
        w->have_before = true;
    }
    return TG_OK;
}

/* The sample standard deviation of a[i] − b[i] (b NULL: of a). */
static double std_of(const tg_real *a, const tg_real *b, int64_t n)
{
    if (n < 2) return 0;
    double s = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] - (b ? (double)b[i] : 0);
    double mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (b ? (double)b[i] : 0) - mean;
        ss += d * d;
    }
    return sqrt(ss / (double)(n - 1));
}

int tg_health_after_update(tg_health *h, const tg_params *p, int step)
{
    if (!h || !p)
        return tg_set_error(TG_ERR_INVALID, "tg_health_after_update: %s is NULL",
                            !h ? "the record" : "the parameters");
    for (size_t i = 0; i < h->nw; i++) {
        weight *w = &h->weights[i];
        if (!w->have_before) continue;
        bool found = false;
        for (size_t k = 0; k < tg_params_count(p) && !found; k++) /* live: may be read */
            found = tg_params_at(p, k) == w->param && !strcmp(w->param->name, w->name);
        if (!found || w->param->size != w->n) continue;
        double spread = std_of(w->param->data, NULL, w->n);
        double moved = std_of(w->param->data, w->before, w->n);
        w->have_before = false;
        double r = spread > 0 && moved > 0 ? log10(moved / spread) : NAN;
        if (!isnan(r) && series_add(&w->ratio, step, r) != TG_OK)
            return tg_set_error(TG_ERR_NOMEM, "tg_health_after_update: out of memory");
    }
    return TG_OK;
}

/* ------------------------------------------------------------ the picture */

static const char *const COLORS[] = {"#1971c2", "#e8590c", "#2f9e44", "#9c36b5",
                                     "#c92a2a", "#0c8599", "#5f3dc4", "#868e96"};
#define COLOR(i) COLORS[(i) % (sizeof COLORS / sizeof *COLORS)]

typedef struct {
    double x, y, w, h;       /* the plot area */
    double x0, x1, y0, y1;   /* the data range */
} panel;

static double px(const panel *p, double x) { return p->x + (x - p->x0) / (p->x1 - p->x0) * p->w; }
static double py(const panel *p, double y) { return p->y + p->h - (y - p->y0) / (p->y1 - p->y0) * p->h; }

/* A "nice" step for about n ticks over [lo, hi]. */
static double tick_step(double lo, double hi, int n)
{
    double raw = (hi - lo) / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static void svg_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

/* The frame, the title, the axes with their ticks and labels. */
static void axes(FILE *f, const panel *p, const char *title, const char *xlabel,
                 const char *ylabel)
{
    fprintf(f, "<g class=\"axes\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
               "fill=\"#fff\" stroke=\"#adb5bd\"/>\n",
            p->x, p->y, p->w, p->h);
    fprintf(f, "<text class=\"title\" x=\"%.1f\" y=\"%.1f\" font-size=\"13\" font-weight=\"600\">",
            p->x, p->y - 8);
    svg_text(f, title);
    fputs("</text>\n", f);
    double sx = tick_step(p->x0, p->x1, 6), sy = tick_step(p->y0, p->y1, 5);
    for (double v = ceil(p->x0 / sx) * sx; v <= p->x1 + 1e-9 * sx; v += sx) {
        double x = px(p, v);
        fprintf(f, "<line class=\"xtick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                   "stroke=\"#adb5bd\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.4g</text>\n",
                x, p->y + p->h, x, p->y + p->h + 4, x, p->y + p->h + 15, fabs(v) < 1e-9 * sx ? 0 : v);
    }
    for (double v = ceil(p->y0 / sy) * sy; v <= p->y1 + 1e-9 * sy; v += sy) {
        double y = py(p, v);
        fprintf(f, "<line class=\"ytick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                   "stroke=\"#e9ecef\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n",
                p->x, y, p->x + p->w, y, p->x - 4, y + 4, fabs(v) < 1e-9 * sy ? 0 : v);
    }
    fprintf(f, "<text class=\"xlabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", p->x + p->w / 2,
            p->y + p->h + 30);
    svg_text(f, xlabel);
    fprintf(f, "</text><text class=\"ylabel\" transform=\"translate(%.1f %.1f) rotate(-90)\" "
               "text-anchor=\"middle\">",
            p->x - 42, p->y + p->h / 2);
    svg_text(f, ylabel);
    fputs("</text></g>\n", f);
}

static void legend_line(FILE *f, const panel *p, int i, const char *color, const char *text)
{
    double x = p->x + p->w * 0.3, y = p->y + 14 + 14 * i;
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
               "stroke-width=\"2.5\"/><text class=\"legend\" x=\"%.1f\" y=\"%.1f\" stroke=\"#fff\" "
               "stroke-width=\"3\" paint-order=\"stroke\">",
            x, y - 4, x + 16, y - 4, color, x + 20, y);
    svg_text(f, text);
    fputs("</text>\n", f);
}

/* The histograms of one kind (activations or gradients), as densities on
   a common axis: one series per layer. */
static void histograms(FILE *f, const tg_health *h, const panel *frame, bool grads)
{
    panel p = *frame;
    p.x0 = INFINITY, p.x1 = -INFINITY, p.y0 = 0, p.y1 = 0;
    int step = 0;
    for (size_t i = 0; i < h->nl; i++) {
        const histogram *g = grads ? &h->layers[i].grad : &h->layers[i].act;
        step = h->layers[i].step > step ? h->layers[i].step : step;
        if (!g->set || !g->n) continue;
        p.x0 = fmin(p.x0, g->lo), p.x1 = fmax(p.x1, g->hi);
        double bw = (g->hi - g->lo) / NBINS;
        for (int b = 0; b < NBINS; b++) p.y1 = fmax(p.y1, g->count[b] / ((double)g->n * bw));
    }
    if (!(p.x0 < p.x1)) p.x0 = -1, p.x1 = 1;
    if (!(p.y1 > 0)) p.y1 = 1;
    p.y1 *= 1.08;
    char title[128];
    snprintf(title, sizeof title, "%s (step %d)",
             grads ? "gradients of the activations" : "activations", step);
    axes(f, &p, title, grads ? "d(loss)/d(activation)" : "activation value", "density");
    /* the series, then the legend above them all */
    for (size_t i = 0; i < h->nl; i++) {
        const layer *l = &h->layers[i];
        const histogram *g = grads ? &l->grad : &l->act;
        if (!g->set || !g->n) continue;
        double bw = (g->hi - g->lo) / NBINS;
        fprintf(f, "<g class=\"series\" data-layer=\"");
        svg_text(f, l->name);
        fprintf(f, "\"><polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"",
                COLOR(i));
        for (int b = 0; b < NBINS; b++)
            fprintf(f, "%.1f,%.1f ", px(&p, g->lo + (b + 0.5) * bw),
                    py(&p, g->count[b] / ((double)g->n * bw)));
        fputs("\"/></g>\n", f);
    }
    int shown = 0;
    for (size_t i = 0; i < h->nl; i++) {
        const layer *l = &h->layers[i];
        const histogram *g = grads ? &l->grad : &l->act;
        if (!g->set) continue;
        char text[200];
        if (!g->n) { /* diverged: nothing to draw, and the legend says why */
            snprintf(text, sizeof text, "%s: no finite value (%lld NaN or Inf)", l->name,
                     (long long)g->bad);
            legend_line(f, &p, shown++, COLOR(i), text);
            continue;
        }
        int k = snprintf(text, sizeof text, "%s%s%s%s: mean %+.3g, std %.3g", l->name,
                         l->op ? " (" : "", l->op ? l->op : "", l->op ? ")" : "", g->mean, g->std);
        if (!grads && !isnan(l->frac) && k > 0 && (size_t)k < sizeof text)
            k += snprintf(text + k, sizeof text - (size_t)k, ", %s %.1f%%",
                          l->kind == UNIT_RELU ? "dead" : "saturated", 100 * l->frac);
        if (g->bad && k > 0 && (size_t)k < sizeof text)
            snprintf(text + k, sizeof text - (size_t)k, ", %lld NaN or Inf", (long long)g->bad);
        legend_line(f, &p, shown++, COLOR(i), text);
    }
}

/* Series over the steps: one per layer (fractions) or per weight (ratios). */
static void over_steps(FILE *f, const tg_health *h, const panel *frame, bool ratios)
{
    panel p = *frame;
    p.x0 = INFINITY, p.x1 = -INFINITY, p.y0 = INFINITY, p.y1 = -INFINITY;
    size_t n = ratios ? h->nw : h->nl;
    for (size_t i = 0; i < n; i++) {
        const series *s = ratios ? &h->weights[i].ratio : &h->layers[i].fracs;
        for (size_t k = 0; k < s->n; k++) {
            double v = ratios ? s->v[k] : 100 * s->v[k];
            p.x0 = fmin(p.x0, s->step[k]), p.x1 = fmax(p.x1, s->step[k]);
            p.y0 = fmin(p.y0, v), p.y1 = fmax(p.y1, v);
        }
    }
    if (!(p.x0 < p.x1)) p.x0 = isfinite(p.x0) ? p.x0 - 1 : 0, p.x1 = p.x0 + 2;
    if (ratios) p.y0 = fmin(isfinite(p.y0) ? p.y0 : -4, -4), p.y1 = fmax(isfinite(p.y1) ? p.y1 : -2, -2);
    else p.y0 = 0, p.y1 = fmax(isfinite(p.y1) ? p.y1 * 1.1 : 0, 5);
    axes(f, &p, ratios ? "update / data ratio of each weight: log10(std(Δw) / std(w))"
                       : "dead ReLU units / saturated tanh or sigmoid values",
         "training step", ratios ? "log10 ratio" : "% of the layer");
    if (ratios) {
        double y = py(&p, -3);
        fprintf(f, "<line class=\"guide\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                   "stroke=\"#495057\" stroke-dasharray=\"6 4\"/><text x=\"%.1f\" y=\"%.1f\" "
                   "fill=\"#495057\">-3: about right</text>\n",
                p.x, y, p.x + p.w, y, p.x + 4, y - 4);
    }
    for (size_t i = 0; i < n; i++) { /* the series, then the legend above them all */
        const series *s = ratios ? &h->weights[i].ratio : &h->layers[i].fracs;
        const char *name = ratios ? h->weights[i].name : h->layers[i].name;
        if (!s->n) continue;
        fputs("<g class=\"series\" data-layer=\"", f);
        svg_text(f, name ? name : "?");
        fprintf(f, "\"><polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"",
                COLOR(i));
        for (size_t k = 0; k < s->n; k++)
            fprintf(f, "%.1f,%.1f ", px(&p, s->step[k]), py(&p, ratios ? s->v[k] : 100 * s->v[k]));
        fputs("\"/></g>\n", f);
    }
    int shown = 0;
    for (size_t i = 0; i < n; i++) {
        const series *s = ratios ? &h->weights[i].ratio : &h->layers[i].fracs;
        const char *name = ratios ? h->weights[i].name : h->layers[i].name;
        if (!s->n) continue;
        char text[160];
        snprintf(text, sizeof text, ratios ? "%s: last %.2f" : "%s: last %.1f%%", name ? name : "?",
                 ratios ? s->v[s->n - 1] : 100 * s->v[s->n - 1]);
        legend_line(f, &p, shown++, COLOR(i), text);
    }
}

int tg_health_svg(const tg_health *h, FILE *f)
{
    if (!h || !f)
        return tg_set_error(TG_ERR_INVALID, "tg_health_svg: %s is NULL",
                            !h ? "the record" : "the file");
    if (!h->nl && !h->nw)
        return tg_set_error(TG_ERR_STATE, "tg_health_svg: nothing was observed (call "
                                          "tg_health_observe or tg_health_after_update first)");
    const double W = 1100, H = 760;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica, Arial, sans-serif\" "
               "font-size=\"11\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"#f8f9fa\"/>\n"
               "<text x=\"20\" y=\"26\" font-size=\"16\" font-weight=\"600\">training health: "
               "activations, gradients, update / data</text>\n",
            W, H, W, H);
    const double pw = 440, ph = 250;
    panel a = {80, 70, pw, ph, 0, 1, 0, 1}, b = {620, 70, pw, ph, 0, 1, 0, 1};
    panel c = {80, 430, pw, ph, 0, 1, 0, 1}, d = {620, 430, pw, ph, 0, 1, 0, 1};
    fputs("<g id=\"activations\">\n", f);
    histograms(f, h, &a, false);
    fputs("</g>\n<g id=\"gradients\">\n", f);
    histograms(f, h, &b, true);
    fputs("</g>\n<g id=\"ratios\">\n", f);
    over_steps(f, h, &c, true);
    fputs("</g>\n<g id=\"dead\">\n", f);
    over_steps(f, h, &d, false);
    fputs("</g>\n</svg>\n", f);
    return tg_write_status(f, "tg_health_svg");
}
