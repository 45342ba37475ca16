/* The op registry: built-ins are all there by name, user ops register,
   are found, run on the tape like built-ins, and bad or duplicate
   registrations are refused with a message. */
#include <criterion/criterion.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ops/ops_internal.h" /* the built-in tables, to check the registry holds them all */

#define tables tg_builtin_op_tables
#define N_TABLES tg_builtin_op_table_count

Test(registry, holds_every_builtin_by_name)
{
    size_t n = 0;
    for (size_t t = 0; t < N_TABLES; t++)
        for (size_t i = 0; i < tables[t]->n; i++, n++) {
            const tg_op *op = tables[t]->ops[i];
            cr_expect_eq(tg_op_find(op->name), op, "'%s' is not found as itself", op->name);
            cr_expect(tg_op_is_builtin(op), "'%s' is not marked built-in", op->name);
        }
    cr_expect_eq(tg_op_count(), n, "%zu ops registered, %zu in the tables (a duplicate name?)",
                 tg_op_count(), n);
    const char *core[] = {"add", "sub", "mul", "div", "neg", "scale", "add_scalar", "pow",
                          "exp", "log", "sqrt", "abs", "square", "matmul", "transpose",
                          "linear", "reshape", "sum", "mean", "max", "tanh", "relu", "sigmoid",
                          "gelu", "softmax", "mse_loss", "cross_entropy"};
    for (size_t i = 0; i < sizeof core / sizeof *core; i++)
        cr_expect_not_null(tg_op_find(core[i]), "built-in '%s' missing", core[i]);
    cr_expect_null(tg_op_find("no_such_op"));
    cr_expect_null(tg_op_find(NULL));
}

Test(registry, lists_every_op_once)
{
    size_t n = tg_op_count();
    cr_assert(n > 20);
    for (size_t i = 0; i < n; i++) {
        const tg_op *op = tg_op_at(i);
        cr_assert_not_null(op, "tg_op_at(%zu)", i);
        cr_expect_eq(tg_op_find(op->name), op, "'%s' listed but not found as itself", op->name);
        for (size_t j = 0; j < i; j++)
            cr_expect_str_neq(tg_op_at(j)->name, op->name, "'%s' listed twice", op->name);
    }
    cr_expect_null(tg_op_at(n));
}

/* y = c·x with c an attribute */
typedef struct {
    tg_real c;
} times_attr;

static int times_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                       size_t len)
{
    (void)msg, (void)len;
    *ndim = r->in[0]->ndim;
    for (int i = 0; i < *ndim; i++) shape[i] = r->in[0]->shape[i];
    return TG_OK;
}
static int times_forward(tg_record *r)
{
    tg_real c = ((const times_attr *)r->attr)->c;
    for (int64_t i = 0; i < r->out->size; i++) r->out->data[i] = c * r->in[0]->data[i];
    return TG_OK;
}
/* dx += c·g */
static void times_backward(tg_record *r)
{
    tg_real c = ((const times_attr *)r->attr)->c;
    for (int64_t i = 0; i < r->out->size; i++) r->in[0]->grad[i] += c * r->out->grad[i];
}

static tg_op make_times(const char *name)
{
    tg_op op = {.name = name, .n_inputs = 1, .attr_size = sizeof(times_attr),
                .shape = times_shape, .forward = times_forward, .backward = times_backward,
                .doc = "c * x"};
    return op;
}

static tg_tensor *f_times(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    times_attr a = {3};
    return tg_apply(t, (const tg_op *)ctx, in, 1, &a);
}

Test(registry, a_user_op_registers_and_runs_like_a_builtin)
{
    size_t before = tg_op_count();
    char name[32];
    snprintf(name, sizeof name, "times");
    tg_op local = make_times(name);
    cr_assert_eq(tg_op_register(&local), TG_OK, "%s", tg_last_error());
    /* the registry copied the op and its strings */
    memset(name, 0, sizeof name);
    local.forward = NULL;
    const tg_op *op = tg_op_find("times");
    cr_assert_not_null(op);
    cr_expect_neq(op, &local);
    cr_expect_str_eq(op->name, "times");
    cr_expect_str_eq(op->doc, "c * x");
    cr_expect_eq(op->forward, times_forward);
    cr_expect(!tg_op_is_builtin(op));
    cr_expect_eq(tg_op_count(), before + 1);
    cr_expect_eq(tg_op_at(before), op, "user ops are listed after the built-ins");

    /* on the tape, like any op: forward, record, backward */
    tg_tape *t = tg_tape_new();
    tg_real v[] = {1, -2, 0.5};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3), v), true);
    times_attr a = {3};
    tg_tensor *y = tg_apply(t, op, &x, 1, &a);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    cr_expect_eq(y->data[1], (tg_real)-6);
    cr_assert_eq(tg_backward(t, tg_sum(t, y, TG_ALL, false)), TG_OK, "%s", tg_tape_error(t));
    for (int i = 0; i < 3; i++) cr_expect_eq(x->grad[i], (tg_real)3);

    /* and the gradient checker accepts it */
    tg_gradcheck_result r = tg_gradcheck(f_times, (void *)op, &x, 1, NULL);
    cr_expect(r.status == TG_OK && r.ok, "%s", r.message);
    tg_tape_free(t);
}

/* A forward that finds a wrong value as it runs says why with
   tg_record_fail: the tape's message gives the reason, when the op runs
   and when a replay meets it; a forward failing without one still says
   "forward failed". sqrt_checked refuses a negative value; mute_fail
   fails without a word. */
static int sqrt_checked_forward(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++) {
        tg_real v = r->in[0]->data[i];
        if (v < 0)
            return tg_record_fail(r, TG_ERR_INVALID, "value %g at %lld is negative", (double)v,
                                  (long long)i);
        r->out->data[i] = (tg_real)sqrt((double)v);
    }
    return TG_OK;
}
static int mute_fail_forward(tg_record *r)
{
    (void)r;
    return TG_ERR_INVALID;
}

Test(registry, a_forward_says_why_it_failed)
{
    tg_op sq = {.name = "sqrt_checked", .n_inputs = 1, .shape = times_shape,
                .forward = sqrt_checked_forward, .backward = NULL, .doc = "sqrt, x >= 0"};
    tg_op mute = {.name = "mute_fail", .n_inputs = 1, .shape = times_shape,
                  .forward = mute_fail_forward, .doc = "fails"};
    tg_tape *t = tg_tape_new();
    tg_real v[] = {4, -9, 1};
    tg_tensor *x = tg_tensor_new(t, TG_SHAPE(3), v);
    cr_expect_null(tg_apply(t, &sq, &x, 1, NULL));
    cr_expect_str_eq(tg_tape_error(t), "sqrt_checked: value -9 at 1 is negative");
    tg_tape_reset(t);
    x = tg_tensor_new(t, TG_SHAPE(3), v);
    cr_expect_null(tg_apply(t, &mute, &x, 1, NULL));
    cr_expect_str_eq(tg_tape_error(t), "mute_fail: forward failed: invalid argument",
                     "no stale reason: %s", tg_tape_error(t));
    tg_tape_reset(t);
    /* in a replay, over the caller's memory */
    tg_tape_set_replayable(t, true);
    v[1] = 9;
    x = tg_requires_grad(tg_tensor_wrap(t, TG_SHAPE(3), v), true);
    cr_assert(tg_apply(t, &sq, &x, 1, NULL), "%s", tg_tape_error(t));
    cr_assert_eq(tg_tape_replay(t), TG_OK, "%s", tg_tape_error(t));
    v[2] = -1;
    cr_expect_eq(tg_tape_replay(t), TG_ERR_INVALID);
    cr_expect_str_eq(tg_tape_error(t),
                     "tg_tape_replay: record 0 (sqrt_checked): value -1 at 2 is negative");
    tg_tape_free(t);
}

Test(registry, refuses_duplicates_and_bad_ops_with_a_message)
{
    tg_op op = make_times("dup");
    cr_assert_eq(tg_op_register(&op), TG_OK, "%s", tg_last_error());
    cr_expect_eq(tg_op_register(&op), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "'dup' is already registered"), "%s", tg_last_error());

    tg_op relu = make_times("matmul");
    cr_expect_eq(tg_op_register(&relu), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "built-in"), "%s", tg_last_error());
    cr_expect_eq(tg_op_find("matmul"), tg_linalg_ops.ops[0], "the built-in is untouched");

    size_t n = tg_op_count();
    cr_expect_eq(tg_op_register(NULL), TG_ERR_INVALID);
    tg_op bad = make_times("");
    cr_expect_eq(tg_op_register(&bad), TG_ERR_INVALID);
    bad = make_times(NULL);
    cr_expect_eq(tg_op_register(&bad), TG_ERR_INVALID);
    bad = make_times("two words");
    cr_expect_eq(tg_op_register(&bad), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "space"), "%s", tg_last_error());
    bad = make_times("a_name_that_is_far_too_long_to_be_an_op_name_in_any_listing_at_all");
    cr_expect_eq(tg_op_register(&bad), TG_ERR_INVALID);
    bad = make_times("no_inputs");
    bad.n_inputs = 0;
    cr_expect_eq(tg_op_register(&bad), TG_ERR_INVALID);
    bad.n_inputs = TG_MAX_INPUTS + 1;
    cr_expect_eq(tg_op_register(&bad), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "inputs"), "%s", tg_last_error());
    bad = make_times("no_forward");
    bad.forward = NULL;
    cr_expect_eq(tg_op_register(&bad), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "forward"), "%s", tg_last_error());
    bad = make_times("reserved_flag");
    bad.flags = TG_OP_ALIAS | (1u << 30);
    cr_expect_eq(tg_op_register(&bad), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "0x40000000") && strstr(tg_last_error(), "reserved"), "%s",
              tg_last_error());
    bad.flags = 1u << 16;
    cr_expect_eq(tg_op_register(&bad), TG_ERR_INVALID);
    cr_expect_eq(tg_op_count(), n, "nothing bad was added");
    cr_expect_null(tg_op_find("reserved_flag"));
    cr_expect_null(tg_op_find("no_forward"));
}

/* An op passed to tg_apply without registering it is checked the same way:
   a reserved bit (here the one that lets a rule write a fresh gradient
   instead of adding) is refused with the bits named, and nothing is
   recorded; the library's own ops that set such bits still run. */
Test(registry, apply_refuses_reserved_flags_on_an_unregistered_op)
{
    tg_tape *t = tg_tape_new();
    tg_real v[] = {1, -2, 0.5};
    tg_tensor *x = tg_requires_grad(tg_tensor_new(t, TG_SHAPE(3), v), true);
    tg_op bad = make_times("reserved_on_apply");
    bad.flags = 1u << 30;
    times_attr a = {3};
    size_t recs = tg_tape_record_count(t);
    cr_expect_null(tg_apply(t, &bad, &x, 1, &a));
    cr_expect(strstr(tg_tape_error(t), "reserved_on_apply:") &&
                  strstr(tg_tape_error(t), "0x40000000") && strstr(tg_tape_error(t), "reserved"),
              "%s", tg_tape_error(t));
    cr_expect_eq(tg_tape_record_count(t), recs, "nothing recorded");
    tg_tape_free(t);

    t = tg_tape_new();
    tg_real w[] = {1, 1, 1, 2, 0, 0}, b[] = {1, 2};
    tg_tensor *in[3] = {tg_tensor_new(t, TG_SHAPE(1, 3), v), tg_tensor_new(t, TG_SHAPE(2, 3), w),
                        tg_tensor_new(t, TG_SHAPE(2), b)};
    const tg_op *linear = tg_op_find("linear");
    cr_assert(linear && (linear->flags & ~0xFFFFu), "linear is a built-in that sets a reserved bit");
    tg_tensor *y = tg_apply(t, linear, in, 3, NULL);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    /* x·Wᵀ + b = (1 - 2 + 0.5 + 1, 2 + 2) */
    cr_expect(y->data[0] == (tg_real)0.5 && y->data[1] == 4, "%g %g", (double)y->data[0],
              (double)y->data[1]);
    tg_tape_free(t);
}

Test(registry, unregister_hides_user_ops_only)
{
    tg_op op = make_times("temp");
    cr_assert_eq(tg_op_register(&op), TG_OK);
    const tg_op *copy = tg_op_find("temp");
    size_t n = tg_op_count();
    cr_expect_eq(tg_op_unregister("temp"), TG_OK);
    cr_expect_null(tg_op_find("temp"));
    cr_expect_eq(tg_op_count(), n - 1);
    cr_expect_str_eq(copy->name, "temp", "the copy stays valid for tapes that recorded it");
    cr_expect_eq(tg_op_unregister("temp"), TG_ERR_INVALID);
    cr_expect_eq(tg_op_unregister("add"), TG_ERR_INVALID);
    cr_expect(strstr(tg_last_error(), "built-in"), "%s", tg_last_error());
    cr_expect_not_null(tg_op_find("add"));
    cr_expect_eq(tg_op_unregister(NULL), TG_ERR_INVALID);
    /* the name is free again */
    cr_expect_eq(tg_op_register(&op), TG_OK);
    cr_expect_not_null(tg_op_find("temp"));
}

/* Several threads register, find and list at once; the first use (the
   built-ins' registration) races too, since no thread touched it before. */
#define N_THREADS 4
#define PER_THREAD 50

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%d_op%d", id, i);
        tg_op op = make_times(name);
        if (tg_op_register(&op) != TG_OK) return (void *)1;
        const tg_op *found = tg_op_find(name);
        if (!found || strcmp(found->name, name) != 0) return (void *)2;
        if (!tg_op_find("matmul")) return (void *)3;
        (void)tg_op_at(tg_op_count() - 1);
    }
    return NULL;
}

Test(registry, is_thread_safe)
{
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i), 0);
    for (int i = 0; i < N_THREADS; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        cr_expect_null(ret, "thread %d failed at step %d", i, (int)(intptr_t)ret);
    }
    size_t builtins = 0;
    for (size_t t = 0; t < N_TABLES; t++) builtins += tables[t]->n;
    cr_expect_eq(tg_op_count(), builtins + N_THREADS * PER_THREAD);
}

/* A built-in found by name and run with tg_apply without its (private)
   attribute struct, or with no input array, is refused with a message: no
   crash (each op's shape check and kernels read their attributes). */
/* An op without attributes needs none: the registry's exp runs with NULL,
   and its gradient is exp(x). */
Test(registry, attribute_free_builtins_run_with_null_attributes)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_ones(t, TG_SHAPE(3)), true);
    const tg_op *op = tg_op_find("exp");
    cr_assert_not_null(op);
    cr_expect_eq(op->attr_size, 0);
    tg_tensor *y = tg_apply(t, op, &x, 1, NULL);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    cr_expect_float_eq(y->data[2], 2.718281828, 1e-6);
    cr_assert_eq(tg_backward(t, tg_sum(t, y, TG_ALL, false)), TG_OK, "%s", tg_tape_error(t));
    cr_expect_float_eq(x->grad[0], 2.718281828, 1e-6);
    tg_tape_free(t);
}

Test(registry, builtins_run_through_apply_without_attributes_fail_cleanly)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_ones(t, TG_SHAPE(2, 3)), true);
    tg_tensor *y = tg_ones(t, TG_SHAPE(2, 3));
    size_t refused = 0;
    for (size_t i = 0; i < tg_op_count(); i++) {
        const tg_op *op = tg_op_at(i);
        tg_tensor *in[TG_MAX_INPUTS] = {x, y, y, y};
        tg_tape_clear_error(t);
        tg_tensor *out = tg_apply(t, op, in, op->n_inputs, NULL);
        if (op->attr_size) {
            cr_expect_null(out, "'%s' ran with NULL attributes", op->name);
            cr_expect(strstr(tg_tape_error(t), "attr is NULL") != NULL, "'%s': message '%s'",
                      op->name, tg_tape_error(t));
            refused++;
        } else if (!out) {
            cr_expect(tg_tape_error(t)[0] != '\0', "'%s' failed without a message", op->name);
        }
        tg_tape_clear_error(t);
        cr_expect_null(tg_apply(t, op, NULL, op->n_inputs, NULL), "'%s' with no inputs", op->name);
        cr_expect(tg_tape_failed(t));
    }
    cr_expect_gt(refused, 30, "only %zu ops take attributes?", refused);
    tg_tape_free(t);
}

/* ------------------------------------------------ rules that apply ops */

/* y = x, whose backward rule also applies ops on its tape (a rule written
   with ops, or one that logs), or calls a backward from inside itself */
static int rule_mode, inner_status;
static int ident_forward(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++) r->out->data[i] = r->in[0]->data[i];
    return TG_OK;
}
static void ident_backward(tg_record *r)
{
    for (int64_t i = 0; i < r->out->size; i++) r->in[0]->grad[i] += r->out->grad[i];
    tg_tensor *x = r->in[0];
    if (rule_mode == 0)
        for (int k = 0; k < 600; k++) (void)tg_add(r->tape, x, x); /* > the records' capacity */
    else
        inner_status = tg_backward(r->tape, r->out);
    /* the record the rule was given is still readable */
    x->grad[0] += r->in[0] == x ? 0 : 1000;
}

static const tg_op ident_op = {.name = "ident_rule_applies", .n_inputs = 1,
                               .shape = times_shape, .forward = ident_forward,
                               .backward = ident_backward, .doc = "y = x"};

/* Σ ident(x)² of x = ones([4]) */
static tg_tensor *ident_loss(tg_tape *t, tg_tensor **x)
{
    *x = tg_requires_grad(tg_ones(t, TG_SHAPE(4)), true);
    tg_tensor *y = tg_apply(t, &ident_op, x, 1, NULL);
    tg_tensor *loss = tg_sum(t, tg_mul(t, y, y), TG_ALL, false);
    cr_assert_not_null(loss, "%s", tg_tape_error(t));
    return loss;
}

Test(registry, a_backward_rule_may_apply_ops_and_records_nothing)
{
    /* the ops appended records under the walk, which moved the array of
       records: a use after free under ASan (found by a misuse fuzzer) */
    tg_tape *t = tg_tape_new();
    tg_tensor *x, *loss = ident_loss(t, &x);
    size_t n = tg_tape_record_count(t);
    rule_mode = 0;
    cr_assert_eq(tg_backward(t, loss), TG_OK, "%s", tg_tape_error(t));
    for (int i = 0; i < 4; i++) cr_expect_eq(x->grad[i], 2, "d(Σx²)/dx = 2x");
    cr_expect_eq(tg_tape_record_count(t), n, "a first-order rule's ops are not recorded");
    cr_expect(tg_tape_is_recording(t), "recording is on again after the walk");
    tg_tape_free(t);
}

Test(registry, a_backward_from_inside_a_rule_is_refused)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x, *loss = ident_loss(t, &x);
    rule_mode = 1;
    inner_status = TG_OK;
    (void)tg_backward(t, loss);
    cr_expect_eq(inner_status, TG_ERR_STATE);
    cr_expect(strstr(tg_tape_error(t), "tg_backward: called while a backward walk on this tape "
                                       "runs its gradient rules"), "%s", tg_tape_error(t));
    tg_tape_free(t);
}

/* a view (TG_OP_ALIAS) whose output is larger than its input */
static int double_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                        size_t len)
{
    (void)msg, (void)len;
    *ndim = 1;
    shape[0] = 2 * r->in[0]->size;
    return TG_OK;
}
static int view_forward(tg_record *r)
{
    (void)r;
    return TG_OK;
}

Test(registry, a_view_larger_than_its_input_is_refused)
{
    /* later ops read past the input (a heap overflow; found by a misuse fuzzer) */
    tg_op op = {.name = "bad_view", .n_inputs = 1, .flags = TG_OP_ALIAS, .shape = double_shape,
                .forward = view_forward, .backward = times_backward, .doc = "a bad view"};
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_SHAPE(3));
    cr_expect_null(tg_apply(t, &op, &x, 1, NULL));
    cr_expect(strstr(tg_tape_error(t), "bad_view: a view (TG_OP_ALIAS) of 6 elements needs an "
                                       "input 0 of at least as many; it has 3"),
              "%s", tg_tape_error(t));
    tg_tape_free(t);
}

/* a vjp that makes its gradient on another tape */
static tg_tape *elsewhere;
static int elsewhere_vjp(tg_tape *t, const tg_record *r, tg_tensor *g, tg_tensor **dx)
{
    (void)t, (void)g;
    dx[0] = tg_ones(elsewhere, r->in[0]->ndim, r->in[0]->shape);
    return TG_OK;
}

Test(registry, a_vjp_gradient_of_another_tape_is_refused)
{
    /* it was returned as the gradient, and dangled once that tape was freed */
    tg_op op = {.name = "vjp_elsewhere", .n_inputs = 1, .shape = times_shape,
                .forward = ident_forward, .backward = times_backward, .doc = "y = x",
                .vjp = elsewhere_vjp};
    tg_tape *t = tg_tape_new();
    elsewhere = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_ones(t, TG_SHAPE(2)), true);
    tg_tensor *y = tg_sum(t, tg_apply(t, &op, &x, 1, NULL), TG_ALL, false);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    cr_expect_null(tg_grad1(t, y, x, true));
    cr_expect(strstr(tg_tape_error(t), "the vjp rule of vjp_elsewhere gave input 0 a gradient "
                                       "that is not a tensor of this tape"),
              "%s", tg_tape_error(t));
    tg_tape_free(elsewhere);
    tg_tape_free(t);
}
