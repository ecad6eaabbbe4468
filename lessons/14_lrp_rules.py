# %% [markdown]
# # Lesson 14: LRP, more backward rules
#
# Bach et al., "On Pixel-Wise Explanations for Non-Linear Classifier Decisions by Layer-Wise
# Relevance Propagation" (PLOS ONE 2015); Montavon et al., "Layer-wise relevance
# propagation: an overview" (2019).
#
# Lesson 8 changed one thing on the way back: how a ReLU passes the signal. LRP changes the
# rule of *every* op. What comes down is **relevance** R: it starts as the class logit, and
# each layer shares what reaches it among its inputs, in proportion to their contributions
# z_ij = x_i w_ij to z_j = sum_i z_ij + b_j:
#
#     R_i = sum_j z_ij / z_j * R_j  =  x_i * [w.T @ (R / z)]_i  =  x * backward(R / z)
#
# So each rule is the op's *ordinary* backward, applied to R / z, times the input
# (`lrp_affine` in minicnn/ops/linear.py, `conv2d_lrp` in ops/conv.py, `max_pool2d_lrp` in
# ops/pool.py, `relu_backward_lrp` in ops/relu.py: a ReLU passes relevance unchanged). The
# rules differ in the weights and the stabiliser:
#
#     epsilon      z_j + eps sign(z_j) in the denominator (noise from tiny z_j is damped)
#     gamma        w + gamma w+ in the numerator and in z (favours positive evidence)
#     alpha1beta0  only the positive contributions (x_i w_ij)+ (the z+ rule)
#     zbox         for pixels, which are known to lie in [0, 1]
#
# Needs CIFAR-10 (`--data PATH` or `MINICNN_DATA`).

# %%
import numpy as np

import _common
import minicnn
from minicnn import visualize as vis
from minicnn.ops.linear import linear_lrp

args = _common.parse_args("14_lrp_rules")
data = _common.load_data(args)
model = minicnn.models.pretrained("reference_net")
mean, std = vis.input_stats(model)
classes = vis.model_classes(model)
x, y = _common.examples(model, data, count=2 if args.quick else 4)
rgb = vis.to_rgb(x, mean, std)
names = [classes[k] for k in y]

# %% [markdown]
# ## One linear unit, by hand
#
# The toy of innvestigate issue #273: w = (1, -1), b = -1, inputs (1, 1). z = 1 - 1 - 1 = -1,
# so R = -1 is shared. The epsilon rule gives each input x_i w_i / z * R = x_i w_i: (1, -1),
# and the bias keeps the rest. alpha1beta0 keeps only the positive contribution x_1 w_1 = 1:
# input 1 gets 1/1 * R = -1, input 2 nothing. (Clamping only the weights, as some libraries
# do, leaves z = 1 + 0 - 1 = 0 and divides by eps: -1e9.)

# %%
w, b, toy_x = np.array([[1.0, -1.0]]), np.array([-1.0]), np.array([[1.0, 1.0]])
R = toy_x @ w.T + b                                       # (1, 1): relevance = the logit
for rule in ("epsilon", "gamma", "alpha1beta0", "alpha2beta1"):
    print(f"{rule:<12} {linear_lrp(toy_x, w, b, R, rule, epsilon=1e-12).ravel()}")

# %% [markdown]
# ## The epsilon rule is the backward pass with one change
#
# On fc2 of the reference net: R_in = x * (R / z) @ w, the same `dout @ w` that
# linear_backward computes, just fed R / z instead of a gradient.

# %%
acts = model.activations(minicnn.Tensor(x), ["relu5", "fc2"])
a, z = acts["relu5"].data, acts["fc2"].data               # (N, 256), (N, 10)
R_top = np.zeros_like(z)
R_top[np.arange(len(y)), y] = z[np.arange(len(y)), y]     # relevance starts as the logit
by_hand = a * ((R_top / (z + 1e-9 * np.where(z >= 0, 1, -1))) @ model.fc2.weight.data)
ours = linear_lrp(a, model.fc2.weight.data, model.fc2.bias.data, R_top, "epsilon")
print(f"fc2 epsilon rule by hand vs linear_lrp: largest difference {np.abs(by_hand - ours).max():.1e}")
print(f"relevance kept by fc2's inputs: {ours.sum(axis=1).round(2)} of the logits "
      f"{R_top.sum(axis=1).round(2)} (the bias keeps the rest)")

# %% [markdown]
# ## LRP-epsilon at eps -> 0 is gradient x input
#
# On a ReLU net: at the top R / z = 1, so the first layer down gives x * w, the gradient
# times the input; below, R_j / z_j = g_j relu(z_j) / z_j = g_j [z_j > 0], the gradient
# again. Larger eps damps the relevance of units with small z.

# %%
gx = vis.input_x_gradient(model, x, y)
for eps in (1e-9, 1e-2, 1.0):
    r = vis.lrp(model, x, y, epsilon=eps)
    print(f"eps={eps:<6g} largest |LRP - gradient x input| = {np.abs(r - gx).max():.2e} "
          f"(largest |gradient x input| {np.abs(gx).max():.2e})")

# %% [markdown]
# ## The rules on images
#
# Red: relevance for the class, blue: against. The composite is Montavon et al.'s advice
# for a VGG-like net: zbox at the pixels, gamma in the convolutions, epsilon at the top.

# %%
composite = {"conv1": "zbox", "conv2": "gamma", "conv3": "gamma", "conv4": "gamma",
             "fc1": "epsilon", "fc2": "epsilon"}
maps = {"gradient x input": gx,
        "LRP eps=0.25": vis.lrp(model, x, y, epsilon=0.25),
        "LRP gamma": vis.lrp(model, x, y, rule="gamma"),
        "LRP alpha1beta0": vis.lrp(model, x, y, rule="alpha1beta0"),
        "LRP composite": vis.lrp(model, x, y, rules=composite, epsilon=1e-6)}
panels = []
for n in range(len(x)):
    row = [rgb[n]]
    for m in maps.values():
        r = m[n].sum(axis=0)                              # (H, W) relevance per pixel
        row.append(vis.signed_panel(r / max(np.abs(r).max(), 1e-12)))
    panels.append(row)
fig = vis.panel_grid(panels, row_titles=names, col_titles=["image"] + list(maps),
                     title="relevance of every pixel for the true class")
_common.save(fig, args.out / "rules.png")
for name, m in maps.items():
    kept = m.sum(axis=(1, 2, 3)) / z[np.arange(len(y)), y]
    print(f"{name:<17} sum of relevance / logit: {kept.round(2)}")

# %% [markdown]
# ## What to look for
# - The toy's alpha1beta0 answer is (-1, 0): the only input that pushed the unit up gets
#   all of it.
# - LRP-epsilon with a tiny eps *is* gradient x input (the difference is rounding); it is as
#   noisy as the gradient. A larger eps, gamma and the composite give smoother maps that
#   sit on the object.
# - alpha1beta0 is (nearly) all red: it only passes positive relevance down.
# - gamma at *every* layer, the first included, puts everything on a few pixels: the pixels
#   are signed (normalised), so z = sum x (w + gamma w+) can nearly cancel and the division
#   blows up. That is why the composite uses zbox at the pixels.
# - The sums: biases and eps absorb part of the relevance, so it is not exactly conserved;
#   without biases and with eps -> 0 it would be (tests/test_visualize_lrp.py).

# %%
_common.done(args)
