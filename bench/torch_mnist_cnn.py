#!/usr/bin/python3
"""bench_mnist_cnn.c in PyTorch: training epochs of the mnist_cnn demo's
LeNet (tools/torch_mnist_cnn_reference.py's, --bn: batch norm after each
convolution) with the demo's recipe: cross entropy averaged over the batch,
SGD lr 0.01 momentum 0.9, batches of 64 shuffled, x = (pixel/255 −
0.1307)/0.3081, on Fashion-MNIST (/usr/share/datasets/fashion-mnist) or
random data of the same shape. The images stay uint8 in memory and each
batch is converted, as tapegrad's dataset does. Prints seconds per epoch
(or for --steps N steps), samples/s and peak RSS.

usage: torch_mnist_cnn.py [--data DIR] [--synthetic] [--bn] [--threads T]
                          [--epochs E] [--steps N] [--warmup STEPS] [--csv]
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from torch_mlp import images_or_synthetic, peak_rss_mb, rss_now_mb  # noqa: E402
from torch_mnist_cnn_reference import LeNet  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--bn", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--steps", type=int, default=-1)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--csv", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    images, labels, name = images_or_synthetic(args, "torch_mnist_cnn")

    model = LeNet(args.bn)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    n = images.shape[0]

    def step(idx):
        x = (images[idx].float().div_(255) - 0.1307) / 0.3081
        loss = F.cross_entropy(model(x), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    perm = torch.randperm(n)
    for i in range(args.warmup):
        step(perm[i * 64:(i + 1) * 64])

    if not args.csv:
        print(f"torch_mnist_cnn: torch {torch.__version__}, {name}, LeNet"
              f"{' + batch norm' if args.bn else ''}, {torch.get_num_threads()} thread(s), "
              f"batch 64, SGD lr 0.01 momentum 0.9")
    for e in range(args.epochs):
        perm = torch.randperm(n)
        t0 = time.perf_counter()
        total, samples, steps = 0.0, 0, 0
        for i in range(0, n, 64):
            if 0 <= args.steps <= steps:
                break
            idx = perm[i:i + 64]
            total += step(idx) * len(idx)
            samples += len(idx)
            steps += 1
        secs = time.perf_counter() - t0
        rss = peak_rss_mb()
        if args.csv:
            print(f"mnist_cnn{'_bn' if args.bn else ''},pytorch,torch,-,{torch.get_num_threads()},"
                  f"{secs:.4f},{samples / secs:.1f},0,{rss:.1f},0,{total / samples:.5f},"
                  f"{rss_now_mb():.1f},{steps}")
        else:
            print(f"epoch {e}: {secs:.3f} s for {steps} steps, {samples / secs:.0f} samples/s; "
                  f"peak RSS {rss:.1f} MB ({rss_now_mb():.1f} MB at the end); "
                  f"mean loss {total / samples:.4f}")


if __name__ == "__main__":
    main()
