"""Training a CIFAR-10 classifier, top to bottom.

    config = TrainConfig(model="reference_net", epochs=20, out="runs/ref")
    train(config)                  # writes runs/ref/{checkpoint.npz, model.npz, metrics.jsonl, *.png}
    train(config, resume=True)     # continues exactly where the last checkpoint left off

One epoch: shuffle (seeded), augment (random crop + flip), normalise with the
training split's per-channel mean/std, then for every batch forward, loss,
backward and an SGD step with the learning rate of the schedule. After each
epoch: test accuracy, a checkpoint (atomically), the metrics file and plots.

Exact resume: the batches of epoch e and the augmentation of batch k depend
only on (seed, e, k) (see minicnn.data.batches), and the learning rate only on
the global step, so weights + momentum buffers + (epoch, step) are the whole
state. Ctrl-C (or SIGTERM) finishes the current step, saves a checkpoint at
(epoch, step) and exits; a run killed with SIGKILL resumes from the last
epoch's checkpoint and, from the same seed, ends with the same weights.
"""
import json
import math
import signal
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from minicnn.checkpoint import read_checkpoint, save_checkpoint
from minicnn.data import batches, channel_stats, load_cifar10, num_batches
from minicnn.files import atomic_write
from minicnn.functional import cross_entropy
from minicnn import init
from minicnn.init import manual_seed
from minicnn.models import MODELS
from minicnn.optim import SGD
from minicnn.tensor import Tensor, no_grad

SCHEDULES = ("onecycle", "cosine", "linear", "constant")
OPTIMIZERS = ("sgd", "adam", "adamw")

# What a model trains with when the config leaves a field at None: the fields the command line
# has no option for. reference_net's takes four of airbench's parts, and no others: label
# smoothing 0.1, Lookahead, 2-pixel shifts and alternating flips (83.00-83.27% in 15 epochs
# and 10-11 minutes, against 82.99% in 20 epochs without them). residual_net's learns from Page's
# ResNet-9 (DAWNBench 2018) and Keller Jordan's airbench (2024): BatchNorm, Nesterov SGD, label
# smoothing 0.2, a linear warm-up and decay, and a whitening-like start for the first layer
# (init_whitening).
# vgg_bn_net's is airbench94's, with ReLU for GELU: momentum 0.85, a whitening first layer kept
# fixed (its bias trains for 3 epochs), BatchNorm weights fixed at 1 and biases at 64 times the
# lr, the head at 1/81 (its logits' 1/9 scale), Lookahead, 2-pixel shifts, alternating flips.
MODEL_RECIPES = {
    "reference_net": {"label_smoothing": 0.1, "lookahead": True, "translate": 2,
                      "flip": "alternating"},
    "residual_net": {"label_smoothing": 0.2, "warmup": 0.25, "whiten": True},
    "vgg_bn_net": {"label_smoothing": 0.2, "warmup": 0.23, "whiten": True, "momentum": 0.85,
                   "whiten_eps": 5e-4, "freeze_whitening": True, "whiten_bias_epochs": 3,
                   "train_bn_weight": False, "bn_bias_lr_scale": 64.0, "head_lr_scale": 1 / 81,
                   "lookahead": True, "translate": 2, "flip": "alternating"},
}
RECIPE_DEFAULTS = {"label_smoothing": 0.0, "warmup": 0.3, "whiten": False, "optimizer": "sgd",
                   "momentum": 0.9, "whiten_eps": 1e-2, "freeze_whitening": False,
                   "whiten_bias_epochs": 0, "train_bn_weight": True, "bn_bias_lr_scale": 1.0,
                   "head_lr_scale": 1.0, "lookahead": False, "translate": 4, "flip": "random"}


@dataclass
class TrainConfig:
    model: str = "reference_net"
    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.05               # the peak learning rate
    momentum: float | None = None  # None: the recipe's (0.9)
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    seed: int = 0
    augment: bool = True
    train_limit: int | None = None  # train on a random subset of this many images
    test_limit: int | None = None
    data: str | None = None         # a path; None: MINICNN_DATA, the cache, the download
    out: str = "runs/reference_net"
    # None: the model's recipe (MODEL_RECIPES), else RECIPE_DEFAULTS
    label_smoothing: float | None = None
    warmup: float | None = None     # the fraction of steps warming up (onecycle, linear)
    whiten: bool | None = None      # start the first layer from image-patch whitening
    optimizer: str | None = None    # sgd, adam or adamw (adam*: lr, weight_decay; betas default)
    whiten_eps: float | None = None         # added to the patch covariance's eigenvalues
    freeze_whitening: bool | None = None    # keep the whitened filters as they start
    whiten_bias_epochs: int | None = None   # ... and train their bias this many epochs only
    train_bn_weight: bool | None = None     # False: BatchNorm's scales stay 1
    bn_bias_lr_scale: float | None = None   # BatchNorm biases: this times the lr (sgd)
    head_lr_scale: float | None = None      # the last layer: this times the lr (sgd)
    lookahead: bool | None = None           # optim.Lookahead every 5 steps
    translate: int | None = None            # augmentation: the largest shift in pixels
    flip: str | None = None                 # augmentation: "random" or "alternating" flips

    def resolved(self):
        """A copy with every None recipe field filled in from the model's recipe."""
        recipe = {**RECIPE_DEFAULTS, **MODEL_RECIPES.get(self.model, {})}
        return replace(self, **{k: v for k, v in recipe.items() if getattr(self, k) is None})

    def check(self):
        if self.model not in MODELS:
            raise ValueError(f"train: unknown model {self.model!r}; choose from {', '.join(MODELS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"train: unknown schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"train: {name} must be >= 1, got {getattr(self, name)}")
        c = self.resolved()
        if c.optimizer not in OPTIMIZERS:
            raise ValueError(f"train: unknown optimizer {c.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        if not 0 <= c.label_smoothing <= 1:
            raise ValueError(f"train: label_smoothing must be in [0, 1], got {c.label_smoothing}")
        if not 0 <= c.warmup < 1:
            raise ValueError(f"train: warmup must be in [0, 1), got {c.warmup}")
        if c.flip not in ("random", "alternating"):
            raise ValueError(f"train: flip must be 'random' or 'alternating', got {c.flip!r}")
        for name in ("momentum", "whiten_eps", "bn_bias_lr_scale", "head_lr_scale",
                     "translate", "whiten_bias_epochs"):
            if getattr(c, name) < 0:
                raise ValueError(f"train: {name} must be >= 0, got {getattr(c, name)}")
        if c.optimizer != "sgd" and (c.bn_bias_lr_scale != 1 or c.head_lr_scale != 1):
            raise ValueError(f"train: bn_bias_lr_scale and head_lr_scale need the sgd "
                             f"optimizer, got {c.optimizer}")
        for name in ("train_limit", "test_limit"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"train: {name} must be >= 1, got {getattr(self, name)}")


def learning_rate(config, step, total_steps):
    """The learning rate at global step `step` of `total_steps`.

    onecycle (Smith & Topin, "Super-Convergence", 2019): warm up linearly from
    lr/25 to lr over the first 30% of the steps (`warmup`), then follow a half cosine down
    to lr/25e4 (PyTorch's OneCycleLR defaults, learning rate only).
    cosine (Loshchilov & Hutter, "SGDR", ICLR 2017, without restarts): from lr to 0.
    linear: up from 0 to lr over the first `warmup` of the steps, then straight down to 0
    (a triangle, as airbench and Page's ResNet-9 train; PyTorch: SequentialLR of two LinearLR).
    """
    t = step / max(total_steps, 1)                      # progress in [0, 1)
    warm = 0.3 if config.warmup is None else config.warmup
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * t))
    if config.schedule == "linear":
        t = (step + 1) / (total_steps + 1)               # neither the first nor the last step is 0
        return config.lr * (t / warm if t < warm else (1 - t) / (1 - warm))
    start, end = config.lr / 25, config.lr / 25e4
    if t < warm:
        return start + (config.lr - start) * t / warm
    return end + (config.lr - end) * 0.5 * (1 + math.cos(math.pi * (t - warm) / (1 - warm)))


def init_whitening(conv, x, eps=1e-2):
    """Start a first convolution from whitening of the images' patches (as airbench does
    with its 2x2 layer): the patches' covariance Sigma = V diag(lambda) V^T, and filter pairs
    +-v_k / sqrt(lambda_k + eps) for the leading eigenvectors v_k (the pair survives the ReLU
    in both signs). The filters stay trainable unless the recipe fixes them (vgg_bn_net).

    Inputs:
    - conv: a Conv2d with F (even) filters of C x KH x KW, F/2 <= C*KH*KW
    - x: (N, C, H, W) normalised float images
    """
    from minicnn.ops.conv import im2col
    F, C, KH, KW = conv.weight.shape
    if F % 2 or F // 2 > C * KH * KW:
        raise ValueError(f"init_whitening: needs an even number of filters up to "
                         f"{2 * C * KH * KW}, got {F}")
    cols = im2col(x.astype(np.float64), KH, KW, 1, 0)                 # (N, C*KH*KW, P)
    patches = cols.transpose(0, 2, 1).reshape(-1, C * KH * KW)        # (N*P, C*KH*KW)
    patches = patches - patches.mean(axis=0)
    covariance = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)           # ascending
    order = np.argsort(eigenvalues)[::-1][:F // 2]
    w = (eigenvectors[:, order] / np.sqrt(eigenvalues[order] + eps)).T  # (F/2, C*KH*KW)
    conv.weight.data = np.concatenate([w, -w]).reshape(F, C, KH, KW).astype(conv.weight.dtype)


def trainable_groups(config, model):
    """The parameters to train, as SGD's groups (one per parameter, in the model's order, so
    a checkpoint's velocity.k is the k-th trainable parameter); the ones kept fixed get
    requires_grad off, so backward skips them. A group with `scale` times the lr has
    weight_decay / scale: its decay per step (lr x weight_decay) stays the same, as in
    airbench's decoupled form.
    - BatchNorm biases: bn_bias_lr_scale; BatchNorm weights fixed unless train_bn_weight
    - the last layer (the head): head_lr_scale
    - the first layer's weight fixed if freeze_whitening (its bias: see train's epochs)
    """
    from minicnn.nn import BatchNorm1d, BatchNorm2d
    norms = [m for _, m in model.named_modules() if isinstance(m, (BatchNorm1d, BatchNorm2d))]
    bn_biases = {id(m.bias) for m in norms if m.bias is not None}
    bn_weights = {id(m.weight) for m in norms if m.weight is not None}
    head = {id(p) for p in model[model.names[-1]].parameters()}
    fixed = set()
    if not config.train_bn_weight:
        fixed |= bn_weights
    if config.whiten and config.freeze_whitening:
        fixed.add(id(model[model.names[0]].weight))
    groups = []                                   # one per parameter, in the model's order
    for _, p in model.named_parameters():
        p.requires_grad = id(p) not in fixed
        if p.requires_grad:
            scale = (config.bn_bias_lr_scale if id(p) in bn_biases
                     else config.head_lr_scale if id(p) in head else 1.0)
            groups.append({"params": [p], "lr": config.lr * scale,
                           "weight_decay": config.weight_decay / scale if scale else 0.0})
    return groups


def make_optimizer(config, model):
    """The optimiser config.optimizer names, with the config's lr and weight decay, over the
    model's trainable parameters (trainable_groups), in Lookahead if config.lookahead."""
    from minicnn.optim import Adam, AdamW, Lookahead
    groups = trainable_groups(config, model)
    if config.optimizer in ("adam", "adamw"):               # no groups: every lr is config.lr
        Optimizer = Adam if config.optimizer == "adam" else AdamW
        opt = Optimizer([p for g in groups for p in g["params"]], lr=config.lr,
                        weight_decay=config.weight_decay)
    else:
        opt = SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                  weight_decay=config.weight_decay)
    return Lookahead(opt, model) if config.lookahead else opt


def lookahead_decay(step, total_steps):
    """Lookahead's decay after global step `step`: airbench's 0.95^5 (step / total)^3, no
    averaging at first and more of it toward the end."""
    return 0.95 ** 5 * (step / max(total_steps, 1)) ** 3


def random_subset(x, y, limit, seed):
    """A seeded random subset (the arrays are sorted by class, so not the first `limit`)."""
    if limit is None or limit >= len(x):
        return x, y
    keep = np.sort(np.random.default_rng(seed).permutation(len(x))[:limit])
    return x[keep], y[keep]


def evaluate(model, x, y, mean, std, batch_size=500, num_classes=10):
    """Accuracy and confusion matrix (rows: true class, columns: predicted) of uint8 images x,
    with the model in eval mode (and back in the mode it was in afterwards)."""
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    was_training = model.training
    model.eval()                         # BatchNorm's running statistics, no dropout
    try:
        with no_grad():
            for xb, yb in batches(x, y, batch_size, mean=mean, std=std):
                pred = model(Tensor(xb)).data.argmax(axis=1)
                np.add.at(confusion, (yb, pred), 1)
    finally:
        model.train(was_training)
    return np.trace(confusion) / max(len(y), 1), confusion


class StopFlag:
    """Turns Ctrl-C / SIGTERM into a flag the loop checks between steps, so a
    checkpoint is never taken in the middle of an update."""

    def __init__(self):
        self.raised = False

    def __enter__(self):
        self.previous = {s: signal.signal(s, self.handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def handle(self, signum, frame):
        self.raised = True

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def train(config, resume=False, progress=True, command="", stop_after_epochs=None):
    """Train (or resume) and return the final meta dict; see the module docstring.

    stop_after_epochs: end the session after this many epochs (of config.epochs)
    with a checkpoint, as if interrupted there; resume=True continues the run.
    """
    config.check()
    out = Path(config.out)
    ckpt_path = out / "checkpoint.npz"
    if resume:
        if not ckpt_path.exists():
            raise FileNotFoundError(f"train --resume: no checkpoint at {ckpt_path}")
        params, optim_state, meta = read_checkpoint(ckpt_path)
        config = TrainConfig(**meta["config"])          # the run continues as it was started
    data = load_cifar10(config.data, progress=progress)
    train_x, train_y = random_subset(data.train_x, data.train_y, config.train_limit, config.seed)
    test_x, test_y = random_subset(data.test_x, data.test_y, config.test_limit, config.seed)
    mean, std = channel_stats(train_x)

    config = config.resolved()
    manual_seed(config.seed)
    model = MODELS[config.model]()
    if config.whiten and not resume:                    # from 5,000 training images at most
        first = model[model.names[0]]
        sample, _ = random_subset(train_x, train_y, 5000, config.seed)
        init_whitening(first, (sample / np.float32(255) - mean[:, None, None]) / std[:, None, None],
                       eps=config.whiten_eps)
    opt = make_optimizer(config, model)
    model.train()
    if resume:
        model.load_state_dict(params)
        opt.load_state_dict(optim_state)
        if "rng_state" in meta:                         # where dropout's masks had got to
            init._rng.bit_generator.state = meta["rng_state"]
        print(f"resuming {ckpt_path} at epoch {meta['epoch'] + 1}, step {meta['step']}")
    else:
        meta = {"architecture": config.model, "architecture_args": {},
                "classes": list(data.classes), "mean": mean.tolist(), "std": std.tolist(),
                "epoch": 0, "step": 0, "metrics": [], "train_seconds": 0.0,
                "config": asdict(config), "command": command, "data_source": data.source}

    per_epoch = num_batches(len(train_x), config.batch_size)
    total_steps = config.epochs * per_epoch
    with StopFlag() as stop:
        for epoch in range(meta["epoch"], config.epochs):
            started, first = time.perf_counter(), meta["step"]
            seen = correct = 0
            loss_sum = 0.0
            bar = tqdm(total=per_epoch, initial=first, disable=not progress, leave=True,
                       desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch")
            step = first
            if config.whiten and config.freeze_whitening:   # the fixed whitening's bias
                model[model.names[0]].bias.requires_grad = epoch < config.whiten_bias_epochs
            for xb, yb in batches(train_x, train_y, config.batch_size, shuffle=True,
                                  seed=config.seed, epoch=epoch, start=first,
                                  augment=config.augment, mean=mean, std=std,
                                  translate=config.translate, flip=config.flip):
                opt.lr = learning_rate(config, epoch * per_epoch + step, total_steps)
                if config.lookahead:
                    opt.decay = lookahead_decay(epoch * per_epoch + step + 1, total_steps)
                opt.zero_grad()
                logits = model(Tensor(xb))                  # (B, 10)
                loss = cross_entropy(logits, yb, label_smoothing=config.label_smoothing)
                loss.backward()
                opt.step()
                step += 1
                seen += len(yb)
                loss_sum += loss.item() * len(yb)
                correct += int((logits.data.argmax(axis=1) == yb).sum())
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}",
                                lr=f"{opt.lr:.4f}")
                bar.update()
                if stop.raised:
                    break
            bar.close()
            meta["train_seconds"] += time.perf_counter() - started
            meta["rng_state"] = init._rng.bit_generator.state   # dropout's generator, for --resume
            if stop.raised and step < per_epoch:
                meta.update(epoch=epoch, step=step)
                save_checkpoint(ckpt_path, model, meta, opt)
                print(f"interrupted: saved {ckpt_path} at epoch {epoch + 1}, step {step}; "
                      f"continue with: minicnn train --resume --out {config.out}")
                return meta

            if config.lookahead and epoch + 1 == config.epochs:
                opt.finish()                                # the slow weights are the result
            test_acc, confusion = evaluate(model, test_x, test_y, mean, std)
            meta["metrics"].append({"epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1),
                                    "train_accuracy": correct / max(seen, 1),
                                    "test_accuracy": test_acc, "lr": opt.lr,
                                    "seconds": meta["train_seconds"]})
            meta.update(epoch=epoch + 1, step=0, test_accuracy=test_acc,
                        confusion=confusion.tolist())
            save_checkpoint(ckpt_path, model, meta, opt)
            write_reports(out, meta)
            print(f"epoch {epoch + 1}: test accuracy {test_acc:.4f}")
            if stop.raised or epoch + 1 == stop_after_epochs:
                print(f"stopped after epoch {epoch + 1}; saved {ckpt_path}")
                return meta

    save_checkpoint(out / "model.npz", model, meta)     # weights + meta, no optimiser
    return meta


def write_reports(out, meta):
    """metrics.jsonl (one line per epoch, rewritten whole) and the two plots."""
    from minicnn.plots import plot_confusion, plot_training_curves, save_figure
    with atomic_write(out / "metrics.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(m) + "\n" for m in meta["metrics"]))
    save_figure(plot_training_curves(meta["metrics"]), out / "curves.png")
    save_figure(plot_confusion(np.array(meta["confusion"]), meta["classes"]), out / "confusion.png")


def config_from_args(args):
    """A TrainConfig from argparse results whose names match the fields."""
    return TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)
                          if hasattr(args, f.name)})
