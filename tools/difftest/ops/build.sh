#!/bin/sh
# Build ./driver (the C side of the ops differential test) against a tapegrad build;
# with TG_DRIVER_DIR set, the driver.c there (nn/build.sh sets it to nn/).
#   ./build.sh [BUILD_DIR]     BUILD_DIR defaults to $TG_BUILD_DIR, else the repository's build/
# It needs BUILD_DIR/libtapegrad_f64.a and BUILD_DIR/generated (tapegrad/f64_names.h).
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../../..
here=${TG_DRIVER_DIR:-$here}
build=${1:-${TG_BUILD_DIR:-$root/build}}
[ -f "$build/libtapegrad_f64.a" ] || {
    echo "no $build/libtapegrad_f64.a: build tapegrad first" \
         "(cmake -B build && cmake --build build)" >&2
    exit 1
}
build=$(cd "$build" && pwd)
lib=$build/libtapegrad_f64.a
# the static library's own dependencies, as the build wrote them in tapegrad_f64.pc
deps=$(PKG_CONFIG_PATH=$build pkg-config --static --libs-only-L --libs-only-l tapegrad_f64 \
       | sed 's/-ltapegrad_f64//')
${CC:-cc} -O1 -g -Wall -DTG_DOUBLE -I"$root/include" -I"$build/generated" \
    "$here/driver.c" "$lib" $deps -lpthread -o "$here/driver"
echo "built $here/driver against $lib"
