/* tg_gradcheck: the checker's engine (src/tools/fdcheck.c) given a function
   recorded on a tape. The function is fn, evaluated on a fresh tape for
   every point; the analytical side is tg_backward_grad on fn recorded once
   at the point. docs/gradcheck.md says how to use it and what to expect. */
#include "tools/fdcheck.h"

#include <stdlib.h>

tg_gradcheck_opts tg_gradcheck_defaults(void)
{
    tg_gradcheck_opts o = {0};
#ifdef TG_DOUBLE
    o.eps = 1e-6; /* torch.autograd.gradcheck: an absolute step, allclose */
    o.atol = 1e-5;
    o.rtol = 1e-3;
#else
    o.eps = 1e-2; /* relative; with Richardson the truncation is ~h⁴, the rounding ~u·|f|/h */
    o.atol = 0;
    o.rtol = 1e-3;
    o.relative_step = true;
    o.richardson = true;
    o.error_bound = true;
    o.scale_tol = 1e-5;
#endif
    o.report = NULL;
    o.seed = 0x5eed;
    o.projections = 0;
    o.extra_projections = 2;
    return o;
}

/* The problem tg_gradcheck gives the engine: fn recorded once at the point
   on one tape (for the backward passes), and evaluated on another, reset
   before every evaluation. That one records too: fn may take a gradient
   itself (tg_grad inside a loss). */
typedef struct gc_ctx {
    tg_gradcheck_fn fn;
    void *ctx;
    tg_tensor *const *src; /* [n] the caller's inputs: the point */
    int n;
    tg_tape *at;           /* the point, recorded */
    tg_tensor **at_in;     /* [n] its inputs */
    tg_tensor *at_out;
    tg_tape *ev;           /* the evaluations */
    tg_tensor **ev_in;     /* [n] */
} gc_ctx;

/* Copies of the inputs on t (input `pi`'s element k set to value; pi < 0:
   none), and fn on them. NULL if fn or a copy failed. */
static tg_tensor *run_fn(gc_ctx *c, tg_tape *t, tg_tensor **in, int pi, int64_t k, tg_real value)
{
    tg_tape_reset(t);
    for (int i = 0; i < c->n; i++) {
        const tg_tensor *s = c->src[i];
        if (!s) {
            in[i] = NULL;
            continue;
        }
        in[i] = s->size ? tg_tensor_new(t, s->ndim, s->shape, s->data)
                        : tg_zeros(t, s->ndim, s->shape);
        if (!in[i]) return NULL;
        if (s->flags & TG_REQUIRES_GRAD) tg_requires_grad(in[i], true);
        if (s->name) tg_tensor_set_name(in[i], s->name);
    }
    if (pi >= 0) in[pi]->data[k] = value;
    tg_tensor *out = c->fn(t, in, c->n, c->ctx);
    if (out && tg_tape_failed(t)) return NULL; /* an op failed but fn went on */
    return out;
}

static const char *tape_reason(const tg_tape *t)
{
    return tg_tape_error(t)[0] ? tg_tape_error(t) : "it returned NULL";
}

static int gc_prepare(void *ctx, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg, size_t len)
{
    gc_ctx *c = ctx;
    c->at_out = run_fn(c, c->at, c->at_in, -1, 0, 0);
    if (!c->at_out) {
        snprintf(msg, len, "fn failed at the point: %s", tape_reason(c->at));
        return TG_ERR_STATE;
    }
    *ndim = c->at_out->ndim;
    for (int d = 0; d < *ndim; d++) shape[d] = c->at_out->shape[d];
    return TG_OK;
}

static int gc_eval(void *ctx, int input, int64_t k, tg_real value, double *out, char *msg,
                   size_t len)
{
    gc_ctx *c = ctx;
    tg_tensor *y = run_fn(c, c->ev, c->ev_in, input, k, value);
    if (!y) {
        snprintf(msg, len, "fn failed: %s", tape_reason(c->ev));
        return TG_ERR_STATE;
    }
    if (!tg_same_shape(y, c->at_out)) {
        snprintf(msg, len, "fn changed the output's shape");
        return TG_ERR_STATE;
    }
    for (int64_t j = 0; j < y->size; j++) out[j] = (double)y->data[j];
    return TG_OK;
}

/* An output that does not require grad does not depend on the checked
   inputs through the tape: its analytical Jacobian is zero, and any
   numerical dependence shows as a failure. */
static int gc_vjp(void *ctx, const tg_real *dout, double *grad, char *msg, size_t len)
{
    gc_ctx *c = ctx;
    bool live = c->at_out->size > 0 && (c->at_out->flags & TG_REQUIRES_GRAD);
    if (live) {
        for (int i = 0; i < c->n; i++) tg_zero_grad(c->at_in[i]);
        int st = tg_backward_grad(c->at, c->at_out, dout);
        if (st != TG_OK) {
            snprintf(msg, len, "backward failed: %s", tg_tape_error(c->at));
            return st;
        }
    }
    int64_t at = 0;
    for (int i = 0; i < c->n; i++) {
        const tg_tensor *s = c->src[i];
        if (!s || !(s->flags & TG_REQUIRES_GRAD)) continue;
        const tg_tensor *x = c->at_in[i];
        for (int64_t k = 0; k < s->size; k++)
            grad[at + k] = live && x->grad ? (double)x->grad[k] : 0;
        at += s->size;
    }
    return TG_OK;
}

/* A check that cannot start: status, message and tg_last_error. */
static void refuse(tg_gradcheck_result *res, int status, const char *why)
{
    snprintf(res->message, sizeof res->message, "%s", why);
    res->status = status;
    res->ok = false;
    tg_set_error(status, "%s", why);
}

tg_gradcheck_result tg_gradcheck(tg_gradcheck_fn fn, void *ctx, tg_tensor *const *inputs,
                                 int n_inputs, const tg_gradcheck_opts *opts)
{
    tg_gradcheck_result res = {.status = TG_OK, .worst_input = -1, .worst_index = -1,
                               .kink_input = -1, .kink_index = -1};
    if (!fn) {
        refuse(&res, TG_ERR_INVALID, "tg_gradcheck: fn is NULL");
        return res;
    }
    int n = n_inputs > 0 && inputs ? n_inputs : 0;
    gc_ctx c = {.fn = fn, .ctx = ctx, .src = inputs, .n = n};
    c.at = tg_tape_new();
    c.ev = tg_tape_new();
    c.at_in = calloc((size_t)n + 1, sizeof *c.at_in);
    c.ev_in = calloc((size_t)n + 1, sizeof *c.ev_in);
    if (!c.at || !c.ev || !c.at_in || !c.ev_in) {
        refuse(&res, TG_ERR_NOMEM, "tg_gradcheck: out of memory");
    } else {
        tg_fdcheck_problem p = {.name = "tg_gradcheck", .inputs = inputs, .n_inputs = n_inputs,
                                .ctx = &c, .prepare = gc_prepare, .eval = gc_eval,
                                .vjp = gc_vjp};
        res = tg_fdcheck(&p, opts);
    }
    free(c.at_in);
    free(c.ev_in);
    tg_tape_free(c.at);
    tg_tape_free(c.ev);
    return res;
}

/* ------------------------------------------------------------ second order */

/* tg_gradgradcheck: the same engine, given as its function the first
   gradient G(x) = (∂fn/∂x)ᵀ·u for a fixed random u (PyTorch's
   grad_outputs), all checked inputs' gradients one after the other; its
   analytical side is a backward through that gradient recorded with
   create_graph. So it checks the second derivatives of fn as tapegrad
   computes them (the ops' vjp rules) against finite differences of the
   first (the fast backward rules). */
typedef struct {
    gc_ctx c;
    tg_real *u;          /* [fn's output size]: owned, or u_in's data */
    tg_tape *ut;         /* holds u_in */
    tg_tensor *u_in;     /* u as the check's last input (PyTorch's grad_outputs), or NULL */
    tg_tensor *at_u;     /* u on the point's tape, a leaf of the create_graph gradient */
    int m;               /* inputs checked */
    tg_tensor **at_x;    /* [m] the checked inputs at the point */
    tg_tensor **at_g;    /* [m] their gradients there, differentiable */
    tg_tensor **ev_x;    /* [m] scratch for an evaluation */
    tg_tensor **g;       /* [m] scratch */
    int64_t size;        /* elements of the gradient */
    uint64_t seed;       /* of u */
    double rtol, atol;   /* of the check: also between the two first gradients */
    /* the first entry where the create_graph gradient (the vjp rules)
       differs from the backward rules', or bad_input −1 */
    int bad_input;
    int64_t bad_index;
    double bad_vjp, bad_backward;
} ggc_ctx;

/* Whether input i is checked (it requires grad). */
static bool is_checked(const ggc_ctx *q, int i)
{
    return q->c.src[i] && (q->c.src[i]->flags & TG_REQUIRES_GRAD);
}

/* The checked inputs of `in` into x; returns their count. */
static int checked_of(const ggc_ctx *q, tg_tensor **in, tg_tensor **x)
{
    int m = 0;
    for (int i = 0; i < q->c.n; i++)
        if (is_checked(q, i)) x[m++] = in[i];
    return m;
}

/* fn's gradient on t at its last run (out), with u as the output gradient:
   into g[m], differentiable when create_graph. */
static int first_gradient(ggc_ctx *q, tg_tape *t, tg_tensor *out, tg_tensor **x, tg_tensor **g,
                          bool create_graph, char *msg, size_t len)
{
    if (!(out->flags & TG_REQUIRES_GRAD)) {
        snprintf(msg, len, "fn's output does not depend on the inputs that require grad");
        return TG_ERR_STATE;
    }
    tg_tensor *u = tg_tensor_new(t, out->ndim, out->shape, q->u);
    if (u && create_graph && q->u_in) q->at_u = tg_requires_grad(u, true);
    tg_grad_opts o = {.create_graph = create_graph, .allow_unused = true};
    int st = u ? tg_grad(t, 1, &out, &u, q->m, x, g, &o) : TG_ERR_NOMEM;
    if (st != TG_OK) snprintf(msg, len, "the first gradient failed: %s", tape_reason(t));
    return st;
}

/* The create_graph gradient at the point (built by the vjp rules) against
   the backward rules' (in g): the same first derivative by two rules, so
   the check's own tolerance, with a floor of 1e-5 of the largest entry for
   their roundings, is wide. A vjp that disagrees with its backward is a
   bug that the finite differences of G would report only as a second
   derivative off, and that tg_gradcheck (the backward rules) cannot see. */
static void vjp_against_backward(ggc_ctx *q)
{
    q->bad_input = -1;
    double big = 0, worst = 1; /* entries within their tolerance are not reported */
    for (int j = 0; j < q->m; j++)
        for (int64_t e = 0; e < q->g[j]->size; e++)
            if (fabs((double)q->g[j]->data[e]) > big) big = fabs((double)q->g[j]->data[e]);
    for (int j = 0, in = 0; j < q->m; j++, in++) {
        while (!is_checked(q, in)) in++;
        for (int64_t e = 0; e < q->g[j]->size; e++) {
            double a = (double)q->at_g[j]->data[e], b = (double)q->g[j]->data[e];
            double tol = q->atol + q->rtol * fabs(b) + 1e-5 * big;
            double over = isnan(a) != isnan(b) ? INFINITY : fabs(a - b) / tol;
            if (over > worst) { /* NaN (both NaN, or 0/0) is not */
                worst = over;
                q->bad_input = in, q->bad_index = e, q->bad_vjp = a, q->bad_backward = b;
            }
        }
    }
}

/* u: a fixed random output gradient, in [-1, -0.1] ∪ [0.1, 1], into q->u
   [ny] */
static void draw_u(ggc_ctx *q, int64_t ny)
{
    uint64_t z = q->seed;
    for (int64_t j = 0; j < ny; j++) {
        z += 0x9e3779b97f4a7c15u;
        uint64_t r = z;
        r = (r ^ (r >> 30)) * 0xbf58476d1ce4e5b9u;
        r = (r ^ (r >> 27)) * 0x94d049bb133111ebu;
        r ^= r >> 31;
        double v = 0.1 + 0.9 * (double)(r >> 11) * 0x1.0p-53;
        q->u[j] = (tg_real)((r & 1) ? -v : v);
    }
}

/* fn at the point, before the check, for u's shape; and u as the check's
   last input (u_in, which requires grad), when fn runs there and some
   input is checked. Otherwise nothing is kept and the check runs without
   it: its own set-up and ggc_prepare then refuse with their messages. */
static void u_as_input(ggc_ctx *q)
{
    bool any = false;
    for (int i = 0; i < q->c.n; i++) any = any || is_checked(q, i);
    q->c.at_out = any ? run_fn(&q->c, q->c.at, q->c.at_in, -1, 0, 0) : NULL;
    if (!q->c.at_out || !(q->c.at_out->flags & TG_REQUIRES_GRAD) || !(q->ut = tg_tape_new()))
        return;
    tg_tensor *u = tg_zeros(q->ut, q->c.at_out->ndim, q->c.at_out->shape);
    if (!u) return;
    q->u = u->data;
    draw_u(q, u->size);
    q->u_in = tg_tensor_set_name(tg_requires_grad(u, true), "grad_output");
}

static int ggc_prepare(void *ctx, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg, size_t len)
{
    ggc_ctx *q = ctx;
    if (!q->u_in) { /* not made by u_as_input */
        q->c.at_out = run_fn(&q->c, q->c.at, q->c.at_in, -1, 0, 0);
        if (!q->c.at_out) {
            snprintf(msg, len, "fn failed at the point: %s", tape_reason(q->c.at));
            return TG_ERR_STATE;
        }
        int64_t ny = q->c.at_out->size;
        q->u = malloc((size_t)(ny ? ny : 1) * sizeof *q->u);
        if (!q->u) {
            snprintf(msg, len, "out of memory");
            return TG_ERR_NOMEM;
        }
        draw_u(q, ny);
    }
    q->m = checked_of(q, q->c.at_in, q->at_x);
    int st = first_gradient(q, q->c.at, q->c.at_out, q->at_x, q->at_g, true, msg, len);
    if (st != TG_OK) return st;
    st = first_gradient(q, q->c.at, q->c.at_out, q->at_x, q->g, false, msg, len);
    if (st != TG_OK) return st;
    vjp_against_backward(q);
    q->size = 0;
    for (int j = 0; j < q->m; j++) q->size += q->at_x[j]->size;
    *ndim = 1;
    shape[0] = q->size;
    return TG_OK;
}

static int ggc_eval(void *ctx, int input, int64_t k, tg_real value, double *out, char *msg,
                    size_t len)
{
    ggc_ctx *q = ctx;
    bool of_u = q->u_in && input == q->c.n; /* u's element k moved: fn at the point */
    tg_tensor *y = run_fn(&q->c, q->c.ev, q->c.ev_in, of_u ? -1 : input, k, value);
    if (!y) {
        snprintf(msg, len, "fn failed: %s", tape_reason(q->c.ev));
        return TG_ERR_STATE;
    }
    if (!tg_same_shape(y, q->c.at_out)) {
        snprintf(msg, len, "fn changed the output's shape");
        return TG_ERR_STATE;
    }
    checked_of(q, q->c.ev_in, q->ev_x);
    tg_real u_k = of_u ? q->u[k] : 0;
    if (of_u) q->u[k] = value;
    int st = first_gradient(q, q->c.ev, y, q->ev_x, q->g, false, msg, len);
    if (of_u) q->u[k] = u_k;
    if (st != TG_OK) return st;
    int64_t at = 0;
    for (int j = 0; j < q->m; j++)
        for (int64_t e = 0; e < q->g[j]->size; e++) out[at++] = (double)q->g[j]->data[e];
    return TG_OK;
}

/* doutᵀ·∂G/∂x: the gradient of Σ_j ⟨G_j, dout_j⟩ through the recorded G */
static int ggc_vjp(void *ctx, const tg_real *dout, double *grad, char *msg, size_t len)
{
    ggc_ctx *q = ctx;
    tg_tape *t = q->c.at;
    tg_tensor *s = NULL;
    int64_t at = 0;
    for (int j = 0; j < q->m; j++) {
        tg_tensor *d = tg_tensor_new(t, q->at_g[j]->ndim, q->at_g[j]->shape, dout + at);
        tg_tensor *term = tg_sum(t, tg_mul(t, q->at_g[j], d), TG_ALL, false);
        s = !term ? NULL : j ? tg_add(t, s, term) : term; /* not a sum without it */
        if (!s) break;
        at += q->at_g[j]->size;
    }
    if (!s) {
        snprintf(msg, len, "%s", tape_reason(t));
        return TG_ERR_STATE;
    }
    bool live = s->flags & TG_REQUIRES_GRAD;
    int mu = q->m + (q->u_in != NULL); /* with u: its gradient last */
    if (live) {
        tg_grad_opts o = {.allow_unused = true};
        if (q->u_in) q->at_x[q->m] = q->at_u;
        int st = tg_grad(t, 1, &s, NULL, mu, q->at_x, q->g, &o);
        if (st != TG_OK) {
            snprintf(msg, len, "the second backward failed: %s", tape_reason(t));
            return st;
        }
    }
    at = 0;
    for (int j = 0; j < mu; j++) {
        int64_t size = j < q->m ? q->at_x[j]->size : q->at_u->size;
        for (int64_t e = 0; e < size; e++, at++)
            grad[at] = live ? (double)q->g[j]->data[e] : 0;
    }
    return TG_OK;
}

/* A failure whose worst entry is u's: the cause said first, as the vjp
   against backward one */
static void u_hint(tg_gradcheck_result *res, FILE *report)
{
    static const char failed[] = "gradgradcheck FAILED: ";
    char both[2 * sizeof res->message]; /* then cut to the message's room */
    size_t skip = strncmp(res->message, failed, sizeof failed - 1) ? 0 : sizeof failed - 1;
    snprintf(both, sizeof both,
             "%sa vjp is not differentiable in its output gradient g (detached, or its "
             "values copied); %s", failed, res->message + skip);
    memcpy(res->message, both, sizeof res->message - 1);
    res->message[sizeof res->message - 1] = '\0';
    if (report) fprintf(report, "  %s\n", res->message);
}

tg_gradcheck_result tg_gradgradcheck(tg_gradcheck_fn fn, void *ctx, tg_tensor *const *inputs,
                                     int n_inputs, const tg_gradcheck_opts *opts)
{
    tg_gradcheck_result res = {.status = TG_OK, .worst_input = -1, .worst_index = -1,
                               .kink_input = -1, .kink_index = -1};
    if (!fn) {
        refuse(&res, TG_ERR_INVALID, "tg_gradgradcheck: fn is NULL");
        return res;
    }
    int n = n_inputs > 0 && inputs ? n_inputs : 0;
    tg_gradcheck_opts o = opts ? *opts : tg_gradcheck_defaults();
    ggc_ctx q = {.c = {.fn = fn, .ctx = ctx, .src = inputs, .n = n},
                 .seed = o.seed ^ 0x6a09e667f3bcc909u, .rtol = o.rtol, .atol = o.atol,
                 .bad_input = -1};
    q.c.at = tg_tape_new();
    q.c.ev = tg_tape_new();
    size_t cells = (size_t)n + 1;
    q.c.at_in = calloc(cells, sizeof *q.c.at_in);
    q.c.ev_in = calloc(cells, sizeof *q.c.ev_in);
    q.at_x = calloc(cells, sizeof *q.at_x);
    q.at_g = calloc(cells, sizeof *q.at_g);
    q.ev_x = calloc(cells, sizeof *q.ev_x);
    q.g = calloc(cells, sizeof *q.g);
    if (!q.c.at || !q.c.ev || !q.c.at_in || !q.c.ev_in || !q.at_x || !q.at_g || !q.ev_x || !q.g) {
        refuse(&res, TG_ERR_NOMEM, "tg_gradgradcheck: out of memory");
    } else {
        u_as_input(&q);
        tg_tensor **ext = q.u_in ? calloc(cells, sizeof *ext) : NULL;
        if (ext) {
            memcpy(ext, inputs, (size_t)n * sizeof *ext);
            ext[n] = q.u_in;
        }
        tg_fdcheck_problem p = {.name = "tg_gradgradcheck", .inputs = ext ? ext : inputs,
                                .n_inputs = ext ? n + 1 : n_inputs, .ctx = &q,
                                .prepare = ggc_prepare, .eval = ggc_eval, .vjp = ggc_vjp};
        if (q.u_in && !ext) {
            refuse(&res, TG_ERR_NOMEM, "tg_gradgradcheck: out of memory");
        } else {
            res = tg_fdcheck(&p, opts);
            if (res.status == TG_OK && !res.ok && res.worst_input == n && q.u_in)
                u_hint(&res, o.report);
        }
        free(ext);
        if (res.status == TG_OK && q.bad_input >= 0) { /* the cause, said first */
            const tg_tensor *x = inputs[q.bad_input];
            res.ok = false;
            if (res.failed == 0) res.failed = 1;
            snprintf(res.message, sizeof res.message,
                     "gradgradcheck FAILED: the create_graph gradient (the vjp rules) of input "
                     "%d%s%s%s element [%lld] is %.6g, the backward rules' %.6g: a vjp "
                     "disagrees with its backward (tg_gradcheck checks the backward rules)",
                     q.bad_input, x->name ? " '" : "", x->name ? x->name : "",
                     x->name ? "'" : "", (long long)q.bad_index, q.bad_vjp, q.bad_backward);
            if (o.report) fprintf(o.report, "  %s\n", res.message);
        }
    }
    if (!q.u_in) free(q.u);
    tg_tape_free(q.ut);
    free(q.c.at_in);
    free(q.c.ev_in);
    free(q.at_x);
    free(q.at_g);
    free(q.ev_x);
    free(q.g);
    tg_tape_free(q.c.at);
    tg_tape_free(q.c.ev);
    return res;
}
