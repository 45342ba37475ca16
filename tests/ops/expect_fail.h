/* EXPECT_FAIL(CALL, TEXT): CALL (an op on tape t) returns NULL and the
   tape's error contains TEXT; the error is cleared first, so that each
   call's own message is the one read. For the bad-argument tests of
   test_golden_shape.c and test_golden_reduce.c. */
#ifndef TG_TEST_EXPECT_FAIL_H
#define TG_TEST_EXPECT_FAIL_H

#include <criterion/criterion.h>
#include <string.h>

#define EXPECT_FAIL(CALL, TEXT)                                                             \
    do {                                                                                    \
        tg_tape_clear_error(t);                                                             \
        cr_expect_null(CALL, "%s should fail", #CALL);                                      \
        cr_expect(strstr(tg_tape_error(t), TEXT) != NULL, "%s: message '%s' lacks '%s'",    \
                  #CALL, tg_tape_error(t), TEXT);                                           \
    } while (0)

#endif
