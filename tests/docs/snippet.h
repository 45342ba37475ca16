/* The ```c blocks of README.md and docs/ (not speed*.md), compiled and run as a test.
 *
 * tests/docs/extract.cmake copies each block out of its doc at build time, and
 * tests/docs/scaffold_<doc>.c compiles it: the scaffold #includes the block
 * where it can stand, inside a function that declares what the block takes
 * for granted (a tape t, a tg_params p, an x ...), or at file scope for a
 * block that defines functions. The build fails when a block does not
 * compile, warns, or does not match its SNIPPET; docs_<doc> then runs the
 * blocks that can run, and checks what the text around them says they do.
 *
 * A scaffold names each block of its doc, in the doc's order:
 *
 *   SNIPPET(name, "start")           the block whose first non-blank line
 *                                    begins with start (after its indentation):
 *                                    #include "<doc>/name.c" where it belongs
 *   SNIPPET(name, "start", "split")  a block of functions followed by code that
 *                                    uses them: the lines before its first line
 *                                    that begins with split are <doc>/name.defs.c
 *                                    (for file scope), the rest <doc>/name.c
 *   SNIPPET_PROGRAM(name, "start")   a whole program, built as it stands into
 *                                    docs_<doc>_<name> and run
 *
 * A start is as short as tells the doc's blocks apart (a declaration's type
 * and name, a comment's first words), so that an edit of a block's first line
 * is checked by compiling it; it holds no double quote. A doc that gains,
 * loses or moves a block, or changes the start of one, stops the build with a
 * message naming the block and the scaffold to update. The compiler's
 * messages name the doc's own lines (each block starts with a #line).
 */
#ifndef TG_DOCS_SNIPPET_H
#define TG_DOCS_SNIPPET_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad.h>

#define SNIPPET(...)
#define SNIPPET_PROGRAM(...)

/* A block that a scaffold runs: its name, the function that holds it, and
   whether main calls it (a block that needs files or trains for long is
   only compiled). */
typedef struct {
    const char *name;
    int (*fn)(void);
    bool run;
} doc_block;

/* Checks inside a block's function: a failed one prints where and returns 1. */
#define EXPECT(cond)                                                                   \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: %s: expected %s\n", __FILE__, __LINE__, __func__,  \
                    #cond);                                                            \
            return 1;                                                                  \
        }                                                                              \
    } while (0)
/* |a − b| ≤ tol·max(1, |b|): the doc prints 6 significant digits */
#define EXPECT_NEAR(a, b, tol)                                                         \
    EXPECT(fabs((double)(a) - (double)(b)) <= (tol) * fmax(1, fabs((double)(b))))

/* Runs every block marked to run; the number that failed is the status. */
static int doc_run(const char *doc, const doc_block *blocks, size_t n)
{
    int failed = 0, ran = 0;
    for (size_t i = 0; i < n; i++) {
        if (!blocks[i].run) continue;
        ran++;
        if (blocks[i].fn() != 0) {
            fprintf(stderr, "%s: the block '%s' does not do what the doc says\n", doc,
                    blocks[i].name);
            failed++;
        }
    }
    printf("%s: %d of the scaffold's %zu functions run (the others only compile), %d failed\n",
           doc, ran, n, failed);
    return failed;
}

#endif /* TG_DOCS_SNIPPET_H */
