"""Windowing for forecasting, chronological splits and normalisation fitted on train only.

A series ``s (N, D)`` (seed 004: one row per day, ``[jour, mois, année, valeur]``)
becomes supervised pairs by sliding a window over it:

    x_i = s[i·stride : i·stride + window]                         (window, D)
    y_i = s[i·stride + window : i·stride + window + horizon]      (horizon, D_target)

Time series are split in time order (train, then validation, then test), never
shuffled, and the normaliser's statistics come from the training part only — the
future must not leak into the past. :func:`forecast_splits` does the three in one
call, assigning each window to the split that holds its first target step (its
inputs may reach back into the previous split: those values are known by then).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import validators
from ..backend import make_rng
from ..errors import BoucleError

__all__ = [
    "sliding_windows",
    "split_series",
    "split_indices",
    "Normalizer",
    "forecast_splits",
    "persistence_forecast",
    "ForecastData",
]


def _series(series: Any, name: str = "series") -> np.ndarray:
    s = np.asarray(series)
    if s.ndim == 1:
        s = s.reshape(-1, 1)
    if s.ndim != 2 or s.shape[0] == 0:
        raise BoucleError(f"{name}: expected a non-empty (N,) or (N, D) array, got shape {s.shape}")
    if not np.issubdtype(s.dtype, np.number):
        raise BoucleError(f"{name}: expected numbers, got dtype {s.dtype}")
    if np.issubdtype(s.dtype, np.floating) and not np.isfinite(s).all():
        bad = int(np.argwhere(~np.isfinite(s))[0, 0])
        raise BoucleError(f"{name}: expected finite values, got {s[bad].tolist()} at row {bad}")
    return s


def _columns(targets: Sequence[int] | None, D: int) -> list[int]:
    if targets is None:
        return list(range(D))
    cols = [int(c) for c in targets]
    if not cols or any(not -D <= c < D for c in cols):
        raise BoucleError(f"targets: expected column indices in [0, {D}), got {list(targets)}")
    return [c % D for c in cols]


def sliding_windows(
    series: Any, window: int, horizon: int = 1, stride: int = 1, targets: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Input windows and the values that follow them.

    Args:
        series: ``(N,)`` or ``(N, D)``.
        window: input length (>= 1).
        horizon: how many following steps form the target (>= 1).
        stride: step between consecutive windows.
        targets: columns to predict (default: all D).

    Returns:
        ``x (M, window, D)`` and ``y (M, horizon, len(targets))`` with
        ``M = (N - window - horizon) // stride + 1`` (copies, in the series' dtype).
    """
    s = _series(series)
    window, horizon, stride = (
        validators.integer(window, "window", minimum=1),
        validators.integer(horizon, "horizon", minimum=1),
        validators.integer(stride, "stride", minimum=1),
    )
    N, D = s.shape
    if N < window + horizon:
        raise BoucleError(f"series: expected at least window + horizon = {window + horizon} rows, got {N}")
    cols = _columns(targets, D)
    starts = np.arange(0, N - window - horizon + 1, stride)  # (M,)
    x = s[starts[:, None] + np.arange(window)]  # (M, window, D)
    y = s[(starts + window)[:, None] + np.arange(horizon)][:, :, cols]  # (M, horizon, Dt)
    return x, y


def split_series(series: Any, val: float = 0.15, test: float = 0.15) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chronological split: the first ``1 - val - test`` of the rows, then ``val``, then ``test``."""
    s = _series(series)
    a, b = _split_points(len(s), val, test)
    return s[:a], s[a:b], s[b:]


def _split_points(n: int, val: float, test: float) -> tuple[int, int]:
    for name, f in (("val", val), ("test", test)):
        validators.real(f, name, low=0.0, low_open=False, high=1.0, high_open=True, want="a fraction in [0, 1)")
    if val + test >= 1.0:
        raise BoucleError(f"val + test: expected a sum < 1 (some data must train), got {val + test:g}")
    n_test = int(round(n * test))
    n_val = int(round(n * val))
    a = n - n_val - n_test
    if a <= 0 or (val > 0 and n_val == 0) or (test > 0 and n_test == 0):
        raise BoucleError(f"series: {n} rows are too few for val={val:g}, test={test:g}")
    return a, a + n_val


def split_indices(
    n: int, val: float = 0.15, test: float = 0.15, shuffle: bool = True, seed: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (train, val, test) over ``n`` examples; shuffled from ``seed`` unless
    ``shuffle=False`` (then in order, as for a time series)."""
    n = validators.integer(n, "n", minimum=1)
    order = make_rng(seed).permutation(n) if shuffle else np.arange(n)
    a, b = _split_points(n, val, test)
    return order[:a], order[a:b], order[b:]


@dataclass
class Normalizer:
    """Per-column affine normalisation, fitted on the training data only.

    ``method="standard"``: z = (x - μ) / σ (σ = 1 where a column is constant);
    ``method="minmax"``: z = (x - min) / (max - min), in [0, 1] on the training data.
    Statistics are over every axis but the last: works on ``(N, D)`` series and on
    ``(M, window, D)`` windows.
    """

    method: str = "standard"
    shift: np.ndarray | None = field(default=None, repr=False)
    scale: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.method not in ("standard", "minmax"):
            raise BoucleError(f"method: expected 'standard' or 'minmax', got {self.method!r}")

    def fit(self, train: Any) -> Normalizer:
        a = np.asarray(train, dtype=np.float64)
        if a.size == 0:
            raise BoucleError(f"train: expected a non-empty array, got shape {a.shape}")
        if a.ndim == 1:
            a = a.reshape(-1, 1)
        flat = a.reshape(-1, a.shape[-1])
        if self.method == "standard":
            shift, scale = flat.mean(axis=0), flat.std(axis=0)
        else:
            shift, scale = flat.min(axis=0), flat.max(axis=0) - flat.min(axis=0)
        self.shift, self.scale = shift, np.where(scale > 0, scale, 1.0)
        return self

    def _check(self, a: Any, name: str) -> np.ndarray:
        if self.shift is None:
            raise BoucleError("Normalizer: call fit(train) before transform")
        a = np.asarray(a)
        if a.shape[-1:] != self.shift.shape and not (a.ndim == 1 and self.shift.shape == (1,)):
            raise BoucleError(f"{name}: expected last axis of size {self.shift.shape[0]}, got shape {a.shape}")
        return a

    def transform(self, a: Any, columns: Sequence[int] | None = None) -> np.ndarray:
        """Normalise ``a`` (all columns, or only the fitted ``columns`` that ``a`` holds)."""
        a = np.asarray(a) if columns is not None else self._check(a, "a")
        shift, scale = self._params(columns)
        out = (a - shift) / scale
        return out.astype(a.dtype) if np.issubdtype(a.dtype, np.floating) else out

    def inverse_transform(self, a: Any, columns: Sequence[int] | None = None) -> np.ndarray:
        """Undo :meth:`transform` (e.g. on predictions of the target ``columns``)."""
        a = np.asarray(a) if columns is not None else self._check(a, "a")
        shift, scale = self._params(columns)
        out = a * scale + shift
        return out.astype(a.dtype) if np.issubdtype(a.dtype, np.floating) else out

    def _params(self, columns):
        if self.shift is None:
            raise BoucleError("Normalizer: call fit(train) before transform")
        if columns is None:
            return self.shift, self.scale
        cols = _columns(columns, len(self.shift))
        return self.shift[cols], self.scale[cols]

    def get_config(self) -> dict:
        """JSON-able statistics (to store next to a model)."""
        return {
            "method": self.method,
            "shift": None if self.shift is None else self.shift.tolist(),
            "scale": None if self.scale is None else self.scale.tolist(),
        }


@dataclass
class ForecastData:
    """Windows of the three chronological splits (normalised) and the fitted normaliser."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    normalizer: Normalizer | None
    targets: list[int]


def forecast_splits(
    series: Any,
    window: int,
    horizon: int = 1,
    val: float = 0.15,
    test: float = 0.15,
    normalize: str | None = "standard",
    targets: Sequence[int] | None = None,
    dtype: Any = np.float32,
) -> ForecastData:
    """Windows for train / validation / test, with normalisation fitted on the training rows.

    The series is cut in time order at ``1 - val - test`` and ``1 - test``; a window
    belongs to the split holding its first target step; ``normalize`` is
    ``"standard"``, ``"minmax"`` or None. ``y`` is ``(M, horizon, len(targets))``.
    """
    s = _series(series).astype(np.float64)
    a, b = _split_points(len(s), val, test)
    window, horizon = validators.integer(window, "window", minimum=1), validators.integer(horizon, "horizon", minimum=1)
    if a < window + horizon:
        raise BoucleError(f"series: the training part ({a} rows) is shorter than window + horizon = {window + horizon}")
    norm = None
    if normalize is not None:
        norm = Normalizer(normalize).fit(s[:a])
        s = norm.transform(s)
    x, y = sliding_windows(s, window, horizon, 1, targets)
    first = np.arange(len(x)) + window  # index of the first target row
    parts = [first < a, (first >= a) & (first < b), first >= b]
    out = [arr[p].astype(dtype) for p in parts for arr in (x, y)]
    return ForecastData(*out, normalizer=norm, targets=_columns(targets, s.shape[1]))


def persistence_forecast(x: Any, horizon: int = 1, targets: Sequence[int] | None = None) -> np.ndarray:
    """The naive baseline: every future step equals the last observed one.

    ``x (M, window, D)`` → ``(M, horizon, len(targets))``.
    """
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1] == 0:
        raise BoucleError(f"x: expected windows of shape (M, window, D), got {x.shape}")
    horizon = validators.integer(horizon, "horizon", minimum=1)
    cols = _columns(targets, x.shape[2])
    return np.repeat(x[:, -1:, cols], horizon, axis=1)
