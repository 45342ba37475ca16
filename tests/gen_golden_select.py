#!/usr/bin/python3
"""Golden data for the ops that higher-order gradients brought in, written by
PyTorch: comparisons, where, clamp, erf, expand and sum_to (src/ops/compare.c,
src/ops/shape.c, src/ops/arith.c), and matmul with broadcast batch dimensions
and 1-D operands, dot and outer (src/ops/linalg.c).

Run from the repository root with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_select.py
It writes tests/golden/select_f32.txt and select_f64.txt (first and second
order: tests/golden_writer.py); tests/ops/test_golden_select.c reads them.
OpenBLAS's kernel is pinned, as in gen_golden_core.py, so that every machine
writes the same files.
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

    def rnd(*shape):
        seed[0] += 1
        g = torch.Generator().manual_seed(3000 + seed[0])
        return torch.randn(tuple(shape), generator=g, dtype=torch.float64).to(dtype)

    def case(name, op, fn, inputs, **kw):
        w.case(name, op, fn, inputs, seed=seed[0], **kw)

    # comparisons: 0/1 values, no gradient (PyTorch's bool made tg_real)
    cmp = {"eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt,
           "ge": torch.ge}
    for op, fn in cmp.items():
        a = rnd(3, 4)
        b = a.clone()
        b[0] += 1  # some equal, some not
        b[2] -= 1
        case(op, op, lambda x, y, fn=fn: fn(x, y).to(dtype), [a, b], grad_inputs=[])
        case(op + "_bcast", op, lambda x, y, fn=fn: fn(x, y).to(dtype), [rnd(3, 1), rnd(4)],
             grad_inputs=[])
    case("sign", "sign", lambda x: torch.sign(x),
         [torch.tensor([-2.0, 0.0, 3.5, -0.0, float("nan")], dtype=dtype)], grad_inputs=[])

    # where: both branches broadcast with the condition
    def cond(*shape):
        return (rnd(*shape) > 0).to(dtype)
    case("where", "where", lambda c, a, b: torch.where(c != 0, a, b),
         [cond(3, 4), rnd(3, 4), rnd(3, 4)], grad_inputs=[1, 2])
    case("where_bcast", "where", lambda c, a, b: torch.where(c != 0, a, b),
         [cond(3, 1), rnd(4), rnd(2, 3, 4)], grad_inputs=[1, 2])
    case("where_scalar_b", "where", lambda c, a, b: torch.where(c != 0, a, b),
         [cond(2, 5), rnd(2, 5), rnd()], grad_inputs=[1, 2])

    # clamp, with bounds on both sides, one side, and inverted (lo > hi)
    for tag, lo, hi in [("both", -0.5, 0.7), ("lo", -0.3, float("inf")),
                        ("hi", float("-inf"), 0.2), ("inverted", 0.5, -0.5)]:
        case("clamp_" + tag, "clamp", lambda x, lo=lo, hi=hi: torch.clamp(
            x, min=None if lo == float("-inf") else lo, max=None if hi == float("inf") else hi),
             [rnd(4, 5)], attrs={"lo": lo, "hi": hi})
    case("clamp_at_bounds", "clamp", lambda x: torch.clamp(x, -0.5, 0.5),
         [torch.tensor([-0.5, 0.5, 0.0, -1.0, 1.0], dtype=dtype)], attrs={"lo": -0.5, "hi": 0.5},
         kink=True)

    for shp in [(7,), (3, 4)]:
        case("erf_" + "x".join(map(str, shp)), "erf", torch.erf, [rnd(*shp)])

    # expand and sum_to (sum_to_size)
    case("expand_row", "expand", lambda x: x.expand(3, 4), [rnd(4)], attrs={"ndim": 2, "d0": 3, "d1": 4})
    case("expand_col", "expand", lambda x: x.expand(2, 3, 4), [rnd(3, 1)],
         attrs={"ndim": 3, "d0": 2, "d1": 3, "d2": 4})
    case("expand_scalar", "expand", lambda x: x.expand(2, 3), [rnd()], attrs={"ndim": 2, "d0": 2, "d1": 3})
    case("sum_to_row", "sum_to", lambda x: x.sum_to_size(4), [rnd(3, 4)], attrs={"ndim": 1, "d0": 4})
    case("sum_to_col", "sum_to", lambda x: x.sum_to_size(3, 1), [rnd(2, 3, 4)],
         attrs={"ndim": 2, "d0": 3, "d1": 1})
    case("sum_to_scalar", "sum_to", lambda x: x.sum_to_size(()), [rnd(2, 3)], attrs={"ndim": 0})

    # matmul: broadcast batch dimensions, 1-D operands; dot and outer
    mm = [("bcast_4d", (2, 1, 3, 4), (5, 4, 2)),
          ("bcast_left", (3, 4), (2, 4, 5)),
          ("bcast_ones", (2, 1, 3, 4), (1, 3, 4, 2)),
          ("vec_vec", (6,), (6,)),
          ("mat_vec", (3, 6), (6,)),
          ("vec_mat", (6,), (6, 2)),
          ("batch_vec", (2, 3, 6), (6,)),
          ("vec_batch", (6,), (2, 6, 3)),
          ("empty_batch", (0, 3, 4), (4, 2))]
    for tag, sa, sb in mm:
        case("matmul_" + tag, "matmul", torch.matmul, [rnd(*sa), rnd(*sb)])
    case("dot", "dot", torch.dot, [rnd(7), rnd(7)])
    case("outer", "outer", torch.outer, [rnd(4), rnd(3)])
    w.close()


if __name__ == "__main__":
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    write(torch.float32, os.path.join(HERE, "golden", "select_f32.txt"))
    write(torch.float64, os.path.join(HERE, "golden", "select_f64.txt"))
    print("wrote tests/golden/select_f32.txt and select_f64.txt")
