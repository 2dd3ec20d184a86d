"""Forecasting: one-step and recursive multi-step forecasts against a persistence baseline,
on the Mackey–Glass series (τ = 17) and on a dated CSV series (seed 004:
``[jour, mois, année, valeur]``).

    python examples/forecast.py [--csv PATH] [--window 24] [--horizon 20] [--epochs 20]

Pipeline (:mod:`boucle.data.windows`): chronological train/validation/test split,
normalisation fitted on the training part only, sliding windows of ``window``
values → the next value. Model: ``GRU(units) → Dense(1)``, trained on one-step
targets. Multi-step forecasts are recursive: each prediction is appended to the
window and fed back (seed 002's generative loop, applied to a series). Baseline:
persistence, x̂_{t+h} = x_t. Errors are RMSE in the series' own units.

Without ``--csv``, a CSV of daily values with a weekly cycle and a trend is
generated (:func:`make_daily_csv`) in seed 004's layout: ``02,10,2015,1500``; its
multi-step horizon is capped at 7 days — where persistence becomes "the same
weekday last week", a strong baseline on a weekly cycle.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np

import boucle
from boucle.data.loaders import load_csv_series
from boucle.data.tasks.timeseries import mackey_glass
from boucle.data.windows import forecast_splits, persistence_forecast
from boucle.layers import GRU, Dense


def make_daily_csv(path: str, days: int = 500, seed: int = 0) -> str:
    """Daily values 'jour,mois,année,valeur' from 2015-10-02: weekly cycle + trend + noise."""
    rng = np.random.default_rng(seed)
    dates = np.datetime64("2015-10-02") + np.arange(days)
    t = np.arange(days)
    value = (
        1500
        + 300 * np.sin(2 * np.pi * t / 7)
        + 150 * np.cos(4 * np.pi * t / 7)
        + 0.5 * t
        + 40 * rng.standard_normal(days)
    )
    with open(path, "w", encoding="utf-8") as f:
        f.write("day,month,year,value\n")
        for d, v in zip(dates.astype(object), value):
            f.write(f"{d.day:02d},{d.month:02d},{d.year},{v:.1f}\n")
    return path


def recursive_forecast(model: boucle.Sequential, x: np.ndarray, horizon: int) -> np.ndarray:
    """Feed each one-step prediction back: ``x (M, window, 1)`` → ``(M, horizon)``."""
    window = x.copy()
    out = []
    for _ in range(horizon):
        nxt = model.predict(window, batch_size=256)  # (M, 1)
        out.append(nxt[:, 0])
        window = np.concatenate([window[:, 1:], nxt[:, None, :]], axis=1)  # slide by one step
    return np.stack(out, axis=1)


def forecast_series(
    series: np.ndarray,
    window: int = 24,
    horizon: int = 20,
    units: int = 32,
    epochs: int = 20,
    lr: float = 5e-3,
    seed: int = 0,
    verbose: int = 0,
) -> dict:
    """Train on one-step targets; RMSE (series units) of the model and of persistence, one step and
    recursively at ``horizon`` steps, on the test windows."""
    data = forecast_splits(series, window, horizon, val=0.15, test=0.2)
    model = boucle.Sequential([GRU(units, input_shape=(window, 1)), Dense(1)], seed=seed)
    model.compile(optimizer=boucle.optimizers.Adam(lr, clipnorm=1.0), loss="mse")
    model.fit(
        data.x_train,
        data.y_train[:, 0],
        validation_data=(data.x_val, data.y_val[:, 0]),
        batch_size=32,
        epochs=epochs,
        verbose=verbose,
    )
    scale = float(data.normalizer.scale[0])  # back to series units
    truth = data.y_test[:, :, 0]  # (M, horizon)
    pred = recursive_forecast(model, data.x_test, horizon)
    pers = persistence_forecast(data.x_test, horizon)[:, :, 0]
    rmse = lambda a: np.sqrt(((a - truth) ** 2).mean(axis=0)) * scale  # noqa: E731  (horizon,)
    model_h, pers_h = rmse(pred), rmse(pers)
    return {
        "one_step_rmse": float(model_h[0]),
        "persistence_one_step_rmse": float(pers_h[0]),
        "horizon": horizon,
        "multi_step_rmse": float(model_h[-1]),
        "persistence_multi_step_rmse": float(pers_h[-1]),
        "rmse_by_step": model_h.tolist(),
        "persistence_by_step": pers_h.tolist(),
        "test_windows": int(len(truth)),
    }


def run(
    n_steps: int = 1500,
    days: int = 500,
    csv_path: str | None = None,
    window: int = 24,
    horizon: int = 20,
    units: int = 32,
    epochs: int = 20,
    seed: int = 0,
    verbose: int = 0,
) -> dict:
    """Both series: ``{"mackey_glass": {...}, "csv": {...}}``."""
    mg = mackey_glass(n_steps, discard=200, seed=seed)[:, 0]
    with tempfile.TemporaryDirectory() as tmp:
        path = csv_path or make_daily_csv(os.path.join(tmp, "daily.csv"), days, seed)
        csv_series = load_csv_series(path).values[:, 0]
    return {
        "mackey_glass": forecast_series(mg, window, horizon, units, epochs, seed=seed, verbose=verbose),
        "csv": forecast_series(csv_series, window, min(horizon, 7), units, epochs, seed=seed, verbose=verbose),
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--csv", help="a CSV of day,month,year,value rows (default: a generated one)")
    p.add_argument("--window", type=int, default=24)
    p.add_argument("--horizon", type=int, default=20)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    res = run(csv_path=args.csv, window=args.window, horizon=args.horizon, epochs=args.epochs, seed=args.seed)
    for name, r in res.items():
        print(
            f"{name}: one step RMSE {r['one_step_rmse']:.4g} (persistence {r['persistence_one_step_rmse']:.4g}); "
            f"{r['horizon']} steps, recursive {r['multi_step_rmse']:.4g} "
            f"(persistence {r['persistence_multi_step_rmse']:.4g}) over {r['test_windows']} test windows"
        )
    return res


if __name__ == "__main__":
    main()
