"""Checkpoints: a model's weights (and optionally the optimiser's state) plus JSON metadata.

One `.npz` file, readable with `np.load(path, allow_pickle=False)`:

    conv1.weight, conv1.bias, ..., fc2.bias     parameters, PyTorch names and layouts
    optim.velocity.0, ...                       SGD momentum buffers (training checkpoints)
    meta.json                                   a string: architecture, classes, mean, std,
                                                epoch, metrics, the command that made it

Files are written with minicnn.files.atomic_write (to a temporary name beside the
target, flushed to the disk, then renamed into place), so a crash or a kill never
leaves a half-written checkpoint. The architecture is rebuilt by its name in
minicnn.architectures.MODELS; minicnn.models builds on this module, not the other
way round.
"""
import json
from pathlib import Path

import numpy as np

from minicnn.architectures import MODELS
from minicnn.files import atomic_write

META_KEY = "meta.json"
OPTIM_PREFIX = "optim."


def save_checkpoint(path, model, meta, optimizer=None):
    """Write the model's parameters, the optimiser's state (if given) and `meta` to `path`."""
    arrays = dict(model.state_dict())
    if optimizer is not None:
        arrays.update({OPTIM_PREFIX + k: v for k, v in optimizer.state_dict().items()})
    arrays[META_KEY] = np.array(json.dumps(meta))
    # an open file, not the name: np.savez would add ".npz" to the temporary name
    with atomic_write(path, fsync=True) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)


def read_checkpoint(path):
    """-> (params {name: array}, optimiser state {name: array}, meta dict)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"checkpoint {path} is not a readable .npz file: {error}") from None
    if META_KEY not in arrays:
        raise ValueError(f"checkpoint {path} has no {META_KEY} entry")
    meta = json.loads(str(arrays.pop(META_KEY)))
    optim = {k[len(OPTIM_PREFIX):]: v for k, v in arrays.items() if k.startswith(OPTIM_PREFIX)}
    params = {k: v for k, v in arrays.items() if not k.startswith(OPTIM_PREFIX)}
    return params, optim, meta


def build_model(meta, path="checkpoint"):
    """A fresh network of the architecture `meta` names (random weights)."""
    arch = meta.get("architecture")
    if arch not in MODELS:
        raise ValueError(f"{path}: unknown architecture {arch!r}; known: {', '.join(MODELS)}")
    return MODELS[arch](**meta.get("architecture_args", {}))


def load_model(path):
    """The model a checkpoint describes, with its weights and `model.meta`.
    Names and shapes are checked against the architecture (load_state_dict
    says exactly what does not match)."""
    params, _, meta = read_checkpoint(path)
    model = build_model(meta, path)
    try:
        model.load_state_dict(params)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    model.meta = meta
    return model
