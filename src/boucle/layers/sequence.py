"""Sequence utilities: Masking (padding by value) and RepeatVector (one-to-many)."""

from __future__ import annotations

import numpy as np

from .. import validators
from .base import Layer, check_input, register

__all__ = ["Masking", "RepeatVector"]


@register
class Masking(Layer):
    """Marks padded timesteps: step t of sequence b is valid iff any x[b, t, :] != mask_value.

    ``x: (B, T, D)``. The output mask ``m (B, T)`` flows to the following layers
    (recurrent layers carry their state over masked steps; the loss ignores them);
    the output is x with masked steps set to zero (as Keras).
    """

    def __init__(self, mask_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = validators.real(mask_value, "mask_value", owner="Masking", want="a number")

    def get_config(self) -> dict:
        return {**super().get_config(), "mask_value": self.mask_value}

    def _valid(self, x) -> np.ndarray:
        return np.any(x != self.mask_value, axis=-1)  # (B, T)

    def compute_mask(self, x, mask):
        return self._valid(check_input(x, "x", (3,), None, self.name))

    def forward(self, x, mask=None, training: bool = False):
        x = check_input(x, "x", (3,), None, self.name, self.dtype)
        keep = self._valid(x)[:, :, None]  # (B, T, 1)
        return x * keep, keep

    def backward(self, dy, cache):
        return dy * cache


@register
class RepeatVector(Layer):
    """(B, D) -> (B, n, D): the same vector at each of n timesteps (one-to-many, seq2seq).

    Backward sums the gradient over the n copies.
    """

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        self.n = validators.positive_int(n, "n", "RepeatVector")

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}

    def compute_output_shape(self, input_shape):
        return (self.n, *input_shape)

    def compute_mask(self, x, mask):
        return None

    def forward(self, x, mask=None, training: bool = False):
        x = check_input(x, "x", (2,), None, self.name, self.dtype)
        return np.repeat(x[:, None, :], self.n, axis=1), None  # (B, n, D)

    def backward(self, dy, cache):
        return np.asarray(dy).sum(axis=1)
