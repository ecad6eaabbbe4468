"""Exercise gradcam (lesson 11): Grad-CAM's channel weights and map (Selvaraju et al. 2017).

The student writes gradcam(A, dA): the gradient averaged over positions as each channel's
weight, the weighted sum of the channels, the ReLU. The properties hold it to
minicnn.visualize.gradcam on small random conv nets and to the formula on random arrays.
The picture: Grad-CAM of test images at the shipped net's last conv layer, by the
student's function.
"""
import numpy as np
from hypothesis import strategies as st

from minicnn.exercises.properties import Described, Property, compare, decimals, require, seeds

TITLE = "Grad-CAM: channel weights from the averaged gradient, the weighted map, its ReLU"
LESSON = "11_gradcam"
FUNCTIONS = {"gradcam": ("A", "dA")}

SKELETON = '''\
"""Exercise gradcam: Grad-CAM (lesson 11).

Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra, "Grad-CAM: Visual Explanations from
Deep Networks via Gradient-based Localization" (ICCV 2017). A conv layer's K channels
A_k (each an h x w map) are what the rest of the network reads. Grad-CAM weighs each
channel by how much the class score cares about it on average, and keeps only the
evidence FOR the class:

    alpha[n, k] = (1 / (h w)) sum_{y, x} dA[n, k, y, x]       global average pooling of
                                                              the gradient dA = d score / dA
    cam[n]      = relu( sum_k alpha[n, k] * A[n, k] )          (h, w), never negative

Each image n has its own weights alpha[n] (its own gradient). The map has the layer's
resolution; upsampled to the image it shows where the class's evidence is.

Shapes: A and dA are (N, K, h, w); the result is (N, h, w).

Check your work:    minicnn exercise check gradcam
When every property passes, the checker hands your function the shipped net's relu4
activations and gradients for test images and draws the maps over the images.
Only NumPy is needed.
"""
import numpy as np


def gradcam(A, dA):
    """
    Inputs:
    - A: (N, K, h, w) activations of a conv layer
    - dA: (N, K, h, w) the gradient of each image's class score with respect to A
    Returns cam: (N, h, w), non-negative
    """
    raise NotImplementedError
'''


# ---- the reference solution ---------------------------------------------------------------

def gradcam(A, dA):
    alpha = dA.mean(axis=(2, 3))                              # (N, K) pooled gradients
    cam = (alpha[:, :, None, None] * A).sum(axis=1)           # (N, h, w)
    return np.maximum(cam, 0)


# ---- properties ---------------------------------------------------------------------------

@st.composite
def array_cases(draw, batch=False):
    N = draw(st.integers(2, 3)) if batch else 1
    K, h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(seeds))
    return {"A": np.abs(decimals(rng, (N, K, h, w))), "dA": decimals(rng, (N, K, h, w))}


def formula(A, dA):
    """Selvaraju et al.'s equations 1 and 2."""
    return np.maximum(np.einsum("nk,nkhw->nhw", dA.mean(axis=(2, 3)), A), 0)


def mistakes(A, dA):
    h, w = A.shape[2:]
    return [("your channel weights are the gradient's SUM over positions: Grad-CAM averages "
             "it (divide by h * w)", formula(A, dA) * h * w),
            ("the ReLU is missing: keep only positive evidence, np.maximum(cam, 0)",
             np.einsum("nk,nkhw->nhw", dA.mean(axis=(2, 3)), A)),
            ("you weighted A by the gradient at each position (sum_k dA * A): Grad-CAM pools the "
             "gradient first, alpha[n, k] = mean of dA[n, k] over y and x",
             np.maximum((dA * A).sum(axis=1), 0)),
            ("your weights are averaged over the batch too: each image has its own alpha[n]",
             np.maximum(np.einsum("k,nkhw->nhw", dA.mean(axis=(0, 2, 3)), A), 0))]


def check_arrays(fns, case):
    A, dA = case["A"], case["dA"]
    compare("cam", fns.gradcam(A, dA), formula(A, dA), "gradcam", looks_like=mistakes(A, dA))


def check_nonnegative(fns, case):
    cam = np.asarray(fns.gradcam(case["A"], case["dA"]), dtype=float)
    require(cam.size == 0 or cam.min() >= 0,
            f"your cam has negative values (as low as {cam.min():.4g}): Grad-CAM keeps only the "
            f"evidence for the class, relu(sum_k alpha_k A_k)")


@st.composite
def net_cases(draw):
    """A small random conv net, images, a class: A and dA at its last ReLU, as minicnn's
    gradcam computes them."""
    from minicnn import nn
    rng = np.random.default_rng(draw(seeds))
    N, C, F = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
    H, W = draw(st.integers(2, 5)), draw(st.integers(2, 5))
    model = nn.Sequential({"conv1": nn.Conv2d(C, F, 3, padding=1), "relu1": nn.ReLU(),
                           "flatten": nn.Flatten(), "fc": nn.Linear(F * H * W, 10)}).double()
    for p in model.parameters():
        p.data = decimals(rng, p.shape)
    x = decimals(rng, (N, C, H, W))
    target = int(draw(st.integers(0, 9)))
    A, dA = activations_and_gradient(model, x, target, "relu1")
    net = Described(model, f"conv1 ({C} -> {F} channels, 3x3, padding 1) - relu1 - flatten - "
                           f"fc ({F * H * W} -> 10), random weights")
    return {"A": A, "dA": dA, "net": net, "x": x, "target": target}


def activations_and_gradient(model, x, target, layer):
    """A = the layer's output, dA = d logit(target) / dA, on the plain route."""
    import minicnn
    from minicnn.visualize.targets import resolve_target, unit_dout
    with minicnn.plain(), minicnn.frozen(model.parameters()):
        acts = model.activations(minicnn.Tensor(x, requires_grad=True), [layer, model.names[-1]])
        out = acts[model.names[-1]]
        _, units = resolve_target(model, target, len(x))
        out.backward(unit_dout(out.data, units, model.names[-1]))
    return acts[layer].data, acts[layer].grad


def check_net(fns, case):
    import minicnn
    from minicnn import visualize as vis
    with minicnn.plain():
        expected = vis.gradcam(case["net"].value, case["x"], case["target"], layer="relu1")
    compare("cam", fns.gradcam(case["A"], case["dA"]), expected, "gradcam",
            looks_like=mistakes(case["A"], case["dA"]))


PROPERTIES = [
    Property("one image: cam = relu(sum_k mean(dA_k) A_k)", array_cases(), check_arrays,
             "alpha = dA.mean(axis=(2, 3)) is (N, K); multiply each channel A[:, k] by "
             "alpha[:, k], sum over k, then np.maximum(cam, 0)."),
    Property("cam is never negative", array_cases(batch=True), check_nonnegative,
             "Grad-CAM's ReLU keeps the positive evidence only."),
    Property("a batch: each image weighs the channels by its own gradient",
             array_cases(batch=True), check_arrays,
             "average dA over the positions (axes 2 and 3) only, not over the batch."),
    Property("equals minicnn's Grad-CAM of a small random conv net at its ReLU layer",
             net_cases(), check_net,
             "A and dA come from a real network here (A >= 0 after the ReLU); the same formula "
             "applies."),
]


# ---- the picture ----------------------------------------------------------------------------

def picture(fns, out, data, notify):
    """Grad-CAM of test images at relu4 of the shipped net, by the student's function."""
    from minicnn import visualize as vis
    from minicnn.exercises import pictures
    model = pictures.shipped()
    shown = pictures.images(model, data, count=4)
    cams, same = [], []
    for n in range(len(shown.x)):
        A, dA = activations_and_gradient(model, shown.x[n:n + 1], int(shown.target[n]), "relu4")
        cams.append(np.asarray(fns.gradcam(A, dA), dtype=np.float64))
        same.append(formula(A.astype(np.float64), dA.astype(np.float64)))
    cam, same = np.concatenate(cams), np.concatenate(same)
    up = vis.upsample(cam, (32, 32))
    panels = []
    for n in range(len(shown.x)):
        peak = max(up[n].max(), 1e-30)
        panels.append([shown.rgb[n], cam[n] / max(cam[n].max(), 1e-30),
                       vis.overlay(shown.rgb[n], up[n] / peak)])
    fig = vis.panel_grid(panels, row_titles=shown.titles,
                         col_titles=["image", "your Grad-CAM (relu4, 16x16)", "on the image"],
                         title="Grad-CAM by your function, shipped net")
    path = pictures.save(fig, out)
    diff = np.abs(cam - same).max() / max(np.abs(same).max(), 1e-30)
    return path, pictures.said(shown, f"your gradcam drew the maps of {len(shown.x)} {shown.source} at relu4 "
                  f"(within {diff:.1e} of Grad-CAM's formula on the same A and dA)")
