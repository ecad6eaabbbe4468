"""Exercise relu_rules (lesson 08): ReLU forward, and its three backward rules.

The student writes relu_forward and the normal, deconvnet and guided rules; the properties
hold them to minicnn/ops/relu.py and, for the normal rule, to central differences. The
picture: saliency, deconvnet and guided-backprop maps of test images, drawn by the
shipped net with the student's ReLU in every ReLU layer.
"""
import numpy as np
from hypothesis import strategies as st

from minicnn.exercises.properties import (
    Property,
    compare,
    decimals,
    numerical_gradient,
    off_zero,
    require,
    seeds,
)
from minicnn.ops import relu as ops_relu

TITLE = "ReLU forward and its three backward rules: normal, deconvnet, guided"
LESSON = "08_three_relu_rules"
FUNCTIONS = {
    "relu_forward": ("x",),
    "relu_backward_normal": ("x", "dout"),
    "relu_backward_guided": ("x", "dout"),
    "relu_backward_deconv": ("x", "dout"),
}

SKELETON = '''\
"""Exercise relu_rules: ReLU forward, and the three ways back through it (lesson 08).

Forward, a ReLU is max(x, 0). Backward, a signal `dout` arrives from above and is passed
down to x. The lecture's gradient pictures differ in this one place only:

- normal: the true gradient (backprop; the saliency maps of Simonyan, Vedaldi & Zisserman,
  "Deep Inside Convolutional Networks", ICLR 2014 workshop). Pass dout where the INPUT x
  was positive:
      dx = dout * [x > 0]
- deconv: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (ECCV
  2014). The deconvnet runs a ReLU on the way down: pass dout where the SIGNAL is
  positive, whatever x was:
      dx = max(dout, 0)
- guided: Springenberg, Dosovitskiy, Brox & Riedmiller, "Striving for Simplicity: The All
  Convolutional Net" (ICLR 2015 workshop). Both conditions:
      dx = max(dout, 0) * [x > 0]

    dout   = [ 2, -1,  3, -4]
    x      = [ 1,  1, -1, -1]
    normal = [ 2, -1,  0,  0]
    deconv = [ 2,  0,  3,  0]
    guided = [ 2,  0,  0,  0]

x is the ReLU's INPUT, as saved by the forward pass (not its output). x and dout are
float arrays of any shape, the same for both; every function returns an array of that
shape. Leave x and dout as they are: minicnn keeps x for the backward pass, so writing
into it (x[x < 0] = 0, or np.maximum(x, 0, out=x)) would change what backward sees.

Check your work:    minicnn exercise check relu_rules
When every property passes, the checker plugs your four functions into the shipped net's
ReLUs and draws saliency, deconvnet and guided-backprop maps of test images with them.
Only NumPy is needed; try your functions under `if __name__ == "__main__":` at the bottom.
"""
import numpy as np


def relu_forward(x):
    """out = max(x, 0), elementwise.

    Inputs:
    - x: array of any shape
    Returns out: an array of x's shape
    """
    raise NotImplementedError


def relu_backward_normal(x, dout):
    """The true gradient: d max(x, 0) / dx is 1 where x > 0 and 0 where x < 0.

    Inputs:
    - x: the ReLU's input from the forward pass; dout: the gradient from above, same shape
    Returns dx: dout where x > 0, else 0
    Hint: a boolean array used in arithmetic counts as 1 and 0.
    """
    raise NotImplementedError


def relu_backward_guided(x, dout):
    """Guided backpropagation (Springenberg et al. 2015): the positive part of dout, and
    only where x > 0.

    Returns dx: max(dout, 0) where x > 0, else 0
    """
    raise NotImplementedError


def relu_backward_deconv(x, dout):
    """The deconvnet (Zeiler & Fergus 2014): the positive part of dout, whatever x was.

    Returns dx: max(dout, 0) (x is not used; it is passed so that all three rules can be
    swapped for one another)
    """
    raise NotImplementedError


if __name__ == "__main__":
    x = np.array([1.0, 1.0, -1.0, -1.0])
    dout = np.array([2.0, -1.0, 3.0, -4.0])
    print("normal", relu_backward_normal(x, dout))      # [ 2. -1.  0.  0.]
'''


# ---- the reference solution ---------------------------------------------------------------

def relu_forward(x):
    return np.maximum(x, 0)


def relu_backward_normal(x, dout):
    return dout * (x > 0)


def relu_backward_guided(x, dout):
    return np.maximum(dout, 0) * (x > 0)


def relu_backward_deconv(x, dout):
    return np.maximum(dout, 0)


# ---- properties ---------------------------------------------------------------------------

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@st.composite
def forward_cases(draw):
    rng = np.random.default_rng(draw(seeds))
    return {"x": decimals(rng, draw(shapes))}           # 0 included: max(0, 0) = 0 is fine


@st.composite
def backward_cases(draw):
    """x and dout off 0 (no kink), and the first four entries the four sign combinations of
    the docstring's table, so that the three rules always differ on a case."""
    rng = np.random.default_rng(draw(seeds))
    shape = draw(shapes.filter(lambda shape: np.prod(shape) >= 4))
    x, dout = np.abs(off_zero(rng, shape)), np.abs(off_zero(rng, shape))
    x.reshape(-1)[:4] *= [1, 1, -1, -1]
    dout.reshape(-1)[:4] *= [1, -1, 1, -1]
    rest = np.unravel_index(np.arange(4, x.size), shape)
    x[rest] *= rng.choice([-1.0, 1.0], size=x.size - 4)
    dout[rest] *= rng.choice([-1.0, 1.0], size=x.size - 4)
    return {"x": x, "dout": dout}


def check_forward(fns, case):
    x = case["x"]
    compare("out", fns.relu_forward(x), ops_relu.relu_forward(x), "relu_forward",
            looks_like=[("yours is |x|: negative inputs must give 0, not -x", np.abs(x)),
                        ("yours is min(x, 0): the ReLU keeps the positive part",
                         np.minimum(x, 0))])


def check_forward_untouched(fns, case):
    changed = fns.relu_forward.changes_arguments(["x"], case["x"])
    require(not changed, "relu_forward wrote into its input x: minicnn keeps x for the "
                         "backward pass, so the backward rules would see max(x, 0) instead")


def rules_for(x, dout):
    return {"normal": dout * (x > 0), "deconv": np.maximum(dout, 0),
            "guided": np.maximum(dout, 0) * (x > 0), "dout itself": dout,
            "the positive part of x": np.maximum(x, 0) * (dout != 0)}


def looks_like_rule(mine, x, dout, why):
    return [(f"your {mine} rule is the {rule} rule{why.get(rule, '')}", value)
            for rule, value in rules_for(x, dout).items() if rule != mine]


def check_normal(fns, case):
    x, dout = case["x"], case["dout"]
    expected = numerical_gradient(lambda x: ops_relu.relu_forward(x), {"x": x}, "x", dout)
    compare("dx", fns.relu_backward_normal(x, dout), expected, "relu_backward_normal",
            rtol=1e-5, looks_like=looks_like_rule("normal", x, dout, {
                "guided": ": it drops negative dout, which the true gradient keeps",
                "deconv": ": it looks at the sign of dout instead of x"}))


def check_deconv(fns, case):
    x, dout = case["x"], case["dout"]
    compare("dx", fns.relu_backward_deconv(x, dout), ops_relu.relu_backward_deconv(x, dout),
            "relu_backward_deconv", looks_like=looks_like_rule("deconv", x, dout, {
                "guided": ": it also looks at x, which the deconvnet ignores",
                "normal": ": it looks at x instead of the sign of dout"}))


def check_guided(fns, case):
    x, dout = case["x"], case["dout"]
    compare("dx", fns.relu_backward_guided(x, dout), ops_relu.relu_backward_guided(x, dout),
            "relu_backward_guided", looks_like=looks_like_rule("guided", x, dout, {
                "normal": ": it also passes negative dout (guided drops it)",
                "deconv": ": it ignores x (guided also needs x > 0)"}))


def check_backward_untouched(fns, case):
    for rule in ("normal", "guided", "deconv"):
        name = f"relu_backward_{rule}"
        changed = getattr(fns, name).changes_arguments(["x", "dout"], case["x"], case["dout"])
        require(not changed, f"{name} wrote into its argument {' and '.join(changed)}; "
                             f"return a new array instead")


PROPERTIES = [
    Property("relu_forward is max(x, 0), elementwise, for any shape", forward_cases(),
             check_forward, "out = np.maximum(x, 0) keeps x's shape; 0 where x < 0."),
    Property("relu_forward leaves x as it was", forward_cases(), check_forward_untouched,
             "compute a new array (np.maximum(x, 0)) rather than writing into x."),
    Property("normal rule: the true gradient, equal to central differences of max(x, 0)",
             backward_cases(), check_normal,
             "the true gradient passes dout, of either sign, where the input x was positive: "
             "dout * (x > 0)."),
    Property("deconv rule: the positive part of dout, whatever x was", backward_cases(),
             check_deconv, "the deconvnet rectifies the signal: np.maximum(dout, 0); x plays "
             "no part."),
    Property("guided rule: the positive part of dout, only where x > 0", backward_cases(),
             check_guided, "guided backprop needs both conditions: np.maximum(dout, 0) * (x > 0)."),
    Property("the backward rules leave x and dout as they were", backward_cases(),
             check_backward_untouched, "return a new array; do not assign into x or dout."),
]


# ---- the picture ----------------------------------------------------------------------------

def picture(fns, out, data, notify):
    """Saliency, deconvnet and guided backprop of four test images, every ReLU of the shipped
    net running the student's forward and rules."""
    from minicnn import route
    from minicnn import visualize as vis
    from minicnn.exercises import pictures
    model = pictures.shipped()
    shown = pictures.images(model, data, count=4)
    yours = {ops_relu.relu_forward: fns.relu_forward,
             ops_relu.relu_backward_normal: fns.relu_backward_normal,
             ops_relu.relu_backward_deconv: fns.relu_backward_deconv,
             ops_relu.relu_backward_guided: fns.relu_backward_guided}
    maps = {}
    with route.replaced(yours):
        for rule in ("normal", "deconv", "guided"):
            notify(("example",))
            maps[rule] = vis.gradient(model, shown.x, shown.target, rule=rule)
    with route.plain():
        same = vis.gradient(model, shown.x, shown.target, rule="guided")
    panels = [[shown.rgb[n]] + [vis.render_map(maps[r], "rgb")[n] for r in maps]
              for n in range(len(shown.x))]
    fig = vis.panel_grid(panels, row_titles=shown.titles,
                         col_titles=["image", "saliency (normal)", "deconvnet", "guided backprop"],
                         title="your ReLU rules in the shipped net: d logit / d image")
    path = pictures.save(fig, out)
    diff = np.abs(maps["guided"] - same).max() / max(np.abs(same).max(), 1e-30)
    return path, pictures.said(shown, f"your three rules drew the gradient maps of {len(shown.x)} {shown.source} "
                  f"(your guided maps differ from minicnn's by {diff:.1e} of the largest value)")
