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

ReLU works element by element, so each core takes its own share of the
flattened array (minicnn/parallel.py); arrays too small to be worth it are
done in one go.
"""
from contextlib import contextmanager

import numpy as np

from minicnn.parallel import for_each_share
from minicnn.tensor import Function

MIN_SHARE = 2**18          # elements (1 MB of float32): smaller arrays are done in one go


# x: the ReLU's input saved in forward; dout: the gradient arriving from above; out: where
# the result goes (NumPy's out=: written in place, no temporary array to copy).
def relu_backward_normal(x, dout, out):    # the true gradient: pass where the INPUT was positive
    return np.multiply(dout, x > 0, out=out)


def relu_backward_deconv(x, dout, out):    # Zeiler & Fergus 2014: pass where the SIGNAL is positive
    return np.maximum(dout, 0, out=out)


def relu_backward_guided(x, dout, out):    # Springenberg et al. 2015: both conditions
    return np.multiply(np.maximum(dout, 0, out=out), x > 0, out=out)


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
            np.maximum(x_flat[i0:i1], 0, out=out_flat[i0:i1])
        for_each_share(x.size, forward_share, MIN_SHARE)
        return out

    def backward(self, dout):
        rule = BACKWARD_RULES[_rule]
        dx = np.empty(dout.shape, dtype=dout.dtype)
        x_flat, dout_flat, dx_flat = self.x.reshape(-1), dout.reshape(-1), dx.reshape(-1)

        def backward_share(i0, i1):
            rule(x_flat[i0:i1], dout_flat[i0:i1], out=dx_flat[i0:i1])
        for_each_share(dout.size, backward_share, MIN_SHARE)
        return (dx,)


def relu(x):
    return ReLU.apply(x)
