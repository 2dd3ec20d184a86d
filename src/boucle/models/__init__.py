"""Models: plain training loops over layers."""
from .base import MODELS
from .sequential import Sequential

__all__ = ["MODELS", "Sequential"]
