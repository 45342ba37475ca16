/* Layers of convolutional networks: convolutions (nn.Conv1d, nn.Conv2d,
   nn.ConvTranspose2d), normalisation (nn.BatchNorm1d/2d, nn.LayerNorm,
   nn.GroupNorm, nn.RMSNorm), dropout (nn.Dropout, nn.Dropout2d), and the
   model summary.

   Each init registers the layer's parameters and buffers on a tg_params
   under PyTorch's state-dict names ("conv1.weight", "bn1.running_mean",
   ...), all of them or none (only running out of memory midway leaves the
   ones added), and initialises them as the PyTorch module does by default,
   from a tapegrad tg_rng. Each forward runs the functional op; batch norm
   and dropout read the training switch of the tg_params they were
   registered on (tg_params_set_training). */
#include "core/internal.h"
#include "ops/ops_internal.h" /* tg_batch_norm_counted */

#include <inttypes.h>
#include <stdio.h>

/* ------------------------------------------------------- registration */

enum { SLOT_PARAM, SLOT_BUFFER, SLOT_INT_BUFFER };

/* One tensor a layer registers: "<name>.<suffix>" of a shape and kind. */
typedef struct {
    const char *suffix;
    int kind;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    tg_tensor **out;
} slot;

#define NAME_MAX_LEN 256

/* Registers every slot on p, all or none: the names are checked (free,
   UTF-8, not too long) and the shapes valid before anything is added, so
   that only running out of memory can stop it midway. */
static int register_slots(const char *fn, tg_params *p, const char *name, slot *s, int n)
{
    char full[8][NAME_MAX_LEN];
    for (int i = 0; i < n; i++) {
        int k = snprintf(full[i], sizeof full[i], "%s.%s", name, s[i].suffix);
        if (k < 0 || (size_t)k >= sizeof full[i])
            return tg_set_error(TG_ERR_INVALID, "%s: the name '%.40s...' is too long", fn, name);
        if (tg_params_get(p, full[i]))
            return tg_set_error(TG_ERR_INVALID, "%s: '%s' exists in the registry", fn, full[i]);
        int64_t size;
        int st = tg_params_check(fn, full[i], s[i].ndim, s[i].shape, &size);
        if (st != TG_OK) return st;
    }
    for (int i = 0; i < n; i++) {
        tg_tensor *x = s[i].kind == SLOT_PARAM    ? tg_params_add(p, full[i], s[i].ndim, s[i].shape)
                       : s[i].kind == SLOT_BUFFER ? tg_params_add_buffer(p, full[i], s[i].ndim, s[i].shape)
                                                  : tg_params_add_int_buffer(p, full[i], s[i].ndim, s[i].shape);
        if (!x) return TG_ERR_NOMEM; /* the message is tg_params_add's */
        *s[i].out = x;
    }
    return TG_OK;
}

/* The common checks of an init: the layer, the registry and the name. */
static int check_init(const char *fn, const void *l, const tg_params *p, const char *name)
{
    if (!l || !p || !name || !*name)
        return tg_set_error(TG_ERR_INVALID, "%s: %s is NULL or empty", fn,
                            !l ? "the layer" : !p ? "params" : "name");
    return TG_OK;
}

/* A layer's forward: the tape, the layer initialised. */
static bool check_forward(tg_tape *t, const char *fn, const void *l, bool ready)
{
    if (!t) {
        tg_no_tape(fn);
        return false;
    }
    if (!l || !ready) {
        tg_tape_set_error(t, "%s: the layer is NULL or not initialised", fn);
        return false;
    }
    return true;
}

/* -------------------------------------------------------- convolutions */

/* The options of a convolution layer, checked where the op would only
   find them wrong at its first forward: the channels divisible by groups,
   and the options' signs. */
static int check_conv(const char *fn, int dims, bool transposed, int64_t in, int64_t out,
                      const int64_t k[2], const tg_conv_opts *o)
{
    int64_t g = o->groups ? o->groups : 1;
    if (in < 1 || out < 1 || k[0] < 1 || k[1] < 1)
        return tg_set_error(TG_ERR_INVALID,
                            "%s: needs channels and kernel sizes of at least 1, got %" PRId64
                            " -> %" PRId64 " with kernel %" PRId64 " x %" PRId64,
                            fn, in, out, k[0], k[1]);
    if (g < 1 || in % g || out % g)
        return tg_set_error(TG_ERR_INVALID,
                            "%s: in_channels %" PRId64 " and out_channels %" PRId64
                            " must both be divisible by groups = %" PRId64,
                            fn, in, out, g);
    for (int d = 0; d < dims; d++)
        if (o->stride[d] < 0 || o->padding[d] < 0 || o->dilation[d] < 0 ||
            o->output_padding[d] < 0)
            return tg_set_error(TG_ERR_INVALID,
                                "%s: stride, padding, dilation and output_padding must not be "
                                "negative",
                                fn);
    if (o->padding_same && (transposed || o->stride[0] > 1 || (dims == 2 && o->stride[1] > 1)))
        return tg_set_error(TG_ERR_INVALID, "%s: padding \"same\" needs stride 1 and a "
                                            "convolution that is not transposed",
                            fn);
    return TG_OK;
}

static int conv_init(const char *fn, tg_conv_layer *l, tg_params *p, const char *name, int dims,
                     bool transposed, int64_t in, int64_t out, const int64_t k[2],
                     const tg_conv_opts *opts, bool bias, tg_rng *r)
{
    int st = check_init(fn, l, p, name);
    if (st != TG_OK) return st;
    memset(l, 0, sizeof *l);
    tg_conv_opts o = opts ? *opts : (tg_conv_opts){0};
    if ((st = check_conv(fn, dims, transposed, in, out, k, &o)) != TG_OK) return st;
    int64_t g = o.groups ? o.groups : 1;
    /* PyTorch's layouts: [out, in/groups, k...], transposed [in, out/groups, k...] */
    slot s[2] = {{"weight", SLOT_PARAM, dims + 2, {0}, &l->weight},
                 {"bias", SLOT_PARAM, 1, {out}, &l->bias}};
    s[0].shape[0] = transposed ? in : out;
    s[0].shape[1] = transposed ? out / g : in / g;
    s[0].shape[2] = k[0];
    if (dims == 2) s[0].shape[3] = k[1];
    if ((st = register_slots(fn, p, name, s, bias ? 2 : 1)) != TG_OK) return st;
    l->in_channels = in;
    l->out_channels = out;
    l->kernel[0] = k[0];
    l->kernel[1] = dims == 2 ? k[1] : 1;
    l->opts = o;
    l->dims = dims;
    l->transposed = transposed;
    /* nn.Conv's reset_parameters: kaiming_uniform(a = √5) on the weight,
       U(±1/√fan_in) for it and the bias, fan_in = weight.shape[1]·k...:
       the same as nn.Linear's */
    return r ? tg_init_linear_default(l->weight, l->bias, r) : TG_OK;
}

int tg_conv1d_layer_init(tg_conv_layer *l, tg_params *p, const char *name, int64_t in_channels,
                         int64_t out_channels, int64_t kernel, const tg_conv_opts *opts,
                         bool bias, tg_rng *r)
{
    const int64_t k[2] = {kernel, 1};
    return conv_init("tg_conv1d_layer_init", l, p, name, 1, false, in_channels, out_channels, k,
                     opts, bias, r);
}

int tg_conv2d_layer_init(tg_conv_layer *l, tg_params *p, const char *name, int64_t in_channels,
                         int64_t out_channels, int64_t kernel_h, int64_t kernel_w,
                         const tg_conv_opts *opts, bool bias, tg_rng *r)
{
    const int64_t k[2] = {kernel_h, kernel_w};
    return conv_init("tg_conv2d_layer_init", l, p, name, 2, false, in_channels, out_channels, k,
                     opts, bias, r);
}

int tg_conv_transpose2d_layer_init(tg_conv_layer *l, tg_params *p, const char *name,
                                   int64_t in_channels, int64_t out_channels, int64_t kernel_h,
                                   int64_t kernel_w, const tg_conv_opts *opts, bool bias,
                                   tg_rng *r)
{
    const int64_t k[2] = {kernel_h, kernel_w};
    return conv_init("tg_conv_transpose2d_layer_init", l, p, name, 2, true, in_channels,
                     out_channels, k, opts, bias, r);
}

tg_tensor *tg_conv_layer_forward(tg_tape *t, const tg_conv_layer *l, tg_tensor *x)
{
    if (!check_forward(t, "tg_conv_layer_forward", l, l && l->weight)) return NULL;
    if (l->transposed)
        return l->dims == 1 ? tg_conv_transpose1d(t, x, l->weight, l->bias, &l->opts)
                            : tg_conv_transpose2d(t, x, l->weight, l->bias, &l->opts);
    return l->dims == 1 ? tg_conv1d(t, x, l->weight, l->bias, &l->opts)
                        : tg_conv2d(t, x, l->weight, l->bias, &l->opts);
}

/* ----------------------------------------------------------- batch norm */

static int bn_init(const char *fn, tg_batchnorm *l, tg_params *p, const char *name, int dims,
                   int64_t C, const tg_batchnorm_opts *opts)
{
    int st = check_init(fn, l, p, name);
    if (st != TG_OK) return st;
    memset(l, 0, sizeof *l);
    tg_batchnorm_opts o = opts ? *opts : TG_BATCHNORM_OPTS_DEFAULT;
    if (C < 1)
        return tg_set_error(TG_ERR_INVALID, "%s: num_features must be at least 1, got %" PRId64,
                            fn, C);
    if (!(o.eps >= 0) || !isfinite(o.eps) || !isfinite(o.momentum))
        return tg_set_error(TG_ERR_INVALID,
                            "%s: eps must be finite and >= 0 and momentum finite, got eps=%g "
                            "momentum=%g",
                            fn, o.eps, o.momentum);
    /* PyTorch's order in the state dict */
    slot s[5] = {{"weight", SLOT_PARAM, 1, {C}, &l->weight},
                 {"bias", SLOT_PARAM, 1, {C}, &l->bias},
                 {"running_mean", SLOT_BUFFER, 1, {C}, &l->running_mean},
                 {"running_var", SLOT_BUFFER, 1, {C}, &l->running_var},
                 {"num_batches_tracked", SLOT_INT_BUFFER, 0, {0}, &l->num_batches_tracked}};
    slot *first = o.affine ? s : s + 2;
    int n = (o.affine ? 2 : 0) + (o.track_running_stats ? 3 : 0);
    if ((st = register_slots(fn, p, name, first, n)) != TG_OK) return st;
    /* weight ones, bias zeros, running_mean zeros, running_var ones */
    if (l->weight) tg_init_constant(l->weight, 1);
    if (l->running_var) tg_init_constant(l->running_var, 1);
    l->num_features = C;
    l->dims = dims;
    l->opts = o;
    l->params = p;
    return TG_OK;
}

int tg_batchnorm1d_init(tg_batchnorm *l, tg_params *p, const char *name, int64_t num_features,
                        const tg_batchnorm_opts *opts)
{
    return bn_init("tg_batchnorm1d_init", l, p, name, 1, num_features, opts);
}

int tg_batchnorm2d_init(tg_batchnorm *l, tg_params *p, const char *name, int64_t num_features,
                        const tg_batchnorm_opts *opts)
{
    return bn_init("tg_batchnorm2d_init", l, p, name, 2, num_features, opts);
}

/* nn.BatchNorm's forward: in training with running statistics, count the
   batch and update them (momentum, or the cumulative average 1/count);
   the batch's statistics in training or without running ones, the running
   ones in evaluation. */
tg_tensor *tg_batchnorm_forward(tg_tape *t, const tg_batchnorm *l, tg_tensor *x)
{
    const char *fn = "tg_batchnorm_forward";
    if (!check_forward(t, fn, l, l && l->params)) return NULL;
    if (!x) return tg_null_input(t, "batchnorm_forward");
    bool rank_ok = l->dims == 1 ? x->ndim == 2 || x->ndim == 3 : x->ndim == 4;
    if (!rank_ok) {
        char sx[96];
        tg_tape_set_error(t, "%s: BatchNorm%dd needs input %s, got %s", fn, l->dims,
                          l->dims == 1 ? "[N, C] or [N, C, L]" : "[N, C, H, W]",
                          tg_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    bool training = tg_params_training(l->params), track = l->running_mean != NULL;
    /* the op counts the batch (and takes the cumulative average's momentum
       from the count): a replay counts again, as a new recording would */
    return tg_batch_norm_counted(t, x, (!training || track) ? l->running_mean : NULL,
                                 (!training || track) ? l->running_var : NULL, l->weight,
                                 l->bias, training || !track, l->opts.momentum, l->opts.eps,
                                 track ? l->num_batches_tracked : NULL,
                                 l->opts.cumulative_average);
}

/* ---------------------------------------------- layer, group and rms norm */

/* normalized_shape of a layer: 1..TG_MAX_DIMS dimensions of at least 1 */
static int check_shape(const char *fn, int ndim, const int64_t *shape, double eps, bool auto_ok)
{
    if (ndim < 1 || ndim > TG_MAX_DIMS || !shape)
        return tg_set_error(TG_ERR_INVALID, "%s: normalized_shape needs 1..%d dimensions, got %d",
                            fn, TG_MAX_DIMS, ndim);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 1) {
            char b[160];
            return tg_set_error(TG_ERR_INVALID, "%s: normalized_shape %s has a dimension below 1",
                                fn, tg_dims_str(ndim, shape, b, sizeof b));
        }
    if (!(auto_ok && eps == TG_RMS_NORM_EPS_AUTO) && (!(eps >= 0) || !isfinite(eps)))
        return tg_set_error(TG_ERR_INVALID, "%s: eps must be finite and >= 0, got %g", fn, eps);
    return TG_OK;
}

int tg_layernorm_init(tg_layernorm *l, tg_params *p, const char *name, int ndim,
                      const int64_t *normalized_shape, bool elementwise_affine, double eps)
{
    const char *fn = "tg_layernorm_init";
    int st = check_init(fn, l, p, name);
    if (st != TG_OK) return st;
    memset(l, 0, sizeof *l);
    if ((st = check_shape(fn, ndim, normalized_shape, eps, false)) != TG_OK) return st;
    slot s[2] = {{"weight", SLOT_PARAM, ndim, {0}, &l->weight},
                 {"bias", SLOT_PARAM, ndim, {0}, &l->bias}};
    for (int i = 0; i < ndim; i++) s[0].shape[i] = s[1].shape[i] = normalized_shape[i];
    if (elementwise_affine && (st = register_slots(fn, p, name, s, 2)) != TG_OK) return st;
    if (l->weight) tg_init_constant(l->weight, 1);
    l->ndim = ndim;
    for (int i = 0; i < ndim; i++) l->shape[i] = normalized_shape[i];
    l->eps = eps;
    return TG_OK;
}

tg_tensor *tg_layernorm_forward(tg_tape *t, const tg_layernorm *l, tg_tensor *x)
{
    if (!check_forward(t, "tg_layernorm_forward", l, l && l->ndim > 0)) return NULL;
    return tg_layer_norm(t, x, l->ndim, l->shape, l->weight, l->bias, l->eps);
}

int tg_groupnorm_init(tg_groupnorm *l, tg_params *p, const char *name, int64_t num_groups,
                      int64_t num_channels, bool affine, double eps)
{
    const char *fn = "tg_groupnorm_init";
    int st = check_init(fn, l, p, name);
    if (st != TG_OK) return st;
    memset(l, 0, sizeof *l);
    if (num_groups < 1 || num_channels < 1 || num_channels % num_groups)
        return tg_set_error(TG_ERR_INVALID,
                            "%s: num_channels %" PRId64 " must be divisible by num_groups %" PRId64
                            " (both at least 1)",
                            fn, num_channels, num_groups);
    if ((st = check_shape(fn, 1, &num_channels, eps, false)) != TG_OK) return st;
    slot s[2] = {{"weight", SLOT_PARAM, 1, {num_channels}, &l->weight},
                 {"bias", SLOT_PARAM, 1, {num_channels}, &l->bias}};
    if (affine && (st = register_slots(fn, p, name, s, 2)) != TG_OK) return st;
    if (l->weight) tg_init_constant(l->weight, 1);
    l->num_groups = num_groups;
    l->num_channels = num_channels;
    l->eps = eps;
    return TG_OK;
}

tg_tensor *tg_groupnorm_forward(tg_tape *t, const tg_groupnorm *l, tg_tensor *x)
{
    if (!check_forward(t, "tg_groupnorm_forward", l, l && l->num_groups > 0)) return NULL;
    if (x && (x->ndim < 2 || x->shape[1] != l->num_channels)) {
        char sx[96];
        tg_tape_set_error(t, "tg_groupnorm_forward: the layer has %" PRId64
                             " channels, the input %s has %s",
                          l->num_channels, tg_shape_str(x, sx, sizeof sx),
                          x->ndim < 2 ? "no channel axis" : "another number");
        return NULL;
    }
    return tg_group_norm(t, x, l->num_groups, l->weight, l->bias, l->eps);
}

int tg_rmsnorm_init(tg_rmsnorm *l, tg_params *p, const char *name, int ndim,
                    const int64_t *normalized_shape, bool elementwise_affine, double eps)
{
    const char *fn = "tg_rmsnorm_init";
    int st = check_init(fn, l, p, name);
    if (st != TG_OK) return st;
    memset(l, 0, sizeof *l);
    if ((st = check_shape(fn, ndim, normalized_shape, eps, true)) != TG_OK) return st;
    slot s[1] = {{"weight", SLOT_PARAM, ndim, {0}, &l->weight}};
    for (int i = 0; i < ndim; i++) s[0].shape[i] = normalized_shape[i];
    if (elementwise_affine && (st = register_slots(fn, p, name, s, 1)) != TG_OK) return st;
    if (l->weight) tg_init_constant(l->weight, 1);
    l->ndim = ndim;
    for (int i = 0; i < ndim; i++) l->shape[i] = normalized_shape[i];
    l->eps = eps;
    return TG_OK;
}

tg_tensor *tg_rmsnorm_forward(tg_tape *t, const tg_rmsnorm *l, tg_tensor *x)
{
    if (!check_forward(t, "tg_rmsnorm_forward", l, l && l->ndim > 0)) return NULL;
    return tg_rms_norm(t, x, l->ndim, l->shape, l->weight, l->eps);
}

/* -------------------------------------------------------------- dropout */

static int dropout_init(const char *fn, tg_dropout_layer *l, const tg_params *p, double prob,
                        tg_rng *r, bool channels)
{
    if (!l || !p)
        return tg_set_error(TG_ERR_INVALID, "%s: %s is NULL", fn, !l ? "the layer" : "params");
    memset(l, 0, sizeof *l);
    if (!(prob >= 0 && prob <= 1))
        return tg_set_error(TG_ERR_INVALID, "%s: p must be between 0 and 1, got %g", fn, prob);
    if (!r && prob > 0 && prob < 1)
        return tg_set_error(TG_ERR_INVALID, "%s: the rng is NULL", fn);
    l->p = prob;
    l->channels = channels;
    l->rng = r;
    l->params = p;
    return TG_OK;
}

int tg_dropout_layer_init(tg_dropout_layer *l, const tg_params *p, double prob, tg_rng *r)
{
    return dropout_init("tg_dropout_layer_init", l, p, prob, r, false);
}

int tg_dropout2d_layer_init(tg_dropout_layer *l, const tg_params *p, double prob, tg_rng *r)
{
    return dropout_init("tg_dropout2d_layer_init", l, p, prob, r, true);
}

tg_tensor *tg_dropout_layer_forward(tg_tape *t, const tg_dropout_layer *l, tg_tensor *x)
{
    if (!check_forward(t, "tg_dropout_layer_forward", l, l && l->params)) return NULL;
    bool training = tg_params_training(l->params);
    return l->channels ? tg_dropout2d(t, x, l->p, training, l->rng)
                       : tg_dropout(t, x, l->p, training, l->rng);
}

/* -------------------------------------------------------------- summary */

int tg_params_summary(const tg_params *p, FILE *f)
{
    if (!p || !f)
        return tg_set_error(TG_ERR_INVALID, "tg_params_summary: %s is NULL",
                            !p ? "params" : "the file");
    size_t width = 4;
    for (size_t i = 0; i < tg_params_state_count(p); i++) {
        size_t n = strlen(tg_params_state_at(p, i)->name);
        if (n > width) width = n;
    }
    if (width > 60) width = 60;
    int w = (int)width;
    bool ok = fprintf(f, "%-*s  %-14s  %-14s %10s\n", w, "name", "kind", "shape", "count") > 0;
    for (size_t i = 0; ok && i < tg_params_state_count(p); i++) {
        const tg_tensor *x = tg_params_state_at(p, i);
        char shape[160];
        tg_shape_str(x, shape, sizeof shape);
        const char *kind = !(x->flags & TG_BUFFER) ? "param"
                           : (x->flags & TG_INT64) ? "buffer (int64)"
                                                   : "buffer";
        ok = fprintf(f, "%-*s  %-14s  %-14s %10" PRId64 "\n", w, x->name, kind, shape, x->size) > 0;
    }
    if (ok) {
        size_t np = tg_params_count(p), nb = tg_params_buffer_count(p);
        int64_t vp = tg_params_numel(p);
        ok = fprintf(f, "%zu parameter%s, %" PRId64 " values, %.2f MB as %s (trained)\n"
                        "%zu buffer%s, %" PRId64 " values (not trained)\n"
                        "mode: %s\n",
                     np, np == 1 ? "" : "s", vp, (double)vp * (double)sizeof(tg_real) / 1e6,
                     tg_real_name(), nb, nb == 1 ? "" : "s", tg_params_buffer_numel(p),
                     tg_params_training(p) ? "training" : "evaluation") > 0;
    }
    if (!ok) return tg_set_error(TG_ERR_IO, "tg_params_summary: write error");
    return tg_write_status(f, "tg_params_summary");
}
