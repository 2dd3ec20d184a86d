"""Layers: thin objects holding config, params and grads, calling ``boucle.ops``."""
from .base import LAYERS, Layer, register
from .core import Activation, Dense, Dropout, Embedding, Flatten
from .recurrent import GRU, LSTM, RNN, SimpleRNN
from .sequence import Masking, RepeatVector
from .wrappers import Bidirectional

__all__ = ["LAYERS", "Layer", "register", "Dense", "Activation", "Dropout", "Flatten", "Embedding",
           "RNN", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "Masking", "RepeatVector"]

# -- convolutional networks (seed 003)
from .conv import Conv1D, Conv2D, Conv2DTranspose  # noqa: E402
from .normalization import BatchNormalization  # noqa: E402
from .pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D,  # noqa: E402
                      GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D)
from .reshaping import Reshape, UpSampling1D, UpSampling2D, ZeroPadding2D  # noqa: E402

__all__ += ["Conv1D", "Conv2D", "Conv2DTranspose", "BatchNormalization", "MaxPooling1D", "MaxPooling2D",
            "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
            "GlobalMaxPooling1D", "GlobalMaxPooling2D", "Reshape", "ZeroPadding2D", "UpSampling1D", "UpSampling2D"]
