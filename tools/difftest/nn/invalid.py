"""Hand-written edge/invalid cases: both sides must agree on refusing or accepting."""
import os
import sys
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, run_cases
from gens import finalize, ref_conv, ref_pool, ref_norm
from gens2 import ref_ce, ref_embedding, ref_sdpa
rng = np.random.default_rng(0)
rn = lambda *s: rng.standard_normal(s)
cases = []
def conv(name, xs, ws, b=True, op='conv2d', **kw):
    c = Case(op, ref_conv)
    c.T('x', rn(*xs)); c.T('w', rn(*ws))
    if b: c.T('b', rn(ws[0] if not op.startswith('convt') else ws[1] * kw.get('groups', 1)))
    d = dict(s0=1, s1=1, p0=0, p1=0, d0=1, d1=1, groups=1, op0=0, op1=0, same=0); d.update(kw)
    c.I(**d); c.desc = name; cases.append(finalize(c, rng))
conv('groups not dividing', [1, 3, 5, 5], [2, 1, 3, 3], groups=2)
conv('groups not dividing out', [1, 4, 5, 5], [3, 2, 3, 3], groups=2)
conv('same with stride 2', [1, 2, 6, 6], [2, 2, 3, 3], same=1, s0=2, s1=2)
conv('same with padding', [1, 2, 6, 6], [2, 2, 3, 3], same=1, p0=1, p1=1)
conv('negative padding', [1, 2, 6, 6], [2, 2, 3, 3], p0=-1, p1=-1)
conv('negative stride', [1, 2, 6, 6], [2, 2, 3, 3], s0=-1, s1=1)
conv('negative dilation', [1, 2, 6, 6], [2, 2, 3, 3], d0=-1, d1=1)
conv('kernel too big', [1, 2, 2, 2], [2, 2, 3, 3])
conv('wrong in channels', [1, 3, 5, 5], [2, 2, 3, 3])
conv('bias wrong size', [1, 2, 5, 5], [2, 2, 3, 3], b=False)
cases[-1].T('b', rn(3))
conv('empty batch', [0, 2, 5, 5], [2, 2, 3, 3])
conv('zero-size spatial', [1, 2, 0, 5], [2, 2, 1, 1])
conv('1d same even kernel dil 2', [2, 2, 7], [3, 2, 4], op='conv1d', same=1, d0=2)
conv('convt op>=stride,dil', [1, 2, 3, 3], [2, 2, 3, 3], op='convt2d', s0=2, s1=2, op0=2, op1=0)
conv('convt op<dil only', [1, 2, 3, 3], [2, 2, 3, 3], op='convt2d', s0=1, s1=1, d0=3, d1=1, op0=2, op1=0)
conv('convt same', [1, 2, 3, 3], [2, 2, 3, 3], op='convt2d', same=1)
conv('convt negative output size', [1, 2, 1, 1], [2, 2, 1, 1], op='convt2d', p0=1, p1=1)
conv('convt groups', [1, 4, 3, 3], [4, 1, 2, 2], op='convt2d', groups=2)
conv('convt groups not dividing', [1, 3, 3, 3], [3, 1, 2, 2], op='convt2d', groups=2)

def pool(name, op, xs, **kw):
    c = Case(op, ref_pool)
    c.T('x', rn(*xs))
    d = dict(k0=2, k1=2, s0=2, s1=2, p0=0, p1=0, d0=1, d1=1, ceil=0, cip=1); d.update(kw)
    c.I(**d); c.desc = name; cases.append(finalize(c, rng))
pool('kernel 0', 'maxpool2d', [1, 1, 4, 4], k0=0)
pool('stride negative', 'maxpool2d', [1, 1, 4, 4], s0=-1)
pool('padding > k/2', 'maxpool2d', [1, 1, 4, 4], p0=2)
pool('padding > k/2 avg', 'avgpool2d', [1, 1, 4, 4], p0=2)
pool('negative padding', 'avgpool2d', [1, 1, 4, 4], p0=-1)
pool('dilation 0', 'maxpool2d', [1, 1, 4, 4], d0=0)
pool('dilation negative', 'maxpool2d', [1, 1, 4, 4], d0=-2)
pool('window larger than input', 'maxpool2d', [1, 1, 1, 1], k0=3, k1=3, s0=1, s1=1)
pool('window larger than input avg', 'avgpool2d', [1, 1, 1, 1], k0=3, k1=3, s0=1, s1=1, p0=1, p1=1)
pool('avg divisor negative', 'avgpool2d', [1, 1, 4, 4], divisor=-1)
pool('5-D input', 'maxpool2d', [1, 1, 1, 4, 4])
pool('2-D input 2d pool', 'maxpool2d', [4, 4])
pool('empty batch', 'maxpool2d', [0, 1, 4, 4])
pool('avg1d empty batch', 'avgpool1d', [0, 1, 4])
pool('avg 1d ceil edge', 'avgpool1d', [1, 1, 5], k0=2, s0=2, p0=1, ceil=1, cip=0)
c = Case('adaptive_avg2d', ref_pool); c.T('x', rn(1, 1, 4, 4)); c.I(oh=0, ow=2); c.desc = 'adaptive out 0'; cases.append(finalize(c, rng))
c = Case('adaptive_avg2d', ref_pool); c.T('x', rn(1, 1, 0, 4)); c.I(oh=2, ow=2); c.desc = 'adaptive empty input'; cases.append(finalize(c, rng))
c = Case('adaptive_avg2d', ref_pool); c.T('x', rn(0, 1, 3, 4)); c.I(oh=2, ow=2); c.desc = 'adaptive empty batch'; cases.append(finalize(c, rng))

def norm(name, op, tens, ints=None, floats=None):
    c = Case(op, ref_norm)
    for n, (a, rg) in tens.items(): c.T(n, a, rg)
    c.I(**(ints or {})); c.F(**(floats or {})); c.desc = name; cases.append(finalize(c, rng))
norm('bn rm without rv', 'batch_norm', {'x': (rn(3, 2), 1), 'rm': (rn(2), 0)}, dict(training=1), dict(momentum=0.1, eps=1e-5))
norm('bn eval no stats', 'batch_norm', {'x': (rn(3, 2), 1)}, dict(training=0), dict(momentum=0.1, eps=1e-5))
norm('bn rm wrong size', 'batch_norm', {'x': (rn(3, 2), 1), 'rm': (rn(3), 0), 'rv': (rng.random(3), 0)}, dict(training=1), dict(momentum=0.1, eps=1e-5))
norm('bn w wrong size', 'batch_norm', {'x': (rn(3, 2), 1), 'w': (rn(3), 1)}, dict(training=1), dict(momentum=0.1, eps=1e-5))
norm('bn 1-D x', 'batch_norm', {'x': (rn(3), 1)}, dict(training=1), dict(momentum=0.1, eps=1e-5))
norm('bn M=1 train', 'batch_norm', {'x': (rn(1, 2), 1)}, dict(training=1), dict(momentum=0.1, eps=1e-5))
norm('bn M=1 train spatial', 'batch_norm', {'x': (rn(1, 2, 1, 1), 1)}, dict(training=1), dict(momentum=0.1, eps=1e-5))
norm('bn momentum 1.5', 'batch_norm', {'x': (rn(3, 2), 1), 'rm': (rn(2), 0), 'rv': (rng.random(2), 0)}, dict(training=1), dict(momentum=1.5, eps=1e-5))
norm('bn momentum -0.5', 'batch_norm', {'x': (rn(3, 2), 1), 'rm': (rn(2), 0), 'rv': (rng.random(2), 0)}, dict(training=1), dict(momentum=-0.5, eps=1e-5))
norm('bn eps 0 const channel', 'batch_norm', {'x': (np.ones((3, 2)), 1)}, dict(training=1), dict(momentum=0.1, eps=0.0))
norm('bn eval eps 0 rv 0', 'batch_norm', {'x': (rn(3, 2), 1), 'rm': (rn(2), 0), 'rv': (np.zeros(2), 0)}, dict(training=0), dict(momentum=0.1, eps=0.0))
norm('bn empty batch', 'batch_norm', {'x': (rn(0, 2), 1), 'rm': (rn(2), 0), 'rv': (rng.random(2), 0)}, dict(training=0), dict(momentum=0.1, eps=1e-5))
norm('ln eps 0 const row', 'layer_norm', {'x': (np.ones((2, 3)), 1)}, dict(nd=1), dict(eps=0.0))
norm('ln w wrong shape', 'layer_norm', {'x': (rn(2, 3), 1), 'w': (rn(2), 1)}, dict(nd=1), dict(eps=1e-5))
norm('ln eps negative', 'layer_norm', {'x': (rn(2, 3), 1)}, dict(nd=1), dict(eps=-1e-5))
norm('gn C not divisible', 'group_norm', {'x': (rn(2, 3, 2), 1)}, dict(G=2), dict(eps=1e-5))
norm('gn G 0', 'group_norm', {'x': (rn(2, 3, 2), 1)}, dict(G=0), dict(eps=1e-5))
norm('gn 1-D x', 'group_norm', {'x': (rn(4), 1)}, dict(G=2), dict(eps=1e-5))
norm('gn w wrong', 'group_norm', {'x': (rn(2, 4, 2), 1), 'w': (rn(2), 1)}, dict(G=2), dict(eps=1e-5))
norm('gn empty batch', 'group_norm', {'x': (rn(0, 4, 2), 1)}, dict(G=2), dict(eps=1e-5))
norm('rms 0 input eps auto', 'rms_norm', {'x': (np.zeros((2, 3)), 1)}, dict(nd=1), dict(eps=-1.0))
norm('rms 0 input eps 0', 'rms_norm', {'x': (np.zeros((2, 3)), 1)}, dict(nd=1), dict(eps=0.0))
norm('rms nd 2', 'rms_norm', {'x': (rn(2, 3, 2), 1), 'w': (rn(3, 2), 1)}, dict(nd=2), dict(eps=-1.0))
norm('ln huge values', 'layer_norm', {'x': (rn(2, 5) * 1e150, 1)}, dict(nd=1), dict(eps=1e-5))
norm('ln offset values', 'layer_norm', {'x': (rn(2, 5) + 1e8, 1)}, dict(nd=1), dict(eps=1e-5))
norm('bn offset values', 'batch_norm', {'x': (rn(4, 2) + 1e8, 1)}, dict(training=1), dict(momentum=0.1, eps=1e-5))
norm('rms huge', 'rms_norm', {'x': (rn(2, 5) * 1e200, 1)}, dict(nd=1), dict(eps=-1.0))
norm('rms tiny', 'rms_norm', {'x': (rn(2, 5) * 1e-200, 1)}, dict(nd=1), dict(eps=0.0))

def ce(name, op, xs, tgt=None, ints=None, floats=None, w=None, y=None):
    c = Case(op, ref_ce)
    c.T('x', rn(*xs))
    if tgt is not None:
        t = np.asarray(tgt); c.X('target', t.ravel() if t.ndim else t.reshape(1)); c.X('target_t', t)
    if y is not None: c.T('target', y, rg=False)
    if w is not None: c.T('weight', w, rg=False)
    d = dict(red=0, ignore_index=-100); d.update(ints or {}); c.I(**d); c.F(**(floats or {}))
    c.desc = name; cases.append(finalize(c, rng))
ce('target out of range', 'cross_entropy', [2, 3], [0, 3])
ce('target negative', 'cross_entropy', [2, 3], [0, -1])
ce('ls negative', 'cross_entropy', [2, 3], [0, 1], floats=dict(ls=-0.1))
ce('ls > 1', 'cross_entropy', [2, 3], [0, 1], floats=dict(ls=1.5))
ce('weight wrong size', 'cross_entropy', [2, 3], [0, 1], w=np.ones(2))
ce('weight negative', 'cross_entropy', [2, 3], [0, 1], w=np.array([1., -2., 0.5]))
ce('nll with ls', 'nll_loss', [2, 3], [0, 1], floats=dict(ls=0.1))
ce('empty batch mean', 'cross_entropy', [0, 3], np.zeros(0, dtype=np.int64))
ce('empty batch sum', 'cross_entropy', [0, 3], np.zeros(0, dtype=np.int64), ints=dict(red=1))
ce('C=0', 'cross_entropy', [2, 0], [0, 0])
ce('0-d target with [C]', 'cross_entropy', [3], np.array(1))
ce('prob wrong shape', 'cross_entropy_prob', [2, 3], y=np.ones((2, 2)))
ce('prob with ignore', 'cross_entropy_prob', [2, 3], y=np.ones((2, 3)) / 3, ints=dict(ignore_index=0))
ce('x 3-D target ok', 'cross_entropy', [2, 3, 2], [[0, 1], [2, 0]])
ce('ls with all ignored sum', 'cross_entropy', [2, 3], [-100, -100], ints=dict(red=1), floats=dict(ls=0.2))
ce('inf logit', 'cross_entropy', [2, 3], [0, 1])
cases[-1].tensors['x'] = (np.array([[np.inf, 0, 1], [0, -np.inf, 2]]), 1)
ce('-inf at target', 'cross_entropy', [2, 3], [1, 1])
cases[-1].tensors['x'] = (np.array([[0.5, -np.inf, 1], [0, -np.inf, 2]]), 1)
ce('-inf not target, ls', 'cross_entropy', [2, 3], [0, 2], floats=dict(ls=0.1))
cases[-1].tensors['x'] = (np.array([[0.5, -np.inf, 1], [0, -np.inf, 2]]), 1)
ce('-inf not target', 'cross_entropy', [2, 3], [0, 2])
cases[-1].tensors['x'] = (np.array([[0.5, -np.inf, 1], [0, -np.inf, 2]]), 1)

def emb(name, V, D, idx, pad=None):
    c = Case('embedding', ref_embedding); c.T('w', rn(V, D)); c.X('idx', np.asarray(idx))
    if pad is not None: c.I(has_pad=1, padding_idx=pad)
    c.desc = name; cases.append(finalize(c, rng))
emb('pad out of range', 3, 2, [0, 1], pad=3)
emb('pad out of range neg', 3, 2, [0, 1], pad=-4)
emb('idx negative', 3, 2, [0, -1])
emb('idx == V', 3, 2, [0, 3])
emb('empty idx', 3, 2, np.zeros((0,), dtype=np.int64))
emb('0-d idx', 3, 2, np.array(2))
emb('7-D idx', 3, 2, np.zeros((1,) * 7, dtype=np.int64))

def sdpa(name, qs, ks, vs, mask=None, kind=0, causal=0, scale=None, mrg=False):
    c = Case('sdpa', ref_sdpa); c.T('q', rn(*qs)); c.T('k', rn(*ks)); c.T('v', rn(*vs))
    if mask is not None: c.T('mask', mask, rg=mrg)
    c.I(kind=kind, is_causal=causal)
    if scale is not None: c.F(scale=scale)
    c.desc = name; cases.append(finalize(c, rng))
sdpa('mask and causal', [2, 3], [2, 3], [2, 3], mask=np.zeros((2, 2)), causal=1)
sdpa('causal L>S', [4, 3], [2, 3], [2, 3], causal=1)
sdpa('causal L<S', [2, 3], [4, 3], [4, 3], causal=1)
sdpa('v more batch dims', [2, 3], [2, 3], [2, 2, 3])
sdpa('v more batch dims 2', [1, 2, 3], [1, 2, 3], [3, 1, 2, 3])
sdpa('negative scale', [2, 3], [2, 3], [2, 3], scale=-0.5)
sdpa('whole row hidden keep', [2, 3], [2, 3], [2, 3], mask=np.array([[0., 0.], [1., 0.]]), kind=1)
sdpa('additive mask rg, row -inf', [2, 3], [2, 3], [2, 3], mask=np.array([[-np.inf, -np.inf], [1., 0.]]), kind=0, mrg=True)
sdpa('mask bigger batch', [2, 3], [2, 3], [2, 3], mask=np.zeros((2, 2, 2)))
sdpa('mask wrong L', [2, 3], [2, 3], [2, 3], mask=np.zeros((3, 2)))
sdpa('E mismatch', [2, 3], [2, 4], [2, 3])
sdpa('S mismatch', [2, 3], [2, 3], [3, 3])
sdpa('1-D q', [3], [2, 3], [2, 3])

# Disagreements that are known and deliberate, by case name: one line each on why.
KNOWN = {
    'same with padding': 'tapegrad refuses padding_same with a padding (in F.conv2d "same" replaces it)',
    'convt same': 'no padding_same for transposed convolutions (ops.md); PyTorch has none either',
    'dilation 0': 'a pool dilation of 0 means 1 in tg_pool_opts (ops.h); PyTorch refuses 0',
    'avg divisor negative': 'tapegrad refuses a negative divisor_override; PyTorch 1.13 divides by it',
    'adaptive out 0': "an output of size 0 is empty in tapegrad; PyTorch 1.13's backward refuses it",
    'ln eps negative': 'tapegrad refuses eps < 0; PyTorch takes it',
    'ls negative': 'tapegrad refuses label_smoothing outside [0, 1]; PyTorch 1.13 takes a negative one',
    'mask bigger batch': 'an SDPA mask must broadcast to the scores (ops.md: PyTorch adds it in place)',
    '1-D q': 'SDPA needs [..., L, E] (ops.md); the reference, built on torch.matmul, takes 1-D',
    'ln offset values': 'x + 1e8: both sides err by ~1e-8 against 50-digit arithmetic (the mean rounds)',
    'bn offset values': 'x + 1e8: both sides err by ~1e-8 against 50-digit arithmetic (the mean rounds)',
    'bn eval eps 0 rv 0': 'eps = 0, running_var 0: tapegrad ±inf, PyTorch NaN from its fused form '
                          '(ops.md)',
}

bad = run_cases(cases, verbose=False)
new = 0
for c, probs in bad:
    if c.desc in KNOWN:
        print(f"[{c.id}] {c.op} {c.desc}: known: {KNOWN[c.desc]}")
        continue
    new += 1
    print(f"[{c.id}] {c.op} {c.desc}:")
    for p in probs:
        print("    ", p)
print(f"invalid/edge: {len(bad)} / {len(cases)} disagree, {len(bad) - new} of them known, {new} not")
