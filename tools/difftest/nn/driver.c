/* Differential-test driver for tapegrad's nn ops.
 * Reads cases from stdin (written by harness.py's Case.serialize), writes results
 * to stdout (read by harness.py's parse_output).
 *
 * Case:
 *   CASE <id> <op>
 *   I <key> <int64>
 *   F <key> <double>
 *   T <name> <rg> <ndim> <dims...> <values...>   (rg 1: differentiable input)
 *   X <name> <ndim> <dims...> <int values...>     (index)
 *   END
 * Tensors named G0, G1, ... weight the outputs; V_<name> weight the gradients.
 * Output per case:
 *   CASE <id>
 *   ERR <msg>                 (op failed)  -- or:
 *   O <k> <ndim> <dims> <vals>
 *   GR <name> <vals>  / GERR <msg>
 *   H <name> <vals>   / HERR <msg>
 *   B <name> <vals>   (buffers after the forward)
 *   IDX <ndim> <dims> <vals>
 *   DONE
 * Environment: TG_PAD=n puts n filler records on each tape before the case.
 */
#include <tapegrad.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXT 64
typedef struct {
    char name[64];
    int rg;
    tg_tensor *t;
} named_t;
typedef struct {
    char name[64];
    tg_index *x;
} named_x;

static named_t tens[MAXT];
static int ntens;
static named_x idxs[8];
static int nidx;
/* the case's tensors and indices as read, before they go on the tape */
static tg_real *tdata[MAXT];
static int tndim[MAXT];
static int64_t tshape[MAXT][TG_MAX_DIMS];
static int64_t *xdata[8];
static int xndim[8];
static int64_t xshape[8][TG_MAX_DIMS];
static char ikey[64][64];
static int64_t ival[64];
static int nint;
static char fkey[64][64];
static double fval[64];
static int nflt;

/* differentiable inputs (tape leaves or parameters) */
static tg_tensor *din[MAXT];
static char dname[MAXT][64];
static int ndin;

static tg_tensor *T(const char *n) {
    for (int i = 0; i < ntens; i++)
        if (!strcmp(tens[i].name, n)) return tens[i].t;
    return NULL;
}
static tg_index *X(const char *n) {
    for (int i = 0; i < nidx; i++)
        if (!strcmp(idxs[i].name, n)) return idxs[i].x;
    return NULL;
}
static int64_t I(const char *k, int64_t def) {
    for (int i = 0; i < nint; i++)
        if (!strcmp(ikey[i], k)) return ival[i];
    return def;
}
static double Fp(const char *k, double def) {
    for (int i = 0; i < nflt; i++)
        if (!strcmp(fkey[i], k)) return fval[i];
    return def;
}

static void print_vals(const tg_tensor *x) {
    for (int64_t i = 0; i < x->size; i++) printf(" %.17g", (double)x->data[i]);
}
static void print_tensor(const char *tag, const char *name, const tg_tensor *x) {
    printf("%s %s %d", tag, name, x->ndim);
    for (int d = 0; d < x->ndim; d++) printf(" %lld", (long long)x->shape[d]);
    print_vals(x);
    printf("\n");
}

static void add_din(const char *name, tg_tensor *x) {
    if (!x) return;
    snprintf(dname[ndin], 64, "%s", name);
    din[ndin++] = x;
}

static tg_conv_opts conv_opts(void) {
    tg_conv_opts o;
    memset(&o, 0, sizeof o);
    o.stride[0] = I("s0", 0), o.stride[1] = I("s1", 0);
    o.padding[0] = I("p0", 0), o.padding[1] = I("p1", 0);
    o.dilation[0] = I("d0", 0), o.dilation[1] = I("d1", 0);
    o.output_padding[0] = I("op0", 0), o.output_padding[1] = I("op1", 0);
    o.groups = I("groups", 0);
    o.padding_same = I("same", 0);
    return o;
}
static tg_pool_opts pool_opts(void) {
    tg_pool_opts o = tg_pool_defaults(I("k0", 1), I("k1", 1));
    o.stride[0] = I("s0", 0), o.stride[1] = I("s1", 0);
    o.padding[0] = I("p0", 0), o.padding[1] = I("p1", 0);
    o.dilation[0] = I("d0", 0), o.dilation[1] = I("d1", 0);
    o.ceil_mode = I("ceil", 0);
    o.count_include_pad = I("cip", 1);
    o.divisor_override = I("divisor", 0);
    return o;
}
static tg_ce_opts ce_opts(void) {
    tg_ce_opts o = TG_CE_OPTS_DEFAULT;
    o.reduction = (tg_reduction)I("red", 0);
    o.ignore_index = I("ignore_index", TG_IGNORE_INDEX);
    o.label_smoothing = Fp("ls", 0.0);
    o.weight = T("weight");
    return o;
}

/* copy a case tensor into a parameter */
static int load_param(tg_tensor *p, const char *n) {
    tg_tensor *s = T(n);
    if (!p && !s) return 0;
    if (!p || !s || p->size != s->size) {
        printf("ERR driver: param %s mismatch (%p %p)\n", n, (void *)p, (void *)s);
        return -1;
    }
    memcpy(p->data, s->data, sizeof(tg_real) * (size_t)s->size);
    return 0;
}

static tg_params *P;

/* run the op; fills outs; returns number of outputs or -1 */
static int run_op(tg_tape *t, const char *op, tg_tensor **outs, tg_index **oidx,
                  tg_tensor **bufs, char bufn[][64], int *nbuf) {
    *nbuf = 0;
    *oidx = NULL;
    if (!strcmp(op, "conv1d") || !strcmp(op, "conv2d") || !strcmp(op, "convt1d") ||
        !strcmp(op, "convt2d")) {
        tg_conv_opts o = conv_opts();
        tg_conv_opts *po = I("nullopts", 0) ? NULL : &o;
        tg_tensor *x = T("x"), *w = T("w"), *b = T("b");
        if (!strcmp(op, "conv1d")) outs[0] = tg_conv1d(t, x, w, b, po);
        else if (!strcmp(op, "conv2d")) outs[0] = tg_conv2d(t, x, w, b, po);
        else if (!strcmp(op, "convt1d")) outs[0] = tg_conv_transpose1d(t, x, w, b, po);
        else outs[0] = tg_conv_transpose2d(t, x, w, b, po);
        return 1;
    }
    if (!strcmp(op, "conv2d_layer") || !strcmp(op, "conv1d_layer") ||
        !strcmp(op, "convt2d_layer")) {
        tg_conv_opts o = conv_opts();
        tg_conv_layer l;
        tg_tensor *w = T("w");
        int rc;
        if (!strcmp(op, "conv1d_layer"))
            rc = tg_conv1d_layer_init(&l, P, "c", I("cin", 0), I("cout", 0), w->shape[2], &o,
                                      T("b") != NULL, NULL);
        else if (!strcmp(op, "conv2d_layer"))
            rc = tg_conv2d_layer_init(&l, P, "c", I("cin", 0), I("cout", 0), w->shape[2],
                                      w->shape[3], &o, T("b") != NULL, NULL);
        else
            rc = tg_conv_transpose2d_layer_init(&l, P, "c", I("cin", 0), I("cout", 0),
                                                w->shape[2], w->shape[3], &o, T("b") != NULL,
                                                NULL);
        if (rc) {
            printf("ERR init: %s\n", tg_last_error());
            return -2;
        }
        if (load_param(l.weight, "w") || load_param(l.bias, "b")) return -2;
        add_din("w", l.weight);
        add_din("b", l.bias);
        outs[0] = tg_conv_layer_forward(t, &l, T("x"));
        return 1;
    }
    if (!strcmp(op, "maxpool1d") || !strcmp(op, "maxpool2d")) {
        tg_pool_opts o = pool_opts();
        if (I("with_idx", 0)) {
            if (op[7] == '1') outs[0] = tg_max_pool1d_with_indices(t, T("x"), &o, oidx);
            else outs[0] = tg_max_pool2d_with_indices(t, T("x"), &o, oidx);
        } else {
            if (op[7] == '1') outs[0] = tg_max_pool1d(t, T("x"), &o);
            else outs[0] = tg_max_pool2d(t, T("x"), &o);
        }
        return 1;
    }
    if (!strcmp(op, "avgpool1d") || !strcmp(op, "avgpool2d")) {
        tg_pool_opts o = pool_opts();
        if (op[7] == '1') outs[0] = tg_avg_pool1d(t, T("x"), &o);
        else outs[0] = tg_avg_pool2d(t, T("x"), &o);
        return 1;
    }
    if (!strcmp(op, "adaptive_avg2d")) {
        outs[0] = tg_adaptive_avg_pool2d(t, T("x"), I("oh", 1), I("ow", 1));
        return 1;
    }
    if (!strcmp(op, "batch_norm")) {
        tg_tensor *rm = T("rm"), *rv = T("rv");
        outs[0] = tg_batch_norm(t, T("x"), rm, rv, T("w"), T("b"), I("training", 1),
                                Fp("momentum", 0.1), Fp("eps", 1e-5));
        if (rm) bufs[*nbuf] = rm, strcpy(bufn[(*nbuf)++], "rm");
        if (rv) bufs[*nbuf] = rv, strcpy(bufn[(*nbuf)++], "rv");
        return 1;
    }
    if (!strcmp(op, "batchnorm_layer")) {
        /* nsteps forwards in training (x_k named x, x1, x2...), then the output
           is the last forward, in mode `training_last` */
        tg_batchnorm l;
        tg_batchnorm_opts o = TG_BATCHNORM_OPTS_DEFAULT;
        o.eps = Fp("eps", 1e-5);
        o.momentum = Fp("momentum", 0.1);
        o.affine = I("affine", 1);
        o.track_running_stats = I("track", 1);
        o.cumulative_average = I("cumavg", 0);
        tg_tensor *x = T("x");
        int rc = I("dims", 1) == 1 ? tg_batchnorm1d_init(&l, P, "bn", I("C", 1), &o)
                                   : tg_batchnorm2d_init(&l, P, "bn", I("C", 1), &o);
        if (rc) {
            printf("ERR init: %s\n", tg_last_error());
            return -2;
        }
        if (load_param(l.weight, "w") || load_param(l.bias, "b")) return -2;
        add_din("w", l.weight);
        add_din("b", l.bias);
        int npre = (int)I("npre", 0);
        tg_params_set_training(P, true);
        for (int k = 0; k < npre; k++) {
            char nm[16];
            snprintf(nm, sizeof nm, "pre%d", k);
            bool wasrec = tg_tape_set_recording(t, false);
            tg_tensor *y = tg_batchnorm_forward(t, &l, T(nm));
            tg_tape_set_recording(t, wasrec);
            if (!y) {
                printf("ERR pre: %s\n", tg_tape_error(t));
                return -2;
            }
        }
        tg_params_set_training(P, I("training", 1));
        outs[0] = tg_batchnorm_forward(t, &l, x);
        if (l.running_mean) bufs[*nbuf] = l.running_mean, strcpy(bufn[(*nbuf)++], "rm");
        if (l.running_var) bufs[*nbuf] = l.running_var, strcpy(bufn[(*nbuf)++], "rv");
        if (l.num_batches_tracked)
            bufs[*nbuf] = l.num_batches_tracked, strcpy(bufn[(*nbuf)++], "nbt");
        return 1;
    }
    if (!strcmp(op, "layer_norm") || !strcmp(op, "rms_norm")) {
        int nd = (int)I("nd", 1);
        tg_tensor *x = T("x");
        int64_t shape[TG_MAX_DIMS];
        for (int i = 0; i < nd; i++) shape[i] = x->shape[x->ndim - nd + i];
        if (I("shape_override", 0)) {
            char k[16];
            for (int i = 0; i < nd; i++) snprintf(k, sizeof k, "ns%d", i), shape[i] = I(k, 1);
        }
        if (op[0] == 'l') outs[0] = tg_layer_norm(t, x, nd, shape, T("w"), T("b"), Fp("eps", 1e-5));
        else outs[0] = tg_rms_norm(t, x, nd, shape, T("w"), Fp("eps", TG_RMS_NORM_EPS_AUTO));
        return 1;
    }
    if (!strcmp(op, "layernorm_layer") || !strcmp(op, "rmsnorm_layer") ||
        !strcmp(op, "groupnorm_layer")) {
        tg_tensor *x = T("x");
        int rc;
        if (op[0] == 'g') {
            tg_groupnorm l;
            rc = tg_groupnorm_init(&l, P, "n", I("G", 1), x->shape[1], I("affine", 1),
                                   Fp("eps", 1e-5));
            if (rc) { printf("ERR init: %s\n", tg_last_error()); return -2; }
            if (load_param(l.weight, "w") || load_param(l.bias, "b")) return -2;
            add_din("w", l.weight), add_din("b", l.bias);
            outs[0] = tg_groupnorm_forward(t, &l, x);
            return 1;
        }
        int nd = (int)I("nd", 1);
        int64_t shape[TG_MAX_DIMS];
        for (int i = 0; i < nd; i++) shape[i] = x->shape[x->ndim - nd + i];
        if (op[0] == 'l') {
            tg_layernorm l;
            rc = tg_layernorm_init(&l, P, "n", nd, shape, I("affine", 1), Fp("eps", 1e-5));
            if (rc) { printf("ERR init: %s\n", tg_last_error()); return -2; }
            if (load_param(l.weight, "w") || load_param(l.bias, "b")) return -2;
            add_din("w", l.weight), add_din("b", l.bias);
            outs[0] = tg_layernorm_forward(t, &l, x);
        } else {
            tg_rmsnorm l;
            rc = tg_rmsnorm_init(&l, P, "n", nd, shape, I("affine", 1),
                                 Fp("eps", TG_RMS_NORM_EPS_AUTO));
            if (rc) { printf("ERR init: %s\n", tg_last_error()); return -2; }
            if (load_param(l.weight, "w")) return -2;
            add_din("w", l.weight);
            outs[0] = tg_rmsnorm_forward(t, &l, x);
        }
        return 1;
    }
    if (!strcmp(op, "group_norm")) {
        outs[0] = tg_group_norm(t, T("x"), I("G", 1), T("w"), T("b"), Fp("eps", 1e-5));
        return 1;
    }
    if (!strcmp(op, "dropout")) {
        tg_rng r;
        tg_rng_seed(&r, 1);
        tg_tensor *y = tg_dropout(t, T("x"), Fp("p", 0.5), I("training", 0), &r);
        /* identity: make it an op result so gradients make sense */
        outs[0] = y;
        return 1;
    }
    if (!strcmp(op, "dropout_layer")) {
        tg_dropout_layer l;
        tg_rng r;
        tg_rng_seed(&r, 1);
        int rc = I("channels", 0) ? tg_dropout2d_layer_init(&l, P, Fp("p", 0.5), &r)
                                  : tg_dropout_layer_init(&l, P, Fp("p", 0.5), &r);
        if (rc) { printf("ERR init: %s\n", tg_last_error()); return -2; }
        tg_params_set_training(P, false);
        outs[0] = tg_dropout_layer_forward(t, &l, T("x"));
        return 1;
    }
    if (!strcmp(op, "embedding")) {
        int64_t pi = I("has_pad", 0) ? I("padding_idx", 0) : TG_PADDING_IDX_NONE;
        outs[0] = tg_embedding(t, T("w"), X("idx"), pi);
        return 1;
    }
    if (!strcmp(op, "embedding_layer")) {
        int64_t pi = I("has_pad", 0) ? I("padding_idx", 0) : TG_PADDING_IDX_NONE;
        tg_embedding_layer l;
        tg_tensor *w = T("w");
        if (tg_embedding_layer_init(&l, P, "e", w->shape[0], w->shape[1], pi, NULL)) {
            printf("ERR init: %s\n", tg_last_error());
            return -2;
        }
        if (load_param(l.weight, "w")) return -2;
        add_din("w", l.weight);
        outs[0] = tg_embedding_layer_forward(t, &l, X("idx"));
        return 1;
    }
    if (!strcmp(op, "recurrent")) {
        tg_recurrent l;
        tg_rnn_opts o = tg_rnn_defaults();
        o.num_layers = (int)I("layers", 1);
        o.bias = I("bias", 1);
        o.batch_first = I("batch_first", 0);
        if (tg_recurrent_init(&l, P, "r", (tg_rnn_mode)I("mode", 0), I("input_size", 1),
                              I("hidden", 1), &o, NULL)) {
            printf("ERR init: %s\n", tg_last_error());
            return -2;
        }
        for (int k = 0; k < o.num_layers; k++) {
            char n[64];
            snprintf(n, sizeof n, "weight_ih_l%d", k);
            if (load_param(l.weight_ih[k], n)) return -2;
            add_din(n, l.weight_ih[k]);
            snprintf(n, sizeof n, "weight_hh_l%d", k);
            if (load_param(l.weight_hh[k], n)) return -2;
            add_din(n, l.weight_hh[k]);
            if (o.bias) {
                snprintf(n, sizeof n, "bias_ih_l%d", k);
                if (load_param(l.bias_ih[k], n)) return -2;
                add_din(n, l.bias_ih[k]);
                snprintf(n, sizeof n, "bias_hh_l%d", k);
                if (load_param(l.bias_hh[k], n)) return -2;
                add_din(n, l.bias_hh[k]);
            }
        }
        tg_tensor *hn = NULL, *cn = NULL;
        bool lstm = I("mode", 0) == TG_RNN_LSTM;
        outs[0] = tg_recurrent_forward(t, &l, T("x"), T("h0"), T("c0"), &hn,
                                       lstm ? &cn : NULL);
        outs[1] = hn;
        if (lstm) {
            outs[2] = cn;
            return 3;
        }
        return 2;
    }
    if (!strcmp(op, "cell")) {
        int mode = (int)I("mode", 0);
        tg_tensor *x = T("x"), *h = T("h"), *c = T("c");
        tg_tensor *wih = T("weight_ih"), *whh = T("weight_hh"), *bih = T("bias_ih"),
                  *bhh = T("bias_hh");
        if (I("layer", 0)) {
            tg_recurrent_cell l;
            if (tg_recurrent_cell_init(&l, P, "c", (tg_rnn_mode)mode, wih->shape[1],
                                       whh->shape[1], bih != NULL, NULL)) {
                printf("ERR init: %s\n", tg_last_error());
                return -2;
            }
            if (load_param(l.weight_ih, "weight_ih") || load_param(l.weight_hh, "weight_hh") ||
                load_param(l.bias_ih, "bias_ih") || load_param(l.bias_hh, "bias_hh"))
                return -2;
            add_din("weight_ih", l.weight_ih), add_din("weight_hh", l.weight_hh);
            add_din("bias_ih", l.bias_ih), add_din("bias_hh", l.bias_hh);
            tg_tensor *cout = NULL;
            outs[0] = tg_recurrent_cell_forward(t, &l, x, h, c, mode == TG_RNN_LSTM ? &cout : NULL);
            if (mode == TG_RNN_LSTM) {
                outs[1] = cout;
                return 2;
            }
            return 1;
        }
        if (mode == TG_RNN_LSTM) {
            tg_tensor *cout = NULL;
            outs[0] = tg_lstm_cell(t, x, h, c, wih, whh, bih, bhh, &cout);
            outs[1] = cout;
            return 2;
        }
        if (mode == TG_RNN_GRU) outs[0] = tg_gru_cell(t, x, h, wih, whh, bih, bhh);
        else outs[0] = tg_rnn_cell(t, x, h, wih, whh, bih, bhh, (tg_rnn_mode)mode);
        return 1;
    }
    if (!strcmp(op, "mha")) {
        tg_multihead_attention m;
        tg_tensor *ipw = T("in_proj_weight");
        int64_t E = ipw->shape[1];
        if (tg_multihead_attention_init(&m, P, "m", E, I("heads", 1), T("in_proj_bias") != NULL,
                                        I("batch_first", 0), NULL)) {
            printf("ERR init: %s\n", tg_last_error());
            return -2;
        }
        if (load_param(m.in_proj_weight, "in_proj_weight") ||
            load_param(m.in_proj_bias, "in_proj_bias") ||
            load_param(m.out_proj.weight, "out_proj.weight") ||
            load_param(m.out_proj.bias, "out_proj.bias"))
            return -2;
        add_din("in_proj_weight", m.in_proj_weight);
        add_din("in_proj_bias", m.in_proj_bias);
        add_din("out_proj.weight", m.out_proj.weight);
        add_din("out_proj.bias", m.out_proj.bias);
        tg_mha_opts o;
        memset(&o, 0, sizeof o);
        o.key_padding_mask = T("kpm");
        o.key_padding_kind = (tg_mask_kind)I("kpm_kind", 2);
        o.attn_mask = T("amask");
        o.attn_mask_kind = (tg_mask_kind)I("amask_kind", 0);
        o.is_causal = I("is_causal", 0);
        tg_tensor *q = T("q");
        tg_tensor *k = I("self", 0) ? q : T("k");
        tg_tensor *v = I("self", 0) ? q : T("v");
        outs[0] = tg_multihead_attention_forward(t, &m, q, k, v, &o);
        return 1;
    }
    if (!strcmp(op, "sdpa")) {
        outs[0] = tg_scaled_dot_product_attention(t, T("q"), T("k"), T("v"), T("mask"),
                                                  (tg_mask_kind)I("kind", 0), I("is_causal", 0),
                                                  Fp("scale", 0));
        return 1;
    }
    if (!strcmp(op, "cross_entropy") || !strcmp(op, "nll_loss")) {
        tg_ce_opts o = ce_opts();
        tg_index *ti = X("target");
        if (op[0] == 'c') {
            if (I("raw", 0)) outs[0] = tg_cross_entropy_ex(t, T("x"), ti->data, &o);
            else outs[0] = tg_cross_entropy_idx(t, T("x"), ti, &o);
        } else {
            if (I("raw", 0)) outs[0] = tg_nll_loss(t, T("x"), ti->data, &o);
            else outs[0] = tg_nll_loss_idx(t, T("x"), ti, &o);
        }
        return 1;
    }
    if (!strcmp(op, "cross_entropy_prob")) {
        tg_ce_opts o = ce_opts();
        outs[0] = tg_cross_entropy_prob(t, T("x"), T("target"), &o);
        return 1;
    }
    printf("ERR driver: unknown op %s\n", op);
    return -2;
}

static tg_tensor *weighted_sum(tg_tape *t, tg_tensor *a, tg_tensor *w) {
    tg_tensor *m = tg_mul(t, a, w);
    return tg_sum(t, m, TG_ALL, false);
}

static void run_case(const char *id, const char *op) {
    tg_tape *t = tg_tape_new();
    P = tg_params_new();
    printf("CASE %s\n", id);
    ndin = 0;
    {
        /* TG_PAD=n: n filler records first, so that the case's records start at
           n and the tape grows its arrays at other points of the walk (a
           create_graph bug, fixed in d71fe02, showed only for some lengths) */
        const char *pad = getenv("TG_PAD");
        int npad = pad ? atoi(pad) : 0;
        if (npad > 0) {
            tg_tensor *f = tg_requires_grad(tg_zeros(t, TG_SHAPE(1)), true);
            for (int k = 0; k < npad; k++) f = tg_add_scalar(t, f, 1);
        }
    }
    for (int i = 0; i < ntens; i++) {
        tens[i].t = tg_tensor_new(t, tndim[i], tshape[i], tdata[i]);
        if (tens[i].rg) {
            tg_requires_grad(tens[i].t, true);
            add_din(tens[i].name, tens[i].t);
        }
    }
    for (int i = 0; i < nidx; i++) idxs[i].x = tg_index_new(t, xndim[i], xshape[i], xdata[i]);

    tg_tensor *outs[8] = {0};
    tg_index *oidx = NULL;
    tg_tensor *bufs[8];
    char bufn[8][64];
    int nbuf = 0;
    int nout = run_op(t, op, outs, &oidx, bufs, bufn, &nbuf);
    if (nout == -2) goto done;
    for (int k = 0; k < nout; k++)
        if (!outs[k]) {
            printf("ERR %s\n", tg_tape_error(t));
            goto done;
        }
    for (int k = 0; k < nout; k++) {
        char nm[8];
        snprintf(nm, sizeof nm, "%d", k);
        print_tensor("O", nm, outs[k]);
    }
    for (int b = 0; b < nbuf; b++) print_tensor("B", bufn[b], bufs[b]);
    if (oidx) {
        printf("IDX %d", oidx->ndim);
        for (int d = 0; d < oidx->ndim; d++) printf(" %lld", (long long)oidx->shape[d]);
        for (int64_t i = 0; i < oidx->size; i++) printf(" %lld", (long long)oidx->data[i]);
        printf("\n");
    }
    if (ndin == 0 || I("nograd", 0)) goto done;
    {
        /* L = sum_k sum(out_k * G_k) */
        tg_tensor *L = NULL;
        for (int k = 0; k < nout; k++) {
            char gn[8];
            snprintf(gn, sizeof gn, "G%d", k);
            tg_tensor *G = T(gn);
            if (!G) continue;
            tg_tensor *s = weighted_sum(t, outs[k], G);
            L = L ? tg_add(t, L, s) : s;
        }
        if (!L) {
            printf("GERR no L: %s\n", tg_tape_error(t));
            goto done;
        }
        tg_tensor *grads[MAXT] = {0};
        tg_grad_opts go = {.create_graph = true, .allow_unused = true};
        int rc = tg_grad(t, 1, &L, NULL, ndin, din, grads, &go);
        if (rc) {
            printf("GERR %s\n", tg_tape_error(t));
            goto done;
        }
        for (int i = 0; i < ndin; i++) {
            printf("GR %s", dname[i]);
            if (grads[i]) print_vals(grads[i]);
            printf("\n");
        }
        if (I("no2", 0)) goto done;
        tg_tensor *S = NULL;
        for (int i = 0; i < ndin; i++) {
            char vn[80];
            snprintf(vn, sizeof vn, "V_%s", dname[i]);
            tg_tensor *V = T(vn);
            if (!V || !grads[i]) continue;
            tg_tensor *s = weighted_sum(t, grads[i], V);
            S = S ? tg_add(t, S, s) : s;
        }
        if (!S) {
            printf("HERR no S: %s\n", tg_tape_error(t));
            goto done;
        }
        tg_tensor *h[MAXT] = {0};
        go.create_graph = false;
        rc = tg_grad(t, 1, &S, NULL, ndin, din, h, &go);
        if (rc) {
            printf("HERR %s\n", tg_tape_error(t));
            goto done;
        }
        for (int i = 0; i < ndin; i++) {
            printf("H %s", dname[i]);
            if (h[i]) print_vals(h[i]);
            printf("\n");
        }
    }
done:
    printf("DONE\n");
    fflush(stdout);
    tg_params_free(P);
    tg_tape_free(t);
}

/* ndim sizes from stdin into shape; their product, or -1 if one is missing */
static int64_t read_shape(int ndim, int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        long long v;
        if (scanf("%lld", &v) != 1) return -1;
        shape[d] = v;
        n *= v;
    }
    return n;
}

int main(void) {
    char tok[256], id[128], op[128];
    while (scanf("%255s", tok) == 1) {
        if (strcmp(tok, "CASE")) {
            fprintf(stderr, "bad token %s\n", tok);
            return 1;
        }
        if (scanf("%127s %127s", id, op) != 2) return 1;
        ntens = nidx = nint = nflt = 0;
        for (;;) {
            if (scanf("%255s", tok) != 1) return 1;
            if (!strcmp(tok, "END")) break;
            if (!strcmp(tok, "I")) {
                long long v;
                if (scanf("%63s %lld", ikey[nint], &v) != 2) return 1;
                ival[nint++] = v;
            } else if (!strcmp(tok, "F")) {
                char buf[64];
                if (scanf("%63s %63s", fkey[nflt], buf) != 2) return 1;
                fval[nflt++] = strtod(buf, NULL);
            } else if (!strcmp(tok, "T")) {
                int i = ntens++;
                if (scanf("%63s %d %d", tens[i].name, &tens[i].rg, &tndim[i]) != 3) return 1;
                int64_t n = read_shape(tndim[i], tshape[i]);
                if (n < 0) return 1;
                tdata[i] = realloc(tdata[i], sizeof(tg_real) * (size_t)(n ? n : 1));
                for (int64_t j = 0; j < n; j++) {
                    char buf[64];
                    if (scanf("%63s", buf) != 1) return 1;
                    tdata[i][j] = strtod(buf, NULL);
                }
            } else if (!strcmp(tok, "X")) {
                int i = nidx++;
                if (scanf("%63s %d", idxs[i].name, &xndim[i]) != 2) return 1;
                int64_t n = read_shape(xndim[i], xshape[i]);
                if (n < 0) return 1;
                xdata[i] = realloc(xdata[i], sizeof(int64_t) * (size_t)(n ? n : 1));
                for (int64_t j = 0; j < n; j++) {
                    long long v;
                    if (scanf("%lld", &v) != 1) return 1;
                    xdata[i][j] = v;
                }
            } else {
                fprintf(stderr, "bad token %s\n", tok);
                return 1;
            }
        }
        run_case(id, op);
    }
    return 0;
}
