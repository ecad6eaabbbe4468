"""`minicnn exercise`: list the exercises, start one, check it.

    minicnn exercise list [--dir DIR]                  in lecture order, with your status
    minicnn exercise start NAME [--dir DIR] [--force]  writes DIR/NAME.py, a skeleton
    minicnn exercise check NAME [--dir DIR | --file FILE] [--json PATH]
                                                       PASS / FAIL per property; exit 0
                                                       only when all pass

DIR defaults to ./minicnn-exercises. `check --dir` remembers each result in DIR/.status.json
(with the file's hash), which is what `list` shows; `check --file` (a teacher grading a
submission) leaves nothing behind but the picture and the --json file.

A mistake on the command line (an unknown exercise, a missing file, a file that `start`
would overwrite) is one line, `minicnn exercise: error: ...`, and exit status 2.
"""
import argparse
import json
import sys
from pathlib import Path

DEFAULT_DIR = "minicnn-exercises"
STATUS_FILE = ".status.json"


class UsageError(Exception):
    """Something given on the command line cannot be used: one line, exit status 2."""


def add_exercise_command(subparsers, parents=()):
    """Register `exercise` (with list, start and check) on the `minicnn` command's
    subparsers; the parsed arguments go to `run`. parents: parsers whose options every
    level takes too (minicnn's --plain and --debug)."""
    p = subparsers.add_parser("exercise", help="write the ops yourself; property tests grade them",
                              description=__doc__.splitlines()[0], parents=list(parents))
    add_subcommands(p, parents)
    return p


def add_subcommands(parser, parents=()):
    sub = parser.add_subparsers(dest="exercise_command", required=True, metavar="COMMAND")
    p = sub.add_parser("list", help="the exercises in lecture order, with your status",
                       parents=list(parents))
    p.add_argument("--dir", default=DEFAULT_DIR, help="your exercise folder (default %(default)s)")

    p = sub.add_parser("start", help="write NAME.py, a skeleton to fill in", parents=list(parents))
    p.add_argument("name", help="the exercise (see `minicnn exercise list`)")
    p.add_argument("--dir", default=DEFAULT_DIR, help="where to write it (default %(default)s)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")

    p = sub.add_parser("check", help="run the exercise's property tests on your file",
                       parents=list(parents))
    p.add_argument("name", help="the exercise (see `minicnn exercise list`)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--dir", default=None, help=f"check DIR/NAME.py (default {DEFAULT_DIR})")
    where.add_argument("--file", default=None, help="check this file instead (e.g. a submission)")
    p.add_argument("--json", default=None, metavar="PATH",
                   help="also write the results in Gradescope's autograder format")
    p.add_argument("--no-picture", dest="picture", action="store_false",
                   help="do not draw the picture when every property passes")
    p.add_argument("--data", default=None, help="CIFAR-10 for the picture (default: "
                   "$MINICNN_DATA or the cache; without it, made-up images; never downloads)")
    p.add_argument("--examples", type=int, default=None, metavar="N",
                   help="hypothesis cases per property (default 40)")
    p.add_argument("--time-limit", dest="time_limit", type=float, default=None, metavar="SECONDS",
                   help="how long one call of your code may run (default 10)")
    parser.set_defaults(run=run)


def run(args):
    """Run a parsed `exercise` command; returns the exit status."""
    try:
        return COMMANDS[args.exercise_command](args)
    except UsageError as error:
        print(f"minicnn exercise: error: {error}", file=sys.stderr)
        return 2
    except ImportError as error:
        if getattr(error, "name", "") == "hypothesis":
            print('minicnn exercise: error: the checker needs hypothesis: '
                  'pip install "minicnn[exercises]"', file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:
        print("minicnn exercise: interrupted", file=sys.stderr)
        return 130


def exercise_module(name):
    from minicnn import exercises
    try:
        return exercises.load(name)
    except ValueError as error:
        raise UsageError(str(error)) from None


# ---- list -------------------------------------------------------------------------------------

def read_status(folder):
    try:
        return json.loads((Path(folder) / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def file_status(name, folder, recorded):
    """"not started", "passed", "failing (k of n pass)", or "not checked since last changed"."""
    from minicnn.exercises.checker import file_digest
    path = Path(folder) / f"{name}.py"
    if not path.is_file():
        return "not started"
    if path.read_text(encoding="utf-8", errors="replace") == exercise_module(name).SKELETON:
        return "not started (skeleton written)"
    entry = recorded.get(name, {})
    if entry.get("sha256") != file_digest(path):
        return "not checked since it last changed" if entry else "not checked yet"
    if entry["status"] == "failing":
        return f"failing ({entry['passed']} of {entry['total']} pass)"
    return entry["status"]


def cmd_list(args):
    from minicnn import exercises
    recorded = read_status(args.dir)
    print(f"{'':>3} {'exercise':<22}{'lesson':<8}{'status':<36}what you write")
    for number, name in enumerate(exercises.EXERCISES, 1):
        module = exercise_module(name)
        lesson = module.LESSON[:2]
        print(f"{number:>3} {name:<22}{lesson:<8}{file_status(name, args.dir, recorded):<36}"
              f"{module.TITLE}")
    print(f"\nstatus for {args.dir}/; start one with `minicnn exercise start NAME`")
    return 0


# ---- start ------------------------------------------------------------------------------------

def cmd_start(args):
    module = exercise_module(args.name)
    path = Path(args.dir) / f"{args.name}.py"
    if path.is_dir():
        raise UsageError(f"{path} is a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if args.force:
            from minicnn.files import atomic_write
            with atomic_write(path) as tmp:
                tmp.write_text(module.SKELETON, encoding="utf-8")
        else:
            with open(path, "x", encoding="utf-8") as f:      # "x": never over an existing file
                f.write(module.SKELETON)
    except FileExistsError:
        raise UsageError(f"{path} exists already; it may hold your work. Pass --force to "
                         f"overwrite it with a fresh skeleton") from None
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None
    functions = ", ".join(module.FUNCTIONS)
    print(f"wrote {path}: write {functions} in it (the docstrings have the math and hints),\n"
          f"then run `minicnn exercise check {args.name}"
          f"{'' if args.dir == DEFAULT_DIR else f' --dir {args.dir}'}`")
    return 0


# ---- check ------------------------------------------------------------------------------------

def cmd_check(args):
    from minicnn.exercises import checker
    module = exercise_module(args.name)
    folder = Path(args.dir or DEFAULT_DIR)
    path = Path(args.file) if args.file else folder / f"{args.name}.py"
    if not path.is_file():
        hint = ("" if args.file else
                f": start it with `minicnn exercise start {args.name}"
                f"{'' if args.dir is None else f' --dir {args.dir}'}`")
        message = f"no file {path}{hint}"
        if args.json:
            write_json(args.json, missing_file_results(module, args.name, path, message))
        raise UsageError(message)
    if args.examples is not None and args.examples < 1:
        raise UsageError(f"--examples must be at least 1, got {args.examples}")
    if args.time_limit is not None and not args.time_limit > 0:
        raise UsageError(f"--time-limit must be a positive number of seconds, "
                         f"got {args.time_limit}")
    options = {"picture": args.picture, "data": args.data}
    if args.examples is not None:
        options["examples"] = args.examples
    if args.time_limit is not None:
        options["time_limit"] = args.time_limit
    print(f"{args.name}: {module.TITLE}\nchecking {path}", flush=True)

    def show(outcome):
        print(checker.outcome_text(outcome), flush=True)

    report = checker.check(args.name, path, on_outcome=show, **options)
    if report.printed:
        print("your file printed this while it was imported:\n" + report.printed)
    print(report.summary())
    if args.json:
        write_json(args.json, report.gradescope())
        print(f"wrote {args.json}")
    if not args.file:
        remember(folder, args.name, path, report)
    return report.exit_code


def missing_file_results(module, name, path, message):
    """Gradescope results for a submission that is not there: every property 0."""
    tests = [{"name": f"{name}: {p.name}", "number": str(i + 1), "score": 0.0,
              "max_score": 1.0, "status": "failed", "output": message,
              "output_format": "text", "visibility": "visible"}
             for i, p in enumerate(module.PROPERTIES)]
    return {"score": 0.0, "execution_time": 0.0, "output": message, "visibility": "visible",
            "tests": tests, "extra_data": {"exercise": name, "file": str(path),
                                           "status": "not started", "picture": None}}


def write_json(path, results):
    from minicnn.files import atomic_write
    try:
        with atomic_write(path) as tmp:
            tmp.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None


def remember(folder, name, path, report):
    """Record the result in folder/.status.json for `list` (best effort: a read-only
    folder only loses the status)."""
    from minicnn.exercises.checker import file_digest
    from minicnn.files import atomic_write
    status = read_status(folder)
    status[name] = {"sha256": file_digest(path), "status": report.status,
                    "passed": sum(o.status == "pass" for o in report.outcomes),
                    "total": len(report.outcomes)}
    try:
        with atomic_write(Path(folder) / STATUS_FILE) as tmp:
            tmp.write_text(json.dumps(status, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    except OSError:
        pass


COMMANDS = {"list": cmd_list, "start": cmd_start, "check": cmd_check}


def main(argv=None):
    """`python -m minicnn.exercises ...`: the same commands as `minicnn exercise ...`."""
    parser = argparse.ArgumentParser(prog="minicnn exercise", description=__doc__.splitlines()[0])
    add_subcommands(parser)
    return run(parser.parse_args(argv))
