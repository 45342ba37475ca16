"""One hand-written case through PyTorch and tapegrad.

usage: one.py "<case as a Python expression>"
  one.py "dict(op='cumprod', T=[T([inf, 0., 3.])], I=[0])"
  one.py "dict(op='prelu', T=[T([[nan, -2.]]), T([0.25])], G=[np.ones((1, 2))])"
T(values, req=True) is a tensor input, X(values) an index; inf and nan are
defined. G (output weights) and V (directions) are drawn when not given.
Prints the case as the driver reads it, both results and the problems found.
"""
import math
import os
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import torch_full, run_driver, compare, encode  # noqa: E402

inf, nan = math.inf, math.nan


def T(a, req=True):
    return (np.array(a, dtype=np.float64), req)


def X(a):
    return np.array(a, dtype=np.int64)


if len(sys.argv) != 2:
    sys.exit(__doc__)
c = eval(sys.argv[1])
ref = torch_full(c, np.random.default_rng(0))
print(encode("one", c))
res = run_driver([("one", c)])["one"]
print("TORCH", ref)
print("TG   ", {k: v for k, v in res.items() if v not in ({}, None, [])})
print("ISSUES", compare(c, ref, res))
