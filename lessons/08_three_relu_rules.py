# %% [markdown]
# # Lesson 8: three ways back through a ReLU
#
# Lessons 6 and 7 used two backward rules at the ReLUs. There is a third, older one:
#
#     normal    dx = dout * (x > 0)           the true gradient: pass where the INPUT was positive
#     deconv    dx = max(dout, 0)             pass where the SIGNAL is positive
#     guided    dx = max(dout, 0) * (x > 0)   both conditions
#
# (x: the ReLU's input saved in the forward pass; dout: the signal arriving from above.)
#
# The deconv rule is Zeiler & Fergus's **deconvnet** ("Visualizing and Understanding
# Convolutional Networks", ECCV 2014): to project a neuron back to the pixels they ran the
# network in reverse, unpooling with the max-pool "switches", *rectifying* with a ReLU and
# filtering with the transposed filters. Simonyan, Vedaldi & Zisserman (2014) pointed out that
# this is backprop with one change: the ReLU on the way down looks at the signal, not at the
# forward input. Springenberg et al. (2015) combined both conditions: guided backprop.
# Everything else (convolution, linear layers, max-pool switches) is the same under all three.
#
# First on tiny tensors with every number printed, then on images.
# Needs CIFAR-10 for the images (`--data PATH` or `MINICNN_DATA`).

# %%
import numpy as np

import _common
import minicnn
from minicnn import functional as F
from minicnn import visualize as vis

args = _common.parse_args("08_three_relu_rules")
data = _common.load_data(args)
RULES = ("normal", "deconv", "guided")
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## One ReLU, four numbers
#
# Two inputs were positive (the unit was on), two negative; the signal from above has two
# positive and two negative entries. One forward pass, then one backward pass per rule
# (the graph can be walked back as often as we like; gradients accumulate, so we reset
# x.grad each time).

# %%
x = minicnn.Tensor(np.array([1.0, 1.0, -1.0, -1.0]), requires_grad=True)
out = F.relu(x)
dout = np.array([2.0, -1.0, 3.0, -4.0])
print(f"x      = {x.data}\nout    = {out.data}\ndout   = {dout}")
for rule in RULES:
    x.grad = None
    with minicnn.backward_rule(rule):
        out.backward(dout)
    print(f"{rule:<7}= {x.grad + 0.0}")                  # + 0.0 turns -0.0 into 0.0

# %% [markdown]
# Read the columns: entry 1 (unit on, signal +) passes under every rule; entry 2 (unit on,
# signal -) only under normal; entry 3 (unit off, signal +) only under deconv; entry 4 never.
#
# ## A two-layer network, by hand and by minicnn
#
# score = w2 . relu(W1 x + b1) with 4 inputs and 3 hidden units. The chain rule says
# d score / dx = W1^T dz, and dz is where the rules differ: dz = rule(z, w2), with z the
# hidden units' inputs and w2 the signal arriving at them. We pick weights so that the
# three hidden units show the three cases: on with a positive weight, on with a negative
# weight, off with a positive weight.

# %%
net = minicnn.nn.Sequential({"fc1": minicnn.nn.Linear(4, 3), "relu": minicnn.nn.ReLU(),
                             "fc2": minicnn.nn.Linear(3, 1)})
W1 = np.array([[1.0, 0.5, 0.0, 0.0],
               [0.0, 1.0, 1.0, 0.0],
               [0.0, 0.0, -1.0, 1.0]])                   # (3, 4)
w2 = np.array([1.0, -2.0, 0.5])                          # (3,)
net.fc1.weight.data, net.fc1.bias.data = W1, np.zeros(3)
net.fc2.weight.data, net.fc2.bias.data = w2[None], np.zeros(1)
x0 = np.array([[1.0, 1.0, 1.0, 0.5]])                    # (1, 4)
z = x0[0] @ W1.T                                         # (3,) hidden inputs: [1.5, 2, -0.5]
print(f"z (hidden units' inputs) = {z}, signal from above w2 = {w2}")

by_hand = {"normal": W1.T @ (w2 * (z > 0)),
           "deconv": W1.T @ np.maximum(w2, 0),
           "guided": W1.T @ (np.maximum(w2, 0) * (z > 0))}
for rule in RULES:
    xt = minicnn.Tensor(x0, requires_grad=True)
    with minicnn.backward_rule(rule):
        net(xt).backward(np.ones((1, 1)))
    print(f"{rule:<7} by hand {by_hand[rule]}   minicnn {xt.grad[0]}")

# %% [markdown]
# ## Max-pooling: the same switches under every rule
#
# A max-pool passes the signal back to the position that won in the forward pass (the
# "switch") and nowhere else, whatever the rule: the rules only differ at ReLUs. Here a
# 4 x 4 input pooled 2 x 2, and a signal of 1, -1, 2, -2 from above.

# %%
x = minicnn.Tensor(np.array([[[[1, 3, 0, 1],
                               [2, 0, 5, 2],
                               [0, 1, 2, 0],
                               [4, 0, 1, 3]]]], dtype=np.float64), requires_grad=True)
out = F.max_pool2d(x, 2)                                  # (1, 1, 2, 2)
for rule in RULES:
    x.grad = None
    with minicnn.backward_rule(rule):
        out.backward(np.array([[[[1.0, -1.0], [2.0, -2.0]]]]))
    print(f"{rule}:\n{x.grad[0, 0]}")

# %% [markdown]
# ## On images
#
# The three rules for the true class's logit on four test images, as signed colour
# pictures (grey = 0) and as heat maps.

# %%
model = minicnn.models.pretrained("reference_net")
mean, std = vis.input_stats(model)
classes = vis.model_classes(model)
x, y = _common.examples(model, data, count=4)            # (4, 3, 32, 32), (4,)
rgb = vis.to_rgb(x, mean, std)
names = [classes[k] for k in y]
maps = {rule: vis.gradient(model, x, y, rule=rule) for rule in RULES}    # each (4, 3, 32, 32)

panels = [[rgb[n]] + [vis.render_map(maps[r], "rgb")[n] for r in RULES]
          + [vis.render_map(maps[r], "absmax")[n] for r in RULES] for n in range(len(x))]
fig = vis.panel_grid(panels, row_titles=names, col_titles=["image"] + list(RULES)
                     + [f"{r}, max |g|" for r in RULES],
                     title="one forward pass, three backward rules", panel_size=1.3)
_common.save(fig, args.out / "three_rules.png")

# %% [markdown]
# ## How the rules differ, in numbers
#
# Two questions for each rule, answered with Spearman rank correlations of the max |g| maps:
# - *Does it depend on the class?* Compare the map for the true class with the map for the
#   runner-up class. High means the class hardly matters.
# - *Does it just find edges?* Compare the map with the image's own edge strength (the size
#   of the image's spatial gradient, summed over colours). High means it looks like an
#   edge detector's output.

# %%
with minicnn.no_grad():
    second = np.argsort(-model(minicnn.Tensor(x)).data, axis=1)[:, 1]   # (4,) runner-up
dy, dx = np.gradient(x, axis=(2, 3))                               # image derivatives
edges = np.sqrt(dy ** 2 + dx ** 2).sum(axis=1)                     # (4, 32, 32) edge strength
print(f"{'rule':<8}{'true vs runner-up':>19}{'map vs edges':>14}   (mean Spearman)")
for rule in RULES:
    heat = np.abs(maps[rule]).max(axis=1)                          # (4, 32, 32)
    heat_other = np.abs(vis.gradient(model, x, second, rule=rule)).max(axis=1)
    same_class = np.mean([vis.spearman(heat[n], heat_other[n]) for n in range(len(x))])
    edge_like = np.mean([vis.spearman(heat[n], edges[n]) for n in range(len(x))])
    print(f"{rule:<8}{same_class:>19.2f}{edge_like:>14.2f}")

# %% [markdown]
# ## What to look for
# - **normal** (the gradient) is grainy and changes with the class: it keeps the "this would
#   lower the score" signals, which cancel and flip sign from pixel to pixel (lesson 6).
# - **deconv** never asks which units were on: the image enters its backward pass only
#   through the max-pool switches. In a big network with many pooling layers the switches
#   carry enough to give crisp patterns (Zeiler & Fergus's figures); reference_net has only
#   two, so its deconv maps are much less tied to the image, often a spread-out texture.
# - **guided** is the sharpest: only positive evidence, only through units that were on.
#   It is also the one that changes least when the class changes.
# - The numbers make this concrete. Nie, Zhang & Patel ("A Theoretical Explanation for
#   Perplexing Behaviors of Backpropagation-based Visualizations", ICML 2018) argue that
#   both rectifying rules tend towards reconstructing the image, whatever the class; see
#   which rule sits closest to the image's edges here. Lesson 12 turns this into a test.

# %%
_common.done(args)

# %% [markdown]
# ## Your turn
#
# Your turn: `minicnn exercise start relu_rules` writes `minicnn-exercises/relu_rules.py`, a
# skeleton with the math and hints: the ReLU and its normal, deconvnet and guided rules; the
# checker then puts them in every ReLU of the shipped net and draws the three maps of test
# images. Check it with `minicnn exercise check relu_rules`.
#
# Your turn: `minicnn exercise start max_pool` writes `minicnn-exercises/max_pool.py`, a
# skeleton with the math and hints: max-pooling and its switches; the checker then runs both
# pools of the shipped net with your code and draws deconvnet and guided maps through your
# switches. Check it with `minicnn exercise check max_pool`.
