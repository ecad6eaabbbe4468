"""Tensor and Function: the whole of reverse-mode automatic differentiation.

A `Tensor` wraps a NumPy array. When an op (a `Function`) makes a tensor from
other tensors that need gradients, it records itself as the tensor's `ctx`.
`backward()` then visits the graph in reverse topological order and asks every
`Function` to turn the gradient of its output (`dout`) into gradients of its
inputs (the chain rule, one op at a time).

    x = Tensor(np.random.randn(4, 3), requires_grad=True)
    loss = (x * x).sum()
    loss.backward()                    # x.grad == 2 * x.data

Gradients accumulate (`+=`), as in micrograd and PyTorch: call `zero_grad()`
(or the optimiser's) between steps.

Dtypes: arrays that are already float32 or float64 keep their dtype, anything
else (lists, ints, Python floats) becomes float32. So float64 inputs and
weights stay float64 end to end, which the gradient checks rely on.
"""
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from minicnn.route import is_plain

# Switches for a block of code, held per thread and per asyncio task (contextvars), so that
# two threads or two requests of a server never see each other's setting.
_grad_enabled = ContextVar("minicnn_grad_enabled", default=True)
_constants = ContextVar("minicnn_constants", default=frozenset())   # ids of frozen tensors


@contextmanager
def no_grad():
    """Inside this block, ops record no graph (for inference: faster, less memory)."""
    token = _grad_enabled.set(False)
    try:
        yield
    finally:
        _grad_enabled.reset(token)


def is_grad_enabled():
    return _grad_enabled.get()


@contextmanager
def frozen(tensors):
    """Inside this block, ops treat `tensors` as constants: backward computes no gradient
    for them (convolution skips dw and db) and leaves their .grad as it was.

    For the gradient of the input alone: `with frozen(model.parameters()): ...`. Unlike
    model.requires_grad_(False), this changes nothing that another thread can see.
    """
    token = _constants.set(_constants.get() | {id(t) for t in tensors})
    try:
        yield
    finally:
        _constants.reset(token)


def as_float_array(data):
    """float32/float64 arrays pass through untouched; everything else becomes float32."""
    if isinstance(data, Tensor):
        raise TypeError("Tensor(...): got a Tensor; use .detach() or .data to rewrap it")
    array = np.asarray(data)
    # only NumPy data says which float it is: np.asarray([0.5]) is float64 by default
    if isinstance(data, (np.ndarray, np.generic)) and array.dtype in (np.float32, np.float64):
        return array
    if array.dtype.kind not in "biuf":
        raise TypeError(f"Tensor(...): cannot hold an array of dtype {array.dtype}")
    return array.astype(np.float32)


class Tensor:
    """A NumPy array that remembers how it was made, so gradients can flow back.

    Attributes:
    - data: the np.ndarray (float32 or float64)
    - grad: np.ndarray of the same shape once backward() has reached it, else None
    - requires_grad: whether gradients should flow into this tensor
    - ctx: the Function that produced it (None for a leaf: inputs and parameters)
    """

    def __init__(self, data, requires_grad=False):
        self.data = as_float_array(data)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.ctx = None
        self.retains_grad = False

    # ---- a few conveniences -------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor(shape={self.shape}, dtype={self.dtype}{grad})"

    def numpy(self):
        return self.data

    def item(self):
        return self.data.item()

    def detach(self):
        """The same data, cut off from the graph."""
        return Tensor(self.data)

    def retain_grad(self):
        """Keep .grad on this intermediate tensor too (leaves always keep theirs)."""
        self.retains_grad = True
        return self

    def zero_grad(self):
        self.grad = None

    # ---- operators; the ops themselves live in minicnn/ops/ -----------------------
    def __add__(self, other):
        return ops_basic.add(self, other)

    def __radd__(self, other):
        return ops_basic.add(other, self)

    def __sub__(self, other):
        return ops_basic.sub(self, other)

    def __rsub__(self, other):
        return ops_basic.sub(other, self)

    def __mul__(self, other):
        return ops_basic.mul(self, other)

    def __rmul__(self, other):
        return ops_basic.mul(other, self)

    def __neg__(self):
        return ops_basic.mul(self, -1.0)

    def __matmul__(self, other):
        return ops_basic.matmul(self, other)

    def __getitem__(self, index):
        return ops_basic.getitem(self, index)

    def sum(self, axis=None, keepdims=False):
        return ops_basic.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return ops_basic.mean(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops_basic.reshape(self, shape)

    def flatten(self):
        """(N, ...) -> (N, prod(...)), in C order: for (N, C, H, W) that is C, H, W order."""
        return ops_basic.reshape(self, (self.shape[0], -1))

    # ---- reverse mode --------------------------------------------------------------
    def backward(self, dout=None):
        """Backpropagate from this tensor to every leaf that requires a gradient.

        dout: the gradient of some final scalar with respect to this tensor
        (same shape). Omit it for a one-element tensor such as a loss: it is 1.
        Passing a one-hot `dout` backpropagates from a single unit.
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad "
                               "(no input or parameter of its graph has requires_grad=True)")
        if dout is None:
            if self.data.size != 1:
                raise ValueError(f"backward(): dout is needed for a non-scalar tensor "
                                 f"of shape {self.shape}")
            dout = np.ones_like(self.data)
        dout = np.asarray(dout, dtype=self.data.dtype)
        if dout.shape != self.shape:
            raise ValueError(f"backward(): dout has shape {dout.shape}, tensor has {self.shape}")

        grads = {id(self): dout}       # gradients gathered so far, by tensor
        for t in reversed(topological_order(self)):
            dout = grads.pop(id(t), None)
            if dout is None:
                continue
            if t.ctx is None or t.retains_grad:
                t.grad = dout.copy() if t.grad is None else t.grad + dout
            if t.ctx is None:
                continue
            dinputs = t.ctx.backward(dout)
            for parent, dx, needed in zip(t.ctx.parents, dinputs, t.ctx.needs_input_grad):
                if dx is None or not needed:
                    continue
                key = id(parent)
                grads[key] = dx if key not in grads else grads[key] + dx


def topological_order(root):
    """Every tensor root depends on, each after all of its inputs.

    Iterative depth-first search with an explicit stack, so a graph thousands
    of ops deep does not hit Python's recursion limit.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        t, inputs_done = stack.pop()
        if inputs_done:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))               # revisit t once its inputs are placed
        if t.ctx is not None:
            for parent, needed in zip(t.ctx.parents, t.ctx.needs_input_grad):
                if needed and id(parent) not in visited:
                    stack.append((parent, False))
    return order


class Function:
    """One differentiable op. Subclasses define, next to each other:

    - forward(self, *arrays, **options) -> out array; save on `self` what backward needs
    - backward(self, dout) -> one gradient (or None) per positional input, in order

    `Op.apply(...)` unwraps Tensors into arrays, runs forward, and (unless in
    no_grad, or no input needs a gradient) records the op on the output.
    `self.needs_input_grad[i]` tells forward and backward whether input i
    wants a gradient, so they can skip work nobody asked for. `self.plain`
    is the route (minicnn/route.py) in force when forward ran; backward takes
    the same one, since the two routes save different things for it.
    """

    parents = ()

    @classmethod
    def apply(cls, *inputs, **options):
        fn = cls()
        fn.plain = is_plain()
        # which positional inputs want a gradient: backward may skip the others
        recording, constants = _grad_enabled.get(), _constants.get()
        fn.needs_input_grad = tuple(recording and isinstance(t, Tensor) and t.requires_grad
                                    and id(t) not in constants for t in inputs)
        arrays = [t.data if isinstance(t, Tensor) else t for t in inputs]
        out = Tensor(fn.forward(*arrays, **options))
        if any(fn.needs_input_grad):
            out.requires_grad = True
            out.ctx = fn
            fn.parents = inputs        # positional inputs; backward answers for each
        return out

    def forward(self, *arrays, **options):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError


def tensor(data, requires_grad=False):
    """Make a Tensor (PyTorch spelling)."""
    return Tensor(data, requires_grad=requires_grad)


# The one import cycle in minicnn, kept on purpose. Tensor's operators (a + b, a @ b, a[i])
# are ops like any other, with forward and backward in ops/basic.py, and ops/basic.py builds
# on Function and Tensor from this module. So it is imported here at the bottom, once both
# exist. (The other way out, ops/basic.py attaching the operators to Tensor when imported,
# hides where they come from.)
from minicnn.ops import basic as ops_basic  # noqa: E402
