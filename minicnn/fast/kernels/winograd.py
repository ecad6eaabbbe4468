r"""Winograd's minimal filtering F(2x2, 3x3): the tile transforms, forward and adjoint.

A 3x3 convolution computes each 2x2 block of outputs from a 4x4 tile of the
(padded) input d. Directly that costs 2*2*9 = 36 multiplies per channel; in
Winograd's transformed domain it costs 16 (Lavin & Gray 2016, "Fast Algorithms
for Convolutional Neural Networks", eq. 8):

.. math::
    Y = A^T \Big[ \sum_c (G g_c G^T) \odot (B^T d_c B) \Big] A

with g_c the 3x3 filter of channel c and

    B^T = [[1, 0, -1,  0],     G = [[ 1,    0,   0 ],     A^T = [[1, 1,  1,  0],
           [0, 1,  1,  0],          [1/2,  1/2, 1/2],            [0, 1, -1, -1]]
           [0, -1, 1,  0],          [1/2, -1/2, 1/2],
           [0, 1,  0, -1]]          [ 0,    0,   1 ]]

The sum over channels, for each of the 16 positions k of a tile, is a matrix
multiply: M[k] (F, P) = U[k] (F, C) @ V[k] (C, P) over all P tiles. So the
convolution becomes 16 smaller matrix multiplies, 2.25x fewer flops than
im2col's one, plus the cheap transforms below (only additions). fast/winograd.py
does the multiplies; these kernels do the transforms, on arrays laid out as

    V (16, C, T*TH*K)      index [4*a + b, c, (n*TH + ty)*K + tx]

for T images cut into TH x TW tiles (tile (ty, tx) starts at input row 2*ty,
column 2*tx of the padded image, and makes output rows 2*ty, 2*ty + 1), with
K = TW + 1 slots for each row of tiles: the last one is spare (see below).

Backward runs the same steps in reverse, through each step's adjoint
(transpose): input_adjoint adds B dV B^T back onto the overlapping 4x4 tiles,
output_adjoint spreads each 2x2 block of gradients as A dY A^T.

All four kernels are serial and release the GIL (nogil), like im2col.py; each
has a plain twin in naive.py written with matrix products.

How they are made fast: every loop is a long, flat loop over contiguous memory
that LLVM turns into SIMD instructions. Two things make that possible.

- The padded image is stored as its even rows, then its odd rows. Tile row ty
  covers rows 2*ty .. 2*ty + 3, which are then row ty and row ty + 1 of those
  two halves: so "the same step for every tile row" is one loop over a flat
  array and the same array shifted by one row (L entries further on).
- Along a row, tile tx covers columns 2*tx .. 2*tx + 3: column pairs tx and
  tx + 1. After the columns are split into even and odd ones, "pair tx + 1"
  is again the same array shifted by one. Shifting by one pair at the end of
  a row lands on the next row's first pair, so each row of tiles gets one
  *spare* slot at its end (K = TW + 1 slots for TW tiles). A spare's values are
  junk (finite: differences of real pixels) and are never used: the output
  transform skips them and the output adjoint gives them zero gradient. The
  matrix multiplies do the spare slots too: 1/TW more work (6% for 32x32
  images, 12% at 16x16), for transforms several times faster.

So V and M are laid out as (16, C, T*TH*K), tile (ty, tx) of image n at
column (n*TH + ty)*K + tx. Indices into arrays are plain loop counters or
pre-shifted views (x[L:]): an index such as t + L is signed, and numba's
negative-index check on it stops LLVM from vectorising the loop.
"""
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def tile_grid(OH, OW):
    """(TH, K) for an OH x OW output (OH = H + 2*padding - 2): TH = ceil(OH / 2) rows of
    K = ceil(OW / 2) + 1 tile slots, the last slot of each row spare."""
    return (OH + 1) // 2, (OW + 1) // 2 + 1


@njit(cache=True, nogil=True)
def winograd_input(x, padding, V):
    """x (T, C, H, W) -> V (16, C, T*TH*K): V[:, c, slot] = B^T d B for each 4x4 tile d.
    `V` is overwritten and returned."""
    T, C, H, W = x.shape
    TH, K = tile_grid(H + 2 * padding - 2, W + 2 * padding - 2)
    Q, L = TH * K, 2 * K                                  # tile slots per image; a padded row
    # the padded image: xp[q, i*L + column] is row 2*i + q (the +2: the last spare reads past the end)
    xp = np.zeros((2, (TH + 1) * L + 2), dtype=x.dtype)
    bt_d = np.zeros((4, TH * L + 2), dtype=x.dtype)       # B^T d: bt_d[a, ty*L + column]
    even = np.empty((4, Q + 1), dtype=x.dtype)            # bt_d's even and odd columns:
    odd = np.empty((4, Q + 1), dtype=x.dtype)             # pair u of tile row ty at [ty*K + u]
    for n in range(T):
        for c in range(C):
            for r in range(H):                            # copy the image in (the border stays 0)
                start = (r + padding) // 2 * L + padding
                row, pixels = xp[(r + padding) % 2, start:start + W], x[n, c, r]
                for j in range(W):
                    row[j] = pixels[j]
            d0, d1, d2, d3 = xp[0], xp[1], xp[0, L:], xp[1, L:]   # rows 2ty, 2ty+1, 2ty+2, 2ty+3
            b0, b1, b2, b3 = bt_d[0], bt_d[1], bt_d[2], bt_d[3]
            for t in range(TH * L):                       # B^T down the columns
                b0[t] = d0[t] - d2[t]
            for t in range(TH * L):
                b1[t] = d1[t] + d2[t]
            for t in range(TH * L):
                b2[t] = d2[t] - d1[t]
            for t in range(TH * L):
                b3[t] = d1[t] - d3[t]
            for a in range(4):                            # split the columns into pairs
                s, e, o = bt_d[a], even[a], odd[a]
                for u in range(Q + 1):
                    e[u] = s[2 * u]
                    o[u] = s[2 * u + 1]
            first = n * Q
            for a in range(4):                            # then B along the rows: tile slot t
                e0, o0, e1, o1 = even[a], odd[a], even[a, 1:], odd[a, 1:]   # has pairs t, t+1
                v = V[4 * a, c, first:first + Q]
                for t in range(Q):
                    v[t] = e0[t] - e1[t]
                v = V[4 * a + 1, c, first:first + Q]
                for t in range(Q):
                    v[t] = o0[t] + e1[t]
                v = V[4 * a + 2, c, first:first + Q]
                for t in range(Q):
                    v[t] = e1[t] - o0[t]
                v = V[4 * a + 3, c, first:first + Q]
                for t in range(Q):
                    v[t] = o0[t] - o1[t]
    return V


@njit(cache=True, nogil=True)
def winograd_input_adjoint(dV, padding, dx):
    """dV (16, C, T*TH*K) -> dx (T, C, H, W): adds B dV B^T onto each tile's 4x4 window
    of the padded image (windows overlap by 2), then drops the padding. The exact
    transpose of winograd_input, spare slots included. `dx` is overwritten and returned."""
    T, C, H, W = dx.shape
    TH, K = tile_grid(H + 2 * padding - 2, W + 2 * padding - 2)
    Q, L = TH * K, 2 * K
    dxp = np.zeros((2, (TH + 1) * L + 2), dtype=dx.dtype)  # laid out as xp in winograd_input
    b_dv = np.zeros((4, TH * L + 2), dtype=dx.dtype)      # laid out as bt_d
    even = np.empty((4, Q + 1), dtype=dx.dtype)
    odd = np.empty((4, Q + 1), dtype=dx.dtype)
    for n in range(T):
        for c in range(C):
            first = n * Q
            for a in range(4):                            # B's transpose along the rows:
                v0, v1 = dV[4 * a, c, first:first + Q], dV[4 * a + 1, c, first:first + Q]
                v2, v3 = dV[4 * a + 2, c, first:first + Q], dV[4 * a + 3, c, first:first + Q]
                e, o, e1, o1 = even[a], odd[a], even[a, 1:], odd[a, 1:]
                e[Q], o[Q] = 0.0, 0.0                     # pair Q only collects the last spare's junk
                for t in range(Q):                        # pair t gets (v0, v1 - v2 + v3)
                    e[t] = v0[t]
                for t in range(Q):
                    o[t] = v1[t] - v2[t] + v3[t]
                for t in range(Q):                        # pair t + 1 gets (v1 + v2 - v0, -v3)
                    e1[t] += v1[t] + v2[t] - v0[t]
                for t in range(Q):
                    o1[t] -= v3[t]
            for a in range(4):                            # the pairs back into columns
                s, e, o = b_dv[a], even[a], odd[a]
                for u in range(Q + 1):
                    s[2 * u] = e[u]
                    s[2 * u + 1] = o[u]
            b0, b1, b2, b3 = b_dv[0], b_dv[1], b_dv[2], b_dv[3]
            d0, d1, d2, d3 = dxp[0], dxp[1], dxp[0, L:], dxp[1, L:]
            d0[TH * L:] = 0.0                             # the last row pair gets only the
            d1[TH * L:] = 0.0                             # += below: clear the previous plane's
            for t in range(TH * L):                       # B^T's transpose down the columns:
                d0[t] = b0[t]                             # rows 2ty, 2ty+1 get (b0, b1 - b2 + b3)
            for t in range(TH * L):
                d1[t] = b1[t] - b2[t] + b3[t]
            for t in range(TH * L):                       # rows 2ty+2, 2ty+3 get (b1 + b2 - b0, -b3)
                d2[t] += b1[t] + b2[t] - b0[t]
            for t in range(TH * L):
                d3[t] -= b3[t]
            for r in range(H):                            # copy out, dropping the padding
                start = (r + padding) // 2 * L + padding
                row, pixels = dxp[(r + padding) % 2, start:start + W], dx[n, c, r]
                for j in range(W):
                    pixels[j] = row[j]
    return dx


@njit(cache=True, nogil=True)
def winograd_output(M, bias, out):
    """M (16, F, T*TH*K) -> out (T, F, OH, OW): each tile's 2x2 block A^T m A, plus bias[f],
    cropped to OH x OW (TH = ceil(OH / 2), K = ceil(OW / 2) + 1). Spare slots are skipped.
    `out` is overwritten and returned."""
    T, F, OH, OW = out.shape
    TH, K = tile_grid(OH, OW)
    Q = TH * K
    at_m = np.empty((2, 4, Q), dtype=M.dtype)             # A^T m: at_m[a, b, slot]
    y = np.empty((2, 2 * Q), dtype=M.dtype)               # y[a, ty*2K + column] is out row 2ty + a
    for n in range(T):
        first = n * Q
        for f in range(F):
            for b in range(4):                            # A^T down the columns
                m0, m1 = M[b, f, first:first + Q], M[4 + b, f, first:first + Q]
                m2, m3 = M[8 + b, f, first:first + Q], M[12 + b, f, first:first + Q]
                top, bottom = at_m[0, b], at_m[1, b]
                for t in range(Q):
                    top[t] = m0[t] + m1[t] + m2[t]
                for t in range(Q):
                    bottom[t] = m1[t] - m2[t] - m3[t]
            for a in range(2):                            # then A along the rows: slot t makes
                u0, u1, u2, u3 = at_m[a, 0], at_m[a, 1], at_m[a, 2], at_m[a, 3]   # columns 2t, 2t+1
                row = y[a]
                for t in range(Q):
                    row[2 * t] = u0[t] + u1[t] + u2[t]
                    row[2 * t + 1] = u1[t] - u2[t] - u3[t]
            for oy in range(OH):                          # copy out with the bias, dropping the spares
                start = oy // 2 * 2 * K
                row, dst = y[oy % 2, start:start + OW], out[n, f, oy]
                for j in range(OW):
                    dst[j] = row[j] + bias[f]
    return out


@njit(cache=True, nogil=True)
def winograd_output_adjoint(dout, dM):
    """dout (T, F, OH, OW) -> dM (16, F, T*TH*K): each 2x2 block of gradients g spread over
    its tile as A g A^T (outside OH x OW, g is 0); spare slots get 0. `dM` is overwritten
    and returned."""
    T, F, OH, OW = dout.shape
    TH, K = tile_grid(OH, OW)
    Q = TH * K
    g = np.zeros((2, 2 * Q), dtype=dout.dtype)            # laid out as y in winograd_output
    g_at = np.empty((2, 4, Q), dtype=dout.dtype)          # g A^T: g_at[a, b, slot]
    for n in range(T):
        first = n * Q
        for f in range(F):
            for oy in range(OH):                          # copy in (the rest of g stays 0)
                start = oy // 2 * 2 * K
                row, src = g[oy % 2, start:start + OW], dout[n, f, oy]
                for j in range(OW):
                    row[j] = src[j]
            for a in range(2):                            # A^T's transpose along the rows:
                row = g[a]                                # (g0, g1) -> (g0, g0+g1, g0-g1, -g1)
                s0, s1, s2, s3 = g_at[a, 0], g_at[a, 1], g_at[a, 2], g_at[a, 3]
                for t in range(Q):
                    s0[t] = row[2 * t]
                    s3[t] = -row[2 * t + 1]
                for t in range(Q):
                    s1[t] = s0[t] - s3[t]
                for t in range(Q):
                    s2[t] = s0[t] + s3[t]
            for b in range(4):                            # and down the columns
                top, bottom = g_at[0, b], g_at[1, b]
                d0, d1 = dM[b, f, first:first + Q], dM[4 + b, f, first:first + Q]
                d2, d3 = dM[8 + b, f, first:first + Q], dM[12 + b, f, first:first + Q]
                for t in range(Q):
                    d0[t] = top[t]
                for t in range(Q):
                    d1[t] = top[t] + bottom[t]
                for t in range(Q):
                    d2[t] = top[t] - bottom[t]
                for t in range(Q):
                    d3[t] = -bottom[t]
    return dM
