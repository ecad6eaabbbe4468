"""Images in and out of the network, and weights as pictures."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from minicnn import nn
from minicnn.data import CLASSES
from minicnn.models import mlp, reference_net
from minicnn.tensor import Tensor, no_grad
from minicnn.visualize import (
    class_index,
    conv_filters,
    hidden_unit_weights,
    load_image,
    render_map,
    to_input,
    to_rgb,
    weights_to_rgb,
)


def test_load_image_crops_the_centre_square_and_resizes(tmp_path):
    # 96 wide, 64 high: red bands on the left and right 16 columns, blue in the middle
    pixels = np.zeros((64, 96, 3), dtype=np.uint8)
    pixels[:, :16, 0] = pixels[:, 80:, 0] = 255
    pixels[:, 16:80, 2] = 255
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    x = load_image(tmp_path / "wide.png")
    assert x.shape == (3, 32, 32) and x.dtype == np.uint8
    assert (x[0] == 0).all() and (x[2] == 255).all()       # the red bands were cropped away


def test_load_image_makes_grey_and_rgba_images_rgb(tmp_path):
    Image.fromarray(np.full((40, 40), 7, dtype=np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(np.full((40, 40, 4), 9, dtype=np.uint8)).save(tmp_path / "alpha.png")
    assert (load_image(tmp_path / "grey.png") == 7).all()
    assert (load_image(tmp_path / "alpha.png") == 9).all()


def test_unreadable_images(tmp_path):
    (tmp_path / "text.jpg").write_text("hello")
    with pytest.raises(ValueError, match="cannot read image .*text.jpg.*not an image file"):
        load_image(tmp_path / "text.jpg")
    with pytest.raises(ValueError, match="no such file"):
        load_image(tmp_path / "absent.png")


@settings(deadline=None, max_examples=20)
@given(st.integers(0, 1000))
def test_to_rgb_undoes_to_input(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (2, 3, 5, 4), dtype=np.uint8)
    mean, std = rng.uniform(0.2, 0.8, 3), rng.uniform(0.1, 0.4, 3)
    rgb = to_rgb(to_input(x, mean, std), mean, std)
    assert rgb.shape == (2, 5, 4, 3)
    np.testing.assert_allclose(rgb, x.transpose(0, 2, 3, 1) / 255.0, atol=1e-6)


def test_class_index():
    assert class_index(CLASSES, "cat") == 3 and class_index(CLASSES, 9) == 9
    assert class_index(CLASSES, "7") == 7                   # a number typed on the command line
    with pytest.raises(ValueError, match="'kitten' is not a class; classes are: airplane"):
        class_index(CLASSES, "kitten")
    with pytest.raises(ValueError, match="outside 0..9"):
        class_index(CLASSES, -1)


def test_hidden_unit_pictures_are_in_flatten_order():
    # unit j's pre-activation must equal the sum over (c, y, x) of picture * image
    net = mlp(hidden=5)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with no_grad():
        pre = net.activations(Tensor(x), ["fc1"])["fc1"].data          # (2, 5)
    pictures = hidden_unit_weights(net)                                 # (5, 3, 32, 32)
    by_picture = np.einsum("jchw,nchw->nj", pictures, x) + net.fc1.bias.data
    np.testing.assert_allclose(pre, by_picture, rtol=1e-4, atol=1e-4)


def test_weight_pictures_map_zero_to_grey():
    w = np.zeros((3, 3, 2, 2))
    w[0, 0, 0, 0], w[1, 2, 1, 1], w[2, 1, 0, 1] = 2.0, -0.5, 0.25
    per_filter = weights_to_rgb(w, "per_filter")                        # (3, 2, 2, 3)
    shared = weights_to_rgb(w, "shared")
    assert per_filter.shape == (3, 2, 2, 3)
    assert per_filter[0, 0, 0, 0] == 1.0 and per_filter[1, 1, 1, 2] == 0.0   # each filter: full range
    assert per_filter[2, 0, 1, 1] == 1.0
    assert shared[0, 0, 0, 0] == 1.0 and shared[1, 1, 1, 2] == pytest.approx(0.375)  # 0.5 - 0.5/4
    for pictures in (per_filter, shared):
        assert (pictures[w.transpose(0, 2, 3, 1) == 0] == 0.5).all()


def test_conv_filters_and_errors():
    net = reference_net()
    np.testing.assert_array_equal(conv_filters(net), net.conv1.weight.data)
    with pytest.raises(ValueError, match="not a Conv2d"):
        conv_filters(net, "fc1")
    with pytest.raises(ValueError, match="no convolutional layer"):
        conv_filters(nn.Sequential({"flatten": nn.Flatten()}))
    with pytest.raises(ValueError, match="not an image of shape"):
        hidden_unit_weights(net, "fc1")


def test_renderings():
    g = np.zeros((1, 3, 4, 4))
    g[0, 0, 1, 1], g[0, 2, 2, 2] = 1.0, -1.0
    absmax = render_map(g, "absmax", percentile=100)
    assert absmax.shape == (1, 4, 4) and absmax[0, 1, 1] == 1 and absmax[0, 2, 2] == 1
    rgb = render_map(g, "rgb", percentile=100)
    assert rgb.shape == (1, 4, 4, 3) and rgb[0, 0, 0, 0] == 0.5 and rgb[0, 2, 2, 2] == 0.0
    positive = render_map(g, "positive", percentile=100)
    assert positive[0, 1, 1, 0] == 1 and positive[0, 2, 2, 2] == 0
    assert render_map(g, "channels", percentile=100)[0, 2, 2, 2] == -1
    with pytest.raises(ValueError, match="unknown rendering"):
        render_map(g, "sepia")
