r"""Convolution of small maps (vgg_bn_net's 3x3 layer, residual_net's 4x4) by matrix products
per output pixel.

On a 3x3 map with padding 1, a 3x3 filter's window hangs over the border at 8 of the 9
output pixels. im2col multiplies the padding's zeros too (81 taps per filter and input
channel, 49 of them inside the map), and Winograd's F(2x2, 3x3) computes a 4x4 block for
the 3x3 map. Here each output pixel o is a sum of products over the whole batch, one for
each row of o's window that lies inside the map: that row's input pixels, channels last,
times the filter taps that meet them,

    out[:, :, o] = sum over the rows r of o's window of  X_r @ W_r.T
        X_r (N, w*C): the w pixels of row r under the window, each with its C channels
        W_r (F, w*C): the taps of every filter that meet them

so no zero is multiplied, and each product has the batch's N rows, where the BLAS runs
near its peak. X_r and W_r are views of the input and the filters laid out channels last:
nothing is copied per pixel. The backward is each product's adjoint, summed where the
windows overlap:

    dx[row r's pixels] += dout[:, :, o] @ W_r      dw[the taps of W_r] += dout[:, :, o].T @ X_r

For vgg_bn_net's 3x3 layer (256 -> 256 channels), forward and backward of a training batch
of 512 images took 77 ms this way against 139 ms by F(2x2, 3x3) side by side and 186 ms by
im2col, on a Zen 4 core pair (PyTorch: 87 ms; benchmarks/README.md, session 19); at 4x4,
130 ms against 167 ms by F(2x2, 3x3). Each tap is read once for every output pixel that uses
it, so in small batches the other roads are faster: fast/conv.py takes this one from
settings().small_maps_images_per_pixel images per output pixel.
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


def window_rows(x_hw, kernel_hw, padding, out_hw):
    """[(oy, ox, iy, ky, (ix0, ix1), (kx0, kx1))]: for every output pixel (oy, ox), each row iy
    of its window that holds input pixels, ix0:ix1, which meet the filters' row ky, taps kx0:kx1."""
    rows = windows(x_hw[0], kernel_hw[0], padding, out_hw[0])
    columns = windows(x_hw[1], kernel_hw[1], padding, out_hw[1])
    pieces = []
    for oy, (iy0, iy1, ky0) in enumerate(rows):
        for ox, (ix0, ix1, kx0) in enumerate(columns):
            if ix1 > ix0:                         # else all padding: out is the bias there
                kx = (kx0, kx0 + ix1 - ix0)
                pieces += [(oy, ox, iy, ky0 + iy - iy0, (ix0, ix1), kx) for iy in range(iy0, iy1)]
    return pieces


def channels_last(a):
    """(N, C, H, W) -> (N, H, W, C), contiguous."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def forward(x, w, b, padding, min_share):
    """x (N, C, H, W), w (F, C, KH, KW), b (F,) or None; stride 1 -> out (N, F, OH, OW)."""
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = H + 2 * padding - KH + 1, W + 2 * padding - KW + 1
    taps = channels_last(w)                                   # (F, KH, KW, C)
    pieces = window_rows((H, W), (KH, KW), padding, (OH, OW))
    out = np.zeros((N, OH, OW, F), dtype=w.dtype)             # channels last until the end

    def forward_share(n0, n1):                                # images n0:n1, on one core
        n = n1 - n0
        xs = channels_last(x[n0:n1])                          # (n, H, W, C)
        product = np.empty((n, F), dtype=w.dtype)
        for oy, ox, iy, ky, (ix0, ix1), (kx0, kx1) in pieces:
            X_r = xs[:, iy, ix0:ix1].reshape(n, -1)           # (n, w*C)
            W_r = taps[:, ky, kx0:kx1].reshape(F, -1)         # (F, w*C)
            out[n0:n1, oy, ox] += np.matmul(X_r, W_r.T, out=product)   # (n, F)
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
    taps = channels_last(w) if need_dx else None              # (F, KH, KW, C)
    pieces = window_rows((H, W), (KH, KW), padding, (OH, OW))
    dx = np.empty((N, C, H, W), dtype=w.dtype) if need_dx else None

    def backward_share(n0, n1):                               # images n0:n1, on one core
        n = n1 - n0
        g = channels_last(dout[n0:n1])                        # (n, OH, OW, F)
        xs = channels_last(x[n0:n1]) if need_dw else None     # (n, H, W, C)
        dxs = np.zeros((n, H, W, C), dtype=w.dtype) if need_dx else None
        dtaps = np.zeros((F, KH, KW, C), dtype=w.dtype) if need_dw else None
        for oy, ox, iy, ky, (ix0, ix1), (kx0, kx1) in pieces:
            g_o = g[:, oy, ox]                                # (n, F)
            if need_dw:                                       # dW_r = dout_o.T @ X_r
                X_r = xs[:, iy, ix0:ix1].reshape(n, -1)       # (n, w*C)
                dtaps[:, ky, kx0:kx1] += (g_o.T @ X_r).reshape(F, -1, C)
            if need_dx:                                       # dX_r = dout_o @ W_r
                W_r = taps[:, ky, kx0:kx1].reshape(F, -1)     # (F, w*C)
                dxs[:, iy, ix0:ix1] += (g_o @ W_r).reshape(n, -1, C)
        if need_dx:
            dx[n0:n1] = dxs.transpose(0, 3, 1, 2)
        db = g.sum(axis=(0, 1, 2)) if need_db else None
        return dtaps, db

    shares = for_each_share(N, backward_share, min_share)
    dw = None
    if need_dw:                                               # (F, KH, KW, C) -> (F, C, KH, KW)
        dw = np.ascontiguousarray(sum(dtaps for dtaps, _ in shares).transpose(0, 3, 1, 2))
    db = sum(db for _, db in shares) if need_db else None
    return dx, dw, db
