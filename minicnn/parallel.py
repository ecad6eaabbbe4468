"""How minicnn uses the cores: one share of the batch per core, one BLAS thread each.

A convolution is mostly matrix multiplies (ops/conv.py). NumPy hands each one
to OpenBLAS, which splits it over a thread pool of its own whose threads spin
while they wait for work. Next to other threads (PyTorch's, or any other busy
process) they fight for the cores: on a loaded 2-core machine we measured
training steps 10 to 20 times slower. So minicnn asks OpenBLAS for a single
thread and splits the *batch* itself: each of WORKERS threads (the calling
thread and WORKERS - 1 helpers) takes a contiguous share of the images and runs
its own im2col or Winograd transforms and matrix multiplies, ReLUs and max-pools.
NumPy and our numba kernels (nogil=True) release the GIL, so the shares really
run at the same time, and an idle worker sleeps instead of spinning.

    results = for_each_share(N, work)    # work(n0, n1) for each share of range(N), in parallel
    for t0, t1 in tiles(n0, n1, T):      # inside a share: T images at a time

WORKERS is one per core; set NUMBA_NUM_THREADS to use fewer. Importing minicnn
sets NumPy's bundled OpenBLAS to one thread for the whole process (a no-op when
NumPy uses another BLAS).
"""
import ctypes
import queue
import threading
from pathlib import Path

import numba
import numpy as np

WORKERS = numba.config.NUMBA_NUM_THREADS


def for_each_share(N, work, min_share=1):
    """Call work(n0, n1) on up to WORKERS contiguous shares of range(N) at once,
    each at least `min_share` long (a small job is not worth a hand-off).
    Returns their results, in order. The calling thread works the first share
    itself; helper threads take the others."""
    S = max(1, min(WORKERS, N // min_share))         # how many shares
    shares = [(N * k // S, N * (k + 1) // S) for k in range(S)]
    replies = []
    for k, (n0, n1) in enumerate(shares[1:]):
        reply = queue.SimpleQueue()                  # this call's own: callers may be several
        helper_inbox(k).put((work, n0, n1, reply))
        replies.append(reply)
    try:
        results = [work(*shares[0])]
    finally:                                         # even if it failed: the helpers must finish
        answers = [reply.get() for reply in replies]
    for failed, result in answers:
        if failed:
            raise result
        results.append(result)
    return results


# A helper thread waits on its inbox for (work, n0, n1, reply), runs work(n0, n1) and puts
# (failed, result or error) on reply. Two plain queues hand a share over several times faster
# than a concurrent.futures pool (a Future with its condition variable and locks), and a
# training step makes about 26 hand-offs.
_inboxes = []
_starting = threading.Lock()


def helper_inbox(k):
    """The inbox of helper thread k, started the first time it is needed."""
    with _starting:
        while len(_inboxes) <= k:
            inbox = queue.SimpleQueue()
            threading.Thread(target=serve, args=(inbox,), daemon=True,
                             name=f"minicnn-helper-{len(_inboxes) + 1}").start()
            _inboxes.append(inbox)
    return _inboxes[k]


def serve(inbox):
    while True:
        work, n0, n1, reply = inbox.get()
        try:
            reply.put((False, work(n0, n1)))
        except BaseException as error:               # handed to the caller, raised there
            reply.put((True, error))


def tiles(n0, n1, T):
    """(t0, t1) for consecutive tiles of at most T images covering n0:n1: within its
    share, an op works a few images at a time in small buffers that stay in cache."""
    return [(t0, min(t0 + T, n1)) for t0 in range(n0, n1, T)]


def single_threaded_openblas():
    """Ask the OpenBLAS that NumPy wheels bundle for one thread. True if it was found."""
    numpy_dir = Path(np.__file__).parent
    for folder in (numpy_dir.parent / "numpy.libs", numpy_dir / ".dylibs"):
        for path in sorted(folder.glob("*openblas*")):
            try:
                library = ctypes.CDLL(str(path))        # already loaded: the same handle
            except OSError:
                continue
            for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                         "openblas_set_num_threads64_", "openblas_set_num_threads"):
                setter = getattr(library, name, None)
                if setter is not None:
                    setter(1)
                    return True
    return False


single_threaded_openblas()
