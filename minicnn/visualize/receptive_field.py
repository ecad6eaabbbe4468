"""Receptive fields: which input pixels can a unit see?

A unit at (y, x) of a conv or pool layer with kernel K, stride S and padding P reads rows
y*S - P .. y*S - P + K - 1 of the layer below. Walking down from the unit to the image, one
layer at a time, turns a range of rows [y0, y1) (Python slice bounds) into

    y0 <- y0 * S - P                  first row the first unit reads
    y1 <- (y1 - 1) * S - P + K        one past the last row the last unit reads

and the same for columns, clipped to the rows that exist in the layer below (padding
rows are not units, so they see nothing further down). Layers without spatial extent
(ReLU) leave the range alone; a fully connected layer (or a Flatten before it) sees every
pixel.

A residual block adds its paths, so a unit after it sees the union of what they see: the
largest field over the paths (the shortcut's 1 pixel or 1x1 convolution lies inside the
two 3x3 convolutions' 5x5).

The lecture's "Aside: relevant patch?" slide: for reference_net a conv1 unit sees 3x3
pixels, conv2 5x5, conv3 10x10, conv4 14x14, pool2 16x16, and fc1 the whole 32x32 image.

plot_receptive_fields draws such regions as boxes on the input's pixel grid.
"""
import numbers

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from minicnn.nn import AdaptiveAvgPool2d, AvgPool2d, BasicBlock, Conv2d, Flatten, Linear, MaxPool2d
from minicnn.ops.checks import conv_output_size

IMAGE_HW = (32, 32)


def _pair(v):
    return (v, v) if isinstance(v, numbers.Integral) else tuple(v)


def layer_geometry(layer):
    """(kernel, stride, padding) as (KH, KW), (SH, SW), (PH, PW) pairs for a conv or pool
    layer; None for a layer that keeps positions as they are (ReLU, BatchNorm, Dropout);
    "dense" for a layer that mixes all positions (Flatten, Linear, global average pooling);
    "paths" for a residual block, whose paths (BasicBlock.paths()) are walked one by one."""
    if isinstance(layer, Conv2d):
        return _pair(layer.kernel_size), _pair(layer.stride), _pair(layer.padding)
    if isinstance(layer, MaxPool2d):
        return _pair(layer.kernel_size), _pair(layer.stride), (0, 0)
    if isinstance(layer, AvgPool2d):
        return _pair(layer.kernel_size), _pair(layer.stride), _pair(layer.padding)
    if isinstance(layer, (Flatten, Linear, AdaptiveAvgPool2d)):
        return "dense"
    if isinstance(layer, BasicBlock):
        return "paths"
    return None


def _layer_sizes(layers, H, W):
    """[(H, W) entering each of `layers`, then the last one's output (H, W)]; None once a
    layer mixes all positions."""
    sizes = [(H, W)]
    for layer in layers:
        geometry = layer_geometry(layer)
        if geometry == "dense":
            return None
        if geometry == "paths":               # every path ends at the add: the same size
            H, W = _layer_sizes(layer.paths()[0], H, W)[-1]
        elif geometry is not None:
            (KH, KW), (SH, SW), (PH, PW) = geometry
            H, W = conv_output_size(H, KH, SH, PH), conv_output_size(W, KW, SW, PW)
        sizes.append((H, W))
    return sizes


def _down(layers, sizes, box, clip):
    """The input region (y0, y1, x0, x1) of `layers` that the output region `box` reads;
    sizes: _layer_sizes of layers. clip: keep to the rows that exist at every layer.

    Through a residual block the region is the union over its paths (the widest wins: an
    add reads both), each path walked down with its own layers."""
    y0, y1, x0, x1 = box
    for layer, (H, W) in zip(reversed(layers), reversed(sizes[:-1])):
        geometry = layer_geometry(layer)
        if geometry == "paths":
            regions = [_down(path, _layer_sizes(path, H, W), (y0, y1, x0, x1), clip)
                       for path in layer.paths()]
            y0, x0 = min(r[0] for r in regions), min(r[2] for r in regions)
            y1, x1 = max(r[1] for r in regions), max(r[3] for r in regions)
            continue
        if geometry is None:
            continue
        (KH, KW), (SH, SW), (PH, PW) = geometry
        if not clip:                          # a unit far from the border: padding never bites
            PH = PW = 0
        y0, y1 = y0 * SH - PH, (y1 - 1) * SH - PH + KH
        x0, x1 = x0 * SW - PW, (x1 - 1) * SW - PW + KW
        if clip:
            y0, y1, x0, x1 = max(y0, 0), min(y1, H), max(x0, 0), min(x1, W)
            if y0 >= y1 or x0 >= x1:          # it reads padding only: it sees no pixel
                return 0, 0, 0, 0
    return y0, y1, x0, x1


def _sizes(model, layer, input_hw):
    """[(H, W) entering each layer up to `layer`, then its output's (H, W)]; None once a
    fully connected layer has removed the positions."""
    model.check_layer(layer)
    layers = [model[name] for name in model.names[:model.names.index(layer) + 1]]
    return _layer_sizes(layers, *input_hw)


def output_size(model, layer, input_hw=IMAGE_HW):
    """(OH, OW) of `layer`'s output for an input_hw image, from the layer specs alone;
    None once a fully connected layer has removed the positions."""
    sizes = _sizes(model, layer, input_hw)
    return None if sizes is None else sizes[-1]


def receptive_field(model, layer, y=0, x=0, input_hw=IMAGE_HW):
    """The input region the unit at (y, x) of `layer` can see.

    Inputs:
    - model: a Sequential; layer: the name of one of its layers
    - y, x: the unit's position in the layer's output (ignored after a fully connected layer)
    - input_hw: (H, W) of the input image
    Returns: (y0, y1, x0, x1), Python slice bounds: image[:, y0:y1, x0:x1] is the region;
    (0, 0, 0, 0) for a unit that reads only zero padding (it sees no pixel at all).

    The range is clipped at every layer, not only at the image: a window that overhangs
    into a lower layer's zero padding reads no unit there, so nothing below it either.
    Through a residual block it is the union of what its paths see (for BasicBlock: the
    two 3x3 convolutions' field; the shortcut sees less), exact, not an estimate.
    """
    sizes = _sizes(model, layer, input_hw)
    if sizes is None:
        return 0, input_hw[0], 0, input_hw[1]
    OH, OW = sizes[-1]
    if not (0 <= y < OH and 0 <= x < OW):
        raise ValueError(f"position (y={y}, x={x}) is outside layer {layer!r}, "
                         f"whose output is {OH}x{OW}")
    layers = [model[name] for name in model.names[:model.names.index(layer) + 1]]
    return _down(layers, sizes, (y, y + 1, x, x + 1), clip=True)


def receptive_field_size(model, layer):
    """(height, width) of the unclipped receptive field, i.e. of a unit far from the border;
    None after a fully connected layer."""
    model.check_layer(layer)
    layers = [model[name] for name in model.names[:model.names.index(layer) + 1]]
    if any(layer_geometry(m) == "dense" for m in layers):
        return None
    sizes = [(0, 0)] * (len(layers) + 1)                  # not read without clipping
    y0, y1, x0, x1 = _down(layers, sizes, (0, 1, 0, 1), clip=False)
    return y1 - y0, x1 - x0


def centre_unit(model, layer, input_hw=IMAGE_HW):
    """(y, x) of the unit of `layer` whose receptive field is centred closest to the
    image's centre (the first such unit on a tie); `layer` must keep positions."""
    size = output_size(model, layer, input_hw)
    if size is None:
        raise ValueError(f"layer {layer!r} is fully connected: its units have no position")
    OH, OW = size

    def centre_offset(y, x):
        y0, y1, x0, x1 = receptive_field(model, layer, y, x, input_hw)
        return abs((y0 + y1) / 2 - input_hw[0] / 2) + abs((x0 + x1) / 2 - input_hw[1] / 2)
    return min(((y, x) for y in range(OH) for x in range(OW)), key=lambda yx: centre_offset(*yx))


COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"]


def plot_receptive_fields(boxes, labels, image=None, input_hw=IMAGE_HW,
                          title="input pixels seen by one unit near the centre"):
    """Input regions as coloured boxes on the pixel grid, one legend entry each.

    Inputs:
    - boxes: (y0, y1, x0, x1) slice bounds per region, e.g. from receptive_field
    - labels: the legend text of each box
    - image: (H, W, 3) in [0, 1] to draw the boxes on (default: a light grey grid of
      input_hw pixels, one cell per pixel)
    Returns: a matplotlib Figure
    """
    if len(boxes) != len(labels):
        raise ValueError(f"plot_receptive_fields: {len(boxes)} boxes but {len(labels)} labels")
    H, W = input_hw if image is None else np.shape(image)[:2]
    fig = Figure(figsize=(4.6, 3.6))
    ax = fig.subplots()
    ax.imshow(np.full((H, W, 3), 0.96) if image is None else image,
              extent=(-0.5, W - 0.5, H - 0.5, -0.5), interpolation="nearest")
    if image is None:
        ax.set_xticks(np.arange(-0.5, W, 1), minor=True)           # one cell per pixel
        ax.set_yticks(np.arange(-0.5, H, 1), minor=True)
        ax.grid(which="minor", color="0.85", lw=0.4)
        ax.tick_params(which="minor", length=0)
    for i, ((y0, y1, x0, x1), label) in enumerate(zip(boxes, labels)):
        # pixel p covers p - 0.5 .. p + 0.5, so the box's corner sits half a pixel out
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=2,
                               edgecolor=COLOURS[i % len(COLOURS)], label=label))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
