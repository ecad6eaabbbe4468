"""Max-pooling with "switches" (Zeiler & Fergus 2014).

Forward takes the maximum of each KH x KW window and remembers where it was.
Backward routes each gradient to that remembered location. This is the same
under every backward rule: guided backprop and the deconvnet reuse the
switches recorded on the forward pass.
Ties: the first maximum in row-major order inside the window wins.
Each core pools its own share of the batch (minicnn/parallel.py).
"""
import numpy as np

from minicnn.kernels.pool import maxpool2x2_forward, maxpool_backward, maxpool_forward
from minicnn.ops.checks import check_float, check_ndim, check_pair
from minicnn.parallel import for_each_share
from minicnn.tensor import Function

MIN_SHARE = 2**18          # input elements: a smaller share is not worth handing to another core


class MaxPool2d(Function):
    def forward(self, x, kernel_size=2, stride=None):
        """
        Inputs:
        - x: (N, C, H, W)
        - kernel_size: int or (KH, KW); stride: int or (SH, SW), defaults to the kernel size
        Returns out: (N, C, OH, OW) with OH = (H - KH) // SH + 1
        """
        KH, KW = check_pair("max_pool2d", "kernel_size", kernel_size, 1)
        SH, SW = (KH, KW) if stride is None else check_pair("max_pool2d", "stride", stride, 1)
        check_ndim("max_pool2d", "input", x, 4, "(N, C, H, W)")
        check_float("max_pool2d", "input", x)
        N, C, H, W = x.shape
        if KH > H or KW > W:
            raise ValueError(f"max_pool2d: kernel {KH}x{KW} is larger than the input {H}x{W}")
        OH, OW = (H - KH) // SH + 1, (W - KW) // SW + 1
        x = np.ascontiguousarray(x)
        out = np.empty((N, C, OH, OW), dtype=x.dtype)
        self.switches = np.empty((N, C, OH, OW), dtype=np.int64)   # flat index y * W + x
        self.H, self.W = H, W
        self.min_share = max(1, MIN_SHARE // (C * H * W))    # images per share at least

        def forward_share(n0, n1):
            if (KH, KW, SH, SW) == (2, 2, 2, 2):             # the common case, written out
                maxpool2x2_forward(x[n0:n1], out[n0:n1], self.switches[n0:n1])
            else:
                maxpool_forward(x[n0:n1], KH, KW, SH, SW, out[n0:n1], self.switches[n0:n1])
        for_each_share(N, forward_share, self.min_share)
        return out                                           # (N, C, OH, OW)

    def backward(self, dout):                                # dout: (N, C, OH, OW)
        dout = np.ascontiguousarray(dout)
        N, C = dout.shape[:2]
        dx = np.empty((N, C, self.H * self.W), dtype=dout.dtype)

        def backward_share(n0, n1):
            maxpool_backward(dout[n0:n1], self.switches[n0:n1], dx[n0:n1])
        for_each_share(N, backward_share, self.min_share)
        return (dx.reshape(N, C, self.H, self.W),)


def max_pool2d(x, kernel_size=2, stride=None):
    return MaxPool2d.apply(x, kernel_size=kernel_size, stride=stride)
