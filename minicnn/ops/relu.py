"""ReLU, with the three backward rules the visualizations compare, side by side.

Forward is always max(x, 0). What differs is how a signal `dout` arriving
from above is passed down to the input x:

- normal:  the true gradient. Pass where the INPUT was positive.
- deconv:  Zeiler & Fergus, "Visualizing and Understanding Convolutional
           Networks" (ECCV 2014). The deconvnet runs a ReLU on the way down:
           pass where the SIGNAL is positive, whatever the input was.
- guided:  Springenberg et al., "Striving for Simplicity: The All
           Convolutional Net" (ICLR 2015 workshop). Both conditions: pass
           positive signal through units whose input was positive.

    dout   = [ 2, -1,  3, -4]
    x      = [ 1,  1, -1, -1]
    normal = [ 2, -1,  0,  0]
    deconv = [ 2,  0,  3,  0]
    guided = [ 2,  0,  0,  0]

Every other op (convolution, linear, max-pool with its switches) keeps its
ordinary backward under all three rules. Choose the rule for a block of code:

    with minicnn.backward_rule("guided"):
        score.backward()

The rule is read when backward() runs, so one forward pass can be explained
three ways.

Each rule is a plain loop over the flattened arrays, compiled by numba (as
are the forward and the kernels of the other ops). On our machine NumPy's
`np.maximum(x, 0)` on float32 ran 4x slower than this compiled loop, and
`dout * (x > 0)` 2x slower: the loops are the faster way to write the rules,
and as clear. Run with NUMBA_DISABLE_JIT=1 to step through them as Python.

ReLU works element by element, so each core takes its own share of the
flattened array (minicnn/parallel.py); arrays too small to be worth it are
done in one go.
"""
from contextlib import contextmanager

import numpy as np
from numba import njit

from minicnn.parallel import for_each_share
from minicnn.tensor import Function

MIN_SHARE = 2**19          # elements (2 MB of float32): smaller arrays are done in one go


# All arrays flat and of one length. x: the ReLU's input saved in forward; dout: the gradient
# arriving from above; dx: where the result goes. `0 if x < 0 else x` keeps a NaN a NaN.
@njit(cache=True, nogil=True)
def relu_forward(x, out):                  # max(x, 0)
    for i in range(x.size):
        out[i] = 0 if x[i] < 0 else x[i]


@njit(cache=True, nogil=True)
def relu_backward_normal(x, dout, dx):     # the true gradient: pass where the INPUT was positive
    for i in range(dx.size):
        dx[i] = dout[i] if x[i] > 0 else 0


@njit(cache=True, nogil=True)
def relu_backward_deconv(x, dout, dx):     # Zeiler & Fergus 2014: pass where the SIGNAL is positive
    for i in range(dx.size):
        dx[i] = dout[i] if dout[i] > 0 else 0


@njit(cache=True, nogil=True)
def relu_backward_guided(x, dout, dx):     # Springenberg et al. 2015: both conditions
    for i in range(dx.size):
        dx[i] = dout[i] if x[i] > 0 and dout[i] > 0 else 0


BACKWARD_RULES = {
    "normal": relu_backward_normal,
    "deconv": relu_backward_deconv,
    "guided": relu_backward_guided,
}
_rule = "normal"


@contextmanager
def backward_rule(name):
    """Use ReLU backward rule `name` ("normal", "guided" or "deconv") inside the block.

    The previous rule comes back when the block ends, also when it raises.
    """
    global _rule
    if name not in BACKWARD_RULES:
        raise ValueError(f"backward_rule: unknown rule {name!r}; "
                         f"choose one of {', '.join(BACKWARD_RULES)}")
    previous, _rule = _rule, name
    try:
        yield
    finally:
        _rule = previous


def current_backward_rule():
    return _rule


class ReLU(Function):
    def forward(self, x):
        self.x = x
        out = np.empty(x.shape, dtype=x.dtype)
        x_flat, out_flat = x.reshape(-1), out.reshape(-1)

        def forward_share(i0, i1):
            relu_forward(x_flat[i0:i1], out_flat[i0:i1])
        for_each_share(x.size, forward_share, MIN_SHARE)
        return out

    def backward(self, dout):
        rule = BACKWARD_RULES[_rule]
        dx = np.empty(dout.shape, dtype=dout.dtype)
        x_flat, dout_flat, dx_flat = self.x.reshape(-1), dout.reshape(-1), dx.reshape(-1)

        def backward_share(i0, i1):
            rule(x_flat[i0:i1], dout_flat[i0:i1], dx_flat[i0:i1])
        for_each_share(dout.size, backward_share, MIN_SHARE)
        return (dx,)


def relu(x):
    return ReLU.apply(x)
