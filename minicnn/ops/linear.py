"""Fully connected layer: out = x @ w.T + b, with PyTorch's weight layout (out, in).

    dx = dout @ w        dw = dout.T @ x        db = dout summed over the batch
"""
import numpy as np

from minicnn.ops.checks import check_float, check_ndim
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
        out = x @ w.T                                        # (N, M)
        if b is not None:
            out += b
        return out

    def backward(self, dout):                                # dout: (N, M)
        need_dx, need_dw, need_db = self.needs_input_grad
        dout = dout.astype(self.w.dtype, copy=False)
        dx = (dout @ self.w).astype(self.x_dtype, copy=False) if need_dx else None   # (N, D)
        dw = dout.T @ self.x if need_dw else None            # (M, D)
        db = dout.sum(axis=0) if need_db else None           # (M,)
        return dx, dw, db


def linear(x, w, b=None):
    return Linear.apply(x, w, b)
