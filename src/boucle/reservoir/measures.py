"""Measures for reservoir computing: RMSE, NRMSE, R^2 and memory capacity.

NRMSE comes with two normalisations, and papers differ, so always say which:

- ``norm="std"`` (default; Jaeger's papers, most of the ESN literature):
  ``NRMSE = RMSE / std(y_true)`` = sqrt(MSE / var(y_true));
- ``norm="minmax"`` (reservoirpy's default): ``NRMSE = RMSE / (max(y_true) - min(y_true))``.

All three are computed over every element of ``y_true`` at once (one number for
multi-output targets).

Memory capacity (Jaeger 2001, "Short term memory in echo state networks"):
drive the reservoir with i.i.d. uniform input ``u(t)`` in [-0.8, 0.8], train one
linear readout per delay ``k`` to output ``u(t - k)``, and sum the squared
correlations on held-out steps::

    MC = sum_{k=1}^{k_max} corr^2(u(t - k), y_k(t))

For a reservoir of ``N`` units with a linear readout, ``MC <= N``.

Forecast horizon of a free-running (closed-loop) prediction: the number of steps
before the error of one step, normalised, first exceeds a threshold::

    horizon = min{t : |y_pred(t) - y_true(t)| / scale > threshold}    (rms over features)

``scale`` defaults to ``std(y_true)``; pass the whole series' standard deviation when
``y_true`` is a short segment.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import make_rng
from ..errors import BoucleError
from .readout import solve_ridge

__all__ = ["rmse", "nrmse", "rsquare", "memory_capacity", "forecast_horizon"]


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise BoucleError(f"y_pred: expected shape {t.shape} to match y_true, got {p.shape}")
    if t.size == 0:
        raise BoucleError("y_true: expected at least one value, got an empty array")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise BoucleError("y_true: expected finite values in y_true and y_pred")
    return t, p


def rmse(y_true: Any, y_pred: Any) -> float:
    """sqrt(mean((y_true - y_pred)^2)) over all elements."""
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def nrmse(y_true: Any, y_pred: Any, norm: str = "std") -> float:
    """RMSE divided by ``std(y_true)`` (``norm="std"``) or ``max - min`` of ``y_true`` (``norm="minmax"``)."""
    t, p = _pair(y_true, y_pred)
    if norm == "std":
        scale = float(np.std(t))
    elif norm == "minmax":
        scale = float(np.ptp(t))
    else:
        raise BoucleError(f"norm: expected 'std' or 'minmax', got {norm!r}")
    if scale == 0.0:
        raise BoucleError(f"y_true: constant targets, NRMSE with norm={norm!r} is undefined")
    return float(np.sqrt(np.mean((t - p) ** 2))) / scale


def rsquare(y_true: Any, y_pred: Any) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (over all elements)."""
    t, p = _pair(y_true, y_pred)
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    if ss_tot == 0.0:
        raise BoucleError("y_true: constant targets, R^2 is undefined")
    return 1.0 - float(np.sum((t - p) ** 2)) / ss_tot


def memory_capacity(
    model: Any,
    k_max: int | None = None,
    n_steps: int | None = None,
    ridge: float = 1e-8,
    warmup: int = 100,
    test_fraction: float = 0.3,
    seed: Any = None,
    as_list: bool = False,
) -> float | np.ndarray:
    """Jaeger's short-term memory capacity of a reservoir (see the module docstring).

    Args:
        model: a :class:`~boucle.reservoir.Reservoir`, :class:`~boucle.reservoir.ESN` or
            :class:`~boucle.reservoir.DeepESN` (anything whose ``run(u (T, 1))`` returns states);
            it must take one input feature.
        k_max: the largest delay (default ``2 * units``).
        n_steps: length of the input series (default ``warmup + k_max + 20 * k_max``).
        ridge: penalty of the delay readouts (all delays are fitted in one solve).
        warmup: steps dropped before training (the reservoir's transient).
        test_fraction: share of the steps after warm-up held out for the correlations.
        seed: for the input series.
        as_list: return ``[MC_1, ..., MC_k_max]`` instead of the sum.
    """
    units = sum(r.units for r in getattr(model, "reservoirs", [model]))
    if k_max is None:
        k_max = 2 * units
    if isinstance(k_max, bool) or not isinstance(k_max, (int, np.integer)) or k_max <= 0:
        raise BoucleError(f"k_max: expected a positive int, got {k_max!r}")
    if n_steps is None:
        n_steps = warmup + k_max + 20 * k_max
    if not 0.0 < test_fraction < 1.0:
        raise BoucleError(f"test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    start = max(warmup, k_max)
    n_test = int(round((n_steps - start) * test_fraction))
    if n_steps - start - n_test < 2 or n_test < 2:
        raise BoucleError(
            f"n_steps: expected more than warmup + k_max = {start} plus room for training and test steps, got {n_steps}"
        )
    u = make_rng(seed).uniform(-0.8, 0.8, size=(n_steps, 1))
    states = np.asarray(model.run(u), dtype=np.float64)[start:]  # (n, H)
    # targets: column k-1 is u(t - k)
    lags = np.stack([u[start - k : n_steps - k, 0] for k in range(1, k_max + 1)], axis=1)  # (n, k_max)
    n_train = states.shape[0] - n_test
    W, b = solve_ridge(states[:n_train], lags[:n_train], ridge)
    pred = states[n_train:] @ W + b
    target = lags[n_train:]
    pc, tc = pred - pred.mean(axis=0), target - target.mean(axis=0)
    denom = np.sqrt((pc**2).sum(axis=0) * (tc**2).sum(axis=0))
    corr = np.divide((pc * tc).sum(axis=0), denom, out=np.zeros(k_max), where=denom > 0)
    mc = corr**2
    return mc if as_list else float(mc.sum())


def forecast_horizon(y_true: Any, y_pred: Any, threshold: float = 0.1, scale: float | None = None) -> int:
    """Steps of ``y_pred`` ``(T, O)`` before its normalised one-step error first exceeds ``threshold``.

    Returns ``T`` when it never does. ``scale``: the normalisation (default ``std(y_true)``).
    """
    t, p = _pair(y_true, y_pred)
    if t.ndim == 1:
        t, p = t[:, None], p[:, None]
    if t.ndim != 2:
        raise BoucleError(f"y_true: expected (T,) or (T, O), got shape {t.shape}")
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float, np.integer, np.floating))
        or not threshold > 0
    ):
        raise BoucleError(f"threshold: expected a positive number, got {threshold!r}")
    if scale is None:
        scale = float(np.std(t))
    if not (isinstance(scale, (int, float, np.integer, np.floating)) and np.isfinite(scale) and scale > 0):
        raise BoucleError(f"scale: expected a positive finite number, got {scale!r}")
    err = np.sqrt(np.mean((p - t) ** 2, axis=1)) / scale
    over = np.flatnonzero(err > threshold)
    return int(over[0]) if over.size else int(t.shape[0])
