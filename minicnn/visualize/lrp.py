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
import numbers

import numpy as np

from minicnn import nn
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
KNOWN = WEIGHTED + (nn.ReLU, nn.MaxPool2d, nn.Flatten)


def lrp(model, x, target, rule="epsilon", epsilon=1e-9, gamma=0.25, rules=None, bounds=None):
    """The relevance of every input pixel for a target.

    Inputs:
    - model: a Sequential of Conv2d, Linear, ReLU, MaxPool2d and Flatten layers
    - x: (N, C, H, W) normalised images
    - target: a class (index or name), one class per image, or a unit (see targets.py); the
      relevance starts as the target's logit (a unit's value)
    - rule: the rule of every conv and linear layer: "epsilon", "gamma", "alpha1beta0" (z+),
      "alpha2beta1" or "zbox". zbox is for the first layer only (it knows the pixels lie in
      [0, 1]): rule="zbox" means zbox there and epsilon above.
    - epsilon: every rule's stabiliser (also the max-pools'); gamma: the gamma rule's boost
    - rules: {layer name: rule} for some layers (composite LRP), `rule` for the others
    - bounds: (lo, hi) of zbox, normalised pixel values, each a number or (C, 1, 1); default
      pixels 0 and 1 under model.meta's mean and std
    Returns: relevance (N, C, H, W) in x's dtype
    """
    x = as_float_array(x.data if isinstance(x, Tensor) else x)
    if x.ndim != 4:
        raise ValueError(f"lrp: expected images of shape (N, C, H, W), got {x.shape}")
    rule_of = layer_rules(model, rule, rules)
    epsilon = _non_negative("epsilon", epsilon)
    gamma = _non_negative("gamma", gamma)
    layer, units = resolve_target(model, target, len(x))
    names = model.names[:model.names.index(layer) + 1]
    if "zbox" in rule_of.values():
        lo, hi = zbox_bounds(model, x, bounds)

    # forward: every layer's input, and the forward (with its backward) it ran
    inputs, passes, a = [], [], x
    for name in names:
        module = model[name]
        inputs.append(a)
        if isinstance(module, nn.Conv2d):
            a, back = dx_pass(Conv2dOp, a, module.weight.data, _bias(module),
                              stride=module.stride, padding=module.padding)
        elif isinstance(module, nn.Linear):
            a, back = dx_pass(LinearOp, a, module.weight.data, _bias(module))
        elif isinstance(module, nn.MaxPool2d):
            a, back = dx_pass(MaxPool2dOp, a, kernel_size=module.kernel_size,
                              stride=module.stride)
        else:
            with no_grad(), nn.evaluating():
                a, back = module(Tensor(a)).data, None
        passes.append((a, back))

    R = unit_dout(a, units, layer) * a                 # the target's logit, 0 elsewhere
    for name, a, done in zip(reversed(names), reversed(inputs), reversed(passes)):
        module = model[name]
        if isinstance(module, WEIGHTED):
            options = dict(epsilon=epsilon, gamma=gamma)
            if rule_of[name] == "zbox":
                options.update(lo=lo.reshape(a.shape), hi=hi.reshape(a.shape))
            reuse = done if rule_of[name] in ("epsilon", "zbox") else None
            if isinstance(module, nn.Conv2d):
                R = conv2d_lrp(a, module.weight.data, _bias(module), R, module.stride,
                               module.padding, rule_of[name], done=reuse, **options)
            else:
                R = linear_lrp(a, module.weight.data, _bias(module), R, rule_of[name],
                               done=reuse, **options)
        elif isinstance(module, nn.MaxPool2d):
            R = max_pool2d_lrp(a, R, module.kernel_size, module.stride, epsilon, done=done)
        elif isinstance(module, nn.ReLU):
            R = relu_backward_lrp(a, R)
        else:                                          # Flatten
            R = R.reshape(a.shape)
    return R.astype(x.dtype, copy=False)


def layer_rules(model, rule="epsilon", rules=None):
    """{name: rule} for every conv and linear layer of the model, checking every name and rule.

    Raises ValueError for an unknown rule or layer name, a rule for a layer without weights,
    or zbox anywhere but the first layer; TypeError for a layer LRP has no rule for."""
    for name in model.names:
        if not isinstance(model[name], KNOWN):
            raise TypeError(f"lrp: layer {name!r} is a {type(model[name]).__name__}; LRP has "
                            f"rules for Conv2d, Linear, ReLU, MaxPool2d and Flatten")
    weighted = [name for name in model.names if isinstance(model[name], WEIGHTED)]
    if not weighted:
        raise ValueError("lrp: the model has no conv or linear layer")
    first = weighted[0]
    if any(not isinstance(model[n], nn.Flatten) for n in model.names[:model.names.index(first)]):
        first = None                       # something reshapes the pixels' values before it
    _check_rule("rule", rule)
    rule_of = {name: "epsilon" if rule == "zbox" and name != first else rule for name in weighted}
    if rules is None:
        rules = {}
    if not isinstance(rules, dict):
        raise TypeError(f"lrp: rules must be a dict {{layer name: rule}}, got {type(rules).__name__}")
    for name, layer_rule in rules.items():
        if name not in model.names:
            raise ValueError(f"lrp: rules name an unknown layer {name!r}; layers are: "
                             f"{', '.join(model.names)}")
        if name not in weighted:
            raise ValueError(f"lrp: rules set a rule for {name!r}, a "
                             f"{type(model[name]).__name__}; rules apply to the layers with "
                             f"weights: {', '.join(weighted)}")
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
