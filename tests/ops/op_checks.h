/* Checks shared by the golden tests of the op families: bad input refused
   with a message, and every case of a golden file run by some test. */
#ifndef TG_TEST_OP_CHECKS_H
#define TG_TEST_OP_CHECKS_H

#include <criterion/criterion.h>
#include <string.h>

#include "golden.h"

/* The call failed (y NULL) and the tape's message holds a (and b, unless
   NULL); the error is cleared for the next call. */
static inline void expect_error(tg_tape *t, const tg_tensor *y, const char *a, const char *b)
{
    const char *e = tg_tape_error(t);
    cr_expect_null(y, "expected a failure with '%s'", a);
    cr_expect(strstr(e, a) != NULL, "the message '%s' lacks '%s'", e, a);
    if (b) cr_expect(strstr(e, b) != NULL, "the message '%s' lacks '%s'", e, b);
    tg_tape_clear_error(t);
}

/* Every case of gold has one of the n ops that the file's tests run. */
static inline void expect_every_op_known(const gt_file *gold, const char *const *ops, size_t n)
{
    for (int i = 0; i < gold->n; i++) {
        bool known = false;
        for (size_t k = 0; k < n; k++) known |= !strcmp(ops[k], gold->cases[i].op);
        cr_expect(known, "case %s: op %s has no test", gold->cases[i].name, gold->cases[i].op);
    }
}

#endif
