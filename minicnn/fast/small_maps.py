r"""Convolution of small maps (vgg_bn_net's 3x3 layer, residual_net's 4x4) without the
padding's taps.

On a 3x3 map with padding 1, a 3x3 filter's window hangs over the border at 8 of the 9
output pixels. im2col multiplies the padding's zeros too (81 taps per filter and input
channel, 49 of them inside the map), and Winograd's F(2x2, 3x3) computes a 4x4 block for
the 3x3 map. Here only the taps that meet the input are multiplied, channels last, in one
of two groupings of the same sums.

Per filter tap (batches of 16 to 383 images). Each tap k = (ky, kx) of the filters meets,
in one product, every input pixel it lands on in the whole batch: the block of outputs
whose windows put that tap inside the map, and the block of input pixels under it (shifted
by the tap's offset),

    out[:, oy0:oy1, ox0:ox1] += X_k @ W_k        for each tap k = (ky, kx)
        X_k (n*h*w, C): the h x w input pixels the tap meets, of every image
        W_k (C, F):     tap k of every filter, taps[ky, kx]

Each tap's filters (C x F: 256 KB at 256 channels) are read once per share and stay in the
cache while used. The filters are laid out per tap (taps_of) once per call, or once for good
while they get no gradient (kept_taps). The backward is each product's adjoint, added up
where the taps' blocks overlap:

    dx[the block under tap k] += dout_k @ W_k.T        dW_k = X_k.T @ dout_k

Per output pixel (batches of 384 or more). Each output pixel o is a sum of products over the
batch, one for each row of o's window that lies inside the map: that row's input pixels
times the filter taps that meet them,

    out[:, :, o] = sum over the rows r of o's window of  X_r @ W_r.T
        X_r (N, w*C): the w pixels of row r under the window, each with its C channels
        W_r (F, w*C): the taps of every filter that meet them

X_r and W_r are views of the input and the filters laid out channels last: nothing is
copied per pixel, where the per-tap products copy each block X_k, which in large batches no
longer fits the cache. The backward:

    dx[row r's pixels] += dout[:, :, o] @ W_r      dw[the taps of W_r] += dout[:, :, o].T @ X_r

On a Zen 4 core pair, 256 -> 256 channels (benchmarks/README.md, session 21), per tap
against per pixel, forward and all gradients: 1.20x as fast at 128 images (3x3 maps), 1.30x
(4x4); level at 384; 0.95x and 0.93x at 512 (vgg_bn_net's and residual_net's training
batches). Against im2col (3x3) and Winograd (4x4), which small batches took before: 1.8x
and 1.3x at 64 images, 1.04x and 1.18x at 16; at 8 images 0.86x and 1.2x. Filters that
get no gradient, forward alone: 1.54x and 1.11x at 16 images, 1.33x and 1.24x at 8,
0.63-0.97x at one or two, where reading the kept taps besides the filters' fingerprint
(fast/kept.py) costs more than the taps save. Session 19 had the products per pixel alone,
from 63 images (3x3) and 112 (4x4): 77 against 139 ms by F(2x2, 3x3) and 186 ms by im2col
for a training batch of 512 at 3x3 (PyTorch: 87 ms). fast/conv.py takes this module's
roads from settings().small_maps_min_images and small_maps_by_pixel_min_images.
"""
import numpy as np

from minicnn.fast.kept import kept
from minicnn.fast.parallel import for_each_part, for_each_share, least_share, product_work


def channels_last(a):
    """(N, C, H, W) -> (N, H, W, C), contiguous."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def tap_span(size, padding, out_size, k):
    """Along one axis, stride 1, for tap k of the filter: the outputs o0:o1 whose window puts
    tap k inside the input, and i0, the input position under tap k at output o0."""
    o0, o1 = max(0, padding - k), min(out_size, size + padding - k)
    return o0, o1, o0 - padding + k


def tap_blocks(x_hw, kernel_hw, padding, out_hw):
    """[(ky, kx, (oy0, oy1), (ox0, ox1), (iy0, ix0))]: for every tap that meets the input
    somewhere, the block of outputs it adds to and the corner of the input block under it
    (of the same size)."""
    blocks = []
    for ky in range(kernel_hw[0]):
        oy0, oy1, iy0 = tap_span(x_hw[0], padding, out_hw[0], ky)
        for kx in range(kernel_hw[1]):
            ox0, ox1, ix0 = tap_span(x_hw[1], padding, out_hw[1], kx)
            if oy1 > oy0 and ox1 > ox0:                    # else the tap only meets padding
                blocks.append((ky, kx, (oy0, oy1), (ox0, ox1), (iy0, ix0)))
    return blocks


def taps_of(w):
    """w (F, C, KH, KW) -> taps (KH, KW, C, F): W_k = taps[ky, kx], a (C, F) matrix per tap."""
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


def kept_taps(w):
    """taps_of(w), kept while the array w lives and its values stay the same (fast/kept.py):
    for filters that get no gradient. Read-only."""
    return kept(w, "taps", taps_of)


def tap_work(N, F, C, blocks, weights):
    """The multiply-adds of a batch of N images' products on either road (every tap times
    every input pixel it meets, the `blocks` of tap_blocks), with each of the weights read
    counted as parallel.product_work counts it: what decides how the batch is shared out."""
    pixels_met = sum((oy1 - oy0) * (ox1 - ox0) for _, _, (oy0, oy1), (ox0, ox1), _ in blocks)
    return product_work(N * F * C * pixels_met, weights)


def forward_by_taps(x, taps, b, padding):
    """x (N, C, H, W), taps (KH, KW, C, F) from taps_of, b (F,) or None; stride 1
    -> out (N, F, OH, OW)."""
    N, C, H, W = x.shape
    KH, KW, _, F = taps.shape
    OH, OW = H + 2 * padding - KH + 1, W + 2 * padding - KW + 1
    blocks = tap_blocks((H, W), (KH, KW), padding, (OH, OW))
    out = np.empty((N, F, OH, OW), dtype=taps.dtype)

    def forward_part(n0, n1, f0, f1):                         # images n0:n1, filters f0:f1
        n = n1 - n0
        xs = channels_last(x[n0:n1])                          # (n, H, W, C)
        o = np.zeros((n, OH, OW, f1 - f0), dtype=taps.dtype)  # channels last until the end
        for ky, kx, (oy0, oy1), (ox0, ox1), (iy0, ix0) in blocks:
            h, w = oy1 - oy0, ox1 - ox0                       # the block: h x w pixels
            X_k = xs[:, iy0:iy0 + h, ix0:ix0 + w].reshape(-1, C)    # (n*h*w, C), a copy
            o[:, oy0:oy1, ox0:ox1] += (X_k @ taps[ky, kx, :, f0:f1]).reshape(n, h, w, -1)
        if b is not None:
            o += b[f0:f1]                                     # (F',): the last axis
        out[n0:n1, f0:f1] = o.transpose(0, 3, 1, 2)
    for_each_part(N, F, forward_part, tap_work(N, F, C, blocks, taps.size))
    return out


def backward_by_taps(x, taps, dout, padding, need_dx, need_dw, need_db):
    """x (the forward's input; needed for dw only), taps (KH, KW, C, F), dout (N, F, OH, OW)
    -> dx, dw (F, C, KH, KW), db; None for those not asked for."""
    N, F, OH, OW = dout.shape
    KH, KW, C, _ = taps.shape
    H, W = OH - 2 * padding + KH - 1, OW - 2 * padding + KW - 1
    blocks = tap_blocks((H, W), (KH, KW), padding, (OH, OW))
    dx = np.empty((N, C, H, W), dtype=taps.dtype) if need_dx else None

    def backward_part(n0, n1, c0, c1):                        # images n0:n1, dx's channels c0:c1
        n = n1 - n0
        g = channels_last(dout[n0:n1])                        # (n, OH, OW, F)
        xs = channels_last(x[n0:n1]) if need_dw else None     # (n, H, W, C)
        dxs = np.zeros((n, H, W, c1 - c0), dtype=taps.dtype) if need_dx else None
        dtaps = np.zeros(taps.shape, dtype=taps.dtype) if need_dw else None
        for ky, kx, (oy0, oy1), (ox0, ox1), (iy0, ix0) in blocks:
            h, w = oy1 - oy0, ox1 - ox0                       # the block: h x w pixels
            g_k = g[:, oy0:oy1, ox0:ox1].reshape(-1, F)       # (n*h*w, F), a copy
            if need_dw:                                       # dW_k = X_k.T @ dout_k
                X_k = xs[:, iy0:iy0 + h, ix0:ix0 + w].reshape(-1, C)
                np.matmul(X_k.T, g_k, out=dtaps[ky, kx])
            if need_dx:                                       # dX_k = dout_k @ W_k.T
                W_k = taps[ky, kx, c0:c1]                     # (C', F)
                dxs[:, iy0:iy0 + h, ix0:ix0 + w] += (g_k @ W_k.T).reshape(n, h, w, -1)
        if need_dx:
            dx[n0:n1, c0:c1] = dxs.transpose(0, 3, 1, 2)
        db = g.sum(axis=(0, 1, 2)) if need_db else None
        return dtaps, db

    # dx alone (explanations) shares a single image by its channels; dw and db sum over images
    shares = for_each_part(N, C, backward_part, tap_work(N, F, C, blocks, taps.size),
                           by_channels=not (need_dw or need_db))
    dw = None
    if need_dw:                                               # (KH, KW, C, F) -> (F, C, KH, KW)
        dw = np.ascontiguousarray(sum(dtaps for dtaps, _ in shares).transpose(3, 2, 0, 1))
    db = sum(db for _, db in shares) if need_db else None
    return dx, dw, db


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


def forward_by_pixels(x, w, b, padding):
    """x (N, C, H, W), w (F, C, KH, KW), b (F,) or None; stride 1 -> out (N, F, OH, OW)."""
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = H + 2 * padding - KH + 1, W + 2 * padding - KW + 1
    w_last = channels_last(w)                                 # (F, KH, KW, C)
    pieces = window_rows((H, W), (KH, KW), padding, (OH, OW))
    work = tap_work(N, F, C, tap_blocks((H, W), (KH, KW), padding, (OH, OW)), w.size)
    out = np.zeros((N, OH, OW, F), dtype=w.dtype)             # channels last until the end

    def forward_share(n0, n1):                                # images n0:n1, on one core
        n = n1 - n0
        xs = channels_last(x[n0:n1])                          # (n, H, W, C)
        product = np.empty((n, F), dtype=w.dtype)
        for oy, ox, iy, ky, (ix0, ix1), (kx0, kx1) in pieces:
            X_r = xs[:, iy, ix0:ix1].reshape(n, -1)           # (n, w*C)
            W_r = w_last[:, ky, kx0:kx1].reshape(F, -1)       # (F, w*C)
            out[n0:n1, oy, ox] += np.matmul(X_r, W_r.T, out=product)   # (n, F)
    for_each_share(N, forward_share, least_share(N, work))
    if b is not None:
        out += b                                              # (F,): the last axis
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))   # (N, F, OH, OW)


def backward_by_pixels(x, w, dout, padding, need_dx, need_dw, need_db):
    """x (the forward's input; needed for dw only), w, dout (N, F, OH, OW) -> dx, dw, db;
    None for those not asked for."""
    N, F, OH, OW = dout.shape
    _, C, KH, KW = w.shape
    H, W = OH - 2 * padding + KH - 1, OW - 2 * padding + KW - 1
    w_last = channels_last(w) if need_dx else None            # (F, KH, KW, C)
    pieces = window_rows((H, W), (KH, KW), padding, (OH, OW))
    work = tap_work(N, F, C, tap_blocks((H, W), (KH, KW), padding, (OH, OW)), w.size)
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
                W_r = w_last[:, ky, kx0:kx1].reshape(F, -1)   # (F, w*C)
                dxs[:, iy, ix0:ix1] += (g_o @ W_r).reshape(n, -1, C)
        if need_dx:
            dx[n0:n1] = dxs.transpose(0, 3, 1, 2)
        db = g.sum(axis=(0, 1, 2)) if need_db else None
        return dtaps, db

    shares = for_each_share(N, backward_share, least_share(N, work))
    dw = None
    if need_dw:                                               # (F, KH, KW, C) -> (F, C, KH, KW)
        dw = np.ascontiguousarray(sum(dtaps for dtaps, _ in shares).transpose(0, 3, 1, 2))
    db = sum(db for _, db in shares) if need_db else None
    return dx, dw, db
