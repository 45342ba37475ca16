/* Golden data written by PyTorch (tests/gen_golden_*.py) and the helpers
   that run a case through tapegrad and compare.

   File format (text, one item per line, values on the line after a header):
     case <name> <op>
     attr <key> <value>              0 or more, numbers
     in <ndim> <d0> <d1> ...         an input tensor (values on the next line)
     index <n>                       an int64 input (class indices), next line
     out <ndim> <dims...>            PyTorch's output
     R <ndim> <dims...>              the random weights: loss = sum(out * R)
     grad <k> <ndim> <dims...>       PyTorch's d(loss)/d(input k)
     end
   Values are printed by Python's repr, so they are exact; nan/inf allowed. */
#ifndef TG_TEST_GOLDEN_H
#define TG_TEST_GOLDEN_H

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
    gt_array out, R;
    bool has_grad[TG_MAX_INPUTS];
    gt_array grad[TG_MAX_INPUTS];
} gt_case;

typedef struct gt_file {
    int n;
    gt_case *cases;
} gt_file;

/* Loads TG_TEST_DATA_DIR/<name>_f32.txt or _f64.txt, matching the build's
   tg_real. NULL (and a message on stderr) on failure. */
gt_file *gt_load(const char *name);
void gt_free(gt_file *f);

/* The attribute `key` of a case, or `dflt`. */
double gt_attr(const gt_case *c, const char *key, double dflt);

/* Builds the op's output from the case's inputs (tensors on the tape, those
   with a golden gradient marked requires-grad). */
typedef tg_tensor *(*gt_build_fn)(tg_tape *t, tg_tensor **in, const gt_case *c);

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

/* Compares n values; on a mismatch reports through cr_expect with `what`
   and the worst element. Returns true when all are close. NaN matches NaN,
   ±inf must match exactly. */
bool gt_expect_close(const tg_real *got, const double *want, int64_t n, gt_tol tol,
                     const char *what);

/* tdist: the Euclidean norm of got − want, over the finite values. */
double gt_tdist(const tg_real *got, const double *want, int64_t n);

#endif
