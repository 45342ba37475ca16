/* The embedding ops against PyTorch: outputs, first gradients (the fast
   backward) and second order (create_graph) of every case in
   tests/golden/embedding_*.txt, written by tests/gen_golden_embedding.py:
   repeated indices, index arrays of 0 to 3 dimensions and empty ones,
   padding_idx from the start and from the end. Both ops are linear, so the
   cases with attribute sq square the output: their second order runs
   through each vjp and the other op. Tolerances are gt_default_tol():
   float rtol 1e-5 / atol 1e-6, double rtol 1e-12 / atol 1e-14.

   Then the refusals: indices out of range and negative, a padding_idx out
   of range, a weight that is not 2-D, index arrays of another tape, a
   gradient of the wrong shape: each NULL with a message naming the op. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "builder_table.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("embedding");
    cr_assert(gold != NULL, "tests/golden/embedding_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_embedding, .init = load, .fini = unload);

static tg_index *index_of(tg_tape *t, const gt_case *c)
{
    return tg_index_new(t, c->index_ndim, c->index_shape, c->index);
}

static int64_t padding_of(const gt_case *c)
{
    double p = gt_attr(c, "padding", NAN);
    return isnan(p) ? TG_PADDING_IDX_NONE : (int64_t)p;
}

static tg_tensor *maybe_sq(tg_tape *t, tg_tensor *y, const gt_case *c)
{
    return gt_attr(c, "sq", 0) ? tg_square(t, y) : y;
}

static tg_tensor *b_embedding(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    return maybe_sq(t, tg_embedding(t, in[0], index_of(t, c), padding_of(c)), c);
}
static tg_tensor *b_embedding_backward(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    int64_t n = (int64_t)gt_attr(c, "num_weights", 0);
    return maybe_sq(t, tg_embedding_backward(t, in[0], index_of(t, c), n, padding_of(c)), c);
}

#define GOLDEN(NAME)                                                                        \
    Test(golden_embedding, NAME) { gt_run_op(gold, #NAME, b_##NAME, gt_default_tol()); }    \
    Test(golden_embedding, NAME##_order2)                                                   \
    {                                                                                       \
        gt_run_op2(gold, #NAME, b_##NAME, gt_default_tol());                                \
    }

GOLDEN(embedding)
GOLDEN(embedding_backward)

static const gt_builder builders[] = {{"embedding", b_embedding},
                                      {"embedding_backward", b_embedding_backward}};

Test(golden_embedding, every_case_is_run)
{
    gt_expect_builders(gold, builders, sizeof builders / sizeof *builders);
}

/* Replay equals recording again, bit for bit, and tg_gradgradcheck, for
   every op (tests/support/replay_check.h, ggc_check.h). */
GT_BUILDER_FIND(find_builder, builders)
Test(golden_embedding, replay_every_op) { gt_run_replay_file(gold, find_builder); }
Test(golden_embedding, gradgradcheck_every_op) { gt_run_gradgradcheck_file(gold, find_builder); }

/* ---------------------------------------------------------------- refusals */

static tg_tensor *w53; /* [5, 3] */
static void setup(void)
{
    gt_tape_setup();
    w53 = tg_requires_grad(tg_zeros(gt_tape, TG_SHAPE(5, 3)), true);
}
TestSuite(embedding_refuses, .init = setup, .fini = gt_tape_teardown);

#define REFUSED(y, ...) GT_REFUSED(gt_tape, y, __VA_ARGS__)

static const tg_index *ix(int ndim, const int64_t *shape, const int64_t *v)
{
    const tg_index *i = tg_index_new(gt_tape, ndim, shape, v);
    cr_assert(i, "%s", tg_tape_error(gt_tape));
    return i;
}

Test(embedding_refuses, indices_out_of_range)
{
    const int64_t big[4] = {0, 1, 5, 2}, neg[2] = {3, -1};
    REFUSED(tg_embedding(gt_tape, w53, ix(TG_SHAPE(2, 2), big), TG_PADDING_IDX_NONE),
            "tg_embedding", "index 5", "position [1,0]", "size 5");
    REFUSED(tg_embedding(gt_tape, w53, ix(TG_SHAPE(2), neg), TG_PADDING_IDX_NONE), "tg_embedding",
            "index -1", "position 1", "no negative index");
    tg_tensor *g = tg_ones(gt_tape, TG_SHAPE(2, 2, 3));
    REFUSED(tg_embedding_backward(gt_tape, g, ix(TG_SHAPE(2, 2), big), 5, TG_PADDING_IDX_NONE),
            "tg_embedding_backward", "index 5", "size 5");
}

Test(embedding_refuses, padding_and_shapes)
{
    const int64_t v[3] = {0, 1, 2};
    REFUSED(tg_embedding(gt_tape, w53, ix(TG_SHAPE(3), v), 5), "tg_embedding", "padding_idx 5",
            "5 rows");
    REFUSED(tg_embedding(gt_tape, w53, ix(TG_SHAPE(3), v), -6), "tg_embedding", "padding_idx -6",
            "[-5, 5)");
    REFUSED(tg_embedding(gt_tape, tg_zeros(gt_tape, TG_SHAPE(15)), ix(TG_SHAPE(3), v),
                         TG_PADDING_IDX_NONE),
            "tg_embedding", "2-D", "[15]");
    REFUSED(tg_embedding(gt_tape, w53, NULL, TG_PADDING_IDX_NONE), "tg_embedding",
            "index array is NULL");
    REFUSED(tg_embedding(gt_tape, NULL, ix(TG_SHAPE(3), v), TG_PADDING_IDX_NONE), "tg_embedding",
            "NULL");
    /* the output needs one more axis than the index array */
    const int64_t one[1] = {0};
    REFUSED(tg_embedding(gt_tape, w53, ix(TG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1), one),
                         TG_PADDING_IDX_NONE),
            "tg_embedding", "8 dimensions");
    /* embedding_backward: the gradient is [*index.shape, D] */
    REFUSED(tg_embedding_backward(gt_tape, tg_ones(gt_tape, TG_SHAPE(2, 3)), ix(TG_SHAPE(3), v), 5,
                                  TG_PADDING_IDX_NONE),
            "tg_embedding_backward", "[2,3]", "[3]");
    REFUSED(tg_embedding_backward(gt_tape, tg_ones(gt_tape, TG_SHAPE(3, 2)), ix(TG_SHAPE(3), v), -1,
                                  TG_PADDING_IDX_NONE),
            "tg_embedding_backward", "num_weights is -1");
    /* in range: no message */
    cr_expect(tg_embedding(gt_tape, w53, ix(TG_SHAPE(3), v), -5) != NULL, "%s",
              tg_tape_error(gt_tape));
}

Test(embedding_refuses, index_of_another_tape)
{
    tg_tape *other = tg_tape_new();
    const int64_t v[2] = {0, 1};
    tg_index *foreign = tg_index_new(other, TG_SHAPE(2), v);
    REFUSED(tg_embedding(gt_tape, w53, foreign, TG_PADDING_IDX_NONE), "tg_embedding",
            "another tape");
    tg_tape_free(other);
}

/* The padding row gets no gradient, and what it held before is kept
   exactly (a gradient accumulated from an earlier backward). */
Test(embedding_refuses, padding_row_keeps_its_gradient)
{
    const int64_t v[4] = {1, 2, 1, 4};
    tg_tensor *y = tg_embedding(gt_tape, w53, ix(TG_SHAPE(4), v), 1);
    cr_assert(y, "%s", tg_tape_error(gt_tape));
    tg_tensor *s = tg_sum(gt_tape, y, TG_ALL, false);
    cr_assert_eq(tg_backward(gt_tape, s), TG_OK);
    cr_assert_eq(tg_backward(gt_tape, s), TG_OK); /* twice: the gradients add up */
    for (int j = 0; j < 3; j++) {
        cr_expect(w53->grad[1 * 3 + j] == 0, "the padding row got a gradient");
        cr_expect(w53->grad[2 * 3 + j] == 2 && w53->grad[4 * 3 + j] == 2);
        cr_expect(w53->grad[0 * 3 + j] == 0 && w53->grad[3 * 3 + j] == 0);
    }
}
