/* Backpropagation, step by step — the micrograd lecture in C.
 *
 * A two-layer network on four examples of three numbers (micrograd's own
 * data). The program prints every forward value as it is computed, the tape
 * that the forward pass recorded, and then walks the tape backwards the way
 * tg_backward does, printing at each record the gradient that arrives at
 * its output and the gradients it sends to its inputs — checking one rule
 * by hand at each step. It ends with a few steps of gradient descent and a
 * finite-difference check of every gradient.
 *
 *     ./backprop_walkthrough                  (read the output top to bottom)
 *     ./backprop_walkthrough tape.dot         (also writes the graph: dot -Tpng tape.dot -o tape.png)
 *     ./backprop_walkthrough --explore t.html (also writes the explorer page: open it in a browser;
 *                                              the page's network reads its hidden layer twice,
 *                                              h·h + h, so that a gradient accumulates there)
 *     ./backprop_walkthrough --double         (the same in double: runs backprop_walkthrough_f64,
 *                                              whose finite differences agree to many more digits)
 */
#define _POSIX_C_SOURCE 200809L /* execv */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>
#include <unistd.h>

/* the network: x [4,3] -> linear(W1 [4,3], b1 [4]) -> tanh -> linear(W2 [1,4], b2 [1]) -> ŷ [4,1]
   loss = Σ (ŷ − y)²   (micrograd's sum of squared errors) */
static const tg_real X[4][3] = {{2, 3, -1}, {3, -1, 0.5}, {0.5, 1, 1}, {1, 1, -1}};
static const tg_real Y[4] = {1, -1, -1, 1};

static uint64_t rng = 1337;
static tg_real uniform(void) /* [-1, 1), the same on every machine */
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (tg_real)((double)(z >> 11) * 0x1p-52 - 1.0);
}

static void rule(void) { printf("----------------------------------------------------------------------\n"); }

static void show(const char *what, const tg_tensor *x)
{
    printf("%s\n", what);
    tg_tensor_print(x, stdout);
    printf("\n");
}

/* Prints a gradient as a tensor of the same shape. */
static void show_grad(const char *what, const tg_tensor *x)
{
    if (!x->grad) {
        printf("%s: (no gradient: needs none)\n\n", what);
        return;
    }
    tg_tensor g = *x; /* a view of the gradient, for printing */
    g.data = x->grad;
    g.grad = NULL;
    g.flags = 0;
    g.name = NULL;
    printf("%s\n", what);
    tg_tensor_print(&g, stdout);
    printf("\n");
}

/* The loss from the inputs {x, y, W1, b1, W2, b2}: used for the forward
   pass below, for training, and for the gradient check. */
static tg_tensor *network(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n, (void)ctx;
    tg_tensor *h = tg_tanh(t, tg_linear(t, in[0], in[2], in[3]));
    tg_tensor *yhat = tg_linear(t, h, in[4], in[5]);
    return tg_sum(t, tg_square(t, tg_sub(t, yhat, in[1])), TG_ALL, false);
}

/* The explorer page's network: the same, with the hidden layer read twice,
     hs = h·h + h,   yhat = linear(hs, W2, b2),
   so that h is read by two records (twice by the first) and the page shows
   its gradient accumulate (+=). Every tensor is named, for the page. */
static tg_tensor *network_twice(tg_tape *t, tg_tensor *W1, tg_tensor *b1, tg_tensor *W2,
                                tg_tensor *b2)
{
    tg_tensor *x = tg_tensor_set_name(tg_tensor_new(t, TG_SHAPE(4, 3), &X[0][0]), "x");
    tg_tensor *y = tg_tensor_set_name(tg_tensor_new(t, TG_SHAPE(4, 1), Y), "y");
    tg_tensor *z1 = tg_tensor_set_name(tg_linear(t, x, W1, b1), "z1");
    tg_tensor *h = tg_tensor_set_name(tg_tanh(t, z1), "h");
    tg_tensor *hh = tg_tensor_set_name(tg_mul(t, h, h), "hh");
    tg_tensor *hs = tg_tensor_set_name(tg_add(t, hh, h), "hs");
    tg_tensor *yhat = tg_tensor_set_name(tg_linear(t, hs, W2, b2), "yhat");
    tg_tensor *d = tg_tensor_set_name(tg_sub(t, yhat, y), "d");
    tg_tensor *d2 = tg_tensor_set_name(tg_square(t, d), "d2");
    return tg_tensor_set_name(tg_sum(t, d2, TG_ALL, false), "loss");
}

static const char USAGE[] =
    "usage: backprop_walkthrough [FILE.dot] [--explore FILE.html] [--double]\n"
    "Prints a small network's forward pass, its tape and its backward pass record\n"
    "by record; with FILE.dot, also writes the tape's graph there (for Graphviz);\n"
    "with --explore, the explorer page (tg_tape_html: open it in a browser and step\n"
    "through the forward and the backward pass) of the same network with its hidden\n"
    "layer read twice, h·h + h, so that h's gradient accumulates; with --double,\n"
    "runs in double (the program backprop_walkthrough_f64 beside this one).\n";

/* --double from the float build: the same program built for double sits
   beside this one as backprop_walkthrough_f64 (examples/CMakeLists.txt). */
static int run_double(char **argv)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s_f64", argv[0]);
    if (strlen(argv[0]) + 5 >= sizeof path) return 2;
    argv[0] = path;
    execv(path, argv);
    fprintf(stderr, "backprop_walkthrough: --double runs %s, which could not be started\n", path);
    return 1;
}

int main(int argc, char **argv)
{
    const char *dot = NULL, *explore = NULL; /* FILE.dot, --explore FILE.html */
    bool dbl = false;
    for (int i = 1; i < argc; i++) {
        bool help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
        if (!strcmp(argv[i], "--explore") && i + 1 < argc) explore = argv[++i];
        else if (!strcmp(argv[i], "--double")) dbl = true;
        else if (argv[i][0] != '-' && !dot) dot = argv[i];
        else {
            if (!help) fprintf(stderr, "backprop_walkthrough: unknown option or argument '%s'\n",
                               argv[i]);
            fputs(USAGE, help ? stdout : stderr);
            return help ? 0 : 2;
        }
    }
    if (dbl && strcmp(tg_real_name(), "double")) return run_double(argv);
    tg_tape *t = tg_tape_new();
    tg_params *p = tg_params_new();
    if (!t || !p) return 1;
    tg_tensor *W1 = tg_params_add(p, "W1", TG_SHAPE(4, 3));
    tg_tensor *b1 = tg_params_add(p, "b1", TG_SHAPE(4));
    tg_tensor *W2 = tg_params_add(p, "W2", TG_SHAPE(1, 4));
    tg_tensor *b2 = tg_params_add(p, "b2", TG_SHAPE(1));
    if (!W1 || !b1 || !W2 || !b2) return 1;
    for (size_t i = 0; i < tg_params_count(p); i++) {
        tg_tensor *w = tg_params_at(p, i);
        for (int64_t k = 0; k < w->size; k++) w->data[k] = uniform();
    }

    rule();
    printf("1. THE FORWARD PASS\n\n"
           "Each op computes its value now and appends one record to the tape.\n"
           "The parameters start random in [-1, 1).\n\n");
    show("W1 (first layer weights, [out, in] as in PyTorch):", W1);
    show("b1:", b1);
    show("W2:", W2);
    show("b2:", b2);

    tg_tensor *x = tg_tensor_set_name(tg_tensor_new(t, TG_SHAPE(4, 3), &X[0][0]), "x");
    tg_tensor *y = tg_tensor_set_name(tg_tensor_new(t, TG_SHAPE(4, 1), Y), "y");
    show("x (four examples, three numbers each; needs no gradient):", x);
    show("y (the targets):", y);

    tg_tensor *z1 = tg_tensor_set_name(tg_linear(t, x, W1, b1), "z1");
    show("z1 = x @ W1^T + b1   (each row: four weighted sums, one per neuron)", z1);
    tg_tensor *h = tg_tensor_set_name(tg_tanh(t, z1), "h");
    show("h = tanh(z1)   (the hidden layer squashes each sum into (-1, 1))", h);
    tg_tensor *yhat = tg_tensor_set_name(tg_linear(t, h, W2, b2), "yhat");
    show("yhat = h @ W2^T + b2   (the prediction, one number per example)", yhat);
    tg_tensor *d = tg_tensor_set_name(tg_sub(t, yhat, y), "d");
    show("d = yhat - y   (how far off each prediction is)", d);
    tg_tensor *sq = tg_tensor_set_name(tg_square(t, d), "d2");
    show("d2 = d^2", sq);
    tg_tensor *loss = tg_tensor_set_name(tg_sum(t, sq, TG_ALL, false), "loss");
    if (!loss) {
        fprintf(stderr, "%s\n", tg_tape_error(t));
        return 1;
    }
    show("loss = sum(d2)", loss);

    rule();
    printf("2. THE TAPE\n\n"
           "The forward pass left one record per op, in the order they ran.\n"
           "Parameters and x, y are not records: they are the leaves the records read.\n\n");
    tg_tape_print(t, stdout);
    printf("\n");

    rule();
    printf("3. THE BACKWARD PASS\n\n"
           "tg_backward seeds d(loss)/d(loss) = 1 and walks the records from the last\n"
           "to the first. Each record receives the gradient of the loss with respect\n"
           "to its output, multiplies it by its own local derivative (the chain rule)\n"
           "and ADDS the result into the gradients of its inputs. (Here every tensor\n"
           "is read by exactly one record, so what an input holds after the pass is\n"
           "what its record sent it.)\n\n");
    tg_params_zero_grad(p);
    if (tg_backward(t, loss) != TG_OK) {
        fprintf(stderr, "%s\n", tg_tape_error(t));
        return 1;
    }
    /* Every tensor here is read by exactly one record, so the gradient each
       input holds now is exactly what its record sent it. */
    for (size_t i = tg_tape_record_count(t); i-- > 0;) {
        const tg_record *r = tg_tape_record(t, i);
        const tg_tensor *out = r->out;
        printf("record #%zu: %s = %s   (%s)\n\n", i, out->name ? out->name : "?", r->op->name,
               r->op->doc ? r->op->doc : "");
        char what[160];
        snprintf(what, sizeof what, "  arrives: d(loss)/d(%s)", out->name ? out->name : "out");
        show_grad(what, out);
        for (int k = 0; k < r->n_in; k++) {
            const tg_tensor *in = r->in[k];
            if (!in) continue;
            snprintf(what, sizeof what, "  sends:   d(loss)/d(%s)", in->name ? in->name : "in");
            show_grad(what, in);
        }
        /* one number of each rule, by hand */
        const char *op = r->op->name;
        if (!strcmp(op, "sum"))
            printf("  by hand: loss = d2[0] + d2[1] + ..., so every d(loss)/d(d2[i]) = 1.\n");
        else if (!strcmp(op, "square"))
            printf("  by hand: d(d2)/d(d) = 2d: 2 * %.6g * %.6g = %.6g\n", (double)d->data[0],
                   (double)sq->grad[0], 2.0 * d->data[0] * sq->grad[0]);
        else if (!strcmp(op, "sub"))
            printf("  by hand: d(yhat - y)/d(yhat) = 1: the gradient passes through unchanged\n"
                   "           (y needs no gradient, so none is sent to it).\n");
        else if (!strcmp(op, "linear") && r->in[0] == h)
            printf("  by hand: d(loss)/dW2[0][0] = sum over examples of d(loss)/d(yhat) * h[:,0]\n"
                   "           = %.6g\n",
                   (double)(yhat->grad[0] * h->data[0] + yhat->grad[1] * h->data[4] +
                            yhat->grad[2] * h->data[8] + yhat->grad[3] * h->data[12]));
        else if (!strcmp(op, "tanh"))
            printf("  by hand: d tanh(z)/dz = 1 - tanh(z)^2 = 1 - h^2: (1 - %.6g^2) * %.6g = %.6g\n",
                   (double)h->data[0], (double)h->grad[0],
                   (1.0 - (double)h->data[0] * h->data[0]) * h->grad[0]);
        else if (!strcmp(op, "linear"))
            printf("  by hand: d(loss)/db1[0] = sum over examples of d(loss)/d(z1)[:,0] = %.6g\n",
                   (double)(z1->grad[0] + z1->grad[4] + z1->grad[8] + z1->grad[12]));
        printf("\n");
    }
    printf("The tape again, now with the norm of every gradient:\n\n");
    tg_tape_print(t, stdout);
    if (dot) {
        FILE *f = fopen(dot, "w");
        if (!f || tg_tape_dot(t, f) != TG_OK) {
            fprintf(stderr, "cannot write %s\n", dot);
            return 1;
        }
        fclose(f);
        printf("\n(the graph is in %s: dot -Tpng %s -o tape.png)\n", dot, dot);
    }

    if (explore) {
        /* on a tape of its own: the walkthrough's tape stays as printed */
        tg_tape *te = tg_tape_new();
        tg_tensor *le = te ? network_twice(te, W1, b1, W2, b2) : NULL;
        if (!le) {
            fprintf(stderr, "%s\n", te ? tg_tape_error(te) : "out of memory");
            return 1;
        }
        FILE *f = fopen(explore, "w");
        tg_html_opts ho = {.title = "backprop_walkthrough: micrograd's network with h read "
                                    "twice (hs = h·h + h), step by step"};
        int st = f ? tg_tape_html(te, le, f, &ho) : TG_ERR_IO;
        tg_tape_free(te);
        if (!f || st != TG_OK || fclose(f) != 0) {
            fprintf(stderr, "cannot write %s: %s\n", explore, tg_last_error());
            return 1;
        }
        printf("\n(the explorer page is in %s: open it in a browser, press step or play.\n"
               " Its network is this one with hs = h·h + h in place of h: h is read by two\n"
               " records, twice by the first, so its gradient accumulates, +=.)\n",
               explore);
    }

    rule();
    printf("4. ARE THE GRADIENTS RIGHT?\n\n"
           "Nudge each parameter by a tiny h both ways and see how the loss moves:\n"
           "(loss(w + h) - loss(w - h)) / 2h should equal the gradient above.\n\n");
    tg_gradcheck_opts o = tg_gradcheck_defaults();
    o.report = stdout;
    tg_tensor *in[6] = {x, y, W1, b1, W2, b2};
    tg_gradcheck_result gc = tg_gradcheck(network, NULL, in, 6, &o);
    printf("\nThe worst element agrees to %.1f significant digits in %s%s.\n\n",
           gc.rel_err > 0 ? -log10(gc.rel_err) : 17.0, tg_real_name(),
           strcmp(tg_real_name(), "double") ? " (run with --double for many more)" : "");

    rule();
    printf("5. LEARNING: w -= 0.05 * d(loss)/dw, then again\n\n");
    for (int step = 0; step <= 20; step++) {
        tg_tape_reset(t); /* forget the last step's records, keep the memory */
        tg_tensor *xi = tg_tensor_new(t, TG_SHAPE(4, 3), &X[0][0]);
        tg_tensor *yi = tg_tensor_new(t, TG_SHAPE(4, 1), Y);
        tg_tensor *inputs[6] = {xi, yi, W1, b1, W2, b2};
        tg_tensor *l = network(t, inputs, 6, NULL);
        tg_params_zero_grad(p); /* gradients accumulate: clear them first */
        if (!l || tg_backward(t, l) != TG_OK) {
            fprintf(stderr, "%s\n", tg_tape_error(t));
            return 1;
        }
        if (step % 4 == 0) printf("  step %2d  loss %.6f\n", step, (double)l->data[0]);
        tg_real *w = tg_params_data(p), *g = tg_params_grad(p);
        for (size_t k = 0; k < tg_params_block_len(p); k++) w[k] -= (tg_real)0.05 * g[k];
    }
    printf("\nThe predictions now (targets 1, -1, -1, 1):\n");
    tg_tape_reset(t);
    tg_tape_set_recording(t, false); /* inference: no records needed */
    tg_tensor *xi = tg_tensor_new(t, TG_SHAPE(4, 3), &X[0][0]);
    tg_tensor_print(tg_linear(t, tg_tanh(t, tg_linear(t, xi, W1, b1)), W2, b2), stdout);

    tg_params_free(p);
    tg_tape_free(t);
    return gc.status == TG_OK && gc.ok ? 0 : 1;
}
