"""The fast route: a twin for each op of minicnn/ops/, with the same signature and results.

    conv.py       im2col by a compiled kernel, a few images at a time, per core
    winograd.py   3x3 stride-1 convolutions by Winograd's F(2x2, 3x3) or F(4x4, 3x3)
    small_maps.py maps up to 4x4 from 16 images: matrix products per filter tap or per
                  output pixel
    kept.py       filters laid out for a road once, kept while they get no gradient
    pool.py       max-pooling, 2x2 windows written out
    linear.py     the weight matrix shared between the cores
    relu.py       the ReLU rules as compiled loops
    batchnorm.py  batch norm in three passes forward, two back, per channel
    kernels/      the numba kernels (arrays in, arrays out) and their plain-loop twins
    parallel.py   one share of the batch per core (of a single image: its channels); one
                  BLAS thread while a fast op runs
    memory.py     malloc keeps freed arrays for reuse (no page faults)
    settings.py   threads, tile sizes, when Winograd: one place, `configure()` to change

minicnn/route.py chooses between the routes; TWINS below is the whole list of who stands
in for whom. An op without a fast twin (softmax, cross-entropy, add, ...) runs its plain
code on both routes.

What the fast route does to the process, all of it here:
- OpenBLAS runs on one thread while a fast op runs (the ops split the batch between the
  cores themselves), and on its own count again afterwards (parallel.one_blas_thread).
- Helper threads, one per core but the first, start the first time an op is split
  (parallel.get_helper) and sleep while there is no work.
- malloc keeps freed memory for reuse, in one arena (memory.py): set once for the whole
  process the first time the fast route runs, never at import. MINICNN_MALLOC=default
  leaves malloc alone (training then costs about 11,000 page faults a step).
- Filters used without a gradient (inference, explanations) keep their Winograd transform, or
  their layout per tap, and a fingerprint of their values while their array lives (kept.py):
  9-33 MB for vgg_bn_net's (the most once F(2x2, 3x3), F(4x4, 3x3) and the taps all ran),
  3-23 MB for residual_net's, 0.4-1.4 MB for the reference net's.
That is all: no environment variable is set, and nothing happens at import.
"""
from minicnn.fast import batchnorm, conv, linear, memory, pool, relu
from minicnn.fast.settings import Settings, configure, settings  # noqa: F401
from minicnn.ops import batchnorm as plain_batchnorm
from minicnn.ops import conv as plain_conv
from minicnn.ops import linear as plain_linear
from minicnn.ops import pool as plain_pool
from minicnn.ops import relu as plain_relu

TWINS = {
    plain_conv.conv2d_forward: conv.conv2d_forward,
    plain_conv.conv2d_backward: conv.conv2d_backward,
    plain_pool.max_pool2d_forward: pool.max_pool2d_forward,
    plain_pool.max_pool2d_backward: pool.max_pool2d_backward,
    plain_linear.linear_forward: linear.linear_forward,
    plain_linear.linear_backward: linear.linear_backward,
    plain_relu.relu_forward: relu.relu_forward,
    plain_relu.relu_backward_normal: relu.relu_backward_normal,
    plain_relu.relu_backward_deconv: relu.relu_backward_deconv,
    plain_relu.relu_backward_guided: relu.relu_backward_guided,
    plain_batchnorm.batch_norm_train_forward: batchnorm.batch_norm_train_forward,
    plain_batchnorm.batch_norm_train_backward: batchnorm.batch_norm_train_backward,
    plain_batchnorm.batch_norm_eval_forward: batchnorm.batch_norm_eval_forward,
    plain_batchnorm.batch_norm_eval_backward: batchnorm.batch_norm_eval_backward,
}


def prepare():
    """What the fast route sets up before its first op: malloc's options (memory.py), once."""
    memory.set_up_once()
