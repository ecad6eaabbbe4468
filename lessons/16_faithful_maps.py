# %% [markdown]
# # Lesson 16: which maps are faithful?
#
# Petsiuk, Das & Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box
# Models" (BMVC 2018); Nie, Zhang & Patel, "A Theoretical Explanation for Perplexing
# Behaviors of Backpropagation-based Visualizations" (ICML 2018).
#
# A map can look good and still not show what the network uses (lesson 12's sanity checks).
# Two measures ask the network itself:
#
# - **Deletion**: remove pixels in the map's order, most important first (set them to the
#   mean colour), and follow the class probability. A faithful map makes it fall fast: a
#   small area under the curve.
# - **Insertion**: start from a blurred copy and put the pixels back in the same order. A
#   faithful map makes the probability rise fast: a large area.
#
# And a third, for the backprop maps: does the map change with the class at all?
#
# Needs CIFAR-10 (`--data PATH` or `MINICNN_DATA`).

# %%
import numpy as np
from matplotlib.figure import Figure

import _common
import minicnn
from minicnn import visualize as vis

args = _common.parse_args("16_faithful_maps")
data = _common.load_data(args)
model = minicnn.models.pretrained("reference_net")
mean, std = vis.input_stats(model)
classes = vis.model_classes(model)
count = 4 if args.quick else 10
x, y = _common.examples(model, data, count=count)
steps = 16 if args.quick else 32

# %% [markdown]
# ## The curves of one image
#
# Saliency (the absolute gradient), Integrated Gradients and a random map as a control.

# %%
chosen = {name: vis.MAP_METHODS[name] for name in ("saliency", "integrated_gradients", "random")}
fig = Figure(figsize=(8, 3))
axes = fig.subplots(1, 2)
fractions = np.linspace(0, 1, steps + 1)
for name, (method, reduce) in chosen.items():
    curves = vis.deletion_insertion(model, x[:1], y[:1], method(model, x[:1], y[:1]), reduce,
                                    steps=steps)
    for ax, kind in zip(axes, ("deletion", "insertion")):
        ax.plot(fractions, curves[kind][0],
                label=f"{name} (AUC {curves[kind + '_auc'][0]:.2f})")
for ax, kind in zip(axes, ("deletion", "insertion")):
    ax.set(xlabel=f"fraction of pixels {'deleted' if kind == 'deletion' else 'inserted'}",
           ylabel=f"p({classes[y[0]]})", title=kind, ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
fig.tight_layout()
_common.save(fig, args.out / "curves.png")

# %% [markdown]
# ## Every map method over a set of test images
#
# The mean areas over the images (lower deletion and higher insertion are better). Raw
# gradient maps rank pixels by their absolute value, attributions (gradient x input, IG,
# LRP, Grad-CAM, occlusion) by their signed sum over the colours.

# %%
methods = list(vis.MAP_METHODS)
if args.quick:
    methods = ["saliency", "guided", "input_x_gradient", "integrated_gradients", "lrp_epsilon",
               "lrp_composite", "gradcam", "occlusion", "random"]
result = vis.faithfulness(model, x, y, methods=methods, steps=steps)
rows = sorted(result, key=lambda m: result[m]["insertion_auc"].mean() - result[m]["deletion_auc"].mean(),
              reverse=True)
print(f"{'method':<22}{'deletion AUC':>14}{'insertion AUC':>15}   (mean over {count} images)")
for name in rows:
    d, i = result[name]["deletion_auc"].mean(), result[name]["insertion_auc"].mean()
    print(f"{name:<22}{d:>14.3f}{i:>15.3f}")
fig = Figure(figsize=(5.5, 3.6))
ax = fig.subplots()
for name in rows:
    ax.scatter(result[name]["deletion_auc"].mean(), result[name]["insertion_auc"].mean())
    ax.annotate(name, (result[name]["deletion_auc"].mean(), result[name]["insertion_auc"].mean()),
                fontsize=7, xytext=(3, 3), textcoords="offset points")
ax.set(xlabel="deletion AUC (lower is better)", ylabel="insertion AUC (higher is better)",
       title="faithfulness of the maps on the reference net")
ax.grid(alpha=0.3)
fig.tight_layout()
_common.save(fig, args.out / "faithfulness.png")

# %% [markdown]
# ## Do the maps know the class?
#
# For each image, the maps for several classes, and the mean Spearman correlation between
# them (1: the same map whatever the class).

# %%
some = list(range(4)) if args.quick else list(range(10))
for name in ("guided", "deconv", "saliency", "gradcam"):
    value = vis.class_insensitivity(model, x[:2], name, classes=some)
    print(f"{name:<10} class insensitivity {value.mean():.2f}")

# %% [markdown]
# ## What to look for
# - The random map is the floor. Deleting even random pixels drops the probability fast
#   (the speckled image is unlike any training image), so compare deletion areas with the
#   random map's, not with 0; insertion separates the methods more.
# - Occlusion and the attribution methods (IG, gradient x input, LRP-epsilon) come out on
#   top: they measure, or approximate to first order, what removing a pixel does, which is
#   what deletion tests. LRP-epsilon and gradient x input are the same map (lesson 14).
# - Grad-CAM's 16 x 16 blobs are coarse: poor at deletion (a pixel at a time), better at
#   insertion from a blurred copy, which rewards getting the region right.
# - Class insensitivity: guided backprop's maps for different classes are nearly the same
#   map (Nie et al.: it reconstructs the image), Grad-CAM's are not. On this small net the
#   deconvnet's depend on the class more than guided backprop's do: compare lesson 7.

# %%
_common.done(args)
