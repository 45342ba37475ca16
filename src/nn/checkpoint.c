/* Checkpoints: everything a training run needs to go on as if it had never
   stopped, in one safetensors file.

   The file (a safetensors file: any reader of the format lists its
   tensors, the weights under their own names; tg_params_load into an
   empty tg_params reads them all):
     tensors      every parameter and buffer (batch norm's running
                  statistics) under its own name, in the order they were
                  added, then every block of the optimizer's state as
                  "__optim__.<state>.<parameter>" ("__optim__.exp_avg.fc1.weight"),
                  all in tg_real's dtype (F32, or F64 from the double
                  library; an integer buffer's whole numbers are exact in
                  it, and load back into it)
     __metadata__ "format": "pt", and
                  "tapegrad.checkpoint"  "1", the format's version
                  "tapegrad.real"        "float" or "double"
                  "tapegrad.optim"       the optimizer: kind, options, steps,
                                         each group's options and rates
                  "tapegrad.optim.params" each parameter's group, step count
                                         and whether SGD's momentum buffer
                                         holds a value
                  "tapegrad.sched"       the scheduler's kind, options,
                                         counters and rates; those it holds
                                         under "tapegrad.sched.0", ".1", ...
                                         (and ".0.1" further down)
                  "tapegrad.rng"         a tg_rng's state
                  "tapegrad.data"        a tensor dataset's batching
                                         position: options, generator, and
                                         where the epoch is
                  each a string of "key=value" words; integers in decimal,
                  doubles as the 16 hex digits of their IEEE-754 bits (exact,
                  and the same in every locale), lists comma-separated.
   Loading reads the whole file (within tg_io_max_bytes), checks it as
   tg_params_load does into a registry of its own, then checks every part
   against what it is loaded into (the same parameter names and shapes;
   the same kind of optimizer with the same options, groups and state; the
   same scheduler; a dataset of the same size batched the same way) and
   reads every value into temporaries. Only then does it copy them in, a
   step that cannot fail: a refused file changes nothing. */
#include "nn/nn_internal.h"
#include "io/io_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define OPT_PREFIX "__optim__."
#define CKPT_VERSION "1"
#define MAX_SCHEDS 64 /* schedulers in one tree */

/* Whether key has the same value (word for word) in a and b. */
static bool same_value(const char *a, const char *b, const char *key)
{
    const char *va, *vb;
    size_t na, nb;
    bool ha = tg_kv_value(a, key, &va, &na), hb = tg_kv_value(b, key, &vb, &nb);
    return ha == hb && (!ha || (na == nb && memcmp(va, vb, na) == 0));
}

/* ------------------------------------------------------------ the parts */

/* The optimizer: what must match (kind, options, groups, state names),
   then its counters and each group's values. */
static void write_optim(const tg_optim *o, tg_kv *b, tg_kv *per_param)
{
    tg_kv_str(b, "kind", tg_optim_name(o));
    switch (o->kind) {
    case OPT_SGD:
        tg_kv_nums(b, "options", (const double[]){o->sgd.dampening, o->sgd.nesterov,
                                                  o->sgd.maximize}, 3);
        break;
    case OPT_ADAM:
    case OPT_ADAMW:
        tg_kv_nums(b, "options", (const double[]){o->adam.beta2, o->adam.eps, o->adam.amsgrad,
                                                  o->adam.maximize}, 4);
        break;
    case OPT_RMSPROP:
        tg_kv_nums(b, "options", (const double[]){o->rms.alpha, o->rms.eps, o->rms.centered,
                                                  o->rms.maximize}, 4);
        break;
    case OPT_ADAGRAD:
        tg_kv_nums(b, "options", (const double[]){o->ada.lr_decay, o->ada.eps,
                                                  o->ada.initial_accumulator_value,
                                                  o->ada.maximize}, 4);
        break;
    }
    tg_kv_int(b, "params", (int64_t)o->count);
    tg_kv_int(b, "groups", o->n_groups);
    tg_kv_str(b, "state", "");
    for (int i = 0; i < o->n_state; i++) {
        if (i) tg_kv_append(b, ",", 1, false);
        tg_kv_append(b, o->state_name[i], strlen(o->state_name[i]), false);
    }
    tg_kv_int(b, "steps", o->steps);
    for (int g = 0; g < o->n_groups; g++) {
        const opt_group *G = &o->groups[g];
        char key[32];
        snprintf(key, sizeof key, "group%d", g);
        tg_kv_nums(b, key, (const double[]){G->lr, G->weight_decay, G->momentum, G->initial_lr,
                                            G->has_initial_lr}, 5);
    }
    for (size_t k = 0; k < o->count; k++) {
        char num[64];
        int n = snprintf(num, sizeof num, "%d,%" PRId64 ",%d", o->param_group[k],
                         o->param_steps[k], o->buf_ready[k]);
        tg_kv_append(per_param, num, (size_t)n, true);
    }
}

static void write_rng(const tg_rng *r, tg_kv *b)
{
    tg_kv_u64s(b, "s", r->s, 4);
    tg_kv_num(b, "spare", r->spare);
    tg_kv_int(b, "has_spare", r->has_spare);
}

static bool read_rng(const char *s, const char *prefix, tg_rng *r)
{
    char k1[32], k2[32], k3[32];
    snprintf(k1, sizeof k1, "%ss", prefix);
    snprintf(k2, sizeof k2, "%sspare", prefix);
    snprintf(k3, sizeof k3, "%shas_spare", prefix);
    int64_t has = 0;
    bool ok = tg_kv_get_u64s(s, k1, r->s, 4) && tg_kv_get_num(s, k2, &r->spare) &&
              tg_kv_get_int(s, k3, &has) && (has == 0 || has == 1);
    r->has_spare = (int)has;
    return ok;
}

static void write_data(const tg_tensor_dataset *d, tg_kv *b)
{
    tg_data_pos p;
    tg_tensor_dataset_get_pos(d, &p);
    tg_kv_ints(b, "n", &p.n, 1);
    tg_kv_ints(b, "batching", (const int64_t[]){p.opts.batch_size, p.opts.shuffle,
                                                p.opts.drop_last}, 3);
    tg_kv_u64s(b, "seed", &p.opts.seed, 1);
    tg_kv_nums(b, "norm", (const double[]){p.opts.mean, p.opts.std}, 2);
    write_rng(&p.rng, b);
    tg_kv_u64s(b, "epoch_s", p.epoch_rng.s, 4);
    tg_kv_num(b, "epoch_spare", p.epoch_rng.spare);
    tg_kv_int(b, "epoch_has_spare", p.epoch_rng.has_spare);
    tg_kv_ints(b, "where", (const int64_t[]){p.in_epoch, p.pos, p.number, p.epoch}, 4);
}

static bool read_data(const char *s, tg_data_pos *p)
{
    int64_t bt[3] = {0}, where[4] = {0};
    double norm[2] = {0};
    memset(p, 0, sizeof *p);
    bool ok = tg_kv_get_ints(s, "n", &p->n, 1) && tg_kv_get_ints(s, "batching", bt, 3) &&
              tg_kv_get_u64s(s, "seed", &p->opts.seed, 1) && tg_kv_get_nums(s, "norm", norm, 2) &&
              read_rng(s, "", &p->rng) && read_rng(s, "epoch_", &p->epoch_rng) &&
              tg_kv_get_ints(s, "where", where, 4);
    p->opts.batch_size = bt[0];
    p->opts.shuffle = bt[1] != 0;
    p->opts.drop_last = bt[2] != 0;
    p->opts.mean = norm[0];
    p->opts.std = norm[1];
    p->configured = true;
    p->in_epoch = where[0] != 0;
    p->pos = where[1];
    p->number = where[2];
    p->epoch = where[3];
    return ok;
}

/* ------------------------------------------------------------------ save */

/* A tensor of the file: its name (prefix + name), shape and values. */
typedef struct {
    const char *prefix, *state, *name;
    const tg_tensor *shape;
    const tg_real *data;
} ck_tensor;

static void put_json_string(tg_kv *b, const char *s)
{
    if (b->oom) return;
    size_t n = tg_json_string(NULL, s);
    char *tmp = malloc(n + 1);
    if (!tmp) {
        b->oom = true;
        return;
    }
    tg_json_string(tmp, s);
    tg_kv_append(b, tmp, n, false);
    free(tmp);
}

/* Appends the metadata entries of the scheduler tree under key. */
static void meta_sched(tg_kv *h, const tg_sched *s, const char *key)
{
    tg_kv b = {0};
    tg_sched_write(s, &b);
    tg_kv_append(h, ",", 1, false);
    put_json_string(h, key);
    tg_kv_append(h, ":", 1, false);
    put_json_string(h, b.oom ? "" : b.s);
    if (b.oom) h->oom = true;
    free(b.s);
    for (int i = 0; i < tg_sched_n_sub(s); i++) {
        char sub[96];
        snprintf(sub, sizeof sub, "%s.%d", key, i);
        meta_sched(h, tg_sched_sub(s, i), sub);
    }
}

static void meta_entry(tg_kv *h, const char *key, const tg_kv *value)
{
    tg_kv_append(h, ",", 1, false);
    put_json_string(h, key);
    tg_kv_append(h, ":", 1, false);
    if (value->oom) h->oom = true;
    put_json_string(h, value->s ? value->s : "");
}

/* Checks what save and load both need: a registry, an optimizer over it,
   a scheduler over that optimizer. */
static int check_parts(const char *who, const tg_checkpoint *c, const char *path)
{
    if (!c || !path || !c->params)
        return tg_set_error(TG_ERR_INVALID, "%s: %s is NULL", who,
                            !c ? "the checkpoint" : !path ? "path" : "params");
    if (c->optim && c->optim->p != c->params)
        return tg_set_error(TG_ERR_INVALID, "%s: the optimizer is over other parameters", who);
    if (c->optim && (c->optim->count != tg_params_count(c->params) ||
                     c->optim->len != tg_params_block_len(c->params)))
        return tg_set_error(TG_ERR_STATE, "%s: parameters were added after the optimizer was "
                            "made", who);
    if (c->sched && !c->optim)
        return tg_set_error(TG_ERR_INVALID, "%s: a scheduler needs its optimizer in the "
                            "checkpoint", who);
    if (c->sched && tg_sched_optim(c->sched) != c->optim)
        return tg_set_error(TG_ERR_INVALID, "%s: the scheduler is over another optimizer", who);
    return TG_OK;
}

/* Writes the file under a temporary name beside it (tg_io_create_temp),
   renamed at the end. */
static int write_file(const char *who, const char *path, const tg_kv *head, const ck_tensor *ts,
                      size_t n)
{
    FILE *f;
    char *tmp;
    int cst = tg_io_create_temp(who, path, &f, &tmp);
    if (cst != TG_OK) return cst;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)head->len >> (8 * i));
    bool ok = fwrite(len8, 1, 8, f) == 8 && fwrite(head->s, 1, head->len, f) == head->len;
    unsigned char buf[4096];
    const size_t es = sizeof(tg_real);
    for (size_t t = 0; t < n && ok; t++) {
        size_t used = 0;
        for (int64_t k = 0; k < ts[t].shape->size && ok; k++) {
            uint64_t u = 0;
            if (es == 4) {
                float v = (float)ts[t].data[k];
                uint32_t w;
                memcpy(&w, &v, 4);
                u = w;
            } else {
                double v = (double)ts[t].data[k];
                memcpy(&u, &v, 8);
            }
            for (size_t j = 0; j < es; j++) buf[used++] = (unsigned char)(u >> (8 * j));
            if (used == sizeof buf) {
                ok = fwrite(buf, 1, used, f) == used;
                used = 0;
            }
        }
        if (ok && used) ok = fwrite(buf, 1, used, f) == used;
    }
    int err = errno;
    if (fclose(f) != 0 && ok) ok = false, err = errno;
    int st = TG_OK;
    if (!ok) st = tg_set_error(TG_ERR_IO, "%s: cannot write %s: %s", who, path, strerror(err));
    else if (rename(tmp, path) != 0)
        st = tg_set_error(TG_ERR_IO, "%s: cannot rename %s to %s: %s", who, tmp, path,
                          strerror(errno));
    if (st != TG_OK) remove(tmp);
    free(tmp);
    return st;
}

int tg_checkpoint_save(const tg_checkpoint *c, const char *path)
{
    const char *who = "tg_checkpoint_save";
    int st = check_parts(who, c, path);
    if (st != TG_OK) return st;
    tg_params *p = c->params;
    const tg_optim *o = c->optim;
    size_t count = tg_params_count(p), n_state = o ? (size_t)o->n_state : 0;
    size_t n_all = tg_params_state_count(p); /* parameters and buffers */
    for (size_t i = 0; i < n_all; i++) {
        const tg_tensor *x = tg_params_state_at(p, i);
        if (strncmp(x->name, OPT_PREFIX, strlen(OPT_PREFIX)) == 0)
            return tg_set_error(TG_ERR_INVALID, "%s: a parameter's name, '%s', starts with '%s', "
                                "which checkpoints keep for the optimizer's state", who, x->name,
                                OPT_PREFIX);
        if (strcmp(x->name, "__metadata__") == 0)
            return tg_set_error(TG_ERR_INVALID, "%s: a parameter is named __metadata__", who);
    }
    size_t n = n_all + count * n_state;
    ck_tensor *ts = malloc((n ? n : 1) * sizeof *ts);
    if (!ts) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    const tg_real *base = tg_params_data(p);
    for (size_t i = 0; i < n_all; i++) {
        const tg_tensor *x = tg_params_state_at(p, i);
        ts[i] = (ck_tensor){"", "", x->name, x, x->data};
    }
    for (size_t i = 0; i < count; i++) {
        const tg_tensor *x = tg_params_at(p, i);
        for (size_t k = 0; k < n_state; k++)
            ts[n_all + count * k + i] = (ck_tensor){OPT_PREFIX, o->state_name[k], x->name, x,
                                                    o->state_block[k] + (x->data - base)};
    }
    /* the header: tensors, then the metadata */
    tg_kv h = {0};
    const char *dtype = sizeof(tg_real) == 4 ? "F32" : "F64";
    uint64_t offset = 0;
    tg_kv_append(&h, "{", 1, false);
    for (size_t t = 0; t < n; t++) {
        tg_kv name = {0};
        tg_kv_append(&name, ts[t].prefix, strlen(ts[t].prefix), false);
        if (ts[t].state[0]) {
            tg_kv_append(&name, ts[t].state, strlen(ts[t].state), false);
            tg_kv_append(&name, ".", 1, false);
        }
        tg_kv_append(&name, ts[t].name, strlen(ts[t].name), false);
        if (name.oom) h.oom = true;
        put_json_string(&h, name.oom ? "" : name.s);
        free(name.s);
        char num[160];
        int k = snprintf(num, sizeof num, ":{\"dtype\":\"%s\",\"shape\":[", dtype);
        tg_kv_append(&h, num, (size_t)k, false);
        for (int d = 0; d < ts[t].shape->ndim; d++) {
            k = snprintf(num, sizeof num, d ? ",%" PRId64 : "%" PRId64, ts[t].shape->shape[d]);
            tg_kv_append(&h, num, (size_t)k, false);
        }
        uint64_t end = offset + (uint64_t)ts[t].shape->size * sizeof(tg_real);
        k = snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]},", offset,
                     end);
        tg_kv_append(&h, num, (size_t)k, false);
        offset = end;
    }
    const char *meta = "\"__metadata__\":{\"format\":\"pt\",\"tapegrad.checkpoint\":\"" CKPT_VERSION
                       "\"";
    tg_kv_append(&h, meta, strlen(meta), false);
    tg_kv v = {.s = NULL};
    tg_kv_str(&v, "real", tg_real_name());
    meta_entry(&h, "tapegrad.real", &v);
    free(v.s);
    if (o) {
        tg_kv a = {0}, b = {0};
        write_optim(o, &a, &b);
        meta_entry(&h, "tapegrad.optim", &a);
        meta_entry(&h, "tapegrad.optim.params", &b);
        free(a.s);
        free(b.s);
    }
    if (c->sched) meta_sched(&h, c->sched, "tapegrad.sched");
    if (c->rng) {
        tg_kv a = {0};
        write_rng(c->rng, &a);
        meta_entry(&h, "tapegrad.rng", &a);
        free(a.s);
    }
    if (c->data) {
        tg_kv a = {0};
        write_data(c->data, &a);
        meta_entry(&h, "tapegrad.data", &a);
        free(a.s);
    }
    tg_kv_append(&h, "}}", 2, false);
    while (!h.oom && h.len % 8) tg_kv_append(&h, " ", 1, false); /* as the reference writer pads */
    if (h.oom) st = tg_set_error(TG_ERR_NOMEM, "%s: out of memory building the header", who);
    else if (h.len > 100000000)
        st = tg_set_error(TG_ERR_INVALID, "%s: the header would take %zu bytes, over the "
                          "format's limit of 100,000,000", who, h.len);
    else st = write_file(who, path, &h, ts, n);
    free(h.s);
    free(ts);
    return st;
}

/* ------------------------------------------------------------------ load */

/* What a load has read and checked, waiting to be put in place. */
typedef struct {
    tg_params *tmp;          /* every tensor of the file */
    double *groups;          /* [n_groups][5] */
    int64_t *param_steps;    /* [count] */
    uint8_t *buf_ready;      /* [count] */
    const tg_tensor **state; /* [n_state][count]: the file's tensor of each block */
    int64_t steps;
    int n_sched;
    tg_sched *live[MAX_SCHEDS], *read[MAX_SCHEDS];
    tg_rng rng;
    tg_data_pos data;
} pending;

static void pending_free(pending *q)
{
    tg_params_free(q->tmp);
    free(q->groups);
    free(q->param_steps);
    free(q->buf_ready);
    free(q->state);
    for (int i = 0; i < q->n_sched; i++) tg_sched_free(q->read[i]);
}

/* The whole file, within the io limit, into *buf (freed by the caller). */
static int read_all(const char *who, const char *path, unsigned char **buf, size_t *len)
{
    *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return tg_set_error(TG_ERR_IO, "%s: cannot open %s: %s", who, path, strerror(errno));
    uint64_t limit = tg_io_max_bytes();
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    int st = b ? TG_OK : tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    while (st == TG_OK) {
        if (n == cap) {
            if ((uint64_t)cap > limit) {
                st = tg_set_error(TG_ERR_FORMAT, "%s: %s is larger than the limit of %llu bytes "
                                  "(tg_io_set_max_bytes raises it)", who, path,
                                  (unsigned long long)limit);
                break;
            }
            unsigned char *nb = realloc(b, cap * 2);
            if (!nb) {
                st = tg_set_error(TG_ERR_NOMEM, "%s: out of memory reading %s", who, path);
                break;
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) st = tg_set_error(TG_ERR_IO, "%s: cannot read %s", who, path);
            break;
        }
    }
    fclose(f);
    if (st == TG_OK && (uint64_t)n > limit)
        st = tg_set_error(TG_ERR_FORMAT, "%s: %s is larger than the limit of %llu bytes "
                          "(tg_io_set_max_bytes raises it)", who, path, (unsigned long long)limit);
    if (st != TG_OK) {
        free(b);
        return st;
    }
    *buf = b;
    *len = n;
    return TG_OK;
}

static const char *meta_str(const cJSON *meta, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The first of o's "options" (write_optim's order) whose value differs
   between the file's metadata fo and o's own, mine: "its option amsgrad is
   1 in the file, 0 here". */
static void option_differs(const tg_optim *o, const char *fo, const char *mine, char *what,
                           size_t len)
{
    static const char *const names[][4] = {
        [OPT_SGD] = {"dampening", "nesterov", "maximize"},
        [OPT_ADAM] = {"beta2", "eps", "amsgrad", "maximize"},
        [OPT_ADAMW] = {"beta2", "eps", "amsgrad", "maximize"},
        [OPT_RMSPROP] = {"alpha", "eps", "centered", "maximize"},
        [OPT_ADAGRAD] = {"lr_decay", "eps", "initial_accumulator_value", "maximize"},
    };
    size_t n = o->kind == OPT_SGD ? 3 : 4;
    double a[4], b[4];
    snprintf(what, len, "its options differ");
    if (!tg_kv_get_nums(fo, "options", a, n) || !tg_kv_get_nums(mine, "options", b, n)) return;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) {
            snprintf(what, len, "its option %s is %g in the file, %g here", names[o->kind][i],
                     a[i], b[i]);
            return;
        }
}

/* The parameters and buffers: the same names and shapes as the file's. */
static int check_params(const char *who, const char *path, tg_params *p, tg_params *tmp)
{
    size_t in_file = 0;
    for (size_t i = 0; i < tg_params_state_count(tmp); i++)
        if (strncmp(tg_params_state_at(tmp, i)->name, OPT_PREFIX, strlen(OPT_PREFIX)) != 0)
            in_file++;
    for (size_t i = 0; i < tg_params_state_count(p); i++) {
        const tg_tensor *x = tg_params_state_at(p, i), *y = tg_params_get(tmp, x->name);
        char a[128], b[128];
        if (!y)
            return tg_set_error(TG_ERR_FORMAT, "%s: %s has no parameter or buffer '%s': a "
                                "checkpoint of another model", who, path, x->name);
        if (!tg_same_shape(x, y))
            return tg_set_error(TG_ERR_SHAPE, "%s: %s: '%s' is %s in the file, %s here: a "
                                "checkpoint of another model", who, path, x->name,
                                tg_shape_str(y, a, sizeof a), tg_shape_str(x, b, sizeof b));
    }
    if (in_file != tg_params_state_count(p)) {
        for (size_t i = 0; i < tg_params_state_count(tmp); i++) {
            const char *nm = tg_params_state_at(tmp, i)->name;
            if (strncmp(nm, OPT_PREFIX, strlen(OPT_PREFIX)) != 0 && !tg_params_get(p, nm))
                return tg_set_error(TG_ERR_FORMAT, "%s: %s has a tensor '%s' that this model "
                                    "has not: a checkpoint of another model", who, path, nm);
        }
    }
    return TG_OK;
}

/* The optimizer's part: checked against o, read into q. */
static int read_optim(const char *who, const char *path, const cJSON *meta, tg_optim *o,
                      pending *q)
{
    const char *fo = meta_str(meta, "tapegrad.optim");
    const char *fp = meta_str(meta, "tapegrad.optim.params");
    if (!fo || !fp)
        return tg_set_error(TG_ERR_FORMAT, "%s: %s holds no optimizer state", who, path);
    tg_kv mine = {0}, mine_p = {0};
    write_optim(o, &mine, &mine_p);
    free(mine_p.s);
    if (mine.oom) {
        free(mine.s);
        return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    }
    static const char *const must[] = {"kind", "options", "params", "groups", "state"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        if (!same_value(fo, mine.s, must[i])) {
            char fk[32] = "?", what[160];
            tg_kv_get_str(fo, "kind", fk, sizeof fk);
            if (i == 1 && strcmp(fk, tg_optim_name(o)) == 0)
                option_differs(o, fo, mine.s, what, sizeof what);
            else
                snprintf(what, sizeof what, "%s",
                         (const char *const[]){"another kind", "its options differ",
                                               "its number of parameters differs",
                                               "its number of groups differs",
                                               "its state's names differ"}[i]);
            free(mine.s);
            return tg_set_error(TG_ERR_FORMAT, "%s: %s holds the state of another optimizer (%s, "
                                "here %s): %s", who, path, fk, tg_optim_name(o), what);
        }
    free(mine.s);
    const size_t G = (size_t)o->n_groups, N = o->count;
    q->groups = malloc(G * 5 * sizeof *q->groups);
    q->param_steps = malloc(N * sizeof *q->param_steps);
    q->buf_ready = malloc(N);
    if (!q->groups || !q->param_steps || !q->buf_ready)
        return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    bool ok = tg_kv_get_int(fo, "steps", &q->steps) && q->steps >= 0;
    for (size_t g = 0; ok && g < G; g++) {
        char key[32];
        snprintf(key, sizeof key, "group%zu", g);
        ok = tg_kv_get_nums(fo, key, q->groups + 5 * g, 5);
    }
    /* per parameter: "group,steps,buffer" words */
    const char *s = fp;
    for (size_t k = 0; ok && k < N; k++) {
        long long grp, steps;
        int ready, used = 0;
        ok = sscanf(s, "%lld,%lld,%d%n", &grp, &steps, &ready, &used) == 3 &&
             grp == o->param_group[k] && steps >= 0 && (ready == 0 || ready == 1);
        if (!ok && sscanf(s, "%lld", &grp) == 1 && grp != o->param_group[k]) {
            return tg_set_error(TG_ERR_FORMAT, "%s: %s: parameter '%s' is in group %lld in the "
                                "file, %d here", who, path, tg_params_at(o->p, k)->name, grp,
                                o->param_group[k]);
        }
        q->param_steps[k] = steps;
        q->buf_ready[k] = (uint8_t)ready;
        s += used;
        if (ok && k + 1 < N) ok = *s++ == ' ';
    }
    if (ok) ok = *s == '\0';
    if (!ok) return tg_set_error(TG_ERR_FORMAT, "%s: %s: the optimizer's state is malformed", who,
                                 path);
    /* the state tensors: one per block and parameter, of its shape */
    q->state = malloc(((size_t)o->n_state * N + 1) * sizeof *q->state);
    if (!q->state) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    for (int b = 0; b < o->n_state; b++)
        for (size_t k = 0; k < N; k++) {
            const tg_tensor *x = tg_params_at(o->p, k);
            char *nm = malloc(strlen(OPT_PREFIX) + strlen(o->state_name[b]) + strlen(x->name) + 2);
            if (!nm) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
            sprintf(nm, "%s%s.%s", OPT_PREFIX, o->state_name[b], x->name);
            const tg_tensor *y = tg_params_get(q->tmp, nm);
            int st = !y ? tg_set_error(TG_ERR_FORMAT, "%s: %s has no tensor '%s'", who, path, nm)
                     : !tg_same_shape(x, y)
                         ? tg_set_error(TG_ERR_SHAPE, "%s: %s: '%s' is not of its parameter's "
                                        "shape", who, path, nm)
                         : TG_OK;
            free(nm);
            if (st != TG_OK) return st;
            q->state[(size_t)b * N + k] = y;
        }
    return TG_OK;
}

/* The scheduler tree under key: each read into a temporary. */
static int read_sched(const char *who, const char *path, const cJSON *meta, tg_sched *live,
                      const char *key, pending *q)
{
    const char *fs = meta_str(meta, key);
    if (!fs)
        return tg_set_error(TG_ERR_FORMAT, "%s: %s holds no scheduler state (%s)", who, path,
                            key);
    if (q->n_sched == MAX_SCHEDS)
        return tg_set_error(TG_ERR_INVALID, "%s: more than %d schedulers", who, MAX_SCHEDS);
    tg_sched *t = tg_sched_read(who, live, fs);
    if (!t) return TG_ERR_FORMAT;
    q->live[q->n_sched] = live;
    q->read[q->n_sched++] = t;
    for (int i = 0; i < tg_sched_n_sub(live); i++) {
        char sub[96];
        snprintf(sub, sizeof sub, "%s.%d", key, i);
        int st = read_sched(who, path, meta, tg_sched_sub(live, i), sub, q);
        if (st != TG_OK) return st;
    }
    return TG_OK;
}

/* Reads, checks and sets aside every part of the file; TG_OK if all of it
   can be put in place. */
static int prepare(const char *who, const tg_checkpoint *c, const char *path,
                   const unsigned char *buf, size_t len, pending *q)
{
    if (!(q->tmp = tg_params_new())) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    if (tg_params_load_mem(q->tmp, buf, len) != TG_OK) {
        char msg[TG_MSG_LEN];
        /* what is wrong, without the inner call's name: the file is named here */
        static const char inner[] = "tg_params_load_mem: <memory>: ";
        const char *e = tg_last_error();
        if (strncmp(e, inner, sizeof inner - 1) == 0) e += sizeof inner - 1;
        snprintf(msg, sizeof msg, "%s", e);
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: %s", who, path, msg);
    }
    /* the header again, for the metadata (tg_params_load_mem checked it) */
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)buf[i] << (8 * i);
    cJSON *root = cJSON_ParseWithLength((const char *)buf + 8, (size_t)hlen);
    if (!root) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory reading the header", who);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    const char *ver = meta_str(meta, "tapegrad.checkpoint");
    int st = TG_OK;
    if (!ver)
        st = tg_set_error(TG_ERR_FORMAT, "%s: %s is a safetensors file but not a checkpoint "
                          "(load its weights with tg_params_load)", who, path);
    else if (strcmp(ver, CKPT_VERSION) != 0)
        st = tg_set_error(TG_ERR_FORMAT, "%s: %s is a checkpoint of version %s; this library "
                          "reads version %s", who, path, ver, CKPT_VERSION);
    if (st == TG_OK) st = check_params(who, path, c->params, q->tmp);
    if (st == TG_OK && c->optim) st = read_optim(who, path, meta, c->optim, q);
    if (st == TG_OK && c->sched)
        st = read_sched(who, path, meta, c->sched, "tapegrad.sched", q);
    if (st == TG_OK && c->rng) {
        const char *fr = meta_str(meta, "tapegrad.rng");
        if (!fr || !read_rng(fr, "", &q->rng))
            st = tg_set_error(TG_ERR_FORMAT, "%s: %s holds no generator state", who, path);
    }
    if (st == TG_OK && c->data) {
        const char *fd = meta_str(meta, "tapegrad.data");
        if (!fd || !read_data(fd, &q->data))
            st = tg_set_error(TG_ERR_FORMAT, "%s: %s holds no dataset position", who, path);
        else if ((st = tg_tensor_dataset_check_pos(c->data, &q->data, path)) == TG_OK)
            st = tg_tensor_dataset_batching(c->data, &q->data.opts); /* its buffers, if none yet */
    }
    cJSON_Delete(root);
    return st;
}

/* Puts every part in place: no check, no allocation, no failure. */
static void commit(const tg_checkpoint *c, const pending *q)
{
    for (size_t i = 0; i < tg_params_state_count(c->params); i++) {
        tg_tensor *x = tg_params_state_at(c->params, i);
        const tg_tensor *y = tg_params_get(q->tmp, x->name);
        memcpy(x->data, y->data, (size_t)x->size * sizeof(tg_real));
    }
    tg_optim *o = c->optim;
    if (o) {
        const tg_real *base = tg_params_data(o->p);
        for (int b = 0; b < o->n_state; b++)
            for (size_t k = 0; k < o->count; k++) {
                const tg_tensor *x = tg_params_at(o->p, k);
                const tg_tensor *y = q->state[(size_t)b * o->count + k];
                memcpy(o->state_block[b] + (x->data - base), y->data,
                       (size_t)x->size * sizeof(tg_real));
            }
        memcpy(o->param_steps, q->param_steps, o->count * sizeof *o->param_steps);
        memcpy(o->buf_ready, q->buf_ready, o->count);
        for (int g = 0; g < o->n_groups; g++) {
            const double *v = q->groups + 5 * (size_t)g;
            o->groups[g].lr = v[0];
            o->groups[g].weight_decay = v[1];
            o->groups[g].momentum = v[2];
            o->groups[g].initial_lr = v[3];
            o->groups[g].has_initial_lr = v[4] != 0;
        }
        o->steps = q->steps;
    }
    for (int i = 0; i < q->n_sched; i++) tg_sched_commit(q->live[i], q->read[i]);
    if (c->rng) *c->rng = q->rng;
    if (c->data) tg_tensor_dataset_set_pos(c->data, &q->data);
}

int tg_checkpoint_load(const tg_checkpoint *c, const char *path)
{
    const char *who = "tg_checkpoint_load";
    int st = check_parts(who, c, path);
    if (st != TG_OK) return st;
    unsigned char *buf;
    size_t len = 0;
    if ((st = read_all(who, path, &buf, &len)) != TG_OK) return st;
    pending q = {0};
    st = prepare(who, c, path, buf, len, &q);
    free(buf);
    if (st == TG_OK) commit(c, &q);
    pending_free(&q);
    return st;
}
