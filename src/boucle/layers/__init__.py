"""Layers: thin objects holding config, params and grads, calling ``boucle.ops``."""

from .attention import Attention
from .base import Layer, register
from .conv import Conv1D, Conv2D, Conv2DTranspose
from .core import Activation, Dense, Dropout, Embedding, Flatten
from .normalization import BatchNormalization
from .pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from .recurrent import GRU, LSTM, RNN, SimpleRNN
from .reshaping import Reshape, UpSampling1D, UpSampling2D, ZeroPadding2D
from .sequence import Masking, RepeatVector
from .wrappers import Bidirectional

__all__ = [
    "Layer",
    "register",
    "Dense",
    "Activation",
    "Dropout",
    "Flatten",
    "Embedding",
    "RNN",
    "SimpleRNN",
    "LSTM",
    "GRU",
    "Bidirectional",
    "Masking",
    "RepeatVector",
    "Attention",
    "Conv1D",
    "Conv2D",
    "Conv2DTranspose",
    "BatchNormalization",
    "MaxPooling1D",
    "MaxPooling2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Reshape",
    "ZeroPadding2D",
    "UpSampling1D",
    "UpSampling2D",
]
