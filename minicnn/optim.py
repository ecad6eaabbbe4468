"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay.

The same update as torch.optim.SGD (dampening 0), for each parameter p:

    g = p.grad + weight_decay * p          (L2 penalty weight_decay/2 * |p|^2)
    v = momentum * v + g                   (velocity; v starts as g)
    step = g + momentum * v  if nesterov  else  v
    p = p - lr * step

Sutskever et al., "On the importance of initialization and momentum in deep
learning" (ICML 2013) explain both kinds of momentum.
"""
import numpy as np


class SGD:
    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        self.params = list(params)
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, "
                             f"got lr={lr}, momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.lr, self.momentum, self.nesterov, self.weight_decay = lr, momentum, nesterov, weight_decay
        self.velocity = [None] * len(self.params)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        for k, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            if self.momentum:
                v = self.velocity[k]
                v = g.copy() if v is None else np.multiply(v, self.momentum, out=v) + g
                self.velocity[k] = v
                g = g + self.momentum * v if self.nesterov else v
            p.data -= (self.lr * g).astype(p.dtype, copy=False)

    def state_dict(self):
        """Copies of the momentum buffers, as {"velocity.<k>": array}, for checkpoints.
        (Copies, because step() updates the buffers in place.)"""
        return {f"velocity.{k}": v.copy() for k, v in enumerate(self.velocity) if v is not None}

    def load_state_dict(self, state):
        for k, p in enumerate(self.params):
            v = state.get(f"velocity.{k}")
            if v is not None and v.shape != p.shape:
                raise ValueError(f"SGD.load_state_dict: velocity.{k} has shape {v.shape}, "
                                 f"parameter has {p.shape}")
            self.velocity[k] = None if v is None else np.array(v, dtype=p.dtype)
