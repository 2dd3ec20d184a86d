"""Models: plain training loops over layers."""
from .base import MODELS
from .charlm import CharModel
from .sequential import Sequential
from .seq2seq import Seq2Seq

__all__ = ["MODELS", "Sequential", "CharModel", "Seq2Seq"]
