"""Layers: thin objects holding config, params and grads, calling ``boucle.ops``."""
from .base import LAYERS, Layer, register
from .core import Activation, Dense, Dropout, Embedding, Flatten

__all__ = ["LAYERS", "Layer", "register", "Dense", "Activation", "Dropout", "Flatten", "Embedding"]
