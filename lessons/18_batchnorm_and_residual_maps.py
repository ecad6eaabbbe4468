# %% [markdown]
# # Lesson 18: what BatchNorm and residual connections change in the maps
#
# Every lesson so far explained `reference_net`, a 2014-style net: convolutions, ReLUs,
# max-pools. The nets students meet next add three things (Ioffe & Szegedy, "Batch
# Normalization", ICML 2015; He et al., "Deep Residual Learning for Image Recognition",
# CVPR 2016; Zhou et al., "Learning Deep Features for Discriminative Localization",
# CVPR 2016):
#
#     BatchNorm      out = weight * (x - mean) / sqrt(var + eps) + bias, per channel
#     residual add   out = relu(F(x) + x): a block learns a change to its input
#     global pool    one average per channel, then one linear layer (so CAM applies)
#
# `residual_net`, the second shipped model, has all three and a 5x5 first layer. Here we ask
# what they change for the methods of lessons 6-14: do the maps still work, and do they
# still pass the sanity checks?
#
# Needs CIFAR-10 (`--data PATH` or `MINICNN_DATA`).

# %%
import numpy as np

import _common
import minicnn
from minicnn import nn
from minicnn import visualize as vis
from minicnn.tensor import frozen
from minicnn.visualize.cam import cam

args = _common.parse_args("18_batchnorm_and_residual_maps")
data = _common.load_data(args)
nets = {name: minicnn.models.pretrained(name) for name in ("reference_net", "residual_net")}
for name, net in nets.items():
    size = sum(p.size for p in net.parameters())
    print(f"{name:<14} {size:>9,} parameters, test accuracy {net.meta['test_accuracy']:.2%}")
model = nets["residual_net"]
mean, std = vis.input_stats(model)
classes = vis.model_classes(model)
x, y = _common.examples(model, data, count=2 if args.quick else 4)   # (n, 3, 32, 32), (n,)
rgb = vis.to_rgb(x, mean, std)
names = [classes[k] for k in y]

# %% [markdown]
# ## In eval mode, BatchNorm is one multiply and one add per channel
#
# During training BatchNorm uses each batch's own mean and variance; every explanation runs
# the net in eval mode (`nn.evaluating()`, which every visualization uses), where it uses the
# running statistics instead. Then it is a fixed affine map, `scale * x + shift`, and folds
# into the convolution before it: multiply filter f by scale[f] and fix the bias. That is
# how LRP treats it (Montavon et al. 2019), and why gradients pass through it as through
# a 1x1 convolution.

# %%
bn, conv = model.bn1, model.conv1
scale = bn.weight.data / np.sqrt(bn.running_var.data + bn.eps)       # (32,)
shift = bn.bias.data - bn.running_mean.data * scale
folded = nn.Conv2d(3, 32, 5, padding=2)
folded.weight.data = (conv.weight.data * scale[:, None, None, None]).astype(np.float32)
folded.bias.data = shift.astype(np.float32)
with minicnn.no_grad(), nn.evaluating():
    two_steps = bn(conv(minicnn.Tensor(x))).data
    one_step = folded(minicnn.Tensor(x)).data
print(f"bn1(conv1(x)) against one folded conv: largest difference "
      f"{np.abs(two_steps - one_step).max():.1e} (of values up to {np.abs(two_steps).max():.1f})")
print(f"bn1's scales run from {scale.min():.2f} to {scale.max():.2f}: BatchNorm re-weights "
      f"the channels, which a gradient map sees as larger or smaller filters")

# %% [markdown]
# ## The first layer: 5x5 filters have room for edges
#
# A 3x3 filter can hold a light-dark step but hardly an oriented stripe; the lecture's
# Gabor-like first-layer filters need more pixels. Compare lesson 2.

# %%
for name, net in nets.items():
    w = vis.conv_filters(net)                                        # (F, 3, k, k)
    order = np.argsort(-np.sqrt((w ** 2).sum(axis=(1, 2, 3))), kind="stable")
    fig = vis.plot_filters(vis.weights_to_rgb(w[order], "per_filter"),
                           title=f"{name}: conv1's {len(w)} filters, {w.shape[2]}x{w.shape[3]}, "
                                 f"strongest first")
    _common.save(fig, args.out / f"filters_{name}.png")

# %% [markdown]
# ## The same images, explained by both nets
#
# Saliency and guided backprop (lessons 6-7), Grad-CAM at each net's last feature maps
# (lesson 11: `relu4` for reference_net, `block4`, the last residual block, for
# residual_net), LRP-epsilon (lesson 14, BatchNorm folded in, relevance split at each add),
# and, for residual_net only, CAM: with global average pooling the class score *is* the
# average of one map, sum_k w_k A_k, so no gradient is needed at all.

# %%
panels, titles = [], None
for n in range(len(x)):
    row = [rgb[n]]
    maps = {}
    for name, net in nets.items():
        short = "ref" if name == "reference_net" else "res"
        maps[f"{short} saliency"] = np.abs(vis.saliency(net, x[n:n + 1], y[n:n + 1])).max(axis=1)[0]
        maps[f"{short} guided"] = np.abs(vis.guided_backprop(net, x[n:n + 1], y[n:n + 1])).max(axis=1)[0]
        maps[f"{short} Grad-CAM"] = vis.upsample(vis.gradcam(net, x[n:n + 1], y[n:n + 1]), (32, 32))[0]
        maps[f"{short} LRP"] = vis.lrp(net, x[n:n + 1], y[n:n + 1], epsilon=0.25)[0].sum(axis=0)
    maps["res CAM"] = vis.upsample(np.maximum(cam(model, x[n:n + 1], y[n:n + 1]), 0), (32, 32))[0]
    for title, m in maps.items():
        if "LRP" in title:
            row.append(vis.signed_panel(m / max(np.abs(m).max(), 1e-12)))
        else:
            row.append(np.clip(m / max(np.percentile(m, 99.5), 1e-30), 0, 1))
    panels.append(row)
    titles = ["image"] + list(maps)
fig = vis.panel_grid(panels, row_titles=names, col_titles=titles,
                     title="reference_net (ref) and residual_net (res) explaining the same images")
_common.save(fig, args.out / "both_nets.png")

# %% [markdown]
# ## A residual add gives the gradient a second road
#
# out = relu(F(x) + x), so d out / d x = relu' * (dF/dx + 1): whatever reaches a block's
# output also reaches its input *unchanged* through the identity, beside what comes through
# the two convolutions. That is why deep residual nets train (the gradient cannot fade away
# in the convolutions). How much of the map comes which way is a number we can measure:
# we split the gradient at block4's input into the two roads.

# %%
t = minicnn.Tensor(x, requires_grad=True)
with nn.evaluating(), frozen(model.parameters()):               # the input's gradient only
    acts = model.activations(t, ["relu4", "block4", "fc"])
    acts["fc"].backward(np.eye(10, dtype=np.float32)[y])        # d (true class's logit)
g_out = acts["block4"].grad                                      # at the block's output
g_in = acts["relu4"].grad                                        # at its input: both roads
through_identity = g_out * (acts["block4"].data > 0)            # relu' * 1
through_convs = g_in - through_identity
for n in range(len(x)):
    a, b = np.linalg.norm(through_identity[n]), np.linalg.norm(through_convs[n])
    print(f"{names[n]:<11} |gradient via the identity| = {a:.3f}, via the convolutions "
          f"= {b:.3f}")

# %% [markdown]
# ## Sanity checks on both nets
#
# Lesson 12's cascading randomisation, now reaching the convolutions inside the residual
# blocks as well ("block4.conv2", ...). Does the residual road change the verdict? A
# randomised block's identity still carries the layer above's signal down, so the
# maps of a net randomised from the top can keep some structure for longer.

# %%
for name, net in nets.items():
    steps, maps, similarity = vis.sanity_check(net, x, y, methods=("saliency", "guided", "gradcam"))
    print(f"{name}: layers randomised from the top: {' -> '.join(steps)}")
    for method, values in similarity.items():
        print(f"  {method:<9} Spearman with the trained map: {np.round(values, 2)}")
    fig = vis.plot_similarity(steps, similarity)
    _common.save(fig, args.out / f"sanity_{name}.png")

# %% [markdown]
# ## What to look for
# - BatchNorm changes nothing in *how* the methods work: in eval mode it is an affine map
#   per channel, folded into the convolution before it (the difference above is float32
#   rounding). What it changes is the scale of each channel, so which channels dominate
#   a gradient map.
# - The 5x5 filters: colour blobs, centre-surround and some colour edges, grainier than
#   the 3x3 net's (lesson 2 measures how oriented they are).
# - Grad-CAM and CAM on residual_net are the same map: with global average pooling,
#   Grad-CAM's channel weights are the last layer's weights divided by the map's area
#   (Selvaraju et al. 2017 show this), so at the last block they differ by a constant.
# - The two roads: at block4 the convolutions carry most of the gradient, the identity
#   a small part (5-10% of its norm on these images). The identity is a road, not a
#   guarantee: BatchNorm's scales and the block's convolutions decide how much goes which way.
# - Sanity checks: saliency passes on both nets. Guided backprop fails on both, and more
#   clearly on the residual net (its maps keep a Spearman of 0.6 with the trained ones even
#   when every layer is random). Grad-CAM drops at once when fc is random, then *recovers*
#   part of its similarity as block4 and conv4 are randomised: a random block passes its
#   input on through the identity, so block4's maps become the still-trained maps of the
#   layers below. On a residual net, randomising a layer does not erase what is below it.
# %%
_common.done(args)
