#!/usr/bin/python3
"""Golden data for the shape ops and the reductions, written by PyTorch.

Run from the repository root with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_shape_reduce.py
It writes tests/golden/shape_{f32,f64}.txt (read by tests/ops/test_golden_shape.c)
and tests/golden/reduce_{f32,f64}.txt (tests/ops/test_golden_reduce.c). Every
case uses loss = sum(out * R) with a random R and carries the second order
(tests/golden_writer.py).

Attributes, as the C builders read them:
  axis            one axis (negative counts from the end); all=1 for every axis
  n_axes, a0..    a set of axes: the tg_X_axes form
  keepdim         0 or 1
  c               var and std: the correction
  p               norm: the order (inf for the max norm)
  ndim, p0..      permute: the permutation
  start, end      flatten_range; src, dst for movedim; d0, d1 for swapaxes
Ops that return indices (argmax, argmin, max_dim_indices, min_dim_indices)
write the indices as the output, without gradients.
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_writer import GoldenWriter  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
INF = float("inf")
NAN = float("nan")


def axes_attrs(axes):
    """The attributes of an axis spec: None (every axis), an int, or a tuple."""
    if axes is None:
        return {"all": 1}
    if isinstance(axes, int):
        return {"axis": axes}
    d = {"n_axes": len(axes)}
    for i, a in enumerate(axes):
        d["a%d" % i] = a
    return d


def tag_of(axes):
    if axes is None:
        return "all"
    if isinstance(axes, int):
        return "axis%d" % axes
    return "axes" + "_".join(str(a) for a in axes)


def shape_tag(shp):
    return "x".join(map(str, shp)) if shp else "0d"


class Writer:
    def __init__(self, path, dtype):
        self.w = GoldenWriter(path)
        self.dtype = dtype
        self.seed = 0

    def _gen(self):
        self.seed += 1
        return torch.Generator().manual_seed(5000 + self.seed)

    def rnd(self, *shape, low=None):
        x = torch.randn(tuple(shape), generator=self._gen(), dtype=torch.float64)
        if low is not None:  # magnitudes kept >= low, random signs
            x = x.sign() * (x.abs() + low)
        return x.to(self.dtype)

    def distinct(self, *shape):
        """Distinct values at least 0.05 apart, shuffled (no ties)."""
        n = math.prod(shape)
        perm = torch.randperm(n, generator=self._gen())
        return (perm.double() * 0.05 - 1).reshape(shape).to(self.dtype)

    def distinct_abs(self, *shape):
        """Distinct magnitudes at least 0.05 apart, random signs (no ties of |x|)."""
        n = math.prod(shape)
        perm = torch.randperm(n, generator=self._gen()).double()
        sign = torch.randint(0, 2, (n,), generator=self._gen()).double() * 2 - 1
        return (sign * (perm * 0.05 + 0.1)).reshape(shape).to(self.dtype)

    def t(self, values):
        return torch.tensor(values, dtype=self.dtype)

    def case(self, name, op, fn, inputs, **kw):
        self.w.case(name, op, fn, inputs, seed=self.seed, **kw)

    def close(self):
        self.w.close()


def dims(axes, x):
    """PyTorch's dim argument for an axis spec."""
    return tuple(range(x.dim())) if axes is None else axes


# ---------------------------------------------------------------- shape ops

def write_shape(w):
    def perm_attrs(perm):
        d = {"ndim": len(perm)}
        for i, p in enumerate(perm):
            d["p%d" % i] = p
        return d

    for shp, perm in [((2, 3, 4), (2, 0, 1)), ((2, 3, 4), (1, 0, 2)), ((2, 3, 4), (-1, 0, 1)),
                      ((2, 3, 4, 2), (3, 1, 0, 2)), ((5,), (0,)), ((), ()), ((0, 3), (1, 0)),
                      ((3, 1, 2), (2, 1, 0))]:
        w.case("permute_%s_%s" % (shape_tag(shp), "_".join(str(p) for p in perm)),
               "permute", lambda x, p=perm: torch.permute(x, p), [w.rnd(*shp)], attrs=perm_attrs(perm))
    # contiguous after a permute: the same values (every tapegrad tensor is contiguous)
    w.case("contiguous_permuted", "contiguous", lambda x: x.permute(1, 0).contiguous(),
           [w.rnd(3, 4)], attrs=perm_attrs((1, 0)))

    for shp in [(1, 3, 1, 2), (2, 3), (), (1,), (1, 1), (0, 1, 3)]:
        w.case("squeeze_%s" % shape_tag(shp), "squeeze", torch.squeeze, [w.rnd(*shp)])
    for shp, axis in [((1, 3, 1), 0), ((1, 3, 1), -1), ((1, 3, 1), 1), ((), 0), ((), -1),
                      ((2, 1), -1)]:
        w.case("squeeze_axis_%s_%d" % (shape_tag(shp), axis), "squeeze_axis",
               lambda x, a=axis: torch.squeeze(x, a), [w.rnd(*shp)], attrs={"axis": axis})
    for shp, axis in [((2, 3), 0), ((2, 3), 1), ((2, 3), 2), ((2, 3), -1), ((2, 3), -3),
                      ((), 0), ((), -1), ((0, 2), 1)]:
        w.case("unsqueeze_%s_%d" % (shape_tag(shp), axis), "unsqueeze",
               lambda x, a=axis: torch.unsqueeze(x, a), [w.rnd(*shp)], attrs={"axis": axis})
    for shp, s, e in [((2, 3, 4, 5), 1, 2), ((2, 3, 4, 5), 0, -1), ((2, 3, 4, 5), -2, -1),
                      ((2, 3, 4), 2, 2), ((2, 3, 4), 0, 1), ((), 0, 0), ((), -1, 0),
                      ((0, 3, 4), 1, 2), ((3,), 0, -1)]:
        w.case("flatten_range_%s_%d_%d" % (shape_tag(shp), s, e), "flatten_range",
               lambda x, s=s, e=e: torch.flatten(x, s, e), [w.rnd(*shp)],
               attrs={"start": s, "end": e})
    for shp, d0, d1 in [((2, 3, 4), 0, 2), ((2, 3, 4), -1, 1), ((3, 4), 1, 1)]:
        w.case("swapaxes_%s_%d_%d" % (shape_tag(shp), d0, d1), "swapaxes",
               lambda x, a=d0, b=d1: torch.swapaxes(x, a, b), [w.rnd(*shp)],
               attrs={"d0": d0, "d1": d1})
        w.case("swapdims_%s_%d_%d" % (shape_tag(shp), d0, d1), "swapdims",
               lambda x, a=d0, b=d1: torch.swapdims(x, a, b), [w.rnd(*shp)],
               attrs={"d0": d0, "d1": d1})
    for shp, s, d in [((2, 3, 4), 0, -1), ((2, 3, 4), -1, 0), ((2, 3, 4), 1, 1),
                      ((2, 3, 4, 5), 1, 3), ((2, 3, 4, 5), 3, 1), ((), 0, -1), ((4,), 0, 0)]:
        w.case("movedim_%s_%d_%d" % (shape_tag(shp), s, d), "movedim",
               lambda x, s=s, d=d: torch.movedim(x, s, d), [w.rnd(*shp)],
               attrs={"src": s, "dst": d})


# ---------------------------------------------------------------- reductions

def write_reduce(w):
    shapes_axes = [
        ((3, 4), 0), ((3, 4), -1), ((3, 4), None), ((2, 3, 4), 1), ((2, 3, 4), None),
        ((2, 3, 4), (0, 2)), ((2, 3, 4), (0, 1)), ((2, 3, 4), (-1, -2)), ((2, 3, 4), (2, 0, 1)),
        ((2, 1, 3), (0, 2)), ((2, 3, 2, 3), (0, 2)), ((2, 3, 2, 3), (1, 3)), ((2, 3, 2, 3), (3,)),
        ((), 0), ((), (-1,)),
    ]

    def reduction(op, fn, gen=None, kink=False, keeps=(False, True), extra=None, attrs=None,
                  scalar=True):
        for shp, axes in shapes_axes:
            if not shp and not scalar:
                continue
            for keep in keeps:
                x = gen(*shp) if gen else w.rnd(*shp)
                a = dict(axes_attrs(axes), keepdim=int(keep), **(attrs or {}))
                name = "%s_%s_%s_keep%d" % (op, shape_tag(shp), tag_of(axes), keep)
                if extra:
                    name += "_" + extra
                w.case(name, op, lambda x, ax=axes, k=keep: fn(x, ax, k), [x], attrs=a, kink=kink)

    # sum and mean over sets of axes (the one-axis forms are in core_*.txt)
    for op, f in (("sum", torch.sum), ("mean", torch.mean)):
        for shp, axes in [((2, 3, 4), (0, 2)), ((2, 3, 4), (0, 1)), ((2, 3, 4), (-1, -2)),
                          ((2, 3, 4), (2, 0, 1)), ((2, 1, 3), (0, 2)), ((2, 3, 2, 3), (0, 2)),
                          ((2, 3, 2, 3), (1, 3)), ((2, 3, 2, 3), (3,)), ((), (-1,)),
                          ((0, 3), (0,)), ((0, 3), (1,)), ((2, 0, 3), (0, 2))]:
            for keep in (False, True):
                w.case("%s_%s_%s_keep%d" % (op, shape_tag(shp), tag_of(axes), keep), op,
                       lambda x, ax=axes, k=keep, f=f: f(x, dim=ax, keepdim=k), [w.rnd(*shp)],
                       attrs=dict(axes_attrs(axes), keepdim=int(keep)))
    # min over an axis or all, as core's max cases
    for shp in [(3, 4), (2, 3, 4)]:
        for axis in range(-1, len(shp)):
            for keep in (False, True):
                w.case("min_%s_axis%d_keep%d" % (shape_tag(shp), axis, keep), "min",
                       lambda x, a=axis, k=keep: torch.min(x, dim=a, keepdim=k).values,
                       [w.distinct(*shp)], attrs={"axis": axis, "keepdim": int(keep)})
        w.case("min_%s_all" % shape_tag(shp), "min", torch.min, [w.distinct(*shp)],
               attrs={"all": 1, "keepdim": 0})
    w.case("min_all_ties", "min", torch.min, [w.t([[1.0, -3.0], [-3.0, 2.0]])],
           attrs={"all": 1, "keepdim": 0}, kink=True)
    ties = [[1.0, -3.0, -3.0], [2.0, 2.0, 5.0]]
    for axis in (0, 1):
        w.case("min_axis%d_ties" % axis, "min", lambda x, a=axis: torch.min(x, dim=a).values,
               [w.t(ties)], attrs={"axis": axis, "keepdim": 0}, kink=True)
    w.case("min_nan", "min", lambda x: torch.min(x, dim=1).values,
           [w.t([[1.0, NAN, -2.0, NAN], [0.5, -1.0, 3.0, 2.0]])], attrs={"axis": 1, "keepdim": 0})
    w.case("min_0d", "min", lambda x: torch.min(x, dim=0).values, [w.rnd()],
           attrs={"axis": 0, "keepdim": 0})

    # values and indices (torch.max(x, dim) -> values, indices)
    for which, f in (("max", torch.max), ("min", torch.min)):
        for shp, axis, keep in [((3, 4), 1, False), ((3, 4), 0, True), ((2, 3, 4), -2, False),
                                ((2, 3, 4), 2, True), ((), 0, False), ((0, 3), 1, False)]:
            x = w.distinct(*shp) if shp != (0, 3) else w.rnd(*shp)
            nm = "%s_%s_axis%d_keep%d" % (which, shape_tag(shp), axis, keep)
            at = {"axis": axis, "keepdim": int(keep)}
            w.case(nm + "_dim", which + "_dim",
                   lambda x, a=axis, k=keep, f=f: f(x, dim=a, keepdim=k).values, [x], attrs=at)
            w.case(nm + "_dim_indices", which + "_dim_indices",
                   lambda x, a=axis, k=keep, f=f: f(x, dim=a, keepdim=k).indices, [x], attrs=at)
        tx = w.t([[1.0, 3.0, 3.0, -1.0], [2.0, -4.0, -4.0, 2.0]])
        for axis in (0, 1):
            at = {"axis": axis, "keepdim": 0}
            w.case("%s_ties_axis%d_dim" % (which, axis), which + "_dim",
                   lambda x, a=axis, f=f: f(x, dim=a).values, [tx], attrs=at, kink=True)
            w.case("%s_ties_axis%d_dim_indices" % (which, axis), which + "_dim_indices",
                   lambda x, a=axis, f=f: f(x, dim=a).indices, [tx], attrs=at)
        nx = w.t([[1.0, NAN, 5.0, NAN], [2.0, 0.0, -1.0, 0.5]])
        w.case("%s_nan_dim_indices" % which, which + "_dim_indices",
               lambda x, f=f: f(x, dim=1).indices, [nx], attrs={"axis": 1, "keepdim": 0})

    # argmax, argmin
    for op, f in (("argmax", torch.argmax), ("argmin", torch.argmin)):
        for shp, axis, keep in [((3, 4), 1, False), ((3, 4), 0, True), ((3, 4), -1, True),
                                ((2, 3, 4), 1, False), ((2, 3, 4), None, False),
                                ((2, 3, 4), None, True), ((), 0, False), ((), None, False),
                                ((0, 3), 1, False), ((5,), 0, False)]:
            x = w.distinct(*shp) if 0 not in shp else w.rnd(*shp)
            at = dict(axes_attrs(axis), keepdim=int(keep))
            w.case("%s_%s_%s_keep%d" % (op, shape_tag(shp), tag_of(axis), keep), op,
                   lambda x, a=axis, k=keep, f=f: f(x, dim=a, keepdim=k), [x], attrs=at)
        w.case(op + "_ties", op, lambda x, f=f: f(x, dim=1),
               [w.t([[1.0, 3.0, 3.0, -4.0, -4.0], [2.0, 2.0, 2.0, 2.0, 2.0]])],
               attrs={"axis": 1, "keepdim": 0})
        w.case(op + "_ties_all", op, f, [w.t([[1.0, 3.0, -4.0], [-4.0, 3.0, 0.0]])],
               attrs={"all": 1, "keepdim": 0})
        w.case(op + "_nan", op, lambda x, f=f: f(x, dim=1),
               [w.t([[1.0, NAN, 5.0, NAN], [2.0, 0.0, -1.0, 0.5]])], attrs={"axis": 1, "keepdim": 0})

    # amax, amin: ties share the gradient
    for op, f in (("amax", torch.amax), ("amin", torch.amin)):
        reduction(op, lambda x, ax, k, f=f: f(x, dim=dims(ax, x), keepdim=k), gen=w.distinct)
        tx = w.t([[1.0, 3.0, 3.0, -4.0], [3.0, -4.0, -4.0, 2.0]])
        for axes in (1, 0, (0, 1), None):
            w.case("%s_ties_%s" % (op, tag_of(axes)), op,
                   lambda x, ax=axes, f=f: f(x, dim=dims(ax, x)), [tx],
                   attrs=dict(axes_attrs(axes), keepdim=0), kink=True)
        w.case(op + "_nan", op, lambda x, f=f: f(x, dim=1),
               [w.t([[1.0, NAN, 5.0], [2.0, 0.0, -1.0]])], attrs={"axis": 1, "keepdim": 0})
        w.case(op + "_inf", op, lambda x, f=f: f(x, dim=1),
               [w.t([[-INF, -INF], [INF, 1.0]])], attrs={"axis": 1, "keepdim": 0})
        w.case(op + "_empty_kept", op, lambda x, f=f: f(x, dim=1), [w.rnd(0, 3)],
               attrs={"axis": 1, "keepdim": 0})

    # prod: no zeros, one zero, two zeros (PyTorch's rules)
    def prod_of(x, ax, k):
        if ax is None:
            out = torch.prod(x)
            return out.reshape([1] * x.dim()) if k else out
        return torch.prod(x, dim=ax, keepdim=k)
    for shp, axis in [((3, 4), 0), ((3, 4), -1), ((3, 4), None), ((2, 3, 4), 1), ((), 0),
                      ((), None), ((5,), 0)]:
        for keep in (False, True):
            w.case("prod_%s_%s_keep%d" % (shape_tag(shp), tag_of(axis), keep), "prod",
                   lambda x, a=axis, k=keep: prod_of(x, a, k), [w.rnd(*shp, low=0.5)],
                   attrs=dict(axes_attrs(axis), keepdim=int(keep)))
    zx = [[2.0, 0.0, 3.0, -1.5], [0.0, 1.5, 0.0, 2.0], [1.25, -2.0, 0.5, 3.0]]
    for axis in (1, 0, None):
        w.case("prod_zeros_%s" % tag_of(axis), "prod", lambda x, a=axis: prod_of(x, a, False),
               [w.t(zx)], attrs=dict(axes_attrs(axis), keepdim=0))
    w.case("prod_one_zero_all", "prod", torch.prod, [w.t([[2.0, 0.0], [-1.5, 3.0]])],
           attrs={"all": 1, "keepdim": 0})
    w.case("prod_empty", "prod", lambda x: torch.prod(x, dim=0), [w.rnd(0, 3)],
           attrs={"axis": 0, "keepdim": 0})
    w.case("prod_inf", "prod", lambda x: torch.prod(x, dim=1), [w.t([[2.0, INF, 3.0], [1.0, 2.0, 3.0]])],
           attrs={"axis": 1, "keepdim": 0})

    # var and std, with corrections
    for op, f in (("var", torch.var), ("std", torch.std)):
        for c in (1, 0, 2):
            reduction(op, lambda x, ax, k, f=f, c=c: f(x, dim=dims(ax, x), correction=c, keepdim=k),
                      keeps=(False, True) if c == 1 else (False,), extra="c%d" % c,
                      attrs={"c": c}, scalar=c == 0)  # one element: n <= c below
        w.case(op + "_constant", op, lambda x, f=f: f(x, dim=1),
               [w.t([[2.0, 2.0, 2.0], [1.0, -1.0, 0.5]])], attrs={"axis": 1, "keepdim": 0, "c": 1},
               kink=(op == "std"))
        w.case(op + "_n_eq_c", op, lambda x, f=f: f(x, dim=1, correction=2),
               [w.t([[2.0, 3.0], [1.0, -1.0]])], attrs={"axis": 1, "keepdim": 0, "c": 2})
        w.case(op + "_empty", op, lambda x, f=f: f(x, dim=0), [w.rnd(0, 3)],
               attrs={"axis": 0, "keepdim": 0, "c": 1})

    # logsumexp
    reduction("logsumexp", lambda x, ax, k: torch.logsumexp(x, dim=dims(ax, x), keepdim=k))
    w.case("logsumexp_large", "logsumexp", lambda x: torch.logsumexp(x, dim=1),
           [w.t([[1e4, 1e4 - 1.0, -1e4], [-1e4, -1e4 + 2.0, -1e4 + 1.0]])],
           attrs={"axis": 1, "keepdim": 0})
    w.case("logsumexp_inf", "logsumexp", lambda x: torch.logsumexp(x, dim=1),
           [w.t([[-INF, -INF], [INF, 1.0], [-INF, 0.5]])], attrs={"axis": 1, "keepdim": 0})
    w.case("logsumexp_empty", "logsumexp", lambda x: torch.logsumexp(x, dim=0), [w.rnd(0, 3)],
           attrs={"axis": 0, "keepdim": 0})

    # norm
    def vnorm(x, p, ax, k):
        return torch.linalg.vector_norm(x, ord=p, dim=None if ax is None else ax, keepdim=k)
    for p in (2, 1, INF, 3, 0.5, 1.5):
        gen = w.distinct_abs if p == INF else (lambda *s: w.rnd(*s, low=0.1))
        # (a 0-d x with p other than 1, 2, inf: |x| = ‖x‖, so the second
        # derivative is 0 by cancellation of terms of size R·V/|x|, which
        # PyTorch's float32 leaves at ~1e-6, its rounding; p = 1, 2 and inf
        # cover 0-d tensors)
        reduction("norm", lambda x, ax, k, p=p: vnorm(x, p, ax, k), gen=gen,
                  keeps=(False, True) if p in (2, INF) else (False,), extra="p%g" % p,
                  attrs={"p": p}, scalar=p in (1, 2, INF))
        zx = w.t([[0.0, 0.0, 0.0], [1.5, 0.0, -2.0]])
        w.case("norm_zeros_p%g" % p, "norm", lambda x, p=p: vnorm(x, p, 1, False), [zx],
               attrs={"axis": 1, "keepdim": 0, "p": p}, kink=True)
        w.case("norm_nan_p%g" % p, "norm", lambda x, p=p: vnorm(x, p, 1, False),
               [w.t([[1.0, NAN, -2.0], [1.5, 0.5, -2.0]])], attrs={"axis": 1, "keepdim": 0, "p": p})
    w.case("norm_frobenius", "norm", lambda x: torch.norm(x, p="fro", dim=(-2, -1)),
           [w.rnd(2, 3, 4)], attrs={"n_axes": 2, "a0": -2, "a1": -1, "keepdim": 0, "p": 2})
    w.case("norm_inf_ties", "norm", lambda x: vnorm(x, INF, 1, False),
           [w.t([[1.0, -3.0, 3.0], [2.0, 0.5, -1.0]])], attrs={"axis": 1, "keepdim": 0, "p": INF},
           kink=True)
    w.case("norm_empty_p2", "norm", lambda x: vnorm(x, 2, 0, False), [w.rnd(0, 3)],
           attrs={"axis": 0, "keepdim": 0, "p": 2})

    # cumsum, cumprod
    for shp, axis in [((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), 1), ((), 0), ((), -1),
                      ((0, 3), 0), ((7,), 0), ((2, 300), 0)]:
        w.case("cumsum_%s_%d" % (shape_tag(shp), axis), "cumsum",
               lambda x, a=axis: torch.cumsum(x, a), [w.rnd(*shp)], attrs={"axis": axis})
        w.case("cumprod_%s_%d" % (shape_tag(shp), axis), "cumprod",
               lambda x, a=axis: torch.cumprod(x, a), [w.rnd(*shp, low=0.5)], attrs={"axis": axis})
    zc = [[2.0, 0.0, 3.0, 0.0, 5.0], [0.0, 1.5, -2.0, 0.5, 1.0], [1.0, -0.5, 2.0, 1.5, 0.0],
          [1.5, 2.0, -1.0, 0.5, 1.25]]
    for axis in (1, 0):
        w.case("cumprod_zeros_axis%d" % axis, "cumprod", lambda x, a=axis: torch.cumprod(x, a),
               [w.t(zc)], attrs={"axis": axis})
    w.case("cumprod_zeros_3d", "cumprod", lambda x: torch.cumprod(x, 1),
           [w.t([[[1.0, 0.0], [2.0, 3.0], [0.0, 2.0]], [[1.5, -1.0], [0.0, 0.5], [2.0, 0.0]]])],
           attrs={"axis": 1})
    # along an axis of length 1 y = x, and PyTorch's gradient is g (it does not divide)
    w.case("cumprod_len1_special", "cumprod", lambda x: torch.cumprod(x, 0),
           [w.t([[INF, 0.0, NAN, -INF, 2.0]])], attrs={"axis": 0})

    # logsumexp along leading axes, which the float build takes in one pass
    # on AVX-512 (each column shifted by its first value, eight rows by
    # sixteen columns at a time), and the two passes it falls back to: rows
    # not a multiple of eight and columns not of sixteen; −inf and values far
    # below the first further down; a first value far below the column's
    # maximum (a sum overflows), a first value of −inf or +inf, an inf lower.
    w.case("logsumexp_cols_19x37", "logsumexp", lambda x: torch.logsumexp(x, dim=0),
           [w.rnd(19, 37) * 3], attrs={"axis": 0, "keepdim": 0})
    w.case("logsumexp_cols_3x20x17", "logsumexp", lambda x: torch.logsumexp(x, dim=1),
           [w.rnd(3, 20, 17)], attrs={"axis": 1, "keepdim": 0})
    x = w.rnd(9, 18)
    x[2, 0] = x[5, 1] = x[8, 17] = -INF
    x[4, 2] = -200.0
    w.case("logsumexp_cols_neginf_below", "logsumexp", lambda x: torch.logsumexp(x, dim=0), [x],
           attrs={"axis": 0, "keepdim": 0})
    x = w.rnd(10, 20)
    x[0, :5] = -100.0
    x[3, :5] = 10.0
    x[0, 5] = -INF
    x[0, 6] = INF
    x[4, 7] = INF
    x[2, 8] = -INF
    x[:, 9] = -INF
    w.case("logsumexp_cols_fallback", "logsumexp", lambda x: torch.logsumexp(x, dim=0), [x],
           attrs={"axis": 0, "keepdim": 0})
    x = w.rnd(12, 17)
    x[0, 3] = -100.0
    x[7, 3] = 5.0
    w.case("logsumexp_cols_overflow", "logsumexp", lambda x: torch.logsumexp(x, dim=0), [x],
           attrs={"axis": 0, "keepdim": 0})

    # max and min with indices, argmax and argmin, along a leading axis (rows
    # of columns a vector at a time, 2048 columns to a block) and along the
    # last (the extreme, then its first occurrence sixteen at a time): ties
    # (the first wins), NaN (the first NaN wins), −0 and +0, past the first
    # vector and the first block.
    x = w.distinct(9, 37)
    x[4, 3] = x[2, 3] = 9.0
    x[5, 20] = NAN
    x[7, 20] = NAN
    x[6, 33] = NAN
    x[:, 30] = 0.0
    x[3, 30] = -0.0
    x[1, 31] = -0.0
    x[6, 31] = 0.0
    x[0, 31] = -5.0
    for which, f in (("max", torch.max), ("min", torch.min)):
        at = {"axis": 0, "keepdim": 0}
        w.case("%s_cols_dim" % which, which + "_dim", lambda x, f=f: f(x, dim=0).values, [x],
               attrs=at, kink=True)
        w.case("%s_cols_dim_indices" % which, which + "_dim_indices",
               lambda x, f=f: f(x, dim=0).indices, [x], attrs=at)
    xw = w.distinct(3, 2100)
    xw[1, 2050] = 99.0
    xw[2, 2060] = NAN
    xw[0, 2070] = xw[2, 2070] = 50.0
    xl = w.distinct(3, 50)
    xl[0, 20] = xl[0, 41] = 99.0
    xl[1, 40] = NAN
    xl[1, 45] = NAN
    xl[2, 17] = -99.0
    xl[2, 31] = 99.0  # the last lane of a vector
    xl[0, 15] = -99.0
    for op, f in (("argmax", torch.argmax), ("argmin", torch.argmin)):
        w.case(op + "_cols_3x2100", op, lambda x, f=f: f(x, dim=0), [xw],
               attrs={"axis": 0, "keepdim": 0})
        w.case(op + "_cols_9x37", op, lambda x, f=f: f(x, dim=0), [x], attrs={"axis": 0, "keepdim": 0})
        w.case(op + "_rows_3x50", op, lambda x, f=f: f(x, dim=1), [xl],
               attrs={"axis": 1, "keepdim": 0})

    # norms of whole orders p (products in double rather than pow), past a
    # block of 128 values: along the last axis (one sum a row) and the first
    for p in (4, 5):
        for shp, axis in (((3, 130), 1), ((5, 130), 0)):
            w.case("norm_p%d_%dx%d_axis%d" % (p, shp[0], shp[1], axis), "norm",
                   lambda x, p=p, a=axis: torch.linalg.vector_norm(x, ord=p, dim=a), [w.rnd(*shp)],
                   attrs={"axis": axis, "keepdim": 0, "p": p})
    # and of other orders (on AVX-512 by vector powers in double), with zeros
    # (above 1), past a vector of sixteen
    for p in (1.5, 0.5):
        for shp, axis in (((3, 37), 1), ((5, 37), 0)):
            x = w.rnd(*shp)
            if p > 1:  # below 1, PyTorch's second derivative at 0 is NaN, tapegrad's 0
                x[1, 5] = x[2, 20] = 0.0
            w.case("norm_p%s_%dx%d_axis%d" % (str(p).replace(".", "_"), shp[0], shp[1], axis),
                   "norm", lambda x, p=p, a=axis: torch.linalg.vector_norm(x, ord=p, dim=a), [x],
                   attrs={"axis": axis, "keepdim": 0, "p": p})


if __name__ == "__main__":
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    for fam, write in (("shape", write_shape), ("reduce", write_reduce)):
        for dtype, suffix in ((torch.float32, "f32"), (torch.float64, "f64")):
            w = Writer(os.path.join(HERE, "golden", "%s_%s.txt" % (fam, suffix)), dtype)
            write(w)
            w.close()
    print("wrote tests/golden/shape_{f32,f64}.txt and reduce_{f32,f64}.txt")
