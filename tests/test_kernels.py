"""The numba kernels against their plain-loop twins (minicnn/kernels/naive.py), im2col/col2im
as adjoint maps, and conv2d against the direct six-loop convolution.

Runs as plain Python too: NUMBA_DISABLE_JIT=1 python -m pytest tests/test_kernels.py
"""
import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import minicnn.functional as F
import minicnn.ops.conv as conv_module
from minicnn.kernels.im2col import col2im, im2col
from minicnn.kernels.naive import (
    col2im_naive,
    conv2d_naive,
    im2col_naive,
    maxpool_backward_naive,
    maxpool_forward_naive,
)
from minicnn.kernels.pool import maxpool_backward, maxpool_forward
from minicnn.tensor import Tensor


def out_size(size, kernel, stride, padding=0):
    return (size + 2 * padding - kernel) // stride + 1


# The fast kernels' calling conventions, in one place.
def fast_im2col(x, KH, KW, stride, padding):
    N, C, H, W = x.shape
    OH, OW = out_size(H, KH, stride, padding), out_size(W, KW, stride, padding)
    cols = np.full((N, C * KH * KW, OH * OW), np.nan, dtype=x.dtype)   # every entry must be written
    return im2col(x, KH, KW, stride, padding, OH, OW, cols)


def fast_col2im(cols, N, C, H, W, KH, KW, stride, padding):
    dx = np.full((N, C, H, W), np.nan, dtype=cols.dtype)                # col2im must overwrite it
    return col2im(cols, KH, KW, stride, padding,
                  out_size(H, KH, stride, padding), out_size(W, KW, stride, padding), dx)


def fast_maxpool_forward(x, KH, KW, SH, SW):
    N, C, H, W = x.shape
    shape = (N, C, out_size(H, KH, SH), out_size(W, KW, SW))
    out = np.full(shape, np.nan, dtype=x.dtype)                         # every entry must be written
    switches = np.full(shape, -1, dtype=np.int64)
    return maxpool_forward(x, KH, KW, SH, SW, out, switches)


def fast_maxpool_backward(dout, switches, H, W):
    N, C = dout.shape[:2]
    dx = np.full((N, C, H * W), np.nan, dtype=dout.dtype)               # must be overwritten
    return maxpool_backward(dout, switches, dx).reshape(N, C, H, W)


window_shapes = dict(
    N=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(1, 6), W=st.integers(1, 6),
    KH=st.integers(1, 4), KW=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 2),
    seed=st.integers(0, 2 ** 16),
)


@settings(deadline=None, max_examples=40)
@given(**window_shapes)
@example(N=1, C=1, H=1, W=1, KH=1, KW=1, stride=1, padding=0, seed=0)          # the smallest case
@example(N=2, C=2, H=3, W=5, KH=3, KW=2, stride=2, padding=2, seed=0)          # rectangular everything
def test_im2col_matches_naive(N, C, H, W, KH, KW, stride, padding, seed):
    assume(KH <= H + 2 * padding and KW <= W + 2 * padding)
    x = np.random.default_rng(seed).standard_normal((N, C, H, W))
    np.testing.assert_array_equal(fast_im2col(x, KH, KW, stride, padding),
                                  im2col_naive(x, KH, KW, stride, padding))


@settings(deadline=None, max_examples=40)
@given(**window_shapes)
@example(N=1, C=1, H=4, W=4, KH=3, KW=3, stride=1, padding=2, seed=0)          # windows mostly padding
def test_col2im_matches_naive(N, C, H, W, KH, KW, stride, padding, seed):
    assume(KH <= H + 2 * padding and KW <= W + 2 * padding)
    P = out_size(H, KH, stride, padding) * out_size(W, KW, stride, padding)
    cols = np.random.default_rng(seed).standard_normal((N, C * KH * KW, P))
    np.testing.assert_allclose(fast_col2im(cols, N, C, H, W, KH, KW, stride, padding),
                               col2im_naive(cols, N, C, H, W, KH, KW, stride, padding),
                               rtol=1e-12, atol=1e-12)


@settings(deadline=None, max_examples=40)
@given(**window_shapes)
def test_im2col_and_col2im_are_adjoint(N, C, H, W, KH, KW, stride, padding, seed):
    """<im2col(x), y> == <x, col2im(y)>: col2im is the transpose of im2col."""
    assume(KH <= H + 2 * padding and KW <= W + 2 * padding)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    cols = fast_im2col(x, KH, KW, stride, padding)
    y = rng.standard_normal(cols.shape)
    lhs = np.sum(cols * y)
    rhs = np.sum(x * fast_col2im(y, N, C, H, W, KH, KW, stride, padding))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


pool_shapes = dict(
    N=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(1, 7), W=st.integers(1, 7),
    KH=st.integers(1, 3), KW=st.integers(1, 3), SH=st.integers(1, 3), SW=st.integers(1, 3),
    seed=st.integers(0, 2 ** 16), ties=st.booleans(),
)


def pool_input(N, C, H, W, seed, ties):
    """Random values, or small integers so that most windows hold ties."""
    rng = np.random.default_rng(seed)
    if ties:
        return rng.integers(0, 3, size=(N, C, H, W)).astype(np.float64)
    return rng.standard_normal((N, C, H, W))


@settings(deadline=None, max_examples=40)
@given(**pool_shapes)
@example(N=1, C=1, H=4, W=4, KH=2, KW=2, SH=2, SW=2, seed=0, ties=True)
def test_maxpool_forward_matches_naive(N, C, H, W, KH, KW, SH, SW, seed, ties):
    assume(KH <= H and KW <= W)
    x = pool_input(N, C, H, W, seed, ties)
    out, switches = fast_maxpool_forward(x, KH, KW, SH, SW)
    out_naive, switches_naive = maxpool_forward_naive(x, KH, KW, SH, SW)
    np.testing.assert_array_equal(out, out_naive)
    np.testing.assert_array_equal(switches, switches_naive)


@settings(deadline=None, max_examples=40)
@given(**pool_shapes)
def test_maxpool_backward_matches_naive(N, C, H, W, KH, KW, SH, SW, seed, ties):
    assume(KH <= H and KW <= W)
    _, switches = maxpool_forward_naive(pool_input(N, C, H, W, seed, ties), KH, KW, SH, SW)
    dout = np.random.default_rng(seed + 1).standard_normal(switches.shape)
    np.testing.assert_allclose(fast_maxpool_backward(dout, switches, H, W),
                               maxpool_backward_naive(dout, switches, H, W), rtol=1e-12, atol=1e-12)


@settings(deadline=None, max_examples=30)
@given(F_=st.integers(1, 3), bias=st.booleans(), dtype=st.sampled_from([np.float64, np.float32]),
       **window_shapes)
@example(N=1, C=3, F_=2, bias=True, dtype=np.float32, H=5, W=3, KH=2, KW=3, stride=1, padding=1, seed=0)
def test_conv2d_matches_six_loops(N, C, F_, bias, dtype, H, W, KH, KW, stride, padding, seed):
    assume(KH <= H + 2 * padding and KW <= W + 2 * padding)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F_, C, KH, KW)).astype(dtype)
    b = rng.standard_normal(F_).astype(dtype) if bias else None
    b_tensor = None if b is None else Tensor(b)
    out = F.conv2d(Tensor(x), Tensor(w), b_tensor, stride=stride, padding=padding)
    assert out.dtype == dtype
    expected = conv2d_naive(x.astype(np.float64), w.astype(np.float64), b, stride, padding)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out.data, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("images_per_tile", [1, 2, 3])
def test_conv2d_in_tiles_equals_one_tile(monkeypatch, images_per_tile):
    """The convolution lays out a few images' columns at a time (TILE_BYTES). Forward and all
    three gradients must not depend on where the tiles split the batch (5 images: the last
    tile is short for 2 and 3 per tile)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3, 6, 7))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    dout = rng.standard_normal((5, 4, 3, 4))

    def run():
        xt, wt, bt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
        out = F.conv2d(xt, wt, bt, stride=2, padding=1)
        out.backward(dout)
        return out.data, xt.grad, wt.grad, bt.grad

    whole = run()                                       # the default: 5 small images fit one tile
    one_image = 3 * 3 * 3 * 3 * 4 * 8                   # C*KH*KW rows x OH*OW columns x 8 bytes
    monkeypatch.setattr(conv_module, "TILE_BYTES", images_per_tile * one_image)
    tiled = run()
    for got, want in zip(tiled, whole):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(whole[0], conv2d_naive(x, w, b, 2, 1), rtol=1e-12, atol=1e-12)
