#!/usr/bin/python3
"""Golden data for the layers for sequences, written by PyTorch.

Run from anywhere with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_seq_layers.py
It writes tests/golden/seq_layers_f32.txt and seq_layers_f64.txt, which
tests/nn/test_seq_layers.c reads (the format of tests/gen_golden_train.py:
group / attr / tensor / end).

Layer groups (layer_<name>): a torch.nn module (nn.LSTM, nn.GRU, nn.RNN,
the cells, nn.Embedding, nn.MultiheadAttention) with PyTorch's own random
initialisation (torch.manual_seed per group), its parameters under their
state-dict names, the inputs, the outputs, and the gradients of
    loss = sum(out * R) + sum(h_n * R_h) + sum(c_n * R_c)
with respect to the inputs (grad.x, grad.h0, ...) and every parameter
(grad.<name>). The test loads the parameters into tapegrad's layer by name,
runs the same forward and backward and compares.

Init groups (init_<name>): the values tapegrad's initialisers give from a
seed, recomputed with tapegrad's RNG in Python (tests/gen_golden_train.py:
bit-identical doubles): every weight of an LSTM U(-1/sqrt(H), 1/sqrt(H)) in
PyTorch's order of parameters, an embedding N(0, 1) with its padding row
zeroed, and multi-head attention's in_proj_weight (Xavier uniform, drawn
first) and out_proj.weight (nn.Linear's default).
"""
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_golden_train import Rng, Writer, init_kaiming, init_uniform, init_normal  # noqa: E402

GOLDEN = os.path.join(HERE, "golden")


def named_writer(path, script):
    """tests/gen_golden_train.py's Writer, its header naming `script`."""
    w = Writer(path)
    w.f.seek(0)
    w.f.truncate()
    w.f.write("# written by tests/%s with PyTorch %s; do not edit, regenerate\n"
              % (script, torch.__version__))
    return w


def randn(g, *shape, dtype):
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)


def write_group(w, name, attrs, params, inputs, outputs, dtype):
    """inputs: list of (name, tensor or None, requires grad). outputs: the
    module's outputs (out, h_n, c_n), each None if absent; their R drawn
    here. Writes params, inputs, outputs, R and every gradient."""
    g = torch.Generator().manual_seed(len(name) * 7919)
    leaves = {}
    w.group(name, **attrs)
    for pname, p in params:
        w.tensor(pname, p)
    for iname, x, _ in inputs:
        if x is not None:
            w.tensor(iname, x)
    outs = outputs()
    loss = 0
    for oname, o in outs:
        if o is None:
            continue
        R = randn(g, *o.shape, dtype=dtype)
        w.tensor(oname, o)
        w.tensor("R_" + oname, R)
        loss = loss + (o * R).sum()
    wrt = [(n, p) for n, p in params] + [(n, x) for n, x, rg in inputs if x is not None and rg]
    grads = torch.autograd.grad(loss, [t for _, t in wrt], allow_unused=True)
    for (n, t), gr in zip(wrt, grads):
        w.tensor("grad." + n, gr if gr is not None else torch.zeros_like(t))
    w.end()


def module_params(m, prefix):
    return [(prefix + n, p) for n, p in m.named_parameters()]


def write_layers(path, dtype):
    w = named_writer(path, "gen_golden_seq_layers.py")
    # -- recurrent layers
    RNN = [  # name, class, kwargs, T, N (0: unbatched), states
        ("lstm_2layers", "lstm", dict(num_layers=2), 5, 2, True),
        ("lstm_batch_first_no_bias", "lstm", dict(batch_first=True, bias=False), 4, 3, False),
        ("lstm_unbatched", "lstm", dict(num_layers=2), 4, 0, True),
        ("lstm_batch_first_states", "lstm", dict(batch_first=True, num_layers=3), 3, 2, True),
        ("gru_2layers_batch_first", "gru", dict(num_layers=2, batch_first=True), 5, 2, True),
        ("gru_no_state", "gru", dict(), 4, 3, False),
        ("rnn_tanh", "rnn_tanh", dict(num_layers=2), 5, 2, True),
        ("rnn_relu_batch_first", "rnn_relu", dict(batch_first=True, nonlinearity="relu"), 4, 2,
         True),
    ]
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn_tanh": torch.nn.RNN,
           "rnn_relu": torch.nn.RNN}
    for k, (name, kind, kw, T, N, states) in enumerate(RNN):
        torch.manual_seed(100 + k)
        In, H = 3, 4
        m = cls[kind](In, H, **kw).to(dtype)
        L = kw.get("num_layers", 1)
        bf = kw.get("batch_first", False)
        g = torch.Generator().manual_seed(200 + k)
        xs = (T, In) if N == 0 else ((N, T, In) if bf else (T, N, In))
        x = randn(g, *xs, dtype=dtype).requires_grad_()
        ss = (L, H) if N == 0 else (L, N, H)
        h0 = randn(g, *ss, dtype=dtype).requires_grad_() if states else None
        c0 = randn(g, *ss, dtype=dtype).requires_grad_() if states and kind == "lstm" else None

        def outputs(m=m, x=x, h0=h0, c0=c0, kind=kind):
            if kind == "lstm":
                hc = (h0, c0) if h0 is not None else None
                out, (hn, cn) = m(x, hc)
                return [("out", out), ("h_n", hn), ("c_n", cn)]
            out, hn = m(x, h0)
            return [("out", out), ("h_n", hn)]

        attrs = dict(kind=kind, input_size=In, hidden_size=H, num_layers=L,
                     bias=int(kw.get("bias", True)), batch_first=int(bf), states=int(states))
        write_group(w, "layer_" + name, attrs, module_params(m, "rnn."),
                    [("x", x, True), ("h0", h0, True), ("c0", c0, True)], outputs, dtype)
    # -- cells
    CELLS = [("lstm_cell", torch.nn.LSTMCell, {}, "lstm", 2, True),
             ("lstm_cell_unbatched", torch.nn.LSTMCell, {}, "lstm", 0, True),
             ("gru_cell", torch.nn.GRUCell, {}, "gru", 3, True),
             ("gru_cell_no_state", torch.nn.GRUCell, {"bias": False}, "gru", 2, False),
             ("rnn_cell_relu", torch.nn.RNNCell, {"nonlinearity": "relu"}, "rnn_relu", 2, True),
             ("rnn_cell_tanh_unbatched", torch.nn.RNNCell, {}, "rnn_tanh", 0, True)]
    for k, (name, c, kw, kind, N, states) in enumerate(CELLS):
        torch.manual_seed(300 + k)
        In, H = 3, 4
        m = c(In, H, **kw).to(dtype)
        g = torch.Generator().manual_seed(400 + k)
        x = randn(g, *((N, In) if N else (In,)), dtype=dtype).requires_grad_()
        h = randn(g, *((N, H) if N else (H,)), dtype=dtype).requires_grad_() if states else None
        cc = randn(g, *((N, H) if N else (H,)), dtype=dtype).requires_grad_() \
            if states and kind == "lstm" else None

        def outputs(m=m, x=x, h=h, cc=cc, kind=kind):
            if kind == "lstm":
                hy, cy = m(x, (h, cc) if h is not None else None)
                return [("out", hy), ("c_n", cy)]
            return [("out", m(x, h))]

        attrs = dict(kind=kind, input_size=In, hidden_size=H, bias=int(kw.get("bias", True)),
                     states=int(states))
        write_group(w, "layer_" + name, attrs, module_params(m, "cell."),
                    [("x", x, True), ("h0", h, True), ("c0", cc, True)], outputs, dtype)
    # -- embedding
    for k, (name, pad, idx) in enumerate([("embedding", None, [[1, 4, 1], [0, 2, 4]]),
                                          ("embedding_padding", 2, [[2, 0, 2, 5], [1, 2, 3, 3]]),
                                          ("embedding_padding_negative", -1, [5, 5, 0, 1])]):
        torch.manual_seed(500 + k)
        m = torch.nn.Embedding(6, 3, padding_idx=pad).to(dtype)
        index = torch.tensor(idx, dtype=torch.int64)
        attrs = dict(num_embeddings=6, embedding_dim=3, padding=("none" if pad is None else pad))

        def outputs(m=m, index=index):
            return [("out", m(index))]

        write_group(w, "layer_" + name, attrs, module_params(m, "emb."),
                    [("index", index.double(), False)], outputs, dtype)
    # -- multi-head attention
    MHA = [  # name, E, heads, bias, batch_first, self-attention, N (0: unbatched), L, S, masks
        ("mha_self_batch_first", 8, 2, True, True, True, 2, 4, 4, ""),
        ("mha_self_causal", 8, 4, True, True, True, 2, 5, 5, "causal"),
        ("mha_cross_time_major", 6, 3, True, False, False, 2, 3, 5, ""),
        ("mha_key_padding", 8, 2, True, True, False, 3, 4, 5, "kpm"),
        ("mha_key_padding_float", 8, 2, True, True, True, 2, 4, 4, "kpm_float"),
        ("mha_attn_mask_bool_3d", 4, 2, True, True, False, 2, 3, 4, "am3"),
        ("mha_attn_mask_float_and_kpm", 4, 1, False, False, True, 2, 3, 3, "amf+kpm"),
        ("mha_unbatched", 6, 2, True, True, False, 0, 3, 4, "kpm"),
        ("mha_fully_masked", 4, 2, True, True, True, 2, 3, 3, "kpm_all"),
    ]
    for k, (name, E, h, bias, bf, self_attn, N, L, S, masks) in enumerate(MHA):
        torch.manual_seed(600 + k)
        m = torch.nn.MultiheadAttention(E, h, bias=bias, batch_first=bf).to(dtype)
        g = torch.Generator().manual_seed(700 + k)

        def shape(n, length):
            return (length, E) if N == 0 else ((N, length, E) if bf else (length, N, E))

        q = randn(g, *shape(N, L), dtype=dtype).requires_grad_()
        kk = q if self_attn else randn(g, *shape(N, S), dtype=dtype).requires_grad_()
        v = q if self_attn else randn(g, *shape(N, S), dtype=dtype).requires_grad_()
        kpm = am = None
        if "kpm" in masks:
            kpm = (torch.rand(*((N, S) if N else (S,)), generator=g) < 0.3)
            if masks == "kpm_all":
                kpm[...] = False
                kpm[1, :] = True  # every key of sample 1 hidden: NaN, as PyTorch
            else:
                kpm[..., 0] = False
            if masks == "kpm_float":
                kpm = torch.zeros(kpm.shape, dtype=dtype).masked_fill(kpm, float("-inf"))
        if masks == "causal":
            am = torch.zeros(L, S, dtype=dtype).masked_fill(
                ~torch.ones(L, S, dtype=torch.bool).tril(), float("-inf"))
        if masks == "am3":
            am = torch.rand(N * h, L, S, generator=g) < 0.3
            am[..., 0] = False
        if masks.startswith("amf"):
            am = randn(g, L, S, dtype=dtype)

        def outputs(m=m, q=q, kk=kk, v=v, kpm=kpm, am=am):
            return [("out", m(q, kk, v, key_padding_mask=kpm, attn_mask=am,
                              need_weights=False)[0])]

        attrs = dict(embed_dim=E, num_heads=h, bias=int(bias), batch_first=int(bf),
                     self_attn=int(self_attn), masks=masks or "none")
        ins = [("query", q, True)]
        if not self_attn:
            ins += [("key", kk, True), ("value", v, True)]
        if kpm is not None:
            ins.append(("key_padding_mask", kpm if kpm.dtype != torch.bool else kpm.to(dtype),
                        False))
        if am is not None:
            ins.append(("attn_mask", am if am.dtype != torch.bool else am.to(dtype), False))
        write_group(w, "layer_" + name, attrs, module_params(m, "attn."), ins, outputs, dtype)
    w.close()


def write_init(path):
    w = named_writer(path, "gen_golden_seq_layers.py")
    # tg_recurrent_init(TG_RNN_LSTM, input 3, hidden 4, 2 layers) from seed 5
    r = Rng(5)
    w.group("init_lstm", seed=5, input_size=3, hidden_size=4, num_layers=2)
    k = 1 / math.sqrt(4.0)
    for layer in range(2):
        for pname, shape in (("weight_ih", (16, 3 if layer == 0 else 4)), ("weight_hh", (16, 4)),
                             ("bias_ih", (16,)), ("bias_hh", (16,))):
            n = 1
            for d in shape:
                n *= d
            vals = init_uniform(n, -k, k, r)
            w.tensor("rnn.%s_l%d" % (pname, layer),
                     torch.tensor(vals, dtype=torch.float64).reshape(shape))
    w.end()
    # tg_embedding_layer_init(6, 3, padding_idx 2) from seed 6
    r = Rng(6)
    e = torch.tensor(init_normal(18, 0.0, 1.0, r), dtype=torch.float64).reshape(6, 3)
    e[2] = 0
    w.group("init_embedding", seed=6, num_embeddings=6, embedding_dim=3, padding=2)
    w.tensor("emb.weight", e)
    w.end()
    # tg_multihead_attention_init(E 8, 2 heads) from seed 7
    r = Rng(7)
    E = 8
    a = math.sqrt(3.0) * math.sqrt(2.0 / (E + 3 * E))
    inw = init_uniform(3 * E * E, -a, a, r)
    outw = init_kaiming([E, E], math.sqrt(5.0), "fan_in", "leaky_relu", r, True)
    w.group("init_mha", seed=7, embed_dim=E, num_heads=2)
    w.tensor("attn.in_proj_weight", torch.tensor(inw, dtype=torch.float64).reshape(3 * E, E))
    w.tensor("attn.out_proj.weight", torch.tensor(outw, dtype=torch.float64).reshape(E, E))
    w.end()
    w.close()


if __name__ == "__main__":
    os.makedirs(GOLDEN, exist_ok=True)
    write_layers(os.path.join(GOLDEN, "seq_layers_f32.txt"), torch.float32)
    write_layers(os.path.join(GOLDEN, "seq_layers_f64.txt"), torch.float64)
    write_init(os.path.join(GOLDEN, "seq_init.txt"))
    print("wrote tests/golden/seq_layers_f32.txt, seq_layers_f64.txt and seq_init.txt")
