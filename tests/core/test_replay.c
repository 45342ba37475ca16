/* Record once, replay many: a replay gives what recording the same step
   again gives, bit for bit, for every op of the core, select, activation
   and loss golden files (forward, backward, and the records a create_graph
   pass made; the other families' golden tests replay theirs through the
   same tests/support/replay_check.h); a replay refuses
   what it cannot redo; a replayed training loop allocates nothing. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "../ops/act_builders.h"
#include "../ops/core_builders.h"
#include "../ops/select_builders.h"
#include "replay_check.h"

/* Every op of golden file `name`, each through its builder; the newer
   families are replayed by their own golden tests (tests/ops/test_golden_*.c). */
static void replay_file(const char *name, gt_find_fn find)
{
    gt_file *f = gt_load(name);
    cr_assert_not_null(f, "tests/golden/%s_*.txt could not be read", name);
    gt_run_replay_file(f, find);
    gt_free(f);
}

Test(replay, every_core_op) { replay_file("core", core_builder_of); }
Test(replay, every_select_op) { replay_file("select", select_builder_of); }
Test(replay, every_activation) { replay_file("act", builder_of); }
Test(replay, every_loss) { replay_file("loss", builder_of); }

/* ------------------------------------------------------------- guards */

static tg_tape *t;
static void setup(void) { t = tg_tape_new(); }
static void teardown(void) { tg_tape_free(t); }
TestSuite(replay_guards, .init = setup, .fini = teardown);

static void expect_refused(const char *why)
{
    cr_expect_eq(tg_tape_replay(t), TG_ERR_STATE);
    cr_expect(strstr(tg_tape_error(t), why) != NULL, "'%s' not in: %s", why, tg_tape_error(t));
    tg_tape_clear_error(t);
}

Test(replay_guards, a_tape_not_recorded_replayable)
{
    tg_tensor *x = tg_requires_grad(tg_ones(t, TG_SHAPE(2)), true);
    tg_exp(t, x);
    expect_refused("not recorded replayable");
}

Test(replay_guards, a_reset_tape)
{
    tg_tape_set_replayable(t, true);
    tg_exp(t, tg_ones(t, TG_SHAPE(2)));
    tg_tape_reset(t);
    expect_refused("nothing is recorded");
}

Test(replay_guards, recording_switched_off_in_part)
{
    tg_tape_set_replayable(t, true);
    tg_tensor *x = tg_requires_grad(tg_ones(t, TG_SHAPE(2)), true);
    tg_tensor *y = tg_exp(t, x);
    tg_tape_set_recording(t, false);
    tg_tensor *z = tg_scale(t, y, 2);
    tg_tape_set_recording(t, true);
    tg_add(t, y, z);
    expect_refused("tg_scale ran with recording off");
}

static int same_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *m,
                      size_t l)
{
    (void)m, (void)l;
    *ndim = r->in[0]->ndim;
    memcpy(shape, r->in[0]->shape, (size_t)*ndim * sizeof(int64_t));
    return TG_OK;
}
static int clock_forward(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++) r->out->data[i] = r->in[0]->data[i];
    return TG_OK;
}

Test(replay_guards, an_impure_op)
{
    tg_op now = {.name = "now", .n_inputs = 1, .flags = TG_OP_IMPURE, .shape = same_shape,
                 .forward = clock_forward};
    tg_tape_set_replayable(t, true);
    tg_tensor *x = tg_ones(t, TG_SHAPE(2));
    cr_assert_not_null(tg_apply(t, &now, &x, 1, NULL));
    expect_refused("record 0 (now) is impure");
}

Test(replay_guards, a_first_order_gradient_read_by_a_record)
{
    tg_tape_set_replayable(t, true);
    tg_tensor *x = tg_requires_grad(tg_ones(t, TG_SHAPE(2)), true);
    tg_tensor *g = tg_grad1(t, tg_sum(t, tg_square(t, x), TG_ALL, false), x, false);
    tg_mul(t, g, x);
    expect_refused("reads the result of a first-order tg_grad");
}

Test(replay_guards, a_leaf_whose_shape_changed)
{
    tg_tape_set_replayable(t, true);
    tg_real v[6] = {1, 2, 3, 4, 5, 6};
    tg_tensor *x = tg_tensor_set_name(tg_tensor_wrap(t, TG_SHAPE(2, 3), v), "batch");
    tg_sum(t, x, TG_ALL, false);
    cr_assert_eq(tg_tape_replay(t), TG_OK, "%s", tg_tape_error(t));
    x->shape[0] = 3, x->shape[1] = 2; /* what the struct allows, and replay refuses */
    expect_refused("leaf 'batch' is [3,2], recorded as [2,3]");
}

/* The same before the first replay: the leaves' shapes are kept as the
   records read them. (They were taken at the first replay: a shape changed
   before it was accepted, and the records ran on a shape their shape rules
   never saw: a read past the caller's buffer; found by a replay fuzzer.) */
Test(replay_guards, a_leaf_whose_shape_changed_before_the_first_replay)
{
    tg_tape_set_replayable(t, true);
    tg_real v[6] = {1, 2, 3, 4, 5, 6};
    tg_tensor *x = tg_tensor_set_name(tg_tensor_wrap(t, TG_SHAPE(2, 3), v), "batch");
    tg_tensor *w = tg_requires_grad(tg_ones(t, TG_SHAPE(3, 2)), true);
    tg_tensor *l = tg_sum(t, tg_matmul(t, x, w), TG_ALL, false);
    cr_assert_eq(tg_backward(t, l), TG_OK, "%s", tg_tape_error(t));
    x->shape[0] = 4, x->size = 12; /* over the 6 values the buffer holds */
    expect_refused("leaf 'batch' is [4,3], recorded as [2,3]");
    tg_tape_clear_error(t);
    x->shape[0] = 2, x->size = 6;
    cr_expect_eq(tg_tape_replay(t), TG_OK, "the recorded shape again: %s", tg_tape_error(t));
}

/* tg_detach shares its input's data. A replay moves a small result's data
   into the program's arrays, and the caller may rewrap a leaf: the detached
   tensor kept the address it had when it was made, and every replay read
   the recording's values (Σ x·detach(eˣ) at x = 2: 6.0157 for 17.4964;
   found by a replay fuzzer). Replayed against recorded afresh, bit for bit:
   detach of a small result, of a view of a rewrapped leaf, of a large
   result. */
static tg_tensor *detach_program(tg_tape *tp, tg_tensor *x, tg_tensor *big)
{
    tg_tensor *e = tg_detach(tp, tg_exp(tp, x));                       /* small: moved */
    tg_tensor *v = tg_detach(tp, tg_reshape(tp, big, TG_SHAPE(64, 2))); /* a view of a leaf */
    tg_tensor *s = tg_detach(tp, tg_sin(tp, big));                     /* large: stays */
    tg_tensor *a = tg_sum(tp, tg_mul(tp, x, e), TG_ALL, false);
    tg_tensor *b = tg_mean(tp, tg_mul(tp, tg_reshape(tp, v, TG_SHAPE(128)), s), TG_ALL, false);
    return tg_add(tp, a, tg_mul(tp, b, tg_sum(tp, x, TG_ALL, false)));
}

Test(replay_guards, a_detached_tensor_follows_its_source)
{
    tg_real xs[2][2] = {{0.5f, 1}, {2, -0.25f}}, big[2][128];
    for (int i = 0; i < 128; i++) big[0][i] = (tg_real)i / 64, big[1][i] = (tg_real)(3 - i) / 32;
    tg_tape_set_replayable(t, true);
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(2), xs[0]), true);
    tg_tensor *bw = tg_tensor_wrap(t, TG_SHAPE(128), big[0]);
    tg_tensor *l = detach_program(t, x, bw);
    cr_assert(l, "%s", tg_tape_error(t));
    cr_assert_eq(tg_backward(t, l), TG_OK, "%s", tg_tape_error(t));
    for (int k = 0; k < 3; k++) { /* new values: the second point, then back, then again */
        int at = (k + 1) % 2;
        memcpy(x->data, xs[at], sizeof xs[at]);
        cr_assert_eq(tg_tensor_rewrap(bw, big[at]), TG_OK);
        cr_assert_eq(tg_tape_replay(t), TG_OK, "%s", tg_tape_error(t));
        tg_zero_grad(x);
        cr_assert_eq(tg_backward(t, l), TG_OK, "%s", tg_tape_error(t));
        tg_tape *f = tg_tape_new();
        tg_tensor *xf = tg_requires_grad(tg_tensor_new(f, TG_SHAPE(2), xs[at]), true);
        tg_tensor *lf = detach_program(f, xf, tg_tensor_wrap(f, TG_SHAPE(128), big[at]));
        cr_assert(lf && tg_backward(f, lf) == TG_OK, "%s", tg_tape_error(f));
        cr_expect(memcmp(l->data, lf->data, sizeof(tg_real)) == 0, "replay %d: loss %g, recorded "
                  "afresh %g", k, (double)l->data[0], (double)lf->data[0]);
        cr_expect(memcmp(x->grad, xf->grad, 2 * sizeof(tg_real)) == 0, "replay %d: gradient", k);
        tg_tape_free(f);
    }
}

/* Values an op refuses when it records are refused when it replays: bce's
   probabilities outside [0, 1] (NaN too), gaussian_nll's negative
   variances. (A replay skipped the check and returned a loss: 50.35 for a
   NaN probability; found by a replay fuzzer.) */
Test(replay_guards, values_an_op_refuses)
{
    tg_real p[2] = {0.25f, 0.5f}, y[2] = {1, 0}, v[2] = {1, 2};
    tg_tape_set_replayable(t, true);
    tg_tensor *pw = tg_requires_grad(tg_tensor_wrap(t, TG_SHAPE(2), p), true);
    tg_tensor *vw = tg_tensor_wrap(t, TG_SHAPE(2), v);
    tg_tensor *yt = tg_tensor_new(t, TG_SHAPE(2), y);
    tg_tensor *l = tg_add(t, tg_bce_loss(t, pw, yt, TG_REDUCE_MEAN),
                          tg_gaussian_nll_loss(t, pw, yt, vw, false, 1e-6, TG_REDUCE_MEAN));
    cr_assert(l && tg_backward(t, l) == TG_OK, "%s", tg_tape_error(t));
    const tg_real bad[2] = {(tg_real)1.5, (tg_real)NAN};
    for (int k = 0; k < 2; k++) {
        p[0] = bad[k];
        cr_expect_eq(tg_tape_replay(t), TG_ERR_INVALID, "p[0] = %g", (double)p[0]);
        cr_expect(strstr(tg_tape_error(t), "(tg_bce_loss): input[0] =") &&
                      strstr(tg_tape_error(t), "every probability must be in [0, 1]"),
                  "%s", tg_tape_error(t));
        tg_tape_clear_error(t);
    }
    p[0] = (tg_real)0.75;
    v[1] = -1;
    cr_expect_eq(tg_tape_replay(t), TG_ERR_INVALID);
    cr_expect(strstr(tg_tape_error(t), "var[1] = -1: var must not be negative"), "%s",
              tg_tape_error(t));
    tg_tape_clear_error(t);
    v[1] = 2;
    cr_expect_eq(tg_tape_replay(t), TG_OK, "in range again: %s", tg_tape_error(t));
}

/* scatter's gradient graph (create_graph) at new positions of a wrapped
   index: its masks (the positions written, the writes kept) were
   constants of the recording's positions, so a replay routed the gradient
   by them (a loss of 155 for 135, dl/dx[0] 0 for 1; found by a replay
   fuzzer). Replayed against recorded afresh, bit for bit, a repeated
   position included. */
static tg_tensor *scatter_program(tg_tape *tp, const int64_t *idx, tg_tensor **x)
{
    const tg_real xv[4] = {1, 2, 3, 4}, sv[3] = {10, 20, 30};
    *x = tg_requires_grad(tg_tensor_new(tp, TG_SHAPE(4), xv), true);
    tg_tensor *src = tg_requires_grad(tg_tensor_new(tp, TG_SHAPE(3), sv), true);
    tg_tensor *y = tg_scatter(tp, *x, 0, tg_index_wrap(tp, TG_SHAPE(3), idx), src);
    tg_tensor *l = tg_sum(tp, tg_mul(tp, y, tg_tensor_new(tp, TG_SHAPE(4), xv)), TG_ALL, false);
    tg_tensor *in[2] = {*x, src}, *g[2] = {NULL, NULL};
    if (tg_grad(tp, 1, &l, NULL, 2, in, g, &(tg_grad_opts){.create_graph = true}) != TG_OK)
        return NULL;
    return tg_add(tp, l, tg_add(tp, tg_sum(tp, tg_square(tp, g[0]), TG_ALL, false),
                                tg_sum(tp, tg_mul(tp, g[1], src), TG_ALL, false)));
}

Test(replay_guards, a_scatter_gradient_graph_follows_new_positions)
{
    int64_t idx[3] = {0, 1, 1};
    const int64_t next[3][3] = {{3, 2, 0}, {2, 2, 2}, {0, 1, 1}};
    tg_tensor *x;
    tg_tape_set_replayable(t, true);
    tg_tensor *l = scatter_program(t, idx, &x);
    cr_assert(l && tg_backward(t, l) == TG_OK, "%s", tg_tape_error(t));
    for (int k = 0; k < 3; k++) {
        memcpy(idx, next[k], sizeof idx);
        cr_assert_eq(tg_tape_replay(t), TG_OK, "%s", tg_tape_error(t));
        cr_assert_eq(tg_backward(t, l), TG_OK, "%s", tg_tape_error(t));
        tg_tape *f = tg_tape_new();
        tg_tensor *xf;
        tg_tensor *lf = scatter_program(f, idx, &xf);
        cr_assert(lf && tg_backward(f, lf) == TG_OK, "%s", tg_tape_error(f));
        cr_expect(memcmp(l->data, lf->data, sizeof(tg_real)) == 0,
                  "positions %d: loss %g, recorded afresh %g", k, (double)l->data[0],
                  (double)lf->data[0]);
        cr_expect(memcmp(x->grad, xf->grad, 4 * sizeof(tg_real)) == 0, "positions %d: dl/dx", k);
        tg_tape_free(f);
    }
}

/* The BatchNorm layer in training: its batch counter (num_batches_tracked)
   and the cumulative average's momentum 1/(count + 1) are the op's now, so
   a replay counts its batch and takes the momentum of that count. (The
   layer counted outside any op: 1 after a recording and two replays, for
   3, and the momentum of the recording on every replay; found by a replay
   fuzzer.) One recording and two replays against three recordings, both
   kinds of momentum. */
static tg_tensor *bn_step(tg_tape *tp, tg_batchnorm *bn, tg_real *xv, bool wrap)
{
    tg_tensor *x = wrap ? tg_tensor_wrap(tp, TG_SHAPE(4, 2), xv)
                        : tg_tensor_new(tp, TG_SHAPE(4, 2), xv);
    return tg_sum(tp, tg_square(tp, tg_batchnorm_forward(tp, bn, tg_requires_grad(x, true))),
                  TG_ALL, false);
}

Test(replay_guards, a_batchnorm_layer_counts_replayed_batches)
{
    tg_real batches[3][8] = {{1, 2, 3, 4, 5, 6, 7, 8},
                             {-1, 0, 2, 5, 1, 1, 0, 3},
                             {9, 8, 7, 6, 5, 4, 3, 2}};
    for (int cumulative = 0; cumulative < 2; cumulative++) {
        tg_batchnorm_opts o = TG_BATCHNORM_OPTS_DEFAULT;
        o.cumulative_average = cumulative;
        tg_params *pa = tg_params_new(), *pb = tg_params_new();
        tg_batchnorm ba, bb;
        cr_assert_eq(tg_batchnorm1d_init(&ba, pa, "bn", 2, &o), TG_OK);
        cr_assert_eq(tg_batchnorm1d_init(&bb, pb, "bn", 2, &o), TG_OK);
        tg_real x[8];
        memcpy(x, batches[0], sizeof x);
        tg_tape *a = tg_tape_new();
        tg_tape_set_replayable(a, true);
        tg_tensor *l = bn_step(a, &ba, x, true);
        cr_assert(l && tg_backward(a, l) == TG_OK, "%s", tg_tape_error(a));
        for (int s = 1; s < 3; s++) {
            memcpy(x, batches[s], sizeof x);
            cr_assert_eq(tg_tape_replay(a), TG_OK, "%s", tg_tape_error(a));
        }
        for (int s = 0; s < 3; s++) {
            tg_tape *b = tg_tape_new();
            cr_assert(bn_step(b, &bb, batches[s], false), "%s", tg_tape_error(b));
            tg_tape_free(b);
        }
        cr_expect_eq(ba.num_batches_tracked->data[0], 3, "cumulative %d: %g batches counted",
                     cumulative, (double)ba.num_batches_tracked->data[0]);
        cr_expect(memcmp(ba.running_mean->data, bb.running_mean->data, 2 * sizeof(tg_real)) == 0 &&
                      memcmp(ba.running_var->data, bb.running_var->data, 2 * sizeof(tg_real)) == 0,
                  "cumulative %d: running mean %g, recorded %g", cumulative,
                  (double)ba.running_mean->data[0], (double)bb.running_mean->data[0]);
        tg_tape_free(a);
        tg_params_free(pa);
        tg_params_free(pb);
    }
}

/* A replay refused part-way (an index put out of range) has run the
   records before the refusing one: the tape's values mix two steps. With
   its error cleared, a backward ran on them (the loss of the recording,
   the earlier results of the new inputs; found by a replay fuzzer). It is
   refused until a replay runs through. */
Test(replay_guards, no_backward_after_a_replay_stopped_part_way)
{
    int64_t idx[3] = {0, 2, 1};
    tg_tape_set_replayable(t, true);
    tg_tensor *x = tg_requires_grad(tg_ones(t, TG_SHAPE(4)), true);
    tg_tensor *g = tg_gather(t, tg_exp(t, x), 0, tg_index_wrap(t, TG_SHAPE(3), idx));
    tg_tensor *l = tg_sum(t, tg_square(t, g), TG_ALL, false);
    cr_assert_eq(tg_backward(t, l), TG_OK, "%s", tg_tape_error(t));
    x->data[0] = (tg_real)0.5;
    idx[1] = 9;
    cr_assert_neq(tg_tape_replay(t), TG_OK);
    tg_tape_clear_error(t);
    cr_expect_eq(tg_backward(t, l), TG_ERR_STATE);
    cr_expect(strstr(tg_tape_error(t), "tg_backward: the last tg_tape_replay stopped part-way"),
              "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    idx[1] = 2;
    cr_assert_eq(tg_tape_replay(t), TG_OK, "%s", tg_tape_error(t));
    cr_expect_eq(tg_backward(t, l), TG_OK, "%s", tg_tape_error(t));
}

/* A leaf that requires grad now and did not when recorded: the records
   that read it were made without (their outputs need no gradient), so a
   replay cannot give what a recording would: refused. (It was ignored and
   the leaf got no gradient; found by a replay fuzzer.) Switched off, a
   leaf gets none, as recorded afresh (the test below). */
Test(replay_guards, a_leaf_whose_requires_grad_switched)
{
    tg_tape_set_replayable(t, true);
    tg_tensor *x = tg_tensor_set_name(tg_ones(t, TG_SHAPE(3)), "x");
    tg_tensor *w = tg_requires_grad(tg_ones(t, TG_SHAPE(3)), true);
    tg_tensor *l = tg_sum(t, tg_mul(t, tg_exp(t, x), w), TG_ALL, false);
    cr_assert_eq(tg_backward(t, l), TG_OK, "%s", tg_tape_error(t));
    tg_requires_grad(x, true);
    expect_refused("leaf 'x' requires grad now and did not when recorded");
    tg_tape_clear_error(t);
    tg_requires_grad(x, false);
    cr_expect_eq(tg_tape_replay(t), TG_OK, "as recorded again: %s", tg_tape_error(t));
}

/* Records made after a replay (a gradient with create_graph, a loss of
   the replayed outputs) are not the recording's: their tensors lie above
   the replay mark, and the next replay gives that memory back. They were
   kept and run again by every later replay, on tensors the arena had
   given to others, and the tape grew by them each step. Dropped now: each
   replay runs the recording's records, and the values are a fresh
   recording's. */
Test(replay_guards, records_made_after_a_replay_are_not_replayed)
{
    tg_real xv[3] = {1, 2, 3};
    tg_tape_set_replayable(t, true);
    tg_tensor *x = tg_requires_grad(tg_tensor_wrap(t, TG_SHAPE(3), xv), true);
    tg_tensor *y = tg_sum(t, tg_exp(t, x), TG_ALL, false);
    cr_assert_eq(tg_backward(t, y), TG_OK, "%s", tg_tape_error(t));
    size_t recorded = tg_tape_record_count(t);
    for (int k = 0; k < 4; k++) {
        xv[0] = (tg_real)(0.5 * k);
        cr_assert_eq(tg_tape_replay(t), TG_OK, "%s", tg_tape_error(t));
        cr_expect_eq(tg_tape_record_count(t), recorded, "replay %d: %zu records", k,
                     tg_tape_record_count(t));
        tg_real want = (tg_real)(exp((double)xv[0]) + exp(2.0) + exp(3.0));
        cr_expect(fabs((double)(y->data[0] - want)) <= 1e-5 * (double)want, "replay %d: %g, %g",
                  k, (double)y->data[0], (double)want);
        /* after the replay: a gradient of a loss of y, differentiable */
        tg_tensor *z = tg_mul(t, y, tg_scalar(t, 2));
        tg_tensor *g = tg_grad1(t, z, x, true);
        cr_assert(g, "%s", tg_tape_error(t));
        cr_expect(fabs((double)(g->data[0] - 2 * exp((double)xv[0]))) <= 1e-5 * exp(2.0),
                  "replay %d: the gradient %g", k, (double)g->data[0]);
    }
}

/* A wrapped index array is read again at each replay: an index the caller
   put out of range since is refused, naming the op, the index and the axis,
   before the op reads anything (recorded in range, so only the replay's
   check stands between the new value and a read out of bounds). */
Test(replay_guards, an_index_changed_out_of_range)
{
    tg_tape_set_replayable(t, true);
    int64_t idx[3] = {0, 1, 2}, lab[2] = {1, 0}, emb[2] = {3, 0};
    tg_real xv[12];
    for (int i = 0; i < 12; i++) xv[i] = (tg_real)i;
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(12), xv), true);
    tg_tensor *x2 = tg_reshape(t, x, TG_SHAPE(4, 3));
    cr_assert(tg_index_select(t, x2, 0, tg_index_wrap(t, TG_SHAPE(3), idx)));
    cr_assert(tg_gather(t, x2, 1, tg_index_wrap(t, TG_SHAPE(1, 3), idx)));
    cr_assert(tg_embedding(t, x2, tg_index_wrap(t, TG_SHAPE(2), emb), TG_PADDING_IDX_NONE));
    cr_assert(tg_cross_entropy_idx(t, tg_reshape(t, x, TG_SHAPE(2, 6)),
                                   tg_index_wrap(t, TG_SHAPE(2), lab), NULL));
    cr_assert_eq(tg_tape_replay(t), TG_OK, "%s", tg_tape_error(t));
    idx[1] = 4; /* rows 0..3 of x2 */
    cr_expect_eq(tg_tape_replay(t), TG_ERR_INVALID);
    cr_expect(strstr(tg_tape_error(t), "index_select") &&
                  strstr(tg_tape_error(t), "index 4 at position 1 is out of range for axis 0"),
              "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    idx[1] = 1, idx[2] = -1;
    cr_expect_eq(tg_tape_replay(t), TG_ERR_INVALID);
    cr_expect(strstr(tg_tape_error(t), "index -1 at position 2"), "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    idx[2] = 2, emb[0] = 4;
    cr_expect_eq(tg_tape_replay(t), TG_ERR_INVALID);
    cr_expect(strstr(tg_tape_error(t), "embedding"), "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    emb[0] = 3, lab[1] = 6;
    cr_expect_eq(tg_tape_replay(t), TG_ERR_INVALID);
    cr_expect(strstr(tg_tape_error(t), "cross_entropy"), "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    lab[1] = 5; /* in range again: the replay runs */
    cr_expect_eq(tg_tape_replay(t), TG_OK, "%s", tg_tape_error(t));
}

/* A gradient graph of a class loss replays with the labels a wrapped index
   array holds then: Σ v ⊙ ∇ₓ loss (a Hessian-vector product's graph),
   recorded with one set of labels and replayed with another (a target
   moved, an ignored sample counted again), equals a tape recorded with the
   new labels, bit for bit. The one-hot targets and the count of counted
   samples used to be constants of the recording. */
typedef tg_tensor *(*class_loss_fn)(tg_tape *t, tg_tensor *x, const tg_index *y);
static tg_tensor *ce_mean(tg_tape *t, tg_tensor *x, const tg_index *y)
{
    tg_ce_opts o = {TG_REDUCE_MEAN, 2, 0.1, NULL}; /* class 2 ignored, smoothing 0.1 */
    return tg_cross_entropy_idx(t, x, y, &o);
}
static tg_tensor *nll_mean(tg_tape *t, tg_tensor *x, const tg_index *y)
{
    tg_ce_opts o = {TG_REDUCE_MEAN, 2, 0, NULL};
    return tg_nll_loss_idx(t, tg_log_softmax(t, x, 1), y, &o);
}
static tg_tensor *mm_sum(tg_tape *t, tg_tensor *x, const tg_index *y)
{
    return tg_multi_margin_loss(t, x, y, 2, 1, NULL, TG_REDUCE_SUM);
}

/* x.grad after Σ v ⊙ ∇ₓ loss(x, labels), on a new tape */
static void hvp_of(class_loss_fn f, const tg_real *xv, const int64_t *labels, tg_real *out)
{
    tg_tape *u = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_tensor_new(u, TG_SHAPE(4, 5), xv), true);
    tg_tensor *v = tg_tensor_new(u, TG_SHAPE(4, 5), xv);
    tg_tensor *gx = tg_grad1(u, f(u, x, tg_index_new(u, TG_SHAPE(4), labels)), x, true);
    cr_assert_eq(tg_backward(u, tg_sum(u, tg_mul(u, gx, v), TG_ALL, false)), TG_OK, "%s",
                 tg_tape_error(u));
    memcpy(out, x->grad, 20 * sizeof(tg_real));
    tg_tape_free(u);
}

Test(replay_guards, a_class_loss_gradient_graph_reads_new_labels)
{
    static const class_loss_fn fns[] = {ce_mean, nll_mean, mm_sum};
    static const char *const names[] = {"cross_entropy", "nll_loss", "multi_margin_loss"};
    tg_real xv[20];
    for (int i = 0; i < 20; i++) xv[i] = (tg_real)(0.3 * sin(1.7 * i) + 0.1 * (i % 3));
    for (int k = 0; k < 3; k++) {
        tg_tape *u = tg_tape_new();
        tg_tape_set_replayable(u, true);
        int64_t lab[4] = {1, 2, 0, 4}; /* sample 1 ignored where 2 is ignore_index */
        tg_tensor *x = tg_requires_grad(tg_tensor_new(u, TG_SHAPE(4, 5), xv), true);
        tg_tensor *v = tg_tensor_new(u, TG_SHAPE(4, 5), xv);
        tg_tensor *gx = tg_grad1(u, fns[k](u, x, tg_index_wrap(u, TG_SHAPE(4), lab)), x, true);
        tg_tensor *s = tg_sum(u, tg_mul(u, gx, v), TG_ALL, false);
        cr_assert_eq(tg_backward(u, s), TG_OK, "%s: %s", names[k], tg_tape_error(u));
        lab[0] = 3, lab[1] = 1; /* a target moved; the ignored sample counts again */
        tg_real want[20];
        hvp_of(fns[k], xv, lab, want);
        memset(x->grad, 0, sizeof want);
        cr_assert_eq(tg_tape_replay(u), TG_OK, "%s: %s", names[k], tg_tape_error(u));
        cr_assert_eq(tg_backward(u, s), TG_OK, "%s: %s", names[k], tg_tape_error(u));
        for (int i = 0; i < 20; i++)
            cr_expect_eq(x->grad[i], want[i], "%s: element %d: replayed %.9g, recorded %.9g",
                         names[k], i, (double)x->grad[i], (double)want[i]);
        tg_tape_free(u);
    }
}

/* prod's and cumprod's gradient graphs: recorded at a point without zeros,
   replayed at one with a zero, they equal a tape recorded there (the
   graph g·y/x, chosen because the recording saw no zero, divided by the
   replay's zero: NaN). */
static tg_tensor *prod_all(tg_tape *t, tg_tensor *x) { return tg_prod(t, x, TG_ALL, false); }
static tg_tensor *cumprod_1(tg_tape *t, tg_tensor *x)
{
    return tg_sum(t, tg_cumprod(t, x, 1), TG_ALL, false);
}

static void second_order_of(tg_tensor *(*f)(tg_tape *, tg_tensor *), const tg_real *xv,
                            tg_real *out)
{
    tg_tape *u = tg_tape_new();
    tg_tape_set_replayable(u, true);
    tg_tensor *x = tg_requires_grad(tg_tensor_new(u, TG_SHAPE(2, 3), xv), true);
    tg_tensor *gx = tg_grad1(u, f(u, x), x, true);
    cr_assert_eq(tg_backward(u, tg_sum(u, tg_square(u, gx), TG_ALL, false)), TG_OK, "%s",
                 tg_tape_error(u));
    memcpy(out, x->grad, 6 * sizeof(tg_real));
    tg_tape_free(u);
}

Test(replay_guards, a_product_gradient_graph_replayed_at_a_zero)
{
    tg_tensor *(*fns[])(tg_tape *, tg_tensor *) = {prod_all, cumprod_1};
    for (int k = 0; k < 2; k++) {
        tg_real xv[6] = {0.5, -1.5, 2, 1.25, 0.75, -2};
        tg_tape *u = tg_tape_new();
        tg_tape_set_replayable(u, true);
        tg_tensor *x = tg_requires_grad(tg_tensor_new(u, TG_SHAPE(2, 3), xv), true);
        tg_tensor *gx = tg_grad1(u, fns[k](u, x), x, true);
        tg_tensor *s = tg_sum(u, tg_square(u, gx), TG_ALL, false);
        cr_assert_eq(tg_backward(u, s), TG_OK, "%s", tg_tape_error(u));
        xv[1] = x->data[1] = 0;
        tg_real want[6];
        second_order_of(fns[k], xv, want);
        cr_assert_eq(tg_tape_replay(u), TG_OK, "%s", tg_tape_error(u));
        cr_assert_eq(tg_backward(u, s), TG_OK, "%s", tg_tape_error(u));
        for (int i = 0; i < 6; i++)
            cr_expect(x->grad[i] == want[i] && isfinite(want[i]),
                      "%s: element %d: replayed %.9g, recorded %.9g", k ? "cumprod" : "prod", i,
                      (double)x->grad[i], (double)want[i]);
        tg_tape_free(u);
    }
}

/* The gradient graphs of relu and hardswish pick a branch by comparing x,
   which a NaN fails (relu's gave 0 there, hardswish's g); recorded without
   a NaN and replayed with one, they give NaN there, as the fast rules. */
Test(replay_guards, an_activation_gradient_graph_replayed_at_a_nan)
{
    for (int k = 0; k < 2; k++) {
        tg_real xv[3] = {-0.5, 1, 4};
        tg_tape *u = tg_tape_new();
        tg_tape_set_replayable(u, true);
        tg_tensor *x = tg_requires_grad(tg_tensor_new(u, TG_SHAPE(3), xv), true);
        tg_tensor *y = k ? tg_hardswish(u, x) : tg_relu(u, x);
        tg_tensor *gx = tg_grad1(u, tg_sum(u, y, TG_ALL, false), x, true);
        cr_assert(gx, "%s", tg_tape_error(u));
        x->data[1] = NAN;
        cr_assert_eq(tg_tape_replay(u), TG_OK, "%s", tg_tape_error(u));
        cr_expect(isnan(gx->data[1]), "%s: replayed gradient at NaN %g", k ? "hardswish" : "relu",
                  (double)gx->data[1]);
        double want0 = k ? -0.5 / 3 + 0.5 : 0; /* x/3 + 1/2, within a float rounding or two */
        cr_expect(fabs((double)gx->data[0] - want0) <= 1e-6 && gx->data[2] == 1,
                  "the neighbours: %g %g", (double)gx->data[0], (double)gx->data[2]);
        tg_tape_free(u);
    }
}

/* ------------------------------------------------------------- loops */

/* Evaluation at many points: replay the forward only, with new inputs. */
Test(replay_guards, evaluation_at_many_points)
{
    tg_tape_set_replayable(t, true);
    tg_real xv = 0;
    tg_tensor *x = tg_tensor_wrap(t, 0, NULL, &xv);
    /* f(x) = exp(x)·x² + sigmoid(x), with no input needing a gradient */
    tg_tensor *y = tg_add(t, tg_mul(t, tg_exp(t, x), tg_square(t, x)), tg_sigmoid(t, x));
    for (int i = 0; i < 20; i++) {
        xv = (tg_real)(-2 + 0.2 * i);
        cr_assert_eq(tg_tape_replay(t), TG_OK, "%s", tg_tape_error(t));
        double want = exp((double)xv) * (double)xv * (double)xv + 1 / (1 + exp(-(double)xv));
        cr_expect(fabs((double)y->data[0] - want) <= 1e-5 * (1 + fabs(want)), "f(%g) = %g, want %g",
                  (double)xv, (double)y->data[0], want);
    }
}

/* A training loop by replay: after the first step it allocates nothing,
   and it trains as a loop that records every step, bit for bit. */
Test(replay_guards, a_replayed_training_loop_allocates_nothing)
{
    tg_params *p[2];
    tg_mlp net[2];
    tg_optim *opt[2];
    for (int k = 0; k < 2; k++) {
        p[k] = tg_params_new();
        tg_rng rng;
        tg_rng_seed(&rng, 5);
        cr_assert_eq(tg_mlp_init(&net[k], p[k], "fc", TG_SHAPE(3, 8, 2), tg_tanh, &rng), TG_OK);
        tg_sgd_opts so = tg_sgd_defaults(0.1);
        so.momentum = 0.9;
        opt[k] = tg_sgd_new(p[k], &so);
    }
    tg_rng data;
    tg_rng_seed(&data, 9);
    tg_real xs[2][4 * 3];
    int64_t ys[4];
    tg_tape *t2 = tg_tape_new();
    tg_tape_set_replayable(t, true);
    tg_tensor *x = NULL, *loss = NULL;
    size_t allocs = 0, used = 0;
    for (int step = 0; step < 8; step++) {
        tg_real *buf = xs[step % 2]; /* batches alternate buffers, as a dataset's do */
        for (int i = 0; i < 12; i++) buf[i] = (tg_real)tg_rng_normal(&data);
        for (int i = 0; i < 4; i++) ys[i] = (int64_t)tg_rng_below(&data, 2);
        /* by replay */
        if (step == 0) {
            x = tg_tensor_wrap(t, TG_SHAPE(4, 3), buf);
            tg_index *y = tg_index_wrap(t, TG_SHAPE(4), ys); /* read at every replay */
            loss = tg_cross_entropy_idx(t, tg_mlp_forward(t, &net[0], x), y, NULL);
            cr_assert_not_null(loss, "%s", tg_tape_error(t));
        } else {
            cr_assert_eq(tg_tensor_rewrap(x, buf), TG_OK);
            cr_assert_eq(tg_tape_replay(t), TG_OK, "%s", tg_tape_error(t));
        }
        tg_optim_zero_grad(opt[0]);
        cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
        tg_optim_step(opt[0]);
        /* by recording */
        tg_tensor *x2 = tg_tensor_wrap(t2, TG_SHAPE(4, 3), buf);
        tg_tensor *l2 = tg_cross_entropy(t2, tg_mlp_forward(t2, &net[1], x2), ys, TG_REDUCE_MEAN);
        tg_optim_zero_grad(opt[1]);
        cr_assert_eq(tg_backward(t2, l2), TG_OK);
        tg_optim_step(opt[1]);
        tg_tape_reset(t2);
        if (step == 2) {
            allocs = tg_tape_get_stats(t).heap_allocs;
            used = tg_tape_get_stats(t).arena_used;
        }
        if (step > 2) {
            cr_expect_eq(tg_tape_get_stats(t).heap_allocs, allocs, "step %d", step);
            cr_expect_eq(tg_tape_get_stats(t).arena_used, used, "step %d", step);
        }
    }
    cr_expect(memcmp(tg_params_data(p[0]), tg_params_data(p[1]),
                     tg_params_block_len(p[0]) * sizeof(tg_real)) == 0,
              "the replayed loop trained as the recorded one, bit for bit");
    (void)ys;
    for (int k = 0; k < 2; k++) {
        tg_optim_free(opt[k]);
        tg_params_free(p[k]);
    }
    tg_tape_free(t2);
}

/* ------------------------------------------------------- the replay program

   A replay runs the records that have a compact form as instructions, and
   the backward after it runs their rules without the walk (src/core/
   program.c). Whatever the program cannot rely on sends the pass back to
   the records and the walk: these compare each case with recording the
   same step on a fresh tape, bit for bit. */

enum { N_LEAVES = 6 };

/* A scalar program of the compact ops and others: softplus, stack, sum,
   mul, softmax, select, a broadcast add (no compact form) and a param. */
static tg_tensor *scalar_program(tg_tape *tp, tg_tensor **leaves, tg_tensor *w)
{
    tg_tensor *a = tg_softplus(tp, leaves[0], 1, TG_SOFTPLUS_THRESHOLD);
    tg_tensor *s = tg_sum(tp, tg_stack(tp, leaves + 1, 4, 0), TG_ALL, false);
    tg_tensor *m = tg_mul(tp, a, s);
    tg_tensor *four[4] = {a, s, m, leaves[5]};
    tg_tensor *p = tg_softmax(tp, tg_stack(tp, four, 4, 0), 0);
    tg_tensor *q = tg_add(tp, p, w); /* [4] + [4]: compact; w is a parameter */
    tg_tensor *r = tg_add(tp, tg_select(tp, q, 0, 1), tg_reshape(tp, q, TG_SHAPE(2, 2)));
    return tg_mean(tp, tg_mul(tp, r, tg_tanh(tp, r)), TG_ALL, false);
}

static void expect_same_bits(const tg_real *a, const tg_real *b, int64_t n, const char *what)
{
    cr_expect(memcmp(a, b, (size_t)n * sizeof *a) == 0, "%s differs", what);
}

/* Records the program at `in` on a fresh tape with the same parameter,
   runs backward `passes` times, and compares the loss and every leaf's and
   the parameter's gradient with the replayed tape's. */
static void expect_as_recorded(tg_tensor *loss, tg_tensor **leaves, tg_params *ps,
                               const tg_real *in, bool leaf0_grad, int passes)
{
    tg_tape *t2 = tg_tape_new();
    tg_params *p2 = tg_params_new();
    tg_tensor *w = tg_params_get(ps, "w");
    tg_tensor *w2 = tg_params_add(p2, "w", 1, w->shape);
    memcpy(w2->data, w->data, 4 * sizeof(tg_real));
    tg_tensor *l2[N_LEAVES];
    for (int i = 0; i < N_LEAVES; i++)
        l2[i] = tg_requires_grad(tg_tensor_new(t2, 0, NULL, in + i), i > 0 || leaf0_grad);
    tg_tensor *loss2 = scalar_program(t2, l2, w2);
    for (int k = 0; k < passes; k++)
        cr_assert_eq(tg_backward(t2, loss2), TG_OK, "%s", tg_tape_error(t2));
    expect_same_bits(loss->data, loss2->data, 1, "the loss");
    for (int i = 0; i < N_LEAVES; i++) {
        cr_expect_eq(leaves[i]->grad != NULL && (i > 0 || leaf0_grad), l2[i]->grad != NULL,
                     "leaf %d has a gradient or not as recorded", i);
        if (leaves[i]->grad && l2[i]->grad)
            expect_same_bits(leaves[i]->grad, l2[i]->grad, 1, "a leaf's gradient");
    }
    expect_same_bits(w->grad, w2->grad, 4, "the parameter's gradient");
    tg_params_free(p2);
    tg_tape_free(t2);
}

/* The program recorded replayable on t at `in`, its parameter w = w0 + k·dw
   in *ps (a new registry). */
static tg_tensor *record_program(tg_params **ps, tg_tensor **leaves, const tg_real *in,
                                 double w0, double dw)
{
    *ps = tg_params_new();
    tg_tensor *w = tg_params_add(*ps, "w", TG_SHAPE(4));
    cr_assert_not_null(w, "%s", tg_last_error());
    for (int i = 0; i < 4; i++) w->data[i] = (tg_real)(w0 + dw * i);
    tg_tape_set_replayable(t, true);
    for (int i = 0; i < N_LEAVES; i++)
        leaves[i] = tg_requires_grad(tg_tensor_new(t, 0, NULL, in + i), true);
    tg_tensor *loss = scalar_program(t, leaves, w);
    cr_assert_not_null(loss, "%s", tg_tape_error(t));
    return loss;
}

Test(replay_guards, the_program_equals_recording_whatever_changes_between_replays)
{
    tg_params *ps;
    tg_tensor *leaves[N_LEAVES];
    tg_real in[N_LEAVES] = {0.5f, -1.25f, 2.0f, 0.75f, -0.5f, 1.5f};
    tg_tensor *loss = record_program(&ps, leaves, in, -0.3, 0.25);
    tg_params_zero_grad(ps);
    cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
    for (int step = 1; step <= 7; step++) {
        for (int i = 0; i < N_LEAVES; i++)
            in[i] = leaves[i]->data[0] = (tg_real)(in[i] * -0.9 + 0.1 * step);
        bool leaf0 = step != 4; /* step 4: leaf 0 needs no gradient (the program is rebuilt) */
        tg_requires_grad(leaves[0], leaf0);
        if (step == 3) tg_params_release_grad(ps); /* a released gradient comes back home */
        else tg_params_zero_grad(ps);
        if (step == 5) tg_tape_set_anomaly(t, true); /* the records and the walk, checked */
        if (step == 6) tg_tape_set_anomaly(t, false);
        cr_assert_eq(tg_tape_replay(t), TG_OK, "%s", tg_tape_error(t));
        tg_real before = leaves[0]->grad[0]; /* kept by a leaf that needs no gradient */
        int passes = step == 2 ? 2 : 1; /* two backward passes: leaves accumulate */
        for (int k = 0; k < passes; k++)
            cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
        expect_as_recorded(loss, leaves, ps, in, leaf0, passes);
        if (!leaf0)
            expect_same_bits(leaves[0]->grad, &before, 1, "the gradient of a leaf that needs none");
    }
    tg_params_free(ps);
}

Test(replay_guards, a_replay_before_any_backward)
{
    tg_params *ps;
    tg_tensor *leaves[N_LEAVES];
    tg_real in[N_LEAVES] = {1.0f, 0.5f, -0.25f, 2.0f, 1.0f, -1.0f};
    tg_tensor *loss = record_program(&ps, leaves, in, 0.0, 0.1);
    for (int step = 0; step < 3; step++) { /* gradients made after the mark: the walk each time */
        in[2] = leaves[2]->data[0] = (tg_real)(in[2] + 0.5);
        cr_assert_eq(tg_tape_replay(t), TG_OK, "%s", tg_tape_error(t));
        tg_params_zero_grad(ps);
        cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
        expect_as_recorded(loss, leaves, ps, in, true, 1);
    }
    tg_params_free(ps);
}

/* A loop that records anew after each reset and replays within each
   recording: the program's arrays are reused, so after the first recording
   nothing is allocated (the same program each time). */
Test(replay_guards, the_program_allocates_nothing_after_the_first_recording)
{
    tg_params *ps = NULL;
    size_t allocs = 0;
    for (int gen = 0; gen < 4; gen++) {
        tg_tensor *leaves[N_LEAVES];
        tg_real in[N_LEAVES] = {0.5f, -1.25f, 2.0f, 0.75f, -0.5f, (tg_real)(0.5 * gen)};
        tg_tape_reset(t);
        tg_params_free(ps);
        tg_tensor *loss = record_program(&ps, leaves, in, -0.3, 0.25);
        cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
        for (int rep = 0; rep < 3; rep++) {
            cr_assert_eq(tg_tape_replay(t), TG_OK, "%s", tg_tape_error(t));
            tg_params_zero_grad(ps);
            cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
        }
        expect_as_recorded(loss, leaves, ps, in, true, 1);
        if (gen == 1) allocs = tg_tape_get_stats(t).heap_allocs;
        if (gen > 1) cr_expect_eq(tg_tape_get_stats(t).heap_allocs, allocs, "recording %d", gen);
    }
    tg_params_free(ps);
}

/* A custom forward that replays its own tape: refused, where it recursed
   until the stack overflowed (found by a misuse fuzzer). */
static int nested_status;
static int copy_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                      size_t len)
{
    (void)msg, (void)len;
    *ndim = r->in[0]->ndim;
    memcpy(shape, r->in[0]->shape, sizeof(int64_t) * (size_t)*ndim);
    return TG_OK;
}
static int replaying_forward(tg_record *r)
{
    memcpy(r->out->data, r->in[0]->data, (size_t)r->out->size * sizeof(tg_real));
    if (tg_tape_record_count(r->tape) > 0) nested_status = tg_tape_replay(r->tape);
    return TG_OK;
}
static void copy_backward(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++) r->in[0]->grad[i] += r->out->grad[i];
}

Test(replay_guards, a_replay_from_inside_a_replay_is_refused)
{
    tg_op op = {.name = "replays_itself", .n_inputs = 1, .shape = copy_shape,
                .forward = replaying_forward, .backward = copy_backward, .doc = "y = x"};
    tg_tape_set_replayable(t, true);
    tg_tensor *x = tg_requires_grad(tg_ones(t, TG_SHAPE(3)), true);
    cr_assert_not_null(tg_apply(t, &op, &x, 1, NULL), "%s", tg_tape_error(t));
    nested_status = TG_OK;
    (void)tg_tape_replay(t);
    cr_expect_eq(nested_status, TG_ERR_STATE);
    cr_expect(strstr(tg_tape_error(t), "tg_tape_replay: called from inside a replay"), "%s",
              tg_tape_error(t));
}
