#!/usr/bin/python3
"""Extracts one novel's text from Debian's r-cran-janeaustenr package, without R.

    apt-get download r-cran-janeaustenr
    dpkg-deb -x r-cran-janeaustenr_1.0.0-1_all.deb pkg
    python3 data/text/extract_janeaustenr.py pkg/usr/lib/R/site-library/janeaustenr/data \\
        persuasion > data/text/persuasion.txt

The package keeps its data in R's lazy-load database: Rdata.rdx (a gzipped
R serialization of an index: for each object, the offset and length of its
record in Rdata.rdb) and Rdata.rdb (records: a 4-byte big-endian length,
then a zlib stream of the serialized object). Each novel is a character
vector, one element per line of the Project Gutenberg text (its header and
licence removed by the package). This reads R's XDR serialization format
(version 2 or 3) far enough for those objects, and writes the lines joined
by newlines, in UTF-8.
"""
import gzip
import os
import struct
import sys
import zlib


class Reader:
    """R's XDR serialization (src/main/serialize.c): enough of it for the
    index (a named list of integer vectors) and character vectors."""

    def __init__(self, data):
        self.d, self.p, self.refs = data, 0, []
        assert self.d[:2] == b"X\n", "not an XDR serialization"
        self.p = 2
        version = self.int()
        self.int(), self.int()  # the R versions that wrote and can read it
        if version == 3:
            n = self.int()  # the native encoding's name
            self.p += n

    def int(self):
        v = struct.unpack(">i", self.d[self.p:self.p + 4])[0]
        self.p += 4
        return v

    def item(self):
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind == 254:  # NILVALUE_SXP
            return None
        if kind == 255:  # REFSXP: an earlier symbol
            idx = flags >> 8 or self.int()
            return self.refs[idx - 1]
        if kind == 1:  # SYMSXP
            name = self.item()
            self.refs.append(name)
            return name
        if kind == 9:  # CHARSXP
            n = self.int()
            if n == -1:
                return None
            s = self.d[self.p:self.p + n].decode("utf-8")  # (this package's texts are ASCII)
            self.p += n
            return s
        if kind == 2:  # LISTSXP: a pairlist of (tag, value)
            out = []
            while True:
                if has_attr:
                    self.item()
                tag = self.item() if has_tag else None
                out.append((tag, self.item()))
                flags = self.int()
                kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
                if kind == 254:
                    return out
                assert kind == 2, kind
        if kind in (16, 19):  # STRSXP, VECSXP
            n = self.int()
            v = [self.item() for _ in range(n)]
        elif kind in (10, 13):  # LGLSXP, INTSXP
            n = self.int()
            v = list(struct.unpack(">%di" % n, self.d[self.p:self.p + 4 * n]))
            self.p += 4 * n
        elif kind == 14:  # REALSXP
            n = self.int()
            v = list(struct.unpack(">%dd" % n, self.d[self.p:self.p + 8 * n]))
            self.p += 8 * n
        else:
            raise ValueError("R type %d is not read here" % kind)
        if has_attr:
            attrs = dict(self.item())
            if "names" in attrs:
                return dict(zip(attrs["names"], v))
        return v


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: extract_janeaustenr.py <janeaustenr's data directory> <novel>")
    folder, novel = sys.argv[1], sys.argv[2]
    with gzip.open(os.path.join(folder, "Rdata.rdx")) as f:
        index = Reader(f.read()).item()
    offset, length = index["variables"][novel]
    with open(os.path.join(folder, "Rdata.rdb"), "rb") as f:
        f.seek(offset)
        record = f.read(length)
    raw = zlib.decompress(record[4:])
    assert len(raw) == struct.unpack(">I", record[:4])[0]
    lines = Reader(raw).item()
    sys.stdout.buffer.write(("\n".join(lines) + "\n").encode("utf-8"))


if __name__ == "__main__":
    main()
