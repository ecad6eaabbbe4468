# %% [markdown]
# # Lesson 15: Integrated Gradients, and the choice of baseline
#
# Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks" (ICML 2017);
# Sturmfels, Lundberg & Lee, "Visualizing the Impact of Feature Attribution Baselines"
# (Distill 2020).
#
# The gradient says what an infinitesimal change does (lesson 6). Integrated Gradients adds
# the gradient up along the straight path from a baseline x' (an image that "means
# nothing") to the image x:
#
#     IG_i = (x_i - x'_i) * integral_0^1 d score / d x_i (x' + alpha (x - x')) d alpha
#
# The fundamental theorem of calculus gives **completeness**: sum_i IG_i = f(x) - f(x').
# The integral is a sum over `steps` points of the path, and the completeness error says
# how good that sum is. And the baseline matters: a pixel equal to the baseline gets
# nothing, however important it is.
#
# Needs CIFAR-10 (`--data PATH` or `MINICNN_DATA`).

# %%
import numpy as np
from matplotlib.figure import Figure

import _common
import minicnn
from minicnn import visualize as vis
from minicnn.visualize.integrated import METHODS, path_points

args = _common.parse_args("15_integrated_gradients")
data = _common.load_data(args)
model = minicnn.models.pretrained("reference_net")
mean, std = vis.input_stats(model)
classes = vis.model_classes(model)
x, y = _common.examples(model, data, count=2 if args.quick else 4)
rgb = vis.to_rgb(x, mean, std)
names = [classes[k] for k in y]

# %% [markdown]
# ## IG by hand: a Riemann sum of gradients
#
# 32 points in the middle of 32 equal steps, from the zero baseline (the mean colour).

# %%
steps = 32
alphas = (np.arange(steps) + 0.5) / steps                  # riemann_middle
total = np.zeros_like(x, dtype=np.float64)
for alpha in alphas:
    total += vis.saliency(model, alpha * x, y) / steps      # the mean gradient along the path
by_hand = x * total
ig, delta = vis.integrated_gradients(model, x, y, steps=steps, method="riemann_middle",
                                     return_delta=True)
print(f"by hand vs integrated_gradients: largest difference {np.abs(by_hand - ig).max():.1e}")
print(f"completeness error sum(IG) - (f(x) - f(0)): {delta.round(3)}")

# %% [markdown]
# ## How many steps?
#
# The completeness error of each of Captum's five rules, against the number of steps. The
# network is piecewise linear along the path (ReLUs switching on and off), so no rule is
# exact, but every one converges; Gauss-Legendre gets there with the fewest points.

# %%
step_counts = [4, 8, 16, 32] if args.quick else [4, 8, 16, 32, 64, 128]
fig = Figure(figsize=(5.5, 3.4))
ax = fig.subplots()
for method in METHODS:
    errors = [np.abs(vis.integrated_gradients(model, x, y, steps=s, method=method,
                                              return_delta=True)[1]).mean()
              for s in step_counts]
    ax.loglog(step_counts, errors, marker="o", label=method)
    print(f"{method:<18} mean |completeness error|: " + ", ".join(f"{e:.3f}" for e in errors))
ax.set(xlabel="steps", ylabel="mean |sum(IG) - (f(x) - f(x'))|",
       title="completeness error of the path integral")
ax.grid(alpha=0.3, which="both")
ax.legend(fontsize=7)
fig.tight_layout()
_common.save(fig, args.out / "steps.png")
alphas, weights = path_points(8, "gausslegendre")
print(f"Gauss-Legendre, 8 points: alphas {alphas.round(3)}, weights {weights.round(3)}")

# %% [markdown]
# ## Four baselines
#
# zeros (the dataset's mean colour, Captum's default), black, a blurred copy of the image,
# uniform noise. Each answers a different question: "compared to what?"

# %%
baselines = ["zeros", "black", "blur", "uniform"]
panels = []
for n in range(len(x)):
    row = [rgb[n]]
    for baseline in baselines:
        b = vis.make_baseline(model, x[n:n + 1], baseline)
        a = vis.integrated_gradients(model, x[n:n + 1], y[n:n + 1], baseline=b, steps=32)[0]
        r = a.sum(axis=0)
        row += [vis.to_rgb(b, mean, std)[0], vis.signed_panel(r / max(np.abs(r).max(), 1e-12))]
    panels.append(row)
cols = ["image"] + [c for b in baselines for c in (f"baseline: {b}", "IG")]
fig = vis.panel_grid(panels, row_titles=names, col_titles=cols, panel_size=1.3,
                     title="Integrated Gradients from four baselines (red: for the class)")
_common.save(fig, args.out / "baselines.png")

# %% [markdown]
# ## What to look for
# - The completeness error falls as the steps grow, for every rule, though not always
#   monotonically: with few points, a few ReLUs switching between two of them swing the
#   sum. 32 Gauss-Legendre points are already close.
# - From the black baseline, dark pixels get almost nothing (they are the baseline); from
#   the blurred copy, only edges and texture do (the blur kept the colours); uniform noise
#   spreads the attribution over the whole image. The map is an answer to "compared to
#   what?", and the baseline is that what.

# %%
_common.done(args)
