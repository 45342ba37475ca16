#define _POSIX_C_SOURCE 200809L
#include "golden.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ reading */

/* No golden array is near this size; a larger count is a corrupt file. */
#define GT_MAX_VALUES ((int64_t)1 << 32)

typedef struct reader {
    FILE *f;
    char *line;
    size_t cap;
    int lineno;
} reader;

static bool next_line(reader *r)
{
    ssize_t n = getline(&r->line, &r->cap, r->f);
    if (n < 0) return false;
    r->lineno++;
    return true;
}

static bool only_space(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return *p == '\0';
}

/* "<ndim> <d0> <d1> ...": every dim >= 0, the count bounded. */
static bool read_dims(const char *s, gt_array *a)
{
    char *end;
    long nd = strtol(s, &end, 10);
    if (end == s || nd < 0 || nd > TG_MAX_DIMS) return false;
    a->ndim = (int)nd;
    a->n = 1;
    for (int i = 0; i < a->ndim; i++) {
        const char *p = end;
        long long d = strtoll(p, &end, 10);
        if (end == p || d < 0) return false;
        if (d > 0 && a->n > GT_MAX_VALUES / d) return false;
        a->shape[i] = d;
        a->n *= d;
    }
    return only_space(end);
}

/* A number as Python's repr writes it, [-]digits[.digits][e[+-]digits],
   read exactly: when its digits, as an integer m, are below 2^53 and its
   power of ten p is within ±22, m and 10^|p| are both exact doubles, so the
   one division or product m·10^p rounds correctly, as strtod does (Clinger's
   fast path). Everything else (17 digits, nan, inf, ...) goes to strtod.
   About half the golden values take the fast path, which makes a file's
   load about a quarter cheaper (each test of a suite loads its file). */
static double read_number(const char *p, char **end)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *s = p;
    while (*s == ' ') s++;
    bool neg = *s == '-', frac = false;
    if (neg) s++;
    uint64_t m = 0; /* the significant digits, at most 19: below 2^64 */
    int exp10 = 0, digits = 0, sig = 0;
    for (;; s++) {
        if (*s >= '0' && *s <= '9') {
            if (m > 0 || *s != '0') {
                if (sig == 19) return strtod(p, end);
                m = m * 10 + (uint64_t)(*s - '0');
                sig++;
            }
            if (frac) exp10--;
            digits++;
        } else if (*s == '.' && !frac) {
            frac = true;
        } else {
            break;
        }
    }
    if (digits == 0 || *s == 'x' || *s == 'X') return strtod(p, end); /* nan, inf, hex, ... */
    if (*s == 'e' || *s == 'E') {
        const char *e = s + 1;
        bool eneg = *e == '-';
        if (*e == '-' || *e == '+') e++;
        if (*e < '0' || *e > '9') return strtod(p, end);
        int x = 0;
        for (; *e >= '0' && *e <= '9'; e++)
            if (x < 10000) x = x * 10 + (*e - '0');
        exp10 += eneg ? -x : x;
        s = e;
    }
    if (m >= ((uint64_t)1 << 53) || exp10 < -22 || exp10 > 22) return strtod(p, end);
    double v = exp10 < 0 ? (double)m / pow10[-exp10] : (double)m * pow10[exp10];
    *end = (char *)s;
    return neg ? -v : v;
}

/* Exactly n numbers on the next line. */
static bool read_values(reader *r, double *v, int64_t n)
{
    if (!next_line(r)) return false;
    char *p = r->line, *end;
    for (int64_t i = 0; i < n; i++) {
        v[i] = read_number(p, &end);
        if (end == p) return false;
        p = end;
    }
    return only_space(p);
}

/* A header's dims, then its values; a second array in the same place is an
   error (it would replace the first). */
static bool read_array(reader *r, const char *dims, gt_array *a)
{
    if (a->v || !read_dims(dims, a)) return false;
    a->v = malloc((size_t)(a->n ? a->n : 1) * sizeof(double));
    return a->v && read_values(r, a->v, a->n);
}

static bool same_shape(const gt_array *a, const gt_array *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

/* "<k> <ndim> <dims...>" of an array that belongs to input k (grad, V, gg,
   W, ggg): k names an input already read, and the shape is that input's. */
static bool read_of_input(reader *r, const char *s, gt_case *c, gt_array *arr, bool *has)
{
    char *end;
    long k = strtol(s, &end, 10);
    if (end == s || k < 0 || k >= c->n_in || has[k]) return false;
    has[k] = true;
    return read_array(r, end, &arr[k]) && same_shape(&arr[k], &c->in[k]);
}

/* "order <n> [kink|nonfinite]" */
static bool read_order(const char *s, gt_case *c)
{
    char *end;
    long n = strtol(s, &end, 10);
    if (end == s || n < 1 || n > 3 || c->order != 0) return false;
    c->order = (int)n;
    while (*end == ' ') end++;
    if (strncmp(end, "kink", 4) == 0 && only_space(end + 4)) {
        c->kink = true;
        return n >= 2;
    }
    if (strncmp(end, "nonfinite", 9) == 0 && only_space(end + 9)) return n == 1;
    return only_space(end);
}

/* At "end": the case is whole. Its output and R match; each order's arrays
   are there for exactly the inputs with a gradient; the `order` line, when
   the file has one, says the highest order present (older files have none:
   the order is then what the case holds). */
static bool check_case(gt_case *c)
{
    if (!c->out.v || !c->R.v || !same_shape(&c->out, &c->R)) return false;
    int held = 0;
    for (int k = 0; k < c->n_in; k++) {
        if (c->has_grad[k] && held < 1) held = 1;
        if (c->has_gg[k] && held < 2) held = 2;
        if (c->has_ggg[k]) held = 3;
    }
    if (c->order == 0) c->order = held;
    if (c->order != held) return false;
    for (int k = 0; k < c->n_in; k++) {
        bool g = c->has_grad[k];
        if (c->has_V[k] != (g && held >= 2) || c->has_gg[k] != (g && held >= 2)) return false;
        if (c->has_W[k] != (g && held >= 3) || c->has_ggg[k] != (g && held >= 3)) return false;
    }
    return true;
}

/* `s` starts with the keyword `word` and a space: what follows, else NULL. */
static const char *keyword(const char *s, const char *word)
{
    size_t n = strlen(word);
    return strncmp(s, word, n) == 0 && s[n] == ' ' ? s + n + 1 : NULL;
}

static bool read_line(reader *r, gt_file *f, gt_case **cur, int *cap)
{
    const char *s = r->line, *rest;
    gt_case *c = *cur;
    if (s[0] == '#' || s[0] == '\n') return true;
    if ((rest = keyword(s, "case"))) {
        if (c) return false; /* the previous case has no "end" */
        if (f->n == *cap) {
            int ncap = *cap ? 2 * *cap : 64;
            gt_case *nc = realloc(f->cases, (size_t)ncap * sizeof *nc);
            if (!nc) return false;
            f->cases = nc;
            *cap = ncap;
        }
        c = *cur = &f->cases[f->n++];
        memset(c, 0, sizeof *c);
        return sscanf(rest, "%127s %63s", c->name, c->op) == 2;
    }
    if (!c) return false;
    if ((rest = keyword(s, "attr"))) {
        if (c->n_attr >= GT_MAX_ATTR) return false;
        int i = c->n_attr++;
        return sscanf(rest, "%31s %lf", c->attr_key[i], &c->attr_val[i]) == 2;
    }
    if ((rest = keyword(s, "in"))) {
        if (c->n_in >= TG_MAX_INPUTS) return false;
        return read_array(r, rest, &c->in[c->n_in++]);
    }
    if ((rest = keyword(s, "index"))) {
        char *end;
        long long n = strtoll(rest, &end, 10);
        if (c->index || end == rest || n < 0 || n > GT_MAX_VALUES) return false;
        gt_array shape = {.ndim = 1, .shape = {n}, .n = n};
        if (!only_space(end) && (!read_dims(end, &shape) || shape.n != n)) return false;
        c->index_ndim = shape.ndim;
        memcpy(c->index_shape, shape.shape, sizeof c->index_shape);
        c->n_index = n;
        c->index = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
        double *tmp = malloc((size_t)(n ? n : 1) * sizeof(double));
        bool ok = c->index && tmp && read_values(r, tmp, n);
        for (int64_t i = 0; ok && i < n; i++) c->index[i] = (int64_t)tmp[i];
        free(tmp);
        return ok;
    }
    if ((rest = keyword(s, "out"))) return read_array(r, rest, &c->out);
    if ((rest = keyword(s, "R"))) return read_array(r, rest, &c->R);
    if ((rest = keyword(s, "grad"))) return read_of_input(r, rest, c, c->grad, c->has_grad);
    if ((rest = keyword(s, "order"))) return read_order(rest, c);
    if ((rest = keyword(s, "V"))) return read_of_input(r, rest, c, c->V, c->has_V);
    if ((rest = keyword(s, "gg"))) return read_of_input(r, rest, c, c->gg, c->has_gg);
    if ((rest = keyword(s, "W"))) return read_of_input(r, rest, c, c->W, c->has_W);
    if ((rest = keyword(s, "ggg"))) return read_of_input(r, rest, c, c->ggg, c->has_ggg);
    if (strncmp(s, "end", 3) == 0 && only_space(s + 3)) {
        *cur = NULL;
        return check_case(c);
    }
    return false;
}

static void free_case(gt_case *c)
{
    for (int i = 0; i < TG_MAX_INPUTS; i++) {
        free(c->in[i].v);
        free(c->grad[i].v);
        free(c->V[i].v);
        free(c->gg[i].v);
        free(c->W[i].v);
        free(c->ggg[i].v);
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

static gt_file *load_path(const char *path)
{
    reader r = {.f = fopen(path, "r")};
    if (!r.f) {
        fprintf(stderr, "golden: cannot open %s\n", path);
        return NULL;
    }
    gt_file *f = calloc(1, sizeof *f);
    gt_case *c = NULL;
    int cap = 0;
    bool ok = f != NULL;
    while (ok && next_line(&r)) ok = read_line(&r, f, &c, &cap);
    if (ok && c) ok = false; /* the last case has no "end" */
    if (ok && ferror(r.f)) ok = false;
    if (!ok) fprintf(stderr, "golden: %s:%d: cannot parse\n", path, r.lineno);
    free(r.line);
    fclose(r.f);
    if (!ok) {
        gt_free(f);
        return NULL;
    }
    return f;
}

gt_file *gt_load(const char *name)
{
    char path[1024];
#ifdef TG_DOUBLE
    snprintf(path, sizeof path, "%s/%s_f64.txt", TG_TEST_DATA_DIR, name);
#else
    snprintf(path, sizeof path, "%s/%s_f32.txt", TG_TEST_DATA_DIR, name);
#endif
    return load_path(path);
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

void gt_expect_vjp_matches(tg_tape *t, tg_tensor *out, int n, tg_tensor *const *in, uint64_t seed,
                           const char *what)
{
    cr_assert(out != NULL && n <= 64, "%s: no output: %s", what, tg_tape_error(t));
    tg_tensor *R = tg_zeros(t, out->ndim, out->shape);
    cr_assert(R != NULL, "%s", tg_tape_error(t));
    for (int64_t i = 0; i < R->size; i++) R->data[i] = (tg_real)(2 * gt_unit(&seed) - 1);
    tg_tensor *fast[64] = {0}, *vjp[64] = {0};
    tg_grad_opts o = {.create_graph = false, .allow_unused = true};
    cr_assert_eq(tg_grad(t, 1, &out, &R, n, in, fast, &o), TG_OK, "%s: %s", what,
                 tg_tape_error(t));
    o.create_graph = true;
    cr_assert_eq(tg_grad(t, 1, &out, &R, n, in, vjp, &o), TG_OK, "%s: create_graph: %s", what,
                 tg_tape_error(t));
    double *want = malloc((size_t)(out->size + 1) * sizeof(double));
    for (int k = 0; k < n; k++) {
        char w[256];
        snprintf(w, sizeof w, "%s: the vjp's gradient of input %d", what, k);
        want = realloc(want, (size_t)(fast[k]->size + 1) * sizeof(double));
        for (int64_t i = 0; i < fast[k]->size; i++) want[i] = (double)fast[k]->data[i];
        cr_expect(tg_same_shape(fast[k], vjp[k]), "%s has another shape", w);
        if (tg_same_shape(fast[k], vjp[k]))
            gt_expect_close(vjp[k]->data, want, fast[k]->size, gt_default_tol(), w);
    }
    free(want);
}

double gt_unit(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

struct criterion_test_params gt_case_numbers(size_t n)
{
    int *ids = cr_malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = (int)i;
    return cr_make_param_array(int, ids, n);
}

void gt_expect_gradcheck(tg_gradcheck_fn fn, void *ctx, tg_tensor *const *in, int n, int64_t want,
                         const char *what)
{
    tg_gradcheck_result r = tg_gradcheck(fn, ctx, in, n, NULL);
    cr_expect_eq(r.status, TG_OK, "%s: gradcheck could not run: %s", what, r.message);
    cr_expect_eq(r.checked, want, "%s: checked %lld of %lld elements", what,
                 (long long)r.checked, (long long)want);
    cr_expect(r.ok, "%s (%s): %s", what, tg_real_name(), r.message);
}

tg_tensor *gt_with_input(tg_tape *t, tg_tensor *y, tg_tensor *x)
{
    if (!y) return NULL;
    tg_tensor *parts[2] = {tg_reshape(t, y, 1, &y->size), tg_reshape(t, x, 1, &x->size)};
    return tg_cat(t, parts, 2, 0);
}

bool gt_first_of_op(const gt_file *f, int i)
{
    for (int j = 0; j < i; j++)
        if (strcmp(f->cases[j].op, f->cases[i].op) == 0) return false;
    return true;
}

tg_tape *gt_tape;
void gt_tape_setup(void) { gt_tape = tg_tape_new(); }
void gt_tape_teardown(void) { tg_tape_free(gt_tape); }

void gt_expect_message(tg_tape *t, const char *const *parts, int n)
{
    const char *msg = tg_tape_error(t);
    cr_expect(msg[0] != '\0', "no message on the tape");
    for (int i = 0; i < n; i++)
        cr_expect(strstr(msg, parts[i]) != NULL, "the message \"%s\" should contain \"%s\"", msg,
                  parts[i]);
    tg_tape_clear_error(t);
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

/* ------------------------------------------------ second and third order */

/* A constant tensor of a's values on t. */
static tg_tensor *constant(tg_tape *t, const gt_array *a)
{
    tg_real *buf = malloc((size_t)(a->n ? a->n : 1) * sizeof(tg_real));
    for (int64_t i = 0; i < a->n; i++) buf[i] = (tg_real)a->v[i];
    tg_tensor *x = tg_tensor_new(t, a->ndim, a->shape, buf);
    free(buf);
    return x;
}

/* Σ_k sum(g_k · v_k) over the m gradients (NULL when none requires grad:
   the gradients are constants, the next derivative zero). */
static tg_tensor *contract(tg_tape *t, tg_tensor **g, const gt_array *v, int m)
{
    tg_tensor *s = NULL;
    for (int k = 0; k < m; k++) {
        if (!g[k]) continue;
        tg_tensor *term = tg_sum(t, tg_mul(t, g[k], constant(t, &v[k])), TG_ALL, false);
        s = s ? tg_add(t, s, term) : term;
    }
    return s;
}

/* The cases on a kink whose higher orders are PyTorch's convention and not
   tapegrad's, so that only their shapes are compared (their first order is
   compared); every other kink case is compared like the rest
   (docs/higher-order.md):
     bce_loss at p = 0 or 1: PyTorch clamps its double backward's denominator
       (p(1 − p) at 1e-12) where tapegrad's is the float's own;
     the norm of a zero row (p = 2, p = 0.5): PyTorch's second derivative is
       0/0 = NaN, tapegrad's 0, as its first derivative there;
     triplet_margin_loss with a zero distance and p = 2: the same, through
       the norm (with p = 3 PyTorch's is finite, and tapegrad's agrees). */
static bool kink_differs(const gt_case *c)
{
    return strcmp(c->op, "bce_loss") == 0 || strcmp(c->name, "norm_zeros_p2") == 0 ||
           strcmp(c->name, "norm_zeros_p0.5") == 0 ||
           strncmp(c->name, "triplet_margin_loss_zero_dist_p2",
                   sizeof "triplet_margin_loss_zero_dist_p2" - 1) == 0;
}

/* Compares the m gradients `got` (NULL: zeros expected) with `want`. */
static void compare_grads(const gt_case *c, const char *order, tg_tensor **got, int m,
                          const int *idx, const gt_array *want, gt_tol tol, bool verbose)
{
    char what[256];
    for (int j = 0; j < m; j++) {
        const gt_array *w = &want[idx[j]];
        snprintf(what, sizeof what, "%s: %s of input %d", c->name, order, idx[j]);
        if (got[j] && !same_dims(got[j], w)) {
            cr_expect(0, "%s has the wrong shape", what);
            continue;
        }
        if (c->kink && strcmp(order, "grad") != 0 && kink_differs(c)) { /* the shapes only */
            if (verbose && got[j])
                printf("%-40s tdist(%s%d) = %.3e (kink, PyTorch's convention: not compared)\n",
                       c->name, order, idx[j], gt_tdist(got[j]->data, w->v, w->n));
            continue;
        }
        if (!got[j]) { /* the derivative is identically zero */
            for (int64_t i = 0; i < w->n; i++)
                cr_expect(w->v[i] == 0, "%s: tapegrad's is 0, PyTorch's [%lld] = %g", what,
                          (long long)i, w->v[i]);
            continue;
        }
        gt_expect_close(got[j]->data, w->v, w->n, tol, what);
        if (verbose)
            printf("%-40s tdist(%s%d) = %.3e\n", c->name, order, idx[j],
                   gt_tdist(got[j]->data, w->v, w->n));
    }
}

int gt_run_op2(const gt_file *f, const char *op, gt_build_fn build, gt_tol tol)
{
    int ran = 0;
    bool verbose = getenv("TG_TEST_QUIET") == NULL;
    for (int ci = 0; f && ci < f->n; ci++) {
        const gt_case *c = &f->cases[ci];
        if (strcmp(c->op, op) != 0 || c->order < 2) continue;
        ran++;
        tg_tape *t = tg_tape_new();
        tg_tensor *in[TG_MAX_INPUTS] = {0}, *in_g[TG_MAX_INPUTS];
        int idx[TG_MAX_INPUTS], m = 0;
        for (int k = 0; k < c->n_in; k++) {
            in[k] = constant(t, &c->in[k]);
            if (c->has_grad[k]) {
                tg_requires_grad(in[k], true);
                idx[m] = k;
                in_g[m++] = in[k];
            }
        }
        tg_tensor *out = build(t, in, c);
        cr_expect(out != NULL, "%s: the op failed: %s", c->name, tg_tape_error(t));
        tg_tensor *R = out ? constant(t, &c->R) : NULL;
        tg_grad_opts cg = {.create_graph = true, .allow_unused = true};
        tg_tensor *g[TG_MAX_INPUTS] = {0}, *gg[TG_MAX_INPUTS] = {0}, *ggg[TG_MAX_INPUTS] = {0};
        int st = out ? tg_grad(t, 1, &out, &R, m, in_g, g, &cg) : TG_ERR_INVALID;
        cr_expect(st == TG_OK, "%s: first order with create_graph failed: %s", c->name,
                  tg_tape_error(t));
        if (st == TG_OK) {
            /* the create_graph pass gives the fast pass's first order */
            compare_grads(c, "grad", g, m, idx, c->grad, tol, false);
            gt_array V[TG_MAX_INPUTS], W[TG_MAX_INPUTS], GG[TG_MAX_INPUTS], GGG[TG_MAX_INPUTS];
            for (int j = 0; j < m; j++) {
                V[j] = c->V[idx[j]], W[j] = c->W[idx[j]];
                GG[j] = c->gg[idx[j]], GGG[j] = c->ggg[idx[j]];
            }
            tg_tensor *s = contract(t, g, V, m);
            if (s && (s->flags & TG_REQUIRES_GRAD)) {
                cg.create_graph = c->order >= 3;
                st = tg_grad(t, 1, &s, NULL, m, in_g, gg, &cg);
                cr_expect(st == TG_OK, "%s: second order failed: %s", c->name, tg_tape_error(t));
            }
            if (st == TG_OK) {
                int id[TG_MAX_INPUTS];
                for (int j = 0; j < m; j++) id[j] = j;
                compare_grads(c, "gg", gg, m, id, GG, tol, verbose);
                if (c->order >= 3) {
                    tg_tensor *s3 = contract(t, gg, W, m);
                    if (s3 && (s3->flags & TG_REQUIRES_GRAD)) {
                        cg.create_graph = false;
                        st = tg_grad(t, 1, &s3, NULL, m, in_g, ggg, &cg);
                        cr_expect(st == TG_OK, "%s: third order failed: %s", c->name,
                                  tg_tape_error(t));
                    }
                    if (st == TG_OK) compare_grads(c, "ggg", ggg, m, id, GGG, tol, verbose);
                }
            }
        }
        tg_tape_free(t);
    }
    cr_expect(ran > 0, "no second-order golden case for op '%s'", op);
    return ran;
}
