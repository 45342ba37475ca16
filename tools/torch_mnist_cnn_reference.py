#!/usr/bin/env python3
"""The PyTorch reference for examples/mnist_cnn.c: the same LeNet-style
network and recipe, run over several seeds, printing each seed's test
accuracy and the median. The figures quoted in examples/mnist_cnn.c and
docs/data.md come from this script (Debian's python3-torch).

    /usr/bin/python3 tools/torch_mnist_cnn_reference.py               # bundled 8k/2k, 5 epochs
    /usr/bin/python3 tools/torch_mnist_cnn_reference.py --bn --dropout 0.2
    /usr/bin/python3 tools/torch_mnist_cnn_reference.py --data /usr/share/datasets/fashion-mnist
    /usr/bin/python3 tools/torch_mnist_cnn_reference.py --seeds 5     # fewer seeds (default 21)
    /usr/bin/python3 tools/torch_mnist_cnn_reference.py --first-seed 21 --seeds 30

Recipe: conv1 1->6 5x5 padding 2, (BatchNorm2d), ReLU, max pool 2;
conv2 6->16 5x5, (BatchNorm2d), ReLU, max pool 2; fc1 400->120 ReLU
(dropout), fc2 120->84 ReLU (dropout), fc3 84->10; PyTorch's default
initialisation; cross entropy averaged over the batch; SGD lr 0.01,
momentum 0.9; batch 64 reshuffled every epoch, the last partial batch
kept; inputs scaled to [0,1] and normalised with mean 0.1307, std 0.3081;
evaluation mode (running statistics, no dropout) for the test set.
"""
import argparse
import os
import statistics
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_mnist_reference import load  # noqa: E402


class LeNet(nn.Module):
    """examples/lenet.h: the same layers, registered in the same order, so
    the state dict has the same names as tapegrad's registry."""

    def __init__(self, bn=False, dropout=0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        if bn:
            self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 16, 5)
        if bn:
            self.bn2 = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        self.bn = bn
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = x.reshape(-1, 1, 28, 28)
        x = self.conv1(x)
        if self.bn:
            x = self.bn1(x)
        x = F.max_pool2d(F.relu(x), 2)
        x = self.conv2(x)
        if self.bn:
            x = self.bn2(x)
        x = F.max_pool2d(F.relu(x), 2).reshape(-1, 400)
        x = self.drop(F.relu(self.fc1(x)))
        x = self.drop(F.relu(self.fc2(x)))
        return self.fc3(x)


def run(seed, xtr, ytr, xte, yte, a):
    torch.manual_seed(seed)
    model = LeNet(a.bn, a.dropout)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    n = len(xtr)
    train_loss = float("nan")
    for _ in range(a.epochs):
        model.train()
        perm = torch.randperm(n)
        total = 0.0
        for s in range(0, n, a.batch):
            idx = perm[s:s + a.batch]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        train_loss = total / n
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(xte[s:s + 1000]) for s in range(0, len(xte), 1000)])
        acc = (out.argmax(1) == yte).double().mean().item() * 100
        return acc, train_loss, F.cross_entropy(out, yte).item()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(here, "..", "data", "mnist"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seeds", type=int, default=21)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--bn", action="store_true")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    xtr, ytr = load(a.data, True)
    xte, yte = load(a.data, False)
    accs, losses = [], []
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        acc, train_loss, test_loss = run(seed, xtr, ytr, xte, yte, a)
        accs.append(acc)
        losses.append(train_loss)
        print("seed %2d  test accuracy %.2f%%  last epoch's train loss %.4f  test loss %.4f"
              % (seed, acc, train_loss, test_loss), flush=True)
    print("%s%s%s, %d train / %d test, %d epoch(s): median %.2f%%  min %.2f%%  max %.2f%%  "
          "(%d seeds)" % (a.data, " --bn" if a.bn else "",
                          " --dropout %g" % a.dropout if a.dropout else "", len(xtr), len(xte),
                          a.epochs, statistics.median(accs), min(accs), max(accs), len(accs)))
    print("last epoch's mean train loss per sample: median %.4f  min %.4f  max %.4f"
          % (statistics.median(losses), min(losses), max(losses)))


if __name__ == "__main__":
    main()
