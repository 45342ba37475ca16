#!/usr/bin/python3
"""Golden data for the activations and losses, written by PyTorch.

Run from the repository root with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_act.py
It writes, each in float32 and float64 (_f32.txt / _f64.txt):
  tests/golden/act_*      every activation: random inputs of several shapes
                          (the notebooks' [4,6,2] and [27,13] among them),
                          every option, and inputs exactly at each kink;
  tests/golden/loss_*     every loss: each reduction, each option;
  tests/golden/extreme_*  |x| up to 1e4, ±inf, NaN, probabilities exactly 0
                          and 1, logits of ±1e4 (tests/ops/test_extremes.c).
Every case uses loss = sum(out * R) with a random R, and carries the second
order (tests/golden_writer.py); tanh and softplus the third order too. Cases
whose inputs sit exactly on kinks or clamps are marked kink=True: their second
order is PyTorch's convention there. Attribute `red` is the reduction: 0 mean,
1 sum, 2 none (tg_reduction's values).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_writer import GoldenWriter  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REDS = [("mean", 0), ("sum", 1), ("none", 2)]
NAN, INF = float("nan"), float("inf")


class Gen:
    def __init__(self, dtype, path):
        self.dtype = dtype
        self.w = GoldenWriter(path)
        self.seed = 0

    def gen(self):
        self.seed += 1
        return torch.Generator().manual_seed(5000 + self.seed)

    def randn(self, *shape, scale=1.0):
        return (torch.randn(tuple(shape), generator=self.gen(), dtype=torch.float64) * scale).to(self.dtype)

    def rand(self, *shape, low=0.0, high=1.0):
        u = torch.rand(tuple(shape), generator=self.gen(), dtype=torch.float64)
        return (low + (high - low) * u).to(self.dtype)

    def randint(self, high, *shape):
        return torch.randint(0, high, tuple(shape), generator=self.gen())

    def t(self, values):
        return torch.tensor(values, dtype=self.dtype)

    def case(self, name, op, fn, inputs, **kw):
        kw.setdefault("order", 3 if op in ("tanh", "softplus") else 2)
        if op in HIGHER:
            kw.setdefault("higher", HIGHER[op])
        self.w.case(name, op, fn, inputs, seed=self.seed, **kw)

    def close(self):
        self.w.close()


# ---------------------------------------------------------------- activations

# name -> (torch function of x, attrs); every activation with its options
def act_table():
    return [
        ("sigmoid", torch.sigmoid, {}),
        ("tanh", torch.tanh, {}),
        ("relu", F.relu, {}),
        ("relu6", F.relu6, {}),
        ("leaky_relu", F.leaky_relu, {"slope": 0.01}),
        ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), {"slope": 0.2}),
        ("leaky_relu", lambda x: F.leaky_relu(x, -1.5), {"slope": -1.5}),
        ("elu", F.elu, {"alpha": 1.0}),
        ("elu", lambda x: F.elu(x, 0.5), {"alpha": 0.5}),
        ("elu", lambda x: F.elu(x, 2.0), {"alpha": 2.0}),
        ("selu", F.selu, {}),
        ("celu", F.celu, {"alpha": 1.0}),
        ("celu", lambda x: F.celu(x, 2.0), {"alpha": 2.0}),
        ("celu", lambda x: F.celu(x, 0.5), {"alpha": 0.5}),
        ("softplus", F.softplus, {"beta": 1.0, "threshold": 20.0}),
        ("softplus", lambda x: F.softplus(x, 2.0, 3.0), {"beta": 2.0, "threshold": 3.0}),
        ("softplus", lambda x: F.softplus(x, 0.5, 1.0), {"beta": 0.5, "threshold": 1.0}),
        ("softsign", F.softsign, {}),
        ("gelu", F.gelu, {"approx": 0}),
        ("gelu", lambda x: F.gelu(x, approximate="tanh"), {"approx": 1}),
        ("silu", F.silu, {}),
        ("mish", F.mish, {}),
        ("hardtanh", F.hardtanh, {"min": -1.0, "max": 1.0}),
        ("hardtanh", lambda x: F.hardtanh(x, -2.0, 0.5), {"min": -2.0, "max": 0.5}),
        ("hardsigmoid", F.hardsigmoid, {}),
        ("hardswish", F.hardswish, {}),
        ("logsigmoid", F.logsigmoid, {}),
    ]


# PyTorch 1.13 cannot differentiate hardsigmoid's backward: its higher orders
# come from the same function written as relu6(x + 3) / 6 (the writer checks
# that its output and first gradient agree with hardsigmoid's; not bit for bit:
# PyTorch's hardsigmoid backward rounds 1/6 to float, in double too)
HIGHER = {"hardsigmoid": lambda x: F.relu6(x + 3) / 6}


def tag_of(attrs):
    return "".join("_%s%g" % (k, v) for k, v in attrs.items())


def write_act(g):
    shapes = [(7,), (27, 13), (4, 6, 2), (2, 3, 2, 2)]
    for op, fn, attrs in act_table():
        for shp in shapes:
            name = "%s%s_%s" % (op, tag_of(attrs), "x".join(map(str, shp)))
            g.case(name, op, fn, [g.randn(*shp, scale=3.0)], attrs=attrs)
        # a 0-d input
        g.case("%s%s_scalar" % (op, tag_of(attrs)), op, fn, [g.randn(scale=2.0)], attrs=attrs)

    # exactly at the kinks: PyTorch's choice of gradient there
    kinks = {
        "relu": [0.0, -0.0, 1.0, -1.0],
        "relu6": [0.0, 6.0, 3.0, -1.0, 7.0],
        "leaky_relu": [0.0, -0.0, 2.0, -2.0],
        "elu": [0.0, -0.0, 1.0, -1.0],
        "selu": [0.0, 1.0, -1.0],
        "celu": [0.0, 1.0, -1.0],
        "hardtanh": [-1.0, 1.0, -2.0, 0.5, 0.0, 2.0, -3.0],
        "hardsigmoid": [-3.0, 3.0, 0.0, -4.0, 4.0],
        "hardswish": [-3.0, 3.0, 0.0, -4.0, 4.0],
        "softplus": [20.0, 3.0, 1.5, 1.0, 2.0, 0.0],
        "softsign": [0.0],
        "gelu": [0.0],
        "silu": [0.0],
        "mish": [0.0],
        "logsigmoid": [0.0],
        "sigmoid": [0.0],
    }
    # (sigmoid, gelu, silu, mish and logsigmoid are smooth at 0: their second order is
    # compared there; the others' second derivative jumps at these points)
    smooth = ("sigmoid", "gelu", "silu", "mish", "logsigmoid")
    for op, fn, attrs in act_table():
        if op in kinks:
            g.case("%s%s_kinks" % (op, tag_of(attrs)), op, fn, [g.t(kinks[op])], attrs=attrs,
                   kink=op not in smooth)

    # prelu: one weight, or one per channel along dimension 1; the gradient reaches w
    for shp, nw in [((27, 13), 1), ((27, 13), 13), ((4, 6, 2), 6), ((4, 6, 2), 1),
                    ((2, 3, 2, 2), 3), ((7,), 1)]:
        g.case("prelu_%s_w%d" % ("x".join(map(str, shp)), nw), "prelu", F.prelu,
               [g.randn(*shp, scale=3.0), g.rand(nw, low=-0.5, high=0.5)])
    g.case("prelu_kinks", "prelu", F.prelu, [g.t([[0.0, -1.0, 2.0], [-0.0, 0.0, -3.0]]),
                                             g.t([0.25, -0.5, 2.0])], kink=True)
    g.case("prelu_scalar_weight", "prelu", F.prelu, [g.randn(4, 6, 2), g.t(0.25).reshape(())])

    # softmax / log_softmax along every axis
    for op, fn in [("softmax", F.softmax), ("log_softmax", F.log_softmax)]:
        for shp in [(7,), (27, 13), (4, 6, 2)]:
            for axis in range(-1, len(shp)):
                g.case("%s_%s_axis%d" % (op, "x".join(map(str, shp)), axis), op,
                       lambda x, a=axis, fn=fn: fn(x, dim=a), [g.randn(*shp, scale=3.0)],
                       attrs={"axis": axis})
        # large logits: the max is subtracted
        g.case("%s_large" % op, op, lambda x, fn=fn: fn(x, dim=1),
               [g.randn(5, 9, scale=300.0)], attrs={"axis": 1})


# --------------------------------------------------------------------- losses

def write_loss(g):
    shapes = [(27, 13), (4, 6, 2), (5,)]
    pair = [
        ("mse_loss", lambda r: (lambda a, b: F.mse_loss(a, b, reduction=r)), {}),
        ("l1_loss", lambda r: (lambda a, b: F.l1_loss(a, b, reduction=r)), {}),
        ("smooth_l1_loss", lambda r: (lambda a, b: F.smooth_l1_loss(a, b, reduction=r)), {"beta": 1.0}),
        ("smooth_l1_loss", lambda r: (lambda a, b: F.smooth_l1_loss(a, b, reduction=r, beta=0.5)),
         {"beta": 0.5}),
        ("smooth_l1_loss", lambda r: (lambda a, b: F.smooth_l1_loss(a, b, reduction=r, beta=0.0)),
         {"beta": 0.0}),
        ("huber_loss", lambda r: (lambda a, b: F.huber_loss(a, b, reduction=r)), {"delta": 1.0}),
        ("huber_loss", lambda r: (lambda a, b: F.huber_loss(a, b, reduction=r, delta=0.3)),
         {"delta": 0.3}),
        ("huber_loss", lambda r: (lambda a, b: F.huber_loss(a, b, reduction=r, delta=2.5)),
         {"delta": 2.5}),
    ]
    for op, mk, attrs in pair:
        for rname, red in REDS:
            for shp in shapes:
                a = dict(attrs, red=red)
                g.case("%s%s_%s_%s" % (op, tag_of(attrs), rname, "x".join(map(str, shp))), op,
                       mk(rname), [g.randn(*shp, scale=1.5), g.randn(*shp)], attrs=a)
            # only the input requires grad (a label-like target)
            g.case("%s%s_%s_nogradtarget" % (op, tag_of(attrs), rname), op, mk(rname),
                   [g.randn(6, 4), g.randn(6, 4)], attrs=dict(attrs, red=red), grad_inputs=[0])
    # at the kinks: d = 0, |d| = beta, |d| = delta
    for rname, red in REDS:
        x = g.t([0.5, 1.5, -0.5, 2.0, 0.25, -1.0])
        y = g.t([0.5, 0.5, 0.5, 1.0, 0.25, 0.0])
        g.case("l1_loss_kinks_" + rname, "l1_loss", lambda a, b, r=rname: F.l1_loss(a, b, reduction=r),
               [x, y], attrs={"red": red}, kink=True)
        g.case("smooth_l1_loss_kinks_" + rname, "smooth_l1_loss",
               lambda a, b, r=rname: F.smooth_l1_loss(a, b, reduction=r), [x, y],
               attrs={"red": red, "beta": 1.0}, kink=True)
        g.case("huber_loss_kinks_" + rname, "huber_loss",
               lambda a, b, r=rname: F.huber_loss(a, b, reduction=r), [x, y],
               attrs={"red": red, "delta": 1.0}, kink=True)

    # bce on probabilities; soft and hard labels; the target's gradient too.
    # Higher orders: F.binary_cross_entropy's double backward divides by
    # (p + 1e-12)^2 (1 - p + 1e-12)^2 instead of p^2 (1 - p)^2, which is not the
    # derivative of its own first gradient (1e-10 relative off at p = 0.02);
    # the same loss written as its formula gives the exact one (first order
    # equal to F.binary_cross_entropy's, checked by the writer).
    class BCE(torch.autograd.Function):
        """The per-element loss with its first derivative written as ops,
        (p - y) / max(p (1 - p), 1e-12) and -log(p / (1 - p)), as
        F.binary_cross_entropy's backward computes them (the second as
        log(1 - p) - log(p)): differentiating
        them again (create_graph) gives the exact second derivative."""
        @staticmethod
        def forward(ctx, p, y):
            ctx.save_for_backward(p, y)
            return -(y * torch.clamp(torch.log(p), min=-100) +
                     (1 - y) * torch.clamp(torch.log1p(-p), min=-100))

        @staticmethod
        def backward(ctx, g):
            p, y = ctx.saved_tensors
            den = torch.clamp((1 - p) * p, min=1e-12)
            return g * (p - y) / den, g * (torch.log(1 - p) - torch.log(p))

    def bce_formula(p, y, r):
        ell = BCE.apply(p, y)
        return {"mean": ell.mean, "sum": ell.sum, "none": lambda: ell}[r]()
    for rname, red in REDS:
        for shp in shapes:
            g.case("bce_loss_%s_%s" % (rname, "x".join(map(str, shp))), "bce_loss",
                   lambda p, y, r=rname: F.binary_cross_entropy(p, y, reduction=r),
                   [g.rand(*shp, low=0.02, high=0.98), g.rand(*shp)], attrs={"red": red},
                   higher=lambda p, y, r=rname: bce_formula(p, y, r))
        g.case("bce_loss_%s_hard" % rname, "bce_loss",
               lambda p, y, r=rname: F.binary_cross_entropy(p, y, reduction=r),
               [g.rand(8, 3, low=0.02, high=0.98), g.randint(2, 8, 3).to(g.dtype)],
               attrs={"red": red}, grad_inputs=[0],
               higher=lambda p, y, r=rname: bce_formula(p, y, r))

    # bce_with_logits, with and without pos_weight ([C], or the full shape)
    for rname, red in REDS:
        for shp in shapes:
            tag = "x".join(map(str, shp))
            g.case("bce_with_logits_%s_%s" % (rname, tag), "bce_with_logits",
                   lambda x, y, r=rname: F.binary_cross_entropy_with_logits(x, y, reduction=r),
                   [g.randn(*shp, scale=3.0), g.rand(*shp)], attrs={"red": red})
            g.case("bce_with_logits_pw_%s_%s" % (rname, tag), "bce_with_logits",
                   lambda x, y, pw, r=rname: F.binary_cross_entropy_with_logits(
                       x, y, pos_weight=pw, reduction=r),
                   [g.randn(*shp, scale=3.0), g.rand(*shp), g.rand(shp[-1], low=0.2, high=3.0)],
                   attrs={"red": red}, grad_inputs=[0, 1])
        g.case("bce_with_logits_pwfull_%s" % rname, "bce_with_logits",
               lambda x, y, pw, r=rname: F.binary_cross_entropy_with_logits(
                   x, y, pos_weight=pw, reduction=r),
               [g.randn(6, 5, scale=3.0), g.rand(6, 5), g.rand(6, 5, low=0.2, high=3.0)],
               attrs={"red": red}, grad_inputs=[0, 1])
        g.case("bce_with_logits_hard_%s" % rname, "bce_with_logits",
               lambda x, y, r=rname: F.binary_cross_entropy_with_logits(x, y, reduction=r),
               [g.randn(64, 1, scale=3.0), g.randint(2, 64, 1).to(g.dtype)], attrs={"red": red},
               grad_inputs=[0])

    # cross entropy with class indices: [N,C], [N,C,d], [C]; ignore_index; label smoothing
    def ce_case(name, logits, target, red, rname, ignore=-100, ls=0.0, op="cross_entropy",
                fn=F.cross_entropy):
        kw = {"reduction": rname, "ignore_index": ignore}
        if op == "cross_entropy":
            kw["label_smoothing"] = ls
        g.case(name, op, lambda x, t=target, kw=kw, fn=fn: fn(x, t, **kw), [logits],
               attrs={"red": red, "ignore_index": ignore, "smoothing": ls}, index=target)

    for rname, red in REDS:
        for ls in [0.0, 0.1, 0.35]:
            lt = "_ls%g" % ls if ls else ""
            ce_case("ce_%s%s_27x13" % (rname, lt), g.randn(27, 13, scale=2.0), g.randint(13, 27),
                    red, rname, ls=ls)
            ce_case("ce_%s%s_4x6x2" % (rname, lt), g.randn(4, 6, 2, scale=2.0), g.randint(6, 4, 2),
                    red, rname, ls=ls)
            ce_case("ce_%s%s_2x5x3x2" % (rname, lt), g.randn(2, 5, 3, 2, scale=2.0),
                    g.randint(5, 2, 3, 2), red, rname, ls=ls)
            ce_case("ce_%s%s_1d" % (rname, lt), g.randn(9, scale=2.0),
                    torch.tensor(4), red, rname, ls=ls)
            t = g.randint(10, 16)
            t[[1, 5, 6, 11]] = -100
            ce_case("ce_%s%s_ignore" % (rname, lt), g.randn(16, 10), t, red, rname, ls=ls)
            t = g.randint(10, 16)
            t[t == 3] = 7
            t[[0, 2, 9]] = 3
            ce_case("ce_%s%s_ignore3" % (rname, lt), g.randn(16, 10), t, red, rname, ignore=3, ls=ls)
        ce_case("ce_%s_big" % rname, g.randn(64, 10, scale=4.0), g.randint(10, 64), red, rname)
        t = torch.full((5,), -100, dtype=torch.int64)
        ce_case("ce_%s_allignored" % rname, g.randn(5, 4), t, red, rname)

    # cross entropy with probability targets (one-hot is a special case)
    def cep_case(name, logits, target, red, rname, ls=0.0, grad_target=True):
        g.case(name, "cross_entropy_prob",
               lambda x, y, r=rname, ls=ls: F.cross_entropy(x, y, reduction=r, label_smoothing=ls),
               [logits, target], attrs={"red": red, "smoothing": ls},
               grad_inputs=[0, 1] if grad_target else [0])

    for rname, red in REDS:
        for ls in [0.0, 0.2]:
            lt = "_ls%g" % ls if ls else ""
            cep_case("cep_%s%s_27x13" % (rname, lt), g.randn(27, 13, scale=2.0),
                     torch.softmax(g.randn(27, 13), dim=1), red, rname, ls)
            cep_case("cep_%s%s_4x6x2" % (rname, lt), g.randn(4, 6, 2, scale=2.0),
                     torch.softmax(g.randn(4, 6, 2), dim=1), red, rname, ls)
            cep_case("cep_%s%s_1d" % (rname, lt), g.randn(7), torch.softmax(g.randn(7), dim=0),
                     red, rname, ls)
            onehot = F.one_hot(g.randint(6, 10), 6).to(g.dtype)
            cep_case("cep_%s%s_onehot" % (rname, lt), g.randn(10, 6, scale=2.0), onehot, red,
                     rname, ls, grad_target=False)
        # rows that do not sum to 1: the gradient keeps the row sum
        cep_case("cep_%s_unnormalised" % rname, g.randn(6, 5), g.rand(6, 5), red, rname)

    # nll on log-probabilities
    for rname, red in REDS:
        ce_case("nll_%s_27x13" % rname, F.log_softmax(g.randn(27, 13), dim=1), g.randint(13, 27),
                red, rname, op="nll_loss", fn=F.nll_loss)
        ce_case("nll_%s_4x6x2" % rname, F.log_softmax(g.randn(4, 6, 2), dim=1), g.randint(6, 4, 2),
                red, rname, op="nll_loss", fn=F.nll_loss)
        ce_case("nll_%s_1d" % rname, F.log_softmax(g.randn(8), dim=0), torch.tensor(2), red, rname,
                op="nll_loss", fn=F.nll_loss)
        ce_case("nll_%s_raw" % rname, g.randn(12, 5), g.randint(5, 12), red, rname,
                op="nll_loss", fn=F.nll_loss)
        t = g.randint(9, 12)
        t[[0, 4]] = -100
        ce_case("nll_%s_ignore" % rname, g.randn(12, 9), t, red, rname, op="nll_loss", fn=F.nll_loss)
        t = g.randint(9, 12)
        t[t == 2] = 1
        t[[3, 7]] = 2
        ce_case("nll_%s_ignore2" % rname, g.randn(12, 9), t, red, rname, ignore=2, op="nll_loss",
                fn=F.nll_loss)

    # class weights (F.cross_entropy's and F.nll_loss's `weight`, a constant [C]: the last
    # input, without a gradient); written after the cases above so that those keep their data
    def weighted_case(name, op, fn, inputs, weight, red, rname, ignore=-100, ls=0.0, index=None):
        kw = {"reduction": rname}
        if index is not None:
            kw["ignore_index"] = ignore
        if op != "nll_loss":
            kw["label_smoothing"] = ls
        n = len(inputs)
        g.case(name, op, lambda *a, kw=kw, idx=index: fn(*a[:n], *(() if idx is None else (idx,)),
                                                          weight=a[n], **kw),
               inputs + [weight], attrs={"red": red, "ignore_index": ignore, "smoothing": ls},
               index=index, grad_inputs=list(range(n)))

    for rname, red in REDS:
        for ls in [0.0, 0.1]:
            lt = "_ls%g" % ls if ls else ""
            t = g.randint(13, 27)
            t[[2, 9, 20]] = -100
            weighted_case("ce_w_%s%s_27x13" % (rname, lt), "cross_entropy", F.cross_entropy,
                          [g.randn(27, 13, scale=2.0)], g.rand(13) + 0.2, red, rname, ls=ls,
                          index=t)
            weighted_case("ce_w_%s%s_4x6x2" % (rname, lt), "cross_entropy", F.cross_entropy,
                          [g.randn(4, 6, 2, scale=2.0)], g.rand(6) * 2, red, rname, ls=ls,
                          index=g.randint(6, 4, 2))
            weighted_case("ce_w_%s%s_1d" % (rname, lt), "cross_entropy", F.cross_entropy,
                          [g.randn(9, scale=2.0)], g.rand(9) + 0.5, red, rname, ls=ls,
                          index=torch.tensor(4))
            weighted_case("cep_w_%s%s_27x13" % (rname, lt), "cross_entropy_prob", F.cross_entropy,
                          [g.randn(27, 13, scale=2.0), torch.softmax(g.randn(27, 13), dim=1)],
                          g.rand(13) + 0.2, red, rname, ls=ls)
            weighted_case("cep_w_%s%s_4x6x2" % (rname, lt), "cross_entropy_prob", F.cross_entropy,
                          [g.randn(4, 6, 2, scale=2.0), torch.softmax(g.randn(4, 6, 2), dim=1)],
                          g.rand(6) * 2, red, rname, ls=ls)
        t = g.randint(9, 12)
        t[[0, 4]] = -100
        weighted_case("nll_w_%s_12x9" % rname, "nll_loss", F.nll_loss,
                      [F.log_softmax(g.randn(12, 9), dim=1)], g.rand(9) + 0.2, red, rname, index=t)
        weighted_case("nll_w_%s_4x6x2" % rname, "nll_loss", F.nll_loss,
                      [F.log_softmax(g.randn(4, 6, 2), dim=1)], g.rand(6) * 2, red, rname,
                      index=g.randint(6, 4, 2))
        # a class of weight 0 among the targets: it adds nothing, and the mean leaves it out
        w = g.rand(5) + 0.5
        w[3] = 0
        t = g.randint(5, 10)
        t[[1, 6]] = 3
        weighted_case("ce_w_%s_zero_weight" % rname, "cross_entropy", F.cross_entropy,
                      [g.randn(10, 5)], w, red, rname, index=t)


# ------------------------------------------------------------------- extremes

def write_extreme(g):
    xs = [INF, -INF, 0.0, 1e4, -1e4, 1e3, -1e3, 100.0, -100.0, 88.0, -88.0, 30.0, -30.0,
          20.0, 21.0, 1e-8, -1e-8, 1e-30, 5.5, -5.5]
    # NaN inputs: outputs only. PyTorch's gradient at a NaN input depends on
    # which of its kernels ran (vectorised or scalar tail): 0, 1 or NaN for the
    # same op; tapegrad's is NaN (tests/ops/test_extremes.c checks that rule).
    xn = [NAN, 1.0, -1.0, NAN, 0.0, 1e4, NAN, -1e4, 3.0, -3.0, NAN]
    for op, fn, attrs in act_table():
        g.case("%s%s_extreme" % (op, tag_of(attrs)), op, fn, [g.t(xs)], attrs=attrs)
        g.case("%s%s_nan" % (op, tag_of(attrs)), op, fn, [g.t(xn)], attrs=attrs, grad_inputs=[])
    g.case("prelu_extreme", "prelu", F.prelu, [g.t(xs).reshape(1, -1), g.t([0.25])])
    g.case("prelu_nan", "prelu", F.prelu, [g.t(xn).reshape(1, -1), g.t([0.25])], grad_inputs=[])
    rows = [
        [1e4, -1e4, 0.0, 3.0],
        [-1e4, -1e4, -1e4, -1e4],
        [1e4, 1e4, 1e4, 1e4],
        [INF, 1.0, 2.0, 3.0],
        [-INF, 1.0, 2.0, 3.0],
        [NAN, 1.0, 2.0, 3.0],
        [-INF, -INF, -INF, -INF],
        [1e4, 0.0, -1e4, 5e3],
    ]
    for op, fn in [("softmax", F.softmax), ("log_softmax", F.log_softmax)]:
        g.case("%s_extreme" % op, op, lambda x, fn=fn: fn(x, dim=1), [g.t(rows)], attrs={"axis": 1})

    # bce: probabilities exactly 0 and 1, labels 0 and 1 and between
    p = g.t([0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1e-30, 1 - 1e-7, 0.5])
    y = g.t([0.0, 1.0, 0.0, 1.0, 0.5, 0.5, 1.0, 0.0, 1.0])
    for rname, red in REDS:
        g.case("bce_loss_extreme_%s" % rname, "bce_loss",
               lambda a, b, r=rname: F.binary_cross_entropy(a, b, reduction=r), [p, y],
               attrs={"red": red}, grad_inputs=[0], kink=True)
    # bce_with_logits: logits ±1e4, ±inf, NaN
    x = g.t([1e4, 1e4, -1e4, -1e4, 1e4, INF, INF, -INF, -INF, NAN, 100.0, -100.0, 0.0])
    y = g.t([1.0, 0.0, 1.0, 0.0, 0.5, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    for rname, red in REDS:
        g.case("bce_with_logits_extreme_%s" % rname, "bce_with_logits",
               lambda a, b, r=rname: F.binary_cross_entropy_with_logits(a, b, reduction=r),
               [x, y], attrs={"red": red}, grad_inputs=[0])
        g.case("bce_with_logits_pw_extreme_%s" % rname, "bce_with_logits",
               lambda a, b, pw, r=rname: F.binary_cross_entropy_with_logits(
                   a, b, pos_weight=pw, reduction=r),
               [x[:9], y[:9], g.t([3.0])], attrs={"red": red}, grad_inputs=[0])
    # finite-only extremes, the target's gradient too
    xf = g.t([1e4, 1e4, -1e4, -1e4, 1e4, 100.0, -100.0, 0.0])
    yf = g.t([1.0, 0.0, 1.0, 0.0, 0.5, 1.0, 0.0, 1.0])
    g.case("bce_with_logits_extreme_target", "bce_with_logits",
           lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="sum"), [xf, yf],
           attrs={"red": 1})
    # cross entropy on logits of ±1e4 (finite), and rows with ±inf / NaN (none only)
    big = g.t([[1e4, -1e4, 0.0, 3.0], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4, 1e4, 1e4],
               [1e4, 0.0, -1e4, 5e3], [-1e4, 1e4, 0.0, 0.0]])
    tb = torch.tensor([1, 2, 0, 3, 1])
    for rname, red in REDS:
        g.case("ce_extreme_%s" % rname, "cross_entropy",
               lambda a, r=rname: F.cross_entropy(a, tb, reduction=r), [big],
               attrs={"red": red, "ignore_index": -100, "smoothing": 0.0}, index=tb)
        g.case("ce_extreme_ls_%s" % rname, "cross_entropy",
               lambda a, r=rname: F.cross_entropy(a, tb, reduction=r, label_smoothing=0.1), [big],
               attrs={"red": red, "ignore_index": -100, "smoothing": 0.1}, index=tb)
        g.case("cep_extreme_%s" % rname, "cross_entropy_prob",
               lambda a, b, r=rname: F.cross_entropy(a, b, reduction=r), [big,
               F.one_hot(tb, 4).to(g.dtype)], attrs={"red": red, "smoothing": 0.0},
               grad_inputs=[0])
    nonfin = g.t([[INF, 1.0, 2.0], [-INF, 1.0, 2.0], [NAN, 0.0, 0.0], [-INF, -INF, -INF],
                  [1.0, -INF, 2.0], [1.0, -INF, 2.0]])
    tn = torch.tensor([0, 1, 2, 0, 1, 0])
    g.case("ce_nonfinite_none", "cross_entropy", lambda a: F.cross_entropy(a, tn, reduction="none"),
           [nonfin], attrs={"red": 2, "ignore_index": -100, "smoothing": 0.0}, index=tn)
    # regression losses with huge and non-finite differences
    a = g.t([1e4, -1e4, INF, -INF, NAN, INF, 0.0, 1e-30])
    b = g.t([-1e4, 1e4, 0.0, 0.0, 0.0, INF, -INF, 0.0])
    for op, fn, attrs in [("mse_loss", F.mse_loss, {}), ("l1_loss", F.l1_loss, {}),
                          ("smooth_l1_loss", F.smooth_l1_loss, {"beta": 1.0}),
                          ("huber_loss", F.huber_loss, {"delta": 1.0})]:
        g.case("%s_extreme" % op, op, lambda u, v, fn=fn: fn(u, v, reduction="none"), [a, b],
               attrs=dict(attrs, red=2), grad_inputs=[0])
        g.case("%s_extreme_big_mean" % op, op, lambda u, v, fn=fn: fn(u, v), [a[:2], b[:2]],
               attrs=dict(attrs, red=0))


def main():
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    for dtype, sfx in [(torch.float32, "f32"), (torch.float64, "f64")]:
        for kind, fn in [("act", write_act), ("loss", write_loss), ("extreme", write_extreme)]:
            path = os.path.join(HERE, "golden", "%s_%s.txt" % (kind, sfx))
            g = Gen(dtype, path)
            fn(g)
            g.close()
            print("wrote", os.path.relpath(path, os.path.dirname(HERE)))


if __name__ == "__main__":
    main()
