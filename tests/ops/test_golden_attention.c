/* Scaled dot-product attention against PyTorch: outputs, first gradients
   and second order of every case in tests/golden/attention_*.txt, written
   by tests/gen_golden_attention.py with PyTorch's own function: heads,
   broadcast batch dimensions (v with more of them than q and k too),
   additive masks (with −inf, and their own gradient), 0/1 masks that keep
   or hide, causal masks with fewer and more queries than keys, a custom
   scale (and a negative one), and rows whose every key is hidden (NaN, as
   in PyTorch, first order only). Tolerances are gt_default_tol(): float
   rtol 1e-5 / atol 1e-6, double rtol 1e-12 / atol 1e-14.

   Then the refusals: lengths of 0, shapes that do not fit, masks of the
   wrong shape, a mask with is_causal, a scale that is not finite: each NULL
   with a message naming the function and the shapes. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "builder_table.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("attention");
    cr_assert(gold != NULL, "tests/golden/attention_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_attention, .init = load, .fini = unload);

/* attribute mask: 0 none, else the tg_mask_kind + 1 */
static tg_tensor *b_sdpa(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    int mask = (int)gt_attr(c, "mask", 0);
    return tg_scaled_dot_product_attention(t, in[0], in[1], in[2], mask ? in[3] : NULL,
                                           mask ? (tg_mask_kind)(mask - 1) : TG_MASK_ADDITIVE,
                                           gt_attr(c, "causal", 0) != 0,
                                           gt_attr(c, "scale", 0));
}

Test(golden_attention, scaled_dot_product_attention)
{
    gt_run_op(gold, "scaled_dot_product_attention", b_sdpa, gt_default_tol());
}
Test(golden_attention, scaled_dot_product_attention_order2)
{
    gt_run_op2(gold, "scaled_dot_product_attention", b_sdpa, gt_default_tol());
}

static const gt_builder builders[] = {{"scaled_dot_product_attention", b_sdpa}};

Test(golden_attention, every_case_is_run)
{
    gt_expect_builders(gold, builders, sizeof builders / sizeof *builders);
}

/* Replay equals recording again, bit for bit, and tg_gradgradcheck, for
   every op (tests/support/replay_check.h, ggc_check.h). */
GT_BUILDER_FIND(find_builder, builders)
Test(golden_attention, replay_every_op) { gt_run_replay_file(gold, find_builder); }
Test(golden_attention, gradgradcheck_every_op) { gt_run_gradgradcheck_file(gold, find_builder); }

/* ---------------------------------------------------------------- refusals */

TestSuite(attention_refuses, .init = gt_tape_setup, .fini = gt_tape_teardown);

#define REFUSED(y, ...) GT_REFUSED(gt_tape, y, __VA_ARGS__)

static tg_tensor *z(int ndim, const int64_t *shape) { return tg_zeros(gt_tape, ndim, shape); }
#define SDPA(q, k, v, m, kind, causal)                                                        \
    tg_scaled_dot_product_attention(gt_tape, q, k, v, m, kind, causal, 0)

Test(attention_refuses, lengths_and_shapes)
{
    tg_tensor *q = z(TG_SHAPE(2, 3, 4)), *k = z(TG_SHAPE(2, 5, 4)), *v = z(TG_SHAPE(2, 5, 6));
    const char *F = "tg_scaled_dot_product_attention";
    REFUSED(SDPA(z(TG_SHAPE(2, 0, 4)), k, v, NULL, TG_MASK_ADDITIVE, false), F,
            "query sequence has length 0", "q [2,0,4]");
    REFUSED(SDPA(q, z(TG_SHAPE(2, 0, 4)), z(TG_SHAPE(2, 0, 6)), NULL, TG_MASK_ADDITIVE, false), F,
            "key sequence has length 0", "k [2,0,4]");
    REFUSED(SDPA(z(TG_SHAPE(2, 3, 0)), z(TG_SHAPE(2, 5, 0)), v, NULL, TG_MASK_ADDITIVE, false), F,
            "embedding has length 0");
    REFUSED(SDPA(q, z(TG_SHAPE(2, 5, 3)), v, NULL, TG_MASK_ADDITIVE, false), F, "q [2,3,4]",
            "k [2,5,3]", "do not fit");
    REFUSED(SDPA(q, k, z(TG_SHAPE(2, 4, 6)), NULL, TG_MASK_ADDITIVE, false), F, "v [2,4,6]");
    REFUSED(SDPA(z(TG_SHAPE(4)), k, v, NULL, TG_MASK_ADDITIVE, false), F, "at least 2");
    REFUSED(SDPA(q, z(TG_SHAPE(3, 5, 4)), z(TG_SHAPE(3, 5, 6)), NULL, TG_MASK_ADDITIVE, false), F,
            "batch dimensions", "cannot be broadcast");
    /* v's batch dimensions broadcast with the scores' [2] (more of them
       are taken: the golden cases), but 3 against 2 does not */
    REFUSED(SDPA(q, k, z(TG_SHAPE(3, 5, 6)), NULL, TG_MASK_ADDITIVE, false), F, "v [3,5,6]",
            "cannot be broadcast");
    REFUSED(SDPA(q, k, z(TG_SHAPE(4, 3, 5, 6)), NULL, TG_MASK_ADDITIVE, false), F,
            "v [4,3,5,6]", "cannot be broadcast");
    REFUSED(SDPA(NULL, k, v, NULL, TG_MASK_ADDITIVE, false), F, "NULL");
    /* any finite scale is taken (0: 1/√E), as PyTorch 2.1's */
    REFUSED(tg_scaled_dot_product_attention(gt_tape, q, k, v, NULL, TG_MASK_ADDITIVE, false, NAN),
            F, "scale", "finite");
    REFUSED(tg_scaled_dot_product_attention(gt_tape, q, k, v, NULL, TG_MASK_ADDITIVE, false,
                                            -INFINITY),
            F, "scale", "finite");
}

Test(attention_refuses, masks)
{
    tg_tensor *q = z(TG_SHAPE(2, 3, 4)), *k = z(TG_SHAPE(2, 5, 4)), *v = z(TG_SHAPE(2, 5, 6));
    const char *F = "tg_scaled_dot_product_attention";
    REFUSED(SDPA(q, k, v, z(TG_SHAPE(5, 3)), TG_MASK_KEEP, false), F, "the mask [5,3]",
            "scores [2,3,5]");
    REFUSED(SDPA(q, k, v, z(TG_SHAPE(3, 3, 5)), TG_MASK_ADDITIVE, false), F, "the mask [3,3,5]");
    REFUSED(SDPA(q, k, v, z(TG_SHAPE(1, 2, 3, 5)), TG_MASK_ADDITIVE, false), F,
            "the mask [1,2,3,5]");
    REFUSED(SDPA(q, k, v, z(TG_SHAPE(3, 5)), TG_MASK_KEEP, true), F, "not both");
    /* the mask fits the scores [2,3,5], not v's extra batch dimensions: PyTorch
       adds it to the scores in place and refuses this too */
    REFUSED(SDPA(q, k, z(TG_SHAPE(4, 2, 5, 6)), z(TG_SHAPE(4, 1, 3, 5)), TG_MASK_ADDITIVE, false),
            F, "the mask [4,1,3,5]", "scores [2,3,5]");
    REFUSED(SDPA(q, k, v, z(TG_SHAPE(3, 5)), (tg_mask_kind)7, false), F, "mask kind 7");
    /* these fit */
    cr_expect(SDPA(q, k, v, z(TG_SHAPE(2, 1, 5)), TG_MASK_ADDITIVE, false) != NULL, "%s",
              tg_tape_error(gt_tape));
    cr_expect(SDPA(q, k, v, z(TG_SHAPE(5)), TG_MASK_ADDITIVE, false) != NULL, "%s",
              tg_tape_error(gt_tape));
}

/* The causal mask: query i sees keys j ≤ i, in each kind. */
Test(attention_refuses, causal_mask)
{
    tg_tensor *a = tg_causal_mask(gt_tape, 2, 3, TG_MASK_ADDITIVE);
    tg_tensor *k = tg_causal_mask(gt_tape, 2, 3, TG_MASK_KEEP);
    tg_tensor *h = tg_causal_mask(gt_tape, 2, 3, TG_MASK_HIDE);
    cr_assert(a && k && h);
    const tg_real keep[6] = {1, 0, 0, 1, 1, 0};
    for (int i = 0; i < 6; i++) {
        cr_expect(k->data[i] == keep[i] && h->data[i] == 1 - keep[i]);
        cr_expect(keep[i] ? a->data[i] == 0 : isinf(a->data[i]) && a->data[i] < 0);
    }
    REFUSED(tg_causal_mask(gt_tape, -1, 3, TG_MASK_KEEP), "tg_causal_mask", "-1");
}
