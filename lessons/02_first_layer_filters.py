# %% [markdown]
# # Lesson 2: first-layer filters are pictures
#
# Lesson 1 showed that a conv1 unit responds most to a patch that looks like its weights. So
# for the first layer we can simply *draw* the weights, one small RGB picture per filter.
# Trained on ImageNet with 11 x 11 filters (Krizhevsky, Sutskever & Hinton, "ImageNet
# Classification with Deep Convolutional Neural Networks", NeurIPS 2012), they become
# oriented edges, stripes and colour blobs: the lecture's **"Gabor-like filters"** (a Gabor
# is a sine wave under a Gaussian window, the model of simple cells in the visual cortex).
#
# Weights are signed and pixels are not, so a picture of weights maps 0 to grey:
#
#     pixel = 0.5 + 0.5 * w / scale        (per colour channel, clipped to [0, 1])
#
# A reddish pixel is a positive weight on the red input, a teal one (grey with the red
# taken out) a negative weight on red; a white or black pixel weighs all three colours the
# same way. **The colour is there because the input is 3-D**: each filter has one 3 x 3
# weight grid per colour channel.
#
# reference_net's filters are only 3 x 3 pixels, too small for stripes; look for the
# simplest Gabor-like shapes instead: one side light and the other dark (an edge), a
# colour against its opponent (red-green, blue-yellow), a centre against its surround.
# At the end we compare the 5 x 5 filters of the second shipped net, residual_net.

# %%
import numpy as np
from matplotlib.figure import Figure

import _common
import minicnn
from minicnn import visualize as vis

args = _common.parse_args("02_first_layer_filters")
model = minicnn.models.pretrained("reference_net")
w = vis.conv_filters(model)                                   # (F, 3, 3, 3) conv1's weights
norms = np.sqrt((w ** 2).sum(axis=(1, 2, 3)))                 # (F,) strength of each filter
order = np.argsort(-norms, kind="stable")                     # strongest first
print(f"conv1 weights {w.shape}; filter norms from {norms.min():.2f} to {norms.max():.2f}")

# %% [markdown]
# ## All 32 filters, two ways of scaling
#
# *Per filter*: each filter is divided by its own largest |weight|, so every pattern is
# visible but strengths cannot be compared. *Shared*: one scale for all, so a weak filter
# looks nearly grey, which is also information (the network hardly uses it).

# %%
for normalize in ("per_filter", "shared"):
    fig = vis.plot_filters(vis.weights_to_rgb(w[order], normalize), titles=[str(f) for f in order],
                           title=f"conv1 filters, strongest first ({normalize.replace('_', ' ')} "
                                 f"scale, grey = 0)")
    _common.save(fig, args.out / f"filters_{normalize}.png")

# %% [markdown]
# ## The colour is the three channels
#
# The same filters taken apart: the red, green and blue weight grids of the 8 strongest, each
# drawn red for positive and blue for negative. A filter whose three grids look alike reacts
# to brightness, whatever the colour: an edge or blob detector. A filter whose grids have
# opposite signs reacts to one colour against another.
#
# We can measure this. Split each filter into its mean over channels, repeated in every
# channel (the grey, *luminance* part), and the rest (the *colour* part). The two are
# orthogonal, so their energies add up to |w|^2:
#
#     w = lum + col,   lum[c] = mean_c' w[c'],   |w|^2 = |lum|^2 + |col|^2

# %%
lum = w.mean(axis=1, keepdims=True).repeat(3, axis=1)        # (F, 3, 3, 3) the grey part
luminance_share = (lum ** 2).sum(axis=(1, 2, 3)) / norms ** 2  # (F,) in [0, 1]

strongest = order[:8]
fig = Figure(figsize=(5.6, 1.35 * len(strongest) + 0.4))
axes = fig.subplots(len(strongest), 4, squeeze=False)
for row, f in enumerate(strongest):
    limit = np.abs(w[f]).max()
    axes[row, 0].imshow(vis.weights_to_rgb(w[f:f + 1])[0])
    axes[row, 0].set_ylabel(f"filter {f}\n{luminance_share[f]:.0%} grey", fontsize=8)
    for c, name in enumerate(("red", "green", "blue")):
        axes[row, c + 1].imshow(w[f, c], cmap="RdBu_r", vmin=-limit, vmax=limit)
        if row == 0:
            axes[row, c + 1].set_title(f"{name} weights", fontsize=9)
    for ax in axes[row]:
        ax.set_xticks([])
        ax.set_yticks([])
axes[0, 0].set_title("as RGB", fontsize=9)
fig.suptitle("the 8 strongest conv1 filters, channel by channel", fontsize=10)
fig.tight_layout()
_common.save(fig, args.out / "channels.png")

# %% [markdown]
# ## Trained against where training started
#
# Are these patterns learned? `minicnn train` seeds its random initialisation (He-normal:
# independent N(0, 2 / fan_in) weights), so we can rebuild the exact filters the shipped
# network started from and see how far training moved them. For random filters the grey
# part holds about 1/3 of the energy (one direction out of three equal ones).

# %%
seed = model.meta.get("config", {}).get("seed", 0)
minicnn.manual_seed(seed)                                     # as `minicnn train` does
w_start = vis.conv_filters(minicnn.models.reference_net())    # (32, 3, 3, 3) before training
moved = np.sqrt(((w - w_start) ** 2).sum()) / np.sqrt((w_start ** 2).sum())
start_share = (w_start.mean(axis=1) ** 2).sum(axis=(1, 2)) * 3 / (w_start ** 2).sum(axis=(1, 2, 3))
print(f"training moved conv1's weights by {moved:.0%} of their initial size "
      f"(|w - w_start| / |w_start|)")
print(f"share of energy in the grey part: trained {luminance_share.mean():.0%}, "
      f"at the start {start_share.mean():.0%} (mean over filters)")

fig = vis.plot_filters(vis.weights_to_rgb(np.concatenate([w_start[order[:16]], w[order[:16]]]),
                                          "shared"),
                       titles=[f"{f} start" for f in order[:16]]
                       + [f"{f} trained" for f in order[:16]],
                       title="the 16 strongest filters before training (top two rows) and after "
                             "(bottom two rows), one shared scale")
_common.save(fig, args.out / "before_after.png")

# %% [markdown]
# ## 5 x 5 filters: room for the lecture's edges
#
# The second shipped net, `residual_net` (lesson 18), starts with 32 filters of 5 x 5. A
# 5 x 5 grid can hold an oriented edge or a stripe, a centre and its surround: the
# Gabor-like shapes of the lecture. Its training started conv1 from *whitening* of image
# patches (`init_whitening` in minicnn/train.py, as airbench does): the filters began as
# the patches' principal directions, scaled to unit variance, and were trained from there.
# We measure how oriented each filter is: the share of its energy (per colour, after
# removing the mean) along its strongest direction of change.

# %%
w5 = vis.conv_filters(minicnn.models.pretrained("residual_net"))   # (32, 3, 5, 5)
order5 = np.argsort(-np.sqrt((w5 ** 2).sum(axis=(1, 2, 3))), kind="stable")
fig = vis.plot_filters(vis.weights_to_rgb(w5[order5], "per_filter"),
                       titles=[str(f) for f in order5],
                       title="residual_net's conv1: 32 filters of 5x5, strongest first")
_common.save(fig, args.out / "filters_5x5.png")


def orientedness(w):
    """Per filter: the largest share of its spatial-gradient energy along one direction
    (1 = a pure edge or stripe, 0.5 = no preferred direction), from the 2x2 structure
    tensor of its mean-over-colours grid."""
    g = w.mean(axis=1)                                             # (F, k, k)
    gy, gx = np.gradient(g, axis=(1, 2))
    J = np.array([[(gx * gx).sum((1, 2)), (gx * gy).sum((1, 2))],
                  [(gx * gy).sum((1, 2)), (gy * gy).sum((1, 2))]])  # (2, 2, F)
    eig = np.linalg.eigvalsh(J.transpose(2, 0, 1))                 # (F, 2) ascending
    return eig[:, 1] / np.maximum(eig.sum(axis=1), 1e-30)


for label, filters in (("reference_net, 3x3", w), ("residual_net, 5x5", w5)):
    o = orientedness(filters)
    print(f"{label}: median orientedness {np.median(o):.2f}, "
          f"{(o > 0.8).mean():.0%} of the filters above 0.8")

# %% [markdown]
# ## What to look for
# - The 5 x 5 filters of residual_net: colour blobs (green, magenta, blue, orange), centres
#   against their surround, and a few colour edges with a direction (one colour above,
#   its opponent below). They are still grainy: they started from whitening, which gives
#   high-frequency patterns, and 20 epochs did not smooth them. By the measure above they
#   are *not* more oriented than the 3 x 3 ones; Krizhevsky et al.'s clean Gabors come
#   from 11 x 11 filters trained for 90 epochs on ImageNet.
# - Well-trained first-layer filters are *smooth and structured*: neighbouring weights
#   agree, or change sign in one direction (an edge). Random filters are salt and pepper.
#   If the trained filters still look much like their starting point, the network was
#   trained only briefly, or its first layer hardly needed to change (compare lesson 13,
#   where you train one yourself).
# - Some filters become nearly grey (luminance edges), others colour opposition. In big
#   networks the first layer famously splits this way (Krizhevsky et al. 2012 found the
#   halves of their network on two GPUs specialising, one in grey edges, one in colour).
# - Only the first layer can be looked at like this: conv2's filters read 32 feature maps,
#   not colours, so a picture of them means nothing. Deeper layers need the techniques of
#   the next lessons: top-9 patches (lesson 4) and gradients (lessons 6-8).

# %%
_common.done(args)

# %% [markdown]
# ## Your turn
#
# Your turn: `minicnn exercise start conv_im2col` writes `minicnn-exercises/conv_im2col.py`, a
# skeleton with the math and hints: im2col, col2im and a convolution built on one matrix
# multiply; the checker then runs all four conv layers of the shipped net with your functions
# and draws saliency and guided-backprop maps through them. Check it with `minicnn exercise
# check conv_im2col`.
