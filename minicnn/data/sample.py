"""The sample of CIFAR-10 embedded in minicnn: 100 test images per class, for working offline.

    from minicnn.data import load_sample, load_data_or_sample
    s = load_sample()                # s.test_x (1000, 3, 32, 32) uint8, s.test_y (1000,) int64
    s.indices                        # (1000,) rows of the full test split they were cut from
    d = load_data_or_sample(data)    # the real CIFAR-10 if one is given or cached, else the sample

The tour, `minicnn explain`, `top9`, `sanity`, the explorer and the lessons' --quick mode use
the sample whenever no other data is given (no --data, no MINICNN_DATA, nothing in the cache),
so that every picture can be drawn on a machine with no internet and no copy of CIFAR-10; what
they print and draw then says that the sample stood in.

The file, cifar10_sample.npz beside this module (about 3 MB), holds only plain arrays, so it
loads with allow_pickle=False:

    test_x (1000, 3, 32, 32) uint8     the images, pixel for pixel as load_cifar10 decodes them
    test_y (1000,) int64               their labels
    indices (1000,) int64              their rows in the test split (ordered by class, then file)
    files (1000,)                      their file names in the archive, e.g. test/cat/0040.jpg
    classes (10,)                      the class names, label i is classes[i]
    provenance.json                    where the images come from and how they were chosen

It is the one piece of the dataset in the repository, and it is made from the data, never by
hand: `python -m minicnn.data.make_sample --data cifar10-jpeg.tar.gz` rebuilds it, and
tests/test_sample.py checks the images against the test split at those indices.
"""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minicnn.data.files import DataError
from minicnn.data.formats import CIFAR10, IMAGE_SHAPE
from minicnn.data.sources import load_cifar10, resolve_source

SAMPLE_PATH = Path(__file__).with_name("cifar10_sample.npz")
KEYS = ("test_x", "test_y", "indices", "files", "classes", "provenance.json")
HINT = "pass --data PATH (or set MINICNN_DATA) for all 10,000 test images"


@dataclass(repr=False)
class Sample(CIFAR10):
    """The embedded sample, as a CIFAR10 whose training split is empty, plus where it came from."""
    indices: np.ndarray          # (N,) int64: test_x[i] is row indices[i] of the full test split
    files: tuple[str, ...]       # (N,) the file each image was decoded from
    provenance: dict             # the sample's provenance.json

    def __repr__(self):
        return f"Sample(test_x={self.test_x.shape}, classes={self.classes}, source={self.source!r})"

    def describe(self):
        """A few words for logs and captions, e.g. 'the 1,000-image sample'."""
        return f"the {len(self.test_y):,}-image sample"


def is_sample(dataset):
    return isinstance(dataset, Sample)


def load_sample(path=SAMPLE_PATH) -> Sample:
    """The sample embedded in minicnn (see the module docstring): 1,000 test images, 100 per class.

    Returns: a Sample: test_x (1000, 3, 32, 32) uint8, test_y (1000,) int64, classes, source,
    an empty training split (0, 3, 32, 32), and indices, files and provenance.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"the embedded sample {path} is missing from this installation; "
                        f"reinstall minicnn, or {HINT}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}
    except (OSError, ValueError, EOFError) as error:
        raise DataError(f"the embedded sample {path} is unreadable ({error}); reinstall minicnn")
    missing = [key for key in KEYS if key not in arrays]
    x, y = arrays.get("test_x"), arrays.get("test_y")
    if missing or x.dtype != np.uint8 or x.shape[1:] != IMAGE_SHAPE or y.shape != (len(x),):
        raise DataError(f"the embedded sample {path} is not a sample of CIFAR-10 "
                        f"(missing {missing}); reinstall minicnn")
    provenance = json.loads(str(arrays["provenance.json"]))
    return Sample(
        train_x=np.empty((0, *IMAGE_SHAPE), dtype=np.uint8),
        train_y=np.empty(0, dtype=np.int64),
        test_x=x, test_y=y.astype(np.int64),
        classes=tuple(str(c) for c in arrays["classes"]),
        source=f"the {len(y):,}-image sample of CIFAR-10's test split embedded in minicnn ({path})",
        indices=arrays["indices"].astype(np.int64),
        files=tuple(str(name) for name in arrays["files"]),
        provenance=provenance,
    )


def load_data_or_sample(data=None, cache_dir=None, progress=True):
    """CIFAR-10 from `data`, MINICNN_DATA or the cache folder if any of them has it (as
    load_cifar10 finds it), else the embedded sample. Never downloads.

    A source that is given but missing or broken raises DataError: it does not fall back to
    the sample, since whoever gave it expects it to be used.
    """
    if resolve_source(data, cache_dir) is None:
        return load_sample()
    return load_cifar10(data, cache_dir=cache_dir, progress=progress)


def images_note(dataset):
    """'' for a real test split; for the sample, the words every output adds when it stands in."""
    if not is_sample(dataset):
        return ""
    per_class = len(dataset.test_y) // max(len(dataset.classes), 1)
    return f"{dataset.describe()} embedded in minicnn ({per_class} per class); {HINT}"
