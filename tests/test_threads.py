"""The switches hold per thread: two threads explaining one shared model by different rules,
on different routes, or with and without gradients, never see each other's setting.

(Before the switches were contextvars, two threads computing guided backprop and saliency of
the shipped net at once got wrong maps in most calls.)
"""
import threading

import numpy as np

import minicnn
from minicnn import visualize as V
from minicnn.tensor import Tensor, is_grad_enabled


def run_together(*jobs, rounds=15):
    """Run each job(i) for i in range(rounds) in its own thread, all at once; re-raise the
    first failure."""
    errors, start = [], threading.Barrier(len(jobs))

    def loop(job):
        start.wait()
        try:
            for i in range(rounds):
                job(i)
        except BaseException as error:              # handed to the test below
            errors.append(error)
    threads = [threading.Thread(target=loop, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_guided_backprop_and_saliency_in_two_threads_at_once():
    model = minicnn.models.pretrained()
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    guided, saliency = V.guided_backprop(model, x, "cat"), V.saliency(model, x, "cat")
    assert not np.allclose(guided, saliency)             # the two rules differ on these images
    flags = [p.requires_grad for p in model.parameters()]

    def guided_job(i):
        np.testing.assert_allclose(V.guided_backprop(model, x, "cat"), guided, rtol=1e-5, atol=1e-7)

    def saliency_job(i):
        np.testing.assert_allclose(V.saliency(model, x, "cat"), saliency, rtol=1e-5, atol=1e-7)
    run_together(guided_job, saliency_job)
    assert [p.requires_grad for p in model.parameters()] == flags   # the model was never changed


def test_a_rule_set_in_one_thread_is_not_seen_in_another():
    model = minicnn.models.pretrained()
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    expected = {rule: V.gradient(model, x, 3, rule=rule) for rule in ("normal", "deconv")}

    def under_the_context_manager(rule):
        def job(i):
            with minicnn.backward_rule(rule):
                xt = Tensor(x, requires_grad=True)
                out = model(xt)
                dout = np.zeros(out.shape, dtype=np.float32)
                dout[:, 3] = 1
                out.backward(dout)
            np.testing.assert_allclose(xt.grad, expected[rule], rtol=1e-5, atol=1e-7)
        return job
    model.requires_grad_(False)
    try:
        run_together(under_the_context_manager("deconv"), under_the_context_manager("normal"))
    finally:
        model.requires_grad_(True)


def test_routes_and_no_grad_are_per_thread():
    model = minicnn.models.pretrained()
    x = np.random.default_rng(2).standard_normal((2, 3, 32, 32)).astype(np.float32)
    expected = V.guided_backprop(model, x, "dog")
    seen = {"plain": [], "grad": []}

    def plain_job(i):
        with minicnn.plain():
            seen["plain"].append(minicnn.is_plain())
            np.testing.assert_allclose(V.guided_backprop(model, x, "dog"), expected,
                                       rtol=1e-4, atol=1e-6)

    def no_grad_job(i):
        with minicnn.no_grad():
            assert not is_grad_enabled()
            model(Tensor(x))

    def fast_job(i):
        seen["plain"].append(minicnn.is_plain())
        seen["grad"].append(is_grad_enabled())
        np.testing.assert_allclose(V.guided_backprop(model, x, "dog"), expected, rtol=1e-5, atol=1e-7)
    run_together(plain_job, no_grad_job, fast_job, rounds=6)
    assert seen["plain"].count(True) == 6 and seen["plain"].count(False) == 6
    assert all(seen["grad"])
