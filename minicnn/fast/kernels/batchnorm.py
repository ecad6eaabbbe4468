"""Batch norm's passes over memory as compiled loops, one channel at a time.

Every array is viewed as (N, C, L): L = H*W for (N, C, H, W), 1 for (N, C). Channel c's
values are then N contiguous rows x[n, c, :], and each kernel does channels c0:c1 (fast/
batchnorm.py gives each core its own channels). Sums are kept in float64, whatever the
arrays' dtype, and may be added in any order (fastmath "reassoc"), so that the compiler
can add 8 or 16 values at once; the plain route (ops/batchnorm.py) adds in NumPy's order.
"""
from numba import njit


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def channel_mean_var(x, c0, c1, mean, var):
    """mean[c] and the biased var[c] of x[:, c, :] for c in c0:c1, in two passes (the
    second over x - mean, which keeps var accurate when the mean is large)."""
    N, _, L = x.shape
    m = N * L
    for c in range(c0, c1):
        total = 0.0
        for n in range(N):
            row = x[n, c]
            for i in range(L):
                total += row[i]
        mu = total / m
        squares = 0.0
        for n in range(N):
            row = x[n, c]
            for i in range(L):
                d = row[i] - mu
                squares += d * d
        mean[c] = mu
        var[c] = squares / m


@njit(cache=True, nogil=True)
def channel_affine(x, center, scale, shift, c0, c1, out):
    """out[:, c, :] = scale[c] * (x[:, c, :] - center[c]) + shift[c] for c in c0:c1.
    (Centring first keeps float32 accurate when the mean is large next to the spread.)"""
    N, _, L = x.shape
    for c in range(c0, c1):
        mu, a, b = center[c], scale[c], shift[c]
        for n in range(N):
            row, result = x[n, c], out[n, c]
            for i in range(L):
                result[i] = a * (row[i] - mu) + b


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def channel_sums(dout, x, mean, c0, c1, sum_dout, sum_dout_xc):
    """sum_dout[c] = sum(dout[:, c, :]) and sum_dout_xc[c] = sum(dout * (x - mean[c]))
    over channel c, for c in c0:c1."""
    N, _, L = x.shape
    for c in range(c0, c1):
        mu = mean[c]
        s, sx = 0.0, 0.0
        for n in range(N):
            g, row = dout[n, c], x[n, c]
            for i in range(L):
                s += g[i]
                sx += g[i] * (row[i] - mu)
        sum_dout[c] = s
        sum_dout_xc[c] = sx


@njit(cache=True, nogil=True)
def channel_combine(dout, x, center, p, q, r, c0, c1, out):
    """out[:, c, :] = p[c] * dout[:, c, :] + q[c] * (x[:, c, :] - center[c]) + r[c]
    for c in c0:c1."""
    N, _, L = x.shape
    for c in range(c0, c1):
        mu, a, b, k = center[c], p[c], q[c], r[c]
        for n in range(N):
            g, row, result = dout[n, c], x[n, c], out[n, c]
            for i in range(L):
                result[i] = a * g[i] + b * (row[i] - mu) + k
