#!/usr/bin/python3
"""Golden data for the higher-order examples, written by PyTorch.

Run from anywhere with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_higher.py
It writes tests/golden/higher_f32.txt and higher_f64.txt, which
tests/tools/test_higher_examples.c reads. PyTorch recomputes what each
example computes, from the same starting point:

  hessian_tiny      examples/hessian_tiny.c: the 13 x 13 Hessian of the loss of
                    a 2-3-1 tanh MLP on XOR (torch.autograd.functional.hessian)
                    and its eigenvalues (torch.linalg.eigvalsh)
  newton_logistic   examples/newton_logistic.c: Newton's method on an
                    L2-regularised logistic regression; every iterate w_k,
                    f(w_k) and |grad f(w_k)| (hessian, then torch.linalg.solve)
  gradient_penalty  examples/gradient_penalty.c: a WGAN-GP critic trained by
                    Adam; each step's loss and its parts, and the final weights'
                    sums (torch.autograd.grad with create_graph=True)
  hvp_mlp           examples/hvp_mlp.c: H·v of the demo MLP's loss (double
                    backward); the loss, per-parameter sums and sums of squares
                    of the gradient and of Hv, v'Hv, |Hv|, and Hv at 50 sampled
                    positions of every parameter (all 10 of fc3.bias)

The same starting point without storing it: the examples draw their weights
(tg_mlp_init, nn.Linear's initialisation) and their data from tapegrad's
portable RNG, re-implemented in Python by tests/gen_golden_train.py (Rng,
init_kaiming, init_uniform; bit-identical doubles), and each value drawn in
double is rounded to the file's precision, as the C code rounds it to tg_real.
hvp_mlp's batch is the first 64 training digits of data/mnist, normalised in
the file's precision as tg_dataset does ((p/255 - mean)/std, each operation
rounded).

What is written, and the tolerances it gives (the test applies them):
  values   float64 results of PyTorch from the file's starting point: for
           higher_f32.txt from the float32 weights and data, computed in
           float64 (the exact answer for tapegrad's float build, up to
           float64's own rounding); for higher_f64.txt from the float64 ones.
           Sums over whole tensors (the per-parameter sums, v'Hv, |Hv|) are
           correctly rounded (math.fsum).
  err32    for each compared tensor, the largest |difference| between PyTorch
           computing it in float32 and in float64 from the same float32
           starting point: what rounding to float32 does to this very
           computation (for the trajectories, the largest so far along it).
  longest_sum (an attribute of each group) the most terms any sum inside the
           computation adds: 784 in hvp_mlp's first layer, 200 in Newton's
           mean over the points, 64 in the critic's batch and hidden layers,
           13 in the tiny network's Hessian (its order).
The test allows (u: tapegrad's unit roundoff, 2^-24 in float, 2^-53 in
double; u32 = 2^-24)
    |got - want| <= 8 * err32 * (u / u32) + 2 * u * |want| + n * 2^-53 * max|want|
  - rounding in the working precision: in float, eight times PyTorch's own
    float32 error; in double the same scaled by 2^-29, the ratio of the two
    precisions (rounding errors scale with u, the factors that amplify them
    are the same in both);
  - the rounding of the result itself to tg_real (an ulp or so), where
    PyTorch's float32 happened to be exact;
  - tapegrad's sums, which accumulate in double in both builds and add in
    sequence: a sum of n terms may be off by n * 2^-53 of its terms' size
    (Higham's gamma_n), where PyTorch's float32 sums pairwise, so err32 does
    not show it; n = longest_sum, the size of the terms is bounded by the
    largest value of the tensor. Negligible in float, the main term in
    double where err32 is small.

Text format: that of tests/gen_golden_train.py (group / attr / tensor / u64 /
end), read by tests/nn/golden_train.h. A tensor's error is the tensor
"<name>.err32" of the same shape.
"""
import gzip
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_golden_train import Rng, Writer, init_kaiming, init_uniform  # noqa: E402

GOLDEN = os.path.join(HERE, "golden")
MNIST = os.path.join(HERE, "..", "data", "mnist")
F32, F64 = torch.float32, torch.float64

torch.set_num_threads(1)


class HigherWriter(Writer):
    """The golden_train writer with this script's name in the header."""

    def __init__(self, path):
        super().__init__(path)
        self.f.seek(0)  # the header line names this script instead
        self.f.truncate()
        self.f.write("# written by tests/gen_golden_higher.py with PyTorch %s; do not edit, "
                     "regenerate\n" % torch.__version__)


def mlp_init(sizes, r):
    """tg_mlp_init's parameters (prefix "fc"), drawn from r: layer by layer,
    the weight by kaiming_uniform(a = sqrt 5), then the bias U(-1/sqrt in,
    1/sqrt in). A list of (name, float64 tensor)."""
    named = []
    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = init_kaiming([o, i], math.sqrt(5.0), "fan_in", "leaky_relu", r, True)
        bound = 1 / math.sqrt(float(i))
        b = init_uniform(o, -bound, bound, r)
        named.append(("fc%d.weight" % (k + 1), torch.tensor(w, dtype=F64).reshape(o, i)))
        named.append(("fc%d.bias" % (k + 1), torch.tensor(b, dtype=F64)))
    return named


def mlp_forward(params, x, act):
    """tg_mlp_forward: linear layers, act between them, none after the last."""
    n = len(params) // 2
    for k in range(n):
        x = torch.nn.functional.linear(x, params[2 * k], params[2 * k + 1])
        if k + 1 < n:
            x = act(x)
    return x


def fsum(t):
    """The sum of a tensor's elements, correctly rounded (math.fsum): a sum
    over a whole parameter adds no rounding of its own to the comparison."""
    return math.fsum(t.reshape(-1).tolist())


def rounded(named, start):
    """The start's precision: each value rounded once, as (tg_real) does."""
    return [(n, t.to(start)) for n, t in named]


def three_runs(fn):
    """fn(start, compute) -> {name: tensor}, from a starting point rounded to
    `start` and computed in `compute`. Returns the values for the float32 and
    float64 files and err32, PyTorch's float32 error at the float32 start."""
    r32 = fn(F32, F32)
    v32 = fn(F32, F64)
    v64 = fn(F64, F64)
    err = {k: (r32[k].double() - v32[k]).abs() for k in v32}
    return v32, v64, err


def running_max(err, rows):
    """The largest error up to each step of a trajectory: err has one row per
    step (the first dimension); each row gets the max of that row and of
    every row before it."""
    e = err.reshape(rows, -1).max(dim=1).values
    e = torch.cummax(e, dim=0).values
    return e.reshape([rows] + [1] * (err.dim() - 1)).expand_as(err).clone()


def whole_max(err):
    """One error for the whole tensor: its largest."""
    return torch.full_like(err, float(err.max()))


def write_group(writers, name, attrs, runs, errs, u64=None):
    """The same group in both files: attrs, the u64 arrays, and for each
    tensor its values and err32."""
    for w, vals in zip(writers, runs):
        w.group(name, **attrs)
        for k, v in (u64 or {}).items():
            w.u64(k, v)
        for k, v in vals.items():
            w.tensor(k, v)
            w.tensor(k + ".err32", errs[k])
        w.end()


# ------------------------------------------------------------ hessian_tiny

TINY_SEED = 3
TINY_X = [[0, 0], [0, 1], [1, 0], [1, 1]]
TINY_Y = [[0], [1], [1], [0]]


def tiny(start, compute):
    named = rounded(mlp_init([2, 3, 1], Rng(TINY_SEED)), start)
    shapes = [t.shape for _, t in named]
    theta = torch.cat([t.reshape(-1) for _, t in named]).to(compute)
    x = torch.tensor(TINY_X, dtype=start).to(compute)
    y = torch.tensor(TINY_Y, dtype=start).to(compute)

    def loss(th):
        params, off = [], 0
        for s in shapes:
            n = int(torch.Size(s).numel())
            params.append(th[off:off + n].reshape(s))
            off += n
        return torch.nn.functional.mse_loss(mlp_forward(params, x, torch.tanh), y)

    H = torch.autograd.functional.hessian(loss, theta)
    # the eigenvalues of the matrix computed, found in float64 (as the
    # example finds them in double from its tg_real matrix)
    eig = torch.linalg.eigvalsh(H.double())
    return {"loss": loss(theta).detach().double().reshape(1), "H": H.double(), "eig": eig}


def write_tiny(writers):
    v32, v64, err = three_runs(tiny)
    errs = {k: whole_max(e) for k, e in err.items()}
    write_group(writers, "hessian_tiny", dict(seed=TINY_SEED, longest_sum=13), [v32, v64], errs)


# --------------------------------------------------------- newton_logistic

NEWTON_SEED, NEWTON_N, NEWTON_D, NEWTON_LAMBDA, NEWTON_STEPS = 7, 200, 6, 0.01, 7


def newton_data():
    """newton_data(): w* ~ N(0, 1) first, then per point 5 normals and the
    constant 1, and a uniform u: y = 1 when u < sigmoid(x . w*). Doubles."""
    r = Rng(NEWTON_SEED)
    w_true = [r.normal() for _ in range(NEWTON_D)]
    X, y = [], []
    for _ in range(NEWTON_N):
        row, z = [], 0.0
        for j in range(NEWTON_D):
            v = 1.0 if j == NEWTON_D - 1 else r.normal()
            row.append(v)
            z += v * w_true[j]
        X.append(row)
        y.append(1.0 if r.uniform() < 1 / (1 + math.exp(-z)) else 0.0)
    return X, y


def newton(start, compute):
    Xd, yd = newton_data()
    X = torch.tensor(Xd, dtype=F64).to(start).to(compute)
    y = torch.tensor(yd, dtype=F64).reshape(-1, 1).to(compute)
    lam2 = torch.tensor(NEWTON_LAMBDA / 2, dtype=F64).to(start).to(compute)

    def f(w):
        fit = torch.nn.functional.binary_cross_entropy_with_logits(X @ w, y)
        return fit + lam2 * (w * w).sum()

    w = torch.zeros(NEWTON_D, 1, dtype=compute)
    W, fs, gn = [], [], []
    for _ in range(NEWTON_STEPS + 1):  # the last pass only evaluates
        wl = w.clone().requires_grad_()
        fw = f(wl)
        (g,) = torch.autograd.grad(fw, wl)
        H = torch.autograd.functional.hessian(f, w).reshape(NEWTON_D, NEWTON_D)
        W.append(w.reshape(-1).double())
        fs.append(float(fw))
        gn.append(float(g.double().norm()))
        w = w - torch.linalg.solve(H, g)
    return {"w": torch.stack(W), "f": torch.tensor(fs, dtype=F64),
            "gnorm": torch.tensor(gn, dtype=F64)}


def write_newton(writers):
    v32, v64, err = three_runs(newton)
    rows = NEWTON_STEPS + 1
    errs = {k: running_max(e, rows) for k, e in err.items()}
    attrs = dict(seed=NEWTON_SEED, steps=NEWTON_STEPS, longest_sum=NEWTON_N)
    write_group(writers, "newton_logistic", attrs, [v32, v64], errs)


# -------------------------------------------------------- gradient_penalty

GP = dict(seed=5, steps=20, batch=64, lr=1e-3, lam=10.0)


def gp_batch(r, n, start):
    """gp_sample(): real (a centre below 8, two normals), fake (two normals
    each), then eps per sample and x^ from the rounded real and fake."""
    r2 = math.sqrt(2.0)
    cx = [2, r2, 0, -r2, -2, -r2, 0, r2]
    cy = [0, r2, 2, r2, 0, -r2, -2, -r2]
    real = []
    for _ in range(n):
        k = r.below(8)
        a, b = r.normal(), r.normal()
        real.append([cx[k] + 0.05 * a, cy[k] + 0.05 * b])
    fake = [[r.normal(), r.normal()] for _ in range(n)]
    real = torch.tensor(real, dtype=F64).to(start)
    fake = torch.tensor(fake, dtype=F64).to(start)
    eps = torch.tensor([r.uniform() for _ in range(n)], dtype=F64).reshape(-1, 1)
    xhat = (eps * real.double() + (1 - eps) * fake.double()).to(start)
    return real, fake, xhat


def gp_run(start, compute):
    r = Rng(GP["seed"])
    named = rounded(mlp_init([2, 64, 64, 1], r), start)
    params = [t.to(compute).clone().requires_grad_() for _, t in named]
    opt = torch.optim.Adam(params, lr=GP["lr"], betas=(0.5, 0.9))
    lam = torch.tensor(GP["lam"], dtype=F64).to(start).to(compute)
    out = {"loss": [], "wdist": [], "penalty": [], "mean_norm": []}
    for _ in range(GP["steps"]):
        real, fake, xhat = (t.to(compute) for t in gp_batch(r, GP["batch"], start))
        xhat.requires_grad_()
        D = lambda x: mlp_forward(params, x, torch.tanh)  # noqa: E731
        wdist = D(real).mean() - D(fake).mean()
        (gx,) = torch.autograd.grad(D(xhat).sum(), xhat, create_graph=True)
        norm = (gx * gx).sum(1).sqrt()
        penalty = ((norm - 1) ** 2).mean()
        loss = lam * penalty - wdist
        opt.zero_grad()
        loss.backward()
        opt.step()
        for k, v in (("loss", loss), ("wdist", wdist), ("penalty", penalty),
                     ("mean_norm", norm.mean())):
            out[k].append(float(v))
    res = {k: torch.tensor(v, dtype=F64) for k, v in out.items()}
    pd = [p.detach().double() for p in params]
    res["param_sum"] = torch.tensor([fsum(p) for p in pd], dtype=F64)
    res["param_sumsq"] = torch.tensor([fsum(p * p) for p in pd], dtype=F64)
    return res


def write_gp(writers):
    v32, v64, err = three_runs(gp_run)
    errs = {}
    for k, e in err.items():
        errs[k] = running_max(e, GP["steps"]) if e.numel() == GP["steps"] else whole_max(e)
    attrs = dict(GP, longest_sum=64)
    write_group(writers, "gradient_penalty", attrs, [v32, v64], errs)


# ----------------------------------------------------------------- hvp_mlp

HVP = dict(seed=1, v_seed=2, batch=64, sample_seed=12345, samples=50)


def kink_margin(named, x):
    """How far the batch's pre-activations stay from ReLU's kink, in units of
    float32's largest error in them: min |z| (float64) over the largest
    |z32 - z64|, over both hidden layers. The Hessian-vector product of a
    ReLU network jumps where a pre-activation changes sign, so the two
    precisions must see every unit on the same side: with seed 0 one unit of
    the 64 x 756 lies 9e-8 from 0 and float32 moves it across, which changes
    v'Hv by 0.2%; with seed 1 the nearest is 18 float32 errors away."""
    p32 = [t.to(F32) for _, t in named]
    p64 = [t.double() for t in p32]
    lin = torch.nn.functional.linear
    z64 = lin(x.double(), p64[0], p64[1])
    z32 = lin(x, p32[0], p32[1])
    margin = float("inf")
    for k in (1, 2):
        err = float((z32.double() - z64).abs().max())
        margin = min(margin, float(z64.abs().min()) / err)
        if k == 1:
            z64 = lin(torch.relu(z64), p64[2], p64[3])
            z32 = lin(torch.relu(z32), p32[2], p32[3])
    return margin


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    off = 4 + 4 * ndim
    return raw[off:], dims


def mnist_batch(n, start):
    """The first n training digits, x = (p/255 - mean)/std, each operation
    rounded to `start` (tg_dataset's conversion), and their labels."""
    px, dims = read_idx(os.path.join(MNIST, "train-images-idx3-ubyte.gz"))
    lab, _ = read_idx(os.path.join(MNIST, "train-labels-idx1-ubyte.gz"))
    f = dims[1] * dims[2]
    # in NumPy, whose operations on arrays of one type are rounded one by one
    # (PyTorch may divide by a scalar as a product with its reciprocal)
    t = np.float32 if start == F32 else np.float64
    p = np.frombuffer(px[:n * f], dtype=np.uint8).astype(t).reshape(n, f)
    x = (p / t(255) - t(0.1307)) / t(0.3081)
    assert x.dtype == t
    return torch.from_numpy(x.copy()), torch.tensor(list(lab[:n]), dtype=torch.int64)


_HVP_CACHE = {}


def hvp_inputs():
    """The weights and v in float64 (drawn once: 2 x 523,326 draws)."""
    if not _HVP_CACHE:
        named = mlp_init([784, 500, 256, 10], Rng(HVP["seed"]))
        rv = Rng(HVP["v_seed"])
        v = [torch.tensor([rv.normal() for _ in range(t.numel())], dtype=F64).reshape(t.shape)
             for _, t in named]
        rs = Rng(HVP["sample_seed"])
        idx = []
        for _, t in named:
            n = t.numel()
            idx.append(list(range(n)) if n <= HVP["samples"] else
                       [rs.below(n) for _ in range(HVP["samples"])])
        _HVP_CACHE.update(named=named, v=v, idx=idx)
    return _HVP_CACHE["named"], _HVP_CACHE["v"], _HVP_CACHE["idx"]


def hvp_run(start, compute):
    named, v, idx = hvp_inputs()
    params = [t.to(compute).clone().requires_grad_() for _, t in rounded(named, start)]
    vs = [t.to(start).to(compute) for t in v]
    x, y = mnist_batch(HVP["batch"], start)
    x = x.to(compute)
    loss = torch.nn.functional.cross_entropy(mlp_forward(params, x, torch.relu), y,
                                             reduction="sum")
    g = torch.autograd.grad(loss, params, create_graph=True)
    s = sum((gi * vi).sum() for gi, vi in zip(g, vs))
    hv = torch.autograd.grad(s, params)
    gd = [t.detach().double() for t in g]
    hd = [t.double() for t in hv]
    vd = [t.double() for t in vs]
    hh = fsum(torch.cat([(t * t).reshape(-1) for t in hd]))
    res = {
        "loss": loss.detach().double().reshape(1),
        "grad_sum": torch.tensor([fsum(t) for t in gd], dtype=F64),
        "grad_sumsq": torch.tensor([fsum(t * t) for t in gd], dtype=F64),
        "hv_sum": torch.tensor([fsum(t) for t in hd], dtype=F64),
        "hv_sumsq": torch.tensor([fsum(t * t) for t in hd], dtype=F64),
        "vhv": torch.tensor([fsum(torch.cat([(a * b).reshape(-1) for a, b in zip(hd, vd)]))],
                            dtype=F64),
        "hv_norm": torch.tensor([math.sqrt(hh)], dtype=F64),
    }
    for k, (name, _) in enumerate(named):
        res["hv_at." + name] = hd[k].reshape(-1)[idx[k]]
    return res


def write_hvp(writers):
    v32, v64, err = three_runs(hvp_run)
    named, _, idx = hvp_inputs()
    errs = {k: whole_max(e) for k, e in err.items()}
    u64 = {"idx." + name: idx[k] for k, (name, _) in enumerate(named)}
    margin = kink_margin(named, mnist_batch(HVP["batch"], F32)[0])
    assert margin > 10, "a pre-activation within %.3g float32 errors of 0: choose another seed" \
        % margin
    write_group(writers, "hvp_mlp", dict(HVP, kink_margin=margin, longest_sum=784), [v32, v64],
                errs, u64)


if __name__ == "__main__":
    os.makedirs(GOLDEN, exist_ok=True)
    ws = [HigherWriter(os.path.join(GOLDEN, "higher_%s.txt" % tag)) for tag in ("f32", "f64")]
    write_tiny(ws)
    write_newton(ws)
    write_gp(ws)
    write_hvp(ws)
    for w in ws:
        w.close()
    print("wrote tests/golden/higher_f32.txt and higher_f64.txt")
