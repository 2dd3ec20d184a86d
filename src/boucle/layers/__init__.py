"""Layers: thin objects holding config, params and grads, calling ``boucle.ops``."""
from .attention import Attention
from .base import Layer, register
from .core import Activation, Dense, Dropout, Embedding, Flatten
from .recurrent import GRU, LSTM, RNN, SimpleRNN
from .sequence import Masking, RepeatVector
from .wrappers import Bidirectional

__all__ = ["Layer", "register", "Dense", "Activation", "Dropout", "Flatten", "Embedding",
           "RNN", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "Masking", "RepeatVector", "Attention"]
