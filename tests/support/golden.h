/* Golden data written by PyTorch (tests/gen_golden_*.py, through
   tests/golden_writer.py) and the helpers that run a case through tapegrad
   and compare.

   File format (text, one item per line, values on the line after a header):
     case <name> <op>
     attr <key> <value>              0 or more, numbers
     in <ndim> <d0> <d1> ...         an input tensor (values on the next line)
     index <n> [<ndim> <dims...>]    an int64 input (class indices, positions),
                                     next line; flat ([n]) without a shape
     out <ndim> <dims...>            PyTorch's output
     R <ndim> <dims...>              the random weights: loss = sum(out * R)
     grad <k> <ndim> <dims...>       PyTorch's g_k = d(loss)/d(input k)
     order <n> [kink|nonfinite]      the highest order the case holds (below)
     V <k> <ndim> <dims...>          a random direction for g_k (input k's shape)
     gg <j> <ndim> <dims...>         d(s)/d(input j), s = Σ_k sum(g_k * V_k)
     W <j> <ndim> <dims...>          a random direction for gg_j
     ggg <i> <ndim> <dims...>        d(t)/d(input i), t = Σ_j sum(gg_j * W_j)
     end
   Values are printed by Python's repr, so they are exact; nan/inf allowed.

   Higher orders. grad, V, gg, W and ggg are written for exactly the inputs
   that require grad. gg is the Hessian of loss times V (Σ_k H_jk V_k), ggg the
   third derivative of loss contracted with V and W. Where s (or t) does not
   depend on an input, or on any input (a linear op: add, sum, reshape; or a
   piecewise constant gradient: relu, max), the values are zeros. The order
   line:
     order 1 nonfinite   an input, the output or a first gradient is ±inf or
                         NaN: no V, gg (PyTorch's higher derivatives there are
                         artefacts of its formulas, 0 * inf and the like);
     order 2 / order 3   V and gg (and W and ggg), meant to be compared;
     order 2 kink        (or 3) the inputs sit exactly on a kink or a clamp of
                         the op (relu at 0, huber at |d| = delta, max at a tie,
                         bce at p = 0): the values are PyTorch's choice of side
                         there, not a property of the function; tapegrad makes
                         the same choice, and they are compared, except for
                         the few cases golden.c lists (kink_differs).
   Cases without gradients have no order line (order 0). Files written before
   the higher orders have no order line either: the order is then 1 where the
   case has gradients. mul, matmul, tanh and softplus cases carry order 3
   (where finite).

   hardsigmoid's higher orders are those of relu6(x + 3) / 6, the same
   function (PyTorch 1.13 cannot differentiate hardsigmoid's backward).

   The second-order runner, to write on tg_grad (its specification):
     int gt_run_op2(const gt_file *f, const char *op, gt_build_fn build, gt_tol tol);
   For every case of `op` with order >= 2 (order 0 and 1 are skipped: gt_run_op
   covers their first order):
     1. the tape, the inputs and out = build(t, in, c) exactly as gt_run_op
        (in[k] requires grad iff has_grad[k]; the others, targets and class
        weights, are constants); in_g: the m inputs with has_grad, in order;
     2. R: a constant tensor of c->R (out's shape);
          tg_grad(t, 1, &out, &R, m, in_g, g, &(tg_grad_opts){.create_graph = true,
                  .allow_unused = true})
        and each g_k compared with c->grad[k] (the create_graph pass must give
        the first order of the fast pass);
     3. s = Σ_k tg_sum(t, tg_mul(t, g_k, V_k), TG_ALL, false), V_k constant
        tensors of c->V[k];
     4. gg: tg_grad(t, 1, &s, NULL, m, in_g, gg, {.create_graph = (order == 3),
        .allow_unused = true}), each gg_j compared with c->gg[j]. s may reach
        no input at all (add, sum, reshape, relu, max: the first gradient is
        constant); the file's gg are zeros then, and the runner expects zeros
        whichever way tg_grad answers a constant output;
     5. order 3: t = Σ_j sum(gg_j · W_j) as in 3 with c->W[j]; ggg: tg_grad of
        t (no create_graph), each ggg_i compared with c->ggg[i];
     6. a kink case that golden.c's kink_differs lists (PyTorch's
        convention and not tapegrad's): its first order is compared as
        above; of its higher orders, check that every gradient exists with
        its input's shape, but do not fail on the values (print the tdist);
        other kink cases are compared as above;
     7. failures through cr_expect naming the case, the order and the input
        (gt_expect_close with what = "<case>: gg of input <j>" and the like);
        tdist lines as gt_run_op prints them; returns the number of cases
        run, and expects at least one.
   Float files: PyTorch computed gg and ggg in float32. Measured when they
   were written: every value of every case without kink lies within
   gt_default_tol() of the float64 derivative at the same float32 inputs, R,
   V and W (the worst needs rtol 5e-6, linear_big), so the default
   tolerances are the ones to start from. */
#ifndef TG_TEST_GOLDEN_H
#define TG_TEST_GOLDEN_H

#include <criterion/parameterized.h>
#include <tapegrad.h>

#define GT_MAX_ATTR 16

typedef struct gt_array {
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    int64_t n;
    double *v;
} gt_array;

typedef struct gt_case {
    char name[128];
    char op[64];
    int n_attr;
    char attr_key[GT_MAX_ATTR][32];
    double attr_val[GT_MAX_ATTR];
    int n_in;
    gt_array in[TG_MAX_INPUTS];
    int64_t n_index;
    int64_t *index; /* NULL when the case has none */
    int index_ndim; /* the index's shape: [n_index] unless the file gives one */
    int64_t index_shape[TG_MAX_DIMS];
    gt_array out, R;
    bool has_grad[TG_MAX_INPUTS];
    gt_array grad[TG_MAX_INPUTS];
    int order; /* 0 none, 1 grad, 2 and V, gg, 3 and W, ggg (see above) */
    bool kink; /* order >= 2 at a kink or clamp: PyTorch's choice of side */
    bool has_V[TG_MAX_INPUTS], has_gg[TG_MAX_INPUTS]; /* each = has_grad when order >= 2 */
    gt_array V[TG_MAX_INPUTS], gg[TG_MAX_INPUTS];
    bool has_W[TG_MAX_INPUTS], has_ggg[TG_MAX_INPUTS]; /* each = has_grad when order 3 */
    gt_array W[TG_MAX_INPUTS], ggg[TG_MAX_INPUTS];
} gt_case;

typedef struct gt_file {
    int n;
    gt_case *cases;
} gt_file;

/* Loads TG_TEST_DATA_DIR/<name>_f32.txt or _f64.txt, matching the build's
   tg_real. Checks each case as it ends: out and R of one shape, every
   per-input array of its input's shape, the orders' arrays present for
   exactly the inputs with a gradient. NULL (and a message on stderr naming
   the line) on failure. */
gt_file *gt_load(const char *name);
void gt_free(gt_file *f);

/* The attribute `key` of a case, or `dflt`. */
double gt_attr(const gt_case *c, const char *key, double dflt);

/* Builds the op's output from the case's inputs (tensors on the tape, those
   with a golden gradient marked requires-grad). */
typedef tg_tensor *(*gt_build_fn)(tg_tape *t, tg_tensor **in, const gt_case *c);
/* The builder of an op of a golden file, by the op's name, or NULL (each
   family has one: a table through tests/ops/builder_table.h, or a function
   of its own). */
typedef gt_build_fn (*gt_find_fn)(const char *op);

/* Tolerances of the golden comparisons: |got − want| ≤ atol + rtol·|want|.
   float: rtol 1e-5, atol 1e-6;  double: rtol 1e-12, atol 1e-14. */
typedef struct gt_tol {
    double rtol, atol;
} gt_tol;
gt_tol gt_default_tol(void);

/* Runs every case of `f` whose op is `op` through `build`; compares the
   output and every input gradient (backward with dout = R, which is the
   gradient of sum(out * R)). Unless TG_TEST_QUIET is set, prints for each
   case tdist, the Euclidean norm of the difference between tapegrad's tensor
   and PyTorch's, ‖got − want‖₂ (the metric the revdiff notebooks print,
   pyutils/metrics.py in https://github.com/obs145628/ml-notebooks).
   Returns the number of cases run; failures are reported with Criterion's
   cr_expect so the test fails and names the case, tensor and worst element. */
int gt_run_op(const gt_file *f, const char *op, gt_build_fn build, gt_tol tol);
/* The second (and third) order of every case of `op`: see the comment at
   the top of this file. */
int gt_run_op2(const gt_file *f, const char *op, gt_build_fn build, gt_tol tol);

/* Compares n values; on a mismatch reports through cr_expect with `what`
   and the worst element. Returns true when all are close. NaN matches NaN,
   ±inf must match exactly. */
bool gt_expect_close(const tg_real *got, const double *want, int64_t n, gt_tol tol,
                     const char *what);

/* tdist: the Euclidean norm of got − want, over the finite values. */
double gt_tdist(const tg_real *got, const double *want, int64_t n);

/* The vjp rules against the fast backward, at any point: the gradients of
   sum(out · R), R drawn from `seed` in [-1, 1), with respect to the n
   inputs (each must require grad), by tg_grad without and with
   create_graph; failures through cr_expect naming `what` and the input.
   The two walks add the same terms, but a rule may group them differently
   (a sum in double against a chain of tg_add): gt_default_tol(). */
void gt_expect_vjp_matches(tg_tape *t, tg_tensor *out, int n, tg_tensor *const *in, uint64_t seed,
                           const char *what);

/* ---- helpers of the finite-difference tables and the refusal tests */

/* A uniform double in [0, 1) from a splitmix64 stream. */
double gt_unit(uint64_t *state);

/* Criterion's parameters 0, 1, ..., n − 1 (in its shared memory): a
   parameterized test takes the number of a case in a table, since each
   test runs in a process image of its own, where the table's pointers
   differ. */
struct criterion_test_params gt_case_numbers(size_t n);

/* tg_gradcheck(fn, ctx, in, n) with its defaults, expecting it to run,
   to check `want` input elements and to pass; failures name `what`. */
void gt_expect_gradcheck(tg_gradcheck_fn fn, void *ctx, tg_tensor *const *in, int n, int64_t want,
                         const char *what);

/* y and x, each flattened, joined: a builder's output whose gradient
   reaches x through two records, so that a rule that writes its input's
   gradient instead of adding to it shows. NULL if y is. */
tg_tensor *gt_with_input(tg_tape *t, tg_tensor *y, tg_tensor *x);

/* Case i is the first of its op in f (a loop over the ops of a file). */
bool gt_first_of_op(const gt_file *f, int i);

/* A new tape for each test of a suite with .init = gt_tape_setup and
   .fini = gt_tape_teardown (the refusal tests). */
extern tg_tape *gt_tape;
void gt_tape_setup(void);
void gt_tape_teardown(void);

/* The tape's message contains each of the n strings (and exists); it is
   cleared afterwards. GT_REFUSED also expects `result` (an op's) to be
   NULL. */
void gt_expect_message(tg_tape *t, const char *const *parts, int n);
#define GT_MESSAGE(t, ...)                                                                  \
    gt_expect_message((t), (const char *const[]){__VA_ARGS__},                               \
                      (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))
#define GT_REFUSED(t, result, ...)                                                          \
    do {                                                                                     \
        cr_expect((result) == NULL, "the call should have failed (message so far: \"%s\")",  \
                  tg_tape_error(t));                                                         \
        GT_MESSAGE((t), __VA_ARGS__);                                                        \
    } while (0)

#endif
