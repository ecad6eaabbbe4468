"""The fingerprint that tells whether kept filters changed (fast/kernels/fingerprint.py,
fast/kept.py) against its twin with Python's integers (kernels/naive.py).

Runs as plain Python too: NUMBA_DISABLE_JIT=1 python -m pytest tests/test_kernels_fingerprint.py
"""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn.fast.kept import fingerprint_of
from minicnn.fast.kernels.fingerprint import fingerprint
from minicnn.fast.kernels.naive import fingerprint_naive


@settings(deadline=None, max_examples=40)
@given(size=st.integers(0, 300), seed=st.integers(0, 2 ** 16),
       dtype=st.sampled_from([np.uint64, np.uint8]))
def test_fingerprint_matches_its_twin(size, seed, dtype):
    words = np.random.default_rng(seed).integers(0, np.iinfo(dtype).max, size, dtype=dtype,
                                                 endpoint=True)
    assert int(fingerprint(words)) == fingerprint_naive(words)


@settings(deadline=None, max_examples=60)
@given(size=st.integers(1, 300), seed=st.integers(0, 2 ** 16), data=st.data())
def test_changing_any_one_word_changes_the_fingerprint(size, seed, data):
    words = np.random.default_rng(seed).integers(0, 2 ** 64 - 1, size, dtype=np.uint64, endpoint=True)
    i = data.draw(st.integers(0, size - 1))
    new = data.draw(st.integers(0, 2 ** 64 - 1).filter(lambda v: v != int(words[i])))
    changed = words.copy()
    changed[i] = new
    assert fingerprint(changed) != fingerprint(words)


def test_swapped_words_and_nearby_values_change_the_fingerprint():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    seen = fingerprint_of(w)
    swapped = w.copy()
    swapped[0, 0, 0, [0, 1]] = swapped[0, 0, 0, [1, 0]]                # two values trade places
    nudged = w.copy()
    nudged[5, 2, 1, 1] = np.nextafter(nudged[5, 2, 1, 1], np.float32(np.inf))   # one ulp
    assert fingerprint_of(swapped) != seen and fingerprint_of(nudged) != seen
    assert fingerprint_of(w.copy()) == seen                             # the values, not the array


def test_fingerprint_of_any_layout_and_size():
    """Every byte counts, whatever the array's order in memory and however many bytes."""
    rng = np.random.default_rng(1)
    for shape, dtype in [((4, 3, 3, 3), np.float32), ((3, 3, 3, 3), np.float32),   # 324, 243 words
                         ((2, 5, 1, 1), np.float64)]:
        w = rng.standard_normal(shape).astype(dtype)
        flat = np.ascontiguousarray(w).reshape(-1)
        words = flat.view(np.uint64 if flat.nbytes % 8 == 0 else np.uint8)
        assert fingerprint_of(w) == fingerprint_naive(words)
        turned = np.asfortranarray(w)                                   # the same values, other order
        assert fingerprint_of(turned) == fingerprint_of(w)
