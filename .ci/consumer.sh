#!/usr/bin/env bash
# Builds a tiny program against an installed tapegrad, both through CMake's
# find_package(tapegrad) and through pkg-config, in float and double.
set -euo pipefail
prefix="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/main.c" <<'C'
#include <tapegrad.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_full(t, TG_SHAPE(3), 2), true);
    tg_tensor *y = tg_sum(t, tg_square(t, x), TG_ALL, false); /* d/dx = 2x = 4 */
    int ok = y && tg_backward(t, y) == TG_OK && x->grad[0] == 4 &&
             strcmp(tg_real_name(), sizeof(tg_real) == 8 ? "double" : "float") == 0;
    printf("tapegrad %s (%s): %s\n", tg_version(), tg_real_name(), ok ? "ok" : "FAILED");
    tg_tape_free(t);
    return ok ? 0 : 1;
}
C
cat > "$work/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(tapegrad 0.2 REQUIRED)
add_executable(use_float main.c)
target_link_libraries(use_float PRIVATE tapegrad::tapegrad)
add_executable(use_double main.c)
target_link_libraries(use_double PRIVATE tapegrad::tapegrad_f64)
add_executable(use_static main.c)
target_link_libraries(use_static PRIVATE tapegrad::tapegrad_static)
C
cmake -S "$work" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/build" >/dev/null
export LD_LIBRARY_PATH="$prefix/lib:$prefix/lib/$(gcc -print-multiarch 2>/dev/null || true):${LD_LIBRARY_PATH:-}"
"$work/build/use_float"
"$work/build/use_double"
"$work/build/use_static"
pcdir="$(dirname "$(find "$prefix" -name tapegrad.pc | head -1)")"
export PKG_CONFIG_PATH="$pcdir"
cc "$work/main.c" -o "$work/pc_f64" $(pkg-config --cflags --libs tapegrad_f64)
"$work/pc_f64"
cc "$work/main.c" -o "$work/pc_static" $(pkg-config --static --cflags tapegrad) \
   "$(pkg-config --variable=libdir tapegrad)/libtapegrad.a" $(pkg-config --static --libs-only-l tapegrad | sed 's/-ltapegrad//')
"$work/pc_static"
echo "consumer builds: ok"
