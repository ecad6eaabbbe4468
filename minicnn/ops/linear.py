"""Fully connected layer: out = x @ w.T + b, with PyTorch's weight layout (out, in).

    dx = dout @ w        dw = dout.T @ x        db = dout summed over the batch

This is the plain route (see minicnn/route.py); fast/linear.py computes the same with
the weight matrix shared between the cores.
"""
from minicnn.ops.checks import check_float, check_ndim
from minicnn.route import twin
from minicnn.tensor import Function


def linear_forward(ctx, x, w, b):
    """
    Inputs:
    - ctx: where to save what the backward needs (the Function)
    - x: (N, D) inputs; w: (M, D) weights; b: (M,) biases or None
    Returns out: (N, M)
    """
    ctx.x, ctx.w = x, w
    out = x @ w.T                                        # (N, M)
    return out if b is None else out + b


def linear_backward(ctx, dout):
    """dout (N, M) -> dx (N, D), dw (M, D), db (M,)."""
    dx = dout @ ctx.w                                    # (N, D)
    dw = dout.T @ ctx.x                                  # (M, D)
    db = dout.sum(axis=0)                                # (M,)
    return dx, dw, db


class Linear(Function):
    def forward(self, x, w, b):
        check_ndim("linear", "input", x, 2, "(N, D)")
        check_ndim("linear", "weight", w, 2, "(M, D)")
        check_float("linear", "input", x)
        check_float("linear", "weight", w)
        if x.shape[1] != w.shape[1]:
            raise ValueError(f"linear: input has D={x.shape[1]} features (shape {x.shape}), "
                             f"weight expects {w.shape[1]} (shape {w.shape})")
        if b is not None and b.shape != (w.shape[0],):
            raise ValueError(f"linear: bias must have shape ({w.shape[0]},), got {b.shape}")
        # computed in the weights' dtype; the input's gradient handed back in the input's
        self.x_dtype, self.dtype = x.dtype, w.dtype
        x = x.astype(w.dtype, copy=False)
        b = None if b is None else b.astype(w.dtype, copy=False)
        return twin(linear_forward, self.plain)(self, x, w, b)

    def backward(self, dout):
        dx, dw, db = twin(linear_backward, self.plain)(self, dout.astype(self.dtype, copy=False))
        return (None if dx is None else dx.astype(self.x_dtype, copy=False)), dw, db


def linear(x, w, b=None):
    return Linear.apply(x, w, b)
