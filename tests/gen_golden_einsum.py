#!/usr/bin/python3
"""Golden data for tg_einsum, written by PyTorch's torch.einsum.

Run from the repository root with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_einsum.py
It writes tests/golden/einsum_f32.txt and einsum_f64.txt, which
tests/ops/test_golden_einsum.c reads. Every case uses loss = sum(out * R)
with a random R and carries the second order (tests/golden_writer.py).

A case's name is "<label>:<equation>": the C builder reads the equation
after the first ':'. Cases with one operand are linear in it, so they are
written squared (attribute sq = 1, golden_writer.squared: the builder
squares tg_einsum's output too), which gives them a second and third order
that runs through the vjps of the ops tg_einsum records.

The cases: the products people write (matrix, batched, attention's scores,
dot, outer, Hadamard, a chain of three), transposes, sums, traces and
diagonals, letters summed before the product, "..." broadcast between
operands, summed, and placed in the middle of the output, implicit outputs
(uppercase before lowercase), sizes of 1 broadcast against others, empty
dimensions (contracted and kept), and a 0-d operand.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_writer import GoldenWriter, squared  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def write(dtype, path):
    w = GoldenWriter(path)
    seed = [0]

    def rnd(*shape):
        seed[0] += 1
        g = torch.Generator().manual_seed(8100 + seed[0])
        return torch.randn(tuple(shape), generator=g, dtype=torch.float64).to(dtype)

    def case(label, equation, *ins):
        assert ":" not in label and " " not in equation
        fn = lambda *a: torch.einsum(equation, *a)  # noqa: E731
        attrs, kw = {}, {}
        if len(ins) == 1:
            fn, attrs, kw = squared(fn, attrs, kw)
        w.case(label + ":" + equation, "einsum", fn, list(ins), attrs=attrs, seed=seed[0], **kw)

    # products
    case("matmul", "ij,jk->ik", rnd(3, 4), rnd(4, 5))
    case("bmm", "bij,bjk->bik", rnd(2, 3, 4), rnd(2, 4, 5))
    case("attention_scores", "bhqd,bhkd->bhqk", rnd(2, 3, 4, 5), rnd(2, 3, 6, 5))
    case("transposed_left", "ji,jk->ik", rnd(4, 3), rnd(4, 5))
    case("transposed_right", "ij,kj->ik", rnd(3, 4), rnd(5, 4))
    case("permuted", "kbi,jkb->bij", rnd(4, 2, 3), rnd(5, 4, 2))
    case("two_contracted", "ijk,jkl->il", rnd(2, 3, 4), rnd(3, 4, 2))
    case("dot", "i,i->", rnd(5), rnd(5))
    case("outer", "i,j->ij", rnd(3), rnd(4))
    case("hadamard", "i,i->i", rnd(5), rnd(5))
    case("batched_dot", "bi,bi->b", rnd(3, 4), rnd(3, 4))
    case("summed_first", "ij,jk->k", rnd(3, 4), rnd(4, 2))
    case("chain", "ij,jk,kl->il", rnd(2, 3), rnd(3, 4), rnd(4, 2))
    case("scalar_operand", ",ij->ij", rnd(), rnd(2, 3))
    # one operand
    case("transpose", "ij->ji", rnd(3, 4))
    case("sum_all", "ij->", rnd(3, 4))
    case("sum_rows", "ij->j", rnd(3, 4))
    case("trace", "ii->", rnd(4, 4))
    case("diagonal", "ii->i", rnd(3, 3))
    case("diagonal_batched", "bii->ib", rnd(2, 3, 3))
    case("diagonal_three", "iji->j", rnd(3, 2, 3))
    case("diagonal_cube", "iii->i", rnd(3, 3, 3))
    case("implicit_trace", "ii", rnd(3, 3))
    case("implicit_transpose", "ba", rnd(3, 4))
    # implicit output
    case("implicit_matmul", "ij,jk", rnd(3, 4), rnd(4, 5))
    case("implicit_case_order", "Ba,ab", rnd(2, 3), rnd(3, 4))
    # ellipsis
    case("ellipsis_bmm", "...ij,...jk->...ik", rnd(2, 3, 4), rnd(2, 4, 5))
    case("ellipsis_broadcast", "...ij,...jk->...ik", rnd(3, 1, 2, 3), rnd(2, 3, 4))
    case("ellipsis_implicit", "...ij,...jk", rnd(2, 2, 3), rnd(3, 4))
    case("ellipsis_summed", "...ij->ij", rnd(2, 3, 4))
    case("ellipsis_middle", "i...j->j...i", rnd(2, 3, 4, 5))
    case("ellipsis_empty", "ij->...ji", rnd(2, 3))
    # sizes of 1 broadcast against the letter's size elsewhere
    case("broadcast_contracted", "ij,jk->ik", rnd(3, 1), rnd(4, 5))
    case("broadcast_batch", "bij,bjk->bik", rnd(1, 3, 4), rnd(2, 4, 5))
    case("broadcast_kept", "i,i->i", rnd(1), rnd(4))
    # empty dimensions
    case("empty_kept", "ij,jk->ik", rnd(0, 3), rnd(3, 4))
    case("empty_contracted", "ij,jk->ik", rnd(2, 0), rnd(0, 3))
    case("empty_sum", "ij->", rnd(0, 3))
    w.close()


if __name__ == "__main__":
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    write(torch.float64, os.path.join(HERE, "golden", "einsum_f64.txt"))
    write(torch.float32, os.path.join(HERE, "golden", "einsum_f32.txt"))
    print("wrote tests/golden/einsum_f32.txt and einsum_f64.txt")
