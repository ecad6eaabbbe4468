"""numba kernels: arrays and integers in, arrays out.

Nothing here knows about Tensors or autograd; every kernel has a plain-Python
twin in `naive.py` that the tests compare it against. Set NUMBA_DISABLE_JIT=1
to step through the kernels in a debugger as ordinary Python.

Threads: im2col and col2im are serial and release the GIL: the convolution
runs one per core, each on its own share of the batch (minicnn/parallel.py).
The max-pool kernels use numba's `prange`, on an OpenMP thread pool. By default
OpenMP threads keep spinning for a while after each loop, so on a 2-core
machine they steal the cores the next matrix multiply is about to use (we
measured a batch-32 training step 15x slower). A passive wait policy puts idle
threads to sleep at once. It must be set before numba starts its pool, hence
here; an OMP_WAIT_POLICY you set yourself wins.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
