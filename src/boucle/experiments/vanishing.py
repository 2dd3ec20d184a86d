"""The vanishing/exploding-gradient study (seed 002, "Dépendances à long terme"; seed 004, Bengio 1994).

Two classic long-range tasks, trained from scratch with boucle's own layers:

- **the adding problem** (Hochreiter & Schmidhuber 1997) at lengths T (default
  10, 50, 100, 200): SimpleRNN (tanh), SimpleRNN (relu), LSTM and GRU at (nearly)
  equal parameter count, each with and without gradient clipping (the course's
  rule over the global norm, ``clipnorm``), over several seeds. A run *solves* T
  when the validation MSE falls below 0.01 — the trivial answer scores 1/6 ≈ 0.167;
  "steps to solve" counts mini-batches of fresh examples until then. A run
  *diverges* when the loss or the gradient norm stops being finite.
- **the embedded Reber grammar** (same paper, experiment 1): next-symbol prediction;
  a run succeeds when, thresholding at 0.5, every step of 256 held-out strings is
  predicted exactly (the penultimate symbol depends on the second one).

Plus the gradient flow through time (:mod:`boucle.diagnostics.gradflow`) of
freshly initialised cells and of the cells trained on the adding problem.

:func:`run_study` writes ``results.json``, ``adding.csv``, ``reber.csv``,
``results.md`` and PNG plots to a folder (and ``runs.jsonl``, one line per run as
the study progresses). The command line is
``boucle experiment vanishing --out DIR [--seeds N] [--lengths 10,50] [--steps N] [--quick]
[--workers N | --scheduler tcp://HOST:PORT]`` (:mod:`boucle.commands.experiment`); the runs
go through the search engine's backends (:mod:`boucle.search.backends`) with identical results.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import optimizers, validators
from ..backend import blas_threads, make_rng
from ..data.tasks.synthetic import adding_problem, embedded_reber
from ..errors import BoucleError
from ..layers import GRU, LSTM, Dense, SimpleRNN
from ..models import Sequential
from ..search.backends import Backend, SerialBackend, map_ordered
from ..training import train_step

__all__ = [
    "KINDS",
    "StudyConfig",
    "param_count",
    "units_for_budget",
    "build_model",
    "adding_run",
    "reber_run",
    "run_study",
    "summarize",
]

#: cell kinds of the study → (layer class, extra arguments, gate blocks G).
KINDS: dict[str, tuple[type, dict, int]] = {
    "rnn_tanh": (SimpleRNN, {"activation": "tanh"}, 1),
    "rnn_relu": (SimpleRNN, {"activation": "relu"}, 1),
    "lstm": (LSTM, {}, 4),
    "gru": (GRU, {}, 3),
}


def param_count(kind: str, units: int, input_dim: int, output_dim: int) -> int:
    """Parameters of ``cell(units) → Dense(output_dim)``: G·H·(D + H + 1) + (H + 1)·O."""
    G = _kind(kind)[2]
    return G * units * (input_dim + units + 1) + (units + 1) * output_dim


def units_for_budget(kind: str, budget: int, input_dim: int, output_dim: int) -> int:
    """The H whose :func:`param_count` is closest to ``budget`` (equal-size comparisons)."""
    best = min(range(1, 1025), key=lambda h: (abs(param_count(kind, h, input_dim, output_dim) - budget), h))
    return best


def _kind(kind: str) -> tuple[type, dict, int]:
    if kind not in KINDS:
        raise BoucleError(f"cell: expected one of {sorted(KINDS)}, got {kind!r}")
    return KINDS[kind]


def build_model(
    kind: str,
    units: int,
    input_dim: int,
    output_dim: int,
    seed: int,
    sequences: bool = False,
    output_activation: str | None = None,
) -> Sequential:
    """``cell(units, return_sequences=sequences) → Dense(output_dim, output_activation)``."""
    cls, extra, _ = _kind(kind)
    return Sequential(
        [
            cls(units, return_sequences=sequences, input_shape=(None, input_dim), **extra),
            Dense(output_dim, activation=output_activation),
        ],
        seed=seed,
    )


@dataclass
class StudyConfig:
    """What :func:`run_study` runs (defaults: the full grid of ``docs/vanishing.md``)."""

    lengths: tuple[int, ...] = (10, 50, 100, 200)
    cells: tuple[str, ...] = ("rnn_tanh", "rnn_relu", "lstm", "gru")
    clips: tuple[float | None, ...] = (None, 1.0)
    seeds: int = 5
    max_steps: int = 4000
    batch_size: int = 32
    learning_rate: float = 1e-2
    param_budget: int = 1233  #: LSTM(16) → Dense(1) on 2 inputs
    eval_every: int = 50
    val_size: int = 256
    threshold: float = 0.01
    reber_cells: tuple[str, ...] = ("rnn_tanh", "lstm", "gru")
    reber_seeds: int = 10
    reber_steps: int = 1500
    reber_max_length: int = 40
    reber_budget: int = 1655  #: LSTM(16) → Dense(7) on 7 inputs
    gradflow: bool = True

    @classmethod
    def quick(cls) -> StudyConfig:
        """A grid small enough for a smoke test (seconds)."""
        return cls(
            lengths=(10, 20),
            cells=("rnn_tanh", "gru"),
            clips=(None, 1.0),
            seeds=1,
            max_steps=300,
            eval_every=25,
            val_size=64,
            reber_cells=("gru",),
            reber_seeds=1,
            reber_steps=100,
        )


def _train_step(model: Sequential, x, y, mask=None) -> tuple[float, float]:
    """One step of the course's loop through the training engine: (loss, ‖g‖ before clipping).

    A step the engine refuses (non-finite loss or gradient: the divergence policy) is the
    outcome this study measures (divergence): its loss or norm comes back NaN or Inf.
    """
    r = train_step(model, (x, y, mask))
    return r.loss, r.grad_norm


def adding_run(kind: str, T: int, seed: int, clip: float | None, cfg: StudyConfig, keep_model: bool = False) -> dict:
    """Train one model on the adding problem of length T; the run's record."""
    units = units_for_budget(kind, cfg.param_budget, 2, 1)
    model = build_model(kind, units, 2, 1, seed)
    opt = optimizers.Adam(cfg.learning_rate, clipnorm=clip)
    model.compile(optimizer=opt, loss="mse")
    x_val, y_val = adding_problem(cfg.val_size, T, seed=10_000 + T)
    rng = make_rng(seed + 1_000_003 * T)
    rec: dict[str, Any] = {
        "task": "adding",
        "cell": kind,
        "clip": clip,
        "T": T,
        "seed": seed,
        "units": units,
        "params": model.count_params(),
        "solved": False,
        "steps_to_solve": None,
        "diverged": False,
        "max_grad_norm": 0.0,
        "curve": [],
    }
    t0, c0 = time.perf_counter(), time.process_time()
    best = final = float("inf")
    for step in range(1, cfg.max_steps + 1):
        x, y = adding_problem(cfg.batch_size, T, seed=rng)
        loss, gnorm = _train_step(model, x, y)
        if not (math.isfinite(loss) and math.isfinite(gnorm)):
            rec["diverged"], rec["diverged_at"] = True, step
            break
        rec["max_grad_norm"] = max(rec["max_grad_norm"], gnorm)
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            with np.errstate(over="ignore", invalid="ignore"):
                pred = model.predict(x_val, batch_size=cfg.val_size)
            final = float(np.mean((pred - y_val) ** 2)) if np.isfinite(pred).all() else float("inf")
            best = min(best, final)
            rec["curve"].append([step, final])
            if final < cfg.threshold:
                rec["solved"], rec["steps_to_solve"] = True, step
                break
    rec.update(
        final_mse=final,
        best_mse=best,
        seconds=round(time.perf_counter() - t0, 2),
        cpu_seconds=round(time.process_time() - c0, 2),
    )
    if keep_model:
        rec["model"] = model
    return rec


def _reber_exact(model: Sequential, x, y, mask) -> tuple[float, float]:
    """(fraction of strings predicted exactly at every step, fraction with the penultimate symbol right)."""
    p = model.predict(x, mask=mask, batch_size=len(x)) > 0.5
    t = y > 0.5
    exact = ((p == t).all(-1) | ~mask).all(-1)
    last = mask.sum(1) - 2  # input = the inner E, next = the 2nd symbol
    rows = np.arange(len(x))
    pen = (p[rows, last] == t[rows, last]).all(-1)
    return float(exact.mean()), float(pen.mean())


def reber_run(kind: str, seed: int, cfg: StudyConfig) -> dict:
    """Train one model on embedded Reber strings (32 per step, clipnorm 1); the run's record."""
    units = units_for_budget(kind, cfg.reber_budget, 7, 7)
    model = build_model(kind, units, 7, 7, seed, sequences=True, output_activation="sigmoid")
    opt = optimizers.Adam(cfg.learning_rate, clipnorm=1.0)
    model.compile(optimizer=opt, loss="binary_crossentropy")
    xv, yv, mv, _ = embedded_reber(256, seed=77_777, max_length=cfg.reber_max_length)
    rng = make_rng(seed + 500_000)
    rec: dict[str, Any] = {
        "task": "reber",
        "cell": kind,
        "seed": seed,
        "units": units,
        "params": model.count_params(),
        "solved": False,
        "strings_to_solve": None,
    }
    t0, c0 = time.perf_counter(), time.process_time()
    exact = pen = 0.0
    for step in range(1, cfg.reber_steps + 1):
        x, y, m, _ = embedded_reber(cfg.batch_size, seed=rng, max_length=cfg.reber_max_length)
        loss, gnorm = _train_step(model, x, y, m)
        if not (math.isfinite(loss) and math.isfinite(gnorm)):
            rec["diverged"] = True
            break
        if step % 25 == 0 or step == cfg.reber_steps:
            exact, pen = _reber_exact(model, xv, yv, mv)
            if exact == 1.0:
                rec["solved"], rec["strings_to_solve"] = True, step * cfg.batch_size
                break
    rec.update(
        exact=exact,
        penultimate=pen,
        seconds=round(time.perf_counter() - t0, 2),
        cpu_seconds=round(time.process_time() - c0, 2),
    )
    return rec


def summarize(runs: Sequence[dict]) -> list[dict]:
    """One row per (cell, clip, T): success rate, median steps to solve, divergences, mean final MSE."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        if r["task"] == "adding":
            groups.setdefault((r["cell"], r["clip"], r["T"]), []).append(r)
    rows = []
    for (cell, clip, T), rs in groups.items():
        steps = [r["steps_to_solve"] for r in rs if r["solved"]]
        finite = [r["final_mse"] for r in rs if math.isfinite(r["final_mse"])]
        rows.append(
            {
                "cell": cell,
                "clip": clip,
                "T": T,
                "units": rs[0]["units"],
                "params": rs[0]["params"],
                "runs": len(rs),
                "solved": len(steps),
                "success_rate": len(steps) / len(rs),
                "median_steps": float(np.median(steps)) if steps else None,
                "diverged": sum(r["diverged"] for r in rs),
                "mean_final_mse": float(np.mean(finite)) if finite else None,
                "max_grad_norm": max(r["max_grad_norm"] for r in rs),
            }
        )
    return rows


def _run(task: str, args: tuple) -> dict:
    """One run of the grid, on any backend's worker (one BLAS thread: the same numbers everywhere)."""
    with blas_threads(1):
        return adding_run(*args[:5], keep_model=args[5]) if task == "adding" else reber_run(*args)


def run_study(
    cfg: StudyConfig | None = None,
    out: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = print,
    backend: Backend | None = None,
) -> dict:
    """Run the whole study; with ``out`` write the tables and plots there. Returns the results.

    ``backend`` (:mod:`boucle.search.backends`) runs the grid's runs — serially in this
    process by default, or on local processes or a Dask cluster — with identical results:
    each run is a pure function of its settings and seed, computed with one BLAS thread,
    and the records come back in the grid's order. ``seconds``/``cpu_seconds`` are those of
    each run; the study's ``seconds`` are its wall time.
    """
    cfg = cfg or StudyConfig()
    for T in cfg.lengths:
        validators.integer(T, "lengths", minimum=2)
    if out is not None:
        out = os.fspath(out)
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as e:
            raise BoucleError(f"out: cannot create folder {out} ({e.strerror})") from None
    say = log or (lambda s: None)
    runs: list[dict] = []
    progress = None if out is None else os.path.join(out, "runs.jsonl")
    if progress is not None:
        open(progress, "w", encoding="utf-8").close()

    def record(r: dict) -> None:  # one JSON line per finished run, as the study goes
        runs.append(r)
        if progress is not None:
            with open(progress, "a", encoding="utf-8") as f:
                f.write(json.dumps({k: v for k, v in r.items() if k != "curve"}, allow_nan=True) + "\n")

    trained: dict[str, Any] = {}
    grad_T = min(cfg.lengths, key=lambda T: abs(T - 100))
    tasks: list[tuple] = []
    for seed in range(cfg.seeds):
        for T in cfg.lengths:
            for kind in cfg.cells:
                for clip in cfg.clips:
                    keep = cfg.gradflow and seed == 0 and T == grad_T and clip == cfg.clips[-1]
                    tasks.append(("adding", (kind, T, seed, clip, cfg, keep)))
    for seed in range(cfg.reber_seeds):
        for kind in cfg.reber_cells:
            tasks.append(("reber", (kind, seed, cfg)))

    def done(i: int, r: dict) -> None:  # in the grid's order, whatever the backend
        if r["task"] == "adding":
            if "model" in r:
                trained[r["cell"]] = r.pop("model")
            record(r)
            say(
                f"adding T={r['T']:<4} {r['cell']:<9} clip={r['clip']!s:<5} seed={r['seed']}: "
                + (
                    f"solved in {r['steps_to_solve']} steps"
                    if r["solved"]
                    else ("diverged" if r["diverged"] else f"not solved, MSE {r['final_mse']:.4f}")
                )
                + f" ({r['cpu_seconds']:.1f} s CPU)"
            )
        else:
            record(r)
            say(
                f"reber {r['cell']:<9} seed={r['seed']}: "
                + (
                    f"solved after {r['strings_to_solve']} strings"
                    if r["solved"]
                    else f"not solved (exact {r['exact']:.2f})"
                )
                + f" ({r['cpu_seconds']:.1f} s CPU)"
            )

    t_start, c_start = time.perf_counter(), time.process_time()
    backend = backend or SerialBackend()
    with blas_threads(1):
        map_ordered(backend, _run, [(name, args) for name, args in tasks], on_result=done)
        flow = _gradient_flows(cfg, trained, grad_T) if cfg.gradflow else {}
    results = {
        "config": asdict(cfg),
        "runs": runs,
        "summary": summarize(runs),
        "reber": _reber_summary(runs),
        "gradflow": flow,
        "seconds": round(time.perf_counter() - t_start, 1),
        "cpu_seconds": round(
            time.process_time()
            - c_start
            + (0.0 if isinstance(backend, SerialBackend) else sum(r["cpu_seconds"] for r in runs)),
            1,
        ),
    }
    if out is not None:
        from ._report import write_report

        results["files"] = write_report(results, out)
    return results


def _reber_summary(runs: Sequence[dict]) -> list[dict]:
    rows = []
    for cell in dict.fromkeys(r["cell"] for r in runs if r["task"] == "reber"):
        rs = [r for r in runs if r["task"] == "reber" and r["cell"] == cell]
        strings = [r["strings_to_solve"] for r in rs if r["solved"]]
        rows.append(
            {
                "cell": cell,
                "units": rs[0]["units"],
                "params": rs[0]["params"],
                "runs": len(rs),
                "solved": len(strings),
                "median_strings": float(np.median(strings)) if strings else None,
                "mean_exact": float(np.mean([r["exact"] for r in rs])),
            }
        )
    return rows


def _gradient_flows(cfg: StudyConfig, trained: dict, T: int) -> dict:
    """‖∂E/∂h_t‖ and ‖∂h_t/∂x_1‖ on adding-problem inputs: fresh layers and the trained ones."""
    from ..diagnostics.gradflow import input_influence, state_gradients

    x, _ = adding_problem(4, T, seed=123)
    out: dict[str, dict] = {"T": T, "init": {}, "trained": {}}
    for kind in cfg.cells:
        fresh = build_model(kind, units_for_budget(kind, cfg.param_budget, 2, 1), 2, 1, seed=0)
        fresh.build((T, 2))
        for tag, model in (("init", fresh), ("trained", trained.get(kind))):
            if model is None:
                continue
            layer = model.layers[0]
            g = state_gradients(layer, x, seed=0)
            out[tag][kind] = {
                "dE_dh": np.linalg.norm(g["h"], axis=-1).mean(0).tolist(),
                "influence": input_influence(layer, x).mean(0).tolist(),
            }
    return out
