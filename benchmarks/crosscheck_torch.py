"""The reference net in float64 on minicnn's two routes and in PyTorch: the loss and every
gradient, compared entry by entry. Not a timing: a cross-check that needs PyTorch, which
the test suite does not have (pip install -e ".[bench]").

    python benchmarks/crosscheck_torch.py [--batch 4] [--seed 0]

Prints, for the loss, the input's gradient and each parameter's, the largest difference
relative to the largest entry: plain route vs fast route, and plain route vs PyTorch.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, torch_reference_net  # noqa: E402

import minicnn  # noqa: E402
from minicnn import functional as F  # noqa: E402


def minicnn_grads(model, x, y, plain):
    model.zero_grad()
    with minicnn.plain(plain):
        xt = minicnn.Tensor(x, requires_grad=True)
        loss = F.cross_entropy(model(xt), y)
        loss.backward()
    return {"loss": loss.data, "input": xt.grad} | {n: p.grad for n, p in model.named_parameters()}


def torch_grads(torch, model, x, y):
    net = torch_reference_net(torch, model).double()
    xt = torch.from_numpy(x).requires_grad_()
    loss = torch.nn.functional.cross_entropy(net(xt), torch.from_numpy(y))
    loss.backward()
    grads = {"loss": loss.detach().numpy(), "input": xt.grad.numpy()}
    return grads | {n: p.grad.numpy() for n, p in net.named_parameters()}


def difference(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import torch
    torch.set_num_threads(2)

    rng = np.random.default_rng(args.seed)
    model = minicnn.models.pretrained().double()
    x = rng.standard_normal((args.batch, 3, 32, 32))
    y = rng.integers(0, 10, args.batch)
    plain = minicnn_grads(model, x, y, plain=True)
    fast = minicnn_grads(model, x, y, plain=False)
    theirs = torch_grads(torch, model, x, y)
    print(f"reference net, float64, batch {args.batch} ({machine()}, PyTorch {torch.__version__})")
    print(f"  {'':<14}{'plain vs fast':>15}{'plain vs PyTorch':>18}")
    worst = 0.0
    for name in plain:
        a, b = difference(plain[name], fast[name]), difference(plain[name], theirs[name])
        worst = max(worst, a, b)
        print(f"  {name:<14}{a:15.1e}{b:18.1e}")
    print(f"  largest: {worst:.1e} ({'within' if worst <= 1e-12 else 'NOT within'} 1e-12)")


if __name__ == "__main__":
    main()
