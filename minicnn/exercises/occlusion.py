"""Exercise occlusion (lesson 10): the probability of a class as a square slides over the
image (Zeiler & Fergus 2014, section 4.2).

The student writes occlusion(predict, image, label, size, stride, fill). The properties
hold the map to minicnn.visualize.occlusion, with a random linear classifier as `predict`,
and check that the image itself is left alone. The picture: occlusion maps of test images
for the shipped net, computed by the student's function.
"""
import numpy as np
from hypothesis import strategies as st

from minicnn.exercises.properties import Property, compare, decimals, require, seeds

TITLE = "occlusion sensitivity: slide a square over the image, record p(class)"
LESSON = "10_occlusion"
FUNCTIONS = {"occlusion": ("predict", "image", "label", "size", "stride", "fill")}

SKELETON = '''\
"""Exercise occlusion: occlusion sensitivity (lesson 10).

Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (ECCV 2014),
section 4.2: cover part of the image with a grey square and see how much the probability
of the class drops. Sliding the square over the image gives a map: where the probability
falls, the network was looking. It needs no gradient, only forward passes.

For an image of C x H x W, a square of side `size` and a step of `stride` pixels, the
square's top-left corner visits (i * stride, j * stride) for

    0 <= i < OH = (H - size) // stride + 1,    0 <= j < OW = (W - size) // stride + 1

and the map is

    prob[i, j] = predict(copy[None])[0, label],   copy = the image with
                 copy[:, i*stride:i*stride + size, j*stride:j*stride + size] = fill

on every channel. Each position starts from a fresh copy of the image: the squares of
earlier positions must not stay painted, and `image` itself must not change.

predict takes a batch (B, C, H, W) and returns (B, K) class probabilities. One call per
position is fine; a batch of many copies per call is faster.

Check your work:    minicnn exercise check occlusion
When every property passes, the checker runs your function with the shipped net as
`predict` and draws the occlusion maps of test images (a grey 10x10 square, stride 2).
Only NumPy is needed.
"""
import numpy as np


def occlusion(predict, image, label, size, stride, fill):
    """
    Inputs:
    - predict: a function, (B, C, H, W) images -> (B, K) probabilities
    - image: (C, H, W); label: the class, an int in [0, K)
    - size, stride: the square's side and step, ints; fill: the square's value, a number
    Returns prob: (OH, OW), the label's probability with the square at each position
    """
    raise NotImplementedError
'''


# ---- the reference solution ---------------------------------------------------------------

def occlusion(predict, image, label, size, stride, fill):
    C, H, W = image.shape
    OH, OW = (H - size) // stride + 1, (W - size) // stride + 1
    copies = np.repeat(image[None], OH * OW, axis=0)       # (OH*OW, C, H, W)
    for i in range(OH):
        for j in range(OW):
            copies[i * OW + j, :, i * stride:i * stride + size, j * stride:j * stride + size] = fill
    return predict(copies)[:, label].reshape(OH, OW)


# ---- properties ---------------------------------------------------------------------------

class Predictor:
    """`predict` for the student: a random linear classifier on the plain route, or the
    shipped net on the fast one (the checker's own forward passes)."""

    def __init__(self, model, fast=False, text="a random linear classifier"):
        self.model, self.fast, self.text = model, fast, text

    def __call__(self, batch):
        import minicnn
        from minicnn import visualize as vis
        batch = np.asarray(batch)
        if batch.ndim != 4:
            raise ValueError(f"predict takes a batch of images (B, C, H, W), got shape "
                             f"{batch.shape}; for one image use image[None]")
        with minicnn.plain(not self.fast):
            return vis.probabilities(self.model, batch.astype(np.float64 if not self.fast
                                                              else np.float32))

    def __repr__(self):
        return f"<predict: {self.text}>"


def linear_classifier(rng, C, H, W, K=10):
    from minicnn import nn
    model = nn.Sequential({"flatten": nn.Flatten(), "fc": nn.Linear(C * H * W, K)}).double()
    model.fc.weight.data = decimals(rng, (K, C * H * W)) * 3
    model.fc.bias.data = decimals(rng, (K,))
    return model


@st.composite
def occlusion_cases(draw):
    C, H, W = draw(st.integers(1, 3)), draw(st.integers(3, 8)), draw(st.integers(3, 8))
    size = draw(st.integers(1, min(H, W)))
    stride = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(seeds))
    model = linear_classifier(rng, C, H, W)
    return {"predict": Predictor(model), "image": decimals(rng, (C, H, W)),
            "label": draw(st.integers(0, 9)), "size": size, "stride": stride,
            "fill": float(draw(st.sampled_from([0.0, 0.5, -1.0])))}


def minicnn_map(case):
    import minicnn
    from minicnn import visualize as vis
    with minicnn.plain():
        prob, _ = vis.occlusion(case["predict"].model, case["image"][None], case["label"],
                                size=case["size"], stride=case["stride"], fill=case["fill"])
    return prob[0]


def args_of(case):
    return [case[k] for k in ("predict", "image", "label", "size", "stride", "fill")]


def check_shape(fns, case):
    C, H, W = case["image"].shape
    size, stride = case["size"], case["stride"]
    prob = np.asarray(fns.occlusion(*args_of(case)))
    expected = ((H - size) // stride + 1, (W - size) // stride + 1)
    require(prob.shape == expected,
            f"occlusion returned shape {prob.shape}; expected {expected} for an image {H}x{W}, "
            f"size {size}, stride {stride}: OH = (H - size) // stride + 1")


def painted(case, cumulative=False, channels=None):
    """The map of a known mistake: squares left painted, or only some channels painted."""
    predict, image, label, size, stride, fill = args_of(case)
    C, H, W = image.shape
    OH, OW = (H - size) // stride + 1, (W - size) // stride + 1
    copy, prob = image.copy(), np.empty((OH, OW))
    for i in range(OH):
        for j in range(OW):
            if not cumulative:
                copy = image.copy()
            copy[:channels, i * stride:i * stride + size, j * stride:j * stride + size] = fill
            prob[i, j] = predict(copy[None])[0, label]
    return prob


def check_map(fns, case):
    expected = minicnn_map(case)
    looks_like = [("the squares of earlier positions stayed painted: occlude a fresh copy of "
                   "the image at every position", painted(case, cumulative=True)),
                  ("only the first channel was painted: paint every channel, copy[:, rows, cols]",
                   painted(case, channels=1))]
    if expected.shape[0] == expected.shape[1]:
        looks_like.append(("your map is transposed: i counts rows (the corner's y = i * stride), "
                           "j columns", expected.T))
    compare("prob", fns.occlusion(*args_of(case)), expected, "occlusion", rtol=1e-6,
            looks_like=looks_like, wrong_shapes=[(expected.shape[::-1], "your map is transposed: "
                                                  "(OH, OW) has a row per vertical position")])


def check_untouched(fns, case):
    changed = fns.occlusion.changes_arguments(list(FUNCTIONS["occlusion"]), *args_of(case))
    require(not changed, "occlusion painted into `image` itself: paint a copy "
                         "(image.copy(), or np.repeat(image[None], B, axis=0))")


PROPERTIES = [
    Property("output shape: ((H - size) // stride + 1, (W - size) // stride + 1)",
             occlusion_cases(), check_shape,
             "the square must fit inside the image: the last corner is at (OH - 1) * stride."),
    Property("prob[i, j]: p(label) with the square's corner at (i * stride, j * stride)",
             occlusion_cases(), check_map,
             "for each (i, j): a fresh copy, copy[:, i*stride:i*stride + size, "
             "j*stride:j*stride + size] = fill, then predict(copy[None])[0, label]."),
    Property("the image itself is left as it was", occlusion_cases(), check_untouched,
             "paint copies of the image, never the image you were given."),
]


# ---- the picture ----------------------------------------------------------------------------

def picture(fns, out, data, notify):
    """Occlusion maps of test images for the shipped net, by the student's function."""
    from minicnn import visualize as vis
    from minicnn.exercises import pictures
    model = pictures.shipped()
    shown = pictures.images(model, data, count=3)
    predict = Predictor(model, fast=True, text="the shipped reference_net")
    size, stride = 10, 2
    lo, hi = vis.pixel_range(*vis.input_stats(model))
    grey = float(((lo + hi) / 2).mean())            # pixel value 0.5, about, on every channel
    maps = []
    for n in range(len(shown.x)):
        notify(("example",))
        maps.append(np.asarray(fns.occlusion(predict, shown.x[n], int(shown.target[n]), size,
                                             stride, grey)))
    prob = np.stack(maps)
    base = predict(shown.x)[np.arange(len(shown.x)), shown.target]
    fig = vis.plot_occlusion(shown.rgb, prob, base, [t.splitlines()[0] for t in shown.titles],
                             size, stride)
    return pictures.save(fig, out), pictures.said(shown, f"your occlusion drew the maps of {len(shown.x)} "
                                     f"{shown.source} for the shipped net")
