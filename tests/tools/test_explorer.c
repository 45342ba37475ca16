/* The explorer page (tg_tape_html) and the table of rules (tg_op_rule):
   every built-in op has a rule; the page leaves the tape as it was, refuses
   what it cannot draw, caps big graphs, marks the records of a gradient.

   The test `pages` also writes the pages that tests/tools/test_explorer.py
   opens in a real browser, each with <name>.expected.json beside it: the
   numbers the page must show, computed here WITHOUT the page's walk, by the
   library's own engine (tg_grad for what arrives at each record's output,
   tg_backward for the leaves' gradients) and, for what each record adds into
   its inputs, by running the record's op again with tg_apply on a fresh tape
   and back-propagating the arriving gradient there. */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <tapegrad.h>

static int count_of(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

/* The page into a string (free it); the status through *st. */
static char *page_of(const tg_tape *t, const tg_tensor *loss, const tg_html_opts *o, int *st)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    *st = tg_tape_html(t, loss, f, o);
    fclose(f);
    return buf;
}

/* ------------------------------------------------------------ the rules */

Test(explorer, every_builtin_op_has_a_rule)
{
    size_t n = tg_op_count(), builtins = 0;
    for (size_t i = 0; i < n; i++) {
        const tg_op *op = tg_op_at(i);
        if (!tg_op_is_builtin(op)) continue;
        builtins++;
        const char *rule = tg_op_rule(op->name);
        cr_expect(rule && *rule, "the built-in op '%s' has no rule in src/tools/rules.c",
                  op->name);
        /* a local derivative's numbers name inputs the op has */
        for (int k = 0; k < 3; k++) {
            const char *d = tg_op_local_derivative(op->name, k);
            if (!d) continue;
            cr_expect(k < op->n_inputs, "'%s': a local derivative for input %d of %d", op->name,
                      k, op->n_inputs);
            for (const char *p = strchr(d, '{'); p; p = strchr(p + 1, '{')) {
                bool ok = p[1] && p[2] == '}' && strchr("xabcy", p[1]);
                int need = p[1] == 'b' ? 2 : p[1] == 'c' ? 3 : 1;
                cr_expect(ok && need <= op->n_inputs, "'%s': bad placeholder in \"%s\"", op->name,
                          d);
            }
        }
    }
    cr_expect_gt(builtins, 40);
    cr_expect_null(tg_op_rule("no_such_op"));
    cr_expect_null(tg_op_rule(NULL));
    cr_expect_null(tg_op_local_derivative("tanh", 3));
    cr_expect_null(tg_op_local_derivative("tanh", -1));
    cr_expect_str_eq(tg_op_local_derivative("tanh", 0), "1 − {y}²");
}

/* ------------------------------------------------------------ the tapes */

/* micrograd's network, with h read by two records and twice by one:
     z1 = linear(x, W1, b1)   h = tanh(z1)   hh = h·h   hs = hh + h
     yhat = linear(hs, W2, b2)   d = yhat − y   d2 = d²   loss = Σ d2 */
typedef struct {
    tg_tape *t;
    tg_params *p;
    tg_tensor *x, *y, *h, *loss;
} net;

static tg_tensor *named(tg_tensor *x, const char *name) { return tg_tensor_set_name(x, name); }

static void net_build(net *n)
{
    n->t = tg_tape_new();
    n->p = tg_params_new();
    cr_assert(n->t && n->p);
    tg_tensor *W1 = tg_params_add(n->p, "W1", TG_SHAPE(4, 3));
    tg_tensor *b1 = tg_params_add(n->p, "b1", TG_SHAPE(4));
    tg_tensor *W2 = tg_params_add(n->p, "W2", TG_SHAPE(1, 4));
    tg_tensor *b2 = tg_params_add(n->p, "b2", TG_SHAPE(1));
    cr_assert(W1 && b1 && W2 && b2);
    tg_rng r;
    tg_rng_seed(&r, 7);
    for (size_t i = 0; i < tg_params_count(n->p); i++) {
        tg_tensor *w = tg_params_at(n->p, i);
        for (int64_t k = 0; k < w->size; k++) w->data[k] = (tg_real)(tg_rng_uniform(&r) - 0.5);
    }
    const tg_real X[] = {2, 3, -1, 3, -1, 0.5, 0.5, 1, 1, 1, 1, -1}, Y[] = {1, -1, -1, 1};
    tg_tape *t = n->t;
    n->x = named(tg_tensor_new(t, TG_SHAPE(4, 3), X), "x");
    n->y = named(tg_tensor_new(t, TG_SHAPE(4, 1), Y), "y");
    tg_tensor *z1 = named(tg_linear(t, n->x, W1, b1), "z1");
    n->h = named(tg_tanh(t, z1), "h");
    tg_tensor *hs = named(tg_add(t, named(tg_mul(t, n->h, n->h), "hh"), n->h), "hs");
    tg_tensor *yhat = named(tg_linear(t, hs, W2, b2), "yhat");
    tg_tensor *d = named(tg_sub(t, yhat, n->y), "d");
    n->loss = named(tg_sum(t, named(tg_square(t, d), "d2"), TG_ALL, false), "loss");
    cr_assert_not_null(n->loss, "%s", tg_tape_error(t));
}

static void net_free(net *n)
{
    tg_params_free(n->p);
    tg_tape_free(n->t);
}

/* ------------------------------------------------------------ the page */

Test(explorer, refuses_what_it_cannot_draw)
{
    net n;
    net_build(&n);
    int st;
    cr_expect_eq(tg_tape_html(NULL, n.loss, stdout, NULL), TG_ERR_INVALID);
    cr_expect_eq(tg_tape_html(n.t, n.loss, NULL, NULL), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "tg_tape_html"), "%s", tg_last_error());
    /* a loss of four elements */
    free(page_of(n.t, n.h, NULL, &st));
    cr_expect_eq(st, TG_ERR_SHAPE);
    cr_expect(strstr(tg_last_error(), "one element"), "%s", tg_last_error());
    /* a leaf is not a recorded result */
    free(page_of(n.t, n.x, NULL, &st));
    cr_expect_eq(st, TG_ERR_INVALID);
    /* nor a result of tensors none of which requires grad (the commonest
       slip: it said "not a result recorded on this tape"; found by a
       learner's review) */
    tg_tensor *c = tg_sum(n.t, tg_square(n.t, n.x), TG_ALL, false);
    free(page_of(n.t, c, NULL, &st));
    cr_expect_eq(st, TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "no tensor it depends on requires grad"), "%s",
              tg_last_error());
    /* a loss of another tape */
    net m;
    net_build(&m);
    free(page_of(n.t, m.loss, NULL, &st));
    cr_expect_eq(st, TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "not a result recorded on this tape"), "%s",
              tg_last_error());
    /* a loss from before the last reset */
    tg_tape_reset(m.t);
    free(page_of(m.t, m.loss, NULL, &st));
    cr_expect_eq(st, TG_ERR_INVALID);
    net_free(&m);
    net_free(&n);
}

/* Names are the user's text: the page's script puts them into HTML only
   through esc(). The worked element's heading took x.label raw, so a name
   with markup ran in the learner's browser (found by a learner's review).
   Every read of a tensor's label in the script is checked here: esc(...)
   around it, or the one function that returns it (whose calls are checked
   the same way). */
static bool escaped_before(const char *script, const char *at)
{
    const char *b = at; /* back over the expression: TG.tensors[r.in[k]] */
    while (b > script && (strchr("._[]", b[-1]) || (b[-1] >= 'a' && b[-1] <= 'z') ||
                          (b[-1] >= 'A' && b[-1] <= 'Z') || (b[-1] >= '0' && b[-1] <= '9')))
        b--;
    return b - script >= 4 && strncmp(b - 4, "esc(", 4) == 0;
}

Test(explorer, the_script_escapes_every_name_it_puts_in_html)
{
    net n;
    net_build(&n);
    int st;
    char *page = page_of(n.t, n.loss, NULL, &st);
    cr_assert_eq(st, TG_OK, "%s", tg_last_error());
    const char *script = strstr(page, "function esc(");
    cr_assert(script, "the page's script has no esc()");
    int reads = 0;
    for (const char *at = strstr(script, ".label"); at; at = strstr(at + 1, ".label")) {
        if (at[6] == '_' || (at[6] >= 'a' && at[6] <= 'z')) continue; /* .labels, .label_x */
        reads++;
        bool ok = escaped_before(script, at) ||
                  strncmp(at - 13, "TG.tensors[t].label; }", 22) == 0; /* label(t) */
        char ctx[96];
        snprintf(ctx, sizeof ctx, "%.80s", at > script + 40 ? at - 40 : script);
        cr_expect(ok, "a label put in the page unescaped: ...%s...", ctx);
    }
    for (const char *at = strstr(script, "label("); at; at = strstr(at + 1, "label(")) {
        if (at > script && (at[-1] == '_' || (at[-1] >= 'a' && at[-1] <= 'z'))) continue;
        if (strncmp(at - 9, "function ", 9) == 0) continue;
        char ctx[96];
        snprintf(ctx, sizeof ctx, "%.80s", at > script + 40 ? at - 40 : script);
        cr_expect(strncmp(at - 4, "esc(", 4) == 0, "label() unescaped: ...%s...", ctx);
    }
    cr_expect_gt(reads, 3, "the script reads labels");
    free(page);
    net_free(&n);
}

Test(explorer, leaves_the_tape_as_it_was)
{
    net n;
    net_build(&n);
    tg_tape_stats before = tg_tape_get_stats(n.t);
    tg_tensor *W1 = tg_params_get(n.p, "W1");
    tg_real *g0 = W1->grad;
    tg_real w1_grad[12];
    memcpy(w1_grad, W1->grad, sizeof w1_grad);
    int st;
    char *s = page_of(n.t, n.loss, NULL, &st);
    cr_expect_eq(st, TG_OK, "%s", tg_last_error());
    tg_tape_stats after = tg_tape_get_stats(n.t);
    cr_expect_eq(after.records, before.records);
    cr_expect_eq(after.tensors, before.tensors);
    cr_expect_eq(after.arena_used, before.arena_used, "the page took memory from the tape");
    cr_expect_eq(W1->grad, g0);
    cr_expect_arr_eq(W1->grad, w1_grad, sizeof w1_grad, "the page changed a parameter's grad");
    cr_expect_null(n.h->grad, "the page gave an intermediate result a gradient");
    cr_expect_null(n.loss->grad);
    /* one self-contained page: no file or address is loaded */
    cr_expect(strncmp(s, "<!DOCTYPE html>", 15) == 0);
    cr_expect_eq(count_of(s, "<svg id=\"graph\""), 1);
    cr_expect_eq(count_of(s, "http"), 1, "only the SVG namespace may name an address");
    cr_expect(strstr(s, "xmlns=\"http://www.w3.org/2000/svg\""));
    cr_expect_null(strstr(s, " src="));
    cr_expect_null(strstr(s, "<link"));
    cr_expect_null(strstr(s, "href="));
    /* every record drawn, with its index and op; one box per tensor */
    cr_expect_eq(count_of(s, "<g class=\"rec"), 8);
    cr_expect(strstr(s, ">#2 mul</text>"));
    cr_expect_eq(count_of(s, "<g class=\"ten"), 14);
    cr_expect_eq(count_of(s, "<g class=\"ten param"), 4);
    cr_expect_eq(count_of(s, "<g class=\"ten const"), 2);
    /* the rules shown are the table's */
    cr_expect(strstr(s, "rule:\"y = tanh(x);  dx += g·(1 − y²)\""));
    /* h is read by two records: its second gradient is marked as such */
    cr_expect_eq(count_of(s, "nth:2"), 1);
    cr_expect(strstr(s, "slots:[0,1]"), "mul(h, h): one contribution for both slots");
    free(s);
    /* with a backward run first: the page still shows this backward alone */
    cr_assert_eq(tg_backward(n.t, n.loss), TG_OK);
    memcpy(w1_grad, W1->grad, sizeof w1_grad);
    tg_real h_grad[16];
    memcpy(h_grad, n.h->grad, sizeof h_grad);
    s = page_of(n.t, n.loss, NULL, &st);
    cr_expect_eq(st, TG_OK);
    cr_expect_arr_eq(W1->grad, w1_grad, sizeof w1_grad);
    cr_expect_arr_eq(n.h->grad, h_grad, sizeof h_grad);
    free(s);
    net_free(&n);
}

Test(explorer, forward_only_without_a_loss)
{
    net n;
    net_build(&n);
    int st;
    char *s = page_of(n.t, NULL, NULL, &st);
    cr_expect_eq(st, TG_OK);
    cr_expect(strstr(s, "steps:[],"));
    cr_expect_eq(count_of(s, "<g class=\"rec"), 8);
    free(s);
    /* an empty tape is a page too */
    tg_tape *t = tg_tape_new();
    s = page_of(t, NULL, NULL, &st);
    cr_expect_eq(st, TG_OK);
    cr_expect(strstr(s, "0 records, 0 tensors"), "%s", s);
    free(s);
    tg_tape_free(t);
    net_free(&n);
}

Test(explorer, caps_what_is_drawn)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_full(t, TG_SHAPE(3), 0.5), true);
    for (int i = 0; i < 300; i++) x = tg_tanh(t, x);
    tg_tensor *loss = tg_sum(t, x, TG_ALL, false);
    cr_assert_not_null(loss);
    tg_html_opts o = {.max_records = 50};
    int st;
    char *s = page_of(t, loss, &o, &st);
    cr_expect_eq(st, TG_OK, "%s", tg_last_error());
    cr_expect_eq(count_of(s, "<g class=\"rec"), 50);
    /* the records nearest the loss: backward visits them first */
    cr_expect(strstr(s, "The graph shows records #251 to #300 of 301 (at most 50 are drawn, "
                        "those nearest the loss)"));
    cr_expect(strstr(s, "id=\"r300\""));
    cr_expect_null(strstr(s, "id=\"r250\""));
    cr_expect(strstr(s, "bof:-1,reached:true,drawn:false,out:1,"), "record #0 is not drawn");
    cr_expect_eq(count_of(s, "drawn:true"), 50);
    /* every record is still stepped through */
    cr_expect(strstr(s, "steps:[{rec:-1,"), "the seed comes first");
    cr_expect_eq(count_of(s, ",{rec:"), 301, "one step per record after the seed");
    free(s);
    /* without a loss: the first records */
    s = page_of(t, NULL, &o, &st);
    cr_expect_eq(st, TG_OK, "%s", tg_last_error());
    cr_expect(strstr(s, "The graph shows records #0 to #49 of 301 (at most 50 are drawn, "
                        "the first)"));
    cr_expect(strstr(s, "id=\"r0\""));
    cr_expect_null(strstr(s, "id=\"r50\""));
    free(s);
    /* small tensors in full, larger ones as statistics and a heat map */
    o = (tg_html_opts){.max_full = 2};
    s = page_of(t, loss, &o, &st);
    /* the 3-element tensors: 301 values, the sum's add and after, each tanh's
       arrive, add and after, 301 final gradients (the loss is shown in full) */
    int maps = count_of(s, ",h:{r:1,c:3,v:[");
    cr_expect_eq(maps, 301 + 2 + 300 * 3 + 301, "%d heat maps", maps);
    cr_expect_eq(count_of(s, ",v:[1]}"), 3, "the loss's seed, arrive and final gradient");
    free(s);
    tg_tape_free(t);
}

Test(explorer, draws_the_records_of_a_gradient)
{
    tg_tape *t = tg_tape_new();
    const tg_real xs[] = {0.5, -1, 2};
    tg_tensor *x = named(tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3), xs), true), "x");
    tg_tensor *y = tg_sum(t, tg_tanh(t, x), TG_ALL, false);
    tg_tensor *g = tg_grad1(t, y, x, true); /* 1 − tanh²(x), as records */
    tg_tensor *loss = tg_sum(t, tg_square(t, g), TG_ALL, false);
    cr_assert_not_null(loss, "%s", tg_tape_error(t));
    int grad_recs = 0;
    for (size_t i = 0; i < tg_tape_record_count(t); i++)
        grad_recs += tg_tape_record(t, i)->backward_of >= 0;
    cr_assert_gt(grad_recs, 0);
    int st;
    char *s = page_of(t, loss, NULL, &st);
    cr_expect_eq(st, TG_OK, "%s", tg_last_error());
    cr_expect_eq(count_of(s, "<g class=\"rec gradrec"), grad_recs);
    cr_expect_eq(count_of(s, ">gradient of #"), grad_recs);
    free(s);
    tg_tape_free(t);
}

/* ------------------------------------------- pages for the browser test */

static void json_values(FILE *f, const tg_real *v, int64_t n)
{
    fputc('[', f);
    for (int64_t i = 0; i < n; i++) fprintf(f, i ? ",%.17g" : "%.17g", (double)v[i]);
    fputc(']', f);
}

static const char *label(const tg_tensor *x, char *buf, size_t len)
{
    if (x->name) return x->name;
    snprintf(buf, len, "t%d", (int)x->id);
    return buf;
}

/* What input k of record r receives, made again without the page: the op
   applied with tg_apply to fresh leaves (one per distinct input) on a
   tape of its own, then tg_backward_grad with the arriving gradient. */
static void contribution(const tg_record *r, int k, const tg_real *arrive, tg_real *out)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *in[TG_MAX_INPUTS] = {0};
    for (int a = 0; a < r->n_in; a++) {
        if (!r->in[a]) continue;
        for (int b = 0; b < a && !in[a]; b++)
            if (r->in[b] == r->in[a]) in[a] = in[b];
        if (!in[a]) {
            in[a] = tg_tensor_new(t, r->in[a]->ndim, r->in[a]->shape, r->in[a]->data);
            tg_requires_grad(in[a], (r->in[a]->flags & TG_REQUIRES_GRAD) != 0);
        }
    }
    tg_tensor *y = tg_apply(t, r->op, in, r->n_in, r->attr);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    cr_assert_eq(tg_backward_grad(t, y, arrive), TG_OK, "%s", tg_tape_error(t));
    memcpy(out, in[k]->grad, (size_t)in[k]->size * sizeof(tg_real));
    tg_tape_free(t);
}

/* Writes dir/name.html and dir/name.expected.json. The leaves' final
   gradients come from tg_backward (the parameters' zeroed first); every
   result's from tg_grad. */
static void write_case(const char *dir, const char *name, tg_tape *t, tg_tensor *loss,
                       tg_params *p, const tg_html_opts *o)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.html", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(tg_tape_html(t, loss, f, o), TG_OK, "%s", tg_last_error());
    cr_assert_eq(fclose(f), 0);

    size_t n = tg_tape_record_count(t);
    tg_tensor **outs = malloc(n * sizeof *outs), **gr = malloc(n * sizeof *gr);
    for (size_t i = 0; i < n; i++) outs[i] = tg_tape_record(t, i)->out;
    tg_grad_opts go = {.allow_unused = true};
    cr_assert_eq(tg_grad(t, 1, &loss, NULL, (int)n, outs, gr, &go), TG_OK, "%s",
                 tg_tape_error(t));
    if (p) tg_params_zero_grad(p);
    cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
    /* the records the loss depends on (tg_grad's allow_unused gave zeros for the others) */
    bool *reached = calloc(n, sizeof *reached);
    reached[loss->rec] = true;
    for (size_t i = n; i-- > 0;)
        for (int k = 0; reached[i] && k < tg_tape_record(t, i)->n_in; k++) {
            const tg_tensor *x = tg_tape_record(t, i)->in[k];
            if (x && x->rec >= 0) reached[x->rec] = true;
        }

    snprintf(path, sizeof path, "%s/%s.expected.json", dir, name);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    char lb[32];
    fprintf(f, "{\"real\": \"%s\", \"loss\": \"%s\", \"records\": [", tg_real_name(),
            label(loss, lb, sizeof lb));
    for (size_t i = 0; i < n; i++) {
        const tg_record *r = tg_tape_record(t, i);
        fprintf(f, "%s\n {\"op\": \"%s\", \"bof\": %d, \"out\": \"%s\", \"in\": [", i ? "," : "",
                r->op->name, (int)r->backward_of, label(r->out, lb, sizeof lb));
        for (int k = 0; k < r->n_in; k++)
            fprintf(f, k ? ", \"%s\"" : "\"%s\"", r->in[k] ? label(r->in[k], lb, sizeof lb) : "");
        fputs("], \"arrive\": ", f);
        json_values(f, gr[i]->data, gr[i]->size);
        fputs(", \"contrib\": [", f);
        for (int k = 0; k < r->n_in; k++) {
            if (k) fputs(", ", f);
            if (!r->in[k] || !(r->in[k]->flags & TG_REQUIRES_GRAD)) {
                fputs("null", f);
                continue;
            }
            tg_real *c = malloc((size_t)r->in[k]->size * sizeof *c);
            contribution(r, k, gr[i]->data, c);
            json_values(f, c, r->in[k]->size);
            free(c);
        }
        fputs("]}", f);
    }
    /* every tensor: shape, value, final gradient (null for none) */
    fputs("],\n \"tensors\": {", f);
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        const tg_record *r = tg_tape_record(t, i);
        for (int k = -1; k < r->n_in; k++) {
            const tg_tensor *x = k < 0 ? r->out : r->in[k];
            if (!x || (k >= 0 && x->rec >= 0)) continue;
            fprintf(f, "%s\n  \"%s\": {\"shape\": [", first ? "" : ",", label(x, lb, sizeof lb));
            first = false;
            for (int d = 0; d < x->ndim; d++) fprintf(f, d ? ", %lld" : "%lld", (long long)x->shape[d]);
            fprintf(f, "], \"kind\": \"%s\", \"value\": ",
                    x->flags & TG_PARAM ? "param" : x->rec >= 0 ? "result"
                    : x->flags & TG_REQUIRES_GRAD ? "input" : "const");
            json_values(f, x->data, x->size);
            fputs(", \"grad\": ", f);
            if (x->rec >= 0 && reached[x->rec]) json_values(f, gr[x->rec]->data, x->size);
            else if (x->rec >= 0) fputs("null", f);
            else if (x->grad) json_values(f, x->grad, x->size);
            else fputs("null", f);
            fputc('}', f);
        }
    }
    fputs("}}\n", f);
    cr_assert_eq(fclose(f), 0);
    free(reached);
    free(outs);
    free(gr);
}

/* The element-wise ops whose local derivative the page works out with
   numbers, each on a leaf of its own: loss = Σ_op Σ op(x_op)·c_op. */
static void zoo(const char *dir)
{
    tg_tape *t = tg_tape_new();
    const tg_real xs[] = {-3.5, -1.25, 0.3, 1.7, 4.5}, pos[] = {0.2, 0.7, 1.3, 2.9, 5};
    const tg_real cs[] = {0.7, -1.1, 0.9, 1.3, -0.6};
    const char *unary[] = {"neg",  "exp",     "log",         "sqrt",      "abs",
                           "square", "erf",   "sigmoid",     "tanh",      "relu",
                           "relu6", "softsign", "silu",      "mish",      "hardsigmoid",
                           "hardswish", "logsigmoid", "add_scalar", "binary"};
    size_t nu = sizeof unary / sizeof *unary;
    tg_tensor *acc = NULL;
    char nm[64];
    for (size_t i = 0; i < nu; i++) {
        const char *op = unary[i];
        bool positive = !strcmp(op, "log") || !strcmp(op, "sqrt");
        snprintf(nm, sizeof nm, "x_%s", op);
        tg_tensor *x = named(tg_requires_grad(tg_tensor_new(t, TG_SHAPE(5), positive ? pos : xs),
                                              true), nm);
        tg_tensor *y = NULL;
        if (!strcmp(op, "neg")) y = tg_neg(t, x);
        else if (!strcmp(op, "exp")) y = tg_exp(t, x);
        else if (!strcmp(op, "log")) y = tg_log(t, x);
        else if (!strcmp(op, "sqrt")) y = tg_sqrt(t, x);
        else if (!strcmp(op, "abs")) y = tg_abs(t, x);
        else if (!strcmp(op, "square")) y = tg_square(t, x);
        else if (!strcmp(op, "erf")) y = tg_erf(t, x);
        else if (!strcmp(op, "sigmoid")) y = tg_sigmoid(t, x);
        else if (!strcmp(op, "tanh")) y = tg_tanh(t, x);
        else if (!strcmp(op, "relu")) y = tg_relu(t, x);
        else if (!strcmp(op, "relu6")) y = tg_relu6(t, x);
        else if (!strcmp(op, "softsign")) y = tg_softsign(t, x);
        else if (!strcmp(op, "silu")) y = tg_silu(t, x);
        else if (!strcmp(op, "mish")) y = tg_mish(t, x);
        else if (!strcmp(op, "hardsigmoid")) y = tg_hardsigmoid(t, x);
        else if (!strcmp(op, "hardswish")) y = tg_hardswish(t, x);
        else if (!strcmp(op, "logsigmoid")) y = tg_logsigmoid(t, x);
        else if (!strcmp(op, "add_scalar")) y = tg_add_scalar(t, x, 2);
        else {
            /* the binary ops on x and a second leaf b */
            tg_tensor *b = named(tg_requires_grad(tg_tensor_new(t, TG_SHAPE(5), pos), true), "b");
            y = tg_add(t, tg_add(t, tg_mul(t, x, b), tg_div(t, x, b)), tg_sub(t, b, x));
        }
        snprintf(nm, sizeof nm, "y_%s", op);
        named(y, nm);
        snprintf(nm, sizeof nm, "c_%s", op);
        tg_tensor *c = named(tg_tensor_new(t, TG_SHAPE(5), cs), nm);
        snprintf(nm, sizeof nm, "s_%s", op);
        tg_tensor *s = named(tg_sum(t, tg_mul(t, y, c), TG_ALL, false), nm);
        acc = acc ? tg_add(t, acc, s) : s;
    }
    named(acc, "loss");
    cr_assert_not_null(acc, "%s", tg_tape_error(t));
    write_case(dir, "zoo", t, acc, NULL, NULL);
    tg_tape_free(t);
}

Test(explorer, pages)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/tests/explorer_%s", TG_BINARY_DIR, tg_real_name());
    mkdir(dir, 0755);
    net n;
    net_build(&n);
    write_case(dir, "walk", n.t, n.loss, n.p, NULL);
    tg_html_opts small = {.title = "the same tape, tensors of more than 4 elements summarised",
                          .max_full = 4};
    write_case(dir, "walk_small", n.t, n.loss, n.p, &small);
    net_free(&n);

    tg_tape *t = tg_tape_new();
    const tg_real xs[] = {0.5, -1, 2};
    tg_tensor *x = named(tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3), xs), true), "x");
    tg_tensor *y = named(tg_sum(t, named(tg_tanh(t, x), "tx"), TG_ALL, false), "y");
    tg_tensor *g = named(tg_grad1(t, y, x, true), "dy_dx");
    tg_tensor *loss = named(tg_sum(t, named(tg_square(t, g), "g2"), TG_ALL, false), "loss");
    cr_assert_not_null(loss, "%s", tg_tape_error(t));
    write_case(dir, "create_graph", t, loss, NULL, NULL);
    tg_tape_free(t);

    zoo(dir);
}

Test(explorer, a_tensor_of_no_elements)
{
    /* the worked element read element 0 of an empty buffer (a heap overflow
       under ASan; found by a misuse fuzzer): no element, nothing worked */
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_zeros(t, TG_SHAPE(0)), true);
    tg_tensor *loss = tg_sum(t, tg_tanh(t, x), TG_ALL, false);
    cr_assert_not_null(loss);
    int st;
    char *s = page_of(t, loss, NULL, &st);
    cr_expect_eq(st, TG_OK, "%s", tg_last_error());
    cr_expect_eq(count_of(s, "worked:[]"), 2, "%s", s);
    free(s);
    tg_tape_free(t);
}
