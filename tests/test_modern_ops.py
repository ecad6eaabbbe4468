"""The ops of BatchNorm, dropout, average pooling and global average pooling, and label
smoothing: each against a plain-loop definition, float64 gradients against centred
differences, and bad input, on both routes."""
import numpy as np
import pytest

import minicnn
from minicnn.ops.avgpool import adaptive_avg_pool2d, avg_pool2d
from minicnn.ops.batchnorm import batch_norm
from minicnn.ops.dropout import dropout
from minicnn.ops.loss import cross_entropy
from minicnn.tensor import Tensor
from tests.gradcheck import check_gradients

pytestmark = pytest.mark.usefixtures("route")
rng = np.random.default_rng(0)


# ---- plain-loop definitions -------------------------------------------------------------
def batch_norm_loops(x, w, b, eps):
    """Per channel c, the mean and biased variance of every value x[n, c, ...]."""
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        values = [x[(n, c) + rest] for n in range(x.shape[0]) for rest in np.ndindex(x.shape[2:])]
        mu = sum(values) / len(values)
        var = sum((v - mu) ** 2 for v in values) / len(values)
        for n in range(x.shape[0]):
            for rest in np.ndindex(x.shape[2:]):
                out[(n, c) + rest] = w[c] * (x[(n, c) + rest] - mu) / np.sqrt(var + eps) + b[c]
    return out


def avg_pool_loops(x, K, S, P):
    N, C, H, W = x.shape
    xp = np.zeros((N, C, H + 2 * P, W + 2 * P))
    xp[:, :, P:P + H, P:P + W] = x
    OH, OW = (H + 2 * P - K) // S + 1, (W + 2 * P - K) // S + 1
    out = np.zeros((N, C, OH, OW))
    for n, c, oy, ox in np.ndindex(N, C, OH, OW):
        out[n, c, oy, ox] = sum(xp[n, c, oy * S + i, ox * S + j]
                                for i in range(K) for j in range(K)) / (K * K)
    return out


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3, 5), (3, 2, 4)])
def test_batch_norm_train_matches_loops_and_updates_running_stats(shape):
    x = rng.standard_normal(shape) * 3 + 2
    w, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    rm, rv = np.full(shape[1], 0.5), np.full(shape[1], 2.0)
    out = batch_norm(Tensor(x), rm, rv, Tensor(w), Tensor(b), training=True, momentum=0.3, eps=1e-3)
    np.testing.assert_allclose(out.data, batch_norm_loops(x, w, b, 1e-3), rtol=1e-12, atol=1e-12)
    axes = (0,) + tuple(range(2, x.ndim))
    m = x.size // shape[1]
    np.testing.assert_allclose(rm, 0.7 * 0.5 + 0.3 * x.mean(axis=axes), rtol=1e-12)
    unbiased = ((x - x.mean(axis=axes, keepdims=True)) ** 2).sum(axis=axes) / (m - 1)
    np.testing.assert_allclose(rv, 0.7 * 2.0 + 0.3 * unbiased, rtol=1e-12)


def test_batch_norm_eval_is_affine_with_running_stats():
    x = rng.standard_normal((3, 4, 2, 2))
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    rm, rv = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    before = rm.copy(), rv.copy()
    out = batch_norm(Tensor(x), rm, rv, Tensor(w), Tensor(b), training=False, eps=1e-5)
    expected = np.empty_like(x)
    for n, c, i, j in np.ndindex(x.shape):
        expected[n, c, i, j] = (x[n, c, i, j] - rm[c]) / np.sqrt(rv[c] + 1e-5) * w[c] + b[c]
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    np.testing.assert_array_equal(rm, before[0])            # eval never changes them
    np.testing.assert_array_equal(rv, before[1])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (3, 2, 3, 3)])
def test_batch_norm_gradients(training, shape):
    C = shape[1]
    rm, rv = rng.standard_normal(C), rng.uniform(0.5, 2, C)

    def f(x, w, b):      # fresh copies: training mode updates the running statistics
        return batch_norm(x, rm.copy(), rv.copy(), w, b, training=training, eps=1e-3)
    check_gradients(f, rng.standard_normal(shape) * 2 + 1, rng.standard_normal(C),
                    rng.standard_normal(C))


def test_batch_norm_without_affine_part_and_float32():
    x = rng.standard_normal((8, 3)).astype(np.float32)
    out = batch_norm(Tensor(x), None, None, training=True)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.data.var(axis=0), 1, atol=1e-3)
    check_gradients(lambda x: batch_norm(x, None, None, training=True), rng.standard_normal((5, 2)))


def test_batch_norm_errors():
    x = np.zeros((4, 3, 2, 2))
    with pytest.raises(ValueError, match=r"batch_norm: weight must have shape \(3,\) for 3 channels, got \(4,\)"):
        batch_norm(Tensor(x), None, None, Tensor(np.ones(4)), training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel, got input of shape \\(1, 3\\)"):
        batch_norm(Tensor(np.zeros((1, 3))), None, None, training=True)
    with pytest.raises(ValueError, match="eval mode .* needs running_mean"):
        batch_norm(Tensor(x), None, None, training=False)
    with pytest.raises(ValueError, match="momentum must be in \\[0, 1\\], got 1.5"):
        batch_norm(Tensor(x), np.zeros(3), np.ones(3), training=True, momentum=1.5)
    with pytest.raises(ValueError, match="eps must be > 0, got 0"):
        batch_norm(Tensor(x), np.zeros(3), np.ones(3), eps=0)
    with pytest.raises(TypeError, match="batch_norm: input must be float32 or float64, got int64"):
        batch_norm(np.zeros((4, 3), dtype=np.int64), None, None, training=True)


def test_dropout_mask_scale_seed_and_eval():
    x = rng.standard_normal((200, 50))
    minicnn.manual_seed(7)
    a = dropout(Tensor(x), 0.3)
    minicnn.manual_seed(7)
    b = dropout(Tensor(x), 0.3)
    np.testing.assert_array_equal(a.data, b.data)               # the seed decides the mask
    kept = a.data != 0
    assert abs(kept.mean() - 0.7) < 0.02                         # P(keep) = 1 - p
    np.testing.assert_allclose(a.data[kept], x[kept] / 0.7, rtol=1e-12)
    np.testing.assert_array_equal(dropout(Tensor(x), 0.3, training=False).data, x)
    np.testing.assert_array_equal(dropout(Tensor(x), 1.0).data, 0)
    t = Tensor(x, requires_grad=True)
    minicnn.manual_seed(7)
    dropout(t, 0.3).backward(np.ones_like(x))
    np.testing.assert_allclose(t.grad, kept / 0.7, rtol=1e-12)  # gradient through kept values
    with pytest.raises(ValueError, match="dropout: p must be a probability in \\[0, 1\\], got 1.2"):
        dropout(Tensor(x), 1.2)


@pytest.mark.parametrize("K, S, P, hw", [(2, 2, 0, (4, 6)), (3, 1, 1, (5, 5)), (3, 2, 0, (7, 6))])
def test_avg_pool_matches_loops_and_gradients(K, S, P, hw):
    x = rng.standard_normal((2, 3) + hw)
    np.testing.assert_allclose(avg_pool2d(Tensor(x), K, S, P).data, avg_pool_loops(x, K, S, P),
                               rtol=1e-12)
    check_gradients(lambda t: avg_pool2d(t, K, S, P), x)


def test_global_avg_pool_matches_loops_and_gradients():
    x = rng.standard_normal((2, 3, 4, 5))
    out = adaptive_avg_pool2d(Tensor(x), 1).data
    assert out.shape == (2, 3, 1, 1)
    for n, c in np.ndindex(2, 3):
        assert np.isclose(out[n, c, 0, 0], sum(x[n, c].ravel()) / 20, rtol=1e-12)
    check_gradients(lambda t: adaptive_avg_pool2d(t, (1, 1)), x)


def test_pool_errors():
    x = Tensor(np.zeros((1, 2, 3, 3)))
    with pytest.raises(ValueError, match="avg_pool2d: kernel 4x4 is larger than the padded input 3x3"):
        avg_pool2d(x, 4)
    with pytest.raises(TypeError, match="avg_pool2d: stride must be an integer, got 1.5"):
        avg_pool2d(x, 2, 1.5)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: only output_size 1 .* got 2"):
        adaptive_avg_pool2d(x, 2)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: input must be 4-D"):
        adaptive_avg_pool2d(Tensor(np.zeros((2, 3))))


@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
def test_label_smoothing_matches_its_definition_and_gradients(eps):
    z, y = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    q = np.full((5, 4), eps / 4)
    q[np.arange(5), y] += 1 - eps
    logp = z - z.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    assert np.isclose(cross_entropy(Tensor(z), y, label_smoothing=eps).item(),
                      -(q * logp).sum() / 5, rtol=1e-12)
    check_gradients(lambda t: cross_entropy(t, y, label_smoothing=eps), z)
    with pytest.raises(ValueError, match="cross_entropy: label_smoothing must be in \\[0, 1\\], got -0.1"):
        cross_entropy(Tensor(z), y, label_smoothing=-0.1)
