"""Checkpoints: a model's weights (and optionally the optimiser's state) plus JSON metadata.

Two formats, each a dictionary of named arrays and the metadata; the writer is chosen by the
file name's suffix, the reader by the file's first bytes (whatever its name):

- `.npz` (the default, what `minicnn train` writes), readable with
  `np.load(path, allow_pickle=False)`:

      conv1.weight, conv1.bias, ..., fc2.bias     parameters, PyTorch names and layouts
      optim.velocity.0, ...                       SGD momentum buffers (training checkpoints)
      meta.json                                   a string: architecture, classes, mean, std,
                                                  epoch, metrics, the command that made it

- `.safetensors`, the format of the PyTorch ecosystem (no pickle either): the same arrays
  as its tensors, and the same JSON string as the entry "meta.json" of the file's metadata.
  Read and written with the safetensors package's NumPy API (safetensors.numpy), an optional
  dependency: pip install ".[safetensors]". PyTorch writes the same file with
  safetensors.torch.save_file(net.state_dict(), path, metadata={"meta.json": json.dumps(meta)}).

The metadata needs at least "architecture" (a name in minicnn.architectures.MODELS, and
optionally "architecture_args"); the visualisations also read "classes", "mean" and "std".
Nothing is ever unpickled: a file that is neither format is refused with a message saying
what it seems to be.

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
SUFFIXES = (".npz", ".safetensors")
WHAT_A_CHECKPOINT_IS = ("a minicnn checkpoint is an .npz file (a zip of NumPy arrays and "
                        "meta.json, as minicnn train writes it) or a .safetensors file with "
                        "meta.json in its metadata")
# first bytes -> what a file that is not a checkpoint seems to be, for the error message
LOOKS_LIKE = (
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\x93NUMPY", "a single NumPy array (.npy), with no metadata"),
    (b"\x80", "a Python pickle, which minicnn never loads"),
)


def save_checkpoint(path, model, meta, optimizer=None, dtype=None):
    """Write the model's parameters, the optimiser's state (if given) and `meta` to `path`:
    a .safetensors file if the name ends so, else an .npz file. dtype: store the floating
    arrays so (np.float16 halves the file; loading casts them back to the model's dtype)."""
    arrays = dict(model.state_dict())
    if dtype is not None:
        arrays = {k: v.astype(dtype) if np.issubdtype(v.dtype, np.floating) else v
                  for k, v in arrays.items()}
    if optimizer is not None:
        arrays.update({OPTIM_PREFIX + k: v for k, v in optimizer.state_dict().items()})
    if Path(path).suffix == ".safetensors":
        st = _safetensors(f"writing {path}")
        arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        with atomic_write(path, fsync=True) as tmp:
            st.save_file(arrays, tmp, metadata={META_KEY: json.dumps(meta)})
        return
    arrays[META_KEY] = np.array(json.dumps(meta))
    # an open file, not the name: np.savez would add ".npz" to the temporary name
    with atomic_write(path, fsync=True) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)


def checkpoint_format(path):
    """'npz' or 'safetensors', from the file's first bytes; ValueError for anything else,
    saying what the file seems to be."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):                # a zip archive
        return "npz"
    # safetensors: an 8-byte little-endian header length N, then N bytes of JSON
    size = path.stat().st_size
    if len(head) > 8 and 2 <= int.from_bytes(head[:8], "little") <= size - 8 and head[8:9] == b"{":
        return "safetensors"
    looks = next((what for magic, what in LOOKS_LIKE if head.startswith(magic)), None)
    if looks is None:
        looks = "an empty file" if size == 0 else "neither a zip archive nor a safetensors file"
    raise ValueError(f"{path} is not a minicnn checkpoint: it is {looks}; {WHAT_A_CHECKPOINT_IS}")


def read_checkpoint(path):
    """-> (params {name: array}, optimiser state {name: array}, meta dict), from either format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if checkpoint_format(path) == "npz":
        arrays, meta_text = _read_npz(path)
    else:
        arrays, meta_text = _read_safetensors(path)
    try:
        meta = json.loads(meta_text)
    except ValueError as error:
        raise ValueError(f"checkpoint {path}: its {META_KEY} is not valid JSON ({error})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"checkpoint {path}: its {META_KEY} is a {type(meta).__name__}, "
                         f"not a JSON object")
    optim = {k[len(OPTIM_PREFIX):]: v for k, v in arrays.items() if k.startswith(OPTIM_PREFIX)}
    params = {k: v for k, v in arrays.items() if not k.startswith(OPTIM_PREFIX)}
    return params, optim, meta


def _read_npz(path):
    """The arrays of an .npz checkpoint and its meta.json text. Every entry must be a plain
    (non-object) NumPy array: nothing is unpickled."""
    import zipfile                       # here, not at the top: np.load imports it anyway
    try:
        with np.load(path, allow_pickle=False) as f:
            members = f.zip.namelist()
            if any(name.endswith("data.pkl") for name in members):
                raise ValueError(f"{path} is not a minicnn checkpoint: it is a PyTorch file "
                                 f"saved with torch.save (a zip with a pickle inside), which "
                                 f"minicnn never loads; save the state_dict with "
                                 f"safetensors.torch.save_file instead (README: Explain a "
                                 f"model trained in PyTorch)")
            others = [name for name in members if not name.endswith(".npy")]
            if others:
                raise ValueError(f"{path} is not a minicnn checkpoint: it is a zip archive "
                                 f"holding {others[0]!r}, not only NumPy arrays; "
                                 f"{WHAT_A_CHECKPOINT_IS}")
            arrays = {k: _npz_entry(f, k, path) for k in f.files}
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"checkpoint {path} is a damaged or truncated .npz file "
                         f"({type(error).__name__}: {error})") from None
    if META_KEY not in arrays:
        raise ValueError(f"checkpoint {path} has no {META_KEY} entry, so minicnn cannot tell "
                         f"which network it holds; {WHAT_A_CHECKPOINT_IS}")
    return arrays, str(arrays.pop(META_KEY))


def _npz_entry(f, key, path):
    try:
        return f[key]
    except ValueError as error:
        if "pickle" in str(error):       # numpy's words for an object array; never offer that
            raise ValueError(f"checkpoint {path}: entry {key!r} holds Python objects, not "
                             f"numbers; minicnn loads only numeric arrays") from None
        raise ValueError(f"checkpoint {path}: entry {key!r} is not a readable NumPy array "
                         f"({error})") from None


def _safetensors(purpose):
    """safetensors.numpy, imported only when a .safetensors file is read or written."""
    from minicnn.extras import require
    return require("safetensors.numpy", extra="safetensors", purpose=purpose)


def _read_safetensors(path):
    """The tensors of a .safetensors checkpoint as NumPy arrays, and its meta.json text."""
    st = _safetensors(f"reading {path}")
    try:
        with st.safe_open(str(path), framework="np") as f:
            metadata = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except TypeError as error:                    # a dtype NumPy lacks, e.g. bfloat16
        raise ValueError(f"checkpoint {path}: a tensor's type has no NumPy equivalent ({error}); "
                         f"convert the weights to float32 before saving them") from None
    except Exception as error:                    # safetensors' SafetensorError, OSError, ...
        raise ValueError(f"checkpoint {path} is not a readable .safetensors file "
                         f"({type(error).__name__}: {error})") from None
    if META_KEY not in metadata:
        raise ValueError(
            f"checkpoint {path} has no {META_KEY!r} in its metadata, so minicnn cannot tell "
            f"which network it holds: save it with metadata={{'{META_KEY}': json.dumps(meta)}}, "
            f"where meta holds at least the architecture ({', '.join(MODELS)}) and the "
            f"classes, mean and std it was trained with")
    return arrays, metadata[META_KEY]


def build_model(meta, path="checkpoint"):
    """A fresh network of the architecture `meta` names (random weights)."""
    arch, args = meta.get("architecture"), meta.get("architecture_args", {})
    if not isinstance(arch, str) or arch not in MODELS:
        raise ValueError(f"{path}: unknown architecture {arch!r}; known: {', '.join(MODELS)}")
    try:
        return MODELS[arch](**args)
    except TypeError as error:                   # not a dict, or arguments arch does not take
        raise ValueError(f"{path}: architecture_args {args!r} do not fit {arch} ({error})") from None


def load_model(path):
    """The model a checkpoint describes, with its weights and `model.meta`, in eval mode
    (BatchNorm uses its running statistics, dropout is off), ready to be explained or
    evaluated; call model.train() to train it further. Names and shapes are checked
    against the architecture (load_state_dict says exactly what does not match)."""
    params, _, meta = read_checkpoint(path)
    model = build_model(meta, path)
    try:
        model.load_state_dict(params)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    model.meta = meta
    return model.eval()
