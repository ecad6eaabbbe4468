"""Two routes through every op: the plain one you read, and the fast twin that runs by default.

The plain route is minicnn/ops/: each op's forward and backward in textbook NumPy (im2col
and one matrix multiply for convolution, the ReLU rules as one-liners). The fast route is
minicnn/fast/: numba kernels, Winograd's convolution, work split between the cores. Every
fast function has the signature of its plain twin, and the tests hold the two to the same
results, so the switch changes the speed and never the answer:

    with minicnn.plain():              # this block runs the code of minicnn/ops/ only
        loss.backward()                # step into it with a debugger

    MINICNN_PLAIN=1 python train.py    # a whole process on the plain route
    minicnn explain cat.jpg --plain    # one command

The switch is a contextvars.ContextVar: it holds for the thread (or the asyncio task) that
set it, so two threads, or two requests of a server, never see each other's route.

An op picks its route when its forward runs, and its backward keeps that choice: the two
routes save different things for the backward.
"""
import os
from contextlib import contextmanager
from contextvars import ContextVar

# MINICNN_PLAIN=1 in the environment when minicnn is imported: the whole process plain
_plain = ContextVar("minicnn_plain", default=os.environ.get("MINICNN_PLAIN", "") == "1")
_replaced = ContextVar("minicnn_replaced", default={})  # {plain function: stand-in}


@contextmanager
def plain(on=True):
    """Run the block on the plain route (on=False: on the fast route, whatever is around it).

    The previous route comes back when the block ends, also when it raises.
    """
    token = _plain.set(bool(on))
    try:
        yield
    finally:
        _plain.reset(token)


def is_plain():
    """True where the plain route is in force: inside `plain()`, or with MINICNN_PLAIN=1."""
    return _plain.get()


@contextmanager
def replaced(functions):
    """Run the block on the plain route, with your own functions standing in for some of
    minicnn/ops/: `functions` maps a plain function to its stand-in, which takes the same
    arguments and returns the same things.

        with minicnn.route.replaced({relu.relu_backward_guided: my_guided_rule}):
            maps = minicnn.visualize.guided_backprop(model, x, "cat")   # drawn by your rule

    `minicnn exercise check` uses this to draw the lecture's pictures with a student's code.
    """
    token = _replaced.set({**_replaced.get(), **functions})
    try:
        with plain():
            yield
    finally:
        _replaced.reset(token)


def twin(plain_function, plain=None):
    """The function to run on a route: `plain_function` itself (from minicnn/ops/) on the
    plain route, its fast twin (listed in minicnn/fast/__init__.py) otherwise.

    plain: which route, True or False; default the one in force. (A Function passes
    `self.plain`, the route in force when its forward ran.) The fast route is imported,
    and prepared, the first time it is chosen."""
    if _plain.get() if plain is None else plain:
        return _replaced.get().get(plain_function, plain_function)
    if _twins is None:
        load_fast_route()
    return _twins.get(plain_function, plain_function)


_twins = None                                  # minicnn.fast.TWINS, once the fast route runs


def load_fast_route():
    """Import and prepare the fast route (fast/__init__.py): not at import, but the first
    time an op takes it."""
    global _twins
    from minicnn import fast
    fast.prepare()
    _twins = fast.TWINS
