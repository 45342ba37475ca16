/* The gradient checkers' engine: an analytical Jacobian against central
   finite differences, with an error-bound tolerance, a kink test and the
   report. It knows nothing of tapes: src/tools/fdcheck.h says what a
   problem gives it.

     numerical   J[:, k] ≈ D(h) = (f(x + h·e_k) − f(x − h·e_k)) / 2h, one column per element;
                 with Richardson, R = D(h/2) + (D(h/2) − D(h))/3 from the steps h and h/2
     analytical  J[j, :] = vjp(e_j)      one row per output element (the full Jacobian)
                 vᵀJ     = vjp(v)        for a few random v (the projections)

   Every compared quantity q (an entry J[j,k], or a projection vᵀJ[:,k]) goes
   through two stages:

   1. the first pass, cheap: R against the analytical value with the
      tolerance of `tolerance` below (allclose, plus with error_bound the
      difference's truncation |D(h/2) − D(h)|, a model of the rounding of f
      and a floor at the Jacobian's scale). Nearly every quantity of a
      correct rule passes here.
   2. a column with a failing quantity is looked at closely (`refine`): f on
      17 points across [x − h, x + h], the rounding noise measured from them
      (robustly, so that a kink does not inflate it), a least-squares slope
      with its standard error, and a change-point fit that tells a kink
      within the step from noise. The analytical value is then judged
      against the slope on x's side of the kink, or against the smooth fit
      within a few standard errors. A column is failed only by this stage.

   A bug in a backward rule changes the analytical side only: f, and with it
   every noise estimate and the kink test, is the same whether the rule is
   right or wrong, so none of them can excuse a wrong value where f is smooth
   and accurately computed. */
#include "tools/fdcheck.h"

#include <float.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>

#define FD_FULL_MAX ((int64_t)1 << 20) /* compared entries held at most (full Jacobian) */
#define FD_DEFAULT_PROJECTIONS 4        /* when only projections are compared */

/* The first pass takes the rounding of one evaluation of f_j as
   FD_NOISE_U·u·(max|f_j| + Σ_k |J_jk|·|x_k|), u the unit roundoff of
   tg_real: the output's own rounding and that of the inputs carried through
   f (a backward-stable f rounds a sum of terms that cancel at the size of
   its terms). It is a model, not a bound: a forward that cancels inside
   (1 + erf(x) far left) rounds worse. Where it is too small, the column is
   refined instead of passed, so it is kept tight for sensitivity. */
#define FD_NOISE_U 1.0

/* The refinement: f at x + (m + ξ_m)·h/FD_GRID, m = −FD_GRID..FD_GRID, with
   a fixed jitter ξ_m (`jitter`): on an even grid the staircase of a coarsely
   rounded f can alias into an exact progression, whose wrong slope no
   noise estimate sees; on an uneven one its steps show as noise. */
#define FD_GRID 8
#define FD_GRID_N (2 * FD_GRID + 1)
#define FD_Z 6.0 /* standard errors a refined slope may be off */

#ifdef TG_DOUBLE
#define FD_UNIT_ROUNDOFF (DBL_EPSILON / 2)
#else
#define FD_UNIT_ROUNDOFF (FLT_EPSILON / 2)
#endif

/* splitmix64 (Steele, Lea, Flood 2014): portable, the same stream everywhere. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* "[1,2]": the multi-index of flat index k in a shape. */
static char *index_str(int ndim, const int64_t *shape, int64_t k, char *buf, size_t len)
{
    int64_t idx[TG_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        int64_t n = shape[d] ? shape[d] : 1;
        idx[d] = k % n;
        k /= n;
    }
    return tg_dims_str(ndim, idx, buf, len);
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

static bool checked(const tg_tensor *x) { return x && (x->flags & TG_REQUIRES_GRAD); }

/* ------------------------------------------------------------------ state */

enum { Q_PASS = 0, Q_FAIL = 1, Q_KINK = 2 }; /* a compared quantity's verdict */

/* Everything one run holds. Quantities q = (row r, column c) live at
   r·total + c: rows 0..n_full−1 are Jacobian rows (output j = r), rows
   n_full.. are projections p = r − n_full; columns are the checked
   elements, input after input. */
typedef struct fd_run {
    const tg_fdcheck_problem *p;
    tg_gradcheck_opts o;
    tg_gradcheck_result *res;
    char msg[TG_MSG_LEN];  /* a callback's reason */
    int out_ndim;
    int64_t out_shape[TG_MAX_DIMS];
    int64_t M;             /* output elements */
    int64_t total;         /* checked elements: the columns */
    int64_t n_full, n_proj, rows;
    int64_t *offset;       /* [n] first column of each input (checked or not) */
    double *typ;           /* [n] mean |x| of each input: the relative step's floor */
    double *A, *N, *T;     /* [rows, total] analytical, numerical, |D(h/2) − D(h)| */
    double *tol;           /* [rows, total] the tolerance each was held to */
    unsigned char *state;  /* [rows, total] Q_PASS, Q_FAIL or Q_KINK */
    double *V;             /* [n_proj, M] the projection vectors */
    double *h;             /* [total] the half step taken: ((x + h) − (x − h)) / 2 */
    double *hnom;          /* [total] the nominal step chosen (column_step) */
    double *prior;         /* [rows] |f_r| + Σ_k |A_rk|·|x_k| at the point (column_step) */
    double *f0, *fp, *fm, *fp2, *fm2; /* [M] f at x, x ± h, x ± h/2 */
    double *d1, *d2;       /* [M] D(h) and D(h/2) of the current column */
    double *grid;          /* [FD_GRID_N, M] f on the refinement grid */
    double *fmax, *S;      /* [M] max |f_j| seen, Σ_k |J_jk|·|x_k| */
    double *rnd;           /* [rows] u·(max|f| + Σ|J||x|) per row (projections: Σ|v_j|·…) */
    double *scale;         /* [n, 1 + n_proj] largest |N| per input (entries, each projection) */
    int64_t *in_failed, *in_kink; /* [n] */
    double *in_maxerr, *in_res;   /* [n] */
    tg_real *dout;         /* [M] */
    double *grad;          /* [total] */
    double kink_central;   /* the first kink: the central estimate there, */
    double kink_at;        /* where the kink lies, in steps from x, */
    bool kink_jump;        /* or that f jumps there */
} fd_run;

static int input_of(const fd_run *g, int64_t c)
{
    int i = 0;
    while (i + 1 < g->p->n_inputs && g->offset[i + 1] <= c) i++;
    return i;
}

/* The nominal step of column c (element x of input i). Without
   relative_step, eps (PyTorch's absolute step). With it, eps·max(|x|, the
   input's mean |x|), the scale of the input; but where the rounding of f
   alone, predicted from f at the point and the analytical Jacobian as
   3u·(|f_r| + Σ_k |A_rk|·|x_k|)/h for each row r, would exceed rtol/8 of
   |A_rc| in every row r, ten times that, and so on up to
   eps·max(1, |x|): an offset near 0 (a bias) has no scale of its own. The
   prediction only picks the step; the tolerance is made from what the
   step gives. A grown step is kept only if f looks smooth across it
   (numerical_columns): else it shrinks back towards the input's scale,
   *h0_out. */
static double column_step(const fd_run *g, int i, int64_t c, double x, double *h0_out)
{
    *h0_out = g->o.eps;
    if (!g->o.relative_step) return g->o.eps;
    double h0 = g->o.eps * fmax(fabs(x), g->typ[i]), cap = g->o.eps * fmax(1, fabs(x));
    *h0_out = h0;
    /* the smallest predicted noise/|A| over the rows that see this column */
    double best = INFINITY;
    for (int64_t r = 0; r < g->rows; r++) {
        double a = fabs(g->A[r * g->total + c]);
        if (a > 0 && isfinite(a) && isfinite(g->prior[r]))
            best = fmin(best, 3 * FD_UNIT_ROUNDOFF * g->prior[r] / a);
    }
    double h = h0;
    while (h > 0 && h < cap && isfinite(best) && best > g->o.rtol / 8 * h) h *= 10;
    return h > h0 ? fmin(h, cap) : h0;
}

/* f with input i's element k at v, into out [M]; the reason on failure. */
static bool eval_at(fd_run *g, int i, int64_t k, tg_real v, double *out, const char *side)
{
    g->msg[0] = '\0';
    int st = g->p->eval(g->p->ctx, i, k, v, out, g->msg, sizeof g->msg);
    if (st == TG_OK) return true;
    if (i < 0) {
        fail_run(g->res, st, "%s: at the point: %s", g->p->name, g->msg);
        return false;
    }
    char ib[64];
    const tg_tensor *x = g->p->inputs[i];
    fail_run(g->res, st, "%s: at input %d element %s %s: %s", g->p->name, i,
             index_str(x->ndim, x->shape, k, ib, sizeof ib), side, g->msg);
    return false;
}

/* Σ_j w_j·f_j: a quantity's row applied to an output vector (the entry j
   itself for a Jacobian row, vᵀf for a projection). */
static double row_apply(const fd_run *g, int64_t r, const double *f)
{
    if (r < g->n_full) return f[r];
    const double *v = g->V + (r - g->n_full) * g->M;
    double s = 0;
    for (int64_t j = 0; j < g->M; j++) s += v[j] * f[j];
    return s;
}

/* The floor of quantity (r, input i): scale_tol times the largest |N| of
   the same input among the Jacobian's entries (or in the same projection). */
static double floor_of(const fd_run *g, int64_t r, int i)
{
    int64_t kind = r < g->n_full ? 0 : 1 + (r - g->n_full);
    return g->o.scale_tol * g->scale[(int64_t)i * (1 + g->n_proj) + kind];
}

/* The first pass's tolerance of a numerical value `num` at row r, column c
   of input i, with Richardson difference `trunc`:

     atol + rtol·|num|                      allclose, and with error_bound:
     + min(trunc, rtol·|num|)               its truncation (and, as it comes, some noise);
                                            no more, for T grows with a kink within the
                                            step too, and must not excuse a wrong value there
     + amp·FD_NOISE_U·rnd[r]/h_c            the rounding of f: R = (4·D(h/2) − D(h))/3
                                            weighs it (8 + 1)/3 = 3 times over h; D, once
     + floor_of(r, i)                       a floor at the Jacobian's scale */
static double tolerance(const fd_run *g, int64_t r, int64_t c, int i, double num, double trunc)
{
    double tol = g->o.atol + g->o.rtol * fabs(num);
    if (g->o.error_bound) {
        double amp = g->o.richardson ? 3 : 1;
        tol += fmin(trunc, g->o.rtol * fabs(num)) + amp * FD_NOISE_U * g->rnd[r] / g->h[c] +
               floor_of(g, r, i);
    }
    return tol;
}

/* -------------------------------------------------------------- refinement */

/* Least squares: the polynomial Σ b_c·t^c of degree d (1..4) through the
   points (t_i, y_i), i < n, n > d, by modified Gram–Schmidt on the
   Vandermonde columns (t of order 1). Returns false if they are degenerate;
   else b [d + 1], *v11 = the variance of b₁ (the slope at t = 0) per unit
   noise variance, ((XᵀX)⁻¹)₁₁ = Σ_k (R⁻¹)₁ₖ², and *rss = the residual sum
   of squares. */
static bool poly_fit(const double *t, const double *y, int n, int d, double *b, double *v11,
                     double *rss)
{
    enum { P = 5 };
    double Q[FD_GRID_N][P], R[P][P] = {{0}}, qy[P], Ri[P][P] = {{0}};
    int p = d + 1;
    if (d < 1 || d >= P || n < p || n > FD_GRID_N) return false;
    for (int i = 0; i < n; i++) {
        Q[i][0] = 1;
        for (int c = 1; c < p; c++) Q[i][c] = Q[i][c - 1] * t[i];
    }
    for (int c = 0; c < p; c++) {
        double before = 0;
        for (int i = 0; i < n; i++) before += Q[i][c] * Q[i][c];
        for (int k = 0; k < c; k++) {
            double r = 0;
            for (int i = 0; i < n; i++) r += Q[i][k] * Q[i][c];
            R[k][c] = r;
            for (int i = 0; i < n; i++) Q[i][c] -= r * Q[i][k];
        }
        double nrm = 0;
        for (int i = 0; i < n; i++) nrm += Q[i][c] * Q[i][c];
        nrm = sqrt(nrm);
        if (!(nrm > 1e-9 * sqrt(before))) return false;
        R[c][c] = nrm;
        for (int i = 0; i < n; i++) Q[i][c] /= nrm;
    }
    *rss = 0;
    for (int c = 0; c < p; c++) {
        qy[c] = 0;
        for (int i = 0; i < n; i++) qy[c] += Q[i][c] * y[i];
    }
    for (int i = 0; i < n; i++) {
        double fit = 0;
        for (int c = 0; c < p; c++) fit += Q[i][c] * qy[c];
        *rss += (y[i] - fit) * (y[i] - fit);
    }
    /* R⁻¹ (upper triangular), then b = R⁻¹·Qᵀy */
    for (int c = 0; c < p; c++) {
        Ri[c][c] = 1 / R[c][c];
        for (int r = c - 1; r >= 0; r--) {
            double sum = 0;
            for (int k = r + 1; k <= c; k++) sum += R[r][k] * Ri[k][c];
            Ri[r][c] = -sum / R[r][r];
        }
    }
    *v11 = 0;
    for (int c = 0; c < p; c++) {
        b[c] = 0;
        for (int k = c; k < p; k++) b[c] += Ri[c][k] * qy[k];
    }
    for (int k = 1; k < p; k++) *v11 += Ri[1][k] * Ri[1][k];
    return true;
}

/* A fitted piece: its polynomial, the standard error of its slope at 0. */
typedef struct {
    int d;
    double b[5], se;
} fd_piece;

static double piece_value(const fd_piece *f, double t)
{
    double v = 0;
    for (int c = f->d; c >= 0; c--) v = v * t + f->b[c];
    return v;
}

static double piece_slope_at(const fd_piece *f, double t)
{
    double v = 0;
    for (int c = f->d; c >= 1; c--) v = v * t + c * f->b[c];
    return v;
}

/* The median of v [n], n ≤ FD_GRID_N (v is sorted in place, by insertion). */
static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double tmp = v[j];
            v[j] = v[j - 1];
            v[j - 1] = tmp;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The rounding noise σ of values y at the points t (in order), robustly:
   each third divided difference over four neighbours, y[t₀..t₃] = Σ wᵢ·yᵢ
   with wᵢ = 1/Π_{j≠i}(tᵢ − tⱼ), vanishes for a quadratic (and nearly so for
   anything smooth across a few grid steps), and divided by √Σwᵢ² it has
   the standard deviation σ of independent noise. A kink spoils at most
   three of them, which the median absolute deviation ignores. */
static double grid_noise(const double *t, const double *y, int n)
{
    double z[FD_GRID_N], dev[FD_GRID_N];
    int m = n - 3;
    for (int a = 0; a < m; a++) {
        double d = 0, w2 = 0;
        for (int i = a; i < a + 4; i++) {
            double w = 1;
            for (int j = a; j < a + 4; j++)
                if (j != i) w /= t[i] - t[j];
            d += w * y[i];
            w2 += w * w;
        }
        z[a] = d / sqrt(w2);
    }
    double med = median(memcpy(dev, z, (size_t)m * sizeof *z), m);
    for (int a = 0; a < m; a++) dev[a] = fabs(z[a] - med);
    return 1.4826 * median(dev, m);
}

/* The points lo..hi−1 (one side of a kink) fitted with degree 3 (less when
   few); the standard error of its slope at t = 0 for noise σ (at least). */
static bool fit_piece(const double *t, const double *y, int lo, int hi, double sigma, fd_piece *f)
{
    int n = hi - lo;
    double v11, rss;
    f->d = n >= 6 ? 3 : n >= 3 ? n - 2 : 1;
    if (n < 2 || !poly_fit(t + lo, y + lo, n, f->d, f->b, &v11, &rss)) return false;
    if (n > f->d + 1 && sqrt(rss / (n - f->d - 1)) > sigma) sigma = sqrt(rss / (n - f->d - 1));
    f->se = sigma * sqrt(v11);
    return true;
}

/* ξ_m in [−0.35, 0.35]: the fractional parts of m·(√5 − 1)/2, spread
   evenly and never regular; 0 at x itself. */
static double jitter(int m)
{
    if (m == 0) return 0;
    double v = (m + FD_GRID) * 0.6180339887498949;
    return 0.7 * (v - floor(v)) - 0.35;
}

/* Column c (element k of input i) had a failing quantity: f on the grid
   x + (m + ξ_m)·h/FD_GRID, and each failing quantity judged again.

     noise σ: grid_noise of its values, at least the rounding model's ½·u·(…)
     smooth or kinked: the best single break point b (a quadratic on each
       side) against one polynomial of degree 4 through all 17 points; a kink
       when the one polynomial misses by far more than the noise allows
       (rss₄ > 4·(rss_b + 17·σ²), pure noise giving rss₄ ≈ 12σ²)
     the numerical value: the smooth fit's slope; or, at a kink, the slope of
       x's own side, the kink located where the lines through the two sides'
       fits at the break meet (within the noise of x, either side, or
       between, as at relu(0) or abs(0)); or, when those lines do not meet
       near the break, nothing: f jumps within the step (a discontinuity, or
       f rounded in stairs as wide as the step) and the quantity is not
       judged
     the tolerance: atol + rtol·|slope| and, with error_bound, FD_Z standard
       errors of the slope and the floor.

   A quantity that passes becomes Q_PASS (smooth) or Q_KINK (a kink within
   the step, its side's slope agreeing, or a jump); one that fails stays
   Q_FAIL, with the refined numerical value. NaN or Inf anywhere stays
   Q_FAIL. */
static bool refine(fd_run *g, int i, int64_t k, int64_t c)
{
    const int G = FD_GRID, n = FD_GRID_N;
    double x = (double)g->p->inputs[i]->data[k], step = g->hnom[c], t[FD_GRID_N];
    for (int m = -G; m <= G; m++) {
        double *f = g->grid + (m + G) * g->M;
        tg_real xm = (tg_real)(x + step * (m + jitter(m)) / G);
        t[m + G] = ((double)xm - x) / g->h[c];
        if (m == 0)
            memcpy(f, g->f0, (size_t)g->M * sizeof *f);
        else if (!eval_at(g, i, k, xm, f, "on the refinement grid"))
            return false;
    }
    for (int64_t r = 0; r < g->rows; r++) {
        int64_t q = r * g->total + c;
        if (g->state[q] != Q_FAIL || !isfinite(g->A[q])) continue; /* NaN or Inf stays failed */
        double y[FD_GRID_N];
        bool finite = true;
        for (int m = 0; m < n; m++) finite &= isfinite(y[m] = row_apply(g, r, g->grid + m * g->M));
        if (!finite) continue;
        double y0 = y[G];
        for (int m = 0; m < n; m++) y[m] -= y0;
        double sigma = fmax(grid_noise(t, y, n), 0.5 * g->rnd[r]);

        double b4[5], v4, rss4, bb[5], vb, rl, rr;
        if (!poly_fit(t, y, n, 4, b4, &v4, &rss4)) continue; /* stays failed */
        int best = -1;
        double best_rss = INFINITY;
        for (int b = 2; b <= n - 2; b++) { /* left 0..b−1, right b..n−1 */
            int dl = b >= 3 ? 2 : 1, dr = n - b >= 3 ? 2 : 1;
            if (!poly_fit(t, y, b, dl, bb, &vb, &rl) ||
                !poly_fit(t + b, y + b, n - b, dr, bb, &vb, &rr))
                continue;
            if (rl + rr < best_rss) best_rss = rl + rr, best = b;
        }
        bool kink = best >= 0 && rss4 > 4 * (best_rss + n * sigma * sigma);

        double an = g->A[q], est, se, lo, hi; /* the numerical value may be an interval [lo, hi] */
        double t_kink = 0;
        bool jumped = false;
        if (!kink) {
            double sd = fmax(sigma, sqrt(rss4 / (n - 5)));
            est = lo = hi = b4[1];
            se = sd * sqrt(v4);
        } else {
            /* the two sides, and where they meet: the kink at t_kink, from the lines
               through each side's fit at the break, good to about σ over the jump in slope */
            fd_piece L, R;
            if (!fit_piece(t, y, 0, best, sigma, &L) || !fit_piece(t, y, best, n, sigma, &R))
                continue;
            double tb = (t[best - 1] + t[best]) / 2, sl = piece_slope_at(&L, tb),
                   sr = piece_slope_at(&R, tb), jump = fabs(sl - sr);
            t_kink = jump > 0 ? tb - (piece_value(&L, tb) - piece_value(&R, tb)) / (sl - sr) : tb;
            double margin = jump > 0 ? FD_Z * sigma / jump : INFINITY;
            double s0l = piece_slope_at(&L, 0), s0r = piece_slope_at(&R, 0);
            if (!(fabs(t_kink - tb) <= 1.5 * (t[best] - t[best - 1]) + margin)) {
                /* the sides do not meet at the break: f jumps there (a step of
                   its own, or of its rounding): no slope to judge */
                jumped = true;
                est = lo = hi = g->N[q] * g->h[c]; /* the central difference, kept */
                se = 0;
            } else if (t_kink > margin) { /* x left of the kink */
                est = lo = hi = s0l;
                se = L.se;
            } else if (t_kink < -margin) {
                est = lo = hi = s0r;
                se = R.se;
            } else { /* at the kink, as far as the noise tells: either side, or between */
                lo = fmin(s0l, s0r), hi = fmax(s0l, s0r);
                est = fabs(an - s0l) <= fabs(an - s0r) ? s0l : s0r;
                se = fmax(L.se, R.se);
            }
        }
        /* back from t = (x' − x)/h to x */
        est /= g->h[c], lo /= g->h[c], hi /= g->h[c], se /= g->h[c];
        double tol = g->o.atol + g->o.rtol * fabs(est);
        if (g->o.error_bound) tol += FD_Z * se + floor_of(g, r, i);
        double err = jumped ? 0 : an < lo ? lo - an : an > hi ? an - hi : 0;
        if (kink && g->res->kink_input < 0) {
            g->kink_central = g->N[q];
            g->kink_at = t_kink;
            g->kink_jump = jumped;
        }
        g->N[q] = an >= lo && an <= hi ? an : est;
        g->tol[q] = tol;
        if (err <= tol) g->state[q] = kink ? Q_KINK : Q_PASS;
        if (kink && err <= tol && g->res->kink_input < 0) {
            g->res->kink_input = i;
            g->res->kink_index = k;
            g->res->kink_output = r < g->n_full ? r : -1 - (r - g->n_full);
        }
    }
    return true;
}

/* ------------------------------------------------------------- the passes */

/* Allocates the run's buffers; false (and the result says why) if memory is short. */
static bool fd_alloc(fd_run *g)
{
    int n = g->p->n_inputs;
    int64_t M = g->M, RT = g->rows * g->total;
    g->A = calloc((size_t)RT + 1, sizeof *g->A);
    g->N = calloc((size_t)RT + 1, sizeof *g->N);
    g->T = calloc((size_t)RT + 1, sizeof *g->T);
    g->tol = calloc((size_t)RT + 1, sizeof *g->tol);
    g->state = calloc((size_t)RT + 1, sizeof *g->state);
    g->V = calloc((size_t)(g->n_proj * M) + 1, sizeof *g->V);
    g->h = calloc((size_t)g->total + 1, sizeof *g->h);
    g->hnom = calloc((size_t)g->total + 1, sizeof *g->hnom);
    g->prior = calloc((size_t)g->rows + 1, sizeof *g->prior);
    g->grad = calloc((size_t)g->total + 1, sizeof *g->grad);
    g->dout = calloc((size_t)M + 1, sizeof *g->dout);
    g->grid = calloc((size_t)(FD_GRID_N * M) + 1, sizeof *g->grid);
    double **vecs[] = {&g->f0, &g->fp, &g->fm, &g->fp2, &g->fm2, &g->d1, &g->d2, &g->fmax, &g->S};
    bool ok = g->A && g->N && g->T && g->tol && g->state && g->V && g->h && g->hnom && g->prior &&
              g->grad && g->dout && g->grid;
    for (size_t v = 0; v < sizeof vecs / sizeof *vecs; v++)
        ok &= (*vecs[v] = calloc((size_t)M + 1, sizeof(double))) != NULL;
    g->rnd = calloc((size_t)g->rows + 1, sizeof *g->rnd);
    g->scale = calloc((size_t)n * (size_t)(1 + g->n_proj), sizeof *g->scale);
    g->in_failed = calloc((size_t)n, sizeof *g->in_failed);
    g->in_kink = calloc((size_t)n, sizeof *g->in_kink);
    g->in_maxerr = calloc((size_t)n, sizeof *g->in_maxerr);
    g->in_res = calloc((size_t)n, sizeof *g->in_res);
    ok &= g->rnd && g->scale && g->in_failed && g->in_kink && g->in_maxerr && g->in_res;
    if (!ok)
        fail_run(g->res, TG_ERR_NOMEM, "%s: out of memory for a %" PRId64 " x %" PRId64 " check",
                 g->p->name, g->rows, g->total);
    return ok;
}

static void fd_free(fd_run *g)
{
    void *bufs[] = {g->offset, g->typ,       g->A,       g->N,         g->T,     g->tol,
                    g->state,  g->V,         g->h,       g->hnom,      g->prior, g->grad,
                    g->dout,   g->grid,      g->f0,      g->fp,        g->fm,    g->fp2,
                    g->fm2,    g->d1,        g->d2,      g->fmax,      g->S,     g->rnd,
                    g->scale,  g->in_failed, g->in_kink, g->in_maxerr, g->in_res};
    for (size_t b = 0; b < sizeof bufs / sizeof *bufs; b++) free(bufs[b]);
}

/* The projection vectors: entries ±(¼ + ¾·U[0,1)) with random signs (a
   magnitude that is never 1 and a sign that varies, so that |g| and g²
   differ from g), the first entry of the first vector negative (so that a
   one-element output meets a negative upstream gradient too). */
static void draw_projections(fd_run *g)
{
    uint64_t s = g->o.seed;
    for (int64_t p = 0; p < g->n_proj; p++)
        for (int64_t j = 0; j < g->M; j++) {
            uint64_t z = splitmix64(&s);
            double m = 0.25 + 0.75 * (double)(z >> 11) * 0x1p-53;
            bool neg = (p == 0 && j == 0) ? true : (z & 1);
            g->V[p * g->M + j] = neg ? -m : m;
        }
}

/* The analytical side: one vjp per row. */
static bool analytical_rows(fd_run *g)
{
    for (int64_t r = 0; r < g->rows; r++) {
        const double *v = r < g->n_full ? NULL : g->V + (r - g->n_full) * g->M;
        for (int64_t j = 0; j < g->M; j++) g->dout[j] = v ? (tg_real)v[j] : (tg_real)(j == r);
        g->msg[0] = '\0';
        int st = g->p->vjp(g->p->ctx, g->dout, g->grad, g->msg, sizeof g->msg);
        if (st != TG_OK) {
            fail_run(g->res, st, "%s: %s", g->p->name, g->msg);
            return false;
        }
        memcpy(g->A + r * g->total, g->grad, (size_t)g->total * sizeof *g->grad);
        double pr = v ? 0 : fabs(g->f0[r]);
        for (int64_t j = 0; v && j < g->M; j++) pr += fabs(v[j] * g->f0[j]);
        for (int i = 0; i < g->p->n_inputs; i++) {
            const tg_tensor *s = g->p->inputs[i];
            if (!checked(s)) continue;
            for (int64_t k = 0; k < s->size; k++)
                pr += fabs(g->grad[g->offset[i] + k]) * fabs((double)s->data[k]);
        }
        g->prior[r] = pr;
    }
    return true;
}

/* One column's estimate with nominal step `step`: f at x ± h (and x ± h/2)
   into fp, fm (fp2, fm2), D(h) and D(h/2) per output into d1, d2, the
   half step taken into *h1, Richardson's weight into *w, and into *trel
   how far from smooth f looks across the step: max_r |D(h/2) − D(h)| over
   max_r |R|. False if the step does not move x or f fails (the result
   says why). */
static bool estimate(fd_run *g, int i, int64_t k, double step, double *h1_out, double *w_out,
                     double *trel)
{
    const tg_tensor *s = g->p->inputs[i];
    double x = (double)s->data[k];
    tg_real xp = (tg_real)(x + step), xm = (tg_real)(x - step);
    tg_real xp2 = (tg_real)(x + step / 2), xm2 = (tg_real)(x - step / 2);
    double h1 = ((double)xp - (double)xm) / 2, h2 = ((double)xp2 - (double)xm2) / 2;
    /* the refinement grid's points lie at least 0.3·step/FD_GRID apart: they must differ too */
    tg_real xg = (tg_real)(x + 0.3 * step / FD_GRID), xgm = (tg_real)(x - 0.3 * step / FD_GRID);
    if (!(h1 > 0) || !(h2 > 0 && h1 > 1.5 * h2) || !((double)xg > x && (double)xgm < x)) {
        char ib[64];
        fail_run(g->res, TG_ERR_INVALID,
                 "%s: eps %g is too small to move input %d element %s (%g) in %s", g->p->name,
                 g->o.eps, i, index_str(s->ndim, s->shape, k, ib, sizeof ib), x, tg_real_name());
        return false;
    }
    if (!eval_at(g, i, k, xp, g->fp, "+ h") || !eval_at(g, i, k, xm, g->fm, "- h")) return false;
    if (g->o.richardson &&
        (!eval_at(g, i, k, xp2, g->fp2, "+ h/2") || !eval_at(g, i, k, xm2, g->fm2, "- h/2")))
        return false;
    /* R = D2 + (D2 − D1)·h2²/(h1² − h2²) with the steps taken: (4·D2 − D1)/3 when
       h2 = h1/2. Without Richardson, D2 = D1 and R = D1. */
    double w = g->o.richardson ? h2 * h2 / (h1 * h1 - h2 * h2) : 0, tmax = 0, rmax = 0;
    for (int64_t j = 0; j < g->M; j++) {
        g->d1[j] = (g->fp[j] - g->fm[j]) / (2 * h1);
        g->d2[j] = g->o.richardson ? (g->fp2[j] - g->fm2[j]) / (2 * h2) : g->d1[j];
    }
    for (int64_t r = 0; r < g->rows; r++) {
        double d1 = row_apply(g, r, g->d1), d2 = row_apply(g, r, g->d2);
        tmax = fmax(tmax, fabs(d2 - d1));
        rmax = fmax(rmax, fabs(d2 + (d2 - d1) * w));
    }
    *h1_out = h1;
    *w_out = w;
    *trel = rmax > 0 ? tmax / rmax : (tmax > 0 ? INFINITY : 0);
    return true;
}

/* The numerical side: for every column, its step (column_step; a step
   grown beyond the input's scale comes back by tens while Richardson's
   difference exceeds rtol·|R|: a kink or fine structure within it), the
   estimate N and the Richardson difference T of every row, and the sums of
   the rounding model. */
static bool numerical_columns(fd_run *g)
{
    const tg_fdcheck_problem *p = g->p;
    for (int i = 0; i < p->n_inputs; i++) {
        const tg_tensor *s = p->inputs[i];
        if (!checked(s)) continue;
        for (int64_t k = 0; k < s->size; k++) {
            int64_t c = g->offset[i] + k;
            double x = (double)s->data[k], h0, step = column_step(g, i, c, x, &h0), h1, w, trel;
            if (!estimate(g, i, k, step, &h1, &w, &trel)) return false;
            /* a grown step must keep f smooth across it: else back towards h0 */
            while (step > h0 && !(trel <= g->o.rtol)) {
                step = fmax(step / 10, h0);
                if (!estimate(g, i, k, step, &h1, &w, &trel)) return false;
            }
            g->hnom[c] = step;
            g->h[c] = h1;
            for (int64_t j = 0; j < g->M; j++) {
                g->fmax[j] = fmax(g->fmax[j], fmax(fabs(g->fp[j]), fabs(g->fm[j])));
                double est = g->d2[j] + (g->d2[j] - g->d1[j]) * w;
                if (isfinite(est)) g->S[j] += fabs(est) * fabs(x);
            }
            for (int64_t r = 0; r < g->rows; r++) {
                double d1 = row_apply(g, r, g->d1), d2 = row_apply(g, r, g->d2);
                g->N[r * g->total + c] = d2 + (d2 - d1) * w;
                g->T[r * g->total + c] = fabs(d2 - d1);
            }
        }
    }
    return true;
}

/* The first pass: every quantity Q_PASS or Q_FAIL, with its tolerance. */
static void compare(fd_run *g)
{
    const tg_fdcheck_problem *p = g->p;
    for (int64_t r = 0; r < g->rows; r++) { /* the rounding model per row */
        double e = 0;
        if (r < g->n_full) {
            e = g->fmax[r] + g->S[r];
        } else {
            const double *v = g->V + (r - g->n_full) * g->M;
            for (int64_t j = 0; j < g->M; j++) e += fabs(v[j]) * (g->fmax[j] + g->S[j]);
        }
        g->rnd[r] = FD_UNIT_ROUNDOFF * e;
    }
    for (int i = 0; i < p->n_inputs; i++) { /* the floors' scales */
        if (!checked(p->inputs[i])) continue;
        for (int64_t r = 0; r < g->rows; r++) {
            int64_t kind = r < g->n_full ? 0 : 1 + (r - g->n_full);
            double *sc = &g->scale[(int64_t)i * (1 + g->n_proj) + kind];
            for (int64_t k = 0; k < p->inputs[i]->size; k++) {
                double v = fabs(g->N[r * g->total + g->offset[i] + k]);
                if (isfinite(v) && v > *sc) *sc = v;
            }
        }
    }
    for (int i = 0; i < p->n_inputs; i++) {
        if (!checked(p->inputs[i])) continue;
        for (int64_t k = 0; k < p->inputs[i]->size; k++) {
            int64_t c = g->offset[i] + k;
            for (int64_t r = 0; r < g->rows; r++) {
                int64_t q = r * g->total + c;
                g->tol[q] = tolerance(g, r, c, i, g->N[q], g->T[q]);
                g->state[q] =
                    fabs(g->A[q] - g->N[q]) <= g->tol[q] ? Q_PASS : Q_FAIL; /* NaN fails */
            }
        }
    }
}

/* err/tol, infinite for NaN or for an error against a zero tolerance */
static double score_of(double err, double tol)
{
    if (isnan(err) || isinf(err)) return INFINITY;
    return tol > 0 ? err / tol : (err > 0 ? INFINITY : 0);
}

/* The verdict of every column after the refinement: counts, the worst
   quantity, each input's largest error and resolution. */
static void tally(fd_run *g)
{
    const tg_fdcheck_problem *p = g->p;
    tg_gradcheck_result *res = g->res;
    int64_t worst_q = -1;
    int worst_rank = -1;
    double worst_score = -1;
    for (int i = 0; i < p->n_inputs; i++) {
        if (!checked(p->inputs[i])) continue;
        g->in_res[i] = INFINITY;
        for (int64_t k = 0; k < p->inputs[i]->size; k++) {
            int64_t c = g->offset[i] + k;
            bool failed = false, kink = false;
            for (int64_t r = 0; r < g->rows; r++) {
                int64_t q = r * g->total + c;
                if (g->state[q] == Q_KINK) {
                    kink = true;
                    continue;
                }
                double err = fabs(g->A[q] - g->N[q]), num = fabs(g->N[q]);
                if (isnan(err)) g->in_maxerr[i] = NAN;
                else if (err > g->in_maxerr[i]) g->in_maxerr[i] = err;
                failed |= g->state[q] == Q_FAIL;
                if (num > 0 && isfinite(num) && g->tol[q] / num < g->in_res[i])
                    g->in_res[i] = g->tol[q] / num;
                /* the worst: a failure before a pass, a Jacobian entry before a
                   projection, then the largest error/tolerance */
                int rank = 2 * (g->state[q] == Q_FAIL) + (r < g->n_full);
                double sc = score_of(err, g->tol[q]);
                if (rank > worst_rank || (rank == worst_rank && sc > worst_score)) {
                    worst_rank = rank;
                    worst_score = sc;
                    worst_q = q;
                }
            }
            res->checked++;
            if (failed) {
                res->failed++;
                g->in_failed[i]++;
            } else if (kink) {
                res->near_kink++;
                g->in_kink[i]++;
            }
        }
        if (isfinite(g->in_res[i]) && g->in_res[i] > res->resolution)
            res->resolution = g->in_res[i];
    }
    res->ok = res->failed == 0;
    if (worst_q >= 0) {
        int64_t r = worst_q / g->total, c = worst_q % g->total;
        int i = input_of(g, c);
        res->worst_input = i;
        res->worst_index = c - g->offset[i];
        res->worst_output = r < g->n_full ? r : -1 - (r - g->n_full);
        res->analytical = g->A[worst_q];
        res->numerical = g->N[worst_q];
        res->abs_err = fabs(res->analytical - res->numerical);
        res->rel_err = res->numerical != 0 ? res->abs_err / fabs(res->numerical)
                                           : (res->abs_err == 0 ? 0 : INFINITY);
        res->tolerance = g->tol[worst_q];
    }
}

/* "input 0 'x' element [1,2], output [3]" (or "the scalar output", "projection 1") */
static char *where_str(const fd_run *g, int i, int64_t k, int64_t out, char *buf, size_t len)
{
    const tg_tensor *x = g->p->inputs[i];
    char ib[64], ob[80], nb[96], xb[64];
    if (out >= 0 && g->out_ndim == 0)
        snprintf(ob, sizeof ob, "the scalar output");
    else if (out >= 0)
        snprintf(ob, sizeof ob, "output %s",
                 index_str(g->out_ndim, g->out_shape, out, ib, sizeof ib));
    else
        snprintf(ob, sizeof ob, "projection %" PRId64, -1 - out);
    snprintf(buf, len, "input %d%s element %s, %s", i, input_label(x, nb, sizeof nb),
             index_str(x->ndim, x->shape, k, xb, sizeof xb), ob);
    return buf;
}

/* The one-line message (cut at 255 characters: the report has everything). */
static void verdict(fd_run *g)
{
    tg_gradcheck_result *res = g->res;
    const char *who = strncmp(g->p->name, "tg_", 3) == 0 ? g->p->name + 3 : g->p->name;
    char where[200] = "-", kinks[240] = "";
    if (res->worst_input >= 0)
        where_str(g, res->worst_input, res->worst_index, res->worst_output, where, sizeof where);
    if (res->near_kink > 0) {
        char kb[200];
        snprintf(kinks, sizeof kinks, "; %" PRId64 " near a kink or a jump (the first: %s)",
                 res->near_kink,
                 where_str(g, res->kink_input, res->kink_index, res->kink_output, kb, sizeof kb));
    }
    double score = score_of(res->abs_err, res->tolerance);
    if (res->ok)
        snprintf(res->message, sizeof res->message,
                 "%s passed: %" PRId64 " elements; the closest call, at %.2g%% of its "
                 "tolerance: %s (abs err %.3g)%s",
                 who, res->checked, 100 * score, where, res->abs_err, kinks);
    else
        snprintf(res->message, sizeof res->message,
                 "%s FAILED: %" PRId64 " of %" PRId64
                 " elements; worst at %s: analytical %.6g, numerical %.6g (abs err %.3g, rel err "
                 "%.3g, %.3gx its tolerance)%s",
                 who, res->failed, res->checked, where, res->analytical, res->numerical,
                 res->abs_err, res->rel_err, score, kinks);
}

static void report(const fd_run *g, FILE *f)
{
    const tg_fdcheck_problem *p = g->p;
    const tg_gradcheck_result *res = g->res;
    const tg_gradcheck_opts *o = &g->o;
    char ob[128], nb[96], sb[128], wb[200];
    fprintf(f, "%s (%s): %s\n", p->name, tg_real_name(), res->ok ? "PASS" : "FAIL");
    fprintf(f, "  step %g%s, %s; tolerance atol %g + rtol %g*|numerical|", o->eps,
            o->relative_step ? "*max(|x|, mean |x| of its input)" : " (absolute)",
            o->richardson ? "Richardson extrapolation from h and h/2" : "central difference",
            o->atol, o->rtol);
    if (o->error_bound)
        fprintf(f, " + the difference's error bound (truncation, rounding of f) + %g of the "
                   "input's largest entry\n",
                o->scale_tol);
    else
        fprintf(f, " (allclose)\n");
    fprintf(f, "  output %s; ", tg_dims_str(g->out_ndim, g->out_shape, ob, sizeof ob));
    if (g->n_full > 0 || g->n_proj == 0)
        fprintf(f, "full Jacobian, %" PRId64 " x %" PRId64 " entries", g->M, g->total);
    if (g->n_proj > 0)
        fprintf(f, "%s%" PRId64 " random projections (seed %" PRIu64 ")",
                g->n_full > 0 ? ", and " : "", g->n_proj, o->seed);
    fprintf(f, "\n");
    for (int i = 0; i < p->n_inputs; i++) {
        const tg_tensor *s = p->inputs[i];
        if (!s) {
            fprintf(f, "  input %d: NULL\n", i);
            continue;
        }
        if (!checked(s)) {
            fprintf(f, "  input %d%s %s: not checked (does not require grad)\n", i,
                    input_label(s, nb, sizeof nb), tg_shape_str(s, sb, sizeof sb));
            continue;
        }
        fprintf(f, "  input %d%s %s: %" PRId64 " element%s, %" PRId64 " outside tolerance", i,
                input_label(s, nb, sizeof nb), tg_shape_str(s, sb, sizeof sb), s->size,
                s->size == 1 ? "" : "s", g->in_failed[i]);
        if (g->in_kink[i]) fprintf(f, ", %" PRId64 " near a kink", g->in_kink[i]);
        fprintf(f, "; largest |analytical - numerical| %.3g", g->in_maxerr[i]);
        if (isfinite(g->in_res[i])) fprintf(f, "; resolution %.2g%%", 100 * g->in_res[i]);
        fprintf(f, "\n");
    }
    if (res->worst_input >= 0)
        fprintf(f, "  worst (largest error/tolerance): %s: analytical %.10g, numerical %.10g, "
                   "abs err %.3g, rel err %.3g, tolerance %.3g\n",
                where_str(g, res->worst_input, res->worst_index, res->worst_output, wb, sizeof wb),
                res->analytical, res->numerical, res->abs_err, res->rel_err, res->tolerance);
    if (res->kink_input >= 0) {
        int64_t c = g->offset[res->kink_input] + res->kink_index;
        int64_t r = res->kink_output >= 0 ? res->kink_output : g->n_full - 1 - res->kink_output;
        where_str(g, res->kink_input, res->kink_index, res->kink_output, wb, sizeof wb);
        double x = (double)p->inputs[res->kink_input]->data[res->kink_index];
        if (g->kink_jump)
            fprintf(f, "  near a jump: %s, x = %.9g: f jumps within the step (h = %.3g), "
                       "not judged; the central difference gave %.6g, the analytical %.6g\n",
                    wb, x, g->h[c], g->kink_central, g->A[r * g->total + c]);
        else
            fprintf(f, "  near a kink: %s, x = %.9g: a kink at x %+.2g*h (h = %.3g); the "
                       "analytical %.6g agrees with the slope on x's side, %.6g; the central "
                       "difference gave %.6g\n",
                    wb, x, g->kink_at, g->h[c], g->A[r * g->total + c], g->N[r * g->total + c],
                    g->kink_central);
    }
    fprintf(f, "  %s\n", res->message);
}

/* Checks the options and the inputs, and sets out the columns. */
static bool fd_setup(fd_run *g)
{
    const tg_fdcheck_problem *p = g->p;
    const tg_gradcheck_opts *o = &g->o;
    if (p->n_inputs <= 0 || !p->inputs) {
        fail_run(g->res, TG_ERR_INVALID, "%s: needs at least one input", p->name);
        return false;
    }
    if (!(o->eps > 0) || !isfinite(o->eps) || !(o->atol >= 0) || !(o->rtol >= 0) ||
        !(o->scale_tol >= 0) || !isfinite(o->atol) || !isfinite(o->rtol) ||
        !isfinite(o->scale_tol) || o->projections < 0 || o->extra_projections < 0) {
        fail_run(g->res, TG_ERR_INVALID,
                 "%s: invalid options (eps %g must be > 0, atol %g, rtol %g and scale_tol %g "
                 "finite and >= 0, projections %d and extra_projections %d >= 0)",
                 p->name, o->eps, o->atol, o->rtol, o->scale_tol, o->projections,
                 o->extra_projections);
        return false;
    }
    g->offset = calloc((size_t)p->n_inputs, sizeof *g->offset);
    g->typ = calloc((size_t)p->n_inputs, sizeof *g->typ);
    if (!g->offset || !g->typ) {
        fail_run(g->res, TG_ERR_NOMEM, "%s: out of memory", p->name);
        return false;
    }
    int n_checked = 0;
    for (int i = 0; i < p->n_inputs; i++) {
        const tg_tensor *s = p->inputs[i];
        g->offset[i] = g->total;
        if (!checked(s)) continue;
        if (s->size > 0 && !s->data) {
            fail_run(g->res, TG_ERR_INVALID, "%s: input %d has no data", p->name, i);
            return false;
        }
        double sum = 0;
        for (int64_t k = 0; k < s->size; k++) {
            if (!isfinite((double)s->data[k])) {
                char ib[64];
                fail_run(g->res, TG_ERR_INVALID, "%s: input %d element %s is %g: the point must "
                         "be finite", p->name, i, index_str(s->ndim, s->shape, k, ib, sizeof ib),
                         (double)s->data[k]);
                return false;
            }
            sum += fabs((double)s->data[k]);
        }
        g->typ[i] = s->size > 0 && sum > 0 && isfinite(sum) ? sum / (double)s->size : 1;
        g->total += s->size;
        n_checked++;
    }
    if (n_checked == 0) {
        fail_run(g->res, TG_ERR_INVALID,
                 "%s: no input requires grad (mark the ones to check with tg_requires_grad)",
                 p->name);
        return false;
    }
    return true;
}

tg_gradcheck_result tg_fdcheck(const tg_fdcheck_problem *p, const tg_gradcheck_opts *opts)
{
    tg_gradcheck_result res = {.status = TG_OK, .worst_input = -1, .worst_index = -1,
                               .kink_input = -1, .kink_index = -1};
    fd_run g = {.p = p, .o = opts ? *opts : tg_gradcheck_defaults(), .res = &res};
    if (!fd_setup(&g)) goto done;

    g.msg[0] = '\0';
    int st = p->prepare(p->ctx, &g.out_ndim, g.out_shape, g.msg, sizeof g.msg);
    if (st != TG_OK) {
        fail_run(&res, st, "%s: %s", p->name, g.msg);
        goto done;
    }
    g.M = tg_numel(g.out_ndim, g.out_shape);
    int64_t per = g.total ? g.total : 1; /* no element to check: nothing divides by 0 */
    bool full = g.o.projections == 0 && g.M <= FD_FULL_MAX / per;
    g.n_full = full ? g.M : 0;
    g.n_proj = g.M == 0 ? 0
               : full   ? g.o.extra_projections
                        : (g.o.projections ? g.o.projections : FD_DEFAULT_PROJECTIONS);
    g.rows = g.n_full + g.n_proj;
    if (g.rows > INT64_MAX / 16 / per || g.M > INT64_MAX / 16 / FD_GRID_N ||
        g.n_proj > INT64_MAX / 16 / (g.M ? g.M : 1)) {
        fail_run(&res, TG_ERR_NOMEM, "%s: the check is too large", p->name);
        goto done;
    }
    if (!fd_alloc(&g)) goto done;
    if (!eval_at(&g, -1, 0, 0, g.f0, "")) goto done;
    for (int64_t j = 0; j < g.M; j++) g.fmax[j] = fabs(g.f0[j]);
    draw_projections(&g);
    if (!analytical_rows(&g) || !numerical_columns(&g)) goto done;
    compare(&g);
    for (int i = 0; i < p->n_inputs; i++) { /* the columns with a failure, refined */
        if (!checked(p->inputs[i])) continue;
        for (int64_t k = 0; k < p->inputs[i]->size; k++) {
            int64_t c = g.offset[i] + k;
            bool any = false;
            for (int64_t r = 0; r < g.rows && !any; r++) any = g.state[r * g.total + c] == Q_FAIL;
            if (any && !refine(&g, i, k, c)) goto done;
        }
    }
    tally(&g);
    verdict(&g);
    if (g.o.report) report(&g, g.o.report);
done:
    fd_free(&g);
    return res;
}
