"""Grad-CAM and guided Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep
Networks via Gradient-based Localization", ICCV 2017).

A conv layer's channels A_k (each an h x w map) are what the rest of the network reads.
Grad-CAM weighs each channel by how much the class score cares about it on average,

    w_k = (1 / hw) sum_{y, x} d score / d A_k[y, x]        (global average pooling of the gradient)
    cam = relu( sum_k w_k A_k )                             (h, w): only evidence *for* the class

and upsamples the coarse map to the image. Guided Grad-CAM multiplies it with the
guided-backprop map: guided backprop is sharp but barely depends on the class, Grad-CAM
is class-specific but coarse; the product is both.

Options from Captum's LayerGradCam: the signed map (relu_attributions=False), one map per
channel, any layer (a linear one read as 1x1 maps), the layer's input instead of its output.
Grad-CAM++ (gradcam_plus_plus) weighs the positions inside each channel too.

Upsampling is bilinear by default, with pixel centres aligned as in PIL and PyTorch's
interpolate(align_corners=False); "nearest" shows the layer's actual cells.
"""
import numpy as np

from minicnn.nn import BasicBlock, Conv2d, ReLU, evaluating
from minicnn.ops.loss import softmax
from minicnn.ops.relu import backward_rule
from minicnn.tensor import Tensor, as_float_array, frozen
from minicnn.visualize.attribution import guided_backprop
from minicnn.visualize.targets import resolve_target, unit_dout


def default_layer(model):
    """The last convolutional feature maps, the paper's choice: the last conv layer's
    rectified output (the ReLU right after it if there is one), or the last residual block's
    output when a block comes after it (residual_net: its last block, before global pooling)."""
    convs = [i for i, name in enumerate(model.names) if isinstance(model[name], (Conv2d, BasicBlock))]
    if not convs:
        raise ValueError(f"Grad-CAM needs a convolutional layer; the model has "
                         f"{', '.join(model.names)}")
    i = convs[-1]
    if i + 1 < len(model.names) and isinstance(model[model.names[i + 1]], ReLU):
        i += 1
    return model.names[i]


def gradcam(model, x, target, layer=None, objective="logit", relu_attributions=True,
            per_channel=False, attribute_to_layer_input=False):
    """The Grad-CAM map of every image at `layer`'s resolution.

    Inputs:
    - model: a Sequential; x: (N, C, H, W) normalised images
    - target: a class (index or name), one class per image, or a unit of a later layer
    - layer: any layer (default: default_layer(model)); a layer with (N, K) output, such as a
      linear one, is read as K maps of 1x1
    - relu_attributions: keep only the evidence for the class, relu(sum_k w_k A_k) (the
      paper's map, the default); False returns the signed sum, as Captum does by default
    - per_channel: return every channel's w_k A_k, (N, K, h, w), instead of their sum
    - attribute_to_layer_input: use the layer's input A (and the gradient there) rather than
      its output (the image itself for the first layer)
    Returns: cam (N, h, w) (or (N, K, h, w) per channel); upsample(cam, (H, W)) puts it on
    the image
    """
    A, dA = layer_and_gradient(model, x, target, layer, objective, attribute_to_layer_input)
    weights = dA.mean(axis=(2, 3), keepdims=True)               # (N, K, 1, 1) pooled gradients
    cam = weights * A if per_channel else np.einsum("nk,nkhw->nhw", weights[:, :, 0, 0], A)
    return np.maximum(cam, 0) if relu_attributions else cam


def gradcam_plus_plus(model, x, target, layer=None, relu_attributions=True, per_channel=False,
                      attribute_to_layer_input=False):
    """Grad-CAM++ (Chattopadhay et al., "Grad-CAM++: Generalized Gradient-based Visual
    Explanations for Deep Convolutional Networks", WACV 2018), for the exponential of the
    target's logit (or unit) S.

    Grad-CAM++ weighs every position of a channel by alpha before pooling the positive
    gradients of the output Y. Its general alpha (the paper's eq. 10) needs the second and
    third derivatives of Y; the paper's closed form (eq. 19) holds only for Y = exp(S) with S
    piecewise linear in A (a ReLU net, no softmax), because then d^2 Y / dA^2 = exp(S) g^2 and
    d^3 Y / dA^3 = exp(S) g^3 with g = dS/dA, and exp(S) cancels:

        alpha_k[i, j] = g^2 / (2 g^2 + sum_{a, b} A_k[a, b] g^3)     (0 where that is 0/0)
        w_k = sum_{i, j} alpha_k[i, j] relu(g[i, j])   (times exp(S) > 0, left out: it scales
                                                        an image's map, and overflows)
        cam = relu(sum_k w_k A_k)

    This is exactly that case (pytorch-grad-cam #369: the closed form applied to a softmax or
    a logit is not the paper's method), so there is no `objective`: S is the logit.
    The options are gradcam's. Returns: cam (N, h, w) (or (N, K, h, w) per channel)
    """
    A, g = layer_and_gradient(model, x, target, layer, "logit", attribute_to_layer_input)
    g2, g3 = g ** 2, g ** 3
    denominator = 2 * g2 + A.sum(axis=(2, 3), keepdims=True) * g3
    alpha = np.divide(g2, denominator, out=np.zeros_like(g2), where=denominator != 0)
    weights = (alpha * np.maximum(g, 0)).sum(axis=(2, 3), keepdims=True)   # (N, K, 1, 1)
    cam = weights * A if per_channel else (weights * A).sum(axis=1)
    return np.maximum(cam, 0) if relu_attributions else cam


def layer_and_gradient(model, x, target, layer=None, objective="logit", to_input=False):
    """A layer's output (or input, to_input=True) A and d score / dA, both as (N, K, h, w)
    float arrays; a (N, K) layer is read as (N, K, 1, 1)."""
    layer = default_layer(model) if layer is None else layer
    model.check_layer(layer)
    x = as_float_array(x)
    score_layer, units = resolve_target(model, target, len(x), objective)
    i, s = model.names.index(layer), model.names.index(score_layer)
    if s < i or (s == i and not to_input):
        raise ValueError(f"Grad-CAM: the score's layer {score_layer!r} must come after {layer!r}")
    with frozen(model.parameters()), evaluating():
        # A needs a gradient, so the graph must exist: the input asks for one
        image = Tensor(x, requires_grad=True)
        if to_input and i == 0:
            A, out = image, model.activations(image, [score_layer])[score_layer]
        else:
            read = model.names[i - 1] if to_input else layer
            acts = model.activations(image, [read, score_layer])
            A, out = acts[read], acts[score_layer]
        if A.ndim not in (2, 4):
            raise ValueError(f"Grad-CAM needs a layer with (N, K, h, w) or (N, K) output; "
                             f"{layer!r} gives {A.shape}")
        if objective == "probability":
            out = softmax(out, axis=-1)
        with backward_rule("normal"):                       # the true gradient, always
            out.backward(unit_dout(out.data, units, score_layer))
    data, grad = A.data, A.grad
    if data.ndim == 2:                                      # (N, K) -> K maps of 1x1
        data, grad = data[:, :, None, None], grad[:, :, None, None]
    return data, grad


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
