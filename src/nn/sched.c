/* Learning-rate schedules with torch.optim.lr_scheduler's rules (PyTorch
   1.13), step for step.

   A scheduler keeps what PyTorch's keeps (last_epoch, _step_count,
   base_lrs, _last_lr and its own counters) and computes each step's rates
   with the same double operations in the same order as the Python code,
   so the rates agree to the last bit (tests/nn/test_sched.c compares them
   with ==). PyTorch's step():
       step_count += 1
       epoch not given: last_epoch += 1; rates = get_lr()      (recursive:
                        from each group's current rate)
       epoch given:     last_epoch = epoch; rates = the closed form if the
                        class has one, else get_lr()            (SequentialLR
                        uses this at a milestone, with epoch 0)
       each group's lr = its rate; last_lr = the rates
   A scheduler's constructor records each group's initial_lr if no
   scheduler did before (group.setdefault('initial_lr', lr)), sets
   base_lrs from them and makes the initial step (step_count 0, then
   step()). ReduceLROnPlateau is not such a scheduler: it steps on a metric
   and touches a rate only to cut it. */
#include "nn/nn_internal.h"

#include <stdlib.h>

#define PI 3.141592653589793 /* Python's math.pi: the double nearest π */

typedef enum {
    S_STEP, S_MULTISTEP, S_EXP, S_COSINE, S_WARM, S_LINEAR, S_ONECYCLE, S_PLATEAU, S_SEQ, S_CHAIN
} sched_kind;

static const char *const sched_names[] = {
    "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts", "LinearLR", "OneCycleLR", "ReduceLROnPlateau",
    "SequentialLR", "ChainedScheduler"};

/* A phase of OneCycleLR: its last step, and which of the group's values it
   starts and ends at (indices into oc_vals). */
typedef struct {
    double end_step;
    int start_lr, end_lr, start_mom, end_mom;
} oc_phase;
enum { OC_INITIAL, OC_MAX, OC_MIN, OC_MAX_MOM, OC_BASE_MOM, OC_VALS }; /* per group */

struct tg_sched {
    sched_kind kind;
    tg_optim *o;
    int n_groups;
    double *base_lrs, *last_lr; /* [n_groups] each */
    int64_t last_epoch, step_count;
    /* StepLR, MultiStepLR, ExponentialLR */
    int64_t step_size;
    double gamma;
    int n_milestones;
    int64_t *milestones; /* MultiStepLR: sorted; SequentialLR: as given */
    /* CosineAnnealingLR, CosineAnnealingWarmRestarts */
    int64_t T_max, T_0, T_i, T_mult, T_cur;
    double eta_min;
    /* LinearLR */
    double start_factor, end_factor;
    int64_t total_iters;
    /* OneCycleLR */
    int64_t total_steps;
    int n_phases;
    oc_phase phases[3];
    bool linear, cycle_momentum;
    double *oc; /* [n_groups][OC_VALS] */
    /* ReduceLROnPlateau */
    tg_plateau_opts pl;
    double *min_lrs; /* [n_groups] */
    double best;
    int64_t num_bad, cooldown_counter;
    /* SequentialLR, ChainedScheduler */
    int n_sub;
    tg_sched **sub;
    const tg_sched *owner; /* the SequentialLR or ChainedScheduler that took it, or NULL */
};

/* --------------------------------------------------------------- helpers */

/* Python's a % b for b > 0: never negative. */
static int64_t py_mod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

static double group_lr(const tg_sched *s, int g) { return s->o->groups[g].lr; }

static void set_rates(tg_sched *s, const double *v)
{
    for (int g = 0; g < s->n_groups; g++) s->o->groups[g].lr = v[g];
    for (int g = 0; g < s->n_groups; g++) s->last_lr[g] = s->o->groups[g].lr;
}

void tg_sched_free(tg_sched *s)
{
    if (!s) return;
    for (int i = 0; i < s->n_sub; i++) tg_sched_free(s->sub[i]);
    free(s->sub);
    free(s->base_lrs);
    free(s->last_lr);
    free(s->milestones);
    free(s->oc);
    free(s->min_lrs);
    free(s);
}

/* A scheduler of `kind` over o with its per-group arrays, or NULL. */
static tg_sched *sched_alloc(const char *fn, tg_optim *o, sched_kind kind)
{
    if (!o) {
        tg_set_error(TG_ERR_INVALID, "%s: the optimizer is NULL", fn);
        return NULL;
    }
    tg_sched *s = calloc(1, sizeof *s);
    if (s) {
        s->kind = kind;
        s->o = o;
        s->n_groups = o->n_groups;
        s->base_lrs = calloc((size_t)o->n_groups, sizeof *s->base_lrs);
        s->last_lr = calloc((size_t)o->n_groups, sizeof *s->last_lr);
    }
    if (!s || !s->base_lrs || !s->last_lr) {
        tg_sched_free(s);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    return s;
}

/* ------------------------------------------------------------- the rules */

/* get_lr(): the recursive rates, from each group's current rate, into v. */
static int get_lr(tg_sched *s, double *v)
{
    const int64_t e = s->last_epoch;
    for (int g = 0; g < s->n_groups; g++) {
        double lr = group_lr(s, g), base = s->base_lrs[g];
        switch (s->kind) {
        case S_STEP:
            v[g] = (e == 0 || py_mod(e, s->step_size) != 0) ? lr : lr * s->gamma;
            break;
        case S_MULTISTEP: {
            int hits = 0; /* Counter(milestones)[e] */
            for (int i = 0; i < s->n_milestones; i++) hits += s->milestones[i] == e;
            v[g] = hits == 0 ? lr : lr * pow(s->gamma, hits);
            break;
        }
        case S_EXP: v[g] = e == 0 ? lr : lr * s->gamma; break;
        case S_COSINE: {
            const double T = (double)s->T_max, eta = s->eta_min;
            if (e == 0)
                v[g] = lr;
            else if (s->step_count == 1 && e > 0)
                v[g] = eta + (base - eta) * (1 + cos((double)e * PI / T)) / 2;
            else if (py_mod(e - 1 - s->T_max, 2 * s->T_max) == 0)
                v[g] = lr + (base - eta) * (1 - cos(PI / T)) / 2;
            else
                v[g] = (1 + cos(PI * (double)e / T)) / (1 + cos(PI * (double)(e - 1) / T)) *
                           (lr - eta) +
                       eta;
            break;
        }
        case S_WARM:
            v[g] = s->eta_min + (base - s->eta_min) *
                                    (1 + cos(PI * (double)s->T_cur / (double)s->T_i)) / 2;
            break;
        case S_LINEAR: {
            const double a = s->start_factor, b = s->end_factor;
            if (e == 0) v[g] = lr * a;
            else if (e > s->total_iters) v[g] = lr;
            else
                v[g] = lr * (1. + (b - a) / ((double)s->total_iters * a + (double)(e - 1) * (b - a)));
            break;
        }
        case S_ONECYCLE: {
            if (e > s->total_steps)
                return tg_set_error(TG_ERR_STATE,
                                    "tg_sched_step: OneCycleLR stepped %lld times, past its "
                                    "total_steps of %lld",
                                    (long long)(e + 1), (long long)s->total_steps);
            const double *gv = s->oc + (size_t)g * OC_VALS;
            double start_step = 0, lr_v = 0, mom = 0;
            for (int i = 0; i < s->n_phases; i++) {
                const oc_phase *ph = &s->phases[i];
                if ((double)e <= ph->end_step || i == s->n_phases - 1) {
                    double pct = ((double)e - start_step) / (ph->end_step - start_step);
                    double a = gv[ph->start_lr], b = gv[ph->end_lr];
                    double ma = gv[ph->start_mom], mb = gv[ph->end_mom];
                    if (s->linear) {
                        lr_v = (b - a) * pct + a;
                        mom = (mb - ma) * pct + ma;
                    } else {
                        double c = cos(PI * pct) + 1;
                        lr_v = b + (a - b) / 2.0 * c;
                        mom = mb + (ma - mb) / 2.0 * c;
                    }
                    break;
                }
                start_step = ph->end_step;
            }
            v[g] = lr_v;
            if (s->cycle_momentum) s->o->groups[g].momentum = mom;
            break;
        }
        default: v[g] = lr; break;
        }
    }
    return TG_OK;
}

/* _get_closed_form_lr(), for the classes that have one; false otherwise. */
static bool closed_form(const tg_sched *s, double *v)
{
    const int64_t e = s->last_epoch;
    for (int g = 0; g < s->n_groups; g++) {
        double base = s->base_lrs[g];
        switch (s->kind) {
        case S_STEP: {
            int64_t q = e / s->step_size; /* e >= 0 here */
            v[g] = base * pow(s->gamma, (double)q);
            break;
        }
        case S_MULTISTEP: {
            int64_t k = 0; /* bisect_right(sorted milestones, e) */
            while (k < s->n_milestones && s->milestones[k] <= e) k++;
            v[g] = base * pow(s->gamma, (double)k);
            break;
        }
        case S_EXP: v[g] = base * pow(s->gamma, (double)e); break;
        case S_COSINE:
            v[g] = s->eta_min +
                   (base - s->eta_min) * (1 + cos(PI * (double)e / (double)s->T_max)) / 2;
            break;
        case S_LINEAR: {
            int64_t m = s->total_iters < e ? s->total_iters : e;
            v[g] = base * (s->start_factor + (s->end_factor - s->start_factor) * (double)m /
                                                 (double)s->total_iters);
            break;
        }
        default: return false;
        }
    }
    return true;
}

/* CosineAnnealingWarmRestarts.step(epoch): the position in the period. */
static void warm_position(tg_sched *s, bool given, int64_t epoch)
{
    if (!given && s->last_epoch < 0) given = true, epoch = 0;
    if (!given) {
        epoch = s->last_epoch + 1;
        if (++s->T_cur >= s->T_i) {
            s->T_cur -= s->T_i;
            s->T_i *= s->T_mult;
        }
    } else if (epoch >= s->T_0) {
        if (s->T_mult == 1) {
            s->T_cur = epoch % s->T_0;
        } else { /* the period that holds epoch: T_0·(T_mult^n − 1)/(T_mult − 1) <= epoch */
            int64_t start = 0, len = s->T_0;
            while (start + len <= epoch) start += len, len *= s->T_mult;
            s->T_cur = epoch - start;
            s->T_i = len;
        }
    } else {
        s->T_i = s->T_0;
        s->T_cur = epoch;
    }
    s->last_epoch = epoch;
}

enum { MAX_STACK_GROUPS = 64 };

/* _LRScheduler.step(epoch): epoch < 0 means none was given. Sets the rates
   only if every rate could be computed. */
static int sched_step(tg_sched *s, int64_t epoch)
{
    double stack[MAX_STACK_GROUPS], *v = stack;
    if (s->n_groups > MAX_STACK_GROUPS) v = s->last_lr; /* overwritten by set_rates anyway */
    if (s->kind == S_WARM) {
        s->step_count++;
        warm_position(s, epoch >= 0, epoch);
        get_lr(s, v);
        set_rates(s, v);
        return TG_OK;
    }
    int64_t saved_epoch = s->last_epoch, saved_count = s->step_count;
    s->step_count++;
    int st = TG_OK;
    if (epoch < 0) {
        s->last_epoch++;
        st = get_lr(s, v);
    } else {
        s->last_epoch = epoch;
        if (!closed_form(s, v)) st = get_lr(s, v);
    }
    if (st != TG_OK) {
        s->last_epoch = saved_epoch;
        s->step_count = saved_count;
        return st;
    }
    set_rates(s, v);
    return TG_OK;
}

/* The base class's constructor: initial_lr, base_lrs, the initial step. */
static tg_sched *sched_start(tg_sched *s)
{
    tg_optim *o = s->o;
    for (int g = 0; g < s->n_groups; g++) {
        if (!o->groups[g].has_initial_lr) {
            o->groups[g].initial_lr = o->groups[g].lr;
            o->groups[g].has_initial_lr = true;
        }
        s->base_lrs[g] = o->groups[g].initial_lr;
    }
    s->last_epoch = -1;
    s->step_count = 0;
    int st = sched_step(s, -1);
    if (st != TG_OK) {
        tg_sched_free(s);
        return NULL;
    }
    return s;
}

/* ---------------------------------------------------------- constructors */

static bool finite_nonneg(double x) { return isfinite(x) && x >= 0; }

tg_sched *tg_sched_step_lr(tg_optim *o, int64_t step_size, double gamma)
{
    const char *fn = "tg_sched_step_lr";
    if (step_size <= 0 || !finite_nonneg(gamma)) {
        tg_set_error(TG_ERR_INVALID, "%s: needs step_size > 0 and a finite gamma >= 0, got %lld "
                     "and %g", fn, (long long)step_size, gamma);
        return NULL;
    }
    tg_sched *s = sched_alloc(fn, o, S_STEP);
    if (!s) return NULL;
    s->step_size = step_size;
    s->gamma = gamma;
    return sched_start(s);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A copy of milestones[0..n) (sorted if asked), or NULL with the error set. */
static int64_t *copy_milestones(const char *fn, int n, const int64_t *m, bool sort)
{
    int64_t *c = malloc((size_t)(n > 0 ? n : 1) * sizeof *c);
    if (!c) {
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    if (n > 0) memcpy(c, m, (size_t)n * sizeof *c);
    if (sort && n > 1) qsort(c, (size_t)n, sizeof *c, cmp_i64);
    return c;
}

tg_sched *tg_sched_multistep_lr(tg_optim *o, int n, const int64_t *milestones, double gamma)
{
    const char *fn = "tg_sched_multistep_lr";
    if (n < 0 || (n > 0 && !milestones) || !finite_nonneg(gamma)) {
        tg_set_error(TG_ERR_INVALID, "%s: needs n >= 0 milestones and a finite gamma >= 0", fn);
        return NULL;
    }
    tg_sched *s = sched_alloc(fn, o, S_MULTISTEP);
    if (!s) return NULL;
    if (!(s->milestones = copy_milestones(fn, n, milestones, true))) {
        tg_sched_free(s);
        return NULL;
    }
    s->n_milestones = n;
    s->gamma = gamma;
    return sched_start(s);
}

tg_sched *tg_sched_exponential_lr(tg_optim *o, double gamma)
{
    const char *fn = "tg_sched_exponential_lr";
    if (!finite_nonneg(gamma)) {
        tg_set_error(TG_ERR_INVALID, "%s: needs a finite gamma >= 0, got %g", fn, gamma);
        return NULL;
    }
    tg_sched *s = sched_alloc(fn, o, S_EXP);
    if (!s) return NULL;
    s->gamma = gamma;
    return sched_start(s);
}

tg_sched *tg_sched_cosine_lr(tg_optim *o, int64_t T_max, double eta_min)
{
    const char *fn = "tg_sched_cosine_lr";
    if (T_max <= 0 || T_max > ((int64_t)1 << 52) || !finite_nonneg(eta_min)) {
        tg_set_error(TG_ERR_INVALID, "%s: needs T_max in [1, 2^52] and a finite eta_min >= 0, "
                     "got %lld and %g", fn, (long long)T_max, eta_min);
        return NULL;
    }
    tg_sched *s = sched_alloc(fn, o, S_COSINE);
    if (!s) return NULL;
    s->T_max = T_max;
    s->eta_min = eta_min;
    return sched_start(s);
}

tg_sched *tg_sched_cosine_warm_restarts(tg_optim *o, int64_t T_0, int64_t T_mult, double eta_min)
{
    const char *fn = "tg_sched_cosine_warm_restarts";
    if (T_0 <= 0 || T_mult < 1 || T_0 > ((int64_t)1 << 40) || T_mult > ((int64_t)1 << 20) ||
        !finite_nonneg(eta_min)) {
        tg_set_error(TG_ERR_INVALID, "%s: needs T_0 in [1, 2^40], T_mult in [1, 2^20] and a "
                     "finite eta_min >= 0, got %lld, %lld and %g", fn, (long long)T_0,
                     (long long)T_mult, eta_min);
        return NULL;
    }
    tg_sched *s = sched_alloc(fn, o, S_WARM);
    if (!s) return NULL;
    s->T_0 = s->T_i = T_0;
    s->T_mult = T_mult;
    s->eta_min = eta_min;
    s->T_cur = -1;
    return sched_start(s);
}

tg_sched *tg_sched_linear_lr(tg_optim *o, double start_factor, double end_factor,
                             int64_t total_iters)
{
    const char *fn = "tg_sched_linear_lr";
    if (!(start_factor > 0 && start_factor <= 1) || !(end_factor >= 0 && end_factor <= 1) ||
        total_iters <= 0) {
        tg_set_error(TG_ERR_INVALID, "%s: needs start_factor in (0, 1], end_factor in [0, 1] and "
                     "total_iters > 0, got %g, %g and %lld", fn, start_factor, end_factor,
                     (long long)total_iters);
        return NULL;
    }
    tg_sched *s = sched_alloc(fn, o, S_LINEAR);
    if (!s) return NULL;
    s->start_factor = start_factor;
    s->end_factor = end_factor;
    s->total_iters = total_iters;
    return sched_start(s);
}

tg_one_cycle_opts tg_one_cycle_defaults(double max_lr, int64_t total_steps)
{
    return (tg_one_cycle_opts){.max_lr = max_lr, .max_lrs = NULL, .total_steps = total_steps,
                               .pct_start = 0.3, .anneal_linear = false, .cycle_momentum = true,
                               .base_momentum = 0.85, .max_momentum = 0.95, .div_factor = 25.,
                               .final_div_factor = 1e4, .three_phase = false};
}

tg_sched *tg_sched_one_cycle(tg_optim *o, const tg_one_cycle_opts *opts)
{
    const char *fn = "tg_sched_one_cycle";
    if (!opts) {
        tg_set_error(TG_ERR_INVALID, "%s: opts is NULL (start from tg_one_cycle_defaults)", fn);
        return NULL;
    }
    const tg_one_cycle_opts *c = opts;
    if (c->total_steps <= 0 || c->total_steps > ((int64_t)1 << 52) ||
        !(c->pct_start >= 0 && c->pct_start <= 1) || !(c->div_factor > 0) ||
        !isfinite(c->div_factor) || !(c->final_div_factor > 0) || !isfinite(c->final_div_factor)) {
        tg_set_error(TG_ERR_INVALID, "%s: needs total_steps in [1, 2^52], pct_start in [0, 1] and "
                     "finite div_factor, final_div_factor > 0", fn);
        return NULL;
    }
    if (o && c->cycle_momentum && !tg_optim_has_momentum(o)) {
        tg_set_error(TG_ERR_INVALID, "%s: %s has no momentum to cycle: set cycle_momentum to "
                     "false", fn, tg_optim_name(o));
        return NULL;
    }
    tg_sched *s = sched_alloc(fn, o, S_ONECYCLE);
    if (!s) return NULL;
    s->oc = calloc((size_t)s->n_groups * OC_VALS, sizeof *s->oc);
    if (!s->oc) {
        tg_sched_free(s);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    for (int g = 0; g < s->n_groups; g++) {
        double mx = c->max_lrs ? c->max_lrs[g] : c->max_lr;
        if (!finite_nonneg(mx) ||
            (c->cycle_momentum && (!finite_nonneg(c->base_momentum) ||
                                   !finite_nonneg(c->max_momentum) ||
                                   ((o->kind == OPT_ADAM || o->kind == OPT_ADAMW) &&
                                    (c->base_momentum >= 1 || c->max_momentum >= 1))))) {
            tg_set_error(TG_ERR_INVALID, "%s: group %d: needs a finite max_lr >= 0 (got %g) and "
                         "momenta >= 0 (below 1 for Adam's beta1)", fn, g, mx);
            tg_sched_free(s);
            return NULL;
        }
    }
    const double T = (double)c->total_steps, pct = c->pct_start;
    s->total_steps = c->total_steps;
    s->linear = c->anneal_linear;
    s->cycle_momentum = c->cycle_momentum;
    if (c->three_phase) {
        s->n_phases = 3;
        s->phases[0] = (oc_phase){pct * T - 1, OC_INITIAL, OC_MAX, OC_MAX_MOM, OC_BASE_MOM};
        s->phases[1] = (oc_phase){2 * pct * T - 2, OC_MAX, OC_INITIAL, OC_BASE_MOM, OC_MAX_MOM};
        s->phases[2] = (oc_phase){T - 1, OC_INITIAL, OC_MIN, OC_MAX_MOM, OC_MAX_MOM};
    } else {
        s->n_phases = 2;
        s->phases[0] = (oc_phase){pct * T - 1, OC_INITIAL, OC_MAX, OC_MAX_MOM, OC_BASE_MOM};
        s->phases[1] = (oc_phase){T - 1, OC_MAX, OC_MIN, OC_BASE_MOM, OC_MAX_MOM};
    }
    /* the momentum first (the one step that can fail: a buffer to make) */
    for (int g = 0; c->cycle_momentum && g < s->n_groups; g++)
        if (tg_optim_set_group_momentum(o, g, c->max_momentum) != TG_OK) {
            tg_sched_free(s);
            return NULL;
        }
    for (int g = 0; g < s->n_groups; g++) {
        double *gv = s->oc + (size_t)g * OC_VALS;
        double mx = c->max_lrs ? c->max_lrs[g] : c->max_lr;
        gv[OC_INITIAL] = mx / c->div_factor;
        gv[OC_MAX] = mx;
        gv[OC_MIN] = gv[OC_INITIAL] / c->final_div_factor;
        gv[OC_MAX_MOM] = c->max_momentum;
        gv[OC_BASE_MOM] = c->base_momentum;
        o->groups[g].initial_lr = gv[OC_INITIAL]; /* always, unlike the other classes */
        o->groups[g].has_initial_lr = true;
    }
    return sched_start(s);
}

tg_plateau_opts tg_plateau_defaults(void)
{
    return (tg_plateau_opts){.mode_max = false, .factor = 0.1, .patience = 10, .threshold = 1e-4,
                             .threshold_abs = false, .cooldown = 0, .min_lr = 0, .min_lrs = NULL,
                             .eps = 1e-8};
}

tg_sched *tg_sched_plateau(tg_optim *o, const tg_plateau_opts *opts)
{
    const char *fn = "tg_sched_plateau";
    tg_plateau_opts p = opts ? *opts : tg_plateau_defaults();
    if (!(p.factor >= 0 && p.factor < 1) || p.patience < 0 || p.cooldown < 0 ||
        !isfinite(p.threshold) || !finite_nonneg(p.eps)) {
        tg_set_error(TG_ERR_INVALID, "%s: needs factor in [0, 1), patience and cooldown >= 0, "
                     "a finite threshold and eps >= 0", fn);
        return NULL;
    }
    tg_sched *s = sched_alloc(fn, o, S_PLATEAU);
    if (!s) return NULL;
    s->min_lrs = calloc((size_t)s->n_groups, sizeof *s->min_lrs);
    if (!s->min_lrs) {
        tg_sched_free(s);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    for (int g = 0; g < s->n_groups; g++) {
        s->min_lrs[g] = p.min_lrs ? p.min_lrs[g] : p.min_lr;
        if (!finite_nonneg(s->min_lrs[g])) {
            tg_set_error(TG_ERR_INVALID, "%s: group %d: invalid min_lr %g", fn, g, s->min_lrs[g]);
            tg_sched_free(s);
            return NULL;
        }
        s->last_lr[g] = o->groups[g].lr;
    }
    p.min_lrs = NULL; /* (the caller's array is not kept) */
    s->pl = p;
    s->best = p.mode_max ? -INFINITY : INFINITY;
    return s;
}

/* ReduceLROnPlateau.is_better. */
static bool is_better(const tg_sched *s, double a)
{
    const tg_plateau_opts *p = &s->pl;
    if (!p->mode_max)
        return p->threshold_abs ? a < s->best - p->threshold : a < s->best * (1. - p->threshold);
    return p->threshold_abs ? a > s->best + p->threshold : a > s->best * (p->threshold + 1.);
}

int tg_sched_step_metric(tg_sched *s, double metric)
{
    const char *fn = "tg_sched_step_metric";
    if (!s) return tg_set_error(TG_ERR_INVALID, "%s: the scheduler is NULL", fn);
    if (s->kind != S_PLATEAU)
        return tg_set_error(TG_ERR_INVALID, "%s: %s takes no metric: use tg_sched_step", fn,
                            sched_names[s->kind]);
    if (s->o->n_groups != s->n_groups)
        return tg_set_error(TG_ERR_STATE, "%s: the optimizer's groups changed", fn);
    s->last_epoch++;
    if (is_better(s, metric)) {
        s->best = metric;
        s->num_bad = 0;
    } else {
        s->num_bad++;
    }
    if (s->cooldown_counter > 0) {
        s->cooldown_counter--;
        s->num_bad = 0; /* bad steps in the cooldown do not count */
    }
    if (s->num_bad > s->pl.patience) {
        for (int g = 0; g < s->n_groups; g++) {
            double old = s->o->groups[g].lr;
            double cut = old * s->pl.factor, lo = s->min_lrs[g];
            double nw = cut > lo ? cut : lo; /* max(old·factor, min_lr) */
            if (old - nw > s->pl.eps) s->o->groups[g].lr = nw;
        }
        s->cooldown_counter = s->pl.cooldown;
        s->num_bad = 0;
    }
    for (int g = 0; g < s->n_groups; g++) s->last_lr[g] = s->o->groups[g].lr;
    return TG_OK;
}

/* Checks the schedulers that a SequentialLR or ChainedScheduler takes. */
static int check_subs(const char *fn, tg_optim *o, int n, tg_sched *const *scheds,
                      bool sequential)
{
    if (n < 1) return tg_set_error(TG_ERR_INVALID, "%s: needs 1 or more schedulers, got %d", fn, n);
    if (!scheds) return tg_set_error(TG_ERR_INVALID, "%s: the array of schedulers is NULL", fn);
    for (int i = 0; i < n; i++) {
        if (!scheds[i]) return tg_set_error(TG_ERR_INVALID, "%s: scheduler %d is NULL", fn, i);
        if (scheds[i]->o != o)
            return tg_set_error(TG_ERR_INVALID, "%s: scheduler %d is over another optimizer", fn,
                                i);
        if (sequential && (scheds[i]->kind == S_SEQ || scheds[i]->kind == S_CHAIN))
            return tg_set_error(TG_ERR_INVALID, "%s: scheduler %d is a %s (put it outside)", fn,
                                i, sched_names[scheds[i]->kind]);
        if (scheds[i]->kind == S_PLATEAU)
            return tg_set_error(TG_ERR_INVALID, "%s: scheduler %d is a ReduceLROnPlateau, which "
                                "steps on a metric", fn, i);
        if (scheds[i]->owner)
            return tg_set_error(TG_ERR_INVALID, "%s: scheduler %d (%s) already belongs to a %s, "
                                "which frees it", fn, i, sched_names[scheds[i]->kind],
                                sched_names[scheds[i]->owner->kind]);
        for (int j = 0; j < i; j++)
            if (scheds[j] == scheds[i])
                return tg_set_error(TG_ERR_INVALID, "%s: scheduler %d is given twice", fn, i);
    }
    return TG_OK;
}

static tg_sched *take_subs(const char *fn, tg_sched *s, int n, tg_sched *const *scheds)
{
    s->sub = malloc((size_t)n * sizeof *s->sub);
    if (!s->sub) {
        tg_sched_free(s);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    memcpy(s->sub, scheds, (size_t)n * sizeof *s->sub);
    s->n_sub = n;
    for (int i = 0; i < n; i++) s->sub[i]->owner = s;
    return s;
}

tg_sched *tg_sched_sequential(tg_optim *o, int n, tg_sched *const *scheds,
                              const int64_t *milestones)
{
    const char *fn = "tg_sched_sequential";
    if (check_subs(fn, o, n, scheds, true) != TG_OK) return NULL;
    if (n > 1 && !milestones) {
        tg_set_error(TG_ERR_INVALID, "%s: %d schedulers need %d milestones", fn, n, n - 1);
        return NULL;
    }
    tg_sched *s = sched_alloc(fn, o, S_SEQ);
    if (!s) return NULL;
    if (!(s->milestones = copy_milestones(fn, n - 1, milestones, false))) {
        tg_sched_free(s);
        return NULL;
    }
    s->n_milestones = n - 1;
    if (!take_subs(fn, s, n, scheds)) return NULL;
    /* PyTorch's constructor: the rates back to their initial values, every
       scheduler's initial step undone, the first's made again */
    s->last_epoch = 0;
    for (int g = 0; g < s->n_groups; g++) o->groups[g].lr = o->groups[g].initial_lr;
    for (int i = 0; i < n; i++) s->sub[i]->last_epoch--;
    s->sub[0]->step_count = 0;
    sched_step(s->sub[0], -1); /* cannot fail: OneCycleLR at its step 0 */
    for (int g = 0; g < s->n_groups; g++) s->last_lr[g] = s->sub[0]->last_lr[g];
    return s;
}

tg_sched *tg_sched_chained(int n, tg_sched *const *scheds)
{
    const char *fn = "tg_sched_chained";
    tg_optim *o = n >= 1 && scheds && scheds[0] ? scheds[0]->o : NULL;
    if (check_subs(fn, o, n, scheds, false) != TG_OK) return NULL;
    tg_sched *s = sched_alloc(fn, o, S_CHAIN);
    if (!s || !take_subs(fn, s, n, scheds)) return NULL;
    for (int g = 0; g < s->n_groups; g++) s->last_lr[g] = o->groups[g].lr;
    return s;
}

/* ------------------------------------------------------------------ step */

/* Whether s, and those it holds, can step without failing. */
static int can_step(const tg_sched *s, const char *fn)
{
    if (s->o->n_groups != s->n_groups)
        return tg_set_error(TG_ERR_STATE, "%s: the optimizer has %d groups, %d when the %s was "
                            "made", fn, s->o->n_groups, s->n_groups, sched_names[s->kind]);
    if (s->kind == S_PLATEAU)
        return tg_set_error(TG_ERR_STATE, "%s: ReduceLROnPlateau steps on a metric: use "
                            "tg_sched_step_metric", fn);
    if (s->kind == S_ONECYCLE && s->last_epoch + 1 > s->total_steps)
        return tg_set_error(TG_ERR_STATE, "%s: OneCycleLR stepped %lld times, past its "
                            "total_steps of %lld", fn, (long long)(s->last_epoch + 2),
                            (long long)s->total_steps);
    for (int i = 0; i < s->n_sub; i++) {
        int st = can_step(s->sub[i], fn);
        if (st != TG_OK) return st;
    }
    return TG_OK;
}

int tg_sched_step(tg_sched *s)
{
    const char *fn = "tg_sched_step";
    if (!s) return tg_set_error(TG_ERR_INVALID, "%s: the scheduler is NULL", fn);
    int st = can_step(s, fn);
    if (st != TG_OK) return st;
    if (s->kind == S_SEQ) {
        s->last_epoch++;
        int idx = 0; /* bisect_right(milestones, last_epoch) */
        while (idx < s->n_milestones && s->milestones[idx] <= s->last_epoch) idx++;
        tg_sched *sub = s->sub[idx];
        bool restart = idx > 0 && s->milestones[idx - 1] == s->last_epoch;
        sched_step(sub, restart ? 0 : -1);
        for (int g = 0; g < s->n_groups; g++) s->last_lr[g] = sub->last_lr[g];
        return TG_OK;
    }
    if (s->kind == S_CHAIN) {
        for (int i = 0; i < s->n_sub; i++) tg_sched_step(s->sub[i]);
        for (int g = 0; g < s->n_groups; g++) s->last_lr[g] = s->o->groups[g].lr;
        return TG_OK;
    }
    return sched_step(s, -1);
}

double tg_sched_get_last_lr(const tg_sched *s, int g)
{
    return s && g >= 0 && g < s->n_groups ? s->last_lr[g] : 0;
}

int64_t tg_sched_last_epoch(const tg_sched *s)
{
    if (!s) return 0;
    return s->kind == S_CHAIN ? tg_sched_last_epoch(s->sub[s->n_sub - 1]) : s->last_epoch;
}

const char *tg_sched_name(const tg_sched *s) { return s ? sched_names[s->kind] : ""; }

/* ------------------------------------------------------------ checkpoints */

tg_optim *tg_sched_optim(const tg_sched *s) { return s->o; }
int tg_sched_n_sub(const tg_sched *s) { return s ? s->n_sub : 0; }
tg_sched *tg_sched_sub(const tg_sched *s, int i) { return s->sub[i]; }

/* What makes a scheduler the one it is (its kind and options), then its
   counters and rates. */
void tg_sched_write(const tg_sched *s, tg_kv *b)
{
    const size_t G = (size_t)s->n_groups;
    tg_kv_str(b, "kind", sched_names[s->kind]);
    tg_kv_int(b, "groups", s->n_groups);
    tg_kv_int(b, "step_size", s->step_size);
    tg_kv_num(b, "gamma", s->gamma);
    tg_kv_int(b, "n_milestones", s->n_milestones);
    tg_kv_ints(b, "milestones", s->milestones, (size_t)s->n_milestones);
    tg_kv_int(b, "T_max", s->T_max);
    tg_kv_int(b, "T_0", s->T_0);
    tg_kv_int(b, "T_mult", s->T_mult);
    tg_kv_num(b, "eta_min", s->eta_min);
    tg_kv_num(b, "start_factor", s->start_factor);
    tg_kv_num(b, "end_factor", s->end_factor);
    tg_kv_int(b, "total_iters", s->total_iters);
    tg_kv_int(b, "total_steps", s->total_steps);
    tg_kv_int(b, "n_phases", s->n_phases);
    for (int i = 0; i < s->n_phases; i++) {
        char key[16];
        snprintf(key, sizeof key, "phase%d", i);
        tg_kv_num(b, key, s->phases[i].end_step);
    }
    tg_kv_int(b, "linear", s->linear);
    tg_kv_int(b, "cycle_momentum", s->cycle_momentum);
    if (s->oc) tg_kv_nums(b, "oc", s->oc, G * OC_VALS);
    if (s->kind == S_PLATEAU) {
        tg_kv_nums(b, "plateau", (const double[]){s->pl.mode_max, s->pl.factor,
                                                  (double)s->pl.patience, s->pl.threshold,
                                                  s->pl.threshold_abs, (double)s->pl.cooldown,
                                                  s->pl.eps}, 7);
        tg_kv_nums(b, "min_lrs", s->min_lrs, G);
    }
    tg_kv_int(b, "n_sub", s->n_sub);
    /* the state */
    tg_kv_int(b, "last_epoch", s->last_epoch);
    tg_kv_int(b, "step_count", s->step_count);
    tg_kv_int(b, "T_i", s->T_i);
    tg_kv_int(b, "T_cur", s->T_cur);
    tg_kv_nums(b, "base_lrs", s->base_lrs, G);
    tg_kv_nums(b, "last_lr", s->last_lr, G);
    tg_kv_num(b, "best", s->best);
    tg_kv_int(b, "num_bad", s->num_bad);
    tg_kv_int(b, "cooldown_counter", s->cooldown_counter);
}

tg_sched *tg_sched_read(const char *who, const tg_sched *live, const char *str)
{
    tg_kv mine = {0};
    tg_sched_write(live, &mine);
    if (mine.oom) {
        free(mine.s);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
        return NULL;
    }
    /* every field but the state must be the same, word for word */
    static const char *const options[] = {
        "kind", "groups", "step_size", "gamma", "n_milestones", "milestones", "T_max", "T_0",
        "T_mult", "eta_min", "start_factor", "end_factor", "total_iters", "total_steps",
        "n_phases", "phase0", "phase1", "phase2", "linear", "cycle_momentum", "oc", "plateau",
        "min_lrs", "n_sub"};
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        const char *a, *c;
        size_t na, nc;
        bool ha = tg_kv_value(mine.s, options[i], &a, &na);
        bool hc = tg_kv_value(str, options[i], &c, &nc);
        if (ha != hc || (ha && (na != nc || memcmp(a, c, na) != 0))) {
            char kind[40] = "?";
            tg_kv_get_str(str, "kind", kind, sizeof kind);
            tg_set_error(TG_ERR_FORMAT, "%s: the file's scheduler is a %s with %s = %.*s, this "
                         "one a %s with %s = %.*s", who, kind, options[i], hc ? (int)(nc < 80 ? nc : 80) : 6,
                         hc ? c : "(none)", sched_names[live->kind], options[i],
                         ha ? (int)(na < 80 ? na : 80) : 6, ha ? a : "(none)");
            free(mine.s);
            return NULL;
        }
    }
    free(mine.s);
    tg_sched *t = sched_alloc(who, live->o, live->kind);
    if (!t) return NULL;
    const size_t G = (size_t)live->n_groups;
    bool ok = tg_kv_get_int(str, "last_epoch", &t->last_epoch) &&
              tg_kv_get_int(str, "step_count", &t->step_count) &&
              tg_kv_get_int(str, "T_i", &t->T_i) && tg_kv_get_int(str, "T_cur", &t->T_cur) &&
              tg_kv_get_nums(str, "base_lrs", t->base_lrs, G) &&
              tg_kv_get_nums(str, "last_lr", t->last_lr, G) &&
              tg_kv_get_num(str, "best", &t->best) && tg_kv_get_int(str, "num_bad", &t->num_bad) &&
              tg_kv_get_int(str, "cooldown_counter", &t->cooldown_counter);
    if (ok && live->kind == S_WARM) ok = t->T_i >= 1 && t->T_cur >= -1 && t->T_cur < t->T_i;
    if (ok) ok = t->last_epoch >= -1 && t->step_count >= 0;
    if (!ok) {
        tg_set_error(TG_ERR_FORMAT, "%s: the file's %s state is malformed", who,
                     sched_names[live->kind]);
        tg_sched_free(t);
        return NULL;
    }
    return t;
}

void tg_sched_commit(tg_sched *live, const tg_sched *from)
{
    live->last_epoch = from->last_epoch;
    live->step_count = from->step_count;
    live->T_i = from->T_i;
    live->T_cur = from->T_cur;
    live->best = from->best;
    live->num_bad = from->num_bad;
    live->cooldown_counter = from->cooldown_counter;
    memcpy(live->base_lrs, from->base_lrs, (size_t)live->n_groups * sizeof *live->base_lrs);
    memcpy(live->last_lr, from->last_lr, (size_t)live->n_groups * sizeof *live->last_lr);
}
