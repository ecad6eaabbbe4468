"""numba kernels: arrays and integers in, arrays out.

Nothing here knows about Tensors or autograd; every kernel has a plain-Python
twin in `naive.py` that the tests compare it against. Set NUMBA_DISABLE_JIT=1
to step through the kernels in a debugger as ordinary Python.
"""
