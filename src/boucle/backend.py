"""Array namespace, float policy and random numbers.

Every op takes its array module from :func:`xp` rather than importing NumPy
directly, so that another namespace with the NumPy API (CuPy) can slot in.

Float policy: float32 by default (speed), float64 on request, globally with
:func:`set_floatx` or per layer with ``dtype=``. Gradient checks run in float64.

Randomness: one seed gives one :class:`numpy.random.Generator` (:func:`make_rng`),
handed explicitly to whatever needs randomness. There is no global RNG state.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .errors import BoucleError

__all__ = ["xp", "floatx", "set_floatx", "resolve_dtype", "make_rng"]

_XP = np
_FLOATX = np.dtype("float32")
_ALLOWED = ("float32", "float64")


def xp():
    """The array namespace used by ``boucle.ops`` (NumPy)."""
    return _XP


def floatx() -> np.dtype:
    """The default float dtype for new parameters and data."""
    return _FLOATX


def set_floatx(dtype: Any) -> None:
    """Set the default float dtype: ``"float32"`` or ``"float64"``."""
    global _FLOATX
    _FLOATX = resolve_dtype(dtype)


def resolve_dtype(dtype: Any = None) -> np.dtype:
    """``None`` -> the global default; otherwise validate float32/float64."""
    if dtype is None:
        return _FLOATX
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise BoucleError(f"dtype: expected one of {_ALLOWED}, got {dtype!r}") from None
    if d.name not in _ALLOWED:
        raise BoucleError(f"dtype: expected one of {_ALLOWED}, got {d.name!r}")
    return d


def make_rng(seed: Any = None) -> np.random.Generator:
    """An explicit ``numpy.random.Generator`` from an int seed, or the generator itself.

    ``None`` draws fresh entropy (non-reproducible, as in NumPy).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise BoucleError(f"seed: expected a non-negative int, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(seed)
