"""The visualisation subcommands: bad input is one line and a non-zero exit; the tour runs.

The model is a reference_net with random weights and made-up statistics, saved by the test
itself, and the data a small image folder written by the test, so nothing here depends on
the shipped weights, a slow training run or a download.
"""
import numpy as np
import pytest
from PIL import Image

import minicnn
from minicnn.checkpoint import save_checkpoint
from minicnn.cli import main
from minicnn.data import CLASSES
from minicnn.models import mlp, reference_net

META = {"architecture": "reference_net", "architecture_args": {}, "classes": list(CLASSES),
        "mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    minicnn.manual_seed(0)
    save_checkpoint(folder / "ref.npz", reference_net(), META)
    save_checkpoint(folder / "mlp.npz", mlp(), {**META, "architecture": "mlp"})
    return folder / "ref.npz", folder / "mlp.npz"


@pytest.fixture(scope="module")
def tiny_cifar(tmp_path_factory):
    """A CIFAR-10-shaped image folder: 10 classes, 6 test images each, random pictures."""
    root = tmp_path_factory.mktemp("tiny") / "cifar"
    rng = np.random.default_rng(1)
    for split, per_class in (("train", 1), ("test", 6)):
        for name in CLASSES:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def fails(capsys, argv, *fragments):
    """Run the CLI expecting failure: exit 2, one line on stderr naming the problem."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"minicnn {argv[0]}: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_unknown_layer(capsys, models):
    fails(capsys, ["rf", "conv9", "--model", str(models[0])], "unknown layer 'conv9'")
    fails(capsys, ["explain", "nothing.png", "--method", "gradcam", "--layer", "conv9",
                   "--model", str(models[0])], "unknown layer 'conv9'")


def test_unit_outside_the_layer(capsys, models):
    fails(capsys, ["rf", "conv3", "16", "2", "--model", str(models[0])],
          "outside layer 'conv3'", "16x16")


def test_target_not_a_class(capsys, models, image):
    fails(capsys, ["explain", str(image), "--target", "kitten", "--model", str(models[0])],
          "'kitten' is not a class", "airplane")
    fails(capsys, ["class-model", "--target", "cat,unicorn", "--model", str(models[0])],
          "'unicorn' is not a class")


def test_unreadable_image(capsys, models, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    fails(capsys, ["explain", str(text), "--model", str(models[0])], "cannot read image",
          "notes.png")
    fails(capsys, ["explain", str(tmp_path / "missing.jpg"), "--model", str(models[0])],
          "no such file")


def test_missing_model(capsys, tmp_path):
    fails(capsys, ["filters", "--model", str(tmp_path / "none.npz")], "does not exist")


def test_mlp_has_no_filters_and_a_convnet_no_pixel_weights(capsys, models):
    fails(capsys, ["filters", "--model", str(models[1])], "no convolutional layer")
    fails(capsys, ["weights", "--model", str(models[0]), "--layer", "conv1"], "not a Linear")


def test_explain_prints_the_top_3_and_writes_a_png(capsys, models, image, tmp_path):
    for method in ("guided", "gradcam", "occlusion"):
        out = tmp_path / f"{method}.png"
        assert main(["explain", str(image), "--method", method, "--target", "cat",
                     "--model", str(models[0]), "--out", str(out)]) == 0
        printed = capsys.readouterr().out.splitlines()
        assert sum("%" in line for line in printed) == 3
        assert out.stat().st_size > 0


def test_rf_table(capsys, models):
    assert main(["rf", "--model", str(models[0])]) == 0
    table = capsys.readouterr().out
    assert "conv4" in table and "14x14" in table and "whole image" in table


def test_tour_smoke_run(models, tiny_cifar, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINICNN_DATA", str(tiny_cifar))
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "tour"
    assert main(["tour", "--model", str(models[0]), "--mlp", str(models[1]), "--out", str(out),
                 "--limit", "50", "--quick"]) == 0
    page = (out / "index.html").read_text()
    for name in ("filters_per_filter.png", "mlp_weights.png", "top9_conv3.png",
                 "layer_view_conv4.png", "gradient_maps.png", "gradcam.png", "occlusion.png",
                 "class_models_natural.png", "class_models_none.png", "sanity_similarity.png"):
        assert f"src='{name}'" in page and (out / name).stat().st_size > 0, name
    assert "skipped" not in capsys.readouterr().out


def small_net_tour(architecture, args, tiny_cifar, tmp_path, monkeypatch):
    """The quick tour of a small untrained net of `architecture` (built with `args`) on the
    tiny image folder; returns the page's HTML and the output folder."""
    from minicnn.architectures import MODELS
    path = tmp_path / f"{architecture}.npz"
    save_checkpoint(path, MODELS[architecture](**args).eval(),
                    {**META, "architecture": architecture, "architecture_args": args})
    monkeypatch.setenv("MINICNN_DATA", str(tiny_cifar))
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "tour"
    assert main(["tour", "--model", str(path), "--mlp", "", "--out", str(out), "--limit", "50",
                 "--quick"]) == 0
    return (out / "index.html").read_text(), out


def test_tour_of_a_residual_net_has_cam_and_explains_through_its_blocks(tiny_cifar, tmp_path,
                                                                        monkeypatch, capsys):
    """A small residual_net (BatchNorm, blocks, global pooling): every section runs, and the
    CAM section is there because the net ends in global average pooling."""
    page, out = small_net_tour("residual_net", {"stem": 8, "widths": [8, 16, 16]}, tiny_cifar,
                               tmp_path, monkeypatch)
    for name in ("filters_per_filter.png", "gradcam.png", "cam.png", "lrp.png",
                 "sanity_similarity.png", "faithfulness.png"):
        assert f"src='{name}'" in page and (out / name).stat().st_size > 0, name
    assert "Zhou et al. 2016" in page                        # the CAM caption
    assert "skipped" not in capsys.readouterr().out


def test_tour_of_a_vgg_bn_net_explains_through_batchnorm(tiny_cifar, tmp_path, monkeypatch,
                                                         capsys):
    """A small vgg_bn_net (a 2x2 first layer, BatchNorm after each pool, a max over the last
    map): every section runs; there is no CAM section, as the net does not end in global
    average pooling."""
    page, out = small_net_tour("vgg_bn_net", {"widths": [8, 16, 16]}, tiny_cifar, tmp_path,
                               monkeypatch)
    for name in ("filters_per_filter.png", "receptive_fields.png", "top9_conv4.png",
                 "gradient_maps.png", "gradcam.png", "lrp.png", "sanity_similarity.png",
                 "faithfulness.png"):
        assert f"src='{name}'" in page and (out / name).stat().st_size > 0, name
    assert "src='cam.png'" not in page
    assert "skipped" not in capsys.readouterr().out


TOUR_FIGURES = ("filters_per_filter.png", "filters_shared.png", "receptive_fields.png",
                "top9_conv1.png", "top9_conv4.png", "layer_view_conv3.png", "layer_view_conv4.png",
                "gradient_maps.png", "renderings.png", "gradcam.png", "occlusion.png",
                "class_models_natural.png", "class_models_none.png", "class_models_history.png",
                "sanity_maps.png", "sanity_similarity.png", "noise_tunnels.png",
                "integrated_gradients.png", "lrp.png", "gradcam_plus_plus.png",
                "occlusion_attribution.png", "gallery_conv4.png", "adversarial_examples.png",
                "adversarial_success.png", "faithfulness.png", "class_insensitivity.png")


def test_tour_without_data_uses_the_sample_and_says_so(models, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))     # empty: nothing cached
    monkeypatch.setenv("MINICNN_CIFAR10_URL", "http://127.0.0.1:9/cifar-10-binary.tar.gz")
    out = tmp_path / "tour"
    assert main(["tour", "--model", str(models[0]), "--mlp", "", "--out", str(out),
                 "--quick"]) == 0
    printed = capsys.readouterr().out
    assert "skipped" not in printed and "1,000-image sample" in printed, printed
    page = (out / "index.html").read_text()
    for name in TOUR_FIGURES:
        assert f"src='{name}'" in page and (out / name).stat().st_size > 0, name
    assert "skipped" not in page and "class='note'" not in page
    assert "1,000 test images of the embedded sample" in page      # the top-9 captions
    assert "for all 10,000 test images" in page                     # and how to get them all
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.tar.gz"))


def test_tour_with_missing_data_is_one_line_before_any_work(models, tmp_path, capsys):
    out = tmp_path / "tour"
    fails(capsys, ["tour", "--model", str(models[0]), "--data", str(tmp_path / "nowhere"),
                   "--out", str(out)], "nowhere", "does not exist")
    assert not out.exists()


def test_top9_channel_outside_the_layer(capsys, models):
    fails(capsys, ["top9", "--layer", "conv3", "--channels", "60-64", "--model", str(models[0])],
          "channel 64 is outside layer 'conv3', which has 64 channels")
    fails(capsys, ["top9", "--layer", "conv3", "--channels", "a-b", "--model", str(models[0])],
          "--channels")
