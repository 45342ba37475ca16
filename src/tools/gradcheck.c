/* tg_gradcheck: analytical gradients (tg_backward) against central finite
   differences.

     numerical  J[:, k] ≈ (f(x + h·e_k) − f(x − h·e_k)) / (2h)   one column per input element,
                two evaluations of f, each on a freshly reset tape
     analytical J[j, :] = backward with dout = e_j               one row per output element

   and every entry is compared with torch.allclose's rule,
   |analytical − numerical| ≤ atol + rtol·|numerical|. When the Jacobian is
   too large to hold (or the caller asks for it), rows become random unit
   vectors v and the comparison is vᵀJ against vᵀ·(numerical columns). */
#include "core/internal.h"

#include <inttypes.h>
#include <stdlib.h>

#define GC_FULL_MAX ((int64_t)1 << 22) /* Jacobian entries held at most */
#define GC_DEFAULT_PROJECTIONS 4

tg_gradcheck_opts tg_gradcheck_defaults(void)
{
    tg_gradcheck_opts o = {0};
#ifdef TG_DOUBLE
    o.eps = 1e-6; /* torch.autograd.gradcheck */
    o.atol = 1e-5;
    o.rtol = 1e-3;
#else
    o.eps = 1e-3; /* see the header: rounding u·|f|/h vs truncation h²·|f‴|/6 */
    o.atol = 1e-2;
    o.rtol = 1e-2;
#endif
    o.report = NULL;
    o.seed = 0x5eed;
    o.projections = 0;
    return o;
}

/* splitmix64 (Steele, Lea, Flood 2014): portable, the same stream everywhere. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform in [−1, 1) */
static double uniform_pm1(uint64_t *s) { return (double)(splitmix64(s) >> 11) * 0x1p-52 - 1.0; }

typedef struct gc_state {
    tg_gradcheck_fn fn;
    void *ctx;
    tg_tensor *const *src; /* [n] the caller's inputs: the point */
    int n;
    tg_tape *t;
    tg_tensor **in;        /* [n] copies on t, rebuilt for every evaluation */
} gc_state;

/* f at the point, or with input `pi`'s element k set to `value` (pi < 0:
   unperturbed). Every evaluation starts from a reset tape. */
static tg_tensor *evaluate(gc_state *g, int pi, int64_t k, tg_real value)
{
    tg_tape_reset(g->t);
    for (int i = 0; i < g->n; i++) {
        const tg_tensor *s = g->src[i];
        if (!s) {
            g->in[i] = NULL;
            continue;
        }
        g->in[i] = s->size ? tg_tensor_new(g->t, s->ndim, s->shape, s->data)
                           : tg_zeros(g->t, s->ndim, s->shape);
        if (!g->in[i]) return NULL;
        if (s->flags & TG_REQUIRES_GRAD) tg_requires_grad(g->in[i], true);
        if (s->name) tg_tensor_set_name(g->in[i], s->name);
    }
    if (pi >= 0) g->in[pi]->data[k] = value;
    tg_tensor *out = g->fn(g->t, g->in, g->n, g->ctx);
    if (out && tg_tape_failed(g->t)) return NULL; /* an op failed but fn went on */
    return out;
}

/* "[1,2]": the multi-index of flat index k in x's shape. */
static char *index_str(const tg_tensor *x, int64_t k, char *buf, size_t len)
{
    int64_t idx[TG_MAX_DIMS];
    for (int d = x->ndim - 1; d >= 0; d--) {
        int64_t n = x->shape[d] ? x->shape[d] : 1;
        idx[d] = k % n;
        k /= n;
    }
    return tg_dims_str(x->ndim, idx, buf, len);
}

static const char *input_label(const tg_tensor *x, char *buf, size_t len)
{
    if (x && x->name)
        snprintf(buf, len, " '%s'", x->name);
    else
        buf[0] = '\0';
    return buf;
}

/* One failure to run: status, message, and tg_last_error. */
static void fail_run(tg_gradcheck_result *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_run(tg_gradcheck_result *res, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
    res->status = status;
    res->ok = false;
    tg_set_error(status, "%s", res->message);
}

tg_gradcheck_result tg_gradcheck(tg_gradcheck_fn fn, void *ctx, tg_tensor *const *inputs,
                                 int n_inputs, const tg_gradcheck_opts *opts)
{
    tg_gradcheck_result res = {.status = TG_OK, .worst_input = -1, .worst_index = -1,
                               .worst_output = 0};
    tg_gradcheck_opts o = opts ? *opts : tg_gradcheck_defaults();
    gc_state g = {fn, ctx, inputs, n_inputs, NULL, NULL};
    int64_t *offset = NULL;     /* [n] where each checked input starts among the columns */
    int64_t *in_failed = NULL;  /* [n] per input: elements outside tolerance */
    double *in_maxerr = NULL;   /* [n] per input: the largest |a − n| */
    double *A = NULL;           /* [rows, total] analytical rows of J (or vᵀJ) */
    double *V = NULL;           /* [rows, M] the projection vectors */
    double *fp = NULL, *col = NULL; /* [M] f(x + h), then the numerical column */
    tg_real *dout = NULL;       /* [M] */

    if (!fn || n_inputs <= 0 || !inputs) {
        fail_run(&res, TG_ERR_INVALID, "tg_gradcheck: %s",
                 !fn ? "fn is NULL" : "needs at least one input");
        return res;
    }
    if (!(o.eps > 0) || !isfinite(o.eps) || !(o.atol >= 0) || !(o.rtol >= 0) ||
        o.projections < 0) {
        fail_run(&res, TG_ERR_INVALID,
                 "tg_gradcheck: invalid options (eps %g must be > 0, atol %g and rtol %g >= 0, "
                 "projections %d >= 0)",
                 o.eps, o.atol, o.rtol, o.projections);
        return res;
    }
    offset = calloc((size_t)n_inputs, sizeof *offset);
    in_failed = calloc((size_t)n_inputs, sizeof *in_failed);
    in_maxerr = calloc((size_t)n_inputs, sizeof *in_maxerr);
    g.in = calloc((size_t)n_inputs, sizeof *g.in);
    g.t = tg_tape_new();
    if (!offset || !in_failed || !in_maxerr || !g.in || !g.t) {
        fail_run(&res, TG_ERR_NOMEM, "tg_gradcheck: out of memory");
        goto done;
    }

    /* which elements are checked: every element of every input that requires grad */
    int64_t total = 0;
    int n_checked_inputs = 0;
    for (int i = 0; i < n_inputs; i++) {
        const tg_tensor *s = inputs[i];
        offset[i] = total;
        if (!s || !(s->flags & TG_REQUIRES_GRAD)) continue;
        if (s->size > 0 && !s->data) {
            fail_run(&res, TG_ERR_INVALID, "tg_gradcheck: input %d has no data", i);
            goto done;
        }
        total += s->size;
        n_checked_inputs++;
    }
    if (n_checked_inputs == 0) {
        fail_run(&res, TG_ERR_INVALID,
                 "tg_gradcheck: no input requires grad (mark the ones to check with "
                 "tg_requires_grad)");
        goto done;
    }

    /* ---- the point: output shape and the analytical Jacobian */
    tg_tensor *out = evaluate(&g, -1, 0, 0);
    if (!out) {
        fail_run(&res, TG_ERR_STATE, "tg_gradcheck: fn failed at the point: %s",
                 tg_tape_error(g.t)[0] ? tg_tape_error(g.t) : "it returned NULL");
        goto done;
    }
    const int out_ndim = out->ndim;
    int64_t out_shape[TG_MAX_DIMS];
    for (int d = 0; d < out_ndim; d++) out_shape[d] = out->shape[d];
    const int64_t M = out->size;

    bool full = o.projections == 0 && (M == 0 || M <= GC_FULL_MAX / (total ? total : 1));
    int64_t rows = full ? M : (o.projections ? o.projections : GC_DEFAULT_PROJECTIONS);
    if (total > 0 && rows > 0 && rows > INT64_MAX / (int64_t)sizeof(double) / total) {
        fail_run(&res, TG_ERR_NOMEM, "tg_gradcheck: the check is too large");
        goto done;
    }
    A = calloc((size_t)(rows * total) + 1, sizeof *A);
    dout = calloc((size_t)M + 1, sizeof *dout);
    fp = calloc((size_t)M + 1, sizeof *fp);
    col = calloc((size_t)M + 1, sizeof *col);
    if (!full) V = calloc((size_t)(rows * M) + 1, sizeof *V);
    if (!A || !dout || !fp || !col || (!full && !V)) {
        fail_run(&res, TG_ERR_NOMEM, "tg_gradcheck: out of memory for a %" PRId64 " x %" PRId64
                                     " check", rows, total);
        goto done;
    }
    if (!full) {
        uint64_t s = o.seed;
        for (int64_t r = 0; r < rows; r++) {
            double *v = V + r * M, norm = 0;
            for (int64_t j = 0; j < M; j++) {
                v[j] = uniform_pm1(&s);
                norm += v[j] * v[j];
            }
            norm = sqrt(norm);
            for (int64_t j = 0; j < M; j++) v[j] = norm > 0 ? v[j] / norm : 0;
        }
    }
    /* An output that does not require grad does not depend on the checked
       inputs through the tape: its analytical Jacobian is zero, and any
       numerical dependence will show as a failure. */
    if (M > 0 && (out->flags & TG_REQUIRES_GRAD)) {
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t j = 0; j < M; j++)
                dout[j] = full ? (tg_real)(j == r) : (tg_real)V[r * M + j];
            for (int i = 0; i < n_inputs; i++) tg_zero_grad(g.in[i]);
            int st = tg_backward_grad(g.t, out, dout);
            if (st != TG_OK) {
                fail_run(&res, st, "tg_gradcheck: backward failed: %s", tg_tape_error(g.t));
                goto done;
            }
            for (int i = 0; i < n_inputs; i++) {
                const tg_tensor *x = g.in[i];
                if (!x || !(inputs[i]->flags & TG_REQUIRES_GRAD) || !x->grad) continue;
                for (int64_t k = 0; k < x->size; k++)
                    A[r * total + offset[i] + k] = (double)x->grad[k];
            }
        }
    }

    /* ---- numerical columns, compared as they come */
    double worst_score = -1;
    tg_tape_set_recording(g.t, false); /* values only: no records needed */
    for (int i = 0; i < n_inputs; i++) {
        const tg_tensor *s = inputs[i];
        if (!s || !(s->flags & TG_REQUIRES_GRAD)) continue;
        for (int64_t k = 0; k < s->size; k++) {
            double x = (double)s->data[k];
            double h = o.eps * (fabs(x) > 1 ? fabs(x) : 1);
            tg_real xp = (tg_real)(x + h), xm = (tg_real)(x - h);
            double step = (double)xp - (double)xm; /* the step actually taken */
            if (!(step > 0)) {
                fail_run(&res, TG_ERR_INVALID,
                         "tg_gradcheck: eps %g is too small to move input %d element %" PRId64
                         " (%g) in %s",
                         o.eps, i, k, x, tg_real_name());
                goto done;
            }
            for (int side = 0; side < 2; side++) {
                tg_tensor *y = evaluate(&g, i, k, side == 0 ? xp : xm);
                bool same = y && y->ndim == out_ndim && y->size == M;
                for (int d = 0; same && d < out_ndim; d++) same = y->shape[d] == out_shape[d];
                if (!same) {
                    char ib[64];
                    fail_run(&res, TG_ERR_STATE,
                             "tg_gradcheck: fn %s at input %d element %s %c h: %s", 
                             y ? "changed the output's shape" : "failed",
                             i, index_str(s, k, ib, sizeof ib), side == 0 ? '+' : '-',
                             y ? "" : tg_tape_error(g.t));
                    goto done;
                }
                for (int64_t j = 0; j < M; j++) {
                    if (side == 0)
                        fp[j] = (double)y->data[j];
                    else
                        col[j] = (fp[j] - (double)y->data[j]) / step;
                }
            }
            bool bad_elem = false;
            for (int64_t r = 0; r < rows; r++) {
                double num;
                if (full) {
                    num = col[r];
                } else {
                    num = 0;
                    for (int64_t j = 0; j < M; j++) num += V[r * M + j] * col[j];
                }
                double an = A[r * total + offset[i] + k];
                double err = fabs(an - num);
                double tol = o.atol + o.rtol * fabs(num);
                bool bad = !(err <= tol); /* NaN fails */
                double score = isnan(err) || isinf(err) ? INFINITY
                               : tol > 0                ? err / tol
                               : (err > 0 ? INFINITY : 0);
                bad_elem |= bad;
                if (!isnan(err) && err > in_maxerr[i]) in_maxerr[i] = err;
                if (isnan(err)) in_maxerr[i] = NAN;
                if (score > worst_score) {
                    worst_score = score;
                    res.worst_input = i;
                    res.worst_index = k;
                    res.worst_output = full ? r : -1 - r;
                    res.analytical = an;
                    res.numerical = num;
                    res.abs_err = err;
                    res.rel_err = num != 0 ? err / fabs(num) : (err == 0 ? 0 : INFINITY);
                }
            }
            res.checked++;
            if (bad_elem) {
                res.failed++;
                in_failed[i]++;
            }
        }
    }
    res.ok = res.failed == 0;

    /* ---- verdict */
    char where[160] = "", ib[64], nb[96];
    if (res.worst_input >= 0) {
        const tg_tensor *w = inputs[res.worst_input];
        char ob[64];
        if (res.worst_output >= 0 && out_ndim == 0) {
            snprintf(ob, sizeof ob, "the scalar output");
        } else if (res.worst_output >= 0) {
            tg_tensor shp = {.ndim = out_ndim};
            for (int d = 0; d < out_ndim; d++) shp.shape[d] = out_shape[d];
            snprintf(ob, sizeof ob, "output %s",
                     index_str(&shp, res.worst_output, ib, sizeof ib));
        } else {
            snprintf(ob, sizeof ob, "projection %" PRId64, -1 - res.worst_output);
        }
        snprintf(where, sizeof where, "input %d%s element %s, %s", res.worst_input,
                 input_label(w, nb, sizeof nb), index_str(w, res.worst_index, ib, sizeof ib), ob);
    }
    /* the message may be cut at 255 characters: the report has everything */
    int n_msg;
    if (res.ok)
        n_msg = snprintf(res.message, sizeof res.message,
                 "gradcheck passed: %" PRId64 " elements; the closest call, at %.2g%% of its "
                 "tolerance: %s (abs err %.3g)",
                 res.checked, 100 * (worst_score > 0 ? worst_score : 0), where[0] ? where : "-",
                 res.abs_err);
    else
        n_msg = snprintf(res.message, sizeof res.message,
                 "gradcheck FAILED: %" PRId64 " of %" PRId64
                 " elements; worst at %s: analytical %.6g, numerical %.6g (abs err %.3g, rel err "
                 "%.3g, %.3gx its tolerance)",
                 res.failed, res.checked, where, res.analytical, res.numerical, res.abs_err,
                 res.rel_err, worst_score);
    (void)n_msg;

    if (o.report) {
        FILE *f = o.report;
        char ob[128];
        fprintf(f, "tg_gradcheck (%s): %s\n", tg_real_name(), res.ok ? "PASS" : "FAIL");
        fprintf(f, "  eps %g (step eps*max(1,|x|)), atol %g, rtol %g; output %s; ", o.eps, o.atol,
                o.rtol, tg_dims_str(out_ndim, out_shape, ob, sizeof ob));
        if (full)
            fprintf(f, "full Jacobian, %" PRId64 " x %" PRId64 " entries\n", M, total);
        else
            fprintf(f, "%" PRId64 " random projections (seed %" PRIu64 ")\n", rows, o.seed);
        for (int i = 0; i < n_inputs; i++) {
            const tg_tensor *s = inputs[i];
            char sb[128];
            if (!s) {
                fprintf(f, "  input %d: NULL\n", i);
                continue;
            }
            if (!(s->flags & TG_REQUIRES_GRAD)) {
                fprintf(f, "  input %d%s %s: not checked (does not require grad)\n", i,
                        input_label(s, nb, sizeof nb), tg_shape_str(s, sb, sizeof sb));
                continue;
            }
            fprintf(f, "  input %d%s %s: %" PRId64 " element%s, %" PRId64
                       " outside tolerance, largest |analytical - numerical| %.3g\n",
                    i, input_label(s, nb, sizeof nb), tg_shape_str(s, sb, sizeof sb), s->size,
                    s->size == 1 ? "" : "s", in_failed[i], in_maxerr[i]);
        }
        if (res.worst_input >= 0)
            fprintf(f, "  worst (largest error/tolerance): %s: analytical %.10g, numerical %.10g, abs err %.3g, rel err %.3g\n",
                    where, res.analytical, res.numerical, res.abs_err, res.rel_err);
        fprintf(f, "  %s\n", res.message);
    }

done:
    free(offset);
    free(in_failed);
    free(in_maxerr);
    free(A);
    free(V);
    free(fp);
    free(col);
    free(dout);
    free(g.in);
    tg_tape_free(g.t);
    return res;
}
