"""`minicnn exercise check`: run an exercise's properties on a student's file, safely.

    report = check("conv_naive", "minicnn-exercises/conv_naive.py")
    print(report.text()); report.exit_code          # 0 only when every property passes
    report.gradescope()                             # Gradescope's results.json, as a dict

The file is first compiled here (a syntax error is reported with its line, and nothing
runs). Then a worker process (worker.py, started with multiprocessing's "spawn", so it
shares nothing with this one) imports it and runs the properties, sending a message at
every case and at every call of the student's code. The checker waits for each message at
most `time_limit` seconds: when none comes, the student's function is still running (an
endless loop, or one far too slow), so the worker is killed, that property fails with a
message naming the function and its arguments, and a fresh worker takes the remaining
properties. Nothing the student writes can hang the checker. (The checker's own work
between calls, computing the expected values, loading images, gets START_LIMIT.)
"""
import hashlib
import multiprocessing
import time
from dataclasses import dataclass, field
from pathlib import Path

from minicnn.exercises.properties import Outcome

EXAMPLES = 40          # hypothesis cases per property
TIME_LIMIT = 10.0      # seconds one call of the student's code may take
START_LIMIT = 120.0    # seconds a worker may take to start (imports numpy, minicnn, hypothesis)

LABELS = {"pass": "PASS", "fail": "FAIL", "not started": "NOT STARTED", "time limit": "TIME LIMIT"}


@dataclass
class Report:
    exercise: str
    title: str
    file: str
    outcomes: list = field(default_factory=list)   # one Outcome per property
    problem: str = ""        # what stopped every property: a syntax error, an import error
    printed: str = ""        # what the file printed while it was imported
    picture: str | None = None
    picture_text: str = ""
    seconds: float = 0.0

    @property
    def passed(self):
        return bool(self.outcomes) and all(o.status == "pass" for o in self.outcomes)

    @property
    def not_started(self):
        return bool(self.outcomes) and all(o.status == "not started" for o in self.outcomes)

    @property
    def status(self):
        """"passed", "not started" or "failing": the word `minicnn exercise list` shows."""
        return "passed" if self.passed else "not started" if self.not_started else "failing"

    @property
    def exit_code(self):
        return 0 if self.passed else 1

    def header(self):
        lines = [f"{self.exercise}: {self.title}", f"checking {self.file}"]
        if self.printed:
            lines.append("your file printed this while it was imported:\n" + self.printed)
        return "\n".join(lines)

    def summary(self):
        n, ok = len(self.outcomes), sum(o.status == "pass" for o in self.outcomes)
        if self.problem:
            lines = [self.problem]
        elif self.passed:
            lines = [f"all {n} properties pass."]
        elif self.not_started:
            lines = [f"not started: write the functions in {self.file}, then check again."]
        else:
            lines = [f"{ok} of {n} properties pass."]
        if self.picture:
            lines.append(f"{self.picture_text}\nyour picture: {self.picture}")
        elif self.picture_text:
            lines.append(self.picture_text)
        return "\n".join(lines)

    def text(self):
        return "\n".join([self.header()] + [outcome_text(o) for o in self.outcomes]
                         + [self.summary()])

    def gradescope(self):
        """Gradescope's autograder results format: one test per property, 1 point each."""
        tests = [{"name": f"{self.exercise}: {o.name}", "number": str(i + 1),
                  "score": 1.0 if o.status == "pass" else 0.0, "max_score": 1.0,
                  "status": "passed" if o.status == "pass" else "failed",
                  "output": outcome_text(o, indent=""), "output_format": "text",
                  "visibility": "visible"}
                 for i, o in enumerate(self.outcomes)]
        return {"score": float(sum(t["score"] for t in tests)),
                "execution_time": round(self.seconds, 2),
                "output": self.summary(), "visibility": "visible", "tests": tests,
                "extra_data": {"exercise": self.exercise, "file": self.file,
                               "status": self.status, "picture": self.picture}}


def outcome_text(outcome, indent="  "):
    label = LABELS[outcome.status]
    lines = [f"{indent}{label:<12} {outcome.name}"]
    if outcome.text:
        lines += [f"{indent}{'':<12} {line}" if line else "" for line in outcome.text.splitlines()]
    return "\n".join(lines)


def file_digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check(name, path, examples=EXAMPLES, time_limit=TIME_LIMIT, picture=True, out=None,
          data=None, isolate=True, on_outcome=None):
    """Check exercise `name` on the student's file `path`; returns a Report.

    Inputs:
    - examples: hypothesis cases per property (an expensive property may use fewer)
    - time_limit: seconds one call of the student's code may run before it is stopped
    - picture: when every property passes, draw the lecture's picture with their functions
      into `out` (default: next to the file, NAME.png); data: CIFAR-10 for it, as --data
    - isolate: run the student's code in a worker process (False: in this process, for
      trusted code only, as the tests of the reference solutions do; no time limit then)
    - on_outcome: called with each Outcome as soon as it is known (to print as you go)
    """
    from minicnn import exercises
    exercise = exercises.load(name)
    path = Path(path)
    out = path.with_suffix(".png") if out is None else Path(out)
    report = Report(name, exercise.TITLE, str(path))
    started = time.monotonic()
    problem = syntax_problem(path)
    if problem:
        report.problem = problem
        report.outcomes = [Outcome(p.name, "fail", "the file has a syntax error (see below)")
                           for p in exercise.PROPERTIES]
        for outcome in report.outcomes:
            (on_outcome or (lambda o: None))(outcome)
        return report
    collector = Collector(exercise, report, time_limit, on_outcome)
    pending = list(range(len(exercise.PROPERTIES)))
    while pending and not report.problem:
        args = (name, str(path), pending, examples, picture, str(out), data)
        if isolate:
            run_isolated(args, collector)
        else:
            from minicnn.exercises import worker
            worker.run(*args, send=collector.receive)
        pending = [i for i in pending if i not in collector.outcomes]
    report.outcomes = [collector.outcomes[i] for i in range(len(exercise.PROPERTIES))]
    report.seconds = time.monotonic() - started
    return report


def syntax_problem(path):
    """A readable message if the file does not compile (nothing of it runs here)."""
    try:
        source = Path(path).read_bytes()
        compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as error:
        where = f"line {error.lineno}" + (f", column {error.offset}" if error.offset else "")
        lines = [f"syntax error in {path}, {where}: {error.msg}"]
        if error.text:
            lines.append("    " + error.text.rstrip("\n"))
            if error.offset:
                lines.append("    " + " " * (error.offset - 1) + "^")
        lines.append("Python cannot read the file, so none of it ran; fix this line "
                     "(or the one above it) and check again.")
        return "\n".join(lines)
    except ValueError as error:                  # e.g. a NUL byte in the file
        return f"{path} cannot be read as Python: {error}"
    return ""


class Collector:
    """Turns the worker's messages into the report, and knows what was running when."""

    def __init__(self, exercise, report, time_limit, on_outcome):
        self.exercise, self.report, self.time_limit = exercise, report, time_limit
        self.on_outcome = on_outcome or (lambda outcome: None)
        self.outcomes = {}
        self.stage, self.current, self.call, self.in_call = "starting", None, None, False

    @property
    def limit(self):
        """How long the worker may stay silent now: time_limit while the student's code runs."""
        return self.time_limit if self.in_call or self.stage == "importing" else START_LIMIT

    def receive(self, message):
        kind = message[0]
        if kind == "importing":
            self.stage = "importing"
        elif kind == "loaded":
            self.stage = "checking"
            self.report.printed = message[1]
        elif kind == "load error":
            self.stage = "done"
            self.fail_all(f"importing your file raised an exception:\n{message[1]}",
                          "your file raised an exception when imported (see below)")
        elif kind == "property":
            self.current, self.call = message[1], None
        elif kind == "call":
            self.call, self.in_call = message[1:], True
        elif kind == "returned":
            self.in_call = False
        elif kind == "result":
            index, status, text = message[1:]
            self.add(index, Outcome(self.exercise.PROPERTIES[index].name, status, text))
            self.current = None
        elif kind == "drawing":
            self.stage, self.call = "drawing", None
        elif kind == "picture":
            self.stage = "done"
            self.report.picture, self.report.picture_text = message[1], message[2]
        elif kind == "done":
            self.stage = "done"

    def add(self, index, outcome):
        self.outcomes[index] = outcome
        self.on_outcome(outcome)

    def fail_all(self, problem, text):
        self.report.problem = problem
        for index, prop in enumerate(self.exercise.PROPERTIES):
            if index not in self.outcomes:
                self.add(index, Outcome(prop.name, "fail", text))

    def timed_out(self):
        """The worker sent nothing for time_limit seconds (it has been killed)."""
        limit = f"{self.limit:g} s"
        if self.stage == "importing":
            self.fail_all(f"importing your file took longer than {limit}: is there an endless "
                          f"loop at the top level of the file, outside any function?",
                          "importing your file took too long (see below)")
        elif self.current is not None:
            running = (f"your {self.call[0]}({self.call[1]}) was still running after {limit}"
                       if self.call else f"the check was still running after {limit}")
            self.add(self.current, Outcome(
                self.exercise.PROPERTIES[self.current].name, "time limit",
                f"{running}, so it was stopped. An endless loop? Check that every while loop "
                f"ends and that the loop bounds are the sizes you mean (a correct solution "
                f"takes well under a second here)."))
        elif self.stage == "drawing":
            what = f" (your {self.call[0]} was running)" if self.call else ""
            self.report.picture_text = (f"every property passes, but drawing the picture took "
                                        f"longer than {limit}{what}, so it was stopped")
            self.stage = "done"
        else:
            self.fail_all(f"the checker's worker fell silent for {limit} before any property "
                          f"ran", "the check stopped (see below)")

    def ended(self, exitcode):
        """The worker ended without saying it was done (it crashed or exited)."""
        if self.stage == "done":
            return
        why = (f"the worker process running your code ended unexpectedly (exit code {exitcode})"
               f"{f' while your {self.call[0]} was running' if self.call else ''}: does your code "
               f"call os._exit(), or crash Python?")
        if self.current is not None:
            self.add(self.current, Outcome(self.exercise.PROPERTIES[self.current].name,
                                           "fail", why))
        else:
            self.fail_all(why, why)


def run_isolated(args, collector):
    """Run worker.main in a fresh process; stop it when it falls silent for too long."""
    from minicnn.exercises import worker
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=worker.main, args=(sender,) + args, daemon=True)
    process.start()
    sender.close()                      # the worker holds the only writing end now
    try:
        while True:
            if not receiver.poll(collector.limit):
                process.kill()
                collector.timed_out()
                return
            try:
                message = receiver.recv()
            except (EOFError, OSError):
                process.join(5)
                collector.ended(process.exitcode)
                return
            collector.receive(message)
            if message[0] == "done":
                return
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        receiver.close()
