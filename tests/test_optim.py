"""optim.SGD against the update written out in its docstring:

    g = p.grad + weight_decay * p
    v = momentum * v + g                   (v starts as g)
    step = g + momentum * v  if nesterov  else  v
    p = p - lr * step
"""
import numpy as np
import pytest

from minicnn import nn, optim


def sgd_by_hand(p, grads, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """The docstring's formulas in plain NumPy; returns p after one step per gradient."""
    v = None
    for g in grads:
        g = g + weight_decay * p
        if momentum:
            v = g if v is None else momentum * v + g
            g = g + momentum * v if nesterov else v
        p = p - lr * g
    return p


def run_sgd(p0, grads, **options):
    p = nn.Parameter(p0.copy())
    opt = optim.SGD([p], **options)
    for g in grads:
        p.grad = g.copy()
        opt.step()
    return p.data


def test_one_plain_step_by_hand():
    assert run_sgd(np.array([1.0]), [np.array([0.5])], lr=0.1)[0] == pytest.approx(0.95)


@pytest.mark.parametrize("options, expected", [
    # p0 = 1, gradient 0.5 at both steps, lr = 0.1
    (dict(momentum=0.9), 1 - 0.1 * 0.5 - 0.1 * (0.9 * 0.5 + 0.5)),                  # v: 0.5, 0.95
    (dict(momentum=0.9, nesterov=True), 1 - 0.1 * (0.5 + 0.45) - 0.1 * (0.5 + 0.855)),
    (dict(weight_decay=0.1), (1 - 0.1 * 0.6) - 0.1 * (0.5 + 0.1 * 0.94)),
])
def test_two_steps_by_hand(options, expected):
    got = run_sgd(np.array([1.0]), [np.array([0.5])] * 2, lr=0.1, **options)[0]
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("options", [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.1, weight_decay=0.01),
    dict(lr=0.02, momentum=0.8, nesterov=True, weight_decay=0.05),
])
def test_several_steps_match_the_formulas(options):
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(5)]
    np.testing.assert_allclose(run_sgd(p0, grads, **options), sgd_by_hand(p0, grads, **options),
                               rtol=1e-12)


def test_parameters_without_gradient_are_left_alone():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    opt = optim.SGD([a, b], lr=0.5, momentum=0.9, weight_decay=0.1)
    a.grad = np.ones(2)
    opt.step()
    np.testing.assert_array_equal(b.data, np.ones(3))
    assert opt.state_dict().keys() == {"velocity.0"}


def test_float32_parameters_stay_float32():
    p = nn.Parameter(np.ones(3, dtype=np.float32))
    p.grad = np.ones(3, dtype=np.float32)
    optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=1e-4).step()
    assert p.dtype == np.float32


def test_zero_grad():
    layer = nn.Linear(3, 2)
    opt = optim.SGD(layer.parameters(), lr=0.1)
    for p in layer.parameters():
        p.grad = np.ones(p.shape)
    opt.zero_grad()
    assert all(p.grad is None for p in layer.parameters())


@pytest.mark.parametrize("nesterov", [False, True])
def test_state_dict_continues_identically(nesterov):
    rng = np.random.default_rng(1)
    grads = [[rng.standard_normal((2, 3)), rng.standard_normal(4)] for _ in range(6)]
    options = dict(lr=0.1, momentum=0.9, nesterov=nesterov, weight_decay=0.01)
    params = [nn.Parameter(rng.standard_normal((2, 3))), nn.Parameter(rng.standard_normal(4))]
    opt = optim.SGD(params, **options)

    def step(opt, params, gs):
        for p, g in zip(params, gs):
            p.grad = g.copy()
        opt.step()

    for gs in grads[:3]:
        step(opt, params, gs)
    saved_params = [p.data.copy() for p in params]
    saved_state = opt.state_dict()
    for gs in grads[3:]:                                 # the original carries on...
        step(opt, params, gs)

    resumed = [nn.Parameter(a) for a in saved_params]    # ...and a fresh optimiser resumes
    opt2 = optim.SGD(resumed, **options)
    opt2.load_state_dict(saved_state)
    for gs in grads[3:]:
        step(opt2, resumed, gs)
    for p, q in zip(params, resumed):
        np.testing.assert_array_equal(q.data, p.data)


def test_load_state_dict_with_a_wrong_shape():
    opt = optim.SGD([nn.Parameter(np.ones((2, 3)))], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"SGD\.load_state_dict: velocity\.0 has shape \(3, 2\), "
                                         r"parameter has \(2, 3\)"):
        opt.load_state_dict({"velocity.0": np.zeros((3, 2))})


def test_negative_learning_rate():
    with pytest.raises(ValueError, match=r"SGD: .*lr=-0\.1"):
        optim.SGD([nn.Parameter(np.ones(2))], lr=-0.1)
