/* optim: SGD (momentum, dampening, Nesterov, weight decay), Adam and AdamW
   (bias correction, amsgrad) with torch.optim's update formulas
   (_single_tensor_sgd / _single_tensor_adam / _single_tensor_adamw).

   The state (momentum buffer, first and second moments, their maximum) lives
   in blocks as long as the parameter block, one allocation made when the
   optimizer is created; a step walks each parameter's elements (never the
   padding between parameters) and allocates nothing. As in PyTorch, the
   scalar factors (1 − dampening, lr / (1 − β₁ᵗ), ...) are computed in double
   and used in tg_real, and every element operation is done in tg_real, in
   the order PyTorch's kernels do it. */
#include "core/internal.h"
#include "gemm/gemm.h"

#include <stdlib.h>

typedef enum { OPT_SGD, OPT_ADAM, OPT_ADAMW } opt_kind;

struct tg_optim {
    opt_kind kind;
    tg_params *p;
    size_t len;    /* tg_params_block_len when created */
    size_t count;  /* tg_params_count when created */
    double lr;
    tg_sgd_opts sgd;
    tg_adam_opts adam;
    int64_t steps;           /* step calls */
    int64_t *param_steps;    /* [count]: the steps that updated each parameter */
    tg_real *state;          /* one allocation holding the blocks below */
    tg_real *buf;            /* SGD momentum buffer [len], or NULL */
    tg_real *exp_avg;        /* Adam m [len] */
    tg_real *exp_avg_sq;     /* Adam v [len] */
    tg_real *max_exp_avg_sq; /* amsgrad max of v [len], or NULL */
    unsigned gemm_splits;    /* tg_gemm_split_count at the last step */
};

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

static bool finite_nonneg(double x) { return isfinite(x) && x >= 0; }

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

/* ------------------------------------------------------------ make / free */

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
    if (!o->param_steps) {
        free(o);
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

tg_optim *tg_sgd_new(tg_params *p, const tg_sgd_opts *opts)
{
    tg_sgd_opts o = opts ? *opts : tg_sgd_defaults(1e-3);
    if (check_sgd(&o) != TG_OK) return NULL;
    tg_optim *opt = optim_new("tg_sgd_new", p, OPT_SGD, o.momentum != 0 ? 1 : 0);
    if (!opt) return NULL;
    opt->sgd = o;
    opt->lr = o.lr;
    opt->buf = opt->state; /* NULL without momentum */
    return opt;
}

static tg_optim *adam_new(const char *fn, tg_params *p, const tg_adam_opts *opts, opt_kind kind)
{
    tg_adam_opts o = opts ? *opts : (kind == OPT_ADAMW ? tg_adamw_defaults(1e-3)
                                                       : tg_adam_defaults(1e-3));
    if (check_adam(fn, &o) != TG_OK) return NULL;
    tg_optim *opt = optim_new(fn, p, kind, o.amsgrad ? 3 : 2);
    if (!opt) return NULL;
    opt->adam = o;
    opt->lr = o.lr;
    opt->exp_avg = opt->state;
    opt->exp_avg_sq = opt->state + opt->len;
    opt->max_exp_avg_sq = o.amsgrad ? opt->state + 2 * opt->len : NULL;
    return opt;
}

tg_optim *tg_adam_new(tg_params *p, const tg_adam_opts *opts)
{
    return adam_new("tg_adam_new", p, opts, OPT_ADAM);
}

tg_optim *tg_adamw_new(tg_params *p, const tg_adam_opts *opts)
{
    return adam_new("tg_adamw_new", p, opts, OPT_ADAMW);
}

void tg_optim_free(tg_optim *o)
{
    if (!o) return;
    free(o->state);
    free(o->param_steps);
    free(o);
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
typedef struct {
    tg_real wd, mu, keep, neg_lr;
    bool maximize, decay, momentum, nesterov, first;
} sgd_coef;

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
typedef struct {
    tg_real b1, one_b1, b2, one_b2, eps, wd, decay, neg_step, bc2_sqrt;
    bool adamw, amsgrad, maximize, coupled_wd;
} adam_coef;

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
    sgd_coef sgd;   /* but .first, which is each parameter's own */
    adam_coef adam; /* but the bias corrections, which are too */
    int parts;
    bool zero; /* tg_optim_step_zero_grad */
} step_job;

/* The factors that depend on the step count, which is each parameter's own
   (PyTorch's state[p]['step']: a step that skips a parameter does not count
   for it): SGD's first momentum step, Adam's bias corrections. */
static void count_coefs(step_job *j, int64_t param_steps)
{
    const tg_optim *o = j->o;
    if (o->kind == OPT_SGD) {
        j->sgd.first = param_steps == 0;
        return;
    }
    double t = (double)(param_steps + 1);
    double bc1 = 1 - pow(o->adam.beta1, t), bc2 = 1 - pow(o->adam.beta2, t);
    j->adam.neg_step = (tg_real)(-(o->lr / bc1));
    j->adam.bc2_sqrt = (tg_real)sqrt(bc2);
}

enum {
    STEP_MIN_PER_TASK = 1 << 16, /* elements: smaller steps run in one go */
    STEP_PIECE = 2048            /* elements updated (and zeroed) at a time */
};

/* Updates elements [a, b) of the block, in pieces of STEP_PIECE so that
   the zeroing finds them in L1. */
static void step_range(const step_job *j, size_t a, size_t b)
{
    const tg_optim *o = j->o;
    for (size_t c = a; c < b; c += STEP_PIECE) {
        int64_t n = (int64_t)(b - c < STEP_PIECE ? b - c : STEP_PIECE);
        if (o->kind == OPT_SGD)
            sgd_update(j->data + c, j->grad + c, o->buf ? o->buf + c : NULL, n, j->sgd);
        else
            adam_update(j->data + c, j->grad + c, o->exp_avg + c, o->exp_avg_sq + c,
                        o->max_exp_avg_sq ? o->max_exp_avg_sq + c : NULL, n, j->adam);
        if (j->zero) memset(j->grad + c, 0, (size_t)n * sizeof(tg_real));
    }
}

static void step_task(void *ctx, int task)
{
    step_job j = *(const step_job *)ctx;
    const size_t t = (size_t)task, parts = (size_t)j.parts;
    for (size_t k = 0; k < j.o->count; k++) {
        const tg_tensor *x = tg_params_at(j.o->p, k);
        if (x->size == 0 || !x->grad) continue; /* released: skipped, as PyTorch skips None */
        count_coefs(&j, j.o->param_steps[k]);
        size_t rows = x->ndim > 0 ? (size_t)x->shape[0] : 1, row = (size_t)x->size / rows;
        size_t off = (size_t)(x->data - j.data);
        step_range(&j, off + rows * t / parts * row, off + rows * (t + 1) / parts * row);
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
    if (o->kind == OPT_SGD) {
        const tg_sgd_opts *s = &o->sgd;
        j.sgd = (sgd_coef){
            .wd = (tg_real)s->weight_decay, .mu = (tg_real)s->momentum,
            .keep = (tg_real)(1 - s->dampening), .neg_lr = (tg_real)(-o->lr),
            .maximize = s->maximize, .decay = s->weight_decay != 0,
            .momentum = s->momentum != 0, .nesterov = s->nesterov};
    } else {
        const tg_adam_opts *a = &o->adam;
        j.adam = (adam_coef){
            .b1 = (tg_real)a->beta1, .one_b1 = (tg_real)(1 - a->beta1),
            .b2 = (tg_real)a->beta2, .one_b2 = (tg_real)(1 - a->beta2),
            .eps = (tg_real)a->eps, .wd = (tg_real)a->weight_decay,
            .decay = (tg_real)(1 - o->lr * a->weight_decay),
            .adamw = o->kind == OPT_ADAMW, .amsgrad = a->amsgrad, .maximize = a->maximize,
            .coupled_wd = o->kind == OPT_ADAM && a->weight_decay != 0};
    }
    size_t parts = o->len / STEP_MIN_PER_TASK;
    size_t threads = (size_t)tg_threads_count();
    /* split where the products were split (src/gemm/gemm.h) */
    unsigned splits = tg_gemm_split_count();
    if (splits == o->gemm_splits) threads = 1;
    o->gemm_splits = splits;
    j.parts = (int)(parts < 1 ? 1 : parts > threads ? threads : parts);
    tg_parallel_run(j.parts, step_task, &j);
    for (size_t k = 0; k < o->count; k++)
        if (tg_params_at(p, k)->grad) o->param_steps[k]++;
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
    o->lr = lr;
    return TG_OK;
}

double tg_optim_get_lr(const tg_optim *o) { return o ? o->lr : 0; }

int64_t tg_optim_steps(const tg_optim *o) { return o ? o->steps : 0; }

int64_t tg_optim_param_steps(const tg_optim *o, size_t i)
{
    return o && i < o->count ? o->param_steps[i] : 0;
}

const char *tg_optim_name(const tg_optim *o)
{
    if (!o) return "";
    return o->kind == OPT_SGD ? "sgd" : o->kind == OPT_ADAM ? "adam" : "adamw";
}

const tg_real *tg_optim_state(const tg_optim *o, const char *name)
{
    if (!o || !name) return NULL;
    if (strcmp(name, "momentum_buffer") == 0) return o->buf;
    if (strcmp(name, "exp_avg") == 0) return o->exp_avg;
    if (strcmp(name, "exp_avg_sq") == 0) return o->exp_avg_sq;
    if (strcmp(name, "max_exp_avg_sq") == 0) return o->max_exp_avg_sq;
    return NULL;
}
