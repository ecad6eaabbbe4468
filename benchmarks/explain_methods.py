"""LRP-epsilon, Integrated Gradients (50 steps) and input x gradient of the reference net,
minicnn against Captum on PyTorch, for a batch of 1 and of 64 random CIFAR-sized images and
one class per image. Time per call and images per second.

    python benchmarks/explain_methods.py [--batch 1 64] [--method lrp ig ixg] [--repeats 10]
                                         [--threads 2] [--ig-batch 256] [--plain]

minicnn: minicnn.visualize.lrp(model, x, target) (epsilon 1e-9), integrated_gradients(...,
steps=50, method="gausslegendre", batch_size=--ig-batch), input_x_gradient(model, x, target).
Captum (pip install -e ".[bench]"), same weights: LRP with EpsilonRule on every conv and
linear layer (its defaults elsewhere: epsilon for max-pool, ReLU passing relevance; Captum's
hooks cannot follow an nn.Flatten module, so the net flattens in its forward),
IntegratedGradients(n_steps=50, method="gausslegendre", internal_batch_size=--ig-batch),
InputXGradient. Before timing, each result is checked to be the same on both sides; the two
alternate in one run. --plain adds a side: minicnn on its plain route (minicnn/ops/ alone).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

import minicnn  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from common import (  # noqa: E402
    alternate, machine, maps_agree, random_images, reference_model, report, torch_or_none,
    torch_reference_net,
)

from minicnn.visualize import input_x_gradient, integrated_gradients, lrp  # noqa: E402

NAMES = {"lrp": "LRP-epsilon", "ig": "Integrated Gradients, 50 steps", "ixg": "input x gradient"}


def ours(method, ig_batch):
    if method == "lrp":
        return lambda model, x, t: lrp(model, x, t)
    if method == "ig":
        return lambda model, x, t: integrated_gradients(model, x, t, steps=50, batch_size=ig_batch)
    return input_x_gradient


def captum_side(torch, model, method, x, target, ig_batch):
    """A function computing the same with Captum, or None without Captum."""
    try:
        from captum.attr import LRP, InputXGradient, IntegratedGradients
        from captum.attr._utils.lrp_rules import EpsilonRule
    except ImportError:
        return None
    seq = torch_reference_net(torch, model).eval().requires_grad_(False)

    class Net(torch.nn.Module):                 # Captum's LRP hooks fail on nn.Flatten
        def __init__(self):
            super().__init__()
            layers = list(seq.children())
            i = [n for n, _ in seq.named_children()].index("flatten")
            self.features = torch.nn.Sequential(*layers[:i])
            self.classifier = torch.nn.Sequential(*layers[i + 1:])

        def forward(self, x):
            return self.classifier(self.features(x).flatten(1))

    net = Net().eval()
    tx, ty = torch.from_numpy(x), torch.from_numpy(target)
    if method == "lrp":
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.rule = EpsilonRule(epsilon=1e-9)
        explainer = LRP(net)
        return lambda: explainer.attribute(tx.clone().requires_grad_(), target=ty).detach().numpy()
    if method == "ig":
        explainer = IntegratedGradients(net)
        return lambda: explainer.attribute(tx, target=ty, n_steps=50, method="gausslegendre",
                                           internal_batch_size=ig_batch).detach().numpy()
    explainer = InputXGradient(net)
    return lambda: explainer.attribute(tx.clone().requires_grad_(), target=ty).detach().numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--method", nargs="+", choices=list(NAMES), default=list(NAMES))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    parser.add_argument("--ig-batch", type=int, default=256, help="path points per pass (both sides)")
    parser.add_argument("--plain", action="store_true", help="time the plain route too")
    args = parser.parse_args()

    model = reference_model()
    torch = torch_or_none(args.threads)
    for method in args.method:
        fn = ours(method, args.ig_batch)
        for batch in args.batch:
            x = random_images(batch)
            target = np.random.default_rng(1).integers(0, 10, batch)   # (N,) one class each
            sides = {"minicnn": lambda: fn(model, x, target)}
            if args.plain:
                def plain():
                    with minicnn.plain():
                        return fn(model, x, target)
                sides["plain"] = plain
            theirs = None if torch is None else captum_side(torch, model, method, x, target,
                                                            args.ig_batch)
            if theirs is not None:
                sides["pytorch"] = theirs
                a, b = sides["minicnn"](), theirs()
                scale = np.abs(b).max()
                if not maps_agree(a, b, rtol=1e-3, atol=2e-3 * scale):
                    raise SystemExit(f"explain_methods: {method} differs from Captum's by up to "
                                     f"{np.abs(a - b).max():.3g} (largest value {scale:.3g})")
            repeats = max(3, args.repeats // 3) if method == "ig" and batch > 8 else args.repeats
            times = alternate(sides, repeats, warmup=1)
            print(f"{NAMES[method]}, reference net, batch {batch}, float32 ({machine()})")
            if theirs is not None:
                print(f"  check    minicnn's {method} matches Captum's (pytorch row: Captum)")
            elif torch is not None:
                print("  captum   not installed (pip install captum)")
            report(times, batch)


if __name__ == "__main__":
    main()
