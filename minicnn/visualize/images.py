"""Images in and out of the network: files, normalisation, display, class names.

The network sees normalised float32 images, (x / 255 - mean) / std per channel, with the
mean and std of the training set stored in `model.meta`. People see RGB pixels in [0, 1].
This module converts between the two, reads any image file, and turns a class name such
as "cat" into the index of its logit.

    x = load_image("kitten.jpg")                # (3, 32, 32) uint8
    mean, std = input_stats(model)              # (3,), (3,) float32
    xin = to_input(x[None], mean, std)          # (1, 3, 32, 32) float32, what the net eats
    rgb = to_rgb(xin, mean, std)                # (1, 32, 32, 3) in [0, 1], what matplotlib shows
"""
import numbers

import numpy as np
from PIL import Image, UnidentifiedImageError

from minicnn.data import CLASSES, normalize

IMAGE_SIZE = 32  # CIFAR-10 images are 32x32; every model here expects that


def load_image(path, size=IMAGE_SIZE):
    """Read any image file Pillow can open and make it a size x size RGB image.

    A non-square image is first cropped to the largest centred square (so a cat stays
    cat-shaped), then resized with Pillow's antialiased bicubic filter. Grey, palette and
    RGBA images become RGB (alpha is dropped).

    Returns: (3, size, size) uint8, channels first like the dataset.

    Anything that keeps the file from becoming an image (missing, a folder, not allowed, not
    an image, broken or truncated data, more pixels than Pillow's decompression-bomb limit)
    raises ValueError with one line naming the file and the reason.
    """
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
    except FileNotFoundError:
        raise ValueError(f"cannot read image {str(path)!r}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"cannot read image {str(path)!r}: it is a folder") from None
    except PermissionError:
        raise ValueError(f"cannot read image {str(path)!r}: permission denied") from None
    except Image.DecompressionBombError as error:   # Pillow refuses > 2 * MAX_IMAGE_PIXELS
        raise ValueError(f"cannot read image {str(path)!r}: refused as a possible "
                         f"decompression bomb ({error})") from None
    except UnidentifiedImageError:
        raise ValueError(f"cannot read image {str(path)!r}: not an image file Pillow can "
                         f"open (PNG, JPEG, GIF, BMP, WebP, TIFF, ...)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:   # broken or truncated data
        raise ValueError(f"cannot read image {str(path)!r}: the image data is broken or "
                         f"truncated ({type(error).__name__}: {error})") from None
    W, H = image.size
    side = min(W, H)
    left, top = (W - side) // 2, (H - side) // 2
    image = image.crop((left, top, left + side, top + side))
    image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1).copy()  # (H, W, 3) -> (3, H, W)


def input_stats(model):
    """The per-channel (mean, std) the model was trained with, as (C,) float32 arrays."""
    meta = getattr(model, "meta", None)
    if not meta or "mean" not in meta or "std" not in meta:
        raise ValueError("this model has no .meta with the training mean and std; load it with "
                         "minicnn.models.open_model or pass mean= and std= explicitly")
    return np.float32(meta["mean"]), np.float32(meta["std"])


def model_classes(model):
    """The class names of a model's logits: model.meta["classes"], else CIFAR-10's."""
    meta = getattr(model, "meta", None) or {}
    return tuple(meta.get("classes", CLASSES))


def to_input(x_uint8, mean, std):
    """(N, C, H, W) uint8 pixels -> (N, C, H, W) float32 (x / 255 - mean) / std."""
    return normalize(x_uint8, mean, std)


def to_rgb(x, mean, std):
    """Undo the normalisation for display: (N, C, H, W) or (C, H, W) network input ->
    (N, H, W, C) or (H, W, C) floats in [0, 1] (values outside are clipped)."""
    x = np.asarray(x, dtype=np.float64)
    C = x.shape[-3]
    mean = np.asarray(mean, dtype=np.float64).reshape(C, 1, 1)  # (C, 1, 1)
    std = np.asarray(std, dtype=np.float64).reshape(C, 1, 1)
    pixels = np.clip(x * std + mean, 0.0, 1.0)                  # (..., C, H, W)
    return np.moveaxis(pixels, -3, -1)                          # (..., H, W, C)


def pixel_range(mean, std):
    """The normalised values of pixels 0 and 1: the valid input range per channel.

    Returns: lo, hi, each (C, 1, 1) float32, with lo = -mean / std and hi = (1 - mean) / std.
    """
    mean = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)
    return -mean / std, (1 - mean) / std


def class_index(classes, target):
    """The logit index of a class given by name ("cat") or by index (3).

    Raises ValueError naming the classes when the name is unknown or the index out of range.
    """
    classes = list(classes)
    if isinstance(target, str):
        if target in classes:
            return classes.index(target)
        if target.isdigit():
            return class_index(classes, int(target))
        raise ValueError(f"{target!r} is not a class; classes are: {', '.join(classes)}")
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        if 0 <= target < len(classes):
            return int(target)
        raise ValueError(f"class index {target} is outside 0..{len(classes) - 1} "
                         f"({', '.join(classes)})")
    raise ValueError(f"a class must be a name or an index, got {target!r}")

