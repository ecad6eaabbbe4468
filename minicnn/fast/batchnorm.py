"""The fast twins of minicnn/ops/batchnorm.py: each pass over memory a compiled loop
(fast/kernels/batchnorm.py), each core taking its own channels (fast/parallel.py).

The plain route's NumPy makes about ten passes over the whole array in training mode
(a mean, a centred copy, its square, the scaled copy, ...) and keeps xhat for the
backward; in the residual net that was 40% of a training step. Here the forward makes
three passes (mean, variance, out) and keeps x itself, which the graph holds anyway;
the backward makes two, with the gradient of ops/batchnorm.py written out per channel
(m values per channel, inv_std = 1 / sqrt(var + eps), a = weight * inv_std):

    out = a * (x - mean) + bias
    dx  = a * (dout - mean(dout) - xhat * mean(dout * xhat))
        = a * dout + q * (x - mean) + r     with q = -a * inv_std * mean(dout * xhat)
                                                 r = -a * mean(dout)

Same signatures and results as the plain twins, to float rounding.
"""
import numpy as np

from minicnn.fast.kernels.batchnorm import (channel_affine, channel_combine, channel_mean_var,
                                            channel_sums)
from minicnn.fast.parallel import for_each_share
from minicnn.fast.settings import settings


def as_ncl(a):
    """(N, C, ...) -> a contiguous (N, C, L) view (or copy): the kernels' layout."""
    a = np.ascontiguousarray(a)
    return a.reshape(a.shape[0], a.shape[1], -1)


def by_channel(x3, work):
    """work(c0, c1) on every core's share of the channels of x3 (N, C, L)."""
    N, C, L = x3.shape
    for_each_share(C, work, max(1, settings().norm_min_share // max(N * L, 1)))


def batch_norm_train_forward(ctx, x, w, b, eps):
    """x (N, C, ...), w, b (C,) or None, eps -> out (x's shape), mean (C,), var (C,) biased."""
    x3 = as_ncl(x)                                             # (N, C, L)
    C = x3.shape[1]
    mean, var = np.empty(C), np.empty(C)                       # float64
    by_channel(x3, lambda c0, c1: channel_mean_var(x3, c0, c1, mean, var))
    inv_std = 1.0 / np.sqrt(var + eps)                         # (C,) float64
    a = inv_std if w is None else w * inv_std
    center, scale = mean.astype(x.dtype), a.astype(x.dtype)
    shift = np.zeros(C, x.dtype) if b is None else b.astype(x.dtype)
    out = np.empty_like(x3)
    by_channel(x3, lambda c0, c1: channel_affine(x3, center, scale, shift, c0, c1, out))
    ctx.x3, ctx.center, ctx.inv_std, ctx.w = x3, center, inv_std, w
    return out.reshape(x.shape), center, var.astype(x.dtype)


def batch_norm_train_backward(ctx, dout):
    """dout (x's shape) -> dx (x's shape), dw (C,), db (C,) (dw None without the affine part)."""
    x3, center, inv_std = ctx.x3, ctx.center, ctx.inv_std
    N, C, L = x3.shape
    g = as_ncl(dout)
    sum_dout, sum_dout_xc = channel_sums_by_core(g, x3, center)
    m = N * L
    a = inv_std if ctx.w is None else ctx.w * inv_std          # (C,)
    mean_dout_xhat = inv_std * sum_dout_xc / m
    p, q, r = (v.astype(g.dtype) for v in (a, -a * inv_std * mean_dout_xhat, -a * sum_dout / m))
    dx = np.empty_like(g)
    by_channel(x3, lambda c0, c1: channel_combine(g, x3, center, p, q, r, c0, c1, dx))
    dw = None if ctx.w is None else (inv_std * sum_dout_xc).astype(ctx.w.dtype)
    return dx.reshape(dout.shape), dw, sum_dout.astype(g.dtype)


def batch_norm_eval_forward(ctx, x, w, b, running_mean, running_var, eps):
    """Also running_mean, running_var (C,) -> out = a * (x - running_mean) + bias."""
    x3 = as_ncl(x)
    C = x3.shape[1]
    inv_std = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
    a = inv_std if w is None else w * inv_std
    center, scale = running_mean.astype(x.dtype), a.astype(x.dtype)
    shift = np.zeros(C, x.dtype) if b is None else b.astype(x.dtype)
    out = np.empty_like(x3)
    by_channel(x3, lambda c0, c1: channel_affine(x3, center, scale, shift, c0, c1, out))
    ctx.x3, ctx.center, ctx.inv_std, ctx.scale, ctx.w = x3, center, inv_std, scale, w
    return out.reshape(x.shape)


def batch_norm_eval_backward(ctx, dout):
    """dout -> dx = a * dout, dw = sum(dout * xhat), db = sum(dout). The sums only when dw or
    db is asked for: explanations freeze the parameters, and then one pass is enough."""
    x3 = ctx.x3
    g = as_ncl(dout)
    zero = np.zeros(x3.shape[1], dtype=g.dtype)
    scale = ctx.scale.astype(g.dtype, copy=False)
    dx = np.empty_like(g)
    by_channel(x3, lambda c0, c1: channel_affine(g, zero, scale, zero, c0, c1, dx))
    if not any(ctx.needs_input_grad[1:3]):                    # neither weight nor bias
        return dx.reshape(dout.shape), None, None
    sum_dout, sum_dout_xc = channel_sums_by_core(g, x3, ctx.center)
    dw = None if ctx.w is None else (ctx.inv_std * sum_dout_xc).astype(ctx.w.dtype)
    return dx.reshape(dout.shape), dw, sum_dout.astype(g.dtype)


def channel_sums_by_core(g, x3, center):
    """(sum(g), sum(g * (x - center))) per channel, float64 (C,) each."""
    C = x3.shape[1]
    sum_dout, sum_dout_xc = np.empty(C), np.empty(C)
    by_channel(x3, lambda c0, c1: channel_sums(g, x3, center, c0, c1, sum_dout, sum_dout_xc))
    return sum_dout, sum_dout_xc
