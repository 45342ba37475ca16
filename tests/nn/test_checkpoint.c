/* Checkpoints: training resumed from a file goes on bit for bit as if it
   had never stopped, and a file of another model, optimizer, scheduler or
   dataset is refused with a message, changing nothing.

   The resume test trains an MLP 6-8-3 on a shuffled tensor dataset (40
   samples, batches of 8: an epoch is 5 steps), with noise drawn from a
   tg_rng added to each batch, gradients clipped, released after each step,
   and a learning-rate schedule: 2N steps in one go, and N steps, a save,
   everything freed and made again from other initial weights and seeds,
   a load, N more steps. N = 7 stops in the middle of the second epoch.
   The weights, the optimizer's state and the rates must be equal to the
   bit (memcmp), for SGD with momentum (StepLR), Adam (a linear warm-up
   then a cosine, SequentialLR) and RMSprop (OneCycleLR, which also cycles
   the momentum). */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tapegrad.h>

enum { N_SAMPLES = 40, N_IN = 6, N_OUT = 3, HALF = 7 };

typedef struct {
    tg_params *p;
    tg_mlp net;
    tg_optim *o;
    tg_sched *s;
    tg_rng rng;
    tg_tensor_dataset *d;
    tg_tape *t;
} run;

static void make_run(run *r, int kind, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->p = tg_params_new();
    tg_rng init;
    tg_rng_seed(&init, seed);
    cr_assert_eq(tg_mlp_init(&r->net, r->p, "fc", 3, (const int64_t[]){N_IN, 8, N_OUT}, tg_tanh,
                             &init), TG_OK);
    if (kind == 0) {
        r->o = tg_sgd_new(r->p, &(tg_sgd_opts){.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3});
        r->s = tg_sched_step_lr(r->o, 3, 0.7);
    } else if (kind == 1) {
        r->o = tg_adam_new(r->p, NULL);
        tg_param_group g = tg_param_group_new();
        g.filter = tg_param_is_1d;
        g.lr = 2e-3;
        cr_assert_eq(tg_optim_set_groups(r->o, 1, &g), TG_OK);
        tg_sched *s[2] = {tg_sched_linear_lr(r->o, 0.1, 1.0, 4), tg_sched_cosine_lr(r->o, 10, 0)};
        r->s = tg_sched_sequential(r->o, 2, s, (const int64_t[]){4});
    } else {
        tg_rmsprop_opts ro = tg_rmsprop_defaults(0.01);
        ro.centered = true;
        r->o = tg_rmsprop_new(r->p, &ro);
        r->s = tg_sched_one_cycle(r->o, &(tg_one_cycle_opts){
                                                .max_lr = 0.02, .total_steps = 2 * HALF,
                                                .pct_start = 0.3, .cycle_momentum = true,
                                                .base_momentum = 0.8, .max_momentum = 0.9,
                                                .div_factor = 10, .final_div_factor = 100});
    }
    cr_assert(r->o && r->s, "%s", tg_last_error());
    tg_rng_seed(&r->rng, seed + 1);
    static tg_real x[N_SAMPLES * N_IN];
    static int64_t y[N_SAMPLES];
    for (int i = 0; i < N_SAMPLES; i++) {
        for (int k = 0; k < N_IN; k++) x[i * N_IN + k] = (tg_real)sin(0.37 * i + 0.91 * k);
        y[i] = i % N_OUT;
    }
    r->d = tg_tensor_dataset_new(
        &(tg_tensor_data){.n = N_SAMPLES, .x = x, .x_ndim = 1, .x_shape = {N_IN}, .labels = y});
    tg_batch_opts bo = tg_batch_defaults();
    bo.batch_size = 8;
    bo.seed = seed + 2;
    cr_assert_eq(tg_tensor_dataset_batching(r->d, &bo), TG_OK);
    r->t = tg_tape_new();
}

static void free_run(run *r)
{
    tg_tape_free(r->t);
    tg_tensor_dataset_free(r->d);
    tg_sched_free(r->s);
    tg_optim_free(r->o);
    tg_params_free(r->p);
}

static void train(run *r, int steps)
{
    static tg_real noisy[8 * N_IN];
    for (int s = 0; s < steps; s++) {
        tg_tensor_batch b;
        if (!tg_tensor_dataset_next(r->d, &b)) cr_assert(tg_tensor_dataset_next(r->d, &b));
        for (int64_t i = 0; i < b.n * N_IN; i++)
            noisy[i] = b.x[i] + (tg_real)(0.01 * tg_rng_normal(&r->rng));
        tg_tensor *x = tg_tensor_wrap(r->t, 2, b.x_shape, noisy);
        tg_tensor *loss = tg_cross_entropy(r->t, tg_mlp_forward(r->t, &r->net, x), b.labels,
                                           TG_REDUCE_MEAN);
        cr_assert_not_null(loss, "%s", tg_tape_error(r->t));
        cr_assert_eq(tg_backward(r->t, loss), TG_OK);
        cr_assert(tg_clip_grad_norm(r->p, 0.5, 2, true) >= 0);
        cr_assert_eq(tg_optim_step_release_grad(r->o), TG_OK);
        cr_assert_eq(tg_sched_step(r->s), TG_OK, "%s", tg_last_error());
        tg_tape_reset(r->t);
    }
}

/* A scratch file name (the caller frees it). */
static char *tmp_path(const char *name)
{
    char *path = malloc(512);
    snprintf(path, 512, "%s/tg_ckpt_%d_%s.safetensors", TG_BINARY_DIR, (int)getpid(), name);
    return path;
}

static tg_checkpoint parts(run *r)
{
    return (tg_checkpoint){.params = r->p, .optim = r->o, .sched = r->s, .rng = &r->rng,
                           .data = r->d};
}

/* The two runs agree to the bit: weights, every state block, step counts,
   rates, momenta, the generator and the next batch. */
static void expect_same(run *a, run *b, const char *what)
{
    size_t len = tg_params_block_len(a->p);
    for (size_t i = 0; i < tg_params_count(a->p); i++) {
        const tg_tensor *x = tg_params_at(a->p, i), *y = tg_params_at(b->p, i);
        cr_expect(memcmp(x->data, y->data, (size_t)x->size * sizeof(tg_real)) == 0,
                  "%s: %s differs", what, x->name);
        cr_expect_eq(tg_optim_param_steps(a->o, i), tg_optim_param_steps(b->o, i));
    }
    const char *names[] = {"momentum_buffer", "exp_avg", "exp_avg_sq", "square_avg", "grad_avg"};
    for (int k = 0; k < 5; k++) {
        const tg_real *sa = tg_optim_state(a->o, names[k]), *sb = tg_optim_state(b->o, names[k]);
        cr_expect((sa == NULL) == (sb == NULL));
        if (sa && sb)
            for (size_t i = 0; i < tg_params_count(a->p); i++) {
                const tg_tensor *x = tg_params_at(a->p, i);
                size_t off = (size_t)(x->data - tg_params_data(a->p));
                cr_expect(memcmp(sa + off, sb + off, (size_t)x->size * sizeof(tg_real)) == 0,
                          "%s: %s of %s differs", what, names[k], x->name);
            }
    }
    (void)len;
    cr_expect_eq(tg_optim_steps(a->o), tg_optim_steps(b->o));
    for (int g = 0; g < tg_optim_num_groups(a->o); g++) {
        cr_expect(tg_optim_get_group_lr(a->o, g) == tg_optim_get_group_lr(b->o, g), "%s: lr", what);
        cr_expect(tg_optim_get_group_momentum(a->o, g) == tg_optim_get_group_momentum(b->o, g));
        cr_expect(tg_sched_get_last_lr(a->s, g) == tg_sched_get_last_lr(b->s, g));
    }
    cr_expect_eq(tg_sched_last_epoch(a->s), tg_sched_last_epoch(b->s));
    cr_expect(memcmp(a->rng.s, b->rng.s, sizeof a->rng.s) == 0, "%s: rng", what);
}

static void resume_case(int kind, const char *name)
{
    run a, b;
    make_run(&a, kind, 11);
    train(&a, 2 * HALF);

    make_run(&b, kind, 11);
    train(&b, HALF);
    char *path = tmp_path(name);
    tg_checkpoint c = parts(&b);
    cr_assert_eq(tg_checkpoint_save(&c, path), TG_OK, "%s", tg_last_error());
    free_run(&b);

    make_run(&b, kind, 99); /* other weights, other seeds: the load must set all of it */
    c = parts(&b);
    cr_assert_eq(tg_checkpoint_load(&c, path), TG_OK, "%s", tg_last_error());
    train(&b, HALF);
    expect_same(&a, &b, name);
    /* and the next batch is the same one */
    tg_tensor_batch ba, bb;
    cr_assert(tg_tensor_dataset_next(a.d, &ba) && tg_tensor_dataset_next(b.d, &bb));
    cr_expect(ba.epoch == bb.epoch && ba.number == bb.number && ba.n == bb.n &&
              memcmp(ba.index, bb.index, (size_t)ba.n * sizeof *ba.index) == 0);
    remove(path);
    free(path);
    free_run(&a);
    free_run(&b);
}

Test(checkpoint, resume_sgd_momentum_step_lr_bit_for_bit) { resume_case(0, "sgd"); }
Test(checkpoint, resume_adam_warmup_cosine_bit_for_bit) { resume_case(1, "adam"); }
Test(checkpoint, resume_rmsprop_one_cycle_bit_for_bit) { resume_case(2, "rmsprop"); }

/* A snapshot of every value a refused load must leave alone. */
typedef struct {
    tg_real *data, *state;
    size_t len, state_len;
    double lr;
    int64_t steps;
    tg_rng rng;
} snapshot;

static snapshot take(run *r)
{
    snapshot s = {0};
    s.len = tg_params_block_len(r->p);
    s.data = malloc(s.len * sizeof(tg_real));
    memcpy(s.data, tg_params_data(r->p), s.len * sizeof(tg_real));
    const tg_real *st = tg_optim_state(r->o, "exp_avg");
    if (!st) st = tg_optim_state(r->o, "momentum_buffer");
    s.state = malloc(s.len * sizeof(tg_real));
    memcpy(s.state, st, s.len * sizeof(tg_real));
    s.lr = tg_optim_get_lr(r->o);
    s.steps = tg_optim_steps(r->o);
    s.rng = r->rng;
    return s;
}

static void expect_unchanged(run *r, const snapshot *s, const char *what)
{
    cr_expect(memcmp(s->data, tg_params_data(r->p), s->len * sizeof(tg_real)) == 0,
              "%s: the weights changed", what);
    const tg_real *st = tg_optim_state(r->o, "exp_avg");
    if (!st) st = tg_optim_state(r->o, "momentum_buffer");
    cr_expect(memcmp(s->state, st, s->len * sizeof(tg_real)) == 0, "%s: the state changed", what);
    cr_expect(tg_optim_get_lr(r->o) == s->lr && tg_optim_steps(r->o) == s->steps, "%s", what);
    cr_expect(memcmp(s->rng.s, r->rng.s, sizeof s->rng.s) == 0 && s->rng.spare == r->rng.spare &&
                  s->rng.has_spare == r->rng.has_spare,
              "%s: the rng changed", what);
}

static void expect_refused(run *r, const tg_checkpoint *c, const char *path, const char *piece)
{
    snapshot s = take(r);
    cr_expect_neq(tg_checkpoint_load(c, path), TG_OK, "loaded, expected '%s'", piece);
    cr_expect(strstr(tg_last_error(), piece) != NULL, "'%s' not in: %s", piece, tg_last_error());
    expect_unchanged(r, &s, piece);
    free(s.data);
    free(s.state);
}

Test(checkpoint, files_of_something_else_are_refused_and_change_nothing)
{
    run a, b;
    make_run(&a, 1, 5); /* Adam */
    train(&a, 3);
    char *path = tmp_path("refuse");
    tg_checkpoint c = parts(&a);
    cr_assert_eq(tg_checkpoint_save(&c, path), TG_OK, "%s", tg_last_error());

    /* another optimizer: SGD for Adam */
    make_run(&b, 0, 6);
    train(&b, 2);
    tg_checkpoint cb = parts(&b);
    expect_refused(&b, &cb, path, "another optimizer (adam, here sgd)");
    free_run(&b);

    /* the same optimizer with other options: amsgrad changes the state */
    make_run(&b, 1, 6);
    tg_optim_free(b.o);
    tg_sched_free(b.s);
    tg_adam_opts ao = tg_adam_defaults(1e-3);
    ao.amsgrad = true;
    b.o = tg_adam_new(b.p, &ao);
    tg_param_group g = tg_param_group_new();
    g.filter = tg_param_is_1d;
    g.lr = 2e-3;
    tg_optim_set_groups(b.o, 1, &g);
    tg_sched *ss[2] = {tg_sched_linear_lr(b.o, 0.1, 1.0, 4), tg_sched_cosine_lr(b.o, 10, 0)};
    b.s = tg_sched_sequential(b.o, 2, ss, (const int64_t[]){4});
    cb = parts(&b);
    expect_refused(&b, &cb, path, "its option amsgrad is 0 in the file, 1 here");
    free_run(&b);

    /* the same with another learning rate and beta1: the group's values,
       which a scheduler changes, are the file's after loading (PyTorch's
       load_state_dict takes its param_groups' too), not refused */
    make_run(&b, 1, 6);
    tg_optim_free(b.o);
    tg_sched_free(b.s);
    ao = tg_adam_defaults(5e-2);
    ao.beta1 = 0.5;
    b.o = tg_adam_new(b.p, &ao);
    tg_optim_set_groups(b.o, 1, &g);
    tg_sched *s3[2] = {tg_sched_linear_lr(b.o, 0.1, 1.0, 4), tg_sched_cosine_lr(b.o, 10, 0)};
    b.s = tg_sched_sequential(b.o, 2, s3, (const int64_t[]){4});
    cb = parts(&b);
    cr_expect_eq(tg_checkpoint_load(&cb, path), TG_OK, "%s", tg_last_error());
    for (int k = 0; k < 2; k++) {
        cr_expect_eq(tg_optim_get_group_lr(b.o, k), tg_optim_get_group_lr(a.o, k), "group %d", k);
        cr_expect_eq(tg_optim_get_group_momentum(b.o, k), tg_optim_get_group_momentum(a.o, k),
                     "group %d's beta1", k);
    }
    free_run(&b);

    /* another schedule: a cosine of 20 steps for one of 10 */
    make_run(&b, 1, 6);
    tg_sched_free(b.s);
    tg_optim_free(b.o);
    b.o = tg_adam_new(b.p, NULL);
    tg_optim_set_groups(b.o, 1, &g);
    tg_sched *s2[2] = {tg_sched_linear_lr(b.o, 0.1, 1.0, 4), tg_sched_cosine_lr(b.o, 20, 0)};
    b.s = tg_sched_sequential(b.o, 2, s2, (const int64_t[]){4});
    cb = parts(&b);
    expect_refused(&b, &cb, path, "T_max");
    free_run(&b);

    /* another model: a wider hidden layer */
    make_run(&b, 1, 6);
    tg_params *p2 = tg_params_new();
    tg_mlp m2;
    tg_rng r2;
    tg_rng_seed(&r2, 3);
    tg_mlp_init(&m2, p2, "fc", 3, (const int64_t[]){N_IN, 9, N_OUT}, tg_tanh, &r2);
    tg_checkpoint cw = {.params = p2};
    cr_expect_neq(tg_checkpoint_load(&cw, path), TG_OK);
    cr_expect(strstr(tg_last_error(), "'fc1.weight' is [8,6] in the file, [9,6] here") != NULL,
              "%s", tg_last_error());
    tg_params_free(p2);
    /* a dataset of another size: found last, after everything else was read */
    tg_real x[4 * N_IN] = {0};
    tg_tensor_dataset *small = tg_tensor_dataset_new(
        &(tg_tensor_data){.n = 4, .x = x, .x_ndim = 1, .x_shape = {N_IN}});
    cb = parts(&b);
    cb.data = small;
    char msg[700];
    snprintf(msg, sizeof msg, "tg_checkpoint_load: %s: the file's dataset has 40 samples, this "
             "one 4", path);
    expect_refused(&b, &cb, path, msg);
    tg_tensor_dataset_free(small);

    /* a plain safetensors file, a truncated checkpoint, no file */
    char *plain = tmp_path("plain");
    cr_assert_eq(tg_params_save(b.p, plain, sizeof(tg_real) == 4 ? TG_F32 : TG_F64), TG_OK);
    cb = parts(&b);
    expect_refused(&b, &cb, plain, "not a checkpoint");
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *bytes = malloc((size_t)size);
    cr_assert_eq(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    f = fopen(plain, "wb");
    fwrite(bytes, 1, (size_t)size - 5, f);
    fclose(f);
    free(bytes);
    expect_refused(&b, &cb, plain, "truncated");
    cr_expect(!strstr(tg_last_error(), "<memory>"), "the file named, not memory: %s",
              tg_last_error());
    remove(plain);
    expect_refused(&b, &cb, plain, "cannot open");

    /* the weights alone load from a checkpoint; the rest is ignored */
    tg_checkpoint only = {.params = b.p};
    cr_expect_eq(tg_checkpoint_load(&only, path), TG_OK, "%s", tg_last_error());
    cr_expect(memcmp(tg_params_data(a.p), tg_params_data(b.p),
                     tg_params_block_len(a.p) * sizeof(tg_real)) == 0);
    /* a part the file has not: no rng in a file saved without one */
    tg_checkpoint no_rng = parts(&a);
    no_rng.rng = NULL;
    cr_assert_eq(tg_checkpoint_save(&no_rng, plain), TG_OK);
    cb = parts(&b);
    expect_refused(&b, &cb, plain, "holds no generator state");
    remove(plain);

    /* inconsistent parts */
    cb.optim = a.o;
    cr_expect_eq(tg_checkpoint_save(&cb, plain), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "other parameters") != NULL, "%s", tg_last_error());
    cr_expect_eq(tg_checkpoint_save(NULL, plain), TG_ERR_INVALID);
    remove(path);
    free(path);
    free(plain);
    free_run(&a);
    free_run(&b);
}

/* A model with buffers: linear 4-5, batch norm, linear 5-2 trained with SGD
   and momentum. Batch norm's running statistics and num_batches_tracked
   are state of the run: after 3 steps, a save, a fresh model (other
   weights, fresh statistics) and a load, 3 more steps give the 6-step
   run's parameters and buffers to the bit. A model without the batch norm
   refuses the file, naming a buffer. */
typedef struct {
    tg_params *p;
    tg_linear_layer l1, l2;
    tg_batchnorm bn;
    tg_optim *o;
} bn_run;

static void bn_make(bn_run *r, uint64_t seed, bool with_bn)
{
    r->p = tg_params_new();
    tg_rng init;
    tg_rng_seed(&init, seed);
    cr_assert_eq(tg_linear_layer_init(&r->l1, r->p, "fc1", 4, 5, true, &init), TG_OK);
    if (with_bn) cr_assert_eq(tg_batchnorm1d_init(&r->bn, r->p, "bn", 5, NULL), TG_OK);
    cr_assert_eq(tg_linear_layer_init(&r->l2, r->p, "fc2", 5, 2, true, &init), TG_OK);
    r->o = tg_sgd_new(r->p, &(tg_sgd_opts){.lr = 0.1, .momentum = 0.9});
    cr_assert_not_null(r->o);
}

static void bn_train(bn_run *r, int from, int steps)
{
    tg_tape *t = tg_tape_new();
    for (int s = from; s < from + steps; s++) {
        tg_real x[6 * 4];
        int64_t y[6];
        for (int i = 0; i < 6; i++) {
            for (int k = 0; k < 4; k++) x[i * 4 + k] = (tg_real)sin(0.7 * s + 1.3 * i + 0.4 * k);
            y[i] = (s + i) % 2;
        }
        tg_tensor *h = tg_linear_layer_forward(t, &r->l1, tg_tensor_wrap(t, 2, (int64_t[]){6, 4}, x));
        h = tg_relu(t, tg_batchnorm_forward(t, &r->bn, h));
        tg_tensor *loss = tg_cross_entropy(t, tg_linear_layer_forward(t, &r->l2, h), y,
                                           TG_REDUCE_MEAN);
        cr_assert_not_null(loss, "%s", tg_tape_error(t));
        cr_assert_eq(tg_backward(t, loss), TG_OK);
        cr_assert_eq(tg_optim_step(r->o), TG_OK);
        tg_params_zero_grad(r->p);
        tg_tape_reset(t);
    }
    tg_tape_free(t);
}

Test(checkpoint, buffers_resume_bit_for_bit)
{
    bn_run a, b, c;
    bn_make(&a, 1, true);
    bn_train(&a, 0, 6);
    bn_make(&b, 1, true);
    bn_train(&b, 0, 3);
    char *path = tmp_path("buffers");
    tg_checkpoint cb = {.params = b.p, .optim = b.o};
    cr_assert_eq(tg_checkpoint_save(&cb, path), TG_OK, "%s", tg_last_error());
    tg_optim_free(b.o);
    tg_params_free(b.p);
    bn_make(&b, 2, true);
    cb = (tg_checkpoint){.params = b.p, .optim = b.o};
    cr_assert_eq(tg_checkpoint_load(&cb, path), TG_OK, "%s", tg_last_error());
    cr_expect(b.bn.num_batches_tracked->data[0] == 3);
    bn_train(&b, 3, 3);
    cr_assert_eq(tg_params_state_count(a.p), 9); /* 6 parameters, 3 buffers */
    for (size_t i = 0; i < tg_params_state_count(a.p); i++) {
        const tg_tensor *x = tg_params_state_at(a.p, i), *y = tg_params_state_at(b.p, i);
        cr_expect(memcmp(x->data, y->data, (size_t)x->size * sizeof(tg_real)) == 0,
                  "%s differs", x->name);
    }
    cr_expect(a.bn.num_batches_tracked->data[0] == 6);

    bn_make(&c, 1, false);
    cb = (tg_checkpoint){.params = c.p};
    cr_expect_neq(tg_checkpoint_load(&cb, path), TG_OK);
    cr_expect(strstr(tg_last_error(), "has a tensor 'bn.weight' that this model has not"),
              "%s", tg_last_error());
    remove(path);
    free(path);
    tg_optim_free(a.o), tg_params_free(a.p);
    tg_optim_free(b.o), tg_params_free(b.p);
    tg_optim_free(c.o), tg_params_free(c.p);
}

/* The checkpoint is written beside the path under a name that exists
   nowhere yet: a file of the user's named <path>.tmp is left as it was (it
   was truncated, then renamed over the path), and an empty path is refused
   (it wrote ./.tmp, then removed it). */
Test(checkpoint, save_touches_no_file_but_its_own)
{
    run a;
    make_run(&a, 0, 5);
    train(&a, 1);
    char *path = tmp_path("own"), tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    cr_assert_not_null(f);
    fputs("mine", f);
    fclose(f);
    tg_checkpoint c = parts(&a);
    cr_assert_eq(tg_checkpoint_save(&c, path), TG_OK, "%s", tg_last_error());
    char buf[16] = {0};
    f = fopen(tmp, "rb");
    cr_assert_not_null(f, "the user's %s is gone", tmp);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    cr_expect(n == 4 && strcmp(buf, "mine") == 0, "the user's %s was changed", tmp);
    cr_expect_eq(tg_checkpoint_load(&c, path), TG_OK, "%s", tg_last_error());

    int st = tg_checkpoint_save(&c, "");
    cr_expect_eq(st, TG_ERR_INVALID, "status %d: %s", st, tg_last_error());
    cr_expect(strstr(tg_last_error(), "tg_checkpoint_save: the path is empty") != NULL, "%s",
              tg_last_error());
    remove(path);
    remove(tmp);
    free(path);
    free_run(&a);
}
