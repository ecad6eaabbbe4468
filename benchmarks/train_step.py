"""Training-step throughput of the reference net: forward, backward and an SGD
step on a batch of random CIFAR-sized images, in images per second.

    python benchmarks/train_step.py [--batch 128] [--repeats 20] [--threads 2]

With PyTorch installed (pip install -e ".[bench]") the same step runs in
PyTorch too, alternating with minicnn, and the ratio is printed.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import alternate, machine, spread, torch_or_none  # noqa: E402

import minicnn  # noqa: E402
from minicnn import functional as F  # noqa: E402


def minicnn_step(batch, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    minicnn.manual_seed(seed)
    model = minicnn.models.reference_net()
    opt = minicnn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(minicnn.Tensor(x)), y)
        loss.backward()
        opt.step()
    return step, model, x, y


def torch_step(torch, model, x, y):
    """The same net in PyTorch, loaded with the same weights (same names, same layouts)."""
    nn = torch.nn
    net = nn.Sequential()
    for name, layer in [
        ("conv1", nn.Conv2d(3, 32, 3, padding=1)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(32, 32, 3, padding=1)), ("relu2", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv3", nn.Conv2d(32, 64, 3, padding=1)), ("relu3", nn.ReLU()),
        ("conv4", nn.Conv2d(64, 64, 3, padding=1)), ("relu4", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()), ("fc1", nn.Linear(4096, 256)), ("relu5", nn.ReLU()),
        ("fc2", nn.Linear(256, 10)),
    ]:
        net.add_module(name, layer)
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
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
    args = parser.parse_args()

    step, model, x, y = minicnn_step(args.batch)
    sides = {"minicnn": step}
    torch = torch_or_none(args.threads)
    if torch is not None:
        sides["pytorch"] = torch_step(torch, model, x, y)
    times = alternate(sides, args.repeats)

    print(f"training step, reference net, batch {args.batch}, float32 ({machine()})")
    for name, t in times.items():
        print(f"  {name:<8} {spread(t)}   {args.batch / np.median(t):7.0f} images/s")
    if torch is None:
        print("  pytorch  not installed (pip install -e '.[bench]' to compare)")
    else:
        ratio = np.median(times["pytorch"]) / np.median(times["minicnn"])
        print(f"  ratio    {ratio:.2f}x PyTorch's throughput (>1 means minicnn is faster)")


if __name__ == "__main__":
    main()
