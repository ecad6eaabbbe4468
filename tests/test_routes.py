"""The two routes (minicnn/route.py): the plain NumPy code of minicnn/ops/ and its fast twins
(minicnn/fast/) give the same results, and the switch behaves as documented.

Agreement is measured against the largest entry: |fast - plain|.max() <= tol * |plain|.max(),
with tol 1e-4 in float32 and 1e-12 in float64 (the routes add in different orders, and
Winograd's transforms add before they multiply, so single entries near 0 may differ more in
relative terms).
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minicnn
import minicnn.functional as F
from minicnn import fast, route
from minicnn.models import reference_net
from minicnn.ops import conv as plain_conv
from minicnn.tensor import Tensor

TOLERANCE = {np.float32: 1e-4, np.float64: 1e-12}


def assert_close(got, want, dtype):
    if np.size(want) == 0:
        return
    error = np.abs(np.asarray(got, np.float64) - want).max() / max(np.abs(want).max(), 1e-30)
    assert error <= TOLERANCE[dtype], f"largest difference {error:.2e} of the largest entry"


def run(op, arrays, dtype, plain):
    """op's output and every input's gradient of sum(out * random dout), on one route."""
    with minicnn.plain(plain):
        tensors = [Tensor(a.astype(dtype), requires_grad=True) for a in arrays]
        out = op(*tensors)
        out.backward(np.random.default_rng(1).standard_normal(out.shape).astype(dtype))
    return [out.data] + [t.grad for t in tensors]


def assert_routes_agree(op, arrays, dtype):
    fast_results, plain_results = run(op, arrays, dtype, False), run(op, arrays, dtype, True)
    for got, want in zip(fast_results, plain_results):
        assert got.dtype == want.dtype == dtype
        assert_close(got, want, dtype)


dtypes = st.sampled_from([np.float32, np.float64])


@settings(deadline=None, max_examples=40)
@given(N=st.integers(1, 3), C=st.integers(1, 5), F_=st.integers(1, 4), H=st.integers(1, 9),
       W=st.integers(1, 9), KH=st.integers(1, 4), KW=st.integers(1, 4), stride=st.integers(1, 3),
       padding=st.integers(0, 2), bias=st.booleans(), winograd=st.booleans(), wide=st.booleans(),
       dtype=dtypes,
       seed=st.integers(0, 2 ** 16))
def test_conv2d_routes_agree(N, C, F_, H, W, KH, KW, stride, padding, bias, winograd, wide, dtype,
                             seed):
    """winograd: the fast route takes its Winograd road for every 3x3 stride-1 shape here;
    wide: im2col multiplies a tile's images at once (widen), else one image at a time."""
    assume(KH <= H + 2 * padding and KW <= W + 2 * padding)
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((N, C, H, W)), rng.standard_normal((F_, C, KH, KW))]
    arrays += [rng.standard_normal(F_)] if bias else []
    with fast.configure(winograd_min_channels=1 if winograd else 10_000, winograd_min_pixels=1,
                        winograd_min_batch_pixels=1, wide_columns_below=10_000 if wide else 1):
        assert_routes_agree(lambda *t: F.conv2d(*t, stride=stride, padding=padding), arrays, dtype)


@settings(deadline=None, max_examples=40)
@given(N=st.integers(1, 3), C=st.integers(1, 3), H=st.integers(1, 9), W=st.integers(1, 9),
       KH=st.integers(1, 3), KW=st.integers(1, 3), SH=st.integers(1, 3), SW=st.integers(1, 3),
       ties=st.booleans(), dtype=dtypes, seed=st.integers(0, 2 ** 16))
def test_max_pool2d_routes_agree(N, C, H, W, KH, KW, SH, SW, ties, dtype, seed):
    """Ties too (small integers): both routes send the gradient to the first maximum."""
    assume(KH <= H and KW <= W)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, (N, C, H, W)).astype(float) if ties else rng.standard_normal((N, C, H, W))
    assert_routes_agree(lambda t: F.max_pool2d(t, (KH, KW), (SH, SW)), [x], dtype)


@settings(deadline=None, max_examples=30)
@given(N=st.integers(1, 4), D=st.integers(1, 40), M=st.integers(1, 20), bias=st.booleans(),
       dtype=dtypes, seed=st.integers(0, 2 ** 16))
def test_linear_routes_agree(N, D, M, bias, dtype, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((N, D)), rng.standard_normal((M, D))]
    arrays += [rng.standard_normal(M)] if bias else []
    with fast.configure(linear_min_work=1):                  # split even these small products
        assert_routes_agree(F.linear, arrays, dtype)


@settings(deadline=None, max_examples=30)
@given(shape=st.lists(st.integers(1, 7), min_size=1, max_size=4), dtype=dtypes,
       rule=st.sampled_from(["normal", "guided", "deconv"]), seed=st.integers(0, 2 ** 16))
def test_relu_routes_agree_under_every_rule(shape, dtype, rule, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    x[rng.random(shape) < 0.2] = 0                           # the kink: 0 under every rule
    with minicnn.backward_rule(rule), fast.configure(relu_min_share=3):
        assert_routes_agree(F.relu, [x], dtype)


@settings(deadline=None, max_examples=40)
@given(shape=st.sampled_from([(6, 3), (5, 1), (3, 2, 4, 5), (1, 3, 2, 2), (4, 1, 1, 3)]),
       training=st.booleans(), affine=st.booleans(), dtype=dtypes, seed=st.integers(0, 2 ** 16))
def test_batch_norm_routes_agree(shape, training, affine, dtype, seed):
    """Batch statistics in training mode, running ones in eval mode; a mean far from 0
    (the variance is taken of x - mean on both routes); every channel split between
    threads."""
    # Not default_rng(seed): with seed 1, x - 3 would be run()'s dout itself, whose gradient
    # through the normalisation cancels to ~0, and rounding noise is all that is left.
    rng = np.random.default_rng([seed, 2])
    x = 3 + rng.standard_normal(shape)
    C = shape[1]
    w, b = 1 + 0.5 * rng.standard_normal(C), rng.standard_normal(C)
    mean, var = rng.standard_normal(C), 0.5 + rng.random(C)
    running = {}

    def op(x, *affine_part):
        stats = [mean.astype(dtype), var.astype(dtype)]     # a fresh copy on each route
        running[minicnn.is_plain()] = stats
        return F.batch_norm(x, *stats, *affine_part, training=training, momentum=0.3)
    with fast.configure(norm_min_share=1):
        assert_routes_agree(op, [x, w, b] if affine else [x], dtype)
    for got, want in zip(running[False], running[True]):  # the running statistics' update
        assert_close(got, want, dtype)


def reference_net_loss_and_grads(x, y, plain):
    minicnn.manual_seed(0)
    model = reference_net().double()
    rng = np.random.default_rng(1)
    for p in model.parameters():                             # biases too, away from zero
        p.data += 0.01 * rng.standard_normal(p.shape)
    with minicnn.plain(plain):
        xt = Tensor(x, requires_grad=True)
        loss = F.cross_entropy(model(xt), y)
        loss.backward()
    return [loss.data] + [xt.grad] + [p.grad for p in model.parameters()]


def test_the_reference_net_in_float64_gives_the_same_loss_and_gradients_on_both_routes():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 3, 32, 32)), np.array([3, 0, 9])
    got = reference_net_loss_and_grads(x, y, plain=False)
    want = reference_net_loss_and_grads(x, y, plain=True)
    assert len(got) == 2 + 12
    for g, w in zip(got, want):
        assert g.dtype == np.float64
        assert_close(g, w, np.float64)


# ---- the switch -------------------------------------------------------------------------------
def test_plain_restores_the_route_after_an_exception_and_nests():
    assert not route.is_plain()
    with pytest.raises(RuntimeError):
        with minicnn.plain():
            assert route.is_plain()
            with minicnn.plain(False):
                assert not route.is_plain()
            assert route.is_plain()
            raise RuntimeError
    assert not route.is_plain()


def test_the_plain_route_runs_the_code_of_minicnn_ops():
    """twin() hands back the plain function itself inside plain(), its fast twin outside;
    an op records the route, and its ctx holds what that route's forward saved."""
    assert route.twin(plain_conv.conv2d_forward, plain=True) is plain_conv.conv2d_forward
    assert route.twin(plain_conv.conv2d_forward, plain=False) is fast.TWINS[plain_conv.conv2d_forward]
    x = Tensor(np.ones((1, 2, 4, 4)), requires_grad=True)
    w = Tensor(np.ones((3, 2, 3, 3)))
    with minicnn.plain():
        out = F.conv2d(x, w)
    assert out.ctx.plain and out.ctx.cols.shape == (1, 2 * 3 * 3, 2 * 2)      # im2col's columns
    assert not F.conv2d(x, w).ctx.plain


def test_a_backward_keeps_the_route_of_its_forward():
    rng = np.random.default_rng(2)
    x = Tensor(rng.standard_normal((3, 24, 6, 6)), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 24, 3, 3)), requires_grad=True)
    out = F.conv2d(x, w, padding=1)                          # fast: Winograd, which keeps its V
    assert out.ctx.winograd
    with minicnn.plain():                                    # a plain backward could not use it
        out.backward(np.ones(out.shape))
    with minicnn.plain():
        x2, w2 = Tensor(x.data, requires_grad=True), Tensor(w.data, requires_grad=True)
        F.conv2d(x2, w2, padding=1).backward(np.ones(out.shape))
    assert_close(x.grad, x2.grad, np.float64)
    assert_close(w.grad, w2.grad, np.float64)


def test_minicnn_plain_in_the_environment_puts_a_whole_process_on_the_plain_route():
    code = ("import numpy as np, sys, minicnn, minicnn.functional as F\n"
            "out = F.relu(minicnn.Tensor(np.ones(3), requires_grad=True))\n"
            "print(minicnn.is_plain(), out.ctx.plain, 'minicnn.fast' in sys.modules)\n")
    env = dict(os.environ, MINICNN_PLAIN="1")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "False"]     # the fast route never loaded


def test_the_plain_route_trains_the_reference_net_without_loading_the_fast_route():
    """Nothing in the plain route imports the fast one (nor numba): a training step, the
    tour's gradient maps and Grad-CAM all run with minicnn.fast never imported."""
    code = ("import sys, numpy as np, minicnn, minicnn.functional as F\n"
            "from minicnn import visualize as V\n"
            "model = minicnn.models.pretrained()\n"
            "opt = minicnn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)\n"
            "x = np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)\n"
            "with minicnn.plain():\n"
            "    F.cross_entropy(model(minicnn.Tensor(x)), np.arange(4)).backward()\n"
            "    opt.step()\n"
            "    V.guided_backprop(model, x, 'cat'); V.gradcam(model, x, 'cat')\n"
            "print(sorted(m for m in ('minicnn.fast', 'numba') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_replaced_runs_a_stand_in_on_the_plain_route_and_only_in_its_block():
    """route.replaced: your own function in place of one of minicnn/ops/ (the exercises)."""
    from minicnn.ops import relu

    calls = []

    def my_guided(x, dout):                  # the rule written the long way round
        calls.append(x.shape)
        return np.where((x > 0) & (dout > 0), dout, 0.0)

    x = np.random.default_rng(3).standard_normal((2, 5))
    dout = np.random.default_rng(4).standard_normal((2, 5))

    def guided_grad():
        xt = Tensor(x, requires_grad=True)
        with minicnn.backward_rule("guided"):
            F.relu(xt).backward(dout)
        return xt.grad
    with route.replaced({relu.relu_backward_guided: my_guided}):
        assert route.is_plain()
        got = guided_grad()
    assert calls == [(2, 5)] and not route.is_plain()
    np.testing.assert_array_equal(got, guided_grad())            # the same as ops/relu.py's
    assert calls == [(2, 5)]                                      # not called outside the block
