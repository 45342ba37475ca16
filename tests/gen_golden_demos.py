#!/usr/bin/python3
"""Per-step losses of the two language-model demos, written by PyTorch.

Run from anywhere with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_demos.py
It writes tests/golden/demo_char_lstm_{f32,f64}.txt and
demo_tiny_gpt_{f32,f64}.txt (the format of tests/gen_golden_train.py), which
tests/nn/test_demo_parity.c reads.

Each demo draws its initial weights and its batches from tapegrad's seeded
RNG; here the same draws come from tapegrad's RNG re-implemented in Python
(tests/gen_golden_train.py: bit-identical doubles), each value rounded to
the file's precision as the C code rounds it to tg_real. The same model is
then built with torch.nn and trained with torch.optim.Adam on the same
batches, and every step's loss is written.

  char_lstm   examples/char_lstm.c: nn.Embedding (N(0, 1)), nn.LSTM
              (batch_first, U(-1/sqrt(H), 1/sqrt(H)) in the order of its
              parameters), nn.Linear (its default), drawn in that order from
              Rng(seed); batches of random windows of the first 90% of
              data/text/persuasion.txt from Rng(seed + 1); the mean cross
              entropy of the next characters; Adam.
  tiny_gpt    examples/tiny_gpt.c (see its comment and write_tiny_gpt).
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_golden_train import Rng, init_kaiming, init_normal, init_uniform  # noqa: E402
from gen_golden_seq_layers import named_writer  # noqa: E402

GOLDEN = os.path.join(HERE, "golden")
TEXT = os.path.join(HERE, "..", "data", "text", "persuasion.txt")

torch.set_num_threads(1)


def load_text():
    raw = open(TEXT, "rb").read()
    chars = sorted(set(raw))
    index = {c: i for i, c in enumerate(chars)}
    return [index[c] for c in raw], len(chars)


def batch(ids, r, lo, hi, B, T):
    """char_batch: B windows at lo + below(hi - lo - T - 1), in order."""
    xs, ys = [], []
    for _ in range(B):
        s = lo + r.below(hi - lo - T - 1)
        xs.append(ids[s:s + T])
        ys.append(ids[s + 1:s + T + 1])
    return torch.tensor(xs, dtype=torch.int64), torch.tensor(ys, dtype=torch.int64)


def tensor(vals, shape, dtype):
    return torch.tensor(vals, dtype=torch.float64).reshape(shape).to(dtype)


CHAR_LSTM = dict(seed=3, embed=16, hidden=32, layers=2, batch=4, seq=16, steps=30, lr=0.01)


def write_char_lstm(path, dtype):
    c = CHAR_LSTM
    ids, V = load_text()
    E, H, L = c["embed"], c["hidden"], c["layers"]
    r = Rng(c["seed"])
    emb = torch.nn.Embedding(V, E).to(dtype)
    lstm = torch.nn.LSTM(E, H, num_layers=L, batch_first=True).to(dtype)
    head = torch.nn.Linear(H, V).to(dtype)
    with torch.no_grad():
        emb.weight.copy_(tensor(init_normal(V * E, 0.0, 1.0, r), (V, E), dtype))
        k = 1 / math.sqrt(H)
        for name, p in lstm.named_parameters():  # weight_ih_l0, weight_hh_l0, bias_ih_l0, ...
            p.copy_(tensor(init_uniform(p.numel(), -k, k, r), tuple(p.shape), dtype))
        head.weight.copy_(tensor(init_kaiming([V, H], math.sqrt(5.0), "fan_in", "leaky_relu", r,
                                              True), (V, H), dtype))
        head.bias.copy_(tensor(init_uniform(V, -k, k, r), (V,), dtype))
    params = list(emb.parameters()) + list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=c["lr"])
    rb = Rng(c["seed"] + 1)
    split = len(ids) * 9 // 10
    losses = []
    for _ in range(c["steps"]):
        x, y = batch(ids, rb, 0, split, c["batch"], c["seq"])
        h, _ = lstm(emb(x))
        loss = F.cross_entropy(head(h).reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    w = named_writer(path, "gen_golden_demos.py")
    w.group("char_lstm", vocab=V, **c)
    w.tensor("loss", torch.tensor(losses, dtype=torch.float64))
    w.end()
    w.close()


TINY_GPT = dict(seed=5, layers=2, heads=4, embd=32, block=16, batch=4, steps=20, lr=0.003)


class Block(torch.nn.Module):
    """One transformer block of GPT-2 (pre-norm): x + attn(ln_1(x)), then
    x + mlp(ln_2(x)) with a tanh GELU; attention causal, without dropout."""

    def __init__(self, C, heads):
        super().__init__()
        self.ln_1 = torch.nn.LayerNorm(C)
        self.attn = torch.nn.MultiheadAttention(C, heads, batch_first=True)
        self.ln_2 = torch.nn.LayerNorm(C)
        self.fc = torch.nn.Linear(C, 4 * C)
        self.proj = torch.nn.Linear(4 * C, C)

    def forward(self, x, causal):
        a = self.ln_1(x)
        x = x + self.attn(a, a, a, attn_mask=causal, need_weights=False)[0]
        return x + self.proj(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))


def write_tiny_gpt(path, dtype):
    """examples/tiny_gpt.c: wte [V, C] and wpe [block, C] N(0, 0.02); per
    block in_proj_weight N(0, 0.02), out_proj.weight N(0, 0.02/sqrt(2L)),
    mlp.fc.weight N(0, 0.02), mlp.proj.weight N(0, 0.02/sqrt(2L)), drawn in
    that order from Rng(seed); biases 0, layer norms 1 and 0; the logits
    ln_f(x)·wteᵀ (tied). Batches from Rng(seed + 1) as char_lstm's."""
    c = TINY_GPT
    ids, V = load_text()
    C, L, T = c["embd"], c["layers"], c["block"]
    r = Rng(c["seed"])
    wte = torch.nn.Embedding(V, C).to(dtype)
    wpe = torch.nn.Embedding(T, C).to(dtype)
    blocks = torch.nn.ModuleList(Block(C, c["heads"]) for _ in range(L)).to(dtype)
    ln_f = torch.nn.LayerNorm(C).to(dtype)
    std, proj_std = 0.02, 0.02 / math.sqrt(2.0 * L)
    with torch.no_grad():
        for p in (wte.weight, wpe.weight):
            p.copy_(tensor(init_normal(p.numel(), 0.0, std, r), tuple(p.shape), dtype))
        for b in blocks:
            for p, s in ((b.attn.in_proj_weight, std), (b.attn.out_proj.weight, proj_std),
                         (b.fc.weight, std), (b.proj.weight, proj_std)):
                p.copy_(tensor(init_normal(p.numel(), 0.0, s, r), tuple(p.shape), dtype))
            for bias in (b.attn.in_proj_bias, b.attn.out_proj.bias, b.fc.bias, b.proj.bias):
                bias.zero_()
    params = (list(wte.parameters()) + list(wpe.parameters()) + list(blocks.parameters())
              + list(ln_f.parameters()))
    opt = torch.optim.Adam(params, lr=c["lr"])
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # True hides
    pos = torch.arange(T)
    rb = Rng(c["seed"] + 1)
    split = len(ids) * 9 // 10
    losses = []
    for _ in range(c["steps"]):
        x, y = batch(ids, rb, 0, split, c["batch"], T)
        h = wte(x) + wpe(pos)
        for b in blocks:
            h = b(h, causal)
        logits = F.linear(ln_f(h), wte.weight)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    w = named_writer(path, "gen_golden_demos.py")
    w.group("tiny_gpt", vocab=V, **c)
    w.tensor("loss", torch.tensor(losses, dtype=torch.float64))
    w.end()
    w.close()


if __name__ == "__main__":
    os.makedirs(GOLDEN, exist_ok=True)
    for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
        write_char_lstm(os.path.join(GOLDEN, "demo_char_lstm_%s.txt" % tag), dtype)
        write_tiny_gpt(os.path.join(GOLDEN, "demo_tiny_gpt_%s.txt" % tag), dtype)
    print("wrote tests/golden/demo_*")
