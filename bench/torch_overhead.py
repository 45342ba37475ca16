#!/usr/bin/python3
"""The chain of bench_overhead.c in PyTorch: UNITS units of
    y = tanh(y*a + b) - c          (mul, add, tanh, sub)
on [4]-element tensors from a leaf x that requires grad, then sum and
backward. Prints forward, backward and total ns per op (the sum counts as one
op), median of the repetitions.

usage: torch_overhead.py [--units U] [--reps R] [--threads T] [--csv]
"""
import argparse
import statistics
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=250)
    ap.add_argument("--reps", type=int, default=101)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--csv", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    xs = torch.tensor([0.1, -0.2, 0.3, 0.4])
    a = torch.tensor([0.9, 1.1, 0.8, 1.2])
    b = torch.tensor([0.01, 0.02, -0.03, 0.04])
    c = torch.tensor([0.001, 0.0, -0.002, 0.003])
    n_ops = 4 * args.units + 1
    fwd, bwd, tot = [], [], []
    for r in range(-5, args.reps):
        t0 = time.perf_counter()
        x = xs.clone().requires_grad_(True)
        y = x
        for _ in range(args.units):
            y = torch.tanh(y * a + b) - c
        loss = y.sum()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        if r >= 0:
            fwd.append((t1 - t0) / n_ops * 1e9)
            bwd.append((t2 - t1) / n_ops * 1e9)
            tot.append((t2 - t0) / n_ops * 1e9)
    f, bk, s = statistics.median(fwd), statistics.median(bwd), statistics.median(tot)
    if args.csv:
        print(f"overhead,pytorch,{n_ops},{f:.1f},{bk:.1f},{s:.1f}")
    else:
        print(f"torch_overhead: torch {torch.__version__}, chain of {n_ops} ops on [4] tensors, "
              f"median of {args.reps} runs")
        print(f"forward {f:.1f} ns/op, backward {bk:.1f} ns/op, total {s:.1f} ns/op "
              f"(dx[0] = {x.grad[0].item():.6g})")


if __name__ == "__main__":
    main()
