"""The ReLU loops (fast/kernels/relu.py) against the plain route's NumPy one-liners
(ops/relu.py), which are the definitions of the three rules.

Runs as plain Python too: NUMBA_DISABLE_JIT=1 python -m pytest tests/test_kernels_relu.py
"""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn.fast.kernels import relu as loops
from minicnn.ops import relu as plain


# Inputs hold exact zeros (the kink: the gradient there is 0 under every rule) and,
# forward, a NaN (kept a NaN).
RULES = ["relu_backward_normal", "relu_backward_deconv", "relu_backward_guided"]


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
def test_relu_forward_matches_the_plain_one(size, seed, dtype):
    x = relu_input(size, seed, dtype)
    x[size // 2] = np.nan
    out = np.full_like(x, 7.0)                                         # every entry must be written
    loops.relu_forward(x, out)
    np.testing.assert_array_equal(out, plain.relu_forward(x))          # NaN where x is NaN


@settings(deadline=None, max_examples=30)
@given(size=st.integers(1, 200), seed=st.integers(0, 2 ** 16),
       dtype=st.sampled_from([np.float64, np.float32]),
       rule=st.sampled_from(RULES))
def test_relu_backward_rules_match_the_plain_rules(size, seed, dtype, rule):
    x, dout = relu_input(size, seed, dtype), relu_input(size, seed + 1, dtype)
    dx = np.full_like(dout, 7.0)
    getattr(loops, rule)(x, dout, dx)
    np.testing.assert_array_equal(dx, getattr(plain, rule)(x, dout))
