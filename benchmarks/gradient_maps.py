"""Gradient maps of the reference net: saliency, guided backprop and deconvnet, each the
gradient of one logit per image (a random class) with respect to the input, for a batch
of 1 and of 64 random CIFAR-sized images. Time per call and images per second.

    python benchmarks/gradient_maps.py [--batch 1 64] [--method saliency guided deconv]
                                       [--repeats 20] [--threads 2] [--plain]

minicnn: minicnn.visualize.saliency / guided_backprop / deconvnet(model, x, target).
PyTorch (pip install -e ".[bench]"), same weights: plain autograd for saliency; for the
other two every nn.ReLU is swapped for a torch.autograd.Function whose backward follows
the rule (guided: max(dout, 0) * (x > 0); deconvnet: max(dout, 0)), as Captum does with
hooks. Parameters are frozen on both sides, so neither computes weight gradients. Before
timing, each map is checked to be the same on both sides; the two alternate in one run.
--plain adds a side: minicnn on its plain route (minicnn/ops/ alone).
"""
import argparse
import copy
import sys
from pathlib import Path

import numpy as np

import minicnn  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from common import (  # noqa: E402
    alternate, machine, maps_agree, random_images, reference_model, report, torch_or_none,
    torch_reference_net,
)

from minicnn.visualize import deconvnet, guided_backprop, saliency  # noqa: E402

METHODS = {"saliency": saliency, "guided": guided_backprop, "deconv": deconvnet}


def torch_nets(torch, model):
    """{method: PyTorch reference net whose ReLUs pass gradients back by that method}."""

    class RuleReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, rule):
            out = x.clamp(min=0)
            ctx.rule = rule
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx, dout):
            (out,) = ctx.saved_tensors
            dx = dout.clamp(min=0)                  # deconvnet: the signal's positive part
            if ctx.rule == "guided":
                dx = dx * (out > 0)                 # guided: where the input was positive, too
            return dx, None

    class ReLU(torch.nn.Module):
        def __init__(self, rule):
            super().__init__()
            self.rule = rule

        def forward(self, x):
            return RuleReLU.apply(x, self.rule)

    net = torch_reference_net(torch, model).requires_grad_(False)
    nets = {"saliency": net}
    for rule in ("guided", "deconv"):
        nets[rule] = copy.deepcopy(net)
        for name, layer in net.named_children():
            if isinstance(layer, torch.nn.ReLU):
                setattr(nets[rule], name, ReLU(rule))
    return nets


def torch_map(torch, net, x, target):
    """d logit[target] / d x for every image: (N, 3, 32, 32)."""
    tx, ty = torch.from_numpy(x), torch.from_numpy(target)

    def run():
        xin = tx.detach().requires_grad_()
        score = net(xin).gather(1, ty[:, None]).sum()       # one logit per image
        (dx,) = torch.autograd.grad(score, xin)
        return dx.numpy()
    return run


def plain_map(method, model, x, target):
    with minicnn.plain():
        return method(model, x, target)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--method", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    parser.add_argument("--plain", action="store_true", help="time the plain route too")
    args = parser.parse_args()

    model = reference_model()
    torch = torch_or_none(args.threads)
    nets = None if torch is None else torch_nets(torch, model)
    for method in args.method:
        for batch in args.batch:
            x = random_images(batch)
            target = np.random.default_rng(1).integers(0, 10, batch)   # (N,) one class each
            sides = {"minicnn": lambda: METHODS[method](model, x, target)}
            if args.plain:
                sides["plain"] = lambda: plain_map(METHODS[method], model, x, target)
            if torch is not None:
                sides["pytorch"] = torch_map(torch, nets[method], x, target)
                ours, theirs = sides["minicnn"](), sides["pytorch"]()
                scale = np.abs(theirs).max()
                if not maps_agree(ours, theirs, rtol=1e-3, atol=1e-3 * scale):
                    raise SystemExit(f"gradient_maps: {method} maps differ by up to "
                                     f"{np.abs(ours - theirs).max():.3g} (largest value "
                                     f"{scale:.3g}); not comparing different computations")
            times = alternate(sides, args.repeats)

            print(f"{method} map, reference net, batch {batch}, float32 ({machine()})")
            if torch is not None:
                print(f"  check    minicnn's {method} map matches PyTorch's")
            report(times, batch)


if __name__ == "__main__":
    main()
