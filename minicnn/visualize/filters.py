"""Looking at weights directly: first-layer filters and the mlp's hidden units.

A first-layer unit computes a weighted sum of the pixels of one patch, so its weights are
themselves a small RGB picture: the unit responds most to a patch that looks like it
(the lecture's "Gabor-like filters": oriented edges, colour blobs). The same holds for
a hidden unit of the one-hidden-layer mlp, whose 3,072 weights are a whole 32x32 image.

Weights are signed, pixels are not, so a picture of weights maps 0 to grey:

    pixel = 0.5 + 0.5 * w / scale     (per colour channel, clipped to [0, 1])

and the choice of `scale` is a choice of what to compare:
- normalize="per_filter": scale = max |w| of each filter. Every filter uses the full
  contrast, so weak filters' patterns are visible, but their strengths cannot be compared.
- normalize="shared": one scale, max |w| over all filters. Strong and weak filters can be
  compared; weak ones look nearly grey.
The colour shows the strength of the weight from each of the R, G and B inputs (the inputs
are normalised per channel, so a weight is the weight of one standardised channel).
"""
import numpy as np

from minicnn.nn import Conv2d, Linear
from minicnn.visualize.render import mosaic, signed_to_rgb

NORMALIZATIONS = ("per_filter", "shared")


def first_conv_layer(model):
    """The name of the model's first Conv2d layer."""
    for name in model.names:
        if isinstance(model[name], Conv2d):
            return name
    raise ValueError(f"the model has no convolutional layer (layers: {', '.join(model.names)}); "
                     f"for an mlp use hidden_unit_weights")


def conv_filters(model, layer=None):
    """The filters of a conv layer (default: the first), a copy: (F, C, KH, KW)."""
    layer = first_conv_layer(model) if layer is None else layer
    if not isinstance(model[layer], Conv2d):
        raise ValueError(f"layer {layer!r} is a {type(model[layer]).__name__}, not a Conv2d")
    return model[layer].weight.data.copy()


def hidden_unit_weights(model, layer="fc1", image_shape=(3, 32, 32)):
    """The weights of every unit of a fully connected layer that reads the flattened image,
    each reshaped to an image in (C, H, W) order, the order Flatten uses: (units, C, H, W)."""
    if not isinstance(model[layer], Linear):
        raise ValueError(f"layer {layer!r} is a {type(model[layer]).__name__}, not a Linear layer")
    w = model[layer].weight.data                          # (units, C*H*W)
    if w.shape[1] != int(np.prod(image_shape)):
        raise ValueError(f"layer {layer!r} has {w.shape[1]} inputs, not an image of shape "
                         f"{image_shape}; only a layer that reads the pixels is a picture")
    return w.reshape((len(w),) + tuple(image_shape)).copy()


def weights_to_rgb(w, normalize="per_filter"):
    """(F, C, KH, KW) weights -> (F, KH, KW, C) pictures in [0, 1], grey = 0 (see above)."""
    w = np.asarray(w, dtype=np.float64)
    if normalize == "per_filter":
        scale = np.abs(w).reshape(len(w), -1).max(axis=1)[:, None, None, None]  # (F, 1, 1, 1)
        return signed_to_rgb(w / np.maximum(scale, 1e-30), scale=1.0)
    if normalize == "shared":
        return signed_to_rgb(w)
    raise ValueError(f"unknown normalize={normalize!r}; choose one of {', '.join(NORMALIZATIONS)}")


def filter_norms(w):
    """(F,) the L2 norm of each filter, for sorting them strongest first."""
    return np.sqrt((np.asarray(w, dtype=np.float64) ** 2).reshape(len(w), -1).sum(axis=1))


def plot_filters(pictures, title, titles=None, ncols=8, inches=0.45, fontsize=10):
    """A grid of weight pictures (F, KH, KW, 3), e.g. from weights_to_rgb, each `inches` wide.

    The title may have several lines: the figure grows by exactly the height they take, so
    the title never covers the first row's labels.
    """
    fig = mosaic(pictures, labels=titles, ncols=ncols, pixel_inches=inches / pictures.shape[2])
    if title:
        width, height = fig.get_size_inches()
        lines = title.count("\n") + 1
        head = 0.15 + lines * fontsize * 1.25 / 72         # inches: the lines and a margin
        fig.set_size_inches(width, height + head)
        ax = fig.axes[0]                                   # keep the mosaic's size in inches
        ax.set_position((0, 0, 1, height / (height + head)))
        fig.suptitle(title, fontsize=fontsize, y=1 - 0.05 / (height + head), va="top")
    return fig
