r"""im2col / col2im: turn convolution into one matrix multiply (and back).

For an input x (N, C, H, W) and a KH x KW window moved with `stride` over the
input zero-padded by `padding`, im2col lays every window out as a column:

.. math::
    \mathrm{cols}[(c K_H + i) K_W + j,\; n O_H O_W + o_y O_W + o_x]
        = x_{\mathrm{pad}}[n, c, o_y s + i, o_x s + j]

so that convolution of the whole batch with weights w (F, C, KH, KW) becomes
one matrix multiply, ``w.reshape(F, C*KH*KW) @ cols`` -> (F, N*OH*OW)
(the layout of the CS231n im2col).

col2im is the adjoint (transpose) of im2col: it adds every column entry back
onto the input pixel it was copied from. Overlapping windows therefore add
up, which is exactly the chain rule for a pixel that several windows read.
Padding is handled inside the loops: no padded copy of x is made.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True)
def valid_range(i, stride, padding, size, out_size):
    """The outputs o in [lo, hi) whose input index o*stride + i - padding is inside [0, size)."""
    lo = max(0, (padding - i + stride - 1) // stride)
    hi = min(out_size, (size - 1 + padding - i) // stride + 1)
    return lo, max(lo, hi)


@njit(cache=True, parallel=True)
def im2col(x, KH, KW, stride, padding, OH, OW):
    """x (N, C, H, W) -> cols (C*KH*KW, N*OH*OW)."""
    N, C, H, W = x.shape
    P = OH * OW
    cols = np.empty((C * KH * KW, N * P), dtype=x.dtype)
    for n in prange(N):                                  # one image per thread: no races
        for c in range(C):
            for i in range(KH):
                oy_lo, oy_hi = valid_range(i, stride, padding, H, OH)
                for j in range(KW):
                    ox_lo, ox_hi = valid_range(j, stride, padding, W, OW)
                    row = (c * KH + i) * KW + j
                    out = cols[row, n * P:(n + 1) * P]   # this image's part of the row
                    out[:] = 0.0                         # what falls in the padding stays 0
                    for oy in range(oy_lo, oy_hi):
                        y = oy * stride + i - padding
                        for ox in range(ox_lo, ox_hi):
                            out[oy * OW + ox] = x[n, c, y, ox * stride + j - padding]
    return cols


@njit(cache=True, parallel=True)
def col2im(cols, N, C, H, W, KH, KW, stride, padding, OH, OW):
    """cols (C*KH*KW, N*OH*OW) -> dx (N, C, H, W), summing overlapping windows."""
    P = OH * OW
    dx = np.zeros((N, C, H, W), dtype=cols.dtype)
    for n in prange(N):                                  # each image writes only dx[n]
        for c in range(C):
            for i in range(KH):
                oy_lo, oy_hi = valid_range(i, stride, padding, H, OH)
                for j in range(KW):
                    ox_lo, ox_hi = valid_range(j, stride, padding, W, OW)
                    row = cols[(c * KH + i) * KW + j, n * P:(n + 1) * P]
                    for oy in range(oy_lo, oy_hi):
                        y = oy * stride + i - padding
                        for ox in range(ox_lo, ox_hi):
                            dx[n, c, y, ox * stride + j - padding] += row[oy * OW + ox]
    return dx
