#!/bin/sh
# The ABI policy (README.md, "Versions and the ABI"): before 1.0 a shared
# library's soname carries major.minor (libtapegrad.so.0.2), from 1.0 on the
# major version alone. Checks each library given against the version in the
# header.   usage: soname.sh include/tapegrad/core.h libtapegrad.so.X ...
set -eu
header=$1
shift
version() { sed -n "s/^#define TG_VERSION_$1 \([0-9][0-9]*\)\$/\1/p" "$header"; }
major=$(version MAJOR)
minor=$(version MINOR)
if [ -z "$major" ] || [ -z "$minor" ]; then
    echo "no TG_VERSION_MAJOR/MINOR in $header"
    exit 1
fi
if [ "$major" = 0 ]; then suffix="0.$minor"; else suffix="$major"; fi
status=0
for lib in "$@"; do
    want="$(basename "$lib" | sed 's/\.so.*//').so.$suffix"
    got=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
    if [ "$got" = "$want" ]; then
        echo "$lib: soname $got"
    else
        echo "$lib: soname '$got', but version $major.$minor wants $want"
        status=1
    fi
done
exit $status
