"""Generators for embedding, recurrent layers and cells, attention, losses and dropout."""
import numpy as np
import torch
import torch.nn.functional as F

from harness import Case
from gens import finalize, rn, swap, BIG

MODES = {0: "RNN_TANH", 1: "RNN_RELU", 2: "LSTM", 3: "GRU"}


# ------------------------------------------------------------- embedding
def ref_embedding(c, T, X):
    pi = c.ints["padding_idx"] if c.ints.get("has_pad") else None
    return [F.embedding(X["idx"], T["w"], pi)], {}, {}, None


def gen_embedding(rng, layer=False):
    c = Case("embedding_layer" if layer else "embedding", ref_embedding)
    V, D = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    nd = int(rng.integers(0, 4))
    S = [int(rng.integers(1, 4)) for _ in range(nd)]
    idx = rng.integers(0, V, size=S)
    if rng.random() < 0.05:
        idx = np.asarray(idx).copy()
        idx.flat[0] = V if rng.random() < 0.5 else -1  # invalid
    (c.P if layer else c.T)("w", rn(rng, V, D))
    c.X("idx", idx)
    if rng.random() < 0.6:
        c.I(has_pad=1, padding_idx=int(rng.integers(-V, V)))
    c.desc = dict(V=V, D=D, S=S, pad=c.ints.get("padding_idx"))
    return finalize(c, rng)


# ------------------------------------------------------------- recurrent
def ref_recurrent(c, T, X):
    i = c.ints
    mode = i["mode"]
    kw = dict(num_layers=i["layers"], bias=bool(i["bias"]), batch_first=bool(i["batch_first"]))
    if mode in (0, 1):
        m = torch.nn.RNN(i["input_size"], i["hidden"], nonlinearity="tanh" if mode == 0 else "relu", **kw)
    elif mode == 2:
        m = torch.nn.LSTM(i["input_size"], i["hidden"], **kw)
    else:
        m = torch.nn.GRU(i["input_size"], i["hidden"], **kw)
    names = [n for n, _ in m.named_parameters()]
    swap(m, {n: T[n] for n in names})
    x = T["x"]
    if mode == 2:
        h0, c0 = T.get("h0"), T.get("c0")
        if h0 is None and c0 is None:
            out, (hn, cn) = m(x)
        else:
            L, H = i["layers"], i["hidden"]
            shp = (L, H) if x.dim() == 2 else (L, x.shape[0 if i["batch_first"] else 1], H)
            h0 = h0 if h0 is not None else torch.zeros(shp)
            c0 = c0 if c0 is not None else torch.zeros(shp)
            out, (hn, cn) = m(x, (h0, c0))
        return [out, hn, cn], {}, {}, None
    h0 = T.get("h0")
    out, hn = m(x) if h0 is None else m(x, h0)
    return [out, hn], {}, {}, None


def gen_recurrent(rng, mode=None):
    c = Case("recurrent", ref_recurrent)
    mode = int(rng.integers(0, 4)) if mode is None else mode
    G = {0: 1, 1: 1, 2: 4, 3: 3}[mode]
    I_, H = int(rng.integers(1, 4 + 20 * BIG)), int(rng.integers(1, 4 + 30 * BIG))
    L = int(rng.choice([1, 1, 2, 3]))
    bias = int(rng.random() < 0.75)
    bf = int(rng.random() < 0.4)
    Tn = int(rng.choice([1, 1, 2, 3, 4])) + int(rng.integers(0, 1 + 12 * BIG))
    N = int(rng.choice([1, 2, 3])) + int(rng.integers(0, 1 + 6 * BIG))
    unb = rng.random() < 0.2
    if unb:
        xs = [Tn, I_]
        hs = [L, H]
    else:
        xs = [N, Tn, I_] if bf else [Tn, N, I_]
        hs = [L, N, H]
    if rng.random() < 0.03:
        xs[1 if bf and not unb else 0] = 0  # T = 0: refused
    c.I(mode=mode, input_size=I_, hidden=H, layers=L, bias=bias, batch_first=bf)
    sc = 0.8 / (1 + BIG * np.sqrt(H) / 2)
    for k in range(L):
        ink = I_ if k == 0 else H
        c.P(f"weight_ih_l{k}", rn(rng, G * H, ink) * sc)
        c.P(f"weight_hh_l{k}", rn(rng, G * H, H) * sc)
        if bias:
            c.P(f"bias_ih_l{k}", rn(rng, G * H) * sc)
            c.P(f"bias_hh_l{k}", rn(rng, G * H) * sc)
    c.T("x", rn(rng, *xs))
    if rng.random() < 0.6:
        c.T("h0", rn(rng, *hs) * 0.5)
    if mode == 2 and rng.random() < 0.6:
        c.T("c0", rn(rng, *hs) * 0.5)
    c.desc = dict(mode=MODES[mode], I=I_, H=H, L=L, bias=bias, bf=bf, x=xs,
                  h0="h0" in c.tensors, c0="c0" in c.tensors)
    return finalize(c, rng)


def ref_cell(c, T, X):
    i = c.ints
    mode = i["mode"]
    H = T["weight_hh"].shape[1]
    I_ = T["weight_ih"].shape[1]
    bias = "bias_ih" in T
    if mode in (0, 1):
        m = torch.nn.RNNCell(I_, H, bias, nonlinearity="tanh" if mode == 0 else "relu")
    elif mode == 2:
        m = torch.nn.LSTMCell(I_, H, bias)
    else:
        m = torch.nn.GRUCell(I_, H, bias)
    names = [n for n, _ in m.named_parameters()]
    swap(m, {n: T[n] for n in names})
    x = T["x"]
    hshape = (H,) if x.dim() == 1 else (x.shape[0], H)
    h = T.get("h")
    if mode == 2:
        cc = T.get("c")
        if h is None and cc is None:
            h1, c1 = m(x)
        else:
            h1, c1 = m(x, (h if h is not None else torch.zeros(hshape),
                           cc if cc is not None else torch.zeros(hshape)))
        return [h1, c1], {}, {}, None
    return [m(x) if h is None else m(x, h)], {}, {}, None


def gen_cell(rng, layer=False):
    c = Case("cell", ref_cell)
    mode = int(rng.integers(0, 4))
    G = {0: 1, 1: 1, 2: 4, 3: 3}[mode]
    I_, H = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    N = int(rng.integers(1, 4))
    unb = rng.random() < 0.25
    put = c.P if layer else c.T
    put("weight_ih", rn(rng, G * H, I_))
    put("weight_hh", rn(rng, G * H, H))
    if rng.random() < 0.75:
        put("bias_ih", rn(rng, G * H))
        put("bias_hh", rn(rng, G * H))
    c.T("x", rn(rng, I_) if unb else rn(rng, N, I_))
    hs = [H] if unb else [N, H]
    if rng.random() < 0.7:
        c.T("h", rn(rng, *hs) * 0.5)
    if mode == 2 and rng.random() < 0.7:
        c.T("c", rn(rng, *hs) * 0.5)
    c.I(mode=mode, layer=int(layer))
    c.desc = dict(mode=MODES[mode], I=I_, H=H, unbatched=unb, h="h" in c.tensors,
                  c="c" in c.tensors, bias="bias_ih" in c.tensors)
    return finalize(c, rng)


# ------------------------------------------------------------- attention
def mask_to_additive(m, kind):
    if m is None:
        return None
    if kind == 0:
        return m
    hide = (m != 0) if kind == 2 else (m == 0)
    return torch.zeros(m.shape).masked_fill(hide, float("-inf"))


def ref_mha(c, T, X):
    i = c.ints
    E = T["in_proj_weight"].shape[1]
    heads = i["heads"]
    bias = "in_proj_bias" in T
    bf = bool(i["batch_first"])
    m = torch.nn.MultiheadAttention(E, heads, bias=bias, batch_first=bf)
    p = {"in_proj_weight": T["in_proj_weight"], "out_proj.weight": T["out_proj.weight"]}
    if bias:
        p["in_proj_bias"] = T["in_proj_bias"]
        p["out_proj.bias"] = T["out_proj.bias"]
    else:
        # no bias: torch still has out_proj.bias = None
        pass
    swap(m, p)
    q = T["q"]
    k = q if i.get("self") else T["k"]
    v = q if i.get("self") else T["v"]
    unb = q.dim() == 2
    Lq = q.shape[0] if unb or not bf else q.shape[1]
    S = k.shape[0] if unb or not bf else k.shape[1]
    N = 1 if unb else (q.shape[0] if bf else q.shape[1])
    # build one additive mask [N*heads, L, S] as PyTorch 2 merges them
    add = torch.zeros(N, heads, Lq, S)
    am = mask_to_additive(T.get("amask"), i.get("amask_kind", 0))
    if am is not None:
        if am.dim() == 2:
            add = add + am
        else:
            add = add + am.reshape(N, heads, Lq, S)
    kpm = mask_to_additive(T.get("kpm"), i.get("kpm_kind", 2))
    if kpm is not None:
        add = add + kpm.reshape(N, 1, 1, S)
    if i.get("is_causal"):
        add = add + torch.zeros(Lq, S).masked_fill(torch.ones(Lq, S).tril() == 0, float("-inf"))
    if unb:
        add = add.reshape(heads, Lq, S)
    else:
        add = add.reshape(N * heads, Lq, S)
    any_mask = am is not None or kpm is not None or i.get("is_causal")
    out, _ = m(q, k, v, need_weights=False, attn_mask=add if any_mask else None)
    return [out], {}, {}, None


def gen_mha(rng):
    c = Case("mha", ref_mha)
    heads = int(rng.integers(1, 4))
    E = heads * int(rng.integers(1, 3 + 8 * BIG))
    bias = rng.random() < 0.7
    bf = int(rng.random() < 0.5)
    self_ = rng.random() < 0.5
    L = int(rng.integers(1, 5 + 12 * BIG))
    S = L if self_ else int(rng.integers(1, 5 + 12 * BIG))
    N = int(rng.integers(1, 3 + 3 * BIG))
    unb = rng.random() < 0.2
    def shp(n):
        return [n, E] if unb else ([N, n, E] if bf else [n, N, E])
    c.P("in_proj_weight", rn(rng, 3 * E, E) * 0.7 / np.sqrt(E))
    c.P("out_proj.weight", rn(rng, E, E) * 0.7 / np.sqrt(E))
    if bias:
        c.P("in_proj_bias", rn(rng, 3 * E) * 0.5)
        c.P("out_proj.bias", rn(rng, E) * 0.5)
    c.T("q", rn(rng, *shp(L)))
    if not self_:
        c.T("k", rn(rng, *shp(S)))
        c.T("v", rn(rng, *shp(S)))
    c.I(heads=heads, batch_first=bf); c.ints["self"] = int(self_)
    r = rng.random()
    if r < 0.3:
        kind = int(rng.choice([0, 1, 2]))
        shape = [S] if unb else [N, S]
        if kind in (1, 2):
            m = (rng.random(shape) < 0.3).astype(float)
        else:
            m = rn(rng, *shape)
            m[rng.random(shape) < 0.2] = float("-inf")
        c.T("kpm", m, rg=False)
        c.I(kpm_kind=kind)
    r = rng.random()
    if r < 0.3:
        kind = int(rng.choice([0, 1, 2]))
        shape = [L, S] if rng.random() < 0.6 else [(1 if unb else N) * heads, L, S]
        if kind in (1, 2):
            m = (rng.random(shape) < 0.3).astype(float)
        else:
            m = rn(rng, *shape)
            m[rng.random(shape) < 0.2] = float("-inf")
        c.T("amask", m, rg=False)
        c.I(amask_kind=kind)
    if rng.random() < 0.3:
        c.I(is_causal=1)
    c.desc = dict(E=E, heads=heads, bias=bias, bf=bf, self=self_, L=L, S=S, N=N, unb=unb,
                  kpm=c.ints.get("kpm_kind") if "kpm" in c.tensors else None,
                  amask=(c.ints.get("amask_kind"), c.tensors["amask"][0].shape) if "amask" in c.tensors else None,
                  causal=c.ints.get("is_causal", 0))
    return finalize(c, rng)


def ref_sdpa(c, T, X):
    i, f = c.ints, c.floats
    q, k, v = T["q"], T["k"], T["v"]
    mask = T.get("mask")
    if mask is not None and i.get("is_causal"):
        raise ValueError("mask and is_causal together")
    scale = f.get("scale", 0.0) or 1.0 / np.sqrt(q.shape[-1])
    s = (q * scale) @ k.transpose(-2, -1)
    if mask is not None:
        s = s + mask_to_additive(mask, i.get("kind", 0))
    if i.get("is_causal"):
        L, S = q.shape[-2], k.shape[-2]
        s = s.masked_fill(torch.ones(L, S).tril() == 0, float("-inf"))
    return [torch.softmax(s, -1) @ v], {}, {}, None


def gen_sdpa(rng):
    c = Case("sdpa", ref_sdpa)
    L, S, E, Ev = (int(rng.integers(1, 5)) for _ in range(4))
    nb = int(rng.integers(0, 3))
    B = [int(rng.integers(1, 3)) for _ in range(nb)]
    def bshape():
        # broadcast: sometimes 1 or missing dims
        out = [b if rng.random() < 0.8 else 1 for b in B]
        if out and rng.random() < 0.2:
            out = out[1:]
        return out
    c.T("q", rn(rng, *(bshape() + [L, E])))
    c.T("k", rn(rng, *(bshape() + [S, E])))
    c.T("v", rn(rng, *(bshape() + [S, Ev])))
    r = rng.random()
    if r < 0.5:
        kind = int(rng.integers(0, 3))
        sb = np.broadcast_shapes(c.tensors["q"][0].shape[:-2], c.tensors["k"][0].shape[:-2],
                                 c.tensors["v"][0].shape[:-2])
        def bshape():  # noqa: F811  (mask: must broadcast to the scores)
            out = [b if rng.random() < 0.7 else 1 for b in sb]
            while out and rng.random() < 0.3:
                out = out[1:]
            return out
        mshape = [L, S] if rng.random() < 0.6 else bshape() + [L, S]
        if rng.random() < 0.2:
            mshape = [1, S] if rng.random() < 0.5 else [L, 1]
        if kind == 0:
            m = rn(rng, *mshape)
            m[rng.random(mshape) < 0.2] = float("-inf")
            c.T("mask", m, rg=bool(rng.random() < 0.5))
        else:
            c.T("mask", (rng.random(mshape) < 0.7).astype(float), rg=False)
        c.I(kind=kind)
    if rng.random() < 0.3:
        c.I(is_causal=1)
    if rng.random() < 0.3:
        c.F(scale=float(rng.choice([0.5, 2.0, 1e-3])))
    c.desc = dict(q=c.tensors["q"][0].shape, k=c.tensors["k"][0].shape, v=c.tensors["v"][0].shape,
                  mask=(c.tensors["mask"][0].shape, c.ints.get("kind"), bool(c.tensors["mask"][1])) if "mask" in c.tensors else None,
                  causal=c.ints.get("is_causal", 0), scale=c.floats.get("scale"))
    return finalize(c, rng)


# ------------------------------------------------------------- losses
RED = {0: "mean", 1: "sum", 2: "none"}


def ref_ce(c, T, X):
    i, f = c.ints, c.floats
    red = RED[i.get("red", 0)]
    w = T.get("weight")
    if c.op == "cross_entropy":
        return [F.cross_entropy(T["x"], X["target_t"], w, ignore_index=i.get("ignore_index", -100),
                                reduction=red, label_smoothing=f.get("ls", 0.0))], {}, {}, None
    if c.op == "nll_loss":
        if f.get("ls", 0.0):
            raise ValueError("nll: label smoothing")
        return [F.nll_loss(T["x"], X["target_t"], w, ignore_index=i.get("ignore_index", -100),
                           reduction=red)], {}, {}, None
    if c.op == "cross_entropy_prob":
        return [F.cross_entropy(T["x"], T["target"], w, reduction=red,
                                label_smoothing=f.get("ls", 0.0))], {}, {}, None
    raise ValueError(c.op)


def gen_ce(rng, op="cross_entropy"):
    c = Case(op, ref_ce)
    C = int(rng.integers(1, 5))
    r = rng.random()
    if r < 0.15:
        xs, ts = [C], []
    elif r < 0.7:
        N = int(rng.integers(1, 5))
        xs, ts = [N, C], [N]
    else:
        N = int(rng.integers(1, 3))
        extra = [int(rng.integers(1, 3)) for _ in range(int(rng.integers(1, 3)))]
        xs, ts = [N, C] + extra, [N] + extra
    x = rn(rng, *xs) * 2
    if rng.random() < 0.1:
        x = x * 1e3
    c.T("x", x)
    if op == "cross_entropy_prob":
        p = rng.random(xs)
        ax = 0 if len(xs) == 1 else 1
        p = p / p.sum(axis=ax, keepdims=True)
        if rng.random() < 0.3:
            # one-hot, or arbitrary non-normalised
            p = rng.random(xs) * 2 - 0.5
        c.T("target", p, rg=bool(rng.random() < 0.5))
    else:
        tgt = rng.integers(0, C, size=ts)
        ii = -100
        if rng.random() < 0.4:
            ii = int(rng.choice([-100, 0, 1, C - 1, -1]))
            m = rng.random(ts) < 0.4
            tgt = np.where(m, ii, tgt)
        if rng.random() < 0.03:
            tgt = np.asarray(tgt).copy()
            tgt.flat[0] = C  # invalid
        c.X("target", np.asarray(tgt).ravel() if ts else np.asarray(tgt).reshape(1))
        c.X("target_t", tgt)
        c.I(ignore_index=ii, raw=int(rng.random() < 0.3))
    if rng.random() < 0.4:
        c.T("weight", rng.random(C) * 2, rg=False)
    c.I(red=int(rng.integers(0, 3)))
    if op != "nll_loss" and rng.random() < 0.4:
        c.F(ls=float(rng.choice([0.1, 0.5, 1.0])))
    c.desc = dict(x=xs, red=RED[c.ints["red"]], ii=c.ints.get("ignore_index"),
                  w="weight" in c.tensors, ls=c.floats.get("ls", 0.0),
                  tgt=c.idx["target"].tolist() if "target" in c.idx else None)
    return finalize(c, rng)


def generators(rng):
    return {
        "emb": lambda: gen_embedding(rng),
        "emb_layer": lambda: gen_embedding(rng, True),
        "rnn": lambda: gen_recurrent(rng),
        "lstm": lambda: gen_recurrent(rng, 2),
        "gru": lambda: gen_recurrent(rng, 3),
        "cell": lambda: gen_cell(rng),
        "cell_layer": lambda: gen_cell(rng, True),
        "mha": lambda: gen_mha(rng),
        "sdpa": lambda: gen_sdpa(rng),
        "ce": lambda: gen_ce(rng, "cross_entropy"),
        "nll": lambda: gen_ce(rng, "nll_loss"),
        "ce_prob": lambda: gen_ce(rng, "cross_entropy_prob"),
        "ce_zero_w": lambda: gen_ce_zero_w(rng),
        "dropout": lambda: gen_dropout(rng),
    }


def ref_dropout(c, T, X):
    return [F.dropout(T["x"], c.floats["p"], training=False)], {}, {}, None


def gen_dropout(rng):
    c = Case("dropout_layer" if rng.random() < 0.5 else "dropout", ref_dropout)
    xs = [int(rng.integers(1, 4)) for _ in range(int(rng.integers(1, 5)))]
    c.F(p=float(rng.choice([0.0, 0.3, 0.5, 1.0])))
    c.I(training=0, channels=int(rng.random() < 0.5))
    if c.op == "dropout_layer" and c.ints["channels"] and len(xs) < 3:
        # tg_dropout2d takes [N, C, L] or [N, C, H, W] only (ops.md); PyTorch 1.13
        # takes any shape in eval (and warns for 2-D)
        xs = [1] * (3 - len(xs)) + xs
    c.T("x", rn(rng, *xs))
    c.desc = dict(x=xs, p=c.floats["p"], channels=c.ints["channels"])
    return finalize(c, rng)


def gen_ce_zero_w(rng):
    c = gen_ce(rng, str(rng.choice(["cross_entropy", "nll_loss", "cross_entropy_prob"])))
    if "weight" in c.tensors:
        w = c.tensors["weight"][0].copy()
        w[rng.random(w.shape) < 0.6] = 0.0
        c.tensors["weight"] = (w, 0)
        c.desc["w"] = w.tolist()
    return c
