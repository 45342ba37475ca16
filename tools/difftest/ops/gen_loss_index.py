"""Random case generators for losses, indexing, joining and normalisation ops
(registered into gen.GEN; the helpers are gen.py's)."""
import math

import numpy as np

from gen import gen, rshape, vals, bshape, T, rax
from harness import TG_ALL, TG_END


# ------------------------------------------------------------ losses
def red(rng, batchmean=False):
    return int(rng.integers(0, 4 if batchmean else 3))


@gen("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss")
def _(rng, op):
    s = rshape(rng)
    s2 = bshape(rng, s) if rng.random() < 0.5 else s
    if rng.random() < 0.5:
        s, s2 = s2, s
    a = vals(rng, s, ties=True)
    b = vals(rng, s2, ties=True)
    R = []
    if op == "smooth_l1_loss":
        R = [float(rng.choice([1.0, 0.5, 0.0, 2.0]))]
    if op == "huber_loss":
        R = [float(rng.choice([1.0, 0.5, 2.0]))]
    return dict(op=op, T=[T(a), T(b, rng.random() < 0.7)], I=[red(rng)], R=R)


@gen("bce_loss_ex")
def _(rng, op):
    s = rshape(rng)
    p = vals(rng, s, "unit")
    if rng.random() < 0.3 and s:
        p = np.where(rng.random(s) < 0.3, rng.choice([0.0, 1.0], s), p)
    y = vals(rng, s, "unit", special=0)
    w = T(vals(rng, bshape(rng, s), "pos"), False) if rng.random() < 0.5 else None
    return dict(op=op, T=[T(p), T(y, rng.random() < 0.5), w], I=[red(rng)])


@gen("bce_with_logits_ex")
def _(rng, op):
    s = rshape(rng)
    x = vals(rng, s)
    y = vals(rng, s, "unit", special=0)
    w = T(vals(rng, bshape(rng, s), "pos"), False) if rng.random() < 0.5 else None
    pw = T(vals(rng, bshape(rng, s), "pos"), False) if rng.random() < 0.5 else None
    return dict(op=op, T=[T(x), T(y, rng.random() < 0.5), w, pw], I=[red(rng)])


@gen("kl_div")
def _(rng, op):
    s = rshape(rng)
    s2 = bshape(rng, s) if rng.random() < 0.3 else s
    lt = int(rng.random() < 0.5)
    x = vals(rng, s)
    y = vals(rng, s2) if lt else vals(rng, s2, "unit")
    if not lt and rng.random() < 0.3 and s2:
        y = np.where(rng.random(s2) < 0.3, 0.0, y)
    return dict(op=op, T=[T(x), T(y, rng.random() < 0.5)], I=[red(rng, True), lt])


@gen("cosine_similarity")
def _(rng, op):
    s = rshape(rng, 1, 3)
    s2 = bshape(rng, s)
    if rng.random() < 0.5:
        s, s2 = s2, s
    a = vals(rng, s)
    b = vals(rng, s2)
    if rng.random() < 0.2:
        a = a * 0
    nd = max(len(s), len(s2))
    return dict(op=op, T=[T(a), T(b)], I=[rax(rng, nd)], R=[float(rng.choice([1e-8, 0.5, 1e-3]))])


@gen("cosine_embedding_loss")
def _(rng, op):
    if rng.random() < 0.7:
        N, D = int(rng.integers(0, 4)), int(rng.integers(1, 4))
        sa, sy = (N, D), (N,)
    else:
        D = int(rng.integers(1, 4))
        sa, sy = (D,), ()
    y = rng.choice([1.0, -1.0, 1.0, -1.0, 0.0], sy) if sy else np.array(rng.choice([1.0, -1.0]))
    sb = sa if rng.random() < 0.7 else (1,) * (len(sa) - 1) + (sa[-1],)
    return dict(op=op, T=[T(vals(rng, sa)), T(vals(rng, sb)), T(y, False)], I=[red(rng)], R=[float(rng.choice([0.0, 0.5, -0.5]))])


@gen("margin_ranking_loss")
def _(rng, op):
    s = rshape(rng)
    s2, s3 = bshape(rng, s), bshape(rng, s)
    nd = max(len(s), len(s2), len(s3))
    fix = lambda sh: (1,) * (nd - len(sh)) + tuple(sh)
    if rng.random() < 0.8:
        s, s2, s3 = fix(s), fix(s2), fix(s3)
    y = rng.choice([1.0, -1.0], s3) if s3 else np.array(rng.choice([1.0, -1.0]))
    return dict(op=op, T=[T(vals(rng, s, ties=True)), T(vals(rng, s2, ties=True)), T(y, rng.random() < 0.5)], I=[red(rng)], R=[float(rng.choice([0.0, 0.5, 1.0]))])


@gen("hinge_embedding_loss")
def _(rng, op):
    s = rshape(rng)
    s2 = bshape(rng, s) if rng.random() < 0.3 else s
    y = rng.choice([1.0, -1.0, 1.0, -1.0, 0.5], s2) if s2 else np.array(rng.choice([1.0, -1.0]))
    return dict(op=op, T=[T(vals(rng, s, ties=True)), T(y, False)], I=[red(rng)], R=[float(rng.choice([1.0, 0.0, 2.0]))])


@gen("multi_margin_loss")
def _(rng, op):
    C = int(rng.integers(1, 5))
    if rng.random() < 0.75:
        N = int(rng.integers(0, 4))
        xs, ys = (N, C), (N,)
    else:
        xs, ys = (C,), (() if rng.random() < 0.5 else (1,))
    x = vals(rng, xs, ties=True)
    y = rng.integers(0, C, ys)
    w = T(vals(rng, (C,), "pos"), False) if rng.random() < 0.4 else None
    return dict(op=op, T=[T(x), w], X=[y], I=[red(rng), int(rng.choice([1, 2]))], R=[float(rng.choice([1.0, 0.5, 0.0]))])


@gen("triplet_margin_loss")
def _(rng, op):
    s = rshape(rng, 1, 3)
    ss = [s, bshape(rng, s), bshape(rng, s)]
    nd = max(len(x) for x in ss)
    ss = [(1,) * (nd - len(x)) + tuple(x) for x in ss]
    rng.shuffle(ss)
    return dict(op=op, T=[T(vals(rng, x)) for x in ss], I=[red(rng), int(rng.random() < 0.4)],
                R=[float(rng.choice([1.0, 0.0, 2.0])), float(rng.choice([2.0, 1.0, 3.0, 1.5])), float(rng.choice([1e-6, 0.0, 0.1]))])


@gen("poisson_nll_loss")
def _(rng, op):
    s = rshape(rng)
    s2 = bshape(rng, s) if rng.random() < 0.3 else s
    li = int(rng.random() < 0.5)
    x = vals(rng, s) if li else vals(rng, s, "pos")
    y = np.round(vals(rng, s2, "pos") * 2) / 2
    return dict(op=op, T=[T(x), T(y, rng.random() < 0.5)], I=[red(rng), li, int(rng.random() < 0.5)], R=[float(rng.choice([1e-8, 0.1]))])


@gen("gaussian_nll_loss")
def _(rng, op):
    s = rshape(rng, 1, 3)
    r = rng.random()
    if r < 0.5:
        vs = s
    elif r < 0.75:
        vs = s[:-1]
    else:
        vs = s[:-1] + (1,)
    s2 = bshape(rng, s) if rng.random() < 0.3 else s
    v = vals(rng, vs, "pos")
    if rng.random() < 0.3 and vs:
        v = np.where(rng.random(vs) < 0.4, rng.choice([0.0, 1e-7], vs), v)
    return dict(op=op, T=[T(vals(rng, s)), T(vals(rng, s2), rng.random() < 0.5), T(v)], I=[red(rng), int(rng.random() < 0.5)], R=[float(rng.choice([1e-6, 0.1]))])


@gen("cross_entropy_idx", "nll_loss_idx", "cross_entropy_prob")
def _(rng, op):
    C = int(rng.integers(1, 5))
    r = rng.random()
    if r < 0.6:
        N = int(rng.integers(0, 4))
        xs, ys = (N, C), (N,)
    elif r < 0.85:
        N, d1 = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        xs, ys = (N, C, d1), (N, d1)
    else:
        xs, ys = (C,), ()
    x = vals(rng, xs)
    w = T(vals(rng, (C,), "pos"), False) if rng.random() < 0.4 else None
    redn = red(rng)
    ls = float(rng.choice([0.0, 0.1, 0.5])) if op != "nll_loss_idx" else 0.0
    if op == "cross_entropy_prob":
        y = vals(rng, xs, "unit", special=0)
        return dict(op=op, T=[T(x), T(y, rng.random() < 0.5), w], I=[redn, -100], R=[ls])
    y = rng.integers(0, C, ys)
    ign = -100
    if rng.random() < 0.3:
        ign = int(rng.integers(0, C))
    if rng.random() < 0.2 and y.size:
        y.ravel()[0] = -100
        ign = -100
    return dict(op=op, T=[T(x), w], X=[y], I=[redn, ign], R=[ls])


# ------------------------------------------------------------ indexing
@gen("slice")
def _(rng, op):
    s = rshape(rng, 1, 4, maxd=6)
    ax = rax(rng, len(s))
    n = s[ax % len(s)] if -len(s) <= ax < len(s) else 3
    def pos():
        return int(rng.integers(-n - 3, n + 4))
    st = int(rng.choice([1, 1, 2, 3, 7])) if rng.random() > 0.03 else 0
    stop = TG_END if rng.random() < 0.2 else pos()
    return dict(op=op, T=[T(vals(rng, s))], I=[ax, pos(), stop, st])


@gen("slices")
def _(rng, op):
    s = rshape(rng, 1, 4, maxd=6)
    k = int(rng.integers(0, len(s) + 1))
    axes = rng.choice(len(s), k, replace=False)
    I = []
    for a in axes:
        n = s[a]
        a = int(a) - (len(s) if rng.random() < 0.3 else 0)
        I += [a, int(rng.integers(-n - 2, n + 3)), TG_END if rng.random() < 0.2 else int(rng.integers(-n - 2, n + 3)), int(rng.choice([1, 2, 3]))]
    return dict(op=op, T=[T(vals(rng, s))], I=I)


@gen("select", "narrow")
def _(rng, op):
    s = rshape(rng, 0, 4)
    ax = rax(rng, len(s))
    n = s[ax % len(s)] if len(s) and -len(s) <= ax < len(s) else 1
    i = int(rng.integers(-n - 1, n + 1))
    if op == "select":
        return dict(op=op, T=[T(vals(rng, s))], I=[ax, i])
    ln = int(rng.integers(0, n + 2))
    return dict(op=op, T=[T(vals(rng, s))], I=[ax, i, ln])


@gen("index_select", "index_add", "embedding")
def _(rng, op):
    s = rshape(rng, 1, 3)
    if op == "embedding":
        s = (int(rng.integers(1, 5)), int(rng.integers(0, 4)))
        idx = rng.integers(0, s[0], rshape(rng, 0, 2))
        pad = int(rng.integers(-s[0], s[0])) if rng.random() < 0.4 else -2**63
        return dict(op=op, T=[T(vals(rng, s))], X=[idx], I=[pad])
    ax = rax(rng, len(s), 0)
    n = s[ax]
    k = int(rng.integers(0, 5))
    if n == 0:
        idx = np.zeros((0,), dtype=np.int64)
    else:
        idx = rng.integers(0, n, (k,)) if rng.random() < 0.85 else np.array(int(rng.integers(0, n)))
        if rng.random() < 0.05:
            idx = np.array([n])
    if op == "index_select":
        return dict(op=op, T=[T(vals(rng, s))], X=[idx], I=[ax])
    ss = list(s)
    ss[ax] = idx.size if idx.ndim else 1
    if idx.ndim == 0:
        idx = idx.reshape(1)
    return dict(op=op, T=[T(vals(rng, s)), T(vals(rng, tuple(ss)))], X=[idx], I=[ax])


@gen("gather", "scatter_add", "scatter", "take_along_dim")
def _(rng, op):
    s = rshape(rng, 1, 3)
    nd = len(s)
    ax = rax(rng, nd, 0)
    a = ax % nd
    n = s[a]
    ishape = []
    for i, d in enumerate(s):
        if i == a:
            ishape.append(int(rng.integers(0, 4)))
        else:
            ishape.append(int(rng.integers(0, d + 1)) if rng.random() < 0.4 else d)
    if op == "take_along_dim":
        ishape = [1 if (i != a and rng.random() < 0.3) else v for i, v in enumerate(ishape)]
        xs = tuple(1 if (i != a and rng.random() < 0.2) else v for i, v in enumerate(s))
        if n == 0:
            ishape[a] = 0
        idx = rng.integers(0, max(n, 1), ishape)
        if rng.random() < 0.2:
            ax = TG_ALL
            idx = rng.integers(0, max(1, int(np.prod(xs))), ishape)
            if int(np.prod(xs)) == 0:
                idx = idx[..., :0] if idx.ndim else idx
        return dict(op=op, T=[T(vals(rng, xs))], X=[idx], I=[ax])
    if n == 0:
        ishape[a] = 0
    idx = rng.integers(0, max(n, 1), ishape)
    if op == "gather":
        return dict(op=op, T=[T(vals(rng, s))], X=[idx], I=[ax])
    srcs = tuple(v + (1 if rng.random() < 0.15 else 0) for v in ishape)
    return dict(op=op, T=[T(vals(rng, s)), T(vals(rng, srcs))], X=[idx], I=[ax])


@gen("masked_fill")
def _(rng, op):
    s = rshape(rng)
    s2 = bshape(rng, s)
    if rng.random() < 0.5:
        s, s2 = s2, s
    m = (rng.random(s2) < 0.5).astype(np.float64) if s2 else np.array(float(rng.random() < 0.5))
    return dict(op=op, T=[T(vals(rng, s)), T(m, False)], R=[float(rng.choice([0.0, -math.inf, 2.5, math.nan]))])


# ------------------------------------------------------------ joining
@gen("cat", "stack")
def _(rng, op):
    s = rshape(rng, 1 if op == "cat" else 0, 3)
    n = int(rng.integers(1, 11 if rng.random() < 0.2 else 4))
    nd = len(s)
    ax = rax(rng, nd if op == "cat" else nd + 1)
    ts = []
    for _ in range(n):
        sh = list(s)
        if op == "cat" and nd:
            sh[ax % nd if -nd <= ax < nd else 0] = int(rng.integers(0, 4))
            if rng.random() < 0.05:
                sh = [0]
        ts.append(T(vals(rng, tuple(sh)), rng.random() < 0.9))
    return dict(op=op, T=ts, I=[ax])


@gen("split", "split_chunks", "split_sizes")
def _(rng, op):
    s = rshape(rng, 1, 3, maxd=6)
    ax = rax(rng, len(s))
    n = s[ax % len(s)]
    if op == "split":
        I = [int(rng.integers(0 if n == 0 else 1, max(n, 1) + 2)), ax]
    elif op == "split_chunks":
        I = [int(rng.integers(1, 6)), ax]
    else:
        sizes = []
        m = n
        while m > 0:
            k = int(rng.integers(0, m + 1))
            sizes.append(k)
            m -= k
        if not sizes or rng.random() < 0.3:
            sizes.append(0)
        I = [ax] + sizes
    return dict(op=op, T=[T(vals(rng, s))], I=I)


@gen("pad")
def _(rng, op):
    s = rshape(rng, 1, 4)
    mode = int(rng.integers(0, 4))
    k = int(rng.integers(1, len(s) + 1))
    pad = []
    for i in range(k):
        n = s[len(s) - 1 - i]
        for _ in range(2):
            if mode == 0:
                pad.append(int(rng.integers(-n, 3)))
            elif mode == 1:
                pad.append(int(rng.integers(0, max(n, 1))))
            elif mode == 2:
                pad.append(int(rng.integers(0, 3)))
            else:
                pad.append(int(rng.integers(0, n + 1)))
    return dict(op=op, T=[T(vals(rng, s))], I=[mode] + pad, R=[float(rng.choice([0.0, 1.5, -math.inf]))])


@gen("repeat", "tile")
def _(rng, op):
    s = rshape(rng, 0, 3)
    n = len(s) + int(rng.integers(0, 3))
    if op == "tile":
        n = int(rng.integers(0, len(s) + 3))
    reps = [int(rng.choice([0, 1, 2, 3], p=[0.1, 0.3, 0.4, 0.2])) for _ in range(n)]
    return dict(op=op, T=[T(vals(rng, s))], I=reps)


# ------------------------------------------------------------ norms
@gen("layer_norm", "rms_norm")
def _(rng, op):
    s = rshape(rng, 1, 4)
    k = int(rng.integers(1, len(s) + 1))
    ns = list(s[len(s) - k:])
    w = T(vals(rng, tuple(ns))) if rng.random() < 0.6 else None
    if op == "rms_norm":
        return dict(op=op, T=[T(vals(rng, s)), w], I=ns, R=[float(rng.choice([1e-5, -1.0, 0.1]))])
    b = T(vals(rng, tuple(ns))) if rng.random() < 0.6 else None
    return dict(op=op, T=[T(vals(rng, s)), w, b], I=ns, R=[float(rng.choice([1e-5, 0.1]))])


@gen("group_norm", "batch_norm")
def _(rng, op):
    N = int(rng.integers(1, 4))
    G = int(rng.integers(1, 3))
    C = G * int(rng.integers(1, 3)) if op == "group_norm" else int(rng.integers(1, 4))
    s = (N, C) + rshape(rng, 0, 2, zero=0)
    if op == "batch_norm" and int(np.prod(s)) // C < 2:
        s = (2,) + s[1:]
    w = T(vals(rng, (C,))) if rng.random() < 0.6 else None
    b = T(vals(rng, (C,))) if rng.random() < 0.6 else None
    return dict(op=op, T=[T(vals(rng, s, special=0)), w, b], I=[G], R=[float(rng.choice([1e-5, 0.1]))])
