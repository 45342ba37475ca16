#!/usr/bin/python3
"""Golden data for the indexing ops, written by PyTorch.

Run from the repository root with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_index.py
It writes tests/golden/index_f32.txt and index_f64.txt; tests/ops/test_golden_index.c
reads them. Every case uses loss = sum(out * R) with a random R and carries the
second order (tests/golden_writer.py).

The ops are linear in their tensor inputs, so their second derivatives are
zero; the cases with attribute sq = 1 square the op's output (out = op(...)^2)
and carry the third order: their second order runs through each op's vjp and
the backward of its adjoint (slice_backward, index_add, scatter_add,
pad_backward), and, recorded for the third, through the adjoint's vjp.

Attributes: axis (TG_ALL's cases have all = 1); slice: n specs axis<k>,
start<k>, stop<k> (absent: to the end), step<k>; select: index; narrow:
start, length; masked_fill: value. Index arrays are written with their shape
("index <n> <ndim> <dims...>"). masked_fill's mask is a float input of 0/1
without a gradient (PyTorch's is bool).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_writer import Draws, GoldenWriter, squared  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
INF = float("inf")


def write(dtype, path):
    w = GoldenWriter(path)
    draws = Draws(7000, dtype)
    gen, rnd, ints, idx = draws.gen, draws.rnd, draws.ints, draws.idx

    def case(name, op, fn, inputs, sq=False, attrs=None, **kw):
        if sq:
            fn, attrs, kw = squared(fn, attrs, kw)
        if "index" in kw:
            kw["index_shaped"] = True
        w.case(name, op, fn, inputs, attrs=attrs, seed=draws.n, **kw)

    # slice: x[..., start:stop:step, ...] along one or more axes
    def slice_case(name, x, specs, sq=False):
        attrs = {"n": len(specs)}
        for k, (axis, start, stop, step) in enumerate(specs):
            attrs["axis%d" % k] = axis
            attrs["start%d" % k] = start
            if stop is not None:
                attrs["stop%d" % k] = stop
            attrs["step%d" % k] = step

        def fn(x, specs=specs):
            key = [slice(None)] * x.dim()
            for axis, start, stop, step in specs:
                key[axis] = slice(start, stop, step)
            return x[tuple(key)]

        case(name, "slice", fn, [x], sq=sq, attrs=attrs)

    slice_case("slice_step2_clamped", rnd(4, 6), [(1, 2, 10, 2)])  # x[:, 2:10:2]
    slice_case("slice_negative_start", rnd(5, 3), [(0, -3, None, 1)])  # x[-3:]
    slice_case("slice_negative_stop", rnd(5, 3), [(-2, 0, -1, 1)])  # x[:, :-1]
    slice_case("slice_step_beyond", rnd(3, 4), [(1, 1, None, 10)])  # x[:, 1::10]
    slice_case("slice_empty", rnd(3, 4), [(1, 3, 1, 1)])  # x[:, 3:1]
    slice_case("slice_start_beyond", rnd(3, 4), [(0, 10, None, 1)])  # x[10:]
    slice_case("slice_start_far_negative", rnd(3, 4), [(1, -100, 3, 2)])
    slice_case("slice_axis0_rows", rnd(6, 5), [(0, 1, 4, 1)])  # contiguous rows
    slice_case("slice_multi", rnd(4, 5, 6), [(0, 1, 3, 1), (2, 0, None, 2)])
    slice_case("slice_multi_3", rnd(3, 4, 5), [(-1, 1, 4, 2), (0, 0, None, 2), (1, -2, None, 1)])
    slice_case("slice_of_empty", rnd(0, 4), [(1, 1, 3, 1)])
    slice_case("slice_sq", rnd(4, 7), [(1, 1, 6, 2)], sq=True)

    # select: x[..., i, ...]
    for name, shape, axis, i in [("select_row", (3, 4), 0, 1), ("select_col_neg", (3, 4), -1, -1),
                                 ("select_mid", (2, 3, 4), 1, 2), ("select_to_0d", (5,), 0, 3)]:
        case(name, "select", lambda x, a=axis, i=i: x.select(a, i), [rnd(*shape)],
             attrs={"axis": axis, "index": i})
    case("select_sq", "select", lambda x: x.select(1, -2), [rnd(3, 4, 2)], sq=True,
         attrs={"axis": 1, "index": -2})

    # narrow
    for name, shape, axis, start, length in [("narrow_cols", (3, 6), 1, 2, 3),
                                             ("narrow_neg_start", (5, 2), 0, -3, 2),
                                             ("narrow_empty", (3, 4), 1, 4, 0),
                                             ("narrow_3d", (2, 5, 3), -2, 1, 4)]:
        case(name, "narrow", lambda x, a=axis, s=start, n=length: x.narrow(a, s, n),
             [rnd(*shape)], attrs={"axis": axis, "start": start, "length": length})
    case("narrow_sq", "narrow", lambda x: x.narrow(0, 1, 2), [rnd(4, 3)], sq=True,
         attrs={"axis": 0, "start": 1, "length": 2})

    # index_select, repeated indices among them
    for name, shape, axis, index in [
            ("index_select_rows", (5, 3), 0, idx([4, 0, 2])),
            ("index_select_repeat", (4, 3), 0, idx([1, 3, 1, 1, 0])),
            ("index_select_cols", (3, 6), 1, idx([5, 0, 5, 2])),
            ("index_select_neg_axis", (2, 3, 4), -1, idx([3, 3, 0])),
            ("index_select_mid", (2, 4, 3), 1, idx([2, 0])),
            ("index_select_0d_index", (3, 4), 1, idx(2)),
            ("index_select_no_index", (3, 4), 0, idx([])),
            ("index_select_embedding", (10, 8), 0, ints(10, 25))]:
        case(name, "index_select", lambda x, a=axis, i=index: torch.index_select(x, a, i),
             [rnd(*shape)], attrs={"axis": axis}, index=index)
    i = idx([2, 0, 2])
    case("index_select_sq", "index_select", lambda x, i=i: torch.index_select(x, 1, i),
         [rnd(3, 4)], sq=True, attrs={"axis": 1}, index=i)

    # index_add: x, then src's rows added at the indices
    for name, shape, axis, index in [("index_add_rows", (5, 3), 0, idx([4, 0, 4, 1])),
                                     ("index_add_cols", (3, 4), 1, idx([3, 3])),
                                     ("index_add_3d", (2, 3, 4), 1, idx([0, 2, 0, 2, 1]))]:
        src_shape = list(shape)
        src_shape[axis] = len(index)
        case(name, "index_add", lambda x, s, a=axis, i=index: torch.index_add(x, a, i, s),
             [rnd(*shape), rnd(*src_shape)], attrs={"axis": axis}, index=index)
    i = idx([1, 0, 1])
    case("index_add_sq", "index_add", lambda x, s, i=i: torch.index_add(x, 0, i, s),
         [rnd(3, 2), rnd(3, 2)], sq=True, attrs={"axis": 0}, index=i)

    # gather
    for name, shape, axis, index in [
            ("gather_cols", (3, 4), 1, idx([[0, 3], [2, 2], [1, 0]])),
            ("gather_rows", (3, 4), 0, idx([[2, 0, 1, 2], [0, 0, 0, 1]])),
            ("gather_smaller", (4, 5), 1, idx([[4, 0, 4], [1, 1, 3]])),  # index [2,3] < x
            ("gather_longer", (3, 2), 1, idx([[1, 0, 1, 1, 0], [0, 0, 0, 1, 1], [1, 1, 1, 1, 1]])),
            ("gather_3d", (2, 3, 4), -1, ints(4, 2, 3, 5)),
            ("gather_3d_mid", (2, 3, 4), 1, ints(3, 2, 6, 4)),
            ("gather_argmax", (5, 6), 1, ints(6, 5, 1)),
            ("gather_empty", (3, 4), 1, torch.zeros(3, 0, dtype=torch.int64)),
            ("gather_0d", (), 0, idx(0))]:
        case(name, "gather", lambda x, a=axis, i=index: torch.gather(x, a, i), [rnd(*shape)],
             attrs={"axis": axis}, index=index)
    i = idx([[1, 1, 0], [2, 0, 0]])
    case("gather_sq", "gather", lambda x, i=i: torch.gather(x, 1, i), [rnd(2, 3)], sq=True,
         attrs={"axis": 1}, index=i)

    # scatter_add: repeated positions add up
    for name, shape, axis, index, src_shape in [
            ("scatter_add_cols", (3, 4), 1, idx([[0, 0, 3], [1, 2, 1], [3, 3, 3]]), (3, 3)),
            ("scatter_add_rows", (3, 4), 0, idx([[2, 0, 1, 2], [2, 2, 0, 0]]), (2, 4)),
            ("scatter_add_3d", (2, 3, 4), 2, ints(4, 2, 3, 6), (2, 3, 6)),
            ("scatter_add_1d", (5,), 0, idx([4, 4, 0, 1, 4]), (5,))]:
        case(name, "scatter_add", lambda x, s, a=axis, i=index: torch.scatter_add(x, a, i, s),
             [rnd(*shape), rnd(*src_shape)], attrs={"axis": axis}, index=index)
    # src larger than the index: PyTorch cannot differentiate src there (the
    # finite-difference test covers it), so only x gets a gradient here
    i = idx([[1, 0], [2, 2]])
    case("scatter_add_src_larger", "scatter_add", lambda x, s, i=i: torch.scatter_add(x, 1, i, s),
         [rnd(3, 4), rnd(3, 3)], attrs={"axis": 1}, index=i, grad_inputs=[0])
    i = idx([[1, 1, 0], [0, 2, 0]])
    case("scatter_add_sq", "scatter_add", lambda x, s, i=i: torch.scatter_add(x, 1, i, s),
         [rnd(2, 3), rnd(2, 3)], sq=True, attrs={"axis": 1}, index=i)

    # scatter: without repeated positions the gradients are PyTorch's; with
    # them only x's (PyTorch gives every writer of a position its gradient;
    # the finite-difference test checks tapegrad's, the last writer's)
    for name, shape, axis, index, src_shape in [
            ("scatter_cols", (3, 4), 1, idx([[0, 3], [2, 1], [1, 0]]), (3, 2)),
            ("scatter_rows", (3, 4), 0, idx([[2, 0, 1, 2], [0, 1, 0, 1]]), (2, 4)),
            ("scatter_3d", (2, 3, 4), 1, idx([[[0, 1, 2, 0]], [[2, 2, 1, 1]]]), (2, 1, 4))]:
        case(name, "scatter", lambda x, s, a=axis, i=index: torch.scatter(x, a, i, s),
             [rnd(*shape), rnd(*src_shape)], attrs={"axis": axis}, index=index)
    i = idx([1, 1, 3, 1])
    case("scatter_repeat_last_wins", "scatter", lambda x, s, i=i: torch.scatter(x, 0, i, s),
         [rnd(5), rnd(4)], attrs={"axis": 0}, index=i, grad_inputs=[0])
    i = idx([[1, 0], [2, 1]])
    case("scatter_sq", "scatter", lambda x, s, i=i: torch.scatter(x, 1, i, s),
         [rnd(2, 3), rnd(2, 2)], sq=True, attrs={"axis": 1}, index=i)

    # masked_fill: the mask broadcasts both ways, and -inf (attention masks)
    def mask(*shape):
        return (torch.rand(tuple(shape), generator=gen(), dtype=torch.float64) < 0.4).to(dtype)

    for name, xs, ms, value in [("masked_fill_same", (3, 4), (3, 4), 0.0),
                                ("masked_fill_row_mask", (3, 4), (4,), 2.5),
                                ("masked_fill_col_mask", (3, 4), (3, 1), -1.0),
                                ("masked_fill_x_broadcast", (4,), (3, 4), 0.5),
                                ("masked_fill_scalar_mask", (2, 3), (), 7.0),
                                ("masked_fill_neg_inf", (2, 5), (2, 5), -INF)]:
        case(name, "masked_fill", lambda x, m, v=value: x.masked_fill(m != 0, v),
             [rnd(*xs), mask(*ms)], attrs={"value": value}, grad_inputs=[0])
    case("masked_fill_sq", "masked_fill", lambda x, m: x.masked_fill(m != 0, 1.5),
         [rnd(3, 4), mask(4)], sq=True, attrs={"value": 1.5}, grad_inputs=[0])

    # take_along_dim: gather after broadcasting (an argmax's indices, keepdim)
    x = rnd(4, 5)
    am = torch.argmax(x, dim=1, keepdim=True)
    case("take_along_dim_argmax", "take_along_dim", lambda x, i=am: torch.take_along_dim(x, i, 1),
         [x], attrs={"axis": 1}, index=am)
    for name, shape, axis, index in [
            ("take_along_dim_bcast_x", (1, 5), 1, ints(5, 3, 2)),
            ("take_along_dim_bcast_index", (3, 4), 1, idx([[3, 0]])),
            ("take_along_dim_axis0", (3, 4), 0, ints(3, 2, 4)),
            ("take_along_dim_3d", (2, 3, 4), -1, ints(4, 1, 3, 2))]:
        case(name, "take_along_dim", lambda x, a=axis, i=index: torch.take_along_dim(x, i, a),
             [rnd(*shape)], attrs={"axis": axis}, index=index)
    i = ints(12, 2, 3)
    case("take_along_dim_flat", "take_along_dim", lambda x, i=i: torch.take_along_dim(x, i),
         [rnd(3, 4)], attrs={"all": 1}, index=i)
    i = idx([[2], [0], [2]])
    case("take_along_dim_sq", "take_along_dim", lambda x, i=i: torch.take_along_dim(x, i, 1),
         [rnd(3, 3)], sq=True, attrs={"axis": 1}, index=i)
    w.close()


if __name__ == "__main__":
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    write(torch.float32, os.path.join(HERE, "golden", "index_f32.txt"))
    write(torch.float64, os.path.join(HERE, "golden", "index_f64.txt"))
    print("wrote tests/golden/index_f32.txt and index_f64.txt")
