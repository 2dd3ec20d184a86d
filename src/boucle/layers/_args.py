"""Argument checks shared by the convolution, pooling and reshaping layers (Keras spellings)."""

from __future__ import annotations

import numpy as np

from ..errors import BoucleError

__all__ = ["int_tuple", "padding_arg", "channels_last", "spatial_input", "check_spatial_x"]

_AXES = {1: "(steps, channels)", 2: "(height, width, channels)"}


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def int_tuple(value, n: int, name: str, layer: str, minimum: int = 1) -> tuple[int, ...]:
    """An int or a tuple/list of ``n`` ints, each >= ``minimum``, as a tuple of ``n`` ints."""
    kind = "positive" if minimum == 1 else "non-negative"
    if _is_int(value) and value >= minimum:
        return (int(value),) * n
    if isinstance(value, (tuple, list)) and len(value) == n and all(_is_int(v) and v >= minimum for v in value):
        return tuple(int(v) for v in value)
    want = f"a {kind} int" if n == 1 else f"a {kind} int or a tuple of {n} {kind} ints"
    raise BoucleError(f"{layer}: {name} must be {want}, got {value!r}")


def padding_arg(padding, n: int, layer: str, allow_causal: bool = False):
    """``"valid"``/``"same"`` (``"causal"`` for 1-D convolutions), any case, or explicit zero padding
    (a boucle extension, for PyTorch's padding): an int p, a tuple of n ints (p before and after
    along each axis), or n (before, after) pairs. Returns the lower-case string or n pairs."""
    names = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    if isinstance(padding, str):
        if padding.lower() in names:
            return padding.lower()
    elif _is_int(padding) and padding >= 0:
        return tuple((int(padding), int(padding)) for _ in range(n))
    elif isinstance(padding, (tuple, list)) and len(padding) == n:
        if all(_is_int(p) and p >= 0 for p in padding):
            return tuple((int(p), int(p)) for p in padding)
        if all(isinstance(p, (tuple, list)) and len(p) == 2 and all(_is_int(v) and v >= 0 for v in p) for p in padding):
            return tuple((int(p[0]), int(p[1])) for p in padding)
    want = " or ".join(repr(s) for s in names)
    raise BoucleError(
        f"{layer}: padding must be {want}, a non-negative int, or {n} (before, after) pairs, got {padding!r}"
    )


def channels_last(data_format, layer: str) -> None:
    if data_format not in (None, "channels_last"):
        raise BoucleError(
            f"{layer}: data_format must be 'channels_last' (boucle is channels-last), got {data_format!r}"
        )


def spatial_input(input_shape: tuple, rank: int, layer: str, channels: bool = True) -> None:
    """Check a build shape (without the batch axis) has ``rank`` spatial axes + channels."""
    if len(input_shape) != rank + 1:
        hint = ""
        if len(input_shape) == rank and rank == 2:
            hint = "; a grayscale image needs a channel axis: (28, 28) -> (28, 28, 1), x[..., None]"
        raise BoucleError(f"{layer}: input_shape must be {_AXES[rank]}, got {tuple(input_shape)}{hint}")
    if channels and input_shape[-1] is None:
        raise BoucleError(f"{layer}: the channel axis of input_shape must be known, got {tuple(input_shape)}")


def check_spatial_x(x: np.ndarray, rank: int, layer: str, channels: int | None = None) -> None:
    """Check a call's ``x`` is ``(batch, *spatial, channels)`` (with ``channels`` channels if given)."""
    if x.ndim != rank + 2:
        hint = ""
        if x.ndim == rank + 1:
            hint = (
                "; a batch of grayscale images needs a channel axis (x[..., None]), "
                "a single image a batch axis (x[None])"
            )
        raise BoucleError(f"{layer}: x must be {rank + 2}-D (batch, {_AXES[rank][1:-1]}), got shape {x.shape}{hint}")
    if channels is not None and x.shape[-1] != channels:
        raise BoucleError(f"{layer}: x must have {channels} channels (last axis), got shape {x.shape}")
