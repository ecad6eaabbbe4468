"""The output-size formula, and the argument checks shared by the ops, so bad input fails
with a readable message naming the op and the numbers, on both routes alike (before any
numba kernel sees it)."""
import numbers

import numpy as np


def conv_output_size(size, kernel, stride, padding=0):
    """How many windows of `kernel` fit along `size` at `stride`, after `padding` on both
    sides: the output size of a convolution or a pooling layer along one axis."""
    return (size + 2 * padding - kernel) // stride + 1


def check_int(op, name, value, minimum):
    """A plain integer >= minimum (bool and float are refused: stride=1.5 is a mistake)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value}")
    return int(value)


def check_pair(op, name, value, minimum):
    """An int or a pair of ints, returned as a pair (kernel_size=3 means 3x3)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair, got {value!r}")
        return tuple(check_int(op, name, v, minimum) for v in value)
    v = check_int(op, name, value, minimum)
    return v, v


def check_ndim(op, name, x, ndim, layout):
    if x.ndim != ndim:
        raise ValueError(f"{op}: {name} must be {ndim}-D {layout}, got shape {x.shape}")


def check_float(op, name, x):
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: {name} must be float32 or float64, got {x.dtype}")
