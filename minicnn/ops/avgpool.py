"""Average pooling, and global average pooling (Lin et al., "Network In Network", ICLR 2014),
the layer CAM needs (Zhou et al. 2016).

    avg_pool2d:  out[n, c, oy, ox] = (1 / (KH KW)) sum_{i, j} x_pad[n, c, oy*SH + i, ox*SW + j]
                 dx_pad[n, c, oy*SH + i, ox*SW + j] += dout[n, c, oy, ox] / (KH KW)
    global (adaptive_avg_pool2d to 1x1):
                 out[n, c, 0, 0] = mean_{y, x} x[n, c, y, x]     dx = dout / (H W) everywhere

Zero padding counts in the average (PyTorch's count_include_pad=True). Unlike max-pooling,
every pixel of a window gets its share of the gradient, under every backward rule.

This is the plain route (see minicnn/route.py); neither op has a fast twin (each is a few
strided additions), so they run on both routes.
"""
import numpy as np

from minicnn.ops.checks import check_float, check_int, check_ndim, check_pair, conv_output_size
from minicnn.route import twin
from minicnn.tensor import Function


def avg_pool2d_forward(ctx, x, KH, KW, SH, SW, P):
    """
    Inputs:
    - ctx: where to save what the backward needs (the Function)
    - x: (N, C, H, W); KH, KW: the window; SH, SW: the stride; P: zero padding on each side
    Returns out: (N, C, OH, OW) with OH = (H + 2P - KH) // SH + 1
    """
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, KH, SH, P), conv_output_size(W, KW, SW, P)
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    out = np.zeros((N, C, OH, OW), dtype=x.dtype)
    for i in range(KH):                       # window tap (i, j) reads rows i, i + SH, ...
        for j in range(KW):
            out += xp[:, :, i:i + SH * OH:SH, j:j + SW * OW:SW]
    ctx.x_shape, ctx.window, ctx.stride, ctx.padding = x.shape, (KH, KW), (SH, SW), P
    return out / x.dtype.type(KH * KW)


def avg_pool2d_backward(ctx, dout):
    """dout (N, C, OH, OW) -> (dx,) with dx (N, C, H, W)."""
    (N, C, H, W), (KH, KW), (SH, SW), P = ctx.x_shape, ctx.window, ctx.stride, ctx.padding
    OH, OW = dout.shape[2:]
    share = dout / dout.dtype.type(KH * KW)              # each pixel of a window: 1 / (KH KW)
    dxp = np.zeros((N, C, H + 2 * P, W + 2 * P), dtype=dout.dtype)
    for i in range(KH):
        for j in range(KW):
            dxp[:, :, i:i + SH * OH:SH, j:j + SW * OW:SW] += share
    return (dxp[:, :, P:P + H, P:P + W],)


class AvgPool2d(Function):
    def forward(self, x, kernel_size=2, stride=None, padding=0):
        """kernel_size: int or (KH, KW); stride: int or (SH, SW), defaults to the kernel size."""
        KH, KW = check_pair("avg_pool2d", "kernel_size", kernel_size, 1)
        SH, SW = (KH, KW) if stride is None else check_pair("avg_pool2d", "stride", stride, 1)
        P = check_int("avg_pool2d", "padding", padding, 0)
        check_ndim("avg_pool2d", "input", x, 4, "(N, C, H, W)")
        check_float("avg_pool2d", "input", x)
        H, W = x.shape[2:]
        if KH > H + 2 * P or KW > W + 2 * P:
            raise ValueError(f"avg_pool2d: kernel {KH}x{KW} is larger than the padded input "
                             f"{H + 2 * P}x{W + 2 * P} (input {H}x{W}, padding {P})")
        if 2 * P > min(KH, KW):
            raise ValueError(f"avg_pool2d: padding {P} must be at most half the kernel "
                             f"{KH}x{KW}")
        return twin(avg_pool2d_forward, self.plain)(self, x, KH, KW, SH, SW, P)

    def backward(self, dout):
        return twin(avg_pool2d_backward, self.plain)(self, dout)


def global_avg_pool2d_forward(ctx, x):
    """x (N, C, H, W) -> out (N, C, 1, 1): each channel's mean over its positions."""
    ctx.x_shape = x.shape
    return x.mean(axis=(2, 3), keepdims=True)


def global_avg_pool2d_backward(ctx, dout):
    """dout (N, C, 1, 1) -> (dx,): dout / (H W) at every position."""
    H, W = ctx.x_shape[2:]
    return (np.broadcast_to(dout / dout.dtype.type(H * W), ctx.x_shape).copy(),)


class GlobalAvgPool2d(Function):
    def forward(self, x):
        check_ndim("adaptive_avg_pool2d", "input", x, 4, "(N, C, H, W)")
        check_float("adaptive_avg_pool2d", "input", x)
        return twin(global_avg_pool2d_forward, self.plain)(self, x)

    def backward(self, dout):
        return twin(global_avg_pool2d_backward, self.plain)(self, dout)


def avg_pool2d(x, kernel_size=2, stride=None, padding=0):
    return AvgPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding)


def check_output_size(output_size):
    if output_size not in (1, (1, 1), [1, 1]) or isinstance(output_size, bool):
        raise ValueError(f"adaptive_avg_pool2d: only output_size 1 (global average pooling) "
                         f"is implemented, got {output_size!r}")


def adaptive_avg_pool2d(x, output_size=1):
    """(N, C, H, W) -> (N, C, 1, 1), global average pooling (output_size must be 1)."""
    check_output_size(output_size)
    return GlobalAvgPool2d.apply(x)


# ---- Layer-wise relevance propagation (minicnn.visualize.lrp) ----------------------------------
def avg_pool2d_lrp(x, R, kernel_size=2, stride=None, padding=0, epsilon=1e-9):
    """Relevance R of an average pool's output -> relevance of its input x (N, C, H, W), by
    the epsilon rule: a window's mean is a linear layer with weights 1/k, so each value
    gets its share of the window's relevance, x * avg_pool2d_backward(R / (z + eps sign z)).
    (In global average pooling, every value of a channel shares that channel's relevance.)"""
    from minicnn.ops.linear import dx_pass, stabilise
    z, backward = dx_pass(AvgPool2d, x, kernel_size=kernel_size, stride=stride, padding=padding)
    return x * backward(R / stabilise(z, epsilon))


def global_avg_pool2d_lrp(x, R, epsilon=1e-9):
    """The same for global average pooling: R (N, C, 1, 1) -> (N, C, H, W)."""
    from minicnn.ops.linear import dx_pass, stabilise
    z, backward = dx_pass(GlobalAvgPool2d, x)
    return x * backward(R / stabilise(z, epsilon))
