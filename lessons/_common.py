"""What every lesson shares: its command line, the test images, and saving figures.

    args = parse_args("07_guided_backprop")   # --out DIR, --data PATH, --quick
    data = load_data(args)                    # CIFAR-10 (with --quick, else the embedded sample)
    x, y = examples(model, data, count=4)     # a few test images the model gets right
    save(fig, args.out / "maps.png")          # write the PNG (and show it, if there is a screen)
    done(args)                                # the last line of every lesson
"""
import argparse
import os
import sys
from pathlib import Path

import matplotlib
import numpy as np

import minicnn
from minicnn import visualize as vis
from minicnn.data import DataError, load_cifar10, load_sample, resolve_source
from minicnn.data.sample import images_note
from minicnn.plots import save_figure

HOW_TO_GET_DATA = ("this lesson needs CIFAR-10: pass --data PATH or set MINICNN_DATA=PATH (an "
                   "image folder, a .tar.gz of one, or the official cifar-10-binary.tar.gz), or "
                   "run it online once and let minicnn download the official archive (163 MB)")
NOT_A_SCREEN = {"agg", "pdf", "pgf", "ps", "svg", "cairo", "template"}   # backends writing files


def parse_args(name):
    """--out (default lessons/out/<name>), --data, --quick (or MINICNN_QUICK=1)."""
    parser = argparse.ArgumentParser(description=f"minicnn lesson {name}")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / name,
                        help="folder for the figures (default: %(default)s)")
    parser.add_argument("--data", default=None,
                        help="CIFAR-10 (default: $MINICNN_DATA, the cache, the download)")
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("MINICNN_QUICK", "") not in ("", "0"),
                        help="small settings: fewer images and steps (for CI)")
    args, unknown = parser.parse_known_args()
    if unknown and "ipykernel" not in sys.modules:     # a notebook kernel has arguments of its own
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def load_data(args, required=True, train=False):
    """CIFAR-10 from --data, MINICNN_DATA, the cache or the download. With --quick and none
    of the first three, the 1,000 test images embedded in minicnn instead, without a download
    (not for a lesson that needs the training images: train=True). If there is none: exit
    with one line saying how to get it, or (required=False) say so and return None."""
    try:
        if resolve_source(args.data) is None:
            if args.quick and not train:
                data = load_sample()
                print(f"--quick without data: {images_note(data)}")
                return data
            print("no --data, no MINICNN_DATA, nothing cached: downloading CIFAR-10 ...")
        return load_cifar10(args.data)
    except DataError as error:
        if required:
            quick = "" if train else ("; or run with --quick, which uses the 1,000 test images "
                                      "embedded in minicnn")
            sys.exit(f"{HOW_TO_GET_DATA}{quick} ({error})")
        print(f"no CIFAR-10 ({error}); carrying on without it")
        return None


def random_test_images(data, n, seed=0):
    """n test images (uint8 (n, 3, 32, 32)) and labels, a seeded random choice: the test
    split is sorted by class, so its first n images would all be airplanes."""
    keep = np.sort(np.random.default_rng(seed).permutation(len(data.test_x))[:n])
    return data.test_x[keep], data.test_y[keep]


def examples(model, data, count, seed=0):
    """`count` test images of different classes that the model classifies correctly.
    Returns x (count, 3, 32, 32) normalised float32, the network's input, and y (count,)."""
    mean, std = vis.input_stats(model)
    x_uint8, y = random_test_images(data, 200, seed)
    x = vis.to_input(x_uint8, mean, std)                          # (200, 3, 32, 32)
    with minicnn.no_grad():
        predicted = model(minicnn.Tensor(x)).data.argmax(axis=1)  # (200,) the largest logit
    chosen = []                                                   # indices, one per class
    for n in np.nonzero(predicted == y)[0]:
        if len(chosen) < count and y[n] not in y[chosen]:
            chosen.append(n)
    return x[chosen], y[chosen]


def save(fig, path):
    """Write the figure as a PNG, and show it where there is somewhere to show it."""
    save_figure(fig, path)
    print(f"wrote {path}")
    backend = matplotlib.get_backend().lower()
    if "inline" in backend or "widget" in backend or "ipympl" in backend:   # a notebook
        # the PNG itself: IPython draws a bare Figure only once pyplot has set the inline
        # backend up, and the lessons never import pyplot
        from IPython.display import Image, display
        display(Image(filename=str(path)))
    elif backend not in NOT_A_SCREEN:           # a window: hand the figure to pyplot
        import matplotlib.pyplot as plt
        try:
            plt.figure(fig)                     # matplotlib >= 3.8 adopts a Figure this way
        except ValueError:
            pass                                # older matplotlib: the PNG will have to do


def done(args):
    """Say where the figures are; in a window-backed session, show them until closed."""
    print(f"figures in {args.out}")
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt
        if plt.get_fignums() and matplotlib.get_backend().lower() not in NOT_A_SCREEN:
            plt.show()
