"""Weight converters between boucle's recurrent layers and PyTorch / Keras.

- :func:`from_torch` / :func:`to_torch` / :func:`sequential_from_torch`:
  ``torch.nn.RNN``, ``nn.LSTM``, ``nn.GRU`` (stacked, bidirectional); torch is
  imported only when these are called.
- :func:`from_keras_weights` / :func:`to_keras_weights`: the arrays of Keras's
  ``SimpleRNN``, ``LSTM``, ``GRU`` (no Keras needed).

Every layout difference (gate order, the two torch biases, the GRU update-gate
sign, column vs row vectors) is documented in :mod:`boucle.interop.torch` and
:mod:`boucle.interop.keras`.
"""

from .keras import from_keras_weights, to_keras_weights
from .torch import from_torch, sequential_from_torch, to_torch

__all__ = ["from_torch", "to_torch", "sequential_from_torch", "from_keras_weights", "to_keras_weights"]

# -- convolutional networks: the same four names also convert Conv1d/Conv2d/ConvTranspose2d, BatchNorm,
#    Linear, pooling and nn.Sequential stacks of them (and Keras's Conv/BatchNormalization/Dense
#    arrays), handing recurrent modules and layers to the converters above.
from .keras_conv import from_keras_weights, to_keras_weights  # noqa: E402,F811
from .torch_conv import from_torch, to_torch  # noqa: E402,F811
