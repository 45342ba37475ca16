/* gradient_penalty: a WGAN-GP critic (Gulrajani et al., "Improved Training of
   Wasserstein GANs", 2017) trained for a few steps: a loss that contains a
   gradient, so that training it needs the gradient of a gradient.

   The critic D is an MLP 2 → 64 → 64 → 1 (tanh). Real samples come from
   eight Gaussians on a circle of radius 2 (σ = 0.05), the classic toy data
   set; fake ones from an untrained generator, here N(0, I). With x̂ a random
   point on the segment between a real and a fake sample (ε ~ U(0, 1)),

       loss = mean D(fake) − mean D(real) + λ·mean_x̂ (‖∇ₓD(x̂)‖₂ − 1)²

   The first part is minus the critic's estimate of the Wasserstein distance;
   the penalty keeps D 1-Lipschitz along those segments. ∇ₓD(x̂) comes from
   tg_grad1 with create_graph, so it is a tensor on the tape like any other,
   and the one tg_backward of the loss differentiates through it into the
   critic's weights. Adam with the paper's betas (0.5, 0.9) and λ = 10; the
   paper's learning rate is 1e-4, this program takes 1e-3 by default so that
   a few steps show the estimate grow and the norms approach 1.

     ./gradient_penalty [--steps K] [--lr X] [--lambda L] [--batch N] [--seed N]

   Each step allocates nothing once the first has sized the tape.
   tests/tools/test_higher_examples.c compares the loss of every step with
   PyTorch's (torch.autograd.grad with create_graph=True). */
#include <tapegrad.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a run is made of; gp_defaults() gives the program's defaults. */
typedef struct gp_opts {
    int steps;
    int64_t batch;
    double lr, lambda;
    uint64_t seed; /* of the critic's weights, then of every batch, one stream */
} gp_opts;

static gp_opts gp_defaults(void)
{
    return (gp_opts){.steps = 20, .batch = 64, .lr = 1e-3, .lambda = 10, .seed = 5};
}

/* The critic, its optimizer, the random stream and the batch buffers. */
typedef struct gp_critic {
    gp_opts o;
    tg_params *p;
    tg_mlp D;
    tg_optim *adam;
    tg_rng rng;
    tg_real *real, *fake, *xhat; /* [batch, 2] each */
} gp_critic;

/* The parts of one step's loss, for printing. */
typedef struct gp_step_info {
    double loss;      /* the whole loss */
    double wdist;     /* mean D(real) − mean D(fake): the distance estimate */
    double penalty;   /* mean (‖∇D(x̂)‖ − 1)², before λ */
    double mean_norm; /* mean ‖∇D(x̂)‖ */
} gp_step_info;

static void gp_critic_free(gp_critic *c)
{
    tg_optim_free(c->adam);
    tg_params_free(c->p);
    free(c->real);
    c->adam = NULL, c->p = NULL, c->real = NULL;
}

/* The critic with nn.Linear's initialisation from the stream, and Adam.
   TG_OK or an error (tg_last_error says why). */
static int gp_critic_init(gp_critic *c, const gp_opts *o)
{
    *c = (gp_critic){.o = *o};
    tg_rng_seed(&c->rng, o->seed);
    c->p = tg_params_new();
    c->real = calloc((size_t)o->batch * 6, sizeof(tg_real));
    if (!c->p || !c->real || o->batch < 1) {
        gp_critic_free(c);
        return TG_ERR_NOMEM;
    }
    c->fake = c->real + o->batch * 2;
    c->xhat = c->fake + o->batch * 2;
    int st = tg_mlp_init(&c->D, c->p, "fc", TG_SHAPE(2, 64, 64, 1), tg_tanh, &c->rng);
    tg_adam_opts ao = tg_adam_defaults(o->lr);
    ao.beta1 = 0.5;
    ao.beta2 = 0.9;
    if (st == TG_OK && !(c->adam = tg_adam_new(c->p, &ao))) st = TG_ERR_INVALID;
    if (st != TG_OK) gp_critic_free(c);
    return st;
}

/* One batch, drawn in this order from the stream (in double, each value
   rounded to tg_real): for each real sample a centre k (below 8) and two
   normals, x = centre_k + 0.05·(n₁, n₂); two normals per fake sample; then
   one uniform ε per sample, and x̂ = ε·real + (1 − ε)·fake from the rounded
   real and fake, in double, rounded. */
static void gp_sample(gp_critic *c)
{
    const double r2 = sqrt(2.0); /* the centres (2 cos 2πk/8, 2 sin 2πk/8) */
    const double cx[8] = {2, r2, 0, -r2, -2, -r2, 0, r2}, cy[8] = {0, r2, 2, r2, 0, -r2, -2, -r2};
    const int64_t n = c->o.batch;
    for (int64_t i = 0; i < n; i++) {
        uint64_t k = tg_rng_below(&c->rng, 8);
        double a = tg_rng_normal(&c->rng), b = tg_rng_normal(&c->rng);
        c->real[2 * i] = (tg_real)(cx[k] + 0.05 * a);
        c->real[2 * i + 1] = (tg_real)(cy[k] + 0.05 * b);
    }
    for (int64_t i = 0; i < 2 * n; i++) c->fake[i] = (tg_real)tg_rng_normal(&c->rng);
    for (int64_t i = 0; i < n; i++) {
        double e = tg_rng_uniform(&c->rng);
        for (int64_t j = 2 * i; j < 2 * i + 2; j++)
            c->xhat[j] = (tg_real)(e * (double)c->real[j] + (1 - e) * (double)c->fake[j]);
    }
}

/* The loss of the current batch on tape t (see the top of the file). */
static tg_tensor *gp_loss(tg_tape *t, const gp_critic *c, gp_step_info *info)
{
    const int64_t n = c->o.batch;
    tg_tensor *real = tg_tensor_wrap(t, TG_SHAPE(n, 2), c->real);
    tg_tensor *fake = tg_tensor_wrap(t, TG_SHAPE(n, 2), c->fake);
    tg_tensor *xhat = tg_requires_grad(tg_tensor_wrap(t, TG_SHAPE(n, 2), c->xhat), true);
    tg_tensor *wdist = tg_sub(t, tg_mean(t, tg_mlp_forward(t, &c->D, real), TG_ALL, false),
                              tg_mean(t, tg_mlp_forward(t, &c->D, fake), TG_ALL, false));
    /* ∇ₓD(x̂), one row per sample: each D(x̂ᵢ) depends on x̂ᵢ alone, so the
       gradient of the sum holds every sample's gradient */
    tg_tensor *dhat = tg_sum(t, tg_mlp_forward(t, &c->D, xhat), TG_ALL, false);
    tg_tensor *gx = dhat ? tg_grad1(t, dhat, xhat, true) : NULL;          /* [n, 2] */
    tg_tensor *norm = tg_sqrt(t, tg_sum(t, tg_square(t, gx), 1, false)); /* [n] */
    tg_tensor *penalty = tg_mean(t, tg_square(t, tg_add_scalar(t, norm, -1)), TG_ALL, false);
    tg_tensor *loss = tg_sub(t, tg_scale(t, penalty, (tg_real)c->o.lambda), wdist);
    if (!loss) return NULL;
    double sum_norm = 0;
    for (int64_t i = 0; i < n; i++) sum_norm += (double)norm->data[i];
    *info = (gp_step_info){.loss = (double)loss->data[0], .wdist = (double)wdist->data[0],
                           .penalty = (double)penalty->data[0], .mean_norm = sum_norm / (double)n};
    return loss;
}

/* One training step: a new batch, the loss, its gradient, Adam's update; the
   tape is reset at the end. TG_OK or an error (message on t or in
   tg_last_error). */
static int gp_step(tg_tape *t, gp_critic *c, gp_step_info *info)
{
    gp_sample(c);
    tg_tensor *loss = gp_loss(t, c, info);
    tg_optim_zero_grad(c->adam);
    int st = loss ? tg_backward(t, loss) : TG_ERR_INVALID;
    if (st == TG_OK) st = tg_optim_step(c->adam);
    tg_tape_reset(t);
    return st;
}

#ifndef TG_EXAMPLE_NO_MAIN /* tests/tools/test_higher_examples.c includes the code above */

static void usage(FILE *f)
{
    gp_opts d = gp_defaults();
    fprintf(f,
            "usage: gradient_penalty [options]\n"
            "Trains a WGAN-GP critic (2-64-64-1 tanh) on eight Gaussians against N(0, I)\n"
            "for a few Adam steps and prints the loss of each step.\n"
            "  --steps K     steps (%d)\n"
            "  --lr X        Adam's learning rate (%g; the paper's is 1e-4)\n"
            "  --lambda L    weight of the gradient penalty (%g)\n"
            "  --batch N     samples of each kind per step (%lld)\n"
            "  --seed N      of the weights and the batches (%llu)\n"
            "  --help        this text\n",
            d.steps, d.lr, d.lambda, (long long)d.batch, (unsigned long long)d.seed);
}

/* A number for option `name` in [lo, hi]; false (with a message) if not. */
static bool parse_num(const char *name, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "gradient_penalty: %s needs a number in [%g, %g], not '%s'\n", name, lo,
                hi, s ? s : "");
        return false;
    }
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    gp_opts o = gp_defaults();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--steps") && parse_num(a, v, 0, 1e6, &x)) o.steps = (int)x;
        else if (!strcmp(a, "--lr") && parse_num(a, v, 0, 1, &x)) o.lr = x;
        else if (!strcmp(a, "--lambda") && parse_num(a, v, 0, 1e6, &x)) o.lambda = x;
        else if (!strcmp(a, "--batch") && parse_num(a, v, 1, 1 << 20, &x)) o.batch = (int64_t)x;
        else if (!strcmp(a, "--seed") && parse_num(a, v, 0, 9007199254740992.0, &x))
            o.seed = (uint64_t)x;
        else {
            if (strcmp(a, "--steps") && strcmp(a, "--lr") && strcmp(a, "--lambda") &&
                strcmp(a, "--batch") && strcmp(a, "--seed")) {
                fprintf(stderr, "gradient_penalty: unknown option or argument '%s'\n", a);
                usage(stderr);
            }
            return 2;
        }
        i++;
    }
    gp_critic c;
    tg_tape *t = tg_tape_new();
    if (!t || gp_critic_init(&c, &o) != TG_OK) {
        fprintf(stderr, "gradient_penalty: %s\n", tg_last_error());
        tg_tape_free(t);
        return 1;
    }
    printf("WGAN-GP critic 2-64-64-1 (tanh), %lld parameters; eight Gaussians vs N(0, I),\n"
           "batch %lld, Adam lr %g betas (0.5, 0.9), lambda %g, seed %llu (%s)\n\n",
           (long long)tg_params_numel(c.p), (long long)o.batch, o.lr, o.lambda,
           (unsigned long long)o.seed, tg_real_name());
    printf("step  loss        W estimate  penalty     mean |grad D(x^)|\n");
    size_t allocs = 0;
    for (int s = 0; s < o.steps; s++) {
        gp_step_info info;
        if (gp_step(t, &c, &info) != TG_OK) {
            fprintf(stderr, "gradient_penalty: step %d: %s%s\n", s, tg_tape_error(t),
                    tg_last_error());
            gp_critic_free(&c);
            tg_tape_free(t);
            return 1;
        }
        printf("%4d  %-10.6f  %-10.6f  %-10.6f  %.6f\n", s, info.loss, info.wdist, info.penalty,
               info.mean_norm);
        if (s == 0) allocs = tg_tape_get_stats(t).heap_allocs;
    }
    if (o.steps > 1)
        printf("\nthe tape allocated %zu times after the first step\n",
               tg_tape_get_stats(t).heap_allocs - allocs);
    gp_critic_free(&c);
    tg_tape_free(t);
    return 0;
}
#endif
