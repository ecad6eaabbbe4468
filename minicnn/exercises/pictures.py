"""What the exercises' pictures share: the shipped net, a few test images, the adapters that
plug a student's cache-free functions into minicnn/ops/, and saving.

Every picture is computed on the plain route (`minicnn.plain()`, or `route.replaced`, which
implies it): no numba kernel is compiled while the checker waits, and the ops the student
replaces are exactly the ones of minicnn/ops/. A student writes cache-free functions
(conv_forward(x, w, b, stride, padding), conv_backward(dout, x, w, b, stride, padding)); the
plain route's functions take a ctx, where forward saves what backward needs. The adapters
here do that saving:

    with route.replaced(conv_adapters(fns.conv_forward, fns.conv_backward)):
        maps = visualize.saliency(model, x, y)          # every convolution is theirs
"""
from types import SimpleNamespace

import numpy as np

import minicnn
from minicnn import visualize as vis
from minicnn.ops import conv, linear, pool
from minicnn.plots import save_figure


def shipped(name="reference_net"):
    """The network shipped with minicnn (its weights are in the package)."""
    return minicnn.models.pretrained(name)


def images(model, data=None, count=4, seed=0):
    """`count` CIFAR-10 test images of different classes that `model` classifies correctly,
    or made-up images when no CIFAR-10 is at hand (this never downloads).

    Returns a namespace: x (count, 3, 32, 32) normalised float32, y (count,) the true
    classes (-1 for made-up images), target (count,) the class the net gives each image
    (for test images, the true one), rgb (count, 32, 32, 3) for display, titles, `source`,
    a few words on where the images came from, and `note`, how to get test images instead
    (empty when they are test images).
    """
    from minicnn.data import DataError, load_cifar10
    mean, std = vis.input_stats(model)
    classes = vis.model_classes(model)
    try:
        cifar = load_cifar10(data, download=False, progress=False)
    except DataError:
        cifar = None
    if cifar is None:
        x = vis.to_input(made_up_images(count), mean, std)
        with minicnn.plain():
            target = predictions(model, x)
        return SimpleNamespace(x=x, y=np.full(count, -1), target=target,
                               rgb=vis.to_rgb(x, mean, std),
                               titles=[f"made-up image {n + 1}\n(net: {classes[k]})"
                                       for n, k in enumerate(target)],
                               source="made-up images",
                               note=" (no CIFAR-10 at hand: pass --data PATH or set "
                                    "MINICNN_DATA to draw on test images)")
    pick = np.sort(np.random.default_rng(seed).permutation(len(cifar.test_x))[:10 * count])
    x = vis.to_input(cifar.test_x[pick], mean, std)
    y = cifar.test_y[pick]
    with minicnn.plain():
        predicted = predictions(model, x)
    chosen = []                                        # correct, one per class
    for n in np.nonzero(predicted == y)[0]:
        if len(chosen) < count and y[n] not in y[chosen]:
            chosen.append(n)
    x, y = x[chosen], y[chosen]
    return SimpleNamespace(x=x, y=y, target=y, rgb=vis.to_rgb(x, mean, std),
                           titles=[classes[k] for k in y], source="CIFAR-10 test images",
                           note="")


def made_up_images(count):
    """(count, 3, 32, 32) uint8 pictures with an edge and a coloured disc (lesson 01's)."""
    rows, cols = np.mgrid[0:32, 0:32]
    colours = np.array([[0.9, 0.1, 0.1], [0.1, 0.6, 0.9], [0.2, 0.8, 0.2], [0.9, 0.8, 0.1]])
    out = []
    for n in range(count):
        edge = rows > cols if n % 2 == 0 else rows + cols > 31
        pixels = np.where(edge, 0.8, 0.2)[None].repeat(3, axis=0)
        cy, cx = 8 + (5 * n) % 16, 22 - (7 * n) % 14
        disc = (rows - cy) ** 2 + (cols - cx) ** 2 < 30
        pixels[:, disc] = colours[n % len(colours)][:, None]
        out.append((pixels * 255).astype(np.uint8))
    return np.stack(out)


def said(shown, text):
    """A picture's message, and how to draw it on test images when it was not."""
    return text + shown.note


def save(fig, out):
    """Write the figure as a PNG to `out`; returns the path."""
    return save_figure(fig, out)


def one_hot(y, K):
    """(N,) classes -> (N, K) with a 1 at each class: a dout that backprops a score."""
    dout = np.zeros((len(y), K))
    dout[np.arange(len(y)), y] = 1
    return dout


def predictions(model, x):
    """The class each image gets: (N,) on the plain route, with whatever is replaced."""
    with minicnn.no_grad():
        return model(minicnn.Tensor(x)).data.argmax(axis=1)


# ---- adapters: a student's cache-free functions with the ctx signatures of minicnn/ops ----


def conv_adapters(forward, backward):
    """{ops.conv.conv2d_forward: ..., ops.conv.conv2d_backward: ...} for route.replaced."""
    def conv2d_forward(ctx, x, w, b, stride, padding):
        b = np.zeros(len(w), dtype=w.dtype) if b is None else b
        ctx.student = x, w, b, stride, padding
        return np.asarray(forward(x, w, b, stride, padding), dtype=w.dtype)

    def conv2d_backward(ctx, dout):
        dx, dw, db = backward(dout, *ctx.student)
        return tuple(np.asarray(g, dtype=dout.dtype) for g in (dx, dw, db))

    return {conv.conv2d_forward: conv2d_forward, conv.conv2d_backward: conv2d_backward}


def linear_adapters(forward, backward):
    """{ops.linear.linear_forward: ..., ops.linear.linear_backward: ...}."""
    def linear_forward(ctx, x, w, b):
        b = np.zeros(len(w), dtype=w.dtype) if b is None else b
        ctx.student = x, w, b
        return np.asarray(forward(x, w, b), dtype=w.dtype)

    def linear_backward(ctx, dout):
        dx, dw, db = backward(dout, *ctx.student)
        return tuple(np.asarray(g, dtype=dout.dtype) for g in (dx, dw, db))

    return {linear.linear_forward: linear_forward, linear.linear_backward: linear_backward}


def pool_adapters(forward, backward):
    """{ops.pool.max_pool2d_forward: ..., ops.pool.max_pool2d_backward: ...} for square
    windows and strides (the exercise's max-pool takes one kernel size and one stride)."""
    def max_pool2d_forward(ctx, x, KH, KW, SH, SW):
        if KH != KW or SH != SW:
            raise ValueError(f"the exercise's max-pool takes square windows and strides, "
                             f"this layer has {KH}x{KW} with stride {SH}x{SW}")
        ctx.student = x, KH, SH
        return np.asarray(forward(x, KH, SH), dtype=x.dtype)

    def max_pool2d_backward(ctx, dout):
        return (np.asarray(backward(dout, *ctx.student), dtype=dout.dtype),)

    return {pool.max_pool2d_forward: max_pool2d_forward,
            pool.max_pool2d_backward: max_pool2d_backward}
