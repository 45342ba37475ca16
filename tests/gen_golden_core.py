#!/usr/bin/python3
"""Golden data for the core ops, written by PyTorch.

Run from the repository root with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_core.py
It writes tests/golden/core_f32.txt and core_f64.txt; tests/ops/test_golden_core.c
reads them. Every case uses loss = sum(out * R) with a random R, and carries the
second order (tests/golden_writer.py); mul and matmul the third order too.

The matrix products' values depend on OpenBLAS's kernel (its order of
summation), which OpenBLAS picks by CPU: the files were written with its
Haswell (AVX2) kernel, set here before PyTorch loads OpenBLAS so that every
machine writes the same files (OPENBLAS_CORETYPE in the environment wins).
"""
import os
import sys

os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_writer import GoldenWriter  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def write(dtype, path):
    w = GoldenWriter(path)
    seed = [0]

    def rnd(*shape, low=None):
        seed[0] += 1
        g = torch.Generator().manual_seed(1000 + seed[0])
        x = torch.randn(tuple(shape), generator=g, dtype=torch.float64)
        if low is not None:  # magnitudes kept >= low, random signs
            x = x.sign() * (x.abs() + low)
        return x.to(dtype)

    def pos(*shape):
        seed[0] += 1
        g = torch.Generator().manual_seed(1000 + seed[0])
        return (torch.rand(tuple(shape), generator=g, dtype=torch.float64) * 2 + 0.25).to(dtype)

    def case(name, op, fn, inputs, **kw):
        kw.setdefault("order", 3 if op in ("mul", "matmul") else 2)
        w.case(name, op, fn, inputs, seed=seed[0], **kw)

    # element-wise binary ops with broadcasting
    bshapes = [
        ("same", (3, 4), (3, 4)),
        ("row", (4, 3), (3,)),          # the notebooks' "add bias": [N,M] + [M]
        ("col", (4, 3), (4, 1)),
        ("outer", (4, 1), (1, 3)),
        ("scalar", (2, 3), ()),
        ("scalar_left", (), (2, 3)),
        ("rank", (2, 3, 4), (4,)),
        ("rank_mid", (2, 1, 4), (3, 1)),
        ("ones", (1, 1), (1,)),
    ]
    for tag, sa, sb in bshapes:
        case("add_" + tag, "add", torch.add, [rnd(*sa), rnd(*sb)])
        case("sub_" + tag, "sub", torch.sub, [rnd(*sa), rnd(*sb)])
        case("mul_" + tag, "mul", torch.mul, [rnd(*sa), rnd(*sb)])
        case("div_" + tag, "div", torch.div, [rnd(*sa), rnd(*sb, low=0.5)])

    # unary ops
    for shp in [(5,), (3, 4), (2, 3, 4)]:
        tag = "x".join(map(str, shp))
        case("neg_" + tag, "neg", torch.neg, [rnd(*shp)])
        case("scale_" + tag, "scale", lambda x: x * 2.5, [rnd(*shp)], attrs={"s": 2.5})
        case("add_scalar_" + tag, "add_scalar", lambda x: x + (-1.5), [rnd(*shp)], attrs={"s": -1.5})
        case("exp_" + tag, "exp", torch.exp, [rnd(*shp)])
        case("log_" + tag, "log", torch.log, [pos(*shp)])
        case("sqrt_" + tag, "sqrt", torch.sqrt, [pos(*shp)])
        case("abs_" + tag, "abs", torch.abs, [rnd(*shp, low=0.1)])
        case("square_" + tag, "square", torch.square, [rnd(*shp)])
    for p in [2.0, 3.0, 0.0, 1.0]:
        case("pow_%g" % p, "pow", lambda x, p=p: torch.pow(x, p), [rnd(3, 4)], attrs={"p": p})
    for p in [0.5, -1.5, 2.5]:
        case("pow_pos_%g" % p, "pow", lambda x, p=p: torch.pow(x, p), [pos(3, 4)], attrs={"p": p})

    # linear algebra
    case("matmul_2d", "matmul", torch.matmul, [rnd(5, 7), rnd(7, 3)])
    case("matmul_2d_big", "matmul", torch.matmul, [rnd(33, 70), rnd(70, 19)])
    case("matmul_3d", "matmul", torch.matmul, [rnd(2, 4, 5), rnd(2, 5, 3)])
    case("matmul_3d_2d", "matmul", torch.matmul, [rnd(2, 4, 5), rnd(5, 3)])
    case("transpose_2d", "transpose", lambda x: x.transpose(0, 1), [rnd(3, 4)], attrs={"d0": 0, "d1": 1})
    case("transpose_3d", "transpose", lambda x: x.transpose(0, 2), [rnd(2, 3, 4)], attrs={"d0": 0, "d1": 2})
    case("transpose_neg", "transpose", lambda x: x.transpose(-1, -2), [rnd(2, 3, 4)],
         attrs={"d0": -1, "d1": -2})
    case("linear", "linear", torch.nn.functional.linear, [rnd(6, 5), rnd(4, 5), rnd(4)])
    case("linear_nobias", "linear", torch.nn.functional.linear, [rnd(6, 5), rnd(4, 5)])
    case("linear_3d", "linear", torch.nn.functional.linear, [rnd(2, 3, 5), rnd(4, 5), rnd(4)])
    case("linear_big", "linear", torch.nn.functional.linear, [rnd(64, 100), rnd(30, 100), rnd(30)])

    # shape
    case("reshape", "reshape", lambda x: x.reshape(4, 6), [rnd(2, 3, 4)],
         attrs={"ndim": 2, "d0": 4, "d1": 6})
    case("reshape_infer", "reshape", lambda x: x.reshape(-1, 2), [rnd(2, 3, 4)],
         attrs={"ndim": 2, "d0": -1, "d1": 2})
    case("flatten", "flatten", lambda x: torch.flatten(x, 1), [rnd(2, 3, 4)])

    # reductions
    for op, fn in [("sum", torch.sum), ("mean", torch.mean), ("max", None)]:
        for shp in [(3, 4), (2, 3, 4)]:
            tag = "x".join(map(str, shp))
            for axis in range(-1, len(shp)):
                for keep in (False, True):
                    if op == "max":
                        f = lambda x, a=axis, k=keep: torch.max(x, dim=a, keepdim=k).values
                    else:
                        f = lambda x, a=axis, k=keep, fn=fn: fn(x, dim=a, keepdim=k)
                    case("%s_%s_axis%d_keep%d" % (op, tag, axis, keep), op, f, [rnd(*shp)],
                         attrs={"axis": axis, "keepdim": int(keep)})
            if op == "max":
                fa = torch.max
                fk = lambda x: torch.amax(x, dim=tuple(range(x.dim())), keepdim=True)
            else:
                fa = fn
                fk = lambda x, fn=fn: fn(x, dim=tuple(range(x.dim())), keepdim=True)
            case("%s_%s_all" % (op, tag), op, fa, [rnd(*shp)], attrs={"all": 1, "keepdim": 0})
            case("%s_%s_all_keep" % (op, tag), op, fk, [rnd(*shp)], attrs={"all": 1, "keepdim": 1})
    # max over all with ties: PyTorch shares the gradient equally
    case("max_all_ties", "max", torch.max, [torch.tensor([[1.0, 3.0], [3.0, -2.0]], dtype=dtype)],
         attrs={"all": 1, "keepdim": 0}, kink=True)
    # max over an axis with ties: the gradient goes to the first maximum
    ties = [[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]]
    for axis in (0, 1):
        case("max_axis%d_ties" % axis, "max", lambda x, a=axis: torch.max(x, dim=a).values,
             [torch.tensor(ties, dtype=dtype)], attrs={"axis": axis, "keepdim": 0}, kink=True)
    # abs at its kink: PyTorch's gradient is sign(x), 0 at x = 0 (and -0)
    case("abs_kink", "abs", torch.abs,
         [torch.tensor([[-1.5, 0.0, 2.0], [-0.0, 0.25, 0.0]], dtype=dtype)], kink=True)
    w.close()


if __name__ == "__main__":
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    write(torch.float32, os.path.join(HERE, "golden", "core_f32.txt"))
    write(torch.float64, os.path.join(HERE, "golden", "core_f64.txt"))
    print("wrote tests/golden/core_f32.txt and core_f64.txt")
