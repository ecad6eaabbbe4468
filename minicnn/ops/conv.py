"""2-D convolution (really cross-correlation, as in every deep learning library).

    out[n, f, oy, ox] = b[f] + sum_{c, i, j} w[f, c, i, j] * x_pad[n, c, oy*s + i, ox*s + j]

Forward lays every window of image n out as a column (im2col), so the sum is
one matrix multiply per image; backward is two more and col2im (im2col's
adjoint):

    out[n] = w @ cols[n]                     dw = sum_n dout[n] @ cols[n].T
    dcols[n] = w.T @ dout[n]                 dx[n] = col2im(dcols[n])

with w as (F, C*KH*KW), cols[n] (C*KH*KW, OH*OW) and dout[n] as (F, OH*OW).

The columns of a whole batch are 9x the size of its input for a 3x3 kernel
(151 MB for the reference net's conv2 at batch 128), so they are never made
at once: a few images at a time are laid out in one small reused buffer,
which stays in the cache for the matrix multiply that reads it. Backward lays
them out again rather than keeping them (cheap, and it keeps memory small).
Each core works on its own share of the batch (minicnn/parallel.py).

3x3 filters at stride 1 (most of the reference net) take a faster route to
the same result: Winograd's F(2x2, 3x3), in ops/winograd.py, with 2.25x fewer
multiplies. Other shapes, and inputs with fewer than WINOGRAD_MIN_CHANNELS
channels (such as the first layer's RGB), use im2col: with so few channels to
sum over, Winograd's 16 small matrix multiplies cost more than they save (the
first layer was slower through Winograd on our machine). Both routes are
checked against the same plain six-loop convolution.

A float64 input to a float32 layer is computed in float32 (the weights'
dtype), and its gradient is handed back in float64.

The backward is the same under every backward rule: guided backprop and the
deconvnet both send the signal down through the transposed filters.
"""
import numpy as np

from minicnn.kernels.im2col import col2im, im2col
from minicnn.ops import winograd
from minicnn.ops.checks import check_float, check_int, check_ndim
from minicnn.parallel import for_each_share, tiles
from minicnn.tensor import Function

TILE_BYTES = 4 * 2**20      # columns of this many bytes at most are laid out at a time
MIN_SHARE_WORK = 2**22      # multiply-adds: a share of less is not worth handing to another core
WINOGRAD_MIN_CHANNELS = 24  # 3x3 stride-1 layers with this many input channels or more use Winograd


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
        self.stride, self.padding, self.OH, self.OW = stride, padding, OH, OW
        self.w, self.x_hw = w, (H, W)
        self.x = x if self.needs_input_grad[1] else None    # only dw needs the input again
        self.winograd = (KH, KW, stride) == (3, 3, 1) and C >= WINOGRAD_MIN_CHANNELS
        # images per share at least: waking a helper costs tens of microseconds
        self.min_share = max(1, MIN_SHARE_WORK // (F * C * KH * KW * OH * OW))
        bias = None if b is None else b.astype(w.dtype, copy=False)     # (F,)
        if self.winograd:                                    # dw needs the transformed input
            out, self.U, self.kept = winograd.forward(x, w, bias, padding, self.min_share,
                                                      keep_V=self.needs_input_grad[1])
            return out                                       # (N, F, OH, OW)

        w_rows = w.reshape(F, -1)                            # (F, C*KH*KW)
        out = np.empty((N, F, OH * OW), dtype=w.dtype)

        def forward_share(n0, n1):                           # images n0:n1, on one core
            cols = self.column_buffer(n1 - n0)               # (T, C*KH*KW, OH*OW)
            for t0, t1 in tiles(n0, n1, len(cols)):
                im2col(x[t0:t1], KH, KW, stride, padding, OH, OW, cols[:t1 - t0])
                np.matmul(w_rows, cols[:t1 - t0], out=out[t0:t1])   # (T, F, OH*OW)
                if bias is not None:
                    out[t0:t1] += bias[:, None]              # (F, 1): one per row of out
        for_each_share(N, forward_share, self.min_share)
        return out.reshape(N, F, OH, OW)

    def backward(self, dout):                                # dout: (N, F, OH, OW)
        F, C, KH, KW = self.w.shape
        N = dout.shape[0]
        s, p, OH, OW = self.stride, self.padding, self.OH, self.OW
        dout = np.ascontiguousarray(dout, dtype=self.w.dtype)
        need_dx, need_dw, need_db = self.needs_input_grad
        if self.winograd:
            dx, dw, db = winograd.backward(self.x, self.kept, self.U, dout, p, self.min_share,
                                           need_dx, need_dw, need_db)
            return (None if dx is None else dx.astype(self.x_dtype, copy=False)), dw, db
        dout = dout.reshape(N, F, OH * OW)
        w_rows = self.w.reshape(F, -1)                       # (F, C*KH*KW)
        dx = np.empty((N, C) + self.x_hw, dtype=self.w.dtype) if need_dx else None

        def backward_share(n0, n1):                          # images n0:n1, on one core
            dw = np.zeros_like(w_rows)                       # (F, C*KH*KW), summed over n0:n1
            db = np.zeros(F, dtype=self.w.dtype)
            cols = self.column_buffer(n1 - n0)               # (T, C*KH*KW, OH*OW)
            for t0, t1 in tiles(n0, n1, len(cols)):
                tile = cols[:t1 - t0]
                if need_dw:                                  # dw += sum_n dout[n] @ cols[n].T
                    im2col(self.x[t0:t1], KH, KW, s, p, OH, OW, tile)
                    dw += np.matmul(dout[t0:t1], tile.transpose(0, 2, 1)).sum(axis=0)
                if need_db:
                    db += dout[t0:t1].sum(axis=(0, 2))
                if need_dx:                                  # dx[n] = col2im(w.T @ dout[n])
                    np.matmul(w_rows.T, dout[t0:t1], out=tile)     # the buffer now holds dcols
                    col2im(tile, KH, KW, s, p, OH, OW, dx[t0:t1])   # (T, C, H, W)
            return dw, db

        shares = for_each_share(N, backward_share, self.min_share)
        dw = sum(dw for dw, _ in shares).reshape(self.w.shape) if need_dw else None
        db = sum(db for _, db in shares) if need_db else None
        if need_dx:
            dx = dx.astype(self.x_dtype, copy=False)
        return dx, dw, db

    def column_buffer(self, n):
        """An empty (T, C*KH*KW, OH*OW) buffer for the columns of T of n images at a
        time: as many as fit in TILE_BYTES, at least one."""
        _, C, KH, KW = self.w.shape
        one_image = C * KH * KW * self.OH * self.OW * self.w.dtype.itemsize
        T = max(1, min(n, TILE_BYTES // one_image))
        return np.empty((T, C * KH * KW, self.OH * self.OW), dtype=self.w.dtype)


def conv2d(x, w, b=None, stride=1, padding=0):
    """Functional convolution: x (N, C, H, W), w (F, C, KH, KW), b (F,) -> (N, F, OH, OW)."""
    return Conv2d.apply(x, w, b, stride=stride, padding=padding)
