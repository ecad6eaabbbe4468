"""Exercise sgd_momentum (lesson 13): the update that trains the net.

The student writes one step of SGD with momentum and weight decay in PyTorch's convention
(minicnn.optim.SGD's). The properties hold w and v to minicnn.optim.SGD, for one step and
for several in a row. The picture: the student's update on a long narrow valley, with and
without momentum, and (with CIFAR-10) training the mlp on test images with it.
"""
import numpy as np
from hypothesis import strategies as st

from minicnn.exercises.properties import Property, compare, decimals, seeds, unpack

TITLE = "SGD with momentum and weight decay: one step, PyTorch's convention"
LESSON = "13_train_your_own"
FUNCTIONS = {"sgd_momentum": ("w", "dw", "v", "lr", "momentum", "weight_decay")}

SKELETON = '''\
"""Exercise sgd_momentum: the update that trains the net (lesson 13).

Stochastic gradient descent moves every weight a little against its gradient. Momentum
keeps a velocity v, a running sum of past gradients, and moves along it, so that steps in
a consistent direction add up while zig-zags cancel (Polyak 1964; Sutskever, Martens,
Dahl & Hinton, "On the importance of initialization and momentum in deep learning", ICML
2013). Weight decay adds an L2 penalty weight_decay/2 * |w|^2 to the loss, that is
weight_decay * w to the gradient. One step, in PyTorch's (and minicnn's) convention:

    g = dw + weight_decay * w          the gradient with the decay
    v = momentum * v + g               the velocity; it starts at 0, so the first v is g
    w = w - lr * v                     the step, with the NEW velocity

(CS231n writes v = momentum * v - lr * g, w = w + v: the same steps while lr is fixed,
but a different v, lr times larger and of the other sign. Here v is in gradient units, as
in PyTorch, so that the velocity does not change when the learning rate is scheduled.)

Shapes: w, dw and v are arrays of one shape (any); lr, momentum, weight_decay numbers.
Return the new w and the new v.

Check your work:    minicnn exercise check sgd_momentum
When every property passes, the checker runs your update down a long, narrow valley
with and without momentum and, with CIFAR-10 at hand, trains a fresh mlp with it.
Only NumPy is needed.
"""
import numpy as np


def sgd_momentum(w, dw, v, lr, momentum, weight_decay):
    """
    Inputs:
    - w: the weights; dw: the loss's gradient; v: the velocity (zeros before the first step)
    - lr: the learning rate; momentum: e.g. 0.9 (0: plain SGD); weight_decay: e.g. 5e-4
    Returns (w, v): the new weights and the new velocity
    """
    raise NotImplementedError
'''


# ---- the reference solution ---------------------------------------------------------------

def sgd_momentum(w, dw, v, lr, momentum, weight_decay):
    g = dw + weight_decay * w
    v = momentum * v + g
    return w - lr * v, v


# ---- properties ---------------------------------------------------------------------------

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@st.composite
def sgd_cases(draw, momentum=True, decay=True, steps=1):
    shape = draw(shapes)
    rng = np.random.default_rng(draw(seeds))
    case = {"w": decimals(rng, shape), "v": decimals(rng, shape) if steps == 1 else np.zeros(shape),
            "lr": draw(st.sampled_from([0.1, 0.01, 0.5])),
            "momentum": draw(st.sampled_from([0.9, 0.5, 0.99])) if momentum else 0.0,
            "weight_decay": draw(st.sampled_from([0.1, 0.01])) if decay else 0.0}
    case["dws"] = [decimals(rng, shape) for _ in range(steps)]
    return case


def minicnn_steps(w, dws, v, lr, momentum, weight_decay):
    """minicnn.optim.SGD (PyTorch's update) from velocity v, one step per gradient in dws.
    Returns the weights and the velocity after each step."""
    from minicnn.nn import Parameter
    from minicnn.optim import SGD
    p = Parameter(np.array(w, dtype=np.float64))
    opt = SGD([p], lr=lr, momentum=momentum, weight_decay=weight_decay)
    if momentum:
        opt.velocity[0] = np.array(v, dtype=np.float64)   # minicnn: v <- momentum * v + g
    after = []
    for dw in dws:
        w_before = p.data.copy()
        p.grad = np.array(dw, dtype=np.float64)
        opt.step()
        v = opt.velocity[0].copy() if momentum else p.grad + weight_decay * w_before
        after.append((p.data.copy(), v))
    return after


def check_steps(fns, case):
    w, v, lr, m, wd = case["w"], case["v"], case["lr"], case["momentum"], case["weight_decay"]
    expected = minicnn_steps(w, case["dws"], v, lr, m, wd)
    for k, (dw, (w_expected, v_expected)) in enumerate(zip(case["dws"], expected)):
        w_new, v_new = unpack(fns.sgd_momentum(w, dw, v, lr, m, wd), ("w", "v"), "sgd_momentum")
        step = f" after step {k + 1}" if len(case["dws"]) > 1 else ""
        g = dw + wd * w
        compare(f"v{step}", v_new, v_expected, "sgd_momentum", looks_like=[
            ("your v is CS231n's (momentum * v - lr * g); here v = momentum * v + g, in gradient "
             "units", m * v - lr * g),
            ("the weight decay is missing from the velocity: g = dw + weight_decay * w",
             m * v + dw),
            ("the weight decay has the wrong sign: g = dw + weight_decay * w", m * v + dw - wd * w),
            ("your v ignores the old velocity: v = momentum * v + g", g)])
        compare(f"w{step}", w_new, w_expected, "sgd_momentum", looks_like=[
            ("your step uses the old velocity: update v first, then w = w - lr * v", w - lr * v),
            ("your step is plain SGD, w - lr * g: the step goes along the new velocity",
             w - lr * g),
            ("the step has the wrong sign: w = w - lr * v (against the gradient)",
             w + lr * v_expected)])
        w, v = np.asarray(w_new, dtype=float), np.asarray(v_new, dtype=float)


PROPERTIES = [
    Property("plain SGD: momentum 0 and no decay give w - lr * dw",
             sgd_cases(momentum=False, decay=False), check_steps,
             "with momentum 0, v = g = dw, and the step is w - lr * dw."),
    Property("weight decay: the gradient is dw + weight_decay * w (momentum 0)",
             sgd_cases(momentum=False), check_steps,
             "the L2 penalty weight_decay/2 * |w|^2 adds weight_decay * w to the gradient."),
    Property("momentum: v = momentum * v + g, then w = w - lr * v", sgd_cases(), check_steps,
             "g = dw + weight_decay * w; v = momentum * v + g; w = w - lr * v, with the new v."),
    Property("five steps in a row from v = 0 equal minicnn.optim.SGD's",
             sgd_cases(steps=5), check_steps,
             "each step starts from the w and v the previous one returned; the first v is g."),
]


# ---- the picture ----------------------------------------------------------------------------

def valley(fns, momentum, steps=60, lr=0.035):
    """The path of the student's update on f(w) = (w0^2 + 25 w1^2) / 2 from (-9, 2)."""
    w, v = np.array([-9.0, 2.0]), np.zeros(2)
    path = [w]
    for _ in range(steps):
        dw = np.array([1.0, 25.0]) * w
        w, v = (np.asarray(a, dtype=float) for a in fns.sgd_momentum(w, dw, v, lr, momentum, 0.0))
        path.append(w)
    return np.array(path)


def train_mlp(fns, cifar, momentum, notify, steps=150, batch=64, lr=0.01):
    """Loss curve of a fresh mlp trained on CIFAR-10 images with the student's update."""
    import minicnn
    from minicnn import functional as F
    from minicnn.data import channel_stats, normalize
    rng = np.random.default_rng(0)
    pick = rng.permutation(len(cifar.train_x))[:steps * batch]
    x_all, y_all = cifar.train_x[pick], cifar.train_y[pick]
    mean, std = channel_stats(x_all)
    minicnn.manual_seed(0)
    model = minicnn.models.mlp()
    velocity = [np.zeros_like(p.data) for p in model.parameters()]
    losses = []
    for step in range(steps):
        if step % 10 == 0:
            notify(("example",))
        xb = normalize(x_all[step * batch:(step + 1) * batch], mean, std)
        yb = y_all[step * batch:(step + 1) * batch]
        model.zero_grad()
        with minicnn.plain(False):          # the checker's own forward and backward
            loss = F.cross_entropy(model(minicnn.Tensor(xb)), yb)
            loss.backward()
        losses.append(float(loss.data))
        for k, p in enumerate(model.parameters()):
            w, v = fns.sgd_momentum(p.data.astype(np.float64), p.grad.astype(np.float64),
                                    velocity[k], lr, momentum, 5e-4)
            p.data, velocity[k] = np.asarray(w, dtype=np.float32), np.asarray(v)
    return np.array(losses)


def picture(fns, out, data, notify):
    from matplotlib.figure import Figure

    from minicnn.data import DataError, load_cifar10
    from minicnn.exercises import pictures
    fig = Figure(figsize=(10, 3.8))
    ax_valley, ax_loss = fig.subplots(1, 2)
    a, b = np.meshgrid(np.linspace(-10, 2, 200), np.linspace(-3, 3, 200))
    ax_valley.contour(a, b, (a ** 2 + 25 * b ** 2) / 2, levels=12, colors="0.8", linewidths=0.8)
    for momentum, colour in ((0.0, "tab:blue"), (0.9, "tab:red")):
        path = valley(fns, momentum)
        f = (path[-1, 0] ** 2 + 25 * path[-1, 1] ** 2) / 2
        ax_valley.plot(path[:, 0], path[:, 1], ".-", color=colour, ms=3, lw=1,
                       label=f"momentum {momentum}: f = {f:.2g} after {len(path) - 1} steps")
    ax_valley.set(title="your update down a narrow valley, lr 0.035", xlabel="w0", ylabel="w1")
    ax_valley.legend(fontsize=7, loc="lower right")
    text = "your sgd_momentum went down a narrow valley with and without momentum"
    try:
        cifar = load_cifar10(data, download=False, progress=False)
    except DataError:
        cifar = None
    if cifar is not None and len(cifar.train_x) >= 150 * 64:
        for momentum, colour in ((0.0, "tab:blue"), (0.9, "tab:red")):
            losses = train_mlp(fns, cifar, momentum, notify)
            smooth = np.convolve(losses, np.ones(10) / 10, mode="valid")
            ax_loss.plot(losses, color=colour, alpha=0.25, lw=0.8)
            ax_loss.plot(np.arange(9, len(losses)), smooth, color=colour,
                         label=f"momentum {momentum}")
        ax_loss.set(title="a fresh mlp on CIFAR-10, trained by your update", xlabel="step "
                    "(batch 64, lr 0.01)", ylabel="cross-entropy")
        ax_loss.legend(fontsize=8)
        text += ", and trained a fresh mlp on CIFAR-10 with it"
    else:
        ax_loss.set_axis_off()
        ax_loss.text(0.5, 0.5, "training the mlp needs CIFAR-10:\n--data PATH or MINICNN_DATA",
                     ha="center", va="center")
        text += (" (no CIFAR-10 training images at hand to train the mlp: pass --data PATH or "
                 "set MINICNN_DATA)")
    fig.tight_layout()
    return pictures.save(fig, out), text
