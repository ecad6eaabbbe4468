"""Fully connected layer: out = x @ w.T + b, with PyTorch's weight layout (out, in).

    dx = dout @ w        dw = dout.T @ x        db = dout summed over the batch

Each core computes the rows of its own share of the batch (minicnn/parallel.py);
dw and db add up the shares' parts.
"""
import numpy as np

from minicnn.ops.checks import check_float, check_ndim
from minicnn.parallel import for_each_share
from minicnn.tensor import Function


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
        out = np.empty((x.shape[0], w.shape[0]), dtype=w.dtype)    # (N, M)

        def forward_share(n0, n1):
            np.matmul(x[n0:n1], w.T, out=out[n0:n1])
            if b is not None:
                out[n0:n1] += b
        for_each_share(len(x), forward_share)
        return out

    def backward(self, dout):                                # dout: (N, M)
        need_dx, need_dw, need_db = self.needs_input_grad
        dout = dout.astype(self.w.dtype, copy=False)
        x, w = self.x, self.w
        dx = np.empty(x.shape, dtype=w.dtype) if need_dx else None      # (N, D)

        def backward_share(n0, n1):
            if need_dx:
                np.matmul(dout[n0:n1], w, out=dx[n0:n1])
            dw = dout[n0:n1].T @ x[n0:n1] if need_dw else None          # (M, D), this share's part
            db = dout[n0:n1].sum(axis=0) if need_db else None           # (M,)
            return dw, db

        shares = for_each_share(len(dout), backward_share)
        dw = sum(dw for dw, _ in shares) if need_dw else None
        db = sum(db for _, db in shares) if need_db else None
        if need_dx:
            dx = dx.astype(self.x_dtype, copy=False)
        return dx, dw, db


def linear(x, w, b=None):
    return Linear.apply(x, w, b)
