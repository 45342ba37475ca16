#define _POSIX_C_SOURCE 200809L
#include "golden.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ reading */

typedef struct reader {
    FILE *f;
    char *line;
    size_t cap;
    int lineno;
    const char *path;
} reader;

static bool next_line(reader *r)
{
    ssize_t n = getline(&r->line, &r->cap, r->f);
    if (n < 0) return false;
    r->lineno++;
    return true;
}

static bool read_dims(const char *s, gt_array *a)
{
    char *end;
    a->ndim = (int)strtol(s, &end, 10);
    if (a->ndim < 0 || a->ndim > TG_MAX_DIMS) return false;
    a->n = 1;
    for (int i = 0; i < a->ndim; i++) {
        a->shape[i] = strtoll(end, &end, 10);
        a->n *= a->shape[i];
    }
    return true;
}

static bool read_values(reader *r, double *v, int64_t n)
{
    if (!next_line(r)) return false;
    char *p = r->line, *end;
    for (int64_t i = 0; i < n; i++) {
        v[i] = strtod(p, &end);
        if (end == p) return false;
        p = end;
    }
    return true;
}

static bool read_array(reader *r, const char *dims, gt_array *a)
{
    if (!read_dims(dims, a)) return false;
    a->v = malloc((size_t)(a->n ? a->n : 1) * sizeof(double));
    return a->v && read_values(r, a->v, a->n);
}

static void free_case(gt_case *c)
{
    for (int i = 0; i < TG_MAX_INPUTS; i++) {
        free(c->in[i].v);
        free(c->grad[i].v);
    }
    free(c->out.v);
    free(c->R.v);
    free(c->index);
}

void gt_free(gt_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) free_case(&f->cases[i]);
    free(f->cases);
    free(f);
}

gt_file *gt_load(const char *name)
{
    char path[1024];
#ifdef TG_DOUBLE
    snprintf(path, sizeof path, "%s/%s_f64.txt", TG_TEST_DATA_DIR, name);
#else
    snprintf(path, sizeof path, "%s/%s_f32.txt", TG_TEST_DATA_DIR, name);
#endif
    reader r = {.f = fopen(path, "r"), .path = path};
    if (!r.f) {
        fprintf(stderr, "golden: cannot open %s\n", path);
        return NULL;
    }
    gt_file *f = calloc(1, sizeof *f);
    int cap = 0;
    gt_case *c = NULL;
    bool ok = f != NULL;
    while (ok && next_line(&r)) {
        char *s = r.line;
        if (s[0] == '#' || s[0] == '\n') continue;
        if (strncmp(s, "case ", 5) == 0) {
            if (f->n == cap) {
                cap = cap ? 2 * cap : 64;
                gt_case *nc = realloc(f->cases, (size_t)cap * sizeof *nc);
                if (!nc) {
                    ok = false;
                    break;
                }
                f->cases = nc;
            }
            c = &f->cases[f->n++];
            memset(c, 0, sizeof *c);
            ok = sscanf(s + 5, "%127s %63s", c->name, c->op) == 2;
        } else if (!c) {
            ok = false;
        } else if (strncmp(s, "attr ", 5) == 0) {
            ok = c->n_attr < GT_MAX_ATTR &&
                 sscanf(s + 5, "%31s %lf", c->attr_key[c->n_attr], &c->attr_val[c->n_attr]) == 2;
            c->n_attr++;
        } else if (strncmp(s, "in ", 3) == 0) {
            ok = c->n_in < TG_MAX_INPUTS && read_array(&r, s + 3, &c->in[c->n_in]);
            c->n_in++;
        } else if (strncmp(s, "index ", 6) == 0) {
            c->n_index = strtoll(s + 6, NULL, 10);
            c->index = malloc((size_t)(c->n_index ? c->n_index : 1) * sizeof(int64_t));
            double *tmp = malloc((size_t)(c->n_index ? c->n_index : 1) * sizeof(double));
            ok = c->index && tmp && read_values(&r, tmp, c->n_index);
            for (int64_t i = 0; ok && i < c->n_index; i++) c->index[i] = (int64_t)tmp[i];
            free(tmp);
        } else if (strncmp(s, "out ", 4) == 0) {
            ok = read_array(&r, s + 4, &c->out);
        } else if (strncmp(s, "R ", 2) == 0) {
            ok = read_array(&r, s + 2, &c->R);
        } else if (strncmp(s, "grad ", 5) == 0) {
            char *end;
            long k = strtol(s + 5, &end, 10);
            ok = k >= 0 && k < TG_MAX_INPUTS && read_array(&r, end, &c->grad[k]);
            if (ok) c->has_grad[k] = true;
        } else if (strncmp(s, "end", 3) == 0) {
            c = NULL;
        } else {
            ok = false;
        }
    }
    if (!ok) fprintf(stderr, "golden: %s:%d: cannot parse\n", path, r.lineno);
    free(r.line);
    fclose(r.f);
    if (!ok) {
        gt_free(f);
        return NULL;
    }
    return f;
}

double gt_attr(const gt_case *c, const char *key, double dflt)
{
    for (int i = 0; i < c->n_attr; i++)
        if (strcmp(c->attr_key[i], key) == 0) return c->attr_val[i];
    return dflt;
}

/* ---------------------------------------------------------------- comparing */

gt_tol gt_default_tol(void)
{
#ifdef TG_DOUBLE
    return (gt_tol){1e-12, 1e-14};
#else
    return (gt_tol){1e-5, 1e-6};
#endif
}

double gt_tdist(const tg_real *got, const double *want, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(want[i]) || !isfinite((double)got[i])) continue;
        double d = (double)got[i] - want[i];
        s += d * d;
    }
    return sqrt(s);
}

bool gt_expect_close(const tg_real *got, const double *want, int64_t n, gt_tol tol,
                     const char *what)
{
    int64_t worst = -1;
    double worst_excess = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = (double)got[i], w = want[i];
        if (isnan(w) || isnan(g)) {
            if (isnan(w) != isnan(g)) {
                worst = i;
                worst_excess = INFINITY;
                break;
            }
            continue;
        }
        if (isinf(w) || isinf(g)) {
            if (g != w) {
                worst = i;
                worst_excess = INFINITY;
                break;
            }
            continue;
        }
        double excess = fabs(g - w) - (tol.atol + tol.rtol * fabs(w));
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = i;
        }
    }
    cr_expect(worst < 0, "%s: element %lld is %.17g, PyTorch says %.17g (rtol %g, atol %g)", what,
              (long long)worst, worst < 0 ? 0.0 : (double)got[worst], worst < 0 ? 0.0 : want[worst],
              tol.rtol, tol.atol);
    return worst < 0;
}

static bool same_dims(const tg_tensor *x, const gt_array *a)
{
    if (x->ndim != a->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (x->shape[i] != a->shape[i]) return false;
    return true;
}

int gt_run_op(const gt_file *f, const char *op, gt_build_fn build, gt_tol tol)
{
    int ran = 0;
    bool verbose = getenv("TG_TEST_QUIET") == NULL; /* the tdist lines */
    static bool legend_printed;
    if (verbose && !legend_printed) {
        printf("tdist = ||tapegrad - PyTorch||_2, the Euclidean norm of the difference "
               "(TG_TEST_QUIET=1: no tdist lines)\n");
        legend_printed = true;
    }
    for (int ci = 0; f && ci < f->n; ci++) {
        const gt_case *c = &f->cases[ci];
        if (strcmp(c->op, op) != 0) continue;
        ran++;
        tg_tape *t = tg_tape_new();
        tg_tensor *in[TG_MAX_INPUTS] = {0};
        tg_real *buf = NULL;
        for (int k = 0; k < c->n_in; k++) {
            const gt_array *a = &c->in[k];
            buf = realloc(buf, (size_t)(a->n ? a->n : 1) * sizeof(tg_real));
            for (int64_t i = 0; i < a->n; i++) buf[i] = (tg_real)a->v[i];
            in[k] = tg_tensor_new(t, a->ndim, a->shape, buf);
            if (c->has_grad[k]) tg_requires_grad(in[k], true);
        }
        tg_tensor *out = build(t, in, c);
        cr_expect(out != NULL, "%s: the op failed: %s", c->name, tg_tape_error(t));
        if (out) {
            char what[256];
            cr_expect(same_dims(out, &c->out), "%s: output shape differs from PyTorch's", c->name);
            if (same_dims(out, &c->out)) {
                snprintf(what, sizeof what, "%s: output", c->name);
                gt_expect_close(out->data, c->out.v, out->size, tol, what);
                if (verbose)
                    printf("%-40s tdist(out)  = %.3e\n", c->name,
                           gt_tdist(out->data, c->out.v, out->size));
            }
            bool any_grad = false;
            for (int k = 0; k < c->n_in; k++) any_grad |= c->has_grad[k];
            if (any_grad && out->size == c->R.n) {
                buf = realloc(buf, (size_t)(c->R.n ? c->R.n : 1) * sizeof(tg_real));
                for (int64_t i = 0; i < c->R.n; i++) buf[i] = (tg_real)c->R.v[i];
                int st = tg_backward_grad(t, out, buf);
                cr_expect(st == TG_OK, "%s: backward failed: %s", c->name, tg_tape_error(t));
                for (int k = 0; st == TG_OK && k < c->n_in; k++) {
                    if (!c->has_grad[k]) continue;
                    snprintf(what, sizeof what, "%s: gradient of input %d", c->name, k);
                    cr_expect(in[k]->grad != NULL, "%s is missing", what);
                    if (!in[k]->grad) continue;
                    gt_expect_close(in[k]->grad, c->grad[k].v, in[k]->size, tol, what);
                    if (verbose)
                        printf("%-40s tdist(grad%d) = %.3e\n", c->name, k,
                               gt_tdist(in[k]->grad, c->grad[k].v, in[k]->size));
                }
            }
        }
        free(buf);
        tg_tape_free(t);
    }
    cr_expect(ran > 0, "no golden case for op '%s'", op);
    return ran;
}
