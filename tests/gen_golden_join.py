#!/usr/bin/python3
"""Golden data for the joining and splitting ops, written by PyTorch.

Run from the repository root with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_join.py
It writes tests/golden/join_f32.txt and join_f64.txt; tests/ops/test_golden_join.c
reads them. Every case uses loss = sum(out * R) with a random R and carries the
second order (tests/golden_writer.py).

The ops are linear in their inputs, so their second derivatives are zero; the
cases with attribute sq = 1 square the output (out = op(...)^2) and carry the
third order: their second order runs through each op's vjp (cat's narrows,
pad's pad_backward, repeat's sum_to) and the backward of its adjoint, and,
recorded for the third, through the adjoint's vjp.

Attributes: axis; cat and stack of more tensors than an op's 8 inputs take
one input X and join X[0], X[1], ... (attribute unbind = 1); split: size (or
sizes s0, s1, ... with n_sizes, or chunks), piece (which piece is the output)
and count (how many pieces there are); pad: n_pad, p0, p1, ..., mode (0
constant, 1 reflect, 2 replicate, 3 circular: tg_pad_mode's values), value,
weighted (out = pad(x) * w, w the second input);
repeat and tile: n, r0, r1, ...
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_writer import GoldenWriter, squared  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = {"constant": 0, "reflect": 1, "replicate": 2, "circular": 3}


def write(dtype, path):
    w = GoldenWriter(path)
    seed = [0]

    def rnd(*shape):
        seed[0] += 1
        g = torch.Generator().manual_seed(9000 + seed[0])
        return torch.randn(tuple(shape), generator=g, dtype=torch.float64).to(dtype)

    def case(name, op, fn, inputs, sq=False, attrs=None, **kw):
        if sq:
            fn, attrs, kw = squared(fn, attrs, kw)
        w.case(name, op, fn, inputs, attrs=attrs, seed=seed[0], **kw)

    # cat
    for name, shapes, axis in [("cat_rows", [(2, 3), (4, 3)], 0),
                               ("cat_cols", [(3, 1), (3, 4), (3, 2)], 1),
                               ("cat_neg_axis", [(2, 2, 3), (2, 1, 3)], -2),
                               ("cat_last", [(2, 3, 2), (2, 3, 1), (2, 3, 3)], 2),
                               ("cat_one", [(2, 3)], 1),
                               ("cat_empty_part", [(2, 0), (2, 3)], 1),
                               ("cat_legacy_empty", [(0,), (2, 3), (0,)], 0),
                               ("cat_1d", [(3,), (2,)], 0),
                               ("cat_eight", [(1, k + 1) for k in range(8)], 1)]:
        case(name, "cat", lambda *xs, a=axis: torch.cat(xs, a), [rnd(*s) for s in shapes],
             attrs={"axis": axis})
    # more tensors than an op takes: the inputs are the rows of one X
    for n, axis in [(9, 1), (20, 0), (70, -1)]:
        case("cat_%d" % n, "cat", lambda X, a=axis: torch.cat(X.unbind(0), a), [rnd(n, 2, 3)],
             attrs={"axis": axis, "unbind": 1})
    case("cat_sq", "cat", lambda a, b: torch.cat([a, b], 1), [rnd(2, 3), rnd(2, 2)], sq=True,
         attrs={"axis": 1})

    # stack
    for name, shape, n, axis in [("stack_0", (2, 3), 3, 0), ("stack_mid", (2, 3), 2, 1),
                                 ("stack_last", (2, 3), 4, -1), ("stack_0d", (), 3, 0)]:
        case(name, "stack", lambda *xs, a=axis: torch.stack(xs, a),
             [rnd(*shape) for _ in range(n)], attrs={"axis": axis})
    case("stack_11", "stack", lambda X: torch.stack(X.unbind(0), 1), [rnd(11, 2, 3)],
         attrs={"axis": 1, "unbind": 1})
    case("stack_sq", "stack", lambda a, b: torch.stack([a, b], 0), [rnd(3), rnd(3)], sq=True,
         attrs={"axis": 0})

    # split, split_sizes, split_chunks: one case per piece
    def split_cases(tag, x, how, axis, pieces_of):
        pieces = pieces_of(x)
        for k in range(len(pieces)):
            attrs = dict(how, axis=axis, piece=k, count=len(pieces))
            case("%s_piece%d" % (tag, k), "split", lambda x, k=k: pieces_of(x)[k], [x],
                 attrs=attrs)

    x = rnd(5, 3)
    split_cases("split_2", x, {"size": 2}, 0, lambda x: torch.split(x, 2, 0))
    x = rnd(2, 7)
    split_cases("split_3_last", x, {"size": 3}, -1, lambda x: torch.split(x, 3, -1))
    x = rnd(2, 6)
    split_cases("split_sizes", x, {"n_sizes": 3, "s0": 1, "s1": 0, "s2": 5}, 1,
                lambda x: torch.split(x, [1, 0, 5], 1))
    x = rnd(6, 2)
    split_cases("chunk_4_of_6", x, {"chunks": 4}, 0, lambda x: torch.chunk(x, 4, 0))
    x = rnd(3, 5)
    split_cases("chunk_3_of_5", x, {"chunks": 3}, 1, lambda x: torch.chunk(x, 3, 1))
    case("split_sq", "split", lambda x: torch.split(x, 2, 1)[1], [rnd(3, 5)], sq=True,
         attrs={"size": 2, "axis": 1, "piece": 1, "count": 3})

    # pad: PyTorch's pad list starts from the last axis
    def pad_case(name, x, pad, mode="constant", value=0.0, sq=False):
        attrs = {"n_pad": len(pad), "mode": MODES[mode], "value": value}
        for k, p in enumerate(pad):
            attrs["p%d" % k] = p
        if mode == "constant":
            fn = lambda x, p=tuple(pad), v=value: F.pad(x, p, "constant", v)  # noqa: E731
        else:
            fn = lambda x, p=tuple(pad), m=mode: F.pad(x, p, m)  # noqa: E731
        case(name, "pad", fn, [x], sq=sq, attrs=attrs)

    pad_case("pad_constant_last", rnd(2, 3), [1, 2])
    pad_case("pad_constant_value", rnd(2, 3), [2, 0, 1, 1], value=1.5)
    pad_case("pad_constant_crop", rnd(4, 5), [-1, 2, 1, -2])
    pad_case("pad_constant_crop_all", rnd(3, 4), [-2, -2])
    pad_case("pad_constant_3d", rnd(2, 3, 4), [1, 1, 0, 0, 2, 1])
    pad_case("pad_constant_none", rnd(2, 3), [])
    pad_case("pad_constant_empty", rnd(2, 0), [1, 1])
    for mode in ("reflect", "replicate", "circular"):
        pad_case("pad_%s_1d" % mode, rnd(2, 3, 5), [2, 3], mode)
        pad_case("pad_%s_2d" % mode, rnd(1, 2, 4, 5), [1, 2, 3, 1], mode)
        pad_case("pad_%s_crop" % mode, rnd(1, 2, 6), [-1, 2], mode)
        pad_case("pad_%s_crop_left" % mode, rnd(1, 2, 6), [3, -2], mode)
    for mode in ("reflect", "replicate"):
        pad_case("pad_%s_3d" % mode, rnd(1, 1, 3, 4, 3), [1, 2, 2, 1, 1, 1], mode)
        pad_case("pad_%s_2d_input" % mode, rnd(3, 4), [3, 2], mode)
    pad_case("pad_replicate_wide", rnd(2, 1, 3), [7, 9], "replicate")
    pad_case("pad_circular_full", rnd(1, 2, 4), [4, 4], "circular")
    pad_case("pad_constant_sq", rnd(2, 3), [1, -1, 0, 2], sq=True)
    pad_case("pad_reflect_sq", rnd(1, 2, 5), [3, 2], "reflect", sq=True)
    pad_case("pad_replicate_sq", rnd(1, 3, 4), [2, 3], "replicate", sq=True)
    pad_case("pad_circular_sq", rnd(1, 2, 4), [2, 3], "circular", sq=True)
    # pad(x) * w, both requiring grad: with create_graph, x's gradient is
    # pad_backward(R * w), a function of w, whose vjp (a pad with value 0)
    # gives w its second derivative, at the constant positions too
    for mode, pad, xs, ws in [("constant", [2, -1, 1, 1], (2, 3), (4, 4)),
                              ("reflect", [2, 1, 0, 1], (1, 2, 3), (1, 3, 6))]:
        attrs = {"n_pad": len(pad), "mode": MODES[mode], "value": 1.5, "weighted": 1}
        for k, p in enumerate(pad):
            attrs["p%d" % k] = p
        if mode == "constant":
            fn = lambda x, w, p=tuple(pad): F.pad(x, p, "constant", 1.5) * w  # noqa: E731
        else:
            fn = lambda x, w, p=tuple(pad): F.pad(x, p, "reflect") * w  # noqa: E731
        case("pad_%s_weighted" % mode, "pad", fn, [rnd(*xs), rnd(*ws)], attrs=attrs, order=3)

    # repeat and tile
    def reps_attrs(reps):
        a = {"n": len(reps)}
        for k, r in enumerate(reps):
            a["r%d" % k] = r
        return a

    for name, shape, reps in [("repeat_2d", (2, 3), (2, 2)), ("repeat_lead", (2, 3), (2, 1, 2)),
                              ("repeat_ones", (2, 3), (1, 1)), ("repeat_zero", (2, 3), (2, 0)),
                              ("repeat_size1", (1, 3, 1), (3, 1, 4)),
                              ("repeat_0d", (), (2, 3)),
                              ("repeat_many", (2, 2, 2, 2, 2), (2, 3, 2, 2, 2)),
                              ("repeat_8d", (2, 1, 2, 1, 2, 1, 2, 2), (2, 2, 1, 3, 2, 1, 2, 1))]:
        case(name, "repeat", lambda x, r=reps: x.repeat(*r), [rnd(*shape)], attrs=reps_attrs(reps))
    case("repeat_sq", "repeat", lambda x: x.repeat(2, 3), [rnd(2, 2)], sq=True,
         attrs=reps_attrs((2, 3)))
    for name, shape, reps in [("tile_fewer", (2, 3), (2,)), ("tile_more", (2, 3), (2, 1, 3)),
                              ("tile_same", (2, 3), (3, 2))]:
        case(name, "tile", lambda x, r=reps: torch.tile(x, r), [rnd(*shape)],
             attrs=reps_attrs(reps))
    # only 1-d tensors of no element: [0] along any axis, as PyTorch (its range not checked)
    for name, n, axis in [("cat_all_legacy_axis2", 1, 2), ("cat_all_legacy_neg", 2, -3)]:
        case(name, "cat", lambda *xs, a=axis: torch.cat(xs, a), [rnd(0) for _ in range(n)],
             attrs={"axis": axis})
    w.close()


if __name__ == "__main__":
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    write(torch.float32, os.path.join(HERE, "golden", "join_f32.txt"))
    write(torch.float64, os.path.join(HERE, "golden", "join_f64.txt"))
    print("wrote tests/golden/join_f32.txt and join_f64.txt")
