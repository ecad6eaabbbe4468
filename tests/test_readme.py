"""The README's "Follow the gradient" walk names files and line numbers: each `path:line`
there is followed by the code that must stand on that line, so the walk cannot go stale."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_file_and_line_of_the_walk_shows_the_code_it_names():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    walk = readme[readme.index("### Follow the gradient"):]
    walk = walk[:walk.index("\n## ")]
    claims = re.findall(r"`(minicnn/[\w/]+\.py):(\d+)` \(`([^`]+)`\)", walk)
    assert len(claims) >= 6, "the walk lost its file:line references"
    for path, line, code in claims:
        lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
        assert code in lines[int(line) - 1], f"{path}:{line} is {lines[int(line) - 1]!r}, not {code!r}"
