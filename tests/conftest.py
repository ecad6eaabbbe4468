"""Shared test set-up.

- `route`: runs a test on both routes, fast and plain (minicnn/route.py). A module that
  wants all its tests on both says `pytestmark = pytest.mark.usefixtures("route")`.
  Module-scoped, so that hypothesis tests can use it too.
- After every test, the switches must be back to their defaults. (A hook rather than an
  autouse fixture, so that it also covers hypothesis tests.)
"""
import pytest

import minicnn
from minicnn.tensor import is_grad_enabled


@pytest.fixture(scope="module", params=["fast", "plain"])
def route(request):
    with minicnn.plain(request.param == "plain"):
        yield request.param


def pytest_runtest_teardown(item):
    assert minicnn.current_backward_rule() == "normal", f"{item.name} left a backward rule set"
    assert is_grad_enabled(), f"{item.name} left no_grad on"
