#!/bin/sh
# Writes the double library's symbol names (run by the build).
#
# The double library (tapegrad_f64) is built from the same sources as the
# float one, with TG_DOUBLE. So that both link into one program, and so that
# code compiled for one precision cannot call the other, every external
# symbol of the double library is named tg_f64_... instead of tg_...: a
# mismatch is then an undefined reference at link time, never floats read
# as doubles. This script lists the float library's symbols and writes:
#   <dir>/tapegrad/f64_names.h  the public functions (installed: the public
#                               header includes it under TG_DOUBLE)
#   <dir>/core/f64_names.h      the library's internal functions and tables
# Each is rewritten only when its contents change.
# usage: f64_names.sh <float static library> <float shared library> <dir>
set -eu
static=$1 shared=$2 dir=$3
mkdir -p "$dir/tapegrad" "$dir/core"
nm -D --defined-only "$shared" | awk '$3 ~ /^tg_/ { print $3 }' | sort -u >"$dir/public.txt"
nm -g --defined-only "$static" | awk 'NF == 3 && $3 ~ /^tg_/ { print $3 }' | sort -u >"$dir/all.txt"
comm -23 "$dir/all.txt" "$dir/public.txt" >"$dir/internal.txt"

write() { # write <list> <guard> <what> <out>
    {
        echo "/* $3 under TG_DOUBLE: each becomes its tg_f64_ twin, so that the"
        echo "   double library's symbols differ from the float library's. Written by"
        echo "   cmake/f64_names.sh from the float library's symbols; do not edit. */"
        echo "#ifndef $2"
        echo "#define $2"
        echo
        sed 's/^tg_\(.*\)$/#define tg_\1 tg_f64_\1/' "$1"
        echo
        echo "#endif"
    } >"$4.tmp"
    if cmp -s "$4.tmp" "$4"; then rm -f "$4.tmp"; else mv "$4.tmp" "$4"; fi
}
write "$dir/public.txt" TAPEGRAD_F64_NAMES_H "The public names of tapegrad" \
    "$dir/tapegrad/f64_names.h"
write "$dir/internal.txt" TG_CORE_F64_NAMES_H "The library's internal names" \
    "$dir/core/f64_names.h"
