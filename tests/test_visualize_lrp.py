"""Layer-wise relevance propagation (minicnn.visualize.lrp and the ops' LRP rules), in float64.

Every rule is checked against its definition written out as sums over the contributions
z_ij (each layer as a dense matrix, each max-pool window by hand), on both routes; then the
properties the theory promises: conservation, the limit eps -> 0, and hand-computed toys.
"""
import re

import numpy as np
import pytest

from minicnn import nn
from minicnn.tensor import Tensor, no_grad
from minicnn.visualize import lrp, saliency

pytestmark = pytest.mark.usefixtures("route")     # every test on both routes

META = {"classes": [str(k) for k in range(10)], "mean": [0.5, 0.5], "std": [0.25, 0.25]}


def tiny_net(seed=0, bias=True, size=4):
    """conv (2 -> 3, 3x3, padding 1), relu, 2x2 max-pool, flatten, fc (12 -> 5), relu, fc (5 -> 10)."""
    rng = np.random.default_rng(seed)
    net = nn.Sequential({
        "conv1": nn.Conv2d(2, 3, 3, padding=1, bias=bias), "relu1": nn.ReLU(),
        "pool1": nn.MaxPool2d(2), "flatten": nn.Flatten(),
        "fc1": nn.Linear(3 * (size // 2) ** 2, 5, bias=bias), "relu2": nn.ReLU(),
        "fc2": nn.Linear(5, 10, bias=bias)}).double()
    for p in net.parameters():
        p.data = rng.standard_normal(p.shape) * 0.7
    net.meta = META
    return net


def images(N=3, seed=1, size=4):
    return np.random.default_rng(seed).standard_normal((N, 2, size, size))


# ---- the rules as sums over contributions ----------------------------------------------------
def dense(layer, shape):
    """The layer's weights as a matrix M (outputs, inputs) acting on one flattened input of
    `shape`: column i is the bias-free layer applied to the i-th basis image."""
    size = int(np.prod(shape))
    basis = np.eye(size).reshape((size,) + shape)
    bias, layer.bias = layer.bias, None
    with no_grad():
        M = layer(Tensor(basis)).data.reshape(size, -1).T
    layer.bias = bias
    return M


def rule_by_sums(rule, x, M, b, R, eps, gamma, lo=None, hi=None):
    """One image: x (D,), M (K, D), b (K,), R (K,) -> relevance (D,), straight from the
    definitions, with the contributions c[j, i] = x_i M_ji written out."""
    sign = lambda z: np.where(z >= 0, 1.0, -1.0)                  # sign(0) = 1
    if rule == "gamma":
        M = M + gamma * np.maximum(M, 0)
    c = x[None, :] * M                                             # (K, D)
    if rule in ("epsilon", "gamma"):
        z = c.sum(axis=1) + b
        return (c / (z + eps * sign(z))[:, None] * R[:, None]).sum(axis=0)
    if rule == "zbox":
        c = c - lo[None, :] * np.maximum(M, 0) - hi[None, :] * np.minimum(M, 0)
        z = c.sum(axis=1) + b
        return (c / (z + eps * sign(z))[:, None] * R[:, None]).sum(axis=0)
    alpha, beta = {"alpha1beta0": (1, 0), "alpha2beta1": (2, 1)}[rule]
    cp, cn = np.maximum(c, 0), np.minimum(c, 0)
    zp, zn = cp.sum(axis=1) + np.maximum(b, 0), cn.sum(axis=1) + np.minimum(b, 0)
    return (alpha * cp / (zp + eps * sign(zp))[:, None] * R[:, None]
            - beta * cn / (zn + eps * sign(zn))[:, None] * R[:, None]).sum(axis=0)


def pool_by_hand(a, R, eps):
    """2x2 max-pool of one image a (C, H, W): each window's R goes to its first maximum,
    times a / (a + eps sign a)."""
    out = np.zeros_like(a)
    for c, oy, ox in np.ndindex(R.shape):
        window = a[c, 2 * oy:2 * oy + 2, 2 * ox:2 * ox + 2]
        i, j = np.unravel_index(window.argmax(), (2, 2))
        top = window[i, j]
        out[c, 2 * oy + i, 2 * ox + j] += R[c, oy, ox] * top / (top + eps * (1 if top >= 0 else -1))
    return out


def lrp_by_sums(net, x, k, rules, eps, gamma, lo=None, hi=None):
    """The whole walk for one image x (C, H, W) and class k, layer by layer."""
    acts, a = [], x[None]
    with no_grad():
        for name in net.names:
            acts.append(a[0])
            a = net[name](Tensor(a)).data
    R = np.zeros(a.shape[1:])
    R[k] = a[0, k]                                                 # starts as the logit
    for name, a in zip(reversed(net.names), reversed(acts)):
        layer = net[name]
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            M = dense(layer, a.shape)
            b = np.zeros(len(M)) if layer.bias is None else np.repeat(layer.bias.data, len(M) // len(layer.bias.data))
            R = rule_by_sums(rules[name], a.ravel(), M, b, R.ravel(), eps, gamma,
                             None if lo is None else np.broadcast_to(lo, a.shape).ravel(),
                             None if hi is None else np.broadcast_to(hi, a.shape).ravel()).reshape(a.shape)
        elif isinstance(layer, nn.MaxPool2d):
            R = pool_by_hand(a, R.reshape(-1, a.shape[1] // 2, a.shape[2] // 2), eps)
        else:                                                      # relu: unchanged; flatten
            R = R.reshape(a.shape)
    return R


RULE_SETS = {
    "epsilon": {"conv1": "epsilon", "fc1": "epsilon", "fc2": "epsilon"},
    "gamma": {"conv1": "gamma", "fc1": "gamma", "fc2": "gamma"},
    "alpha1beta0": {"conv1": "alpha1beta0", "fc1": "alpha1beta0", "fc2": "alpha1beta0"},
    "alpha2beta1": {"conv1": "alpha2beta1", "fc1": "alpha2beta1", "fc2": "alpha2beta1"},
    "composite": {"conv1": "zbox", "fc1": "gamma", "fc2": "epsilon"},
}


@pytest.mark.parametrize("name", RULE_SETS)
def test_every_rule_is_its_definition(name):
    """Signed pixels, a conv with padding and bias, a max-pool, two linear layers: the
    relevance equals the rules' sums over contributions, for every image and class."""
    net, x, eps, gamma = tiny_net(), images(), 0.05, 0.3
    rules = RULE_SETS[name]
    ks = [0, 3, 7]
    R = lrp(net, x, ks, rule="epsilon", epsilon=eps, gamma=gamma, rules=rules, bounds=(-2, 2))
    assert R.shape == x.shape and R.dtype == np.float64
    for n, k in enumerate(ks):
        expected = lrp_by_sums(net, x[n], k, rules, eps, gamma, lo=-2.0, hi=2.0)
        np.testing.assert_allclose(R[n], expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())


def test_rule_applies_to_every_layer_and_zbox_to_the_first_only():
    net, x = tiny_net(), images()
    for rule in ("gamma", "alpha1beta0"):
        np.testing.assert_array_equal(lrp(net, x, 2, rule=rule),
                                      lrp(net, x, 2, rules=dict.fromkeys(["conv1", "fc1", "fc2"], rule)))
    np.testing.assert_array_equal(lrp(net, x, 2, rule="zbox"), lrp(net, x, 2, rules={"conv1": "zbox"}))


# ---- what the theory promises -----------------------------------------------------------------
@pytest.mark.parametrize("rule", ["epsilon", "gamma", "alpha1beta0", "zbox"])
def test_relevance_is_conserved_without_biases_as_eps_goes_to_0(rule):
    """sum_i R_i = sum_j R_j at every layer when z has no bias to absorb a share, so the
    pixels' relevance adds up to the logit (to ~eps)."""
    net, x = tiny_net(seed=3, bias=False), images(seed=4)
    ks = [1, 5, 9]
    with no_grad():
        logits = net(Tensor(x)).data[np.arange(3), ks]
    R = lrp(net, x, ks, rule=rule, epsilon=1e-12)
    np.testing.assert_allclose(R.sum(axis=(1, 2, 3)), logits, rtol=1e-9)


def test_with_biases_relevance_is_not_conserved():
    net, x = tiny_net(seed=3), images(seed=4)
    with no_grad():
        logits = net(Tensor(x)).data[:, 1]
    R = lrp(net, x, 1, epsilon=1e-12)
    assert np.abs(R.sum(axis=(1, 2, 3)) - logits).max() > 1e-3


def test_lrp_epsilon_tends_to_gradient_times_input_on_relu_nets():
    """For a ReLU net (biases included), R = x * W.T (R / z) reproduces the gradient
    layer by layer: at the top R / z = 1; below, R_j / z_j = g_j relu(z_j) / z_j = g_j [z_j > 0].
    The error is O(eps) and vanishes with it."""
    net, x = tiny_net(seed=5), images(seed=6)
    gx = x * saliency(net, x, 4)
    errors = [np.abs(lrp(net, x, 4, epsilon=eps) - gx).max() for eps in (1e-1, 1e-3, 1e-5)]
    assert errors[0] > errors[1] > errors[2], errors
    np.testing.assert_allclose(lrp(net, x, 4, epsilon=1e-13), gx, rtol=1e-8,
                               atol=1e-10 * np.abs(gx).max())


def toy():
    """innvestigate #273: one linear unit, w = (1, -1), b = -1, inputs (1, 1)."""
    net = nn.Sequential({"flatten": nn.Flatten(), "fc": nn.Linear(2, 1)}).double()
    net.fc.weight.data = np.array([[1.0, -1.0]])
    net.fc.bias.data = np.array([-1.0])
    return net, np.ones((1, 2, 1, 1))


def test_the_two_input_toy_of_innvestigate_273():
    """z = 1*1 + 1*(-1) - 1 = -1, so the relevance to share is R = -1. By hand:

    - alpha1beta0: the positive contributions are x1 w1 = 1 (and no positive bias), so
      z+ = 1 and input 1 gets 1/1 * R = -1, input 2 (contribution -1 < 0) gets 0: (-1, 0).
      innvestigate answers (-1e7, 0), and clamping only the weights (Captum) has
      z = 1 + 0 - 1 = 0 and divides by eps: -1e9.
    - alpha2beta1: z- = x2 w2 + b = -1 - 1 = -2 (the negative bias included), so input 1
      gets 2 * (1/1) * R = -2 and input 2 gets -1 * (-1/-2) * R = 0.5: (-2, 0.5).
    - epsilon: R_i = x_i w_i / z * R = x_i w_i: (1, -1), the bias keeps the other -1.
    - gamma (0.25): w' = (1.25, -1), z' = 1.25 - 1 - 1 = -0.75, R_i = x_i w'_i / z' * R:
      (1.25 / 0.75, -1 / 0.75) = (5/3, -4/3).
    - zbox with pixels in [0, 2]: contributions x_i w_i - lo w_i+ - hi w_i- are
      1 - 0 = 1 and -1 + 2 = 1, z = 1 + 1 - 1 = 1, so each gets 1/1 * R: (-1, -1).
    """
    net, x = toy()
    expected = {"alpha1beta0": [-1, 0], "alpha2beta1": [-2, 0.5], "epsilon": [1, -1],
                "gamma": [5 / 3, -4 / 3]}
    for rule, answer in expected.items():
        np.testing.assert_allclose(lrp(net, x, 0, rule=rule, epsilon=1e-12).ravel(), answer,
                                   rtol=1e-9, err_msg=rule)
    np.testing.assert_allclose(lrp(net, x, 0, rule="zbox", epsilon=1e-12, bounds=(0, 2)).ravel(),
                               [-1, -1], rtol=1e-9)


def test_an_all_zero_pooling_window_passes_nothing():
    """A window of zeros has z = 0: its switch gets R * 0 / (0 + eps) = 0."""
    net = nn.Sequential({"relu": nn.ReLU(), "pool": nn.MaxPool2d(2), "flatten": nn.Flatten(),
                         "fc": nn.Linear(2, 1, bias=False)}).double()
    net.fc.weight.data = np.array([[2.0, 3.0]])
    x = np.array([[[[-1.0, -2, 1, 4], [-3, -1, 2, 0.5]]]])          # (1, 1, 2, 4): windows of 0 and 4
    R = lrp(net, x, 0, epsilon=1e-3)
    expected = np.zeros_like(x)
    expected[0, 0, 0, 3] = 12 * 4 / (4 + 1e-3) * (12 / (12 + 1e-3))   # logit 3 * 4 = 12
    np.testing.assert_allclose(R, expected, rtol=1e-12)


def test_a_unit_target_starts_from_the_units_value():
    net, x = tiny_net(seed=7, bias=False), images(seed=8)
    with no_grad():
        fc1 = net.upto("fc1")(Tensor(x)).data                          # (N, 5)
    R = lrp(net, x, ("fc1", 2), epsilon=1e-12)
    np.testing.assert_allclose(R.sum(axis=(1, 2, 3)), fc1[:, 2], rtol=1e-9)


def test_a_float32_net_gives_float32_relevance_close_to_float64():
    net64, x = tiny_net(seed=9), images(seed=10)
    net32 = tiny_net(seed=9).float()
    net32.meta = META
    R32 = lrp(net32, x.astype(np.float32), 3, rule="gamma")
    assert R32.dtype == np.float32
    R64 = lrp(net64, x, 3, rule="gamma")
    np.testing.assert_allclose(R32, R64, atol=1e-4 * np.abs(R64).max())


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(rule="beta"), ValueError, "unknown rule 'beta'"),
    (dict(rules={"conv9": "gamma"}), ValueError, "unknown layer 'conv9'"),
    (dict(rules={"relu1": "gamma"}), ValueError, "'relu1', a ReLU"),
    (dict(rules={"fc1": "zbox"}), ValueError, "not of 'fc1'"),
    (dict(rules={"fc1": "z+"}), ValueError, "unknown rules['fc1'] 'z+'"),
    (dict(rules=["conv1"]), TypeError, "rules must be a dict"),
    (dict(epsilon=-1e-3), ValueError, "epsilon must be >= 0, got -0.001"),
    (dict(gamma=-1), ValueError, "gamma must be >= 0, got -1"),
    (dict(rule="zbox", bounds=(0, 1, 2)), ValueError, "bounds must be a pair"),
    (dict(rule="zbox", bounds=(np.zeros(3), 1)), ValueError, "do not fit"),
])
def test_bad_options_fail_with_a_clear_message(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        lrp(tiny_net(), images(), 0, **kwargs)


def test_a_layer_without_rules_is_refused():
    class Square(nn.Module):
        def forward(self, x):
            return x * x
    net = nn.Sequential({"sq": Square(), "flatten": nn.Flatten(), "fc": nn.Linear(2, 1)}).double()
    with pytest.raises(TypeError, match="'sq' is a Square"):
        lrp(net, np.ones((1, 2, 1, 1)), 0)
