"""Forward passes of occluded copies that recompute only what the occluder changed.

An occlusion map (occlusion.py) runs hundreds of copies of one image, each differing from
the original only under a small square. A convolution's output at (oy, ox) reads only its
KH x KW window of the input, so most of each copy's first activations equal the original
image's. Nakandala, Kumar & Papakonstantinou ("Incremental and Approximate Inference for
Faster Occlusion-based Deep CNN Explanations", SIGMOD 2019) recompute, layer after layer,
only the region that can differ: it grows by each layer's receptive field, exactly as the
receptive fields of lesson 4 do (lessons/04_top9_and_receptive_fields.py).

For every copy we keep a *window*: a box of a layer's activation, with its top-left corner
at (y[b], x[b]) and one size (h, w) for all copies, that holds every value differing from
the original's; outside it the copy equals the original. A layer whose output at oy reads
inputs oy*S - P .. oy*S - P + K - 1 (a convolution or a max-pool; per axis, K the kernel,
S the stride, P the padding) changes the output rows

    ceil((y + P - K + 1) / S)  <=  oy  <=  floor((y + h - 1 + P) / S)

and recomputing them needs input rows oy*S - P .. (oy + h' - 1)*S - P + K - 1 of the copy:
the original's activation with the copy's window pasted in. So each layer cuts these crops
out of the original's (padded) activation, pastes in the windows, and runs the layer on the
batch of crops without padding. ReLU acts on each value alone: the window passes through.
At the first layer of another kind (Flatten, Linear) every copy's window is pasted into the
original's activation and the rest of the net runs on whole copies.

For the reference net and a 4x4 square, conv2 (a third of the forward's work) recomputes
8x8 of its 32x32 outputs; the results are those of running the whole copies, up to float
rounding.
"""
import numpy as np

from minicnn.nn import Conv2d, ReLU, evaluating
from minicnn.ops.conv import conv2d
from minicnn.tensor import Tensor, no_grad
from minicnn.visualize.receptive_field import layer_geometry


def is_local(layer):
    """Does each output of the layer read only a window of its input? Convolutions and
    max-pools (layer_geometry gives their kernel, stride, padding) and ReLU (one value)."""
    return isinstance(layer, ReLU) or isinstance(layer_geometry(layer), tuple)


def changed_outputs(first, size, K, S, P, out_size):
    """Input rows first[b] .. first[b] + size - 1 changed (first: (B,) ints). Returns the
    output rows that read them, as corners (B,) and one common size: the largest, with
    corners moved inwards where that box would cross the border."""
    lo = np.maximum(0, -(-(first + P - K + 1) // S))             # ceil division
    hi = np.minimum(out_size - 1, (first + size - 1 + P) // S)
    new_size = max(1, int((hi - lo).max()) + 1)
    return np.minimum(lo, out_size - new_size), new_size


def rerun_layer(layer, before, out_shape, values, y, x):
    """One local layer on the changed windows of B copies.

    Inputs:
    - before: (C, H, W) the original's input to the layer; out_shape: (F, OH, OW) its output
    - values: (B, C, h, w) each copy's window of the input, at corners y, x: (B,) ints
    Returns the output windows (B, F, h', w') and their corners y', x'.
    """
    if isinstance(layer, ReLU):                                   # value by value
        return layer(Tensor(values)).data, y, x
    (KH, KW), (SH, SW), (PH, PW) = layer_geometry(layer)
    B, C, h, w = values.shape
    oy, oh = changed_outputs(y, h, KH, SH, PH, out_shape[1])
    ox, ow = changed_outputs(x, w, KW, SW, PW, out_shape[2])
    ih, iw = (oh - 1) * SH + KH, (ow - 1) * SW + KW               # the input those outputs read
    padded = np.pad(before, ((0, 0), (PH, PH), (PW, PW)))        # (C, H + 2PH, W + 2PW)
    crops = np.empty((B, C, ih, iw), dtype=before.dtype)
    for b in range(B):
        top, left = oy[b] * SH, ox[b] * SW                        # in padded coordinates
        crops[b] = padded[:, top:top + ih, left:left + iw]
        y0, x0 = y[b] + PH, x[b] + PW                             # the window, padded coordinates
        r0, r1 = max(y0, top), min(y0 + h, top + ih)             # the part of it the crop holds
        c0, c1 = max(x0, left), min(x0 + w, left + iw)
        if r0 < r1 and c0 < c1:
            crops[b, :, r0 - top:r1 - top, c0 - left:c1 - left] = \
                values[b, :, r0 - y0:r1 - y0, c0 - x0:c1 - x0]
    if isinstance(layer, Conv2d):                                 # the crops carry the padding
        out = conv2d(Tensor(crops), layer.weight, layer.bias, stride=layer.stride, padding=0)
    else:
        out = layer(Tensor(crops))
    return out.data, oy, ox                                       # (B, F, oh, ow)


def occluded_logits(model, image, corners, size, value, incremental=True):
    """The model's outputs for copies of one image, copy b with a size x size square (or an
    h x w window, size=(h, w)) painted `value` at top-left corner corners[b].

    Inputs:
    - model: a Sequential; image: (C, H, W); corners: [(top, left)] * B
    - value: a number, (C, 1, 1) (the normalised colour of the square), or (B, C, h, w)
      (each copy's own patch: a baseline image's window)
    - incremental: recompute only the changed windows through the model's leading
      convolutions, ReLUs and max-pools; False runs whole copies through every layer
    Returns: (B, ...) the last layer's outputs, e.g. (B, classes) logits.
    """
    layers = list(model)
    local = 0                                                     # layers run on windows
    while incremental and local < len(layers) and is_local(layers[local]):
        local += 1
    B, C = len(corners), image.shape[0]
    with no_grad(), evaluating():
        before = [Tensor(image[None])]                            # the original's activations
        for layer in layers[:local]:
            before.append(layer(before[-1]))
        before = [a.data[0] for a in before]                      # before[i]: (C_i, H_i, W_i)
        h, w = (size, size) if np.ndim(size) == 0 else size
        values = np.broadcast_to(value, (B, C, h, w)).astype(before[0].dtype)
        y = np.array([top for top, _ in corners])                 # (B,)
        x = np.array([left for _, left in corners])               # (B,)
        for i, layer in enumerate(layers[:local]):
            values, y, x = rerun_layer(layer, before[i], before[i + 1].shape, values, y, x)
        h, w = values.shape[2:]
        copies = np.repeat(before[local][None], B, axis=0)        # (B, C', H', W')
        for b in range(B):
            copies[b, :, y[b]:y[b] + h, x[b]:x[b] + w] = values[b]
        out = Tensor(copies)
        for layer in layers[local:]:
            out = layer(out)
    return out.data
