"""The three ReLU backward rules, checked against their definitions through real graphs.

    normal: dx = dout * [x > 0]
    deconv: dx = max(dout, 0)              (Zeiler & Fergus 2014)
    guided: dx = max(dout, 0) * [x > 0]    (Springenberg et al. 2015)

Everything else (conv, linear, max-pool switches) backpropagates the same under all three.
"""
import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn import nn
from minicnn.tensor import Tensor

pytestmark = pytest.mark.usefixtures("route")     # every test on both routes

RULES = ("normal", "guided", "deconv")


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def relu_input_grad(x, dout, rule):
    """The gradient reaching a leaf x through one relu, under `rule`."""
    x = Tensor(x, requires_grad=True)
    with minicnn.backward_rule(rule):
        F.relu(x).backward(dout)
    return x.grad


def test_worked_example_from_the_docstring():
    x, dout = np.array([1.0, 1, -1, -1]), np.array([2.0, -1, 3, -4])
    np.testing.assert_array_equal(relu_input_grad(x, dout, "normal"), [2, -1, 0, 0])
    np.testing.assert_array_equal(relu_input_grad(x, dout, "deconv"), [2, 0, 3, 0])
    np.testing.assert_array_equal(relu_input_grad(x, dout, "guided"), [2, 0, 0, 0])


def test_guided_is_normal_masked_by_positive_signal_at_a_relu():
    x, dout = randn(4, 6, seed=1), randn(4, 6, seed=2)
    normal = relu_input_grad(x, dout, "normal")
    np.testing.assert_array_equal(normal, dout * (x > 0))
    np.testing.assert_array_equal(relu_input_grad(x, dout, "guided"), normal * (dout > 0))


def linear_relu_grads(z, w, b, dout, rule):
    """Input gradient and pre-activation gradient of relu(linear(z)), under `rule`."""
    z = Tensor(z, requires_grad=True)
    pre = F.linear(z, Tensor(w), Tensor(b)).retain_grad()
    with minicnn.backward_rule(rule):
        F.relu(pre).backward(dout)
    return z.grad, pre.grad


def test_guided_after_a_linear_layer():
    """The rule matters only at the relu: guided with dout == normal with dout's positive part."""
    z, w, b, dout = randn(3, 5, seed=1), randn(4, 5, seed=2), randn(4, seed=3), randn(3, 4, seed=4)
    dz_guided, dpre_guided = linear_relu_grads(z, w, b, dout, "guided")
    dz_normal, dpre_normal = linear_relu_grads(z, w, b, dout, "normal")
    dz_normal_positive, _ = linear_relu_grads(z, w, b, np.maximum(dout, 0), "normal")
    np.testing.assert_array_equal(dpre_guided, dpre_normal * (dout > 0))
    np.testing.assert_allclose(dz_guided, dz_normal_positive, rtol=1e-12, atol=1e-12)
    assert not np.allclose(dz_guided, dz_normal)          # the rule did change something


def test_deconv_ignores_the_sign_of_the_forward_input():
    x, dout = randn(3, 7, seed=1), randn(3, 7, seed=2)
    deconv = relu_input_grad(x, dout, "deconv")
    np.testing.assert_array_equal(deconv, relu_input_grad(-x, dout, "deconv"))
    np.testing.assert_array_equal(deconv, np.maximum(dout, 0))
    # and through a linear layer: flipping the sign of the pre-activations changes nothing below the relu
    z, w, b, dout = randn(3, 5, seed=3), randn(4, 5, seed=4), randn(4, seed=5), randn(3, 4, seed=6)
    _, dpre = linear_relu_grads(z, w, b, dout, "deconv")
    _, dpre_flipped = linear_relu_grads(z, -w, -b, dout, "deconv")
    np.testing.assert_array_equal(dpre, dpre_flipped)


def small_net(positive=False, seed=0):
    """conv-relu-pool-conv-relu-flatten-linear-relu-linear on (N, 2, 6, 6) images."""
    minicnn.manual_seed(seed)
    net = nn.Sequential({
        "conv1": nn.Conv2d(2, 4, 3, padding=1),      # (N, 4, 6, 6)
        "relu1": nn.ReLU(),
        "pool1": nn.MaxPool2d(2),                    # (N, 4, 3, 3)
        "conv2": nn.Conv2d(4, 3, 2),                 # (N, 3, 2, 2)
        "relu2": nn.ReLU(),
        "flatten": nn.Flatten(),                     # (N, 12)
        "fc1": nn.Linear(12, 6),
        "relu3": nn.ReLU(),
        "fc2": nn.Linear(6, 3),
    }).double()
    rng = np.random.default_rng(seed)
    for p in net.parameters():
        p.data = rng.standard_normal(p.shape)
        if positive:
            p.data = np.abs(p.data) + 0.01
    return net


BELOW_RELUS = ("conv1", "conv2", "fc1")             # the layers whose outputs feed a ReLU


def gradients(net, x, dout, rule):
    """Gradients of sum(dout * net(x)) below every relu, at the input and at every parameter."""
    net.zero_grad()
    x = Tensor(x, requires_grad=True)
    acts = net.activations(x)
    with minicnn.backward_rule(rule):
        acts[net.names[-1]].backward(dout)
    grads = {name: acts[name].grad for name in BELOW_RELUS}
    grads.update({name: p.grad for name, p in net.named_parameters()})
    grads["input"] = x.grad
    return grads


@pytest.mark.parametrize("rule", ["guided", "deconv"])
def test_signal_below_every_relu_is_non_negative(rule):
    net, x, dout = small_net(seed=1), randn(2, 2, 6, 6, seed=2), randn(2, 3, seed=3)
    for name, g in gradients(net, x, dout, rule).items():
        if name in BELOW_RELUS:
            assert (g >= 0).all() and (g > 0).any(), name
    normal = gradients(net, x, dout, "normal")
    assert any((normal[name] < 0).any() for name in BELOW_RELUS)    # the test can tell them apart


def test_rules_coincide_with_positive_activations_and_positive_signal():
    net, x = small_net(positive=True, seed=1), np.abs(randn(2, 2, 6, 6, seed=2)) + 0.01
    dout = np.abs(randn(2, 3, seed=3)) + 0.01
    normal = gradients(net, x, dout, "normal")
    for rule in ("guided", "deconv"):
        other = gradients(net, x, dout, rule)
        for name in normal:
            np.testing.assert_array_equal(other[name], normal[name], err_msg=f"{rule}: {name}")


def test_a_net_without_relus_backpropagates_the_same_under_every_rule():
    """Conv, linear and max-pool switches keep their true backward under all three rules."""
    minicnn.manual_seed(0)
    net = nn.Sequential({
        "conv1": nn.Conv2d(2, 3, 3, padding=1),
        "pool1": nn.MaxPool2d(2),
        "conv2": nn.Conv2d(3, 2, 2, stride=1),
        "flatten": nn.Flatten(),
        "fc1": nn.Linear(8, 4),
    }).double()
    x, dout = randn(2, 2, 6, 6, seed=1), randn(2, 4, seed=2)
    results = []
    for rule in RULES:
        net.zero_grad()
        xt = Tensor(x, requires_grad=True)
        with minicnn.backward_rule(rule):
            net(xt).backward(dout)
        results.append([xt.grad] + [p.grad for p in net.parameters()])
    assert (results[0][0] < 0).any()                  # signed signal did reach the input
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_the_rule_is_read_when_backward_runs():
    """One forward pass, explained three ways."""
    x = Tensor(randn(3, 4), requires_grad=True)
    out = F.relu(x)
    dout = randn(3, 4, seed=1)
    for rule, expected in [("guided", np.maximum(dout, 0) * (x.data > 0)),
                           ("deconv", np.maximum(dout, 0)), ("normal", dout * (x.data > 0))]:
        x.grad = None
        with minicnn.backward_rule(rule):
            out.backward(dout)
        np.testing.assert_array_equal(x.grad, expected)


# ---- the context manager --------------------------------------------------------------------
def test_backward_rule_restores_after_normal_exit():
    assert minicnn.current_backward_rule() == "normal"
    with minicnn.backward_rule("guided"):
        assert minicnn.current_backward_rule() == "guided"
    assert minicnn.current_backward_rule() == "normal"


def test_backward_rule_restores_after_an_exception():
    with pytest.raises(KeyError):
        with minicnn.backward_rule("deconv"):
            raise KeyError("boom")
    assert minicnn.current_backward_rule() == "normal"
    with minicnn.backward_rule("guided"):
        with pytest.raises(KeyError):
            with minicnn.backward_rule("deconv"):
                raise KeyError("boom")
        assert minicnn.current_backward_rule() == "guided"     # the previous rule, not the default


def test_backward_rules_nest():
    with minicnn.backward_rule("guided"):
        with minicnn.backward_rule("deconv"):
            assert minicnn.current_backward_rule() == "deconv"
            with minicnn.backward_rule("normal"):
                assert minicnn.current_backward_rule() == "normal"
            assert minicnn.current_backward_rule() == "deconv"
        assert minicnn.current_backward_rule() == "guided"
    assert minicnn.current_backward_rule() == "normal"


def test_unknown_rule_is_a_value_error_naming_the_choices():
    with pytest.raises(ValueError, match=r"backward_rule: unknown rule 'gided'") as info:
        with minicnn.backward_rule("gided"):
            pass
    assert all(rule in str(info.value) for rule in RULES)
    assert minicnn.current_backward_rule() == "normal"
