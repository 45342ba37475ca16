/* nn: initialisers over tensors (torch.nn.init), linear layers registered on
   a tg_params under PyTorch's state-dict names, and a small MLP helper.

   Every initialiser draws its values in double from a tg_rng, one draw per
   element in row-major order, and rounds to tg_real at the end: a seed gives
   the same weights on every machine and (to float precision) in both builds. */
#include "core/internal.h"

#include <stdio.h>

/* ------------------------------------------------------------- helpers */

static int check_tensor(const char *fn, const tg_tensor *x)
{
    if (!x) return tg_set_error(TG_ERR_INVALID, "%s: the tensor is NULL", fn);
    if (!x->data && x->size > 0)
        return tg_set_error(TG_ERR_INVALID, "%s: the tensor has no data", fn);
    return TG_OK;
}

static int check_rng(const char *fn, const tg_rng *r)
{
    return r ? TG_OK : tg_set_error(TG_ERR_INVALID, "%s: the rng is NULL", fn);
}

/* Fans as torch.nn.init._calculate_fan_in_and_fan_out: for a tensor of at
   least 2 dimensions [out, in, k1, k2, ...], receptive = k1·k2·...,
   fan_in = in·receptive, fan_out = out·receptive. */
int tg_init_fans(const tg_tensor *x, int64_t *fan_in, int64_t *fan_out)
{
    if (!x) return tg_set_error(TG_ERR_INVALID, "tg_init_fans: the tensor is NULL");
    if (x->ndim < 2) {
        char buf[128];
        return tg_set_error(TG_ERR_SHAPE,
                            "tg_init_fans: fan in and fan out need at least 2 dimensions, got %s",
                            tg_shape_str(x, buf, sizeof buf));
    }
    int64_t receptive = 1;
    for (int i = 2; i < x->ndim; i++) receptive *= x->shape[i];
    if (fan_in) *fan_in = x->shape[1] * receptive;
    if (fan_out) *fan_out = x->shape[0] * receptive;
    return TG_OK;
}

/* torch.nn.init.calculate_gain. */
double tg_init_gain(tg_nonlinearity nl, double param)
{
    switch (nl) {
    case TG_NL_LINEAR:
    case TG_NL_SIGMOID: return 1.0;
    case TG_NL_TANH: return 5.0 / 3;
    case TG_NL_RELU: return sqrt(2.0);
    case TG_NL_LEAKY_RELU: return sqrt(2.0 / (1 + param * param));
    case TG_NL_SELU: return 3.0 / 4;
    }
    return 1.0;
}

static bool valid_nl(tg_nonlinearity nl)
{
    return nl == TG_NL_LINEAR || nl == TG_NL_SIGMOID || nl == TG_NL_TANH || nl == TG_NL_RELU ||
           nl == TG_NL_LEAKY_RELU || nl == TG_NL_SELU;
}

/* --------------------------------------------------------- initialisers */

/* x ~ U(a, b): a + (b − a)·u, u uniform in [0, 1) (torch's uniform_). */
int tg_init_uniform(tg_tensor *x, double a, double b, tg_rng *r)
{
    int st = check_tensor("tg_init_uniform", x);
    if (st == TG_OK) st = check_rng("tg_init_uniform", r);
    if (st != TG_OK) return st;
    if (!(a <= b) || !isfinite(a) || !isfinite(b))
        return tg_set_error(TG_ERR_INVALID, "tg_init_uniform: needs finite a <= b, got a=%g b=%g",
                            a, b);
    for (int64_t i = 0; i < x->size; i++) x->data[i] = (tg_real)(a + (b - a) * tg_rng_uniform(r));
    return TG_OK;
}

/* x ~ N(mean, std²): mean + std·z (torch's normal_). */
int tg_init_normal(tg_tensor *x, double mean, double std, tg_rng *r)
{
    int st = check_tensor("tg_init_normal", x);
    if (st == TG_OK) st = check_rng("tg_init_normal", r);
    if (st != TG_OK) return st;
    if (!(std >= 0) || !isfinite(std) || !isfinite(mean))
        return tg_set_error(TG_ERR_INVALID,
                            "tg_init_normal: needs a finite mean and std >= 0, got mean=%g std=%g",
                            mean, std);
    for (int64_t i = 0; i < x->size; i++) x->data[i] = (tg_real)(mean + std * tg_rng_normal(r));
    return TG_OK;
}

int tg_init_constant(tg_tensor *x, double value)
{
    int st = check_tensor("tg_init_constant", x);
    if (st != TG_OK) return st;
    for (int64_t i = 0; i < x->size; i++) x->data[i] = (tg_real)value;
    return TG_OK;
}

/* Xavier/Glorot: std = gain·√(2 / (fan_in + fan_out)); the uniform form
   uses U(−a, a) with a = √3·std (the same variance). */
int tg_init_xavier_uniform(tg_tensor *x, double gain, tg_rng *r)
{
    int64_t fi, fo;
    int st = check_tensor("tg_init_xavier_uniform", x);
    if (st == TG_OK) st = tg_init_fans(x, &fi, &fo);
    if (st != TG_OK) return st;
    double std = gain * sqrt(2.0 / (double)(fi + fo));
    double a = sqrt(3.0) * std;
    return tg_init_uniform(x, -a, a, r);
}

int tg_init_xavier_normal(tg_tensor *x, double gain, tg_rng *r)
{
    int64_t fi, fo;
    int st = check_tensor("tg_init_xavier_normal", x);
    if (st == TG_OK) st = tg_init_fans(x, &fi, &fo);
    if (st != TG_OK) return st;
    double std = gain * sqrt(2.0 / (double)(fi + fo));
    return tg_init_normal(x, 0, std, r);
}

/* Kaiming/He: std = gain / √fan, gain = tg_init_gain(nl, a); the uniform
   form uses U(−b, b) with b = √3·std. */
static int kaiming_std(const char *fn, const tg_tensor *x, double a, tg_fan_mode mode,
                       tg_nonlinearity nl, double *std)
{
    int64_t fi, fo;
    int st = check_tensor(fn, x);
    if (st == TG_OK) st = tg_init_fans(x, &fi, &fo);
    if (st != TG_OK) return st;
    if (mode != TG_FAN_IN && mode != TG_FAN_OUT)
        return tg_set_error(TG_ERR_INVALID, "%s: mode must be TG_FAN_IN or TG_FAN_OUT", fn);
    if (!valid_nl(nl)) return tg_set_error(TG_ERR_INVALID, "%s: unknown nonlinearity %d", fn, nl);
    int64_t fan = mode == TG_FAN_IN ? fi : fo;
    *std = tg_init_gain(nl, a) / sqrt((double)fan);
    return TG_OK;
}

int tg_init_kaiming_uniform(tg_tensor *x, double a, tg_fan_mode mode, tg_nonlinearity nl,
                            tg_rng *r)
{
    double std = 0;
    int st = kaiming_std("tg_init_kaiming_uniform", x, a, mode, nl, &std);
    if (st != TG_OK) return st;
    double bound = sqrt(3.0) * std;
    return tg_init_uniform(x, -bound, bound, r);
}

int tg_init_kaiming_normal(tg_tensor *x, double a, tg_fan_mode mode, tg_nonlinearity nl,
                           tg_rng *r)
{
    double std = 0;
    int st = kaiming_std("tg_init_kaiming_normal", x, a, mode, nl, &std);
    if (st != TG_OK) return st;
    return tg_init_normal(x, 0, std, r);
}

/* nn.Linear.reset_parameters: weight kaiming_uniform(a=√5), which is
   U(−1/√in, 1/√in); bias U(−1/√in, 1/√in) with in = fan_in of the weight. */
int tg_init_linear_default(tg_tensor *weight, tg_tensor *bias, tg_rng *r)
{
    int64_t fi;
    int st = check_tensor("tg_init_linear_default", weight);
    if (st == TG_OK) st = tg_init_fans(weight, &fi, NULL);
    if (st == TG_OK) st = check_rng("tg_init_linear_default", r);
    if (st != TG_OK) return st;
    if (bias && (st = check_tensor("tg_init_linear_default", bias)) != TG_OK) return st;
    st = tg_init_kaiming_uniform(weight, sqrt(5.0), TG_FAN_IN, TG_NL_LEAKY_RELU, r);
    if (st != TG_OK || !bias) return st;
    double bound = fi > 0 ? 1 / sqrt((double)fi) : 0;
    return tg_init_uniform(bias, -bound, bound, r);
}

/* --------------------------------------------------------------- layers */

int tg_linear_layer_init(tg_linear_layer *l, tg_params *p, const char *name, int64_t in,
                         int64_t out, bool bias, tg_rng *r)
{
    if (!l || !p || !name || !*name)
        return tg_set_error(TG_ERR_INVALID, "tg_linear_layer_init: %s is NULL or empty",
                            !l ? "the layer" : !p ? "params" : "name");
    memset(l, 0, sizeof *l);
    if (in <= 0 || out <= 0)
        return tg_set_error(TG_ERR_INVALID,
                            "tg_linear_layer_init: '%s' needs in > 0 and out > 0, got %lld -> %lld",
                            name, (long long)in, (long long)out);
    char wname[256], bname[256];
    int nw = snprintf(wname, sizeof wname, "%s.weight", name);
    int nb = snprintf(bname, sizeof bname, "%s.bias", name);
    if (nw < 0 || nb < 0 || (size_t)nw >= sizeof wname || (size_t)nb >= sizeof bname)
        return tg_set_error(TG_ERR_INVALID, "tg_linear_layer_init: the name '%.40s...' is too long",
                            name);
    if (tg_params_get(p, wname) || (bias && tg_params_get(p, bname)))
        return tg_set_error(TG_ERR_INVALID, "tg_linear_layer_init: a parameter '%s' exists",
                            tg_params_get(p, wname) ? wname : bname);
    /* the weight's name and shape are what tg_params_add accepts (so are
       the bias's: a suffix of ASCII, and [out] is smaller) */
    int64_t size;
    int st = tg_params_check("tg_linear_layer_init", wname, TG_SHAPE(out, in), &size);
    if (st != TG_OK) return st;
    /* both names are free and both shapes valid, so only running out of
       memory can fail below; then the weight stays registered (zero) and
       the error is returned. */
    tg_tensor *w = tg_params_add(p, wname, TG_SHAPE(out, in));
    if (!w) return TG_ERR_NOMEM;
    tg_tensor *b = NULL;
    if (bias && !(b = tg_params_add(p, bname, TG_SHAPE(out)))) return TG_ERR_NOMEM;
    l->weight = w;
    l->bias = b;
    l->in = in;
    l->out = out;
    /* the data pointers are current right after adding (later adds move
       the block, but copy the values along) */
    return r ? tg_init_linear_default(w, b, r) : TG_OK;
}

tg_tensor *tg_linear_layer_forward(tg_tape *t, const tg_linear_layer *l, tg_tensor *x)
{
    if (!t) return tg_no_tape(__func__);
    if (!l || !l->weight) {
        tg_tape_set_error(t, "tg_linear_layer_forward: the layer is NULL or not initialised");
        return NULL;
    }
    return tg_linear(t, x, l->weight, l->bias);
}

int tg_mlp_init(tg_mlp *m, tg_params *p, const char *prefix, int n_sizes, const int64_t *sizes,
                tg_mlp_activation act, tg_rng *r)
{
    if (!m || !p || !prefix || !sizes)
        return tg_set_error(TG_ERR_INVALID, "tg_mlp_init: an argument is NULL");
    memset(m, 0, sizeof *m);
    if (n_sizes < 2 || n_sizes > TG_MLP_MAX_LAYERS + 1)
        return tg_set_error(TG_ERR_INVALID, "tg_mlp_init: needs 2..%d sizes (1..%d layers), got %d",
                            TG_MLP_MAX_LAYERS + 1, TG_MLP_MAX_LAYERS, n_sizes);
    for (int i = 0; i < n_sizes - 1; i++) {
        char name[200];
        snprintf(name, sizeof name, "%.180s%d", prefix, i + 1);
        int st = tg_linear_layer_init(&m->layers[i], p, name, sizes[i], sizes[i + 1], true, r);
        if (st != TG_OK) return st;
        m->n_layers = i + 1;
    }
    m->act = act;
    return TG_OK;
}

tg_tensor *tg_mlp_forward(tg_tape *t, const tg_mlp *m, tg_tensor *x)
{
    if (!t) return tg_no_tape(__func__);
    if (!m || m->n_layers < 1) {
        tg_tape_set_error(t, "tg_mlp_forward: the MLP is NULL or has no layers");
        return NULL;
    }
    for (int i = 0; i < m->n_layers; i++) {
        x = tg_linear_layer_forward(t, &m->layers[i], x);
        if (x && m->act && i + 1 < m->n_layers) x = m->act(t, x);
        else if (x && !m->act) x = tg_act_apply(t, m->acts[i], x);
        if (!x) return NULL; /* the message is on the tape */
    }
    return x;
}

/* -------------------------------------------------- activations as data */

tg_tensor *tg_act_apply(tg_tape *t, tg_act a, tg_tensor *x)
{
    switch (a.kind) {
    case TG_ACT_NONE: return x;
    case TG_ACT_RELU: return tg_relu(t, x);
    case TG_ACT_LEAKY_RELU: return tg_leaky_relu(t, x, (tg_real)a.param);
    case TG_ACT_TANH: return tg_tanh(t, x);
    case TG_ACT_SIGMOID: return tg_sigmoid(t, x);
    case TG_ACT_GELU: return tg_gelu(t, x, TG_GELU_NONE);
    case TG_ACT_GELU_TANH: return tg_gelu(t, x, TG_GELU_TANH);
    case TG_ACT_SILU: return tg_silu(t, x);
    case TG_ACT_ELU: return tg_elu(t, x, (tg_real)a.param);
    case TG_ACT_SELU: return tg_selu(t, x);
    case TG_ACT_SOFTPLUS: return tg_softplus(t, x, (tg_real)a.param, 20);
    case TG_ACT_MISH: return tg_mish(t, x);
    }
    if (t) tg_tape_set_error(t, "tg_act_apply: unknown activation %d", (int)a.kind);
    return NULL;
}

const char *tg_act_str(tg_act a, char *buf, size_t len)
{
    static const char *const names[] = {"Identity", "ReLU", "LeakyReLU", "Tanh", "Sigmoid",
                                        "GELU", "GELU", "SiLU", "ELU", "SELU", "Softplus",
                                        "Mish"};
    if (!buf || !len) return buf;
    if ((unsigned)a.kind >= sizeof names / sizeof names[0]) snprintf(buf, len, "?");
    else if (a.kind == TG_ACT_GELU_TANH) snprintf(buf, len, "GELU(approximate='tanh')");
    else if (a.kind == TG_ACT_LEAKY_RELU || a.kind == TG_ACT_ELU || a.kind == TG_ACT_SOFTPLUS)
        snprintf(buf, len, "%s(%g)", names[a.kind], a.param);
    else snprintf(buf, len, "%s", names[a.kind]);
    return buf;
}

static bool valid_act(tg_act a)
{
    return a.kind >= TG_ACT_NONE && a.kind <= TG_ACT_MISH && isfinite(a.param) &&
           !(a.kind == TG_ACT_SOFTPLUS && a.param == 0);
}

int tg_mlp_init_ex(tg_mlp *m, tg_params *p, int n_sizes, const int64_t *sizes,
                   const tg_mlp_opts *opts, tg_rng *r)
{
    const char *fn = "tg_mlp_init_ex";
    if (!m || !p || !sizes) return tg_set_error(TG_ERR_INVALID, "%s: an argument is NULL", fn);
    memset(m, 0, sizeof *m);
    tg_mlp_opts o = opts ? *opts : (tg_mlp_opts){0};
    if (n_sizes < 2 || n_sizes > TG_MLP_MAX_LAYERS + 1)
        return tg_set_error(TG_ERR_INVALID, "%s: needs 2..%d sizes (1..%d layers), got %d", fn,
                            TG_MLP_MAX_LAYERS + 1, TG_MLP_MAX_LAYERS, n_sizes);
    const int layers = n_sizes - 1;
    tg_act acts[TG_MLP_MAX_LAYERS];
    for (int i = 0; i < layers; i++) {
        acts[i] = i + 1 == layers ? o.output : o.acts ? o.acts[i] : o.act;
        if (!valid_act(acts[i]))
            return tg_set_error(TG_ERR_INVALID, "%s: the activation after layer %d (kind %d, "
                                "parameter %g) is not valid", fn, i + 1, (int)acts[i].kind,
                                acts[i].param);
    }
    const char *prefix = o.prefix ? o.prefix : o.sequential ? "" : "fc";
    int module = 0; /* nn.Sequential's index of the next module */
    for (int i = 0; i < layers; i++) {
        char name[200];
        snprintf(name, sizeof name, "%.180s%d", prefix, o.sequential ? module : i + 1);
        int st = tg_linear_layer_init(&m->layers[i], p, name, sizes[i], sizes[i + 1], !o.no_bias,
                                      r);
        if (st != TG_OK) return st;
        m->acts[i] = acts[i];
        m->n_layers = i + 1;
        module += 1 + (acts[i].kind != TG_ACT_NONE);
    }
    return TG_OK;
}

/* ------------------------------------------------------- data parallel */

/* Shard r of s takes [n·r/s, n·(r+1)/s): contiguous, in rank order, sizes
   within one of each other. n·r fits in 128 bits, not always in 64: the
   quotient and remainder are taken apart. */
int tg_dp_shard(int64_t n, int rank, int size, int64_t *begin, int64_t *count)
{
    if (size < 1 || rank < 0 || rank >= size || n < 0 || !begin || !count)
        return tg_set_error(TG_ERR_INVALID, "tg_dp_shard: rank %d of %d processes over %lld "
                            "samples", rank, size, (long long)n);
    int64_t q = n / size, r = n % size;
    int64_t a = q * rank + r * rank / size, b = q * (rank + 1) + r * (rank + 1) / size;
    *begin = a;
    *count = b - a;
    return TG_OK;
}
