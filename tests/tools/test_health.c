/* Training health (tg_health): dead ReLU units and saturated tanh values are
   counted as defined, the update-to-data ratio is log10(std(Δw)/std(w)), and
   the SVG is well-formed XML with its axes and one series per layer. */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad.h>

static int count_of(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

/* Well-formed XML, as far as these pictures go: every tag closed in order
   (or self-closed), attribute values quoted, no '<' or bare '&' in text.
   Returns NULL, or what is wrong. */
static const char *xml_problem(const char *s)
{
    static char why[160];
    const char *stack[256];
    size_t len[256];
    int depth = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '&') {
            if (strncmp(p, "&lt;", 4) && strncmp(p, "&gt;", 4) && strncmp(p, "&amp;", 5) &&
                strncmp(p, "&quot;", 6))
                return "a bare '&'";
            continue;
        }
        if (*p != '<') continue;
        bool closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t n = strcspn(name, " \t\n/>");
        if (!n) return "an empty tag name";
        const char *q = name + n;
        /* attributes: name="value" */
        while (*q && *q != '>' && !(q[0] == '/' && q[1] == '>')) {
            if (*q == '=' && q[1] != '"') return "an unquoted attribute value";
            if (*q == '"') {
                const char *e = strchr(q + 1, '"');
                if (!e) return "an unterminated attribute value";
                if (memchr(q + 1, '<', (size_t)(e - q - 1))) return "a '<' in an attribute";
                q = e;
            }
            q++;
        }
        if (!*q) return "an unterminated tag";
        bool self = *q == '/';
        if (closing) {
            if (!depth || len[depth - 1] != n || strncmp(stack[depth - 1], name, n)) {
                snprintf(why, sizeof why, "</%.*s> closes nothing open", (int)n, name);
                return why;
            }
            depth--;
        } else if (!self) {
            if (depth == 256) return "too deep";
            stack[depth] = name, len[depth++] = n;
        }
        p = q + self;
    }
    return depth ? "a tag left open" : NULL;
}

static char *svg_of(const tg_health *h, int *st)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    cr_assert_not_null(f);
    *st = tg_health_svg(h, f);
    fclose(f);
    return buf;
}

Test(health, the_xml_check_finds_what_it_should)
{
    cr_expect_null(xml_problem("<svg a=\"1\"><g><rect x=\"1\"/></g><text>a &amp; b</text></svg>"));
    cr_expect_not_null(xml_problem("<svg><g></svg>"));
    cr_expect_not_null(xml_problem("<svg a=1></svg>"));
    cr_expect_not_null(xml_problem("<svg><text>a & b</text></svg>"));
    cr_expect_not_null(xml_problem("<svg><g>"));
}

/* A relu layer [4 samples, 5 units] where units 1 and 3 are 0 for every
   sample, and a tanh layer with 3 of 8 values beyond ±0.97. */
Test(health, counts_dead_units_and_saturation)
{
    tg_tape *t = tg_tape_new();
    const tg_real zs[] = {1, -1, 2, -3, 0.5, -2, -1, 1, -1, 0, 0.5, -2, -1, 0, -1,
                          1, 0, 3, -4, 0.1};
    tg_tensor *z = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(4, 5), zs), true);
    tg_tensor *r = tg_relu(t, z);
    /* tanh beyond ±0.97: −3, −2.1 and 2.2 (tanh 2 = 0.964) */
    const tg_real us[] = {-3, -2.1, -1, 0, 0.5, 2.2, 2.0, 0.1};
    tg_tensor *u = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2, 4), us), true);
    tg_tensor *th = tg_tanh(t, u);
    tg_tensor *loss = tg_add(t, tg_sum(t, r, TG_ALL, false), tg_sum(t, th, TG_ALL, false));
    cr_assert_eq(tg_backward(t, loss), TG_OK);
    tg_health *h = tg_health_new();
    cr_assert_eq(tg_health_observe(h, 0, "hidden", r), TG_OK);
    cr_assert_eq(tg_health_observe(h, 0, "squash", th), TG_OK);
    int st;
    char *s = svg_of(h, &st);
    cr_expect_eq(st, TG_OK, "%s", tg_last_error());
    cr_expect(strstr(s, "hidden (relu): mean"), "%s", s);
    cr_expect(strstr(s, ", dead 40.0%"), "2 of 5 units dead:\n%s", s);
    cr_expect(strstr(s, "squash (tanh): mean"));
    cr_expect(strstr(s, ", saturated 37.5%"), "3 of 8 values saturated");
    cr_expect(strstr(s, "hidden: last 40.0%"));
    /* the relu layer's values: mean of max(z, 0) */
    double mean = 0;
    for (int i = 0; i < 20; i++) mean += zs[i] > 0 ? zs[i] : 0;
    char want[64];
    snprintf(want, sizeof want, "hidden (relu): mean %+.3g", mean / 20);
    cr_expect(strstr(s, want), "'%s' missing", want);
    free(s);
    tg_health_free(h);
    tg_tape_free(t);
}

Test(health, update_to_data_ratio)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(2, 3));
    tg_tensor *b = tg_params_add(p, "b", TG_SHAPE(3));
    const tg_real w0[] = {1, 2, 3, 4, 5, 6}, dw[] = {0.01, -0.01, 0.02, 0, 0.01, -0.02};
    memcpy(w->data, w0, sizeof w0);
    tg_health *h = tg_health_new();
    cr_assert_eq(tg_health_before_update(h, p), TG_OK);
    for (int i = 0; i < 6; i++) w->data[i] += dw[i];
    b->data[0] += 1; /* biases are not followed */
    cr_assert_eq(tg_health_after_update(h, p, 3), TG_OK);
    /* by hand: sample standard deviations of Δw and of the new w */
    double md = 0, mw = 0, sd = 0, sw = 0;
    for (int i = 0; i < 6; i++) md += dw[i] / 6, mw += (double)w->data[i] / 6;
    for (int i = 0; i < 6; i++)
        sd += (dw[i] - md) * (dw[i] - md), sw += ((double)w->data[i] - mw) * ((double)w->data[i] - mw);
    double ratio = log10(sqrt(sd / 5) / sqrt(sw / 5));
    int st;
    char *s = svg_of(h, &st);
    cr_expect_eq(st, TG_OK);
    char want[64];
    snprintf(want, sizeof want, "w: last %.2f", ratio);
    cr_expect(strstr(s, want), "'%s' missing:\n%s", want, s);
    cr_expect_null(strstr(s, "data-layer=\"b\""), "a bias has no ratio");
    cr_expect(strstr(s, "-3: about right"));
    free(s);
    tg_health_free(h);
    tg_params_free(p);
}

/* A small training run: two hidden layers observed over 12 steps. */
Test(health, the_picture)
{
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    tg_mlp m;
    const int64_t sizes[] = {6, 8, 8, 3};
    cr_assert_eq(tg_mlp_init(&m, p, "fc", 4, sizes, tg_tanh, &rng), TG_OK);
    tg_sgd_opts so = tg_sgd_defaults(0.1);
    tg_optim *opt = tg_sgd_new(p, &so);
    tg_health *h = tg_health_new();
    tg_real xs[5 * 6];
    int64_t ys[5] = {0, 1, 2, 1, 0};
    for (int i = 0; i < 30; i++) xs[i] = (tg_real)(2 * tg_rng_uniform(&rng) - 1);
    for (int step = 0; step < 12; step++) {
        tg_tensor *x = tg_tensor_new(t, TG_SHAPE(5, 6), xs);
        tg_tensor *h1 = tg_tanh(t, tg_linear_layer_forward(t, &m.layers[0], x));
        tg_tensor *h2 = tg_tanh(t, tg_linear_layer_forward(t, &m.layers[1], h1));
        tg_tensor *loss = tg_cross_entropy(t, tg_linear_layer_forward(t, &m.layers[2], h2), ys,
                                           TG_REDUCE_MEAN);
        tg_params_zero_grad(p);
        cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
        cr_assert_eq(tg_health_observe(h, step, "fc1", h1), TG_OK);
        cr_assert_eq(tg_health_observe(h, step, "fc2", h2), TG_OK);
        cr_assert_eq(tg_health_before_update(h, p), TG_OK);
        cr_assert_eq(tg_optim_step(opt), TG_OK);
        cr_assert_eq(tg_health_after_update(h, p, step), TG_OK);
        tg_tape_reset(t);
    }
    int st;
    char *s = svg_of(h, &st);
    cr_assert_eq(st, TG_OK, "%s", tg_last_error());
    const char *bad = xml_problem(s);
    cr_expect_null(bad, "not well-formed: %s", bad ? bad : "");
    /* four plots, each with its axes and ticks */
    cr_expect_eq(count_of(s, "<g class=\"axes\">"), 4);
    cr_expect_geq(count_of(s, "class=\"xtick\""), 4 * 3);
    cr_expect_geq(count_of(s, "class=\"ytick\""), 4 * 3);
    cr_expect(strstr(s, "activations (step 11)"));
    cr_expect(strstr(s, "gradients of the activations (step 11)"));
    /* one series per layer in the histograms and the saturation plot, one per
       weight in the ratios */
    cr_expect_eq(count_of(s, "data-layer=\"fc1\""), 3);
    cr_expect_eq(count_of(s, "data-layer=\"fc2\""), 3);
    cr_expect_eq(count_of(s, "data-layer=\"fc1.weight\""), 1);
    cr_expect_eq(count_of(s, "data-layer=\"fc3.weight\""), 1);
    cr_expect_eq(count_of(s, "class=\"series\""), 2 * 3 + 3);
    /* the ratio series holds a point per step */
    const char *r = strstr(s, "data-layer=\"fc2.weight\"");
    cr_assert_not_null(r);
    const char *pts = strstr(r, "points=\"");
    const char *end = pts ? strchr(pts + 8, '"') : NULL;
    cr_assert(pts && end);
    int points = 0;
    for (const char *q = pts; q < end; q++) points += *q == ',';
    cr_expect_eq(points, 12);
    free(s);
    tg_health_free(h);
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_params_free(p);
}

/* A diverged layer (every value NaN) is named in the legend, not dropped. */
Test(health, a_diverged_layer_says_so)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_full(t, TG_SHAPE(2, 3), NAN), *y = tg_full(t, TG_SHAPE(2, 3), 0.5);
    y->data[1] = INFINITY;
    tg_health *h = tg_health_new();
    cr_assert_eq(tg_health_observe(h, 4, "gone", x), TG_OK);
    cr_assert_eq(tg_health_observe(h, 5, "partly", y), TG_OK);
    int st;
    char *s = svg_of(h, &st);
    cr_expect_eq(st, TG_OK);
    cr_expect(strstr(s, "gone: no finite value (6 NaN or Inf)"), "%s", s);
    cr_expect(strstr(s, ", 1 NaN or Inf"), "%s", s);
    cr_expect(strstr(s, "activations (step 5)"));
    cr_expect_null(strstr(s, "nan"), "no NaN written into the drawing");
    const char *bad = xml_problem(s);
    cr_expect_null(bad, "%s", bad ? bad : "");
    free(s);
    tg_health_free(h);
    tg_tape_free(t);
}

Test(health, refuses_nulls_and_an_empty_record)
{
    tg_health *h = tg_health_new();
    int st;
    free(svg_of(h, &st));
    cr_expect_eq(st, TG_ERR_STATE);
    cr_expect(strstr(tg_last_error(), "nothing was observed"), "%s", tg_last_error());
    cr_expect_eq(tg_health_svg(NULL, stdout), TG_ERR_INVALID);
    cr_expect_eq(tg_health_svg(h, NULL), TG_ERR_INVALID);
    cr_expect_eq(tg_health_observe(h, 0, "x", NULL), TG_ERR_INVALID);
    cr_expect_eq(tg_health_observe(NULL, 0, "x", NULL), TG_ERR_INVALID);
    cr_expect_eq(tg_health_before_update(h, NULL), TG_ERR_INVALID);
    cr_expect_eq(tg_health_after_update(NULL, NULL, 0), TG_ERR_INVALID);
    tg_health_free(h);
    tg_health_free(NULL);
}

/* The picture is written after the model is freed, the natural order at the
   end of training: the record keeps its own copies of the names (it read
   them through the freed parameters) */
Test(health, the_picture_outlives_the_model)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "fc1.weight", TG_SHAPE(2, 3));
    cr_assert_not_null(w);
    for (int i = 0; i < 6; i++) w->data[i] = (tg_real)(i + 1);
    tg_health *h = tg_health_new();
    cr_assert_eq(tg_health_before_update(h, p), TG_OK);
    w->data[0] += (tg_real)0.5;
    cr_assert_eq(tg_health_after_update(h, p, 1), TG_OK);
    tg_params_free(p);
    /* the freed blocks taken again and written over */
    void *junk[64];
    for (int i = 0; i < 64; i++) {
        size_t n = (size_t)(16 + 16 * (i % 32));
        junk[i] = malloc(n);
        if (junk[i]) memset(junk[i], 'Z', n);
    }
    int st;
    char *s = svg_of(h, &st);
    for (int i = 0; i < 64; i++) free(junk[i]);
    cr_expect_eq(st, TG_OK, "%s", tg_last_error());
    cr_expect(strstr(s, "data-layer=\"fc1.weight\"") != NULL, "%s", s);
    cr_expect(strstr(s, "fc1.weight: last ") != NULL, "%s", s);
    free(s);
    /* a new model, perhaps at the same address, is followed from there */
    p = tg_params_new();
    w = tg_params_add(p, "fc2.weight", TG_SHAPE(2, 3));
    cr_assert_not_null(w);
    for (int i = 0; i < 6; i++) w->data[i] = (tg_real)(i + 1);
    cr_assert_eq(tg_health_before_update(h, p), TG_OK);
    w->data[1] += (tg_real)0.5;
    cr_assert_eq(tg_health_after_update(h, p, 2), TG_OK);
    s = svg_of(h, &st);
    cr_expect_eq(st, TG_OK, "%s", tg_last_error());
    cr_expect(strstr(s, "fc1.weight: last ") != NULL && strstr(s, "fc2.weight: last ") != NULL,
              "%s", s);
    free(s);
    tg_params_free(p);
    tg_health_free(h);
}
