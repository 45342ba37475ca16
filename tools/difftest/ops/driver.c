/* Differential-test driver for tapegrad ops (double build).
 * Reads cases from stdin, writes results to stdout.
 * Case format (whitespace separated tokens, one case per "CASE ... END"):
 *   CASE <id> <op>
 *   I <n> ints...
 *   R <n> reals...
 *   S <string-without-spaces>     (optional)
 *   T <req> <ndim> dims... data...   (tensor input; repeated)
 *   N                                 (a NULL tensor input slot)
 *   X <ndim> dims... data...         (index input; repeated)
 *   G <ndim> dims... data...         (grad of output k; one per float output)
 *   V <ndim> dims... data...         (direction for 2nd order, one per T in order)
 *   END
 * Output:
 *   CASE <id>
 *   ERR <msg>                     (op returned NULL)
 *   OUT k ndim dims data
 *   IOUT k ndim dims data
 *   GF i ndim dims data           (first grad, fast path)
 *   GC i ndim dims data           (first grad, create_graph path)
 *   GG i ndim dims data           (second order)
 *   GERR <stage> <msg>
 *   DONE
 */
#include <tapegrad.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXT 40
typedef struct {
    int ndim;
    int64_t shape[8];
    int64_t size;
    double *data;
} arr;
typedef struct {
    char id[64], op[64];
    int ni;
    int64_t I[64];
    int nr;
    double R[32];
    char S[256];
    int nt;
    int req[MAXT];
    int isnull[MAXT];
    arr T[MAXT];
    int nx;
    arr X[MAXT];
    int ng;
    arr G[MAXT];
    int nv;
    arr V[MAXT];
} Case;

static char tok[1 << 16];
static int next_tok(void) { return scanf("%65535s", tok) == 1; }
static int64_t rd_i(void) { next_tok(); return strtoll(tok, NULL, 10); }
static double rd_d(void) { next_tok(); return strtod(tok, NULL); }
static void rd_arr(arr *a)
{
    a->ndim = (int)rd_i();
    a->size = 1;
    for (int i = 0; i < a->ndim; i++) { a->shape[i] = rd_i(); a->size *= a->shape[i]; }
    a->data = malloc(sizeof(double) * (a->size ? a->size : 1));
    for (int64_t i = 0; i < a->size; i++) a->data[i] = rd_d();
}

static int read_case(Case *c)
{
    memset(c, 0, sizeof *c);
    if (!next_tok()) return 0;
    if (strcmp(tok, "CASE")) { fprintf(stderr, "bad token %s\n", tok); exit(2); }
    next_tok(); strcpy(c->id, tok);
    next_tok(); strcpy(c->op, tok);
    for (;;) {
        next_tok();
        if (!strcmp(tok, "END")) break;
        if (!strcmp(tok, "I")) {
            c->ni = (int)rd_i();
            for (int i = 0; i < c->ni; i++) c->I[i] = rd_i();
        } else if (!strcmp(tok, "R")) {
            c->nr = (int)rd_i();
            for (int i = 0; i < c->nr; i++) c->R[i] = rd_d();
        }
        else if (!strcmp(tok, "S")) { next_tok(); strcpy(c->S, tok); }
        else if (!strcmp(tok, "T")) { c->req[c->nt] = (int)rd_i(); rd_arr(&c->T[c->nt]); c->nt++; }
        else if (!strcmp(tok, "N")) { c->isnull[c->nt] = 1; c->nt++; }
        else if (!strcmp(tok, "X")) { rd_arr(&c->X[c->nx]); c->nx++; }
        else if (!strcmp(tok, "G")) { rd_arr(&c->G[c->ng]); c->ng++; }
        else if (!strcmp(tok, "V")) { rd_arr(&c->V[c->nv]); c->nv++; }
        else { fprintf(stderr, "bad tag %s\n", tok); exit(2); }
    }
    return 1;
}

static void pr_t(const char *tag, int k, int ndim, const int64_t *shape, int64_t size,
                 const double *d)
{
    printf("%s %d %d", tag, k, ndim);
    for (int i = 0; i < ndim; i++) printf(" %lld", (long long)shape[i]);
    for (int64_t i = 0; i < size; i++) printf(" %.17g", d ? d[i] : 0.0);
    printf("\n");
}
static void pr_idx(int k, const tg_index *x)
{
    printf("IOUT %d %d", k, x->ndim);
    for (int i = 0; i < x->ndim; i++) printf(" %lld", (long long)x->shape[i]);
    for (int64_t i = 0; i < x->size; i++) printf(" %lld", (long long)x->data[i]);
    printf("\n");
}

#define MAXO 64
typedef struct {
    tg_tape *t;
    Case *c;
    tg_tensor *in[MAXT]; /* tensor inputs (NULL for N) */
    tg_index *ix[MAXT];
    tg_tensor *out[MAXO];
    int nout;
    tg_index *iout[MAXO];
    int niout;
} Ctx;

#define T_(k) (x->in[k])
#define I_(k) (x->c->I[k])
#define R_(k) ((tg_real)x->c->R[k])
#define X_(k) (x->ix[k])
#define TT x->t
#define OUT(e) do { x->out[x->nout++] = (e); } while (0)

static int reduce_op(Ctx *x, const char *op)
{
    /* I: keepdim, naxes, axes... ; single-axis form if naxes==1 */
    bool kd = I_(0);
    int n = (int)I_(1);
    int axes[8];
    for (int i = 0; i < n; i++) axes[i] = (int)I_(2 + i);
    int ax = axes[0];
    tg_tensor *in = T_(0);
    tg_tensor *r = NULL;
    bool multi = strstr(op, "_axes") != NULL;
#define RED(name)                                                                          \
    if (!strncmp(op, #name, strlen(#name)) &&                                              \
        (op[strlen(#name)] == 0 || op[strlen(#name)] == '_')) {                            \
        r = multi ? tg_##name##_axes(TT, in, n, axes, kd) : tg_##name(TT, in, ax, kd);     \
        goto done;                                                                         \
    }
    RED(sum) RED(mean) RED(amax) RED(amin) RED(logsumexp)
#undef RED
    if (!strcmp(op, "max")) { r = tg_max(TT, in, ax, kd); goto done; }
    if (!strcmp(op, "min")) { r = tg_min(TT, in, ax, kd); goto done; }
    if (!strcmp(op, "prod")) { r = tg_prod(TT, in, ax, kd); goto done; }
    if (!strcmp(op, "var")) { r = tg_var(TT, in, ax, x->c->R[0], kd); goto done; }
    if (!strcmp(op, "var_axes")) { r = tg_var_axes(TT, in, n, axes, x->c->R[0], kd); goto done; }
    if (!strcmp(op, "std")) { r = tg_std(TT, in, ax, x->c->R[0], kd); goto done; }
    if (!strcmp(op, "std_axes")) { r = tg_std_axes(TT, in, n, axes, x->c->R[0], kd); goto done; }
    if (!strcmp(op, "norm")) { r = tg_norm(TT, in, x->c->R[0], ax, kd); goto done; }
    if (!strcmp(op, "norm_axes")) { r = tg_norm_axes(TT, in, x->c->R[0], n, axes, kd); goto done; }
    if (!strcmp(op, "max_dim") || !strcmp(op, "min_dim")) {
        tg_index *id = NULL;
        r = op[1] == 'a' ? tg_max_dim(TT, in, ax, kd, &id) : tg_min_dim(TT, in, ax, kd, &id);
        if (!r) return -1;
        OUT(r);
        x->iout[x->niout++] = id;
        return 0;
    }
    if (!strcmp(op, "argmax") || !strcmp(op, "argmin")) {
        tg_index *id = op[4] == 'a' ? tg_argmax(TT, in, ax, kd) : tg_argmin(TT, in, ax, kd);
        if (!id) return -1;
        x->iout[x->niout++] = id;
        return 0;
    }
    return -2;
done:
    if (!r) return -1;
    OUT(r);
    return 0;
}

typedef tg_tensor *(*un_fn)(tg_tape *, tg_tensor *);
static const struct { const char *name; un_fn f; } unary[] = {
    {"neg", tg_neg}, {"exp", tg_exp}, {"log", tg_log}, {"sqrt", tg_sqrt}, {"abs", tg_abs},
    {"square", tg_square}, {"erf", tg_erf}, {"erfc", tg_erfc}, {"erfinv", tg_erfinv},
    {"sin", tg_sin}, {"cos", tg_cos}, {"tan", tg_tan}, {"asin", tg_asin}, {"acos", tg_acos},
    {"atan", tg_atan}, {"sinh", tg_sinh}, {"cosh", tg_cosh}, {"asinh", tg_asinh},
    {"acosh", tg_acosh}, {"atanh", tg_atanh}, {"log1p", tg_log1p}, {"expm1", tg_expm1},
    {"log2", tg_log2}, {"log10", tg_log10}, {"exp2", tg_exp2}, {"rsqrt", tg_rsqrt},
    {"reciprocal", tg_reciprocal}, {"sigmoid", tg_sigmoid}, {"tanh", tg_tanh},
    {"relu", tg_relu}, {"relu6", tg_relu6}, {"selu", tg_selu}, {"softsign", tg_softsign},
    {"silu", tg_silu}, {"mish", tg_mish}, {"hardsigmoid", tg_hardsigmoid},
    {"hardswish", tg_hardswish}, {"logsigmoid", tg_logsigmoid}, {"tanhshrink", tg_tanhshrink},
    {"sign", tg_sign}, {"floor", tg_floor}, {"ceil", tg_ceil}, {"round", tg_round},
    {"trunc", tg_trunc}, {"flatten", tg_flatten}, {"squeeze", tg_squeeze},
    {"contiguous", tg_contiguous}, {NULL, NULL}};
typedef tg_tensor *(*bin_fn)(tg_tape *, tg_tensor *, tg_tensor *);
static const struct { const char *name; bin_fn f; } binary[] = {
    {"add", tg_add}, {"sub", tg_sub}, {"mul", tg_mul}, {"div", tg_div}, {"atan2", tg_atan2},
    {"minimum", tg_minimum}, {"maximum", tg_maximum}, {"pow_tensor", tg_pow_tensor},
    {"eq", tg_eq}, {"ne", tg_ne}, {"lt", tg_lt}, {"le", tg_le}, {"gt", tg_gt}, {"ge", tg_ge},
    {"matmul", tg_matmul}, {"dot", tg_dot}, {"outer", tg_outer}, {"prelu", tg_prelu},
    {NULL, NULL}};

static int run_op(Ctx *x)
{
    const char *op = x->c->op;
    for (int i = 0; unary[i].name; i++)
        if (!strcmp(op, unary[i].name)) {
            tg_tensor *r = unary[i].f(TT, T_(0));
            if (!r) return -1;
            OUT(r);
            return 0;
        }
    for (int i = 0; binary[i].name; i++)
        if (!strcmp(op, binary[i].name)) {
            tg_tensor *r = binary[i].f(TT, T_(0), T_(1));
            if (!r) return -1;
            OUT(r);
            return 0;
        }
    tg_tensor *r = NULL;
#define IS(s) (!strcmp(op, s))
    if (IS("scale")) r = tg_scale(TT, T_(0), R_(0));
    else if (IS("add_scalar")) r = tg_add_scalar(TT, T_(0), R_(0));
    else if (IS("pow")) r = tg_pow(TT, T_(0), R_(0));
    else if (IS("clamp")) r = tg_clamp(TT, T_(0), R_(0), R_(1));
    else if (IS("leaky_relu")) r = tg_leaky_relu(TT, T_(0), R_(0));
    else if (IS("elu")) r = tg_elu(TT, T_(0), R_(0));
    else if (IS("celu")) r = tg_celu(TT, T_(0), R_(0));
    else if (IS("softplus")) r = tg_softplus(TT, T_(0), R_(0), R_(1));
    else if (IS("gelu")) r = tg_gelu(TT, T_(0), (tg_gelu_approx)I_(0));
    else if (IS("hardtanh")) r = tg_hardtanh(TT, T_(0), R_(0), R_(1));
    else if (IS("hardshrink")) r = tg_hardshrink(TT, T_(0), R_(0));
    else if (IS("softshrink")) r = tg_softshrink(TT, T_(0), R_(0));
    else if (IS("threshold")) r = tg_threshold(TT, T_(0), R_(0), R_(1));
    else if (IS("logit")) r = tg_logit(TT, T_(0), R_(0));
    else if (IS("add_alpha")) r = tg_add_alpha(TT, T_(0), T_(1), R_(0));
    else if (IS("sub_alpha")) r = tg_sub_alpha(TT, T_(0), T_(1), R_(0));
    else if (IS("lerp")) r = tg_lerp(TT, T_(0), T_(1), R_(0));
    else if (IS("lerp_tensor")) r = tg_lerp_tensor(TT, T_(0), T_(1), T_(2));
    else if (IS("where")) r = tg_where(TT, T_(0), T_(1), T_(2));
    else if (IS("clamp_tensor")) r = tg_clamp_tensor(TT, T_(0), T_(1), T_(2));
    else if (IS("pow_scalar_base")) r = tg_pow_scalar_base(TT, R_(0), T_(0));
    else if (IS("matmul_t")) r = tg_matmul_t(TT, T_(0), T_(1), I_(0), I_(1));
    else if (IS("einsum")) {
        tg_tensor *ops[MAXT];
        for (int i = 0; i < x->c->nt; i++) ops[i] = T_(i);
        r = tg_einsum(TT, x->c->S, x->c->nt, ops);
    } else if (IS("linear")) r = tg_linear(TT, T_(0), T_(1), T_(2));
    else if (IS("transpose")) r = tg_transpose(TT, T_(0), (int)I_(0), (int)I_(1));
    else if (IS("swapaxes")) r = tg_swapaxes(TT, T_(0), (int)I_(0), (int)I_(1));
    else if (IS("reshape")) r = tg_reshape(TT, T_(0), x->c->ni, x->c->I);
    else if (IS("flatten_range")) r = tg_flatten_range(TT, T_(0), (int)I_(0), (int)I_(1));
    else if (IS("squeeze_axis")) r = tg_squeeze_axis(TT, T_(0), (int)I_(0));
    else if (IS("unsqueeze")) r = tg_unsqueeze(TT, T_(0), (int)I_(0));
    else if (IS("permute")) {
        int d[8];
        for (int i = 0; i < x->c->ni; i++) d[i] = (int)I_(i);
        r = tg_permute(TT, T_(0), x->c->ni, d);
    }
    else if (IS("movedim")) r = tg_movedim(TT, T_(0), (int)I_(0), (int)I_(1));
    else if (IS("expand")) r = tg_expand(TT, T_(0), x->c->ni, x->c->I);
    else if (IS("sum_to")) r = tg_sum_to(TT, T_(0), x->c->ni, x->c->I);
    else if (IS("cumsum")) r = tg_cumsum(TT, T_(0), (int)I_(0));
    else if (IS("cumprod")) r = tg_cumprod(TT, T_(0), (int)I_(0));
    else if (IS("softmax")) r = tg_softmax(TT, T_(0), (int)I_(0));
    else if (IS("log_softmax")) r = tg_log_softmax(TT, T_(0), (int)I_(0));
    else if (IS("softmin")) r = tg_softmin(TT, T_(0), (int)I_(0));
    else if (IS("glu")) r = tg_glu(TT, T_(0), (int)I_(0));
    /* losses: I_(0) = reduction */
    else if (IS("mse_loss")) r = tg_mse_loss(TT, T_(0), T_(1), (tg_reduction)I_(0));
    else if (IS("l1_loss")) r = tg_l1_loss(TT, T_(0), T_(1), (tg_reduction)I_(0));
    else if (IS("smooth_l1_loss"))
        r = tg_smooth_l1_loss(TT, T_(0), T_(1), R_(0), (tg_reduction)I_(0));
    else if (IS("huber_loss")) r = tg_huber_loss(TT, T_(0), T_(1), R_(0), (tg_reduction)I_(0));
    else if (IS("bce_loss_ex")) r = tg_bce_loss_ex(TT, T_(0), T_(1), T_(2), (tg_reduction)I_(0));
    else if (IS("bce_with_logits_ex"))
        r = tg_bce_with_logits_ex(TT, T_(0), T_(1), T_(2), T_(3), (tg_reduction)I_(0));
    else if (IS("kl_div")) r = tg_kl_div(TT, T_(0), T_(1), (tg_reduction)I_(0), I_(1));
    else if (IS("cosine_similarity")) r = tg_cosine_similarity(TT, T_(0), T_(1), (int)I_(0), R_(0));
    else if (IS("cosine_embedding_loss"))
        r = tg_cosine_embedding_loss(TT, T_(0), T_(1), T_(2), R_(0), (tg_reduction)I_(0));
    else if (IS("margin_ranking_loss"))
        r = tg_margin_ranking_loss(TT, T_(0), T_(1), T_(2), R_(0), (tg_reduction)I_(0));
    else if (IS("hinge_embedding_loss"))
        r = tg_hinge_embedding_loss(TT, T_(0), T_(1), R_(0), (tg_reduction)I_(0));
    else if (IS("multi_margin_loss"))
        r = tg_multi_margin_loss(TT, T_(0), X_(0), (int)I_(1), R_(0), T_(1), (tg_reduction)I_(0));
    else if (IS("triplet_margin_loss"))
        r = tg_triplet_margin_loss(TT, T_(0), T_(1), T_(2), R_(0), R_(1), R_(2), I_(1),
                                   (tg_reduction)I_(0));
    else if (IS("poisson_nll_loss"))
        r = tg_poisson_nll_loss(TT, T_(0), T_(1), I_(1), I_(2), R_(0), (tg_reduction)I_(0));
    else if (IS("gaussian_nll_loss"))
        r = tg_gaussian_nll_loss(TT, T_(0), T_(1), T_(2), I_(1), R_(0), (tg_reduction)I_(0));
    else if (IS("cross_entropy_idx") || IS("nll_loss_idx") || IS("cross_entropy_prob")) {
        /* I: red, ignore_index ; R: label_smoothing ; T1: weight (or N) */
        tg_ce_opts o = TG_CE_OPTS_DEFAULT;
        o.reduction = (tg_reduction)I_(0);
        o.ignore_index = I_(1);
        o.label_smoothing = x->c->R[0];
        if (IS("cross_entropy_prob")) {
            o.weight = T_(2);
            r = tg_cross_entropy_prob(TT, T_(0), T_(1), &o);
        } else {
            o.weight = T_(1);
            r = IS("nll_loss_idx") ? tg_nll_loss_idx(TT, T_(0), X_(0), &o)
                                   : tg_cross_entropy_idx(TT, T_(0), X_(0), &o);
        }
    }
    /* indexing */
    else if (IS("slice")) r = tg_slice(TT, T_(0), (int)I_(0), I_(1), I_(2), I_(3));
    else if (IS("slices")) {
        tg_slice_spec sp[8];
        int n = x->c->ni / 4;
        for (int i = 0; i < n; i++)
            sp[i] = (tg_slice_spec){(int)I_(4 * i), I_(4 * i + 1), I_(4 * i + 2), I_(4 * i + 3)};
        r = tg_slices(TT, T_(0), n, sp);
    } else if (IS("select")) r = tg_select(TT, T_(0), (int)I_(0), I_(1));
    else if (IS("narrow")) r = tg_narrow(TT, T_(0), (int)I_(0), I_(1), I_(2));
    else if (IS("index_select")) r = tg_index_select(TT, T_(0), (int)I_(0), X_(0));
    else if (IS("index_add")) r = tg_index_add(TT, T_(0), (int)I_(0), X_(0), T_(1));
    else if (IS("gather")) r = tg_gather(TT, T_(0), (int)I_(0), X_(0));
    else if (IS("scatter_add")) r = tg_scatter_add(TT, T_(0), (int)I_(0), X_(0), T_(1));
    else if (IS("scatter")) r = tg_scatter(TT, T_(0), (int)I_(0), X_(0), T_(1));
    else if (IS("masked_fill")) r = tg_masked_fill(TT, T_(0), T_(1), R_(0));
    else if (IS("take_along_dim")) r = tg_take_along_dim(TT, T_(0), X_(0), (int)I_(0));
    else if (IS("embedding")) r = tg_embedding(TT, T_(0), X_(0), I_(0));
    /* join */
    else if (IS("cat") || IS("stack")) {
        tg_tensor *ops[MAXT];
        for (int i = 0; i < x->c->nt; i++) ops[i] = T_(i);
        r = IS("cat") ? tg_cat(TT, ops, x->c->nt, (int)I_(0))
                      : tg_stack(TT, ops, x->c->nt, (int)I_(0));
    } else if (IS("split") || IS("split_chunks") || IS("split_sizes")) {
        tg_tensor *outs[MAXO];
        int n;
        if (IS("split")) n = tg_split(TT, T_(0), I_(0), (int)I_(1), outs, MAXO);
        else if (IS("split_chunks"))
            n = tg_split_chunks(TT, T_(0), (int)I_(0), (int)I_(1), outs, MAXO);
        else n = tg_split_sizes(TT, T_(0), x->c->ni - 1, &x->c->I[1], (int)I_(0), outs);
        if (n < 0) return -1;
        for (int i = 0; i < n; i++) { if (!outs[i]) return -1; OUT(outs[i]); }
        return 0;
    } else if (IS("pad"))
        r = tg_pad(TT, T_(0), x->c->ni - 1, &x->c->I[1], (tg_pad_mode)I_(0), R_(0));
    else if (IS("repeat")) r = tg_repeat(TT, T_(0), x->c->ni, x->c->I);
    else if (IS("tile")) r = tg_tile(TT, T_(0), x->c->ni, x->c->I);
    /* norms */
    else if (IS("layer_norm"))
        r = tg_layer_norm(TT, T_(0), x->c->ni, x->c->I, T_(1), T_(2), x->c->R[0]);
    else if (IS("rms_norm")) r = tg_rms_norm(TT, T_(0), x->c->ni, x->c->I, T_(1), x->c->R[0]);
    else if (IS("group_norm")) r = tg_group_norm(TT, T_(0), I_(0), T_(1), T_(2), x->c->R[0]);
    else if (IS("batch_norm"))
        r = tg_batch_norm(TT, T_(0), NULL, NULL, T_(1), T_(2), true, 0.1, x->c->R[0]);
    else {
        int rc = reduce_op(x, op);
        if (rc == -2) { printf("ERR unknown op %s\n", op); return -3; }
        return rc;
    }
    if (!r) return -1;
    OUT(r);
    return 0;
}

int main(int argc, char **argv)
{
    (void)argc; (void)argv;
    static Case c;
    tg_tape *t = tg_tape_new();
    while (read_case(&c)) {
        printf("CASE %s\n", c.id);
        fflush(stdout);
        tg_tape_reset(t);
        Ctx x = {0};
        x.t = t;
        x.c = &c;
        for (int i = 0; i < c.nt; i++) {
            if (c.isnull[i]) { x.in[i] = NULL; continue; }
            x.in[i] = tg_tensor_new(t, c.T[i].ndim, c.T[i].shape, c.T[i].data);
            if (c.req[i]) tg_requires_grad(x.in[i], true);
        }
        for (int i = 0; i < c.nx; i++) {
            int64_t *d = malloc(sizeof(int64_t) * (c.X[i].size ? c.X[i].size : 1));
            for (int64_t k = 0; k < c.X[i].size; k++) d[k] = (int64_t)c.X[i].data[k];
            x.ix[i] = tg_index_new(t, c.X[i].ndim, c.X[i].shape, d);
            free(d);
        }
        int rc = run_op(&x);
        if (rc != 0) {
            if (rc == -1) {
                const char *e = tg_tape_error(t);
                printf("ERR %s\n", e && *e ? e : "(no message)");
            }
            goto next;
        }
        for (int k = 0; k < x.nout; k++)
            pr_t("OUT", k, x.out[k]->ndim, x.out[k]->shape, x.out[k]->size, x.out[k]->data);
        for (int k = 0; k < x.niout; k++) pr_idx(k, x.iout[k]);
        /* gradients */
        tg_tensor *ins[MAXT];
        int map[MAXT];
        int nin = 0;
        for (int i = 0; i < c.nt; i++)
            if (!c.isnull[i] && c.req[i]) { map[nin] = i; ins[nin++] = x.in[i]; }
        tg_tensor *outs[MAXO], *gos[MAXO];
        int nout = 0;
        for (int k = 0; k < x.nout; k++) {
            if (!(x.out[k]->flags & TG_REQUIRES_GRAD)) continue;
            if (k >= c.ng) { printf("GERR setup missing G for out %d\n", k); goto next; }
            outs[nout] = x.out[k];
            gos[nout] = tg_tensor_new(t, c.G[k].ndim, c.G[k].shape, c.G[k].data);
            nout++;
        }
        if (nin == 0) goto next;
        if (nout == 0) {
            printf("GERR nograd outputs do not require grad\n");
            goto next;
        }
        tg_tensor *gf[MAXT] = {0}, *gc[MAXT] = {0}, *gg[MAXT] = {0};
        tg_grad_opts of = {.create_graph = false, .allow_unused = true};
        if (tg_grad(t, nout, outs, gos, nin, ins, gf, &of) != TG_OK) {
            printf("GERR fast %s\n", tg_tape_error(t));
            tg_tape_clear_error(t);
        } else {
            for (int i = 0; i < nin; i++)
                pr_t("GF", map[i], gf[i]->ndim, gf[i]->shape, gf[i]->size, gf[i]->data);
        }
        tg_grad_opts oc = {.create_graph = true, .allow_unused = true};
        if (tg_grad(t, nout, outs, gos, nin, ins, gc, &oc) != TG_OK) {
            printf("GERR cg %s\n", tg_tape_error(t));
            goto next;
        }
        for (int i = 0; i < nin; i++)
            pr_t("GC", map[i], gc[i]->ndim, gc[i]->shape, gc[i]->size, gc[i]->data);
        /* s = sum_i sum(gc_i * V_i) */
        tg_tensor *s = NULL;
        for (int i = 0; i < nin; i++) {
            if (!(gc[i]->flags & TG_REQUIRES_GRAD)) continue;
            arr *v = &c.V[map[i]];
            tg_tensor *vt = tg_tensor_new(t, v->ndim, v->shape, v->data);
            tg_tensor *term = tg_sum(t, tg_mul(t, gc[i], vt), TG_ALL, false);
            s = s ? tg_add(t, s, term) : term;
        }
        if (!s) {
            for (int i = 0; i < nin; i++)
                pr_t("GG", map[i], ins[i]->ndim, ins[i]->shape, ins[i]->size, NULL);
            goto next;
        }
        if (tg_tape_failed(t)) { printf("GERR s %s\n", tg_tape_error(t)); goto next; }
        if (tg_grad(t, 1, &s, NULL, nin, ins, gg, &oc) != TG_OK) {
            printf("GERR gg %s\n", tg_tape_error(t));
            goto next;
        }
        for (int i = 0; i < nin; i++)
            pr_t("GG", map[i], gg[i]->ndim, gg[i]->shape, gg[i]->size, gg[i]->data);
    next:
        printf("DONE\n");
        fflush(stdout);
        for (int i = 0; i < c.nt; i++) free(c.T[i].data);
        for (int i = 0; i < c.nx; i++) free(c.X[i].data);
        for (int i = 0; i < c.ng; i++) free(c.G[i].data);
        for (int i = 0; i < c.nv; i++) free(c.V[i].data);
    }
    tg_tape_free(t);
    return 0;
}
