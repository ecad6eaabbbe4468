"""Layer-wise relevance propagation: one more way back through the network.

Bach et al., "On Pixel-Wise Explanations for Non-Linear Classifier Decisions by Layer-Wise
Relevance Propagation" (PLOS ONE 2015); Montavon et al., "Layer-wise relevance propagation:
an overview" (2019).

Where a gradient map sends d score / d out down the network, LRP sends *relevance*: it
starts as the target's logit and every layer shares what reaches it among its inputs, in
proportion to their contributions. Each op has its rules next to its ordinary backward
(ops/linear.py, ops/conv.py, ops/pool.py, ops/relu.py), built from that backward, so they run
on both routes. This module only walks the layers: forward, keeping every layer's input,
then down from the target, one rule per layer.

    R = lrp(model, x, "cat")                                   # LRP-epsilon everywhere
    R = lrp(model, x, "cat", rules={"conv1": "zbox", "conv2": "gamma", "conv3": "gamma",
                                    "conv4": "gamma", "fc1": "epsilon", "fc2": "epsilon"})

Conventions, as in Captum's LRP: z includes the bias, the stabiliser is eps * sign(z) with
sign(0) = 1, the gamma rule uses w + gamma w+ in the numerator and in z, a ReLU passes
relevance unchanged, a max-pool sends it to its switch through the epsilon rule. One
deliberate difference: alpha1beta0 keeps only the positive contributions (x_i w_ij)+ and the
positive bias, as the rule is defined, where Captum clamps the weights alone (which differs
for negative inputs or a negative bias; innvestigate #273, zennit #107).
"""
import copy
import numbers
from typing import NamedTuple

import numpy as np

from minicnn import nn
from minicnn.ops.avgpool import avg_pool2d_lrp, global_avg_pool2d_lrp
from minicnn.ops.basic import add_lrp
from minicnn.ops.batchnorm import batch_norm_lrp
from minicnn.ops.conv import Conv2d as Conv2dOp
from minicnn.ops.conv import conv2d_lrp
from minicnn.ops.linear import LRP_RULES, dx_pass, linear_lrp
from minicnn.ops.linear import Linear as LinearOp
from minicnn.ops.pool import MaxPool2d as MaxPool2dOp
from minicnn.ops.pool import max_pool2d_lrp
from minicnn.ops.relu import relu_backward_lrp
from minicnn.tensor import Tensor, as_float_array, no_grad
from minicnn.visualize.images import input_stats, pixel_range
from minicnn.visualize.targets import resolve_target, unit_dout

WEIGHTED = (nn.Conv2d, nn.Linear)
POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
KNOWN = WEIGHTED + POOLS + (nn.ReLU, nn.Flatten, nn.BatchNorm2d, nn.BatchNorm1d, nn.Dropout,
                            nn.BasicBlock)


class Residual(NamedTuple):
    """A residual block, laid out for LRP: out = relu(main(x) + shortcut(x)), each path a
    list of (name, layer) with its batch norms folded (an empty shortcut is x itself)."""
    main: list
    shortcut: list


def lrp(model, x, target, rule="epsilon", epsilon=1e-9, gamma=0.25, rules=None, bounds=None):
    """The relevance of every input pixel for a target.

    Inputs:
    - model: a Sequential of Conv2d, Linear, ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d,
      BatchNorm, Dropout, BasicBlock and Flatten layers (the model runs in eval mode: a
      batch norm is folded into the conv or linear layer before it, see lrp_layers)
    - x: (N, C, H, W) normalised images
    - target: a class (index or name), one class per image, or a unit (see targets.py); the
      relevance starts as the target's logit (a unit's value)
    - rule: the rule of every conv and linear layer: "epsilon", "gamma", "alpha1beta0" (z+),
      "alpha2beta1" or "zbox". zbox is for the first layer only (it knows the pixels lie in
      [0, 1]): rule="zbox" means zbox there and epsilon above.
    - epsilon: every rule's stabiliser (also the pools', the residual adds' and an unfolded
      batch norm's); gamma: the gamma rule's boost
    - rules: {layer name: rule} for some layers (composite LRP), `rule` for the others; a
      layer inside a residual block is named by its path, e.g. "block2.conv1"
    - bounds: (lo, hi) of zbox, normalised pixel values, each a number or (C, 1, 1); default
      pixels 0 and 1 under model.meta's mean and std
    Returns: relevance (N, C, H, W) in x's dtype
    """
    x = as_float_array(x.data if isinstance(x, Tensor) else x)
    if x.ndim != 4:
        raise ValueError(f"lrp: expected images of shape (N, C, H, W), got {x.shape}")
    rule_of = layer_rules(model, rule, rules)
    options = dict(epsilon=_non_negative("epsilon", epsilon), gamma=_non_negative("gamma", gamma))
    layer, units = resolve_target(model, target, len(x))
    layers = lrp_layers(model.upto(layer))
    if "zbox" in rule_of.values():
        lo, hi = zbox_bounds(model, x, bounds)
        options.update(lo=lo, hi=hi)
    a, trace = forward(layers, x)
    R = unit_dout(a, units, layer) * a                 # the target's logit, 0 elsewhere
    return backward(trace, R, rule_of, options).astype(x.dtype, copy=False)


def forward(layers, a):
    """Run the layers from a, keeping every layer's input and the forward it ran (with its
    backward, for the rules that use them). Returns the output and that trace."""
    trace = []
    for name, module in layers:
        done = None
        if isinstance(module, Residual):
            main, main_trace = forward(module.main, a)
            short, short_trace = forward(module.shortcut, a)
            out, done = np.maximum(main + short, 0), (main, main_trace, short, short_trace)
        elif isinstance(module, nn.Conv2d):
            out, back = dx_pass(Conv2dOp, a, module.weight.data, _bias(module),
                                stride=module.stride, padding=module.padding)
            done = (out, back)
        elif isinstance(module, nn.Linear):
            out, back = dx_pass(LinearOp, a, module.weight.data, _bias(module))
            done = (out, back)
        elif isinstance(module, nn.MaxPool2d):
            out, back = dx_pass(MaxPool2dOp, a, kernel_size=module.kernel_size,
                                stride=module.stride)
            done = (out, back)
        else:
            with no_grad(), nn.evaluating():
                out = module(Tensor(a)).data
        trace.append((name, module, a, done))
        a = out
    return a, trace


def backward(trace, R, rule_of, options):
    """Down the trace from relevance R of its output: one rule per layer."""
    epsilon = options["epsilon"]
    for name, module, a, done in reversed(trace):
        if isinstance(module, WEIGHTED):
            layer_rule = rule_of[name]
            rule_options = dict(epsilon=epsilon, gamma=options["gamma"])
            if layer_rule == "zbox":
                rule_options.update(lo=options["lo"].reshape(a.shape),
                                    hi=options["hi"].reshape(a.shape))
            reuse = done if layer_rule in ("epsilon", "zbox") else None
            if isinstance(module, nn.Conv2d):
                R = conv2d_lrp(a, module.weight.data, _bias(module), R, module.stride,
                               module.padding, layer_rule, done=reuse, **rule_options)
            else:
                R = linear_lrp(a, module.weight.data, _bias(module), R, layer_rule,
                               done=reuse, **rule_options)
        elif isinstance(module, Residual):             # its ReLU passes R; the add splits it
            main, main_trace, short, short_trace = done
            R_main, R_short = add_lrp(main, short, R, epsilon)
            R = backward(main_trace, R_main, rule_of, options) \
                + backward(short_trace, R_short, rule_of, options)
        elif isinstance(module, nn.MaxPool2d):
            R = max_pool2d_lrp(a, R, module.kernel_size, module.stride, epsilon, done=done)
        elif isinstance(module, nn.AvgPool2d):
            R = avg_pool2d_lrp(a, R, module.kernel_size, module.stride, module.padding, epsilon)
        elif isinstance(module, nn.AdaptiveAvgPool2d):
            R = global_avg_pool2d_lrp(a, R, epsilon)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):      # one it could not fold
            R = batch_norm_lrp(a, *eval_affine(module), R, epsilon)
        elif isinstance(module, nn.ReLU):
            R = relu_backward_lrp(a, R)
        else:                                          # Flatten, Dropout (eval: the identity)
            R = R.reshape(a.shape)
    return R


def lrp_layers(model, prefix=""):
    """The model's layers as LRP walks them: [(name, layer)], residual blocks as Residual,
    and each eval-mode batch norm folded into the conv or linear layer before it (Montavon
    et al. 2019, sec. 10.2): w' = w * scale, b' = b * scale + shift per output channel, with
    bn(x) = scale * x + shift. Folding also passes a max-pool between the two when every
    scale is positive (a max-pool commutes with an increasing map per channel). A batch norm
    that cannot be folded stays, with its own epsilon rule (ops/batchnorm.py)."""
    if isinstance(model, nn.BasicBlock):
        main = [("conv1", model.conv1), ("bn1", model.bn1), ("relu", model.relu),
                ("conv2", model.conv2), ("bn2", model.bn2)]
        short = [] if model.downsample is None else list(model.downsample.named_children())
        return Residual(fold([(prefix + n, m) for n, m in main]),
                        fold([(prefix + "downsample." + n, m) for n, m in short]))
    layers = []
    for name in model.names:
        module = model[name]
        if not isinstance(module, KNOWN):
            raise TypeError(f"lrp: layer {prefix + name!r} is a {type(module).__name__}; LRP "
                            f"has rules for {', '.join(k.__name__ for k in KNOWN)}")
        if isinstance(module, nn.BasicBlock):
            module = lrp_layers(module, prefix + name + ".")
        layers.append((prefix + name, module))
    return fold(layers)


def fold(layers):
    """lrp_layers' folding of batch norms into the weighted layer before them."""
    out = []
    for name, module in layers:
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            scale, shift = eval_affine(module)
            pools = []
            while out and isinstance(out[-1][1], nn.MaxPool2d) and (scale > 0).all():
                pools.insert(0, out.pop())
            if out and isinstance(out[-1][1], WEIGHTED):
                out[-1] = (out[-1][0], folded(out[-1][1], scale, shift))
                out.extend(pools)
                continue
            out.extend(pools)
        out.append((name, module))
    return out


def eval_affine(bn):
    """(scale, shift), (C,) float64 each, of an eval-mode batch norm: bn(x) = scale * x + shift."""
    inv_std = 1.0 / np.sqrt(bn.running_var.data.astype(np.float64) + bn.eps)
    weight = 1.0 if bn.weight is None else bn.weight.data.astype(np.float64)
    bias = 0.0 if bn.bias is None else bn.bias.data.astype(np.float64)
    scale = weight * inv_std
    return scale, bias - bn.running_mean.data * scale


def folded(layer, scale, shift):
    """A copy of a Conv2d or Linear layer with a batch norm's scale * z + shift folded in:
    w' = w * scale and b' = b * scale + shift per output channel (scale, shift: (F,))."""
    w = layer.weight.data.astype(np.float64)                  # (F, C, KH, KW) or (F, D)
    b = 0.0 if layer.bias is None else layer.bias.data.astype(np.float64)
    per_output = scale.reshape((-1,) + (1,) * (w.ndim - 1))   # (F, 1, 1, 1) or (F, 1)
    fold = copy.copy(layer)                                   # the same stride and padding
    fold.weight = nn.Parameter((w * per_output).astype(layer.weight.data.dtype))
    fold.bias = nn.Parameter((b * scale + shift).astype(layer.weight.data.dtype))
    return fold


def weighted_layers(layers):
    """The names of every conv and linear layer of lrp_layers' list, blocks' insides included."""
    names = []
    for name, module in layers:
        if isinstance(module, Residual):
            names += weighted_layers(module.main) + weighted_layers(module.shortcut)
        elif isinstance(module, WEIGHTED):
            names.append(name)
    return names


def layer_rules(model, rule="epsilon", rules=None):
    """{name: rule} for every conv and linear layer of the model, checking every name and rule.

    Raises ValueError for an unknown rule or layer name, a rule for a layer without weights,
    or zbox anywhere but the first layer; TypeError for a layer LRP has no rule for."""
    layers = lrp_layers(model)
    weighted = weighted_layers(layers)
    if not weighted:
        raise ValueError("lrp: the model has no conv or linear layer")
    names, first = [name for name, _ in layers], weighted[0]
    if first not in names or any(not isinstance(module, nn.Flatten)
                                 for _, module in layers[:names.index(first)]):
        first = None                       # something changes the pixels' values before it
    _check_rule("rule", rule)
    rule_of = {name: "epsilon" if rule == "zbox" and name != first else rule for name in weighted}
    if rules is None:
        rules = {}
    if not isinstance(rules, dict):
        raise TypeError(f"lrp: rules must be a dict {{layer name: rule}}, got {type(rules).__name__}")
    for name, layer_rule in rules.items():
        if name not in weighted:
            every = dict(model.named_modules())
            if name in every and name:
                raise ValueError(f"lrp: rules set a rule for {name!r}, a "
                                 f"{type(every[name]).__name__}; rules apply to the layers "
                                 f"with weights: {', '.join(weighted)}")
            raise ValueError(f"lrp: rules name an unknown layer {name!r}; layers are: "
                             f"{', '.join(model.names)}")
        _check_rule(f"rules[{name!r}]", layer_rule)
        rule_of[name] = layer_rule
    for name, layer_rule in rule_of.items():
        if layer_rule == "zbox" and name != first:
            raise ValueError(f"lrp: zbox is the rule of the first layer (it reads the pixels), "
                             f"not of {name!r}")
    return rule_of


def zbox_bounds(model, x, bounds=None):
    """zbox's lo and hi as arrays of x's shape: the normalised values of pixels 0 and 1."""
    if bounds is None:
        lo, hi = pixel_range(*input_stats(model))          # (C, 1, 1) each
    else:
        if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
            raise ValueError(f"lrp: bounds must be a pair (lo, hi), got {bounds!r}")
        lo, hi = (np.asarray(b, dtype=np.float64) for b in bounds)
    try:
        return (np.broadcast_to(lo, x.shape).astype(x.dtype),
                np.broadcast_to(hi, x.shape).astype(x.dtype))
    except ValueError:
        raise ValueError(f"lrp: bounds of shapes {np.shape(lo)} and {np.shape(hi)} do not "
                         f"fit images of shape {x.shape}") from None


def _check_rule(what, rule):
    if not isinstance(rule, str) or rule not in LRP_RULES:
        raise ValueError(f"lrp: unknown {what} {rule!r}; choose one of {', '.join(LRP_RULES)}")


def _non_negative(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"lrp: {name} must be a number, got {value!r}")
    if not value >= 0:
        raise ValueError(f"lrp: {name} must be >= 0, got {value}")
    return float(value)


def _bias(module):
    return None if module.bias is None else module.bias.data
