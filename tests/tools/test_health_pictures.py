#!/usr/bin/env python3
"""The pictures the demos draw are well-formed SVG with what they should show.

usage: test_health_pictures.py HEALTH.svg MOONS.svg

HEALTH.svg from `mnist_mlp --health` (two hidden layers fc1, fc2 and three
weights): four plots, each with axes and ticks, one series per layer in the
histograms and the dead-unit plot, one per weight in the update / data plot.
MOONS.svg from `two_moons --svg`: the decision regions, the boundary, the 100
points (50 of each class), axes with ticks.
"""
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"
failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def by_id(root, ident):
    return next((e for e in root.iter() if e.get("id") == ident), None)


def series(group):
    return sorted(e.get("data-layer") for e in group.iter(NS + "g") if e.get("class") == "series")


def ticks(group, kind):
    return sum(1 for e in group.iter(NS + "line") if e.get("class") == kind)


health = ET.parse(sys.argv[1]).getroot()  # raises on a malformed file
for plot, want in (("activations", ["fc1", "fc2"]), ("gradients", ["fc1", "fc2"]),
                   ("ratios", ["fc1.weight", "fc2.weight", "fc3.weight"]), ("dead", ["fc1", "fc2"])):
    g = by_id(health, plot)
    expect(g is not None, "health: no plot '%s'" % plot)
    if g is None:
        continue
    axes = [e for e in g.iter(NS + "g") if e.get("class") == "axes"]
    expect(len(axes) == 1, "health %s: %d sets of axes" % (plot, len(axes)))
    expect(ticks(g, "xtick") >= 3 and ticks(g, "ytick") >= 3, "health %s: too few ticks" % plot)
    expect(series(g) == want, "health %s: series %s, expected %s" % (plot, series(g), want))
    for s in g.iter(NS + "polyline"):
        pts = s.get("points").split()
        expect(len(pts) >= 2, "health %s: a series of %d points" % (plot, len(pts)))
        for p in pts:
            x, y = (float(v) for v in p.split(","))
            expect(0 <= x <= 1100 and 0 <= y <= 760, "health %s: point %s outside" % (plot, p))
guide = [e for e in health.iter(NS + "line") if e.get("class") == "guide"]
expect(len(guide) == 1, "health: the -3 guide of the update / data plot")

moons = ET.parse(sys.argv[2]).getroot()
regions = by_id(moons, "regions")
expect(regions is not None and len(list(regions.iter(NS + "rect"))) == 100 * 100,
       "moons: 100 x 100 decision cells")
colors = {r.get("fill")[:7] for r in regions.iter(NS + "rect")} if regions is not None else set()
expect(any(c.startswith("rgb(255") for c in colors) and any(c.endswith("255)") for c in
                                                            (r.get("fill") for r in regions.iter(NS + "rect"))),
       "moons: both classes' regions")
boundary = by_id(moons, "boundary")
expect(boundary is not None and boundary.get("d").count("M") >= 20, "moons: the boundary")
points = list(by_id(moons, "points").iter(NS + "circle"))
expect(len(points) == 100, "moons: %d points" % len(points))
expect(sum(p.get("class") == "pos" for p in points) == 50, "moons: 50 points of each class")
axes = by_id(moons, "axes")
expect(ticks(axes, "xtick") >= 5 and ticks(axes, "ytick") >= 5, "moons: axes with ticks")
print("%d passed, %d failed" % (0 if failures else 1, 1 if failures else 0))
sys.exit(1 if failures else 0)
