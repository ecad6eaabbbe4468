"""Shared test set-up: global switches must be back to their defaults after every test.

(A hook rather than an autouse fixture, so that it also covers hypothesis tests.)
"""
import minicnn
from minicnn.tensor import is_grad_enabled


def pytest_runtest_teardown(item):
    assert minicnn.current_backward_rule() == "normal", f"{item.name} left a backward rule set"
    assert is_grad_enabled(), f"{item.name} left no_grad on"
