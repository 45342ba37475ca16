#!/usr/bin/env bash
# The libFuzzer targets (the IDX, safetensors and CSV readers, the ops), 60 s each
# (fuzz/run.sh builds them with clang into build-fuzz and fails on a finding).
set -euo pipefail
cd "$(dirname "$0")/.."
bash fuzz/run.sh 60
