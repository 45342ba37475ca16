/* Gradient clipping (torch.nn.utils.clip_grad_norm_ and clip_grad_value_)
   over the gradients of a tg_params.

   A parameter whose gradient is NULL (released, and not reached by the last
   backward) is skipped, as PyTorch skips a None grad: it adds nothing to
   the norm and is not scaled. The norm is accumulated in double whatever
   tg_real is (Σ|g|ᵖ, then the p-th root), so a float build gets the norm
   of its gradients to double precision: squares of gradients past 1.8e19
   do not overflow float, as PyTorch's float32 norm does, and sums of many
   small terms lose nothing. The scale is then applied in tg_real, as
   PyTorch does:
       coef = max_norm / (total + 1e-6),  clamped to at most 1
       g = g·coef                          (always: coef 1 changes nothing)
   with total rounded to tg_real first, so both agree to the last bit
   wherever PyTorch's float norm is exact enough. */
#include "nn/nn_internal.h"

/* Σ|g|ᵖ over every present gradient (p finite), or max|g| (p infinite), in
   double. NaN propagates (fmax would drop it). */
static double grad_norm(tg_params *p, double norm_type)
{
    bool inf = isinf(norm_type);
    double acc = 0;
    for (size_t k = 0; k < tg_params_count(p); k++) {
        const tg_tensor *x = tg_params_at(p, k);
        if (!x->grad) continue;
        const tg_real *g = x->grad;
        for (int64_t i = 0; i < x->size; i++) {
            double a = fabs((double)g[i]);
            if (inf) acc = (a > acc || a != a) ? a : acc;
            else if (norm_type == 2) acc += a * a;
            else if (norm_type == 1) acc += a;
            else acc += pow(a, norm_type);
            if (acc != acc) return acc;
        }
    }
    if (inf || norm_type == 1) return acc;
    return norm_type == 2 ? sqrt(acc) : pow(acc, 1 / norm_type);
}

double tg_clip_grad_norm(tg_params *p, double max_norm, double norm_type,
                         bool error_if_nonfinite)
{
    const char *fn = "tg_clip_grad_norm";
    if (!p) {
        tg_set_error(TG_ERR_INVALID, "%s: params is NULL", fn);
        return -1;
    }
    if (!(norm_type > 0)) {
        tg_set_error(TG_ERR_INVALID, "%s: norm_type must be > 0 (or INFINITY), got %g", fn,
                     norm_type);
        return -1;
    }
    if (!(max_norm >= 0) || isinf(max_norm)) {
        tg_set_error(TG_ERR_INVALID, "%s: max_norm must be finite and >= 0, got %g", fn,
                     max_norm);
        return -1;
    }
    double total = grad_norm(p, norm_type);
    if (error_if_nonfinite && !isfinite(total)) {
        tg_set_error(TG_ERR_NUMERIC,
                     "%s: the total norm of order %g of the gradients is %g; the gradients are "
                     "left unchanged (pass error_if_nonfinite = false to clip anyway)",
                     fn, norm_type, total);
        return -1;
    }
    tg_real coef = (tg_real)max_norm / ((tg_real)total + (tg_real)1e-6);
    if (coef > 1) coef = 1; /* torch.clamp(max=1.0): NaN stays NaN */
    for (size_t k = 0; k < tg_params_count(p); k++) {
        tg_tensor *x = tg_params_at(p, k);
        for (int64_t i = 0; x->grad && i < x->size; i++) x->grad[i] = x->grad[i] * coef;
    }
    return (double)(tg_real)total;
}

int tg_clip_grad_value(tg_params *p, double clip_value)
{
    const char *fn = "tg_clip_grad_value";
    if (!p) return tg_set_error(TG_ERR_INVALID, "%s: params is NULL", fn);
    if (!(clip_value >= 0))
        return tg_set_error(TG_ERR_INVALID, "%s: clip_value must be >= 0, got %g", fn,
                            clip_value);
    /* clamp_(−v, v): NaN stays NaN */
    tg_real hi = (tg_real)clip_value, lo = -hi;
    for (size_t k = 0; k < tg_params_count(p); k++) {
        tg_tensor *x = tg_params_at(p, k);
        for (int64_t i = 0; x->grad && i < x->size; i++) {
            tg_real g = x->grad[i];
            x->grad[i] = g < lo ? lo : g > hi ? hi : g;
        }
    }
    return TG_OK;
}
