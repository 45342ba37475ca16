/* The indexing ops against PyTorch: outputs, first gradients (the fast
   backward) and second order (create_graph) of every case in
   tests/golden/index_*.txt, written by tests/gen_golden_index.py: slices
   with clamped, negative and empty bounds and steps beyond the axis,
   repeated indices, index arrays smaller or larger than x, 0-d tensors,
   masks broadcast both ways and filled with -inf. The ops are linear, so
   the cases with attribute sq square the output: their second order runs
   through each vjp and its adjoint op's. Tolerances are gt_default_tol():
   float rtol 1e-5 / atol 1e-6, double rtol 1e-12 / atol 1e-14.

   Then the refusals: indices out of range (negative ones too), shapes that
   do not fit, bad options, index arrays of another tape: each NULL with a
   message naming the op and what is wrong. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder_table.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("index");
    cr_assert(gold != NULL, "tests/golden/index_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_index, .init = load, .fini = unload);

#define ATTR(k, d) gt_attr(c, k, d)

static tg_index *index_of(tg_tape *t, const gt_case *c)
{
    return tg_index_new(t, c->index_ndim, c->index_shape, c->index);
}

/* op(...) or, with attribute sq, op(...)² */
static tg_tensor *maybe_sq(tg_tape *t, tg_tensor *y, const gt_case *c)
{
    return ATTR("sq", 0) ? tg_square(t, y) : y;
}

static int axis_of(const gt_case *c) { return ATTR("all", 0) ? TG_ALL : (int)ATTR("axis", 0); }

static tg_tensor *b_slice(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    tg_slice_spec s[TG_MAX_DIMS];
    int n = (int)ATTR("n", 0);
    for (int k = 0; k < n; k++) {
        char key[16];
        snprintf(key, sizeof key, "axis%d", k);
        s[k].axis = (int)ATTR(key, 0);
        snprintf(key, sizeof key, "start%d", k);
        s[k].start = (int64_t)ATTR(key, 0);
        snprintf(key, sizeof key, "stop%d", k);
        s[k].stop = isnan(gt_attr(c, key, NAN)) ? TG_END : (int64_t)ATTR(key, 0); /* absent: end */
        snprintf(key, sizeof key, "step%d", k);
        s[k].step = (int64_t)ATTR(key, 1);
    }
    /* one spec goes through tg_slice, several through tg_slices */
    tg_tensor *y = n == 1 ? tg_slice(t, in[0], s[0].axis, s[0].start, s[0].stop, s[0].step)
                          : tg_slices(t, in[0], n, s);
    return maybe_sq(t, y, c);
}
static tg_tensor *b_select(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return maybe_sq(t, tg_select(t, in[0], axis_of(c), (int64_t)ATTR("index", 0)), c);
}
static tg_tensor *b_narrow(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return maybe_sq(t, tg_narrow(t, in[0], axis_of(c), (int64_t)ATTR("start", 0),
                                 (int64_t)ATTR("length", 0)), c);
}
static tg_tensor *b_index_select(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return maybe_sq(t, tg_index_select(t, in[0], axis_of(c), index_of(t, c)), c);
}
static tg_tensor *b_index_add(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return maybe_sq(t, tg_index_add(t, in[0], axis_of(c), index_of(t, c), in[1]), c);
}
static tg_tensor *b_gather(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return maybe_sq(t, tg_gather(t, in[0], axis_of(c), index_of(t, c)), c);
}
static tg_tensor *b_scatter_add(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return maybe_sq(t, tg_scatter_add(t, in[0], axis_of(c), index_of(t, c), in[1]), c);
}
static tg_tensor *b_scatter(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return maybe_sq(t, tg_scatter(t, in[0], axis_of(c), index_of(t, c), in[1]), c);
}
static tg_tensor *b_masked_fill(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return maybe_sq(t, tg_masked_fill(t, in[0], in[1], (tg_real)ATTR("value", 0)), c);
}
static tg_tensor *b_take_along_dim(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return maybe_sq(t, tg_take_along_dim(t, in[0], index_of(t, c), axis_of(c)), c);
}

/* First order (the fast backward), then second order through create_graph,
   whose first order must agree with the fast one. */
#define GOLDEN(NAME)                                                                        \
    Test(golden_index, NAME) { gt_run_op(gold, #NAME, b_##NAME, gt_default_tol()); }        \
    Test(golden_index, NAME##_order2) { gt_run_op2(gold, #NAME, b_##NAME, gt_default_tol()); }

GOLDEN(slice)
GOLDEN(select)
GOLDEN(narrow)
GOLDEN(index_select)
GOLDEN(index_add)
GOLDEN(gather)
GOLDEN(scatter_add)
GOLDEN(scatter)
GOLDEN(masked_fill)
GOLDEN(take_along_dim)

#define B(NAME) {#NAME, b_##NAME}
static const gt_builder builders[] = {
    B(slice),     B(select),  B(narrow),      B(index_select), B(index_add),
    B(gather),    B(scatter_add), B(scatter), B(masked_fill),  B(take_along_dim),
};
#undef B

/* No case in the file is skipped for want of a test. */
Test(golden_index, every_case_is_run)
{
    gt_expect_builders(gold, builders, sizeof builders / sizeof *builders);
}

/* Replay equals recording again, bit for bit, and tg_gradgradcheck, for
   every op (tests/support/replay_check.h, ggc_check.h). */
GT_BUILDER_FIND(find_builder, builders)
Test(golden_index, replay_every_op) { gt_run_replay_file(gold, find_builder); }
Test(golden_index, gradgradcheck_every_op) { gt_run_gradgradcheck_file(gold, find_builder); }

/* ---------------------------------------------------------------- refusals */

TestSuite(index_refuses, .init = gt_tape_setup, .fini = gt_tape_teardown);

#define REFUSED(y, ...) GT_REFUSED(gt_tape, y, __VA_ARGS__)

static const tg_index *ix(int ndim, const int64_t *shape, const int64_t *v)
{
    const tg_index *i = tg_index_new(gt_tape, ndim, shape, v);
    cr_assert(i, "%s", tg_tape_error(gt_tape));
    return i;
}

Test(index_refuses, slices)
{
    tg_tensor *x34 = tg_requires_grad(tg_zeros(gt_tape, TG_SHAPE(3, 4)), true);
    REFUSED(tg_slice(gt_tape, x34, 2, 0, 1, 1), "tg_slice", "axis 2", "[3,4]");
    REFUSED(tg_slice(gt_tape, x34, 1, 0, 1, 0), "tg_slice", "step", "0");
    REFUSED(tg_slice(gt_tape, x34, 1, 0, 1, -1), "tg_slice", "step", "-1");
    tg_slice_spec twice[2] = {{1, 0, 2, 1}, {-1, 1, 3, 1}};
    REFUSED(tg_slices(gt_tape, x34, 2, twice), "tg_slice", "axis -1 is sliced twice");
    REFUSED(tg_select(gt_tape, x34, 1, 4), "tg_select", "index 4", "axis 1", "size 4");
    REFUSED(tg_select(gt_tape, x34, 1, -5), "tg_select", "index -5", "axis 1");
    REFUSED(tg_select(gt_tape, tg_scalar(gt_tape, 1), 0, 0), "tg_select", "0-d");
    REFUSED(tg_narrow(gt_tape, x34, 1, 3, 2), "tg_narrow", "start 3 + length 2", "axis 1");
    REFUSED(tg_narrow(gt_tape, x34, 0, -4, 1), "tg_narrow", "start -4", "axis 0");
    REFUSED(tg_narrow(gt_tape, x34, 0, 0, -1), "tg_narrow", "length -1");
    REFUSED(tg_slice(gt_tape, NULL, 0, 0, 1, 1), "tg_slice", "NULL");
    /* in range: no message */
    cr_expect(tg_select(gt_tape, x34, 1, -4) != NULL, "%s", tg_tape_error(gt_tape));
    cr_expect(tg_narrow(gt_tape, x34, 1, -4, 4) != NULL, "%s", tg_tape_error(gt_tape));
}

Test(index_refuses, indices_out_of_range)
{
    tg_tensor *x34 = tg_requires_grad(tg_zeros(gt_tape, TG_SHAPE(3, 4)), true);
    const int64_t big[2] = {1, 4}, neg[3] = {0, -1, 2}, far[1] = {-5};
    REFUSED(tg_index_select(gt_tape, x34, 1, ix(TG_SHAPE(2), big)), "tg_index_select", "index 4",
            "position 1", "axis 1", "size 4");
    REFUSED(tg_index_select(gt_tape, x34, 0, ix(TG_SHAPE(3), neg)), "tg_index_select", "index -1",
            "position 1", "axis 0", "no negative index");
    REFUSED(tg_index_select(gt_tape, x34, 1, ix(TG_SHAPE(1), far)), "tg_index_select", "index -5");
    const int64_t g[6] = {0, 1, 2, 3, 3, 1};
    REFUSED(tg_gather(gt_tape, x34, 0, ix(TG_SHAPE(2, 3), g)), "tg_gather", "index 3",
            "position [1,0]", "axis 0", "size 3");
    const int64_t g8[8] = {0, 1, 2, 1, 2, 1, 0, 3};
    REFUSED(tg_take_along_dim(gt_tape, x34, ix(TG_SHAPE(2, 4), g8), 0), "tg_take_along_dim",
            "index 3", "position [1,3]", "axis 0");
    tg_tensor *src = tg_ones(gt_tape, TG_SHAPE(2, 3));
    REFUSED(tg_scatter_add(gt_tape, x34, 0, ix(TG_SHAPE(2, 3), g), src), "tg_scatter_add",
            "index 3", "position [1,0]");
    REFUSED(tg_scatter(gt_tape, x34, 0, ix(TG_SHAPE(2, 3), g), src), "tg_scatter", "index 3");
    const int64_t r[2] = {0, 3};
    REFUSED(tg_index_add(gt_tape, x34, 0, ix(TG_SHAPE(2), r), tg_ones(gt_tape, TG_SHAPE(2, 4))),
            "tg_index_add", "index 3", "position 1", "axis 0", "size 3");
}

/* gather along x's last axis checks each index as it reads it (no scan
   before): an index out of range in a vector of the row (first lane, a
   middle one, the second half of a float block), in its tail, a negative
   one, and one in the last row are each refused by name, when recorded and
   when a replay meets it. Rows of 41: two blocks of 16 and a tail of 9 in
   float, five vectors of 8 and a tail of 1 in double. */
Test(index_refuses, gather_along_the_last_axis_checked_as_read)
{
    enum { N = 41 };
    tg_tensor *x = tg_requires_grad(tg_zeros(gt_tape, TG_SHAPE(3, N)), true);
    int64_t g[3 * N];
    for (int k = 0; k < 3 * N; k++) g[k] = (k * 7) % N;
    cr_assert(tg_gather(gt_tape, x, 1, ix(TG_SHAPE(3, N), g)), "%s", tg_tape_error(gt_tape));
    static const struct {
        int pos;
        int64_t v;
        const char *at;
    } bad[] = {{5, N, "position [0,5]"},          {12, N + 1, "position [0,12]"},
               {16, N + 2, "position [0,16]"},    {35, 1000, "position [0,35]"},
               {40, N, "position [0,40]"},        {N + 17, -1, "position [1,17]"},
               {N + 27, N, "position [1,27]"},    {2 * N + 40, N, "position [2,40]"}};
    for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
        int64_t keep = g[bad[b].pos];
        g[bad[b].pos] = bad[b].v;
        char want[32];
        snprintf(want, sizeof want, "index %lld", (long long)bad[b].v);
        REFUSED(tg_gather(gt_tape, x, 1, ix(TG_SHAPE(3, N), g)), "tg_gather", want, bad[b].at,
                "axis 1", "size 41");
        g[bad[b].pos] = keep;
    }
    /* a replay meets the index the caller changed */
    tg_tape *t = tg_tape_new();
    tg_tape_set_replayable(t, true);
    tg_tensor *x2 = tg_requires_grad(tg_zeros(t, TG_SHAPE(3, N)), true);
    cr_assert(tg_sum(t, tg_gather(t, x2, 1, tg_index_wrap(t, TG_SHAPE(3, N), g)), TG_ALL, false),
              "%s", tg_tape_error(t));
    cr_assert_eq(tg_tape_replay(t), TG_OK, "%s", tg_tape_error(t));
    g[21] = N;
    cr_expect_eq(tg_tape_replay(t), TG_ERR_INVALID);
    cr_expect(strstr(tg_tape_error(t), "tg_tape_replay: record 0 (tg_gather)") &&
                  strstr(tg_tape_error(t), "index 41 at position [0,21] is out of range for axis 1"),
              "%s", tg_tape_error(t));
    tg_tape_free(t);
}

/* A gather of 32 MiB or more along the last axis: written through a buffer
   with streaming stores (src/ops/index.c), checked against the definition
   y[r, c] = x[r, index[r, c]]; rows whose starts are 16-byte aligned and
   rows that are not. */
Test(golden_index, large_gather_streamed)
{
    static const int64_t shapes[2][2] = {{2048, 4096}, {2051, 4099}};
    for (int sh = 0; sh < 2; sh++) {
        const int64_t R = shapes[sh][0], C = shapes[sh][1];
        tg_tape *t = tg_tape_new();
        tg_tensor *x = tg_zeros(t, TG_SHAPE(R, C));
        int64_t *g = malloc((size_t)(R * C) * sizeof *g);
        cr_assert(x && g, "%s", tg_tape_error(t));
        uint64_t s = 7;
        for (int64_t i = 0; i < R * C; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            x->data[i] = (tg_real)(i % 65521);
            g[i] = (int64_t)((s >> 33) % (uint64_t)C);
        }
        tg_tensor *y = tg_gather(t, x, 1, tg_index_wrap(t, TG_SHAPE(R, C), g));
        cr_assert_not_null(y, "%s", tg_tape_error(t));
        int64_t bad = 0;
        for (int64_t r = 0; r < R; r++)
            for (int64_t c = 0; c < C; c++)
                bad += y->data[r * C + c] != x->data[r * C + g[r * C + c]];
        cr_expect_eq(bad, 0, "[%lld, %lld]: %lld elements differ", (long long)R, (long long)C,
                     (long long)bad);
        free(g);
        tg_tape_free(t);
    }
}

/* index_select of 32 MiB or more: its rows are written with streaming
   stores (src/ops/index.c, take_rows), checked against the definition
   y[j, :] = x[index[j], :]; rows of 256 values (16-byte aligned) and of 257
   (most rows unaligned: copied as before). */
Test(golden_index, large_index_select_streamed)
{
    static const int64_t widths[2] = {256, 257};
    for (int w = 0; w < 2; w++) {
        const int64_t V = 1000, D = widths[w], K = ((int64_t)33 << 20) / (D * (int64_t)sizeof(tg_real));
        tg_tape *t = tg_tape_new();
        tg_tensor *x = tg_zeros(t, TG_SHAPE(V, D));
        int64_t *idx = malloc((size_t)K * sizeof *idx);
        cr_assert(x && idx, "%s", tg_tape_error(t));
        for (int64_t i = 0; i < V * D; i++) x->data[i] = (tg_real)(i % 65521);
        uint64_t s = 11;
        for (int64_t j = 0; j < K; j++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            idx[j] = (int64_t)((s >> 33) % (uint64_t)V);
        }
        tg_tensor *y = tg_index_select(t, x, 0, tg_index_wrap(t, TG_SHAPE(K), idx));
        cr_assert_not_null(y, "%s", tg_tape_error(t));
        int64_t bad = 0;
        for (int64_t j = 0; j < K; j++)
            for (int64_t c = 0; c < D; c++) bad += y->data[j * D + c] != x->data[idx[j] * D + c];
        cr_expect_eq(bad, 0, "[%lld, %lld] rows %lld: %lld elements differ", (long long)V,
                     (long long)D, (long long)K, (long long)bad);
        free(idx);
        tg_tape_free(t);
    }
}

Test(index_refuses, shapes)
{
    tg_tensor *x34 = tg_requires_grad(tg_zeros(gt_tape, TG_SHAPE(3, 4)), true);
    const int64_t two[4] = {0, 1, 1, 0};
    /* index_select takes a list of positions */
    REFUSED(tg_index_select(gt_tape, x34, 0, ix(TG_SHAPE(2, 2), two)), "tg_index_select",
            "0-d or 1-d", "[2,2]");
    /* gather: the index has x's ndim and no more rows than x on other axes */
    REFUSED(tg_gather(gt_tape, x34, 1, ix(TG_SHAPE(4), two)), "tg_gather", "as many dimensions");
    const int64_t z[8] = {0};
    REFUSED(tg_gather(gt_tape, x34, 1, ix(TG_SHAPE(4, 2), z)), "tg_gather", "larger than x",
            "axis 0");
    /* scatter_add: src at least as large as the index */
    REFUSED(tg_scatter_add(gt_tape, x34, 1, ix(TG_SHAPE(2, 2), two), tg_ones(gt_tape, TG_SHAPE(2, 1))),
            "tg_scatter_add", "larger than src", "axis 1");
    /* index_add: src x's shape but k along the axis */
    REFUSED(tg_index_add(gt_tape, x34, 0, ix(TG_SHAPE(2), two), tg_ones(gt_tape, TG_SHAPE(2, 3))),
            "tg_index_add", "src has shape [2,3]");
    REFUSED(tg_masked_fill(gt_tape, x34, tg_ones(gt_tape, TG_SHAPE(3)), 0), "tg_masked_fill",
            "broadcast", "[3,4]", "[3]");
    REFUSED(tg_take_along_dim(gt_tape, x34, ix(TG_SHAPE(4), two), 1), "tg_take_along_dim",
            "as many dimensions");
    REFUSED(tg_take_along_dim(gt_tape, x34, ix(TG_SHAPE(2, 2), two), 1), "tg_take_along_dim",
            "do not broadcast", "axis 0");
    REFUSED(tg_gather(gt_tape, x34, -3, ix(TG_SHAPE(2, 2), two)), "tg_gather", "axis -3");
    REFUSED(tg_gather(gt_tape, x34, 0, NULL), "tg_gather", "index array is NULL");
}

/* An index array from another tape, or from before a reset, is refused. */
Test(index_refuses, index_of_another_tape)
{
    tg_tensor *x34 = tg_requires_grad(tg_zeros(gt_tape, TG_SHAPE(3, 4)), true);
    tg_tape *other = tg_tape_new();
    const int64_t v[2] = {0, 1};
    tg_index *foreign = tg_index_new(other, TG_SHAPE(2), v);
    REFUSED(tg_index_select(gt_tape, x34, 0, foreign), "tg_index_select", "another tape");
    tg_tape_free(other);
    tg_index *old = tg_index_new(gt_tape, TG_SHAPE(2), v);
    tg_tape_reset(gt_tape);
    x34 = tg_zeros(gt_tape, TG_SHAPE(3, 4));
    REFUSED(tg_gather(gt_tape, x34, 0, old), "tg_gather", "before tg_tape_reset");
}

/* scatter's rule for repeated positions: the last write wins, and only it
   gets the gradient (the finite differences check the same numbers). */
Test(index_refuses, scatter_last_write_wins)
{
    const tg_real xs[3] = {1, 2, 3}, ss[3] = {10, 20, 30};
    const int64_t at[3] = {1, 1, 2};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(gt_tape, TG_SHAPE(3), xs), true);
    tg_tensor *s = tg_requires_grad(tg_tensor_new(gt_tape, TG_SHAPE(3), ss), true);
    tg_tensor *y = tg_scatter(gt_tape, x, 0, ix(TG_SHAPE(3), at), s);
    cr_assert(y, "%s", tg_tape_error(gt_tape));
    cr_expect(y->data[0] == 1 && y->data[1] == 20 && y->data[2] == 30);
    const tg_real g[3] = {1, 2, 4};
    cr_assert_eq(tg_backward_grad(gt_tape, y, g), TG_OK);
    cr_expect(x->grad[0] == 1 && x->grad[1] == 0 && x->grad[2] == 0);
    cr_expect(s->grad[0] == 0 && s->grad[1] == 2 && s->grad[2] == 4);
}
