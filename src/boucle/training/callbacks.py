"""Training callbacks, Keras-familiar (seed 003, "Stratégie 2": early stopping).

Every model trains through :func:`boucle.training.fit`, so every callback works on every
model (``Sequential``, ``CharModel``, ``Seq2Seq``). A callback sees the model
(``set_model``) and the hooks ``on_train_begin/end(logs)``, ``on_epoch_begin/end(epoch,
logs)``, ``on_batch_begin/end(batch, logs)``. At epoch end ``logs`` holds the epoch means
of ``loss`` and of the model's per-batch values, the metrics and the ``val_*`` values; at
batch end the running means so far plus ``grad_norm`` (the global gradient norm before
clipping), ``size``, ``step`` (applied steps over the model's life) and ``time`` (seconds).
A callback stops training by setting ``model.stop_training = True``.
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import BoucleError, DivergenceWarning
from ..io import save

__all__ = [
    "Callback",
    "History",
    "EarlyStopping",
    "ModelCheckpoint",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "CSVLogger",
    "TerminateOnNaN",
    "CallbackList",
]


class Callback:
    model: Any = None

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...


class CallbackList(Callback):
    """Calls every hook of a list of callbacks in order."""

    def __init__(self, callbacks):
        self.callbacks = list(callbacks)

    def _each(self, hook: str, *args) -> None:
        for c in self.callbacks:
            getattr(c, hook)(*args)

    def set_model(self, model):
        self._each("set_model", model)

    def on_train_begin(self, logs=None):
        self._each("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._each("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._each("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._each("on_epoch_end", epoch, logs)

    def on_batch_begin(self, batch, logs=None):
        self._each("on_batch_begin", batch, logs)

    def on_batch_end(self, batch, logs=None):
        self._each("on_batch_end", batch, logs)


class History(Callback):
    """Records every epoch's logs: ``history.history["loss"]`` is a list over epochs, ``history.epoch``
    the epoch indices, ``history.step`` the model's step count and ``history.lr`` the optimizer's
    learning rate (that of the next step; NaN without an optimizer) at each epoch end.

    ``stopped_reason`` holds the divergence message when :class:`TerminateOnNaN` stopped the run.
    A model that keeps one history over its life (``CharModel``) continues it from run to run
    (:meth:`get_config` / :meth:`from_config` store it in model files).
    """

    def __init__(
        self, history: dict | None = None, epoch: list | None = None, step: list | None = None, lr: list | None = None
    ):
        self.history: dict[str, list[float]] = {k: list(v) for k, v in (history or {}).items()}
        self.epoch: list[int] = list(epoch or [])
        self.step: list[int] = list(step or [])
        self.lr: list[float] = list(lr) if lr is not None else [math.nan] * len(self.epoch)
        self.stopped_reason: str | None = None

    def on_epoch_end(self, epoch, logs=None):
        n = len(self.epoch)
        self.epoch.append(epoch)
        self.step.append(int(getattr(self.model, "step", 0)))
        opt = getattr(self.model, "optimizer", None)
        self.lr.append(float(opt.current_lr()) if opt is not None else math.nan)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, [math.nan] * n).append(v)
        for values in self.history.values():  # a key absent this epoch: NaN, keeps the lists aligned
            if len(values) == n:
                values.append(math.nan)

    def get_config(self) -> dict:
        return {
            "epoch": list(self.epoch),
            "step": list(self.step),
            "lr": list(self.lr),
            "history": {k: list(v) for k, v in self.history.items()},
        }

    @classmethod
    def from_config(cls, config: dict) -> History:
        if not isinstance(config, dict):
            raise BoucleError(f"history: expected a dict, got {type(config).__name__}")
        epoch, step, hist = config.get("epoch", []), config.get("step", []), config.get("history", {})
        lr = config.get("lr", [math.nan] * len(epoch) if isinstance(epoch, list) else None)  # absent: older files
        if not (
            isinstance(epoch, list)
            and isinstance(step, list)
            and isinstance(hist, dict)
            and all(isinstance(v, list) and len(v) == len(epoch) for v in hist.values())
            and len(step) == len(epoch)
            and isinstance(lr, list)
            and len(lr) == len(epoch)
        ):
            raise BoucleError(
                "history: expected {'epoch': [...], 'step': [...], 'lr': [...], 'history': "
                "{name: [...]}} with lists of equal length"
            )
        try:
            return cls(
                {str(k): [float(x) for x in v] for k, v in hist.items()},
                [int(e) for e in epoch],
                [int(s) for s in step],
                [float(x) for x in lr],
            )
        except (TypeError, ValueError, OverflowError):
            raise BoucleError("history: expected numbers in its lists") from None


class TerminateOnNaN(Callback):
    """The divergence policy's message: stops training when a step's loss or gradient norm is
    NaN or infinite. The engine (:func:`boucle.training.fit`) always installs one and never
    applies such a step, so the weights stay those of the last good step.

    The message — also in ``model.history.stopped_reason`` and warned as a ``RuntimeWarning`` —
    names the epoch, the batch, the step and the value, the same for every model.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        bad = [
            (what, logs[key])
            for what, key in (("the loss", "loss"), ("the gradient norm", "grad_norm"))
            if logs.get(key) is not None and not math.isfinite(logs[key])
        ]
        if not bad:
            return
        what, value = bad[0]
        step = int(getattr(self.model, "step", 0))
        msg = (
            f"training stopped: {what} is {value} at epoch {getattr(self, '_epoch', 0) + 1}, batch {batch + 1} "
            f"(step {step + 1}); that step was not applied, the weights are those of step {step}; "
            "lower the learning rate or clip the gradients (clipnorm=)"
        )
        warnings.warn(msg, DivergenceWarning, stacklevel=2)
        self.model.stop_training = True
        history = getattr(self.model, "history", None)
        if history is not None:
            history.stopped_reason = msg


def _monitor_mode(monitor: str, mode: str) -> Callable[[float, float, float], bool]:
    if mode not in ("auto", "min", "max"):
        raise BoucleError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    if mode == "min":
        return lambda current, best, delta: current < best - delta
    return lambda current, best, delta: current > best + delta


class _Monitoring(Callback):
    def __init__(self, monitor: str, mode: str, min_delta: float):
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self._better = _monitor_mode(monitor, mode)
        self.best = None

    def _current(self, logs) -> float | None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(
                f"{type(self).__name__}: monitored quantity {self.monitor!r} is not in the logs "
                f"(available: {sorted(logs or {})})",
                RuntimeWarning,
                stacklevel=3,
            )
        return value

    def _improved(self, value: float) -> bool:
        return self.best is None or self._better(value, self.best, self.min_delta)


class EarlyStopping(_Monitoring):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the weights of the best epoch are put back
    at the end of training.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        restore_best_weights: bool = False,
        baseline: float | None = None,
    ):
        super().__init__(monitor, mode, min_delta)
        if patience < 0:
            raise BoucleError(f"patience: expected an int >= 0, got {patience!r}")
        self.patience = int(patience)
        self.restore_best_weights = restore_best_weights
        self.baseline = baseline

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.best = self.baseline
        self.best_weights = None
        self.best_epoch = None
        self.stopped_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        value = self._current(logs)
        if value is None:
            return
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:  # Keras: stop after `patience` epochs without improvement
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(_Monitoring):
    """Save the model after every epoch (or only when ``monitor`` improves).

    ``filepath`` may contain ``{epoch}`` and log keys, e.g. ``"ck-{epoch:02d}-{val_loss:.3f}.safetensors"``.
    Files are written atomically (temporary file + rename) by :func:`boucle.save`.
    """

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        save_best_only: bool = False,
        mode: str = "auto",
        include_optimizer: bool = True,
    ):
        super().__init__(monitor, mode, 0.0)
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.include_optimizer = include_optimizer

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = self._current(logs)
            if value is None or not self._improved(value):
                return
            self.best = value
        path = self.filepath.format(epoch=epoch + 1, **logs)
        save(self.model, path, include_optimizer=self.include_optimizer)


class LearningRateScheduler(Callback):
    """Sets the learning rate at each epoch start: ``lr = schedule(epoch, lr)``."""

    def __init__(self, schedule: Callable[[int, float], float], verbose: int = 0):
        if not callable(schedule):
            raise BoucleError(f"schedule: expected a callable (epoch, lr) -> lr, got {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        lr = float(self.schedule(epoch, opt.current_lr()))
        if not math.isfinite(lr) or lr <= 0:
            raise BoucleError(f"LearningRateScheduler: schedule returned lr={lr!r} at epoch {epoch}; expected > 0")
        opt.set_lr(lr)
        if self.verbose:
            print(f"Epoch {epoch + 1}: learning rate set to {lr:.6g}")


class ReduceLROnPlateau(_Monitoring):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement."""

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        verbose: int = 0,
    ):
        super().__init__(monitor, mode, min_delta)
        if not 0.0 < factor < 1.0:
            raise BoucleError(f"factor: expected a float in (0, 1), got {factor!r}")
        self.factor, self.patience, self.cooldown, self.min_lr = factor, patience, cooldown, min_lr
        self.verbose = verbose

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        value = self._current(logs)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(value):
            self.best, self.wait = value, 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            opt = self.model.optimizer
            old = opt.current_lr()
            new = max(old * self.factor, self.min_lr)
            if new < old:
                opt.set_lr(new)
                if self.verbose:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new:.6g}")
            self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """Append one CSV row of logs per epoch (header written once)."""

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = append
        self.keys: list[str] | None = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self._writer = None
        self._header_done = exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._writer is None:
            self.keys = sorted(logs)
            self._writer = csv.writer(self._file, delimiter=self.separator)
            if not self._header_done:
                self._writer.writerow(["epoch", *self.keys])
        self._writer.writerow([epoch, *(_fmt(logs.get(k)) for k in self.keys)])
        self._file.flush()

    def on_train_end(self, logs=None):
        self._file.close()


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return "" if v is None else v
