"""boucle — recurrent neural networks from the equations up, on NumPy."""
__version__ = "0.1.0"

from . import backend, callbacks, initializers, layers, losses, metrics, optimizers  # noqa: E402
from .errors import BoucleError, ModelFileError  # noqa: E402
from .io import load, save  # noqa: E402
from .models import Sequential  # noqa: E402


def __getattr__(name: str):
    """``boucle.reservoir`` is imported on first use (it pulls in scipy.sparse)."""
    if name == "reservoir":
        import importlib
        return importlib.import_module("boucle.reservoir")
    raise AttributeError(f"module 'boucle' has no attribute {name!r}")


__all__ = ["__version__", "Sequential", "save", "load", "BoucleError", "ModelFileError", "reservoir",
           "backend", "callbacks", "initializers", "layers", "losses", "metrics", "optimizers"]
