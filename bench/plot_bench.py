#!/usr/bin/python3
"""Draws docs/images/speed.svg from the CSV that bench/run_bench.py wrote.
Plain SVG written by hand (no plotting library needed):

    /usr/bin/python3 bench/plot_bench.py [--csv bench/results.csv] [--out docs/images/speed.svg]

Three panels: one training epoch (seconds, lower is better) per
configuration; GEMM GFLOP/s per network shape, built-in kernel beside
OpenBLAS with its AVX-512 and its AVX2 (Haswell) kernels; and the cost of one
recorded op on tiny tensors (ns, log scale).
"""
import argparse
import csv
import math
import os
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
COLORS = {"tapegrad": "#2b6cb0", "tapegrad2": "#63a4e8", "openblas": "#c05621",
          "openblas2": "#ed9b5f", "pytorch": "#6b7280", "pytorch2": "#a3a9b3",
          "streamed": "#2f855a", "streamed2": "#68d391"}
FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'


def load(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def pick(rows, setting, kind, name, unit):
    for r in rows:
        if r["setting"] == setting and r["kind"] == kind and r["name"] == name and r["unit"] == unit:
            return float(r["value"])
    return None


def text(x, y, s, size=12, anchor="start", weight="normal", fill="#111"):
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{fill}" {FONT}>{escape(s)}</text>')


def hbars(x0, y0, width, title, items, unit, log=False, fmt="{:.2f}"):
    """items: (label, value, color). Returns (svg parts, height)."""
    parts = [text(x0, y0 + 14, title, 14, weight="bold")]
    label_w, bar_h, gap = 300, 16, 5
    vals = [v for _, v, _ in items if v]
    vmax = max(vals) if vals else 1
    vmin = min(vals) if vals else 1
    plot_w = width - label_w - 120
    y = y0 + 28
    for label, v, color in items:
        parts.append(text(x0 + label_w - 6, y + 12, label, 11, anchor="end"))
        if v:
            if log:
                lo, hi = math.log10(vmin) - 0.3, math.log10(vmax)
                w = plot_w * (math.log10(v) - lo) / (hi - lo)
            else:
                w = plot_w * v / vmax
            parts.append(f'<rect x="{x0 + label_w}" y="{y}" width="{max(w, 1):.1f}" '
                         f'height="{bar_h}" fill="{color}"/>')
            parts.append(text(x0 + label_w + w + 4, y + 12, fmt.format(v) + " " + unit, 11))
        y += bar_h + gap
    return parts, y - y0 + 10


def tables(rows, settings):
    """The figures as Markdown tables (for docs/speed.md)."""
    out = []
    confs = ["tapegrad builtin 1T", "tapegrad builtin 2T", "tapegrad openblas 1T",
             "tapegrad openblas 2T", "tapegrad streamed 1T", "tapegrad streamed 2T",
             "pytorch 1T", "pytorch 2T"]
    for s in settings:
        out.append(f"\n**One epoch, {s}** (median; 1T/2T = 1 or 2 threads)\n")
        out.append("| configuration | s/epoch | samples/s | effective GFLOP/s | epoch / GEMM | "
                   "peak RSS MB | RSS at end MB | heap allocs in epoch |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for c in confs:
            sec = pick(rows, s, "mlp", c, "s/epoch")
            if sec is None:
                continue
            g = pick(rows, s, "mlp", c, "epoch/GEMM")
            al = pick(rows, s, "mlp", c, "heap allocs in epoch")
            out.append(f"| {c} | {sec:.3f} | {60000 / sec:,.0f} | {141.1 / sec:.1f} | "
                       f"{f'{g:.3f}' if g else '-'} | {pick(rows, s, 'mlp', c, 'peak RSS MB'):.1f} | "
                       f"{pick(rows, s, 'mlp', c, 'RSS at end MB'):.1f} | "
                       f"{int(al) if al is not None else '-'} |")
    out.append("\n**GEMM, GFLOP/s on one thread (median of 15), built-in / OpenBLAS**\n")
    head = "| shape | op | " + " | ".join(f"{s}: built-in | OpenBLAS | ratio" for s in settings) + " |"
    out.append(head)
    out.append("| --- | --- |" + " ---: | ---: | ---: |" * len(settings))
    for real in ("float", "double"):
        names = [r["name"] for r in rows if r["setting"] == settings[0] and
                 r["kind"] == f"gemm_{real}" and r["unit"] == "ratio"]
        for n in names:
            parts = n.split(" ")
            label = "all shapes (one step)" if n.startswith("all") else \
                " ".join(parts[:2]) + " " + parts[-1]
            op = "" if n.startswith("all") else parts[-2]
            cells = []
            for s in settings:
                b = pick(rows, s, f"gemm_{real}", n, "builtin GFLOP/s")
                o = pick(rows, s, f"gemm_{real}", n, "openblas GFLOP/s")
                cells.append(f"{b:.1f} | {o:.1f} | {b / o:.2f}")
            out.append(f"| {real} {label} | {op} | " + " | ".join(cells) + " |")
    for s in settings:
        t = pick(rows, s, "overhead", "tapegrad", "ns/op")
        p = pick(rows, s, "overhead", "pytorch", "ns/op")
        a2b = pick(rows, s, "gemm_float_avx2", "all", "builtin GFLOP/s")
        a2o = pick(rows, s, "gemm_float_avx2", "all", "openblas GFLOP/s")
        t2b = pick(rows, s, "gemm_float_2T", "all", "builtin GFLOP/s")
        t2o = pick(rows, s, "gemm_float_2T", "all", "openblas GFLOP/s")
        v1 = pick(rows, s, "gemm_float_1v2", "all", "builtin 1T GFLOP/s")
        v2 = pick(rows, s, "gemm_float_1v2", "all", "builtin 2T GFLOP/s")
        out.append(f"\n{s}: per-op overhead {t:.1f} ns (tapegrad) vs {p:.0f} ns (PyTorch), "
                   f"1/{p / t:.0f}; AVX2 kernel, all shapes: {a2b:.1f} vs OpenBLAS {a2o:.1f} GFLOP/s; "
                   f"two threads each (wall time): built-in {t2b:.1f}, OpenBLAS {t2o:.1f} GFLOP/s; "
                   f"built-in on 1 vs 2 threads, alternated (wall time): {v1:.1f} vs {v2:.1f} GFLOP/s.")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", default=os.path.join(HERE, "results.csv"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "docs", "images", "speed.svg"))
    ap.add_argument("--tables", action="store_true", help="also print the figures as Markdown")
    args = ap.parse_args()
    rows = load(args.csv)
    settings = []
    for r in rows:
        if r["setting"] not in settings:
            settings.append(r["setting"])
    if args.tables:
        print(tables(rows, settings))
    unset = next((s for s in settings if "unset" in s), settings[-1])
    env = next((s for s in settings if "unset" not in s), None)

    width, parts, y = 980, [], 10
    # panel 1: the epoch, with the environment's setting and with it unset
    items = []
    for s in settings:
        tag = "OpenBLAS AVX-512" if s == unset else "OpenBLAS Haswell"
        for name, key in (("tapegrad builtin 1T", "tapegrad"), ("tapegrad builtin 2T", "tapegrad2"),
                          ("tapegrad openblas 1T", "openblas"), ("tapegrad openblas 2T", "openblas2"),
                          ("tapegrad streamed 1T", "streamed"), ("tapegrad streamed 2T", "streamed2"),
                          ("pytorch 1T", "pytorch"), ("pytorch 2T", "pytorch2")):
            v = pick(rows, s, "mlp", name, "s/epoch")
            if v:
                items.append((f"{name}, {tag}", v, COLORS[key]))
    if items:
        p, h = hbars(20, y, width - 20, "One epoch of the 784-500-256-10 MLP on Fashion-MNIST "
                     "(seconds, lower is better)", items, "s")
        parts += p
        y += h + 10

    # panel 2: peak RSS, the data in memory or read from the file
    items = []
    for name, key, label in (("tapegrad builtin 1T", "tapegrad", "tapegrad, images in memory"),
                             ("tapegrad streamed 1T", "streamed", "tapegrad, images read from the file"),
                             ("pytorch 1T", "pytorch", "PyTorch")):
        v = pick(rows, unset, "mlp", name, "peak RSS MB")
        if v:
            items.append((label, v, COLORS[key]))
    if items:
        p, h = hbars(20, y, width - 20, "Peak resident memory while training one epoch "
                     "(MB, lower is better)", items, "MB", fmt="{:.1f}")
        parts += p
        y += h + 10

    # panel 3: GEMM GFLOP/s per shape (float)
    names = [r["name"] for r in rows if r["setting"] == unset and r["kind"] == "gemm_float"
             and r["unit"] == "builtin GFLOP/s" and not r["name"].startswith("all")]
    items = []
    for n in names:
        short = n.split(" ")[0] + " " + n.split(" ")[1]
        items.append((f"{short} built-in", pick(rows, unset, "gemm_float", n, "builtin GFLOP/s"),
                      COLORS["tapegrad"]))
        items.append((f"{short} OpenBLAS AVX-512", pick(rows, unset, "gemm_float", n, "openblas GFLOP/s"),
                      COLORS["openblas"]))
        if env:
            items.append((f"{short} OpenBLAS Haswell", pick(rows, env, "gemm_float", n, "openblas GFLOP/s"),
                          COLORS["openblas2"]))
    if items:
        p, h = hbars(20, y, width - 20, "GEMM on the network's shapes, float, 1 thread "
                     "(GFLOP/s, higher is better)", items, "GFLOP/s", fmt="{:.0f}")
        parts += p
        y += h + 10

    # panel 4: per-op overhead
    items = []
    for s in settings:
        t = pick(rows, s, "overhead", "tapegrad", "ns/op")
        pt = pick(rows, s, "overhead", "pytorch", "ns/op")
        if t and pt:
            items = [("tapegrad", t, COLORS["tapegrad"]), ("PyTorch", pt, COLORS["pytorch"])]
    if items:
        p, h = hbars(20, y, width - 20, "One recorded op on [4] tensors, forward + backward "
                     "(ns, log scale, lower is better)", items, "ns", log=True, fmt="{:.0f}")
        parts += p
        y += h

    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y:.0f}" '
           f'viewBox="0 0 {width} {y:.0f}">', f'<rect width="100%" height="100%" fill="white"/>']
    svg += parts + ["</svg>"]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(svg) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
