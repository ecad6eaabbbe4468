"""What an exercise's checks are made of: properties, the student's functions, comparisons.

A property is a statement that must hold for every input: "dw matches central differences
of the convolution". It has

    cases      a hypothesis strategy drawing one input, a dict such as {"x": ..., "w": ...}
    check      check(fns, case): calls the student's functions (fns.conv_forward(...)) and
               raises Mismatch, with the expected and the actual values, when it does not hold
    hint       one or two sentences that say what the property needs, shown on failure

Cases are drawn as small sizes plus a seed, and the arrays are made from the seed, so
hypothesis shrinks a failing case towards small shapes and a short printout. The values
are multiples of 0.1 (readable), kept off the kinks where a gradient is checked (a ReLU at
0, a tie in a max-pool window), in float64.

The student's functions reach the checks wrapped (`Watched`): every call reports when it
starts and when it returns (the checker's watchdog gives the student's code `time_limit`
seconds a call, and knows which function was running when time ran out),
gets copies of its arrays (a function that writes into its input cannot spoil the next
check), and turns NotImplementedError into NotStarted, which stops hypothesis at once.
"""
import numbers
import traceback
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from hypothesis import strategies as st

# ---- what a property raises -------------------------------------------------------------


class NotStarted(BaseException):
    """A stub still raises NotImplementedError. A BaseException, so that hypothesis stops at
    once instead of shrinking (it only catches Exception)."""

    def __init__(self, function):
        super().__init__(function)
        self.function = function


class Missing(BaseException):
    """The student's file has no function of that name."""

    def __init__(self, function, what="no function"):
        super().__init__(function)
        self.function, self.what = function, what


class Mismatch(AssertionError):
    """A property does not hold. `text` says how, with the expected and the actual values."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text


@dataclass
class Property:
    name: str
    cases: st.SearchStrategy
    check: Callable
    hint: str
    examples: int | None = None      # fewer cases for an expensive property


# ---- the student's functions ------------------------------------------------------------


def summary(value):
    """A short description of an argument, for messages: arrays by shape."""
    if isinstance(value, np.ndarray):
        return f"array {value.shape}"
    if isinstance(value, (tuple, list)) and len(value) > 4:
        return f"{type(value).__name__} of {len(value)}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def copied(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [copied(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(copied(v) for v in value)
    return value


class Watched:
    """One of the student's functions, as the checks call it (see the module docstring)."""

    def __init__(self, name, function, notify, missing=None):
        self.name, self.function, self.notify, self.missing = name, function, notify, missing

    def __call__(self, *args):
        if self.missing is not None:
            raise Missing(self.name, self.missing)
        self.notify(("call", self.name, ", ".join(summary(a) for a in args)))
        try:
            return self.function(*[copied(a) for a in args])
        except NotImplementedError:
            raise NotStarted(self.name) from None
        finally:
            self.notify(("returned",))

    def changes_arguments(self, names, *args):
        """Call with copies; return the names of the arguments the function wrote into."""
        if self.missing is not None:
            raise Missing(self.name, self.missing)
        self.notify(("call", self.name, ", ".join(summary(a) for a in args)))
        copies = [copied(a) for a in args]
        try:
            self.function(*copies)
        except NotImplementedError:
            raise NotStarted(self.name) from None
        finally:
            self.notify(("returned",))
        return [name for name, a, c in zip(names, args, copies)
                if isinstance(a, np.ndarray) and not np.array_equal(a, c, equal_nan=True)]


class Functions:
    """The student's functions by name, as attributes: fns.conv_forward(x, w, b, 1, 0)."""

    def __init__(self, module, names, notify):
        for name in names:
            function = getattr(module, name, None)
            missing = None
            if function is None:
                missing = "no function"
            elif not callable(function):
                missing = f"a {type(function).__name__}, not a function,"
            setattr(self, name, Watched(name, function, notify, missing))


# ---- drawing cases ----------------------------------------------------------------------

seeds = st.integers(0, 2 ** 16 - 1)


def decimals(rng, shape, low=-9, high=9):
    """Multiples of 0.1 from low/10 to high/10: float64, easy to read in a printout."""
    return rng.integers(low, high + 1, size=shape) / 10.0


def off_zero(rng, shape):
    """Multiples of 0.1 in [-0.9, -0.1] and [0.1, 0.9]: never 0, where a ReLU has its kink."""
    return rng.integers(1, 10, size=shape) / 10.0 * rng.choice([-1.0, 1.0], size=shape)


def distinct(rng, shape):
    """Different multiples of 0.1, no two equal: a max-pool window has no tie, and
    stays untied when central differences move one entry by 1e-6."""
    size = int(np.prod(shape))
    values = (rng.permutation(size) - size // 2) / 10.0
    return values.reshape(shape)


class Described:
    """A value a case carries for the checker's own use (a network, say), shown in a
    failure's printout by a few words instead of its repr."""

    def __init__(self, value, text):
        self.value, self.text = value, text

    def __repr__(self):
        return self.text


# ---- comparing ---------------------------------------------------------------------------


def show(label, value, indent="    "):
    """`label (shape) = value` for a message; a many-line array below its label."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return f"{label} = {float(value):.6g}"
    if not isinstance(value, np.ndarray):
        return f"{label} = {value!r}"
    text = np.array2string(value, precision=4, suppress_small=True, threshold=160,
                           max_line_width=96, separator=" ")
    text = "\n".join(line for line in text.splitlines() if line.strip())   # no blank lines
    head = f"{label} {value.shape}" if value.ndim > 1 else label
    if "\n" not in text:
        return f"{head} = {text}"
    return f"{head} =\n" + "\n".join(indent + line for line in text.splitlines())


def show_case(case, indent="    "):
    """Every input of a case, one `show` each, indented."""
    return "\n".join(indent + show(name, value).replace("\n", "\n" + indent)
                     for name, value in case.items())


def as_array(name, value, function):
    """The student's result as a float array, or a Mismatch saying what came back."""
    if value is None:
        raise Mismatch(f"{function} returned None for {name}: is a `return` missing?")
    if isinstance(value, (str, bytes, dict, set)):
        raise Mismatch(f"{function} returned a {type(value).__name__} for {name}, "
                       f"expected an array")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise Mismatch(f"{function} returned {summary(value)} for {name}, which is not an "
                       f"array of numbers ({error})") from None
    return array


def unpack(result, names, function):
    """A tuple of len(names) results, or a Mismatch saying what came back instead."""
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        got = (f"a {type(result).__name__} of {len(result)}" if isinstance(result, (tuple, list))
               else summary(result))
        raise Mismatch(f"{function} must return a tuple ({', '.join(names)}); it returned {got}")
    return result


def compare(name, actual, expected, function, rtol=1e-6, atol=1e-7, looks_like=(),
            wrong_shapes=()):
    """Raise Mismatch unless `actual` (the student's) equals `expected` to the tolerance.

    looks_like: (message, alternative) pairs: if actual matches `alternative`, a known
    mistake, the message says so ("it looks like your dw is the expected one flipped").
    wrong_shapes: (shape, message) pairs, the same for a known wrong shape.
    """
    actual = as_array(name, actual, function)
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(1.0, float(np.abs(expected).max())) if expected.size else 1.0
    if actual.shape == expected.shape and np.allclose(actual, expected, rtol=rtol,
                                                      atol=atol * scale):
        return
    lines = []
    if actual.shape != expected.shape:
        lines.append(f"{name} has the wrong shape: expected {expected.shape}, "
                     f"yours is {actual.shape}")
    lines.append(show(f"expected {name}", expected))
    lines.append(show(f"yours    {name}", actual))
    if actual.shape == expected.shape and expected.ndim:
        wrong = ~np.isclose(actual, expected, rtol=rtol, atol=atol * scale)
        first = tuple(int(i) for i in np.argwhere(wrong)[0])
        lines.append(f"where they differ: {int(wrong.sum())} of {wrong.size} entries; the first "
                     f"at {list(first)}: expected {expected[first]:.6g}, yours {actual[first]:.6g}")
        if not np.isfinite(actual).all():
            lines.append("yours holds inf or nan: an overflow, or a division by zero?")
    for shape, message in wrong_shapes:
        if actual.shape == tuple(shape):
            lines.append(f"it looks like {message}")
    for message, alternative in looks_like:
        alternative = np.asarray(alternative, dtype=np.float64)
        if alternative.shape == actual.shape and np.allclose(actual, alternative, rtol=rtol,
                                                             atol=atol * scale):
            lines.append(f"it looks like {message}")
            break
    raise Mismatch("\n".join(lines))


def require(condition, text):
    if not condition:
        raise Mismatch(text)


def numerical_gradient(f, inputs, name, dout, eps=1e-6):
    """Central differences: d/d inputs[name] of L = sum(f(**inputs) * dout), float64.

        dL/dx[i] ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)      error O(eps^2)
    """
    inputs = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) and
                  (k == name or v.dtype.kind == "f") else v) for k, v in inputs.items()}
    x = inputs[name]
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        plus = float((np.asarray(f(**inputs)) * dout).sum())
        x[i] = old - eps
        minus = float((np.asarray(f(**inputs)) * dout).sum())
        x[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# ---- an exception in the student's code ----------------------------------------------------


def student_traceback(error, path):
    """The lines of an exception's traceback that are in the student's file, and the
    exception itself: what they need to find the bug, without the checker's frames."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if same_file(f.filename, path)]
    lines = [f"  line {f.lineno}, in {f.name}\n    {f.line}" for f in frames]
    kind = type(error).__name__
    message = str(error)
    return "\n".join(lines + [f"{kind}: {message}" if message else kind]), bool(frames)


def same_file(a, b):
    try:
        from pathlib import Path
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return a == b


@dataclass
class Outcome:
    """The result of one property: status "pass", "fail", "not started" or "time limit"."""
    name: str
    status: str
    text: str = ""
    extra: dict = field(default_factory=dict)
