/* optim: SGD, Adam and AdamW against torch.optim, and their contracts.

   - Golden single steps (tests/golden/train_optim_*.txt, written by
     tests/gen_golden_train.py): two parameters [3,4] and [5] with given
     gradients, 3 steps of torch.optim.SGD/Adam/AdamW with every option
     (momentum and its first-step rule, dampening, Nesterov, weight decay,
     maximize, bias correction, amsgrad, decoupled decay); and 4 steps in
     which some gradients are None, where PyTorch skips the parameter and
     does not count the step for it. Tolerance: the
     golden harness's gt_default_tol() (float rtol 1e-5 / atol 1e-6; double
     rtol 1e-12 / atol 1e-14): the update is the same sequence of roundings
     as PyTorch's, apart from PyTorch's vectorised kernels fusing a·x + y
     into one FMA, which differs by at most an ulp per operation.
   - A step allocates nothing: malloc, calloc, realloc and aligned_alloc are
     counted (glibc builds without a sanitizer, which has its own malloc). */
#include <stdlib.h>

#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <string.h>

#include "golden.h"
#include "golden_train.h"

/* ------------------------------------------------------ counting mallocs */

#if defined(__SANITIZE_ADDRESS__)
#define NO_MALLOC_COUNT 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define NO_MALLOC_COUNT 1
#endif
#endif

static _Thread_local long n_allocs;

#if defined(__GLIBC__) && !defined(NO_MALLOC_COUNT)
#define COUNTING_MALLOC 1
/* glibc's own entry points; pointers from them are freed by glibc's free. */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
void *malloc(size_t n)
{
    n_allocs++;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t size)
{
    n_allocs++;
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n)
{
    n_allocs++;
    return __libc_realloc(p, n);
}
void *aligned_alloc(size_t align, size_t n)
{
    n_allocs++;
    return __libc_memalign(align, n);
}
int posix_memalign(void **out, size_t align, size_t n)
{
    n_allocs++;
    void *p = __libc_memalign(align, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
#endif

/* ------------------------------------------------------------ golden steps */

Test(optim, single_steps_match_torch_optim)
{
    int skips = 0, cases = gtr_run_optim_cases("train_optim", "optim_", &skips);
    cr_expect_geq(cases, 16, "only %d golden optimizer cases", cases);
    cr_expect_eq(skips, 0);
}

/* Steps in which a parameter's gradient is NULL (None in PyTorch): the step
   leaves it alone and does not count for it, so its later steps get Adam's
   bias correction and SGD's first momentum step by its own count. */
Test(optim, skipped_parameter_steps_match_torch_optim)
{
    int skips = 0, cases = gtr_run_optim_cases("train_optim", "skipped_", &skips);
    cr_expect_geq(cases, 5, "only %d golden cases with skipped parameters", cases);
    cr_expect_geq(skips, 3 * cases, "only %d skipped parameter steps", skips);
    cr_expect_eq(tg_optim_param_steps(NULL, 0), 0);
}

/* ---------------------------------------------------------------- contract */

Test(optim, defaults_are_pytorchs)
{
    tg_sgd_opts s = tg_sgd_defaults(0.1);
    cr_expect(s.lr == 0.1 && s.momentum == 0 && s.dampening == 0 && s.weight_decay == 0 &&
              !s.nesterov && !s.maximize);
    tg_adam_opts a = tg_adam_defaults(2e-3);
    cr_expect(a.lr == 2e-3 && a.beta1 == 0.9 && a.beta2 == 0.999 && a.eps == 1e-8 &&
              a.weight_decay == 0 && !a.amsgrad && !a.maximize);
    tg_adam_opts w = tg_adamw_defaults(1e-3);
    cr_expect(w.weight_decay == 1e-2 && w.beta1 == 0.9 && w.beta2 == 0.999 && w.eps == 1e-8);

    tg_params *p = tg_params_new();
    tg_params_add(p, "w", TG_SHAPE(2));
    tg_optim *o1 = tg_sgd_new(p, NULL), *o2 = tg_adam_new(p, NULL), *o3 = tg_adamw_new(p, NULL);
    cr_assert(o1 && o2 && o3);
    cr_expect(tg_optim_get_lr(o1) == 1e-3 && tg_optim_get_lr(o2) == 1e-3);
    cr_expect_str_eq(tg_optim_name(o1), "sgd");
    cr_expect_str_eq(tg_optim_name(o2), "adam");
    cr_expect_str_eq(tg_optim_name(o3), "adamw");
    cr_expect_null(tg_optim_state(o1, "momentum_buffer"), "no momentum, no buffer");
    cr_expect_not_null(tg_optim_state(o2, "exp_avg"));
    cr_expect_not_null(tg_optim_state(o2, "exp_avg_sq"));
    cr_expect_null(tg_optim_state(o2, "max_exp_avg_sq"), "no amsgrad, no max");
    cr_expect_null(tg_optim_state(o2, "nonsense"));
    tg_optim_free(o1);
    tg_optim_free(o2);
    tg_optim_free(o3);
    tg_params_free(p);
}

Test(optim, bad_options_are_refused_with_a_message)
{
    tg_params *p = tg_params_new();
    tg_params_add(p, "w", TG_SHAPE(2));
    tg_sgd_opts s = tg_sgd_defaults(-0.1);
    cr_expect_null(tg_sgd_new(p, &s));
    cr_expect(strstr(tg_last_error(), "learning rate") != NULL, "%s", tg_last_error());
    s = tg_sgd_defaults(0.1);
    s.nesterov = true;
    cr_expect_null(tg_sgd_new(p, &s));
    cr_expect(strstr(tg_last_error(), "Nesterov") != NULL, "%s", tg_last_error());
    s.momentum = 0.9;
    s.dampening = 0.1;
    cr_expect_null(tg_sgd_new(p, &s), "Nesterov with dampening");
    s = tg_sgd_defaults(0.1);
    s.momentum = -1;
    cr_expect_null(tg_sgd_new(p, &s));
    s = tg_sgd_defaults(0.1);
    s.weight_decay = -1;
    cr_expect_null(tg_sgd_new(p, &s));
    s = tg_sgd_defaults(NAN);
    cr_expect_null(tg_sgd_new(p, &s));

    tg_adam_opts a = tg_adam_defaults(1e-3);
    a.beta1 = 1;
    cr_expect_null(tg_adam_new(p, &a));
    cr_expect(strstr(tg_last_error(), "beta1") != NULL, "%s", tg_last_error());
    a = tg_adam_defaults(1e-3);
    a.beta2 = -0.1;
    cr_expect_null(tg_adamw_new(p, &a));
    cr_expect(strstr(tg_last_error(), "tg_adamw_new") != NULL, "%s", tg_last_error());
    a = tg_adam_defaults(1e-3);
    a.eps = -1;
    cr_expect_null(tg_adam_new(p, &a));
    a = tg_adam_defaults(1e-3);
    a.weight_decay = -1;
    cr_expect_null(tg_adam_new(p, &a));

    cr_expect_null(tg_sgd_new(NULL, NULL));
    cr_expect(strstr(tg_last_error(), "params is NULL") != NULL, "%s", tg_last_error());
    tg_params *empty = tg_params_new();
    cr_expect_null(tg_adam_new(empty, NULL));
    cr_expect(strstr(tg_last_error(), "empty") != NULL, "%s", tg_last_error());

    /* NULL optimizers are harmless */
    cr_expect_eq(tg_optim_step(NULL), TG_ERR_INVALID);
    tg_optim_zero_grad(NULL);
    cr_expect_eq(tg_optim_set_lr(NULL, 0.1), TG_ERR_INVALID);
    cr_expect(tg_optim_get_lr(NULL) == 0);
    cr_expect_null(tg_optim_state(NULL, "exp_avg"));
    tg_optim_free(NULL);

    tg_optim *o = tg_sgd_new(p, NULL);
    cr_expect_eq(tg_optim_set_lr(o, -1), TG_ERR_INVALID);
    cr_expect_eq(tg_optim_set_lr(o, INFINITY), TG_ERR_INVALID);
    cr_expect(tg_optim_get_lr(o) == 1e-3);
    tg_optim_free(o);
    tg_params_free(empty);
    tg_params_free(p);
}

Test(optim, params_added_later_make_step_fail_without_touching_anything)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(3));
    tg_optim *o = tg_adam_new(p, NULL);
    cr_assert_not_null(o);
    /* enough to grow the padded block, and a second one that does not */
    tg_tensor *v = tg_params_add(p, "v", TG_SHAPE(40));
    for (int i = 0; i < 3; i++) w->data[i] = 1, w->grad[i] = 1;
    for (int i = 0; i < 40; i++) v->data[i] = 2, v->grad[i] = 1;
    cr_expect_eq(tg_optim_step(o), TG_ERR_STATE);
    cr_expect(strstr(tg_last_error(), "added after the optimizer") != NULL, "%s", tg_last_error());
    cr_expect_eq(tg_optim_step_zero_grad(o), TG_ERR_STATE);
    cr_expect(strstr(tg_last_error(), "tg_optim_step_zero_grad: parameters were added") != NULL,
              "%s", tg_last_error());
    for (int i = 0; i < 3; i++) cr_expect(w->data[i] == 1 && w->grad[i] == 1);
    for (int i = 0; i < 40; i++) cr_expect(v->data[i] == 2 && v->grad[i] == 1);
    cr_expect_eq(tg_optim_steps(o), 0);
    tg_optim_free(o);
    tg_params_free(p);
}

/* Parameters are padded to 64 bytes; the padding is zero and must stay so,
   even with eps = 0, where 0/0 would be NaN if it were touched. */
Test(optim, padding_between_parameters_is_never_touched)
{
    tg_params *p = tg_params_new();
    tg_tensor *a = tg_params_add(p, "a", TG_SHAPE(3));
    tg_tensor *b = tg_params_add(p, "b", TG_SHAPE(2, 5));
    size_t len = tg_params_block_len(p);
    cr_assert_gt(len, (size_t)(a->size + b->size), "expected padding in the block");
    tg_adam_opts ao = tg_adamw_defaults(0.1);
    ao.eps = 0;
    ao.amsgrad = true;
    tg_sgd_opts so = tg_sgd_defaults(0.1);
    so.momentum = 0.9;
    so.weight_decay = 0.5;
    tg_optim *os[2] = {tg_adamw_new(p, &ao), tg_sgd_new(p, &so)};
    for (int k = 0; k < 2; k++) {
        cr_assert_not_null(os[k]);
        for (int s = 0; s < 3; s++) {
            for (int i = 0; i < 3; i++) a->data[i] = 1, a->grad[i] = 0.5f;
            for (int i = 0; i < 10; i++) b->data[i] = -1, b->grad[i] = -0.25f;
            cr_assert_eq(tg_optim_step(os[k]), TG_OK);
        }
        tg_real *d = tg_params_data(p), *g = tg_params_grad(p);
        for (size_t i = 0; i < len; i++) {
            bool in_a = d + i >= a->data && d + i < a->data + a->size;
            bool in_b = d + i >= b->data && d + i < b->data + b->size;
            if (!in_a && !in_b) cr_expect(d[i] == 0 && g[i] == 0, "padding %zu changed", i);
            else cr_expect(isfinite(d[i]));
        }
        tg_optim_free(os[k]);
    }
    tg_params_free(p);
}

Test(optim, lr_zero_grad_and_first_momentum_step)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(4));
    tg_sgd_opts so = tg_sgd_defaults(0.5);
    so.momentum = 0.9;
    so.dampening = 0.5; /* not applied on the first step: the buffer is d itself */
    so.weight_decay = 0.1;
    tg_optim *o = tg_sgd_new(p, &so);
    for (int i = 0; i < 4; i++) w->data[i] = (tg_real)(i + 1), w->grad[i] = 1;
    cr_assert_eq(tg_optim_step(o), TG_OK);
    const tg_real *buf = tg_optim_state(o, "momentum_buffer");
    cr_assert_not_null(buf);
    for (int i = 0; i < 4; i++) {
        tg_real d = 1 + (tg_real)0.1 * (tg_real)(i + 1);
        cr_expect(buf[i] == d, "buffer %d is %g, expected d = g + λw = %g", i, (double)buf[i],
                  (double)d);
        cr_expect(w->data[i] == (tg_real)(i + 1) + (tg_real)-0.5 * d);
    }
    /* lr 0 leaves the parameters alone; the buffer still moves */
    tg_real before[4];
    memcpy(before, w->data, sizeof before);
    cr_expect_eq(tg_optim_set_lr(o, 0), TG_OK);
    cr_expect(tg_optim_get_lr(o) == 0);
    cr_assert_eq(tg_optim_step(o), TG_OK);
    cr_expect_eq(memcmp(before, w->data, sizeof before), 0);
    tg_optim_zero_grad(o);
    for (int i = 0; i < 4; i++) cr_expect(w->grad[i] == 0);
    cr_expect_eq(tg_optim_steps(o), 2);
    tg_optim_free(o);
    tg_params_free(p);
}

/* A step over a large block is split between the library's threads, each
   taking a slice of the rows of every parameter (a [1, 7] parameter goes
   whole to one of them). Each element is updated on its own, so the split
   must change nothing: the same steps on one thread and on three give
   bit-identical parameters and state, and the padding stays zero. The
   sizes are odd, so the slices are uneven. A third copy takes its steps
   with tg_optim_step_zero_grad: the same parameters and state, and every
   gradient zero afterwards. */
static void fill_split_params(tg_params *p, tg_tensor **t, int step)
{
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; i < t[k]->size; i++) {
            uint32_t h = (uint32_t)(i * 2654435761u) ^ (uint32_t)(k * 40503 + step * 977);
            t[k]->grad[i] = (tg_real)((int)(h % 2001) - 1000) / 1000;
            if (step == 0) t[k]->data[i] = (tg_real)((int)((h >> 11) % 2001) - 1000) / 500;
        }
    (void)p;
}

Test(optim, split_step_is_bit_identical_to_one_thread)
{
    const int64_t shapes[3][2] = {{401, 307}, {1, 7}, {233, 337}}; /* 123,107 + 7 + 78,521 */
    struct { const char *name; int kind; } cases[] = {
        {"sgd", 0}, {"sgd momentum nesterov decay", 1}, {"adam amsgrad decay", 2}, {"adamw", 3}};
    int saved = tg_get_num_threads();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tg_params *p[3];
        tg_optim *o[3];
        tg_tensor *t[3][3];
        for (int r = 0; r < 3; r++) {
            p[r] = tg_params_new();
            for (int k = 0; k < 3; k++) {
                char name[8] = {(char)('a' + k), 0};
                t[r][k] = tg_params_add(p[r], name, TG_SHAPE(shapes[k][0], shapes[k][1]));
                cr_assert_not_null(t[r][k]);
            }
            tg_sgd_opts so = tg_sgd_defaults(0.01);
            if (cases[c].kind == 1) so.momentum = 0.9, so.nesterov = true, so.weight_decay = 0.01;
            tg_adam_opts ao = cases[c].kind == 3 ? tg_adamw_defaults(0.01) : tg_adam_defaults(0.01);
            if (cases[c].kind == 2) ao.amsgrad = true, ao.weight_decay = 0.01;
            o[r] = cases[c].kind <= 1 ? tg_sgd_new(p[r], &so)
                   : cases[c].kind == 2 ? tg_adam_new(p[r], &ao) : tg_adamw_new(p[r], &ao);
            cr_assert_not_null(o[r]);
        }
        size_t len = tg_params_block_len(p[0]);
        cr_assert_gt(len, (size_t)3 << 16, "the block must be large enough to be split");
        for (int step = 0; step < 3; step++)
            for (int r = 0; r < 3; r++) {
                cr_assert_eq(tg_set_num_threads(r == 0 ? 1 : 3), TG_OK);
                fill_split_params(p[r], t[r], step);
                cr_assert_eq(r == 2 ? tg_optim_step_zero_grad(o[r]) : tg_optim_step(o[r]), TG_OK);
            }
        const char *states[] = {"momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
        for (int r = 1; r < 3; r++) {
            cr_expect_eq(memcmp(tg_params_data(p[0]), tg_params_data(p[r]), len * sizeof(tg_real)),
                         0, "%s: copy %d's parameters differ from one thread's", cases[c].name, r);
            for (int s = 0; s < 4; s++) {
                const tg_real *s0 = tg_optim_state(o[0], states[s]);
                const tg_real *s1 = tg_optim_state(o[r], states[s]);
                cr_expect_eq(s0 == NULL, s1 == NULL);
                if (s0 && s1)
                    cr_expect_eq(memcmp(s0, s1, len * sizeof(tg_real)), 0, "%s: copy %d's %s differs",
                                 cases[c].name, r, states[s]);
            }
            const tg_real *d = tg_params_data(p[r]), *g = tg_params_grad(p[r]);
            for (size_t i = 0; i < len; i++) {
                bool inside = false;
                for (int k = 0; k < 3; k++)
                    inside |= d + i >= t[r][k]->data && d + i < t[r][k]->data + t[r][k]->size;
                if (!inside) cr_expect(d[i] == 0, "%s: padding %zu changed", cases[c].name, i);
                if (r == 2) cr_expect(g[i] == 0, "%s: gradient %zu not zeroed", cases[c].name, i);
            }
        }
        for (int r = 0; r < 3; r++) {
            tg_optim_free(o[r]);
            tg_params_free(p[r]);
        }
    }
    tg_set_num_threads(saved);
}

/* ---------------------------------------------------------- no allocation */

Test(optim, step_allocates_nothing)
{
#ifndef COUNTING_MALLOC
    cr_skip_test("malloc counting needs glibc without a sanitizer");
#else
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(30, 20));
    tg_params_add(p, "b", TG_SHAPE(30));
    tg_sgd_opts so = tg_sgd_defaults(0.1);
    so.momentum = 0.9;
    so.nesterov = true;
    tg_adam_opts ao = tg_adam_defaults(0.1);
    ao.amsgrad = true;
    ao.weight_decay = 0.1;
    tg_optim *os[3] = {tg_sgd_new(p, &so), tg_adam_new(p, &ao), tg_adamw_new(p, NULL)};
    for (int k = 0; k < 3; k++) {
        cr_assert_not_null(os[k]);
        for (int i = 0; i < 600; i++) w->grad[i] = (tg_real)(i % 7) - 3;
        long before = n_allocs;
        for (int s = 0; s < 5; s++) {
            cr_assert_eq(tg_optim_step(os[k]), TG_OK);
            tg_optim_zero_grad(os[k]);
        }
        cr_expect_eq(n_allocs - before, 0, "%s: %ld allocations in 5 steps",
                     tg_optim_name(os[k]), n_allocs - before);
        tg_optim_free(os[k]);
    }
    /* the counter does count: making an optimizer allocates */
    long before = n_allocs;
    tg_optim *o = tg_adam_new(p, NULL);
    cr_expect_gt(n_allocs - before, 0);
    tg_optim_free(o);
    tg_params_free(p);
#endif
}

/* A whole training step (forward, loss, zero_grad, backward, optimizer
   step, tape reset) allocates nothing once the first step sized the arena:
   neither the tape (tg_tape_get_stats) nor anything else (malloc count). */
Test(optim, training_step_allocates_nothing_after_the_first)
{
    tg_params *p = tg_params_new();
    tg_rng r;
    tg_rng_seed(&r, 5);
    tg_mlp m;
    cr_assert_eq(tg_mlp_init(&m, p, "fc", TG_SHAPE(12, 32, 16, 4), tg_tanh, &r), TG_OK);
    tg_optim *o = tg_adam_new(p, NULL);
    tg_tape *t = tg_tape_new();
    tg_real xs[8 * 12], ys[8 * 4];
    for (int i = 0; i < 8 * 12; i++) xs[i] = (tg_real)tg_rng_normal(&r);
    for (int i = 0; i < 8 * 4; i++) ys[i] = (tg_real)tg_rng_uniform(&r);
    size_t tape_allocs = 0;
    long mallocs = 0;
    double first = 0, last = 0;
    for (int step = 0; step < 20; step++) {
        if (step == 2) {
            tape_allocs = tg_tape_get_stats(t).heap_allocs;
            mallocs = n_allocs;
        }
        tg_tensor *x = tg_tensor_new(t, TG_SHAPE(8, 12), xs);
        tg_tensor *y = tg_tensor_new(t, TG_SHAPE(8, 4), ys);
        tg_tensor *d = tg_sub(t, tg_mlp_forward(t, &m, x), y);
        tg_tensor *loss = tg_mean(t, tg_square(t, d), TG_ALL, false);
        cr_assert_not_null(loss, "%s", tg_tape_error(t));
        if (step == 0) first = loss->data[0];
        last = loss->data[0];
        tg_optim_zero_grad(o);
        cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
        cr_assert_eq(tg_optim_step(o), TG_OK);
        tg_tape_reset(t);
    }
    cr_expect_eq(tg_tape_get_stats(t).heap_allocs, tape_allocs,
                 "the tape allocated %zu times in steps 2..19",
                 tg_tape_get_stats(t).heap_allocs - tape_allocs);
#ifdef COUNTING_MALLOC
    cr_expect_eq(n_allocs - mallocs, 0, "%ld allocations in steps 2..19", n_allocs - mallocs);
#else
    (void)mallocs;
#endif
    cr_expect_lt(last, first, "training did not lower the loss (%g -> %g)", first, last);
    tg_tape_free(t);
    tg_optim_free(o);
    tg_params_free(p);
}

/* A frozen parameter (tg_requires_grad(w, false), requires_grad_(False))
   gets no gradient and no step, weight decay included; unfrozen, it trains
   again. tg_requires_grad ignored parameters: a "frozen" layer was trained
   (found by a PyTorch port). */
Test(optim, a_frozen_parameter_is_left_alone)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(2));
    tg_tensor *b = tg_params_add(p, "b", TG_SHAPE(2));
    for (int i = 0; i < 2; i++) w->data[i] = 1, b->data[i] = 1;
    tg_adam_opts ao = tg_adamw_defaults(0.1);
    tg_optim *o = tg_adamw_new(p, &ao);
    cr_assert_not_null(o, "%s", tg_last_error());
    tg_requires_grad(w, false);
    cr_expect_null(w->grad, "a frozen parameter's gradient is released");
    tg_tape *t = tg_tape_new();
    for (int step = 0; step < 3; step++) {
        tg_optim_zero_grad(o);
        cr_expect_null(w->grad, "zero_grad leaves a frozen parameter without a gradient");
        tg_tensor *loss = tg_sum(t, tg_mul(t, w, b), TG_ALL, false);
        cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
        cr_expect_null(w->grad, "backward gives a frozen parameter no gradient");
        cr_assert_eq(tg_optim_step(o), TG_OK);
        tg_tape_reset(t);
    }
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(w->data[i], 1, "the frozen w moved: %g", (double)w->data[i]);
        cr_expect_neq(b->data[i], 1, "b trained");
    }
    cr_expect_eq(tg_optim_param_steps(o, 0), 0);
    cr_expect_eq(tg_optim_param_steps(o, 1), 3);
    tg_requires_grad(w, true); /* unfrozen */
    tg_optim_zero_grad(o);
    tg_tensor *loss = tg_sum(t, tg_mul(t, w, b), TG_ALL, false);
    cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
    cr_assert_eq(tg_optim_step(o), TG_OK);
    cr_expect_neq(w->data[0], 1, "unfrozen, w trains");
    cr_expect_eq(tg_optim_param_steps(o, 0), 1);
    tg_tape_free(t);
    tg_optim_free(o);
    tg_params_free(p);
}
