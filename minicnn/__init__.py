"""minicnn: a from-scratch NumPy + numba ConvNet framework that teaches how ConvNets see.

    import minicnn
    from minicnn import nn, functional as F, optim

    model = minicnn.models.reference_net()
    loss = F.cross_entropy(model(minicnn.Tensor(images)), labels)
    loss.backward()
"""
from minicnn import memory  # noqa: F401  (first: see minicnn/memory.py)
from minicnn import functional, init, models, nn, optim  # noqa: F401
from minicnn.init import manual_seed  # noqa: F401
from minicnn.ops.relu import backward_rule, current_backward_rule  # noqa: F401
from minicnn.tensor import Tensor, no_grad, tensor  # noqa: F401

__version__ = "0.1.0"
