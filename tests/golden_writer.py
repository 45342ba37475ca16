"""Writes golden cases in the text format tests/support/golden.h reads.

Each case: inputs, PyTorch's output, a random R, and PyTorch's gradients g_k of
loss = sum(out * R) with respect to every input k that requires grad. Values
are written with repr() of Python floats, so float32 and float64 values are
exact.

Higher orders, for every case with gradients:
  second order   a random V_k for each input k with a gradient (its shape),
                 s = sum_k sum(g_k * V_k), and gg_j = ds/d(input j) for each
                 input j that requires grad: the Hessian of loss times V.
  third order    (order=3) a random W_j for each j, t = sum_j sum(gg_j * W_j),
                 and ggg_i = dt/d(input i).
An input that the gradient does not depend on (or a gradient that does not
depend on the inputs at all, as for add or sum) gets zeros.

Which second orders are meant to be compared (the `order` line):
  order 1 nonfinite   an input, the output or a first gradient is ±inf or NaN:
                      PyTorch's higher derivatives there are whatever its
                      formulas give (0 * inf and the like), so V and gg are not
                      written;
  order 2 kink        kink=True: the inputs sit exactly on a kink or a clamp of
                      the op (relu at 0, huber at |d| = delta, max at a tie,
                      bce at p = 0 or 1, ...), where the second derivative is
                      PyTorch's choice of side, not a property of the function.
                      V and gg are written, but are PyTorch's convention;
  order 2, order 3    every other case with gradients: meant to be compared.

The written first gradients come from a plain backward, as before the higher
orders existed; the higher orders differentiate first gradients recomputed
with create_graph=True from a forward of their own (PyTorch computes some of
them, silu's and mish's, by another formula then, different in the last bits).

Random draws: R comes from a generator seeded with seed + 7919, V from one
seeded with seed + 1000003 (V_k in order of k), W from seed + 2000003, each
drawn in float64 and cast to the case's dtype. Nothing of the first order
depends on the higher orders: adding them left every first-order value as it
was.
"""
import math

import torch

SEED_R = 7919
SEED_V = 1000003
SEED_W = 2000003


def _fmt(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(float(v))


def _dims(t):
    return " ".join([str(t.dim())] + [str(d) for d in t.shape])


def _values(t):
    return " ".join(_fmt(v) for v in t.detach().reshape(-1).double().tolist())


def _finite(t):
    return bool(torch.isfinite(t.detach()).all())


def _same(a, b):
    """a and b agree to rtol 1e-6 (a check that two formulas are one function)."""
    return bool(torch.allclose(a.detach(), b.detach(), rtol=1e-6, atol=0.0))


def _randn_like(x, gen):
    return torch.randn(tuple(x.shape), generator=gen, dtype=torch.float64).to(x.dtype)


def _vjp(ys, dirs, leaves, wrt, create_graph=False):
    """d(sum_k sum(ys[k] * dirs[k])) / d(leaves[j]) for j in wrt, as a list
    indexed like leaves (None outside wrt); zeros where it does not depend on
    an input. ys and dirs are lists of equal length (None entries skipped)."""
    terms = [(y * d).sum() for y, d in zip(ys, dirs) if y is not None and y.requires_grad]
    res = [None] * len(leaves)
    gs = [None] * len(wrt)
    if terms:
        s = terms[0]
        for term in terms[1:]:
            s = s + term
        gs = torch.autograd.grad(s, [leaves[j] for j in wrt], allow_unused=True,
                                 create_graph=create_graph)
    for j, gj in zip(wrt, gs):
        # PyTorch returns an unallocated "zero tensor" for some zero derivatives (abs's)
        zero = gj is None or gj._is_zerotensor()
        res[j] = torch.zeros_like(leaves[j]) if zero else gj
    return res


def squared(fn, attrs, kw):
    """For a linear op, whose second derivative is zero: the case of
    op(...)^2 instead, marked with attribute sq = 1 (the C builder squares
    its output too) and carrying the third order, so that the second order
    runs through the op's vjp and the third through its adjoint's. Returns
    the function, the attributes and the keywords for GoldenWriter.case."""
    attrs = dict(attrs or {}, sq=1)
    return (lambda *a: torch.square(fn(*a))), attrs, dict(kw, order=3)


class Draws:
    """The random inputs of a generator's cases: each draw from a
    torch.Generator of its own, seeded base + 1, base + 2, ... in turn (n:
    the last seed used), so that a case's values do not depend on how many
    values the cases before it drew."""

    def __init__(self, base, dtype):
        self.base, self.dtype, self.n = base, dtype, 0

    def gen(self):
        self.n += 1
        return torch.Generator().manual_seed(self.base + self.n)

    def rnd(self, *shape):
        """N(0, 1) values drawn in double, then rounded to the dtype."""
        return torch.randn(tuple(shape), generator=self.gen(), dtype=torch.float64).to(self.dtype)

    def ints(self, high, *shape):
        return torch.randint(0, high, tuple(shape), generator=self.gen())

    @staticmethod
    def idx(values):
        return torch.tensor(values, dtype=torch.int64)


class GoldenWriter:
    def __init__(self, path):
        self.f = open(path, "w")
        self.f.write("# written by PyTorch %s; do not edit, regenerate\n" % torch.__version__)
        self.names = set()

    def case(self, name, op, fn, inputs, attrs=None, index=None, grad_inputs=None, seed=0,
             order=2, kink=False, higher=None, index_shaped=False):
        """fn(*inputs) -> output. inputs: tensors (leaves). grad_inputs: indices of
        inputs that get a gradient (default: every floating input). order: the
        highest derivative written, 2 or 3. kink: the inputs sit on a kink or a
        clamp of the op (see the module's docstring). higher: for an op whose
        PyTorch backward cannot itself be differentiated, the same function
        written with ops whose backward can; its output and first gradients must
        agree with fn's to rtol 1e-6, and the higher orders are its.
        index: int64 values written flat ("index <n>"); with index_shaped, its
        shape follows on the same line ("index <n> <ndim> <dims...>")."""
        assert name not in self.names, name
        assert order in (2, 3), order
        self.names.add(name)
        if grad_inputs is None:
            grad_inputs = list(range(len(inputs)))
        leaves = []
        for k, x in enumerate(inputs):
            x = x.detach().clone()
            x.requires_grad_(k in grad_inputs)
            leaves.append(x)
        out = fn(*leaves)
        g = torch.Generator().manual_seed(seed + SEED_R)
        R = torch.randn(tuple(out.shape), generator=g, dtype=torch.float64).to(out.dtype)
        n = len(leaves)
        grads, V, gg, W, ggg = [None] * n, [None] * n, [None] * n, [None] * n, [None] * n
        written = 0  # the order line: 0 (none), 1, 2 or 3
        if grad_inputs and out.requires_grad:
            grads = _vjp([out], [R], leaves, grad_inputs)
            written = 1
            if (all(_finite(x) for x in leaves) and _finite(out)
                    and all(_finite(grads[k]) for k in grad_inputs)):
                gv = torch.Generator().manual_seed(seed + SEED_V)
                for k in grad_inputs:
                    V[k] = _randn_like(leaves[k], gv)
                # The first gradients again, recorded for differentiation: a forward
                # of their own, since with create_graph PyTorch computes some (silu's,
                # mish's) by another formula, which differs in the last bits from
                # the first-order values written above
                hl = [x.detach().clone().requires_grad_(x.requires_grad) for x in leaves]
                hout = (higher or fn)(*hl)
                hg = _vjp([hout], [R], hl, grad_inputs, create_graph=True)
                if higher is not None:
                    assert _same(hout, out), name
                    assert all(_same(hg[k], grads[k]) for k in grad_inputs), name
                gg = _vjp(hg, V, hl, grad_inputs, create_graph=order >= 3)
                written = 2
                if order >= 3:
                    gw = torch.Generator().manual_seed(seed + SEED_W)
                    for j in grad_inputs:
                        W[j] = _randn_like(leaves[j], gw)
                    ggg = _vjp(gg, W, hl, grad_inputs)
                    written = 3
        w = self.f.write
        w("case %s %s\n" % (name, op))
        for key, val in (attrs or {}).items():
            w("attr %s %s\n" % (key, _fmt(float(val))))
        for x in leaves:
            w("in %s\n%s\n" % (_dims(x), _values(x)))
        if index is not None:
            idx = index.reshape(-1).tolist()
            shape = " " + _dims(index) if index_shaped else ""
            w("index %d%s\n%s\n" % (len(idx), shape, " ".join(str(int(i)) for i in idx)))
        w("out %s\n%s\n" % (_dims(out), _values(out)))
        w("R %s\n%s\n" % (_dims(R), _values(R)))
        for k, gk in enumerate(grads):
            if gk is not None:
                w("grad %d %s\n%s\n" % (k, _dims(gk), _values(gk)))
        if written == 1:
            w("order 1 nonfinite\n")
        elif written >= 2:
            w("order %d%s\n" % (written, " kink" if kink else ""))
        for key, arrs in (("V", V), ("gg", gg), ("W", W), ("ggg", ggg)):
            for k, a in enumerate(arrs):
                if a is not None:
                    w("%s %d %s\n%s\n" % (key, k, _dims(a), _values(a)))
        w("end\n")

    def close(self):
        self.f.close()
