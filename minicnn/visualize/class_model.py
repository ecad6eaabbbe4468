"""Class models: gradient ascent on the input image for a class score.

"What about doing gradient descent?" (the lecture): keep the weights fixed, start from a
nearly blank image and move the *image* along the gradient of one class's score. Without
help this finds noise-like patterns that the network scores highly but that look like
nothing ("fooling images"; Nguyen, Yosinski & Clune 2015). Regularisers keep the image
closer to natural images; each is switchable by keyword:

- l2:                 decay x <- (1 - l2) x after each step: small, mean-coloured images
                      (Simonyan, Vedaldi & Zisserman 2014; 0 in the normalised space is
                      the dataset's mean colour)
- blur_every, blur_sigma: a Gaussian blur of the image every k steps removes the
                      high frequencies the gradient likes to add (Yosinski et al., "Understanding
                      Neural Networks Through Deep Visualization", ICML 2015 DL workshop)
- jitter:             roll the image by up to `jitter` pixels before each step and back after it,
                      so no pattern can rely on exact pixel positions (CS231n, Mordvintsev et al.)
- clip_norm:          set the pixels whose colour-vector norm is in the lowest `clip_norm`
                      percent to 0 (Yosinski et al.)
- clip_contribution:  the same for the pixels whose contribution |sum_c x * dscore/dx| to the
                      score is smallest (Yosinski et al.'s linear estimate of each pixel's effect)
- clip_range:         keep every pixel in the range of real pixels, [0, 1] before normalisation

Each step moves the image by `lr` times the gradient divided by its root mean square
(per image), so lr is the step size in normalised pixel units whatever the objective's
scale; the probability objective's gradient is tiny where the softmax saturates, the
logit's is not, and this keeps one lr right for both.
"""
import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

from minicnn.ops.loss import stable_log_softmax
from minicnn.tensor import Tensor, no_grad
from minicnn.visualize.attribution import unit_gradient
from minicnn.visualize.images import input_stats, pixel_range
from minicnn.visualize.targets import resolve_target, selected

# Tuned by eye on reference_net for 32x32 CIFAR-10 inputs (see the tour's class models).
PRESETS = {
    "natural": dict(steps=120, lr=0.15, l2=0.03, blur_every=4, blur_sigma=0.8, jitter=3,
                    clip_norm=0.0, clip_contribution=0.0, clip_range=True),
    # nothing but the gradient: the noise-like images the lecture warns about
    "none": dict(steps=120, lr=0.15, l2=0.0, blur_every=0, blur_sigma=0.0, jitter=0,
                 clip_norm=0.0, clip_contribution=0.0, clip_range=False),
}


def class_model(model, target, preset="natural", objective="logit", seed=0, init_std=0.1,
                mean=None, std=None, image_shape=(3, 32, 32), return_history=False, progress=False,
                **options):
    """Gradient ascent on the input for a class score (or any unit).

    Inputs:
    - model: a Sequential; target: a class (index or name), a list of classes (one image per
      class, all optimised in one batch), or a unit (see targets.py)
    - preset: "natural" or "none" (see PRESETS); keyword options override single settings:
      steps, lr, l2, blur_every, blur_sigma, jitter, clip_norm, clip_contribution, clip_range
    - objective: "logit" (default) or "probability" (the softmax output, as in the lecture)
    - seed, init_std: the start is init_std * N(0, 1) noise, around the mean image
    - mean, std: the model's input statistics (default model.meta), for clip_range
    - image_shape: (C, H, W) of the images the model reads
    - return_history: also return the objective before every step and after the last
    Returns: x (N, C, H, W) float32 in the network's (normalised) input space
             [, history (steps + 1, N)]
    """
    if preset not in PRESETS:
        raise ValueError(f"class_model: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    unknown = set(options) - set(PRESETS[preset])
    if unknown:
        raise TypeError(f"class_model: unknown options {sorted(unknown)}; "
                        f"known: {', '.join(PRESETS[preset])}")
    o = {**PRESETS[preset], **options}
    N = len(target) if isinstance(target, (list, np.ndarray)) else 1
    layer, units = resolve_target(model, target, N, objective)
    if o["clip_range"] and (mean is None or std is None):
        mean, std = input_stats(model)
    C, H, W = image_shape
    rng = np.random.default_rng(seed)
    x = (init_std * rng.standard_normal((N, C, H, W))).astype(np.float32)
    history = []
    for step in tqdm(range(o["steps"]), desc="class model", disable=not progress):
        dy, dx = rng.integers(-o["jitter"], o["jitter"] + 1, size=2) if o["jitter"] else (0, 0)
        shifted = np.roll(x, (dy, dx), axis=(2, 3))
        g, score = unit_gradient(model, shifted, layer, units, objective=objective,
                                 return_scores=True)
        history.append(score)
        g = np.roll(g, (-dy, -dx), axis=(2, 3))               # back into x's frame
        rms = np.sqrt((g ** 2).mean(axis=(1, 2, 3), keepdims=True))   # (N, 1, 1, 1)
        x = x + o["lr"] * g / (rms + 1e-12)
        if o["l2"]:
            x = x * (1 - o["l2"])
        if o["blur_every"] and (step + 1) % o["blur_every"] == 0:
            x = gaussian_blur(x, o["blur_sigma"])
        if o["clip_norm"]:
            x = zero_smallest(x, np.sqrt((x ** 2).sum(axis=1)), o["clip_norm"])
        if o["clip_contribution"]:
            x = zero_smallest(x, np.abs((x * g).sum(axis=1)), o["clip_contribution"])
        if o["clip_range"]:
            lo, hi = pixel_range(mean, std)                   # (C, 1, 1) each
            x = np.clip(x, lo, hi)
        x = x.astype(np.float32)
    if not return_history:
        return x
    with no_grad():
        out = model.upto(layer)(Tensor(x)).data
    if objective == "probability":
        out = np.exp(stable_log_softmax(out, axis=-1))     # (N, K) probabilities
    history.append(selected(out, units))
    return x, np.array(history)


def zero_smallest(x, amount, percent):
    """Set the pixels (all channels) whose `amount` (N, H, W) is in the lowest `percent`
    percent of their image to 0."""
    cut = np.percentile(amount.reshape(len(amount), -1), percent, axis=1)   # (N,)
    return x * (amount >= cut[:, None, None])[:, None]


def gaussian_blur(x, sigma):
    """Blur each channel of (N, C, H, W) with a Gaussian of std `sigma` pixels, as two 1-D
    passes (the 2-D Gaussian is separable), mirroring the image at its borders."""
    if sigma <= 0:
        return x
    radius = max(1, int(np.ceil(3 * sigma)))
    t = np.arange(-radius, radius + 1)
    kernel = np.exp(-t ** 2 / (2 * sigma ** 2))
    kernel /= kernel.sum()                                     # (2r + 1,) sums to 1
    for axis in (2, 3):
        pad = [(0, 0)] * 4
        pad[axis] = (radius, radius)
        xp = np.pad(x, pad, mode="reflect")
        size = x.shape[axis]
        x = sum(w * np.take(xp, np.arange(i, i + size), axis=axis) for i, w in enumerate(kernel))
    return x


def high_frequency_energy(x):
    """The mean squared difference between neighbouring pixels (both directions), per
    image: (N,). Large for noise, small for smooth images."""
    dy = np.diff(x, axis=2) ** 2
    dx = np.diff(x, axis=3) ** 2
    return dy.mean(axis=(1, 2, 3)) + dx.mean(axis=(1, 2, 3))


def plot_history(history, labels, title="objective during gradient ascent"):
    """history: (steps + 1, N); one line per image."""
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    for n, label in enumerate(labels):
        ax.plot(history[:, n], label=label)
    ax.set(xlabel="step", ylabel="objective", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
