/* docs/teaching.md's ```c blocks, each with the context it takes for granted
   (tests/docs/snippet.h says how this file is used). */
#include "snippet.h"

/* The walkthrough's network, 3 -> 4 (tanh) -> 1, and its loss Σ(ŷ − y)², on
   its four samples (weights of 0.1 here). */
static tg_params *model_params;
static tg_tensor *model(tg_tape *t, tg_tensor *x)
{
    static const char *names[4] = {"W1", "b1", "W2", "b2"};
    const int64_t shapes[4][2] = {{4, 3}, {4, 0}, {1, 4}, {1, 0}};
    tg_tensor *w[4];
    model_params = tg_params_new();
    for (int i = 0; i < 4; i++) {
        w[i] = tg_params_add(model_params, names[i], shapes[i][1] ? 2 : 1, shapes[i]);
        for (int64_t k = 0; k < w[i]->size; k++) w[i]->data[k] = (tg_real)0.1;
    }
    tg_tensor *y = tg_tensor_new(t, TG_SHAPE(4, 1), (tg_real[]){1, -1, -1, 1});
    tg_tensor *h = tg_tanh(t, tg_linear(t, x, w[0], w[1]));
    tg_tensor *d = tg_sub(t, tg_linear(t, h, w[2], w[3]), y);
    return tg_sum(t, tg_square(t, d), TG_ALL, false);
}
static tg_tensor *samples(tg_tape *t)
{
    const tg_real xs[12] = {2, 3, -1, 3, -1, 0.5f, 0.5f, 1, 1, 1, 1, -1};
    return tg_tensor_new(t, TG_SHAPE(4, 3), xs);
}

/* Printing the tape, before and after backward */
SNIPPET(print, "tg_tensor *loss =")
static int print(void)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = samples(t);
#include "teaching/print.c"
    EXPECT(loss && tg_tape_record_count(t) == 6);
    tg_tape_free(t);
    tg_params_free(model_params);
    return 0;
}

/* Walking the records */
SNIPPET(walk, "for (")
static int walk(void)
{
    tg_tape *t = tg_tape_new();
    EXPECT(tg_backward(t, model(t, samples(t))) == TG_OK);
#include "teaching/walk.c"
    tg_tape_free(t);
    tg_params_free(model_params);
    return 0;
}

/* Drawing the graph, into the run's scratch directory */
SNIPPET(dot, "FILE *f =")
static int dot(void)
{
    tg_tape *t = tg_tape_new();
    EXPECT(tg_backward(t, model(t, samples(t))) == TG_OK);
#include "teaching/dot.c"
    tg_tape_free(t);
    tg_params_free(model_params);
    return 0;
}

/* Anomaly mode: the switch, then the two cases, with the messages the doc
   gives in comments */
SNIPPET(anomaly_on, "tg_tape_set_anomaly(")
SNIPPET(anomaly, "tg_tensor *x =")
static int anomaly(void)
{
    tg_tape *t = tg_tape_new();
#include "teaching/anomaly_on.c"
#include "teaching/anomaly.c"
    EXPECT(!strcmp(tg_tape_error(t), "anomaly: record 1 (tg_sqrt) produced NaN or Inf in the "
                                     "gradient of input 0: the gradient of t1 [2] is inf at "
                                     "element 0"));
    tg_tape_reset(t);
    EXPECT(!tg_log(t, tg_neg(t, tg_exp(t, x = tg_requires_grad(tg_ones(t, TG_SHAPE(2)), true)))));
    EXPECT(!strcmp(tg_tape_error(t), "anomaly: record 2 (tg_log) produced NaN or Inf in its "
                                     "output: t3 [2] is nan at element 0"));
    tg_tape_free(t);
    return 0;
}

int main(void)
{
    const doc_block blocks[] = {
        {"print", print, true},
        {"walk", walk, true},
        {"dot", dot, true},
        {"anomaly", anomaly, true},
    };
    return doc_run("docs/teaching.md", blocks, sizeof blocks / sizeof *blocks);
}
