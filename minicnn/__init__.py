"""minicnn: a from-scratch NumPy + numba ConvNet framework that teaches how ConvNets see."""
