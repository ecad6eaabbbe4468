# %% [markdown]
# # Lesson 17: adversarial examples
#
# Szegedy et al., "Intriguing properties of neural networks" (ICLR 2014); Goodfellow,
# Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples" (ICLR 2015); Madry et
# al., "Towards Deep Learning Models Resistant to Adversarial Attacks" (ICLR 2018).
#
# Lesson 9's fooling images start from noise and climb a class score until the network is
# sure. Adversarial examples start from a real image the network gets right and move it as
# little as possible until it gets it wrong. The gradient of the loss says which way:
#
#     FGSM:  x_adv = clip(x + eps * sign(d loss / d x))                   one step
#     PGD:   x <- clip_ball(x + step * sign(d loss / d x)), 10 times      from a random start
#
# eps is in pixel units of [0, 1]: 8/255 is eight grey levels, invisible to us.
#
# Needs CIFAR-10 (`--data PATH` or `MINICNN_DATA`).

# %%
import numpy as np

import _common
import minicnn
from minicnn import visualize as vis

args = _common.parse_args("17_adversarial_examples")
data = _common.load_data(args)
model = minicnn.models.pretrained("reference_net")
mean, std = vis.input_stats(model)
classes = vis.model_classes(model)
x_uint8, labels = _common.random_test_images(data, 32 if args.quick else 200)
x_all = vis.to_input(x_uint8, mean, std)

# %% [markdown]
# ## FGSM by hand
#
# The gradient of the cross-entropy with respect to the image, its sign, and one step of
# eps pixels (eps / std in the network's normalised units).

# %%
x, y = _common.examples(model, data, count=4)
eps = 4 / 255
g = vis.adversarial.loss_gradient(model, x, y)                 # (4, 3, 32, 32)
lo, hi = vis.pixel_range(mean, std)
by_hand = np.clip(x + eps / std.reshape(-1, 1, 1) * np.sign(g), lo, hi)
x_fgsm = vis.fgsm(model, x, y, eps)
print(f"FGSM by hand vs vis.fgsm: largest difference {np.abs(by_hand - x_fgsm).max():.1e}")
x_pgd = vis.pgd(model, x, y, eps, steps=10)
probs = {name: vis.probabilities(model, im) for name, im in
         (("clean", x), ("FGSM", x_fgsm), ("PGD", x_pgd))}
for n in range(len(x)):
    line = ", ".join(f"{name}: {classes[p[n].argmax()]} ({p[n].max():.2f})" for name, p in probs.items())
    print(f"{classes[y[n]]:<11} {line}")

# %% [markdown]
# ## What the change looks like
#
# The images, the PGD examples, and their difference magnified 255 / (2 * 4) times (grey is
# no change).

# %%
rgb, rgb_adv = vis.to_rgb(x, mean, std), vis.to_rgb(x_pgd, mean, std)
difference = 0.5 + (rgb_adv - rgb) * 255 / (2 * 4)
panels = [[rgb[n], rgb_adv[n], np.clip(difference[n], 0, 1)] for n in range(len(x))]
titles = [f"{classes[y[n]]} -> {classes[probs['PGD'][n].argmax()]}" for n in range(len(x))]
fig = vis.panel_grid(panels, row_titles=titles,
                     col_titles=["image", "PGD, eps=4/255", "difference x32"],
                     title="adversarial examples")
_common.save(fig, args.out / "examples.png")

# %% [markdown]
# ## Success rate against eps
#
# Over test images the network classifies correctly: the fraction that the attack makes
# wrong. PGD, ten steps, is stronger than one FGSM step of the same size.

# %%
eps_values = [1 / 255, 4 / 255, 8 / 255] if args.quick else [0.5 / 255, 1 / 255, 2 / 255, 4 / 255, 8 / 255]
rates = {}
for attack in ("fgsm", "pgd"):
    rates[attack], correct = vis.success_rate(model, x_all, labels, attack, eps_values,
                                              **({"steps": 10} if attack == "pgd" else {}))
    print(f"{attack}: " + ", ".join(f"eps={e * 255:g}/255 {r:.0%}" for e, r in zip(eps_values, rates[attack]))
          + f" of {correct} correct images")
fig = vis.plot_success_rate(eps_values, rates, title="how often the reference net is fooled")
_common.save(fig, args.out / "success_rate.png")

# %% [markdown]
# ## What to look for
# - The difference is a faint, structured noise: eight grey levels at most, yet the class
#   changes. The network's decision is locally almost linear in the pixels (Goodfellow et
#   al.'s explanation): many tiny changes, each aligned with the gradient, add up.
# - PGD at 8/255 fools the network on nearly every image (the tests require >= 95%);
#   FGSM, one step, much less often: the loss is not linear all the way.
# - Compare lesson 9's fooling images: both are gradient ascent on the input, one towards
#   a class from nothing, one away from the right class from a real image.

# %%
_common.done(args)
