"""Writes golden cases in the text format tests/support/golden.h reads.

Each case: inputs, PyTorch's output, a random R, and PyTorch's gradients of
loss = sum(out * R) with respect to every input that requires grad. Values are
written with repr() of Python floats, so float32 and float64 values are exact.
"""
import math

import torch


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


class GoldenWriter:
    def __init__(self, path):
        self.f = open(path, "w")
        self.f.write("# written by PyTorch %s; do not edit, regenerate\n" % torch.__version__)
        self.names = set()

    def case(self, name, op, fn, inputs, attrs=None, index=None, grad_inputs=None, seed=0):
        """fn(*inputs) -> output. inputs: tensors (leaves). grad_inputs: indices of
        inputs that get a gradient (default: every floating input)."""
        assert name not in self.names, name
        self.names.add(name)
        if grad_inputs is None:
            grad_inputs = list(range(len(inputs)))
        leaves = []
        for k, x in enumerate(inputs):
            x = x.detach().clone()
            x.requires_grad_(k in grad_inputs)
            leaves.append(x)
        out = fn(*leaves)
        g = torch.Generator().manual_seed(seed + 7919)
        R = torch.randn(tuple(out.shape), generator=g, dtype=torch.float64).to(out.dtype)
        grads = [None] * len(leaves)
        if grad_inputs and out.requires_grad:
            loss = (out * R).sum()
            gs = torch.autograd.grad(loss, [leaves[k] for k in grad_inputs], allow_unused=True)
            for k, gk in zip(grad_inputs, gs):
                grads[k] = gk if gk is not None else torch.zeros_like(leaves[k])
        w = self.f.write
        w("case %s %s\n" % (name, op))
        for key, val in (attrs or {}).items():
            w("attr %s %s\n" % (key, _fmt(float(val))))
        for x in leaves:
            w("in %s\n%s\n" % (_dims(x), _values(x)))
        if index is not None:
            idx = index.reshape(-1).tolist()
            w("index %d\n%s\n" % (len(idx), " ".join(str(int(i)) for i in idx)))
        w("out %s\n%s\n" % (_dims(out), _values(out)))
        w("R %s\n%s\n" % (_dims(R), _values(R)))
        for k, gk in enumerate(grads):
            if gk is not None:
                w("grad %d %s\n%s\n" % (k, _dims(gk), _values(gk)))
        w("end\n")

    def close(self):
        self.f.close()
