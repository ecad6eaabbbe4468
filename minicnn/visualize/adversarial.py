"""Adversarial examples: the smallest pushes that change the network's answer.

The fooling images of class_model.py start from noise and climb a class score until the
network is sure; adversarial examples start from a real image the network gets right and
move it as little as possible until it gets it wrong (Szegedy et al. 2014). The gradient
says which way: the loss rises fastest along it.

- fgsm: the fast gradient sign method (Goodfellow, Shlens & Szegedy, "Explaining and
  Harnessing Adversarial Examples", ICLR 2015): one step of eps along sign(d loss / d x).
- pgd: projected gradient descent (Madry et al., "Towards Deep Learning Models Resistant to
  Adversarial Attacks", ICLR 2018): many small signed steps from a random start inside the
  ball, each followed by a projection back into it.

eps is in pixel units of [0, 1] (8/255: eight grey levels of a JPEG), the same for every
channel: in the network's normalised input that is eps / std per channel. Every image is
kept inside the L-infinity ball |x_adv - x| <= eps around the original and clipped to valid
pixels [0, 1].
"""
import numbers

import numpy as np
from matplotlib.figure import Figure

from minicnn.nn import evaluating
from minicnn.ops.loss import cross_entropy
from minicnn.tensor import Tensor, frozen, no_grad
from minicnn.visualize.images import input_stats, pixel_range


def loss_gradient(model, x, y):
    """d cross-entropy(model(x), y) / dx, (N, C, H, W) (the sum over images, so each image's
    gradient is its own loss's)."""
    x = Tensor(x, requires_grad=True)
    with frozen(model.parameters()), evaluating():
        loss = cross_entropy(model(x), y)
        loss.backward()
    return x.grad * len(x.data)                       # cross_entropy is a mean over N


def _check(name, eps, steps=1):
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise TypeError(f"{name}: eps must be a number (pixel units of [0, 1]), got {eps!r}")
    if eps < 0:
        raise ValueError(f"{name}: eps must be >= 0, got {eps}")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"{name}: steps must be an integer >= 1, got {steps!r}")


def _bounds(model, mean, std):
    if mean is None or std is None:
        mean, std = input_stats(model)
    lo, hi = pixel_range(mean, std)                     # (C, 1, 1) each
    return lo, hi, np.asarray(std, dtype=np.float64).reshape(-1, 1, 1)


def fgsm(model, x, y, eps, mean=None, std=None):
    """FGSM: x + eps * sign(d loss / dx), in pixel units, clipped to valid pixels.

    Inputs:
    - model: a Sequential ending in logits; x: (N, C, H, W) normalised images; y: (N,) labels
    - eps: the step in pixel units of [0, 1]; mean, std: input statistics (default model.meta)
    Returns: x_adv (N, C, H, W) in x's dtype
    """
    _check("fgsm", eps)
    x = np.asarray(x)
    lo, hi, std = _bounds(model, mean, std)
    step = eps / std                                    # (C, 1, 1) in normalised units
    x_adv = x + step * np.sign(loss_gradient(model, x, y))
    return np.clip(x_adv, lo, hi).astype(x.dtype)


def pgd(model, x, y, eps, steps=10, step_size=None, random_start=True, seed=0, mean=None,
        std=None):
    """PGD on the L-infinity ball of radius eps (pixel units) around each image.

    Inputs:
    - model, x, y, eps, mean, std: as fgsm
    - steps: signed gradient steps; step_size: each one's size in pixel units (default
      2.5 eps / steps, as Madry et al.)
    - random_start: start from a uniform point of the ball (seeded by `seed`), else at x
    Returns: x_adv (N, C, H, W) in x's dtype
    """
    _check("pgd", eps, steps)
    if step_size is None:
        step_size = 2.5 * eps / steps
    if not step_size >= 0:
        raise ValueError(f"pgd: step_size must be >= 0, got {step_size}")
    x = np.asarray(x)
    lo, hi, std = _bounds(model, mean, std)
    radius = eps / std                                  # (C, 1, 1) normalised
    floor, ceiling = np.maximum(x - radius, lo), np.minimum(x + radius, hi)   # ball and pixels
    x_adv = x.astype(np.float64)
    if random_start:
        x_adv = x_adv + np.random.default_rng(seed).uniform(-1, 1, x.shape) * radius
        x_adv = np.clip(x_adv, floor, ceiling)
    for _ in range(steps):
        g = loss_gradient(model, x_adv.astype(x.dtype), y)
        x_adv = np.clip(x_adv + step_size / std * np.sign(g), floor, ceiling)
    return x_adv.astype(x.dtype)


ATTACKS = {"fgsm": fgsm, "pgd": pgd}


def predict(model, x, batch_size=256):
    """The predicted class of every image, (N,)."""
    with no_grad(), evaluating():
        return np.concatenate([model(Tensor(x[i:i + batch_size])).data.argmax(axis=1)
                               for i in range(0, len(x), batch_size)])


def success_rate(model, x, y, attack="pgd", eps_values=(1 / 255, 2 / 255, 4 / 255, 8 / 255),
                 **options):
    """The fraction of the correctly classified images that the attack makes wrong, for
    each eps.

    Inputs:
    - model, x, y: as fgsm; attack: "fgsm" or "pgd"; options: passed on (steps, ...)
    Returns: rates (len(eps_values),) in [0, 1], and the number of correctly classified
    images they are fractions of
    """
    if attack not in ATTACKS:
        raise ValueError(f"success_rate: unknown attack {attack!r}; choose one of {', '.join(ATTACKS)}")
    x, y = np.asarray(x), np.asarray(y)
    right = predict(model, x) == y
    if not right.any():
        raise ValueError("success_rate: the model classifies none of the images correctly")
    x, y = x[right], y[right]
    rates = [np.mean(predict(model, ATTACKS[attack](model, x, y, eps, **options)) != y)
             for eps in eps_values]
    return np.array(rates), int(right.sum())


def plot_success_rate(eps_values, rates, title="adversarial examples"):
    """rates: {attack name: (len(eps_values),)}; eps on the x axis in grey levels (x 255)."""
    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    levels = np.asarray(eps_values) * 255
    for name, r in rates.items():
        ax.plot(levels, 100 * np.asarray(r), marker="o", label=name)
    ax.set(xlabel="eps (grey levels of 255)", ylabel="fooled (% of correct images)",
           ylim=(0, 102), title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
