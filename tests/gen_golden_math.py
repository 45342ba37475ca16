#!/usr/bin/python3
"""Golden data for the element-wise math ops (src/ops/math.c, and clamp with
tensor bounds), written by PyTorch.

Run from the repository root with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_math.py
It writes tests/golden/math_f32.txt and math_f64.txt; tests/ops/test_golden_math.c
reads them. Every case uses loss = sum(out * R) with a random R and carries
the second order (tests/golden_writer.py). Cases:
  - each unary function on random points of its domain in shapes [7], [4,6,2],
    a 0-d and an empty tensor, and at its edges (asin at ±1, erfinv near ±1,
    rsqrt and reciprocal at 0, ...: first order only where a value is not
    finite, as the writer marks);
  - floor, ceil, round and trunc at halves, ±0, ±inf and NaN (outputs only:
    they have no gradient);
  - the binary ops broadcasting both ways, with ties (minimum, maximum),
    x = 0 and negative x (pow_tensor), a zero base (pow_scalar_base);
  - clamp with tensor bounds: both, one, broadcast, lo > hi, x on a bound;
  - lerp with scalar weights inside and outside [0, 1] and tensor weights;
  - add and sub with alpha.
Attributes: `s` the scalar (lerp's weight, alpha, the base); clamp_tensor's
`lo`, `hi` say which bounds the case has (the inputs are x, then those).
Cases whose inputs sit on a kink or a tie are marked kink=True.
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_golden_act  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NAN, INF = float("nan"), float("inf")


class Gen(gen_golden_act.Gen):
    """tests/gen_golden_act.py's case writer, with uniform draws on [low, high)."""

    def uniform(self, shape, low, high):
        return self.rand(*shape, low=low, high=high)


def tag(shape):
    return "x".join(map(str, shape)) if shape else "scalar"


# op -> (torch function, the domain of its random points, its edges)
UNARY = [
    ("sin", torch.sin, (-4, 4), [0.0, math.pi / 2, -math.pi, 1e4]),
    ("cos", torch.cos, (-4, 4), [0.0, math.pi / 2, -math.pi, 1e4]),
    ("tan", torch.tan, (-1.3, 1.3), [0.0, 1.5, -1.5, 3.0]),
    ("asin", torch.asin, (-0.95, 0.95), [0.0, 1.0, -1.0, 1.5, 0.999]),
    ("acos", torch.acos, (-0.95, 0.95), [0.0, 1.0, -1.0, -1.5, 0.999]),
    ("atan", torch.atan, (-4, 4), [0.0, 1e4, -1e4, INF, -INF]),
    ("sinh", torch.sinh, (-3, 3), [0.0, 50.0, -50.0, 1e3]),
    ("cosh", torch.cosh, (-3, 3), [0.0, 50.0, -50.0, 1e3]),
    ("asinh", torch.asinh, (-4, 4), [0.0, 1e4, -1e4, INF]),
    ("acosh", torch.acosh, (1.05, 4), [1.0, 0.5, 1e4, INF]),
    ("atanh", torch.atanh, (-0.95, 0.95), [0.0, 1.0, -1.0, 1.5, 0.999]),
    ("log1p", torch.log1p, (-0.9, 3), [0.0, -1.0, -1.5, 1e-8, -1e-8, 1e4]),
    ("expm1", torch.expm1, (-3, 3), [0.0, 1e-8, -1e-8, -50.0, 100.0, 1e3]),
    ("log2", torch.log2, (0.1, 5), [0.0, 1.0, -1.0, 1024.0, INF]),
    ("log10", torch.log10, (0.1, 5), [0.0, 1.0, -1.0, 1e4, INF]),
    ("exp2", torch.exp2, (-3, 3), [0.0, -1e3, 200.0, 2e3, 10.0]),
    ("rsqrt", torch.rsqrt, (0.1, 5), [0.0, -1.0, 1e-8, 1e4, INF]),
    ("reciprocal", torch.reciprocal, None, [0.0, -0.0, 1e-30, INF, -INF, 3.0]),
    ("erfc", torch.erfc, (-2.5, 2.5), [0.0, 5.0, -5.0, 30.0, INF, -INF]),
    ("erfinv", torch.erfinv, (-0.99, 0.99), [0.0, 1.0, -1.0, 1.5, 0.9999, -0.9999, 1e-8]),
]


def erfinv_ref(x):
    """erfinv in the case's dtype. PyTorch's float32 kernel errs by up to 4e-6
    relative near ±1 (30 ulp; its float64 one does not), and the derivative
    e^(y²) multiplies that by 2y² (9e-5 at y = 3.5): the float32 reference is
    PyTorch's float64 erfinv at the same float32 points, rounded to float32
    (its gradients too, through the casts)."""
    if x.dtype == torch.float32:
        return torch.erfinv(x.double()).float()
    return torch.erfinv(x)


def write_unary(g):
    for op, fn, dom, edges in UNARY:
        fn = erfinv_ref if op == "erfinv" else fn
        for shape in [(7,), (4, 6, 2), (), (0, 3)]:
            if dom is None:  # reciprocal: magnitudes in [0.2, 3], both signs
                x = g.uniform(shape, 0.2, 3.0) * torch.where(g.uniform(shape, 0, 1) < 0.5, -1, 1).to(g.dtype)
            else:
                x = g.uniform(shape, *dom)
            g.case("%s_%s" % (op, tag(shape)), op, fn, [x])
        g.case("%s_edges" % op, op, fn, [g.t(edges)])
        g.case("%s_nan" % op, op, fn, [g.t([NAN, 0.5])], grad_inputs=[])
    # erfinv close to ±1, where 1 - |x| carries the digits: in float up to
    # 1 - 2^-20; in double up to 1 - 2^-13 only, since PyTorch's float64
    # erfinv errs beyond (2e-12 relative at 1 - 1e-6, 5e-7 at 1 - 1e-12;
    # tests/ops/test_golden_math.c checks that tail against mpmath)
    near = [1 - 2.0 ** -k for k in (2, 5, 8, 10, 13)] if g.dtype == torch.float64 else \
        [1 - 2.0 ** -k for k in (4, 8, 12, 16, 20)]
    g.case("erfinv_near_one", "erfinv", erfinv_ref, [g.t(near + [-v for v in near])])


def write_rounding(g):
    xs = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, 1.7, -1.7, -0.0, 0.0, 3.0, -3.0,
          INF, -INF, NAN, 1e10, -1e10, 4503599627370497.0, 0.2, -0.2]
    for op, fn in [("floor", torch.floor), ("ceil", torch.ceil), ("round", torch.round),
                   ("trunc", torch.trunc)]:
        g.case("%s_points" % op, op, fn, [g.t(xs)], grad_inputs=[])
        g.case("%s_4x6x2" % op, op, fn, [g.randn(4, 6, 2, scale=5.0)], grad_inputs=[])
        g.case("%s_scalar" % op, op, fn, [g.t(2.5)], grad_inputs=[])
        g.case("%s_empty" % op, op, fn, [g.randn(0, 3)], grad_inputs=[])


BSHAPES = [
    ("same", (3, 4), (3, 4)),
    ("row", (4, 3), (3,)),
    ("col", (4, 3), (4, 1)),
    ("outer", (4, 1), (1, 3)),
    ("scalar", (2, 3), ()),
    ("scalar_left", (), (2, 3)),
    ("rank", (2, 3, 4), (4,)),
    ("empty", (0, 3), (3,)),
]


def write_binary(g):
    # atan2 on random points, broadcasting; (0, 0) and the axes
    for name, sa, sb in BSHAPES:
        g.case("atan2_" + name, "atan2", torch.atan2, [g.randn(*sa), g.randn(*sb)])
    g.case("atan2_axes", "atan2", torch.atan2,
           [g.t([0.0, 0.0, 1.0, -1.0, 0.0, -0.0, 1e-30]), g.t([1.0, -1.0, 0.0, 0.0, 0.0, -1.0, 1.0])])

    # minimum and maximum: random (no ties), ties (each half), NaN
    for op, fn in [("minimum", torch.minimum), ("maximum", torch.maximum)]:
        for name, sa, sb in BSHAPES:
            g.case("%s_%s" % (op, name), op, fn, [g.randn(*sa), g.randn(*sb)])
        g.case(op + "_ties", op, fn, [g.t([1.0, 2.0, -3.0, 0.0, 5.0]), g.t([1.0, 1.0, -3.0, -0.0, 6.0])],
               kink=True)
        g.case(op + "_tie_bcast", op, fn, [g.t([[1.0, 2.0], [3.0, 1.0]]), g.t([1.0])], kink=True)
        g.case(op + "_nan", op, fn, [g.t([NAN, 1.0, 2.0, INF]), g.t([1.0, NAN, 3.0, -INF])])

    # pow with a tensor exponent: x > 0 (both gradients), x < 0 with integer
    # exponents (x's gradient; the exponent's is NaN there, as ln x), x = 0
    for name, sa, sb in BSHAPES:
        x = g.uniform(sa, 0.3, 2.5)
        e = g.uniform(sb, -2.0, 3.0)
        g.case("pow_tensor_" + name, "pow_tensor", torch.pow, [x, e])
    g.case("pow_tensor_negative_base", "pow_tensor", torch.pow,
           [g.t([-2.0, -1.5, -0.5, -3.0]), g.t([2.0, 3.0, -1.0, 0.0])], grad_inputs=[0])
    g.case("pow_tensor_negative_base_both", "pow_tensor", torch.pow,
           [g.t([-2.0, -1.5, 1.5]), g.t([2.0, 3.0, 0.5])])
    g.case("pow_tensor_zero_base", "pow_tensor", torch.pow,
           [g.t([0.0, 0.0, 0.0, 0.0, 0.0, 2.0]), g.t([0.0, 1.0, 2.0, 3.0, 0.5, 0.0])])
    g.case("pow_tensor_zero_base_neg", "pow_tensor", torch.pow,
           [g.t([0.0, 0.0]), g.t([-1.0, -0.5])])
    g.case("pow_tensor_scalar_exp", "pow_tensor", torch.pow, [g.uniform((3, 4), 0.5, 2.0), g.t(2.5)])

    # pow with a scalar base
    for base in [2.5, 0.5, 1.0, math.e, 0.0, -2.0]:
        e = g.uniform((3, 5), -2.0, 3.0)
        if base == 0.0:
            e = g.t([0.0, 1.0, 2.5, -1.0, -0.5])
        if base == -2.0:
            e = g.t([2.0, 3.0, 0.5, -1.0])
        g.case("pow_scalar_base_%g" % base, "pow_scalar_base", lambda y, b=base: torch.pow(b, y), [e],
               attrs={"s": base})
    g.case("pow_scalar_base_scalar", "pow_scalar_base", lambda y: torch.pow(3.0, y), [g.t(0.7)],
           attrs={"s": 3.0})


def write_clamp(g):
    def clamp(has_lo, has_hi):
        def fn(x, *b):
            lo = b[0] if has_lo else None
            hi = b[-1] if has_hi else None
            return torch.clamp(x, lo, hi)
        return fn

    def case(name, x, lo=None, hi=None, **kw):
        ins = [x] + [b for b in (lo, hi) if b is not None]
        g.case("clamp_tensor_" + name, "clamp_tensor", clamp(lo is not None, hi is not None), ins,
               attrs={"lo": int(lo is not None), "hi": int(hi is not None)}, **kw)

    case("both", g.randn(4, 5, scale=2.0), g.randn(4, 5, scale=0.3) - 1, g.randn(4, 5, scale=0.3) + 1)
    case("lo_only", g.randn(4, 5, scale=2.0), lo=g.randn(4, 5))
    case("hi_only", g.randn(4, 5, scale=2.0), hi=g.randn(4, 5))
    case("bcast_bounds", g.randn(3, 4, scale=2.0), g.randn(4, scale=0.3) - 1, g.t(0.5))
    case("bcast_x", g.randn(4, scale=2.0), g.randn(3, 1, scale=0.3) - 1, g.randn(3, 4, scale=0.3) + 1)
    case("lo_above_hi", g.t([-2.0, 0.5, 3.0, -5.0]), g.t([1.0, 1.0, 1.0, 1.0]), g.t([0.0, 0.0, 0.0, 0.0]))
    case("on_bounds", g.t([-1.0, 1.0, 0.0, 2.0, 0.5]), g.t([-1.0, -1.0, 0.0, 2.0, 0.5]),
         g.t([1.0, 1.0, 0.0, 2.0, 0.75]), kink=True)
    case("nan", g.t([NAN, 0.5, 0.5, 2.0]), g.t([0.0, NAN, 0.0, NAN]), g.t([1.0, 1.0, NAN, 1.0]))
    case("inf_bounds", g.t([-5.0, 0.5, 5.0]), g.t([-INF, 0.0, -INF]), g.t([INF, INF, 1.0]))
    case("scalar", g.t(0.3), g.t(0.5), g.t(1.0))
    case("empty", g.randn(0, 3), g.randn(3), g.randn(1, 3) + 2)


def write_lerp(g):
    for w in [0.3, 0.7, 0.5, -0.2, 1.0, 1.5, 0.0]:
        for name, sa, sb in BSHAPES[:5]:
            g.case("lerp_w%g_%s" % (w, name), "lerp", lambda a, b, w=w: torch.lerp(a, b, w),
                   [g.randn(*sa), g.randn(*sb)], attrs={"s": w})
    for name, sa, sb, sw in [("same", (3, 4), (3, 4), (3, 4)), ("bcast_w", (3, 4), (3, 4), (4,)),
                             ("bcast_all", (3, 1), (4,), (2, 3, 4)), ("scalar_w", (2, 3), (2, 3), ()),
                             ("empty", (0, 2), (2,), (1, 2))]:
        w = g.uniform(sw, -0.5, 1.5)
        g.case("lerp_tensor_" + name, "lerp_tensor", torch.lerp, [g.randn(*sa), g.randn(*sb), w])
    # the weights 1/2 and 1 exactly, where the two formulas meet
    g.case("lerp_tensor_ends", "lerp_tensor", torch.lerp,
           [g.t([1.0, 2.0, -3.0, 1e8]), g.t([3.0, -2.0, 5.0, 1.0]), g.t([0.5, 1.0, 0.0, 0.5])])


def write_alpha(g):
    for alpha in [0.3, -2.0, 0.0, 1.0]:
        for name, sa, sb in BSHAPES:
            g.case("add_alpha_%g_%s" % (alpha, name), "add_alpha",
                   lambda a, b, al=alpha: torch.add(a, b, alpha=al), [g.randn(*sa), g.randn(*sb)],
                   attrs={"s": alpha})
            g.case("sub_alpha_%g_%s" % (alpha, name), "sub_alpha",
                   lambda a, b, al=alpha: torch.sub(a, b, alpha=al), [g.randn(*sa), g.randn(*sb)],
                   attrs={"s": alpha})


def write_extremes(g):
    """±inf and NaN in the binary ops: first order only (the writer marks them)."""
    g.case("atan2_extreme", "atan2", torch.atan2,
           [g.t([INF, -INF, 1.0, INF, NAN, 1e30]), g.t([1.0, 1.0, INF, INF, 1.0, 1e-30])])
    g.case("pow_tensor_extreme", "pow_tensor", torch.pow,
           [g.t([INF, 2.0, 0.5, 2.0, NAN, 1.0]), g.t([2.0, INF, INF, -INF, 1.0, NAN])])
    g.case("lerp_tensor_extreme", "lerp_tensor", torch.lerp,
           [g.t([INF, 1.0, 0.0, NAN]), g.t([1.0, -INF, 1e30, 1.0]), g.t([0.3, 0.7, 0.5, 0.2])])
    g.case("add_alpha_extreme", "add_alpha", lambda a, b: torch.add(a, b, alpha=2.0),
           [g.t([INF, 1.0, NAN, 3e38]), g.t([-INF, INF, 1.0, 3e38])], attrs={"s": 2.0})
    g.case("pow_scalar_base_extreme", "pow_scalar_base", lambda y: torch.pow(2.0, y),
           [g.t([INF, -INF, NAN, 1e4])], attrs={"s": 2.0})


def main():
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    for dtype, sfx in [(torch.float32, "f32"), (torch.float64, "f64")]:
        path = os.path.join(HERE, "golden", "math_%s.txt" % sfx)
        g = Gen(dtype, path)
        for fn in (write_unary, write_rounding, write_binary, write_clamp, write_lerp, write_alpha,
                   write_extremes):
            fn(g)
        g.close()
        print("wrote", os.path.relpath(path, os.path.dirname(HERE)))


if __name__ == "__main__":
    main()
