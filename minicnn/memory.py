"""How minicnn keeps its big arrays from costing page faults (Linux, glibc).

A training step allocates and frees dozens of arrays of several megabytes:
activations, their gradients, ReLU masks. glibc's malloc takes allocations
that big straight from the kernel (mmap) or hands freed memory back to it
(trimming), so step after step the arrays land on fresh pages, and the kernel
must zero and map each 4 KB page the first time it is touched. For the
reference net at batch 128 we counted about 11,000 page faults per training
step (resource.getrusage), 60-120 ms of system time per step.

Raising malloc's mmap threshold to its 32 MB maximum, and the free memory it
keeps before trimming to 256 MB, keeps freed arrays inside the process: the
next step reuses the same pages, and page faults drop to about zero. Arrays
over 32 MB (batches of more than 128 images in the first layers) still come
straight from the kernel. Importing minicnn does this once, for the whole
process; it is skipped where there is no glibc (macOS, Windows, musl).
"""
import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3       # mallopt() parameter numbers (malloc.h)
MMAP_THRESHOLD = 32 * 2**20                       # the largest glibc accepts on 64-bit
TRIM_THRESHOLD = 256 * 2**20


def keep_freed_memory():
    """Ask glibc's malloc to keep freed blocks of up to 32 MB for reuse. True if it could."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


keep_freed_memory()
