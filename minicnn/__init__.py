"""minicnn: a from-scratch NumPy + numba ConvNet framework that teaches how ConvNets see.

    import minicnn
    from minicnn import nn, functional as F, optim

    model = minicnn.models.reference_net()
    loss = F.cross_entropy(model(minicnn.Tensor(images)), labels)
    loss.backward()

    with minicnn.plain():          # the same, on the textbook code of minicnn/ops/ alone
        loss.backward()

Importing minicnn changes nothing about the process (threads, malloc, the environment);
what the fast route sets up, it sets up when it first runs (minicnn/fast/__init__.py).

The engine is imported at once; the larger subpackages (minicnn.data, minicnn.visualize,
minicnn.train, ...) when first used, so `import minicnn` stays fast and
`minicnn.visualize.saliency(...)` still works without importing minicnn.visualize first.
"""

from minicnn import functional, init, models, nn, optim  # noqa: F401
from minicnn.init import manual_seed  # noqa: F401
from minicnn.ops.relu import backward_rule, current_backward_rule  # noqa: F401
from minicnn.route import is_plain, plain  # noqa: F401
from minicnn.tensor import Tensor, frozen, no_grad, tensor  # noqa: F401

__version__ = "0.1.0"

# imported on first access by __getattr__ (PEP 562), e.g. minicnn.visualize: matplotlib,
# Pillow and numba load only for what needs them
_LAZY = ("data", "explore", "exercises", "fast", "notebooks", "plots", "train", "visualize")


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return importlib.import_module(f"minicnn.{name}")   # binds minicnn.<name> for next time
    raise AttributeError(f"module 'minicnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
