/* tg_gradgradcheck over every op of a golden file, with the defaults of
   the build's precision, at one case of each op: among its comparable
   cases (order >= 2, not at a kink, something to differentiate), the
   smallest whose golden second derivative is not zero. The smallest,
   since the checker computes the full Jacobian of the first gradient, a
   backward per element: it keeps a suite fast. An op whose second
   derivative is zero wherever the file has it (a linear op, or piecewise
   linear: sum, a slice, relu, max) would be compared as zero against zero,
   which a vjp returning a constant passes: it is checked squared, op(x)²,
   so that its vjp must carry the dependence of its upstream gradient on x.
   Ops without a comparable case (no gradient, as argmax or floor; only
   cases at a kink or not finite) are not checked here; their golden tests
   compare what they have. */
#ifndef TG_TEST_GGC_CHECK_H
#define TG_TEST_GGC_CHECK_H

#include "golden.h"

/* Checks every op of f so, each built by the builder find gives (a
   missing builder fails, naming the op). Failures through cr_expect naming
   the op, the case and the checker's verdict; expects at least one op
   checked. Returns the number of ops checked. */
int gt_run_gradgradcheck_file(const gt_file *f, gt_find_fn find);

/* The same, never choosing the cases named in `except` (NULL-ended; each
   must exist): a case that is a poor point for finite differences (values
   far apart in scale, a point near a kink the file does not mark), with
   the reason written beside the list. */
int gt_run_gradgradcheck_file_except(const gt_file *f, gt_find_fn find,
                                     const char *const *except);

#endif
