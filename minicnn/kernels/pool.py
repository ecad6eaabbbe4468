"""Max-pooling kernels that remember the argmax "switches".

Forward keeps, for every output, the flat index y * W + x of the input pixel
that won its window. Backward sends each output's gradient to that pixel
only (Zeiler & Fergus 2014 call these the switches). Ties go to the first
maximum in row-major order inside the window: the top-most, then left-most
pixel (the same choice as PyTorch on the CPU).
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def maxpool_forward(x, KH, KW, SH, SW, OH, OW):
    """x (N, C, H, W) -> out (N, C, OH, OW), switches (N, C, OH, OW) int64."""
    N, C, H, W = x.shape
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    switches = np.empty((N, C, OH, OW), dtype=np.int64)
    for n in prange(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    y0, x0 = oy * SH, ox * SW
                    best, best_at = x[n, c, y0, x0], y0 * W + x0
                    for i in range(KH):
                        for j in range(KW):
                            v = x[n, c, np.uint64(y0 + i), np.uint64(x0 + j)]   # see im2col.py
                            if v > best:                 # strict: the first maximum wins
                                best, best_at = v, (y0 + i) * W + x0 + j
                    out[n, c, oy, ox] = best
                    switches[n, c, oy, ox] = best_at
    return out, switches


@njit(cache=True, parallel=True)
def maxpool_backward(dout, switches, H, W):
    """dout (N, C, OH, OW) -> dx (N, C, H, W): each gradient goes to its window's argmax."""
    N, C, OH, OW = dout.shape
    dx = np.zeros((N, C, H * W), dtype=dout.dtype)
    for n in prange(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    dx[n, c, np.uint64(switches[n, c, oy, ox])] += dout[n, c, oy, ox]
    return dx.reshape(N, C, H, W)
