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
