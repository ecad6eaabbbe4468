"""Exercise guided_unit (lesson 07): guided backpropagation from one hidden unit.

The student writes the whole backward walk: a forward pass that keeps each ReLU's input,
a one-hot dout at the unit, the guided rule at every ReLU and each other layer's own
backward. The layers are handed over as objects (Layer, below) wrapping minicnn's plain
ops. The properties hold the result to minicnn.visualize.guided_backprop on random small
conv nets. The picture: guided backprop of four conv4 neurons of the shipped net.
"""
from types import SimpleNamespace

import numpy as np
from hypothesis import strategies as st

from minicnn.exercises.properties import Property, compare, decimals, seeds
from minicnn.ops import conv as ops_conv
from minicnn.ops import linear as ops_linear
from minicnn.ops import pool as ops_pool

TITLE = "guided backprop of one hidden unit: the backward walk, the guided rule at every ReLU"
LESSON = "07_guided_backprop"
FUNCTIONS = {"guided_backprop_unit": ("layers", "x", "unit")}

SKELETON = '''\
"""Exercise guided_unit: guided backpropagation of one hidden unit (lesson 07).

Springenberg, Dosovitskiy, Brox & Riedmiller, "Striving for Simplicity: The All
Convolutional Net" (ICLR 2015 workshop). The lecture: "we are only interested in what
image features the neuron detects ... So when propagating the gradient, we set all the
negative gradients to 0": at every ReLU on the way down,

    dx = max(dout, 0) * [x > 0]          x: that ReLU's input in the forward pass

while every other layer (convolution, max-pool with its switches, flatten, linear) keeps
its true backward.

Here you write the whole walk. The network comes as a list of layer objects, from the
image up to the unit's layer (the unit is in the output of layers[-1]). Each has

    layer.kind          "conv", "relu", "pool", "flatten" or "linear"
    layer.forward(x)    -> out; it remembers what its backward needs (the pool its
                        switches), so run forward through every layer before going back
    layer.backward(dout) -> dx, the layer's TRUE backward. For "relu" that is the normal
                        rule: do not use it; apply the guided rule yourself

1. Forward: out = x, then out = layer.forward(out) for each layer in order. Keep the
   input of every "relu" layer: the guided rule needs it.
2. The unit: dout has the last output's shape, 1 at the unit of EVERY image, else 0.
   unit is (channel, y, x) for a conv-shaped (N, C, H, W) output, (k,) for an (N, K) one:
   dout[(slice(None),) + tuple(unit)] = 1, that is dout[:, c, y, x] = 1.
3. Backward: for each layer in reverse order, dout = the guided rule at a ReLU (with
   that ReLU's saved input), dout = layer.backward(dout) otherwise.
4. Return dout: the map, the image's shape.

Check your work:    minicnn exercise check guided_unit
When every property passes, the checker hands your function the shipped net's layers and
draws the guided backprop of four conv4 neurons of a test image, as in lesson 07.
Only NumPy is needed.
"""
import numpy as np


def guided_backprop_unit(layers, x, unit):
    """
    Inputs:
    - layers: list of layer objects (see above), from the input to the unit's layer
    - x: (N, C, H, W) images
    - unit: a tuple of ints, (channel, y, x) or (k,): the unit in layers[-1]'s output
    Returns dx: (N, C, H, W), the guided backprop of that unit for every image
    """
    raise NotImplementedError
'''


# ---- the reference solution ---------------------------------------------------------------

def guided_backprop_unit(layers, x, unit):
    relu_inputs = []
    out = x
    for layer in layers:
        if layer.kind == "relu":
            relu_inputs.append(out)
        out = layer.forward(out)
    dout = np.zeros_like(out)
    dout[(slice(None),) + tuple(unit)] = 1           # the unit, in every image
    for layer in reversed(layers):
        if layer.kind == "relu":
            dout = np.maximum(dout, 0) * (relu_inputs.pop() > 0)
        else:
            dout = layer.backward(dout)
    return dout


# ---- the layers the student's function is given -------------------------------------------

class Layer:
    """One layer as the exercise sees it: kind, forward(x), backward(dout) (the true one),
    running minicnn's plain ops (minicnn/ops/) with a context of its own."""

    def __init__(self, kind, **params):
        self.kind, self.params, self.ctx = kind, params, None

    def __repr__(self):
        shapes = ", ".join(f"{k} {v.shape}" if isinstance(v, np.ndarray) else f"{k}={v}"
                           for k, v in self.params.items())
        return f"Layer({self.kind!r}{', ' if shapes else ''}{shapes})"

    def forward(self, x):
        self.ctx, p = SimpleNamespace(), self.params
        self.x_shape = np.shape(x)
        if self.kind == "conv":
            return ops_conv.conv2d_forward(self.ctx, x, p["w"], p["b"], p["stride"], p["padding"])
        if self.kind == "relu":
            self.x = x
            return np.maximum(x, 0)
        if self.kind == "pool":
            K = p["kernel"]
            return ops_pool.max_pool2d_forward(self.ctx, x, K, K, K, K)
        if self.kind == "flatten":
            return np.reshape(x, (len(x), -1))
        return ops_linear.linear_forward(self.ctx, x, p["w"], p["b"])

    def backward(self, dout):
        if self.ctx is None:
            raise RuntimeError(f"{self.kind} layer: backward() before forward(); run the "
                               f"forward pass through every layer first")
        if self.kind == "conv":
            return ops_conv.conv2d_backward(self.ctx, dout)[0]
        if self.kind == "relu":
            return dout * (self.x > 0)               # the normal rule: the true backward
        if self.kind == "pool":
            return ops_pool.max_pool2d_backward(self.ctx, dout)[0]
        if self.kind == "flatten":
            return np.reshape(dout, self.x_shape)
        return ops_linear.linear_backward(self.ctx, dout)[0]


def as_layers(model, upto):
    """A minicnn Sequential's layers up to `upto`, as Layer objects sharing its weights."""
    from minicnn import nn
    layers = []
    for name in model.names[:model.names.index(upto) + 1]:
        m = model[name]
        if isinstance(m, nn.Conv2d):
            layers.append(Layer("conv", w=m.weight.data, b=m.bias.data, stride=m.stride,
                                padding=m.padding))
        elif isinstance(m, nn.ReLU):
            layers.append(Layer("relu"))
        elif isinstance(m, nn.MaxPool2d):
            layers.append(Layer("pool", kernel=int(np.atleast_1d(m.kernel_size)[0])))
        elif isinstance(m, nn.Flatten):
            layers.append(Layer("flatten"))
        else:
            layers.append(Layer("linear", w=m.weight.data, b=m.bias.data))
    return layers


# ---- properties ---------------------------------------------------------------------------

@st.composite
def net_cases(draw, batch=False, end="conv", dense=False):
    """A random small conv net (conv-ReLU, maybe a pool, conv-ReLU, maybe flatten-linear),
    float64, as a minicnn Sequential; images; a unit of its last layer."""
    from minicnn import nn
    rng = np.random.default_rng(draw(seeds))
    N = draw(st.integers(2, 3)) if batch else 1
    C, F1, F2 = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pool = draw(st.booleans())
    H, W = draw(st.integers(4, 7)), draw(st.integers(4, 7))
    layers = {"conv1": nn.Conv2d(C, F1, 3, padding=1), "relu1": nn.ReLU()}
    if pool:
        layers["pool1"] = nn.MaxPool2d(2)
    layers.update({"conv2": nn.Conv2d(F1, F2, 3, padding=1), "relu2": nn.ReLU()})
    if dense:
        layers.update({"flatten": nn.Flatten(), "fc": nn.Linear(F2 * (H // 2 if pool else H)
                                                                * (W // 2 if pool else W), 3)})
    model = nn.Sequential(layers).double()
    for p in model.parameters():
        # biases 0.005 off the tenths: no unit's input is exactly 0 (the rule's x > 0)
        p.data = decimals(rng, p.shape) + (0.005 if p.ndim == 1 else 0)
    last = {"conv": "conv2", "relu": "relu2", "linear": "fc"}[end]
    OH, OW = (H // 2, W // 2) if pool else (H, W)
    if end == "linear":
        unit = (draw(st.integers(0, 2)),)
    else:
        unit = (draw(st.integers(0, F2 - 1)), draw(st.integers(0, OH - 1)),
                draw(st.integers(0, OW - 1)))
    return {"net": Net(model, last), "x": decimals(rng, (N, C, H, W)), "unit": unit}


class Net:
    """The case's network: shown by its layers; `layers()` makes fresh Layer objects."""

    def __init__(self, model, last):
        self.model, self.last = model, last

    def layers(self):
        return as_layers(self.model, self.last)

    def __repr__(self):
        return "[" + ", ".join(map(repr, self.layers())) + "]"


def check(fns, case):
    import minicnn
    from minicnn import visualize as vis
    net, x, unit = case["net"], case["x"], case["unit"]
    with minicnn.plain():
        expected = vis.guided_backprop(net.model, x, (net.last,) + tuple(unit))
        saliency = vis.saliency(net.model, x, (net.last,) + tuple(unit))
    layers = net.layers()
    first_only = expected.copy()
    first_only[1:] = 0
    compare("dx", fns.guided_backprop_unit(layers, x, unit), expected, "guided_backprop_unit",
            looks_like=[("your map is the true gradient (the normal rule at the ReLUs): "
                         "apply the guided rule max(dout, 0) * (x > 0) instead", saliency),
                        ("only the first image got its one-hot dout: set the unit in every "
                         "image, dout[:, c, y, x] = 1", first_only)])


PROPERTIES = [
    Property("one image, a conv unit: equals minicnn's guided backprop of the unit",
             net_cases(), check,
             "forward through every layer keeping each ReLU's input; dout = 1 at the unit; "
             "back through the layers in reverse, the guided rule at each ReLU."),
    Property("a unit after a ReLU: the guided rule at the unit's own ReLU too",
             net_cases(end="relu"), check,
             "when the last layer is a ReLU, the walk back starts with the guided rule at it, "
             "using the input it saw in the forward pass."),
    Property("a batch: every image gets the unit's map, each through its own switches",
             net_cases(batch=True), check,
             "dout[(slice(None),) + tuple(unit)] = 1 sets the unit in every image of the batch."),
    Property("a unit of a linear layer on top (unit = (k,)), through flatten",
             net_cases(end="linear", dense=True), check,
             "with an (N, K) output the unit is (k,): dout[:, k] = 1; flatten's backward "
             "reshapes dout back to the conv layer's shape."),
]


# ---- the picture ----------------------------------------------------------------------------

def picture(fns, out, data, notify):
    """Guided backprop of the four conv4 neurons that respond most to one test image."""
    import minicnn
    from minicnn import visualize as vis
    from minicnn.exercises import pictures
    model = pictures.shipped()
    shown = pictures.images(model, data, count=1)
    with minicnn.plain(), minicnn.no_grad():
        a = model.activations(minicnn.Tensor(shown.x), ["conv4"])["conv4"].data[0]   # (64, 16, 16)
    peaks = a.reshape(len(a), -1).max(axis=1)
    channels = np.argsort(-peaks, kind="stable")[:4]
    units = [(int(c),) + tuple(int(v) for v in np.unravel_index(np.argmax(a[c]), a[c].shape))
             for c in channels]
    maps, same = [], []
    for unit in units:
        notify(("example",))
        maps.append(np.asarray(fns.guided_backprop_unit(as_layers(model, "conv4"), shown.x, unit)))
        with minicnn.plain():
            same.append(vis.guided_backprop(model, shown.x, ("conv4",) + unit))
    maps, same = np.concatenate(maps), np.concatenate(same)
    fig = vis.image_grid(np.concatenate([shown.rgb[:1], vis.render_map(maps, "rgb")]), ncols=5,
                         titles=[shown.titles[0]] + [f"conv4 ch {c} at ({r}, {q})"
                                                     for c, r, q in units],
                         panel_size=1.5, title="your guided backprop of four conv4 neurons")
    path = pictures.save(fig, out)
    diff = np.abs(maps - same).max() / max(np.abs(same).max(), 1e-30)
    return path, pictures.said(shown, f"your guided_backprop_unit explained the four conv4 neurons that fire most "
                  f"on one of the {shown.source} (within {diff:.1e} of minicnn's)")
