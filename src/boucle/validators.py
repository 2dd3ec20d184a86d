"""Argument checks shared by the whole library (and, wrapped for argparse, by the command line).

Each function returns the value in its canonical Python type or raises a one-line
:class:`~boucle.errors.BoucleError` naming the argument, what was expected and what
was given: ``"units: expected a positive int, got 0"``, or with ``owner``,
``"Dense: units: expected a positive int, got 0"``. Booleans are never accepted as
numbers (``True`` is not a layer size).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import BoucleError

__all__ = ["fail", "integer", "positive_int", "nonneg_int", "real", "rate", "probability", "boolean", "one_of", "seed"]


def fail(name: str, want: str, value: Any, owner: str | None = None) -> BoucleError:
    """The error for ``name`` (expected ``want``, got ``value``); ``raise fail(...)``."""
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    prefix = f"{owner}: " if owner else ""
    return BoucleError(f"{prefix}{name}: expected {want}, got {shown}")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def integer(
    value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None, owner: str | None = None
) -> int:
    """An int within ``[minimum, maximum]`` (either bound optional)."""
    ok = _is_int(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        if minimum is not None and maximum is not None:
            want = f"an int in [{minimum}, {maximum}]"
        elif minimum is not None:
            want = f"an int >= {minimum}"
        elif maximum is not None:
            want = f"an int <= {maximum}"
        else:
            want = "an int"
        raise fail(name, want, value, owner)
    return int(value)


def positive_int(value: Any, name: str, owner: str | None = None, *, optional: bool = False) -> int | None:
    """An int > 0 (or None when ``optional``)."""
    if optional and value is None:
        return None
    if not (_is_int(value) and value > 0):
        raise fail(name, "a positive int or None" if optional else "a positive int", value, owner)
    return int(value)


def nonneg_int(value: Any, name: str, owner: str | None = None) -> int:
    """An int >= 0."""
    if not (_is_int(value) and value >= 0):
        raise fail(name, "an int >= 0", value, owner)
    return int(value)


def real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    low_open: bool = True,
    high: float | None = None,
    high_open: bool = False,
    want: str | None = None,
    owner: str | None = None,
) -> float:
    """A finite float within bounds (``low < v`` or ``low <= v`` with ``low_open=False``; the same for ``high``)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    v = float(value) if ok else math.nan
    ok = ok and math.isfinite(v)
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        if want is None:
            parts = []
            if low is not None:
                parts.append(f"{'>' if low_open else '>='} {low:g}")
            if high is not None:
                parts.append(f"{'<' if high_open else '<='} {high:g}")
            want = "a finite number" + (" " + " and ".join(parts) if parts else "")
        raise fail(name, want, value, owner)
    return v


def rate(value: Any, name: str, owner: str | None = None) -> float:
    """A float in [0, 1) (dropout rates, validation fractions)."""
    return real(value, name, low=0.0, low_open=False, high=1.0, high_open=True, want="a float in [0, 1)", owner=owner)


def probability(value: Any, name: str, owner: str | None = None) -> float:
    """A float in [0, 1]."""
    return real(value, name, low=0.0, low_open=False, high=1.0, want="a probability in [0, 1]", owner=owner)


def boolean(value: Any, name: str, owner: str | None = None) -> bool:
    """A bool (Python or NumPy); 0/1 are not accepted."""
    if not isinstance(value, (bool, np.bool_)):
        raise fail(name, "a bool", value, owner)
    return bool(value)


def one_of(value: Any, allowed: Iterable[Any], name: str, owner: str | None = None) -> Any:
    """``value`` if it is one of ``allowed``."""
    allowed = list(allowed)
    try:
        ok = value in allowed
    except TypeError:  # unhashable or uncomparable
        ok = False
    if not ok:
        raise fail(name, f"one of {allowed}", value, owner)
    return value


def seed(value: Any, name: str = "seed", owner: str | None = None) -> int | None:
    """None or an int >= 0 (a seed for :func:`numpy.random.default_rng`)."""
    if value is None:
        return None
    if not (_is_int(value) and value >= 0):
        raise fail(name, "a non-negative int or None", value, owner)
    return int(value)
