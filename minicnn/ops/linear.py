"""Fully connected layer: out = x @ w.T + b, with PyTorch's weight layout (out, in).

    dx = dout @ w        dw = dout.T @ x        db = dout summed over the batch

Below the op: its rules of layer-wise relevance propagation (LRP), one more way back, which
the convolution shares (a convolution is this layer applied at every window).

This is the plain route (see minicnn/route.py); fast/linear.py computes the same with
the weight matrix shared between the cores.
"""
import numpy as np

from minicnn.ops.checks import check_float, check_ndim
from minicnn.route import is_plain, twin
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


# ---- LRP: relevance instead of a gradient ---------------------------------------------------
# Layer-wise relevance propagation (Bach et al. 2015; Montavon et al., "Layer-wise relevance
# propagation: an overview", 2019). What comes down is relevance R, of the output's shape, and
# a rule shares each output's R_j among the inputs in proportion to their contributions
# z_ij = x_i w_ij to z_j = sum_i z_ij + b_j:
#
#     R_i = sum_j z_ij / z_j * R_j  =  x_i * [w.T @ (R / z)]_i  =  x * backward(R / z)
#
# So every rule is the op's ordinary backward (for dx), applied to R / z, times the input;
# the rules differ in the weights they use and in how they stabilise the division. The
# conventions are Captum's: z includes the bias, and the stabiliser is eps * sign(z) with
# sign(0) = 1. A ReLU passes relevance unchanged (ops/relu.py), a max-pool sends it to its
# switch (ops/pool.py).

LRP_RULES = ("epsilon", "gamma", "alpha1beta0", "alpha2beta1", "zbox")


def stabilise(z, epsilon):
    """z + epsilon * sign(z), with sign(0) = 1: a denominator that is never 0 (for epsilon > 0)."""
    return z + np.where(z >= 0, epsilon, -epsilon).astype(z.dtype)


def dx_pass(op, x, *arrays, **options):
    """Run the Function `op` forward on arrays, wanting the gradient of its first input only.

    Returns (out, backward) with backward(dout) -> dx: the op's own forward and backward, on
    the route in force, as Tensor.backward would run them."""
    fn = op()
    fn.plain, fn.needs_input_grad = is_plain(), (True,) + (False,) * len(arrays)
    out = fn.forward(x, *arrays, **options)
    return out, lambda dout: fn.backward(dout)[0]


def lrp_affine(apply, x, w, b, R, rule, epsilon=1e-9, gamma=0.25, lo=None, hi=None, done=None):
    """The LRP rules of any affine op z = w x + b (a linear layer, a convolution).

    Inputs:
    - apply(x, w, b) -> (z, backward): the op's forward with these weights, and its backward
      for dx (see dx_pass); b may be None
    - x: the op's input; w, b: its weights and bias; R: relevance of its output (z's shape)
    - rule: one of LRP_RULES
        epsilon      R_i = sum_j x_i w_ij / (z_j + eps sign z_j) R_j
        gamma        the same with w + gamma w+ in both the numerator and z (the bias is
                     kept as it is, as in Captum)
        alpha1beta0  (the z+ rule) only positive contributions: R_i = sum_j (x_i w_ij)+ / z_j+ R_j
                     with z_j+ = sum_i (x_i w_ij)+ + b_j+; alpha2beta1 takes 2 of that minus
                     1 of the same share of the negative contributions (bias b_j- included)
        zbox         for inputs known to lie in [lo, hi] (pixels; Montavon et al. 2017):
                     z_ij = x_i w_ij - lo_i w_ij+ - hi_i w_ij-
    - epsilon: the stabiliser of every rule; gamma: the gamma rule's boost of positive weights
    - lo, hi: zbox's bounds, arrays of x's shape
    - done: (z, backward) from a forward already run with w and b: spares the epsilon and
      zbox rules one forward pass
    Returns: the relevance of x, x's shape
    """
    if rule == "epsilon":
        z, backward = done or apply(x, w, b)
        return x * backward(R / stabilise(z, epsilon))
    if rule == "gamma":
        z, backward = apply(x, w + gamma * np.maximum(w, 0), b)
        return x * backward(R / stabilise(z, epsilon))
    if rule in ("alpha1beta0", "alpha2beta1"):
        alpha, beta = (1, 0) if rule == "alpha1beta0" else (2, 1)
        R_in = alpha * _share(apply, x, w, b, R, epsilon, positive=True)
        if beta:
            R_in = R_in - beta * _share(apply, x, w, b, R, epsilon, positive=False)
        return R_in
    if rule == "zbox":
        z, backward = done or apply(x, w, b)
        z_lo, backward_lo = apply(lo, np.maximum(w, 0), None)
        z_hi, backward_hi = apply(hi, np.minimum(w, 0), None)
        s = R / stabilise(z - z_lo - z_hi, epsilon)
        return x * backward(s) - lo * backward_lo(s) - hi * backward_hi(s)
    raise ValueError(f"lrp: unknown rule {rule!r}; choose one of {', '.join(LRP_RULES)}")


def _share(apply, x, w, b, R, epsilon, positive):
    """sum_j (x_i w_ij)+ / z_j+ R_j (positive=True), or the same with the negative parts.

    The positive contributions are (x w)+ = x+ w+ + x- w-, the negative ones x+ w- + x- w+;
    after a ReLU every x is >= 0 and the x- terms vanish, so they are computed only if needed."""
    part = np.maximum if positive else np.minimum
    other = np.minimum if positive else np.maximum
    x_pos = np.maximum(x, 0)
    z, backward = apply(x_pos, part(w, 0), None if b is None else part(b, 0))
    if (x < 0).any():
        x_neg = np.minimum(x, 0)
        z_neg, backward_neg = apply(x_neg, other(w, 0), None)
        s = R / stabilise(z + z_neg, epsilon)
        return x_pos * backward(s) + x_neg * backward_neg(s)
    return x_pos * backward(R / stabilise(z, epsilon))


def linear_lrp(x, w, b, R, rule="epsilon", done=None, **options):
    """Relevance R (N, M) of a linear layer's output -> relevance of its input x (N, D), by
    the LRP `rule` (see lrp_affine, which takes the options: epsilon, gamma, lo, hi)."""
    def apply(x, w, b):
        return dx_pass(Linear, x, w, b)
    return lrp_affine(apply, x, w, b, R, rule, done=done, **options)
