# %% [markdown]
# # Lesson 4: top-9 patches and receptive fields
#
# Weights are pictures only in the first layer. Another way to find out what a neuron
# does, for any layer: *"just try lots of images in a dataset, and see which ones activate
# the neuron the most"*. For each channel of a layer, find the 9 images that excite it most
# and crop out the patch the neuron actually sees (Zeiler & Fergus, "Visualizing and
# Understanding Convolutional Networks", ECCV 2014).
#
# Which patch is that? *"Each neuron is affected by some small patch in the layer below;
# we can recursively figure out what patch in the input layer each neuron is affected by."*
# That patch is the neuron's **receptive field**. We compute it first, then the top-9.
#
# Needs CIFAR-10 (`--data PATH` or `MINICNN_DATA`, see lessons/README.md).

# %%
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import _common
import minicnn
from minicnn import visualize as vis

args = _common.parse_args("04_top9_and_receptive_fields")
data = _common.load_data(args)
model = minicnn.models.pretrained("reference_net")
mean, std = vis.input_stats(model)

# %% [markdown]
# ## The receptive field, layer by layer
#
# Walk up from the image. Keep two numbers: r, the size of the receptive field in input
# pixels, and j, the *jump*: how many input pixels apart two neighbouring units of the
# current layer are. The image itself has r = 1, j = 1. A layer with kernel K and stride S
# (convolution or pooling) sees K neighbouring units of the layer below, which are j apart:
#
#     r  <-  r + (K - 1) * j          j  <-  j * S
#
# A ReLU changes neither. A fully connected layer sees every pixel.

# %%
r, j = 1, 1
print(f"{'layer':<8}{'K':>3}{'S':>3}{'jump':>6}{'field':>7}   minicnn's receptive_field_size")
for name in model.names:
    layer = model[name]
    if isinstance(layer, (minicnn.nn.Conv2d, minicnn.nn.MaxPool2d)):
        K = int(np.atleast_1d(layer.kernel_size)[0])
        S = int(np.atleast_1d(layer.stride)[0])
        r, j = r + (K - 1) * j, j * S
        print(f"{name:<8}{K:>3}{S:>3}{j:>6}{r:>7}   {vis.receptive_field_size(model, name)}")
    elif isinstance(layer, (minicnn.nn.Flatten, minicnn.nn.Linear)):
        print(f"{name:<8}{'':>12}{'all':>7}   {vis.receptive_field_size(model, name)} "
              f"(every pixel)")
        break

# %% [markdown]
# The exact region of one unit also depends on where it is: near the border part of the
# field hangs over the zero padding, which hides no pixels. `vis.receptive_field(model,
# layer, y, x)` walks down from unit (y, x) with the kernels, strides and paddings and
# returns the region as slice bounds (y0, y1, x0, x1). Below: one unit near the centre of
# each layer, drawn on a test image. *"Neurons in the top layers are affected by (almost)
# the entire image."*

# %%
image = vis.to_rgb(vis.to_input(data.test_x[:1], mean, std), mean, std)[0]   # (32, 32, 3)
fig = Figure(figsize=(5.2, 3.6))
ax = fig.subplots()
ax.imshow(image)
colours = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
for name, colour in zip(["conv1", "conv2", "pool1", "conv3", "conv4", "pool2"], colours):
    OH, OW = vis.output_size(model, name)                         # e.g. (16, 16) for conv3
    y0, y1, x0, x1 = vis.receptive_field(model, name, OH // 2, OW // 2)
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=2,
                           edgecolor=colour, label=f"{name} ({OH}x{OW}): {y1 - y0}x{x1 - x0}"))
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
ax.set_title("the pixels one unit near the centre can see", fontsize=9)
ax.set_axis_off()
fig.tight_layout()
_common.save(fig, args.out / "receptive_fields.png")

# %% [markdown]
# ## The top-9 images of every channel
#
# One pass over a random sample of test images, keeping, for every channel of conv1 to
# conv4, the 9 images whose *largest* activation in that channel is highest, and where that
# maximum was (`vis.top_activations`). Each image counts once per channel. `vis.crop_top`
# then cuts out the receptive field of the winning unit.

# %%
n_images = 500 if args.quick else 10_000             # 10,000: the whole test split
x_all, _ = _common.random_test_images(data, n_images)          # (n, 3, 32, 32) uint8
layers = ["conv1", "conv2", "conv3", "conv4"]
tops = vis.top_activations(model, x_all, layers, k=9)           # {layer: Top}, Top fields (C, 9)
print(f"scanned {n_images} test images; conv4 channel 0's best activations: "
      f"{np.round(tops['conv4'].value[0], 2)}")

for layer in ["conv1", "conv2", "conv4"]:
    top = tops[layer]
    channels = list(range(min(32, len(top.index))))
    crops = vis.crop_top(model, x_all, top, layer, channels)   # crops[i][j]: (3, h, w) uint8
    size = vis.receptive_field_size(model, layer)[0]
    fig = vis.plot_top_patches(crops, channels, size * -(-8 // size),   # enlarged to >= 8 pixels
                               title=f"{layer}: the top-9 {size}x{size} patches of channels 0-31 "
                                     f"(of {n_images} images)")
    _common.save(fig, args.out / f"top9_{layer}.png")

# %% [markdown]
# ## Where the patches come from
#
# The 9 best images of one conv4 channel, whole, with the winning unit's receptive field
# drawn on each: the crop is the part inside the box. We take the channel whose top-9
# respond most strongly.

# %%
top = tops["conv4"]
c = int(np.argmax(top.value.mean(axis=1)))
fig = Figure(figsize=(7.5, 1.2))
axes = fig.subplots(1, 9)
for ax, n, y, x, value in zip(axes, top.index[c], top.y[c], top.x[c], top.value[c]):
    y0, y1, x0, x1 = vis.receptive_field(model, "conv4", int(y), int(x))
    ax.imshow(x_all[n].transpose(1, 2, 0))                      # (32, 32, 3) uint8
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=1.5,
                           edgecolor="yellow"))
    ax.set_title(f"{value:.1f}", fontsize=7)
    ax.set_axis_off()
fig.suptitle(f"conv4 channel {c}: its 9 best images and the field of the winning unit "
             f"(activation above each)", fontsize=8)
_common.save(fig, args.out / f"top9_conv4_channel{c}_whole.png")

# %% [markdown]
# ## What to look for
# - conv1 (3x3 pixels): a colour, or a light-dark edge in one direction. Compare with the
#   filter pictures of lesson 2: even where a picture of the weights is hard to read, the
#   patches that excite the filter most are often plain to see (a pure red, a dark-to-light
#   edge): the statistics of real images decide which of its patterns the filter meets.
# - conv2 (5x5): small corners, bars, colour edges. conv4 (14x14): a channel's nine crops
#   share something bigger: a texture (fur, grass, water), a part (an eye, a wheel), a
#   particular shape or colour combination.
# - Some channels' crops are all alike, others mix very different patches: the neuron
#   may respond to several things, or the sample was too small to find its favourites
#   (try the lesson without --quick, or more images).
# - The crop shows *where* the neuron looked, not *what* in the crop made it fire.
#   Lesson 5 answers that with guided backpropagation.

# %%
_common.done(args)

# %% [markdown]
# ## Your turn
#
# Your turn: `minicnn exercise start receptive_field` writes
# `minicnn-exercises/receptive_field.py`, a skeleton with the math and hints: the recursion r
# <- r + (K - 1) j, j <- j S, and one unit's region clipped at every layer; the checker then
# crops conv4's top-9 patches with your function. Check it with `minicnn exercise check
# receptive_field`.
