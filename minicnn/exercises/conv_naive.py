"""Exercise conv_naive (lesson 01): convolution written as loops, forward and backward.

The student writes conv_forward and conv_backward without a cache (backward gets the
forward's inputs again). The properties hold the forward to minicnn's plain conv2d_forward
and each gradient to central differences of it, on random shapes, strides and paddings.
The picture: conv1's 32 feature maps of a test image, computed by the student's forward.
"""
from types import SimpleNamespace

import numpy as np
from hypothesis import strategies as st

from minicnn.exercises.properties import (
    Property,
    compare,
    decimals,
    numerical_gradient,
    require,
    seeds,
    unpack,
)
from minicnn.ops import conv as ops_conv

TITLE = "convolution as loops: forward and backward, with stride and padding"
LESSON = "01_first_layer_neuron"
FUNCTIONS = {
    "conv_forward": ("x", "w", "b", "stride", "padding"),
    "conv_backward": ("dout", "x", "w", "b", "stride", "padding"),
}

SKELETON = '''\
"""Exercise conv_naive: convolution written as loops, forward and backward (lesson 01).

"A neuron in the first hidden layer computes a weighted sum of pixels in a patch of the
image for which it is responsible" (the lecture). Many units share one filter, each with
its own patch: K. Fukushima's Neocognitron (1980), trained by backprop in LeCun et al.,
"Backpropagation Applied to Handwritten Zip Code Recognition" (1989).

As in PyTorch and every deep learning library, the filter is not flipped (strictly, this is
a cross-correlation):

    out[n, f, oy, ox] = b[f] + sum_{c, i, j} w[f, c, i, j] * xp[n, c, oy*S + i, ox*S + j]

xp is x with `padding` rows and columns of zeros on every side, S is the stride, and

    OH = (H + 2*padding - KH) // S + 1        OW = (W + 2*padding - KW) // S + 1

Backward: dout = dL/dout arrives with out's shape. Every output used b[f], one window of
xp and the filter w[f], so the chain rule through the sum gives

    db[f]          = sum_{n, oy, ox} dout[n, f, oy, ox]
    dw[f, c, i, j] = sum_{n, oy, ox} dout[n, f, oy, ox] * xp[n, c, oy*S + i, ox*S + j]
    dxp[n, c, oy*S + i, ox*S + j]  +=  dout[n, f, oy, ox] * w[f, c, i, j]
                                       (for every f, oy, ox, i, j: windows overlap, so add)

and dx is dxp with the padding cropped off again, so that dx has x's shape.

Shapes: x (N, C, H, W); w (F, C, KH, KW), PyTorch's layout; b (F,); stride >= 1 and
padding >= 0 are ints, the same along height and width. H and W may differ, and so may
KH and KW. Loops over n, f, oy, ox (or more) are fine here, as in CS231n's
conv_forward_naive; exercise conv_im2col makes it fast.

Check your work:    minicnn exercise check conv_naive
When every property passes, the checker runs the shipped net's first layer with your
conv_forward and draws its 32 feature maps of a test image.
Only NumPy is needed.
"""
import numpy as np


def conv_forward(x, w, b, stride, padding):
    """
    Inputs:
    - x: (N, C, H, W) images
    - w: (F, C, KH, KW) filters
    - b: (F,) biases
    - stride, padding: ints
    Returns out: (N, F, OH, OW)
    Hints: np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding))) pads
    height and width only; window (oy, ox) is xp[n, :, oy*stride:oy*stride + KH,
    ox*stride:ox*stride + KW], of shape (C, KH, KW) like w[f].
    """
    raise NotImplementedError


def conv_backward(dout, x, w, b, stride, padding):
    """
    Inputs:
    - dout: (N, F, OH, OW) the gradient of the loss with respect to out
    - x, w, b, stride, padding: what conv_forward got
    Returns (dx, dw, db): (N, C, H, W), (F, C, KH, KW), (F,)
    Hints: loop over the same windows as in forward; for each, add dout[n, f, oy, ox]
    times the window to dw[f], and times w[f] to the window's place in dxp. Crop dxp to
    dx at the end: dxp[:, :, padding:padding + H, padding:padding + W].
    """
    raise NotImplementedError
'''


# ---- the reference solution ---------------------------------------------------------------

def conv_forward(x, w, b, stride, padding):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((N, F, OH, OW))
    for n in range(N):
        for f in range(F):
            for oy in range(OH):
                for ox in range(OW):
                    window = xp[n, :, oy * stride:oy * stride + KH, ox * stride:ox * stride + KW]
                    out[n, f, oy, ox] = (window * w[f]).sum() + b[f]
    return out


def conv_backward(dout, x, w, b, stride, padding):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    _, _, OH, OW = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for f in range(F):
            for oy in range(OH):
                for ox in range(OW):
                    rows = slice(oy * stride, oy * stride + KH)
                    cols = slice(ox * stride, ox * stride + KW)
                    dw[f] += dout[n, f, oy, ox] * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += dout[n, f, oy, ox] * w[f]
    return dxp[:, :, padding:padding + H, padding:padding + W], dw, db


# ---- properties ---------------------------------------------------------------------------

@st.composite
def conv_cases(draw, max_hw=4):
    """x, w, b, stride, padding: batch 1 or 2, rectangular images and kernels, any stride
    and padding for which at least one window fits."""
    N, C, F = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, padding = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    H = draw(st.integers(max(1, KH - 2 * padding), KH + max_hw))
    W = draw(st.integers(max(1, KW - 2 * padding), KW + max_hw))
    rng = np.random.default_rng(draw(seeds))
    return {"x": decimals(rng, (N, C, H, W)), "w": decimals(rng, (F, C, KH, KW)),
            "b": decimals(rng, (F,)), "stride": stride, "padding": padding}


def reference_forward(x, w, b, stride, padding):
    """minicnn's plain convolution (minicnn/ops/conv.py), float64."""
    return ops_conv.conv2d_forward(SimpleNamespace(), x, w, b, stride, padding)


@st.composite
def backward_cases(draw):
    """A conv case and a dout of its output's shape."""
    case = draw(conv_cases())
    rng = np.random.default_rng(draw(seeds))
    return {**case, "dout": decimals(rng, output_size(case))}


def output_size(case):
    N, C, H, W = case["x"].shape
    F, _, KH, KW = case["w"].shape
    S, P = case["stride"], case["padding"]
    return (N, F, (H + 2 * P - KH) // S + 1, (W + 2 * P - KW) // S + 1)


def check_shape(fns, case):
    out = np.asarray(fns.conv_forward(case["x"], case["w"], case["b"], case["stride"],
                                      case["padding"]))
    expected = output_size(case)
    require(out.shape == expected,
            f"conv_forward returned shape {out.shape}; expected {expected} for x "
            f"{case['x'].shape}, w {case['w'].shape}, stride {case['stride']}, padding "
            f"{case['padding']}: OH = (H + 2*padding - KH) // stride + 1")


def check_forward(fns, case):
    x, w, b, stride, padding = case["x"], case["w"], case["b"], case["stride"], case["padding"]
    flipped = reference_forward(x, w[:, :, ::-1, ::-1], b, stride, padding)
    compare("out", fns.conv_forward(x, w, b, stride, padding), reference_forward(**case),
            "conv_forward", looks_like=[
                ("you flipped the filter: that is convolution in the textbook sense; deep "
                 "learning libraries compute the cross-correlation, filter unflipped", flipped),
                ("the bias is missing", reference_forward(x, w, 0 * b, stride, padding))])


def gradient_check(fns, case, which):
    """Compare the student's d{which} with central differences of minicnn's forward."""
    args = {k: case[k] for k in ("x", "w", "b", "stride", "padding")}
    dout = case["dout"]
    dx, dw, db = unpack(fns.conv_backward(dout, *args.values()), ("dx", "dw", "db"),
                        "conv_backward")
    expected = numerical_gradient(reference_forward, args, which, dout)
    looks_like, wrong_shapes = [], []
    if which == "w":
        looks_like.append(("your dw is the right one flipped in both spatial axes (the filter "
                           "is not flipped in forward, so it is not in backward either)",
                           expected[:, :, ::-1, ::-1]))
    if which == "x":
        P = case["padding"]
        wrong_shapes.append((padded_shape(case["x"].shape, P), "your dx has the padded "
                             "input's shape: crop the padding off (dxp[:, :, P:P + H, P:P + W])"))
    if which == "b":
        looks_like.append(("your db is the mean of dout, not its sum",
                           expected / (dout.size / dout.shape[1])))
    compare(f"d{which}", {"x": dx, "w": dw, "b": db}[which], expected, "conv_backward",
            rtol=1e-5, looks_like=looks_like, wrong_shapes=wrong_shapes)


def padded_shape(shape, P):
    N, C, H, W = shape
    return (N, C, H + 2 * P, W + 2 * P)


PROPERTIES = [
    Property("output shape: (N, F, (H + 2P - KH) // S + 1, (W + 2P - KW) // S + 1)",
             conv_cases(), check_shape,
             "count the window positions: the last window must fit inside the padded input, "
             "so OH = (H + 2*padding - KH) // stride + 1 (integer division)."),
    Property("forward: every output is b[f] plus the filter's dot product with its window",
             conv_cases(), check_forward,
             "out[n, f, oy, ox] = (xp[n, :, oy*S:oy*S + KH, ox*S:ox*S + KW] * w[f]).sum() + "
             "b[f], with xp the zero-padded x; the window moves by the stride."),
    Property("backward: dx matches central differences (padding cropped off)",
             backward_cases(), lambda fns, case: gradient_check(fns, case, "x"),
             "add dout[n, f, oy, ox] * w[f] onto the window's place in a padded dxp (windows "
             "overlap: +=), then crop the padding to get x's shape."),
    Property("backward: dw matches central differences", backward_cases(),
             lambda fns, case: gradient_check(fns, case, "w"),
             "dw[f] sums dout[n, f, oy, ox] times the window that output read, over n, oy, ox."),
    Property("backward: db matches central differences", backward_cases(),
             lambda fns, case: gradient_check(fns, case, "b"),
             "every output of filter f adds b[f] once, so db[f] is the sum of dout[:, f] over "
             "the batch and all positions."),
]


# ---- the picture ----------------------------------------------------------------------------

def picture(fns, out, data, notify):
    """conv1's feature maps of one test image, computed by the student's conv_forward in the
    shipped net's first layer."""
    import minicnn
    from matplotlib.figure import Figure

    from minicnn import route
    from minicnn.exercises import pictures
    model = pictures.shipped()
    shown = pictures.images(model, data, count=1)
    x = minicnn.Tensor(shown.x)
    with route.replaced(pictures.conv_adapters(fns.conv_forward, fns.conv_backward)), \
            minicnn.no_grad():
        maps = model.upto("conv1")(x).data[0]                     # (32, 32, 32)
    with route.plain(), minicnn.no_grad():
        same = model.upto("conv1")(x).data[0]
    F = len(maps)
    fig = Figure(figsize=(8.4, 5.6))
    grid = fig.add_gridspec(5, 8, height_ratios=[1.3, 1, 1, 1, 1])
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(shown.rgb[0], interpolation="nearest")
    ax.set_title(shown.titles[0], fontsize=8)
    ax.set_axis_off()
    w = model.conv1.weight.data
    for f in range(F):
        ax = fig.add_subplot(grid[1 + f // 8, f % 8])
        scale = max(np.abs(maps[f]).max(), 1e-12)
        ax.imshow(maps[f], cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
        ax.set_title(f"filter {f}", fontsize=6, pad=1)
        ax.set_axis_off()
    for k, f in enumerate(np.argsort(-(w ** 2).sum(axis=(1, 2, 3)))[:7]):   # the strongest
        ax = fig.add_subplot(grid[0, 1 + k])
        ax.imshow(0.5 + 0.5 * w[f].transpose(1, 2, 0) / np.abs(w[f]).max(), interpolation="nearest")
        ax.set_title(f"filter {f}", fontsize=6, pad=1)
        ax.set_axis_off()
    fig.suptitle("conv1 feature maps computed by your conv_forward (red +, blue -), "
                 "and conv1's strongest filters", fontsize=9)
    path = pictures.save(fig, out)
    diff = np.abs(maps - same).max() / max(np.abs(same).max(), 1e-30)
    return path, pictures.said(shown, f"your conv_forward computed the shipped net's conv1 on one of the "
                  f"{shown.source}: its 32 feature maps differ from minicnn's by {diff:.1e} "
                  f"of the largest value")
