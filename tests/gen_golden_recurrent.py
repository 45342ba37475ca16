#!/usr/bin/python3
"""Golden data for the recurrent ops, written by PyTorch.

Run from the repository root with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_recurrent.py
It writes tests/golden/recurrent_f32.txt and recurrent_f64.txt, which
tests/ops/test_golden_recurrent.c reads. Every case uses loss = sum(out * R)
with a random R and carries the second order (tests/golden_writer.py).

The ops (tg_rnn_recurrence, tg_lstm_recurrence, tg_gru_recurrence) take the
input projection xg = x W_ih^T + b_ih of every step and run one layer's loop
over time. PyTorch has no such function; the reference below is the loop
written with torch ops exactly as torch.nn.RNN/LSTM/GRU define a step
(checked here against torch.rnn_tanh_cell, lstm_cell and gru_cell given the
identity as W_ih, to rtol 1e-6). Its output is h_1..h_T along the time axis,
and for the LSTM c_T after them (cat along time), as the C builder joins
tg_lstm_recurrence's result and c_n.

Inputs in order: xg, w_hh, then b_hh if has_b, h0 if has_h0, c0 if has_c0.
Attributes: bf (batch_first), relu (rnn: the relu nonlinearity), has_b,
has_h0, has_c0.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_writer import GoldenWriter  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def step(mode, x, h, c, w, b):
    """One step from the input projection x [N, G*H]: (h', c')."""
    hh = h @ w.t()
    if b is not None:
        hh = hh + b
    if mode in ("tanh", "relu"):
        pre = x + hh
        return (torch.tanh(pre) if mode == "tanh" else torch.relu(pre)), None
    if mode == "lstm":
        i, f, g, o = (x + hh).chunk(4, 1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        return o * torch.tanh(c), c
    xr, xz, xn = x.chunk(3, 1)
    hr, hz, hn = hh.chunk(3, 1)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return (h - n) * z + n, None


def recurrence(mode, xg, w, b, h0, c0, bf):
    ax = 1 if bf else 0
    T, N, H = xg.shape[ax], xg.shape[1 - ax], w.shape[1]
    h = h0 if h0 is not None else torch.zeros(N, H, dtype=xg.dtype)
    c = c0 if c0 is not None else torch.zeros(N, H, dtype=xg.dtype)
    outs = []
    for t in range(T):
        h, c2 = step(mode, xg.select(ax, t), h, c, w, b)
        c = c2 if c2 is not None else c
        outs.append(h)
    if mode == "lstm":
        outs.append(c)
    return torch.stack(outs, ax)


def check_against_cells():
    """The reference step equals PyTorch's own cells (W_ih = identity)."""
    g = torch.Generator().manual_seed(5)
    N, H = 3, 4
    for mode, G, cellf in (("tanh", 1, torch.rnn_tanh_cell), ("relu", 1, torch.rnn_relu_cell),
                           ("lstm", 4, torch.lstm_cell), ("gru", 3, torch.gru_cell)):
        x = torch.randn(N, G * H, generator=g, dtype=torch.float64)
        h = torch.randn(N, H, generator=g, dtype=torch.float64)
        c = torch.randn(N, H, generator=g, dtype=torch.float64)
        w = torch.randn(G * H, H, generator=g, dtype=torch.float64)
        b = torch.randn(G * H, generator=g, dtype=torch.float64)
        eye = torch.eye(G * H, dtype=torch.float64)
        mine, mc = step(mode, x, h, c, w, b)
        if mode == "lstm":
            theirs, tc = cellf(x, (h, c), eye, w, None, b)
            assert torch.allclose(mc, tc, rtol=1e-6, atol=0), mode
        else:
            theirs = cellf(x, h, eye, w, None, b)
        assert torch.allclose(mine, theirs, rtol=1e-6, atol=0), mode


def write(dtype, path):
    w = GoldenWriter(path)
    seed = [0]

    def rnd(*shape, scale=1.0):
        seed[0] += 1
        g = torch.Generator().manual_seed(9300 + seed[0])
        return (scale * torch.randn(tuple(shape), generator=g, dtype=torch.float64)).to(dtype)

    def case(name, mode, T, N, H, bf=False, has_b=True, has_h0=True, has_c0=True, wscale=0.5):
        G = {"tanh": 1, "relu": 1, "lstm": 4, "gru": 3}[mode]
        has_c0 = has_c0 and mode == "lstm"
        xg = rnd(N, T, G * H) if bf else rnd(T, N, G * H)
        ins = [xg, rnd(G * H, H, scale=wscale)]
        if has_b:
            ins.append(rnd(G * H, scale=0.5))
        if has_h0:
            ins.append(rnd(N, H))
        if has_c0:
            ins.append(rnd(N, H))

        def fn(*a, mode=mode, bf=bf, has_b=has_b, has_h0=has_h0, has_c0=has_c0):
            xg, wh, rest = a[0], a[1], list(a[2:])
            b = rest.pop(0) if has_b else None
            h0 = rest.pop(0) if has_h0 else None
            c0 = rest.pop(0) if has_c0 else None
            return recurrence(mode, xg, wh, b, h0, c0, bf)

        op = {"tanh": "rnn_recurrence", "relu": "rnn_recurrence", "lstm": "lstm_recurrence",
              "gru": "gru_recurrence"}[mode]
        attrs = {"bf": int(bf), "relu": int(mode == "relu"), "has_b": int(has_b),
                 "has_h0": int(has_h0), "has_c0": int(has_c0)}
        w.case(name, op, fn, ins, attrs=attrs, seed=seed[0])

    for mode in ("tanh", "relu", "lstm", "gru"):
        case(mode + "_basic", mode, 4, 3, 5)
        case(mode + "_batch_first", mode, 3, 2, 4, bf=True)
        case(mode + "_no_bias_no_state", mode, 3, 2, 3, has_b=False, has_h0=False, has_c0=False)
        case(mode + "_one_step", mode, 1, 4, 2)
        case(mode + "_one_sample_bf", mode, 5, 1, 3, bf=True, has_b=False)
        case(mode + "_hidden_1", mode, 3, 2, 1)
        # recurrent weights small enough that the state does not grow over
        # the twelve steps (a relu RNN with larger ones grows its state
        # tenfold, and small elements of its gradients become differences of
        # elements 600 times larger, below float's resolution of them)
        case(mode + "_longer", mode, 12, 2, 4, bf=True, wscale=0.3)
    case("lstm_h0_no_c0", "lstm", 3, 2, 3, has_c0=False)
    case("lstm_c0_no_h0", "lstm", 3, 2, 3, has_h0=False)
    case("lstm_empty_batch", "lstm", 3, 0, 2)
    case("gru_empty_batch_bf", "gru", 2, 0, 3, bf=True)
    w.close()


if __name__ == "__main__":
    check_against_cells()
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    write(torch.float32, os.path.join(HERE, "golden", "recurrent_f32.txt"))
    write(torch.float64, os.path.join(HERE, "golden", "recurrent_f64.txt"))
    print("wrote tests/golden/recurrent_f32.txt and recurrent_f64.txt")
