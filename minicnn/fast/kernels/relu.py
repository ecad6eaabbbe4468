"""ReLU's forward and its three backward rules as loops over flat arrays.

On our machine NumPy's `np.maximum(x, 0)` on float32 ran 4x slower than this compiled
loop, and `dout * (x > 0)` 2x slower. The rules are those of minicnn/ops/relu.py, one
element at a time. All arrays are flat and of one length; each kernel writes into the
array passed in (fast/relu.py gives each core its own slice).
"""
from numba import njit


@njit(cache=True, nogil=True)
def relu_forward(x, out):                  # max(x, 0); `0 if x < 0 else x` keeps a NaN a NaN
    for i in range(x.size):
        out[i] = 0 if x[i] < 0 else x[i]


@njit(cache=True, nogil=True)
def relu_backward_normal(x, dout, dx):     # the true gradient: pass where the INPUT was positive
    for i in range(dx.size):
        dx[i] = dout[i] if x[i] > 0 else 0


@njit(cache=True, nogil=True)
def relu_backward_deconv(x, dout, dx):     # Zeiler & Fergus 2014: pass where the SIGNAL is positive
    for i in range(dx.size):
        dx[i] = dout[i] if dout[i] > 0 else 0


@njit(cache=True, nogil=True)
def relu_backward_guided(x, dout, dx):     # Springenberg et al. 2015: both conditions
    for i in range(dx.size):
        dx[i] = dout[i] if x[i] > 0 and dout[i] > 0 else 0
