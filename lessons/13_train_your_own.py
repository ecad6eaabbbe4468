# %% [markdown]
# # Lesson 13: train the network yourself
#
# Every lesson so far used weights someone else trained. Here you train. First the training
# loop written out, step by step, for a few dozen steps of reference_net; then
# `minicnn.train.train`, the same loop with learning-rate schedule, evaluation, checkpoints
# and plots, for a whole (small) run of the mlp. Then we look at what the few minutes of
# training did to the weights, with the pictures of lessons 2 and 3.
#
# The full run behind the shipped weights is one command (about 11 minutes on 2 cores):
#
#     minicnn train --model reference_net --epochs 15 --out runs/ref
#
# and its result opens with `minicnn.models.open_model("runs/ref/model.npz")`: put that in
# place of `pretrained("reference_net")` in any lesson to explain your own network.
#
# Needs CIFAR-10 (`--data PATH` or `MINICNN_DATA`). `--quick` makes every run tiny.

# %%
import time

import numpy as np
from matplotlib.figure import Figure

import _common
import minicnn
from minicnn import functional as F
from minicnn import visualize as vis
from minicnn.data import batches, channel_stats
from minicnn.plots import plot_training_curves
from minicnn.train import TrainConfig, evaluate, train

args = _common.parse_args("13_train_your_own")
data = _common.load_data(args, train=True)       # training images: the sample has none
print(data)

# %% [markdown]
# ## The training loop, written out
#
# One step: a batch of images (randomly cropped and flipped: *augmentation*, so the network
# never sees exactly the same image twice), forward to the logits, the cross-entropy loss
#
#     loss = -(1/B) sum_n log softmax(logits_n)[y_n]
#
# backward to get every weight's gradient, and an SGD step with momentum. The images are
# normalised with the training set's per-channel mean and std (never the test set's).
#
# The learning rate grows from lr/10 to lr over the first 10 steps, a *warm-up*. Random
# weights produce large, confidently wrong logits and large gradients; a full step at once
# overshoots (try `min(1.0, ...)` -> `1.0` and watch the loss jump). `minicnn.train` warms
# up too, as part of its one-cycle schedule.

# %%
n_train, batch_size, n_steps = (512, 32, 8) if args.quick else (4096, 64, 32)
rng = np.random.default_rng(0)
keep = rng.permutation(len(data.train_x))[:n_train]
x_train, y_train = data.train_x[keep], data.train_y[keep]        # (n_train, 3, 32, 32) uint8
x_test, y_test = _common.random_test_images(data, 200 if args.quick else 1000)
mean, std = channel_stats(x_train)                                # (3,), (3,)

minicnn.manual_seed(0)
model = minicnn.models.reference_net()
conv1_start = model.conv1.weight.data.copy()                      # to compare with later
lr = 0.02
opt = minicnn.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
accuracy_before, _ = evaluate(model, x_test, y_test, mean, std)

losses, started = [], time.perf_counter()
one_epoch = batches(x_train, y_train, batch_size, shuffle=True, seed=0, augment=True,
                    mean=mean, std=std)                           # n_train / batch_size batches
for step, (xb, yb) in zip(range(n_steps), one_epoch):
    opt.lr = lr * min(1.0, (step + 1) / 10)                       # warm-up over 10 steps
    logits = model(minicnn.Tensor(xb))                            # (B, 10)
    loss = F.cross_entropy(logits, yb)
    opt.zero_grad()
    loss.backward()                                               # every p.grad is d loss / d p
    opt.step()                                                    # p <- p - lr * v, v: momentum
    losses.append(loss.item())
seconds = time.perf_counter() - started
accuracy_after, _ = evaluate(model, x_test, y_test, mean, std)
print(f"{n_steps} steps of {batch_size} images in {seconds:.0f} s "
      f"({n_steps * batch_size / seconds:.0f} images/s); loss {losses[0]:.2f} -> "
      f"{np.mean(losses[-5:]):.2f}; test accuracy {accuracy_before:.1%} -> {accuracy_after:.1%} "
      f"(chance is 10%)")

# %%
fig = Figure(figsize=(5.5, 3.2))
ax = fig.subplots()
ax.plot(losses, ".-", label="loss of each batch")
ax.axhline(np.log(10), color="grey", ls="--", label="log 10: guessing uniformly")
ax.set(xlabel="step", ylabel="cross-entropy", title="reference_net, the first steps")
ax.legend()
ax.grid(alpha=0.3)
fig.tight_layout()
_common.save(fig, args.out / "first_steps_loss.png")

# %% [markdown]
# What did these steps do to the first-layer filters? Their pictures before and after (one
# shared scale), and how far the weights moved:

# %%
w = model.conv1.weight.data
moved = np.sqrt(((w - conv1_start) ** 2).sum() / (conv1_start ** 2).sum())
same = np.corrcoef(w.ravel(), conv1_start.ravel())[0, 1]
print(f"conv1 moved by {moved:.0%} of its initial size; correlation with the start {same:.2f}")
fig = vis.plot_filters(vis.weights_to_rgb(np.concatenate([conv1_start[:16], w[:16]]), "shared"),
                       titles=[f"{f} start" for f in range(16)] + [f"{f} now" for f in range(16)],
                       title=f"conv1 filters 0-15 before and after {n_steps} steps")
_common.save(fig, args.out / "first_steps_filters.png")

# %% [markdown]
# ## A whole run with `minicnn.train`
#
# The mlp of lesson 3 is small enough to train properly here: `train(config)` shuffles,
# augments (off for the mlp, as for the shipped one), follows a one-cycle learning-rate
# schedule (Smith & Topin, "Super-Convergence", 2019), evaluates on the test set after every
# epoch, and writes a checkpoint, `metrics.jsonl`, `curves.png` and `confusion.png` into
# `out`. It is exactly what `minicnn train` on the command line runs.

# %%
config = TrainConfig(model="mlp", epochs=1 if args.quick else 3, lr=0.02, weight_decay=0.005,
                     augment=False, train_limit=2000 if args.quick else None,
                     test_limit=500 if args.quick else None, data=args.data,
                     out=str(args.out / "mlp_run"))
meta = train(config, command="lesson 13")
print(f"mlp after {config.epochs} epochs: test accuracy {meta['test_accuracy']:.1%} "
      f"(the shipped mlp, 25 epochs: {minicnn.models.pretrained('mlp').meta['test_accuracy']:.1%})")
_common.save(plot_training_curves(meta["metrics"]), args.out / "mlp_curves.png")

# %% [markdown]
# ## What did your mlp learn?
#
# The saved model opens like any checkpoint. Its hidden units as pictures (lesson 3):
# after a few epochs the colour layouts are already there; compare with the shipped mlp.

# %%
mine = minicnn.models.open_model(args.out / "mlp_run" / "model.npz")
w1 = vis.hidden_unit_weights(mine)                                 # (256, 3, 32, 32)
order = np.argsort(-np.sqrt((w1 ** 2).sum(axis=(1, 2, 3))), kind="stable")[:32]
fig = vis.plot_filters(vis.weights_to_rgb(w1[order], "per_filter"),
                       titles=[str(k) for k in order], inches=0.95,
                       title=f"your mlp ({config.epochs} epochs): its 32 strongest hidden units")
_common.save(fig, args.out / "my_mlp_hidden_units.png")

# %% [markdown]
# ## What to look for
# - The loss starts above log 10 = 2.30, the loss of a uniform guess: random weights make
#   confident guesses, mostly wrong. Within a few dozen steps it falls below, and the test
#   accuracy leaves chance (10%). Batches differ, so one batch's loss is noisy: look at
#   the trend.
# - Training speed in images per second: multiply out how long 15 epochs of 50,000 images
#   take, and you know why the shipped weights came from a longer run than this one.
# - The first-layer weights moved by a small fraction of their size; the pictures look
#   much as before and the correlation with the start stays close to 1. The structure of
#   well-trained filters (lesson 2) takes thousands of steps.
# - Your mlp's hidden units already show blurry colour layouts after a few epochs; the
#   shipped mlp's (25 epochs) are smoother and its accuracy higher. The run folder holds
#   the per-epoch curves and the confusion matrix as PNGs.

# %%
_common.done(args)

# %% [markdown]
# ## Your turn
#
# Your turn: `minicnn exercise start softmax_cross_entropy` writes
# `minicnn-exercises/softmax_cross_entropy.py`, a skeleton with the math and hints: the loss
# and its gradient, stable for large logits; the checker then sends your gradient back through
# the shipped net to make images that fool it. Check it with `minicnn exercise check
# softmax_cross_entropy`.
#
# Your turn: `minicnn exercise start sgd_momentum` writes `minicnn-exercises/sgd_momentum.py`,
# a skeleton with the math and hints: one step of SGD with momentum and weight decay; the
# checker then runs your update down a narrow valley and trains a fresh mlp with it. Check it
# with `minicnn exercise check sgd_momentum`.
