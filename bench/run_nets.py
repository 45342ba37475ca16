#!/usr/bin/python3
"""The three demo networks beside PyTorch, interleaved, medians and ratios
(issue "Networks beyond MLPs", docs/speed.md).

    cmake -S . -B build && cmake --build build -j2
    /usr/bin/python3 bench/run_nets.py --build build [--runs 5] [--threads 1 2]

Each round runs, one after the other so that both sides see the same
machine load:
  - mnist_cnn: bench_mnist_cnn vs bench/torch_mnist_cnn.py, --steps steps
    of batch 64 on Fashion-MNIST (seconds; peak memory from the same runs);
  - char_lstm at hidden 128 and 512: bench_char_lstm vs bench/torch_lm.py
    --model char_lstm (ms a training step);
  - tiny_gpt: bench_tiny_gpt vs bench/torch_lm.py --model tiny_gpt (ms a
    step).
For each, the median over --runs rounds of each side, and their ratio
(tapegrad / PyTorch; the goals: mnist_cnn 0.5, char_lstm 0.5, tiny_gpt
0.75). Each side runs with the same thread count (OPENBLAS_NUM_THREADS=1
for tapegrad's own GEMM; PyTorch's torch.set_num_threads).
"""
import argparse
import os
import statistics
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"


def last_csv(cmd):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    rows = [line.split(",") for line in out.splitlines() if "," in line]
    return rows[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--cnn-steps", type=int, default=300)
    ap.add_argument("--only", nargs="*", help="mnist_cnn char_lstm_128 char_lstm_512 tiny_gpt")
    a = ap.parse_args()
    b = os.path.join(a.build, "bench")
    # (name, goal, tapegrad command, PyTorch command, column of the time, unit)
    cases = []
    for th in a.threads:
        t = ["--threads", str(th)]
        cases += [
            (f"mnist_cnn {th}T", 0.5,
             [os.path.join(b, "bench_mnist_cnn"), "--steps", str(a.cnn_steps), "--csv"] + t,
             [PY, os.path.join(HERE, "torch_mnist_cnn.py"), "--steps", str(a.cnn_steps),
              "--csv"] + t, 5, "s"),
            (f"char_lstm_128 {th}T", 0.5,
             [os.path.join(b, "bench_char_lstm"), "--hidden", "128", "--csv"] + t,
             [PY, os.path.join(HERE, "torch_lm.py"), "--model", "char_lstm", "--hidden", "128",
              "--csv"] + t, 3, "ms"),
            (f"char_lstm_512 {th}T", 0.5,
             [os.path.join(b, "bench_char_lstm"), "--hidden", "512", "--csv"] + t,
             [PY, os.path.join(HERE, "torch_lm.py"), "--model", "char_lstm", "--hidden", "512",
              "--csv"] + t, 3, "ms"),
            (f"tiny_gpt {th}T", 0.75,
             [os.path.join(b, "bench_tiny_gpt"), "--csv"] + t,
             [PY, os.path.join(HERE, "torch_lm.py"), "--model", "tiny_gpt", "--csv"] + t,
             3, "ms"),
        ]
    if a.only:
        cases = [c for c in cases if c[0].split()[0] in a.only]
    times = {c[0]: ([], []) for c in cases}
    for r in range(a.runs):
        for name, _, tg, pt, col, _ in cases:
            times[name][0].append(float(last_csv(tg)[col]))
            times[name][1].append(float(last_csv(pt)[col]))
        print(f"round {r + 1} of {a.runs} done", flush=True)
    print(f"{'case':<20} {'tapegrad':>10} {'PyTorch':>10} {'ratio':>7} {'goal':>6}")
    for name, goal, _, _, _, unit in cases:
        tg, pt = (statistics.median(v) for v in times[name])
        print(f"{name:<20} {tg:>8.3f}{unit:<2} {pt:>8.3f}{unit:<2} {tg / pt:>7.2f} {goal:>6}"
              f"{'  met' if tg / pt <= goal else ''}")


if __name__ == "__main__":
    main()
