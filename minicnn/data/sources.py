"""Where CIFAR-10 comes from: choosing a source, caching the decoded arrays, downloading.

resolve_source picks the first of:
1. the `data` argument (the command line's --data PATH),
2. the environment variable MINICNN_DATA,
3. the official archive already downloaded into the cache folder, <cache>/cifar-10-binary.tar.gz,
4. nothing (None): load_cifar10 then downloads the official archive into the cache folder,
   from CIFAR10_URL, or from the mirror MINICNN_CIFAR10_URL names (any URL urllib opens,
   file:// too; the file must be the official archive: its md5 is checked).

Decoding 60,000 JPEGs takes seconds, so every archive and image folder is decoded once and its
arrays are saved as .npy files in <cache>/decoded/<source name>-<fingerprint>/. The fingerprint
hashes the source's absolute path, size and modification time (for a directory: of every file
in it), so editing or replacing the source leads to a fresh cache entry, never to stale arrays.
Only a directory holding the official .bin files is read directly: its bytes already are arrays.
"""
import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from minicnn.data import files
from minicnn.data.files import DataError, default_cache_dir
from minicnn.data.formats import (
    CIFAR10,
    IMAGE_SHAPE,
    Directory,
    TarArchive,
    is_binary_release,
    read_binary_release,
    read_image_folder,
)
from minicnn.files import atomic_write

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
URL_VARIABLE = "MINICNN_CIFAR10_URL"   # a mirror of the official archive, instead of CIFAR10_URL
ARCHIVE_NAME = "cifar-10-binary.tar.gz"
CACHE_FORMAT = "1"  # bump when decoding changes, so caches written by older code are not reused
CACHE_KEYS = ("train_x", "train_y", "test_x", "test_y", "classes")  # classes last: see _save_cache


def resolve_source(data=None, cache_dir=None) -> Path | None:
    """The path to load CIFAR-10 from, or None meaning "download the official archive".

    Inputs:
    - data: a path given explicitly (wins over everything else)
    - cache_dir: the cache folder; default_cache_dir() if None
    A path given explicitly or through MINICNN_DATA must exist, else DataError.
    """
    path, _ = _resolve(data, cache_dir)
    return path


def _resolve(data, cache_dir):
    """(path or None, a few words on where the path came from)."""
    if data is not None:
        return _existing(data, what="the data argument"), "data argument"
    env = os.environ.get("MINICNN_DATA")
    if env:
        return _existing(env, what="MINICNN_DATA"), "MINICNN_DATA"
    archive = _cache_dir(cache_dir) / ARCHIVE_NAME
    if archive.is_file():
        return archive, "cache folder"
    return None, None


def _existing(value, what):
    path = Path(value).expanduser().absolute()
    if not path.exists():
        raise DataError(f"{what} points to {path}, which does not exist")
    return path


def _cache_dir(cache_dir):
    return Path(cache_dir).expanduser().absolute() if cache_dir is not None else default_cache_dir()


def load_cifar10(data=None, cache_dir=None, download=True, progress=True) -> CIFAR10:
    """Load CIFAR-10 from the first source resolve_source finds, downloading it if there is none.

    Inputs:
    - data: an image folder, a tar archive of one, the official binary archive or its
      extracted folder; None to use MINICNN_DATA or the cache folder
    - cache_dir: where downloads and decoded arrays live; default_cache_dir() if None
    - download: if no source is found, download the official archive (else raise DataError)
    - progress: show tqdm bars while downloading and decoding
    Returns: a CIFAR10 with uint8 (N, 3, 32, 32) images and int64 labels.
    """
    cache_dir = _cache_dir(cache_dir)
    path, origin = _resolve(data, cache_dir)
    if path is None:
        if not download:
            raise DataError(
                f"no CIFAR-10 data found. Provide it in one of three ways: "
                f"(1) pass it explicitly (--data PATH on the command line, data=PATH in Python); "
                f"(2) set the environment variable MINICNN_DATA=PATH; "
                f"(3) put {ARCHIVE_NAME} from {CIFAR10_URL} into {cache_dir}, or allow the "
                f"download. PATH may be an image folder <root>/train/<class>/*, <root>/test/<class>/*"
                f" or a .tar/.tar.gz/.tgz of one, or the official binary archive or its folder."
            )
        # `download` is this function's flag; the module-level function is files.download.
        url = os.environ.get(URL_VARIABLE) or CIFAR10_URL
        path = files.download(url, cache_dir / ARCHIVE_NAME, md5=CIFAR10_MD5, progress=progress)
        origin = "download"

    # A folder of official .bin files is arrays on disk already: read it directly.
    container = Directory(path) if path.is_dir() else None
    if container is not None and is_binary_release(container):
        dataset = read_binary_release(container)
        dataset.source += f" (from {origin})"
        return dataset

    # Everything else is decoded once, then read back from the cache (well under a second).
    folder = cache_dir / "decoded" / f"{path.name}-{_fingerprint(path, container)}"
    dataset = _load_cache(folder)
    if dataset is not None:
        dataset.source = f"{path} (from {origin}), decoded arrays read from {folder}"
        return dataset

    if container is None:
        container = TarArchive(path, progress=progress)
    try:
        if is_binary_release(container):
            dataset = read_binary_release(container)
        else:
            dataset = read_image_folder(container, progress=progress)
    finally:
        container.close()
    _save_cache(folder, dataset)
    dataset.source += f" (from {origin}), decoded arrays saved to {folder}"
    return dataset


def _fingerprint(path, container):
    """12 hex digits of sha1 over the path, sizes and modification times (ns) of the source.

    For a directory every file counts, so an image replaced in place is noticed too.
    """
    if container is None:  # an archive: one file
        stat = path.stat()
        entries = [f"{stat.st_size}\0{stat.st_mtime_ns}"]
    else:
        top = str(path)
        entries = []
        for name in container.names:
            stat = os.stat(os.path.join(top, name))  # os.stat: a third of the cost of Path.stat
            entries.append(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}")
    text = f"format {CACHE_FORMAT}\0{path}\n" + "\n".join(entries)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _save_cache(folder, dataset):
    """Write the arrays as .npy files, each atomically; a failure only costs a warning.

    `classes` is written last and _load_cache needs all files, so a crash between two files
    leaves an incomplete entry that is simply decoded and written again next time.
    """
    try:
        for key in CACHE_KEYS:
            value = getattr(dataset, key)
            if key == "classes":
                value = np.array(value, dtype=np.str_)  # fixed-width unicode, no pickle needed
            with atomic_write(folder / f"{key}.npy") as tmp, open(tmp, "wb") as f:
                np.save(f, value, allow_pickle=False)
    except OSError as err:
        warnings.warn(f"could not cache the decoded arrays in {folder} ({err}); "
                      f"the next load will decode the source again", stacklevel=3)


def _load_cache(folder):
    """The cached CIFAR10 in `folder`, or None if there is no complete, consistent entry."""
    paths = {key: folder / f"{key}.npy" for key in CACHE_KEYS}
    if not all(p.is_file() for p in paths.values()):
        return None
    try:
        arrays = {key: np.load(p, allow_pickle=False) for key, p in paths.items()}
    except (OSError, ValueError) as err:
        warnings.warn(f"ignoring the unreadable cache {folder} ({err})", stacklevel=3)
        return None
    x_ok = all(arrays[k].dtype == np.uint8 and arrays[k].shape[1:] == IMAGE_SHAPE
               for k in ("train_x", "test_x"))
    y_ok = all(arrays[k].dtype == np.int64 and arrays[k].shape == (len(arrays[x]),)
               for k, x in (("train_y", "train_x"), ("test_y", "test_x")))
    if not (x_ok and y_ok and arrays["classes"].ndim == 1):
        warnings.warn(f"ignoring the inconsistent cache {folder}", stacklevel=3)
        return None
    return CIFAR10(
        train_x=arrays["train_x"], train_y=arrays["train_y"],
        test_x=arrays["test_x"], test_y=arrays["test_y"],
        classes=tuple(str(c) for c in arrays["classes"]),
        source=str(folder),
    )
