"""Run random differential cases.
usage: run.py [--ops a,b,...] [--skip a,b,...] [--n N per op] [--seed S]
              [--values mixed|noties|special] [--out issues.jsonl] [--quiet]
Prints one summary line per op; each case with a problem is appended to the
out file as a JSON line with the full case, so that repro.py can replay it and
triage.py sort it. --values: mixed (each generator's own mix of ties and
special values), noties (no ties, no special values), special (ties, and a
quarter of the values 0, ±1, ±inf or NaN).
"""
import argparse
import json
import os
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402
from harness import torch_full, run_driver, compare, REF  # noqa: E402

VALUES = {"mixed": {}, "noties": {"special": 0.0, "ties": False},
          "special": {"special": 0.25, "ties": True}}


def case_to_json(c):
    out = {}
    for k, v in c.items():
        if k == "T":
            out[k] = [None if t is None else [np.asarray(t[0]).tolist(), bool(t[1]), list(np.asarray(t[0]).shape)] for t in v]
        elif k == "X":
            out[k] = [[np.asarray(x).tolist(), list(np.asarray(x).shape)] for x in v]
        elif k in ("G", "V"):
            out[k] = [None if g is None else [np.asarray(g).tolist(), list(np.asarray(g).shape)] for g in v]
        else:
            out[k] = v
    return out


def case_from_json(d):
    c = dict(d)
    if "T" in d:
        c["T"] = [None if t is None else (np.array(t[0], dtype=np.float64).reshape(t[2]), t[1]) for t in d["T"]]
    if "X" in d:
        c["X"] = [np.array(x[0], dtype=np.int64).reshape(x[1]) for x in d["X"]]
    for k in ("G", "V"):
        if k in d:
            c[k] = [None if g is None else np.array(g[0], dtype=np.float64).reshape(g[1]) for g in d[k]]
    return c


def has_special(c):
    for t in c.get("T", []):
        if t is not None:
            a = np.asarray(t[0])
            if a.size and not np.isfinite(a).all():
                return True
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", default="")
    ap.add_argument("--skip", default="")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--values", choices=sorted(VALUES), default="mixed")
    ap.add_argument("--out", default="issues.jsonl")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    gen.FORCE.update(VALUES[a.values])
    ops = a.ops.split(",") if a.ops else sorted(gen.GEN)
    skip = set(a.skip.split(",")) if a.skip else set()
    ops = [o for o in ops if o not in skip]
    rng = np.random.default_rng(a.seed)
    summary = {}
    fout = open(a.out, "a")
    for op in ops:
        if op not in REF or op not in gen.GEN:
            print("no generator or no reference for", op)
            continue
        cases, refs = [], {}
        for i in range(a.n):
            c = gen.GEN[op](rng)
            r = torch_full(c, rng)
            cid = "%s_%d_%d" % (op, a.seed, i) + ("" if a.values == "mixed" else "_" + a.values)
            cases.append((cid, c))
            refs[cid] = r
        res = run_driver(cases)
        nbad = 0
        kinds = {}
        for cid, c in cases:
            iss = compare(c, refs[cid], res.get(cid, {"CRASH": "missing"}))
            if iss:
                nbad += 1
                key = iss[0].split(" ")[0] + (" [special]" if has_special(c) else "")
                kinds[key] = kinds.get(key, 0) + 1
                rec = {"id": cid, "issues": iss, "case": case_to_json(c), "special": has_special(c)}
                fout.write(json.dumps(rec) + "\n")
                if not a.quiet:
                    print(cid, iss[:3])
        summary[op] = (nbad, len(cases), kinds)
        print("== %-22s %3d/%3d bad %s" % (op, nbad, len(cases), kinds), flush=True)
    fout.close()


if __name__ == "__main__":
    main()
