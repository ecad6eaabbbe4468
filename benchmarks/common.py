"""Timing helpers shared by the benchmark scripts.

Machines are shared and noisy, so every figure is a median over repeats, and
comparisons with PyTorch alternate the two sides inside one run: a burst of
load from elsewhere then hurts both, and their ratio stays meaningful.
"""
import os
import platform
import time

import numpy as np


def time_once(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(sides, repeats, warmup=2):
    """Time each callable in `sides` ({name: fn}) `repeats` times, alternating
    between them. Returns {name: np.array of seconds}."""
    for fn in sides.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            times[name].append(time_once(fn))
    return {name: np.array(t) for name, t in times.items()}


def spread(seconds):
    """'median (p25-p75)' in milliseconds."""
    q25, q50, q75 = np.percentile(seconds * 1e3, [25, 50, 75])
    return f"{q50:8.1f} ms  (p25 {q25:.1f}, p75 {q75:.1f})"


def torch_or_none(threads):
    """PyTorch when the optional `bench` extra is installed, else None."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def machine():
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
