#!/usr/bin/python3
"""Golden data for the activations and losses added after tests/gen_golden_act.py
(whose files stay as they are), written by PyTorch.

Run from the repository root with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_act2.py
It writes tests/golden/act2_f32.txt and act2_f64.txt; tests/ops/test_golden_act2.c
reads them. Every case uses loss = sum(out * R) with a random R and carries
the second order (tests/golden_writer.py); cases on a kink or a clamp are
marked kink=True.

Activations: softmin, glu, hardshrink, softshrink, tanhshrink, threshold,
logit, with every option, at their kinks, 0-d and empty inputs.
Losses, each reduction (attribute `red`: 0 mean, 1 sum, 2 none, 3 batchmean):
  - mse, l1, smooth_l1, huber with a target that broadcasts (and an input
    that does);
  - bce and bce_with_logits with `weight` (and pos_weight); the weights get
    no gradient here (PyTorch refuses one);
  - kl_div (log_target or not), cosine_similarity (dim, eps, broadcasting,
    norms under eps), cosine_embedding_loss, margin_ranking_loss,
    hinge_embedding_loss, multi_margin_loss (p, margin, weight),
    triplet_margin_loss (margin, p, eps, swap), poisson_nll_loss (log_input,
    full, eps), gaussian_nll_loss (full, eps, each shape of var PyTorch 1.13
    takes).
Higher orders from formulas (`higher=`, first order checked equal by the
writer) where PyTorch's own double backward is unusable: multi_margin_loss
(not implemented) and bce with weight (its double backward adds 1e-12 in a
denominator, as tests/gen_golden_act.py explains).
"""
import os
import sys
import warnings

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_golden_act  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REDS = [("mean", 0), ("sum", 1), ("none", 2)]
NAN, INF = float("nan"), float("inf")
warnings.filterwarnings("ignore")  # F.mse_loss's broadcasting, kl_div's 'mean'


class Gen(gen_golden_act.Gen):
    """tests/gen_golden_act.py's case writer, with random signs."""

    def sign(self, *shape):
        return torch.where(self.rand(*shape) < 0.5, -1.0, 1.0).to(self.dtype)


def tag(shape):
    return "x".join(map(str, shape)) if shape else "scalar"


# ---------------------------------------------------------------- activations

def write_act(g):
    for shp, axes in [((7,), [0, -1]), ((4, 6, 2), [-1, 0, 1, 2]), ((27, 13), [1]), ((), [0])]:
        for axis in axes:
            g.case("softmin_%s_axis%d" % (tag(shp), axis), "softmin",
                   lambda x, a=axis: F.softmin(x, dim=a), [g.randn(*shp, scale=3.0)],
                   attrs={"axis": axis})
    g.case("softmin_large", "softmin", lambda x: F.softmin(x, dim=1), [g.randn(5, 9, scale=300.0)],
           attrs={"axis": 1})
    g.case("softmin_empty", "softmin", lambda x: F.softmin(x, dim=1), [g.randn(0, 4)], attrs={"axis": 1})

    for shp, axis in [((4, 6), -1), ((4, 6, 2), 1), ((6,), 0), ((2, 4, 3), 0), ((2, 4, 3), -3),
                      ((3, 2, 4), 2), ((0, 4), 1)]:
        g.case("glu_%s_axis%d" % (tag(shp), axis), "glu", lambda x, a=axis: F.glu(x, dim=a),
               [g.randn(*shp, scale=2.0)], attrs={"axis": axis})

    for lam in [0.5, 1.5, 0.0]:
        for op, fn in [("hardshrink", F.hardshrink), ("softshrink", F.softshrink)]:
            for shp in [(7,), (4, 6, 2), ()]:
                g.case("%s_l%g_%s" % (op, lam, tag(shp)), op, lambda x, f=fn, l=lam: f(x, l),
                       [g.randn(*shp, scale=2.0)], attrs={"lambd": lam})
            g.case("%s_l%g_kinks" % (op, lam), op, lambda x, f=fn, l=lam: f(x, l),
                   [g.t([lam, -lam, 0.0, 2 * lam + 1, -2 * lam - 1])], attrs={"lambd": lam}, kink=True)
    g.case("hardshrink_nan", "hardshrink", lambda x: F.hardshrink(x, 0.5), [g.t([NAN, 1.0, 0.1])],
           attrs={"lambd": 0.5}, grad_inputs=[])

    for shp in [(7,), (4, 6, 2), (), (0, 2)]:
        g.case("tanhshrink_" + tag(shp), "tanhshrink", F.tanhshrink, [g.randn(*shp, scale=2.0)])
    g.case("tanhshrink_small", "tanhshrink", F.tanhshrink, [g.t([1e-3, -1e-2, 0.0, 1e-8, 20.0, -20.0])])

    for th, val in [(0.1, 20.0), (-1.0, 0.5), (0.0, 0.0)]:
        for shp in [(7,), (4, 6, 2), ()]:
            g.case("threshold_t%g_v%g_%s" % (th, val, tag(shp)), "threshold",
                   lambda x, a=th, b=val: F.threshold(x, a, b), [g.randn(*shp, scale=2.0)],
                   attrs={"threshold": th, "value": val})
        g.case("threshold_t%g_v%g_kinks" % (th, val), "threshold",
               lambda x, a=th, b=val: F.threshold(x, a, b), [g.t([th, th + 1, th - 1])],
               attrs={"threshold": th, "value": val}, kink=True)

    # logit: eps None (-1 here), 0, 0.1, 0.25
    for eps, low, high in [(-1.0, 0.05, 0.95), (0.0, 0.05, 0.95), (0.1, -0.2, 1.2), (0.25, 0.0, 1.0)]:
        for shp in [(7,), (4, 6, 2), ()]:
            g.case("logit_e%g_%s" % (eps, tag(shp)), "logit",
                   lambda x, e=eps: torch.logit(x, None if e < 0 else e), [g.rand(*shp, low=low, high=high)],
                   attrs={"eps": eps})
    g.case("logit_edges", "logit", torch.logit, [g.t([0.0, 1.0, 0.5, -0.1, 1.1])], attrs={"eps": -1.0})
    g.case("logit_eps_edges", "logit", lambda x: torch.logit(x, 0.2), [g.t([0.2, 0.8, 0.0, 1.0, 0.5])],
           attrs={"eps": 0.2}, kink=True)


# ---------------------------------------------------------------------- losses

def write_regression(g):
    pairs = [
        ("mse_loss", lambda r: (lambda a, b: F.mse_loss(a, b, reduction=r)), {}),
        ("l1_loss", lambda r: (lambda a, b: F.l1_loss(a, b, reduction=r)), {}),
        ("smooth_l1_loss", lambda r: (lambda a, b: F.smooth_l1_loss(a, b, reduction=r, beta=0.5)),
         {"beta": 0.5}),
        ("huber_loss", lambda r: (lambda a, b: F.huber_loss(a, b, reduction=r, delta=0.7)), {"delta": 0.7}),
    ]
    for op, mk, attrs in pairs:
        for rname, red in REDS:
            for name, sa, sb in [("row", (4, 3), (3,)), ("col", (4, 3), (4, 1)), ("outer", (4, 1), (1, 3)),
                                 ("input_bcast", (3,), (2, 3)), ("scalar_target", (2, 3), ())]:
                g.case("%s_bcast_%s_%s" % (op, name, rname), op, mk(rname),
                       [g.randn(*sa, scale=1.5), g.randn(*sb)], attrs=dict(attrs, red=red))


class BCEW(torch.autograd.Function):
    """bce with a weight, its first derivatives written as ops (as
    tests/gen_golden_act.py's BCE): differentiating them gives the exact
    second derivative."""
    @staticmethod
    def forward(ctx, p, y, w):
        ctx.save_for_backward(p, y, w)
        return -(y * torch.clamp(torch.log(p), min=-100) +
                 (1 - y) * torch.clamp(torch.log1p(-p), min=-100)) * w

    @staticmethod
    def backward(ctx, g):
        p, y, w = ctx.saved_tensors
        den = torch.clamp((1 - p) * p, min=1e-12)
        return g * (p - y) / den * w, g * (torch.log(1 - p) - torch.log(p)) * w, None


def write_bce(g):
    def bce_formula(p, y, w, r):
        ell = BCEW.apply(p, y, w.expand_as(p))
        return {"mean": ell.mean, "sum": ell.sum, "none": lambda: ell}[r]()

    for rname, red in REDS:
        for name, sw in [("col_w", (3,)), ("full_w", (5, 3)), ("row_w", (5, 1)), ("scalar_w", ())]:
            g.case("bce_loss_%s_%s" % (name, rname), "bce_loss",
                   lambda p, y, w, r=rname: F.binary_cross_entropy(p, y, weight=w, reduction=r),
                   [g.rand(5, 3, low=0.02, high=0.98), g.rand(5, 3), g.rand(*sw, low=0.1, high=2.0)],
                   attrs={"red": red}, grad_inputs=[0, 1],
                   higher=lambda p, y, w, r=rname: bce_formula(p, y, w, r))
    # bce_with_logits: weight alone, weight and pos_weight
    for rname, red in REDS:
        for name, sw in [("col_w", (3,)), ("full_w", (5, 3)), ("row_w", (5, 1))]:
            g.case("bce_with_logits_%s_%s" % (name, rname), "bce_with_logits",
                   lambda x, y, w, r=rname: F.binary_cross_entropy_with_logits(x, y, weight=w, reduction=r),
                   [g.randn(5, 3, scale=3.0), g.rand(5, 3), g.rand(*sw, low=0.1, high=2.0)],
                   attrs={"red": red, "has_w": 1}, grad_inputs=[0, 1])
        g.case("bce_with_logits_w_pw_%s" % rname, "bce_with_logits",
               lambda x, y, pw, w, r=rname: F.binary_cross_entropy_with_logits(
                   x, y, weight=w, pos_weight=pw, reduction=r),
               [g.randn(4, 6, 2, scale=3.0), g.rand(4, 6, 2), g.rand(2, low=0.2, high=3.0),
                g.rand(6, 1, low=0.1, high=2.0)], attrs={"red": red, "has_pw": 1, "has_w": 1},
               grad_inputs=[0, 1])


def write_kl(g):
    reds = REDS + [("batchmean", 3)]
    for rname, red in reds:
        for lt in (False, True):
            tg = (lambda *s: g.randn(*s) - 1) if lt else (lambda *s: torch.softmax(g.randn(*s), dim=-1))
            for name, sx, st in [("4x5", (4, 5), (4, 5)), ("1d", (6,), (6,)), ("bcast", (4, 5), (5,)),
                                 ("3d", (2, 3, 4), (2, 3, 4))]:
                g.case("kl_div_%s_%s%s" % (name, rname, "_lt" if lt else ""), "kl_div",
                       lambda x, y, r=rname, l=lt: F.kl_div(x, y, reduction=r, log_target=l),
                       [F.log_softmax(g.randn(*sx), dim=-1), tg(*st)],
                       attrs={"red": red, "log_target": int(lt)})
        g.case("kl_div_scalar_%s" % rname, "kl_div", lambda x, y, r=rname: F.kl_div(x, y, reduction=r),
               [g.t(-1.2), g.t(0.4)], attrs={"red": red, "log_target": 0})
    # a target of exactly 0: 0 log 0 = 0, the target's gradient NaN (as PyTorch)
    g.case("kl_div_zero_target", "kl_div", lambda x, y: F.kl_div(x, y, reduction="sum"),
           [g.t([-1.0, -2.0, -0.5]), g.t([0.0, 0.3, 0.7])], attrs={"red": 1, "log_target": 0})
    g.case("kl_div_zero_target_input", "kl_div", lambda x, y: F.kl_div(x, y, reduction="sum"),
           [g.t([-1.0, -2.0, -0.5]), g.t([0.0, 0.3, 0.7])], attrs={"red": 1, "log_target": 0},
           grad_inputs=[0])


def write_cosine(g):
    shapes = [("4x5_dim1", (4, 5), (4, 5), 1, 1e-8), ("4x5_dim0", (4, 5), (4, 5), 0, 1e-8),
              ("3d_dimm1", (2, 3, 4), (2, 3, 4), -1, 1e-8), ("bcast", (4, 5), (1, 5), 1, 1e-8),
              ("bcast_outer", (3, 1, 5), (1, 4, 5), 2, 1e-8), ("1d", (5,), (5,), 0, 1e-8),
              ("eps", (4, 5), (4, 5), 1, 0.5)]
    # A 0-d pair, or x1 repeated along dim, is scale-invariant in x1: its
    # derivatives there are exactly 0, and PyTorch's float32 ones are rounding
    # noise of 4e-6, beyond the float atol (1e-6): in the float64 file only.
    if g.dtype == torch.float64:
        shapes += [("scalar", (), (), 0, 1e-8), ("bcast_dim", (4, 1), (4, 5), 1, 1e-8)]
    for name, s1, s2, dim, eps in shapes:
        g.case("cosine_similarity_" + name, "cosine_similarity",
               lambda a, b, d=dim, e=eps: F.cosine_similarity(a, b, dim=d, eps=e),
               [g.randn(*s1), g.randn(*s2)], attrs={"dim": dim, "eps": eps})
    # norms under eps: clamped (the gradient as if unclamped, at the clamped value)
    g.case("cosine_similarity_small", "cosine_similarity",
           lambda a, b: F.cosine_similarity(a, b, dim=1, eps=1e-3),
           [g.t([[1e-5, 2e-5], [3.0, 4.0], [0.0, 0.0]]), g.t([[1e-4, -3e-5], [1.0, 2.0], [1.0, 1.0]])],
           attrs={"dim": 1, "eps": 1e-3})

    for rname, red in REDS:
        for margin in [0.0, 0.3, -0.2]:
            y = g.sign(6)
            y[2] = 0.5  # neither 1 nor -1: no loss
            g.case("cosine_embedding_loss_m%g_%s" % (margin, rname), "cosine_embedding_loss",
                   lambda a, b, t, m=margin, r=rname: F.cosine_embedding_loss(a, b, t, margin=m, reduction=r),
                   [g.randn(6, 4), g.randn(6, 4), y], attrs={"red": red, "margin": margin},
                   grad_inputs=[0, 1])
        g.case("cosine_embedding_loss_1d_%s" % rname, "cosine_embedding_loss",
               lambda a, b, t, r=rname: F.cosine_embedding_loss(a, b, t, margin=-0.5, reduction=r),
               [g.randn(4), g.randn(4), g.t(-1.0)], attrs={"red": red, "margin": -0.5}, grad_inputs=[0, 1])
        g.case("cosine_embedding_loss_bcast_%s" % rname, "cosine_embedding_loss",
               lambda a, b, t, r=rname: F.cosine_embedding_loss(a, b, t, margin=0.1, reduction=r),
               [g.randn(1, 4), g.randn(5, 4), g.sign(5)], attrs={"red": red, "margin": 0.1},
               grad_inputs=[0, 1])


def write_margin(g):
    for rname, red in REDS:
        for margin in [0.0, 0.5]:
            for name, s1, s2, sy in [("6", (6,), (6,), (6,)), ("3x4", (3, 4), (3, 4), (3, 4)),
                                     ("bcast", (3, 4), (1, 4), (3, 1))]:
                g.case("margin_ranking_loss_%s_m%g_%s" % (name, margin, rname), "margin_ranking_loss",
                       lambda a, b, y, m=margin, r=rname: F.margin_ranking_loss(a, b, y, margin=m, reduction=r),
                       [g.randn(*s1), g.randn(*s2), g.sign(*sy)], attrs={"red": red, "margin": margin})
        # micrograd's SVM loss: max(0, 1 - y * score), scores against 0
        g.case("margin_ranking_loss_svm_%s" % rname, "margin_ranking_loss",
               lambda a, b, y, r=rname: F.margin_ranking_loss(a, b, y, margin=1.0, reduction=r),
               [g.randn(8, scale=2.0), torch.zeros(8, dtype=g.dtype), g.sign(8)],
               attrs={"red": red, "margin": 1.0}, grad_inputs=[0])
    g.case("margin_ranking_loss_kinks", "margin_ranking_loss",
           lambda a, b, y: F.margin_ranking_loss(a, b, y, margin=1.0, reduction="none"),
           [g.t([1.0, 2.0]), g.t([2.0, 1.0]), g.t([1.0, 1.0])], attrs={"red": 2, "margin": 1.0}, kink=True)

    for rname, red in REDS:
        for margin in [1.0, 0.5]:
            for shp in [(7,), (3, 4)]:
                y = g.sign(*shp)
                g.case("hinge_embedding_loss_%s_m%g_%s" % (tag(shp), margin, rname), "hinge_embedding_loss",
                       lambda x, t, m=margin, r=rname: F.hinge_embedding_loss(x, t, margin=m, reduction=r),
                       [g.randn(*shp, scale=1.5), y], attrs={"red": red, "margin": margin}, grad_inputs=[0])
        g.case("hinge_embedding_loss_bcast_%s" % rname, "hinge_embedding_loss",
               lambda x, t, r=rname: F.hinge_embedding_loss(x, t, reduction=r),
               [g.randn(3, 4, scale=1.5), g.sign(4)], attrs={"red": red, "margin": 1.0}, grad_inputs=[0])
    g.case("hinge_embedding_loss_other_targets", "hinge_embedding_loss",
           lambda x, t: F.hinge_embedding_loss(x, t, reduction="none"),
           [g.t([0.3, -0.5, 2.0, 0.5]), g.t([0.5, 0.0, 2.0, -1.0])], attrs={"red": 2, "margin": 1.0},
           grad_inputs=[0])
    g.case("hinge_embedding_loss_kinks", "hinge_embedding_loss",
           lambda x, t: F.hinge_embedding_loss(x, t, reduction="none"),
           [g.t([1.0, 0.5, 1.0]), g.t([-1.0, -1.0, 1.0])], attrs={"red": 2, "margin": 1.0},
           grad_inputs=[0], kink=True)


def mm_formula(x, t, w, p, margin, r):
    """F.multi_margin_loss as ops, for the higher orders (PyTorch 1.13 has no
    double backward for it): Σ_{c != y, z_c > 0} w_y z_c^p / C per sample."""
    x2 = x if x.dim() == 2 else x.reshape(1, -1)
    tt = t.reshape(-1)
    C = x2.shape[1]
    z = margin - x2.gather(1, tt[:, None]) + x2
    on = (torch.arange(C)[None, :] != tt[:, None]) & (z > 0)
    h = torch.where(on, z if p == 1 else z * z, torch.zeros_like(z))
    wy = w[tt] if w is not None else torch.ones(len(tt), dtype=x.dtype)
    ell = h.sum(1) * wy / C
    if x.dim() == 1:
        ell = ell.reshape(t.shape)
    return {"mean": ell.mean, "sum": ell.sum, "none": lambda: ell}[r]()


def write_multi_margin(g):
    for rname, red in REDS:
        for p in (1, 2):
            for margin in (1.0, 0.5):
                t = g.randint(4, 6)
                g.case("multi_margin_loss_p%d_m%g_%s" % (p, margin, rname), "multi_margin_loss",
                       lambda x, t=t, p=p, m=margin, r=rname: F.multi_margin_loss(x, t, p=p, margin=m, reduction=r),
                       [g.randn(6, 4)], index=t, attrs={"red": red, "p": p, "margin": margin},
                       higher=lambda x, t=t, p=p, m=margin, r=rname: mm_formula(x, t, None, p, m, r))
            t = g.randint(5, 7)
            g.case("multi_margin_loss_w_p%d_%s" % (p, rname), "multi_margin_loss",
                   lambda x, w, t=t, p=p, r=rname: F.multi_margin_loss(x, t, p=p, weight=w, reduction=r),
                   [g.randn(7, 5), g.rand(5, low=0.2, high=2.0)], index=t,
                   attrs={"red": red, "p": p, "margin": 1.0}, grad_inputs=[0],
                   higher=lambda x, w, t=t, p=p, r=rname: mm_formula(x, t, w, p, 1.0, r))
        for t, t0d in [(torch.tensor(2), 1), (torch.tensor([1]), 0)]:
            g.case("multi_margin_loss_1d_%s_%s" % ("t0d" if t0d else "t1", rname), "multi_margin_loss",
                   lambda x, t=t, r=rname: F.multi_margin_loss(x, t, p=2, reduction=r),
                   [g.randn(4)], index=t, attrs={"red": red, "p": 2, "margin": 1.0, "t0d": t0d},
                   higher=lambda x, t=t, r=rname: mm_formula(x, t, None, 2, 1.0, r))
    t = torch.tensor([1])
    g.case("multi_margin_loss_kinks", "multi_margin_loss",
           lambda x: F.multi_margin_loss(x, t, reduction="sum"), [g.t([[0.0, 1.0, 0.5]])], index=t,
           attrs={"red": 1, "p": 1, "margin": 1.0}, kink=True,
           higher=lambda x: mm_formula(x, t, None, 1, 1.0, "sum"))


def write_triplet(g):
    for rname, red in REDS:
        for p, margin, swap in [(2.0, 1.0, False), (1.0, 0.5, False), (3.0, 1.0, True), (2.0, 2.0, True)]:
            for name, sa, sp, sn in [("5x4", (5, 4), (5, 4), (5, 4)), ("bcast", (5, 4), (1, 4), (5, 4)),
                                     ("1d", (4,), (4,), (4,))]:
                g.case("triplet_margin_loss_%s_p%g_m%g%s_%s" % (name, p, margin, "_swap" if swap else "", rname),
                       "triplet_margin_loss",
                       lambda a, b, c, p=p, m=margin, s=swap, r=rname: F.triplet_margin_loss(
                           a, b, c, margin=m, p=p, swap=s, reduction=r),
                       [g.randn(*sa), g.randn(*sp), g.randn(*sn)],
                       attrs={"red": red, "p": p, "margin": margin, "eps": 1e-6, "swap": int(swap)})
    g.case("triplet_margin_loss_eps", "triplet_margin_loss",
           lambda a, b, c: F.triplet_margin_loss(a, b, c, eps=0.1, reduction="none"),
           [g.randn(3, 4), g.randn(3, 4), g.randn(3, 4)],
           attrs={"red": 2, "p": 2.0, "margin": 1.0, "eps": 0.1, "swap": 0})


def write_triplet_pairs(g):
    # each distance along its own pair's broadcast (F.pairwise_distance): a
    # pair whose last axes are both 1 has one term, not the other's D
    for name, sa, sp, sn in [("pn1", (3, 4), (3, 1), (3, 1)), ("an1", (3, 1), (3, 4), (3, 1)),
                             ("ap1", (3, 1), (3, 1), (3, 4)), ("1d", (1,), (1,), (3,)),
                             ("n0", (3, 1), (3, 1), (3, 0)), ("a0", (2, 0), (2, 1), (1, 1))]:
        for p, swap, rname, red in [(1.0, True, "none", 2), (1.5, True, "mean", 0),
                                    (2.0, False, "sum", 1)]:
            g.case("triplet_margin_loss_pairs_%s_p%g%s_%s" % (name, p, "_swap" if swap else "", rname),
                   "triplet_margin_loss",
                   lambda a, b, c, p=p, s=swap, r=rname: F.triplet_margin_loss(
                       a, b, c, margin=1.0, p=p, eps=0.1, swap=s, reduction=r),
                   [g.randn(*sa), g.randn(*sp), g.randn(*sn)],
                   attrs={"red": red, "p": p, "margin": 1.0, "eps": 0.1, "swap": int(swap)})
    # zero distances (eps 0): row 0 with anchor = positive, row 2 positive = negative, row 3
    # anchor = negative; the margin keeps every row's loss on. The first derivative of a zero
    # distance is 0, and the second must stay finite (PyTorch's norm backward masks it)
    for p, swap in [(2.0, False), (3.0, True), (2.0, True)]:
        a, pos, n = g.randn(4, 3), g.randn(4, 3), g.randn(4, 3)
        pos[0] = a[0]
        n[2] = pos[2]
        n[3] = a[3]
        g.case("triplet_margin_loss_zero_dist_p%g%s" % (p, "_swap" if swap else ""),
               "triplet_margin_loss",
               lambda a, b, c, p=p, s=swap: F.triplet_margin_loss(
                   a, b, c, margin=8.0, p=p, eps=0.0, swap=s, reduction="sum"),
               [a, pos, n], attrs={"red": 1, "p": p, "margin": 8.0, "eps": 0.0, "swap": int(swap)},
               kink=True)


def write_poisson(g):
    for rname, red in REDS:
        for log_input in (True, False):
            for full in (False, True):
                x = g.randn(4, 5) if log_input else g.rand(4, 5, low=0.1, high=4.0)
                y = torch.floor(g.rand(4, 5, low=1.5, high=6.0))
                g.case("poisson_nll_loss_%s%s_%s" % ("log" if log_input else "lin", "_full" if full else "", rname),
                       "poisson_nll_loss",
                       lambda a, b, li=log_input, f=full, r=rname: F.poisson_nll_loss(a, b, log_input=li, full=f,
                                                                                     reduction=r),
                       [x, y], attrs={"red": red, "log_input": int(log_input), "full": int(full), "eps": 1e-8})
        g.case("poisson_nll_loss_bcast_%s" % rname, "poisson_nll_loss",
               lambda a, b, r=rname: F.poisson_nll_loss(a, b, full=True, reduction=r),
               [g.randn(3, 4), g.rand(4, low=1.5, high=4.0)],
               attrs={"red": red, "log_input": 1, "full": 1, "eps": 1e-8})
    g.case("poisson_nll_loss_eps", "poisson_nll_loss",
           lambda a, b: F.poisson_nll_loss(a, b, log_input=False, eps=0.5, reduction="sum"),
           [g.rand(6, low=0.1, high=2.0), g.rand(6, low=0.0, high=3.0)],
           attrs={"red": 1, "log_input": 0, "full": 0, "eps": 0.5})
    # targets at and under 1 with full: Stirling's term masked; at 0 the target's gradient is NaN
    g.case("poisson_nll_loss_small_targets", "poisson_nll_loss",
           lambda a, b: F.poisson_nll_loss(a, b, full=True, reduction="none"),
           [g.randn(5), g.t([1.0, 0.5, 0.0, 1.5, 3.0])], attrs={"red": 2, "log_input": 1, "full": 1, "eps": 1e-8})
    g.case("poisson_nll_loss_small_targets_input", "poisson_nll_loss",
           lambda a, b: F.poisson_nll_loss(a, b, full=True, reduction="none"),
           [g.randn(5), g.t([1.0, 0.5, 0.0, 1.5, 3.0])], attrs={"red": 2, "log_input": 1, "full": 1, "eps": 1e-8},
           grad_inputs=[0])


def write_gaussian(g):
    for rname, red in REDS:
        for full in (False, True):
            for name, sv in [("full_var", (4, 3)), ("row_var", (4,)), ("row1_var", (4, 1))]:
                g.case("gaussian_nll_loss_%s%s_%s" % (name, "_full" if full else "", rname), "gaussian_nll_loss",
                       lambda x, y, v, f=full, r=rname: F.gaussian_nll_loss(x, y, v, full=f, reduction=r),
                       [g.randn(4, 3), g.randn(4, 3), g.rand(*sv, low=0.2, high=2.0)],
                       attrs={"red": red, "full": int(full), "eps": 1e-6})
        g.case("gaussian_nll_loss_bcast_target_%s" % rname, "gaussian_nll_loss",
               lambda x, y, v, r=rname: F.gaussian_nll_loss(x, y, v, reduction=r),
               [g.randn(4, 3), g.randn(3), g.rand(4, 3, low=0.2, high=2.0)],
               attrs={"red": red, "full": 0, "eps": 1e-6})
    # var under eps: clamped, its gradient taken at eps
    g.case("gaussian_nll_loss_clamped", "gaussian_nll_loss",
           lambda x, y, v: F.gaussian_nll_loss(x, y, v, eps=1e-2, reduction="none"),
           [g.randn(2, 3), g.randn(2, 3), g.t([[0.5, 1e-3, 2.0], [1e-4, 0.0, 0.3]])],
           attrs={"red": 2, "full": 0, "eps": 1e-2})
    g.case("gaussian_nll_loss_1d_scalar_var", "gaussian_nll_loss",
           lambda x, y, v: F.gaussian_nll_loss(x, y, v, reduction="sum"),
           [g.randn(5), g.randn(5), g.t(0.7)], attrs={"red": 1, "full": 0, "eps": 1e-6})


def write_extremes(g):
    """±inf, NaN and huge values: first order only (the writer marks them)."""
    xs = [INF, -INF, 1e4, -1e4, 30.0, -30.0, 0.0, 2.0]
    g.case("softmin_extreme", "softmin", lambda x: F.softmin(x, dim=0), [g.t([INF, 1.0, -1e4, 2.0])],
           attrs={"axis": 0})
    g.case("glu_extreme", "glu", lambda x: F.glu(x, dim=0), [g.t([2.0, -3.0, 1e4, INF, -INF, 1e4])],
           attrs={"axis": 0})
    for op, fn, attrs in [("hardshrink", lambda x: F.hardshrink(x, 0.5), {"lambd": 0.5}),
                          ("softshrink", lambda x: F.softshrink(x, 0.5), {"lambd": 0.5}),
                          ("tanhshrink", F.tanhshrink, {}),
                          ("threshold", lambda x: F.threshold(x, 0.1, 20.0), {"threshold": 0.1, "value": 20.0})]:
        g.case(op + "_extreme", op, fn, [g.t(xs)], attrs=attrs)
    g.case("logit_eps_extreme", "logit", lambda x: torch.logit(x, 0.1), [g.t([INF, -INF, 1e4, 0.5])],
           attrs={"eps": 0.1})
    g.case("kl_div_extreme", "kl_div", lambda x, y: F.kl_div(x, y, reduction="none"),
           [g.t([-INF, -1e4, -1.0, 0.0]), g.t([0.5, 0.5, 1e-30, 1.0])], attrs={"red": 2, "log_target": 0})
    g.case("margin_ranking_loss_extreme", "margin_ranking_loss",
           lambda a, b, y: F.margin_ranking_loss(a, b, y, margin=1.0, reduction="none"),
           [g.t([INF, -INF, 1e4, 0.0]), g.t([0.0, 0.0, -1e4, 0.0]), g.t([1.0, 1.0, -1.0, 1.0])],
           attrs={"red": 2, "margin": 1.0})
    g.case("hinge_embedding_loss_extreme", "hinge_embedding_loss",
           lambda x, y: F.hinge_embedding_loss(x, y, reduction="none"),
           [g.t([INF, -INF, 1e4, -1e4]), g.t([1.0, -1.0, -1.0, 1.0])], attrs={"red": 2, "margin": 1.0},
           grad_inputs=[0])
    g.case("poisson_nll_loss_extreme", "poisson_nll_loss",
           lambda x, y: F.poisson_nll_loss(x, y, reduction="none"),
           [g.t([30.0, -30.0, -INF, 50.0]), g.t([2.0, 0.0, 1.0, 3.0])],
           attrs={"red": 2, "log_input": 1, "full": 0, "eps": 1e-8})
    g.case("gaussian_nll_loss_extreme", "gaussian_nll_loss",
           lambda x, y, v: F.gaussian_nll_loss(x, y, v, reduction="none"),
           [g.t([INF, 1e4, 0.0]), g.t([0.0, -1e4, 0.0]), g.t([1.0, 1e-30, 0.0])],
           attrs={"red": 2, "full": 0, "eps": 1e-6})
    g.case("bce_with_logits_weight_extreme", "bce_with_logits",
           lambda x, y, w: F.binary_cross_entropy_with_logits(x, y, weight=w, reduction="none"),
           [g.t([1e4, -1e4, INF, -INF, 0.0]), g.t([1.0, 1.0, 0.0, 1.0, 0.5]), g.t([2.0])],
           attrs={"red": 2, "has_w": 1}, grad_inputs=[0])
    g.case("bce_loss_weight_extreme", "bce_loss",
           lambda p, y, w: F.binary_cross_entropy(p, y, weight=w, reduction="none"),
           [g.t([0.0, 1.0, 0.0, 1.0]), g.t([0.0, 1.0, 1.0, 0.0]), g.t([0.5, 2.0, 3.0, 1.0])],
           attrs={"red": 2}, grad_inputs=[0], kink=True)
    g.case("cosine_similarity_extreme", "cosine_similarity",
           lambda a, b: F.cosine_similarity(a, b, dim=1),
           [g.t([[1e4, 1.0], [0.0, 0.0], [1e-30, 1e-30]]), g.t([[1.0, 1e4], [1.0, 2.0], [1.0, 1.0]])],
           attrs={"dim": 1, "eps": 1e-8})
    t = torch.tensor([0, 1])
    g.case("multi_margin_loss_extreme", "multi_margin_loss",
           lambda x: F.multi_margin_loss(x, t, reduction="none"), [g.t([[1e4, -1e4, 0.0], [0.0, 1e4, 1e4]])],
           index=t, attrs={"red": 2, "p": 1, "margin": 1.0}, higher=lambda x: mm_formula(x, t, None, 1, 1.0, "none"))


def main():
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    for dtype, sfx in [(torch.float32, "f32"), (torch.float64, "f64")]:
        path = os.path.join(HERE, "golden", "act2_%s.txt" % sfx)
        g = Gen(dtype, path)
        for fn in (write_act, write_regression, write_bce, write_kl, write_cosine, write_margin,
                   write_multi_margin, write_triplet, write_poisson, write_gaussian, write_extremes,
                   write_triplet_pairs):
            fn(g)
        g.close()
        print("wrote", os.path.relpath(path, os.path.dirname(HERE)))


if __name__ == "__main__":
    main()
