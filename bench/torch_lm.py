#!/usr/bin/python3
"""bench_char_lstm.c and bench_tiny_gpt.c in PyTorch: training steps of the
two language-model demos, the same models and shapes (the modules of
tests/gen_golden_demos.py, which checks their losses against the demos'),
Adam, batches of random windows of data/text/persuasion.txt. Prints ms per
step and characters per second, or one CSV line with --csv:
name,pytorch,threads,ms_per_step,chars_per_s,0,mean_loss,shape

usage: torch_lm.py --model char_lstm [--hidden N] [--embed N] [--layers N] [--seq N]
       torch_lm.py --model tiny_gpt [--layers N] [--heads N] [--embd N] [--block N]
       (both: [--batch N] [--steps N] [--warmup N] [--threads T] [--csv])
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from gen_golden_demos import Block, load_text  # noqa: E402


def char_lstm(a, V):
    emb = torch.nn.Embedding(V, a.embed)
    lstm = torch.nn.LSTM(a.embed, a.hidden, num_layers=a.layers or 1, batch_first=True)
    head = torch.nn.Linear(a.hidden, V)

    def loss(x, y):
        h, _ = lstm(emb(x))
        return F.cross_entropy(head(h).reshape(-1, V), y.reshape(-1))
    shape = (f"hidden {a.hidden} embed {a.embed} layers {a.layers or 1} batch {a.batch} "
             f"seq {a.seq}")
    return [emb, lstm, head], loss, 0.002, a.seq, shape


def tiny_gpt(a, V):
    C, L, T = a.embd, a.layers or 4, a.block
    wte, wpe = torch.nn.Embedding(V, C), torch.nn.Embedding(T, C)
    blocks = torch.nn.ModuleList(Block(C, a.heads) for _ in range(L))
    ln_f = torch.nn.LayerNorm(C)
    with torch.no_grad():  # nanoGPT's scale (a loss near log V at the start), as the demo
        for p in (wte.weight, wpe.weight):
            p.normal_(0.0, 0.02)
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    pos = torch.arange(T)

    def loss(x, y):
        h = wte(x) + wpe(pos)
        for b in blocks:
            h = b(h, causal)
        return F.cross_entropy(F.linear(ln_f(h), wte.weight).reshape(-1, V), y.reshape(-1))
    shape = f"layers {L} heads {a.heads} embd {C} block {T} batch {a.batch}"
    return [wte, wpe, blocks, ln_f], loss, 0.001, T, shape


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=("char_lstm", "tiny_gpt"), required=True)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--layers", type=int, default=0, help="1 (char_lstm) or 4 (tiny_gpt)")
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--embd", type=int, default=128)
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=0, help="20 (char_lstm) or 10 (tiny_gpt)")
    ap.add_argument("--warmup", type=int, default=0, help="3 (char_lstm) or 2 (tiny_gpt)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--csv", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    ids, V = load_text()
    ids = torch.tensor(ids, dtype=torch.int64)
    modules, loss_fn, lr, T, shape = (char_lstm if a.model == "char_lstm" else tiny_gpt)(a, V)
    params = [p for m in modules for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    split = len(ids) * 9 // 10
    offsets = torch.arange(T + 1)

    def step():
        starts = torch.randint(0, split - T - 1, (a.batch, 1))
        w = ids[starts + offsets]  # [B, T + 1]
        loss = loss_fn(w[:, :-1], w[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    lstm = a.model == "char_lstm"
    steps = a.steps or (20 if lstm else 10)
    for _ in range(a.warmup or (3 if lstm else 2)):
        step()
    t0 = time.perf_counter()
    total = sum(step() for _ in range(steps))
    secs = time.perf_counter() - t0
    ms, chars = 1e3 * secs / steps, steps * a.batch * T / secs
    threads = torch.get_num_threads()
    if a.csv:
        print(f"{a.model},pytorch,{threads},{ms:.3f},{chars:.0f},0,{total / steps:.4f},{shape}")
    else:
        print(f"{a.model} ({shape}): torch {torch.__version__}, {threads} thread(s): {ms:.2f} "
              f"ms/step, {chars:.0f} chars/s over {steps} steps; mean loss {total / steps:.4f}")


if __name__ == "__main__":
    main()
