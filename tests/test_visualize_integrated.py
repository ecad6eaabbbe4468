"""Integrated Gradients and gradient x input, in float64 on small nets."""
import numpy as np
import pytest

from minicnn import nn
from minicnn.tensor import Tensor, no_grad
from minicnn.visualize import (
    input_x_gradient,
    integrated_gradients,
    lrp,
    make_baseline,
    saliency,
)
from minicnn.visualize.class_model import gaussian_blur
from minicnn.visualize.integrated import METHODS, path_points
from test_visualize_lrp import images, tiny_net

pytestmark = pytest.mark.usefixtures("route")     # every test on both routes


def logits(net, x, k):
    with no_grad():
        return net(Tensor(x)).data[:, k]


@pytest.mark.parametrize("method", METHODS)
def test_path_weights_integrate_polynomials(method):
    """sum_k w_k p(alpha_k) = integral_0^1 p: exactly for what each rule integrates exactly
    (Gauss-Legendre with n points: degree 2n - 1; midpoint and trapezoid: degree 1), and
    to O(1/n) (left and right sums) or better for the others."""
    alphas, weights = path_points(6, method)
    assert alphas.shape == weights.shape == (6,) and abs(weights.sum() - 1) < 1e-14
    assert ((0 <= alphas) & (alphas <= 1)).all()
    exact_degree = {"gausslegendre": 11, "riemann_middle": 1, "riemann_trapezoid": 1}
    for degree in range(exact_degree.get(method, 0) + 1):
        assert abs((weights * alphas ** degree).sum() - 1 / (degree + 1)) < 1e-13, degree
    if method in ("riemann_left", "riemann_right"):
        assert abs((weights * alphas).sum() - 0.5) == pytest.approx(1 / 12)


@pytest.mark.parametrize("method", METHODS)
def test_the_completeness_error_shrinks_as_the_steps_grow(method):
    """sum(IG) -> f(x) - f(baseline): the ReLU net is piecewise linear along the path, so
    every rule converges; the error at 512 steps is a small fraction of that at 4."""
    net, x = tiny_net(seed=2), images(seed=3)
    errors = []
    for steps in (4, 32, 512):
        attributions, delta = integrated_gradients(net, x, 3, steps=steps, method=method,
                                                   return_delta=True)
        np.testing.assert_allclose(delta, attributions.sum(axis=(1, 2, 3))
                                   - (logits(net, x, 3) - logits(net, 0 * x, 3)), atol=1e-12)
        errors.append(np.abs(delta).max())
    assert errors[2] < errors[1] * 1.1 and errors[1] < errors[0] * 1.1, errors
    assert errors[2] < errors[0] / 10, errors


def test_ig_of_a_linear_model_is_exact_for_any_steps():
    """A linear score has a constant gradient w: IG = (x - x') * w whatever the path rule."""
    rng = np.random.default_rng(0)
    net = nn.Sequential({"flatten": nn.Flatten(), "fc": nn.Linear(2 * 3 * 3, 4)}).double()
    net.fc.weight.data = rng.standard_normal((4, 18))
    x, base = rng.standard_normal((2, 2, 3, 3)), rng.standard_normal((2, 3, 3))
    for method in METHODS:
        attributions, delta = integrated_gradients(net, x, 1, baseline=base, steps=2,
                                                   method=method, return_delta=True)
        np.testing.assert_allclose(attributions, (x - base) * net.fc.weight.data[1].reshape(2, 3, 3),
                                   rtol=1e-12)
        np.testing.assert_allclose(delta, 0, atol=1e-12)


def test_one_right_riemann_step_from_zero_is_gradient_x_input_and_lrp_epsilon():
    net, x = tiny_net(seed=4), images(seed=5)
    gx = input_x_gradient(net, x, [1, 2, 3])
    np.testing.assert_array_equal(gx, x * saliency(net, x, [1, 2, 3]))
    np.testing.assert_allclose(integrated_gradients(net, x, [1, 2, 3], steps=1, method="riemann_right"),
                               gx, rtol=1e-12)
    np.testing.assert_allclose(lrp(net, x, [1, 2, 3], epsilon=1e-13), gx, rtol=1e-7,
                               atol=1e-10 * np.abs(gx).max())


def test_the_batch_size_changes_nothing():
    net, x = tiny_net(seed=6), images(seed=7)
    a = integrated_gradients(net, x, 5, steps=7, batch_size=1000)
    for batch_size in (1, 4, 5):
        np.testing.assert_allclose(integrated_gradients(net, x, 5, steps=7, batch_size=batch_size),
                                   a, rtol=1e-12)


def test_baselines():
    net, x = tiny_net(seed=8), images(seed=9)
    lo, hi = (0 - 0.5) / 0.25, (1 - 0.5) / 0.25                 # META: mean 0.5, std 0.25
    np.testing.assert_array_equal(make_baseline(net, x), 0 * x)
    np.testing.assert_array_equal(make_baseline(net, x, "zeros"), 0 * x)
    np.testing.assert_allclose(make_baseline(net, x, "black"), np.full_like(x, lo))
    np.testing.assert_allclose(make_baseline(net, x, "blur", sigma=1.5), gaussian_blur(x, 1.5))
    noise = make_baseline(net, x, "uniform", seed=3)
    assert noise.shape == x.shape and lo <= noise.min() and noise.max() <= hi
    assert noise.std() > 0.5 and (noise == make_baseline(net, x, "uniform", seed=3)).all()
    np.testing.assert_array_equal(make_baseline(net, x, x[0]), np.broadcast_to(x[0], x.shape))
    np.testing.assert_array_equal(make_baseline(net, x, 0.25), np.full_like(x, 0.25))
    # the image itself as baseline: nothing to attribute
    np.testing.assert_array_equal(integrated_gradients(net, x, 0, baseline=x, steps=3), 0 * x)
    # every kind of baseline keeps completeness
    for baseline in ("black", "blur", "uniform"):
        _, delta = integrated_gradients(net, x, 0, baseline=baseline, steps=300,
                                        method="riemann_middle", return_delta=True)
        assert np.abs(delta).max() < 0.05, (baseline, delta)


def test_a_float32_net_gives_float32():
    net = tiny_net(seed=1).float()
    net.meta = tiny_net().meta
    x = images().astype(np.float32)
    assert integrated_gradients(net, x, 2, steps=4).dtype == np.float32
    assert input_x_gradient(net, x, 2).dtype == np.float32


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(steps=0), ValueError, "steps must be >= 1, got 0"),
    (dict(steps=2.5), TypeError, "steps must be an integer, got 2.5"),
    (dict(steps=1, method="riemann_trapezoid"), ValueError, "riemann_trapezoid needs steps >= 2"),
    (dict(method="simpson"), ValueError, "unknown method 'simpson'"),
    (dict(baseline="grey"), ValueError, "unknown baseline 'grey'"),
    (dict(baseline=np.zeros((3, 4, 4))), ValueError, "a baseline of shape (3, 4, 4) does not fit"),
    (dict(baseline=np.zeros((2, 2, 4, 4))), ValueError, "a baseline of shape (2, 2, 4, 4)"),
    (dict(batch_size=0), ValueError, "batch_size must be an integer >= 1, got 0"),
])
def test_bad_options_fail_with_a_clear_message(kwargs, error, message):
    import re
    with pytest.raises(error, match=re.escape(message)):
        integrated_gradients(tiny_net(), images(), 0, **kwargs)
