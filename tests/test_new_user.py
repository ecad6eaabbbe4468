"""Rough edges a new user hit, each tried as they tried it:

- `minicnn explain huge.png` on a 30000 x 30000 PNG (and other images that cannot be read):
  one readable line, exit status 2, no traceback;
- `minicnn eval notimage.jpg` (and other files that are not checkpoints): the file is not a
  minicnn checkpoint, and nothing suggests turning pickle on;
- the first-layer filter grids: the title does not cover the first row's filter numbers;
- `import minicnn` then `minicnn.visualize.saliency(...)`: the subpackages are reachable
  without importing them, and `import minicnn` still does not load them.
"""
import json
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from minicnn.cli import main
from minicnn.models import open_model
from minicnn.visualize import filters
from minicnn.visualize.images import load_image


def fails(capsys, argv, *fragments):
    """Exit status 2 and one line on stderr, holding each fragment; returns the line."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"minicnn {argv[0]}: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(path, side=30_000):
    """A valid side x side black PNG (1 bit per pixel), about 110 KB on disk: rows are
    compressed one at a time, so 900 million pixels never sit in memory."""
    row = b"\0" + bytes(side // 8)                        # filter byte 0, then the pixels
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)   # 1-bit greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat)
                     + png_chunk(b"IEND", b""))
    return path


# ---- images that cannot be read ---------------------------------------------------------------

def test_a_30000_pixel_square_png_is_one_line_and_exit_2(capsys, tmp_path):
    path = huge_png(tmp_path / "huge.png")
    assert struct.unpack(">II", path.read_bytes()[16:24]) == (30_000, 30_000)   # IHDR's size
    fails(capsys, ["explain", str(path)], "huge.png", "decompression bomb", "900000000 pixels")


def test_other_unreadable_images_are_one_line_each(capsys, tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 300, 3), np.uint8)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:20_000])
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for path, reason in ((truncated, "broken or truncated"), (text, "not an image file"),
                         (empty, "not an image file"), (tmp_path, "it is a folder"),
                         (tmp_path / "missing.png", "no such file")):
        with pytest.raises(ValueError, match=reason):
            load_image(path)
        fails(capsys, ["explain", str(path)], "cannot read image", reason)
    assert load_image(good).shape == (3, 32, 32)


# ---- files that are not checkpoints -----------------------------------------------------------

def not_checkpoints(tmp_path):
    """(path, what the message should say it is)."""
    jpeg = tmp_path / "notimage.jpg"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(jpeg)
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    single = tmp_path / "weights.npy"
    np.save(single, np.zeros(3))
    objects = tmp_path / "objects.npz"
    np.savez(objects, a=np.array([{}], dtype=object))    # an object array: pickled inside
    torch_like = tmp_path / "model.pt"                    # torch.save's layout: a zip + pickle
    with zipfile.ZipFile(torch_like, "w") as z:
        z.writestr("model/data.pkl", b"\x80\x02}q\x00.")
    no_meta = tmp_path / "nometa.npz"
    np.savez(no_meta, w=np.zeros(3))
    bad_meta = tmp_path / "badmeta.npz"
    np.savez(bad_meta, **{"meta.json": np.array("{not json")})
    safetensors_no_meta = tmp_path / "plain.safetensors"
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    safetensors_no_meta.write_bytes(struct.pack("<Q", len(header)) + header + bytes(4))
    return [(jpeg, "is not a minicnn checkpoint: it is a JPEG image"),
            (text, "is not a minicnn checkpoint"),
            (empty, "is not a minicnn checkpoint: it is an empty file"),
            (single, "is not a minicnn checkpoint: it is a single NumPy array"),
            (objects, "holds Python objects, not numbers"),
            (torch_like, "saved with torch.save"),
            (no_meta, "has no meta.json entry"),
            (bad_meta, "is not valid JSON"),
            (safetensors_no_meta, "has no 'meta.json' in its metadata")]


def test_eval_of_a_file_that_is_not_a_checkpoint_says_so_and_never_offers_pickle(capsys, tmp_path):
    for path, says in not_checkpoints(tmp_path):
        line = fails(capsys, ["eval", str(path)], str(path), says)
        assert "pickle" not in line.replace("a zip with a pickle inside", ""), line
        assert "allow_pickle" not in line and "Traceback" not in line
        with pytest.raises(ValueError, match="checkpoint"):
            open_model(path)


# ---- the filter grids ---------------------------------------------------------------------------

@pytest.mark.parametrize("title", ["conv1 filters", "conv1 filters, strongest first\n"
                                   "(each filter scaled by its own largest |weight|; grey = 0)",
                                   "three\nlines\nof title"])
def test_the_filter_grid_title_stays_above_the_filter_numbers(title):
    w = open_model("reference_net").conv1.weight.data                 # (32, 3, 3, 3)
    fig = filters.plot_filters(filters.weights_to_rgb(w), title=title,
                               titles=[str(i) for i in range(len(w))])
    renderer = FigureCanvasAgg(fig).get_renderer()
    heading = fig._suptitle.get_window_extent(renderer)                # pixels, y upwards
    labels = [t.get_window_extent(renderer) for t in fig.axes[0].texts]
    assert len(labels) == 32
    assert heading.y0 > max(box.y1 for box in labels), (heading, max(b.y1 for b in labels))
    assert heading.y1 <= fig.bbox.y1                                    # and inside the figure


# ---- subpackages --------------------------------------------------------------------------------

def test_subpackages_are_reachable_after_import_minicnn_and_not_imported_by_it():
    code = """
import sys
import numpy as np
import minicnn
heavy = [m for m in ("minicnn.visualize", "minicnn.data", "minicnn.train", "minicnn.fast",
                     "matplotlib", "PIL", "numba") if m in sys.modules]
assert not heavy, f"import minicnn imported {heavy}"
model = minicnn.models.pretrained()
x = np.zeros((1, 3, 32, 32), dtype=np.float32)
assert minicnn.visualize.saliency(model, x, "cat").shape == (1, 3, 32, 32)
assert minicnn.data.load_sample().test_x.shape == (1000, 3, 32, 32)
assert callable(minicnn.train.train) and callable(minicnn.plots.save_figure)
assert "visualize" in dir(minicnn)
try:
    minicnn.no_such_thing
except AttributeError as error:
    assert "no_such_thing" in str(error)
else:
    raise AssertionError("minicnn.no_such_thing did not raise")
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
