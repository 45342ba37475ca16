"""Random case generators, one per op (GEN[op](rng) -> case dict).

This file: the helpers, element-wise ops, matrix products, shape ops and
reductions; gen_loss_index.py registers the losses, indexing, joining and
normalisation ops into the same GEN.
"""
import math
import numpy as np
from harness import TG_ALL

GEN = {}
SPECIAL = [0.0, 1.0, -1.0, math.inf, -math.inf, math.nan]


def gen(*names):
    def d(f):
        for n in names:
            GEN[n] = (lambda n: lambda rng: f(rng, n))(n)
        return f
    return d


def rshape(rng, lo=0, hi=4, zero=0.08, maxd=4):
    nd = int(rng.integers(lo, hi + 1))
    out = []
    for _ in range(nd):
        r = rng.random()
        if r < zero:
            out.append(0)
        elif r < 0.3:
            out.append(1)
        else:
            out.append(int(rng.integers(2, maxd + 1)))
    return tuple(out)


# run.py --values sets these for a whole run, over every generator's own choice:
# special, the share of values drawn from SPECIAL; ties, values rounded to halves
FORCE = {}


def vals(rng, shape, kind="n", special=None, ties=None):
    special = FORCE.get("special", special)
    ties = FORCE.get("ties", ties)
    if special is None:
        special = 0.15 if rng.random() < 0.2 else 0.0
    if ties is None:
        ties = rng.random() < 0.3
    n = int(np.prod(shape)) if len(shape) else 1
    if kind == "n":
        a = rng.standard_normal(n) * (2 if rng.random() < 0.5 else 1)
    elif kind == "pos":
        a = np.exp(rng.standard_normal(n))
    elif kind == "unit":
        a = rng.uniform(0.02, 0.98, n)
    elif kind == "sym1":
        a = rng.uniform(-0.98, 0.98, n)
    else:
        raise ValueError(kind)
    if ties:
        a = np.round(a * 2) / 2
    if special:
        m = rng.random(n) < special
        pool = SPECIAL if kind == "n" else ([0.0, 1.0] if kind == "unit" else [0.0, 1.0, math.inf, math.nan])
        a[m] = rng.choice(pool, m.sum())
    return a.reshape(shape)


def bshape(rng, s):
    """a shape broadcastable with s (result may be s itself, or broader)"""
    s = list(s)
    r = rng.random()
    if r < 0.3:
        return tuple(s)
    out = []
    for d in s:
        out.append(1 if rng.random() < 0.4 else d)
    # maybe drop leading dims
    if out and rng.random() < 0.3:
        out = out[int(rng.integers(0, len(out) + 1)):]
    # maybe add a leading dim (broadcasting the other way)
    if rng.random() < 0.2 and len(out) < 5:
        out = [int(rng.integers(1, 4))] + out
    return tuple(out)


def T(a, req=True):
    return (np.asarray(a, dtype=np.float64), req)


def rax(rng, nd, allow_bad=0.03):
    if nd == 0:
        return int(rng.choice([0, -1]))
    if rng.random() < allow_bad:
        return int(rng.choice([nd, -nd - 1]))
    a = int(rng.integers(0, nd))
    return a - nd if rng.random() < 0.4 else a


# ------------------------------------------------------------ element-wise
UNARY_KIND = {
    "neg": "n", "exp": "n", "log": "pos", "sqrt": "pos", "abs": "n", "square": "n", "erf": "n",
    "erfc": "n", "erfinv": "sym1", "sin": "n", "cos": "n", "tan": "n", "asin": "sym1",
    "acos": "sym1", "atan": "n", "sinh": "n", "cosh": "n", "asinh": "n", "acosh": "pos",
    "atanh": "sym1", "log1p": "pos", "expm1": "n", "log2": "pos", "log10": "pos", "exp2": "n",
    "rsqrt": "pos", "reciprocal": "n", "sigmoid": "n", "tanh": "n", "relu": "n", "relu6": "n",
    "selu": "n", "softsign": "n", "silu": "n", "mish": "n", "hardsigmoid": "n",
    "hardswish": "n", "logsigmoid": "n", "tanhshrink": "n", "sign": "n", "floor": "n",
    "ceil": "n", "round": "n", "trunc": "n", "contiguous": "n", "squeeze": "n", "flatten": "n",
}


def _unary(rng, op):
    s = rshape(rng)
    kind = UNARY_KIND[op]
    if rng.random() < 0.3:
        kind = "n"
    x = vals(rng, s, kind)
    if op in ("relu", "relu6", "hardsigmoid", "hardswish") and rng.random() < 0.5:
        x = rng.choice([-3.0, 0.0, 3.0, 6.0, -1.0, 2.5], size=s) if s else np.array(rng.choice([-3.0, 0.0, 3.0, 6.0]))
    return dict(op=op, T=[T(x)])


for _op in UNARY_KIND:
    GEN[_op] = (lambda op: lambda rng: _unary(rng, op))(_op)


@gen("scale", "add_scalar", "pow", "clamp", "leaky_relu", "elu", "celu", "softplus", "gelu",
     "hardtanh", "hardshrink", "softshrink", "threshold", "logit")
def _(rng, op):
    s = rshape(rng)
    x = vals(rng, s)
    I, R = [], []
    if op in ("scale", "add_scalar"):
        R = [float(rng.choice([0.0, -1.5, 2.0, 0.5]))]
    elif op == "pow":
        R = [float(rng.choice([0.0, 1.0, 2.0, 3.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.0]))]
        if rng.random() < 0.5:
            x = np.abs(x)
    elif op == "clamp":
        a, b = sorted(rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0, -math.inf, math.inf], 2))
        if rng.random() < 0.1:
            a, b = b, a
        R = [a, b]
        x = np.round(x * 2) / 2
    elif op == "leaky_relu":
        R = [float(rng.choice([0.01, 0.2, -0.5, 0.0]))]
    elif op in ("elu", "celu"):
        R = [float(rng.choice([1.0, 0.5, 2.0, -1.0]))]
    elif op == "softplus":
        R = [float(rng.choice([1.0, 2.0, 0.5, -1.0])), float(rng.choice([20.0, 1.0, 0.5]))]
    elif op == "gelu":
        I = [int(rng.integers(0, 2))]
    elif op == "hardtanh":
        a, b = sorted(rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0], 2, replace=False))
        R = [a, b]
        x = np.round(x * 2) / 2
    elif op in ("hardshrink", "softshrink"):
        R = [float(rng.choice([0.5, 0.0, 1.0]))]
        x = np.round(x * 2) / 2
    elif op == "threshold":
        R = [float(rng.choice([0.0, 0.5, -1.0])), float(rng.choice([0.0, 2.0, -3.0]))]
        x = np.round(x * 2) / 2
    elif op == "logit":
        x = vals(rng, s, "unit")
        if rng.random() < 0.5:
            x = np.where(rng.random(s) < 0.3, rng.choice([0.0, 1.0, 0.05, 0.95, 1.2, -0.1], s), x) if s else x
        R = [float(rng.choice([-1.0, 0.0, 0.05, 0.1, 0.5]))]
    return dict(op=op, T=[T(x)], I=I, R=R)


@gen("add", "sub", "mul", "div", "atan2", "minimum", "maximum", "pow_tensor", "eq", "ne", "lt",
     "le", "gt", "ge", "add_alpha", "sub_alpha", "lerp")
def _(rng, op):
    s = rshape(rng)
    s2 = bshape(rng, s)
    if rng.random() < 0.5:
        s, s2 = s2, s
    ties = op in ("minimum", "maximum", "eq", "ne", "lt", "le", "gt", "ge", "atan2") and rng.random() < 0.6
    a = vals(rng, s, ties=ties)
    b = vals(rng, s2, ties=ties)
    R = []
    if op == "pow_tensor":
        if rng.random() < 0.6:
            a = np.abs(a)
        b = np.round(b * 2) / 2
    if op in ("add_alpha", "sub_alpha"):
        R = [float(rng.choice([1.0, -2.0, 0.5, 0.0]))]
    if op == "lerp":
        R = [float(rng.choice([0.0, 1.0, 0.3, 0.5, 0.7, -0.5, 1.5]))]
    return dict(op=op, T=[T(a, rng.random() < 0.9), T(b, rng.random() < 0.9)], R=R)


@gen("lerp_tensor", "where", "clamp_tensor")
def _(rng, op):
    s = rshape(rng)
    shapes = [s, bshape(rng, s), bshape(rng, s)]
    rng.shuffle(shapes)
    ts = [vals(rng, sh, ties=True) for sh in shapes]
    if op == "where":
        ts[0] = (rng.random(shapes[0]) < 0.5).astype(np.float64) if shapes[0] else np.array(float(rng.random() < 0.5))
        return dict(op=op, T=[T(ts[0], False), T(ts[1]), T(ts[2])])
    if op == "clamp_tensor":
        out = [T(ts[0]), T(ts[1]), T(ts[2])]
        r = rng.random()
        if r < 0.2:
            out[1] = None
        elif r < 0.4:
            out[2] = None
        return dict(op=op, T=out)
    return dict(op=op, T=[T(t) for t in ts])


@gen("pow_scalar_base")
def _(rng, op):
    s = rshape(rng)
    e = np.round(vals(rng, s) * 2) / 2
    return dict(op=op, T=[T(e)], R=[float(rng.choice([0.0, 2.0, 0.5, 1.0, math.e, -2.0]))])


# ------------------------------------------------------------ matmul
@gen("matmul", "dot", "outer", "matmul_t", "linear")
def _(rng, op):
    def d():
        return int(rng.choice([0, 1, 2, 3, 4], p=[0.05, 0.2, 0.25, 0.25, 0.25]))
    if op in ("dot", "outer"):
        n = d()
        return dict(op=op, T=[T(vals(rng, (n,))), T(vals(rng, (n if op == "dot" else d(),)))])
    M, K, N = d(), d(), d()
    if op == "linear":
        xs = rshape(rng, 0, 2) + (K,)
        b = T(vals(rng, (M,))) if rng.random() < 0.7 else None
        return dict(op=op, T=[T(vals(rng, xs)), T(vals(rng, (M, K))), b])
    ba = rshape(rng, 0, 2, maxd=3)
    bb = bshape(rng, ba)
    if rng.random() < 0.5:
        ba, bb = bb, ba
    if op == "matmul_t":
        ta, tb = int(rng.integers(0, 2)), int(rng.integers(0, 2))
        sa = ba + ((K, M) if ta else (M, K))
        sb = bb + ((N, K) if tb else (K, N))
        return dict(op=op, T=[T(vals(rng, sa)), T(vals(rng, sb))], I=[ta, tb])
    r = rng.random()
    sa = ba + (M, K)
    sb = bb + (K, N)
    if r < 0.2:
        sa = (K,)
    elif r < 0.4:
        sb = (K,)
    elif r < 0.45:
        sa, sb = (K,), (K,)
    return dict(op=op, T=[T(vals(rng, sa)), T(vals(rng, sb))])


EINSUMS = [
    ("ij,jk->ik", [("i", "j"), ("j", "k")]), ("bij,bjk->bik", None), ("ii->", None), ("ii->i", None),
    ("ij->j", None), ("ij->", None), ("i,i->", None), ("i,j->ij", None), ("ij,ij->ij", None),
    ("...ij,...jk->...ik", None), ("bhqd,bhkd->bhqk", None), ("ijk->kji", None), ("iij->ij", None),
    ("ij,jk,kl->il", None), ("i,i,i->", None), ("ab,cd->abcd", None), ("ij", None), ("ij,jk", None),
    ("ba", None), ("...i->...", None), ("i...->...", None), ("ij,kj->ik", None), ("bii->bi", None),
    ("iji->j", None), ("ij,j->i", None), ("aab,bc->ac", None), ("a,b,c->", None), ("Ab,bA->A", None),
]


@gen("einsum")
def _(rng, op):
    eq, _ = EINSUMS[int(rng.integers(0, len(EINSUMS)))]
    lhs = eq.split("->")[0]
    terms = lhs.split(",")
    sizes = {}
    ell = rshape(rng, 0, 2, maxd=3)
    ops = []
    for tm in terms:
        shp = []
        for ch in tm.replace("...", "@"):
            if ch == "@":
                e = list(ell)
                if rng.random() < 0.3:
                    e = [1 if rng.random() < 0.5 else v for v in e]
                shp += e
            else:
                if ch not in sizes:
                    sizes[ch] = int(rng.choice([0, 1, 2, 3], p=[0.05, 0.2, 0.4, 0.35]))
                v = sizes[ch]
                if rng.random() < 0.08:
                    v = 1  # broadcast a letter
                shp.append(v)
        ops.append(T(vals(rng, tuple(shp))))
    return dict(op=op, T=ops, S=eq)


# ------------------------------------------------------------ shape ops
@gen("transpose", "swapaxes", "movedim")
def _(rng, op):
    s = rshape(rng)
    nd = len(s)
    return dict(op=op, T=[T(vals(rng, s))], I=[rax(rng, nd), rax(rng, nd)])


@gen("permute")
def _(rng, op):
    s = rshape(rng)
    p = list(rng.permutation(len(s)))
    p = [int(v) - (len(s) if rng.random() < 0.3 else 0) for v in p]
    if rng.random() < 0.05 and p:
        p[0] = p[-1]
    return dict(op=op, T=[T(vals(rng, s))], I=p)


@gen("reshape")
def _(rng, op):
    s = rshape(rng)
    n = int(np.prod(s)) if s else 1
    # factor n
    shp = []
    m = n
    if n == 0:
        shp = [0] + [int(rng.integers(1, 4))] * int(rng.integers(0, 2))
        if rng.random() < 0.3:
            shp = [2, 0, 3]
    else:
        for f in [2, 3, 2, 5]:
            if m % f == 0 and rng.random() < 0.6:
                shp.append(f)
                m //= f
        shp.append(m)
        if rng.random() < 0.3:
            shp.insert(int(rng.integers(0, len(shp) + 1)), 1)
        if rng.random() < 0.4:
            shp[int(rng.integers(0, len(shp)))] = -1
        if rng.random() < 0.1:
            shp = []  # to 0-d (valid only if n == 1)
    return dict(op=op, T=[T(vals(rng, s))], I=shp)


@gen("flatten_range")
def _(rng, op):
    s = rshape(rng)
    nd = len(s)
    return dict(op=op, T=[T(vals(rng, s))], I=[rax(rng, nd), rax(rng, nd)])


@gen("squeeze_axis")
def _(rng, op):
    s = rshape(rng)
    return dict(op=op, T=[T(vals(rng, s))], I=[rax(rng, len(s))])


@gen("unsqueeze")
def _(rng, op):
    s = rshape(rng)
    nd = len(s) + 1
    return dict(op=op, T=[T(vals(rng, s))], I=[rax(rng, nd)])


@gen("expand")
def _(rng, op):
    s = rshape(rng, 0, 3)
    tgt = [(int(rng.integers(0, 4)) if d == 1 else d) for d in s]
    if rng.random() < 0.4:
        tgt = [int(rng.integers(1, 4))] + tgt
    return dict(op=op, T=[T(vals(rng, s))], I=tgt)


@gen("sum_to")
def _(rng, op):
    s = rshape(rng, 0, 4)
    tgt = bshape(rng, s)
    # sum_to target must broadcast to s (not bigger)
    tgt = tuple(t if t == 1 else d for t, d in zip(tgt[::-1], s[::-1]))[::-1]
    return dict(op=op, T=[T(vals(rng, s))], I=list(tgt))


# ------------------------------------------------------------ reductions
def red_axes(rng, nd, multi):
    if rng.random() < 0.2 and not multi:
        return [TG_ALL]
    if nd == 0:
        return [int(rng.choice([0, -1]))]
    if not multi:
        return [rax(rng, nd)]
    k = int(rng.integers(1, nd + 1))
    ax = list(rng.choice(nd, k, replace=False))
    out = [int(a) - (nd if rng.random() < 0.4 else 0) for a in ax]
    if rng.random() < 0.03:
        out.append(out[0])
    return out


@gen("sum", "mean", "amax", "amin", "logsumexp", "max", "min", "prod", "var", "std", "norm",
     "max_dim", "min_dim", "argmax", "argmin", "sum_axes", "mean_axes", "amax_axes",
     "amin_axes", "logsumexp_axes", "var_axes", "std_axes", "norm_axes")
def _(rng, op):
    s = rshape(rng)
    multi = op.endswith("_axes")
    ties = rng.random() < 0.5
    x = vals(rng, s, ties=ties)
    if op == "prod" and rng.random() < 0.5 and x.size:
        x = np.where(rng.random(s) < 0.25, 0.0, x) if s else np.array(0.0)
    if op in ("norm", "norm_axes") and rng.random() < 0.3:
        x = np.where(rng.random(s) < 0.5, 0.0, x) if s else np.array(0.0)
    axes = red_axes(rng, len(s), multi)
    I = [int(rng.random() < 0.5), len(axes)] + axes
    R = []
    if op.startswith("var") or op.startswith("std"):
        R = [float(rng.choice([1.0, 0.0, 2.0, 1.0, 0.0, 5.0]))]
    if op.startswith("norm"):
        R = [float(rng.choice([1.0, 2.0, math.inf, -math.inf, 0.0, 1.5, 3.0, 0.5, 4.0]))]
    return dict(op=op, T=[T(x)], I=I, R=R)


@gen("cumsum", "cumprod", "softmax", "log_softmax", "softmin", "glu")
def _(rng, op):
    s = rshape(rng)
    x = vals(rng, s)
    if op == "cumprod" and rng.random() < 0.5 and s:
        x = np.where(rng.random(s) < 0.3, 0.0, x)
    if op == "glu" and s and rng.random() < 0.8:
        s = s[:-1] + (2 * max(1, s[-1] // 2),)
        x = vals(rng, s)
        ax = -1 if rng.random() < 0.5 else len(s) - 1
        return dict(op=op, T=[T(x)], I=[ax])
    return dict(op=op, T=[T(x)], I=[rax(rng, len(s))])


@gen("prelu")
def _(rng, op):
    s = rshape(rng, 1, 4)
    C = s[1] if len(s) > 1 else 1
    w = vals(rng, (C,) if rng.random() < 0.6 else (1,))
    return dict(op=op, T=[T(np.round(vals(rng, s) * 2) / 2), T(w)])


import gen_loss_index  # noqa: E402,F401  (registers the rest of the ops in GEN)
