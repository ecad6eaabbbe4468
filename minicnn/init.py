"""Random weight initialisation and the seed that makes it repeatable.

He et al., "Delving Deep into Rectifiers" (ICCV 2015): with ReLUs, drawing
weights from N(0, 2 / fan_in) keeps the variance of activations roughly the
same from layer to layer, so a deep net neither dies nor explodes at start.
"""
import numpy as np

_rng = np.random.default_rng()


def manual_seed(seed):
    """Seed the generator that initialises new layers (like torch.manual_seed)."""
    global _rng
    _rng = np.random.default_rng(seed)


def he_normal(shape, fan_in, dtype=np.float32):
    """Weights ~ N(0, 2 / fan_in), where fan_in = inputs feeding one output unit."""
    return (_rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def kaiming_uniform(shape, fan_in, dtype=np.float32):
    """Weights ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for Conv2d and Linear
    (kaiming_uniform_ with a=sqrt(5)), a variance of 1 / (3 fan_in), a sixth of He's. Before a
    BatchNorm the scale of the weights does not change the output, only the step size that a
    learning rate amounts to, so a recipe tuned in PyTorch keeps it."""
    bound = 1.0 / np.sqrt(fan_in)
    return _rng.uniform(-bound, bound, size=shape).astype(dtype)


def dirac(weight):
    """Set the first min(F, C_in) filters of a (F, C_in, KH, KW) convolution weight to the
    identity (filter i passes input channel i through its centre tap), in place, as PyTorch's
    dirac_. A net started so first passes its input along and learns the rest around it."""
    F, C, KH, KW = weight.shape
    k = min(F, C)
    weight[:k] = 0
    weight[np.arange(k), np.arange(k), KH // 2, KW // 2] = 1
