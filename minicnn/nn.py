"""Layers as Modules, PyTorch style: Conv2d, Linear, ReLU, MaxPool2d, AvgPool2d,
AdaptiveAvgPool2d, BatchNorm1d, BatchNorm2d, Dropout, BasicBlock (residual), Flatten, Sequential.

A Module holds Parameters (Tensors that need gradients), Buffers (state that is not learned,
such as BatchNorm's running statistics) and child Modules as ordinary attributes;
`named_parameters()` finds them in the order they were assigned and names them by path, e.g.
"conv1.weight". `state_dict()` holds both parameters and buffers, with the same names and
array layouts as PyTorch (conv weight (F, C, KH, KW), linear weight (out, in),
"bn1.running_var"), so weights move between the two without reshaping.

`model.train()` / `model.eval()` set `training` on every layer; BatchNorm and Dropout read it
(batch statistics and random masks in training, running statistics and the identity in eval).
Inside `with evaluating():` every layer acts as in eval mode, in that thread only, whatever
its flag says: every visualization runs its model so, and leaves the flags alone.

A Sequential of named layers also gives what the visualizations need: the
activation of any named layer (`activations`) and the sub-network up to a
layer (`upto`). The gradient of a unit with respect to the input is
minicnn.visualize.gradient.
"""
import numbers
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from minicnn.init import he_normal
from minicnn.ops.avgpool import adaptive_avg_pool2d, avg_pool2d, check_output_size
from minicnn.ops.batchnorm import batch_norm
from minicnn.ops.conv import conv2d
from minicnn.ops.dropout import check_p, dropout
from minicnn.ops.linear import linear
from minicnn.ops.pool import max_pool2d
from minicnn.ops.relu import relu
from minicnn.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a learnable weight: requires_grad is always on."""

    def __init__(self, data):
        super().__init__(data, requires_grad=True)


class Buffer(Tensor):
    """A Tensor that is part of a Module's state but not learned (BatchNorm's running_mean,
    running_var and num_batches_tracked): saved in the state dict, never given a gradient.
    Unlike other Tensors it keeps an integer dtype (a count stays int64)."""

    def __init__(self, data):
        super().__init__(np.zeros(0, dtype=np.float32))
        self.data = np.array(data)


class Module:
    training = True

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        raise NotImplementedError

    def named_children(self):
        return [(name, m) for name, m in vars(self).items() if isinstance(m, Module)]

    def named_modules(self, prefix=""):
        """Yield (name, module) for this module (named prefix, "" at the top) and every module
        inside it, by path ("block2.conv1"), as PyTorch's named_modules."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(prefix + name if not prefix else f"{prefix}.{name}")

    def named_tensors(self, kind, prefix=""):
        """Yield (name, tensor) for every attribute that is a `kind` (Parameter, Buffer, or a
        tuple of both), in assignment order, children included, named by path ("conv1.weight")."""
        for name, value in vars(self).items():
            if isinstance(value, kind):
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value.named_tensors(kind, prefix + name + ".")

    def named_parameters(self):
        return self.named_tensors(Parameter)

    def named_buffers(self):
        return self.named_tensors(Buffer)

    def named_state(self):
        """Parameters and buffers together, in assignment order: the state dict's entries."""
        return self.named_tensors((Parameter, Buffer))

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
        for _, b in self.named_buffers():              # float buffers follow; counts stay ints
            if b.dtype.kind == "f":
                b.data = b.data.astype(dtype)
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    def state_dict(self):
        """{name: array copy} of every parameter and buffer, with PyTorch's names and layouts."""
        return {name: t.data.copy() for name, t in self.named_state()}

    def load_state_dict(self, state):
        """Copy arrays into the parameters and buffers (keeping their dtype). Every name must
        match and every shape agree; otherwise nothing is changed and the error lists exactly
        what differs. (A missing num_batches_tracked is allowed and left as it is, as in
        PyTorch, which added that buffer later.)"""
        params = dict(self.named_state())
        optional = {name for name in params if name.endswith("num_batches_tracked")}
        problems = [f"missing {name}" for name in params
                    if name not in state and name not in optional]
        problems += [f"unexpected {name}" for name in state if name not in params]
        problems += [f"{name}: expected shape {params[name].shape}, got {np.shape(state[name])}"
                     for name in params if name in state and np.shape(state[name]) != params[name].shape]
        if problems:
            raise ValueError("load_state_dict: " + "; ".join(problems))
        for name, p in params.items():
            if name in state:
                p.data = np.array(state[name], dtype=p.dtype)
                p.grad = None


# True inside evaluating(): layers act as in eval mode (per thread and asyncio task)
_evaluating = ContextVar("minicnn_evaluating", default=False)


@contextmanager
def evaluating(model=None):
    """Run the block as if every model were in eval mode (BatchNorm's running statistics, no
    dropout): what every explanation of a trained net needs. It holds for this thread (or
    asyncio task) only, and no model's `training` flag changes, so another thread may go on
    training the same model meanwhile. Yields `model`."""
    token = _evaluating.set(True)
    try:
        yield model
    finally:
        _evaluating.reset(token)


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


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride   # int or (SH, SW)
        self.padding = padding

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def __repr__(self):
        return f"AvgPool2d(kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding})"


class AdaptiveAvgPool2d(Module):
    """Global average pooling, (N, C, H, W) -> (N, C, 1, 1); only output_size=1 exists."""

    def __init__(self, output_size=1):
        check_output_size(output_size)
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def __repr__(self):
        return f"AdaptiveAvgPool2d(output_size={self.output_size})"


class _BatchNorm(Module):
    """Batch norm over channel axis 1 (minicnn/ops/batchnorm.py): batch statistics in
    training mode (and the running ones updated), running statistics in eval mode.
    momentum=None: the running statistics are the cumulative average over the batches."""
    dims = ()                                              # the input's allowed ndims

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True):
        self.num_features, self.eps, self.momentum, self.affine = num_features, eps, momentum, affine
        self.weight = Parameter(np.ones(num_features, dtype=np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=np.float32)) if affine else None
        self.running_mean = Buffer(np.zeros(num_features, dtype=np.float32))
        self.running_var = Buffer(np.ones(num_features, dtype=np.float32))
        self.num_batches_tracked = Buffer(np.array(0, dtype=np.int64))

    def forward(self, x):
        name = type(self).__name__
        if x.ndim not in self.dims:
            layouts = " or ".join(f"{d}-D" for d in self.dims)
            raise ValueError(f"{name}: input must be {layouts} (N, C, ...), got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}): input has C={x.shape[1]} channels "
                             f"(shape {x.shape})")
        momentum = 0.0 if self.momentum is None else self.momentum     # eval: not read
        training = self.training and not _evaluating.get()
        if training:
            self.num_batches_tracked.data = self.num_batches_tracked.data + 1
            if self.momentum is None:                       # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked.data)
        return batch_norm(x, self.running_mean.data, self.running_var.data, self.weight,
                          self.bias, training=training, momentum=momentum, eps=self.eps)

    def __repr__(self):
        return (f"{type(self).__name__}({self.num_features}, eps={self.eps}, "
                f"momentum={self.momentum}, affine={self.affine})")


class BatchNorm1d(_BatchNorm):
    """(N, C) or (N, C, L): statistics over N (and L) per feature."""
    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """(N, C, H, W): statistics over N, H and W per channel."""
    dims = (4,)


class Dropout(Module):
    """Zero each value with probability p in training mode (the rest scaled by 1 / (1 - p));
    the identity in eval mode. The masks come from minicnn.manual_seed's generator."""

    def __init__(self, p=0.5):
        self.p = check_p(p)

    def forward(self, x):
        return dropout(x, self.p, training=self.training and not _evaluating.get())

    def __repr__(self):
        return f"Dropout(p={self.p})"


class BasicBlock(Module):
    """The residual block of He et al., "Deep Residual Learning for Image Recognition" (CVPR
    2016), with torchvision's names and state-dict keys:

        out = relu( bn2(conv2( relu(bn1(conv1(x))) )) + shortcut(x) )

    conv1 is 3x3 with `stride`, conv2 3x3; the shortcut is x itself, or, where the shape
    changes (stride > 1 or other channels), `downsample`: a 1x1 convolution with `stride`
    and a BatchNorm2d. The add is an op of the graph (ops/basic.py Add), so gradients, the
    backward rules and relevance flow down both paths and sum at x.
    """

    def __init__(self, in_channels, out_channels, stride=1):
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(out_channels)
        self.relu = ReLU()
        self.conv2 = Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = Sequential(Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                         BatchNorm2d(out_channels))

    def paths(self):
        """The layers of each path from the input to the add, for the receptive field."""
        return [[self.conv1, self.bn1, self.relu, self.conv2, self.bn2],
                [] if self.downsample is None else list(self.downsample)]

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)                    # the add, then the block's ReLU

    def __repr__(self):
        stride = self.conv1.stride
        return (f"BasicBlock({self.conv1.in_channels}, {self.conv1.out_channels}"
                + (f", stride={stride})" if stride != 1 else ")"))


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
