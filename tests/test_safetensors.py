"""Checkpoints as .safetensors, without PyTorch: a round trip through minicnn's own writer and
reader, a file written by the safetensors package's NumPy API as a PyTorch user's script
would write it (the same call exists in safetensors.torch), the commands that take --model
(eval, explain, tour; the explorer opens its model with the same open_model), conversion of
the shipped weights, and the errors: weights that do not fit, a dtype NumPy lacks, and no
safetensors package at all.

benchmarks/torch_safetensors.py does the same with a net trained in PyTorch.
"""
import json
import struct
import subprocess
import sys

import numpy as np
import pytest
import safetensors.numpy as st
from PIL import Image

import minicnn
from minicnn.checkpoint import checkpoint_format, read_checkpoint, save_checkpoint
from minicnn.cli import main
from minicnn.data import CLASSES
from minicnn.models import WEIGHTS, mlp, open_model, reference_net
from minicnn.optim import SGD
from minicnn.tensor import Tensor, no_grad

META = {"architecture": "reference_net", "classes": list(CLASSES),
        "mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26], "epoch": 3}


def logits(model, x):
    with no_grad():
        return model(Tensor(x)).data


@pytest.fixture(scope="module")
def trained_like(tmp_path_factory):
    """A reference_net with random weights, as a PyTorch user's script would save it: its
    state_dict through safetensors' save_file, the metadata as one JSON string."""
    minicnn.manual_seed(1)
    model = reference_net()
    path = tmp_path_factory.mktemp("st") / "mynet.safetensors"
    st.save_file(model.state_dict(), str(path), metadata={"meta.json": json.dumps(META)})
    return model, path


def test_round_trip_keeps_every_array_the_meta_and_the_optimiser_state(tmp_path):
    minicnn.manual_seed(0)
    model = reference_net()
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    minicnn.functional.cross_entropy(model(Tensor(x)), np.array([1, 2])).backward()
    opt.step()                                            # momentum buffers that are not zero
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, model, META, optimizer=opt)
    assert checkpoint_format(path) == "safetensors" and not list(tmp_path.glob(".*.part"))
    params, optim, meta = read_checkpoint(path)
    assert meta == META
    assert params.keys() == model.state_dict().keys()
    for name, value in model.state_dict().items():
        assert params[name].dtype == np.float32 and np.array_equal(params[name], value), name
    assert optim.keys() == opt.state_dict().keys() and len(optim) > 0
    for name, value in opt.state_dict().items():
        assert np.array_equal(optim[name], value), name
    loaded = open_model(path)
    assert loaded.meta == META and np.array_equal(logits(loaded, x), logits(model, x))
    # and the same model through .npz gives the same arrays
    save_checkpoint(tmp_path / "model.npz", model, META)
    assert checkpoint_format(tmp_path / "model.npz") == "npz"
    assert np.array_equal(logits(open_model(tmp_path / "model.npz"), x), logits(loaded, x))


def test_the_file_is_plain_safetensors(tmp_path):
    """Its header, read by hand from the format's definition: 8 bytes of length, then JSON
    with one entry per tensor and the metadata as strings."""
    model = mlp()
    path = tmp_path / "mlp.safetensors"
    save_checkpoint(path, model, {**META, "architecture": "mlp"})
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    assert json.loads(header.pop("__metadata__")["meta.json"])["architecture"] == "mlp"
    assert set(header) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    assert header["fc1.weight"]["dtype"] == "F32" and header["fc1.weight"]["shape"] == [256, 3072]
    loaded = st.load_file(str(path))                      # any safetensors reader reads it
    assert np.array_equal(loaded["fc1.weight"], model.fc1.weight.data)


def test_a_file_saved_like_a_pytorch_users_works_for_eval_explain_and_tour(
        trained_like, tmp_path, monkeypatch, capsys):
    model, path = trained_like
    x = np.random.default_rng(2).standard_normal((3, 3, 32, 32)).astype(np.float32)
    assert np.array_equal(logits(open_model(path), x), logits(model, x))
    # eval on a tiny image folder
    root = tmp_path / "cifar"
    rng = np.random.default_rng(3)
    for split in ("train", "test"):
        for name in CLASSES:
            (root / split / name).mkdir(parents=True)
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), np.uint8)).save(
                root / split / name / "0.png")
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))
    assert main(["eval", str(path), "--data", str(root)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    image = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), np.uint8)).save(image)
    assert main(["explain", str(image), "--model", str(path), "--out",
                 str(tmp_path / "e.png")]) == 0
    assert (tmp_path / "e.png").stat().st_size > 0
    out = tmp_path / "tour"
    assert main(["tour", "--model", str(path), "--mlp", "", "--data", str(root), "--out",
                 str(out), "--quick"]) == 0
    assert "src='gradcam.png'" in (out / "index.html").read_text()


def test_convert_writes_the_shipped_weights_as_safetensors_and_back(tmp_path, capsys):
    assert main(["convert", "reference_net", str(tmp_path / "ref.safetensors")]) == 0
    assert main(["convert", str(tmp_path / "ref.safetensors"), str(tmp_path / "ref.npz")]) == 0
    capsys.readouterr()
    shipped = open_model("reference_net").state_dict()
    for path in (tmp_path / "ref.safetensors", tmp_path / "ref.npz"):
        params, _, meta = read_checkpoint(path)
        assert meta == open_model("reference_net").meta
        assert all(np.array_equal(params[k], v) for k, v in shipped.items())
    assert main(["convert", "reference_net", str(tmp_path / "ref.pt")]) == 2
    assert "must end in .npz or .safetensors" in capsys.readouterr().err


def test_convert_half_stores_float16_that_loads_as_float32(tmp_path, capsys):
    path = tmp_path / "ref16.npz"
    assert main(["convert", "reference_net", str(path), "--half"]) == 0
    assert "stored as float16" in capsys.readouterr().out
    params, _, meta = read_checkpoint(path)
    assert meta["stored_as"] == "float16" and all(v.dtype == np.float16 for v in params.values())
    assert path.stat().st_size < 0.6 * (WEIGHTS / "reference_net.npz").stat().st_size
    shipped, half = open_model("reference_net"), open_model(str(path))
    for k, v in shipped.state_dict().items():
        got = half.state_dict()[k]
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, v, rtol=1e-3, atol=1e-7)


def test_weights_that_do_not_fit_and_dtypes_numpy_lacks_are_one_line(trained_like, tmp_path,
                                                                     capsys):
    model, _ = trained_like
    wrong = dict(model.state_dict())
    wrong["fc2.weight"] = np.zeros((5, 256), np.float32)
    del wrong["fc2.bias"]
    path = tmp_path / "wrong.safetensors"
    st.save_file(wrong, str(path), metadata={"meta.json": json.dumps(META)})
    assert main(["eval", str(path)]) == 2
    err = capsys.readouterr().err
    assert "missing fc2.bias" in err and "fc2.weight: expected shape (10, 256), got (5, 256)" in err
    # bfloat16, which PyTorch users may save and NumPy cannot hold: written by hand
    header = json.dumps({"__metadata__": {"meta.json": json.dumps(META)},
                         "w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    bf16 = tmp_path / "bf16.safetensors"
    bf16.write_bytes(struct.pack("<Q", len(header)) + header + bytes(4))
    assert main(["eval", str(bf16)]) == 2
    assert "convert the weights to float32" in capsys.readouterr().err
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:100_000])
    assert main(["eval", str(truncated)]) == 2
    assert "not a readable .safetensors file" in capsys.readouterr().err


def test_without_the_safetensors_package_the_error_names_the_extra(trained_like, tmp_path):
    """A child process in which `import safetensors` fails, as where it is not installed."""
    _, path = trained_like
    code = (f"import sys; sys.modules['safetensors'] = None\n"
            f"from minicnn.cli import main\n"
            f"sys.exit(main(['eval', {str(path)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and "Traceback" not in line, done.stderr
    assert "needs the safetensors package" in line and 'pip install ".[safetensors]"' in line
    code = code.replace(f"['eval', {str(path)!r}]",
                        f"['convert', 'mlp', {str(tmp_path / 'm.safetensors')!r}]")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "writing" in done.stderr and "[safetensors]" in done.stderr
    assert not (tmp_path / "m.safetensors").exists()
