"""Modules: parameter names and PyTorch layouts, state dicts, initialisation, and what the
visualizations rely on: activations, upto, and the gradient of a unit with respect to the
input (minicnn.visualize.gradient, checked here against a hand-made one-hot backward)."""
import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn import nn
from minicnn.models import reference_net
from minicnn.tensor import Tensor
from minicnn.visualize.attribution import gradient, unit_gradient

pytestmark = pytest.mark.usefixtures("route")     # every test on both routes

REFERENCE_SHAPES = [
    ("conv1.weight", (32, 3, 3, 3)), ("conv1.bias", (32,)),
    ("conv2.weight", (32, 32, 3, 3)), ("conv2.bias", (32,)),
    ("conv3.weight", (64, 32, 3, 3)), ("conv3.bias", (64,)),
    ("conv4.weight", (64, 64, 3, 3)), ("conv4.bias", (64,)),
    ("fc1.weight", (256, 4096)), ("fc1.bias", (256,)),
    ("fc2.weight", (10, 256)), ("fc2.bias", (10,)),
]


def randn(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.fixture(scope="module")
def net():
    minicnn.manual_seed(0)
    net = reference_net()
    rng = np.random.default_rng(1)
    for layer in (net.conv1, net.conv2, net.conv3, net.conv4, net.fc1, net.fc2):
        layer.bias.data = (0.1 * rng.standard_normal(layer.bias.shape)).astype(np.float32)
    return net


def test_reference_net_parameter_names_and_layouts(net):
    assert [(name, p.shape) for name, p in net.named_parameters()] == REFERENCE_SHAPES
    assert all(p.requires_grad and p.dtype == np.float32 for p in net.parameters())
    assert [(name, a.shape) for name, a in net.state_dict().items()] == REFERENCE_SHAPES


def test_state_dict_round_trip(net):
    minicnn.manual_seed(123)
    other = reference_net()
    x = Tensor(randn(1, 3, 32, 32))
    assert not np.allclose(other(x).data, net(x).data)
    other.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(other(x).data, net(x).data)
    for name, value in other.state_dict().items():
        np.testing.assert_array_equal(value, net.state_dict()[name])


def test_state_dict_holds_copies():
    layer = nn.Linear(3, 2)
    state = layer.state_dict()
    state["weight"][:] = 7
    assert not (layer.weight.data == 7).any()
    layer.load_state_dict(state)
    state["weight"][:] = 9                                 # loading copied too
    assert (layer.weight.data == 7).all()


def test_load_state_dict_keeps_the_parameter_dtype():
    layer = nn.Linear(3, 2)
    layer.load_state_dict({"weight": np.ones((2, 3)), "bias": np.zeros(2)})   # float64 arrays
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32


def test_flatten_is_c_h_w_order():
    x = randn(2, 3, 4, 5)
    np.testing.assert_array_equal(nn.Flatten()(Tensor(x)).data, x.reshape(2, -1))
    np.testing.assert_array_equal(F.flatten(Tensor(x)).data[1, :5], x[1, 0, 0, :])   # W varies fastest


@pytest.mark.parametrize("make, fan_in", [
    (lambda: nn.Linear(4096, 512), 4096),
    (lambda: nn.Conv2d(64, 256, 3), 64 * 9),
    (lambda: nn.Conv2d(32, 1024, (1, 5)), 32 * 5),
])
def test_he_init(make, fan_in):
    """Weights ~ N(0, 2 / fan_in): with >100k samples the std is within 1%, the mean near 0."""
    minicnn.manual_seed(0)
    layer = make()
    w = layer.weight.data
    assert w.size > 100_000
    assert w.std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.01)
    assert abs(w.mean()) < 0.01 * np.sqrt(2 / fan_in)
    np.testing.assert_array_equal(layer.bias.data, 0)


def test_manual_seed_makes_init_repeatable():
    minicnn.manual_seed(42)
    a = reference_net().state_dict()
    minicnn.manual_seed(42)
    b = reference_net().state_dict()
    minicnn.manual_seed(43)
    c = reference_net().state_dict()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["conv1.weight"], c["conv1.weight"])


def test_sequential_naming_and_indexing():
    relu = nn.ReLU()
    net = nn.Sequential({"fc": nn.Linear(3, 2), "relu": relu})
    assert net.names == ["fc", "relu"] and len(net) == 2
    assert net["relu"] is relu and net[1] is relu and net.relu is relu
    positional = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    assert [name for name, _ in positional.named_parameters()] == [
        "0.weight", "0.bias", "2.weight", "2.bias"]


def test_activations_of_the_reference_net(net):
    x = Tensor(randn(2, 3, 32, 32))
    acts = net.activations(x)
    assert list(acts) == net.names
    expected = {"conv1": (2, 32, 32, 32), "relu1": (2, 32, 32, 32), "conv2": (2, 32, 32, 32),
                "pool1": (2, 32, 16, 16), "conv3": (2, 64, 16, 16), "conv4": (2, 64, 16, 16),
                "pool2": (2, 64, 8, 8), "flatten": (2, 4096), "fc1": (2, 256), "relu5": (2, 256),
                "fc2": (2, 10)}
    for name, shape in expected.items():
        assert acts[name].shape == shape, name
    np.testing.assert_array_equal(acts["fc2"].data, net(x).data)
    np.testing.assert_array_equal(acts["relu1"].data, np.maximum(acts["conv1"].data, 0))


def test_activations_of_chosen_layers_stop_early(net):
    acts = net.activations(Tensor(randn(1, 3, 32, 32)), names=["pool1", "conv1"])
    assert set(acts) == {"pool1", "conv1"} and acts["pool1"].shape == (1, 32, 16, 16)


def test_upto_shares_weights_and_matches_activations(net):
    x = Tensor(randn(1, 3, 32, 32))
    head = net.upto("pool1")
    assert head.names == ["conv1", "relu1", "conv2", "relu2", "pool1"]
    assert head.conv1.weight is net.conv1.weight
    np.testing.assert_array_equal(head(x).data, net.activations(x)["pool1"].data)


def manual_input_gradient(net, x, dout):
    xt = Tensor(x, requires_grad=True)
    net(xt).backward(dout)
    return xt.grad


@pytest.fixture(scope="module")
def small_vgg():
    """The reference net's layout at a quarter of the size, for (N, 3, 16, 16) images."""
    minicnn.manual_seed(0)
    net = nn.Sequential({
        "conv1": nn.Conv2d(3, 4, 3, padding=1), "relu1": nn.ReLU(),
        "conv2": nn.Conv2d(4, 4, 3, padding=1), "relu2": nn.ReLU(),
        "pool1": nn.MaxPool2d(2),                                   # (N, 4, 8, 8)
        "conv3": nn.Conv2d(4, 6, 3, padding=1), "relu3": nn.ReLU(),
        "pool2": nn.MaxPool2d(2),                                   # (N, 6, 4, 4)
        "flatten": nn.Flatten(),
        "fc1": nn.Linear(6 * 4 * 4, 8), "relu4": nn.ReLU(),
        "fc2": nn.Linear(8, 5),
    }).double()
    rng = np.random.default_rng(1)
    for layer in (net.conv1, net.conv2, net.conv3, net.fc1, net.fc2):
        layer.bias.data = 0.1 * rng.standard_normal(layer.bias.shape)
    return net


def test_unit_gradient_of_a_class_score(small_vgg):
    x = randn(2, 3, 16, 16, dtype=np.float64)
    dout = np.zeros((2, 5))
    dout[:, 3] = 1
    expected = manual_input_gradient(small_vgg, x, dout)
    assert np.abs(expected).max() > 0
    np.testing.assert_array_equal(gradient(small_vgg, x, 3), expected)


def test_unit_gradient_of_the_reference_net(net):
    x = randn(1, 3, 32, 32)
    dout = np.zeros((1, 10), dtype=np.float32)
    dout[0, 7] = 1
    got = gradient(net, Tensor(x), 7)
    assert got.shape == x.shape and got.dtype == np.float32
    np.testing.assert_array_equal(got, manual_input_gradient(net, x, dout))


def test_unit_gradient_of_a_conv_unit(small_vgg):
    x = randn(2, 3, 16, 16, dtype=np.float64)
    dout = np.zeros((2, 6, 8, 8))
    dout[:, 5, 3, 5] = 1
    expected = manual_input_gradient(small_vgg.upto("conv3"), x, dout)
    got = gradient(small_vgg, x, ("conv3", 5, 3, 5))
    np.testing.assert_array_equal(got, expected)
    # a conv3 unit at (3, 5) sees a 10x10 patch of the input: rows 2..11, columns 6..15
    rows, cols = np.nonzero(np.abs(got).sum(axis=(0, 1)))
    assert rows.min() >= 2 and rows.max() <= 11 and cols.min() >= 6 and cols.max() <= 15


def test_unit_gradient_of_a_whole_channel(small_vgg):
    x = randn(1, 3, 16, 16, dtype=np.float64)
    dout = np.zeros((1, 4, 8, 8))
    dout[:, 2] = 1                                                   # the channel's sum
    np.testing.assert_array_equal(gradient(small_vgg, x, ("pool1", 2)),
                                  manual_input_gradient(small_vgg.upto("pool1"), x, dout))


def test_unit_gradient_one_unit_per_image(small_vgg):
    x = randn(3, 3, 16, 16, dtype=np.float64)
    units = [2, 4, 2]
    got = gradient(small_vgg, x, units)
    for n, unit in enumerate(units):
        np.testing.assert_allclose(got[n:n + 1], gradient(small_vgg, x[n:n + 1], unit),
                                   rtol=1e-10, atol=1e-14)
    assert not np.allclose(got[0], gradient(small_vgg, x[:1], 4))
    conv_units = [(0, 1, 1), (5, 3, 5), (5, 3, 5)]
    got = unit_gradient(small_vgg, x, "conv3", conv_units)
    for n, unit in enumerate(conv_units):
        alone = unit_gradient(small_vgg, x[n:n + 1], "conv3", [unit])
        np.testing.assert_allclose(got[n:n + 1], alone, rtol=1e-10, atol=1e-14)


def test_unit_gradient_of_image_n_depends_only_on_image_n(small_vgg):
    x = randn(3, 3, 16, 16, dtype=np.float64)
    g = gradient(small_vgg, x, 1)
    changed = x.copy()
    changed[1] = randn(3, 16, 16, seed=5, dtype=np.float64)
    g_changed = gradient(small_vgg, changed, 1)
    np.testing.assert_allclose(g_changed[[0, 2]], g[[0, 2]], rtol=1e-10, atol=1e-14)
    assert not np.allclose(g_changed[1], g[1])


def test_unit_gradient_follows_the_backward_rule(small_vgg):
    x = randn(1, 3, 16, 16, dtype=np.float64)
    normal = gradient(small_vgg, x, 4)
    guided = gradient(small_vgg, x, 4, rule="guided")
    assert not np.allclose(normal, guided)


def test_unit_gradient_leaves_parameter_grads_alone(small_vgg):
    x = np.random.default_rng(3).standard_normal((2, 3, 16, 16))
    small_vgg.zero_grad()
    gradient(small_vgg, x, 1)
    assert all(p.grad is None for p in small_vgg.parameters())
    assert all(p.requires_grad for p in small_vgg.parameters())      # never switched off


def test_float64_input_to_a_float32_layer_computes_in_float32():
    rng = np.random.default_rng(4)
    for layer, shape in ((nn.Conv2d(2, 3, 3, padding=1), (2, 2, 5, 5)), (nn.Linear(4, 3), (2, 4))):
        x = Tensor(rng.standard_normal(shape), requires_grad=True)            # float64
        out = layer(x)
        assert out.dtype == np.float32
        out.sum().backward()
        assert x.grad.dtype == np.float64 and layer.weight.grad.dtype == np.float32
        x32 = Tensor(x.data.astype(np.float32), requires_grad=True)
        layer(x32).sum().backward()
        np.testing.assert_allclose(x.grad, x32.grad, rtol=1e-5)


def test_max_pool_with_rectangular_window_and_stride():
    x = np.arange(2 * 6 * 6, dtype=np.float64).reshape(1, 2, 6, 6)
    out = nn.MaxPool2d((2, 3))(Tensor(x))                   # stride defaults to (2, 3)
    assert out.shape == (1, 2, 3, 2)
    expected = x.reshape(1, 2, 3, 2, 2, 3).max(axis=(3, 5))   # max over each 2x3 block
    np.testing.assert_array_equal(out.data, expected)
    assert F.max_pool2d(Tensor(x), (2, 2), stride=(1, 2)).shape == (1, 2, 5, 3)


def test_backward_skips_gradients_nobody_asked_for():
    """An input that does not require grad gets none, and the op records that it needs none."""
    rng = np.random.default_rng(5)
    x = Tensor(rng.standard_normal((1, 2, 5, 5)))                        # no grad wanted
    w = Tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    out = F.conv2d(x, w, padding=1)
    assert out.ctx.needs_input_grad == (False, True, False)
    out.sum().backward()
    assert x.grad is None and w.grad.shape == w.shape
