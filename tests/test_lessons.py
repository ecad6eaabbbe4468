"""Every lesson runs: each lessons/[0-9]*.py, run as a student runs it, with --quick, exits 0
and writes at least one valid PNG.

A lesson is a subprocess (`python lessons/NN_name.py --quick --out DIR`) with MPLBACKEND=Agg,
so nothing opens a window. New lessons are picked up by the glob. Lessons that need CIFAR-10
(they call `_common.load_data(args)`) read MINICNN_DATA, which CI sets; without it they are
skipped with a reason in the summary, and the others run with MINICNN_DATA pointing nowhere,
so that no test ever starts a download.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
LESSONS = sorted(LESSONS_DIR.glob("[0-9]*.py"))
HAVE_DATA = bool(os.environ.get("MINICNN_DATA"))


def needs_data(path):
    return "_common.load_data(args)" in path.read_text(encoding="utf-8")


def run_lesson(path, out, **env):
    env = {**os.environ, "MPLBACKEND": "Agg", **env}
    return subprocess.run([sys.executable, str(path), "--quick", "--out", str(out)], env=env,
                          cwd=out, capture_output=True, text=True, timeout=300)


def test_the_lessons_are_there():
    assert len(LESSONS) >= 12, f"found only {[p.name for p in LESSONS]} in {LESSONS_DIR}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_runs_and_writes_pngs(path, tmp_path):
    if needs_data(path) and not HAVE_DATA:
        pytest.skip("needs CIFAR-10 in MINICNN_DATA (CI sets it)")
    env = {} if HAVE_DATA else {"MINICNN_DATA": str(tmp_path / "no-data-here")}
    result = run_lesson(path, tmp_path, **env)
    assert result.returncode == 0, (f"{path.name} exited with {result.returncode}\n"
                                    f"--- stdout\n{result.stdout[-3000:]}\n"
                                    f"--- stderr\n{result.stderr[-3000:]}")
    pngs = sorted(tmp_path.rglob("*.png"))
    assert pngs, f"{path.name} wrote no PNG into {tmp_path}; stdout:\n{result.stdout[-2000:]}"
    for png in pngs:
        assert png.stat().st_size > 0, f"{png} is empty"
        with Image.open(png) as image:
            assert image.format == "PNG", f"{png} is a {image.format}"
            image.verify()


def test_a_data_lesson_without_data_says_how_to_get_it(tmp_path):
    lesson = next(p for p in LESSONS if needs_data(p))
    result = run_lesson(lesson, tmp_path, MINICNN_DATA=str(tmp_path / "no-data-here"))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert "MINICNN_DATA" in lines[-1] and "--data" in lines[-1], result.stderr
