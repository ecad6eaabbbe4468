"""Fully connected layer: out = x @ w.T + b, with PyTorch's weight layout (out, in).

    dx = dout @ w        dw = dout.T @ x        db = dout summed over the batch

The work is shared between the cores (minicnn/parallel.py) by the weight
matrix, not by the batch: each core computes its share of the output units
(the forward's out and the backward's dw) or of the input features (dx), so
it reads only its part of w. The weights are usually the biggest array here
(fc1 of the reference net: 4 MB), and with a small batch reading them is
most of the time. Small products (a batch of one, fc2) are done in one go: a
hand-off to the other core would cost more than it saves.
"""
import numpy as np

from minicnn.ops.checks import check_float, check_ndim
from minicnn.parallel import for_each_share
from minicnn.tensor import Function

MIN_WORK = 2**21           # multiply-adds (N*M*D): smaller products are done in one go


class Linear(Function):
    def forward(self, x, w, b):
        """
        Inputs:
        - x: (N, D) inputs; w: (M, D) weights; b: (M,) biases or None
        Returns out: (N, M)
        """
        check_ndim("linear", "input", x, 2, "(N, D)")
        check_ndim("linear", "weight", w, 2, "(M, D)")
        check_float("linear", "input", x)
        if x.shape[1] != w.shape[1]:
            raise ValueError(f"linear: input has D={x.shape[1]} features (shape {x.shape}), "
                             f"weight expects {w.shape[1]} (shape {w.shape})")
        if b is not None and b.shape != (w.shape[0],):
            raise ValueError(f"linear: bias must have shape ({w.shape[0]},), got {b.shape}")
        self.x_dtype = x.dtype
        x = x.astype(w.dtype, copy=False)                    # compute in the weights' dtype
        self.x, self.w = x, w
        N, M = x.shape[0], w.shape[0]
        out = np.empty((N, M), dtype=w.dtype)

        def forward_share(m0, m1):                           # output units m0:m1, on one core
            np.matmul(x, w[m0:m1].T, out=out[:, m0:m1])
            if b is not None:
                out[:, m0:m1] += b[m0:m1]
        for_each_share(M, forward_share, self.min_share(N, M))
        return out                                           # (N, M)

    def backward(self, dout):                                # dout: (N, M)
        need_dx, need_dw, need_db = self.needs_input_grad
        dout = dout.astype(self.w.dtype, copy=False)
        x, w = self.x, self.w
        (M, D), dx, dw = w.shape, None, None

        def dx_share(d0, d1):                                # input features d0:d1
            np.matmul(dout, w[:, d0:d1], out=dx[:, d0:d1])

        def dw_share(m0, m1):                                # output units m0:m1
            np.matmul(dout[:, m0:m1].T, x, out=dw[m0:m1])

        if need_dx:
            dx = np.empty(x.shape, dtype=w.dtype)            # (N, D)
            for_each_share(D, dx_share, self.min_share(len(x), D))
            dx = dx.astype(self.x_dtype, copy=False)
        if need_dw:
            dw = np.empty(w.shape, dtype=w.dtype)            # (M, D)
            for_each_share(M, dw_share, self.min_share(len(x), M))
        db = dout.sum(axis=0) if need_db else None           # (M,)
        return dx, dw, db

    def min_share(self, N, n):
        """Rows or columns of w (n of them) per share, for a batch of N: all n (one share)
        when the product is small."""
        return n if N * self.w.size < MIN_WORK else 1


def linear(x, w, b=None):
    return Linear.apply(x, w, b)
