# %% [markdown]
# # Lesson 5: deeper layers
#
# *"This allows us to look at layers besides the first one."* The lecture shows the top-9
# crops of layers 3, 4 and 5 of an ImageNet network, each beside a picture of *which pixels
# in the crop* made the neuron fire (Zeiler & Fergus, "Visualizing and Understanding
# Convolutional Networks", ECCV 2014, Fig. 2; Springenberg, Dosovitskiy, Brox & Riedmiller,
# "Striving for Simplicity: The All Convolutional Net", ICLR 2015 workshop, Fig. 4).
#
# reference_net is much smaller (conv1-conv4, then fc1 and fc2), so its "deep" layers are
# conv3 and conv4 (receptive fields of 10 and 14 pixels, lesson 4) and fc1, which sees the
# whole image.
#
# The picture beside each crop is a **reconstruction**: the gradient of that one unit with
# respect to the input image, sent back through the network with the guided-backprop rule
# (or the deconvnet rule) at every ReLU, then cut to the receptive field. Lessons 6-8 explain
# the rules; here it is enough to read the reconstruction as "these pixels of the crop,
# with these colours and edges, drive the unit". Grey is zero.
#
# Needs CIFAR-10 (`--data PATH` or `MINICNN_DATA`).

# %%
import numpy as np

import _common
import minicnn
from minicnn import visualize as vis

args = _common.parse_args("05_deeper_layers")
data = _common.load_data(args)
model = minicnn.models.pretrained("reference_net")
mean, std = vis.input_stats(model)

n_images = 500 if args.quick else 5000
n_channels = 3 if args.quick else 6
x_all, _ = _common.random_test_images(data, n_images)           # (n, 3, 32, 32) uint8
tops = vis.top_activations(model, x_all, ["conv3", "conv4", "fc1"], k=9)
print(f"top-9 of conv3, conv4 and fc1 over {n_images} test images")

# %% [markdown]
# ## Layer views of conv3 and conv4
#
# For the channels whose top-9 respond most strongly: the guided-backprop reconstructions,
# the deconvnet reconstructions, then the crops themselves, as three 3 x 3 blocks per
# channel (best image top left).

# %%
for layer in ["conv3", "conv4"]:
    top = tops[layer]
    channels = sorted(np.argsort(-top.value.mean(axis=1), kind="stable")[:n_channels].tolist())
    crops = vis.crop_top(model, x_all, top, layer, channels)
    recons = {"guided backprop": vis.reconstructions(model, x_all, top, layer, channels, "guided"),
              "deconvnet": vis.reconstructions(model, x_all, top, layer, channels, "deconv")}
    size = vis.receptive_field_size(model, layer)[0]
    fig = vis.plot_layer_view(crops, recons, channels, size,
                              title=f"{layer}: what drives the top-9 units, beside their crops")
    _common.save(fig, args.out / f"layer_view_{layer}.png")

# %% [markdown]
# ## fc1: neurons that see the whole image
#
# A unit of fc1 reads every pixel, so its "crop" is the whole image. Its top-9 images,
# and the guided-backprop reconstruction of the unit for each: the parts of the image that
# unit responds to. Units are chosen as above (the figure calls them channels: a unit of
# a fully connected layer is a channel of size 1 x 1).

# %%
top = tops["fc1"]
units = sorted(np.argsort(-top.value.mean(axis=1), kind="stable")[:n_channels].tolist())
print(f"fc1 units {units}: mean top-9 activation {np.round(top.value[units].mean(axis=1), 1)}")
crops = vis.crop_top(model, x_all, top, "fc1", units)               # whole (3, 32, 32) images
recons = {"guided backprop": vis.reconstructions(model, x_all, top, "fc1", units, "guided")}
fig = vis.plot_layer_view(crops, recons, units, 32,
                          title="fc1: guided backprop of the top-9 images' unit, and the images")
_common.save(fig, args.out / "layer_view_fc1.png")

# %% [markdown]
# ## What to look for
# - The crops grow with depth (10, 14, 32 pixels) and so does what they share: conv3 finds
#   parts and textures, conv4 bigger parts and combinations, fc1 whole scenes with a
#   common layout or object.
# - The reconstructions pick out *the part of the crop* that matters: often an edge or a
#   contour inside the crop rather than all of it; different crops of one channel light up
#   the same kind of structure even when the crops look different (the neuron is invariant
#   to what it ignores).
# - Guided backprop and deconvnet mostly agree here; lesson 8 shows where they differ.
# - A small network on 32 x 32 images has far less to show than the lecture's ImageNet
#   network; channels whose nine crops have nothing in common are common. Try more
#   images (no --quick), or look at lesson 9 for another view of the same neurons.

# %%
_common.done(args)
