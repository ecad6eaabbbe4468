"""numba kernels: arrays and integers in, arrays out.

Nothing here knows about Tensors or autograd; every kernel has a plain-Python
twin in `naive.py` that the tests compare it against. Set NUMBA_DISABLE_JIT=1
to step through the kernels in a debugger as ordinary Python.

Threads: every kernel is serial and releases the GIL (nogil=True). The ops
run one kernel call per core, each on its own share of the batch
(fast/parallel.py), so numba never starts a thread pool of its own.
"""
