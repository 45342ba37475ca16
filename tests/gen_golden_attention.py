#!/usr/bin/python3
"""Golden data for scaled dot-product attention, written by PyTorch.

Run from the repository root with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_attention.py
It writes tests/golden/attention_f32.txt and attention_f64.txt, which
tests/ops/test_golden_attention.c reads. Every case uses loss = sum(out * R)
with a random R and carries the second order where it is finite
(tests/golden_writer.py).

The reference is PyTorch 1.13's own F._scaled_dot_product_attention (what
PyTorch 2 calls F.scaled_dot_product_attention) for the options it has: a
float mask (added), a bool mask (True keeps), is_causal. For the options it
lacks, a custom scale and a mask whose True hides (nn.MultiheadAttention's
convention), the reference is the same formula written with torch ops,
softmax((q * scale) @ k^T + mask) @ v, checked against PyTorch's function
on the cases both can run (rtol 1e-6). A bool mask becomes a float mask of
0 and -inf that is added, as PyTorch 1.13 does in this function and in
nn.MultiheadAttention.

Inputs: q, k, v, then the mask if the case has one. Attributes: mask (0
none, 1 additive, 2 keep, 3 hide: tg_mask_kind + 1), causal, scale (absent:
the default 1/sqrt(E)). A 0/1 mask is a float input without a gradient (a
bool tensor in PyTorch); an additive mask gets a gradient. Rows whose every
key is hidden give NaN, as PyTorch, and such cases have first order only.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_writer import GoldenWriter  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NONE, ADD, KEEP, HIDE = 0, 1, 2, 3


def formula(q, k, v, mask, kind, causal, scale):
    s = (q * scale) @ k.transpose(-2, -1)
    L, S = s.shape[-2], s.shape[-1]
    if causal:
        mask, kind = torch.ones(L, S).tril(), KEEP
    if kind == KEEP:  # a bool mask becomes a float one, added (as PyTorch does)
        mask = torch.zeros(mask.shape, dtype=s.dtype).masked_fill(mask == 0, float("-inf"))
    elif kind == HIDE:
        mask = torch.zeros(mask.shape, dtype=s.dtype).masked_fill(mask != 0, float("-inf"))
    if kind != NONE:
        s = s + mask
    return torch.softmax(s, -1) @ v


def torch_sdpa(q, k, v, mask, kind, causal):
    m = None if kind == NONE else mask if kind == ADD else mask != 0
    return F._scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=causal)[0]


def write(dtype, path):
    w = GoldenWriter(path)
    seed = [0]

    def rnd(*shape):
        seed[0] += 1
        g = torch.Generator().manual_seed(9500 + seed[0])
        return torch.randn(tuple(shape), generator=g, dtype=torch.float64).to(dtype)

    def bits(*shape, p=0.7):
        seed[0] += 1
        g = torch.Generator().manual_seed(9500 + seed[0])
        return (torch.rand(tuple(shape), generator=g, dtype=torch.float64) < p).to(dtype)

    def case(name, q, k, v, mask=None, kind=NONE, causal=False, scale=None):
        E = q.shape[-1]
        sc = 1 / math.sqrt(E) if scale is None else scale
        ins = [q, k, v] + ([mask] if mask is not None else [])
        grad = [0, 1, 2] + ([3] if kind == ADD else [])
        own = scale is None and kind != HIDE

        def fn(*a, kind=kind, causal=causal, sc=sc, own=own):
            m = a[3] if len(a) > 3 else None
            if own:
                return torch_sdpa(a[0], a[1], a[2], m, kind, causal)
            return formula(a[0], a[1], a[2], m, kind, causal, sc)

        if own and dtype == torch.float64:  # the formula is PyTorch's function
            a = formula(q, k, v, mask, kind, causal, sc)
            b = torch_sdpa(q, k, v, mask, kind, causal)
            assert torch.allclose(a, b, rtol=1e-6, atol=1e-12, equal_nan=True), name
        attrs = {"mask": kind, "causal": int(causal)}
        if scale is not None:
            attrs["scale"] = scale
        w.case(name, "scaled_dot_product_attention", fn, ins, attrs=attrs, grad_inputs=grad,
               seed=seed[0])

    case("sdpa_basic", rnd(2, 3, 4), rnd(2, 5, 4), rnd(2, 5, 6))
    case("sdpa_heads", rnd(2, 2, 4, 3), rnd(2, 2, 4, 3), rnd(2, 2, 4, 5))
    case("sdpa_no_batch", rnd(3, 4), rnd(6, 4), rnd(6, 2))
    case("sdpa_broadcast_kv", rnd(2, 3, 3, 4), rnd(1, 3, 5, 4), rnd(3, 5, 2))
    case("sdpa_one_query_one_key", rnd(2, 1, 3), rnd(2, 1, 3), rnd(2, 1, 2))
    case("sdpa_additive", rnd(2, 3, 4), rnd(2, 5, 4), rnd(2, 5, 3), rnd(3, 5), ADD)
    case("sdpa_additive_batched", rnd(2, 3, 4), rnd(2, 5, 4), rnd(2, 5, 3), rnd(2, 3, 5), ADD)
    case("sdpa_additive_broadcast", rnd(2, 2, 3, 4), rnd(2, 2, 5, 4), rnd(2, 2, 5, 3),
         rnd(2, 1, 1, 5), ADD)
    m = rnd(3, 5)
    m[0, 1] = m[2, 4] = float("-inf")
    case("sdpa_additive_neg_inf", rnd(2, 3, 4), rnd(2, 5, 4), rnd(2, 5, 3), m, ADD)
    keep = bits(3, 5)
    keep[:, 0] = 1  # every query keeps a key
    case("sdpa_keep", rnd(2, 3, 4), rnd(2, 5, 4), rnd(2, 5, 3), keep, KEEP)
    case("sdpa_hide", rnd(2, 3, 4), rnd(2, 5, 4), rnd(2, 5, 3), 1 - keep, HIDE)
    kb = bits(2, 1, 4, 6)
    kb[..., 0] = 1
    case("sdpa_keep_broadcast", rnd(2, 3, 4, 2), rnd(2, 3, 6, 2), rnd(2, 3, 6, 2), kb, KEEP)
    case("sdpa_causal", rnd(2, 4, 3), rnd(2, 4, 3), rnd(2, 4, 5), causal=True)
    case("sdpa_causal_short_query", rnd(2, 2, 3), rnd(2, 5, 3), rnd(2, 5, 2), causal=True)
    case("sdpa_causal_long_query", rnd(1, 5, 3), rnd(1, 3, 3), rnd(1, 3, 2), causal=True)
    case("sdpa_scale", rnd(2, 3, 4), rnd(2, 5, 4), rnd(2, 5, 3), scale=0.3)
    case("sdpa_scale_keep", rnd(2, 3, 4), rnd(2, 5, 4), rnd(2, 5, 3), keep, KEEP, scale=1.7)
    dead = keep.clone()
    dead[1, :] = 0  # query 1 sees no key: NaN, as PyTorch
    case("sdpa_row_fully_masked", rnd(2, 3, 4), rnd(2, 5, 4), rnd(2, 5, 3), dead, KEEP)
    case("sdpa_row_fully_masked_hide", rnd(2, 3, 4), rnd(2, 5, 4), rnd(2, 5, 3), 1 - dead, HIDE)
    # v with more batch dimensions than q and k: the product p @ v broadcasts
    # them as torch.matmul does; the scores [..., L, S], and so the mask, have
    # q's and k's (PyTorch adds the mask to the scores in place). Added last,
    # so that the cases before keep their seeds.
    case("sdpa_v_more_batch", rnd(2, 1, 1), rnd(2, 3, 1), rnd(2, 2, 3, 1))
    case("sdpa_v_more_batch_heads", rnd(2, 3, 4), rnd(1, 5, 4), rnd(3, 1, 5, 2))
    case("sdpa_v_more_batch_additive", rnd(2, 3, 4), rnd(2, 5, 4), rnd(2, 2, 2, 5, 3),
         rnd(2, 1, 5), ADD)
    # any finite scale other than 0 (0 is the default 1/sqrt(E)), as PyTorch 2.1+
    case("sdpa_negative_scale", rnd(2, 3, 4), rnd(2, 5, 4), rnd(2, 5, 3), scale=-0.45)
    w.close()


if __name__ == "__main__":
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    write(torch.float64, os.path.join(HERE, "golden", "attention_f64.txt"))
    write(torch.float32, os.path.join(HERE, "golden", "attention_f32.txt"))
    print("wrote tests/golden/attention_f32.txt and attention_f64.txt")
