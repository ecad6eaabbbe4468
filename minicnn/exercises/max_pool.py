"""Exercise max_pool (lesson 08): max-pooling, forward and backward through its switches.

The student writes max_pool_forward and max_pool_backward (square windows, one stride).
The properties hold them to minicnn/ops/pool.py and to central differences: the output
size, each window's maximum, each dout sent to its window's maximum, overlapping windows
adding up, and ties going to the first maximum in row-major order. The picture: the
deconvnet and guided backprop of test images through the student's switches.
"""
from types import SimpleNamespace

import numpy as np
from hypothesis import strategies as st

from minicnn.exercises.properties import (
    Property,
    compare,
    decimals,
    distinct,
    numerical_gradient,
    require,
    seeds,
)
from minicnn.ops import pool as ops_pool

TITLE = "max-pooling: each window's maximum, and the gradient sent back to its switch"
LESSON = "08_three_relu_rules"
FUNCTIONS = {
    "max_pool_forward": ("x", "kernel", "stride"),
    "max_pool_backward": ("dout", "x", "kernel", "stride"),
}

SKELETON = '''\
"""Exercise max_pool: max-pooling, forward and backward (lesson 08).

Forward, each kernel x kernel window of each channel gives its maximum:

    out[n, c, oy, ox] = max_{i, j} x[n, c, oy*S + i, ox*S + j]      0 <= i, j < kernel
    OH = (H - kernel) // S + 1          OW = (W - kernel) // S + 1      (no padding)

Backward: only the winner of each window affected the output, so each dout[n, c, oy, ox]
goes to the place in x where that window's maximum was, its "switch" (Zeiler & Fergus,
"Visualizing and Understanding Convolutional Networks", ECCV 2014, who reuse the switches
to run their deconvnet down the network); every other pixel of the window gets nothing:

    dx[n, c, oy*S + i, ox*S + j] += dout[n, c, oy, ox]     for the (i, j) that won

With stride < kernel the windows overlap and one pixel can win several of them: then it
gets the SUM of their douts (hence +=). A tie inside a window goes to the FIRST maximum
in row-major order (np.argmax's choice on the flattened window), as in minicnn and
PyTorch. The switches are the same under every backward rule: guided backprop and the
deconvnet send the signal down through them too.

Shapes: x (N, C, H, W), H and W may differ; kernel >= 1 and stride >= 1 are ints, the
same along height and width.

Check your work:    minicnn exercise check max_pool
When every property passes, the checker runs both max-pools of the shipped net with your
functions and draws deconvnet and guided-backprop maps of test images through your
switches.
Only NumPy is needed.
"""
import numpy as np


def max_pool_forward(x, kernel, stride):
    """
    Inputs:
    - x: (N, C, H, W); kernel: the window's side; stride: its step
    Returns out: (N, C, OH, OW)
    """
    raise NotImplementedError


def max_pool_backward(dout, x, kernel, stride):
    """
    Inputs:
    - dout: (N, C, OH, OW) the gradient of the loss with respect to out
    - x, kernel, stride: what max_pool_forward got
    Returns dx: (N, C, H, W)
    Hint: for each window, np.unravel_index(np.argmax(window), window.shape) is the
    place of its first maximum.
    """
    raise NotImplementedError
'''


# ---- the reference solution ---------------------------------------------------------------

def max_pool_forward(x, kernel, stride):
    N, C, H, W = x.shape
    OH, OW = (H - kernel) // stride + 1, (W - kernel) // stride + 1
    out = np.empty((N, C, OH, OW))
    for oy in range(OH):
        for ox in range(OW):
            window = x[:, :, oy * stride:oy * stride + kernel, ox * stride:ox * stride + kernel]
            out[:, :, oy, ox] = window.max(axis=(2, 3))
    return out


def max_pool_backward(dout, x, kernel, stride):
    N, C, OH, OW = dout.shape
    dx = np.zeros_like(x, dtype=dout.dtype)
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    window = x[n, c, oy * stride:oy * stride + kernel,
                               ox * stride:ox * stride + kernel]
                    i, j = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, oy * stride + i, ox * stride + j] += dout[n, c, oy, ox]
    return dx


# ---- properties ---------------------------------------------------------------------------

@st.composite
def pool_cases(draw, values="distinct", overlap=None, backward=False):
    """x, kernel, stride (and dout). values: "distinct" (no ties, safe for central
    differences) or "ties" (0s and 1s); overlap: force stride < kernel (True) or not."""
    kernel = draw(st.integers(2 if overlap else 1, 3))
    stride = draw(st.integers(1, kernel - 1)) if overlap else draw(st.integers(1, 3))
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    H, W = draw(st.integers(kernel, kernel + 4)), draw(st.integers(kernel, kernel + 4))
    rng = np.random.default_rng(draw(seeds))
    if values == "ties":
        x = rng.integers(0, 2, size=(N, C, H, W)).astype(float)
    else:
        x = distinct(rng, (N, C, H, W))
    if overlap:                       # one large peak, won by every window that covers it
        x[..., draw(st.integers(0, H - 1)), draw(st.integers(0, W - 1))] = 9.0
    case = {"x": x, "kernel": kernel, "stride": stride}
    if backward:
        OH, OW = (H - kernel) // stride + 1, (W - kernel) // stride + 1
        case = {"dout": decimals(rng, (N, C, OH, OW)), **case}
    return case


def reference_forward(x, kernel, stride):
    """minicnn's plain max-pool (minicnn/ops/pool.py)."""
    return ops_pool.max_pool2d_forward(SimpleNamespace(), x, kernel, kernel, stride, stride)


def reference_backward(dout, x, kernel, stride):
    ctx = SimpleNamespace()
    ops_pool.max_pool2d_forward(ctx, x, kernel, kernel, stride, stride)
    return ops_pool.max_pool2d_backward(ctx, dout)[0]


def check_shape(fns, case):
    x, K, S = case["x"], case["kernel"], case["stride"]
    out = np.asarray(fns.max_pool_forward(x, K, S))
    N, C, H, W = x.shape
    expected = (N, C, (H - K) // S + 1, (W - K) // S + 1)
    require(out.shape == expected, f"max_pool_forward returned shape {out.shape}; expected "
                                   f"{expected} for x {x.shape}, kernel {K}, stride {S}: "
                                   f"OH = (H - kernel) // stride + 1")


def check_forward(fns, case):
    x, K, S = case["x"], case["kernel"], case["stride"]
    compare("out", fns.max_pool_forward(x, K, S), reference_forward(x, K, S), "max_pool_forward")


def other_rules(dout, x, K, S):
    """What known mistakes give: (message, dx) pairs."""
    N, C, OH, OW = dout.shape
    spread, last, assigned, transposed = (np.zeros_like(x) for _ in range(4))
    for oy in range(OH):
        for ox in range(OW):
            rows, cols = slice(oy * S, oy * S + K), slice(ox * S, ox * S + K)
            spread[:, :, rows, cols] += dout[:, :, oy, ox, None, None] / (K * K)
            for n in range(N):
                for c in range(C):
                    window = x[n, c, rows, cols]
                    flat = window.ravel()
                    k = len(flat) - 1 - np.argmax(flat[::-1])           # the last maximum
                    i, j = divmod(k, window.shape[1])
                    last[n, c, oy * S + i, ox * S + j] += dout[n, c, oy, ox]
                    i, j = np.unravel_index(np.argmax(window), window.shape)
                    assigned[n, c, oy * S + i, ox * S + j] = dout[n, c, oy, ox]
                    j, i = np.unravel_index(np.argmax(window.T), window.T.shape)  # column-major
                    transposed[n, c, oy * S + i, ox * S + j] += dout[n, c, oy, ox]
    return [("dout was spread evenly over the window (that is average pooling's gradient): "
             "send it to the maximum alone", spread),
            ("windows that share a maximum overwrite each other's dout: add them (+=)", assigned),
            ("a tie went to the LAST maximum: the first one in row-major order wins", last),
            ("a tie went to the first maximum in column-major order: search the window row "
             "by row (np.argmax of the window flattened in C order)", transposed)]


def check_backward(fns, case, numerical=True):
    dout, x, K, S = case["dout"], case["x"], case["kernel"], case["stride"]
    expected = (numerical_gradient(reference_forward, {"x": x, "kernel": K, "stride": S}, "x",
                                   dout) if numerical else reference_backward(dout, x, K, S))
    compare("dx", fns.max_pool_backward(dout, x, K, S), expected, "max_pool_backward",
            rtol=1e-5, looks_like=other_rules(dout, x, K, S))


PROPERTIES = [
    Property("output shape: (N, C, (H - kernel) // stride + 1, (W - kernel) // stride + 1)",
             pool_cases(), check_shape,
             "the last window must fit inside x: OH = (H - kernel) // stride + 1 (integer "
             "division, no padding)."),
    Property("forward: each window's maximum", pool_cases(), check_forward,
             "window (oy, ox) is x[:, :, oy*stride:oy*stride + kernel, ox*stride:ox*stride + "
             "kernel]; its maximum over the last two axes is out[:, :, oy, ox]."),
    Property("backward: each dout goes to its window's maximum (central differences)",
             pool_cases(backward=True), check_backward,
             "find where each window's maximum is and add dout[n, c, oy, ox] to that one pixel "
             "of dx; the other pixels of the window get nothing."),
    Property("backward: overlapping windows (stride < kernel) add up at a shared maximum",
             pool_cases(overlap=True, backward=True), check_backward,
             "a pixel that wins several windows gets the sum of their douts: dx[...] += dout."),
    Property("backward: a tie goes to the first maximum in row-major order",
             pool_cases(values="ties", backward=True),
             lambda fns, case: check_backward(fns, case, numerical=False),
             "np.argmax(window) returns the first maximum of the window read row by row; "
             "np.unravel_index turns it into (i, j)."),
]


# ---- the picture ----------------------------------------------------------------------------

def picture(fns, out, data, notify):
    """Deconvnet and guided backprop of test images through the student's max-pools."""
    from minicnn import route
    from minicnn import visualize as vis
    from minicnn.exercises import pictures
    model = pictures.shipped()
    shown = pictures.images(model, data, count=4)
    with route.replaced(pictures.pool_adapters(fns.max_pool_forward, fns.max_pool_backward)):
        predicted = pictures.predictions(model, shown.x)
        deconv = vis.deconvnet(model, shown.x, shown.target)
        notify(("example",))
        guided = vis.guided_backprop(model, shown.x, shown.target)
    with route.plain():
        same = vis.guided_backprop(model, shown.x, shown.target)
    classes = vis.model_classes(model)
    panels = [[shown.rgb[n], vis.render_map(deconv, "rgb")[n], vis.render_map(guided, "rgb")[n]]
              for n in range(len(shown.x))]
    fig = vis.panel_grid(panels, row_titles=[f"{t}\nyours: {classes[k]}" for t, k in
                                             zip(shown.titles, predicted)],
                         col_titles=["image", "deconvnet", "guided backprop"],
                         title="through your max-pool switches (both pools of the shipped net)")
    path = pictures.save(fig, out)
    diff = np.abs(guided - same).max() / max(np.abs(same).max(), 1e-30)
    return path, pictures.said(shown, f"your max-pool ran both pools of the shipped net for {len(shown.x)} "
                  f"{shown.source}, forward and back (guided maps within {diff:.1e} of "
                  f"minicnn's)")
