/* optim: SGD (momentum, dampening, Nesterov, weight decay), Adam and AdamW
   (bias correction, amsgrad), RMSprop (smoothing, centered, momentum) and
   Adagrad (lr decay, initial accumulator) with torch.optim's update
   formulas (_single_tensor_sgd / _adam / _adamw / _rmsprop / _adagrad),
   over parameter groups (each parameter in one group, each group with its
   own learning rate and weight decay, as param_groups).

   The state (momentum buffer, first and second moments, their maximum) lives
   in blocks as long as the parameter block, one allocation made when the
   optimizer is created; a step walks each parameter's elements (never the
   padding between parameters) and allocates nothing. As in PyTorch, the
   scalar factors (1 − dampening, lr / (1 − β₁ᵗ), ...) are computed in double
   and used in tg_real, and every element operation is done in tg_real, in
   the order PyTorch's kernels do it. */
#include "nn/nn_internal.h"
#include "gemm/gemm.h"

#include <limits.h>
#include <stdlib.h>

/* ---------------------------------------------------------------- options */

tg_sgd_opts tg_sgd_defaults(double lr)
{
    return (tg_sgd_opts){.lr = lr, .momentum = 0, .dampening = 0, .weight_decay = 0,
                         .nesterov = false, .maximize = false};
}

tg_adam_opts tg_adam_defaults(double lr)
{
    return (tg_adam_opts){.lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                          .weight_decay = 0, .amsgrad = false, .maximize = false};
}

tg_adam_opts tg_adamw_defaults(double lr)
{
    tg_adam_opts o = tg_adam_defaults(lr);
    o.weight_decay = 1e-2;
    return o;
}

tg_rmsprop_opts tg_rmsprop_defaults(double lr)
{
    return (tg_rmsprop_opts){.lr = lr, .alpha = 0.99, .eps = 1e-8, .weight_decay = 0,
                             .momentum = 0, .centered = false, .maximize = false};
}

tg_adagrad_opts tg_adagrad_defaults(double lr)
{
    return (tg_adagrad_opts){.lr = lr, .lr_decay = 0, .weight_decay = 0,
                             .initial_accumulator_value = 0, .eps = 1e-10, .maximize = false};
}

static bool finite_nonneg(double x) { return isfinite(x) && x >= 0; }

/* The checks torch.optim makes, each naming the option and its value. */
static int check_lr_wd(const char *fn, double lr, double wd)
{
    if (!finite_nonneg(lr))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid learning rate %g", fn, lr);
    if (!finite_nonneg(wd))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid weight_decay %g", fn, wd);
    return TG_OK;
}

static int check_sgd(const tg_sgd_opts *o)
{
    const char *fn = "tg_sgd_new";
    if (!finite_nonneg(o->lr))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid learning rate %g", fn, o->lr);
    if (!finite_nonneg(o->momentum))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid momentum %g", fn, o->momentum);
    if (!isfinite(o->dampening))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid dampening %g", fn, o->dampening);
    if (!finite_nonneg(o->weight_decay))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid weight_decay %g", fn, o->weight_decay);
    if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
        return tg_set_error(TG_ERR_INVALID,
                            "%s: Nesterov momentum requires a momentum > 0 and zero dampening", fn);
    return TG_OK;
}

static int check_adam(const char *fn, const tg_adam_opts *o)
{
    if (!finite_nonneg(o->lr))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid learning rate %g", fn, o->lr);
    if (!finite_nonneg(o->eps))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid epsilon %g", fn, o->eps);
    if (!(o->beta1 >= 0 && o->beta1 < 1))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid beta1 %g (needs 0 <= beta1 < 1)", fn,
                            o->beta1);
    if (!(o->beta2 >= 0 && o->beta2 < 1))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid beta2 %g (needs 0 <= beta2 < 1)", fn,
                            o->beta2);
    if (!finite_nonneg(o->weight_decay))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid weight_decay %g", fn, o->weight_decay);
    return TG_OK;
}

static int check_rmsprop(const tg_rmsprop_opts *o)
{
    const char *fn = "tg_rmsprop_new";
    int st = check_lr_wd(fn, o->lr, o->weight_decay);
    if (st != TG_OK) return st;
    if (!finite_nonneg(o->eps))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid epsilon %g", fn, o->eps);
    if (!finite_nonneg(o->momentum))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid momentum %g", fn, o->momentum);
    if (!(o->alpha >= 0 && o->alpha <= 1))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid alpha %g (needs 0 <= alpha <= 1)", fn,
                            o->alpha);
    return TG_OK;
}

static int check_adagrad(const tg_adagrad_opts *o)
{
    const char *fn = "tg_adagrad_new";
    int st = check_lr_wd(fn, o->lr, o->weight_decay);
    if (st != TG_OK) return st;
    if (!finite_nonneg(o->lr_decay))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid lr_decay %g", fn, o->lr_decay);
    if (!finite_nonneg(o->initial_accumulator_value))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid initial_accumulator_value %g", fn,
                            o->initial_accumulator_value);
    if (!finite_nonneg(o->eps))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid epsilon %g", fn, o->eps);
    return TG_OK;
}

/* ------------------------------------------------------------ make / free */

/* The optimizer's own options as its one group's (every parameter in it). */
static void default_group(tg_optim *o, opt_group *g)
{
    memset(g, 0, sizeof *g);
    switch (o->kind) {
    case OPT_SGD: g->lr = o->sgd.lr, g->weight_decay = o->sgd.weight_decay,
                  g->momentum = o->sgd.momentum; break;
    case OPT_ADAM:
    case OPT_ADAMW: g->lr = o->adam.lr, g->weight_decay = o->adam.weight_decay,
                    g->momentum = o->adam.beta1; break;
    case OPT_RMSPROP: g->lr = o->rms.lr, g->weight_decay = o->rms.weight_decay,
                      g->momentum = o->rms.momentum; break;
    case OPT_ADAGRAD: g->lr = o->ada.lr, g->weight_decay = o->ada.weight_decay; break;
    }
}

/* Names the state blocks (n of them, in the one allocation). */
static void name_state(tg_optim *o, int n, const char *const *names)
{
    o->n_state = n;
    for (int i = 0; i < n; i++) {
        o->state_name[i] = names[i];
        o->state_block[i] = o->state + (size_t)i * o->len;
    }
}

static tg_optim *optim_new(const char *fn, tg_params *p, opt_kind kind, int n_blocks)
{
    if (!p) {
        tg_set_error(TG_ERR_INVALID, "%s: params is NULL", fn);
        return NULL;
    }
    size_t len = tg_params_block_len(p);
    if (tg_params_count(p) == 0 || len == 0) {
        tg_set_error(TG_ERR_INVALID, "%s: the parameter list is empty", fn);
        return NULL;
    }
    tg_optim *o = calloc(1, sizeof *o);
    if (!o) {
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    o->kind = kind;
    o->p = p;
    o->len = len;
    o->count = tg_params_count(p);
    o->param_steps = calloc(o->count, sizeof *o->param_steps);
    o->param_group = calloc(o->count, sizeof *o->param_group);
    o->buf_ready = calloc(o->count, 1);
    o->groups = calloc(1, sizeof *o->groups);
    o->n_groups = 1;
    if (!o->param_steps || !o->param_group || !o->buf_ready || !o->groups) {
        tg_optim_free(o);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    if (n_blocks > 0) {
        if (len > SIZE_MAX / sizeof(tg_real) / (size_t)n_blocks) {
            tg_optim_free(o);
            tg_set_error(TG_ERR_NOMEM, "%s: the optimizer state is too large", fn);
            return NULL;
        }
        size_t bytes = (size_t)n_blocks * len * sizeof(tg_real); /* a multiple of 64 */
        o->state = aligned_alloc(TG_ALIGN, bytes);
        if (!o->state) {
            tg_optim_free(o);
            tg_set_error(TG_ERR_NOMEM, "%s: out of memory for %zu bytes of state", fn, bytes);
            return NULL;
        }
        memset(o->state, 0, bytes);
    }
    return o;
}

/* The one group, of every parameter, once the options are in place. */
static tg_optim *finish(tg_optim *o)
{
    default_group(o, &o->groups[0]);
    o->groups[0].n_params = o->count;
    return o;
}

tg_optim *tg_sgd_new(tg_params *p, const tg_sgd_opts *opts)
{
    tg_sgd_opts o = opts ? *opts : tg_sgd_defaults(1e-3);
    if (check_sgd(&o) != TG_OK) return NULL;
    tg_optim *opt = optim_new("tg_sgd_new", p, OPT_SGD, o.momentum != 0 ? 1 : 0);
    if (!opt) return NULL;
    opt->sgd = o;
    if (o.momentum != 0) name_state(opt, 1, (const char *[]){"momentum_buffer"});
    opt->buf = opt->state; /* NULL without momentum */
    return finish(opt);
}

static tg_optim *adam_new(const char *fn, tg_params *p, const tg_adam_opts *opts, opt_kind kind)
{
    tg_adam_opts o = opts ? *opts : (kind == OPT_ADAMW ? tg_adamw_defaults(1e-3)
                                                       : tg_adam_defaults(1e-3));
    if (check_adam(fn, &o) != TG_OK) return NULL;
    tg_optim *opt = optim_new(fn, p, kind, o.amsgrad ? 3 : 2);
    if (!opt) return NULL;
    opt->adam = o;
    name_state(opt, o.amsgrad ? 3 : 2,
               (const char *[]){"exp_avg", "exp_avg_sq", "max_exp_avg_sq"});
    opt->exp_avg = opt->state;
    opt->exp_avg_sq = opt->state + opt->len;
    opt->max_exp_avg_sq = o.amsgrad ? opt->state + 2 * opt->len : NULL;
    return finish(opt);
}

tg_optim *tg_adam_new(tg_params *p, const tg_adam_opts *opts)
{
    return adam_new("tg_adam_new", p, opts, OPT_ADAM);
}

tg_optim *tg_adamw_new(tg_params *p, const tg_adam_opts *opts)
{
    return adam_new("tg_adamw_new", p, opts, OPT_ADAMW);
}

/* RMSprop's blocks: square_avg, then momentum_buffer and grad_avg as the
   options ask (PyTorch makes them at the first step, as zeros). */
static void rms_blocks(tg_optim *o, bool momentum)
{
    const char *names[OPT_MAX_STATE];
    int n = 0;
    names[n++] = "square_avg";
    if (momentum) names[n++] = "momentum_buffer";
    if (o->rms.centered) names[n++] = "grad_avg";
    name_state(o, n, names);
    o->square_avg = o->state_block[0];
    o->buf = momentum ? o->state_block[1] : NULL;
    o->grad_avg = o->rms.centered ? o->state_block[n - 1] : NULL;
}

tg_optim *tg_rmsprop_new(tg_params *p, const tg_rmsprop_opts *opts)
{
    tg_rmsprop_opts o = opts ? *opts : tg_rmsprop_defaults(1e-2);
    if (check_rmsprop(&o) != TG_OK) return NULL;
    bool momentum = o.momentum > 0;
    tg_optim *opt = optim_new("tg_rmsprop_new", p, OPT_RMSPROP, 1 + momentum + o.centered);
    if (!opt) return NULL;
    opt->rms = o;
    rms_blocks(opt, momentum);
    return finish(opt);
}

tg_optim *tg_adagrad_new(tg_params *p, const tg_adagrad_opts *opts)
{
    tg_adagrad_opts o = opts ? *opts : tg_adagrad_defaults(1e-2);
    if (check_adagrad(&o) != TG_OK) return NULL;
    tg_optim *opt = optim_new("tg_adagrad_new", p, OPT_ADAGRAD, 1);
    if (!opt) return NULL;
    opt->ada = o;
    name_state(opt, 1, (const char *[]){"sum"});
    opt->sum = opt->state;
    /* state['sum'] = full_like(p, initial_accumulator_value), at construction */
    for (size_t k = 0; k < opt->count; k++) {
        const tg_tensor *x = tg_params_at(p, k);
        tg_real *s = opt->sum + (x->data - tg_params_data(p));
        for (int64_t i = 0; i < x->size; i++) s[i] = (tg_real)o.initial_accumulator_value;
    }
    return finish(opt);
}

void tg_optim_free(tg_optim *o)
{
    if (!o) return;
    free(o->state);
    free(o->param_steps);
    free(o->param_group);
    free(o->buf_ready);
    free(o->groups);
    free(o);
}

/* ------------------------------------------------------------------ groups */

tg_param_group tg_param_group_new(void)
{
    return (tg_param_group){.names = NULL, .n_names = 0, .filter = NULL, .ctx = NULL,
                            .lr = NAN, .weight_decay = NAN};
}

bool tg_param_is_1d(const char *name, const tg_tensor *x, void *ctx)
{
    (void)name;
    (void)ctx;
    return x && x->ndim < 2;
}

int tg_optim_set_groups(tg_optim *o, int n, const tg_param_group *groups)
{
    const char *fn = "tg_optim_set_groups";
    if (!o) return tg_set_error(TG_ERR_INVALID, "%s: the optimizer is NULL", fn);
    if (n < 0 || (n > 0 && !groups))
        return tg_set_error(TG_ERR_INVALID, "%s: %d groups at %p", fn, n, (const void *)groups);
    if (o->steps > 0)
        return tg_set_error(TG_ERR_STATE, "%s: the optimizer has taken %lld steps; set the "
                            "groups before the first", fn, (long long)o->steps);
    if (o->count != tg_params_count(o->p))
        return tg_set_error(TG_ERR_STATE, "%s: parameters were added after the optimizer was "
                            "made", fn);
    if ((size_t)n >= (size_t)INT_MAX)
        return tg_set_error(TG_ERR_INVALID, "%s: too many groups (%d)", fn, n);
    for (int g = 0; g < n; g++) {
        const tg_param_group *G = &groups[g];
        if (!G->names && !G->filter)
            return tg_set_error(TG_ERR_INVALID, "%s: group %d has neither names nor a filter", fn,
                                g);
        if (G->names && G->n_names < 0)
            return tg_set_error(TG_ERR_INVALID, "%s: group %d has %d names", fn, g, G->n_names);
        if (!isnan(G->lr) && !finite_nonneg(G->lr))
            return tg_set_error(TG_ERR_INVALID, "%s: group %d: invalid learning rate %g", fn, g,
                                G->lr);
        if (!isnan(G->weight_decay) && !finite_nonneg(G->weight_decay))
            return tg_set_error(TG_ERR_INVALID, "%s: group %d: invalid weight_decay %g", fn, g,
                                G->weight_decay);
    }
    int *of = malloc(o->count * sizeof *of);
    opt_group *gs = calloc((size_t)n + 1, sizeof *gs);
    if (!of || !gs) {
        free(of);
        free(gs);
        return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", fn);
    }
    for (size_t k = 0; k < o->count; k++) of[k] = -1;
    /* names first: each must exist and be listed once */
    for (int g = 0; g < n; g++) {
        const tg_param_group *G = &groups[g];
        for (int i = 0; G->names && i < G->n_names; i++) {
            const tg_tensor *x = G->names[i] ? tg_params_get(o->p, G->names[i]) : NULL;
            size_t k = x ? (size_t)x->id : o->count;
            if (k >= o->count || tg_params_at(o->p, k) != x) {
                free(of), free(gs);
                return tg_set_error(TG_ERR_INVALID, "%s: group %d names '%s', which is not a "
                                    "parameter", fn, g, G->names[i] ? G->names[i] : "(NULL)");
            }
            if (of[k] >= 0) {
                int first = of[k];
                free(of), free(gs);
                return tg_set_error(TG_ERR_INVALID, "%s: '%s' is in group %d and in group %d",
                                    fn, G->names[i], first, g);
            }
            of[k] = g;
        }
    }
    /* then the filters, in order, over what is left */
    for (size_t k = 0; k < o->count; k++) {
        const tg_tensor *x = tg_params_at(o->p, k);
        for (int g = 0; g < n && of[k] < 0; g++)
            if (!groups[g].names && groups[g].filter(x->name, x, groups[g].ctx)) of[k] = g;
    }
    int n_groups = n;
    for (size_t k = 0; k < o->count; k++)
        if (of[k] < 0) of[k] = n, n_groups = n + 1;
    for (int g = 0; g < n_groups; g++) {
        default_group(o, &gs[g]);
        if (g < n && !isnan(groups[g].lr)) gs[g].lr = groups[g].lr;
        if (g < n && !isnan(groups[g].weight_decay)) gs[g].weight_decay = groups[g].weight_decay;
    }
    for (size_t k = 0; k < o->count; k++) gs[of[k]].n_params++;
    memcpy(o->param_group, of, o->count * sizeof *of);
    free(of);
    free(o->groups);
    o->groups = gs;
    o->n_groups = n_groups == 0 ? 1 : n_groups; /* (0 only without parameters) */
    return TG_OK;
}

int tg_optim_num_groups(const tg_optim *o) { return o ? o->n_groups : 0; }

int tg_optim_param_group(const tg_optim *o, size_t i)
{
    return o && i < o->count ? o->param_group[i] : -1;
}

size_t tg_optim_group_size(const tg_optim *o, int g)
{
    return o && g >= 0 && g < o->n_groups ? o->groups[g].n_params : 0;
}

int tg_optim_set_group_lr(tg_optim *o, int g, double lr)
{
    const char *fn = "tg_optim_set_group_lr";
    if (!o) return tg_set_error(TG_ERR_INVALID, "%s: the optimizer is NULL", fn);
    if (g < 0 || g >= o->n_groups)
        return tg_set_error(TG_ERR_INVALID, "%s: no group %d (the optimizer has %d)", fn, g,
                            o->n_groups);
    if (!finite_nonneg(lr))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid learning rate %g", fn, lr);
    o->groups[g].lr = lr;
    return TG_OK;
}

double tg_optim_get_group_lr(const tg_optim *o, int g)
{
    return o && g >= 0 && g < o->n_groups ? o->groups[g].lr : 0;
}

double tg_optim_get_group_weight_decay(const tg_optim *o, int g)
{
    return o && g >= 0 && g < o->n_groups ? o->groups[g].weight_decay : 0;
}

double tg_optim_get_group_momentum(const tg_optim *o, int g)
{
    return o && g >= 0 && g < o->n_groups ? o->groups[g].momentum : 0;
}

bool tg_optim_has_momentum(const tg_optim *o) { return o && o->kind != OPT_ADAGRAD; }

int tg_optim_set_group_momentum(tg_optim *o, int g, double m)
{
    const char *fn = "tg_optim_set_group_momentum";
    if (!o || g < 0 || g >= o->n_groups || !tg_optim_has_momentum(o))
        return tg_set_error(TG_ERR_INVALID, "%s: no momentum in group %d", fn, g);
    if (!(m >= 0 && m < (o->kind == OPT_SGD || o->kind == OPT_RMSPROP ? INFINITY : 1)))
        return tg_set_error(TG_ERR_INVALID, "%s: invalid momentum %g", fn, m);
    if (m != 0 && !o->buf && (o->kind == OPT_SGD || o->kind == OPT_RMSPROP)) {
        /* a momentum buffer, zero, after the blocks there are */
        if (o->n_state >= OPT_MAX_STATE || o->len > SIZE_MAX / sizeof(tg_real) / OPT_MAX_STATE)
            return tg_set_error(TG_ERR_NOMEM, "%s: the optimizer state is too large", fn);
        size_t old = (size_t)o->n_state * o->len * sizeof(tg_real);
        size_t bytes = old + o->len * sizeof(tg_real);
        tg_real *st = aligned_alloc(TG_ALIGN, bytes);
        if (!st) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory for a momentum buffer", fn);
        if (old) memcpy(st, o->state, old);
        memset((char *)st + old, 0, bytes - old);
        const char *names[OPT_MAX_STATE];
        for (int i = 0; i < o->n_state; i++) names[i] = o->state_name[i];
        names[o->n_state] = "momentum_buffer";
        free(o->state);
        o->state = st;
        name_state(o, o->n_state + 1, names);
        o->buf = o->state_block[o->n_state - 1];
        if (o->kind == OPT_RMSPROP) {
            o->square_avg = o->state_block[0];
            o->grad_avg = o->rms.centered ? o->state_block[1] : NULL;
        }
    }
    o->groups[g].momentum = m;
    return TG_OK;
}

/* ----------------------------------------------------------------- kernels */

/* SGD, one run of n elements (torch.optim.SGD):
     d = g + λ·w                          weight decay λ
     b = d                                on the first step
     b = μ·b + (1 − τ)·d                  afterwards (momentum μ, dampening τ)
     d = d + μ·b  (Nesterov)  or  d = b
     w = w − lr·d
   The options are the same for every element, so the loop is unswitched by
   hand where it matters: plain SGD (no momentum, no decay: the demo's) is a
   loop of its own, which vectorises. */
TG_VECTOR_LOOP static void sgd_plain(tg_real *restrict w, const tg_real *restrict g, int64_t n,
                                     tg_real neg_lr)
{
    for (int64_t i = 0; i < n; i++) w[i] = w[i] + neg_lr * g[i];
}

TG_VECTOR_LOOP static void sgd_update(tg_real *restrict w, const tg_real *restrict g,
                                      tg_real *restrict buf, int64_t n, sgd_coef c)
{
    if (!c.maximize && !c.decay && !c.momentum) {
        sgd_plain(w, g, n, c.neg_lr);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        tg_real d = c.maximize ? -g[i] : g[i];
        if (c.decay) d = d + c.wd * w[i];
        if (c.momentum) {
            buf[i] = c.first ? d : buf[i] * c.mu + c.keep * d;
            d = c.nesterov ? d + c.mu * buf[i] : buf[i];
        }
        w[i] = w[i] + c.neg_lr * d;
    }
}

/* Adam / AdamW, one run of n elements (torch.optim.Adam, torch.optim.AdamW),
   step t:
     g = g + λ·w                   Adam's (coupled) weight decay
     w = (1 − lr·λ)·w              AdamW's decoupled weight decay instead
     m = β₁·m + (1 − β₁)·g
     v = β₂·v + (1 − β₂)·g²
     v̂ = max(v̂, v)                 amsgrad (then v̂ replaces v below)
     w = w − (lr / (1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε)
   The bias corrections are computed in double, as PyTorch does in Python. */
TG_VECTOR_LOOP static void adam_update(tg_real *restrict w, const tg_real *restrict grad,
                                       tg_real *restrict m, tg_real *restrict v,
                                       tg_real *restrict vmax, int64_t n, adam_coef c)
{
    for (int64_t i = 0; i < n; i++) {
        tg_real g = c.maximize ? -grad[i] : grad[i];
        if (c.coupled_wd) g = g + c.wd * w[i];
        if (c.adamw) w[i] = w[i] * c.decay;
        m[i] = m[i] * c.b1 + c.one_b1 * g;
        v[i] = v[i] * c.b2 + c.one_b2 * g * g;
        tg_real vv = v[i];
        if (c.amsgrad) {
            tg_real mx = vmax[i];
            if (vv != vv || vv > mx) mx = vv; /* torch.maximum propagates NaN */
            vmax[i] = vv = mx;
        }
        tg_real denom = TG_SQRT(vv) / c.bc2_sqrt + c.eps;
        w[i] = w[i] + c.neg_step * m[i] / denom;
    }
}

/* RMSprop, one run of n elements (torch.optim.RMSprop):
     g = g + λ·w                        weight decay λ
     v = α·v + (1 − α)·g²
     ḡ = α·ḡ + (1 − α)·g,  r = √(v − ḡ²)    centered;  r = √v  otherwise
     r = r + ε
     b = μ·b + g/r,  w = w − lr·b        momentum μ > 0
     w = w − lr·g/r                      otherwise
   addcmul and addcdiv multiply their scalar into the first factor first,
   as PyTorch's kernels do: (s·a)·b, (s·a)/b. */
TG_VECTOR_LOOP static void rms_update(tg_real *restrict w, const tg_real *restrict grad,
                                      tg_real *restrict v, tg_real *restrict gavg,
                                      tg_real *restrict buf, int64_t n, rms_coef c)
{
    for (int64_t i = 0; i < n; i++) {
        tg_real g = c.maximize ? -grad[i] : grad[i];
        if (c.decay) g = g + c.wd * w[i];
        v[i] = v[i] * c.alpha + c.one_alpha * g * g;
        tg_real r;
        if (c.centered) {
            gavg[i] = gavg[i] * c.alpha + c.one_alpha * g;
            r = TG_SQRT(v[i] + -gavg[i] * gavg[i]);
        } else {
            r = TG_SQRT(v[i]);
        }
        r = r + c.eps;
        if (c.momentum) {
            buf[i] = buf[i] * c.mu + g / r;
            w[i] = w[i] + c.neg_lr * buf[i];
        } else {
            w[i] = w[i] + c.neg_lr * g / r;
        }
    }
}

/* Adagrad, one run of n elements (torch.optim.Adagrad), step t:
     g = g + λ·w                        weight decay λ
     s = s + g²
     w = w − lr_t·g/(√s + ε),  lr_t = lr / (1 + (t − 1)·lr_decay)   (in double) */
TG_VECTOR_LOOP static void ada_update(tg_real *restrict w, const tg_real *restrict grad,
                                      tg_real *restrict s, int64_t n, ada_coef c)
{
    for (int64_t i = 0; i < n; i++) {
        tg_real g = c.maximize ? -grad[i] : grad[i];
        if (c.decay) g = g + c.wd * w[i];
        s[i] = s[i] + g * g;
        tg_real std = TG_SQRT(s[i]) + c.eps;
        w[i] = w[i] + c.neg_clr * g / std;
    }
}

/* ------------------------------------------------------------------- step */

/* A step updates every element of every parameter, each on its own, so it
   can be split between the library's threads without changing a bit. Task
   t of T takes, in every parameter, the t-th of T slices of its rows (its
   first dimension): the slice that tg_gemm's split along M gives the same
   thread, in the forward x·Wᵀ and in dW = dyᵀ·x (tg_parallel_run gives
   task 0 to the caller). So a thread updates the weight rows whose
   gradient it has just computed and whose rows it reads in the next
   forward, instead of pulling them from the other core's cache, which
   costs about three times more here. The padding between parameters is
   never touched. */
typedef struct {
    tg_optim *o;
    tg_real *data, *grad;
    int parts;
    bool zero; /* tg_optim_step_zero_grad */
} step_job;

/* The factors of a group (its coefficients but those of the step count). */
static void group_coefs(const tg_optim *o, opt_group *g)
{
    switch (o->kind) {
    case OPT_SGD: {
        const tg_sgd_opts *s = &o->sgd;
        g->sgd = (sgd_coef){
            .wd = (tg_real)g->weight_decay, .mu = (tg_real)g->momentum,
            .keep = (tg_real)(1 - s->dampening), .neg_lr = (tg_real)(-g->lr),
            .maximize = s->maximize, .decay = g->weight_decay != 0,
            .momentum = g->momentum != 0, .nesterov = s->nesterov};
        break;
    }
    case OPT_ADAM:
    case OPT_ADAMW: {
        const tg_adam_opts *a = &o->adam;
        g->adam = (adam_coef){
            .b1 = (tg_real)g->momentum, .one_b1 = (tg_real)(1 - g->momentum),
            .b2 = (tg_real)a->beta2, .one_b2 = (tg_real)(1 - a->beta2),
            .eps = (tg_real)a->eps, .wd = (tg_real)g->weight_decay,
            .decay = (tg_real)(1 - g->lr * g->weight_decay),
            .adamw = o->kind == OPT_ADAMW, .amsgrad = a->amsgrad, .maximize = a->maximize,
            .coupled_wd = o->kind == OPT_ADAM && g->weight_decay != 0};
        break;
    }
    case OPT_RMSPROP: {
        const tg_rmsprop_opts *r = &o->rms;
        g->rms = (rms_coef){
            .alpha = (tg_real)r->alpha, .one_alpha = (tg_real)(1 - r->alpha),
            .eps = (tg_real)r->eps, .wd = (tg_real)g->weight_decay, .mu = (tg_real)g->momentum,
            .neg_lr = (tg_real)(-g->lr), .maximize = r->maximize,
            .decay = g->weight_decay != 0, .centered = r->centered, .momentum = g->momentum > 0};
        break;
    }
    case OPT_ADAGRAD:
        g->ada = (ada_coef){.wd = (tg_real)g->weight_decay, .eps = (tg_real)o->ada.eps,
                            .maximize = o->ada.maximize, .decay = g->weight_decay != 0};
        break;
    }
}

/* The factors that depend on the step count, which is each parameter's own
   (PyTorch's state[p]['step']: a step that skips a parameter does not count
   for it): SGD's first momentum step, Adam's bias corrections, Adagrad's
   decayed rate. */
static void count_coefs(const tg_optim *o, size_t k, opt_group *g)
{
    int64_t param_steps = o->param_steps[k];
    double t = (double)(param_steps + 1);
    switch (o->kind) {
    case OPT_SGD: g->sgd.first = !o->buf_ready[k]; break;
    case OPT_ADAM:
    case OPT_ADAMW: {
        double bc1 = 1 - pow(g->momentum, t), bc2 = 1 - pow(o->adam.beta2, t);
        g->adam.neg_step = (tg_real)(-(g->lr / bc1));
        g->adam.bc2_sqrt = (tg_real)sqrt(bc2);
        break;
    }
    case OPT_RMSPROP: break;
    case OPT_ADAGRAD: g->ada.neg_clr = (tg_real)(-(g->lr / (1 + (t - 1) * o->ada.lr_decay))); break;
    }
}

enum {
    STEP_MIN_PER_TASK = 1 << 16, /* elements: smaller steps run in one go */
    STEP_PIECE = 2048            /* elements updated (and zeroed) at a time */
};

/* Updates elements [a, b) of the block with group g's factors, in pieces of
   STEP_PIECE so that the zeroing finds them in L1. */
static void step_range(const step_job *j, const opt_group *g, size_t a, size_t b)
{
    const tg_optim *o = j->o;
    for (size_t c = a; c < b; c += STEP_PIECE) {
        int64_t n = (int64_t)(b - c < STEP_PIECE ? b - c : STEP_PIECE);
        tg_real *w = j->data + c, *gr = j->grad + c;
        switch (o->kind) {
        case OPT_SGD: sgd_update(w, gr, o->buf ? o->buf + c : NULL, n, g->sgd); break;
        case OPT_ADAM:
        case OPT_ADAMW:
            adam_update(w, gr, o->exp_avg + c, o->exp_avg_sq + c,
                        o->max_exp_avg_sq ? o->max_exp_avg_sq + c : NULL, n, g->adam);
            break;
        case OPT_RMSPROP:
            rms_update(w, gr, o->square_avg + c, o->grad_avg ? o->grad_avg + c : NULL,
                       o->buf ? o->buf + c : NULL, n, g->rms);
            break;
        case OPT_ADAGRAD: ada_update(w, gr, o->sum + c, n, g->ada); break;
        }
        if (j->zero) memset(j->grad + c, 0, (size_t)n * sizeof(tg_real));
    }
}

static void step_task(void *ctx, int task)
{
    const step_job *j = ctx;
    const size_t t = (size_t)task, parts = (size_t)j->parts;
    for (size_t k = 0; k < j->o->count; k++) {
        const tg_tensor *x = tg_params_at(j->o->p, k);
        if (x->size == 0 || !x->grad) continue; /* released: skipped, as PyTorch skips None */
        opt_group g = j->o->groups[j->o->param_group[k]];
        count_coefs(j->o, k, &g);
        size_t rows = x->ndim > 0 ? (size_t)x->shape[0] : 1, row = (size_t)x->size / rows;
        size_t off = (size_t)(x->data - j->data);
        step_range(j, &g, off + rows * t / parts * row, off + rows * (t + 1) / parts * row);
    }
}

static int optim_step(const char *fn, tg_optim *o, bool zero)
{
    if (!o) return tg_set_error(TG_ERR_INVALID, "%s: the optimizer is NULL", fn);
    tg_params *p = o->p;
    if (tg_params_block_len(p) != o->len || tg_params_count(p) != o->count)
        return tg_set_error(TG_ERR_STATE,
                            "%s: parameters were added after the optimizer was made "
                            "(%zu then, %zu now); make the optimizer after adding every parameter",
                            fn, o->count, tg_params_count(p));
    step_job j = {.o = o, .data = tg_params_data(p), .grad = tg_params_grad(p), .zero = zero};
    for (int g = 0; g < o->n_groups; g++) group_coefs(o, &o->groups[g]);
    size_t parts = o->len / STEP_MIN_PER_TASK;
    size_t threads = (size_t)tg_threads_count();
    /* split where the products were split (src/gemm/gemm.h) */
    unsigned splits = tg_gemm_split_count();
    if (splits == o->gemm_splits) threads = 1;
    o->gemm_splits = splits;
    j.parts = (int)(parts < 1 ? 1 : parts > threads ? threads : parts);
    tg_parallel_run(j.parts, step_task, &j);
    for (size_t k = 0; k < o->count; k++)
        if (tg_params_at(p, k)->grad) {
            o->param_steps[k]++;
            if (o->groups[o->param_group[k]].momentum != 0) o->buf_ready[k] = 1;
        }
    o->steps++;
    return TG_OK;
}

int tg_optim_step(tg_optim *o) { return optim_step("tg_optim_step", o, false); }

int tg_optim_step_zero_grad(tg_optim *o)
{
    return optim_step("tg_optim_step_zero_grad", o, true);
}

int tg_optim_step_release_grad(tg_optim *o)
{
    int st = optim_step("tg_optim_step_release_grad", o, false);
    if (st == TG_OK) tg_params_release_grad(o->p);
    return st;
}

void tg_optim_zero_grad(tg_optim *o)
{
    if (o) tg_params_zero_grad(o->p);
}

void tg_optim_release_grad(tg_optim *o)
{
    if (o) tg_params_release_grad(o->p);
}

int tg_optim_set_lr(tg_optim *o, double lr)
{
    if (!o) return tg_set_error(TG_ERR_INVALID, "tg_optim_set_lr: the optimizer is NULL");
    if (!finite_nonneg(lr))
        return tg_set_error(TG_ERR_INVALID, "tg_optim_set_lr: invalid learning rate %g", lr);
    for (int g = 0; g < o->n_groups; g++) o->groups[g].lr = lr;
    return TG_OK;
}

double tg_optim_get_lr(const tg_optim *o) { return o ? o->groups[0].lr : 0; }

int64_t tg_optim_steps(const tg_optim *o) { return o ? o->steps : 0; }

int64_t tg_optim_param_steps(const tg_optim *o, size_t i)
{
    return o && i < o->count ? o->param_steps[i] : 0;
}

const char *tg_optim_name(const tg_optim *o)
{
    if (!o) return "";
    static const char *const names[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};
    return names[o->kind];
}

const tg_real *tg_optim_state(const tg_optim *o, const char *name)
{
    if (!o || !name) return NULL;
    for (int i = 0; i < o->n_state; i++)
        if (strcmp(name, o->state_name[i]) == 0) return o->state_block[i];
    return NULL;
}
