"""The weights shipped inside the package: they load offline, say how they were made,
and (with the data at hand) really reach the accuracy their metadata claims."""
import os

import numpy as np
import pytest

from minicnn.data import CLASSES, load_cifar10
from minicnn.models import pretrained
from minicnn.train import evaluate

SHIPPED = {"mlp": 0.50, "reference_net": 0.83,          # name -> the accuracy the issue asks for
           "residual_net": 0.88, "vgg_bn_net": 0.89}   # (issue 20 asks 0.93: not reached yet)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_loads_with_its_metadata(name):
    model = pretrained(name)
    meta = model.meta
    assert meta["architecture"] == name and meta["classes"] == list(CLASSES)
    assert len(meta["mean"]) == 3 and len(meta["std"]) == 3
    assert meta["command"].startswith("minicnn train") and f"--model {name}" in meta["command"]
    assert meta["test_accuracy"] >= SHIPPED[name]
    assert all(p.dtype == np.float32 for p in model.parameters())


@pytest.mark.skipif(not os.environ.get("MINICNN_DATA"), reason="needs MINICNN_DATA (CI sets it)")
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_reaches_its_accuracy_on_the_test_split(name):
    model = pretrained(name)
    data = load_cifar10(progress=False)
    accuracy, _ = evaluate(model, data.test_x, data.test_y,
                           np.float32(model.meta["mean"]), np.float32(model.meta["std"]))
    assert accuracy >= SHIPPED[name]
    # the accuracy training measured; weights shipped as float16 (minicnn convert --half)
    # may flip a few of the 10,000 predictions
    tolerance = 1e-3 if model.meta.get("stored_as") == "float16" else 1e-9
    assert abs(accuracy - model.meta["test_accuracy"]) <= tolerance
