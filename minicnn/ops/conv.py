"""2-D convolution (really cross-correlation, as in every deep learning library).

    out[n, f, oy, ox] = b[f] + sum_{c, i, j} w[f, c, i, j] * x_pad[n, c, oy*s + i, ox*s + j]

im2col lays every window of the padded input out as one column, so the whole sum is a
single matrix multiply; backward is two more, and col2im (im2col's adjoint):

    cols = im2col(x)            (N, C*KH*KW, OH*OW)      one column per output position
    out  = w @ cols + b         (N, F, OH*OW)            w as (F, C*KH*KW)
    dw   = sum_n dout[n] @ cols[n].T                     db = dout summed over n and positions
    dx   = col2im(w.T @ dout)   (N, C, H, W)             every column added back onto its window

The backward is the same under every backward rule, guided backprop, the deconvnet and
LRP's rules (conv2d_lrp, at the end) all send the signal down the transposed filters.

This is the plain route (see minicnn/route.py); fast/conv.py and fast/winograd.py compute
the same in small tiles, per core, and by Winograd's F(2x2, 3x3) or F(4x4, 3x3).
"""
import numpy as np

from minicnn.ops.checks import check_float, check_int, check_ndim, conv_output_size
from minicnn.route import twin
from minicnn.tensor import Function


def im2col(x, KH, KW, stride, padding):
    """x (N, C, H, W) -> cols (N, C*KH*KW, OH*OW): column oy*OW + ox holds the window that
    output (oy, ox) reads, in (c, i, j) order."""
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((N, C, KH, KW, OH, OW), dtype=x.dtype)
    for i in range(KH):              # filter row i meets padded rows i, i + stride, ...
        for j in range(KW):
            cols[:, :, i, j] = xp[:, :, i:i + stride * OH:stride, j:j + stride * OW:stride]
    return cols.reshape(N, C * KH * KW, OH * OW)


def col2im(cols, x_shape, KH, KW, stride, padding):
    """The adjoint of im2col: cols (N, C*KH*KW, OH*OW) -> dx (N, C, H, W), every column
    added back onto its window (windows overlap, so they sum), then the padding cropped."""
    N, C, H, W = x_shape
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    cols = cols.reshape(N, C, KH, KW, OH, OW)
    dxp = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=cols.dtype)
    for i in range(KH):
        for j in range(KW):
            dxp[:, :, i:i + stride * OH:stride, j:j + stride * OW:stride] += cols[:, :, i, j]
    return dxp[:, :, padding:padding + H, padding:padding + W]


def conv2d_forward(ctx, x, w, b, stride, padding):
    """
    Inputs:
    - ctx: where to save what the backward needs (the Function)
    - x: (N, C, H, W) images; w: (F, C, KH, KW) filters; b: (F,) biases or None
    - stride, padding: integers (the same along height and width)
    Returns out: (N, F, OH, OW) with OH = (H + 2*padding - KH) // stride + 1
    """
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    cols = im2col(x, KH, KW, stride, padding)             # (N, C*KH*KW, OH*OW)
    out = w.reshape(F, -1) @ cols                         # (N, F, OH*OW)
    if b is not None:
        out += b[:, None]                                 # (F, 1): one bias per row
    ctx.x_shape, ctx.w, ctx.cols, ctx.stride, ctx.padding = x.shape, w, cols, stride, padding
    return out.reshape(N, F, OH, OW)


def conv2d_backward(ctx, dout):
    """dout (N, F, OH, OW) -> dx (N, C, H, W), dw (F, C, KH, KW), db (F,)."""
    F, C, KH, KW = ctx.w.shape
    dout = dout.reshape(dout.shape[0], F, -1)             # (N, F, OH*OW)
    dw = (dout @ ctx.cols.transpose(0, 2, 1)).sum(axis=0)     # (F, C*KH*KW)
    db = dout.sum(axis=(0, 2))                            # (F,)
    dcols = ctx.w.reshape(F, -1).T @ dout                 # (N, C*KH*KW, OH*OW)
    dx = col2im(dcols, ctx.x_shape, KH, KW, ctx.stride, ctx.padding)
    return dx, dw.reshape(ctx.w.shape), db


class Conv2d(Function):
    def forward(self, x, w, b, stride=1, padding=0):
        stride = check_int("conv2d", "stride", stride, 1)
        padding = check_int("conv2d", "padding", padding, 0)
        check_ndim("conv2d", "input", x, 4, "(N, C, H, W)")
        check_ndim("conv2d", "weight", w, 4, "(F, C, KH, KW)")
        check_float("conv2d", "input", x)
        check_float("conv2d", "weight", w)
        (N, C, H, W), (F, Cw, KH, KW) = x.shape, w.shape
        if C != Cw:
            raise ValueError(f"conv2d: input has C={C} channels (shape {x.shape}), "
                             f"weight expects {Cw} (shape {w.shape})")
        if b is not None and b.shape != (F,):
            raise ValueError(f"conv2d: bias must have shape ({F},), got {b.shape}")
        if KH > H + 2 * padding or KW > W + 2 * padding:
            raise ValueError(f"conv2d: kernel {KH}x{KW} is larger than the padded input "
                             f"{H + 2 * padding}x{W + 2 * padding} (input {H}x{W}, padding {padding})")
        # A float64 input to a float32 layer is computed in float32, the weights' dtype,
        # and its gradient handed back in float64.
        self.x_dtype, self.dtype = x.dtype, w.dtype
        x = x.astype(w.dtype, copy=False)
        b = None if b is None else b.astype(w.dtype, copy=False)
        return twin(conv2d_forward, self.plain)(self, x, w, b, stride, padding)

    def backward(self, dout):
        dx, dw, db = twin(conv2d_backward, self.plain)(self, dout.astype(self.dtype, copy=False))
        return (None if dx is None else dx.astype(self.x_dtype, copy=False)), dw, db


def conv2d(x, w, b=None, stride=1, padding=0):
    """Functional convolution: x (N, C, H, W), w (F, C, KH, KW), b (F,) -> (N, F, OH, OW)."""
    return Conv2d.apply(x, w, b, stride=stride, padding=padding)


def conv2d_lrp(x, w, b, R, stride=1, padding=0, rule="epsilon", done=None, **options):
    """Relevance R (N, F, OH, OW) of a convolution's output -> relevance of its input x
    (N, C, H, W), by the LRP `rule`.

    A convolution is a linear layer applied at every window, so its rules are
    ops/linear.py's lrp_affine (which takes the options: epsilon, gamma, lo, hi), with the
    convolution's own forward and backward (the transposed filters) doing the sums:
    the epsilon rule is x * conv2d_backward(R / (z + eps sign z)). Padding contributes
    nothing: its zeros have zero contributions x_i w_ij.
    """
    from minicnn.ops.linear import dx_pass, lrp_affine    # here: README cites this file's lines

    def apply(x, w, b):
        return dx_pass(Conv2d, x, w, b, stride=stride, padding=padding)
    return lrp_affine(apply, x, w, b, R, rule, done=done, **options)
