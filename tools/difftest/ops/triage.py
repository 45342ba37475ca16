"""Sort the problems run.py recorded into known differences and the rest.

usage: triage.py [--all] issues.jsonl ...
Prints each case that has a problem no category below explains (its id, S if
it has NaN or ±inf inputs, those problems), then how many problems each
category hid. --all prints every case, with the category of each problem.
Each problem is sorted on its own: a case is hidden only when all of its are.

Only differences go here, each with its reason: a bug stays visible until it
is fixed (add no category for one).
"""
import json
import re
import sys

import numpy as np

ACT = {"relu", "relu6", "leaky_relu", "elu", "selu", "celu", "softplus", "hardtanh", "hardshrink",
       "softshrink", "threshold", "prelu", "hardswish", "hardsigmoid", "silu", "mish", "gelu",
       "softsign", "logsigmoid", "tanhshrink", "sigmoid", "tanh"}
# composite ops whose NaN and ±inf inputs the two propagate differently
SPECIAL_ANY = {"glu", "gaussian_nll_loss", "prod", "batch_norm", "group_norm", "layer_norm",
               "cross_entropy_idx", "kl_div", "poisson_nll_loss", "smooth_l1_loss", "huber_loss",
               "cosine_embedding_loss", "triplet_margin_loss", "bce_loss_ex"}


def values(iss):
    """the tg and torch numbers an issue quotes, or None"""
    m = re.search(r"tg (\S+) torch (\S+)", iss)
    try:
        return float(m.group(1)), float(m.group(2))
    except (AttributeError, ValueError):
        return None


def has_neg_zero_or_inf(c):
    for t in c.get("T", []):
        if t is not None:
            a = np.asarray(t[0], dtype=np.float64)
            if (((a == 0) | (a == -np.inf)) & np.signbit(a)).any():
                return True
    return False


def nan_at(t, iss):
    """whether the tensor t (a case's [values, requires_grad, shape]) is NaN where iss points"""
    m = re.search(r" at \(([0-9, ]*)\)", iss)
    if not m or t is None:
        return False
    a = np.asarray(t[0], dtype=np.float64).reshape(t[2])
    at = tuple(int(i) for i in m.group(1).split(",") if i.strip())
    return len(at) == a.ndim and bool(np.isnan(a[at]))


def cumprod_definition(c, iss):
    """the definition's value, term by term in float64, of the first derivative (GF, GC) or
    the second (GG: the gradient of sum(V * dx)) of cumprod at the position iss names:
    dx_k = sum_{j>=k} g_j prod_{i<=j, i!=k} x_i along the axis"""
    m = re.search(r"^(G[FCG]) in0 .* at \(([0-9, ]*)\)", iss)
    if not m:
        return None
    t = c["T"][0]
    x = np.asarray(t[0], dtype=np.float64).reshape(t[2])
    if x.ndim == 0:
        return None
    ax = c["I"][0] % x.ndim
    g = np.asarray(c["G"][0][0], dtype=np.float64).reshape(x.shape)
    v = np.asarray(c["V"][0][0], dtype=np.float64).reshape(x.shape)
    at = tuple(int(i) for i in m.group(2).split(",") if i.strip())
    if len(at) != x.ndim:
        return None
    sl = at[:ax] + (slice(None),) + at[ax + 1:]
    xs, gs, vs, p = list(x[sl]), list(g[sl]), list(v[sl]), at[ax]
    n = len(xs)

    def prod(j, skip):
        r = 1.0
        for i in range(j + 1):
            if i not in skip:
                r *= xs[i]
        return r
    with np.errstate(all="ignore"):
        if m.group(1) != "GG":
            return float(sum(gs[j] * prod(j, (p,)) for j in range(p, n)))
        return float(sum(vs[k] * sum(gs[j] * prod(j, (k, p)) for j in range(max(k, p), n))
                         for k in range(n) if k != p))


def has_zero(c):
    """whether an input holds an exact zero (a zero vector needs one, along any axis)"""
    return any(t is not None and (np.asarray(t[0], dtype=np.float64) == 0).any()
               for t in c.get("T", []))


def same_value(a, b):
    return (np.isnan(a) and np.isnan(b)) or a == b or abs(a - b) <= 1e-6 * max(abs(a), abs(b))


def known(op, iss, special, c):
    """the category of one problem, or None"""
    kind = iss[:2]
    grad1 = kind in ("GF", "GC")
    v = values(iss)
    # PyTorch's second order disagrees with a finite difference of its own first; tapegrad's agrees
    if "[FD agrees with: tg]" in iss:
        return "torch-wrong(FD)"
    # rounding: a second derivative that is 0 on both sides up to 1e-7 (the tolerance
    # scales with the largest entry, so such an entry beside entries of 1 fails it)
    if kind == "GG" and v and max(abs(v[0]), abs(v[1])) < 1e-7:
        return "tiny-GG"
    # norm's gradient is 0 where the norm is 0, and for p < 1 where x is 0 (ops.md); PyTorch's
    # second order is NaN there
    if op in ("norm", "norm_axes") and kind == "GG" and "tg 0.0 torch nan" in iss:
        return "norm-zero"
    # PyTorch 1.13's double backward through sgn (abs, 1- and inf-norms) reads uninitialised memory
    if kind == "GG" and (op in ("abs", "l1_loss")
                         or (op in ("norm", "norm_axes") and c["R"][0] in (1.0, float("inf")))
                         or (op == "triplet_margin_loss" and c["R"][1] == 1.0)):
        return "torch-sgn-garbage"
    # a NaN input gives a NaN gradient (ops.md, numerics at the extremes); PyTorch's varies
    if special and op in ACT and "nan mismatch" in iss and "tg nan torch" in iss:
        return "doc-nan-policy"
    # prelu at a NaN x: PyTorch's first order takes the x <= 0 branch (dx = w·g, dw NaN), its
    # second order the x > 0 one (0 for d(dw)/dx); tapegrad's second order follows the first
    if (op == "prelu" and special and kind == "GG" and " value at " in iss
            and nan_at(c["T"][0], iss)):
        return "torch-prelu-nan-GG"
    # cumprod at infs and NaNs: tapegrad's derivatives are the definition term by term
    # (ops.md); PyTorch's divides by x on a tensor without a zero (inf/inf = NaN), and its
    # second order divides in its first order's leave-one-out rows
    if op == "cumprod" and special and v is not None:
        want = cumprod_definition(c, iss)
        if want is not None and same_value(v[0], want):
            return "cumprod-definition"
        # its second order at an inf: tapegrad's leave-one-out rows hold the unused products
        # j < k too, whose gradient 0 meets an inf there (0·inf = NaN, ops.md); the definition
        # (and PyTorch, which forms only j >= k) gives +-inf
        if kind == "GG" and np.isnan(v[0]) and want is not None and np.isinf(want):
            return "cumprod-GG-masked-inf"
    # repeated positions: the last write wins and only it gets the gradient (ops.md)
    if op == "scatter" and grad1:
        return "doc-scatter"
    # PyTorch's double hardsigmoid gradient uses 1/6 rounded to float (ops.md)
    if op == "hardsigmoid" and grad1 and " value at " in iss:
        return "doc-hardsigmoid-1/6"
    # at x = 3 PyTorch 1.13's vectorised kernel gives 1, its scalar one (and tapegrad, ops.md) 3/2
    if (op == "hardswish" and grad1 and " value at " in iss
            and (np.asarray(c["T"][0][0]) == 3).any()):
        return "torch-hardswish-3"
    # smooth_l1 with beta = 0 is l1, 0 at d = 0 (ops.md); PyTorch 1.13 gives -1 there
    if op == "smooth_l1_loss" and grad1 and c["R"][0] == 0.0 and " value at " in iss:
        return "doc-sl1-beta0"
    # bce at p = 0 or 1: tapegrad's second order treats the 1e-12 clamp of p(1 - p) as a
    # constant, PyTorch differentiates inside it (values ~1/eps^2); FD cannot step there
    if op == "bce_loss_ex" and kind == "GG" and np.isin(c["T"][0][0], (0.0, 1.0)).any():
        return "bce-boundary-GG"
    # the mean of no sample is NaN (ops.md); PyTorch 1.13 returns uninitialised memory
    if op == "multi_margin_loss" and kind == "FW":
        return "doc-mm-empty"
    # PyTorch 1.13 refuses a crop to size 0 ("negative output size"); tapegrad gives an empty tensor
    if op == "pad" and "negative output size" in iss:
        return "pad-zero-size"
    # n <= correction: the gradient (x - m)/(n - c) is 0/0; tapegrad NaN, PyTorch +-inf
    if op in ("var", "var_axes", "std", "std_axes") and "tg nan torch" in iss:
        return "var-n-le-c"
    # NaN and +-inf inputs of composite ops: the two propagate them differently
    if op in SPECIAL_ANY and special and ("nan mismatch" in iss or "inf mismatch" in iss):
        return "composite-special"
    # +-inf endpoints: fma(w, b - a, a) meets inf - inf (NaN) where PyTorch's kernel gives +-inf
    if op in ("lerp", "lerp_tensor") and kind == "FW" and "tg nan torch" in iss:
        return "lerp-inf"
    # harness: the reference passes infinite bounds as None, and torch.clamp refuses both None
    if op == "clamp" and "must not be None" in iss:
        return "clamp-no-bounds"
    # zero vectors (|a|^2 against the 1e-12 eps): gradients ~1e6, ill-conditioned, ~1e-9 apart
    # relatively (~1e-4 in the second order, whose entries are ~1e-6)
    if op == "cosine_embedding_loss" and kind != "FW" and " value at " in iss:
        return "cel-precision"
    # the same in cosine_similarity at a zero vector (along the op's axis, which may be
    # of length 1): first derivatives ~1/eps = 1e8, and
    # second-order entries that are 0 come out as rounding residues of ~1e-7 on either side
    if (op == "cosine_similarity" and kind == "GG" and " value at " in iss and v
            and max(abs(v[0]), abs(v[1])) < 1e-6 and has_zero(c)):
        return "cos-precision"
    # an empty broadcast: y's gradient sums no element (0); PyTorch's xlogy term, taken on y
    # before the broadcast, multiplies that 0 by its 0/0 at y = 0
    if (op in ("kl_div", "poisson_nll_loss") and grad1 and "tg 0.0 torch nan" in iss
            and any(t is not None and 0 in t[2] for t in c["T"])):
        return "torch-empty-xlogy"
    # PyTorch computes x^(+-1/2) by sqrt and rsqrt: at -0 and -inf (-0^-0.5, -inf^0.5, and the
    # derivatives' powers) it gives -inf and NaN where C's pow, tapegrad's, gives +inf and 0
    if op == "pow" and ("inf mismatch" in iss or "nan mismatch" in iss) and has_neg_zero_or_inf(c):
        return "torch-pow-sqrt"
    # narrow's start is in [-n, n] (ops.md); PyTorch 1.13 also takes -1 on an axis of size 0
    if op == "narrow" and iss.startswith("REFUSES-VALID") and "of size 0" in iss:
        return "doc-narrow-empty"
    return None


def main():
    args = sys.argv[1:]
    show_all = "--all" in args
    files = [a for a in args if a != "--all"]
    if not files:
        sys.exit(__doc__)
    count = {}
    for f in files:
        for line in open(f):
            r = json.loads(line)
            c = r["case"]
            cats = [known(c["op"], iss, r["special"], c) for iss in r["issues"]]
            for k in cats:
                if k:
                    count[k] = count.get(k, 0) + 1
            rest = [iss for iss, k in zip(r["issues"], cats) if not k]
            if show_all:
                print(r["id"], "S" if r["special"] else "-",
                      [(k or "?", iss[:160]) for iss, k in zip(r["issues"], cats)])
            elif rest:
                print(r["id"], "S" if r["special"] else "-", [iss[:240] for iss in rest[:2]])
    print("hidden:", dict(sorted(count.items())))


if __name__ == "__main__":
    main()
