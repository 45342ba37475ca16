#!/usr/bin/python3
"""bench_hvp.c in PyTorch: a gradient against a Hessian-vector product on the
demo network, 784-500-256-10 MLP (ReLU, nn.Linear's initialisation), cross
entropy summed over a batch of 64 random inputs N(0, 1) and labels, a
direction v ~ N(0, 1) over every parameter. Each repetition times

  forward        the loss alone
  gradient       forward + torch.autograd.grad of the 6 parameters
  create_graph   forward + the same with create_graph=True
  hvp            forward + double backward: g = grad(loss, create_graph=True),
                 then grad(sum(g * v)), what tg_hvp does
  functional     torch.autograd.functional.hvp (which runs its own forward,
                 and whose double-vjp trick costs one more backward pass)

and prints the medians and hvp / gradient.

usage: torch_hvp.py [--reps R] [--threads T] [--csv]
"""
import argparse
import statistics
import time

import torch

BATCH = 64
SIZES = [784, 500, 256, 10]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=51)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--csv", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)

    layers = [torch.nn.Linear(i, o) for i, o in zip(SIZES[:-1], SIZES[1:])]
    params = [p for l in layers for p in (l.weight, l.bias)]
    x = torch.randn(BATCH, SIZES[0])
    y = torch.randint(0, SIZES[-1], (BATCH,))
    v = [torch.randn_like(p) for p in params]

    def loss_of(ps):
        h = x
        for k in range(len(layers)):
            h = torch.nn.functional.linear(h, ps[2 * k], ps[2 * k + 1])
            if k + 1 < len(layers):
                h = torch.relu(h)
        return torch.nn.functional.cross_entropy(h, y, reduction="sum")

    def forward():
        return loss_of(params)

    def gradient():
        return torch.autograd.grad(loss_of(params), params)

    def create_graph():
        return torch.autograd.grad(loss_of(params), params, create_graph=True)

    def hvp():
        g = torch.autograd.grad(loss_of(params), params, create_graph=True)
        s = sum((gi * vi).sum() for gi, vi in zip(g, v))
        return torch.autograd.grad(s, params)

    def functional():
        return torch.autograd.functional.hvp(lambda *ps: loss_of(ps), tuple(params), tuple(v))

    kinds = [("forward", forward), ("gradient", gradient), ("create_graph", create_graph),
             ("hvp", hvp), ("functional", functional)]
    times = {name: [] for name, _ in kinds}
    for r in range(-3, args.reps):  # 3 rounds of warm-up
        for name, fn in kinds:  # interleaved: each sees the same machine
            t0 = time.perf_counter()
            fn()
            el = time.perf_counter() - t0
            if r >= 0:
                times[name].append(el)
    med = {name: statistics.median(ts) * 1e3 for name, ts in times.items()}
    ratio = med["hvp"] / med["gradient"]
    if args.csv:
        print("hvp,torch,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f" % (
            args.threads, med["forward"], med["gradient"], med["create_graph"], med["hvp"],
            ratio, med["functional"]))
        return
    n = sum(p.numel() for p in params)
    print("torch_hvp: PyTorch %s, float32, %d thread%s; MLP 784-500-256-10 ReLU, batch %d, "
          "%d parameters; median of %d runs" % (torch.__version__, args.threads,
                                                "" if args.threads == 1 else "s", BATCH, n,
                                                args.reps))
    notes = {"gradient": "forward + autograd.grad", "create_graph": "the same, create_graph",
             "hvp": "forward + double backward", "functional": "autograd.functional.hvp"}
    for name, _ in kinds:
        note = "   (%s)" % notes[name] if name in notes else ""
        print("  %-13s %8.3f ms%s" % (name, med[name], note))
    print("hvp / gradient = %.2f (functional.hvp / gradient = %.2f)" % (
        ratio, med["functional"] / med["gradient"]))


if __name__ == "__main__":
    main()
