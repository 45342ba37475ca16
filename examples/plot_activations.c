/* Every activation and its first and second derivatives over [-6, 6], drawn
 * as SVG.
 *
 * The derivatives are not formulas: f' is what tg_backward computes, f''
 * what differentiating twice computes. For an element-wise f, backward of
 * sum(f(x)) leaves f'(xᵢ) in x->grad[i] (each output depends on its own
 * input only). For f'', tg_grad1 with create_graph gives f'(x) as a tensor
 * on the tape, and tg_grad1 of sum(f'(x)) gives f''(xᵢ): the backward pass
 * differentiated once more, through each op's vjp rule. Where f is made of
 * pieces (relu, hardtanh, ...), f'' is the second derivative of the piece
 * each x is on: 0 for straight pieces, with nothing at the kinks (there the
 * true f'' is a Dirac delta, which automatic differentiation, PyTorch's too,
 * leaves out). Softmax and log-softmax act on a vector; they are drawn for
 * the two-class input [x, 0], where softmax([x, 0])₀ = sigmoid(x), with the
 * derivatives of component 0.
 *
 *     ./plot_activations [directory]      (default: the current directory)
 *
 * writes <directory>/act_<name>.svg for each activation and
 * <directory>/activations.svg with all of them in a grid. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <tapegrad.h>

#define N_POINTS 601 /* x = -6, -5.98, ..., 6 */
#define X_MIN (-6.0)
#define X_MAX 6.0

static const char *const COLOR_F = "#1f77b4";  /* f(x): blue, solid */
static const char *const COLOR_DF = "#d62728"; /* f'(x): red, dashed */
static const char *const COLOR_D2F = "#2ca02c"; /* f''(x): green, dotted */
static const char *const DASH_DF = "6,3", *const DASH_D2F = "1.5,2.5";

/* ------------------------------------------------------------ the functions */

typedef struct act {
    const char *name;    /* file name and title */
    const char *formula; /* subtitle */
    tg_tensor *(*fn)(tg_tape *t, tg_tensor *x);
    bool two_class;      /* applied to [x, 0] along axis 1; component 0 is drawn */
} act;

static tg_tensor *a_sigmoid(tg_tape *t, tg_tensor *x) { return tg_sigmoid(t, x); }
static tg_tensor *a_tanh(tg_tape *t, tg_tensor *x) { return tg_tanh(t, x); }
static tg_tensor *a_relu(tg_tape *t, tg_tensor *x) { return tg_relu(t, x); }
static tg_tensor *a_relu6(tg_tape *t, tg_tensor *x) { return tg_relu6(t, x); }
static tg_tensor *a_leaky(tg_tape *t, tg_tensor *x) { return tg_leaky_relu(t, x, (tg_real)0.1); }
static tg_tensor *a_elu(tg_tape *t, tg_tensor *x) { return tg_elu(t, x, (tg_real)TG_ELU_ALPHA); }
static tg_tensor *a_selu(tg_tape *t, tg_tensor *x) { return tg_selu(t, x); }
static tg_tensor *a_celu(tg_tape *t, tg_tensor *x) { return tg_celu(t, x, (tg_real)0.5); }
static tg_tensor *a_softplus(tg_tape *t, tg_tensor *x)
{
    return tg_softplus(t, x, (tg_real)TG_SOFTPLUS_BETA, (tg_real)TG_SOFTPLUS_THRESHOLD);
}
static tg_tensor *a_softsign(tg_tape *t, tg_tensor *x) { return tg_softsign(t, x); }
static tg_tensor *a_gelu(tg_tape *t, tg_tensor *x) { return tg_gelu(t, x, TG_GELU_NONE); }
static tg_tensor *a_gelu_tanh(tg_tape *t, tg_tensor *x) { return tg_gelu(t, x, TG_GELU_TANH); }
static tg_tensor *a_silu(tg_tape *t, tg_tensor *x) { return tg_silu(t, x); }
static tg_tensor *a_mish(tg_tape *t, tg_tensor *x) { return tg_mish(t, x); }
static tg_tensor *a_hardtanh(tg_tape *t, tg_tensor *x)
{
    return tg_hardtanh(t, x, (tg_real)TG_HARDTANH_MIN, (tg_real)TG_HARDTANH_MAX);
}
static tg_tensor *a_hardsigmoid(tg_tape *t, tg_tensor *x) { return tg_hardsigmoid(t, x); }
static tg_tensor *a_hardswish(tg_tape *t, tg_tensor *x) { return tg_hardswish(t, x); }
static tg_tensor *a_logsigmoid(tg_tape *t, tg_tensor *x) { return tg_logsigmoid(t, x); }
static tg_tensor *a_prelu(tg_tape *t, tg_tensor *x)
{
    tg_tensor *w = tg_full(t, TG_SHAPE(1), (tg_real)TG_PRELU_INIT); /* nn.PReLU's start */
    return tg_prelu(t, x, w);
}
static tg_tensor *a_softmax(tg_tape *t, tg_tensor *x) { return tg_softmax(t, x, 1); }
static tg_tensor *a_log_softmax(tg_tape *t, tg_tensor *x) { return tg_log_softmax(t, x, 1); }

static const act ACTS[] = {
    {"sigmoid", "1 / (1 + e⁻ˣ)", a_sigmoid, false},
    {"tanh", "tanh(x)", a_tanh, false},
    {"relu", "max(x, 0)", a_relu, false},
    {"relu6", "min(max(x, 0), 6)", a_relu6, false},
    {"leaky_relu", "x if x > 0, else 0.1·x  (slope 0.1 here)", a_leaky, false},
    {"elu", "x if x > 0, else eˣ − 1", a_elu, false},
    {"selu", "1.0507·elu(x, α = 1.6733)", a_selu, false},
    {"celu", "x if x > 0, else α(e^(x/α) − 1), α = 0.5", a_celu, false},
    {"softplus", "log(1 + eˣ)", a_softplus, false},
    {"softsign", "x / (1 + |x|)", a_softsign, false},
    {"gelu", "x·Φ(x)  (exact, with erf)", a_gelu, false},
    {"gelu_tanh", "x·Φ(x), tanh approximation", a_gelu_tanh, false},
    {"silu", "x·σ(x)  (swish)", a_silu, false},
    {"mish", "x·tanh(softplus(x))", a_mish, false},
    {"hardtanh", "min(max(x, -1), 1)", a_hardtanh, false},
    {"hardsigmoid", "relu6(x + 3) / 6", a_hardsigmoid, false},
    {"hardswish", "x·relu6(x + 3) / 6", a_hardswish, false},
    {"logsigmoid", "log σ(x)", a_logsigmoid, false},
    {"prelu", "x if x > 0, else w·x  (w = 0.25)", a_prelu, false},
    {"softmax", "softmax([x, 0])₀ = σ(x)", a_softmax, true},
    {"log_softmax", "log_softmax([x, 0])₀ = log σ(x)", a_log_softmax, true},
};
#define N_ACTS (sizeof ACTS / sizeof *ACTS)

/* f, f' and f'' at xs: f' from tg_backward, f'' from tg_grad1 twice.
   Returns false (with a message) on failure. */
static bool evaluate(const act *a, const double *xs, double *f, double *df, double *d2f)
{
    tg_tape *t = tg_tape_new();
    if (!t) return false;
    tg_real in[2 * N_POINTS];
    int cols = a->two_class ? 2 : 1;
    for (int i = 0; i < N_POINTS; i++) {
        in[i * cols] = (tg_real)xs[i];
        if (cols == 2) in[i * 2 + 1] = 0;
    }
    tg_tensor *x = tg_requires_grad(
        cols == 2 ? tg_tensor_new(t, TG_SHAPE(N_POINTS, 2), in) : tg_tensor_new(t, TG_SHAPE(N_POINTS), in),
        true);
    tg_tensor *y = a->fn(t, x), *d2 = NULL;
    /* d(Σᵢ yᵢ₀)/dxᵢ: the seed selects component 0 of each row */
    tg_real seed[2 * N_POINTS];
    for (int i = 0; i < N_POINTS * cols; i++) seed[i] = (i % cols == 0) ? 1 : 0;
    bool ok = y && tg_backward_grad(t, y, seed) == TG_OK;
    if (ok) {
        /* the same by tg_grad1 (the seed as a constant factor), recorded,
           then differentiated again: d(Σᵢ fᵢ'(x))/dxᵢ = f''(xᵢ) */
        tg_tensor *sel = tg_tensor_new(t, y->ndim, y->shape, seed);
        tg_tensor *d1 = tg_grad1(t, tg_sum(t, tg_mul(t, y, sel), TG_ALL, false), x, true);
        tg_tensor *s1 = tg_sum(t, tg_mul(t, d1, sel), TG_ALL, false);
        /* a rule made of constants (relu's f' is a mask, x > 0) records
           nothing: f' does not depend on x there, and f'' is 0 */
        if (s1 && !(s1->flags & TG_REQUIRES_GRAD)) d2 = tg_zeros(t, x->ndim, x->shape);
        else d2 = tg_grad1(t, s1, x, false);
        ok = d2 != NULL;
    }
    if (!ok) {
        fprintf(stderr, "%s: %s\n", a->name, tg_tape_error(t));
        tg_tape_free(t);
        return false;
    }
    for (int i = 0; i < N_POINTS; i++) {
        f[i] = (double)y->data[i * cols];
        df[i] = (double)x->grad[i * cols];
        d2f[i] = (double)d2->data[i * cols];
    }
    tg_tape_free(t);
    return true;
}

/* ------------------------------------------------------------ drawing */

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about `want`
   ticks over span. */
static double nice_step(double span, int want)
{
    double raw = span / want, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

typedef struct frame {
    double x, y, w, h;          /* the panel in the SVG, pixels */
    double ml, mr, mt, mb;      /* margins inside it */
    double ylo, yhi, ystep;     /* data range shown, tick step */
    double fs;                  /* font size */
} frame;

static double px(const frame *fr, double x)
{
    return fr->x + fr->ml + (x - X_MIN) / (X_MAX - X_MIN) * (fr->w - fr->ml - fr->mr);
}
static double py(const frame *fr, double y)
{
    return fr->y + fr->mt + (fr->yhi - y) / (fr->yhi - fr->ylo) * (fr->h - fr->mt - fr->mb);
}

/* y range: the three curves and the origin, padded, rounded to the tick
   step. */
static void fit_range(frame *fr, const double *f, const double *df, const double *d2f)
{
    double lo = 0, hi = 0;
    for (int i = 0; i < N_POINTS; i++) {
        double v[3] = {f[i], df[i], d2f[i]};
        for (int k = 0; k < 3; k++)
            if (isfinite(v[k])) {
                if (v[k] < lo) lo = v[k];
                if (v[k] > hi) hi = v[k];
            }
    }
    if (hi - lo < 1e-9) hi = lo + 1;
    double pad = 0.06 * (hi - lo), step = nice_step(hi - lo + 2 * pad, 5);
    fr->ylo = floor((lo - pad) / step) * step;
    fr->yhi = ceil((hi + pad) / step) * step;
    fr->ystep = step;
}

/* Draws v over xs, keeping only the points needed to stay within 0.2 px of
   the full curve (straight stretches collapse to their ends). */
static void polyline(FILE *s, const frame *fr, const double *xs, const double *v,
                     const char *color, double width, const char *dash)
{
    fprintf(s, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.2f\"%s%s%s points=\"",
            color, width, dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
    static double X[N_POINTS], Y[N_POINTS];
    int n = 0;
    for (int i = 0; i < N_POINTS; i++)
        if (isfinite(v[i])) {
            X[n] = px(fr, xs[i]);
            Y[n] = py(fr, v[i]);
            n++;
        }
    int last = 0;
    if (n > 0) fprintf(s, "%.1f,%.1f", X[0], Y[0]);
    for (int j = 2; j <= n; j++) {
        /* can the segment last -> j-1 stand for every point between? try j */
        bool fits = j < n;
        for (int k = last + 1; fits && k < j; k++) {
            double dx = X[j] - X[last], dy = Y[j] - Y[last];
            double len = sqrt(dx * dx + dy * dy);
            double dist = len > 0 ? fabs(dy * (X[k] - X[last]) - dx * (Y[k] - Y[last])) / len : 0;
            fits = dist <= 0.2;
        }
        if (!fits) {
            fprintf(s, " %.1f,%.1f", X[j - 1], Y[j - 1]);
            last = j - 1;
        }
    }
    fprintf(s, "\"/>\n");
}

/* One plot: frame, grid, axes through the origin with ticks and labels,
   the three curves, a title and (if asked) a legend. */
static void panel(FILE *s, frame *fr, const act *a, const double *xs, const double *f,
                  const double *df, const double *d2f, bool legend)
{
    fit_range(fr, f, df, d2f);
    double fs = fr->fs, x0 = px(fr, X_MIN), x1 = px(fr, X_MAX), y0 = py(fr, fr->yhi),
           y1 = py(fr, fr->ylo), ox = px(fr, 0), oy = py(fr, 0);
    fprintf(s, "<g>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"white\" "
               "stroke=\"#dddddd\"/>\n",
            x0, y0, x1 - x0, y1 - y0);
    /* grid and tick labels: x every 2, y at a nice step */
    for (int k = -6; k <= 6; k += 2) {
        double X = px(fr, k);
        if (k) fprintf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eeeeee\"/>\n", X, y0, X, y1);
        fprintf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>\n", X,
                oy - 3, X, oy + 3);
        if (k)
            fprintf(s, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" text-anchor=\"middle\" "
                       "fill=\"#333333\">%d</text>\n",
                    X, oy + 3 + fs, fs * 0.85, k);
    }
    double step = fr->ystep;
    for (double v = ceil(fr->ylo / step - 1e-9) * step; v <= fr->yhi + step * 1e-6; v += step) {
        double Y = py(fr, v);
        bool zero = fabs(v) < step * 1e-6;
        if (!zero) fprintf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eeeeee\"/>\n", x0, Y, x1, Y);
        fprintf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>\n",
                ox - 3, Y, ox + 3, Y);
        if (!zero)
            fprintf(s, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" text-anchor=\"end\" "
                       "fill=\"#333333\">%g</text>\n",
                    ox - 5, Y + fs * 0.3, fs * 0.85, fabs(v) < 1e-12 ? 0.0 : v);
    }
    /* the axes, through the origin, with arrow heads and names */
    fprintf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\" "
               "stroke-width=\"1.2\" marker-end=\"url(#arrow)\"/>\n",
            x0, oy, x1 + 6, oy);
    fprintf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\" "
               "stroke-width=\"1.2\" marker-end=\"url(#arrow)\"/>\n",
            ox, y1, ox, y0 - 6);
    fprintf(s, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" font-style=\"italic\">x</text>\n",
            x1 + 2, oy - 6, fs);
    fprintf(s, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" font-style=\"italic\">y</text>\n",
            ox + 6, y0 - 2, fs);
    fprintf(s, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" text-anchor=\"end\" "
               "fill=\"#333333\">0</text>\n",
            ox - 4, oy + 3 + fs, fs * 0.85);
    /* the curves: the derivatives first, so that f is drawn on top, and f''
       over f' (elu's and selu's are the same curve for x < 0) */
    polyline(s, fr, xs, df, COLOR_DF, fs * 0.18, DASH_DF);
    polyline(s, fr, xs, d2f, COLOR_D2F, fs * 0.2, DASH_D2F);
    polyline(s, fr, xs, f, COLOR_F, fs * 0.2, NULL);
    /* title */
    fprintf(s, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" font-weight=\"bold\" "
               "text-anchor=\"middle\">%s</text>\n",
            (x0 + x1) / 2, fr->y + fs * 1.3, fs * 1.25, a->name);
    fprintf(s, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" text-anchor=\"middle\" "
               "fill=\"#555555\">%s</text>\n",
            (x0 + x1) / 2, fr->y + fs * 2.6, fs * 0.9, a->formula);
    if (legend) {
        /* top left, on a white box */
        double lx = x0 + 8, ly = y0 + 8, lw = fs * 14.5, lh = fs * 4.5;
        fprintf(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"white\" "
                   "fill-opacity=\"0.9\" stroke=\"#cccccc\"/>\n",
                lx, ly, lw, lh);
        fprintf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"%.2f\"/>\n",
                lx + 6, ly + fs * 1.1, lx + 6 + fs * 2, ly + fs * 1.1, COLOR_F, fs * 0.2);
        fprintf(s, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\">f(x)</text>\n",
                lx + 10 + fs * 2, ly + fs * 1.4, fs);
        fprintf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"%.2f\" stroke-dasharray=\"%s\"/>\n",
                lx + 6, ly + fs * 2.4, lx + 6 + fs * 2, ly + fs * 2.4, COLOR_DF, fs * 0.18,
                DASH_DF);
        fprintf(s, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\">f'(x) by tg_backward</text>\n",
                lx + 10 + fs * 2, ly + fs * 2.7, fs);
        fprintf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"%.2f\" stroke-dasharray=\"%s\"/>\n",
                lx + 6, ly + fs * 3.7, lx + 6 + fs * 2, ly + fs * 3.7, COLOR_D2F, fs * 0.2,
                DASH_D2F);
        fprintf(s,
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\">f''(x) by tg_grad1 twice</text>\n",
                lx + 10 + fs * 2, ly + fs * 4.0, fs);
    }
    fprintf(s, "</g>\n");
}

static void svg_begin(FILE *s, double w, double h)
{
    fprintf(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
               "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
               "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" "
               "fill=\"#333333\"/></marker></defs>\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            w, h, w, h);
}

static FILE *open_in(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) fprintf(stderr, "cannot write %s\n", path);
    return f;
}

static const char USAGE[] =
    "usage: plot_activations [DIR]\n"
    "Writes DIR/act_<name>.svg for every activation, with the derivative that\n"
    "tg_backward computes and the second derivative that differentiating twice\n"
    "computes, and DIR/activations.svg with all of them (DIR: the current\n"
    "directory by default).\n";

int main(int argc, char **argv)
{
    const char *dir = argc == 1 ? "." : argc == 2 && argv[1][0] != '-' ? argv[1] : NULL;
    if (!dir) {
        bool help = argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
        if (!help) fprintf(stderr, "plot_activations: unknown option or argument '%s'\n",
                           argc == 2 ? argv[1] : argv[2]);
        fputs(USAGE, help ? stdout : stderr);
        return help ? 0 : 2;
    }
    static double xs[N_POINTS], f[N_ACTS][N_POINTS], df[N_ACTS][N_POINTS], d2f[N_ACTS][N_POINTS];
    for (int i = 0; i < N_POINTS; i++) xs[i] = X_MIN + (X_MAX - X_MIN) * i / (N_POINTS - 1);

    for (size_t k = 0; k < N_ACTS; k++)
        if (!evaluate(&ACTS[k], xs, f[k], df[k], d2f[k])) return 1;

    /* one file per activation */
    for (size_t k = 0; k < N_ACTS; k++) {
        char name[128];
        snprintf(name, sizeof name, "act_%s.svg", ACTS[k].name);
        FILE *s = open_in(dir, name);
        if (!s) return 1;
        svg_begin(s, 560, 420);
        frame fr = {.x = 0, .y = 0, .w = 560, .h = 420, .ml = 30, .mr = 30, .mt = 52, .mb = 24,
                    .fs = 13};
        panel(s, &fr, &ACTS[k], xs, f[k], df[k], d2f[k], true);
        fprintf(s, "</svg>\n");
        if (fclose(s) != 0) return 1;
        printf("%s/%s\n", dir, name);
    }

    /* all of them: a grid under one legend */
    const int cols = 4, pw = 330, ph = 260, top = 64;
    int rows = (int)((N_ACTS + (size_t)cols - 1) / (size_t)cols);
    FILE *s = open_in(dir, "activations.svg");
    if (!s) return 1;
    double W = cols * pw, H = top + rows * ph;
    svg_begin(s, W, H);
    fprintf(s, "<text x=\"%.0f\" y=\"30\" font-size=\"22\" font-weight=\"bold\" "
               "text-anchor=\"middle\">tapegrad activations and their first and second "
               "derivatives on [-6, 6]</text>\n",
            W / 2);
    fprintf(s, "<line x1=\"%.0f\" y1=\"48\" x2=\"%.0f\" y2=\"48\" stroke=\"%s\" stroke-width=\"2.6\"/>"
               "<text x=\"%.0f\" y=\"53\" font-size=\"14\">f(x)</text>\n",
            W / 2 - 420, W / 2 - 390, COLOR_F, W / 2 - 382);
    fprintf(s, "<line x1=\"%.0f\" y1=\"48\" x2=\"%.0f\" y2=\"48\" stroke=\"%s\" stroke-width=\"2.3\" "
               "stroke-dasharray=\"%s\"/><text x=\"%.0f\" y=\"53\" font-size=\"14\">f'(x) by "
               "tg_backward</text>\n",
            W / 2 - 330, W / 2 - 300, COLOR_DF, DASH_DF, W / 2 - 292);
    fprintf(s, "<line x1=\"%.0f\" y1=\"48\" x2=\"%.0f\" y2=\"48\" stroke=\"%s\" "
               "stroke-width=\"2.6\" stroke-dasharray=\"%s\"/><text x=\"%.0f\" y=\"53\" "
               "font-size=\"14\">f''(x) by "
               "tg_grad1 twice (the first with create_graph): no formula in either</text>\n",
            W / 2 - 110, W / 2 - 80, COLOR_D2F, DASH_D2F, W / 2 - 72);
    for (size_t k = 0; k < N_ACTS; k++) {
        frame fr = {.x = (double)((int)k % cols * pw), .y = top + (double)((int)k / cols * ph),
                    .w = pw, .h = ph, .ml = 18, .mr = 22, .mt = 40, .mb = 14, .fs = 10};
        panel(s, &fr, &ACTS[k], xs, f[k], df[k], d2f[k], false);
    }
    fprintf(s, "</svg>\n");
    if (fclose(s) != 0) return 1;
    printf("%s/activations.svg\n", dir);
    return 0;
}
