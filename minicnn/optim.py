"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay; Adam and AdamW.

The same update as torch.optim.SGD (dampening 0), for each parameter p:

    g = p.grad + weight_decay * p          (L2 penalty weight_decay/2 * |p|^2)
    v = momentum * v + g                   (velocity; v starts as g)
    step = g + momentum * v  if nesterov  else  v
    p = p - lr * step

Sutskever et al., "On the importance of initialization and momentum in deep
learning" (ICML 2013) explain both kinds of momentum.

Parameter groups, as in PyTorch: SGD([{"params": biases, "lr": 6.4}, {"params": rest}], lr=0.1)
gives the biases their own lr (and, if the group says so, weight_decay). A group's lr keeps
its ratio to the optimiser's: setting opt.lr = 0.05 on a schedule moves the biases to 3.2,
as PyTorch's LambdaLR scales every group by the same factor.

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
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, "
                             f"got lr={lr}, momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.lr, self.momentum, self.nesterov, self.weight_decay = lr, momentum, nesterov, weight_decay
        self.params, self.lr_ratios, self.decays = [], [], []   # one entry per parameter
        for group in param_groups(params, "SGD"):
            group_lr = group.get("lr", lr)
            group_decay = group.get("weight_decay", weight_decay)
            if group_lr < 0 or group_decay < 0 or (group_lr > 0 and lr == 0):
                raise ValueError(f"SGD: a group's lr and weight_decay must be >= 0 (and the "
                                 f"optimiser's lr > 0), got lr={group_lr}, "
                                 f"weight_decay={group_decay}")
            for p in group["params"]:
                self.params.append(p)
                self.lr_ratios.append(group_lr / lr if lr else 0.0)
                self.decays.append(group_decay)
        self.velocity = [None] * len(self.params)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        for k, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad
            if self.decays[k]:
                g = g + self.decays[k] * p.data
            if self.momentum:
                v = self.velocity[k]
                v = g.copy() if v is None else np.multiply(v, self.momentum, out=v) + g
                self.velocity[k] = v
                g = g + self.momentum * v if self.nesterov else v
            p.data -= (self.lr * self.lr_ratios[k] * g).astype(p.dtype, copy=False)

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


def param_groups(params, who):
    """[{"params": [...], ...}, ...] from parameters or from PyTorch-style group dicts."""
    params = list(params)
    if all(isinstance(g, dict) for g in params) and params:
        for g in params:
            if "params" not in g:
                raise ValueError(f"{who}: a parameter group needs a 'params' entry, got "
                                 f"keys {sorted(g)}")
        return [{**g, "params": list(g["params"])} for g in params]
    if any(isinstance(g, dict) for g in params):
        raise TypeError(f"{who}: give parameters or parameter groups (dicts), not a mixture")
    return [{"params": params}]


class Lookahead:
    """Airbench's form of Lookahead (Zhang et al., "Lookahead Optimizer: k steps forward,
    1 step back", NeurIPS 2019; Jordan, airbench, 2024): every `every` steps of the inner
    optimiser, the slow copy of the weights (and BatchNorm's running statistics) moves toward
    the fast ones, and the fast ones restart from it:

        slow = decay * slow + (1 - decay) * fast,   fast = slow

    The caller sets `decay` on a schedule (airbench: 0.95^5 (t / T)^3, so that it averages
    only near the end) and calls finish() after the last step, which keeps the slow weights.
    Everything else (lr, zero_grad, state for checkpoints) is the inner optimiser's.
    """

    def __init__(self, optimizer, model, every=5):
        if every < 1:
            raise ValueError(f"Lookahead: every must be >= 1 step, got {every}")
        self.optimizer, self.model, self.every = optimizer, model, every
        self.slow = {name: t.data.copy() for name, t in model.named_state() if t.dtype.kind == "f"}
        self.steps, self.decay = 0, 0.0

    @property
    def lr(self):
        return self.optimizer.lr

    @lr.setter
    def lr(self, value):
        self.optimizer.lr = value

    def zero_grad(self):
        self.optimizer.zero_grad()

    def step(self):
        self.optimizer.step()
        self.steps += 1
        if self.steps % self.every == 0:
            self.sync(self.decay)

    def sync(self, decay):
        for name, t in self.model.named_state():
            if name in self.slow:
                slow = self.slow[name]
                slow += (1 - decay) * (t.data - slow)          # slow.lerp_(fast, 1 - decay)
                t.data[...] = slow

    def finish(self):
        """The end of training: the weights become the slow ones (a sync with decay 1)."""
        self.sync(1.0)

    def state_dict(self):
        state = self.optimizer.state_dict()
        state.update({f"lookahead.{name}": a.copy() for name, a in self.slow.items()})
        state["lookahead.steps"] = np.array(self.steps, dtype=np.int64)
        return state

    def load_state_dict(self, state):
        self.optimizer.load_state_dict({k: v for k, v in state.items()
                                        if not k.startswith("lookahead.")})
        for name, slow in self.slow.items():
            saved = state.get(f"lookahead.{name}")
            if saved is None or saved.shape != slow.shape:
                raise ValueError(f"Lookahead.load_state_dict: lookahead.{name} is missing or "
                                 f"has the wrong shape")
            slow[...] = saved
        self.steps = int(state.get("lookahead.steps", 0))


class Adam:
    decoupled = False                          # AdamW: True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        name = type(self).__name__
        groups = param_groups(params, name)
        if any(set(g) != {"params"} for g in groups):
            raise ValueError(f"{name}: parameter groups with their own options are SGD's only; "
                             f"give {name} the parameters")
        self.params = [p for g in groups for p in g["params"]]
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
