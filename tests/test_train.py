"""The trainer and checkpoints: round trips, exact resume, interruption, and learning.

Most tests train on a tiny synthetic image folder (written as PNGs by the
fixture) so they run anywhere in seconds; the learning test uses the real
CIFAR-10 copy that MINICNN_DATA points at (CI sets it).
"""
import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from minicnn.checkpoint import load_model, read_checkpoint, save_checkpoint
from minicnn.data import CLASSES
from minicnn.models import reference_net
from minicnn.train import TrainConfig, learning_rate, train

REPO = Path(__file__).resolve().parents[1]
SESSION_CACHE = os.environ.get("MINICNN_CACHE")    # CI's cache of decoded CIFAR arrays


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")


def tiny_config(folder, out, **overrides):
    options = dict(model="reference_net", epochs=2, batch_size=32, lr=0.02, data=str(folder),
                   out=str(out))
    options.update(overrides)
    return TrainConfig(**options)


def weights(path):
    params, optim, meta = read_checkpoint(path)
    return params, optim, meta


def test_checkpoint_round_trip(tmp_path):
    model = reference_net()
    meta = {"architecture": "reference_net", "classes": list(CLASSES), "mean": [0.5] * 3,
            "std": [0.25] * 3, "note": "round trip"}
    save_checkpoint(tmp_path / "m.npz", model, meta)
    loaded = load_model(tmp_path / "m.npz")
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[name], value)
    assert loaded.meta["note"] == "round trip"
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:       # no pickle needed
        assert "conv1.weight" in f.files and f["conv1.weight"].shape == (32, 3, 3, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]      # no temporary file left


def test_load_reports_mismatched_names_and_shapes(tmp_path):
    model = reference_net()
    state = model.state_dict()
    state["fc2.weight"] = np.zeros((5, 256), np.float32)
    del state["conv1.bias"]
    arrays = dict(state, **{"meta.json": np.array(json.dumps({"architecture": "reference_net"}))})
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=r"missing conv1\.bias.*fc2\.weight: expected shape \(10, 256\), got \(5, 256\)"):
        load_model(tmp_path / "bad.npz")


def test_load_rejects_unknown_architecture_and_garbage(tmp_path):
    np.savez(tmp_path / "arch.npz", **{"meta.json": np.array(json.dumps({"architecture": "resnet"}))})
    with pytest.raises(ValueError, match="unknown architecture 'resnet'"):
        load_model(tmp_path / "arch.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="is not a minicnn checkpoint"):
        load_model(tmp_path / "junk.npz")


def minicnn_imports(module):
    """The minicnn modules a source file imports, at its top or inside any function."""
    tree = ast.parse((REPO / "minicnn" / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.startswith("minicnn.")}


def test_checkpoints_and_models_import_one_way():
    """architectures <- checkpoint <- models: the file format never reaches up to the
    module that loads the shipped weights, not even inside a function."""
    assert "minicnn.models" not in minicnn_imports("checkpoint")
    assert not {"minicnn.models", "minicnn.checkpoint"} & minicnn_imports("architectures")
    assert "minicnn.checkpoint" in minicnn_imports("models")
    import minicnn.models
    assert minicnn.models.MODELS is minicnn.architectures.MODELS    # one registry
    assert {"reference_net", "mlp"} <= set(minicnn.models.MODELS)
    assert minicnn.models.open_model("mlp").meta["architecture"] == "mlp"


def test_learning_rate_schedules():
    one = TrainConfig(lr=0.1, schedule="onecycle")
    lrs = [learning_rate(one, s, 1000) for s in range(1000)]
    peak = int(np.argmax(lrs))
    assert abs(peak - 300) <= 1 and np.isclose(max(lrs), 0.1, rtol=1e-3)
    assert np.isclose(lrs[0], 0.1 / 25) and lrs[-1] < 0.1 / 1000
    assert np.all(np.diff(lrs[:peak]) > 0) and np.all(np.diff(lrs[peak + 1:]) < 0)
    cos = TrainConfig(lr=0.1, schedule="cosine")
    assert np.isclose(learning_rate(cos, 0, 100), 0.1) and np.isclose(learning_rate(cos, 50, 100), 0.05)


def test_same_seed_same_weights_and_reports(tiny_folder, tmp_path):
    a = train(tiny_config(tiny_folder, tmp_path / "a", epochs=1), progress=False)
    b = train(tiny_config(tiny_folder, tmp_path / "b", epochs=1), progress=False)
    pa, _, _ = weights(tmp_path / "a" / "model.npz")
    pb, _, _ = weights(tmp_path / "b" / "model.npz")
    for name in pa:
        np.testing.assert_array_equal(pa[name], pb[name])
    assert a["metrics"] == [dict(m, seconds=a["metrics"][0]["seconds"]) for m in b["metrics"]]
    written = ("checkpoint.npz", "model.npz", "metrics.jsonl", "curves.png", "confusion.png")
    for name in written:
        assert (tmp_path / "a" / name).stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(written)   # no .part
    lines = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1]
    c = train(tiny_config(tiny_folder, tmp_path / "c", epochs=1, seed=1), progress=False)
    pc, _, _ = weights(tmp_path / "c" / "model.npz")
    assert not np.array_equal(pa["conv1.weight"], pc["conv1.weight"])
    assert c["config"]["seed"] == 1


def test_resume_is_exact(tiny_folder, tmp_path):
    """2 epochs in one go == 1 epoch, then a resumed run to 2."""
    train(tiny_config(tiny_folder, tmp_path / "full"), progress=False)
    train(tiny_config(tiny_folder, tmp_path / "split", epochs=2), progress=False,
          stop_after_epochs=1)
    _, _, meta = weights(tmp_path / "split" / "checkpoint.npz")
    assert meta["epoch"] == 1 and not (tmp_path / "split" / "model.npz").exists()
    train(tiny_config(tiny_folder, tmp_path / "split"), resume=True, progress=False)
    full, full_optim, _ = weights(tmp_path / "full" / "model.npz")
    split, _, split_meta = weights(tmp_path / "split" / "model.npz")
    for name in full:
        np.testing.assert_array_equal(full[name], split[name])
    assert split_meta["epoch"] == 2 and len(split_meta["metrics"]) == 2


def test_resume_is_exact_with_dropout(tiny_folder, tmp_path, monkeypatch):
    """Dropout's masks come from manual_seed's generator: the checkpoint keeps where it had
    got to, so a resumed run draws the masks an uninterrupted one would."""
    from minicnn import nn
    from minicnn.architectures import MODELS

    def dropout_mlp():
        return nn.Sequential({"flatten": nn.Flatten(), "fc1": nn.Linear(3072, 32),
                              "relu1": nn.ReLU(), "drop": nn.Dropout(0.5), "fc2": nn.Linear(32, 10)})
    monkeypatch.setitem(MODELS, "dropout_mlp", dropout_mlp)
    config = dict(model="dropout_mlp", augment=False)
    train(tiny_config(tiny_folder, tmp_path / "full", **config), progress=False)
    train(tiny_config(tiny_folder, tmp_path / "split", **config), progress=False,
          stop_after_epochs=1)
    train(tiny_config(tiny_folder, tmp_path / "split", **config), resume=True, progress=False)
    full, _, _ = weights(tmp_path / "full" / "model.npz")
    split, _, _ = weights(tmp_path / "split" / "model.npz")
    for name in full:
        np.testing.assert_array_equal(full[name], split[name])


def test_resume_without_checkpoint_is_a_clear_error(tiny_folder, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(tiny_config(tiny_folder, tmp_path / "none"), resume=True, progress=False)


def run_cli(args, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg")
    return subprocess.Popen([sys.executable, "-m", "minicnn.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for(predicate, timeout, proc):
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out")
        time.sleep(0.05)


def cli_train_args(folder, out, epochs, batch=8):
    return ["train", "--data", str(folder), "--out", str(out), "--epochs", str(epochs),
            "--batch-size", str(batch), "--lr", "0.02", "--quiet"]


def test_killed_run_resumes_to_the_same_weights(tiny_folder, tmp_path):
    """SIGKILL during epoch 2 (after epoch 1's checkpoint), resume: same final weights
    as a run that was never interrupted."""
    ref = run_cli(cli_train_args(tiny_folder, tmp_path / "ref", 3))
    assert ref.wait(timeout=300) == 0, ref.communicate()
    victim = run_cli(cli_train_args(tiny_folder, tmp_path / "killed", 3))
    ckpt = tmp_path / "killed" / "checkpoint.npz"
    wait_for(ckpt.exists, 300, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert not (tmp_path / "killed" / "model.npz").exists()
    resumed = run_cli(["train", "--resume", "--out", str(tmp_path / "killed"), "--quiet"])
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resuming" in out
    a, _, _ = weights(tmp_path / "ref" / "model.npz")
    b, _, meta = weights(tmp_path / "killed" / "model.npz")
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert meta["epoch"] == 3


def test_ctrl_c_saves_mid_epoch_and_resumes_exactly(tiny_folder, tmp_path):
    ref = run_cli(cli_train_args(tiny_folder, tmp_path / "ref", 2, batch=4))
    assert ref.wait(timeout=300) == 0
    args = cli_train_args(tiny_folder, tmp_path / "int", 2, batch=4)
    args.remove("--quiet")                                  # read the progress bar
    victim = run_cli(args)
    seen = ""
    while "epoch 2/2" not in seen or " 2/40" not in seen.split("epoch 2/2", 1)[1]:
        chunk = victim.stderr.read(1)                       # tqdm writes to stderr
        assert chunk, f"training ended before epoch 2 step 2: {seen[-300:]}"
        seen += chunk
    victim.send_signal(signal.SIGINT)                       # two steps into epoch 2
    out, err = victim.communicate(timeout=120)
    assert victim.returncode == 0, err
    _, _, meta = weights(tmp_path / "int" / "checkpoint.npz")
    assert meta["epoch"] == 1 and 2 <= meta["step"] < 40
    assert "interrupted" in out and not (tmp_path / "int" / "model.npz").exists()
    resumed = run_cli(["train", "--resume", "--out", str(tmp_path / "int"), "--quiet"])
    assert resumed.wait(timeout=300) == 0, resumed.communicate()
    a, _, _ = weights(tmp_path / "ref" / "model.npz")
    b, _, _ = weights(tmp_path / "int" / "model.npz")
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_cli_errors_are_one_line(tiny_folder, tmp_path):
    proc = run_cli(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")])
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert len(err.strip().splitlines()) == 1 and "nowhere" in err and "Traceback" not in err
    proc = run_cli(["eval", str(tmp_path / "missing.npz"), "--data", str(tiny_folder)])
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and len(err.strip().splitlines()) == 1 and "missing.npz" in err


def test_eval_prints_overall_and_per_class_accuracy(tiny_folder, tmp_path):
    train(tiny_config(tiny_folder, tmp_path / "run", epochs=1), progress=False)
    proc = run_cli(["eval", str(tmp_path / "run" / "model.npz"), "--data", str(tiny_folder)])
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "test accuracy" in out and all(name in out for name in CLASSES)


@pytest.mark.skipif(not os.environ.get("MINICNN_DATA"), reason="needs MINICNN_DATA (CI sets it)")
def test_short_run_on_real_cifar_beats_chance(tmp_path, monkeypatch):
    if SESSION_CACHE:                          # reuse CI's decoded arrays (decoding takes ~10 s)
        monkeypatch.setenv("MINICNN_CACHE", SESSION_CACHE)
    meta = train(TrainConfig(model="reference_net", epochs=3, batch_size=64, lr=0.05,
                             train_limit=3000, test_limit=1000, out=str(tmp_path / "real")),
                 progress=False)
    assert meta["test_accuracy"] > 0.25        # chance is 0.10
