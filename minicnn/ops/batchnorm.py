"""Batch normalisation (Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network
Training by Reducing Internal Covariate Shift", ICML 2015), PyTorch's train/eval behaviour.

Each channel c is normalised over every other axis: over N for (N, C) (BatchNorm1d), over
N, H and W for (N, C, H, W) (BatchNorm2d); m is the number of values per channel.

    train:  mu = mean(x),  var = mean((x - mu)^2)                (the batch's, biased)
            xhat = (x - mu) / sqrt(var + eps),   out = weight * xhat + bias
            running_mean <- (1 - momentum) running_mean + momentum mu
            running_var  <- (1 - momentum) running_var  + momentum var * m / (m - 1)   (unbiased)
    eval:   the same with running_mean and running_var in place of mu and var: an affine
            map per channel, out = scale * x + shift, which is why explanations pass through it
            as through a 1x1 convolution.

Backward in train mode (the batch statistics depend on every x, so the gradient has two
more terms than the affine one):

    dxhat = dout * weight
    dx = (1 / sqrt(var + eps)) * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
    dweight = sum(dout * xhat),   dbias = sum(dout)

This is the plain route (see minicnn/route.py); fast/batchnorm.py is its fast twin, the same
formulas in fewer passes over memory.
"""
import numbers

import numpy as np

from minicnn.ops.checks import check_float
from minicnn.route import twin
from minicnn.tensor import Function


def channel_axes(x):
    """The axes batch norm reduces over: all but the channel axis 1."""
    return (0,) + tuple(range(2, x.ndim))


def per_channel(v, x):
    """A (C,) array shaped to broadcast against x: (1, C) or (1, C, 1, 1)."""
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def batch_norm_train_forward(ctx, x, w, b, eps):
    """
    Inputs:
    - ctx: where to save what the backward needs (the Function)
    - x: (N, C) or (N, C, H, W); w, b: (C,) or None (no affine part); eps: a float
    Returns out (x's shape), mean (C,), var (C,): the batch's statistics (var biased)
    """
    axes = channel_axes(x)
    mean = x.mean(axis=axes)                                  # (C,)
    xc = x - per_channel(mean, x)
    var = (xc * xc).mean(axis=axes)                           # (C,) biased, 1/m
    inv_std = 1.0 / np.sqrt(var + eps)                        # (C,)
    xhat = xc * per_channel(inv_std, x)
    ctx.xhat, ctx.inv_std, ctx.w = xhat, inv_std, w
    out = xhat if w is None else xhat * per_channel(w, x)
    if b is not None:
        out = out + per_channel(b, x)
    return out, mean, var


def batch_norm_train_backward(ctx, dout):
    """dout (x's shape) -> dx (x's shape), dw (C,), db (C,) (None without the affine part)."""
    xhat, axes = ctx.xhat, channel_axes(dout)
    dxhat = dout if ctx.w is None else dout * per_channel(ctx.w, dout)
    mean_dxhat = dxhat.mean(axis=axes)                        # (C,)
    mean_dxhat_xhat = (dxhat * xhat).mean(axis=axes)          # (C,)
    dx = per_channel(ctx.inv_std, dout) * (dxhat - per_channel(mean_dxhat, dout)
                                           - xhat * per_channel(mean_dxhat_xhat, dout))
    dw = None if ctx.w is None else (dout * xhat).sum(axis=axes)
    db = dout.sum(axis=axes)
    return dx, dw, db


def batch_norm_eval_forward(ctx, x, w, b, running_mean, running_var, eps):
    """The same inputs plus running_mean, running_var (C,) -> out (x's shape): per channel
    the affine map out = scale * x + shift with scale = w / sqrt(running_var + eps)."""
    inv_std = 1.0 / np.sqrt(running_var + eps)                # (C,)
    scale = inv_std if w is None else w * inv_std
    shift = -running_mean * scale if b is None else b - running_mean * scale
    ctx.x, ctx.scale, ctx.inv_std, ctx.running_mean, ctx.w = x, scale, inv_std, running_mean, w
    return x * per_channel(scale, x) + per_channel(shift, x)


def batch_norm_eval_backward(ctx, dout):
    """dout -> dx = scale * dout, dw = sum(dout * xhat), db = sum(dout)."""
    axes = channel_axes(dout)
    dx = dout * per_channel(ctx.scale, dout)
    dw = None
    if ctx.w is not None:
        xhat = (ctx.x - per_channel(ctx.running_mean, ctx.x)) * per_channel(ctx.inv_std, ctx.x)
        dw = (dout * xhat).sum(axis=axes)
    return dx, dw, dout.sum(axis=axes)


def check_channels(name, v, C):
    if v is not None and v.shape != (C,):
        raise ValueError(f"batch_norm: {name} must have shape ({C},) for {C} channels, "
                         f"got {v.shape}")


class BatchNorm(Function):
    def forward(self, x, w, b, running_mean, running_var, training=False, momentum=0.1,
                eps=1e-5):
        """running_mean, running_var: (C,) arrays, updated in place in training mode (as
        PyTorch does), or None to use batch statistics only (then training must be True)."""
        check_float("batch_norm", "input", x)
        if x.ndim < 2:
            raise ValueError(f"batch_norm: input must be (N, C), (N, C, L) or (N, C, H, W), "
                             f"got shape {x.shape}")
        C = x.shape[1]
        for name, v in (("weight", w), ("bias", b), ("running_mean", running_mean),
                        ("running_var", running_var)):
            check_channels(name, v, C)
        if (running_mean is None) != (running_var is None):
            raise ValueError("batch_norm: give both running_mean and running_var, or neither")
        if not isinstance(eps, numbers.Real) or eps <= 0:
            raise ValueError(f"batch_norm: eps must be > 0, got {eps!r}")
        if not (isinstance(momentum, numbers.Real) and 0 <= momentum <= 1):
            raise ValueError(f"batch_norm: momentum must be in [0, 1], got {momentum!r}")
        self.training, self.x_dtype = bool(training), x.dtype
        dtype = x.dtype if w is None else w.dtype                # computed in the weights' dtype
        x = x.astype(dtype, copy=False)
        if self.training:
            m = x.size // max(C, 1)                               # values per channel
            if m < 2:
                raise ValueError(f"batch_norm: training needs more than 1 value per channel, "
                                 f"got input of shape {x.shape}")
            out, mean, var = twin(batch_norm_train_forward, self.plain)(self, x, w, b, eps)
            if running_mean is not None:                          # in place: they are buffers
                running_mean *= 1 - momentum
                running_mean += momentum * mean
                running_var *= 1 - momentum
                running_var += momentum * var * (m / (m - 1))    # unbiased, as in PyTorch
            return out
        if running_mean is None:
            raise ValueError("batch_norm: eval mode (training=False) needs running_mean and "
                             "running_var")
        return twin(batch_norm_eval_forward, self.plain)(
            self, x, w, b, running_mean.astype(dtype, copy=False),
            running_var.astype(dtype, copy=False), eps)

    def backward(self, dout):
        rule = batch_norm_train_backward if self.training else batch_norm_eval_backward
        dx, dw, db = twin(rule, self.plain)(self, dout)
        return dx.astype(self.x_dtype, copy=False), dw, db, None, None


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Functional batch norm, PyTorch's argument order (F.batch_norm):
    x (N, C) or (N, C, H, W); running_mean, running_var, weight, bias (C,) -> x's shape."""
    return BatchNorm.apply(x, weight, bias, running_mean, running_var, training=training,
                           momentum=momentum, eps=eps)


# ---- Layer-wise relevance propagation (minicnn.visualize.lrp) ----------------------------------
def batch_norm_lrp(x, scale, shift, R, epsilon=1e-9):
    """Relevance R of an eval-mode batch norm's output -> relevance of its input x, by the
    epsilon rule of its affine map z = scale * x + shift (one weight per channel, the shift
    as the bias). lrp folds a batch norm into the convolution before it where it can (the
    LRP overview's advice); this rule is for one it cannot fold. scale, shift: (C,)."""
    from minicnn.ops.linear import stabilise
    s = per_channel(scale, x)
    return s * x * R / stabilise(s * x + per_channel(shift, x), epsilon)

