#!/usr/bin/env bash
# Checks an installed tapegrad as another project sees it: builds a tiny
# program through CMake's find_package(tapegrad) and through pkg-config, in
# float and double, shared and static, and runs each without LD_LIBRARY_PATH
# (the shared libraries are found through the rpath that CMake's build tree
# and the .pc files give). Also: a prefix copied elsewhere still works
# through its .pc (it is relocatable); find_package refuses another minor
# version (the ABI policy); the documentation is installed.
#   usage: consumer.sh PREFIX [--html]   (--html: the API reference too)
set -euo pipefail
prefix="$1"
html="${2:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
unset LD_LIBRARY_PATH

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

# CMake: the version this tree builds, read from its header
major=$(sed -n 's/^#define TG_VERSION_MAJOR \([0-9]*\)$/\1/p' "$prefix/include/tapegrad/core.h")
minor=$(sed -n 's/^#define TG_VERSION_MINOR \([0-9]*\)$/\1/p' "$prefix/include/tapegrad/core.h")
mkdir -p "$work/cmake"
cat > "$work/cmake/CMakeLists.txt" <<C
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(tapegrad $major.$minor REQUIRED)
add_executable(use_float ../main.c)
target_link_libraries(use_float PRIVATE tapegrad::tapegrad)
add_executable(use_double ../main.c)
target_link_libraries(use_double PRIVATE tapegrad::tapegrad_f64)
add_executable(use_static ../main.c)
target_link_libraries(use_static PRIVATE tapegrad::tapegrad_static)
C
cmake -S "$work/cmake" -B "$work/cmake/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake/build" >/dev/null
"$work/cmake/build/use_float"
"$work/cmake/build/use_double"
"$work/cmake/build/use_static"

# before 1.0 another minor version is another ABI: a project written for
# 0.(minor - 1) must not get this one (a newer minor is refused anyway)
if [ "$major" = 0 ] && [ "$minor" -gt 0 ]; then
    older="$major.$((minor - 1))"
    mkdir -p "$work/older"
    cat > "$work/older/CMakeLists.txt" <<C
cmake_minimum_required(VERSION 3.16)
project(older C)
find_package(tapegrad $older REQUIRED)
C
    if cmake -S "$work/older" -B "$work/older/build" -DCMAKE_PREFIX_PATH="$prefix" \
          >/dev/null 2>&1; then
        echo "find_package(tapegrad $older) accepted the installed $major.$minor"
        exit 1
    fi
    echo "find_package(tapegrad $older) refuses the installed $major.$minor: ok"
fi

# pkg-config, shared and static; the shared ones run through the .pc's rpath
pcdir="$(dirname "$(find "$prefix" -name tapegrad.pc | head -1)")"
export PKG_CONFIG_PATH="$pcdir"
cc "$work/main.c" -o "$work/pc_float" $(pkg-config --cflags --libs tapegrad)
"$work/pc_float"
cc "$work/main.c" -o "$work/pc_f64" $(pkg-config --cflags --libs tapegrad_f64)
"$work/pc_f64"
cc "$work/main.c" -o "$work/pc_static" $(pkg-config --static --cflags tapegrad) \
   "$(pkg-config --variable=libdir tapegrad)/libtapegrad.a" $(pkg-config --static --libs-only-l tapegrad | sed 's/-ltapegrad//')
"$work/pc_static"

# the same prefix copied elsewhere: its .pc, and the rpath, follow it
cp -a "$prefix" "$work/moved"
export PKG_CONFIG_PATH="$work/moved/${pcdir#"$prefix"/}"
cc "$work/main.c" -o "$work/pc_moved" $(pkg-config --cflags --libs tapegrad)
"$work/pc_moved"
loaded="$(ldd "$work/pc_moved")"
if ! grep -q "libtapegrad.so.* => $work/moved/" <<<"$loaded"; then
    echo "a program built against the copied prefix does not load its library:"
    echo "$loaded"
    exit 1
fi

# the documentation
doc="$prefix/share/doc/tapegrad"
for f in README.md LICENSE docs/ops.md docs/teaching.md docs/speed.md docs/images/tape.svg; do
    [ -f "$doc/$f" ] || { echo "not installed: $doc/$f"; exit 1; }
done
if [ "$html" = --html ] && [ ! -f "$doc/html/index.html" ]; then
    echo "not installed: $doc/html/index.html (the API reference)"
    exit 1
fi
echo "consumer builds: ok"
