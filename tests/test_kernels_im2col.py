"""The im2col and col2im kernels (fast/kernels/im2col.py) against their plain-loop twins
(fast/kernels/naive.py), and col2im as the adjoint of im2col.

Runs as plain Python too: NUMBA_DISABLE_JIT=1 python -m pytest tests/test_kernels_im2col.py
"""
import numpy as np
from hypothesis import assume, example, given, settings

from kernel_calls import fast_col2im, fast_im2col, window_shapes
from minicnn.fast.kernels.naive import col2im_naive, im2col_naive
from minicnn.ops.checks import conv_output_size


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
    P = conv_output_size(H, KH, stride, padding) * conv_output_size(W, KW, stride, padding)
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
