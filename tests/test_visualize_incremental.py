"""Occluded copies run on their changed windows only (visualize/incremental.py) give the
outputs of the whole copies, on nets of every local geometry, in float64."""
import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minicnn import nn
from minicnn.models import reference_net
from minicnn.tensor import Tensor, no_grad
from minicnn.visualize import occlusion
from minicnn.visualize.incremental import changed_outputs, occluded_logits


def whole_copies(model, image, corners, size, value):
    """The reference: every occluded copy made in full and run through the model. size: an
    int (a square) or (h, w)."""
    h, w = (size, size) if np.ndim(size) == 0 else size
    copies = np.repeat(image[None], len(corners), axis=0)          # (B, C, H, W)
    for b, (top, left) in enumerate(corners):
        copies[b, :, top:top + h, left:left + w] = value
    with no_grad():
        return model(Tensor(copies)).data


@settings(deadline=None, max_examples=200)
@given(K=st.integers(1, 4), S=st.integers(1, 3), P=st.integers(0, 2), n=st.integers(1, 12),
       data=st.data())
def test_changed_outputs_hold_every_output_that_reads_a_changed_row(K, S, P, n, data):
    assume(K <= n + 2 * P)
    out_size = (n + 2 * P - K) // S + 1
    size = data.draw(st.integers(1, n))
    first = np.array(data.draw(st.lists(st.integers(0, n - size), min_size=1, max_size=5)))
    lo, new_size = changed_outputs(first, size, K, S, P, out_size)
    assert 1 <= new_size <= out_size
    assert np.all(lo >= 0) and np.all(lo + new_size <= out_size)
    for b, y in enumerate(first):
        for o in range(out_size):               # output o reads rows o*S - P .. o*S - P + K - 1
            reads = set(range(o * S - P, o * S - P + K))
            if reads & set(range(y, y + size)):
                assert lo[b] <= o < lo[b] + new_size, (b, o)


def local_net(rng, layers, C=2, classes=5, H=11):
    """Random local layers on (C, H, H) images, then Flatten and Linear; float64."""
    named, size = {}, H
    for i, (kind, K, S, P) in enumerate(layers):
        if kind == "conv":
            F = int(rng.integers(1, 4))
            named[f"conv{i}"], C = nn.Conv2d(C, F, K, stride=S, padding=P), F
            size = (size + 2 * P - K) // S + 1
        elif kind == "pool":
            named[f"pool{i}"] = nn.MaxPool2d(K, stride=S)
            size = (size - K) // S + 1
        else:
            named[f"relu{i}"] = nn.ReLU()
        if size < 1:
            return None
    named["flatten"] = nn.Flatten()
    named["fc"] = nn.Linear(C * size * size, classes)
    net = nn.Sequential(named).double()
    for p in net.parameters():
        p.data = rng.standard_normal(p.shape)
    return net


layer = st.tuples(st.sampled_from(["conv", "pool", "relu"]), st.integers(1, 3),
                  st.integers(1, 3), st.integers(0, 1))


@settings(deadline=None, max_examples=60)
@given(layers=st.lists(layer, min_size=1, max_size=5), seed=st.integers(0, 2**16),
       h=st.integers(1, 6), w=st.integers(1, 6), stride=st.integers(1, 4))
def test_windows_give_the_outputs_of_whole_copies(layers, seed, h, w, stride):
    """Squares and rectangles, painted one colour."""
    rng = np.random.default_rng(seed)
    layers = [(kind, K, S, P if kind == "conv" else 0) for kind, K, S, P in layers]
    net = local_net(rng, layers)
    assume(net is not None)
    image = rng.standard_normal((2, 11, 11))
    value = rng.standard_normal((2, 1, 1))
    size = h if h == w else (h, w)
    corners = [(i, j) for i in range(0, 11 - h + 1, stride)
               for j in range(0, 11 - w + 1, stride)]
    got = occluded_logits(net, image, corners, size, value)
    np.testing.assert_allclose(got, whole_copies(net, image, corners, size, value),
                               rtol=1e-10, atol=1e-10)


def test_reference_net_windows_through_winograd_match_whole_copies():
    net = reference_net().double()                # conv2..conv4 take the Winograd route
    rng = np.random.default_rng(0)
    image, value = rng.standard_normal((3, 32, 32)), rng.standard_normal((3, 1, 1))
    corners = [(0, 0), (0, 28), (13, 5), (28, 28), (27, 1), (6, 17)]
    got = occluded_logits(net, image, corners, 4, value)
    np.testing.assert_allclose(got, whole_copies(net, image, corners, 4, value),
                               rtol=1e-9, atol=1e-9)


def test_incremental_occlusion_map_equals_the_whole_copies_map_in_float32():
    net = reference_net()
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    fast, base = occlusion(net, x, [3, 5], size=4, stride=3, fill="mean", batch_size=50)
    slow, base_slow = occlusion(net, x, [3, 5], size=4, stride=3, fill="mean",
                                incremental=False)
    np.testing.assert_array_equal(base, base_slow)
    np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-7)
