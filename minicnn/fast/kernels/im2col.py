r"""im2col / col2im: turn convolution into matrix multiplies (and back).

For images x (N, C, H, W) and a KH x KW window moved with `stride` over the
input zero-padded by `padding`, im2col lays every window of image n out as a
column of an image-sized matrix:

.. math::
    \mathrm{cols}[n,\; (c K_H + i) K_W + j,\; o_y O_W + o_x]
        = x_{\mathrm{pad}}[n, c, o_y s + i, o_x s + j]

so that convolving image n with weights w (F, C, KH, KW) is one matrix
multiply, ``w.reshape(F, C*KH*KW) @ cols[n]`` -> (F, OH*OW), which is already
the (F, OH, OW) layout of the output: no transpose is needed afterwards.

col2im is the adjoint (transpose) of im2col: it adds every column entry back
onto the input pixel it was copied from. Overlapping windows therefore add
up, which is exactly the chain rule for a pixel that several windows read.
Padding is handled inside the loops: no padded copy of x is made.

Both kernels write into an array the caller passes in, so the convolution
can reuse one small buffer for a few images at a time, and both are serial
and release the GIL (nogil): fast/conv.py runs one per core, each on its own
share of the batch (see fast/parallel.py).

Speed note: numba checks every signed array index for a negative value (to
wrap it around, as Python does). Indices cast to np.uint64 skip that check,
which lets LLVM vectorise the innermost copy: about 4x faster here.
"""
import numpy as np
from numba import njit


@njit(cache=True)
def valid_range(i, stride, padding, size, out_size):
    """The outputs o in [lo, hi) whose input index o*stride + i - padding is inside [0, size)."""
    lo = max(0, (padding - i + stride - 1) // stride)
    hi = min(out_size, (size - 1 + padding - i) // stride + 1)
    return lo, max(lo, hi)


@njit(cache=True, nogil=True)
def im2col(x, KH, KW, stride, padding, OH, OW, cols):
    """x (N, C, H, W) -> cols (N, C*KH*KW, OH*OW), written into `cols` and returned."""
    N, C, H, W = x.shape
    for nc in range(N * C):                  # one (image, channel) plane at a time
        n, c = nc // C, nc % C
        for i in range(KH):
            oy_lo, oy_hi = valid_range(i, stride, padding, H, OH)
            for j in range(KW):
                ox_lo, ox_hi = valid_range(j, stride, padding, W, OW)
                row = cols[n, (c * KH + i) * KW + j]          # (OH*OW,) tap (i, j) of channel c
                row[:] = 0.0                                  # what falls in the padding stays 0
                for oy in range(oy_lo, oy_hi):
                    y = oy * stride + i - padding
                    for ox in range(ox_lo, ox_hi):
                        row[np.uint64(oy * OW + ox)] = \
                            x[n, c, np.uint64(y), np.uint64(ox * stride + j - padding)]
    return cols


@njit(cache=True, nogil=True)
def col2im(cols, KH, KW, stride, padding, OH, OW, dx):
    """cols (N, C*KH*KW, OH*OW) -> dx (N, C, H, W), summing overlapping windows.
    `dx` is overwritten and returned."""
    N, C, H, W = dx.shape
    for nc in range(N * C):                  # each plane of dx from its own rows
        n, c = nc // C, nc % C
        dx[n, c] = 0.0
        for i in range(KH):
            oy_lo, oy_hi = valid_range(i, stride, padding, H, OH)
            for j in range(KW):
                ox_lo, ox_hi = valid_range(j, stride, padding, W, OW)
                row = cols[n, (c * KH + i) * KW + j]
                for oy in range(oy_lo, oy_hi):
                    y = oy * stride + i - padding
                    for ox in range(ox_lo, ox_hi):
                        dx[n, c, np.uint64(y), np.uint64(ox * stride + j - padding)] += \
                            row[np.uint64(oy * OW + ox)]
    return dx
