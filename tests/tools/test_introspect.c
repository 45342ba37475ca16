/* Seeing the tape: tg_tape_print's text says what a student needs (records,
   ops, inputs and their kinds, shapes, gradient norms after backward), and
   tg_tape_dot writes a graph that Graphviz renders (`dot` must be
   installed: the test fails if it is missing or refuses the file). */
#define _POSIX_C_SOURCE 200809L /* open_memstream, getpid */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tapegrad.h>

/* A two-layer network on a tiny batch:
     x [4,2] (input, requires grad) -> linear(W1, b1) -> tanh -> linear(W2, no bias)
     -> sub(y) -> square -> mean                            y [4,1] a constant */
typedef struct {
    tg_tape *t;
    tg_params *p;
    tg_tensor *x, *y, *W1, *b1, *W2, *loss;
} net;

static void build(net *n)
{
    n->t = tg_tape_new();
    n->p = tg_params_new();
    cr_assert(n->t && n->p);
    n->W1 = tg_params_add(n->p, "fc1.weight", TG_SHAPE(3, 2));
    n->b1 = tg_params_add(n->p, "fc1.bias", TG_SHAPE(3));
    n->W2 = tg_params_add(n->p, "fc2.weight", TG_SHAPE(1, 3));
    cr_assert(n->W1 && n->b1 && n->W2, "%s", tg_last_error());
    const tg_real w1[] = {0.5, -0.25, 0.75, 0.1, -0.6, 0.3}, b1[] = {0.1, 0, -0.1},
                  w2[] = {0.8, -0.4, 0.2};
    memcpy(n->W1->data, w1, sizeof w1);
    memcpy(n->b1->data, b1, sizeof b1);
    memcpy(n->W2->data, w2, sizeof w2);
    const tg_real xs[] = {1, 2, -1, 0.5, 0, -2, 1.5, 1}, ys[] = {1, 0, -1, 0.5};
    n->x = tg_tensor_set_name(tg_requires_grad(tg_tensor_new(n->t, TG_SHAPE(4, 2), xs), true), "x");
    n->y = tg_tensor_set_name(tg_tensor_new(n->t, TG_SHAPE(4, 1), ys), "y");
    tg_tensor *h = tg_tanh(n->t, tg_linear(n->t, n->x, n->W1, n->b1));
    tg_tensor *out = tg_linear(n->t, h, n->W2, NULL);
    n->loss = tg_mean(n->t, tg_square(n->t, tg_sub(n->t, out, n->y)), TG_ALL, false);
    cr_assert_not_null(n->loss, "%s", tg_tape_error(n->t));
}

static void destroy(net *n)
{
    tg_params_free(n->p);
    tg_tape_free(n->t);
}

/* tg_tape_print into a string (free it) */
static char *print_to_string(const tg_tape *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    cr_expect_eq(tg_tape_print(t, f), TG_OK, "%s", tg_last_error());
    fclose(f);
    return buf;
}

static int count_of(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

Test(introspect, record_accessors)
{
    net n;
    build(&n);
    cr_expect_eq(tg_tape_record_count(n.t), 6);
    const char *ops[] = {"linear", "tanh", "linear", "sub", "square", "mean"};
    for (size_t i = 0; i < 6; i++) {
        const tg_record *r = tg_tape_record(n.t, i);
        cr_assert_not_null(r);
        cr_expect_str_eq(r->op->name, ops[i]);
        cr_expect_eq(r->index, (int32_t)i);
        cr_expect_eq(r->out->rec, (int32_t)i);
    }
    cr_expect_null(tg_tape_record(n.t, 6));
    cr_expect_null(tg_tape_record(NULL, 0));
    cr_expect_eq(tg_tape_record_count(NULL), 0);
    destroy(&n);
}

Test(introspect, print_before_and_after_backward)
{
    net n;
    build(&n);
    char *s = print_to_string(n.t);
    cr_expect(strstr(s, "tape: 6 records\n"), "%s", s);
    /* records in order, each with its index and op */
    const char *heads[] = {"#0   linear", "#1   tanh", "#2   linear", "#3   sub", "#4   square",
                           "#5   mean"};
    const char *prev = s;
    for (int i = 0; i < 6; i++) {
        const char *p = strstr(s, heads[i]);
        cr_expect(p && p >= prev, "'%s' missing or out of order in\n%s", heads[i], s);
        if (p) prev = p;
    }
    /* inputs with their kinds and shapes */
    cr_expect(strstr(s, "x          [4,2] input"), "%s", s);
    cr_expect(strstr(s, "fc1.weight [3,2] param"), "%s", s);
    cr_expect(strstr(s, "fc1.bias   [3]   param"), "%s", s);
    cr_expect(strstr(s, "y          [4,1] const"), "%s", s);
    cr_expect(strstr(s, "from #0"), "%s", s);
    cr_expect(strstr(s, "in2  (none)"), "linear without bias shows the missing input:\n%s", s);
    /* the loss's value is shown (one element) */
    char want[64];
    snprintf(want, sizeof want, "= %.6g", (double)n.loss->data[0]);
    cr_expect(strstr(s, want), "'%s' missing:\n%s", want, s);
    cr_expect_null(strstr(s, "grad norm"), "no gradients before backward:\n%s", s);
    free(s);

    cr_assert_eq(tg_backward(n.t, n.loss), TG_OK, "%s", tg_tape_error(n.t));
    s = print_to_string(n.t);
    cr_expect(strstr(s, "after backward"), "%s", s);
    /* every tensor that has a gradient shows its norm where it appears: the
       6 outputs, and 9 inputs (all but the constant y and the missing bias) */
    cr_expect_eq(count_of(s, "grad norm") + count_of(s, "grad 1 "), 6 + 9, "%s", s);
    double norm = 0;
    for (int i = 0; i < 6; i++) norm += (double)n.W1->grad[i] * (double)n.W1->grad[i];
    snprintf(want, sizeof want, "fc1.weight [3,2] param     grad norm %.4g", sqrt(norm));
    cr_expect(strstr(s, want), "'%s' missing:\n%s", want, s);
    cr_expect(strstr(s, "#5   mean   -> t"), "%s", s);
    cr_expect(strstr(s, "grad 1 "), "d(loss)/d(loss) = 1:\n%s", s);
    free(s);
    destroy(&n);
}

Test(introspect, print_shows_a_scalars_gradient_with_its_sign)
{
    /* a norm would show 3 (found by a learner's review) */
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_set_name(tg_requires_grad(tg_scalar(t, 2), true), "x");
    tg_tensor *loss = tg_scale(t, x, -3);
    cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
    char *s = print_to_string(t);
    cr_expect(strstr(s, "in0  x    []   input    = 2  grad -3"), "%s", s);
    free(s);
    tg_tape_free(t);
}

Test(introspect, print_refuses_null_and_prints_an_empty_tape)
{
    tg_tape *t = tg_tape_new();
    cr_expect_eq(tg_tape_print(NULL, stdout), TG_ERR_INVALID);
    cr_expect_eq(tg_tape_print(t, NULL), TG_ERR_INVALID);
    cr_expect_eq(tg_tape_dot(NULL, stdout), TG_ERR_INVALID);
    cr_expect_eq(tg_tape_dot(t, NULL), TG_ERR_INVALID);
    char *s = print_to_string(t);
    cr_expect_str_eq(s, "tape: 0 records\n");
    free(s);
    tg_tape_free(t);
}

/* Writes the tape's DOT to a file and renders it with Graphviz. Returns
   the DOT text (free it). */
static char *render(const tg_tape *t, const char *tag)
{
    char dot[256], svg[256], cmd[700];
    snprintf(dot, sizeof dot, "%s/tests/introspect_%s_%ld_%s.dot", TG_BINARY_DIR, tg_real_name(),
             (long)getpid(), tag);
    snprintf(svg, sizeof svg, "%.250s.svg", dot);
    FILE *f = fopen(dot, "w");
    cr_assert_not_null(f, "cannot write %s", dot);
    cr_expect_eq(tg_tape_dot(t, f), TG_OK, "%s", tg_last_error());
    fclose(f);
    snprintf(cmd, sizeof cmd, "dot -Tsvg '%s' -o '%s'", dot, svg);
    int rc = system(cmd);
    cr_expect_eq(rc, 0, "Graphviz could not render %s (is `dot` installed?): %s exited with %d",
                 dot, cmd, rc);
    struct stat st;
    cr_expect(stat(svg, &st) == 0 && st.st_size > 1000, "%s is missing or nearly empty", svg);
    f = fopen(dot, "r");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = calloc((size_t)len + 1, 1);
    cr_assert_eq(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    remove(dot);
    remove(svg);
    return text;
}

Test(introspect, dot_renders_with_graphviz)
{
    net n;
    build(&n);
    char *before = render(n.t, "forward");
    cr_expect(strstr(before, "digraph tape {"), "%s", before);
    cr_expect_null(strstr(before, "\\ngrad "), "no gradients before backward");
    free(before);

    cr_assert_eq(tg_backward(n.t, n.loss), TG_OK);
    char *s = render(n.t, "backward");
    /* one ellipse per record, named by index and op */
    cr_expect_eq(count_of(s, "shape=ellipse"), 6 + 2 /* legend: op, gradient op */, "%s", s);
    cr_expect(strstr(s, "label=\"#0 linear\""), "%s", s);
    cr_expect(strstr(s, "label=\"#5 mean\""), "%s", s);
    /* 5 leaves + 6 results, each once: parameters, inputs and constants distinct */
    cr_expect_eq(count_of(s, "shape=box"), 11 + 4 /* legend */, "%s", s);
    cr_expect_eq(count_of(s, "fillcolor=\"#ffd8a8\", color=\"#d9480f\", label=\"fc1"), 2, "%s", s);
    cr_expect(strstr(s, "fillcolor=\"#ffd8a8\", color=\"#d9480f\", label=\"fc2.weight\\n[1,3] param"),
              "%s", s);
    cr_expect(strstr(s, "fillcolor=\"#d0ebff\", color=\"#1971c2\", label=\"x\\n[4,2] input"), "%s", s);
    cr_expect(strstr(s, "style=\"filled,dashed\", fillcolor=\"#f1f3f5\", color=\"#868e96\", "
                        "label=\"y\\n[4,1] const"),
              "%s", s);
    /* the loss: double border, its value and its gradient 1 */
    char want[128];
    snprintf(want, sizeof want, "peripheries=2, label=\"t%d\\n[]\\nvalue [%.3g]\\ngrad [1]\"",
             (int)n.loss->id, (double)n.loss->data[0]);
    cr_expect(strstr(s, want), "'%s' missing:\n%s", want, s);
    /* a big tensor is summarised; its gradient by its norm */
    cr_expect(strstr(s, "label=\"x\\n[4,2] input\\nvalue mean 0.375 in [-2, 2]\\ngrad norm "),
              "%s", s);
    /* multi-input ops number their edges */
    cr_expect(strstr(s, "-> r0 [label=\"1\"]"), "%s", s);
    free(s);
    destroy(&n);
}

Test(introspect, dot_escapes_names_and_renders_an_empty_tape)
{
    tg_tape *t = tg_tape_new();
    char *s = render(t, "empty");
    cr_expect(strstr(s, "digraph tape {"), "%s", s);
    free(s);
    tg_real v[] = {1, 2};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2), v), true);
    tg_tensor_set_name(x, "a \"quoted\" \\name");
    cr_assert_not_null(tg_exp(t, x));
    s = render(t, "quoted");
    cr_expect(strstr(s, "label=\"a \\\"quoted\\\" \\\\name\\n[2] input"), "%s", s);
    free(s);
    tg_tape_free(t);
}

/* After a backward with create_graph, the gradient's records are part of the
   tape, and both printers say which record's rule made them. */
Test(introspect, gradient_records_are_shown_as_such)
{
    net n;
    build(&n);
    size_t forward = tg_tape_record_count(n.t);
    tg_tensor *gx = tg_grad1(n.t, n.loss, n.x, true);
    cr_assert_not_null(gx, "%s", tg_tape_error(n.t));
    size_t all = tg_tape_record_count(n.t);
    cr_assert(all > forward, "create_graph recorded the gradient");
    for (size_t i = 0; i < all; i++)
        cr_expect_eq(tg_tape_record(n.t, i)->backward_of >= 0, i >= forward, "record %zu", i);
    char *text = print_to_string(n.t);
    cr_expect_eq(count_of(text, "[in the gradient of #"), (int)(all - forward), "%s", text);
    free(text);
    char *dot = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&dot, &len);
    cr_assert_eq(tg_tape_dot(n.t, f), TG_OK);
    fclose(f);
    cr_expect_eq(count_of(dot, "(gradient of #"), (int)(all - forward), "%s", dot);
    free(dot);
    destroy(&n);
}

/* A stream whose writes fail (/dev/full): the short outputs sat in stdio's
   buffer, ferror was not set yet, and they returned TG_OK */
Test(introspect, writers_report_a_full_stream)
{
    FILE *f = fopen("/dev/full", "w");
    cr_assert_not_null(f, "/dev/full is needed");
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_ones(t, TG_SHAPE(2)), true);
    cr_assert_not_null(tg_sum(t, x, TG_ALL, false));
    cr_expect_eq(tg_tape_print(t, f), TG_ERR_IO);
    cr_expect_str_eq(tg_last_error(), "tg_tape_print: write error");
    clearerr(f);
    cr_expect_eq(tg_tape_dot(t, f), TG_ERR_IO);
    cr_expect_str_eq(tg_last_error(), "tg_tape_dot: write error");
    clearerr(f);
    tg_params *p = tg_params_new();
    cr_assert_not_null(tg_params_add(p, "w", TG_SHAPE(2)));
    cr_expect_eq(tg_params_summary(p, f), TG_ERR_IO);
    cr_expect(strstr(tg_last_error(), "tg_params_summary: ") != NULL, "%s", tg_last_error());
    fclose(f);
    tg_params_free(p);
    tg_tape_free(t);
}
