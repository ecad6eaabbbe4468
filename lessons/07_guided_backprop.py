# %% [markdown]
# # Lesson 7: guided backpropagation
#
# Springenberg, Dosovitskiy, Brox & Riedmiller, "Striving for Simplicity: The All
# Convolutional Net" (ICLR 2015 workshop).
#
# The lecture's idea: *"neurons act like detectors of particular image features. We are only
# interested in what image features the neuron detects, not in what kind of stuff it doesn't
# detect. So when propagating the gradient, we set all the negative gradients to 0: we don't
# care if a pixel suppresses a neuron somewhere along the path to our neuron."*
#
# Backprop changes at one place only, the ReLU. With x the ReLU's input from the forward pass
# and dout the gradient arriving from above:
#
#     normal backprop:  dx = dout * (x > 0)                 pass where the unit was on
#     guided backprop:  dx = max(dout, 0) * (x > 0)         ... and only positive signal
#
# Convolutions, linear layers and max-pooling keep their ordinary backward. So at every
# ReLU: *compute the gradient, zero out the negatives, backpropagate*, layer after layer.
# In minicnn the rule is a switch: `with minicnn.backward_rule("guided"): out.backward(dout)`.
#
# Needs CIFAR-10 (`--data PATH` or `MINICNN_DATA`).

# %%
import numpy as np

import _common
import minicnn
from minicnn import visualize as vis

args = _common.parse_args("07_guided_backprop")
data = _common.load_data(args)
model = minicnn.models.pretrained("reference_net")
mean, std = vis.input_stats(model)
classes = vis.model_classes(model)
x, y = _common.examples(model, data, count=4)          # (4, 3, 32, 32), (4,)
rgb = vis.to_rgb(x, mean, std)
names = [classes[k] for k in y]

# %% [markdown]
# ## Watching the negatives disappear
#
# One forward pass, kept layer by layer, then a backward pass from the class logit under
# each rule. The gradient arriving at each ReLU's input (the outputs of conv1-conv4 and fc1)
# is what that ReLU passed down. Under the guided rule none of it is negative; under the
# normal rule a large share of it is. (Below each ReLU, the next convolution mixes signs
# again, and the next ReLU removes the negatives again.)

# %%
pre_relu = ["conv1", "conv2", "conv3", "conv4", "fc1"]
negative = {}
for rule in ("normal", "guided"):
    acts = model.activations(minicnn.Tensor(x, requires_grad=True), pre_relu + ["fc2"])
    dout = np.zeros_like(acts["fc2"].data)
    dout[np.arange(len(y)), y] = 1                       # d logit_y
    with minicnn.backward_rule(rule):
        acts["fc2"].backward(dout)
    # of the entries that carry any signal (not 0), the share that is negative
    negative[rule] = [(acts[name].grad < 0).sum() / max((acts[name].grad != 0).sum(), 1)
                      for name in pre_relu]
print(f"{'gradient at':<13}{'normal rule':>13}{'guided rule':>13}   (negative share of non-zero)")
for name, a, b in zip(pre_relu, negative["normal"], negative["guided"]):
    print(f"{name + ' output':<13}{a:>13.0%}{b:>13.0%}")

# %% [markdown]
# ## Guided backprop beside the plain gradient
#
# The same class logit, the same images, both drawn as signed colour pictures (grey = 0)
# and as heat maps.

# %%
saliency = vis.saliency(model, x, y)                     # (4, 3, 32, 32)
guided = vis.guided_backprop(model, x, y)                # (4, 3, 32, 32)
panels = [[rgb[n], vis.render_map(saliency, "rgb")[n], vis.render_map(guided, "rgb")[n],
           vis.render_map(guided, "absmax")[n], vis.render_map(guided, "positive")[n]]
          for n in range(len(x))]
fig = vis.panel_grid(panels, row_titles=names, col_titles=[
    "image", "gradient", "guided backprop", "guided, max |g|", "guided, positive part"],
    title="d logit(true class) / d image: normal and guided rules")
_common.save(fig, args.out / "guided_vs_gradient.png")

# %% [markdown]
# ## Guided backprop of hidden neurons
#
# The lecture applies it to single neurons of higher layers. For the first image: the four
# conv4 channels that respond most strongly to it, each explained from the unit where it
# peaks. Different neurons pick out different parts of the same image.

# %%
acts = model.activations(minicnn.Tensor(x[:1]), ["conv4"])
a = acts["conv4"].data[0]                                 # (64, 16, 16)
peaks = a.reshape(len(a), -1).max(axis=1)                 # (64,)
channels = np.argsort(-peaks, kind="stable")[:4]
units = [(int(c),) + tuple(int(v) for v in np.unravel_index(np.argmax(a[c]), a[c].shape))
         for c in channels]                               # (channel, y, x) of each peak
maps = np.concatenate([vis.guided_backprop(model, x[:1], ("conv4",) + u) for u in units])
fig = vis.image_grid(np.concatenate([rgb[:1], vis.render_map(maps, "rgb")]), ncols=5,
                     titles=[names[0]] + [f"conv4 ch {c} at ({r}, {q})" for c, r, q in units],
                     panel_size=1.5, title="guided backprop of four conv4 neurons, one image")
_common.save(fig, args.out / "hidden_neurons.png")

# %% [markdown]
# ## A warning: how much does it depend on the class?
#
# Explain the same images for a *different* class, the one the network ranks second, and
# compare with the map for the true class (Spearman rank correlation of the max |g| maps;
# 1 = same ranking of pixels). A map that barely changes when the question changes is
# showing the image more than the class. Nie, Zhang & Patel, "A Theoretical Explanation for
# Perplexing Behaviors of Backpropagation-based Visualizations" (ICML 2018) show that guided
# backprop largely reconstructs the image; lesson 12 tests this more severely.

# %%
with minicnn.no_grad():
    logits = model(minicnn.Tensor(x)).data               # (4, 10)
second = np.argsort(-logits, axis=1)[:, 1]               # (4,) the runner-up class
for name, method in (("gradient", vis.saliency), ("guided backprop", vis.guided_backprop)):
    true_map = np.abs(method(model, x, y)).max(axis=1)
    other_map = np.abs(method(model, x, second)).max(axis=1)
    rho = [vis.spearman(true_map[n], other_map[n]) for n in range(len(x))]
    print(f"{name:<16} true class vs runner-up: Spearman {np.round(rho, 2)}")
other = vis.guided_backprop(model, x, second)
panels = [[rgb[n], vis.render_map(guided, "rgb")[n], vis.render_map(other, "rgb")[n]]
          for n in range(len(x))]
fig = vis.panel_grid(panels, row_titles=[f"{names[n]}\n(runner-up: {classes[second[n]]})"
                                         for n in range(len(x))],
                     col_titles=["image", "guided: true class", "guided: runner-up"],
                     title="guided backprop for two different classes")
_common.save(fig, args.out / "class_sensitivity.png")

# %% [markdown]
# ## What to look for
# - Guided backprop is far cleaner than the gradient: sharp edges and textures of the
#   object, little background, the colours of the object's own contours.
# - It is cleaner *because* it throws information away: every "this pixel would lower the
#   score" signal is dropped at every ReLU, so only evidence the neurons detect survives.
# - Hidden neurons (conv4) light up compact parts: the lecture's point that guided backprop
#   shows what a neuron detects.
# - The maps for the true class and the runner-up are nearly the same picture (high
#   Spearman), while the plain gradient changes more. Guided backprop is a sharp picture
#   of *what the network looked at*, not of *why it chose the class*.

# %%
_common.done(args)

# %% [markdown]
# ## Your turn
#
# Your turn: `minicnn exercise start guided_unit` writes `minicnn-exercises/guided_unit.py`, a
# skeleton with the math and hints: the whole walk back from one hidden unit, with the guided
# rule at every ReLU; the checker then draws the guided backprop of four conv4 neurons with
# your function, as above. Check it with `minicnn exercise check guided_unit`.
