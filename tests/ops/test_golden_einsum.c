/* tg_einsum against torch.einsum: outputs, first gradients and second
   order of every case in tests/golden/einsum_*.txt, written by
   tests/gen_golden_einsum.py (products, transposes, sums, traces and
   diagonals, "..." broadcast, implicit outputs, sizes of 1 broadcast,
   empty dimensions, a chain of three operands). A case's name is
   "<label>:<equation>"; cases with one operand square the output (attribute
   sq), so that their second order runs through the vjps of the ops
   tg_einsum records. Tolerances are gt_default_tol(): float rtol 1e-5 /
   atol 1e-6, double rtol 1e-12 / atol 1e-14.

   Then: spaces are ignored; the products read a transposed operand in place
   (no permute recorded); tg_gradcheck and tg_gradgradcheck on a few
   equations at seeded random points; and the refusals, each NULL with a
   message naming tg_einsum and the fault. */
#include <criterion/criterion.h>

#include <string.h>

#include "builder_table.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("einsum");
    cr_assert(gold != NULL, "tests/golden/einsum_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_einsum, .init = load, .fini = unload);

static tg_tensor *b_einsum(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    const char *eq = strchr(c->name, ':');
    cr_assert(eq, "case %s: no equation in its name", c->name);
    tg_tensor *y = tg_einsum(t, eq + 1, c->n_in, in);
    return gt_attr(c, "sq", 0) ? tg_square(t, y) : y;
}

Test(golden_einsum, einsum) { gt_run_op(gold, "einsum", b_einsum, gt_default_tol()); }
Test(golden_einsum, einsum_order2) { gt_run_op2(gold, "einsum", b_einsum, gt_default_tol()); }

static const gt_builder builders[] = {{"einsum", b_einsum}};

Test(golden_einsum, every_case_is_run)
{
    gt_expect_builders(gold, builders, sizeof builders / sizeof *builders);
}

/* Replay equals recording again, bit for bit, and tg_gradgradcheck, for
   every equation's smallest case (tests/support/replay_check.h, ggc_check.h). */
GT_BUILDER_FIND(find_builder, builders)
Test(golden_einsum, replay_every_op) { gt_run_replay_file(gold, find_builder); }
Test(golden_einsum, gradgradcheck_every_op) { gt_run_gradgradcheck_file(gold, find_builder); }

/* ------------------------------------------------------ the equation's form */

TestSuite(einsum, .init = gt_tape_setup, .fini = gt_tape_teardown);

static tg_tensor *filled(tg_tape *t, int ndim, const int64_t *shape, double start)
{
    tg_tensor *x = tg_zeros(t, ndim, shape);
    cr_assert(x, "%s", tg_tape_error(t));
    for (int64_t i = 0; i < x->size; i++) x->data[i] = (tg_real)(start + 0.25 * (double)i);
    return x;
}

Test(einsum, spaces_are_ignored)
{
    tg_tape *t = gt_tape;
    tg_tensor *ab[2] = {filled(t, TG_SHAPE(2, 3, 4), -1), filled(t, TG_SHAPE(4, 2), 0.5)};
    tg_tensor *y = tg_einsum(t, "...ij,jk->...ik", 2, ab);
    cr_assert(y, "%s", tg_tape_error(t));
    tg_tensor *z = tg_einsum(t, " . . . i j , j k -> . . . i k ", 2, ab);
    cr_assert(!z, "a '.' apart from its ellipsis should be refused");
    tg_tape_clear_error(t);
    z = tg_einsum(t, " ...i j ,\tjk->...ik", 2, ab);
    cr_assert(!z, "only spaces are skipped, not tabs");
    tg_tape_clear_error(t);
    z = tg_einsum(t, " ... i j , j k -> ... i k ", 2, ab);
    cr_assert(z, "%s", tg_tape_error(t));
    cr_assert_eq(z->size, y->size);
    for (int64_t i = 0; i < y->size; i++) cr_expect_eq(z->data[i], y->data[i]);
}

/* attention's scores q·kᵀ: one product that reads k transposed in place,
   no permute, no copy */
Test(einsum, reads_a_transposed_operand_in_place)
{
    tg_tape *t = gt_tape;
    tg_tensor *qk[2] = {tg_requires_grad(filled(t, TG_SHAPE(2, 3, 4), -1), true),
                        tg_requires_grad(filled(t, TG_SHAPE(2, 5, 4), 0), true)};
    size_t before = tg_tape_record_count(t);
    cr_assert(tg_einsum(t, "bqd,bkd->bqk", 2, qk), "%s", tg_tape_error(t));
    int matmuls = 0;
    for (size_t i = before; i < tg_tape_record_count(t); i++) {
        const char *op = tg_tape_record(t, i)->op->name;
        cr_expect(strcmp(op, "permute") != 0, "record %zu is a permute", i);
        matmuls += !strcmp(op, "matmul");
    }
    cr_expect_eq(matmuls, 1);
}

/* ------------------------------------------------------ finite differences */

static tg_tensor *f_einsum(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    return tg_einsum(t, ctx, n, in);
}

static void fd(const char *eq, int n, const int *ndim, const int64_t (*shape)[TG_MAX_DIMS])
{
    tg_tape *t = tg_tape_new();
    tg_tensor *in[3];
    uint64_t s = 20261205;
    int64_t want = 0;
    for (int k = 0; k < n; k++) {
        in[k] = tg_requires_grad(tg_zeros(t, ndim[k], shape[k]), true);
        cr_assert(in[k]);
        for (int64_t i = 0; i < in[k]->size; i++) in[k]->data[i] = (tg_real)(2 * gt_unit(&s) - 1);
        want += in[k]->size;
    }
    gt_expect_gradcheck(f_einsum, (void *)eq, in, n, want, eq);
    tg_gradcheck_result r = tg_gradgradcheck(f_einsum, (void *)eq, in, n, NULL);
    cr_expect_eq(r.status, TG_OK, "%s: gradgradcheck could not run: %s", eq, r.message);
    /* and the output gradient u's elements, the output's size */
    tg_tensor *y = tg_einsum(t, eq, n, in);
    cr_assert(y, "%s", tg_tape_error(t));
    cr_expect_eq(r.checked, want + y->size, "%s: gradgradcheck checked %lld", eq,
                 (long long)r.checked);
    cr_expect(r.ok, "%s, second order (%s): %s", eq, tg_real_name(), r.message);
    tg_tape_free(t);
}

Test(einsum_fd, batched_product)
{
    fd("bij,bjk->bik", 2, (int[]){3, 3}, (const int64_t[][TG_MAX_DIMS]){{2, 3, 4}, {2, 4, 2}});
}
Test(einsum_fd, attention_scores_broadcast)
{
    fd("...qd,...kd->...qk", 2, (int[]){4, 3},
       (const int64_t[][TG_MAX_DIMS]){{2, 1, 3, 2}, {2, 4, 2}});
}
Test(einsum_fd, diagonal_and_sum)
{
    fd("iij,jk->ik", 2, (int[]){3, 2}, (const int64_t[][TG_MAX_DIMS]){{3, 3, 2}, {2, 4}});
}
Test(einsum_fd, chain_of_three)
{
    fd("ij,jk,k->i", 3, (int[]){2, 2, 1}, (const int64_t[][TG_MAX_DIMS]){{2, 3}, {3, 4}, {4}});
}

/* ------------------------------------------------------------------ refusals */

#define EIN(eq, n, ...) tg_einsum(t, eq, n, (tg_tensor *[]){__VA_ARGS__})

Test(einsum, refuses_a_malformed_equation)
{
    tg_tape *t = gt_tape;
    tg_tensor *a = filled(t, TG_SHAPE(2, 3), 0), *b = filled(t, TG_SHAPE(3, 4), 0);
    GT_REFUSED(t, EIN("i1,jk->ik", 2, a, b), "tg_einsum", "invalid character '1' at position 1");
    GT_REFUSED(t, EIN("ij,jk-ik", 2, a, b), "tg_einsum", "invalid character '-' at position 5");
    GT_REFUSED(t, EIN("ij,jk->i->k", 2, a, b), "tg_einsum", "invalid character '-'");
    GT_REFUSED(t, EIN("ij,jk->i,k", 2, a, b), "tg_einsum", "invalid character ','");
    GT_REFUSED(t, EIN("i..j->ij", 1, a), "tg_einsum", "not part of an ellipsis");
    GT_REFUSED(t, EIN("...i...->i", 1, a), "tg_einsum", "operand 0", "more than one ellipsis");
    GT_REFUSED(t, EIN("ij->......", 1, a), "tg_einsum", "the output", "more than one ellipsis");
    GT_REFUSED(t, tg_einsum(t, NULL, 1, &a), "tg_einsum", "equation is NULL");
    GT_REFUSED(t, tg_einsum(t, "ij", 1, NULL), "tg_einsum", "operands is NULL");
    GT_REFUSED(t, tg_einsum(t, "", 0, &a), "tg_einsum", "1 to 32 operands, got 0");
    cr_expect_null(tg_einsum(NULL, "ij", 1, &a));
}

Test(einsum, refuses_operands_that_do_not_fit)
{
    tg_tape *t = gt_tape;
    tg_tensor *a = filled(t, TG_SHAPE(2, 3), 0), *b = filled(t, TG_SHAPE(4, 4), 0);
    GT_REFUSED(t, EIN("ij,jk->ik", 1, a), "tg_einsum", "has 2 operands, 1 given");
    GT_REFUSED(t, EIN("ij->ij", 2, a, b), "tg_einsum", "has 1 operand, 2 given");
    GT_REFUSED(t, EIN("ij,jk->ik", 2, a, b), "tg_einsum", "subscript 'j'", "size 4 in operand 1",
               "3 in operand 0");
    GT_REFUSED(t, EIN("ijk,jk->ik", 2, a, b), "tg_einsum",
               "operand 0 has 2 dimensions ([2,3]) but 3 subscripts and no ellipsis");
    GT_REFUSED(t, EIN("...ijk->i", 1, a), "tg_einsum", "3 subscripts besides its ellipsis");
    GT_REFUSED(t, EIN("ii->i", 1, a), "tg_einsum", "subscript 'i' is repeated in operand 0",
               "sizes 2 and 3");
    GT_REFUSED(t, EIN("...ij,...jk", 2, filled(t, TG_SHAPE(2, 2, 3), 0),
                      filled(t, TG_SHAPE(3, 3, 4), 0)),
               "tg_einsum", "\"...\" do not broadcast", "size 3 in operand 1", "2 in operand 0");
    GT_REFUSED(t, EIN("ij,jk->ik", 2, a, NULL), "tg_einsum", "NULL");
}

Test(einsum, refuses_a_bad_output)
{
    tg_tape *t = gt_tape;
    tg_tensor *a = filled(t, TG_SHAPE(2, 3), 0), *b = filled(t, TG_SHAPE(3, 4), 0);
    GT_REFUSED(t, EIN("ij,jk->iz", 2, a, b), "tg_einsum", "output subscript 'z'", "in no operand");
    GT_REFUSED(t, EIN("ij,jk->ii", 2, a, b), "tg_einsum", "output subscript 'i'",
               "more than once");
    /* nine axes: more than a tensor has */
    tg_tensor *v[2] = {filled(t, TG_SHAPE(1, 1, 1, 1, 1), 0), filled(t, TG_SHAPE(1, 1, 1, 1), 0)};
    GT_REFUSED(t, tg_einsum(t, "abcde,fghi", 2, v), "tg_einsum", "9 dimensions, more than 8");
    GT_REFUSED(t, tg_einsum(t, "abcde,fghi->abcdefghi", 2, v), "tg_einsum",
               "9 dimensions, more than 8");
    /* the product of the first two keeps a..h for the output and i for the third */
    tg_tensor *w[3] = {v[0], v[1], filled(t, TG_SHAPE(1), 0)};
    GT_REFUSED(t, tg_einsum(t, "abcde,fghi,i->abcdefgh", 3, w), "tg_einsum",
               "intermediate product would have 9 dimensions");
}
