"""Layer views: what a hidden unit responds to, in its top images (the lecture's layer 3-5
slides; Zeiler & Fergus 2014, Fig. 2; Springenberg et al. 2015, Fig. 4).

For each channel of a layer, take its top-9 images (top_patches.py) and, for each one,
send the unit at its maximum back to the input: the gradient of that one unit under the
guided-backprop rule (or the deconvnet rule), cropped to the unit's receptive field. The
reconstruction shows which pixels *of this crop* made the unit fire; the crop beside it
shows what they were.
"""
import numpy as np

from minicnn.visualize.attribution import RULES, unit_gradient
from minicnn.visualize.images import input_stats, to_input
from minicnn.visualize.receptive_field import output_size, receptive_field
from minicnn.visualize.render import mosaic, render_map, resize_nearest, tile
from minicnn.visualize.top_patches import patch_block


def reconstructions(model, images, top, layer, channels=None, method="guided", mean=None,
                    std=None, batch_size=256):
    """The reconstruction of each top unit, cropped to its receptive field.

    Inputs:
    - images: (N, 3, H, W) uint8, the dataset top_activations saw; top: its Top for `layer`
    - channels: which channels (default all); method: "guided", "deconv" or "saliency"
    Returns: recon[i][j], the signed (3, h, w) gradient of unit (channels[i], y, x) of the
    j-th best image, where (y, x) is where that image's maximum was.
    """
    if method not in RULES:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(RULES)}")
    if mean is None or std is None:
        mean, std = input_stats(model)
    channels = list(range(len(top.index)) if channels is None else channels)
    k = top.index.shape[1]
    # one row per (channel, rank): image n, unit (c, y, x) of `layer`
    jobs = [(c, j) for c in channels for j in range(k)]
    H, W = images.shape[2:]
    recon = {}
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        xb = to_input(images[[top.index[c, j] for c, j in chunk]], mean, std)   # (B, 3, H, W)
        units = [(c, int(top.y[c, j]), int(top.x[c, j])) if _spatial(model, layer) else (c,)
                 for c, j in chunk]
        dx = unit_gradient(model, xb, layer, units, rule=RULES[method])         # (B, 3, H, W)
        for (c, j), g in zip(chunk, dx):
            y0, y1, x0, x1 = receptive_field(model, layer, int(top.y[c, j]), int(top.x[c, j]),
                                             (H, W))
            recon[c, j] = g[:, y0:y1, x0:x1]
    return [[recon[c, j] for j in range(k)] for c in channels]


def _spatial(model, layer):
    return output_size(model, layer) is not None


def recon_block(recons, size, pad=1):
    """Up to 9 signed reconstructions (3, h, w) as a 3x3 mosaic, each rendered grey = 0
    and scaled by its own high percentile of |g| (one unit's gradient is not comparable
    in size with another's)."""
    pictures = [resize_nearest(render_map(g[None], "rgb")[0], size) for g in recons]
    pictures += [np.ones((size, size, 3))] * (9 - len(pictures))
    return tile(np.stack(pictures[:9]), ncols=3, pad=pad)


def plot_layer_view(crops, recons, channels, size, title, ncols=2, inches=3.6):
    """Per channel, side by side: one 3x3 block per reconstruction method, then the 3x3
    block of image crops (each channel's row `inches` wide).

    recons: {label: recon lists from reconstructions()}, e.g. {"guided backprop": ...}
    """
    rows = []
    for i in range(len(channels)):
        blocks = [recon_block(recons[label][i], size) for label in recons]
        blocks.append(patch_block(crops[i], size))
        gap = np.ones((blocks[0].shape[0], max(2, size // 4), 3))
        rows.append(np.concatenate([part for b in blocks for part in (b, gap)][:-1], axis=1))
    rows = np.stack(rows)
    order = " | ".join(list(recons) + ["image crops"])
    return mosaic(rows, labels=[f"channel {c}: {order}" for c in channels], ncols=ncols,
                  title=title, pixel_inches=inches / rows.shape[2])
