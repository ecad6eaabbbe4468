"""Exercise conv_im2col (lesson 02): convolution as im2col and one matrix multiply.

The student writes im2col, its adjoint col2im, and a convolution built on them. The
properties hold im2col and col2im to minicnn/ops/conv.py's, the convolution to minicnn's
forward and to central differences. The picture: saliency and guided-backprop maps of the
shipped net with the student's convolution in all four conv layers, forward and backward.
"""
import numpy as np
from hypothesis import strategies as st

from minicnn.exercises.conv_naive import backward_cases, conv_cases, output_size, reference_forward
from minicnn.exercises.properties import (
    Property,
    compare,
    decimals,
    numerical_gradient,
    seeds,
    unpack,
)
from minicnn.ops import conv as ops_conv

TITLE = "convolution as im2col and one matrix multiply; col2im for the backward"
LESSON = "02_first_layer_filters"
FUNCTIONS = {
    "im2col": ("x", "KH", "KW", "stride", "padding"),
    "col2im": ("cols", "x_shape", "KH", "KW", "stride", "padding"),
    "conv_forward": ("x", "w", "b", "stride", "padding"),
    "conv_backward": ("dout", "x", "w", "b", "stride", "padding"),
}

SKELETON = '''\
"""Exercise conv_im2col: convolution as one matrix multiply (lesson 02).

The loops of exercise conv_naive visit every window in Python, which is slow. im2col
("image to columns") lays every window of the padded input out as one column of a matrix;
then every output of the layer is one entry of a single matrix product:

    cols = im2col(x)            (N, C*KH*KW, OH*OW)    column oy*OW + ox = window (oy, ox)
    out  = w2 @ cols + b        (N, F, OH*OW)          w2 = w.reshape(F, C*KH*KW)

Inside a column the window is flattened in (c, i, j) order, the order of
w[f].reshape(-1), so that row f of w2 times a column is the filter's dot product with
that window. This is how Caffe, cuDNN's first algorithms and minicnn's plain route compute
convolutions (Chellapilla, Puri & Simard, "High Performance Convolutional Neural Networks
for Document Processing", 2006).

Backward is two more matrix products and col2im, im2col's adjoint (its transpose):

    dw    = sum_n dout[n] @ cols[n].T     (F, C*KH*KW), reshaped to w's shape
    db    = dout summed over n and positions
    dcols = w2.T @ dout                   (N, C*KH*KW, OH*OW)
    dx    = col2im(dcols)                 every column ADDED back onto its window (windows
                                          overlap), then the padding cropped off

Shapes: x (N, C, H, W); w (F, C, KH, KW); b (F,); OH = (H + 2*padding - KH) // stride + 1
and OW likewise. A (F, K) @ (N, K, M) product broadcasts over n: it gives (N, F, M).
Looping over the KH*KW filter taps (not over the windows) is allowed and fast: tap (i, j)
of every window at once is the strided slice xp[:, :, i:i + stride*OH:stride,
j:j + stride*OW:stride], of shape (N, C, OH, OW).

Check your work:    minicnn exercise check conv_im2col
When every property passes, the checker runs all four convolutions of the shipped net with
your functions, forward and backward, and draws saliency and guided-backprop maps.
Only NumPy is needed.
"""
import numpy as np


def im2col(x, KH, KW, stride, padding):
    """
    Inputs:
    - x: (N, C, H, W); KH, KW: the filter's size; stride, padding: ints
    Returns cols: (N, C*KH*KW, OH*OW), cols[n, (c*KH + i)*KW + j, oy*OW + ox] =
    xp[n, c, oy*stride + i, ox*stride + j]
    Hint: fill an (N, C, KH, KW, OH, OW) array tap by tap, then reshape it.
    """
    raise NotImplementedError


def col2im(cols, x_shape, KH, KW, stride, padding):
    """The adjoint of im2col: add every column back onto its window.

    Inputs:
    - cols: (N, C*KH*KW, OH*OW); x_shape: (N, C, H, W), the shape im2col's x had
    Returns dx: (N, C, H, W), the padding cropped off
    Hint: reshape to (N, C, KH, KW, OH, OW) and undo im2col tap by tap into a padded
    (N, C, H + 2*padding, W + 2*padding) array, with += .
    """
    raise NotImplementedError


def conv_forward(x, w, b, stride, padding):
    """out (N, F, OH, OW) = the convolution of conv_naive, by im2col and one matmul."""
    raise NotImplementedError


def conv_backward(dout, x, w, b, stride, padding):
    """-> (dx, dw, db): (N, C, H, W), (F, C, KH, KW), (F,), by two matmuls and col2im.
    (Without a cache, call im2col(x, ...) again.)"""
    raise NotImplementedError
'''


# ---- the reference solution ---------------------------------------------------------------

def im2col(x, KH, KW, stride, padding):
    N, C, H, W = x.shape
    OH, OW = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((N, C, KH, KW, OH, OW), dtype=x.dtype)
    for i in range(KH):
        for j in range(KW):
            cols[:, :, i, j] = xp[:, :, i:i + stride * OH:stride, j:j + stride * OW:stride]
    return cols.reshape(N, C * KH * KW, OH * OW)


def col2im(cols, x_shape, KH, KW, stride, padding):
    N, C, H, W = x_shape
    OH, OW = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
    cols = cols.reshape(N, C, KH, KW, OH, OW)
    dxp = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=cols.dtype)
    for i in range(KH):
        for j in range(KW):
            dxp[:, :, i:i + stride * OH:stride, j:j + stride * OW:stride] += cols[:, :, i, j]
    return dxp[:, :, padding:padding + H, padding:padding + W]


def conv_forward(x, w, b, stride, padding):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
    cols = im2col(x, KH, KW, stride, padding)                  # (N, C*KH*KW, OH*OW)
    out = w.reshape(F, -1) @ cols + b[:, None]                 # (N, F, OH*OW)
    return out.reshape(N, F, OH, OW)


def conv_backward(dout, x, w, b, stride, padding):
    F, C, KH, KW = w.shape
    cols = im2col(x, KH, KW, stride, padding)                  # (N, C*KH*KW, OH*OW)
    dout = dout.reshape(dout.shape[0], F, -1)                  # (N, F, OH*OW)
    dw = (dout @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    db = dout.sum(axis=(0, 2))
    dx = col2im(w.reshape(F, -1).T @ dout, x.shape, KH, KW, stride, padding)
    return dx, dw, db


# ---- properties ---------------------------------------------------------------------------

def geometry(case):
    F, C, KH, KW = case["w"].shape
    return KH, KW, case["stride"], case["padding"]


def check_im2col(fns, case):
    x = case["x"]
    KH, KW, stride, padding = geometry(case)
    expected = ops_conv.im2col(x, KH, KW, stride, padding)
    N, K, M = expected.shape
    OH, OW = output_size(case)[2:]
    by_columns = expected.reshape(N, K, OH, OW).transpose(0, 1, 3, 2).reshape(N, K, M)
    C = x.shape[1]
    ijc = expected.reshape(N, C, KH, KW, M).transpose(0, 2, 3, 1, 4).reshape(N, K, M)
    compare("cols", fns.im2col(x, KH, KW, stride, padding), expected, "im2col", looks_like=[
        ("your columns run down the output's columns first (ox*OH + oy); column oy*OW + ox "
         "is window (oy, ox)", by_columns),
        ("your rows are in (i, j, c) order; the window must be flattened in (c, i, j) order, "
         "like w[f].reshape(-1)", ijc)],
        wrong_shapes=[((N, M, K), "your cols is transposed: (N, OH*OW, C*KH*KW) instead of "
                                  "(N, C*KH*KW, OH*OW)")])


@st.composite
def col2im_cases(draw):
    case = draw(conv_cases())
    KH, KW, stride, padding = geometry(case)
    N, C = case["x"].shape[:2]
    OH, OW = output_size(case)[2:]
    rng = np.random.default_rng(draw(seeds))
    return {"cols": decimals(rng, (N, C * KH * KW, OH * OW)), "x_shape": case["x"].shape,
            "KH": KH, "KW": KW, "stride": stride, "padding": padding}


def check_col2im(fns, case):
    args = [case[k] for k in ("cols", "x_shape", "KH", "KW", "stride", "padding")]
    expected = ops_conv.col2im(*args)
    N, C, H, W = case["x_shape"]
    P = case["padding"]
    compare("dx", fns.col2im(*args), expected, "col2im",
            wrong_shapes=[((N, C, H + 2 * P, W + 2 * P),
                           "your dx still has the padding: crop it off at the end")],
            looks_like=[("overlapping windows overwrite each other: add the columns (+=)",
                         overwritten(*args))])


def overwritten(cols, x_shape, KH, KW, stride, padding):
    """col2im with `=` instead of `+=`: the mistake looks_like recognises."""
    N, C, H, W = x_shape
    OH, OW = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
    cols = cols.reshape(N, C, KH, KW, OH, OW)
    dxp = np.zeros((N, C, H + 2 * padding, W + 2 * padding))
    for i in range(KH):
        for j in range(KW):
            dxp[:, :, i:i + stride * OH:stride, j:j + stride * OW:stride] = cols[:, :, i, j]
    return dxp[:, :, padding:padding + H, padding:padding + W]


def check_forward(fns, case):
    compare("out", fns.conv_forward(case["x"], case["w"], case["b"], case["stride"],
                                    case["padding"]),
            reference_forward(**case), "conv_forward")


def check_backward(fns, case):
    args = {k: case[k] for k in ("x", "w", "b", "stride", "padding")}
    dout = case["dout"]
    grads = unpack(fns.conv_backward(dout, *args.values()), ("dx", "dw", "db"), "conv_backward")
    for name, yours in zip(("w", "b", "x"), (grads[1], grads[2], grads[0])):
        compare(f"d{name}", yours, numerical_gradient(reference_forward, args, name, dout),
                "conv_backward", rtol=1e-5)


PROPERTIES = [
    Property("im2col: column oy*OW + ox is window (oy, ox), flattened in (c, i, j) order",
             conv_cases(), check_im2col,
             "cols[n, (c*KH + i)*KW + j, oy*OW + ox] = xp[n, c, oy*stride + i, ox*stride + j]; "
             "build (N, C, KH, KW, OH, OW) and reshape, which keeps that order."),
    Property("col2im: every column added back onto its window (im2col's adjoint), padding "
             "cropped", col2im_cases(), check_col2im,
             "undo im2col tap by tap into a zero, padded array with +=, then crop the padding."),
    Property("conv_forward: equals the convolution's sum (minicnn's conv2d_forward)",
             conv_cases(), check_forward,
             "out = w.reshape(F, -1) @ im2col(x) + b[:, None], reshaped to (N, F, OH, OW)."),
    Property("conv_backward: dw, db and dx match central differences", backward_cases(),
             check_backward,
             "dw = sum over n of dout[n] @ cols[n].T; db = dout summed over n and positions; "
             "dx = col2im(w2.T @ dout), with dout reshaped to (N, F, OH*OW)."),
]


# ---- the picture ----------------------------------------------------------------------------

def picture(fns, out, data, notify):
    """Saliency and guided backprop through the student's convolution in all four layers."""
    from minicnn import route
    from minicnn import visualize as vis
    from minicnn.exercises import pictures
    model = pictures.shipped()
    shown = pictures.images(model, data, count=4)
    with route.replaced(pictures.conv_adapters(fns.conv_forward, fns.conv_backward)):
        saliency = vis.saliency(model, shown.x, shown.target)
        notify(("example",))
        guided = vis.guided_backprop(model, shown.x, shown.target)
    with route.plain():
        same = vis.guided_backprop(model, shown.x, shown.target)
    panels = [[shown.rgb[n], vis.render_map(saliency, "absmax")[n],
               vis.render_map(saliency, "rgb")[n], vis.render_map(guided, "rgb")[n]]
              for n in range(len(shown.x))]
    fig = vis.panel_grid(panels, row_titles=shown.titles, col_titles=[
        "image", "saliency, max |g|", "saliency, signed", "guided backprop"],
        title="through your im2col convolution, in all four conv layers")
    path = pictures.save(fig, out)
    diff = np.abs(guided - same).max() / max(np.abs(same).max(), 1e-30)
    return path, pictures.said(shown, f"your convolution ran all four conv layers, forward and backward, for "
                  f"{len(shown.x)} {shown.source} (guided maps within {diff:.1e} of minicnn's)")
