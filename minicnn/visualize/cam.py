"""Class activation maps (Zhou et al., "Learning Deep Features for Discriminative
Localization", CVPR 2016), for nets that end in global average pooling and one linear layer.

Such a net scores class c as a weighted sum of the last feature maps' averages,

    score_c = sum_k w[c, k] (1 / hw) sum_{y, x} A_k[y, x] + b_c
            = (1 / hw) sum_{y, x} cam_c[y, x] + b_c,      cam_c[y, x] = sum_k w[c, k] A_k[y, x]

so cam_c says how much each position adds to the score: no gradient needed, one forward
pass. (For such a net Grad-CAM at the same layer, unrectified, is this map divided by hw:
its pooled gradients are w[c, k] / hw.)

The model runs in eval mode (BatchNorm's running statistics, no dropout) and is put back in
the mode it was in.
"""
import numpy as np

from minicnn.nn import AdaptiveAvgPool2d, Dropout, Flatten, Linear, evaluating
from minicnn.tensor import Tensor, as_float_array, no_grad
from minicnn.visualize.targets import is_unit, resolve_target


def cam_layers(model):
    """(feature layer name, the final Linear) of a Sequential that ends in global average
    pooling, Flatten (or Dropout) and one Linear; ValueError naming the layers otherwise."""
    names = model.names
    pools = [i for i, name in enumerate(names) if isinstance(model[name], AdaptiveAvgPool2d)]
    tail = [model[name] for name in names[pools[-1] + 1:]] if pools else []
    if (not pools or pools[-1] == 0 or not tail or not isinstance(tail[-1], Linear)
            or not all(isinstance(m, (Flatten, Dropout)) for m in tail[:-1])):
        raise ValueError(f"CAM needs a net that ends in global average pooling "
                         f"(AdaptiveAvgPool2d), Flatten and one Linear layer; the model has "
                         f"{', '.join(names)}")
    return names[pools[-1] - 1], tail[-1]


def cam(model, x, target, include_bias=False):
    """The class activation map of every image at the last feature maps' resolution.

    Inputs:
    - model: a Sequential ending in AdaptiveAvgPool2d(1), Flatten, Linear (e.g. residual_net)
    - x: (N, C, H, W) normalised images
    - target: a class (index or name), or one class per image
    - include_bias: add b_c / (h w) at every position, so the map's mean is the logit
    Returns: cam (N, h, w), signed (gradcam.upsample(cam, (H, W)) puts it on the image)
    """
    if is_unit(target):
        raise ValueError("CAM explains a class score, not a unit; use gradcam for a unit")
    layer, fc = cam_layers(model)
    x = as_float_array(x)
    _, units = resolve_target(model, target, len(x))
    with evaluating(), no_grad():
        A = model.activations(Tensor(x), [layer])[layer].data     # (N, K, h, w)
    classes = np.array([unit[0] for unit in units])               # (N,)
    w = fc.weight.data[classes]                                   # (N, K)
    maps = np.einsum("nk,nkhw->nhw", w, A)
    if include_bias and fc.bias is not None:
        maps = maps + (fc.bias.data[classes] / (A.shape[2] * A.shape[3]))[:, None, None]
    return maps
