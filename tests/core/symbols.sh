#!/bin/sh
# Every external symbol of the double library carries the tg_f64_ prefix and
# none of the float library's does (cmake/f64_names.sh writes the renaming
# headers when the libraries are built).
# usage: symbols.sh <libtapegrad.a> <libtapegrad_f64.a>
set -eu
bad=0
# (symbols the compiler or a sanitizer adds start with __)
f32=$(nm -g --defined-only "$1" | awk 'NF == 3 && $3 !~ /^__/ { print $3 }')
f64=$(nm -g --defined-only "$2" | awk 'NF == 3 && $3 !~ /^__/ { print $3 }')
for s in $f64; do
    case "$s" in tg_f64_*) ;; *) echo "double library: $s lacks the tg_f64_ prefix"; bad=1 ;; esac
done
for s in $f32; do
    case "$s" in tg_f64_*) echo "float library: $s has the double prefix"; bad=1 ;;
                 tg_*) ;; *) echo "float library: $s is not a tg_ name"; bad=1 ;; esac
done
n32=$(echo "$f32" | wc -w); n64=$(echo "$f64" | wc -w)
[ "$n32" = "$n64" ] || { echo "float exports $n32 symbols, double $n64"; bad=1; }
[ "$bad" = 0 ] && echo "symbols: $n32 in each library, double ones prefixed tg_f64_"
exit $bad
