"""Top-k streaming against a brute-force scan of the whole dataset.

The arithmetic is made exact so that "equal" means equal whatever the batch size (BLAS may
round a float32 sum differently for a batch of 1 and a batch of 7): the images are black
and white (pixels 0 or 255, so with mean 0 and std 1 the inputs are exactly 0 and 1) and
the weights small integers, so every activation is an exactly represented integer. That
also makes ties common, across images and across positions.
"""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn import nn
from minicnn.tensor import Tensor, no_grad
from minicnn.visualize import crop_top, receptive_field, top_activations
from minicnn.visualize.images import to_input

MEAN, STD = np.zeros(3, np.float32), np.ones(3, np.float32)


def small_net(seed):
    rng = np.random.default_rng(seed)
    net = nn.Sequential({
        "conv1": nn.Conv2d(3, 4, 3, padding=1), "relu1": nn.ReLU(), "pool1": nn.MaxPool2d(2),
        "conv2": nn.Conv2d(4, 5, 3), "relu2": nn.ReLU(),
        "flatten": nn.Flatten(), "fc1": nn.Linear(5 * 3 * 3, 3)})
    for p in net.parameters():
        p.data = rng.integers(-2, 3, p.shape).astype(np.float32)
    net.meta = {"mean": MEAN.tolist(), "std": STD.tolist()}
    return net


def binary_images(seed, N, size=10):
    return 255 * np.random.default_rng(seed).integers(0, 2, (N, 3, size, size), dtype=np.uint8)


def brute_force(net, images, layer, k):
    """Every image's maximum per channel, then each channel's k best by (value desc, index asc)."""
    with no_grad():
        act = net.activations(Tensor(to_input(images, MEAN, STD)), [layer])[layer].data
    if act.ndim == 2:
        act = act[:, :, None, None]
    N, C, OH, OW = act.shape
    index, value, ys, xs = [], [], [], []
    for c in range(C):
        best = []
        for n in range(N):
            flat = act[n, c].ravel()
            pos = int(np.argmax(flat))           # first maximum in row-major order
            best.append((-flat[pos], n, pos))
        best.sort()
        best = best[:k]
        index.append([b[1] for b in best])
        value.append([-b[0] for b in best])
        ys.append([b[2] // OW for b in best])
        xs.append([b[2] % OW for b in best])
    return [np.array(a) for a in (index, value, ys, xs)]


@settings(deadline=None, max_examples=20)
@given(seed=st.integers(0, 1000), N=st.integers(1, 30), batch=st.integers(1, 11),
       k=st.integers(1, 9), repeats=st.booleans())
def test_streaming_equals_brute_force(seed, N, batch, k, repeats):
    net = small_net(seed)
    images = binary_images(seed, N)
    if repeats:
        # repeated images tie on every channel: the lower index must rank first
        images = images[np.random.default_rng(seed).integers(0, max(1, N // 3), N)]
    tops = top_activations(net, images, ["conv1", "relu2", "fc1"], k=k, batch_size=batch)
    for layer, top in tops.items():
        index, value, y, x = brute_force(net, images, layer, k)
        np.testing.assert_array_equal(top.index, index)
        np.testing.assert_array_equal(top.value, value)
        np.testing.assert_array_equal(top.y, y)
        np.testing.assert_array_equal(top.x, x)
        assert top.index.shape == (value.shape[0], min(k, N))


def test_an_iterable_of_batches_equals_the_array():
    net = small_net(1)
    images = binary_images(2, 23)
    stream = (images[i:i + 4] for i in range(0, 23, 4))
    a = top_activations(net, images, "relu2", k=5, batch_size=7)
    b = top_activations(net, stream, "relu2", k=5)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_crops_are_the_receptive_fields():
    net = small_net(3)
    images = np.random.default_rng(4).integers(0, 256, (12, 3, 10, 10), dtype=np.uint8)
    top = top_activations(net, images, "relu2", k=3)
    crops = crop_top(net, images, top, "relu2", channels=[0, 4])
    for row, c in zip(crops, [0, 4]):
        for crop, n, y, x in zip(row, top.index[c], top.y[c], top.x[c]):
            y0, y1, x0, x1 = receptive_field(net, "relu2", y, x, (10, 10))
            np.testing.assert_array_equal(crop, images[n, :, y0:y1, x0:x1])
            assert crop.shape[0] == 3 and crop.size > 0
