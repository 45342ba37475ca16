/* The recurrences against PyTorch: outputs, first gradients (the fast
   backward: backpropagation through time) and second order (create_graph,
   through the vjp that writes the same recursion with ops) of every case
   in tests/golden/recurrent_*.txt, written by tests/gen_golden_recurrent.py:
   tanh and relu RNNs, LSTMs and GRUs, time-major and batch_first, with and
   without bias and initial states, one step, one sample, hidden size 1,
   twelve steps, an empty batch. The LSTM's result is joined with c_n along
   the time axis, as the script does. Tolerances are gt_default_tol():
   float rtol 1e-5 / atol 1e-6, double rtol 1e-12 / atol 1e-14.

   Then the refusals: a sequence of length 0, shapes that do not fit, a cell
   state for a GRU, a bad nonlinearity, NULL weights: each NULL with a
   message naming the op and the shapes. */
#include <criterion/criterion.h>

#include <string.h>

#include "builder_table.h"

static gt_file *gold;
static void load(void)
{
    gold = gt_load("recurrent");
    cr_assert(gold != NULL, "tests/golden/recurrent_*.txt could not be read");
}
static void unload(void) { gt_free(gold); }

TestSuite(golden_recurrent, .init = load, .fini = unload);

#define ATTR(k) (gt_attr(c, k, 0) != 0)

/* inputs: xg, w_hh, then b_hh, h0, c0 where the case has them */
static tg_tensor *b_recurrence(tg_tape *t, tg_tensor **in, const gt_case *c)
{
    int k = 2;
    tg_tensor *b = ATTR("has_b") ? in[k++] : NULL;
    tg_tensor *h0 = ATTR("has_h0") ? in[k++] : NULL;
    tg_tensor *c0 = ATTR("has_c0") ? in[k++] : NULL;
    bool bf = ATTR("bf");
    int ax = bf ? 1 : 0;
    if (!strcmp(c->op, "rnn_recurrence"))
        return tg_rnn_recurrence(t, in[0], in[1], b, h0, ATTR("relu") ? TG_RNN_RELU : TG_RNN_TANH,
                                 bf);
    if (!strcmp(c->op, "gru_recurrence")) return tg_gru_recurrence(t, in[0], in[1], b, h0, bf);
    tg_tensor *cn = NULL;
    tg_tensor *hs = tg_lstm_recurrence(t, in[0], in[1], b, h0, c0, bf, &cn);
    tg_tensor *parts[2] = {hs, cn ? tg_unsqueeze(t, cn, ax) : NULL};
    return hs ? tg_cat(t, parts, 2, ax) : NULL;
}

#define GOLDEN(NAME)                                                                        \
    Test(golden_recurrent, NAME) { gt_run_op(gold, #NAME, b_recurrence, gt_default_tol()); }\
    Test(golden_recurrent, NAME##_order2)                                                   \
    {                                                                                       \
        gt_run_op2(gold, #NAME, b_recurrence, gt_default_tol());                            \
    }

GOLDEN(rnn_recurrence)
GOLDEN(lstm_recurrence)
GOLDEN(gru_recurrence)

static const gt_builder builders[] = {{"rnn_recurrence", b_recurrence},
                                      {"lstm_recurrence", b_recurrence},
                                      {"gru_recurrence", b_recurrence}};

Test(golden_recurrent, every_case_is_run)
{
    gt_expect_builders(gold, builders, sizeof builders / sizeof *builders);
}

/* Replay equals recording again, bit for bit, and tg_gradgradcheck, for
   every op (tests/support/replay_check.h, ggc_check.h). */
GT_BUILDER_FIND(find_builder, builders)
Test(golden_recurrent, replay_every_op) { gt_run_replay_file(gold, find_builder); }
Test(golden_recurrent, gradgradcheck_every_op) { gt_run_gradgradcheck_file(gold, find_builder); }

/* ---------------------------------------------------------------- refusals */

TestSuite(recurrent_refuses, .init = gt_tape_setup, .fini = gt_tape_teardown);

#define REFUSED(y, ...) GT_REFUSED(gt_tape, y, __VA_ARGS__)

static tg_tensor *z(int ndim, const int64_t *shape)
{
    return tg_requires_grad(tg_zeros(gt_tape, ndim, shape), true);
}

Test(recurrent_refuses, shapes)
{
    tg_tensor *w = z(TG_SHAPE(12, 3)), *xg = z(TG_SHAPE(5, 2, 12)), *cn;
    REFUSED(tg_lstm_recurrence(gt_tape, z(TG_SHAPE(0, 2, 12)), w, NULL, NULL, NULL, false, &cn),
            "tg_lstm_recurrence", "length 0", "[0,2,12]");
    cr_expect(cn == NULL);
    REFUSED(tg_gru_recurrence(gt_tape, z(TG_SHAPE(2, 0, 9)), z(TG_SHAPE(9, 3)), NULL, NULL, true),
            "tg_gru_recurrence", "length 0", "[2,0,9]", "batch_first");
    REFUSED(tg_lstm_recurrence(gt_tape, xg, z(TG_SHAPE(9, 3)), NULL, NULL, NULL, false, NULL),
            "tg_lstm_recurrence", "weight_hh must be [4·H, H]", "[9,3]");
    REFUSED(tg_lstm_recurrence(gt_tape, z(TG_SHAPE(5, 2, 8)), w, NULL, NULL, NULL, false, NULL),
            "tg_lstm_recurrence", "[5,2,8]", "G·H = 12");
    REFUSED(tg_lstm_recurrence(gt_tape, z(TG_SHAPE(5, 12)), w, NULL, NULL, NULL, false, NULL),
            "tg_lstm_recurrence", "[5,12]");
    REFUSED(tg_lstm_recurrence(gt_tape, xg, w, z(TG_SHAPE(3)), NULL, NULL, false, NULL),
            "tg_lstm_recurrence", "bias_hh must be [12]", "[3]");
    REFUSED(tg_lstm_recurrence(gt_tape, xg, w, NULL, z(TG_SHAPE(3, 3)), NULL, false, NULL),
            "tg_lstm_recurrence", "h0 must be [N, H] = [2, 3]", "[3,3]");
    REFUSED(tg_lstm_recurrence(gt_tape, xg, w, NULL, NULL, z(TG_SHAPE(2, 4)), false, NULL),
            "tg_lstm_recurrence", "c0 must be [N, H] = [2, 3]", "[2,4]");
    /* batch_first reads [N, T, G·H]: N = 5 here */
    REFUSED(tg_lstm_recurrence(gt_tape, xg, w, NULL, z(TG_SHAPE(2, 3)), NULL, true, NULL),
            "tg_lstm_recurrence", "h0 must be [N, H] = [5, 3]");
    REFUSED(tg_rnn_recurrence(gt_tape, z(TG_SHAPE(5, 2, 3)), z(TG_SHAPE(3, 3)), NULL, NULL,
                              TG_RNN_LSTM, false),
            "tg_rnn_recurrence", "TG_RNN_TANH or TG_RNN_RELU");
    REFUSED(tg_rnn_recurrence(gt_tape, z(TG_SHAPE(5, 2, 3)), NULL, NULL, NULL, TG_RNN_TANH, false),
            "tg_rnn_recurrence", "weight_hh is NULL");
    REFUSED(tg_gru_recurrence(gt_tape, NULL, z(TG_SHAPE(9, 3)), NULL, NULL, false),
            "tg_gru_recurrence", "NULL");
    /* the right shapes pass */
    cr_expect(tg_lstm_recurrence(gt_tape, xg, w, z(TG_SHAPE(12)), z(TG_SHAPE(2, 3)),
                                 z(TG_SHAPE(2, 3)), false, &cn) != NULL,
              "%s", tg_tape_error(gt_tape));
    cr_expect(cn && cn->ndim == 2 && cn->shape[0] == 2 && cn->shape[1] == 3);
}

Test(recurrent_refuses, cells)
{
    tg_tensor *wi = z(TG_SHAPE(12, 4)), *wh = z(TG_SHAPE(12, 3)), *x = z(TG_SHAPE(2, 4));
    REFUSED(tg_lstm_cell(gt_tape, x, z(TG_SHAPE(2, 5)), NULL, wi, wh, NULL, NULL, NULL),
            "tg_lstm_cell", "h [2,5]", "H = 3");
    REFUSED(tg_lstm_cell(gt_tape, x, z(TG_SHAPE(3)), NULL, wi, wh, NULL, NULL, NULL),
            "tg_lstm_cell", "h [3]", "input's 2 dimensions");
    REFUSED(tg_lstm_cell(gt_tape, z(TG_SHAPE(2, 5)), NULL, NULL, wi, wh, NULL, NULL, NULL),
            "tg_linear", "[2,5]");
    REFUSED(tg_gru_cell(gt_tape, z(TG_SHAPE(1, 2, 4)), NULL, z(TG_SHAPE(9, 4)), z(TG_SHAPE(9, 3)),
                        NULL, NULL),
            "tg_gru_cell", "[N, input_size] or [input_size]", "[1,2,4]");
    REFUSED(tg_rnn_cell(gt_tape, x, NULL, NULL, wh, NULL, NULL, TG_RNN_TANH), "tg_rnn_cell",
            "NULL");
    REFUSED(tg_rnn_cell(gt_tape, x, NULL, z(TG_SHAPE(3, 4)), z(TG_SHAPE(3, 3)), NULL, NULL,
                        TG_RNN_GRU),
            "tg_rnn_cell", "TG_RNN_TANH or TG_RNN_RELU");
    tg_tensor *c1 = NULL;
    tg_tensor *h1 = tg_lstm_cell(gt_tape, z(TG_SHAPE(4)), NULL, NULL, wi, wh, NULL, NULL, &c1);
    cr_expect(h1 && h1->ndim == 1 && h1->shape[0] == 3, "%s", tg_tape_error(gt_tape));
    cr_expect(c1 && c1->ndim == 1 && c1->shape[0] == 3);
}
