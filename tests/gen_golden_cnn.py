#!/usr/bin/python3
"""Golden data for tests/nn/test_cnn_layers.c: a small CNN's weights and
buffers in both directions between PyTorch and tapegrad's layers.

    /usr/bin/python3 tests/gen_golden_cnn.py          # write the PyTorch files, then check
    /usr/bin/python3 tests/gen_golden_cnn.py --check  # only check the tapegrad-written files

1. PyTorch -> tapegrad. The CNN below (conv1 = Conv2d(2, 4, 3, padding=1),
   bn1 = BatchNorm2d(4), relu, max_pool2d(2), fc = Linear(36, 5)), seeded by
   torch.manual_seed(0) with PyTorch's default initialisation, trained for
   three forward passes in training mode (so that bn1's running statistics
   and num_batches_tracked = 3 are not their initial values), has its
   state_dict saved as safetensors (tests/golden/cnn_torch_model_{f32,f64}
   .safetensors: the parameters in F32 or F64, num_batches_tracked in I64 as
   PyTorch holds it). tests/golden/cnn_{f32,f64}.txt holds golden cases
   (tests/golden_writer.py, first and second order in the input x [3, 2, 6,
   6]): the network in evaluation mode (cnn_eval), in training mode
   (cnn_train: bn1 with the batch's statistics), and bn1's running_mean,
   running_var and num_batches_tracked after one training pass
   (cnn_train_stats, no gradient). The C test loads the file into
   tapegrad's layers and compares.

2. tapegrad -> PyTorch. The C test saves what it loaded with tg_params_save
   (tests/golden/cnn_tapegrad_model_{f32,f64}.safetensors: written when it
   runs with TG_CNN_WRITE_GOLDEN=1, otherwise compared byte for byte); this
   script loads those files into the PyTorch CNN with load_state_dict
   (strict: names, shapes and num_batches_tracked's int64 must be right) and
   checks that every tensor is PyTorch's own.
"""
import copy
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_golden_io  # noqa: E402
from golden_writer import GoldenWriter  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")

# the reader of gen_golden_io.py, taught the integer dtype of num_batches_tracked
gen_golden_io.DTYPES["I64"] = (torch.int64, np.dtype("<i8"))
ST_NAMES = {torch.float32: ("F32", "<f4"), torch.float64: ("F64", "<f8"),
            torch.int64: ("I64", "<i8")}


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 3 * 3, 5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        return self.fc(torch.flatten(x, 1))


def write_state(path, state):
    """A state dict as safetensors: tensors sorted by name, each in its own
    dtype (F32, F64 or I64), the header padded to 8 bytes."""
    header, data = {}, b""
    for name in sorted(state):
        dt, npdt = ST_NAMES[state[name].dtype]
        raw = state[name].detach().contiguous().numpy().astype(npdt).tobytes()
        header[name] = {"dtype": dt, "shape": list(state[name].shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def trained_model(dtype):
    torch.manual_seed(0)
    m = CNN().to(dtype)
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.randn(4, 2, 6, 6, dtype=torch.float64).to(dtype) * 2 + 0.5)
    return m


def write_torch_files():
    for tag, dtype in (("f32", torch.float32), ("f64", torch.float64)):
        model = trained_model(dtype)
        st = os.path.join(GOLDEN, "cnn_torch_model_%s.safetensors" % tag)
        write_state(st, model.state_dict())
        back = gen_golden_io.load_safetensors(st)
        for k, v in model.state_dict().items():
            assert torch.equal(back[k], v), k

        w = GoldenWriter(os.path.join(GOLDEN, "cnn_%s.txt" % tag))
        g = torch.Generator().manual_seed(11)
        x = torch.randn((3, 2, 6, 6), generator=g, dtype=torch.float64).to(dtype)

        def run(x, train):
            m = copy.deepcopy(model)  # the stored model never changes
            m.train(train)
            return m(x)

        def stats(x):
            m = copy.deepcopy(model)
            m.train()
            m(x)
            b = m.bn1
            return torch.cat([b.running_mean, b.running_var,
                              b.num_batches_tracked.to(dtype).reshape(1)]).detach()

        w.case("cnn_eval", "cnn_eval", lambda x: run(x, False), [x], seed=1)
        w.case("cnn_train", "cnn_train", lambda x: run(x, True), [x], seed=2)
        w.case("cnn_train_stats", "cnn_train_stats", stats, [x], grad_inputs=[], seed=3)
        w.close()
        print("wrote cnn_torch_model_%s.safetensors and cnn_%s.txt" % (tag, tag))


def check_tapegrad_files():
    ok = True
    for tag, dtype in (("f32", torch.float32), ("f64", torch.float64)):
        st = os.path.join(GOLDEN, "cnn_tapegrad_model_%s.safetensors" % tag)
        if not os.path.exists(st):
            print("missing %s: run the C test with TG_CNN_WRITE_GOLDEN=1" % st)
            ok = False
            continue
        m = CNN().to(dtype)
        m.load_state_dict(gen_golden_io.load_safetensors(st), strict=True)
        want = trained_model(dtype).state_dict()
        got = m.state_dict()
        same = all(torch.equal(got[k], want[k]) and got[k].dtype == want[k].dtype for k in want)
        print("tapegrad-written %s state in PyTorch's CNN (load_state_dict strict): %s"
              % (tag, "every tensor equal, num_batches_tracked int64" if same else "MISMATCH"))
        ok = ok and same
    return ok


if __name__ == "__main__":
    if "--check" not in sys.argv:
        write_torch_files()
    sys.exit(0 if check_tapegrad_files() else 1)
