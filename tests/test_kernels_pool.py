"""The max-pool kernels (fast/kernels/pool.py) against their plain-loop twins
(fast/kernels/naive.py), ties included.

Runs as plain Python too: NUMBA_DISABLE_JIT=1 python -m pytest tests/test_kernels_pool.py
"""
import numpy as np
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from kernel_calls import fast_maxpool_backward, fast_maxpool_forward
from minicnn.fast.kernels.naive import maxpool_backward_naive, maxpool_forward_naive
from minicnn.fast.kernels.pool import maxpool2x2_forward


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
