"""Gradient maps against gradients derived by hand, in float64.

The net is flatten -> fc1 -> relu1 -> fc2, so for class k (h = W1 x + b1):

    d z_k / d a = W2[k]                     (the signal arriving at the ReLU from above)
    normal:  dh = W2[k] * (h > 0)           guided: dh = max(W2[k], 0) * (h > 0)
    deconv:  dh = max(W2[k], 0)             and in every case dx = W1^T dh
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn import nn
from minicnn.data import CLASSES
from minicnn.models import reference_net
from minicnn.tensor import Tensor, no_grad
from minicnn.visualize import (
    deconvnet,
    gradient,
    guided_backprop,
    saliency,
    smoothgrad,
)

SHAPE = (3, 2, 2)
D = 12


def linear_relu_linear(seed, hidden=6, classes=10):
    rng = np.random.default_rng(seed)
    net = nn.Sequential({"flatten": nn.Flatten(), "fc1": nn.Linear(D, hidden),
                         "relu1": nn.ReLU(), "fc2": nn.Linear(hidden, classes)})
    net.double()
    for layer in (net.fc1, net.fc2):
        layer.weight.data = rng.standard_normal(layer.weight.shape)
        layer.bias.data = rng.standard_normal(layer.bias.shape)
    net.meta = {"classes": list(CLASSES), "mean": [0.0] * 3, "std": [1.0] * 3}
    return net


def by_hand(net, x, k, rule, probability=False):
    W1, b1 = net.fc1.weight.data, net.fc1.bias.data
    W2, b2 = net.fc2.weight.data, net.fc2.bias.data
    out = []
    for image, cls in zip(x, k):
        v = image.reshape(-1)
        h = W1 @ v + b1
        dz = np.eye(len(b2))[cls]
        if probability:                       # d p_k / d z = p_k (e_k - p)
            z = W2 @ np.maximum(h, 0) + b2
            p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
            dz = p[cls] * (dz - p)
        da = W2.T @ dz
        dh = {"normal": da * (h > 0), "guided": np.maximum(da, 0) * (h > 0),
              "deconv": np.maximum(da, 0)}[rule]
        out.append((W1.T @ dh).reshape(SHAPE))
    return np.array(out)


@settings(deadline=None, max_examples=30)
@given(st.integers(0, 10_000), st.integers(1, 4), st.data())
def test_three_maps_match_the_hand_derivation(seed, N, data):
    net = linear_relu_linear(seed)
    x = np.random.default_rng(seed + 1).standard_normal((N,) + SHAPE)
    k = data.draw(st.lists(st.integers(0, 9), min_size=N, max_size=N))
    for function, rule in ((saliency, "normal"), (guided_backprop, "guided"), (deconvnet, "deconv")):
        got = function(net, x, k)
        assert got.dtype == np.float64 and got.shape == x.shape
        np.testing.assert_allclose(got, by_hand(net, x, k, rule), rtol=1e-12, atol=1e-12)


def test_probability_objective_matches_the_hand_derivation():
    net = linear_relu_linear(3)
    x = np.random.default_rng(4).standard_normal((3,) + SHAPE)
    got = saliency(net, x, ["cat", 0, np.int64(9)], objective="probability")
    np.testing.assert_allclose(got, by_hand(net, x, [3, 0, 9], "normal", probability=True),
                               rtol=1e-10, atol=1e-14)


def test_class_name_and_index_give_the_same_map():
    net = linear_relu_linear(5)
    x = np.random.default_rng(6).standard_normal((2,) + SHAPE)
    np.testing.assert_array_equal(guided_backprop(net, x, "dog"), guided_backprop(net, x, 5))


def test_unit_targets():
    net = linear_relu_linear(7)
    x = np.random.default_rng(8).standard_normal((2,) + SHAPE)
    W1, b1 = net.fc1.weight.data, net.fc1.bias.data
    # fc1 unit 2 is linear in x: its gradient is W1[2] for every image
    np.testing.assert_allclose(saliency(net, x, ("fc1", 2)),
                               np.broadcast_to(W1[2].reshape(SHAPE), x.shape))
    # after the ReLU it is W1[2] where the unit is on, 0 where it is off
    on = (x.reshape(2, -1) @ W1[2] + b1[2]) > 0
    np.testing.assert_allclose(saliency(net, x, ("relu1", 2)),
                               W1[2].reshape(SHAPE) * on[:, None, None, None])


def test_a_list_of_units_of_one_layer_gives_each_image_its_own_unit():
    """[("fc1", 2), ("fc1", 4)]: image 0 is explained by unit 2, image 1 by unit 4 (the tour's
    conv4 gallery ascends one channel per image this way)."""
    net = linear_relu_linear(7)
    x = np.random.default_rng(9).standard_normal((2,) + SHAPE)
    W1 = net.fc1.weight.data
    got = saliency(net, x, [("fc1", 2), ("fc1", 4)])
    np.testing.assert_allclose(got[0], W1[2].reshape(SHAPE))
    np.testing.assert_allclose(got[1], W1[4].reshape(SHAPE))
    with pytest.raises(ValueError, match="one unit of one layer per image"):
        saliency(net, x, [("fc1", 2), ("fc2", 4)])
    with pytest.raises(ValueError, match="one unit of one layer per image"):
        saliency(net, x, [("fc1", 2)])


def test_conv_net_saliency_matches_central_differences():
    net = reference_net().double()
    rng = np.random.default_rng(0)
    for p in net.parameters():
        p.data = p.data + 0.01 * rng.standard_normal(p.shape)   # nonzero biases, no ties
    x = rng.standard_normal((1, 3, 32, 32))
    g = saliency(net, x, 3)
    assert g.dtype == np.float64
    eps = 1e-6
    for c, i, j in [(0, 5, 7), (1, 16, 16), (2, 30, 2), (0, 0, 31)]:
        xp, xm = x.copy(), x.copy()
        xp[0, c, i, j] += eps
        xm[0, c, i, j] -= eps
        with no_grad():
            numeric = (net(Tensor(xp)).data[0, 3] - net(Tensor(xm)).data[0, 3]) / (2 * eps)
        assert abs(numeric - g[0, c, i, j]) < 1e-6 * max(1, abs(numeric))


def test_maps_leave_the_models_parameter_gradients_alone():
    net = linear_relu_linear(9)
    net.fc1.weight.grad = marker = np.ones_like(net.fc1.weight.data)
    saliency(net, np.zeros((1,) + SHAPE), 0)
    assert net.fc1.weight.grad is marker and all(p.requires_grad for p in net.parameters())


def test_smoothgrad_without_noise_is_the_plain_map():
    net = linear_relu_linear(10)
    x = np.random.default_rng(11).standard_normal((3,) + SHAPE)
    for method, plain in (("saliency", saliency), ("guided", guided_backprop),
                          ("deconv", deconvnet)):
        np.testing.assert_allclose(smoothgrad(net, x, [1, 2, 3], method=method, n=5, noise=0.0),
                                   plain(net, x, [1, 2, 3]), rtol=1e-12, atol=1e-15)


def test_smoothgrad_of_a_linear_net_is_its_constant_gradient():
    net = nn.Sequential({"flatten": nn.Flatten(), "fc": nn.Linear(D, 4)}).double()
    net.meta = {"classes": list("abcd")}
    x = np.random.default_rng(12).standard_normal((2,) + SHAPE)
    expected = np.broadcast_to(net.fc.weight.data[1].reshape(SHAPE), x.shape)
    np.testing.assert_allclose(smoothgrad(net, x, "b", n=4, noise=0.5), expected, rtol=1e-12)


def test_smoothgrad_does_not_depend_on_the_batch_size():
    net = linear_relu_linear(13)
    x = np.random.default_rng(14).standard_normal((3,) + SHAPE)
    a = smoothgrad(net, x, 4, n=7, noise=0.3, seed=1, batch_size=5)
    b = smoothgrad(net, x, 4, n=7, noise=0.3, seed=1, batch_size=64)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert not np.allclose(a, saliency(net, x, 4))       # the noise does change a ReLU net's map


def test_float32_net_gives_float32_maps():
    net = linear_relu_linear(15).float()
    x = np.random.default_rng(16).standard_normal((2,) + SHAPE).astype(np.float32)
    assert guided_backprop(net, x, 0).dtype == np.float32


@pytest.mark.parametrize("target, message", [
    ("kitten", r"'kitten' is not a class; classes are: airplane, automobile"),
    (10, r"class index 10 is outside 0..9"),
    (("conv9", 1), r"unknown layer 'conv9'"),
    (("fc1", 6), r"channel 6 is outside layer 'fc1', whose output per image has shape \(6,\)"),
    ([1, 2, 3], r"got 3 targets for 2 images"),
])
def test_bad_targets(target, message):
    net = linear_relu_linear(17)
    with pytest.raises(ValueError, match=message):
        gradient(net, np.zeros((2,) + SHAPE), target)
