"""Every lesson runs, as a Jupyter notebook: `minicnn lessons export DIR` turns each
lessons/[0-9]*.py into DIR/NN_name.ipynb (jupytext), and nbclient executes every one in a
fresh kernel in quick mode (MINICNN_QUICK=1), as a teacher's Jupyter would. A cell that
raises fails the test; so does a lesson that writes no valid PNG or shows no figure inline.
New lessons are picked up by the glob.

Each lesson runs once, as a notebook, to keep the suite short; the notebook is the script's
own cells, so it runs the same code. One test runs a lesson as a script, the way the README
shows (`python lessons/NN_name.py --quick`), and two check the one line a lesson prints when
it has no data.

Data: the kernels see no MINICNN_DATA, so --quick's stand-in, the sample embedded in
minicnn, is what they use (and MINICNN_CIFAR10_URL points at a closed local port, so nothing
is ever downloaded). Only a lesson that needs the training images (lesson 13,
`load_data(args, train=True)`) gets MINICNN_DATA, which CI sets; without it, that one is
skipped with the reason.
"""
import os
import subprocess
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest
from PIL import Image

from minicnn.cli import main

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
LESSONS = sorted(LESSONS_DIR.glob("[0-9]*.py"))
REAL_DATA = os.environ.get("MINICNN_DATA")
UNREACHABLE = "http://127.0.0.1:9/cifar-10-binary.tar.gz"


def needs_training_images(path):
    return "load_data(args, train=True)" in path.read_text(encoding="utf-8")


def assert_valid_pngs(folder, lesson):
    pngs = sorted(Path(folder).rglob("*.png"))
    assert pngs, f"{lesson} wrote no PNG into {folder}"
    for png in pngs:
        with Image.open(png) as image:
            assert image.format == "PNG", f"{png} is a {image.format}"
            image.verify()


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory):
    """The folder `minicnn lessons export` writes: one .ipynb per lesson and _common.py."""
    out = tmp_path_factory.mktemp("notebooks")
    assert main(["lessons", "export", str(out)]) == 0
    return out


def test_the_lessons_are_there():
    assert len(LESSONS) >= 12, f"found only {[p.name for p in LESSONS]} in {LESSONS_DIR}"


def test_export_writes_one_notebook_per_lesson_with_its_cells(notebooks):
    assert sorted(p.stem for p in notebooks.glob("*.ipynb")) == [p.stem for p in LESSONS]
    assert (notebooks / "_common.py").read_bytes() == (LESSONS_DIR / "_common.py").read_bytes()
    for lesson in LESSONS:
        nb = nbformat.read(notebooks / f"{lesson.stem}.ipynb", as_version=4)
        nbformat.validate(nb)
        kinds = [cell.cell_type for cell in nb.cells]
        code_cells = sum(line == "# %%" for line in lesson.read_text().splitlines())
        assert kinds.count("code") == code_cells, lesson.name
        assert "markdown" in kinds and nb.metadata.kernelspec.name == "python3"
        assert not any(cell.get("outputs") for cell in nb.cells)       # nothing executed


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lesson_runs_as_a_notebook_with_inline_figures(lesson, notebooks, monkeypatch):
    if needs_training_images(lesson) and not REAL_DATA:
        pytest.skip("needs CIFAR-10's training images in MINICNN_DATA (CI sets it)")
    # the kernel inherits this process's environment
    monkeypatch.setenv("MINICNN_QUICK", "1")
    monkeypatch.setenv("MINICNN_CIFAR10_URL", UNREACHABLE)
    monkeypatch.delenv("MPLBACKEND", raising=False)       # the kernel's own: inline figures
    if not needs_training_images(lesson):
        monkeypatch.delenv("MINICNN_DATA", raising=False)
    nb = nbformat.read(notebooks / f"{lesson.stem}.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     shutdown_kernel="immediate",      # 0.4 s sooner
                                     resources={"metadata": {"path": str(notebooks)}})
    client.execute()                                      # CellExecutionError on any error
    outputs = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]
    inline = [o for o in outputs if "image/png" in o.get("data", {})]
    assert inline, f"{lesson.name} showed no figure inline"
    text = "".join(o.get("text", "") for o in outputs)
    if not needs_training_images(lesson) and "load_data(" in lesson.read_text():
        assert "1,000-image sample" in text                # it says the sample stood in
    assert_valid_pngs(notebooks / "out" / lesson.stem, lesson.name)


def run_script(lesson, out, *options, **env):
    env = {**os.environ, "MPLBACKEND": "Agg", "MINICNN_CIFAR10_URL": UNREACHABLE, **env}
    env.pop("MINICNN_DATA", None)
    env.pop("MINICNN_QUICK", None)
    return subprocess.run([sys.executable, str(lesson), *options, "--out", str(out)], env=env,
                          cwd=out, capture_output=True, text=True, timeout=300)


def test_a_lesson_runs_as_a_script_with_quick(tmp_path):
    lesson = next(p for p in LESSONS if p.name.startswith("07_"))
    result = run_script(lesson, tmp_path, "--quick", MINICNN_CACHE=str(tmp_path / "cache"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "--quick without data: the 1,000-image sample" in result.stdout
    assert_valid_pngs(tmp_path, lesson.name)


@pytest.mark.parametrize("quick", [False, True])
def test_a_lesson_without_data_says_how_to_get_it(tmp_path, quick):
    """Without --quick a lesson needs CIFAR-10 (and says --quick would do without); with it,
    only a lesson that needs the training images still does."""
    lesson = (next(p for p in LESSONS if needs_training_images(p)) if quick else
              next(p for p in LESSONS if "_common.load_data(args)" in p.read_text()))
    result = run_script(lesson, tmp_path, *(["--quick"] if quick else []),
                        MINICNN_CACHE=str(tmp_path / "cache"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "MINICNN_DATA" in last and "--data" in last, result.stderr
    assert ("--quick" in last) != quick, last
