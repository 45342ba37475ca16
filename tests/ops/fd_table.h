/* Finite-difference checks as a table: each entry names an op's case, its
   builder (a tg_gradcheck_fn with the options in ctx) and its inputs
   (shape and how the point is drawn). fd_check runs tg_gradcheck on an
   entry (the first derivatives through the fast backward kernels, the
   whole Jacobian); fd_check2 first compares, at the point, the gradients
   the vjps build (tg_grad with create_graph) with the fast kernels' (the
   two rules must agree), then runs tg_gradcheck on the entry's gradient
   itself: the scalar s = Σ_k ⟨∂(⟨y, R⟩)/∂x_k, W_k⟩ built with create_graph,
   whose derivatives are the op's second order, for fixed random R and W.
   A later second-order checker can walk the same tables. Points come from a seeded splitmix64 (the same on every
   machine), away from where an op has a kink or is ill-conditioned, as
   each fill says. */
#ifndef TG_TEST_FD_TABLE_H
#define TG_TEST_FD_TABLE_H

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <tapegrad.h>

enum fd_fill {
    FD_NONE = 0,  /* a NULL input (an absent bias or weight) */
    FD_SIGNED,    /* uniform in [-1, 1) */
    FD_POSITIVE,  /* uniform in [0.5, 2): running variances */
    FD_DISTINCT,  /* 0.05·k − 1 shuffled: no ties, gaps far wider than the step */
    FD_CONST,     /* FD_SIGNED, but not differentiated (running statistics) */
    FD_CONST_POS  /* FD_POSITIVE, not differentiated */
};

typedef struct {
    enum fd_fill fill;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
} fd_input;

typedef struct {
    const char *name;
    tg_gradcheck_fn build;
    const void *ctx; /* the op's options, read by build */
    int n_in;
    fd_input in[5];
} fd_case;

static uint64_t fd_state;
static double fd_unit(void) /* [0, 1), splitmix64 */
{
    uint64_t z = (fd_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

static tg_tensor *fd_make(tg_tape *t, const fd_input *f)
{
    if (f->fill == FD_NONE) return NULL;
    tg_tensor *x = tg_zeros(t, f->ndim, f->shape);
    cr_assert(x, "%s", tg_tape_error(t));
    for (int64_t i = 0; i < x->size; i++) {
        double u = fd_unit();
        bool pos = f->fill == FD_POSITIVE || f->fill == FD_CONST_POS;
        x->data[i] = (tg_real)(pos ? 0.5 + 1.5 * u
                               : f->fill == FD_DISTINCT ? 0.05 * (double)i - 1
                                                        : 2 * u - 1);
    }
    for (int64_t i = x->size - 1; f->fill == FD_DISTINCT && i > 0; i--) {
        int64_t j = (int64_t)(fd_unit() * (double)(i + 1));
        tg_real v = x->data[i];
        x->data[i] = x->data[j], x->data[j] = v;
    }
    return f->fill == FD_CONST || f->fill == FD_CONST_POS ? x : tg_requires_grad(x, true);
}

/* the number of input elements tg_gradcheck should check */
static int64_t fd_checked(tg_tensor *const *in, int n)
{
    int64_t k = 0;
    for (int i = 0; i < n; i++)
        if (in[i] && (in[i]->flags & TG_REQUIRES_GRAD)) k += in[i]->size;
    return k;
}

static void fd_check(tg_tape *t, const fd_case *c)
{
    tg_tensor *in[5] = {0};
    for (int i = 0; i < c->n_in; i++) in[i] = fd_make(t, &c->in[i]);
    tg_gradcheck_result r = tg_gradcheck(c->build, (void *)c->ctx, in, c->n_in, NULL);
    cr_assert_eq(r.status, TG_OK, "%s: gradcheck could not run: %s", c->name, r.message);
    cr_expect_eq(r.checked, fd_checked(in, c->n_in), "%s: checked %lld elements", c->name,
                 (long long)r.checked);
    cr_expect(r.ok, "%s (%s): %s", c->name, tg_real_name(), r.message);
}

/* A constant of x's shape filled with a fixed sequence (the same values at
   every evaluation of a gradcheck). */
static tg_tensor *fd_fixed(tg_tape *t, const tg_tensor *like, uint64_t seed)
{
    tg_tensor *v = tg_zeros(t, like->ndim, like->shape);
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (int64_t i = 0; v && i < v->size; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        v->data[i] = (tg_real)((double)(s >> 11) * 0x1p-53 * 2 - 1);
    }
    return v;
}

static tg_tensor *fd_grad_dot_of(tg_tape *t, tg_tensor *y, tg_tensor *const *in, int n)
{
    tg_tensor *R = fd_fixed(t, y, 1), *wrt[5], *g[5] = {0};
    int m = 0;
    for (int i = 0; i < n; i++)
        if (in[i] && (in[i]->flags & TG_REQUIRES_GRAD)) wrt[m++] = in[i];
    if (!(y->flags & TG_REQUIRES_GRAD)) return tg_scalar(t, 0); /* no input reaches y */
    tg_grad_opts o = {.create_graph = true, .allow_unused = true};
    if (tg_grad(t, 1, &y, &R, m, wrt, g, &o) != TG_OK) return NULL;
    tg_tensor *s = NULL;
    for (int k = 0; k < m; k++) {
        tg_tensor *term = tg_sum(t, tg_mul(t, g[k], fd_fixed(t, g[k], (uint64_t)k + 2)), TG_ALL, false);
        s = s ? tg_add(t, s, term) : term;
    }
    return s ? s : tg_scalar(t, 0);
}

/* s = Σ_k ⟨∂⟨y, R⟩/∂x_k, W_k⟩ over the inputs that require grad, the
   gradient built with create_graph: the second order of the case's op.
   Recording is on while it is built (tg_gradcheck turns it off for its
   difference quotients, which need only values). A gradient that does not
   depend on the inputs (a linear op) gives an s that requires no grad:
   tg_gradcheck then expects zero differences, as it should. */
static tg_tensor *fd_grad_dot(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    bool was = tg_tape_set_recording(t, true);
    tg_tensor *y = c->build(t, in, n, (void *)c->ctx);
    tg_tensor *s = NULL;
    if (y) s = fd_grad_dot_of(t, y, in, n);
    tg_tape_set_recording(t, was);
    return s;
}
/* The two rules at the point: the gradients of ⟨y, R⟩ from the fast
   kernels and from the vjps. They differ by rounding only (the same sums
   in another order): in float, sums of up to a hundred terms round to
   about 100·2⁻²⁴ ≈ 6e-6 of their terms' size, so 1e-4 relative to the
   largest gradient leaves a wide margin; 1e-10 in double. */
static void fd_rules_agree(tg_tape *t, const fd_case *c, tg_tensor *const *in)
{
    tg_tensor *y = c->build(t, in, c->n_in, (void *)c->ctx);
    cr_assert(y, "%s: %s", c->name, tg_tape_error(t));
    if (!(y->flags & TG_REQUIRES_GRAD)) return;
    tg_tensor *R = fd_fixed(t, y, 1), *wrt[5], *fast[5] = {0}, *slow[5] = {0};
    int m = 0;
    for (int i = 0; i < c->n_in; i++)
        if (in[i] && (in[i]->flags & TG_REQUIRES_GRAD)) wrt[m++] = in[i];
    tg_grad_opts plain = {.allow_unused = true}, cg = {.create_graph = true, .allow_unused = true};
    cr_assert_eq(tg_grad(t, 1, &y, &R, m, wrt, fast, &plain), TG_OK, "%s", tg_tape_error(t));
    cr_assert_eq(tg_grad(t, 1, &y, &R, m, wrt, slow, &cg), TG_OK, "%s: create_graph: %s", c->name,
                 tg_tape_error(t));
#ifdef TG_DOUBLE
    const double tol = 1e-10;
#else
    const double tol = 1e-4;
#endif
    for (int k = 0; k < m; k++) {
        double top = 0;
        for (int64_t i = 0; i < fast[k]->size; i++) top = fmax(top, fabs((double)fast[k]->data[i]));
        for (int64_t i = 0; i < fast[k]->size; i++)
            cr_expect(fabs((double)slow[k]->data[i] - (double)fast[k]->data[i]) <= tol * (1 + top),
                      "%s: input %d element %lld: the vjp gives %.9g, the backward kernel %.9g",
                      c->name, k, (long long)i, (double)slow[k]->data[i],
                      (double)fast[k]->data[i]);
    }
}

static void fd_check2(tg_tape *t, const fd_case *c)
{
    tg_tensor *in[5] = {0};
    for (int i = 0; i < c->n_in; i++) in[i] = fd_make(t, &c->in[i]);
    fd_rules_agree(t, c, in);
    tg_gradcheck_result r = tg_gradcheck(fd_grad_dot, (void *)c, in, c->n_in, NULL);
    cr_assert_eq(r.status, TG_OK, "%s (second order): gradcheck could not run: %s", c->name,
                 r.message);
    cr_expect(r.ok, "%s, second order (%s): %s", c->name, tg_real_name(), r.message);
}

#define FD_SH(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), {__VA_ARGS__}

#endif
