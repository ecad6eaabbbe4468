"""Exercise linear (lesson 03): the fully connected layer, forward and backward.

The student writes linear_forward and linear_backward (PyTorch's weight layout, (out, in)).
The properties hold the forward to minicnn/ops/linear.py and each gradient to central
differences of it, on rectangular shapes and batch 1. The picture: the shipped mlp, both
of its layers running the student's code, classifies test images and draws their saliency.
"""
from types import SimpleNamespace

import numpy as np
from hypothesis import strategies as st

from minicnn.exercises.properties import (
    Property,
    compare,
    decimals,
    numerical_gradient,
    seeds,
    unpack,
)
from minicnn.ops import linear as ops_linear

TITLE = "the fully connected layer: out = x @ w.T + b, and its three gradients"
LESSON = "03_mlp_weights"
FUNCTIONS = {
    "linear_forward": ("x", "w", "b"),
    "linear_backward": ("dout", "x", "w", "b"),
}

SKELETON = '''\
"""Exercise linear: the fully connected layer, forward and backward (lesson 03).

Every unit m of a fully connected layer computes a weighted sum of all D inputs:

    out[n, m] = sum_d x[n, d] * w[m, d] + b[m]          out = x @ w.T + b

w has PyTorch's layout, (out, in) = (M, D): row m holds unit m's weights, which is why
lesson 03 can show each row of the mlp's first layer as a 32x32 picture.

Backward: dout = dL/dout arrives with out's shape (N, M). By the chain rule,

    dx = dout @ w         (N, D)     every input feeds every unit, so its gradient sums
                                     dout[n, m] * w[m, d] over the units m
    dw = dout.T @ x       (M, D)     the same shape as w, summed over the batch
    db = dout.sum(axis=0) (M,)       b[m] is added to every image's out[n, m]

Check the shapes: each gradient has the shape of what it is the gradient of. With N, D
and M all different, only one way of writing each product fits.

Shapes: x (N, D); w (M, D); b (M,).

Check your work:    minicnn exercise check linear
When every property passes, the checker runs both layers of the shipped mlp (3,072 pixels
-> 256 ReLUs -> 10 classes) with your two functions: it classifies test images and draws
d logit / d image, their saliency maps, through your backward.
Only NumPy is needed.
"""
import numpy as np


def linear_forward(x, w, b):
    """
    Inputs:
    - x: (N, D) inputs; w: (M, D) weights, PyTorch's layout; b: (M,) biases
    Returns out: (N, M)
    """
    raise NotImplementedError


def linear_backward(dout, x, w, b):
    """
    Inputs:
    - dout: (N, M) the gradient of the loss with respect to out
    - x, w, b: what linear_forward got
    Returns (dx, dw, db): (N, D), (M, D), (M,)
    """
    raise NotImplementedError
'''


# ---- the reference solution ---------------------------------------------------------------

def linear_forward(x, w, b):
    return x @ w.T + b


def linear_backward(dout, x, w, b):
    return dout @ w, dout.T @ x, dout.sum(axis=0)


# ---- properties ---------------------------------------------------------------------------

@st.composite
def linear_cases(draw, backward=False):
    N, D, M = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(seeds))
    case = {"x": decimals(rng, (N, D)), "w": decimals(rng, (M, D)), "b": decimals(rng, (M,))}
    if backward:
        case["dout"] = decimals(rng, (N, M))
    return case


def reference_forward(x, w, b):
    """minicnn's plain linear layer (minicnn/ops/linear.py)."""
    return ops_linear.linear_forward(SimpleNamespace(), x, w, b)


def check_forward(fns, case):
    x, w, b = case["x"], case["w"], case["b"]
    compare("out", fns.linear_forward(x, w, b), reference_forward(x, w, b), "linear_forward",
            looks_like=[("the bias is missing", reference_forward(x, w, 0 * b))],
            wrong_shapes=[((len(w), len(x)), "your out is transposed: (M, N) instead of (N, M)")])


def gradient_check(fns, case, which):
    x, w, b, dout = case["x"], case["w"], case["b"], case["dout"]
    dx, dw, db = unpack(fns.linear_backward(dout, x, w, b), ("dx", "dw", "db"),
                        "linear_backward")
    expected = numerical_gradient(reference_forward, {"x": x, "w": w, "b": b}, which, dout)
    N, M = dout.shape
    looks_like = {"b": [("your db is the mean over the batch: b is added to every image, so "
                         "its gradient is the sum", expected / N)]}.get(which, [])
    wrong_shapes = {"w": [(w.shape[::-1], "your dw is transposed: with w as (out, in), "
                                          "dw = dout.T @ x, of shape (M, D)")],
                    "b": [((N, M), "db still has the batch axis: sum dout over it")]}
    compare(f"d{which}", {"x": dx, "w": dw, "b": db}[which], expected, "linear_backward",
            looks_like=looks_like, wrong_shapes=wrong_shapes.get(which, []))


PROPERTIES = [
    Property("forward: out = x @ w.T + b, with w as (out, in)", linear_cases(), check_forward,
             "w is (M, D): row m is unit m's weights, so out[n, m] = x[n] . w[m] + b[m], "
             "which is x @ w.T + b."),
    Property("backward: dx matches central differences", linear_cases(backward=True),
             lambda fns, case: gradient_check(fns, case, "x"),
             "dx[n, d] = sum_m dout[n, m] * w[m, d]: dout @ w, of x's shape (N, D)."),
    Property("backward: dw matches central differences", linear_cases(backward=True),
             lambda fns, case: gradient_check(fns, case, "w"),
             "dw[m, d] = sum_n dout[n, m] * x[n, d]: dout.T @ x, of w's shape (M, D)."),
    Property("backward: db matches central differences", linear_cases(backward=True),
             lambda fns, case: gradient_check(fns, case, "b"),
             "b[m] is added to out[n, m] for every image n, so db[m] = sum_n dout[n, m]."),
]


# ---- the picture ----------------------------------------------------------------------------

def picture(fns, out, data, notify):
    """The shipped mlp with the student's linear layers: predictions and saliency maps."""
    from minicnn import route
    from minicnn import visualize as vis
    from minicnn.exercises import pictures
    mlp = pictures.shipped("mlp")
    classes = vis.model_classes(mlp)
    shown = pictures.images(mlp, data, count=4)
    with route.replaced(pictures.linear_adapters(fns.linear_forward, fns.linear_backward)):
        p = vis.probabilities(mlp, shown.x)                    # (4, 10) by your forward
        saliency = vis.saliency(mlp, shown.x, shown.target)    # by your backward
    with route.plain():
        same = vis.saliency(mlp, shown.x, shown.target)
    guess = p.argmax(axis=1)
    rows = [f"{title}\nyours: {classes[k]} ({p[n, k]:.2f})"
            for n, (title, k) in enumerate(zip(shown.titles, guess))]
    panels = [[shown.rgb[n], vis.render_map(saliency, "absmax")[n],
               vis.render_map(saliency, "rgb")[n]] for n in range(len(shown.x))]
    fig = vis.panel_grid(panels, row_titles=rows, col_titles=[
        "image", "saliency, max |g|", "saliency, signed"],
        title="the shipped mlp, both layers yours: predictions and d logit / d image")
    path = pictures.save(fig, out)
    diff = np.abs(saliency - same).max() / max(np.abs(same).max(), 1e-30)
    return path, pictures.said(shown, f"your linear layers classified {len(shown.x)} {shown.source} and drew "
                  f"their saliency maps (within {diff:.1e} of minicnn's)")
