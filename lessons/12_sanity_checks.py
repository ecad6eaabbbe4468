# %% [markdown]
# # Lesson 12: sanity checks for saliency maps
#
# Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim, "Sanity Checks for Saliency Maps"
# (NeurIPS 2018).
#
# Every map in lessons 6-11 claims to explain what the *trained* network does. Then it must
# depend on what the network learned. The **cascading randomisation test**: re-draw the
# weights of the top layer at random (as at initialisation), then of the top two layers, and
# so on down to the first, recomputing the map each time. A method that explains the network
# must produce different maps once the network has forgotten its training. A method whose
# map stays the same is showing something else: the image.
#
# Adebayo et al. found that the gradient (saliency) and Grad-CAM pass, while guided
# backprop keeps producing nearly the same picture, close to what a plain edge detector
# gives. We repeat the test on reference_net.
#
# Needs CIFAR-10 (`--data PATH` or `MINICNN_DATA`).

# %%
import numpy as np

import _common
import minicnn
from minicnn import visualize as vis

args = _common.parse_args("12_sanity_checks")
data = _common.load_data(args)
model = minicnn.models.pretrained("reference_net")
mean, std = vis.input_stats(model)
classes = vis.model_classes(model)
x, y = _common.examples(model, data, count=2 if args.quick else 4)   # (n, 3, 32, 32), (n,)
rgb = vis.to_rgb(x, mean, std)
names = [classes[k] for k in y]

# %% [markdown]
# ## One step by hand
#
# `vis.cascading_randomization(model)` yields copies of the network, each with one more
# layer re-initialised from the top (He-normal weights, zero biases); the model itself is
# never touched. The first copy has a random fc2: the network now outputs nonsense, so an
# explanation of "why this class" should change completely. Does the accuracy agree?

# %%
n_test = 200 if args.quick else 1000
x_test, y_test = _common.random_test_images(data, n_test)
x_test = vis.to_input(x_test, mean, std)
for name, net in [("trained", model)] + list(vis.cascading_randomization(model))[:2]:
    with minicnn.no_grad():
        accuracy = (net(minicnn.Tensor(x_test)).data.argmax(axis=1) == y_test).mean()
    g = np.abs(vis.saliency(net, x[:1], y[:1])).max(axis=1)[0]          # (32, 32)
    g_trained = np.abs(vis.saliency(model, x[:1], y[:1])).max(axis=1)[0]
    label = "trained network" if name == "trained" else f"random from the top to {name}"
    print(f"{label:<27} accuracy on {n_test} test images {accuracy:.0%}, saliency map's "
          f"Spearman with the trained one {vis.spearman(g, g_trained):.2f}")

# %% [markdown]
# ## The whole cascade, for four methods
#
# `vis.sanity_check` runs the cascade for saliency, guided backprop, the deconvnet and
# Grad-CAM. Every map is rendered the way Adebayo et al. compare them (max over colours of
# |g|; Grad-CAM upsampled) and compared with the trained network's map by Spearman rank
# correlation, averaged over the images.

# %%
steps, maps, similarity = vis.sanity_check(model, x, y)
print("layers randomised:", " -> ".join(steps))
for method, values in similarity.items():
    print(f"{method:<9} {np.round(values, 2)}")
fig = vis.plot_sanity_maps(rgb, steps, maps)
_common.save(fig, args.out / "cascade_maps.png")
fig = vis.plot_similarity(steps, similarity)
_common.save(fig, args.out / "cascade_similarity.png")

# %% [markdown]
# ## Compared with an edge detector
#
# Adebayo et al. also put each map beside the output of a plain edge detector, which knows
# nothing about any network. Here the edge strength is the size of the image's spatial
# gradient, summed over colours. A high correlation with it, for the trained network *and*
# for the fully randomised one, means the method mostly shows the image's edges.

# %%
dy, dx = np.gradient(x, axis=(2, 3))
edges = np.sqrt(dy ** 2 + dx ** 2).sum(axis=1)                     # (n, 32, 32)
print(f"{'method':<10}{'trained net vs edges':>22}{'random net vs edges':>22}")
for method in maps:
    trained = np.mean([vis.spearman(maps[method][0, n], edges[n]) for n in range(len(x))])
    random = np.mean([vis.spearman(maps[method][-1, n], edges[n]) for n in range(len(x))])
    print(f"{method:<10}{trained:>22.2f}{random:>22.2f}")
panels = [[rgb[n], edges[n] / edges[n].max()] + [
    np.clip(maps[m][0, n] / max(np.percentile(maps[m][0, n], 99.5), 1e-30), 0, 1) for m in maps]
    for n in range(len(x))]
fig = vis.panel_grid(panels, row_titles=names,
                     col_titles=["image", "edge detector"] + [f"{m} (trained)" for m in maps],
                     title="the maps of the trained network beside a plain edge detector")
_common.save(fig, args.out / "edges.png")

# %% [markdown]
# ## What to look for
# - Saliency and Grad-CAM: the correlation with the trained map falls as soon as the top
#   layer is random, and the maps turn into something else. They depend on the weights, as
#   an explanation of the network must.
# - Guided backprop: the maps of a network randomised far down still look like the
#   trained ones; only when the first layers are random too does the picture change. Of
#   the four methods its maps are also the closest to the edge detector's. Its sharpness
#   comes largely from the image and the ReLU rule, not from what the network learned: a
#   beautiful picture is not evidence that a method explains anything.
# - The deconvnet sits in between on this small network (lesson 8 showed why: its
#   backward pass sees the image only through two max-pool layers).
# - Adebayo et al.'s second test, the *data* randomisation test, trains the same network on
#   randomly permuted labels and compares maps; with lesson 13 you could try it:
#   shuffle `train_y` before training and run this lesson on the result.

# %%
_common.done(args)
