"""The networks the lessons and visualizations use, fresh or trained.

    reference_net(), mlp(),       a new network with random weights (minicnn/architectures.py)
      residual_net(), vgg_bn_net()
    MODELS                        their registry: name -> function that builds one
    pretrained("residual_net")    a network trained by `minicnn train` (see the README for the
                                  command), its weights shipped inside the package, so
                                  everything visual works offline
    open_model(name_or_path)      a shipped network by name, or any checkpoint by its path

The imports go one way: architectures.py (the networks) <- checkpoint.py (the file format,
which rebuilds a network from its recorded architecture) <- models.py (this module).
"""
from pathlib import Path

from minicnn.architectures import (  # noqa: F401  (re-exported)
    MODELS, mlp, reference_net, residual_net, vgg_bn_net,
)
from minicnn.checkpoint import load_model

WEIGHTS = Path(__file__).parent / "weights"


def pretrained(name="reference_net"):
    """A trained model shipped with minicnn. `model.meta` holds classes, mean, std
    (per channel, for pixels in [0, 1]), test accuracy and the training command."""
    if name not in MODELS:
        raise ValueError(f"pretrained: unknown model {name!r}; choose from {', '.join(MODELS)}")
    return open_model(name)


def open_model(name_or_path):
    """A shipped model by name ("reference_net", "mlp", "residual_net", "vgg_bn_net") or a
    checkpoint file by path, .npz or .safetensors (minicnn/checkpoint.py; reading
    .safetensors needs the safetensors extra)."""
    path = WEIGHTS / f"{name_or_path}.npz" if name_or_path in MODELS else Path(name_or_path)
    if name_or_path in MODELS and not path.exists():
        raise FileNotFoundError(f"the shipped weights {path} are missing from this installation")
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist (and {str(name_or_path)!r} "
                                f"is not a shipped model: {', '.join(MODELS)})")
    return load_model(path)
