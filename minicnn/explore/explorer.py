"""Explorer: every view of `minicnn explore`, computed as arrays and numbers. No HTTP here.

Each method answers one view of the page by calling minicnn.visualize, so the browser shows
exactly what the Python API computes (the tests hold the two to the same numbers):

    probabilities     the class probabilities of an image
    activations       every layer's output for an image, and the receptive field of each position
    unit_*            one channel: its top-9 images, their reconstructions, weights, value
    explain           saliency, guided backprop, deconvnet, SmoothGrad, Grad-CAM, occlusion
    occlude           the class probability with the grey square at one position
    class_model_snapshots   gradient ascent for a class or unit, a picture now and then
    sanity            the maps' rank correlation along the cascading randomisation

Images are named by (source, id): ("test", "1234") is a test image, ("upload", key) an
uploaded one, its key a hash of its pixels.

Several requests run at once, in threads, so everything shared is read-only once the
Explorer is built. The model is the Explorer's own copy; its parameters never need a
gradient here (only the input does), so they are frozen once, now, and never toggled per
request. The backward rule is an argument of each call (visualize.gradient(rule=...), a
context variable inside), never a process-wide switch. The uploads are the one thing that
grows, behind a lock.
"""
import copy
import functools
import hashlib
import threading
from collections import OrderedDict

import matplotlib
import numpy as np

from minicnn import visualize as V
from minicnn.explore.data import decode_upload
from minicnn.explore.index import top9_index
from minicnn.nn import Conv2d, Flatten, Linear
from minicnn.tensor import Tensor, no_grad
from minicnn.visualize.filters import first_conv_layer
from minicnn.visualize.gradcam import default_layer
from minicnn.visualize.layer_views import recon_block
from minicnn.visualize.top_patches import common_size, patch_block

METHODS = ("saliency", "guided", "deconv", "smoothgrad", "gradcam", "occlusion", "lrp",
           "integrated_gradients")
RULES = ("normal", "guided", "deconv")                  # the three ways back through a ReLU
RULE_OF = {"saliency": "normal", "guided": "guided", "deconv": "deconv"}
MAP_OF = {rule: method for method, rule in RULE_OF.items()}   # rule -> smoothgrad's method
RENDERS = ("absmax", "rgb", "positive")
SANITY_METHODS = ("saliency", "guided", "deconv", "gradcam")
MAX_UPLOADS = 100                    # uploads kept in memory, the oldest dropped first

# Class-model settings the page can change, with the range each may take.
CLASS_MODEL_RANGES = {
    "steps": (1, 500), "lr": (0.0, 2.0), "l2": (0.0, 0.5), "blur": (0.0, 3.0),
    "jitter": (0, 8), "clip_norm": (0.0, 99.0), "clip_contribution": (0.0, 99.0),
}


class NotFound(LookupError):
    """An unknown image, layer, unit, class or randomisation step (HTTP 404)."""


class Explorer:
    """The state of one explorer: a model, the test images, their top-9 index.

    Inputs:
    - model: a Sequential with .meta (classes, mean, std), e.g. models.open_model(name)
    - images: (N, 3, 32, 32) uint8 test images; labels: (N,) int64 class indices
    - name: how the page names the model; k: images per channel in the index
    - cache_dir: where the index is cached (default minicnn's cache folder)
    """

    def __init__(self, model, images, labels, name="model", k=9, cache_dir=None,
                 progress=False):
        self.model = copy.deepcopy(model)
        self.model.requires_grad_(False)                 # once: inputs get gradients, weights never
        self.name = name
        self.classes = V.model_classes(model)
        self.mean, self.std = V.input_stats(model)
        self.images = np.array(images, dtype=np.uint8)   # (N, 3, 32, 32), our own copy
        self.labels = np.array(labels, dtype=np.int64)
        self.images.flags.writeable = False
        self.labels.flags.writeable = False
        # every layer but Flatten, whose output is the layer before it, reshaped
        self.layers = [n for n in model.names if not isinstance(model[n], Flatten)]
        with no_grad():
            zeros = Tensor(np.zeros((1,) + self.images.shape[1:], dtype=np.float32))
            acts = self.model.activations(zeros, self.layers)
        self.shapes = {name: _chw(a.data[0]).shape for name, a in acts.items()}   # (C, H, W)
        self.index, self.index_path, self.index_cached = top9_index(
            self.model, self.images, self.layers, k=k, cache_dir=cache_dir, progress=progress)
        # cascading randomisation (Adebayo et al. 2018): step name -> a copy of the model with
        # that layer and every one above it re-initialised
        self.randomized = dict(V.cascading_randomization(self.model))
        self.cascade = ["trained"] + list(self.randomized)
        self._uploads = OrderedDict()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the images

    def pixels(self, source, id):
        """The image (3, 32, 32) uint8 named by (source, id)."""
        if source == "test":
            i = _integer(id, "test image")
            if not 0 <= i < len(self.images):
                raise NotFound(f"no test image {id}: there are {len(self.images)} (0.."
                               f"{len(self.images) - 1})")
            return self.images[i]
        if source == "upload":
            with self._lock:
                if id in self._uploads:
                    self._uploads.move_to_end(id)
                    return self._uploads[id]
            raise NotFound(f"no upload {id!r}: uploads are kept while the server runs "
                           f"(the last {MAX_UPLOADS}); upload the file again")
        raise NotFound(f"unknown image source {source!r}; images are test/<index> or "
                       f"upload/<key>")

    def add_upload(self, body):
        """Decode an uploaded file (raises UploadError) and keep it; returns its key."""
        pixels = decode_upload(body)
        pixels.flags.writeable = False
        key = hashlib.sha1(pixels.tobytes()).hexdigest()[:12]
        with self._lock:
            self._uploads[key] = pixels
            self._uploads.move_to_end(key)
            while len(self._uploads) > MAX_UPLOADS:
                self._uploads.popitem(last=False)
        return key

    def inputs(self, source, id):
        """The image as the network reads it: (1, 3, 32, 32) float32, normalised."""
        return V.to_input(self.pixels(source, id)[None], self.mean, self.std)

    def rgb(self, source, id):
        """(32, 32, 3) in [0, 1], for drawing over."""
        return self.pixels(source, id).transpose(1, 2, 0) / 255.0

    def label(self, source, id):
        """The true class name of a test image; None for an upload."""
        return self.classes[self.labels[int(id)]] if source == "test" else None

    def test_indices(self, cls=None, start=0, count=48):
        """Indices of the test images, of class `cls` (name or index) if given."""
        if cls in (None, ""):
            indices = np.arange(len(self.images))
        else:
            indices = np.flatnonzero(self.labels == self.class_index(cls))
        return [int(i) for i in indices[start:start + count]], len(indices)

    def random_index(self, cls=None, seed=None):
        """A random test image's index (of class `cls` if given)."""
        _, total = self.test_indices(cls, count=0)
        if total == 0:
            raise NotFound(f"there are no test images of class {cls!r}")
        indices, _ = self.test_indices(cls, start=int(np.random.default_rng(seed).integers(total)),
                                       count=1)
        return indices[0]

    def class_index(self, cls):
        try:
            return V.class_index(self.classes, cls)
        except ValueError as error:
            raise NotFound(str(error)) from None

    # ------------------------------------------------------------------ classes and layers

    def probabilities(self, source, id):
        """(K,) float64, the softmax of the logits."""
        return V.probabilities(self.model, self.inputs(source, id))[0]

    def layer_info(self):
        """For each layer: its kind, output shape per image and, for every row and every
        column of its output, the input rows/columns its units see (the receptive field
        is a rectangle: its rows depend on the unit's row only)."""
        info = []
        for name in self.layers:
            C, H, W = self.shapes[name]
            spatial = V.output_size(self.model, name) is not None
            rows = [list(V.receptive_field(self.model, name, y, 0)[:2]) if spatial else [0, 32]
                    for y in range(H)]
            cols = [list(V.receptive_field(self.model, name, 0, x)[2:]) if spatial else [0, 32]
                    for x in range(W)]
            info.append({"name": name, "kind": type(self.model[name]).__name__,
                         "shape": [C, H, W], "spatial": spatial, "rf_rows": rows, "rf_cols": cols,
                         "has_weights": self.weights_layer(name)})
        return info

    @functools.lru_cache(maxsize=128)
    def activations(self, source, id):
        """{layer: (C, H, W) float32} every layer's output for one image ((C, 1, 1) for
        fully connected layers); read-only arrays, shared by the requests that ask."""
        x = self.inputs(source, id)
        with no_grad():
            acts = self.model.activations(Tensor(x), self.layers)
        out = {}
        for name, a in acts.items():
            out[name] = np.ascontiguousarray(_chw(a.data[0]), dtype=np.float32)
            out[name].flags.writeable = False
        return out

    # ------------------------------------------------------------------ one unit

    def check_unit(self, layer, channel):
        """The channel as an int, if `layer` has it; NotFound otherwise."""
        if layer not in self.layers:
            raise NotFound(f"unknown layer {layer!r}; layers are: {', '.join(self.layers)}")
        c = _integer(channel, f"channel of {layer}")
        C = self.shapes[layer][0]
        if not 0 <= c < C:
            raise NotFound(f"layer {layer} has channels 0..{C - 1}, not {channel}")
        return c

    def unit_top(self, layer, channel):
        """The unit's top images, best first: index, value, class, position, receptive field."""
        c = self.check_unit(layer, channel)
        top = self.index[layer]
        return [{"index": int(n), "value": float(v), "label": self.classes[self.labels[n]],
                 "y": int(y), "x": int(x), "box": self.box(layer, int(y), int(x))}
                for n, v, y, x in zip(top.index[c], top.value[c], top.y[c], top.x[c])]

    def box(self, layer, y, x):
        """[y0, y1, x0, x1]: the input region the unit at (y, x) of `layer` sees."""
        return list(V.receptive_field(self.model, layer, y, x))

    @functools.lru_cache(maxsize=256)
    def unit_crops(self, layer, channel):
        """The top images cropped to the receptive field, as one 3x3 mosaic (h, w, 3)."""
        c = self.check_unit(layer, channel)
        crops = V.crop_top(self.model, self.images, self.index[layer], layer, channels=[c])[0]
        return patch_block(crops, common_size(self.model, layer))

    @functools.lru_cache(maxsize=256)
    def unit_reconstructions(self, layer, channel, method):
        """Their guided-backprop ("guided") or deconvnet ("deconv") reconstructions, the
        gradient of the unit at each image's maximum, cropped likewise: a 3x3 mosaic."""
        c = self.check_unit(layer, channel)
        if method not in ("guided", "deconv", "saliency"):
            raise NotFound(f"unknown reconstruction {method!r}; choose guided, deconv or saliency")
        recons = V.reconstructions(self.model, self.images, self.index[layer], layer,
                                   channels=[c], method=method)[0]
        return recon_block(recons, common_size(self.model, layer))

    def weights_layer(self, layer):
        """True for the layer whose weights are pictures: the first conv layer (an RGB
        filter per channel) or a fully connected layer reading the pixels (the mlp)."""
        module = self.model[layer]
        if isinstance(module, Conv2d):
            return layer == first_conv_layer(self.model)
        return (isinstance(module, Linear) and self.model.names.index(layer) == 1
                and module.weight.shape[1] == int(np.prod(self.images.shape[1:])))

    def unit_weights(self, layer, channel):
        """The unit's weights as an RGB picture (KH, KW, 3), grey = 0, scaled by its own
        largest weight (see visualize.filters)."""
        c = self.check_unit(layer, channel)
        if not self.weights_layer(layer):
            raise NotFound(f"the weights of {layer} are not a picture; only those of the "
                           f"layer reading the pixels are ({first_conv_layer(self.model)})"
                           if any(isinstance(m, Conv2d) for m in self.model) else
                           f"the weights of {layer} are not a picture")
        if isinstance(self.model[layer], Conv2d):
            w = V.conv_filters(self.model, layer)[c:c + 1]                     # (1, 3, KH, KW)
        else:
            w = V.hidden_unit_weights(self.model, layer, self.images.shape[1:])[c:c + 1]
        return V.weights_to_rgb(w)[0]

    def unit_value(self, layer, channel, source, id):
        """The unit on one image: its channel's maximum and where it is, with that unit's
        receptive field, and the channel's mean."""
        c = self.check_unit(layer, channel)
        a = self.activations(source, id)[layer][c]                              # (H, W)
        y, x = np.unravel_index(int(a.argmax()), a.shape)
        box = self.box(layer, int(y), int(x)) if self.shapes[layer][1:] != (1, 1) else [0, 32, 0, 32]
        return {"layer": layer, "channel": c, "value": float(a[y, x]), "y": int(y),
                "x": int(x), "box": box, "mean": float(a.mean())}

    # ------------------------------------------------------------------ explaining

    def parse_target(self, text, source=None, id=None):
        """A target as the page writes it -> a visualize target (targets.py).

        "cat" or "3": a class; "conv4:17": channel 17 of conv4 (its sum over positions);
        "conv4:17:3:5": the unit at row 3, column 5; "" or "predicted": the image's top class.
        """
        text = (text or "").strip()
        if text in ("", "predicted"):
            if source is None:
                raise NotFound("target 'predicted' needs an image")
            return int(self.probabilities(source, id).argmax())
        if ":" not in text:
            return self.class_index(text)
        layer, *numbers = text.split(":")
        if len(numbers) not in (1, 3):
            raise NotFound(f"unknown unit {text!r}; write layer:channel or layer:channel:y:x")
        c = self.check_unit(layer, numbers[0])
        if len(numbers) == 1:
            return (layer, c)
        y, x = (_integer(v, f"position in {layer}") for v in numbers[1:])
        C, H, W = self.shapes[layer]
        if not (0 <= y < H and 0 <= x < W):
            raise NotFound(f"layer {layer} has positions 0..{H - 1} x 0..{W - 1}, not ({y}, {x})")
        return (layer, c, y, x)

    def net(self, randomized=None):
        """The trained model, or its copy with the layers from the top down to
        `randomized` re-initialised (the cascading randomisation)."""
        if randomized in (None, "", "trained"):
            return self.model
        if randomized not in self.randomized:
            raise NotFound(f"unknown randomisation step {randomized!r}; steps are: "
                           f"{', '.join(self.cascade)}")
        return self.randomized[randomized]

    def score(self, source, id, target, randomized=None):
        """What a map explains, as a number: the unit's value (a channel's sum), or the
        class's logit and probability."""
        net, x = self.net(randomized), self.inputs(source, id)
        if isinstance(target, tuple):
            layer, *index = target
            with no_grad():
                out = net.upto(layer)(Tensor(x)).data[0]
            return {"value": float(out[tuple(index)].sum())}
        with no_grad():
            logits = net(Tensor(x)).data[0].astype(np.float64)
        p = np.exp(logits - logits.max())
        return {"logit": float(logits[target]), "probability": float(p[target] / p.sum())}

    def explain(self, source, id, method, target, rule="normal", randomized=None, render=None,
                layer=None, n=25, noise=0.15, size=8, stride=2):
        """One explanation of one image, as a picture and numbers.

        Inputs:
        - method: one of METHODS; saliency, guided and deconv are the gradient under the
          normal, guided and deconv ReLU rule; smoothgrad smooths the gradient of `rule`
        - target: a visualize target (parse_target); randomized: a cascade step or None
        - render: "absmax", "rgb" or "positive" for the gradient maps (default: absmax for
          the true gradient, rgb for the other rules)
        - layer: Grad-CAM's layer; n, noise: SmoothGrad's; size, stride: occlusion's
        Returns: (picture (32, 32, 3) or (32, 32) in [0, 1], {numbers})
        """
        if method not in METHODS:
            raise NotFound(f"unknown method {method!r}; methods are: {', '.join(METHODS)}")
        if rule not in RULES:
            raise NotFound(f"unknown ReLU rule {rule!r}; rules are: {', '.join(RULES)}")
        if render not in (None, "") and render not in RENDERS:
            raise NotFound(f"unknown rendering {render!r}; choose {', '.join(RENDERS)}")
        net, x = self.net(randomized), self.inputs(source, id)
        if method in RULE_OF or method == "smoothgrad":
            rule = RULE_OF.get(method, rule)
            if method == "smoothgrad":
                g = V.smoothgrad(net, x, target, method=MAP_OF[rule], n=n, noise=noise)
            else:
                g = V.gradient(net, x, target, rule=rule)               # (1, 3, 32, 32)
            how = render or ("absmax" if rule == "normal" else "rgb")
            numbers = {"rule": rule, "render": how, "max_abs": float(np.abs(g).max())}
            return V.render_map(g, how)[0], numbers
        if method in ("lrp", "integrated_gradients"):                   # signed, per pixel
            if method == "lrp":                                          # epsilon 0.25
                r = V.lrp(net, x, target, epsilon=0.25)                  # (1, 3, 32, 32)
            else:                                                        # 32 steps from 0
                r = V.integrated_gradients(net, x, target, steps=32)
            per_pixel = r[0].sum(axis=0)                                 # (32, 32)
            scale = max(float(np.abs(per_pixel).max()), 1e-12)
            picture = matplotlib.colormaps["RdBu_r"](0.5 + 0.5 * per_pixel / scale)[..., :3]
            return picture, {"sum": float(r.sum()), "max_abs": scale}
        if method == "gradcam":
            layer = layer or default_layer(net)
            cam = V.gradcam(net, x, target, layer=layer)                # (1, h, w)
            up = V.upsample(cam, x.shape[2:])[0]                         # (32, 32)
            heat = up / up.max() if up.max() > 0 else up
            return V.overlay(self.rgb(source, id), heat), {"layer": layer, "max": float(cam.max())}
        prob, base = V.occlusion(net, x, target, size=size, stride=stride)   # (1, OH, OW), (1,)
        OH, OW = prob.shape[1:]
        # each pixel shows the map's value for the square whose centre is nearest to it
        centre = np.arange(32) - (size - 1) / 2
        rows = np.clip(np.round(centre / stride).astype(int), 0, OH - 1)
        cols = np.clip(np.round(centre / stride).astype(int), 0, OW - 1)
        heat = prob[0][rows][:, cols] / max(prob.max(), base[0], 1e-12)
        picture = V.overlay(self.rgb(source, id), 1 - heat, cmap="magma", alpha=0.6)
        i, j = np.unravel_index(int(prob[0].argmin()), (OH, OW))
        return picture, {"base": float(base[0]), "min": float(prob[0].min()),
                         "min_at": [int(i * stride), int(j * stride)], "size": size,
                         "stride": stride, "map": prob[0].round(6).tolist()}

    def occlude(self, source, id, target, y, x, size=8, randomized=None):
        """The class probability with a grey size x size square whose top-left corner is at
        (y, x), as occlusion() paints it (pixel value 0.5), and without the square."""
        if isinstance(target, tuple):
            raise ValueError("occlusion explains class probabilities; give a class, not a unit")
        if not 1 <= size <= 32:
            raise ValueError(f"occlusion: size must be in 1..32, got {size}")
        if not (0 <= y <= 32 - size and 0 <= x <= 32 - size):
            raise ValueError(f"occlusion: the square's corner must be in 0..{32 - size}, "
                             f"got ({y}, {x})")
        net, image = self.net(randomized), self.inputs(source, id)
        lo, hi = V.pixel_range(self.mean, self.std)                     # (3, 1, 1) each
        covered = image.copy()
        covered[:, :, y:y + size, x:x + size] = (lo + hi) / 2           # the normalised 0.5
        p = V.probabilities(net, np.concatenate([image, covered]))[:, target]   # (2,)
        return {"probability": float(p[1]), "base": float(p[0]), "y": y, "x": x, "size": size,
                "class": self.classes[target]}

    def sanity(self, source, id, method, target):
        """Spearman rank correlation of the method's map with the trained model's, after
        each step of the cascading randomisation (visualize.sanity_check)."""
        if method not in SANITY_METHODS:
            raise NotFound(f"the sanity check compares {', '.join(SANITY_METHODS)}, "
                           f"not {method!r}")
        steps, _, similarity = V.sanity_check(self.model, self.inputs(source, id), target,
                                              methods=[method])
        return {"method": method, "steps": steps,
                "similarity": [float(s) for s in similarity[method]]}

    # ------------------------------------------------------------------ class models

    def class_model_options(self, query):
        """The class_model() keyword options from the page's sliders (strings), checked."""
        options = dict(V.PRESETS["natural"])
        for key, (lo, hi) in CLASS_MODEL_RANGES.items():
            if key not in query or query[key] == "":
                continue
            kind = type(lo)
            try:
                value = kind(float(query[key])) if kind is int else float(query[key])
            except ValueError:
                raise ValueError(f"class model: {key} must be a number, got {query[key]!r}") from None
            if not lo <= value <= hi:
                raise ValueError(f"class model: {key} must be in {lo}..{hi}, got {value}")
            if key == "blur":
                options["blur_sigma"], options["blur_every"] = value, 4 if value > 0 else 0
            else:
                options[key] = value
        if "clip_range" in query:
            options["clip_range"] = query["clip_range"] not in ("0", "false", "off", "")
        return options

    def class_model_snapshots(self, target, options, seed=0):
        """Yield {step, rgb (32, 32, 3) in [0, 1], objective[, probability]} as the ascent
        goes on.

        class_model() is deterministic for a seed and its first s steps do not depend on how
        many follow, so the picture after s steps is class_model(steps=s). Snapshots come
        after 5, 10, 20, 40, ... steps and at the end: fewer than twice the steps of one run.
        """
        steps = options["steps"]
        schedule = [s for s in (5 * 2 ** i for i in range(12)) if s < steps] + [steps]
        for s in schedule:
            x, history = V.class_model(self.model, target, seed=seed, return_history=True,
                                       **{**options, "steps": s})
            snapshot = {"step": s, "steps": steps, "rgb": V.to_rgb(x, self.mean, self.std)[0],
                        "objective": float(history[-1, 0])}
            if not isinstance(target, tuple):
                snapshot["probability"] = float(V.probabilities(self.model, x)[0, target])
            yield snapshot

def _chw(a):
    """One image's layer output as (C, H, W): a fully connected layer's (C,) as (C, 1, 1)."""
    return a if a.ndim == 3 else a.reshape(a.shape[0], 1, 1)


def _integer(text, what):
    try:
        return int(text)
    except (TypeError, ValueError):
        raise NotFound(f"unknown {what} {text!r}: not a number") from None
