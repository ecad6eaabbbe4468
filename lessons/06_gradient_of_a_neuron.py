# %% [markdown]
# # Lesson 6: the gradient of a neuron with respect to the image
#
# *"Which pixels in the input affect the neuron the most? Rephrased: which pixels would make
# the neuron not turn on if they had been different? In other words, for which inputs is
# d neuron / d x_i large?"*
#
# Do a forward pass, then backpropagate from the one neuron we care about: start the
# backward pass with dout = 1 at that neuron and 0 everywhere else. What arrives at the
# input is d neuron / dx, one number per pixel and colour, the same shape as the image.
# For a class score this is the **saliency map** of Simonyan, Vedaldi & Zisserman, "Deep
# Inside Convolutional Networks: Visualising Image Classification Models and Saliency Maps"
# (ICLR 2014 workshop). The lecture's verdict: *"mostly zero away from the object, but the
# results are not very satisfying"*. This lesson computes it and takes apart why it is noisy.
#
# Needs CIFAR-10 (`--data PATH` or `MINICNN_DATA`).

# %%
import numpy as np
from matplotlib.figure import Figure

import _common
import minicnn
from minicnn import visualize as vis

args = _common.parse_args("06_gradient_of_a_neuron")
data = _common.load_data(args)
model = minicnn.models.pretrained("reference_net")
mean, std = vis.input_stats(model)
classes = vis.model_classes(model)
x, y = _common.examples(model, data, count=4)          # (4, 3, 32, 32) normalised, (4,)
rgb = vis.to_rgb(x, mean, std)                          # (4, 32, 32, 3) for display
names = [classes[k] for k in y]
print("images:", ", ".join(names))

# %% [markdown]
# ## The gradient by hand: one forward, one backward
#
# The neuron here is the logit of the true class (the lecture uses the softmax output; the
# logit avoids the softmax's saturation, and `objective="probability"` gives the other).
# `vis.saliency` does exactly these lines.

# %%
xt = minicnn.Tensor(x, requires_grad=True)             # (4, 3, 32, 32)
logits = model(xt)                                      # (4, 10)
dout = np.zeros_like(logits.data)
dout[np.arange(len(y)), y] = 1                          # backprop the true class's logit alone
logits.backward(dout)
g = xt.grad                                             # (4, 3, 32, 32) d logit_y / dx
print(f"by hand vs vis.saliency: largest difference "
      f"{np.abs(g - vis.saliency(model, x, y)).max():.1e}")

# %% [markdown]
# ## What the gradient promises
#
# The gradient is the best *linear* description of the score near x:
# score(x + e) ~ score(x) + g . e. Step a little along g (e = eps g / |g|) and the score
# should rise by about eps |g|. Checking this is a good habit whenever you look at a
# gradient map: the map is a statement about tiny changes only.

# %%
scores = logits.data[np.arange(len(y)), y]
size = np.sqrt((g ** 2).sum(axis=(1, 2, 3)))           # (4,) |g| per image
for eps in (0.01, 0.1, 1.0):
    step = eps * g / size[:, None, None, None]
    with minicnn.no_grad():
        moved = model(minicnn.Tensor(x + step)).data[np.arange(len(y)), y]
    print(f"eps {eps:>4}: score rose by {np.round(moved - scores, 3)}, "
          f"the gradient predicted {np.round(eps * size, 3)}")

# %% [markdown]
# ## The maps
#
# Two usual renderings: the largest |g| over the three colours at each pixel (Simonyan et
# al.'s heat map), and the signed gradient as a colour picture with grey = 0.

# %%
absmax = vis.render_map(g, "absmax")                    # (4, 32, 32) in [0, 1]
signed = vis.render_map(g, "rgb")                       # (4, 32, 32, 3), grey = 0
panels = [[rgb[n], absmax[n], signed[n]] for n in range(len(x))]
fig = vis.panel_grid(panels, col_titles=["image", "max |g| over colours", "g as RGB (grey = 0)"],
                     row_titles=names, title="d logit(true class) / d image")
_common.save(fig, args.out / "saliency.png")

# %% [markdown]
# ## Why is it so noisy?
#
# *"Every pixel influences the neuron via multiple hidden neurons."* We can see this
# directly. The class logit is computed from fc1's 256 units: logit_c = sum_k W2[c, k] h_k + b.
# By the chain rule the gradient is a sum over them,
#
#     d logit_c / dx = sum_k W2[c, k] * relu'(z_k) * d z_k / dx
#
# (z_k is unit k before its ReLU; relu' is 1 for the units that are on, 0 otherwise). Each
# term is the gradient *through one hidden unit*. We compute every term, check that they
# add up to the saliency map, and then ask at every pixel: do the terms agree, or cancel?
#
#     agreement = | sum_k term_k | / sum_k | term_k |      (1: all push the same way, 0: cancel)

# %%
n = 0                                                   # the first image
acts = model.activations(minicnn.Tensor(x[n:n + 1]), ["fc1"])
active = np.nonzero(acts["fc1"].data[0] > 0)[0]        # the units that are on
xb = np.repeat(x[n:n + 1], len(active), axis=0)         # one copy of the image per unit
dz = vis.unit_gradient(model, xb, "fc1", [(int(k),) for k in active])   # (K, 3, 32, 32)
terms = model.fc2.weight.data[y[n], active][:, None, None, None] * dz   # (K, 3, 32, 32)
print(f"{names[n]}: {len(active)} of 256 fc1 units are on; sum of the terms vs saliency: "
      f"largest difference {np.abs(terms.sum(axis=0) - g[n]).max():.1e}")

total = np.abs(terms).sum(axis=0)                       # (3, 32, 32) if nothing cancelled
agreement = np.abs(terms.sum(axis=0)) / np.maximum(total, 1e-12)
print(f"median agreement over pixels and colours: {np.median(agreement):.2f}")

# a typical important pixel: of the quarter with the largest total, the one of median agreement
important = np.nonzero(total.ravel() >= np.percentile(total, 75))[0]
typical = important[np.argsort(agreement.ravel()[important])[len(important) // 2]]
i = tuple(int(v) for v in np.unravel_index(typical, total.shape))     # (colour, row, col)
fig = Figure(figsize=(11, 2.6))
axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1, 1, 1, 1.6]})
axes[0].imshow(rgb[n])
axes[0].set_title(names[n], fontsize=9)
axes[1].imshow(vis.render_map(total[None], "absmax")[0], cmap="inferno")
axes[1].set_title("sum_k |term_k|\n(if nothing cancelled)", fontsize=9)
axes[2].imshow(agreement.mean(axis=0), cmap="viridis", vmin=0, vmax=1)
axes[2].set_title("agreement\n(mean over colours)", fontsize=9)
for ax in axes[:3]:
    ax.set_xticks([])
    ax.set_yticks([])
contributions = np.sort(terms[(slice(None),) + i])      # (K,) every unit's term at one pixel
axes[3].bar(range(len(contributions)), contributions,
            color=np.where(contributions > 0, "tab:red", "tab:blue"))
axes[3].set_title(f"the {len(active)} terms at pixel {i[1:]}, {'RGB'[i[0]]}: sum "
                  f"{contributions.sum():.4f}, sum of |terms| {np.abs(contributions).sum():.4f}",
                  fontsize=9)
axes[3].set_xlabel("fc1 unit (sorted)", fontsize=8)
fig.tight_layout()
_common.save(fig, args.out / "why_noisy.png")

# %% [markdown]
# The lecture's kitten example says the same: the network detects kittens everywhere, and
# a pixel that fits a kitten in one place does not fit one in another, so the pixel's
# total effect on the kitten neuron comes out near zero, with a sign that flips from pixel
# to pixel. Balduzzi et al. ("The Shattered Gradients Problem", ICML 2017) showed that in
# deep ReLU networks the gradient with respect to the input indeed looks more and more like
# white noise as depth grows.
#
# ## One remedy: average the noise away (SmoothGrad)
#
# Smilkov, Thorat, Kim, Viegas & Wattenberg, "SmoothGrad: removing noise by adding noise"
# (2017): the mean of the gradient over n copies of the image with Gaussian noise added,
#
#     smooth(x) = (1/n) sum_i g(x + eps_i),   eps_i ~ N(0, sigma^2), sigma = 15% of x's range
#
# Noise that flips sign from copy to copy averages out; what the copies agree on stays.
# A simple number for "noisy": the correlation between horizontally neighbouring pixels,
# near 1 for photographs and near 0 for white noise.

# %%
n_copies = 8 if args.quick else 25
smooth = vis.smoothgrad(model, x, y, n=n_copies, noise=0.15)      # (4, 3, 32, 32)


def neighbour_correlation(a):
    """Correlation of every value with its right-hand neighbour, over all images."""
    return np.corrcoef(a[..., :-1].ravel(), a[..., 1:].ravel())[0, 1]


print(f"neighbour correlation: images {neighbour_correlation(x):.2f}, "
      f"saliency {neighbour_correlation(g):.2f}, SmoothGrad {neighbour_correlation(smooth):.2f}")
panels = [[rgb[k], absmax[k], vis.render_map(smooth, "absmax")[k], signed[k],
           vis.render_map(smooth, "rgb")[k]] for k in range(len(x))]
fig = vis.panel_grid(panels, row_titles=names, col_titles=[
    "image", "saliency", f"SmoothGrad (n={n_copies})", "saliency, signed", "SmoothGrad, signed"],
    title="the gradient and its average over noisy copies")
_common.save(fig, args.out / "smoothgrad.png")

# %% [markdown]
# ## What to look for
# - The saliency maps are brighter on and around the object than on the background, but
#   grainy: neighbouring pixels often have gradients of opposite sign.
# - In the bar chart (a typical pixel among the important ones), positive and negative
#   terms largely cancel: the pixel matters to many hidden units, in opposite directions.
#   The agreement map is low almost everywhere, and its pattern is as grainy as the map.
# - SmoothGrad is visibly smoother and its neighbour correlation higher. It is still a
#   gradient: it answers "which pixels would change the score", not "what did the network
#   see". The next lesson changes the question instead: guided backpropagation.

# %%
_common.done(args)

# %% [markdown]
# ## Your turn
#
# Your turn: `minicnn exercise start saliency` writes `minicnn-exercises/saliency.py`, a
# skeleton with the math and hints: the forward and backward pass of this lesson by hand for a
# one-hidden-layer net; the checker then draws the shipped mlp's saliency maps with your
# function. Check it with `minicnn exercise check saliency`.
