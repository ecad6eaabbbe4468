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
ordinary backward under all three rules. (Layer-wise relevance propagation,
minicnn.visualize.lrp, is a fourth way back, with rules for every op: through a
ReLU, relevance passes unchanged, relu_backward_lrp below.) Choose the rule for a block of code:

    with minicnn.backward_rule("guided"):
        score.backward()

The rule is read when backward() runs, so one forward pass can be explained
three ways. It holds for the thread (or asyncio task) that set it, so two
threads can explain one model by two rules at once.

This is the plain route (see minicnn/route.py); fast/relu.py runs the same
rules as compiled loops, per core.
"""
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from minicnn.route import twin
from minicnn.tensor import Function


def relu_forward(x):                 # max(x, 0)
    return np.maximum(x, 0)


# x: the ReLU's input saved in forward; dout: the gradient arriving from above.
def relu_backward_normal(x, dout):   # the true gradient: pass where the INPUT was positive
    return dout * (x > 0)


def relu_backward_deconv(x, dout):   # Zeiler & Fergus 2014: pass where the SIGNAL is positive
    return np.maximum(dout, 0)


def relu_backward_guided(x, dout):   # Springenberg et al. 2015: both conditions
    return np.maximum(dout, 0) * (x > 0)


def relu_backward_lrp(x, dout):      # LRP (Bach et al. 2015): relevance passes unchanged
    return dout


BACKWARD_RULES = {
    "normal": relu_backward_normal,
    "deconv": relu_backward_deconv,
    "guided": relu_backward_guided,
}
_rule = ContextVar("minicnn_backward_rule", default="normal")


@contextmanager
def backward_rule(name):
    """Use ReLU backward rule `name` ("normal", "guided" or "deconv") inside the block.

    The previous rule comes back when the block ends, also when it raises.
    """
    if name not in BACKWARD_RULES:
        raise ValueError(f"backward_rule: unknown rule {name!r}; "
                         f"choose one of {', '.join(BACKWARD_RULES)}")
    token = _rule.set(name)
    try:
        yield
    finally:
        _rule.reset(token)


def current_backward_rule():
    return _rule.get()


class ReLU(Function):
    def forward(self, x):
        self.x = x
        return twin(relu_forward, self.plain)(x)

    def backward(self, dout):
        rule = BACKWARD_RULES[_rule.get()]
        return (twin(rule, self.plain)(self.x, dout),)


def relu(x):
    return ReLU.apply(x)
