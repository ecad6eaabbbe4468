"""The fast twin of minicnn/ops/linear.py: out = x @ w.T + b, shared between the cores.

The work is shared by the weight matrix, not by the batch: each core computes its share
of the output units (the forward's out and the backward's dw) or of the input features
(dx), so it reads only its part of w. The weights are usually the biggest array here
(fc1 of the reference net: 4 MB), and with a small batch reading them is most of the
time. Small products (a batch of one, fc2) are done in one go: a hand-off to the other
core would cost more than it saves.

The forward computes the transposed product w @ x.T, (M, N), and copies it into out (N, M)
the right way round: for small batches OpenBLAS is much faster at it than at x @ w.T
(fc1, 4096 -> 256 units, on one Zen 4 core: 0.36 against 0.96 ms for 4 images, 0.51
against 0.89 ms for 10, 1.7 against 2.1 ms for 64; about level from 128 images on).

A batch of up to settings().linear_by_image_max images goes image by image, one
matrix-vector product each (out[n] = w @ x[n], dx[n] = dout[n] @ w): each reads the
weights straight from memory, where OpenBLAS's matrix product first copies them into
its own layout, which for 2 or 3 images costs more than the products (fc1's share of
128 units on one Zen 4 core: 75 against 135 us for 2 images, 90 against 184 for 3).
"""
import numpy as np

from minicnn.fast.parallel import for_each_share, one_blas_thread
from minicnn.fast.settings import settings


def linear_forward(ctx, x, w, b):
    """x (N, D), w (M, D), b (M,) or None -> out (N, M)."""
    N, M = x.shape[0], w.shape[0]
    out = np.empty((N, M), dtype=w.dtype)
    by_image = N <= settings().linear_by_image_max

    def forward_share(m0, m1):                           # output units m0:m1, on one core
        if by_image:
            for n in range(N):                           # (m1-m0,) = w[m0:m1] @ x[n]
                np.matmul(w[m0:m1], x[n], out=out[n, m0:m1])
            if b is not None:
                out[:, m0:m1] += b[m0:m1]
        else:
            out_t = w[m0:m1] @ x.T                       # (m1-m0, N) = (x @ w[m0:m1].T).T
            if b is not None:
                np.add(out_t.T, b[m0:m1], out=out[:, m0:m1])
            else:
                out[:, m0:m1] = out_t.T
    with one_blas_thread():
        for_each_share(M, forward_share, min_share(N, w, M))
    ctx.x, ctx.w = x, w
    return out


def linear_backward(ctx, dout):
    """dout (N, M) -> dx (N, D), dw (M, D), db (M,); None for those nobody asked for."""
    need_dx, need_dw, need_db = ctx.needs_input_grad
    x, w = ctx.x, ctx.w
    (M, D), dx, dw = w.shape, None, None
    by_image = len(dout) <= settings().linear_by_image_max

    def dx_share(d0, d1):                                # input features d0:d1
        if by_image:
            for n in range(len(dout)):                   # (d1-d0,) = dout[n] @ w[:, d0:d1]
                np.matmul(dout[n], w[:, d0:d1], out=dx[n, d0:d1])
        else:
            np.matmul(dout, w[:, d0:d1], out=dx[:, d0:d1])

    def dw_share(m0, m1):                                # output units m0:m1
        np.matmul(dout[:, m0:m1].T, x, out=dw[m0:m1])

    with one_blas_thread():
        if need_dx:
            dx = np.empty(x.shape, dtype=w.dtype)        # (N, D)
            for_each_share(D, dx_share, min_share(len(x), w, D))
        if need_dw:
            dw = np.empty(w.shape, dtype=w.dtype)        # (M, D)
            for_each_share(M, dw_share, min_share(len(x), w, M))
    db = dout.sum(axis=0) if need_db else None           # (M,)
    return dx, dw, db


def min_share(N, w, n):
    """Rows or columns of w (n of them) per share, for a batch of N: all n (one share)
    when the product is small."""
    return n if N * w.size < settings().linear_min_work else 1
