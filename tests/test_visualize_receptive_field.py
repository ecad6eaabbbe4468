"""Receptive fields against the support of the gradient.

With positive weights, positive inputs and no ReLU, every input pixel inside a unit's
receptive field has a strictly positive gradient and every pixel outside has zero, so
the nonzero region of |dx| must lie within the computed bounds and touch all four of
them. Max-pool routes gradients to one switch per window, so for the exact-support test a
pool layer's gradient is taken on a twin network where the pool is replaced by an all-ones
convolution of the same kernel and stride (same geometry, every position passes).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn import nn
from minicnn.models import reference_net
from minicnn.tensor import Tensor
from minicnn.visualize import (
    centre_unit,
    output_size,
    plot_receptive_fields,
    receptive_field,
    receptive_field_size,
)


@st.composite
def random_stack(draw):
    """A list of layer specs ("conv", K, S, P) / ("pool", K, S) that keeps the output >= 1."""
    size = draw(st.integers(8, 20))
    specs, H = [], size
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            K = draw(st.integers(1, 4))
            S = draw(st.integers(1, 3))
            P = draw(st.integers(0, K - 1))
            out = (H + 2 * P - K) // S + 1
            if K > H + 2 * P or out < 1:
                continue
            specs.append(("conv", K, S, P))
        else:
            K = draw(st.integers(1, 3))
            S = draw(st.integers(1, 3))
            if K > H:
                continue
            out = (H - K) // S + 1
            specs.append(("pool", K, S))
        H = out
    if not specs:
        specs = [("conv", 1, 1, 0)]
    return size, specs


def build(specs, channels, twin):
    """The network with MaxPool2d layers, or its twin with all-ones convolutions instead."""
    rng = np.random.default_rng(0)
    layers, C = {}, channels
    for i, spec in enumerate(specs):
        if spec[0] == "conv":
            _, K, S, P = spec
            conv = nn.Conv2d(C, 2, K, stride=S, padding=P)
            conv.weight.data = rng.uniform(0.5, 1.5, conv.weight.shape)    # float64, positive
            conv.bias.data = np.zeros(2)
            layers[f"conv{i}"] = conv
            C = 2
        elif twin:
            _, K, S = spec
            conv = nn.Conv2d(C, C, K, stride=S, padding=0)
            conv.weight.data, conv.bias.data = np.ones(conv.weight.shape), np.zeros(C)
            layers[f"pool{i}"] = conv
        else:
            layers[f"pool{i}"] = nn.MaxPool2d(spec[1], stride=spec[2])
    return nn.Sequential(layers)


def gradient_support(net, size, channels, c, y, x, seed=0):
    """The bounding box and mask of the nonzero gradient of unit (c, y, x) over the input."""
    xin = Tensor(np.random.default_rng(seed).uniform(0.5, 1.5, (1, channels, size, size)),
                 requires_grad=True)
    out = net(xin)
    dout = np.zeros_like(out.data)
    dout[0, c, y, x] = 1.0
    out.backward(dout)
    mask = np.abs(xin.grad[0]).sum(axis=0) > 0
    rows, cols = np.nonzero(mask)
    return (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1), mask


@settings(deadline=None, max_examples=40)
@given(random_stack(), st.data())
def test_bounds_are_the_gradient_support(stack, data):
    size, specs = stack
    net, twin = build(specs, 1, twin=False), build(specs, 1, twin=True)
    last = net.names[-1]
    OH, OW = output_size(net, last, (size, size))
    y, x = data.draw(st.integers(0, OH - 1)), data.draw(st.integers(0, OW - 1))
    bounds = receptive_field(net, last, y, x, (size, size))
    box, mask = gradient_support(twin, size, 1, 0, y, x)
    assert box == bounds, (specs, (y, x))
    # strides larger than kernels leave gaps; without them the field is a full box
    if all(spec[2] <= spec[1] for spec in specs):
        y0, y1, x0, x1 = bounds
        assert mask[y0:y1, x0:x1].all()


@settings(deadline=None, max_examples=25)
@given(random_stack(), st.data())
def test_max_pool_gradients_stay_inside_the_bounds(stack, data):
    size, specs = stack
    net = build(specs, 1, twin=False)
    last = net.names[-1]
    OH, OW = output_size(net, last, (size, size))
    y, x = data.draw(st.integers(0, OH - 1)), data.draw(st.integers(0, OW - 1))
    y0, y1, x0, x1 = receptive_field(net, last, y, x, (size, size))
    _, mask = gradient_support(net, size, 1, 0, y, x, seed=data.draw(st.integers(0, 100)))
    outside = mask.copy()
    outside[y0:y1, x0:x1] = False
    assert mask.any() and not outside.any()


def test_output_size_matches_the_forward_pass():
    net = reference_net()
    acts = net.activations(Tensor(np.zeros((1, 3, 32, 32), dtype=np.float32)))
    for name, out in acts.items():
        expected = out.shape[2:] if out.ndim == 4 else None
        assert output_size(net, name) == (tuple(expected) if expected else None), name


def test_the_lectures_patch_sizes():
    # by hand: 3x3 convs grow the field by 2 (times the product of earlier strides),
    # a 2x2 pool by 1 (likewise) and doubles the step: 3, 5, 6, 10, 14, 16
    net = reference_net()
    sizes = {name: receptive_field_size(net, name) for name in
             ("conv1", "conv2", "pool1", "conv3", "conv4", "pool2")}
    assert sizes == {"conv1": (3, 3), "conv2": (5, 5), "pool1": (6, 6), "conv3": (10, 10),
                     "conv4": (14, 14), "pool2": (16, 16)}
    assert receptive_field(net, "fc1", 0, 0) == (0, 32, 0, 32)
    assert receptive_field(net, "conv1", 0, 0) == (0, 2, 0, 2)   # clipped: padding is not image


def test_unit_outside_the_layer_is_an_error():
    with pytest.raises(ValueError, match=r"position \(y=16, x=0\) is outside layer 'conv3', "
                                         r"whose output is 16x16"):
        receptive_field(reference_net(), "conv3", 16, 0)
    with pytest.raises(ValueError, match="unknown layer 'conv9'"):
        receptive_field(reference_net(), "conv9", 0, 0)


def test_centre_unit_sees_the_middle_of_the_image():
    net = reference_net()
    assert centre_unit(net, "conv1") == (15, 15)    # rows 14:17, centred at 15.5 (16 ties: 16.5)
    for name in ("conv2", "pool1", "conv3", "conv4", "pool2"):
        OH, OW = output_size(net, name)
        y0, y1, x0, x1 = receptive_field(net, name, *centre_unit(net, name))
        # neighbouring units' fields are 32 / OH pixels apart: the best is within half of that
        assert abs((y0 + y1) / 2 - 16) <= 16 / OH and abs((x0 + x1) / 2 - 16) <= 16 / OW, name
    with pytest.raises(ValueError, match="'fc1' is fully connected"):
        centre_unit(net, "fc1")


def test_plot_receptive_fields_draws_each_box_around_its_pixels():
    boxes = [(14, 17, 14, 17), (0, 32, 2, 30)]
    labels = ["conv1: 3x3", "pool2: 32x28"]
    ax = plot_receptive_fields(boxes, labels).axes[0]
    # pixel p covers p - 0.5 .. p + 0.5: a box of rows y0:y1 spans y0 - 0.5 .. y1 - 0.5
    drawn = [(r.get_y() + 0.5, r.get_y() + r.get_height() + 0.5,
              r.get_x() + 0.5, r.get_x() + r.get_width() + 0.5) for r in ax.patches]
    assert drawn == boxes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == labels
    assert ax.images[0].get_array().shape == (32, 32, 3)
    on_image = plot_receptive_fields(boxes[:1], labels[:1], image=np.zeros((20, 24, 3)))
    assert on_image.axes[0].images[0].get_array().shape == (20, 24, 3)
    with pytest.raises(ValueError, match="2 boxes but 1 labels"):
        plot_receptive_fields(boxes, labels[:1])


def test_a_unit_that_reads_only_padding_sees_nothing():
    """A 1x1 convolution with padding 2: the two outer rings of its output read zeros only.
    Their field is empty, also through a layer above them, and never inverted (y0 > y1)."""
    net = nn.Sequential({"conv1": nn.Conv2d(3, 2, 1, padding=2), "conv2": nn.Conv2d(2, 2, 1)})
    assert receptive_field(net, "conv1", 0, 0, input_hw=(8, 8)) == (0, 0, 0, 0)
    assert receptive_field(net, "conv2", 1, 5, input_hw=(8, 8)) == (0, 0, 0, 0)
    assert receptive_field(net, "conv1", 2, 3, input_hw=(8, 8)) == (0, 1, 1, 2)
    for y in range(12):
        for x in range(12):
            y0, y1, x0, x1 = receptive_field(net, "conv2", y, x, input_hw=(8, 8))
            assert y0 <= y1 and x0 <= x1
            assert (y1 - y0 == 1 and x1 - x0 == 1) == (2 <= y < 10 and 2 <= x < 10)
