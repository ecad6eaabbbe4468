"""The pieces of vgg_bn_net's recipe (airbench's, Jordan 2024): 2-pixel shifts and alternating
flips, PyTorch's default init and dirac starts, SGD's parameter groups, Lookahead, the fixed
and rescaled parameters, and a tiny run that resumes exactly with all of it on."""
import numpy as np
import pytest

from minicnn import nn, optim
from minicnn.architectures import MODELS, vgg_bn_net
from minicnn.checkpoint import read_checkpoint
from minicnn.data import batches
from minicnn.data.pipeline import alternating_flips
from minicnn.init import dirac, kaiming_uniform, manual_seed
from minicnn.functional import conv2d
from minicnn.tensor import Tensor
from minicnn.train import TrainConfig, make_optimizer, trainable_groups, train


def images(N=64, seed=0):
    x = np.random.default_rng(seed).integers(1, 256, size=(N, 3, 32, 32), dtype=np.uint8)
    return x, np.arange(N)                        # labels name the images


def uint8(xb):
    return np.rint(xb * 255).astype(np.uint8)


# ---- augmentation ---------------------------------------------------------------------------

def flipped_in(epoch, x, y, seed=3):
    """Which images batches() mirrored in `epoch`, with shifts off so a flip is all there is."""
    flips = np.zeros(len(x), dtype=bool)
    for xb, yb in batches(x, y, 16, shuffle=True, seed=seed, epoch=epoch, augment=True,
                          translate=0, flip="alternating"):
        out = uint8(xb)
        same = (out == x[yb]).all(axis=(1, 2, 3))
        mirrored = (out == x[yb][..., ::-1]).all(axis=(1, 2, 3))
        assert (same ^ mirrored).all()            # random pixels: one or the other, exactly
        flips[yb] = mirrored
    return flips


def test_alternating_flips_mirror_each_image_every_other_epoch():
    x, y = images()
    first, second, third = (flipped_in(e, x, y) for e in range(3))
    assert 16 < first.sum() < 48                  # a coin per image in epoch 0
    np.testing.assert_array_equal(second, ~first)  # then the other side
    np.testing.assert_array_equal(third, first)
    np.testing.assert_array_equal(first, alternating_flips(len(x), 3, 0))


def test_translate_bounds_the_shift():
    x, y = images(200)
    (xb, yb), = batches(x, y, 200, augment=True, translate=2, seed=1)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))     # (200, 3, 36, 36)
    offsets = set()
    for out, i in zip(uint8(xb), yb):
        found = []                              # (dy, dx) of every window that matches
        for dy in range(5):
            for dx in range(5):
                window = padded[i, :, dy:dy + 32, dx:dx + 32]
                if np.array_equal(out, window) or np.array_equal(out, window[..., ::-1]):
                    found.append((dy, dx))
        assert len(found) == 1
        offsets.add(found[0])
    assert offsets == {(dy, dx) for dy in range(5) for dx in range(5)}   # -2..2, both axes


def test_batches_reject_a_bad_flip_or_translate():
    x, y = images(4)
    with pytest.raises(ValueError, match="flip must be 'random' or 'alternating', got 'often'"):
        list(batches(x, y, 2, augment=True, flip="often"))
    with pytest.raises(ValueError, match="translate must be >= 0 pixels, got -1"):
        list(batches(x, y, 2, augment=True, translate=-1))


# ---- initialisation -------------------------------------------------------------------------

def test_kaiming_uniform_is_pytorchs_default_scale():
    w = kaiming_uniform((256, 64, 3, 3), 64 * 9)
    bound = 1 / np.sqrt(64 * 9)
    assert w.dtype == np.float32 and np.abs(w).max() <= bound
    assert w.var() == pytest.approx(bound ** 2 / 3, rel=0.02)     # U(-b, b): variance b^2/3


def test_dirac_filters_pass_their_channel_through():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6))
    w = rng.standard_normal((5, 3, 3, 3))
    dirac(w)
    out = conv2d(Tensor(x), Tensor(w), padding=1).data            # (2, 5, 6, 6)
    np.testing.assert_array_equal(out[:, :3], x)
    few = rng.standard_normal((2, 3, 3, 3))       # fewer filters than channels: 2 of them
    dirac(few)
    np.testing.assert_array_equal(conv2d(Tensor(x), Tensor(few), padding=1).data, x[:, :2])


def test_vgg_bn_net_shapes_and_start():
    net = vgg_bn_net()
    assert sum(p.data.size for p in net.parameters()) == 1_972_792
    assert net.fc.bias is None and net.conv1.kernel_size == (2, 2)
    for name in ("conv2", "conv3", "conv4", "conv5", "conv6", "conv7"):
        w = net[name].weight.data
        np.testing.assert_array_equal(w[:w.shape[1], :, 1, 1], np.eye(w.shape[1]))
    assert np.abs(net.fc.weight.data).max() <= 1 / np.sqrt(256) / 9
    with nn.evaluating():
        assert net(Tensor(np.zeros((2, 3, 32, 32), np.float32))).shape == (2, 10)


# ---- SGD's parameter groups and Lookahead ---------------------------------------------------

def test_sgd_groups_keep_their_lr_ratio_and_their_own_decay():
    rng = np.random.default_rng(1)
    a, b = nn.Parameter(rng.standard_normal(3)), nn.Parameter(rng.standard_normal(2))
    a0, b0 = a.data.copy(), b.data.copy()
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.4, "weight_decay": 0.5}],
                    lr=0.1, weight_decay=0.01)
    ga, gb = rng.standard_normal(3), rng.standard_normal(2)
    for lr in (0.1, 0.05):                 # a schedule halves the lr: b's halves too (0.2)
        opt.lr = lr
        a.grad, b.grad = ga.copy(), gb.copy()
        opt.step()
    a1 = a0 - 0.1 * (ga + 0.01 * a0)
    np.testing.assert_allclose(a.data, a1 - 0.05 * (ga + 0.01 * a1))
    b1 = b0 - 0.4 * (gb + 0.5 * b0)
    np.testing.assert_allclose(b.data, b1 - 0.2 * (gb + 0.5 * b1))


def test_sgd_groups_reject_bad_groups():
    p = nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="needs a 'params' entry"):
        optim.SGD([{"lr": 0.1}], lr=0.1)
    with pytest.raises(TypeError, match="not a mixture"):
        optim.SGD([p, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="lr=-1"):
        optim.SGD([{"params": [p], "lr": -1}], lr=0.1)
    with pytest.raises(ValueError, match="AdamW: parameter groups with their own options"):
        optim.AdamW([{"params": [p], "lr": 0.1}])


def test_lookahead_by_hand():
    """SGD at lr 0.1 on a constant gradient g, Lookahead every 2 steps with decay 0.5:
    after 2 steps fast = p0 - 0.2 g, slow = 0.5 p0 + 0.5 fast = p0 - 0.1 g, and fast = slow.
    A buffer (BatchNorm's running mean) is averaged the same way."""
    net = nn.Sequential({"fc": nn.Linear(3, 2), "bn": nn.BatchNorm1d(2)})
    p0 = net.fc.weight.data.copy()
    g = np.full_like(p0, 0.5)
    opt = optim.Lookahead(optim.SGD([net.fc.weight], lr=0.1), net, every=2)
    opt.decay = 0.5
    for k in range(2):
        net.fc.weight.grad = g.copy()
        net.bn.running_mean.data[...] = 4.0 * (k + 1)          # 4 after step 1, 8 after step 2
        opt.step()
        if k == 0:
            np.testing.assert_allclose(net.fc.weight.data, p0 - 0.1 * g, rtol=1e-6)
    np.testing.assert_allclose(net.fc.weight.data, p0 - 0.1 * g, rtol=1e-6)
    np.testing.assert_allclose(net.bn.running_mean.data, [4.0, 4.0])   # 0.5 * 0 + 0.5 * 8
    net.fc.weight.data += 1.0
    opt.finish()                                               # back to the slow weights
    np.testing.assert_allclose(net.fc.weight.data, p0 - 0.1 * g, rtol=1e-6)


def test_lookahead_state_dict_continues_identically():
    def run(steps, state=None, start=None):
        net = nn.Sequential({"fc": nn.Linear(3, 2)})
        if start is not None:
            net.load_state_dict(start)
        opt = optim.Lookahead(optim.SGD(net.parameters(), lr=0.1, momentum=0.9), net, every=3)
        if state is not None:
            opt.load_state_dict(state)
        for k in steps:
            opt.decay = 0.3
            for p in net.parameters():
                p.grad = np.full_like(p.data, np.sin(k + p.data.size))
            opt.step()
        return net, opt

    manual_seed(0)
    whole, _ = run(range(8))
    manual_seed(0)
    half, opt = run(range(4))
    state, start = opt.state_dict(), half.state_dict()
    assert {"lookahead.fc.weight", "lookahead.steps", "velocity.0"} <= set(state)
    resumed, _ = run(range(4, 8), state=state, start=start)
    for name, a in whole.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name], a)


# ---- the recipe in the trainer --------------------------------------------------------------

def test_vgg_bn_nets_groups_follow_the_recipe():
    config = TrainConfig(model="vgg_bn_net", lr=1.5, weight_decay=0.001).resolved()
    net = vgg_bn_net()
    groups = trainable_groups(config, net)
    by_id = {id(g["params"][0]): g for g in groups}
    for name, p in net.named_parameters():
        layer = name.rsplit(".", 1)[0]
        if name == "conv1.weight" or (layer.startswith("bn") and name.endswith("weight")):
            assert not p.requires_grad and id(p) not in by_id, name      # kept fixed
            continue
        group = by_id[id(p)]
        scale = 64.0 if layer.startswith("bn") else 1 / 81 if layer == "fc" else 1.0
        assert group["lr"] == pytest.approx(1.5 * scale), name
        assert group["lr"] * group["weight_decay"] == pytest.approx(1.5 * 0.001), name
    reference = TrainConfig(model="reference_net").resolved()
    assert reference.momentum == 0.9 and config.momentum == 0.85
    net = MODELS["reference_net"]()
    assert [g["params"][0] for g in trainable_groups(reference, net)] == net.parameters()
    for name, kind in (("adam", optim.Adam), ("adamw", optim.AdamW)):
        opt = make_optimizer(TrainConfig(optimizer=name, lr=0.01, lookahead=False).resolved(), net)
        assert type(opt) is kind and opt.params == net.parameters() and opt.lr == 0.01


def test_a_tiny_vgg_bn_run_keeps_its_fixed_parts_and_resumes_exactly(tiny_folder, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setitem(MODELS, "vgg_bn_net", lambda: vgg_bn_net(widths=(8, 16, 16)))

    def config(out):
        return TrainConfig(model="vgg_bn_net", epochs=3, batch_size=40, lr=0.2,
                           weight_decay=0.001, schedule="linear", whiten_bias_epochs=1,
                           data=str(tiny_folder), out=str(out))

    train(config(tmp_path / "full"), progress=False, stop_after_epochs=1)
    after_one, state, _ = read_checkpoint(tmp_path / "full" / "checkpoint.npz")
    assert any(k.startswith("lookahead.") for k in state)
    train(config(tmp_path / "full"), resume=True, progress=False, stop_after_epochs=2)
    train(config(tmp_path / "full"), resume=True, progress=False)
    final, _, meta = read_checkpoint(tmp_path / "full" / "model.npz")
    _, last_state, _ = read_checkpoint(tmp_path / "full" / "checkpoint.npz")
    np.testing.assert_array_equal(final["conv1.weight"], after_one["conv1.weight"])
    # conv1.bias is the first trainable parameter: SGD stopped stepping it after epoch 1, so
    # its momentum buffer is as it was then (Lookahead still pulls the value toward its average)
    np.testing.assert_array_equal(last_state["velocity.0"], state["velocity.0"])
    assert state["velocity.0"].shape == (24,)
    assert not np.array_equal(final["conv2.weight"], after_one["conv2.weight"])
    for name in final:
        if name.startswith("bn") and name.endswith(".weight"):
            np.testing.assert_array_equal(final[name], 1.0)
    assert meta["config"]["lookahead"] and meta["config"]["flip"] == "alternating"

    train(config(tmp_path / "whole"), progress=False)             # the same run in one go
    whole, _, _ = read_checkpoint(tmp_path / "whole" / "model.npz")
    for name in whole:
        np.testing.assert_array_equal(whole[name], final[name], err_msg=name)
