"""boucle — recurrent neural networks from the equations up, on NumPy."""

__version__ = "0.1.0"

from . import backend, callbacks, initializers, layers, losses, metrics, optimizers, reservoir  # noqa: E402
from .errors import BoucleError, ModelFileError  # noqa: E402
from .export import export_onnx  # noqa: E402
from .io import load, save  # noqa: E402
from .models import Sequential  # noqa: E402

__all__ = [
    "__version__",
    "Sequential",
    "save",
    "load",
    "export_onnx",
    "BoucleError",
    "ModelFileError",
    "reservoir",
    "backend",
    "callbacks",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "optimizers",
]
