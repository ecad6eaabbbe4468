"""Top-9 scan: the 9 test images that excite each channel of every conv layer of the
reference net most, over the 10,000 CIFAR-10 test images. Time per scan and images per second.

    python benchmarks/top9_scan.py [--data PATH] [--limit N] [--batch 250] [--repeats 3]
                                   [--threads 2]

minicnn: minicnn.visualize.top_activations(model, images, conv layers, k=9), which
normalises each uint8 batch, runs it forward without a graph and keeps the running
top 9 of all 192 channels (conv1-conv4). PyTorch (pip install -e ".[bench]"): plain
inference over the same images with the same batch size and weights (normalise, forward
under torch.no_grad(), nothing kept) - the issue's target is that the whole scan is no
slower than that. The two alternate in one run.

The images come from --data, else MINICNN_DATA, else minicnn's cache (see
minicnn.data.load_cifar10); --limit takes the first N for a quick run.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import (  # noqa: E402
    MEAN, STD, alternate, machine, reference_model, report, torch_or_none, torch_reference_net,
)

from minicnn.data import load_cifar10  # noqa: E402
from minicnn.nn import Conv2d  # noqa: E402
from minicnn.visualize import top_activations  # noqa: E402


def torch_inference(torch, net, images, batch):
    """Forward every batch of uint8 images, normalised as minicnn does; keep nothing."""
    mean, std = torch.from_numpy(MEAN)[:, None, None], torch.from_numpy(STD)[:, None, None]

    def run():
        with torch.no_grad():
            for start in range(0, len(images), batch):
                xb = torch.from_numpy(images[start:start + batch]).float()   # (B, 3, 32, 32)
                net((xb / 255 - mean) / std)
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="CIFAR-10 source (default: MINICNN_DATA)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N test images")
    parser.add_argument("--batch", type=int, default=250, help="images per forward pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    args = parser.parse_args()

    images = load_cifar10(args.data).test_x[:args.limit]              # (N, 3, 32, 32) uint8
    model = reference_model()
    layers = [name for name in model.names if isinstance(model[name], Conv2d)]
    torch = torch_or_none(args.threads)
    net = None if torch is None else torch_reference_net(torch, model)

    def sides(images):
        out = {"minicnn": lambda: top_activations(model, images, layers, k=9,
                                                  batch_size=args.batch, mean=MEAN, std=STD)}
        if torch is not None:
            out["pytorch"] = torch_inference(torch, net, images, args.batch)
        return out

    for fn in sides(images[:args.batch]).values():   # compile and warm up on one batch only
        fn()
    times = alternate(sides(images), args.repeats, warmup=0)

    print(f"top-9 scan of {', '.join(layers)} ({sum(model[n].weight.shape[0] for n in layers)} "
          f"channels), {len(images)} test images, batch {args.batch} ({machine()})")
    report(times, len(images))


if __name__ == "__main__":
    main()
