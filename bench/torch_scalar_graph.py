#!/usr/bin/python3
"""PyTorch's side of bench/core/bench_scalar_graph.c: the same scalar graph
("Fastest Autograd in the West", A. Rogozhnikov, 2023) on 0-d tensors, as the
article runs it.

    ./build/bench/bench_scalar_graph --dump /tmp/sg.txt
    /usr/bin/python3 bench/torch_scalar_graph.py /tmp/sg.txt [--runs R] [--threads T]

It reads the inputs and tapegrad's value and gradient of every node from the
dump, checks its own against them (one untimed run that keeps every node's
gradient), then times forward + backward (median of R runs) and prints the
ratios to tapegrad's times from the same dump.
"""
import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def graph(inputs, ops, keep=False):
    nodes = list(inputs)
    for k in range(ops):
        m = k % 4
        if m == 0:
            nodes.append(F.softplus(nodes[-10]))
        elif m == 1:
            nodes.append(sum(nodes[-30:-10:5]))
        elif m == 2:
            nodes.append(nodes[-20] * nodes[-10])
        else:
            s = torch.softmax(torch.stack(nodes[-4:]), 0)
            nodes.extend(s[j] for j in range(4))  # (unbind's outputs break retain_grad in 1.13)
    if keep:
        for n in nodes[len(inputs):]:
            n.retain_grad()
    return nodes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dump")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    vals, ins, times = [], [], {}
    ops = None
    for line in open(a.dump):
        w = line.split()
        if w[0] == "ops":
            ops = int(w[1])
        elif w[0] in ("record", "replay", "loop"):
            times[w[0]] = float(w[1])
        elif w[0] == "in":
            ins.append(float(w[1]))
        elif w[0] == "node":
            vals.append((float(w[1]), float(w[2])))
    dtype = torch.float32
    leaves = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in ins]
    nodes = graph(leaves, ops, keep=True)
    nodes[-1].backward()
    worst = 0.0
    for n, (v, g) in zip(nodes, vals):
        gv = 0.0 if n.grad is None else float(n.grad)
        for mine, theirs in ((float(n), v), (gv, g)):
            if theirs == 0 and mine == 0:
                continue
            worst = max(worst, abs(mine - theirs) / max(abs(theirs), 1e-30))
    ok = worst < 1e-3
    print("PyTorch %s: every node's value and gradient against tapegrad's: largest relative "
          "difference %.2g (%s)" % (torch.__version__, worst, "agree" if ok else "DIFFER"))
    t = []
    for _ in range(a.runs):
        leaves = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in ins]
        t0 = time.perf_counter()
        nodes = graph(leaves, ops)
        nodes[-1].backward()
        t.append(time.perf_counter() - t0)
    mt = statistics.median(t)
    print("  PyTorch forward + backward  %9.1f ms  (median of %d, %d thread%s)"
          % (1e3 * mt, a.runs, a.threads, "" if a.threads == 1 else "s"))
    for k in ("record", "replay", "loop"):
        if k in times:
            print("  tapegrad %-7s %9.3f ms  = 1/%.0f of PyTorch's" % (k, 1e3 * times[k],
                                                                  mt / times[k]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
