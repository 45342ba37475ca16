#!/bin/sh
# Every generator of run1.py, then the hand-written edge cases of invalid.py.
#   ./run_all.sh [N_PER_GENERATOR] [SEED]      (defaults 100 and 1)
# Environment: PYTHON (default /usr/bin/python3, which has torch 1.13), BIG=1 for
# larger shapes, TG_PAD=n for n filler records on each tape before the case,
# TG_GEMM=builtin|cblas and TG_GEMM_KERNEL for the library's matrix products.
N=${1:-100}; S=${2:-1}
PY=${PYTHON:-/usr/bin/python3}
cd "$(dirname "$0")" || exit 1
# torch's UserWarnings (and the source line they quote) are noise here
quiet() { grep -v "Warning\|warn\|return \[f"; }
for w in $($PY run1.py --list); do
  $PY run1.py "$w" "$N" "$S" 2>&1 | quiet
done
$PY invalid.py 2>&1 | quiet
