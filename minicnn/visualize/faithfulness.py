"""Are the maps faithful? Measures of whether a map shows what the network uses.

- Deletion and insertion (Petsiuk, Das & Saenko, "RISE: Randomized Input Sampling for
  Explanation of Black-box Models", BMVC 2018). Delete the pixels in the map's order, most
  important first, and follow the class probability: a faithful map makes it fall fast, so
  the area under the deletion curve is small. Insert them in the same order into a blurred
  copy: a faithful map makes the probability rise fast, so the insertion area is large.
- Class insensitivity (Nie, Zhang & Patel, "A Theoretical Explanation for Perplexing
  Behaviors of Backpropagation-based Visualizations", ICML 2018): guided backprop and the
  deconvnet reconstruct the image, whatever class is asked for. class_insensitivity measures
  it: the mean rank correlation between one image's maps for different classes (1: the same
  map for every class).

MAP_METHODS lists every map of minicnn.visualize as a function (model, x, target) -> maps,
with how its values rank pixels, so that faithfulness() can compare them all.
"""
import numbers

import numpy as np
from matplotlib.figure import Figure

from minicnn.tensor import Tensor, no_grad
from minicnn.visualize.attribution import (
    deconvnet,
    guided_backprop,
    input_x_gradient,
    saliency,
    smoothgrad,
)
from minicnn.visualize.gradcam import gradcam, upsample
from minicnn.visualize.integrated import integrated_gradients, make_baseline, scores
from minicnn.visualize.lrp import lrp
from minicnn.visualize.occlusion import occlusion_attribution
from minicnn.visualize.sanity import spearman
from minicnn.visualize.targets import resolve_target

REDUCTIONS = ("sum", "abs")


def pixel_importance(maps, reduce="sum"):
    """One number per pixel from a map (N, C, H, W) or (N, H, W): "sum" adds the channels
    (signed: evidence for the class ranks first), "abs" adds their absolute values (for raw
    gradients, whose sign says which way to move a pixel, not whether it matters)."""
    maps = np.asarray(maps, dtype=np.float64)
    if reduce not in REDUCTIONS:
        raise ValueError(f"pixel_importance: unknown reduce {reduce!r}; choose one of "
                         f"{', '.join(REDUCTIONS)}")
    if maps.ndim == 3:
        maps = maps[:, None]
    if maps.ndim != 4:
        raise ValueError(f"pixel_importance: maps must be (N, C, H, W) or (N, H, W), got {maps.shape}")
    return (np.abs(maps) if reduce == "abs" else maps).sum(axis=1)   # (N, H, W)


def deletion_insertion(model, x, target, maps, reduce="sum", steps=32, deletion_fill="zeros",
                       insertion_start="blur", objective="probability", batch_size=256):
    """The deletion and insertion curves of maps, and their areas.

    Inputs:
    - model: a Sequential ending in class logits; x: (N, C, H, W) normalised images
    - target: a class (index or name) or one class per image
    - maps: (N, C, H, W) or (N, H, W), one per image; reduce: see pixel_importance
    - steps: the curve has steps + 1 points, after deleting (inserting) a fraction
      0, 1/steps, ..., 1 of the pixels, most important first (ties: the first in row-major
      order)
    - deletion_fill: what replaces deleted pixels; insertion_start: the image pixels are
      inserted into. Either a baseline of make_baseline ("zeros": the mean colour, "black",
      "blur", "uniform", a number or an image)
    - objective: "probability" (the softmax, as in the paper) or "logit"
    Returns: dict with "deletion", "insertion": curves (N, steps + 1) float64, and
    "deletion_auc", "insertion_auc": (N,) areas under them over the fraction [0, 1]
    """
    x = np.asarray(x)
    N, C, H, W = x.shape
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"deletion_insertion: steps must be an integer >= 1, got {steps!r}")
    if objective not in ("probability", "logit"):
        raise ValueError(f"deletion_insertion: objective must be 'probability' or 'logit', "
                         f"got {objective!r}")
    importance = pixel_importance(maps, reduce)
    if importance.shape != (N, H, W):
        raise ValueError(f"deletion_insertion: maps of shape {np.shape(maps)} do not fit images "
                         f"of shape {x.shape}")
    layer, units = resolve_target(model, target, N)
    if layer != model.names[-1]:
        raise ValueError("deletion_insertion explains classes; give a class, not a unit")
    order = np.argsort(-importance.reshape(N, -1), axis=1, kind="stable")   # (N, H*W)
    counts = np.round(np.linspace(0, H * W, steps + 1)).astype(int)        # pixels changed
    result = {}
    for name, start, end in (("deletion", x, make_baseline(model, x, deletion_fill)),
                             ("insertion", make_baseline(model, x, insertion_start), x)):
        curve = np.empty((N, steps + 1))
        for n in range(N):
            # copy t has the first counts[t] pixels of the order taken from `end`
            rank = np.empty(H * W, dtype=int)
            rank[order[n]] = np.arange(H * W)                  # each pixel's place in the order
            taken = rank[None, :] < counts[:, None]            # (steps + 1, H*W)
            mask = taken.reshape(-1, 1, H, W)
            copies = np.where(mask, end[n], start[n]).astype(x.dtype)   # (steps + 1, C, H, W)
            for b in range(0, steps + 1, batch_size):
                chunk = copies[b:b + batch_size]
                curve[n, b:b + len(chunk)] = scores(model, chunk, layer, [units[n]] * len(chunk),
                                                    objective)
        result[name] = curve
        result[f"{name}_auc"] = area(curve)
    return result


def area(curve):
    """The area under curves (N, T + 1) sampled evenly over [0, 1] (the trapezoid rule)."""
    curve = np.asarray(curve, dtype=np.float64)
    return (curve[:, 1:] + curve[:, :-1]).sum(axis=1) / (2 * (curve.shape[1] - 1))


def _gradcam_map(model, x, target):
    return upsample(gradcam(model, x, target), np.shape(x)[2:])


def _lrp_composite(model, x, target):
    """LRP with Montavon et al.'s recommended composite for a VGG-like net: gamma on the
    convolutions, epsilon on the dense layers (zbox at the first if the model has .meta)."""
    convs = [n for n in model.names if type(model[n]).__name__ == "Conv2d"]
    rules = dict.fromkeys(convs, "gamma")
    if convs and getattr(model, "meta", None) and convs[0] == model.names[0]:
        rules[convs[0]] = "zbox"
    return lrp(model, x, target, epsilon=1e-6, rules=rules)


def _random_map(model, x, target):
    """A control: a map that knows nothing about the network."""
    return np.random.default_rng(0).standard_normal(np.shape(x))


# name -> (function(model, x, target) -> maps, how its values rank pixels)
MAP_METHODS = {
    "saliency": (saliency, "abs"),
    "guided": (guided_backprop, "abs"),
    "deconv": (deconvnet, "abs"),
    "smoothgrad": (lambda m, x, t: smoothgrad(m, x, t, n=16), "abs"),
    "input_x_gradient": (input_x_gradient, "sum"),
    "integrated_gradients": (lambda m, x, t: integrated_gradients(m, x, t, steps=32), "sum"),
    "lrp_epsilon": (lambda m, x, t: lrp(m, x, t, epsilon=1e-6), "sum"),
    "lrp_composite": (_lrp_composite, "sum"),
    "gradcam": (_gradcam_map, "sum"),
    "occlusion": (lambda m, x, t: occlusion_attribution(m, x, t, size=4, stride=2), "sum"),
    "random": (_random_map, "sum"),
}


def faithfulness(model, x, target, methods=None, steps=32, objective="probability"):
    """Deletion and insertion areas of every map method over a set of images.

    Inputs:
    - model, x, target: as deletion_insertion (a class per image, e.g. the true labels)
    - methods: names from MAP_METHODS (default all), or {name: (function, reduce)}
    Returns: {name: {"deletion_auc": (N,), "insertion_auc": (N,)}}; lower deletion and
    higher insertion areas are more faithful.
    """
    if methods is None:
        methods = MAP_METHODS
    elif not isinstance(methods, dict):
        unknown = [m for m in methods if m not in MAP_METHODS]
        if unknown:
            raise ValueError(f"faithfulness: unknown methods {unknown}; choose from "
                             f"{', '.join(MAP_METHODS)}")
        methods = {m: MAP_METHODS[m] for m in methods}
    result = {}
    for name, (method, reduce) in methods.items():
        curves = deletion_insertion(model, x, target, method(model, x, target), reduce, steps,
                                    objective=objective)
        result[name] = {key: curves[key] for key in ("deletion_auc", "insertion_auc")}
    return result


def class_insensitivity(model, x, method, classes=None, reduce=None):
    """How much one image's maps for different classes agree (Nie et al. 2018).

    Inputs:
    - model, x: a Sequential ending in class logits and (N, C, H, W) images
    - method: a name from MAP_METHODS or a function (model, x, target) -> maps
    - classes: the classes whose maps are compared (default all of the model's)
    - reduce: how maps rank pixels (default the method's in MAP_METHODS, else "abs")
    Returns: (N,) the mean Spearman rank correlation of the pixel importance between the
    maps of every pair of different classes; 1 means the map ignores the class.
    """
    if isinstance(method, str):
        if method not in MAP_METHODS:
            raise ValueError(f"class_insensitivity: unknown method {method!r}; choose from "
                             f"{', '.join(MAP_METHODS)}")
        method, default = MAP_METHODS[method]
        reduce = default if reduce is None else reduce
    reduce = "abs" if reduce is None else reduce
    x = np.asarray(x)
    if classes is None:
        with no_grad():
            classes = list(range(model(Tensor(x[:1])).shape[1]))
    if len(classes) < 2:
        raise ValueError(f"class_insensitivity: needs at least 2 classes, got {classes}")
    maps = np.stack([pixel_importance(method(model, x, [k] * len(x)), reduce)
                     for k in classes])                          # (K, N, H, W)
    K, N = len(classes), len(x)
    out = np.zeros(N)
    for n in range(N):
        pairs = [spearman(maps[a, n].ravel(), maps[b, n].ravel())
                 for a in range(K) for b in range(a + 1, K)]
        out[n] = np.mean(pairs)
    return out


def plot_faithfulness(result, title="faithfulness of the maps"):
    """result: faithfulness()'s {name: {"deletion_auc": (N,), "insertion_auc": (N,)}}. Two bar
    charts of the mean areas, the methods sorted by insertion minus deletion, best on top."""
    names = sorted(result, key=lambda m: result[m]["insertion_auc"].mean()
                   - result[m]["deletion_auc"].mean())
    fig = Figure(figsize=(8, 0.28 * len(names) + 1.2))
    axes = fig.subplots(1, 2, sharey=True)
    rows = np.arange(len(names))
    for ax, key, label in ((axes[0], "deletion_auc", "deletion AUC (lower is better)"),
                           (axes[1], "insertion_auc", "insertion AUC (higher is better)")):
        means = [result[m][key].mean() for m in names]
        ax.barh(rows, means, color=["#999" if m == "random" else "#3a7" for m in names])
        for r, v in zip(rows, means):
            ax.text(v, r, f" {v:.2f}", va="center", fontsize=7)
        ax.set_xlim(0, 1.12 * max(max(means), 1e-3))
        ax.set_xlabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, axis="x")
    axes[0].set_yticks(rows, names)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_class_insensitivity(values, title="class insensitivity"):
    """values: {method: (N,) class_insensitivity}. One bar per method (the mean over the
    images), each image a dot; 1 means the same map whatever the class."""
    names = list(values)
    fig = Figure(figsize=(5.5, 0.3 * len(names) + 1.1))
    ax = fig.subplots()
    rows = np.arange(len(names))
    ax.barh(rows, [np.mean(values[m]) for m in names], color="#68c")
    for r, m in zip(rows, names):
        ax.plot(values[m], np.full(len(values[m]), r), "k.", markersize=4)
    ax.set_yticks(rows, names)
    ax.invert_yaxis()
    ax.set_xlim(min(0, min(np.min(v) for v in values.values()) - 0.05), 1)
    ax.set_xlabel("mean Spearman correlation between the maps of different classes", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3, axis="x")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
