#!/usr/bin/python3
"""Golden data for the normalisation ops, written by PyTorch.

Run from the repository root with Debian's PyTorch:
    /usr/bin/python3 tests/gen_golden_norm.py            # write the files
    /usr/bin/python3 tests/gen_golden_norm.py --measure  # PyTorch's float32 error
It writes tests/golden/norm_{f32,f64}.txt, read by
tests/ops/test_golden_norm.c: batch_norm (training and evaluation, with and
without the affine weight and bias and the running statistics), its running
statistics after a training step (op batch_norm_stats: the updated
running_mean then running_var, no gradient), layer_norm, group_norm and
rms_norm, first and second order (tests/golden_writer.py; batch norm in
training is a pure function of its batch, so its higher orders are too).
PyTorch 1.13 cannot differentiate batch_norm's and layer_norm's backward
when they have a bias and no weight: those cases take their higher orders
from the same function with a constant weight of ones (the writer's
`higher`).

rms_norm is not in PyTorch 1.13: its cases are the formula of recent
PyTorch's F.rms_norm written with PyTorch ops,
    x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps) * weight,
eps=None being torch.finfo(dtype).eps.

Attributes: train, momentum, eps (auto: rms_norm's eps=None), the optional
inputs present (rs: running_mean and running_var, w: weight, b: bias, in
that order after x), nd and n0.. (normalized_shape), groups.
"""
import os
import sys

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_golden_conv import Draws, Measure  # noqa: E402
from golden_writer import GoldenWriter  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def write(dtype, path, Writer=GoldenWriter):
    w = Writer(path)
    draws = Draws(9000, dtype)
    rnd, pos = draws.normal, draws.positive

    def case(name, op, fn, inputs, **kw):
        w.case(name, op, fn, inputs, seed=draws.count, **kw)

    def affine(C, has_w, has_b):
        return ([rnd(C)] if has_w else []) + ([rnd(C)] if has_b else [])

    # batch_norm: inputs x, [running_mean, running_var], [weight], [bias]
    def bn(name, shape, train, has_rs, has_w=True, has_b=True, momentum=0.1, eps=1e-5,
           const=None, kink=False):
        C = shape[1]
        ins = [rnd(*shape)] + ([rnd(C), pos(C)] if has_rs else []) + affine(C, has_w, has_b)
        if const is not None:  # channel 0 holds one value
            ins[0][:, 0] = const
        k = 1 + 2 * has_rs

        def fn(x, *rest):
            rm, rv = (rest[0].clone(), rest[1].clone()) if has_rs else (None, None)
            wt = rest[k - 1] if has_w else None
            b = rest[k - 1 + has_w] if has_b else None
            return F.batch_norm(x, rm, rv, wt, b, train, momentum, eps)

        # PyTorch 1.13 cannot differentiate batch_norm's backward when it has a
        # bias but no weight: the higher orders are those of the same function
        # with a weight of ones (a constant: the same values, bit for bit)
        def unit_weight(x, *rest):
            rm, rv = (rest[0].clone(), rest[1].clone()) if has_rs else (None, None)
            ones = torch.ones(C, dtype=x.dtype)
            return F.batch_norm(x, rm, rv, ones, rest[k - 1], train, momentum, eps)

        grads = [0] + list(range(k, len(ins)))
        case(name, "batch_norm", fn, ins, grad_inputs=grads, kink=kink,
             higher=unit_weight if has_b and not has_w else None,
             attrs={"train": int(train), "momentum": momentum, "eps": eps, "rs": int(has_rs),
                    "w": int(has_w), "b": int(has_b)})

    bn("bn_train_2d", (5, 4), True, False)
    bn("bn_train_3d", (3, 2, 5), True, True)
    bn("bn_train_4d", (2, 3, 4, 5), True, False)
    bn("bn_train_noaffine", (4, 3, 3), True, False, has_w=False, has_b=False)
    bn("bn_train_weight_only", (3, 3, 4), True, True, has_b=False, eps=1e-3)
    bn("bn_train_batch1", (1, 3, 4, 4), True, False)
    bn("bn_train_two_values", (2, 3), True, False)
    bn("bn_eval_4d", (2, 3, 4, 5), False, True)
    bn("bn_eval_2d", (5, 3), False, True, eps=1e-3)
    bn("bn_eval_noaffine", (3, 2, 6), False, True, has_w=False, has_b=False)
    bn("bn_eval_bias_only", (2, 4, 3), False, True, has_w=False)

    # the running statistics after one training step: [running_mean, running_var]
    for name, shape, m in [("bn_stats_3d", (4, 3, 5), 0.1), ("bn_stats_4d", (2, 3, 2, 2), 0.3),
                           ("bn_stats_2d_m1", (5, 2), 1.0), ("bn_stats_m0", (3, 2, 2), 0.0)]:
        C = shape[1]

        def stats(x, rm, rv, m=m):
            rm, rv = rm.clone(), rv.clone()
            F.batch_norm(x, rm, rv, None, None, True, m, 1e-5)
            return torch.cat([rm, rv])

        case(name, "batch_norm_stats", stats, [rnd(*shape), rnd(C), pos(C)], grad_inputs=[],
             attrs={"momentum": m})

    # layer_norm: inputs x, [weight], [bias], of the normalized shape
    def ln(name, shape, nd, has_w=True, has_b=True, eps=1e-5):
        ns = shape[len(shape) - nd:]
        ins = [rnd(*shape)] + ([rnd(*ns)] if has_w else []) + ([rnd(*ns)] if has_b else [])

        def fn(x, *rest):
            wt = rest[0] if has_w else None
            b = rest[int(has_w)] if has_b else None
            return F.layer_norm(x, ns, wt, b, eps)

        def unit_weight(x, b):  # as batch_norm's: PyTorch's double backward needs a weight
            return F.layer_norm(x, ns, torch.ones(ns, dtype=x.dtype), b, eps)

        attrs = {"nd": nd, "eps": eps, "w": int(has_w), "b": int(has_b)}
        for i, d in enumerate(ns):
            attrs["n%d" % i] = d
        case(name, "layer_norm", fn, ins, attrs=attrs,
             higher=unit_weight if has_b and not has_w else None)

    ln("ln_last", (3, 5), 1)
    ln("ln_last2", (2, 3, 4), 2)
    ln("ln_all_noaffine", (2, 3, 4), 3, has_w=False, has_b=False)
    ln("ln_weight_only_eps", (4, 6), 1, has_b=False, eps=1e-3)
    ln("ln_bias_only_4d", (2, 2, 3, 2), 2, has_w=False)

    # group_norm: inputs x, [weight], [bias] of [C]
    def gn(name, shape, groups, has_w=True, has_b=True, eps=1e-5):
        ins = [rnd(*shape)] + affine(shape[1], has_w, has_b)

        def fn(x, *rest):
            wt = rest[0] if has_w else None
            b = rest[int(has_w)] if has_b else None
            return F.group_norm(x, groups, wt, b, eps)

        case(name, "group_norm", fn, ins,
             attrs={"groups": groups, "eps": eps, "w": int(has_w), "b": int(has_b)})

    gn("gn_3d", (2, 6, 3), 2)
    gn("gn_instance_4d", (2, 4, 3, 3), 4)
    gn("gn_one_group_noaffine", (3, 4, 5), 1, has_w=False, has_b=False)
    gn("gn_2d", (4, 6), 3, eps=1e-3)
    gn("gn_weight_only", (2, 4, 2, 3), 2, has_b=False)

    # rms_norm: the formula of recent PyTorch's F.rms_norm with PyTorch ops
    def rms(name, shape, nd, has_w=True, eps=1e-5):
        ns = shape[len(shape) - nd:]
        dims = tuple(range(-nd, 0))
        e = torch.finfo(dtype).eps if eps is None else eps
        ins = [rnd(*shape)] + ([rnd(*ns)] if has_w else [])

        def fn(x, wt=None):
            y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + e)
            return y * wt if wt is not None else y

        attrs = {"nd": nd, "w": int(has_w)}
        if eps is None:
            attrs["auto"] = 1
        else:
            attrs["eps"] = eps
        for i, d in enumerate(ns):
            attrs["n%d" % i] = d
        case(name, "rms_norm", fn, ins, attrs=attrs)

    rms("rms_last", (3, 5), 1)
    rms("rms_last2", (2, 3, 4), 2)
    rms("rms_noweight", (4, 6), 1, has_w=False)
    rms("rms_eps_auto", (3, 4), 1, eps=None)
    rms("rms_eps_big", (2, 2, 3), 1, eps=0.5)

    # eps = 0 and a constant channel in training: PyTorch's CPU kernel takes
    # 1/σ as 0 there (its InvStd), so y = b and the channel's gradients are
    # 0; a kink (the function jumps as soon as the channel varies). Last, so
    # that the draws of the cases above are unchanged.
    bn("bn_train_eps0_const_channel", (4, 2, 3), True, False, eps=0.0, const=0.75, kink=True)
    w.close()


if __name__ == "__main__" and sys.argv[1:] == ["--measure"]:
    write(torch.float32, "norm", Writer=Measure)
    sys.exit(0)

if __name__ == "__main__":
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    write(torch.float32, os.path.join(HERE, "golden", "norm_f32.txt"))
    write(torch.float64, os.path.join(HERE, "golden", "norm_f64.txt"))
    print("wrote tests/golden/norm_f32.txt and norm_f64.txt")
