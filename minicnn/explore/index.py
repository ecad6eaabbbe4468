"""The top-9 index: for every channel of every layer, the test images that excite it most.

One pass over the test images (visualize.top_activations, about 5 s for 10,000 images on
2 cores) serves every unit the explorer can show. The result depends only on the weights and
the images, so it is saved once per (weights, images) pair, under a name that hashes both:

    <cache>/explore/top9-<sha1 of the weights and the images, 16 hex digits>.npz

written atomically (a temporary name, then os.replace), so a second start reads it back in
a fraction of a second and two servers starting at once never see half a file.
"""
import hashlib
import json
from pathlib import Path

import numpy as np

from minicnn.data.files import atomic_write, default_cache_dir
from minicnn.visualize import Top, top_activations

FORMAT = "1"     # bump when what is stored changes, so old files are not reused


def index_key(model, images, layers, k):
    """16 hex digits naming the index of these weights, images, layers and k."""
    h = hashlib.sha1(f"explore top-k format {FORMAT}\0k={k}\0{','.join(layers)}\0".encode())
    for name, w in model.state_dict().items():
        h.update(f"{name}{w.shape}{w.dtype}".encode())
        h.update(np.ascontiguousarray(w).tobytes())
    h.update(f"images{images.shape}{images.dtype}".encode())
    h.update(np.ascontiguousarray(images).tobytes())
    return h.hexdigest()[:16]


def top9_index(model, images, layers, k=9, cache_dir=None, progress=False):
    """{layer: Top} for the given layers, read from the cache or computed and saved there.

    Inputs:
    - model: a Sequential; images: (N, 3, 32, 32) uint8; layers: layer names
    - k: images kept per channel; cache_dir: default minicnn's cache folder
    Returns: ({layer: Top}, path of the cache file, True if it was read from the cache)
    """
    layers = list(layers)
    folder = Path(default_cache_dir() if cache_dir is None else cache_dir) / "explore"
    path = folder / f"top9-{index_key(model, images, layers, k)}.npz"
    tops = _read(path, layers)
    if tops is not None:
        return tops, path, True
    tops = top_activations(model, images, layers, k=k, progress=progress)
    arrays = {f"{layer}.{field}": getattr(top, field)
              for layer, top in tops.items() for field in Top._fields}
    arrays["meta.json"] = np.array(json.dumps({"layers": layers, "k": k, "N": len(images)}))
    try:
        with atomic_write(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
    except OSError as error:                 # a read-only cache costs speed, not correctness
        print(f"minicnn explore: could not cache the top-9 index in {path} ({error})")
    return tops, path, False


def _read(path, layers):
    """The cached index, or None when there is no complete, readable file."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return {layer: Top(*(f[f"{layer}.{field}"] for field in Top._fields))
                    for layer in layers}
    except (OSError, ValueError, KeyError) as error:
        print(f"minicnn explore: ignoring the unreadable index {path} ({error})")
        return None
