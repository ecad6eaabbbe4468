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

Feature visualization of any unit (Olah, Mordvintsev & Schubert, "Feature Visualization",
Distill 2017), also switchable by keyword:

- diversity:          several images of one unit (count=k) that differ: the ascent also lowers
                      the mean cosine similarity between the Gram matrices ("style") of the
                      images of one target at diversity_layer; both directions are scaled
                      to the same size per image, and `diversity` is the weight of the second
- fourier:            optimise a decorrelated parameterisation instead of the pixels: the
                      image is the inverse Fourier transform of coefficients scaled by
                      1/frequency, its colours mixed by a fixed colour-correlation matrix, so
                      a gradient step changes low frequencies and natural colours most
- scale, rotate:      transformation robustness: before each step the image is scaled by a
                      random factor in [1 - scale, 1 + scale] and rotated by up to `rotate`
                      degrees (about its centre, bilinear), so the pattern must survive both

Each step moves the image by `lr` times the gradient divided by its root mean square
(per image), so lr is the step size in normalised pixel units whatever the objective's
scale; the probability objective's gradient is tiny where the softmax saturates, the
logit's is not, and this keeps one lr right for both.
"""
import numbers

import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

from minicnn.nn import evaluating
from minicnn.ops.loss import stable_log_softmax
from minicnn.tensor import Tensor, frozen, no_grad
from minicnn.visualize.attribution import unit_gradient
from minicnn.visualize.images import input_stats, pixel_range
from minicnn.visualize.targets import is_unit, resolve_target, selected

# Tuned by eye on reference_net for 32x32 CIFAR-10 inputs (see the tour's class models).
FEATURE_OPTIONS = dict(diversity=0.0, diversity_layer=None, fourier=False, scale=0.0, rotate=0.0)
PRESETS = {
    "natural": dict(steps=120, lr=0.15, l2=0.03, blur_every=4, blur_sigma=0.8, jitter=3,
                    clip_norm=0.0, clip_contribution=0.0, clip_range=True, **FEATURE_OPTIONS),
    # nothing but the gradient: the noise-like images the lecture warns about
    "none": dict(steps=120, lr=0.15, l2=0.0, blur_every=0, blur_sigma=0.0, jitter=0,
                 clip_norm=0.0, clip_contribution=0.0, clip_range=False, **FEATURE_OPTIONS),
}


def class_model(model, target, preset="natural", objective="logit", seed=0, init_std=0.1,
                mean=None, std=None, image_shape=(3, 32, 32), return_history=False, progress=False,
                count=1, **options):
    """Gradient ascent on the input for a class score (or any unit).

    Inputs:
    - model: a Sequential; target: a class (index or name), a list of classes (one image per
      class, all optimised in one batch), or a unit (see targets.py)
    - preset: "natural" or "none" (see PRESETS); keyword options override single settings:
      steps, lr, l2, blur_every, blur_sigma, jitter, clip_norm, clip_contribution, clip_range,
      and feature visualization's diversity, diversity_layer (default: the target's layer if
      it has maps, else the last conv layer before it), fourier, scale, rotate
    - count: images per target (several images of one unit: use with diversity)
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
    check_feature_options(o)
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
        raise ValueError(f"class_model: count must be an integer >= 1, got {count!r}")
    if count > 1 and not is_unit(target):                 # each class `count` times
        target = [t for t in (target if isinstance(target, (list, np.ndarray)) else [target])
                  for _ in range(count)]
    N = len(target) if isinstance(target, (list, np.ndarray)) else count
    layer, units = resolve_target(model, target, N, objective)
    if o["diversity"]:
        diversity_layer = o["diversity_layer"] or default_diversity_layer(model, layer)
        model.check_layer(diversity_layer)
        groups = [[n for n in range(N) if units[n] == u] for u in dict.fromkeys(units)]
    if o["clip_range"] and (mean is None or std is None):
        mean, std = input_stats(model)
    C, H, W = image_shape
    rng = np.random.default_rng(seed)
    x = (init_std * rng.standard_normal((N, C, H, W))).astype(np.float32)
    if o["fourier"]:
        spectrum = FourierImage((N, C, H, W))
        coefficients = spectrum.inverse(x)                     # the same start, as coefficients
    history = []
    for step in tqdm(range(o["steps"]), desc="class model", disable=not progress):
        dy, dx = rng.integers(-o["jitter"], o["jitter"] + 1, size=2) if o["jitter"] else (0, 0)
        shifted = np.roll(x, (dy, dx), axis=(2, 3))
        warp = None
        if o["scale"] or o["rotate"]:
            warp = Warp(shifted.shape[2:], rng.uniform(1 - o["scale"], 1 + o["scale"]),
                        rng.uniform(-o["rotate"], o["rotate"]))
            shifted = warp(shifted).astype(np.float32)
        g, score = unit_gradient(model, shifted, layer, units, objective=objective,
                                 return_scores=True)
        history.append(score)
        if o["diversity"]:      # both directions at unit size: `diversity` is their ratio
            d = np.zeros_like(g)
            for group in groups:                               # the images of one target
                d[group] = diversity_gradient(model, shifted[group], diversity_layer)
            g = g / _rms(g) + o["diversity"] * d / _rms(d)
        if warp is not None:
            g = warp.adjoint(g)
        g = np.roll(g, (-dy, -dx), axis=(2, 3))               # back into x's frame
        if o["fourier"]:                                      # the step is taken on the coefficients
            step_of = spectrum.adjoint(g)
            rms = np.sqrt((np.abs(step_of) ** 2).mean(axis=(1, 2, 3), keepdims=True))
            coefficients = coefficients + o["lr"] * step_of / (rms + 1e-12)
            x = spectrum(coefficients)
        else:
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
        if o["fourier"] and (o["l2"] or o["blur_every"] or o["clip_norm"] or o["clip_range"]):
            coefficients = spectrum.inverse(x)                # the regularised image, re-encoded
        x = x.astype(np.float32)
    if not return_history:
        return x
    with no_grad(), evaluating():
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


# ---- feature visualization: diversity, a decorrelated parameterisation, robustness ---------
def _rms(g):
    return np.sqrt((g ** 2).mean(axis=(1, 2, 3), keepdims=True)) + 1e-12   # (N, 1, 1, 1)


def check_feature_options(o):
    for name in ("diversity", "scale", "rotate"):
        if isinstance(o[name], bool) or not isinstance(o[name], numbers.Real) or o[name] < 0:
            raise ValueError(f"class_model: {name} must be a number >= 0, got {o[name]!r}")
    if o["scale"] >= 1:
        raise ValueError(f"class_model: scale must be < 1 (factors 1 - scale .. 1 + scale), "
                         f"got {o['scale']}")


def default_diversity_layer(model, layer):
    """The target's layer if its output has maps, else the last conv layer before it."""
    names = model.names[:model.names.index(layer) + 1]
    convs = [n for n in names if type(model[n]).__name__ == "Conv2d"]
    if type(model[layer]).__name__ in ("Conv2d", "ReLU", "MaxPool2d") and convs:
        return layer
    if not convs:
        raise ValueError(f"class_model: diversity needs a conv layer at or before {layer!r}")
    return convs[-1]


def gram_similarity(acts):
    """The mean cosine similarity between the Gram matrices of B images' activations
    acts (B, C, h, w), over all pairs, and its gradient with respect to acts.

    G_b = A_b A_b^T / (h w) with A_b (C, hw); u_b = G_b / |G_b|;
    S = mean_{a != b} u_a . u_b;  dS/dG_b = 2 / (B (B - 1)) (v_b - (u_b . v_b) u_b) / |G_b|
    with v_b = sum_{a != b} u_a; dS/dA_b = (dS/dG_b + dS/dG_b^T) A_b / (h w).
    """
    B, C = acts.shape[:2]
    A = acts.reshape(B, C, -1).astype(np.float64)              # (B, C, hw)
    hw = A.shape[2]
    G = A @ A.transpose(0, 2, 1) / hw                          # (B, C, C)
    norms = np.sqrt((G ** 2).sum(axis=(1, 2))) + 1e-12         # (B,)
    u = G / norms[:, None, None]
    pairs = B * (B - 1)
    v = u.sum(axis=0)[None] - u                                # (B, C, C) sum over the others
    S = float((u * v).sum() / pairs)
    dG = 2 / pairs * (v - (u * v).sum(axis=(1, 2))[:, None, None] * u) / norms[:, None, None]
    dA = (dG + dG.transpose(0, 2, 1)) @ A / hw                 # (B, C, hw)
    return S, dA.reshape(acts.shape)


def diversity_gradient(model, x, layer):
    """d(-similarity)/dx for a batch of images: the direction that makes their Gram
    matrices at `layer` less alike (zero for a single image)."""
    if len(x) < 2:
        return np.zeros_like(x)
    xt = Tensor(x, requires_grad=True)
    with frozen(model.parameters()), evaluating():
        acts = model.upto(layer)(xt)
        _, dA = gram_similarity(acts.data)
        acts.backward(-dA)
    return xt.grad.astype(x.dtype, copy=False)


# the square root of ImageNet's colour covariance (Olah et al.'s lucid), columns scaled to
# the largest norm 1: one step moves colours along their natural correlations
COLOUR_MIX = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOUR_MIX = COLOUR_MIX / np.sqrt((COLOUR_MIX ** 2).sum(axis=0)).max()


class FourierImage:
    """The decorrelated parameterisation: complex coefficients P (N, C, H, W) -> the image

        x = M Re(ifft2(s * P)),   s = 1 / max(f, 1 / max(H, W))   (f the frequency in cycles/pixel)

    with M the colour mix (for 3 channels; the identity otherwise). It is linear, so the
    gradient of the coefficients is its adjoint applied to the image's gradient."""

    def __init__(self, shape):
        N, C, H, W = shape
        fy, fx = np.fft.fftfreq(H)[:, None], np.fft.fftfreq(W)[None, :]
        self.s = 1 / np.maximum(np.sqrt(fy ** 2 + fx ** 2), 1 / max(H, W))   # (H, W)
        self.mix = COLOUR_MIX if C == 3 else np.eye(C)
        self.HW = H * W

    def __call__(self, P):
        x = np.real(np.fft.ifft2(self.s * P))                    # (N, C, H, W)
        return np.einsum("ij,njhw->nihw", self.mix, x)

    def adjoint(self, g):
        """<L(P), g> = Re <P, adjoint(g)>: the coefficients' gradient from the image's."""
        g = np.einsum("ij,nihw->njhw", self.mix, np.asarray(g, dtype=np.float64))
        return self.s * np.fft.fft2(g) / self.HW

    def inverse(self, x):
        """Coefficients whose image is x."""
        x = np.einsum("ij,njhw->nihw", np.linalg.inv(self.mix), np.asarray(x, dtype=np.float64))
        return np.fft.fft2(x) / self.s


class Warp:
    """Scale by `factor` and rotate by `degrees` about the image centre, bilinear, zeros
    outside; adjoint() is its transpose (for the gradient)."""

    def __init__(self, size, factor, degrees):
        H, W = size
        t = np.deg2rad(degrees)
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
        cy, cx = (H - 1) / 2, (W - 1) / 2
        # output pixel (y, x) reads input point R^-1 (y - c) / factor + c
        dy, dx = (yy - cy) / factor, (xx - cx) / factor
        sy = np.cos(t) * dy + np.sin(t) * dx + cy
        sx = -np.sin(t) * dy + np.cos(t) * dx + cx
        y0, x0 = np.floor(sy).astype(int), np.floor(sx).astype(int)
        self.taps = []                                          # (flat index, weight) x 4
        for oy, ox in ((0, 0), (0, 1), (1, 0), (1, 1)):
            yi, xi = y0 + oy, x0 + ox
            w = (1 - np.abs(sy - yi)) * (1 - np.abs(sx - xi))
            inside = (yi >= 0) & (yi < H) & (xi >= 0) & (xi < W)
            self.taps.append((np.where(inside, yi * W + xi, 0).ravel(), np.where(inside, w, 0).ravel()))
        self.size = (H, W)

    def __call__(self, x):
        flat = x.reshape(x.shape[:2] + (-1,))
        out = sum(flat[:, :, index] * weight for index, weight in self.taps)
        return out.reshape(x.shape)

    def adjoint(self, g):
        flat = g.reshape(g.shape[:2] + (-1,)).astype(np.float64)
        out = np.zeros_like(flat)
        for index, weight in self.taps:
            np.add.at(out, (slice(None), slice(None), index), flat * weight)
        return out.reshape(g.shape).astype(g.dtype)
