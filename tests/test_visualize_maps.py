"""Class models, occlusion, Grad-CAM and the sanity check, on small nets in float64."""
import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from minicnn import nn
from minicnn.data import CLASSES
from minicnn.models import reference_net
from minicnn.tensor import Tensor, no_grad
from minicnn.visualize import (
    class_model,
    gaussian_blur,
    gradcam,
    guided_backprop,
    guided_gradcam,
    high_frequency_energy,
    occlusion,
    saliency,
    sanity_check,
    spearman,
    upsample,
)
from minicnn.visualize.sanity import cascading_randomization

META = {"classes": list(CLASSES), "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


def tiny_conv_net(seed, size=8):
    rng = np.random.default_rng(seed)
    net = nn.Sequential({
        "conv1": nn.Conv2d(3, 4, 3, padding=1), "relu1": nn.ReLU(),
        "conv2": nn.Conv2d(4, 6, 3, padding=1), "relu2": nn.ReLU(), "pool1": nn.MaxPool2d(2),
        "flatten": nn.Flatten(), "fc1": nn.Linear(6 * (size // 2) ** 2, 10)}).double()
    for p in net.parameters():
        p.data = rng.standard_normal(p.shape) * 0.5
    net.meta = META
    return net


# ---- class models -------------------------------------------------------------------------
def test_gradient_ascent_raises_the_objective():
    net = tiny_conv_net(0)
    for objective in ("logit", "probability"):
        x, history = class_model(net, ["cat", "ship", 0], preset="none", steps=15, lr=0.05,
                                 objective=objective, image_shape=(3, 8, 8), return_history=True)
        assert x.shape == (3, 3, 8, 8) and history.shape == (16, 3)
        assert (history[-1] > history[0]).all(), history[[0, -1]]


def test_regularised_ascent_still_raises_the_objective_and_stays_in_range():
    net = tiny_conv_net(1)
    x, history = class_model(net, list(range(10)), steps=20, image_shape=(3, 8, 8),
                             jitter=0, clip_norm=10, clip_contribution=10, return_history=True)
    assert (history[-1] > history[0]).all()
    lo, hi = (0 - 0.5) / 0.25, (1 - 0.5) / 0.25
    assert x.min() >= lo - 1e-6 and x.max() <= hi + 1e-6


def test_blur_lowers_high_frequency_energy():
    net = tiny_conv_net(2)
    common = dict(preset="none", steps=20, lr=0.1, image_shape=(3, 8, 8), seed=3)
    sharp = class_model(net, list(range(10)), **common)
    smooth = class_model(net, list(range(10)), blur_every=2, blur_sigma=0.8, **common)
    assert (high_frequency_energy(smooth) < high_frequency_energy(sharp)).all()


def test_gaussian_blur_keeps_constants_and_the_mean_of_periodic_signals():
    x = np.full((1, 2, 9, 9), 3.0)
    np.testing.assert_allclose(gaussian_blur(x, 1.0), x)
    # a single bright pixel in the middle spreads out symmetrically and keeps its total
    x = np.zeros((1, 1, 15, 15))
    x[0, 0, 7, 7] = 1.0
    b = gaussian_blur(x, 1.0)[0, 0]
    assert b.max() < 1 and abs(b.sum() - 1) < 1e-12
    np.testing.assert_allclose(b, b.T)
    np.testing.assert_allclose(b, b[::-1, ::-1])


# ---- occlusion ----------------------------------------------------------------------------
def region_net(seed, region=(slice(2, 5), slice(1, 4))):
    """A linear-relu-linear net whose input weights are zero outside rows 2..4, cols 1..3."""
    rng = np.random.default_rng(seed)
    net = nn.Sequential({"flatten": nn.Flatten(), "fc1": nn.Linear(3 * 10 * 10, 8),
                         "relu1": nn.ReLU(), "fc2": nn.Linear(8, 10)}).double()
    w = np.zeros((8, 3, 10, 10))
    w[:, :, region[0], region[1]] = rng.standard_normal((8, 3, 3, 3))
    net.fc1.weight.data = w.reshape(8, -1)
    net.fc1.bias.data = rng.standard_normal(8)
    net.fc2.weight.data = rng.standard_normal((10, 8))
    net.meta = META
    return net


def test_occluding_what_the_net_ignores_changes_nothing():
    net = region_net(0)
    x = np.random.default_rng(1).standard_normal((2, 3, 10, 10))
    size, stride = 3, 1
    prob, base = occlusion(net, x, [3, 7], size=size, stride=stride, fill="grey")
    assert prob.shape == (2, 8, 8)
    for i in range(8):
        for j in range(8):
            overlaps = i < 5 and i + size > 2 and j < 4 and j + size > 1
            if not overlaps:
                np.testing.assert_array_equal(prob[:, i, j], base)
    assert not np.allclose(prob[:, 2, 1], base)     # covering the region does matter


def test_occlusion_probabilities_are_those_of_the_occluded_images():
    net = tiny_conv_net(4)
    x = np.random.default_rng(5).standard_normal((1, 3, 8, 8))
    prob, base = occlusion(net, x, "dog", size=4, stride=2, fill="mean", batch_size=3)
    occluded = x.copy()
    occluded[:, :, 2:6, 4:8] = 0.0
    with no_grad():
        z = net(Tensor(occluded)).data[0]
    assert prob.shape == (1, 3, 3)
    np.testing.assert_allclose(prob[0, 1, 2], np.exp(z[5]) / np.exp(z).sum(), rtol=1e-12)


# ---- Grad-CAM -----------------------------------------------------------------------------
@settings(deadline=None, max_examples=15)
@given(st.integers(0, 1000), st.sampled_from(["conv1", "relu1", "relu2", "pool1"]))
def test_gradcam_is_non_negative_at_the_layers_size(seed, layer):
    net = tiny_conv_net(seed)
    x = np.random.default_rng(seed).standard_normal((2, 3, 8, 8))
    cam = gradcam(net, x, [1, "cat"], layer=layer)
    with no_grad():
        expected = net.activations(Tensor(x), [layer])[layer].shape[2:]
    assert cam.shape == (2,) + tuple(expected) and (cam >= 0).all()


def test_gradcam_by_hand_for_a_linear_head():
    # after the layer A comes only flatten + fc1, so d score / d A = fc1.weight[k] reshaped
    net = tiny_conv_net(7)
    x = np.random.default_rng(8).standard_normal((1, 3, 8, 8))
    with no_grad():
        A = net.activations(Tensor(x), ["pool1"])["pool1"].data[0]      # (6, 4, 4)
    w = net.fc1.weight.data[2].reshape(6, 4, 4).mean(axis=(1, 2))      # (6,)
    expected = np.maximum((w[:, None, None] * A).sum(axis=0), 0)
    np.testing.assert_allclose(gradcam(net, x, 2, layer="pool1")[0], expected, rtol=1e-12)


def test_guided_gradcam_is_guided_backprop_times_the_upsampled_cam():
    net = tiny_conv_net(9)
    x = np.random.default_rng(10).standard_normal((2, 3, 8, 8))
    cam = upsample(gradcam(net, x, 4, layer="pool1"), (8, 8))
    np.testing.assert_allclose(guided_gradcam(net, x, 4, layer="pool1"),
                               guided_backprop(net, x, 4) * cam[:, None])


def test_bilinear_upsampling_agrees_with_pillow():
    a = np.random.default_rng(0).random((5, 7)).astype(np.float32)
    ours = upsample(a[None], (20, 21))[0]
    pillow = np.asarray(Image.fromarray(a, mode="F").resize((21, 20), Image.Resampling.BILINEAR))
    np.testing.assert_allclose(ours, pillow, atol=1e-5)
    nearest = upsample(a[None], (10, 14), mode="nearest")[0]
    np.testing.assert_array_equal(nearest, np.repeat(np.repeat(a, 2, axis=0), 2, axis=1))


# ---- sanity check -------------------------------------------------------------------------
def brute_spearman(a, b):
    a, b = np.ravel(a), np.ravel(b)

    def ranks(v):   # rank = 1 + (how many are smaller) + (how many others are equal) / 2
        return np.array([1 + (v < t).sum() + ((v == t).sum() - 1) / 2 for t in v])
    ra, rb = ranks(a), ranks(b)
    return np.corrcoef(ra, rb)[0, 1]


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(st.integers(-3, 3), st.floats(-5, 5)), min_size=3, max_size=40))
def test_spearman_matches_a_brute_force_rank_correlation(pairs):
    a = np.array([p[0] for p in pairs], dtype=float)     # few values: many ties
    b = np.array([p[1] for p in pairs])
    if a.std() == 0 or np.unique(b).size < 2:
        assert spearman(a, b) == 0.0
    else:
        assert abs(spearman(a, b) - brute_spearman(a, b)) < 1e-9


def test_randomising_every_layer_changes_the_saliency_map():
    net = reference_net().double()
    rng = np.random.default_rng(0)
    for p in net.parameters():
        p.data = p.data + 0.01 * rng.standard_normal(p.shape)
    net.meta = META
    original = copy.deepcopy(net.state_dict())
    x = rng.standard_normal((2, 3, 32, 32))
    steps, maps, similarity = sanity_check(net, x, "cat", methods=("saliency",))
    assert steps == ["trained", "fc2", "fc1", "conv4", "conv3", "conv2", "conv1"]
    assert maps["saliency"].shape == (7, 2, 32, 32)
    np.testing.assert_array_equal(maps["saliency"][0], np.abs(saliency(net, x, "cat")).max(axis=1))
    assert similarity["saliency"][0] == pytest.approx(1.0)
    assert abs(similarity["saliency"][-1]) < 0.3
    for name, value in net.state_dict().items():       # the caller's model is untouched
        np.testing.assert_array_equal(value, original[name])


def test_cascade_randomises_from_the_top_cumulatively():
    net = tiny_conv_net(11)
    seen = []
    for name, copy_ in cascading_randomization(net):
        seen.append(name)
        for layer in ("conv1", "conv2", "fc1"):
            changed = not np.array_equal(copy_[layer].weight.data, net[layer].weight.data)
            assert changed == (layer in seen), (name, layer)
    assert seen == ["fc1", "conv2", "conv1"]
