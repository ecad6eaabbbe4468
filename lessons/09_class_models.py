# %% [markdown]
# # Lesson 9: gradient ascent on the image (class models)
#
# *"What about doing gradient descent?"* So far the image was given and we asked which
# pixels mattered. Now turn it around: keep the weights fixed and *change the image* to
# make one class's score as large as possible,
#
#     x  <-  x + lr * d score_c / dx
#
# starting from a faint random image. Simonyan, Vedaldi & Zisserman, "Deep Inside
# Convolutional Networks" (ICLR 2014 workshop) called the result a *class model*. The
# lecture's warning: *"doing gradient descent can lead to things that don't look like images
# at all, and yet maximize the output"*. Nguyen, Yosinski & Clune, "Deep Neural Networks are
# Easily Fooled" (CVPR 2015) call them fooling images. The fix: after each step, push the
# image back towards natural images, for example by blurring it (Yosinski, Clune, Nguyen,
# Fuchs & Lipson, "Understanding Neural Networks Through Deep Visualization", ICML 2015
# Deep Learning workshop).
#
# The score is the class's logit (the lecture maximises the softmax output; the logit's
# gradient does not vanish when the softmax saturates; `objective="probability"` is there
# too). No data needed.

# %%
import numpy as np

import _common
import minicnn
from minicnn import visualize as vis

args = _common.parse_args("09_class_models")
model = minicnn.models.pretrained("reference_net")
mean, std = vis.input_stats(model)
classes = list(vis.model_classes(model))
steps = 10 if args.quick else vis.PRESETS["natural"]["steps"]
print(f"{steps} steps of gradient ascent per image")


def describe(x, targets, label):
    """Print each image's probability of its class, its high-frequency energy (noise) and
    the range of its pixels (real pixels are in [0, 1])."""
    p = vis.probabilities(model, x)                                  # (N, K) softmax
    pixels = x * std[:, None, None] + mean[:, None, None]            # undo the normalisation
    print(f"{label:<22} p(class) {np.round(p[np.arange(len(x)), targets], 2)}  "
          f"noise {np.round(vis.high_frequency_energy(x), 1)}  "
          f"pixels {pixels.min():.1f}..{pixels.max():.1f}")


# %% [markdown]
# ## The ascent by hand, with nothing to keep it natural
#
# Each step moves x by lr times the gradient divided by its root mean square, so that lr is
# the step size in (normalised) pixel units whatever the scale of the score. This loop is
# exactly what `vis.class_model(..., preset="none")` does, and we check that.

# %%
shown = ["automobile", "horse"]
targets = [classes.index(c) for c in shown]
lr, init_std, seed = vis.PRESETS["none"]["lr"], 0.1, 0
x = (init_std * np.random.default_rng(seed).standard_normal((2, 3, 32, 32))).astype(np.float32)
for step in range(steps):
    g = vis.gradient(model, x, targets)                           # (2, 3, 32, 32) d logit / dx
    rms = np.sqrt((g ** 2).mean(axis=(1, 2, 3), keepdims=True))   # (2, 1, 1, 1)
    x = (x + lr * g / (rms + 1e-12)).astype(np.float32)
same = vis.class_model(model, targets, preset="none", steps=steps, seed=seed, init_std=init_std)
print(f"our loop vs vis.class_model: largest difference {np.abs(x - same).max():.1e}")
describe(x, targets, "no regulariser")

# %% [markdown]
# ## Fooling images for every class
#
# All ten classes in one batch, no regulariser. Look at the probabilities in the titles:
# the network is certain. Look at the pictures: noise. (They also leave the range of real
# pixels by far, see the numbers printed above; for display they are clipped to [0, 1].)

# %%
fooling = vis.class_model(model, list(range(len(classes))), preset="none", steps=steps)
p = vis.probabilities(model, fooling)                     # (10, 10) softmax of the logits
fig = vis.image_grid(vis.to_rgb(fooling, mean, std), ncols=5, panel_size=1.5,
                     titles=[f"{c}\np={p[k, k]:.2f}" for k, c in enumerate(classes)],
                     title=f"plain gradient ascent, {steps} steps: fooling images")
_common.save(fig, args.out / "fooling_images.png")

# %% [markdown]
# ## The regularisers, one at a time
#
# Each keeps the image closer to natural images in its own way (`vis.class_model` options):
# - **L2 decay** (`l2`): x <- (1 - l2) x after each step; small images, close to the mean
#   colour (0 is the mean colour after normalisation). Simonyan et al. 2014.
# - **blur** (`blur_every`, `blur_sigma`): a Gaussian blur every few steps removes the high
#   frequencies that the gradient keeps adding. Yosinski et al. 2015 (the lecture's tweak).
# - **jitter** (`jitter`): shift the image by a few random pixels before each step and back
#   after it, so no pattern can depend on exact pixel positions (Mordvintsev, Olah & Tyka's
#   "Inceptionism", 2015; CS231n).
# - **clipping** (`clip_range`): keep every pixel within the range of real pixels [0, 1].
#
# Then all of them together: the "natural" preset. Two classes, so each row is one setting.

# %%
settings = {
    "L2 decay": dict(l2=vis.PRESETS["natural"]["l2"]),
    "blur": dict(blur_every=vis.PRESETS["natural"]["blur_every"],
                 blur_sigma=vis.PRESETS["natural"]["blur_sigma"]),
    "jitter": dict(jitter=vis.PRESETS["natural"]["jitter"]),
    "clip to pixel range": dict(clip_range=True),
}
results = {"no regulariser": x}                                  # from the loop above
results.update({name: vis.class_model(model, targets, preset="none", steps=steps, **options)
                for name, options in settings.items()})
results["all (preset natural)"] = vis.class_model(model, targets, preset="natural", steps=steps)
for name, x in results.items():
    describe(x, targets, name)
pictures = np.concatenate([vis.to_rgb(x, mean, std) for x in results.values()])
labels = [f"{name}\n{c}" for name in results for c in shown]
fig = vis.image_grid(pictures, titles=labels, ncols=4, panel_size=1.5,
                     title="one regulariser at a time, then all together")
_common.save(fig, args.out / "regularisers.png")

# %% [markdown]
# ## Every class, regularised
#
# The natural preset for all ten classes, and the logit of each class along the way.

# %%
natural, history = vis.class_model(model, list(range(len(classes))), preset="natural",
                                   steps=steps, return_history=True)
fig = vis.image_grid(vis.to_rgb(natural, mean, std), titles=classes, ncols=5, panel_size=1.5,
                     title=f"class models, regularised ascent ({steps} steps)")
_common.save(fig, args.out / "class_models.png")
fig = vis.plot_history(history, classes, title="the logit of each class during the ascent")
_common.save(fig, args.out / "history.png")

# %% [markdown]
# ## What to look for
# - Without regularisation the probability goes to 1 while the image stays noise: the
#   network's decision can be driven by patterns that never occur in photographs. This is
#   also how adversarial examples work (Szegedy et al., "Intriguing properties of neural
#   networks", ICLR 2014).
# - Every regulariser lowers the noise number (blur most of all) while the probability
#   stays near 1: among the many images the network is sure about, they pick smoother ones.
#   Clipping alone keeps the pixels real but the picture still noise; jitter alone turns
#   the noise into repeated stripes. Together they give smooth, colourful images.
# - The regularised class models are not photographs: colours, textures and rough layouts
#   the network associates with each class (blue sky or water for airplane and ship, green
#   and brown for frog and deer; small repeated parts, like wheels or eyes, anywhere).
# - The logit rises quickly and then levels off where the step and the regularisers balance.

# %%
_common.done(args)

# %% [markdown]
# ## Your turn
#
# Your turn: `minicnn exercise start class_model_step` writes
# `minicnn-exercises/class_model_step.py`, a skeleton with the math and hints: one step of the
# ascent (the RMS-normalised step, the L2 decay, the Gaussian blur); the checker then makes
# the class models of all ten classes with your step. Check it with `minicnn exercise check
# class_model_step`.
