r"""Winograd's F(4x4, 3x3): the tile transforms, forward and adjoint.

The larger sibling of winograd.py's F(2x2, 3x3). Each 4x4 block of outputs comes
from a 6x6 tile of the padded input, and costs 36 multiplies per channel in the
transformed domain instead of 4*4*9 = 144 directly: 4x fewer, against F(2x2, 3x3)'s
2.25x (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural Networks", whose
F(4x4, 3x3) takes the interpolation points 0, 1, -1, 2, -2 and infinity):

    B^T = [[4,  0, -5,  0, 1, 0],      G = [[ 1/4,     0,    0],     A^T = [[1, 1,  1, 1,  1, 0],
           [0, -4, -4,  1, 1, 0],           [-1/6,  -1/6, -1/6],            [0, 1, -1, 2, -2, 0],
           [0,  4, -4, -1, 1, 0],           [-1/6,   1/6, -1/6],            [0, 1,  1, 4,  4, 0],
           [0, -2, -1,  2, 1, 0],           [1/24,  1/12,  1/6],            [0, 1, -1, 8, -8, 1]]
           [0,  2, -1, -2, 1, 0],           [1/24, -1/12,  1/6],
           [0,  4,  0, -5, 0, 1]]           [   0,     0,    1]]

Its constants (up to 8, and 1/24) make float32 rounding a few times larger than F(2x2)'s:
about 1e-6 of the largest output instead of a few 1e-7, still far below what training or
the pictures can notice (Barabasz et al. 2020, "Error analysis and improving the accuracy
of Winograd convolution for deep neural networks", measure the same growth).

The layout is winograd.py's, with 4 where that has 2:

    V (36, C, T*TH*K)      index [6*a + b, c, (n*TH + ty)*K + tx]

tile (ty, tx) starts at row 4*ty, column 4*tx of the padded image and makes output rows
4*ty .. 4*ty + 3; K = TW + 1 slots per row of tiles, the last one spare. The padded image
is stored as four planes of its rows (row 4*i + q in plane q), so the tile's six rows
4*ty .. 4*ty + 5 are row ty of planes 0-3 and row ty + 1 of planes 0-1; its columns are
split the same way into four phases. Every loop is again a flat one that LLVM vectorises.

Two things differ from winograd.py, both for speed. A 6x6 tile has only about a quarter as
many slots per image as F(2x2)'s 4x4 tiles (72 for a 32x32 map), too short for SIMD loops
to pay for their set-up: so the passes along the rows, and the split of the columns into
phases before them, run over the slots of all T images at once (V's columns for one channel
are contiguous across images; split image by image, the whole input transform took 1.1-1.5x
as long at 16x16 and 32x32), and an image's last spare slot reads the next image's first
columns, junk as before. And the constants 2, 4, 5, 8 come in the arrays' dtype
(constants()): a Python integer times a float32 element is a float64 in numba, which halved
the SIMD width and made the transforms 2x slower.
Each kernel has a plain twin in naive.py (winograd_input_naive(x, padding, m=4) and so on).
"""
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def tile_grid4(OH, OW):
    """(TH, K) for an OH x OW output: TH = ceil(OH / 4) rows of K = ceil(OW / 4) + 1 tile
    slots, the last slot of each row spare."""
    return (OH + 3) // 4, (OW + 3) // 4 + 1


@njit(cache=True, nogil=True)
def constants(a):
    """2, 4, 5 and 8 in a's dtype. Numba types 4 * a[t] as float64 when a is float32 (an
    integer times a float32 is a float64), which would halve the SIMD width of every loop."""
    k = np.empty(4, dtype=a.dtype)
    k[0], k[1], k[2], k[3] = 2, 4, 5, 8
    return k[0], k[1], k[2], k[3]


@njit(cache=True, nogil=True)
def winograd4_input(x, padding, V):
    """x (T, C, H, W) -> V (36, C, T*TH*K): V[:, c, slot] = B^T d B for each 6x6 tile d.
    `V` is overwritten and returned."""
    T, C, H, W = x.shape
    TH, K = tile_grid4(H + 2 * padding - 2, W + 2 * padding - 2)
    Q, L = TH * K, 4 * K                                  # tile slots per image; a padded row
    two, four, five, eight = constants(x)
    # the padded image: xp[q, i*L + column] is row 4*i + q (+4: the last spare reads past the end)
    xp = np.zeros((4, (TH + 1) * L + 4), dtype=x.dtype)
    # B^T d of all T images: bt_d[a, (n*TH + ty)*L + column]; its columns 4u + p at phase[a, p, u]
    bt_d = np.zeros((6, T * TH * L + 4), dtype=x.dtype)
    phase = np.zeros((6, 4, T * Q + 1), dtype=x.dtype)
    for c in range(C):
        for n in range(T):
            for r in range(H):                            # copy the image in (the border stays 0)
                start = (r + padding) // 4 * L + padding
                row, pixels = xp[(r + padding) % 4, start:start + W], x[n, c, r]
                for j in range(W):
                    row[j] = pixels[j]
            d0, d1, d2, d3, d4, d5 = xp[0], xp[1], xp[2], xp[3], xp[0, L:], xp[1, L:]
            at = n * TH * L                               # image n's rows of tiles in bt_d
            b0, b1, b2 = bt_d[0, at:], bt_d[1, at:], bt_d[2, at:]
            b3, b4, b5 = bt_d[3, at:], bt_d[4, at:], bt_d[5, at:]
            for t in range(TH * L):                       # B^T down the columns
                b0[t] = four * d0[t] - five * d2[t] + d4[t]
            for t in range(TH * L):
                b1[t] = d3[t] + d4[t] - four * (d1[t] + d2[t])
            for t in range(TH * L):
                b2[t] = four * (d1[t] - d2[t]) - d3[t] + d4[t]
            for t in range(TH * L):
                b3[t] = two * (d3[t] - d1[t]) + d4[t] - d2[t]
            for t in range(TH * L):
                b4[t] = two * (d1[t] - d3[t]) + d4[t] - d2[t]
            for t in range(TH * L):
                b5[t] = four * d1[t] - five * d3[t] + d5[t]
        for a in range(6):                                # split the columns into 4 phases,
            s = bt_d[a]                                   # all T images in one loop (4Q = TH*L)
            p0, p1, p2, p3 = phase[a, 0], phase[a, 1], phase[a, 2], phase[a, 3]
            for u in range(T * Q + 1):
                p0[u] = s[4 * u]
                p1[u] = s[4 * u + 1]
                p2[u] = s[4 * u + 2]
                p3[u] = s[4 * u + 3]
        for a in range(6):                                # then B along the rows, all T images
            s0, s1, s2, s3 = phase[a, 0], phase[a, 1], phase[a, 2], phase[a, 3]   # in one go:
            s4, s5 = phase[a, 0, 1:], phase[a, 1, 1:]     # slot t has columns 4t .. 4t + 5
            v0, v1, v2 = V[6 * a, c], V[6 * a + 1, c], V[6 * a + 2, c]
            v3, v4, v5 = V[6 * a + 3, c], V[6 * a + 4, c], V[6 * a + 5, c]
            # one loop per row of B^T: with all six stores to V in one loop, this pass
            # took twice as long (LLVM left it scalar)
            for t in range(T * Q):
                v0[t] = four * s0[t] - five * s2[t] + s4[t]
            for t in range(T * Q):
                v1[t] = s3[t] + s4[t] - four * (s1[t] + s2[t])
            for t in range(T * Q):
                v2[t] = four * (s1[t] - s2[t]) - s3[t] + s4[t]
            for t in range(T * Q):
                v3[t] = two * (s3[t] - s1[t]) + s4[t] - s2[t]
            for t in range(T * Q):
                v4[t] = two * (s1[t] - s3[t]) + s4[t] - s2[t]
            for t in range(T * Q):
                v5[t] = four * s1[t] - five * s3[t] + s5[t]
    return V


@njit(cache=True, nogil=True)
def winograd4_input_adjoint(dV, padding, dx):
    """dV (36, C, T*TH*K) -> dx (T, C, H, W): adds B dV B^T onto each tile's 6x6 window of
    the padded image (windows overlap by 2), then drops the padding. The exact transpose of
    winograd4_input, spare slots included. `dx` is overwritten and returned."""
    T, C, H, W = dx.shape
    TH, K = tile_grid4(H + 2 * padding - 2, W + 2 * padding - 2)
    Q, L = TH * K, 4 * K
    two, four, five, eight = constants(dx)
    dxp = np.zeros((4, (TH + 1) * L + 4), dtype=dx.dtype)  # laid out as xp in winograd4_input
    b_dv = np.zeros((6, T * TH * L + 4), dtype=dx.dtype)  # laid out as bt_d, all T images
    phase = np.zeros((6, 4, T * Q + 1), dtype=dx.dtype)   # laid out as phase
    for c in range(C):
        for a in range(6):                                # B's transpose along the rows
            v0, v1, v2 = dV[6 * a, c], dV[6 * a + 1, c], dV[6 * a + 2, c]
            v3, v4, v5 = dV[6 * a + 3, c], dV[6 * a + 4, c], dV[6 * a + 5, c]
            s0, s1, s2, s3 = phase[a, 0], phase[a, 1], phase[a, 2], phase[a, 3]
            s4, s5 = phase[a, 0, 1:], phase[a, 1, 1:]
            s0[T * Q], s1[T * Q] = 0.0, 0.0               # only the last spare adds to these
            for t in range(T * Q):                        # columns 4t .. 4t + 3 of slot t
                s0[t] = four * v0[t]
            for t in range(T * Q):
                s1[t] = four * (v2[t] - v1[t] + v5[t]) + two * (v4[t] - v3[t])
            for t in range(T * Q):
                s2[t] = -five * v0[t] - four * (v1[t] + v2[t]) - v3[t] - v4[t]
            for t in range(T * Q):
                s3[t] = v1[t] - v2[t] + two * (v3[t] - v4[t]) - five * v5[t]
            for t in range(T * Q):                        # and 4t + 4, 4t + 5: the next slot's
                s4[t] += v0[t] + v1[t] + v2[t] + v3[t] + v4[t]
            for t in range(T * Q):
                s5[t] += v5[t]
        for a in range(6):                                # the phases back into columns,
            s = b_dv[a]                                   # all T images in one loop
            p0, p1, p2, p3 = phase[a, 0], phase[a, 1], phase[a, 2], phase[a, 3]
            for u in range(T * Q):
                s[4 * u] = p0[u]
                s[4 * u + 1] = p1[u]
                s[4 * u + 2] = p2[u]
                s[4 * u + 3] = p3[u]
        for n in range(T):
            at = n * TH * L                               # image n's rows of tiles in b_dv
            b0, b1, b2 = b_dv[0, at:], b_dv[1, at:], b_dv[2, at:]
            b3, b4, b5 = b_dv[3, at:], b_dv[4, at:], b_dv[5, at:]
            d0, d1, d2, d3, d4, d5 = dxp[0], dxp[1], dxp[2], dxp[3], dxp[0, L:], dxp[1, L:]
            d0[TH * L:] = 0.0                             # the last row of planes 0, 1 gets only
            d1[TH * L:] = 0.0                             # the += below: clear the previous plane's
            for t in range(TH * L):                       # B^T's transpose down the columns
                d0[t] = four * b0[t]
            for t in range(TH * L):
                d1[t] = four * (b2[t] - b1[t] + b5[t]) + two * (b4[t] - b3[t])
            for t in range(TH * L):
                d2[t] = -five * b0[t] - four * (b1[t] + b2[t]) - b3[t] - b4[t]
            for t in range(TH * L):
                d3[t] = b1[t] - b2[t] + two * (b3[t] - b4[t]) - five * b5[t]
            for t in range(TH * L):                       # rows 4ty + 4, 4ty + 5: the next tile row's
                d4[t] += b0[t] + b1[t] + b2[t] + b3[t] + b4[t]
            for t in range(TH * L):
                d5[t] += b5[t]
            for r in range(H):                            # copy out, dropping the padding
                start = (r + padding) // 4 * L + padding
                row, pixels = dxp[(r + padding) % 4, start:start + W], dx[n, c, r]
                for j in range(W):
                    pixels[j] = row[j]
    return dx


@njit(cache=True, nogil=True)
def winograd4_output(M, bias, out):
    """M (36, F, T*TH*K) -> out (T, F, OH, OW): each tile's 4x4 block A^T m A, plus bias[f],
    cropped to OH x OW (TH = ceil(OH / 4), K = ceil(OW / 4) + 1). Spare slots are skipped.
    `out` is overwritten and returned."""
    T, F, OH, OW = out.shape
    TH, K = tile_grid4(OH, OW)
    Q = TH * K
    two, four, five, eight = constants(M)
    at_m = np.empty((4, 6, T * Q), dtype=M.dtype)         # A^T m: at_m[a, b, slot], all T images
    y = np.empty((4, 4 * T * Q), dtype=M.dtype)           # y[a, n*4Q + ty*4K + column]: out row 4ty + a
    for f in range(F):
        for b in range(6):                                # A^T down the columns
            m0, m1, m2 = M[b, f], M[6 + b, f], M[12 + b, f]
            m3, m4, m5 = M[18 + b, f], M[24 + b, f], M[30 + b, f]
            y0, y1, y2, y3 = at_m[0, b], at_m[1, b], at_m[2, b], at_m[3, b]
            for t in range(T * Q):
                y0[t] = m0[t] + m1[t] + m2[t] + m3[t] + m4[t]
                y1[t] = m1[t] - m2[t] + two * (m3[t] - m4[t])
                y2[t] = m1[t] + m2[t] + four * (m3[t] + m4[t])
                y3[t] = m1[t] - m2[t] + eight * (m3[t] - m4[t]) + m5[t]
        for a in range(4):                                # then A along the rows: slot t makes
            u0, u1, u2 = at_m[a, 0], at_m[a, 1], at_m[a, 2]               # columns 4t .. 4t + 3
            u3, u4, u5 = at_m[a, 3], at_m[a, 4], at_m[a, 5]
            row = y[a]
            for t in range(T * Q):
                row[4 * t] = u0[t] + u1[t] + u2[t] + u3[t] + u4[t]
                row[4 * t + 1] = u1[t] - u2[t] + two * (u3[t] - u4[t])
                row[4 * t + 2] = u1[t] + u2[t] + four * (u3[t] + u4[t])
                row[4 * t + 3] = u1[t] - u2[t] + eight * (u3[t] - u4[t]) + u5[t]
        for n in range(T):                                # copy out with the bias, dropping the spares
            for oy in range(OH):
                start = n * 4 * Q + oy // 4 * 4 * K
                row, dst = y[oy % 4, start:start + OW], out[n, f, oy]
                for j in range(OW):
                    dst[j] = row[j] + bias[f]
    return out


@njit(cache=True, nogil=True)
def winograd4_output_adjoint(dout, dM):
    """dout (T, F, OH, OW) -> dM (36, F, T*TH*K): each 4x4 block of gradients g spread over
    its tile as A g A^T (outside OH x OW, g is 0); spare slots get 0. `dM` is overwritten
    and returned."""
    T, F, OH, OW = dout.shape
    TH, K = tile_grid4(OH, OW)
    Q = TH * K
    two, four, five, eight = constants(dout)
    g = np.zeros((4, 4 * T * Q), dtype=dout.dtype)        # laid out as y in winograd4_output
    g_at = np.empty((4, 6, T * Q), dtype=dout.dtype)      # g A^T: g_at[a, b, slot]
    for f in range(F):
        for n in range(T):                                # copy in (the rest of g stays 0)
            for oy in range(OH):
                start = n * 4 * Q + oy // 4 * 4 * K
                row, src = g[oy % 4, start:start + OW], dout[n, f, oy]
                for j in range(OW):
                    row[j] = src[j]
        for a in range(4):                                # A^T's transpose along the rows:
            row = g[a]                                    # (g0, g1, g2, g3) -> six values
            s0, s1, s2 = g_at[a, 0], g_at[a, 1], g_at[a, 2]
            s3, s4, s5 = g_at[a, 3], g_at[a, 4], g_at[a, 5]
            for t in range(T * Q):
                g0, g1, g2, g3 = row[4 * t], row[4 * t + 1], row[4 * t + 2], row[4 * t + 3]
                s0[t] = g0
                s1[t] = g0 + g1 + g2 + g3
                s2[t] = g0 - g1 + g2 - g3
                s3[t] = g0 + two * g1 + four * g2 + eight * g3
                s4[t] = g0 - two * g1 + four * g2 - eight * g3
                s5[t] = g3
        for b in range(6):                                # and down the columns
            t0, t1, t2, t3 = g_at[0, b], g_at[1, b], g_at[2, b], g_at[3, b]
            d0, d1, d2 = dM[b, f], dM[6 + b, f], dM[12 + b, f]
            d3, d4, d5 = dM[18 + b, f], dM[24 + b, f], dM[30 + b, f]
            for t in range(T * Q):
                d0[t] = t0[t]
                d1[t] = t0[t] + t1[t] + t2[t] + t3[t]
                d2[t] = t0[t] - t1[t] + t2[t] - t3[t]
                d3[t] = t0[t] + two * t1[t] + four * t2[t] + eight * t3[t]
                d4[t] = t0[t] - two * t1[t] + four * t2[t] - eight * t3[t]
                d5[t] = t3[t]
    return dM
