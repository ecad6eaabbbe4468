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
"""
import numpy as np
from matplotlib.figure import Figure

from minicnn.ops.checks import conv_output_size
from minicnn.ops.loss import stable_log_softmax
from minicnn.visualize.images import input_stats, pixel_range
from minicnn.visualize.incremental import occluded_logits
from minicnn.visualize.targets import probabilities, resolve_target


def occluder_value(model, fill, mean=None, std=None):
    """The normalised value (C, 1, 1) the occluder paints: fill="mean" is the dataset's mean
    colour (0 after normalisation), "grey" is pixel value 0.5, a number is used as it is."""
    if fill == "mean":
        return np.float32(0.0)
    if fill == "grey":
        if mean is None or std is None:
            mean, std = input_stats(model)
        lo, hi = pixel_range(mean, std)
        return (lo + hi) / 2                        # (C, 1, 1) the normalised 0.5
    if isinstance(fill, str):
        raise ValueError(f"occlusion: fill must be 'mean', 'grey' or a number, got {fill!r}")
    return np.float32(fill)


def occlusion(model, x, target, size=8, stride=2, fill="grey", batch_size=256, mean=None,
              std=None, incremental=True):
    """Occlusion sensitivity maps.

    Inputs:
    - model: a Sequential ending in class logits; x: (N, C, H, W) normalised images
    - target: a class (index or name) or one class per image
    - size, stride: the occluding square's side and step, in pixels
    - fill: what the square is painted with, see occluder_value
    - batch_size: occluded copies per forward pass
    - incremental: recompute only what the square changes (incremental.py); False runs
      every copy whole through every layer (the same map, slower)
    Returns: prob (N, OH, OW), the target's softmax probability with the square at each
    position, and base (N,), the probability without occlusion. base - prob is the drop.
    """
    x = np.asarray(x)
    N, C, H, W = x.shape
    layer, units = resolve_target(model, target, N)
    if layer != model.names[-1]:
        raise ValueError("occlusion explains class probabilities; give a class, not a unit")
    if not (1 <= size <= min(H, W)) or stride < 1:
        raise ValueError(f"occlusion: size must be in 1..{min(H, W)} and stride >= 1, "
                         f"got size={size}, stride={stride}")
    value = occluder_value(model, fill, mean, std)
    OH, OW = conv_output_size(H, size, stride), conv_output_size(W, size, stride)   # positions
    corners = [(i * stride, j * stride) for i in range(OH) for j in range(OW)]
    classes = np.array([u[0] for u in units])                     # (N,)
    base = probabilities(model, x)[np.arange(N), classes]        # (N,)
    prob = np.empty((N, OH * OW))
    for n in range(N):
        for start in range(0, len(corners), batch_size):
            chunk = corners[start:start + batch_size]
            z = occluded_logits(model, x[n], chunk, size, value, incremental)   # (B, K)
            p = np.exp(stable_log_softmax(z.astype(np.float64), axis=1))    # (B, K)
            prob[n, start:start + len(chunk)] = p[:, classes[n]]
    return prob.reshape(N, OH, OW), base


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
