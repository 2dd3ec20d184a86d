"""One trial: a pure function ``(config, seed) -> metrics``, run the same way on every worker.

:func:`execute` is what a backend ships to a worker. It resolves the objective
(:mod:`boucle.search.objectives`), pins the BLAS library to one thread (a matrix
product summed by one thread is summed in one order, so the same trial gives
bit-identical numbers in any process, on any machine with the same libraries),
runs the objective under a deadline, and turns every outcome into a JSON record:

- ``"ok"``: the objective returned finite numbers, the search metric among them;
- ``"diverged"``: it raised :class:`~boucle.errors.TrainingDiverged` (the engine's
  divergence policy) or returned a non-finite search metric;
- ``"timeout"``: it ran past ``timeout`` seconds;
- ``"error"``: it raised anything else (the record holds the one-line error).

The deadline raises :class:`TrialTimeout` asynchronously in the trial's thread
(``PyThreadState_SetAsyncExc``), so it works in a process pool's main thread and in a
Dask worker's thread alike; like Ctrl-C, it lands between two Python bytecodes, so a
single C call longer than the deadline (one huge matrix product) finishes first.

Seeds (:func:`trial_seeds`): one root seed; ``numpy.random.SeedSequence(root).spawn(2)``
gives a stream for configurations and one for trial seeds; configuration ``i`` is
drawn from the ``i``-th child of the first, and the ``r``-th seed of every configuration
is the ``r``-th child of the second (common random numbers: every configuration meets
the same seeds).
"""

from __future__ import annotations

import ctypes
import math
import os
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import blas_threads
from ..errors import BoucleError, TrainingDiverged
from ..io import save
from ..training import Callback
from .objectives import ObjectiveRef, accepts_context, resolve

__all__ = ["TrialTimeout", "TrialContext", "EpochReport", "execute", "config_rng", "trial_seed", "deadline"]


class TrialTimeout(BaseException):
    """Raised inside a trial that ran past its deadline (a BaseException: ``except Exception`` in an
    objective does not swallow it)."""


def config_rng(root: int, index: int) -> np.random.Generator:
    """The generator that draws configuration ``index``: child ``index`` of child 0 of ``SeedSequence(root)``."""
    return np.random.default_rng(np.random.SeedSequence(root).spawn(1)[0].spawn(index + 1)[index])


def trial_seed(root: int, repeat: int) -> int:
    """The ``repeat``-th trial seed (an int < 2**32): child ``repeat`` of child 1 of ``SeedSequence(root)``."""
    child = np.random.SeedSequence(root).spawn(2)[1].spawn(repeat + 1)[repeat]
    return int(child.generate_state(1)[0])


def _async_raise(thread_id: int, exc: Any) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None
    )


class deadline:
    """``with deadline(seconds):`` raises :class:`TrialTimeout` in this thread after ``seconds`` (None: never)."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.fired = False

    def _fire(self) -> None:
        with self._lock:
            if self._armed:
                self.fired = True
                _async_raise(self._thread, TrialTimeout)

    def __enter__(self) -> deadline:
        if self.seconds is not None:
            self._thread, self._lock, self._armed = threading.get_ident(), threading.Lock(), True
            self._timer = threading.Timer(self.seconds, self._fire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc) -> bool:
        if self.seconds is None:
            return False
        with self._lock:
            self._armed = False
            if self.fired:  # not delivered yet: clear it, and raise it here instead
                _async_raise(self._thread, None)
        self._timer.cancel()
        if self.fired and (exc[0] is None or exc[0] is TrialTimeout):
            raise TrialTimeout(f"ran past its {self.seconds:g} s deadline")
        return False


class EpochReport(Callback):
    """The engine's per-epoch logs, reported to the search: records ``logs[monitor]`` after every
    epoch in ``trial.curve`` and stops training (``model.stop_training``) when the value is not
    finite or the trial's budget of epochs is spent (successive halving, which needs the value
    in the logs; other methods skip a metric measured only after training)."""

    def __init__(self, trial: TrialContext, monitor: str):
        self.trial, self.monitor = trial, monitor

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None and self.trial.budget is None:  # a metric measured after training only
            return
        if value is None:
            raise BoucleError(f"metric: {self.monitor!r} is not in the training logs (available: {sorted(logs or {})})")
        self.trial.curve.append(float(value))
        if not math.isfinite(value) or (self.trial.budget is not None and len(self.trial.curve) >= self.trial.budget):
            self.model.stop_training = True


class TrialContext:
    """What an objective that takes a third argument receives.

    Attributes:
        metric: the search metric (the name the objective must return);
        budget: epochs this trial may train (successive halving), or None;
        keep_model: whether :meth:`save` keeps the model (the spec's ``keep_models``);
        curve: per-epoch values of the metric, filled by :meth:`callback`.
    """

    def __init__(self, metric: str, budget: int | None = None, keep_model: bool = False):
        self.metric, self.budget, self.keep_model = metric, budget, keep_model
        self.curve: list[float] = []
        self.model_bytes: bytes | None = None

    def callback(self, monitor: str | None = None) -> EpochReport:
        """A training callback reporting ``monitor`` (default: the search metric) after every epoch."""
        return EpochReport(self, monitor or self.metric)

    def epochs(self, default: int) -> int:
        """The epochs to train: the budget under successive halving, else ``default``."""
        return int(self.budget) if self.budget is not None else int(default)

    def save(self, model: Any) -> None:
        """Keep ``model`` (a boucle model) as the trial's model file, written by the coordinator
        into ``models/<trial>.safetensors`` (atomically); does nothing unless ``keep_model``."""
        if not self.keep_model:
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.safetensors")
            save(model, path)
            with open(path, "rb") as f:
                self.model_bytes = f.read()


def _one_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {' '.join(str(e).split())}"[:500]


def _metrics(value: Any, metric: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise BoucleError(f"objective: expected a dict of metrics, got {type(value).__name__}")
    out = {}
    for k, v in value.items():
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise BoucleError(f"objective: expected numbers as metrics, got {k}={v!r}")
        out[str(k)] = float(v)
    if metric not in out:
        raise BoucleError(f"metric: {metric!r} is not among the objective's metrics {sorted(out)}")
    return out


def execute(ref: ObjectiveRef, trial: dict, options: dict) -> dict:
    """Run one trial (on a worker) and return its record (see the module doc).

    ``trial`` holds ``key``, ``config``, ``seed`` and ``budget``; ``options`` the search's
    ``metric``, ``timeout`` (seconds or None) and ``keep_models``.
    """
    t0 = time.perf_counter()
    ctx = TrialContext(options["metric"], trial.get("budget"), bool(options.get("keep_models")))
    rec: dict[str, Any] = {**trial, "status": "ok", "metrics": {}, "error": None}
    try:
        fn: Callable = resolve(ref)
        args = (dict(trial["config"]), int(trial["seed"])) + ((ctx,) if accepts_context(fn) else ())
        with blas_threads(1), np.errstate(all="ignore"), deadline(options.get("timeout")):
            value = fn(*args)
        rec["metrics"] = _metrics(value, options["metric"])
        if not math.isfinite(rec["metrics"][options["metric"]]):
            rec["status"], rec["error"] = (
                "diverged",
                f"the metric {options['metric']} is {rec['metrics'][options['metric']]}",
            )
    except TrialTimeout as e:
        rec["status"], rec["error"] = "timeout", f"TrialTimeout: {e or 'ran past its deadline'}"
    except TrainingDiverged as e:
        rec["status"], rec["error"] = "diverged", _one_line(e)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - any failure is recorded, the search goes on
        rec["status"], rec["error"] = "error", _one_line(e)
        rec["traceback"] = traceback.format_exc(limit=-3)[-2000:]
    if ctx.curve:
        rec["curve"] = ctx.curve
    rec["seconds"] = round(time.perf_counter() - t0, 4)
    rec["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    if ctx.model_bytes is not None and rec["status"] == "ok":
        rec["_model"] = ctx.model_bytes
    return rec
