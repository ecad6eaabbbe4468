"""Which pixels matter? Gradients of a score with respect to the input image.

The three maps differ only in how a signal passes back through a ReLU (see
minicnn/ops/relu.py); convolutions, linear layers and max-pool switches are the same:

- saliency(...)          the true gradient d score / d x (Simonyan, Vedaldi & Zisserman,
                         "Deep Inside Convolutional Networks", ICLR 2014 workshop)
- deconvnet(...)         Zeiler & Fergus, "Visualizing and Understanding Convolutional
                         Networks" (ECCV 2014): keep the positive part of the signal
- guided_backprop(...)   Springenberg et al., "Striving for Simplicity: The All Convolutional
                         Net" (ICLR 2015 workshop): both conditions at every ReLU
- smoothgrad(...)        Smilkov et al., "SmoothGrad: removing noise by adding noise" (2017):
                         the mean of any of the maps over noisy copies of the image
- smoothgrad_sq, vargrad the mean square and the variance over the noisy copies (Adebayo et
                         al. 2018; Hooker et al. 2019)
- input_x_gradient(...)  Shrikumar et al., "Not Just a Black Box" (2016): the gradient times
                         the input, each pixel's first-order share of the score

Every function returns the raw signed map with the shape and dtype of x, (N, C, H, W):
no absolute value, no normalisation. Rendering for display lives in render.py.
"""
import numbers

import numpy as np

from minicnn.nn import evaluating
from minicnn.ops.loss import softmax
from minicnn.ops.relu import backward_rule
from minicnn.tensor import Tensor, as_float_array, frozen
from minicnn.visualize.targets import resolve_target, selected, unit_dout


def gradient(model, x, target, rule="normal", objective="logit", return_scores=False):
    """d score / d x for every image, with ReLUs passing the signal back by `rule`.

    Inputs:
    - model: a Sequential; x: (N, C, H, W) normalised images (float32 or float64)
    - target: a class (index or name), one class per image, or a unit (see targets.py)
    - rule: "normal" (the true gradient), "guided" or "deconv"
    - objective: "logit" or "probability" (softmax), for class targets
    - return_scores: also return the scores themselves, (N,)
    Returns: dx (N, C, H, W) in x's dtype [, scores (N,)]
    """
    x = _images(x)
    layer, units = resolve_target(model, target, len(x), objective)
    return unit_gradient(model, x, layer, units, rule, objective, return_scores)


def unit_gradient(model, x, layer, units, rule="normal", objective="logit", return_scores=False):
    """gradient() for a resolved target: the output of `layer`, one index tuple per image."""
    x = Tensor(_images(x), requires_grad=True)       # (N, C, H, W)
    with frozen(model.parameters()), evaluating():   # only dx is wanted; eval mode
        out = model.upto(layer)(x)                   # (N, ...) the layer holding the score
        if objective == "probability":
            out = softmax(out, axis=-1)              # (N, K)
        dout = unit_dout(out.data, units, layer)     # one-hot: backprop the score alone
        with backward_rule(rule):
            out.backward(dout)
    dx = x.grad.astype(x.dtype, copy=False)
    return (dx, selected(out.data, units)) if return_scores else dx


def _images(x):
    x = as_float_array(x.data if isinstance(x, Tensor) else x)
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {x.shape}")
    return x


def saliency(model, x, target, objective="logit"):
    """The true gradient of the score: (N, C, H, W), signed."""
    return gradient(model, x, target, rule="normal", objective=objective)


def guided_backprop(model, x, target, objective="logit"):
    """Guided backpropagation (Springenberg et al. 2015): (N, C, H, W), signed."""
    return gradient(model, x, target, rule="guided", objective=objective)


def deconvnet(model, x, target, objective="logit"):
    """The deconvnet reconstruction (Zeiler & Fergus 2014): (N, C, H, W), signed."""
    return gradient(model, x, target, rule="deconv", objective=objective)


def input_x_gradient(model, x, target, objective="logit"):
    """Gradient x input: x * d score / d x, (N, C, H, W), signed. On a ReLU net it is also
    LRP-epsilon as eps -> 0 (lrp.py), and Integrated Gradients from a zero baseline in one
    right-Riemann step (integrated.py)."""
    x = _images(x)
    return x * gradient(model, x, target, rule="normal", objective=objective)


RULES = {"saliency": "normal", "guided": "guided", "deconv": "deconv"}  # method -> ReLU rule


def smoothgrad(model, x, target, method="saliency", n=25, noise=0.15, seed=0, batch_size=128,
               objective="logit", stdevs=None):
    """SmoothGrad (Smilkov et al. 2017): the mean of a gradient map over n noisy copies.

    .. math:: \\hat M(x) = \\frac{1}{n} \\sum_{i=1}^n M(x + \\epsilon_i), \\quad
              \\epsilon_i \\sim N(0, \\sigma^2), \\quad \\sigma = noise \\cdot (\\max x - \\min x)

    Inputs:
    - method: "saliency", "guided" or "deconv" (the map M being smoothed)
    - n: noisy copies per image; noise: sigma as a fraction of each image's value range
      (the paper finds 10-20% best); seed: fixes the noise
    - stdevs: sigma itself, in the units of x, the same for every image (Captum's
      NoiseTunnel `stdevs`); when given, `noise` is not used
    - batch_size: how many noisy copies go through the network together
    Returns: (N, C, H, W) in x's dtype, signed
    """
    return noise_tunnel(model, x, target, "smoothgrad", method, n, noise, seed, batch_size,
                        objective, stdevs)


def smoothgrad_sq(model, x, target, method="saliency", n=25, noise=0.15, seed=0, batch_size=128,
                  objective="logit", stdevs=None):
    """SmoothGrad-squared (Hooker et al. 2019; in Adebayo et al. 2018's comparison): the mean
    of the squared map over the noisy copies, (N, C, H, W), non-negative. Options as smoothgrad."""
    return noise_tunnel(model, x, target, "smoothgrad_sq", method, n, noise, seed, batch_size,
                        objective, stdevs)


def vargrad(model, x, target, method="saliency", n=25, noise=0.15, seed=0, batch_size=128,
            objective="logit", stdevs=None):
    """VarGrad (Adebayo et al., "Local Explanation Methods for Deep Neural Networks Lack
    Sensitivity to Parameter Values", 2018): the variance of the map over the noisy copies,
    E[M^2] - E[M]^2, (N, C, H, W), non-negative. Options as smoothgrad."""
    return noise_tunnel(model, x, target, "vargrad", method, n, noise, seed, batch_size,
                        objective, stdevs)


NOISE_TUNNELS = ("smoothgrad", "smoothgrad_sq", "vargrad")


def noise_tunnel(model, x, target, kind="smoothgrad", method="saliency", n=25, noise=0.15,
                 seed=0, batch_size=128, objective="logit", stdevs=None):
    """The statistic `kind` (see NOISE_TUNNELS) of map `method` over n noisy copies of each
    image; smoothgrad's options. The copies (and so the noise) are the same for every kind."""
    if kind not in NOISE_TUNNELS:
        raise ValueError(f"noise_tunnel: unknown kind {kind!r}; choose one of {', '.join(NOISE_TUNNELS)}")
    if method not in RULES:
        raise ValueError(f"{kind}: unknown method {method!r}; choose one of {', '.join(RULES)}")
    if n < 1:
        raise ValueError(f"{kind}: n must be >= 1, got {n}")
    if stdevs is None and not noise >= 0:
        raise ValueError(f"{kind}: noise must be >= 0, got {noise}")
    if stdevs is not None and not (isinstance(stdevs, numbers.Real) and stdevs >= 0):
        raise ValueError(f"{kind}: stdevs must be a number >= 0, got {stdevs!r}")
    x = _images(x)
    N = len(x)
    layer, units = resolve_target(model, target, N, objective)   # check once, before any work
    if stdevs is None:
        sigma = noise * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))   # (N,)
    else:
        sigma = np.full(N, float(stdevs))
    rng = np.random.default_rng(seed)
    total = np.zeros_like(x, dtype=np.float64)       # (N, C, H, W) running sum of the maps
    squares = np.zeros_like(total) if kind != "smoothgrad" else None   # ... of their squares
    # copy k of image i is row k * N + i: a batch holds whole rounds of copies if it can
    copies = np.arange(n * N)
    for start in range(0, n * N, batch_size):
        rows = copies[start:start + batch_size]
        images = rows % N                            # which image each noisy copy is of
        eps = rng.standard_normal((len(rows),) + x.shape[1:]) * sigma[images, None, None, None]
        xb = (x[images] + eps).astype(x.dtype)
        maps = unit_gradient(model, xb, layer, [units[i] for i in images],
                             rule=RULES[method], objective=objective)
        np.add.at(total, images, maps)
        if squares is not None:
            np.add.at(squares, images, maps.astype(np.float64) ** 2)
    if kind == "smoothgrad":
        return (total / n).astype(x.dtype)
    if kind == "smoothgrad_sq":
        return (squares / n).astype(x.dtype)
    return np.maximum(squares / n - (total / n) ** 2, 0).astype(x.dtype)
