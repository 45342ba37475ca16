/* Reader of the golden files written by tests/gen_golden_train.py (header
   only: each test executable that includes it gets its own copy).

   Format, one item per line:
     group <name>                      a case or a run
     attr <key> <value...>             the rest of the line
     tensor <name> <ndim> <dims...>    values on the next line (repr: exact)
     u64 <name> <n>                    unsigned 64-bit integers on the next line
     end
   A missing file, a parse error or a missing item makes the calling test fail
   through cr_assert (the tests cannot pass on absent data). */
#ifndef TG_TEST_GOLDEN_TRAIN_H
#define TG_TEST_GOLDEN_TRAIN_H

#include <criterion/criterion.h>
#include <tapegrad.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gtr_item {
    char name[64];
    bool is_u64;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    int64_t n;
    double *v;    /* tensor values */
    uint64_t *u;  /* u64 values */
} gtr_item;

typedef struct gtr_group {
    char name[96];
    int n_attr, n_items;
    char attr_key[32][32];
    char attr_val[32][96];
    gtr_item items[64];
} gtr_group;

typedef struct gtr_file {
    int n;
    gtr_group *groups;
} gtr_file;

static inline void gtr_free(gtr_file *f)
{
    if (!f) return;
    for (int g = 0; g < f->n; g++)
        for (int i = 0; i < f->groups[g].n_items; i++) {
            free(f->groups[g].items[i].v);
            free(f->groups[g].items[i].u);
        }
    free(f->groups);
    free(f);
}

/* Reads one line of any length into *buf (grown as needed). */
static inline bool gtr_line(FILE *fp, char **buf, size_t *cap)
{
    size_t len = 0;
    int c;
    while ((c = fgetc(fp)) != EOF && c != '\n') {
        if (len + 2 > *cap) {
            *cap = *cap ? *cap * 2 : 4096;
            *buf = realloc(*buf, *cap);
            if (!*buf) return false;
        }
        (*buf)[len++] = (char)c;
    }
    if (c == EOF && len == 0) return false;
    if (!*buf) {
        *cap = 16;
        *buf = malloc(*cap);
        if (!*buf) return false;
    }
    (*buf)[len] = '\0';
    return true;
}

/* TG_TEST_DATA_DIR/<file> (a full name: "train_rng.txt"). */
static inline gtr_file *gtr_load(const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", TG_TEST_DATA_DIR, file);
    FILE *fp = fopen(path, "r");
    cr_assert(fp != NULL, "golden file %s cannot be opened (run tests/gen_golden_train.py)", path);
    gtr_file *f = calloc(1, sizeof *f);
    int cap = 0, lineno = 0;
    gtr_group *g = NULL;
    char *line = NULL, *vals = NULL;
    size_t lcap = 0, vcap = 0;
    bool ok = f != NULL;
    while (ok && gtr_line(fp, &line, &lcap)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\0') continue;
        if (strncmp(line, "group ", 6) == 0) {
            if (f->n == cap) {
                cap = cap ? cap * 2 : 16;
                gtr_group *ng = realloc(f->groups, (size_t)cap * sizeof *ng);
                if (!ng) {
                    ok = false;
                    break;
                }
                f->groups = ng;
            }
            g = &f->groups[f->n++];
            memset(g, 0, sizeof *g);
            ok = sscanf(line + 6, "%95s", g->name) == 1;
        } else if (!g) {
            ok = false;
        } else if (strncmp(line, "attr ", 5) == 0) {
            int used = 0;
            ok = g->n_attr < 32 && sscanf(line + 5, "%31s %n", g->attr_key[g->n_attr], &used) == 1;
            if (ok) {
                snprintf(g->attr_val[g->n_attr], sizeof g->attr_val[0], "%s", line + 5 + used);
                g->n_attr++;
            }
        } else if (strncmp(line, "tensor ", 7) == 0 || strncmp(line, "u64 ", 4) == 0) {
            ok = g->n_items < 64;
            if (!ok) break;
            gtr_item *it = &g->items[g->n_items++];
            memset(it, 0, sizeof *it);
            it->is_u64 = line[0] == 'u';
            char *s = line + (it->is_u64 ? 4 : 7), *end;
            int used = 0;
            ok = sscanf(s, "%63s %n", it->name, &used) == 1;
            s += used;
            if (it->is_u64) {
                it->ndim = 1;
                it->n = it->shape[0] = strtoll(s, &end, 10);
            } else {
                it->ndim = (int)strtol(s, &end, 10);
                it->n = 1;
                for (int d = 0; ok && d < it->ndim && d < TG_MAX_DIMS; d++) {
                    s = end;
                    it->shape[d] = strtoll(s, &end, 10);
                    it->n *= it->shape[d];
                }
            }
            ok = ok && it->ndim >= 0 && it->ndim <= TG_MAX_DIMS && it->n >= 0 &&
                 gtr_line(fp, &vals, &vcap);
            lineno++;
            if (!ok) break;
            size_t bytes = (size_t)(it->n ? it->n : 1) * 8;
            if (it->is_u64)
                it->u = malloc(bytes);
            else
                it->v = malloc(bytes);
            ok = it->u || it->v;
            s = vals;
            for (int64_t i = 0; ok && i < it->n; i++) {
                if (it->is_u64)
                    it->u[i] = strtoull(s, &end, 10);
                else
                    it->v[i] = strtod(s, &end);
                ok = end != s;
                s = end;
            }
        } else if (strcmp(line, "end") == 0) {
            g = NULL;
        } else {
            ok = false;
        }
    }
    free(line);
    free(vals);
    fclose(fp);
    if (!ok) {
        gtr_free(f);
        cr_assert(false, "golden file %s: cannot parse line %d", path, lineno);
    }
    return f;
}

static inline const gtr_group *gtr_find_group(const gtr_file *f, const char *name)
{
    for (int g = 0; f && g < f->n; g++)
        if (strcmp(f->groups[g].name, name) == 0) return &f->groups[g];
    cr_assert(false, "golden group '%s' is missing", name);
    return NULL;
}

/* The item of that name, or NULL (for items a case may leave out). */
static inline const gtr_item *gtr_find_item(const gtr_group *g, const char *name)
{
    for (int i = 0; g && i < g->n_items; i++)
        if (strcmp(g->items[i].name, name) == 0) return &g->items[i];
    return NULL;
}

static inline const gtr_item *gtr_item_of(const gtr_group *g, const char *name)
{
    const gtr_item *it = gtr_find_item(g, name);
    cr_assert(it, "golden item '%s' is missing from group '%s'", name, g ? g->name : "?");
    return it;
}

static inline bool gtr_has_attr(const gtr_group *g, const char *key)
{
    for (int i = 0; i < g->n_attr; i++)
        if (strcmp(g->attr_key[i], key) == 0) return true;
    return false;
}

static inline const char *gtr_attr_str(const gtr_group *g, const char *key)
{
    for (int i = 0; i < g->n_attr; i++)
        if (strcmp(g->attr_key[i], key) == 0) return g->attr_val[i];
    cr_assert(false, "golden attr '%s' is missing from group '%s'", key, g->name);
    return "";
}

static inline double gtr_attr(const gtr_group *g, const char *key)
{
    return strtod(gtr_attr_str(g, key), NULL);
}

/* The optimizer a golden group describes: kind sgd|adam|adamw|rmsprop|adagrad and its
   torch.optim options (maximize only where the group has it). */
static inline tg_optim *gtr_optim(tg_params *p, const gtr_group *g)
{
    const char *kind = gtr_attr_str(g, "kind");
    bool maximize = gtr_has_attr(g, "maximize") && gtr_attr(g, "maximize") != 0;
    if (strcmp(kind, "sgd") == 0) {
        tg_sgd_opts o = tg_sgd_defaults(gtr_attr(g, "lr"));
        o.momentum = gtr_attr(g, "momentum");
        o.dampening = gtr_attr(g, "dampening");
        o.weight_decay = gtr_attr(g, "weight_decay");
        o.nesterov = gtr_attr(g, "nesterov") != 0;
        o.maximize = maximize;
        return tg_sgd_new(p, &o);
    }
    if (strcmp(kind, "rmsprop") == 0) {
        tg_rmsprop_opts o = tg_rmsprop_defaults(gtr_attr(g, "lr"));
        o.alpha = gtr_attr(g, "alpha");
        o.eps = gtr_attr(g, "eps");
        o.weight_decay = gtr_attr(g, "weight_decay");
        o.momentum = gtr_attr(g, "momentum");
        o.centered = gtr_attr(g, "centered") != 0;
        o.maximize = maximize;
        return tg_rmsprop_new(p, &o);
    }
    if (strcmp(kind, "adagrad") == 0) {
        tg_adagrad_opts o = tg_adagrad_defaults(gtr_attr(g, "lr"));
        o.lr_decay = gtr_attr(g, "lr_decay");
        o.weight_decay = gtr_attr(g, "weight_decay");
        o.initial_accumulator_value = gtr_attr(g, "initial_accumulator_value");
        o.eps = gtr_attr(g, "eps");
        o.maximize = maximize;
        return tg_adagrad_new(p, &o);
    }
    bool w = strcmp(kind, "adamw") == 0;
    tg_adam_opts o = w ? tg_adamw_defaults(gtr_attr(g, "lr")) : tg_adam_defaults(gtr_attr(g, "lr"));
    o.beta1 = gtr_attr(g, "beta1");
    o.beta2 = gtr_attr(g, "beta2");
    o.eps = gtr_attr(g, "eps");
    o.weight_decay = gtr_attr(g, "weight_decay");
    o.amsgrad = gtr_attr(g, "amsgrad") != 0;
    o.maximize = maximize;
    return w ? tg_adamw_new(p, &o) : tg_adam_new(p, &o);
}

/* ------------------------------------------------ golden optimizer cases */

#include "golden.h"

static inline void gtr_set_values(tg_real *dst, const gtr_item *src)
{
    for (int64_t i = 0; i < src->n; i++) dst[i] = (tg_real)src->v[i];
}

/* Runs one golden optimizer case: p0 [3,4] and p1 [5], `steps` steps of its
   optimizer with the gradients g<s>_<k>, where a missing one means that
   gradient is NULL (released: the step skips the parameter); p0 in a group
   of its own when the case has group0_lr or group0_weight_decay. After each
   step the parameters must be PyTorch's, and so must each parameter's step
   count where the case gives state['step'] (steps<s>). Returns the number
   of parameter steps skipped. */
static inline int gtr_run_optim_case(const gtr_group *g)
{
    tg_params *p = tg_params_new();
    tg_tensor *x[2] = {tg_params_add(p, "p0", TG_SHAPE(3, 4)), tg_params_add(p, "p1", TG_SHAPE(5))};
    tg_real *grad[2] = {x[0]->grad, x[1]->grad};
    gtr_set_values(x[0]->data, gtr_item_of(g, "p0"));
    gtr_set_values(x[1]->data, gtr_item_of(g, "p1"));
    tg_optim *o = gtr_optim(p, g);
    cr_assert_not_null(o, "%s: %s", g->name, tg_last_error());
    if (gtr_has_attr(g, "group0_lr") || gtr_has_attr(g, "group0_weight_decay")) {
        tg_param_group pg = tg_param_group_new();
        pg.names = (const char *const[]){"p0"};
        pg.n_names = 1;
        if (gtr_has_attr(g, "group0_lr")) pg.lr = gtr_attr(g, "group0_lr");
        if (gtr_has_attr(g, "group0_weight_decay"))
            pg.weight_decay = gtr_attr(g, "group0_weight_decay");
        cr_assert_eq(tg_optim_set_groups(o, 1, &pg), TG_OK, "%s", tg_last_error());
        cr_assert_eq(tg_optim_num_groups(o), 2);
        cr_expect(tg_optim_param_group(o, 0) == 0 && tg_optim_param_group(o, 1) == 1);
    }
    int steps = (int)gtr_attr(g, "steps"), skips = 0;
    for (int s = 0; s < steps; s++) {
        char name[32], what[160];
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "g%d_%d", s, k);
            const gtr_item *gr = gtr_find_item(g, name);
            x[k]->grad = gr ? grad[k] : NULL; /* as tg_params_release_grad leaves it */
            if (gr) gtr_set_values(x[k]->grad, gr);
            else skips++;
        }
        cr_assert_eq(tg_optim_step(o), TG_OK, "%s: %s", g->name, tg_last_error());
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "p%d_%d", s, k);
            snprintf(what, sizeof what, "%s step %d param %d", g->name, s + 1, k);
            gt_expect_close(x[k]->data, gtr_item_of(g, name)->v, x[k]->size, gt_default_tol(),
                            what);
        }
        snprintf(name, sizeof name, "steps%d", s);
        const gtr_item *counts = gtr_find_item(g, name);
        for (int k = 0; counts && k < 2; k++)
            cr_expect_eq(tg_optim_param_steps(o, (size_t)k), (int64_t)counts->v[k],
                         "%s step %d: param %d has %lld steps, PyTorch %g", g->name, s + 1, k,
                         (long long)tg_optim_param_steps(o, (size_t)k), counts->v[k]);
    }
    cr_expect_eq(tg_optim_steps(o), steps);
    x[0]->grad = grad[0];
    x[1]->grad = grad[1];
    tg_optim_free(o);
    tg_params_free(p);
    return skips;
}

/* Runs every golden case of `file` (its _f32.txt or _f64.txt, as the build's
   tg_real) whose group name starts with prefix; returns how many, and adds
   their skipped parameter steps to *skips. */
static inline int gtr_run_optim_cases(const char *file, const char *prefix, int *skips)
{
    char name[128];
    snprintf(name, sizeof name, "%s_%s.txt", file, sizeof(tg_real) == 8 ? "f64" : "f32");
    gtr_file *f = gtr_load(name);
    int cases = 0;
    for (int gi = 0; gi < f->n; gi++)
        if (strncmp(f->groups[gi].name, prefix, strlen(prefix)) == 0) {
            *skips += gtr_run_optim_case(&f->groups[gi]);
            cases++;
        }
    gtr_free(f);
    return cases;
}

#endif
