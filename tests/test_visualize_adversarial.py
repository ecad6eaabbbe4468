"""FGSM and PGD: in pixel units, inside the ball, on valid pixels; and they fool the shipped net."""
import os

import numpy as np
import pytest

from minicnn.models import pretrained
from minicnn.visualize import input_stats, to_input
from minicnn.visualize.adversarial import fgsm, loss_gradient, pgd, success_rate
from test_visualize_lrp import images, tiny_net


def pixels(x, mean=0.5, std=0.25):
    return x * std + mean


def test_fgsm_is_one_signed_step_of_eps_pixels_clipped_to_valid_pixels():
    net = tiny_net(seed=1)
    x = (np.random.default_rng(2).uniform(0, 1, (3, 2, 4, 4)) - 0.5) / 0.25   # valid pixels
    y = np.array([1, 2, 3])
    eps = 4 / 255
    adv = fgsm(net, x, y, eps)
    change = pixels(adv) - pixels(x)
    assert np.abs(change).max() <= eps + 1e-12
    g = loss_gradient(net, x, y)
    inside = (pixels(x) > eps) & (pixels(x) < 1 - eps) & (g != 0)     # not clipped, not dead
    assert inside.mean() > 0.5
    np.testing.assert_allclose(np.abs(change[inside]), eps, rtol=1e-9)
    assert (np.sign(change[inside]) == np.sign(g[inside])).all()      # up the loss
    assert pixels(adv).min() >= -1e-12 and pixels(adv).max() <= 1 + 1e-12


def test_pgd_stays_in_the_ball_and_on_valid_pixels_and_raises_the_loss():
    net = tiny_net(seed=3)
    x = (np.random.default_rng(4).uniform(0, 1, (4, 2, 4, 4)) - 0.5) / 0.25
    y = np.array([0, 1, 2, 3])
    eps = 8 / 255
    adv = pgd(net, x, y, eps, steps=5)
    change = pixels(adv) - pixels(x)
    assert np.abs(change).max() <= eps + 1e-12
    assert pixels(adv).min() >= -1e-12 and pixels(adv).max() <= 1 + 1e-12
    from minicnn.ops.loss import cross_entropy
    from minicnn.tensor import Tensor, no_grad
    with no_grad():
        before = cross_entropy(net(Tensor(x)), y).item()
        after = cross_entropy(net(Tensor(adv)), y).item()
    assert after > before
    np.testing.assert_array_equal(pgd(net, x, y, 0.0, steps=3), x)
    np.testing.assert_array_equal(pgd(net, x, y, eps, steps=3), pgd(net, x, y, eps, steps=3))


@pytest.mark.parametrize("call, error, message", [
    (lambda n, x, y: fgsm(n, x, y, -0.1), ValueError, "eps must be >= 0, got -0.1"),
    (lambda n, x, y: pgd(n, x, y, "8/255"), TypeError, "eps must be a number"),
    (lambda n, x, y: pgd(n, x, y, 0.1, steps=0), ValueError, "steps must be an integer >= 1"),
    (lambda n, x, y: success_rate(n, x, y, "cw"), ValueError, "unknown attack 'cw'"),
])
def test_bad_options(call, error, message):
    with pytest.raises(error, match=message):
        call(tiny_net(), images(), np.array([0, 1, 2]))


@pytest.mark.skipif(not os.environ.get("MINICNN_DATA"), reason="needs MINICNN_DATA (CI sets it)")
def test_pgd_8_of_255_in_10_steps_fools_the_reference_net():
    """The sanity check of the issue: at least 95% of the test images the shipped net gets
    right are misclassified after PGD with eps = 8/255 and 10 steps. 120 test images
    (a seeded random choice across the classes)."""
    from minicnn.data import load_cifar10
    data = load_cifar10(progress=False)
    model = pretrained("reference_net")
    keep = np.sort(np.random.default_rng(0).permutation(len(data.test_x))[:120])
    x = to_input(data.test_x[keep], *input_stats(model))
    y = data.test_y[keep]
    rates, correct = success_rate(model, x, y, "pgd", eps_values=[8 / 255], steps=10)
    assert correct >= 80
    assert rates[0] >= 0.95, (rates, correct)
    fgsm_rate, _ = success_rate(model, x, y, "fgsm", eps_values=[8 / 255])
    assert fgsm_rate[0] <= rates[0]                   # one step does no better than ten
