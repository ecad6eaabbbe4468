"""Plain-loop twins of the numba kernels, written the obvious way.

They are slow and that is the point: each one states what the fast kernel
must compute, differently enough that a shared bug is unlikely. The tests
compare every kernel with its twin on random shapes.

The Winograd twins (F(2x2, 3x3), see kernels/winograd.py) write each tile
transform as the matrix products of the paper, BT @ d @ BT.T and AT @ m @ AT.T,
one 4x4 tile at a time, where the fast kernels spell out the additions.
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


# Winograd's F(2x2, 3x3) (Lavin & Gray 2016, eq. 8): a 3x3 filter g on a 4x4 input tile d
# gives the tile's 2x2 block of outputs  AT @ [(G @ g @ G.T) * (BT @ d @ BT.T)] @ AT.T.
BT = np.array([[1, 0, -1, 0],
               [0, 1, 1, 0],
               [0, -1, 1, 0],
               [0, 1, 0, -1]], dtype=np.float64)          # (4, 4) input transform
G = np.array([[1, 0, 0],
              [1 / 2, 1 / 2, 1 / 2],
              [1 / 2, -1 / 2, 1 / 2],
              [0, 0, 1]], dtype=np.float64)              # (4, 3) filter transform
AT = np.array([[1, 1, 1, 0],
               [0, 1, -1, -1]], dtype=np.float64)        # (2, 4) output transform


def winograd_tiles(size, padding):
    """Tiles along one side: enough 2x2 output blocks to cover OH = size + 2*padding - 2."""
    return -(-(size + 2 * padding - 2) // 2)                  # ceil(OH / 2)


def winograd_input_naive(x, padding):
    """x (N, C, H, W) -> V (16, C, N*TH*TW): BT @ d @ BT.T for every 4x4 tile d of the
    padded image, tile (ty, tx) starting at row 2*ty, column 2*tx."""
    N, C, H, W = x.shape
    TH, TW = winograd_tiles(H, padding), winograd_tiles(W, padding)
    # pad to 2*TH + 2 rows and 2*TW + 2 columns, so the last tiles are whole
    xp = np.pad(x, ((0, 0), (0, 0), (padding, 2 * TH + 2 - H - padding),
                    (padding, 2 * TW + 2 - W - padding)))
    V = np.zeros((16, C, N * TH * TW), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for ty in range(TH):
                for tx in range(TW):
                    d = xp[n, c, 2 * ty:2 * ty + 4, 2 * tx:2 * tx + 4]       # (4, 4)
                    V[:, c, (n * TH + ty) * TW + tx] = (BT @ d @ BT.T).reshape(16)
    return V


def winograd_input_adjoint_naive(dV, padding, N, C, H, W):
    """dV (16, C, N*TH*TW) -> dx (N, C, H, W): add BT.T @ dv @ BT onto every tile's 4x4
    window of a padded canvas, then crop the padding."""
    TH, TW = winograd_tiles(H, padding), winograd_tiles(W, padding)
    dxp = np.zeros((N, C, 2 * TH + 2, 2 * TW + 2), dtype=dV.dtype)   # holds the padded image
    for n in range(N):
        for c in range(C):
            for ty in range(TH):
                for tx in range(TW):
                    dv = dV[:, c, (n * TH + ty) * TW + tx].reshape(4, 4)
                    dxp[n, c, 2 * ty:2 * ty + 4, 2 * tx:2 * tx + 4] += BT.T @ dv @ BT
    return dxp[:, :, padding:padding + H, padding:padding + W]


def winograd_output_naive(M, N, TH, TW):
    """M (16, F, N*TH*TW) -> out (N, F, 2*TH, 2*TW): AT @ m @ AT.T for every tile's 4x4 m."""
    F = M.shape[1]
    out = np.zeros((N, F, 2 * TH, 2 * TW), dtype=M.dtype)
    for n in range(N):
        for f in range(F):
            for ty in range(TH):
                for tx in range(TW):
                    m = M[:, f, (n * TH + ty) * TW + tx].reshape(4, 4)
                    out[n, f, 2 * ty:2 * ty + 2, 2 * tx:2 * tx + 2] = AT @ m @ AT.T
    return out


def winograd_output_adjoint_naive(dout):
    """dout (N, F, 2*TH, 2*TW) -> dM (16, F, N*TH*TW): AT.T @ g @ AT for every 2x2 block g."""
    N, F, OH2, OW2 = dout.shape
    TH, TW = OH2 // 2, OW2 // 2
    dM = np.zeros((16, F, N * TH * TW), dtype=dout.dtype)
    for n in range(N):
        for f in range(F):
            for ty in range(TH):
                for tx in range(TW):
                    g = dout[n, f, 2 * ty:2 * ty + 2, 2 * tx:2 * tx + 2]     # (2, 2)
                    dM[:, f, (n * TH + ty) * TW + tx] = (AT.T @ g @ AT).reshape(16)
    return dM
