"""Occlusion map of one image on the reference net: a 4x4 grey square slid with stride 2
over a 32x32 image (15 x 15 = 225 positions), the target class's softmax probability at
each. Time per map.

    python benchmarks/occlusion.py [--size 4] [--stride 2] [--batch-size 256]
                                   [--repeats 10] [--threads 2]

Five sides, alternating in one run:
- minicnn:  minicnn.visualize.occlusion(...) as it is called by default: the occluded copies
            go through the network in batches (here all 225 in one), and through the
            convolutions and max-pools only the part of each copy that the square changes
            (minicnn/visualize/incremental.py);
- whole copies: occlusion(..., incremental=False), the whole copies through every layer in
            one batch: the same algorithm as the PyTorch side;
- one-by-one: the same map with minicnn, one whole occluded copy per forward pass, written
            out below (the issue's target: occlusion() makes the map >= 3x faster than this);
- pytorch:  (pip install -e ".[bench]") the batched map of whole copies in PyTorch, same
            weights;
- pytorch one-by-one: PyTorch's map one copy per forward pass, for how much batching gains
            in PyTorch on the same machine.
The maps are checked to agree before timing.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import (  # noqa: E402
    MEAN, STD, alternate, machine, random_images, reference_model, report, spread,
    torch_or_none, torch_reference_net,
)

import minicnn  # noqa: E402
from minicnn.visualize import occlusion  # noqa: E402
from minicnn.visualize.occlusion import occluder_value  # noqa: E402


def corners(size, stride, H=32, W=32):
    """The occluder's top-left corners, row by row, as occlusion() visits them."""
    OH, OW = (H - size) // stride + 1, (W - size) // stride + 1
    return [(i * stride, j * stride) for i in range(OH) for j in range(OW)], (OH, OW)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def one_by_one(model, x, target, size, stride, value):
    """The occlusion map with one forward pass per square position: (OH, OW)."""
    positions, shape = corners(size, stride)
    prob = np.empty(len(positions))
    with minicnn.no_grad():
        for k, (top, left) in enumerate(positions):
            xb = x.copy()                                          # (1, C, H, W)
            xb[0, :, top:top + size, left:left + size] = value
            prob[k] = softmax(model(minicnn.Tensor(xb)).data)[0, target]
    return prob.reshape(shape)


def torch_occlusion(torch, net, x, target, size, stride, value, batched=True):
    """The map in PyTorch: all occluded copies in one forward pass, or one per pass."""
    positions, shape = corners(size, stride)
    tx, fill = torch.from_numpy(x), torch.from_numpy(np.broadcast_to(value, (3, 1, 1)).copy())

    def run():
        with torch.inference_mode():
            xb = tx.repeat(len(positions), 1, 1, 1)               # (K, C, H, W)
            for k, (top, left) in enumerate(positions):
                xb[k, :, top:top + size, left:left + size] = fill
            if batched:
                logits = net(xb)                                  # (K, classes)
            else:
                logits = torch.cat([net(xb[k:k + 1]) for k in range(len(positions))])
            prob = torch.softmax(logits, dim=1)[:, target]
        return prob.numpy().reshape(shape)
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4)
    parser.add_argument("--stride", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256,
                        help="occluded copies per forward pass in occlusion() (its default)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    args = parser.parse_args()

    model = reference_model()
    x, target = random_images(1), 3
    value = occluder_value(model, "grey", MEAN, STD)                  # (C, 1, 1)
    sides = {
        "minicnn": lambda: occlusion(model, x, target, size=args.size, stride=args.stride,
                                     fill="grey", batch_size=args.batch_size, mean=MEAN,
                                     std=STD)[0][0],
        "whole copies": lambda: occlusion(model, x, target, size=args.size, stride=args.stride,
                                          fill="grey", batch_size=args.batch_size, mean=MEAN,
                                          std=STD, incremental=False)[0][0],
        "one-by-one": lambda: one_by_one(model, x, target, args.size, args.stride, value),
    }
    torch = torch_or_none(args.threads)
    if torch is not None:
        net = torch_reference_net(torch, model)
        sides["pytorch"] = torch_occlusion(torch, net, x, target, args.size, args.stride, value)
        sides["pytorch one-by-one"] = torch_occlusion(torch, net, x, target, args.size,
                                                      args.stride, value, batched=False)
    maps = {name: fn() for name, fn in sides.items()}
    for name, m in maps.items():
        if not np.allclose(m, maps["minicnn"], rtol=1e-3, atol=1e-6):
            raise SystemExit(f"occlusion: the {name} map differs from minicnn's by up to "
                             f"{np.abs(m - maps['minicnn']).max():.3g}; not comparing")
    times = alternate(sides, args.repeats)

    positions = len(corners(args.size, args.stride)[0])
    print(f"occlusion map of one image, {args.size}x{args.size} square, stride {args.stride} "
          f"({positions} positions), reference net ({machine()})")
    print(f"  check    the {len(maps)} maps agree")
    one = times.pop("one-by-one")
    whole = times.pop("whole copies")
    torch_one = times.pop("pytorch one-by-one", None)
    report(times, 1, unit="maps/s")
    line = f"  whole copies {spread(whole)}"
    if "pytorch" in times:
        ratio = np.median(times["pytorch"]) / np.median(whole)
        line += f"   {ratio:.2f}x PyTorch's throughput (the same algorithm)"
    print(line)
    speedup, batching = np.median(one) / np.median(times["minicnn"]), np.median(one) / np.median(whole)
    print(f"  one-by-one {spread(one)}   occlusion() is {speedup:.1f}x faster (target >= 3x); "
          f"batching whole copies alone {batching:.1f}x")
    if torch_one is not None:
        speedup = np.median(torch_one) / np.median(times["pytorch"])
        print(f"  pytorch one-by-one {spread(torch_one)}   batching is {speedup:.1f}x faster "
              f"in PyTorch")


if __name__ == "__main__":
    main()
