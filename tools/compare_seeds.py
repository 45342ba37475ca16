#!/usr/bin/env python3
"""Compares the test accuracies of tapegrad's and PyTorch's runs of one
recipe over the same seeds: each side's median, mean and range, and the
Mann-Whitney rank-sum test of whether one side's accuracies tend to be
higher (normal approximation with the tie correction; two-sided p). The
seeds draw different initial weights and batch orders in the two
libraries (their generators differ), so the runs are compared as two
samples, not seed by seed.

    # run both sides (the tapegrad demo and tools/torch_mnist_cnn_reference.py)
    /usr/bin/python3 tools/compare_seeds.py --demo build/examples/mnist_cnn --seeds 151 \\
        --save tools/seed_runs/mnist_cnn_bundled.tsv
    # or read the saved runs again
    python3 tools/compare_seeds.py --load tools/seed_runs/mnist_cnn_bundled.tsv

Extra arguments after -- go to both programs (for example
-- --data /usr/share/datasets/fashion-mnist). A saved file has one line a
seed: `seed tapegrad_accuracy pytorch_accuracy` (percent), after a header.
"""
import argparse
import math
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_tapegrad(demo, seed, extra):
    out = subprocess.run([demo, "--seed", str(seed), "--threads", "1"] + extra, check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"final test accuracy ([0-9.]+)%", out)
    if not m:
        sys.exit(f"compare_seeds: no final accuracy in the output of {demo}")
    return float(m.group(1))


def run_pytorch(first, count, extra):
    ref = os.path.join(HERE, "torch_mnist_cnn_reference.py")
    out = subprocess.run(["/usr/bin/python3", ref, "--first-seed", str(first), "--seeds",
                          str(count)] + extra, check=True, capture_output=True, text=True).stdout
    acc = {}
    for line in out.splitlines():
        m = re.match(r"seed\s+(\d+)\s+test accuracy ([0-9.]+)%", line)
        if m:
            acc[int(m.group(1))] = float(m.group(2))
    return acc


def rank_sum(a, b):
    """Mann-Whitney U of a against b, its z and the two-sided p."""
    pooled = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    n = len(pooled)
    rank_a, ties, i = 0.0, 0, 0
    while i < n:
        j = i
        while j < n and pooled[j][0] == pooled[i][0]:
            j += 1
        mid = (i + 1 + j) / 2  # the mean of ranks i+1 .. j
        rank_a += mid * sum(1 for k in range(i, j) if pooled[k][1] == 0)
        ties += (j - i) ** 3 - (j - i)
        i = j
    n1, n2 = len(a), len(b)
    u = rank_a - n1 * (n1 + 1) / 2
    sd = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    z = (u - n1 * n2 / 2) / sd if sd > 0 else 0.0
    return u, z, math.erfc(abs(z) / math.sqrt(2))


def describe(name, v):
    return (f"{name:9s} median {statistics.median(v):.2f}%  mean {statistics.mean(v):.3f}%  "
            f"range {min(v):.2f}-{max(v):.2f}%")


def main():
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser()
    ap.add_argument("--demo", help="the tapegrad program (prints 'final test accuracy X%%')")
    ap.add_argument("--seeds", type=int, default=51)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--save", help="write the runs to this file")
    ap.add_argument("--load", help="read saved runs instead of running")
    a = ap.parse_args(argv)
    rows = []
    if a.load:
        with open(a.load) as f:
            for line in f:
                p = line.split()
                if len(p) == 3 and not line.startswith("#") and p[0].isdigit():
                    rows.append((int(p[0]), float(p[1]), float(p[2])))
    elif a.demo:
        seeds = range(a.first_seed, a.first_seed + a.seeds)
        pt = run_pytorch(a.first_seed, a.seeds, extra)
        rows = [(s, run_tapegrad(a.demo, s, extra), pt[s]) for s in seeds]
    else:
        ap.error("give --demo (to run) or --load")
    if len(rows) < 2:
        sys.exit("compare_seeds: fewer than two runs")
    if a.save:
        with open(a.save, "w") as f:
            f.write(f"# seed tapegrad pytorch (test accuracy, %); extra arguments: {' '.join(extra)}\n")
            for s, t, p in rows:
                f.write(f"{s} {t:.2f} {p:.2f}\n")
    tg = [t for _, t, _ in rows]
    pt = [p for _, _, p in rows]
    print(f"seeds {rows[0][0]}..{rows[-1][0]} ({len(rows)} runs a side)")
    print(describe("tapegrad", tg))
    print(describe("PyTorch", pt))
    u, z, p = rank_sum(tg, pt)
    print(f"Mann-Whitney U {u:.1f}  z {z:+.2f}  two-sided p {p:.3f} "
          f"({'no' if p >= 0.05 else 'a'} difference at the 5% level)")


if __name__ == "__main__":
    main()
