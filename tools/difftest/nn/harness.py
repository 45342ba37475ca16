"""Differential harness: tapegrad (via ./driver) vs PyTorch float64.

A Case holds an op name, int/float params, tensors (with rg flag), indices,
and a torch reference function ref(case, T, X) -> (outs, extra_din, buffers, idx)
where T maps names to torch tensors (leaves, requires_grad where rg), X maps
index names to LongTensors; extra_din maps names to torch leaves that tapegrad
treats as parameters (layer weights); buffers maps names to tensors after the
forward; idx is the returned index tensor or None.
"""
import os
import subprocess

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "driver")
RTOL = 1e-10
ATOL = 1e-10


class Case:
    def __init__(self, op, ref, cid=None):
        self.op = op
        self.ref = ref
        self.ints = {}
        self.floats = {}
        self.tensors = {}  # name -> (np.ndarray, rg)
        self.idx = {}  # name -> np int array
        self.id = cid
        self.desc = {}
        self.param_names = []  # tensors passed rg=0 but differentiated as layer params
        self.expect_err = False

    def I(self, **kw):
        for k, v in kw.items():
            self.ints[k] = int(v)
        return self

    def F(self, **kw):
        for k, v in kw.items():
            self.floats[k] = float(v)
        return self

    def T(self, name, arr, rg=True):
        self.tensors[name] = (np.asarray(arr, dtype=np.float64), 1 if rg else 0)
        return self

    def P(self, name, arr):
        """a layer parameter: given to the driver rg=0, differentiated there."""
        self.tensors[name] = (np.asarray(arr, dtype=np.float64), 0)
        self.param_names.append(name)
        return self

    def X(self, name, arr):
        self.idx[name] = np.asarray(arr, dtype=np.int64)
        return self

    def serialize(self):
        out = [f"CASE {self.id} {self.op}"]
        for k, v in self.ints.items():
            out.append(f"I {k} {v}")
        for k, v in self.floats.items():
            out.append(f"F {k} {v!r}")
        for n, (a, rg) in self.tensors.items():
            vals = " ".join(repr(float(x)) for x in a.ravel())
            out.append(f"T {n} {rg} {a.ndim} {' '.join(str(s) for s in a.shape)} {vals}")
        for n, a in self.idx.items():
            vals = " ".join(str(int(x)) for x in a.ravel())
            out.append(f"X {n} {a.ndim} {' '.join(str(s) for s in a.shape)} {vals}")
        out.append("END")
        return "\n".join(out) + "\n"


def parse_output(text):
    res = {}
    cur = None
    for line in text.splitlines():
        parts = line.split(" ")
        tag = parts[0]
        if tag == "CASE":
            cur = {"O": {}, "GR": {}, "H": {}, "B": {}, "ERR": None, "GERR": None,
                   "HERR": None, "IDX": None, "done": False}
            res[parts[1]] = cur
        elif tag in ("ERR", "GERR", "HERR"):
            cur[tag] = " ".join(parts[1:])
        elif tag in ("O", "B"):
            nd = int(parts[2])
            shape = tuple(int(s) for s in parts[3:3 + nd])
            vals = np.array([float(v) for v in parts[3 + nd:]], dtype=np.float64)
            try:
                cur[tag][parts[1]] = vals.reshape(shape)
            except ValueError:  # a line cut short by a crash
                cur["done"] = False
                cur["truncated"] = True
        elif tag in ("GR", "H"):
            cur[tag][parts[1]] = np.array([float(v) for v in parts[2:]], dtype=np.float64)
        elif tag == "IDX":
            nd = int(parts[1])
            shape = tuple(int(s) for s in parts[2:2 + nd])
            cur["IDX"] = np.array([int(v) for v in parts[2 + nd:]], dtype=np.int64).reshape(shape)
        elif tag == "DONE":
            cur["done"] = not cur.get("truncated", False)
    return res


def run_driver(cases, timeout=600):
    if not os.path.exists(DRIVER):
        raise SystemExit(f"no {DRIVER}: run build.sh first")
    inp = "".join(c.serialize() for c in cases)
    p = subprocess.run([DRIVER], input=inp, capture_output=True, text=True, timeout=timeout)
    res = parse_output(p.stdout)
    return res, p.returncode, p.stderr


def close(a, b, rtol=RTOL, atol=ATOL):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        if a.size == b.size:
            a = a.reshape(b.shape)
        else:
            return False, f"shape {a.shape} vs {b.shape}"
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if (nan_a != nan_b).any():
        i = np.argwhere(nan_a != nan_b)[0]
        return False, f"NaN mismatch at {tuple(i)}: tg {a[tuple(i)]} torch {b[tuple(i)]}"
    inf_a, inf_b = np.isinf(a), np.isinf(b)
    if (inf_a != inf_b).any() or (a[inf_a] != b[inf_b]).any():
        i = np.argwhere((inf_a != inf_b) | (inf_a & (a != b)))[0]
        return False, f"inf mismatch at {tuple(i)}: tg {a[tuple(i)]} torch {b[tuple(i)]}"
    fin = ~(nan_a | inf_a)
    if not fin.any():
        return True, ""
    scale = max(1.0, float(np.max(np.abs(b[fin]))))
    diff = np.abs(a[fin] - b[fin])
    tol = atol * scale + rtol * np.abs(b[fin])
    if (diff > tol).any():
        k = int(np.argmax(diff - tol))
        idx = np.argwhere(fin)[k]
        return False, (f"max diff {diff.max():.3e} at {tuple(idx)}: tg {a[tuple(idx)]!r} "
                       f"torch {b[tuple(idx)]!r}")
    return True, ""


def torch_side(case):
    T = {}
    for n, (a, rg) in case.tensors.items():
        t = torch.tensor(a, dtype=torch.float64)
        if (rg or n in case.param_names) and not n.startswith("V_") and not n.startswith("G"):
            t.requires_grad_(True)
        T[n] = t
    X = {n: torch.tensor(a, dtype=torch.int64) for n, a in case.idx.items()}
    outs, extra, bufs, idx = case.ref(case, T, X)
    din = {n: t for n, t in T.items() if t.requires_grad}
    din.update(extra)
    r = {"O": {}, "GR": {}, "H": {}, "B": {}, "IDX": None}
    for k, o in enumerate(outs):
        r["O"][str(k)] = o.detach().numpy().copy()
    for n, b in bufs.items():
        r["B"][n] = b.detach().numpy().copy()
    if idx is not None:
        r["IDX"] = idx.numpy().copy()
    names = list(din)
    L = None
    for k, o in enumerate(outs):
        G = T.get(f"G{k}")
        if G is None:
            continue
        s = (o * G).sum()
        L = s if L is None else L + s
    if L is None or not names or case.ints.get("nograd"):
        return r
    if not L.requires_grad:
        for n in names:
            r["GR"][n] = np.zeros(din[n].numel())
            r["H"][n] = np.zeros(din[n].numel())
        return r
    grads = torch.autograd.grad(L, [din[n] for n in names], create_graph=True, allow_unused=True)
    grads = [torch.zeros_like(din[n]) if g is None else g for n, g in zip(names, grads)]
    for n, g in zip(names, grads):
        r["GR"][n] = g.detach().numpy().ravel().copy()
    if case.ints.get("no2"):
        return r
    S = None
    for n, g in zip(names, grads):
        V = T.get("V_" + n)
        if V is None:
            continue
        s = (g * V).sum()
        S = s if S is None else S + s
    if S is None or not S.requires_grad:
        for n in names:
            r["H"][n] = np.zeros(din[n].numel())
        return r
    h = torch.autograd.grad(S, [din[n] for n in names], allow_unused=True)
    for n, hh in zip(names, h):
        r["H"][n] = np.zeros(din[n].numel()) if hh is None else hh.detach().numpy().ravel().copy()
    return r


def add_weights(case, outs_shapes, rng):
    """G_k for each output and V_<name> for each differentiable tensor."""
    for k, s in enumerate(outs_shapes):
        case.T(f"G{k}", rng.standard_normal(s), rg=False)
    for n, (a, rg) in list(case.tensors.items()):
        if (rg or n in case.param_names) and not n.startswith(("G", "V_")):
            case.T("V_" + n, rng.standard_normal(a.shape), rg=False)


def compare(case, tg, th):
    """returns list of problem strings"""
    probs = []
    if tg is None:
        return ["driver produced no result (crash?)"]
    if not tg["done"]:
        probs.append("driver did not finish case (crash?)")
    if isinstance(th, Exception):
        if tg["ERR"] is None:
            probs.append(f"torch refused ({type(th).__name__}: {str(th)[:200]}) but tapegrad accepted")
        return probs
    if tg["ERR"] is not None:
        probs.append(f"tapegrad refused: {tg['ERR'][:300]}")
        return probs
    for k, v in th["O"].items():
        if k not in tg["O"]:
            probs.append(f"output {k} missing")
            continue
        if tuple(tg["O"][k].shape) != tuple(v.shape):
            probs.append(f"output {k} shape tg {tg['O'][k].shape} torch {v.shape}")
            continue
        ok, m = close(tg["O"][k], v)
        if not ok:
            probs.append(f"forward out{k}: {m}")
    for k, v in th["B"].items():
        if k not in tg["B"]:
            probs.append(f"buffer {k} missing")
            continue
        ok, m = close(tg["B"][k], v)
        if not ok:
            probs.append(f"buffer {k}: {m}")
    if th["IDX"] is not None and not getattr(case, "skip_idx", False):
        if tg["IDX"] is None:
            probs.append("indices missing")
        elif tg["IDX"].shape != th["IDX"].shape or (tg["IDX"] != th["IDX"]).any():
            probs.append(f"indices differ: tg {tg['IDX'].ravel()[:20]} torch {th['IDX'].ravel()[:20]}")
    if th["GR"]:
        if tg["GERR"]:
            probs.append(f"tapegrad grad error: {tg['GERR'][:200]}")
        else:
            for n, v in th["GR"].items():
                if n not in tg["GR"]:
                    probs.append(f"grad {n} missing")
                    continue
                ok, m = close(tg["GR"][n], v)
                if not ok:
                    probs.append(f"grad {n}: {m}")
    if th["H"]:
        if tg["HERR"]:
            if any(np.any(v != 0) for v in th["H"].values()):
                probs.append(f"tapegrad 2nd-order error: {tg['HERR'][:200]}")
        else:
            for n, v in th["H"].items():
                if n not in tg["H"]:
                    probs.append(f"2nd {n} missing")
                    continue
                ok, m = close(tg["H"][n], v, rtol=1e-9, atol=1e-9)
                if not ok:
                    probs.append(f"2nd-order {n}: {m}")
    return probs


def run_cases(cases, verbose=True, batch=50):
    bad = []
    for i in range(0, len(cases), batch):
        chunk = cases[i:i + batch]
        for j, c in enumerate(chunk):
            if c.id is None:
                c.id = f"c{i + j}"
        res, rc, err = run_driver(chunk)
        if rc != 0 or len(res) < len(chunk) or any(not r["done"] for r in res.values()):
            # isolate crashing case(s)
            if len(chunk) > 1:
                for c in chunk:
                    r1, rc1, err1 = run_driver([c])
                    if rc1 != 0 or c.id not in r1 or not r1[c.id]["done"]:
                        bad.append((c, [f"CRASH rc={rc1} stderr={err1[-300:]}"]))
                        if verbose:
                            print(f"[{c.id}] {c.op} {c.desc}: CRASH rc={rc1} {err1[-300:]}")
                        res.pop(c.id, None)
                    else:
                        res[c.id] = r1[c.id]
            else:
                bad.append((chunk[0], [f"CRASH rc={rc} stderr={err[-300:]}"]))
                if verbose:
                    print(f"[{chunk[0].id}] {chunk[0].op} {chunk[0].desc}: CRASH rc={rc} {err[-300:]}")
                continue
        for c in chunk:
            if c.id not in res:
                continue
            try:
                th = torch_side(c)
            except Exception as e:  # noqa
                th = e
            probs = compare(c, res[c.id], th)
            if probs:
                bad.append((c, probs))
                if verbose:
                    print(f"[{c.id}] {c.op} {c.desc}:")
                    for p in probs:
                        print("    ", p)
    return bad
