"""Exercise saliency (lesson 06): a class score's gradient with respect to the image, by
one forward and one backward pass written out for a one-hidden-layer net.

The student writes saliency(x, w1, b1, w2, b2, target) for the mlp's architecture. The
properties hold it to central differences of the target's score (one image, then a batch
with a class per image), with every hidden unit kept off its ReLU's kink. The picture: the
saliency maps of the shipped mlp for test images, computed by the student's function.
"""
import numpy as np
from hypothesis import strategies as st

from minicnn.exercises.properties import Property, compare, decimals, numerical_gradient, seeds

TITLE = "saliency by hand: forward and backward through fc-ReLU-fc for one class score"
LESSON = "06_gradient_of_a_neuron"
FUNCTIONS = {"saliency": ("x", "w1", "b1", "w2", "b2", "target")}

SKELETON = '''\
"""Exercise saliency: the gradient of a class score with respect to the image (lesson 06).

"Which pixels in the input affect the neuron the most? For which inputs is
d neuron / d x_i large?" (the lecture). Do a forward pass, then backpropagate from the one
score we care about: start the backward pass with dout = 1 at that score and 0 everywhere
else. What arrives at the input is the saliency map of Simonyan, Vedaldi & Zisserman,
"Deep Inside Convolutional Networks: Visualising Image Classification Models and
Saliency Maps" (ICLR 2014 workshop).

Here the network is minicnn's mlp, one hidden layer of ReLUs, written out:

    z = x @ w1.T + b1        (N, H)     the hidden units before their ReLU
    h = max(z, 0)            (N, H)
    s = h @ w2.T + b2        (N, K)     the class scores (logits)

and the score of image n is s[n, target[n]]. Backward, by the chain rule, for image n
with class t = target[n]:

    ds = one-hot: 1 at (n, t)           (N, K)
    dh = ds @ w2                        (N, H)
    dz = dh * [z > 0]                   (N, H)     the ReLU passes where its input was > 0
    dx = dz @ w1                        (N, D)

Each image's map is the gradient of ITS OWN class's score; images do not mix.

Shapes: x (N, D), images flattened; w1 (H, D), b1 (H,), w2 (K, H), b2 (K,), PyTorch's
layouts; target (N,) ints in [0, K).

Check your work:    minicnn exercise check saliency
When every property passes, the checker gives your function the shipped mlp's weights
(3,072 pixels -> 256 ReLUs -> 10 classes) and draws the saliency maps of test images.
Only NumPy is needed.
"""
import numpy as np


def saliency(x, w1, b1, w2, b2, target):
    """
    Inputs:
    - x: (N, D) flattened images
    - w1: (H, D), b1: (H,): the hidden layer; w2: (K, H), b2: (K,): the output layer
    - target: (N,) ints, the class whose score is explained for each image
    Returns dx: (N, D), row n = d s[n, target[n]] / d x[n]
    """
    raise NotImplementedError
'''


# ---- the reference solution ---------------------------------------------------------------

def saliency(x, w1, b1, w2, b2, target):
    z = x @ w1.T + b1                                 # (N, H)
    ds = np.zeros((len(x), len(w2)))                  # (N, K) one-hot at each image's class
    ds[np.arange(len(x)), target] = 1
    dz = (ds @ w2) * (z > 0)                          # (N, H) through fc2, then the ReLU
    return dz @ w1                                    # (N, D)


# ---- properties ---------------------------------------------------------------------------

@st.composite
def mlp_cases(draw, batch=False):
    N = draw(st.integers(2, 4)) if batch else 1
    D, H, K = draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(2, 4))
    rng = np.random.default_rng(draw(seeds))
    # b1 is 0.005 off the tenths: z = x @ w1.T + b1 is never 0, no unit sits on its kink
    return {"x": decimals(rng, (N, D)), "w1": decimals(rng, (H, D)),
            "b1": decimals(rng, (H,)) + 0.005, "w2": decimals(rng, (K, H)),
            "b2": decimals(rng, (K,)), "target": rng.integers(0, K, size=N)}


def score(x, w1, b1, w2, b2, target):
    """s[n, target[n]] for every image: what the saliency map is the gradient of."""
    s = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2
    return s[np.arange(len(x)), target]


def expected_map(case):
    """Central differences of each image's score: (N, D). The scores of different images
    do not mix, so the sum's gradient is each image's own."""
    return numerical_gradient(score, case, "x", np.ones(len(case["x"])))


def check(fns, case):
    args = [case[k] for k in ("x", "w1", "b1", "w2", "b2", "target")]
    x, w1, b1, w2, b2, target = args
    expected = expected_map(case)
    z = x @ w1.T + b1
    K = len(w2)
    onehot = np.zeros((len(x), K))
    onehot[np.arange(len(x)), target] = 1
    no_relu = (onehot @ w2) @ w1
    first = np.zeros_like(onehot)
    first[:, target[0]] = 1
    compare("dx", fns.saliency(*args), expected, "saliency", rtol=1e-5, looks_like=[
        ("your map ignores the ReLU: multiply dh by (z > 0), z the hidden units' input",
         no_relu),
        ("every image got the first image's class: use target[n] for image n",
         ((first @ w2) * (z > 0)) @ w1),
        ("your map is the gradient of the sum of all K scores, not of the target's",
         ((np.ones_like(onehot) @ w2) * (z > 0)) @ w1)])


PROPERTIES = [
    Property("one image: dx matches central differences of the target's score",
             mlp_cases(), check,
             "forward (z, h, s), then backward from a one-hot ds: dh = ds @ w2, "
             "dz = dh * (z > 0), dx = dz @ w1."),
    Property("a batch: each image's map is the gradient of its own class's score",
             mlp_cases(batch=True), check,
             "the one-hot ds has a 1 at (n, target[n]) for every image n: "
             "ds[np.arange(N), target] = 1."),
]


# ---- the picture ----------------------------------------------------------------------------

def picture(fns, out, data, notify):
    """Saliency maps of the shipped mlp for test images, by the student's function."""
    from minicnn import route
    from minicnn import visualize as vis
    from minicnn.exercises import pictures
    mlp = pictures.shipped("mlp")
    shown = pictures.images(mlp, data, count=4)
    w1, b1 = mlp.fc1.weight.data, mlp.fc1.bias.data
    w2, b2 = mlp.fc2.weight.data, mlp.fc2.bias.data
    N = len(shown.x)
    dx = np.asarray(fns.saliency(shown.x.reshape(N, -1), w1, b1, w2, b2, shown.target))
    maps = dx.reshape(shown.x.shape)
    with route.plain():
        same = vis.saliency(mlp, shown.x, shown.target)
    panels = [[shown.rgb[n], vis.render_map(maps, "absmax")[n], vis.render_map(maps, "rgb")[n]]
              for n in range(N)]
    fig = vis.panel_grid(panels, row_titles=shown.titles, col_titles=[
        "image", "max |g| over colours", "g as RGB (grey = 0)"],
        title="your saliency: d logit(class) / d image, in the shipped mlp")
    path = pictures.save(fig, out)
    diff = np.abs(maps - same).max() / max(np.abs(same).max(), 1e-30)
    return path, pictures.said(shown, f"your saliency drew the maps of {N} {shown.source} in the shipped mlp "
                  f"(within {diff:.1e} of minicnn's vis.saliency)")
