/* Released gradients (tg_params_release_grad, tg_optim_step_release_grad):
   PyTorch's zero_grad() with set_to_none=True.

   - A loop that releases the gradients trains exactly as the loop that
     zeroes them: the same gradients after every backward and the same
     parameters after every step, compared value by value (a written
     gradient is 0 + its value, so even a zero's sign agrees; the writing
     rules' own test below compares bits), for SGD with momentum and for
     Adam, on one thread and on two.
   - After a release every grad is NULL; backward brings back each one it
     reaches, the step skips the others (as PyTorch skips a None grad) and
     leaves their state alone.
   - Stale bytes never leak into a gradient: the memory behind a released
     gradient is filled with garbage first, then backward must give the
     gradient that zeroed memory gives, through a rule that writes fresh
     gradients (linear, relu), through one that only adds (mul, and a
     user's op), and through a writing rule whose two inputs are the same
     tensor; and every rule flagged to write a fresh gradient (each of its
     branches: matmul's products and its operand repeated over a batch,
     permute's two loops, softmax's rows, arithmetic with and without
     broadcasting, and the older writers gelu, relu and layer norm) gives
     the bits that adding to zeros gives, a −0 term included; so do the
     convolutions' rules (input, weight and bias, each path of col2im, a
     1x1 kernel, groups, 1-D, an empty batch).
   - tg_params_zero_grad brings released gradients back as zeros;
     tg_params_add keeps the others released. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tapegrad.h"

/* a == b for every element (so -0 == +0); NaN never equal */
static bool same_values(const tg_real *a, const tg_real *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!(a[i] == b[i])) return false;
    return true;
}

/* ------------------------------------------ the two loops train the same */

typedef struct {
    tg_params *p;
    tg_mlp m;
    tg_optim *o;
    tg_tape *t;
} net;

static net make_net(bool adam)
{
    net n = {.p = tg_params_new(), .t = tg_tape_new()};
    tg_rng r;
    tg_rng_seed(&r, 3); /* both copies start from the same weights */
    cr_assert(n.p && n.t);
    cr_assert_eq(tg_mlp_init(&n.m, n.p, "fc", TG_SHAPE(40, 300, 200, 7), tg_relu, &r), TG_OK);
    tg_sgd_opts so = tg_sgd_defaults(0.01);
    so.momentum = 0.9;
    so.weight_decay = 1e-3;
    n.o = adam ? tg_adam_new(n.p, NULL) : tg_sgd_new(n.p, &so);
    cr_assert_not_null(n.o, "%s", tg_last_error());
    return n;
}

static void free_net(net *n)
{
    tg_optim_free(n->o);
    tg_tape_free(n->t);
    tg_params_free(n->p);
}

/* forward and backward of a cross-entropy step on batch `step` */
static void forward_backward(net *n, int step)
{
    enum { B = 64 };
    static tg_real xs[B * 40];
    static int64_t ys[B];
    tg_rng r;
    tg_rng_seed(&r, 100 + (uint64_t)step);
    for (int i = 0; i < B * 40; i++) xs[i] = (tg_real)tg_rng_normal(&r);
    for (int i = 0; i < B; i++) ys[i] = (int64_t)tg_rng_below(&r, 7);
    tg_tensor *x = tg_tensor_new(n->t, TG_SHAPE(B, 40), xs);
    tg_tensor *loss = tg_cross_entropy(n->t, tg_mlp_forward(n->t, &n->m, x), ys, TG_REDUCE_MEAN);
    cr_assert_not_null(loss, "%s", tg_tape_error(n->t));
    cr_assert_eq(tg_backward(n->t, loss), TG_OK, "%s", tg_tape_error(n->t));
}

static void loops_train_the_same(bool adam, int threads)
{
    cr_assert_eq(tg_set_num_threads(threads), TG_OK);
    net zeroed = make_net(adam), released = make_net(adam);
    size_t count = tg_params_count(zeroed.p);
    for (int step = 0; step < 6; step++) {
        tg_optim_zero_grad(zeroed.o);
        forward_backward(&zeroed, step);
        forward_backward(&released, step);
        for (size_t k = 0; k < count; k++) {
            const tg_tensor *a = tg_params_at(zeroed.p, k), *b = tg_params_at(released.p, k);
            cr_assert_not_null(b->grad, "step %d: backward did not bring back %s", step, b->name);
            cr_expect(same_values(a->grad, b->grad, a->size), "step %d: the gradient of %s differs",
                      step, a->name);
        }
        cr_assert_eq(tg_optim_step(zeroed.o), TG_OK);
        cr_assert_eq(tg_optim_step_release_grad(released.o), TG_OK);
        for (size_t k = 0; k < count; k++) {
            const tg_tensor *a = tg_params_at(zeroed.p, k), *b = tg_params_at(released.p, k);
            cr_expect_null(b->grad, "step %d: %s was not released", step, b->name);
            cr_expect(same_values(a->data, b->data, a->size), "step %d: %s differs after the step",
                      step, a->name);
        }
        tg_tape_reset(zeroed.t);
        tg_tape_reset(released.t);
    }
    free_net(&zeroed);
    free_net(&released);
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
}

Test(release_grad, sgd_loop_trains_as_the_zeroing_loop) { loops_train_the_same(false, 1); }
Test(release_grad, adam_loop_trains_as_the_zeroing_loop) { loops_train_the_same(true, 1); }
Test(release_grad, two_thread_loop_trains_as_the_zeroing_loop) { loops_train_the_same(false, 2); }

/* ------------------------------------------ a parameter backward misses */

Test(release_grad, a_parameter_without_gradient_is_skipped_by_the_step)
{
    tg_params *p = tg_params_new();
    tg_tensor *used = tg_params_add(p, "used", TG_SHAPE(3));
    tg_tensor *unused = tg_params_add(p, "unused", TG_SHAPE(2));
    cr_assert(used && unused);
    for (int i = 0; i < 3; i++) used->data[i] = (tg_real)(i + 1);
    unused->data[0] = 5, unused->data[1] = -7;
    tg_sgd_opts so = tg_sgd_defaults(0.1);
    so.momentum = 0.9;
    so.weight_decay = 0.5; /* would move `unused` if it were updated */
    tg_optim *o = tg_sgd_new(p, &so);
    tg_tape *t = tg_tape_new();
    cr_assert(o && t);
    tg_optim_release_grad(o);
    cr_expect_null(used->grad);
    cr_expect_null(unused->grad);
    for (int step = 0; step < 2; step++) {
        tg_tensor *loss = tg_sum(t, tg_square(t, used), TG_ALL, false);
        cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
        cr_assert_not_null(used->grad);
        cr_expect_null(unused->grad, "backward gave a gradient to a parameter it did not reach");
        cr_assert_eq(tg_optim_step_release_grad(o), TG_OK);
        tg_tape_reset(t);
    }
    cr_expect(unused->data[0] == 5 && unused->data[1] == -7, "a skipped parameter moved");
    const tg_real *buf = tg_optim_state(o, "momentum_buffer");
    size_t off = (size_t)(unused->data - tg_params_data(p));
    cr_expect(buf[off] == 0 && buf[off + 1] == 0, "a skipped parameter's momentum moved");
    cr_expect(used->data[0] != 1, "the used parameter did not move");
    tg_tape_free(t);
    tg_optim_free(o);
    tg_params_free(p);
}

/* -------------------------------------------- stale bytes never leak in */

/* An op of the user's, which only adds into its input's gradient: y = 3x. */
static int triple_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    (void)msg, (void)len;
    *ndim = r->in[0]->ndim;
    memcpy(shape, r->in[0]->shape, sizeof(int64_t) * (size_t)r->in[0]->ndim);
    return TG_OK;
}
static int triple_forward(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++) r->out->data[i] = 3 * r->in[0]->data[i];
    return TG_OK;
}
static void triple_backward(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++) r->in[0]->grad[i] += 3 * r->out->grad[i];
}
static const tg_op op_triple = {.name = "triple", .n_inputs = 1, .shape = triple_shape,
                                .forward = triple_forward, .backward = triple_backward};

enum { N_GRAPHS = 4 };

/* loss = Σ c ⊙ f(W, b) for four graphs f over W [4, 4] and b [4] */
static tg_tensor *graph(tg_tape *t, int which, tg_tensor *W, tg_tensor *b, tg_tensor *c)
{
    switch (which) {
    case 0: /* linear then relu: both write fresh gradients */
        return tg_sum(t, tg_mul(t, tg_relu(t, tg_linear(t, c, W, b)), c), TG_ALL, false);
    case 1: /* mul only adds */
        return tg_sum(t, tg_mul(t, W, c), TG_ALL, false);
    case 2: { /* a user's op */
        tg_tensor *in[1] = {W};
        return tg_sum(t, tg_mul(t, tg_apply(t, &op_triple, in, 1, NULL), c), TG_ALL, false);
    }
    default: /* W twice in one writing rule: W·Wᵀ + b */
        return tg_sum(t, tg_mul(t, tg_linear(t, W, W, b), c), TG_ALL, false);
    }
}

Test(release_grad, stale_memory_never_reaches_a_gradient)
{
    for (int which = 0; which < N_GRAPHS; which++) {
        tg_real want_W[16], want_b[4], cs[16];
        for (int i = 0; i < 16; i++) cs[i] = (tg_real)((i * 7) % 11) / 5 - 1;
        for (int pass = 0; pass < 2; pass++) {
            tg_params *p = tg_params_new();
            tg_tensor *W = tg_params_add(p, "W", TG_SHAPE(4, 4));
            tg_tensor *b = tg_params_add(p, "b", TG_SHAPE(4));
            tg_tape *t = tg_tape_new();
            cr_assert(p && W && b && t);
            for (int i = 0; i < 16; i++) W->data[i] = (tg_real)((i * 5) % 9) / 4 - 1;
            for (int i = 0; i < 4; i++) b->data[i] = (tg_real)i / 3;
            tg_tensor *c = tg_tensor_new(t, TG_SHAPE(4, 4), cs);
            if (pass == 1) { /* garbage behind the gradients, then release */
                for (size_t i = 0; i < tg_params_block_len(p); i++) tg_params_grad(p)[i] = 1e30f;
                tg_params_release_grad(p);
            }
            tg_tensor *loss = graph(t, which, W, b, c);
            cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
            cr_assert_not_null(W->grad);
            if (pass == 0) {
                memcpy(want_W, W->grad, sizeof want_W);
                memcpy(want_b, b->grad, sizeof want_b);
            } else {
                cr_expect(same_values(W->grad, want_W, 16), "graph %d: dW after a release differs",
                          which);
                if (which == 0 || which == 3)
                    cr_expect(same_values(b->grad, want_b, 4),
                              "graph %d: db after a release differs", which);
                else
                    cr_expect_null(b->grad, "graph %d: b is not used", which);
            }
            tg_tape_free(t);
            tg_params_free(p);
        }
    }
}

/* ------------------------------- every rule that writes fresh gradients */

/* A constant of x's shape: (i·7 mod 11)/5 − 1, or 1 + i mod 3 (never 0) */
static tg_tensor *weights_like(tg_tape *t, const tg_tensor *x, bool nonzero)
{
    tg_tensor *c = tg_zeros(t, x->ndim, x->shape);
    for (int64_t i = 0; c && i < c->size; i++)
        c->data[i] = nonzero ? (tg_real)(1 + i % 3) : (tg_real)((i * 7) % 11) / 5 - 1;
    return c;
}

/* Σ c ⊙ y with c = weights_like(y) */
static tg_tensor *weighted(tg_tape *t, tg_tensor *y)
{
    return tg_sum(t, tg_mul(t, y, weights_like(t, y, false)), TG_ALL, false);
}

static tg_tensor *shaped(tg_tape *t, int ndim, const int64_t *shape)
{
    tg_tensor *c = tg_zeros(t, ndim, shape);
    for (int64_t i = 0; c && i < c->size; i++) c->data[i] = (tg_real)((i * 5) % 7) / 3 - 1;
    return c;
}

enum { N_WRITERS = 25 };

/* The rules that write a fresh gradient instead of adding to zeros (each
   branch of each), reached from W [4, 4], b [4] and V [12, 12] */
static tg_tensor *writer(tg_tape *t, int which, tg_tensor *W, tg_tensor *b, tg_tensor *V)
{
    static const int swap[2] = {1, 0};
    switch (which) {
    case 0: return weighted(t, tg_reshape(t, W, TG_SHAPE(2, 8)));
    case 1: return weighted(t, tg_permute(t, W, 2, swap)); /* runs of 4: element by element */
    case 2: return weighted(t, tg_transpose(t, V, 0, 1));  /* 12 x 12: in tiles */
    case 3: return weighted(t, tg_matmul(t, W, shaped(t, TG_SHAPE(4, 3))));
    case 4: /* [2, 5, 4] @ W: one product for B over the batch */
        return weighted(t, tg_matmul(t, shaped(t, TG_SHAPE(2, 5, 4)), W));
    case 5: /* W @ [2, 4, 3]: W repeated over the batch, summed */
        return weighted(t, tg_matmul(t, W, shaped(t, TG_SHAPE(2, 4, 3))));
    case 6: return weighted(t, tg_matmul_t(t, W, shaped(t, TG_SHAPE(4, 3)), true, false));
    case 7: return weighted(t, tg_softmax(t, W, 1));  /* rows of 4: the short path */
    case 8: return weighted(t, tg_softmax(t, V, 1));  /* rows of 12: the vector rows */
    case 9: return weighted(t, tg_softmax(t, V, 0));  /* along a leading axis */
    case 10: return weighted(t, tg_softmin(t, V, 1));
    case 11: return weighted(t, tg_scale(t, W, 3));
    case 12: return weighted(t, tg_abs(t, W)); /* W holds a 0: g·sign(0) is −0 for g < 0 */
    case 13: return weighted(t, tg_add(t, W, weights_like(t, W, false)));
    case 14: return weighted(t, tg_add(t, b, W)); /* b broadcast: both summed after zeros */
    case 15: return weighted(t, tg_sub(t, weights_like(t, W, false), W));
    case 16: return weighted(t, tg_mul(t, W, weights_like(t, W, false)));
    case 17: return weighted(t, tg_div(t, W, weights_like(t, W, true)));
    case 18: return weighted(t, tg_div(t, weights_like(t, W, true), tg_add_scalar(t, W, 3)));
    case 19: return weighted(t, tg_matmul_t(t, shaped(t, TG_SHAPE(3, 4)), W, false, true));
    /* the older writers: V[51] = −1, where gelu′ < 0, meets a weight of 0
       there, so the term is 0·gelu′ = −0 (0 + −0 = +0 written) */
    case 20: return weighted(t, tg_gelu(t, V, TG_GELU_NONE));
    case 21: return weighted(t, tg_gelu(t, V, TG_GELU_TANH));
    case 22: return weighted(t, tg_relu(t, V));
    case 23: return weighted(t, tg_layer_norm(t, W, TG_SHAPE(4), b, NULL, 1e-5));
    default: return weighted(t, tg_mul(t, W, W)); /* one tensor twice: zeros, then adds */
    }
}

static bool same_grad_bits(const tg_tensor *a, const tg_real *want, bool had)
{
    if (!had) return a->grad == NULL;
    return a->grad && memcmp(a->grad, want, (size_t)a->size * sizeof(tg_real)) == 0;
}

/* Each rule flagged to write a fresh gradient, on a gradient that holds
   garbage (released), against the same rule adding to zeros: the same bits
   (a fresh gradient is written as 0 + v, so a −0 comes out +0 both ways). */
Test(release_grad, every_writing_rule_writes_every_element)
{
    for (int which = 0; which < N_WRITERS; which++) {
        tg_real want[3][144];
        bool had[3] = {false, false, false};
        for (int pass = 0; pass < 2; pass++) {
            tg_params *p = tg_params_new();
            tg_tensor *W = tg_params_add(p, "W", TG_SHAPE(4, 4));
            tg_tensor *b = tg_params_add(p, "b", TG_SHAPE(4));
            tg_tensor *V = tg_params_add(p, "V", TG_SHAPE(12, 12));
            tg_tape *t = tg_tape_new();
            cr_assert(p && W && b && V && t);
            for (int i = 0; i < 16; i++) W->data[i] = (tg_real)((i * 5) % 9) / 4 - 1;
            for (int i = 0; i < 4; i++) b->data[i] = (tg_real)i / 3;
            for (int i = 0; i < 144; i++) V->data[i] = (tg_real)((i * 13) % 17) / 6 - 1;
            if (pass == 1) { /* garbage behind the gradients, then release */
                for (size_t i = 0; i < tg_params_block_len(p); i++) tg_params_grad(p)[i] = 1e30f;
                tg_params_release_grad(p);
            }
            tg_tensor *loss = writer(t, which, W, b, V);
            cr_assert_not_null(loss, "graph %d: %s", which, tg_tape_error(t));
            cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
            tg_tensor *x[3] = {W, b, V};
            for (int k = 0; k < 3; k++) {
                if (pass == 0) { /* which of them the graph reaches: nonzero somewhere */
                    for (int64_t i = 0; i < x[k]->size; i++) had[k] |= x[k]->grad[i] != 0;
                    memcpy(want[k], x[k]->grad, (size_t)x[k]->size * sizeof(tg_real));
                } else {
                    cr_expect(same_grad_bits(x[k], want[k], had[k]),
                              "graph %d: the gradient of %s after a release differs", which,
                              x[k]->name);
                }
            }
            tg_tape_free(t);
            tg_params_free(p);
        }
    }
}

/* A second backward on the same tape adds to what the first wrote. */
Test(release_grad, gradients_accumulate_after_the_first_backward)
{
    tg_params *p = tg_params_new();
    tg_tensor *W = tg_params_add(p, "W", TG_SHAPE(3, 2));
    tg_tape *t = tg_tape_new();
    cr_assert(p && W && t);
    for (int i = 0; i < 6; i++) W->data[i] = (tg_real)i - 2;
    tg_real xs[2 * 2] = {1, -2, 0.5f, 3};
    tg_tensor *x = tg_tensor_new(t, TG_SHAPE(2, 2), xs);
    tg_tensor *loss = tg_sum(t, tg_relu(t, tg_linear(t, x, W, NULL)), TG_ALL, false);
    tg_params_release_grad(p);
    cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
    tg_real once[6];
    memcpy(once, W->grad, sizeof once);
    cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
    for (int i = 0; i < 6; i++) cr_expect(W->grad[i] == 2 * once[i], "element %d", i);
    tg_tape_free(t);
    tg_params_free(p);
}

/* ------------------------------------------------- zero_grad and add */

Test(release_grad, zero_grad_brings_released_gradients_back_as_zeros)
{
    tg_params *p = tg_params_new();
    tg_tensor *a = tg_params_add(p, "a", TG_SHAPE(5));
    cr_assert_not_null(a);
    a->grad[0] = 4;
    tg_params_release_grad(p);
    cr_expect_null(a->grad);
    tg_tensor *b = tg_params_add(p, "b", TG_SHAPE(3)); /* the block moves */
    cr_assert_not_null(b);
    cr_expect_null(a->grad, "adding a parameter brought a released gradient back");
    cr_assert_not_null(b->grad, "a new parameter starts with a zero gradient");
    for (int i = 0; i < 3; i++) cr_expect(b->grad[i] == 0);
    tg_params_zero_grad(p);
    cr_assert_not_null(a->grad);
    for (int i = 0; i < 5; i++) cr_expect(a->grad[i] == 0, "element %d", i);
    cr_expect(a->grad == tg_params_grad(p), "the gradient is back in its place in the block");
    tg_params_free(p);
}

Test(release_grad, null_arguments_are_harmless)
{
    tg_params_release_grad(NULL);
    tg_optim_release_grad(NULL);
    cr_expect_eq(tg_optim_step_release_grad(NULL), TG_ERR_INVALID);
}

/* ----------------------------------------- convolutions write fresh gradients */

typedef struct {
    int nsp;              /* 1 or 2 */
    int64_t x[4], w[4];   /* shapes: x [N, C, (H,) W], w [O, C/g, (kh,) kw] */
    bool bias;
    tg_conv_opts o;
} conv_writer;

/* The convolution's rule writes its inputs' fresh gradients (x, w, b all
   parameters, their memory filled with garbage and released): the bits that
   adding to zeros gives, on the vector col2im (unit stride along rows), the
   loop's (a stride along them), the 1x1 product into dx itself, groups,
   1-D, and an empty batch (dw and db zeros: nothing reaches them). */
Test(release_grad, convolutions_write_every_element)
{
    static const conv_writer cases[] = {
        {2, {2, 3, 6, 7}, {4, 3, 3, 3}, true, {.padding = {1, 1}}},
        {2, {2, 4, 7, 8}, {4, 2, 3, 2}, true, {.stride = {2, 2}, .groups = 2}},
        {2, {2, 3, 4, 5}, {2, 3, 1, 1}, false, {.groups = 1}},
        {2, {3, 2, 5, 20}, {3, 2, 3, 3}, true, {.dilation = {1, 2}}},
        {1, {2, 2, 9}, {3, 2, 3}, true, {.padding = {2}}},
        {2, {0, 2, 4, 4}, {3, 2, 3, 3}, true, {.groups = 1}},
    };
    for (size_t which = 0; which < sizeof cases / sizeof *cases; which++) {
        const conv_writer *c = &cases[which];
        int nd = c->nsp + 2;
        tg_real want[3][4096];
        for (int pass = 0; pass < 2; pass++) {
            tg_params *p = tg_params_new();
            tg_tape *t = tg_tape_new();
            bool empty = c->x[0] == 0; /* x a constant on the tape (a parameter has no 0) */
            tg_tensor *X = empty ? tg_zeros(t, nd, c->x) : tg_params_add(p, "x", nd, c->x);
            tg_tensor *W = tg_params_add(p, "w", nd, c->w);
            tg_tensor *B = tg_params_add(p, "b", 1, &c->w[0]);
            cr_assert(p && X && W && B && t, "case %zu: %s", which, tg_last_error());
            cr_assert(X->size <= 4096 && W->size <= 4096);
            for (int64_t i = 0; i < X->size; i++) X->data[i] = (tg_real)((i * 7) % 13) / 6 - 1;
            for (int64_t i = 0; i < W->size; i++) W->data[i] = (tg_real)((i * 5) % 9) / 4 - 1;
            for (int64_t i = 0; i < B->size; i++) B->data[i] = (tg_real)i / 3;
            if (pass == 1) { /* garbage behind the gradients, then release */
                for (size_t i = 0; i < tg_params_block_len(p); i++) tg_params_grad(p)[i] = 1e30f;
                tg_params_release_grad(p);
            }
            tg_tensor *b = c->bias ? B : NULL;
            tg_tensor *y = c->nsp == 1 ? tg_conv1d(t, X, W, b, &c->o)
                                       : tg_conv2d(t, X, W, b, &c->o);
            cr_assert_not_null(y, "case %zu: %s", which, tg_tape_error(t));
            tg_tensor *loss = weighted(t, y);
            cr_assert_not_null(loss, "case %zu: %s", which, tg_tape_error(t));
            cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
            tg_tensor *x[3] = {X, W, B};
            for (int k = 0; k < 3; k++) {
                if ((k == 2 && !c->bias) || (k == 0 && empty)) continue;
                cr_assert_not_null(x[k]->grad, "case %zu: no gradient for %s", which,
                                   x[k]->name);
                if (pass == 0)
                    memcpy(want[k], x[k]->grad, (size_t)x[k]->size * sizeof(tg_real));
                else
                    cr_expect(same_grad_bits(x[k], want[k], true),
                              "case %zu: the gradient of %s after a release differs", which,
                              x[k]->name);
            }
            tg_tape_free(t);
            tg_params_free(p);
        }
    }
}
