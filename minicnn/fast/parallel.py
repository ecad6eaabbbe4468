"""How the fast route uses the cores: one share of the batch per core, one BLAS thread each.

A convolution is mostly matrix multiplies (ops/conv.py). NumPy hands each one
to OpenBLAS, which splits it over a thread pool of its own whose threads spin
while they wait for work. Next to other threads (PyTorch's, or any other busy
process) they fight for the cores: on a loaded 2-core machine we measured
training steps 10 to 20 times slower. So while a fast op runs, minicnn asks
OpenBLAS for a single thread (one_blas_thread) and splits the *batch* itself:
each of `workers` threads (the calling thread and workers - 1 helpers) takes a contiguous share of the images and runs
its own im2col or Winograd transforms and matrix multiplies, ReLUs and max-pools.
NumPy and our numba kernels (nogil=True) release the GIL, so the shares really
run at the same time, and an idle worker sleeps instead of spinning (after at
most half a millisecond of polling that yields the core: see Helper below).

    results = for_each_share(N, work)    # work(n0, n1) for each share of range(N), in parallel
    for_each_part(N, K, part, work)      # a convolution's: part(n0, n1, k0, k1), a single image
                                         # shared out by its K channels
    for t0, t1 in tiles(n0, n1, T):      # inside a share: T images at a time

`workers` is one per core (fast/settings.py); set NUMBA_NUM_THREADS to use
fewer. OpenBLAS goes back to its own thread count as soon as no fast op is
running, so your own NumPy code between minicnn's calls keeps all its threads
(a no-op when NumPy uses another BLAS than its bundled OpenBLAS).
"""
import ctypes
import os
import queue
import threading
from pathlib import Path

import numba
import numpy as np
from numba import njit

from minicnn.fast import memory
from minicnn.fast.settings import settings


def for_each_share(N, work, min_share=1):
    """Call work(n0, n1) on up to `workers` contiguous shares of range(N) at once,
    each at least `min_share` long (a small job is not worth a hand-off).
    Returns their results, in order. The calling thread works the first share
    itself; helper threads take the others."""
    workers, polls = settings().workers, settings().polls      # (two ContextVar reads)
    S = max(1, min(workers, N // min_share))         # how many shares
    if S == 1:                                       # small: no hand-off at all
        return [work(0, N)]
    shares = [(N * k // S, N * (k + 1) // S) for k in range(S)]
    posted = []
    for k, (n0, n1) in enumerate(shares[1:]):
        helper = get_helper(k)
        share = Share(work, n0, n1, polls)
        ahead = helper.posted[0]                     # shares in its inbox before this one
        helper.inbox.put(share)
        helper.posted[0] += 1                        # a helper still polling starts at once
        posted.append((helper, ahead, share))
    try:
        results = [work(*shares[0])]
    finally:                                         # even if it failed: no share may be left
        answers = []
        for helper, ahead, share in posted:
            if share.claim.acquire(blocking=False):  # not begun yet (its helper asleep): ours
                answers.append(share.run())
            else:
                poll_briefly(helper.finished, ahead, polls)   # until it is past ours
                answers.append(share.reply.get())
    for failed, result in answers:
        if failed:
            raise result
        results.append(result)
    return results


class Share:
    """work(n0, n1), posted to a helper. Whoever takes `claim` first runs it: the helper, or
    the caller itself once done with its own share, if the helper has not begun it by then.
    Waking a sleeping helper takes 50-200 us on a virtual machine, longer than a small share
    takes to run: the caller then works both shares, as if on one core, instead of waiting."""

    def __init__(self, work, n0, n1, polls):
        self.work, self.n0, self.n1, self.polls = work, n0, n1, polls
        self.claim = threading.Lock()
        self.reply = queue.SimpleQueue()             # the helper's (failed, result or error)

    def run(self):
        """(False, work(n0, n1)), or (True, the error it raised)."""
        try:
            return False, self.work(self.n0, self.n1)
        except BaseException as error:               # handed to the caller, raised there
            return True, error


def product_work(multiply_adds, weights):
    """What matrix products cost, in multiply-adds, counting each of the `weights` they read as
    16: reading and packing a weight costs the BLAS about as much as 16 multiply-adds (filters
    of 256 x 2304 times 9 columns took 247 us, times 49 columns 645 us, one Zen 4 core). Thin
    products, such as a single small map's, are mostly that reading."""
    return multiply_adds + 16 * weights


def least_share(units, work):
    """How many of `units` (images, or channels) a share of a convolution must hold to be
    worth a hand-off, when all of them cost `work` multiply-adds: about
    settings().conv_min_share of those (rounded down to whole units)."""
    return max(1, settings().conv_min_share * units // max(work, 1))


def for_each_part(N, K, part, work, by_channels=True):
    """part(n0, n1, k0, k1) for images n0:n1 and channels k0:k1, on up to `workers` cores at
    once, for a convolution of N images and K channels whose matrix products cost `work`
    multiply-adds. A batch is shared out by images (every part has all K channels); a single
    image by its channels (the output channels forward, the input channels for dx), so that
    the second core helps with one image too: vgg_bn_net's forward at batch 1 took 4.6 ms on
    one core and 3.2 ms on two, a saliency map 9.2 and 6.5 ms (Zen 4). by_channels=False
    keeps a single image whole (a backward that also sums dw or db over the images)."""
    if N == 1 and by_channels:
        return for_each_share(K, lambda k0, k1: part(0, 1, k0, k1), least_share(K, work))
    return for_each_share(N, lambda n0, n1: part(n0, n1, 0, K), least_share(N, work))


# A helper thread waits on its inbox for a Share, runs work(n0, n1) unless the caller took the
# share back, and puts (failed, result or error) on the share's reply queue. Two plain queues
# hand a share over several times faster than a concurrent.futures pool (a Future with its
# condition variable and locks), and a training step makes about 26 hand-offs.
#
# Waking a sleeping thread is slow on a virtual machine: a queue round trip with no work
# took about 100 us on ours, while an op's share often takes less than a millisecond. So a
# thread that expects news soon first polls a counter for up to about half a millisecond
# (poll_briefly, without the GIL): a helper between two ops of a step, and the caller
# waiting for a helper's share. Only then does it sleep on the queue. The counters are
# hints; the queues alone say what is done. (OpenMP's threads, PyTorch's, poll the same way.)
# How many polls: settings().polls, each a sched_yield() call of about 0.5 us on our machine;
# a helper polls as many times as the share it last took said.


class Helper:
    def __init__(self, k):
        self.inbox = queue.SimpleQueue()
        self.posted = np.zeros(1, dtype=np.int64)    # shares put in its inbox so far
        self.finished = np.zeros(1, dtype=np.int64)  # shares it has finished (or skipped) so far
        threading.Thread(target=self.serve, daemon=True, name=f"minicnn-helper-{k + 1}").start()

    def serve(self):
        taken, polls = 0, 0
        while True:
            poll_briefly(self.posted, taken, polls)
            share = self.inbox.get()
            taken, polls = taken + 1, share.polls
            if share.claim.acquire(blocking=False):  # else the caller took it back
                share.reply.put(share.run())
            self.finished[0] += 1


_helpers = []
_starting = threading.Lock()


def get_helper(k):
    """Helper thread k, started the first time it is needed."""
    memory.set_up_once()                             # before the thread's first malloc
    with _starting:
        while len(_helpers) <= k:
            _helpers.append(Helper(len(_helpers)))
    return _helpers[k]


if hasattr(os, "sched_yield") and not numba.config.DISABLE_JIT:    # POSIX: libc has sched_yield()
    sched_yield = numba.types.ExternalFunction("sched_yield", numba.types.int32())

    @njit(cache=True, nogil=True)
    def poll_briefly(counter, seen, polls):
        """Poll until counter[0] > seen, at most `polls` times, yielding the core
        between polls. The call to sched_yield also keeps the compiler from
        reading counter[0] only once."""
        for _ in range(polls):
            if counter[0] > seen:
                return
            sched_yield()
else:
    def poll_briefly(counter, seen, polls):
        """No sched_yield to poll with (Windows), or numba off (NUMBA_DISABLE_JIT=1):
        the queues alone will do."""


def tiles(n0, n1, T):
    """(t0, t1) for consecutive tiles of at most T images covering n0:n1: within its
    share, an op works a few images at a time in small buffers that stay in cache."""
    return [(t0, min(t0 + T, n1)) for t0 in range(n0, n1, T)]


def find_openblas():
    """(get_num_threads, set_num_threads) of the OpenBLAS that NumPy wheels bundle, or None."""
    numpy_dir = Path(np.__file__).parent
    for folder in (numpy_dir.parent / "numpy.libs", numpy_dir / ".dylibs"):
        for path in sorted(folder.glob("*openblas*")):
            try:
                library = ctypes.CDLL(str(path))        # already loaded: the same handle
            except OSError:
                continue
            for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""),
                                   ("openblas", "64_"), ("openblas", "")):
                get = getattr(library, f"{prefix}_get_num_threads{suffix}", None)
                set_ = getattr(library, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    return get, set_
    return None


class one_blas_thread:
    """OpenBLAS on one thread while the block runs, its own count again afterwards:

        with one_blas_thread():
            ...the op's matrix multiplies, one share per core...

    Setting the count takes a fraction of a microsecond. Several threads may run fast ops
    at once: the first one in sets one thread, the last one out puts the count back. (A
    class rather than a @contextmanager generator: it runs twice per op, and is cheaper so.)
    """
    openblas = None              # (get, set), found the first time a fast op runs; () if none
    users = 0                    # fast ops running now, in any thread
    threads_before = None
    lock = threading.Lock()

    def __enter__(self):
        cls = one_blas_thread
        with cls.lock:
            if cls.openblas is None:
                cls.openblas = find_openblas() or ()
            if cls.openblas and cls.users == 0:
                get, set_ = cls.openblas
                cls.threads_before = get()
                set_(1)
            cls.users += 1

    def __exit__(self, *error):
        cls = one_blas_thread
        with cls.lock:
            cls.users -= 1
            if cls.openblas and cls.users == 0:
                cls.openblas[1](cls.threads_before)
