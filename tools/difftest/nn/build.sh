#!/bin/sh
# Build ./driver (the C side of the nn differential test) against a tapegrad
# build: ../ops/build.sh, which builds the driver.c beside the script it is
# given as $TG_DRIVER_DIR.
#   ./build.sh [BUILD_DIR]     BUILD_DIR defaults to $TG_BUILD_DIR, else the repository's build/
here=$(cd "$(dirname "$0")" && pwd)
TG_DRIVER_DIR=$here exec sh "$here/../ops/build.sh" "$@"
