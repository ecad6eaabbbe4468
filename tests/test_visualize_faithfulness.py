"""Deletion / insertion curves and class insensitivity, on toys whose right answer is known."""
import numpy as np
import pytest

from minicnn import nn
from minicnn.tensor import Tensor, no_grad
from minicnn.visualize import saliency, spearman
from minicnn.visualize.faithfulness import (
    MAP_METHODS,
    area,
    class_insensitivity,
    deletion_insertion,
    faithfulness,
)
from test_visualize_lrp import images, tiny_net


def linear_toy(seed=0):
    """Logit 0 = w . x, logit 1 = 0: the probability of class 0 is sigmoid(w . x), and
    setting pixel p to 0 (the mean colour) changes the logit by exactly -sum_c w_cp x_cp."""
    rng = np.random.default_rng(seed)
    net = nn.Sequential({"flatten": nn.Flatten(), "fc": nn.Linear(2 * 6 * 6, 2)}).double()
    net.fc.weight.data = np.vstack([rng.standard_normal(72) * 0.3, np.zeros(72)])
    net.fc.bias.data = np.zeros(2)
    x = rng.standard_normal((3, 2, 6, 6))
    return net, x


def test_the_exact_contributions_are_the_most_faithful_map_of_a_linear_model():
    """Deleting the pixels with the largest w x first lowers the logit fastest at every
    step (and inserting them first raises it fastest): no order does better, the reversed
    order does worst, a random one lies between. The probability is monotone in the logit,
    so the ranking of the areas is the same for both objectives."""
    net, x = linear_toy()
    w = net.fc.weight.data[0].reshape(2, 6, 6)
    exact = x * w
    orders = {"exact": exact, "random": np.random.default_rng(1).standard_normal(x.shape),
              "reversed": -exact}
    for objective in ("logit", "probability"):
        aucs = {name: deletion_insertion(net, x, 0, maps, steps=36, objective=objective,
                                         insertion_start="zeros")
                for name, maps in orders.items()}
        d = {name: a["deletion_auc"] for name, a in aucs.items()}
        i = {name: a["insertion_auc"] for name, a in aucs.items()}
        assert (d["exact"] < d["random"]).all() and (d["random"] < d["reversed"]).all(), d
        assert (i["exact"] > i["random"]).all() and (i["random"] > i["reversed"]).all(), i


def test_the_curves_start_and_end_where_they_should():
    net, x = linear_toy(seed=2)
    with no_grad():
        z = net(Tensor(x)).data[:, 0]
    curves = deletion_insertion(net, x, 0, x, steps=4, objective="logit", insertion_start="zeros")
    np.testing.assert_allclose(curves["deletion"][:, 0], z)          # nothing deleted yet
    np.testing.assert_allclose(curves["deletion"][:, -1], 0, atol=1e-12)   # all pixels at 0
    np.testing.assert_allclose(curves["insertion"][:, 0], 0, atol=1e-12)
    np.testing.assert_allclose(curves["insertion"][:, -1], z)
    np.testing.assert_allclose(area(np.array([[0.0, 1.0]])), [0.5])
    np.testing.assert_allclose(area(np.array([[1.0, 1.0, 1.0]])), [1.0])


def test_faithfulness_runs_every_map_method():
    net, x = tiny_net(seed=3, size=8), images(N=2, seed=4, size=8)
    result = faithfulness(net, x, [1, 2], steps=8)
    assert set(result) == set(MAP_METHODS)
    for name, aucs in result.items():
        for key in ("deletion_auc", "insertion_auc"):
            assert aucs[key].shape == (2,) and ((0 <= aucs[key]) & (aucs[key] <= 1)).all(), name


def test_class_insensitivity_is_1_for_proportional_scores_and_low_for_unrelated_ones():
    """Logits c_k * g(x) with c_k > 0 have proportional gradients: every class gives the
    same map (insensitivity 1). A linear model with independent weight rows gives maps as
    unrelated as its rows: near 0."""
    net = tiny_net(seed=5)
    net.fc2.weight.data = np.outer(np.arange(1, 11), net.fc2.weight.data[0])   # row k = (k+1) row 0
    x = images(N=2, seed=6)
    np.testing.assert_allclose(class_insensitivity(net, x, "saliency"), 1.0)
    net, x = linear_toy(seed=7)
    rng = np.random.default_rng(8)
    net.fc.weight.data = rng.standard_normal((2, 72))
    value = class_insensitivity(net, x, saliency, reduce="sum")
    assert np.abs(value).max() < 0.35, value
    per_pixel = net.fc.weight.data.reshape(2, 2, 36).sum(axis=1)   # the maps: rows summed over channels
    np.testing.assert_allclose(value, spearman(per_pixel[0], per_pixel[1]), rtol=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=0), "steps must be an integer >= 1"),
    (dict(objective="loss"), "objective must be 'probability' or 'logit'"),
    (dict(reduce="max"), "unknown reduce 'max'"),
    (dict(maps=np.zeros((3, 2, 5, 5))), "do not fit images"),
])
def test_bad_options(kwargs, message):
    net, x = linear_toy()
    maps = kwargs.pop("maps", x)
    with pytest.raises(ValueError, match=message):
        deletion_insertion(net, x, 0, maps, **kwargs)
