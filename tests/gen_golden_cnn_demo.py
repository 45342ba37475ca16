#!/usr/bin/python3
"""Golden data for the mnist_cnn demo's training-run parity test
(tests/nn/test_mnist_cnn.c), written by PyTorch.

    /usr/bin/python3 tests/gen_golden_cnn_demo.py

The network is the demo's (examples/lenet.h; its PyTorch twin, LeNet, is
defined once, in tools/torch_mnist_cnn_reference.py), in two variants:
"plain" and "bn" (batch norm after each convolution). For each, from
initial weights made by PyTorch (torch.manual_seed(7), its default
initialisation, in float32), it trains STEPS steps of the demo's recipe
(cross entropy averaged over the batch, SGD lr 0.01 momentum 0.9) on fixed
batches of the bundled MNIST: step k takes training images k·BATCH ..
(k+1)·BATCH − 1 in file order, normalised as tapegrad's batches are,
((p/255) − 0.1307)/0.3081 in the run's precision.

It writes, in tests/golden/:
  cnn_demo_init_<variant>.safetensors  the initial state (F32; float64 runs
                                       start from the same numbers), loaded by
                                       the test with tg_params_load
  cnn_demo_f32.txt / cnn_demo_f64.txt  per run (group <variant>): every step's
                                       loss, and three checksums of each final
                                       tensor (parameters and buffers):
                                       Σ w_i, Σ w_i·cos(i) and Σ |w_i| (the
                                       scale of the rounding floor)

The tolerance is derived from float rounding, measured here: the same run in
float32 and in float64 (the float64 run nearly exact by comparison) differs
only by rounding, and so does tapegrad's float run from PyTorch's float
run (other summation orders, about one rounding per operation, carried
through the steps). Each group records that measured float32 drift:
  loss_drift       max over the steps of |L32 − L64| / |L64|
  drift.<tensor>   |checksum32 − checksum64| for each checksum
The test allows a multiple of it (see there); in double, the drift scaled
by float64's epsilon over float32's.
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from gen_golden_cnn import write_state  # noqa: E402
from gen_golden_train import Writer  # noqa: E402
from torch_mnist_cnn_reference import LeNet  # noqa: E402
from torch_mnist_reference import find, read_idx  # noqa: E402

STEPS, BATCH, LR, MOMENTUM, SEED = 20, 32, 0.01, 0.9, 7
VARIANTS = (("plain", False), ("bn", True))


def batches(dtype):
    """The STEPS batches, as tapegrad's batching normalises them in dtype."""
    d = os.path.join(HERE, "..", "data", "mnist")
    raw = read_idx(find(d, "train-images-idx3-ubyte"))[:STEPS * BATCH].reshape(-1, 784)
    y = torch.tensor(read_idx(find(d, "train-labels-idx1-ubyte"))[:STEPS * BATCH],
                     dtype=torch.int64)
    x = (torch.tensor(raw, dtype=dtype) / 255 - 0.1307) / 0.3081
    return [(x[k * BATCH:(k + 1) * BATCH], y[k * BATCH:(k + 1) * BATCH]) for k in range(STEPS)]


def checksums(t):
    """Σ w_i, Σ w_i·cos(i) and Σ |w_i| over the flattened tensor, in float64."""
    w = t.detach().double().reshape(-1)
    c = torch.cos(torch.arange(w.numel(), dtype=torch.float64))
    return torch.tensor([w.sum().item(), (w * c).sum().item(), w.abs().sum().item()],
                        dtype=torch.float64)


class DemoWriter(Writer):
    """gen_golden_train's text format, naming this script."""

    def __init__(self, path):
        super().__init__(path)
        self.f.seek(0)
        self.f.truncate()
        self.f.write("# written by tests/gen_golden_cnn_demo.py with PyTorch %s; do not edit, "
                     "regenerate\n" % torch.__version__)


def train(init, bn, dtype):
    model = LeNet(bn).to(dtype)
    model.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v
                           for k, v in init.items()}, strict=True)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    losses = []
    for x, y in batches(dtype):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, {k: checksums(v) for k, v in model.state_dict().items()}


def main():
    torch.set_num_threads(1)
    runs = {}
    for variant, bn in VARIANTS:
        torch.manual_seed(SEED)
        init = LeNet(bn).state_dict()
        write_state(os.path.join(GOLDEN, "cnn_demo_init_%s.safetensors" % variant), init)
        runs[variant] = {tag: train(init, bn, dtype)
                         for tag, dtype in (("f32", torch.float32), ("f64", torch.float64))}
    for tag in ("f32", "f64"):
        w = DemoWriter(os.path.join(GOLDEN, "cnn_demo_%s.txt" % tag))
        for variant, bn in VARIANTS:
            (l32, c32), (l64, c64) = runs[variant]["f32"], runs[variant]["f64"]
            losses, sums = runs[variant][tag]
            drift = max(abs(a - b) / abs(b) for a, b in zip(l32, l64))
            w.group(variant, steps=STEPS, batch=BATCH, lr=LR, momentum=MOMENTUM,
                    batch_norm=int(bn), loss_drift=drift)
            w.tensor("losses", torch.tensor(losses, dtype=torch.float64))
            for name in sums:
                w.tensor(name, sums[name])
                w.tensor("drift." + name, (c32[name] - c64[name]).abs()[:2])
            w.end()
            print("%s %s: loss %.6f -> %.6f; float32 drift: loss %.2e relative, checksums up to "
                  "%.2e" % (tag, variant, losses[0], losses[-1], drift,
                            max((c32[n] - c64[n])[:2].abs().max().item() for n in sums)))
        w.close()
    print("wrote tests/golden/cnn_demo_{f32,f64}.txt and cnn_demo_init_{plain,bn}.safetensors")


if __name__ == "__main__":
    main()
