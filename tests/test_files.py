"""minicnn.files.atomic_write, the one atomic write, and the writers built on it.

A file appears under its real name whole or not at all: the old file survives any failure
of the block (also Ctrl-C), no temporary file is left behind, and fsync=True flushes the
bytes to the disk before the rename.
"""
import os

import numpy as np
import pytest
from matplotlib.figure import Figure

import minicnn.data.files
from minicnn.checkpoint import read_checkpoint, save_checkpoint
from minicnn.files import atomic_write
from minicnn.models import mlp
from minicnn.plots import save_figure
from minicnn.visualize.tour import Tour


def test_success_renames_the_temporary_file_into_place(tmp_path):
    dest = tmp_path / "deep" / "folder" / "out.txt"
    with atomic_write(dest) as tmp:
        assert tmp.parent == dest.parent and tmp != dest
        tmp.write_text("new")
        assert not dest.exists()                    # nothing under the real name yet
    assert dest.read_text() == "new"
    assert list(dest.parent.iterdir()) == [dest]


@pytest.mark.parametrize("error", [RuntimeError("disk full, say"), KeyboardInterrupt()])
def test_failure_keeps_the_old_file_and_deletes_the_temporary_one(tmp_path, error):
    dest = tmp_path / "out.txt"
    dest.write_text("old")
    with pytest.raises(type(error)):
        with atomic_write(dest) as tmp:
            tmp.write_text("half of the new")
            raise error
    assert dest.read_text() == "old"
    assert list(tmp_path.iterdir()) == [dest]


def test_a_folder_is_not_a_file_name(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        with atomic_write(tmp_path) as tmp:
            tmp.write_text("never written")
    assert list(tmp_path.parent.glob(f".{tmp_path.name}*")) == []


def test_fsync_only_when_asked(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    with atomic_write(tmp_path / "a.bin") as tmp:
        tmp.write_bytes(b"a")
    assert synced == []
    with atomic_write(tmp_path / "b.bin", fsync=True) as tmp:
        tmp.write_bytes(b"b")
    assert len(synced) == 1 and (tmp_path / "b.bin").read_bytes() == b"b"


def test_checkpoints_are_synced_to_the_disk(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    save_checkpoint(tmp_path / "m.npz", mlp(hidden=4), {"architecture": "mlp"})
    assert len(synced) == 1
    params, _, meta = read_checkpoint(tmp_path / "m.npz")
    assert meta == {"architecture": "mlp"} and params["fc1.weight"].shape == (4, 3072)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_data_files_re_exports_the_same_helper():
    assert minicnn.data.files.atomic_write is atomic_write


def test_save_figure_writes_a_png_whatever_the_temporary_name(tmp_path):
    fig = Figure(figsize=(1, 1))
    fig.subplots().plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "plots" / "curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(path.parent.iterdir()) == [path]


def test_tour_page_is_written_whole(tmp_path):
    tour = Tour(tmp_path / "tour", log=lambda line: None)
    tour.note("A section", "a note with <html> characters")
    path = tour.write_page("Title", "intro")
    page = path.read_text(encoding="utf-8")
    assert page.endswith("</body></html>\n") and "a note with &lt;html&gt;" in page
    assert [p.name for p in path.parent.iterdir()] == ["index.html"]


def test_an_array_written_through_an_open_file_keeps_its_name(tmp_path):
    # np.save given a *name* would append ".npy" to the temporary one; an open file does not
    dest = tmp_path / "x.npy"
    with atomic_write(dest) as tmp, open(tmp, "wb") as f:
        np.save(f, np.arange(3))
    np.testing.assert_array_equal(np.load(dest), np.arange(3))
    assert list(tmp_path.iterdir()) == [dest]
