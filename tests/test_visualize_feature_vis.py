"""Feature visualization of any unit: diversity, the decorrelated Fourier parameterisation,
scale and rotation robustness (minicnn/visualize/class_model.py). Small nets, float64 checks."""
import numpy as np
import pytest

from gradcheck import numerical_gradient, rel_error
from minicnn.visualize import class_model
from minicnn.visualize.class_model import FourierImage, Warp, gram_similarity
from minicnn.tensor import Tensor, no_grad
from test_visualize_lrp import tiny_net

META = {"classes": [str(k) for k in range(10)], "mean": [0.5, 0.5], "std": [0.25, 0.25]}


def test_gram_similarity_gradient_matches_central_differences():
    acts = np.random.default_rng(0).standard_normal((3, 4, 2, 3))
    S, dA = gram_similarity(acts)
    numeric = numerical_gradient(lambda: gram_similarity(acts)[0], acts, np.float64(1.0))
    assert rel_error(dA, numeric) < 1e-6
    same = np.repeat(acts[:1], 3, axis=0)
    assert gram_similarity(same)[0] == pytest.approx(1.0)


def test_the_fourier_parameterisation_its_adjoint_and_inverse():
    rng = np.random.default_rng(1)
    for C in (2, 3):
        L = FourierImage((2, C, 6, 8))
        P = rng.standard_normal((2, C, 6, 8)) + 1j * rng.standard_normal((2, C, 6, 8))
        g = rng.standard_normal((2, C, 6, 8))
        assert np.sum(L(P) * g) == pytest.approx(np.real(np.sum(np.conj(L.adjoint(g)) * P)))
        x = rng.standard_normal((2, C, 6, 8))
        np.testing.assert_allclose(L(L.inverse(x)), x, atol=1e-12)


def test_the_warp_and_its_adjoint():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((2, 3, 7, 9)), rng.standard_normal((2, 3, 7, 9))
    np.testing.assert_allclose(Warp((7, 9), 1.0, 0.0)(x), x, atol=1e-12)
    warp = Warp((7, 9), 1.1, 8.0)
    assert np.sum(warp(x) * y) == pytest.approx(np.sum(x * warp.adjoint(y)))
    # a quarter turn (counter-clockwise) of a square image is exact
    square = rng.standard_normal((1, 1, 5, 5))
    np.testing.assert_allclose(Warp((5, 5), 1.0, 90.0)(square)[0, 0], np.rot90(square[0, 0], 1),
                               atol=1e-12)


def net32():
    net = tiny_net(seed=3, size=8).float()
    net.meta = META
    return net


@pytest.mark.parametrize("options", [
    dict(fourier=True), dict(scale=0.1, rotate=10.0), dict(fourier=True, scale=0.1, rotate=5.0),
    dict(diversity=1.0),
])
def test_every_option_still_raises_the_objective(options):
    _, history = class_model(net32(), ("conv1", 1), steps=12, image_shape=(2, 8, 8), jitter=1,
                             count=3, return_history=True, **options)
    assert history.shape == (13, 3)
    assert (history[-1] > history[0]).all(), history[[0, -1]]


def test_diversity_makes_the_images_of_one_unit_differ():
    net = net32()
    common = dict(steps=25, image_shape=(2, 8, 8), count=4, preset="none", lr=0.1)
    plain = class_model(net, ("conv1", 2), **common)
    diverse = class_model(net, ("conv1", 2), diversity=1.0, diversity_layer="relu1", **common)
    with no_grad():
        similarity = [gram_similarity(net.upto("relu1")(Tensor(x)).data)[0] for x in (plain, diverse)]
    assert similarity[0] > 0.99 and similarity[1] < 0.9, similarity


def test_diversity_compares_the_images_of_one_target_only():
    """Two classes, one image each: nothing to diversify, the same ascent as without."""
    net = net32()
    common = dict(steps=5, image_shape=(2, 8, 8), preset="none")
    np.testing.assert_allclose(class_model(net, [1, 2], diversity=2.0, **common),
                               class_model(net, [1, 2], **common), rtol=1e-5, atol=1e-6)


def test_bad_feature_options():
    with pytest.raises(ValueError, match="diversity must be a number >= 0, got -1"):
        class_model(net32(), 0, image_shape=(2, 8, 8), diversity=-1)
    with pytest.raises(ValueError, match="scale must be < 1"):
        class_model(net32(), 0, image_shape=(2, 8, 8), scale=1.5)
    with pytest.raises(ValueError, match="count must be an integer >= 1, got 0"):
        class_model(net32(), 0, image_shape=(2, 8, 8), count=0)
    with pytest.raises(ValueError, match="unknown layer 'conv9'"):
        class_model(net32(), ("conv1", 0), image_shape=(2, 8, 8), diversity=1.0, diversity_layer="conv9")
