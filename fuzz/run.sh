#!/bin/sh
# Builds the libFuzzer targets with clang and runs each one for a bounded
# time on its seed corpus; exits non-zero if a target finds a crash, a leak,
# undefined behaviour or a broken invariant (the input is saved as
# <build>/fuzz/crash-<target>-*).
#   usage: fuzz/run.sh [seconds per target (60)] [build dir (build-fuzz)]
# Needs clang and libFuzzer: Debian's clang and libclang-rt-dev (clang-14 and
# libclang-rt-14-dev on bookworm). CC may name another clang.
set -eu
secs=${1:-60}
src=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$src/build-fuzz}
cc=${CC:-clang}
cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER="$cc" -DTG_BUILD_FUZZ=ON -DTG_BUILD_TESTS=OFF \
      -DTG_BUILD_EXAMPLES=OFF -DTG_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target fuzz_idx fuzz_safetensors fuzz_csv fuzz_ops
status=0
for t in idx safetensors csv ops; do
    work=$(mktemp -d)
    set -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
           -artifact_prefix="$build/fuzz/crash-$t-"
    if [ -f "$src/fuzz/$t.dict" ]; then set -- "$@" -dict="$src/fuzz/$t.dict"; fi
    echo "== fuzz_$t for ${secs}s"
    # new inputs go to the scratch directory (first), the seeds are read only
    if ! "$build/fuzz/fuzz_$t" "$@" "$work" "$src/fuzz/corpus/$t"; then
        echo "fuzz_$t FAILED: see $build/fuzz/crash-$t-*"
        status=1
    fi
    rm -rf "$work"
done
exit $status
