#!/usr/bin/env python3
"""The explorer page in a real browser (headless Chromium through Selenium).

usage: test_explorer.py PAGES_DIR SHOTS_DIR [PAGE...]

PAGES_DIR holds the pages that test_explorer (tests/tools/test_explorer.c)
writes, each with <name>.expected.json beside it: the tape's values and the
gradients that the library's own engine computes (tg_grad, tg_backward, each
record's op run again). This script opens each page, clicks through the
forward and the backward pass, and checks every number the page shows against
those: the values as the forward pass reveals them, the gradient arriving at
each record, what each record adds into each input and the sum so far, the
final gradients, the worked element's terms, and (zoo page) that each local
derivative written out with its numbers evaluates to what the rule used. It
also steps back, plays and pauses, and clicks tensors. Screenshots of the
first and the last step go to SHOTS_DIR (their paths are printed).

Exits 77 (ctest: skipped) with a message when Chromium, its driver or
Selenium is missing, unless TG_REQUIRE_BROWSER=1 (CI), where that fails.
"""
import json
import math
import os
import re
import shutil
import sys
import time
import xml.dom.minidom

SKIP = 77


def skip(why):
    if os.environ.get("TG_REQUIRE_BROWSER") == "1":
        print("FAIL: TG_REQUIRE_BROWSER=1 but " + why)
        sys.exit(1)
    print("SKIPPED: " + why + " (apt-get install chromium chromium-driver python3-selenium)")
    sys.exit(SKIP)


try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.common.exceptions import ElementNotInteractableException
except ImportError:
    skip("Selenium for Python 3 is not installed")

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(b)), None)
DRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
if not BROWSER:
    skip("no Chromium browser found")
if not DRIVER:
    skip("no chromedriver found")

PAGES, SHOTS = sys.argv[1], sys.argv[2]
NAMES = sys.argv[3:] or ["walk", "walk_small", "create_graph", "zoo"]
os.makedirs(SHOTS, exist_ok=True)
failures = []
checked = 0
formulas = 0


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def digits(text):
    """Significant digits shown in a number's text."""
    m = re.match(r"-?(\d*)\.?(\d*)(e.*)?$", text)
    if not m:
        return 17
    return max(1, len((m.group(1) + m.group(2)).lstrip("0")))


class Case:
    def __init__(self, exp):
        self.exp = exp
        self.eps = 1.2e-7 if exp["real"] == "float" else 2.3e-16

    def close(self, shown_text, want, scale, what):
        """A number as shown (rounded to its digits) against the engine's:
        within half a unit of its last digit, plus a few roundings of the
        real type relative to the tensor's scale (the page's walk and the
        engine may add contributions in another order)."""
        global checked
        checked += 1
        shown_text = shown_text.strip()
        if shown_text in ("nan", "inf", "-inf"):
            ok = (shown_text == "nan" and math.isnan(want)) or \
                 (shown_text != "nan" and math.isinf(want) and (want > 0) == (shown_text == "inf"))
        else:
            shown = float(shown_text)
            d = digits(shown_text)
            half_unit = 0.5 * 10 ** (math.floor(math.log10(abs(want))) - d + 1) if want else 0
            tol = half_unit + 8 * self.eps * max(scale, abs(want))
            ok = abs(shown - want) <= tol
        if not ok:
            fail("%s: shown %s, the engine gives %.9g" % (what, shown_text, want))
        return ok


def view_numbers(elem):
    """A view's numbers: ('full', [..]) or ('stats', {...})."""
    # one round trip: the cells' text in element order, or the statistics
    cells, stats = elem.parent.execute_script(
        "const e = arguments[0], c = Array.from(e.querySelectorAll('td[data-i]'));"
        "c.sort((a, b) => a.dataset.i - b.dataset.i);"
        "const s = {};"
        "for (const k of ['norm', 'min', 'max', 'mean']) {"
        "  const x = e.querySelector('.s-' + k); if (x) s[k] = x.textContent; }"
        "return [c.map(td => td.textContent), s];", elem)
    if cells:
        return "full", cells
    return "stats", stats


def check_view(case, elem, values, what):
    kind, got = view_numbers(elem)
    scale = max([abs(v) for v in values] + [0])
    if kind == "full":
        if len(got) != len(values):
            fail("%s: %d values shown, %d expected" % (what, len(got), len(values)))
            return
        for i, (g, v) in enumerate(zip(got, values)):
            case.close(g, v, scale, "%s[%d]" % (what, i))
    else:
        want = {"norm": math.sqrt(sum(v * v for v in values)), "min": min(values),
                "max": max(values), "mean": sum(values) / len(values)}
        if set(got) != set(want):
            fail("%s: statistics shown %s" % (what, sorted(got)))
        for k in got:
            case.close(got[k], want[k], scale, "%s (%s)" % (what, k))
        if not elem.find_elements(By.CSS_SELECTOR, "svg.heat rect"):
            fail("%s: a large tensor without a heat map" % what)


def to_python(expr):
    """A local derivative as the page writes it, in Python."""
    e = expr.replace("\u2212", "-").replace("\u00b7", "*").replace("\u00b2", "**2")
    e = e.replace("\u2264", "<=").replace("\u221a\u03c0", "sqrt(pi)").replace("e^(", "exp(")
    e = e.replace("\u03c3(", "sigmoid(").replace("sp(", "softplus(")
    e = re.sub(r"\|([^|]+)\|", r"abs(\1)", e)
    return e


ENV = {"sqrt": math.sqrt, "pi": math.pi, "exp": math.exp, "tanh": math.tanh, "abs": abs,
       "sigmoid": lambda v: 1 / (1 + math.exp(-v)), "softplus": lambda v: math.log1p(math.exp(v)),
       "sign": lambda v: (v > 0) - (v < 0)}


def flat(index_text, shape):
    idx = [int(s) for s in index_text.strip("[]").split(",") if s != ""]
    k = 0
    for i, n in zip(idx, shape):
        k = k * n + i
    return k


# Every edge is followed along its length: it may touch only its own two
# nodes (edges drawn through the nodes between hid a tensor's second use; found
# by a learner's review), and no two edges are one line.
DRAWING_JS = r"""
const boxes = [];
document.querySelectorAll('g.ten rect').forEach(r => boxes.push({id: r.parentNode.id,
  x: +r.getAttribute('x'), y: +r.getAttribute('y'), w: +r.getAttribute('width'), h: +r.getAttribute('height')}));
document.querySelectorAll('g.rec ellipse').forEach(e => boxes.push({id: e.parentNode.id, ell: true,
  cx: +e.getAttribute('cx'), cy: +e.getAttribute('cy'), rx: +e.getAttribute('rx'), ry: +e.getAttribute('ry')}));
const bad = [], seen = {};
document.querySelectorAll('path.edge').forEach(p => {
  const m = p.id.match(/^e(\d+)_(\d+|out)$/), i = +m[1], r = TG.records[i];
  const ends = m[2] === 'out' ? ['r' + i, 't' + r.out] : ['t' + r.in[+m[2]], 'r' + i];
  const d = p.getAttribute('d');
  if (seen[d]) bad.push(p.id + ' is drawn on ' + seen[d]);
  seen[d] = p.id;
  for (let s = 0, L = p.getTotalLength(); s <= L; s += 3) {
    const q = p.getPointAtLength(s);
    const b = boxes.find(b => !ends.includes(b.id) && (b.ell
      ? ((q.x - b.cx) / (b.rx - 1)) ** 2 + ((q.y - b.cy) / (b.ry - 1)) ** 2 < 1
      : q.x > b.x + 1 && q.x < b.x + b.w - 1 && q.y > b.y + 1 && q.y < b.y + b.h - 1));
    if (b) { bad.push(p.id + ' passes through ' + b.id); break; }
  }
});
return bad;
"""


def in_view(driver, elem_id):
    return driver.execute_script(
        "const a = document.getElementById(arguments[0]).getBoundingClientRect(),"
        " b = document.getElementById('graphbox').getBoundingClientRect();"
        "return a.left >= b.left && a.right <= b.right && a.top >= b.top && a.bottom <= b.bottom;",
        elem_id)


def run_page(driver, name):
    global formulas
    with open(os.path.join(PAGES, name + ".expected.json")) as f:
        exp = json.load(f)
    case = Case(exp)
    path = os.path.join(PAGES, name + ".html")
    # the drawing is well-formed XML
    html = open(path, encoding="utf-8").read()
    svg = html[html.index("<svg id=\"graph\""):html.index("</svg>") + 6]
    xml.dom.minidom.parseString(svg)
    driver.get("file://" + os.path.abspath(path))
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    if errors:
        fail("%s: the script failed: %s" % (name, errors))
        return
    T, R = exp["tensors"], exp["records"]
    by = lambda css: driver.find_element(By.CSS_SELECTOR, css)
    label = lambda: by("#pos-label").text
    step = lambda: by("#btn-step").click()
    if label() != "start: the leaves":
        fail("%s: starts at '%s'" % (name, label()))
    # the graph: one box per tensor, one ellipse per record, gradient records apart
    boxes = driver.find_elements(By.CSS_SELECTOR, "g.ten")
    if len(boxes) != len(T):
        fail("%s: %d tensors drawn, %d on the tape" % (name, len(boxes), len(T)))
    if len(driver.find_elements(By.CSS_SELECTOR, "g.rec")) != len(R):
        fail("%s: records drawn" % name)
    n_grad = sum(1 for r in R if r["bof"] >= 0)
    if len(driver.find_elements(By.CSS_SELECTOR, "g.rec.gradrec")) != n_grad:
        fail("%s: %d records of a gradient expected" % (name, n_grad))
    labels = {b.find_element(By.CSS_SELECTOR, ".name").text.split(" ")[0]: b for b in boxes}
    for msg in driver.execute_script(DRAWING_JS):
        fail("%s: the drawing: %s" % (name, msg))
    # a leaf clicked before the forward pass: its value
    leaf = next(k for k, v in T.items() if v["kind"] in ("param", "input"))
    labels[leaf].click()
    check_view(case, by("#sel-value"), T[leaf]["value"], "%s: %s clicked" % (name, leaf))
    # the forward pass, record by record
    for i, r in enumerate(R):
        step()
        if label() != "forward %d/%d" % (i + 1, len(R)):
            fail("%s: forward step %d shows '%s'" % (name, i + 1, label()))
        if i == 0:
            shot = os.path.join(SHOTS, "%s_%s_first_step.png" % (name, exp["real"]))
            driver.save_screenshot(shot)
            print("screenshot of the first step: " + shot)
        if int(by("#step").get_attribute("data-rec")) != i:
            fail("%s: forward step %d is not record %d" % (name, i + 1, i))
        check_view(case, by("#fwd-out"), T[r["out"]]["value"],
                   "%s: forward #%d %s's output %s" % (name, i, r["op"], r["out"]))
    # the backward pass: the seed, then the records from the last
    step()
    if int(by("#step").get_attribute("data-rec")) != -1:
        fail("%s: the backward pass does not start with the seed" % name)
    check_view(case, by("#arrive"), [1.0], "%s: the seed" % name)
    sofar = {exp["loss"]: [1.0]}
    shot_accum = None
    n_back = int(by("#slider").get_attribute("max")) - len(R) - 1
    for s in range(1, n_back + 1):
        step()
        rec = int(by("#step").get_attribute("data-rec"))
        r = R[rec]
        where = "%s: backward step %d (#%d %s)" % (name, s + 1, rec, r["op"])
        check_view(case, by("#arrive"), r["arrive"], where + ", arriving gradient")
        adds = driver.find_elements(By.CSS_SELECTOR, "#adds .add")
        seen = set()
        for a in adds:
            slot = int(a.get_attribute("data-slot"))
            x = r["in"][slot]
            seen.add(x)
            want = r["contrib"][slot]
            check_view(case, a.find_element(By.CSS_SELECTOR, ".contrib"), want,
                       "%s, adds into %s" % (where, x))
            before = sofar.get(x)
            after = [b + c for b, c in zip(before, want)] if before else list(want)
            if before:
                if not shot_accum:
                    shot_accum = os.path.join(SHOTS, "%s_%s_accumulates.png" % (name, exp["real"]))
                    driver.save_screenshot(shot_accum)
                    print("screenshot of a gradient that accumulates: " + shot_accum)
                bef = a.find_elements(By.CSS_SELECTOR, ".before")
                if not bef or "accum" not in a.get_attribute("class"):
                    fail("%s: %s's second gradient is not shown as accumulating" % (where, x))
                else:
                    check_view(case, bef[0], before, where + ", %s before" % x)
                    check_view(case, a.find_element(By.CSS_SELECTOR, ".after"), after,
                               where + ", %s after (+=)" % x)
            sofar[x] = after
        want_inputs = {x for k, x in enumerate(r["in"]) if x and r["contrib"][k] is not None}
        if seen != want_inputs:
            fail("%s: adds into %s, expected %s" % (where, sorted(seen), sorted(want_inputs)))
        # one element worked out: the terms add up to what the rule added
        for w in driver.find_elements(By.CSS_SELECTOR, ".worked"):
            slot = int(w.get_attribute("data-slot"))
            x = r["in"][slot]
            j = int(w.get_attribute("data-j"))
            added = w.find_elements(By.CSS_SELECTOR, ".w-add")
            if not added:
                continue
            case.close(added[0].text, r["contrib"][slot][j], abs(r["contrib"][slot][j]),
                       where + ", worked d%s[%d]" % (x, j))
            if w.get_attribute("data-all") == "true":
                terms = w.find_elements(By.CSS_SELECTOR, ".w-term")
                if int(w.get_attribute("data-n")) == len(terms):
                    total = sum(float(t.get_attribute("data-g")) * float(t.get_attribute("data-d"))
                                for t in terms)
                    case.close(w.find_element(By.CSS_SELECTOR, ".w-sum").text, total, abs(total),
                               where + ", the sum of the terms shown")
                    case.close(w.find_element(By.CSS_SELECTOR, ".w-sum").text,
                               r["contrib"][slot][j], abs(r["contrib"][slot][j]),
                               where + ", the terms against the engine")
            num = w.find_elements(By.CSS_SELECTOR, ".w-num")
            if num:
                d_text = w.find_element(By.CSS_SELECTOR, ".w-d").text
                try:
                    value = eval(to_python(num[0].text), dict(ENV))
                except Exception as e:  # a formula the page cannot have meant
                    fail("%s: cannot evaluate '%s': %s" % (where, num[0].text, e))
                    continue
                formulas += 1
                case.close(d_text, value, max(1.0, abs(value)),
                           where + ", %s = %s" % (to_python(num[0].text), d_text))
                # element-wise: the derivative is what was added over what arrived
                if T[x]["shape"] == T[r["out"]]["shape"] and r["arrive"][j] != 0:
                    d = r["contrib"][slot][j] / r["arrive"][j]
                    case.close(d_text, d, max(1.0, abs(d)), where + ", local derivative")
    if label() != "backward %d/%d" % (n_back + 1, n_back + 1):
        fail("%s: ends at '%s'" % (name, label()))
    shot = os.path.join(SHOTS, "%s_%s_last_step.png" % (name, exp["real"]))
    driver.save_screenshot(shot)
    print("screenshot of the last step: " + shot)
    # every gradient at the end: click each tensor that has one
    for x, t in T.items():
        if t["grad"] is None or x not in labels:
            continue
        labels[x].click()
        check_view(case, by("#sel-grad"), t["grad"], "%s: %s's gradient at the end" % (name, x))
        if sofar.get(x) is None and x != exp["loss"]:
            fail("%s: %s has a gradient but the steps never sent it one" % (name, x))
    # step back, play, pause
    by("#btn-back").click()
    if label() != "backward %d/%d" % (n_back, n_back + 1):
        fail("%s: step back shows '%s'" % (name, label()))
    by("#btn-start").click()
    by("#btn-play").click()
    time.sleep(0.3)
    by("#speed").find_element(By.CSS_SELECTOR, "option[value='250']").click()
    by("#btn-play").click()  # pause
    by("#btn-play").click()  # play faster
    time.sleep(1.2)
    by("#btn-play").click()  # pause
    at = label()
    time.sleep(0.6)
    if at == "start: the leaves" or label() != at:
        fail("%s: play / pause: at '%s', then '%s'" % (name, at, label()))
    # a key on the focused slider moves it one step, not two (the page's own
    # handler moved it too; found by a learner's review)
    by("#btn-start").click()
    slider = by("#slider")
    driver.execute_script("arguments[0].focus()", slider)
    slider.send_keys(Keys.ARROW_RIGHT)
    if slider.get_attribute("value") != "1":
        fail("%s: an arrow key on the slider went to step %s, not 1"
             % (name, slider.get_attribute("value")))
    # so does one on the speed box: it changes the speed, not the step
    speed = by("#speed")
    driver.execute_script("arguments[0].focus()", speed)
    speed.send_keys(Keys.ARROW_RIGHT)
    if slider.get_attribute("value") != "1":
        fail("%s: an arrow key on the speed box stepped to %s" % (name, slider.get_attribute("value")))
    # a tensor is reached by keyboard: Tab to it, Enter selects it
    other = next(b for k, b in labels.items() if k != leaf)
    other.click()
    driver.execute_script("arguments[0].focus()", labels[leaf])
    try:
        labels[leaf].send_keys(Keys.ENTER)
        if leaf not in by("#sel").text.split("\n")[0]:
            fail("%s: Enter on the focused %s did not select it" % (name, leaf))
    except ElementNotInteractableException:
        fail("%s: the tensor %s cannot take the keyboard's focus" % (name, leaf))
    # from the start, the jump to the backward pass shows the loss
    by("#btn-start").click()
    driver.execute_script("const g = document.getElementById('graphbox'); g.scrollLeft = g.scrollTop = 0;")
    by("#btn-backward").click()
    if not in_view(driver, "t%d" % driver.execute_script("return TG.steps[0].t")):
        fail("%s: the seed step does not show the loss in the graph" % name)
    print("%s: checked, playing reached '%s'" % (name, at))


def main():
    o = Options()
    o.binary_location = shutil.which(BROWSER)
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900",
              "--disable-dev-shm-usage"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(DRIVER), options=o)
    except Exception as e:
        fail("Chromium did not start: %s" % e)
        return 1
    try:
        for name in NAMES:
            run_page(driver, name)
    finally:
        driver.quit()
    print("%d numbers checked, %d local derivatives evaluated from their formulas"
          % (checked, formulas))
    print("%d passed, %d failed" % (1 if not failures else 0, 1 if failures else 0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
