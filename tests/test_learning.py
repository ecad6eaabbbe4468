"""End to end: a small conv net learns a separable synthetic task, deterministically.

The task: an 8x8 noisy image holds one bright 2x2 square; is it in the left or the right half?
"""
import numpy as np

import minicnn
import minicnn.functional as F
from minicnn import nn, optim
from minicnn.tensor import Tensor, no_grad


def squares(n, seed):
    """n images (n, 1, 8, 8) float32 and labels (n,): 0 = square in columns 0-3, 1 = in 4-7."""
    rng = np.random.default_rng(seed)
    x = 0.1 * rng.standard_normal((n, 1, 8, 8))
    labels = rng.integers(0, 2, size=n)
    for k in range(n):
        top, left = rng.integers(0, 7), rng.integers(0, 3) + 4 * labels[k]
        x[k, 0, top:top + 2, left:left + 2] += 1.0
    return x.astype(np.float32), labels


def test_small_conv_net_learns_left_versus_right():
    minicnn.manual_seed(0)
    net = nn.Sequential({
        "conv1": nn.Conv2d(1, 4, 3, padding=1),      # (N, 4, 8, 8)
        "relu1": nn.ReLU(),
        "pool1": nn.MaxPool2d(2),                    # (N, 4, 4, 4)
        "flatten": nn.Flatten(),                     # (N, 64)
        "fc1": nn.Linear(64, 2),
    })
    x, labels = squares(128, seed=0)
    opt = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(1)

    def accuracy():
        with no_grad():
            return np.mean(net(Tensor(x)).data.argmax(axis=1) == labels)

    assert accuracy() < 0.8                          # it has something to learn
    losses = []
    for step in range(100):
        batch = rng.choice(128, size=32, replace=False)
        loss = F.cross_entropy(net(Tensor(x[batch])), labels[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert accuracy() >= 0.95
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
