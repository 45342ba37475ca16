"""Replay one recorded case.

usage: repro.py ID [issues.jsonl]
Prints the case as the driver reads it (pipe that block into ./driver to run
tapegrad alone), PyTorch's results, tapegrad's and the problems found.
"""
import json
import os
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import torch_full, run_driver, compare, encode  # noqa: E402
from run import case_from_json  # noqa: E402

if len(sys.argv) not in (2, 3):
    sys.exit(__doc__)
cid = sys.argv[1]
f = sys.argv[2] if len(sys.argv) > 2 else "issues.jsonl"
for line in open(f):
    r = json.loads(line)
    if r["id"] != cid:
        continue
    c = case_from_json(r["case"])
    ref = torch_full(c, np.random.default_rng(0))
    print(encode(cid, c))
    res = run_driver([(cid, c)])[cid]
    print("TORCH", ref)
    print("TG", res)
    print(compare(c, ref, res))
    break
else:
    sys.exit("no case %s in %s" % (cid, f))
