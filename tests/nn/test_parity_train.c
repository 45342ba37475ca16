/* PyTorch parity of whole training runs (issue 5's first proof).

   tests/gen_golden_train.py builds an MLP 20-16-8-3 in PyTorch with
   nn.Linear's own initialisation (seed 1234), and trains it from those
   weights on 4 fixed batches of 16 (step k uses batch k mod 4) with
   torch.optim: 50 steps of SGD with momentum, 50 of Adam, and 20 of each
   variant (plain SGD, Nesterov + weight decay, dampening + weight decay,
   Adam + weight decay + amsgrad, AdamW, AdamW + amsgrad), for two networks:
   tanh hidden layers with the mean squared error, and ReLU hidden layers
   with cross entropy on class indices. It records every step's loss and the
   final weights, in float32 and in float64.

   Here the same runs go through tapegrad from the same initial weights
   (read from tests/golden/train_init_*.safetensors, the file PyTorch's side
   wrote, loaded with tg_params_load; checked against the text copy):
   - per-step losses: float within 1e-4 relative, double within 1e-9
     (the figures);
   - final weights within FINAL_ATOL + FINAL_RTOL·|w| (below: 10-20x the
     measured differences);
   - and the tape allocates nothing after the first step of each run. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "golden_train.h"

#ifdef TG_DOUBLE
#define TAG "f64"
#define LOSS_RTOL 1e-9
#else
#define TAG "f32"
#define LOSS_RTOL 1e-4
#endif

/* Final weights after 20-50 steps. The two sides differ only by rounding:
   the order of the sums in matrix products (PyTorch's kernels vs tg_gemm,
   OpenBLAS or built-in) and PyTorch's fused multiply-adds, about one ulp per
   operation, carried through the steps. The test prints the worst absolute
   difference of each run; measured over all 16 runs and both GEMM paths:
   float 6.1e-7 (weights of size 0.01-1; float eps is 1.2e-7), double
   5.6e-16. The bounds are about 10-20x that:
   float |Δ| ≤ 5e-6 + 1e-5·|w|, double |Δ| ≤ 1e-14 + 1e-12·|w|. */
#ifdef TG_DOUBLE
#define FINAL_ATOL 1e-14
#define FINAL_RTOL 1e-12
#else
#define FINAL_ATOL 5e-6
#define FINAL_RTOL 1e-5
#endif

static gtr_file *gold;
static void load(void) { gold = gtr_load("train_" TAG ".txt"); }
static void unload(void) { gtr_free(gold); }

TestSuite(parity_train, .init = load, .fini = unload);

#define N_LAYERS 3
static const char *PNAMES[] = {"fc1.weight", "fc1.bias", "fc2.weight",
                               "fc2.bias",   "fc3.weight", "fc3.bias"};

/* The network, built with the nn API: tg_mlp_init with prefix "fc" names
   the parameters exactly as PyTorch's state dict. */
static tg_params *make_net(tg_mlp *m, const char *family)
{
    tg_params *p = tg_params_new();
    const gtr_group *init = gtr_find_group(gold, "init");
    int64_t sizes[N_LAYERS + 1];
    cr_assert_eq(sscanf(gtr_attr_str(init, "sizes"), "%lld %lld %lld %lld", (long long *)&sizes[0],
                        (long long *)&sizes[1], (long long *)&sizes[2], (long long *)&sizes[3]),
                 4);
    tg_mlp_activation act = strcmp(family, "tanh_mse") == 0 ? tg_tanh : tg_relu;
    cr_assert_eq(tg_mlp_init(m, p, "fc", N_LAYERS + 1, sizes, act, NULL), TG_OK, "%s",
                 tg_last_error());
    /* the initial weights: PyTorch's, from the safetensors file its side
       wrote (strict: the same names and shapes as our network) */
    int st = tg_params_load(p, TG_TEST_DATA_DIR "/train_init_" TAG ".safetensors");
    cr_assert_eq(st, TG_OK, "loading the initial weights: %s", tg_last_error());
    /* the same values as the text copy, exactly */
    for (int i = 0; i < 2 * N_LAYERS; i++) {
        const gtr_item *it = gtr_item_of(init, PNAMES[i]);
        tg_tensor *x = tg_params_get(p, PNAMES[i]);
        cr_assert_eq(x->size, it->n);
        for (int64_t k = 0; k < it->n; k++)
            cr_assert(x->data[k] == (tg_real)it->v[k], "%s[%lld] differs from the text golden",
                      PNAMES[i], (long long)k);
    }
    return p;
}

static void run(const char *family, const char *name)
{
    char gname[128];
    snprintf(gname, sizeof gname, "run_%s_%s", family, name);
    const gtr_group *g = gtr_find_group(gold, gname);
    const gtr_group *data = gtr_find_group(gold, "data");
    const gtr_group *init = gtr_find_group(gold, "init");
    int n_batches = (int)gtr_attr(init, "n_batches");
    int64_t batch = (int64_t)gtr_attr(init, "batch");
    bool mse = strcmp(family, "tanh_mse") == 0;

    tg_mlp m;
    tg_params *p = make_net(&m, family);
    tg_optim *o = gtr_optim(p, g);
    cr_assert_not_null(o, "%s: %s", gname, tg_last_error());
    tg_tape *t = tg_tape_new();

    /* the batches, converted once */
    int64_t in = m.layers[0].in, out = m.layers[N_LAYERS - 1].out;
    tg_real *xs = malloc((size_t)(n_batches * batch * in) * sizeof *xs);
    tg_real *ys = malloc((size_t)(n_batches * batch * out) * sizeof *ys);
    int64_t *cs = malloc((size_t)(n_batches * batch) * sizeof *cs);
    for (int b = 0; b < n_batches; b++) {
        char nm[16];
        snprintf(nm, sizeof nm, "x%d", b);
        const gtr_item *x = gtr_item_of(data, nm);
        cr_assert_eq(x->n, batch * in);
        for (int64_t i = 0; i < x->n; i++) xs[b * batch * in + i] = (tg_real)x->v[i];
        snprintf(nm, sizeof nm, "y%d", b);
        const gtr_item *y = gtr_item_of(data, nm);
        for (int64_t i = 0; i < y->n; i++) ys[b * batch * out + i] = (tg_real)y->v[i];
        snprintf(nm, sizeof nm, "c%d", b);
        const gtr_item *c = gtr_item_of(data, nm);
        for (int64_t i = 0; i < c->n; i++) cs[b * batch + i] = (int64_t)c->v[i];
    }

    const gtr_item *want = gtr_item_of(g, "loss");
    int steps = (int)gtr_attr(g, "steps");
    cr_assert_eq(want->n, steps);
    double worst_loss = 0;
    int worst_step = -1;
    size_t allocs = 0;
    for (int s = 0; s < steps; s++) {
        if (s == 1) allocs = tg_tape_get_stats(t).heap_allocs;
        int b = s % n_batches;
        tg_tensor *x = tg_tensor_new(t, TG_SHAPE(batch, in), xs + b * batch * in);
        tg_tensor *logits = tg_mlp_forward(t, &m, x);
        tg_tensor *loss;
        if (mse) {
            tg_tensor *y = tg_tensor_new(t, TG_SHAPE(batch, out), ys + b * batch * out);
            loss = tg_mse_loss(t, logits, y, TG_REDUCE_MEAN);
        } else {
            loss = tg_cross_entropy(t, logits, cs + b * batch, TG_REDUCE_MEAN);
        }
        cr_assert_not_null(loss, "%s step %d: %s", gname, s, tg_tape_error(t));
        double got = loss->data[0], w = want->v[s];
        double rel = fabs(got - w) / fabs(w);
        if (rel > worst_loss) worst_loss = rel, worst_step = s;
        cr_expect(rel <= LOSS_RTOL, "%s step %d: loss %.17g, PyTorch %.17g (rel %.3g > %g)",
                  gname, s, got, w, rel, LOSS_RTOL);
        tg_optim_zero_grad(o);
        cr_assert_eq(tg_backward(t, loss), TG_OK, "%s: %s", gname, tg_tape_error(t));
        cr_assert_eq(tg_optim_step(o), TG_OK, "%s: %s", gname, tg_last_error());
        tg_tape_reset(t);
    }
    cr_expect_eq(tg_tape_get_stats(t).heap_allocs, allocs,
                 "%s: the tape allocated after the first step", gname);

    double worst_w = 0;
    for (int i = 0; i < 2 * N_LAYERS; i++) {
        const gtr_item *it = gtr_item_of(g, PNAMES[i]);
        tg_tensor *x = tg_params_get(p, PNAMES[i]);
        char what[160];
        snprintf(what, sizeof what, "%s: final %s", gname, PNAMES[i]);
        gt_expect_close(x->data, it->v, x->size, (gt_tol){FINAL_RTOL, FINAL_ATOL}, what);
        for (int64_t k = 0; k < x->size; k++)
            worst_w = fmax(worst_w, fabs((double)x->data[k] - it->v[k]));
    }
    if (!getenv("TG_TEST_QUIET"))
        printf("%-40s %2d steps  worst loss rel diff %.2e (step %d)  worst weight diff %.2e\n",
               gname, steps, worst_loss, worst_step, worst_w);
    free(xs);
    free(ys);
    free(cs);
    tg_tape_free(t);
    tg_optim_free(o);
    tg_params_free(p);
}

/* The safetensors file written by the golden script (F32 and F64) loads
   into an empty tg_params as PyTorch's state dict: the same names in the
   same order, shapes [out, in] and [out], and the same values in both
   precisions (the weights were made in float32, exact in float64). */
Test(parity_train, pytorch_safetensors_load_as_state_dict)
{
    const gtr_group *init = gtr_find_group(gold, "init");
    const char *files[] = {TG_TEST_DATA_DIR "/train_init_f32.safetensors",
                           TG_TEST_DATA_DIR "/train_init_f64.safetensors"};
    for (int f = 0; f < 2; f++) {
        tg_params *p = tg_params_new();
        cr_assert_eq(tg_params_load(p, files[f]), TG_OK, "%s: %s", files[f], tg_last_error());
        cr_assert_eq(tg_params_count(p), 2 * N_LAYERS);
        for (int i = 0; i < 2 * N_LAYERS; i++) {
            tg_tensor *x = tg_params_at(p, (size_t)i);
            const gtr_item *it = gtr_item_of(init, PNAMES[i]);
            cr_expect_str_eq(x->name, PNAMES[i]);
            cr_expect_eq(x->ndim, it->ndim, "%s", PNAMES[i]);
            for (int d = 0; d < it->ndim; d++) cr_expect_eq(x->shape[d], it->shape[d]);
            for (int64_t k = 0; k < it->n; k++) cr_expect(x->data[k] == (tg_real)it->v[k]);
        }
        tg_params_free(p);
    }
}

#define RUN(FAMILY, NAME) \
    Test(parity_train, FAMILY##_##NAME) { run(#FAMILY, #NAME); }

RUN(tanh_mse, sgd_momentum)
RUN(tanh_mse, adam)
RUN(tanh_mse, sgd_plain)
RUN(tanh_mse, sgd_nesterov_wd)
RUN(tanh_mse, sgd_dampening_wd)
RUN(tanh_mse, adam_wd_amsgrad)
RUN(tanh_mse, adamw)
RUN(tanh_mse, adamw_amsgrad)
RUN(relu_ce, sgd_momentum)
RUN(relu_ce, adam)
RUN(relu_ce, sgd_plain)
RUN(relu_ce, sgd_nesterov_wd)
RUN(relu_ce, sgd_dampening_wd)
RUN(relu_ce, adam_wd_amsgrad)
RUN(relu_ce, adamw)
RUN(relu_ce, adamw_amsgrad)
