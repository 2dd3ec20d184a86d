"""Benchmark time series for reservoir computing: Mackey-Glass, NARMA-10, Lorenz.

Pure functions of their arguments and a seed (an int or a ``numpy.random.Generator``,
:func:`boucle.backend.make_rng`): the same seed gives the same float64 arrays,
shaped ``(T, features)`` as :mod:`boucle.reservoir` expects.

- :func:`mackey_glass`: the delay differential equation (Mackey & Glass 1977)
  ``dx/dt = a x(t - tau) / (1 + x(t - tau)^n) - b x(t)``, tau = 17 (chaotic),
  integrated with RK4 at ``dt = sample_step / substeps`` (the delayed term at the
  half step is the mean of its two grid neighbours), sampled every ``sample_step``;
  the history on [-tau, 0] is ``x0`` plus uniform noise in [-0.1, 0.1] from the seed
  (one value per sample step, linear in between).
- :func:`narma10`: the 10th-order NARMA system (Atiya & Parlos 2000).
- :func:`lorenz`: the Lorenz (1963) attractor, RK4.
- :func:`to_forecasting`: ``(x_t, x_{t+h})`` pairs from one series.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import validators
from ...backend import make_rng
from ...errors import BoucleError

__all__ = ["mackey_glass", "narma10", "lorenz", "to_forecasting"]


def mackey_glass(
    n_steps: int,
    tau: float = 17.0,
    a: float = 0.2,
    b: float = 0.1,
    n: float = 10.0,
    x0: float = 1.2,
    sample_step: float = 1.0,
    substeps: int = 10,
    discard: int = 0,
    seed: Any = None,
) -> np.ndarray:
    """Mackey-Glass series ``(n_steps, 1)``, one sample per ``sample_step`` time units.

    ``tau / (sample_step / substeps)`` must be a whole number of integration steps.
    ``discard`` samples are dropped from the start (the transient from the history).
    """
    n_steps = validators.positive_int(n_steps, "n_steps")
    substeps = validators.positive_int(substeps, "substeps")
    dt = validators.real(sample_step, "sample_step", low=0.0, want="a positive number") / substeps
    tau = validators.real(tau, "tau", low=0.0, want="a positive number")
    lag = tau / dt
    if abs(lag - round(lag)) > 1e-9:
        raise BoucleError(f"tau: expected a whole number of integration steps (dt = {dt:g}), got tau={tau:g}")
    discard = validators.nonneg_int(discard, "discard")
    m = int(round(lag))
    rng = make_rng(seed)
    total = (n_steps + discard) * substeps
    x = np.empty(m + total + 1)
    # history on [-tau, 0]: x0 + U[-0.1, 0.1] at about one knot per sample, linear in between
    # (so the series does not depend on substeps)
    knots = max(2, int(round(tau / sample_step)) + 1)
    x[: m + 1] = np.interp(
        np.linspace(-tau, 0.0, m + 1), np.linspace(-tau, 0.0, knots), x0 + 0.2 * (rng.random(knots) - 0.5)
    )
    xs = x.tolist()  # Python floats: the loop below is scalar

    def f(xt: float, xd: float) -> float:
        return a * xd / (1.0 + xd**n) - b * xt

    for i in range(m, m + total):
        xt, d0, d1 = xs[i], xs[i - m], xs[i - m + 1]
        dh = 0.5 * (d0 + d1)
        k1 = f(xt, d0)
        k2 = f(xt + 0.5 * dt * k1, dh)
        k3 = f(xt + 0.5 * dt * k2, dh)
        k4 = f(xt + dt * k3, d1)
        xs[i + 1] = xt + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    x = np.asarray(xs[m : m + total : substeps])  # samples at t = 0, sample_step, ...
    return x[discard:].reshape(-1, 1)


def narma10(n_steps: int, seed: Any = None, discard: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """NARMA-10 input ``u (n_steps, 1)`` ~ U[0, 0.5] and target ``y (n_steps, 1)``.

    ``y(t+1) = 0.3 y(t) + 0.05 y(t) sum_{i=0}^{9} y(t-i) + 1.5 u(t-9) u(t) + 0.1``,
    returned aligned so that ``y[t]`` (= y(t+1) above) depends on ``u[0..t]`` only:
    predict ``y[t]`` from the inputs up to ``t``. ``discard`` initial steps are dropped
    (the system starts from y = 0). Raises if the (rarely) unstable system diverges.
    """
    n_steps = validators.positive_int(n_steps, "n_steps")
    discard = validators.nonneg_int(discard, "discard")
    T = n_steps + discard
    u = make_rng(seed).uniform(0.0, 0.5, size=T)
    y = np.zeros(T + 1)
    for t in range(T):
        past = y[max(0, t - 9) : t + 1].sum()
        u9 = u[t - 9] if t >= 9 else 0.0
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * past + 1.5 * u9 * u[t] + 0.1
    if not np.isfinite(y).all() or np.abs(y).max() > 10.0:
        raise BoucleError(f"seed: NARMA-10 diverged for seed {seed!r}; use another seed")
    return u[discard:].reshape(-1, 1), y[discard + 1 :].reshape(-1, 1)


def lorenz(
    n_steps: int,
    sample_step: float = 0.03,
    sigma: float = 10.0,
    rho: float = 28.0,
    beta: float = 8.0 / 3.0,
    x0: Sequence[float] | None = None,
    substeps: int = 3,
    discard: int = 0,
    seed: Any = None,
) -> np.ndarray:
    """Lorenz attractor ``(n_steps, 3)``: ``x' = sigma (y - x)``, ``y' = x (rho - z) - y``, ``z' = x y - beta z``.

    RK4 with ``substeps`` steps per sample. ``x0=None`` starts near (1, 1, 1) with a
    N(0, 0.1^2) perturbation from the seed; ``discard`` samples are dropped first.
    """
    n_steps = validators.positive_int(n_steps, "n_steps")
    substeps = validators.positive_int(substeps, "substeps")
    dt = validators.real(sample_step, "sample_step", low=0.0, want="a positive number") / substeps
    if x0 is None:
        s = np.ones(3) + 0.1 * make_rng(seed).standard_normal(3)
    else:
        s = np.asarray(x0, dtype=np.float64)
        if s.shape != (3,) or not np.isfinite(s).all():
            raise BoucleError(f"x0: expected 3 finite values, got {x0!r}")

    def f(v: np.ndarray) -> np.ndarray:
        return np.array([sigma * (v[1] - v[0]), v[0] * (rho - v[2]) - v[1], v[0] * v[1] - beta * v[2]])

    out = np.empty((n_steps + discard, 3))
    for i in range(n_steps + discard):
        out[i] = s
        for _ in range(substeps):
            k1 = f(s)
            k2 = f(s + 0.5 * dt * k1)
            k3 = f(s + 0.5 * dt * k2)
            k4 = f(s + dt * k3)
            s = s + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return out[discard:]


def to_forecasting(series: Any, forecast: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(X, Y) = (series[:-forecast], series[forecast:])``: predict ``forecast`` steps ahead."""
    s = np.asarray(series, dtype=np.float64)
    if s.ndim == 1:
        s = s.reshape(-1, 1)
    forecast = validators.positive_int(forecast, "forecast")
    if s.ndim != 2 or s.shape[0] <= forecast:
        raise BoucleError(f"series: expected (T, D) with T > forecast={forecast}, got shape {s.shape}")
    return s[:-forecast], s[forecast:]
