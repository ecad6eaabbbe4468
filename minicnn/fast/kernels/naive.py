"""Plain-loop twins of the numba kernels, written the obvious way.

They are slow and that is the point: each one states what the fast kernel
must compute, differently enough that a shared bug is unlikely. The tests
compare every kernel with its twin on random shapes.

The Winograd twins (F(2x2, 3x3) and F(4x4, 3x3), see kernels/winograd.py and
kernels/winograd4.py) write each tile transform as the matrix products of the paper,
BT @ d @ BT.T and AT @ m @ AT.T, one tile at a time, where the fast kernels spell out
the additions.
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


# Winograd's F(m x m, 3x3) (Lavin & Gray 2016): a 3x3 filter g on an n x n input
# tile d (n = m + 2) gives the tile's m x m block of outputs
#     AT @ [(G @ g @ G.T) * (BT @ d @ BT.T)] @ AT.T.
# F(2x2, 3x3): kernels/winograd.py; F(4x4, 3x3): kernels/winograd4.py.
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

# F(4x4, 3x3), from the interpolation points 0, 1, -1, 2, -2 and infinity
BT4 = np.array([[4, 0, -5, 0, 1, 0],
                [0, -4, -4, 1, 1, 0],
                [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0],
                [0, 2, -1, -2, 1, 0],
                [0, 4, 0, -5, 0, 1]], dtype=np.float64)   # (6, 6)
G4 = np.array([[1 / 4, 0, 0],
               [-1 / 6, -1 / 6, -1 / 6],
               [-1 / 6, 1 / 6, -1 / 6],
               [1 / 24, 1 / 12, 1 / 6],
               [1 / 24, -1 / 12, 1 / 6],
               [0, 0, 1]], dtype=np.float64)             # (6, 3)
AT4 = np.array([[1, 1, 1, 1, 1, 0],
                [0, 1, -1, 2, -2, 0],
                [0, 1, 1, 4, 4, 0],
                [0, 1, -1, 8, -8, 1]], dtype=np.float64)  # (4, 6)

WINOGRAD = {2: (BT, G, AT), 4: (BT4, G4, AT4)}           # m -> (BT, G, AT)


def winograd_tiles(size, padding, m=2):
    """Tiles along one side: enough m x m output blocks to cover OH = size + 2*padding - 2."""
    return -(-(size + 2 * padding - 2) // m)                  # ceil(OH / m)


def winograd_input_naive(x, padding, m=2):
    """x (N, C, H, W) -> V (n*n, C, N*TH*TW): BT @ d @ BT.T for every n x n tile d of the
    padded image (n = m + 2), tile (ty, tx) starting at row m*ty, column m*tx."""
    BT = WINOGRAD[m][0]
    n = m + 2
    N, C, H, W = x.shape
    TH, TW = winograd_tiles(H, padding, m), winograd_tiles(W, padding, m)
    # pad to m*TH + 2 rows and m*TW + 2 columns, so the last tiles are whole
    xp = np.pad(x, ((0, 0), (0, 0), (padding, m * TH + 2 - H - padding),
                    (padding, m * TW + 2 - W - padding)))
    V = np.zeros((n * n, C, N * TH * TW), dtype=x.dtype)
    for i in range(N):
        for c in range(C):
            for ty in range(TH):
                for tx in range(TW):
                    d = xp[i, c, m * ty:m * ty + n, m * tx:m * tx + n]       # (n, n)
                    V[:, c, (i * TH + ty) * TW + tx] = (BT @ d @ BT.T).reshape(n * n)
    return V


def winograd_input_adjoint_naive(dV, padding, N, C, H, W, m=2):
    """dV (n*n, C, N*TH*TW) -> dx (N, C, H, W): add BT.T @ dv @ BT onto every tile's n x n
    window of a padded canvas, then crop the padding."""
    BT = WINOGRAD[m][0]
    n = m + 2
    TH, TW = winograd_tiles(H, padding, m), winograd_tiles(W, padding, m)
    dxp = np.zeros((N, C, m * TH + 2, m * TW + 2), dtype=dV.dtype)   # holds the padded image
    for i in range(N):
        for c in range(C):
            for ty in range(TH):
                for tx in range(TW):
                    dv = dV[:, c, (i * TH + ty) * TW + tx].reshape(n, n)
                    dxp[i, c, m * ty:m * ty + n, m * tx:m * tx + n] += BT.T @ dv @ BT
    return dxp[:, :, padding:padding + H, padding:padding + W]


def winograd_output_naive(M, N, TH, TW, m=2):
    """M (n*n, F, N*TH*TW) -> out (N, F, m*TH, m*TW): AT @ mt @ AT.T for every tile's n x n mt."""
    AT = WINOGRAD[m][2]
    n = m + 2
    F = M.shape[1]
    out = np.zeros((N, F, m * TH, m * TW), dtype=M.dtype)
    for i in range(N):
        for f in range(F):
            for ty in range(TH):
                for tx in range(TW):
                    mt = M[:, f, (i * TH + ty) * TW + tx].reshape(n, n)
                    out[i, f, m * ty:m * ty + m, m * tx:m * tx + m] = AT @ mt @ AT.T
    return out


def winograd_output_adjoint_naive(dout, m=2):
    """dout (N, F, m*TH, m*TW) -> dM (n*n, F, N*TH*TW): AT.T @ g @ AT for every m x m block g."""
    AT = WINOGRAD[m][2]
    n = m + 2
    N, F, OHm, OWm = dout.shape
    TH, TW = OHm // m, OWm // m
    dM = np.zeros((n * n, F, N * TH * TW), dtype=dout.dtype)
    for i in range(N):
        for f in range(F):
            for ty in range(TH):
                for tx in range(TW):
                    g = dout[i, f, m * ty:m * ty + m, m * tx:m * tx + m]     # (m, m)
                    dM[:, f, (i * TH + ty) * TW + tx] = (AT.T @ g @ AT).reshape(n * n)
    return dM


def fingerprint_naive(words):
    """kernels/fingerprint.py's sum, with Python's integers and an explicit 2^64 wrap."""
    K1, K2, wrap = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 2 ** 64
    total = 0
    for i, v in enumerate(words.tolist()):
        u = ((v ^ (i * K1 % wrap)) * K2) % wrap
        total = (total + (u ^ (u >> 31))) % wrap
    return total
