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
"""
from minicnn import functional, init, models, nn, optim  # noqa: F401
from minicnn.init import manual_seed  # noqa: F401
from minicnn.ops.relu import backward_rule, current_backward_rule  # noqa: F401
from minicnn.route import is_plain, plain  # noqa: F401
from minicnn.tensor import Tensor, frozen, no_grad, tensor  # noqa: F401

__version__ = "0.1.0"
