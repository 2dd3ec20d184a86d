"""Shape layers for images: Reshape, ZeroPadding2D, UpSampling1D/2D (nearest), Keras arguments.

The seed's convolutional autoencoder decodes with ``UpSampling2D((2, 2))``: each pixel
repeated into a 2×2 block (:mod:`boucle.ops.pooling`); ``Conv2DTranspose`` is the learned
alternative.
"""

from __future__ import annotations

import numpy as np

from ..errors import BoucleError
from ..ops import pooling as pool_ops
from ..ops.conv import pad2d
from ._args import channels_last, check_spatial_x, int_tuple, padding_arg, spatial_input
from .base import Layer, register

__all__ = ["Reshape", "ZeroPadding2D", "UpSampling1D", "UpSampling2D"]


@register
class Reshape(Layer):
    """``(B, *input_shape)`` -> ``(B, *target_shape)``; one entry of ``target_shape`` may be -1
    (inferred). Element order is unchanged (row-major, as Keras)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        if (
            not isinstance(target_shape, (tuple, list))
            or not target_shape
            or not all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) and (v > 0 or v == -1)
                for v in target_shape
            )
            or list(target_shape).count(-1) > 1
        ):
            raise BoucleError(
                f"Reshape: target_shape must be a tuple of positive ints (at most one -1), got {target_shape!r}"
            )
        self.target_shape = tuple(int(v) for v in target_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": list(self.target_shape)}

    def compute_output_shape(self, input_shape):
        if any(d is None for d in input_shape):
            if -1 in self.target_shape:
                return tuple(None if v == -1 else v for v in self.target_shape)
            return self.target_shape
        size = int(np.prod(input_shape))
        known = int(np.prod([v for v in self.target_shape if v != -1]))
        if (-1 in self.target_shape and size % known) or (-1 not in self.target_shape and size != known):
            raise BoucleError(
                f"{self.name}: cannot reshape input_shape {tuple(input_shape)} ({size} values) "
                f"to target_shape {self.target_shape}"
            )
        return tuple(size // known if v == -1 else v for v in self.target_shape)

    def compute_mask(self, x, mask):
        return None

    def forward(self, x, mask=None, training=False):
        x = np.asarray(x, dtype=self.dtype)
        shape = self.compute_output_shape(x.shape[1:])
        return x.reshape(x.shape[0], *shape), x.shape

    def backward(self, dy, cache):
        return dy.reshape(cache)


@register
class ZeroPadding2D(Layer):
    """Rows and columns of zeros around each image: ``padding`` = p, (p_h, p_w) or
    ((top, bottom), (left, right)). ``(B, H, W, C)`` -> ``(B, H + top + bottom, W + left + right, C)``."""

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        pads = padding_arg(padding, 2, "ZeroPadding2D")
        if isinstance(pads, str):
            raise BoucleError(
                f"ZeroPadding2D: padding must be an int, 2 ints or 2 (before, after) pairs, got {padding!r}"
            )
        self.padding = pads
        channels_last(data_format, "ZeroPadding2D")

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}

    def compute_output_shape(self, input_shape):
        spatial_input(input_shape, 2, "ZeroPadding2D", channels=False)
        (t, b), (l, r) = self.padding
        H, W, C = input_shape
        return (None if H is None else H + t + b, None if W is None else W + l + r, C)

    def compute_mask(self, x, mask):
        return None

    def forward(self, x, mask=None, training=False):
        x = np.asarray(x, dtype=self.dtype)
        check_spatial_x(x, 2, self.name)
        return pad2d(x, self.padding), x.shape

    def backward(self, dy, cache):
        (t, _), (l, _) = self.padding
        return dy[:, t : t + cache[1], l : l + cache[2]]


@register
class UpSampling2D(Layer):
    """Nearest-neighbour up-sampling: each pixel becomes a (s_h, s_w) block.
    ``(B, H, W, C)`` -> ``(B, s_h H, s_w W, C)``."""

    rank = 2

    def __init__(self, size=2, data_format=None, interpolation: str = "nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = int_tuple(size, self.rank, "size", type(self).__name__)
        channels_last(data_format, type(self).__name__)
        if interpolation != "nearest":
            raise BoucleError(f"{type(self).__name__}: interpolation must be 'nearest', got {interpolation!r}")

    def get_config(self) -> dict:
        return {**super().get_config(), "size": list(self.size)}

    def compute_output_shape(self, input_shape):
        spatial_input(input_shape, self.rank, type(self).__name__, channels=False)
        return (*(None if n is None else n * s for n, s in zip(input_shape[:-1], self.size)), input_shape[-1])

    def compute_mask(self, x, mask):
        return None

    def forward(self, x, mask=None, training=False):
        x = np.asarray(x, dtype=self.dtype)
        check_spatial_x(x, self.rank, self.name)
        if self.rank == 1:
            return pool_ops.upsample2d_forward(x[:, None], (1, *self.size))[:, 0], None
        return pool_ops.upsample2d_forward(x, self.size), None

    def backward(self, dy, cache):
        if self.rank == 1:
            return pool_ops.upsample2d_backward(dy[:, None], (1, *self.size))[:, 0]
        return pool_ops.upsample2d_backward(dy, self.size)


@register
class UpSampling1D(UpSampling2D):
    """Repeats each step ``size`` times: ``(B, T, C)`` -> ``(B, size·T, C)``."""

    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(size=size, **kwargs)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg["size"] = self.size[0]
        return cfg
