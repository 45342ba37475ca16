#!/usr/bin/python3
"""Runs every tapegrad benchmark beside its PyTorch / OpenBLAS reference in
one go and prints the medians and the ratios against the speed goals
(docs/speed.md).

    cmake -S . -B build && cmake --build build -j2
    /usr/bin/python3 bench/run_bench.py --build build [--runs 3] [--out bench/results.csv]

For each OPENBLAS_CORETYPE setting (the environment's, and unset, which lets
OpenBLAS pick its AVX-512 kernels on this CPU) it runs, in interleaved rounds
so that both sides see the same machine load:
  - bench_gemm and bench_gemm_f64 (built-in kernel vs OpenBLAS, 1 thread each)
  - bench_overhead vs bench/torch_overhead.py
  - bench_cores just before and just after each built-in two-thread epoch:
    how long a cache line takes between the two CPUs, which sets the
    two-thread epoch's state here
  - bench_mlp (built-in GEMM and OpenBLAS, 1 and 2 threads; and the
    built-in GEMM with the images read from the file batch by batch,
    --stream, from an uncompressed copy of the data made in a temporary
    directory) vs bench/torch_mlp.py (1 and 2 threads)
Every figure is the median of --runs runs (at least 3 for the epochs).
Results go to --out as CSV (read by bench/plot_bench.py).
"""
import argparse
import csv
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# bench_cores' one-way times that tell the two-thread states apart here:
# 30-65 ns in the fast state, 210-250 ns in the slow one (docs/speed.md)
FAST_NS, SLOW_NS = 100, 150
PY = "/usr/bin/python3"


def run(cmd, env_extra, unset=()):
    env = dict(os.environ)
    for k in unset:
        env.pop(k, None)
    env.update(env_extra)
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return [line.split(",") for line in out.splitlines() if "," in line]


def cores_figures(prog):
    """bench_cores' one-way time of a cache line (ns) and its crossing ReLU's
    ratio, or None where it cannot run (fewer than two CPUs)."""
    try:
        f = run([prog, "--csv", "--reps", "5"], {})[0]
    except subprocess.CalledProcessError as e:
        print(f"  (bench_cores: {e.stderr.strip()})")
        return None
    return float(f[3]), float(f[7])


def raw_copy(data_dir, into):
    """The training files of data_dir, uncompressed, in the directory `into`
    (tg_mnist_open reads the images where they lie, so they must be raw)."""
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        src = os.path.join(data_dir, stem)
        if os.path.exists(src + ".gz"):
            with gzip.open(src + ".gz", "rb") as f, open(os.path.join(into, stem), "wb") as g:
                shutil.copyfileobj(f, g)
        else:
            shutil.copy(src, into)
    return into


def coretype_settings():
    env_value = os.environ.get("OPENBLAS_CORETYPE")
    settings = []
    if env_value:
        settings.append((f"OPENBLAS_CORETYPE={env_value}", {"OPENBLAS_CORETYPE": env_value}, ()))
    settings.append(("OPENBLAS_CORETYPE unset", {}, ("OPENBLAS_CORETYPE",)))
    return settings


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build", help="the CMake build directory")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default=os.path.join(HERE, "results.csv"))
    ap.add_argument("--skip-mlp", action="store_true")
    args = ap.parse_args()
    runs = max(3, args.runs)
    bdir = os.path.join(args.build, "bench")
    exe = lambda name: os.path.join(bdir, name)
    rows = []  # setting, kind, name, value, unit

    def add(setting, kind, name, value, unit=""):
        rows.append({"setting": setting, "kind": kind, "name": name, "value": value, "unit": unit})

    started = time.time()
    raw_dir = None if args.skip_mlp else raw_copy(args.data, tempfile.mkdtemp(prefix="tg_bench_"))
    for label, env, unset in coretype_settings():
        print(f"\n=== {label} ===", flush=True)
        one = {"OPENBLAS_NUM_THREADS": "1"}

        # ---- GEMM: the benchmark alternates the backends itself
        for prog in ("bench_gemm", "bench_gemm_f64"):
            lines = run([exe(prog), "--csv", "--reps", "15"], {**env, **one}, unset)
            print(f"\n{prog} (GFLOP/s, 1 thread, median of 15)")
            print(f"  {'shape':<16}{'op':>3} {'M':>5}{'N':>5}{'K':>5} {'builtin':>9}{'openblas':>9}{'ratio':>7}")
            for f in lines:
                _, real, name, op, M, N, K, gb, go, core = f[:10]
                gb, go = float(gb), float(go)
                print(f"  {name:<16}{op:>3} {M:>5}{N:>5}{K:>5} {gb:9.1f}{go:9.1f}{gb / go:7.2f}")
                add(label, f"gemm_{real}", name.strip() + f" {op} {M}x{N}x{K}", gb, "builtin GFLOP/s")
                add(label, f"gemm_{real}", name.strip() + f" {op} {M}x{N}x{K}", go, "openblas GFLOP/s")
                add(label, f"gemm_{real}", name.strip() + f" {op} {M}x{N}x{K}", gb / go, "ratio")
            print(f"  OpenBLAS core: {lines[0][9]}")
            add(label, f"gemm_{real}", "openblas core", lines[0][9])

        # ---- the AVX2 kernel (what a CPU without AVX-512 runs), float
        lines = run([exe("bench_gemm"), "--csv", "--reps", "15"],
                    {**env, **one, "TG_GEMM_KERNEL": "avx2"}, unset)
        allrow = [f for f in lines if f[2] == "all"][0]
        print(f"\nbench_gemm with TG_GEMM_KERNEL=avx2, all shapes: built-in {float(allrow[7]):.1f} "
              f"GFLOP/s, OpenBLAS ({allrow[9]}) {float(allrow[8]):.1f} GFLOP/s")
        add(label, "gemm_float_avx2", "all", float(allrow[7]), "builtin GFLOP/s")
        add(label, "gemm_float_avx2", "all", float(allrow[8]), "openblas GFLOP/s")

        # ---- GEMM on two threads (wall time): the built-in split, OpenBLAS's threads,
        # and the built-in kernel on 1 vs 2 threads alternated in one run
        lines = run([exe("bench_gemm"), "--csv", "--reps", "15", "--threads", "2"],
                    {**env, "OPENBLAS_NUM_THREADS": "2"}, unset)
        allrow = [f for f in lines if f[2] == "all"][0]
        gb2, go2 = float(allrow[7]), float(allrow[8])
        lines = run([exe("bench_gemm"), "--csv", "--reps", "15", "--vs-threads", "2"],
                    {**env, **one}, unset)
        allrow = [f for f in lines if f[2] == "all"][0]
        g1, g2 = float(allrow[7]), float(allrow[8])
        print(f"\nbench_gemm, 2 threads each (wall time), all shapes: built-in {gb2:.1f} GFLOP/s, "
              f"OpenBLAS {go2:.1f} GFLOP/s; built-in 1 vs 2 threads alternated: {g1:.1f} vs "
              f"{g2:.1f} GFLOP/s")
        add(label, "gemm_float_2T", "all", gb2, "builtin GFLOP/s")
        add(label, "gemm_float_2T", "all", go2, "openblas GFLOP/s")
        add(label, "gemm_float_1v2", "all", g1, "builtin 1T GFLOP/s")
        add(label, "gemm_float_1v2", "all", g2, "builtin 2T GFLOP/s")

        # ---- per-op overhead
        tg, pt = [], []
        for _ in range(runs):
            tg.append(float(run([exe("bench_overhead"), "--csv"], {**env, **one}, unset)[0][5]))
            pt.append(float(run([PY, os.path.join(HERE, "torch_overhead.py"), "--csv", "--reps", "31"],
                                {**env, **one}, unset)[0][5]))
        t, p = statistics.median(tg), statistics.median(pt)
        print(f"\noverhead (ns per recorded op, forward + backward, median of {runs}): "
              f"tapegrad {t:.1f}, PyTorch {p:.1f}, ratio 1/{p / t:.0f}  [target <= 1/20: "
              f"{'met' if t * 20 <= p else 'NOT met'}]")
        add(label, "overhead", "tapegrad", t, "ns/op")
        add(label, "overhead", "pytorch", p, "ns/op")

        if args.skip_mlp:
            continue
        # ---- one epoch of the MLP, configurations interleaved per round
        configs = [
            ("tapegrad builtin 1T", [exe("bench_mlp"), "--gemm", "builtin", "--threads", "1"], one),
            ("tapegrad builtin 2T", [exe("bench_mlp"), "--gemm", "builtin", "--threads", "2"], one),
            ("tapegrad openblas 1T", [exe("bench_mlp"), "--gemm", "cblas", "--threads", "1"], one),
            ("tapegrad openblas 2T", [exe("bench_mlp"), "--gemm", "cblas", "--threads", "1"],
             {"OPENBLAS_NUM_THREADS": "2"}),
            ("tapegrad streamed 1T", [exe("bench_mlp"), "--gemm", "builtin", "--threads", "1",
                                      "--stream"], one),
            ("tapegrad streamed 2T", [exe("bench_mlp"), "--gemm", "builtin", "--threads", "2",
                                      "--stream"], one),
            ("pytorch 1T", [PY, os.path.join(HERE, "torch_mlp.py"), "--threads", "1"], one),
            ("pytorch 2T", [PY, os.path.join(HERE, "torch_mlp.py"), "--threads", "2"],
             {"OPENBLAS_NUM_THREADS": "2"}),
        ]
        res = {c[0]: [] for c in configs}
        lines_ns, by_state = [], {"fast": [], "slow": []}
        for r in range(runs):
            around = []  # bench_cores just before and just after the built-in 2T epoch
            for name, cmd, extra in configs:
                data = raw_dir if "--stream" in cmd else args.data
                bracket = name == "tapegrad builtin 2T"
                if bracket:
                    around.append(cores_figures(exe("bench_cores")))
                f = run(cmd + ["--csv", "--data", data], {**env, **extra}, unset)[0]
                if bracket:
                    around.append(cores_figures(exe("bench_cores")))
                res[name].append({"secs": float(f[5]), "gemm": float(f[8]), "rss": float(f[10]),
                                  "allocs": int(f[11]), "rss_end": float(f[13])})
            two = res["tapegrad builtin 2T"][-1]
            state = ""
            if all(around):
                # which two-thread state the epoch ran in: a line's trip between the CPUs
                lines_ns += [c[0] for c in around]
                for when, c in zip(("before", "after"), around):
                    add(label, "cores", f"round {r + 1} {when} builtin 2T", c[0], "ns one way")
                    add(label, "cores", f"round {r + 1} {when} builtin 2T", c[1],
                        "crossing ReLU / local")
                state = (f"a cache line between the CPUs {around[0][0]:.0f} ns before it, "
                         f"{around[1][0]:.0f} ns after")
                ns = [c[0] for c in around]
                if max(ns) < FAST_NS:
                    by_state["fast"].append(two["secs"] / two["gemm"])
                elif min(ns) > SLOW_NS:
                    by_state["slow"].append(two["secs"] / two["gemm"])
            print(f"  round {r + 1}/{runs} done ({time.time() - started:.0f} s): "
                  f"builtin 2T epoch / GEMM {two['secs'] / two['gemm']:.3f}"
                  + (f"; {state}" if state else ""), flush=True)
        med = {}
        print(f"\nMLP epoch (60,000 samples, median of {runs})")
        print(f"  {'configuration':<22}{'s/epoch':>9}{'samples/s':>11}{'GFLOP/s':>9}"
              f"{'epoch/GEMM':>11}{'peak RSS MB':>12}{'RSS end':>8}{'allocs':>8}")
        for name, _, _ in configs:
            v = res[name]
            s = statistics.median(x["secs"] for x in v)
            g = statistics.median(x["secs"] / x["gemm"] for x in v) if v[0]["gemm"] > 0 else 0
            rss = statistics.median(x["rss"] for x in v)
            rss_end = statistics.median(x["rss_end"] for x in v)
            allocs = max(x["allocs"] for x in v)
            med[name] = (s, g, rss)
            print(f"  {name:<22}{s:9.3f}{60000 / s:11.0f}{141.1 / s:9.1f}"
                  f"{(f'{g:.3f}' if g else '-'):>11}{rss:12.1f}{rss_end:8.1f}{(allocs if g else '-'):>8}")
            add(label, "mlp", name, s, "s/epoch")
            add(label, "mlp", name, rss, "peak RSS MB")
            add(label, "mlp", name, rss_end, "RSS at end MB")
            if g:
                add(label, "mlp", name, g, "epoch/GEMM")
                add(label, "mlp", name, allocs, "heap allocs in epoch")
        # the speed targets: the data in memory (the streamed rows pay for reading)
        tg_names = [c[0] for c in configs if c[0].startswith("tapegrad") and "streamed" not in c[0]]
        tg_best = min(tg_names, key=lambda n: med[n][0])
        tg_best1 = min((n for n in tg_names if n.endswith("1T")), key=lambda n: med[n][0])
        pt_best = min(("pytorch 1T", "pytorch 2T"), key=lambda n: med[n][0])
        r_best = med[tg_best][0] / med[pt_best][0]
        r_one = med[tg_best1][0] / med["pytorch 1T"][0]
        r_rss = med[tg_best][2] / med[pt_best][2]
        st_best = min(("tapegrad streamed 1T", "tapegrad streamed 2T"), key=lambda n: med[n][0])
        r_rss_st = med[st_best][2] / med[pt_best][2]
        r_st = med[st_best][0] / med[pt_best][0]
        g_best = med[tg_best][1]
        two_vs_one = med["tapegrad builtin 2T"][0] / med["tapegrad builtin 1T"][0]
        ok = lambda c: "met" if c else "NOT met"
        print(f"\n  fastest: {tg_best} vs {pt_best}: ratio {r_best:.3f}  [target <= 0.5: {ok(r_best <= 0.5)}]")
        print(f"  1 thread: {tg_best1} vs pytorch 1T: ratio {r_one:.3f}  [target <= 0.75: {ok(r_one <= 0.75)}]")
        print(f"  epoch / GEMM time ({tg_best}): {g_best:.3f}  [target <= 1.15: {ok(g_best <= 1.15)}]")
        print(f"  peak RSS {tg_best} / {pt_best}: {r_rss:.3f}  [target <= 0.1: {ok(r_rss <= 0.1)}]")
        print(f"  peak RSS {st_best} / {pt_best}: {r_rss_st:.3f}  [target <= 0.1: {ok(r_rss_st <= 0.1)}]"
              f"; its epoch / {pt_best}'s: {r_st:.3f}")
        print(f"  builtin 2 threads / 1 thread: {two_vs_one:.3f}  [target < 1: {ok(two_vs_one < 1)}]")
        if lines_ns:
            print(f"  a cache line between the two CPUs (bench_cores, around each builtin 2T "
                  f"epoch): {min(lines_ns):.0f}-{max(lines_ns):.0f} ns one way")
            for key, what in (("fast", f"under {FAST_NS} ns before and after (the fast state)"),
                              ("slow", f"over {SLOW_NS} ns before and after (the slow state)")):
                v = by_state[key]
                print(f"    builtin 2T epoch / GEMM with the line {what}: "
                      + (", ".join(f"{x:.3f}" for x in v) if v else "no round"))
        add(label, "ratio", "epoch fastest vs fastest", r_best)
        add(label, "ratio", "epoch 1T vs 1T", r_one)
        add(label, "ratio", "peak RSS", r_rss)
        add(label, "ratio", "peak RSS streamed", r_rss_st)
        add(label, "ratio", "epoch streamed vs fastest", r_st)
        add(label, "ratio", "builtin 2T / 1T", two_vs_one)

    if raw_dir:
        shutil.rmtree(raw_dir)
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["setting", "kind", "name", "value", "unit"])
        w.writeheader()
        w.writerows(rows)
    print(f"\nwrote {args.out} ({time.time() - started:.0f} s in all)")


if __name__ == "__main__":
    sys.exit(main())
