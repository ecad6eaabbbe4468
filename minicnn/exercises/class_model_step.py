"""Exercise class_model_step (lesson 09): one step of gradient ascent on the image, with
L2 decay and a Gaussian blur.

The student writes gaussian_blur and class_model_step. The properties hold the blur to
minicnn.visualize.gaussian_blur and the step to the update of minicnn.visualize.class_model
(the step normalised by each image's gradient RMS, the decay, then the blur). The picture:
class models of the shipped net for all ten classes, every update made by the student's step.
"""
import numpy as np
from hypothesis import strategies as st

from minicnn.exercises.properties import Property, compare, decimals, require, seeds

TITLE = "one step of a class model: gradient ascent normalised per image, L2 decay, blur"
LESSON = "09_class_models"
FUNCTIONS = {
    "gaussian_blur": ("x", "sigma"),
    "class_model_step": ("x", "g", "lr", "l2", "blur_sigma"),
}

SKELETON = '''\
"""Exercise class_model_step: one step of gradient ascent on the image (lesson 09).

"What about doing gradient descent?" (the lecture): keep the weights fixed and change the
IMAGE to make one class's score as large as possible. Simonyan, Vedaldi & Zisserman ("Deep
Inside Convolutional Networks", ICLR 2014 workshop) call the result a class model. Left
alone the ascent makes noise that the net scores highly (fooling images; Nguyen, Yosinski
& Clune 2015); Yosinski, Clune, Nguyen, Fuchs & Lipson ("Understanding Neural Networks
Through Deep Visualization", ICML 2015 workshop) push the image back towards natural
images after each step, for example with an L2 decay and a blur.

One step, for images x (N, C, H, W) and g = d score / d x of the same shape:

    1. x <- x + lr * g / rms(g)         rms(g) = sqrt(mean of g**2 over C, H, W): one number
                                        PER IMAGE, so lr is the step in pixel units whatever
                                        the score's scale (use rms + 1e-12, never 0)
    2. x <- x * (1 - l2)                L2 decay: small, mean-coloured images
    3. x <- gaussian_blur(x, sigma)     if blur_sigma > 0: removes the high frequencies

The blur is a Gaussian of standard deviation sigma pixels, applied to every image and
channel as two 1-D passes (the 2-D Gaussian is separable): along the rows, then along the
columns, with the kernel

    k[t] = exp(-t**2 / (2 sigma**2)) for t = -r, ..., r,  r = max(1, ceil(3 sigma)),
    divided by its sum (so that a constant image stays as it is)

and each image mirrored at its borders first: np.pad(..., mode="reflect") by r pixels on
both sides of the axis being blurred. Then out[..., y, :] = sum_t k[t] * xp[..., y + r + t, :].

Check your work:    minicnn exercise check class_model_step
When every property passes, the checker runs gradient ascent on the shipped net for all
ten classes with your step (and your blur every fourth step, with jitter and clipping to
the range of real pixels, as `minicnn class-model` does), and shows the class models.
Only NumPy is needed.
"""
import numpy as np


def gaussian_blur(x, sigma):
    """
    Inputs:
    - x: (N, C, H, W); sigma: the Gaussian's standard deviation in pixels (> 0)
    Returns: (N, C, H, W), each channel of each image blurred
    """
    raise NotImplementedError


def class_model_step(x, g, lr, l2, blur_sigma):
    """
    Inputs:
    - x: (N, C, H, W) images; g: (N, C, H, W) the gradient of each image's score
    - lr: step size; l2: decay (0: none); blur_sigma: the blur's sigma (0: no blur)
    Returns: the new x, (N, C, H, W)
    """
    raise NotImplementedError
'''


# ---- the reference solution ---------------------------------------------------------------

def gaussian_blur(x, sigma):
    r = max(1, int(np.ceil(3 * sigma)))
    t = np.arange(-r, r + 1)
    k = np.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    H, W = x.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (r, r), (0, 0)), mode="reflect")
    x = sum(k[i] * xp[:, :, i:i + H] for i in range(2 * r + 1))             # along the rows
    xp = np.pad(x, ((0, 0), (0, 0), (0, 0), (r, r)), mode="reflect")
    return sum(k[i] * xp[:, :, :, i:i + W] for i in range(2 * r + 1))       # along the columns


def class_model_step(x, g, lr, l2, blur_sigma):
    rms = np.sqrt((g ** 2).mean(axis=(1, 2, 3), keepdims=True))            # (N, 1, 1, 1)
    x = (x + lr * g / (rms + 1e-12)) * (1 - l2)
    return gaussian_blur(x, blur_sigma) if blur_sigma > 0 else x


# ---- properties ---------------------------------------------------------------------------

sigmas = st.sampled_from([0.5, 0.8, 1.0, 1.3])


@st.composite
def blur_cases(draw, constant=False):
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    sigma = draw(sigmas)
    r = max(1, int(np.ceil(3 * sigma)))
    H, W = draw(st.integers(r + 1, r + 5)), draw(st.integers(r + 1, r + 5))   # reflect needs r < H
    rng = np.random.default_rng(draw(seeds))
    x = decimals(rng, (N, C, H, W))
    if constant:
        x = np.broadcast_to(decimals(rng, (N, C, 1, 1)), x.shape).copy()
    return {"x": x, "sigma": sigma}


@st.composite
def step_cases(draw, batch=False, blur=False):
    N = draw(st.integers(2, 3)) if batch else 1
    C, H, W = draw(st.integers(1, 3)), draw(st.integers(4, 7)), draw(st.integers(4, 7))
    rng = np.random.default_rng(draw(seeds))
    g = decimals(rng, (N, C, H, W))
    g[:, 0, 0, 0] = 0.5                                 # never all zero
    if batch:                                           # gradients of different sizes
        g *= 10.0 ** np.arange(N)[:, None, None, None]
    return {"x": decimals(rng, (N, C, H, W)), "g": g,
            "lr": draw(st.sampled_from([0.1, 0.15, 0.5])),
            "l2": draw(st.sampled_from([0.0, 0.03, 0.1])),
            "blur_sigma": draw(sigmas) if blur else 0.0}


def minicnn_blur(x, sigma):
    from minicnn.visualize import gaussian_blur as blur
    return blur(x, sigma)


def minicnn_step(x, g, lr, l2, blur_sigma):
    """The update of minicnn.visualize.class_model (minicnn/visualize/class_model.py)."""
    rms = np.sqrt((g ** 2).mean(axis=(1, 2, 3), keepdims=True))
    x = x + lr * g / (rms + 1e-12)
    if l2:
        x = x * (1 - l2)
    return minicnn_blur(x, blur_sigma) if blur_sigma else x


def check_blur(fns, case):
    x, sigma = case["x"], case["sigma"]
    r = max(1, int(np.ceil(3 * sigma)))
    edge = np.pad(x, ((0, 0), (0, 0), (r, r), (r, r)), mode="edge")
    compare("out", fns.gaussian_blur(x, sigma), minicnn_blur(x, sigma), "gaussian_blur",
            looks_like=[("you blurred along the rows only: blur along the columns too",
                         rows_only(x, sigma)),
                        ("your borders are not mirrored: pad with mode='reflect' (x[1], x[0] | "
                         "x[0], x[1], ...; not repeating the edge pixel, not zeros)",
                         blur_padded(x, sigma, "edge")),
                        ("your borders are zero-padded: mirror them with mode='reflect'",
                         blur_padded(x, sigma, "constant"))],
            wrong_shapes=[(edge.shape, "your output kept the padding: crop it back to x's shape")])


def rows_only(x, sigma):
    r = max(1, int(np.ceil(3 * sigma)))
    t = np.arange(-r, r + 1)
    k = np.exp(-t ** 2 / (2 * sigma ** 2))
    k /= k.sum()
    xp = np.pad(x, ((0, 0), (0, 0), (r, r), (0, 0)), mode="reflect")
    return sum(k[i] * xp[:, :, i:i + x.shape[2]] for i in range(2 * r + 1))


def blur_padded(x, sigma, mode):
    r = max(1, int(np.ceil(3 * sigma)))
    t = np.arange(-r, r + 1)
    k = np.exp(-t ** 2 / (2 * sigma ** 2))
    k /= k.sum()
    H, W = x.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (r, r), (0, 0)), mode=mode)
    x = sum(k[i] * xp[:, :, i:i + H] for i in range(2 * r + 1))
    xp = np.pad(x, ((0, 0), (0, 0), (0, 0), (r, r)), mode=mode)
    return sum(k[i] * xp[:, :, :, i:i + W] for i in range(2 * r + 1))


def check_constant(fns, case):
    x, sigma = case["x"], case["sigma"]
    out = np.asarray(fns.gaussian_blur(x, sigma), dtype=float)
    require(out.shape == x.shape, f"gaussian_blur returned shape {out.shape} for x {x.shape}")
    if not np.allclose(out, x, atol=1e-9):
        ratio = out.mean() / x.mean() if abs(x.mean()) > 1e-9 else float("nan")
        require(False, f"a constant image changed under your blur (mean {x.mean():.4g} -> "
                       f"{out.mean():.4g}, ratio {ratio:.4g}): divide the kernel by its sum, "
                       f"so that its weights add up to 1")


def stepped(x, g, lr, l2, sigma, rms=None, decay_first=False, blur_first=False):
    """The step with a given RMS (default: each image's own), in some order: the right
    update and the known mistakes."""
    if rms is None:
        rms = np.sqrt((g ** 2).mean(axis=(1, 2, 3), keepdims=True))
    if blur_first and sigma:
        x = minicnn_blur(x, sigma)
    if decay_first:
        x = x * (1 - l2) + lr * g / (rms + 1e-12)
    else:
        x = (x + lr * g / (rms + 1e-12)) * (1 - l2)
    return minicnn_blur(x, sigma) if sigma and not blur_first else x


def check_step(fns, case):
    args = [case[k] for k in ("x", "g", "lr", "l2", "blur_sigma")]
    x, g, lr, l2, sigma = args
    looks_like = [("your step is not divided by the gradient's RMS", stepped(*args, rms=1.0)),
                  ("your RMS is over the whole batch: each image is divided by its own "
                   "gradient's RMS (mean over C, H, W only)",
                   stepped(*args, rms=np.sqrt((g ** 2).mean())))]
    if l2:
        looks_like.append(("the decay was applied before the step: step first, then "
                           "x * (1 - l2)", stepped(*args, decay_first=True)))
    if sigma:
        looks_like.append(("the blur came before the step: step, decay, then blur",
                           stepped(*args, blur_first=True)))
    compare("x", fns.class_model_step(*args), minicnn_step(*args), "class_model_step",
            looks_like=looks_like)


PROPERTIES = [
    Property("gaussian_blur: separable Gaussian, radius max(1, ceil(3 sigma)), mirrored "
             "borders", blur_cases(), check_blur,
             "build k[t] for t = -r..r and divide by its sum; pad with mode='reflect' along one "
             "axis, sum the 2r + 1 shifted slices times k; then the same along the other axis."),
    Property("gaussian_blur keeps a constant image constant (the kernel sums to 1)",
             blur_cases(constant=True), check_constant,
             "k = k / k.sum(): a weighted average of equal pixels is that pixel."),
    Property("one image: x + lr * g / rms(g), then the decay x * (1 - l2)", step_cases(),
             check_step, "rms = sqrt(mean of g**2); x = (x + lr * g / (rms + 1e-12)) * (1 - l2)."),
    Property("a batch: each image's step is divided by its own gradient's RMS",
             step_cases(batch=True), check_step,
             "np.sqrt((g ** 2).mean(axis=(1, 2, 3), keepdims=True)) is (N, 1, 1, 1), one RMS per "
             "image."),
    Property("with blur: step, decay, and the blur last", step_cases(blur=True), check_step,
             "blur the image after the step and the decay, with gaussian_blur(x, blur_sigma)."),
]


# ---- the picture ----------------------------------------------------------------------------

def picture(fns, out, data, notify):
    """Class models of the shipped net, all ten classes, every update the student's step
    (the rest of the loop as minicnn.visualize.class_model's 'natural' preset)."""
    import minicnn
    from minicnn import visualize as vis
    from minicnn.exercises import pictures
    from minicnn.visualize.targets import resolve_target
    model = pictures.shipped()
    classes = vis.model_classes(model)
    mean, std = vis.input_stats(model)
    o = vis.PRESETS["natural"]
    targets = list(range(len(classes)))
    layer, units = resolve_target(model, targets, len(targets))
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((len(targets), 3, 32, 32))).astype(np.float32)
    lo, hi = vis.pixel_range(mean, std)
    for step in range(o["steps"]):
        notify(("example",))
        dy, dx = rng.integers(-o["jitter"], o["jitter"] + 1, size=2)
        with minicnn.plain(False):          # the checker's own gradient: the fast route
            g = vis.unit_gradient(model, np.roll(x, (dy, dx), axis=(2, 3)), layer, units)
        g = np.roll(g, (-dy, -dx), axis=(2, 3))
        blur = o["blur_sigma"] if (step + 1) % o["blur_every"] == 0 else 0.0
        x = np.asarray(fns.class_model_step(x.astype(np.float64), g.astype(np.float64),
                                            o["lr"], o["l2"], blur))
        x = np.clip(x, lo, hi).astype(np.float32)
    p = vis.probabilities(model, x)[np.arange(len(targets)), targets]
    fig = vis.image_grid(vis.to_rgb(x, mean, std), ncols=5, panel_size=1.8, fontsize=9,
                         titles=[f"{classes[k]} (p={p[k]:.2f})" for k in targets],
                         title="class models made by your step (and your blur)")
    return pictures.save(fig, out), (f"{o['steps']} steps of your class_model_step made the "
                                     f"shipped net's class models of all {len(targets)} classes")
