"""The numba kernels against their plain-loop twins (minicnn/kernels/naive.py), the ReLU loops
against the NumPy definitions of the rules, im2col/col2im and the Winograd transforms as adjoint
maps, and conv2d (by im2col and by Winograd) against the direct six-loop convolution.

Runs as plain Python too: NUMBA_DISABLE_JIT=1 python -m pytest tests/test_kernels.py
"""
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import minicnn.functional as F
import minicnn.ops.conv as conv_module
import minicnn.ops.winograd as winograd_module
from minicnn import parallel
from minicnn.kernels.im2col import col2im, im2col
from minicnn.kernels.naive import (
    G,
    col2im_naive,
    conv2d_naive,
    im2col_naive,
    maxpool_backward_naive,
    maxpool_forward_naive,
    winograd_input_adjoint_naive,
    winograd_input_naive,
    winograd_output_adjoint_naive,
    winograd_output_naive,
    winograd_tiles,
)
from minicnn.kernels.pool import maxpool2x2_forward, maxpool_backward, maxpool_forward
from minicnn.kernels.winograd import (
    winograd_input,
    winograd_input_adjoint,
    winograd_output,
    winograd_output_adjoint,
)
from minicnn.ops.relu import (relu_backward_deconv, relu_backward_guided, relu_backward_normal,
                              relu_forward)
from minicnn.ops.winograd import transform_filters, transform_filters_adjoint
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


def with_spares(A, N, TH, TW, spare):
    """(16, R, N*TH*TW) in the twins' layout -> the kernels' (16, R, N*TH*(TW + 1)): each row
    of tiles gets its spare slot (kernels/winograd.py), filled with `spare`."""
    R = A.shape[1]
    slots = np.full((16, R, N, TH, TW + 1), spare, dtype=A.dtype)
    slots[..., :TW] = A.reshape(16, R, N, TH, TW)
    return slots.reshape(16, R, N * TH * (TW + 1))


def without_spares(A, N, TH, TW):
    """The kernels' layout -> the twins': drops the spare slots."""
    R = A.shape[1]
    return A.reshape(16, R, N, TH, TW + 1)[..., :TW].reshape(16, R, N * TH * TW)


def spares(A, N, TH, TW):
    """The kernels' layout -> only the spare slots: (16, R, N, TH)."""
    return A.reshape(16, A.shape[1], N, TH, TW + 1)[..., TW]


def fast_winograd_input(x, padding):
    """The kernel's V, spare slots included: (16, C, N*TH*(TW + 1))."""
    N, C, H, W = x.shape
    slots = N * winograd_tiles(H, padding) * (winograd_tiles(W, padding) + 1)
    V = np.full((16, C, slots), np.nan, dtype=x.dtype)                  # every entry must be written
    return winograd_input(x, padding, V)


def fast_winograd_input_adjoint(dV, padding, N, C, H, W):
    """dV in the kernel's layout, spare slots included."""
    dx = np.full((N, C, H, W), np.nan, dtype=dV.dtype)                  # must be overwritten
    return winograd_input_adjoint(dV, padding, dx)


def fast_winograd_output(M, bias, N, OH, OW):
    """M in the kernel's layout, spare slots included."""
    out = np.full((N, M.shape[1], OH, OW), np.nan, dtype=M.dtype)       # must be overwritten
    return winograd_output(M, bias, out)


def fast_winograd_output_adjoint(dout):
    """The kernel's dM, spare slots included."""
    N, F, OH, OW = dout.shape
    slots = N * ((OH + 1) // 2) * ((OW + 1) // 2 + 1)
    dM = np.full((16, F, slots), np.nan, dtype=dout.dtype)              # must be overwritten
    return winograd_output_adjoint(dout, dM)


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


# The ReLU loops (ops/relu.py) against the NumPy definitions of the rules. Inputs hold exact
# zeros (the kink: the gradient there is 0 under every rule) and, forward, a NaN (kept a NaN).
RELU_DEFINITIONS = {
    relu_backward_normal: lambda x, dout: dout * (x > 0),
    relu_backward_deconv: lambda x, dout: np.maximum(dout, 0),
    relu_backward_guided: lambda x, dout: np.maximum(dout, 0) * (x > 0),
}


def relu_input(size, seed, dtype):
    """Random values with about one in four set to exactly 0 (+0.0 or -0.0)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(size).astype(dtype)
    x[rng.random(size) < 0.25] = 0
    x[rng.random(size) < 0.1] = -0.0
    return x


@settings(deadline=None, max_examples=30)
@given(size=st.integers(1, 200), seed=st.integers(0, 2 ** 16),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_relu_forward_matches_maximum(size, seed, dtype):
    x = relu_input(size, seed, dtype)
    x[size // 2] = np.nan
    out = np.full_like(x, 7.0)                                         # every entry must be written
    relu_forward(x, out)
    np.testing.assert_array_equal(out, np.maximum(x, 0))               # NaN where x is NaN


@settings(deadline=None, max_examples=30)
@given(size=st.integers(1, 200), seed=st.integers(0, 2 ** 16),
       dtype=st.sampled_from([np.float64, np.float32]),
       rule=st.sampled_from(sorted(RELU_DEFINITIONS, key=lambda f: f.__name__)))
def test_relu_backward_rules_match_their_definitions(size, seed, dtype, rule):
    x, dout = relu_input(size, seed, dtype), relu_input(size, seed + 1, dtype)
    dx = np.full_like(dout, 7.0)
    rule(x, dout, dx)
    np.testing.assert_array_equal(dx, RELU_DEFINITIONS[rule](x, dout))


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
@given(N=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(2, 9), W=st.integers(2, 9),
       seed=st.integers(0, 2 ** 16), ties=st.booleans(), dtype=st.sampled_from([np.float64, np.float32]))
@example(N=1, C=1, H=2, W=2, seed=0, ties=True, dtype=np.float64)
@example(N=2, C=3, H=5, W=7, seed=0, ties=True, dtype=np.float32)       # odd: the last row, column left out
def test_maxpool2x2_forward_matches_naive(N, C, H, W, seed, ties, dtype):
    x = pool_input(N, C, H, W, seed, ties).astype(dtype)
    out = np.full((N, C, H // 2, W // 2), np.nan, dtype=dtype)          # every entry must be written
    switches = np.full(out.shape, -1, dtype=np.int64)
    maxpool2x2_forward(x, out, switches)
    out_naive, switches_naive = maxpool_forward_naive(x, 2, 2, 2, 2)
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


# ---- Winograd F(2x2, 3x3): the tile transforms, then the whole convolution --------------------
winograd_shapes = dict(
    N=st.integers(1, 3), C=st.integers(1, 3), H=st.integers(1, 7), W=st.integers(1, 7),
    padding=st.integers(0, 2), seed=st.integers(0, 2 ** 16),
)


def winograd_assume(H, W, padding):
    assume(H + 2 * padding >= 3 and W + 2 * padding >= 3)               # room for a 3x3 filter


def transform_tolerance(dtype):
    return 1e-12 if dtype == np.float64 else 1e-5


@settings(deadline=None, max_examples=40)
@given(dtype=st.sampled_from([np.float64, np.float32]), **winograd_shapes)
@example(N=1, C=1, H=1, W=2, padding=1, dtype=np.float64, seed=0)       # one tile, mostly padding
@example(N=2, C=3, H=7, W=4, padding=0, dtype=np.float32, seed=0)       # odd H: the last tile overhangs
def test_winograd_input_matches_naive(N, C, H, W, padding, dtype, seed):
    winograd_assume(H, W, padding)
    x = np.random.default_rng(seed).standard_normal((N, C, H, W)).astype(dtype)
    V = fast_winograd_input(x, padding)
    assert V.dtype == dtype
    TH, TW = winograd_tiles(H, padding), winograd_tiles(W, padding)
    assert np.isfinite(spares(V, N, TH, TW)).all()                      # junk, but never NaN or inf
    tolerance = transform_tolerance(dtype)
    np.testing.assert_allclose(without_spares(V, N, TH, TW), winograd_input_naive(x, padding),
                               rtol=tolerance, atol=tolerance)


@settings(deadline=None, max_examples=40)
@given(dtype=st.sampled_from([np.float64, np.float32]), **winograd_shapes)
@example(N=1, C=1, H=2, W=1, padding=1, dtype=np.float64, seed=0)
@example(N=3, C=2, H=5, W=6, padding=2, dtype=np.float32, seed=0)
def test_winograd_input_adjoint_matches_naive(N, C, H, W, padding, dtype, seed):
    """With zero gradient in the spare slots (what the backward hands it), the adjoint
    is the twin's."""
    winograd_assume(H, W, padding)
    TH, TW = winograd_tiles(H, padding), winograd_tiles(W, padding)
    dV = np.random.default_rng(seed).standard_normal((16, C, N * TH * TW)).astype(dtype)
    dx = fast_winograd_input_adjoint(with_spares(dV, N, TH, TW, 0.0), padding, N, C, H, W)
    assert dx.dtype == dtype
    tolerance = transform_tolerance(dtype)
    np.testing.assert_allclose(dx, winograd_input_adjoint_naive(dV, padding, N, C, H, W),
                               rtol=tolerance, atol=tolerance)


winograd_output_shapes = dict(
    N=st.integers(1, 3), F_=st.integers(1, 3), OH=st.integers(1, 8), OW=st.integers(1, 8),
    seed=st.integers(0, 2 ** 16),
)


@settings(deadline=None, max_examples=40)
@given(dtype=st.sampled_from([np.float64, np.float32]), **winograd_output_shapes)
@example(N=1, F_=1, OH=1, OW=1, dtype=np.float64, seed=0)               # one tile, cropped to 1x1
@example(N=3, F_=2, OH=6, OW=2, dtype=np.float32, seed=0)
def test_winograd_output_matches_naive(N, F_, OH, OW, dtype, seed):
    """The twin's 2x2 blocks, cropped to OH x OW, plus the bias. The spare slots hold NaN
    here: a single one read would show."""
    rng = np.random.default_rng(seed)
    TH, TW = (OH + 1) // 2, (OW + 1) // 2
    M = rng.standard_normal((16, F_, N * TH * TW)).astype(dtype)
    bias = rng.standard_normal(F_).astype(dtype)
    out = fast_winograd_output(with_spares(M, N, TH, TW, np.nan), bias, N, OH, OW)
    assert out.dtype == dtype
    expected = winograd_output_naive(M, N, TH, TW)[:, :, :OH, :OW] + bias[:, None, None]
    tolerance = transform_tolerance(dtype)
    np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance)


@settings(deadline=None, max_examples=40)
@given(dtype=st.sampled_from([np.float64, np.float32]), **winograd_output_shapes)
@example(N=2, F_=3, OH=1, OW=8, dtype=np.float32, seed=0)
@example(N=1, F_=2, OH=5, OW=3, dtype=np.float64, seed=0)               # odd: blocks overhang
def test_winograd_output_adjoint_matches_naive(N, F_, OH, OW, dtype, seed):
    """The twin on the gradient padded with zeros to whole 2x2 blocks; 0 in the spare slots."""
    dout = np.random.default_rng(seed).standard_normal((N, F_, OH, OW)).astype(dtype)
    dM = fast_winograd_output_adjoint(dout)
    assert dM.dtype == dtype
    TH, TW = (OH + 1) // 2, (OW + 1) // 2
    assert (spares(dM, N, TH, TW) == 0).all()
    whole_blocks = np.zeros((N, F_, 2 * TH, 2 * TW), dtype=dtype)
    whole_blocks[:, :, :OH, :OW] = dout
    tolerance = transform_tolerance(dtype)
    np.testing.assert_allclose(without_spares(dM, N, TH, TW), winograd_output_adjoint_naive(whole_blocks),
                               rtol=tolerance, atol=tolerance)


@settings(deadline=None, max_examples=40)
@given(**winograd_shapes)
@example(N=1, C=1, H=1, W=1, padding=1, seed=0)                         # a single pixel, padded
def test_winograd_input_and_its_adjoint_are_adjoint(N, C, H, W, padding, seed):
    """<winograd_input(x), dV> == <x, winograd_input_adjoint(dV)>, spare slots included: the
    adjoint is the transpose, so the backward computes exactly the gradient of the forward."""
    winograd_assume(H, W, padding)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    V = fast_winograd_input(x, padding)
    dV = rng.standard_normal(V.shape)
    dx = fast_winograd_input_adjoint(dV, padding, N, C, H, W)
    np.testing.assert_allclose(np.sum(V * dV), np.sum(x * dx), rtol=1e-10, atol=1e-10)


@settings(deadline=None, max_examples=40)
@given(**winograd_output_shapes)
def test_winograd_output_and_its_adjoint_are_adjoint(N, F_, OH, OW, seed):
    """<winograd_output(M), dout> == <M, winograd_output_adjoint(dout)>, in float64, spare
    slots included (without the bias, which is not linear in M)."""
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((16, F_, N * ((OH + 1) // 2) * ((OW + 1) // 2 + 1)))
    out = fast_winograd_output(M, np.zeros(F_), N, OH, OW)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(np.sum(out * dout), np.sum(M * fast_winograd_output_adjoint(dout)),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("F_, C", [(1, 1), (3, 2), (4, 5)])
def test_winograd_filters_are_G_g_GT(F_, C, dtype):
    w = np.random.default_rng(F_ * C).standard_normal((F_, C, 3, 3)).astype(dtype)
    U = transform_filters(w)                                            # (16, F, C)
    assert U.shape == (16, F_, C) and U.dtype == dtype
    tolerance = transform_tolerance(dtype)
    for f in range(F_):
        for c in range(C):
            np.testing.assert_allclose(U[:, f, c], (G @ w[f, c] @ G.T).reshape(16),
                                       rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("F_, C", [(1, 1), (3, 2), (4, 5)])
def test_winograd_filters_transform_and_its_adjoint_are_adjoint(F_, C):
    rng = np.random.default_rng(F_ + C)
    w = rng.standard_normal((F_, C, 3, 3))
    dU = rng.standard_normal((16, F_, C))
    dw = transform_filters_adjoint(dU)
    assert dw.shape == w.shape
    np.testing.assert_allclose(np.sum(transform_filters(w) * dU), np.sum(w * dw), rtol=1e-10, atol=1e-10)


@settings(deadline=None, max_examples=20)
@given(F_=st.integers(1, 3), **winograd_shapes)
def test_winograd_twins_compute_the_convolution(N, C, F_, H, W, padding, seed):
    """The plain twins alone, put together as in ops/winograd.py, give the six-loop convolution
    (so the twins are right, not just equal to the kernels)."""
    winograd_assume(H, W, padding)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F_, C, 3, 3))
    U = np.einsum("ai,fcij,bj->abfc", G, w, G).reshape(16, F_, C)       # G g G^T for every filter
    M = U @ winograd_input_naive(x, padding)                            # (16, F, N*TH*TW)
    out = winograd_output_naive(M, N, winograd_tiles(H, padding), winograd_tiles(W, padding))
    OH, OW = H + 2 * padding - 2, W + 2 * padding - 2
    np.testing.assert_allclose(out[:, :, :OH, :OW], conv2d_naive(x, w, None, 1, padding),
                               rtol=1e-12, atol=1e-12)


@contextmanager
def always_winograd():
    """Send every 3x3 stride-1 convolution down the Winograd route, whatever its channels.
    (A context manager: hypothesis tests cannot share the function-scoped monkeypatch fixture.)"""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conv_module, "WINOGRAD_MIN_CHANNELS", 1)
        yield


@settings(deadline=None, max_examples=30)
@given(F_=st.integers(1, 3), bias=st.booleans(), dtype=st.sampled_from([np.float64, np.float32]),
       **winograd_shapes)
@example(N=1, C=1, F_=1, H=1, W=1, padding=1, bias=True, dtype=np.float64, seed=0)    # OH = OW = 1
@example(N=3, C=2, F_=2, H=7, W=5, padding=0, bias=False, dtype=np.float32, seed=0)   # odd OH, OW
@example(N=2, C=3, F_=3, H=4, W=6, padding=2, bias=True, dtype=np.float64, seed=0)
def test_conv2d_by_winograd_matches_six_loops(N, C, F_, H, W, padding, bias, dtype, seed):
    winograd_assume(H, W, padding)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F_, C, 3, 3)).astype(dtype)
    b = rng.standard_normal(F_).astype(dtype) if bias else None
    with always_winograd():
        out = F.conv2d(Tensor(x, requires_grad=True), Tensor(w), None if b is None else Tensor(b),
                       stride=1, padding=padding)
    assert out.ctx.winograd                                             # the route under test
    assert out.dtype == dtype
    expected = conv2d_naive(x.astype(np.float64), w.astype(np.float64), b, 1, padding)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out.data, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("images_per_tile", [1, 2, 3])
def test_winograd_in_tiles_equals_one_tile(monkeypatch, images_per_tile):
    """Like test_conv2d_in_tiles_equals_one_tile, for the Winograd route: it transforms a few
    images at a time (ops/winograd.py's TILE_BYTES), in the forward and again in the backward."""
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(parallel, "WORKERS", 1)                         # one share: only tiles split
    rng = np.random.default_rng(0)
    N, C, F_, H, W = 5, 3, 4, 6, 7                                      # 3 x 4 tiles per image
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F_, C, 3, 3))
    b = rng.standard_normal(F_)
    dout = rng.standard_normal((N, F_, H, W))                           # padding 1: same size

    def run():
        xt, wt, bt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
        out = F.conv2d(xt, wt, bt, stride=1, padding=1)
        assert out.ctx.winograd
        out.backward(dout)
        return out.data, xt.grad, wt.grad, bt.grad

    whole = run()                                       # the default: 5 small images fit one tile
    slots = 3 * 5                                       # 3 rows of 4 tiles and a spare slot
    one_image = 16 * (C + F_) * slots * 8               # V and M of one image: 16 x (C + F) x Q x 8 bytes
    monkeypatch.setattr(winograd_module, "TILE_BYTES", images_per_tile * one_image)
    V_buffer, _ = winograd_module.buffers(N, C, F_, slots, np.float64)
    assert len(V_buffer) == images_per_tile * 16 * C * slots          # the split under test
    tiled = run()
    for got, want in zip(tiled, whole):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(whole[0], conv2d_naive(x, w, b, 1, 1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("needs", [(True, False, False), (False, True, False), (False, False, True),
                                   (True, False, True)], ids=["x", "w", "b", "x,b"])
def test_winograd_gradients_asked_for_alone_equal_im2col(monkeypatch, needs):
    """With only some inputs requiring grad (so forward keeps no V, or backward skips dx), the
    gradients asked for are those of the im2col route."""
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 3, 5, 6)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    dout = rng.standard_normal((2, 2, 5, 6))

    def grads():
        tensors = [Tensor(a, requires_grad=need) for a, need in zip((x, w, b), needs)]
        out = F.conv2d(*tensors, stride=1, padding=1)
        out.backward(dout)
        return out.ctx.winograd, [t.grad for t in tensors]

    by_im2col, expected = grads()
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_CHANNELS", 1)
    by_winograd, got = grads()
    assert (by_im2col, by_winograd) == (False, True)
    for g, e, need in zip(got, expected, needs):
        assert (g is None) == (not need)
        if need:
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("C, KH, stride, padding, winograd", [
    (24, 3, 1, 1, True),                # the threshold, WINOGRAD_MIN_CHANNELS
    (25, 3, 1, 0, True),
    (23, 3, 1, 1, False),               # too few channels to pay
    (3, 3, 1, 1, False),                # RGB
    (24, 3, 2, 1, False),               # stride 2
    (24, 5, 1, 2, False),               # 5x5 filters
])
def test_conv2d_takes_the_winograd_route_by_default(C, KH, stride, padding, winograd):
    """With the default threshold, 3x3 stride-1 layers with 24 channels or more use Winograd;
    either way the result is the six-loop convolution."""
    assert conv_module.WINOGRAD_MIN_CHANNELS == 24, "the channel counts below straddle the default"
    rng = np.random.default_rng(C)
    x = rng.standard_normal((2, C, 5, 4))
    w = rng.standard_normal((2, C, KH, KH))
    b = rng.standard_normal(2)
    out = F.conv2d(Tensor(x, requires_grad=True), Tensor(w), Tensor(b), stride=stride, padding=padding)
    assert out.ctx.winograd is winograd
    np.testing.assert_allclose(out.data, conv2d_naive(x, w, b, stride, padding), rtol=1e-12, atol=1e-12)
