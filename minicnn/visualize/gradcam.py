"""Grad-CAM and guided Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep
Networks via Gradient-based Localization", ICCV 2017).

A conv layer's channels A_k (each an h x w map) are what the rest of the network reads.
Grad-CAM weighs each channel by how much the class score cares about it on average,

    w_k = (1 / hw) sum_{y, x} d score / d A_k[y, x]        (global average pooling of the gradient)
    cam = relu( sum_k w_k A_k )                             (h, w): only evidence *for* the class

and upsamples the coarse map to the image. Guided Grad-CAM multiplies it with the
guided-backprop map: guided backprop is sharp but barely depends on the class, Grad-CAM
is class-specific but coarse; the product is both.

Upsampling is bilinear by default, with pixel centres aligned as in PIL and PyTorch's
interpolate(align_corners=False); "nearest" shows the layer's actual cells.
"""
import numpy as np

from minicnn.nn import Conv2d, ReLU
from minicnn.ops.loss import softmax
from minicnn.ops.relu import backward_rule
from minicnn.tensor import Tensor, as_float_array, frozen
from minicnn.visualize.attribution import guided_backprop
from minicnn.visualize.targets import resolve_target, unit_dout


def default_layer(model):
    """The last conv layer's rectified output (the ReLU right after it if there is one): the
    paper's choice, the last convolutional feature maps."""
    convs = [i for i, name in enumerate(model.names) if isinstance(model[name], Conv2d)]
    if not convs:
        raise ValueError(f"Grad-CAM needs a convolutional layer; the model has "
                         f"{', '.join(model.names)}")
    i = convs[-1]
    if i + 1 < len(model.names) and isinstance(model[model.names[i + 1]], ReLU):
        i += 1
    return model.names[i]


def gradcam(model, x, target, layer=None, objective="logit"):
    """The Grad-CAM map of every image at `layer`'s resolution.

    Inputs:
    - model: a Sequential; x: (N, C, H, W) normalised images
    - target: a class (index or name), one class per image, or a unit of a later layer
    - layer: any layer with (N, K, h, w) output (default: default_layer(model))
    Returns: cam (N, h, w), non-negative; upsample(cam, (H, W)) puts it on the image
    """
    layer = default_layer(model) if layer is None else layer
    model.check_layer(layer)
    x = as_float_array(x)
    score_layer, units = resolve_target(model, target, len(x), objective)
    if model.names.index(score_layer) <= model.names.index(layer):
        raise ValueError(f"Grad-CAM: the score's layer {score_layer!r} must come after {layer!r}")
    with frozen(model.parameters()):
        # A needs a gradient, so the graph must exist: the input asks for one
        acts = model.activations(Tensor(x, requires_grad=True), [layer, score_layer])
        A, out = acts[layer], acts[score_layer]
        if A.ndim != 4:
            raise ValueError(f"Grad-CAM needs a layer with (N, K, h, w) output; {layer!r} "
                             f"gives {A.shape}")
        if objective == "probability":
            out = softmax(out, axis=-1)
        with backward_rule("normal"):                       # the true gradient, always
            out.backward(unit_dout(out.data, units, score_layer))
    weights = A.grad.mean(axis=(2, 3))                          # (N, K) pooled gradients
    cam = np.einsum("nk,nkhw->nhw", weights, A.data)            # (N, h, w)
    return np.maximum(cam, 0)


def upsample(maps, size, mode="bilinear"):
    """(N, h, w) -> (N, H, W) by bilinear interpolation (pixel centres aligned, edges
    clamped) or by repeating each cell ("nearest")."""
    maps = np.asarray(maps, dtype=np.float64)
    (h, w), (H, W) = maps.shape[1:], size
    if mode == "nearest":
        return maps[:, (np.arange(H) * h) // H][:, :, (np.arange(W) * w) // W]
    if mode != "bilinear":
        raise ValueError(f"upsample: mode must be 'bilinear' or 'nearest', got {mode!r}")
    rows, row_weight = _linear_taps(h, H)
    cols, col_weight = _linear_taps(w, W)
    top = maps[:, rows[0]] * (1 - row_weight)[:, None] + maps[:, rows[1]] * row_weight[:, None]
    return top[:, :, cols[0]] * (1 - col_weight) + top[:, :, cols[1]] * col_weight


def _linear_taps(n, N):
    """For N output samples over n input cells: the two input indices each output reads
    and the weight of the second. Output u sits at input coordinate (u + 0.5) n / N - 0.5."""
    src = np.clip((np.arange(N) + 0.5) * n / N - 0.5, 0, n - 1)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, n - 1)
    return (i0, i1), src - i0


def guided_gradcam(model, x, target, layer=None, mode="bilinear"):
    """Guided Grad-CAM: guided backprop (N, C, H, W) times the upsampled cam, signed."""
    cam = gradcam(model, x, target, layer)                     # (N, h, w)
    up = upsample(cam, np.shape(x)[2:], mode)                   # (N, H, W)
    return guided_backprop(model, x, target) * up[:, None].astype(np.asarray(x).dtype)
