#!/usr/bin/env python3
"""Writes the double library's symbol names.

The double library (tapegrad_f64) is built from the same sources as the
float one with TG_DOUBLE. So that both link into one program, and so that
code compiled for one precision cannot call the other, every external
symbol of the double library carries the prefix tg_f64_ instead of tg_:
a mismatch is then an undefined reference at link time, never a silent
misreading of floats as doubles.

    python3 tools/gen_f64_names.py build/libtapegrad.a

reads the public functions from include/tapegrad/*.h (every TG_API
declaration) and writes include/tapegrad/f64_names.h; it reads the other
global symbols of the float static library (the library's internal
functions and tables) with nm and writes src/core/f64_names.h. The test
tests/core/symbols.sh checks that the built libraries agree with them.
"""
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = """/* {what}. Under TG_DOUBLE each name below
   becomes its tg_f64_ twin, so that the double library's symbols differ from the
   float library's (both link into one program; a program compiled for one
   precision and linked to the other fails at link time). Written by
   tools/gen_f64_names.py; do not edit. */
#ifndef {guard}
#define {guard}

"""


def public_names():
    names = set()
    for path in sorted(glob.glob(os.path.join(ROOT, "include", "tapegrad", "*.h"))):
        if path.endswith("f64_names.h"):
            continue
        text = open(path).read()
        for m in re.finditer(r"\bTG_API\b[^;(]*?\b(tg_\w+)\s*\(", text):
            names.add(m.group(1))
    return sorted(names)


def write(path, what, guard, names):
    with open(path, "w") as f:
        f.write(HEADER.format(what=what, guard=guard))
        for n in names:
            f.write("#define %s tg_f64_%s\n" % (n, n[3:]))
        f.write("\n#endif\n")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    pub = public_names()
    out = subprocess.check_output(["nm", "-g", "--defined-only", sys.argv[1]], text=True)
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].startswith("tg_"):
            syms.add(parts[2])
    internal = sorted(syms - set(pub))
    missing = sorted(set(pub) - syms)
    if missing:
        sys.exit("declared TG_API but not defined: " + " ".join(missing))
    write(os.path.join(ROOT, "include", "tapegrad", "f64_names.h"),
          "The public names of the double library", "TAPEGRAD_F64_NAMES_H", pub)
    write(os.path.join(ROOT, "src", "core", "f64_names.h"),
          "The library's internal names in the double build", "TG_CORE_F64_NAMES_H", internal)
    print("%d public, %d internal names" % (len(pub), len(internal)))


if __name__ == "__main__":
    main()
