"""Differential test harness: tapegrad (via ./driver) vs PyTorch float64.

A case is a dict:
  op: str, I: [ints], R: [reals], S: str or None,
  T: [ (np.ndarray, req) or None ], X: [np.ndarray int64]
The reference for op is REF[op](T(list of torch tensors/None), I, R, S, X(list of torch long))
returning (float_outputs list, int_outputs list).
"""
import math
import os
import subprocess

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "driver")
TG_ALL = 0x7FFFFFFF
TG_END = 2**63 - 1
RED = {0: "mean", 1: "sum", 2: "none", 3: "batchmean"}


def fmt(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


def enc_arr(a):
    a = np.asarray(a)
    s = [str(a.ndim)] + [str(d) for d in a.shape]
    if a.dtype.kind in "iu":
        s += [str(int(v)) for v in a.ravel()]
    else:
        s += [fmt(v) for v in a.ravel()]
    return " ".join(s)


def encode(cid, c):
    L = ["CASE %s %s" % (cid, c["op"])]
    if c.get("I"):
        L.append("I %d %s" % (len(c["I"]), " ".join(str(int(v)) for v in c["I"])))
    if c.get("R"):
        L.append("R %d %s" % (len(c["R"]), " ".join(fmt(v) for v in c["R"])))
    if c.get("S"):
        L.append("S " + c["S"])
    for t in c.get("T", []):
        if t is None:
            L.append("N")
        else:
            L.append("T %d %s" % (1 if t[1] else 0, enc_arr(t[0])))
    for x in c.get("X", []):
        L.append("X " + enc_arr(np.asarray(x, dtype=np.int64)))
    for g in c.get("G", []):
        L.append("G " + enc_arr(g))
    for t, v in zip(c.get("T", []), c.get("V", [])):
        if t is not None:
            L.append("V " + enc_arr(v))
    L.append("END")
    return "\n".join(L) + "\n"


def parse_out(text):
    """-> dict id -> result dict"""
    res = {}
    cur = None
    for line in text.splitlines():
        p = line.split(" ")
        tag = p[0]
        if tag == "CASE":
            cur = {"OUT": {}, "IOUT": {}, "GF": {}, "GC": {}, "GG": {}, "ERR": None, "GERR": [], "done": False}
            res[p[1]] = cur
        elif tag == "ERR":
            cur["ERR"] = " ".join(p[1:])
        elif tag == "GERR":
            cur["GERR"].append(" ".join(p[1:]))
        elif tag == "DONE":
            cur["done"] = True
        elif tag in ("OUT", "GF", "GC", "GG", "IOUT"):
            k = int(p[1])
            nd = int(p[2])
            shape = tuple(int(v) for v in p[3:3 + nd])
            if tag == "IOUT":
                data = np.array([int(v) for v in p[3 + nd:]], dtype=np.int64)
            else:
                data = np.array([float(v) for v in p[3 + nd:]], dtype=np.float64)
            cur[tag][k] = data.reshape(shape)
    return res


def run_driver(cases, timeout=120):
    """cases: list of (cid, case). Returns dict id -> result; crashed cases marked."""
    if not os.path.exists(DRIVER):
        raise SystemExit("no %s: run build.sh first" % DRIVER)
    results = {}
    todo = list(cases)
    while todo:
        inp = "".join(encode(cid, c) for cid, c in todo)
        try:
            p = subprocess.run([DRIVER], input=inp, capture_output=True, text=True, timeout=timeout)
            out, rc, err = p.stdout, p.returncode, p.stderr
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            rc, err = "timeout", ""
        r = parse_out(out)
        results.update(r)
        # find first not done
        rest = []
        crashed = None
        for i, (cid, c) in enumerate(todo):
            if cid not in r or not r[cid]["done"]:
                if cid in r:
                    crashed = cid
                    r[cid]["CRASH"] = "rc=%s %s" % (rc, err[-500:])
                    rest = todo[i + 1:]
                else:
                    # never started (should not happen unless crash before)
                    crashed = cid
                    results[cid] = {"CRASH": "rc=%s not started %s" % (rc, err[-300:]), "OUT": {}, "IOUT": {}, "GF": {}, "GC": {}, "GG": {}, "ERR": None, "GERR": []}
                    rest = todo[i + 1:]
                break
        todo = rest if crashed else []
    return results


# ----------------------------------------------------------------- torch side

def to_t(c):
    T = []
    for t in c.get("T", []):
        if t is None:
            T.append(None)
        else:
            a = torch.tensor(np.asarray(t[0], dtype=np.float64))
            if t[1]:
                a.requires_grad_(True)
            T.append(a)
    X = [torch.tensor(np.asarray(x, dtype=np.int64)) for x in c.get("X", [])]
    return T, X


def torch_forward(c):
    T, X = to_t(c)
    fo, io = REF[c["op"]](T, list(c.get("I", [])), list(c.get("R", [])), c.get("S"), X)
    return T, X, fo, io


def torch_full(c, rng):
    """Run torch forward; fill G and V; compute reference grads.
    Returns ref dict or {'err': msg}."""
    try:
        T, X, fo, io = torch_forward(c)
    except Exception as e:
        return {"err": "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")}
    ref = {"OUT": [f.detach().numpy().copy() for f in fo], "IOUT": [i.numpy().copy() for i in io]}
    if c.get("G") is None or c.get("V") is None:
        G = []
        for f in fo:
            G.append(np.round(rng.standard_normal(tuple(f.shape)), 3))
        c["G"] = G
        V = []
        for t in c.get("T", []):
            V.append(None if t is None else np.round(rng.standard_normal(np.asarray(t[0]).shape), 3))
        c["V"] = V
    G, V = c["G"], c["V"]
    ins = [(i, t) for i, t in enumerate(T) if t is not None and t.requires_grad]
    outs = [(k, f) for k, f in enumerate(fo) if f.requires_grad]
    ref["GF"] = {}
    ref["GG"] = {}
    if not ins or not outs:
        ref["nograd"] = True
        return ref
    try:
        gs = torch.autograd.grad([f for _, f in outs], [t for _, t in ins],
                                 [torch.tensor(G[k]) for k, _ in outs],
                                 create_graph=True, allow_unused=True)
    except Exception as e:
        ref["gerr"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0])
        return ref
    for (i, t), g in zip(ins, gs):
        ref["GF"][i] = (torch.zeros_like(t) if g is None else g).detach().numpy().copy()
    s = None
    for (i, t), g in zip(ins, gs):
        if g is not None and g.requires_grad:
            term = (g * torch.tensor(V[i])).sum()
            s = term if s is None else s + term
    if s is None:
        for i, t in ins:
            ref["GG"][i] = np.zeros(tuple(t.shape))
        return ref
    try:
        ggs = torch.autograd.grad(s, [t for _, t in ins], allow_unused=True)
    except Exception as e:
        ref["ggerr"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0])
        return ref
    for (i, t), g in zip(ins, ggs):
        ref["GG"][i] = (torch.zeros_like(t) if g is None else g).detach().numpy().copy()
    return ref


def close(a, b, rtol=1e-9, atol=1e-11):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False, "shape %s vs torch %s" % (a.shape, b.shape)
    if a.size == 0:
        return True, ""
    na, nb = np.isnan(a), np.isnan(b)
    if (na != nb).any():
        k = np.argwhere(na != nb)[0]
        return False, "nan mismatch at %s: tg %r torch %r" % (tuple(k), a[tuple(k)], b[tuple(k)])
    fa = ~na
    ia, ib = np.isinf(a) & fa, np.isinf(b) & fa
    if (ia != ib).any() or (a[ia] != b[ia]).any():
        k = np.argwhere((ia != ib) | (ia & (a != b)))[0]
        return False, "inf mismatch at %s: tg %r torch %r" % (tuple(k), a[tuple(k)], b[tuple(k)])
    m = fa & ~ia
    scale = np.max(np.abs(b[m])) if m.any() else 0.0
    diff = np.abs(a - b)
    bad = m & (diff > atol * (1 + scale) + rtol * np.abs(b))
    if bad.any():
        k = np.argwhere(bad)[0]
        return False, "value at %s: tg %.17g torch %.17g (n_bad %d/%d)" % (tuple(k), a[tuple(k)], b[tuple(k)], bad.sum(), a.size)
    return True, ""


def fd_gg(c, h=1e-6):
    """Central finite difference of phi(x) = sum_i <torch_grad_i(x), V_i> (torch first order)."""
    T0 = c["T"]
    ins = [i for i, t in enumerate(T0) if t is not None and t[1]]
    def phi(Tm):
        cc = dict(c); cc["T"] = Tm
        T, X, fo, io = torch_forward(cc)
        outs = [(k, f) for k, f in enumerate(fo) if f.requires_grad]
        tins = [T[i] for i in ins]
        gs = torch.autograd.grad([f for _, f in outs], tins, [torch.tensor(c["G"][k]) for k, _ in outs], allow_unused=True)
        v = 0.0
        for i, g in zip(ins, gs):
            if g is not None:
                v += float((g.detach() * torch.tensor(c["V"][i])).sum())
        return v
    out = {}
    for i in ins:
        a = np.array(T0[i][0], dtype=np.float64)
        gg = np.zeros(a.shape)
        for k in np.ndindex(*a.shape) if a.shape else [()]:
            vals = []
            for sgn in (1, -1):
                b = a.copy()
                b[k] = b[k] + sgn * h * max(1.0, abs(a[k]))
                Tm = list(T0); Tm[i] = (b, True)
                vals.append(phi(Tm))
            gg[k] = (vals[0] - vals[1]) / (2 * h * max(1.0, abs(a[k])))
        out[i] = gg
    return out


def compare(c, ref, res):
    """-> list of issue strings (empty if fine)."""
    iss = []
    if "CRASH" in res:
        return ["CRASH " + res["CRASH"]]
    if "err" in ref:
        if res["ERR"] is None:
            iss.append("ACCEPTS-INVALID torch: %s" % ref["err"])
        return iss
    if res["ERR"] is not None:
        return ["REFUSES-VALID tg: %s" % res["ERR"]]
    if len(res["OUT"]) != len(ref["OUT"]):
        iss.append("n outputs %d vs torch %d" % (len(res["OUT"]), len(ref["OUT"])))
    for k, o in enumerate(ref["OUT"]):
        if k in res["OUT"]:
            ok, m = close(res["OUT"][k], o)
            if not ok:
                iss.append("FWD out%d %s" % (k, m))
    for k, o in enumerate(ref["IOUT"]):
        if k not in res["IOUT"]:
            iss.append("missing index out %d" % k)
        elif res["IOUT"][k].shape != o.shape or (res["IOUT"][k] != o).any():
            iss.append("IDX out%d tg %s torch %s" % (k, res["IOUT"][k].tolist(), o.tolist()))
    if ref.get("nograd"):
        return iss
    if "gerr" in ref:
        return iss + (["(torch grad err: %s)" % ref["gerr"]] if not res["GF"] else [])
    for tag in ("GF", "GC"):
        for i, g in ref["GF"].items():
            if i not in res[tag]:
                iss.append("%s missing for input %d; GERR=%s" % (tag, i, res["GERR"]))
                break
            ok, m = close(res[tag][i], g)
            if not ok:
                iss.append("%s in%d %s" % (tag, i, m))
    if "ggerr" in ref:
        return iss
    for i, g in ref["GG"].items():
        if i not in res["GG"]:
            iss.append("GG missing for input %d; GERR=%s" % (i, res["GERR"]))
            break
        ok, m = close(res["GG"][i], g, rtol=1e-8, atol=1e-10)
        if not ok:
            note = ""
            try:
                fd = fd_gg(c)
                okt, _ = close(res["GG"][i], fd[i], rtol=1e-4, atol=1e-5)
                okr, _ = close(g, fd[i], rtol=1e-4, atol=1e-5)
                note = " [FD agrees with: %s]" % ("tg" if okt and not okr else "torch" if okr and not okt else "both" if okt else "neither")
            except Exception as e:
                note = " [FD failed %s]" % e
            iss.append("GG in%d %s%s" % (i, m, note))
    return iss


# ------------------------------------------------------------- references
REF = {}


def ref(name):
    def d(f):
        REF[name] = f
        return f
    return d


def alldims(x):
    return tuple(range(x.dim()))


UN = {
    "neg": torch.neg, "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "abs": torch.abs,
    "square": torch.square, "erf": torch.erf, "erfc": torch.erfc, "erfinv": torch.erfinv,
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "asin": torch.asin, "acos": torch.acos,
    "atan": torch.atan, "sinh": torch.sinh, "cosh": torch.cosh, "asinh": torch.asinh,
    "acosh": torch.acosh, "atanh": torch.atanh, "log1p": torch.log1p, "expm1": torch.expm1,
    "log2": torch.log2, "log10": torch.log10, "exp2": torch.exp2, "rsqrt": torch.rsqrt,
    "reciprocal": torch.reciprocal, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
    "relu": F.relu, "relu6": F.relu6, "selu": F.selu, "softsign": F.softsign, "silu": F.silu,
    "mish": F.mish, "hardsigmoid": F.hardsigmoid, "hardswish": F.hardswish,
    "logsigmoid": F.logsigmoid, "tanhshrink": F.tanhshrink,
    "contiguous": lambda x: x.contiguous(),
    "squeeze": torch.squeeze,
}
for _n, _f in UN.items():
    REF[_n] = (lambda f: lambda T, I, R, S, X: ([f(T[0])], []))(_f)
for _n, _f in {"sign": torch.sign, "floor": torch.floor, "ceil": torch.ceil, "round": torch.round,
               "trunc": torch.trunc}.items():
    REF[_n] = (lambda f: lambda T, I, R, S, X: ([f(T[0].detach())], []))(_f)
REF["flatten"] = lambda T, I, R, S, X: ([torch.flatten(T[0], 1) if T[0].dim() > 1 else T[0] * 1], [])

BIN = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "atan2": torch.atan2,
       "minimum": torch.minimum, "maximum": torch.maximum, "pow_tensor": torch.pow,
       "matmul": torch.matmul, "dot": torch.dot, "outer": torch.outer, "prelu": F.prelu}
for _n, _f in BIN.items():
    REF[_n] = (lambda f: lambda T, I, R, S, X: ([f(T[0], T[1])], []))(_f)
for _n, _f in {"eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt,
               "ge": torch.ge}.items():
    REF[_n] = (lambda f: lambda T, I, R, S, X: ([f(T[0].detach(), T[1].detach()).double()], []))(_f)

REF["scale"] = lambda T, I, R, S, X: ([T[0] * R[0]], [])
REF["add_scalar"] = lambda T, I, R, S, X: ([T[0] + R[0]], [])
REF["pow"] = lambda T, I, R, S, X: ([torch.pow(T[0], R[0])], [])
REF["clamp"] = lambda T, I, R, S, X: ([torch.clamp(T[0], None if R[0] == -math.inf else R[0], None if R[1] == math.inf else R[1])], [])
REF["leaky_relu"] = lambda T, I, R, S, X: ([F.leaky_relu(T[0], R[0])], [])
REF["elu"] = lambda T, I, R, S, X: ([F.elu(T[0], R[0])], [])
REF["celu"] = lambda T, I, R, S, X: ([F.celu(T[0], R[0])], [])
REF["softplus"] = lambda T, I, R, S, X: ([F.softplus(T[0], R[0], R[1])], [])
REF["gelu"] = lambda T, I, R, S, X: ([F.gelu(T[0], approximate=["none", "tanh"][I[0]])], [])
REF["hardtanh"] = lambda T, I, R, S, X: ([F.hardtanh(T[0], R[0], R[1])], [])
REF["hardshrink"] = lambda T, I, R, S, X: ([F.hardshrink(T[0], R[0])], [])
REF["softshrink"] = lambda T, I, R, S, X: ([F.softshrink(T[0], R[0])], [])
REF["threshold"] = lambda T, I, R, S, X: ([F.threshold(T[0], R[0], R[1])], [])
REF["logit"] = lambda T, I, R, S, X: ([torch.logit(T[0], None if R[0] < 0 else R[0])], [])
REF["add_alpha"] = lambda T, I, R, S, X: ([torch.add(T[0], T[1], alpha=R[0])], [])
REF["sub_alpha"] = lambda T, I, R, S, X: ([torch.sub(T[0], T[1], alpha=R[0])], [])
REF["lerp"] = lambda T, I, R, S, X: ([torch.lerp(T[0], T[1], R[0])], [])
REF["lerp_tensor"] = lambda T, I, R, S, X: ([torch.lerp(T[0], T[1], T[2])], [])
REF["where"] = lambda T, I, R, S, X: ([torch.where(T[0].detach() != 0, T[1], T[2])], [])
REF["clamp_tensor"] = lambda T, I, R, S, X: ([torch.clamp(T[0], T[1], T[2])], [])
REF["pow_scalar_base"] = lambda T, I, R, S, X: ([torch.pow(R[0], T[0])], [])


@ref("matmul_t")
def _(T, I, R, S, X):
    a = T[0].transpose(-1, -2) if I[0] else T[0]
    b = T[1].transpose(-1, -2) if I[1] else T[1]
    if T[0].dim() < 2 or T[1].dim() < 2:
        raise ValueError("needs 2 dims")
    return [torch.matmul(a, b)], []


REF["einsum"] = lambda T, I, R, S, X: ([torch.einsum(S, *T)], [])
REF["linear"] = lambda T, I, R, S, X: ([F.linear(T[0], T[1], T[2])], [])
REF["transpose"] = lambda T, I, R, S, X: ([T[0].transpose(I[0], I[1])], [])
REF["swapaxes"] = lambda T, I, R, S, X: ([torch.swapaxes(T[0], I[0], I[1])], [])
REF["reshape"] = lambda T, I, R, S, X: ([T[0].reshape(I)], [])
REF["flatten_range"] = lambda T, I, R, S, X: ([torch.flatten(T[0], I[0], I[1])], [])
REF["squeeze_axis"] = lambda T, I, R, S, X: ([torch.squeeze(T[0], I[0])], [])
REF["unsqueeze"] = lambda T, I, R, S, X: ([torch.unsqueeze(T[0], I[0])], [])
REF["permute"] = lambda T, I, R, S, X: ([T[0].permute(I)], [])
REF["movedim"] = lambda T, I, R, S, X: ([torch.movedim(T[0], I[0], I[1])], [])
REF["expand"] = lambda T, I, R, S, X: ([T[0].expand(I) * 1], [])
REF["sum_to"] = lambda T, I, R, S, X: ([T[0].sum_to_size(I) * 1], [])
REF["cumsum"] = lambda T, I, R, S, X: ([torch.cumsum(T[0], I[0])], [])
REF["cumprod"] = lambda T, I, R, S, X: ([torch.cumprod(T[0], I[0])], [])
REF["softmax"] = lambda T, I, R, S, X: ([F.softmax(T[0], I[0])], [])
REF["log_softmax"] = lambda T, I, R, S, X: ([F.log_softmax(T[0], I[0])], [])
REF["softmin"] = lambda T, I, R, S, X: ([F.softmin(T[0], I[0])], [])
REF["glu"] = lambda T, I, R, S, X: ([F.glu(T[0], I[0])], [])


# reductions: I = [keepdim, n, axes...]
def red_args(T, I):
    x = T[0]
    kd = bool(I[0])
    axes = list(I[2:2 + I[1]])
    is_all = axes == [TG_ALL]
    return x, kd, axes, is_all


def keep_all(y, x, kd):
    if kd:
        return y.reshape([1] * x.dim())
    return y


def mk_red(fn_all, fn_dims):
    def f(T, I, R, S, X):
        x, kd, axes, is_all = red_args(T, I)
        if is_all:
            return [keep_all(fn_all(x, R), x, kd)], []
        return [fn_dims(x, tuple(axes), kd, R)], []
    return f


for nm in ["sum", "mean"]:
    for sfx in ["", "_axes"]:
        REF[nm + sfx] = mk_red((lambda n: lambda x, R: getattr(torch, n)(x))(nm),
                               (lambda n: lambda x, d, kd, R: getattr(torch, n)(x, d, keepdim=kd))(nm))


def _amaxall(fn):
    def f(x, R):
        if x.dim() == 0:
            return fn(x, 0)
        return fn(x, alldims(x))
    return f


for nm in ["amax", "amin"]:
    for sfx in ["", "_axes"]:
        REF[nm + sfx] = mk_red(_amaxall(getattr(torch, nm)),
                               (lambda n: lambda x, d, kd, R: getattr(torch, n)(x, d, keepdim=kd))(nm))
for sfx in ["", "_axes"]:
    REF["logsumexp" + sfx] = mk_red(lambda x, R: torch.logsumexp(x, alldims(x) if x.dim() else 0),
                                    lambda x, d, kd, R: torch.logsumexp(x, d, keepdim=kd))


def _mm(nm):
    def f(T, I, R, S, X):
        x, kd, axes, is_all = red_args(T, I)
        if is_all:
            return [keep_all(getattr(torch, nm)(x), x, kd)], []
        return [getattr(torch, nm)(x, axes[0], keepdim=kd).values], []
    return f


REF["max"] = _mm("max")
REF["min"] = _mm("min")


def _mmdim(nm):
    def f(T, I, R, S, X):
        x, kd, axes, is_all = red_args(T, I)
        if is_all:
            raise ValueError("TG_ALL refused")
        r = getattr(torch, nm)(x, axes[0], keepdim=kd)
        return [r.values], [r.indices]
    return f


REF["max_dim"] = _mmdim("max")
REF["min_dim"] = _mmdim("min")


def _arg(nm):
    def f(T, I, R, S, X):
        x, kd, axes, is_all = red_args(T, I)
        if is_all:
            r = getattr(torch, nm)(x)
            if kd:
                r = r.reshape([1] * x.dim())
            return [], [r]
        return [], [getattr(torch, nm)(x, axes[0], keepdim=kd)]
    return f


REF["argmax"] = _arg("argmax")
REF["argmin"] = _arg("argmin")


@ref("prod")
def _(T, I, R, S, X):
    x, kd, axes, is_all = red_args(T, I)
    if is_all:
        return [keep_all(torch.prod(x), x, kd)], []
    return [torch.prod(x, axes[0], keepdim=kd)], []


def _varlike(is_std):
    def f(T, I, R, S, X):
        x, kd, axes, is_all = red_args(T, I)
        c = R[0]
        dims = alldims(x) if is_all else tuple(axes)
        if x.dim() == 0:
            dims = 0
        if not float(c).is_integer():
            raise ValueError("non-integer correction: no torch reference")
        fn = torch.std if is_std else torch.var
        return [fn(x, dims, correction=int(c), keepdim=kd)], []
    return f


for sfx in ["", "_axes"]:
    REF["var" + sfx] = _varlike(False)
    REF["std" + sfx] = _varlike(True)


def _norm(T, I, R, S, X):
    x, kd, axes, is_all = red_args(T, I)
    p = R[0]
    if not (p > 0):
        raise ValueError("p<=0 refused by tapegrad (doc)")
    if is_all:
        return [torch.linalg.vector_norm(x, p, None, keepdim=kd)], []
    return [torch.linalg.vector_norm(x, p, tuple(axes), keepdim=kd)], []


REF["norm"] = _norm
REF["norm_axes"] = _norm

# losses
REF["mse_loss"] = lambda T, I, R, S, X: ([F.mse_loss(T[0], T[1], reduction=RED[I[0]])], [])
REF["l1_loss"] = lambda T, I, R, S, X: ([F.l1_loss(T[0], T[1], reduction=RED[I[0]])], [])
REF["smooth_l1_loss"] = lambda T, I, R, S, X: ([F.smooth_l1_loss(T[0], T[1], reduction=RED[I[0]], beta=R[0])], [])
REF["huber_loss"] = lambda T, I, R, S, X: ([F.huber_loss(T[0], T[1], reduction=RED[I[0]], delta=R[0])], [])
REF["bce_loss_ex"] = lambda T, I, R, S, X: ([F.binary_cross_entropy(T[0], T[1], T[2], reduction=RED[I[0]])], [])
REF["bce_with_logits_ex"] = lambda T, I, R, S, X: ([F.binary_cross_entropy_with_logits(T[0], T[1], T[2], reduction=RED[I[0]], pos_weight=T[3])], [])
REF["kl_div"] = lambda T, I, R, S, X: ([F.kl_div(T[0], T[1], reduction=RED[I[0]], log_target=bool(I[1]))], [])
REF["cosine_similarity"] = lambda T, I, R, S, X: ([F.cosine_similarity(T[0], T[1], I[0], R[0])], [])
REF["cosine_embedding_loss"] = lambda T, I, R, S, X: ([F.cosine_embedding_loss(T[0], T[1], T[2].detach(), R[0], reduction=RED[I[0]])], [])
REF["margin_ranking_loss"] = lambda T, I, R, S, X: ([F.margin_ranking_loss(T[0], T[1], T[2], R[0], reduction=RED[I[0]])], [])
REF["hinge_embedding_loss"] = lambda T, I, R, S, X: ([F.hinge_embedding_loss(T[0], T[1].detach(), R[0], reduction=RED[I[0]])], [])
REF["multi_margin_loss"] = lambda T, I, R, S, X: ([F.multi_margin_loss(T[0], X[0], I[1], R[0], T[1], reduction=RED[I[0]])], [])
REF["triplet_margin_loss"] = lambda T, I, R, S, X: ([F.triplet_margin_loss(T[0], T[1], T[2], R[0], R[1], R[2], bool(I[1]), reduction=RED[I[0]])], [])
REF["poisson_nll_loss"] = lambda T, I, R, S, X: ([F.poisson_nll_loss(T[0], T[1], bool(I[1]), bool(I[2]), eps=R[0], reduction=RED[I[0]])], [])
REF["gaussian_nll_loss"] = lambda T, I, R, S, X: ([F.gaussian_nll_loss(T[0], T[1], T[2], bool(I[1]), R[0], reduction=RED[I[0]])], [])
REF["cross_entropy_idx"] = lambda T, I, R, S, X: ([F.cross_entropy(T[0], X[0], T[1], ignore_index=I[1], reduction=RED[I[0]], label_smoothing=R[0])], [])
REF["nll_loss_idx"] = lambda T, I, R, S, X: ([F.nll_loss(T[0], X[0], T[1], ignore_index=I[1], reduction=RED[I[0]])], [])
REF["cross_entropy_prob"] = lambda T, I, R, S, X: ([F.cross_entropy(T[0], T[1], T[2], reduction=RED[I[0]], label_smoothing=R[0])], [])


# indexing
def _sl(v):
    return None if v == TG_END else v


@ref("slice")
def _(T, I, R, S, X):
    x = T[0]
    if not (-x.dim() <= I[0] < x.dim()):
        raise ValueError("axis")
    ax = I[0] % x.dim() if x.dim() else 0
    if I[3] < 1:
        raise ValueError("step")
    return [x[(slice(None),) * ax + (slice(I[1], _sl(I[2]), I[3]),)] * 1], []


@ref("slices")
def _(T, I, R, S, X):
    x = T[0]
    idx = [slice(None)] * x.dim()
    seen = set()
    for k in range(len(I) // 4):
        ax, a, b, st = I[4 * k:4 * k + 4]
        if not (-x.dim() <= ax < x.dim()):
            raise ValueError("axis")
        ax %= x.dim()
        if ax in seen or st < 1:
            raise ValueError("dup axis / step")
        seen.add(ax)
        idx[ax] = slice(a, _sl(b), st)
    return [x[tuple(idx)] * 1], []


REF["select"] = lambda T, I, R, S, X: ([T[0].select(I[0], I[1]) * 1], [])
REF["narrow"] = lambda T, I, R, S, X: ([T[0].narrow(I[0], I[1], I[2]) * 1], [])
REF["index_select"] = lambda T, I, R, S, X: ([torch.index_select(T[0], I[0], X[0])], [])
REF["index_add"] = lambda T, I, R, S, X: ([torch.index_add(T[0], I[0], X[0], T[1])], [])
REF["gather"] = lambda T, I, R, S, X: ([torch.gather(T[0], I[0], X[0])], [])
REF["scatter_add"] = lambda T, I, R, S, X: ([torch.scatter_add(T[0], I[0], X[0], T[1])], [])
REF["scatter"] = lambda T, I, R, S, X: ([torch.scatter(T[0], I[0], X[0], T[1])], [])
REF["masked_fill"] = lambda T, I, R, S, X: ([torch.masked_fill(T[0], T[1].detach() != 0, R[0])], [])
REF["take_along_dim"] = lambda T, I, R, S, X: ([torch.take_along_dim(T[0], X[0], None if I[0] == TG_ALL else I[0])], [])
REF["embedding"] = lambda T, I, R, S, X: ([F.embedding(X[0], T[0], None if I[0] == -2**63 else I[0])], [])
REF["cat"] = lambda T, I, R, S, X: ([torch.cat(T, I[0])], [])
REF["stack"] = lambda T, I, R, S, X: ([torch.stack(T, I[0])], [])
REF["split"] = lambda T, I, R, S, X: ([p * 1 for p in torch.split(T[0], I[0], I[1])], [])
REF["split_chunks"] = lambda T, I, R, S, X: ([p * 1 for p in torch.chunk(T[0], I[0], I[1])], [])
REF["split_sizes"] = lambda T, I, R, S, X: ([p * 1 for p in torch.split(T[0], list(I[1:]), I[0])], [])
def _pad(T, I, R, S, X):
    x = T[0]
    mode = I[0]
    pads = list(I[1:])
    if mode == 0:
        return [F.pad(x, tuple(pads), "constant", R[0])], []
    if len(pads) % 2 or len(pads) // 2 > x.dim():
        raise ValueError("bad pad count")
    for k in range(len(pads) // 2):
        d = x.dim() - 1 - k
        l, r = pads[2 * k], pads[2 * k + 1]
        n = x.shape[d]
        cl, cr = max(-l, 0), max(-r, 0)
        if n - cl - cr < 0:
            raise ValueError("crop too big")
        x = x.narrow(d, cl, n - cl - cr)
        n = x.shape[d]
        l, r = max(l, 0), max(r, 0)
        pos = list(range(-l, n + r))
        if mode == 1:
            if (l >= n or r >= n) and (l or r):
                raise ValueError("reflect pad >= size")
            idx = [(-p if p < 0 else (2 * (n - 1) - p if p >= n else p)) for p in pos]
        elif mode == 2:
            if n == 0 and (l or r):
                raise ValueError("replicate empty")
            idx = [min(max(p, 0), n - 1) for p in pos]
        else:
            if l > n or r > n:
                raise ValueError("circular pad > size")
            idx = [p % n for p in pos] if n else []
        x = torch.index_select(x, d, torch.tensor(idx, dtype=torch.long))
    return [x * 1], []


REF["pad"] = _pad
REF["repeat"] = lambda T, I, R, S, X: ([T[0].repeat(*I) if I else T[0] * 1], [])
REF["tile"] = lambda T, I, R, S, X: ([torch.tile(T[0], tuple(I))], [])
REF["layer_norm"] = lambda T, I, R, S, X: ([F.layer_norm(T[0], tuple(I), T[1], T[2], R[0])], [])
# torch.group_norm: without F.group_norm's check that refuses one value per group
# (N·C/G·spatial = 1), which tapegrad accepts (an output of 0, as torch.group_norm)
REF["group_norm"] = lambda T, I, R, S, X: ([torch.group_norm(T[0], I[0], T[1], T[2], R[0])], [])
REF["batch_norm"] = lambda T, I, R, S, X: ([F.batch_norm(T[0], None, None, T[1], T[2], True, 0.1, R[0])], [])


@ref("rms_norm")
def _(T, I, R, S, X):
    x = T[0]
    d = tuple(range(x.dim() - len(I), x.dim()))
    eps = R[0] if R[0] >= 0 else np.finfo(np.float64).eps
    y = x * torch.rsqrt(x.pow(2).mean(d, keepdim=True) + eps)
    if T[1] is not None:
        y = y * T[1]
    return [y], []
