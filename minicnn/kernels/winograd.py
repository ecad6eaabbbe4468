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
im2col's one, plus the cheap transforms below (only additions). ops/conv.py
does the multiplies; these kernels do the transforms, on arrays laid out as

    V (16, C, T*TH*TW)     index [4*a + b, c, (n*TH + ty)*TW + tx]

for T images cut into TH x TW tiles (tile (ty, tx) starts at input row 2*ty,
column 2*tx of the padded image, and makes output rows 2*ty, 2*ty + 1).

Backward runs the same steps in reverse, through each step's adjoint
(transpose): input_adjoint adds B dV B^T back onto the overlapping 4x4 tiles,
output_adjoint spreads each 2x2 block of gradients as A dY A^T.

All four kernels are serial and release the GIL (nogil), like im2col.py; each
has a plain twin in naive.py written with matrix products. Each transform is
applied in two passes, down the columns (vectorisable, contiguous rows) and
then along the rows, tile by tile. Array indices are cast to np.uint64 to
skip numba's negative-index check, as in im2col.py.
"""
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def tile_counts(size, padding):
    """Tiles along one side: ceil(OH / 2) for the output size OH = size + 2*padding - 2."""
    return (size + 2 * padding - 1) // 2


@njit(cache=True, nogil=True)
def winograd_input(x, padding, V):
    """x (T, C, H, W) -> V (16, C, T*TH*TW): V[:, c, tile] = B^T d B for each 4x4 tile d.
    `V` is overwritten and returned."""
    T, C, H, W = x.shape
    TH, TW = tile_counts(H, padding), tile_counts(W, padding)
    xp = np.zeros((2 * TH + 2, 2 * TW + 2), dtype=x.dtype)    # one padded plane
    bt_d = np.empty((4, 2 * TW + 2), dtype=x.dtype)           # B^T d for a band of 4 rows
    for n in range(T):
        for c in range(C):
            xp[padding:padding + H, padding:padding + W] = x[n, c]    # the border stays 0
            for ty in range(TH):
                r0, r1, r2, r3 = xp[2 * ty], xp[2 * ty + 1], xp[2 * ty + 2], xp[2 * ty + 3]
                for j in range(xp.shape[1]):                  # B^T down the columns
                    bt_d[0, j] = r0[j] - r2[j]
                    bt_d[1, j] = r1[j] + r2[j]
                    bt_d[2, j] = r2[j] - r1[j]
                    bt_d[3, j] = r1[j] - r3[j]
                first = (n * TH + ty) * TW
                for a in range(4):                            # then B along each row
                    s = bt_d[a]
                    v0, v1, v2, v3 = V[4 * a, c], V[4 * a + 1, c], V[4 * a + 2, c], V[4 * a + 3, c]
                    for tx in range(TW):
                        j, p = np.uint64(2 * tx), np.uint64(first + tx)
                        v0[p] = s[j] - s[j + 2]
                        v1[p] = s[j + 1] + s[j + 2]
                        v2[p] = s[j + 2] - s[j + 1]
                        v3[p] = s[j + 1] - s[j + 3]
    return V


@njit(cache=True, nogil=True)
def winograd_input_adjoint(dV, padding, dx):
    """dV (16, C, T*TH*TW) -> dx (T, C, H, W): adds B dV B^T onto each tile's 4x4
    window of the padded image (windows overlap by 2), then drops the padding.
    `dx` is overwritten and returned."""
    T, C, H, W = dx.shape
    TH, TW = tile_counts(H, padding), tile_counts(W, padding)
    dxp = np.empty((2 * TH + 2, 2 * TW + 2), dtype=dx.dtype)
    b_dv = np.empty((4, 2 * TW + 2), dtype=dx.dtype)          # dV B^T for a band of 4 rows
    for n in range(T):
        for c in range(C):
            dxp[:] = 0.0
            for ty in range(TH):
                first = (n * TH + ty) * TW
                b_dv[:] = 0.0
                for a in range(4):                            # B^T's transpose along each row
                    s = b_dv[a]
                    v0, v1, v2, v3 = dV[4 * a, c], dV[4 * a + 1, c], dV[4 * a + 2, c], dV[4 * a + 3, c]
                    for tx in range(TW):
                        j, p = np.uint64(2 * tx), np.uint64(first + tx)
                        s[j] += v0[p]
                        s[j + 1] += v1[p] - v2[p] + v3[p]
                        s[j + 2] += v2[p] + v1[p] - v0[p]
                        s[j + 3] -= v3[p]
                r0, r1, r2, r3 = dxp[2 * ty], dxp[2 * ty + 1], dxp[2 * ty + 2], dxp[2 * ty + 3]
                for j in range(dxp.shape[1]):                 # and down the columns
                    r0[j] += b_dv[0, j]
                    r1[j] += b_dv[1, j] - b_dv[2, j] + b_dv[3, j]
                    r2[j] += b_dv[2, j] + b_dv[1, j] - b_dv[0, j]
                    r3[j] -= b_dv[3, j]
            dx[n, c] = dxp[padding:padding + H, padding:padding + W]
    return dx


@njit(cache=True, nogil=True)
def winograd_output(M, out):
    """M (16, F, T*TH*TW) -> out (T, F, 2*TH, 2*TW): each tile's 2x2 block A^T m A.
    `out` is overwritten and returned."""
    T, F, OH2, OW2 = out.shape
    TH, TW = OH2 // 2, OW2 // 2
    P = TH * TW
    at_m = np.empty((2, 4, P), dtype=M.dtype)                 # A^T m for one image's tiles
    for n in range(T):
        for f in range(F):
            m = M[:, f, n * P:(n + 1) * P]                    # (16, P): m[4*a + b, tile]
            for b in range(4):                                # A^T down the columns
                m0, m1, m2, m3 = m[b], m[4 + b], m[8 + b], m[12 + b]
                for p in range(P):
                    at_m[0, b, p] = m0[p] + m1[p] + m2[p]
                    at_m[1, b, p] = m1[p] - m2[p] - m3[p]
            for a in range(2):                                # then A along the rows
                u0, u1, u2, u3 = at_m[a, 0], at_m[a, 1], at_m[a, 2], at_m[a, 3]
                for ty in range(TH):
                    row = out[n, f, 2 * ty + a]
                    for tx in range(TW):
                        p, j = np.uint64(ty * TW + tx), np.uint64(2 * tx)
                        row[j] = u0[p] + u1[p] + u2[p]
                        row[j + 1] = u1[p] - u2[p] - u3[p]
    return out


@njit(cache=True, nogil=True)
def winograd_output_adjoint(dout, dM):
    """dout (T, F, 2*TH, 2*TW) -> dM (16, F, T*TH*TW): each 2x2 block of gradients
    g spread over its tile as A g A^T. `dM` is overwritten and returned."""
    T, F, OH2, OW2 = dout.shape
    TH, TW = OH2 // 2, OW2 // 2
    P = TH * TW
    g_at = np.empty((2, 4, P), dtype=dout.dtype)              # g A^T for one image's tiles
    for n in range(T):
        for f in range(F):
            for a in range(2):                                # A^T's transpose along the rows:
                s0, s1, s2, s3 = g_at[a, 0], g_at[a, 1], g_at[a, 2], g_at[a, 3]
                for ty in range(TH):                          # (g0, g1) -> (g0, g0+g1, g0-g1, -g1)
                    row = dout[n, f, 2 * ty + a]
                    for tx in range(TW):
                        p, j = np.uint64(ty * TW + tx), np.uint64(2 * tx)
                        s0[p] = row[j]
                        s1[p] = row[j] + row[j + 1]
                        s2[p] = row[j] - row[j + 1]
                        s3[p] = -row[j + 1]
            dm = dM[:, f, n * P:(n + 1) * P]                  # (16, P)
            for b in range(4):                                # and down the columns
                top, bottom = g_at[0, b], g_at[1, b]
                d0, d1, d2, d3 = dm[b], dm[4 + b], dm[8 + b], dm[12 + b]
                for p in range(P):
                    d0[p] = top[p]
                    d1[p] = top[p] + bottom[p]
                    d2[p] = top[p] - bottom[p]
                    d3[p] = -bottom[p]
    return dM
