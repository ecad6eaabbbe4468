"""CIFAR-10 in memory (`CIFAR10`) and the two on-disk forms it is read from.

In memory: four arrays, images as uint8 NCHW (N, 3, 32, 32), labels as int64 (N,).

On disk, either form may be a directory or a tar archive (.tar, .tar.gz, .tgz); archives are
read member by member, never extracted to disk.

1. Image folder: <root>/train/<class>/<image> and <root>/test/<class>/<image>, where <root> is
   the top of the directory/archive or one folder below it. Labels are the positions of the
   class folder names in sorted order. Images are decoded with Pillow and must be 32x32.
2. The official binary release (Krizhevsky, 2009), cifar-10-batches-bin/ holding
   data_batch_1.bin ... data_batch_5.bin (train) and test_batch.bin (test). Each file is a run
   of 3,073-byte records: 1 label byte, then 1,024 red, 1,024 green, 1,024 blue bytes, each
   channel a 32x32 image stored row by row. That is exactly C-order (3, 32, 32), so a file is
   one np.frombuffer and one reshape away from NCHW. No pickle is involved.
"""
import io
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from minicnn.data.files import DataError

# The official label order; the image-folder classes, sorted alphabetically, give the same order.
CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
IMAGE_SHAPE = (3, 32, 32)  # (C, H, W) of every CIFAR-10 image
SPLITS = ("train", "test")

BINARY_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
BINARY_TEST_FILE = "test_batch.bin"
BINARY_META_FILE = "batches.meta.txt"  # class names, one per line
RECORD_BYTES = 1 + 3 * 32 * 32  # 3,073: label byte + R plane + G plane + B plane


@dataclass
class CIFAR10:
    """The dataset in memory, as load_cifar10 returns it."""
    train_x: np.ndarray       # (50000, 3, 32, 32) uint8
    train_y: np.ndarray       # (50000,) int64, indices into `classes`
    test_x: np.ndarray        # (10000, 3, 32, 32) uint8
    test_y: np.ndarray        # (10000,) int64
    classes: tuple[str, ...]  # class names, label i is classes[i]
    source: str               # where the arrays came from, for logs and error messages

    def __repr__(self):
        return (f"CIFAR10(train_x={self.train_x.shape}, test_x={self.test_x.shape}, "
                f"classes={self.classes}, source={self.source!r})")


# ---------------------------------------------------------------------------------------------
# Containers: a directory and a tar archive seen the same way, as a list of file names
# ('/'-separated, relative to the top) and a way to read the bytes of some of them.

class Directory:
    """The regular files below a directory (hidden files and folders skipped)."""

    def __init__(self, path):
        self.path = Path(path)
        self.names = []
        for folder, subfolders, files in os.walk(self.path):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            relative = Path(folder).relative_to(self.path).as_posix()
            for file in sorted(files):
                if not file.startswith("."):
                    self.names.append(file if relative == "." else f"{relative}/{file}")

    def describe(self, name):
        return str(self.path / name)

    def read(self, names):
        """Yield (name, bytes) for each of `names`."""
        for name in names:
            try:
                yield name, (self.path / name).read_bytes()
            except OSError as err:
                raise DataError(f"cannot read {self.describe(name)}: {err}") from err

    def close(self):
        pass


class TarArchive:
    """The regular files in a tar archive (.tar, .tar.gz, .tgz, ...), read without extracting."""

    def __init__(self, path, progress=False):
        self.path = Path(path)
        try:
            self._tar = tarfile.open(self.path, mode="r:*")  # detects the compression
        except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
            reason = str(err).splitlines()[-1].lstrip("- ")  # tarfile may list every method
            raise DataError(
                f"{self.path} is neither a directory nor a readable tar archive (.tar, .tar.gz, "
                f".tgz); if it is one, it is truncated or corrupt ({reason})"
            ) from err
        try:
            # Listing a compressed archive decompresses all of it: seconds for 60,000 files.
            members = [m for m in tqdm(self._tar, desc=f"listing {self.path.name}",
                                       unit=" files", disable=not progress) if m.isfile()]
        except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
            self._tar.close()
            raise DataError(f"{self.path}: archive is truncated or corrupt ({err})") from err
        # Archives made with `tar czf x.tgz .` name their members ./a/b; drop the ./ part.
        self._members = {}  # name -> TarInfo, in archive order
        for member in members:
            parts = [p for p in member.name.split("/") if p not in ("", ".")]
            if parts and not any(p.startswith(".") for p in parts):
                self._members["/".join(parts)] = member
        self.names = list(self._members)

    def describe(self, name):
        return f"{self.path}:{name}"

    def read(self, names):
        """Yield (name, bytes) for each of `names`, in archive order.

        Archive order matters for compressed archives: gzip can only be read forwards, so
        visiting members out of order would decompress the archive again for every step back.
        """
        wanted = set(names)
        try:
            for name, member in self._members.items():
                if name in wanted:
                    yield name, self._tar.extractfile(member).read()
        except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
            raise DataError(f"{self.path}: archive is truncated or corrupt ({err})") from err

    def close(self):
        self._tar.close()


# ---------------------------------------------------------------------------------------------
# The official binary release

def is_binary_release(container) -> bool:
    """True if the container holds the official .bin files (at the top or one folder down)."""
    return bool(_find_by_basename(container, BINARY_TEST_FILE)
                or _find_by_basename(container, BINARY_TRAIN_FILES[0]))


def _find_by_basename(container, basename):
    return [n for n in container.names if n.split("/")[-1] == basename and n.count("/") <= 1]


def read_binary_release(container) -> CIFAR10:
    """Parse data_batch_1..5.bin, test_batch.bin and (if present) batches.meta.txt."""
    wanted = {}  # file name in the container -> basename
    for basename in BINARY_TRAIN_FILES + (BINARY_TEST_FILE, BINARY_META_FILE):
        found = _find_by_basename(container, basename)
        if len(found) > 1:
            raise DataError(f"{container.path} holds {len(found)} copies of {basename}: {found}")
        if not found and basename != BINARY_META_FILE:
            raise DataError(
                f"{container.path} has no {basename}; the official binary release holds "
                f"{', '.join(BINARY_TRAIN_FILES)} and {BINARY_TEST_FILE} in cifar-10-batches-bin/"
            )
        if found:
            wanted[found[0]] = basename
    blobs = {wanted[name]: data for name, data in container.read(list(wanted))}

    classes = CLASSES
    if BINARY_META_FILE in blobs:
        lines = blobs[BINARY_META_FILE].decode("utf-8", errors="replace").splitlines()
        classes = tuple(line.strip() for line in lines if line.strip())

    def parse(basename):
        return _parse_records(blobs[basename], len(classes),
                              where=container.describe(basename))

    train = [parse(basename) for basename in BINARY_TRAIN_FILES]
    test_x, test_y = parse(BINARY_TEST_FILE)
    return CIFAR10(
        train_x=np.concatenate([x for x, _ in train]),  # (50000, 3, 32, 32)
        train_y=np.concatenate([y for _, y in train]),  # (50000,)
        test_x=test_x.copy(),  # frombuffer gives a read-only view of the file bytes
        test_y=test_y,
        classes=classes,
        source=f"official binary release {container.path}",
    )


def _parse_records(data, num_classes, where):
    """One .bin file -> x (N, 3, 32, 32) uint8, y (N,) int64."""
    N, leftover = divmod(len(data), RECORD_BYTES)
    if N == 0 or leftover:
        raise DataError(
            f"{where}: {len(data):,} bytes is not a whole number of {RECORD_BYTES:,}-byte records "
            f"({N:,} records and {leftover:,} bytes over); the file is truncated or not a "
            f"CIFAR-10 binary batch"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(N, RECORD_BYTES)
    y = records[:, 0].astype(np.int64)          # (N,)
    x = records[:, 1:].reshape(N, *IMAGE_SHAPE)  # (N, 3, 32, 32): R plane, G plane, B plane
    bad = np.flatnonzero(y >= num_classes)
    if bad.size:
        raise DataError(
            f"{where}: record {bad[0]:,} has label {y[bad[0]]}, labels must be 0..{num_classes - 1}"
            f" ({bad.size:,} records out of range); the file is corrupt"
        )
    return x, y


# ---------------------------------------------------------------------------------------------
# Image folders

def _image_folder_layout(container):
    """Find <root> and list the images: returns (root, {split: {class: [names]}})."""
    names = container.names
    # <root> is the top ("") or one folder down ("cifar10"); prefer the top if both match.
    roots = sorted({"/".join(parts[:depth])
                    for parts in (name.split("/") for name in names)
                    for depth in (0, 1)
                    if len(parts) > depth + 1 and parts[depth] in SPLITS})
    if not roots:
        raise DataError(f"no train/ or test/ folder in {container.path} "
                        f"(looked at the top and one folder down)")
    if len(roots) > 1 and "" not in roots:
        raise DataError(f"{container.path} holds several datasets {roots}; point to one of them")
    root = "" if "" in roots else roots[0]
    prefix = f"{root}/" if root else ""

    layout = {split: {} for split in SPLITS}
    for name in names:
        if not name.startswith(prefix):
            continue
        parts = name[len(prefix):].split("/")  # [split, class, file]
        if parts[0] not in SPLITS or len(parts) == 1:
            continue  # e.g. a README next to train/ and test/
        if len(parts) != 3:
            raise DataError(f"{container.describe(name)}: images must sit directly in "
                            f"{parts[0]}/<class>/, found one at depth {len(parts) - 1}")
        layout[parts[0]].setdefault(parts[1], []).append(name)

    where = container.describe(root) if root else str(container.path)
    for split in SPLITS:
        if not layout[split]:
            raise DataError(f"no {split}/ folder with class folders of images in {where}")
    if sorted(layout["train"]) != sorted(layout["test"]):
        raise DataError(f"{where}: train/ has classes {sorted(layout['train'])} "
                        f"but test/ has {sorted(layout['test'])}")
    return root, layout


def read_image_folder(container, progress=True) -> CIFAR10:
    """Decode every image of an image-folder dataset; images ordered by class, then file name."""
    root, layout = _image_folder_layout(container)
    classes = tuple(sorted(layout["train"]))

    x, y = {}, {}  # split -> (N, 3, 32, 32) uint8 images, (N,) int64 labels
    slot = {}      # file name -> (split, row in that split's arrays)
    for split in SPLITS:
        rows = [(name, label) for label, cls in enumerate(classes)
                for name in sorted(layout[split][cls])]
        x[split] = np.empty((len(rows), *IMAGE_SHAPE), dtype=np.uint8)
        y[split] = np.array([label for _, label in rows], dtype=np.int64)
        slot.update({name: (split, i) for i, (name, _) in enumerate(rows)})

    with tqdm(total=len(slot), desc="decoding CIFAR-10 images", unit="img",
              disable=not progress) as bar:
        for name, data in container.read(list(slot)):
            split, i = slot[name]
            x[split][i] = decode_image(data, where=container.describe(name))
            bar.update(1)

    return CIFAR10(
        train_x=x["train"], train_y=y["train"], test_x=x["test"], test_y=y["test"],
        classes=classes,
        source=f"image folder {container.describe(root) if root else container.path}",
    )


def decode_image(data, where):
    """Encoded image bytes (PNG, JPEG, ...) -> (3, 32, 32) uint8 RGB."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            rgb = img.convert("RGB")  # grey, palette or RGBA images become plain RGB
    except (OSError, ValueError, SyntaxError) as err:  # how Pillow reports unreadable files
        raise DataError(f"{where}: not a readable image ({err})") from err
    H, W = IMAGE_SHAPE[1:]
    if rgb.size != (W, H):  # Pillow sizes are (width, height)
        raise DataError(f"{where}: image is {rgb.size[0]}x{rgb.size[1]} pixels (width x height),"
                        f" every image must be 32x32")
    return np.asarray(rgb).transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)
