/* Attention: scaled dot-product attention (F.scaled_dot_product_attention)
   composed from ops, and the masks it takes.

       s = (q·scale) @ kᵀ  (+ mask, or −inf where the mask hides)  p = softmax(s)  y = p @ v

   Every step is an op with its own backward and vjp (tg_matmul_t reads kᵀ
   in place; a 0/1 mask becomes 0 and −inf, added), so the gradient
   and every higher one come from those ops: nothing new to derive here. A
   row whose every score is hidden has a softmax of −inf only, NaN, and so
   its output and the gradients that read it are NaN, as PyTorch gives
   (1.13's F._scaled_dot_product_attention and nn.MultiheadAttention, and
   the math path of 2.x). The batch dimensions broadcast as the two
   products broadcast them (torch.matmul's rule): q's and k's into the
   scores', those and v's into the output's, so v may have more than q and
   k; each input's gradient is summed back to its shape by the products. */
#include "ops/ops_internal.h"

#define SDPA "tg_scaled_dot_product_attention"

/* The mask's dimensions, right-aligned, must each equal the scores' or be
   1, and it may not have more: it broadcasts to the scores, never the
   other way. */
static bool mask_fits(const tg_tensor *m, int ndim, const int64_t *shape)
{
    if (m->ndim > ndim) return false;
    for (int i = 0; i < m->ndim; i++) {
        int64_t d = m->shape[m->ndim - 1 - i], s = shape[ndim - 1 - i];
        if (d != s && d != 1) return false;
    }
    return true;
}

/* The checks of q [..., L, E], k [..., S, E], v [..., S, Ev] and the mask;
   the message names the function and the shapes. */
static bool sdpa_check(tg_tape *t, const tg_tensor *q, const tg_tensor *k, const tg_tensor *v,
                       const tg_tensor *mask, tg_mask_kind kind, bool is_causal, double scale)
{
    char sq[96], sk[96], sv[96], sm[96];
    tg_shape_str(q, sq, sizeof sq);
    tg_shape_str(k, sk, sizeof sk);
    tg_shape_str(v, sv, sizeof sv);
    if (q->ndim < 2 || k->ndim < 2 || v->ndim < 2) {
        tg_tape_set_error(t, SDPA ": q, k and v need at least 2 dimensions ([..., L, E], "
                             "[..., S, E], [..., S, Ev]), got q %s, k %s, v %s",
                          sq, sk, sv);
        return false;
    }
    int64_t L = q->shape[q->ndim - 2], E = q->shape[q->ndim - 1];
    int64_t S = k->shape[k->ndim - 2];
    if (L == 0 || S == 0 || E == 0) {
        tg_tape_set_error(t, SDPA ": %s has length 0 (q %s, k %s, v %s); attention needs at "
                             "least one query, one key and one feature",
                          L == 0 ? "the query sequence" : S == 0 ? "the key sequence"
                                                                 : "the embedding",
                          sq, sk, sv);
        return false;
    }
    if (k->shape[k->ndim - 1] != E || v->shape[v->ndim - 2] != S) {
        tg_tape_set_error(t, SDPA ": q %s, k %s and v %s do not fit: q and k need the same "
                             "last axis E, k and v the same sequence length S",
                          sq, sk, sv);
        return false;
    }
    if (kind != TG_MASK_ADDITIVE && kind != TG_MASK_KEEP && kind != TG_MASK_HIDE) {
        tg_tape_set_error(t, SDPA ": unknown mask kind %d", (int)kind);
        return false;
    }
    if (mask && is_causal) {
        tg_tape_set_error(t, SDPA ": give attn_mask or is_causal, not both (as PyTorch); fold "
                             "the causal mask into attn_mask (tg_causal_mask)");
        return false;
    }
    /* any finite scale, negative too, as PyTorch 2.1's (0 stands for the
       default here, so PyTorch's scale=0.0 has no equivalent) */
    if (!isfinite(scale)) {
        tg_tape_set_error(t, SDPA ": scale must be finite (0: 1/√E), got %g", scale);
        return false;
    }
    /* the scores' shape: the batch dimensions of q and k broadcast, then
       [L, S]; the output's batch dimensions: those and v's broadcast (as
       torch.matmul's p @ v), so that v may have more of them */
    int nb, nbo;
    int64_t shape[TG_MAX_DIMS], out[TG_MAX_DIMS];
    if (tg_broadcast_dims(q->ndim - 2, q->shape, k->ndim - 2, k->shape, &nb, shape) != TG_OK ||
        tg_broadcast_dims(nb, shape, v->ndim - 2, v->shape, &nbo, out) != TG_OK) {
        tg_tape_set_error(t, SDPA ": the batch dimensions of q %s, k %s and v %s cannot be "
                             "broadcast together",
                          sq, sk, sv);
        return false;
    }
    shape[nb] = L, shape[nb + 1] = S;
    /* the mask is added to the scores, so it broadcasts to them, not to v's
       batch dimensions: PyTorch adds it in place and refuses more too */
    if (mask && !mask_fits(mask, nb + 2, shape)) {
        char ss[96];
        tg_tape_set_error(t, SDPA ": the mask %s does not broadcast to the scores %s ([..., L, S] "
                             "for q %s and k %s)",
                          tg_shape_str(mask, sm, sizeof sm),
                          tg_dims_str(nb + 2, shape, ss, sizeof ss), sq, sk);
        return false;
    }
    return true;
}

tg_tensor *tg_causal_mask(tg_tape *t, int64_t L, int64_t S, tg_mask_kind kind)
{
    if (!t) return tg_no_tape(__func__);
    if (L < 0 || S < 0 || (kind != TG_MASK_ADDITIVE && kind != TG_MASK_KEEP && kind != TG_MASK_HIDE)) {
        tg_tape_set_error(t, "tg_causal_mask: needs L, S ≥ 0 and a mask kind, got %lld, %lld, %d",
                          (long long)L, (long long)S, (int)kind);
        return NULL;
    }
    tg_tensor *m = tg_zeros(t, TG_SHAPE(L, S));
    if (!m) return NULL;
    /* query i sees keys j ≤ i (torch.ones(L, S).tril(), from the top left);
       nothing to write without keys (L may be huge then: the mask is empty) */
    for (int64_t i = 0; i < L && S > 0; i++)
        for (int64_t j = 0; j < S; j++) {
            bool keep = j <= i;
            m->data[i * S + j] = kind == TG_MASK_ADDITIVE ? (keep ? 0 : -INFINITY)
                                 : kind == TG_MASK_KEEP   ? (tg_real)keep
                                                          : (tg_real)!keep;
        }
    return m;
}

/* 0 where a 0/1 mask lets a query attend, −inf where it hides: PyTorch
   turns a bool mask into this float mask and adds it to the scores (so
   that a row hidden everywhere has NaN gradients too, as there). */
tg_tensor *tg_mask_additive(tg_tape *t, tg_tensor *mask, tg_mask_kind kind)
{
    if (!mask) return tg_null_input(t, "mask_additive");
    if (kind == TG_MASK_ADDITIVE) return mask;
    if (kind != TG_MASK_KEEP && kind != TG_MASK_HIDE) {
        if (t) tg_tape_set_error(t, "tg_mask_additive: unknown mask kind %d", (int)kind);
        return NULL;
    }
    tg_tensor *zero = tg_scalar(t, 0), *ninf = tg_scalar(t, -INFINITY);
    return kind == TG_MASK_KEEP ? tg_where(t, mask, zero, ninf) : tg_where(t, mask, ninf, zero);
}

tg_tensor *tg_scaled_dot_product_attention(tg_tape *t, tg_tensor *q, tg_tensor *k, tg_tensor *v,
                                           tg_tensor *attn_mask, tg_mask_kind mask_kind,
                                           bool is_causal, double scale)
{
    if (!q || !k || !v) return tg_null_input(t, "scaled_dot_product_attention");
    if (!t) return tg_no_tape(__func__);
    if (!sdpa_check(t, q, k, v, attn_mask, mask_kind, is_causal, scale)) return NULL;
    int64_t L = q->shape[q->ndim - 2], S = k->shape[k->ndim - 2];
    if (scale == 0) scale = 1 / sqrt((double)q->shape[q->ndim - 1]);
    /* q is scaled before the product, as PyTorch does: [.., L, E] is
       smaller than the scores [.., L, S] when the sequences are long */
    tg_tensor *s = tg_matmul_t(t, tg_scale(t, q, (tg_real)scale), k, false, true);
    /* a mask that failed is not no mask: stop */
    if (is_causal) {
        if (!(attn_mask = tg_causal_mask(t, L, S, TG_MASK_ADDITIVE))) return NULL;
    } else if (attn_mask && mask_kind != TG_MASK_ADDITIVE) {
        if (!(attn_mask = tg_mask_additive(t, attn_mask, mask_kind))) return NULL;
    }
    if (attn_mask) s = tg_add(t, s, attn_mask);
    return tg_matmul(t, tg_softmax(t, s, -1), v);
}
