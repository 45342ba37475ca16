/* Exercises that grade (tg_exercise_check): a learner's backward, written by
   hand, against tapegrad's own rules and against finite differences.

     forward:   the reference, tapegrad's ops on copies of the inputs -> out
     g:         the gradient arriving at out (1 for a scalar; else uniform in
                [−1, 1) from the seed, so that a rule right only for g = 1
                is caught)
     tapegrad:  tg_grad of out with grad_outputs g        (the rules)
     learner:   the learner's function, given the values, out and g
     numbers:   (⟨g, f(x + h·e_k)⟩ − ⟨g, f(x − h·e_k)⟩) / 2h for every
                element k, h = FD_STEP·max(1, |x_k|)

   Per input: "exact" when the learner's gradient equals tapegrad's up to
   rounding (exact_rtol of the largest value), "approximate" when every
   element is within FD_ATOL + FD_RTOL·|numbers| of the finite differences,
   else "wrong". The tolerance is the plain central difference's own (its
   truncation, ~h², and its rounding, ~u/h), not tg_gradcheck's: that one
   is tighter because it extrapolates and bounds its error. */
#include "core/internal.h"

#include <stdlib.h>

#ifdef TG_DOUBLE
static const double FD_STEP = 1e-6, FD_ATOL = 1e-5, FD_RTOL = 1e-3;
#else
static const double FD_STEP = 1e-2, FD_ATOL = 1e-3, FD_RTOL = 1e-2;
#endif

static const char *const VERDICT[] = {"exact", "approximate", "wrong", "not checked"};

/* [i,j] of flat index k in x's shape, into buf. */
static const char *index_str(const tg_tensor *x, int64_t k, char *buf, size_t len)
{
    int64_t idx[TG_MAX_DIMS];
    for (int d = x->ndim - 1; d >= 0; d--) {
        idx[d] = x->shape[d] ? k % x->shape[d] : 0;
        k = x->shape[d] ? k / x->shape[d] : 0;
    }
    size_t n = 0;
    buf[n++] = '[';
    for (int d = 0; d < x->ndim && n < len; d++) {
        int w = snprintf(buf + n, len - n, d ? ",%lld" : "%lld", (long long)idx[d]);
        n += w > 0 ? (size_t)w : 0;
    }
    if (n + 2 <= len) buf[n++] = ']', buf[n] = '\0';
    else buf[len - 1] = '\0';
    return buf;
}

typedef struct {
    tg_exercise_forward fwd;
    void *ctx;
    tg_tensor *const *inputs;
    int n;
    const tg_real *g;
} problem;

/* ⟨g, f(inputs)⟩ on tape t, with input i's element k replaced by v (i < 0:
   none). NAN if the forward fails. */
static double inner(const problem *pb, tg_tape *t, int i, int64_t k, tg_real v)
{
    tg_tape_reset(t);
    tg_tensor *in[TG_EXERCISE_MAX_INPUTS] = {0};
    for (int a = 0; a < pb->n; a++) {
        const tg_tensor *x = pb->inputs[a];
        if (!x) continue;
        in[a] = tg_tensor_new(t, x->ndim, x->shape, x->data);
        if (!in[a]) return NAN;
        tg_requires_grad(in[a], (x->flags & TG_REQUIRES_GRAD) != 0);
        if (x->name) tg_tensor_set_name(in[a], x->name);
        if (a == i) in[a]->data[k] = v;
    }
    tg_tensor *out = pb->fwd(t, in, pb->n, pb->ctx);
    if (!out) return NAN;
    double s = 0;
    for (int64_t e = 0; e < out->size; e++) s += (double)pb->g[e] * (double)out->data[e];
    return s;
}

static tg_exercise_result fail_result(tg_exercise_result r, int st, const char *fmt, const char *a)
{
    r.status = st;
    r.passed = false;
    snprintf(r.message, sizeof r.message, fmt, a);
    tg_set_error(st, "%s", r.message);
    return r;
}

/* Prints the grading of input i. */
static void report_input(FILE *f, const tg_exercise_result *r, int i, const tg_tensor *x,
                         const tg_real *mine, const tg_real *ref, const double *fd)
{
    char name[64], sb[96], ib[96];
    if (x->name) snprintf(name, sizeof name, "%s", x->name);
    else snprintf(name, sizeof name, "input %d", i);
    fprintf(f, "  %-10s %-8s %s", name, tg_shape_str(x, sb, sizeof sb), VERDICT[r->verdict[i]]);
    if (r->verdict[i] == TG_VERDICT_NONE) {
        fputs(" (needs no gradient)\n", f);
        return;
    }
    if (x->size == 0) { /* nothing to read in mine, ref or fd */
        fputs(" (no elements: nothing to compare)\n", f);
        return;
    }
    int64_t w = r->where_ref[i];
    fprintf(f, ": largest |yours - tapegrad's| %.3g at %s (yours %.9g, tapegrad's %.9g)\n", r->diff_ref[i],
            index_str(x, w, ib, sizeof ib), (double)mine[w], (double)ref[w]);
    w = r->where_fd[i];
    fprintf(f, "  %-10s %-8s %*s  largest |yours - finite differences| %.3g at %s (numerically %.9g)\n",
            "", "", (int)strlen(VERDICT[r->verdict[i]]), "", r->diff_fd[i],
            index_str(x, w, ib, sizeof ib), fd[w]);
}

/* The learner's rule run a second time into a copy of its first results
   (mine): an input's gradient that comes back unchanged, where it is not
   0, was set (=) rather than added to (+=); assigns[i] says so. (A rule
   that adds gives about twice it: exactly, for one addition an element;
   no tolerance is needed, and none could be right for every rule: sums
   that cancel round far from 2a.) False if out
   of memory or the second run failed (*st then says which). */
static bool twice_adds(tg_exercise_backward learner, tg_tensor *const *in, int n,
                       const tg_tensor *out, tg_real **mine, void *ctx, bool *assigns, int *st)
{
    tg_real *again[TG_EXERCISE_MAX_INPUTS] = {NULL};
    bool ok = true;
    *st = TG_OK;
    for (int i = 0; i < n && ok; i++) {
        if (!mine[i]) continue;
        size_t bytes = (size_t)(in[i]->size ? in[i]->size : 1) * sizeof(tg_real);
        if ((again[i] = malloc(bytes))) memcpy(again[i], mine[i], bytes);
        ok = again[i] != NULL;
    }
    if (ok) *st = learner(in, n, out, again, ctx);
    ok = ok && *st == TG_OK;
    for (int i = 0; i < n && ok; i++) {
        if (!mine[i]) continue;
        for (int64_t k = 0; k < in[i]->size && !assigns[i]; k++) {
            double a = (double)mine[i][k], b = (double)again[i][k];
            assigns[i] = a != 0 && isfinite(a) && b == a; /* a rule that adds gives ~2a */
        }
    }
    for (int i = 0; i < n; i++) free(again[i]);
    return ok;
}

tg_exercise_result tg_exercise_check(const char *name, tg_exercise_forward forward,
                                     tg_exercise_backward learner, void *ctx,
                                     tg_tensor *const *inputs, int n_inputs,
                                     const tg_exercise_opts *opts)
{
    tg_exercise_result r = {.status = TG_OK};
    tg_exercise_opts o = opts ? *opts : (tg_exercise_opts){0};
    if (o.exact_rtol <= 0) o.exact_rtol = sizeof(tg_real) == sizeof(float) ? 1e-5 : 1e-12;
    if (!forward || !learner)
        return fail_result(r, TG_ERR_INVALID, "tg_exercise_check: the %s function is NULL",
                           !forward ? "forward" : "learner's");
    if (n_inputs < 1 || n_inputs > TG_EXERCISE_MAX_INPUTS || !inputs)
        return fail_result(r, TG_ERR_INVALID, "tg_exercise_check: %s",
                           !inputs ? "the inputs are NULL"
                                   : "it takes 1 to TG_EXERCISE_MAX_INPUTS (16) inputs");
    r.n_inputs = n_inputs;
    int n_req = 0;
    for (int i = 0; i < n_inputs; i++) n_req += inputs[i] && (inputs[i]->flags & TG_REQUIRES_GRAD);
    if (!n_req)
        return fail_result(r, TG_ERR_INVALID, "tg_exercise_check: %s",
                           "no input requires grad: nothing to check");
    tg_tape *t = tg_tape_new(), *t2 = tg_tape_new();
    tg_real *mine[TG_EXERCISE_MAX_INPUTS] = {0}, *g = NULL;
    double *fd = NULL;
    const char *why = NULL;
    int st = TG_ERR_NOMEM;
    if (!t || !t2) goto done;
    /* the forward pass on copies (the learner reads these) */
    tg_tensor *in[TG_EXERCISE_MAX_INPUTS] = {0}, *req[TG_EXERCISE_MAX_INPUTS], *ref[TG_EXERCISE_MAX_INPUTS];
    int slot[TG_EXERCISE_MAX_INPUTS];
    int64_t largest = 1;
    for (int i = 0, k = 0; i < n_inputs; i++) {
        const tg_tensor *x = inputs[i];
        if (!x) continue;
        in[i] = tg_tensor_new(t, x->ndim, x->shape, x->data);
        if (!in[i]) goto done;
        tg_requires_grad(in[i], (x->flags & TG_REQUIRES_GRAD) != 0);
        if (x->name) tg_tensor_set_name(in[i], x->name);
        if (x->flags & TG_REQUIRES_GRAD) slot[i] = k, req[k++] = in[i];
        largest = x->size > largest ? x->size : largest;
    }
    tg_tensor *out = forward(t, in, n_inputs, ctx);
    if (!out) {
        st = TG_ERR_INVALID;
        why = tg_tape_error(t);
        goto done;
    }
    /* the arriving gradient */
    g = malloc((size_t)(out->size ? out->size : 1) * sizeof *g);
    fd = malloc((size_t)largest * sizeof *fd);
    if (!g || !fd) goto done;
    tg_rng rng;
    /* a stream of its own: inputs drawn from the same seed must not equal g
       (batch norm's gradient vanishes for a g proportional to x) */
    tg_rng_seed(&rng, o.seed ^ 0x9e3779b97f4a7c15ULL);
    for (int64_t e = 0; e < out->size; e++)
        g[e] = out->size == 1 ? 1 : (tg_real)(2 * tg_rng_uniform(&rng) - 1);
    tg_tensor *gt = tg_tensor_new(t, out->ndim, out->shape, g);
    if (!gt) goto done;
    /* tapegrad's rules */
    tg_grad_opts go = {.allow_unused = true};
    if (tg_grad(t, 1, &out, &gt, n_req, req, ref, &go) != TG_OK) {
        st = TG_ERR_INVALID;
        why = tg_tape_error(t);
        goto done;
    }
    /* the learner's: out with g as its gradient, zeroed buffers to add into */
    for (int i = 0; i < n_inputs; i++) {
        if (!in[i] || !(in[i]->flags & TG_REQUIRES_GRAD)) continue;
        mine[i] = calloc((size_t)(in[i]->size ? in[i]->size : 1), sizeof(tg_real));
        if (!mine[i]) goto done;
    }
    tg_tensor out_view = *out;
    out_view.grad = g;
    st = learner(in, n_inputs, &out_view, mine, ctx);
    if (st != TG_OK) {
        why = "the learner's backward returned an error";
        goto done;
    }
    /* a rule must add into its gradients (+=), not set them (=): run once
       more into what the first run gave, which must then change */
    bool assigns[TG_EXERCISE_MAX_INPUTS] = {false};
    if (!twice_adds(learner, in, n_inputs, &out_view, mine, ctx, assigns, &st)) {
        why = st == TG_OK ? "out of memory" : "the learner's backward returned an error";
        if (st == TG_OK) st = TG_ERR_NOMEM;
        goto done;
    }
    if (o.report)
        fprintf(o.report, "exercise%s%s%s:\n", name ? " '" : "", name ? name : "", name ? "'" : "");
    problem pb = {forward, ctx, inputs, n_inputs, g};
    r.passed = true;
    for (int i = 0; i < n_inputs; i++) {
        r.verdict[i] = TG_VERDICT_NONE;
        if (!mine[i]) {
            if (o.report && inputs[i]) report_input(o.report, &r, i, inputs[i], NULL, NULL, NULL);
            continue;
        }
        const tg_tensor *x = inputs[i];
        const tg_real *rv = ref[slot[i]]->data;
        /* central finite differences */
        for (int64_t k = 0; k < x->size; k++) {
            tg_real x0 = x->data[k];
            double h = FD_STEP * fmax(1.0, fabs((double)x0));
            tg_real up = (tg_real)((double)x0 + h), dn = (tg_real)((double)x0 - h);
            double fu = inner(&pb, t2, i, k, up), fdn = inner(&pb, t2, i, k, dn);
            fd[k] = (fu - fdn) / ((double)up - (double)dn);
        }
        /* an input of no elements has nothing to differ: differences 0 at 0 */
        double scale = 0, dref = x->size ? -1 : 0, dfd = x->size ? -1 : 0;
        bool near_fd = true;
        for (int64_t k = 0; k < x->size; k++) {
            double m = (double)mine[i][k], a = fabs(m - (double)rv[k]), b = fabs(m - fd[k]);
            if (isnan(m)) a = b = INFINITY;
            scale = fmax(scale, fabs((double)rv[k]));
            if (a > dref) dref = a, r.where_ref[i] = k;
            if (b > dfd) dfd = b, r.where_fd[i] = k;
            near_fd &= b <= FD_ATOL + FD_RTOL * fabs(fd[k]);
        }
        r.diff_ref[i] = dref;
        r.diff_fd[i] = dfd;
        if (assigns[i]) r.verdict[i] = TG_VERDICT_WRONG, r.passed = false;
        else if (dref == 0 || dref <= o.exact_rtol * scale) r.verdict[i] = TG_VERDICT_EXACT;
        else if (near_fd) r.verdict[i] = TG_VERDICT_APPROXIMATE;
        else r.verdict[i] = TG_VERDICT_WRONG, r.passed = false;
        if (o.report) report_input(o.report, &r, i, x, mine[i], rv, fd);
        if (o.report && assigns[i])
            fprintf(o.report, "    it sets the gradient (=) where a rule must add to it (+=): "
                              "run twice, it gave the same values\n");
    }
    int counts[4] = {0};
    for (int i = 0; i < n_inputs; i++)
        if (mine[i]) counts[r.verdict[i]]++;
    snprintf(r.message, sizeof r.message, "%s%s%s%s: %d exact, %d approximate, %d wrong",
             r.passed ? "passed" : "not yet", name ? " ('" : "", name ? name : "",
             name ? "')" : "", counts[0], counts[1], counts[2]);
    if (o.report) fprintf(o.report, "  %s\n", r.message);
    st = TG_OK;
done:
    if (st != TG_OK) {
        r.status = st;
        r.passed = false;
        snprintf(r.message, sizeof r.message, "tg_exercise_check: %s",
                 why ? why : "out of memory");
        tg_set_error(st, "%s", r.message);
        if (o.report) fprintf(o.report, "%s\n", r.message);
    }
    for (int i = 0; i < n_inputs; i++) free(mine[i]);
    free(g);
    free(fd);
    tg_tape_free(t);
    tg_tape_free(t2);
    return r;
}
