/* The joining and splitting ops against PyTorch: outputs, first gradients
   (the fast backward) and second order (create_graph) of every case in
   tests/golden/join_*.txt, written by tests/gen_golden_join.py: cat of one
   to seventy tensors (past eight, a tree of cat records), empty and
   skipped inputs, stack, every piece of split, split_sizes and
   split_chunks, pad in its four modes with crops, repeat and tile with
   leading and zero counts and more tiled axes than one expand holds. The
   cases with attribute sq square the output, so that their second order
   runs through each vjp and its adjoint. Tolerances are gt_default_tol():
   float rtol 1e-5 / atol 1e-6, double rtol 1e-12 / atol 1e-14.

   Then the refusals: shapes that do not join, bad axes, counts and pads,
   each NULL (or a negative status) with a message naming the function and
   what is wrong. */
#include <criterion/criterion.h>

#include <string.h>

#include "builder_table.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("join");
    cr_assert(gold != NULL, "tests/golden/join_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_join, .init = load, .fini = unload);

#define ATTR(k, d) gt_attr(c, k, d)
#define MAX_PARTS 128

static tg_tensor *maybe_sq(tg_tape *t, tg_tensor *y, const gt_case *c)
{
    return ATTR("sq", 0) ? tg_square(t, y) : y;
}

/* The tensors to join: the case's inputs, or with attribute unbind the
   slices X[0], X[1], ... of its one input (more than an op's 8 inputs). */
static int parts_of(tg_tape *t, tg_tensor **in, const gt_case *c, tg_tensor **parts)
{
    if (!ATTR("unbind", 0)) {
        for (int k = 0; k < c->n_in; k++) parts[k] = in[k];
        return c->n_in;
    }
    int n = (int)in[0]->shape[0];
    cr_assert(n <= MAX_PARTS);
    for (int k = 0; k < n; k++) parts[k] = tg_select(t, in[0], 0, k);
    return n;
}

static tg_tensor *b_cat(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_tensor *parts[MAX_PARTS];
    int n = parts_of(t, in, c, parts);
    return maybe_sq(t, tg_cat(t, parts, n, (int)ATTR("axis", 0)), c);
}
static tg_tensor *b_stack(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_tensor *parts[MAX_PARTS];
    int n = parts_of(t, in, c, parts);
    return maybe_sq(t, tg_stack(t, parts, n, (int)ATTR("axis", 0)), c);
}
/* Every piece is made; the case's piece is the output, once the count is
   PyTorch's. */
static tg_tensor *b_split(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_tensor *pieces[MAX_PARTS];
    int axis = (int)ATTR("axis", 0), count;
    if (ATTR("chunks", 0)) {
        count = tg_split_chunks(t, in[0], (int)ATTR("chunks", 0), axis, pieces, MAX_PARTS);
    } else if (ATTR("n_sizes", 0)) {
        int64_t sizes[8];
        int n = (int)ATTR("n_sizes", 0);
        for (int k = 0; k < n; k++) {
            char key[16];
            snprintf(key, sizeof key, "s%d", k);
            sizes[k] = (int64_t)ATTR(key, 0);
        }
        count = tg_split_sizes(t, in[0], n, sizes, axis, pieces);
    } else {
        count = tg_split(t, in[0], (int64_t)ATTR("size", 1), axis, pieces, MAX_PARTS);
    }
    cr_expect_eq(count, (int)ATTR("count", -1), "%s: %d pieces, PyTorch makes %d", c->name, count,
                 (int)ATTR("count", -1));
    int k = (int)ATTR("piece", 0);
    return count == (int)ATTR("count", -1) ? maybe_sq(t, pieces[k], c) : NULL;
}
static tg_tensor *b_pad(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    int64_t pad[2 * TG_MAX_DIMS];
    int n = (int)ATTR("n_pad", 0);
    for (int k = 0; k < n; k++) {
        char key[16];
        snprintf(key, sizeof key, "p%d", k);
        pad[k] = (int64_t)ATTR(key, 0);
    }
    tg_tensor *y = tg_pad(t, in[0], n, pad, (tg_pad_mode)(int)ATTR("mode", 0),
                          (tg_real)ATTR("value", 0));
    if (ATTR("weighted", 0)) y = tg_mul(t, y, in[1]);
    return maybe_sq(t, y, c);
}
static int reps_of(const gt_case *c, int64_t *reps)
{
    int n = (int)ATTR("n", 0);
    for (int k = 0; k < n; k++) {
        char key[16];
        snprintf(key, sizeof key, "r%d", k);
        reps[k] = (int64_t)ATTR(key, 1);
    }
    return n;
}
static tg_tensor *b_repeat(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    int64_t reps[TG_MAX_DIMS];
    int n = reps_of(c, reps);
    return maybe_sq(t, tg_repeat(t, in[0], n, reps), c);
}
static tg_tensor *b_tile(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    int64_t reps[TG_MAX_DIMS];
    int n = reps_of(c, reps);
    return maybe_sq(t, tg_tile(t, in[0], n, reps), c);
}

/* First order (the fast backward), then second order through create_graph,
   whose first order must agree with the fast one. */
#define GOLDEN(NAME)                                                                        \
    Test(golden_join, NAME) { gt_run_op(gold, #NAME, b_##NAME, gt_default_tol()); }         \
    Test(golden_join, NAME##_order2) { gt_run_op2(gold, #NAME, b_##NAME, gt_default_tol()); }

GOLDEN(cat)
GOLDEN(stack)
GOLDEN(split)
GOLDEN(pad)
GOLDEN(repeat)
GOLDEN(tile)

#define B(NAME) {#NAME, b_##NAME}
static const gt_builder builders[] = {B(cat), B(stack), B(split), B(pad), B(repeat), B(tile)};
#undef B

/* No case in the file is skipped for want of a test. */
Test(golden_join, every_case_is_run)
{
    gt_expect_builders(gold, builders, sizeof builders / sizeof *builders);
}

/* Replay equals recording again, bit for bit, and tg_gradgradcheck, for
   every op (tests/support/replay_check.h, ggc_check.h). */
GT_BUILDER_FIND(find_builder, builders)
Test(golden_join, replay_every_op) { gt_run_replay_file(gold, find_builder); }
Test(golden_join, gradgradcheck_every_op) { gt_run_gradgradcheck_file(gold, find_builder); }

/* ---------------------------------------------------------------- refusals */

TestSuite(join_refuses, .init = gt_tape_setup, .fini = gt_tape_teardown);

#define MESSAGE(...) GT_MESSAGE(gt_tape, __VA_ARGS__)
#define REFUSED(y, ...) GT_REFUSED(gt_tape, y, __VA_ARGS__)

Test(join_refuses, cat_and_stack)
{
    tg_tensor *x34 = tg_requires_grad(tg_zeros(gt_tape, TG_SHAPE(3, 4)), true);
    tg_tensor *a[2] = {x34, tg_zeros(gt_tape, TG_SHAPE(2, 3))};
    REFUSED(tg_cat(gt_tape, a, 2, 0), "tg_cat", "[3,4]", "[2,3]", "only along axis 0");
    tg_tensor *b[2] = {x34, tg_zeros(gt_tape, TG_SHAPE(3, 4, 1))};
    REFUSED(tg_cat(gt_tape, b, 2, 0), "tg_cat", "number of dimensions");
    tg_tensor *s[2] = {tg_scalar(gt_tape, 1), tg_scalar(gt_tape, 2)};
    REFUSED(tg_cat(gt_tape, s, 2, 0), "tg_cat", "input 0 is 0-d");
    tg_tensor *c[2] = {x34, x34};
    REFUSED(tg_cat(gt_tape, c, 2, 2), "tg_cat", "axis 2", "[3,4]");
    REFUSED(tg_cat(gt_tape, c, 0, 0), "tg_cat", "at least one");
    tg_tensor *d[2] = {x34, NULL};
    REFUSED(tg_cat(gt_tape, d, 2, 0), "tg_cat", "NULL");
    REFUSED(tg_stack(gt_tape, a, 2, 0), "tg_stack", "equal shapes", "[2,3]");
    REFUSED(tg_stack(gt_tape, c, 2, 3), "tg_stack", "axis 3");
    cr_expect(tg_stack(gt_tape, c, 2, -3) != NULL, "%s", tg_tape_error(gt_tape));
}

Test(join_refuses, splits)
{
    tg_tensor *x34 = tg_requires_grad(tg_zeros(gt_tape, TG_SHAPE(3, 4)), true);
    tg_tensor *out[8];
    cr_expect_lt(tg_split(gt_tape, x34, 0, 1, out, 8), 0);
    MESSAGE("tg_split", "split_size 0");
    cr_expect_lt(tg_split(gt_tape, x34, 1, 1, out, 3), 0);
    MESSAGE("tg_split", "4 pieces", "room for 3");
    cr_expect_lt(tg_split(gt_tape, x34, 2, 2, out, 8), 0);
    MESSAGE("tg_split", "axis 2");
    cr_expect_lt(tg_split(gt_tape, tg_scalar(gt_tape, 1), 1, 0, out, 8), 0);
    MESSAGE("tg_split", "0-d");
    const int64_t sizes[2] = {1, 2};
    cr_expect_lt(tg_split_sizes(gt_tape, x34, 2, sizes, 1, out), 0);
    MESSAGE("tg_split_sizes", "add up to 3", "length 4");
    const int64_t neg[2] = {5, -1};
    cr_expect_lt(tg_split_sizes(gt_tape, x34, 2, neg, 1, out), 0);
    MESSAGE("tg_split_sizes", "size 0 is 5");
    cr_expect_lt(tg_split_chunks(gt_tape, x34, 0, 1, out, 8), 0);
    MESSAGE("tg_split_chunks", "at least 1");
    /* the count alone, with out NULL */
    cr_expect_eq(tg_split(gt_tape, x34, 3, 1, NULL, 0), 2);
    cr_expect_eq(tg_split_chunks(gt_tape, x34, 3, 0, NULL, 0), 3);
    cr_expect_str_empty(tg_tape_error(gt_tape));
}

Test(join_refuses, pads)
{
    tg_tensor *x34 = tg_requires_grad(tg_zeros(gt_tape, TG_SHAPE(3, 4)), true);
    const int64_t p3[3] = {1, 1, 1};
    REFUSED(tg_pad(gt_tape, x34, 3, p3, TG_PAD_CONSTANT, 0), "tg_pad", "3 pads");
    const int64_t p6[6] = {0};
    REFUSED(tg_pad(gt_tape, x34, 6, p6, TG_PAD_CONSTANT, 0), "tg_pad", "6 pads", "[3,4]");
    const int64_t crop[2] = {-3, -2};
    REFUSED(tg_pad(gt_tape, x34, 2, crop, TG_PAD_CONSTANT, 0), "tg_pad", "(-3, -2)", "axis 1",
            "-1");
    const int64_t wide[2] = {4, 0};
    REFUSED(tg_pad(gt_tape, x34, 2, wide, TG_PAD_REFLECT, 0), "tg_pad", "reflect", "(4, 0)",
            "axis 1 of size 4");
    const int64_t wrap[2] = {0, 5};
    REFUSED(tg_pad(gt_tape, x34, 2, wrap, TG_PAD_CIRCULAR, 0), "tg_pad", "circular", "(0, 5)");
    const int64_t cropwrap[2] = {3, -2}; /* 2 left after cropping: 3 wraps twice */
    REFUSED(tg_pad(gt_tape, x34, 2, cropwrap, TG_PAD_CIRCULAR, 0), "tg_pad", "circular");
    const int64_t one[2] = {1, 1};
    REFUSED(tg_pad(gt_tape, tg_zeros(gt_tape, TG_SHAPE(2, 0)), 2, one, TG_PAD_REPLICATE, 0), "tg_pad",
            "replicate", "size 0");
    REFUSED(tg_pad(gt_tape, x34, 2, one, (tg_pad_mode)7, 0), "tg_pad", "unknown padding mode 7");
    const int64_t huge[2] = {INT64_MAX, 0};
    REFUSED(tg_pad(gt_tape, x34, 2, huge, TG_PAD_CONSTANT, 0), "tg_pad", "too large");
    const int64_t big[2] = {(int64_t)1 << 60, (int64_t)1 << 60}; /* more bytes than exist */
    REFUSED(tg_pad(gt_tape, x34, 2, big, TG_PAD_CONSTANT, 0), "tg_pad");
}

Test(join_refuses, repeats)
{
    tg_tensor *x34 = tg_requires_grad(tg_zeros(gt_tape, TG_SHAPE(3, 4)), true);
    const int64_t r1[1] = {2};
    REFUSED(tg_repeat(gt_tape, x34, 1, r1), "tg_repeat", "1 repeat counts", "[3,4]");
    const int64_t rn[2] = {2, -1};
    REFUSED(tg_repeat(gt_tape, x34, 2, rn), "tg_repeat", "count -1", "axis 1");
    REFUSED(tg_tile(gt_tape, x34, 2, rn), "tg_tile", "count -1");
    const int64_t rb[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    REFUSED(tg_repeat(gt_tape, x34, 2, rb), "tg_repeat", "too large");
    const int64_t r9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    REFUSED(tg_tile(gt_tape, x34, 9, r9), "tg_tile");
}

/* More tensors than an op takes: one cat of 8 per group, then the groups;
   the gradient reaches every one of them. */
Test(join_refuses, cat_of_many_tensors_reaches_each)
{
    enum { N = 75 };
    tg_tensor *xs[N];
    for (int k = 0; k < N; k++) {
        xs[k] = tg_requires_grad(tg_full(gt_tape, TG_SHAPE(1, 2), (tg_real)k), true);
        cr_assert(xs[k]);
    }
    tg_tensor *y = tg_cat(gt_tape, xs, N, 0);
    cr_assert(y, "%s", tg_tape_error(gt_tape));
    cr_assert_eq(y->shape[0], N);
    for (int k = 0; k < N; k++) cr_expect_eq(y->data[2 * k + 1], (tg_real)k);
    tg_tensor *w = tg_zeros(gt_tape, TG_SHAPE(N, 2));
    for (int k = 0; k < 2 * N; k++) w->data[k] = (tg_real)k;
    cr_assert_eq(tg_backward(gt_tape, tg_sum(gt_tape, tg_mul(gt_tape, y, w), TG_ALL, false)), TG_OK);
    for (int k = 0; k < N; k++) {
        cr_expect_eq(xs[k]->grad[0], (tg_real)(2 * k));
        cr_expect_eq(xs[k]->grad[1], (tg_real)(2 * k + 1));
    }
}
