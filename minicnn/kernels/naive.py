"""Plain-loop twins of the numba kernels, written the obvious way.

They are slow and that is the point: each one states what the fast kernel
must compute, differently enough that a shared bug is unlikely. The tests
compare every kernel with its twin on random shapes.
"""
import numpy as np


def im2col_naive(x, KH, KW, stride, padding):
    """Pad, then copy each window as one flattened column: (N, C*KH*KW, OH*OW)."""
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    cols = np.zeros((N, C * KH * KW, OH * OW), dtype=x.dtype)
    for n in range(N):
        for oy in range(OH):
            for ox in range(OW):
                window = xp[n, :, oy * stride:oy * stride + KH, ox * stride:ox * stride + KW]
                cols[n, :, oy * OW + ox] = window.reshape(-1)   # C, KH, KW order
    return cols


def col2im_naive(cols, N, C, H, W, KH, KW, stride, padding):
    """Add every column back onto its window of a padded canvas, then crop the padding."""
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    dxp = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=cols.dtype)
    for n in range(N):
        for oy in range(OH):
            for ox in range(OW):
                window = cols[n, :, oy * OW + ox].reshape(C, KH, KW)
                dxp[n, :, oy * stride:oy * stride + KH, ox * stride:ox * stride + KW] += window
    return dxp[:, :, padding:padding + H, padding:padding + W]


def conv2d_naive(x, w, b, stride, padding):
    """Direct convolution, six nested loops: out[n,f,oy,ox] = b[f] + sum_{c,i,j} w[f,c,i,j] xp[...]."""
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    out = np.zeros((N, F, OH, OW), dtype=np.result_type(x, w))
    for n in range(N):
        for f in range(F):
            for oy in range(OH):
                for ox in range(OW):
                    total = 0.0 if b is None else b[f]
                    for c in range(C):
                        for i in range(KH):
                            for j in range(KW):
                                total += w[f, c, i, j] * xp[n, c, oy * stride + i, ox * stride + j]
                    out[n, f, oy, ox] = total
    return out


def maxpool_forward_naive(x, KH, KW, SH, SW):
    """np.argmax over each flattened window (it returns the first maximum)."""
    N, C, H, W = x.shape
    OH, OW = (H - KH) // SH + 1, (W - KW) // SW + 1
    out = np.zeros((N, C, OH, OW), dtype=x.dtype)
    switches = np.zeros((N, C, OH, OW), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    window = x[n, c, oy * SH:oy * SH + KH, ox * SW:ox * SW + KW]
                    k = int(np.argmax(window))
                    i, j = divmod(k, KW)
                    out[n, c, oy, ox] = window[i, j]
                    switches[n, c, oy, ox] = (oy * SH + i) * W + ox * SW + j
    return out, switches


def maxpool_backward_naive(dout, switches, H, W):
    N, C, OH, OW = dout.shape
    dx = np.zeros((N, C, H, W), dtype=dout.dtype)
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    y, x = divmod(int(switches[n, c, oy, ox]), W)
                    dx[n, c, y, x] += dout[n, c, oy, ox]
    return dx
