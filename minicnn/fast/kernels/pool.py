"""Max-pooling kernels that remember the argmax "switches".

Forward keeps, for every output, the flat index y * W + x of the input pixel
that won its window. Backward sends each output's gradient to that pixel
only (Zeiler & Fergus 2014 call these the switches). Ties go to the first
maximum in row-major order inside the window: the top-most, then left-most
pixel (the same choice as PyTorch on the CPU).

Like im2col, both kernels are serial, release the GIL and write into arrays
the caller passes in: fast/pool.py runs one per core, each on its own share of
the batch (see fast/parallel.py).
"""
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def maxpool_forward(x, KH, KW, SH, SW, out, switches):
    """x (N, C, H, W) -> out (N, C, OH, OW) and switches (N, C, OH, OW) int64,
    both written into the arrays passed in and returned."""
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for n in range(N):
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


@njit(cache=True, nogil=True)
def maxpool2x2_forward(x, out, switches):
    """maxpool_forward(x, 2, 2, 2, 2, out, switches), the reference net's pooling, written
    out for its 2x2 windows a b / c d: the larger of a and b, the larger of c and d, then the
    larger of those two, each by a strict > (so ties go to a, b, c, d in that order, as in
    maxpool_forward). Conditional expressions rather than ifs: LLVM turns them into vector
    selects, with no branch to mispredict (2.7x faster than ifs at (64, 32, 32, 32) on
    Zen 4)."""
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                top, bottom = x[n, c, 2 * oy], x[n, c, 2 * oy + 1]
                o, s = out[n, c, oy], switches[n, c, oy]
                corner = 2 * oy * W                      # the flat index of row 2*oy
                for ox in range(OW):
                    # the window  a  b    (c_, as c counts the channels)
                    #             c_ d
                    a, b = top[2 * ox], top[2 * ox + 1]
                    c_, d = bottom[2 * ox], bottom[2 * ox + 1]
                    b_wins, d_wins = b > a, d > c_               # strict: a tie goes to the first
                    top_best, top_at = (b if b_wins else a), (1 if b_wins else 0)
                    bottom_best, bottom_at = (d if d_wins else c_), (W + 1 if d_wins else W)
                    bottom_wins = bottom_best > top_best
                    o[ox] = bottom_best if bottom_wins else top_best
                    s[ox] = corner + 2 * ox + (bottom_at if bottom_wins else top_at)
    return out, switches


@njit(cache=True, nogil=True)
def maxpool_backward(dout, switches, dx):
    """dout (N, C, OH, OW) -> dx (N, C, H*W), flat planes indexed by the switches:
    each gradient goes to its window's argmax. `dx` is overwritten and returned."""
    N, C, OH, OW = dout.shape
    for n in range(N):
        for c in range(C):
            dx[n, c] = 0.0
            for oy in range(OH):
                for ox in range(OW):
                    dx[n, c, np.uint64(switches[n, c, oy, ox])] += dout[n, c, oy, ox]
    return dx
