"""The checker's worker: it imports the student's file, runs the properties with hypothesis
and draws the picture, reporting every step to the checker as a message.

It runs in a process of its own (checker.py starts it and watches it), so that an endless
loop in the student's code ends when the checker kills the process, and nothing the
student's file does at import (a print, sys.exit(), a changed global) reaches the checker.

Messages, in order (tuples sent with `send`):

    ("importing",)                          the student's file is about to run
    ("loaded", printed)                     it ran; `printed` is what it wrote to stdout/stderr
    ("load error", text)                    it raised: the student's traceback lines
    ("property", index)                     property `index` starts
    ("example",), ("call", fn, args)        heartbeats: a new case; a call of the student's code
    ("result", index, status, text)         the property's outcome (properties.Outcome fields)
    ("drawing",)                            every property passed: the picture is being drawn
    ("picture", path or None, text)         the picture, or why there is none
    ("done",)
"""
import importlib.util
import io
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis.errors import Flaky

from minicnn.exercises.properties import (
    Functions,
    Mismatch,
    Missing,
    NotStarted,
    show_case,
    student_traceback,
)

SHRINK_SECONDS = 20.0       # after this long on one property, report the smallest case so far


class StopShrinking(BaseException):
    """Raised inside the property to end hypothesis' search; the case is already recorded."""


class Capture:
    """What the student's code prints, and the warnings it raises (NumPy's "overflow
    encountered in exp"), kept instead of shown. Cleared for every case, so after a failure
    it holds the output of the failing case's final run."""

    def __init__(self):
        self.buffer = io.StringIO()

    def __enter__(self):
        self.saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = self.buffer
        self.catching = warnings.catch_warnings(record=True)
        self.caught = self.catching.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self.catching.__exit__(*exc)
        for w in self.caught:
            self.buffer.write(f"{w.category.__name__}: {w.message} (line {w.lineno})\n")
        sys.stdout, sys.stderr = self.saved

    def clear(self):
        self.buffer.seek(0)
        self.buffer.truncate()

    def text(self, lines=15):
        out = self.buffer.getvalue().rstrip().splitlines()
        if len(out) > lines:
            out = out[:lines] + [f"... ({len(out) - lines} more lines)"]
        return "\n".join(out)


def load_student(path, name):
    """Import the student's file as a module of its own (not __main__, so a block under
    `if __name__ == "__main__":` does not run). A later definition wins, as in Python."""
    path = Path(path).resolve()
    sys.dont_write_bytecode = True                # no __pycache__/ left in the student's folder
    spec = importlib.util.spec_from_file_location(f"minicnn_student_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))          # their own helper modules next to the file
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def run(name, path, indices, examples, picture, out, data, send):
    """Check exercise `name` on the file at `path`: the properties numbered `indices`, each
    with up to `examples` cases; then, if all of them pass and `picture`, draw the picture
    into `out`. Everything is reported through send(message)."""
    from minicnn import exercises
    exercise = exercises.load(name)
    capture = Capture()
    send(("importing",))
    try:
        with capture:
            module = load_student(path, name)
    except (Exception, SystemExit) as error:
        text, _ = student_traceback(error, path)
        if isinstance(error, SystemExit):
            text = "your file called sys.exit() (or exit()) while being imported"
        if capture.text():
            text += "\nyour file printed:\n" + capture.text()
        send(("load error", text))
        send(("done",))
        return
    send(("loaded", capture.text()))
    fns = Functions(module, exercise.FUNCTIONS, send)
    passed = True
    for index in indices:
        send(("property", index))
        prop = exercise.PROPERTIES[index]
        status, text = run_property(prop, fns, examples, path, capture, send)
        passed = passed and status == "pass"
        send(("result", index, status, text))
    if picture and passed and len(indices) == len(exercise.PROPERTIES):
        send(("drawing",))
        send(("picture",) + draw_picture(exercise, fns, out, data, path, capture, send))
    send(("done",))


def run_property(prop, fns, examples, path, capture, send):
    """-> (status, text): "pass", "fail" or "not started", and what went wrong."""
    seen = {}                                     # the last case, and the last failure
    started = time.monotonic()

    @settings(max_examples=prop.examples or examples, deadline=None, database=None,
              derandomize=True, verbosity=Verbosity.quiet, report_multiple_bugs=False,
              suppress_health_check=list(HealthCheck), print_blob=False,
              phases=[Phase.explicit, Phase.generate, Phase.shrink])
    @given(case=prop.cases)
    def test(case):
        seen["case"] = case
        capture.clear()
        send(("example",))
        if "failure" in seen and time.monotonic() - started > SHRINK_SECONDS:
            raise StopShrinking
        try:
            with capture:
                prop.check(fns, case)
        except Exception as error:
            seen["failure"] = case, error, capture.text()
            raise

    try:
        test()
        return "pass", ""
    except NotStarted as stub:
        return "not started", f"{stub.function} still raises NotImplementedError"
    except Missing as missing:
        return "fail", (f"your file has {missing.what} named {missing.function}; the checker "
                        f"looks the functions up by their names")
    except StopShrinking:
        case, failure, printed = seen["failure"]
    except Flaky as flaky:
        return "fail", (f"your code gave different results for the same input, so the case "
                        f"could not be repeated (does it use random numbers, or keep something "
                        f"between calls?): {flaky}")
    except Exception as error:
        case, failure, printed = seen.get("failure", (seen.get("case"), error, capture.text()))
        failure = error               # the final run's exception: that of the smallest case
    return "fail", describe_failure(prop, case, failure, printed, path)


def describe_failure(prop, case, error, printed, path):
    """The text of a failure: the input, what was wrong, the hint, and what was printed."""
    lines = ["the smallest failing input hypothesis found:", show_case(case or {})]
    if isinstance(error, Mismatch):
        lines.append(error.text)
    else:
        text, theirs = student_traceback(error, path)
        lines.append("your code raised an exception:" if theirs else
                     "the check raised an exception outside your file (look at what your "
                     "function returns; if that looks right, this may be a bug in the checker):")
        lines.append(text)
    lines.append(f"hint: {prop.hint}")
    if printed:
        lines.append("your code printed:\n" + printed)
    return "\n".join(lines)


def draw_picture(exercise, fns, out, data, path, capture, send):
    """-> (path or None, text): the lecture's picture drawn with the student's functions."""
    try:
        with capture:
            saved, text = exercise.picture(fns, Path(out), data, send)
        return (None if saved is None else str(saved)), text
    except (Exception, NotStarted, Missing) as error:
        if not isinstance(error, Exception):
            return None, f"drawing the picture with your functions failed: {error}"
        text, theirs = student_traceback(error, path)
        if not theirs:                   # not in the student's file: say where it was
            frame = traceback.extract_tb(error.__traceback__)[-1]
            text += f"\n(raised at {frame.filename}:{frame.lineno}, outside your file)"
        return None, f"drawing the picture with your functions failed:\n{text}"


def main(conn, *args):
    """The worker process: run(...) with the messages sent through the pipe `conn`.

    Hypothesis keeps a cache (constants it found in the source) in ./.hypothesis; here it
    goes to a temporary folder instead, so a check leaves nothing in the student's folder."""
    from hypothesis.configuration import set_hypothesis_home_dir
    try:
        with tempfile.TemporaryDirectory(prefix="minicnn-exercise-") as home:
            set_hypothesis_home_dir(home)
            run(*args, send=conn.send)
    finally:
        conn.close()
