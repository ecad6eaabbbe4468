"""Layers as Modules, PyTorch style: Conv2d, Linear, ReLU, MaxPool2d, Flatten, Sequential.

A Module holds Parameters (Tensors that need gradients) and child Modules as
ordinary attributes; `named_parameters()` finds them in the order they were
assigned and names them by path, e.g. "conv1.weight". `state_dict()` uses the
same names and array layouts as PyTorch (conv weight (F, C, KH, KW), linear
weight (out, in)), so weights move between the two without reshaping.

A Sequential of named layers also gives what the visualizations need: the
activation of any named layer (`activations`) and the sub-network up to a
layer (`upto`). The gradient of a unit with respect to the input is
minicnn.visualize.gradient.
"""
import numbers

import numpy as np

from minicnn.init import he_normal
from minicnn.ops.conv import conv2d
from minicnn.ops.linear import linear
from minicnn.ops.pool import max_pool2d
from minicnn.ops.relu import relu
from minicnn.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a learnable weight: requires_grad is always on."""

    def __init__(self, data):
        super().__init__(data, requires_grad=True)


class Module:
    training = True

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        raise NotImplementedError

    def named_children(self):
        return [(name, m) for name, m in vars(self).items() if isinstance(m, Module)]

    def named_parameters(self, prefix=""):
        """Yield (name, Parameter) pairs, in assignment order, children included."""
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value.named_parameters(prefix + name + ".")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, flag=True):
        """Switch gradients of every parameter on or off (off: backward skips dw, db)."""
        for p in self.parameters():
            p.requires_grad = flag
        return self

    def train(self, mode=True):
        self.training = mode
        for _, child in self.named_children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def to(self, dtype):
        """Convert every parameter to `dtype` (np.float32 or np.float64), in place."""
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"Module.to: dtype must be float32 or float64, got {dtype}")
        for p in self.parameters():
            p.data, p.grad = p.data.astype(dtype), None
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    def state_dict(self):
        """{name: array copy}, with PyTorch's names and layouts."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state):
        """Copy arrays into the parameters (keeping their dtype). Every name must
        match and every shape agree; otherwise nothing is changed and the error
        lists exactly what differs."""
        params = dict(self.named_parameters())
        problems = [f"missing {name}" for name in params if name not in state]
        problems += [f"unexpected {name}" for name in state if name not in params]
        problems += [f"{name}: expected shape {params[name].shape}, got {np.shape(state[name])}"
                     for name in params if name in state and np.shape(state[name]) != params[name].shape]
        if problems:
            raise ValueError("load_state_dict: " + "; ".join(problems))
        for name, p in params.items():
            p.data = np.array(state[name], dtype=p.dtype)
            p.grad = None


class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        KH, KW = (kernel_size, kernel_size) if isinstance(kernel_size, numbers.Integral) else kernel_size
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (KH, KW), stride, padding
        fan_in = in_channels * KH * KW
        self.weight = Parameter(he_normal((out_channels, in_channels, KH, KW), fan_in))
        self.bias = Parameter(np.zeros(out_channels, dtype=np.float32)) if bias else None

    def forward(self, x):
        return conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def __repr__(self):
        KH, KW = self.kernel_size
        kernel = KH if KH == KW else self.kernel_size
        return (f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={kernel}, "
                f"stride={self.stride}, padding={self.padding})")


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True):
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(he_normal((out_features, in_features), in_features))
        self.bias = Parameter(np.zeros(out_features, dtype=np.float32)) if bias else None

    def forward(self, x):
        return linear(x, self.weight, self.bias)

    def __repr__(self):
        return f"Linear(in_features={self.in_features}, out_features={self.out_features})"


class ReLU(Module):
    def forward(self, x):
        return relu(x)

    def __repr__(self):
        return "ReLU()"


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None):
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride   # int or (SH, SW)

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride)

    def __repr__(self):
        return f"MaxPool2d(kernel_size={self.kernel_size}, stride={self.stride})"


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W) in C, H, W order, as PyTorch's nn.Flatten."""

    def forward(self, x):
        return x.flatten()

    def __repr__(self):
        return "Flatten()"


class Sequential(Module):
    """Layers applied in order. Name them with a dict (names become attributes
    and state-dict prefixes), or pass them positionally to get "0", "1", ...

        net = Sequential({"conv1": Conv2d(3, 8, 3), "relu1": ReLU()})
        net.conv1, net["relu1"], net[0]
    """

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], dict):
            named = list(layers[0].items())
        else:
            named = [(str(i), layer) for i, layer in enumerate(layers)]
        for name, layer in named:
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layer {name!r} is a {type(layer).__name__}, not a Module")
            setattr(self, name, layer)
        self.names = [name for name, _ in named]

    def __getitem__(self, key):
        if isinstance(key, str):
            self.check_layer(key)
            return getattr(self, key)
        return getattr(self, self.names[key])

    def __len__(self):
        return len(self.names)

    def __iter__(self):
        return (getattr(self, name) for name in self.names)

    def check_layer(self, name):
        if name not in self.names:
            raise ValueError(f"Sequential: unknown layer {name!r}; layers are: {', '.join(self.names)}")

    def forward(self, x):
        for layer in self:
            x = layer(x)
        return x

    def upto(self, name):
        """The layers from the first through `name`, as a Sequential sharing their weights."""
        self.check_layer(name)
        stop = self.names.index(name) + 1
        return Sequential({n: getattr(self, n) for n in self.names[:stop]})

    def activations(self, x, names=None):
        """Run x through the net and return {name: output Tensor} for the named layers
        (all of them by default). Each kept output retains its .grad after a backward()."""
        names = self.names if names is None else list(names)
        for name in names:
            self.check_layer(name)
        last = max(self.names.index(name) for name in names)
        acts = {}
        for name in self.names[:last + 1]:
            x = getattr(self, name)(x)
            if name in names:
                acts[name] = x.retain_grad()
        return acts
