"""The sample embedded in minicnn (minicnn/data/cifar10_sample.npz) and what it is for: the
README's first command, `minicnn tour --out tour`, draws every section on a machine with no
CIFAR-10 and no internet.

The file is checked as it is committed: plain arrays only (it loads with allow_pickle=False),
at most 4 MB, 100 images per class. With the real data (MINICNN_DATA, which CI sets) the
images must equal the test split's at the recorded indices, and the recorded choice must be
the one make_sample.py makes. The offline tour runs the command line in a child process
whose environment has no MINICNN_DATA, an empty cache folder, and a download
URL (MINICNN_CIFAR10_URL) on a closed local port, so that nothing could be fetched even if
something tried.
"""
import hashlib
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from minicnn.cli import main
from minicnn.data import (CIFAR10, CLASSES, DataError, Sample, load_cifar10, load_data_or_sample,
                          load_sample)
from minicnn.data.make_sample import MAX_BYTES, choose_indices, files_of_test_split
from minicnn.data.sample import SAMPLE_PATH

REAL_DATA = os.environ.get("MINICNN_DATA")
REAL_CACHE = os.environ.get("MINICNN_CACHE")
UNREACHABLE = "http://127.0.0.1:9/cifar-10-binary.tar.gz"      # the discard port: refused at once


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """No MINICNN_DATA, an empty cache folder, and a download that cannot happen."""
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("MINICNN_CIFAR10_URL", UNREACHABLE)


def test_the_file_holds_plain_arrays_and_fits_in_4_mb():
    assert SAMPLE_PATH.stat().st_size <= MAX_BYTES == 4 * 1024 * 1024
    with zipfile.ZipFile(SAMPLE_PATH) as archive:
        assert all(name.endswith(".npy") for name in archive.namelist())
    with np.load(SAMPLE_PATH, allow_pickle=False) as f:
        arrays = {key: f[key] for key in f.files}             # would raise on an object array
    assert set(arrays) == {"test_x", "test_y", "indices", "files", "classes", "provenance.json"}
    assert all(a.dtype != object for a in arrays.values())


def test_load_sample_is_a_test_split_of_100_images_per_class():
    s = load_sample()
    assert isinstance(s, Sample) and isinstance(s, CIFAR10)
    assert s.test_x.shape == (1000, 3, 32, 32) and s.test_x.dtype == np.uint8
    assert s.test_y.dtype == np.int64 and np.bincount(s.test_y).tolist() == [100] * 10
    assert s.train_x.shape == (0, 3, 32, 32) and s.train_x.dtype == np.uint8
    assert s.train_y.shape == (0,) and s.classes == CLASSES
    assert "sample" in s.source
    assert s.indices.dtype == np.int64 and len(np.unique(s.indices)) == 1000
    assert np.all(np.diff(s.indices) > 0) and 0 <= s.indices.min() and s.indices.max() < 10_000
    # each image's file sits in the folder of its class
    for name, label in zip(s.files, s.test_y):
        assert re.fullmatch(rf"test/{CLASSES[label]}/\d{{4}}\.jpg", name), name
    assert s.test_x.std() > 30                                # real pictures, not a blank array
    p = s.provenance
    assert p["source_sha256"] and "CIFAR-10" in p["dataset"] and "make_sample" in p["built_by"]


@pytest.mark.skipif(not REAL_DATA, reason="needs CIFAR-10 in MINICNN_DATA (CI sets it)")
def test_the_sample_is_the_test_split_at_its_indices():
    s = load_sample()
    source = Path(REAL_DATA)
    if not source.is_file() or (hashlib.sha256(source.read_bytes()).hexdigest()
                                != s.provenance["source_sha256"]):
        pytest.skip(f"MINICNN_DATA={REAL_DATA} is not the archive the sample was cut from")
    data = load_cifar10(source, cache_dir=REAL_CACHE, progress=False)
    assert np.array_equal(data.test_x[s.indices], s.test_x)
    assert np.array_equal(data.test_y[s.indices], s.test_y)
    assert data.classes == s.classes
    # the recorded choice is make_sample.py's, and the file names are the archive's
    assert np.array_equal(choose_indices(data.test_y), s.indices)
    files = files_of_test_split(source)
    assert [files[i] for i in s.indices] == list(s.files)


def test_choose_indices_takes_every_10th_image_of_each_class():
    y = np.repeat(np.arange(3), 1000)                          # (3000,) sorted by class
    chosen = choose_indices(y)
    assert len(chosen) == 300 and np.bincount(y[chosen]).tolist() == [100] * 3
    assert chosen[:3].tolist() == [0, 10, 20] and chosen[100] == 1000
    with pytest.raises(DataError, match="needs 1000"):
        choose_indices(np.repeat(np.arange(2), 999))


def test_the_sample_stands_in_only_when_no_data_is_given(no_data, tmp_path, monkeypatch):
    assert isinstance(load_data_or_sample(), Sample)
    # a source that is given but missing is an error, not a reason to use the sample
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="does not exist"):
        load_data_or_sample()
    with pytest.raises(DataError, match="does not exist"):
        load_data_or_sample(tmp_path / "elsewhere")


def test_the_download_url_can_be_set_and_fails_in_one_line(no_data):
    with pytest.raises(DataError, match=re.escape(UNREACHABLE)):
        load_cifar10(progress=False)


def test_explain_and_top9_use_the_sample_and_say_so(no_data, tmp_path, capsys):
    out = tmp_path / "explain.png"
    assert main(["explain", "--index", "345", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test image 345 (cat) of the 1,000-image sample" in printed
    assert "for all 10,000 test images" in printed and out.stat().st_size > 0
    assert main(["top9", "--layer", "conv1", "--channels", "0-3", "--out",
                 str(tmp_path / "top9.png")]) == 0
    assert "top-9 over the 1,000-image sample" in capsys.readouterr().out
    assert main(["explain", "--index", "1000"]) == 2
    assert "outside 0..999" in capsys.readouterr().err


def test_the_readmes_first_command_draws_every_section_offline(tmp_path):
    """`minicnn tour --out tour` (with --quick: every section, fewer steps) in a fresh process
    with no data, an empty cache and no possible download."""
    env = {k: v for k, v in os.environ.items() if k != "MINICNN_DATA"}
    env.update(MINICNN_CACHE=str(tmp_path / "empty-cache"), MINICNN_CIFAR10_URL=UNREACHABLE,
               MPLBACKEND="Agg")
    command = [sys.executable, "-c", "import sys; from minicnn.cli import main; "
               "sys.exit(main())", "tour", "--out", "tour", "--quick"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "tour"
    page = (out / "index.html").read_text()
    figures = re.findall(r"<img src='([^']+)'", page)
    sections = re.findall(r"<h2>", page)
    assert len(figures) == len(sections) == 29, figures        # one figure per section
    for name in figures:
        assert (out / name).stat().st_size > 10_000, name
    for name in ("top9_conv4.png", "layer_view_conv4.png", "gradient_maps.png", "gradcam.png",
                 "occlusion.png", "sanity_maps.png", "integrated_gradients.png", "lrp.png",
                 "gallery_conv4.png", "adversarial_success.png", "faithfulness.png"):
                                                                    # the sections that need images
        assert name in figures
    assert "skipped" not in done.stdout + page and "class='note'" not in page
    assert "the 1,000-image sample embedded in minicnn" in page
    assert not any((tmp_path / "empty-cache").rglob("*.tar.gz"))    # nothing was downloaded
