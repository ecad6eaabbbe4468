"""The `minicnn` command line.

    minicnn summary [--model reference_net]     layer table: output shapes, parameters
    minicnn train [--model ...] [--epochs ...]  train on CIFAR-10, checkpoint every epoch
    minicnn eval [CHECKPOINT]                   test accuracy, overall and per class
    minicnn convert MODEL OUT                   a model as OUT.npz or OUT.safetensors
    minicnn lessons export DIR                  the lessons as Jupyter notebooks

How ConvNets see (minicnn.visualize; every command takes --model NAME_OR_PATH):
    minicnn tour [--data PATH] [--out DIR]      every visualisation on one HTML page
    minicnn filters                             first-layer filters as RGB pictures
    minicnn weights                             the mlp's hidden units as 32x32 pictures
    minicnn rf [LAYER [Y X]]                    receptive fields
    minicnn top9 --layer conv3                  top-9 image patches per channel
    minicnn explain [IMAGE] --method guided --target cat  a gradient map / Grad-CAM / occlusion
    minicnn class-model --target cat            gradient ascent on the input for a class
    minicnn sanity                              maps after cascading randomisation

Without --data, MINICNN_DATA or a cached copy, the commands that need test images (tour,
top9, explain without IMAGE, sanity) use the 1,000 test images embedded in minicnn and say so;
eval and train use or download the full CIFAR-10.

Two options work with every subcommand, before or after its name:
    --plain     run on the plain route: only the textbook NumPy code of minicnn/ops/,
                slower, and the code to step through in a debugger (minicnn/route.py)
    --debug     show an error's whole traceback instead of one line

A mistake in what you give (a file, a model, a layer, a class, an option, the data) is
reported as one line, `minicnn <command>: error: ...`, with exit status 2: the commands
open and check what you give through `user_input`, which turns the library's ValueError
into a UsageError. Any other exception is a bug in minicnn and shows its traceback.
"""
import argparse
import os
import sys
import traceback
from pathlib import Path

import numpy as np


class UsageError(Exception):
    """Something the user gave cannot be used; `main` prints it as one line, exit status 2."""


def user_input(function, *args, **kwargs):
    """function(*args, **kwargs) for a call that opens or checks what the user gave: its
    ValueError (the library's error for bad input, naming the value) becomes a UsageError.

    Only calls that take the user's input directly go through here; a ValueError anywhere
    else is a bug and keeps its traceback.
    """
    try:
        return function(*args, **kwargs)
    except ValueError as error:
        raise UsageError(str(error)) from error


def positive_int(text):
    """argparse type: an int >= 1 (a count of images, units, ...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def cmd_summary(args):
    from minicnn.models import MODELS
    from minicnn.tensor import Tensor, no_grad
    model = MODELS[args.model]()
    x = Tensor(np.zeros((1, 3, 32, 32), dtype=np.float32))
    with no_grad():
        acts = model.activations(x)
    print(f"{args.model}: input (3, 32, 32)")
    print(f"{'layer':<9}{'module':<54}{'output':<16}{'params':>9}")
    total = 0
    for name, out in acts.items():
        layer = model[name]
        params = sum(p.size for p in layer.parameters())
        total += params
        print(f"{name:<9}{repr(layer):<54}{str(out.shape[1:]):<16}{params:>9,}")
    print(f"total parameters: {total:,}")
    return 0


def cmd_train(args):
    from minicnn.train import config_from_args, train
    config = config_from_args(args)
    user_input(config.check)                          # bad options: one line, before any work
    command = "minicnn " + " ".join(sys.argv[1:]) if args.command_line is None else args.command_line
    meta = train(config, resume=args.resume, progress=not args.quiet, command=command)
    print(f"test accuracy {meta.get('test_accuracy', float('nan')):.4f} after epoch "
          f"{meta['epoch']}, {meta['train_seconds'] / 60:.1f} min of training; files in {args.out}")
    return 0


def cmd_eval(args):
    from minicnn.data import load_cifar10
    from minicnn.models import open_model
    from minicnn.train import evaluate
    model = user_input(open_model, args.checkpoint)
    meta = model.meta
    data = load_cifar10(args.data)
    if list(data.classes) != list(meta["classes"]):
        raise UsageError(f"the data's classes {list(data.classes)} differ from the "
                         f"checkpoint's {meta['classes']}")
    accuracy, confusion = evaluate(model, data.test_x, data.test_y,
                                   np.float32(meta["mean"]), np.float32(meta["std"]))
    print(f"{args.checkpoint}: test accuracy {accuracy:.4f} on {len(data.test_y):,} images "
          f"({data.source})")
    for k, name in enumerate(meta["classes"]):
        print(f"  {name:<11}{confusion[k, k] / max(confusion[k].sum(), 1):.4f}")
    return 0


def cmd_convert(args):
    from minicnn.checkpoint import SUFFIXES, save_checkpoint
    from minicnn.models import open_model
    if Path(args.out).suffix not in SUFFIXES:
        raise UsageError(f"{args.out}: the name must end in {' or '.join(SUFFIXES)}, "
                         f"which says the format")
    model = user_input(open_model, args.model)
    meta = {**model.meta, "stored_as": "float16"} if args.half else model.meta
    save_checkpoint(args.out, model, meta, dtype=np.float16 if args.half else None)
    print(f"wrote {args.out} ({model.meta.get('architecture')}, "
          f"{sum(p.size for p in model.parameters()):,} parameters"
          + (", stored as float16)" if args.half else ")"))
    return 0


def cmd_lessons(args):
    from minicnn.notebooks import export_lessons, find_lessons, lesson_files
    if args.action == "list":
        folder = user_input(find_lessons, args.source)
        print(f"lessons in {folder}:")
        for path in lesson_files(folder):
            print(f"  {path.name}")
        return 0
    if args.dir is None:
        raise UsageError("lessons export: give the folder to write the notebooks to, "
                         "e.g. minicnn lessons export notebooks")
    user_input(export_lessons, args.dir, args.source)
    return 0


def add_train_options(p):
    from minicnn.models import MODELS
    from minicnn.train import OPTIMIZERS, SCHEDULES, TrainConfig
    d = TrainConfig()
    p.add_argument("--model", choices=list(MODELS), default=d.model,
                   help="the architecture (default %(default)s)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", dest="batch_size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    p.add_argument("--momentum", type=float, default=None,
                   help="default: the model's recipe (0.9; vgg_bn_net 0.85)")
    p.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=d.nesterov)
    p.add_argument("--weight-decay", dest="weight_decay", type=float, default=d.weight_decay)
    p.add_argument("--schedule", choices=SCHEDULES, default=d.schedule)
    p.add_argument("--warmup", type=float, default=None,
                   help="the fraction of steps warming up (default: the model's recipe)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                   help="default: the model's recipe (sgd)")
    p.add_argument("--label-smoothing", dest="label_smoothing", type=float, default=None,
                   help="cross-entropy label smoothing (default: the model's recipe)")
    p.add_argument("--whiten", action=argparse.BooleanOptionalAction, default=None,
                   help="start the first layer from patch whitening (default: the model's recipe)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=d.augment,
                   help="random crop (4-pixel padding) and horizontal flip")
    p.add_argument("--train-limit", dest="train_limit", type=int, default=None,
                   help="train on a random subset of this many images")
    p.add_argument("--test-limit", dest="test_limit", type=int, default=None)
    p.add_argument("--data", default=None, help="CIFAR-10 source (default: $MINICNN_DATA, "
                   "the cache, then the download)")
    p.add_argument("--out", default=d.out, help="run folder: checkpoints, metrics, plots")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--command-line", dest="command_line", default=None, help=argparse.SUPPRESS)


# ---- visualisations ---------------------------------------------------------------------------
# Thin wrappers: parse, call minicnn.visualize, save the figure. The techniques live there.

def cmd_tour(args):
    from minicnn.models import open_model
    from minicnn.visualize.tour import run_tour
    user_input(open_model, args.model)                # a bad model: one line, before any work
    run_tour(args.out, model=args.model, mlp=args.mlp, data=args.data, limit=args.limit,
             quick=args.quick)
    return 0


def cmd_filters(args):
    from minicnn.models import open_model
    from minicnn.plots import save_figure
    from minicnn.visualize import filters
    model = user_input(open_model, args.model)
    layer = args.layer or user_input(filters.first_conv_layer, model)
    w = user_input(filters.conv_filters, model, layer)              # (F, C, KH, KW)
    if w.shape[1] != 3:
        raise UsageError(f"layer {layer!r} reads {w.shape[1]} channels, not RGB; only a first "
                         f"layer's filters are pictures")
    fig = filters.plot_filters(filters.weights_to_rgb(w, args.normalize),
                               title=f"{layer} filters ({args.normalize}, grey = 0)",
                               titles=[str(i) for i in range(len(w))])
    print(f"wrote {save_figure(fig, args.out)}")
    return 0


def cmd_weights(args):
    from minicnn.models import open_model
    from minicnn.plots import save_figure
    from minicnn.visualize import filters
    model = user_input(open_model, args.model)
    w = user_input(filters.hidden_unit_weights, model, args.layer)  # (units, 3, 32, 32)
    units = list(range(min(args.units, len(w))))
    fig = filters.plot_filters(filters.weights_to_rgb(w[units], args.normalize),
                               title=f"{args.layer} hidden units as images ({args.normalize})",
                               titles=[str(i) for i in units], inches=0.95)
    print(f"wrote {save_figure(fig, args.out)}")
    return 0


def cmd_rf(args):
    from minicnn.models import open_model
    from minicnn.visualize.receptive_field import output_size, receptive_field, receptive_field_size
    model = user_input(open_model, args.model)
    if args.layer is None:
        print(f"{'layer':<9}{'output':<10}{'receptive field':>16}")
        for name in model.names:
            size, rf = output_size(model, name), receptive_field_size(model, name)
            out = f"{size[0]}x{size[1]}" if size else "-"
            print(f"{name:<9}{out:<10}{(f'{rf[0]}x{rf[1]}' if rf else 'whole image'):>16}")
        return 0
    size = user_input(output_size, model, args.layer)
    if size is None:
        print(f"{args.layer}: a fully connected layer; every unit sees the whole 32x32 image")
        return 0
    y, x = (args.y, args.x) if args.y is not None else ((size[0] - 1) // 2, (size[1] - 1) // 2)
    y0, y1, x0, x1 = user_input(receptive_field, model, args.layer, y, x)
    print(f"{args.layer} unit at (y={y}, x={x}) of {size[0]}x{size[1]} sees rows {y0}:{y1}, "
          f"columns {x0}:{x1} of the input ({y1 - y0}x{x1 - x0} pixels)")
    return 0


def parse_channels(text, layer):
    """ "0-15" or "3,7,9" -> a list of ints."""
    try:
        if "-" in text:
            first, last = text.split("-")
            return list(range(int(first), int(last) + 1))
        return [int(c) for c in text.split(",")]
    except ValueError:
        raise UsageError(f"--channels for {layer}: expected a range like 0-15 or a list like "
                         f"3,7,9, got {text!r}") from None


def cmd_top9(args):
    from minicnn.data import is_sample, load_data_or_sample
    from minicnn.data.sample import images_note
    from minicnn.models import open_model
    from minicnn.plots import save_figure
    from minicnn.tensor import Tensor, no_grad
    from minicnn.train import random_subset
    from minicnn.visualize import top_patches
    model = user_input(open_model, args.model)
    user_input(model.check_layer, args.layer)
    with no_grad():                                       # the layer's channel count, cheaply
        C = model.upto(args.layer)(Tensor(np.zeros((1, 3, 32, 32), dtype=np.float32))).shape[1]
    channels = parse_channels(args.channels, args.layer) if args.channels else list(range(min(C, 64)))
    bad = [c for c in channels if not 0 <= c < C]
    if bad:
        raise UsageError(f"channel {bad[0]} is outside layer {args.layer!r}, which has {C} channels")
    data = load_data_or_sample(args.data)
    x, _ = random_subset(data.test_x, data.test_y, args.limit, seed=0)   # sorted by class: mix
    if is_sample(data):
        print(f"top-9 over {images_note(data)}")
    top = top_patches.top_activations(model, x, args.layer, k=9, progress=True)
    crops = top_patches.crop_top(model, x, top, args.layer, channels)
    size = top_patches.common_size(model, args.layer)
    over = f"{len(x):,} test images" + (" of the embedded sample" if is_sample(data) else "")
    fig = top_patches.plot_top_patches(crops, channels, max(size, 8),
                                       f"{args.layer}: top-9 crops per channel ({over})")
    print(f"wrote {save_figure(fig, args.out)}")
    return 0


EXPLAIN_METHODS = ("saliency", "guided", "deconv", "gradcam", "guided-gradcam", "smoothgrad",
                   "smoothgrad-sq", "vargrad", "input-x-gradient", "integrated-gradients", "lrp",
                   "occlusion")


def cmd_explain(args):
    from minicnn.models import open_model
    from minicnn.plots import save_figure
    from minicnn.visualize import attribution, render
    from minicnn.visualize.gradcam import gradcam, guided_gradcam, upsample
    from minicnn.visualize.integrated import integrated_gradients
    from minicnn.visualize.lrp import lrp
    from minicnn.visualize.occlusion import occlusion, plot_occlusion
    from minicnn.visualize.images import (class_index, input_stats, load_image, model_classes,
                                          to_input, to_rgb)
    from minicnn.visualize.targets import probabilities
    model = user_input(open_model, args.model)
    classes = model_classes(model)
    target = user_input(class_index, classes, args.target) if args.target is not None else None
    if args.layer is not None:
        user_input(model.check_layer, args.layer)
    if args.image is not None:
        image = user_input(load_image, args.image)                   # (3, 32, 32) uint8
        about = ""
    else:
        image, about = pick_test_image(args.data, args.index)        # (3, 32, 32) uint8
    mean, std = user_input(input_stats, model)
    x = to_input(image[None], mean, std)                            # (1, 3, 32, 32)
    p = probabilities(model, x)[0]
    for k in np.argsort(-p)[:3]:
        print(f"  {classes[k]:<11}{p[k]:6.1%}")
    target = int(np.argmax(p)) if target is None else target
    name = classes[target]
    rgb = to_rgb(x, mean, std)[0]
    if args.method == "occlusion":
        prob, base = occlusion(model, x, target, size=8, stride=1, fill="grey")
        fig = plot_occlusion(rgb[None], prob, base, [name], 8, 1)
    else:
        if args.method in ("saliency", "guided", "deconv"):
            g = attribution.gradient(model, x, target, rule=attribution.RULES[args.method])
        elif args.method == "smoothgrad":
            g = attribution.smoothgrad(model, x, target, n=50)
        elif args.method == "smoothgrad-sq":                # Adebayo et al. 2018
            g = attribution.smoothgrad_sq(model, x, target, n=50)
        elif args.method == "vargrad":
            g = attribution.vargrad(model, x, target, n=50)
        elif args.method == "input-x-gradient":
            g = attribution.input_x_gradient(model, x, target)
        elif args.method == "integrated-gradients":         # Sundararajan et al. 2017
            g = integrated_gradients(model, x, target, steps=50)
        elif args.method == "lrp":                          # LRP-epsilon, Bach et al. 2015
            g = lrp(model, x, target, epsilon=0.25)
        elif args.method == "guided-gradcam":          # gradcam checks that the layer fits
            g = user_input(guided_gradcam, model, x, target, args.layer)
        else:
            cam = user_input(gradcam, model, x, target, args.layer)[0]
            up = upsample(cam[None], x.shape[2:])[0]
            up = up / max(up.max(), 1e-30)
            fig = render.panel_grid([[rgb, cam / max(cam.max(), 1e-30), render.overlay(rgb, up)]],
                                    col_titles=["image", "Grad-CAM", "on the image"],
                                    title=f"Grad-CAM for '{name}' (p={p[target]:.2f}){about}",
                                    panel_size=2.2)
            print(f"wrote {save_figure(fig, args.out)}")
            return 0
        panels = [[rgb, render.render_map(g, "absmax")[0], render.render_map(g, "rgb")[0]]]
        fig = render.panel_grid(panels, col_titles=["image", "max over channels of |g|",
                                                    "signed (grey = 0)"],
                                title=f"{args.method} for '{name}' (p={p[target]:.2f}){about}",
                                panel_size=2.2)
    print(f"wrote {save_figure(fig, args.out)}")
    return 0


def pick_test_image(data, index):
    """Test image `index` of --data / MINICNN_DATA / the cache, else of the embedded sample:
    (3, 32, 32) uint8 and a few words for the figure's title. Prints which image it is."""
    from minicnn.data import is_sample, load_data_or_sample
    from minicnn.data.sample import images_note
    dataset = load_data_or_sample(data, progress=False)
    N = len(dataset.test_y)
    if not 0 <= index < N:
        raise UsageError(f"--index {index} is outside 0..{N - 1}, the test images of "
                         f"{images_note(dataset) if is_sample(dataset) else dataset.source}")
    label = dataset.classes[dataset.test_y[index]]
    if is_sample(dataset):
        print(f"test image {index} ({label}) of {images_note(dataset)}")
        about = f"\nsample test image {index} (true class {label})"
    else:
        print(f"test image {index} ({label}) of {N:,} ({dataset.source})")
        about = f"\ntest image {index} (true class {label})"
    return dataset.test_x[index], about


def cmd_class_model(args):
    from minicnn.models import open_model
    from minicnn.plots import save_figure
    from minicnn.visualize import render
    from minicnn.visualize.class_model import class_model
    from minicnn.visualize.images import class_index, input_stats, model_classes, to_rgb
    model = user_input(open_model, args.model)
    classes = model_classes(model)
    targets = (list(range(len(classes))) if args.target == "all"
               else [user_input(class_index, classes, t) for t in args.target.split(",")])
    mean, std = user_input(input_stats, model)
    options = {"steps": args.steps} if args.steps is not None else {}
    x = class_model(model, targets, preset=args.preset, objective=args.objective,
                                seed=args.seed, progress=True, **options)
    fig = render.image_grid(to_rgb(x, mean, std), titles=[classes[k] for k in targets],
                            ncols=5, panel_size=1.8, fontsize=9,
                            title=f"class models (preset '{args.preset}', {args.objective})")
    print(f"wrote {save_figure(fig, args.out)}")
    return 0


def cmd_sanity(args):
    from minicnn.models import open_model
    from minicnn.nn import Conv2d
    from minicnn.plots import save_figure
    from minicnn.visualize import sanity
    from minicnn.visualize.images import class_index, input_stats, load_image, model_classes
    from minicnn.visualize.images import to_input, to_rgb
    from minicnn.visualize.targets import probabilities
    model = user_input(open_model, args.model)
    classes = model_classes(model)
    mean, std = user_input(input_stats, model)
    methods = sanity.SANITY_METHODS
    if not any(isinstance(layer, Conv2d) for layer in model):
        methods = tuple(m for m in methods if m != "gradcam")
        print("no convolutional layer: Grad-CAM left out")
    if args.images:
        x_uint8 = np.stack([user_input(load_image, path) for path in args.images])
    else:
        from minicnn.data import is_sample, load_data_or_sample
        from minicnn.data.sample import images_note
        from minicnn.train import random_subset
        data = load_data_or_sample(args.data)
        if is_sample(data):
            print(f"test images from {images_note(data)}")
        x_uint8, _ = random_subset(data.test_x, data.test_y, args.count, seed=0)
    x = to_input(x_uint8, mean, std)
    target = user_input(class_index, classes, args.target) if args.target is not None else \
        list(probabilities(model, x).argmax(axis=1))
    steps, maps, similarity = sanity.sanity_check(model, x, target, methods)
    out = Path(args.out)
    save_figure(sanity.plot_sanity_maps(to_rgb(x, mean, std), steps, maps), out)
    curve = out.with_name(out.stem + "_similarity.png")
    save_figure(sanity.plot_similarity(steps, similarity), curve)
    print("Spearman rank correlation with the trained model's maps:")
    print(f"  {'method':<10}" + "".join(f"{s:>9}" for s in steps))
    for method, values in similarity.items():
        print(f"  {method:<10}" + "".join(f"{v:9.2f}" for v in values))
    print(f"wrote {out} and {curve}")
    return 0


def add_visualize_commands(sub, model_names):
    model_help = (f"a shipped model ({', '.join(model_names)}) or a checkpoint path "
                  f"(default %(default)s)")
    p = add_command(sub, "tour", cmd_tour, "run every visualisation, write DIR/index.html")
    p.add_argument("--model", default="reference_net", help=model_help)
    p.add_argument("--mlp", default="mlp", help="the mlp for the weight pictures ('' to skip)")
    p.add_argument("--data", default=None, help="CIFAR-10 source (default: $MINICNN_DATA, "
                   "the cache, then the embedded 1,000-image sample)")
    p.add_argument("--out", default="tour", help="output folder (default %(default)s)")
    p.add_argument("--limit", type=positive_int, default=10_000,
                   help="test images scanned for the top-9 patches (default %(default)s)")
    p.add_argument("--quick", action="store_true", help="fewer steps and samples: a fast preview")

    p = add_command(sub, "filters", cmd_filters, "first-layer filters as an RGB image grid")
    p.add_argument("--model", default="reference_net", help=model_help)
    p.add_argument("--layer", default=None, help="a conv layer reading RGB (default the first)")
    p.add_argument("--normalize", choices=["per_filter", "shared"], default="per_filter",
                   help="scale each filter by its own max |w|, or all by one (grey = 0 either way)")
    p.add_argument("--out", default="filters.png")

    p = add_command(sub, "weights", cmd_weights, "the mlp's hidden units as 32x32 RGB images")
    p.add_argument("--model", default="mlp", help=model_help)
    p.add_argument("--layer", default="fc1")
    p.add_argument("--units", type=positive_int, default=64, help="how many units to show")
    p.add_argument("--normalize", choices=["per_filter", "shared"], default="per_filter")
    p.add_argument("--out", default="weights.png")

    p = add_command(sub, "rf", cmd_rf, "receptive fields: a table, or one unit's input region")
    p.add_argument("layer", nargs="?", default=None)
    p.add_argument("y", nargs="?", type=int, default=None)
    p.add_argument("x", nargs="?", type=int, default=None)
    p.add_argument("--model", default="reference_net", help=model_help)

    p = add_command(sub, "top9", cmd_top9,
                    "the 9 test images that excite each channel most, cropped")
    p.add_argument("--layer", default="conv3")
    p.add_argument("--channels", default=None, help="e.g. 0-15 or 3,7,9 (default: up to 64)")
    p.add_argument("--model", default="reference_net", help=model_help)
    p.add_argument("--data", default=None, help="CIFAR-10 source (default: $MINICNN_DATA, "
                   "the cache, then the embedded 1,000-image sample)")
    p.add_argument("--limit", type=positive_int, default=10_000,
                   help="test images to scan (a seeded random subset)")
    p.add_argument("--out", default="top9.png")

    p = add_command(sub, "explain", cmd_explain, "explain one image file: prediction and a map")
    p.add_argument("image", nargs="?", default=None,
                   help="any image file Pillow reads; centre-cropped and resized to 32x32 "
                        "(default: a test image, see --index)")
    p.add_argument("--index", type=int, default=0,
                   help="without IMAGE: which test image (of --data, else of the embedded "
                        "1,000-image sample; default %(default)s)")
    p.add_argument("--data", default=None, help="CIFAR-10 source for --index")
    p.add_argument("--method", choices=EXPLAIN_METHODS, default="guided")
    p.add_argument("--target", default=None, help="class name or index (default: the prediction)")
    p.add_argument("--layer", default=None, help="Grad-CAM layer (default: the last conv's ReLU)")
    p.add_argument("--model", default="reference_net", help=model_help)
    p.add_argument("--out", default="explain.png")

    p = add_command(sub, "class-model", cmd_class_model,
                    "gradient ascent on the input for class scores")
    p.add_argument("--target", default="all", help="class name(s), comma separated, or all")
    p.add_argument("--preset", choices=["natural", "none"], default="natural",
                   help="'none' switches every regulariser off (fooling images)")
    p.add_argument("--objective", choices=["logit", "probability"], default="logit")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="reference_net", help=model_help)
    p.add_argument("--out", default="class_model.png")

    p = add_command(sub, "sanity", cmd_sanity,
                    "saliency maps after cascading randomisation (Adebayo 2018)")
    p.add_argument("images", nargs="*", help="image files (default: test images from --data)")
    p.add_argument("--target", default=None, help="class (default: each image's prediction)")
    p.add_argument("--count", type=positive_int, default=2,
                   help="random test images when no files are given")
    p.add_argument("--model", default="reference_net", help=model_help)
    p.add_argument("--data", default=None, help="CIFAR-10 source")
    p.add_argument("--out", default="sanity.png")


def global_options(default):
    """--plain and --debug, as a parent parser. The top-level parser has them with default
    False; each subcommand again with default SUPPRESS, so that `minicnn --debug rf` and
    `minicnn rf --debug` both work (a subcommand's default would overwrite the first)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--plain", action="store_true", default=default,
                   help="run on the plain route: minicnn/ops/'s NumPy code only (slower)")
    p.add_argument("--debug", action="store_true", default=default,
                   help="show an error's whole traceback instead of one line")
    return p


def cmd_explore(args):
    """`minicnn explore` (minicnn/explore/cli.py). Its start-up reads only what the user gave
    (the model, the data, the host and port), so its ValueError or OSError (a port in use, say)
    is one line; the server answers bad requests itself and never stops for them."""
    from minicnn.explore.cli import run
    try:
        return run(args)
    except (ValueError, OSError) as error:
        if isinstance(error, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise
        raise UsageError(str(error)) from error


def add_command(sub, name, run, help):
    """A subcommand whose parsed arguments go to run(args)."""
    p = sub.add_parser(name, help=help, description=help, parents=[global_options(argparse.SUPPRESS)])
    p.set_defaults(run=run)
    return p


def build_parser():
    from minicnn.models import MODELS
    parser = argparse.ArgumentParser(prog="minicnn", description=__doc__.splitlines()[0],
                                     parents=[global_options(False)])
    sub = parser.add_subparsers(dest="command", required=True)
    p = add_command(sub, "summary", cmd_summary,
                    "print a model's layers, output shapes and parameter counts")
    p.add_argument("--model", choices=list(MODELS), default="reference_net")

    p = add_command(sub, "train", cmd_train, "train a model on CIFAR-10")
    add_train_options(p)

    p = add_command(sub, "eval", cmd_eval, "test accuracy of a checkpoint, overall and per class")
    p.add_argument("checkpoint", nargs="?", default="reference_net",
                   help=f"a .npz or .safetensors checkpoint, or a shipped model "
                        f"({', '.join(MODELS)}; default reference_net)")
    p.add_argument("--data", default=None, help="CIFAR-10 source")

    p = add_command(sub, "convert", cmd_convert,
                    "write a model as .npz or .safetensors (the suffix says which)")
    p.add_argument("model", help=f"a shipped model ({', '.join(MODELS)}) or a checkpoint path")
    p.add_argument("out", help="the new file: NAME.npz, or NAME.safetensors (safetensors extra)")
    p.add_argument("--half", action="store_true",
                   help="store the weights as float16: half the size; they load as float32")

    p = add_command(sub, "lessons", cmd_lessons,
                    "the lessons: list them, or export them as Jupyter notebooks")
    p.add_argument("action", choices=["export", "list"])
    p.add_argument("dir", nargs="?", default=None, help="export: the folder for the notebooks")
    p.add_argument("--from", dest="source", default=None,
                   help="the lessons folder (default: the repository's lessons/)")

    add_visualize_commands(sub, list(MODELS))

    from minicnn.exercises.cli import add_exercise_command  # standard library only
    add_exercise_command(sub, parents=[global_options(argparse.SUPPRESS)])

    from minicnn.explore.cli import add_explore_options     # standard library only
    p = add_command(sub, "explore", cmd_explore,
                    "the lecture's pictures, live in the browser (a local web app)")
    add_explore_options(p)
    return parser


def main(argv=None):
    """The `minicnn` command: parse argv (default sys.argv[1:]) and run; returns the exit status."""
    return run_command(build_parser().parse_args(argv))


def run_command(args):
    """Run a parsed command (args.run) and return its exit status.

    With --plain the command runs inside minicnn.route.plain(). A mistake in the user's
    input (a UsageError, a DataError, or a path that is missing, a folder, or not allowed),
    or an optional package it needs that is not installed (MissingExtra), is printed as one
    line (the whole traceback with --debug) and gives exit status 2; Ctrl-C gives 130. Any
    other exception is a bug and is raised as it is.
    """
    from minicnn.data import DataError
    from minicnn.extras import MissingExtra
    user_errors = (UsageError, DataError, MissingExtra, FileNotFoundError, PermissionError,
                   IsADirectoryError, NotADirectoryError)
    try:
        if args.plain:
            from minicnn.route import plain
            with plain():
                return args.run(args)
        return args.run(args)
    except user_errors as error:
        if args.debug:
            traceback.print_exc()
        else:
            print(f"minicnn {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            traceback.print_exc()
        print(f"minicnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:              # `minicnn exercise list | head`: the reader left
        # Python would complain again when it flushes stdout at exit: point it at nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141                       # 128 + SIGPIPE, as a shell reports it


if __name__ == "__main__":
    sys.exit(main())
