"""Shared test set-up.

- `route`: runs a test on both routes, fast and plain (minicnn/route.py). A module that
  wants all its tests on both says `pytestmark = pytest.mark.usefixtures("route")`.
  Module-scoped, so that hypothesis tests can use it too.
- `tiny_folder`: a CIFAR-like image folder of 10 learnable classes, for trainer tests.
- After every test, the switches must be back to their defaults. (A hook rather than an
  autouse fixture, so that it also covers hypothesis tests.)
"""
import numpy as np
import pytest
from PIL import Image

import minicnn
from minicnn.data import CLASSES
from minicnn.tensor import is_grad_enabled


@pytest.fixture(scope="module", params=["fast", "plain"])
def route(request):
    with minicnn.plain(request.param == "plain"):
        yield request.param


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """An image folder of 10 classes; class k is a noisy image of a colour that depends on k,
    so the task is learnable in a few steps."""
    root = tmp_path_factory.mktemp("tiny") / "cifar"
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, size=(10, 3))
    for split, per_class in (("train", 16), ("test", 4)):
        for k, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = palette[k] + rng.normal(0, 25, size=(32, 32, 3))
                Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"{i}.png")
    return root


def pytest_runtest_teardown(item):
    assert minicnn.current_backward_rule() == "normal", f"{item.name} left a backward rule set"
    assert is_grad_enabled(), f"{item.name} left no_grad on"
