/* Golden-case builders by op name (a table per test file), and the check
   that every case of a golden file has a builder, so that none is skipped
   for want of a test. A family's golden test file, with its table and its
   find function, replays and gradgradchecks every op in two lines:

     GT_BUILDER_FIND(find_builder, builders)
     Test(golden_x, replay_every_op) { gt_run_replay_file(gold, find_builder); }
     Test(golden_x, gradgradcheck_every_op) { gt_run_gradgradcheck_file(gold, find_builder); }

   (tests/support/replay_check.h and ggc_check.h). */
#ifndef TG_TEST_BUILDER_TABLE_H
#define TG_TEST_BUILDER_TABLE_H

#include <criterion/criterion.h>
#include <string.h>

#include "ggc_check.h"
#include "golden.h"
#include "replay_check.h"

typedef struct {
    const char *op;
    gt_build_fn build;
} gt_builder;

/* The builder of `op` in table b (n entries), or NULL. */
static inline gt_build_fn gt_builder_find(const gt_builder *b, size_t n, const char *op)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(b[i].op, op) == 0) return b[i].build;
    return NULL;
}

/* Defines `static gt_build_fn NAME(const char *op)`, the builder of op in
   the array TABLE (a gt_find_fn). */
#define GT_BUILDER_FIND(NAME, TABLE)                                                        \
    static gt_build_fn NAME(const char *op)                                                 \
    {                                                                                       \
        return gt_builder_find(TABLE, sizeof TABLE / sizeof *TABLE, op);                    \
    }

/* Expects a builder in table b for every case of f. */
static inline void gt_expect_builders(const gt_file *f, const gt_builder *b, size_t n)
{
    for (int i = 0; i < f->n; i++)
        cr_expect(gt_builder_find(b, n, f->cases[i].op) != NULL, "case %s: no builder for op %s",
                  f->cases[i].name, f->cases[i].op);
}

#endif
