"""Training-step throughput of the reference net (or another): forward, backward
and an SGD step on a batch of random CIFAR-sized images, in images per second.

    python benchmarks/train_step.py [--batch 128] [--repeats 20] [--threads 2] [--plain]
                                    [--model reference_net|residual_net|vgg_bn_net]

The nets with BatchNorm train in train mode (batch statistics, running ones updated), as
`minicnn train` runs them; in PyTorch each is the same net layer for layer (common.py).

With PyTorch installed (pip install -e ".[bench]") the same step runs in
PyTorch too, alternating with minicnn, and the ratio is printed. --plain adds a
third side: the same step on minicnn's plain route (minicnn/ops/ alone).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import (  # noqa: E402
    alternate, machine, report, torch_or_none, torch_bn_net, torch_reference_net,
)

import minicnn  # noqa: E402
from minicnn import functional as F  # noqa: E402
from minicnn.architectures import MODELS  # noqa: E402


def minicnn_step(batch, seed=0, model_name="reference_net"):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    minicnn.manual_seed(seed)
    model = MODELS[model_name]().train()
    opt = minicnn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(minicnn.Tensor(x)), y)
        loss.backward()
        opt.step()
    return step, model, x, y


def torch_step(torch, model, x, y, model_name="reference_net"):
    """The same step in PyTorch, on the same net with the same weights."""
    twin = torch_reference_net if model_name == "reference_net" else torch_bn_net
    net = twin(torch, model).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(tx), ty)
        loss.backward()
        opt.step()
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    parser.add_argument("--plain", action="store_true", help="time the plain route too")
    parser.add_argument("--model", choices=["reference_net", "residual_net", "vgg_bn_net"],
                        default="reference_net")
    args = parser.parse_args()

    step, model, x, y = minicnn_step(args.batch, model_name=args.model)
    sides = {"minicnn": step}
    if args.plain:
        plain_step = minicnn_step(args.batch, model_name=args.model)[0]

        def on_the_plain_route():
            with minicnn.plain():
                plain_step()
        sides["plain"] = on_the_plain_route
    torch = torch_or_none(args.threads)
    if torch is not None:
        sides["pytorch"] = torch_step(torch, model, x, y, args.model)
    times = alternate(sides, args.repeats)

    print(f"training step, {args.model.replace('_', ' ')}, batch {args.batch}, float32 ({machine()})")
    report(times, args.batch)


if __name__ == "__main__":
    main()
