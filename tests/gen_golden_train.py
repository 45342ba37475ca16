#!/usr/bin/python3
"""Golden data for nn, optim and whole training runs (issue 5), written by PyTorch.

Run from anywhere with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_train.py
It writes, in tests/golden/:
  train_rng.txt                  the first numbers of tapegrad's RNG and
                                 initialisers for a few seeds, from a Python
                                 re-implementation of src/core/rng.c and src/nn/nn.c
                                 (same IEEE-754 operations in the same order,
                                 so the doubles are bit-identical)
  train_optim_f32.txt / _f64.txt single optimizer steps: torch.optim on given
                                 parameters and given gradients, 3 steps each;
                                 and 4 steps in which some gradients are None
  train_f32.txt / _f64.txt       whole training runs of a small MLP: initial
                                 weights (nn.Linear's own init, seed 1234),
                                 fixed batches, per-step losses and final
                                 weights for SGD/Adam/AdamW variants
  train_init_f32.safetensors / _f64.safetensors
                                 the same initial weights as safetensors,
                                 written by the small writer below
tests/nn/test_nn.c, test_optim.c and test_parity_train.c read them.

Text format (read by tests/nn/golden_train.h):
  group <name>                         a case or a run
  attr <key> <value>                   a number or a word
  tensor <name> <ndim> <dims...>       values (repr, exact) on the next line
  u64 <name> <n>                       unsigned 64-bit integers on the next line
  end
"""
import json
import math
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")

torch.set_num_threads(1)


# ----------------------------------------------------------------- writing

def _fmt(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(float(v))


class Writer:
    def __init__(self, path):
        self.path = path
        self.f = open(path, "w")
        self.f.write("# written by tests/gen_golden_train.py with PyTorch %s; do not edit, "
                     "regenerate\n" % torch.__version__)
        self.groups = set()

    def group(self, name, **attrs):
        assert name not in self.groups, name
        self.groups.add(name)
        self.f.write("group %s\n" % name)
        for k, v in attrs.items():
            self.attr(k, v)

    def attr(self, key, value):
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, (int, float)):
            value = _fmt(float(value)) if isinstance(value, float) else str(value)
        self.f.write("attr %s %s\n" % (key, value))

    def tensor(self, name, t):
        if not torch.is_tensor(t):
            t = torch.tensor(t, dtype=torch.float64)
        t = t.detach()
        dims = " ".join([str(t.dim())] + [str(d) for d in t.shape])
        vals = " ".join(_fmt(v) for v in t.reshape(-1).double().tolist())
        self.f.write("tensor %s %s\n%s\n" % (name, dims, vals))

    def u64(self, name, values):
        self.f.write("u64 %s %d\n%s\n" % (name, len(values), " ".join(str(v) for v in values)))

    def end(self):
        self.f.write("end\n")

    def close(self):
        self.f.close()


def write_safetensors(path, named, dtype):
    """A minimal safetensors writer: 8-byte little-endian header length, a
    JSON header {name: {dtype, shape, data_offsets}} padded with spaces to a
    multiple of 8, then the raw little-endian data in header order."""
    code = {torch.float32: ("F32", "<f"), torch.float64: ("F64", "<d")}[dtype]
    header, blobs, off = {}, [], 0
    for name, t in named:
        vals = t.detach().to(dtype).reshape(-1).tolist()
        blob = struct.pack("<%d%s" % (len(vals), code[1][1]), *vals)
        header[name] = {"dtype": code[0], "shape": list(t.shape),
                        "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    header["__metadata__"] = {"format": "pt", "written_by": "tests/gen_golden_train.py"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Reads back what write_safetensors wrote (to check it)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        fmt = {"F32": "f", "F64": "d"}[e["dtype"]]
        a, b = e["data_offsets"]
        buf = raw[8 + n + a:8 + n + b]
        vals = struct.unpack("<%d%s" % (len(buf) // struct.calcsize(fmt), fmt), buf)
        out[name] = torch.tensor(vals, dtype=torch.float64).reshape(e["shape"])
    return out


# ------------------------------------- tapegrad's RNG, re-implemented in Python

M64 = (1 << 64) - 1


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


class Rng:
    """src/core/rng.c: xoshiro256** seeded by splitmix64; uniform = top 53 bits
    · 2⁻⁵³; normal = Marsaglia's polar method with a portable log."""

    def __init__(self, seed):
        x = seed & M64
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))
        self.spare = None

    def next_u64(self):
        s = self.s
        result = (_rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
        return result

    def uniform(self):
        return float(self.next_u64() >> 11) * 2.0 ** -53

    def below(self, n):
        threshold = ((1 << 64) - n) % n
        while True:
            x = self.next_u64()
            if x >= threshold:
                return x % n

    @staticmethod
    def plog(x):
        m, e = math.frexp(x)
        if m < 0.70710678118654752440:
            m *= 2
            e -= 1
        s = (m - 1) / (m + 1)
        s2 = s * s
        poly = 1.0 / 25
        for k in range(11, -1, -1):
            poly = 1.0 / (2 * k + 1) + s2 * poly
        return float(e) * 0.69314718055994530942 + 2 * s * poly

    def normal(self):
        if self.spare is not None:
            v, self.spare = self.spare, None
            return v
        while True:
            u = 2 * self.uniform() - 1
            v = 2 * self.uniform() - 1
            s = u * u + v * v
            if not (s >= 1 or s == 0):
                break
        f = math.sqrt(-2 * self.plog(s) / s)
        self.spare = v * f
        return u * f

    def shuffle(self, idx):
        for i in range(len(idx) - 1, 0, -1):
            j = self.below(i + 1)
            idx[i], idx[j] = idx[j], idx[i]


def fans(shape):
    rf = 1
    for d in shape[2:]:
        rf *= d
    return shape[1] * rf, shape[0] * rf


def gain(nl, param):
    return {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0),
            "leaky_relu": math.sqrt(2.0 / (1 + param * param)), "selu": 3.0 / 4}[nl]


def init_uniform(n, a, b, r):
    return [a + (b - a) * r.uniform() for _ in range(n)]


def init_normal(n, mean, std, r):
    return [mean + std * r.normal() for _ in range(n)]


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def init_kaiming(shape, a, mode, nl, r, uniform):
    fi, fo = fans(shape)
    std = gain(nl, a) / math.sqrt(float(fi if mode == "fan_in" else fo))
    if uniform:
        bound = math.sqrt(3.0) * std
        return init_uniform(numel(shape), -bound, bound, r)
    return init_normal(numel(shape), 0, std, r)


def init_xavier(shape, g, r, uniform):
    fi, fo = fans(shape)
    std = g * math.sqrt(2.0 / float(fi + fo))
    if uniform:
        a = math.sqrt(3.0) * std
        return init_uniform(numel(shape), -a, a, r)
    return init_normal(numel(shape), 0, std, r)


def write_rng(path):
    w = Writer(path)
    for seed in [0, 1, 42, 2**64 - 1]:
        r = Rng(seed)
        w.group("seed_%d" % seed, seed=str(seed))
        w.u64("u64", [r.next_u64() for _ in range(16)])
        w.tensor("uniform", [r.uniform() for _ in range(16)])
        w.tensor("normal", [r.normal() for _ in range(17)])  # odd: the spare is used
        w.u64("below_10", [r.below(10) for _ in range(16)])
        w.u64("below_3e18", [r.below(3 * 10**18) for _ in range(8)])
        idx = list(range(20))
        r.shuffle(idx)
        w.u64("shuffle_20", idx)
        w.end()
    # initialisers on a [6, 5] weight and a [6] bias, each case from a fresh seed 7
    shape = [6, 5]
    cases = [
        ("uniform", lambda r: init_uniform(30, -0.5, 2.0, r)),
        ("normal", lambda r: init_normal(30, 1.5, 0.25, r)),
        ("xavier_uniform", lambda r: init_xavier(shape, 1.0, r, True)),
        ("xavier_normal", lambda r: init_xavier(shape, 2.0, r, False)),
        ("kaiming_uniform", lambda r: init_kaiming(shape, 0.0, "fan_in", "leaky_relu", r, True)),
        ("kaiming_normal", lambda r: init_kaiming(shape, 0.0, "fan_in", "leaky_relu", r, False)),
        ("kaiming_uniform_fan_out_relu", lambda r: init_kaiming(shape, 0.0, "fan_out", "relu", r, True)),
        ("kaiming_normal_fan_out_tanh", lambda r: init_kaiming(shape, 0.0, "fan_out", "tanh", r, False)),
    ]
    for name, fn in cases:
        r = Rng(7)
        w.group("init_" + name)
        w.tensor("x", torch.tensor(fn(r), dtype=torch.float64).reshape(shape))
        w.end()
    # nn.Linear's default: weight then bias from the same stream
    r = Rng(7)
    wv = init_kaiming(shape, math.sqrt(5.0), "fan_in", "leaky_relu", r, True)
    bound = 1 / math.sqrt(5.0)
    bv = init_uniform(6, -bound, bound, r)
    w.group("init_linear_default")
    w.tensor("weight", torch.tensor(wv, dtype=torch.float64).reshape(shape))
    w.tensor("bias", torch.tensor(bv, dtype=torch.float64))
    w.end()
    # an MLP 4-3-2 built by tg_mlp_init(prefix "fc", seed 11): layer by layer
    r = Rng(11)
    w.group("mlp_4_3_2")
    for k, (i, o) in enumerate([(4, 3), (3, 2)]):
        wv = init_kaiming([o, i], math.sqrt(5.0), "fan_in", "leaky_relu", r, True)
        bound = 1 / math.sqrt(float(i))
        bv = init_uniform(o, -bound, bound, r)
        w.tensor("fc%d.weight" % (k + 1), torch.tensor(wv, dtype=torch.float64).reshape(o, i))
        w.tensor("fc%d.bias" % (k + 1), torch.tensor(bv, dtype=torch.float64))
    w.end()
    w.close()


# ------------------------------------------------- single optimizer steps

OPTIM_CASES = [
    # name, class, kwargs
    ("sgd_plain", "sgd", dict(lr=0.1)),
    ("sgd_momentum", "sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd_dampening", "sgd", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("sgd_nesterov", "sgd", dict(lr=0.1, momentum=0.8, nesterov=True)),
    ("sgd_weight_decay", "sgd", dict(lr=0.1, momentum=0.9, weight_decay=0.05)),
    ("sgd_nesterov_wd", "sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("sgd_maximize", "sgd", dict(lr=0.1, momentum=0.5, maximize=True)),
    ("adam", "adam", dict(lr=0.01)),
    ("adam_betas", "adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6)),
    ("adam_weight_decay", "adam", dict(lr=0.01, weight_decay=0.1)),
    ("adam_amsgrad", "adam", dict(lr=0.01, amsgrad=True)),
    ("adam_amsgrad_wd", "adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05)),
    ("adam_maximize", "adam", dict(lr=0.01, maximize=True)),
    ("adamw", "adamw", dict(lr=0.01)),
    ("adamw_wd", "adamw", dict(lr=0.01, weight_decay=0.2)),
    ("adamw_amsgrad", "adamw", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
]

OPTIM_CLASSES = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def opts_attrs(kind, kw):
    """The tapegrad option values of a torch.optim keyword set, written as attrs."""
    if kind == "sgd":
        return dict(kind="sgd", lr=float(kw["lr"]), momentum=float(kw.get("momentum", 0.0)),
                    dampening=float(kw.get("dampening", 0.0)),
                    weight_decay=float(kw.get("weight_decay", 0.0)),
                    nesterov=int(kw.get("nesterov", False)), maximize=int(kw.get("maximize", False)))
    betas = kw.get("betas", (0.9, 0.999))
    wd_default = 0.01 if kind == "adamw" else 0.0
    return dict(kind=kind, lr=float(kw["lr"]), beta1=float(betas[0]), beta2=float(betas[1]),
                eps=float(kw.get("eps", 1e-8)), weight_decay=float(kw.get("weight_decay", wd_default)),
                amsgrad=int(kw.get("amsgrad", False)), maximize=int(kw.get("maximize", False)))


OPTIM_SHAPES = [(3, 4), (5,)]  # the parameters p0 and p1 of every case


def optim_case(w, group, seed, kind, kw, steps, dtype):
    """Starts a case: its group, random parameters p0 and p1 (written), and
    the optimizer over them; returns the generator (for the gradients that
    follow), the parameters and the optimizer."""
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g, dtype=torch.float64).to(dtype).requires_grad_()
              for s in OPTIM_SHAPES]
    w.group(group, steps=steps, **opts_attrs(kind, kw))
    for k, p in enumerate(params):
        w.tensor("p%d" % k, p)
    return g, params, OPTIM_CLASSES[kind](params, **kw)


def write_optim(path, dtype):
    w = Writer(path)
    shapes = OPTIM_SHAPES
    for ci, (name, kind, kw) in enumerate(OPTIM_CASES):
        g, params, opt = optim_case(w, "optim_" + name, 500 + ci, kind, kw, 3, dtype)
        for step in range(3):
            grads = [torch.randn(s, generator=g, dtype=torch.float64).to(dtype) for s in shapes]
            if step == 1:
                grads[1][0] = 0.0  # a zero gradient element
            for p, gr in zip(params, grads):
                p.grad = gr.clone()
            opt.step()
            for k, (p, gr) in enumerate(zip(params, grads)):
                w.tensor("g%d_%d" % (step, k), gr)
                w.tensor("p%d_%d" % (step, k), p)
        w.end()
    write_optim_skipped(w, dtype)
    w.close()


# Steps that skip a parameter (its grad None): PyTorch then leaves it alone
# and does not count the step in its state['step'], so Adam's bias
# correction and SGD's first momentum step follow the parameter's own count.
OPTIM_SKIP_CASES = [
    ("sgd_momentum_dampening", "sgd", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("sgd_nesterov_wd", "sgd", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adam", "adam", dict(lr=0.01)),
    ("adam_amsgrad_wd", "adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("adamw", "adamw", dict(lr=0.01, weight_decay=0.1)),
]
SKIP_STEPS = 4
SKIPPED = {(0, 1), (2, 1), (3, 0)}  # (step, parameter) whose grad is None


def write_optim_skipped(w, dtype):
    """Groups skipped_<case>: p0, p1; per step s the present gradients
    g<s>_<k>, the parameters after it p<s>_<k>, and for Adam and AdamW each
    parameter's state['step'] after it (steps<s>, 0 where it has no state
    yet)."""
    shapes = OPTIM_SHAPES
    for ci, (name, kind, kw) in enumerate(OPTIM_SKIP_CASES):
        g, params, opt = optim_case(w, "skipped_" + name, 700 + ci, kind, kw, SKIP_STEPS, dtype)
        for step in range(SKIP_STEPS):
            for k, (p, s) in enumerate(zip(params, shapes)):
                gr = torch.randn(s, generator=g, dtype=torch.float64).to(dtype)
                if (step, k) in SKIPPED:
                    p.grad = None
                else:
                    p.grad = gr.clone()
                    w.tensor("g%d_%d" % (step, k), gr)
            opt.step()
            for k, p in enumerate(params):
                w.tensor("p%d_%d" % (step, k), p)
            if kind != "sgd":  # torch.optim.SGD keeps no step count
                counts = [float(opt.state[p]["step"]) if p in opt.state else 0.0 for p in params]
                w.tensor("steps%d" % step, torch.tensor(counts, dtype=torch.float64))
        w.end()


# --------------------------------------------------------- training runs

SIZES = [20, 16, 8, 3]
BATCH = 16
N_BATCHES = 4

RUNS = [
    # name, optimizer kind, kwargs, steps
    ("sgd_momentum", "sgd", dict(lr=0.05, momentum=0.9), 50),
    ("adam", "adam", dict(lr=0.01), 50),
    ("sgd_plain", "sgd", dict(lr=0.1), 20),
    ("sgd_nesterov_wd", "sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3), 20),
    ("sgd_dampening_wd", "sgd", dict(lr=0.05, momentum=0.9, dampening=0.5, weight_decay=1e-2), 20),
    ("adam_wd_amsgrad", "adam", dict(lr=0.01, weight_decay=1e-2, amsgrad=True), 20),
    ("adamw", "adamw", dict(lr=0.01, weight_decay=0.05), 20),
    ("adamw_amsgrad", "adamw", dict(lr=0.005, amsgrad=True), 20),
]

# the network's activation and loss: (tag, activation, loss)
FAMILIES = ["tanh_mse", "relu_ce"]


def make_data():
    """Fixed batches in float32 (exact in float64 too): x ~ N(0, 1); a random
    linear teacher gives regression targets tanh(x·T) + noise and class
    labels argmax(x·T)."""
    g = torch.Generator().manual_seed(4321)
    T = torch.randn(SIZES[0], SIZES[-1], generator=g)
    xs, ys, cs = [], [], []
    for _ in range(N_BATCHES):
        x = torch.randn(BATCH, SIZES[0], generator=g)
        z = x @ T
        y = torch.tanh(z / 3) + 0.1 * torch.randn(BATCH, SIZES[-1], generator=g)
        xs.append(x)
        ys.append(y.float())
        cs.append(z.argmax(1))
    return xs, ys, cs


def make_init():
    """nn.Linear's own initialisation, float32, seed 1234: PyTorch's weights."""
    torch.manual_seed(1234)
    layers = [torch.nn.Linear(i, o) for i, o in zip(SIZES[:-1], SIZES[1:])]
    named = []
    for k, l in enumerate(layers):
        named.append(("fc%d.weight" % (k + 1), l.weight.detach().clone()))
        named.append(("fc%d.bias" % (k + 1), l.bias.detach().clone()))
    return named


def forward(params, x, family):
    h = x
    n = len(SIZES) - 1
    for k in range(n):
        h = torch.nn.functional.linear(h, params["fc%d.weight" % (k + 1)],
                                       params["fc%d.bias" % (k + 1)])
        if k + 1 < n:
            h = torch.tanh(h) if family == "tanh_mse" else torch.relu(h)
    return h


def train(named, data, family, kind, kw, steps, dtype):
    params = {n: t.to(dtype).clone().requires_grad_() for n, t in named}
    opt = OPTIM_CLASSES[kind](list(params.values()), **kw)
    xs, ys, cs = data
    losses = []
    for step in range(steps):
        b = step % N_BATCHES
        out = forward(params, xs[b].to(dtype), family)
        if family == "tanh_mse":
            loss = torch.nn.functional.mse_loss(out, ys[b].to(dtype))
        else:
            loss = torch.nn.functional.cross_entropy(out, cs[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, params


def write_train(path, st_path, dtype):
    named = make_init()
    data = make_data()
    write_safetensors(st_path, named, dtype)
    back = read_safetensors(st_path)
    for n, t in named:
        assert torch.equal(back[n], t.double()), n

    w = Writer(path)
    w.group("init", sizes=" ".join(map(str, SIZES)), batch=BATCH, n_batches=N_BATCHES, seed=1234)
    for n, t in named:
        w.tensor(n, t)
    w.end()
    w.group("data")
    for b in range(N_BATCHES):
        w.tensor("x%d" % b, data[0][b])
        w.tensor("y%d" % b, data[1][b])
        w.tensor("c%d" % b, data[2][b].double())
    w.end()
    for family in FAMILIES:
        for name, kind, kw, steps in RUNS:
            losses, params = train(named, data, family, kind, kw, steps, dtype)
            w.group("run_%s_%s" % (family, name), family=family, steps=steps,
                    **opts_attrs(kind, kw))
            w.tensor("loss", torch.tensor(losses, dtype=torch.float64))
            for n, _ in named:
                w.tensor(n, params[n])
            w.end()
    w.close()


if __name__ == "__main__":
    os.makedirs(GOLDEN, exist_ok=True)
    write_rng(os.path.join(GOLDEN, "train_rng.txt"))
    for dtype, tag in [(torch.float32, "f32"), (torch.float64, "f64")]:
        write_optim(os.path.join(GOLDEN, "train_optim_%s.txt" % tag), dtype)
        write_train(os.path.join(GOLDEN, "train_%s.txt" % tag),
                    os.path.join(GOLDEN, "train_init_%s.safetensors" % tag), dtype)
    print("wrote tests/golden/train_*")
