/* Golden-case builders by op name (a table per test file), and the check
   that every case of a golden file has a builder, so that none is skipped
   for want of a test. */
#ifndef TG_TEST_BUILDER_TABLE_H
#define TG_TEST_BUILDER_TABLE_H

#include <criterion/criterion.h>
#include <string.h>

#include "golden.h"

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

/* Expects a builder in table b for every case of f. */
static inline void gt_expect_builders(const gt_file *f, const gt_builder *b, size_t n)
{
    for (int i = 0; i < f->n; i++)
        cr_expect(gt_builder_find(b, n, f->cases[i].op) != NULL, "case %s: no builder for op %s",
                  f->cases[i].name, f->cases[i].op);
}

#endif
