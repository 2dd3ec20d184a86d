"""Feed-forward layers: Dense, Activation, Dropout, Flatten, Embedding (seed 003)."""

from __future__ import annotations

import numpy as np

from .. import validators
from ..errors import BoucleError
from ..ops import activations
from ..ops.dense import dense_backward, dense_forward, embedding_backward, embedding_forward
from ..ops.dropout import dropout_mask
from .base import Layer, check_input, register

__all__ = ["Dense", "Activation", "Dropout", "Flatten", "Embedding"]


@register
class Dense(Layer):
    """Fully connected layer: h = g(x W + b) (seed 003: h(x) = g(b + W^T x)).

    ``x: (B, D)`` or ``(B, T, D)``; for sequences the same W, b apply at every
    timestep (one GEMM over all B*T rows). Params: ``W (D, units)``, ``b (units,)``.
    """

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = validators.positive_int(units, "units", "Dense")
        activations.get(activation)
        self.activation = activation or "linear"
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": _init_name(self.kernel_initializer),
            "bias_initializer": _init_name(self.bias_initializer),
        }

    def _build(self, input_shape):
        if len(input_shape) < 1 or input_shape[-1] is None:
            raise BoucleError(f"Dense: input_shape must end with a known feature size, got {input_shape}")
        self.add_param("W", (input_shape[-1], self.units), self.kernel_initializer)
        if self.use_bias:
            self.add_param("b", (self.units,), self.bias_initializer)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def forward(self, x, mask=None, training=False):
        W = self.params["W"]
        x = check_input(x, "x", (2, 3, 4), W.shape[0], self.name, self.dtype)
        a = dense_forward(x, W, self.params.get("b"))
        y = activations.forward(self.activation, a)
        return y, (x, y)

    def backward(self, dy, cache):
        x, y = cache
        da = activations.backward(self.activation, dy, y)
        dx, dW, db = dense_backward(da, x, self.params["W"])
        self.grads["W"] += dW
        if self.use_bias:
            self.grads["b"] += db
        return dx


@register
class Activation(Layer):
    """Applies g elementwise (softmax over the last axis)."""

    def __init__(self, activation: str, **kwargs):
        super().__init__(**kwargs)
        activations.get(activation)
        self.activation = activation

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": self.activation}

    def forward(self, x, mask=None, training=False):
        y = activations.forward(self.activation, np.asarray(x, dtype=self.dtype))
        return y, y

    def backward(self, dy, cache):
        return activations.backward(self.activation, dy, cache)


@register
class Dropout(Layer):
    """Inverted dropout: y = x * m, m_j = [u_j >= rate] / (1 - rate), only when training.

    Randomness comes from the generator handed to :meth:`build` (the model's).
    """

    stochastic = True

    def __init__(self, rate: float, **kwargs):
        super().__init__(**kwargs)
        self.rate = validators.rate(rate, "rate", "Dropout")

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate}

    def forward(self, x, mask=None, training=False):
        x = np.asarray(x, dtype=self.dtype)
        if not training or self.rate == 0.0:
            return x, None
        m = dropout_mask(x.shape, self.rate, self.rng, self.dtype)
        return x * m, m

    def backward(self, dy, cache):
        return dy if cache is None else dy * cache


@register
class Flatten(Layer):
    """(B, d1, d2, ...) -> (B, d1*d2*...). The time mask is dropped."""

    def compute_output_shape(self, input_shape):
        if any(d is None for d in input_shape):
            raise BoucleError(f"Flatten: input_shape must be fully known, got {input_shape}")
        return (int(np.prod(input_shape)),)

    def compute_mask(self, x, mask):
        return None

    def forward(self, x, mask=None, training=False):
        x = np.asarray(x, dtype=self.dtype)
        return x.reshape(x.shape[0], -1), x.shape

    def backward(self, dy, cache):
        return dy.reshape(cache)


@register
class Embedding(Layer):
    """Token ids -> vectors: e_t = E[x_t]. ``x: (B, T)`` ints in [0, input_dim) -> ``(B, T, output_dim)``.

    With ``mask_zero=True`` id 0 is padding: the layer emits the mask ``x != 0``,
    which recurrent layers and the loss honour (so ``input_dim`` must count it).
    Params: ``E (input_dim, output_dim)``, initialised U(-0.05, 0.05) as in Keras.
    """

    def __init__(
        self, input_dim: int, output_dim: int, mask_zero: bool = False, embeddings_initializer="uniform", **kwargs
    ):
        super().__init__(**kwargs)
        self.input_dim = validators.positive_int(input_dim, "input_dim", "Embedding")
        self.output_dim = validators.positive_int(output_dim, "output_dim", "Embedding")
        self.mask_zero = bool(mask_zero)
        self.embeddings_initializer = embeddings_initializer

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "mask_zero": self.mask_zero,
            "embeddings_initializer": _init_name(self.embeddings_initializer),
        }

    def _build(self, input_shape):
        self.add_param("E", (self.input_dim, self.output_dim), self.embeddings_initializer)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def compute_mask(self, x, mask):
        if not self.mask_zero:
            return mask
        m = np.asarray(x) != 0
        return m if mask is None else (m & np.asarray(mask, dtype=bool))

    def _check_ids(self, x):
        x = np.asarray(x)
        if x.ndim not in (1, 2):
            raise BoucleError(f"{self.name}: x must be 1-D or 2-D token ids, got shape {x.shape}")
        if x.size and not np.issubdtype(x.dtype, np.integer):
            if not np.all(np.mod(x, 1) == 0):
                raise BoucleError(f"{self.name}: x must hold integer token ids, got dtype {x.dtype}")
            x = x.astype(np.int64)
        if x.size and (x.min() < 0 or x.max() >= self.input_dim):
            raise BoucleError(
                f"{self.name}: token ids must lie in [0, {self.input_dim}), got values in [{x.min()}, {x.max()}]"
            )
        return x

    @classmethod
    def from_pretrained(cls, weights, trainable: bool = False, mask_zero: bool = False, **kwargs) -> Embedding:
        """A built layer whose table ``E`` is ``weights (input_dim, output_dim)`` — e.g. the matrix of
        ``WordVectors.align(vocab)`` — frozen by default (``trainable=False``: the optimizer never
        sees it; it is saved with the model all the same). As ``torch.nn.Embedding.from_pretrained``."""
        w = np.asarray(weights)
        if w.ndim != 2 or 0 in w.shape or not np.issubdtype(w.dtype, np.number) or not np.isfinite(w).all():
            raise BoucleError(
                f"weights: expected a finite 2-D (input_dim, output_dim) matrix, got {w.dtype} shape {w.shape}"
            )
        layer = cls(w.shape[0], w.shape[1], mask_zero=mask_zero, trainable=trainable, **kwargs)
        layer.build((None,), 0)
        layer.set_weights({"E": w.astype(layer.dtype)})
        return layer

    def forward(self, x, mask=None, training=False):
        ids = self._check_ids(x)
        return embedding_forward(ids, self.params["E"]), ids

    def backward(self, dy, cache):
        self.grads["E"] += embedding_backward(dy, cache, self.input_dim)
        return None


def _init_name(init):
    return init if isinstance(init, str) else getattr(init, "__name__", repr(init))
