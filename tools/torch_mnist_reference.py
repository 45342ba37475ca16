#!/usr/bin/env python3
"""The PyTorch reference for examples/mnist_mlp.c: the same network and
recipe, run over several seeds, printing each seed's test accuracy and the
median. The figures quoted in docs/data.md, in examples/mnist_mlp.c and in
tests/nn/test_mnist_train.c come from this script (Debian's python3-torch).

    /usr/bin/python3 tools/torch_mnist_reference.py                 # bundled 8k/2k, 5 epochs
    /usr/bin/python3 tools/torch_mnist_reference.py --epochs 1      # the one-epoch test
    /usr/bin/python3 tools/torch_mnist_reference.py --data /usr/share/datasets/fashion-mnist
    /usr/bin/python3 tools/torch_mnist_reference.py --binary        # digits 0 vs 1
    /usr/bin/python3 tools/torch_mnist_reference.py --seeds 5       # fewer seeds (default 21)

Recipe (the network and loop of the MLP notebook, courses/deep_learning/mlp.ipynb
in https://github.com/obs145628/ml-notebooks): 784-500-256-10, ReLU, nn.Linear's default init,
cross entropy summed over the batch, SGD lr 0.001 (no momentum), batch 64,
shuffled each epoch, the last partial batch kept (drop_last=False), inputs
scaled to [0,1] and normalised with mean 0.1307, std 0.3081. --binary keeps
the digits 0 and 1 only: 784-500-256-1, BCE with logits summed over the batch.
"""
import argparse
import gzip
import os
import statistics

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        raw = f.read()
    assert raw[0] == 0 and raw[1] == 0 and raw[2] == 0x08, path
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims)


def find(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(os.path.join(directory, stem))


def load(directory, train):
    prefix = "train" if train else "t10k"
    x = read_idx(find(directory, prefix + "-images-idx3-ubyte"))
    y = read_idx(find(directory, prefix + "-labels-idx1-ubyte"))
    x = torch.tensor(x.reshape(len(x), -1), dtype=torch.float32) / 255.0
    x = (x - 0.1307) / 0.3081
    return x, torch.tensor(y, dtype=torch.int64)


def run(seed, xtr, ytr, xte, yte, epochs, lr, batch, binary):
    torch.manual_seed(seed)
    outputs = 1 if binary else 10
    model = nn.Sequential(nn.Linear(784, 500), nn.ReLU(), nn.Linear(500, 256), nn.ReLU(),
                          nn.Linear(256, outputs))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    n = len(xtr)
    train_loss = float("nan")
    for _ in range(epochs):
        perm = torch.randperm(n)
        total = 0.0
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            out = model(xtr[idx])
            if binary:
                loss = F.binary_cross_entropy_with_logits(out[:, 0], ytr[idx].float(), reduction="sum")
            else:
                loss = F.cross_entropy(out, ytr[idx], reduction="sum")
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        train_loss = total / n
    with torch.no_grad():
        out = model(xte)
        if binary:
            pred = (out[:, 0] > 0).long()
            test_loss = F.binary_cross_entropy_with_logits(out[:, 0], yte.float(), reduction="sum")
        else:
            pred = out.argmax(1)
            test_loss = F.cross_entropy(out, yte, reduction="sum")
        acc = (pred == yte).double().mean().item() * 100
        return acc, train_loss, test_loss.item() / len(yte)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(here, "..", "data", "mnist"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seeds", type=int, default=21)
    ap.add_argument("--binary", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    xtr, ytr = load(a.data, True)
    xte, yte = load(a.data, False)
    if a.binary:
        keep = ytr < 2
        xtr, ytr = xtr[keep], ytr[keep]
        keep = yte < 2
        xte, yte = xte[keep], yte[keep]
    accs, losses = [], []
    for seed in range(a.seeds):
        acc, train_loss, test_loss = run(seed, xtr, ytr, xte, yte, a.epochs, a.lr, a.batch, a.binary)
        accs.append(acc)
        losses.append(train_loss)
        print("seed %2d  test accuracy %.2f%%  last epoch's train loss %.4f  test loss %.4f"
              % (seed, acc, train_loss, test_loss), flush=True)
    print("%s, %d train / %d test, %d epoch(s): median %.2f%%  min %.2f%%  max %.2f%%  (%d seeds)"
          % (a.data, len(xtr), len(xte), a.epochs, statistics.median(accs), min(accs),
             max(accs), len(accs)))
    print("last epoch's mean train loss per sample: median %.4f  min %.4f  max %.4f"
          % (statistics.median(losses), min(losses), max(losses)))


if __name__ == "__main__":
    main()
