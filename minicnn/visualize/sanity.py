"""Sanity checks for saliency maps (Adebayo et al., "Sanity Checks for Saliency Maps",
NeurIPS 2018): cascading randomisation of the weights.

An explanation of what a *trained* network does should change when the training is taken
away. Starting from the top (fc2, then fc1, conv4, ...), re-draw each layer's weights as
at initialisation, cumulatively, and recompute the maps. A map that stays the same while
the network forgets everything it learned is showing something else: the image's edges
(guided backprop and the deconvnet largely do), not the network's reasoning.

Similarity is the Spearman rank correlation between the original and the randomised map,
rendered the usual way (max over channels of |g|), averaged over the images. The model
passed in is never changed: every randomised network is a copy.
"""
import copy

import numpy as np
from matplotlib.figure import Figure

from minicnn.nn import Conv2d, Linear
from minicnn.visualize.attribution import RULES, gradient
from minicnn.visualize.gradcam import gradcam, upsample


def weighted_layers(model):
    """The names of the layers with weights, from the top (output) down, those inside a
    residual block by their path ("block2.conv2")."""
    return [name for name, layer in reversed(list(model.named_modules()))
            if isinstance(layer, (Conv2d, Linear))]


def cascading_randomization(model, seed=0):
    """Yield (name, copy) for each weighted layer from the top down: a copy of the model
    with that layer and every layer above it re-initialised (He-normal weights, zero biases,
    the network's own initialisation). The caller's model is untouched."""
    rng = np.random.default_rng(seed)
    net = copy.deepcopy(model)
    layers = dict(net.named_modules())
    for name in weighted_layers(model):
        layer = layers[name]
        w = layer.weight.data
        fan_in = int(np.prod(w.shape[1:]))
        # He-normal, N(0, 2 / fan_in), as minicnn.init.he_normal but from our own generator
        layer.weight.data = (rng.standard_normal(w.shape) * np.sqrt(2.0 / fan_in)).astype(w.dtype)
        if layer.bias is not None:
            layer.bias.data = np.zeros_like(layer.bias.data)
        yield name, copy.deepcopy(net)


def spearman(a, b):
    """Spearman's rank correlation of two arrays (flattened): the Pearson correlation of
    their ranks, tied values sharing the mean of the ranks they span. 0 if either is constant."""
    ra, rb = rank(np.ravel(a)), rank(np.ravel(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    return float((ra * rb).sum() / denominator) if denominator > 0 else 0.0


def rank(v):
    """Ranks 1..n of a 1-D array, ties getting the average of their ranks."""
    order = np.argsort(v, kind="stable")
    ordinal = np.empty(len(v))
    ordinal[order] = np.arange(1, len(v) + 1)
    _, group, counts = np.unique(v, return_inverse=True, return_counts=True)
    # the mean ordinal rank of each group of equal values
    return (np.bincount(group, weights=ordinal) / counts)[group]


def explanation(model, x, target, method):
    """One method's map, rendered as Adebayo et al. compare them: (N, H, W), non-negative."""
    if method == "gradcam":
        return upsample(gradcam(model, x, target), x.shape[2:])
    if method not in RULES:
        raise ValueError(f"sanity check: unknown method {method!r}; "
                         f"choose from {', '.join(SANITY_METHODS)}")
    return np.abs(gradient(model, x, target, rule=RULES[method])).max(axis=1)


SANITY_METHODS = ("saliency", "guided", "deconv", "gradcam")


def sanity_check(model, x, target, methods=SANITY_METHODS, seed=0):
    """Maps of the trained model and of each step of the cascading randomisation.

    Inputs:
    - model, x (N, C, H, W), target: as for the gradient maps
    - methods: any of "saliency", "guided", "deconv", "gradcam"
    Returns: steps, ["trained", "fc2", "fc1", ...] (the last layer randomised so far);
             maps, {method: (len(steps), N, H, W)};
             similarity, {method: (len(steps),)} the mean Spearman correlation with the
             trained model's map (1.0 for the trained model itself)
    """
    steps, nets = ["trained"], [model]
    for name, net in cascading_randomization(model, seed):
        steps.append(name)
        nets.append(net)
    maps = {m: np.stack([explanation(net, x, target, m) for net in nets]) for m in methods}
    similarity = {m: np.array([np.mean([spearman(maps[m][0, n], step[n]) for n in range(len(x))])
                               for step in maps[m]]) for m in methods}
    return steps, maps, similarity


def cascade_labels(steps):
    """["trained", "fc2", "fc1", ...] -> ["trained", "fc2 random", "+ fc1", ...]."""
    return [s if i == 0 else f"{s} random" if i == 1 else f"+ {s}" for i, s in enumerate(steps)]


def plot_sanity_maps(rgb, steps, maps, image=0, percentile=99.5):
    """Rows: methods; columns: the image, then the map after each randomisation step, each
    scaled by its own high percentile (one bright pixel must not hide the rest)."""
    methods = list(maps)
    fig = Figure(figsize=(1.15 * (len(steps) + 1), 1.25 * len(methods) + 0.6))
    axes = fig.subplots(len(methods), len(steps) + 1, squeeze=False)
    for r, method in enumerate(methods):
        axes[r, 0].imshow(rgb[image], interpolation="nearest")
        axes[r, 0].set_ylabel(method, fontsize=8)
        for s, step in enumerate(steps):
            m = maps[method][s, image]
            scale = max(np.percentile(m, percentile), 1e-30)
            axes[r, s + 1].imshow(np.clip(m / scale, 0, 1), cmap="inferno", vmin=0, vmax=1,
                                  interpolation="nearest")
            if r == 0:
                axes[r, s + 1].set_title(cascade_labels(steps)[s], fontsize=7)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("cascading randomisation from the top (Adebayo et al. 2018)", fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig


def plot_similarity(steps, similarity):
    """Spearman correlation with the trained map, per method, along the cascade."""
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    for method, values in similarity.items():
        ax.plot(range(len(steps)), values, "o-", label=method)
    ax.set_xticks(range(len(steps)), cascade_labels(steps), fontsize=7)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel="layers randomised (cumulative, from the top)", ylabel="Spearman rank corr.",
           ylim=(-0.2, 1.05), title="similarity of randomised maps to the trained ones")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
