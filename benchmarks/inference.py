"""Inference throughput of the reference net (or another of minicnn's nets): one forward pass
on a batch of random CIFAR-sized images, without recording a graph, in images per second.

    python benchmarks/inference.py [--batch 1 128] [--repeats 20] [--threads 2]
                                   [--model reference_net|residual_net|vgg_bn_net]

minicnn runs under minicnn.no_grad(); with PyTorch installed (pip install -e ".[bench]")
the same net with the same weights runs under torch.inference_mode(), alternating with
minicnn, and the ratio is printed. The two sides' logits are checked to agree first.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import (  # noqa: E402
    alternate, machine, random_images, reference_model, report, torch_bn_net, torch_or_none,
    torch_reference_net,
)

import minicnn  # noqa: E402
from minicnn.architectures import MODELS  # noqa: E402


def minicnn_forward(model, x):
    def forward():
        with minicnn.no_grad():
            return model(minicnn.Tensor(x)).data             # (N, 10) logits
    return forward


def torch_forward(torch, net, x):
    tx = torch.from_numpy(x)

    def forward():
        with torch.inference_mode():
            return net(tx).numpy()                           # (N, 10) logits
    return forward


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 128])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    parser.add_argument("--model", choices=["reference_net", "residual_net", "vgg_bn_net"],
                        default="reference_net")
    args = parser.parse_args()

    if args.model == "reference_net":
        model, twin = reference_model(), torch_reference_net
    else:                                                    # BatchNorm: its running statistics
        minicnn.manual_seed(0)
        model, twin = MODELS[args.model]().eval(), torch_bn_net
    torch = torch_or_none(args.threads)
    net = None if torch is None else twin(torch, model).eval()
    for batch in args.batch:
        x = random_images(batch)
        sides = {"minicnn": minicnn_forward(model, x)}
        if torch is not None:
            sides["pytorch"] = torch_forward(torch, net, x)
            ours, theirs = sides["minicnn"](), sides["pytorch"]()
            if not np.allclose(ours, theirs, rtol=1e-3, atol=1e-4 * np.abs(theirs).max()):
                raise SystemExit(f"inference: minicnn and PyTorch logits differ by up to "
                                 f"{np.abs(ours - theirs).max():.3g}; not comparing")
        times = alternate(sides, args.repeats)

        name = args.model.replace("_", " ")
        print(f"inference (forward, no graph), {name}, batch {batch}, float32 ({machine()})")
        if torch is not None:
            print("  check    minicnn's logits match PyTorch's")
        report(times, batch)


if __name__ == "__main__":
    main()
