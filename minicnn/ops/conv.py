"""2-D convolution (really cross-correlation, as in every deep learning library).

    out[n, f, oy, ox] = b[f] + sum_{c, i, j} w[f, c, i, j] * x_pad[n, c, oy*s + i, ox*s + j]

Forward lays every window of the batch out as a column (im2col), so the sum
is one matrix multiply; backward is two more and col2im (im2col's adjoint):

    out = w @ cols          dw = dout @ cols.T          dcols = w.T @ dout      dx = col2im(dcols)

with w as (F, C*KH*KW), cols (C*KH*KW, N*OH*OW) and dout as (F, N*OH*OW).

A float64 input to a float32 layer is computed in float32 (the weights'
dtype), and its gradient is handed back in float64.

The backward is the same under every backward rule: guided backprop and the
deconvnet both send the signal down through the transposed filters.
"""
import numpy as np

from minicnn.kernels.im2col import col2im, im2col
from minicnn.ops.checks import check_float, check_int, check_ndim
from minicnn.tensor import Function


def conv_output_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


class Conv2d(Function):
    def forward(self, x, w, b, stride=1, padding=0):
        """
        Inputs:
        - x: (N, C, H, W) images; w: (F, C, KH, KW) filters; b: (F,) biases or None
        - stride, padding: integers (the same along height and width)
        Returns out: (N, F, OH, OW) with OH = (H + 2*padding - KH) // stride + 1
        """
        stride = check_int("conv2d", "stride", stride, 1)
        padding = check_int("conv2d", "padding", padding, 0)
        check_ndim("conv2d", "input", x, 4, "(N, C, H, W)")
        check_ndim("conv2d", "weight", w, 4, "(F, C, KH, KW)")
        check_float("conv2d", "input", x)
        N, C, H, W = x.shape
        F, Cw, KH, KW = w.shape
        if C != Cw:
            raise ValueError(f"conv2d: input has C={C} channels (shape {x.shape}), "
                             f"weight expects {Cw} (shape {w.shape})")
        if b is not None and b.shape != (F,):
            raise ValueError(f"conv2d: bias must have shape ({F},), got {b.shape}")
        if KH > H + 2 * padding or KW > W + 2 * padding:
            raise ValueError(f"conv2d: kernel {KH}x{KW} is larger than the padded input "
                             f"{H + 2 * padding}x{W + 2 * padding} (input {H}x{W}, padding {padding})")
        self.x_dtype = x.dtype
        x = np.ascontiguousarray(x, dtype=w.dtype)          # compute in the weights' dtype
        OH = conv_output_size(H, KH, stride, padding)
        OW = conv_output_size(W, KW, stride, padding)

        cols = im2col(x, KH, KW, stride, padding, OH, OW)   # (C*KH*KW, N*OH*OW)
        out = w.reshape(F, -1) @ cols                        # (F, N*OH*OW)
        if b is not None:
            out += b.astype(w.dtype, copy=False)[:, None]
        self.cols = cols if self.needs_input_grad[1] else None   # only dw needs them
        self.w, self.x_shape = w, x.shape
        self.stride, self.padding, self.OH, self.OW = stride, padding, OH, OW
        out = out.reshape(F, N, OH, OW).transpose(1, 0, 2, 3)   # (N, F, OH, OW)
        return np.ascontiguousarray(out)

    def backward(self, dout):                                # dout: (N, F, OH, OW)
        N, C, H, W = self.x_shape
        F, _, KH, KW = self.w.shape
        dout = dout.astype(self.w.dtype, copy=False).transpose(1, 0, 2, 3)
        dout = dout.reshape(F, -1)                           # (F, N*OH*OW), a copy
        need_dx, need_dw, need_db = self.needs_input_grad
        dx = dw = db = None
        if need_dw:
            dw = (dout @ self.cols.T).reshape(self.w.shape)  # (F, C, KH, KW)
        if need_db:
            db = dout.sum(axis=1)                            # (F,)
        if need_dx:
            dcols = self.w.reshape(F, -1).T @ dout           # (C*KH*KW, N*OH*OW)
            dx = col2im(dcols, N, C, H, W, KH, KW, self.stride, self.padding, self.OH, self.OW)
            dx = dx.astype(self.x_dtype, copy=False)
        return dx, dw, db


def conv2d(x, w, b=None, stride=1, padding=0):
    """Functional convolution: x (N, C, H, W), w (F, C, KH, KW), b (F,) -> (N, F, OH, OW)."""
    return Conv2d.apply(x, w, b, stride=stride, padding=padding)
