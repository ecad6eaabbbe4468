"""Exercise receptive_field (lesson 04): which input pixels a unit can see.

The student writes the lecture's recursion for the field's size and jump, and the exact
region of one unit, clipped at the borders. The properties hold both to
minicnn.visualize.receptive_field on random stacks of layers. The picture: the top-9
patches of conv4 channels in test images, cropped with the student's function, and the
field of one unit per layer drawn on an image.
"""
import numpy as np
from hypothesis import strategies as st

from minicnn.exercises.properties import Mismatch, Property, is_int, require

TITLE = "receptive fields: the recursion for their size, and one unit's region"
LESSON = "04_top9_and_receptive_fields"
FUNCTIONS = {
    "receptive_field_size": ("layers",),
    "receptive_field": ("layers", "y", "x", "input_hw"),
}

SKELETON = '''\
"""Exercise receptive_field: which input pixels can a unit see? (lesson 04)

"Each neuron is affected by some small patch in the layer below; we can recursively figure
out what patch in the input layer each neuron is affected by" (the lecture). Zeiler &
Fergus ("Visualizing and Understanding Convolutional Networks", ECCV 2014) crop their
top-9 image patches to exactly that patch, the unit's receptive field.

A network is given here as its layers that have a spatial extent, from the input up to
the unit's layer: `layers` is a list of (kernel, stride, padding) triples of ints, one per
convolution or pooling layer (ReLUs change nothing and are left out; a max-pool has
padding 0). Kernels are square, the same along height and width.

1. The size of the field, walking UP from the image. Keep r, the field's size in input
   pixels, and j, the jump: how many input pixels apart two neighbouring units of the
   current layer are. The image has r = 1, j = 1; a layer with kernel K and stride S sees
   K neighbouring units of the layer below, which are j apart:

       r  <-  r + (K - 1) * j          j  <-  j * S

   (That is the size of the field of a unit away from the border; padding does not
   change it.)

2. The region of one unit, walking DOWN from it. Unit (y, x) of a layer with kernel K,
   stride S and padding P reads rows y*S - P ... y*S - P + K - 1 of the layer below. As
   Python slice bounds [y0, y1), a range of rows [y0, y1) of a layer reads the rows

       y0  <-  y0 * S - P                  first row its first unit reads
       y1  <-  (y1 - 1) * S - P + K        one past the last row its last unit reads

   of the layer below, and the same for columns. Padding rows are zeros, not units: they
   see nothing further down. So clip the range to the rows that exist, 0 <= y0 and
   y1 <= (that layer's height), at EVERY layer on the way down, not only at the image.
   The heights come from walking up first: H <- (H + 2*P - K) // S + 1.

For minicnn's reference_net (3x3 convs, stride 1, padding 1; 2x2 pools, stride 2) a
conv1 unit sees 3x3 pixels, conv2 5x5, conv3 10x10, conv4 14x14 (lesson 04's table).

Check your work:    minicnn exercise check receptive_field
When every property passes, the checker crops the top-9 image patches of the shipped
net's conv4 channels with your receptive_field, and draws one unit's field per layer.
Only NumPy is needed (or none at all: this is arithmetic on ints).
"""
import numpy as np


def receptive_field_size(layers):
    """
    Inputs:
    - layers: list of (kernel, stride, padding), from the input up
    Returns (r, j): the receptive field's size (in input pixels, along one axis) of a
    unit of the last layer away from the border, and the jump j of that layer
    """
    raise NotImplementedError


def receptive_field(layers, y, x, input_hw):
    """
    Inputs:
    - layers: list of (kernel, stride, padding), from the input up
    - y, x: the unit's position in the last layer's output
    - input_hw: (H, W) of the input image
    Returns (y0, y1, x0, x1): image[:, y0:y1, x0:x1] is what the unit sees, clipped to the
    image and, on the way down, to every layer
    """
    raise NotImplementedError
'''


# ---- the reference solution ---------------------------------------------------------------

def receptive_field_size(layers):
    r, j = 1, 1
    for K, S, P in layers:
        r, j = r + (K - 1) * j, j * S
    return r, j


def receptive_field(layers, y, x, input_hw):
    sizes = [tuple(input_hw)]                      # (H, W) entering each layer
    for K, S, P in layers:
        H, W = sizes[-1]
        sizes.append(((H + 2 * P - K) // S + 1, (W + 2 * P - K) // S + 1))
    y0, y1, x0, x1 = y, y + 1, x, x + 1
    for (K, S, P), (H, W) in zip(reversed(layers), reversed(sizes[:-1])):
        y0, y1 = max(y0 * S - P, 0), min((y1 - 1) * S - P + K, H)
        x0, x1 = max(x0 * S - P, 0), min((x1 - 1) * S - P + K, W)
    return y0, y1, x0, x1


# ---- properties ---------------------------------------------------------------------------

def minicnn_net(layers):
    """The layers as a minicnn Sequential of 1-channel convolutions, named l1, l2, ..."""
    from minicnn.nn import Conv2d, Sequential
    return Sequential({f"l{k + 1}": Conv2d(1, 1, K, stride=S, padding=P)
                       for k, (K, S, P) in enumerate(layers)})


def sizes_up(layers, H, W):
    sizes = [(H, W)]
    for K, S, P in layers:
        H, W = (H + 2 * P - K) // S + 1, (W + 2 * P - K) // S + 1
        sizes.append((H, W))
    return sizes


@st.composite
def layer_stacks(draw, padding=True, border=False):
    """1-4 (kernel, stride, padding) layers. border: at least two, the first with stride >= 2
    and the last with padding: a stack where clipping at every layer matters."""
    n = draw(st.integers(2 if border else 1, 4))
    layers = []
    for k in range(n):
        last = border and k == n - 1
        K = draw(st.integers(3 if last else 1, 5))
        S = draw(st.integers(2 if border and k == 0 else 1, 3))
        # at most "same" padding, (K - 1) // 2: every window holds at least one real row
        P = draw(st.integers(1 if last else 0, (K - 1) // 2)) if padding else 0
        layers.append((K, S, P))
    return layers


@st.composite
def unit_cases(draw, padding=True, border=False):
    """A stack, an input size, and a unit of the last layer. border: the unit in the last row
    and column, and an input whose last rows the first layer's stride leaves out (there a
    range clipped at the image only would reach pixels no unit of the first layer reads)."""
    layers = draw(layer_stacks(padding, border))
    need = 1                                         # the smallest input with one output
    for K, S, P in reversed(layers):
        need = max(1, (need - 1) * S + K - 2 * P)
    H, W = need + draw(st.integers(0, 12)), need + draw(st.integers(0, 12))
    K, S, P = layers[0]
    if border:
        while (H + 2 * P - K) % S == 0:
            H += 1
        while (W + 2 * P - K) % S == 0:
            W += 1
    OH, OW = sizes_up(layers, H, W)[-1]
    if border:
        y, x = OH - 1, OW - 1
    else:
        y, x = draw(st.integers(0, OH - 1)), draw(st.integers(0, OW - 1))
    return {"layers": layers, "y": y, "x": x, "input_hw": (H, W)}


def check_size(fns, case):
    from minicnn.visualize import receptive_field_size as minicnn_size
    layers = case["layers"]
    result = fns.receptive_field_size(layers)
    require(isinstance(result, (tuple, list)) and len(result) == 2,
            f"receptive_field_size must return (r, j); it returned {result!r}")
    r, j = result
    expected = minicnn_size(minicnn_net(layers), f"l{len(layers)}")[0], int(np.prod(
        [S for _, S, _ in layers]))
    if (r, j) != expected:
        lines = [f"expected (r, j) = {expected}, yours {(r, j)}"]
        if j == expected[1] and r == 1 + sum(K - 1 for K, _, _ in layers):
            lines.append("it looks like your r ignores the jump: each layer adds (K - 1) * j, "
                         "with j the jump of the layer below it")
        elif j != expected[1]:
            lines.append("j is the product of all the strides so far (j <- j * S)")
        raise Mismatch("\n".join(lines))


def check_region(fns, case):
    from minicnn.visualize import receptive_field as minicnn_region
    layers, y, x, hw = case["layers"], case["y"], case["x"], case["input_hw"]
    result = fns.receptive_field(layers, y, x, hw)
    require(isinstance(result, (tuple, list)) and len(result) == 4 and all(
        is_int(v) for v in result), f"receptive_field must return four ints (y0, y1, x0, x1); "
                                    f"it returned {result!r}")
    expected = minicnn_region(minicnn_net(layers), f"l{len(layers)}", y, x, hw)
    if tuple(int(v) for v in result) == tuple(expected):
        return
    lines = [f"expected (y0, y1, x0, x1) = {tuple(expected)}, yours {tuple(result)}",
             "the layers' sizes on the way up: " + " -> ".join(
                 f"{H}x{W}" for H, W in sizes_up(layers, *hw))]
    unclipped = unclipped_region(layers, y, x)
    if tuple(result) == unclipped:
        lines.append("it looks like you did not clip the range to the rows that exist")
    elif tuple(result) == clipped_at_image_only(layers, y, x, hw):
        lines.append("it looks like you clipped at the image only: clip at every layer, since "
                     "a padding row of a layer in between hides the rows below it")
    elif tuple(result) == tuple(v + d for v, d in zip(expected, (0, -1, 0, -1))):
        lines.append("your y1 and x1 are one short: slice bounds end one past the last row")
    raise Mismatch("\n".join(lines))


def unclipped_region(layers, y, x):
    y0, y1, x0, x1 = y, y + 1, x, x + 1
    for K, S, P in reversed(layers):
        y0, y1 = y0 * S - P, (y1 - 1) * S - P + K
        x0, x1 = x0 * S - P, (x1 - 1) * S - P + K
    return y0, y1, x0, x1


def clipped_at_image_only(layers, y, x, hw):
    y0, y1, x0, x1 = unclipped_region(layers, y, x)
    return max(y0, 0), min(y1, hw[0]), max(x0, 0), min(x1, hw[1])


PROPERTIES = [
    Property("size: r <- r + (K - 1) j and j <- j S, from the input up",
             layer_stacks().map(lambda layers: {"layers": layers}),
             check_size, "start from r = 1, j = 1 (the image) and apply each layer in order, "
             "r first (it uses the jump of the layer below), then j."),
    Property("region without padding: rows y*j .. y*j + r of the input, likewise columns",
             unit_cases(padding=False), check_region,
             "walk down from [y, y + 1): y0 <- y0*S - P, y1 <- (y1 - 1)*S - P + K, one layer at "
             "a time from the unit's layer to the first."),
    Property("region with padding: clipped to the rows and columns that exist",
             unit_cases(), check_region,
             "compute the layers' sizes walking up (H <- (H + 2P - K) // S + 1); on the way down "
             "clip y0 >= 0 and y1 <= the height of the layer below, at every layer."),
    Property("region of a unit in the last row and column: clipped at every layer, not "
             "only at the image", unit_cases(border=True), check_region,
             "a window hanging over a layer's padding reads no unit there, and so nothing "
             "below it: clip y1 to the height of each layer on the way down, not only to H."),
]


# ---- the picture ----------------------------------------------------------------------------

def geometry(model, layer):
    """The (kernel, stride, padding) triples of the conv and pool layers up to `layer`."""
    from minicnn.nn import Conv2d, MaxPool2d
    layers = []
    for name in model.names[:model.names.index(layer) + 1]:
        m = model[name]
        if isinstance(m, Conv2d):
            KH, KW = m.kernel_size
            layers.append((int(KH), int(m.stride), int(m.padding)))
        elif isinstance(m, MaxPool2d):
            layers.append((int(np.atleast_1d(m.kernel_size)[0]), int(np.atleast_1d(m.stride)[0]),
                           0))
    return layers


def picture(fns, out, data, notify):
    """One unit's field per layer on an image, and (with CIFAR-10) conv4's top-9 patches,
    both cropped with the student's receptive_field."""
    import minicnn
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from minicnn import visualize as vis
    from minicnn.data import DataError, load_cifar10
    from minicnn.exercises import pictures
    from minicnn.visualize.render import tile
    from minicnn.visualize.top_patches import patch_block
    model = pictures.shipped()
    shown = pictures.images(model, data, count=1)
    layers = ["conv1", "conv2", "pool1", "conv3", "conv4", "pool2"]
    fig = Figure(figsize=(11, 4.6))
    grid = fig.add_gridspec(1, 2, width_ratios=[1, 2.3])
    ax = fig.add_subplot(grid[0])
    ax.imshow(shown.rgb[0], interpolation="nearest")
    colours = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
    for name, colour in zip(layers, colours):
        OH, OW = vis.output_size(model, name)
        y0, y1, x0, x1 = fns.receptive_field(geometry(model, name), OH // 2, OW // 2, (32, 32))
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=2,
                               edgecolor=colour, label=f"{name}: {y1 - y0}x{x1 - x0}"))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.02), ncol=2)
    ax.set_title("the field of the centre unit of each layer", fontsize=9)
    ax.set_axis_off()
    text = "your receptive_field drew the field of one unit per layer"
    try:
        cifar = load_cifar10(data, download=False, progress=False)
    except DataError:
        cifar = None
    ax = fig.add_subplot(grid[1])
    ax.set_axis_off()
    if cifar is not None:
        pick = np.sort(np.random.default_rng(0).permutation(len(cifar.test_x))[:1000])
        x_all = cifar.test_x[pick]
        with minicnn.plain(False):      # the checker's own scan: the fast route
            top = vis.top_activations(model, x_all, "conv4", k=9)
        channels = list(range(16))
        size = 14
        blocks = []
        for c in channels:
            crops = []
            for n, y, x in zip(top.index[c], top.y[c], top.x[c]):
                y0, y1, x0, x1 = fns.receptive_field(geometry(model, "conv4"), int(y), int(x),
                                                     (32, 32))
                crops.append(x_all[n, :, y0:y1, x0:x1])
            blocks.append(patch_block(crops, size))
        ax.imshow(tile(np.stack(blocks), ncols=8, pad=3), interpolation="nearest")
        ax.set_title("conv4 channels 0-15: the top-9 patches of 1,000 test images, cropped by "
                     "your receptive_field", fontsize=9)
        text += " and cropped conv4's top-9 patches of 1,000 CIFAR-10 test images"
    else:
        ax.text(0.5, 0.5, "top-9 patches need CIFAR-10:\n--data PATH or MINICNN_DATA",
                ha="center", va="center", fontsize=10)
        text += " (no CIFAR-10 at hand for the top-9 patches: pass --data PATH or set MINICNN_DATA)"
    fig.tight_layout()
    return pictures.save(fig, out), text
