"""The ops as plain functions, PyTorch style: `import minicnn.functional as F`.

Each is defined next to its Function in minicnn/ops/; this module only
gathers them in one place.
"""
from minicnn.ops.avgpool import adaptive_avg_pool2d, avg_pool2d  # noqa: F401
from minicnn.ops.basic import add, matmul, mean, mul, reshape, sub, sum  # noqa: F401, A004
from minicnn.ops.batchnorm import batch_norm  # noqa: F401
from minicnn.ops.conv import conv2d  # noqa: F401
from minicnn.ops.dropout import dropout  # noqa: F401
from minicnn.ops.linear import linear  # noqa: F401
from minicnn.ops.loss import cross_entropy, log_softmax, softmax  # noqa: F401
from minicnn.ops.pool import max_pool2d  # noqa: F401
from minicnn.ops.relu import relu  # noqa: F401


def flatten(x):
    """(N, C, H, W) -> (N, C*H*W) in C, H, W order (PyTorch's order)."""
    return x.flatten()
