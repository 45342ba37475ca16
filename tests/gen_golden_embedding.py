#!/usr/bin/python3
"""Golden data for the embedding ops, written by PyTorch.

Run from the repository root with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_embedding.py
It writes tests/golden/embedding_f32.txt and embedding_f64.txt, which
tests/ops/test_golden_embedding.c reads. Every case uses loss = sum(out * R)
with a random R and carries the second order (tests/golden_writer.py).

  embedding            F.embedding(index, weight, padding_idx): repeated
                       indices, index arrays of 0 to 3 dimensions and an
                       empty one, padding_idx from the start and from the end
  embedding_backward   torch.ops.aten.embedding_dense_backward(grad, index,
                       num_weights, padding_idx, False): the adjoint

Both are linear in their tensor input, so their second derivatives are zero;
the cases with attribute sq = 1 square the output and carry the third order:
their second order runs through each op's vjp (the other op) and the third
through that one's vjp. Attributes: padding (absent: None), num_weights.
Index arrays are written with their shape.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_writer import Draws, GoldenWriter  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def write(dtype, path):
    w = GoldenWriter(path)
    draws = Draws(9100, dtype)
    rnd, ints, idx = draws.rnd, draws.ints, draws.idx

    def case(name, op, fn, inputs, index, sq=False, attrs=None):
        attrs = dict(attrs or {})
        kw = {}
        if sq:
            attrs["sq"] = 1
            f = lambda *a, fn=fn: torch.square(fn(*a))  # noqa: E731
            kw["order"] = 3
        else:
            f = fn
        w.case(name, op, f, inputs, attrs=attrs, index=index, index_shaped=True, seed=draws.n,
               **kw)

    def emb(name, shape, index, padding=None, sq=False):
        attrs = {} if padding is None else {"padding": padding}
        case(name, "embedding", lambda x, i=index, p=padding: F.embedding(i, x, padding_idx=p),
             [rnd(*shape)], index, sq=sq, attrs=attrs)

    emb("embedding_rows", (5, 3), idx([4, 0, 2]))
    emb("embedding_repeat", (4, 3), idx([1, 3, 1, 1, 0, 1]))
    emb("embedding_2d_index", (6, 4), ints(6, 3, 5))
    emb("embedding_3d_index", (5, 2), ints(5, 2, 3, 2))
    emb("embedding_0d_index", (4, 3), idx(2))
    emb("embedding_empty_index", (4, 3), torch.zeros(0, dtype=torch.int64))
    emb("embedding_empty_2d_index", (4, 3), torch.zeros(2, 0, dtype=torch.int64))
    emb("embedding_many", (10, 8), ints(10, 4, 25))
    emb("embedding_padding", (5, 3), idx([[1, 0, 1], [4, 1, 2]]), padding=1)
    emb("embedding_padding_negative", (5, 3), idx([4, 0, 4, 2]), padding=-1)
    emb("embedding_padding_unused", (5, 3), idx([0, 2, 3]), padding=4)
    emb("embedding_width_1", (3, 1), idx([2, 2, 0]))
    emb("embedding_sq", (4, 3), idx([[3, 0], [3, 1]]), sq=True)
    emb("embedding_padding_sq", (4, 3), idx([2, 0, 2, 1]), padding=2, sq=True)

    def emb_bw(name, index, num_weights, width, padding=None, sq=False):
        attrs = {"num_weights": num_weights}
        if padding is not None:
            attrs["padding"] = padding
        p = -1 if padding is None else (padding + num_weights if padding < 0 else padding)

        def fn(g, i=index, n=num_weights, p=p):
            return torch.ops.aten.embedding_dense_backward(g, i, n, p, False)

        case(name, "embedding_backward", fn, [rnd(*(tuple(index.shape) + (width,)))], index,
             sq=sq, attrs=attrs)

    emb_bw("embedding_backward_rows", idx([4, 0, 2, 0]), 5, 3)
    emb_bw("embedding_backward_2d", ints(6, 3, 4), 6, 2)
    emb_bw("embedding_backward_padding", idx([[1, 0, 1], [3, 1, 2]]), 4, 3, padding=1)
    emb_bw("embedding_backward_padding_negative", idx([3, 3, 0]), 4, 2, padding=-1)
    # (no empty index here: PyTorch's backward of embedding_dense_backward fails on one;
    # embedding_empty_index's second order crosses the same empty case)
    emb_bw("embedding_backward_sq", idx([2, 0, 2, 1, 2]), 3, 2, sq=True)
    emb_bw("embedding_backward_padding_sq", idx([[0, 1], [1, 1]]), 3, 4, padding=0, sq=True)
    w.close()


if __name__ == "__main__":
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    write(torch.float32, os.path.join(HERE, "golden", "embedding_f32.txt"))
    write(torch.float64, os.path.join(HERE, "golden", "embedding_f64.txt"))
    print("wrote tests/golden/embedding_f32.txt and embedding_f64.txt")
