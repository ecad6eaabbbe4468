"""Splitting the batch over the cores (fast/parallel.py) changes nothing but the speed:
every share is worked once, and every op gives the same result with 1, 2 or 3 workers as the
whole batch in one go. Also: after a warm-up, a training step costs (almost) no page faults
(fast/memory.py). The settings are changed through fast.configure, the public switch."""
import collections
import resource
import sys
import threading
import time

import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn import fast
from minicnn.fast import parallel
from minicnn.tensor import Tensor


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("N", [0, 1, 2, 5, 128])
@pytest.mark.parametrize("min_share", [1, 2, 64])
def test_shares_cover_the_range_once_in_order(workers, N, min_share):
    with fast.configure(workers=workers):
        shares = parallel.for_each_share(N, lambda n0, n1: (n0, n1), min_share)
    assert shares[0][0] == 0 and shares[-1][1] == N
    assert all(a[1] == b[0] for a, b in zip(shares, shares[1:]))          # contiguous, in order
    assert len(shares) == max(1, min(workers, N // min_share))
    assert all(n1 - n0 >= min(min_share, N) for n0, n1 in shares)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_a_batch_is_shared_by_images_and_one_image_by_channels(workers):
    """for_each_part: a batch's parts hold all the channels, a single image's all of it; each
    part at least settings().conv_min_share of the work."""
    def part(n0, n1, k0, k1):
        return n0, n1, k0, k1
    with fast.configure(workers=workers, conv_min_share=10):
        assert parallel.for_each_part(1, 7, part, work=70) == \
            [(0, 1, 7 * k // workers, 7 * (k + 1) // workers) for k in range(workers)]
        assert parallel.for_each_part(6, 7, part, work=60) == \
            [(6 * k // workers, 6 * (k + 1) // workers, 0, 7) for k in range(workers)]
        assert parallel.for_each_part(1, 7, part, work=13) == [(0, 1, 0, 7)]    # under 2 x 10
        assert parallel.for_each_part(6, 7, part, work=13) == [(0, 6, 0, 7)]


def test_a_share_its_helper_has_not_begun_is_taken_back():
    """A call does not wait for a helper that has not begun its share (asleep, or busy with
    another caller's): the caller works that share itself, once done with its own, and the
    helper skips it later. Every share is worked once."""
    begun, release = threading.Event(), threading.Event()

    def blocking(n0, n1):                            # another caller's: its helper share blocks
        if n0 == 0:
            begun.wait(10)                           # (so that the helper, not the caller, has it)
        else:
            begun.set()
            release.wait(10)

    def other_caller():
        with fast.configure(workers=2):
            parallel.for_each_share(2, blocking)

    worked, results = [], []

    def share(n0, n1):
        worked.append((n0, n1))
        return n0, n1

    def ours():
        with fast.configure(workers=2):
            results.append(parallel.for_each_share(4, share))

    other = threading.Thread(target=other_caller)
    other.start()
    assert begun.wait(10)                            # helper 1 is now stuck in `blocking`
    helper = parallel.get_helper(0)
    ours_thread = threading.Thread(target=ours)
    ours_thread.start()
    ours_thread.join(5)
    finished = not ours_thread.is_alive()
    release.set()
    other.join(10)
    assert finished, "the call waited for a helper that was busy elsewhere"
    assert results == [[(0, 2), (2, 4)]]
    deadline = time.monotonic() + 10                 # the helper goes through its inbox...
    while helper.finished[0] < helper.posted[0] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert helper.finished[0] == helper.posted[0]
    assert sorted(worked) == [(0, 2), (2, 4)]        # ... and does not work our share again


def test_an_error_in_a_helper_share_reaches_the_caller():
    def work(n0, n1):
        if n0 > 0:                                   # the second share: run by a helper thread
            raise ValueError(f"share {n0}:{n1} failed")
    with fast.configure(workers=2), pytest.raises(ValueError, match="share 5:10 failed"):
        parallel.for_each_share(10, work)


def forward_and_grads(op, *arrays):
    """op's output and the gradients of sum(output * fixed random weights) for every input."""
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    out = op(*tensors)
    out.backward(np.random.default_rng(1).standard_normal(out.shape).astype(out.dtype))
    return [out.data] + [t.grad for t in tensors]


def conv2d_winograd(x, w, b):
    out = F.conv2d(x, w, b, padding=1)
    assert out.ctx.winograd                          # C = 24 channels: the Winograd route
    return out


ops = {
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, padding=1), [(7, 3, 6, 5), (4, 3, 3, 3), (4,)]),
    "conv2d_winograd": (conv2d_winograd, [(7, 24, 5, 4), (4, 24, 3, 3), (4,)]),
    "linear": (F.linear, [(7, 12), (5, 12), (5,)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [(7, 3, 6, 4)]),
    "relu": (F.relu, [(7, 3, 40, 40)]),                # 33,600 elements: more than one share
}


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("name", sorted(ops))
def test_ops_in_shares_equal_one_share(name, workers):
    op, shapes = ops[name]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]
    with minicnn.plain(False), fast.configure(workers=1):
        expected = forward_and_grads(op, *arrays)
    # these small inputs are worth one share only: make every op split them anyway
    with minicnn.plain(False), fast.configure(workers=workers, relu_min_share=1000,
                                              linear_min_work=1, conv_min_share=1,
                                              pool_min_share=1):
        got = forward_and_grads(op, *arrays)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc settings are for glibc")
def test_a_training_step_after_warm_up_costs_few_page_faults():
    """Without fast/memory.py a step at batch 128 maps most of its arrays afresh: about
    11,500 page faults per step; with it, freed memory is reused."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 128)
    model = minicnn.models.reference_net()
    opt = minicnn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(Tensor(x)), y).backward()
        opt.step()
    for _ in range(3):                               # the heap grows to its steady size
        step()
    faults = []
    for _ in range(4):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        step()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    # the median: a one-off step that grows the heap a little more (a few hundred) is not the issue
    assert np.median(faults) < 300, f"page faults per training step: {faults}"


@pytest.mark.parametrize("polls", [0, 1000])
def test_hand_offs_work_whether_the_helper_polls_or_sleeps(polls):
    """A helper polls its counter for a while after each share (settings().polls), then sleeps
    on its queue: shares handed over in either state, or with no polling at all, all get done."""
    with fast.configure(workers=2, polls=polls):
        for pause in (0.0, 0.0, 0.05, 0.0, 0.05):    # 50 ms: long past the polling, asleep
            time.sleep(pause)
            assert parallel.for_each_share(10, lambda n0, n1: list(range(n0, n1))) == \
                [list(range(5)), list(range(5, 10))]


def test_several_callers_at_once_get_their_own_shares_each_worked_once():
    """Four threads call for_each_share 40 times each on the same two helpers. In every other
    call the caller's own share waits until the helpers have begun theirs; in the others it
    returns at once, and the caller takes back what the helpers (held up by the other callers'
    Python code, which holds the GIL) have not begun. Every call gets its own shares, in
    order, and every share is worked once, by a helper or by its caller."""
    worked, by_helpers = collections.Counter(), collections.Counter()
    lock = threading.Lock()
    failures = []

    def caller(name):
        with fast.configure(workers=3):
            for call in range(40):
                begun = [threading.Event(), threading.Event()]

                def share(n0, n1, call=call, begun=begun):   # (this call's, even if run late)
                    helper = threading.current_thread().name.startswith("minicnn-helper")
                    with lock:
                        worked[name, call, n0] += 1
                        by_helpers[call % 2] += helper
                    if n0 > 0:
                        begun[n0 // 3 - 1].set()
                    elif call % 2 == 0:                  # wait for the helpers' two shares
                        begun[0].wait(5)
                        begun[1].wait(5)
                    return name, call, n0, n1
                got = parallel.for_each_share(9, share)
                if got != [(name, call, 3 * k, 3 * k + 3) for k in range(3)]:
                    failures.append(got)

    threads = [threading.Thread(target=caller, args=(name,)) for name in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    deadline = time.monotonic() + 10                     # the helpers skip what was taken back
    while any(not h.inbox.empty() for h in parallel._helpers) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)                                      # (the last one, just taken)
    assert len(worked) == 4 * 40 * 3 and set(worked.values()) == {1}
    assert by_helpers[0] == 4 * 20 * 2                   # the waiting calls: all by the helpers
