"""benchmarks/common.py's alternate(): every speed figure of the README rests on it.

Each timed call must follow untimed calls of the same side lasting at least
settle_seconds (PyTorch's OpenMP threads spin for milliseconds after a call, and a side
timed inside that spin shares the second core with it), the sides must take turns, and
what comes back must be the timed calls' durations.
"""
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from common import alternate  # noqa: E402


def recording(name, log, seconds):
    """A side that sleeps `seconds` and logs (name, start, end) of each call."""
    def side():
        start = time.perf_counter()
        time.sleep(seconds)
        log.append((name, start, time.perf_counter()))
    return side


def turns(log):
    """The log cut into runs of consecutive calls of one side: [(name, calls), ...]."""
    runs = []
    for call in log:
        if runs and runs[-1][0] == call[0]:
            runs[-1][1].append(call)
        else:
            runs.append((call[0], [call]))
    return runs


@pytest.mark.parametrize("seconds, settle_seconds", [(0.001, 0.012), (0.006, 0.002)])
def test_each_timed_call_follows_its_own_settling(seconds, settle_seconds):
    log = []
    sides = {"a": recording("a", log, seconds), "b": recording("b", log, seconds)}
    times = alternate(sides, repeats=3, warmup=1, settle=1, settle_seconds=settle_seconds)

    runs = turns(log)
    assert [name for name, _ in runs] == ["a", "b"] * 4          # warm-up, then 3 turns each
    for name, calls in runs[2:]:
        settling, timed = calls[:-1], calls[-1]
        assert len(settling) >= 1
        # the timed call starts at least settle_seconds after the first untimed one (less a
        # hair: the settling loop reads its clock just before that call begins)
        assert timed[1] - settling[0][1] >= settle_seconds - 1e-4
        # and no later than needed: the last untimed call began before settle_seconds were up
        assert settling[-1][1] - settling[0][1] < settle_seconds
    for name in sides:
        assert len(times[name]) == 3
        timed = [calls[-1] for who, calls in runs[2:] if who == name]
        for measured, (_, start, end) in zip(times[name], timed):
            assert measured >= end - start >= seconds
