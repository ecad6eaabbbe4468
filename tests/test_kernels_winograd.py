"""Winograd's F(2x2, 3x3) and F(4x4, 3x3) (m = 2, 4): the tile transforms
(fast/kernels/winograd.py, winograd4.py) against their plain twins written with matrix
products (fast/kernels/naive.py), each transform and its adjoint as a transpose pair, the
filter transform, and the twins put together as a convolution.

Runs as plain Python too: NUMBA_DISABLE_JIT=1 python -m pytest tests/test_kernels_winograd.py
"""
import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from kernel_calls import (
    FORMS,
    fast_winograd_input,
    fast_winograd_input_adjoint,
    fast_winograd_output,
    fast_winograd_output_adjoint,
    spares,
    with_spares,
    without_spares,
)
from minicnn.fast.kernels.naive import (
    WINOGRAD,
    conv2d_naive,
    winograd_input_adjoint_naive,
    winograd_input_naive,
    winograd_output_adjoint_naive,
    winograd_output_naive,
    winograd_tiles,
)
from minicnn.fast.winograd import transform_filters, transform_filters_adjoint

both_forms = pytest.mark.parametrize("m", [2, 4])                      # F(2x2, 3x3), F(4x4, 3x3)


winograd_shapes = dict(
    N=st.integers(1, 3), C=st.integers(1, 3), H=st.integers(1, 7), W=st.integers(1, 7),
    padding=st.integers(0, 2), seed=st.integers(0, 2 ** 16),
)


def winograd_assume(H, W, padding):
    assume(H + 2 * padding >= 3 and W + 2 * padding >= 3)               # room for a 3x3 filter


def transform_tolerance(dtype, m=2):
    """F(4x4, 3x3)'s transforms multiply by up to 8 (two of them: up to 100 for an input of 1),
    so its float32 rounding is about 10x F(2x2, 3x3)'s."""
    if dtype == np.float64:
        return 1e-12 if m == 2 else 1e-11
    return 1e-5 if m == 2 else 1e-4


@both_forms
@settings(deadline=None, max_examples=40)
@given(dtype=st.sampled_from([np.float64, np.float32]), **winograd_shapes)
@example(N=1, C=1, H=1, W=2, padding=1, dtype=np.float64, seed=0)       # one tile, mostly padding
@example(N=2, C=3, H=7, W=4, padding=0, dtype=np.float32, seed=0)       # odd H: the last tile overhangs
def test_winograd_input_matches_naive(m, N, C, H, W, padding, dtype, seed):
    winograd_assume(H, W, padding)
    x = np.random.default_rng(seed).standard_normal((N, C, H, W)).astype(dtype)
    V = fast_winograd_input(x, padding, m)
    assert V.dtype == dtype
    TH, TW = winograd_tiles(H, padding, m), winograd_tiles(W, padding, m)
    assert np.isfinite(spares(V, N, TH, TW)).all()                      # junk, but never NaN or inf
    tolerance = transform_tolerance(dtype, m)
    np.testing.assert_allclose(without_spares(V, N, TH, TW), winograd_input_naive(x, padding, m),
                               rtol=tolerance, atol=tolerance)


@both_forms
@settings(deadline=None, max_examples=40)
@given(dtype=st.sampled_from([np.float64, np.float32]), **winograd_shapes)
@example(N=1, C=1, H=2, W=1, padding=1, dtype=np.float64, seed=0)
@example(N=3, C=2, H=5, W=6, padding=2, dtype=np.float32, seed=0)
def test_winograd_input_adjoint_matches_naive(m, N, C, H, W, padding, dtype, seed):
    """With zero gradient in the spare slots (what the backward hands it), the adjoint
    is the twin's."""
    winograd_assume(H, W, padding)
    TH, TW = winograd_tiles(H, padding, m), winograd_tiles(W, padding, m)
    dV = np.random.default_rng(seed).standard_normal(((m + 2) ** 2, C, N * TH * TW)).astype(dtype)
    dx = fast_winograd_input_adjoint(with_spares(dV, N, TH, TW, 0.0), padding, N, C, H, W, m)
    assert dx.dtype == dtype
    tolerance = transform_tolerance(dtype, m)
    np.testing.assert_allclose(dx, winograd_input_adjoint_naive(dV, padding, N, C, H, W, m),
                               rtol=tolerance, atol=tolerance)


winograd_output_shapes = dict(
    N=st.integers(1, 3), F_=st.integers(1, 3), OH=st.integers(1, 8), OW=st.integers(1, 8),
    seed=st.integers(0, 2 ** 16),
)


@both_forms
@settings(deadline=None, max_examples=40)
@given(dtype=st.sampled_from([np.float64, np.float32]), **winograd_output_shapes)
@example(N=1, F_=1, OH=1, OW=1, dtype=np.float64, seed=0)               # one tile, cropped to 1x1
@example(N=3, F_=2, OH=6, OW=2, dtype=np.float32, seed=0)
def test_winograd_output_matches_naive(m, N, F_, OH, OW, dtype, seed):
    """The twin's m x m blocks, cropped to OH x OW, plus the bias. The spare slots hold NaN
    here: a single one read would show."""
    rng = np.random.default_rng(seed)
    TH, TW = -(-OH // m), -(-OW // m)
    M = rng.standard_normal(((m + 2) ** 2, F_, N * TH * TW)).astype(dtype)
    bias = rng.standard_normal(F_).astype(dtype)
    out = fast_winograd_output(with_spares(M, N, TH, TW, np.nan), bias, N, OH, OW, m)
    assert out.dtype == dtype
    expected = winograd_output_naive(M, N, TH, TW, m)[:, :, :OH, :OW] + bias[:, None, None]
    tolerance = transform_tolerance(dtype, m)
    np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance)


@both_forms
@settings(deadline=None, max_examples=40)
@given(dtype=st.sampled_from([np.float64, np.float32]), **winograd_output_shapes)
@example(N=2, F_=3, OH=1, OW=8, dtype=np.float32, seed=0)
@example(N=1, F_=2, OH=5, OW=3, dtype=np.float64, seed=0)               # odd: blocks overhang
def test_winograd_output_adjoint_matches_naive(m, N, F_, OH, OW, dtype, seed):
    """The twin on the gradient padded with zeros to whole m x m blocks; 0 in the spare slots."""
    dout = np.random.default_rng(seed).standard_normal((N, F_, OH, OW)).astype(dtype)
    dM = fast_winograd_output_adjoint(dout, m)
    assert dM.dtype == dtype
    TH, TW = -(-OH // m), -(-OW // m)
    assert (spares(dM, N, TH, TW) == 0).all()
    whole_blocks = np.zeros((N, F_, m * TH, m * TW), dtype=dtype)
    whole_blocks[:, :, :OH, :OW] = dout
    tolerance = transform_tolerance(dtype, m)
    np.testing.assert_allclose(without_spares(dM, N, TH, TW), winograd_output_adjoint_naive(whole_blocks, m),
                               rtol=tolerance, atol=tolerance)


@both_forms
@settings(deadline=None, max_examples=40)
@given(**winograd_shapes)
@example(N=1, C=1, H=1, W=1, padding=1, seed=0)                         # a single pixel, padded
def test_winograd_input_and_its_adjoint_are_adjoint(m, N, C, H, W, padding, seed):
    """<winograd_input(x), dV> == <x, winograd_input_adjoint(dV)>, spare slots included: the
    adjoint is the transpose, so the backward computes exactly the gradient of the forward."""
    winograd_assume(H, W, padding)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    V = fast_winograd_input(x, padding, m)
    dV = rng.standard_normal(V.shape)
    dx = fast_winograd_input_adjoint(dV, padding, N, C, H, W, m)
    np.testing.assert_allclose(np.sum(V * dV), np.sum(x * dx), rtol=1e-10, atol=1e-10)


@both_forms
@settings(deadline=None, max_examples=40)
@given(**winograd_output_shapes)
def test_winograd_output_and_its_adjoint_are_adjoint(m, N, F_, OH, OW, seed):
    """<winograd_output(M), dout> == <M, winograd_output_adjoint(dout)>, in float64, spare
    slots included (without the bias, which is not linear in M)."""
    rng = np.random.default_rng(seed)
    M = rng.standard_normal(((m + 2) ** 2, F_, N * -(-OH // m) * (-(-OW // m) + 1)))
    out = fast_winograd_output(M, np.zeros(F_), N, OH, OW, m)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(np.sum(out * dout), np.sum(M * fast_winograd_output_adjoint(dout, m)),
                               rtol=1e-10, atol=1e-10)


@both_forms
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("F_, C", [(1, 1), (3, 2), (4, 5)])
def test_winograd_filters_are_G_g_GT(m, F_, C, dtype):
    G, k = WINOGRAD[m][1], (m + 2) ** 2
    w = np.random.default_rng(F_ * C).standard_normal((F_, C, 3, 3)).astype(dtype)
    U = transform_filters(w, FORMS[m])                                  # (k, F, C)
    assert U.shape == (k, F_, C) and U.dtype == dtype
    tolerance = transform_tolerance(dtype, m)
    for f in range(F_):
        for c in range(C):
            np.testing.assert_allclose(U[:, f, c], (G @ w[f, c] @ G.T).reshape(k),
                                       rtol=tolerance, atol=tolerance)


@both_forms
@pytest.mark.parametrize("F_, C", [(1, 1), (3, 2), (4, 5)])
def test_winograd_filters_transform_and_its_adjoint_are_adjoint(m, F_, C):
    form = FORMS[m]
    rng = np.random.default_rng(F_ + C)
    w = rng.standard_normal((F_, C, 3, 3))
    dU = rng.standard_normal((form.k, F_, C))
    dw = transform_filters_adjoint(dU, form)
    assert dw.shape == w.shape
    np.testing.assert_allclose(np.sum(transform_filters(w, form) * dU), np.sum(w * dw),
                               rtol=1e-10, atol=1e-10)


@both_forms
@settings(deadline=None, max_examples=20)
@given(F_=st.integers(1, 3), **winograd_shapes)
def test_winograd_twins_compute_the_convolution(m, N, C, F_, H, W, padding, seed):
    """The plain twins alone, put together as in fast/winograd.py, give the six-loop convolution
    (so the twins are right, not just equal to the kernels)."""
    winograd_assume(H, W, padding)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F_, C, 3, 3))
    G = WINOGRAD[m][1]
    U = np.einsum("ai,fcij,bj->abfc", G, w, G).reshape((m + 2) ** 2, F_, C)   # G g G^T, every filter
    M = U @ winograd_input_naive(x, padding, m)                         # (k, F, N*TH*TW)
    out = winograd_output_naive(M, N, winograd_tiles(H, padding, m), winograd_tiles(W, padding, m), m)
    OH, OW = H + 2 * padding - 2, W + 2 * padding - 2
    np.testing.assert_allclose(out[:, :, :OH, :OW], conv2d_naive(x, w, None, 1, padding),
                               rtol=1e-12, atol=1e-12)
