# %% [markdown]
# # Lesson 1: what a neuron in the first layer computes
#
# *"A neuron in the first hidden layer computes a weighted sum of pixels in a patch of the
# image for which it is responsible."* (CSC321, Understanding How ConvNets See)
#
# The idea is older than backprop: K. Fukushima, "Neocognitron: A self-organizing neural
# network model for a mechanism of pattern recognition unaffected by shift in position"
# (Biological Cybernetics, 1980). Many units share one set of weights, each looking at its own
# small patch, so the same feature is found wherever it is in the image.
#
# In minicnn's reference_net the first layer, conv1, has F = 32 filters of shape (3, 3, 3):
# three colour channels, 3 x 3 pixels, and padding 1. Unit (f, i, j) computes
#
#     out[f, i, j] = b[f] + sum_{c, u, v} w[f, c, u, v] * xp[c, i + u, j + v]
#
# where xp is the image x with one row and column of zeros around it. That is all a
# convolution is. In this lesson we compute it by hand with NumPy and check that the
# network computes exactly the same numbers.
#
# Run: `python lessons/01_first_layer_neuron.py` (figures go to lessons/out/01_first_layer_neuron/).

# %%
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import _common
import minicnn
from minicnn import visualize as vis

args = _common.parse_args("01_first_layer_neuron")
model = minicnn.models.pretrained("reference_net")
mean, std = vis.input_stats(model)                 # (3,), (3,): the training set's statistics
classes = vis.model_classes(model)
print(model.conv1, "weight", model.conv1.weight.shape, "bias", model.conv1.bias.shape)

# %% [markdown]
# ## One image
#
# A CIFAR-10 test image if the data is at hand; otherwise a made-up image with an edge and a
# red disc (the arithmetic below is the same on any image). The network does not read pixels
# in [0, 255]: it reads x = (pixel / 255 - mean) / std per channel, so 0 means "the average
# colour of the training set".

# %%
data = _common.load_data(args, required=False)
if data is not None:
    x, y = _common.examples(model, data, count=1)
    x, title = x[0], classes[y[0]]                  # (3, 32, 32) normalised
else:
    rows, cols = np.mgrid[0:32, 0:32]
    pixels = np.where(rows > cols, 0.8, 0.2)[None].repeat(3, axis=0)      # a diagonal edge
    disc = (rows - 10) ** 2 + (cols - 22) ** 2 < 30
    pixels[:, disc] = np.array([0.9, 0.1, 0.1])[:, None]                 # a red disc
    x = vis.to_input((pixels * 255).astype(np.uint8)[None], mean, std)[0]
    title = "made-up image"
print(f"image: {title}, x {x.shape}, values from {x.min():.2f} to {x.max():.2f}")

# %% [markdown]
# ## One unit, by hand
#
# Take the filter with the largest weights, f, and the unit of that filter that fires most on
# this image, at (i, j). Its patch is rows i-1..i+1 and columns j-1..j+1 of the image (rows
# i..i+2 of the padded image). The unit multiplies the patch by its weights, element by
# element, and adds up the 27 products and the bias.

# %%
w = model.conv1.weight.data                        # (F, C, KH, KW) = (32, 3, 3, 3)
b = model.conv1.bias.data                          # (32,)
acts = model.activations(minicnn.Tensor(x[None]), ["conv1", "relu1"])
conv1 = acts["conv1"].data[0]                      # (32, 32, 32) the network's own output

f = int(np.argmax((w ** 2).sum(axis=(1, 2, 3))))   # the strongest filter
i, j = np.unravel_index(np.argmax(conv1[f]), conv1[f].shape)   # where it fires most
xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))           # (3, 34, 34): zero padding 1
patch = xp[:, i:i + 3, j:j + 3]                    # (3, 3, 3): what unit (f, i, j) sees
by_hand = (w[f] * patch).sum() + b[f]
print(f"unit (f={f}, i={i}, j={j}): by hand {by_hand:.6f}, minicnn {conv1[f, i, j]:.6f}")

# %% [markdown]
# ## Every unit of the filter, by hand
#
# Sliding the same weights over every position gives the filter's *feature map*, one number
# per position. `sliding_window_view` gives every 3x3 patch at once, and one `einsum` does
# the 32 x 32 weighted sums; with all 32 filters at once, that is the whole layer.

# %%
patches = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))   # (3, 32, 32, 3, 3)
map_by_hand = np.einsum("chwuv,cuv->hw", patches, w[f]) + b[f]                # (32, 32)
layer_by_hand = np.einsum("chwuv,fcuv->fhw", patches, w) + b[:, None, None]   # (32, 32, 32)
print(f"filter {f}: largest difference to minicnn {np.abs(map_by_hand - conv1[f]).max():.2e}")
print(f"all 32 filters: largest difference {np.abs(layer_by_hand - conv1).max():.2e} "
      f"(float32 rounding)")
assert np.allclose(layer_by_hand, conv1, atol=1e-4)

# %% [markdown]
# ## Why the weights are a picture of what the neuron likes
#
# The weighted sum is a dot product, w . patch = |w| |patch| cos(theta). Among all patches
# of the same size |patch|, the one that excites the unit most is the one pointing the
# same way as w: **the neuron is activated most when its input looks like its weights**
# (this is why the next lesson can simply *look* at the filters). The bias b sets a threshold,
# and the ReLU after conv1 keeps only the positions where the match beats it.
#
# Below: the patches of this image with the highest response, beside the filter drawn as a
# picture (grey = weight 0, see lesson 2), with their response and their cosine with w.

# %%
flat = patches.transpose(1, 2, 0, 3, 4).reshape(32 * 32, 27)                  # one row per patch
cosine = flat @ w[f].ravel() / (np.linalg.norm(flat, axis=1) * np.linalg.norm(w[f]) + 1e-12)
best = np.argsort(-map_by_hand.ravel(), kind="stable")[:6]                    # flat positions
print("the six strongest positions (i, j), response, cos(patch, w):")
for p in best:
    print(f"  {divmod(int(p), 32)}  {map_by_hand.ravel()[p]:7.3f}  {cosine[p]:5.2f}")
print(f"fraction of positions where relu1 is on for filter {f}: "
      f"{(acts['relu1'].data[0, f] > 0).mean():.0%}")

# %%
rgb = vis.to_rgb(x, mean, std)                       # (32, 32, 3) in [0, 1], for our eyes
fig = Figure(figsize=(12, 2.9))
axes = fig.subplots(1, 6)
axes[0].imshow(rgb)
axes[0].add_patch(Rectangle((j - 1.5, i - 1.5), 3, 3, fill=False, edgecolor="yellow", lw=1.5))
axes[0].set_title(f"{title}\nunit ({i}, {j})'s patch")
axes[1].imshow(vis.to_rgb(patch, mean, std))
axes[1].set_title("the patch (3x3 pixels)")
axes[2].imshow(vis.weights_to_rgb(w[f:f + 1])[0])
axes[2].set_title(f"filter {f}\n(grey = 0)")
limit = np.abs(conv1[f]).max()
for ax, m, name in ((axes[3], map_by_hand, "by hand (NumPy)"),
                    (axes[4], conv1[f], "minicnn conv1")):
    ax.imshow(m, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(f"feature map {f}\n{name}")
axes[5].imshow(np.maximum(conv1[f], 0), cmap="inferno")
axes[5].set_title("after the ReLU")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
_common.save(fig, args.out / "one_neuron.png")

# %%
corners = [divmod(int(p), 32) for p in best]                       # (i, j) of each best unit
top = [vis.to_rgb(xp[:, r:r + 3, c:c + 3], mean, std) for r, c in corners]
labels = [f"filter {f}"] + [f"out {map_by_hand.ravel()[p]:.2f}\ncos {cosine[p]:.2f}" for p in best]
fig = vis.image_grid(np.stack([vis.weights_to_rgb(w[f:f + 1])[0]] + top), titles=labels, ncols=7,
                     panel_size=1.2, title="the filter and the six patches of this image it "
                                           "responds to most")
_common.save(fig, args.out / "best_patches.png")

# %% [markdown]
# ## What to look for
# - The two feature maps are the same picture: the network does nothing more than the
#   two lines of NumPy above.
# - Red (positive) regions of the feature map are where the patch resembles the filter,
#   blue where it resembles its negative. After the ReLU only the red survives.
# - Look at the border of the feature map: the zero padding is "the average colour", so
#   units at the edge see an artificial edge between the image and the padding.
# - The best patches point the same way as the filter (a positive cosine), and they have
#   contrast: the response grows with |patch| too. A unit answers "how much of my pattern
#   is here", not "how exactly does this look like my pattern".
#
# Next: lesson 2 looks at all 32 filters at once.

# %%
_common.done(args)

# %% [markdown]
# ## Your turn
#
# Your turn: `minicnn exercise start conv_naive` writes `minicnn-exercises/conv_naive.py`, a
# skeleton with the math and hints: `conv_forward` and `conv_backward` as loops, stride and
# padding included, and once every property passes the checker computes conv1's 32 feature
# maps of a test image with your code. Check it with `minicnn exercise check conv_naive`.
