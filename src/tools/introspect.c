/* Seeing the tape: as text (tg_tape_print) and as a Graphviz graph
   (tg_tape_dot).

   Only op results are made by records; the leaves (inputs, parameters,
   constants) are found as the inputs of records. A tensor is classified by
   its flags:

     param   TG_PARAM            owned by a tg_params
     input   a leaf that requires grad (tg_requires_grad)
     const   a leaf that needs no gradient (data, labels, tg_detach)
     #k      the output of record k

   Records that a gradient rule made during a backward with create_graph
   (tg_record.backward_of ≥ 0) are part of the graph like any other; the
   printers mark them ("[in the gradient of #k]", a yellow ellipse). */
#include "core/internal.h"

#include <stdlib.h>

/* ------------------------------------------------------------ helpers */

typedef enum { K_RESULT, K_PARAM, K_INPUT, K_CONST } kind;

static kind kind_of(const tg_tensor *x)
{
    if (x->flags & TG_PARAM) return K_PARAM;
    if (x->rec >= 0) return K_RESULT;
    if (x->flags & TG_REQUIRES_GRAD) return K_INPUT;
    return K_CONST;
}

static double l2_norm(const tg_real *v, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)v[i] * (double)v[i];
    return sqrt(s);
}

/* "fc1.weight", "x" or "t3" */
static const char *label_of(const tg_tensor *x, char *buf, size_t len)
{
    if (x->name) return x->name;
    snprintf(buf, len, "t%d", (int)x->id);
    return buf;
}

/* Every distinct tensor the records touch, in order of first appearance:
   the leaves as they are first read, each result when its record makes it. */
typedef struct {
    const tg_tensor **v;
    size_t n, cap;
} tensor_set;

static long set_index(const tensor_set *s, const tg_tensor *x)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == x) return (long)i;
    return -1;
}

static int set_add(tensor_set *s, const tg_tensor *x)
{
    if (!x || set_index(s, x) >= 0) return TG_OK;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        const tg_tensor **v = realloc(s->v, cap * sizeof *v);
        if (!v) return TG_ERR_NOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return TG_OK;
}

static int collect(const tg_tape *t, tensor_set *s)
{
    size_t n = tg_tape_record_count(t);
    for (size_t i = 0; i < n; i++) {
        const tg_record *r = tg_tape_record(t, i);
        for (int k = 0; k < r->n_in; k++)
            if (set_add(s, r->in[k]) != TG_OK) return TG_ERR_NOMEM;
        if (set_add(s, r->out) != TG_OK) return TG_ERR_NOMEM;
    }
    return TG_OK;
}

/* True when a later record reads x (so x is not a final output). */
static bool is_read(const tg_tape *t, const tg_tensor *x)
{
    size_t n = tg_tape_record_count(t);
    for (size_t i = (size_t)(x->rec >= 0 ? x->rec + 1 : 0); i < n; i++) {
        const tg_record *r = tg_tape_record(t, i);
        for (int k = 0; k < r->n_in; k++)
            if (r->in[k] == x) return true;
    }
    return false;
}

/* True once a backward has run over the tape: only backward gives record
   outputs a gradient (parameters always have a gradient buffer, so theirs
   say nothing). Gradients are shown only then. */
static bool backward_done(const tg_tape *t)
{
    size_t n = tg_tape_record_count(t);
    for (size_t i = 0; i < n; i++)
        if (tg_tape_record(t, i)->out->grad) return true;
    return false;
}

/* ------------------------------------------------------------ as text */

static const char *kind_word(const tg_tensor *x, char *buf, size_t len)
{
    switch (kind_of(x)) {
    case K_PARAM: return "param";
    case K_INPUT: return "input";
    case K_CONST: return "const";
    case K_RESULT: break;
    }
    snprintf(buf, len, "from #%d", (int)x->rec);
    return buf;
}

/* One line of text, built piece by piece and written without trailing
   spaces (the columns are padded; the last column may be empty). */
typedef struct {
    char s[512];
    size_t n;
} line;

static void add(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(line *l, const char *fmt, ...)
{
    if (l->n >= sizeof l->s) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(l->s + l->n, sizeof l->s - l->n, fmt, ap);
    va_end(ap);
    if (k > 0) l->n += (size_t)k < sizeof l->s - l->n ? (size_t)k : sizeof l->s - l->n - 1;
}

static void flush_line(line *l, FILE *f)
{
    while (l->n > 0 && l->s[l->n - 1] == ' ') l->n--;
    l->s[l->n] = '\0';
    fputs(l->s, f);
    fputc('\n', f);
    l->n = 0;
}

/* " = 0.25" for a one-element tensor, then "  grad norm 0.1234" when
   gradients are shown and x has one ("  grad -0.5" for one element: a norm
   would lose its sign) */
static void add_value_grad(line *l, const tg_tensor *x, bool grads)
{
    if (x->size == 1) add(l, " = %.6g", (double)x->data[0]);
    if (grads && x->grad && x->size == 1) add(l, "  grad %.4g", (double)x->grad[0]);
    else if (grads && x->grad) add(l, "  grad norm %.4g", l2_norm(x->grad, x->size));
}

int tg_tape_print(const tg_tape *t, FILE *f)
{
    if (!t || !f)
        return tg_set_error(TG_ERR_INVALID, "tg_tape_print: %s is NULL",
                            !t ? "the tape" : "the file");
    size_t n = tg_tape_record_count(t);
    /* column widths from the longest label, shape and op name */
    int wl = 4, ws = 4, wo = 4;
    bool grads = backward_done(t);
    char lb[64], sb[128], kb[32];
    for (size_t i = 0; i < n; i++) {
        const tg_record *r = tg_tape_record(t, i);
        int lo = (int)strlen(r->op->name);
        if (lo > wo) wo = lo;
        for (int k = -1; k < r->n_in; k++) {
            const tg_tensor *x = k < 0 ? r->out : r->in[k];
            if (!x) continue;
            int ll = (int)strlen(label_of(x, lb, sizeof lb));
            int ls = (int)strlen(tg_shape_str(x, sb, sizeof sb));
            if (ll > wl) wl = ll;
            if (ls > ws) ws = ls;
        }
    }
    if (wl > 32) wl = 32;
    if (wo > 24) wo = 24;
    fprintf(f, "tape: %zu record%s%s\n", n, n == 1 ? "" : "s",
            grads ? " (after backward: gradients; of more than one element, their L2 norms)" : "");
    line l = {.n = 0};
    for (size_t i = 0; i < n; i++) {
        const tg_record *r = tg_tape_record(t, i);
        const tg_tensor *y = r->out;
        /* #3   tanh   -> t7 [4,3] = 0.25  grad norm 1   (tanh(x)) */
        add(&l, "#%-3zu %-*s -> %-*s %-*s", i, wo, r->op->name, wl, label_of(y, lb, sizeof lb),
            ws, tg_shape_str(y, sb, sizeof sb));
        add_value_grad(&l, y, grads);
        if (r->backward_of >= 0) add(&l, "   [in the gradient of #%d]", (int)r->backward_of);
        else if (r->op->doc) add(&l, "   (%s)", r->op->doc);
        flush_line(&l, f);
        /*        in0  x    [4,3] input  = 2  grad norm 0.5 */
        for (int k = 0; k < r->n_in; k++) {
            const tg_tensor *x = r->in[k];
            if (!x) {
                add(&l, "       in%d  (none)", k);
            } else {
                add(&l, "       in%d  %-*s %-*s %-8s", k, wl, label_of(x, lb, sizeof lb), ws,
                    tg_shape_str(x, sb, sizeof sb), kind_word(x, kb, sizeof kb));
                add_value_grad(&l, x, grads);
            }
            flush_line(&l, f);
        }
    }
    return tg_write_status(f, "tg_tape_print");
}

/* ------------------------------------------------------------ as DOT */

/* Writes s inside a double-quoted DOT string. */
static void dot_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

/* A short summary of n values: all of them up to 4, else mean and range. */
static void dot_values(FILE *f, const char *what, const tg_real *v, int64_t n, bool norm)
{
    fprintf(f, "\\n%s ", what);
    if (n <= 4) {
        fputc('[', f);
        for (int64_t i = 0; i < n; i++) fprintf(f, i ? ", %.3g" : "%.3g", (double)v[i]);
        fputc(']', f);
        return;
    }
    if (norm) {
        fprintf(f, "norm %.3g", l2_norm(v, n));
        return;
    }
    double lo = (double)v[0], hi = lo, s = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = (double)v[i];
        s += x;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
    }
    fprintf(f, "mean %.3g in [%.3g, %.3g]", s / (double)n, lo, hi);
}

static void dot_tensor(FILE *f, const tg_tape *t, const tg_tensor *x, long id, bool grads)
{
    static const char *const style[] = {
        [K_RESULT] = "shape=box, style=\"rounded\", color=\"#555555\"",
        [K_PARAM] = "shape=box, style=\"filled,bold\", fillcolor=\"#ffd8a8\", color=\"#d9480f\"",
        [K_INPUT] = "shape=box, style=\"filled\", fillcolor=\"#d0ebff\", color=\"#1971c2\"",
        [K_CONST] = "shape=box, style=\"filled,dashed\", fillcolor=\"#f1f3f5\", color=\"#868e96\"",
    };
    static const char *const word[] = {[K_RESULT] = "", [K_PARAM] = " param",
                                       [K_INPUT] = " input", [K_CONST] = " const"};
    kind k = kind_of(x);
    char lb[64], sb[128];
    fprintf(f, "  x%ld [%s%s, label=\"", id, style[k],
            k == K_RESULT && !is_read(t, x) ? ", peripheries=2" : "");
    dot_escape(f, label_of(x, lb, sizeof lb));
    fprintf(f, "\\n%s%s", tg_shape_str(x, sb, sizeof sb), word[k]);
    if (x->data) dot_values(f, "value", x->data, x->size, false);
    if (grads && x->grad) dot_values(f, "grad", x->grad, x->size, true);
    fputs("\"];\n", f);
}

int tg_tape_dot(const tg_tape *t, FILE *f)
{
    if (!t || !f)
        return tg_set_error(TG_ERR_INVALID, "tg_tape_dot: %s is NULL", !t ? "the tape" : "the file");
    tensor_set s = {0};
    if (collect(t, &s) != TG_OK) {
        free(s.v);
        return tg_set_error(TG_ERR_NOMEM, "tg_tape_dot: out of memory");
    }
    fputs("digraph tape {\n"
          "  rankdir=LR;\n"
          "  node [fontname=\"Helvetica\", fontsize=10];\n"
          "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#495057\"];\n",
          f);
    bool grads = backward_done(t);
    for (size_t i = 0; i < s.n; i++) dot_tensor(f, t, s.v[i], (long)i, grads);
    size_t n = tg_tape_record_count(t);
    for (size_t i = 0; i < n; i++) {
        const tg_record *r = tg_tape_record(t, i);
        /* a record made by a gradient rule (create_graph) is drawn apart */
        bool gr = r->backward_of >= 0;
        fprintf(f, "  r%zu [shape=ellipse, style=\"filled\", fillcolor=\"%s\", label=\"#%zu ", i,
                gr ? "#fff3bf" : "#e9ecef", i);
        dot_escape(f, r->op->name);
        if (gr) fprintf(f, "\\n(gradient of #%d)", (int)r->backward_of);
        fputs("\"];\n", f);
        int n_present = 0;
        for (int k = 0; k < r->n_in; k++) n_present += r->in[k] != NULL;
        for (int k = 0; k < r->n_in; k++) {
            if (!r->in[k]) continue;
            fprintf(f, "  x%ld -> r%zu", set_index(&s, r->in[k]), i);
            if (n_present > 1) fprintf(f, " [label=\"%d\"]", k);
            fputs(";\n", f);
        }
        fprintf(f, "  r%zu -> x%ld;\n", i, set_index(&s, r->out));
    }
    /* a legend, for readers new to the picture */
    fputs("  subgraph cluster_legend {\n"
          "    label=\"legend\"; fontname=\"Helvetica\"; fontsize=9; color=\"#adb5bd\";\n"
          "    legend_param [shape=box, style=\"filled,bold\", fillcolor=\"#ffd8a8\", "
          "color=\"#d9480f\", label=\"parameter\", fontsize=8];\n"
          "    legend_input [shape=box, style=\"filled\", fillcolor=\"#d0ebff\", "
          "color=\"#1971c2\", label=\"input (requires grad)\", fontsize=8];\n"
          "    legend_const [shape=box, style=\"filled,dashed\", fillcolor=\"#f1f3f5\", "
          "color=\"#868e96\", label=\"constant\", fontsize=8];\n"
          "    legend_op [shape=ellipse, style=\"filled\", fillcolor=\"#e9ecef\", "
          "label=\"#record op\", fontsize=8];\n"
          "    legend_grad [shape=ellipse, style=\"filled\", fillcolor=\"#fff3bf\", "
          "label=\"record of a gradient\\n(create_graph)\", fontsize=8];\n"
          "    legend_out [shape=box, style=\"rounded\", peripheries=2, label=\"output\", "
          "fontsize=8];\n"
          "    legend_param -> legend_input -> legend_const -> legend_op -> legend_grad -> "
          "legend_out "
          "[style=invis];\n"
          "  }\n"
          "}\n",
          f);
    free(s.v);
    return tg_write_status(f, "tg_tape_dot");
}
