#!/usr/bin/python3
"""Golden data for the training toolkit, written by PyTorch 1.13.

Run from anywhere with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_toolkit.py
It writes, in tests/golden/:
  toolkit_optim_f32.txt / _f64.txt  single steps of torch.optim.RMSprop and
                                    Adagrad with every option (3 steps on
                                    given gradients), steps in which some
                                    gradients are None, and optimizers over
                                    two parameter groups (their own lr and
                                    weight decay)
  toolkit_clip_f32.txt / _f64.txt   torch.nn.utils.clip_grad_norm_ (norm 2,
                                    inf, 1, 3, 0.5; clipping or not; a None
                                    grad; an infinite gradient) and
                                    clip_grad_value_: the gradients after,
                                    and the returned norm
  toolkit_sched.txt                 learning rates (per group) and momenta of
                                    torch.optim.lr_scheduler's StepLR,
                                    MultiStepLR, ExponentialLR,
                                    CosineAnnealingLR (the recursive formula
                                    step() uses), CosineAnnealingWarmRestarts,
                                    LinearLR, OneCycleLR (cos, linear, three
                                    phases, momentum and Adam's beta1),
                                    ReduceLROnPlateau, SequentialLR and
                                    ChainedScheduler, after construction and
                                    after every step
  toolkit_sequential_f32.safetensors / _f64 and .txt
                                    an nn.Sequential's state dict (Linear,
                                    LeakyReLU, Linear, GELU tanh, Linear,
                                    Sigmoid) and its output on an input
tests/nn/test_optim_groups.c, test_clip.c, test_sched.c and test_mlp.c read
them. The
text format is gen_golden_train.py's (tests/nn/golden_train.h reads it).
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_golden_train as gt  # noqa: E402

GOLDEN = gt.GOLDEN
torch.set_num_threads(1)


class Writer(gt.Writer):
    def __init__(self, path):
        super().__init__(path)
        self.f.seek(0)
        self.f.truncate()
        self.f.write("# written by tests/gen_golden_toolkit.py with PyTorch %s; do not edit, "
                     "regenerate\n" % torch.__version__)


# ------------------------------------------------------------ optimizers

CLASSES = dict(gt.OPTIM_CLASSES, rmsprop=torch.optim.RMSprop, adagrad=torch.optim.Adagrad)


def opts_attrs(kind, kw):
    """The tapegrad option values of a torch.optim keyword set."""
    if kind == "rmsprop":
        return dict(kind=kind, lr=float(kw.get("lr", 1e-2)), alpha=float(kw.get("alpha", 0.99)),
                    eps=float(kw.get("eps", 1e-8)), weight_decay=float(kw.get("weight_decay", 0.0)),
                    momentum=float(kw.get("momentum", 0.0)), centered=int(kw.get("centered", False)),
                    maximize=int(kw.get("maximize", False)))
    if kind == "adagrad":
        return dict(kind=kind, lr=float(kw.get("lr", 1e-2)), lr_decay=float(kw.get("lr_decay", 0.0)),
                    weight_decay=float(kw.get("weight_decay", 0.0)),
                    initial_accumulator_value=float(kw.get("initial_accumulator_value", 0.0)),
                    eps=float(kw.get("eps", 1e-10)), maximize=int(kw.get("maximize", False)))
    return gt.opts_attrs(kind, kw)


OPTIM_CASES = [
    ("rmsprop", "rmsprop", dict(lr=0.01)),
    ("rmsprop_alpha_eps", "rmsprop", dict(lr=0.02, alpha=0.9, eps=1e-4)),
    ("rmsprop_weight_decay", "rmsprop", dict(lr=0.01, weight_decay=0.1)),
    ("rmsprop_momentum", "rmsprop", dict(lr=0.01, momentum=0.9)),
    ("rmsprop_centered", "rmsprop", dict(lr=0.01, centered=True)),
    ("rmsprop_centered_momentum_wd", "rmsprop",
     dict(lr=0.01, centered=True, momentum=0.8, weight_decay=0.05)),
    ("rmsprop_maximize", "rmsprop", dict(lr=0.01, momentum=0.5, maximize=True)),
    ("adagrad", "adagrad", dict(lr=0.1)),
    ("adagrad_lr_decay", "adagrad", dict(lr=0.1, lr_decay=0.5)),
    ("adagrad_weight_decay", "adagrad", dict(lr=0.1, weight_decay=0.1)),
    ("adagrad_initial_accumulator", "adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6)),
    ("adagrad_all", "adagrad",
     dict(lr=0.05, lr_decay=0.1, weight_decay=0.02, initial_accumulator_value=0.1, maximize=True)),
]

SKIP_CASES = [
    ("rmsprop_centered_momentum", "rmsprop", dict(lr=0.01, centered=True, momentum=0.9)),
    ("adagrad_lr_decay_wd", "adagrad", dict(lr=0.1, lr_decay=0.3, weight_decay=0.1)),
]

# two groups: p0 with its own options (group 0), p1 with the optimizer's
GROUP_CASES = [
    ("sgd_momentum", "sgd", dict(lr=0.1, momentum=0.9), dict(lr=0.03, weight_decay=0.1)),
    ("adam", "adam", dict(lr=0.01), dict(lr=0.05, weight_decay=0.2)),
    ("adamw", "adamw", dict(lr=0.01, weight_decay=0.1), dict(weight_decay=0.0)),
    ("rmsprop_centered", "rmsprop", dict(lr=0.01, centered=True), dict(lr=0.002)),
    ("adagrad", "adagrad", dict(lr=0.1, lr_decay=0.1), dict(lr=0.3, weight_decay=0.05)),
]


def case(w, group, seed, kind, kw, steps, dtype, groups=None, **extra):
    """Starts a case: random p0 [3,4] and p1 [5] (written) and the optimizer."""
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g, dtype=torch.float64).to(dtype).requires_grad_()
              for s in gt.OPTIM_SHAPES]
    w.group(group, steps=steps, **opts_attrs(kind, kw), **extra)
    for k, p in enumerate(params):
        w.tensor("p%d" % k, p)
    if groups is None:
        opt = CLASSES[kind](params, **kw)
    else:
        opt = CLASSES[kind]([dict(params=[params[0]], **groups), dict(params=[params[1]])], **kw)
    return g, params, opt


def run_steps(w, g, params, opt, steps, skipped=()):
    for step in range(steps):
        for k, (p, s) in enumerate(zip(params, gt.OPTIM_SHAPES)):
            gr = torch.randn(s, generator=g, dtype=torch.float64).to(p.dtype)
            if step == 1 and k == 1:
                gr[0] = 0.0  # a zero gradient element
            if (step, k) in skipped:
                p.grad = None
            else:
                p.grad = gr.clone()
                w.tensor("g%d_%d" % (step, k), gr)
        opt.step()
        for k, p in enumerate(params):
            w.tensor("p%d_%d" % (step, k), p)


def write_optim(path, dtype):
    w = Writer(path)
    for ci, (name, kind, kw) in enumerate(OPTIM_CASES):
        g, params, opt = case(w, "optim_" + name, 900 + ci, kind, kw, 3, dtype)
        run_steps(w, g, params, opt, 3)
        w.end()
    for ci, (name, kind, kw) in enumerate(SKIP_CASES):
        g, params, opt = case(w, "skipped_" + name, 950 + ci, kind, kw, gt.SKIP_STEPS, dtype)
        run_steps(w, g, params, opt, gt.SKIP_STEPS, gt.SKIPPED)
        w.end()
    for ci, (name, kind, kw, gkw) in enumerate(GROUP_CASES):
        extra = {"group0_" + k: float(v) for k, v in gkw.items()}
        g, params, opt = case(w, "groups_" + name, 970 + ci, kind, kw, 4, dtype, gkw, **extra)
        run_steps(w, g, params, opt, 4)
        w.end()
    w.close()


# -------------------------------------------------------------- clipping

CLIP_SHAPES = [(3, 4), (5,), (2,)]  # p2's grad is None in every case
CLIP_CASES = [
    # name, norm_type or "value", max_norm / clip_value, gradient scale
    ("norm2_clips", 2.0, 1.0, 1.0),
    ("norm2_keeps", 2.0, 100.0, 1.0),
    ("norm_inf", math.inf, 0.5, 1.0),
    ("norm1", 1.0, 2.0, 1.0),
    ("norm3", 3.0, 0.7, 1.0),
    ("norm_half", 0.5, 10.0, 1.0),
    ("norm2_tiny", 2.0, 1e-3, 1e-20),   # squares underflow in float
    ("norm2_huge", 2.0, 1.0, 1e30),     # squares overflow in float
    ("norm2_infinite", 2.0, 1.0, math.inf),
    ("value", "value", 0.3, 1.0),
]


def write_clip(path, dtype):
    w = Writer(path)
    for ci, (name, norm, mx, scale) in enumerate(CLIP_CASES):
        g = torch.Generator().manual_seed(1100 + ci)
        grads = [torch.randn(s, generator=g, dtype=torch.float64) for s in CLIP_SHAPES[:2]]
        if math.isinf(scale):
            grads[1][2] = math.inf
        else:
            grads = [gr * scale for gr in grads]
        grads = [gr.to(dtype) for gr in grads]
        params = [torch.zeros(s, dtype=dtype, requires_grad=True) for s in CLIP_SHAPES]
        for p, gr in zip(params, grads):
            p.grad = gr.clone()
        w.group("clip_" + name, norm_type=("value" if norm == "value" else float(norm)),
                max=float(mx))
        for k, gr in enumerate(grads):
            w.tensor("g%d" % k, gr)
        if norm == "value":
            torch.nn.utils.clip_grad_value_(params, mx)
        else:
            # the same gradients in float64: where float32's norm overflows
            # (squares past 3.4e38), tapegrad's double accumulation gives
            # this one, and the gradients scaled by it
            exact = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in CLIP_SHAPES]
            for p, gr in zip(exact, grads):
                p.grad = gr.double()
            total_exact = torch.nn.utils.clip_grad_norm_(exact, mx, norm_type=norm)
            total = torch.nn.utils.clip_grad_norm_(params, mx, norm_type=norm)
            w.tensor("total", torch.tensor([float(total)], dtype=torch.float64))
            if math.isinf(float(total)) and math.isfinite(float(total_exact)):
                w.attr("torch_overflows", 1)
                w.tensor("total_exact", torch.tensor([float(total_exact)], dtype=torch.float64))
                for k in range(2):
                    w.tensor("out_exact%d" % k, exact[k].grad.to(dtype))
        for k in range(2):
            w.tensor("out%d" % k, params[k].grad)
        w.end()
    w.close()


# ------------------------------------------------------------- schedules

SCHED_STEPS = 30


def make_opt(kind, lrs=(0.1, 0.02)):
    """An optimizer over two groups (one parameter each) with these lrs."""
    ps = [torch.zeros(2, requires_grad=True) for _ in lrs]
    groups = [dict(params=[p], lr=lr) for p, lr in zip(ps, lrs)]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)
    if kind == "sgd_plain":
        return torch.optim.SGD(groups, lr=lrs[0])
    if kind == "adam":
        return torch.optim.Adam(groups, lr=lrs[0], betas=(0.9, 0.99))
    raise ValueError(kind)


L = torch.optim.lr_scheduler

# name, optimizer kind, maker of the scheduler, metrics (for ReduceLROnPlateau)
PLATEAU_METRICS = [1.0, 0.95, 0.93, 0.93, 0.92, 0.95, 0.91, 0.5, 0.6, 0.6, 0.6, 0.6, 0.49, 0.7,
                   0.7, 0.7, 0.7, 0.7, 0.7, float("nan"), 0.7, 0.7, 0.2, 0.3, 0.3, 0.3, 0.3,
                   0.3, 0.3, 0.3]
SCHEDS = [
    ("step", "sgd", lambda o: L.StepLR(o, step_size=3, gamma=0.5)),
    ("multistep", "sgd", lambda o: L.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3)),
    ("exponential", "sgd", lambda o: L.ExponentialLR(o, gamma=0.9)),
    ("cosine", "sgd", lambda o: L.CosineAnnealingLR(o, T_max=10, eta_min=0.001)),
    ("cosine_zero_min", "sgd", lambda o: L.CosineAnnealingLR(o, T_max=7)),
    ("warm_restarts", "sgd", lambda o: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                       eta_min=0.01)),
    ("warm_restarts_mult1", "sgd", lambda o: L.CosineAnnealingWarmRestarts(o, T_0=4)),
    ("linear_warmup", "sgd", lambda o: L.LinearLR(o, start_factor=0.25, end_factor=1.0,
                                                  total_iters=4)),
    ("linear_decay", "sgd", lambda o: L.LinearLR(o, start_factor=1.0, end_factor=0.1,
                                                 total_iters=20)),
    ("onecycle_cos", "sgd", lambda o: L.OneCycleLR(o, max_lr=[0.5, 0.1], total_steps=SCHED_STEPS)),
    ("onecycle_linear_3phase", "sgd",
     lambda o: L.OneCycleLR(o, max_lr=0.4, total_steps=SCHED_STEPS, pct_start=0.25,
                            anneal_strategy="linear", three_phase=True, div_factor=10.0,
                            final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9)),
    ("onecycle_adam", "adam", lambda o: L.OneCycleLR(o, max_lr=0.01, total_steps=SCHED_STEPS,
                                                      pct_start=0.4)),
    ("onecycle_no_momentum", "sgd_plain",
     lambda o: L.OneCycleLR(o, max_lr=0.3, total_steps=SCHED_STEPS, cycle_momentum=False)),
    ("onecycle_sgd_plain", "sgd_plain",
     lambda o: L.OneCycleLR(o, max_lr=0.3, total_steps=SCHED_STEPS)),
    ("plateau_min_rel", "sgd",
     lambda o: L.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=2, threshold=0.01,
                                   cooldown=1, min_lr=[0.01, 0.001])),
    ("plateau_max_abs", "sgd",
     lambda o: L.ReduceLROnPlateau(o, mode="max", factor=0.3, patience=1, threshold=0.05,
                                   threshold_mode="abs", eps=1e-3)),
    ("plateau_min_abs", "sgd",
     lambda o: L.ReduceLROnPlateau(o, mode="min", factor=0.1, patience=0, threshold=0.0,
                                   threshold_mode="abs", min_lr=0.0005)),
    ("sequential_warmup_cosine", "sgd",
     lambda o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.1, total_iters=5),
                                  L.CosineAnnealingLR(o, T_max=25, eta_min=0.001)], milestones=[5])),
    ("sequential_three", "sgd",
     lambda o: L.SequentialLR(o, [L.ExponentialLR(o, gamma=0.8), L.StepLR(o, step_size=2, gamma=0.5),
                                  L.LinearLR(o, start_factor=0.5, total_iters=6)],
                              milestones=[4, 12])),
    ("chained", "sgd",
     lambda o: L.ChainedScheduler([L.ExponentialLR(o, gamma=0.95),
                                   L.MultiStepLR(o, milestones=[3, 8], gamma=0.5)])),
]


def momenta(opt):
    return [g["betas"][0] if "betas" in g else g.get("momentum", 0.0) for g in opt.param_groups]


def write_sched(path):
    w = Writer(path)
    for name, kind, make in SCHEDS:
        opt = make_opt(kind)
        s = make(opt)
        w.group("sched_" + name, optim=kind, steps=SCHED_STEPS)
        lrs = [[g["lr"] for g in opt.param_groups]]
        moms = [momenta(opt)]
        for step in range(SCHED_STEPS):
            opt.step()
            if name.startswith("plateau"):
                s.step(PLATEAU_METRICS[step])
            else:
                s.step()
            lrs.append([g["lr"] for g in opt.param_groups])
            moms.append(momenta(opt))
        if name.startswith("plateau"):
            w.tensor("metrics", torch.tensor(PLATEAU_METRICS, dtype=torch.float64))
        w.tensor("lr", torch.tensor(lrs, dtype=torch.float64))
        w.tensor("momentum", torch.tensor(moms, dtype=torch.float64))
        w.end()
    w.close()


# -------------------------------------------------------- nn.Sequential

def write_sequential(st_path, path, dtype):
    """nn.Sequential(Linear(4,5), LeakyReLU(0.2), Linear(5,3),
    GELU(approximate='tanh'), Linear(3,2), Sigmoid()): its state dict
    (0.weight, 0.bias, 2.weight, ..., 4.bias) as safetensors, and an input
    with the Sequential's output."""
    torch.manual_seed(77)
    net = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.LeakyReLU(0.2), torch.nn.Linear(5, 3),
                              torch.nn.GELU(approximate="tanh"), torch.nn.Linear(3, 2),
                              torch.nn.Sigmoid()).to(dtype)
    gt.write_safetensors(st_path, list(net.state_dict().items()), dtype)
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(78), dtype=torch.float64).to(dtype)
    w = Writer(path)
    w.group("sequential")
    w.tensor("x", x)
    w.tensor("y", net(x))
    w.end()
    w.close()


if __name__ == "__main__":
    import warnings
    warnings.filterwarnings("ignore")
    os.makedirs(GOLDEN, exist_ok=True)
    for dtype, tag in [(torch.float32, "f32"), (torch.float64, "f64")]:
        write_optim(os.path.join(GOLDEN, "toolkit_optim_%s.txt" % tag), dtype)
        write_clip(os.path.join(GOLDEN, "toolkit_clip_%s.txt" % tag), dtype)
        write_sequential(os.path.join(GOLDEN, "toolkit_sequential_%s.safetensors" % tag),
                         os.path.join(GOLDEN, "toolkit_sequential_%s.txt" % tag), dtype)
    write_sched(os.path.join(GOLDEN, "toolkit_sched.txt"))
    print("wrote tests/golden/toolkit_*")
