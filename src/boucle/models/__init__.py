"""Models: plain training loops over layers."""
from .charlm import CharModel
from .sequential import Sequential
from .seq2seq import Seq2Seq

__all__ = ["Sequential", "CharModel", "Seq2Seq"]
