"""Exercise softmax_cross_entropy (lesson 13): the loss the net is trained with, and its
gradient.

The student writes softmax_cross_entropy(logits, y) -> (loss, dlogits), the mean over the
batch. The properties hold the loss to minicnn's cross_entropy (also for logits in the
thousands, where a softmax without the max subtracted overflows) and the gradient to
central differences; each row of the gradient sums to 0. The picture: the student's loss
gradient, sent back through the shipped net, makes adversarial images (a few steps of
the fast gradient sign method) that the net misclassifies.
"""
import numpy as np
from hypothesis import strategies as st

from minicnn.exercises.properties import (
    Property,
    as_array,
    compare,
    decimals,
    numerical_gradient,
    require,
    seeds,
    unpack,
)

TITLE = "softmax cross-entropy: the mean loss over a batch, stable, and its gradient"
LESSON = "13_train_your_own"
FUNCTIONS = {"softmax_cross_entropy": ("logits", "y")}

SKELETON = '''\
"""Exercise softmax_cross_entropy: the loss a classifier is trained with (lesson 13).

The network's last layer gives K unnormalised scores per image, the logits z. The softmax
turns them into probabilities, and the cross-entropy is minus the log-probability of the
true class, averaged over the batch of N images:

    p[n, k] = exp(z[n, k]) / sum_j exp(z[n, j])
    loss    = -(1/N) sum_n log p[n, y[n]]

Stability: exp(1000) overflows to inf. But softmax(z) = softmax(z - c) for any constant
c per row, so subtract each row's maximum first; then the largest term is exp(0) = 1:

    log p[n, k] = (z[n, k] - m[n]) - log sum_j exp(z[n, j] - m[n]),    m[n] = max_j z[n, j]

The gradient has a famously simple form:

    dlogits = (p - onehot(y)) / N          onehot(y)[n, k] = 1 if k == y[n] else 0

(the 1/N because the loss is a mean). Each row of dlogits sums to 0.

Shapes: logits (N, K) floats; y (N,) ints in [0, K). Returns loss, a float (or a 0-d
array), and dlogits (N, K).

Check your work:    minicnn exercise check softmax_cross_entropy
When every property passes, the checker puts your loss on top of the shipped net and
sends its gradient back to the image: a few small steps up that gradient (the fast
gradient sign method, Goodfellow, Shlens & Szegedy 2015) make images the net gets wrong.
Only NumPy is needed.
"""
import numpy as np


def softmax_cross_entropy(logits, y):
    """
    Inputs:
    - logits: (N, K) class scores; y: (N,) the true classes
    Returns (loss, dlogits): the mean cross-entropy, and its gradient (N, K)
    """
    raise NotImplementedError
'''


# ---- the reference solution ---------------------------------------------------------------

def softmax_cross_entropy(logits, y):
    N = len(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)            # (N, K), the max is 0
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(N), y].mean()
    dlogits = np.exp(log_p)
    dlogits[np.arange(N), y] -= 1
    return loss, dlogits / N


# ---- properties ---------------------------------------------------------------------------

@st.composite
def loss_cases(draw, scale=3.0):
    N, K = draw(st.integers(1, 5)), draw(st.integers(2, 6))
    rng = np.random.default_rng(draw(seeds))
    return {"logits": decimals(rng, (N, K)) * scale, "y": rng.integers(0, K, size=N)}


def minicnn_loss(logits, y):
    """minicnn's cross-entropy (minicnn/ops/loss.py), float64."""
    import minicnn
    from minicnn import functional as F
    with minicnn.no_grad():
        return F.cross_entropy(minicnn.Tensor(np.asarray(logits, dtype=np.float64)), y).data


def results(fns, case):
    loss, dlogits = unpack(fns.softmax_cross_entropy(case["logits"], case["y"]),
                           ("loss", "dlogits"), "softmax_cross_entropy")
    loss = as_array("loss", loss, "softmax_cross_entropy")
    require(loss.size == 1, f"the loss must be one number, the mean over the batch; yours has "
                            f"shape {loss.shape}")
    return loss.reshape(()), dlogits


def check_loss(fns, case):
    z, y = case["logits"], case["y"]
    loss, _ = results(fns, case)
    N = len(z)
    compare("loss", loss, minicnn_loss(z, y), "softmax_cross_entropy", looks_like=[
        ("your loss is the sum over the batch: it is the mean (divide by N)",
         minicnn_loss(z, y) * N),
        ("your loss has the wrong sign: it is MINUS the log-probability", -minicnn_loss(z, y))])


def check_gradient(fns, case):
    z, y = case["logits"], case["y"]
    _, dlogits = results(fns, case)
    expected = numerical_gradient(lambda logits: minicnn_loss(logits, y), {"logits": z},
                                  "logits", np.ones(()))
    N = len(z)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    compare("dlogits", dlogits, expected, "softmax_cross_entropy", rtol=1e-5, atol=1e-7,
            looks_like=[("your gradient is N times too large: the loss is a mean over the "
                         "batch, so divide (p - onehot) by N", expected * N),
                        ("you forgot to subtract the one-hot of the true class", p / N),
                        ("your gradient has the wrong sign: it is (p - onehot) / N", -expected)])


def check_rows(fns, case):
    _, dlogits = results(fns, case)
    d = as_array("dlogits", dlogits, "softmax_cross_entropy")
    require(d.ndim == 2, f"dlogits must be (N, K); yours has shape {d.shape}")
    sums = d.sum(axis=1)
    require(np.allclose(sums, 0, atol=1e-9),
            f"the rows of your dlogits sum to {np.round(sums, 6)}, not 0: p sums to 1 and so "
            f"does onehot(y), so each row of (p - onehot(y)) / N sums to 0")


def check_stable(fns, case):
    z, y = case["logits"], case["y"]
    loss, dlogits = results(fns, case)
    require(np.isfinite(loss) and np.isfinite(np.asarray(dlogits, dtype=float)).all(),
            f"with logits in the thousands your loss is {float(loss)} (or the gradient holds "
            f"inf or nan): exp overflows. Subtract each row's maximum before exp")
    compare("loss", loss, minicnn_loss(z, y), "softmax_cross_entropy")


PROPERTIES = [
    Property("loss: the mean over the batch of -log softmax(logits)[y]", loss_cases(),
             check_loss, "log p = shifted - log(exp(shifted).sum(axis=1, keepdims=True)) with "
             "shifted = logits - row max; loss = -log_p[np.arange(N), y].mean()."),
    Property("loss: finite and right for logits in the thousands (the max subtracted first)",
             loss_cases(scale=1000.0), check_stable,
             "softmax(z) = softmax(z - max z): subtract each row's maximum before exp, so that "
             "nothing overflows."),
    Property("dlogits matches central differences of the loss", loss_cases(), check_gradient,
             "dlogits = (p - onehot(y)) / N: start from p, subtract 1 at [np.arange(N), y], "
             "divide by N."),
    Property("each row of dlogits sums to 0", loss_cases(), check_rows,
             "subtract the 1 at each row's own class only: dlogits[np.arange(N), y] -= 1 (not "
             "dlogits[:, y], which hits every row at every label)."),
]


# ---- the picture ----------------------------------------------------------------------------

def student_loss_function(loss_fn):
    """A minicnn Function whose forward is the student's loss and whose backward hands back
    the student's dlogits: their loss on top of any minicnn network."""
    from minicnn.tensor import Function

    class StudentCrossEntropy(Function):
        def forward(self, z, labels):
            loss, dz = loss_fn(z.astype(np.float64), labels)
            self.dz, self.dtype = np.asarray(dz, dtype=np.float64), z.dtype
            return np.asarray(loss, dtype=z.dtype)

        def backward(self, dout):
            return (self.dz * dout).astype(self.dtype), None

    return StudentCrossEntropy


def picture(fns, out, data, notify):
    """Adversarial images from the student's loss gradient: 10 steps of the iterative fast
    gradient sign method, each pixel moved by at most 4/255."""
    import minicnn
    from minicnn import visualize as vis
    from minicnn.exercises import pictures
    model = pictures.shipped()
    classes = vis.model_classes(model)
    mean, std = vis.input_stats(model)
    shown = pictures.images(model, data, count=4)
    loss_op = student_loss_function(fns.softmax_cross_entropy)
    unit = (1 / 255 / std)[None, :, None, None]            # one pixel step, normalised
    lo, hi = vis.pixel_range(mean, std)
    x0, x, y = shown.x, shown.x.copy(), shown.target
    first = None
    for _ in range(10):
        notify(("example",))
        xt = minicnn.Tensor(x, requires_grad=True)
        with minicnn.plain(), minicnn.frozen(model.parameters()):
            loss = loss_op.apply(model(xt), y)
            loss.backward()
        first = xt.grad if first is None else first
        x = np.clip(x + unit * np.sign(xt.grad), x0 - 4 * unit, x0 + 4 * unit)
        x = np.clip(x, lo, hi).astype(np.float32)
    p0, p1 = vis.probabilities(model, x0), vis.probabilities(model, x)
    after = p1.argmax(axis=1)
    panels = [[shown.rgb[n], vis.render_map(first, "rgb")[n], vis.to_rgb(x, mean, std)[n],
               np.clip(0.5 + 10 * (vis.to_rgb(x, mean, std)[n] - shown.rgb[n]), 0, 1)]
              for n in range(len(x))]
    rows = [f"{shown.titles[n].splitlines()[0]}: p={p0[n, y[n]]:.2f}\nafter: {classes[after[n]]} "
            f"({p1[n, after[n]]:.2f})" for n in range(len(x))]
    fig = vis.panel_grid(panels, row_titles=rows, col_titles=[
        "image", "d (your loss) / d image", "10 steps up it (<= 4/255)", "the change x 10"],
        title="your loss's gradient fools the shipped net")
    fooled = int((after != y).sum())
    return pictures.save(fig, out), pictures.said(shown, f"your loss's gradient, sent back through the shipped net, "
                                     f"changed the net's answer for {fooled} of {len(x)} "
                                     f"{shown.source} by at most 4/255 per pixel")
