# %% [markdown]
# # Lesson 10: occlusion, or asking the network without gradients
#
# Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (ECCV 2014),
# section 4.2. Is the network really looking at the object, or at the background? Cover
# part of the image with a grey square and watch the probability of the class. Slide the
# square over the whole image and record the probability at every position:
#
#     map[i, j] = p(class | image with the square's top-left corner at (i * stride, j * stride))
#
# Where the probability collapses, the network needed what the square hid. No backward
# pass is involved, only forward passes, so this measures the effect of a *large* change
# of the input, where the gradient (lesson 6) describes an infinitesimal one. The price:
# one forward pass per position (less, below, by recomputing only what changes).
#
# Needs CIFAR-10 (`--data PATH` or `MINICNN_DATA`).

# %%
import time

import numpy as np

import _common
import minicnn
from minicnn import visualize as vis

args = _common.parse_args("10_occlusion")
data = _common.load_data(args)
model = minicnn.models.pretrained("reference_net")
mean, std = vis.input_stats(model)
classes = vis.model_classes(model)
x, y = _common.examples(model, data, count=2 if args.quick else 4)   # (n, 3, 32, 32), (n,)
rgb = vis.to_rgb(x, mean, std)
names = [classes[k] for k in y]
size, stride = 8, (4 if args.quick else 2)               # the square, its step in pixels


def probability(x, k):
    """p(class k) for each image of x: the softmax of the logits."""
    return vis.probabilities(model, x)[:, k]                        # (N,)


# %% [markdown]
# ## One occluded image, by hand
#
# The square is painted grey: pixel value 0.5 in every channel, which after the network's
# normalisation is (0.5 - mean) / std. We cover the centre of the first image.

# %%
grey = ((0.5 - mean) / std)[:, None, None]                          # (3, 1, 1) normalised grey
covered = x[:1].copy()
covered[:, :, 12:12 + size, 12:12 + size] = grey
prob, base = vis.occlusion(model, x[:1], y[:1], size=size, stride=stride, fill="grey")
print(f"{names[0]}: p = {probability(x[:1], y[0])[0]:.3f} as it is, "
      f"{probability(covered, y[0])[0]:.3f} with the centre covered "
      f"(vis.occlusion says {prob[0, 12 // stride, 12 // stride]:.3f})")

# %% [markdown]
# ## The maps
#
# Each value is drawn at the centre of its square, over a faded grey copy of the image.
# Dark: the class disappears when that part is hidden.

# %%
prob, base = vis.occlusion(model, x, y, size=size, stride=stride, fill="grey")   # (n, OH, OW), (n,)
print(f"{len(x)} images x {prob.shape[1] * prob.shape[2]} positions = "
      f"{prob.size} occluded copies")
fig = vis.plot_occlusion(rgb, prob, base, names, size, stride)
_common.save(fig, args.out / "occlusion.png")

# %% [markdown]
# ## Not paying for every forward pass in full
#
# Each occluded copy differs from the image only under the square, and every output of a
# convolution or a max-pool reads only its own small window of the layer below. So in the
# first layers most of a copy's activations are exactly the original's: what changes is a
# region around the square that grows, layer by layer, by each layer's receptive field
# (lesson 3). Here is how much of each layer the centred square above really changes:

# %%
with minicnn.no_grad():
    clean = model.activations(minicnn.Tensor(x[:1]))
    hidden = model.activations(minicnn.Tensor(covered))
for name in ("conv1", "conv2", "pool1", "conv3", "conv4", "pool2"):
    changed = (clean[name].data != hidden[name].data).any(axis=1)[0]  # (H, W) positions
    rows, cols = np.nonzero(changed)
    print(f"{name:<6} {changed.shape[0]:>2}x{changed.shape[1]:<2}: {changed.mean():4.0%} of "
          f"positions changed, all inside rows {rows.min()}-{rows.max()}, "
          f"columns {cols.min()}-{cols.max()}")

# %% [markdown]
# vis.occlusion uses this (Nakandala et al., "Incremental and Approximate Inference for
# Faster Occlusion-based Deep CNN Explanations", SIGMOD 2019): through the convolutions,
# ReLUs and max-pools it recomputes only each copy's changed window, cut out of the
# original's activations (minicnn/visualize/incremental.py), and all copies go through
# the network as one batch. The map is the same as from whole copies, up to float
# rounding:

# %%
maps = {}
for incremental in (False, True):
    start = time.perf_counter()
    maps[incremental], _ = vis.occlusion(model, x[:1], y[:1], size=size, stride=stride,
                                         incremental=incremental)
    print(f"incremental={incremental!s:<5}: {time.perf_counter() - start:.2f} s")
print(f"largest difference between the two maps: {np.abs(maps[True] - maps[False]).max():.1e}")

# %% [markdown]
# ## The size of the square
#
# A small square rarely hides a whole part, so the probability hardly moves; a big one
# hides a lot at once and the map gets coarse. The first image with three sizes.

# %%
sizes = (4, 8, 12)
panels = [rgb[0]]
for s in sizes:
    p, b = vis.occlusion(model, x[:1], y[:1], size=s, stride=stride)
    drop = b[0] - p[0]                                                # (OH, OW) how much p fell
    print(f"square {s:>2}x{s:<2}: largest drop of p({names[0]}) {drop.max():.2f}, "
          f"mean drop {drop.mean():.2f}")
    panels.append((drop, {"cmap": "magma", "vmin": 0, "vmax": max(b[0], 1e-6)}))
fig = vis.panel_grid([panels], col_titles=[names[0]] + [f"drop, {s}x{s} square" for s in sizes],
                     title="how much p falls, for three sizes of the square (bright = big drop)")
_common.save(fig, args.out / "square_sizes.png")

# %% [markdown]
# ## Occlusion against the gradient
#
# Do the gradient and occlusion agree about which regions matter? To compare like with
# like, sum the saliency |g| (lesson 6) over each square's pixels, and rank-correlate
# (Spearman) that with the drop in probability at the same position.

# %%
g = np.abs(vis.saliency(model, x, y)).max(axis=1)                     # (n, 32, 32)
OH, OW = prob.shape[1:]
for n in range(len(x)):
    pooled = np.array([[g[n, i * stride:i * stride + size, j * stride:j * stride + size].sum()
                        for j in range(OW)] for i in range(OH)])      # (OH, OW)
    rho = vis.spearman(pooled, base[n] - prob[n])
    print(f"{names[n]:<11} Spearman(saliency in the square, drop in p) = {rho:.2f}")

# %% [markdown]
# ## What to look for
# - For a confidently classified image the map is bright nearly everywhere and dark on a
#   few regions: those are the parts the decision rests on. Usually they are on the
#   object; when they are on the background (water under a ship, sky around a plane),
#   the network has learned the context as much as the object.
# - The probability can also *rise* when something is covered: that part was evidence
#   for another class.
# - Gradient and occlusion agree only partly (a modest Spearman): the gradient describes
#   tiny changes of single pixels, occlusion the removal of whole regions.

# %%
_common.done(args)

# %% [markdown]
# ## Your turn
#
# Your turn: `minicnn exercise start occlusion` writes `minicnn-exercises/occlusion.py`, a
# skeleton with the math and hints: the sliding square and the probability map; the checker
# then draws the shipped net's occlusion maps of test images with your function. Check it with
# `minicnn exercise check occlusion`.
