#!/usr/bin/env bash
# The libFuzzer targets for the IDX and safetensors readers, 60 s each
# (fuzz/run.sh builds them with clang into build-fuzz and fails on a finding).
set -euo pipefail
cd "$(dirname "$0")/.."
bash fuzz/run.sh 60
