"""The fast twins of minicnn/ops/relu.py: compiled loops (fast/kernels/relu.py), each core
taking its own share of the flattened array (fast/parallel.py). Arrays too small to be
worth a hand-off are done in one go. Same signatures, same results as the plain rules."""
import numpy as np

from minicnn.fast.kernels import relu as loops
from minicnn.fast.parallel import for_each_share
from minicnn.fast.settings import settings


def elementwise(kernel, out_like, *arrays):
    """kernel(*flat shares of arrays, flat share of out) on every core's share -> out."""
    out = np.empty(out_like.shape, dtype=out_like.dtype)
    flat = [a.reshape(-1) for a in arrays] + [out.reshape(-1)]    # a copy if not contiguous

    def share(i0, i1):
        kernel(*[a[i0:i1] for a in flat])
    for_each_share(out.size, share, settings().relu_min_share)
    return out


def relu_forward(x):                       # max(x, 0)
    return elementwise(loops.relu_forward, x, x)


def relu_backward_normal(x, dout):         # the true gradient: pass where the INPUT was positive
    return elementwise(loops.relu_backward_normal, dout, x, dout)


def relu_backward_deconv(x, dout):         # Zeiler & Fergus 2014: pass where the SIGNAL is positive
    return elementwise(loops.relu_backward_deconv, dout, x, dout)


def relu_backward_guided(x, dout):         # Springenberg et al. 2015: both conditions
    return elementwise(loops.relu_backward_guided, dout, x, dout)
