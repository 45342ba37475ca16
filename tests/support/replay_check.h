/* Replay against recording, for every op of a golden file: each case is
   recorded on a replayable tape at inputs 0.999 times the case's (a
   shrink keeps every input in its op's domain), its backward run, then the
   inputs set to the case's values and the tape replayed, and backward run
   again; a second tape records the case's values directly. Outputs and
   gradients must agree bit for bit, to the first order (the fast
   backward) and, for cases with a second order, through create_graph (the
   gradient's records replay with the rest). */
#ifndef TG_TEST_REPLAY_CHECK_H
#define TG_TEST_REPLAY_CHECK_H

#include "golden.h"

/* Runs every case of `op` in f; returns the number run (each failure is
   reported through cr_expect naming the case and the tensor). */
int gt_run_replay(const gt_file *f, const char *op, gt_build_fn build);

#endif
