#!/usr/bin/python3
"""bench_mlp.c in PyTorch: one epoch of the 784-500-256-10 MLP with ReLU,
cross entropy summed over the batch, batch 64, SGD lr 0.001, on Fashion-MNIST
(/usr/share/datasets/fashion-mnist) or random data of the same shape. The
images stay uint8 in memory and each batch is converted to x = pixel / 255,
as bench_mlp does. Prints seconds per epoch, samples/s, effective GFLOP/s
(141.1 GFLOP per 60,000 samples) and peak RSS.

usage: torch_mlp.py [--data DIR] [--synthetic] [--threads T] [--epochs E]
                    [--warmup STEPS] [--csv]
"""
import argparse
import gzip
import os
import resource
import sys
import time

import numpy as np
import torch

EPOCH_GFLOP = 141.1


def rss_now_mb():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def peak_rss_mb():
    """VmHWM, as bench_mlp reads it: getrusage's ru_maxrss would carry over
    the parent's size across fork and exec."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_idx(path):
    with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data_dir):
    def find(stem):
        for name in (stem + ".gz", stem):
            p = os.path.join(data_dir, name)
            if os.path.exists(p):
                return p
        raise FileNotFoundError(os.path.join(data_dir, stem))
    images = read_idx(find("train-images-idx3-ubyte")).reshape(-1, 784)
    labels = read_idx(find("train-labels-idx1-ubyte"))
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def images_or_synthetic(args, who):
    """The training images (uint8 [n, 784]) and labels of args.data, or random
    ones of Fashion-MNIST's shape with --synthetic or when they are absent;
    and the data's name."""
    try:
        if args.synthetic:
            raise FileNotFoundError("--synthetic")
        images, labels = load(args.data)
        return images, labels, "fashion-mnist"
    except FileNotFoundError as e:
        if not args.synthetic:
            print(f"{who}: {e} not found; using random data of the same shape", file=sys.stderr)
        g = torch.Generator().manual_seed(42)
        images = torch.randint(0, 256, (60000, 784), dtype=torch.uint8, generator=g)
        labels = torch.randint(0, 10, (60000,), generator=g)
        return images, labels, "synthetic"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--csv", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    images, labels, name = images_or_synthetic(args, "torch_mlp")

    model = torch.nn.Sequential(
        torch.nn.Linear(784, 500), torch.nn.ReLU(),
        torch.nn.Linear(500, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10))
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    opt = torch.optim.SGD(model.parameters(), lr=0.001)
    n = images.shape[0]

    def step(idx):
        x = images[idx].float().div_(255)
        loss = loss_fn(model(x), labels[idx])
        opt.zero_grad(set_to_none=True)  # PyTorch 2's default; 1.13's is False
        loss.backward()
        opt.step()
        return loss.item()

    perm = torch.randperm(n)
    for i in range(args.warmup):
        step(perm[i * 64:(i + 1) * 64])

    if not args.csv:
        print(f"torch_mlp: torch {torch.__version__}, {name}, {torch.get_num_threads()} thread(s), "
              f"batch 64, SGD lr 0.001")
    for e in range(args.epochs):
        perm = torch.randperm(n)
        t0 = time.perf_counter()
        total = 0.0
        for i in range(0, n, 64):
            total += step(perm[i:i + 64])
        secs = time.perf_counter() - t0
        rss = peak_rss_mb()
        gflops = EPOCH_GFLOP * n / 60000 / secs
        if args.csv:
            print(f"mlp,pytorch,torch,-,{torch.get_num_threads()},{secs:.4f},{n / secs:.1f},"
                  f"{gflops:.2f},0,0,{rss:.1f},0,{total / n:.5f},{rss_now_mb():.1f}")
        else:
            print(f"epoch {e}: {secs:.3f} s, {n / secs:.0f} samples/s, {gflops:.1f} GFLOP/s "
                  f"effective; peak RSS {rss:.1f} MB ({rss_now_mb():.1f} MB at the end); "
                  f"mean loss {total / n:.4f}")


if __name__ == "__main__":
    main()
