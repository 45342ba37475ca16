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
