"""Figures of a training run: learning curves and the confusion matrix.

Plotting functions take plain numbers and return a matplotlib Figure; they
never compute anything about the network. `save_figure` writes a PNG
atomically (minicnn.files.atomic_write). Figures are made with matplotlib's
object API (no pyplot state), so they work on machines without a display.
"""
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from minicnn.files import atomic_write


def save_figure(fig, path, dpi=120):
    """Write fig as a PNG to a temporary name, then rename it to `path`; returns `path`."""
    path = Path(path)
    with atomic_write(path) as tmp:
        # format given: savefig would read it from the temporary name's ".part"
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return path


def plot_training_curves(metrics):
    """metrics: list of per-epoch dicts with train_loss, train_accuracy, test_accuracy."""
    epochs = [m["epoch"] for m in metrics]
    fig = Figure(figsize=(9, 3.5))
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, [m["train_loss"] for m in metrics], "o-", label="train")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.plot(epochs, [m["train_accuracy"] for m in metrics], "o-", label="train")
    ax_acc.plot(epochs, [m["test_accuracy"] for m in metrics], "o-", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion(confusion, classes):
    """confusion: (K, K) counts, rows = true class, columns = predicted class."""
    confusion = np.asarray(confusion)
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(6.5, 5.5))
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    K = len(classes)
    ax.set_xticks(range(K), classes, rotation=45, ha="right")
    ax.set_yticks(range(K), classes)
    ax.set(xlabel="predicted", ylabel="true", title="test confusion (row-normalised)")
    for i in range(K):
        for j in range(K):
            ax.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig
