"""Numerical gradient checking with centred differences (as in CS231n's gradient_check.py).

    numerical_gradient(f, x, dout)[i] = sum(dout * (f(x + h e_i) - f(x - h e_i))) / (2h)

Contracting with a random `dout` checks a non-scalar output in one pass: it is the gradient
of the scalar sum(dout * f(x)), which is exactly what backward(dout) computes. Subtracting
the two outputs before summing keeps round-off near eps / h ~ 1e-10 instead of growing with
the size of the whole sum.
"""
import numpy as np

from minicnn.tensor import Tensor, no_grad

H = 1e-6            # centred-difference step, for float64 inputs
TOLERANCE = 1e-6    # largest accepted relative error


def numerical_gradient(f, x, dout, h=H):
    """Centred-difference gradient of sum(dout * f()) with respect to the array x.

    Inputs:
    - f: a function of no arguments returning an array; it reads x, which is nudged in place
    - x: float64 array (restored on return); dout: array of f()'s shape
    Returns dx: array of x's shape
    """
    dx = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = np.array(f(), dtype=np.float64)
        x[i] = old - h
        minus = np.array(f(), dtype=np.float64)
        x[i] = old
        dx[i] = np.sum(dout * (plus - minus)) / (2 * h)
    return dx


def rel_error(analytic, numeric, least=0.0):
    """Largest elementwise relative error |a_i - n_i| / (|a_i| + |n_i|).

    Round-off in a centred difference is about eps * |out| / h ~ 1e-10 whatever the size
    of the entry, so an entry far smaller than the largest one (or exactly 0, below a dead
    ReLU) is measured against 1% of the largest instead of against itself, and never
    against less than `least` or 1e-8 (an all-zero gradient, checked as such, gives 0).
    """
    analytic, numeric = np.asarray(analytic), np.asarray(numeric)
    assert analytic.shape == numeric.shape, (analytic.shape, numeric.shape)
    if analytic.size == 0:
        return 0.0
    size = np.abs(analytic) + np.abs(numeric)
    floor = max(1e-2 * size.max(), least, 1e-8)
    return float(np.max(np.abs(analytic - numeric) / np.maximum(size, floor)))


def roundoff(out, dout, h=H):
    """How far numerical_gradient's sum(dout * (f(x + h) - f(x - h))) / 2h can be off by float64
    round-off alone: each difference of outputs by about eps * |out_j|, so the whole by up to
    eps * sum(|dout * out|) / h, however small the gradient entry. A gradient entry of about
    that size (a bias whose sum(dout) happens to be near 0: sum(dout) 2.3e-4, round-off 1e-9)
    cannot be measured more finely, so check_gradients judges the entries against at least
    roundoff / tolerance: an error of up to this much passes, any larger one still fails."""
    return np.finfo(np.float64).eps * float(np.sum(np.abs(dout * out))) / h


def check_gradients(f, *arrays, seed=0, tolerance=TOLERANCE):
    """Compare backward() with centred differences for every input of f.

    Inputs:
    - f: maps Tensors (one per array) to a Tensor
    - arrays: float64 arrays; each becomes a leaf Tensor that requires grad
    Returns the list of analytic gradients (for further checks by the caller).
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]      # private, writable copies
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    out = f(*tensors)
    assert out.dtype == np.float64
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(dout)

    def forward():
        with no_grad():
            return f(*tensors).data

    for k, t in enumerate(tensors):
        assert t.grad is not None, f"input {k} received no gradient"
        assert t.grad.shape == t.shape and t.grad.dtype == np.float64
        numeric = numerical_gradient(forward, t.data, dout)
        error = rel_error(t.grad, numeric, least=roundoff(out.data, dout) / tolerance)
        assert error < tolerance, f"input {k} of shape {t.shape}: relative error {error:.2e}"
    return [t.grad for t in tensors]


def check_module_gradients(model, x, loss=None, seed=0, tolerance=TOLERANCE):
    """Like check_gradients for a float64 Module: every parameter and the input x.
    With `loss` (a function of the output), the gradients of loss(model(x)) are checked."""
    x = Tensor(np.array(x, dtype=np.float64), requires_grad=True)
    f = model if loss is None else (lambda x: loss(model(x)))
    model.zero_grad()
    out = f(x)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(dout)

    def forward():
        with no_grad():
            return f(x).data

    checked = list(model.named_parameters()) + [("input", x)]
    for name, t in checked:
        assert t.grad is not None and t.grad.dtype == np.float64, name
        numeric = numerical_gradient(forward, t.data, dout)
        error = rel_error(t.grad, numeric, least=roundoff(out.data, dout) / tolerance)
        assert error < tolerance, f"{name} of shape {t.shape}: relative error {error:.2e}"
