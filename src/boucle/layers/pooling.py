"""Pooling layers (seed 003's ``MaxPooling2D(pool_size=(2, 2))``), channels-last, Keras arguments.

``MaxPooling1D/2D``, ``AveragePooling1D/2D`` (``pool_size``, ``strides`` = ``pool_size`` by
default, ``padding`` ``"valid"``/``"same"``) and the global poolings, calling
:mod:`boucle.ops.pooling`. They have no parameters; 1-D poolings run the 2-D
equations on a height-1 image.
"""

from __future__ import annotations

import numpy as np

from ..errors import BoucleError
from ..ops import pooling as pool_ops
from ._args import channels_last, check_spatial_x, int_tuple, spatial_input
from .base import Layer, register

__all__ = [
    "MaxPooling1D",
    "MaxPooling2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
]


class _Pooling(Layer):
    """y[i, j] = max (or mean) of the window at (s_h i, s_w j) — see :mod:`boucle.ops.pooling`."""

    rank = 2
    mode = "max"

    def __init__(self, pool_size=2, strides=None, padding: str = "valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        cls, n = type(self).__name__, self.rank
        self.pool_size = int_tuple(pool_size, n, "pool_size", cls)
        self.strides = self.pool_size if strides is None else int_tuple(strides, n, "strides", cls)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise BoucleError(f"{cls}: padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding.lower()
        channels_last(data_format, cls)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
        }

    def _out_spatial(self, spatial: tuple) -> tuple:
        out = []
        for n, k, s in zip(spatial, self.pool_size, self.strides):
            if n is not None and self.padding == "valid" and k > n:
                raise BoucleError(
                    f"{self.name}: pool_size {self.pool_size} is larger than the input "
                    f"{tuple(spatial)} with padding='valid'"
                )
            out.append(pool_ops.pool_geometry(n, k, s, self.padding)[1])
        return tuple(out)

    def _build(self, input_shape):
        spatial_input(input_shape, self.rank, type(self).__name__, channels=False)
        self._out_spatial(input_shape[:-1])

    def compute_output_shape(self, input_shape):
        spatial_input(input_shape, self.rank, type(self).__name__, channels=False)
        return (*self._out_spatial(input_shape[:-1]), input_shape[-1])

    def compute_mask(self, x, mask):
        return None

    def forward(self, x, mask=None, training=False):
        x = np.asarray(x, dtype=self.dtype)
        check_spatial_x(x, self.rank, self.name)
        self._out_spatial(x.shape[1:-1])
        x2 = x[:, None] if self.rank == 1 else x
        pool, strides = ((1, *self.pool_size), (1, *self.strides)) if self.rank == 1 else (self.pool_size, self.strides)
        fwd = pool_ops.max_pool2d_forward if self.mode == "max" else pool_ops.avg_pool2d_forward
        y, cache = fwd(x2, pool, strides, self.padding)
        return (y[:, 0] if self.rank == 1 else y), cache

    def backward(self, dy, cache):
        back = pool_ops.max_pool2d_backward if self.mode == "max" else pool_ops.avg_pool2d_backward
        if self.rank == 1:
            return back(dy[:, None], cache)[:, 0]
        return back(dy, cache)


@register
class MaxPooling1D(_Pooling):
    """Max over windows of ``pool_size`` steps: ``(B, T, C)`` -> ``(B, T_out, C)``."""

    rank, mode = 1, "max"


@register
class MaxPooling2D(_Pooling):
    """Max over (k_h, k_w) windows: ``(B, H, W, C)`` -> ``(B, H_out, W_out, C)``; the gradient goes to the
    first maximum of each window."""

    rank, mode = 2, "max"


@register
class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps (padding not counted with ``"same"``)."""

    rank, mode = 1, "avg"


@register
class AveragePooling2D(_Pooling):
    """Mean over (k_h, k_w) windows (padding not counted with ``"same"``, as Keras)."""

    rank, mode = 2, "avg"


class _GlobalPooling(Layer):
    """y[n, c] = max or mean of x[n, ..., c] over every spatial position; ``keepdims`` keeps
    size-1 spatial axes."""

    rank = 2
    mode = "avg"

    def __init__(self, data_format=None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        channels_last(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    def get_config(self) -> dict:
        return {**super().get_config(), "keepdims": self.keepdims}

    def _build(self, input_shape):
        spatial_input(input_shape, self.rank, type(self).__name__, channels=False)

    def compute_output_shape(self, input_shape):
        spatial_input(input_shape, self.rank, type(self).__name__, channels=False)
        return (*([1] * self.rank), input_shape[-1]) if self.keepdims else (input_shape[-1],)

    def compute_mask(self, x, mask):
        return None

    def forward(self, x, mask=None, training=False):
        x = np.asarray(x, dtype=self.dtype)
        check_spatial_x(x, self.rank, self.name)
        if self.mode == "avg":
            y, cache = pool_ops.global_avg_forward(x), x.shape
        else:
            y, cache = pool_ops.global_max_forward(x)
        if self.keepdims:
            y = y.reshape(x.shape[0], *([1] * self.rank), x.shape[-1])
        return y, cache

    def backward(self, dy, cache):
        dy = dy.reshape(dy.shape[0], dy.shape[-1])
        if self.mode == "avg":
            return pool_ops.global_avg_backward(dy, cache)
        return pool_ops.global_max_backward(dy, cache)


@register
class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over time: ``(B, T, C)`` -> ``(B, C)``."""

    rank, mode = 1, "avg"


@register
class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over the image: ``(B, H, W, C)`` -> ``(B, C)``."""

    rank, mode = 2, "avg"


@register
class GlobalMaxPooling1D(_GlobalPooling):
    """Max over time: ``(B, T, C)`` -> ``(B, C)``."""

    rank, mode = 1, "max"


@register
class GlobalMaxPooling2D(_GlobalPooling):
    """Max over the image: ``(B, H, W, C)`` -> ``(B, C)``."""

    rank, mode = 2, "max"
