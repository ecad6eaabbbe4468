"""numba kernels: arrays and integers in, arrays out.

Nothing here knows about Tensors or autograd; every kernel has a plain-Python
twin in `naive.py` that the tests compare it against. Set NUMBA_DISABLE_JIT=1
to step through the kernels in a debugger as ordinary Python.

Threads: numba runs `prange` loops on an OpenMP thread pool, and NumPy's
matrix multiplies run on OpenBLAS's own pool; a training step alternates
between the two. By default OpenMP threads keep spinning for a while after
each loop, so on a 2-core machine they steal the cores BLAS is about to use
(we measured a batch-32 training step 15x slower). A passive wait policy puts
idle threads to sleep at once. It must be set before numba starts its pool,
hence here; an OMP_WAIT_POLICY you set yourself wins.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
