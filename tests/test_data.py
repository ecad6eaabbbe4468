"""Tests for minicnn.data: every source format, the cache, every bad input, and the batch pipeline.

Each test writes its own tiny dataset into tmp_path: PNG image folders (PNG is lossless, so
pixels compare exactly), tar archives of them, and official-format .bin files written record by
record from the format description. Only test_real_cifar10 reads the real data, and only when
MINICNN_DATA is set. MINICNN_CACHE points into tmp_path, so nothing touches ~/.cache.
Run with: python -m pytest tests/test_data.py -q
"""
import hashlib
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from minicnn.data import (
    CIFAR10,
    CLASSES,
    DataError,
    augment,
    batches,
    channel_stats,
    default_cache_dir,
    download,
    load_cifar10,
    normalize,
    num_batches,
    resolve_source,
)
from minicnn.data import sources
from minicnn.data.files import atomic_write

SMALL_CLASSES = ("cat", "dog", "frog")
# Read before isolated_env hides them from each test. CI sets both, so the real archive is
# decoded once per run and shared with other test files that load it.
REAL_DATA = os.environ.get("MINICNN_DATA")
REAL_CACHE = os.environ.get("MINICNN_CACHE")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Every test gets its own cache folder and no MINICNN_DATA from the outside world."""
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MINICNN_DATA", raising=False)


# ---------------------------------------------------------------------------------------------
# Builders of small datasets

def random_images(rng, N):
    return rng.integers(0, 256, size=(N, 3, 32, 32), dtype=np.uint8)  # (N, 3, 32, 32)


def write_png(path, image_chw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image_chw.transpose(1, 2, 0), mode="RGB").save(path, format="PNG")


def make_image_folder(root, seed=0, classes=SMALL_CLASSES, n_train=3, n_test=2):
    """Write root/{train,test}/<class>/NNN.png; return the arrays load_cifar10 should give."""
    rng = np.random.default_rng(seed)
    expected = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = random_images(rng, len(classes) * n)
        y = np.repeat(np.arange(len(classes)), n)  # ordered by class, then file name
        for i, (image, label) in enumerate(zip(x, y)):
            write_png(root / split / classes[label] / f"{i % n:03d}.png", image)
        expected[split] = (x, y)
    return expected


def make_tar(src, tar_path, arcname):
    mode = "w" if tar_path.suffix == ".tar" else "w:gz"
    with tarfile.open(tar_path, mode) as tar:
        tar.add(src, arcname=arcname)
    return tar_path


def binary_record_bytes(x, y):
    """The official layout written out literally: label byte, R plane, G plane, B plane."""
    return b"".join(bytes([label]) + image[0].tobytes() + image[1].tobytes() + image[2].tobytes()
                    for image, label in zip(x, y))


def make_binary_release(folder, seed=0, n_per_file=4, meta=True):
    """Write folder/data_batch_1..5.bin, test_batch.bin, batches.meta.txt; return the arrays."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    parts = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        x = random_images(rng, n_per_file)
        y = rng.integers(0, 10, size=n_per_file)
        (folder / name).write_bytes(binary_record_bytes(x, y))
        parts[name] = (x, y)
    if meta:
        (folder / "batches.meta.txt").write_text("\n".join(CLASSES) + "\n\n")
    train = [parts[f"data_batch_{i}.bin"] for i in range(1, 6)]
    return {
        "train": (np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])),
        "test": parts["test_batch.bin"],
    }


def assert_dataset(d, expected, classes):
    assert isinstance(d, CIFAR10)
    assert d.classes == tuple(classes)
    for split in ("train", "test"):
        x, y = getattr(d, f"{split}_x"), getattr(d, f"{split}_y")
        assert x.dtype == np.uint8 and x.shape == expected[split][0].shape
        assert y.dtype == np.int64
        np.testing.assert_array_equal(x, expected[split][0])
        np.testing.assert_array_equal(y, expected[split][1])


def no_partial_files(folder):
    return not [p for p in folder.rglob("*") if p.name.endswith(".part")]


# ---------------------------------------------------------------------------------------------
# Sources that load

def test_image_folder_directory(tmp_path):
    expected = make_image_folder(tmp_path / "imgs")
    (tmp_path / "imgs" / "README.txt").write_text("not part of the data, ignored")
    d = load_cifar10(tmp_path / "imgs", progress=False)
    assert_dataset(d, expected, SMALL_CLASSES)
    assert str(tmp_path / "imgs") in d.source


@pytest.mark.parametrize("archive_name", ["imgs.tar.gz", "imgs.tgz", "imgs.tar"])
def test_image_folder_archive(tmp_path, archive_name):
    expected = make_image_folder(tmp_path / "imgs")
    archive = make_tar(tmp_path / "imgs", tmp_path / archive_name, arcname=".")
    d = load_cifar10(str(archive), progress=False)
    assert_dataset(d, expected, SMALL_CLASSES)


def test_image_folder_archive_in_any_member_order(tmp_path):
    expected = make_image_folder(tmp_path / "imgs")
    pngs = sorted((tmp_path / "imgs").rglob("*.png"), reverse=True)
    with tarfile.open(tmp_path / "reversed.tar.gz", "w:gz") as tar:
        for png in pngs:  # members in reverse order, no folder members at all
            tar.add(png, arcname=png.relative_to(tmp_path).as_posix())
    d = load_cifar10(tmp_path / "reversed.tar.gz", progress=False)
    assert_dataset(d, expected, SMALL_CLASSES)


def test_image_folder_root_one_level_down(tmp_path):
    expected = make_image_folder(tmp_path / "top" / "cifar10")
    assert_dataset(load_cifar10(tmp_path / "top", progress=False), expected, SMALL_CLASSES)
    archive = make_tar(tmp_path / "top" / "cifar10", tmp_path / "a.tar.gz", arcname="cifar10")
    assert_dataset(load_cifar10(archive, progress=False), expected, SMALL_CLASSES)


def test_binary_release_archive_and_directories(tmp_path):
    expected = make_binary_release(tmp_path / "release" / "cifar-10-batches-bin")
    archive = make_tar(tmp_path / "release" / "cifar-10-batches-bin", tmp_path / "b.tar.gz",
                       arcname="cifar-10-batches-bin")
    for source in (archive, tmp_path / "release", tmp_path / "release" / "cifar-10-batches-bin"):
        d = load_cifar10(source, progress=False)
        assert_dataset(d, expected, CLASSES)
        assert "binary" in d.source


def test_binary_release_without_meta_uses_official_classes(tmp_path):
    expected = make_binary_release(tmp_path / "bins", meta=False)
    assert_dataset(load_cifar10(tmp_path / "bins", progress=False), expected, CLASSES)


def test_binary_and_image_folder_agree_on_channels_and_orientation(tmp_path):
    """The same images through both formats: R, G, B order and row-major layout must agree."""
    rng = np.random.default_rng(1)
    x = random_images(rng, 2 * 10)   # two train images per class
    y = np.repeat(np.arange(10), 2)
    bins = tmp_path / "bins"
    bins.mkdir()
    for i in range(1, 6):
        (bins / f"data_batch_{i}.bin").write_bytes(binary_record_bytes(x[4 * i - 4:4 * i],
                                                                       y[4 * i - 4:4 * i]))
    (bins / "test_batch.bin").write_bytes(binary_record_bytes(x, y))
    for i, (image, label) in enumerate(zip(x, y)):
        for split in ("train", "test"):
            write_png(tmp_path / "imgs" / split / CLASSES[label] / f"{i:03d}.png", image)
    from_bin = load_cifar10(bins, progress=False)
    from_png = load_cifar10(tmp_path / "imgs", progress=False)
    for key in ("train_x", "train_y", "test_x", "test_y"):
        np.testing.assert_array_equal(getattr(from_bin, key), getattr(from_png, key))
    assert from_bin.classes == from_png.classes == CLASSES


def test_grey_and_rgba_images_become_rgb(tmp_path):
    make_image_folder(tmp_path / "imgs", n_train=1, n_test=1)
    grey = np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) % 256
    Image.fromarray(grey.astype(np.uint8), mode="L").save(tmp_path / "imgs/train/cat/000.png")
    d = load_cifar10(tmp_path / "imgs", progress=False)
    for c in range(3):
        np.testing.assert_array_equal(d.train_x[0, c], grey)


# ---------------------------------------------------------------------------------------------
# The cache of decoded arrays

def cache_folders():
    return sorted((default_cache_dir() / "decoded").iterdir())


@pytest.mark.parametrize("kind", ["archive", "directory"])
def test_cache_is_reused_and_invalidated_by_mtime(tmp_path, kind):
    expected = make_image_folder(tmp_path / "imgs")
    source = (make_tar(tmp_path / "imgs", tmp_path / "imgs.tar.gz", arcname="cifar10")
              if kind == "archive" else tmp_path / "imgs")
    first = load_cifar10(source, progress=False)
    [folder] = cache_folders()
    assert str(folder) in first.source
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert set(mtimes) == {"train_x.npy", "train_y.npy", "test_x.npy", "test_y.npy", "classes.npy"}
    with open(folder / "train_x.npy", "rb") as f:
        np.testing.assert_array_equal(np.load(f, allow_pickle=False), expected["train"][0])

    second = load_cifar10(source, progress=False)
    assert_dataset(second, expected, SMALL_CLASSES)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == mtimes  # not rewritten

    # Proof that the second load read the cache and not the source: alter the cached pixels.
    with open(folder / "train_x.npy", "wb") as f:
        np.save(f, 255 - expected["train"][0])
    np.testing.assert_array_equal(load_cifar10(source, progress=False).train_x,
                                  255 - expected["train"][0])

    # A newer modification time means a different source: decode again into a new entry.
    touched = source if kind == "archive" else source / "train" / "dog" / "001.png"
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert_dataset(load_cifar10(source, progress=False), expected, SMALL_CLASSES)
    assert len(cache_folders()) == 2
    assert no_partial_files(default_cache_dir())


def test_damaged_cache_is_ignored_with_a_warning_and_rewritten(tmp_path):
    expected = make_image_folder(tmp_path / "imgs")
    load_cifar10(tmp_path / "imgs", progress=False)
    [folder] = cache_folders()
    (folder / "test_y.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.warns(UserWarning, match="cache"):
        d = load_cifar10(tmp_path / "imgs", progress=False)
    assert_dataset(d, expected, SMALL_CLASSES)
    (folder / "classes.npy").unlink()  # as if a crash had stopped the writing half-way
    assert_dataset(load_cifar10(tmp_path / "imgs", progress=False), expected, SMALL_CLASSES)
    assert (folder / "classes.npy").is_file()
    assert str(folder) in load_cifar10(tmp_path / "imgs", progress=False).source


def test_cache_dir_argument_wins_over_minicnn_cache(tmp_path):
    make_image_folder(tmp_path / "imgs")
    load_cifar10(tmp_path / "imgs", cache_dir=tmp_path / "mine", progress=False)
    assert len(list((tmp_path / "mine" / "decoded").iterdir())) == 1
    assert not default_cache_dir().exists()


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    dest = tmp_path / "out" / "file.npy"
    with pytest.raises(RuntimeError):
        with atomic_write(dest) as tmp, open(tmp, "wb") as f:
            f.write(b"half of it")
            raise RuntimeError("disk full, say")
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    with atomic_write(dest) as tmp, open(tmp, "wb") as f:
        f.write(b"all of it")
    assert dest.read_bytes() == b"all of it" and list(dest.parent.iterdir()) == [dest]


# ---------------------------------------------------------------------------------------------
# Bad inputs: each raises DataError naming the problem

def test_missing_split(tmp_path):
    make_image_folder(tmp_path / "imgs")
    for png in (tmp_path / "imgs" / "test").rglob("*.png"):
        png.unlink()
    with pytest.raises(DataError, match="no test/ folder"):
        load_cifar10(tmp_path / "imgs", progress=False)


def test_no_split_folders_at_all(tmp_path):
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "a" / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match="no train/ or test/ folder"):
        load_cifar10(tmp_path / "empty", progress=False)


def test_wrong_image_size_names_file_and_size(tmp_path):
    make_image_folder(tmp_path / "imgs")
    write_png(tmp_path / "imgs/train/dog/001.png", np.zeros((3, 31, 32), dtype=np.uint8))
    with pytest.raises(DataError, match=r"train/dog/001\.png.*32x31"):
        load_cifar10(tmp_path / "imgs", progress=False)


def test_non_image_file_is_named(tmp_path):
    make_image_folder(tmp_path / "imgs")
    (tmp_path / "imgs/test/frog/notes.txt").write_text("hello")
    archive = make_tar(tmp_path / "imgs", tmp_path / "imgs.tar.gz", arcname="cifar10")
    for source in (tmp_path / "imgs", archive):
        with pytest.raises(DataError, match=r"test/frog/notes\.txt.*not a readable image"):
            load_cifar10(source, progress=False)


def test_truncated_png_is_named(tmp_path):
    make_image_folder(tmp_path / "imgs")
    png = tmp_path / "imgs/train/cat/002.png"
    png.write_bytes(png.read_bytes()[:200])
    with pytest.raises(DataError, match=r"train/cat/002\.png"):
        load_cifar10(tmp_path / "imgs", progress=False)


def test_class_folders_must_match(tmp_path):
    make_image_folder(tmp_path / "imgs")
    write_png(tmp_path / "imgs/train/zebra/000.png", np.zeros((3, 32, 32), dtype=np.uint8))
    with pytest.raises(DataError, match="zebra"):
        load_cifar10(tmp_path / "imgs", progress=False)


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar"])
def test_truncated_archive(tmp_path, suffix):
    make_image_folder(tmp_path / "imgs", n_train=6)
    archive = make_tar(tmp_path / "imgs", tmp_path / f"imgs{suffix}", arcname="cifar10")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_cifar10(archive, progress=False)


def test_not_an_archive(tmp_path):
    (tmp_path / "data.zip").write_bytes(b"PK\x03\x04 definitely not a tar")
    with pytest.raises(DataError, match=r"data\.zip"):
        load_cifar10(tmp_path / "data.zip", progress=False)


def test_binary_truncated_record(tmp_path):
    make_binary_release(tmp_path / "bins")
    batch = tmp_path / "bins" / "data_batch_3.bin"
    batch.write_bytes(batch.read_bytes()[:-5])
    with pytest.raises(DataError, match=r"data_batch_3\.bin.*3,073-byte records"):
        load_cifar10(tmp_path / "bins", progress=False)
    archive = make_tar(tmp_path / "bins", tmp_path / "b.tar.gz", arcname="cifar-10-batches-bin")
    with pytest.raises(DataError, match=r"data_batch_3\.bin"):
        load_cifar10(archive, progress=False)


def test_binary_label_out_of_range(tmp_path):
    make_binary_release(tmp_path / "bins")
    batch = tmp_path / "bins" / "test_batch.bin"
    data = bytearray(batch.read_bytes())
    data[3073 * 2] = 10  # the label byte of record 2
    batch.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"test_batch\.bin: record 2 has label 10"):
        load_cifar10(tmp_path / "bins", progress=False)


def test_binary_missing_batch(tmp_path):
    make_binary_release(tmp_path / "bins")
    (tmp_path / "bins" / "data_batch_5.bin").unlink()
    with pytest.raises(DataError, match=r"no data_batch_5\.bin"):
        load_cifar10(tmp_path / "bins", progress=False)


def test_missing_path(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="does not exist"):
        load_cifar10(tmp_path / "nowhere", progress=False)
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="MINICNN_DATA"):
        resolve_source()


def test_nothing_found_and_download_refused():
    with pytest.raises(DataError, match=r"three ways.*--data.*MINICNN_DATA"):
        load_cifar10(download=False)


# ---------------------------------------------------------------------------------------------
# download()

def test_download_checksum(tmp_path):
    payload = np.random.default_rng(0).bytes(100_000)
    (tmp_path / "remote.bin").write_bytes(payload)
    url = (tmp_path / "remote.bin").as_uri()
    dest = tmp_path / "downloads" / "copy.bin"

    with pytest.raises(DataError, match="checksum mismatch"):
        download(url, dest, md5="0" * 32, progress=False)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # the temporary file is gone too

    assert download(url, dest, md5=hashlib.md5(payload).hexdigest(), progress=False) == dest
    assert dest.read_bytes() == payload
    assert list(dest.parent.iterdir()) == [dest]


def test_download_without_network(tmp_path):
    dest = tmp_path / "x.tar.gz"
    with pytest.raises(DataError, match=r"--data.*MINICNN_DATA"):
        download("http://127.0.0.1:9/x", dest, md5="0" * 32, progress=False, timeout=5)
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_load_downloads_the_official_archive_into_the_cache(tmp_path, monkeypatch):
    """The real download path, fed from a local file:// URL instead of the internet."""
    expected = make_binary_release(tmp_path / "release" / "cifar-10-batches-bin")
    archive = make_tar(tmp_path / "release" / "cifar-10-batches-bin", tmp_path / "official.tgz",
                       arcname="cifar-10-batches-bin")
    monkeypatch.setattr(sources, "CIFAR10_URL", archive.as_uri())
    monkeypatch.setattr(sources, "CIFAR10_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    assert resolve_source() is None
    d = load_cifar10(progress=False)
    assert_dataset(d, expected, CLASSES)
    cached = default_cache_dir() / "cifar-10-binary.tar.gz"
    assert cached.read_bytes() == archive.read_bytes()
    assert resolve_source() == cached
    archive.unlink()  # the next load must not need the URL
    assert_dataset(load_cifar10(download=False, progress=False), expected, CLASSES)


# ---------------------------------------------------------------------------------------------
# Which source wins

def test_resolution_order(tmp_path, monkeypatch):
    explicit, env = tmp_path / "explicit", tmp_path / "env"
    make_image_folder(explicit, seed=1, classes=("a", "b"))
    make_image_folder(env, seed=2, classes=("c", "d"))
    cache = default_cache_dir()
    make_binary_release(tmp_path / "rel" / "cifar-10-batches-bin")
    cache.mkdir(parents=True)
    make_tar(tmp_path / "rel" / "cifar-10-batches-bin", cache / "cifar-10-binary.tar.gz",
             arcname="cifar-10-batches-bin")

    assert resolve_source() == cache / "cifar-10-binary.tar.gz"
    assert load_cifar10(progress=False).classes == CLASSES
    monkeypatch.setenv("MINICNN_DATA", str(env))
    assert resolve_source() == env
    assert load_cifar10(progress=False).classes == ("c", "d")
    assert resolve_source(data=explicit) == explicit
    assert load_cifar10(explicit, progress=False).classes == ("a", "b")

    monkeypatch.delenv("MINICNN_DATA")
    assert resolve_source(cache_dir=tmp_path / "empty-cache") is None


def test_default_cache_dir(tmp_path, monkeypatch):
    assert default_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("MINICNN_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "minicnn"


# ---------------------------------------------------------------------------------------------
# channel_stats, normalize, augment

def test_channel_stats_equals_plain_float64():
    x = np.random.default_rng(0).integers(0, 256, size=(2500, 3, 8, 8), dtype=np.uint8)
    x[:, 1] //= 3  # give the channels different statistics
    mean, std = channel_stats(x)
    scaled = x.astype(np.float64) / 255
    assert mean.dtype == std.dtype == np.float32 and mean.shape == std.shape == (3,)
    np.testing.assert_allclose(mean, scaled.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(std, scaled.std(axis=(0, 2, 3)), rtol=1e-6)


def test_normalize():
    x = np.random.default_rng(0).integers(0, 256, size=(5, 3, 4, 4), dtype=np.uint8)
    mean, std = np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.3, 0.4])
    out = normalize(x, mean, std)
    assert out.dtype == np.float32 and out.shape == x.shape
    expected = (x / 255.0 - mean[None, :, None, None]) / std[None, :, None, None]
    np.testing.assert_allclose(out, expected, atol=1e-5)
    with pytest.raises(ValueError, match="C=3"):
        normalize(x, mean[:2], std[:2])


def crop_candidates(image):
    """All 81 crops x 2 flips of the zero-padded image, brute force: (162, C, H, W)."""
    C, H, W = image.shape
    padded = np.zeros((C, H + 8, W + 8), dtype=image.dtype)
    padded[:, 4:4 + H, 4:4 + W] = image
    crops = [padded[:, dy:dy + H, dx:dx + W] for dy in range(9) for dx in range(9)]
    return np.stack(crops + [crop[:, :, ::-1] for crop in crops])


def matching_candidates(out, image):
    return np.flatnonzero((crop_candidates(image) == out).all(axis=(1, 2, 3)))


def test_augment_outputs_are_crops_of_padded_inputs():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 256, size=(200, 3, 32, 32), dtype=np.uint8)
    out = augment(x, np.random.default_rng(1))
    assert out.dtype == np.uint8 and out.shape == x.shape
    found = [matching_candidates(o, image) for o, image in zip(out, x)]
    assert all(len(f) == 1 for f in found)  # random pixels: exactly one crop matches
    found = np.array([f[0] for f in found])
    flipped = found >= 81
    assert 60 < flipped.sum() < 140            # flips happen about half the time
    dy, dx = (found % 81) // 9, found % 9       # candidate index = 81 * flip + 9 * dy + dx
    assert set(dy) == set(dx) == set(range(9))  # every shift from -4 to +4 occurs, both axes
    np.testing.assert_array_equal(out, augment(x, np.random.default_rng(1)))  # same rng, same out


@settings(deadline=None, max_examples=30)
@given(N=st.integers(1, 4), C=st.integers(1, 3), H=st.integers(1, 9), W=st.integers(1, 9),
       seed=st.integers(0, 2**32 - 1))
def test_augment_any_shape(N, C, H, W, seed):
    x = np.random.default_rng(seed).integers(0, 256, size=(N, C, H, W), dtype=np.uint8)
    out = augment(x, np.random.default_rng(seed))
    assert out.shape == x.shape and out.dtype == np.uint8
    for o, image in zip(out, x):
        assert len(matching_candidates(o, image)) >= 1


# ---------------------------------------------------------------------------------------------
# batches

def toy_data(N=103):
    rng = np.random.default_rng(0)
    return random_images(rng, N), np.arange(N) * 7  # labels identify the examples


def collect(*args, **kwargs):
    return list(batches(*args, **kwargs))


def test_batches_unshuffled_in_order_and_scaled():
    x, y = toy_data()
    got = collect(x, y, 10)
    assert [len(yb) for _, yb in got] == [10] * 10 + [3] == [10] * (num_batches(103, 10) - 1) + [3]
    xb, yb = got[4]
    assert xb.dtype == np.float32 and xb.shape == (10, 3, 32, 32) and yb.dtype == np.int64
    np.testing.assert_array_equal(yb, y[40:50])
    np.testing.assert_allclose(xb, x[40:50] / 255.0, atol=1e-7)


def test_batches_shuffled_cover_each_example_once():
    x, y = toy_data()
    mean, std = channel_stats(x)
    seen = []
    for xb, yb in batches(x, y, 16, shuffle=True, seed=3, mean=mean, std=std):
        np.testing.assert_allclose(xb, normalize(x[yb // 7], mean, std))
        seen.extend(yb)
    assert sorted(seen) == list(y) and seen != list(y)


def test_batches_deterministic_and_different_across_epochs_and_seeds():
    x, y = toy_data()

    def labels(**kwargs):
        return np.concatenate([yb for _, yb in batches(x, y, 16, shuffle=True, **kwargs)])

    np.testing.assert_array_equal(labels(seed=1, epoch=2), labels(seed=1, epoch=2))
    assert not np.array_equal(labels(seed=1, epoch=2), labels(seed=1, epoch=3))
    assert not np.array_equal(labels(seed=1, epoch=2), labels(seed=2, epoch=2))


@pytest.mark.parametrize("k", [0, 1, 4, 6, 7])
def test_batches_resume_at_start(k):
    x, y = toy_data()
    mean, std = channel_stats(x)
    kwargs = dict(shuffle=True, seed=5, epoch=1, augment=True, mean=mean, std=std)
    full = collect(x, y, 15, **kwargs)          # 7 batches: 6 of 15 and one of 13
    resumed = collect(x, y, 15, start=k, **kwargs)
    assert len(resumed) == len(full) - k
    for (xa, ya), (xb, yb) in zip(full[k:], resumed):
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(xa, xb)


def test_batches_augment_crops_each_image():
    x, y = toy_data(N=20)
    for xb, yb in batches(x, y, 8, shuffle=True, augment=True):
        out = np.rint(xb * 255).astype(np.uint8)
        for o, i in zip(out, yb // 7):
            assert len(matching_candidates(o, x[i])) >= 1


def test_batches_drop_last():
    x, y = toy_data()
    got = collect(x, y, 10, shuffle=True, drop_last=True)
    assert len(got) == num_batches(103, 10, drop_last=True) == 10
    assert all(len(yb) == 10 for _, yb in got)
    assert num_batches(100, 10, drop_last=True) == num_batches(100, 10) == 10


def test_batches_reject_bad_arguments():
    x, y = toy_data()
    with pytest.raises(ValueError, match="start=12"):
        collect(x, y, 10, start=12)
    with pytest.raises(ValueError, match="103 images but 5 labels"):
        collect(x, y[:5], 10)
    with pytest.raises(ValueError, match="uint8"):
        collect(x.astype(np.float32), y, 10)


# ---------------------------------------------------------------------------------------------
# The real dataset (CI sets MINICNN_DATA to ../shared/data/cifar10-jpeg.tar.gz)

@pytest.fixture(scope="session")
def real_cache(tmp_path_factory):
    """The caller's MINICNN_CACHE if set, else a temporary folder: never ~/.cache by default."""
    return REAL_CACHE or tmp_path_factory.mktemp("real-cache")


@pytest.mark.skipif(not REAL_DATA, reason="MINICNN_DATA is not set")
def test_real_cifar10(real_cache, monkeypatch):
    monkeypatch.setenv("MINICNN_DATA", REAL_DATA)  # undo isolated_env
    d = load_cifar10(cache_dir=real_cache, download=False, progress=False)
    assert d.classes == CLASSES
    assert d.train_x.shape == (50000, 3, 32, 32) and d.train_x.dtype == np.uint8
    assert d.test_x.shape == (10000, 3, 32, 32) and d.test_x.dtype == np.uint8
    assert np.bincount(d.train_y, minlength=10).tolist() == [5000] * 10
    assert np.bincount(d.test_y, minlength=10).tolist() == [1000] * 10
