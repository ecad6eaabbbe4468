"""Integrated Gradients (Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks",
ICML 2017), and the baselines it starts from.

The gradient says what an infinitesimal change does; IG adds up the gradient along the
straight path from a baseline x' (an image that "means nothing") to the image x:

    IG_i(x) = (x_i - x'_i) * integral_0^1 d score / d x_i (x' + alpha (x - x')) d alpha

By the fundamental theorem of calculus the attributions add up to the change of the score,
sum_i IG_i = f(x) - f(x') ("completeness"); the integral is a sum over `steps` points, and
the gap left, the completeness error, shrinks as the steps grow.

What the baseline is matters (Sturmfels, Lundberg & Lee, "Visualizing the Impact of Feature
Attribution Baselines", Distill 2020): pixels equal to the baseline get nothing, however
important. make_baseline builds the usual ones:

    "zeros"     0 in the network's input space: the dataset's mean colour (Captum's default)
    "black"     pixel value 0 in every channel
    "blur"      a blurred copy of the image (the details removed, the colours kept)
    "uniform"   uniform noise over the valid pixels [0, 1]
"""
import numbers

import numpy as np

from minicnn.nn import evaluating
from minicnn.ops.loss import stable_log_softmax
from minicnn.tensor import Tensor, no_grad
from minicnn.visualize.attribution import _images, unit_gradient
from minicnn.visualize.class_model import gaussian_blur
from minicnn.visualize.images import input_stats, pixel_range
from minicnn.visualize.targets import resolve_target, selected

METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right",
           "riemann_middle")
BASELINES = ("zeros", "black", "blur", "uniform")


def path_points(steps, method="gausslegendre"):
    """Where on the path, and with which weights, the integral over [0, 1] is sampled.

    Returns alphas (steps,) in [0, 1] and weights (steps,) that sum to 1, as Captum's:
    - riemann_left / right / middle: alpha = k/n, (k+1)/n, (k+1/2)/n, weight 1/n
    - riemann_trapezoid: alpha = k/(n-1), weights 1/(n-1) but half at both ends (n >= 2)
    - gausslegendre: Gauss-Legendre nodes and weights mapped from [-1, 1] to [0, 1]
      (exact for polynomials of degree 2n - 1)
    """
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise TypeError(f"integrated_gradients: steps must be an integer, got {steps!r}")
    if steps < 1:
        raise ValueError(f"integrated_gradients: steps must be >= 1, got {steps}")
    if method not in METHODS:
        raise ValueError(f"integrated_gradients: unknown method {method!r}; choose one of "
                         f"{', '.join(METHODS)}")
    n = int(steps)
    k = np.arange(n)
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return (nodes + 1) / 2, weights / 2
    if method == "riemann_trapezoid":
        if n < 2:
            raise ValueError("integrated_gradients: riemann_trapezoid needs steps >= 2, got 1")
        weights = np.full(n, 1 / (n - 1))
        weights[[0, -1]] /= 2
        return k / (n - 1), weights
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[method]
    return (k + offset) / n, np.full(n, 1 / n)


def make_baseline(model, x, baseline=None, seed=0, sigma=3.0, mean=None, std=None):
    """The baseline images for x (N, C, H, W), in the network's input space.

    Inputs:
    - baseline: None or "zeros", "black", "blur", "uniform" (see the module's docstring), a
      number, or an array of shape (C, H, W) or (N, C, H, W)
    - seed: for "uniform"; sigma: the blur's standard deviation in pixels, for "blur"
    - mean, std: the input statistics (default model.meta), for "black" and "uniform"
    Returns: (N, C, H, W) in x's dtype
    """
    x = _images(x)
    if baseline is None or (isinstance(baseline, str) and baseline == "zeros"):
        return np.zeros_like(x)
    if isinstance(baseline, str):
        if baseline not in BASELINES:
            raise ValueError(f"integrated_gradients: unknown baseline {baseline!r}; choose one "
                             f"of {', '.join(BASELINES)}, a number or an array")
        if baseline == "blur":
            return gaussian_blur(x, sigma).astype(x.dtype)
        if mean is None or std is None:
            mean, std = input_stats(model)
        lo, hi = pixel_range(mean, std)                        # (C, 1, 1) each
        if baseline == "black":
            return np.broadcast_to(lo, x.shape).astype(x.dtype)
        u = np.random.default_rng(seed).uniform(size=x.shape)  # pixels in [0, 1]
        return (lo + u * (hi - lo)).astype(x.dtype)
    b = np.asarray(baseline, dtype=x.dtype)
    if b.ndim == 0:
        return np.full_like(x, b)
    if b.shape == x.shape[1:]:
        return np.broadcast_to(b, x.shape).copy()
    if b.shape != x.shape:
        raise ValueError(f"integrated_gradients: a baseline of shape {b.shape} does not fit "
                         f"images of shape {x.shape}; give (C, H, W) = {x.shape[1:]} or "
                         f"(N, C, H, W) = {x.shape}")
    return b


def integrated_gradients(model, x, target, baseline=None, steps=50, method="gausslegendre",
                         batch_size=256, return_delta=False, objective="logit"):
    """Integrated Gradients of a target's score, one map per image.

    Inputs:
    - model: a Sequential; x: (N, C, H, W) normalised images
    - target: a class (index or name), one class per image, or a unit (see targets.py)
    - baseline: see make_baseline (default: zeros in the input space, as in Captum)
    - steps: points on the path (>= 1); method: one of METHODS (see path_points)
    - batch_size: how many path points go through the network together
    - return_delta: also return the completeness error per image,
      sum(attributions) - (f(x) - f(baseline))
    - objective: "logit" or "probability", for class targets
    Returns: attributions (N, C, H, W) in x's dtype [, delta (N,) float64]
    """
    x = _images(x)
    N = len(x)
    alphas, weights = path_points(steps, method)
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"integrated_gradients: batch_size must be an integer >= 1, got {batch_size!r}")
    layer, units = resolve_target(model, target, N, objective)
    base = make_baseline(model, x, baseline)
    diff = x.astype(np.float64) - base                           # (N, C, H, W)
    delta = diff.astype(x.dtype)                                 # x - x', in x's dtype
    total = np.zeros_like(diff)                                  # weighted sum of gradients
    # point k of image i is row k * N + i; a chunk of rows is a run of images for each k
    for start in range(0, len(alphas) * N, batch_size):
        end = min(start + batch_size, len(alphas) * N)
        runs = [(k, max(start, k * N) - k * N, min(end, (k + 1) * N) - k * N)  # (k, i0, i1)
                for k in range(start // N, (end - 1) // N + 1)]
        points = np.concatenate([base[i0:i1] + alphas[k].astype(x.dtype) * delta[i0:i1]
                                 for k, i0, i1 in runs])         # (end - start, C, H, W)
        i = np.concatenate([np.arange(i0, i1) for _, i0, i1 in runs])
        g = unit_gradient(model, points, layer, [units[n] for n in i], objective=objective)
        row = 0
        for k, i0, i1 in runs:                                   # total[i] += weight * g
            total[i0:i1] += weights[k] * g[row:row + i1 - i0]
            row += i1 - i0
    attributions = (diff * total).astype(x.dtype)
    if not return_delta:
        return attributions
    change = scores(model, x, layer, units, objective) - scores(model, base, layer, units, objective)
    return attributions, attributions.sum(axis=(1, 2, 3), dtype=np.float64) - change


def scores(model, x, layer, units, objective="logit"):
    """The score of every image's target: (N,) float64."""
    with no_grad(), evaluating():
        out = model.upto(layer)(Tensor(x)).data.astype(np.float64)
    if objective == "probability":
        out = np.exp(stable_log_softmax(out, axis=-1))
    return selected(out, units)
