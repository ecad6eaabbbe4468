"""BatchNorm, Dropout, average pooling and the residual block as layers: train/eval switch,
running statistics, buffers in the state dict; Adam and AdamW against hand-written updates;
receptive fields, CAM and the gradient methods on a small random ResNet-style net."""
import numpy as np
import pytest

import minicnn
from minicnn import nn, optim
from minicnn.architectures import reference_net, residual_net
from minicnn.tensor import Tensor
from minicnn.visualize import cam as cam_module
from minicnn.visualize import deconvnet, gradcam, guided_backprop, occlusion
from minicnn.visualize.receptive_field import receptive_field, receptive_field_size
from tests.gradcheck import check_module_gradients

rng = np.random.default_rng(1)


def small_resnet(seed=0):
    """5x5 stem, BatchNorm, a strided residual block with a 1x1 downsample, an identity
    block, global average pooling: every new piece, in float64 and in eval mode."""
    minicnn.manual_seed(seed)
    net = nn.Sequential({
        "conv1": nn.Conv2d(3, 4, 5, padding=2, bias=False), "bn1": nn.BatchNorm2d(4),
        "relu1": nn.ReLU(), "block1": nn.BasicBlock(4, 6, stride=2), "block2": nn.BasicBlock(6, 6),
        "drop": nn.Dropout(0.5), "pool": nn.AvgPool2d(2), "gap": nn.AdaptiveAvgPool2d(1),
        "flatten": nn.Flatten(), "fc": nn.Linear(6, 3),
    }).double()
    for name, bn in [(n, m) for n, m in all_modules(net) if isinstance(m, nn.BatchNorm2d)]:
        C = bn.num_features                    # running statistics that are not the defaults
        bn.running_mean.data = rng.standard_normal(C)
        bn.running_var.data = rng.uniform(0.5, 2, C)
        bn.weight.data = rng.uniform(0.5, 1.5, C)
        bn.bias.data = rng.standard_normal(C) * 0.1
    net.meta = {"classes": ["a", "b", "c"], "mean": [0.5] * 3, "std": [0.25] * 3}
    return net.eval()


def all_modules(module, prefix=""):
    for name, child in module.named_children():
        yield prefix + name, child
        yield from all_modules(child, prefix + name + ".")


def test_train_and_eval_reach_every_layer():
    net = small_resnet()
    assert all(not m.training for _, m in all_modules(net))
    net.train()
    assert all(m.training for _, m in all_modules(net)) and net.block1.downsample[1].training
    net.eval()
    assert not net.block2.bn2.training and not net.drop.training


def test_batchnorm_running_statistics_and_eval_switch():
    bn = nn.BatchNorm2d(2, momentum=0.25).double()
    batches = [rng.standard_normal((3, 2, 2, 2)) * (k + 1) + k for k in range(3)]
    mean, var = np.zeros(2), np.ones(2)
    for x in batches:                                            # train mode: batch statistics
        out = bn(Tensor(x)).data
        np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
        m = x.transpose(1, 0, 2, 3).reshape(2, -1)               # (C, 12) values per channel
        mean = 0.75 * mean + 0.25 * m.mean(axis=1)
        var = 0.75 * var + 0.25 * m.var(axis=1, ddof=1)           # unbiased
    np.testing.assert_allclose(bn.running_mean.data, mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.data, var, rtol=1e-12)
    assert bn.num_batches_tracked.data == 3 and bn.num_batches_tracked.dtype == np.int64
    bn.eval()
    x = batches[0]
    expected = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(bn(Tensor(x)).data, expected, rtol=1e-12)
    assert bn.num_batches_tracked.data == 3                      # eval counts nothing


def test_batchnorm_cumulative_average_when_momentum_is_none():
    bn = nn.BatchNorm1d(3, momentum=None).double()
    xs = [rng.standard_normal((4, 3)) + k for k in range(3)]
    for x in xs:
        bn(Tensor(x))
    np.testing.assert_allclose(bn.running_mean.data, np.mean([x.mean(axis=0) for x in xs], axis=0),
                               rtol=1e-12)


def test_batchnorm_layer_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): input has C=4 channels"):
        nn.BatchNorm2d(3)(Tensor(np.zeros((2, 4, 2, 2))))
    with pytest.raises(ValueError, match="BatchNorm2d: input must be 4-D"):
        nn.BatchNorm2d(3)(Tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match="BatchNorm1d: input must be 2-D or 3-D"):
        nn.BatchNorm1d(3)(Tensor(np.zeros((2, 3, 1, 1))))


def test_state_dict_holds_buffers_with_pytorch_keys_and_loads_back():
    net = small_resnet()
    state = net.state_dict()
    assert [k for k in state if k.startswith("bn1.")] == [
        "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"]
    assert "block1.downsample.1.running_var" in state and "block1.downsample.0.weight" in state
    assert "bn1.running_mean" not in dict(net.named_parameters())
    other = small_resnet(seed=5)
    other.load_state_dict(state)
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v, state[k])
    del state["bn1.num_batches_tracked"]                         # PyTorch's older checkpoints
    other.load_state_dict(state)
    state["bn1.running_var"] = np.ones(5)
    with pytest.raises(ValueError, match=r"bn1.running_var: expected shape \(4,\), got \(5,\)"):
        other.load_state_dict(state)
    ref = reference_net()                                        # no buffers: as before
    assert list(ref.state_dict()) == [n for n, _ in ref.named_parameters()]
    float32 = residual_net().float()
    assert float32.bn1.running_var.dtype == np.float32
    assert float32.double().bn1.running_var.dtype == np.float64
    assert float32.bn1.num_batches_tracked.dtype == np.int64


def test_eval_mode_is_deterministic_and_train_mode_is_not():
    net = small_resnet()
    x = rng.standard_normal((2, 3, 8, 8))
    a, b = net(Tensor(x)).data, net(Tensor(x)).data
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(net(Tensor(x[:1])).data, a[:1], rtol=1e-12)   # no batch coupling
    net.train()
    assert not np.allclose(net(Tensor(x)).data, a)             # batch statistics, dropout


@pytest.mark.usefixtures("route")
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_small_resnet_gradients(mode):
    net = small_resnet()
    del net.drop                                  # dropout: a random function of its input
    net.names.remove("drop")
    net.train(mode == "train")
    check_module_gradients(net, rng.standard_normal((3, 3, 8, 8)), tolerance=1e-5)


def test_adam_and_adamw_against_hand_written_updates():
    w0, grads = rng.standard_normal(5), rng.standard_normal((4, 5))
    lr, (b1, b2), eps, wd = 0.01, (0.8, 0.9), 1e-6, 0.1
    for Opt, decoupled in ((optim.Adam, False), (optim.AdamW, True)):
        p = nn.Parameter(w0.copy())
        opt = Opt([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
        w, m, v = w0.copy(), 0.0, 0.0
        for t, g in enumerate(grads, start=1):
            p.grad = g.copy()
            opt.step()
            if decoupled:
                w = w - lr * wd * w
            else:
                g = g + wd * w
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
            np.testing.assert_allclose(p.data, w, rtol=1e-12, err_msg=f"{Opt.__name__} step {t}")
        resumed = Opt([nn.Parameter(w0.copy())], lr=lr)
        resumed.load_state_dict(opt.state_dict())
        assert resumed.steps == [4] and np.array_equal(resumed.exp_avg[0], opt.exp_avg[0])
    with pytest.raises(ValueError, match=r"Adam: betas must be in \[0, 1\), got \(1.0, 0.9\)"):
        optim.Adam([p], betas=(1.0, 0.9))


def test_receptive_field_of_residual_nets_is_the_widest_path():
    net = small_resnet()
    # conv1 5x5; block1: 3x3 stride 2 then 3x3 (the 1x1 downsample sees less): 5 + 2 + 2*2
    assert receptive_field_size(net, "conv1") == (5, 5)
    assert receptive_field_size(net, "block1") == (11, 11)
    assert receptive_field_size(net, "block2") == (19, 19)     # two more 3x3 at stride 2
    assert receptive_field_size(net, "pool") == (21, 21)      # a 2x2 pool at jump 2: + 2
    assert receptive_field_size(net, "gap") is None
    # exact: perturb the input outside the region and the unit does not move
    y0, y1, x0, x1 = receptive_field(net, "block1", 1, 1, input_hw=(12, 12))
    x = rng.standard_normal((1, 3, 12, 12))
    acts = net.activations(Tensor(x), ["block1"])["block1"].data
    mask = np.ones((12, 12), bool)
    mask[y0:y1, x0:x1] = False
    changed = x + mask * rng.standard_normal(x.shape)
    after = net.activations(Tensor(changed), ["block1"])["block1"].data
    np.testing.assert_allclose(after[0, :, 1, 1], acts[0, :, 1, 1], rtol=1e-12)
    inside = x.copy()
    inside[0, :, y0, x0] += 5.0                               # a corner of the region matters
    moved = net.activations(Tensor(inside), ["block1"])["block1"].data
    assert not np.allclose(moved[0, :, 1, 1], acts[0, :, 1, 1])


def test_cam_is_the_weighted_feature_maps_and_grad_cam_agrees():
    net = small_resnet()
    del net.pool
    net.names.remove("pool")
    x = rng.standard_normal((2, 3, 8, 8))
    maps = cam_module.cam(net, x, "b", include_bias=True)      # (2, 4, 4)
    logits = net(Tensor(x)).data
    np.testing.assert_allclose(maps.mean(axis=(1, 2)), logits[:, 1], rtol=1e-10)
    signed = gradcam(net, x, "b", layer="drop", relu_attributions=False)
    np.testing.assert_allclose(signed * 16, cam_module.cam(net, x, "b"), rtol=1e-8, atol=1e-12)
    net.train()
    cam_module.cam(net, x, [0, 2])
    assert net.training and net.bn1.num_batches_tracked.data == 0   # ran in eval, mode restored
    with pytest.raises(ValueError, match="CAM needs a net that ends in global average pooling"):
        cam_module.cam(reference_net(), x, 0)


def test_gradient_methods_run_through_batchnorm_residual_adds_and_gap():
    net = small_resnet()
    x = rng.standard_normal((2, 3, 8, 8))
    for method in (guided_backprop, deconvnet):
        g = method(net, x, "a")
        assert g.shape == x.shape and np.isfinite(g).all() and np.abs(g).max() > 0
    # guided backprop through an eval-mode net is the gradient with the guided ReLU rule:
    # check it against a hand-made backward on the same graph
    t = Tensor(x, requires_grad=True)
    with minicnn.backward_rule("guided"):
        out = net(t)
        dout = np.zeros_like(out.data)
        dout[:, 0] = 1
        out.backward(dout)
    np.testing.assert_allclose(guided_backprop(net, x, "a"), t.grad, rtol=1e-12)
    cam = gradcam(net, x, "c", layer="block2")
    assert cam.shape == (2, 4, 4) and (cam >= 0).all()
    prob = occlusion(net, x, "a", size=4, stride=2, mean=[0.5] * 3, std=[0.25] * 3)
    assert np.isfinite(np.asarray(prob[0] if isinstance(prob, tuple) else prob)).all()


def test_every_visualization_runs_a_train_mode_model_in_eval_mode_and_leaves_it_so():
    """Running statistics and no dropout inside the explanation; afterwards the model is
    still in train mode, its statistics untouched (no batch was counted)."""
    from minicnn.visualize import (class_model, integrated_gradients, lrp, saliency,
                                   top_activations)
    net = small_resnet()
    x = rng.standard_normal((2, 3, 8, 8))
    pictures = rng.integers(0, 255, (4, 3, 8, 8), dtype=np.uint8)
    methods = {
        "saliency": lambda m: saliency(m, x, "a"),
        "guided": lambda m: guided_backprop(m, x, "b"),
        "gradcam": lambda m: gradcam(m, x, "c", layer="block2"),
        "ig": lambda m: integrated_gradients(m, x, "a", steps=4),
        "occlusion": lambda m: occlusion(m, x, "a", size=4, stride=2, mean=[0.5] * 3,
                                         std=[0.25] * 3),
        "class_model": lambda m: class_model(m, "a", steps=3, seed=0, image_shape=(3, 8, 8)),
        "top": lambda m: top_activations(m, pictures,
                                         "block2", k=2, mean=[0.5] * 3, std=[0.25] * 3),
    }
    state = {k: np.array(v) for k, v in net.state_dict().items()}
    in_eval = {name: run(net) for name, run in methods.items()}
    net.train()
    for name, run in methods.items():
        got, want = run(net), in_eval[name]
        for a, b in zip(got if isinstance(got, tuple) else [got],
                        want if isinstance(want, tuple) else [want]):   # (a Top is a tuple)
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=name)
    assert all(m.training for _, m in all_modules(net))
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, state[k], err_msg=k)
    del lrp                                        # (lrp does not take BatchNorm nets yet)


def test_evaluating_holds_for_its_own_thread_only():
    import threading
    net = small_resnet().train()
    x = Tensor(rng.standard_normal((4, 3, 8, 8)))
    seen, ready, done = {}, threading.Event(), threading.Event()

    def other():
        ready.wait()
        seen["other"] = net(x).data                  # train mode: dropout, batch statistics
        done.set()
    thread = threading.Thread(target=other)
    thread.start()
    with nn.evaluating():
        ready.set()
        done.wait()
        inside = net(x).data
    thread.join()
    with nn.evaluating():
        np.testing.assert_array_equal(net(x).data, inside)     # deterministic: eval mode
    assert not np.allclose(seen["other"], inside)


def test_grad_cams_default_layer_is_the_last_feature_maps():
    from minicnn.visualize.gradcam import default_layer
    assert default_layer(reference_net()) == "relu4"
    assert default_layer(residual_net()) == "block4"          # the last block, before GAP
    assert default_layer(small_resnet()) == "block2"


def test_lrp_epsilon_through_batchnorm_residual_adds_and_pooling_is_gradient_x_input():
    """As eps -> 0, LRP-epsilon of a ReLU net is gradient x input (the relevance over a
    value is the gradient there): so it is through folded batch norms, residual adds,
    average and global pooling too."""
    from minicnn.visualize import input_x_gradient, lrp
    net = small_resnet()
    x = rng.standard_normal((2, 3, 8, 8))
    for target in ("a", "c"):
        np.testing.assert_allclose(lrp(net, x, target, epsilon=1e-13),
                                   input_x_gradient(net, x, target), rtol=1e-6, atol=1e-10)


def test_lrp_conserves_relevance_in_a_bias_free_residual_net():
    from minicnn.visualize import lrp
    net = small_resnet()
    for _, m in all_modules(net):
        if isinstance(m, nn.BatchNorm2d):             # folded in, a bias-free affine map
            m.running_mean.data[:] = 0
            m.bias.data[:] = 0
        elif isinstance(m, nn.Linear):
            m.bias.data[:] = 0
    x = rng.standard_normal((3, 3, 8, 8))
    logits = net(Tensor(x)).data
    R = lrp(net, x, [0, 1, 2], epsilon=1e-12)
    np.testing.assert_allclose(R.sum(axis=(1, 2, 3)), logits[np.arange(3), [0, 1, 2]], rtol=1e-8)


def test_lrp_folds_batchnorm_into_the_conv_before_it_and_across_a_max_pool():
    """Every rule on a conv + batch norm equals the rule on one conv with the folded weights;
    a batch norm after a max-pool folds when its scales are positive, and otherwise keeps its
    own epsilon rule (still gradient x input as eps -> 0)."""
    from minicnn.visualize import input_x_gradient, lrp

    def net(bn_weight, fold_by_hand=False, pool_first=False):
        minicnn.manual_seed(3)
        conv, bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        net = nn.Sequential({"conv1": conv, "bn1": bn, "relu1": nn.ReLU(), "pool1": nn.MaxPool2d(2),
                             "flatten": nn.Flatten(), "fc": nn.Linear(16, 3)}).double()
        bn.weight.data = np.array(bn_weight, dtype=np.float64)
        bn.bias.data = np.array([0.1, -0.2, 0.3, 0.0])
        bn.running_mean.data = np.array([0.5, -0.5, 0.2, 0.1])
        bn.running_var.data = np.array([2.0, 0.5, 1.0, 1.5])
        if pool_first:                                 # conv, pool, bn, relu
            net = nn.Sequential({"conv1": conv, "pool1": nn.MaxPool2d(2), "bn1": bn,
                                 "relu1": nn.ReLU(), "flatten": nn.Flatten(), "fc": net.fc})
        if fold_by_hand:
            scale = bn.weight.data / np.sqrt(bn.running_var.data + bn.eps)
            conv.weight.data = conv.weight.data * scale[:, None, None, None]
            conv.bias.data = (conv.bias.data - bn.running_mean.data) * scale + bn.bias.data
            del net.bn1
            net.names.remove("bn1")
        return net.eval()
    x = rng.standard_normal((2, 3, 4, 4))
    for pool_first in (False, True):
        with_bn = net([1.0, 0.5, 2.0, 1.5], pool_first=pool_first)
        by_hand = net([1.0, 0.5, 2.0, 1.5], fold_by_hand=True, pool_first=pool_first)
        for rule in ("epsilon", "gamma", "alpha1beta0", "zbox"):
            np.testing.assert_allclose(lrp(with_bn, x, 1, rule=rule, bounds=(-3, 3)),
                                       lrp(by_hand, x, 1, rule=rule, bounds=(-3, 3)),
                                       rtol=1e-9, atol=1e-12, err_msg=f"{rule}, {pool_first}")
    flipped = net([1.0, -0.5, 2.0, 1.5], pool_first=True)     # a negative scale: not folded
    np.testing.assert_allclose(lrp(flipped, x, 2, epsilon=1e-13), input_x_gradient(flipped, x, 2),
                               rtol=1e-6, atol=1e-10)


def test_lrp_rules_name_the_layers_inside_residual_blocks():
    from minicnn.visualize import lrp
    net = small_resnet()
    x = rng.standard_normal((1, 3, 8, 8))
    plain = lrp(net, x, "a")
    changed = lrp(net, x, "a", rules={"block1.conv2": "gamma", "block1.downsample.0": "gamma"})
    assert not np.allclose(plain, changed)
    with pytest.raises(ValueError, match="rules set a rule for 'block1.bn1', a BatchNorm2d"):
        lrp(net, x, "a", rules={"block1.bn1": "gamma"})
    with pytest.raises(ValueError, match="rules name an unknown layer 'block9.conv1'"):
        lrp(net, x, "a", rules={"block9.conv1": "gamma"})


def test_cascading_randomization_reaches_the_layers_inside_residual_blocks():
    from minicnn.visualize.sanity import cascading_randomization, weighted_layers
    net = small_resnet()
    names = weighted_layers(net)
    assert names[0] == "fc" and names[-1] == "conv1"
    assert {"block1.conv1", "block1.conv2", "block1.downsample.0", "block2.conv2"} <= set(names)
    trained = {k: v.copy() for k, v in net.state_dict().items()}
    for step, (name, copy_) in enumerate(cascading_randomization(net)):
        assert name == names[step]
        state = copy_.state_dict()
        for k, v in trained.items():                  # this layer and those above: new weights
            changed = not np.array_equal(state[k], v)
            if k.endswith(".weight") and k[:-len(".weight")] in names:
                assert changed == (names.index(k[:-len(".weight")]) <= step), (name, k)
    assert all(np.array_equal(v, trained[k]) for k, v in net.state_dict().items())
