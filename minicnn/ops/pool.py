"""Max-pooling with "switches" (Zeiler & Fergus 2014).

Forward takes the maximum of each KH x KW window and remembers where it was: the
switch, the winner's place k = i*KW + j inside its window. Backward routes each
gradient to that remembered place; the other pixels of the window get nothing:

    out[n, c, oy, ox] = max_{i, j} x[n, c, oy*SH + i, ox*SW + j]
    dx[n, c, oy*SH + i, ox*SW + j] += dout[n, c, oy, ox]   for the (i, j) that won

This is the same under every backward rule: guided backprop and the deconvnet reuse
the switches recorded on the forward pass, and LRP sends relevance along them too
(max_pool2d_lrp, at the end).
Ties: the first maximum in row-major order inside the window wins (np.argmax's choice).

This is the plain route (see minicnn/route.py); fast/pool.py computes the same with
compiled loops, per core.
"""
import numpy as np

from minicnn.ops.checks import check_float, check_ndim, check_pair, conv_output_size
from minicnn.ops.linear import dx_pass, stabilise
from minicnn.route import twin
from minicnn.tensor import Function


def max_pool2d_forward(ctx, x, KH, KW, SH, SW):
    """
    Inputs:
    - ctx: where to save what the backward needs (the Function)
    - x: (N, C, H, W); KH, KW: the window; SH, SW: the stride
    Returns out: (N, C, OH, OW) with OH = (H - KH) // SH + 1
    """
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, KH, SH), conv_output_size(W, KW, SW)
    windows = np.empty((N, C, OH, OW, KH * KW), dtype=x.dtype)    # every window, flattened
    for i in range(KH):
        for j in range(KW):
            windows[..., i * KW + j] = x[:, :, i:i + SH * OH:SH, j:j + SW * OW:SW]
    switches = windows.argmax(axis=-1)                            # (N, C, OH, OW)
    ctx.x_shape, ctx.switches, ctx.window, ctx.stride = x.shape, switches, (KH, KW), (SH, SW)
    return np.take_along_axis(windows, switches[..., None], axis=-1)[..., 0]


def max_pool2d_backward(ctx, dout):
    """dout (N, C, OH, OW) -> (dx,) with dx (N, C, H, W)."""
    (KH, KW), (SH, SW), (OH, OW) = ctx.window, ctx.stride, dout.shape[2:]
    dx = np.zeros(ctx.x_shape, dtype=dout.dtype)
    for i in range(KH):
        for j in range(KW):                   # where (i, j) won, its pixel gets the gradient
            won = ctx.switches == i * KW + j
            dx[:, :, i:i + SH * OH:SH, j:j + SW * OW:SW] += dout * won
    return (dx,)


class MaxPool2d(Function):
    def forward(self, x, kernel_size=2, stride=None):
        """kernel_size: int or (KH, KW); stride: int or (SH, SW), defaults to the kernel size."""
        KH, KW = check_pair("max_pool2d", "kernel_size", kernel_size, 1)
        SH, SW = (KH, KW) if stride is None else check_pair("max_pool2d", "stride", stride, 1)
        check_ndim("max_pool2d", "input", x, 4, "(N, C, H, W)")
        check_float("max_pool2d", "input", x)
        H, W = x.shape[2:]
        if KH > H or KW > W:
            raise ValueError(f"max_pool2d: kernel {KH}x{KW} is larger than the input {H}x{W}")
        return twin(max_pool2d_forward, self.plain)(self, x, KH, KW, SH, SW)

    def backward(self, dout):
        return twin(max_pool2d_backward, self.plain)(self, dout)


def max_pool2d(x, kernel_size=2, stride=None):
    return MaxPool2d.apply(x, kernel_size=kernel_size, stride=stride)


def max_pool2d_lrp(x, R, kernel_size=2, stride=None, epsilon=1e-9, done=None):
    """Relevance R (N, C, OH, OW) of a max-pool's output -> relevance of its input x
    (N, C, H, W), through the epsilon rule as Captum does: z is the window's maximum a, so
    the switch gets R * a / (a + eps sign a) and the rest of the window nothing; an all-zero
    window passes nothing on.

    done: (out, backward) from dx_pass(MaxPool2d, x, ...) already run (spares the forward)."""
    out, backward = done or dx_pass(MaxPool2d, x, kernel_size=kernel_size, stride=stride)
    return x * backward(R / stabilise(out, epsilon))
