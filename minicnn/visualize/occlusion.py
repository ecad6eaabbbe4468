"""Occlusion sensitivity (Zeiler & Fergus, "Visualizing and Understanding Convolutional
Networks", ECCV 2014, section 4.2).

Cover part of the image with a grey square and see how much the probability of the
class drops. Sliding the square over the image gives a map: where the probability falls,
the network was looking. Unlike the gradient maps this needs no backward pass, only
forward passes on occluded copies, so it measures what a *large* change of the input does
rather than what an infinitesimal one does.

For an image of H x W, a square of side `size` and a step of `stride` pixels, the square's
top-left corner visits (i * stride, j * stride) for i < OH = (H - size) // stride + 1 (and
the same for columns). Many occluded copies go through the network in one batch, and
through the first convolutions only the part of each copy that the square changes
(incremental.py): the map is the same, several times faster.

Captum's options: rectangular windows and a step per axis, a baseline image under the
window, the raw logit, and occlusion_attribution's per-pixel map (the mean drop over the
windows covering each pixel).
"""
import numbers

import numpy as np
from matplotlib.figure import Figure

from minicnn.nn import evaluating
from minicnn.ops.checks import conv_output_size
from minicnn.ops.loss import stable_log_softmax
from minicnn.visualize.images import input_stats, pixel_range
from minicnn.visualize.incremental import occluded_logits
from minicnn.tensor import Tensor, no_grad
from minicnn.visualize.targets import probabilities, resolve_target


def occluder_value(model, fill, mean=None, std=None):
    """The normalised value the occluder paints: fill="mean" is the dataset's mean colour (0
    after normalisation), "grey" is pixel value 0.5, a number is used as it is; an array is a
    colour (C,) or (C, 1, 1), or a baseline image (C, H, W) or (N, C, H, W) whose pixels
    the occluder uncovers (returned as an array, checked by the caller)."""
    if isinstance(fill, str):
        if fill == "mean":
            return np.float32(0.0)
        if fill == "grey":
            if mean is None or std is None:
                mean, std = input_stats(model)
            lo, hi = pixel_range(mean, std)
            return (lo + hi) / 2                    # (C, 1, 1) the normalised 0.5
        raise ValueError(f"occlusion: fill must be 'mean', 'grey', a number, a colour or an "
                         f"image, got {fill!r}")
    fill = np.asarray(fill, dtype=np.float64)       # cast to the image's dtype when painted
    return fill.reshape(-1, 1, 1) if fill.ndim == 1 else fill


def occlusion(model, x, target, size=8, stride=2, fill="grey", batch_size=256, mean=None,
              std=None, incremental=True, objective="probability"):
    """Occlusion sensitivity maps.

    Inputs:
    - model: a Sequential ending in class logits; x: (N, C, H, W) normalised images
    - target: a class (index or name) or one class per image
    - size, stride: the occluding window's side and step, in pixels; each an int (a square,
      the same step both ways) or a pair (height, width), (step down, step across)
    - fill: what the window is painted with, see occluder_value (a baseline image: the
      window shows that image's pixels)
    - batch_size: occluded copies per forward pass
    - incremental: recompute only what the window changes (incremental.py); False runs
      every copy whole through every layer (the same map, slower)
    - objective: "probability" (the softmax, as in the paper) or "logit"
    Returns: score (N, OH, OW), the target's probability (or logit) with the window at each
    position, and base (N,), the score without occlusion. base - score is the drop.
    """
    x = np.asarray(x)
    N, C, H, W = x.shape
    layer, units = resolve_target(model, target, N)
    if layer != model.names[-1]:
        raise ValueError("occlusion explains class probabilities; give a class, not a unit")
    if objective not in ("probability", "logit"):
        raise ValueError(f"occlusion: objective must be 'probability' or 'logit', got {objective!r}")
    (h, w), (sy, sx) = window_pair("size", size), window_pair("stride", stride)
    if not (1 <= h <= H and 1 <= w <= W) or sy < 1 or sx < 1:
        raise ValueError(f"occlusion: size must be in 1..{H} x 1..{W} and stride >= 1, "
                         f"got size={size}, stride={stride}")
    value = occluder_value(model, fill, mean, std)
    image_fill = np.ndim(value) == 3 and np.shape(value)[1:] != (1, 1) or np.ndim(value) == 4
    if image_fill and np.shape(value) not in ((C, H, W), (N, C, H, W)):
        raise ValueError(f"occlusion: a baseline image must have shape {(C, H, W)} or "
                         f"{(N, C, H, W)}, got {np.shape(value)}")
    if image_fill:
        value = np.broadcast_to(value, x.shape)
    OH, OW = conv_output_size(H, h, sy), conv_output_size(W, w, sx)   # positions
    corners = [(i * sy, j * sx) for i in range(OH) for j in range(OW)]
    classes = np.array([u[0] for u in units])                     # (N,)
    base = class_scores(model, x, objective)[np.arange(N), classes]   # (N,)
    score = np.empty((N, OH * OW))
    for n in range(N):
        for start in range(0, len(corners), batch_size):
            chunk = corners[start:start + batch_size]
            paint = (np.stack([value[n, :, t:t + h, l:l + w] for t, l in chunk])
                     if image_fill else value)
            z = occluded_logits(model, x[n], chunk, (h, w), paint, incremental)   # (B, K)
            z = z.astype(np.float64)
            if objective == "probability":
                z = np.exp(stable_log_softmax(z, axis=1))        # (B, K)
            score[n, start:start + len(chunk)] = z[:, classes[n]]
    return score.reshape(N, OH, OW), base


def occlusion_attribution(model, x, target, size=8, stride=2, fill="grey", batch_size=256,
                          mean=None, std=None, incremental=True, objective="probability"):
    """Captum's per-pixel occlusion attribution: for each pixel, the mean drop of the score
    over the windows that cover it (0 where no window does). Options as occlusion; Captum
    scores the model's output as it is, objective="logit" here.

    Returns: (N, H, W) float64, positive where hiding the pixel lowers the score."""
    score, base = occlusion(model, x, target, size, stride, fill, batch_size, mean, std,
                            incremental, objective)
    (h, w), (sy, sx) = window_pair("size", size), window_pair("stride", stride)
    N, _, H, W = np.shape(x)
    drop = base[:, None, None] - score                            # (N, OH, OW)
    total, count = np.zeros((N, H, W)), np.zeros((H, W))
    for i in range(score.shape[1]):
        for j in range(score.shape[2]):
            total[:, i * sy:i * sy + h, j * sx:j * sx + w] += drop[:, i, j, None, None]
            count[i * sy:i * sy + h, j * sx:j * sx + w] += 1
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def window_pair(name, value):
    """An int or a pair of ints -> (down, across)."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                 for v in pair):
        raise ValueError(f"occlusion: {name} must be an int or a pair of ints, got {value!r}")
    return tuple(int(v) for v in pair)


def class_scores(model, x, objective):
    """(N, K) probabilities or logits, float64."""
    if objective == "probability":
        return probabilities(model, x)
    with no_grad(), evaluating():
        return model(Tensor(x)).data.astype(np.float64)


def map_extent(size, stride, OH, OW):
    """imshow's extent placing value (i, j) of a map on the occluder's centre, in the
    image's pixel coordinates (pixel centres at integers)."""
    c = (size - 1) / 2                    # centre of the first square
    return (c - stride / 2, c + (OW - 0.5) * stride, c + (OH - 0.5) * stride, c - stride / 2)


def plot_occlusion(rgb, prob, base, titles, size, stride):
    """Per image: the image, and its probability map placed on the occluder centres over a
    faded grey copy of the image (dark = the class disappears when that part is hidden).
    Each map's colour scale runs from 0 to the larger of its maximum and the unoccluded
    probability, so a weakly classified image still shows where it is sensitive."""
    N = len(rgb)
    fig = Figure(figsize=(4.6, 2.1 * N + 0.4))
    axes = fig.subplots(N, 2, squeeze=False)
    OH, OW = prob.shape[1:]
    H, W = rgb.shape[1:3]
    for n in range(N):
        axes[n, 0].imshow(rgb[n], interpolation="nearest")
        axes[n, 0].set_title(f"{titles[n]} (p={base[n]:.2f})", fontsize=8)
        grey = rgb[n].mean(axis=2)
        axes[n, 1].imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        image = axes[n, 1].imshow(prob[n], cmap="magma", vmin=0, vmax=max(prob[n].max(), base[n]),
                                  alpha=0.85, extent=map_extent(size, stride, OH, OW))
        axes[n, 1].set_xlim(-0.5, W - 0.5)
        axes[n, 1].set_ylim(H - 0.5, -0.5)
        axes[n, 1].set_title(f"p({titles[n]}) with the square here", fontsize=8)
        colorbar = fig.colorbar(image, ax=axes[n, 1], fraction=0.046)
        colorbar.ax.tick_params(labelsize=7)
        for ax in axes[n]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"occlusion sensitivity ({size}x{size} grey square, stride {stride})", fontsize=9)
    fig.tight_layout()
    return fig
