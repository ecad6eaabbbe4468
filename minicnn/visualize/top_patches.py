"""The images that excite a unit most: top-9 patches (Zeiler & Fergus 2014).

"Just try lots of images in a dataset, and see which ones activate the neuron the most":
run a dataset through the network once and keep, for every channel of a layer, the 9
images whose activation is highest. An image counts once per channel, with its strongest
response: the maximum of the channel over all positions, and where it was (y, x). The
unit at (y, x) sees only its receptive field, so that is the part of the image to show.

Streaming keeps memory independent of the dataset size: per channel, only the best k so
far are kept. Each batch adds B candidates per channel, and the k best of the k + B are
kept. Ties are broken deterministically: equal activations rank by image index (lower
first), and inside an image the first maximum in row-major order is its location.
"""
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from minicnn.nn import evaluating
from minicnn.tensor import Tensor, no_grad
from minicnn.visualize.images import input_stats, to_input
from minicnn.visualize.receptive_field import receptive_field, receptive_field_size
from minicnn.visualize.render import mosaic, resize_nearest, tile


class Top(NamedTuple):
    """The top-k images of every channel of one layer, best first (all (C, k) arrays)."""
    index: np.ndarray     # image index into the dataset, int64
    value: np.ndarray     # the activation: the image's maximum over positions
    y: np.ndarray         # where that maximum is, in the layer's output (0 for linear layers)
    x: np.ndarray


class RunningTopK:
    """The best k (value, image index, position) per channel seen so far."""

    def __init__(self, C, k):
        self.k = k
        self.value = np.full((C, k), -np.inf)
        self.index = np.full((C, k), -1, dtype=np.int64)
        self.pos = np.zeros((C, k), dtype=np.int64)      # flat position y * OW + x
        self.seen = 0

    def update(self, act):
        """act: (B, C, OH, OW) one batch's activations, for images seen, ..., seen + B - 1."""
        B, C = act.shape[:2]
        flat = act.reshape(B, C, -1)                      # (B, C, OH*OW)
        pos = flat.argmax(axis=2)                         # (B, C) the first maximum
        value = np.take_along_axis(flat, pos[..., None], axis=2)[..., 0]   # (B, C)
        index = np.broadcast_to(self.seen + np.arange(B), (C, B))          # (C, B)
        cand_value = np.concatenate([self.value, value.T], axis=1)         # (C, k + B)
        cand_index = np.concatenate([self.index, index], axis=1)
        cand_pos = np.concatenate([self.pos, pos.T], axis=1)
        # the last key sorts first: highest value, then lowest image index. Sorting all k + B
        # candidates is cheap (B ~ 250) and, unlike np.argpartition, settles ties the same way
        # whatever the batch size.
        best = np.lexsort((cand_index, -cand_value), axis=1)[:, :self.k]   # (C, k)
        self.value = np.take_along_axis(cand_value, best, axis=1)
        self.index = np.take_along_axis(cand_index, best, axis=1)
        self.pos = np.take_along_axis(cand_pos, best, axis=1)
        self.seen += B

    def result(self, OW):
        k = min(self.k, self.seen)
        y, x = np.divmod(self.pos[:, :k], OW)
        return Top(self.index[:, :k].copy(), self.value[:, :k].copy(), y, x)


def _batches(images, batch_size):
    """Uint8 batches from an (N, C, H, W) array, or from an iterable of such batches."""
    if isinstance(images, np.ndarray):
        for start in range(0, len(images), batch_size):
            yield images[start:start + batch_size]
    else:
        yield from images


def top_activations(model, images, layers, k=9, batch_size=250, mean=None, std=None,
                    progress=False):
    """For every channel of each layer, the k images that activate it most.

    Inputs:
    - model: a Sequential; layers: a layer name or a list of names (one pass serves all)
    - images: (N, 3, H, W) uint8 array, or an iterable of uint8 batches (then batch_size is
      theirs); images are numbered in the order they arrive
    - k: how many images to keep per channel
    - mean, std: normalisation; default the model's (model.meta)
    Returns: {layer: Top} (a single Top when `layers` is one name); with fewer than k images
    in all, every image is ranked.
    """
    single = isinstance(layers, str)
    layers = [layers] if single else list(layers)
    for layer in layers:
        model.check_layer(layer)
    if mean is None or std is None:
        mean, std = input_stats(model)
    running, widths = {}, {}
    total = len(images) if isinstance(images, np.ndarray) else None
    with no_grad(), evaluating(), tqdm(total=total, unit=" images", desc="top-k", disable=not progress) as bar:
        for xb in _batches(images, batch_size):
            acts = model.activations(Tensor(to_input(xb, mean, std)), layers)
            for layer, act in acts.items():
                a = act.data if act.ndim == 4 else act.data[:, :, None, None]   # (B, C, OH, OW)
                if layer not in running:
                    running[layer], widths[layer] = RunningTopK(a.shape[1], k), a.shape[3]
                running[layer].update(a)
            bar.update(len(xb))
    if not running:
        raise ValueError("top_activations: no images")
    tops = {layer: running[layer].result(widths[layer]) for layer in layers}
    return tops[layers[0]] if single else tops


def crop_top(model, images, top, layer, channels=None):
    """The receptive-field crops of a layer's top images.

    Inputs:
    - images: (N, 3, H, W) uint8 (the array top_activations saw); top: its Top for `layer`
    - channels: which channels (default all)
    Returns: crops[i][j], the (3, h, w) uint8 crop of the j-th best image of channels[i]
    (smaller than the receptive field where the field is clipped at the border).
    """
    channels = range(len(top.index)) if channels is None else channels
    H, W = images.shape[2:]
    crops = []
    for c in channels:
        row = []
        for n, y, x in zip(top.index[c], top.y[c], top.x[c]):
            y0, y1, x0, x1 = receptive_field(model, layer, int(y), int(x), (H, W))
            row.append(images[n, :, y0:y1, x0:x1])
        crops.append(row)
    return crops


def common_size(model, layer, images_hw=(32, 32)):
    """The side in pixels at which to show a layer's crops: its receptive field size."""
    size = receptive_field_size(model, layer)
    return max(size) if size is not None else max(images_hw)


def patch_block(crops, size, pad=1):
    """Up to 9 crops (3, h, w) uint8, each resized (nearest) to size x size, as one 3x3
    mosaic (rows of 3, best first): an (3 * size + 2 * pad, ...) RGB array in [0, 1]."""
    pictures = [resize_nearest(c.transpose(1, 2, 0) / 255.0, size) for c in crops]
    pictures += [np.ones((size, size, 3))] * (9 - len(pictures))      # fewer than 9 images
    return tile(np.stack(pictures[:9]), ncols=3, pad=pad)


def plot_top_patches(crops, channels, size, title, ncols=8, inches=1.1):
    """One 3x3 block of crops per channel (each block `inches` wide), labelled with the
    channel number."""
    blocks = np.stack([patch_block(row, size) for row in crops])
    return mosaic(blocks, labels=[f"ch {c}" for c in channels], ncols=ncols, title=title,
                  pixel_inches=inches / blocks.shape[2])


def plot_unit_gallery(images, crops, channels, size, title, ncols=8, inches=1.8):
    """Per channel: its optimised image (H, W, 3) in [0, 1] (e.g. from class_model) beside
    its 3x3 block of top-9 crops, the pair `inches` wide and labelled with the channel."""
    blocks = [patch_block(row, size) for row in crops]
    side = blocks[0].shape[0]
    gap = np.ones((side, 2, 3))
    pairs = np.stack([np.concatenate([resize_nearest(np.clip(image, 0, 1), side), gap, block],
                                     axis=1) for image, block in zip(images, blocks)])
    return mosaic(pairs, labels=[f"ch {c}" for c in channels], ncols=ncols, title=title,
                  pixel_inches=inches / pairs.shape[2])
