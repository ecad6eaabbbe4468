"""How the fast route keeps its big arrays from costing page faults (Linux, glibc).

A training step allocates and frees dozens of arrays of several megabytes:
activations, their gradients, ReLU masks. glibc's malloc takes allocations
that big straight from the kernel (mmap) or hands freed memory back to it
(trimming), so step after step the arrays land on fresh pages, and the kernel
must zero and map each 4 KB page the first time it is touched. For the
reference net at batch 128 we counted about 11,000 page faults per training
step (resource.getrusage), 60-120 ms of system time per step.

Taking no block from mmap at all (M_MMAP_MAX = 0: every allocation comes from
malloc's heap) and raising the free memory it keeps before trimming to 1 GB
keeps freed arrays inside the process: the next step reuses the same pages,
and page faults drop to about zero. (Raising the mmap threshold instead stops
at 32 MB, glibc's maximum: the residual net at batch 512, whose first layers'
arrays are 67-134 MB, still took 22,000 page faults and 0.4-0.6 s of system
time per step that way; without mmap, none, and the step took 1.87-2.02 s
instead of 2.21-2.31 s, three alternated runs each, for 7% more peak memory
(1,509 MB against 1,411). The reference net at batch 128, whose arrays are all
under 32 MB, is the same either way: 155 ms, 348 MB.)

Threads: glibc gives each thread that allocates its own arena, and a helper
thread's arena is a chain of 64 MB heaps that are unmapped as soon as they
empty. The convolution's helper shares once kept tens of MB between forward
and backward (fast/winograd.py), so that arena's heaps came and went every
step (1,500-3,500 page faults per step). One arena for the whole process ends it;
minicnn allocates a few dozen arrays per op, so the threads rarely wait for
each other at malloc's lock. With one arena, the freed memory at the top of
the heap after a step can exceed 256 MB, hence the 1 GB before trimming (at
256 MB, a step after a large evaluation cost 36,000 page faults).

malloc's options belong to the whole process, so this is the one thing the fast
route changes for everybody: once, the first time a fast op runs or a helper
thread starts (set_up_once), never at import, and not at all with
MINICNN_MALLOC=default in the environment. It must come before the helper
threads' first allocation: a thread keeps the arena it first got. It is skipped
where there is no glibc (macOS, Windows, musl).
"""
import ctypes
import ctypes.util
import os
import threading

M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8   # mallopt() parameters (malloc.h)
MMAP_MAX = 0                                      # blocks malloc may take from mmap: none
TRIM_THRESHOLD = 1024 * 2**20
ARENA_MAX = 1


def keep_freed_memory():
    """Ask glibc's malloc to keep freed blocks for reuse (none taken from mmap, up to 1 GB
    kept before trimming), in one arena shared by all threads. True if it could."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return (bool(mallopt(M_MMAP_MAX, MMAP_MAX))
            and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
            and bool(mallopt(M_ARENA_MAX, ARENA_MAX)))


_done = False
_lock = threading.Lock()


def set_up_once():
    """keep_freed_memory(), the first time only, unless MINICNN_MALLOC=default."""
    global _done
    if _done:                              # the usual case: no lock to take
        return
    with _lock:
        if not _done:
            if os.environ.get("MINICNN_MALLOC", "") != "default":
                keep_freed_memory()
            _done = True
