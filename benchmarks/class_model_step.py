"""Class-model gradient ascent on the reference net: one ascent step for 10 images at once
(one per CIFAR-10 class). Time per step and images per second.

    python benchmarks/class_model_step.py [--steps 10] [--repeats 10] [--threads 2]

minicnn.visualize.class_model only exposes the whole ascent loop, so this times
class_model(model, classes, preset="none", steps=k) and divides by k. The "none" preset
switches every regulariser off (no L2 decay, blur, jitter, clipping), so each step is:
forward, the logit of each image's class, backward to the input (weights frozen), and
x <- x + lr * g / rms(g) per image. PyTorch (pip install -e ".[bench]") runs the same k
steps from the same starting images with the same weights, in plain autograd, alternating
with minicnn in one run. The minicnn side also draws its starting noise (negligible next to
k steps). Before timing, the images after one step are checked to agree. (Only one: on an
untrained net the ascent soon brings some unit close to a ReLU kink or a max-pool tie, and
float32 rounding then sends the two runs on different paths.)
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import (  # noqa: E402
    alternate, machine, reference_model, report, torch_or_none, torch_reference_net,
)

from minicnn.visualize import PRESETS, class_model  # noqa: E402

CLASSES = list(range(10))
SEED, INIT_STD = 0, 0.1


def minicnn_ascent(model, classes, steps):
    return lambda: class_model(model, classes, preset="none", steps=steps, seed=SEED,
                               init_std=INIT_STD)


def torch_ascent(torch, net, classes, steps, lr):
    """The "none" preset's ascent in PyTorch, from class_model's starting images."""
    rng = np.random.default_rng(SEED)
    x0 = (INIT_STD * rng.standard_normal((len(classes), 3, 32, 32))).astype(np.float32)
    index = torch.tensor(classes)[:, None]                      # (N, 1)

    def run():
        x = torch.from_numpy(x0)
        for _ in range(steps):
            x = x.detach().requires_grad_()
            score = net(x).gather(1, index).sum()                   # each image's class logit
            (g,) = torch.autograd.grad(score, x)
            rms = g.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()    # (N, 1, 1, 1)
            x = x + lr * g / (rms + 1e-12)
        return x.detach().numpy()
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="ascent steps per timed call")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    args = parser.parse_args()

    model = reference_model()
    sides = {"minicnn": minicnn_ascent(model, CLASSES, args.steps)}
    torch = torch_or_none(args.threads)
    if torch is not None:
        net = torch_reference_net(torch, model).requires_grad_(False)
        lr = PRESETS["none"]["lr"]
        sides["pytorch"] = torch_ascent(torch, net, CLASSES, args.steps, lr)
        ours = minicnn_ascent(model, CLASSES, 1)()
        theirs = torch_ascent(torch, net, CLASSES, 1, lr)()
        if not np.allclose(ours, theirs, rtol=1e-3, atol=1e-3 * np.abs(theirs).max()):
            raise SystemExit(f"class_model_step: after one step the images differ by up to "
                             f"{np.abs(ours - theirs).max():.3g}; not comparing")
    times = alternate(sides, args.repeats)

    print(f"class-model ascent step, {len(CLASSES)} images, no regularisers, reference net "
          f"(timed over {args.steps} steps) ({machine()})")
    if torch is not None:
        print("  check    after one step minicnn's images match PyTorch's")
    report({name: t / args.steps for name, t in times.items()}, len(CLASSES))


if __name__ == "__main__":
    main()
