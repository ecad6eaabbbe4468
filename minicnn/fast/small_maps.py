r"""Convolution of small maps (vgg_bn_net's 3x3 layer) as one matrix product per output pixel.

On a 3x3 map with padding 1, a 3x3 filter's window hangs over the border at 8 of the 9
output pixels. im2col multiplies the padding's zeros too (81 taps per filter and input
channel, 49 of them inside the map), and Winograd's F(2x2, 3x3) computes a 4x4 block for
the 3x3 map. Here each output pixel o is one product over the whole batch: the input
pixels inside its window, channels last, times the filter taps that meet them,

    out[:, :, o] = X_o @ W_o        X_o (N, h*w*C): each image's h x w pixels under o's window
                                    W_o (h*w*C, F): the taps of every filter that meet them

so no zero is multiplied, and each product has the batch's N rows, where the BLAS runs
near its peak. The backward is each product's adjoint, summed where the windows overlap:

    dX_o = dout[:, :, o] @ W_o.T    dx[the pixels under o's window] += dX_o
    dW_o = X_o.T @ dout[:, :, o]    dw[the taps that meet them]     += dW_o

For vgg_bn_net's 3x3 layer (256 -> 256 channels), forward and backward of a training batch
of 512 images took 67 ms this way against 106 ms by F(2x2, 3x3) side by side and 140 ms by
im2col, on a Zen 4 core pair (PyTorch: 65 ms; benchmarks/README.md, session 19). With few
images the copies of the taps into each W_o (49 of a 3x3 map's 81, 5.4 times the filters'
size) cost more than the products save, so batches under settings().small_maps_min_images
take the other roads (fast/conv.py).
"""
import numpy as np

from minicnn.fast.parallel import for_each_share


def windows(size, K, padding, out_size):
    """Along one axis, stride 1: for each output position o, (i0, i1, k0): the input positions
    i0:i1 under o's window, which meet the filter's taps k0:k0 + (i1 - i0)."""
    spans = []
    for o in range(out_size):
        start = o - padding                       # the window's first position, maybe padding
        i0, i1 = max(0, start), min(size, start + K)
        spans.append((i0, i1, i0 - start))
    return spans


def pixel_windows(x_hw, w, padding, out_hw):
    """[(oy, ox, (iy0, iy1), (ix0, ix1), W_o)] for every output pixel whose window holds input
    pixels: W_o (h*w*C, F) the filter taps that meet them, in X_o's order (row, column, channel).
    Each W_o is the transpose of a (F, h*w*C) array, which the BLAS reads as it is (copying
    the taps into (h*w*C, F) order instead took several times longer than the products)."""
    F, C, KH, KW = w.shape
    taps = channels_last(w)                       # (F, KH, KW, C)
    pixels = []
    for oy, (iy0, iy1, ky0) in enumerate(windows(x_hw[0], KH, padding, out_hw[0])):
        for ox, (ix0, ix1, kx0) in enumerate(windows(x_hw[1], KW, padding, out_hw[1])):
            if iy1 > iy0 and ix1 > ix0:           # else all padding: out is the bias there
                W_o = taps[:, ky0:ky0 + iy1 - iy0, kx0:kx0 + ix1 - ix0].reshape(F, -1).T
                pixels.append((oy, ox, (iy0, iy1), (ix0, ix1), W_o))
    return pixels


def channels_last(a):
    """(N, C, H, W) -> (N, H, W, C), contiguous."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def forward(x, w, b, padding, min_share):
    """x (N, C, H, W), w (F, C, KH, KW), b (F,) or None; stride 1 -> out (N, F, OH, OW)."""
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = H + 2 * padding - KH + 1, W + 2 * padding - KW + 1
    pixels = pixel_windows((H, W), w, padding, (OH, OW))
    out = np.zeros((N, OH, OW, F), dtype=w.dtype)           # channels last until the end

    def forward_share(n0, n1):                                # images n0:n1, on one core
        xs = channels_last(x[n0:n1])                          # (n, H, W, C)
        for oy, ox, (iy0, iy1), (ix0, ix1), W_o in pixels:
            X_o = xs[:, iy0:iy1, ix0:ix1].reshape(n1 - n0, -1)        # (n, h*w*C)
            np.matmul(X_o, W_o, out=out[n0:n1, oy, ox])               # (n, F)
    for_each_share(N, forward_share, min_share)
    if b is not None:
        out += b                                              # (F,): the last axis
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))   # (N, F, OH, OW)


def backward(x, w, dout, padding, min_share, need_dx, need_dw, need_db):
    """x (the forward's input; needed for dw only), w, dout (N, F, OH, OW) -> dx, dw, db;
    None for those not asked for."""
    N, F, OH, OW = dout.shape
    _, C, KH, KW = w.shape
    H, W = OH - 2 * padding + KH - 1, OW - 2 * padding + KW - 1
    pixels = pixel_windows((H, W), w, padding, (OH, OW))
    dx = np.empty((N, C, H, W), dtype=w.dtype) if need_dx else None

    def backward_share(n0, n1):                               # images n0:n1, on one core
        n = n1 - n0
        g = channels_last(dout[n0:n1])                        # (n, OH, OW, F)
        xs = channels_last(x[n0:n1]) if need_dw else None     # (n, H, W, C)
        dxs = np.zeros((n, H, W, C), dtype=w.dtype) if need_dx else None
        dW = [np.empty(W_o.shape, w.dtype) for *_, W_o in pixels] if need_dw else None
        for p, (oy, ox, (iy0, iy1), (ix0, ix1), W_o) in enumerate(pixels):
            g_o = g[:, oy, ox]                                # (n, F)
            if need_dw:                                       # dW_o = X_o.T @ dout_o
                X_o = xs[:, iy0:iy1, ix0:ix1].reshape(n, -1)
                np.matmul(X_o.T, g_o, out=dW[p])              # (h*w*C, F)
            if need_dx:                                       # dX_o = dout_o @ W_o.T
                dxs[:, iy0:iy1, ix0:ix1] += (g_o @ W_o.T).reshape(n, iy1 - iy0, ix1 - ix0, C)
        if need_dx:
            dx[n0:n1] = dxs.transpose(0, 3, 1, 2)
        db = g.sum(axis=(0, 1, 2)) if need_db else None
        return dW, db

    shares = for_each_share(N, backward_share, min_share)
    dw = None
    if need_dw:                                               # each W_o's gradient to its taps
        taps = np.zeros((KH, KW, C, F), dtype=w.dtype)
        for p, (oy, ox, (iy0, iy1), (ix0, ix1), _) in enumerate(pixels):
            ky0, kx0 = iy0 - (oy - padding), ix0 - (ox - padding)
            taps[ky0:ky0 + iy1 - iy0, kx0:kx0 + ix1 - ix0] += sum(
                dW[p] for dW, _ in shares).reshape(iy1 - iy0, ix1 - ix0, C, F)
        dw = np.ascontiguousarray(taps.transpose(3, 2, 0, 1))  # (F, C, KH, KW)
    db = sum(db for _, db in shares) if need_db else None
    return dx, dw, db
