#!/usr/bin/python3
"""Golden data for the convolutions and the pooling ops, written by PyTorch.

Run from the repository root with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_conv.py
It writes tests/golden/conv_{f32,f64}.txt (conv1d, conv2d, conv_transpose1d,
conv_transpose2d, conv1d_weight, conv2d_weight) and pool_{f32,f64}.txt
(max_pool1d/2d and their indices, avg_pool1d/2d, adaptive_avg_pool2d), read
by tests/ops/test_golden_conv.c and tests/ops/test_golden_pool.c. Every case
carries the first and the second order (tests/golden_writer.py).

Attributes, as the C builders read them: s0 s1 (stride), p0 p1 (padding),
d0 d1 (dilation), o0 o1 (output_padding), g (groups), same (padding="same"),
k0 k1 (pooling kernel), ceil, incl (count_include_pad), div
(divisor_override), oh ow (adaptive output size), w0..w3 (the weight shape of
conv*_weight). A missing attribute is tapegrad's default (0: PyTorch's).
1-D ops use entry 0 only.

conv*_weight is the gradient of the convolution in its weight, taken by
autograd with create_graph (as torch.nn.grad.conv2d_weight computes it),
so that padding="same" is covered and the second order is PyTorch's.
OpenBLAS's kernel is pinned, as in gen_golden_core.py.
"""
import os
import sys

os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_writer import GoldenWriter  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class Draws:
    """Seeded inputs: each draw from a generator of its own, seeded with base
    plus a count, drawn in float64 and cast to dtype; `count` is the last
    draw's (the seed of the case it belongs to)."""

    def __init__(self, base, dtype):
        self.base, self.dtype, self.count = base, dtype, 0

    def _gen(self):
        self.count += 1
        return torch.Generator().manual_seed(self.base + self.count)

    def normal(self, *shape):
        return torch.randn(shape, generator=self._gen(), dtype=torch.float64).to(self.dtype)

    def positive(self, *shape):
        """uniform in [0.25, 2.25)"""
        x = torch.rand(shape, generator=self._gen(), dtype=torch.float64)
        return (x * 2 + 0.25).to(self.dtype)


def pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def conv_attrs(nsp, stride=1, padding=0, dilation=1, groups=1, output_padding=0):
    """The attributes of a convolution's options (padding may be 'same')."""
    a = {}
    s, d, op = pair(stride), pair(dilation), pair(output_padding)
    same = padding == "same"
    p = (0, 0) if same else pair(padding)
    keys = [0] if nsp == 1 else [0, 1]
    for i in keys:
        a["s%d" % i], a["p%d" % i], a["d%d" % i], a["o%d" % i] = s[i], p[i], d[i], op[i]
    a["g"] = groups
    a["same"] = int(same)
    return a


def one(v, nsp):
    """A PyTorch argument: the int for 1-D, the pair for 2-D."""
    return pair(v)[0] if nsp == 1 else pair(v)


def write_conv(dtype, path, Writer=GoldenWriter):
    w = Writer(path)
    draws = Draws(5000, dtype)
    rnd = draws.normal

    def case(name, op, fn, inputs, **kw):
        w.case(name, op, fn, inputs, seed=draws.count, **kw)

    def conv(name, nsp, xs, ws, bias=True, large=False, **opt):
        """large: LeNet-sized, sums of hundreds of products (op conv2d_large, whose
        float tolerance allows PyTorch's own float32 error: see --measure)"""
        f = F.conv1d if nsp == 1 else F.conv2d
        kw = {k: (v if k in ("groups",) or v == "same" else one(v, nsp)) for k, v in opt.items()}
        ins = [rnd(*xs), rnd(*ws)] + ([rnd(ws[0])] if bias else [])
        case(name, "conv%dd%s" % (nsp, "_large" if large else ""),
             lambda x, wt, b=None: f(x, wt, b, **kw), ins, attrs=conv_attrs(nsp, **opt))

    def convt(name, nsp, xs, ws, bias=True, **opt):
        f = F.conv_transpose1d if nsp == 1 else F.conv_transpose2d
        kw = {k: (v if k == "groups" else one(v, nsp)) for k, v in opt.items()}
        cout = ws[1] * opt.get("groups", 1)
        ins = [rnd(*xs), rnd(*ws)] + ([rnd(cout)] if bias else [])
        case(name, "conv_transpose%dd" % nsp, lambda x, wt, b=None: f(x, wt, b, **kw), ins,
             attrs=conv_attrs(nsp, **opt))

    def convw(name, nsp, xs, ws, **opt):
        """conv_weight(x, go): the weight gradient, go of the output's shape"""
        f = F.conv1d if nsp == 1 else F.conv2d
        kw = {k: (v if k in ("groups",) or v == "same" else one(v, nsp)) for k, v in opt.items()}
        x = rnd(*xs)
        out_shape = f(x, torch.zeros(ws, dtype=dtype), **kw).shape

        def fn(x, go):
            w0 = torch.zeros(ws, dtype=x.dtype, requires_grad=True)
            return torch.autograd.grad(f(x, w0, **kw), w0, go, create_graph=True)[0]

        attrs = conv_attrs(nsp, **opt)
        for i, d in enumerate(ws):
            attrs["w%d" % i] = d
        case(name, "conv%dd_weight" % nsp, fn, [x, rnd(*out_shape)], attrs=attrs)

    # conv2d: every option, and the shapes that bite
    conv("conv2d", 2, (2, 3, 7, 6), (4, 3, 3, 3))
    conv("conv2d_nobias", 2, (2, 3, 6, 5), (4, 3, 3, 2), bias=False)
    conv("conv2d_stride2", 2, (2, 3, 9, 8), (4, 3, 3, 3), stride=2)
    conv("conv2d_stride23", 2, (2, 2, 9, 10), (3, 2, 2, 3), stride=(2, 3))
    conv("conv2d_pad1", 2, (2, 3, 5, 5), (4, 3, 3, 3), padding=1)
    conv("conv2d_pad21", 2, (2, 2, 5, 6), (3, 2, 3, 3), padding=(2, 1))
    conv("conv2d_pad_over_half", 2, (1, 2, 4, 5), (3, 2, 3, 2), padding=3)
    conv("conv2d_dil2", 2, (2, 2, 9, 9), (3, 2, 3, 3), dilation=2)
    conv("conv2d_dil23_pad", 2, (2, 2, 8, 9), (3, 2, 2, 3), dilation=(2, 3), padding=(1, 2))
    conv("conv2d_stride_dil_pad", 2, (2, 2, 11, 10), (3, 2, 3, 3), stride=2, dilation=2,
         padding=3)
    conv("conv2d_groups2", 2, (2, 4, 6, 6), (6, 2, 3, 3), groups=2)
    conv("conv2d_depthwise", 2, (2, 3, 6, 5), (3, 1, 3, 3), groups=3, padding=1)
    conv("conv2d_depthwise_mult", 2, (2, 3, 6, 5), (6, 1, 2, 2), groups=3, stride=2)
    conv("conv2d_same_odd", 2, (2, 2, 6, 5), (3, 2, 3, 3), padding="same")
    conv("conv2d_same_even", 2, (2, 2, 6, 5), (3, 2, 4, 2), padding="same")
    conv("conv2d_same_dil", 2, (1, 2, 7, 6), (2, 2, 2, 3), padding="same", dilation=(3, 2))
    conv("conv2d_batch1", 2, (1, 3, 6, 6), (2, 3, 3, 3), padding=1)
    conv("conv2d_unbatched", 2, (3, 6, 5), (2, 3, 3, 3))
    conv("conv2d_1x1", 2, (2, 4, 5, 6), (3, 4, 1, 1))
    conv("conv2d_1x1_stride", 2, (2, 4, 5, 6), (3, 4, 1, 1), stride=2)
    conv("conv2d_1x1_pad", 2, (2, 4, 3, 3), (3, 4, 1, 1), padding=1)
    conv("conv2d_1x1_groups", 2, (2, 4, 3, 3), (4, 2, 1, 1), groups=2)
    conv("conv2d_kernel_fills", 2, (2, 2, 3, 4), (3, 2, 5, 4), padding=(1, 0))
    conv("conv2d_empty_batch", 2, (0, 3, 5, 5), (2, 3, 3, 3))
    conv("conv2d_lenet1", 2, (2, 1, 28, 28), (6, 1, 5, 5), large=True)
    conv("conv2d_lenet2", 2, (3, 6, 12, 12), (16, 6, 5, 5), large=True)  # samples side by side
    conv("conv2d_chunks", 2, (3, 2, 19, 18), (3, 2, 3, 3), large=True)   # 2 samples, then 1
    # conv1d
    conv("conv1d", 1, (2, 3, 10), (4, 3, 3))
    conv("conv1d_nobias", 1, (2, 3, 10), (4, 3, 3), bias=False)
    conv("conv1d_stride_pad", 1, (2, 3, 11), (4, 3, 3), stride=2, padding=2)
    conv("conv1d_dil", 1, (2, 2, 12), (3, 2, 3), dilation=3, padding=1)
    conv("conv1d_groups", 1, (2, 4, 9), (6, 2, 2), groups=2)
    conv("conv1d_depthwise", 1, (2, 3, 9), (3, 1, 3), groups=3)
    conv("conv1d_same_even", 1, (2, 2, 8), (3, 2, 4), padding="same")
    conv("conv1d_pad_over_half", 1, (1, 2, 4), (2, 2, 3), padding=4)
    conv("conv1d_unbatched", 1, (3, 10), (2, 3, 3))
    conv("conv1d_1x1", 1, (2, 3, 7), (5, 3, 1))
    # transposed convolutions
    convt("conv_transpose2d", 2, (2, 4, 5, 5), (4, 3, 3, 3))
    convt("conv_transpose2d_nobias", 2, (2, 3, 4, 5), (3, 2, 2, 3), bias=False)
    convt("conv_transpose2d_stride_pad_op", 2, (2, 3, 4, 4), (3, 2, 3, 3), stride=2, padding=1,
          output_padding=1)
    convt("conv_transpose2d_mixed", 2, (1, 2, 3, 4), (2, 3, 3, 2), stride=(2, 3),
          padding=(1, 0), output_padding=(1, 2), dilation=(1, 2))
    convt("conv_transpose2d_op_over_stride", 2, (2, 2, 3, 3), (2, 2, 3, 3), dilation=3,
          output_padding=2)
    convt("conv_transpose2d_groups", 2, (2, 4, 4, 4), (4, 2, 3, 3), groups=2, stride=2)
    convt("conv_transpose2d_depthwise", 2, (2, 4, 4, 3), (4, 1, 3, 3), groups=4, padding=1)
    convt("conv_transpose2d_pad_over_half", 2, (1, 2, 6, 6), (2, 2, 3, 3), padding=2)
    convt("conv_transpose2d_unbatched", 2, (3, 4, 4), (3, 2, 2, 2), stride=2)
    convt("conv_transpose2d_1x1", 2, (2, 3, 4, 4), (3, 2, 1, 1))
    convt("conv_transpose1d", 1, (2, 3, 6), (3, 4, 3))
    convt("conv_transpose1d_stride_op", 1, (2, 3, 5), (3, 2, 3), stride=3, padding=1,
          output_padding=2)
    convt("conv_transpose1d_groups_dil", 1, (2, 4, 5), (4, 1, 2), groups=2, dilation=2)
    # the weight gradient
    convw("conv2d_weight", 2, (2, 3, 6, 5), (4, 3, 3, 3))
    convw("conv2d_weight_stride_pad", 2, (2, 2, 7, 7), (3, 2, 3, 3), stride=2, padding=1)
    convw("conv2d_weight_dil", 2, (2, 2, 8, 7), (3, 2, 2, 3), dilation=(2, 1), padding=(0, 2))
    convw("conv2d_weight_groups", 2, (2, 4, 5, 5), (6, 2, 3, 3), groups=2)
    convw("conv2d_weight_same", 2, (2, 2, 5, 6), (2, 2, 2, 3), padding="same")
    convw("conv2d_weight_chunks", 2, (3, 2, 6, 6), (3, 2, 3, 3))
    convw("conv2d_weight_1x1", 2, (2, 3, 4, 4), (2, 3, 1, 1))
    convw("conv1d_weight", 1, (2, 3, 9), (4, 3, 3))
    convw("conv1d_weight_stride_groups", 1, (2, 4, 11), (2, 2, 3), stride=2, groups=2, padding=1)
    # stride along columns only (col2im's rows by vectors take every other row), rows of 19
    # (two vectors of floats); last, so that the cases above keep their values
    conv("conv2d_stride21_wide", 2, (2, 2, 9, 19), (3, 2, 3, 3), stride=(2, 1), padding=(1, 2),
         dilation=(1, 2))
    w.close()


def write_pool(dtype, path, Writer=GoldenWriter):
    w = Writer(path)
    draws = Draws(7000, dtype)
    rnd = draws.normal

    def case(name, op, fn, inputs, **kw):
        w.case(name, op, fn, inputs, seed=draws.count, **kw)

    def pool_attrs(nsp, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                   count_include_pad=True, divisor_override=None):
        a = {}
        k, p, d = pair(kernel_size), pair(padding), pair(dilation)
        s = pair(stride) if stride is not None else (0, 0)
        for i in ([0] if nsp == 1 else [0, 1]):
            a["k%d" % i], a["s%d" % i], a["p%d" % i], a["d%d" % i] = k[i], s[i], p[i], d[i]
        a["ceil"] = int(ceil_mode)
        a["incl"] = int(count_include_pad)
        if divisor_override:
            a["div"] = divisor_override
        return a

    def maxpool(name, nsp, xs, x=None, kink=False, **opt):
        f = F.max_pool1d if nsp == 1 else F.max_pool2d
        kw = {k: (v if k == "ceil_mode" else one(v, nsp)) for k, v in opt.items()}
        x = rnd(*xs) if x is None else x
        attrs = pool_attrs(nsp, **opt)
        case(name, "max_pool%dd" % nsp, lambda x: f(x, **kw), [x], attrs=attrs, kink=kink)
        # the indices (flat in each plane, as return_indices gives them), no gradient
        case(name + "_indices", "max_pool%dd_indices" % nsp,
             lambda x: f(x, return_indices=True, **kw)[1].to(x.dtype), [x.clone()], attrs=attrs,
             grad_inputs=[])

    def avgpool(name, nsp, xs, **opt):
        kw = {k: (v if k in ("ceil_mode", "count_include_pad", "divisor_override")
                  else one(v, nsp)) for k, v in opt.items()}
        if nsp == 2:
            fn = lambda x: F.avg_pool2d(x, **kw)  # noqa: E731
        elif "divisor_override" in kw:
            # F.avg_pool1d has no divisor_override: avg_pool2d over a height of 1
            kw2 = {k: ((1, v) if k in ("kernel_size", "stride") else (0, v) if k == "padding"
                       else v) for k, v in kw.items()}
            fn = lambda x: F.avg_pool2d(x.unsqueeze(-2), **kw2).squeeze(-2)  # noqa: E731
        else:
            fn = lambda x: F.avg_pool1d(x, **kw)  # noqa: E731
        case(name, "avg_pool%dd" % nsp, fn, [rnd(*xs)], attrs=pool_attrs(nsp, **opt))

    # max_pool2d
    maxpool("max_pool2d", 2, (2, 3, 6, 6), kernel_size=2)
    maxpool("max_pool2d_k3s2p1", 2, (2, 2, 7, 6), kernel_size=3, stride=2, padding=1)
    maxpool("max_pool2d_rect", 2, (2, 2, 5, 7), kernel_size=(2, 3), stride=(1, 2))
    maxpool("max_pool2d_dil", 2, (1, 2, 8, 7), kernel_size=2, dilation=(2, 3), stride=1)
    maxpool("max_pool2d_ceil", 2, (2, 2, 7, 7), kernel_size=3, stride=2, ceil_mode=True)
    maxpool("max_pool2d_ceil_pad", 2, (1, 2, 6, 5), kernel_size=3, stride=2, padding=1,
            ceil_mode=True)
    maxpool("max_pool2d_ceil_dil", 2, (1, 1, 9, 8), kernel_size=2, stride=3, dilation=2,
            ceil_mode=True)
    maxpool("max_pool2d_batch1", 2, (1, 1, 4, 4), kernel_size=2)
    maxpool("max_pool2d_unbatched", 2, (2, 5, 4), kernel_size=2, stride=1)
    maxpool("max_pool2d_overlap", 2, (2, 2, 5, 5), kernel_size=3, stride=1, padding=1)
    ties = torch.tensor([[[[1.0, 1.0, 2.0, 0.5], [0.0, 1.0, 2.0, 2.0],
                           [3.0, 3.0, -1.0, -1.0], [3.0, 3.0, -1.0, -1.0]]]], dtype=dtype)
    maxpool("max_pool2d_ties", 2, None, x=ties, kink=True, kernel_size=2)
    maxpool("max_pool2d_ties_overlap", 2, None, x=ties.clone(), kink=True, kernel_size=2,
            stride=1)
    nan = rnd(1, 1, 4, 4)
    nan[0, 0, 1, 2] = float("nan")
    nan[0, 0, 3, 0] = float("-inf")
    maxpool("max_pool2d_nan", 2, None, x=nan, kernel_size=2)
    # max_pool1d
    maxpool("max_pool1d", 1, (2, 3, 8), kernel_size=2)
    maxpool("max_pool1d_k3s2p1_ceil", 1, (2, 2, 10), kernel_size=3, stride=2, padding=1,
            ceil_mode=True)
    maxpool("max_pool1d_dil", 1, (2, 2, 11), kernel_size=3, dilation=2, stride=2)
    maxpool("max_pool1d_unbatched", 1, (3, 7), kernel_size=3, stride=1)
    # avg_pool2d
    avgpool("avg_pool2d", 2, (2, 3, 6, 6), kernel_size=2)
    avgpool("avg_pool2d_pad_incl", 2, (2, 2, 7, 6), kernel_size=3, stride=2, padding=1)
    avgpool("avg_pool2d_pad_excl", 2, (2, 2, 7, 6), kernel_size=3, stride=2, padding=1,
            count_include_pad=False)
    avgpool("avg_pool2d_ceil", 2, (2, 2, 7, 7), kernel_size=3, stride=2, ceil_mode=True)
    avgpool("avg_pool2d_ceil_pad_incl", 2, (1, 2, 6, 5), kernel_size=3, stride=2, padding=1,
            ceil_mode=True)
    avgpool("avg_pool2d_ceil_pad_excl", 2, (1, 2, 6, 5), kernel_size=3, stride=2, padding=1,
            ceil_mode=True, count_include_pad=False)
    avgpool("avg_pool2d_divisor", 2, (2, 2, 6, 6), kernel_size=(2, 3), stride=(2, 1), padding=(1, 1),
            divisor_override=5)
    avgpool("avg_pool2d_rect", 2, (2, 2, 5, 7), kernel_size=(3, 2), stride=(1, 2))
    avgpool("avg_pool2d_unbatched", 2, (2, 4, 4), kernel_size=2, stride=1)
    # avg_pool1d
    avgpool("avg_pool1d", 1, (2, 3, 8), kernel_size=2)
    avgpool("avg_pool1d_pad_excl_ceil", 1, (2, 2, 10), kernel_size=3, stride=2, padding=1,
            ceil_mode=True, count_include_pad=False)
    avgpool("avg_pool1d_pad_incl_ceil", 1, (2, 2, 10), kernel_size=3, stride=2, padding=1,
            ceil_mode=True)
    avgpool("avg_pool1d_divisor", 1, (2, 2, 9), kernel_size=3, stride=2, padding=1,
            divisor_override=2)
    avgpool("avg_pool1d_unbatched", 1, (3, 7), kernel_size=3, stride=1)
    # adaptive_avg_pool2d
    for name, xs, out in [("adaptive_avg_pool2d", (2, 3, 7, 5), (3, 2)),
                          ("adaptive_avg_pool2d_global", (2, 3, 4, 5), (1, 1)),
                          ("adaptive_avg_pool2d_same", (1, 2, 3, 4), (3, 4)),
                          ("adaptive_avg_pool2d_larger", (1, 2, 3, 5), (4, 8)),
                          ("adaptive_avg_pool2d_unbatched", (2, 6, 6), (4, 3))]:
        case(name, "adaptive_avg_pool2d", lambda x, out=out: F.adaptive_avg_pool2d(x, out),
             [rnd(*xs)], attrs={"oh": out[0], "ow": out[1]})
    # 2x2 of stride 2 over odd sizes: a last row and column in no window (the backward
    # writes a fresh gradient whole); last, so that the cases above keep their values
    maxpool("max_pool2d_odd", 2, (2, 3, 7, 9), kernel_size=2)
    w.close()


class Measure:
    """Stands in for GoldenWriter (--measure): for every case, PyTorch's own
    error in float32, against the same function in float64 at the same
    (float32) inputs, R and V: the largest |float32 − float64| of the output,
    the first and the second derivatives. What the float tolerances of the C
    tests must allow for."""

    def __init__(self, path):
        self.label = os.path.basename(path)
        self.worst = {}

    def case(self, name, op, fn, inputs, attrs=None, index=None, grad_inputs=None, seed=0,
             order=2, kink=False, higher=None):
        if grad_inputs is None:
            grad_inputs = list(range(len(inputs)))
        res = []
        for dt in (torch.float32, torch.float64):
            xs = [x.detach().to(dt).requires_grad_(k in grad_inputs) for k, x in enumerate(inputs)]
            y = (higher or fn)(*xs)
            vals = [y]
            if grad_inputs and y.requires_grad and not kink:
                g = torch.Generator().manual_seed(seed)
                R = torch.randn(tuple(y.shape), generator=g, dtype=torch.float64).float().to(dt)
                gs = torch.autograd.grad((y * R).sum(), [xs[k] for k in grad_inputs],
                                         create_graph=True, allow_unused=True)
                vals += [v for v in gs if v is not None]
                V = [torch.randn(tuple(v.shape), generator=g, dtype=torch.float64).float().to(dt)
                     for v in gs if v is not None]
                terms = [(v * d).sum() for v, d in zip(gs, V) if v is not None and v.requires_grad]
                if terms:
                    ggs = torch.autograd.grad(sum(terms), [xs[k] for k in grad_inputs],
                                              allow_unused=True)
                    vals += [v for v in ggs if v is not None]
            res.append(vals)
        err = max([(a.double() - b).abs().max().item() for a, b in zip(*res) if a.numel()] or [0])
        if err > self.worst.get(op, (0, ""))[0]:
            self.worst[op] = (err, name)

    def close(self):
        for op, (err, name) in sorted(self.worst.items()):
            print("%s %-22s PyTorch's float32 error up to %.2e (%s)" % (self.label, op, err, name))


if __name__ == "__main__" and sys.argv[1:] == ["--measure"]:
    for family, writer in (("conv", write_conv), ("pool", write_pool)):
        writer(torch.float32, family, Writer=Measure)
    sys.exit(0)

if __name__ == "__main__":
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    for family, writer in (("conv", write_conv), ("pool", write_pool)):
        writer(torch.float32, os.path.join(HERE, "golden", family + "_f32.txt"))
        writer(torch.float64, os.path.join(HERE, "golden", family + "_f64.txt"))
    print("wrote tests/golden/conv_{f32,f64}.txt and pool_{f32,f64}.txt")
