"""Captum's options that minicnn lacked: SmoothGrad's variants and absolute sigma, Grad-CAM's
signed / per-channel / any-layer / layer-input maps, Grad-CAM++, occlusion with rectangles,
per-axis strides, baseline images, logits and per-pixel attribution. Float64, small nets."""
import numpy as np
import pytest

from minicnn import nn
from minicnn.ops.loss import stable_log_softmax
from minicnn.tensor import Tensor, no_grad
from minicnn.visualize import gradcam, saliency, smoothgrad
from minicnn.visualize.attribution import smoothgrad_sq, vargrad
from minicnn.visualize.gradcam import gradcam_plus_plus, layer_and_gradient
from minicnn.visualize.occlusion import occlusion, occlusion_attribution
from test_visualize_lrp import images, tiny_net


# ---- SmoothGrad -------------------------------------------------------------------------------
def test_stdevs_is_the_absolute_sigma():
    net, x = tiny_net(seed=1), images(N=1, seed=2)
    fraction = 0.1
    sigma = fraction * (x.max() - x.min())
    np.testing.assert_allclose(smoothgrad(net, x, 3, n=6, noise=fraction),
                               smoothgrad(net, x, 3, n=6, stdevs=sigma), rtol=1e-12)
    np.testing.assert_allclose(smoothgrad(net, x, 3, n=3, stdevs=0.0), saliency(net, x, 3), rtol=1e-14)


def test_smoothgrad_sq_and_vargrad_are_the_moments_of_the_noisy_maps():
    net, x = tiny_net(seed=3), images(N=2, seed=4)
    n, sigma = 5, 0.3
    rng = np.random.default_rng(0)                 # the same noise as the functions draw
    eps = rng.standard_normal((n * 2,) + x.shape[1:]) * sigma
    maps = np.stack([saliency(net, x[[i % 2]] + eps[i], 3)[0] for i in range(n * 2)])
    maps = maps.reshape(n, 2, *x.shape[1:])        # copy k of image i is row k * N + i
    np.testing.assert_allclose(smoothgrad(net, x, 3, n=n, stdevs=sigma), maps.mean(0), rtol=1e-10)
    np.testing.assert_allclose(smoothgrad_sq(net, x, 3, n=n, stdevs=sigma), (maps ** 2).mean(0),
                               rtol=1e-10)
    np.testing.assert_allclose(vargrad(net, x, 3, n=n, stdevs=sigma), maps.var(0),
                               rtol=1e-8, atol=1e-12)


def test_bad_noise_options():
    with pytest.raises(ValueError, match="stdevs must be a number >= 0, got -1"):
        vargrad(tiny_net(), images(), 0, stdevs=-1)
    with pytest.raises(ValueError, match="unknown method 'lrp'"):
        smoothgrad_sq(tiny_net(), images(), 0, method="lrp")


# ---- Grad-CAM -----------------------------------------------------------------------------------
def test_signed_and_per_channel_maps():
    net, x = tiny_net(seed=5), images(seed=6)
    signed = gradcam(net, x, 2, layer="relu1", relu_attributions=False)
    np.testing.assert_array_equal(gradcam(net, x, 2, layer="relu1"), np.maximum(signed, 0))
    assert (signed < 0).any()
    channels = gradcam(net, x, 2, layer="relu1", relu_attributions=False, per_channel=True)
    assert channels.shape == (3, 3, 4, 4)
    np.testing.assert_allclose(channels.sum(axis=1), signed, rtol=1e-12)
    A, dA = layer_and_gradient(net, x, 2, "relu1")
    np.testing.assert_allclose(channels, dA.mean(axis=(2, 3), keepdims=True) * A, rtol=1e-12)


def test_a_linear_layer_is_read_as_1x1_maps():
    net, x = tiny_net(seed=7), images(seed=8)
    with no_grad():
        fc1 = net.upto("relu2")(Tensor(x)).data                  # (N, 5)
    g = np.stack([np.eye(10)[4] @ net.fc2.weight.data] * 3)       # d logit_4 / d relu2 = row 4
    cam = gradcam(net, x, 4, layer="relu2", relu_attributions=False)
    assert cam.shape == (3, 1, 1)
    np.testing.assert_allclose(cam[:, 0, 0], (g * fc1).sum(axis=1), rtol=1e-12)


def test_attribution_to_a_layers_input():
    net, x = tiny_net(seed=9), images(seed=10)
    np.testing.assert_allclose(gradcam(net, x, 1, layer="pool1", attribute_to_layer_input=True),
                               gradcam(net, x, 1, layer="relu1"), rtol=1e-12)
    # the first layer's input is the image: the channels are its colour planes
    image_cam = gradcam(net, x, 1, layer="conv1", relu_attributions=False,
                        attribute_to_layer_input=True)
    g = saliency(net, x, 1)
    np.testing.assert_allclose(image_cam, (g.mean(axis=(2, 3), keepdims=True) * x).sum(axis=1),
                               rtol=1e-12)
    # the score's own layer works on its input only
    gradcam(net, x, 1, layer="fc2", attribute_to_layer_input=True)
    with pytest.raises(ValueError, match="must come after"):
        gradcam(net, x, 1, layer="fc2")


def test_grad_cam_plus_plus_is_the_general_formula_for_the_exponential_output():
    """alpha = Y'' / (2 Y'' + sum_ab A_ab Y''') with Y = exp(S) (the paper's eq. 10), the
    derivatives taken numerically along each A_ij; S = fc(A) is linear in A (what the closed
    form assumes), and w_k = sum alpha relu(dY/dA) / exp(S)."""
    rng = np.random.default_rng(11)
    net = nn.Sequential({"relu": nn.ReLU(), "flatten": nn.Flatten(), "fc": nn.Linear(2 * 3 * 3, 4)}).double()
    net.fc.weight.data = rng.standard_normal((4, 18)) * 0.4
    x = np.abs(rng.standard_normal((1, 2, 3, 3))) + 0.1           # A = relu(x) = x
    k, h = 2, 1e-2

    def Y(A):
        with no_grad():
            return np.exp(net(Tensor(A)).data[0, k])

    S = np.log(Y(x))
    weights = np.zeros(2)
    for c in range(2):
        d2, d3, d1 = np.zeros((3, 3)), np.zeros((3, 3)), np.zeros((3, 3))
        for i, j in np.ndindex(3, 3):
            e = np.zeros_like(x)
            e[0, c, i, j] = h
            f = [Y(x + m * e) for m in (-2, -1, 0, 1, 2)]
            d1[i, j] = (f[3] - f[1]) / (2 * h)
            d2[i, j] = (f[3] - 2 * f[2] + f[1]) / h ** 2
            d3[i, j] = (f[4] - 2 * f[3] + 2 * f[1] - f[0]) / (2 * h ** 3)
        alpha = d2 / (2 * d2 + x[0, c].sum() * d3)
        weights[c] = (alpha * np.maximum(d1, 0)).sum() / np.exp(S)
    expected = np.maximum((weights[:, None, None] * x[0]).sum(axis=0), 0)
    np.testing.assert_allclose(gradcam_plus_plus(net, x, k, layer="relu")[0], expected, rtol=1e-4)


def test_grad_cam_plus_plus_of_one_channel_is_relu_of_the_channel_times_its_weight():
    net, x = tiny_net(seed=12), images(seed=13)
    cam = gradcam_plus_plus(net, x, 6, layer="relu1", per_channel=True, relu_attributions=False)
    total = gradcam_plus_plus(net, x, 6, layer="relu1")
    np.testing.assert_allclose(total, np.maximum(cam.sum(axis=1), 0), rtol=1e-12)
    assert (cam >= 0).all()                 # positive weights times non-negative activations


# ---- occlusion ----------------------------------------------------------------------------------
def brute_force_occlusion(net, x, k, window, stride, fill, objective):
    (h, w), (sy, sx) = window, stride
    N, C, H, W = x.shape
    rows, cols = range(0, H - h + 1, sy), range(0, W - w + 1, sx)
    out = np.zeros((N, len(rows), len(cols)))
    for n in range(N):
        for a, top in enumerate(rows):
            for b, left in enumerate(cols):
                copy = x[n].copy()
                copy[:, top:top + h, left:left + w] = np.broadcast_to(fill, x.shape)[n, :, top:top + h, left:left + w]
                with no_grad():
                    z = net(Tensor(copy[None])).data[0]
                out[n, a, b] = np.exp(stable_log_softmax(z, axis=0))[k] if objective == "probability" else z[k]
    return out


@pytest.mark.parametrize("window, stride, objective, image_fill, incremental", [
    ((2, 3), (1, 2), "probability", False, True),
    ((3, 3), (2, 1), "logit", True, True),
    ((3, 3), 1, "logit", True, False),
    ((4, 1), (3, 1), "logit", False, True),
])
def test_occlusion_with_rectangles_strides_baseline_images_and_logits(window, stride, objective,
                                                                     image_fill, incremental):
    net, x = tiny_net(seed=14, size=8), images(N=2, seed=15, size=8)
    fill = np.random.default_rng(1).standard_normal(x.shape) if image_fill else 0.3
    score, base = occlusion(net, x, 3, size=window, stride=stride, fill=fill,
                            objective=objective, incremental=incremental)
    pair = stride if isinstance(stride, tuple) else (stride, stride)
    np.testing.assert_allclose(score, brute_force_occlusion(net, x, 3, window, pair, fill, objective),
                               rtol=1e-10)
    with no_grad():
        z = net(Tensor(x)).data[:, 3]
    assert base == pytest.approx(z if objective == "logit" else base)


def test_per_pixel_occlusion_is_the_mean_drop_over_the_covering_windows():
    net, x = tiny_net(seed=16, size=8), images(N=2, seed=17, size=8)
    window, stride = (3, 2), (2, 3)
    score, base = occlusion(net, x, 5, size=window, stride=stride, fill=0.0, objective="logit")
    attribution = occlusion_attribution(net, x, 5, size=window, stride=stride, fill=0.0,
                                        objective="logit")
    assert attribution.shape == (2, 8, 8)
    for n, py, px in np.ndindex(2, 8, 8):
        drops = [base[n] - score[n, i, j] for i in range(score.shape[1]) for j in range(score.shape[2])
                 if i * 2 <= py < i * 2 + 3 and j * 3 <= px < j * 3 + 2]
        assert attribution[n, py, px] == pytest.approx(np.mean(drops) if drops else 0.0, abs=1e-12)


def test_bad_occlusion_options():
    net, x = tiny_net(seed=0, size=8), images(seed=0, size=8)
    with pytest.raises(ValueError, match="objective must be 'probability' or 'logit'"):
        occlusion(net, x, 0, size=2, objective="loss")
    with pytest.raises(ValueError, match=r"a baseline image must have shape \(2, 8, 8\)"):
        occlusion(net, x, 0, size=2, fill=np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="size must be an int or a pair"):
        occlusion(net, x, 0, size=(2, 2, 2))
    with pytest.raises(ValueError, match="size must be in 1..8"):
        occlusion(net, x, 0, size=(9, 2))
