/* two_moons: micrograd's demo in C. A 2-16-16-1 MLP with ReLU learns to
 * separate two interleaved half-moons with the max-margin (hinge) loss, and
 * the decision boundary is drawn as SVG.
 *
 *     ./two_moons                      (train, print the loss and accuracy)
 *     ./two_moons --svg moons.svg      (also draw the boundary and the points)
 *
 * As micrograd's demo.ipynb: 100 points of sklearn's make_moons with noise
 * 0.1, labels −1 and 1; loss = mean(relu(1 − y·score)) + 1e-4·Σ w² (the
 * hinge, and L2 on every parameter); 100 steps of gradient descent on the
 * whole set with a learning rate falling from 1.0 to 0.1. The points are
 * drawn from tapegrad's own generator (tg_rng), so they are not sklearn's
 * but look alike; the weights start as micrograd's Neuron: uniform in
 * [−1, 1), biases 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>

enum { N = 100 };

/* sklearn's make_moons: the outer moon (cos t, sin t) and the inner one
   (1 − cos t, 1 − sin t − 0.5), t in [0, π], plus Gaussian noise. */
static void make_moons(tg_rng *r, double noise, tg_real *x /* [N, 2] */, tg_real *y /* [N] */)
{
    for (int i = 0; i < N; i++) {
        bool outer = i < N / 2;
        int k = outer ? i : i - N / 2;
        double t = 3.14159265358979323846 * k / (N / 2 - 1);
        double a = outer ? cos(t) : 1 - cos(t), b = outer ? sin(t) : 1 - sin(t) - 0.5;
        x[2 * i] = (tg_real)(a + noise * tg_rng_normal(r));
        x[2 * i + 1] = (tg_real)(b + noise * tg_rng_normal(r));
        y[i] = outer ? -1 : 1;
    }
}

/* The hinge loss with L2: mean(relu(1 − y·score)) + α·Σ p². */
static tg_tensor *loss_of(tg_tape *t, tg_tensor *score, tg_tensor *y, const tg_params *p,
                          double alpha)
{
    tg_tensor *margin = tg_relu(t, tg_add_scalar(t, tg_neg(t, tg_mul(t, y, score)), 1));
    tg_tensor *loss = tg_mean(t, margin, TG_ALL, false);
    for (size_t i = 0; i < tg_params_count(p); i++) {
        tg_tensor *w = tg_params_at(p, i);
        loss = tg_add(t, loss, tg_scale(t, tg_sum(t, tg_square(t, w), TG_ALL, false),
                                        (tg_real)alpha));
    }
    return loss;
}

/* The picture: the score's sign on a grid (the decision regions), the
   points by label, axes. */
static int draw(const char *path, tg_tape *t, const tg_mlp *m, const tg_real *x, const tg_real *y,
                int step, double acc)
{
    const double x0 = -1.5, x1 = 2.5, y0 = -1.0, y1 = 1.5, W = 640, H = 400, L = 50, T = 40;
    const int G = 100; /* grid cells per side */
    const double pw = W - L - 20, ph = H - T - 40;
    tg_real *grid = malloc((size_t)(G * G * 2) * sizeof *grid);
    if (!grid) return 1;
    for (int i = 0; i < G; i++)
        for (int j = 0; j < G; j++) {
            grid[2 * (i * G + j)] = (tg_real)(x0 + (x1 - x0) * (j + 0.5) / G);
            grid[2 * (i * G + j) + 1] = (tg_real)(y1 - (y1 - y0) * (i + 0.5) / G);
        }
    tg_tape_reset(t);
    bool was = tg_tape_set_recording(t, false);
    tg_tensor *s = tg_mlp_forward(t, m, tg_tensor_wrap(t, TG_SHAPE(G * G, 2), grid));
    tg_tape_set_recording(t, was);
    FILE *f = fopen(path, "w");
    if (!s || !f) {
        fprintf(stderr, "two_moons: cannot draw %s: %s\n", path, s ? "cannot open it" : tg_tape_error(t));
        free(grid);
        if (f) fclose(f);
        return 1;
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica, Arial, sans-serif\" "
               "font-size=\"11\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
            W, H, W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"24\" font-size=\"14\" font-weight=\"600\">two moons: "
               "2-16-16-1 MLP, hinge loss, step %d, accuracy %.0f%%</text>\n",
            L, step, acc);
    /* decision regions: blue where score < 0 (class −1), red where > 0 */
    fputs("<g id=\"regions\">\n", f);
    for (int i = 0; i < G; i++)
        for (int j = 0; j < G; j++) {
            double v = (double)s->data[i * G + j];
            int c = (int)(238 - 70 * fmin(1, fabs(v)));
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.2f\" "
                       "fill=\"rgb(%d,%d,%d)\"/>\n",
                    L + pw * j / G, T + ph * i / G, pw / G + 0.3, ph / G + 0.3, v > 0 ? 255 : c,
                    c, v > 0 ? c : 255);
        }
    /* the boundary score = 0, by marching squares between the cell centres */
    fputs("</g>\n<path id=\"boundary\" fill=\"none\" stroke=\"#212529\" stroke-width=\"1.6\" d=\"", f);
    for (int i = 0; i + 1 < G; i++)
        for (int j = 0; j + 1 < G; j++) {
            /* corners: a (i,j) b (i,j+1) c (i+1,j+1) d (i+1,j); points where the sign flips */
            const int ci[4] = {i, i, i + 1, i + 1}, cj[4] = {j, j + 1, j + 1, j};
            double px_[4], py_[4];
            int n = 0;
            for (int e = 0; e < 4 && n < 4; e++) {
                int a = e, b = (e + 1) % 4;
                double va = (double)s->data[ci[a] * G + cj[a]], vb = (double)s->data[ci[b] * G + cj[b]];
                if ((va > 0) == (vb > 0)) continue;
                double u = va / (va - vb);
                double gi = ci[a] + u * (ci[b] - ci[a]), gj = cj[a] + u * (cj[b] - cj[a]);
                px_[n] = L + pw * (gj + 0.5) / G, py_[n++] = T + ph * (gi + 0.5) / G;
            }
            for (int e = 0; e + 1 < n; e += 2)
                fprintf(f, "M%.1f %.1fL%.1f %.1f", px_[e], py_[e], px_[e + 1], py_[e + 1]);
        }
    fputs("\"/>\n<g id=\"points\">\n", f);
    for (int i = 0; i < N; i++)
        fprintf(f, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\" "
                   "stroke=\"#fff\"/>\n",
                y[i] > 0 ? "pos" : "neg", L + pw * ((double)x[2 * i] - x0) / (x1 - x0),
                T + ph * (y1 - (double)x[2 * i + 1]) / (y1 - y0), y[i] > 0 ? "#c92a2a" : "#1971c2");
    /* axes */
    fprintf(f, "</g>\n<g id=\"axes\"><rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" "
               "fill=\"none\" stroke=\"#495057\"/>\n",
            L, T, pw, ph);
    for (double v = x0; v <= x1 + 1e-9; v += 0.5)
        fprintf(f, "<line class=\"xtick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                   "stroke=\"#495057\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                L + pw * (v - x0) / (x1 - x0), T + ph, L + pw * (v - x0) / (x1 - x0), T + ph + 4,
                L + pw * (v - x0) / (x1 - x0), T + ph + 16, v);
    for (double v = y0; v <= y1 + 1e-9; v += 0.5)
        fprintf(f, "<line class=\"ytick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                   "stroke=\"#495057\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                L - 4, T + ph * (y1 - v) / (y1 - y0), L, T + ph * (y1 - v) / (y1 - y0), L - 7,
                T + ph * (y1 - v) / (y1 - y0) + 4, v);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">x1</text>"
               "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">x2</text></g>\n</svg>\n",
            L + pw / 2, T + ph + 32, L - 34, T + ph / 2);
    fclose(f);
    free(grid);
    return 0;
}

static const char USAGE[] =
    "usage: two_moons [--svg FILE] [--steps N] [--seed N]\n"
    "Trains micrograd's 2-16-16-1 MLP on two moons with the hinge loss; with --svg,\n"
    "draws the decision boundary and the points there.\n";

int main(int argc, char **argv)
{
    const char *svg = NULL;
    int steps = 100;
    uint64_t seed = 1337;
    for (int i = 1; i < argc; i++) {
        bool help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
        if (!strcmp(argv[i], "--svg") && i + 1 < argc) svg = argv[++i];
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else {
            if (!help) fprintf(stderr, "two_moons: unknown option or argument '%s'\n", argv[i]);
            fputs(USAGE, help ? stdout : stderr);
            return help ? 0 : 2;
        }
    }
    if (steps < 0 || steps > 100000) {
        fprintf(stderr, "two_moons: --steps takes 0 to 100000\n");
        return 2;
    }
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    tg_real x[N * 2], y[N];
    make_moons(&rng, 0.1, x, y);
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_mlp m;
    const int64_t sizes[] = {2, 16, 16, 1};
    if (!p || !t || tg_mlp_init(&m, p, "fc", 4, sizes, tg_relu, &rng) != TG_OK) {
        fprintf(stderr, "two_moons: %s\n", tg_last_error());
        return 1;
    }
    for (int l = 0; l < m.n_layers; l++) { /* micrograd's initialisation */
        for (int64_t i = 0; i < m.layers[l].weight->size; i++)
            m.layers[l].weight->data[i] = (tg_real)(2 * tg_rng_uniform(&rng) - 1);
        memset(m.layers[l].bias->data, 0, (size_t)m.layers[l].bias->size * sizeof(tg_real));
    }
    double acc = 0;
    for (int k = 0; k <= steps; k++) {
        tg_tape_reset(t);
        tg_tensor *xs = tg_tensor_wrap(t, TG_SHAPE(N, 2), x);
        tg_tensor *ys = tg_tensor_wrap(t, TG_SHAPE(N, 1), y);
        tg_tensor *score = tg_mlp_forward(t, &m, xs);
        tg_tensor *loss = loss_of(t, score, ys, p, 1e-4);
        if (!loss) {
            fprintf(stderr, "two_moons: %s\n", tg_tape_error(t));
            return 1;
        }
        int right = 0;
        for (int i = 0; i < N; i++) right += (y[i] > 0) == (score->data[i] > 0);
        acc = 100.0 * right / N;
        if (k % 10 == 0 || k == steps)
            printf("step %3d  loss %.4f  accuracy %.0f%%\n", k, (double)loss->data[0], acc);
        if (k == steps) break;
        tg_params_zero_grad(p);
        if (tg_backward(t, loss) != TG_OK) {
            fprintf(stderr, "two_moons: %s\n", tg_tape_error(t));
            return 1;
        }
        double lr = 1.0 - 0.9 * k / steps; /* micrograd's schedule (k/100 over 100 steps) */
        tg_real *w = tg_params_data(p), *g = tg_params_grad(p);
        for (size_t i = 0; i < tg_params_block_len(p); i++) w[i] -= (tg_real)lr * g[i];
    }
    int rc = svg ? draw(svg, t, &m, x, y, steps, acc) : 0;
    if (svg && !rc) printf("decision boundary: %s\n", svg);
    tg_tape_free(t);
    tg_params_free(p);
    return rc;
}
