#!/usr/bin/env python3
"""Golden data for tests/io/test_io.c: safetensors weights in both directions.

    /usr/bin/python3 tests/gen_golden_io.py          # write the PyTorch files, then check
    /usr/bin/python3 tests/gen_golden_io.py --check  # only check the tapegrad-written files

1. PyTorch -> tapegrad. A small model, fc2(tanh(fc1(x))) with fc1 = Linear(6, 5)
   and fc2 = Linear(5, 3), initialised by torch.manual_seed(0) and nn.Linear's
   default, has its state_dict saved as safetensors in F32 and in F64
   (tests/golden/io_torch_model_{f32,f64}.safetensors), with an input x [4, 6]
   and PyTorch's output in tests/golden/io_torch_out_{f32,f64}.txt. The C test
   loads the weights into tapegrad, runs the same forward and compares.

2. tapegrad -> PyTorch. tests/io/test_io.c (test `safetensors.tapegrad_file`)
   builds the same architecture with fixed weights, saves it with
   tg_params_save and writes its own input and output; those files are
   committed as tests/golden/io_tapegrad_model_{f32,f64}.safetensors and
   io_tapegrad_out_{f32,f64}.txt (the C test regenerates them into the golden
   directory when run with TG_IO_WRITE_GOLDEN=1, and otherwise checks that
   tapegrad still writes the committed bytes). This script reads those files
   with PyTorch, loads the weights into the model with load_state_dict
   (strict, so names and shapes must match), runs x through it and compares
   with tapegrad's output.

Debian has no python3-safetensors, so the files are read and written here by
a small implementation of the format (an 8-byte little-endian header length,
a JSON header padded with spaces to a multiple of 8, then the raw
little-endian data), laid out as the reference writer does: tensors sorted by
name, data in the same order, __metadata__ {"format": "pt"}. If the
`safetensors` package is available it is used as a second reader.

Text files: for each tensor a line "<name> <ndim> <d0> <d1> ..." and a line of
its values (Python repr, exact).
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")

DTYPES = {"F32": (torch.float32, np.dtype("<f4")), "F64": (torch.float64, np.dtype("<f8"))}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 5)
        self.fc2 = nn.Linear(5, 3)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


def save_safetensors(path, tensors):
    """tensors: {name: torch tensor}; all of one float dtype."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        dt = {torch.float32: "F32", torch.float64: "F64"}[t.dtype]
        raw = t.numpy().astype(DTYPES[dt][1]).tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_safetensors(path):
    """The reader's checks: header bounds, JSON, dtypes, offsets tiling the data."""
    buf = open(path, "rb").read()
    (n,) = struct.unpack("<Q", buf[:8])
    assert n <= 100_000_000 and 8 + n <= len(buf), "bad header length"
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = buf[8 + n:]
    header.pop("__metadata__", None)
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in header.items())
    at = 0
    for b, e, k in spans:
        assert b == at, "tensor %s not contiguous" % k
        at = e
    assert at == len(data), "data length"
    out = {}
    for k, v in header.items():
        tdt, ndt = DTYPES[v["dtype"]]
        b, e = v["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype=ndt).reshape(v["shape"])
        assert arr.size * ndt.itemsize == e - b
        out[k] = torch.from_numpy(arr.copy()).to(tdt)
    try:  # a second, independent reader when the real package is present
        from safetensors.torch import load_file
        ref = load_file(path)
        assert ref.keys() == out.keys()
        for k in out:
            assert torch.equal(ref[k], out[k]), k
    except ImportError:
        pass
    return out


def fmt(v):
    return repr(float(v))


def write_text(path, tensors):
    with open(path, "w") as f:
        for name, t in tensors:
            f.write("%s %d %s\n" % (name, t.dim(), " ".join(str(d) for d in t.shape)))
            f.write(" ".join(fmt(v) for v in t.detach().reshape(-1).double().tolist()) + "\n")


def read_text(path, dtype):
    out = {}
    with open(path) as f:
        lines = f.read().splitlines()
    for i in range(0, len(lines), 2):
        head = lines[i].split()
        name, nd, dims = head[0], int(head[1]), [int(d) for d in head[2:]]
        assert len(dims) == nd
        vals = [float(v) for v in lines[i + 1].split()]
        out[name] = torch.tensor(vals, dtype=dtype).reshape(dims)
    return out


def write_torch_files():
    torch.manual_seed(0)
    net = Net()
    x = torch.randn(4, 6)
    for tag, dtype in (("f32", torch.float32), ("f64", torch.float64)):
        m = Net()
        m.load_state_dict(net.state_dict())
        m = m.to(dtype)
        xd = x.to(dtype)
        with torch.no_grad():
            out = m(xd)
        save_safetensors(os.path.join(GOLDEN, "io_torch_model_%s.safetensors" % tag), m.state_dict())
        write_text(os.path.join(GOLDEN, "io_torch_out_%s.txt" % tag), [("x", xd), ("out", out)])
        # the writer and reader agree with each other
        back = load_safetensors(os.path.join(GOLDEN, "io_torch_model_%s.safetensors" % tag))
        for k, v in m.state_dict().items():
            assert torch.equal(back[k], v), k
        print("wrote io_torch_model_%s.safetensors and io_torch_out_%s.txt" % (tag, tag))


def check_tapegrad_files():
    ok = True
    for tag, dtype, rtol, atol in (("f32", torch.float32, 1e-5, 1e-6),
                                   ("f64", torch.float64, 1e-12, 1e-14)):
        st = os.path.join(GOLDEN, "io_tapegrad_model_%s.safetensors" % tag)
        txt = os.path.join(GOLDEN, "io_tapegrad_out_%s.txt" % tag)
        if not (os.path.exists(st) and os.path.exists(txt)):
            print("missing %s or %s: run the C test with TG_IO_WRITE_GOLDEN=1" % (st, txt))
            ok = False
            continue
        weights = load_safetensors(st)
        m = Net().to(dtype)
        m.load_state_dict(weights, strict=True)  # names and shapes must match
        io = read_text(txt, dtype)
        with torch.no_grad():
            out = m(io["x"])
        err = (out - io["out"]).abs().max().item()
        good = torch.allclose(out, io["out"], rtol=rtol, atol=atol)
        print("tapegrad-written %s weights in PyTorch: max |torch - tapegrad| = %.3g (%s)"
              % (tag, err, "ok" if good else "MISMATCH"))
        ok = ok and good
    return ok


def main():
    if "--check" not in sys.argv:
        write_torch_files()
    sys.exit(0 if check_tapegrad_files() else 1)


if __name__ == "__main__":
    main()
