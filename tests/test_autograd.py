"""Autograd mechanics: accumulation, shared inputs, no_grad, deep graphs, retain_grad, dtypes."""
import sys

import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn import nn
from minicnn.tensor import Tensor, is_grad_enabled, no_grad

pytestmark = pytest.mark.usefixtures("route")     # every test on both routes


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_gradients_accumulate_across_backward_calls():
    x = Tensor(randn(3, 2), requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)
    loss.backward()
    np.testing.assert_allclose(x.grad, 4 * x.data)
    x.zero_grad()
    assert x.grad is None


def test_a_tensor_used_twice_gets_the_sum():
    a = Tensor(randn(4), requires_grad=True)
    (a * a + a).sum().backward()                      # d/da (a^2 + a) = 2a + 1
    np.testing.assert_allclose(a.grad, 2 * a.data + 1)


def test_diamond_graph():
    a = Tensor(randn(4), requires_grad=True)
    b, c = a * 2.0, a * 3.0                           # two paths from a to the loss
    (b * c).sum().backward()                          # d/da 6 a^2 = 12 a
    np.testing.assert_allclose(a.grad, 12 * a.data)


def test_leaves_without_requires_grad_get_no_gradient():
    x, w = Tensor(randn(2, 3)), Tensor(randn(3, 2), requires_grad=True)
    (x @ w).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(w.grad, x.data.sum(axis=0)[:, None] * np.ones((3, 2)))


def test_backward_without_any_gradient_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (Tensor(randn(3)) * 2).sum().backward()


def test_no_grad_records_no_graph():
    x = Tensor(randn(2, 3), requires_grad=True)
    with no_grad():
        assert not is_grad_enabled()
        y = F.relu(x * 2 + 1)
    assert is_grad_enabled()
    assert not y.requires_grad and y.ctx is None
    assert (x * 2).requires_grad                      # recording is back on


def test_no_grad_restores_after_an_exception_and_nests():
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            1 / 0
    assert is_grad_enabled()
    with no_grad():
        with no_grad():
            pass
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_detach_cuts_the_graph():
    x = Tensor(randn(3), requires_grad=True)
    y = x.detach() * x                                # only the second factor carries gradient
    y.sum().backward()
    np.testing.assert_allclose(x.grad, x.data)


def test_a_graph_ten_thousand_ops_deep():
    depth = 10_000
    assert depth > sys.getrecursionlimit()
    x = Tensor(np.array([0.5, -2.0]), requires_grad=True)
    y = x
    for _ in range(depth):
        y = y * 1.0001 + 0.001                        # y_k = 1.0001 y_(k-1) + 0.001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(2, 1.0001 ** depth), rtol=1e-9)


def test_retain_grad_on_an_intermediate():
    x = Tensor(randn(3, 4), requires_grad=True)
    h = (x * 2.0).retain_grad()
    g = h * 3.0                                       # not retained
    (g * h).sum().backward()                          # loss = 3 h^2: dloss/dh = 6 h
    np.testing.assert_allclose(h.grad, 6 * h.data)
    np.testing.assert_allclose(x.grad, 12 * h.data)
    assert g.grad is None


# ---- dtypes --------------------------------------------------------------------------------
def test_tensor_dtype_rules():
    """float32/float64 arrays keep their dtype; lists, ints and Python floats become float32."""
    assert Tensor(np.zeros(2, dtype=np.float64)).dtype == np.float64
    assert Tensor(np.zeros(2, dtype=np.float32)).dtype == np.float32
    assert Tensor(np.zeros(2, dtype=np.int64)).dtype == np.float32
    assert Tensor([1, 2]).dtype == np.float32
    assert Tensor([1.5, 2.5]).dtype == np.float32
    assert Tensor(2.5).dtype == np.float32


def small_net():
    return nn.Sequential({
        "conv1": nn.Conv2d(3, 4, 3, padding=1),       # (N, 4, 8, 8)
        "relu1": nn.ReLU(),
        "pool1": nn.MaxPool2d(2),                     # (N, 4, 4, 4)
        "conv2": nn.Conv2d(4, 4, 3, stride=2, padding=1),   # (N, 4, 2, 2)
        "relu2": nn.ReLU(),
        "flatten": nn.Flatten(),                      # (N, 16)
        "fc1": nn.Linear(16, 5),
    })


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_end_to_end(dtype):
    """float32 in -> float32 everywhere; model.double() + float64 in -> float64 everywhere."""
    minicnn.manual_seed(0)
    net = small_net() if dtype == np.float32 else small_net().double()
    x = Tensor(randn(2, 3, 8, 8).astype(dtype), requires_grad=True)
    acts = net.activations(x)
    loss = F.cross_entropy(acts["fc1"] * 0.5 - 1.0, np.array([1, 3]))
    loss.backward()
    assert loss.dtype == dtype
    for name, a in acts.items():
        assert a.dtype == dtype and a.grad.dtype == dtype, name
    for name, p in net.named_parameters():
        assert p.dtype == dtype and p.grad.dtype == dtype, name
    assert x.grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ops_keep_the_dtype(dtype):
    x = Tensor(randn(2, 3).astype(dtype), requires_grad=True)
    outputs = [x + 1, 2 - x, x * 0.5, -x, x.sum(), x.mean(axis=0), x.reshape(3, 2), x[0],
               F.softmax(x), F.log_softmax(x), F.relu(x), x @ Tensor(np.ones((3, 2), dtype=dtype))]
    for k, out in enumerate(outputs):
        out.backward(np.ones(out.shape))
        assert out.dtype == dtype and x.grad.dtype == dtype, k


def test_module_double_and_float():
    net = small_net()
    assert all(p.dtype == np.float32 for p in net.parameters())
    net.double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())
