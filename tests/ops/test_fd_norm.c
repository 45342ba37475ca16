/* The normalisation ops and dropout against central finite differences
   (tg_gradcheck with its defaults: the whole Jacobian), at random points,
   then their second order the same way (fd_table.h). Batch norm in
   training is checked with its batch's statistics (the running ones it
   updates at every evaluation do not enter its output); in evaluation with
   running statistics that are constants. Dropout draws the same mask at
   every evaluation: its rng is seeded again by the builder. */
#include "fd_table.h"

static tg_tape *tape;
static void setup(void)
{
    tape = tg_tape_new();
    fd_state = 20240608;
}
static void teardown(void) { tg_tape_free(tape); }
TestSuite(fd_norm, .init = setup, .fini = teardown);

typedef struct {
    bool training;
    int nd;
    int64_t shape[TG_MAX_DIMS];
    int64_t groups;
    double eps, p;
} norm_ctx;

static tg_tensor *f_batch_norm(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    const norm_ctx *c = ctx;
    return tg_batch_norm(t, in[0], in[1], in[2], in[3], in[4], c->training, 0.1, c->eps);
}
static tg_tensor *f_layer_norm(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    const norm_ctx *c = ctx;
    return tg_layer_norm(t, in[0], c->nd, c->shape, in[1], in[2], c->eps);
}
static tg_tensor *f_group_norm(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    const norm_ctx *c = ctx;
    return tg_group_norm(t, in[0], c->groups, in[1], in[2], c->eps);
}
static tg_tensor *f_rms_norm(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    const norm_ctx *c = ctx;
    return tg_rms_norm(t, in[0], c->nd, c->shape, in[1], c->eps);
}
static tg_rng drop_rng;
static tg_tensor *f_dropout(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    const norm_ctx *c = ctx;
    tg_rng_seed(&drop_rng, 7);
    return c->groups ? tg_dropout2d(t, in[0], c->p, true, &drop_rng)
                     : tg_dropout(t, in[0], c->p, true, &drop_rng);
}

static const norm_ctx train = {.training = true, .eps = 1e-5};
static const norm_ctx eval = {.training = false, .eps = 1e-3};
static const norm_ctx last1 = {.nd = 1, .shape = {4}, .eps = 1e-5};
static const norm_ctx last2 = {.nd = 2, .shape = {3, 2}, .eps = 1e-3};
static const norm_ctx groups2 = {.groups = 2, .eps = 1e-5};
static const norm_ctx drop = {.p = 0.3}, drop2d = {.p = 0.5, .groups = 1};

static const fd_case cases[] = {
    {"batch_norm_train", f_batch_norm, &train, 5,
     {{FD_SIGNED, FD_SH(4, 3, 2)}, {FD_CONST, FD_SH(3)}, {FD_CONST_POS, FD_SH(3)},
      {FD_SIGNED, FD_SH(3)}, {FD_SIGNED, FD_SH(3)}}},
    {"batch_norm_train_4d_plain", f_batch_norm, &train, 5,
     {{FD_SIGNED, FD_SH(2, 2, 2, 3)}, {FD_NONE}, {FD_NONE}, {FD_NONE}, {FD_NONE}}},
    {"batch_norm_train_2d", f_batch_norm, &train, 5,
     {{FD_SIGNED, FD_SH(5, 2)}, {FD_NONE}, {FD_NONE}, {FD_SIGNED, FD_SH(2)}, {FD_NONE}}},
    {"batch_norm_eval", f_batch_norm, &eval, 5,
     {{FD_SIGNED, FD_SH(3, 2, 4)}, {FD_CONST, FD_SH(2)}, {FD_CONST_POS, FD_SH(2)},
      {FD_SIGNED, FD_SH(2)}, {FD_SIGNED, FD_SH(2)}}},
    {"layer_norm", f_layer_norm, &last1, 3,
     {{FD_SIGNED, FD_SH(3, 4)}, {FD_SIGNED, FD_SH(4)}, {FD_SIGNED, FD_SH(4)}}},
    {"layer_norm_2dims", f_layer_norm, &last2, 3,
     {{FD_SIGNED, FD_SH(2, 3, 2)}, {FD_SIGNED, FD_SH(3, 2)}, {FD_NONE}}},
    {"group_norm", f_group_norm, &groups2, 3,
     {{FD_SIGNED, FD_SH(2, 4, 3)}, {FD_SIGNED, FD_SH(4)}, {FD_SIGNED, FD_SH(4)}}},
    {"group_norm_plain", f_group_norm, &groups2, 3,
     {{FD_SIGNED, FD_SH(3, 2, 2, 2)}, {FD_NONE}, {FD_NONE}}},
    {"rms_norm", f_rms_norm, &last1, 2, {{FD_SIGNED, FD_SH(3, 4)}, {FD_SIGNED, FD_SH(4)}}},
    {"rms_norm_2dims", f_rms_norm, &last2, 2, {{FD_SIGNED, FD_SH(2, 3, 2)}, {FD_NONE}}},
    {"dropout", f_dropout, &drop, 1, {{FD_SIGNED, FD_SH(3, 5)}}},
    {"dropout2d", f_dropout, &drop2d, 1, {{FD_SIGNED, FD_SH(2, 3, 2, 2)}}},
};
#define N_CASES (sizeof cases / sizeof *cases)

Test(fd_norm, first_order)
{
    for (size_t i = 0; i < N_CASES; i++) fd_check(tape, &cases[i]);
}

Test(fd_norm, second_order)
{
    for (size_t i = 0; i < N_CASES; i++) fd_check2(tape, &cases[i]);
}
