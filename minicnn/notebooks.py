"""The lessons as Jupyter notebooks: `minicnn lessons export DIR`.

    paths = export_lessons("notebooks")    # notebooks/NN_name.ipynb for every lesson, and
                                           # notebooks/_common.py, which they import

The lessons stay what they are, the `# %%` scripts in the repository's lessons/ folder (the
"percent" format: `# %%` starts a code cell, `# %% [markdown]` a text cell); jupytext turns
each into an .ipynb without outputs, and nothing generated is kept in the repository. Their
shared helper _common.py is copied beside them, since every lesson imports it. In a notebook
the figures show inline (_common.save displays them under the inline backend) and are saved
as PNGs too, in out/<lesson>/ beside the notebook. `MINICNN_QUICK=1` in the kernel's
environment runs them with --quick's small settings, as CI does.

The lessons are not part of the installed package: they are read from the repository, found
in this order: the folder given (--from PATH), the lessons/ folder beside the imported
minicnn package (a clone, or an editable install), the clone pip installed minicnn from
(its direct_url.json), and ./lessons. jupytext comes with the notebooks extra
(pip install ".[notebooks]") and is imported only here.
"""
import json
import urllib.parse
import urllib.request
from importlib import metadata
from pathlib import Path

from minicnn.extras import require
from minicnn.files import atomic_write

COMMON = "_common.py"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def lesson_files(folder):
    """The lesson scripts of a lessons folder, in order: NN_name.py."""
    return sorted(Path(folder).glob("[0-9][0-9]_*.py"))


def is_lessons_folder(folder):
    folder = Path(folder)
    return (folder / COMMON).is_file() and bool(lesson_files(folder))


def find_lessons(source=None):
    """The lessons folder: `source` if given, else the first of the places the module
    docstring lists that holds _common.py and NN_*.py files. ValueError if there is none."""
    if source is not None:
        if not is_lessons_folder(source):
            raise ValueError(f"{source} is not minicnn's lessons folder: it should hold "
                             f"{COMMON} and the lessons NN_name.py")
        return Path(source)
    candidates = [Path(__file__).resolve().parent.parent / "lessons"]
    installed_from = _installed_from()
    if installed_from is not None:
        candidates.append(installed_from / "lessons")
    candidates.append(Path.cwd() / "lessons")
    for folder in candidates:
        if is_lessons_folder(folder):
            return folder
    raise ValueError("found no lessons folder: the lessons are the lessons/ folder of "
                     "minicnn's repository, not part of the installed package; run this in a "
                     "clone of the repository, or pass --from PATH/TO/lessons")


def _installed_from():
    """The local folder pip installed minicnn from, if it recorded one (PEP 610)."""
    try:
        text = metadata.distribution("minicnn").read_text("direct_url.json")
        url = json.loads(text)["url"] if text else ""
    except (metadata.PackageNotFoundError, ValueError, KeyError, TypeError):
        return None
    if not url.startswith("file:"):
        return None
    return Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))


def export_lessons(out, source=None, log=print):
    """Write every lesson as out/NN_name.ipynb (and out/_common.py); returns the notebooks'
    paths. Each file is written atomically; existing notebooks are replaced."""
    jupytext = require("jupytext", extra="notebooks", purpose="minicnn lessons export")
    folder = find_lessons(source)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; give a folder for the notebooks")
    with atomic_write(out / COMMON) as tmp:
        tmp.write_bytes((folder / COMMON).read_bytes())
    paths = []
    for script in lesson_files(folder):
        notebook = jupytext.reads(script.read_text(encoding="utf-8"), fmt="py:percent")
        notebook.metadata["kernelspec"] = dict(KERNELSPEC)
        notebook.metadata.pop("jupytext", None)           # no pairing with the script
        path = out / f"{script.stem}.ipynb"
        with atomic_write(path) as tmp:
            tmp.write_text(jupytext.writes(notebook, fmt="ipynb"), encoding="utf-8")
        paths.append(path)
    log(f"wrote {len(paths)} notebooks and {COMMON} to {out} (from {folder}); open them in "
        f"Jupyter or VS Code, started in {out}")
    return paths
