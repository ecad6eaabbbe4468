"""Forward values against closed forms: numerically stable softmax and cross-entropy for huge
logits, and max-pool's documented tie-breaking (the first maximum in row-major order)."""
import numpy as np
import pytest

import minicnn.functional as F
from minicnn.tensor import Tensor

pytestmark = pytest.mark.usefixtures("route")     # every test on both routes


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ---- softmax and cross-entropy --------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label, loss, dz", [(0, 0.0, [0.0, 0.0]), (1, 2e4, [1.0, -1.0])])
def test_cross_entropy_of_huge_logits(dtype, label, loss, dz):
    """logits [1e4, -1e4]: softmax is [1, 0] exactly, so the loss is 0 or 2e4 and the
    gradient softmax - onehot is [0, 0] or [1, -1]."""
    z = Tensor(np.array([[1e4, -1e4]], dtype=dtype), requires_grad=True)
    out = F.cross_entropy(z, np.array([label]))
    out.backward()
    assert np.isfinite(out.item()) and np.isfinite(z.grad).all()
    assert out.item() == pytest.approx(loss, abs=1e-6)
    np.testing.assert_allclose(z.grad, [dz], atol=1e-6)


def test_cross_entropy_of_huge_logits_averages_over_the_batch():
    z = Tensor(np.array([[1e4, -1e4], [1e4, -1e4]]), requires_grad=True)
    out = F.cross_entropy(z, np.array([0, 1]))
    out.backward()
    assert out.item() == pytest.approx(1e4)
    np.testing.assert_allclose(z.grad, [[0, 0], [0.5, -0.5]], atol=1e-12)


def test_cross_entropy_matches_its_definition():
    z, labels = 3 * randn(5, 4), np.array([0, 3, 1, 1, 2])
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)          # fine for moderate logits
    expected = -np.mean(np.log(p[np.arange(5), labels]))
    assert F.cross_entropy(Tensor(z), labels).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("labels", [[2, 0], np.array([2, 0], dtype=np.uint8),
                                    np.array([2, 0], dtype=np.int32)], ids=["list", "uint8", "int32"])
def test_cross_entropy_accepts_any_integer_labels(labels):
    z = randn(2, 3)
    expected = -np.log(np.exp(z[[0, 1], [2, 0]]) / np.exp(z).sum(axis=1)).mean()
    assert F.cross_entropy(Tensor(z), labels).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_of_huge_logits(dtype):
    z = np.array([[1e4, 1e4 - 1, -1e4], [-1e4, -1e4, -1e4], [5e3, -5e3, 0.0]], dtype=dtype)
    p = F.softmax(Tensor(z)).data
    e = np.exp(-1.0)
    expected = [[1 / (1 + e), e / (1 + e), 0], [1 / 3, 1 / 3, 1 / 3], [1, 0, 0]]
    assert p.dtype == dtype and np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(p, expected, rtol=1e-6, atol=1e-30)


def test_log_softmax_of_huge_logits():
    z = np.array([[1e4, 1e4 - 1, -1e4]])
    logp = F.log_softmax(Tensor(z)).data
    log_norm = np.log1p(np.exp(-1.0))                                # log(1 + e^-1)
    np.testing.assert_allclose(logp, [[-log_norm, -1 - log_norm, -2e4 - log_norm]], rtol=1e-12)


def test_softmax_along_axis_0():
    z = randn(3, 4)
    expected = np.exp(z) / np.exp(z).sum(axis=0, keepdims=True)
    np.testing.assert_allclose(F.softmax(Tensor(z), axis=0).data, expected, rtol=1e-12)


def test_linear_matches_its_definition():
    x, w, b = randn(4, 5, seed=1), randn(3, 5, seed=2), randn(3, seed=3)
    expected = np.einsum("nd,md->nm", x, w) + b
    np.testing.assert_allclose(F.linear(Tensor(x), Tensor(w), Tensor(b)).data, expected, rtol=1e-12)
    np.testing.assert_allclose(F.linear(Tensor(x), Tensor(w)).data, expected - b, rtol=1e-12)


def test_relu_forward():
    x = np.array([-2.0, -0.0, 0.0, 1e-30, 3.0])
    np.testing.assert_array_equal(F.relu(Tensor(x)).data, [0, 0, 0, 1e-30, 3])


# ---- max-pool ------------------------------------------------------------------------------------
def pool_grad(x, kernel_size, stride=None):
    """Forward output and the gradient at x of sum(max_pool2d(x)) (every dout is 1)."""
    x = Tensor(np.asarray(x, dtype=np.float64)[None, None], requires_grad=True)
    out = F.max_pool2d(x, kernel_size, stride)
    out.sum().backward()
    return out.data[0, 0], x.grad[0, 0]


def test_max_pool_forward_is_the_window_maximum():
    x = randn(2, 3, 6, 4)
    expected = x.reshape(2, 3, 3, 2, 2, 2).max(axis=(3, 5))           # 2x2 windows, stride 2
    np.testing.assert_array_equal(F.max_pool2d(Tensor(x), 2).data, expected)


def test_max_pool_all_equal_window_picks_the_top_left():
    out, dx = pool_grad(np.full((4, 6), 7.0), 2)
    np.testing.assert_array_equal(out, np.full((2, 3), 7.0))
    expected = np.zeros((4, 6))
    expected[::2, ::2] = 1                                            # the top-left of each window
    np.testing.assert_array_equal(dx, expected)


def test_max_pool_all_equal_overlapping_windows():
    _, dx = pool_grad(np.ones((3, 3)), 2, stride=1)     # windows at (0,0), (0,1), (1,0), (1,1)
    np.testing.assert_array_equal(dx, [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


@pytest.mark.parametrize("window, winner", [
    ([[0, 5], [5, 0]], (0, 1)),        # top-most wins over left-most
    ([[1, 0], [5, 5]], (1, 0)),        # then left-most
    ([[5, 1], [1, 5]], (0, 0)),
    ([[2, 3, 3], [3, 1, 3], [0, 3, 3]], (0, 1)),
])
def test_max_pool_ties_go_to_the_first_maximum_in_row_major_order(window, winner):
    window = np.array(window, dtype=np.float64)
    out, dx = pool_grad(window, window.shape)
    expected = np.zeros_like(window)
    expected[winner] = 1
    assert out[0, 0] == window.max()
    np.testing.assert_array_equal(dx, expected)


def test_max_pool_ties_in_float32_with_negative_values():
    x = Tensor(np.full((1, 2, 2, 2), -3.0, dtype=np.float32), requires_grad=True)
    F.max_pool2d(x, 2).backward(np.array([[[[2.0]], [[5.0]]]], dtype=np.float32))
    np.testing.assert_array_equal(x.grad[0, :, 0, 0], [2, 5])
    assert np.count_nonzero(x.grad) == 2 and x.grad.dtype == np.float32


# ---- memory layouts ----------------------------------------------------------------------------------
def layouts(x):
    """The same values as views and copies of every kind the kernels might be handed."""
    read_only = x.copy()
    read_only.setflags(write=False)
    wide = np.zeros(x.shape[:3] + (2 * x.shape[3],))
    wide[..., ::2] = x
    return {"fortran": np.asfortranarray(x), "read-only": read_only, "strided": wide[..., ::2],
            "transposed": x.transpose(0, 1, 3, 2).copy().transpose(0, 1, 3, 2)}


def test_conv2d_and_max_pool2d_accept_any_memory_layout():
    x, w, dout = randn(2, 3, 6, 5, seed=1), randn(4, 3, 3, 2, seed=2), randn(2, 4, 3, 3, seed=3)

    def run(x, w, dout):
        xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        out = F.max_pool2d(F.conv2d(xt, wt, stride=1, padding=1), 2, 2)
        out.backward(dout)
        return out.data, xt.grad, wt.grad

    expected = run(x, w, dout)
    xs, ws, douts = layouts(x), layouts(w), layouts(dout)
    for name in xs:
        for got, want in zip(run(xs[name], ws[name], douts[name]), expected):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=name)
