/* Datasets of tg_real features with regression targets or class labels
   (torch.utils.data.TensorDataset with a DataLoader over it), beside the
   uint8 image datasets of dataset.c and with the same batching options.

   Everything is in memory. A batch gathers its samples' rows into buffers
   allocated once by tg_tensor_dataset_batching (the features scaled as
   (v − mean)/std when asked); the epoch's order is a permutation redrawn
   with tg_rng_shuffle at each epoch's start, as tg_dataset does, so the
   same seed gives the same batches. tg_tensor_dataset_next allocates
   nothing. */
#include "io/io_internal.h"

#include <stdlib.h>

struct tg_tensor_dataset {
    int64_t n;
    int x_ndim, y_ndim;
    int64_t x_shape[TG_MAX_DIMS - 1], y_shape[TG_MAX_DIMS - 1];
    int64_t features, target; /* values per sample and per target (0: no y) */
    tg_real *x;               /* [n, features] */
    tg_real *y;               /* [n, target], or NULL */
    int64_t *labels;          /* [n], or NULL */
    int classes;

    /* batching */
    bool configured;
    tg_batch_opts opts;
    tg_real mean, std;
    int64_t *order;           /* [n] */
    tg_real *bx, *by;         /* [batch, features], [batch, target] */
    int64_t *blabels;         /* [batch] */
    tg_rng rng;
    tg_rng epoch_rng;         /* rng as the epoch started (before its shuffle) */
    bool in_epoch;
    int64_t pos, number, epoch;
};

/* The most values a sample may have (as tg_dataset's): sizes computed
   from it cannot overflow. */
#define MAX_VALUES ((int64_t)1 << 40)

static void free_batch(tg_tensor_dataset *d)
{
    free(d->order);
    free(d->bx);
    free(d->by);
    free(d->blabels);
    d->order = NULL;
    d->bx = d->by = NULL;
    d->blabels = NULL;
    d->configured = false;
}

void tg_tensor_dataset_free(tg_tensor_dataset *d)
{
    if (!d) return;
    free_batch(d);
    free(d->x);
    free(d->y);
    free(d->labels);
    free(d);
}

/* The product of shape[0..ndim) into *out, each dimension >= 1 and the
   product at most MAX_VALUES; false otherwise. */
static bool shape_size(int ndim, const int64_t *shape, int64_t *out)
{
    int64_t s = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1 || shape[i] > MAX_VALUES / s) return false;
        s *= shape[i];
    }
    *out = s;
    return true;
}

/* An empty dataset of n samples shaped as src, with its arrays allocated
   (not filled), or NULL with the error set. */
static tg_tensor_dataset *make(const char *who, const tg_tensor_data *src, int64_t n)
{
    tg_tensor_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
        return NULL;
    }
    d->n = n;
    d->x_ndim = src->x_ndim;
    d->y_ndim = src->y ? src->y_ndim : 0;
    memcpy(d->x_shape, src->x_shape, sizeof d->x_shape);
    if (src->y) memcpy(d->y_shape, src->y_shape, sizeof d->y_shape);
    shape_size(d->x_ndim, d->x_shape, &d->features);
    if (src->y) shape_size(d->y_ndim, d->y_shape, &d->target);
    d->epoch = -1;
    size_t rows = n > 0 ? (size_t)n : 1;
    d->x = malloc(rows * (size_t)d->features * sizeof *d->x);
    if (src->y) d->y = malloc(rows * (size_t)d->target * sizeof *d->y);
    if (src->labels) d->labels = malloc(rows * sizeof *d->labels);
    if (!d->x || (src->y && !d->y) || (src->labels && !d->labels)) {
        tg_tensor_dataset_free(d);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory for %lld samples", who, (long long)n);
        return NULL;
    }
    return d;
}

static void count_classes(tg_tensor_dataset *d)
{
    int64_t mx = -1;
    for (int64_t i = 0; d->labels && i < d->n; i++)
        if (d->labels[i] > mx) mx = d->labels[i];
    d->classes = (int)(mx + 1);
}

tg_tensor_dataset *tg_tensor_dataset_new(const tg_tensor_data *src)
{
    const char *who = "tg_tensor_dataset_new";
    if (!src) {
        tg_set_error(TG_ERR_INVALID, "%s: src is NULL", who);
        return NULL;
    }
    int64_t f = 0, t = 0;
    char dims[128];
    if (src->n < 0 || (src->n > 0 && !src->x)) {
        tg_set_error(TG_ERR_INVALID, "%s: %s", who,
                     src->n < 0 ? "the number of samples n is negative"
                                : "x is NULL (the features of n > 0 samples)");
        return NULL;
    }
    if (src->x_ndim < 1 || src->x_ndim > TG_MAX_DIMS - 1 ||
        !shape_size(src->x_ndim, src->x_shape, &f)) {
        tg_set_error(TG_ERR_INVALID, "%s: a sample's shape %s is not 1..%d dimensions of at "
                     "least 1, at most 2^40 values", who,
                     tg_dims_str(src->x_ndim < 0 ? 0 : src->x_ndim > 7 ? 7 : src->x_ndim,
                                 src->x_shape, dims, sizeof dims),
                     TG_MAX_DIMS - 1);
        return NULL;
    }
    if (src->y && src->labels) {
        tg_set_error(TG_ERR_INVALID, "%s: give targets y or class labels, not both", who);
        return NULL;
    }
    if (src->y && (src->y_ndim < 0 || src->y_ndim > TG_MAX_DIMS - 1 ||
                   !shape_size(src->y_ndim, src->y_shape, &t))) {
        tg_set_error(TG_ERR_INVALID, "%s: a target's shape is not 0..%d dimensions of at least 1",
                     who, TG_MAX_DIMS - 1);
        return NULL;
    }
    if (src->n > 0 && (src->n > MAX_VALUES / f || (t && src->n > MAX_VALUES / t))) {
        tg_set_error(TG_ERR_INVALID, "%s: %lld samples of %lld values are too many", who,
                     (long long)src->n, (long long)f);
        return NULL;
    }
    for (int64_t i = 0; src->labels && i < src->n; i++)
        if (src->labels[i] < 0 || src->labels[i] > INT32_MAX - 1) {
            tg_set_error(TG_ERR_INVALID, "%s: label %lld of sample %lld is not in [0, 2^31 - 1)",
                         who, (long long)src->labels[i], (long long)i);
            return NULL;
        }
    tg_tensor_dataset *d = make(who, src, src->n);
    if (!d) return NULL;
    size_t n = (size_t)src->n;
    if (n) memcpy(d->x, src->x, n * (size_t)f * sizeof *d->x);
    if (n && d->y) memcpy(d->y, src->y, n * (size_t)t * sizeof *d->y);
    if (n && d->labels) memcpy(d->labels, src->labels, n * sizeof *d->labels);
    count_classes(d);
    return d;
}

/* The description of d's shapes, for make. */
static tg_tensor_data shape_of(const tg_tensor_dataset *d)
{
    tg_tensor_data s = {.n = d->n, .x = d->x, .x_ndim = d->x_ndim, .y = d->y,
                        .y_ndim = d->y_ndim, .labels = d->labels};
    memcpy(s.x_shape, d->x_shape, sizeof s.x_shape);
    memcpy(s.y_shape, d->y_shape, sizeof s.y_shape);
    return s;
}

/* Copies samples idx[0..n) of d into rows 0..n of the arrays of `to`. */
static void copy_rows(const tg_tensor_dataset *d, const int64_t *idx, int64_t n,
                      tg_real *x, tg_real *y, int64_t *labels)
{
    const size_t f = (size_t)d->features, t = (size_t)d->target;
    for (int64_t i = 0; i < n; i++) {
        size_t j = (size_t)idx[i];
        memcpy(x + (size_t)i * f, d->x + j * f, f * sizeof *x);
        if (y) memcpy(y + (size_t)i * t, d->y + j * t, t * sizeof *y);
        if (labels) labels[i] = d->labels[j];
    }
}

tg_tensor_dataset *tg_tensor_dataset_subset(const tg_tensor_dataset *d, const int64_t *idx,
                                            int64_t n)
{
    const char *who = "tg_tensor_dataset_subset";
    if (!d || n < 0 || (n > 0 && !idx)) {
        tg_set_error(TG_ERR_INVALID, "%s: a NULL dataset or index list, or n < 0", who);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= d->n) {
            tg_set_error(TG_ERR_INVALID, "%s: index %lld (position %lld) is out of range for %lld "
                         "samples", who, (long long)idx[i], (long long)i, (long long)d->n);
            return NULL;
        }
    tg_tensor_data s = shape_of(d);
    tg_tensor_dataset *out = make(who, &s, n);
    if (!out) return NULL;
    copy_rows(d, idx, n, out->x, out->y, out->labels);
    count_classes(out);
    return out;
}

int tg_tensor_dataset_split(const tg_tensor_dataset *d, double val_fraction, uint64_t seed,
                            tg_tensor_dataset **train, tg_tensor_dataset **val)
{
    const char *who = "tg_tensor_dataset_split";
    if (train) *train = NULL;
    if (val) *val = NULL;
    if (!d || !train || !val)
        return tg_set_error(TG_ERR_INVALID, "%s: a NULL dataset or output", who);
    if (!(val_fraction >= 0 && val_fraction <= 1))
        return tg_set_error(TG_ERR_INVALID, "%s: val_fraction %g is not in [0, 1]", who,
                            val_fraction);
    int64_t *perm = malloc((size_t)(d->n > 0 ? d->n : 1) * sizeof *perm);
    if (!perm) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    for (int64_t i = 0; i < d->n; i++) perm[i] = i;
    tg_rng r;
    tg_rng_seed(&r, seed);
    tg_rng_shuffle(&r, perm, d->n);
    int64_t n_val = (int64_t)floor(val_fraction * (double)d->n);
    if (n_val > d->n) n_val = d->n;
    tg_tensor_dataset *v = tg_tensor_dataset_subset(d, perm, n_val);
    tg_tensor_dataset *t = v ? tg_tensor_dataset_subset(d, perm + n_val, d->n - n_val) : NULL;
    free(perm);
    if (!t) {
        tg_tensor_dataset_free(v);
        return TG_ERR_NOMEM; /* (subsets of valid indices fail only for memory) */
    }
    *train = t;
    *val = v;
    return TG_OK;
}

int64_t tg_tensor_dataset_len(const tg_tensor_dataset *d) { return d ? d->n : 0; }
int64_t tg_tensor_dataset_features(const tg_tensor_dataset *d) { return d ? d->features : 0; }
int64_t tg_tensor_dataset_target_size(const tg_tensor_dataset *d) { return d ? d->target : 0; }
int tg_tensor_dataset_classes(const tg_tensor_dataset *d) { return d ? d->classes : 0; }
const tg_real *tg_tensor_dataset_x(const tg_tensor_dataset *d) { return d ? d->x : NULL; }
const tg_real *tg_tensor_dataset_y(const tg_tensor_dataset *d) { return d ? d->y : NULL; }
const int64_t *tg_tensor_dataset_labels(const tg_tensor_dataset *d)
{
    return d ? d->labels : NULL;
}

/* ---------------------------------------------------------------- batches */

int tg_tensor_dataset_batching(tg_tensor_dataset *d, const tg_batch_opts *opts)
{
    const char *who = "tg_tensor_dataset_batching";
    if (!d) return tg_set_error(TG_ERR_INVALID, "%s: dataset is NULL", who);
    tg_batch_opts o = opts ? *opts : tg_batch_defaults();
    int64_t b = o.batch_size < d->n ? o.batch_size : d->n;
    int64_t wide = d->features > d->target ? d->features : d->target;
    if (o.batch_size <= 0 || b > MAX_VALUES / wide)
        return tg_set_error(TG_ERR_INVALID, "%s: batch_size %lld is not in [1, %lld]", who,
                            (long long)o.batch_size, (long long)(MAX_VALUES / wide));
    if (!(o.std > 0) || !isfinite(o.std) || !isfinite(o.mean))
        return tg_set_error(TG_ERR_INVALID, "%s: need a finite mean and std > 0, got %g and %g",
                            who, o.mean, o.std);
    size_t rows = b > 0 ? (size_t)b : 1;
    int64_t *order = malloc((size_t)(d->n > 0 ? d->n : 1) * sizeof *order);
    tg_real *bx = malloc(rows * (size_t)d->features * sizeof *bx);
    tg_real *by = d->y ? malloc(rows * (size_t)d->target * sizeof *by) : NULL;
    int64_t *bl = d->labels ? malloc(rows * sizeof *bl) : NULL;
    if (!order || !bx || (d->y && !by) || (d->labels && !bl)) {
        free(order), free(bx), free(by), free(bl);
        return tg_set_error(TG_ERR_NOMEM, "%s: out of memory for batches of %lld", who,
                            (long long)o.batch_size);
    }
    free_batch(d);
    d->order = order;
    d->bx = bx;
    d->by = by;
    d->blabels = bl;
    d->opts = o;
    d->mean = (tg_real)o.mean;
    d->std = (tg_real)o.std;
    tg_rng_seed(&d->rng, o.seed);
    for (int64_t i = 0; i < d->n; i++) d->order[i] = i;
    d->configured = true;
    d->in_epoch = false;
    d->epoch = -1;
    return TG_OK;
}

int64_t tg_tensor_dataset_num_batches(const tg_tensor_dataset *d)
{
    if (!d) return 0;
    tg_batch_opts o = d->configured ? d->opts : tg_batch_defaults();
    /* ⌈n / b⌉ as n / b + (n % b != 0): n + b − 1 overflows for b near INT64_MAX */
    int64_t whole = d->n / o.batch_size;
    return o.drop_last ? whole : whole + (d->n % o.batch_size != 0);
}

void tg_tensor_dataset_rewind(tg_tensor_dataset *d)
{
    if (d) d->in_epoch = false;
}

/* A new epoch's order: the natural one, or a shuffle of it. */
static void start_epoch(tg_tensor_dataset *d)
{
    d->epoch_rng = d->rng;
    for (int64_t i = 0; i < d->n; i++) d->order[i] = i;
    if (d->opts.shuffle) tg_rng_shuffle(&d->rng, d->order, d->n);
    d->in_epoch = true;
    d->pos = 0;
    d->number = 0;
    d->epoch++;
}

bool tg_tensor_dataset_next(tg_tensor_dataset *d, tg_tensor_batch *b)
{
    if (!d || !b) {
        tg_set_error(TG_ERR_INVALID, "tg_tensor_dataset_next: the %s is NULL",
                     !d ? "dataset" : "batch");
        return false;
    }
    if (!d->configured && tg_tensor_dataset_batching(d, NULL) != TG_OK) return false;
    if (!d->in_epoch) start_epoch(d);
    int64_t left = d->n - d->pos;
    int64_t n = left < d->opts.batch_size ? left : d->opts.batch_size;
    if (n == 0 || (d->opts.drop_last && n < d->opts.batch_size)) {
        d->in_epoch = false;
        return false;
    }
    const int64_t *idx = d->order + d->pos;
    copy_rows(d, idx, n, d->bx, d->by, d->blabels);
    if (d->mean != 0 || d->std != 1) {
        size_t m = (size_t)n * (size_t)d->features;
        for (size_t k = 0; k < m; k++) d->bx[k] = (d->bx[k] - d->mean) / d->std;
    }
    b->n = n;
    b->x_ndim = 1 + d->x_ndim;
    b->x_shape[0] = n;
    memcpy(b->x_shape + 1, d->x_shape, (size_t)d->x_ndim * sizeof *d->x_shape);
    b->x = d->bx;
    b->y_ndim = d->y ? 1 + d->y_ndim : 0;
    b->y_shape[0] = n;
    if (d->y) memcpy(b->y_shape + 1, d->y_shape, (size_t)d->y_ndim * sizeof *d->y_shape);
    b->y = d->by;
    b->labels = d->blabels;
    b->index = idx;
    b->number = d->number++;
    b->epoch = d->epoch;
    d->pos += n;
    return true;
}

/* ------------------------------------------------- position (checkpoints) */

int tg_tensor_dataset_get_pos(const tg_tensor_dataset *d, tg_data_pos *pos)
{
    if (!d || !pos) return TG_ERR_INVALID;
    memset(pos, 0, sizeof *pos);
    pos->configured = d->configured;
    pos->opts = d->configured ? d->opts : tg_batch_defaults();
    pos->rng = d->rng;
    pos->epoch_rng = d->epoch_rng;
    pos->in_epoch = d->in_epoch;
    pos->pos = d->pos;
    pos->number = d->number;
    pos->epoch = d->epoch;
    pos->n = d->n;
    return TG_OK;
}

int tg_tensor_dataset_check_pos(const tg_tensor_dataset *d, const tg_data_pos *pos,
                                const char *path)
{
    const char *who = "tg_checkpoint_load";
    if (pos->n != d->n)
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: the file's dataset has %lld samples, this "
                            "one %lld", who, path, (long long)pos->n, (long long)d->n);
    const tg_batch_opts *a = &pos->opts, *b = d->configured ? &d->opts : NULL;
    tg_batch_opts def = tg_batch_defaults();
    if (!b) b = &def;
    if (a->batch_size != b->batch_size || a->shuffle != b->shuffle ||
        a->drop_last != b->drop_last || a->mean != b->mean || a->std != b->std)
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: the file's dataset was batched with "
                            "other options (batch size %lld, shuffle %d, drop_last %d, mean %g, "
                            "std %g) than this one (%lld, %d, %d, %g, %g)", who, path,
                            (long long)a->batch_size, a->shuffle, a->drop_last, (double)a->mean,
                            (double)a->std, (long long)b->batch_size, b->shuffle, b->drop_last,
                            (double)b->mean, (double)b->std);
    if (pos->pos < 0 || pos->pos > d->n || pos->number < 0 || pos->epoch < -1)
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: the dataset position is out of range", who,
                            path);
    return TG_OK;
}

void tg_tensor_dataset_set_pos(tg_tensor_dataset *d, const tg_data_pos *pos)
{
    /* the buffers exist (the options match: tg_tensor_dataset_check_pos),
       or are made now by the caller before committing */
    d->opts.seed = pos->opts.seed;
    d->rng = pos->epoch_rng;
    d->in_epoch = false;
    d->epoch = pos->epoch - 1;
    if (pos->in_epoch) {
        start_epoch(d); /* the epoch's order, from the rng it started with */
        d->pos = pos->pos;
        d->number = pos->number;
    }
    d->rng = pos->rng;
    d->in_epoch = pos->in_epoch;
    d->epoch = pos->epoch;
}
