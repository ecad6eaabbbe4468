"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay; Adam and AdamW.

The same update as torch.optim.SGD (dampening 0), for each parameter p:

    g = p.grad + weight_decay * p          (L2 penalty weight_decay/2 * |p|^2)
    v = momentum * v + g                   (velocity; v starts as g)
    step = g + momentum * v  if nesterov  else  v
    p = p - lr * step

Sutskever et al., "On the importance of initialization and momentum in deep
learning" (ICML 2013) explain both kinds of momentum.

Adam (Kingma & Ba, ICLR 2015) and AdamW (Loshchilov & Hutter, "Decoupled Weight Decay
Regularization", ICLR 2019), step for step as torch.optim.Adam / AdamW (amsgrad off):

    Adam:  g = p.grad + weight_decay * p            (L2 added to the gradient)
    AdamW: p = p * (1 - lr * weight_decay)          (decay applied to the weight itself)
    m = beta1 * m + (1 - beta1) * g                 first moment   (m, v start at 0)
    v = beta2 * v + (1 - beta2) * g^2               second moment
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)   t = 1, 2, ...
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


class Adam:
    decoupled = False                          # AdamW: True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        name = type(self).__name__
        self.params = list(params)
        beta1, beta2 = betas
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"{name}: lr, eps and weight_decay must be >= 0, "
                             f"got lr={lr}, eps={eps}, weight_decay={weight_decay}")
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"{name}: betas must be in [0, 1), got {tuple(betas)}")
        self.lr, self.betas, self.eps, self.weight_decay = lr, (beta1, beta2), eps, weight_decay
        self.exp_avg = [None] * len(self.params)       # m, per parameter
        self.exp_avg_sq = [None] * len(self.params)    # v
        self.steps = [0] * len(self.params)            # t: a parameter without grad is not stepped

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        beta1, beta2 = self.betas
        for k, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad.astype(p.dtype, copy=False)
            if self.weight_decay and self.decoupled:
                p.data *= p.dtype.type(1 - self.lr * self.weight_decay)
            elif self.weight_decay:
                g = g + self.weight_decay * p.data
            if self.exp_avg[k] is None:
                self.exp_avg[k], self.exp_avg_sq[k] = np.zeros_like(p.data), np.zeros_like(p.data)
            m, v = self.exp_avg[k], self.exp_avg_sq[k]
            m += (1 - beta1) * (g - m)                  # = beta1 m + (1 - beta1) g, as torch's lerp
            v *= beta2
            v += (1 - beta2) * g * g
            self.steps[k] += 1
            t = self.steps[k]
            step_size = self.lr / (1 - beta1 ** t)
            denom = np.sqrt(v) / np.sqrt(1 - beta2 ** t) + self.eps
            p.data -= (step_size * m / denom).astype(p.dtype, copy=False)

    def state_dict(self):
        """Copies of the moments and step counts, {"exp_avg.<k>", "exp_avg_sq.<k>", "step.<k>"}."""
        state = {}
        for k, t in enumerate(self.steps):
            if self.exp_avg[k] is not None:
                state[f"exp_avg.{k}"] = self.exp_avg[k].copy()
                state[f"exp_avg_sq.{k}"] = self.exp_avg_sq[k].copy()
                state[f"step.{k}"] = np.array(t, dtype=np.int64)
        return state

    def load_state_dict(self, state):
        for k, p in enumerate(self.params):
            m, v = state.get(f"exp_avg.{k}"), state.get(f"exp_avg_sq.{k}")
            for name, a in (("exp_avg", m), ("exp_avg_sq", v)):
                if a is not None and a.shape != p.shape:
                    raise ValueError(f"{type(self).__name__}.load_state_dict: {name}.{k} has "
                                     f"shape {a.shape}, parameter has {p.shape}")
            self.exp_avg[k] = None if m is None else np.array(m, dtype=p.dtype)
            self.exp_avg_sq[k] = None if v is None else np.array(v, dtype=p.dtype)
            self.steps[k] = int(state.get(f"step.{k}", 0))


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.01, as in PyTorch)."""
    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
