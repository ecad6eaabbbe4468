"""The command line's rules, for every subcommand: a mistake in the user's input is one line
and exit status 2, --debug shows its traceback instead, anything else (a bug) raises with its
traceback, --plain runs the command on the plain route, and --model offers the registry.

The model is a reference_net with random weights saved by the test itself.
"""
import argparse
import re

import numpy as np
import pytest
from PIL import Image

import minicnn
from minicnn.checkpoint import save_checkpoint
from minicnn.cli import UsageError, build_parser, main, run_command
from minicnn.data import CLASSES
from minicnn.models import MODELS, reference_net
from minicnn.route import is_plain

META = {"architecture": "reference_net", "architecture_args": {}, "classes": list(CLASSES),
        "mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "ref.npz"
    minicnn.manual_seed(0)
    save_checkpoint(path, reference_net(), META)
    return str(path)


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return str(path)


@pytest.fixture(autouse=True)
def fast_route_by_default(monkeypatch):
    monkeypatch.delenv("MINICNN_PLAIN", raising=False)


def parsed_with(run, argv):
    """argv parsed by the real parser, with `run` as the command: main's error handling
    does not depend on what a command does, so a test command can raise what a bug would."""
    args = build_parser().parse_args(argv)
    args.run = run
    return args


# ---- usage errors, --debug, and bugs ----------------------------------------------------------

@pytest.mark.parametrize("where", ["before", "after"])
def test_a_usage_error_is_one_line_with_exit_status_2(capsys, model, where):
    options = ["--plain"]
    argv = ["rf", "conv9", "--model", model]
    code = main(options + argv if where == "before" else argv + options)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("minicnn rf: error: "), err
    assert "unknown layer 'conv9'" in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["--debug", "rf", "conv9"],                           # the option before the subcommand
    ["rf", "conv9", "--debug"],                           # or after it
])
def test_debug_shows_the_whole_traceback(capsys, model, argv):
    assert main(argv + ["--model", model]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):"), err
    assert re.search(r"\nValueError: .*unknown layer 'conv9'", err)    # the library's error,
    assert re.search(r"\n(minicnn\.cli\.)?UsageError: .*unknown layer 'conv9'", err)  # the CLI's
    assert "minicnn rf: error:" not in err


def test_debug_on_every_subcommand():
    parser = build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    required = {"explain": ["IMAGE"], "convert": ["reference_net", "out.npz"],
                "lessons": ["list"], "exercise": ["list"]}   # positional arguments some need
    for name in subcommands.choices:
        extra = required.get(name, [])
        if name == "exercise":
            continue                                   # see the next test
        assert parser.parse_args([name, *extra, "--debug", "--plain"]).debug, name
        args = parser.parse_args(["--debug", "--plain", name, *extra])
        assert args.debug and args.plain, name
        args = parser.parse_args([name, *extra])
        assert not args.debug and not args.plain, name


def test_debug_and_plain_after_an_exercise_subcommand():
    parser = build_parser()
    assert parser.parse_args(["--debug", "--plain", "exercise", "list"]).debug
    args = parser.parse_args(["exercise", "list", "--debug", "--plain"])
    assert args.debug and args.plain


def test_missing_paths_and_bad_data_are_one_line(capsys, model, tmp_path):
    assert main(["filters", "--model", str(tmp_path / "none.npz")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["filters", "--model", model, "--out", str(tmp_path)]) == 2   # a folder as --out
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a folder" in err, err
    assert main(["top9", "--model", model, "--data", str(tmp_path / "nowhere")]) == 2  # DataError
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere" in err, err


@pytest.mark.parametrize("bug", [ValueError("a bug deep inside"), TypeError("a bug deep inside"),
                                 RuntimeError("a bug deep inside"), KeyError("a bug deep inside"),
                                 OSError(5, "a bug deep inside")])
def test_an_unexpected_exception_keeps_its_traceback(bug):
    """main used to turn every ValueError, TypeError and OSError into one line, hiding bugs;
    only UsageError, DataError and the user's paths are one line now."""
    def broken(args):
        raise bug
    with pytest.raises(type(bug), match="a bug deep inside"):
        run_command(parsed_with(broken, ["summary"]))


def test_a_usage_error_raised_by_a_command_is_one_line(capsys):
    def refuses(args):
        raise UsageError("--target: no such thing")
    assert run_command(parsed_with(refuses, ["summary"])) == 2
    assert capsys.readouterr().err == "minicnn summary: error: --target: no such thing\n"


def test_ctrl_c_is_one_line_with_exit_status_130(capsys):
    def interrupted(args):
        raise KeyboardInterrupt
    assert run_command(parsed_with(interrupted, ["rf"])) == 130
    assert capsys.readouterr().err == "minicnn rf: interrupted\n"


# ---- --plain ------------------------------------------------------------------------------------

def test_plain_runs_the_command_on_the_plain_route():
    seen = []
    def record(args):
        seen.append(is_plain())
        return 0
    assert run_command(parsed_with(record, ["--plain", "rf"])) == 0
    assert run_command(parsed_with(record, ["rf"])) == 0
    assert seen == [True, False] and not is_plain()


def test_rf_on_the_plain_route(capsys, model):
    assert main(["rf", "--model", model]) == 0
    fast = capsys.readouterr().out
    assert main(["rf", "--plain", "--model", model]) == 0
    assert capsys.readouterr().out == fast and "14x14" in fast


def test_explain_on_the_plain_route_draws_the_same_map(capsys, model, image, tmp_path):
    outs = {}
    for route, options in (("fast", []), ("plain", ["--plain"])):
        outs[route] = tmp_path / f"{route}.png"
        assert main(["explain", image, "--method", "saliency", "--target", "cat", "--model", model,
                     "--out", str(outs[route]), *options]) == 0
    printed = capsys.readouterr().out
    fast, plain = (np.asarray(Image.open(outs[r]).convert("RGB"), dtype=np.int16) for r in outs)
    assert fast.shape == plain.shape
    # the routes agree to float32 rounding; a pixel may land one 8-bit level apart
    assert np.abs(fast - plain).max() <= 1, np.abs(fast - plain).max()
    assert printed.count("%") == 6                                  # the top 3, twice


# ---- --model offers the registry ----------------------------------------------------------------

def test_model_choices_are_the_registry(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["train", "--help"])
    assert exit.value.code == 0
    assert "--model {" + ",".join(MODELS) + "}" in capsys.readouterr().out
    parser = build_parser()
    for command in ("train", "summary"):
        for name in MODELS:
            assert parser.parse_args([command, "--model", name]).model == name
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--model", "resnet"])
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    assert f"a shipped model ({', '.join(MODELS)})" in " ".join(capsys.readouterr().out.split())


def test_train_recipe_options_reach_the_config_and_default_to_the_models_recipe():
    from minicnn.train import MODEL_RECIPES, RECIPE_DEFAULTS, config_from_args
    parser = build_parser()
    config = config_from_args(parser.parse_args(
        ["train", "--model", "residual_net", "--optimizer", "adamw", "--label-smoothing", "0.1",
         "--warmup", "0.2", "--no-whiten"]))
    assert (config.optimizer, config.label_smoothing, config.warmup, config.whiten) == \
        ("adamw", 0.1, 0.2, False)
    for model in ("residual_net", "vgg_bn_net"):
        resolved = config_from_args(parser.parse_args(["train", "--model", model])).resolved()
        recipe = {**RECIPE_DEFAULTS, **MODEL_RECIPES[model]}
        assert {k: getattr(resolved, k) for k in recipe} == recipe
    config = config_from_args(parser.parse_args(["train", "--model", "vgg_bn_net",
                                                 "--momentum", "0.7"])).resolved()
    assert config.momentum == 0.7 and config.lookahead
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--optimizer", "lbfgs"])


@pytest.mark.parametrize("method", ["smoothgrad-sq", "vargrad", "input-x-gradient",
                                    "integrated-gradients", "lrp"])
def test_explain_draws_the_newer_maps(method, tmp_path, capsys):
    """minicnn explain --method: the maps of minicnn.visualize beyond the lecture's own."""
    out = tmp_path / f"{method}.png"
    assert main(["explain", "--index", "3", "--method", method, "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    with Image.open(out) as image:
        assert image.size[0] > 100 and image.size[1] > 100


def test_a_closed_pipe_is_not_a_traceback():
    """`minicnn exercise list | head`: the reader leaves before minicnn writes; no
    BrokenPipeError traceback, and the status a shell gives a process stopped by SIGPIPE."""
    import subprocess
    import sys
    minicnn = f"{sys.executable} -c 'import sys; from minicnn.cli import main; sys.exit(main())'"
    done = subprocess.run(["bash", "-c", f"{minicnn} exercise list | true; "
                           "echo status ${PIPESTATUS[0]} >&2"],
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr
    assert done.stderr.split()[-2:] == ["status", "141"]
