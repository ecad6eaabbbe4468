"""The fast twins of minicnn/ops/pool.py: max-pooling by compiled loops (fast/kernels/pool.py),
2x2 windows written out (about 4x faster than the general kernel), each core pooling its
own share of the batch (fast/parallel.py).

The switches are kept as the flat index y * W + x of each window's winner; the plain
route keeps the winner's place inside its window. Either way, ties go to the first
maximum in row-major order.
"""
import numpy as np

from minicnn.fast.kernels.pool import maxpool2x2_forward, maxpool_backward, maxpool_forward
from minicnn.fast.parallel import for_each_share
from minicnn.fast.settings import settings
from minicnn.ops.checks import conv_output_size


def max_pool2d_forward(ctx, x, KH, KW, SH, SW):
    """x (N, C, H, W) -> out (N, C, OH, OW); saves the switches on ctx."""
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, KH, SH), conv_output_size(W, KW, SW)
    x = np.ascontiguousarray(x)
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    switches = np.empty((N, C, OH, OW), dtype=np.int64)     # flat index y * W + x
    min_share = max(1, settings().pool_min_share // (C * H * W))    # images per share at least

    def forward_share(n0, n1):
        if (KH, KW, SH, SW) == (2, 2, 2, 2):                 # the common case, written out
            maxpool2x2_forward(x[n0:n1], out[n0:n1], switches[n0:n1])
        else:
            maxpool_forward(x[n0:n1], KH, KW, SH, SW, out[n0:n1], switches[n0:n1])
    for_each_share(N, forward_share, min_share)
    ctx.x_shape, ctx.switches, ctx.min_share = x.shape, switches, min_share
    return out


def max_pool2d_backward(ctx, dout):
    """dout (N, C, OH, OW) -> (dx,): each gradient to its window's switch."""
    dout = np.ascontiguousarray(dout)
    N, C, H, W = ctx.x_shape
    dx = np.empty((N, C, H * W), dtype=dout.dtype)

    def backward_share(n0, n1):
        maxpool_backward(dout[n0:n1], ctx.switches[n0:n1], dx[n0:n1])
    for_each_share(N, backward_share, ctx.min_share)
    return (dx.reshape(N, C, H, W),)
