"""Bad input fails early and loudly: one test per case, each checking the exception type and
that the message names the op and the offending shapes or values. No message may come from
numba's type inference (a student should never see a TypingError traceback).
"""
from contextlib import contextmanager

import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn import nn, optim
from minicnn.tensor import Tensor
from minicnn.visualize.attribution import gradient

pytestmark = pytest.mark.usefixtures("route")     # every test on both routes


@contextmanager
def fails(exception, match):
    with pytest.raises(exception, match=match) as info:
        yield
    message = str(info.value)
    assert "numba" not in message.lower() and "TypingError" not in message, message


def zeros(*shape):
    return Tensor(np.zeros(shape, dtype=np.float32))


# ---- conv2d -----------------------------------------------------------------------------------
def test_conv2d_three_dimensional_input():
    with fails(ValueError, r"conv2d: input must be 4-D \(N, C, H, W\), got shape \(3, 8, 8\)"):
        F.conv2d(zeros(3, 8, 8), zeros(4, 3, 3, 3))


def test_conv2d_channel_mismatch():
    with fails(ValueError, r"conv2d: input has C=3 channels \(shape \(1, 3, 8, 8\)\), "
                           r"weight expects 2 \(shape \(4, 2, 3, 3\)\)"):
        F.conv2d(zeros(1, 3, 8, 8), zeros(4, 2, 3, 3))


def test_conv2d_kernel_larger_than_padded_input():
    with fails(ValueError, r"conv2d: kernel 7x5 is larger than the padded input 6x8 "
                           r"\(input 4x6, padding 1\)"):
        F.conv2d(zeros(1, 1, 4, 6), zeros(1, 1, 7, 5), padding=1)


def test_conv2d_non_integer_stride():
    with fails(TypeError, r"conv2d: stride must be an integer, got 1\.5"):
        F.conv2d(zeros(1, 1, 8, 8), zeros(1, 1, 3, 3), stride=1.5)


def test_conv2d_negative_padding():
    with fails(ValueError, r"conv2d: padding must be >= 0, got -1"):
        F.conv2d(zeros(1, 1, 8, 8), zeros(1, 1, 3, 3), padding=-1)


def test_conv2d_stride_zero():
    with fails(ValueError, r"conv2d: stride must be >= 1, got 0"):
        F.conv2d(zeros(1, 1, 8, 8), zeros(1, 1, 3, 3), stride=0)


def test_conv2d_bool_stride():
    with fails(TypeError, r"conv2d: stride must be an integer, got True \(bool\)"):
        F.conv2d(zeros(1, 1, 8, 8), zeros(1, 1, 3, 3), stride=True)


def test_conv2d_bias_of_wrong_shape():
    with fails(ValueError, r"conv2d: bias must have shape \(4,\), got \(3,\)"):
        F.conv2d(zeros(1, 1, 8, 8), zeros(4, 1, 3, 3), zeros(3))


def test_conv2d_float16_input_is_refused_before_numba():
    with fails(TypeError, r"conv2d: input must be float32 or float64, got float16"):
        F.conv2d(np.zeros((1, 1, 8, 8), dtype=np.float16), zeros(1, 1, 3, 3))


# ---- max_pool2d -------------------------------------------------------------------------------
def test_max_pool2d_wrong_ndim():
    with fails(ValueError, r"max_pool2d: input must be 4-D \(N, C, H, W\), got shape \(2, 4, 4\)"):
        F.max_pool2d(zeros(2, 4, 4), 2)


def test_max_pool2d_kernel_larger_than_input():
    with fails(ValueError, r"max_pool2d: kernel 3x3 is larger than the input 2x5"):
        F.max_pool2d(zeros(1, 1, 2, 5), 3)


def test_max_pool2d_stride_zero():
    with fails(ValueError, r"max_pool2d: stride must be >= 1, got 0"):
        F.max_pool2d(zeros(1, 1, 4, 4), 2, stride=0)


def test_max_pool2d_non_integer_kernel():
    with fails(TypeError, r"max_pool2d: kernel_size must be an integer, got 2\.5"):
        F.max_pool2d(zeros(1, 1, 4, 4), 2.5)


# ---- linear and the loss ----------------------------------------------------------------------
def test_linear_feature_mismatch():
    with fails(ValueError, r"linear: input has D=5 features \(shape \(2, 5\)\), "
                           r"weight expects 4 \(shape \(3, 4\)\)"):
        F.linear(zeros(2, 5), zeros(3, 4))


def test_cross_entropy_label_equal_to_the_number_of_classes():
    with fails(ValueError, r"cross_entropy: label 10 is out of range for 10 classes"):
        F.cross_entropy(zeros(3, 10), np.array([0, 10, 2]))


def test_cross_entropy_negative_label():
    with fails(ValueError, r"cross_entropy: label -1 is out of range for 10 classes"):
        F.cross_entropy(zeros(3, 10), np.array([0, -1, 2]))


def test_cross_entropy_float_labels():
    with fails(TypeError, r"cross_entropy: labels must be integers, got dtype float64"):
        F.cross_entropy(zeros(3, 10), np.array([0.0, 1.0, 2.0]))


def test_cross_entropy_labels_of_wrong_length():
    with fails(ValueError, r"cross_entropy: labels must have shape \(4,\) for logits \(4, 10\), "
                           r"got \(3,\)"):
        F.cross_entropy(zeros(4, 10), np.array([0, 1, 2]))


# ---- basic ops ----------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_shapes_that_do_not_broadcast(op):
    with fails(ValueError, rf"{op}: shapes \(2, 3\) and \(4,\) do not broadcast together"):
        getattr(F, op)(zeros(2, 3), zeros(4))


def test_matmul_inner_dimensions():
    with fails(ValueError, r"matmul: needs \(N, K\) @ \(K, M\), got \(2, 3\) @ \(4, 5\)"):
        zeros(2, 3) @ zeros(4, 5)


def test_reshape_to_an_incompatible_shape():
    with fails(ValueError, r"reshape: cannot reshape \(2, 3\) \(6 elements\) into \(4, 2\)"):
        zeros(2, 3).reshape(4, 2)


def test_backward_on_a_non_scalar_without_dout():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with fails(ValueError, r"backward\(\): dout is needed for a non-scalar tensor of shape \(2, 3\)"):
        (x * 2).backward()


def test_backward_with_a_dout_of_the_wrong_shape():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with fails(ValueError, r"backward\(\): dout has shape \(3, 2\), tensor has \(2, 3\)"):
        (x * 2).backward(np.ones((3, 2)))


# ---- nn and optim ---------------------------------------------------------------------------------
def tiny_net():
    return nn.Sequential({"fc": nn.Linear(4, 3), "relu": nn.ReLU(), "out": nn.Linear(3, 2)})


def test_load_state_dict_missing_name():
    net, state = tiny_net(), tiny_net().state_dict()
    del state["fc.bias"]
    with fails(ValueError, r"load_state_dict: missing fc\.bias"):
        net.load_state_dict(state)


def test_load_state_dict_unexpected_name():
    net, state = tiny_net(), tiny_net().state_dict()
    state["fc.scale"] = np.ones(3)
    with fails(ValueError, r"load_state_dict: unexpected fc\.scale"):
        net.load_state_dict(state)


def test_load_state_dict_wrong_shape_changes_nothing():
    net, state = tiny_net(), tiny_net().state_dict()
    before = net.state_dict()
    state["fc.weight"] = np.ones((4, 3))
    with fails(ValueError, r"load_state_dict: fc\.weight: expected shape \(3, 4\), got \(4, 3\)"):
        net.load_state_dict(state)
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_sgd_nesterov_without_momentum():
    with fails(ValueError, r"SGD: nesterov=True needs momentum > 0"):
        optim.SGD(tiny_net().parameters(), lr=0.1, nesterov=True)


def tiny_image_net():
    """tiny_net for (N, 1, 2, 2) images."""
    return nn.Sequential({"flatten": nn.Flatten(), "fc": nn.Linear(4, 3), "relu": nn.ReLU(),
                          "out": nn.Linear(3, 2)})


def test_gradient_class_outside_the_layer():
    with fails(ValueError, r"channel 2 is outside layer 'out', whose output per image has "
                           r"shape \(2,\)"):
        gradient(tiny_image_net(), np.zeros((1, 1, 2, 2), dtype=np.float32), 2)


def test_gradient_conv_unit_outside_the_layer():
    net = nn.Sequential({"conv": nn.Conv2d(1, 2, 3), "relu": nn.ReLU()})
    with fails(ValueError, r"unit \(channel, y, x\) \(1, 4, 0\) is outside layer 'conv', whose output per image "
                           r"has shape \(2, 4, 4\)"):
        gradient(net, np.zeros((1, 1, 6, 6), dtype=np.float32), ("conv", 1, 4, 0))


def test_gradient_one_target_per_image():
    with fails(ValueError, r"got 3 targets for 2 images"):
        gradient(tiny_image_net(), np.zeros((2, 1, 2, 2), dtype=np.float32), [0, 1, 0])


def test_unknown_layer_name():
    with fails(ValueError, r"Sequential: unknown layer 'conv9'; layers are: fc, relu, out"):
        tiny_net().upto("conv9")


def test_unknown_backward_rule():
    with fails(ValueError, r"backward_rule: unknown rule 'guidded'"):
        with minicnn.backward_rule("guidded"):
            pass


def test_tensor_of_strings():
    with fails(TypeError, r"Tensor\(\.\.\.\): cannot hold an array of dtype <U1"):
        Tensor(["a", "b"])
