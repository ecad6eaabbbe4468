"""The explorer's images: the test split it picks from, and the files people upload.

Uploads are untrusted bytes, so they are checked before any pixel is decoded: at most
MAX_UPLOAD bytes, a format Pillow recognises, and at most MAX_PIXELS pixels, read from the
header alone, so that a small file claiming to be a 100,000 x 100,000 image (a
"decompression bomb") is refused before it can fill the memory.
"""
import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from minicnn import data as datasets
from minicnn.visualize.images import load_image

MAX_UPLOAD = 10 * 1024 * 1024        # bytes; a larger upload gets 413
MAX_PIXELS = 40_000_000              # width * height, below Pillow's own bomb limit (89M)


class UploadError(ValueError):
    """An upload that is not an image we may decode; the message says why."""


def test_images(data=None):
    """The test split the explorer shows: (images (N, 3, 32, 32) uint8, labels (N,) int64).

    With `data` (the --data PATH), CIFAR-10's test split from there. Without, the sample
    embedded in the package, minicnn.data.load_sample(), where this minicnn has one;
    otherwise CIFAR-10 from MINICNN_DATA, the cache or the download (load_cifar10).
    """
    if data is None and hasattr(datasets, "load_sample"):
        dataset = datasets.load_sample()
    else:
        dataset = datasets.load_cifar10(data)
    return dataset.test_x, dataset.test_y


def decode_upload(body):
    """The bytes of an uploaded file -> (3, 32, 32) uint8, as load_image makes it.

    Raises UploadError with a message for anything but a readable image of sane size.
    """
    if not body:
        raise UploadError("the upload is empty; send an image file (PNG, JPEG, GIF, ...)")
    if len(body) > MAX_UPLOAD:
        raise UploadError(f"the upload has {len(body)} bytes; at most {MAX_UPLOAD} are accepted")
    try:
        with Image.open(io.BytesIO(body)) as image:      # reads the header only
            W, H = image.size
            kind = image.format
    except Image.DecompressionBombError as error:
        raise UploadError(f"refused: the image claims more pixels than Pillow allows ({error})")
    except (UnidentifiedImageError, OSError, ValueError):
        raise UploadError("not an image file: Pillow cannot read it (send PNG, JPEG, GIF, "
                          "BMP, WebP or TIFF)") from None
    if W * H > MAX_PIXELS:
        raise UploadError(f"refused as a possible decompression bomb: the {kind} image claims "
                          f"{W} x {H} = {W * H:,} pixels; at most {MAX_PIXELS:,} are decoded")
    try:
        return load_image(io.BytesIO(body))
    except Image.DecompressionBombError as error:       # a later frame larger than the first
        raise UploadError(f"refused as a decompression bomb ({error})") from None
    except ValueError as error:                          # load_image: truncated or broken data
        raise UploadError(f"the {kind} image cannot be decoded: {error}") from None


def png_bytes(rgb):
    """An image as PNG bytes: (H, W, 3) or (H, W) floats in [0, 1], or uint8 of that shape."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        rgb = np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
