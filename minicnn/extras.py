"""Optional packages: imported only by what needs them, with an error that names the extra.

    safetensors = require("safetensors.numpy", extra="safetensors", purpose="reading x.safetensors")

minicnn's core needs only numpy, numba, Pillow, matplotlib and tqdm. The rest comes with the
extras of pyproject.toml (pip install ".[safetensors]", ".[notebooks]", ... in minicnn's folder), and
is imported where it is used, so `import minicnn` stays fast and works without it.
"""
import importlib


class MissingExtra(ImportError):
    """An optional package is not installed; the message says which extra installs it.
    The command line prints it as one line with exit status 2."""


def require(module, extra, purpose):
    """The imported `module`, or MissingExtra: '<purpose> needs <package>: pip install ...'."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = module.split(".")[0]
        raise MissingExtra(f"{purpose} needs the {package} package, which is not installed: "
                           f"pip install {package} (or install minicnn with the extra that "
                           f"brings it: pip install \".[{extra}]\")", name=package) from error
