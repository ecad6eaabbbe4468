"""Every op's backward against centred differences, in float64 (relative error < 1e-6).

Each check builds a real graph, calls backward(dout) with a random dout, and compares every
input's .grad with numerical_gradient (tests/gradcheck.py). Inputs are kept away from kinks:
ReLU inputs have |x| > 1e-3 and max-pool inputs have no near-ties, so a nudge of h = 1e-6
never crosses one.

Every test runs on both routes, the plain NumPy code of minicnn/ops/ and its fast twins
(the `route` fixture in conftest.py).
"""
import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import minicnn
import minicnn.functional as F
from gradcheck import check_gradients, check_module_gradients, numerical_gradient, rel_error
from minicnn import nn
from minicnn.tensor import Function, Tensor

pytestmark = pytest.mark.usefixtures("route")


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def away_from_zero(*shape, seed=0):
    """Random values with |x| > 1e-3, so a ReLU's kink at 0 is never crossed."""
    x = randn(*shape, seed=seed)
    return np.where(x >= 0, x + 1e-3, x - 1e-3)


def distinct_values(*shape, seed=0):
    """A shuffled grid of values 0.1 apart: no ties and no near-ties for max-pool."""
    size = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(size).reshape(shape) * 0.1 - 0.05 * size


# ---- the checker itself -------------------------------------------------------------------
def test_numerical_gradient_of_a_known_function():
    x = randn(3, 4)
    dout = randn(3, 4, seed=1)
    numeric = numerical_gradient(lambda: x ** 3, x, dout)
    assert rel_error(numeric, 3 * x ** 2 * dout) < 1e-8     # d/dx sum(dout * x^3) = 3 x^2 dout


def test_check_gradients_catches_a_wrong_backward():
    class Twice(Function):
        def forward(self, x):
            return 2 * x

        def backward(self, dout):
            return (2.001 * dout,)                      # off by 0.05%

    with pytest.raises(AssertionError, match="relative error"):
        check_gradients(Twice.apply, randn(3, 2))


# ---- elementwise arithmetic, with broadcasting ----------------------------------------------
SHAPE_PAIRS = [
    ((2, 3), (2, 3)),
    ((2, 3), (3,)),          # b broadcast over rows
    ((3,), (2, 3)),          # a broadcast over rows
    ((2, 1), (1, 3)),        # both stretched
    ((4, 1, 3), (2, 1)),     # a new leading axis and stretching on both sides
    ((2, 3), ()),            # a 0-d tensor
    ((1, 1), (2, 3)),
]


@pytest.mark.parametrize("op", [F.add, F.sub, F.mul])
@pytest.mark.parametrize("a_shape, b_shape", SHAPE_PAIRS)
def test_binary_op(op, a_shape, b_shape):
    check_gradients(op, randn(*a_shape, seed=1), randn(*b_shape, seed=2))


@pytest.mark.parametrize("expression", [
    lambda x: x + 2.5, lambda x: 2.5 + x,
    lambda x: x - 2.5, lambda x: 2.5 - x,
    lambda x: x * 2.5, lambda x: 2.5 * x,
    lambda x: -x, lambda x: x * x - 3 * x,
], ids=["x+s", "s+x", "x-s", "s-x", "x*s", "s*x", "-x", "x*x-3x"])
def test_operators_with_python_scalars(expression):
    check_gradients(expression, randn(2, 3))


@pytest.mark.parametrize("a_shape, b_shape", [((3, 4), (4, 2)), ((1, 4), (4, 1)), ((2, 1), (1, 5))])
def test_matmul(a_shape, b_shape):
    check_gradients(lambda a, b: a @ b, randn(*a_shape, seed=1), randn(*b_shape, seed=2))


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_and_mean(reduce, axis, keepdims):
    check_gradients(lambda x: getattr(x, reduce)(axis=axis, keepdims=keepdims), randn(2, 3, 4))


@pytest.mark.parametrize("shape", [(4, 6), (-1,), (2, 12), (1, 24, 1)])
def test_reshape(shape):
    check_gradients(lambda x: x.reshape(shape), randn(2, 3, 4))


@pytest.mark.parametrize("N", [1, 3])
def test_flatten(N):
    check_gradients(lambda x: x.flatten(), randn(N, 3, 2, 2))


@pytest.mark.parametrize("index", [
    1, (slice(None), slice(1, 3)), slice(None, None, -1), (Ellipsis, 1),
    [0, 0, 2],                                          # a repeated row: its gradients add up
    (np.array([0, 2, 2]), np.array([1, 0, 0])),
    np.array([[True, False, True, False], [False, True, True, False], [True] * 4]),
], ids=["int", "slices", "reversed", "ellipsis", "repeated", "pairs", "mask"])
def test_getitem(index):
    check_gradients(lambda x: x[index], randn(3, 4))


# ---- layers ------------------------------------------------------------------------------
@pytest.mark.parametrize("N", [1, 4])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(N, bias):
    arrays = [randn(N, 5, seed=1), randn(3, 5, seed=2)] + ([randn(3, seed=3)] if bias else [])
    check_gradients(F.linear, *arrays)


@settings(deadline=None, max_examples=30)
@given(N=st.integers(1, 3), C=st.integers(1, 3), F_=st.integers(1, 4),
       H=st.integers(1, 6), W=st.integers(1, 6), KH=st.integers(1, 5), KW=st.integers(1, 5),
       stride=st.integers(1, 3), padding=st.integers(0, 2), bias=st.booleans(),
       seed=st.integers(0, 2 ** 16))
@example(N=1, C=2, F_=3, H=5, W=4, KH=3, KW=2, stride=2, padding=1, bias=True, seed=0)   # batch 1
@example(N=2, C=1, F_=2, H=3, W=6, KH=1, KW=4, stride=1, padding=0, bias=False, seed=1)
def test_conv2d(N, C, F_, H, W, KH, KW, stride, padding, bias, seed):
    assume(KH <= H + 2 * padding and KW <= W + 2 * padding)
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((N, C, H, W)), rng.standard_normal((F_, C, KH, KW))]
    arrays += [rng.standard_normal(F_)] if bias else []
    check_gradients(lambda x, w, b=None: F.conv2d(x, w, b, stride=stride, padding=padding),
                    *arrays, seed=seed)


@pytest.mark.parametrize("shape", [(1, 7), (2, 3, 4, 5)])
def test_relu(shape):
    check_gradients(F.relu, away_from_zero(*shape))


@settings(deadline=None, max_examples=30)
@given(N=st.integers(1, 2), C=st.integers(1, 2), H=st.integers(1, 6), W=st.integers(1, 6),
       KH=st.integers(1, 3), KW=st.integers(1, 3), stride=st.integers(1, 3),
       seed=st.integers(0, 2 ** 16))
@example(N=1, C=1, H=4, W=4, KH=2, KW=2, stride=2, seed=0)                  # batch 1
@example(N=2, C=2, H=5, W=6, KH=3, KW=3, stride=1, seed=1)                  # overlapping windows
def test_max_pool2d(N, C, H, W, KH, KW, stride, seed):
    assume(KH <= H and KW <= W)
    check_gradients(lambda x: F.max_pool2d(x, (KH, KW), stride), distinct_values(N, C, H, W, seed=seed),
                    seed=seed)


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax(axis):
    check_gradients(lambda z: F.softmax(z, axis=axis), 2 * randn(3, 5))


@pytest.mark.parametrize("axis", [-1, 0])
def test_log_softmax(axis):
    check_gradients(lambda z: F.log_softmax(z, axis=axis), 2 * randn(3, 5))


@pytest.mark.parametrize("N", [1, 4])
def test_cross_entropy(N):
    labels = np.random.default_rng(N).integers(0, 5, size=N)
    check_gradients(lambda z: F.cross_entropy(z, labels), 2 * randn(N, 5))


# ---- a whole network ------------------------------------------------------------------------
def small_net(seed=0):
    minicnn.manual_seed(seed)
    net = nn.Sequential({
        "conv1": nn.Conv2d(2, 3, 3, padding=1),       # (N, 3, 6, 6)
        "relu1": nn.ReLU(),
        "pool1": nn.MaxPool2d(2),                     # (N, 3, 3, 3)
        "conv2": nn.Conv2d(3, 4, (2, 3)),             # (N, 4, 2, 1)
        "relu2": nn.ReLU(),
        "flatten": nn.Flatten(),                      # (N, 8)
        "fc1": nn.Linear(8, 5),
        "relu3": nn.ReLU(),
        "fc2": nn.Linear(5, 3),
    }).double()
    rng = np.random.default_rng(seed)
    for layer in (net.conv1, net.conv2, net.fc1, net.fc2):   # non-zero biases, so they matter
        layer.bias.data = 0.5 * rng.standard_normal(layer.bias.shape)
    return net


def assert_off_kinks(net, x):
    """The check is only valid if no ReLU input sits near 0 and no pool window nearly ties."""
    acts = net.activations(Tensor(x))
    for conv in ("conv1", "conv2", "fc1"):
        assert np.abs(acts[conv].data).min() > 1e-4, conv
    windows = acts["conv1"].data.reshape(x.shape[0], 3, 3, 2, 3, 2).transpose(0, 1, 2, 4, 3, 5)
    top2 = np.sort(windows.reshape(*windows.shape[:4], 4), axis=-1)[..., -2:]
    assert (top2[..., 1] - top2[..., 0]).min() > 1e-4


@pytest.mark.parametrize("N", [1, 2])
def test_small_net_against_all_parameters_and_input(N):
    net = small_net(seed=N)
    x = randn(N, 2, 6, 6, seed=N)
    assert_off_kinks(net, x)
    check_module_gradients(net, x, seed=N)


def test_small_net_with_cross_entropy_loss():
    net = small_net(seed=3)
    x = randn(3, 2, 6, 6, seed=3)
    assert_off_kinks(net, x)
    check_module_gradients(net, x, loss=lambda logits: F.cross_entropy(logits, np.array([0, 2, 1])))
