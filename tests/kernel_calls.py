"""The fast kernels' calling conventions, in one place, for the kernel tests.

Each wrapper hands its kernel output arrays filled with NaN (or -1), so an entry the kernel
forgets to write shows up in the comparison with its plain twin.
"""
import numpy as np
from hypothesis import strategies as st

from minicnn.fast.kernels.im2col import col2im, im2col
from minicnn.fast.kernels.naive import winograd_tiles
from minicnn.fast.kernels.pool import maxpool_backward, maxpool_forward
from minicnn.fast.winograd import F2, F4
from minicnn.ops.checks import conv_output_size

window_shapes = dict(
    N=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(1, 6), W=st.integers(1, 6),
    KH=st.integers(1, 4), KW=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 2),
    seed=st.integers(0, 2 ** 16),
)



# The fast kernels' calling conventions, in one place.
def fast_im2col(x, KH, KW, stride, padding):
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    cols = np.full((N, C * KH * KW, OH * OW), np.nan, dtype=x.dtype)   # every entry must be written
    return im2col(x, KH, KW, stride, padding, OH, OW, cols)


def fast_col2im(cols, N, C, H, W, KH, KW, stride, padding):
    dx = np.full((N, C, H, W), np.nan, dtype=cols.dtype)                # col2im must overwrite it
    return col2im(cols, KH, KW, stride, padding,
                  conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding), dx)


def fast_maxpool_forward(x, KH, KW, SH, SW):
    N, C, H, W = x.shape
    shape = (N, C, conv_output_size(H, KH, SH), conv_output_size(W, KW, SW))
    out = np.full(shape, np.nan, dtype=x.dtype)                         # every entry must be written
    switches = np.full(shape, -1, dtype=np.int64)
    return maxpool_forward(x, KH, KW, SH, SW, out, switches)


def fast_maxpool_backward(dout, switches, H, W):
    N, C = dout.shape[:2]
    dx = np.full((N, C, H * W), np.nan, dtype=dout.dtype)               # must be overwritten
    return maxpool_backward(dout, switches, dx).reshape(N, C, H, W)


# The Winograd kernels of F(m x m, 3x3), m = 2 or 4: (k, R, slots) arrays, k = (m + 2)^2
FORMS = {2: F2, 4: F4}


def with_spares(A, N, TH, TW, spare):
    """(k, R, N*TH*TW) in the twins' layout -> the kernels' (k, R, N*TH*(TW + 1)): each row
    of tiles gets its spare slot (fast/kernels/winograd.py), filled with `spare`."""
    k, R = A.shape[:2]
    slots = np.full((k, R, N, TH, TW + 1), spare, dtype=A.dtype)
    slots[..., :TW] = A.reshape(k, R, N, TH, TW)
    return slots.reshape(k, R, N * TH * (TW + 1))


def without_spares(A, N, TH, TW):
    """The kernels' layout -> the twins': drops the spare slots."""
    k, R = A.shape[:2]
    return A.reshape(k, R, N, TH, TW + 1)[..., :TW].reshape(k, R, N * TH * TW)


def spares(A, N, TH, TW):
    """The kernels' layout -> only the spare slots: (k, R, N, TH)."""
    return A.reshape(A.shape[0], A.shape[1], N, TH, TW + 1)[..., TW]


def fast_winograd_input(x, padding, m=2):
    """The kernel's V, spare slots included: (k, C, N*TH*(TW + 1))."""
    N, C, H, W = x.shape
    slots = N * winograd_tiles(H, padding, m) * (winograd_tiles(W, padding, m) + 1)
    V = np.full((FORMS[m].k, C, slots), np.nan, dtype=x.dtype)          # every entry must be written
    return FORMS[m].input(x, padding, V)


def fast_winograd_input_adjoint(dV, padding, N, C, H, W, m=2):
    """dV in the kernel's layout, spare slots included."""
    dx = np.full((N, C, H, W), np.nan, dtype=dV.dtype)                  # must be overwritten
    return FORMS[m].input_adjoint(dV, padding, dx)


def fast_winograd_output(M, bias, N, OH, OW, m=2):
    """M in the kernel's layout, spare slots included."""
    out = np.full((N, M.shape[1], OH, OW), np.nan, dtype=M.dtype)       # must be overwritten
    return FORMS[m].output(M, bias, out)


def fast_winograd_output_adjoint(dout, m=2):
    """The kernel's dM, spare slots included."""
    N, F, OH, OW = dout.shape
    slots = N * -(-OH // m) * (-(-OW // m) + 1)
    dM = np.full((FORMS[m].k, F, slots), np.nan, dtype=dout.dtype)      # must be overwritten
    return FORMS[m].output_adjoint(dout, dM)
