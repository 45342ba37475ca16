/* The shape ops against PyTorch: outputs, input gradients (the fast
   backward) and second derivatives (create_graph: zeros, the ops being
   linear) of every case in tests/golden/shape_*.txt, written by
   tests/gen_golden_shape_reduce.py: permute (and contiguous after it),
   squeeze, squeeze_axis, unsqueeze, flatten_range, swapaxes, swapdims and
   movedim, on 0-d, empty and up to 4-d tensors with negative axes.
   Tolerances are gt_default_tol() (the values are copies: they agree
   exactly). Then bad arguments refused with a message. */
#include <criterion/criterion.h>

#include <string.h>

#include "expect_fail.h"
#include "builder_table.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("shape");
    cr_assert(gold != NULL, "tests/golden/shape_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_shape, .init = load, .fini = unload);

#define ATTR(k) ((int)gt_attr(c, k, 0))

static int perm_of(const gt_case *c, int *perm)
{
    int n = ATTR("ndim");
    if (n > TG_MAX_DIMS) n = TG_MAX_DIMS;
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "p%d", i);
        perm[i] = ATTR(key);
    }
    return n;
}

static tg_tensor *b_permute(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    int perm[TG_MAX_DIMS], n = perm_of(c, perm);
    return tg_permute(t, in[0], n, perm);
}
static tg_tensor *b_contiguous(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return tg_contiguous(t, b_permute(t, in, c));
}
static tg_tensor *b_squeeze(tg_tape *t, tg_tensor **in, const gt_case *c) { (void)c; return tg_squeeze(t, in[0]); }
static tg_tensor *b_squeeze_axis(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_squeeze_axis(t, in[0], ATTR("axis")); }
static tg_tensor *b_unsqueeze(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_unsqueeze(t, in[0], ATTR("axis")); }
static tg_tensor *b_flatten_range(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_flatten_range(t, in[0], ATTR("start"), ATTR("end")); }
static tg_tensor *b_swapaxes(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_swapaxes(t, in[0], ATTR("d0"), ATTR("d1")); }
static tg_tensor *b_swapdims(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_swapdims(t, in[0], ATTR("d0"), ATTR("d1")); }
static tg_tensor *b_movedim(tg_tape *t, tg_tensor **in, const gt_case *c) { return tg_movedim(t, in[0], ATTR("src"), ATTR("dst")); }

static const gt_builder builders[] = {
    {"permute", b_permute},     {"contiguous", b_contiguous},       {"squeeze", b_squeeze},
    {"squeeze_axis", b_squeeze_axis}, {"unsqueeze", b_unsqueeze}, {"flatten_range", b_flatten_range},
    {"swapaxes", b_swapaxes},   {"swapdims", b_swapdims},           {"movedim", b_movedim},
};

/* First order (the fast backward), then second order through create_graph,
   whose first order must agree with the fast one. */
#define GOLDEN(NAME)                                                                        \
    Test(golden_shape, NAME) { gt_run_op(gold, #NAME, b_##NAME, gt_default_tol()); }        \
    Test(golden_shape, NAME##_order2) { gt_run_op2(gold, #NAME, b_##NAME, gt_default_tol()); }

GOLDEN(permute)
GOLDEN(contiguous)
GOLDEN(squeeze)
GOLDEN(squeeze_axis)
GOLDEN(unsqueeze)
GOLDEN(flatten_range)
GOLDEN(swapaxes)
GOLDEN(swapdims)
GOLDEN(movedim)

/* No case in the file is skipped for want of a test. */
Test(golden_shape, every_case_is_run)
{
    gt_expect_builders(gold, builders, sizeof builders / sizeof *builders);
}

/* Replay equals recording again, bit for bit, and tg_gradgradcheck, for
   every op (tests/support/replay_check.h, ggc_check.h). */
GT_BUILDER_FIND(find_builder, builders)
Test(golden_shape, replay_every_op) { gt_run_replay_file(gold, find_builder); }
Test(golden_shape, gradgradcheck_every_op) { gt_run_gradgradcheck_file(gold, find_builder); }

/* permute copies (tapegrad tensors are contiguous); the reshapes are views */
Test(golden_shape, permute_copies_and_squeeze_is_a_view)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(2, 1, 3));
    tg_tensor *p = tg_permute(t, x, 3, (const int[]){2, 0, 1});
    tg_tensor *s = tg_squeeze(t, x);
    cr_assert(p && s, "%s", tg_tape_error(t));
    cr_expect(p->data != x->data);
    cr_expect(s->data == x->data && s->ndim == 2 && s->shape[0] == 2 && s->shape[1] == 3);
    tg_tape_free(t);
}


Test(golden_shape, bad_arguments_fail_with_a_message)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_SHAPE(2, 3, 4));
    tg_tensor *x8 = tg_zeros(t, TG_SHAPE(1, 1, 1, 1, 1, 1, 1, 2));
    EXPECT_FAIL(tg_permute(t, x, 2, (const int[]){1, 0}), "tg_permute: 2 axes given for the 3 axes of [2,3,4]");
    EXPECT_FAIL(tg_permute(t, x, 3, NULL), "tg_permute: dims is NULL for the 3 axes of [2,3,4]");
    EXPECT_FAIL(tg_permute(t, x, 3, (const int[]){0, 3, 1}), "tg_permute: axis 3 (at position 1) is out of range for [2,3,4]");
    EXPECT_FAIL(tg_permute(t, x, 3, (const int[]){0, -4, 1}), "tg_permute: axis -4 (at position 1) is out of range");
    EXPECT_FAIL(tg_permute(t, x, 3, (const int[]){0, 2, -1}), "tg_permute: the axes are not a permutation of the 3 axes of [2,3,4]");
    EXPECT_FAIL(tg_squeeze_axis(t, x, 3), "tg_squeeze_axis: axis 3 is out of range for shape [2,3,4]");
    EXPECT_FAIL(tg_unsqueeze(t, x, 4), "tg_unsqueeze: axis 4 is out of range for shape [2,3,4] (-4..3)");
    EXPECT_FAIL(tg_unsqueeze(t, x, -5), "tg_unsqueeze: axis -5 is out of range");
    EXPECT_FAIL(tg_unsqueeze(t, x8, 0), "tg_unsqueeze: [1,1,1,1,1,1,1,2] has 8 axes already");
    EXPECT_FAIL(tg_flatten_range(t, x, 2, 1), "tg_flatten_range: axes 2..1 are in the wrong order");
    EXPECT_FAIL(tg_flatten_range(t, x, 0, 3), "tg_flatten_range: axes 0..3 are out of range for shape [2,3,4]");
    EXPECT_FAIL(tg_movedim(t, x, 0, 3), "tg_movedim: axes (0, 3) are out of range for shape [2,3,4]");
    EXPECT_FAIL(tg_movedim(t, x, -4, 0), "tg_movedim: axes (-4, 0) are out of range");
    EXPECT_FAIL(tg_swapaxes(t, x, 0, 3), "tg_swapaxes: axes (0, 3) are out of range");
    EXPECT_FAIL(tg_swapdims(t, x, -4, 0), "tg_swapdims: axes (-4, 0) are out of range");
    EXPECT_FAIL(tg_permute(t, NULL, 0, NULL), "tg_permute: input is NULL");
    EXPECT_FAIL(tg_squeeze(t, NULL), "tg_squeeze: input is NULL");
    EXPECT_FAIL(tg_unsqueeze(t, NULL, 0), "tg_unsqueeze: input is NULL");
    EXPECT_FAIL(tg_flatten_range(t, NULL, 0, 0), "tg_flatten_range: input is NULL");
    EXPECT_FAIL(tg_movedim(t, NULL, 0, 0), "tg_movedim: input is NULL");
    tg_tape_free(t);
}

/* Transposes and permutes large enough for the tiled copy (both axes of a
   tile at least 8, sizes that leave partial tiles; and [2, 130, 70], whose
   full 64 x 64 tiles take the float build's shuffles), forward and
   backward, against the definition element by element:
   y[..i..k..] = x[..k..i..], and the gradient added into x.grad by two
   backward passes (2g: a gradient written instead of added shows). */
Test(golden_shape, tiled_transpose_and_permute)
{
    tg_tape *t = tg_tape_new();
    static const int64_t shapes[2][3] = {{3, 45, 37}, {2, 130, 70}};
    static tg_real xs[2 * 130 * 70], gs[2 * 130 * 70];
    static const int perms[3][3] = {{0, 2, 1}, {2, 1, 0}, {1, 2, 0}};
    for (int sh = 0; sh < 2; sh++) {
        const int64_t A = shapes[sh][0], B = shapes[sh][1], C = shapes[sh][2];
        for (int64_t i = 0; i < A * B * C; i++) xs[i] = (tg_real)(i % 251) - 100;
        for (int p = 0; p < 3; p++) {
            tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(A, B, C), xs), true);
            tg_tensor *y = p == 0 ? tg_transpose(t, x, 1, 2) : tg_permute(t, x, 3, perms[p]);
            cr_assert_not_null(y, "%s", tg_tape_error(t));
            const int64_t dims[3] = {A, B, C};
            int64_t ys[3] = {dims[perms[p][0]], dims[perms[p][1]], dims[perms[p][2]]};
            for (int64_t i = 0; i < A * B * C; i++) gs[i] = (tg_real)(i % 7) - 3;
            tg_tensor *g = tg_tensor_new(t, 3, ys, gs);
            for (int pass = 0; pass < 2; pass++)
                cr_assert_eq(tg_backward_ex(t, y, g, NULL), TG_OK, "%s", tg_last_error());
            int64_t in[3];
            for (in[0] = 0; in[0] < A; in[0]++)
                for (in[1] = 0; in[1] < B; in[1]++)
                    for (in[2] = 0; in[2] < C; in[2]++) {
                        int64_t xi = (in[0] * B + in[1]) * C + in[2];
                        int64_t o[3] = {in[perms[p][0]], in[perms[p][1]], in[perms[p][2]]};
                        int64_t yi = (o[0] * ys[1] + o[1]) * ys[2] + o[2];
                        cr_assert_eq(y->data[yi], xs[xi], "shape %d perm %d: y at %ld", sh, p,
                                     (long)yi);
                        cr_assert_eq(x->grad[xi], 2 * gs[yi], "shape %d perm %d: dx at %ld", sh,
                                     p, (long)xi);
                    }
            tg_tape_reset(t);
        }
    }
    tg_tape_free(t);
}

/* A transpose of 32 MiB of floats or more: its full tiles are written with
   streaming stores (src/ops/shape.c), checked against the definition
   y[i, k] = x[k, i]; and the same shape with a partial tile at each end. */
Test(golden_shape, large_transpose_streamed)
{
    static const int64_t shapes[2][2] = {{2048, 4096}, {2051, 4099}};
    for (int sh = 0; sh < 2; sh++) {
        const int64_t R = shapes[sh][0], C = shapes[sh][1];
        tg_tape *t = tg_tape_new();
        tg_tensor *x = tg_zeros(t, TG_SHAPE(R, C));
        cr_assert_not_null(x, "%s", tg_tape_error(t));
        for (int64_t i = 0; i < R * C; i++) x->data[i] = (tg_real)(i % 65521);
        tg_tensor *y = tg_transpose(t, x, 0, 1);
        cr_assert_not_null(y, "%s", tg_tape_error(t));
        int64_t bad = 0;
        for (int64_t k = 0; k < R; k++)
            for (int64_t i = 0; i < C; i++) bad += y->data[i * R + k] != x->data[k * C + i];
        cr_expect_eq(bad, 0, "[%lld, %lld]: %lld elements differ", (long long)R, (long long)C,
                     (long long)bad);
        tg_tape_free(t);
    }
}
