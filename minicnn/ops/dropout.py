"""Dropout (Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from
Overfitting", JMLR 2014), "inverted" as in PyTorch: in training mode each value is kept with
probability 1 - p and scaled by 1 / (1 - p), so its expectation does not change and eval mode
is the identity.

    keep ~ Bernoulli(1 - p) per value          (drawn from minicnn.manual_seed's generator)
    out  = x * keep / (1 - p)                  dx = dout * keep / (1 - p)

The mask is drawn before the route is chosen, so both routes drop the same values. The op has
no fast twin: it is one multiply.
"""
import numbers

import numpy as np

from minicnn import init
from minicnn.ops.checks import check_float
from minicnn.route import twin
from minicnn.tensor import Function


def dropout_forward(ctx, x, mask):
    """
    Inputs:
    - ctx: where to save what the backward needs (the Function)
    - x: any shape; mask: x's shape, keep / (1 - p) (0 where dropped)
    Returns out: x's shape
    """
    ctx.mask = mask
    return x * mask


def dropout_backward(ctx, dout):
    """dout -> (dx,): the gradient flows through the kept values, scaled like them."""
    return (dout * ctx.mask,)


def check_p(p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    return float(p)


class Dropout(Function):
    def forward(self, x, p=0.5, training=True):
        p = check_p(p)
        check_float("dropout", "input", x)
        if not training or p == 0:
            mask = np.ones_like(x)
        elif p == 1:
            mask = np.zeros_like(x)                              # everything dropped
        else:
            # init._rng: the generator manual_seed sets (read here, at call time, as it is replaced)
            keep = init._rng.random(x.shape) >= p                # P(keep) = 1 - p
            mask = keep.astype(x.dtype) / x.dtype.type(1 - p)
        return twin(dropout_forward, self.plain)(self, x, mask)

    def backward(self, dout):
        return twin(dropout_backward, self.plain)(self, dout)


def dropout(x, p=0.5, training=True):
    """Functional dropout (F.dropout): x of any shape -> x's shape."""
    return Dropout.apply(x, p=p, training=training)
