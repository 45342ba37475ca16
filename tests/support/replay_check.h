/* Replay against recording, for every op of a golden file: each case is
   recorded on a replayable tape at inputs 0.999 times the case's (a
   shrink keeps every input in its op's domain), its backward run, then the
   inputs set to the case's values and the tape replayed, and backward run
   again; a second tape records the case's values directly. Outputs,
   gradients and the inputs afterwards (an op may write into one, as batch
   norm its running statistics) must agree bit for bit, to the first order (the fast
   backward) and, for cases with a second order, through create_graph (the
   gradient's records replay with the rest). */
#ifndef TG_TEST_REPLAY_CHECK_H
#define TG_TEST_REPLAY_CHECK_H

#include "golden.h"

/* Runs every case of `op` in f; returns the number run (each failure is
   reported through cr_expect naming the case and the tensor). */
int gt_run_replay(const gt_file *f, const char *op, gt_build_fn build);

/* gt_run_replay for every op of f, each with the builder find gives (a
   missing builder fails, naming the op); expects every case of f run.
   Returns the number of cases run. */
int gt_run_replay_file(const gt_file *f, gt_find_fn find);

/* The same, leaving out the ops named in `except` (NULL-ended; each must
   be in f): ops whose results no record computes, so that no replay can
   redo them, with the reason written beside the list. */
int gt_run_replay_file_except(const gt_file *f, gt_find_fn find, const char *const *except);

#endif
