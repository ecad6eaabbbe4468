"""What a visualisation explains: a class score, or one hidden unit.

Every technique that differentiates something (gradient maps, class models, Grad-CAM,
occlusion) takes a `target`, which may be

    3 or "cat"                  a class, the same for every image
    [3, 5, "dog", ...]          one class per image (a list or an array of N entries)
    ("conv3", 7)                channel 7 of layer conv3 (for a conv layer: the sum of the
                                channel over all positions; for a linear layer: unit 7)
    ("conv3", 7, 4, 9)          the unit of channel 7 at row 4, column 9 of conv3's output
    [("conv4", 0), ("conv4", 1), ...]   one unit of one layer per image (e.g. every channel
                                in one batch of class_model)

A class is scored by its logit (objective="logit", the default) or by its softmax
probability (objective="probability", as in the lecture). A unit is scored by its value.

`resolve_target` turns a target into (layer name, one index tuple per image);
`unit_dout` builds the one-hot `dout` that backpropagates exactly that score.
"""
import numbers

import numpy as np

from minicnn.nn import evaluating
from minicnn.ops.loss import stable_log_softmax
from minicnn.tensor import Tensor, no_grad
from minicnn.visualize.images import class_index, model_classes

OBJECTIVES = ("logit", "probability")


def is_unit(target):
    """A unit spec is a tuple (layer, channel) or (layer, channel, y, x)."""
    return (isinstance(target, tuple) and len(target) in (2, 4) and isinstance(target[0], str)
            and all(isinstance(i, numbers.Integral) for i in target[1:]))


def resolve_target(model, target, N, objective="logit"):
    """-> (layer, units): the name of the layer whose output holds the score, and a list of
    N index tuples into one image's output of that layer (one per image)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    if is_unit(target):
        layer = target[0]
        model.check_layer(layer)
        if objective != "logit":
            raise ValueError(f"objective={objective!r} applies to class scores only, "
                             f"not to the unit {target}")
        return layer, [tuple(int(i) for i in target[1:])] * N
    if isinstance(target, list) and target and all(is_unit(t) for t in target):
        layers = {t[0] for t in target}
        if len(layers) != 1 or len(target) != N:
            raise ValueError(f"a list of units needs one unit of one layer per image; got "
                             f"{len(target)} units of layers {sorted(layers)} for {N} images")
        layer = target[0][0]
        model.check_layer(layer)
        if objective != "logit":
            raise ValueError(f"objective={objective!r} applies to class scores only, not to units")
        return layer, [tuple(int(i) for i in t[1:]) for t in target]
    classes = model_classes(model)
    if isinstance(target, (list, np.ndarray)):
        if len(target) != N:
            raise ValueError(f"got {len(target)} targets for {N} images")
        return model.names[-1], [(class_index(classes, _plain(t)),) for t in target]
    return model.names[-1], [(class_index(classes, _plain(target)),)] * N


def _plain(t):
    """NumPy scalars (np.int64(3), np.str_("cat")) as Python ones."""
    return t.item() if isinstance(t, np.generic) else t


def unit_dout(out, units, layer):
    """A dout that is 1 at each image's unit and 0 elsewhere, so that backward() gives the
    gradient of that unit (of the channel's sum when only a channel is given).

    Inputs:
    - out: (N, ...) the layer's output; units: N index tuples; layer: its name, for errors
    Returns: dout of out's shape and dtype
    """
    N, per_image = out.shape[0], out.shape[1:]
    dout = np.zeros_like(out)
    for n, index in enumerate(units):
        if len(index) > len(per_image) or any(not 0 <= i < s for i, s in zip(index, per_image)):
            what = "channel" if len(index) == 1 else "unit (channel, y, x)"
            raise ValueError(f"{what} {index if len(index) > 1 else index[0]} is outside layer "
                             f"{layer!r}, whose output per image has shape {per_image}")
        dout[(n,) + index] = 1
    return dout


def selected(out, units):
    """The scores themselves: (N,) the value of each image's unit (channel sums for channels)."""
    return np.array([out[(n,) + index].sum() for n, index in enumerate(units)])


def probabilities(model, x):
    """The softmax of the model's logits for normalised images x: (N, K) float64."""
    with no_grad(), evaluating():
        z = model(Tensor(x)).data.astype(np.float64)                # (N, K) logits
    return np.exp(stable_log_softmax(z, axis=1))                    # (N, K)
