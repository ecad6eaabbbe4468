"""`minicnn tour`: every visualisation on one HTML page, in the order of the lecture.

    run_tour("tour")          # writes tour/index.html and one PNG per figure beside it

Sections, each a figure with a caption naming what it shows and where it comes from:
first-layer filters, the mlp's hidden units, receptive fields, top-9 patches, layer views
(guided backprop / deconvnet beside the crops), gradient maps and their renderings,
SmoothGrad (and SmoothGrad-squared, VarGrad), gradient x input and Integrated Gradients
from four baselines, LRP (epsilon, alpha1beta0, composite), Grad-CAM (and Grad-CAM++;
CAM for a net that ends in global average pooling),
occlusion (and its per-pixel attribution), class models (regularised, and the fooling
images of plain ascent), a feature-visualization gallery of the last conv layer (one
optimised image per channel beside its top-9 crops), adversarial examples (PGD examples,
FGSM and PGD success rates), the sanity check, and which map is most faithful (deletion /
insertion areas, class insensitivity).

Sections that need real images (top-9, layer views, the maps of test images, occlusion,
the gallery's crops, adversarial examples, the sanity check, faithfulness) use CIFAR-10's
test split from --data, MINICNN_DATA or the cache folder, in that order; without any of
them, the 1,000 test images embedded in minicnn (minicnn.data.load_sample), and the page
says so. The tour never downloads anything, so it
draws every section on a machine with no internet and no copy of CIFAR-10.
"""
import html
import time
from pathlib import Path

import numpy as np

from minicnn.data import is_sample, load_data_or_sample, resolve_source
from minicnn.data.sample import images_note
from minicnn.files import atomic_write
from minicnn.models import open_model
from minicnn.nn import Conv2d
from minicnn.plots import save_figure
from minicnn.train import random_subset
from minicnn.visualize import (
    adversarial,
    attribution,
    filters,
    layer_views,
    render,
    sanity,
    top_patches,
)
from minicnn.visualize import cam as cam_module
from minicnn.visualize.class_model import PRESETS, class_model, plot_history
from minicnn.visualize.faithfulness import (
    MAP_METHODS,
    class_insensitivity,
    faithfulness,
    plot_class_insensitivity,
    plot_faithfulness,
)
from minicnn.visualize.gradcam import (
    default_layer,
    gradcam,
    gradcam_plus_plus,
    guided_gradcam,
    upsample,
)
from minicnn.visualize.integrated import BASELINES, integrated_gradients, make_baseline
from minicnn.visualize.lrp import lrp
from minicnn.visualize.occlusion import occlusion, occlusion_attribution, plot_occlusion
from minicnn.visualize.images import input_stats, model_classes, to_input, to_rgb
from minicnn.visualize.receptive_field import (
    centre_unit,
    plot_receptive_fields,
    receptive_field,
    receptive_field_size,
)
from minicnn.visualize.targets import probabilities

class Tour:
    """Collects figures and captions, saves the PNGs as they come, writes the page at the end."""

    def __init__(self, out, log=print):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.entries = []                  # (heading, file name, caption) or (heading, None, note)
        self.log = log
        self.started = time.perf_counter()

    def step(self, what):
        self.log(f"[{time.perf_counter() - self.started:6.1f} s] {what}")

    def figure(self, heading, name, fig, caption):
        save_figure(fig, self.out / name)
        self.entries.append((heading, name, caption))

    def note(self, heading, text):
        self.entries.append((heading, None, text))

    def write_page(self, title, intro):
        parts = [f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}"
                 "</title>\n<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;"
                 "line-height:1.45;color:#222}img{max-width:100%;border:1px solid #ddd}"
                 "figure{margin:0 0 2.5em 0}figcaption{font-size:0.92em;color:#444}"
                 ".note{color:#a33}</style></head><body>",
                 f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(intro)}</p>"]
        for heading, name, caption in self.entries:
            parts.append(f"<h2>{html.escape(heading)}</h2>")
            if name is None:
                parts.append(f"<p class='note'>{html.escape(caption)}</p>")
            else:
                parts.append(f"<figure><img src='{html.escape(name)}' alt='{html.escape(heading)}'>"
                             f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        parts.append("</body></html>\n")
        path = self.out / "index.html"
        with atomic_write(path) as tmp:
            tmp.write_text("\n".join(parts), encoding="utf-8")
        return path


def load_test_images(data, log):
    """CIFAR-10 from data / MINICNN_DATA / the cache, else the embedded sample (saying so).
    A source that is given but missing or broken raises DataError."""
    if resolve_source(data) is not None:
        log("loading CIFAR-10's test images (the first load of an image folder decodes it)")
    dataset = load_data_or_sample(data, progress=False)
    if is_sample(dataset):
        log(f"no CIFAR-10 given (--data, MINICNN_DATA) or cached: using {images_note(dataset)}")
    return dataset


def example_images(model, x_uint8, y, mean, std, max_images=6, candidates=20):
    """Indices of one correctly classified image for each of the first max_images classes
    (the first of its class's first `candidates` images the model gets right; any image of
    the class if it gets none right)."""
    chosen = []
    for k in range(int(y.max()) + 1)[:max_images]:
        of_class = np.nonzero(y == k)[0][:candidates]
        if len(of_class) == 0:
            continue
        predicted = probabilities(model, to_input(x_uint8[of_class], mean, std)).argmax(axis=1)
        right = of_class[predicted == k]
        chosen.append(right[0] if len(right) else of_class[0])
    return np.array(chosen)


def run_tour(out="tour", model="reference_net", mlp="mlp", data=None, limit=10_000,
             quick=False, log=print):
    """Run every technique and write out/index.html; returns its path.

    Inputs:
    - model: name or checkpoint path of the ConvNet (default the shipped reference_net)
    - mlp: name or path of the one-hidden-layer mlp for the weight pictures ("" to skip)
    - data: CIFAR-10 source for the sections that need images (see module docstring)
    - limit: how many test images (a seeded random subset) the top-9 search scans
    - quick: fewer steps and samples everywhere (for tests and a first look)
    """
    net = open_model(model)                     # fail before creating anything
    dataset = load_test_images(data, log)       # the same for the data: it is read first
    note = images_note(dataset)                 # '' for the real test split
    tour = Tour(out, log)
    mean, std = input_stats(net)
    classes = model_classes(net)
    convs = [name for name in net.names if isinstance(net[name], Conv2d)]   # top-9, Grad-CAM
    steps = 20 if quick else PRESETS["natural"]["steps"]

    tour.step("first-layer filters")
    _filters(tour, net)
    tour.step("mlp hidden units")
    _mlp_weights(tour, mlp)
    if convs:
        tour.step("receptive fields")
        _receptive_fields(tour, net)

    # a seeded random subset: the test split is sorted by class, its start is all airplanes
    x_all, y_all = random_subset(dataset.test_x, dataset.test_y, limit, seed=0)
    if convs:
        tour.step(f"top-9 patches over {len(x_all):,} test images"
                  + (" of the embedded sample" if note else ""))
        tops = top_patches.top_activations(net, x_all, convs, k=9, mean=mean, std=std)
        _top9(tour, net, x_all, tops, convs, note)
        tour.step("layer views (guided backprop and deconvnet of the top-9 units)")
        _layer_views(tour, net, x_all, tops, convs[-2:], mean, std,
                     channels=6 if quick else 12)
    picks = example_images(net, x_all, y_all, mean, std, max_images=3 if quick else 6)
    x = to_input(x_all[picks], mean, std)                         # (n, 3, 32, 32)
    y = y_all[picks]
    rgb = to_rgb(x, mean, std)
    titles = [classes[k] for k in y]
    tour.step("gradient maps: saliency, guided backprop, deconvnet, SmoothGrad")
    _gradient_maps(tour, net, x, y, rgb, titles, n_smooth=8 if quick else 25)
    tour.step("SmoothGrad-squared and VarGrad")
    _noise_tunnels(tour, net, x[:3], y[:3], rgb[:3], titles[:3], n=8 if quick else 25)
    tour.step("gradient x input and Integrated Gradients from four baselines")
    _integrated_gradients(tour, net, x[:3], y[:3], rgb[:3], titles[:3], mean, std,
                          steps=8 if quick else 32)
    tour.step("layer-wise relevance propagation")
    _lrp(tour, net, x, y, rgb, titles, convs)
    if convs:
        tour.step("Grad-CAM and guided Grad-CAM")
        _gradcam(tour, net, x, y, rgb, titles)
        tour.step("Grad-CAM++")
        _gradcam_plus_plus(tour, net, x[:3], y[:3], rgb[:3], titles[:3])
    if ends_in_global_pooling(net):
        tour.step("class activation maps (CAM)")
        _cam(tour, net, x, y, rgb, titles)
    tour.step("occlusion sensitivity")
    _occlusion(tour, net, x[:3], y[:3], rgb[:3], titles[:3], stride=4 if quick else 2)
    _occlusion_attribution(tour, net, x[:3], y[:3], rgb[:3], titles[:3])

    tour.step(f"class models ({steps} steps of gradient ascent, {len(classes)} classes at once)")
    _class_models(tour, net, classes, mean, std, steps)
    if convs:
        gallery_steps = 12 if quick else 48
        tour.step(f"feature visualization of every {convs[-1]} channel ({gallery_steps} steps)")
        _gallery(tour, net, x_all, tops, convs[-1], mean, std, gallery_steps)
    tour.step("adversarial examples: FGSM and PGD")
    _adversarial(tour, net, x_all, y_all, x[:3], y[:3], rgb[:3], titles[:3], classes, mean,
                 std, count=32 if quick else 64, quick=quick)

    tour.step("sanity check: cascading randomisation")
    _sanity(tour, net, x[:2], y[:2], rgb[:2],
            sanity.SANITY_METHODS if convs else ("saliency", "guided", "deconv"))
    tour.step("faithfulness: deletion and insertion, class insensitivity")
    _faithfulness(tour, net, x, y, convs, steps=8 if quick else 16)

    images = (f"The test images are {note}." if note else
              f"The test images are CIFAR-10's test split: {dataset.source}.")
    path = tour.write_page(
        "How ConvNets see: a tour of minicnn's visualisations",
        f"Model: {model} ({_accuracy(net)}). Every picture below was computed by "
        f"minicnn.visualize on this machine; the captions name the paper each technique "
        f"comes from. {images}")
    tour.step(f"done: {path}")
    return path


def _accuracy(net):
    accuracy = getattr(net, "meta", {}).get("test_accuracy")
    return f"test accuracy {accuracy:.1%}" if accuracy is not None else "test accuracy unknown"


# ---- sections ---------------------------------------------------------------------------
def _filters(tour, net):
    try:
        w = filters.conv_filters(net)                                 # (F, 3, KH, KW)
    except ValueError as error:
        tour.note("First-layer filters", str(error))
        return
    order = np.argsort(-filters.filter_norms(w), kind="stable")    # strongest first
    for normalize, how in (("per_filter", "each filter scaled by its own largest |weight|"),
                           ("shared", "all filters on one scale, so strengths compare")):
        fig = filters.plot_filters(filters.weights_to_rgb(w[order], normalize),
                                   title=f"conv1 filters, strongest first\n({how}; grey = 0)",
                                   titles=[f"{i}" for i in order])
        tour.figure(f"First-layer filters ({normalize.replace('_', ' ')})",
                    f"filters_{normalize}.png", fig,
                    f"The {len(w)} 3x{w.shape[2]}x{w.shape[3]} filters of the first conv layer as "
                    f"RGB pictures: grey is weight 0, a colour is a positive weight from that "
                    f"channel, its complement a negative one; {how}. Trained first layers learn "
                    f"oriented edges and colour blobs, the 'Gabor-like filters' of the lecture "
                    f"(Krizhevsky et al. 2012, Zeiler & Fergus 2014).")


def _mlp_weights(tour, mlp):
    if not mlp:
        return
    try:
        model = open_model(mlp)
        w = filters.hidden_unit_weights(model)                       # (units, 3, 32, 32)
    except (OSError, ValueError) as error:
        tour.note("Hidden units of the mlp", f"skipped: {error}")
        tour.log(f"skipped the mlp's hidden units: {error}")
        return
    order = np.argsort(-filters.filter_norms(w), kind="stable")[:64]
    fig = filters.plot_filters(filters.weights_to_rgb(w[order], "per_filter"),
                               title="mlp fc1: weights of the 64 strongest hidden units",
                               titles=[f"{i}" for i in order], inches=0.95)
    tour.figure("Hidden units of a one-hidden-layer network", "mlp_weights.png", fig,
                "Each hidden unit of the mlp (flatten, fc1, ReLU, fc2) takes a weighted sum of all "
                "3,072 pixels, so its weight row reshaped to (3, 32, 32) is a picture of what it "
                "responds to most (each scaled to its own largest |weight|, grey = 0), like the "
                "lecture's face-network weights. Well trained, they become blurry colour templates "
                "and whole-image layouts; after little training they still look like their random "
                "initialisation.")


def _receptive_fields(tour, net):
    layers = [n for n in net.names if receptive_field_size(net, n) is not None
              and n.startswith(("conv", "pool"))]
    boxes = [receptive_field(net, name, *centre_unit(net, name)) for name in layers]
    labels = [f"{name}: {y1 - y0}x{x1 - x0}" for name, (y0, y1, x0, x1) in zip(layers, boxes)]
    tour.figure("Receptive fields", "receptive_fields.png", plot_receptive_fields(boxes, labels),
                "The input pixels one unit near the centre of each layer can see, derived from the "
                "layers' kernels, strides and padding (receptive_field). Each conv layer adds its "
                "kernel minus one, times the product of the strides below it; pooling multiplies "
                "the step. Units of fully connected layers see the whole image. These boxes are "
                "the 'relevant patches' cropped in the top-9 figures below.")


def _top9(tour, net, x_all, tops, layers, note):
    for layer in layers:
        top = tops[layer]
        channels = list(range(min(len(top.index), 64)))
        crops = top_patches.crop_top(net, x_all, top, layer, channels)
        size = top_patches.common_size(net, layer)
        over = f"{len(x_all):,} test images" + (" of the embedded sample" if note else "")
        fig = top_patches.plot_top_patches(crops, channels, max(size, 8),
                                           f"{layer}: top-9 receptive-field crops per channel "
                                           f"({over})")
        tour.figure(f"Top-9 patches: {layer}", f"top9_{layer}.png", fig,
                    f"For each channel of {layer}, the 9 test images (of {over}) with the "
                    f"highest activation anywhere in the channel, each cropped to the {size}x{size} "
                    f"receptive field of the unit where the maximum was (Zeiler & Fergus 2014). "
                    f"Crops at the border are smaller and shown stretched."
                    + (f" The images are {note}." if note else ""))


def _layer_views(tour, net, x_all, tops, layers, mean, std, channels):
    for layer in layers:
        top = tops[layer]
        # the channels whose top-9 respond most strongly (a weak channel's crops say little)
        chosen = sorted(np.argsort(-top.value.mean(axis=1), kind="stable")[:channels].tolist())
        crops = top_patches.crop_top(net, x_all, top, layer, chosen)
        recons = {label: layer_views.reconstructions(net, x_all, top, layer, chosen, method,
                                                     mean, std)
                  for label, method in (("guided backprop", "guided"), ("deconvnet", "deconv"))}
        size = top_patches.common_size(net, layer)
        fig = layer_views.plot_layer_view(crops, recons, chosen, size,
                                          f"{layer}: reconstructions of the top-9 units and their crops",
                                          ncols=2)
        tour.figure(f"Layer view: {layer}", f"layer_view_{layer}.png", fig,
                    f"For {len(chosen)} channels of {layer} (those with the strongest top-9), the "
                    f"gradient of the unit at each top image's maximum with respect to the input, "
                    f"cropped to its receptive field: under the guided-backprop rule (Springenberg "
                    f"et al. 2015), the deconvnet rule (Zeiler & Fergus 2014), then the image crops "
                    f"themselves. Grey is 0. The reconstructions show which pixels of each crop "
                    f"drive the unit, as in the lecture's layer 3-5 slides.")


def _gradient_maps(tour, net, x, y, rgb, titles, n_smooth):
    maps = {"saliency": attribution.saliency(net, x, y),
            "guided backprop": attribution.guided_backprop(net, x, y),
            "deconvnet": attribution.deconvnet(net, x, y),
            "SmoothGrad (saliency)": attribution.smoothgrad(net, x, y, n=n_smooth, noise=0.15)}
    shown = {"saliency": "absmax", "guided backprop": "rgb", "deconvnet": "rgb",
             "SmoothGrad (saliency)": "absmax"}
    rendered = {name: render.render_map(g, shown[name]) for name, g in maps.items()}
    panels = [[rgb[n]] + [rendered[name][n] for name in maps] for n in range(len(x))]
    fig = render.panel_grid(panels, col_titles=["image"] + list(maps), row_titles=titles,
                            title="gradient of the true class's logit w.r.t. the image")
    tour.figure("Gradient maps", "gradient_maps.png", fig,
                "Which pixels affect the class score? The gradient of the true class's logit with "
                "respect to the input, passed back through the ReLUs by three rules: the true "
                "gradient (saliency; Simonyan et al. 2014, shown as max over channels of |g|), "
                "guided backprop (Springenberg et al. 2015) and the deconvnet (Zeiler & Fergus "
                "2014), both shown as signed RGB with grey = 0; and SmoothGrad (Smilkov et al. "
                f"2017), the saliency map averaged over {n_smooth} copies with 15% noise. "
                "Raw gradients are noisy; the guided map keeps only evidence the units detect.")
    g = maps["guided backprop"][:1]
    panels = [[rgb[0], render.render_map(g, "absmax")[0], render.render_map(g, "rgb")[0],
               render.render_map(g, "positive")[0]]
              + [render.signed_panel(c) for c in render.render_map(g, "channels")[0]]]
    fig = render.panel_grid(panels, col_titles=["image", "abs-max", "signed RGB", "positive part",
                                                "red ch.", "green ch.", "blue ch."],
                            title=f"one guided-backprop map ({titles[0]}), five renderings")
    tour.figure("Renderings of a gradient map", "renderings.png", fig,
                "The same signed map drawn five ways: the maximum over colour channels of |g| "
                "(heat map), the signed map as RGB (grey = 0), its positive part only, and each "
                "colour channel on its own (red positive, blue negative). Every rendering is "
                "scaled per image by the 99.5th percentile of |g|; what looks important depends "
                "on the rendering as much as on the method.")


def _gradcam(tour, net, x, y, rgb, titles):
    layer = default_layer(net)
    cam = gradcam(net, x, y, layer)                          # (n, h, w)
    up = upsample(cam, x.shape[2:])                          # (n, 32, 32)
    up = each_to_its_max(up)
    guided = render.render_map(guided_gradcam(net, x, y, layer), "rgb")
    panels = [[rgb[n], (cam[n] / max(cam[n].max(), 1e-30)), render.overlay(rgb[n], up[n]),
               guided[n]] for n in range(len(x))]
    fig = render.panel_grid(panels, col_titles=["image", f"Grad-CAM at {layer}",
                                                "bilinear, on image", "guided Grad-CAM"],
                            row_titles=titles, title="Grad-CAM for the true class")
    tour.figure("Grad-CAM and guided Grad-CAM", "gradcam.png", fig,
                f"Grad-CAM (Selvaraju et al. 2017): the channels of {layer} weighted by the "
                f"spatial mean of the class score's gradient, summed and rectified, at the layer's "
                f"{cam.shape[1]}x{cam.shape[2]} resolution, then upsampled bilinearly onto the "
                f"image (jet colour map). Guided Grad-CAM multiplies guided backprop by the "
                f"upsampled map: sharp like guided backprop, but only where the class is.")


def each_to_its_max(maps):
    """(n, H, W) non-negative maps, each divided by its own maximum."""
    return maps / np.maximum(maps.reshape(len(maps), -1).max(axis=1), 1e-30)[:, None, None]


def ends_in_global_pooling(net):
    try:
        cam_module.cam_layers(net)
        return True
    except ValueError:
        return False


def _cam(tour, net, x, y, rgb, titles):
    layer, _ = cam_module.cam_layers(net)
    maps = cam_module.cam(net, x, y)                         # (n, h, w), signed
    up = each_to_its_max(upsample(np.maximum(maps, 0), x.shape[2:]))     # (n, 32, 32)
    grad = each_to_its_max(upsample(gradcam(net, x, y, layer), x.shape[2:]))
    panels = [[rgb[n], render.overlay(rgb[n], up[n]), render.overlay(rgb[n], grad[n])]
              for n in range(len(x))]
    fig = render.panel_grid(panels, col_titles=["image", f"CAM at {layer}",
                                                f"Grad-CAM at {layer}"],
                            row_titles=titles, title="class activation maps for the true class")
    tour.figure("Class activation maps (CAM)", "cam.png", fig,
                f"Zhou et al. 2016: this net ends in global average pooling and one linear "
                f"layer, so the class score is the average over positions of sum_k w_k A_k, "
                f"the {layer} maps weighted by the class's row of the last layer. That map is "
                f"CAM: no gradient needed. Grad-CAM at the same layer weighs the maps by the "
                f"gradient's mean, which here is w_k / (h w): the same map, rectified.")


def _occlusion(tour, net, x, y, rgb, titles, stride):
    size = 8
    prob, base = occlusion(net, x, y, size=size, stride=stride, fill="grey")
    fig = plot_occlusion(rgb, prob, base, titles, size, stride)
    tour.figure("Occlusion sensitivity", "occlusion.png", fig,
                f"Zeiler & Fergus 2014, section 4.2: a grey {size}x{size} square slides over the "
                f"image in steps of {stride} pixels, and each position's value is the probability "
                f"of the true class with the square there (placed at the square's centre). Dark "
                f"regions are the parts the network cannot do without.")


def _class_models(tour, net, classes, mean, std, steps):
    targets = list(range(len(classes)))
    p = PRESETS["natural"]
    for preset, heading, caption in (
            ("natural", "Class models (regularised gradient ascent)",
             f"Gradient ascent on the input for each class's logit, all ten classes in one batch, "
             f"starting from faint noise (Simonyan et al. 2014), regularised as in Yosinski et al. "
             f"2015: L2 decay towards the mean colour ({p['l2']} per step), a Gaussian blur "
             f"(sigma {p['blur_sigma']} pixels) every {p['blur_every']} steps, random jitter of up "
             f"to {p['jitter']} pixels (CS231n), and clipping to the valid pixel range. They show "
             f"colours, textures and layouts the network associates with each class, not "
             f"photographs."),
            ("none", "Class models without regularisation (fooling images)",
             "The same ascent with every regulariser switched off: the images reach even higher "
             "scores but look like coloured noise, and leave the range of real pixels (clipped to "
             "[0, 1] for display). The lecture's warning: 'doing gradient descent "
             "can lead to things that don't look like images at all, and yet maximize the output' "
             "(Nguyen et al. 2015 call such images fooling images).")):
        x, history = class_model(net, targets, preset=preset, steps=steps, mean=mean, std=std,
                                 return_history=True)
        probs = probabilities(net, x)
        titles = [f"{classes[k]}\np={probs[k, k]:.2f}" for k in targets]
        fig = render.image_grid(to_rgb(x, mean, std), titles=titles, ncols=5, panel_size=1.6,
                                title=f"class models, preset '{preset}' ({steps} steps)")
        tour.figure(heading, f"class_models_{preset}.png", fig,
                    caption + " Under each image: the softmax probability of its class.")
        if preset == "natural":
            fig = plot_history(history, list(classes), title="logit during regularised ascent")
            tour.figure("Class models: the objective", "class_models_history.png", fig,
                        "The logit of each class along the regularised ascent: it rises quickly "
                        "and then levels off where the step and the regularisers balance.")


def _sanity(tour, net, x, y, rgb, methods):
    steps, maps, similarity = sanity.sanity_check(net, x, y, methods)
    fig = sanity.plot_sanity_maps(rgb, steps, maps)
    tour.figure("Sanity check: maps after cascading randomisation", "sanity_maps.png", fig,
                "Adebayo et al. 2018: the weights are re-drawn at random from the top layer down, "
                "cumulatively (columns), and each method's map recomputed (rows; max over "
                "channels of |g|, Grad-CAM upsampled). A map that still looks the same once the "
                "network has forgotten its training is not explaining the network.")
    fig = sanity.plot_similarity(steps, similarity)
    tour.figure("Sanity check: rank correlation", "sanity_similarity.png", fig,
                "Spearman rank correlation between each randomised map and the trained network's "
                "(mean over the images). Adebayo et al. found that saliency and Grad-CAM "
                "decorrelate as soon as the top layers are random, while guided backprop stays "
                "similar much longer, because it largely recovers the image's edges whatever the "
                "weights are; the lines show whether that holds for this network.")


# ---- sections of the methods beyond the lecture (issue 18), in the order they are called --
def _signed_panels(maps):
    """(N, C, H, W) attributions -> one signed panel per image: the sum over the colours,
    scaled by its largest |value| (red for the class, blue against, white 0)."""
    r = np.asarray(maps, dtype=np.float64).sum(axis=1)                    # (N, H, W)
    scale = np.maximum(np.abs(r).reshape(len(r), -1).max(axis=1), 1e-30)
    return [render.signed_panel(r[n] / scale[n]) for n in range(len(r))]


def _composite_rules(net, convs):
    """Montavon et al.'s composite for a VGG-like net: zbox at the pixels, gamma in the other
    convolutions, those inside residual blocks too (epsilon above, lrp's default)."""
    rules = {name: "gamma" for name, layer in net.named_modules() if isinstance(layer, Conv2d)}
    if convs and convs[0] == net.names[0]:
        rules[convs[0]] = "zbox"
    return rules


def _noise_tunnels(tour, net, x, y, rgb, titles, n):
    maps = {"SmoothGrad": attribution.smoothgrad(net, x, y, n=n),
            "SmoothGrad-squared": attribution.smoothgrad_sq(net, x, y, n=n),
            "VarGrad": attribution.vargrad(net, x, y, n=n)}
    rendered = {name: render.render_map(g, "absmax") for name, g in maps.items()}
    panels = [[rgb[i]] + [rendered[name][i] for name in maps] for i in range(len(x))]
    fig = render.panel_grid(panels, col_titles=["image"] + list(maps), row_titles=titles,
                            title=f"three statistics of the saliency map over {n} noisy copies")
    tour.figure("SmoothGrad-squared and VarGrad", "noise_tunnels.png", fig,
                f"The saliency map of {n} copies of each image with 15% Gaussian noise, summarised "
                f"three ways: the mean (SmoothGrad, Smilkov et al. 2017), the mean of the squared "
                f"map (SmoothGrad-squared) and its variance (VarGrad), the two variants Adebayo et "
                f"al. 2018 compare in their sanity checks. All shown as max over channels of |g|. "
                f"Squaring keeps only the size of the gradient, so the maps are sparser.")


def _integrated_gradients(tour, net, x, y, rgb, titles, mean, std, steps):
    columns = ["image", "gradient x input"]
    rows = [[rgb[i]] + [p] for i, p in enumerate(_signed_panels(
        attribution.input_x_gradient(net, x, y)))]
    for kind in BASELINES:
        b = make_baseline(net, x, kind, mean=mean, std=std)               # (n, 3, 32, 32)
        maps = integrated_gradients(net, x, y, baseline=b, steps=steps)
        b_rgb = to_rgb(b, mean, std)
        for i, p in enumerate(_signed_panels(maps)):
            rows[i] += [b_rgb[i], p]
        columns += [f"baseline: {kind}", "IG"]
    fig = render.panel_grid(rows, col_titles=columns, row_titles=titles, panel_size=1.25,
                            title="gradient x input and Integrated Gradients "
                                  "(red: for the true class, blue: against)")
    tour.figure("Gradient x input and Integrated Gradients", "integrated_gradients.png", fig,
                f"Gradient x input multiplies each pixel by the gradient of the class logit. "
                f"Integrated Gradients (Sundararajan et al. 2017) adds up the gradient along the "
                f"straight path from a baseline image to the image ({steps} Gauss-Legendre "
                f"points), times the difference; the attributions add up to the change of the "
                f"logit. Four baselines, as compared by Sturmfels et al. 2020: zeros (the "
                f"dataset's mean colour), black, a blurred copy and uniform noise. A pixel equal "
                f"to its baseline gets nothing: the map answers 'compared to what?'. Each map is "
                f"the sum over colours, scaled by its largest |value|.")


def _lrp(tour, net, x, y, rgb, titles, convs):
    maps = {"LRP-epsilon (0.25)": lrp(net, x, y, epsilon=0.25),
            "LRP-alpha1beta0": lrp(net, x, y, rule="alpha1beta0")}
    if convs:
        maps["LRP composite"] = lrp(net, x, y, rules=_composite_rules(net, convs), epsilon=1e-6)
    panels = [[rgb[i]] for i in range(len(x))]
    for m in maps.values():
        for i, p in enumerate(_signed_panels(m)):
            panels[i].append(p)
    fig = render.panel_grid(panels, col_titles=["image"] + list(maps), row_titles=titles,
                            title="relevance of every pixel for the true class "
                                  "(red: for, blue: against)")
    rules = ", ".join(f"{k} {v}" for k, v in _composite_rules(net, convs).items())
    tour.figure("Layer-wise relevance propagation", "lrp.png", fig,
                "LRP (Bach et al. 2015; Montavon et al. 2019) sends relevance down instead of a "
                "gradient: it starts as the class logit and every layer shares it among its "
                "inputs in proportion to their contributions, each op by a rule written next to "
                "its ordinary backward. The epsilon rule damps small denominators (eps = 0.25); "
                "alpha1beta0 passes only positive contributions"
                + (f"; the composite is Montavon et al.'s advice for a VGG-like net ({rules}, "
                   f"epsilon 1e-6 in the dense layers)" if convs else "")
                + ". Each map is the sum over colours, scaled by its largest |value|.")


def _gradcam_plus_plus(tour, net, x, y, rgb, titles):
    layer = default_layer(net)
    signed = gradcam(net, x, y, layer, relu_attributions=False)           # (n, h, w)
    plus = gradcam_plus_plus(net, x, y, layer)
    panels = []
    for i in range(len(x)):
        row = [rgb[i], render.signed_panel(signed[i] / max(np.abs(signed[i]).max(), 1e-30))]
        for cam in (np.maximum(signed[i:i + 1], 0), plus[i:i + 1]):
            up = upsample(cam, x.shape[2:])[0]
            row.append(render.overlay(rgb[i], up / max(up.max(), 1e-30)))
        panels.append(row)
    fig = render.panel_grid(panels, col_titles=["image", "Grad-CAM, signed", "Grad-CAM",
                                                "Grad-CAM++"],
                            row_titles=titles, title=f"Grad-CAM and Grad-CAM++ at {layer}")
    tour.figure("Grad-CAM++", "gradcam_plus_plus.png", fig,
                f"Grad-CAM before its final ReLU (Captum's default, relu_attributions=False; red "
                f"for the class, blue against), Grad-CAM itself, and Grad-CAM++ (Chattopadhay et "
                f"al. 2018), which weighs every position of a channel before pooling the positive "
                f"gradients, with the closed form that holds for the exponential of the logit. "
                f"Grad-CAM++ tends to cover more of the object, or several objects.")


def _occlusion_attribution(tour, net, x, y, rgb, titles, size=4, stride=2):
    drops = occlusion_attribution(net, x, y, size=size, stride=stride)     # (n, 32, 32)
    panels = [[rgb[i], render.signed_panel(drops[i] / max(np.abs(drops[i]).max(), 1e-30))]
              for i in range(len(x))]
    fig = render.panel_grid(panels, col_titles=["image", "mean drop of p"], row_titles=titles,
                            title=f"occlusion per pixel ({size}x{size}, stride {stride})")
    tour.figure("Occlusion as a per-pixel attribution", "occlusion_attribution.png", fig,
                f"Occlusion turned into a map of pixels, as Captum does: a grey {size}x{size} "
                f"square slides in steps of {stride}, and each pixel gets the mean drop of the "
                f"true class's probability over the squares that cover it (red: hiding it lowers "
                f"the probability). The faithfulness section below ranks pixels by this map.")


def _gallery(tour, net, x_all, tops, layer, mean, std, steps):
    channels = list(range(min(len(tops[layer].index), 64)))
    images = class_model(net, [(layer, c) for c in channels], preset="natural", steps=steps,
                         fourier=True, scale=0.1, rotate=10, mean=mean, std=std)
    crops = top_patches.crop_top(net, x_all, tops[layer], layer, channels)
    size = top_patches.common_size(net, layer)
    fig = top_patches.plot_unit_gallery(to_rgb(images, mean, std), crops, channels,
                                        max(size, 8), f"{layer}: what each channel wants "
                                        f"(optimised image) and what excites it (top-9 crops)")
    tour.figure(f"Feature visualization: every {layer} channel", f"gallery_{layer}.png", fig,
                f"For each channel of {layer}, an image optimised to excite the channel (the sum "
                f"over its positions; all {len(channels)} in one batch, {steps} steps) beside its "
                f"top-9 crops from above. The ascent follows Olah et al. 2017, 'Feature "
                f"Visualization': a decorrelated Fourier parameterisation, robustness to random "
                f"scaling (up to 10%) and rotation (up to 10 degrees), with the class models' "
                f"jitter, decay and blur. Where the two agree, the channel detects that pattern; "
                f"the optimised image often shows it repeated, since the channel sums over the "
                f"whole map.")


def _adversarial(tour, net, x_all, y_all, x, y, rgb, titles, classes, mean, std, count, quick):
    eps = 4 / 255
    x_adv = adversarial.pgd(net, x, y, eps, steps=10)
    rgb_adv = to_rgb(x_adv, mean, std)
    predicted = probabilities(net, x_adv).argmax(axis=1)
    difference = np.clip(0.5 + (rgb_adv - rgb) / (2 * eps), 0, 1)            # grey = no change
    panels = [[rgb[i], rgb_adv[i], difference[i]] for i in range(len(x))]
    rows = [f"{t} ->\n{classes[k]}" for t, k in zip(titles, predicted)]
    fig = render.panel_grid(panels, col_titles=["image", "PGD, eps = 4/255", "difference x32"],
                            row_titles=rows, title="adversarial examples")
    tour.figure("Adversarial examples", "adversarial_examples.png", fig,
                "Start from an image the network gets right and push every pixel by at most 4 "
                "grey levels of 255 in the direction that raises the loss: projected gradient "
                "descent (Madry et al. 2018), 10 signed steps from a random start in the ball. "
                "Left the image, then the adversarial example and the network's new answer "
                "(beside each row), right the change magnified 32 times (grey: none). The "
                "network's decision is nearly linear in the pixels, so many tiny aligned changes "
                "add up (Goodfellow et al. 2015).")
    eps_values = [1 / 255, 4 / 255, 8 / 255] if quick else [1 / 255, 2 / 255, 4 / 255, 8 / 255]
    # the first `count` test images (of the random subset) the network gets right
    images = to_input(x_all, mean, std)
    right = np.nonzero(adversarial.predict(net, images) == y_all)[0][:count]
    if len(right) == 0:
        tour.note("Adversarial examples: success rate",
                  "skipped: the model classifies none of the test images correctly")
        return
    rates = {}
    for attack, options in (("FGSM", {}), ("PGD, 10 steps", {"steps": 10})):
        rates[attack], correct = adversarial.success_rate(
            net, images[right], y_all[right], attack.split(",")[0].lower(), eps_values,
            **options)
    fig = adversarial.plot_success_rate(eps_values, rates,
                                        title=f"how often the net is fooled ({correct} images)")
    tour.figure("Adversarial examples: success rate", "adversarial_success.png", fig,
                f"Of {correct} test images the network classifies correctly, the percentage an "
                f"attack of size eps makes it get wrong: FGSM, one step of eps "
                f"along the sign of the gradient (Goodfellow et al. 2015), and PGD, 10 smaller "
                f"steps projected back into the eps-ball (Madry et al. 2018). PGD is the "
                f"stronger: the loss is not linear all the way.")


def _faithfulness(tour, net, x, y, convs, steps):
    methods = [m for m in MAP_METHODS if convs or m != "gradcam"]
    result = faithfulness(net, x, y, methods=methods, steps=steps)
    fig = plot_faithfulness(result, title=f"deletion and insertion, mean over {len(x)} images")
    best = max(result, key=lambda m: result[m]["insertion_auc"].mean()
               - result[m]["deletion_auc"].mean())
    tour.figure("Faithfulness: deletion and insertion", "faithfulness.png", fig,
                f"Which map shows what the network uses? Petsiuk et al. 2018: delete the pixels "
                f"in the map's order, most important first (set to the mean colour), in {steps} "
                f"steps, and follow the true class's probability: a faithful map makes it fall "
                f"fast (small area). Insert them in the same order into a blurred copy: it should "
                f"rise fast (large area). Raw gradient maps rank pixels by |g|, attributions by "
                f"their signed sum; 'random' is the floor. Here, over {len(x)} images, the most "
                f"faithful by insertion minus deletion is {best}.")
    names = ["saliency", "guided", "deconv", "input_x_gradient", "lrp_composite"]
    names += ["gradcam"] if convs else []
    values = {m: class_insensitivity(net, x[:2], m) for m in names}
    fig = plot_class_insensitivity(values, title="do the maps depend on the class?")
    tour.figure("Class insensitivity", "class_insensitivity.png", fig,
                f"For {min(len(x), 2)} images, each method's maps for all ten classes, and the "
                f"mean Spearman rank correlation between the maps of every pair of classes (bar; "
                f"dots: the images). 1 means the same map whatever class is asked for: Nie et al. "
                f"2018 show that guided backprop and the deconvnet largely reconstruct the image, "
                f"so their maps barely change with the class, while Grad-CAM's do.")
