"""Random cases of one generator against PyTorch.

usage: run1.py GENERATOR N [SEED]      (run1.py --list prints the generators)
Prints each problem case (its id, op, a description, what differs) and a
count; BIG=1 in the environment gives larger shapes.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import run_cases  # noqa: E402
import gens  # noqa: E402
import gens2  # noqa: E402


def generators(rng):
    g = {
        "conv2d": lambda: gens.gen_conv(rng, True, False),
        "conv1d": lambda: gens.gen_conv(rng, False, False),
        "convt2d": lambda: gens.gen_conv(rng, True, True),
        "convt1d": lambda: gens.gen_conv(rng, False, True),
        "conv2d_layer": lambda: gens.gen_conv(rng, True, False, layer=True),
        "conv1d_layer": lambda: gens.gen_conv(rng, False, False, layer=True),
        "convt2d_layer": lambda: gens.gen_conv(rng, True, True, layer=True),
        "maxpool2d": lambda: gens.gen_pool(rng, "max", True),
        "maxpool1d": lambda: gens.gen_pool(rng, "max", False),
        "avgpool2d": lambda: gens.gen_pool(rng, "avg", True),
        "avgpool1d": lambda: gens.gen_pool(rng, "avg", False),
        "adaptive": lambda: gens.gen_adaptive(rng),
        "bn": lambda: gens.gen_batch_norm(rng),
        "bn_layer": lambda: gens.gen_batch_norm(rng, layer=True),
        "ln": lambda: gens.gen_layer_norm(rng, "layer"),
        "ln_layer": lambda: gens.gen_layer_norm(rng, "layer", layer=True),
        "rms": lambda: gens.gen_layer_norm(rng, "rms"),
        "rms_layer": lambda: gens.gen_layer_norm(rng, "rms", layer=True),
        "gn": lambda: gens.gen_group_norm(rng),
        "gn_layer": lambda: gens.gen_group_norm(rng, layer=True),
    }
    g.update(gens2.generators(rng))
    return g


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--list":
        print(" ".join(generators(None)))
        return
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    which, n = sys.argv[1], int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    rng = np.random.default_rng(seed)
    gen = generators(rng)
    if which not in gen:
        sys.exit(f"unknown generator {which}; one of: {' '.join(gen)}")
    cases = [gen[which]() for _ in range(n)]
    for i, c in enumerate(cases):
        c.id = f"{which}_{seed}_{i}"
    bad = run_cases(cases)
    print(f"{which}: {len(bad)} / {n} problem cases")


if __name__ == "__main__":
    main()
