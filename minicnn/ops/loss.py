"""Softmax, log-softmax and the fused, numerically stable cross-entropy.

Stability: softmax(z) = softmax(z - max(z)), so we subtract each row's max
before exponentiating; exp never overflows and the largest term is exp(0) = 1.

    log_softmax(z)_k = z_k - m - log(sum_j exp(z_j - m)),   m = max_j z_j
    cross_entropy(z, y) = -(1/N) sum_n log_softmax(z_n)_{y_n}
    d cross_entropy / dz = (softmax(z) - onehot(y)) / N

Label smoothing (Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016), as
PyTorch's label_smoothing=eps: the target is q = (1 - eps) onehot(y) + eps / K, so

    cross_entropy(z, y) = -(1/N) sum_n sum_k q_nk log_softmax(z_n)_k,   d / dz = (softmax(z) - q) / N
"""
import numbers

import numpy as np

from minicnn.ops.checks import check_float, check_ndim
from minicnn.tensor import Function, Tensor


def stable_log_softmax(z, axis):
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    def forward(self, z, axis=-1):
        check_float("softmax", "input", z)
        self.axis = axis
        self.p = np.exp(stable_log_softmax(z, axis))
        return self.p

    def backward(self, dout):
        # Jacobian-vector product of softmax: p * (dout - sum(dout * p))
        p = self.p
        return (p * (dout - (dout * p).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    def forward(self, z, axis=-1):
        check_float("log_softmax", "input", z)
        self.axis = axis
        out = stable_log_softmax(z, axis)
        self.p = np.exp(out)
        return out

    def backward(self, dout):
        # d log_softmax: dout - softmax * sum(dout)
        return (dout - self.p * dout.sum(axis=self.axis, keepdims=True),)


def check_labels(labels, N, K):
    y = np.asarray(labels)
    if y.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: labels must be integers, got dtype {y.dtype}")
    if y.shape != (N,):
        raise ValueError(f"cross_entropy: labels must have shape ({N},) for logits "
                         f"({N}, {K}), got {y.shape}")
    if N and (y.min() < 0 or y.max() >= K):
        bad = y[(y < 0) | (y >= K)][0]
        raise ValueError(f"cross_entropy: label {bad} is out of range for {K} classes")
    return y.astype(np.int64)


class CrossEntropy(Function):
    def forward(self, z, labels, label_smoothing=0.0):
        """
        Inputs:
        - z: (N, K) logits (unnormalised class scores)
        - labels: (N,) integer classes in [0, K)
        - label_smoothing: eps in [0, 1]; the target puts 1 - eps + eps/K on the label and
          eps/K on every other class
        Returns the mean over the batch of -sum_k q_k log softmax(z)_k, a scalar.
        """
        check_ndim("cross_entropy", "logits", z, 2, "(N, K)")
        check_float("cross_entropy", "logits", z)
        if (isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real)
                or not 0 <= label_smoothing <= 1):
            raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], "
                             f"got {label_smoothing!r}")
        N, K = z.shape
        if N == 0:
            raise ValueError("cross_entropy: empty batch (logits of shape (0, K))")
        y = check_labels(labels, N, K)
        logp = stable_log_softmax(z, axis=1)                # (N, K)
        self.p, self.y, self.eps = np.exp(logp), y, float(label_smoothing)
        nll = -logp[np.arange(N), y].mean()
        if self.eps:                                        # (1 - eps) nll + eps mean_k(-logp)
            nll = (1 - self.eps) * nll - self.eps * logp.mean(axis=1).mean()
        return np.asarray(nll, dtype=z.dtype)

    def backward(self, dout):
        # softmax-CE gradient: (p - q) / N, times the scalar dout; q = onehot(y) unsmoothed
        N, K = self.p.shape
        dz = self.p - self.eps / K if self.eps else self.p.copy()
        dz[np.arange(N), self.y] -= 1 - self.eps
        return dz * (dout / N), None


def softmax(z, axis=-1):
    return Softmax.apply(z, axis=axis)


def log_softmax(z, axis=-1):
    return LogSoftmax.apply(z, axis=axis)


def cross_entropy(logits, labels, label_smoothing=0.0):
    """Mean cross-entropy of (N, K) logits against (N,) integer labels (label_smoothing:
    PyTorch's, eps in [0, 1])."""
    if isinstance(labels, numbers.Number):
        raise TypeError("cross_entropy: labels must be an array of N integers, got a scalar")
    if isinstance(labels, Tensor):
        labels = labels.data
    return CrossEntropy.apply(logits, labels, label_smoothing=label_smoothing)
