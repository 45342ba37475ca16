/* Dropout and channel dropout. PyTorch's masks come from its own generator,
   which tapegrad cannot reproduce, so there is no golden file: what is
   checked is PyTorch's semantics (F.dropout, F.dropout2d): in training each
   element (or each channel of each sample) is zero or x/(1 − p), with zeros
   at rate p; p = 1 gives x·0 (NaN stays NaN); evaluation, p = 0 and an empty
   input return the input itself; the gradient is the same mask (first and
   second order); the mask comes from the caller's tg_rng, one draw per
   element or channel (the same seed, the same mask); bad arguments are
   refused with a message. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <tapegrad.h>

static tg_tensor *filled(tg_tape *t, int ndim, const int64_t *shape)
{
    tg_tensor *x = tg_zeros(t, ndim, shape);
    for (int64_t i = 0; i < x->size; i++) x->data[i] = (tg_real)(1 + (double)(i % 7));
    return tg_requires_grad(x, true);
}

Test(dropout, zeros_at_rate_p_and_the_rest_scaled)
{
    tg_tape *t = tg_tape_new();
    tg_rng r;
    tg_rng_seed(&r, 3);
    const double p = 0.3;
    tg_tensor *x = filled(t, TG_SHAPE(100, 100));
    tg_tensor *y = tg_dropout(t, x, p, true, &r);
    cr_assert(y, "%s", tg_tape_error(t));
    int64_t zeros = 0;
    for (int64_t i = 0; i < y->size; i++) {
        if (y->data[i] == 0) {
            zeros++;
            continue;
        }
        cr_expect(fabs(y->data[i] - x->data[i] / (1 - p)) <= 1e-6 * fabs(y->data[i]), "y[%lld] = %g",
                  (long long)i, (double)y->data[i]);
    }
    /* binomial(10000, 0.3): mean 3000, standard deviation 45.8; 5 of them */
    cr_expect(labs((long)zeros - 3000) < 230, "%lld zeros of 10000 at p = 0.3", (long long)zeros);
    /* the gradient is the mask: g·(0 or 1/(1 − p)) */
    cr_assert_eq(tg_backward(t, tg_sum(t, y, TG_ALL, false)), TG_OK);
    for (int64_t i = 0; i < y->size; i++)
        cr_expect_eq(x->grad[i], y->data[i] == 0 ? 0 : (tg_real)(1 / (1 - p)), "[%lld]", (long long)i);
    tg_tape_free(t);
}

Test(dropout, the_same_seed_draws_the_same_mask)
{
    tg_tape *t = tg_tape_new();
    tg_rng a, b, c;
    tg_rng_seed(&a, 11), tg_rng_seed(&b, 11), tg_rng_seed(&c, 11);
    tg_tensor *x = filled(t, TG_SHAPE(4, 50));
    tg_tensor *y1 = tg_dropout(t, x, 0.5, true, &a), *y2 = tg_dropout(t, x, 0.5, true, &b);
    cr_assert(y1 && y2);
    cr_expect_eq(memcmp(y1->data, y2->data, (size_t)y1->size * sizeof(tg_real)), 0);
    /* one draw per element, kept when it is at least p */
    for (int64_t i = 0; i < x->size; i++) {
        bool keep = tg_rng_uniform(&c) >= 0.5;
        cr_expect_eq(y1->data[i] != 0, keep, "[%lld]", (long long)i);
    }
    /* the stream moved on: the next mask differs */
    tg_tensor *y3 = tg_dropout(t, x, 0.5, true, &a);
    cr_expect_neq(memcmp(y1->data, y3->data, (size_t)y1->size * sizeof(tg_real)), 0);
    tg_tape_free(t);
}

Test(dropout, evaluation_p0_and_empty_return_the_input)
{
    tg_tape *t = tg_tape_new();
    tg_rng r;
    tg_rng_seed(&r, 1);
    tg_tensor *x = filled(t, TG_SHAPE(3, 4, 2));
    cr_expect(tg_dropout(t, x, 0.5, false, &r) == x);
    cr_expect(tg_dropout(t, x, 0, true, &r) == x);
    cr_expect(tg_dropout2d(t, x, 0.5, false, NULL) == x, "evaluation needs no rng");
    tg_tensor *e = tg_zeros(t, TG_SHAPE(0, 3));
    cr_expect(tg_dropout(t, e, 0.5, true, &r) == e);
    tg_tape_free(t);
}

Test(dropout, p1_gives_zeros_and_keeps_nan)
{
    tg_tape *t = tg_tape_new();
    const tg_real v[4] = {1, -2, (tg_real)NAN, (tg_real)INFINITY};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(4), v), true);
    tg_tensor *y = tg_dropout(t, x, 1, true, NULL);
    cr_assert(y, "%s", tg_tape_error(t));
    cr_expect(y->data[0] == 0 && y->data[1] == 0 && isnan(y->data[2]) && isnan(y->data[3]),
              "x·0, as PyTorch");
    cr_assert_eq(tg_backward(t, tg_sum(t, tg_where(t, tg_eq(t, y, y), y, tg_scalar(t, 0)), TG_ALL, false)), TG_OK);
    for (int i = 0; i < 4; i++) cr_expect_eq(x->grad[i], 0);
    tg_tape_free(t);
}

Test(dropout, dropout2d_zeroes_whole_channels)
{
    tg_tape *t = tg_tape_new();
    tg_rng r;
    tg_rng_seed(&r, 5);
    tg_tensor *x = filled(t, TG_SHAPE(8, 16, 3, 3));
    tg_tensor *y = tg_dropout2d(t, x, 0.5, true, &r);
    cr_assert(y, "%s", tg_tape_error(t));
    int dropped = 0;
    for (int64_t ch = 0; ch < 8 * 16; ch++) {
        bool zero = y->data[ch * 9] == 0;
        dropped += zero;
        for (int64_t i = 0; i < 9; i++) {
            tg_real want = zero ? 0 : 2 * x->data[ch * 9 + i];
            cr_expect_eq(y->data[ch * 9 + i], want, "channel %lld position %lld", (long long)ch,
                         (long long)i);
        }
    }
    cr_expect(dropped > 20 && dropped < 108, "%d of 128 channels dropped at p = 0.5", dropped);
    /* a 3-D input is [N, C, L], as PyTorch 1.13 reads it */
    tg_tensor *z = tg_dropout2d(t, filled(t, TG_SHAPE(2, 3, 4)), 0.5, true, &r);
    cr_assert(z);
    for (int64_t ch = 0; ch < 6; ch++)
        for (int64_t i = 1; i < 4; i++) cr_expect_eq(z->data[ch * 4 + i] == 0, z->data[ch * 4] == 0);
    tg_tape_free(t);
}

/* create_graph: the gradient is g times the same mask, a constant; its
   own gradient in g is that mask again */
Test(dropout, second_order_uses_the_mask)
{
    tg_tape *t = tg_tape_new();
    tg_rng r;
    tg_rng_seed(&r, 9);
    tg_tensor *x = filled(t, TG_SHAPE(2, 3, 2, 2));
    tg_tensor *y = tg_dropout2d(t, x, 0.4, true, &r);
    tg_tensor *g = tg_requires_grad(tg_full(t, TG_SHAPE(2, 3, 2, 2), 2), true);
    tg_tensor *dx = NULL;
    tg_grad_opts o = {.create_graph = true};
    cr_assert_eq(tg_grad(t, 1, &y, &g, 1, &x, &dx, &o), TG_OK, "%s", tg_tape_error(t));
    tg_tensor *dg = tg_grad1(t, tg_sum(t, dx, TG_ALL, false), g, false);
    cr_assert(dg, "%s", tg_tape_error(t));
    for (int64_t i = 0; i < x->size; i++) {
        tg_real m = y->data[i] / x->data[i];
        cr_expect(fabs(dx->data[i] - 2 * m) < 1e-6 && fabs(dg->data[i] - m) < 1e-6, "[%lld]",
                  (long long)i);
    }
    tg_tape_free(t);
}

Test(dropout, bad_arguments)
{
    tg_tape *t = tg_tape_new();
    tg_rng r;
    tg_rng_seed(&r, 1);
    tg_tensor *x = tg_zeros(t, TG_SHAPE(2, 3));
    cr_expect_null(tg_dropout(t, x, 1.5, true, &r));
    cr_expect(strstr(tg_tape_error(t), "tg_dropout: the probability p must be between 0 and 1, got 1.5"),
              "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_dropout(t, x, NAN, false, &r));
    tg_tape_clear_error(t);
    cr_expect_null(tg_dropout(t, x, 0.5, true, NULL));
    cr_expect(strstr(tg_tape_error(t), "tg_dropout: the rng is NULL"), "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_dropout2d(t, x, 0.5, true, &r));
    cr_expect(strstr(tg_tape_error(t), "tg_dropout2d: needs input [N, C, L] or [N, C, H, W], got [2,3]"),
              "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    cr_expect_null(tg_dropout(t, NULL, 0.5, true, &r));
    cr_expect(strstr(tg_tape_error(t), "tg_dropout: input is NULL"), "%s", tg_tape_error(t));
    tg_tape_free(t);
}
