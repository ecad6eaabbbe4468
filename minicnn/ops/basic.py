"""Elementwise arithmetic, matmul, reductions and reshapes, each forward next to backward.

Binary ops broadcast like NumPy. Their backward must undo the broadcast: a
gradient flowing into a (3,)-shaped bias that was broadcast to (N, 3) is the
sum over the N rows (`unbroadcast`).
"""
import numpy as np

from minicnn.tensor import Function, Tensor


def unbroadcast(dx, shape):
    """Sum dx over the axes that broadcasting added or stretched, giving `shape`."""
    while dx.ndim > len(shape):                     # leading axes added by broadcasting
        dx = dx.sum(axis=0)
    for axis, size in enumerate(shape):             # axes stretched from size 1
        if size == 1 and dx.shape[axis] != 1:
            dx = dx.sum(axis=axis, keepdims=True)
    return dx


def check_broadcast(op, a, b):
    try:
        np.broadcast_shapes(np.shape(a), np.shape(b))
    except ValueError:
        raise ValueError(f"{op}: shapes {np.shape(a)} and {np.shape(b)} "
                         f"do not broadcast together") from None


def constant_like(value, t):
    """A non-Tensor operand becomes a constant array of the tensor's dtype."""
    return value if isinstance(value, Tensor) else np.asarray(value, dtype=t.dtype)


class Add(Function):
    def forward(self, a, b):
        check_broadcast("add", a, b)
        self.a_shape, self.b_shape = np.shape(a), np.shape(b)
        return a + b

    def backward(self, dout):
        # d(a + b)/da = 1, d(a + b)/db = 1
        return unbroadcast(dout, self.a_shape), unbroadcast(dout, self.b_shape)


def add_lrp(a, b, R, epsilon=1e-9):
    """Relevance R of a + b (a residual block's add) -> the relevance of a and of b, by the
    epsilon rule: each term gets its share of the sum, R * a / (z + eps sign z) and
    R * b / (z + eps sign z) with z = a + b (minicnn.visualize.lrp). Both of a's shape."""
    from minicnn.ops.linear import stabilise
    share = R / stabilise(a + b, epsilon)
    return a * share, b * share


class Sub(Function):
    def forward(self, a, b):
        check_broadcast("sub", a, b)
        self.a_shape, self.b_shape = np.shape(a), np.shape(b)
        return a - b

    def backward(self, dout):
        return unbroadcast(dout, self.a_shape), unbroadcast(-dout, self.b_shape)


class Mul(Function):
    def forward(self, a, b):
        check_broadcast("mul", a, b)
        self.a, self.b = a, b
        return a * b

    def backward(self, dout):
        # d(a * b)/da = b, d(a * b)/db = a
        da = unbroadcast(dout * self.b, np.shape(self.a))
        db = unbroadcast(dout * self.a, np.shape(self.b))
        return da, db


class MatMul(Function):
    """out = a @ b for 2-D a (N, K) and b (K, M)."""

    def forward(self, a, b):
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise ValueError(f"matmul: needs (N, K) @ (K, M), got {a.shape} @ {b.shape}")
        self.a, self.b = a, b
        return a @ b                                # (N, M)

    def backward(self, dout):                       # dout: (N, M)
        return dout @ self.b.T, self.a.T @ dout     # (N, K), (K, M)


class Sum(Function):
    def forward(self, x, axis=None, keepdims=False):
        self.x_shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return np.asarray(x.sum(axis=axis, keepdims=keepdims))

    def backward(self, dout):
        # every summed element gets the gradient of the sum: copy dout back over the axes
        if self.axis is not None and not self.keepdims:
            dout = np.expand_dims(dout, self.axis)
        return (np.broadcast_to(dout, self.x_shape).copy(),)


class Mean(Function):
    def forward(self, x, axis=None, keepdims=False):
        self.x_shape, self.axis, self.keepdims = x.shape, axis, keepdims
        out = np.asarray(x.mean(axis=axis, keepdims=keepdims))
        self.count = x.size // max(out.size, 1)     # elements averaged into each output
        return out

    def backward(self, dout):
        if self.axis is not None and not self.keepdims:
            dout = np.expand_dims(dout, self.axis)
        return (np.broadcast_to(dout / self.count, self.x_shape).copy(),)


class Reshape(Function):
    def forward(self, x, shape):
        try:
            out = x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape {x.shape} "
                             f"({x.size} elements) into {tuple(shape)}") from None
        self.x_shape = x.shape
        return out

    def backward(self, dout):
        return (dout.reshape(self.x_shape),)


class GetItem(Function):
    """out = x[index] (basic or integer-array indexing); backward scatters dout back."""

    def forward(self, x, index):
        self.x_shape, self.x_dtype, self.index = x.shape, x.dtype, index
        return np.array(x[index])

    def backward(self, dout):
        dx = np.zeros(self.x_shape, dtype=self.x_dtype)
        np.add.at(dx, self.index, dout)             # add.at: repeated indices accumulate
        return (dx,)


def add(a, b):
    return Add.apply(constant_like(a, b), constant_like(b, a))


def sub(a, b):
    return Sub.apply(constant_like(a, b), constant_like(b, a))


def mul(a, b):
    return Mul.apply(constant_like(a, b), constant_like(b, a))


def matmul(a, b):
    return MatMul.apply(a, b)


def sum(x, axis=None, keepdims=False):  # noqa: A001  (the name students expect)
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return Mean.apply(x, axis=axis, keepdims=keepdims)


def reshape(x, shape):
    return Reshape.apply(x, shape=tuple(shape))


def getitem(x, index):
    return GetItem.apply(x, index=index)
