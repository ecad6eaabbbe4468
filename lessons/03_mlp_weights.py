# %% [markdown]
# # Lesson 3: the weights of a fully connected network are images
#
# The lecture's second example of "visualise the weights": a network with one fully connected
# hidden layer, trained on faces, whose hidden units look like ghostly faces. Here the same
# for CIFAR-10 with minicnn's shipped `mlp`:
#
#     x (3, 32, 32) -> flatten (3072) -> fc1 (256 units) -> ReLU -> fc2 (10 logits)
#
# Hidden unit k computes h_k = relu(w_k . x + b_k), with one weight per pixel and colour:
# 3,072 weights, which reshape (in the order Flatten used: channel, row, column) into a
# 32 x 32 RGB image. Why is that image what the unit looks for? By the Cauchy-Schwarz
# inequality, among all images of one size |x| the dot product w_k . x is largest for
# x = |x| w_k / |w_k|: **the unit's favourite input is its own weight picture**. (A first-layer
# conv filter is the same idea on a 3 x 3 patch, lesson 2.)

# %%
import numpy as np

import _common
import minicnn
from minicnn import visualize as vis

args = _common.parse_args("03_mlp_weights")
mlp = minicnn.models.pretrained("mlp")
classes = vis.model_classes(mlp)
print(mlp.fc1, mlp.fc2)
print(f"shipped mlp: test accuracy {mlp.meta['test_accuracy']:.1%}, "
      f"trained by: {mlp.meta['command']}")

# %% [markdown]
# ## The hidden units as pictures
#
# Each picture is one unit's weight row, reshaped to (3, 32, 32) and drawn with grey = 0,
# scaled by its own largest |weight|. The 64 with the largest weights first.

# %%
w1 = vis.hidden_unit_weights(mlp)                    # (256, 3, 32, 32) fc1's rows as images
norms = np.sqrt((w1 ** 2).sum(axis=(1, 2, 3)))       # (256,)
order = np.argsort(-norms, kind="stable")
fig = vis.plot_filters(vis.weights_to_rgb(w1[order[:64]], "per_filter"),
                       titles=[str(k) for k in order[:64]], inches=0.95,
                       title="mlp: the 64 strongest hidden units' weights (grey = 0)")
_common.save(fig, args.out / "hidden_units.png")

# %% [markdown]
# ## The weight picture is also the gradient
#
# For a linear unit the derivative with respect to the input is the weight itself,
# d(w_k . x + b_k)/dx = w_k, whatever x is. minicnn's gradient machinery (the subject of
# lesson 6) agrees: the gradient of unit ("fc1", k) at a random image is exactly w_k.
# For deeper units the gradient is no longer the same everywhere; that is why later lessons
# need gradients where this lesson only needs weights.

# %%
k = int(order[0])
x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
dx = vis.gradient(mlp, x, ("fc1", k))                 # (1, 3, 32, 32)
print(f"unit {k}: largest |gradient - weight picture| = {np.abs(dx[0] - w1[k]).max():.1e}")

# %% [markdown]
# ## Which hidden units vote for which class
#
# fc2 reads the 256 hidden units: logit_c = sum_k W2[c, k] h_k + b2[c]. For each class, the
# four units with the largest positive vote W2[c, k]. Then the class's *linear template*:
# forget the ReLU and multiply the two layers out, T_c = sum_k W2[c, k] w_k, a single image
# per class. That is what the network would be without its hidden nonlinearity: a linear
# classifier, scoring an image by its dot product with T_c (CS231n's "templates").

# %%
w2 = mlp.fc2.weight.data                              # (10, 256)
voters = np.argsort(-w2, axis=1, kind="stable")[:, :4]   # (10, 4) strongest positive votes
pictures = vis.weights_to_rgb(w1[voters.ravel()], "per_filter")
labels = [f"{classes[c]}: {k}" for c in range(len(classes)) for k in voters[c]]
fig = vis.plot_filters(pictures, titles=labels, ncols=8, inches=0.95,
                       title="for each class, the 4 hidden units with the largest fc2 weight")
_common.save(fig, args.out / "class_voters.png")

templates = np.einsum("ck,kdhw->cdhw", w2, w1)                # (10, 3, 32, 32)
fig = vis.image_grid(vis.weights_to_rgb(templates, "per_filter"), titles=list(classes), ncols=5,
                     panel_size=1.4, title="linear templates T_c = sum_k W2[c, k] w_k "
                                           "(the mlp without its ReLU)")
_common.save(fig, args.out / "class_templates.png")

# %% [markdown]
# ## Against the starting point
#
# As in lesson 2: `minicnn train` seeds its initialisation, so we can rebuild the exact
# weights training started from. Random weights are noise; whatever structure the pictures
# above show was learned.

# %%
minicnn.manual_seed(mlp.meta.get("config", {}).get("seed", 0))
w1_start = vis.hidden_unit_weights(minicnn.models.mlp())      # (256, 3, 32, 32)
moved = np.sqrt(((w1 - w1_start) ** 2).sum() / (w1_start ** 2).sum())
print(f"training moved fc1's weights by {moved:.0%} of their initial size")
fig = vis.plot_filters(vis.weights_to_rgb(w1_start[order[:16]], "per_filter"),
                       titles=[str(k) for k in order[:16]], inches=0.95,
                       title="the same 16 units before training")
_common.save(fig, args.out / "hidden_units_start.png")

# %% [markdown]
# ## What to look for
# - Coarse layouts and colours rather than objects: horizontal bands (horizons, car bodies,
#   hulls on water), a centred blob on a contrasting surround (an object in the middle of
#   the frame), vertical bars (the legs of horses and deer), green for frogs. One layer of
#   256 units cannot afford a template per pose and position, and CIFAR-10's objects appear
#   anywhere, so the units settle for layouts.
# - The units that vote for a class usually make sense for it; several classes share units
#   (a unit can vote for "cat" and "dog" alike), and the class is decided by the mix.
# - The speckle is weights that the data hardly constrained; the stronger the weight decay
#   (`--weight-decay` in `minicnn train`), the smoother the pictures.
# - A linear classifier has exactly one template per class (CS231n's famous two-headed
#   horse); the product T_c is noisier here, because the ReLU lets each class combine
#   several units and the plain product ignores which ones are on.
# - Compare with lesson 2: a conv filter is the same kind of picture, but 3 x 3 and used at
#   every position. That sharing is what lets a ConvNet find a pattern anywhere.

# %%
_common.done(args)

# %% [markdown]
# ## Your turn
#
# Your turn: `minicnn exercise start linear` writes `minicnn-exercises/linear.py`, a skeleton
# with the math and hints: the fully connected layer's forward and its three gradients; the
# checker then runs the shipped mlp with your layer, classifying test images and drawing their
# saliency. Check it with `minicnn exercise check linear`.
