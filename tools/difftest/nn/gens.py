"""Random case generators for the nn ops: convolution, pooling, normalisation."""
import os

import numpy as np
import torch
import torch.nn.functional as F

from harness import Case, add_weights

NEG_INF = float("-inf")
BIG = int(os.environ.get("BIG", "0"))  # BIG=1: larger shapes


def finalize(c, rng):
    """run the reference once to learn output shapes; add G and V weights."""
    T = {n: torch.tensor(a) for n, (a, rg) in c.tensors.items()}
    X = {n: torch.tensor(a) for n, a in c.idx.items()}
    try:
        with torch.no_grad():
            outs, _, _, _ = c.ref(c, T, X)
        shapes = [tuple(o.shape) for o in outs]
    except Exception:
        shapes = []
        c.expect_err = True
    add_weights(c, shapes, rng)
    return c


def rn(rng, *shape):
    return rng.standard_normal(shape)


# ------------------------------------------------------------------ conv
def ref_conv(c, T, X):
    i = c.ints
    x, w, b = T["x"], T["w"], T.get("b")
    two = c.op in ("conv2d", "convt2d", "conv2d_layer", "convt2d_layer")
    s = (i["s0"], i["s1"]) if two else i["s0"]
    p = (i["p0"], i["p1"]) if two else i["p0"]
    d = (i["d0"], i["d1"]) if two else i["d0"]
    op_ = (i.get("op0", 0), i.get("op1", 0)) if two else i.get("op0", 0)
    g = i["groups"]
    if c.op.startswith("convt"):
        f = F.conv_transpose2d if two else F.conv_transpose1d
        return [f(x, w, b, s, p, op_, g, d)], {}, {}, None
    f = F.conv2d if two else F.conv1d
    if i.get("same"):
        p = "same"
    return [f(x, w, b, s, p, d, g)], {}, {}, None


def gen_conv(rng, two=True, transposed=False, layer=False, allow_bad=True):
    op = ("convt" if transposed else "conv") + ("2d" if two else "1d") + ("_layer" if layer else "")
    c = Case(op, ref_conv)
    nd = 2 if two else 1
    big = BIG
    groups = int(rng.choice([1, 1, 2, 3]))
    cpg_in = int(rng.integers(1, 3 + 4 * big))
    cin = groups * cpg_in
    if rng.random() < 0.25 and not transposed:
        # depthwise
        cout = cin * int(rng.integers(1, 3))
    else:
        cout = groups * int(rng.integers(1, 3 + 4 * big))
    k = [int(rng.integers(1, 5 + 2 * big)) for _ in range(nd)]
    s = [int(rng.choice([1, 1, 2, 3])) for _ in range(nd)]
    d = [int(rng.choice([1, 1, 2, 3])) for _ in range(nd)]
    p = [int(rng.integers(0, k[j] + 2)) for j in range(nd)]
    same = (not transposed) and rng.random() < 0.2
    if same:
        p = [0] * nd
        if rng.random() < 0.85:
            s = [1] * nd
    opad = [0] * nd
    if transposed:
        for j in range(nd):
            m = max(s[j], d[j])
            opad[j] = int(rng.integers(0, m)) if rng.random() < 0.6 else 0
        if allow_bad and rng.random() < 0.05:
            opad[0] = max(s[0], d[0])  # invalid
    sizes = []
    for j in range(nd):
        if transposed:
            lo = 1
            # output must be >= 1: (H-1)s - 2p + d(k-1) + op + 1 >= 1
            while (lo - 1) * s[j] - 2 * p[j] + d[j] * (k[j] - 1) + opad[j] + 1 < 1:
                lo += 1
        else:
            eff = d[j] * (k[j] - 1) + 1
            lo = max(1, eff - 2 * p[j])
        sizes.append(lo + int(rng.integers(0, 4 + 20 * big)))
    if allow_bad and not transposed and rng.random() < 0.05:
        sizes[0] = max(1, d[0] * (k[0] - 1) + 1 - 2 * p[0] - 1)  # maybe too small
    batch = rng.random()
    if batch < 0.15:
        xs = [cin] + sizes  # unbatched
    elif batch < 0.4:
        xs = [1, cin] + sizes
    else:
        xs = [int(rng.integers(2, 4 + 4 * big)), cin] + sizes
    if transposed:
        ws = [cin, cout // groups] + k
    else:
        ws = [cout, cin // groups] + k
    if layer:
        c.P("w", rn(rng, *ws))
        if rng.random() < 0.7:
            c.P("b", rn(rng, cout))
        c.I(cin=cin, cout=cout)
    else:
        c.T("w", rn(rng, *ws))
        if rng.random() < 0.7:
            c.T("b", rn(rng, cout))
    c.T("x", rn(rng, *xs))
    c.I(s0=s[0], s1=s[-1], p0=p[0], p1=p[-1], d0=d[0], d1=d[-1], groups=groups,
        op0=opad[0], op1=opad[-1], same=int(same))
    c.desc = dict(x=xs, w=ws, k=k, s=s, p=p, d=d, g=groups, op=opad, same=same,
                  bias="b" in c.tensors)
    return finalize(c, rng)


# ------------------------------------------------------------------ pooling
def ref_pool(c, T, X):
    i = c.ints
    x = T["x"]
    if c.op == "adaptive_avg2d":
        return [F.adaptive_avg_pool2d(x, (i["oh"], i["ow"]))], {}, {}, None
    two = c.op.endswith("2d")
    pick = (lambda a, b: (a, b)) if two else (lambda a, b: a)
    k = pick(i["k0"], i["k1"])
    s = pick(i["s0"], i["s1"])
    p = pick(i["p0"], i["p1"])
    if c.op.startswith("maxpool"):
        d = pick(i["d0"], i["d1"])
        f = F.max_pool2d if two else F.max_pool1d
        if i.get("with_idx"):
            y, idx = f(x, k, s, p, d, bool(i["ceil"]), True)
            return [y], {}, {}, idx
        return [f(x, k, s, p, d, bool(i["ceil"]))], {}, {}, None
    if c.op.startswith("avgpool"):
        if two:
            dv = i.get("divisor", 0) or None
            return [F.avg_pool2d(x, k, s, p, bool(i["ceil"]), bool(i["cip"]), dv)], {}, {}, None
        if i.get("divisor", 0):
            # as F.avg_pool2d over a height of 1
            y = F.avg_pool2d(x.unsqueeze(-2), (1, k), (1, s), (0, p), bool(i["ceil"]),
                             bool(i["cip"]), i["divisor"])
            return [y.squeeze(-2)], {}, {}, None
        return [F.avg_pool1d(x, k, s, p, bool(i["ceil"]), bool(i["cip"]))], {}, {}, None
    if c.op == "adaptive_avg2d":
        return [F.adaptive_avg_pool2d(x, (i["oh"], i["ow"]))], {}, {}, None
    raise ValueError(c.op)


def special_values(rng, shape, kind):
    a = rng.standard_normal(shape)
    if kind == "ties":
        a = rng.integers(-2, 3, size=shape).astype(np.float64)
    elif kind == "inf":
        m = rng.random(shape) < 0.3
        a[m] = NEG_INF
    elif kind == "nan":
        m = rng.random(shape) < 0.1
        a[m] = np.nan
    elif kind == "allneginf":
        a[:] = NEG_INF
    return a


def gen_pool(rng, kind="max", two=True, allow_bad=True):
    nd = 2 if two else 1
    op = {"max": "maxpool", "avg": "avgpool"}[kind] + ("2d" if two else "1d")
    c = Case(op, ref_pool)
    k = [int(rng.integers(1, 5)) for _ in range(nd)]
    s = [int(rng.choice([1, 2, 3, k[j]])) for j in range(nd)]
    p = [int(rng.integers(0, k[j] // 2 + 1)) for j in range(nd)]
    if allow_bad and rng.random() < 0.05:
        p[0] = k[0] // 2 + 1
    d = [int(rng.choice([1, 1, 2, 3])) for _ in range(nd)] if kind == "max" else [1] * nd
    ceil = int(rng.random() < 0.5)
    sizes = []
    for j in range(nd):
        eff = d[j] * (k[j] - 1) + 1
        lo = max(1, eff - 2 * p[j])
        sizes.append(lo + int(rng.integers(0, 5)))
    C = int(rng.integers(1, 3 + 5 * BIG))
    sizes = [sz + int(rng.integers(0, 1 + 20 * BIG)) for sz in sizes]
    r = rng.random()
    if r < 0.15:
        xs = [C] + sizes
    else:
        xs = [int(rng.integers(1, 3)), C] + sizes
    vk = "normal"
    if kind == "max":
        vk = str(rng.choice(["normal", "ties", "ties", "inf", "nan", "allneginf"], p=[.35, .2, .15, .15, .1, .05]))
    else:
        vk = str(rng.choice(["normal", "ties"]))
    c.T("x", special_values(rng, xs, vk))
    c.I(k0=k[0], k1=k[-1], s0=s[0], s1=s[-1], p0=p[0], p1=p[-1], d0=d[0], d1=d[-1], ceil=ceil)
    if kind == "max":
        c.I(with_idx=int(rng.random() < 0.5))
    else:
        c.I(cip=int(rng.random() < 0.5))
        if rng.random() < 0.25:
            c.I(divisor=int(rng.integers(1, 7)))
    c.desc = dict(x=xs, k=k, s=s, p=p, d=d, ceil=ceil, vals=vk,
                  **{kk: c.ints[kk] for kk in ("with_idx", "cip", "divisor") if kk in c.ints})
    if kind == "max" and has_empty_window(sizes, k, s, p, d, ceil):
        # PyTorch routes such a window's gradient to a garbage index (documented
        # difference: tapegrad gives -inf, index -1, no gradient): forward only
        c.I(nograd=1)
        c.skip_idx = True
        c.desc["empty_window"] = True
    return finalize(c, rng)


def out_len(L, k, s, p, d, ceil):
    n = L + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)
    o = n // s + 1
    if ceil and (o - 1) * s >= L + p:
        o -= 1
    return o


def has_empty_window(sizes, k, s, p, d, ceil):
    for j, L in enumerate(sizes):
        for o in range(max(0, out_len(L, k[j], s[j], p[j], d[j], ceil))):
            taps = [o * s[j] - p[j] + t * d[j] for t in range(k[j])]
            if not any(0 <= q < L for q in taps):
                return True
    return False


def gen_adaptive(rng):
    c = Case("adaptive_avg2d", ref_pool)
    H, W = int(rng.integers(1, 8)), int(rng.integers(1, 8))
    oh, ow = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    xs = [int(rng.integers(1, 3)), int(rng.integers(1, 3)), H, W]
    if rng.random() < 0.2:
        xs = xs[1:]
    c.T("x", rn(rng, *xs))
    c.I(oh=oh, ow=ow)
    c.desc = dict(x=xs, out=(oh, ow))
    return finalize(c, rng)


# ------------------------------------------------------------------ norms
def ref_norm(c, T, X):
    i, f = c.ints, c.floats
    x = T["x"]
    if c.op == "batch_norm":
        rm = T.get("rm")
        rv = T.get("rv")
        rm = rm.clone() if rm is not None else None
        rv = rv.clone() if rv is not None else None
        w = T.get("w")
        if w is None and T.get("b") is not None:
            w = torch.ones(x.shape[1])  # torch 1.13's double backward needs a weight
        y = F.batch_norm(x, rm, rv, w, T.get("b"), bool(i["training"]),
                         f["momentum"], f["eps"])
        bufs = {}
        if rm is not None:
            bufs["rm"], bufs["rv"] = rm, rv
        return [y], {}, bufs, None
    if c.op == "batchnorm_layer":
        C = i["C"]
        cls = torch.nn.BatchNorm1d if i["dims"] == 1 else torch.nn.BatchNorm2d
        mom = None if i.get("cumavg") else f["momentum"]
        m = cls(C, eps=f["eps"], momentum=mom, affine=bool(i["affine"]),
                track_running_stats=bool(i["track"]))
        swap(m, {k: T[k2] for k, k2 in (("weight", "w"), ("bias", "b")) if k2 in T})
        m.train()
        with torch.no_grad():
            for k in range(i.get("npre", 0)):
                m(T[f"pre{k}"])
        m.train(bool(i["training"]))
        y = m(x)
        bufs = {}
        if m.running_mean is not None:
            bufs["rm"], bufs["rv"] = m.running_mean, m.running_var
            bufs["nbt"] = m.num_batches_tracked.double()
        return [y], {}, bufs, None
    if c.op in ("layer_norm", "layernorm_layer"):
        nd = i["nd"]
        return [F.layer_norm(x, tuple(x.shape[-nd:]), T.get("w"), T.get("b"), f["eps"])], {}, {}, None
    if c.op in ("rms_norm", "rmsnorm_layer"):
        nd = i["nd"]
        eps = f.get("eps", -1.0)
        if eps < 0:
            eps = torch.finfo(torch.float64).eps
        dims = tuple(range(-nd, 0))
        y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)
        if "w" in T:
            y = y * T["w"]
        return [y], {}, {}, None
    if c.op in ("group_norm", "groupnorm_layer"):
        # torch.group_norm: without F.group_norm's batch-size check (which refuses
        # one value per group when N*C/G*spatial == 1; tapegrad accepts that)
        return [torch.group_norm(x, i["G"], T.get("w"), T.get("b"), f["eps"])], {}, {}, None
    raise ValueError(c.op)


def swap(m, p):
    for k, v in p.items():
        mod = m
        parts = k.split(".")
        for q in parts[:-1]:
            mod = getattr(mod, q)
        del mod._parameters[parts[-1]]
        setattr(mod, parts[-1], v)


def gen_batch_norm(rng, layer=False):
    C = int(rng.integers(1, 4))
    shape_kind = int(rng.integers(0, 3))
    N = int(rng.choice([1, 2, 3, 4]))
    if shape_kind == 0:
        xs = [N, C]
    elif shape_kind == 1:
        xs = [N, C, int(rng.integers(1, 4))]
    else:
        xs = [N, C, int(rng.integers(1, 3)), int(rng.integers(1, 4))]
    training = int(rng.random() < 0.6)
    eps = float(rng.choice([1e-5, 1e-3, 0.1]))
    mom = float(rng.choice([0.1, 0.3, 1.0, 0.0]))
    if layer:
        c = Case("batchnorm_layer", ref_norm)
        affine = int(rng.random() < 0.7)
        track = int(rng.random() < 0.8)
        cum = int(rng.random() < 0.3)
        dims = 2 if len(xs) == 4 else 1
        c.I(C=C, affine=affine, track=track, cumavg=cum, dims=dims, training=training)
        c.F(eps=eps, momentum=mom)
        if affine:
            c.P("w", rn(rng, C))
            c.P("b", rn(rng, C))
        npre = int(rng.integers(0, 4))
        c.I(npre=npre)
        for k in range(npre):
            ps = list(xs)
            ps[0] = int(rng.integers(2, 4))
            c.T(f"pre{k}", rn(rng, *ps) * 2 + 1, rg=False)
        c.T("x", rn(rng, *xs) * 1.5 + 0.5)
        c.desc = dict(x=xs, training=training, affine=affine, track=track, cumavg=cum,
                      npre=npre, eps=eps, mom=mom)
        return finalize(c, rng)
    c = Case("batch_norm", ref_norm)
    c.T("x", rn(rng, *xs) * 1.5 + 0.5)
    have_stats = (not training) or rng.random() < 0.7
    if have_stats:
        c.T("rm", rn(rng, C), rg=False)
        c.T("rv", rng.random(C) + 0.5, rg=False)
    if rng.random() < 0.7:
        c.T("w", rn(rng, C))
    if rng.random() < 0.7:
        c.T("b", rn(rng, C))
    c.I(training=training)
    c.F(momentum=mom, eps=eps)
    c.desc = dict(x=xs, training=training, stats=have_stats, w="w" in c.tensors,
                  b="b" in c.tensors, eps=eps, mom=mom)
    return finalize(c, rng)


def gen_layer_norm(rng, kind="layer", layer=False):
    op = {"layer": "layer_norm", "rms": "rms_norm"}[kind]
    if layer:
        op = {"layer": "layernorm_layer", "rms": "rmsnorm_layer"}[kind]
    c = Case(op, ref_norm)
    nd_x = int(rng.integers(1, 5))
    xs = [int(rng.integers(1, 4)) for _ in range(nd_x)]
    nd = int(rng.integers(1, nd_x + 1))
    ns = xs[-nd:]
    c.T("x", rn(rng, *xs) * 2 + 0.3)
    affine = rng.random() < 0.7
    put = c.P if layer else c.T
    if affine:
        put("w", rn(rng, *ns))
        if kind == "layer" and (layer or rng.random() < 0.8):
            put("b", rn(rng, *ns))
    eps = float(rng.choice([1e-5, 1e-2, 0.0] if kind == "layer" else [-1.0, -1.0, 1e-5, 1e-2]))
    if kind == "layer" and eps == 0.0:
        eps = 1e-5 if rng.random() < 0.5 else 0.0
    c.I(nd=nd, affine=int(affine))
    c.F(eps=eps)
    c.desc = dict(x=xs, nd=nd, affine=affine, eps=eps)
    return finalize(c, rng)


def gen_group_norm(rng, layer=False):
    c = Case("groupnorm_layer" if layer else "group_norm", ref_norm)
    G = int(rng.integers(1, 4))
    C = G * int(rng.integers(1, 3))
    xs = [int(rng.integers(1, 3)), C] + [int(rng.integers(1, 4)) for _ in range(int(rng.integers(0, 3)))]
    c.T("x", rn(rng, *xs) * 2 + 0.3)
    affine = rng.random() < 0.7
    put = c.P if layer else c.T
    if affine:
        put("w", rn(rng, C))
        put("b", rn(rng, C))
    eps = float(rng.choice([1e-5, 1e-2]))
    c.I(G=G, affine=int(affine))
    c.F(eps=eps)
    c.desc = dict(x=xs, G=G, affine=affine, eps=eps)
    return finalize(c, rng)
